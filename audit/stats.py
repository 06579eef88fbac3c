"""Statistics helpers: intervals, tests and multiple-comparison control.

Thin, explicit wrappers over SciPy so that every probe reports uncertainty the same way and
degenerate samples (empty, one value, constant) give a defined answer instead of an exception. SciPy's stats
module is imported by the functions that use it (0.7 s): the CLI, gates and reports import this module's
constants at every start.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np

CONFIDENCE = 0.95
MIN_CASES = 10
"""Below this many cases per group a probe warns that it cannot conclude."""


def bootstrap_ci(
    values: Sequence[float] | np.ndarray,
    statistic: Callable[[np.ndarray], float] = np.mean,
    *,
    confidence: float = CONFIDENCE,
    n_resamples: int = 2000,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile bootstrap interval of ``statistic`` over ``values``.

    One value or a constant sample gives the degenerate interval (v, v); an empty one (nan, nan).
    """
    x = np.asarray(values, dtype=float)
    if x.size == 0:
        return (math.nan, math.nan)
    if x.size == 1 or np.all(x == x[0]):
        v = float(statistic(x))
        return (v, v)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, x.size, size=(n_resamples, x.size))
    samples = np.apply_along_axis(statistic, 1, x[idx]) if statistic is not np.mean else x[idx].mean(axis=1)
    alpha = (1.0 - confidence) / 2.0
    low, high = np.quantile(samples, [alpha, 1.0 - alpha])
    return (float(low), float(high))


def wilson_interval(successes: int, n: int, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion (good at small n and near 0 or 1)."""
    if n <= 0:
        return (math.nan, math.nan)
    from scipy import stats as _st

    z = float(_st.norm.ppf(1.0 - (1.0 - confidence) / 2.0))
    p = successes / n
    denom = 1.0 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    low = 0.0 if successes == 0 else max(0.0, centre - half)
    high = 1.0 if successes == n else min(1.0, centre + half)
    return (low, high)


def binomial_test(successes: int, n: int, p: float = 0.5) -> float:
    """Two-sided exact binomial test p-value (1.0 for an empty sample)."""
    if n <= 0:
        return 1.0
    from scipy import stats as _st

    return float(_st.binomtest(successes, n, p).pvalue)


def paired_permutation_test(
    differences: Sequence[float] | np.ndarray, *, n_resamples: int = 10_000, seed: int = 0
) -> float:
    """Two-sided sign-flip permutation test that the mean paired difference is zero.

    Exact (all 2^n sign patterns) when n <= 14, otherwise sampled with the +1 correction.
    All-zero differences give p = 1.
    """
    d = np.asarray(differences, dtype=float)
    d = d[np.isfinite(d)]
    n = d.size
    if n == 0 or np.allclose(d, 0.0, atol=1e-12):
        return 1.0
    observed = abs(d.mean())
    if n <= 14:
        signs = ((np.arange(2**n)[:, None] >> np.arange(n)) & 1) * 2 - 1
        means = np.abs((signs * d).mean(axis=1))
        return float(np.mean(means >= observed - 1e-12))
    rng = np.random.default_rng(seed)
    signs = rng.choice([-1.0, 1.0], size=(n_resamples, n))
    means = np.abs((signs * d).mean(axis=1))
    return float((np.sum(means >= observed - 1e-12) + 1) / (n_resamples + 1))


def wilcoxon_signed_rank(differences: Sequence[float] | np.ndarray) -> float:
    """Two-sided Wilcoxon signed-rank p-value; 1.0 when every difference is zero."""
    d = np.asarray(differences, dtype=float)
    d = d[np.isfinite(d)]
    if d.size == 0 or np.allclose(d, 0.0, atol=1e-12):
        return 1.0
    from scipy import stats as _st

    return float(_st.wilcoxon(d, zero_method="zsplit").pvalue)


def benjamini_hochberg(p_values: Sequence[float]) -> list[float]:
    """Benjamini–Hochberg adjusted p-values (q-values), in the input order."""
    p = np.asarray(p_values, dtype=float)
    if p.size == 0:
        return []
    from scipy import stats as _st

    return [float(q) for q in _st.false_discovery_control(np.clip(p, 0.0, 1.0), method="bh")]


def too_few(n: int, min_n: int = MIN_CASES) -> bool:
    """True when a sample is too small to conclude anything."""
    return n < min_n
