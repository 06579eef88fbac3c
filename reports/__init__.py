"""The reporter: a model-card-style HTML page, a Hugging Face model card section in Markdown, and the
per-case data files beside them. It reads only ``AuditResult`` data, so a report can be re-rendered
from results.json without the model.

>>> from reports import render_html, render_markdown, write_report  # doctest: +SKIP
>>> write_report(AuditResult.load("audit-out/results.json"), Path("audit-out"))  # doctest: +SKIP
{'html': PosixPath('audit-out/report.html'), 'md': PosixPath('audit-out/report.md'), ...}
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from audit.errors import unknown_name
from audit.results import AuditResult, write_atomic
from reports.data import data_texts
from reports.html import render_html
from reports.markdown import render_markdown
from reports.view import data_files

FORMATS = {"html": "report.html", "md": "report.md"}

__all__ = ["FORMATS", "render_html", "render_markdown", "write_report"]


def write_report(result: AuditResult, out_dir: Path, formats: Sequence[str] = ("html", "md")) -> dict[str, Path]:
    """Write report.html / report.md and the per-case data files under ``out_dir``; every file atomically.

    Returns kind -> path: "html", "md", and "data:<relative path>" for each data file.
    (results.json is the runner's to write.)
    """
    for f in formats:
        if f not in FORMATS:
            raise unknown_name("report format", f, FORMATS)
    out_dir = Path(out_dir)
    files = data_files(result)
    written: dict[str, Path] = {}
    for rel, text in data_texts(result, files).items():
        written[f"data:{rel}"] = write_atomic(out_dir / rel, text)
    if "html" in formats:
        written["html"] = write_atomic(out_dir / FORMATS["html"], render_html(result, data_files=files))
    if "md" in formats:
        written["md"] = write_atomic(out_dir / FORMATS["md"], render_markdown(result, data_files=files))
    return written
