"""Gate logic, table-driven against hand-worked expectations.

Every row states the metric (value, CI, direction), the threshold and mode, and the verdict worked out by
hand from the rule "the checked quantity must not be past the threshold", where the checked quantity is
the point estimate (point), the end of the CI nearest to passing (ci_all) or the end furthest from
passing (ci_any); for a metric with an ideal value it is the distance from the ideal.
"""
from __future__ import annotations

import math

import pytest

from audit.errors import AuditError
from audit.gates import Threshold, apply, evaluate
from audit.results import Metric

LOWER = {"higher_is_better": False}
HIGHER = {"higher_is_better": True}
IDEAL50 = {"ideal": 50.0}

# (id, direction, value, ci, threshold, mode, expected)
TABLE = [
    # lower is better, ceiling 0.2
    ("low-point-pass", LOWER, 0.15, (0.10, 0.25), 0.2, "point", "pass"),
    ("low-ciall-pass", LOWER, 0.15, (0.10, 0.25), 0.2, "ci_all", "pass"),
    ("low-ciany-fail", LOWER, 0.15, (0.10, 0.25), 0.2, "ci_any", "fail"),  # upper end 0.25 > 0.2
    ("low-point-fail", LOWER, 0.25, (0.18, 0.32), 0.2, "point", "fail"),
    ("low-ciall-straddle-pass", LOWER, 0.25, (0.18, 0.32), 0.2, "ci_all", "pass"),  # lower end 0.18 ≤ 0.2
    ("low-ciall-fail", LOWER, 0.30, (0.22, 0.40), 0.2, "ci_all", "fail"),  # the whole CI is above
    ("low-ciany-pass", LOWER, 0.10, (0.05, 0.19), 0.2, "ci_any", "pass"),
    ("low-boundary-pass", LOWER, 0.20, (0.20, 0.20), 0.2, "point", "pass"),  # ≤ is inclusive
    # higher is better, floor 0.8
    ("high-point-pass", HIGHER, 0.85, (0.78, 0.90), 0.8, "point", "pass"),
    ("high-ciall-pass", HIGHER, 0.85, (0.78, 0.90), 0.8, "ci_all", "pass"),
    ("high-ciany-fail", HIGHER, 0.85, (0.78, 0.90), 0.8, "ci_any", "fail"),  # lower end 0.78 < 0.8
    ("high-point-fail", HIGHER, 0.75, (0.70, 0.82), 0.8, "point", "fail"),
    ("high-ciall-straddle-pass", HIGHER, 0.75, (0.70, 0.82), 0.8, "ci_all", "pass"),  # upper end 0.82 ≥ 0.8
    ("high-ciall-fail", HIGHER, 0.70, (0.60, 0.79), 0.8, "ci_all", "fail"),
    ("high-ciany-pass", HIGHER, 0.90, (0.81, 0.95), 0.8, "ci_any", "pass"),
    ("high-boundary-pass", HIGHER, 0.80, None, 0.8, "point", "pass"),
    # ideal 50 (CrowS-Pairs style), at most 5 points away
    ("ideal-point-pass", IDEAL50, 53.0, (48.0, 58.0), 5.0, "point", "pass"),  # |53-50| = 3
    ("ideal-ciall-contains-ideal-pass", IDEAL50, 53.0, (48.0, 58.0), 5.0, "ci_all", "pass"),  # CI holds 50 → 0
    ("ideal-ciany-fail", IDEAL50, 53.0, (48.0, 58.0), 5.0, "ci_any", "fail"),  # furthest end 58 → 8
    ("ideal-point-fail", IDEAL50, 57.0, (54.0, 60.0), 5.0, "point", "fail"),  # 7
    ("ideal-ciall-near-end-pass", IDEAL50, 57.0, (54.0, 60.0), 5.0, "ci_all", "pass"),  # nearest end 54 → 4
    ("ideal-below-ciall-fail", IDEAL50, 44.0, (40.0, 44.5), 5.0, "ci_all", "fail"),  # nearest end 44.5 → 5.5
    ("ideal-below-point-fail", IDEAL50, 44.0, (40.0, 44.5), 5.0, "point", "fail"),  # 6
    ("ideal-ciany-pass", IDEAL50, 47.0, (46.0, 52.0), 5.0, "ci_any", "pass"),  # max(4, 2) = 4
    ("ideal-above-is-as-bad-as-below", IDEAL50, 56.0, None, 5.0, "point", "fail"),  # 6 either side
]


@pytest.mark.parametrize("direction, value, ci, threshold, mode, expected", [row[1:] for row in TABLE], ids=[row[0] for row in TABLE])
def test_verdicts_match_hand_worked_expectations(direction, value, ci, threshold, mode, expected):
    metric = Metric("m", value, ci, n=100, **direction)
    gate = evaluate("probe.x", metric, Threshold("m", threshold, mode=mode))
    assert gate.status == expected, gate.reason
    assert (gate.probe, gate.metric, gate.threshold, gate.mode, gate.value, gate.ci) == ("probe.x", "m", threshold, mode, value, ci)
    assert gate.reason.endswith(f"→ {expected}")


