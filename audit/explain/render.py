"""Show explanations: a token table for the terminal and a self-contained HTML heatmap (Jinja2, autoescape on).

Colours and bars use each example's scores divided by its largest |word score| (display only; the raw
scores are printed beside them and kept in the data).
"""
from __future__ import annotations

from typing import Any

from jinja2 import Environment

from audit.explain.contrast import Contrast
from audit.explain.faithfulness import UNTRUSTED, UNTRUSTED_SET
from audit.explain.result import Attribution, Explanation, ExplanationSet

BAR_WIDTH = 20


def _bar(scaled: float) -> str:
    n = round(abs(scaled) * BAR_WIDTH / 2)
    half = BAR_WIDTH // 2
    return (" " * (half - n) + "█" * n + "|" + " " * half) if scaled < 0 else (" " * half + "|" + "█" * n + " " * (half - n))


def _fmt(v: Any, digits: int = 4) -> str:
    return "—" if v is None else f"{v:.{digits}g}" if isinstance(v, float) else str(v)


def probability(quantity: str, v: float) -> float | None:
    """The probability a log-odds value stands for (None for other quantities)."""
    import math

    if not quantity.startswith("log-odds"):
        return None
    return 1 / (1 + math.exp(-v)) if v > -700 else 0.0


def _prob(quantity: str, v: float) -> str:
    p = probability(quantity, v)
    return "" if p is None else f" (P {p:.4g})"


def _header(e: Explanation) -> list[str]:
    pred = ", ".join(f"{k}={_fmt(v)}" for k, v in e.prediction.items())
    lines = [f"text:      {e.text}", f"target:    {e.target}",
             f"value:     F(x) = {e.value:.4f}{_prob(e.quantity, e.value)}   F(baseline) = {e.baseline_value:.4f}"
             f"{_prob(e.quantity, e.baseline_value)}   prediction: {pred}"]
    if e.truncated:
        lines.append(f"input:     {e.truncated}")
    return lines


def _attribution_lines(e: Explanation, a: Attribution) -> list[str]:
    lines = [f"method:    {a.method}" + (f"   Σ − ΔF = {a.delta:+.2e} (relative {a.relative_delta:.1e}, {a.n_steps} steps"
                                         f"{'' if a.converged else ', NOT converged'})" if a.delta is not None else "")]
    width = max([len(w) for w in e.words] + [4])
    lines.append(f"  {'word':<{width}}  {'score':>10}  {'−':<{BAR_WIDTH // 2}}{'+':>{BAR_WIDTH // 2 + 1}}")
    for w, s, c in zip(e.words, a.word_scores, a.scaled_word_scores):
        lines.append(f"  {w:<{width}}  {s:>+10.4f}  {_bar(c)}")
    f = a.faithfulness
    if f.get("n_words"):
        lines.append(f"  faithfulness: comprehensiveness AOPC {f['aopc_comprehensiveness']:+.4f} (random order "
                     f"{f['aopc_random_comprehensiveness']:+.4f}; difference {_over(f)}), sufficiency AOPC "
                     f"{f['aopc_sufficiency']:+.4f}")
        if f.get("no_better_than_random"):
            lines.append(f"  warning: {UNTRUSTED}")
    return lines


def share(part: float, whole: float) -> str:
    return f"{part / whole:.0%}" if abs(whole) > 1e-12 else "—"


