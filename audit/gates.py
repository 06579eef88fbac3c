"""Turn metrics into pass/fail gates.

Every metric says what is good (``higher_is_better`` or an ``ideal`` value), so one rule serves all:
a threshold bounds the value (or its distance from the ideal), applied to the point estimate or to the
confidence interval. A metric measured on too few cases is "inconclusive", never a pass.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from audit.errors import AuditError
from audit.results import Gate, Metric
from audit.stats import MIN_CASES

Mode = Literal["point", "ci_all", "ci_any"]
MODES: dict[str, str] = {
    "point": "the point estimate is compared with the threshold",
    "ci_all": "fails only when the whole confidence interval is past the threshold",
    "ci_any": "fails when any part of the confidence interval is past the threshold",
}


@dataclass(frozen=True)
class Threshold:
    """A bound on one metric of one probe (every group of it, unless ``group`` is given)."""

    metric: str
    value: float
    mode: Mode = "point"
    group: str | None = None
    min_n: int = MIN_CASES

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise AuditError(f"unknown gate mode {self.mode!r}; choose from: {', '.join(MODES)}")
        if isinstance(self.value, bool) or not isinstance(self.value, (int, float)):
            raise AuditError(f"threshold for {self.metric!r} must be a number, got {self.value!r}")
        if not math.isfinite(self.value):
            raise AuditError(f"threshold for {self.metric!r} must be a finite number, got {self.value!r}")


def _interval(metric: Metric) -> tuple[float, float, float]:
    """(point, low, high) of the quantity that must stay under the threshold ("badness")."""
    v = float(metric.value)  # type: ignore[arg-type]
    lo, hi = metric.ci if _has_ci(metric) else (v, v)  # type: ignore[misc]
    if metric.ideal is not None:
        dev = abs(v - metric.ideal)
        dl, dh = abs(lo - metric.ideal), abs(hi - metric.ideal)
        low = 0.0 if lo <= metric.ideal <= hi else min(dl, dh)
        return dev, low, max(dl, dh)
    if metric.higher_is_better is True:
        return -v, -hi, -lo
    if metric.higher_is_better is False:
        return v, lo, hi
    raise AuditError(f"metric {metric.name!r} declares neither higher_is_better nor an ideal value; it cannot be gated")


def _has_ci(metric: Metric) -> bool:
    """A usable interval: present and finite (NaN is written to JSON as null)."""
    return metric.ci is not None and all(c is not None and math.isfinite(c) for c in metric.ci)


def evaluate(probe: str, metric: Metric, threshold: Threshold) -> Gate:
    """Apply one threshold to one metric."""
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
        return gate("inconclusive", f"{what}: no value was measured")
    if metric.n is not None and metric.n < threshold.min_n:
        return gate("inconclusive", f"{what}: only {metric.n} cases (need {threshold.min_n}) — too few to decide")
    point, low, high = _interval(metric)
    mode = threshold.mode
    note = ""
    if mode != "point" and not _has_ci(metric):
        mode, note = "point", " (no confidence interval; point estimate used)"
    checked = {"point": point, "ci_all": low, "ci_any": high}[mode]
    ok = checked <= bound + 1e-12
    ci_text = f" [{metric.ci[0]:.4g}, {metric.ci[1]:.4g}]" if _has_ci(metric) else ""  # type: ignore[index]
    verdict = "pass" if ok else "fail"
    return gate(verdict, f"{what}: value {metric.value:.4g}{ci_text}, {MODES[mode]}{note} → {verdict}")


def apply(probe: str, metrics: tuple[Metric, ...], thresholds: list[Threshold]) -> tuple[Gate, ...]:
    """Gates for every (threshold, matching metric) pair. A threshold matching nothing is an error."""
    gates: list[Gate] = []
    for t in thresholds:
        named = [m for m in metrics if m.name == t.metric]
        matched = [m for m in named if t.group is None or m.group == t.group]
        if not matched:
            from audit.errors import unknown_name

            if named:
                raise unknown_name(f"group of metric {t.metric!r} of probe {probe!r}", str(t.group), {m.group for m in named})
            raise unknown_name(f"metric of probe {probe!r} for a threshold", t.metric, {m.name for m in metrics})
        gates.extend(evaluate(probe, m, t) for m in matched)
    return tuple(gates)
