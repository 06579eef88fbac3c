"""multilingual.consistency: does a classifier give the same answer to the same content in every language?

Two parts. Always: the parallel CLDR names (a name of a language or territory in language X and in
English) should get the same predicted label. With ``dataset=PATH`` (a local csv, jsonl or parquet file
with columns text, label, lang and optionally group_id): per-language accuracy and macro-F1 with
intervals, the gap to the best language, and agreement across translations of one item.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from audit.data_sources import DataSource, describe, load_columns
from audit.errors import AuditError
from audit.gates import MetricSpec
from audit.results import Case, Chart, Metric, ProbeResult
from audit.stats import benjamini_hochberg, bootstrap_ci, too_few, wilson_interval
from probes.base import Probe, param, register_probe
from probes.multilingual.common import (
    case_limit,
    check_languages,
    chosen,
    group_rows,
    halve_items,
    parallel_items,
    speakers_of,
    tier_order,
)
from probes.multilingual.languages import ENGLISH, SPEAKERS_NOTE, TIER_RULE, millions, registry, script_name

COLUMNS = ("text", "label", "lang")
CHART_TOP = 50


def macro_f1(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> float:
    """Mean F1 over the classes present in ``y_true`` or ``y_pred`` (scikit-learn's 'macro' on those labels)."""
    scores = []
    for c in range(n_classes):
        tp = int(np.sum((y_true == c) & (y_pred == c)))
        fp = int(np.sum((y_true != c) & (y_pred == c)))
        fn = int(np.sum((y_true == c) & (y_pred != c)))
        if tp + fp + fn:
            scores.append(2 * tp / (2 * tp + fp + fn))
    return float(np.mean(scores)) if scores else math.nan


def load_dataset(path: DataSource) -> dict[str, list[Any]]:
    """A labelled multilingual table (file, cached hub dataset, Dataset or DataFrame) as columns; AuditError naming
    a missing file, format or column."""
    cols = load_columns(path, COLUMNS, optional=("group_id",), what="dataset")
    for i, t in enumerate(cols["text"]):
        if not isinstance(t, str) or not t.strip():
            raise AuditError(f"dataset {describe(path)}, row {i}: 'text' is empty or not a string; fix or drop that row")
    return cols


@register_probe
class ConsistencyProbe(Probe):
    name = "multilingual.consistency"
    metric_specs = (
        MetricSpec("mean_agreement", higher_is_better=True), MetricSpec("min_agreement", higher_is_better=True),
        MetricSpec("mean_distance", higher_is_better=False),
        MetricSpec("agreement_by_tier", higher_is_better=True, groups="resource tier"),
        MetricSpec("agreement", higher_is_better=True, groups="language"),
        MetricSpec("accuracy", higher_is_better=True, groups="language"),
        MetricSpec("macro_f1", higher_is_better=True, groups="language"),
        MetricSpec("max_gap_to_best", higher_is_better=False),
        MetricSpec("translation_agreement", higher_is_better=True),
    )
    cases_drive_cost = False
    suite = "multilingual"
    title = "Consistency of predictions across languages"
    requires = frozenset({"class_probs"})
    card = {
        "what": "Gives the classifier the same content in many languages and checks that the prediction does not depend on "
                "the language: (1) parallel CLDR names of languages and territories, each compared with its English "
                "version (agreement of the predicted label, and total-variation distance between the two probability "
                "vectors); (2) with `dataset=PATH`, a labelled multilingual file: accuracy and macro-F1 per language, "
                "the gap to the best language, and (with group_id) agreement across translations of an item.",
        "how_to_read": "Agreement near 1 and distance near 0 are good. Agreement and accuracy carry Wilson 95% intervals, "
                       "distance and macro-F1 bootstrap 95% intervals. The gap to the best language is tested with Fisher's "
                       "exact test on accuracy, Benjamini–Hochberg corrected over languages. Resource tiers: " + TIER_RULE + ".",
        "sources": [
            "Conneau et al. 2018, XNLI: Evaluating Cross-lingual Sentence Representations (per-language accuracy gaps)",
            "Unicode CLDR via babel: names in ~300 locales (own entries only, not inherited)",
        ],
        "limits": [
            "Names of places and languages carry little of what most classifiers look for; agreement on them tests "
            "language-invariance, not task accuracy. Pass a labelled dataset for task accuracy.",
            "Agreement with English says nothing about whether the English prediction is right.",
            SPEAKERS_NOTE + ".",
        ],
    }
    default_thresholds = ()

    languages: list[str] | None = param(None, "languages compared with English; unset: the built-in panel")
    items: int = param(40, "parallel items per language")
    min_items: int = param(10, "fewest items per language when cut to fit the token budget")
    dataset: DataSource | None = param(None, "parallel items (path or in-memory data) replacing the built-in ones")

    def shrink(self) -> str | None:
        """Fewer parallel items per language (not below min_items) when over the token budget."""
        return halve_items(self, floor=1)

    def validate(self, model) -> None:
        super().validate(model)
        if not isinstance(self.items, int) or self.items < 1:
            raise AuditError(f"{self.name}: items must be a positive integer, got {self.items!r}")
        if not isinstance(self.min_items, int) or self.min_items < 1:
            raise AuditError(f"{self.name}: min_items must be a positive integer, got {self.min_items!r}")
        check_languages(self.name, self.languages)
        if self.dataset is not None:
            for value in dict.fromkeys(load_dataset(self.dataset)["label"]):
                model.label_index(_label(value))  # an unknown label is an AuditError naming the model's labels

    def _run(self, model) -> ProbeResult:
        langs = [x for x in chosen(self.languages, lambda x: x.cldr_locale is not None) if x.code != ENGLISH]
        english = registry()[ENGLISH]
        keys, texts = parallel_items(langs + [english], self.items, self.seed)
        eng = [texts[ENGLISH][k] for k in keys]
        queries = [(lang, k, t) for lang in langs for k, t in texts[lang.code].items()]
        data = load_dataset(self.dataset) if self.dataset is not None else None
        extra = data["text"] if data else []
        probs = model.class_probs(eng + [t for _, _, t in queries] + list(extra))
        p_eng, p_q, p_data = probs[: len(eng)], probs[len(eng): len(eng) + len(queries)], probs[len(eng) + len(queries):]
        result = self._parallel(model, langs, keys, eng, queries, p_eng, p_q)
        if data is None:
            return result
        return _merge(result, self._dataset(model, data, p_data))

    # ---- parallel names ---------------------------------------------------------------------------
    def _parallel(self, model, langs, keys, eng, queries, p_eng, p_q) -> ProbeResult:
        position = {k: i for i, k in enumerate(keys)}
        blocks: dict[str, list[int]] = {lang.code: [] for lang in langs}
        for i, (lang, _, _) in enumerate(queries):
            blocks[lang.code].append(i)
        rows, cases = [], []
        for lang in langs:
            block = blocks[lang.code]
            n = len(block)
            ref = np.array([position[queries[i][1]] for i in block], dtype=np.int64)
            px, pe = p_q[block], p_eng[ref]
            agree = px.argmax(1) == pe.argmax(1)
            tv = 0.5 * np.abs(px - pe).sum(1)
            lo, hi = wilson_interval(int(agree.sum()), n)
            tv_lo, tv_hi = bootstrap_ci(tv, seed=self.seed)
            rows.append({"code": lang.code, "name": lang.name, "script": lang.script, "script_name": script_name(lang.script),
                         "tier": lang.tier, "speakers": lang.speakers, "items": n,
                         "agreement": _r(float(agree.mean())) if n else None, "agreement_low": _r(lo), "agreement_high": _r(hi),
                         "distance": _r(float(tv.mean())) if n else None, "distance_low": _r(tv_lo), "distance_high": _r(tv_hi),
                         "status": "ok" if n >= self.min_items else f"too little text: {n} items (need {self.min_items})"})
            if n and (~agree).any():  # the most different of the names labelled unlike their English version
                j = int(np.argmax(np.where(agree, -1.0, tv)))
                cases.append((lang, queries[block[j]][2], eng[ref[j]], float(tv[j]), model.labels[int(pe[j].argmax())],
                              model.labels[int(px[j].argmax())]))
        enough = [r for r in rows if r["status"] == "ok"]
        metrics, warnings = [], []
        if enough:
            agr = np.array([r["agreement"] for r in enough])
            dist = np.array([r["distance"] for r in enough])
            worst = min(enough, key=lambda r: r["agreement"])
            metrics += [
                Metric("mean_agreement", float(agr.mean()), bootstrap_ci(agr, seed=self.seed), higher_is_better=True, n=len(enough),
                       unit="share of items", description="share of parallel names labelled as their English version, mean over languages"),
                Metric("min_agreement", worst["agreement"], (worst["agreement_low"], worst["agreement_high"]), higher_is_better=True,
                       n=worst["items"], unit="share of items", description=f"lowest agreement with English ({worst['name']})"),
                Metric("mean_distance", float(dist.mean()), bootstrap_ci(dist, seed=self.seed), higher_is_better=False,
                       n=len(enough), unit="total variation", description="distance between the probability vectors of a name "
                                                                           "and its English version, mean over languages"),
            ]
        by_tier = sorted(group_rows(enough, "tier", ("agreement", "distance"), self.seed), key=lambda r: tier_order(r["tier"]))
        for t in by_tier:
            metrics.append(Metric("agreement_by_tier", t["agreement"], (t["agreement_low"], t["agreement_high"]),
                                  higher_is_better=True, n=t["languages"], unit="share of items", group=t["tier"],
                                  description=f"mean agreement with English, {t['tier']}-resource languages"))
        if self.languages is not None:
            for r in rows:
                if r["items"]:
                    metrics.append(Metric("agreement", r["agreement"], (r["agreement_low"], r["agreement_high"]),
                                          higher_is_better=True, n=r["items"], unit="share of items", group=r["code"],
                                          description=f"agreement with English, {r['name']}"))
        little = [r for r in rows if r["status"] != "ok"]
        if little:
            warnings.append(f"{len(little)} languages have fewer than {self.min_items} parallel names of their own and are left out "
                            f"of the aggregates but kept in the table: " + ", ".join(f"{r['code']} ({r['items']})" for r in little[:12])
                            + (", …" if len(little) > 12 else ""))
        low = [r for r in enough if r["agreement_high"] is not None and r["agreement_high"] < 0.9]
        headline = (f"A name gets the same label as its English version in {float(np.mean([r['agreement'] for r in enough])):.0%} "
                    f"of cases on average over {len(enough)} languages; " if enough else "No language had enough parallel names; ")
        headline += (f"agreement is below 90% (whole interval) for {len(low)} languages ({millions(speakers_of(low))} speakers)."
                     if low else "no language is clearly below 90% agreement.")
        charts = []
        if enough:
            worst_rows = sorted(enough, key=lambda r: r["agreement"])[:CHART_TOP]
            charts.append(Chart("bar", f"Agreement with English on parallel names ({len(worst_rows)} lowest of {len(enough)})",
                                "language", "share of items labelled as in English",
                                [{"label": f"{r['name']} ({r['code']})", "value": r["agreement"], "low": r["agreement_low"],
                                  "high": r["agreement_high"]} for r in worst_rows], alt=headline))
        cases.sort(key=lambda c: -c[3])
        out_cases = tuple(Case(text=text, score=d, target=label_x, pair=eng_text,
                               reason=f"{lang.name}: labelled {label_x!r}, its English version {label_e!r} (distance {d:.2f})",
                               meta={"language": lang.code, "pair_target": label_e})
                          for lang, text, eng_text, d, label_e, label_x in cases[: case_limit(self.max_cases)])
        return ProbeResult(self.name, self.suite, self.title, headline, metrics=tuple(metrics),
                           tables={"languages": rows, "by_tier": by_tier}, charts=tuple(charts), cases=out_cases,
                           warnings=tuple(warnings))

    # ---- labelled dataset -------------------------------------------------------------------------
    def _dataset(self, model, data: dict[str, list[Any]], probs: np.ndarray) -> ProbeResult:
        from scipy import stats as st  # imported here: 0.7 s a cached re-run skips

        y = np.array([model.label_index(_label(v)) for v in data["label"]], dtype=np.int64)
        pred = probs.argmax(1)
        lang = np.array([str(x) for x in data["lang"]])
        n_classes = len(model.labels)
        rows = []
        for code in sorted(set(lang)):
            m = lang == code
            n, hits = int(m.sum()), int((pred[m] == y[m]).sum())
            lo, hi = wilson_interval(hits, n)
            idx = np.flatnonzero(m)
            f1 = macro_f1(y[m], pred[m], n_classes)
            f1_lo, f1_hi = bootstrap_ci(idx, lambda ix: macro_f1(y[ix.astype(int)], pred[ix.astype(int)], n_classes),
                                        seed=self.seed, n_resamples=1000)
            rows.append({"lang": code, "n": n, "accuracy": _r(hits / n), "accuracy_low": _r(lo), "accuracy_high": _r(hi),
                         "macro_f1": _r(f1), "macro_f1_low": _r(f1_lo), "macro_f1_high": _r(f1_hi), "correct": hits})
        best = max(rows, key=lambda r: r["accuracy"])
        pvals = [float(st.fisher_exact([[best["correct"], best["n"] - best["correct"]], [r["correct"], r["n"] - r["correct"]]])[1])
                 if r is not best else 1.0 for r in rows]
        for r, p, q in zip(rows, pvals, benjamini_hochberg(pvals)):
            r["gap_to_best"] = _r(best["accuracy"] - r["accuracy"])
            r["p_value"], r["q_value"] = p, q
        metrics = []
        for r in rows:
            metrics.append(Metric("accuracy", r["accuracy"], (r["accuracy_low"], r["accuracy_high"]), higher_is_better=True, n=r["n"],
                                  unit="share", group=r["lang"], description=f"accuracy on the dataset's {r['lang']} rows"))
            metrics.append(Metric("macro_f1", r["macro_f1"], (r["macro_f1_low"], r["macro_f1_high"]), higher_is_better=True,
                                  n=r["n"], unit="F1", group=r["lang"], description=f"macro-F1 on the dataset's {r['lang']} rows"))
        worst = max(rows, key=lambda r: r["gap_to_best"])
        metrics.append(Metric("max_gap_to_best", worst["gap_to_best"], higher_is_better=False, n=worst["n"], p_value=worst["q_value"],
                              unit="accuracy points", description=f"accuracy of the best language ({best['lang']}) minus the "
                                                                  f"worst ({worst['lang']}); p is the BH-adjusted Fisher test"))
        warnings = [f"dataset language {r['lang']!r} has only {r['n']} rows: too few to conclude" for r in rows if too_few(r["n"])]
        tables: dict[str, list[dict[str, Any]]] = {"dataset_languages": rows}
        groups_line = ""
        if "group_id" in data:
            agree, group_rows_ = _group_agreement(data["group_id"], lang, pred)
            if agree is not None:
                lo, hi = wilson_interval(int(round(agree * len(group_rows_))), len(group_rows_))
                metrics.append(Metric("translation_agreement", agree, (lo, hi), higher_is_better=True, n=len(group_rows_),
                                      unit="share of groups", description="share of items whose translations all get the same label"))
                tables["dataset_groups"] = group_rows_
                groups_line = f" Translations of one item get the same label in {agree:.0%} of {len(group_rows_)} groups."
        significant = [r for r in rows if r["q_value"] < 0.05]
        headline = (f"On the dataset, accuracy ranges from {worst['accuracy']:.0%} ({worst['lang']}) to {best['accuracy']:.0%} "
                    f"({best['lang']}); {len(significant)} languages are significantly below the best (BH q < 0.05)." + groups_line)
        chart = Chart("bar", "Accuracy by language (dataset)", "language", "accuracy",
                      [{"label": r["lang"], "value": r["accuracy"], "low": r["accuracy_low"], "high": r["accuracy_high"]}
                       for r in sorted(rows, key=lambda r: r["accuracy"])], alt=headline)
        texts = data["text"]
        wrong = [i for i in np.flatnonzero(pred != y) if lang[i] in {r["lang"] for r in significant} or lang[i] == worst["lang"]]
        cases = tuple(Case(text=texts[i], score=float(probs[i].max()), target=model.labels[int(pred[i])],
                           reason=f"{lang[i]}: predicted {model.labels[int(pred[i])]!r}, gold {model.labels[int(y[i])]!r}",
                           meta={"language": str(lang[i]), "gold": model.labels[int(y[i])]})
                      for i in sorted(wrong, key=lambda i: -probs[i].max())[: case_limit(self.max_cases)])
        return ProbeResult(self.name, self.suite, self.title, headline, metrics=tuple(metrics), tables=tables,
                           charts=(chart,), cases=cases, warnings=tuple(warnings))


def _label(v: Any) -> str | int:
    return int(v) if isinstance(v, (int, np.integer)) and not isinstance(v, bool) else str(v)


def _group_agreement(group_ids: list[Any], lang: np.ndarray, pred: np.ndarray) -> tuple[float | None, list[dict[str, Any]]]:
    groups: dict[str, list[int]] = {}
    for i, g in enumerate(group_ids):
        if g is not None:
            groups.setdefault(str(g), []).append(i)
    rows = [{"group_id": g, "languages": len({lang[i] for i in ix}), "same_label": bool(len({int(pred[i]) for i in ix}) == 1)}
            for g, ix in groups.items() if len({lang[i] for i in ix}) >= 2]
    if not rows:
        return None, []
    return float(np.mean([r["same_label"] for r in rows])), rows


def _merge(a: ProbeResult, b: ProbeResult) -> ProbeResult:
    """The parallel-names result with the dataset's metrics, tables, charts, cases and warnings added."""
    return ProbeResult(a.probe, a.suite, a.title, b.headline + " " + a.headline, metrics=a.metrics + b.metrics,
                       tables={**a.tables, **b.tables}, charts=b.charts + a.charts, cases=b.cases + a.cases,
                       warnings=a.warnings + b.warnings)


def _r(x: float | None) -> float | None:
    return None if x is None or not math.isfinite(x) else round(float(x), 4)
