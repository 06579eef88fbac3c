"""assert_gate on hand-built results: the verdict of audit.gates, and a failure that reads like a finding."""
from __future__ import annotations

import pytest

from audit.errors import AuditError
from audit.pytest_plugin import InconclusiveGateWarning, assert_gate
from audit.results import AuditResult, Metric, ProbeResult

P = "robustness.perturbation"


@pytest.fixture
def result(make_probe, make_info) -> AuditResult:
    metrics = (Metric("flip_rate", 0.05, (0.01, 0.12), higher_is_better=False, n=40, group="typo", unit="share"),
               Metric("flip_rate", 0.30, (0.22, 0.40), higher_is_better=False, n=40, group="case", unit="share"),
               Metric("similarity", 0.7, (0.6, 0.8), higher_is_better=True, n=6))
    return AuditResult(model=make_info("my/model"), probes=(make_probe(P, metrics, headline="Flips for 30% under 'case'."),))


def test_a_passing_gate_returns_its_gates(result):
    gates = assert_gate(result, P, "flip_rate", max=0.5)
    assert [(g.metric, g.status) for g in gates] == [("flip_rate[typo]", "pass"), ("flip_rate[case]", "pass")]
    assert assert_gate(result, P, "flip_rate", max=0.2, group="typo")[0].status == "pass"
    assert assert_gate(result.probe(P), P, "flip_rate", max=0.25, mode="ci_all")[1].status == "pass"  # 0.22 ≤ 0.25


def test_a_failing_gate_reads_like_a_finding(result):
    with pytest.raises(AssertionError) as info:
        assert_gate(result, P, "flip_rate", max=0.2, mode="ci_all")
    assert str(info.value).splitlines() == [
        "Finding: robustness.perturbation on model my/model — 1 failed of 2 gate(s) on flip_rate.",
        "  FAIL: flip_rate[case] ≤ 0.2: value 0.3 [0.22, 0.4], fails only when the whole confidence interval is past the "
        "threshold → fail",
        "  What the probe found: Flips for 30% under 'case'.",
    ]


def test_too_few_cases_fails_as_inconclusive_or_warns_when_allowed(result):
    with pytest.raises(AssertionError, match=r"1 inconclusive \(the evidence decides neither way, which is not a pass\)") as info:
        assert_gate(result, P, "similarity", min=0.5)
    assert "only 6 cases (need 10)" in str(info.value) and "needs about 10 cases (ran 6)" in str(info.value)
    with pytest.warns(InconclusiveGateWarning, match="inconclusive"):
        (gate,) = assert_gate(result, P, "similarity", min=0.5, allow_inconclusive=True)
    assert gate.status == "inconclusive"
    assert assert_gate(result, P, "similarity", min=0.5, min_n=5)[0].status == "pass"


@pytest.mark.parametrize("kwargs, match", [
    ({"metric": "flip_rat", "max": 0.2}, "did you mean 'flip_rate'"),
    ({"metric": "flip_rate", "max": 0.2, "group": "typos"}, "did you mean 'typo'"),
    ({"metric": "flip_rate", "min": 0.2}, "lower flip_rate is better; write `max: 0.2`"),
    ({"metric": "similarity", "max": 0.9}, "higher similarity is better"),
    ({"metric": "flip_rate", "max": 20}, "did you mean 0.2"),
    ({"metric": "flip_rate"}, "exactly one of max=, min= or value="),
    ({"metric": "flip_rate", "max": 0.2, "min": 0.1}, "exactly one of"),
    ({"metric": "flip_rate", "max": 0.2, "mode": "all"}, "unknown gate mode"),
])
def test_mistakes_are_audit_errors(result, kwargs, match):
    metric = kwargs.pop("metric")
    with pytest.raises(AuditError, match=match):
        assert_gate(result, P, metric, **kwargs)


def test_wrong_probe_and_skipped_or_crashed_probes(result, make_info):
    with pytest.raises(AuditError, match=r"did you mean 'robustness\.perturbation'"):
        assert_gate(result, "robustness.perturbaton", "flip_rate", max=0.2)
    with pytest.raises(AuditError, match=r"got the result of 'robustness\.perturbation'"):
        assert_gate(result.probe(P), "bias.weat", "x", max=1)
    skipped = AuditResult(model=make_info(), probes=(ProbeResult(P, "robustness", "t", "Skipped: needs embed.", status="skipped"),))
    with pytest.raises(pytest.skip.Exception, match="needs embed"):
        assert_gate(skipped, P, "flip_rate", max=0.2)
    crashed = AuditResult(model=make_info(), probes=(ProbeResult(P, "robustness", "t", "boom", status="error"),))
    with pytest.raises(AssertionError, match="could not run"):
        assert_gate(crashed, P, "flip_rate", max=0.2)
