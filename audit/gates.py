"""Turn metrics into three-valued gates: pass, fail or inconclusive.

Every metric says what is good (``higher_is_better`` or an ``ideal`` value), so one rule serves all. In the
default mode ``ci`` a gate *passes* only when the whole confidence interval of the metric (or of its distance
from the ideal) lies within the bound, *fails* when the whole interval lies past it, and is *inconclusive*
otherwise — so measuring less can turn a verdict into "inconclusive", never a failure into a pass. An
inconclusive verdict says how many cases would decide it ("needs about N cases (ran n)"). A gap measured on a
model that barely reacts to its input is no evidence of fairness: a gap metric declared with a sensitivity
``floor`` cannot pass while that floor (how far the output moves between unrelated inputs of the same kind)
is below the threshold.
"""
from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from audit.errors import AuditError
from audit.results import Gate, Metric
from audit.stats import CONFIDENCE, MIN_CASES

Mode = Literal["ci", "point", "ci_all", "ci_any"]
DEFAULT_MODE: Mode = "ci"
MODES: dict[str, str] = {
    "ci": "passes when the whole confidence interval is within the bound, fails when the whole interval is past "
          "it, inconclusive otherwise (default)",
    "point": "lenient: the point estimate is compared with the threshold alone, however wide its interval",
    "ci_all": "lenient: fails only when the whole confidence interval is past the threshold, passes otherwise "
              "(fewer cases make a pass easier)",
    "ci_any": "strict: fails when any part of the confidence interval is past the threshold, passes otherwise "
              "(fewer cases make a fail easier)",
}
_RULE = {"point": "the point estimate is compared with the threshold",
         "ci_all": "fails only when the whole confidence interval is past the threshold",
         "ci_any": "fails when any part of the confidence interval is past the threshold"}
_CI = f"{CONFIDENCE:.0%} interval"
_CI_WORDS = {"pass": f"the whole {_CI} is within the bound", "fail": f"the whole {_CI} is past the bound",
             "inconclusive": f"the {_CI} straddles the bound"}


@dataclass(frozen=True)
class MetricSpec:
    """What a probe declares about a metric before running: its name, what is good, what its groups are,
    and (for a gap) the metric of the same group that measures how much the model reacts at all."""

    name: str
    higher_is_better: bool | None = None
    ideal: float | None = None
    groups: str = ""
    """What the metric's groups are (e.g. "axis"), empty for an ungrouped metric."""
    floor: str | None = None
    """The sensitivity metric a gate on this gap must be compared with (same group, or the group's first part)."""
    floor_level: float | None = None
    """The level (in the floor metric's own unit) below which the model barely reacts, for a gap whose unit is
    not its sensitivity's (CrowS-Pairs: a % of pairs, read against nats); None: the gate's threshold is the level."""
    proportion: float | None = None
    """For a proportion with a Wilson interval: its scale (1 for a share, 100 for a percentage). Lets
    :func:`cases_to_pass` say, before any run, how many cases even a perfect model needs to pass a gate."""

    @property
    def gateable(self) -> bool:
        return self.ideal is not None or self.higher_is_better is not None


@dataclass(frozen=True)
class Threshold:
    """A bound on one metric of one probe (every group of it, unless ``group`` is given)."""

    metric: str
    value: float
    mode: Mode = DEFAULT_MODE
    group: str | None = None
    min_n: int = MIN_CASES

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise AuditError(f"unknown gate mode {self.mode!r}; choose from: {', '.join(MODES)}")
        if isinstance(self.value, bool) or not isinstance(self.value, (int, float)):
            raise AuditError(f"threshold for {self.metric!r} must be a number, got {self.value!r}")
        if not math.isfinite(self.value):
            raise AuditError(f"threshold for {self.metric!r} must be a finite number, got {self.value!r}")


def badness(value: float, ideal: float | None, higher_is_better: bool | None) -> float:
    """A metric's value on the scale where larger is worse: its distance from the ideal, its value, or minus
    its value. The one definition of direction that gates, baselines and `audit compare` use; works on arrays."""
    if ideal is not None:
        return abs(value - ideal)
    if higher_is_better is None:
        raise AuditError("a metric declaring neither higher_is_better nor an ideal value has no direction; it cannot be gated")
    return -value if higher_is_better else value


def direction(metric: Metric) -> str:
    """Which way is worse, in words ("higher", "lower", "further from 50")."""
    if metric.ideal is not None:
        return f"further from {metric.ideal:g}"
    return "lower" if metric.higher_is_better else "higher"


