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
from dataclasses import dataclass, replace

import numpy as np

from audit.errors import AuditError
from audit.gates import Threshold, badness, badness_interval, direction, worst
from audit.ranges import DEFAULT_TOLERANCE
from audit.results import AuditResult, Gate, Metric, ProbeResult
from audit.stats import CONFIDENCE, MIN_CASES

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


N_RESAMPLES = 2000


@dataclass(frozen=True)
class Change:
    """How much worse a metric got than the baseline's, by the one regression rule (:func:`regression`)."""

    status: str
    """regressed | improved | unchanged | inconclusive | not comparable | no direction | not measured"""
    change: float | None
    """badness(new) − badness(old): positive is worse (see audit.gates.badness)."""
    ci: tuple[float, float] | None
    how: str
    """How the interval was found: paired over the cases, from the two intervals, or point estimates only."""

    @property
    def verdict(self) -> str:
        """The gate verdict: fail on a regression, pass when the evidence shows no regression beyond the
        tolerance, inconclusive otherwise (never a pass for runs that cannot be compared)."""
        return {"regressed": "fail", "improved": "pass", "unchanged": "pass"}.get(self.status, "inconclusive")


def paired_change(old: np.ndarray, new: np.ndarray, ideal: float | None, higher_is_better: bool | None, *,
                  confidence: float = CONFIDENCE, n_resamples: int = N_RESAMPLES, seed: int = 0) -> tuple[float, tuple[float, float]]:
    """(change, percentile-bootstrap interval) of badness(mean new) − badness(mean old) over cases matched by
    id: the same resampled cases enter both means, so what the two runs share (hard cases, easy cases) cancels
    and only the model's change is left — far narrower than two independent intervals when runs correlate."""
    point = float(badness(new.mean(), ideal, higher_is_better) - badness(old.mean(), ideal, higher_is_better))
    rng = np.random.default_rng(seed)
    draws: list[np.ndarray] = []
    chunk = max(1, 2_000_000 // max(1, old.size))  # bounded memory for large case sets
    for done in range(0, n_resamples, chunk):
        idx = rng.integers(0, old.size, size=(min(chunk, n_resamples - done), old.size))
        draws.append(np.asarray(badness(new[idx].mean(axis=1), ideal, higher_is_better))
                     - np.asarray(badness(old[idx].mean(axis=1), ideal, higher_is_better)))
    alpha = (1.0 - confidence) / 2.0
    low, high = np.quantile(np.concatenate(draws), [alpha, 1.0 - alpha])
    return point, (min(float(low), point), max(float(high), point))


def _unpaired_change(old: Metric, new: Metric) -> tuple[float, tuple[float, float] | None]:
    """Change and interval from the two runs' own intervals, as if independent (MOVER: Zou & Donner 2008):
    each side of the difference widens by the two matching half-widths in quadrature. None without intervals."""
    pn, ln, hn = badness_interval(new)
    po, lo, ho = badness_interval(old)
    change = pn - po
    if old.ci is None or new.ci is None or None in old.ci or None in new.ci:
        return change, None
    return change, (change - math.hypot(pn - ln, ho - po), change + math.hypot(hn - pn, po - lo))


def _per_case_values(cases: dict[str, float] | None, metric: Metric) -> dict[str, float] | None:
    """The per-case values of a metric when they describe it (their mean is its value), else None."""
    if not cases or metric.value is None:
        return None
    mean = sum(cases.values()) / len(cases)
    return cases if abs(mean - metric.value) <= 1e-6 * max(1.0, abs(metric.value)) else None


def regression(old: Metric, new: Metric, tolerance: float = DEFAULT_TOLERANCE, *,
               old_cases: dict[str, float] | None = None, new_cases: dict[str, float] | None = None) -> Change:
    """The one regression rule, for `audit run --baseline`, `audit gate --baseline` and `audit compare`.

    The change is badness(new) − badness(old) (audit.gates.badness: larger is worse). With per-case values in
    both runs (case id → value, averaging to the metric), its 95% interval is a paired bootstrap over the cases
    matched by id; cases that differ make the runs "not comparable". Without them, the interval comes from the
    two metrics' own intervals (unpaired, much wider); without intervals, the point estimates alone decide.
    regressed: the whole interval is above ``tolerance``; improved: the whole interval is below −tolerance;
    unchanged: it lies within [−tolerance, tolerance] (or below −tolerance in part); inconclusive otherwise."""
    if (new.ideal, new.higher_is_better) != (old.ideal, old.higher_is_better):
        return Change("not comparable", None, None, "the runs declare another direction for this metric")
    finite = [m.value is not None and math.isfinite(m.value) for m in (old, new)]
    if not all(finite):
        return Change("not measured", None, None, f"no value in {'the baseline' if not finite[0] else 'this run'}")
    if new.ideal is None and new.higher_is_better is None:
        return Change("no direction", None, None, "the metric declares no direction")
    a, b = _per_case_values(old_cases, old), _per_case_values(new_cases, new)
    if a is not None and b is not None:
        if a.keys() != b.keys():
            only_a, only_b = len(a.keys() - b.keys()), len(b.keys() - a.keys())
            return Change("not comparable", None, None, f"the case sets differ ({only_a} cases only in the baseline, "
                                                       f"{only_b} only in this run)")
        ids = sorted(a)
        change, ci = paired_change(np.array([a[i] for i in ids]), np.array([b[i] for i in ids]), new.ideal,
                                   new.higher_is_better)
        how: str = f"paired over {len(ids)} cases"
        interval: tuple[float, float] | None = ci
    else:
        change, interval = _unpaired_change(old, new)
        how = ("unpaired: no per-case values, interval from the two 95% intervals" if interval is not None
               else "point estimates only: no per-case values or intervals")
    low, high = interval if interval is not None else (change, change)
    eps = 1e-12
    if low > tolerance + eps:
        status = "regressed"
    elif high < -tolerance - eps:
        status = "improved"
    elif high <= tolerance + eps:
        status = "unchanged"
    else:
        status = "inconclusive"
    return Change(status, change, interval, how)


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


def baseline_gates(result: AuditResult, baseline: AuditResult, tolerance: float = DEFAULT_TOLERANCE, *,
                   min_n: int = MIN_CASES) -> tuple[Gate, ...]:
    """One gate per metric with a direction present in both runs, by the rule of :func:`regression`: fails when
    the interval of the change lies wholly beyond ``tolerance`` (in the metric's own units), passes when it lies
    wholly within, inconclusive otherwise. Inconclusive — not a pass — when the runs are not comparable (see
    :func:`comparability`), the probe ran with other parameters or on other cases, or a run measured too few."""
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


def metric_change(old_probe: ProbeResult, old: Metric, new_probe: ProbeResult, new: Metric,
                  tolerance: float = DEFAULT_TOLERANCE) -> Change:
    """:func:`regression` of one metric of two probe results, with the per-case values each recorded."""
    return regression(old, new, tolerance, old_cases=old_probe.per_case.get(old.key),
                      new_cases=new_probe.per_case.get(new.key))


def _regression_gate(probe: ProbeResult, m: Metric, old_probe: ProbeResult, old: Metric, tolerance: float, min_n: int,
                     problems: list[str]) -> Gate:
    what = f"{m.key} must not get {direction(m)} than the baseline's by more than {tolerance:g}"

    def gate(status: str, reason: str, found: Change | None = None) -> Gate:
        value, ci = (found.change, found.ci) if found else (None, None)
        return Gate(probe.probe, m.key, tolerance, "ci", status, value, ci, f"{what}: {reason} → {status}")  # type: ignore[arg-type]

    changed = changed_params(old_probe, probe)
    ns = [n for n in (m.n, old.n) if n is not None]
    if problems:
        return gate("inconclusive", f"not comparable: {'; '.join(problems)}")
    if changed:
        return gate("inconclusive", f"not comparable: the probe ran with other parameters ({', '.join(changed)})")
    found = metric_change(old_probe, old, probe, m, tolerance)
    if found.status in ("no direction", "not measured", "not comparable"):
        return gate("inconclusive", ("not comparable: " if found.status == "not comparable" else "") + found.how)
    if ns and min(ns) < min_n:
        return gate("inconclusive", f"only {min(ns)} cases (need {min_n}) — too few to decide", found)
    assert found.change is not None
    words = f"worse by {found.change:.4g}" if found.change > 0 else f"better by {-found.change:.4g}" if found.change < 0 else "unchanged"
    ci = f" [{found.ci[0]:.4g}, {found.ci[1]:.4g}]" if found.ci else ""
    return gate(found.verdict, f"{old.value:.4g} → {m.value:.4g} ({words}{ci}; {found.how}; {found.status})", found)


def with_baseline(result: AuditResult, baseline: AuditResult, tolerance: float = DEFAULT_TOLERANCE, name: str = "baseline") -> AuditResult:
    """The result with a "baseline" pseudo-probe holding the regression gates (as `audit run --baseline` writes it)."""
    gates = baseline_gates(result, baseline, tolerance)
    problems, notes = comparability(baseline, result)
    if problems:
        headline = f"Not comparable with the baseline {name}: {'; '.join(problems)}. Its gates are inconclusive, not a pass."
    else:
        paired = sum("; paired over " in g.reason for g in gates)
        apart = sum("not comparable: " in g.reason for g in gates)
        unsure = sum(g.status == "inconclusive" for g in gates)
        headline = (f"{sum(g.status == 'fail' for g in gates)} of {len(gates)} metrics regressed beyond {tolerance:g} "
                    f"against {name}, {unsure} inconclusive"
                    + (f" ({apart} not comparable: other probe parameters or case sets)" if apart else "")
                    + f"; {paired} compared paired over their cases, {len(gates) - paired - apart} without per-case values"
                    + (f" ({'; '.join(notes)})" if notes else "") + ".")
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