def contrast_summary(c: Contrast) -> list[str]:
    """The gap and its decomposition in words (shared by the terminal table, the HTML page and the reports)."""
    span = ", ".join(repr(c.words[w]) for w in c.span_words) or "—"
    p, q = probability(c.quantity, c.value), probability(c.quantity, c.pair_value)
    lines = [f"gap F(text) − F(counterfactual) = {c.value:+.4f} − ({c.pair_value:+.4f}) = {c.gap:+.4f}"
             + (f"   (P {p:.4g} vs {q:.4g})" if p is not None and q is not None else ""),
             f"swapped span ({span}): {c.span_share:+.4f} ({share(c.span_share, c.gap)} of the gap); rest of the sentence: "
             f"{c.rest_share:+.4f} — IG from the counterfactual to the text gives tokens that are the same on both sides 0",
             f"the swapped words on their own (every other word [PAD] on both sides): {c.own_effect:+.4f} "
             f"({share(c.own_effect, c.gap)}); through their interaction with the rest of the sentence: "
             f"{c.context_effect:+.4f} ({share(c.context_effect, c.gap)})"]
    if c.fills:
        lines.append(f"alignment: {c.fills} [PAD] token(s) padded the shorter swapped span; they change the gap by "
                     f"{c.alignment_effect:+.4f}, so the attributions sum to {c.aligned_value - c.aligned_pair_value:+.4f}")
    if c.delta is not None:
        lines.append(f"completeness: Σ − ΔF = {c.delta:+.2e} (relative {c.relative_delta:.1e}, {c.n_steps} steps"
                     f"{'' if c.converged else ', NOT converged'})")
    return lines


def _contrast_lines(i: int, c: Contrast, target: str) -> list[str]:
    lines = ["", f"[{i}] contrastive: why the text and its counterfactual differ (target {target})",
             f"text:           {c.text}", f"counterfactual: {c.counterfactual}"]
    lines += contrast_summary(c)
    width = max([len(w) for w in c.words] + [4])
    lines.append(f"  {'word':<{width}}  {'score':>10}  {'−':<{BAR_WIDTH // 2}}{'+':>{BAR_WIDTH // 2 + 1}}")
    for w, sc, cs in zip(c.words, c.word_scores, c.scaled_word_scores):
        lines.append(f"  {w:<{width}}  {sc:>+10.4f}  {_bar(cs)}")
    return lines


def render_table(explanations: ExplanationSet) -> str:
    """A readable terminal table: one block per text (and its pair), words with signed scores and bars."""
    out: list[str] = [f"model {explanations.model} ({explanations.task}); methods: {', '.join(explanations.methods)}; "
                      f"baseline: {explanations.baseline}; attributed: {explanations.quantity}"]
    for i, e in enumerate(explanations.examples, 1):
        if e.contrast is not None:
            out.extend(_contrast_lines(i, e.contrast, e.target))
        for label, ex in ((f"[{i}]", e), (f"[{i}] counterfactual pair", e.pair)):
            if ex is None:
                continue
            out.append("")
            out.append(label)
            out.extend(_header(ex))
            for a in ex.attributions:
                out.extend(_attribution_lines(ex, a))
    for m, s in explanations.faithfulness.items():
        c, r = s["aopc_comprehensiveness"], s["aopc_random_comprehensiveness"]
        if c["mean"] is None:
            continue
        out.append("")
        out.append(f"{m}: mean comprehensiveness AOPC {c['mean']:+.4f} {_ci(c)} vs random {r['mean']:+.4f} {_ci(r)}; "
                   f"sufficiency AOPC {s['aopc_sufficiency']['mean']:+.4f} {_ci(s['aopc_sufficiency'])}; n = {c['n']}"
                   + (" (too few to conclude)" if s.get("too_few") else ""))
        if "comprehensiveness_over_random" in s:
            out.append(f"{m}: comprehensiveness over random order {_over(s)}"
                       + (f" — {UNTRUSTED_SET}" if s.get("no_better_than_random") else ""))
    for ra in explanations.rank_agreement:
        out.append(f"rank agreement {ra['methods'][0]} vs {ra['methods'][1]}: Spearman ρ {_fmt(ra['spearman'], 3)} "
                   f"{_ci(ra)}, n = {ra['n']}")
    if explanations.randomisation:
        out.append(randomisation_line(explanations.randomisation))
    for w in explanations.warnings:
        out.append(f"warning: {w}")
    return "\n".join(out)


