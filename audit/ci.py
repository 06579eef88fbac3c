"""CI outputs and verdicts: JUnit XML (one test case per gate), a Markdown job summary, the exit code of a
run, regression gates against a baseline run (the one regression rule that `audit compare` uses too), the
check that two runs are comparable at all, and re-gating saved results (`audit gate`).

CI systems already know how to show JUnit failures and Markdown summaries, so a failing gate appears
where engineers look, with the gate's own reason as the message. An inconclusive gate is not a success
anywhere: a JUnit failure, exit code 4, a pytest failure — unless the user allows it as a warning.
"""
from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET
from dataclasses import replace

from audit.errors import AuditError
from audit.gates import Threshold, worst
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


def junit_xml(result: AuditResult, *, allow_inconclusive: bool = False) -> str:
    """JUnit XML: a test suite per probe, a test case per gate; a failed gate is a <failure> with the gate's
    reason, an inconclusive one also a <failure> (type GateInconclusive: not a pass, and not a skip), or a
    passing case with a warning in <system-out> when ``allow_inconclusive``; a probe that crashed an <error>."""
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
            if gate.status == "inconclusive" and allow_inconclusive:
                ET.SubElement(case, "system-out").text = _x(f"WARNING inconclusive (allowed): {gate.reason}")
            elif gate.status in ("fail", "inconclusive"):
                detail = f"{gate.probe}: {gate.reason}\n{probe.headline}"
                kind = "GateFailed" if gate.status == "fail" else "GateInconclusive"
                ET.SubElement(case, "failure", message=_x(gate.reason), type=kind).text = _x(detail)
                counts["failures"] += 1
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


def markdown_summary(result: AuditResult, *, allow_inconclusive: bool = False) -> str:
    """A Markdown summary for a CI job page: the verdict first (the same one `audit run` exits with), failed and
    inconclusive gates with their reasons, then every gate in a table."""
    gates = result.gates
    fails = [g for g in gates if g.status == "fail"]
    unsure = [g for g in gates if g.status == "inconclusive"]
    passed = len(gates) - len(fails) - len(unsure)
    if fails:
        verdict = f"❌ {len(fails)} of {len(gates)} gates failed"
    elif not gates:
        verdict = "⚠️ no gates were evaluated"
    elif unsure:
        verdict = (f"⚠️ {len(unsure)} of {len(gates)} gates inconclusive "
                   + ("(allowed as a warning)" if allow_inconclusive else "— not a pass (exit 4)"))
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
        lines += ["### Inconclusive gates (the evidence neither passes nor fails them; not a pass)", ""]
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


EXIT_OK, EXIT_GATE_FAILED, EXIT_INCONCLUSIVE = 0, 1, 4


def exit_code(result: AuditResult, *, allow_inconclusive: bool = False) -> int:
    """The verdict of a whole run as an exit code: 1 when a gate fails, else 4 when one is inconclusive (0 with
    ``allow_inconclusive``), else 0. The CLI, `audit gate` and the Markdown summary all use this rule."""
    status = worst(g.status for g in result.gates)
    if status == "fail":
        return EXIT_GATE_FAILED
    if status == "inconclusive" and not allow_inconclusive:
        return EXIT_INCONCLUSIVE
    return EXIT_OK


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


def regression(old: Metric, new: Metric, tolerance: float) -> tuple[str, float | None]:
    """The one regression rule, for `audit run --baseline` and `audit compare`: (status, change), where change
    is how much worse ``new`` is than ``old`` by the metric's own notion of good (its distance from the ideal,
    or its value in the bad direction) and status is regressed (change > tolerance), improved
    (change < −tolerance), unchanged, "no direction" or "not measured"."""
    if (new.ideal, new.higher_is_better) != (old.ideal, old.higher_is_better):
        return "no direction", None
    now, then = _badness(new), _badness(old)
    if now is None or then is None:
        both = all(m.value is not None and math.isfinite(m.value) for m in (old, new))
        return ("no direction" if both else "not measured"), None
    change = now - then
    if change > tolerance + 1e-12:
        return "regressed", change
    if change < -tolerance - 1e-12:
        return "improved", change
    return "unchanged", change


_RUN_KEYS = (("task", "task"), ("labels", "labels"), ("max_length", "input length limit"))
_CASE_PARAMS_IGNORED = ("thresholds",)


def comparability(before: AuditResult, after: AuditResult) -> tuple[list[str], list[str]]:
    """(problems, notes) of comparing two runs. Problems make the runs incomparable — not a pass: another
    task, labels or input length limit, seed or toolkit version (which decide the cases each probe builds).
    Notes are said but allowed: another model fingerprint is what a regression check compares (the same
    fingerprint with the same cases gives the same outputs)."""
    problems, notes = [], []
    for key, words in _RUN_KEYS:
        a, b = getattr(before.model, key), getattr(after.model, key)
        if a != b:
            problems.append(f"{words} {_short(a)} → {_short(b)}")
    for key, words in (("seed", "seed"),):
        a, b = before.environment.get(key), after.environment.get(key)
        if a != b:
            problems.append(f"{words} {a} → {b}")
    va, vb = (r.environment.get("packages", {}).get("transformer-audit") for r in (before, after))
    if va != vb:
        problems.append(f"toolkit version {va} → {vb} (its probes may build other cases)")
    if before.model.fingerprint != after.model.fingerprint:
        notes.append(f"another model: fingerprint {before.model.fingerprint[:12]} → {after.model.fingerprint[:12]}")
    return problems, notes


