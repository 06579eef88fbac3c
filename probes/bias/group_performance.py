"""bias.group_performance: on the user's own labelled data, does the classifier perform worse for some groups?

The user's rows (text, label, one or more group columns; or groups inferred from the text with the bias
lexicon) go to the model in one ``class_probs`` call. Per group: accuracy, macro-F1, false-positive and
false-negative rates, calibration error, selection rate and mean score, each with an interval and n. Across
groups: fairlearn's disparity metrics (see ``group_metrics``) with bootstrap intervals and permutation tests,
Benjamini–Hochberg across groups and metrics; then a search for slices that do worse (``slices``).
Without data it audits a generated labelled example (``labelled_example``).
"""
from __future__ import annotations

import math
from typing import Any, cast

import numpy as np

from audit.data_sources import DataSource, describe, load_columns
from audit.errors import AuditError, unknown_name
from audit.gates import MetricSpec, Threshold
from audit.results import Case, Chart, Metric, ProbeResult
from audit.stats import MIN_CASES, benjamini_hochberg, bootstrap_ci, wilson_interval
from probes.base import Probe, param, register_probe
from probes.bias import group_metrics as gm
from probes.bias import slices
from probes.bias.common import POSITIVE_LIKE, rounded, target_label
from probes.bias.labelled_example import example_data
from probes.bias.lexicon import load_lexicon
from probes.multilingual.consistency import macro_f1

N_CASES = 8
NEGATIVE_LIKE = ("negative", "neg")
GROUP_COLUMNS = ("column", "group", "n", "conclusive", "accuracy", "accuracy_low", "accuracy_high", "macro_f1", "fpr", "fnr",
                 "ece", "mean_score", "q_vs_rest")
"""The per-group table as shown; every figure's interval is in the metrics (and results.json)."""
EXAMPLE_GROUP = "gender"


def _missing(v: Any) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v)) or (isinstance(v, str) and not v.strip())


EXAMPLE = "generated example"
"""The ``data`` value that names the generated example (recorded in ``params``; accepted back from a config)."""