def badness_interval(metric: Metric) -> tuple[float, float, float]:
    """(point, low, high) of the metric's badness (see :func:`badness`)."""
    v = float(metric.value)  # type: ignore[arg-type]
    lo, hi = metric.ci if _has_ci(metric) else (v, v)  # type: ignore[misc]
    if metric.ideal is None and metric.higher_is_better is None:
        raise AuditError(f"metric {metric.name!r} declares neither higher_is_better nor an ideal value; it cannot be gated")
    ends = sorted((badness(lo, metric.ideal, metric.higher_is_better), badness(hi, metric.ideal, metric.higher_is_better)))
    low = 0.0 if metric.ideal is not None and lo <= metric.ideal <= hi else ends[0]
    return badness(v, metric.ideal, metric.higher_is_better), low, ends[1]


def _has_ci(metric: Metric) -> bool:
    """A usable interval: present and finite (NaN is written to JSON as null)."""
    return metric.ci is not None and all(c is not None and math.isfinite(c) for c in metric.ci)


def cases_needed(metric: Metric, threshold: float) -> int | None:
    """About how many cases would make the metric's interval decide at ``threshold``.

    Intervals of means and proportions narrow as 1/√n, so the half-width w measured at n cases becomes
    w·√(n/N) at N cases; the verdict is decided once that is smaller than the distance d between the point
    estimate (or its distance from the ideal) and the threshold: N ≈ n·(w/d)². None when the metric has no
    interval or case count, or sits exactly on the threshold (no number of cases decides it)."""
    if metric.n is None or metric.n < 1 or not _has_ci(metric) or metric.value is None or not math.isfinite(metric.value):
        return None
    point, _, _ = badness_interval(metric)
    sign = -1.0 if (metric.ideal is None and metric.higher_is_better) else 1.0
    d = abs(point - sign * threshold)
    w = (metric.ci[1] - metric.ci[0]) / 2.0  # type: ignore[index]
    if d <= 1e-12 or w <= 0:
        return None
    return max(metric.n + 1, math.ceil(metric.n * (w / d) ** 2 - 1e-9))  # the tolerance absorbs float noise


def _needs(metric: Metric, threshold: float, at_least: int = 0) -> str:
    """"; needs about N cases (ran n)" for an undecided metric ("" when no estimate can be made)."""
    n = cases_needed(metric, threshold)
    return "" if n is None else f"; needs about {max(n, at_least)} cases (ran {metric.n})"


def evaluate(probe: str, metric: Metric, threshold: Threshold, floor: Metric | None = None,
             floor_level: float | None = None) -> Gate:
    """Apply one threshold to one metric; ``floor`` is the model's sensitivity for a gap metric (see module doc),
    compared with ``floor_level`` when given, else with the threshold."""
    sign = -1.0 if (metric.ideal is None and metric.higher_is_better) else 1.0
    bound = sign * threshold.value
    what = (
        f"|{metric.key} − {metric.ideal:g}| ≤ {threshold.value:g}"
        if metric.ideal is not None
        else f"{metric.key} {'≥' if metric.higher_is_better else '≤'} {threshold.value:g}"
    )

    def gate(status: str, reason: str) -> Gate:
        return Gate(probe, metric.key, threshold.value, threshold.mode, status, metric.value, metric.ci, reason)  # type: ignore[arg-type]

    if metric.value is None or not math.isfinite(metric.value):
        return gate("inconclusive", f"{what}: no value was measured → inconclusive")
    if metric.n is not None and metric.n < threshold.min_n:
        return gate("inconclusive", f"{what}: only {metric.n} cases (need {threshold.min_n}) — too few to decide"
                                    f"{_needs(metric, threshold.value, threshold.min_n)} → inconclusive")
    point, low, high = badness_interval(metric)
    mode = threshold.mode
    note = ""
    if mode != "point" and not _has_ci(metric):
        mode, note = "point", " (no confidence interval; point estimate used)"
    ci_text = f" [{metric.ci[0]:.4g}, {metric.ci[1]:.4g}]" if _has_ci(metric) else ""  # type: ignore[index]
    eps = 1e-12
    if mode == "ci":
        verdict = "pass" if high <= bound + eps else "fail" if low > bound + eps else "inconclusive"
    else:
        checked = {"point": point, "ci_all": low, "ci_any": high}[mode]
        verdict = "pass" if checked <= bound + eps else "fail"
    needs = _needs(metric, threshold.value) if verdict == "inconclusive" else ""
    rule = _CI_WORDS[verdict] if mode == "ci" else _RULE[mode]
    reason = f"{what}: value {metric.value:.4g}{ci_text}, {rule}{note}{needs}"
    level = threshold.value if floor_level is None else floor_level
    if verdict == "pass" and floor is not None and not (floor.value is not None and floor.value >= level):  # NaN too
        verdict = "inconclusive"
        against = "the threshold" if floor_level is None else f"{floor_level:g} {floor.unit}".rstrip()
        if floor.value is None or not math.isfinite(floor.value):
            reason += (f"; but how much the model reacts to its input at all ({floor.name}) was not measured, so a "
                       "small gap is no evidence of fairness")
        else:
            reason += (f"; but the model barely reacts to its input: between unrelated inputs of the same kind its "
                       f"{floor.name} is only {floor.value:.3g}, less than {against}, so a small gap is no evidence "
                       "of fairness")
    return gate(verdict, f"{reason} → {verdict}")


