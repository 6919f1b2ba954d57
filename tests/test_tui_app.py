"""Pilot tests of the monitor: navigation, filter, help, and live updates from real files."""

from __future__ import annotations

import io
import shutil
import threading
import time

import pytest
from rich.console import Console
from tui_fixtures.support import (
    chart_keys,
    copy_fixtures,
    epoch_record,
    fixed_app,
    wait_for,
    wait_loaded,
    write_run,
)

from metricwatch.analysis.status import Status
from metricwatch.tui import app as app_module
from metricwatch.tui.app import create_app
from metricwatch.tui.screens.help import HelpScreen, help_table

WIDE = (120, 40)
SMALL = (80, 24)


def header(app) -> str:
    return app.view.header.plain


# --- navigation ---------------------------------------------------------------------------


async def test_most_recent_run_is_selected_first_and_j_k_switch_everything(tmp_path):
    root = copy_fixtures(tmp_path)
    app = fixed_app(root)
    async with app.run_test(size=WIDE) as pilot:
        await wait_loaded(pilot, 2)
        assert app.run_list.names == ["resnet-healthy", "vit-overfit"]
        assert "resnet-healthy" in header(app)
        assert "epoch 30 / 50" in header(app)
        assert "Val Accuracy" in app.view.summary.plain
        assert "No problems found" in app.view.findings.plain
        assert ("grad_norm", "grad_max") not in chart_keys(app)

        await pilot.press("j")
        assert "vit-overfit" in header(app)
        assert "epoch 40 / 40" in header(app)
        assert "Best Epoch  14 / 40" in app.view.summary.plain
        assert "Val loss diverges from train loss" in app.view.findings.plain
        assert "Overfitting" in app.view.findings.plain
        # The charts follow once a worker has built the run's columns.
        await wait_for(pilot, lambda: ("grad_norm", "grad_max") in chart_keys(app))

        await pilot.press("k")
        assert "resnet-healthy" in header(app)
        await pilot.press("down")
        assert "vit-overfit" in header(app)
        await pilot.press("up")
        assert "resnet-healthy" in header(app)
        await pilot.press("k")  # at the top: stays
        assert "resnet-healthy" in header(app)


async def test_header_shows_ago_eta_and_watch_mode(tmp_path):
    root = copy_fixtures(tmp_path)
    app = fixed_app(root)
    async with app.run_test(size=WIDE) as pilot:
        await wait_loaded(pilot, 2)
        text = header(app)
        assert "written 4s ago" in text
        assert "ETA 14m 56s" in text  # 20 epochs x 45.0 s, minus the 4 s already spent
        assert "events" in text


async def test_filter_narrows_the_list_and_escape_clears_it(tmp_path):
    root = copy_fixtures(tmp_path)
    app = fixed_app(root)
    async with app.run_test(size=WIDE) as pilot:
        await wait_loaded(pilot, 2)
        await pilot.press("slash")
        await pilot.press("v", "i", "t")
        assert app.run_list.names == ["vit-overfit"]
        assert "vit-overfit" in header(app)  # the selection follows the filter
        await pilot.press("escape")
        assert app.run_list.names == ["resnet-healthy", "vit-overfit"]
        assert "vit-overfit" in header(app)
        # Keys go back to the app once the filter is closed.
        await pilot.press("k")
        assert "resnet-healthy" in header(app)


async def test_filter_typing_j_does_not_switch_runs(tmp_path):
    root = copy_fixtures(tmp_path)
    app = fixed_app(root)
    async with app.run_test(size=WIDE) as pilot:
        await wait_loaded(pilot, 2)
        await pilot.press("slash", "j")
        assert "resnet-healthy" in header(app)
        assert app.run_list.names == []  # no run name contains "j"
        await pilot.press("escape")
        assert len(app.run_list.names) == 2


