"""Regressions found by driving the live monitor the way a user would (QA pass)."""

from __future__ import annotations

import json
import math
import time

from tui_fixtures.support import fixed_app, wait_for, wait_loaded, write_run

from metricwatch.model import ProblemKind
from metricwatch.tui.app import create_app
from metricwatch.tui.charts import charts_for, linear_ticks
from metricwatch.tui.ingest import Ingest
from metricwatch.tui.widgets.chart import legend
from metricwatch.tui.widgets.run_list import row

WIDE = (120, 40)


def write_records(directory, records, meta=None):
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "metrics.json"
    path.write_text(json.dumps({"meta": meta or {}, "epochs": records}))
    return path


async def test_quick_key_presses_do_not_make_two_runs_select_each_other(tmp_path):
    """j j pressed faster than the list's highlight events were handled: each stale event
    re-selected its run, which posted another event, forever (100% CPU, keys lagging)."""
    for index in range(5):
        write_run(tmp_path / f"run{index}", 3, mtime=time.time() - index)
    app = fixed_app(tmp_path)
    async with app.run_test(size=WIDE) as pilot:
        await wait_loaded(pilot, 5)
        calls = []
        select = app.select
        app.select = lambda name: (calls.append(name), select(name))[1]
        app.action_next_run()  # two key presses handled before either highlight event
        app.action_next_run()
        await pilot.pause(0.3)
        assert app.selected == "run2"
        settled = len(calls)
        await pilot.pause(0.3)
        assert len(calls) == settled <= 3
        assert app.run_list.highlighted == 2


async def test_control_characters_from_files_never_reach_the_terminal(tmp_path):
    write_run(tmp_path / "ansi\x1b[31mred", 3, mtime=time.time() - 5)
    write_run(tmp_path / "new\nline", 3, mtime=time.time() - 6)
    key = "esc\x1b[2Jkey"
    records = [
        {"epoch": e, "train_loss": 1 / e, "[link=https://x]k[/link]": float(e), key: math.nan}
        for e in range(1, 6)
    ]
    write_records(tmp_path / "keys", records)
    app = fixed_app(tmp_path)
    async with app.run_test(size=WIDE) as pilot:
        await wait_loaded(pilot, 3)
        assert app.selected == "keys"
        screen = app.export_screenshot()
        assert "\x1b" not in screen
        assert "[link=https://x]k[/link]" in app.view.summary.plain  # literal, not markup
        assert "sc\\x1b[2Jkey" in app.view.summary.plain  # shown escaped
        assert "\x1b" not in app.view.findings.plain
        for spec in app.view.shown_charts:
            assert "\x1b" not in legend(spec).plain
        for name in ("ansi\x1b[31mred", "new\nline"):
            text = row(app.states[name], 0.0, 30).plain
            assert "\x1b" not in text and "\n" not in text
            app.select(name)
            await pilot.pause()
            assert "\x1b" not in app.view.header.plain and "\n" not in app.view.header.plain
            assert "\x1b" not in app.export_screenshot()


def test_a_damaged_read_keeps_the_last_good_data_without_stale_notices(tmp_path):
    """Garbage, then an empty file: the empty read must not still carry the garbage's note."""
    path = write_records(tmp_path / "a", [{"epoch": e, "train_loss": 1 / e} for e in range(1, 6)])
    ingest = Ingest()
    assert ingest.load("a", path).epochs_done == 5
    path.write_bytes(b"\xff\xfe\x00garbage{{{")
    assert ingest.load("a", path).epochs_done == 5
    path.write_bytes(b"")
    state = ingest.load("a", path)
    assert state.epochs_done == 5
    assert [p.kind for p in state.problems] == [ProblemKind.EMPTY]
    write_records(tmp_path / "a", [{"epoch": 1, "train_loss": 1.0}] * 1)
    assert ingest.load("a", path).problems == []


