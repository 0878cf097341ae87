"""Small server-side SVG plots for the lead's dashboard (no plotting library, no scripts).

Every text and attribute value is escaped here, so names of sources, items and raters
(which are untrusted) can go straight in; :meth:`Svg.render` returns markup that templates
may include as is. Styling uses SVG presentation attributes (``fill``, ``stroke``) and
classes, never ``style`` attributes, so the strict Content-Security-Policy holds.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

from django.utils.safestring import SafeString, mark_safe

FONT = 12
LABEL_CHARS = 28
INK, MUTED, GRID, ACCENT = "#1c2330", "#5f6b7a", "#dde2e8", "#2f5bd3"
NO_DATA = "#eef0f3"


def _attribute_name(name: str) -> str:
    return "class" if name == "class_" else name.rstrip("_").replace("_", "-")


def _number(value: float) -> str:
    return f"{value:.2f}".rstrip("0").rstrip(".")


class Svg:
    """An SVG document built element by element, with everything escaped."""

    def __init__(self, width: float, height: float, *, title: str, css_class: str = "plot"
                 ) -> None:
        self.width, self.height = width, height
        self.title = title
        self.css_class = css_class
        self.parts: list[str] = []

    def element(self, tag: str, text: str | None = None, *, tooltip: str | None = None,
                **attributes: object) -> None:
        """``<tag attributes>text<title>tooltip</title></tag>``; floats are rounded."""
        rendered = "".join(
            f' {_attribute_name(name)}="'
            f'{escape(_number(value) if isinstance(value, float) else str(value))}"'
            for name, value in attributes.items() if value is not None)
        inner = (f"<title>{escape(tooltip)}</title>" if tooltip else "") + \
            (escape(text) if text is not None else "")
        self.parts.append(f"<{tag}{rendered}>{inner}</{tag}>")

    def text(self, x: float, y: float, text: str, *, anchor: str = "start",
             size: int = FONT, fill: str = INK, tooltip: str | None = None,
             **attributes: object) -> None:
        self.element("text", text, x=x, y=y, font_size=size, fill=fill, text_anchor=anchor,
                     tooltip=tooltip, **attributes)

    def line(self, x1: float, y1: float, x2: float, y2: float, *, stroke: str = GRID,
             width: float = 1.0, dash: str | None = None, tooltip: str | None = None) -> None:
        self.element("line", x1=x1, y1=y1, x2=x2, y2=y2, stroke=stroke, stroke_width=width,
                     stroke_dasharray=dash, tooltip=tooltip)

    def render(self) -> SafeString:
        head = (f'<svg xmlns="http://www.w3.org/2000/svg" class="{escape(self.css_class)}" '
                f'viewBox="0 0 {_number(self.width)} {_number(self.height)}" '
                f'width="{_number(self.width)}" height="{_number(self.height)}" role="img" '
                f'font-family="system-ui, sans-serif">')
        # Everything above was escaped element by element.
        return mark_safe(head + f"<title>{escape(self.title)}</title>"
                         + "".join(self.parts) + "</svg>")


def shorten(label: str, limit: int = LABEL_CHARS) -> str:
    return label if len(label) <= limit else label[: limit - 1] + "…"


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round tick values covering [low, high] (1, 2, 5 times a power of ten apart)."""
    if not (math.isfinite(low) and math.isfinite(high)) or high <= low:
        return [low]
    raw = (high - low) / max(count - 1, 1)
    power = 10 ** math.floor(math.log10(raw))
    step = next(factor * power for factor in (1, 2, 5, 10) if factor * power >= raw)
    first = math.ceil(low / step) * step
    return [first + k * step for k in range(int((high - first) / step + 1e-9) + 1)]


@dataclass(frozen=True)
class Interval:
    """One row of a forest plot."""

    label: str
    estimate: float
    lower: float
    upper: float
    note: str = ""  # extra tooltip text