async def test_help_screen_lists_every_binding(tmp_path):
    root = copy_fixtures(tmp_path)
    app = fixed_app(root)
    async with app.run_test(size=SMALL) as pilot:
        await wait_loaded(pilot, 2)
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        console = Console(width=100, file=io.StringIO(), record=True)
        console.print(help_table(app.screen.listed))
        body = console.export_text()
        for binding in app.BINDINGS:
            assert (binding.tooltip or binding.description) in body
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)


async def test_small_terminal_hides_the_list_and_m_cycles_charts(tmp_path):
    root = copy_fixtures(tmp_path)
    app = fixed_app(root)
    async with app.run_test(size=SMALL) as pilot:
        await wait_loaded(pilot, 2)
        assert not app.query_one("#sidebar").display
        await pilot.press("j")
        assert "vit-overfit" in header(app)
        assert "2/2" in header(app)  # compact header at 80 columns: "run" dropped
        first = [spec.id for spec in app.view.shown_charts]
        assert first[0] == "loss" and len(first) == 2
        await pilot.press("m")
        second = [spec.id for spec in app.view.shown_charts]
        assert second[0] == "loss" and second != first
        await pilot.press("l")
        assert app.query_one("#sidebar").display


async def test_single_run_path_hides_the_list(tmp_path):
    write_run(tmp_path / "only", 5)
    app = fixed_app(tmp_path / "only")
    async with app.run_test(size=WIDE) as pilot:
        await wait_loaded(pilot, 1)
        assert not app.query_one("#sidebar").display
        assert "only" in header(app)


# --- what the data looks like ---------------------------------------------------------------


async def test_nan_is_noted_on_the_chart_and_in_findings(tmp_path):
    write_run(tmp_path / "nan-run", 20, nan_from=12)
    app = fixed_app(tmp_path)
    async with app.run_test(size=WIDE) as pilot:
        await wait_loaded(pilot, 1)
        loss = app.view.shown_charts[0]
        assert "val_loss: NaN from epoch 12 (9 epochs)" in loss.notes
        assert "NaN" in app.view.findings.plain


async def test_markup_in_names_is_shown_literally(tmp_path):
    write_run(tmp_path / "[bold]x[/bold]", 3)
    app = fixed_app(tmp_path)
    async with app.run_test(size=WIDE) as pilot:
        await wait_loaded(pilot, 1)
        assert "[bold]x[/bold]" in header(app)


async def test_the_waiting_text_shows_however_late_the_scan_is_marked_done(tmp_path):
    # The watch thread posted the scan's end, then marked the scan done: when the UI
    # handled the message in between, it found the scan not done and the waiting text
    # never showed. A slow set() makes that order certain.
    class SlowEvent(threading.Event):
        def set(self) -> None:
            time.sleep(0.2)
            super().set()

    app = create_app(tmp_path, poll_interval=None)
    app.scan_done = SlowEvent()
    async with app.run_test(size=WIDE) as pilot:
        waiting = app.query_one("#waiting")
        await wait_for(pilot, lambda: waiting.display)
        assert app.scan_done.is_set()


async def test_empty_directory_waits_then_picks_up_a_run(tmp_path):
    app = create_app(tmp_path, poll_interval=None)
    async with app.run_test(size=WIDE) as pilot:
        await wait_for(pilot, lambda: app.scan_done.is_set())
        waiting = app.query_one("#waiting")
        assert waiting.display
        assert "waiting for runs: no run files under" in str(waiting.render())
        assert "metrics.json" in str(waiting.render())
        write_run(tmp_path / "late", 2)
        await wait_for(pilot, lambda: "late" in app.states)
        assert app.view.display and not waiting.display
        assert "late" in header(app)


# --- live -----------------------------------------------------------------------------------


@pytest.fixture
def two_runs(tmp_path):
    now = time.time()
    a = write_run(tmp_path / "a", 3, mtime=now - 1)
    b = write_run(tmp_path / "b", 7, mtime=now - 100)
    return tmp_path, a, b


