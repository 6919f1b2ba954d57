"""Comparing runs: space marks, esc clears, overlay charts with a colour per run kept."""

from __future__ import annotations

import numpy as np
from tui_fixtures.support import fixed_app, wait_for, wait_loaded, write_run

from metricwatch.tui.compare import MAX_COMPARED, RUN_COLORS, Marks

WIDE = (120, 40)


def test_a_run_keeps_its_colour_when_marked_again_and_ten_is_the_most():
    marks = Marks()
    for name in "abc":
        assert marks.toggle(name)
    assert [marks.color(n)[0] for n in "abc"] == [33, 208, 41]
    marks.toggle("b")
    assert marks.color("b") is None
    marks.toggle("d")  # the free colour, not b's
    assert marks.color("d")[0] == RUN_COLORS[3][0]
    marks.toggle("b")
    assert marks.color("b")[0] == 208
    for i in range(MAX_COMPARED - 4):
        assert marks.toggle(f"r{i}")
    assert len(marks.names) == MAX_COMPARED
    assert not marks.toggle("one-too-many")
    assert "one-too-many" not in marks.names


def three_runs(tmp_path):
    root = tmp_path / "runs"
    write_run(root / "a", 20)
    write_run(root / "b", 30)
    doc = write_run(root / "c", 25)
    return root, doc


async def test_space_marks_runs_and_the_charts_overlay_them_with_a_legend(tmp_path):
    root, _ = three_runs(tmp_path)
    app = fixed_app(root)
    async with app.run_test(size=WIDE) as pilot:
        await wait_loaded(pilot, 3)
        names = app.run_list.names
        await pilot.press("space")
        assert app.view.compared is None  # one run marked: still its own charts
        await pilot.press("j", "space")
        await wait_for(pilot, lambda: app.view.compared is not None)
        assert "comparing 2 runs" in app.view.header.plain
        ids = [spec.id for spec in app.view.shown_charts]
        assert ids == [
            "compare-train_loss",
            "compare-val_loss",
            "compare-val_accuracy",
            "compare-lr",
        ]
        train = app.view.shown_charts[0]
        assert [line.label for line in train.lines] == names[:2]
        assert [line.color for line in train.lines] == [33, 208]
        title = str(app.view.slots[0].border_title)
        assert names[0] in title and names[1] in title
        _, y = app.states[names[1]].column("train_loss")
        assert np.array_equal(train.lines[1].y, y)
        # The swatch in the runs list has the run's colour.
        row = app.run_list._rows[names[0]]
        assert row.plain[1] == "▌"
        await pilot.press("escape")
        assert app.view.compared is None
        assert app.run_list._rows[names[0]].plain[1] == " "
        assert "comparing" not in app.view.header.plain


async def test_compare_with_smoothing_on_a_step_axis_and_a_run_lacking_a_metric(tmp_path):
    root = tmp_path / "runs"
    for name, rate in (("fast", 0.01), ("slow", 0.001)):
        (root / name).mkdir(parents=True)
        rows = [
            f'{{"step": {s}, "epoch": {s / 100}, "time": {1_700_000_000 + s}, '
            f'"loss": {2.0 * np.exp(-rate * s) + 0.1}}}\n'
            for s in range(1, 501)
        ]
        (root / name / "metrics.jsonl").write_text("".join(rows))
    write_run(root / "epochs", 10)
    app = fixed_app(root)
    async with app.run_test(size=WIDE) as pilot:
        await wait_loaded(pilot, 3)
        for name in ("fast", "slow"):
            app.select(name)
            await pilot.press("space")
        await wait_for(pilot, lambda: app.view.compared is not None)
        assert "smooth 0.9" in app.view.header.plain  # step runs start smoothed
        train = app.view.shown_charts[0]
        assert train.title == "Train Loss by step"
        fast = app.states["fast"]
        assert np.array_equal(train.lines[0].y, fast.smoothed("train_loss", 0.9))
        assert np.array_equal(train.lines[0].raw, fast.column("train_loss")[1])
        await pilot.press("s")
        assert "smooth 0.95" in app.view.header.plain
        assert np.array_equal(
            app.view.shown_charts[0].lines[1].y, app.states["slow"].smoothed("train_loss", 0.95)
        )
        app.select("epochs")
        await pilot.press("space")
        await wait_for(pilot, lambda: len(app.view.compared or []) == 3)
        val = next(s for s in app.view.shown_charts if s.id == "compare-val_loss")
        assert val.lines == ()  # a per-epoch run has no step axis
        assert val.notes == ("no val_loss: fast, slow", "no step for epochs")
        await pilot.press("x")  # every run has epochs
        val = next(s for s in app.view.shown_charts if s.id == "compare-val_loss")
        assert [line.label for line in val.lines] == ["epochs"]
        assert val.notes == ("no val_loss: fast, slow",)
        train = app.view.shown_charts[0]
        assert [line.label for line in train.lines] == ["fast", "slow", "epochs"]
        assert np.allclose(train.lines[0].x, np.arange(1, 501) / 100)


async def test_an_eleventh_mark_is_refused_and_said(tmp_path):
    root = tmp_path / "runs"
    for i in range(11):
        write_run(root / f"r{i:02}", 3)
    app = fixed_app(root)
    async with app.run_test(size=WIDE, notifications=True) as pilot:
        await wait_loaded(pilot, 11)
        for name in sorted(app.states):
            app.select(name)
            await pilot.press("space")
        assert len(app.view.marks.names) == MAX_COMPARED
        await wait_for(pilot, lambda: bool(app.screen.query("Toast")))
        assert "at most 10 runs" in str(app.screen.query("Toast").first().render())


async def test_marks_follow_new_data_of_a_compared_run(tmp_path):
    root, doc = three_runs(tmp_path)
    app = fixed_app(root)
    async with app.run_test(size=WIDE) as pilot:
        await wait_loaded(pilot, 3)
        for name in ("a", "c"):
            app.select(name)
            await pilot.press("space")
        from tui_fixtures.support import epoch_record

        for epoch in range(26, 31):
            doc.put(epoch_record(epoch))
        doc.write()
        app.action_reload()
        await wait_for(pilot, lambda: app.states["c"].epochs_done == 30)
        await wait_for(pilot, lambda: len(app.view.shown_charts[0].lines[1].x) == 30)