def randomisation_line(r: dict[str, Any]) -> str:
    """The randomisation check's figure in words."""
    per = ", ".join(_fmt(x, 3) for x in r["spearman"])
    return (f"randomisation check ({r['method']}; {r['layer']} re-initialised, seed {r['seed']}): Spearman ρ between the "
            f"trained and the randomised model's word attributions {_fmt(r['mean'], 3)} {_ci(r)} over {r['n']} texts "
            f"(per text: {per}); near 1 = the explanation barely depends on that layer, near 0 = it does")


def _over(f: dict[str, Any]) -> str:
    """AOPC(explanation) − AOPC(random order) with its interval."""
    o = f.get("comprehensiveness_over_random") or {}
    return "—" if o.get("mean") is None else f"{o['mean']:+.4f} {_ci(o)}".strip()


def _ci(d: dict[str, Any]) -> str:
    ci = d.get("ci")
    return f"[95% CI {ci[0]:+.4f}, {ci[1]:+.4f}]" if ci else ""


def _colour(scaled: float) -> str:
    """Red for evidence for the target, blue against; alpha by the scaled magnitude."""
    rgb = "220, 50, 47" if scaled >= 0 else "38, 110, 210"
    return f"rgba({rgb}, {min(1.0, abs(scaled)) * 0.85:.3f})"


