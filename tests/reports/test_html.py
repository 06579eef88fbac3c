"""The HTML report: escaping of hostile strings, no network, the model-card sections, a clean parse."""
from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest

import reports
from audit.results import AuditResult, Chart, ProbeResult
from reports import charts
from reports.html import FOLDED_TABLE_ROWS, MAX_CHART_ROWS
from reports.view import data_files

from conftest import ATTR, IMG, PAYLOADS, SCRIPT, SVG_ESC, make_result


class Tags(HTMLParser):
    """Every start tag with its attributes, and the page's text."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):  # type: ignore[no-untyped-def]
        self.tags.append((tag, dict(attrs)))

    def handle_startendtag(self, tag, attrs):  # type: ignore[no-untyped-def]
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):  # type: ignore[no-untyped-def]
        self.text.append(data)


def parse(html: str) -> Tags:
    t = Tags()
    t.feed(html)
    t.close()
    return t


def test_payloads_are_escaped_everywhere(evil: AuditResult) -> None:
    html = reports.render_html(evil, data_files=data_files(evil))
    for payload in PAYLOADS:
        assert payload not in html
    assert "<script" not in html.lower()
    tags = parse(html)
    names = {t for t, _ in tags.tags}
    assert not names & {"script", "img", "iframe", "object", "embed"}
    assert not [(t, a) for t, a in tags.tags for k in a if k.lower().startswith("on")]
    # exactly one <svg> per drawable chart: the payload's "<svg onload>" did not open another
    drawable = sum(1 for p in evil.probes for c in p.charts if c.kind in ("bar", "line", "scatter", "heatmap"))
    assert sum(1 for t, _ in tags.tags if t == "svg") == drawable
    text = "".join(tags.text)
    # the payloads are still there, as text, where the data put them: nothing was silently dropped
    for where in ("career/family", "WEAT on sentence templates", "He is an engineer.", "Sentiment triage of English support tickets", "Effect size by test",
                  "templates are English only", "audit run default --out x"):
        assert f"{where} {' '.join(PAYLOADS)}" in text, where


def test_attribute_payload_cannot_close_an_attribute(evil: AuditResult) -> None:
    html = reports.render_html(evil)
    # every double quote inside data is an entity, so no attribute ends early
    for tag, attrs in parse(html).tags:
        for key, value in attrs.items():
            assert key in {"href", "id", "class", "style", "title", "lang", "charset", "name", "content", "http-equiv",
                           "viewbox", "width", "height", "role", "aria-labelledby", "aria-label", "font-family", "x", "y",
                           "x1", "x2", "y1", "y2", "cx", "cy", "r", "fill", "stroke", "stroke-width", "stroke-dasharray",
                           "text-anchor", "font-size", "font-weight", "transform", "points", "scope", "d"}, (tag, key, value)
    titles = [a["title"] for _, a in parse(html).tags if "title" in a]
    assert titles and all(re.fullmatch(r"-?\d[\d.e+-]*", t) for t in titles)  # attribution tooltips: the score alone
    tokens = re.findall(r'<div class="tokens">(.*?)</div>', html, re.S)
    assert any(ATTR.replace('"', "&#34;") in t for t in tokens)  # the hostile word itself is escaped text in the row


def test_no_network_resource_anywhere(evil: AuditResult, result: AuditResult) -> None:
    for r in (evil, result):
        html = reports.render_html(r, data_files=data_files(r))
        assert not re.search(r"""(?:src|href|action|poster|data)\s*=\s*["']?\s*(?:https?:)?//""", html, re.I)
        assert not re.search(r"url\(\s*['\"]?\s*(?:https?:)?//", html, re.I)
        assert "@import" not in html
        assert "http://" not in html and "https://" not in html
        hrefs = [a["href"] for t, a in parse(html).tags if t == "a" and "href" in a]
        assert hrefs and all(h.startswith("#") or h.startswith("data/") for h in hrefs)


def test_content_security_policy_forbids_scripts_and_network(result: AuditResult) -> None:
    html = reports.render_html(result)
    csp = [a for t, a in parse(html).tags if t == "meta" and (a.get("http-equiv") or "").lower() == "content-security-policy"]
    assert csp and "default-src 'none'" in csp[0]["content"] and "script-src" not in csp[0]["content"]


def test_model_card_sections_in_order(result: AuditResult) -> None:
    html = reports.render_html(result)
    order = ["Executive summary", "Model details", "WEAT on sentence templates", "CrowS-Pairs", "Accuracy against input length",
             "Limitations and caveats", "Reproducibility"]
    positions = [html.index(f"<h2>{h}") for h in order]
    assert positions == sorted(positions)
    m = result.model
    for fact in (m.revision, m.weights_sha256, "22.7 M", "256 tokens", "BertTokenizerFast", "apache-2.0",
                 "Sentiment triage of English support tickets", "BertModel"):
        assert fact in html, fact


