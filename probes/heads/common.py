"""What the QA and seq2seq probes share: the translation set-up of a model, language identification,
chrF, and small statistics on paired samples."""
from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import numpy as np

from audit.errors import AuditError
from audit.stats import bootstrap_ci, paired_permutation_test

T5_PREFIX = re.compile(r"translation_en_to_([a-z]{2,3})$")
NAME_PAIR = re.compile(r"(?:^|[-_/.\s])en[-_]([a-z]{2,3})(?:$|[-_/.\s])")


def translation_targets(model: Any, languages: Sequence[str] | None, source_template: str | None,
                        known: Sequence[str]) -> dict[str, str]:
    """Target language → source template ("{text}" marks the English sentence) for an en→X model.

    Languages come from ``languages``, else from the config's T5 ``task_specific_params``
    (``translation_en_to_de`` with its prefix), else from an opus-mt-style name (``…-en-de``).
    An empty result means the probe cannot tell what the model translates into.
    """
    params = getattr(getattr(model, "model", None), "config", None)
    specific = dict(getattr(params, "task_specific_params", None) or {})
    prefixes = {m.group(1): str(v.get("prefix", "")) for k, v in specific.items() if (m := T5_PREFIX.match(k))}
    if languages:
        unknown = [lang for lang in languages if lang not in known]
        if unknown:
            from audit.errors import unknown_name

            raise unknown_name("target language", unknown[0], known)
        chosen = list(languages)
    else:
        chosen = [lang for lang in prefixes if lang in known]
        if not chosen:
            name = f"{model.info.spec} {model.info.path}".lower()
            chosen = [m.group(1) for m in NAME_PAIR.finditer(name) if m.group(1) in known][:1]
    if source_template is not None and "{text}" not in source_template:
        raise AuditError(f"source_template {source_template!r} has no {{text}} slot; write e.g. 'translate English to German: {{text}}'")
    return {lang: source_template or (prefixes.get(lang, "") + "{text}") for lang in dict.fromkeys(chosen)}


@lru_cache(maxsize=1)
def _identifier() -> Any:
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    return LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)


def identifiable_languages() -> set[str]:
    """ISO codes the language identifier (py3langid) knows."""
    return set(_identifier().nb_classes)


def identify(texts: Sequence[str], among: Sequence[str] | None = None) -> list[str]:
    """ISO 639-1 code of each text by py3langid (Lui & Baldwin 2012), the best of ``among`` when given;
    "" for an empty text."""
    ident = _identifier()
    if among and not set(among) & set(ident.nb_classes):
        raise AuditError(f"the language identifier knows none of {', '.join(among)}")
    out = []
    for t in texts:
        if not t.strip():
            out.append("")
        elif among:
            out.append(next(code for code, _ in ident.rank(t) if code in among))
        else:
            out.append(ident.classify(t)[0])
    return out


def chrf(hypotheses: Sequence[str], references: Sequence[str]) -> float:
    """Corpus chrF (sacrebleu defaults: character 6-grams, beta 2), 0–100."""
    import sacrebleu

    return float(sacrebleu.corpus_chrf(list(hypotheses), [list(references)]).score)


def chrf_ci(hypotheses: Sequence[str], references: Sequence[str], *, seed: int, n_resamples: int = 1000) -> tuple[float, float]:
    """Bootstrap interval of corpus chrF over items.

    Corpus chrF is a function of n-gram statistics summed over sentences, so each sentence's statistics
    are extracted once and resampled — what sacrebleu's own paired bootstrap does.
    """
    from sacrebleu.metrics import CHRF

    metric = CHRF()
    stats = np.asarray(metric._extract_corpus_statistics(list(hypotheses), [list(references)]), dtype=float)
    return bootstrap_ci(np.arange(len(stats)), lambda idx: metric._compute_score_from_stats(list(stats[idx.astype(int)].sum(0))).score,
                        n_resamples=n_resamples, seed=seed)


def paired_difference(a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray, *, seed: int) -> tuple[float, tuple[float, float], float]:
    """Mean of a − b over paired items, its bootstrap interval and the sign-flip permutation p-value."""
    d = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    return float(d.mean()) if d.size else float("nan"), bootstrap_ci(d, seed=seed), paired_permutation_test(d, seed=seed)


def rounded(x: float | None, digits: int = 4) -> float | None:
    if x is None or not np.isfinite(float(x)):
        return None
    return round(float(x), digits)
