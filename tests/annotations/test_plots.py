"""The dashboard's server-side SVG plots: readable sizes, axes that start and end on a
labelled tick, a win-rate matrix that fits its caption, cell labels with AA contrast."""

from __future__ import annotations

import itertools
import math
import xml.etree.ElementTree as ET

import pytest

from annotations import plots

SVG = "{http://www.w3.org/2000/svg}"


def parse(markup: str) -> ET.Element:
    return ET.fromstring(str(markup))


def texts(svg: ET.Element) -> list[ET.Element]:
    return list(svg.iter(f"{SVG}text"))


def shown(text: ET.Element) -> str:
    """What a text element shows (after its tooltip, when it has one)."""
    tooltip = text.find(f"{SVG}title")
    return (tooltip.tail if tooltip is not None else text.text) or ""


@pytest.mark.parametrize(("low", "high"), [(0, 1995), (0, 96), (0.52, 0.71), (-3.2, 41.0),
                                           (980.0, 1022.5), (0, 1), (5, 5)])
def test_nice_range_starts_and_ends_on_round_ticks_covering_the_data(low, high):
    start, end, ticks = plots.nice_range(low, high, 5)
    assert (ticks[0], ticks[-1]) == (start, end)
    assert start <= low
    assert end >= high
    assert 3 <= len(ticks) <= 8
    steps = {round(b - a, 9) for a, b in itertools.pairwise(ticks)}
    assert len(steps) == 1
    step = steps.pop()
    mantissa = step / 10 ** math.floor(math.log10(step))
    assert round(mantissa, 6) in (1.0, 2.0, 5.0)


def curve(max_x: float) -> list[plots.CurvePoint]:
    return [plots.CurvePoint(max_x * k / 5, 0.69 - 0.02 * k, 0.01) for k in range(1, 6)]


@pytest.mark.parametrize("max_x", [96, 1900, 48_000])
def test_learning_curve_has_several_x_ticks_and_axes_starting_on_a_tick(max_x):
    svg = parse(plots.line_chart(curve(max_x), title="t", x_label="training judgments",
                                 y_label="held-out log-loss", reference=math.log(2)))
    height = float(svg.get("height"))
    x_ticks = [t for t in texts(svg) if t.get("text-anchor") == "middle"
               and float(t.get("y")) > height - 40 and t.text != "training judgments"]
    assert len(x_ticks) >= 4
    assert x_ticks[0].text == "0"
    y_ticks = sorted((t for t in texts(svg) if t.get("text-anchor") == "end"),
                     key=lambda t: -float(t.get("y")))
    lines = list(svg.iter(f"{SVG}line"))
    axis = next(line for line in lines if line.get("x1") == line.get("x2")
                and line.get("class") == "muted" and float(line.get("y1")) > 100)
    lowest_label_y = float(y_ticks[0].get("y")) - 4  # labels sit 4 px below their tick
    assert lowest_label_y == pytest.approx(float(axis.get("y1")), abs=0.6)


def all_plots() -> dict[str, str]:
    names = ["alpha", "beta-with-a-rather-long-name", "gamma"]
    rates = [[None, 0.8, 0.95], [0.2, None, 0.55], [0.05, 0.45, None]]
    counts = [[0, 10, 20], [10, 0, 5], [20, 5, 0]]
    return {
        "forest": plots.forest_plot([plots.Interval(name, 1000 + 10 * k, 950 + k, 1050 + k)
                                     for k, name in enumerate(names)],
                                    title="t", axis_label="rating", reference=1000.0),
        "heatmap": plots.win_rate_heatmap(names, rates, counts, title="t"),
        "reliability": plots.reliability_diagram(
            [plots.CalibrationPoint(0.2, 0.25, 10), plots.CalibrationPoint(0.7, 0.6, 30)],
            title="t"),
        "curve": plots.line_chart(curve(500), title="t", x_label="x", y_label="y"),
    }


@pytest.mark.parametrize("name", ["forest", "heatmap", "reliability", "curve"])
def test_every_text_is_at_least_12_px_and_themed_or_on_a_cell(name):
    svg = parse(all_plots()[name])
    for text in texts(svg):
        assert float(text.get("font-size")) >= 12, (name, text.text)
        assert text.get("class") in ("ink", "muted", "on-cell"), (name, text.text)


def test_heatmap_is_wide_enough_for_its_caption_and_keeps_the_given_order():
    names = ["a", "b"]  # two short names: the narrowest matrix
    svg = parse(plots.win_rate_heatmap(names, [[None, 0.7], [0.3, None]], [[0, 4], [4, 0]],
                                       title="t"))
    caption = next(t for t in texts(svg) if t.text == plots.HEATMAP_CAPTION)
    assert float(caption.get("x")) + plots.text_width(caption.text) <= float(svg.get("width"))
    rows = [shown(t) for t in texts(svg) if t.get("text-anchor") == "end"]
    assert rows == names


@pytest.mark.parametrize("rate", [k / 20 for k in range(21)])
def test_heatmap_cell_labels_have_aa_contrast_on_their_cell(rate):
    svg = parse(plots.win_rate_heatmap(["a", "b"], [[None, rate], [1 - rate, None]],
                                       [[0, 9], [9, 0]], title="t"))
    fills = {(rect.get("x"), rect.get("y")): rect.get("fill") for rect in svg.iter(f"{SVG}rect")}
    for label in (t for t in texts(svg) if t.get("class") == "on-cell"):
        cell = next(fill for (x, y), fill in fills.items()
                    if abs(float(x) + 22 - float(label.get("x"))) < 1
                    and abs(float(y) + 26 - float(label.get("y"))) < 1)
        assert plots.contrast_ratio(label.get("fill"), cell) >= 4.5


def test_phone_sized_plots_fit_a_390_px_screen_at_their_drawn_size():
    names = ["assistant-alpha", "assistant-beta", "assistant-gamma", "assistant-delta"]
    rates = [[None if i == j else 0.5 for j in range(4)] for i in range(4)]
    counts = [[9] * 4 for _ in range(4)]
    drawn = [plots.win_rate_heatmap(names, rates, counts, title="t", narrow=True),
             plots.forest_plot([plots.Interval(name, 1000, 950, 1050) for name in names],
                               title="t", axis_label="rating", width=plots.NARROW),
             plots.reliability_diagram([plots.CalibrationPoint(0.5, 0.5, 3)], title="t"),
             plots.line_chart(curve(100), title="t", x_label="x", y_label="y")]
    for markup in drawn:
        assert float(parse(markup).get("width")) <= plots.NARROW