def cases_to_pass(spec: MetricSpec, threshold: Threshold, limit: int = 1_000_000) -> int | None:
    """The fewest cases with which the best possible outcome (every case right, or exactly the ideal share)
    passes ``threshold`` — under this, a gate on the metric cannot pass, whatever the model. Found by asking
    :func:`evaluate` itself about the metric's own (Wilson) interval; None when the metric is not a declared
    proportion, and ``limit + 1`` when no number of cases is enough (a threshold at the end of the scale)."""
    from audit.stats import wilson_interval

    if spec.proportion is None or not spec.gateable:
        return None
    scale = spec.proportion

    def passes(n: int) -> bool:
        k = n if spec.higher_is_better else 0 if spec.ideal is None else round(spec.ideal / scale * n)
        lo, hi = wilson_interval(k, n)
        best = Metric(spec.name, k / n * scale, (lo * scale, hi * scale), spec.higher_is_better, spec.ideal, n=n)
        return evaluate("", best, Threshold(spec.name, threshold.value, threshold.mode, min_n=1)).status == "pass"

    hi = 1
    while not passes(hi):
        if hi > limit:
            return limit + 1
        hi *= 2
    lo = hi // 2
    while hi - lo > 1:  # the first n that passes, between a failing lo and a passing hi
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if passes(mid) else (mid, hi)
    return max(hi, threshold.min_n)


def max_cases_warnings(max_cases: int | None, thresholds: dict[str, list[Threshold]], specs: dict[str, tuple[MetricSpec, ...]]) -> list[str]:
    """One line per gate that ``max_cases`` makes impossible to pass: a probe measures a metric on at most
    max_cases cases, and :func:`cases_to_pass` says how many even a perfect model would need."""
    out = []
    limit = 1_000_000
    for probe, ts in thresholds.items():
        declared = {s.name: s for s in specs.get(probe, ())}
        for t in ts:
            gate = f"{probe} {t.metric} (threshold {t.value:g}, {t.mode})"
            needed = cases_to_pass(declared[t.metric], t, limit) if t.metric in declared else None
            if needed is not None and needed > limit:
                out.append(f"{gate}: no number of cases lets even a perfect model pass — its interval never reaches the "
                           "threshold; loosen it")
                continue
            needed = max(needed or 0, t.min_n)
            if max_cases is not None and needed > max_cases:
                out.append(f"{gate}: max_cases {max_cases} is too few — even a perfect model needs about {needed} cases "
                           "to pass, so this gate can only fail or be inconclusive")
    return out


def _floor_for(metric: Metric, spec: MetricSpec | None, metrics: Iterable[Metric]) -> Metric | None:
    if spec is None or spec.floor is None:
        return None
    candidates = {m.group: m for m in metrics if m.name == spec.floor}
    return candidates.get(metric.group) or candidates.get(metric.group.split("/")[0]) or candidates.get("")


def apply(probe: str, metrics: tuple[Metric, ...], thresholds: list[Threshold],
          specs: Iterable[MetricSpec] = ()) -> tuple[Gate, ...]:
    """Gates for every (threshold, matching metric) pair. A threshold matching nothing is an error."""
    by_name = {s.name: s for s in specs}
    gates: list[Gate] = []
    for t in thresholds:
        named = [m for m in metrics if m.name == t.metric]
        matched = [m for m in named if t.group is None or m.group == t.group]
        if not matched:
            from audit.errors import unknown_name

            if named:
                raise unknown_name(f"group of metric {t.metric!r} of probe {probe!r}", str(t.group), {m.group for m in named})
            raise unknown_name(f"metric of probe {probe!r} for a threshold", t.metric, {m.name for m in metrics})
        spec = by_name.get(t.metric)
        gates.extend(evaluate(probe, m, t, _floor_for(m, spec, metrics), spec.floor_level if spec else None) for m in matched)
    return tuple(gates)


def worst(statuses: Iterable[str]) -> str:
    """The worst of some gate verdicts: fail, then inconclusive, then pass ("" when there are none)."""
    found = set(statuses)
    return next((s for s in ("fail", "inconclusive", "pass") if s in found), "")
