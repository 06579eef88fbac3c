"""SVG charts: geometry against the data, colour scales against matplotlib, escaping, text alternatives."""
from __future__ import annotations

import itertools
import math
import re

import pytest

from audit.results import Chart
from reports import charts

from conftest import SCRIPT


def rects(svg: str) -> list[dict[str, str]]:
    return [dict(re.findall(r'([\w-]+)="([^"]*)"', m)) for m in re.findall(r"<rect ([^>]*)>", svg)]


def test_nice_ticks_cover_the_range() -> None:
    for lo, hi in [(-0.2, 1.7), (64, 1024), (0.6, 0.99), (0, 0), (5, 5), (-3e-9, 2e-9), (-120.5, -3.2)]:
        ticks = charts.nice_ticks(lo, hi)
        assert ticks[0] <= lo and ticks[-1] >= hi and len(ticks) >= 2
        steps = {round(b - a, 9) for a, b in itertools.pairwise(ticks)}
        assert len(steps) == 1


def test_bar_lengths_are_proportional_to_values_and_error_bars_sit_on_the_ci() -> None:
    data = [{"label": "a", "value": 0.2, "low": 0.1, "high": 0.3}, {"label": "b", "value": 0.8, "low": 0.5, "high": 1.1},
            {"label": "c", "value": -0.4}]
    svg = charts.render_chart(Chart("bar", "t", "group", "rate (share)", data), "u")
    group = re.search(rf'<g fill="{charts.OKABE_ITO[0]}">(.*?)</g>', svg).group(1)  # the bars share their fill
    bars = rects(group)
    widths = [float(b["width"]) for b in bars]
    # whole pixels: a bar is within half a pixel at each end of where the value puts it
    assert math.isclose(widths[1] / widths[0], 4.0, rel_tol=0.02) and math.isclose(widths[2] / widths[0], 2.0, rel_tol=0.02)
    # the negative bar ends where the positive ones start: the zero line
    zero = float(bars[0]["x"])
    assert abs(float(bars[2]["x"]) + widths[2] - zero) <= 1
    unit = widths[1] / 0.8
    whiskers = re.search(r'<path d="([^"]+)" fill="none" stroke="#000" stroke-width="1.5"/>', svg).group(1)
    # one subpath per error bar: low cap (v10), back to the middle, the interval (H), high cap
    bars_i = [(float(a), float(y), float(b)) for a, y, b in re.findall(r"M([\d.]+) ([\d.]+)v10m0-5H([\d.]+)m0-5v10", whiskers)]
    assert len(bars_i) == 2 and whiskers.count("M") == 2  # the bar without a CI has no error bar
    for (a, y, b), (lo, hi), bar in zip(bars_i, [(0.1, 0.3), (0.5, 1.1)], bars):
        assert abs(a - (zero + lo * unit)) <= 1.5 and abs(b - (zero + hi * unit)) <= 1.5
        assert float(bar["y"]) <= y <= float(bar["y"]) + float(bar["height"])  # on its own bar's row
    assert ">group<" in svg and ">rate (share)<" in svg  # both axes labelled


def test_line_points_follow_the_data() -> None:
    data = [{"series": "s", "x": x, "y": y} for x, y in [(0, 0.0), (50, 0.5), (100, 1.0)]]
    svg = charts.render_chart(Chart("line", "t", "length (tokens)", "accuracy", data), "u")
    pts = [tuple(map(float, p.split(","))) for p in re.search(r'<polyline points="([^"]+)"', svg).group(1).split()]
    # collinear data stays collinear and evenly spaced on screen
    assert math.isclose(pts[1][0] - pts[0][0], pts[2][0] - pts[1][0], abs_tol=1)  # whole pixels
    assert math.isclose(pts[1][1] - pts[0][1], pts[2][1] - pts[1][1], abs_tol=1)
    assert pts[2][1] < pts[0][1]  # higher y is drawn higher up


def test_series_differ_by_more_than_colour() -> None:
    data = [{"series": s, "x": x, "y": x * k} for k, s in enumerate(["a", "b", "c"], 1) for x in (1, 2)]
    svg = charts.render_chart(Chart("line", "t", "x", "y", data), "u")
    dashes = re.findall(r'<polyline [^>]*?(?:stroke-dasharray="([^"]*)")?/>', svg)
    assert len(set(dashes)) == 3
    assert "<circle" in svg and "<rect" in svg and "<polygon" in svg  # three marker shapes


def test_viridis_matches_matplotlib() -> None:
    cm = pytest.importorskip("matplotlib.cm")
    for t in [0.0, 0.1, 0.33, 0.5, 0.77, 1.0]:
        ours = tuple(int(charts.viridis(t)[i:i + 2], 16) for i in (1, 3, 5))
        ref = tuple(round(c * 255) for c in cm.viridis(t)[:3])
        assert max(abs(a - b) for a, b in zip(ours, ref)) <= 8, (t, ours, ref)


