"""The chart lines rasterised with numpy (tui/braille.py) draw what plotext drew, cell for cell.

Each case draws a layout twice on plotext: once with the lines given to plotext as
lines (one `plot` per trace, its own interpolation and braille grouping: what the
charts did before), once through `draw` (one scatter of the rasterised cells). The
built plots, colours included, must be the same string.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from textual_plotext.plot import Plot

from metricwatch.tui import plotting
from metricwatch.tui.braille import rasterize
from metricwatch.tui.charts import ChartSpec, Line, dimmed, themed
from metricwatch.tui.plotting import Axis, Layout, Trace


def per_trace(plt, plan: Layout, width: int, height: int, dark: bool) -> None:
    for trace in plan.traces:
        color = dimmed(trace.color, dark) if trace.dim else themed(trace.color, dark)
        plt.plot(list(trace.x), list(trace.y), marker=trace.marker, color=color)


def built(spec: ChartSpec, width: int, height: int, **options) -> str:
    plt = Plot()
    plotting.draw(plt, spec, width, height, **options)
    plt._set_size(width, height)  # as the chart widget does
    return plt.build()


def both_ways(spec: ChartSpec, width: int, height: int, **options) -> tuple[str, str]:
    rasterised = built(spec, width, height, **options)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(plotting, "_draw_lines", per_trace)
        by_plotext = built(spec, width, height, **options)
    return by_plotext, rasterised


def spec_of(*series: tuple[np.ndarray, np.ndarray], raw: bool = False, **fields) -> ChartSpec:
    lines = tuple(
        Line(
            f"key{i}",
            f"series {i}",
            np.asarray(x, dtype=float),
            np.asarray(y, dtype=float),
            color=(33, 208, 70, 170)[i % 4],
            mark="+x*o"[i % 4],
            raw=np.asarray(y, dtype=float) * 1.1 if raw else None,
        )
        for i, (x, y) in enumerate(series)
    )
    return ChartSpec("chart", "Chart", lines, **fields)


CURVES = {
    "falling": (np.arange(3, 503), 2.0 * np.exp(-np.arange(500) / 90) + 0.1),
    "noisy": (np.arange(17, 20_017), np.random.default_rng(5).normal(size=20_000).cumsum()),
    "steep": (np.array([4.0, 5.0, 6.0, 7.0]), np.array([0.0, 100.0, -50.0, 3.0])),
    "flat": (np.arange(7, 70), np.full(63, 0.25)),
    "one point": (np.array([12.0]), np.array([0.4])),
}


@pytest.mark.parametrize("size", [(42, 13), (80, 24), (120, 40), (17, 6)], ids=str)
@pytest.mark.parametrize("curve", sorted(CURVES))
def test_one_line_is_drawn_as_plotext_draws_it(curve, size):
    by_plotext, rasterised = both_ways(spec_of(CURVES[curve]), *size)
    assert rasterised == by_plotext


@pytest.mark.parametrize("size", [(42, 13), (100, 30)], ids=str)
def test_crossing_lines_smoothed_raw_behind_and_log_scale_match(size):
    a, b, c = CURVES["falling"], CURVES["noisy"], CURVES["steep"]
    crossing = (a[0], a[1][::-1] * 3)
    for fields in ({}, {"log_y": True}, {"clip_outliers": True}, {"zoom": 0.5}):
        spec = spec_of(a, crossing, (b[0] / 40, b[1] / 50), c, raw=True, **fields)
        by_plotext, rasterised = both_ways(spec, *size)
        assert rasterised == by_plotext, fields


def test_no_color_markers_match():
    spec = spec_of(CURVES["falling"], CURVES["steep"], CURVES["one point"])
    by_plotext, rasterised = both_ways(spec, 60, 16, no_color=True)
    assert rasterised == by_plotext


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.lists(st.floats(-1e3, 1e3, allow_nan=False), min_size=1, max_size=80),
        min_size=1,
        max_size=4,
    ),
    st.integers(12, 90),
    st.integers(5, 30),
)
def test_any_lines_match(ys, width, height):
    series = [(np.arange(len(y)) * 3 + 11, np.array(y)) for y in ys]
    by_plotext, rasterised = both_ways(spec_of(*series), width, height)
    assert rasterised == by_plotext


def trace(x, y, color=1, marker="braille") -> Trace:
    return Trace(tuple(x), tuple(y), color, marker)


def test_a_rising_diagonal_steps_as_plotext_truncates_it():
    # A 1 x 1 canvas has 2 x 4 dots. From dot (0, 0) to (1, 3) plotext takes 3 steps of
    # (1/3, 1), truncated: (0, 0) (0, 1) (0, 2), then the end (1, 3): the left column's
    # three lowest dots (7, 3, 2) and the right column's highest (4).
    cells = rasterize([trace([0.0, 1.0], [0.0, 1.0])], [9], 1, 1)
    assert cells.chars == [chr(0x2800 + 0x40 + 0x04 + 0x02 + 0x08)]
    assert cells.colors == [9]
    assert cells.columns.tolist() == [0] and cells.rows.tolist() == [0]


def test_the_last_trace_covers_a_shared_cell_and_its_dots_replace_the_first():
    low = trace([0.0, 1.0], [0.0, 0.0], color=1)  # bottom row of dots across 2 cells
    top = trace([0.5, 1.0], [0.0, 0.0], color=2)  # the same row in the right cell only
    cells = rasterize([low, top], [1, 2], 2, 1)
    by_column = dict(zip(cells.columns.tolist(), zip(cells.chars, cells.colors)))
    assert by_column[0] == (chr(0x2800 + 0x40 + 0x80), 1)
    assert by_column[1] == (chr(0x2800 + 0x40 + 0x80), 2)


def test_rows_count_from_the_bottom_and_markers_other_than_braille_fill_whole_cells():
    cells = rasterize([trace([0.0, 0.0], [0.0, 1.0], marker="+")], [3], 4, 3)
    assert sorted(zip(cells.columns.tolist(), cells.rows.tolist())) == [(0, 0), (0, 1), (0, 2)]
    assert cells.chars == ["+"] * 3


def test_nothing_to_draw_gives_no_cells():
    assert len(rasterize([], [], 10, 5)) == 0
    assert len(rasterize([trace([0.2], [0.3])], [1], 0, 0)) == 0


def test_canvas_size_takes_the_axis_and_the_labels_off():
    plan = Layout(
        Axis(0.0, 1.0, ticks=(0.0, 1.0), labels=("0", "10")),
        Axis(0.0, 1.0, ticks=(0.0, 1.0), labels=("0.25", "1.5")),
    )
    assert plotting.canvas_size(plan, 40, 12) == (40 - 1 - 4, 12 - 1 - 1)
    bare = Layout(Axis(0.0, 1.0), Axis(0.0, 1.0))
    assert plotting.canvas_size(bare, 40, 12) == (39, 11)