@pytest.mark.parametrize("poll", [None, 0.05], ids=["events", "polling"])
async def test_new_epoch_shows_up(two_runs, poll):
    root, a, _ = two_runs
    app = create_app(root, poll_interval=poll)
    async with app.run_test(size=WIDE) as pilot:
        await wait_loaded(pilot, 2)
        assert "epoch 3 / 50" in header(app)
        a.put(epoch_record(4))
        a.write()
        await wait_for(pilot, lambda: "epoch 4 / 50" in header(app))
        assert app.states["a"].epochs_done == 4
        assert ("polling" in header(app)) == (poll is not None)


async def test_corrupt_write_keeps_the_last_good_data_with_a_notice(two_runs, monkeypatch):
    monkeypatch.setattr(app_module, "DAMAGE_GRACE_S", 0.4)  # the notice after a shorter grace
    root, a, _ = two_runs
    app = create_app(root)
    async with app.run_test(size=WIDE) as pilot:
        await wait_loaded(pilot, 2)
        text = a.render()
        a.path.write_text(text[: len(text) // 3])  # a half-written, non-atomic copy
        await wait_for(pilot, lambda: app.states["a"].damaged)
        assert app.states["a"].epochs_done == 3
        assert "epoch 3 / 50" in header(app)
        notice = app.view.notice
        assert notice.display
        assert "showing the last good data (3 epochs)" in str(notice.render())
        a.put(epoch_record(4))
        a.write()
        await wait_for(pilot, lambda: "epoch 4 / 50" in header(app))
        assert not app.view.notice.display


async def test_new_run_directory_is_picked_up(two_runs):
    root, _, _ = two_runs
    app = create_app(root)
    async with app.run_test(size=WIDE) as pilot:
        await wait_loaded(pilot, 2)
        write_run(root / "group" / "c", 2)
        await wait_for(pilot, lambda: "group/c" in app.run_list.names)
        assert app.states["group/c"].epochs_done == 2
        # Following (on by default): the new run, written last, is selected.
        await wait_for(pilot, lambda: app.selected == "group/c")
        assert app.following
        await pilot.press("k")  # the user moves: following stops
        assert not app.following and "following" not in header(app)
        write_run(root / "group" / "d", 2)
        await wait_for(pilot, lambda: "group/d" in app.run_list.names)
        assert app.selected == "b"  # the selection does not jump any more


async def test_deleted_run_is_marked_gone(two_runs):
    root, _, _ = two_runs
    app = create_app(root)
    async with app.run_test(size=WIDE) as pilot:
        await wait_loaded(pilot, 2)
        shutil.rmtree(root / "a")
        await wait_for(pilot, lambda: app.states["a"].gone)
        assert app.states["a"].status(time.time()) is Status.GONE
        assert app.states["a"].epochs_done == 3  # the data stays on screen
        assert "gone" in header(app)
        assert "is gone" in str(app.view.notice.render())
        # ... and comes back when the run is written again.
        write_run(root / "a", 5)
        await wait_for(pilot, lambda: not app.states["a"].gone)
        await wait_for(pilot, lambda: app.states["a"].epochs_done == 5)


async def test_reload_key_rereads(two_runs):
    root, a, _ = two_runs
    app = create_app(root, poll_interval=60)  # no change will be noticed by itself
    async with app.run_test(size=WIDE) as pilot:
        await wait_loaded(pilot, 2)
        a.put(epoch_record(4))
        a.write()
        await pilot.press("r")
        await wait_for(pilot, lambda: "epoch 4 / 50" in header(app))


async def test_header_stays_one_line_in_80_columns(tmp_path):
    root = tmp_path / "runs"
    write_run(root / "tasks" / "instance_segmentation_long", 30, mtime=time.time() - 60)
    write_run(root / "other", 10, mtime=time.time() - 120)
    app = create_app(root, watch=False)
    async with app.run_test(size=SMALL) as pilot:
        await wait_loaded(pilot, 2)
        text = header(app)
        assert "tasks/instance_segmentation_long" in text and "epoch 30 / 50" in text
        assert len(text) <= SMALL[0] - 2
        assert app.view.header.size.height == 1
