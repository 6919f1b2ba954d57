"""Property tests: no values a file can hold make the chart-reading keys raise.

Smoothing, log y, outliers left out, zoom and the time axes, on series mixing
the float limits, NaN and +/-Inf: every coordinate plotext is given stays in
[0, 1] and is finite. Sized to run in a few seconds.
"""

from __future__ import annotations

import math

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_charts_properties import specs
from test_tui_charts import state_of

from metricwatch.analysis.smoothing import WEIGHTS
from metricwatch.tui.compare import Marks, compare_charts
from metricwatch.tui.plotting import layout
from metricwatch.tui.view_options import ViewOptions

FAST = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])

options = st.builds(
    ViewOptions,
    smoothing=st.sampled_from([None, *WEIGHTS]),
    log_y=st.booleans(),
    outliers=st.sampled_from([None, True, False]),
    zoom=st.integers(0, 6),
)
loss_values = st.lists(
    st.one_of(
        st.sampled_from([1.7e308, -1.7e308, 5e-324, 0.0, math.nan, math.inf, -math.inf]),
        st.floats(-10.0, 10.0),
    ),
    min_size=0,
    max_size=40,
)


@FAST
@given(spec=specs(), clip=st.booleans(), zoom=st.sampled_from([1.0, 0.5, 0.25, 1 / 64]))
def test_layout_with_outliers_and_zoom_gives_plotext_only_unit_coordinates(spec, clip, zoom):
    from dataclasses import replace

    for kind in ("", "relative", "wall"):
        plan = layout(replace(spec, clip_outliers=clip, zoom=zoom, x_kind=kind), 60, 16)
        assert all(math.isfinite(v) and 0.0 <= v <= 1.0 for v in plan.coordinates())


@FAST
@given(view=options, train=loss_values, val=loss_values)
def test_charts_and_overlays_under_any_view_never_raise(view, train, val):
    rows = []
    for i in range(max(len(train), len(val))):
        row = {"epoch": i + 1}
        if i < len(train):
            row["train_loss"] = train[i]
        if i < len(val):
            row["val_loss"] = val[i]
            row["val_accuracy"] = abs(val[i]) if math.isfinite(val[i]) else val[i]
        rows.append(row)
    if not rows:
        return
    state = state_of(rows)
    from metricwatch.tui.charts import charts_for

    for chart in charts_for(state, view):
        plan = layout(chart, 50, 14)
        assert all(math.isfinite(v) and 0.0 <= v <= 1.0 for v in plan.coordinates())
        for line in chart.lines:
            assert len(line.x) == len(line.y)
            if line.raw is not None:
                assert np.array_equal(np.isfinite(line.raw), np.isfinite(line.y))
    marks = Marks()
    marks.toggle("r")
    for chart in compare_charts([state], marks, view):
        plan = layout(chart, 50, 14)
        assert all(math.isfinite(v) and 0.0 <= v <= 1.0 for v in plan.coordinates())
