"""The executive summary: severities computed by hand, the ranking, the verdict, and one line for what did not run."""
from __future__ import annotations

import math
import re

import pytest

import reports
from audit.results import AuditResult, Metric, ProbeResult
from reports import summary

from conftest import make_result


@pytest.mark.parametrize(("metric", "bound", "severity", "sure"), [
    # lower is better: value / bound; the whole interval past 0.2 only when its low end is
    (Metric("gap", 0.31, (0.12, 0.50), higher_is_better=False), 0.2, 0.31 / 0.2, "straddles"),
    (Metric("gap", 0.31, (0.25, 0.50), higher_is_better=False), 0.2, 0.31 / 0.2, "past"),
    (Metric("gap", 0.05, (0.01, 0.09), higher_is_better=False), 0.1, 0.05 / 0.1, "within"),
    # an ideal: |value − ideal| / bound, and the interval's distance from the ideal
    (Metric("stereo", 57.5, (52.1, 62.8), ideal=50.0), 10.0, 7.5 / 10.0, "straddles"),
    (Metric("stereo", 38.0, (35.0, 39.0), ideal=50.0), 10.0, 12.0 / 10.0, "past"),
    # higher is better: bound / value (0.466 agreement against a 0.9 bar is 1.93× short)
    (Metric("agree", 0.466, (0.446, 0.486), higher_is_better=True), 0.9, 0.9 / 0.466, "past"),
    (Metric("agree", 0.95, (0.92, 0.97), higher_is_better=True), 0.9, 0.9 / 0.95, "within"),
    # no interval: a point estimate
    (Metric("gap", 0.5, None, higher_is_better=False), 0.1, 5.0, "point"),
])
def test_severity_is_distance_from_good_over_the_bound(metric: Metric, bound: float, severity: float, sure: str) -> None:
    got, how = summary._severity(metric, bound, per_n=False)
    assert math.isclose(got, severity, rel_tol=1e-9) and how == sure


def test_counts_are_compared_as_shares_of_n() -> None:
    got, how = summary._severity(Metric("languages_at_chance", 107.0, None, higher_is_better=False, n=262), 0.10, per_n=True)
    assert math.isclose(got, 107 / 262 / 0.10) and how == "point"


def test_findings_are_ranked_fail_then_inconclusive_then_the_rest(result: AuditResult) -> None:
    ranked = summary.findings(result)
    assert [(f.probe, f.metric, f.status) for f in ranked] == [
        ("bias.weat", "effect_size[career/family]", "fail"),  # 0.31 against 0.2 (point mode)
        ("bias.weat", "effect_size[science/arts]", "inconclusive"),  # 6 cases, fewer than the gate's minimum
        ("bias.crows", "stereotype_score", "pass"),  # 7.5 from the ideal 50, bound 10
        ("long_input.degradation", "agreement", "descriptive"),  # neither gated nor on a default scale
    ]
    first = ranked[0]
    assert math.isclose(first.severity, 0.31 / 0.2) and first.sure == "straddles"
    assert first.figure == "effect_size[career/family] = 0.31 (95% CI [0.12, 0.5]), n = 48"
    assert "multilingual.ner_names" not in {f.probe for f in ranked}  # skipped: no finding


def test_ungated_probes_are_judged_against_their_documented_default_scale() -> None:
    base = make_result()
    retrieval = ProbeResult(probe="multilingual.retrieval", suite="multilingual", title="Retrieval", headline="h",
                            metrics=(Metric("languages_at_chance", 107.0, None, higher_is_better=False, n=262),
                                     Metric("speakers_at_chance", 4240.0, None, higher_is_better=False, n=262)))
    needle = ProbeResult(probe="long_input.needle", suite="long_input", title="Needle", headline="h",
                         metrics=(Metric("share_dropped", 0.05, None, higher_is_better=False),))
    r = AuditResult(**{**base.__dict__, "probes": (retrieval, needle)})
    by_probe = {f.probe: f for f in summary.findings(r)}
    assert by_probe["multilingual.retrieval"].status == "past"
    assert "4.2 billion speakers" in by_probe["multilingual.retrieval"].advice
    assert by_probe["long_input.needle"].status == "within"  # 5% dropped against a 10% scale
    assert math.isclose(by_probe["long_input.needle"].severity, 0.5)


def test_verdict_and_not_tested_line(result: AuditResult) -> None:
    status, sentence = summary.verdict(result, summary.findings(result))
    assert status == "fail" and sentence == "Not ready to sign off: 1 of 3 gates fail (bias.weat)."
    assert summary.not_tested(result) == ("1 probe needs outputs a zero-shot-classification model lacks: "
                                          "multilingual.ner_names (token_probs).")
    everything_ran = AuditResult(**{**result.__dict__, "probes": result.probes[:3]})
    assert summary.not_tested(everything_ran) is None


def test_html_puts_the_summary_first_and_gives_skipped_probes_no_section(result: AuditResult) -> None:
    html = reports.render_html(result)
    main = html[html.index("<main>"):]
    assert main.index('id="summary"') < main.index('id="model"') < main.index('class="probe"')
    findings = html[html.index('<ol class="findings">'):html.index("</ol>")]
    order = [findings.index(t) for t in ("effect_size[career/family]", "effect_size[science/arts]", "stereotype_score")]
    assert order == sorted(order)
    assert "Names in NER" not in html[html.index("<nav"):html.index("</nav>")]  # no navigation entry
    assert len(re.findall(r'<section class="probe"', html)) == 3  # and no section
    not_tested = re.search(r'<details class="not-tested"><summary>(.*?)</summary>', html).group(1)
    assert not_tested.startswith("Not tested: 1 probe needs outputs")


def test_the_summary_names_the_intended_use_or_says_none_was_stated(result: AuditResult) -> None:
    assert "Read against the intended use stated in the audit configuration: Sentiment triage" in reports.render_html(result)
    bare = AuditResult(**{**result.__dict__, "config": {}})
    assert "No intended use was stated" in reports.render_html(bare)
