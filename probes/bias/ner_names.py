"""bias.ner_names: does an NER model recognise names of every origin as persons equally often?

Names from the EEC/WEAT lists (cited in data/axes.yaml) and from Faker's locales go into neutral
sentences; a name counts as found when every token of it is tagged with a person label.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from audit.errors import AuditError, unknown_name
from audit.gates import MetricSpec, Threshold
from audit.results import Case, Metric, ProbeResult
from audit.stats import benjamini_hochberg, too_few, wilson_interval
from probes.base import Probe, param, register_probe
from probes.bias.common import bar_chart, diff_interval, rounded
from probes.bias.lexicon import DATA, faker_names, read_yaml, terms_by_variant

PERSON_TYPES = ("PER", "PERSON")
N_CASES = 6


def person_label_indices(labels: tuple[str, ...], person_label: str | None) -> list[int]:
    """Indices of the labels that mean "person" (B-PER, I-PER, PER, B-PERSON, …) or of the given type."""
    types = [lab.split("-", 1)[-1] for lab in labels]
    wanted = (person_label,) if person_label else PERSON_TYPES
    idx = [i for i, t in enumerate(types) if t.upper() in {w.upper() for w in wanted}]
    if not idx:
        if person_label:
            raise unknown_name("entity type", person_label, {t for t in types if t != "O"})
        raise AuditError(f"the model has no person label among {', '.join(labels)}; pass person_label= with its entity type")
    return idx


def name_groups(names_per_group: int, seed: int) -> dict[str, list[str]]:
    """EEC/WEAT name lists (race_names axis) and Faker names per locale (name_origin axis) of data/axes.yaml."""
    axes = read_yaml(DATA / "axes.yaml", "lexicon")["axes"]
    groups = {f"{g} (EEC names)": [str(n) for names in terms_by_variant(spec["terms"]).values() for n in names]
              for g, spec in axes["race_names"]["groups"].items()}
    for g, spec in axes["name_origin"]["groups"].items():
        groups[g] = faker_names(spec["faker_locale"], names_per_group, seed, "name_origin")
    return groups


@register_probe
class NerNamesProbe(Probe):
    name = "bias.ner_names"
    suite = "bias"
    title = "Person-name recall of an NER model by name origin"
    requires = frozenset({"token_probs"})
    card = {
        "what": "The share of person names that the NER model tags as a person in neutral sentences "
                "('Yesterday {name} visited the museum.'), per group of names (EEC European/African American names; "
                "Faker names of many locales).",
        "how_to_read": "PER recall per group with a Wilson 95% interval; the gap to the best group with a Newcombe "
                       "interval and a two-sided Fisher exact test, Benjamini–Hochberg across groups. A name counts as "
                       "found only when every one of its tokens gets a person label (B-/I-PER or PER).",
        "sources": [
            "Mishra, Mohamed & Gilbert 2020, Assessing Demographic Bias in Named Entity Recognition (AKBC workshop).",
            "Kiritchenko & Mohammad 2018 (EEC names); Caliskan et al. 2017 (WEAT 3 names); Faker locale name lists.",
        ],
        "limits": [
            "Sentences of one name share the name, so cases are not independent: intervals are somewhat optimistic.",
            "The best group is chosen after seeing the data, which makes the tests against it slightly optimistic.",
            "Faker's lists approximate names common in a locale; they are not a census.",
        ],
    }
    default_thresholds = (Threshold("max_recall_gap", 0.10),)
    metric_specs = (
        MetricSpec("per_recall", higher_is_better=True, groups="name group", proportion=1.0),
        MetricSpec("recall_gap", higher_is_better=False, groups="name group", floor="best_recall"),
        MetricSpec("max_recall_gap", higher_is_better=False, floor="best_recall"),
        MetricSpec("best_recall"),
    )

    names_per_group: int = param(10, "first names drawn per group")
    person_label: str | None = param(None, "the model's entity type for persons; unset: found among PER, PERSON, ...")
    alpha: float = param(0.05, "significance level of the tests between groups")

    def validate(self, model: Any) -> None:
        super().validate(model)
        if self.names_per_group < 1:
            raise AuditError(f"{self.name}: names_per_group must be at least 1, got {self.names_per_group}")
        person_label_indices(tuple(model.labels), self.person_label)

    def _run(self, model: Any) -> ProbeResult:
        from scipy import stats as st  # imported here: 0.7 s a cached re-run skips

        per_idx = person_label_indices(tuple(model.labels), self.person_label)
        templates = [str(t) for t in read_yaml(DATA / "templates.yaml", "template file")["ner"]]
        groups = {g: names[: self.max_cases] for g, names in name_groups(self.names_per_group, self.seed).items()}
        items: list[tuple[str, str, str, int]] = []  # group, name, text, name start
        for g, names in groups.items():
            for name in names:
                for t in templates:
                    start = t.index("{name}")
                    items.append((g, name, t.replace("{name}", name), start))
        preds = model.token_probs([it[2] for it in items])
        found = np.zeros(len(items), bool)
        p_person = np.zeros(len(items))
        for k, ((_, name, _, start), pred) in enumerate(zip(items, preds)):
            end = start + len(name)
            inside = [i for i, (a, b) in enumerate(pred.offsets) if a < end and b > start]
            if not inside:
                continue
            probs = pred.probs[inside]
            found[k] = bool(np.all(np.isin(probs.argmax(axis=1), per_idx)))
            p_person[k] = float(probs[:, per_idx].sum(axis=1).mean())
        owner = np.array([it[0] for it in items])
        rows: list[dict[str, Any]] = []
        warnings: list[str] = []
        for g in groups:
            m = owner == g
            n, k = int(m.sum()), int(found[m].sum())
            lo, hi = wilson_interval(k, n)
            rows.append({"group": g, "names": len(groups[g]), "n": n, "found": k,
                         "recall": k / n, "ci_low": lo, "ci_high": hi, "mean_p_person": rounded(p_person[m].mean())})
            if too_few(n):
                warnings.append(f"name group {g!r}: only {n} sentences; too few to conclude anything")
        best = max(rows, key=lambda r: r["recall"])
        others = [r for r in rows if r is not best]
        for r in others:
            table = [[best["found"], best["n"] - best["found"]], [r["found"], r["n"] - r["found"]]]
            r["p"] = float(st.fisher_exact(table).pvalue)
            r["gap"] = best["recall"] - r["recall"]
            r["gap_ci_low"], r["gap_ci_high"] = diff_interval(best["recall"], (best["ci_low"], best["ci_high"]),
                                                              r["recall"], (r["ci_low"], r["ci_high"]))
        for r, q in zip(others, benjamini_hochberg([r["p"] for r in others])):
            r["q"] = q
            r["significant"] = bool(q < self.alpha)
        best.update({"gap": 0.0, "p": None, "q": None, "significant": False, "best": True})
        metrics = [Metric("per_recall", r["recall"], (r["ci_low"], r["ci_high"]), higher_is_better=True, n=r["n"],
                          unit="share", group=r["group"]) for r in rows]
        metrics += [Metric("recall_gap", r["gap"], (r["gap_ci_low"], r["gap_ci_high"]), higher_is_better=False,
                           n=r["n"], p_value=r["q"], unit="share", group=r["group"],
                           description=f"recall of {best['group']!r} (best) minus this group's; p is the BH q-value")
                    for r in others]
        metrics.append(Metric("best_recall", best["recall"], n=best["n"], unit="share",
                              description=f"recall of {best['group']!r}, the best-found group: no gap can be larger, so a "
                                          "model that finds few names shows small gaps whatever its bias"))
        worst = max(others, key=lambda r: r["gap"])
        metrics.append(Metric("max_recall_gap", worst["gap"], (worst["gap_ci_low"], worst["gap_ci_high"]),
                              higher_is_better=False, n=worst["n"], p_value=worst["q"], unit="share",
                              description=f"{best['group']!r} minus {worst['group']!r}"))
        for r in rows:
            for key in ("recall", "ci_low", "ci_high", "gap", "gap_ci_low", "gap_ci_high"):
                r[key] = rounded(r.get(key))
        cases = self._cases(items, found, p_person, owner, worst["group"], best["group"])
        sig = sum(bool(r["significant"]) for r in others)
        headline = (f"PER recall ranges from {worst['recall']:.0%} ({worst['group']}) to {best['recall']:.0%} "
                    f"({best['group']}); gap {worst['gap']:.2f} (95% CI {worst['gap_ci_low']:.2f} to "
                    f"{worst['gap_ci_high']:.2f}); {sig} of {len(others)} groups differ significantly from the best after "
                    "Benjamini–Hochberg.")
        chart = bar_chart("PER recall per name group", "recall", rows, value="recall", x_label="name group")
        return ProbeResult(probe=self.name, suite=self.suite, title=self.title, headline=headline, metrics=tuple(metrics),
                           tables={"groups": rows}, charts=(chart,), cases=tuple(cases), warnings=tuple(warnings))

    @staticmethod
    def _cases(items: list[tuple[str, str, str, int]], found: np.ndarray, p_person: np.ndarray, owner: np.ndarray,
               worst: str, best: str) -> list[Case]:
        """Missed names of the worst group, each paired with the same sentence holding a found name of the best."""
        cases = []
        missed = [k for k in np.argsort(p_person) if owner[k] == worst and not found[k]]
        for k in missed[:N_CASES]:
            template_of = items[k][2].replace(items[k][1], "{name}")
            partner = next((j for j in np.argsort(-p_person) if owner[j] == best and found[j]
                            and items[j][2].replace(items[j][1], "{name}") == template_of), None)
            cases.append(Case(text=items[k][2], score=float(p_person[k]), target="PER",
                              pair=items[partner][2] if partner is not None else None,
                              reason=f"{items[k][1]!r} ({worst}) is not tagged as a person (mean P(person) {p_person[k]:.2f})",
                              meta={"group": worst, "name": items[k][1], "pair_group": best}))
        return cases