def forest_plot(rows: Sequence[Interval], *, title: str, axis_label: str,
                reference: float | None = None, width: int = 640) -> SafeString:
    """Point estimates with intervals, one row each, in the order given."""
    row_height, top, bottom, left, right = 24, 16, 44, 190, 24
    height = top + bottom + row_height * max(len(rows), 1)
    svg = Svg(width, height, title=title)
    if not rows:
        svg.text(width / 2, height / 2, "nothing to show", anchor="middle", fill=MUTED)
        return svg.render()
    low = min(row.lower for row in rows)
    high = max(row.upper for row in rows)
    if reference is not None:
        low, high = min(low, reference), max(high, reference)
    pad = (high - low) * 0.05 or 1.0
    low, high = low - pad, high + pad

    def x(value: float) -> float:
        return left + (value - low) / (high - low) * (width - left - right)

    axis_y = top + row_height * len(rows)
    for tick in nice_ticks(low, high):
        svg.line(x(tick), top, x(tick), axis_y, stroke=GRID)
        svg.text(x(tick), axis_y + 16, _number(tick), anchor="middle", size=11, fill=MUTED)
    if reference is not None:
        svg.line(x(reference), top, x(reference), axis_y, stroke=MUTED, dash="4 3")
    svg.text(left + (width - left - right) / 2, height - 8, axis_label, anchor="middle",
             fill=MUTED)
    for index, row in enumerate(rows):
        y = top + row_height * index + row_height / 2
        tip = (f"{row.label}: {row.estimate:.0f} (95 % interval {row.lower:.0f} to "
               f"{row.upper:.0f}){' · ' + row.note if row.note else ''}")
        svg.text(left - 8, y + 4, shorten(row.label), anchor="end", tooltip=row.label)
        svg.line(x(row.lower), y, x(row.upper), y, stroke=ACCENT, width=2.0, tooltip=tip)
        svg.element("circle", cx=x(row.estimate), cy=y, r=4.5, fill=ACCENT, tooltip=tip)
    return svg.render()


def _blend(start: tuple[int, int, int], end: tuple[int, int, int], t: float) -> str:
    red, green, blue = (round(a + (b - a) * t) for a, b in zip(start, end, strict=True))
    return f"#{red:02x}{green:02x}{blue:02x}"


def diverging_colour(value: float) -> str:
    """0 -> red, 0.5 -> white, 1 -> blue (colour-blind safe, ColorBrewer RdBu ends)."""
    value = min(max(value, 0.0), 1.0)
    if value < 0.5:
        return _blend((202, 0, 32), (247, 247, 247), value / 0.5)
    return _blend((247, 247, 247), (5, 113, 176), (value - 0.5) / 0.5)


