"""Inline SVG charts drawn from ``audit.results.Chart`` data: bar (with CI error bars), line, scatter, heatmap.

Why our own SVG: the report must open from file:// with no network and no script, so no plotting
library from a CDN. Every string that reaches the SVG (titles, labels, series names) comes from a
model, a data set or a user and goes through ``escape``; numbers are formatted here. Colours are the
Okabe–Ito palette (series) and viridis (heatmaps), both readable with the common colour-vision
deficiencies; series also differ by marker shape and dash pattern, so colour is never the only cue.
Malformed data never breaks a report: unusable points are dropped and counted in the description.
"""
from __future__ import annotations

import itertools
import math
import re
from collections.abc import Iterable
from typing import Any

from markupsafe import Markup, escape

from audit.results import Chart

OKABE_ITO = ("#0072B2", "#D55E00", "#009E73", "#E69F00", "#CC79A7", "#56B4E9", "#000000", "#F0E442")
"""Okabe & Ito (2008), "Color Universal Design"; ordered so the first colours contrast most on white."""
DASHES = ("", "6 3", "2 3", "8 3 2 3")
MARKERS = ("circle", "square", "triangle", "diamond")
VIRIDIS = ("#440154", "#472d7b", "#3b528b", "#2c728e", "#21918c", "#28ae80", "#5ec962", "#addc30", "#fde725")
"""Nine evenly spaced stops of matplotlib's viridis, interpolated linearly."""
NEGATIVE, POSITIVE = (0x00, 0x72, 0xB2), (0xD5, 0x5E, 0x00)
"""Diverging ends (Okabe–Ito blue and vermillion) for signed heatmaps and attributions."""

WIDTH = 680
FONT = 12
INK = "#222"
MAX_POINTS = 1500
"""Points drawn per line or scatter chart (evenly thinned beyond this) so a report stays small."""
MAX_SIDE = 60
"""Rows and columns drawn per heatmap."""
MAX_TIPS = 100
"""Points per line or scatter chart that carry a tooltip; a denser chart sends the reader to its data table."""
MAX_BARS = 20
"""Bars drawn per bar chart (the first ones, in the probe's order); the chart's data table has every row."""


def number(value: Any) -> float | None:
    """A finite float, or None for anything else (None, NaN, text)."""
    if isinstance(value, bool):
        return None
    try:
        x = float(value)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def tick_label(x: float) -> str:
    return f"{x:.4g}" if x != 0 else "0"


def nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """Round tick values (1, 2, 5 × 10^k steps) covering [lo, hi]."""
    if hi <= lo:
        hi = lo + 1.0
    raw = (hi - lo) / max(count, 1)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    ticks = [math.floor(lo / step) * step]
    while ticks[-1] < hi - 1e-12 * step and len(ticks) < 50:
        ticks.append(ticks[0] + len(ticks) * step)
    return [round(t, 12) for t in ticks]


def _mix(a: tuple[int, int, int], b: tuple[int, int, int], t: float) -> str:
    return "#" + "".join(f"{round(x + (y - x) * t):02x}" for x, y in zip(a, b))


def _rgb(hex_colour: str) -> tuple[int, int, int]:
    return int(hex_colour[1:3], 16), int(hex_colour[3:5], 16), int(hex_colour[5:7], 16)


def viridis(t: float) -> str:
    """Colour for t in [0, 1]."""
    t = min(max(t, 0.0), 1.0) * (len(VIRIDIS) - 1)
    i = min(int(t), len(VIRIDIS) - 2)
    return _mix(_rgb(VIRIDIS[i]), _rgb(VIRIDIS[i + 1]), t - i)


def diverging(t: float) -> str:
    """Colour for t in [-1, 1]: blue below zero, white at zero, vermillion above."""
    t = min(max(t, -1.0), 1.0)
    return _mix((255, 255, 255), POSITIVE if t >= 0 else NEGATIVE, abs(t))