_TEMPLATE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Explanations — {{ s.model }}</title>
<style>
body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#222}
.ex{border:1px solid #ddd;border-radius:6px;padding:.8rem 1rem;margin:1rem 0}
.pair{display:grid;grid-template-columns:1fr 1fr;gap:1rem}
.w{padding:.1rem .2rem;margin:.05rem;border-radius:3px;display:inline-block}
.meta{color:#555;font-size:.9rem} table{border-collapse:collapse} td,th{padding:.2rem .6rem;border-bottom:1px solid #eee;text-align:left}
.warn{color:#a33}
</style></head><body>
<h1>Explanations</h1>
<p class="meta">Model {{ s.model }} ({{ s.task }}); methods {{ s.methods|join(", ") }}; baseline {{ s.baseline }};
attributed quantity: {{ s.quantity }}. Colour: red supports the target, blue opposes it; intensity is the score divided
by the example's largest |word score| (hover a word for its raw score). {{ s.normalization }}.</p>
{% for w in s.warnings %}<p class="warn">{{ w }}</p>{% endfor %}
{% for e in examples %}
<div class="ex">{% if e.contrast %}<div class="contrast"><p class="meta"><b>Why the text and its counterfactual differ</b>
(Integrated Gradients from the counterfactual to the text; attributions sum to the gap)</p>
<p>text: {{ e.contrast.text }}<br>counterfactual: {{ e.contrast.counterfactual }}</p>
<ul>{% for line in e.contrast.summary %}<li>{{ line }}</li>{% endfor %}</ul>
<p>{% for w in e.contrast.cells %}<span class="w" style="background:{{ w.colour }}" title="{{ w.title }}">{{ w.word }}</span> {% endfor %}</p>
<p class="meta">Each side on its own, against the [{{ s.baseline }}] baseline:</p></div>{% endif %}
<div class="{{ 'pair' if e.pair else '' }}">
{% for side in [e, e.pair] if side %}
<div><p class="meta">{{ 'counterfactual pair' if loop.index == 2 else 'text' }} · target <b>{{ side.target }}</b> ·
F(x) {{ '%.4f'|format(side.value) }}{{ side.p }} · F(baseline) {{ '%.4f'|format(side.baseline_value) }}{{ side.p_base }}
{% if side.truncated %}· <span class="warn">truncated: {{ side.truncated }}</span>{% endif %}</p>
{% for a in side.attributions %}
<p><b>{{ a.method }}</b>{% if a.delta is not none %} <span class="meta">(completeness gap {{ '%.1e'|format(a.relative_delta) }}
relative, {{ a.n_steps }} steps{{ '' if a.converged else ', not converged' }})</span>{% endif %}
{% if a.faith %}<br><span class="meta">comprehensiveness AOPC {{ a.faith }}</span>{% endif %}
{% if a.untrusted %}<br><span class="warn">{{ untrusted }}</span>{% endif %}<br>
{% for w in a.cells %}<span class="w" style="background:{{ w.colour }}" title="{{ w.title }}">{{ w.word }}</span> {% endfor %}</p>
{% endfor %}</div>
{% endfor %}
</div></div>
{% endfor %}
{% if faith %}<h2>Faithfulness</h2><table><tr><th>method</th><th>comprehensiveness AOPC</th><th>random order</th>
<th>difference</th><th>sufficiency AOPC</th><th>n</th></tr>
{% for row in faith %}<tr><td>{{ row.method }}</td><td>{{ row.comp }}</td><td>{{ row.rand }}</td><td>{{ row.over }}</td><td>{{ row.suff }}</td><td>{{ row.n }}</td></tr>
{% if row.untrusted %}<tr><td colspan="6" class="warn">{{ row.method }}: {{ untrusted }}</td></tr>{% endif %}{% endfor %}
</table>{% endif %}
{% if s.randomisation %}<h2>Model-parameter randomisation check</h2><p>{{ randomisation }}</p>{% endif %}
{% if s.rank_agreement %}<h2>Rank agreement</h2><table><tr><th>methods</th><th>Spearman ρ</th><th>n</th></tr>
{% for ra in s.rank_agreement %}<tr><td>{{ ra.methods|join(" vs ") }}</td><td>{{ fmt(ra.spearman) }}</td><td>{{ ra.n }}</td></tr>{% endfor %}
</table>{% endif %}
</body></html>
"""


def _side(e: Explanation) -> dict[str, Any]:
    attrs = []
    for a in e.attributions:
        cells = [{"word": w, "colour": _colour(c), "title": f"{s:+.5f}"} for w, s, c in zip(e.words, a.word_scores, a.scaled_word_scores)]
        f = a.faithfulness
        attrs.append({"method": a.method, "delta": a.delta, "relative_delta": a.relative_delta, "n_steps": a.n_steps,
                      "converged": a.converged, "cells": cells, "untrusted": bool(f.get("no_better_than_random")),
                      "faith": f"{f['aopc_comprehensiveness']:+.4f} vs random order {f['aopc_random_comprehensiveness']:+.4f}; "
                               f"difference {_over(f)}" if f.get("n_words") else None})
    return {"target": e.target, "value": e.value, "baseline_value": e.baseline_value, "truncated": e.truncated, "attributions": attrs,
            "p": _prob(e.quantity, e.value), "p_base": _prob(e.quantity, e.baseline_value)}


def _contrast(c: Contrast) -> dict[str, Any]:
    cells = [{"word": w, "colour": _colour(x), "title": f"{sc:+.5f}"} for w, sc, x in zip(c.words, c.word_scores, c.scaled_word_scores)]
    return {"text": c.text, "counterfactual": c.counterfactual, "summary": contrast_summary(c), "cells": cells}


def render_html(explanations: ExplanationSet) -> str:
    """A self-contained HTML page (no scripts, no external files); every string is escaped."""
    env = Environment(autoescape=True)
    examples = [{**_side(e), "pair": _side(e.pair) if e.pair else None, "contrast": _contrast(e.contrast) if e.contrast else None}
                for e in explanations.examples]
    faith = []
    for m, s in explanations.faithfulness.items():
        c = s["aopc_comprehensiveness"]
        if c["mean"] is None:
            continue
        faith.append({"method": m, "comp": f"{c['mean']:+.4f} {_ci(c)}",
                      "rand": f"{s['aopc_random_comprehensiveness']['mean']:+.4f} {_ci(s['aopc_random_comprehensiveness'])}",
                      "suff": f"{s['aopc_sufficiency']['mean']:+.4f} {_ci(s['aopc_sufficiency'])}", "n": c["n"],
                      "over": _over(s), "untrusted": bool(s.get("no_better_than_random"))})
    return env.from_string(_TEMPLATE).render(s=explanations, examples=examples, faith=faith, fmt=_fmt, untrusted=UNTRUSTED,
                                             randomisation=randomisation_line(explanations.randomisation)
                                             if explanations.randomisation else "")
