"""write_report: the files beside the report, their contents, safe names, atomic writes, and a report
re-rendered from results.json."""
from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import pytest

import reports
from audit.errors import AuditError
from audit.results import AuditResult, ProbeResult

from conftest import make_result


def test_writes_report_markdown_and_one_file_per_table(tmp_path: Path, result: AuditResult) -> None:
    written = reports.write_report(result, tmp_path)
    assert written["html"] == tmp_path / "report.html" and written["md"] == tmp_path / "report.md"
    data = sorted(p.relative_to(tmp_path).as_posix() for k, p in written.items() if k.startswith("data:"))
    assert data == ["data/bias.weat.by_test.csv", "data/bias.weat.cases.jsonl", "data/explanations.jsonl",
                    "data/long_input.degradation.by_length.csv", "data/long_input.degradation.chart-1.csv",
                    "data/long_input.degradation.chart-2.csv"]  # the charts with more rows than their table shows
    html = written["html"].read_text(encoding="utf-8")
    for rel in data:
        assert f'href="{rel}"' in html
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == sorted(
        ["report.html", "report.md", *(Path(r).name for r in data)])  # no temporary files left behind


def test_csv_round_trips_the_table(tmp_path: Path, result: AuditResult) -> None:
    reports.write_report(result, tmp_path, formats=())
    with open(tmp_path / "data/long_input.degradation.by_length.csv", newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    table = result.probe("long_input.degradation").tables["by_length"]
    assert len(rows) == len(table) == 69
    assert all(int(r["length"]) == t["length"] and math.isclose(float(r["agreement"]), t["agreement"]) for r, t in zip(rows, table))


def test_csv_formula_cells_are_defused_and_missing_values_empty(tmp_path: Path, result: AuditResult) -> None:
    reports.write_report(result, tmp_path, formats=())
    with open(tmp_path / "data/bias.weat.by_test.csv", newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert rows[2]["test"] == "'=cmd|' /C calc'!A0"
    assert rows[2]["d"] == "" and rows[2]["p"] == ""  # None and NaN
    assert rows[0]["d"] == "0.31"


def test_jsonl_cases_and_explanations(tmp_path: Path, result: AuditResult) -> None:
    reports.write_report(result, tmp_path, formats=())
    cases = [json.loads(line) for line in (tmp_path / "data/bias.weat.cases.jsonl").read_text().splitlines()]
    assert cases == [{"text": "He is an engineer.", "score": 0.42, "reason": "largest gap", "target": "positive",
                      "pair": "She is an engineer.", "meta": {"template": "tpl"}}]
    expl = [json.loads(line) for line in (tmp_path / "data/explanations.jsonl").read_text().splitlines()]
    assert [e["text"] for e in expl] == [e["text"] for e in result.explanations]


def test_table_names_cannot_escape_the_data_folder(tmp_path: Path, result: AuditResult) -> None:
    rows = [{"a": 1}]
    sneaky = ProbeResult(probe="../../etc", suite="x", title="t", headline="h",
                         tables={"../../passwd": rows, "..": rows, "/abs": rows, "a b": rows, "a-b": rows, "A-B": rows})
    r = AuditResult(**{**result.__dict__, "probes": (sneaky,)})
    out = tmp_path / "out"
    written = reports.write_report(r, out)
    for path in written.values():
        assert path.resolve().is_relative_to(out.resolve())
    names = [p.name for k, p in written.items() if k.startswith("data:")]
    assert len(names) == len(set(n.lower() for n in names)) == 6 + 1  # de-duplicated case-insensitively; + explanations
    assert not list(tmp_path.glob("etc*")) and not (tmp_path / "passwd").exists()


def test_unknown_format_is_a_user_error(tmp_path: Path, result: AuditResult) -> None:
    with pytest.raises(AuditError, match=r"unknown report format 'pdf'.*choose from: html, md"):
        reports.write_report(result, tmp_path, formats=("pdf",))
    assert not list(tmp_path.iterdir())


def test_report_re_rendered_from_results_json(tmp_path: Path) -> None:
    r = make_result(evil=True)
    r.save(tmp_path / "results.json")
    loaded = AuditResult.load(tmp_path / "results.json")
    html = reports.render_html(loaded)
    assert "<script" not in html.lower()
    assert reports.render_markdown(loaded) == reports.render_markdown(r)
    for m in r.probes[0].metrics:
        assert f"{m.value:.4g}" in html
