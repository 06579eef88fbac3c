"""A Hugging Face model card: YAML front matter with a compact ``model-index`` (the headline metric of each
probe that ran, under the model's own name), then the sections of the Hub's model-card template that an
audit fills (Model Details; Uses; Bias, Risks, and Limitations; Evaluation with Testing Data, Factors,
Metrics and Results), verdict and ranked findings first. Every figure's full detail stays in results.json
and data/.

Model cards render HTML inside Markdown, so every string from a model, data set or user has its HTML
characters turned into entities and its Markdown punctuation backslash-escaped; the YAML is written by
``yaml.safe_dump``, which quotes whatever needs quoting.
"""
from __future__ import annotations

import math
import re
from collections.abc import Sequence
from pathlib import PurePath
from typing import Any

import yaml

from audit.results import AuditResult, Metric, ProbeResult
from reports import summary, view

_MD_SPECIAL = re.compile(r"([\\`*_\[\]|~])")


def md(value: Any) -> str:
    """Text safe in a Markdown paragraph or table cell: HTML entities, escaped punctuation, one line."""
    text = view.fmt(value) if not isinstance(value, str) else value
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
    text = _MD_SPECIAL.sub(r"\\\1", text)
    return " ".join(text.split())


def _row(cells: list[Any]) -> str:
    return "| " + " | ".join(md(c) for c in cells) + " |"


def _table(header: list[str], rows: list[list[Any]]) -> list[str]:
    return [_row(header), "| " + " | ".join("---" for _ in header) + " |", *(_row(r) for r in rows), ""]


DEFAULT_HUB_ID = "sentence-transformers/all-MiniLM-L6-v2"
"""The packaged default is this Hub model (its weights are checked against the pinned hash before loading)."""
MAX_CARD_METRICS = 10
"""Metrics listed per probe under Results; the rest are in results.json and data/."""


def model_name(result: AuditResult) -> str:
    """The model's own name: its hub id, the folder name of a local model, or the default's hub id."""
    m = result.model
    if m.source == "default":
        return DEFAULT_HUB_ID
    if m.source == "local":
        return PurePath(m.path or m.spec).name or m.spec
    return m.spec


def model_index(result: AuditResult) -> dict[str, Any]:
    """The ``model-index`` block: one result per probe that ran, carrying its headline metric (the figure its
    executive-summary finding rests on). No probe reads a Hub data set (the texts are generated from templates
    or read from installed packages), so ``dataset.type`` names the probe's own generated set."""
    results = []
    for f in _headline_findings(result):
        if f.value is None or not math.isfinite(f.value):
            continue
        results.append({
            "task": {"type": result.model.task, "name": f"{f.probe.split('.')[0]} audit"},
            "dataset": {"type": f"transformer-audit/{f.probe}", "name": f.title},
            "metrics": [{"type": f.metric.split("[")[0], "name": f.metric, "value": round(float(f.value), 6),
                         "verified": False}],
        })
    return {"name": model_name(result), "results": results}


def _headline_findings(result: AuditResult) -> list[summary.Finding]:
    """The most severe finding of each probe, in the ranked order."""
    seen: dict[str, summary.Finding] = {}
    for f in summary.findings(result):
        seen.setdefault(f.probe, f)
    return list(seen.values())


def front_matter(result: AuditResult) -> str:
    meta: dict[str, Any] = {"tags": ["transformer-audit", "model-audit"]}
    if result.model.license:
        meta["license"] = result.model.license
    meta["model-index"] = [model_index(result)]
    return "---\n" + yaml.safe_dump(meta, sort_keys=False, allow_unicode=True) + "---\n"


def _finding_line(f: summary.Finding) -> str:
    bound = f" (severity {f.severity:.2g}× against {f.bound_source}; {f.sure_text})" if f.severity is not None else ""
    figure = f" {f.figure}" if f.value is not None else ""
    return f"- **{md(f.title)}** ({md(f.status)}): {md(f.sentence + figure + bound)}"


