"""Per-case data beside the report: one CSV per probe table, one JSONL of each probe's telling cases,
and the explanations as JSONL, so a reviewer can sort and filter what the page only samples.

CSV cells that a spreadsheet would run as a formula (starting with = + - @ or a tab) get a leading
apostrophe, the OWASP advice against CSV injection; numbers are left as they are.
"""
from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Sequence
from typing import Any

from audit.results import AuditResult
from reports.charts import chart_table
from reports.view import DataFile

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, (dict, list)):
        value = json.dumps(value, ensure_ascii=False)
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def table_csv(rows: Iterable[Any]) -> str:
    """Rows (JSON-clean dicts) as CSV; the header is every key in order of first appearance."""
    rows = [r for r in rows if isinstance(r, dict)]
    header = list(dict.fromkeys(k for r in rows for k in r))
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow([_cell(h) for h in header])
    for r in rows:
        writer.writerow([_cell(r.get(h)) for h in header])
    return buf.getvalue()


def jsonl(records: Iterable[Any]) -> str:
    return "".join(json.dumps(r, ensure_ascii=False, allow_nan=False) + "\n" for r in records)


def data_texts(result: AuditResult, files: Sequence[DataFile]) -> dict[str, str]:
    """Relative path -> text of every file in ``files`` (from ``view.data_files``)."""
    clean = result.to_dict()  # JSON-safe: NaN to null, numpy to Python, tuples to lists
    probes = {p["probe"]: p for p in clean["probes"]}
    texts: dict[str, str] = {}
    for f in files:
        if f.kind == "explanations":
            texts[f.path] = jsonl(clean["explanations"])
        elif f.kind == "metrics":
            texts[f.path] = table_csv(probes[f.probe]["metrics"])
        elif f.kind == "chart":
            header, rows = chart_table(result.probe(f.probe).charts[int(f.name) - 1])
            texts[f.path] = table_csv(dict(zip(header, row)) for row in rows)
        elif f.kind == "cases":
            texts[f.path] = jsonl(probes[f.probe]["cases"])
        else:
            texts[f.path] = table_csv(probes[f.probe]["tables"][f.name])
    return texts
