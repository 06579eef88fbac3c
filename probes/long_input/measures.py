"""Figures shared by the long-input probes: proportions with intervals, effective length, silent truncation."""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from audit.stats import bootstrap_ci, wilson_interval


def proportion(hits: Iterable[bool | float]) -> dict[str, Any]:
    """Share of hits with a Wilson interval; fractional hits (shared credit for ties) are summed and rounded."""
    x = np.asarray(list(hits), dtype=float)
    n = int(x.size)
    if n == 0:
        return {"value": None, "low": None, "high": None, "n": 0}
    low, high = wilson_interval(int(round(x.sum())), n)
    return {"value": float(x.mean()), "low": low, "high": high, "n": n}


def mean_with_ci(values: Sequence[float] | np.ndarray, seed: int) -> dict[str, Any]:
    """Mean with a percentile-bootstrap interval."""
    x = np.asarray(values, dtype=float)
    if x.size == 0:
        return {"value": None, "low": None, "high": None, "n": 0}
    low, high = bootstrap_ci(x, seed=seed)
    return {"value": float(x.mean()), "low": low, "high": high, "n": int(x.size)}


def effective_length(cells: dict[tuple[int, float], float], lengths: Sequence[int], level: float) -> int | None:
    """The longest length up to which the score stays >= ``level`` at every depth (None when even the
    shortest length falls below it)."""
    best = None
    for length in sorted(lengths):
        scores = [v for (n, _), v in cells.items() if n == length]
        if not scores or min(scores) < level:
            break
        best = length
    return best


def truncation_rows(lengths: Sequence[int], tokens: dict[int, list[int]], limit: int) -> list[dict[str, Any]]:
    """Where the cut-off falls and what share of the input the model never sees, per length."""
    rows = []
    for length in lengths:
        fed = float(np.mean(tokens[length]))
        rows.append({
            "length": length,
            "tokens": round(fed, 1),
            "cut_off_token": limit if fed > limit else None,
            "cut_off_share": round(limit / fed, 4) if fed > limit else None,
            "share_dropped": round(max(0.0, 1.0 - limit / fed), 4),
            "truncated": fed > limit,
        })
    return rows
