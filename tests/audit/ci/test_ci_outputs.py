"""JUnit XML and the Markdown job summary, parsed back and compared with the gates they came from."""
from __future__ import annotations

import xml.etree.ElementTree as ET

from audit.ci import junit_xml, markdown_summary
from audit.gates import Threshold
from audit.results import AuditResult, Metric, ProbeResult


def test_junit_has_one_testcase_per_gate_with_the_gate_outcome(mixed_result):
    root = ET.fromstring(junit_xml(mixed_result))
    cases = root.findall("./testsuite/testcase")
    gates = mixed_result.gates
    assert len(cases) == len(gates) == 4
    for case, gate in zip(cases, gates):
        assert case.get("classname") == gate.probe
        assert gate.metric in case.get("name") and f"{gate.threshold:g}" in case.get("name") and gate.mode in case.get("name")
        failure = case.find("failure")
        assert case.find("skipped") is None  # inconclusive is not a skip
        assert (failure is not None) == (gate.status in ("fail", "inconclusive"))
        if failure is not None:
            assert failure.get("message") == gate.reason
            assert failure.get("type") == {"fail": "GateFailed", "inconclusive": "GateInconclusive"}[gate.status]
    statuses = [g.status for g in gates]
    assert root.get("tests") == "4"
    assert root.get("failures") == str(statuses.count("fail") + statuses.count("inconclusive")) == "3"
    assert root.get("skipped") == "0"
    assert root.get("errors") == "0"


def test_junit_with_allow_inconclusive_passes_the_case_with_a_warning(mixed_result):
    root = ET.fromstring(junit_xml(mixed_result, allow_inconclusive=True))
    assert root.get("failures") == "2"
    warned = [c for c in root.iter("testcase") if c.find("system-out") is not None]
    assert len(warned) == 1 and warned[0].find("failure") is None
    assert warned[0].find("system-out").text.startswith("WARNING inconclusive (allowed): ")


def test_junit_suites_are_per_probe_and_carry_the_model(mixed_result):
    root = ET.fromstring(junit_xml(mixed_result))
    suites = root.findall("testsuite")
    assert [s.get("name") for s in suites] == ["robustness.perturbation", "bias.crows"]  # the skipped probe has no gates
    robust = suites[0]
    assert (robust.get("tests"), robust.get("failures"), robust.get("skipped"), robust.get("time")) == ("2", "1", "0", "1.500")
    props = {p.get("name"): p.get("value") for p in robust.iter("property")}
    assert props["model"] == "tiny/bert" and props["headline"].startswith("The label flips")
    failure_text = robust.find("./testcase/failure").text
    assert "flip_rate[case]" in failure_text and "The label flips for 30%" in failure_text


def test_junit_reports_a_crashed_probe_as_an_error_and_survives_control_characters(make_probe, make_info):
    crashed = ProbeResult(probe="bias.weat", suite="bias", title="WEAT", headline="crashed: bad \x07 input <&>",
                          status="error", warnings=("Traceback line",))
    ok = make_probe("robustness.perturbation", (Metric("flip_rate", 0.0, (0.0, 0.1), higher_is_better=False, n=20),),
                      [Threshold("flip_rate", 0.2)])
    root = ET.fromstring(junit_xml(AuditResult(model=make_info(), probes=(crashed, ok))))
    error = root.find("./testsuite[@name='bias.weat']/testcase/error")
    assert error is not None and error.get("message") == "crashed: bad  input <&>"
    assert (root.get("tests"), root.get("errors"), root.get("failures")) == ("2", "1", "0")


def test_markdown_summary_leads_with_the_verdict_and_lists_every_gate(mixed_result):
    md = markdown_summary(mixed_result)
    lines = md.splitlines()
    assert lines[0] == "## transformer-audit: ❌ 2 of 4 gates failed"
    assert "1 passed, 2 failed, 1 inconclusive" in md and "12.5 s" in md
    failed = md.split("### Failed gates")[1].split("###")[0]
    for g in mixed_result.gates:
        assert (g.reason in failed) == (g.status == "fail")
    table = [line for line in lines if line.startswith("| ") and "Probe" not in line]
    assert len(table) == 4
    assert [row.split("|")[1].strip() for row in table] == ["❌ fail", "❌ fail", "⚠️ inconclusive", "✅ pass"]
    assert "| 0.3 [0.22, 0.4] | 0.2 | ci_all |" in md
    assert "**long_input.needle** (skipped)" in md


def test_markdown_summary_for_an_all_pass_and_a_gateless_run(make_probe, make_info):
    ok = make_probe("robustness.perturbation", (Metric("flip_rate", 0.0, (0.0, 0.1), higher_is_better=False, n=20),),
                      [Threshold("flip_rate", 0.2)])
    assert markdown_summary(AuditResult(model=make_info(), probes=(ok,))).startswith("## transformer-audit: ✅ all 1 gates passed")
    bare = make_probe("robustness.perturbation", ok.metrics)
    assert "no gates were evaluated" in markdown_summary(AuditResult(model=make_info(), probes=(bare,))).splitlines()[0]


def test_markdown_escapes_pipes_in_cells(make_probe, make_info):
    m = Metric("rate", 0.5, None, higher_is_better=False, n=20, group="a|b")
    md = markdown_summary(AuditResult(model=make_info(), probes=(make_probe("x.y", (m,), [Threshold("rate", 0.2)]),)))
    assert "rate[a\\|b]" in md
