"""CI outputs: JUnit XML (one test case per gate), a Markdown job summary, and regression gates
against a baseline run.

CI systems already know how to show JUnit failures and Markdown summaries, so a failing gate appears
where engineers look, with the gate's own reason as the message.
"""
from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET

from audit.errors import AuditError
from audit.results import AuditResult, Gate, Metric, ProbeResult
from audit.stats import MIN_CASES

_XML_ILLEGAL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_BADGE = {"pass": "✅ pass", "fail": "❌ fail", "inconclusive": "⚠️ inconclusive"}


def _x(text: object) -> str:
    """Text that an XML 1.0 parser accepts (control characters dropped)."""
    return _XML_ILLEGAL.sub("", str(text))


def _case_name(gate: Gate) -> str:
    return f"{gate.metric} (threshold {gate.threshold:g}, {gate.mode})"


def _probe_gates(result: AuditResult) -> list[tuple[ProbeResult, list[Gate]]]:
    return [(p, list(p.gates)) for p in result.probes if p.gates or p.status == "error"]


def junit_xml(result: AuditResult) -> str:
    """JUnit XML: a test suite per probe, a test case per gate; a failed gate is a <failure> with the
    gate's reason, an inconclusive one <skipped> with why, a probe that crashed an <error>."""
    total = {"tests": 0, "failures": 0, "skipped": 0, "errors": 0}
    root = ET.Element("testsuites", name="transformer-audit")
    for probe, gates in _probe_gates(result):
        suite = ET.SubElement(root, "testsuite", name=_x(probe.probe), time=f"{probe.seconds:.3f}")
        counts = {"tests": 0, "failures": 0, "skipped": 0, "errors": 0}
        props = ET.SubElement(suite, "properties")
        for name, value in (("model", result.model.spec), ("fingerprint", result.model.fingerprint),
                            ("suite", probe.suite), ("headline", probe.headline)):
            ET.SubElement(props, "property", name=name, value=_x(value))
        if probe.status == "error":
            case = ET.SubElement(suite, "testcase", classname=_x(probe.probe), name="probe run", time="0")
            ET.SubElement(case, "error", message=_x(probe.headline), type="ProbeError").text = _x("\n".join(probe.warnings))
            counts["tests"] += 1
            counts["errors"] += 1
        for gate in gates:
            case = ET.SubElement(suite, "testcase", classname=_x(gate.probe), name=_x(_case_name(gate)), time="0")
            counts["tests"] += 1
            if gate.status == "fail":
                detail = f"{gate.probe}: {gate.reason}\n{probe.headline}"
                ET.SubElement(case, "failure", message=_x(gate.reason), type="GateFailed").text = _x(detail)
                counts["failures"] += 1
            elif gate.status == "inconclusive":
                ET.SubElement(case, "skipped", message=_x(gate.reason))
                counts["skipped"] += 1
        for key, n in counts.items():
            suite.set(key, str(n))
            total[key] += n
    for key, n in total.items():
        root.set(key, str(n))
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _value(gate: Gate) -> str:
    if gate.value is None or not math.isfinite(gate.value):
        return "—"
    ci = f" [{gate.ci[0]:.3g}, {gate.ci[1]:.3g}]" if gate.ci and None not in gate.ci else ""
    return f"{gate.value:.3g}{ci}"


def markdown_summary(result: AuditResult) -> str:
    """A Markdown summary for a CI job page: the verdict first, failed and inconclusive gates with their
    reasons, then every gate in a table."""
    gates = result.gates
    fails = [g for g in gates if g.status == "fail"]
    unsure = [g for g in gates if g.status == "inconclusive"]
    passed = len(gates) - len(fails) - len(unsure)
    if fails:
        verdict = f"❌ {len(fails)} of {len(gates)} gates failed"
    elif not gates:
        verdict = "⚠️ no gates were evaluated"
    elif unsure:
        verdict = f"⚠️ no gate failed, but {len(unsure)} of {len(gates)} were inconclusive"
    else:
        verdict = f"✅ all {len(gates)} gates passed"
    m = result.model
    lines = [
        f"## transformer-audit: {verdict}",
        "",
        f"Model `{m.spec}` ({m.architecture}, {m.task}, fingerprint `{m.fingerprint[:12]}`) · "
        f"{len(result.probes)} probes · {passed} passed, {len(fails)} failed, {len(unsure)} inconclusive"
        + (f" · {result.timings['total']:.1f} s" if "total" in result.timings else ""),
        "",
    ]
    if fails:
        lines += ["### Failed gates", ""] + [f"- **{g.probe}** — {g.reason}" for g in fails] + [""]
    if unsure:
        lines += ["### Inconclusive gates (too little evidence to pass or fail)", ""]
        lines += [f"- **{g.probe}** — {g.reason}" for g in unsure] + [""]
    if gates:
        lines += ["### All gates", "", "| Result | Probe | Metric | Value [95% CI] | Threshold | Mode |",
                  "|---|---|---|---|---|---|"]
        for g in sorted(gates, key=lambda g: ("fail", "inconclusive", "pass").index(g.status)):
            lines.append(f"| {_BADGE[g.status]} | {_cell(g.probe)} | {_cell(g.metric)} | {_value(g)} | {g.threshold:g} | {g.mode} |")
        lines.append("")
    notes = [p for p in result.probes if p.status != "ok"]
    if notes:
        lines += ["### Probes not run", ""] + [f"- **{p.probe}** ({p.status}) — {_cell(p.headline)}" for p in notes] + [""]
    return "\n".join(lines)


