"""The keys that change how charts are read: smoothing (s/S), log y (y), outliers (o), zoom."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from tui_fixtures.support import epoch_record, fixed_app, wait_for, wait_loaded, write_run

from metricwatch.model import Run, Table
from metricwatch.tui.charts import charts_for
from metricwatch.tui.plotting import layout
from metricwatch.tui.state import build_state
from metricwatch.tui.view_options import ViewOptions

WIDE = (120, 40)


def tensorboard_loop(values, weight):
    """TensorBoard's smoothing as its frontend writes it: a loop, NaN/Inf passed through."""
    out, last, count = [], 0.0, 0
    for value in values:
        if not math.isfinite(value):
            out.append(value)
            continue
        last = last * weight + (1 - weight) * value
        count += 1
        out.append(last / (1 - weight**count))
    return out


def state_of(rows, x="epoch"):
    table = Table.from_rows(((int(r[x]), {k: v for k, v in r.items() if k != x}) for r in rows), x)
    return build_state(Run("r", Path("r/metrics.json"), table))


def loss_chart(app):
    return next(spec for spec in app.view.shown_charts if spec.id == "loss")


def loss_layout(app):
    return next(s.drawn_layout for s in app.view.slots if s.spec and s.spec.id == "loss")


def write_steps(directory: Path, steps: int, *, spike_at: int | None = None) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    rows = []
    for s in range(1, steps + 1):
        loss = 2.0 / math.sqrt(s) + 0.05 * math.sin(s)
        rows.append({"step": s, "epoch": s / 100, "time": 1_700_000_000.0 + s, "loss": loss})
        if s == spike_at:
            rows[-1]["loss"] = 50.0
    path = directory / "metrics.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


# --- smoothing ------------------------------------------------------------------------------


def test_the_smoothed_line_is_tensorboards_formula_with_nan_in_place_and_raw_behind():
    rng = np.random.default_rng(7)
    values = rng.normal(1.0, 0.3, 300)
    values[[5, 120]] = np.nan
    values[200] = np.inf
    rows = [{"epoch": i + 1, "train_loss": float(v)} for i, v in enumerate(values)]
    (loss, *_) = charts_for(state_of(rows), ViewOptions(smoothing=0.9))
    (line,) = loss.lines
    expected = tensorboard_loop(values.tolist(), 0.9)
    assert np.allclose(line.y, expected, rtol=1e-12, equal_nan=True)
    assert np.isnan(line.y[5]) and np.isnan(line.y[120]) and line.y[200] == np.inf
    assert np.array_equal(line.raw, values, equal_nan=True)
    assert loss.notes == ("train_loss: NaN from epoch 6 (3 epochs)",)


def test_smoothing_is_computed_once_per_data_not_per_redraw():
    state = state_of([{"epoch": e, "train_loss": 1.0 / e} for e in range(1, 50)])
    first = charts_for(state, ViewOptions(smoothing=0.6))[0].lines[0].y
    again = charts_for(state, ViewOptions(smoothing=0.6, log_y=True))[0].lines[0].y
    assert again is first


def test_a_percent_chart_smooths_in_percent():
    rows = [{"epoch": e, "val_accuracy": 0.5 + 0.01 * e} for e in range(1, 6)]
    charts = charts_for(state_of(rows), ViewOptions(smoothing=0.6))
    (chart,) = [c for c in charts if c.id.startswith("metrics")]
    (line,) = chart.lines
    assert line.raw.tolist() == pytest.approx([51.0, 52.0, 53.0, 54.0, 55.0])
    assert line.y.tolist() == pytest.approx(tensorboard_loop([51, 52, 53, 54, 55], 0.6))


def test_the_raw_curve_is_drawn_first_and_dim_behind_the_smoothed_one():
    state = state_of([{"epoch": e, "train_loss": 1.0 / e + 0.1 * (e % 2)} for e in range(1, 40)])
    plan = layout(charts_for(state, ViewOptions(smoothing=0.8))[0], 80, 20)
    assert [t.dim for t in plan.traces] == [True, False]
    assert plan.traces[0].color == plan.traces[1].color == 33


async def test_s_cycles_the_weights_and_capital_s_goes_back(tmp_path):
    write_run(tmp_path / "runs" / "a", 20)
    app = fixed_app(tmp_path / "runs" / "a")
    async with app.run_test(size=WIDE) as pilot:
        await wait_loaded(pilot, 1)
        await wait_for(pilot, lambda: bool(app.view.shown_charts))
        assert "smooth" not in app.view.header.plain  # an epoch run starts raw
        assert loss_chart(app).lines[0].raw is None
        for weight in ("0.6", "0.8", "0.9", "0.95", "0.99"):
            await pilot.press("s")
            assert f"smooth {weight}" in app.view.header.plain
        raw = app.states["a"].column("train_loss")[1]
        line = loss_chart(app).lines[0]
        assert np.allclose(line.y, tensorboard_loop(raw.tolist(), 0.99))
        assert np.array_equal(line.raw, raw)
        assert [t.dim for t in loss_layout(app).traces] == [True, False, True, False]
        await pilot.press("s")
        assert "smooth" not in app.view.header.plain
        await pilot.press("S")
        assert "smooth 0.99" in app.view.header.plain
        await pilot.press("S", "S")
        assert "smooth 0.9 " in app.view.header.plain + " "


