"""What a report says, worked out once from an ``AuditResult`` for both the HTML and the Markdown.

Only reads results: model details, the gate summary and a plain-language line per suite, the
limitations that this run itself shows (warnings, small samples, skipped probes, truncation in force),
and the reproducibility facts. Formatting of numbers lives here too so both formats agree.
"""
from __future__ import annotations

import json
import math
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Literal

from audit.results import AuditResult, Metric, ProbeResult
from audit.stats import MIN_CASES
from reports.charts import chart_table

STATUSES = ("pass", "fail", "inconclusive")


def fmt(value: Any) -> str:
    """A cell: numbers to 4 significant digits, missing or non-finite values as an em dash."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return f"{value:.4g}" if math.isfinite(value) else "—"
    if isinstance(value, (list, tuple, dict)):
        return json.dumps(value, ensure_ascii=False, default=str)
    return str(value)


def fmt_ci(ci: Any) -> str:
    if not ci or len(ci) != 2 or any(not isinstance(c, (int, float)) or not math.isfinite(c) for c in ci):
        return "—"
    return f"[{ci[0]:.4g}, {ci[1]:.4g}]"


def fmt_p(p: Any) -> str:
    if not isinstance(p, (int, float)) or not math.isfinite(p):
        return "—"
    return "< 0.001" if p < 0.001 else f"{p:.3g}"


def direction(metric: Metric) -> str:
    if metric.ideal is not None:
        return f"ideal {metric.ideal:g}"
    if metric.higher_is_better is True:
        return "higher is better"
    if metric.higher_is_better is False:
        return "lower is better"
    return "descriptive"


def human_count(n: int) -> str:
    for size, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if n >= size:
            return f"{n / size:.1f} {suffix} ({n:,})"
    return str(n)


def slug(text: str) -> str:
    """A safe file-name or anchor fragment: letters, digits, dot, dash, underscore; never leading dots."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip(".-") or "x"


@dataclass(frozen=True)
class DataFile:
    """A per-case file beside the report: a probe's table (CSV), its telling cases or all explanations (JSONL)."""

    probe: str
    kind: Literal["table", "cases", "explanations", "metrics", "chart"]
    name: str
    path: str

    @property
    def label(self) -> str:
        return {"table": f"{self.probe}: table {self.name}", "cases": f"{self.probe}: worst cases",
                "explanations": "attributions of the worst cases", "metrics": f"{self.probe}: every metric",
                "chart": f"{self.probe}: data of chart {self.name}"}[self.kind]


MAX_METRICS_SHOWN = 5
"""Metrics listed in a probe's section (its gates table has every gated one); a probe with more gets all of
them in a data file."""
MAX_CHART_ROWS = 5
"""Rows of a chart's text-alternative table shown in the page; a chart with more gets its data in a data file."""


def data_files(result: AuditResult) -> list[DataFile]:
    """The per-case files of a result, with relative paths under ``data/``.

    Names come from probe and table names (data), so they are reduced to safe characters and de-duplicated:
    a table called ``../../x`` stays inside ``data/``.
    """
    files: list[DataFile] = []
    taken: set[str] = set()

    def add(probe: str, kind: Literal["table", "cases", "explanations", "metrics", "chart"], name: str, base: str, ext: str) -> None:
        stem, k = base, 1
        while stem.lower() in taken:
            k += 1
            stem = f"{base}-{k}"
        taken.add(stem.lower())
        files.append(DataFile(probe, kind, name, f"data/{stem}.{ext}"))

    for p in result.probes:
        if len(p.metrics) > MAX_METRICS_SHOWN:
            add(p.probe, "metrics", "", f"{slug(p.probe)}.metrics", "csv")
        for table, rows in p.tables.items():
            if rows:
                add(p.probe, "table", table, f"{slug(p.probe)}.{slug(table)}", "csv")
        for i, chart in enumerate(p.charts):
            if len(chart_table(chart)[1]) > MAX_CHART_ROWS:
                add(p.probe, "chart", str(i + 1), f"{slug(p.probe)}.chart-{i + 1}", "csv")
        if p.cases:
            add(p.probe, "cases", "", f"{slug(p.probe)}.cases", "jsonl")
    if result.explanations:
        add("", "explanations", "", "explanations", "jsonl")
    return files


def model_details(result: AuditResult) -> list[tuple[str, str]]:
    m = result.model
    rows = [
        ("Model", m.spec),
        ("Source", f"{m.source}: {m.path}" if m.path else m.source),
        ("Revision", m.revision or "not recorded"),
        ("Weights SHA-256", m.weights_sha256 or "not recorded"),
        ("Fingerprint", m.fingerprint),
        ("Task", m.task),
        ("Architecture", m.architecture),
        ("Parameters", human_count(m.parameters) if isinstance(m.parameters, int) else fmt(m.parameters)),
        ("Maximum length in force", f"{m.max_length} tokens (longer inputs are truncated unless a probe says otherwise)"),
        ("Tokenizer", f"{m.tokenizer}, vocabulary of {m.vocab_size:,}" if isinstance(m.vocab_size, int) else m.tokenizer),
        ("Labels", ", ".join(m.labels) if m.labels else "—"),
        ("Licence", m.license or "not declared by the model"),
        ("Precision and device", f"{m.dtype} on {m.device}"),
        ("Intended use", str(result.config.get("intended_use") or "not stated in the audit configuration")),
    ]
    if m.provenance:
        rows.append(("Provenance", m.provenance))
    if m.head:
        rows.append(("Head", m.head))
    if m.missing_weights or m.unexpected_weights:
        rows.append(("Weights not matching the architecture", "missing: " + (", ".join(m.missing_weights) or "none")
                     + "; unexpected: " + (", ".join(m.unexpected_weights) or "none")))
    return rows


