"""A Hugging Face model card README section: YAML front matter with a ``model-index`` results block, then
the audit in Markdown.

Model cards render HTML inside Markdown, so every string from a model, data set or user has its HTML
characters turned into entities and its Markdown punctuation backslash-escaped; the YAML is written by
``yaml.safe_dump``, which quotes whatever needs quoting.
"""
from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import yaml

from audit.results import AuditResult
from reports import view

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


def model_index(result: AuditResult) -> dict[str, Any]:
    """The ``model-index`` block: one result per probe, metrics without a finite value left out."""
    results = []
    for p in result.probes:
        metrics = [
            {"type": m.name, "name": m.key, "value": round(float(m.value), 6), "verified": False}
            for m in p.metrics
            if isinstance(m.value, (int, float)) and view.fmt(float(m.value)) != "—"
        ]
        if metrics:
            results.append({
                "task": {"type": result.model.task, "name": f"{p.suite} audit"},
                "dataset": {"type": f"transformer-audit/{p.probe}", "name": p.title or p.probe},
                "metrics": metrics,
            })
    return {"name": result.model.spec, "results": results}


def front_matter(result: AuditResult) -> str:
    meta: dict[str, Any] = {"tags": ["transformer-audit", "model-audit"]}
    if result.model.license:
        meta["license"] = result.model.license
    meta["model-index"] = [model_index(result)]
    return "---\n" + yaml.safe_dump(meta, sort_keys=False, allow_unicode=True) + "---\n"


def render_markdown(result: AuditResult, *, data_files: Sequence[view.DataFile] = ()) -> str:
    """The audit as a model card section (front matter + Markdown)."""
    out = [front_matter(result), f"# Audit: {md(result.model.spec)}", ""]
    out += [f"> **Warning:** {md(w)}" for w in result.model.warnings] + ([""] if result.model.warnings else [])
    gates = result.gates
    fails = sum(g.status == "fail" for g in gates)
    if gates:
        counts = {s: sum(g.status == s for g in gates) for s in view.STATUSES}
        out += [f"**Gates: {counts['pass']} passed, {counts['fail']} failed, {counts['inconclusive']} inconclusive "
                f"(of {len(gates)}).**", ""]
    else:
        out += ["No gates were set for this run.", ""]

    out += ["## Audit summary", ""]
    for s in view.suite_summaries(result):
        out.append(f"- **{md(s.suite)}**: {md(s.sentence)}")
        out += [f"  - {md(p.probe)}: {md(p.headline)}" for p in s.probes]
    out.append("")
    if gates:
        out += _table(["probe", "metric", "value", "95% CI", "threshold (mode)", "status"],
                      [[g.probe, g.metric, g.value, view.fmt_ci(g.ci), view.gate_threshold(g), g.status] for g in gates])

    out += ["## Model details", ""]
    out += _table(["field", "value"], [list(r) for r in view.model_details(result)])

    for p in result.probes:
        out += [f"## {md(p.title or p.probe)}", "", f"*{md(p.probe)}, {md(p.suite)} suite, status {md(p.status)}.* {md(p.headline)}", ""]
        if p.card.get("what"):
            out += [f"**What it measures.** {md(p.card['what'])}", ""]
        if p.card.get("how_to_read"):
            out += [f"**How to read it.** {md(p.card['how_to_read'])}", ""]
        if p.metrics:
            out += _table(["metric", "group", "value", "95% CI", "n", "p-value", "direction"],
                          [[m.name, m.group or "—", m.value, view.fmt_ci(m.ci), m.n, view.fmt_p(m.p_value), view.direction(m)] for m in p.metrics])
        files = [f.path for f in data_files if f.probe == p.probe]
        if files:
            out += ["Per-case data: " + ", ".join(f"[{md(h)}]({h})" for h in files), ""]
        if p.warnings:
            out += ["Warnings:", "", *(f"- {md(w)}" for w in p.warnings), ""]

    lim = view.limitations(result)
    out += ["## Limitations", ""]
    out += [f"- {md(x)}" for x in lim.run]
    out += [f"- {md(probe)}: {md(x)}" for probe, x in lim.small + lim.warnings + lim.card]
    out.append("")

    out += ["## Reproducibility", ""]
    out += _table(["setting", "value"], [list(r) for r in view.environment_rows(result)])
    pk = view.packages(result)
    if pk:
        out += ["Package versions: " + ", ".join(f"{md(k)} {md(v)}" for k, v in pk), ""]
    return "\n".join(out).rstrip() + "\n"
