"""Issue 7.1: no value a file can hold stops a chart, or the app, from drawing.

plotext raised in build() on 1.7e308 (its y range padded to Inf), on
denormals (log10(0) in the tick code) and on ranges that overflow
(1e308 - -1e308). Every chart kind is checked here with such series, at
several epoch offsets, through the same path the app takes: file -> state
-> charts_for -> layout -> plotext.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from test_tui_charts import plain, state_of
from textual_plotext.plot import Plot
from tui_fixtures.support import fixed_app, wait_for, wait_loaded

from metricwatch.tui.charts import ChartSpec, Line, charts_for, linear_ticks, log_ticks
from metricwatch.tui.plotting import draw, layout
from metricwatch.tui.widgets.chart import ChartWidget

NAN, INF = math.nan, math.inf
BIG = 1.7e308
TINY = 5e-324  # the smallest denormal

#: Series from the issue, and their neighbours.
SERIES = {
    "max pair": [BIG, BIG],
    "huge mix": [1e308, -1e308, 1.0],
    "zero and denormal": [0.0, TINY],
    "denormal pair": [TINY, TINY],
    "max and -max": [BIG, -BIG],
    "max and denormal": [BIG, TINY],
    "negative extremes": [-BIG, -TINY],
    "denormals": [TINY, 1e-320, 2.5e-310],
    "constant": [3.0] * 5,
    "flat within an ulp": [1.0, 1.0 + 2.2e-16, 1.0],
    "single point": [0.25],
    "all NaN": [NAN, NAN, NAN],
    "NaN and Inf": [NAN, INF, -INF, 1.0],
    "log boundary": [0.0, -1e-3, 1e-3, 1e-6],
    "all non-positive": [0.0, -1.0, -BIG],
}
#: The loss chart, the lr and gradient log charts, a percent metric chart, a plain metric chart.
KEYS = ("train_loss", "val_loss", "lr", "grad_norm", "val_accuracy", "val_mae")
#: First epochs: 0-based, 1-based, an offset, a resume late in a long run, the reader's maximum.
STARTS = (0, 1, 37, 999_999_990)


def rows_for(values: list[float], start: int) -> list[dict[str, float]]:
    return [{"epoch": start + i, **{key: value for key in KEYS}} for i, value in enumerate(values)]


def check_layout(spec: ChartSpec, width: int, height: int, no_color: bool = False) -> None:
    plan = layout(spec, width, height, no_color=no_color)
    for value in plan.coordinates():
        assert math.isfinite(value) and 0.0 <= value <= 1.0, (spec.id, value)
    assert len(plan.x.ticks) == len(plan.x.labels)
    assert len(plan.y.ticks) == len(plan.y.labels)
    for label in (*plan.x.labels, *plan.y.labels):
        assert "inf" not in label.lower() and "nan" not in label.lower(), label


@pytest.mark.parametrize("start", STARTS)
@pytest.mark.parametrize("name", list(SERIES))
def test_every_chart_draws_extreme_series(name, start):
    charts = charts_for(state_of(rows_for(SERIES[name], start)))
    assert {c.id for c in charts} >= {"loss", "lr", "grad"}
    for spec in charts:
        for width, height in ((60, 14), (24, 6)):
            check_layout(spec, width, height)
            plt = Plot()
            draw(plt, spec, width, height)
            plt.build()  # raised ValueError / OverflowError before


def test_a_huge_pair_is_drawn_with_real_labels():
    loss = charts_for(state_of(rows_for(SERIES["max pair"], 1)))[0]
    plt = Plot()
    draw(plt, loss, 60, 14)
    text = plain(plt)
    assert "1.7e308" in text
    assert "best 1 (1.700e+308)" in text  # the value as the summary prints it


def test_denormals_get_ticks_in_their_own_scale():
    spec = charts_for(state_of(rows_for(SERIES["zero and denormal"], 1)))[0]
    plan = layout(spec, 60, 14)
    assert plan.y.labels[0] == "0"
    assert any(label.endswith("e-324") for label in plan.y.labels)


def test_values_off_a_log_scale_leave_a_note_not_a_crash():
    spec = next(
        c for c in charts_for(state_of(rows_for(SERIES["all non-positive"], 1))) if c.id == "lr"
    )
    assert not spec.log_y  # nothing positive: no log scale to fall off
    state = state_of([{"epoch": e, "lr": v} for e, v in enumerate([1e-1, 1e-5, 0.0, -1.0], 1)])
    lr = next(c for c in charts_for(state) if c.id == "lr")
    assert lr.log_y and lr.notes == ("lr: ≤ 0 at 2 epochs, not on the log scale",)
    check_layout(lr, 40, 10)


def test_a_log_chart_without_a_positive_value_says_so():
    spec = ChartSpec("lr", "Learning rate", (line("lr", [0.0, -1.0]),), log_y=True)
    plan = layout(spec, 40, 10)
    assert plan.traces == () and plan.message == "no positive value"
    plt = Plot()
    draw(plt, spec, 40, 10)
    assert "no positive value" in plain(plt)


def line(key: str, values: list[float], x: list[float] | None = None) -> Line:
    y = np.array(values, dtype=np.float64)
    xs = np.arange(1, len(y) + 1, dtype=np.float64) if x is None else np.array(x, dtype=float)
    return Line(key, key, xs, y, 33)


@pytest.mark.parametrize(
    "x",
    [
        [-BIG, BIG],  # the x span overflows
        [0.0, TINY],  # the x span is a denormal
        [1e18, 1e18],  # one point where epoch +/- 1 == epoch in floats
        [BIG, BIG],
        [-5.0, -3.0],
        [2.5, 2.75],  # no whole epoch inside
        [NAN, 1.0],  # a point without a place on the axis
        [3.0, 1.0],  # out of order
    ],
)
def test_any_x_values_draw(x):
    spec = ChartSpec("t", "T", (line("train_loss", [1.0, 2.0], x),), marker_x=x[0])
    check_layout(spec, 50, 12)
    plt = Plot()
    draw(plt, spec, 50, 12)
    plt.build()


def test_tick_helpers_survive_the_float_limits():
    ticks, labels = linear_ticks(-BIG, BIG, 5)
    assert ticks and all(math.isfinite(t) for t in ticks)
    assert labels[len(labels) // 2] == "0"
    assert linear_ticks(0.0, TINY, 5)[1][0] == "0"
    assert linear_ticks(BIG * 0.99, BIG, 4)[0]
    assert log_ticks(-324.0, 309.0, 5)[1] == ["1e-200", "1", "1e200"]
    assert log_ticks(1e300, 1e300, 4)  # one (degenerate) point: no overflow in 10**t


# --- the app --------------------------------------------------------------------------------


def write_records(path, records):
    path.mkdir(parents=True, exist_ok=True)
    (path / "metrics.json").write_text(json.dumps({"epochs": records}))


async def test_selecting_a_run_of_extremes_keeps_the_app_running(tmp_path):
    for name, values in SERIES.items():
        write_records(tmp_path / name.replace(" ", "_"), rows_for(values, 1))
    app = fixed_app(tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_loaded(pilot, len(SERIES))
        for name in sorted(app.states):
            app.select(name)
            await pilot.pause()
            charts = [w for w in app.query(ChartWidget) if w.display]
            assert charts
            for chart in charts:
                chart.render()  # as the compositor does
                assert chart.failure is None, (name, chart.failure)
        assert app.is_running


async def test_a_chart_plotext_cannot_build_is_a_note_in_its_frame(tmp_path, monkeypatch):
    """The guard behind the sanitising: whatever plotext raises stays in that chart."""
    write_records(tmp_path / "a", rows_for([1.0, 0.5, 0.25], 1))

    def broken(plt, spec, *args, **kwargs):
        if spec.id == "loss":
            raise OverflowError("cannot convert float infinity to integer")
        return original(plt, spec, *args, **kwargs)

    import metricwatch.tui.widgets.chart as chart_module

    original = chart_module.draw
    monkeypatch.setattr(chart_module, "draw", broken)
    app = fixed_app(tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_loaded(pilot, 1)
        await wait_for(pilot, lambda: bool(app.view.shown_charts))
        await pilot.pause()
        loss = next(w for w in app.query(ChartWidget) if w.spec and w.spec.id == "loss")
        loss.render()
        assert loss.failure is not None
        assert loss.failure.error == "OverflowError: cannot convert float infinity to integer"
        screen = "\n".join(strip.text for strip in app.screen._compositor.render_strips())
        assert "× this chart cannot be drawn:" in screen
        others = [w for w in app.query(ChartWidget) if w.display and w is not loss]
        assert others and all(w.failure is None for w in others)
        assert app.is_running


def test_the_decade_of_a_long_series_is_read_from_every_nth_value():
    from metricwatch.tui.charts import MAGNITUDE_SAMPLE, _magnitude

    assert MAGNITUDE_SAMPLE == 4096
    exact = np.concatenate([np.full(2048, 0.01), np.full(2048, 1000.0)])
    assert _magnitude(exact) == pytest.approx(0.5)  # 4096 values: all read, median of -2 and 3
    long = 10 ** np.linspace(-3.0, 1.0, 1_000_001)
    step = -(-len(long) // MAGNITUDE_SAMPLE)  # 245: 4,082 values read
    assert step == 245
    assert _magnitude(long) == float(np.median(np.log10(long[::step])))
    mixed = np.tile([0.0, np.nan, 0.5, 2e3], 300_000)  # zeros and NaN never count
    assert _magnitude(mixed) == pytest.approx(float(np.median(np.log10([0.5, 2e3]))))