def text_colour(fill: str) -> str:
    """Black or white, whichever reads better on ``fill`` (relative luminance)."""
    r, g, b = (c / 255 for c in _rgb(fill))
    return "#000" if 0.2126 * r + 0.7152 * g + 0.0722 * b > 0.45 else "#fff"


def shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


_TAG = re.compile(r"<[^>]+>")
"""A tag of our own making; data strings are escaped, so they never contain "<" and never match."""
_POINT_ZERO = re.compile(r"(?<=\d)\.0(?=[\s\",])")


def _n(x: float) -> str:
    """A coordinate in whole pixels: a chart is 680 px wide, so half a pixel is under 0.1% of an axis, and every
    figure is also in the chart's tooltips and data table."""
    return str(round(x))


class _Svg:
    """Collects SVG elements; ``text`` escapes, everything else is numbers we formatted.

    ``group`` opens a ``<g>`` whose text anchor, font size and other attributes its children inherit, so
    25 labels of a bar chart carry ``text-anchor="end"`` once instead of 25 times."""

    def __init__(self, anchor: str = "start", size: int = FONT, head: str = "") -> None:
        self.parts: list[str | _Svg] = []
        self.anchor, self.size, self.head = anchor, size, head

    def add(self, markup: str) -> None:
        self.parts.append(markup)

    def group(self, *, anchor: str | None = None, size: int | None = None, attrs: str = "") -> _Svg:
        head = "".join((f' text-anchor="{anchor}"' if anchor and anchor != self.anchor else "",
                        f' font-size="{size}"' if size and size != self.size else "", f" {attrs}" if attrs else ""))
        g = _Svg(anchor or self.anchor, size or self.size, head)
        self.parts.append(g)
        return g

    def markup(self) -> str:
        body = "".join(p if isinstance(p, str) else p.markup() for p in self.parts)
        return f"<g{self.head}>{body}</g>" if self.head and body else body

    def text(self, x: float, y: float, content: Any, *, anchor: str | None = None, size: int | None = None,
             weight: str = "normal", rotate: float | None = None, fill: str = INK, tip: Any = None) -> None:
        """A label; attributes equal to those its group or the <svg> root sets are left out (charts stay small),
        and the tooltip only when it says more than the label (a shortened one)."""
        attrs = "".join((f' text-anchor="{anchor}"' if anchor and anchor != self.anchor else "",
                         f' font-size="{size}"' if size and size != self.size else "",
                         f' font-weight="{weight}"' if weight != "normal" else "",
                         f' fill="{fill}"' if fill != INK else "",
                         f' transform="rotate({rotate:g} {_n(x)} {_n(y)})"' if rotate is not None else ""))
        title = f"<title>{escape(str(tip))}</title>" if tip is not None and str(tip) != str(content) else ""
        self.add(f'<text x="{_n(x)}" y="{_n(y)}"{attrs}>{title}{escape(str(content))}</text>')

    def line(self, x1: float, y1: float, x2: float, y2: float, stroke: str = "#444", width: float = 1, dash: str = "") -> None:
        d = (f' stroke-width="{width:g}"' if width != 1 else "") + (f' stroke-dasharray="{dash}"' if dash else "")
        self.add(f'<line x1="{_n(x1)}" y1="{_n(y1)}" x2="{_n(x2)}" y2="{_n(y2)}" stroke="{stroke}"{d}/>')

    def marker(self, kind: str, x: float, y: float, colour: str, tip: str | None) -> None:
        title = f"<title>{escape(tip)}</title>" if tip is not None else ""
        if kind == "square":
            self.add(f'<rect x="{_n(x - 4)}" y="{_n(y - 4)}" width="8" height="8" fill="{colour}">{title}</rect>')
        elif kind == "triangle":
            self.add(f'<polygon points="{_n(x)},{_n(y - 5)} {_n(x - 5)},{_n(y + 4)} {_n(x + 5)},{_n(y + 4)}" fill="{colour}">{title}</polygon>')
        elif kind == "diamond":
            self.add(f'<polygon points="{_n(x)},{_n(y - 5)} {_n(x + 5)},{_n(y)} {_n(x)},{_n(y + 5)} {_n(x - 5)},{_n(y)}" fill="{colour}">{title}</polygon>')
        else:
            self.add(f'<circle cx="{_n(x)}" cy="{_n(y)}" r="4" fill="{colour}">{title}</circle>')

    def markers(self, kind: str, points: list[tuple[float, float]], colour: str) -> None:
        """The same marks as :meth:`marker` (without tooltips), as one path: a zero-length stroke with a round
        or square cap is a circle of radius 4 or an 8 × 8 square; triangles and diamonds are closed subpaths."""
        if not points:
            return
        if kind in ("triangle", "diamond"):
            shape = "M{x} {a}L{l} {b}L{r} {b}Z" if kind == "triangle" else "M{x} {a}L{r} {y}L{x} {c}L{l} {y}Z"
            d = "".join(shape.format(x=_n(x), y=_n(y), a=_n(y - 5), b=_n(y + 4), c=_n(y + 5), l=_n(x - 5), r=_n(x + 5))
                        for x, y in points)
            self.add(f'<path d="{d}" fill="{colour}"/>')
        else:
            cap = "square" if kind == "square" else "round"
            d = "".join(f"M{_n(x)} {_n(y)}h0" for x, y in points)
            self.add(f'<path d="{d}" stroke="{colour}" stroke-width="8" stroke-linecap="{cap}" fill="none"/>')

    def render(self, width: float, height: float, title: str, desc: str, uid: str) -> Markup:
        head = (f'<svg class="chart" viewBox="0 0 {width:.0f} {height:.0f}" width="{width:.0f}" height="{height:.0f}" '
                f'role="img" aria-labelledby="{uid}-t {uid}-d" font-family="system-ui, sans-serif" font-size="{FONT}" fill="{INK}">'
                f'<title id="{uid}-t">{escape(title)}</title><desc id="{uid}-d">{escape(desc)}</desc>')
        body = _TAG.sub(lambda m: _POINT_ZERO.sub("", m.group(0)), self.markup())  # "50.0" -> "50" in attributes
        return Markup(head + body + "</svg>")