def win_rate_heatmap(names: Sequence[str], win_rate: Sequence[Sequence[float | None]],
                     comparisons: Sequence[Sequence[float]], *, title: str) -> SafeString:
    """Row i, column j: how often i beat j (decisive comparisons; ties left out)."""
    n = len(names)
    cell = 44 if n <= 10 else max(18, 440 // max(n, 1))
    left, top = 170, 110
    width, height = left + cell * n + 100, top + cell * n + 34  # room for slanted labels
    svg = Svg(width, height, title=title)
    for j, name in enumerate(names):
        cx = left + cell * j + cell / 2
        svg.text(cx, top - 8, shorten(name, 18), anchor="start", size=11, tooltip=name,
                 transform=f"rotate(-40 {_number(cx)} {_number(top - 8)})")
    for i, row_name in enumerate(names):
        y = top + cell * i
        svg.text(left - 8, y + cell / 2 + 4, shorten(row_name, 24), anchor="end", size=11,
                 tooltip=row_name)
        for j, column_name in enumerate(names):
            _heat_cell(svg, left + cell * j, y, cell, i == j, win_rate[i][j],
                       comparisons[i][j], row_name, column_name)
    svg.text(left, height - 10, "row's win rate against the column (ties left out)",
             size=11, fill=MUTED)
    return svg.render()


def _heat_cell(svg: Svg, x: float, y: float, size: float, diagonal: bool,
               rate: float | None, count: float, row_name: str, column_name: str) -> None:
    if diagonal:
        svg.element("rect", x=x, y=y, width=size, height=size, fill="#ffffff", stroke=GRID)
        return
    if rate is None:
        tip = f"{row_name} and {column_name} were never compared decisively"
        svg.element("rect", x=x, y=y, width=size, height=size, fill=NO_DATA, stroke=GRID,
                    tooltip=tip)
        return
    tip = (f"{row_name} beat {column_name} in {rate:.0%} of decisive comparisons "
           f"({count:.0f} comparisons in all)")
    svg.element("rect", x=x, y=y, width=size, height=size, fill=diverging_colour(rate),
                stroke="#ffffff", tooltip=tip)
    if size >= 30:
        svg.text(x + size / 2, y + size / 2 + 4, f"{rate * 100:.0f}", anchor="middle",
                 size=11, fill="#ffffff" if abs(rate - 0.5) > 0.3 else INK, tooltip=tip)


@dataclass(frozen=True)
class CalibrationPoint:
    predicted: float
    observed: float
    count: float


def reliability_diagram(points: Sequence[CalibrationPoint], *, title: str,
                        size: int = 300) -> SafeString:
    """Mean prediction against observed frequency per bin; the diagonal is perfect."""
    margin = 44
    svg = Svg(size + margin + 16, size + margin + 16, title=title)

    def x(value: float) -> float:
        return margin + value * size

    def y(value: float) -> float:
        return 12 + (1 - value) * size

    for tick in (0.0, 0.25, 0.5, 0.75, 1.0):
        svg.line(x(tick), y(0), x(tick), y(1), stroke=GRID)
        svg.line(x(0), y(tick), x(1), y(tick), stroke=GRID)
        svg.text(x(tick), y(0) + 15, _number(tick), anchor="middle", size=10, fill=MUTED)
        svg.text(x(0) - 6, y(tick) + 4, _number(tick), anchor="end", size=10, fill=MUTED)
    svg.line(x(0), y(0), x(1), y(1), stroke=MUTED, dash="4 3")
    total = sum(point.count for point in points) or 1.0
    shown = [point for point in points if point.count > 0]
    if len(shown) > 1:
        svg.element("polyline", fill="none", stroke=ACCENT, stroke_width=1.5,
                    points=" ".join(f"{_number(x(p.predicted))},{_number(y(p.observed))}"
                                    for p in shown))
    for point in shown:
        tip = (f"predicted {point.predicted:.2f}, observed {point.observed:.2f} "
               f"({point.count:.0f} judgments)")
        svg.element("circle", cx=x(point.predicted), cy=y(point.observed),
                    r=2.5 + 9 * math.sqrt(point.count / total), fill=ACCENT,
                    fill_opacity="0.75", tooltip=tip)
    svg.text(x(0.5), size + margin + 10, "predicted chance the left response wins",
             anchor="middle", size=11, fill=MUTED)
    svg.text(12, y(0.5), "observed", anchor="middle", size=11, fill=MUTED,
             transform=f"rotate(-90 12 {_number(y(0.5))})")
    return svg.render()


@dataclass(frozen=True)
class CurvePoint:
    x: float
    y: float
    se: float | None = None


def line_chart(points: Sequence[CurvePoint], *, title: str, x_label: str, y_label: str,
               reference: float | None = None, width: int = 360, height: int = 220
               ) -> SafeString:
    """A line with ±1 SE bars, e.g. held-out log-loss against training judgments."""
    left, right, top, bottom = 54, 16, 12, 40
    svg = Svg(width, height, title=title)
    finite = [p for p in points if math.isfinite(p.y)]
    if not finite:
        svg.text(width / 2, height / 2, "nothing to show", anchor="middle", fill=MUTED)
        return svg.render()
    spread = [p.y + s * (p.se or 0.0) for p in finite for s in (-1, 1)]
    low, high = min(spread + ([reference] if reference else [])), max(
        spread + ([reference] if reference else []))
    pad = (high - low) * 0.1 or 0.05
    low, high = low - pad, high + pad
    x_low, x_high = 0.0, max(p.x for p in finite) * 1.05 or 1.0

    def x(value: float) -> float:
        return left + (value - x_low) / (x_high - x_low) * (width - left - right)

    def y(value: float) -> float:
        return top + (high - value) / (high - low) * (height - top - bottom)

    for tick in nice_ticks(low, high, 4):
        svg.line(x(x_low), y(tick), x(x_high), y(tick), stroke=GRID)
        svg.text(left - 6, y(tick) + 4, _number(tick), anchor="end", size=10, fill=MUTED)
    for tick in nice_ticks(x_low, x_high, 4):
        svg.text(x(tick), height - bottom + 15, f"{tick:,.0f}", anchor="middle", size=10,
                 fill=MUTED)
    if reference is not None:
        svg.line(x(x_low), y(reference), x(x_high), y(reference), stroke=MUTED, dash="4 3")
    svg.element("polyline", fill="none", stroke=ACCENT, stroke_width=1.5,
                points=" ".join(f"{_number(x(p.x))},{_number(y(p.y))}" for p in finite))
    for point in finite:
        tip = f"{point.x:,.0f}: {point.y:.3f}" + (f" ± {point.se:.3f}" if point.se else "")
        if point.se:
            svg.line(x(point.x), y(point.y - point.se), x(point.x), y(point.y + point.se),
                     stroke=ACCENT)
        svg.element("circle", cx=x(point.x), cy=y(point.y), r=3.5, fill=ACCENT, tooltip=tip)
    svg.text(left + (width - left - right) / 2, height - 6, x_label, anchor="middle",
             size=11, fill=MUTED)
    svg.text(12, top + (height - top - bottom) / 2, y_label, anchor="middle", size=11,
             fill=MUTED, transform=f"rotate(-90 12 {_number(top + (height - top - bottom) / 2)})")
    return svg.render()
