"""``audit compare A.json B.json -o diff.html``: two runs metric by metric, regressions marked.

A is the reference (a baseline run, or the first model), B the candidate. Every metric is classified by
the one regression rule of ``audit run --baseline`` (audit.ci.regression): the interval of the change in
the metric's badness — paired over the cases both runs share when they recorded per-case values — against
``tolerance``. Exit code 1 when any metric regressed, 4 when the runs are not comparable (see
audit.ci.comparability) or a change is inconclusive, so the command can gate CI.
"""
from __future__ import annotations

import argparse
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from audit.ci import Change, changed_params, comparability, metric_change
from audit.errors import AuditError
from audit.ranges import DEFAULT_TOLERANCE, tolerance_arg
from audit.results import AuditResult, Metric, check_output, write_atomic
from reports import view
from reports.html import environment


@dataclass(frozen=True)
class Row:
    probe: str
    metric: str
    a: Metric | None
    b: Metric | None
    status: str
    """regressed | improved | unchanged | inconclusive | not comparable | changed (no direction) | only in A |
    only in B | not measured"""
    delta: float | None
    change: Change | None = None
    """The regression rule's finding (None for a metric in one run only)."""

    @property
    def direction(self) -> str:
        m = self.a or self.b
        return view.direction(m) if m else "—"


def _finite(m: Metric | None) -> float | None:
    if m is None or not isinstance(m.value, (int, float)) or not math.isfinite(m.value):
        return None
    return float(m.value)


def compare(a: AuditResult, b: AuditResult, *, tolerance: float = DEFAULT_TOLERANCE) -> list[Row]:
    """Every metric of either run, matched by probe and metric key (name[group]), classified by the regression
    rule (audit.ci.regression). A probe that ran with other parameters (which decide its cases) in B than in A
    has its rows marked "not comparable"."""
    if not math.isfinite(tolerance) or tolerance < 0:
        raise AuditError(f"--tolerance must be a non-negative number, got {tolerance}")
    ma = {(p.probe, m.key): (p, m) for p in a.probes for m in p.metrics}
    mb = {(p.probe, m.key): (p, m) for p in b.probes for m in p.metrics}
    pa, pb = {p.probe: p for p in a.probes}, {p.probe: p for p in b.probes}
    other = {name for name in pa.keys() & pb.keys() if changed_params(pa[name], pb[name])}
    rows = []
    for key in list(dict.fromkeys([*ma, *mb])):
        ra, rb = ma.get(key), mb.get(key)
        if ra is None or rb is None:
            rows.append(Row(key[0], key[1], ra and ra[1], rb and rb[1], "only in B" if ra is None else "only in A", None))
            continue
        (probe_a, a_), (probe_b, b_) = ra, rb
        found = metric_change(probe_a, a_, probe_b, b_, tolerance)
        va, vb = _finite(a_), _finite(b_)
        delta = None if va is None or vb is None else vb - va
        status = found.status
        if status == "no direction" and delta is not None:
            status = "changed (no direction)" if abs(delta) > tolerance else "unchanged"
        if key[0] in other:
            status = "not comparable (other parameters)"
        rows.append(Row(key[0], key[1], a_, b_, status, delta, found))
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
    counts = {s: sum(r.status == s for r in rows) for s in ("regressed", "improved", "unchanged", "inconclusive")}
    problems, notes = comparable(a, b, rows)
    return environment().get_template("compare.html.j2").render(
        a=a, b=b, names=names, rows=rows, counts=counts, tolerance=tolerance, gate_changes=gate_changes(a, b),
        fmt_ci=view.fmt_ci, problems=problems, notes=notes,
    )


def comparable(a: AuditResult, b: AuditResult, rows: list[Row]) -> tuple[list[str], list[str]]:
    """(problems, notes) of comparing the runs (audit.ci.comparability), plus probes run with other parameters."""
    problems, notes = comparability(a, b)
    other = sorted({r.probe for r in rows if r.status == "not comparable (other parameters)"})
    if other:
        problems.append(f"other probe parameters in {', '.join(other)}")
    problems += [f"{r.probe} {r.metric}: {r.change.how}" for r in rows if r.status == "not comparable" and r.change]
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
    (another task, labels, input limit, seed, toolkit version, probe parameters or case sets) or a change is
    inconclusive: that is not a pass."""
    a, b = AuditResult.load(args.a), AuditResult.load(args.b)
    check_output(args.output, what="-o", inputs=[args.a, args.b])  # `compare A B -o B` would destroy B
    out = Path(args.output)
    rows = compare(a, b, tolerance=args.tolerance)
    write_atomic(out, render_compare(a, b, tolerance=args.tolerance, names=(Path(args.a).name, Path(args.b).name)))
    regressed = [r for r in rows if r.status == "regressed"]
    for r in regressed:
        print(f"  REGRESSED {r.probe} {r.metric}: {view.fmt(_finite(r.a))} → {view.fmt(_finite(r.b))} ({r.direction})")
    problems, notes = comparable(a, b, rows)
    unsure = [r for r in rows if r.status == "inconclusive"]
    paired = sum(1 for r in rows if r.change and r.change.how.startswith("paired") and not r.status.startswith("not comparable"))
    print(f"{len(regressed)} regressed, {sum(r.status == 'improved' for r in rows)} improved, "
          f"{sum(r.status == 'unchanged' for r in rows)} unchanged, {len(unsure)} inconclusive of {len(rows)} metrics "
          f"({paired} paired over their cases); wrote {out}")
    for note in notes:
        print(f"  note: {note}")
    if regressed:
        return 1
    if problems:
        shown = problems[:3] + ([f"and {len(problems) - 3} more"] if len(problems) > 3 else [])
        print(f"not comparable: {'; '.join(shown)} — not a pass (exit 4)")
        return 4
    if unsure:
        print(f"{len(unsure)} changes inconclusive (their interval straddles the tolerance) — not a pass (exit 4)")
        return 4
    return 0
