"""multilingual.translation_quality: chrF per language pair on parallel CLDR names, and the output language.

The parallel set is CLDR's names of territories and languages as ``babel`` ships them (read at run time,
not copied): the English name is the source, the name in the target locale the reference.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from audit.errors import AuditError, unknown_name
from audit.gates import MetricSpec, Threshold
from audit.results import Case, Chart, Metric, ProbeResult, case_id, case_values
from audit.stats import too_few, wilson_interval
from probes.base import Probe, param, register_probe
from probes.heads.common import chrf, chrf_ci, identifiable_languages, identify, rounded, translation_targets

KINDS = ("territories", "languages")


def cldr_pairs(target: str, kinds: list[str], limit: int, seed: int) -> list[dict[str, str]]:
    """(English name, target-language name) of CLDR territories/languages that both locales name and that differ."""
    from babel import Locale, UnknownLocaleError

    try:
        tgt = Locale.parse(target)
    except (UnknownLocaleError, ValueError):
        raise AuditError(f"babel has no CLDR locale {target!r}; use an ISO 639 code such as de, fr or sw") from None
    en = Locale("en")
    items = []
    for kind in kinds:
        src_names, tgt_names = getattr(en, kind), getattr(tgt, kind)
        codes = sorted(c for c in src_names if c in tgt_names and c.isalpha() and (kind == "languages" or c.isupper())
                       and "_" not in c and src_names[c] != tgt_names[c])
        items += [{"kind": kind, "code": c, "source": src_names[c], "reference": tgt_names[c]} for c in codes]
    rng = np.random.default_rng(seed)
    if len(items) > limit:
        items = [items[i] for i in sorted(rng.choice(len(items), limit, replace=False))]
    return items


@register_probe
class TranslationQualityProbe(Probe):
    name = "multilingual.translation_quality"
    suite = "multilingual"
    title = "Translation quality per language pair (CLDR names)"
    requires = frozenset({"generate"})
    card = {
        "what": "Translates English names of countries and languages into each target language and compares them with "
                "CLDR's names in that language (chrF through sacrebleu), and checks the language of the output with a "
                "language identifier.",
        "how_to_read": "chrF (0–100, higher is better) with a bootstrap 95% interval over names. on_target: share of "
                       "outputs that the identifier, asked to choose between English and the target language, puts in "
                       "the target language; copy_rate: share of outputs identical to the English source (untranslated). "
                       "exact_match: share equal to CLDR's name.",
        "sources": ["Popović 2015, chrF: character n-gram F-score for automatic MT evaluation (WMT).",
                    "Post 2018, A Call for Clarity in Reporting BLEU Scores (sacrebleu).",
                    "Unicode CLDR via babel: names of territories and languages.",
                    "Lui & Baldwin 2012, langid.py (py3langid)."],
        "limits": ["Names are one to three words: a hard test for a language identifier, so on_target is a choice between "
                   "two languages only, and the unrestricted top language is reported for all outputs together.",
                   "Many names are cognates or identical across languages (those are dropped); chrF rewards near misses.",
                   "CLDR gives one name; a correct alternative translation scores lower."],
    }
    default_thresholds = (Threshold("on_target", 0.8),)
    metric_specs = (
        MetricSpec("chrf", higher_is_better=True, groups="en-language"),
        MetricSpec("exact_match", higher_is_better=True, groups="en-language"),
        MetricSpec("copy_rate", higher_is_better=False, groups="en-language"),
        MetricSpec("on_target", higher_is_better=True, groups="en-language", proportion=1.0),
    )

    languages: list[str] | None = param(None, "target languages; unset: the model's own pair")
    source_template: str | None = param(None,
                 "prompt around the source text, e.g. 'translate English to German: {text}'")
    kinds: list[str] | None = param(None, "CLDR name sets translated (territories, languages); unset: both")
    max_new_tokens: int = param(16, "longest translation generated, in tokens")
    num_beams: int = param(1, "beam width (1: greedy)")
    max_cases: int | None = param(60, "cap on the sentences run (a seeded sample)")

    def _known(self) -> list[str]:
        from babel import localedata

        return [x for x in localedata.locale_identifiers() if "_" not in x]

    def supports(self, model: Any) -> bool:
        return super().supports(model) and bool(translation_targets(model, self.languages, self.source_template, self._known()))

    def validate(self, model: Any) -> None:
        super().validate(model)
        for k in self.kinds or []:
            if k not in KINDS:
                raise unknown_name("CLDR name kind", k, KINDS)
        if self.languages and "en" in self.languages:
            raise AuditError(f"{self.name}: the source language is English; 'en' cannot be a target")
        if not translation_targets(model, self.languages, self.source_template, self._known()):
            raise AuditError(f"{self.name}: cannot tell which language {model.info.spec} translates into; pass languages, e.g. ['de']")

    def _run(self, model: Any) -> ProbeResult:
        setup = translation_targets(model, self.languages, self.source_template, self._known())
        per_lang = {lang: cldr_pairs(lang, list(self.kinds or KINDS), self.max_cases or 10**9, self.seed) for lang in setup}
        sources = [setup[lang].format(text=it["source"]) for lang, items in per_lang.items() for it in items]
        outputs = model.generate(sources, num_beams=self.num_beams, max_new_tokens=self.max_new_tokens)
        metrics, warnings = [], []
        rows: list[dict[str, Any]] = []
        cases: list[Case] = []
        per_case: dict[str, dict[str, float]] = {}
        pos = 0
        for lang, items in per_lang.items():
            hyp = outputs[pos : pos + len(items)]
            pos += len(items)
            refs = [it["reference"] for it in items]
            n = len(items)
            score = chrf(hyp, refs)
            ci = chrf_ci(hyp, refs, seed=self.seed)
            langs = identify(hyp, among=["en", lang]) if lang in identifiable_languages() else [""] * n
            on = sum(x == lang for x in langs)
            copies = sum(h.strip().lower() == it["source"].lower() for h, it in zip(hyp, items))
            exact = sum(h.strip() == r for h, r in zip(hyp, refs))
            overall = identify([" ".join(hyp)])[0] if any(h.strip() for h in hyp) else ""
            metrics += [
                Metric("chrf", score, ci, higher_is_better=True, n=n, unit="chrF", group=f"en-{lang}",
                       description="corpus chrF against CLDR's name"),
                Metric("exact_match", exact / n, wilson_interval(exact, n), higher_is_better=True, n=n, unit="share", group=f"en-{lang}",
                       description="share of outputs equal to CLDR's name"),
                Metric("copy_rate", copies / n, wilson_interval(copies, n), higher_is_better=False, n=n, unit="share",
                       group=f"en-{lang}", description="share of outputs that copy the English source"),
            ]
            ids = [case_id(it["source"], it["reference"]) for it in items]
            per_case[f"exact_match[en-{lang}]"] = case_values(ids, [h.strip() == r for h, r in zip(hyp, refs)])
            per_case[f"copy_rate[en-{lang}]"] = case_values(ids, [h.strip().lower() == it["source"].lower() for h, it in zip(hyp, items)])
            if lang in identifiable_languages():
                per_case[f"on_target[en-{lang}]"] = case_values(ids, [x == lang for x in langs])
                metrics.append(Metric("on_target", on / n, wilson_interval(on, n), higher_is_better=True, n=n, unit="share",
                                      group=f"en-{lang}", description=f"share of outputs identified as {lang} rather than English"))
            else:
                warnings.append(f"the language identifier does not know {lang!r}; on_target is not measured for en-{lang}")
            rows.append({"pair": f"en-{lang}", "n": n, "chrf": rounded(score, 2), "ci_low": rounded(ci[0], 2),
                         "ci_high": rounded(ci[1], 2), "exact_match": rounded(exact / n), "copy_rate": rounded(copies / n),
                         "on_target": rounded(on / n) if lang in identifiable_languages() else None, "identified_overall": overall})
            if too_few(n):
                warnings.append(f"only {n} names for en-{lang}: too few to conclude")
            for h, it, lg in zip(hyp, items, langs):
                if lg != lang and len(cases) < 8:
                    cases.append(Case(setup[lang].format(text=it["source"]), 1.0, f"output {h!r} is not identified as {lang} "
                                      f"(CLDR: {it['reference']!r})", target=h, meta={"pair": f"en-{lang}", "kind": "seq2seq_target"}))
        best = min(rows, key=lambda r: r["chrf"])
        listing = ", ".join(f"{r['pair']} {r['chrf']:.1f}" for r in rows)
        headline = f"chrF on CLDR names: {listing} (lowest: {best['pair']})."
        chart = Chart("bar", "chrF per language pair", "pair", "chrF",
                      [{"label": r["pair"], "value": r["chrf"], "low": r["ci_low"], "high": r["ci_high"]} for r in rows], alt=headline)
        examples = [{"pair": f"en-{lang}", "source": it["source"], "reference": it["reference"], "output": h}
                    for (lang, items), start in zip(per_lang.items(), np.cumsum([0] + [len(v) for v in per_lang.values()]))
                    for it, h in zip(items[:5], outputs[start : start + 5])]
        return ProbeResult(self.name, self.suite, self.title, headline, metrics=tuple(metrics),
                           tables={"by_pair": rows, "examples": examples}, charts=(chart,), cases=tuple(cases), warnings=tuple(warnings),
                           per_case=per_case)

