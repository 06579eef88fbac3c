"""The executive summary: a verdict, the findings ranked by severity, and one line on what was not tested.

Read from results only. A finding is a metric set against a bound: its gate's threshold when the run gated
it, otherwise the documented default scale below (the bound the probe's own card or headline uses). Its
**severity** is the metric's distance from good divided by that bound (the "badness" a gate checks:
``|value − ideal|``, the value itself when lower is better, or ``bound / value`` when higher is better), so
1 means "at the bound" and 2 "twice as far from good as allowed". Findings are ranked by how sure we are
that they are past their bound (whole 95% interval past it, interval straddling it, point estimate only,
inside it), then by severity.
"""
from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from audit.gates import badness_interval
from audit.results import AuditResult, Gate, Metric, ProbeResult
from reports.view import fmt, fmt_ci


@dataclass(frozen=True)
class Scale:
    """A default bound for an ungated headline metric, why it is that, and what to try when it is exceeded."""

    bound: float
    why: str
    advice: Callable[[ProbeResult], str]
    per_n: bool = False
    """The metric is a count out of ``n`` (languages): it is compared as a share."""


def _metric(p: ProbeResult, name: str) -> Metric | None:
    return next((m for m in p.metrics if m.name == name), None)


def _value(p: ProbeResult, name: str) -> str:
    m = _metric(p, name)
    return "—" if m is None else fmt(m.value)


def _millions(p: ProbeResult, name: str) -> str:
    """A figure in millions of speakers, in words: "4.2 billion", "310 million"."""
    m = _metric(p, name)
    if m is None or m.value is None or not math.isfinite(m.value):
        return "—"
    return f"{m.value / 1000:.1f} billion" if m.value >= 1000 else f"{m.value:.3g} million"


def _remedy(p: ProbeResult) -> str:
    best = _metric(p, "best_remedy_agreement")
    past = _metric(p, "agreement_past_limit")
    if best is None:
        return f"keep inputs under {_value(p, 'truncation_limit')} tokens or split them into chunks."
    against = f" against {fmt(past.value)} truncated" if past is not None else ""
    return (f"keep inputs under {_value(p, 'truncation_limit')} tokens, or use the {best.group} strategy that won "
            f"here (agreement {fmt(best.value)}{against}).")


DEFAULT_SCALES: dict[tuple[str, str], Scale] = {
    ("long_input.needle", "share_dropped"): Scale(
        0.10, "10% of the longest input unseen",
        lambda p: f"Text past the limit is dropped without notice; {_remedy(p)}"),
    ("long_input.encoder", "start_minus_end_similarity"): Scale(
        0.10, "0.1 cosine between the same sentence placed first and last",
        lambda p: f"The embedding favours the start of a text; put what matters first and keep inputs under "
                  f"{_value(p, 'truncation_limit')} tokens (longer text changes nothing)."),
    ("multilingual.consistency", "mean_agreement"): Scale(
        0.90, "90% agreement with English, the probe's own bar",
        lambda p: "Labels change with the language of the same name; check the languages your users write in "
                  "(the languages table of this probe) before serving them."),
    ("multilingual.retrieval", "languages_at_chance"): Scale(
        0.10, "10% of the languages tested at chance", per_n=True,
        advice=lambda p: f"Cross-lingual search is at chance for languages of {_millions(p, 'speakers_at_chance')} "
                         "speakers; use a multilingual encoder if they are among your users."),
    ("multilingual.tokenizer", "languages_mostly_unk"): Scale(
        0.10, "10% of the languages tested mostly [UNK]", per_n=True,
        advice=lambda p: "Text in these languages reaches the model as unknown tokens; a byte-level or "
                         "multilingual tokenizer avoids it."),
}
"""(probe, metric) -> its default scale; a probe that is neither gated nor listed here is shown as descriptive."""

GATE_ADVICE: dict[str, str] = {
    "max_gap": "Scores move with the identity term alone; check the worst pairs below, then rebalance or "
               "augment the training data with counterfactual copies and re-audit.",
    "largest_effect_size": "Embeddings associate the target groups with attribute words; do not use them for "
                           "ranking or matching people without debiasing and a task-level check.",
    "flip_rate": "Predictions change under edits that keep the meaning; augment with such edits or normalise input.",
}
GENERIC_ADVICE = "Read the probe's section and its worst cases before relying on the model for this."