def render_chart(chart: Chart, uid: str) -> Markup:
    """The chart as inline SVG. ``uid`` must be a safe identifier (we make it, never the data)."""
    draw = {"bar": _bar, "line": _xy, "scatter": _xy, "heatmap": _heatmap}.get(chart.kind)
    if draw is None:
        return Markup('<p class="note">Chart kind {} cannot be drawn; its data is in the table below.</p>').format(chart.kind)
    return draw(chart, uid)


def _description(chart: Chart, summary: str, dropped: int, note: str = "") -> str:
    parts = [chart.alt or summary]
    if dropped:
        parts.append(f"{dropped} point(s) without a finite value were left out.")
    if note:
        parts.append(note)
    return " ".join(parts)


def _no_data(chart: Chart) -> Markup:
    return Markup('<p class="note">No drawable data for the chart “{}”.</p>').format(chart.title)


def _bar(chart: Chart, uid: str) -> Markup:
    rows, dropped = [], 0
    for item in chart.data if isinstance(chart.data, list) else []:
        value = number(item.get("value")) if isinstance(item, dict) else None
        if value is None:
            dropped += 1
            continue
        low, high = number(item.get("low")), number(item.get("high"))
        rows.append((str(item.get("label", "")), value, low, high))
    if not rows:
        return _no_data(chart)
    note = f"The first {MAX_BARS} of {len(rows)} bars are drawn; the chart's data has all." if len(rows) > MAX_BARS else ""
    rows = rows[:MAX_BARS]
    label_chars = min(max(len(r[0]) for r in rows), 32)
    left = 16 + label_chars * 6.6
    right, top, row_h = 70, 34, 24
    plot_w = WIDTH - left - right
    height = top + row_h * len(rows) + 52
    values = [v for r in rows for v in (r[1], r[2], r[3]) if v is not None]
    ticks = nice_ticks(min(0.0, *values), max(0.0, *values))
    lo, hi = ticks[0], ticks[-1]

    def sx(v: float) -> float:
        return left + (v - lo) / (hi - lo) * plot_w

    svg = _Svg()
    svg.text(left - 8, top - 14, chart.x_label, anchor="end", weight="bold")
    bottom = top + row_h * len(rows)
    grid = "".join(f"M{_n(sx(t))} {top - 4}V{bottom}" for t in ticks)
    svg.add(f'<path d="{grid}" stroke="#ddd"/><path d="M{_n(sx(0))} {top - 4}V{bottom}" stroke="#444"/>')
    tick_text = svg.group(anchor="middle", size=11)
    for t in ticks:
        tick_text.text(sx(t), bottom + 16, tick_label(t))
    svg.text(left + plot_w / 2, bottom + 38, chart.y_label, anchor="middle", weight="bold")
    labels, bars, value_text = svg.group(anchor="end"), svg.group(attrs=f'fill="{OKABE_ITO[0]}"'), svg.group(size=11)
    whiskers = []
    for i, (label, value, low, high) in enumerate(rows):
        y = top + i * row_h
        shown = shorten(label, 32)
        tip = (f"{label}: " if shown != label else "") + f"{value:.4g}" + (  # the whole label when it is shortened
            f" (95% CI {low:.4g} to {high:.4g})" if low is not None and high is not None else "")
        labels.text(left - 8, y + row_h / 2 + 4, shown, tip=label)
        x0, x1 = sorted((sx(0), sx(value)))
        bars.add(f'<rect x="{_n(x0)}" y="{_n(y + 5)}" width="{_n(max(x1 - x0, 1))}" height="{row_h - 10}">'
                 f"<title>{escape(tip)}</title></rect>")
        end = sx(value)
        if low is not None and high is not None:
            a, b, mid = sx(low), sx(high), y + row_h / 2
            whiskers.append(f"M{_n(a)} {_n(mid - 5)}v10m0-5H{_n(b)}m0-5v10")  # low cap, the interval, high cap
            end = max(end, a, b)
        value_text.text(end + 6, y + row_h / 2 + 4, f"{value:.3g}")
    if whiskers:  # every error bar in one path: they carry no tooltip of their own (the bar's has the interval)
        svg.add(f'<path d="{"".join(whiskers)}" fill="none" stroke="#000" stroke-width="1.5"/>')
    ci = any(r[2] is not None for r in rows)
    summary = (f"Bar chart of {chart.y_label} by {chart.x_label}: "
               + "; ".join(f"{r[0]} {r[1]:.3g}" for r in rows[:20])
               + ("; error bars are 95% confidence intervals." if ci else "."))
    return svg.render(WIDTH, height, chart.title, _description(chart, summary, dropped, note), uid)


