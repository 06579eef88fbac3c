"""audit compare: regressions by each metric's own direction, tolerance, the CLI handler and exit codes.

The statuses come from audit.ci.regression (tested on its own in tests/audit/ci/test_paired_regression.py);
here the runs carry per-case values equal to each metric's value, so the paired change is exact."""
from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from audit.ci import regression
from audit.errors import AuditError
from audit.results import AuditResult, Metric, ProbeResult
from reports import compare as cmp

from conftest import make_result


def metric(value, ci=None, **kw) -> Metric:  # type: ignore[no-untyped-def]
    return Metric("m", value, ci, **kw)


def paired(result: AuditResult, n: int = 20) -> AuditResult:
    """The result with n per-case values equal to each finite metric's value (a degenerate paired interval)."""
    def with_cases(p: ProbeResult) -> ProbeResult:
        cases = {m.key: {f"c{i}": m.value for i in range(n)} for m in p.metrics if m.value == m.value}
        return ProbeResult(**{**p.__dict__, "per_case": cases})
    return AuditResult(**{**result.__dict__, "probes": tuple(with_cases(p) for p in result.probes)})


@pytest.mark.parametrize(("a", "b", "kw", "status"), [
    (0.30, 0.50, {"higher_is_better": False}, "regressed"),
    (0.30, 0.10, {"higher_is_better": False}, "improved"),
    (0.80, 0.70, {"higher_is_better": True}, "regressed"),
    (0.80, 0.79, {"higher_is_better": True}, "unchanged"),        # within the 0.02 tolerance
    (55.0, 45.0, {"ideal": 50.0}, "unchanged"),                  # same distance from the ideal, other side
    (55.0, 52.0, {"ideal": 50.0}, "improved"),                   # lower, but closer to the ideal
    (52.0, 42.0, {"ideal": 50.0}, "regressed"),                  # lower and farther away
    (1.0, 2.0, {}, "changed (no direction)"),
    (1.0, float("nan"), {"higher_is_better": True}, "not measured"),
])
def test_direction_comes_from_the_metric(a, b, kw, status) -> None:  # type: ignore[no-untyped-def]
    """Point estimates alone (no interval, no cases): the rule reduces to the change against the tolerance."""
    found = regression(metric(a, **kw), metric(b, **kw), 0.02).status
    assert (found if found != "no direction" else "changed (no direction)") == status


def test_intervals_and_tolerance() -> None:
    found = regression(metric(0.3, (0.2, 0.4), higher_is_better=False), metric(0.5, (0.45, 0.6), higher_is_better=False), 0.02)
    # MOVER: the low end widens by B's lower and A's upper half-widths, the high end by B's upper and A's lower
    assert found.status == "regressed" and found.ci == pytest.approx((0.2 - (0.05**2 + 0.1**2) ** 0.5, 0.2 + (0.1**2 + 0.1**2) ** 0.5))
    assert regression(metric(0.3, higher_is_better=False), metric(0.5, higher_is_better=False), 0.25).status == "unchanged"
    with pytest.raises(AuditError, match="tolerance"):
        cmp.compare(make_result(), make_result(), tolerance=-1)


def test_compare_marks_the_regression_in_the_page() -> None:
    a, b = paired(make_result()), paired(make_result(shift=0.2))
    rows = cmp.compare(a, b)
    assert [(r.probe, r.metric) for r in rows if r.status == "regressed"] == [("bias.weat", "effect_size[career/family]")]
    assert {r.status for r in rows} == {"regressed", "unchanged", "not measured"}
    html = cmp.render_compare(a, b)
    regressed = [line for line in html.splitlines() if '<tr class="regressed">' in line]
    assert len(regressed) == 1 and "effect_size[career/family]" in regressed[0]
    assert "1 metric regressed" in html
    assert "https://" not in html and "<script" not in html.lower()
    # the same run against itself: nothing regressed
    assert "no metric regressed" in cmp.render_compare(a, a)


def test_metrics_present_in_one_run_only() -> None:
    a = make_result()
    b = make_result()
    b = type(b)(**{**b.__dict__, "probes": b.probes[:1]})
    statuses = {r.metric: r.status for r in cmp.compare(a, b)}
    assert statuses["stereotype_score"] == "only in A" and statuses["agreement"] == "only in A"
    assert {r.metric: r.status for r in cmp.compare(b, a)}["agreement"] == "only in B"


def test_gate_changes() -> None:
    from audit.gates import Threshold, evaluate

    a, b = make_result(), make_result(shift=-0.2)  # effect size falls to 0.11: the failing gate now passes
    changes = cmp.gate_changes(a, b)
    assert changes == [("bias.weat", "effect_size[career/family]", "fail", "pass")]
    assert evaluate("p", b.probes[0].metrics[0], Threshold("effect_size", 0.2, mode="point")).status == "pass"


def cli(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="audit")
    sub = parser.add_subparsers(dest="command")
    cmp.add_parser(sub)
    return parser.parse_args(argv)


def test_cli_writes_the_page_and_exits_1_on_regression(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    paired(make_result()).save(a)
    paired(make_result(shift=0.2)).save(b)
    out = tmp_path / "diff.html"
    assert cmp.main(cli(["compare", str(a), str(b), "-o", str(out)])) == 1
    assert "REGRESSED bias.weat effect_size[career/family]: 0.31 → 0.51" in capsys.readouterr().out
    assert '<tr class="regressed">' in out.read_text(encoding="utf-8")
    assert cmp.main(cli(["compare", str(a), str(a), "-o", str(out)])) == 0
    assert cmp.main(cli(["compare", str(a), str(b), "-o", str(out), "--tolerance", "0.5"])) == 0


def test_cli_user_errors_are_one_line(tmp_path: Path) -> None:
    a = tmp_path / "a.json"
    make_result().save(a)
    with pytest.raises(AuditError, match="results file not found"):
        cmp.main(cli(["compare", str(a), str(tmp_path / "missing.json")]))
    with pytest.raises(AuditError, match="is a folder"):
        cmp.main(cli(["compare", str(a), str(a), "-o", str(tmp_path)]))