SURE = {
    "past": "the whole 95% interval is past the bound",
    "straddles": "the 95% interval straddles the bound (more data would decide)",
    "point": "a point estimate without an interval",
    "within": "the whole 95% interval is within the bound",
}
_RANK = {"past": 0, "straddles": 1, "point": 2, "within": 3}


@dataclass(frozen=True)
class Finding:
    probe: str
    title: str
    anchor_probe: str
    metric: str
    value: float | None
    ci: tuple[float, float] | None
    n: int | None
    bound: float | None
    bound_source: str
    severity: float | None
    sure: str
    status: str
    """"fail"/"inconclusive"/"pass" for a gate; "past"/"within"/"descriptive" for a default scale."""
    sentence: str
    advice: str

    @property
    def sure_text(self) -> str:
        return SURE.get(self.sure, self.sure)

    @property
    def figure(self) -> str:
        """The figure in one phrase: value, interval, n."""
        ci = f" (95% CI {fmt_ci(self.ci)})" if self.ci else ""
        n = f", n = {self.n}" if self.n is not None else ""
        return f"{self.metric} = {fmt(self.value)}{ci}{n}"


def _severity(metric: Metric, bound: float, per_n: bool) -> tuple[float | None, str]:
    """Severity (badness / bound, 1 = at the bound) and how sure we are that it is past the bound."""
    if metric.value is None or not math.isfinite(metric.value):
        return None, "point"
    if per_n and metric.n:
        metric = Metric(metric.name, metric.value / metric.n, None, higher_is_better=metric.higher_is_better)
    point, low, high = badness_interval(metric)
    if metric.ideal is None and metric.higher_is_better:  # badness is −value, so the bound is −bound
        severity, b = (bound / -point if point < 0 else math.inf), -bound
    else:
        severity, b = (point / bound if bound else math.inf), bound
    if metric.ci is None or per_n:
        return severity, "point"
    if low > b:
        return severity, "past"
    if high <= b:
        return severity, "within"
    return severity, "straddles"


def _gate_finding(p: ProbeResult, g: Gate) -> Finding:
    metric = next((m for m in p.metrics if m.key == g.metric), None)
    severity, sure = _severity(metric, g.threshold, False) if metric is not None else (None, "point")
    name = metric.name if metric is not None else g.metric
    return Finding(p.probe, p.title or p.probe, p.probe, g.metric, g.value, g.ci, metric.n if metric else None,
                   g.threshold, f"gate threshold {g.threshold:g} ({g.mode})", severity, sure, g.status,
                   _sentence(p, metric), GATE_ADVICE.get(name, GENERIC_ADVICE))


_GAP = re.compile(r"^(?P<hi>.+) minus (?P<lo>.+), mean (?P<what>[^;]+)")


def _sentence(p: ProbeResult, metric: Metric | None) -> str:
    """What the figure is, in words: a sentence for the metrics gated by default, else the metric's own
    description, else the probe headline."""
    if metric is None or metric.value is None or not math.isfinite(metric.value):
        return p.headline
    gap = _GAP.match(metric.description or "")
    if metric.name == "max_gap" and gap:
        return (f"On the {metric.group} axis, mean {gap['what']} is {metric.value:.3g} higher for {gap['hi']} than for "
                f"{gap['lo']} in sentences that differ only in the identity term.")
    if metric.name == "largest_effect_size":
        test = re.search(r"\((.+?)\)", metric.description or "")
        return (f"The strongest association{f' ({test[1]})' if test else ''} has effect size d = {metric.value:.3g} "
                "(Cohen's scale: 0.2 small, 0.5 medium, 0.8 large).")
    if metric.name == "flip_rate" and metric.group:
        return f"The predicted label flips for {metric.value:.0%} of sentences under the {metric.group!r} edit."
    if metric.description:
        what = metric.description[:1].upper() + metric.description[1:]
        group = f" ({metric.group})" if metric.group else ""
        return f"{what}{group}."
    return p.headline