def drawn_note(chart: Chart) -> str:
    """What the page shows of a chart that is drawn only in part (said under the chart, not only in its <desc>)."""
    n = len(chart.data) if isinstance(chart.data, list) else 0
    return f"The first {MAX_BARS} of {n} bars are drawn; the chart data below has or links all of them." if chart.kind == "bar" and n > MAX_BARS else ""


def _points(data: Any) -> tuple[dict[str, list[tuple[Any, float]]], int]:
    series: dict[str, list[tuple[Any, float]]] = {}
    dropped = 0
    for item in data if isinstance(data, list) else []:
        y = number(item.get("y")) if isinstance(item, dict) else None
        if y is None or item.get("x") is None:
            dropped += 1
            continue
        series.setdefault(str(item.get("series", "")), []).append((item["x"], y))
    return series, dropped


def _xy(chart: Chart, uid: str) -> Markup:
    series, dropped = _points(chart.data)
    if not series:
        return _no_data(chart)
    xs = [x for pts in series.values() for x, _ in pts]
    numeric = all(number(x) is not None for x in xs)
    total, note = len(xs), ""
    if total > MAX_POINTS:
        stride = math.ceil(total / MAX_POINTS)
        series = {k: (sorted(v, key=lambda p: float(p[0])) if numeric else v)[::stride] for k, v in series.items()}
        note = f"Every {stride}th point is drawn ({sum(map(len, series.values()))} of {total}); the chart's data has all."
    tips = sum(map(len, series.values())) <= MAX_TIPS
    if not tips:
        note = (note + " " if note else "") + "Point values are in the data table (no tooltips on this many points)."
    categories: list[str] = []
    if not numeric:
        categories = list(dict.fromkeys(str(x) for x in xs))
    ys = [y for pts in series.values() for _, y in pts]
    left, right, top = 64, 20, 24
    legend_rows = math.ceil(len(series) / 3) if len(series) > 1 else 0
    plot_h = 260
    height = top + plot_h + 60 + legend_rows * 20
    plot_w = WIDTH - left - right
    yt = nice_ticks(min(ys), max(ys))
    if numeric:
        xt = nice_ticks(min(float(x) for x in xs), max(float(x) for x in xs))
        x_lo, x_hi = xt[0], xt[-1]
    bottom = top + plot_h

    def sx(x: Any) -> float:
        if numeric:
            return left + (float(x) - x_lo) / (x_hi - x_lo) * plot_w
        return left + (categories.index(str(x)) + 0.5) / len(categories) * plot_w

    def sy(y: float) -> float:
        return bottom - (y - yt[0]) / (yt[-1] - yt[0]) * plot_h

    svg = _Svg()
    for t in yt:
        svg.line(left, sy(t), left + plot_w, sy(t), stroke="#ddd")
        svg.text(left - 6, sy(t) + 4, tick_label(t), anchor="end", size=11)
    if numeric:
        for t in xt:
            svg.line(sx(t), bottom, sx(t), bottom + 4)
            svg.text(sx(t), bottom + 17, tick_label(t), anchor="middle", size=11)
    else:
        for c in categories:
            svg.line(sx(c), bottom, sx(c), bottom + 4)
            svg.text(sx(c), bottom + 17, shorten(c, max(4, int(plot_w / len(categories) / 6.5))), anchor="middle", size=11, tip=c)
    svg.line(left, top, left, bottom)
    svg.line(left, bottom, left + plot_w, bottom)
    svg.text(left + plot_w / 2, bottom + 38, chart.x_label, anchor="middle", weight="bold")
    svg.text(16, top + plot_h / 2, chart.y_label, anchor="middle", weight="bold", rotate=-90)
    styles = zip(itertools.cycle(OKABE_ITO), itertools.cycle(MARKERS), itertools.cycle(DASHES))
    for (name, pts), (colour, mark, dash) in zip(series.items(), styles):
        if numeric:
            pts = sorted(pts, key=lambda p: float(p[0]))
        if chart.kind == "line" and len(pts) > 1:
            d = " ".join(f"{_n(sx(x))},{_n(sy(y))}" for x, y in pts)
            dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
            svg.add(f'<polyline points="{d}" fill="none" stroke="{colour}" stroke-width="2"{dash_attr}/>')
        if tips:
            for x, y in pts:
                svg.marker(mark, sx(x), sy(y), colour, f"{name}: {x} → {y:.4g}")
        else:  # no tooltips: one path per series draws the same marks in a tenth of the markup
            svg.markers(mark, [(sx(x), sy(y)) for x, y in pts], colour)
    if legend_rows:
        for i, (name, (colour, mark, dash)) in enumerate(zip(series, zip(itertools.cycle(OKABE_ITO), itertools.cycle(MARKERS), itertools.cycle(DASHES)))):
            lx, ly = left + (i % 3) * (plot_w / 3), bottom + 58 + (i // 3) * 20
            if chart.kind == "line":
                svg.line(lx, ly - 4, lx + 22, ly - 4, stroke=colour, width=2, dash=dash)
            svg.marker(mark, lx + 11, ly - 4, colour, name)
            svg.text(lx + 28, ly, shorten(name, 28), size=11, tip=name)
    what = "Line chart" if chart.kind == "line" else "Scatter plot"
    summary = (f"{what} of {chart.y_label} against {chart.x_label}, {len(series)} series: "
               + "; ".join(f"{n} ({len(p)} points, {min(v for _, v in p):.3g} to {max(v for _, v in p):.3g})" for n, p in list(series.items())[:10]) + ".")
    return svg.render(WIDTH, height, chart.title, _description(chart, summary, dropped, note), uid)


def _heatmap(chart: Chart, uid: str) -> Markup:
    data = chart.data if isinstance(chart.data, dict) else {}
    rows = [str(r) for r in data.get("rows") or []]
    cols = [str(c) for c in data.get("cols") or []]
    raw = data.get("values") or []
    note = ""
    if len(rows) > MAX_SIDE or len(cols) > MAX_SIDE:
        note = f"The first {min(len(rows), MAX_SIDE)} of {len(rows)} rows and {min(len(cols), MAX_SIDE)} of {len(cols)} columns are drawn; the chart's data has all."
        rows, cols = rows[:MAX_SIDE], cols[:MAX_SIDE]
    grid = [[number(raw[i][j]) if i < len(raw) and isinstance(raw[i], (list, tuple)) and j < len(raw[i]) else None
             for j in range(len(cols))] for i in range(len(rows))]
    finite = [v for row in grid for v in row if v is not None]
    if not finite:
        return _no_data(chart)
    signed = min(finite) < 0 < max(finite)
    bound = max(abs(v) for v in finite) or 1.0
    lo, hi = min(finite), max(finite)
    label_chars = min(max(len(r) for r in rows), 28)
    left = 16 + label_chars * 6.6
    col_chars = min(max(len(c) for c in cols), 20)
    cell = max(10.0, min(48.0, (WIDTH - left - 20) / len(cols)))
    top = 24
    plot_h = cell * len(rows)
    bottom = top + plot_h
    height = bottom + col_chars * 5.2 + 70
    width = max(WIDTH, left + cell * len(cols) + 20)

    def colour(v: float) -> str:
        if signed:
            return diverging(v / bound)
        return viridis(0.5 if hi == lo else (v - lo) / (hi - lo))

    svg = _Svg()
    show_values = cell >= 34 and len(rows) * len(cols) <= 400
    row_labels = svg.group(anchor="end", size=11)
    cells = svg.group(attrs='stroke="#fff"')
    values = svg.group(anchor="middle", size=10)
    for i, r in enumerate(rows):
        y = top + i * cell
        row_labels.text(left - 6, y + cell / 2 + 4, shorten(r, 28), tip=r)
        for j, c in enumerate(cols):
            v = grid[i][j]
            x = left + j * cell
            fill = "#eee" if v is None else colour(v)
            tip = f"{r} × {c}: " + ("no value" if v is None else f"{v:.4g}")
            pattern = ' stroke="#999" stroke-dasharray="2 2"' if v is None else ""
            cells.add(f'<rect x="{_n(x)}" y="{_n(y)}" width="{_n(cell)}" height="{_n(cell)}" fill="{fill}"{pattern}>'
                      f"<title>{escape(tip)}</title></rect>")
            if show_values and v is not None:
                values.text(x + cell / 2, y + cell / 2 + 4, f"{v:.2g}", fill=text_colour(fill))
    for j, c in enumerate(cols):
        x = left + j * cell + cell / 2
        svg.text(x, bottom + 10, shorten(c, 20), anchor="end", size=11, rotate=-45, tip=c)
    axis_y = bottom + col_chars * 5.2 + 24
    svg.text(left + cell * len(cols) / 2, axis_y, chart.x_label, anchor="middle", weight="bold")
    svg.text(4, top - 8, chart.y_label, weight="bold")
    # colour legend
    lx, ly, lw = left, axis_y + 14, min(240.0, cell * len(cols))
    steps = 24
    for k in range(steps):
        t = k / (steps - 1)
        v = -bound + 2 * bound * t if signed else lo + (hi - lo) * t
        svg.add(f'<rect x="{_n(lx + k * lw / steps)}" y="{_n(ly)}" width="{_n(lw / steps + 0.5)}" height="10" fill="{colour(v)}"/>')
    svg.text(lx, ly + 24, tick_label(-bound if signed else lo), size=10)
    svg.text(lx + lw, ly + 24, tick_label(bound if signed else hi), anchor="end", size=10)
    if signed:
        svg.text(lx + lw / 2, ly + 24, "0", anchor="middle", size=10)
    height = ly + 34
    scale = "blue (negative) to vermillion (positive)" if signed else "viridis, dark (low) to yellow (high)"
    summary = (f"Heatmap of {len(rows)} {chart.y_label} by {len(cols)} {chart.x_label}; values from {lo:.3g} to {hi:.3g}, "
               f"colour scale {scale}.")
    return svg.render(width, height, chart.title, _description(chart, summary, 0, note), uid)


def chart_table(chart: Chart) -> tuple[list[str], list[list[Any]]]:
    """The chart's data as (header, rows): the text alternative shown under each chart."""
    data = chart.data
    if chart.kind == "heatmap" and isinstance(data, dict):
        cols = [str(c) for c in data.get("cols") or []]
        values = data.get("values") or []
        rows = []
        for i, r in enumerate(data.get("rows") or []):
            row = values[i] if i < len(values) and isinstance(values[i], (list, tuple)) else []
            rows.append([r, *[row[j] if j < len(row) else None for j in range(len(cols))]])
        return [f"{chart.y_label} \\ {chart.x_label}", *cols], rows
    items = [d for d in data if isinstance(d, dict)] if isinstance(data, list) else []
    if chart.kind == "bar":
        header = [chart.x_label, chart.y_label, "95% CI low", "95% CI high"]
        return header, [[d.get("label"), d.get("value"), d.get("low"), d.get("high")] for d in items]
    keys: list[str] = list(dict.fromkeys(k for d in items for k in d))
    names = {"series": "series", "x": chart.x_label, "y": chart.y_label}
    return [names.get(k, k) for k in keys], [[d.get(k) for k in keys] for d in items]


ATTRIBUTION_STEPS = 8
"""Shades per sign for attributed words: a class per shade keeps a 500-word explanation small; the exact
score is in the word's tooltip and in data/explanations.jsonl."""


def attribution_step(score: Any, scale: float) -> int:
    """The shade of one attributed word: -8 (full blue) to 8 (full vermillion), 0 (white) for a score under
    half a step of the largest |score| (or no score)."""
    s = number(score)
    if s is None or scale <= 0:
        return 0
    return round(min(max(s / scale, -1.0), 1.0) * ATTRIBUTION_STEPS)


def attribution_css() -> str:
    """One CSS rule per shade (``.tokens .p3``, ``.tokens .n5``), colours from :func:`diverging`, white ink on
    the dark ones."""
    rules = []
    for k in range(1, ATTRIBUTION_STEPS + 1):
        for sign, name in ((1, "p"), (-1, "n")):
            fill = diverging(sign * k / ATTRIBUTION_STEPS)
            ink = "" if text_colour(fill) == "#000" else ";color:#fff"
            rules.append(f".tokens .{name}{k}{{background:{fill}{ink}}}")
    return "\n".join(rules)


def attribution_class(step: int) -> str:
    return "" if step == 0 else f"{'p' if step > 0 else 'n'}{abs(step)}"


def max_abs(values: Iterable[Any]) -> float:
    finite = [abs(v) for v in (number(x) for x in values) if v is not None]
    return max(finite, default=0.0)


__all__ = ["OKABE_ITO", "VIRIDIS", "attribution_class", "attribution_css", "attribution_step", "chart_table", "max_abs",
           "render_chart"]
