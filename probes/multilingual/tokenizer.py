"""multilingual.tokenizer: how well the tokenizer serves every language the installed packages hold text for.

Needs only the tokenizer, so it runs for every model head. Per language: fertility, continued words, UNK
rate, byte-fallback rate, characters lost or changed by normalisation, exemplar-character coverage of the
script, and the tokenization premium against English on parallel CLDR names; aggregated by script, by
resource tier and by speakers.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from audit.errors import AuditError
from audit.gates import MetricSpec
from audit.results import Case, Chart, Metric, ProbeResult
from audit.stats import bootstrap_ci, wilson_interval
from probes.base import Probe, param, register_probe
from probes.multilingual import coverage, segment
from probes.multilingual.common import case_limit, check_languages, chosen, group_rows, speakers_of, tier_order
from probes.multilingual.languages import (
    SPEAKERS_NOTE,
    TIER_RULE,
    Language,
    frequent_words,
    millions,
    parallel_names,
    registry,
    script_name,
)

PREMIUM_POOR = 2.0
"""A language whose text costs more than this many times English in tokens is served poorly."""
MOSTLY_UNK = 0.5
"""A language with more than this share of words containing [UNK] is 'mostly [UNK]'."""
MIN_PARALLEL = 10
"""Fewer parallel CLDR names than this: the premium is reported as measured on too little text."""
CHART_TOP = 50


@register_probe
class TokenizerCoverageProbe(Probe):
    name = "multilingual.tokenizer"
    metric_specs = (
        MetricSpec("max_premium", higher_is_better=False), MetricSpec("median_premium", higher_is_better=False),
        MetricSpec("speakers_over_2x", higher_is_better=False), MetricSpec("max_unk_rate", higher_is_better=False),
        MetricSpec("languages_mostly_unk", higher_is_better=False),
        MetricSpec("speaker_weighted_unk_rate", higher_is_better=False),
        MetricSpec("mean_exemplar_coverage", higher_is_better=True),
        MetricSpec("unk_rate_by_tier", higher_is_better=False, groups="resource tier"),
        MetricSpec("premium_by_tier", higher_is_better=False, groups="resource tier"),
        MetricSpec("unk_rate", higher_is_better=False, groups="language"),
        MetricSpec("premium", higher_is_better=False, groups="language"),
    )
    tokenizer_only = True
    suite = "multilingual"
    title = "Tokenizer coverage across languages"
    requires = frozenset()
    card = {
        "what": "How well the tokenizer serves each of the 700+ languages (in about 160 scripts) for which the installed "
                "packages hold text: gflanguages' samples of the Universal Declaration of Human Rights, CLDR's names of "
                "languages and territories (babel), wordfreq's frequent words. Per language: fertility (subwords per word, "
                "each word tokenised on its own), the share of words split into two or more pieces, the UNK rate (share of "
                "words containing [UNK]), the byte-fallback rate (share of tokens that are byte pieces: SentencePiece <0xNN> "
                "tokens, or byte-level BPE tokens that are not whole characters), the share of characters the normalizer "
                "removes or changes (beyond lower-casing), the share of the script's exemplar characters the vocabulary "
                "covers, and the tokenization premium: tokens for the language's CLDR names divided by tokens for the same "
                "names in English, without special tokens (Petrov et al. 2023).",
        "how_to_read": "A premium of 3 means the same content costs three times as many tokens as in English: less fits in "
                       "the context window and each token carries less. An UNK rate near 1 means the model sees almost "
                       "nothing of that language. Premiums carry delta-method 95% intervals of the ratio of token sums over "
                       "the parallel names; UNK rates Wilson intervals over words (words of one text are not independent, "
                       "so these intervals are optimistic). Aggregates are means over languages with bootstrap intervals; "
                       "speaker counts (gflanguages) count each ISO language once. Words are whitespace-separated runs "
                       "with edge punctuation removed; for text written without spaces (more than 12 letters per run: "
                       "Han, Kana, Thai, Lao, Khmer, Burmese, Tibetan, ...) the unit is the grapheme cluster (a base "
                       "character with its marks), so fertility there is per cluster and not comparable with words. "
                       "Resource tiers: " + TIER_RULE + ".",
        "sources": [
            "Rust et al. 2021, How Good is Your Tokenizer? (fertility, proportion of continued words)",
            "Petrov et al. 2023, Language Model Tokenizers Introduce Unfairness Between Languages (premium)",
            "Joshi et al. 2020, The State and Fate of Linguistic Diversity and Inclusion in the NLP World (resource classes)",
            "gflanguages (Google Fonts, Apache-2.0): UDHR-derived sample texts, populations, exemplar characters",
            "Unicode CLDR via babel: language and territory names in ~300 locales (own entries only, not inherited)",
            "wordfreq (Speer 2022): frequent-word lists for 42 languages",
        ],
        "limits": [
            "UDHR samples are short (tens to hundreds of words) and formal; they are not parallel across languages, so the "
            "premium uses CLDR names only (about 330 languages); other languages get fertility and UNK rates but no premium.",
            "CLDR names are short noun phrases: premiums on running text can differ.",
            SPEAKERS_NOTE + ".",
            "Tiers are proxies from data availability, not Joshi et al.'s published classes.",
        ],
    }
    default_thresholds = ()

    languages: list[str] | None = param(None, "languages measured; unset: every language with sample text")
    min_words: int = param(20, "fewest words of sample text a language needs")
    frequent_words: int = param(1000, "most frequent words per language checked for splitting (0: none)")

    def validate(self, model) -> None:
        super().validate(model)
        if not isinstance(self.min_words, int) or self.min_words < 1:
            raise AuditError(f"{self.name}: min_words must be a positive integer, got {self.min_words!r}")
        if not isinstance(self.frequent_words, int) or self.frequent_words < 0:
            raise AuditError(f"{self.name}: frequent_words must be 0 or more, got {self.frequent_words!r}")
        if getattr(model, "tokenizer", None) is None or not getattr(model.tokenizer, "is_fast", False):
            raise AuditError(f"{self.name}: needs a fast tokenizer (tokenizer.json); convert it with the tokenizers library")
        check_languages(self.name, self.languages)

    def _run(self, model) -> ProbeResult:
        return self.measure(model.tokenizer)

    def measure(self, tokenizer: Any) -> ProbeResult:
        """The whole probe on a bare tokenizer (the model is not needed)."""
        langs = chosen(self.languages)
        facts = coverage.inspect_tokenizer(tokenizer)
        rows = language_table(facts, langs, min_words=self.min_words, frequent=self.frequent_words)
        return self._result(rows, facts)

    # ---- result -----------------------------------------------------------------------------------
    def _result(self, rows: list[dict[str, Any]], facts: coverage.TokenizerFacts) -> ProbeResult:
        enough = [r for r in rows if r["status"] == "ok"]
        with_premium = [r for r in enough if r["premium"] is not None and r["parallel_items"] >= MIN_PARALLEL
                        and r["premium_unk"] <= MOSTLY_UNK]
        metrics: list[Metric] = []
        warnings: list[str] = []
        poor_premium = [r for r in with_premium if r["premium"] > PREMIUM_POOR]
        mostly_unk = [r for r in enough if r["unk_rate"] > MOSTLY_UNK]
        if with_premium:
            worst = max(with_premium, key=lambda r: r["premium"])
            metrics.append(Metric("max_premium", worst["premium"], (worst["premium_low"], worst["premium_high"]),
                                  higher_is_better=False, n=worst["parallel_items"], unit="× English tokens",
                                  description=f"largest tokenization premium over {len(with_premium)} languages "
                                              f"({worst['name']}, {worst['code']})"))
            prem = np.array([r["premium"] for r in with_premium])
            metrics.append(Metric("median_premium", float(np.median(prem)), bootstrap_ci(prem, np.median, seed=self.seed),
                                  higher_is_better=False, n=len(prem), unit="× English tokens",
                                  description="median premium over languages with parallel CLDR names"))
            metrics.append(Metric("speakers_over_2x", speakers_of(poor_premium) / 1e6, higher_is_better=False,
                                  n=len(with_premium), unit="million speakers",
                                  description=f"speakers of languages whose text costs more than {PREMIUM_POOR:g}× English"))
        if enough:
            worst_unk = max(enough, key=lambda r: r["unk_rate"])
            metrics.append(Metric("max_unk_rate", worst_unk["unk_rate"], (worst_unk["unk_low"], worst_unk["unk_high"]),
                                  higher_is_better=False, n=worst_unk["words"], unit="share of words",
                                  description=f"largest UNK rate over {len(enough)} languages ({worst_unk['name']}, {worst_unk['code']})"))
            metrics.append(Metric("languages_mostly_unk", float(len(mostly_unk)), higher_is_better=False, n=len(enough),
                                  unit="languages", description=f"languages with more than {MOSTLY_UNK:.0%} of words containing [UNK]"))
            total = sum(r["speakers"] for r in enough)
            if total > 0:
                weighted = sum(r["unk_rate"] * r["speakers"] for r in enough) / total
                metrics.append(Metric("speaker_weighted_unk_rate", weighted, higher_is_better=False, n=len(enough),
                                      unit="share of words", description="UNK rate averaged over languages, weighted by speakers"))
            cov = [r["exemplar_coverage"] for r in enough if r["exemplar_coverage"] is not None]
            if cov:
                metrics.append(Metric("mean_exemplar_coverage", float(np.mean(cov)), bootstrap_ci(cov, seed=self.seed),
                                      higher_is_better=True, n=len(cov), unit="share of characters",
                                      description="share of a language's exemplar characters the vocabulary covers, mean over languages"))
        valid = {id(r) for r in with_premium}
        agg = [dict(r, premium=r["premium"] if id(r) in valid else None) for r in enough]
        by_tier = sorted(group_rows(agg, "tier", ("fertility", "unk_rate", "premium", "exemplar_coverage"), self.seed),
                         key=lambda r: tier_order(r["tier"]))
        for t in by_tier:
            for col, unit in (("unk_rate", "share of words"), ("premium", "× English tokens")):
                if t[col] is not None:
                    metrics.append(Metric(f"{col}_by_tier", t[col], (t[f"{col}_low"], t[f"{col}_high"]), higher_is_better=False,
                                          n=t["languages"], unit=unit, group=t["tier"],
                                          description=f"mean {col.replace('_', ' ')} of the {t['tier']}-resource languages"))
        by_script = group_rows(agg, "script", ("fertility", "unk_rate", "premium", "exemplar_coverage"), self.seed)
        if self.languages is not None:  # per-language gates for a named list
            for r in rows:
                metrics.append(Metric("unk_rate", r["unk_rate"], (r["unk_low"], r["unk_high"]), higher_is_better=False,
                                      n=r["words"], unit="share of words", group=r["code"], description=f"UNK rate, {r['name']}"))
                if r["premium"] is not None:
                    metrics.append(Metric("premium", r["premium"], (r["premium_low"], r["premium_high"]), higher_is_better=False,
                                          n=r["parallel_items"], unit="× English tokens", group=r["code"],
                                          description=f"tokenization premium, {r['name']}"))
        little = [r for r in rows if r["status"] != "ok"]
        if little:
            named = ", ".join(f"{r['code']} ({r['words']} {r['unit']}s)" for r in little[:12])
            warnings.append(f"{len(little)} languages have too little text (fewer than {self.min_words} words) and are left out of "
                            f"the aggregates but kept in the table: {named}{', …' if len(little) > 12 else ''}")
        short = [r for r in enough if r["premium"] is not None and r["parallel_items"] < MIN_PARALLEL]
        if short:
            warnings.append(f"{len(short)} languages have fewer than {MIN_PARALLEL} parallel CLDR names; their premium is in "
                            f"the table but not in the aggregates: {', '.join(r['code'] for r in short[:12])}")
        unk_names = [r for r in enough if r["premium"] is not None and r["premium_unk"] > MOSTLY_UNK]
        if unk_names:
            warnings.append(f"{len(unk_names)} languages have more than {MOSTLY_UNK:.0%} of their CLDR names containing [UNK]: a "
                            f"whole word becomes one [UNK], so their premium understates the loss and is left out of the "
                            f"premium aggregates (read their UNK rate): {', '.join(r['code'] for r in unk_names[:12])}")
        headline = _headline(enough, with_premium, poor_premium, mostly_unk)
        return ProbeResult(
            self.name, self.suite, self.title, headline, metrics=tuple(metrics),
            tables={"languages": rows, "by_script": by_script, "by_tier": by_tier},
            charts=_charts(with_premium, by_script, enough, headline), cases=self._cases(enough),
            warnings=tuple(warnings),
        )

    def _cases(self, rows: list[dict[str, Any]]) -> tuple[Case, ...]:
        """Samples of the worst-served languages, most-spoken first (for the explanation module)."""
        poor = [r for r in rows if r["unk_rate"] > MOSTLY_UNK or (r["premium"] or 0) > PREMIUM_POOR]
        if not poor:
            poor = sorted(rows, key=lambda r: -((r["premium"] or 0) + r["unk_rate"]))[:3]
        poor.sort(key=lambda r: -r["speakers"])
        out = []
        for r in poor[: case_limit(self.max_cases)]:
            lang = registry()[r["code"]]
            text = " ".join(lang.sample.split("\n")) or " · ".join(v[0] for v in list(parallel_names(lang).values())[:20])
            reason = (f"{r['name']} ({millions(r['speakers'])} speakers): {r['unk_rate']:.0%} of words contain [UNK]"
                      + (f", premium {r['premium']:.2f}× English" if r["premium"] is not None else "")
                      + f", {r['fertility']:.2f} tokens per {r['unit']}")
            by_unk = r["unk_rate"] > MOSTLY_UNK or r["premium"] is None
            out.append(Case(text=text[:300], score=float(r["unk_rate"] if by_unk else r["premium"]), reason=reason,
                            meta={"language": r["code"], "script": r["script"], "tier": r["tier"], "speakers": r["speakers"],
                                  "score_is": "UNK rate" if by_unk else "premium"}))
        return tuple(out)


def language_table(facts: coverage.TokenizerFacts, langs: list[Language], *, min_words: int,
                   frequent: int) -> list[dict[str, Any]]:
    """One row per language; every string is tokenised in a handful of batched calls."""
    units: dict[str, tuple[str, list[str], str]] = {}
    for lang in langs:
        if lang.sample:
            kind, found = segment.units(lang.sample)
            units[lang.code] = (kind, found, "UDHR sample")
        else:
            names = " ".join(v[0] for v in parallel_names(lang).values())
            kind, found = segment.units(names)
            units[lang.code] = (kind, found, "CLDR names")
    tokens_of = _batch_counts(facts, units)

    exemplar_set = sorted({g for lang in langs for g in lang.exemplars})
    ex_counts = coverage.count(facts, exemplar_set)
    ex_lost, _ = coverage.normalizer_effects(facts.tokenizer, exemplar_set)
    ex_ok = dict(zip(exemplar_set, (ex_counts.tokens > 0) & ~ex_counts.unk & (ex_counts.byte_pieces == 0) & ~ex_lost))

    char_set = sorted({c for lang in langs for c in (lang.sample or "") if not c.isspace()})
    lost, changed = coverage.normalizer_effects(facts.tokenizer, char_set)
    lost_of, changed_of = dict(zip(char_set, lost)), dict(zip(char_set, changed))

    premium = _premiums(facts, langs)
    freq = _frequent_fertility(facts, langs, frequent)
    rows = []
    for lang in langs:
        kind, found, source = units[lang.code]
        n_tok, unk, byte = tokens_of(kind, found)
        n = len(found)
        chars = [c for c in lang.sample if not c.isspace()]
        unk_lo, unk_hi = wilson_interval(int(unk.sum()), n) if n else (math.nan, math.nan)
        fert, fert_lo, fert_hi = coverage.mean_ci(n_tok)
        prem = premium.get(lang.code)
        ex = [bool(ex_ok[g]) for g in lang.exemplars]
        rows.append({
            "code": lang.code, "name": lang.name, "script": lang.script, "script_name": script_name(lang.script),
            "tier": lang.tier, "speakers": lang.speakers, "source": source, "unit": kind, "words": n,
            "fertility": _r(fert), "fertility_low": _r(fert_lo), "fertility_high": _r(fert_hi),
            "continued": _r(float((n_tok >= 2).mean())) if n else None,
            "unk_rate": _r(float(unk.mean())) if n else 0.0, "unk_low": _r(unk_lo), "unk_high": _r(unk_hi),
            "byte_rate": _r(float(byte.sum() / max(1, n_tok.sum()))) if n else None,
            "chars_lost": _r(float(np.mean([lost_of[c] for c in chars]))) if chars else None,
            "chars_changed": _r(float(np.mean([changed_of[c] for c in chars]))) if chars else None,
            "exemplar_coverage": _r(float(np.mean(ex))) if ex else None, "exemplars": len(ex),
            "premium": _r(prem[0]) if prem else None, "premium_low": _r(prem[1]) if prem else None,
            "premium_high": _r(prem[2]) if prem else None, "parallel_items": prem[3] if prem else 0,
            "premium_unk": _r(prem[4]) if prem else None,
            "frequent_word_fertility": _r(freq[lang.code]) if lang.code in freq else None,
            "status": "ok" if n >= min_words else f"too little text: {n} {kind}s (need {min_words})",
        })
    return rows


def _r(x: float | None) -> float | None:
    return None if x is None or not math.isfinite(x) else round(float(x), 4)


def _batch_counts(facts: coverage.TokenizerFacts, units: dict[str, tuple[str, list[str], str]]):
    """Tokenise every distinct word (and every distinct cluster) of all languages in one call each."""
    tables: dict[str, tuple[dict[str, int], coverage.Counts]] = {}
    for kind in ("word", "cluster"):
        distinct = sorted({u for k, found, _ in units.values() if k == kind for u in found})
        tables[kind] = ({u: i for i, u in enumerate(distinct)}, coverage.count(facts, distinct, word_prefix=kind == "word"))

    def lookup(kind: str, found: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        index, counts = tables[kind]
        idx = np.fromiter((index[u] for u in found), dtype=np.int64, count=len(found))
        return counts.tokens[idx], counts.unk[idx], counts.byte_pieces[idx]

    return lookup


def _premiums(facts: coverage.TokenizerFacts, langs: list[Language]) -> dict[str, tuple[float, float, float, int, float]]:
    """code → (premium, low, high, items, share of the language's names containing [UNK]) on the names it shares
    with English."""
    pairs = {lang.code: parallel_names(lang) for lang in langs if lang.cldr_locale}
    distinct = sorted({s for p in pairs.values() for both in p.values() for s in both})
    counts = coverage.count(facts, distinct)
    tokens = dict(zip(distinct, counts.tokens.tolist()))
    unk = dict(zip(distinct, counts.unk.tolist()))
    out = {}
    for code, p in pairs.items():
        if not p:
            continue
        x = np.array([tokens[a] for a, _ in p.values()], dtype=float)
        y = np.array([tokens[b] for _, b in p.values()], dtype=float)
        r, lo, hi = coverage.ratio_ci(x, y)
        if math.isfinite(r):
            out[code] = (r, lo, hi, len(p), float(np.mean([unk[a] for a, _ in p.values()])))
    return out


def _frequent_fertility(facts: coverage.TokenizerFacts, langs: list[Language], n: int) -> dict[str, float]:
    """Frequency-weighted tokens per word over wordfreq's ``n`` most frequent words (running-text estimate)."""
    lists = {lang.code: frequent_words(lang.code, n) for lang in langs if lang.wordfreq and n > 0}
    distinct = sorted({w for words, _ in lists.values() for w in words})
    counts = coverage.count(facts, distinct, word_prefix=True)
    tokens = dict(zip(distinct, counts.tokens.tolist()))
    out = {}
    for code, (words, freqs) in lists.items():
        if words:
            f = np.asarray(freqs)
            out[code] = float(np.dot([tokens[w] for w in words], f) / f.sum())
    return out


def _headline(rows: list[dict[str, Any]], with_premium: list[dict[str, Any]], poor: list[dict[str, Any]],
              mostly_unk: list[dict[str, Any]]) -> str:
    parts = []
    if mostly_unk:
        top = ", ".join(r["name"] for r in sorted(mostly_unk, key=lambda r: -r["speakers"])[:3])
        parts.append(f"{len(mostly_unk)} of {len(rows)} languages ({millions(speakers_of(mostly_unk))} speakers, e.g. {top}) "
                     f"are mostly [UNK] to this tokenizer")
    else:
        parts.append(f"none of {len(rows)} languages is mostly [UNK] to this tokenizer")
    if with_premium:
        worst = sorted(poor, key=lambda r: -r["premium"])[:3]
        if poor:
            parts.append(f"text in {len(poor)} of {len(with_premium)} languages with parallel names "
                         f"({millions(speakers_of(poor))} speakers) costs more than {PREMIUM_POOR:g}× English in tokens "
                         f"(worst: {', '.join(_premium_text(r) for r in worst)})")
        else:
            parts.append(f"no language with parallel names costs more than {PREMIUM_POOR:g}× English in tokens")
    text = "; ".join(parts)
    return text[0].upper() + text[1:] + "."


def _premium_text(row: dict[str, Any]) -> str:
    return f"{row['name']} {row['premium']:.1f}×"


def _charts(with_premium: list[dict[str, Any]], by_script: list[dict[str, Any]], rows: list[dict[str, Any]],
            headline: str) -> tuple[Chart, ...]:
    charts = []
    if with_premium:
        top = sorted(with_premium, key=lambda r: -r["premium"])[:CHART_TOP]
        charts.append(Chart("bar", f"Tokenization premium against English ({len(top)} highest of {len(with_premium)} languages)",
                            "language", "tokens per English token",
                            [{"label": f"{r['name']} ({r['code']})", "value": r["premium"], "low": r["premium_low"],
                              "high": r["premium_high"]} for r in top], alt=headline))
    scripts = sorted((s for s in by_script if s["exemplar_coverage"] is not None), key=lambda s: -s["exemplar_coverage"])
    if scripts:
        charts.append(Chart("bar", "Exemplar-character coverage by script (mean over its languages)", "script",
                            "share of exemplar characters covered",
                            [{"label": f"{s['script_name']} ({s['script']})", "value": s["exemplar_coverage"],
                              "low": s["exemplar_coverage_low"], "high": s["exemplar_coverage_high"]} for s in scripts],
                            alt=f"{sum(1 for s in scripts if s['exemplar_coverage'] < 0.5)} of {len(scripts)} scripts have less "
                                f"than half of their exemplar characters covered"))
    points = [r for r in rows if r["exemplar_coverage"] is not None and r["speakers"] > 0]
    if points:
        charts.append(Chart("scatter", "Coverage against speakers", "speakers (log10)", "share of exemplar characters covered",
                            [{"series": r["tier"], "x": round(math.log10(r["speakers"]), 3), "y": r["exemplar_coverage"],
                              "label": r["name"]} for r in points],
                            alt="each point a language; series are resource tiers"))
    return tuple(charts)
