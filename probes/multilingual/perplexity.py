"""multilingual.perplexity: how surprised the language model is by text in each language.

Masked LMs: pseudo-perplexity per character (each token masked in turn, Salazar et al. 2020). Causal LMs:
bits per byte. Both on the UDHR-derived samples of gflanguages; normalising by characters or bytes rather
than tokens keeps languages comparable across tokenizers that cut them into different numbers of pieces.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from audit.errors import AuditError
from audit.gates import MetricSpec
from audit.results import Case, Chart, Metric, ProbeResult
from probes.base import Probe, param, register_probe
from probes.multilingual import segment
from probes.multilingual.common import case_limit, check_languages, chosen, group_rows, tier_order
from probes.multilingual.languages import ENGLISH, TIER_RULE, Language, millions, registry, script_name

LN2 = math.log(2.0)


def default_panel(max_languages: int | None) -> list[Language]:
    """English, then the most-spoken living language of each script (by speakers), up to ``max_languages``."""
    best: dict[str, Language] = {}
    for lang in registry().values():
        if not lang.sample or lang.historical:
            continue
        if lang.script not in best or lang.speakers > best[lang.script].speakers:
            best[lang.script] = lang
    panel = sorted(best.values(), key=lambda x: -x.speakers)
    english = registry()[ENGLISH]
    panel = [english] + [x for x in panel if x.code != ENGLISH]
    return panel[:max_languages] if max_languages else panel


def excerpt(text: str, max_chars: int) -> str:
    """The first ``max_chars`` characters of the first lines, cut after a whole word (or cluster when unspaced)."""
    flat = " ".join(text.split("\n"))
    if len(flat) <= max_chars:
        return flat
    if segment.is_unspaced(flat):
        return flat[:max_chars]
    cut = flat.rfind(" ", 0, max_chars + 1)
    return flat[: cut if cut > 0 else max_chars]


@register_probe
class PerplexityProbe(Probe):
    name = "multilingual.perplexity"
    cases_drive_cost = False
    suite = "multilingual"
    title = "Language-model surprise per language"
    requires = frozenset({"token_scores"})
    card = {
        "what": "Scores an excerpt of each language's UDHR-derived sample (gflanguages) with the model: causal LMs as bits "
                "per UTF-8 byte (−Σ log₂ P(token | previous tokens) / bytes), masked LMs as pseudo-perplexity per character "
                "(exp(−Σ log P(token | the rest, token masked)) / characters), so languages cut into many pieces are not "
                "flattered or punished by their token counts.",
        "how_to_read": "Lower is better. Compare a language with English in the same run (the 'vs English' column). By "
                       "default the panel is English plus the most-spoken living language of each script, up to "
                       "`max_languages`; pass `languages` for others. Aggregates are means over languages with bootstrap "
                       "95% intervals. Resource tiers: " + TIER_RULE + ".",
        "sources": [
            "Salazar et al. 2020, Masked Language Model Scoring (pseudo-log-likelihood)",
            "Gao et al. 2020, The Pile (bits per byte as a tokenizer-independent measure)",
            "gflanguages (Google Fonts, Apache-2.0): UDHR-derived sample texts",
        ],
        "limits": [
            "One excerpt per language (default 80 characters): no per-language interval; the samples are not parallel, "
            "so differences mix model quality with the excerpt's difficulty.",
            "Scripts differ in bytes per character (Latin 1–2, most Indic 3), which shifts bits per byte between scripts.",
            "A causal model without a BOS or EOS token cannot score the first token; it is then left out.",
            "[UNK] is scored like any other token: a language the tokenizer maps to [UNK] can look easy; read "
            "multilingual.tokenizer's UNK rate alongside.",
        ],
    }
    default_thresholds = ()
    metric_specs = (
        MetricSpec("median_vs_english", higher_is_better=False),
        *(spec for what in ("bits_per_byte", "pseudo_perplexity_per_char") for spec in (  # causal LMs, masked LMs
            MetricSpec(f"max_{what}", higher_is_better=False),
            MetricSpec(f"{what}_by_tier", higher_is_better=False, groups="tier"),
            MetricSpec(what, higher_is_better=False, groups="language (with `languages` given)"),
        )),
    )

    languages: list[str] | None = param(None, "languages measured; unset: a panel of one language per script")
    max_languages: int | None = param(40, "size of the default panel; None: every script")
    max_chars: int = param(80, "characters of sample text per language")

    def shrink(self) -> str | None:
        """Fewer languages in the default panel (English stays) when over the token budget."""
        if self.languages is not None or (self.max_languages is not None and self.max_languages <= 2):
            return None
        old = self.max_languages
        self.max_languages = max(2, (old or 64) // 2)
        return f"max_languages {old} → {self.max_languages}"

    def validate(self, model) -> None:
        super().validate(model)
        if self.max_languages is not None and (not isinstance(self.max_languages, int) or self.max_languages < 1):
            raise AuditError(f"{self.name}: max_languages must be a positive integer or null for all, got {self.max_languages!r}")
        if not isinstance(self.max_chars, int) or self.max_chars < 10:
            raise AuditError(f"{self.name}: max_chars must be an integer of at least 10, got {self.max_chars!r}")
        check_languages(self.name, self.languages)
        for lang in chosen(self.languages) if self.languages is not None else []:
            if not lang.sample:
                raise AuditError(f"{self.name}: {lang.code} has no UDHR sample text to score; drop it from `languages`")

    def _run(self, model) -> ProbeResult:
        langs = chosen(self.languages) if self.languages is not None else default_panel(self.max_languages)
        if ENGLISH not in {x.code for x in langs}:
            langs = [registry()[ENGLISH]] + langs
        causal = "next_token" in model.capabilities
        texts = fit(model, [excerpt(x.sample, self.max_chars) for x in langs], causal)
        scores = model.token_scores(texts)
        rows: list[dict[str, Any]] = []
        for lang, text, s in zip(langs, texts, scores):
            nats = -float(np.sum(s.logprobs))
            n_bytes, n_chars = len(text.encode("utf-8")), len(text)
            value = nats / LN2 / n_bytes if causal else math.exp(nats / n_chars)
            rows.append({"code": lang.code, "name": lang.name, "script": lang.script, "script_name": script_name(lang.script),
                         "tier": lang.tier, "speakers": lang.speakers, "chars": n_chars, "bytes": n_bytes,
                         "tokens_scored": len(s.logprobs), "value": round(value, 4), "text": text})
        english = next(r for r in rows if r["code"] == ENGLISH)
        for r in rows:
            r["vs_english"] = round(r["value"] / english["value"], 4) if english["value"] > 0 else None
        return self._result(rows, causal, texts)

    def _result(self, rows: list[dict[str, Any]], causal: bool, texts: list[str]) -> ProbeResult:
        what = "bits_per_byte" if causal else "pseudo_perplexity_per_char"
        label = "bits per byte" if causal else "pseudo-perplexity per character"
        for r in rows:
            r[what] = r.pop("value")
        metrics = []
        others = [r for r in rows if r["code"] != ENGLISH]
        english = next(r for r in rows if r["code"] == ENGLISH)
        if others:
            worst = max(others, key=lambda r: r[what])
            metrics.append(Metric(f"max_{what}", worst[what], higher_is_better=False, n=worst["tokens_scored"], unit=label,
                                  description=f"highest {label} ({worst['name']}); English {english[what]:.3f}"))
            ratios = np.array([r["vs_english"] for r in others if r["vs_english"] is not None])
            if ratios.size:
                from audit.stats import bootstrap_ci

                metrics.append(Metric("median_vs_english", float(np.median(ratios)), bootstrap_ci(ratios, np.median, seed=self.seed),
                                      higher_is_better=False, n=int(ratios.size), unit="× English",
                                      description=f"median of each language's {label} divided by English's"))
        by_tier = sorted(group_rows(rows, "tier", (what, "vs_english"), self.seed), key=lambda r: tier_order(r["tier"]))
        for t in by_tier:
            metrics.append(Metric(f"{what}_by_tier", t[what], (t[f"{what}_low"], t[f"{what}_high"]), higher_is_better=False,
                                  n=t["languages"], unit=label, group=t["tier"], description=f"mean {label}, {t['tier']}-resource languages"))
        if self.languages is not None:
            for r in rows:
                metrics.append(Metric(what, r[what], higher_is_better=False, n=r["tokens_scored"], unit=label, group=r["code"],
                                      description=f"{label}, {r['name']}"))
        worst3 = sorted(others, key=lambda r: -r[what])[:3]
        headline = f"English scores {english[what]:.2f} {label}."
        if worst3:
            named = ", ".join(f"{r['name']} ({r[what]:.2f}, {r['vs_english']:.1f}× English)" for r in worst3)
            headline = f"Per {'byte' if causal else 'character'} of UDHR text the model is most surprised by {named}; " + headline
        ordered = sorted(rows, key=lambda r: -r[what])
        charts = (Chart("bar", f"{label[0].upper() + label[1:]} by language", "language", label,
                        [{"label": f"{r['name']} ({r['code']})", "value": r[what]} for r in ordered], alt=headline),)
        cases = tuple(Case(text=r["text"], score=float(r[what]), pair=english["text"],
                           reason=f"{r['name']} ({millions(r['speakers'])} speakers): {r[what]:.2f} {label}, "
                                  f"{r['vs_english']:.1f}× English",
                           meta={"language": r["code"], "script": r["script"], "tier": r["tier"]})
                      for r in ordered if r["code"] != ENGLISH)[: case_limit(self.max_cases)]
        warnings = []
        short = [r for r in rows if r["tokens_scored"] < 5]
        if short:
            warnings.append(f"{len(short)} languages have fewer than 5 scored tokens (too little text to read much into): "
                            + ", ".join(r["code"] for r in short))
        return ProbeResult(self.name, self.suite, self.title, headline, metrics=tuple(metrics),
                           tables={"languages": [{k: v for k, v in r.items() if k != "text"} for r in rows], "by_tier": by_tier},
                           charts=charts, cases=cases, warnings=tuple(warnings))


def fit(model, texts: list[str], causal: bool) -> list[str]:
    """Cut each text where its tokens would pass the model's length limit, so every scored character is counted."""
    prefix, suffix = model.engine.special_frame()
    room = model.max_length - (1 if causal else len(prefix) + len(suffix))
    enc = model.tokenizer(texts, add_special_tokens=False, return_offsets_mapping=True, verbose=False)
    out = []
    for text, offsets in zip(texts, enc["offset_mapping"]):
        out.append(text if len(offsets) <= room else text[: offsets[room - 1][1]])
    return out