@register_probe
class GroupPerformanceProbe(Probe):
    name = "bias.group_performance"
    suite = "bias"
    title = "Performance per group on labelled data"
    requires = frozenset({"class_probs"})
    card = {
        "what": "On labelled data (yours, or a generated example), how well the classifier does for each group of "
                "people — accuracy, macro-F1, false-positive and false-negative rates, calibration — and how far apart "
                "the groups are (demographic parity, equalized odds, equal opportunity, worst-group gap); then the "
                "slices of the data (group crossings, text length, identity terms mentioned, language) where it does worse.",
        "how_to_read": "Per group: each figure with a 95% interval (Wilson for rates; percentile bootstrap for macro-F1, "
                       "calibration error and mean score) and n; groups under min_group_size rows are flagged and never "
                       "ranked or used in a disparity. Disparities (fairlearn's definitions, between groups): value, a 95% "
                       "bootstrap interval over examples resampled within each group (the union of the basic and percentile "
                       "intervals; parity kept inside when the test cannot reject it), and a one-sided permutation test of no disparity; p-values of the "
                       "disparities and of each group against the rest (Fisher exact, accuracy) are Benjamini–Hochberg "
                       "q-values across all of them. Slices: one-sided Fisher test against the rest, Benjamini–Yekutieli "
                       "q-values (valid for overlapping slices). Binary tasks use the positive label; with more classes "
                       "each class is compared one-vs-rest.",
        "sources": [
            "Bird et al. 2020, Fairlearn: A toolkit for assessing and improving fairness in AI (metric definitions).",
            "Hardt, Price & Srebro 2016, Equality of Opportunity in Supervised Learning (NeurIPS).",
            "Sagawa et al. 2020, Distributionally Robust Neural Networks (ICLR): worst-group accuracy.",
            "Guo et al. 2017, On Calibration of Modern Neural Networks (ICML): expected calibration error.",
            "Benjamini & Yekutieli 2001, The control of the false discovery rate under dependency (Ann. Stat.).",
            "Chung et al. 2019, Slice Finder (ICDE): searching data slices where a model underperforms.",
        ],
        "limits": [
            "Figures describe the data given: a group that is rare or unusual in it gets wide intervals, not a verdict.",
            "Inferred groups (infer_groups) come from lexicon terms in the text: a text mentioning no or several "
            "groups is left out, and a mention is not the author's identity; the coverage is stated.",
            "The generated example has labels that follow from the emotion word alone; it shows the probe, not the "
            "model's behaviour on real text.",
            "At a gate threshold exactly equal to the true disparity, the interval gate fails somewhat more often than "
            "its nominal 2.5% (max − min stays biased upwards); under parity it fails at most that often.",
        ],
    }
    default_thresholds = (Threshold("equalized_odds_difference", 0.10), Threshold("worst_group_gap", 0.10))
    metric_specs = (
        MetricSpec("accuracy", higher_is_better=True, groups="column=group", proportion=1.0),
        MetricSpec("macro_f1", higher_is_better=True, groups="column=group"),
        MetricSpec("ece", higher_is_better=False, groups="column=group"),
        MetricSpec("mean_score", groups="column=group"),
        MetricSpec("selection_rate", groups="column=group[/class c]"),
        MetricSpec("fpr", higher_is_better=False, groups="column=group[/class c]", proportion=1.0),
        MetricSpec("fnr", higher_is_better=False, groups="column=group[/class c]", proportion=1.0),
        *(MetricSpec(d, higher_is_better=d in gm.LOWER_IS_WORSE, groups="column[/class c]") for d in gm.DISPARITIES),
    )

    data: DataSource | None = param(None,
                 "labelled examples (CSV/JSONL/Parquet path, DataFrame, Dataset); unset: a generated example")
    text_column: str = param("text", "column holding the text")
    label_column: str = param("label", "column holding the gold label")
    group_columns: list[str] | None = param(None, "columns naming each example's group")
    infer_groups: list[str] | None = param(None, "axes whose groups are inferred from lexicon terms in the text")
    positive_label: str | None = param(None, "the label counted as positive for rates; unset: a positive-like one")
    label_map: dict[str, str] | None = param(None, "dataset label -> model label, where the names differ")
    min_group_size: int = param(MIN_CASES, "fewest examples a group needs to be compared")
    alpha: float = param(0.05, "significance level of the disparity tests")
    n_resamples: int = param(1000, "bootstrap and permutation resamples")
    slice_search: bool = param(True, "also search for the worst-served slices")

    def __post_init__(self) -> None:
        super().__post_init__()
        if isinstance(self.data, str) and self.data == EXAMPLE:  # as ``params`` records it
            self.data = None

    def get_params(self) -> dict[str, Any]:
        params = super().get_params()
        if self.data is None:
            params["data"] = EXAMPLE
        return params

    def supports(self, model: Any) -> bool:
        """Without data the generated example needs a sentiment classifier (positive and negative labels, or a
        label_map onto the model's labels); with data, any classifier."""
        if not super().supports(model):
            return False
        return self.data is not None or bool(self.label_map) or all(
            any(lab.lower() in like for lab in model.labels) for like in (POSITIVE_LIKE, NEGATIVE_LIKE))

    def validate(self, model: Any) -> None:
        super().validate(model)
        if not self.supports(model):
            raise AuditError(f"{self.name}: the generated example is labelled positive/negative and {model.info.spec} has "
                             f"labels {', '.join(model.labels)}; pass your data with --data, or map the example's labels "
                             "with label_map")
        if not 0 < self.alpha < 1:
            raise AuditError(f"{self.name}: alpha must be between 0 and 1, got {self.alpha}")
        if self.min_group_size < 2:
            raise AuditError(f"{self.name}: min_group_size must be at least 2, got {self.min_group_size}")
        if self.n_resamples < 100:
            raise AuditError(f"{self.name}: n_resamples must be at least 100, got {self.n_resamples}")
        target_label(model, self.positive_label)
        self._table = self._load(model)  # bad data fails before any probe runs

    # ---- data -----------------------------------------------------------------------------------------
    def _load(self, model: Any) -> dict[str, Any]:
        """Texts, label indices, group columns (declared, then inferred) and what was inferred."""
        declared = list(self.group_columns or [])
        if self.data is None:
            cols = example_data(EXAMPLE_GROUP, seed=self.seed)
            declared = declared or ([] if self.infer_groups else [EXAMPLE_GROUP])
            missing = [c for c in (self.text_column, self.label_column, *declared) if c not in cols]
            if missing:
                raise AuditError(f"the generated example has no column {', '.join(map(repr, missing))} (its columns: "
                                 f"{', '.join(cols)}); pass your data with --data")
            source = "generated example (gender × emotion templates)"
        else:
            if not declared and not self.infer_groups:
                raise AuditError(f"{self.name}: name the group column(s) of {describe(self.data)} with --group-column "
                                 "(group_columns in a config), or infer groups from the text with infer_groups: [gender]")
            cols = load_columns(self.data, [self.text_column, self.label_column, *declared], what="dataset")
            source = describe(self.data)
        texts, raw_labels = cols[self.text_column], cols[self.label_column]
        for i, t in enumerate(texts):
            if not isinstance(t, str) or not t.strip():
                raise AuditError(f"dataset {source}, row {i + 1}: {self.text_column!r} is empty or not text; fix or drop that row")
        keep = np.arange(len(texts))
        if self.max_cases is not None and len(texts) > self.max_cases:
            keep = np.sort(np.random.default_rng(self.seed).choice(len(texts), size=self.max_cases, replace=False))
        labels = self._labels(model, [raw_labels[i] for i in keep], source)
        groups = {c: [None if _missing(cols[c][i]) else str(cols[c][i]) for i in keep] for c in declared}
        texts = [texts[i] for i in keep]
        inferred: dict[str, float] = {}
        if self.infer_groups:
            lex = load_lexicon(seed=self.seed)
            patterns = slices.term_patterns(lex)
            for axis in self.infer_groups:
                if axis not in patterns:
                    raise unknown_name("lexicon axis to infer groups from", axis, patterns)
                col = f"{axis} (inferred)"
                groups[col] = slices.infer_groups(texts, patterns[axis])
                inferred[col] = sum(g is not None for g in groups[col]) / len(texts)
        return {"texts": texts, "y": labels, "groups": groups, "inferred": inferred, "source": source}

    def _labels(self, model: Any, values: list[Any], source: str) -> np.ndarray:
        """Label indices of the model; dataset labels are the model's names, their numbers, or mapped by label_map."""
        mapping = {str(k): str(v) for k, v in (self.label_map or {}).items()}
        out = []
        unknown: dict[str, None] = {}
        for v in values:
            key = str(int(v)) if isinstance(v, (int, np.integer)) and not isinstance(v, bool) else str(v)
            key = mapping.get(key, key)
            if self.data is None and key not in model.labels:  # the example's positive/negative, in the model's spelling
                like = POSITIVE_LIKE if key == "positive" else NEGATIVE_LIKE
                key = next((lab for lab in model.labels if lab.lower() in like), key)
            if key in model.labels:
                out.append(model.labels.index(key))
            elif key.isdigit() and int(key) < len(model.labels):
                out.append(int(key))
            else:
                unknown[key] = None
        if unknown:
            shown = ", ".join(repr(u) for u in list(unknown)[:5])
            raise AuditError(f"dataset {source}: label value(s) {shown} are not labels of {model.info.spec} "
                             f"({', '.join(model.labels)}) nor their numbers; map them with label_map, e.g. "
                             f"{{{next(iter(unknown))!r}: {model.labels[-1]!r}}}")
        return np.asarray(out, dtype=np.int64)

    # ---- run ------------------------------------------------------------------------------------------
    def _run(self, model: Any) -> ProbeResult:
        table = getattr(self, "_table", None) or self._load(model)
        texts, y, groups = table["texts"], table["y"], table["groups"]
        probs = np.asarray(model.class_probs(texts), dtype=np.float64)
        pred = probs.argmax(axis=1)
        labels = tuple(model.labels)
        target = model.label_index(target_label(model, self.positive_label))
        classes = [target] if len(labels) == 2 else list(range(len(labels)))
        warnings: list[str] = []
        group_rows: list[dict[str, Any]] = []
        class_rows: list[dict[str, Any]] = []
        disparity_rows: list[dict[str, Any]] = []
        tests: list[tuple[dict[str, Any], str]] = []  # rows that carry a p-value, BH-adjusted together
        charts: list[Chart] = []
        for col, values in groups.items():
            res = self._column(col, values, y, pred, probs, labels, target, classes, warnings)
            group_rows += res["groups"]
            class_rows += res["classes"]
            disparity_rows += res["disparities"]
            tests += [(r, "p_vs_rest") for r in res["groups"] if r.get("p_vs_rest") is not None]
            tests += [(r, "p") for r in res["disparities"]]
            charts += res["charts"]
        qs = benjamini_hochberg([r[key] for r, key in tests])
        for (r, key), q in zip(tests, qs):
            r["q_vs_rest" if key == "p_vs_rest" else "q"] = float(q)
        for r in disparity_rows:
            r["significant"] = bool(r["q"] < self.alpha)
        metrics = self._metrics(group_rows, class_rows, disparity_rows, labels[target])
        for col, cover in table["inferred"].items():
            warnings.append(f"groups of {col!r} were inferred from the text with the bias lexicon: {cover:.0%} of "
                            f"{len(texts)} rows mention exactly one group; the rest are left out of that column")
        tables = {"groups": _round([{k: r.get(k) for k in GROUP_COLUMNS if k in r} for r in group_rows]),
                  "disparities": _round(disparity_rows)}
        if class_rows:
            tables["class_rates"] = _round(class_rows)
        slice_rows: list[dict[str, Any]] = []
        if self.slice_search:
            slice_rows = self._slices(texts, groups, pred == y)
            tables["slices"] = _round(slice_rows)
        worst = min((r for r in group_rows if r["conclusive"]), key=lambda r: r["accuracy"], default=None)
        cases = self._cases(worst, texts, y, pred, probs, labels, groups) if worst else ()
        overall = float((pred == y).mean())
        return ProbeResult(
            probe=self.name, suite=self.suite, title=self.title,
            headline=self._headline(worst, overall, len(y), disparity_rows, slice_rows, table["source"]),
            metrics=tuple(metrics), tables=tables, charts=tuple(charts), cases=cases, warnings=tuple(warnings))

    def _column(self, col: str, values: list[str | None], y: np.ndarray, pred: np.ndarray, probs: np.ndarray,
                labels: tuple[str, ...], target: int, classes: list[int], warnings: list[str]) -> dict[str, Any]:
        """Per-group rows, per-class rates, disparities and charts for one group column."""
        from scipy import stats as st  # imported here: 0.7 s a cached re-run skips

        have = np.array([v is not None for v in values])
        names = sorted({v for v in values if v is not None})
        g_all = np.array([v if v is not None else "" for v in values], dtype=object)
        out: dict[str, Any] = {"groups": [], "classes": [], "disparities": [], "charts": []}
        if not have.all():
            warnings.append(f"column {col!r}: {int((~have).sum())} rows have no group and are left out of its figures")
        big = [k for k in names if int((g_all == k).sum()) >= self.min_group_size]
        small = [k for k in names if k not in big]
        if small:
            warnings.append(f"column {col!r}: group(s) {', '.join(map(repr, small))} have fewer than {self.min_group_size} "
                            "rows: shown, flagged, never ranked nor used in a disparity")
        correct = pred == y
        for k in names:
            m = g_all == k
            n, hits = int(m.sum()), int(correct[m].sum())
            idx = np.flatnonzero(m)
            row: dict[str, Any] = {"column": col, "group": k, "n": n, "conclusive": k in big}
            row["accuracy"], (row["accuracy_low"], row["accuracy_high"]) = hits / n, wilson_interval(hits, n)
            f1 = lambda ix: macro_f1(y[ix.astype(int)], pred[ix.astype(int)], len(labels))  # noqa: E731
            row["macro_f1"], (row["macro_f1_low"], row["macro_f1_high"]) = f1(idx), bootstrap_ci(idx, f1, seed=self.seed, n_resamples=self.n_resamples)
            e = lambda ix: gm.ece(probs[ix.astype(int)], y[ix.astype(int)])  # noqa: E731
            row["ece"], (row["ece_low"], row["ece_high"]) = e(idx), bootstrap_ci(idx, e, seed=self.seed, n_resamples=self.n_resamples)
            s = probs[m, target]
            row["mean_score"], (row["mean_score_low"], row["mean_score_high"]) = float(s.mean()), bootstrap_ci(s, seed=self.seed, n_resamples=self.n_resamples)
            for c in classes:
                rates = self._rates(y[m], pred[m], c)
                if len(classes) == 1:
                    row.update(rates)
                else:
                    out["classes"].append({"column": col, "group": k, "class": labels[c], "n": n, "conclusive": k in big, **rates})
            if k in big and len(big) > 1:
                rest = have & ~m
                row["p_vs_rest"] = float(st.fisher_exact([[hits, n - hits], [int(correct[rest].sum()), int((~correct[rest]).sum())]])[1])
            out["groups"].append(row)
        if len(big) < 2:
            warnings.append(f"column {col!r}: fewer than two groups with at least {self.min_group_size} rows; no disparity measured")
            return out
        m = np.isin(g_all, big)
        codes = np.array([big.index(v) for v in g_all[m]])
        for c in classes:
            for d in gm.analyse(y[m], pred[m], codes, c, n_resamples=self.n_resamples, seed=self.seed):
                out["disparities"].append({"column": col, "class": labels[c], "metric": d.name, "value": d.value,
                                           "ci_low": d.ci[0], "ci_high": d.ci[1], "groups": len(big),
                                           "n_smallest": min(int((g_all == k).sum()) for k in big), "p": d.p_value})
        rows = out["groups"]
        out["charts"].append(Chart("bar", f"{col}: accuracy per group", col, "accuracy",
                                   [{"label": f"{r['group']}{'' if r['conclusive'] else ' (too few)'}", "value": r["accuracy"],
                                     "low": r["accuracy_low"], "high": r["accuracy_high"]} for r in rows],
                                   alt=f"Accuracy per {col} group with 95% Wilson intervals"))
        diffs = [r for r in out["disparities"] if r["metric"] not in gm.LOWER_IS_WORSE and math.isfinite(r["value"])]
        out["charts"].append(Chart("bar", f"{col}: disparities between groups (0 = parity)", "metric", "difference",
                                   [{"label": r["metric"] + ("" if len(classes) == 1 else f" ({r['class']})"), "value": r["value"],
                                     "low": r["ci_low"], "high": r["ci_high"]} for r in diffs],
                                   alt=f"Disparity metrics between the {col} groups with 95% bootstrap intervals"))
        return out

    @staticmethod
    def _rates(y: np.ndarray, pred: np.ndarray, c: int) -> dict[str, Any]:
        """Selection rate, false-positive and false-negative rates for class c, with Wilson intervals."""
        out: dict[str, Any] = {}
        for key, hits, n in (("selection_rate", int((pred == c).sum()), len(y)),
                             ("fpr", int(((pred == c) & (y != c)).sum()), int((y != c).sum())),
                             ("fnr", int(((pred != c) & (y == c)).sum()), int((y == c).sum()))):
            lo, hi = wilson_interval(hits, n)
            out[key], out[f"{key}_low"], out[f"{key}_high"], out[f"{key}_n"] = (hits / n if n else math.nan), lo, hi, n
        return out

    def _metrics(self, group_rows: list[dict[str, Any]], class_rows: list[dict[str, Any]],
                 disparity_rows: list[dict[str, Any]], positive: str) -> list[Metric]:
        metrics = []
        spec = {"accuracy": (True, "share"), "macro_f1": (True, "F1"), "ece": (False, "probability"),
                "mean_score": (None, "probability"), "selection_rate": (None, "share"), "fpr": (False, "share"),
                "fnr": (False, "share")}
        what = {"accuracy": "accuracy", "macro_f1": "macro-F1", "ece": "expected calibration error (10 bins)",
                "mean_score": f"mean P({positive})", "selection_rate": f"share predicted {positive}",
                "fpr": f"false-positive rate for {positive}", "fnr": f"false-negative rate for {positive}"}
        for r in group_rows + class_rows:
            for key, (better, unit) in spec.items():
                if key not in r:
                    continue
                n = r.get(f"{key}_n", r["n"])
                group = f"{r['column']}={r['group']}" + (f"/class {r['class']}" if "class" in r else "")
                metrics.append(Metric(key, _f(r[key]), _ci(r[f"{key}_low"], r[f"{key}_high"]), higher_is_better=better,
                                      n=n, unit=unit, group=group, p_value=r.get("q_vs_rest") if key == "accuracy" else None,
                                      description=what[key] + ("" if r["conclusive"] else " (too few rows to conclude)")
                                      + ("; p is the BH q-value of the group against the rest" if key == "accuracy" and "q_vs_rest" in r else "")))
        multi = len({r["class"] for r in disparity_rows}) > 1
        for r in disparity_rows:
            better = r["metric"] in gm.LOWER_IS_WORSE
            metrics.append(Metric(r["metric"], _f(r["value"]), _ci(r["ci_low"], r["ci_high"]), higher_is_better=better,
                                  n=r["n_smallest"], p_value=r["q"], unit="ratio" if better else "difference",
                                  group=r["column"] + (f"/class {r['class']}" if multi else ""),
                                  description=f"between the {r['groups']} groups of {r['column']} with enough rows; n is the "
                                              "smallest group; p is the BH q-value of the permutation test"))
        return metrics

    def _slices(self, texts: list[str], groups: dict[str, list[str | None]], correct: np.ndarray) -> list[dict[str, Any]]:
        from probes.heads.common import identify

        lex = load_lexicon(seed=self.seed)
        cands = slices.candidates(texts, groups, lex, identify(texts))
        return slices.search(correct, cands, min_size=max(self.min_group_size, 2), alpha=self.alpha)

    def _cases(self, worst: dict[str, Any], texts: list[str], y: np.ndarray, pred: np.ndarray, probs: np.ndarray,
               labels: tuple[str, ...], groups: dict[str, list[str | None]]) -> tuple[Case, ...]:
        """Misclassified rows of the worst group, the most confidently wrong first."""
        in_group = np.array([v == worst["group"] for v in groups[worst["column"]]])
        wrong = np.flatnonzero(in_group & (pred != y))
        wrong = wrong[np.argsort(-probs[wrong, pred[wrong]], kind="stable")][: min(N_CASES, self.max_cases or N_CASES)]
        return tuple(Case(text=texts[i], score=float(probs[i, pred[i]]), target=labels[pred[i]],
                          reason=f"worst group {worst['column']}={worst['group']}: labelled {labels[y[i]]!r}, predicted "
                                 f"{labels[pred[i]]!r} with P={probs[i, pred[i]]:.3f}",
                          meta={"column": worst["column"], "group": worst["group"], "label": labels[y[i]],
                                "predicted": labels[pred[i]], "contrast": labels[y[i]]})
                     for i in wrong)

    def _headline(self, worst: dict[str, Any] | None, overall: float, n: int, disparity_rows: list[dict[str, Any]],
                  slice_rows: list[dict[str, Any]], source: str) -> str:
        if worst is None:
            return f"On {source} ({n} rows): no group has {self.min_group_size} rows or more; nothing can be concluded per group."
        text = (f"The worst group is {worst['column']}={worst['group']!r}: accuracy "
                f"{worst['accuracy']:.3f} (95% CI {worst['accuracy_low']:.3f}–{worst['accuracy_high']:.3f}, n={worst['n']}) "
                f"against {overall:.3f} overall on {source} ({n} rows).")
        eo = [r for r in disparity_rows if r["metric"] == "equalized_odds_difference"]
        if eo:
            top = max(eo, key=lambda r: r["value"] if math.isfinite(r["value"]) else -1)
            text += (f" Equalized-odds difference on {top['column']}: {top['value']:.3f} (95% CI {top['ci_low']:.3f}–"
                     f"{top['ci_high']:.3f}, BH q={top['q']:.3g}); {sum(r['significant'] for r in disparity_rows)} of "
                     f"{len(disparity_rows)} disparities significant.")
        if slice_rows:
            text += f" {sum(r['significant'] for r in slice_rows)} of {len(slice_rows)} searched slices do significantly worse (BY q < {self.alpha:g})."
        return text


def _round(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Table rows with floats rounded for display (p- and q-values keep their precision)."""
    return [{k: v if not isinstance(v, float) or k.startswith(("p", "q")) else rounded(v) for k, v in r.items()} for r in rows]


def _f(x: Any) -> float | None:
    """A finite float, else None (JSON null)."""
    return float(x) if x is not None and math.isfinite(float(x)) else None


def _ci(low: Any, high: Any) -> tuple[float, float]:
    """The interval as written: an undefined bound stays None (JSON null, which the results schema allows),
    which Metric's annotation does not spell out."""
    return cast("tuple[float, float]", (_f(low), _f(high)))
