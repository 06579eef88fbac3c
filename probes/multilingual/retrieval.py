"""multilingual.retrieval: does the encoder put a name in language X next to the same name in English?

Cross-lingual retrieval on parallel CLDR names of languages and territories, as XTREME's Tatoeba task:
each item in language X is a query, the English names of all items are the candidates, and the nearest
candidate by cosine similarity should be the item's own English name.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from audit.errors import AuditError
from audit.gates import MetricSpec
from audit.results import Case, Chart, Metric, ProbeResult
from audit.stats import benjamini_hochberg, bootstrap_ci, wilson_interval
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

TIE_TOLERANCE = 1e-6
CHART_TOP = 50


def ranks(queries: np.ndarray, candidates: np.ndarray, correct: np.ndarray) -> np.ndarray:
    """Rank (1 = best) of each query's correct candidate by cosine similarity.

    Ties count against the query: a candidate as similar as the correct one (within TIE_TOLERANCE) ranks
    ahead of it, so an encoder that maps everything to one vector gets rank K, not 1.
    """
    q = queries / np.linalg.norm(queries, axis=1, keepdims=True).clip(min=1e-12)
    c = candidates / np.linalg.norm(candidates, axis=1, keepdims=True).clip(min=1e-12)
    sims = q @ c.T
    own = sims[np.arange(len(correct)), correct]
    ahead = (sims >= own[:, None] - TIE_TOLERANCE).sum(axis=1) - 1
    return 1 + ahead


@register_probe
class RetrievalProbe(Probe):
    name = "multilingual.retrieval"
    metric_specs = (
        MetricSpec("mean_accuracy", higher_is_better=True), MetricSpec("mean_mrr", higher_is_better=True),
        MetricSpec("min_accuracy", higher_is_better=True), MetricSpec("languages_at_chance", higher_is_better=False),
        MetricSpec("speakers_at_chance", higher_is_better=False),
        MetricSpec("accuracy_by_tier", higher_is_better=True, groups="resource tier"),
        MetricSpec("accuracy", higher_is_better=True, groups="language"),
        MetricSpec("mrr", higher_is_better=True, groups="language"),
    )
    cases_drive_cost = False
    suite = "multilingual"
    title = "Cross-lingual retrieval of parallel names"
    requires = frozenset({"embed"})
    card = {
        "what": "For every language with CLDR names of its own (about 330), a fixed set of names of languages and "
                "territories is embedded in that language and in English; each name in language X should retrieve "
                "its English counterpart among all the English names (top-1 accuracy and mean reciprocal rank), as "
                "in XTREME's Tatoeba task.",
        "how_to_read": "Accuracy 1 means every name finds its English twin; chance is 1 / (number of candidates). "
                       "Accuracy carries Wilson 95% intervals, MRR bootstrap 95% intervals over items. 'At chance' means "
                       "a one-sided binomial test against chance is not significant after Benjamini–Hochberg correction "
                       "over languages (q ≥ 0.05). Ties count against the query. The 'identical' column is the share of "
                       "names spelled exactly as in English (trivial to retrieve). Resource tiers: " + TIER_RULE + ".",
        "sources": [
            "Hu et al. 2020, XTREME: A Massively Multilingual Multi-task Benchmark (Tatoeba retrieval)",
            "Artetxe & Schwenk 2019, Massively Multilingual Sentence Embeddings (Tatoeba)",
            "Unicode CLDR via babel: names in ~300 locales (own entries only, not inherited)",
        ],
        "limits": [
            "Names are short: retrieval of sentences or documents can differ.",
            "Names spelled alike across Latin-script languages make retrieval easy for them; see the 'identical' column.",
            "Languages without CLDR names of their own are not measured here.",
            SPEAKERS_NOTE + ".",
        ],
    }
    default_thresholds = ()

    languages: list[str] | None = param(None, "languages retrieved from English; unset: the built-in panel")
    items: int = param(40, "parallel items per language")
    min_items: int = param(10, "fewest items per language when cut to fit the token budget")

    def shrink(self) -> str | None:
        """Fewer parallel items per language (not below min_items) when over the token budget."""
        return halve_items(self, floor=2)

    def validate(self, model) -> None:
        super().validate(model)
        if not isinstance(self.items, int) or self.items < 2:
            raise AuditError(f"{self.name}: items must be an integer of at least 2, got {self.items!r}")
        if not isinstance(self.min_items, int) or self.min_items < 1:
            raise AuditError(f"{self.name}: min_items must be a positive integer, got {self.min_items!r}")
        check_languages(self.name, self.languages)
        if self.languages is not None:
            for lang in chosen(self.languages):
                if lang.cldr_locale is None:
                    raise AuditError(f"{self.name}: {lang.code} has no CLDR names of its own to retrieve; "
                                     f"drop it from `languages` (multilingual.tokenizer still covers it)")

    def _run(self, model) -> ProbeResult:
        from scipy import stats as st  # imported here: 0.7 s a cached re-run skips

        langs = [lang for lang in chosen(self.languages, lambda x: x.cldr_locale is not None) if lang.code != ENGLISH]
        english = registry()[ENGLISH]
        keys, texts = parallel_items(langs + [english], self.items, self.seed)
        eng = [texts[ENGLISH][k] for k in keys]
        queries = [(lang, k, t) for lang in langs for k, t in texts[lang.code].items()]
        vectors = model.embed(eng + [t for _, _, t in queries])
        cand, qv = vectors[: len(eng)], vectors[len(eng):]
        position = {k: i for i, k in enumerate(keys)}
        correct = np.array([position[k] for _, k, _ in queries], dtype=np.int64)
        rank = ranks(qv, cand, correct) if queries else np.zeros(0, dtype=np.int64)
        rows: list[dict[str, Any]] = []
        per_lang = {}
        start = 0
        chance = 1.0 / len(keys)
        for lang in langs:
            n = len(texts[lang.code])
            r = rank[start : start + n]
            idx = np.arange(start, start + n)
            start += n
            hits = int((r == 1).sum())
            lo, hi = wilson_interval(hits, n) if n else (math.nan, math.nan)
            rr = 1.0 / r if n else np.zeros(0)
            mrr_lo, mrr_hi = bootstrap_ci(rr, seed=self.seed) if n else (math.nan, math.nan)
            p = float(st.binomtest(hits, n, chance, alternative="greater").pvalue) if n else 1.0
            identical = float(np.mean([texts[lang.code][k] == texts[ENGLISH][k] for k in texts[lang.code]])) if n else None
            rows.append({"code": lang.code, "name": lang.name, "script": lang.script, "script_name": script_name(lang.script),
                         "tier": lang.tier, "speakers": lang.speakers, "items": n,
                         "accuracy": _r(hits / n) if n else None, "accuracy_low": _r(lo), "accuracy_high": _r(hi),
                         "mrr": _r(float(rr.mean())) if n else None, "mrr_low": _r(mrr_lo), "mrr_high": _r(mrr_hi),
                         "p_value": p, "identical": _r(identical),
                         "status": "ok" if n >= self.min_items else f"too little text: {n} items (need {self.min_items})"})
            per_lang[lang.code] = idx
        enough = [r for r in rows if r["status"] == "ok"]
        for row, q in zip(enough, benjamini_hochberg([row["p_value"] for row in enough])):
            row["q_value"] = q
            row["at_chance"] = q >= 0.05
        return self._result(rows, enough, chance, len(keys), queries, rank, per_lang, eng, keys)

    def _result(self, rows, enough, chance, k, queries, rank, per_lang, eng, keys) -> ProbeResult:
        metrics: list[Metric] = []
        warnings: list[str] = []
        at_chance = [r for r in enough if r["at_chance"]]
        if enough:
            acc = np.array([r["accuracy"] for r in enough])
            mrr = np.array([r["mrr"] for r in enough])
            metrics += [
                Metric("mean_accuracy", float(acc.mean()), bootstrap_ci(acc, seed=self.seed), higher_is_better=True,
                       n=len(enough), unit="share of items", description=f"top-1 accuracy, mean over {len(enough)} languages "
                                                                          f"(chance {chance:.3f})"),
                Metric("mean_mrr", float(mrr.mean()), bootstrap_ci(mrr, seed=self.seed), higher_is_better=True,
                       n=len(enough), unit="reciprocal rank", description="mean reciprocal rank, mean over languages"),
                Metric("min_accuracy", float(acc.min()), _ci_of(min(enough, key=lambda r: r["accuracy"])), higher_is_better=True,
                       n=min(enough, key=lambda r: r["accuracy"])["items"], unit="share of items",
                       description=f"lowest top-1 accuracy ({min(enough, key=lambda r: r['accuracy'])['name']})"),
                Metric("languages_at_chance", float(len(at_chance)), higher_is_better=False, n=len(enough), unit="languages",
                       description="languages whose accuracy is not above chance (one-sided binomial test, BH q ≥ 0.05)"),
                Metric("speakers_at_chance", speakers_of(at_chance) / 1e6, higher_is_better=False, n=len(enough),
                       unit="million speakers", description="speakers of the languages at chance"),
            ]
        by_tier = sorted(group_rows(enough, "tier", ("accuracy", "mrr"), self.seed), key=lambda r: tier_order(r["tier"]))
        for t in by_tier:
            metrics.append(Metric("accuracy_by_tier", t["accuracy"], (t["accuracy_low"], t["accuracy_high"]),
                                  higher_is_better=True, n=t["languages"], unit="share of items", group=t["tier"],
                                  description=f"mean top-1 accuracy of the {t['tier']}-resource languages"))
        by_script = group_rows(enough, "script", ("accuracy", "mrr"), self.seed)
        if self.languages is not None:
            for r in rows:
                if r["items"]:
                    metrics.append(Metric("accuracy", r["accuracy"], (r["accuracy_low"], r["accuracy_high"]), higher_is_better=True,
                                          n=r["items"], unit="share of items", group=r["code"], p_value=r["p_value"],
                                          description=f"top-1 accuracy, {r['name']}"))
                    metrics.append(Metric("mrr", r["mrr"], (r["mrr_low"], r["mrr_high"]), higher_is_better=True, n=r["items"],
                                          unit="reciprocal rank", group=r["code"], description=f"mean reciprocal rank, {r['name']}"))
        little = [r for r in rows if r["status"] != "ok"]
        if little:
            warnings.append(f"{len(little)} languages have fewer than {self.min_items} of the {k} items as names of their own and "
                            f"are left out of the aggregates but kept in the table: "
                            + ", ".join(f"{r['code']} ({r['items']})" for r in little[:12]) + (", …" if len(little) > 12 else ""))
        if enough:
            mean = float(np.mean([r["accuracy"] for r in enough]))
            worst = ", ".join(r["name"] for r in sorted(at_chance, key=lambda r: -r["speakers"])[:3])
            headline = (f"The encoder finds the English twin of a name in {mean:.0%} of cases on average over {len(enough)} languages "
                        f"(chance {chance:.1%}); " + (f"for {len(at_chance)} languages ({millions(speakers_of(at_chance))} speakers, "
                                                       f"e.g. {worst}) it does no better than chance." if at_chance
                                                       else "every language is above chance."))
        else:
            headline = "No language had enough parallel names to measure retrieval."
        charts = []
        if enough:
            low = sorted(enough, key=lambda r: r["accuracy"])[:CHART_TOP]
            charts.append(Chart("bar", f"Top-1 retrieval accuracy ({len(low)} lowest of {len(enough)} languages)", "language",
                                "top-1 accuracy", [{"label": f"{r['name']} ({r['code']})", "value": r["accuracy"],
                                                    "low": r["accuracy_low"], "high": r["accuracy_high"]} for r in low], alt=headline))
            pts = [r for r in enough if r["speakers"] > 0]
            charts.append(Chart("scatter", "Retrieval accuracy against speakers", "speakers (log10)", "top-1 accuracy",
                                [{"series": r["tier"], "x": round(math.log10(r["speakers"]), 3), "y": r["accuracy"],
                                  "label": r["name"]} for r in pts], alt="each point a language; series are resource tiers"))
        cases = []
        for r in sorted(at_chance or sorted(enough, key=lambda r: r["accuracy"])[:3], key=lambda r: -r["speakers"]):
            idx = per_lang[r["code"]]
            missed = [i for i in idx if rank[i] > 1]
            if missed:
                i = max(missed, key=lambda i: rank[i])
                _, key, text = queries[i]
                cases.append(Case(text=text, score=float(rank[i]), pair=eng[keys.index(key)],
                                  reason=f"{r['name']}: the name ranks its English twin {rank[i]} of {k} "
                                         f"(language accuracy {r['accuracy']:.0%})",
                                  meta={"language": r["code"], "key": key, "script": r["script"], "speakers": r["speakers"]}))
            if len(cases) >= case_limit(self.max_cases):
                break
        return ProbeResult(self.name, self.suite, self.title, headline, metrics=tuple(metrics),
                           tables={"languages": rows, "by_script": by_script, "by_tier": by_tier},
                           charts=tuple(charts), cases=tuple(cases), warnings=tuple(warnings))


def _ci_of(row: dict[str, Any]) -> tuple[float, float]:
    return (row["accuracy_low"], row["accuracy_high"])


def _r(x: float | None) -> float | None:
    return None if x is None or not math.isfinite(x) else round(float(x), 4)
