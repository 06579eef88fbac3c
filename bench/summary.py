"""Headline figures as one machine-readable line each, gathered by bench/run_all.py into a single table."""
from __future__ import annotations

import json

PREFIX = "SUMMARY "


def summary(what: str, ours: str, peer: str = "", ratio: float | None = None, note: str = "") -> None:
    """``ours`` and ``peer`` are figures with units ("52.6 s", "38 texts/s"); ``ratio`` is peer cost / ours."""
    row = {"what": what, "ours": ours, "peer": peer, "ratio": None if ratio is None else round(ratio, 2), "note": note}
    print(PREFIX + json.dumps(row, ensure_ascii=False), flush=True)
