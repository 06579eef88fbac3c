"""Shared by the multilingual probes: choosing languages, the parallel CLDR items, summaries by group."""
from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from audit.errors import AuditError
from audit.stats import bootstrap_ci
from probes.multilingual.languages import ENGLISH, Language, parallel_names, registry, resolve, script_name

CASES = 8
"""Cases worth explaining per probe when ``max_cases`` is not given."""


def case_limit(max_cases: int | None) -> int:
    """How many cases a probe hands to the explanation module."""
    return CASES if max_cases is None else max_cases


def check_languages(probe: str, languages: Sequence[str] | None) -> None:
    """Validate a ``languages`` parameter (AuditError for a bad type, an unknown code or a language without text)."""
    if languages is None:
        return
    if isinstance(languages, str) or not all(isinstance(c, str) for c in languages):
        raise AuditError(f"{probe}: `languages` must be a list of language codes such as ['yo', 'sr_Latn'], got {languages!r}")
    if not languages:
        raise AuditError(f"{probe}: `languages` is empty; name at least one language or leave it unset for all")
    resolve(list(languages))


def chosen(languages: Sequence[str] | None, keep: Callable[[Language], bool] = lambda lang: True) -> list[Language]:
    """The named languages (in the order given), or every registry language that ``keep`` accepts."""
    if languages is not None:
        return resolve(list(languages))
    return [lang for lang in registry().values() if keep(lang)]


def parallel_items(langs: list[Language], n_items: int, seed: int) -> tuple[list[str], dict[str, dict[str, str]]]:
    """A fixed set of CLDR keys for a cross-language comparison, and each language's own text for them.

    Keys are drawn (with ``seed``) from the English names that at least 70% of the locales state themselves,
    so that every language is asked about the same items. A key whose text repeats within a language
    (two names spelled alike) is left out for that language: it would make the item ambiguous.
    """
    english = registry()[ENGLISH]
    eng = {k: v[1] for k, v in parallel_names(english).items()}
    eng_unique = _unique(eng)
    with_cldr = [lang for lang in registry().values() if lang.cldr_locale and lang.code != ENGLISH]
    counts: dict[str, int] = {}
    for lang in with_cldr:
        for k in parallel_names(lang):
            counts[k] = counts.get(k, 0) + 1
    common = sorted(k for k in eng_unique if counts.get(k, 0) >= 0.7 * len(with_cldr))
    keys = sorted(random.Random(seed).sample(common, min(n_items, len(common))))
    texts: dict[str, dict[str, str]] = {}
    for lang in langs:
        own = {k: v[0] for k, v in parallel_names(lang).items() if k in keys} if lang.code != ENGLISH else {k: eng[k] for k in keys}
        texts[lang.code] = _unique(own)
    return keys, texts


def _unique(d: dict[str, str]) -> dict[str, str]:
    seen: dict[str, int] = {}
    for v in d.values():
        seen[v] = seen.get(v, 0) + 1
    return {k: v for k, v in d.items() if seen[v] == 1}


def group_rows(rows: list[dict[str, Any]], by: str, columns: Sequence[str], seed: int) -> list[dict[str, Any]]:
    """Mean of each column per group (bootstrap 95% interval over languages), with languages and speakers."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        groups.setdefault(str(r[by]), []).append(r)
    out = []
    for g, members in groups.items():
        row: dict[str, Any] = {by: g, "languages": len(members), "speakers": speakers_of(members)}
        if by == "script":
            row["script_name"] = script_name(g)
        for c in columns:
            vals = np.array([m[c] for m in members if m.get(c) is not None], dtype=float)
            row[c] = round(float(vals.mean()), 4) if vals.size else None
            lo, hi = bootstrap_ci(vals, seed=seed) if vals.size else (None, None)
            row[f"{c}_low"] = None if lo is None else round(lo, 4)
            row[f"{c}_high"] = None if hi is None else round(hi, 4)
        out.append(row)
    return sorted(out, key=lambda r: -r["speakers"])


def speakers_of(rows: list[dict[str, Any]]) -> int:
    """Speakers of the languages in ``rows``, each ISO language counted once (at its largest script population:
    gflanguages gives Serbian in Cyrillic and in Latin script each the whole population)."""
    best: dict[str, int] = {}
    for r in rows:
        lang = str(r["code"]).split("_", 1)[0]
        best[lang] = max(best.get(lang, 0), int(r.get("speakers") or 0))
    return sum(best.values())


def tier_order(tier: str) -> int:
    from probes.multilingual.languages import TIERS

    return TIERS.index(tier) if tier in TIERS else len(TIERS)


def halve_items(probe: Any, floor: int) -> str | None:
    """A probe's ``shrink`` over parallel items: half as many per language (not below ``min_items`` nor
    ``floor``); None when nothing is left to cut."""
    new = max(probe.min_items, floor, probe.items // 2)
    if new >= probe.items:
        return None
    old, probe.items = probe.items, new
    return f"items {old} → {new}"
