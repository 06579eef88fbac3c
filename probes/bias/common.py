"""Small helpers the bias probes share: the target label, group charts and interval arithmetic."""
from __future__ import annotations

import math
from typing import Any

from audit.errors import AuditError
from audit.results import Chart

POSITIVE_LIKE = ("positive", "pos")


def target_label(model: Any, label: str | None) -> str:
    """The label whose probability the probe compares: the one asked for, else a positive-like label
    ("positive" for the default model), else the last label. An unknown label is a user error."""
    labels = tuple(model.labels)
    if not labels:
        raise AuditError(f"{model.info.spec} has no class labels; bias.counterfactual needs a classifier")
    if label is None:
        for lab in labels:
            if lab.lower() in POSITIVE_LIKE:
                return lab
        return labels[-1]
    return labels[model.label_index(label)]


def bar_chart(title: str, y_label: str, rows: list[dict[str, Any]], *, value: str = "mean", x_label: str = "group",
              label: str = "group", alt: str = "") -> Chart:
    """A bar chart of one value per row, with its interval when the row has ci_low/ci_high."""
    data = []
    for r in rows:
        item: dict[str, Any] = {"label": str(r[label]), "value": r[value]}
        if r.get("ci_low") is not None and r.get("ci_high") is not None:
            item["low"], item["high"] = r["ci_low"], r["ci_high"]
        data.append(item)
    return Chart("bar", title, x_label, y_label, data, alt or f"{title}: {y_label} per {x_label} with 95% intervals")


def diff_interval(p1: float, ci1: tuple[float, float], p2: float, ci2: tuple[float, float]) -> tuple[float, float]:
    """Newcombe's hybrid score interval for p1 − p2 from the two Wilson intervals (independent samples)."""
    (l1, u1), (l2, u2) = ci1, ci2
    d = p1 - p2
    return (d - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2), d + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2))


def rounded(x: float | None, digits: int = 4) -> float | None:
    """A float for tables: rounded, None for missing or non-finite values."""
    if x is None or not math.isfinite(float(x)):
        return None
    return round(float(x), digits)