@dataclass
class SuiteSummary:
    suite: str
    probes: list[ProbeResult]
    counts: dict[str, int]
    sentence: str


def suite_summaries(result: AuditResult) -> list[SuiteSummary]:
    """One plain-language line per suite: how many probes ran and what the gates said."""
    by_suite: dict[str, list[ProbeResult]] = {}
    for p in result.probes:
        by_suite.setdefault(p.suite or "other", []).append(p)
    out = []
    for suite, probes in by_suite.items():
        counts: Counter[str] = Counter(g.status for p in probes for g in p.gates)
        ran = [p for p in probes if p.status == "ok"]
        parts = [f"{len(ran)} of {len(probes)} probe{'s' if len(probes) != 1 else ''} ran"]
        if sum(counts.values()):
            failing = sorted({f"{g.probe} {g.metric}" for p in probes for g in p.gates if g.status == "fail"})
            gate_text = f"{counts['pass']} gate{'s' if counts['pass'] != 1 else ''} passed, {counts['fail']} failed, {counts['inconclusive']} inconclusive"
            if failing:
                gate_text += " (failed: " + ", ".join(failing[:4]) + (", …" if len(failing) > 4 else "") + ")"
            parts.append(gate_text)
        else:
            parts.append("no gates were set, so nothing was judged pass or fail")
        verdict = "fails" if counts["fail"] else ("is inconclusive" if counts["inconclusive"] else ("passes" if counts["pass"] else "is descriptive only"))
        out.append(SuiteSummary(suite, probes, {s: counts[s] for s in STATUSES}, f"The {suite} suite {verdict}: " + "; ".join(parts) + "."))
    return out


@dataclass
class Limitations:
    """Caveats drawn from this run; ``card`` holds the probes' standing limits by probe."""

    run: list[str] = field(default_factory=list)
    not_run: list[str] = field(default_factory=list)
    warnings: list[tuple[str, str]] = field(default_factory=list)
    small: list[tuple[str, str]] = field(default_factory=list)
    card: list[tuple[str, str]] = field(default_factory=list)


def limitations(result: AuditResult) -> Limitations:
    lim = Limitations()
    lim.run.append(
        f"Inputs longer than {result.model.max_length} tokens were truncated to that length (the limit in force for "
        f"this model) unless a probe states another strategy; anything past it was not seen by the model."
    )
    for p in result.probes:
        if p.status == "skipped":
            lim.not_run.append(f"{p.probe} was skipped: {p.headline.removeprefix('Skipped: ')}")
        elif p.status == "error":
            lim.not_run.append(f"{p.probe} failed and reports nothing: {p.headline}")
        lim.warnings.extend((p.probe, w) for w in p.warnings)
        small = [m for m in p.metrics if m.n is not None and m.n < MIN_CASES]
        if len(small) > 3:  # one line per probe, not one per cell of a grid
            keys = ", ".join(m.key for m in small[:3])
            lim.small.append((p.probe, f"{len(small)} metrics rest on fewer than {MIN_CASES} cases each, too few to "
                                       f"conclude from one alone ({keys}, …)"))
        else:
            lim.small += [(p.probe, f"{m.key} rests on {m.n} case{'s' if m.n != 1 else ''} (fewer than {MIN_CASES}): "
                                    "too few to conclude") for m in small]
        if p.status == "skipped":  # the limits of a probe that did not run are not this report's
            continue
        limits = p.card.get("limits") if isinstance(p.card, dict) else None
        lim.card.extend((p.probe, str(x)) for x in (limits if isinstance(limits, (list, tuple)) else [limits] if limits else []))
    inconclusive = [g for g in result.gates if g.status == "inconclusive"]
    if inconclusive:
        lim.run.append(f"{len(inconclusive)} gate{'s were' if len(inconclusive) != 1 else ' was'} inconclusive: "
                       "the evidence decided neither way (an interval across the bound, too few cases, a missing value, "
                       "or a model that barely reacts to its input), which is never counted as a pass.")
    if not result.gates:
        lim.run.append("No thresholds were set, so no metric was judged pass or fail; read the figures against your own use.")
    if not result.explanations:
        lim.run.append("No attributions were computed for this run, so the worst cases are shown without explanations.")
    return lim


def environment_rows(result: AuditResult) -> list[tuple[str, str]]:
    env = result.environment
    rows = [
        ("Seed", fmt(env.get("seed"))),
        ("Device", fmt(env.get("device") or result.model.device)),
        ("Precision (dtype)", fmt(env.get("dtype") or result.model.dtype)),
        ("GPU", fmt(env.get("gpu"))) if env.get("gpu") else None,
        ("Python", fmt(env.get("python"))),
        ("Platform", fmt(env.get("platform"))),
        ("transformer-audit git revision", fmt(env.get("git_revision"))),
        ("Command line", env.get("command") or "not run from the command line (Python API)"),
        ("Results schema", result.schema_version),
    ]
    known = {"seed", "device", "dtype", "gpu", "python", "platform", "git_revision", "command", "packages"}
    rows.extend((k, fmt(v)) for k, v in env.items() if k not in known)
    return [r for r in rows if r is not None]


def packages(result: AuditResult) -> list[tuple[str, str]]:
    pk = result.environment.get("packages") or {}
    return [(str(k), fmt(v) if v is not None else "not installed") for k, v in pk.items()] if isinstance(pk, dict) else []


def gate_threshold(g: Any) -> str:
    return f"{g.threshold:g} ({g.mode})"
