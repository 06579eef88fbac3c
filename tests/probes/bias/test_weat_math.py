"""WEAT arithmetic against hand computations on low-dimensional vectors."""
from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from probes.bias import weat

# Targets and attributes in 2-D, chosen by hand: X points towards A, Y towards B.
A = np.array([[1.0, 0.0], [2.0, 0.2]])
B = np.array([[0.0, 1.0], [0.1, 3.0]])
X = np.array([[1.0, 0.1], [3.0, 1.0], [1.0, 1.0]])
Y = np.array([[0.2, 1.0], [1.0, 2.0], [0.0, 1.0]])


def cos(u, v):
    return sum(a * b for a, b in zip(u, v)) / (math.hypot(*u) * math.hypot(*v))


def s_hand(w):
    return sum(cos(w, a) for a in A) / len(A) - sum(cos(w, b) for b in B) / len(B)


def test_association_statistic_and_effect_size_match_hand_computation():
    sx, sy = [s_hand(w) for w in X], [s_hand(w) for w in Y]
    res = weat.weat(X, Y, A, B)
    assert res.s_x == pytest.approx(sx)
    assert res.statistic == pytest.approx(sum(sx) - sum(sy))
    both = sx + sy
    mean = sum(both) / len(both)
    sd1 = math.sqrt(sum((v - mean) ** 2 for v in both) / (len(both) - 1))
    sd0 = math.sqrt(sum((v - mean) ** 2 for v in both) / len(both))
    diff = sum(sx) / len(sx) - sum(sy) / len(sy)
    assert res.effect_size == pytest.approx(diff / sd1)
    assert res.effect_size_ddof0 == pytest.approx(diff / sd0)
    # the published relation between the two conventions
    n = len(both)
    assert res.effect_size == pytest.approx(res.effect_size_ddof0 * math.sqrt((n - 1) / n))
    assert res.effect_size > 0


def test_exact_p_matches_independent_enumeration():
    sx, sy = [s_hand(w) for w in X], [s_hand(w) for w in Y]
    both = sx + sy
    observed = sum(sx) - sum(sy)
    stats = []
    for xi in itertools.combinations(range(6), 3):
        yi = [i for i in range(6) if i not in xi]
        stats.append(sum(both[i] for i in xi) - sum(both[i] for i in yi))
    p_hand = sum(s >= observed - 1e-12 for s in stats) / len(stats)
    res = weat.weat(X, Y, A, B)
    assert res.exact and res.n_partitions == 20
    assert res.p_value == pytest.approx(p_hand)
    assert res.p_value == pytest.approx(1 / 20)  # X is the most A-like split of all


def test_sampled_p_converges_to_exact():
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(7, 4)) + [0.3, 0, 0, 0], rng.normal(size=(7, 4))
    a, b = rng.normal(size=(5, 4)) + [1, 0, 0, 0], rng.normal(size=(5, 4))
    exact = weat.weat(x, y, a, b)
    assert exact.exact and exact.n_partitions == math.comb(14, 7)
    errors = []
    for n in (500, 50_000):
        sampled = weat.weat(x, y, a, b, exact_limit=0, n_samples=n, seed=1)
        assert not sampled.exact
        errors.append(abs(sampled.p_value - exact.p_value))
    assert errors[1] < 4 * math.sqrt(exact.p_value * (1 - exact.p_value) / 50_000) + 1 / 50_001
    assert errors[1] <= errors[0] + 1e-9


def test_sampled_p_uses_plus_one_correction():
    # a perfectly separated pair of large sets: no random split beats the observed one
    x = np.array([[1.0, 0.01 * i] for i in range(30)])
    y = np.array([[0.01 * i, 1.0] for i in range(30)])
    res = weat.weat(x, y, A, B, n_samples=999, seed=0)
    assert not res.exact
    assert res.p_value == pytest.approx(1 / 1000)


def test_swapping_targets_flips_sign_and_constant_scores_give_nan():
    res, swapped = weat.weat(X, Y, A, B), weat.weat(Y, X, A, B)
    assert swapped.effect_size == pytest.approx(-res.effect_size)
    assert math.isnan(weat.effect_size(np.ones(3), np.ones(3)))


def test_effect_size_interval_contains_point_estimate():
    sx, sy = weat.association(X, A, B), weat.association(Y, A, B)
    lo, hi = weat.effect_size_ci(sx, sy, seed=0)
    assert lo <= weat.effect_size(sx, sy) <= hi