def _badness(m: Metric) -> float | None:
    """The metric's value on a scale where larger is worse (None when it has no direction)."""
    if m.value is None or not math.isfinite(m.value):
        return None
    if m.ideal is not None:
        return abs(m.value - m.ideal)
    if m.higher_is_better is None:
        return None
    return -m.value if m.higher_is_better else m.value


def _direction(m: Metric) -> str:
    if m.ideal is not None:
        return f"further from {m.ideal:g}"
    return "lower" if m.higher_is_better else "higher"


def baseline_gates(result: AuditResult, baseline: AuditResult, tolerance: float, *, min_n: int = MIN_CASES) -> tuple[Gate, ...]:
    """One gate per metric with a direction present in both runs: fails when the metric moved in its bad
    direction by more than ``tolerance`` (in the metric's own units), whatever its absolute threshold
    says. Inconclusive when a run measured too few cases or the probe ran with other parameters."""
    if isinstance(tolerance, bool) or not isinstance(tolerance, (int, float)) or not math.isfinite(tolerance) or tolerance < 0:
        raise AuditError(f"the baseline tolerance must be a number of at least 0, got {tolerance!r}")
    before = {(p.probe, m.key): (p, m) for p in baseline.probes for m in p.metrics}
    return tuple(
        _regression_gate(probe, m, *before[(probe.probe, m.key)], float(tolerance), min_n)
        for probe in result.probes
        for m in probe.metrics
        if (probe.probe, m.key) in before and (m.ideal is not None or m.higher_is_better is not None)
    )


def _regression_gate(probe: ProbeResult, m: Metric, old_probe: ProbeResult, old: Metric, tolerance: float, min_n: int) -> Gate:
    what = f"{m.key} must not get {_direction(m)} than the baseline's by more than {tolerance:g}"

    def gate(status: str, reason: str) -> Gate:
        return Gate(probe.probe, m.key, tolerance, "point", status, m.value, m.ci, f"{what}: {reason}")  # type: ignore[arg-type]

    now, then = _badness(m), _badness(old)
    changed = sorted(k for k in set(probe.params) | set(old_probe.params)
                     if k != "thresholds" and probe.params.get(k) != old_probe.params.get(k))
    ns = [n for n in (m.n, old.n) if n is not None]
    if (m.ideal, m.higher_is_better) != (old.ideal, old.higher_is_better):
        return gate("inconclusive", "the baseline declared another direction for this metric, so the runs are not comparable")
    if now is None or then is None:
        return gate("inconclusive", f"no value in {'this run' if now is None else 'the baseline'}")
    if changed:
        return gate("inconclusive", f"the probe ran with other parameters ({', '.join(changed)}), so the runs are not comparable")
    if ns and min(ns) < min_n:
        return gate("inconclusive", f"only {min(ns)} cases (need {min_n}) — too few to decide")
    regression = now - then
    verdict = "fail" if regression > tolerance + 1e-12 else "pass"
    overlap = ""
    if m.ci and old.ci and None not in m.ci and None not in old.ci:
        apart = m.ci[0] > old.ci[1] or old.ci[0] > m.ci[1]
        overlap = "; the 95% intervals do not overlap" if apart else "; the 95% intervals overlap"
    change = f"worse by {regression:.4g}" if regression > 0 else f"better by {-regression:.4g}" if regression < 0 else "unchanged"
    return gate(verdict, f"{old.value:.4g} → {m.value:.4g} ({change}){overlap} → {verdict}")
