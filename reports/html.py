"""The self-contained HTML report: Jinja2 with autoescaping always on, inline CSS and SVG, no script.

A Content-Security-Policy meta tag (no scripts, no network) backs up the escaping: even a string
that slipped through could neither run nor load anything.
"""
from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence
from typing import Any

import jinja2
import yaml

from audit.results import AuditResult, Case, ProbeResult
from reports import summary, view
from reports.charts import (
    ATTRIBUTION_STEPS,
    attribution_class,
    attribution_css,
    attribution_step,
    chart_table,
    drawn_note,
    max_abs,
    number,
    render_chart,
)

MAX_TABLE_ROWS = 10
"""A table up to this long is shown whole; a longer one shows its first ``FOLDED_TABLE_ROWS`` rows, folded,
with every row in the data file beside it."""
FOLDED_TABLE_ROWS = 5
MAX_CASES = 3
"""Telling cases shown per probe, the most telling first (the probe's order); all are in its cases file."""
MAX_TEXT = 300
"""Characters of one table cell shown in the page; the data files hold every text whole."""
MAX_OPEN_METRICS = 20
"""A probe with more metrics shows them folded (its gates and charts carry the headline figures)."""
MAX_CHART_ROWS = view.MAX_CHART_ROWS


@functools.lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("reports", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(fmt=view.fmt, fmt_ci=view.fmt_ci, threshold=view.gate_threshold)
    return env


def render_html(result: AuditResult, *, data_files: Sequence[view.DataFile] = ()) -> str:
    """The report as one HTML page. ``data_files`` are the per-case files written beside it
    (``write_report`` passes them); without them the page links no files."""
    shown = [p for p in result.probes if p.status != "skipped"]  # a skipped probe is one line in the summary
    anchors = {p.probe: f"probe-{i}" for i, p in enumerate(shown)}
    explained = {p.probe for p in shown}
    counts = {s: sum(g.status == s for g in result.gates) for s in view.STATUSES}
    ranked = summary.findings(result)
    context: dict[str, Any] = {
        "verdict": summary.verdict(result, ranked),
        "findings": ranked,
        "not_tested": summary.not_tested(result),
        "result": result,
        "max_open_metrics": MAX_OPEN_METRICS,
        "model": result.model,
        "probes": result.probes,
        "gates": result.gates,
        "n_gates": len(result.gates),
        "counts": counts,
        "suites": view.suite_summaries(result),
        "details": view.model_details(result),
        "anchors": anchors,
        "sections": [_section(p, anchors[p.probe], result, data_files) for p in shown],
        "other_explanations": [explanation_view(e) for e in result.explanations
                               if isinstance(e, Mapping) and e.get("probe") not in explained],
        "limits": view.limitations(result),
        "environment": view.environment_rows(result),
        "packages": view.packages(result),
        "timings": [(k, v) for k, v in result.timings.items()],
        "throughput": [(k, v) for k, v in result.throughput.items()],
        "config_text": _yaml(result.config) if result.config else "(defaults: no configuration file or overrides)",
        "params_text": _yaml({p.probe: p.params for p in result.probes if p.params}) or "(none recorded)",
        "data_files": [(f.label, f.path) for f in data_files],
        "attribution_css": attribution_css(),
        "attribution_steps": ATTRIBUTION_STEPS,
        "explanations_href": next((f.path for f in data_files if f.kind == "explanations"), None),
    }
    return environment().get_template("report.html.j2").render(context)


def _yaml(data: Any) -> str:
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, default_flow_style=False, width=10**6).strip() if data else ""