async def test_a_step_run_starts_smoothed_with_outliers_out_of_the_range(tmp_path):
    write_steps(tmp_path / "steps", 2000, spike_at=1500)
    app = fixed_app(tmp_path / "steps")
    async with app.run_test(size=WIDE) as pilot:
        await wait_loaded(pilot, 1)
        await wait_for(pilot, lambda: bool(app.view.shown_charts))
        assert "smooth 0.9" in app.view.header.plain
        chart = loss_chart(app)
        assert chart.clip_outliers is True
        assert loss_layout(app).clipped_high  # the spike of 50 is marked at the top edge
        top = loss_layout(app).y.labels[-1]
        assert float(top) < 5.0
        await pilot.press("o")
        assert "outliers shown" in app.view.header.plain
        assert loss_chart(app).clip_outliers is False
        assert float(loss_layout(app).y.labels[-1]) >= 20.0  # the spike sets the range again
        await pilot.press("o")
        assert "outliers" not in app.view.header.plain


# --- outliers and log y -----------------------------------------------------------------------


def test_one_spike_in_5000_epochs_no_longer_flattens_the_curve():
    values = 0.1 + 0.01 * np.sin(np.arange(5000) / 50)
    values[2500] = 8.0
    rows = [{"epoch": i + 1, "train_loss": float(v)} for i, v in enumerate(values)]
    state = state_of(rows)
    clipped = layout(charts_for(state, ViewOptions(outliers=True))[0], 100, 20)
    shown = layout(charts_for(state, ViewOptions(outliers=False))[0], 100, 20)
    assert float(clipped.y.labels[-1]) <= 0.12
    assert float(shown.y.labels[-1]) >= 7.0
    assert len(clipped.clipped_high) == 1
    assert clipped.clipped_high[0] == pytest.approx(2500 / 4999, abs=0.01)
    assert all(0.0 <= v <= 1.0 for v in clipped.coordinates())


def test_log_y_puts_a_loss_from_100_to_0_01_on_decades():
    rows = [{"epoch": e, "train_loss": 100.0 * 10 ** (-4 * (e - 1) / 99)} for e in range(1, 101)]
    (loss, *_) = charts_for(state_of(rows), ViewOptions(log_y=True))
    assert loss.log_y
    plan = layout(loss, 80, 24)
    assert plan.y.labels == ("1e-2", "1e-1", "1", "1e1", "1e2")


async def test_y_toggles_log_scale_on_the_loss_chart_only(tmp_path):
    write_run(tmp_path / "runs" / "a", 20)
    app = fixed_app(tmp_path / "runs" / "a")
    async with app.run_test(size=WIDE) as pilot:
        await wait_loaded(pilot, 1)
        await wait_for(pilot, lambda: bool(app.view.shown_charts))
        assert not loss_chart(app).log_y
        await pilot.press("y")
        assert loss_chart(app).log_y
        assert "log y" in app.view.header.plain
        assert "(log)" in str(app.view.slots[0].border_title)
        metrics = next(s for s in app.view.shown_charts if s.id.startswith("metrics"))
        assert not metrics.log_y
        await pilot.press("y")
        assert not loss_chart(app).log_y
        assert "log y" not in app.view.header.plain


# --- zoom -----------------------------------------------------------------------------------


async def test_zoom_shows_the_last_half_and_follows_live_data(tmp_path):
    run = tmp_path / "runs" / "a"
    doc = write_run(run, 41)
    app = fixed_app(run)
    async with app.run_test(size=WIDE) as pilot:
        await wait_loaded(pilot, 1)
        await wait_for(pilot, lambda: loss_layout(app) is not None)
        assert (loss_layout(app).x.lo, loss_layout(app).x.hi) == (1.0, 41.0)
        await pilot.press("left_square_bracket")
        assert loss_chart(app).zoom == 0.5
        assert "last 50%" in app.view.header.plain
        # Epoch 21 is at the left edge: 41 - (41 - 1) / 2.
        assert (loss_layout(app).x.lo, loss_layout(app).x.hi) == (21.0, 41.0)
        await pilot.press("left_square_bracket")
        assert loss_chart(app).zoom == 0.25
        # Live data: the zoom keeps the last quarter of the grown run, its end in view.
        for epoch in range(42, 82):
            doc.put(epoch_record(epoch))
        doc.write()
        app.action_reload()
        await wait_for(pilot, lambda: app.states["a"].epochs_done == 81)
        await wait_for(pilot, lambda: loss_layout(app).x.hi == 81.0)
        assert loss_layout(app).x.lo == 61.0
        await pilot.press("right_square_bracket")
        assert loss_chart(app).zoom == 0.5
        await pilot.press("0")
        assert loss_chart(app).zoom == 1.0
        assert "last" not in app.view.header.plain


def test_the_learning_rate_is_a_schedule_and_is_never_smoothed():
    rows = [{**epoch_record(e), "train_loss": 1.0 / e} for e in range(1, 30)]
    charts = charts_for(state_of(rows), ViewOptions(smoothing=0.9))
    (lr,) = [c for c in charts if c.id == "lr"]
    assert all(line.raw is None for line in lr.lines)
    assert charts[0].lines[0].raw is not None


async def test_every_new_key_is_in_the_help_and_the_command_palette(tmp_path):
    from metricwatch.tui.screens.help import help_table

    write_run(tmp_path / "runs" / "a", 5)
    write_run(tmp_path / "runs" / "b", 5)
    app = fixed_app(tmp_path / "runs")
    async with app.run_test(size=WIDE) as pilot:
        await wait_loaded(pilot, 2)
        titles = [command.title for command in app.get_system_commands(app.screen)]
        for title in ("Mark run", "Smoothing", "X axis", "Log scale", "Outliers", "Zoom in"):
            assert title in titles
        for title in ("Zoom out", "Reset zoom", "Runs table", "Export SVG", "Follow"):
            assert title in titles
        keys = [str(cell) for cell in help_table(list(app.BINDINGS)).columns[0]._cells]
        for key in ("space", "s", "S", "x", "y", "o", "[", "]", "0", "t", "e", "f"):
            assert key in keys