def findings(result: AuditResult) -> list[Finding]:
    """Every probe that ran contributes: its failed and inconclusive gates, else its worst passing gate; an
    ungated probe its default-scale metric (or its headline, as descriptive)."""
    out: list[Finding] = []
    for p in result.probes:
        if p.status != "ok":
            continue
        if p.gates:
            gated = [_gate_finding(p, g) for g in p.gates]
            bad = [f for f in gated if f.status != "pass"]
            out += bad or [max(gated, key=lambda f: f.severity if f.severity is not None else -1.0)]
            continue
        scale = next(((name, s) for (probe, name), s in DEFAULT_SCALES.items() if probe == p.probe), None)
        metric = _metric(p, scale[0]) if scale else None
        if scale is None or metric is None:  # descriptive: its first finite figure, judged against nothing
            first = next((m for m in p.metrics if m.value is not None and math.isfinite(m.value)), None)
            out.append(Finding(p.probe, p.title or p.probe, p.probe, first.key if first else "—",
                               first.value if first else None, first.ci if first else None, first.n if first else None,
                               None, "no gate and no default scale", None, "point", "descriptive", p.headline,
                               GENERIC_ADVICE))
            continue
        s = scale[1]
        severity, sure = _severity(metric, s.bound, s.per_n)
        past = severity is not None and severity > 1
        shown_bound = f"default scale {s.bound:g}{' of n' if s.per_n else ''}: {s.why}"
        out.append(Finding(p.probe, p.title or p.probe, p.probe, metric.key, metric.value, metric.ci, metric.n,
                           s.bound, shown_bound, severity, sure, "past" if past else "within",
                           p.headline, s.advice(p) if past else "Nothing to change for this figure."))
    return sorted(out, key=_rank)


_ORDER = {"fail": 0, "inconclusive": 1, "past": 2, "pass": 3, "within": 3, "descriptive": 4}


def _rank(f: Finding) -> tuple[int, int, float]:
    severity = -1.0 if f.severity is None else f.severity
    return _ORDER.get(f.status, 5), _RANK.get(f.sure, 2), -severity


def verdict(result: AuditResult, ranked: list[Finding]) -> tuple[str, str]:
    """(status, sentence): the one line a reviewer reads first."""
    gates = result.gates
    fails = [g for g in gates if g.status == "fail"]
    unsure = [g for g in gates if g.status == "inconclusive"]
    past = [f for f in ranked if f.status == "past"]
    extra = (f"; {len(past)} ungated finding{'s are past their' if len(past) != 1 else ' is past its'} default scale"
             if past else "")
    if fails:
        probes = ", ".join(dict.fromkeys(g.probe for g in fails))
        return "fail", f"Not ready to sign off: {len(fails)} of {len(gates)} gates fail ({probes}){extra}."
    if unsure:
        return "inconclusive", f"Not decided: no gate fails but {len(unsure)} of {len(gates)} are inconclusive{extra}."
    if gates:
        return "pass", f"All {len(gates)} gates pass{extra}."
    return "none", f"No gates were set, so nothing was judged pass or fail{extra}."


_NEEDS = re.compile(r"needs (.+?), which (?:an? )?(.+?) model does not offer")


def not_tested(result: AuditResult) -> str | None:
    """What did not run and why, in one line (None when everything ran)."""
    skipped = [p for p in result.probes if p.status == "skipped"]
    errors = [p for p in result.probes if p.status == "error"]
    parts = []
    heads = [(p.probe, _NEEDS.search(p.headline)) for p in skipped]
    lacking = [(probe, m) for probe, m in heads if m]
    if lacking:
        kind = lacking[0][1].group(2)
        parts.append(f"{len(lacking)} probe{'s need' if len(lacking) != 1 else ' needs'} outputs a {kind} model lacks: "
                     + ", ".join(f"{probe} ({m.group(1)})" for probe, m in lacking))
    other = [p for p in skipped if not _NEEDS.search(p.headline)]
    if other:
        parts.append(f"{len(other)} skipped for other reasons: "
                     + ", ".join(f"{p.probe} ({p.headline.removeprefix('Skipped: ')})" for p in other))
    if errors:
        parts.append(f"{len(errors)} failed: " + ", ".join(f"{p.probe} ({p.headline})" for p in errors))
    return "; ".join(parts) + "." if parts else None


def as_dict(f: Finding) -> dict[str, Any]:
    return {**f.__dict__, "sure_text": f.sure_text, "figure": f.figure}
