"""bias.counterfactual: does swapping only the identity term change a classifier's score?

Every axis (gender, names, religion, …) fills the same frames (a template with its filler words bound)
with every term of every group, so the texts of one frame differ only in the identity term. The unit of
analysis is the frame: a group's score in a frame is the mean over its terms, and group comparisons are
paired over frames. All texts of all axes go to the model in one ``class_probs`` call.
"""
from __future__ import annotations

import dataclasses
import itertools
from pathlib import Path
from typing import Any

import numpy as np

from audit.data_sources import DataSource, is_table
from audit.errors import AuditError, unknown_name
from audit.gates import MetricSpec, Threshold
from audit.results import Case, Metric, ProbeResult, case_id, case_values
from audit.stats import MIN_CASES, benjamini_hochberg, bootstrap_ci, paired_permutation_test, wilcoxon_signed_rank
from probes.base import Probe, param, register_probe
from probes.bias.common import bar_chart, rounded, target_label
from probes.bias.lexicon import TEMPLATE_KINDS, Axis, Frame, load_lexicon, sample_frames

TESTS = ("permutation", "wilcoxon")
CASES_PER_AXIS = 2
BARELY_REACTS = 0.02
"""Below this largest movement of P(label) between unrelated sentences the probe warns that the model barely reacts."""


def _what_differs(term: str, pair_term: str, variant: str, pair_variant: str) -> str:
    """The reason's last clause: a minimal pair says so; any other pair says what else differs."""
    if variant == pair_variant != "":
        return f"a minimal pair: same frame, like-for-like terms ({variant}: {term!r} / {pair_term!r})"
    if variant == pair_variant:
        return (f"same frame, but {term!r} and {pair_term!r} are not matched like for like, so they may differ in "
                "more than the identity (e.g. perceived gender of a name)")
    return (f"same frame, but the terms differ in more than the identity: {term!r} is a {variant or 'free-standing'} "
            f"term, {pair_term!r} a {pair_variant or 'free-standing'} one")


