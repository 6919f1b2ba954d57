"""The `x` key: step, epoch, relative time, wall clock, among the axes a run has."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
from tui_fixtures.support import fixed_app, wait_for, wait_loaded, write_run

from metricwatch.tui.axes import duration_label, time_ticks

WIDE = (120, 40)
T0 = 1_700_000_000.0


def write_steps(directory: Path, steps: int, *, seconds_per_step: float = 3.0) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    rows = [
        {"step": s, "epoch": s / 100, "time": T0 + s * seconds_per_step, "loss": 2.0 / s}
        for s in range(1, steps + 1)
    ]
    (directory / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))


def loss(app):
    return app.view.shown_charts[0]


def test_time_ticks_fall_on_round_steps_and_read_as_durations():
    ticks, labels = time_ticks(0.0, 5400.0, 5, wall=False)
    assert ticks == [0.0, 1800.0, 3600.0, 5400.0]
    assert labels == ["0", "30m", "1h", "1h30m"]
    assert duration_label(90061) == "1d1h"
    ticks, labels = time_ticks(T0, T0 + 120, 3, wall=True)
    assert labels == [time.strftime("%H:%M", time.localtime(t)) for t in ticks]
    assert all(t % 60 == 0 for t in ticks)


async def test_x_cycles_the_axes_a_step_run_has(tmp_path):
    write_steps(tmp_path / "steps", 600)
    app = fixed_app(tmp_path / "steps")
    async with app.run_test(size=WIDE) as pilot:
        await wait_loaded(pilot, 1)
        await wait_for(pilot, lambda: bool(app.view.shown_charts))
        state = app.states["steps"]
        assert state.axes() == ["step", "epoch", "relative", "wall"]
        assert loss(app).title == "Loss by step"
        await pilot.press("x")
        assert loss(app).title == "Loss by epoch"
        assert "x: epoch" in app.view.header.plain
        assert np.allclose(loss(app).lines[0].x, np.arange(1, 601) / 100)
        await pilot.press("x")
        assert loss(app).title == "Loss by relative time"
        assert np.allclose(loss(app).lines[0].x, np.arange(0, 600) * 3.0)
        layout = app.view.slots[0].drawn_layout
        assert layout.x.labels[0] == "0" and layout.x.labels[-1].endswith("m")
        await pilot.press("x")
        assert loss(app).title == "Loss by wall clock"
        assert loss(app).lines[0].x[0] == T0 + 3.0
        await pilot.press("x")
        assert loss(app).title == "Loss by step"
        assert "x:" not in app.view.header.plain


async def test_an_epoch_run_without_times_has_only_its_epochs(tmp_path):
    write_run(tmp_path / "runs" / "a", 5)
    app = fixed_app(tmp_path / "runs" / "a")
    async with app.run_test(size=WIDE) as pilot:
        await wait_loaded(pilot, 1)
        await wait_for(pilot, lambda: bool(app.view.shown_charts))
        assert app.states["a"].axes() == ["epoch"]
        await pilot.press("x")
        assert loss(app).title == "Loss"
        assert "x:" not in app.view.header.plain


async def test_compare_on_relative_time_says_which_run_lacks_it(tmp_path):
    root = tmp_path / "runs"
    write_steps(root / "timed", 300)
    write_run(root / "untimed", 10)
    app = fixed_app(root)
    async with app.run_test(size=WIDE) as pilot:
        await wait_loaded(pilot, 2)
        for name in ("timed", "untimed"):
            app.select(name)
            await pilot.press("space")
        await wait_for(pilot, lambda: app.view.compared is not None)
        await pilot.press("x")  # step -> epoch (both runs have epochs)
        train = app.view.shown_charts[0]
        assert train.title == "Train Loss"
        assert [line.label for line in train.lines] == ["timed", "untimed"]
        await pilot.press("x")
        train = app.view.shown_charts[0]
        assert train.title == "Train Loss by relative time"
        assert [line.label for line in train.lines] == ["timed"]
        assert "no relative time for untimed" in train.notes


async def test_the_best_point_is_marked_on_every_axis_at_its_own_epoch_and_time(tmp_path):
    directory = tmp_path / "steps"
    directory.mkdir()
    rows = []
    for s in range(1, 301):
        row = {"step": s, "epoch": s / 100, "time": T0 + s * 3.0, "train_loss": 2.0 / s}
        if s % 50 == 0:
            row["val_loss"] = 1.0 + abs(s - 150) / 100  # best at step 150
        rows.append(row)
    (directory / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    app = fixed_app(directory)
    async with app.run_test(size=WIDE) as pilot:
        await wait_loaded(pilot, 1)
        await wait_for(pilot, lambda: bool(app.view.shown_charts))
        assert (loss(app).marker_x, loss(app).marker_label) == (150.0, "best 150 (1)")
        await pilot.press("x")  # epoch
        assert (loss(app).marker_x, loss(app).marker_label) == (1.5, "best step 150 (1)")
        await pilot.press("x")  # relative time: 3 s a step from step 1
        assert (loss(app).marker_x, loss(app).marker_label) == (447.0, "best step 150 (1)")
        layout = app.view.slots[0].drawn_layout
        assert layout.best_x == 447.0 / 897.0 and layout.best_label.strip() == "best step 150 (1)"
        await pilot.press("x")  # wall clock
        assert loss(app).marker_x == T0 + 450.0


async def test_no_marker_where_the_best_point_has_no_such_x(tmp_path):
    directory = tmp_path / "steps"
    directory.mkdir()
    rows = [{"step": s, "epoch": s / 10, "train_loss": 2.0 / s} for s in range(1, 40)]
    rows[-1]["time"] = T0  # one time: the axis exists, the best point has none
    rows += [{"step": 40, "val_loss": 0.5}]  # no epoch for the best point
    (directory / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    app = fixed_app(directory)
    async with app.run_test(size=WIDE) as pilot:
        await wait_loaded(pilot, 1)
        await wait_for(pilot, lambda: bool(app.view.shown_charts))
        assert loss(app).marker_x == 40.0
        await pilot.press("x")
        assert loss(app).title == "Loss by epoch"
        assert (loss(app).marker_x, loss(app).marker_label) == (None, "")