def test_a_small_damaged_read_after_a_big_file_keeps_the_big_files_data(tmp_path):
    """Big files are parsed in the child, which holds their last good data: a truncated
    small write after one used to fall back to the stale small read the parent held."""
    records = [{"epoch": e, "train_loss": 1 / e} for e in range(1, 400)]
    path = write_records(tmp_path / "a", records[:3])
    ingest = Ingest(big_file_bytes=4096)
    try:
        assert ingest.load("a", path).epochs_done == 3
        write_records(tmp_path / "a", records)  # big: parsed in the child
        assert ingest.load("a", path).epochs_done == 399
        path.write_text(path.read_text()[:100])  # small and truncated
        state = ingest.load("a", path)
        assert state.epochs_done == 399 and state.damaged
        write_records(tmp_path / "a", records[:7])  # small and whole: the parent again
        assert ingest.load("a", path).epochs_done == 7
        path.write_bytes(b"")
        assert ingest.load("a", path).epochs_done == 7
    finally:
        ingest.close()


def test_flat_series_tick_labels_are_distinct_and_exact():
    """A constant lr of 1e-3 was labelled 1.1e-3, 1.1e-3, 1.1e-3, 1e-3, 1e-3."""
    ticks, labels = linear_ticks(0.0009, 0.0011, 9)
    assert len(set(labels)) == len(labels)
    assert all(abs(float(label) - tick) < 1e-9 for label, tick in zip(labels, ticks))
    assert labels[:2] == ["9e-4", "9.25e-4"]


async def test_zero_lr_on_a_log_chart_is_noted_not_marked_as_nan(tmp_path):
    records = [
        {"epoch": e, "train_loss": 1 / e, "lr": 0.0 if e < 4 else 0.1**e} for e in range(1, 9)
    ]
    write_records(tmp_path / "a", records)
    app = fixed_app(tmp_path)
    async with app.run_test(size=WIDE) as pilot:
        await wait_loaded(pilot, 1)
        lr = next(c for c in charts_for(app.states["a"]) if c.id == "lr")
        assert lr.log_y and lr.notes == ("lr: 0 at 3 epochs, not on the log scale",)


async def test_gone_run_shows_no_eta(tmp_path):
    doc = write_run(tmp_path / "a", 3)
    app = create_app(tmp_path)
    async with app.run_test(size=WIDE) as pilot:
        await wait_loaded(pilot, 1)
        assert "ETA" in app.view.header.plain
        doc.path.unlink()
        await wait_for(pilot, lambda: app.states["a"].gone)
        assert "gone" in app.view.header.plain and "ETA" not in app.view.header.plain


async def test_metrics_json_replaced_by_a_fifo_is_reported_not_hung(tmp_path):
    import os

    doc = write_run(tmp_path / "a", 3)
    app = create_app(tmp_path)
    async with app.run_test(size=WIDE) as pilot:
        await wait_loaded(pilot, 1)
        fifo = tmp_path / "a" / "fifo"
        os.mkfifo(fifo)
        fifo.replace(doc.path)
        await wait_for(pilot, lambda: "not a regular file" in str(app.view.notice.render()))
        assert app.states["a"].epochs_done == 3  # the last good data stays
        os.mkfifo(tmp_path / "b")  # a new run dir whose metrics.json is a FIFO, file later
        (tmp_path / "c").mkdir()
        os.mkfifo(tmp_path / "c" / "metrics.json")
        await wait_for(pilot, lambda: "c" in app.states)


async def test_run_rows_are_refitted_when_the_list_is_shown_or_resized(tmp_path):
    """At 80 columns the list is hidden; shown with `l`, its rows were still fitted to the
    width they were first built at, so the epochs/findings columns were cut off."""
    write_run(tmp_path / "a-rather-long-run-name-here", 40, nan_from=30)
    write_run(tmp_path / "b", 5)
    app = fixed_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_loaded(pilot, 2)
        await pilot.press("l")
        await pilot.pause(0.2)

        def fitted() -> bool:
            width = app.run_list.row_width
            texts = [app.run_list.get_option(n).prompt for n in app.run_list.names]
            return all(text.cell_len == width for text in texts)

        await wait_for(pilot, fitted, timeout=1.0)  # not at the next 5 s status check
        long_row = app.run_list.get_option("a-rather-long-run-name-here").prompt.plain
        assert long_row.rstrip().endswith("▲1") and "40/50" in long_row
        await pilot.resize_terminal(130, 40)
        await pilot.pause(0.2)
        await wait_for(pilot, fitted, timeout=1.0)  # not at the next 5 s status check
        assert app.run_list.get_option("b").prompt.cell_len == app.run_list.row_width