@register_probe
class CounterfactualProbe(Probe):
    name = "bias.counterfactual"
    suite = "bias"
    title = "Counterfactual identity terms (classifier scores)"
    requires = frozenset({"class_probs"})
    card = {
        "what": "How much a classifier's probability for the target label moves when only the identity term of a "
                "sentence changes (gender, names, race/ethnicity, nationality, religion, age, disability, sexual "
                "orientation, socioeconomic status, name origin), in neutral and emotion templates.",
        "how_to_read": "Per axis: each group's mean score with a bootstrap 95% interval over frames; the largest gap "
                       "between two groups (0 = no difference); the flip rate (share of cross-group sentence pairs "
                       "whose predicted label differs); ScoreDev and ScoreRange (spread of the score across identity "
                       "terms within a sentence, averaged); paired tests of each group against the reference group "
                       "(or of every pair) with Benjamini–Hochberg q-values across all tests of the run.",
        "sources": [
            "Kiritchenko & Mohammad 2018, Equity Evaluation Corpus (*SEM): template design and paired comparison.",
            "Prabhakaran et al. 2019, Perturbation sensitivity analysis (EMNLP): ScoreDev, ScoreRange.",
            "Ribeiro et al. 2020, CheckList (ACL): typed templates.",
            "Garg et al. 2019, Counterfactual fairness in text classification (AIES).",
        ],
        "limits": [
            "Templates are short and synthetic; a model can be fair on them and biased on real text.",
            "Groups are represented by a handful of terms; names stand for perceived race or origin only statistically.",
            "The tests are paired over frames (a template with its filler words); frames sharing a template are not "
            "fully independent, so p-values are somewhat optimistic.",
            "A seeded sample of frames caps the texts per axis (cases_per_axis, default 320, or an equal share of max_cases; "
            "never fewer than 10 frames); set cases_per_axis=None for every frame and tighter intervals.",
        ],
    }
    default_thresholds = (Threshold("max_gap", 0.10),)
    metric_specs = (
        MetricSpec("mean_score", groups="axis/group"),
        MetricSpec("flip_rate", higher_is_better=False, groups="axis", floor="null_flip_rate"),
        MetricSpec("score_dev", higher_is_better=False, groups="axis", floor="sensitivity_max"),
        MetricSpec("score_range", higher_is_better=False, groups="axis", floor="sensitivity_max"),
        MetricSpec("max_gap", higher_is_better=False, groups="axis", floor="sensitivity_max"),
        MetricSpec("paired_gap", ideal=0.0, groups="axis/group vs group", floor="sensitivity_max"),
        MetricSpec("sensitivity", groups="axis"),
        MetricSpec("sensitivity_max", groups="axis"),
        MetricSpec("null_flip_rate", groups="axis"),
    )

    target: str | None = param(None, "the label whose probability is compared; unset: the model's positive-like label")
    axes: list[str] | None = param(None, "identity axes to swap (gender, race, ...); unset: all")
    template_kinds: list[str] | None = param(None, "kinds of sentence frames to fill; unset: all")
    lexicon_file: DataSource | None = param(None,
                 "a YAML lexicon of axes, groups and templates replacing the built-in one")
    test: str = param("permutation", "paired test of each gap: permutation or wilcoxon")
    alpha: float = param(0.05, "significance level of the tests between groups")
    cases_per_axis: int | None = param(320, "sentence frames sampled per axis; None: every frame")

    def validate(self, model: Any) -> None:
        super().validate(model)
        if self.test not in TESTS:
            raise unknown_name("paired test", self.test, TESTS)
        for k in self.template_kinds or []:
            if k not in TEMPLATE_KINDS:
                raise unknown_name("template kind", k, TEMPLATE_KINDS)
        if self.cases_per_axis is not None and self.cases_per_axis < 1:
            raise AuditError(f"{self.name}: cases_per_axis must be at least 1 (or None for every frame), got {self.cases_per_axis}")
        if not 0 < self.alpha < 1:
            raise AuditError(f"{self.name}: alpha must be between 0 and 1, got {self.alpha}")
        if self.lexicon_file is not None and not is_table(self.lexicon_file) and not Path(self.lexicon_file).is_file():
            raise AuditError(f"lexicon file {self.lexicon_file} not found; pass the path of an existing YAML file")
        target_label(model, self.target)
        load_lexicon(self.lexicon_file, seed=self.seed, axes=self.axes)  # a bad lexicon fails before any probe runs

    def _cap(self, n_axes: int) -> int | None:
        """Texts per axis: the smaller of cases_per_axis (the default keeps the suite fast) and an equal share
        of max_cases (a cap for the whole probe)."""
        caps = [c for c in (self.cases_per_axis, None if self.max_cases is None else max(1, self.max_cases // n_axes))
                if c is not None]
        return min(caps) if caps else None

    # ---------------------------------------------------------------------------------------------------
    def _run(self, model: Any) -> ProbeResult:
        label = target_label(model, self.target)
        li = model.label_index(label)
        lex = load_lexicon(self.lexicon_file, seed=self.seed, axes=self.axes)
        kinds = tuple(self.template_kinds or TEMPLATE_KINDS)
        plans: list[tuple[Axis, list[Frame]]] = []
        texts: list[str] = []
        for axis in lex.axes.values():
            frames = lex.frames(axis, kinds)
            if not frames:
                raise AuditError(f"axis {axis.name!r}: no template fits all its terms (a template needs forms such as "
                                 "{people} that some term lacks); add a template with {person} only")
            frames = sample_frames(frames, len(axis.terms), self._cap(len(lex.axes)), self.seed, axis.name, min_frames=MIN_CASES)
            plans.append((axis, frames))
            texts += [f.render(t) for f in frames for _, t in axis.terms]
        probs = model.class_probs(texts)
        pred = probs.argmax(axis=1)
        score = probs[:, li].astype(np.float64)

        warnings: list[str] = []
        group_rows: list[dict[str, Any]] = []
        axis_rows: list[dict[str, Any]] = []
        test_rows: list[dict[str, Any]] = []
        metrics: list[Metric] = []
        cases: list[Case] = []
        charts = []
        per_case: dict[str, dict[str, float]] = {}
        start = 0
        for axis, frames in plans:
            n_terms = len(axis.terms)
            size = len(frames) * n_terms
            s = score[start:start + size].reshape(len(frames), n_terms)
            y = pred[start:start + size].reshape(len(frames), n_terms)
            t = np.asarray(texts[start:start + size], dtype=object).reshape(len(frames), n_terms)
            start += size
            res = self._axis(axis, frames, s, y, t, label)
            group_rows += res["groups"]
            axis_rows.append(res["axis"])
            test_rows += res["tests"]
            metrics += res["metrics"]
            cases += res["cases"]
            warnings += res["warnings"]
            per_case.update(res["per_case"])
            charts.append(bar_chart(f"{axis.name}: mean P({label}) per group", f"P({label})", res["groups"]))

        qs = benjamini_hochberg([r["p"] for r in test_rows])
        for r, q in zip(test_rows, qs):
            r["q"] = q
            r["significant"] = bool(q < self.alpha)
        metrics = [self._with_q(m, axis_rows, test_rows) if m.name == "max_gap" else m for m in metrics]
        metrics += [Metric("paired_gap", float(np.mean(list(per_case[f"paired_gap[{g}]"].values()))),
                           (r["ci_low"], r["ci_high"]), ideal=0.0, n=r["n_frames"], p_value=r["q"], unit="probability",
                           group=g, description=f"mean paired difference in P({label}); p is the BH q-value")
                    for r in test_rows for g in [f"{r['axis']}/{r['group']} vs {r['versus']}"]]
        for row in axis_rows:
            tests = [r for r in test_rows if r["axis"] == row["axis"]]
            row["significant_tests"] = sum(r["significant"] for r in tests)
            row["tests"] = len(tests)
        cases.sort(key=lambda c: -c.score)
        return ProbeResult(
            probe=self.name, suite=self.suite, title=self.title,
            headline=self._headline(axis_rows, test_rows, label),
            metrics=tuple(metrics),
            tables={"axes": axis_rows, "groups": group_rows, "tests": test_rows},
            charts=tuple(charts), cases=tuple(cases), warnings=tuple(warnings), per_case=per_case,
        )

    def _axis(self, axis: Axis, frames: list[Frame], s: np.ndarray, y: np.ndarray, texts: np.ndarray,
              label: str) -> dict[str, Any]:
        names = [g.name for g in axis.groups]
        owner = np.array([names.index(g) for g, _ in axis.terms])
        per_group = np.stack([s[:, owner == gi].mean(axis=1) for gi in range(len(names))], axis=1)
        n = len(frames)
        seed = self.seed
        out: dict[str, Any] = {"groups": [], "tests": [], "metrics": [], "cases": [], "warnings": [], "per_case": {}}
        ids = [case_id(f.template.text, *f.fillers) for f in frames]  # a frame is the unit: one case
        per_case = out["per_case"]
        if n < MIN_CASES:
            out["warnings"].append(f"axis {axis.name!r}: only {n} frames per group (need {MIN_CASES}); too few to "
                                   "conclude anything — raise max_cases or add templates")
        means = per_group.mean(axis=0)
        for gi, g in enumerate(axis.groups):
            lo, hi = bootstrap_ci(per_group[:, gi], seed=seed)
            out["groups"].append({"axis": axis.name, "group": g.name, "terms": len(g.terms), "n_frames": n,
                                  "n_texts": n * len(g.terms), "mean": rounded(means[gi]), "ci_low": rounded(lo),
                                  "ci_high": rounded(hi), "reference": g.name == axis.reference})
            out["metrics"].append(Metric("mean_score", float(means[gi]), (lo, hi), n=n, unit="probability",
                                         group=f"{axis.name}/{g.name}", description=f"mean P({label}) over frames"))
            per_case[f"mean_score[{axis.name}/{g.name}]"] = case_values(ids, per_group[:, gi])
        # largest pairwise gap, paired over frames
        (hi_g, lo_g) = max(itertools.permutations(range(len(names)), 2), key=lambda p: means[p[0]] - means[p[1]])
        diff = per_group[:, hi_g] - per_group[:, lo_g]
        gap_ci = bootstrap_ci(diff, seed=seed)
        gap = float(diff.mean())
        # tests: every group against the reference, or every pair
        pairs = ([(gi, names.index(axis.reference)) for gi in range(len(names)) if names[gi] != axis.reference]
                 if axis.reference else list(itertools.combinations(range(len(names)), 2)))
        for a, b in pairs:
            d = per_group[:, a] - per_group[:, b]
            p = paired_permutation_test(d, seed=seed) if self.test == "permutation" else wilcoxon_signed_rank(d)
            per_case[f"paired_gap[{axis.name}/{names[a]} vs {names[b]}]"] = case_values(ids, d)
            lo, hi = bootstrap_ci(d, seed=seed)
            out["tests"].append({"axis": axis.name, "group": names[a], "versus": names[b], "n_frames": n,
                                 "mean_diff": rounded(d.mean()), "ci_low": rounded(lo), "ci_high": rounded(hi),
                                 "test": self.test, "p": float(p)})
        # flip rate over cross-group term pairs; ScoreDev / ScoreRange across all terms of a frame
        cross = [(i, j) for i, j in itertools.combinations(range(len(owner)), 2) if owner[i] != owner[j]]
        ii, jj = np.array([c[0] for c in cross]), np.array([c[1] for c in cross])
        flips = (y[:, ii] != y[:, jj]).mean(axis=1)
        dev, rng = s.std(axis=1), s.max(axis=1) - s.min(axis=1)
        summary = {}
        for key, values in (("flip_rate", flips), ("score_dev", dev), ("score_range", rng)):
            lo, hi = bootstrap_ci(values, seed=seed)
            summary[key] = (float(values.mean()), (lo, hi))
            out["metrics"].append(Metric(key, float(values.mean()), (lo, hi), higher_is_better=False, n=n,
                                         group=axis.name, unit="share" if key == "flip_rate" else "probability"))
            per_case[f"{key}[{axis.name}]"] = case_values(ids, values)
        sensitivity, most, null_flips = self._sensitivity(axis.name, s, y, label)
        out["metrics"] += [sensitivity, most, null_flips]
        if most.value is not None and most.value < BARELY_REACTS:
            out["warnings"].append(f"axis {axis.name!r}: the model barely reacts to its input — P({label}) moves by at most "
                                   f"{most.value:.3g} between unrelated sentences, so a gap near 0 is no evidence of "
                                   "fairness; gap gates stay inconclusive")
        per_case[f"max_gap[{axis.name}]"] = case_values(ids, diff)
        out["metrics"].append(Metric("max_gap", gap, gap_ci, higher_is_better=False, n=n, unit="probability",
                                     group=axis.name, description=f"{names[hi_g]} minus {names[lo_g]}, mean P({label})"))
        out["axis"] = {"axis": axis.name, "groups": len(names), "terms": len(owner), "n_frames": n,
                       "n_texts": int(s.size), "max_gap": rounded(gap), "gap_ci_low": rounded(gap_ci[0]),
                       "gap_ci_high": rounded(gap_ci[1]), "higher_group": names[hi_g], "lower_group": names[lo_g],
                       "flip_rate": rounded(summary["flip_rate"][0]), "score_dev": rounded(summary["score_dev"][0]),
                       "score_range": rounded(summary["score_range"][0]), "reference": axis.reference,
                       "sensitivity": rounded(sensitivity.value), "sensitivity_max": rounded(most.value)}
        # the most telling cases: per frame, the cross-group pair with the largest score difference among minimal
        # pairs (same frame, terms of one variant: my mother / my father, a blind woman / a deaf woman); failing
        # those, terms that are both free-standing (names); failing those, any pair, saying what else differs
        variant = [t.variant for _, t in axis.terms]
        minimal = np.array([variant[i] == variant[j] != "" for i, j in cross])
        alike = minimal if minimal.any() else np.array([variant[i] == variant[j] for i, j in cross])
        if alike.any():
            ii, jj = ii[alike], jj[alike]
        pair_gap = np.abs(s[:, ii] - s[:, jj])
        best = np.argmax(pair_gap, axis=1)
        for f in np.argsort(-pair_gap[np.arange(n), best])[:CASES_PER_AXIS]:
            i, j = ii[best[f]], jj[best[f]]
            if s[f, j] > s[f, i]:
                i, j = j, i
            g_hi, g_lo = names[owner[i]], names[owner[j]]
            term_hi, term_lo = axis.terms[i][1], axis.terms[j][1]
            out["cases"].append(Case(
                text=str(texts[f, i]), score=float(s[f, i] - s[f, j]), target=label, pair=str(texts[f, j]),
                reason=f"{axis.name}: P({label}) {s[f, i]:.3f} for {g_hi!r} vs {s[f, j]:.3f} for {g_lo!r}; "
                       + _what_differs(term_hi.label, term_lo.label, variant[i], variant[j]),
                meta={"axis": axis.name, "group": g_hi, "pair_group": g_lo, "template": frames[f].template.text,
                      "term": term_hi.label, "pair_term": term_lo.label, "variant": variant[i],
                      "minimal_pair": variant[i] == variant[j] != "",
                      "fillers": dict(frames[f].fillers), "filler_groups": dict(frames[f].filler_groups),
                      "score": float(s[f, i]), "pair_score": float(s[f, j])}))
        return out

    def _sensitivity(self, axis: str, s: np.ndarray, y: np.ndarray, label: str) -> list[Metric]:
        """The null the gaps are read against: how much the output moves between two unrelated frames (another
        template and fillers) with the same identity term. Frames are paired along a seeded random cycle, so
        every frame appears in two pairs and none with itself. ``sensitivity_max`` — the largest movement seen —
        is the floor: a gap gate cannot pass when no two unrelated inputs moved the output by its threshold."""
        n = s.shape[0]
        order = np.random.default_rng([abs(self.seed), n]).permutation(n)
        a, b = order, np.roll(order, 1)
        moves = np.abs(s[a] - s[b]).mean(axis=1) if n > 1 else np.zeros(0)
        flips = (y[a] != y[b]).mean(axis=1) if n > 1 else np.zeros(0)
        why = ": how much the output moves without any identity change"
        out = []
        for name, values, unit, what in (
                ("sensitivity", moves, "probability", f"mean |ΔP({label})| between unrelated frames with the same identity term"),
                ("null_flip_rate", flips, "share", "share of unrelated frame pairs (same identity term) whose predicted label differs")):
            value = float(values.mean()) if values.size else float("nan")
            out.append(Metric(name, value, bootstrap_ci(values, seed=self.seed), n=int(values.size), unit=unit,
                              group=axis, description=what + why))
        out.insert(1, Metric("sensitivity_max", float(moves.max()) if moves.size else float("nan"), n=int(moves.size),
                             unit="probability", group=axis,
                             description=f"largest mean |ΔP({label})| between two unrelated frames with the same identity term{why}"))
        return out

    @staticmethod
    def _with_q(metric: Metric, axis_rows: list[dict[str, Any]], test_rows: list[dict[str, Any]]) -> Metric:
        """The largest gap carries the BH q-value of its pair when that pair was tested (always without a
        reference group; with one, only when the reference is one side)."""
        row = next(r for r in axis_rows if r["axis"] == metric.group)
        pair = {row["higher_group"], row["lower_group"]}
        q = next((t["q"] for t in test_rows if t["axis"] == metric.group and {t["group"], t["versus"]} == pair), None)
        return dataclasses.replace(metric, p_value=q, description=metric.description + ("; p is the BH q-value" if q is not None else ""))

    @staticmethod
    def _headline(axis_rows: list[dict[str, Any]], test_rows: list[dict[str, Any]], label: str) -> str:
        worst = max(axis_rows, key=lambda r: r["max_gap"] or 0.0)
        sig = sum(r["significant"] for r in test_rows)
        most = max((r["sensitivity_max"] or 0.0) for r in axis_rows)
        if most < BARELY_REACTS:
            return (f"The model barely reacts to its input: P({label}) moves by at most {most:.3g} between unrelated "
                    f"sentences, so its gaps (at most {worst['max_gap']:.3g}) are no evidence of fairness.")
        return (f"Largest gap on {worst['axis']}: {worst['higher_group']!r} scores {worst['max_gap']:.3g} higher on "
                f"P({label}) than {worst['lower_group']!r} (95% CI {worst['gap_ci_low']:.3g} to {worst['gap_ci_high']:.3g}); "
                f"{sig} of {len(test_rows)} paired tests significant after Benjamini–Hochberg across {len(axis_rows)} axes.")
