"""Regression gates against a baseline run, with hand-worked expectations. Each case of these runs has the
metric's value, so the paired interval of the change is the change itself (degenerate): the rule alone decides."""
from __future__ import annotations

import math

import pytest

from audit.ci import baseline_gates, junit_xml
from audit.errors import AuditError
from audit.gates import Threshold
from audit.results import AuditResult, Metric

LOWER = {"higher_is_better": False}
HIGHER = {"higher_is_better": True}
IDEAL50 = {"ideal": 50.0}

# (id, direction, baseline value, current value, tolerance, expected); regression = change in the bad direction
TABLE = [
    ("lower-worse-beyond", LOWER, 0.10, 0.15, 0.02, "fail"),  # +0.05
    ("lower-worse-within", LOWER, 0.10, 0.11, 0.02, "pass"),  # +0.01
    ("lower-at-tolerance", LOWER, 0.10, 0.12, 0.02, "pass"),  # +0.02 is allowed
    ("lower-better", LOWER, 0.10, 0.01, 0.0, "pass"),
    ("higher-worse-beyond", HIGHER, 0.90, 0.85, 0.02, "fail"),  # −0.05
    ("higher-better", HIGHER, 0.90, 0.95, 0.0, "pass"),
    ("higher-zero-tolerance", HIGHER, 0.90, 0.899, 0.0, "fail"),
    ("ideal-further-within", IDEAL50, 52.0, 47.0, 2.0, "pass"),  # |2| → |3|: +1
    ("ideal-beyond", IDEAL50, 52.0, 45.0, 2.0, "fail"),  # |2| → |5|: +3
    ("ideal-mirror-is-unchanged", IDEAL50, 55.0, 45.0, 0.0, "pass"),  # 5 → 5
]


def _pair(make_probe, make_info, direction, old, new, n=50, params_old=None, params_new=None, paired=True):
    def run(value, params):
        m = Metric("m", value, (value - 0.01, value + 0.01), n=n, **direction)
        cases = {"m": {f"c{i}": value for i in range(n)}} if paired else {}
        return AuditResult(model=make_info(), probes=(make_probe("p.q", (m,), params=params or {"k": 1}, per_case=cases),))

    return run(old, params_old), run(new, params_new)


@pytest.mark.parametrize("direction, old, new, tolerance, expected", [r[1:] for r in TABLE], ids=[r[0] for r in TABLE])
def test_regression_verdicts(make_probe, make_info, direction, old, new, tolerance, expected):
    baseline, current = _pair(make_probe, make_info, direction, old, new)
    (gate,) = baseline_gates(current, baseline, tolerance)
    assert gate.status == expected, gate.reason
    change = abs(new - direction["ideal"]) - abs(old - direction["ideal"]) if "ideal" in direction else \
        (new - old) * (-1 if direction["higher_is_better"] else 1)
    assert (gate.probe, gate.metric, gate.threshold, gate.mode) == ("p.q", "m", tolerance, "ci")
    assert gate.value == pytest.approx(change) and gate.ci == pytest.approx((change, change))
    assert f"{old:.4g} → {new:.4g}" in gate.reason and "paired over 50 cases" in gate.reason


# Without per-case values: the interval of the change from the two ±0.01 intervals (MOVER), ±0.01·√2 = ±0.0141
UNPAIRED = [
    ("clear-regression", 0.10, 0.15, "fail"),  # [0.0359, 0.0641], wholly above 0.02
    ("within-but-unsure", 0.10, 0.11, "inconclusive"),  # [−0.0041, 0.0241] straddles 0.02
    ("clearly-within", 0.10, 0.10, "pass"),  # [−0.0141, 0.0141]
]


@pytest.mark.parametrize("old, new, expected", [r[1:] for r in UNPAIRED], ids=[r[0] for r in UNPAIRED])
def test_without_per_case_values_the_two_intervals_decide(make_probe, make_info, old, new, expected):
    baseline, current = _pair(make_probe, make_info, LOWER, old, new, paired=False)
    (gate,) = baseline_gates(current, baseline, 0.02)
    assert gate.status == expected, gate.reason
    half = 0.01 * math.sqrt(2)
    assert gate.ci == pytest.approx((new - old - half, new - old + half))
    assert "unpaired: no per-case values, interval from the two 95% intervals" in gate.reason


