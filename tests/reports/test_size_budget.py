"""The default report's size budget, on the results of a real default audit, and that the page gives up
nothing without a link to where it now is.

The fixture is results.json of `python -m audit run default` (all-MiniLM-L6-v2, 9 probes that ran, 16
explained cases) at aa7d254, the run whose report weighed 442 KB, compacted and gzipped. Re-rendering it
here measures the reporter alone: the figures are the model's, the bytes are ours.
"""
from __future__ import annotations

import csv
import gzip
import json
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

import reports
from audit.results import AuditResult
from reports.charts import chart_table
from reports.html import MAX_TABLE_ROWS
from reports.view import fmt

FIXTURE = Path(__file__).parent / "fixtures" / "default_results.json.gz"
BUDGET = 300_000
"""Bytes of report.html for the default audit: well under half the 869 KB it weighed (issue 18)."""


class Page(HTMLParser):
    """The page's text (entities decoded) and its links."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.text: list[str] = []
        self.hrefs: set[str] = set()

    def handle_starttag(self, tag, attrs):  # type: ignore[no-untyped-def]
        href = dict(attrs).get("href")
        if tag == "a" and href:
            self.hrefs.add(href)

    def handle_data(self, data):  # type: ignore[no-untyped-def]
        self.text.append(data)


@pytest.fixture(scope="module")
def default(tmp_path_factory: pytest.TempPathFactory) -> tuple[AuditResult, Path, str, Page]:
    out = tmp_path_factory.mktemp("default")
    (out / "results.json").write_bytes(gzip.decompress(FIXTURE.read_bytes()))
    result = AuditResult.load(out / "results.json")
    reports.write_report(result, out)
    html = (out / "report.html").read_text(encoding="utf-8")
    page = Page()
    page.feed(html)
    return result, out, html, page


def test_the_fixture_is_a_whole_default_audit(default: tuple[AuditResult, Path, str, Page]) -> None:
    """A trimmed fixture would pass the budget for the wrong reason."""
    result, *_ = default
    ran = [p for p in result.probes if p.status == "ok"]
    assert len(ran) == 9 and len(result.explanations) == 16 and len(result.gates) == 17
    assert sum(len(rows) for p in ran for rows in p.tables.values()) > 2000
    assert sum(len(p.charts) for p in ran) == 24


def test_default_report_keeps_to_its_size_budget(default: tuple[AuditResult, Path, str, Page]) -> None:
    _, out, html, _ = default
    size = (out / "report.html").stat().st_size
    assert size == len(html.encode("utf-8"))
    assert size <= BUDGET, f"report.html is {size:,} bytes, over the {BUDGET:,} budget"


def rows_in(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def shown(value: Any, text: str) -> bool:
    return value is None or fmt(value) in text


def test_nothing_is_lost_without_a_link_to_where_it_now_is(default: tuple[AuditResult, Path, str, Page]) -> None:
    """Every table row, metric, chart point, telling case and attribution of the results is either in the
    page or in a data file the page links, which holds all of them."""
    result, out, html, page = default
    text = "".join(page.text)
    linked = {h for h in page.hrefs if h.startswith("data/")}
    assert linked and all((out / h).is_file() for h in linked)
    ran = [p for p in result.probes if p.status == "ok"]
    for p in ran:
        for name, table in p.tables.items():
            if len(table) <= MAX_TABLE_ROWS:  # whole in the page: every cell of every row
                assert all(shown(v, text) for row in table for v in row.values()), (p.probe, name)
            href = f"data/{p.probe}.{name}.csv"
            assert href in linked and len(rows_in(out / href)) == len(table), (p.probe, name)
        if len(p.metrics) > 5:
            href = f"data/{p.probe}.metrics.csv"
            assert href in linked, p.probe
            assert [r["name"] for r in rows_in(out / href)] == [m.name for m in p.metrics]
        else:
            assert all(m.name in text and shown(m.value, text) for m in p.metrics), p.probe
        for i, chart in enumerate(p.charts, 1):
            header, rows = chart_table(chart)
            href = f"data/{p.probe}.chart-{i}.csv"
            if len(rows) > 5:
                assert href in linked, (p.probe, chart.title)
                got = rows_in(out / href)
                assert len(got) == len(rows) and list(got[0]) == header
            else:
                assert all(shown(v, text) for row in rows for v in row), (p.probe, chart.title)
        if p.cases:
            href = f"data/{p.probe}.cases.jsonl"
            assert href in linked
            lines = (out / href).read_text(encoding="utf-8").splitlines()
            assert [json.loads(x)["text"] for x in lines] == [c.text for c in p.cases]
        for limit in p.card.get("limits") or []:  # once per probe that states it, in its section (not repeated)
            assert text.count(limit) == sum(limit in (q.card.get("limits") or []) for q in ran), limit
    assert "data/explanations.jsonl" in linked
    saved = [json.loads(x) for x in (out / "data/explanations.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [(e["text"], e.get("scores")) for e in saved] == [(e["text"], e.get("scores")) for e in result.explanations]
    rows = re.findall(r'<div class="tokens">(.*?)</div>', html, re.DOTALL)
    for e in result.explanations:  # every word of every explained side is in the page, shaded or bare
        if e.get("words"):
            row = " ".join(w for w in e["words"])
            assert any(re.sub(r"<[^>]+>", "", r).split() == row.split() for r in rows if "&" not in r), row[:80]
    for g in result.gates:
        assert f"{g.probe}" in text and g.metric in text and g.reason in text