def _section(p: ProbeResult, anchor: str, result: AuditResult, data_files: Sequence[view.DataFile]) -> dict[str, Any]:
    hrefs = {(f.kind, f.name): f.path for f in data_files if f.probe == p.probe}
    charts = []
    for i, c in enumerate(p.charts):
        header, rows = chart_table(c)
        charts.append({"chart": c, "svg": render_chart(c, f"{anchor}-c{i}"), "note": drawn_note(c), "header": header,
                       "rows": rows[:MAX_CHART_ROWS], "total": len(rows), "href": hrefs.get(("chart", str(i + 1)))})
    tables = []
    for name, table_rows in p.tables.items():
        header = list(dict.fromkeys(k for r in table_rows if isinstance(r, Mapping) for k in r))
        head = table_rows if len(table_rows) <= MAX_TABLE_ROWS else table_rows[:FOLDED_TABLE_ROWS]
        shown = [[clip(r.get(k)) if isinstance(r, Mapping) else None for k in header] for r in head]
        tables.append({"name": name, "header": header, "rows": shown, "total": len(table_rows), "href": hrefs.get(("table", name))})
    card = p.card if isinstance(p.card, Mapping) else {}
    return {
        "p": p,
        "anchor": anchor,
        "card": {"what": card.get("what"), "how_to_read": card.get("how_to_read"),
                 "sources": _strings(card.get("sources")), "limits": _strings(card.get("limits"))},
        "metrics": [[m.name, m.group or "—", m.value, view.fmt_ci(m.ci), m.n, view.fmt_p(m.p_value), m.unit or "—",
                     view.direction(m), m.description] for m in _metrics_shown(p)],
        "n_metrics": len(p.metrics),
        "metrics_href": hrefs.get(("metrics", "")),
        "charts": charts,
        "tables": tables,
        "cases": [_case_row(c) for c in p.cases[:MAX_CASES]],
        "cases_href": hrefs.get(("cases", "")),
        "explanations": [explanation_view(e) for e in result.explanations if isinstance(e, Mapping) and e.get("probe") == p.probe],
    }


def _metrics_shown(p: ProbeResult) -> list[Any]:
    """The gated metrics first, then the others in order, up to ``view.MAX_METRICS_SHOWN``."""
    gated = {g.metric for g in p.gates}
    ordered = [m for m in p.metrics if m.key in gated] + [m for m in p.metrics if m.key not in gated]
    return ordered[: view.MAX_METRICS_SHOWN]


def _strings(value: Any) -> list[str]:
    if value is None:
        return []
    return [str(v) for v in value] if isinstance(value, (list, tuple)) else [str(value)]


