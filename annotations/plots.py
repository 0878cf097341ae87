"""Small server-side SVG plots for the lead's dashboard (no plotting library, no scripts).

Every text and attribute value is escaped here, so names of sources, items and raters
(which are untrusted) can go straight in; :meth:`Svg.render` returns markup that templates
may include as is. Styling uses SVG presentation attributes (``fill``, ``stroke``) and
classes, never ``style`` attributes, so the strict Content-Security-Policy holds.

Colours follow the page's theme: every themed mark has a class (``ink``, ``muted``,
``grid``, ``accent``, ``blank``, ``no-data``) that static/css/app.css colours with the
theme's custom properties (light or dark, ``prefers-color-scheme``); the presentation
attributes are the light theme, for an SVG shown on its own. Text on a heat-map cell sits on
a fixed colour, so it is black or white, whichever contrasts more with that cell (WCAG AA,
4.5:1 at least). Every text is at least 12 px.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

from django.utils.safestring import SafeString, mark_safe

FONT = 12  # the smallest text of any plot (tick labels included)
TITLE_FONT = 13
LABEL_CHARS = 28
INK, MUTED, GRID, ACCENT = "#1c2330", "#5f6b7a", "#dde2e8", "#2f5bd3"
NO_DATA, BLANK = "#eef0f3", "#ffffff"
CLASS_OF = {INK: "ink", MUTED: "muted", GRID: "grid", ACCENT: "accent", NO_DATA: "no-data",
            BLANK: "blank"}
CELL_TEXT_DARK, CELL_TEXT_LIGHT = "#000000", "#ffffff"
CHAR_WIDTH = 0.6  # of the font size: a generous estimate of a system-ui glyph's advance


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
        self.element("text", text, x=x, y=y, font_size=max(size, FONT), fill=fill,
                     text_anchor=anchor, tooltip=tooltip, class_=CLASS_OF.get(fill),
                     **attributes)

    def line(self, x1: float, y1: float, x2: float, y2: float, *, stroke: str = GRID,
             width: float = 1.0, dash: str | None = None, tooltip: str | None = None) -> None:
        self.element("line", x1=x1, y1=y1, x2=x2, y2=y2, stroke=stroke, stroke_width=width,
                     stroke_dasharray=dash, tooltip=tooltip, class_=CLASS_OF.get(stroke))

    def mark(self, tag: str, *, colour: str, tooltip: str | None = None,
             **attributes: object) -> None:
        """A filled shape in a themed colour (``fill`` and its class)."""
        self.element(tag, fill=colour, class_=CLASS_OF.get(colour), tooltip=tooltip,
                     **attributes)

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


def text_width(text: str, size: int = FONT) -> float:
    return len(text) * size * CHAR_WIDTH


def _nice_number(value: float, *, rounded: bool) -> float:
    """1, 2 or 5 times a power of ten near ``value`` (Heckbert, Graphics Gems 1990)."""
    power = 10 ** math.floor(math.log10(value))
    fraction = value / power
    if rounded:
        factor = 1 if fraction < 1.5 else 2 if fraction < 3 else 5 if fraction < 7 else 10
    else:
        factor = 1 if fraction <= 1 else 2 if fraction <= 2 else 5 if fraction <= 5 else 10
    return factor * power


def nice_range(low: float, high: float, count: int = 5) -> tuple[float, float, list[float]]:
    """An axis covering [low, high] that starts and ends on a round tick, with about
    ``count`` ticks (at least three): ``(start, end, ticks)``."""
    if not (math.isfinite(low) and math.isfinite(high)):
        return 0.0, 1.0, [0.0, 0.5, 1.0]
    if high <= low:
        low, high = low - 0.5, high + 0.5
    step = _nice_number(_nice_number(high - low, rounded=False) / max(count - 1, 2),
                        rounded=True)
    start, end = math.floor(low / step + 1e-9) * step, math.ceil(high / step - 1e-9) * step
    ticks = [start + k * step for k in range(round((end - start) / step) + 1)]
    return start, end, [0.0 if abs(tick) < step * 1e-9 else tick for tick in ticks]


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round tick values within [low, high] (1, 2, 5 times a power of ten apart)."""
    _start, _end, ticks = nice_range(low, high, count)
    inside = [tick for tick in ticks if low - 1e-9 <= tick <= high + 1e-9]
    return inside or ticks


