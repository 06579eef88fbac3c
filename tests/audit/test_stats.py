import itertools
import math

import numpy as np
import pytest

from audit import stats


def test_wilson_matches_hand_formula():
    # 5/10 at 95%: z = 1.959964; centre = (0.5 + z²/20)/(1 + z²/10); half = z·sqrt(0.025 + z²/400)/(1 + z²/10)
    z = 1.959963984540054
    centre = (0.5 + z * z / 20) / (1 + z * z / 10)
    half = z * math.sqrt(0.25 / 10 + z * z / 400) / (1 + z * z / 10)
    lo, hi = stats.wilson_interval(5, 10)
    assert lo == pytest.approx(centre - half, abs=1e-12) and hi == pytest.approx(centre + half, abs=1e-12)
    assert stats.wilson_interval(0, 20)[0] == 0.0 and stats.wilson_interval(20, 20)[1] == 1.0


def test_paired_permutation_exact_equals_brute_force():
    d = np.array([0.3, -0.1, 0.25, 0.4, 0.05, -0.2, 0.15])
    obs = abs(d.mean())
    brute = np.mean([abs((np.array(s) * d).mean()) >= obs - 1e-12 for s in itertools.product([-1, 1], repeat=len(d))])
    assert stats.paired_permutation_test(d) == pytest.approx(brute)
    assert stats.paired_permutation_test(np.zeros(5)) == 1.0


def test_sampled_permutation_close_to_exact_rate():
    rng = np.random.default_rng(1)
    d = rng.normal(0.5, 1.0, size=30)
    p = stats.paired_permutation_test(d, n_resamples=20000)
    # large-sample sign-flip distribution of the mean is ~ normal with sd sqrt(sum d²)/n
    z = abs(d.mean()) / (np.sqrt((d**2).sum()) / len(d))
    from scipy.stats import norm

    assert p == pytest.approx(2 * norm.sf(z), abs=0.01)


def test_benjamini_hochberg_by_hand():
    p = [0.01, 0.04, 0.03, 0.20]
    # sorted: 0.01(1) 0.03(2) 0.04(3) 0.20(4); q = min over j>=i of p_j*m/j
    expected = [0.04, 0.0533333333, 0.0533333333, 0.20]
    assert stats.benjamini_hochberg(p) == pytest.approx(expected)


def test_bootstrap_ci_brackets_mean_and_degenerates():
    x = np.arange(100, dtype=float)
    lo, hi = stats.bootstrap_ci(x, seed=3)
    assert lo < x.mean() < hi
    # normal approximation: se = sd/sqrt(n)
    se = x.std(ddof=1) / 10
    assert hi - lo == pytest.approx(2 * 1.96 * se, rel=0.15)
    assert stats.bootstrap_ci([2.0, 2.0]) == (2.0, 2.0)
    assert all(math.isnan(v) for v in stats.bootstrap_ci([]))


def test_wilcoxon_and_binomial_against_scipy():
    from scipy import stats as st

    d = [1.2, -0.3, 0.8, 2.1, 0.4, -0.1, 1.5, 0.9]
    assert stats.wilcoxon_signed_rank(d) == pytest.approx(st.wilcoxon(d).pvalue)
    assert stats.binomial_test(15, 20) == pytest.approx(st.binomtest(15, 20).pvalue)
