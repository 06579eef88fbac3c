"""Slices where the model fails: a search beyond the declared groups, with false-discovery control.

Candidate slices: every crossing of two group columns, text-length quartiles (words), the presence of each
identity group's terms from the bias lexicon (names included), and each detected language (py3langid) when
the data has more than one. Each slice with at least ``min_size`` rows (and as many outside it) is tested
for lower accuracy than the rest of the data (one-sided Fisher exact test). The slices overlap and their
tests are dependent, so the q-values are Benjamini–Yekutieli's, which control the false-discovery rate under
any dependence (Benjamini & Yekutieli 2001); Benjamini–Hochberg assumes positive dependence a search does
not guarantee. On data where correctness does not depend on anything (shuffled labels), all nulls are true
and a discovery happens in at most ``alpha`` of datasets.
"""
from __future__ import annotations

import itertools
import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from audit.stats import wilson_interval
from probes.bias.lexicon import Lexicon

ARTICLES = re.compile(r"^(a|an|the|this|that|these|those|some|my|your|our|their|his|her)\s+", re.IGNORECASE)


def term_patterns(lex: Lexicon) -> dict[str, dict[str, re.Pattern[str]]]:
    """Per axis and group, a whole-word pattern of its terms (person/people forms, leading determiner
    dropped: "my mother" matches "mother"); the pronouns are left out as they are shared across groups."""
    out: dict[str, dict[str, re.Pattern[str]]] = {}
    for axis in lex.axes.values():
        for group in axis.groups:
            words = {ARTICLES.sub("", t.forms[f]).strip().lower() for t in group.terms for f in ("person", "people") if f in t.forms}
            words = {w for w in words if w}
            if words:
                alt = "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True))
                out.setdefault(axis.name, {})[group.name] = re.compile(rf"\b(?:{alt})\b", re.IGNORECASE)
    return out


def infer_groups(texts: Sequence[str], patterns: Mapping[str, re.Pattern[str]]) -> list[str | None]:
    """The one group whose terms a text mentions; None when it mentions none or several (ambiguous)."""
    out: list[str | None] = []
    for t in texts:
        hits = [g for g, p in patterns.items() if p.search(t)]
        out.append(hits[0] if len(hits) == 1 else None)
    return out


def candidates(texts: Sequence[str], groups: Mapping[str, Sequence[str | None]], lex: Lexicon | None,
               languages: Sequence[str] | None) -> list[tuple[str, str, np.ndarray]]:
    """(kind, name, mask) of every candidate slice."""
    out: list[tuple[str, str, np.ndarray]] = []
    cols = {c: np.array([v if v is not None else "" for v in vals], dtype=object) for c, vals in groups.items()}
    for a, b in itertools.combinations(sorted(cols), 2):
        for va, vb in sorted({(x, y) for x, y in zip(cols[a], cols[b]) if x and y}):
            out.append(("crossing", f"{a}={va} & {b}={vb}", (cols[a] == va) & (cols[b] == vb)))
    words = np.array([len(t.split()) for t in texts])
    edges = np.unique(np.quantile(words, [0.25, 0.5, 0.75]))
    bins = np.searchsorted(edges, words, side="left")
    for k in np.unique(bins):
        lo = int(words[bins == k].min())
        hi = int(words[bins == k].max())
        out.append(("length", f"{lo} words" if lo == hi else f"{lo}–{hi} words", bins == k))
    if lex is not None:
        for axis, pats in term_patterns(lex).items():
            for group, pat in pats.items():
                out.append(("identity terms", f"{axis}: mentions {group}", np.array([bool(pat.search(t)) for t in texts])))
    if languages is not None and len(set(languages)) > 1:
        lang = np.array(languages, dtype=object)
        for code in sorted(set(languages) - {""}):
            out.append(("language", f"detected language {code}", lang == code))
    return out


def search(correct: np.ndarray, slices: list[tuple[str, str, np.ndarray]], *, min_size: int, alpha: float) -> list[dict[str, Any]]:
    """One row per tested slice, worst first: n, accuracy and its Wilson interval, accuracy of the rest,
    the one-sided Fisher p-value (slice worse than the rest) and the Benjamini–Yekutieli q-value."""
    from scipy import stats as st  # imported here: 0.7 s a cached re-run skips

    rows: list[dict[str, Any]] = []
    n_all, hits_all = len(correct), int(correct.sum())
    seen: set[bytes] = set()
    for kind, name, mask in slices:
        n = int(mask.sum())
        key = np.packbits(mask).tobytes()
        if n < min_size or n_all - n < min_size or key in seen:  # too small, nearly everything, or a duplicate
            continue
        seen.add(key)
        hits = int(correct[mask].sum())
        rest_n, rest_hits = n_all - n, hits_all - hits
        p = float(st.fisher_exact([[hits, n - hits], [rest_hits, rest_n - rest_hits]], alternative="less")[1])
        lo, hi = wilson_interval(hits, n)
        rows.append({"kind": kind, "slice": name, "n": n, "accuracy": hits / n, "ci_low": lo, "ci_high": hi,
                     "accuracy_rest": rest_hits / rest_n, "gap": rest_hits / rest_n - hits / n, "p": p})
    if rows:
        qs = st.false_discovery_control([r["p"] for r in rows], method="by")
        for r, q in zip(rows, qs):
            r["q"] = float(q)
            r["significant"] = bool(q < alpha)
    rows.sort(key=lambda r: (r["q"], -r["gap"]))
    return rows