def tick_label(value: float, step: float) -> str:
    """A tick value with as many decimals as the step between ticks needs."""
    decimals = max(0, -math.floor(math.log10(step) + 1e-9)) if step > 0 else 0
    return f"{value:,.{decimals}f}"


def contrast_ratio(first: str, second: str) -> float:
    """WCAG 2 contrast ratio of two ``#rrggbb`` colours."""
    def luminance(colour: str) -> float:
        channels = [int(colour[k:k + 2], 16) / 255 for k in (1, 3, 5)]
        red, green, blue = (c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4
                            for c in channels)
        return 0.2126 * red + 0.7152 * green + 0.0722 * blue

    lighter, darker = sorted((luminance(first), luminance(second)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


def text_colour_on(background: str) -> str:
    """Black or white, whichever contrasts more with ``background``."""
    return max((CELL_TEXT_DARK, CELL_TEXT_LIGHT), key=lambda ink: contrast_ratio(ink, background))


@dataclass(frozen=True)
class Interval:
    """One row of a forest plot."""

    label: str
    estimate: float
    lower: float
    upper: float
    note: str = ""  # extra tooltip text


NARROW = 330  # fits a 390 px phone screen inside a card, at the drawn size


def forest_plot(rows: Sequence[Interval], *, title: str, axis_label: str,
                reference: float | None = None, width: int = 640,
                css_class: str = "plot") -> SafeString:
    """Point estimates with intervals, one row each, in the order given. A narrow plot
    (``width`` below 400) gives its labels less room."""
    narrow = width < 400
    row_height, top, bottom, right = 26, 16, 48, 20 if narrow else 28
    left, label_chars = (120, 16) if narrow else (200, LABEL_CHARS)
    height = top + bottom + row_height * max(len(rows), 1)
    svg = Svg(width, height, title=title, css_class=css_class)
    if not rows:
        svg.text(width / 2, height / 2, "nothing to show", anchor="middle", fill=MUTED)
        return svg.render()
    values = [row.lower for row in rows] + [row.upper for row in rows]
    values += [reference] if reference is not None else []
    low, high, ticks = nice_range(min(values), max(values), 4 if narrow else 5)

    def x(value: float) -> float:
        return left + (value - low) / (high - low) * (width - left - right)

    axis_y = top + row_height * len(rows)
    step = ticks[1] - ticks[0] if len(ticks) > 1 else 1.0
    for tick in ticks:
        svg.line(x(tick), top, x(tick), axis_y, stroke=GRID)
        svg.text(x(tick), axis_y + 17, tick_label(tick, step), anchor="middle", fill=MUTED)
    svg.line(x(low), axis_y, x(high), axis_y, stroke=MUTED)
    if reference is not None:
        svg.line(x(reference), top, x(reference), axis_y, stroke=MUTED, dash="4 3")
    svg.text(left + (width - left - right) / 2, height - 8, axis_label, anchor="middle",
             size=TITLE_FONT, fill=MUTED)
    for index, row in enumerate(rows):
        y = top + row_height * index + row_height / 2
        tip = (f"{row.label}: {row.estimate:.0f} (95 % interval {row.lower:.0f} to "
               f"{row.upper:.0f}){' · ' + row.note if row.note else ''}")
        svg.text(left - 8, y + 4, shorten(row.label, label_chars), anchor="end",
                 tooltip=row.label)
        svg.line(x(row.lower), y, x(row.upper), y, stroke=ACCENT, width=2.0, tooltip=tip)
        svg.mark("circle", colour=ACCENT, cx=x(row.estimate), cy=y, r=4.5, tooltip=tip)
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


HEATMAP_CAPTION = "row's win rate against the column, in % (ties left out)"


def win_rate_heatmap(names: Sequence[str], win_rate: Sequence[Sequence[float | None]],
                     comparisons: Sequence[Sequence[float]], *, title: str,
                     narrow: bool = False, css_class: str = "plot") -> SafeString:
    """Row i, column j: how often i beat j (decisive comparisons; ties left out). Rows and
    columns come in the order given (the leaderboard's, best first). ``narrow``: smaller
    cells and shorter labels, for a phone."""
    n = len(names)
    biggest, row_chars, column_chars, left = (34, 16, 12, 124) if narrow else (44, 24, 18, 180)
    cell = biggest if n <= 10 else max(20, 440 // max(n, 1))
    top = 100 if narrow else 120
    slanted = max((text_width(shorten(name, column_chars)) for name in names), default=0) * 0.77
    caption_width = text_width(HEATMAP_CAPTION) + 16
    width = max(left + cell * n + slanted, caption_width if not narrow else 0, left + cell * n)
    height = top + cell * n + (58 if narrow else 40)
    svg = Svg(width, height, title=title, css_class=css_class)
    for j, name in enumerate(names):
        cx = left + cell * j + cell / 2
        svg.text(cx, top - 8, shorten(name, column_chars), anchor="start", tooltip=name,
                 transform=f"rotate(-40 {_number(cx)} {_number(top - 8)})")
    for i, row_name in enumerate(names):
        y = top + cell * i
        svg.text(left - 8, y + cell / 2 + 4, shorten(row_name, row_chars), anchor="end",
                 tooltip=f"{i + 1}. {row_name}")
        for j, column_name in enumerate(names):
            _heat_cell(svg, left + cell * j, y, cell, i == j, win_rate[i][j],
                       comparisons[i][j], row_name, column_name)
    if narrow:  # the caption in two lines
        first, _, rest = HEATMAP_CAPTION.partition(", ")
        svg.text(8, height - 30, first + ",", fill=MUTED)
        svg.text(8, height - 12, rest, fill=MUTED)
    else:
        svg.text(8, height - 12, HEATMAP_CAPTION, fill=MUTED)
    return svg.render()


def _heat_cell(svg: Svg, x: float, y: float, size: float, diagonal: bool,
               rate: float | None, count: float, row_name: str, column_name: str) -> None:
    if diagonal:
        svg.mark("rect", colour=BLANK, x=x, y=y, width=size, height=size, stroke=GRID)
        return
    if rate is None:
        tip = f"{row_name} and {column_name} were never compared decisively"
        svg.mark("rect", colour=NO_DATA, x=x, y=y, width=size, height=size, stroke=GRID,
                 tooltip=tip)
        return
    tip = (f"{row_name} beat {column_name} in {rate:.0%} of decisive comparisons "
           f"({count:.0f} comparisons in all)")
    colour = diverging_colour(rate)
    svg.element("rect", x=x, y=y, width=size, height=size, fill=colour, stroke="#ffffff",
                tooltip=tip)
    if size >= 30:
        svg.element("text", f"{rate * 100:.0f}", x=x + size / 2, y=y + size / 2 + 4,
                    font_size=FONT, fill=text_colour_on(colour), text_anchor="middle",
                    class_="on-cell", tooltip=tip)


@dataclass(frozen=True)
class CalibrationPoint:
    predicted: float
    observed: float
    count: float


def reliability_diagram(points: Sequence[CalibrationPoint], *, title: str,
                        size: int = NARROW - 70) -> SafeString:
    """Mean prediction against observed frequency per bin; the diagonal is perfect."""
    margin = 50
    svg = Svg(size + margin + 20, size + margin + 20, title=title)

    def x(value: float) -> float:
        return margin + value * size

    def y(value: float) -> float:
        return 12 + (1 - value) * size

    for tick in (0.0, 0.25, 0.5, 0.75, 1.0):
        svg.line(x(tick), y(0), x(tick), y(1), stroke=GRID)
        svg.line(x(0), y(tick), x(1), y(tick), stroke=GRID)
        svg.text(x(tick), y(0) + 16, _number(tick), anchor="middle", fill=MUTED)
        svg.text(x(0) - 6, y(tick) + 4, _number(tick), anchor="end", fill=MUTED)
    svg.line(x(0), y(0), x(1), y(1), stroke=MUTED, dash="4 3")
    total = sum(point.count for point in points) or 1.0
    shown = [point for point in points if point.count > 0]
    if len(shown) > 1:
        svg.element("polyline", fill="none", stroke=ACCENT, stroke_width=1.5, class_="accent-line",
                    points=" ".join(f"{_number(x(p.predicted))},{_number(y(p.observed))}"
                                    for p in shown))
    for point in shown:
        tip = (f"predicted {point.predicted:.2f}, observed {point.observed:.2f} "
               f"({point.count:.0f} judgments)")
        svg.mark("circle", colour=ACCENT, cx=x(point.predicted), cy=y(point.observed),
                 r=2.5 + 9 * math.sqrt(point.count / total), fill_opacity="0.75", tooltip=tip)
    svg.text(x(0.5), size + margin + 12, "predicted chance the left response wins",
             anchor="middle", fill=MUTED)
    svg.text(14, y(0.5), "observed share", anchor="middle", fill=MUTED,
             transform=f"rotate(-90 14 {_number(y(0.5))})")
    return svg.render()


@dataclass(frozen=True)
class CurvePoint:
    x: float
    y: float
    se: float | None = None


def line_chart(points: Sequence[CurvePoint], *, title: str, x_label: str, y_label: str,
               reference: float | None = None, width: int = NARROW, height: int = 240
               ) -> SafeString:
    """A line with ±1 SE bars, e.g. held-out log-loss against training judgments. Both
    axes start and end on a labelled round tick (the x axis at 0)."""
    left, right, top, bottom = 62, 18, 14, 46
    svg = Svg(width, height, title=title)
    finite = [p for p in points if math.isfinite(p.y)]
    if not finite:
        svg.text(width / 2, height / 2, "nothing to show", anchor="middle", fill=MUTED)
        return svg.render()
    spread = [p.y + s * (p.se or 0.0) for p in finite for s in (-1, 1)]
    spread += [reference] if reference is not None else []
    low, high, y_ticks = nice_range(min(spread), max(spread), 5)
    x_low, x_high, x_ticks = nice_range(0.0, max(p.x for p in finite) or 1.0, 5)

    def x(value: float) -> float:
        return left + (value - x_low) / (x_high - x_low) * (width - left - right)

    def y(value: float) -> float:
        return top + (high - value) / (high - low) * (height - top - bottom)

    y_step = y_ticks[1] - y_ticks[0]
    for tick in y_ticks:
        svg.line(x(x_low), y(tick), x(x_high), y(tick), stroke=GRID)
        svg.text(left - 6, y(tick) + 4, tick_label(tick, y_step), anchor="end", fill=MUTED)
    x_step = x_ticks[1] - x_ticks[0]
    for tick in x_ticks:
        svg.line(x(tick), y(low), x(tick), y(low) + 4, stroke=MUTED)
        svg.text(x(tick), height - bottom + 18, tick_label(tick, x_step), anchor="middle",
                 fill=MUTED)
    svg.line(x(x_low), y(low), x(x_high), y(low), stroke=MUTED)
    svg.line(x(x_low), y(low), x(x_low), y(high), stroke=MUTED)
    if reference is not None:
        svg.line(x(x_low), y(reference), x(x_high), y(reference), stroke=MUTED, dash="4 3")
    svg.element("polyline", fill="none", stroke=ACCENT, stroke_width=1.5, class_="accent-line",
                points=" ".join(f"{_number(x(p.x))},{_number(y(p.y))}" for p in finite))
    for point in finite:
        tip = f"{point.x:,.0f}: {point.y:.3f}" + (f" ± {point.se:.3f}" if point.se else "")
        if point.se:
            svg.line(x(point.x), y(point.y - point.se), x(point.x), y(point.y + point.se),
                     stroke=ACCENT)
        svg.mark("circle", colour=ACCENT, cx=x(point.x), cy=y(point.y), r=3.5, tooltip=tip)
    svg.text(left + (width - left - right) / 2, height - 8, x_label, anchor="middle",
             fill=MUTED)
    middle = top + (height - top - bottom) / 2
    svg.text(14, middle, y_label, anchor="middle", fill=MUTED,
             transform=f"rotate(-90 14 {_number(middle)})")
    return svg.render()
