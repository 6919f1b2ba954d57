"""Property tests: no series of floats, and no epochs, makes a chart function raise.

The pure chart functions get generated series that mix ordinary values with
the float limits (+/-1.7e308, denormals, 0, -0.0), NaN and +/-Inf, against
generated epochs (offsets, gaps, duplicates, huge numbers, out of order),
and must return finite axis ranges and ticks, every coordinate handed to
plotext inside [0, 1]. Sized to run in a few seconds.
"""

from __future__ import annotations

import math

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_tui_charts import state_of
from textual_plotext.plot import Plot

from metricwatch.analysis.downsample import reduce_minmax
from metricwatch.tui.axes import linear_ticks, log_ticks, whole_ticks
from metricwatch.tui.charts import ChartSpec, Line, charts_for, spans_decades
from metricwatch.tui.plotting import draw, layout

EDGES = [1.7e308, -1.7e308, 1e308, -1e308, 5e-324, -5e-324, 2.2e-308, 0.0, -0.0, 1.0]
NON_FINITE = [math.nan, math.inf, -math.inf]

values = st.one_of(
    st.sampled_from(EDGES + NON_FINITE),
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(-10.0, 10.0),
)
finite = st.one_of(st.sampled_from(EDGES), st.floats(allow_nan=False, allow_infinity=False))
epochs = st.one_of(
    st.integers(0, 10**9),
    st.integers(-(10**18), 10**18),
    st.sampled_from([0, 1, 2, 10**9]),
)
FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def series(draw_, min_size: int = 0, max_size: int = 30):
    ys = draw_(st.lists(values, min_size=min_size, max_size=max_size))
    start = draw_(epochs)
    step = draw_(st.sampled_from([1, 1, 1, 2, 0, 1000]))
    xs = [float(start + i * step) for i in range(len(ys))]
    if draw_(st.booleans()):
        xs = draw_(st.permutations(xs))  # out of order, or any floats at all
    if draw_(st.integers(0, 9)) == 0:
        xs = draw_(st.lists(finite, min_size=len(ys), max_size=len(ys)))
    return np.array(xs, dtype=np.float64), np.array(ys, dtype=np.float64)


@st.composite
def specs(draw_):
    lines = []
    for index in range(draw_(st.integers(1, 3))):
        x, y = draw_(series())
        lines.append(Line(f"k{index}", f"k{index}", x, y, 33, "•"))
    marker = draw_(st.one_of(st.none(), finite))
    return ChartSpec("t", "T", tuple(lines), log_y=draw_(st.booleans()), marker_x=marker)


def check(plan) -> None:
    for value in plan.coordinates():
        assert math.isfinite(value) and 0.0 <= value <= 1.0, value
    for axis in (plan.x, plan.y):
        assert math.isfinite(axis.lo) and math.isfinite(axis.hi) and axis.lo < axis.hi
        assert len(axis.ticks) == len(axis.labels)
        assert all(isinstance(label, str) and label for label in axis.labels)


@FAST
@given(specs(), st.integers(4, 200), st.integers(3, 60), st.booleans())
def test_layout_never_raises_and_stays_in_the_unit_square(spec, width, height, no_color):
    check(layout(spec, width, height, no_color=no_color))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(specs(), st.integers(10, 90), st.integers(4, 24))
def test_plotext_builds_whatever_the_series(spec, width, height):
    plt = Plot()
    draw(plt, spec, width, height)
    plt.build()


@FAST
@given(finite, finite, st.integers(-3, 40))
def test_tick_helpers_give_finite_ticks(lo, hi, count):
    for ticks, labels in (
        linear_ticks(lo, hi, count),
        log_ticks(lo, hi, count),
        log_ticks(lo / 1e300, hi / 1e300, count),
    ):
        assert len(ticks) == len(labels) and len(ticks) <= max(2, count) + 1
        assert all(math.isfinite(t) for t in ticks)
    assert all(lo <= t <= hi for t in whole_ticks(lo, hi, count))
    low, high = sorted((lo, hi))
    slack = 1e-9 * max(abs(low), abs(high))
    assert all(low - slack <= t <= high + slack for t in linear_ticks(low, high, count)[0])


@FAST
@given(series(), st.integers(1, 300))
def test_reduction_keeps_extremes_and_never_raises(xy, columns):
    x, y = xy
    reduced = reduce_minmax(x, y, columns)
    assert np.isfinite(reduced.y).all() and np.isfinite(reduced.x).all()
    drawable = np.isfinite(x) & np.isfinite(y)
    if drawable.any():
        assert reduced.y.max() == y[drawable].max() and reduced.y.min() == y[drawable].min()
    assert isinstance(spans_decades(y), bool)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.fixed_dictionaries(
            {},
            optional={
                key: values
                for key in ("train_loss", "val_loss", "lr", "grad_norm", "val_accuracy", "val_mae")
            },
        ),
        min_size=1,
        max_size=12,
    ),
    st.integers(0, 10**9 - 20),
)
def test_charts_for_a_run_of_anything(rows, first):
    """The whole path from a run's columns: summary, charts, layouts."""
    records = [{"epoch": first + i, **row} for i, row in enumerate(rows) if row]
    if not records:
        return
    for spec in charts_for(state_of(records)):
        check(layout(spec, 50, 12))