def test_heatmap_uses_a_diverging_scale_for_signed_values_and_viridis_otherwise() -> None:
    signed = charts.render_chart(Chart("heatmap", "t", "c", "r", {"rows": ["a"], "cols": ["x", "y", "z"], "values": [[-2, 0, 2]]}), "u")
    fills = [r["fill"] for r in rects(signed)][:3]
    assert fills == ["#0072b2", "#ffffff", "#d55e00"]
    plain = charts.render_chart(Chart("heatmap", "t", "c", "r", {"rows": ["a"], "cols": ["x", "y"], "values": [[1, 3]]}), "u")
    assert [r["fill"] for r in rects(plain)][:2] == [charts.viridis(0), charts.viridis(1)]


def test_text_colour_keeps_contrast() -> None:
    assert charts.text_colour("#fde725") == "#000" and charts.text_colour("#440154") == "#fff"


def test_every_chart_has_a_title_and_description_and_escapes_labels() -> None:
    for kind, data in [("bar", [{"label": SCRIPT, "value": 1}]), ("line", [{"series": SCRIPT, "x": 1, "y": 2}, {"series": SCRIPT, "x": 2, "y": 3}]),
                       ("scatter", [{"series": SCRIPT, "x": SCRIPT, "y": 2}]), ("heatmap", {"rows": [SCRIPT], "cols": [SCRIPT], "values": [[1]]})]:
        svg = charts.render_chart(Chart(kind, SCRIPT, SCRIPT, SCRIPT, data, alt=""), "c1")
        assert '<title id="c1-t">' in svg and '<desc id="c1-d">' in svg and 'aria-labelledby="c1-t c1-d"' in svg
        assert "<script" not in svg and "&lt;script&gt;" in svg
        desc = re.search(r'<desc id="c1-d">(.*?)</desc>', svg).group(1)
        assert len(desc) > 20  # a generated summary when the probe gave no alt text


def test_chart_table_is_the_text_alternative() -> None:
    header, rows = charts.chart_table(Chart("bar", "t", "edit", "flip rate", [{"label": "typo", "value": 0.1, "low": 0.0, "high": 0.3}]))
    assert header == ["edit", "flip rate", "95% CI low", "95% CI high"] and rows == [["typo", 0.1, 0.0, 0.3]]
    header, rows = charts.chart_table(Chart("heatmap", "t", "cols", "rows", {"rows": ["a", "b"], "cols": ["x"], "values": [[1]]}))
    assert rows == [["a", 1], ["b", None]]


def test_dropped_points_are_counted_in_the_description() -> None:
    svg = charts.render_chart(Chart("bar", "t", "x", "y", [{"label": "a", "value": 1}, {"label": "b", "value": float("nan")}, "junk"]), "u")
    assert "2 point(s) without a finite value were left out" in svg


def test_many_points_are_drawn_as_one_path_per_series_at_the_same_places(monkeypatch: pytest.MonkeyPatch) -> None:
    """Past MAX_TIPS points a scatter has no tooltips and draws each series as one path; every mark sits where
    the per-point marker of the same chart would (oracle: the same chart rendered with tooltips forced on), each
    series keeps its own shape, and the markup is less than half as long."""
    n = charts.MAX_TIPS + 20
    data = [{"series": s, "x": i, "y": (i * k % 97) / 97} for k, s in ((3, "a"), (7, "b"), (11, "c"), (13, "d"))
            for i in range(n // 4 + 1)]
    chart = Chart("scatter", "t", "x", "y", data)
    svg = charts.render_chart(chart, "u")
    assert "<title>a:" not in svg and svg.count("<circle") == 1  # no per-point marks; the one circle is the legend's
    paths = re.findall(r'<path d="([^"]+)"([^>]*)/>', svg)
    round_dots = [d for d, attrs in paths if 'stroke-linecap="round"' in attrs]
    squares = [d for d, attrs in paths if 'stroke-linecap="square"' in attrs]
    assert len(round_dots) == 1 and len(squares) == 1
    dots = [tuple(map(float, m)) for m in re.findall(r"M([\d.]+) ([\d.]+)h0", round_dots[0])]
    monkeypatch.setattr(charts, "MAX_TIPS", 10**6)
    per_point = charts.render_chart(chart, "v")
    centres = [(float(x), float(y)) for x, y, t in re.findall(r'<circle cx="([\d.]+)" cy="([\d.]+)" r="4"[^>]*><title>([^<]*)', per_point)
               if t.startswith("a:")]
    assert dots == centres and len(dots) == sum(1 for p in data if p["series"] == "a")
    triangles = re.findall(r'<polygon points="([^"]+)"[^>]*><title>c:', per_point)
    shape = next(d for d, attrs in paths if "stroke" not in attrs and d.count("Z") == len(triangles))
    first = [tuple(map(float, xy.split(","))) for xy in triangles[0].split()]
    assert [tuple(map(float, m)) for m in re.findall(r"[ML]([\d.]+) ([\d.]+)", shape)][:3] == first
    assert len(svg) * 2 < len(per_point)
