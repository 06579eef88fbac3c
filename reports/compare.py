"""``audit compare A.json B.json -o diff.html``: two runs metric by metric, regressions marked.

A is the reference (a baseline run, or the first model), B the candidate. Each metric's own notion of
good decides the direction: with an ``ideal`` (CrowS-Pairs' 50) the distance from it is what must not
grow; otherwise ``higher_is_better``. A change counts only beyond ``tolerance`` (absolute, in the
metric's unit); when both confidence intervals overlap, the row also says the change is within noise.
Exit code 1 when any metric regressed, 4 when the runs are not comparable (see audit.ci.comparability), so the
command can gate CI. The regression rule is the one of ``audit run --baseline`` (audit.ci.regression).
"""
from __future__ import annotations

import argparse
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from audit.ci import changed_params, comparability, regression
from audit.errors import AuditError
from audit.ranges import tolerance_arg
from audit.results import AuditResult, Metric, check_output, write_atomic
from reports import view
from reports.html import environment

DEFAULT_TOLERANCE = 0.02
"""Same default as ``audit run --baseline``."""


@dataclass(frozen=True)
class Row:
    probe: str
    metric: str
    a: Metric | None
    b: Metric | None
    status: str
    """regressed | improved | unchanged | changed (no direction) | only in A | only in B | not measured"""
    delta: float | None
    overlap: bool | None
    """Whether the two confidence intervals overlap (None when either is missing)."""

    @property
    def direction(self) -> str:
        m = self.a or self.b
        return view.direction(m) if m else "—"


def _finite(m: Metric | None) -> float | None:
    if m is None or not isinstance(m.value, (int, float)) or not math.isfinite(m.value):
        return None
    return float(m.value)


def classify(a: Metric | None, b: Metric | None, tolerance: float) -> tuple[str, float | None, bool | None]:
    """(status, delta B − A, whether the CIs overlap) for one metric, by the regression rule that
    `audit run --baseline` uses (audit.ci.regression)."""
    if a is None:
        return "only in B", None, None
    if b is None:
        return "only in A", None, None
    va, vb = _finite(a), _finite(b)
    if va is None or vb is None:
        return "not measured", None, None
    delta = vb - va
    overlap = None if a.ci is None or b.ci is None else not (a.ci[1] < b.ci[0] or b.ci[1] < a.ci[0])
    status, _ = regression(a, b, tolerance)
    if status == "no direction":
        return ("changed (no direction)" if abs(delta) > tolerance else "unchanged"), delta, overlap
    return status, delta, overlap


def compare(a: AuditResult, b: AuditResult, *, tolerance: float = DEFAULT_TOLERANCE) -> list[Row]:
    """Every metric of either run, matched by probe and metric key (name[group]). A probe that ran with other
    parameters (which decide its cases) in B than in A has its rows marked "not comparable"."""
    if not math.isfinite(tolerance) or tolerance < 0:
        raise AuditError(f"--tolerance must be a non-negative number, got {tolerance}")
    ma = {(p.probe, m.key): m for p in a.probes for m in p.metrics}
    mb = {(p.probe, m.key): m for p in b.probes for m in p.metrics}
    pa, pb = {p.probe: p for p in a.probes}, {p.probe: p for p in b.probes}
    other = {name for name in pa.keys() & pb.keys() if changed_params(pa[name], pb[name])}
    rows = []
    for key in list(dict.fromkeys([*ma, *mb])):
        status, delta, overlap = classify(ma.get(key), mb.get(key), tolerance)
        if key[0] in other and ma.get(key) and mb.get(key):
            status = "not comparable (other parameters)"
        rows.append(Row(key[0], key[1], ma.get(key), mb.get(key), status, delta, overlap))
    return rows


def gate_changes(a: AuditResult, b: AuditResult) -> list[tuple[str, str, str, str]]:
    """(probe, metric, status in A, status in B) for every gate whose status differs."""
    ga = {(g.probe, g.metric): g.status for g in a.gates}
    gb = {(g.probe, g.metric): g.status for g in b.gates}
    return [(k[0], k[1], ga.get(k, "—"), gb.get(k, "—")) for k in dict.fromkeys([*ga, *gb]) if ga.get(k) != gb.get(k)]


def render_compare(a: AuditResult, b: AuditResult, *, tolerance: float = DEFAULT_TOLERANCE,
                   names: tuple[str, str] = ("A", "B")) -> str:
    """The comparison as one self-contained HTML page (same safety rules as the report)."""
    rows = compare(a, b, tolerance=tolerance)
    counts = {s: sum(r.status == s for r in rows) for s in ("regressed", "improved", "unchanged")}
    problems, notes = comparable(a, b, rows)
    return environment().get_template("compare.html.j2").render(
        a=a, b=b, names=names, rows=rows, counts=counts, tolerance=tolerance, gate_changes=gate_changes(a, b),
        fmt_ci=view.fmt_ci, problems=problems, notes=notes,
    )


def comparable(a: AuditResult, b: AuditResult, rows: list[Row]) -> tuple[list[str], list[str]]:
    """(problems, notes) of comparing the runs (audit.ci.comparability), plus probes run with other parameters."""
    problems, notes = comparability(a, b)
    other = sorted({r.probe for r in rows if r.status.startswith("not comparable")})
    if other:
        problems.append(f"other probe parameters in {', '.join(other)}")
    return problems, notes


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``audit compare`` on the CLI's subparsers (the CLI sets ``main`` as the handler)."""
    p = subparsers.add_parser("compare", help="compare two results.json files metric by metric; exit 1 on a regression")
    p.add_argument("a", metavar="A.json", help="reference run (a baseline, or the first model)")
    p.add_argument("b", metavar="B.json", help="candidate run")
    p.add_argument("-o", "--output", default="diff.html", help="HTML file to write (default diff.html)")
    p.add_argument("--tolerance", type=tolerance_arg, default=DEFAULT_TOLERANCE,
                   help=f"absolute change allowed before a metric counts as regressed (default {DEFAULT_TOLERANCE})")
    return p


def main(args: argparse.Namespace) -> int:
    """Write the comparison; 0 when nothing regressed, 1 when a metric did, 4 when the runs are not comparable
    (another task, labels, input limit, seed, toolkit version or probe parameters): that is not a pass."""
    a, b = AuditResult.load(args.a), AuditResult.load(args.b)
    check_output(args.output, what="-o", inputs=[args.a, args.b])  # `compare A B -o B` would destroy B
    out = Path(args.output)
    rows = compare(a, b, tolerance=args.tolerance)
    write_atomic(out, render_compare(a, b, tolerance=args.tolerance, names=(Path(args.a).name, Path(args.b).name)))
    regressed = [r for r in rows if r.status == "regressed"]
    for r in regressed:
        print(f"  REGRESSED {r.probe} {r.metric}: {view.fmt(_finite(r.a))} → {view.fmt(_finite(r.b))} ({r.direction})")
    problems, notes = comparable(a, b, rows)
    print(f"{len(regressed)} regressed, {sum(r.status == 'improved' for r in rows)} improved, "
          f"{sum(r.status == 'unchanged' for r in rows)} unchanged of {len(rows)} metrics; wrote {out}")
    for note in notes:
        print(f"  note: {note}")
    if regressed:
        return 1
    if problems:
        print(f"not comparable: {'; '.join(problems)} — not a pass (exit 4)")
        return 4
    return 0