def clip(value: Any) -> Any:
    """A long text as its start and end with the number of characters left out (the needle of a long input
    sits anywhere, so both ends matter); anything else unchanged."""
    if not isinstance(value, str) or len(value) <= MAX_TEXT:
        return value
    head, tail = value[: MAX_TEXT * 2 // 3], value[-MAX_TEXT // 3:]
    return f"{head} […{len(value) - len(head) - len(tail)} characters…] {tail}"


def _case_row(c: Case) -> list[Any]:
    return [clip(c.text), clip(c.pair) if c.pair is not None else "—", c.score, c.target if c.target is not None else "—", clip(c.reason)]


def explanation_view(e: Mapping[str, Any]) -> dict[str, Any]:
    """One explanation as sides of shaded words; tolerant of missing or mismatched keys.

    Both sides of a counterfactual pair share one colour scale so their shades compare.
    """
    sides_raw = [("text", e.get("text"), e.get("words"), e.get("scores"), e.get("value"), e.get("prediction"))]
    if e.get("pair") is not None or e.get("pair_words"):
        sides_raw.append(("counterfactual", e.get("pair"), e.get("pair_words"), e.get("pair_scores"),
                          e.get("pair_value"), e.get("pair_prediction")))
    scale = max_abs([s for *_, scores, _, _ in sides_raw for s in (scores if isinstance(scores, list) else [])])
    notes = []
    if e.get("error"):
        notes.append(f"could not be explained: {e['error']}")
    for side, key in (("text", "truncated"), ("counterfactual", "pair_truncated")):
        if e.get(key):  # what the model reads of each side, and what was cut: the explanation covers what it reads
            notes.append(f"{side}: {e[key]}")
    if e.get("contrast_note"):
        notes.append(str(e["contrast_note"]))
    faith = e.get("faithfulness")
    if isinstance(faith, Mapping) and faith.get("no_better_than_random"):
        notes.append("this explanation should not be trusted: its comprehensiveness is no better than deleting words in "
                     "random order (the 95% interval of the difference includes 0)")
    if e.get("converged") is False or e.get("pair_converged") is False:
        notes.append("the attribution did not converge (completeness gap above tolerance); read it with care")
    quantity = str(e.get("quantity") or "target score")  # its definition once, after the name on each side
    sides = []
    for label, text, words, scores, value, prediction in sides_raw:
        words = [str(w) for w in words] if isinstance(words, list) else []
        scores = scores if isinstance(scores, list) else []
        if words and len(words) != len(scores):
            notes.append(f"{label}: {len(words)} words but {len(scores)} scores; unmatched words are unshaded")
        tokens = _tokens(words, scores, scale)
        shown_value = number(value)
        if shown_value is not None:
            label += f" · {quantity.split(':')[0]} {shown_value:.3g}"
            if quantity.startswith("log-odds"):  # the probability the log-odds stand for
                label += f" (P {1 / (1 + math.exp(-max(shown_value, -700))):.3g})"
        if prediction is not None:
            label += f" · predicted {_prediction(prediction)}"
        sides.append({"label": label, "text": "" if text is None else str(text), "tokens": tokens})
    return {
        "contrast": _contrast_view(e.get("contrast"), scale),
        "method": e.get("method"),
        "quantity": quantity if ":" in quantity else None,
        "target": e.get("target"),
        "reason": e.get("reason"),
        "delta": number(e.get("delta")),
        "faithfulness": _faithfulness(e.get("faithfulness")),
        "sides": sides,
        "note": "; ".join(notes),
    }


def _contrast_view(c: Any, scale: float) -> dict[str, Any] | None:
    """The pair's gap decomposition (contrastive attributions), shown before the per-side explanations."""
    if not isinstance(c, Mapping) or not isinstance(c.get("words"), list):
        return None
    raw_scores = c.get("word_scores")
    scores: list[Any] = raw_scores if isinstance(raw_scores, list) else []
    own = max_abs(scores) or scale
    tokens = _tokens([str(w) for w in c["words"]], scores, own)
    raw_summary = c.get("summary")
    summary: list[Any] = raw_summary if isinstance(raw_summary, list) else []
    return {"summary": [str(x) for x in summary], "side": {"label": "gap attributed to the text's words", "tokens": tokens,
                                                            "text": ""}}


def _tokens(words: list[str], scores: list[Any], scale: float) -> list[dict[str, Any]]:
    """Each word with its score and shade class; a word whose shade is white gets no class (it is printed
    bare, without a tooltip: its score is in data/explanations.jsonl)."""
    out = []
    for i, w in enumerate(words):
        score = number(scores[i]) if i < len(scores) else None
        out.append({"word": w, "score": score, "cls": attribution_class(attribution_step(score, scale))})
    return out


def _prediction(value: Any) -> str:
    """``{"label": "positive", "score": 0.83, ...}`` as "positive (0.83)"; anything else as it is."""
    if isinstance(value, Mapping) and "label" in value:
        score = number(value.get("score"))
        return f"{value['label']}" + (f" ({score:.3g})" if score is not None else "")
    return view.fmt(value)


def _faithfulness(value: Any) -> str | None:
    """A number, or a dict of named figures, as one short line."""
    if isinstance(value, Mapping):
        parts = [f"{k} {view.fmt(v)}" for k, v in value.items() if not isinstance(v, (dict, list))]
        return ", ".join(parts) or None
    return None if number(value) is None else view.fmt(number(value))