@pytest.mark.parametrize("mode, words", [
    ("point", "the point estimate is compared"),
    ("ci_all", "fails only when the whole confidence interval"),
    ("ci_any", "fails when any part of the confidence interval"),
])
def test_the_reason_says_which_mode_decided(mode, words):
    gate = evaluate("p", Metric("m", 0.1, (0.0, 0.3), n=50, **LOWER), Threshold("m", 0.2, mode=mode))
    assert words in gate.reason
    assert "0.1 [0, 0.3]" in gate.reason


def test_the_reason_states_the_direction():
    assert "m ≤ 0.2" in evaluate("p", Metric("m", 0.1, n=50, **LOWER), Threshold("m", 0.2)).reason
    assert "m ≥ 0.8" in evaluate("p", Metric("m", 0.9, n=50, **HIGHER), Threshold("m", 0.8)).reason
    assert "|m − 50| ≤ 5" in evaluate("p", Metric("m", 52.0, n=50, **IDEAL50), Threshold("m", 5.0)).reason


# (id, n, min_n, expected): too few cases is never a pass, even far from the threshold
FEW = [
    ("n-below-default", 9, 10, "inconclusive"),
    ("n-at-default", 10, 10, "pass"),
    ("n-below-custom", 29, 30, "inconclusive"),
    ("n-zero", 0, 10, "inconclusive"),
    ("n-unknown-is-decided", None, 10, "pass"),
]


@pytest.mark.parametrize("n, min_n, expected", [row[1:] for row in FEW], ids=[row[0] for row in FEW])
def test_too_few_cases_is_inconclusive(n, min_n, expected):
    gate = evaluate("p", Metric("m", 0.0, (0.0, 0.0), n=n, **LOWER), Threshold("m", 0.5, min_n=min_n))
    assert gate.status == expected
    if expected == "inconclusive":
        assert f"only {n} cases (need {min_n})" in gate.reason


def test_too_few_cases_is_inconclusive_even_when_it_would_fail():
    gate = evaluate("p", Metric("m", 0.9, (0.8, 1.0), n=3, **LOWER), Threshold("m", 0.2, mode="ci_all"))
    assert gate.status == "inconclusive"


@pytest.mark.parametrize("value", [None, math.nan, math.inf])
def test_no_measured_value_is_inconclusive(value):
    gate = evaluate("p", Metric("m", value, n=50, **LOWER), Threshold("m", 0.2))
    assert gate.status == "inconclusive"
    assert "no value" in gate.reason


@pytest.mark.parametrize("mode", ["ci_all", "ci_any"])
def test_ci_mode_without_an_interval_falls_back_to_the_point_and_says_so(mode):
    gate = evaluate("p", Metric("m", 0.25, None, n=50, **LOWER), Threshold("m", 0.2, mode=mode))
    assert gate.status == "fail"
    assert "no confidence interval; point estimate used" in gate.reason


def test_a_metric_without_a_direction_cannot_be_gated():
    with pytest.raises(AuditError, match="neither higher_is_better nor an ideal"):
        evaluate("p", Metric("m", 0.1, n=50), Threshold("m", 0.2))


@pytest.mark.parametrize("kwargs, match", [
    ({"mode": "ci_some"}, "unknown gate mode"),
    ({"value": math.inf}, "finite"),
    ({"value": math.nan}, "finite"),
])
def test_bad_thresholds_are_refused(kwargs, match):
    with pytest.raises(AuditError, match=match):
        Threshold(**{"metric": "m", "value": 0.2, **kwargs})


def test_apply_gates_every_group_or_the_one_named():
    metrics = (
        Metric("flip_rate", 0.1, (0.05, 0.2), n=40, group="typo", **LOWER),
        Metric("flip_rate", 0.3, (0.2, 0.45), n=40, group="case", **LOWER),
        Metric("similarity", 0.9, (0.85, 0.95), n=40, **HIGHER),
    )
    gates = apply("p", metrics, [Threshold("flip_rate", 0.25, mode="point")])
    assert [(g.metric, g.status) for g in gates] == [("flip_rate[typo]", "pass"), ("flip_rate[case]", "fail")]
    only = apply("p", metrics, [Threshold("flip_rate", 0.25, group="case", mode="point"), Threshold("similarity", 0.95, mode="ci_all")])
    assert [(g.metric, g.status) for g in only] == [("flip_rate[case]", "fail"), ("similarity", "pass")]


def test_apply_names_an_unknown_metric_with_close_matches():
    with pytest.raises(AuditError, match=r"unknown metric .*'flip_rat'.*did you mean 'flip_rate'"):
        apply("p", (Metric("flip_rate", 0.1, n=40, **LOWER),), [Threshold("flip_rat", 0.2)])