def test_a_regression_fails_even_when_the_absolute_threshold_passes(make_probe, make_info):
    def run(v):
        m = Metric("flip_rate", v, (v - 0.03, v + 0.03), n=100, **LOWER)
        return AuditResult(model=make_info(), probes=(make_probe("p.q", (m,), [Threshold("flip_rate", 0.2)]),))

    baseline, current = run(0.05), run(0.12)
    assert current.passed  # 0.12 ≤ 0.2
    (gate,) = baseline_gates(current, baseline, 0.02)
    assert gate.status == "fail"
    assert "worse by 0.07 [0.02757, 0.1124]" in gate.reason  # 0.07 ± 0.03·√2


def test_one_gate_per_directed_metric_present_in_both(make_probe, make_info):
    shared = Metric("a", 0.1, n=50, **LOWER)
    grouped = (Metric("b", 0.5, n=50, group="x", **HIGHER), Metric("b", 0.6, n=50, group="y", **HIGHER))
    undirected = Metric("count", 3.0, n=50)
    only_now = Metric("new", 0.1, n=50, **LOWER)
    baseline = AuditResult(model=make_info(), probes=(make_probe("p.q", (shared, *grouped, undirected)),))
    current = AuditResult(model=make_info(), probes=(make_probe("p.q", (shared, *grouped, undirected, only_now)),
                                                     make_probe("other.probe", (shared,))))
    gates = baseline_gates(current, baseline, 0.0)
    assert [(g.probe, g.metric, g.status) for g in gates] == [("p.q", "a", "pass"), ("p.q", "b[x]", "pass"), ("p.q", "b[y]", "pass")]


@pytest.mark.parametrize("case, why", [
    ({"n": 4}, "only 4 cases (need 10)"),
    ({"params_new": {"k": 2}}, "other parameters (k)"),
])
def test_undecidable_comparisons_are_inconclusive(make_probe, make_info, case, why):
    baseline, current = _pair(make_probe, make_info, LOWER, 0.1, 0.5, **case)  # a big regression, but not comparable
    (gate,) = baseline_gates(current, baseline, 0.02)
    assert gate.status == "inconclusive" and why in gate.reason


def test_a_missing_value_is_inconclusive(make_probe, make_info):
    old = AuditResult(model=make_info(), probes=(make_probe("p.q", (Metric("m", 0.1, n=50, **LOWER),)),))
    new = AuditResult(model=make_info(), probes=(make_probe("p.q", (Metric("m", None, n=50, **LOWER),)),))
    (gate,) = baseline_gates(new, old, 0.02)
    assert gate.status == "inconclusive" and "no value in this run" in gate.reason


def test_a_baseline_read_back_from_json_compares_the_same(make_probe, make_info, tmp_path):
    baseline, current = _pair(make_probe, make_info, LOWER, 0.10, 0.15)
    baseline.save(tmp_path / "results.json")
    loaded = AuditResult.load(tmp_path / "results.json")
    assert baseline_gates(current, loaded, 0.02) == baseline_gates(current, baseline, 0.02)


def test_baseline_gates_show_up_in_junit(make_probe, make_info):
    import xml.etree.ElementTree as ET

    from audit.results import ProbeResult

    baseline, current = _pair(make_probe, make_info, LOWER, 0.10, 0.15)
    gates = baseline_gates(current, baseline, 0.02)
    wrapped = AuditResult(model=make_info(), probes=current.probes + (ProbeResult("baseline", "baseline", "Regression", "", gates=gates),))
    failure = ET.fromstring(junit_xml(wrapped)).find("./testsuite[@name='baseline']/testcase/failure")
    assert failure is not None and "must not get higher than the baseline's by more than 0.02" in failure.get("message")


@pytest.mark.parametrize("tolerance", [-0.01, math.nan, math.inf, "0.1", True])
def test_bad_tolerances_are_refused(make_probe, make_info, tolerance):
    baseline, current = _pair(make_probe, make_info, LOWER, 0.1, 0.1)
    with pytest.raises(AuditError, match="tolerance"):
        baseline_gates(current, baseline, tolerance)