def render_markdown(result: AuditResult, *, data_files: Sequence[view.DataFile] = ()) -> str:
    """The audit as a Hub model card (front matter + Markdown)."""
    ranked = summary.findings(result)
    _, sentence = summary.verdict(result, ranked)
    ran = [p for p in result.probes if p.status != "skipped"]
    gates = result.gates
    out = [front_matter(result), f"# Audit: {md(model_name(result))}", "", f"**Verdict: {md(sentence)}**", ""]
    out += [f"> **Warning:** {md(w)}" for w in result.model.warnings] + ([""] if result.model.warnings else [])
    if gates:
        counts = {s: sum(g.status == s for g in gates) for s in view.STATUSES}
        out += [f"Gates: {counts['pass']} passed, {counts['fail']} failed, {counts['inconclusive']} inconclusive "
                f"(of {len(gates)}). Audited with transformer-audit as `{md(result.model.spec)}`.", ""]

    out += ["## Audit summary", "", "Findings, most severe first (severity: distance from good over the bound; "
            "1× is at the bound):", ""]
    out += [_finding_line(f) for f in ranked]
    missing = summary.not_tested(result)
    out += ["", f"Not tested: {md(missing)}" if missing else "Every selected probe ran.", ""]

    out += ["## Model Details", ""]
    out += _table(["field", "value"], [list(r) for r in view.model_details(result)])

    out += ["## Uses", "", f"Intended use (from the audit configuration): "
            f"{md(result.config.get('intended_use') or 'not stated; set intended_use in the audit configuration')}.", ""]

    out += ["## Bias, Risks, and Limitations", ""]
    risky = [f for f in ranked if f.status in ("fail", "inconclusive", "past")]
    out += [_finding_line(f) for f in risky] or ["No gate failed and no figure is past its default scale."]
    out.append("")
    lim = view.limitations(result)
    out += ["Limitations of this audit:", ""]
    out += [f"- {md(x)}" for x in lim.run]
    if missing:
        out.append(f"- Not tested: {md(missing)}")
    out += [f"- {md(probe)}: {md(x)}" for probe, x in lim.small + lim.warnings + lim.card]
    out += ["", "### Recommendations", ""]
    advice = dict.fromkeys(f"{f.title}: {f.advice}" for f in risky)
    out += [f"- {md(a)}" for a in advice] or ["- Nothing beyond the limitations above."]
    out.append("")

    out += ["## Evaluation", "", "### Testing Data, Factors & Metrics", "", "#### Testing Data", ""]
    for p in ran:
        n = max((m.n for m in p.metrics if m.n is not None), default=None)
        what = p.card.get("what") if isinstance(p.card, dict) else None
        out.append(f"- **{md(p.title or p.probe)}** (`{md(p.probe)}`{f', up to n = {n} per figure' if n else ''}): "
                   f"{md(what or p.headline)}")
    out += ["", "#### Factors", ""]
    for p in ran:
        groups = list(dict.fromkeys(m.group.split("/")[0] for m in p.metrics if m.group))
        shown = ", ".join(groups[:12]) + (f", … ({len(groups)} in all)" if len(groups) > 12 else "")
        out.append(f"- {md(p.probe)}: {md(shown) if groups else 'none (one population)'}")
    out += ["", "#### Metrics", ""]
    for f in _headline_findings(result):
        metric = next((m for p in ran if p.probe == f.probe for m in p.metrics if m.key == f.metric), None)
        if metric is None:
            continue
        out.append(f"- {md(f.probe)}: `{md(f.metric)}` ({md(metric.description or metric.name)}; {md(view.direction(metric))}"
                   f"{'; ' + md(metric.unit) if metric.unit else ''}); bound: {md(f.bound_source)}")
    out += ["", "### Results", ""]
    if gates:
        out += _table(["probe", "metric", "value", "95% CI", "threshold (mode)", "status"],
                      [[g.probe, g.metric, g.value, view.fmt_ci(g.ci), view.gate_threshold(g), g.status] for g in gates])
    for p in ran:
        out += [f"#### {md(p.title or p.probe)}", "", f"*{md(p.probe)}, {md(p.suite)} suite, status {md(p.status)}.* {md(p.headline)}", ""]
        if p.metrics:
            shown_metrics = _metrics_first_gated(p)
            out += _table(["metric", "group", "value", "95% CI", "n", "p-value", "direction"],
                          [[m.name, m.group or "—", m.value, view.fmt_ci(m.ci), m.n, view.fmt_p(m.p_value), view.direction(m)]
                           for m in shown_metrics])
            if len(p.metrics) > len(shown_metrics):
                out += [f"{len(shown_metrics)} of {len(p.metrics)} metrics shown; all are in results.json.", ""]
        files = [f.path for f in data_files if f.probe == p.probe]
        if files:
            out += ["Per-case data: " + ", ".join(f"[{md(h)}]({h})" for h in files), ""]
        if p.warnings:
            out += ["Warnings:", "", *(f"- {md(w)}" for w in p.warnings), ""]
    out += ["#### Summary", "", md(sentence), ""]

    out += ["## Reproducibility", ""]
    out += _table(["setting", "value"], [list(r) for r in view.environment_rows(result)])
    pk = view.packages(result)
    if pk:
        out += ["Package versions: " + ", ".join(f"{md(k)} {md(v)}" for k, v in pk), ""]
    return "\n".join(out).rstrip() + "\n"


def _metrics_first_gated(p: ProbeResult) -> list[Metric]:
    gated = {g.metric for g in p.gates}
    ordered = [m for m in p.metrics if m.key in gated] + [m for m in p.metrics if m.key not in gated]
    return ordered[:MAX_CARD_METRICS]
