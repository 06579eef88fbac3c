"""Per-group performance and disparity metrics on labelled data, with intervals and tests.

Definitions follow fairlearn (``MetricFrame``, ``demographic_parity_difference`` …, method "between_groups"),
and the tests check our figures against fairlearn's to 1e-12; the arithmetic is our own numpy so that one
pass of counts serves the point estimate, 1,000 bootstrap resamples and 1,000 permutations at once.

For a class c (the positive label of a binary task; each class one-vs-rest for more classes), per group:
selection rate P(ŷ=c), true-positive rate P(ŷ=c | y=c), false-positive rate P(ŷ=c | y≠c). Across the groups:

- demographic_parity_difference = max − min selection rate; demographic_parity_ratio = min / max;
- equal_opportunity_difference = max − min true-positive rate;
- equalized_odds_difference = the larger of the true-positive-rate and false-positive-rate differences;
- worst_group_gap = overall accuracy − the lowest group accuracy (Sagawa et al. 2020's worst-group accuracy,
  as a gap), class-independent.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

DISPARITIES = ("demographic_parity_difference", "demographic_parity_ratio", "equalized_odds_difference",
               "equal_opportunity_difference", "worst_group_gap")
LOWER_IS_WORSE = frozenset({"demographic_parity_ratio"})
"""The one disparity where a smaller value is the larger disparity (1 = parity)."""
_COUNTS = ("n", "sel", "pos", "tp", "fp", "correct")
_CHUNK = 4_000_000
"""Upper bound on resamples × rows drawn at once (memory: a few arrays of this many numbers)."""


@dataclass(frozen=True)
class Disparity:
    """One disparity metric of one group column (and class): value, interval, permutation p-value."""

    name: str
    value: float
    ci: tuple[float, float]
    p_value: float


def indicators(y: np.ndarray, pred: np.ndarray, cls: int) -> np.ndarray:
    """Rows × (1, ŷ=c, y=c, ŷ=c∧y=c, ŷ=c∧y≠c, ŷ=y) as floats: summed per group they are the counts."""
    yp, pp = y == cls, pred == cls
    return np.stack([np.ones(len(y)), pp, yp, pp & yp, pp & ~yp, pred == y], axis=1).astype(np.float64)


def group_counts(x: np.ndarray, rows: np.ndarray, groups: np.ndarray, n_groups: int) -> np.ndarray:
    """Counts (B × groups × 6) for B resamples: ``rows`` (B × m) indexes ``x``, ``groups`` (B × m) the group of each."""
    b = rows.shape[0]
    key = (np.arange(b)[:, None] * n_groups + groups).ravel()
    flat = rows.ravel()
    out = np.empty((b, n_groups, x.shape[1]))
    for j in range(x.shape[1]):
        out[:, :, j] = np.bincount(key, weights=x[flat, j], minlength=b * n_groups).reshape(b, n_groups)
    return out


def disparities(c: np.ndarray) -> dict[str, np.ndarray]:
    """Every disparity from counts (… × groups × 6); groups with no defined rate are left out of max − min."""
    n, sel, pos, tp, fp, correct = (c[..., i] for i in range(6))
    with np.errstate(invalid="ignore", divide="ignore"):
        sel_rate = sel / n
        tpr = tp / pos
        fpr = fp / (n - pos)
        acc = correct / n
        overall = correct.sum(-1) / n.sum(-1)

        def spread(r: np.ndarray) -> np.ndarray:
            return np.nanmax(r, axis=-1) - np.nanmin(r, axis=-1)

        import warnings

        with warnings.catch_warnings():  # an all-NaN row (no positives anywhere) gives NaN, which is the answer
            warnings.simplefilter("ignore", RuntimeWarning)
            top = np.nanmax(sel_rate, axis=-1)
            return {
                "demographic_parity_difference": spread(sel_rate),
                "demographic_parity_ratio": np.where(top > 0, np.nanmin(sel_rate, axis=-1) / np.where(top > 0, top, 1), np.nan),
                "equalized_odds_difference": np.fmax(spread(tpr), spread(fpr)),
                "equal_opportunity_difference": spread(tpr),
                "worst_group_gap": overall - np.nanmin(acc, axis=-1),
            }


def analyse(y: np.ndarray, pred: np.ndarray, g: np.ndarray, cls: int, *, n_resamples: int = 1000,
            confidence: float = 0.95, seed: int = 0) -> list[Disparity]:
    """Disparities between the groups ``g`` (codes 0..G−1, every code present) for class ``cls``.

    Interval: the union of the basic (reverse-percentile) and percentile bootstrap intervals over examples
    resampled within each group (group sizes fixed), clipped to [0, 1]. A max − min is biased upwards, so the
    percentile interval sits above the truth near parity and the basic one corrects its lower end but can cut
    its upper end below the estimate; the union takes the cautious end of each, for either gate mode. Near
    parity the bias remains, so parity (0, or 1 for the ratio) is kept inside the interval whenever the test
    below cannot reject it at the interval's one-sided level (1 − confidence)/2; a gate on the interval then
    fails under parity at most that often.

    Test: the permutation p-value (+1 corrected, one-sided: a disparity at least as large as observed) under
    the null of no disparity — group labels shuffled across all rows for demographic parity and the accuracy
    gap (ŷ, or correctness, independent of the group), within each true class for the odds metrics (ŷ
    independent of the group given y). Resamples and permutations are drawn in chunks to bound memory.
    """
    rng = np.random.default_rng(seed)
    n_groups = int(g.max()) + 1
    x = indicators(y, pred, cls)
    point = disparities(group_counts(x, np.arange(len(y))[None, :], g[None, :], n_groups))
    members = [np.flatnonzero(g == k) for k in range(n_groups)]
    strata = [np.flatnonzero(y == label) for label in np.unique(y)]
    everyone = np.arange(len(y))
    parts: dict[str, list[dict[str, np.ndarray]]] = {"boot": [], "free": [], "within": []}
    step = max(1, _CHUNK // len(y))  # resamples per chunk: bounds memory on large data
    for start in range(0, n_resamples, step):
        b = min(step, n_resamples - start)
        rows = np.concatenate([m[rng.integers(0, len(m), size=(b, len(m)))] for m in members], axis=1)
        parts["boot"].append(disparities(group_counts(x, rows, g[rows], n_groups)))
        # a permutation moves the group labels; every row keeps its outcome
        free = rng.permuted(np.tile(g, (b, 1)), axis=1)
        within = np.tile(g, (b, 1))
        for idx in strata:
            within[:, idx] = rng.permuted(within[:, idx], axis=1)
        rows = np.broadcast_to(everyone, (b, len(y)))
        parts["free"].append(disparities(group_counts(x, rows, free, n_groups)))
        parts["within"].append(disparities(group_counts(x, rows, within, n_groups)))
    boot, perm_free, perm_within = ({k: np.concatenate([p[k] for p in parts[kind]]) for k in DISPARITIES}
                                    for kind in ("boot", "free", "within"))
    alpha = (1.0 - confidence) / 2.0
    out = []
    for name in DISPARITIES:
        v = float(point[name][0])
        if not math.isfinite(v):
            out.append(Disparity(name, math.nan, (math.nan, math.nan), 1.0))
            continue
        b = boot[name][np.isfinite(boot[name])]
        lo_q, hi_q = np.quantile(b, [alpha, 1 - alpha]) if b.size else (v, v)
        low = float(max(min(2 * v - hi_q, lo_q, v), 0.0))
        high = float(min(max(2 * v - lo_q, hi_q, v), 1.0))
        null = (perm_within if name.startswith("equal") else perm_free)[name]
        null = null[np.isfinite(null)]
        worse = null <= v + 1e-12 if name in LOWER_IS_WORSE else null >= v - 1e-12
        p = float((worse.sum() + 1) / (null.size + 1))
        if p >= alpha:  # the test cannot reject parity at the interval's one-sided level: parity stays inside
            low, high = (low, 1.0) if name in LOWER_IS_WORSE else (0.0, high)
        out.append(Disparity(name, v, (low, high), p))
    return out


def ece(probs: np.ndarray, y: np.ndarray, n_bins: int = 10) -> float:
    """Expected calibration error (Guo et al. 2017): confidence = the top probability, ``n_bins`` equal-width bins
    over (0, 1], ECE = Σ_bins (n_bin / n) · |accuracy_bin − mean confidence_bin|."""
    if len(y) == 0:
        return math.nan
    conf = probs.max(axis=1)
    hit = (probs.argmax(axis=1) == y).astype(np.float64)
    bins = np.clip(np.ceil(conf * n_bins).astype(int) - 1, 0, n_bins - 1)
    total = 0.0
    for b in range(n_bins):
        m = bins == b
        if m.any():
            total += m.sum() / len(y) * abs(hit[m].mean() - conf[m].mean())
    return float(total)