def _short(value: object) -> str:
    text = ", ".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value)
    return text if len(text) <= 40 else text[:37] + "…"


def changed_params(before: ProbeResult, after: ProbeResult) -> list[str]:
    """Probe parameters (those that decide the cases: all but thresholds) that differ between two runs."""
    return sorted(k for k in set(before.params) | set(after.params)
                  if k not in _CASE_PARAMS_IGNORED and before.params.get(k) != after.params.get(k))


def baseline_gates(result: AuditResult, baseline: AuditResult, tolerance: float, *, min_n: int = MIN_CASES) -> tuple[Gate, ...]:
    """One gate per metric with a direction present in both runs: fails when the metric regressed (the one
    rule of :func:`regression`) by more than ``tolerance`` (in the metric's own units), whatever its absolute
    threshold says. Inconclusive — not a pass — when the runs are not comparable (see :func:`comparability`),
    the probe ran with other parameters, or a run measured too few cases."""
    if isinstance(tolerance, bool) or not isinstance(tolerance, (int, float)) or not math.isfinite(tolerance) or tolerance < 0:
        raise AuditError(f"the baseline tolerance must be a number of at least 0, got {tolerance!r}")
    problems, _ = comparability(baseline, result)
    before = {(p.probe, m.key): (p, m) for p in baseline.probes for m in p.metrics}
    return tuple(
        _regression_gate(probe, m, *before[(probe.probe, m.key)], float(tolerance), min_n, problems)
        for probe in result.probes
        for m in probe.metrics
        if (probe.probe, m.key) in before and (m.ideal is not None or m.higher_is_better is not None)
    )


def _regression_gate(probe: ProbeResult, m: Metric, old_probe: ProbeResult, old: Metric, tolerance: float, min_n: int,
                     problems: list[str]) -> Gate:
    what = f"{m.key} must not get {_direction(m)} than the baseline's by more than {tolerance:g}"

    def gate(status: str, reason: str) -> Gate:
        return Gate(probe.probe, m.key, tolerance, "point", status, m.value, m.ci, f"{what}: {reason}")  # type: ignore[arg-type]

    changed = changed_params(old_probe, probe)
    ns = [n for n in (m.n, old.n) if n is not None]
    if problems:
        return gate("inconclusive", f"the runs are not comparable ({'; '.join(problems)}) → inconclusive")
    if changed:
        return gate("inconclusive", f"the probe ran with other parameters ({', '.join(changed)}), so the runs are not comparable → inconclusive")
    status, change = regression(old, m, tolerance)
    if status == "no direction":
        return gate("inconclusive", "the baseline declared another direction for this metric, so the runs are not comparable → inconclusive")
    if change is None:
        return gate("inconclusive", f"no value in {'this run' if _badness(m) is None else 'the baseline'} → inconclusive")
    if ns and min(ns) < min_n:
        return gate("inconclusive", f"only {min(ns)} cases (need {min_n}) — too few to decide → inconclusive")
    verdict = "fail" if status == "regressed" else "pass"
    overlap = ""
    if m.ci and old.ci and None not in m.ci and None not in old.ci:
        apart = m.ci[0] > old.ci[1] or old.ci[0] > m.ci[1]
        overlap = "; the 95% intervals do not overlap" if apart else "; the 95% intervals overlap"
    words = f"worse by {change:.4g}" if change > 0 else f"better by {-change:.4g}" if change < 0 else "unchanged"
    return gate(verdict, f"{old.value:.4g} → {m.value:.4g} ({words}){overlap} → {verdict}")


def with_baseline(result: AuditResult, baseline: AuditResult, tolerance: float, name: str) -> AuditResult:
    """The result with a "baseline" pseudo-probe holding the regression gates (as `audit run --baseline` writes it)."""
    gates = baseline_gates(result, baseline, tolerance)
    problems, notes = comparability(baseline, result)
    if problems:
        headline = f"Not comparable with the baseline {name}: {'; '.join(problems)}. Its gates are inconclusive, not a pass."
    else:
        headline = (f"{sum(g.status == 'fail' for g in gates)} of {len(gates)} metrics regressed beyond {tolerance:g} "
                    f"against {name}" + (f" ({'; '.join(notes)})" if notes else "") + ".")
    probe = ProbeResult(probe="baseline", suite="baseline", title="Regression against the baseline run",
                        headline=headline, gates=gates)
    return AuditResult(**{**result.__dict__, "probes": tuple(p for p in result.probes if p.probe != "baseline") + (probe,)})


def regate(result: AuditResult, thresholds: dict[str, list[Threshold]] | None = None) -> AuditResult:
    """The saved result gated again, as `audit run` would gate it now: with ``thresholds`` (a config's, per
    probe), else with the thresholds the run recorded in its probe parameters, else each probe's defaults.
    Probes that did not run keep no gates; a previous baseline comparison is dropped (add one again)."""
    from probes.base import registry

    reg = registry()
    for name in thresholds or {}:
        if not any(p.probe == name and p.status == "ok" for p in result.probes):
            from audit.errors import unknown_name

            raise unknown_name("probe with results to gate", name, [p.probe for p in result.probes if p.status == "ok"])
    probes = []
    for p in result.probes:
        if p.probe == "baseline":
            continue
        if p.status == "ok" and p.probe in reg:
            chosen = (thresholds or {}).get(p.probe)
            if chosen is None and p.params.get("thresholds") is not None:
                chosen = [Threshold(**t) for t in p.params["thresholds"]]
            p = replace(p, gates=reg[p.probe].gates_for(p.metrics, chosen))
        probes.append(p)
    return replace(result, probes=tuple(probes))