def test_summary_lists_every_gate_with_value_threshold_ci_and_status(result: AuditResult) -> None:
    html = reports.render_html(result)
    summary = html[html.index('id="summary"'):html.index('id="model"')]
    rows = re.findall(r"<tr>(.*?)</tr>", summary, re.S)[1:]
    assert len(rows) == len(result.gates) == 3
    for g, row in zip(result.gates, rows):
        assert f"{g.value:.4g}" in row and f"{g.threshold:g} ({g.mode})" in row
        assert f"[{g.ci[0]:.4g}, {g.ci[1]:.4g}]" in row
        assert f'badge {g.status}"' in row
    assert sorted(g.status for g in result.gates) == ["fail", "inconclusive", "pass"]
    assert "The bias suite fails" in summary and "The long_input suite is descriptive only" in summary


def test_limitations_come_from_the_run(result: AuditResult) -> None:
    html = reports.render_html(result)
    lim = html[html.index('id="limitations"'):html.index('id="reproducibility"')]
    assert "longer than 256 tokens were truncated" in lim
    assert "multilingual.ner_names was skipped" in lim
    assert "effect_size[science/arts] rests on 6 cases" in lim
    assert "templates are English only" in lim
    assert "1 gate was inconclusive" in lim
    # a run with attributions does not claim it had none; one without says so
    assert "No attributions were computed" not in lim
    bare = AuditResult(**{**result.__dict__, "explanations": ()})
    assert "No attributions were computed" in reports.render_html(bare)


def test_reproducibility_section(result: AuditResult) -> None:
    html = reports.render_html(result)
    rep = html[html.index('id="reproducibility"'):]
    for fact in ("abc123", "audit run default --out x", "torch", "2.13.0", "not installed", "texts_per_second", "310.5",
                 "intended_use: Sentiment triage", "n_samples: 10000"):
        assert fact in rep, fact


def test_explanations_are_paired_and_shaded_on_one_scale(result: AuditResult) -> None:
    html = reports.render_html(result)
    section = html[html.index("Attributions for the worst cases"):html.index("Warnings from this run")]
    sides = re.findall(r'<div class="side"><h5>(.*?)</h5>', section)
    assert sides == ["text · target score 0.73 · predicted positive", "counterfactual · target score 0.41 · predicted negative (0.59)"]
    assert "faithfulness: comprehensiveness 0.71" in section and "did not converge" in section
    rows = re.findall(r'<div class="tokens">(.*?)</div>', section)[:2]
    # eight shades a side, on the pair's largest |score| (he, 0.61): step = round(8 * score / 0.61), 0 left bare.
    # he 0.61 -> p8, is 0.05 -> p1, an -0.02 -> bare, engineer 0.33 -> p4, . -0.1 -> n1; she -0.4 -> n5,
    # is 0.04 -> p1, engineer 0.2 -> p3, . -0.05 -> n1
    spans = [re.findall(r'<span class="([pn]\d)" title="([^"]*)">([^<]*)</span>', row) for row in rows]
    assert spans[0] == [("p8", "0.61", "he"), ("p1", "0.05", "is"), ("p4", "0.33", "engineer"), ("n1", "-0.1", ".")]
    assert spans[1] == [("n5", "-0.4", "she"), ("p1", "0.04", "is"), ("p3", "0.2", "engineer"), ("n1", "-0.05", ".")]
    assert re.sub(r"<[^>]+>", "", rows[0]).split() == ["[CLS]", "he", "is", "an", "engineer", ".", "[SEP]"]  # every word shown
    css = dict(re.findall(r"\.tokens \.([pn]\d)\{background:(#[0-9a-f]{6})", html))
    assert len(css) == 16 and css["p8"] == "#d55e00" and css["n8"] == "#0072b2"  # the full ends of the scale
    assert css["p4"] == charts.diverging(0.5) and css["n5"] == charts.diverging(-5 / 8)
    r, g, b = (int(css["n5"][i:i + 2], 16) for i in (1, 3, 5))
    assert b > r and b > g
    assert 'every score is in <a href="data/explanations.jsonl">' not in section  # no data files, no link
    # the orphan explanation (its probe is not in the run) still shows, with the mismatch noted
    assert "orphan" in html and "2 words but 1 scores" in html


def test_table_rows_are_capped_and_linked(result: AuditResult) -> None:
    files = data_files(result)
    html = reports.render_html(result, data_files=files)
    section = html[html.index("Table: by_length"):html.index('id="limitations"')]
    assert section.count("<tr>") == 1 + FOLDED_TABLE_ROWS  # header + the first rows of 69
    assert f"69 rows, the first {FOLDED_TABLE_ROWS} shown" in section
    assert 'href="data/long_input.degradation.by_length.csv"' in section
    short = html[html.index("Table: by_test"):html.index("Worst cases")]  # 3 rows: whole, not folded
    assert short.count("<tr>") == 1 + 3 and "<details>" not in short


def test_bad_chart_data_never_breaks_the_page(result: AuditResult) -> None:
    broken = ProbeResult(probe="x.broken", suite="x", title="Broken charts", headline="h", charts=(
        Chart("bar", "empty", "a", "b", []),
        Chart("bar", "not a list", "a", "b", {"label": "a"}),
        Chart("line", "nan only", "a", "b", [{"series": "s", "x": 1, "y": float("nan")}]),
        Chart("heatmap", "ragged", "a", "b", {"rows": ["r1", "r2"], "cols": ["c1", "c2"], "values": [[1.0]]}),
        Chart("scatter", "text x", "a", "b", [{"series": "s", "x": "low", "y": 1}, {"series": "s", "x": "high", "y": 2}]),
    ), card={"what": None, "limits": "one limit as a string"})
    r = AuditResult(**{**result.__dict__, "probes": (*result.probes, broken)})
    html = reports.render_html(r)
    assert html.count("No drawable data") == 3
    assert "one limit as a string" in html
    assert html.count('<svg class="chart"') == 4 + 2  # the original four, the ragged heatmap and the categorical scatter


def test_standards_parser_finds_no_error(evil: AuditResult, result: AuditResult) -> None:
    html5lib = pytest.importorskip("html5lib", reason="html5lib is not installed; .ci/browser.sh installs it")
    from reports.compare import render_compare

    for page in (reports.render_html(evil, data_files=data_files(evil)), reports.render_html(result),
                 render_compare(result, make_result(shift=0.3))):
        parser = html5lib.HTMLParser(strict=True, namespaceHTMLElements=False)
        parser.parse(page)  # strict: raises on the first parse error
        assert parser.errors == []


def test_size_stays_small_for_a_large_run(result: AuditResult) -> None:
    rows = [{"text": "a fairly long sentence about something " * 3, "score": i / 7, "group": f"g{i % 13}"} for i in range(5000)]
    big = ProbeResult(probe="big.probe", suite="big", title="Big", headline="h", tables={"cases": rows, "more": rows})
    r = AuditResult(**{**result.__dict__, "probes": (*result.probes,) + (big,) * 10})
    html = reports.render_html(r)
    assert len(html.encode()) < 2_000_000


def test_svg_text_is_escaped_in_titles_and_descriptions() -> None:
    html = reports.render_html(make_result(evil=True))
    svgs = re.findall(r"<svg .*?</svg>", html, re.S)
    assert svgs
    for svg in svgs:
        assert "<script" not in svg and SVG_ESC not in svg and IMG not in svg and SCRIPT not in svg
        assert svg.count("<svg") == 1 and svg.count("</svg>") == 1


def test_huge_charts_are_thinned_with_a_note(result: AuditResult) -> None:
    n = 120
    charts = (
        Chart("scatter", "many points", "x", "y", [{"series": f"s{i % 3}", "x": i, "y": (i * 37) % 101} for i in range(20000)]),
        Chart("heatmap", "many cells", "c", "r", {"rows": [f"r{i}" for i in range(n)], "cols": [f"c{j}" for j in range(n)],
                                                    "values": [[i * j for j in range(n)] for i in range(n)]}),
    )
    big = ProbeResult(probe="big.charts", suite="big", title="Big charts", headline="h", charts=charts)
    html = reports.render_html(AuditResult(**{**result.__dict__, "probes": (big,)}))
    assert len(html.encode()) < 2_000_000
    assert "Every 14th point is drawn" in html and "The first 60 of 120 rows and 60 of 120 columns are drawn" in html
    assert html.count("<circle") + html.count("<polygon") + html.count('<rect x') < 1500 + 60 * 60 + 100
    assert f"The first {MAX_CHART_ROWS} of 20000 rows." in html


def test_long_texts_are_clipped_in_the_page_but_whole_in_the_data_file(tmp_path, result: AuditResult) -> None:
    from audit.results import Case

    needle = "NEEDLE-AT-THE-END"
    long_text = "filler sentence. " * 200 + needle
    probe = ProbeResult(probe="long.cases", suite="x", title="t", headline="h", cases=(Case(long_text, 1.0, "why"),),
                        tables={"rows": [{"text": long_text}]})
    r = AuditResult(**{**result.__dict__, "probes": (probe,)})
    written = reports.write_report(r, tmp_path)
    html = written["html"].read_text(encoding="utf-8")
    assert long_text not in html and needle in html and f"[…{len(long_text) - 300} characters…]" in html
    assert long_text in (tmp_path / "data/long.cases.cases.jsonl").read_text(encoding="utf-8")
    assert long_text in (tmp_path / "data/long.cases.rows.csv").read_text(encoding="utf-8")
