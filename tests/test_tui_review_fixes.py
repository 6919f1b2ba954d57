"""Regression tests of the monitor's review fixes: load races, columns off the UI
thread, repeated failures, the parser child's shutdown, watcher errors."""

from __future__ import annotations

import io
import shutil
import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest
from tui_fixtures.support import (
    chart_keys,
    copy_fixtures,
    fixed_app,
    wait_for,
    wait_loaded,
    write_run,
)

from metricwatch.model import ProblemKind
from metricwatch.tui import state as state_module
from metricwatch.tui.app import create_app
from metricwatch.tui.ingest import Ingest, _receive
from metricwatch.tui.messages import RunFailed, RunsLoaded, WatchModeChanged
from metricwatch.watch import WatchMode

WIDE = (120, 40)


async def test_an_older_read_arriving_late_does_not_replace_a_newer_one(tmp_path):
    root = copy_fixtures(tmp_path)
    app = fixed_app(root)
    async with app.run_test(size=WIDE) as pilot:
        await wait_loaded(pilot, 2)
        current = app.states["resnet-healthy"]
        older = replace(current, version=current.version - 1, epochs_done=1)
        app.post_message(RunsLoaded([older]))
        await pilot.pause()
        assert app.states["resnet-healthy"] is current
        assert "epoch 30 / 50" in app.view.header.plain
        newer = replace(current, version=current.version + 1, epochs_done=31)
        app.post_message(RunsLoaded([newer]))
        await wait_for(pilot, lambda: app.states["resnet-healthy"] is newer)


async def test_selecting_a_run_builds_its_columns_off_the_ui_thread(tmp_path, monkeypatch):
    root = copy_fixtures(tmp_path)
    app = fixed_app(root)
    ui_thread_builds: list[str] = []
    original = state_module._column

    def spy(run, key):
        if threading.current_thread() is threading.main_thread():
            ui_thread_builds.append(key)
        return original(run, key)

    monkeypatch.setattr(state_module, "_column", spy)
    async with app.run_test(size=WIDE) as pilot:
        await wait_loaded(pilot, 2)
        assert not app.states["vit-overfit"].has_columns  # not selected at load time
        await pilot.press("j")
        assert "vit-overfit" in app.view.header.plain  # shown at once, charts follow
        await wait_for(pilot, lambda: ("grad_norm", "grad_max") in chart_keys(app))
        assert app.states["vit-overfit"].has_columns
    assert ui_thread_builds == []


async def test_repeated_failures_do_not_pile_up_problems(tmp_path):
    root = copy_fixtures(tmp_path)
    app = fixed_app(root)
    async with app.run_test(size=WIDE) as pilot:
        await wait_loaded(pilot, 2)
        path = app.states["resnet-healthy"].metrics_path
        for attempt in range(3):
            app.post_message(RunFailed("resnet-healthy", path, f"OSError: try {attempt}"))
            await pilot.pause()
        problems = app.states["resnet-healthy"].problems
        unreadable = [p for p in problems if p.kind is ProblemKind.UNREADABLE]
        assert [p.message for p in unreadable] == ["could not load this run: OSError: try 2"]
        # A run never loaded gets a state of its own, too.
        app.post_message(RunFailed("new", root / "new" / "metrics.json", "OSError: x"))
        await wait_for(pilot, lambda: "new" in app.states)


def test_receive_raises_eof_on_a_short_reply():
    with pytest.raises(EOFError):
        _receive(io.BytesIO(b"\x00\x00"))
    with pytest.raises(EOFError):
        _receive(io.BytesIO(b"\x00\x00\x00\x00\x00\x00\x00\x10abc"))


def test_a_closed_ingest_starts_no_parser_child(tmp_path):
    write_run(tmp_path / "a", 3)
    ingest = Ingest(big_file_bytes=1)  # every file goes to the child
    path = tmp_path / "a" / "metrics.json"
    first = ingest.load("a", path)
    second = ingest.load("a", path)
    assert 0 < first.version < second.version
    child = ingest._child
    ingest.close()
    assert child is not None and not child.alive
    assert child._process.returncode is not None  # reaped
    with pytest.raises(RuntimeError):
        ingest.load("a", path)
    assert ingest._child is None


async def test_an_unreadable_root_is_shown_not_waited_for(tmp_path, monkeypatch):
    root = tmp_path / "locked"
    root.mkdir()
    real_stat = Path.stat

    def stat(self, *args, **kwargs):
        if self == root:
            raise PermissionError(13, "Permission denied", str(self))
        return real_stat(self, *args, **kwargs)

    monkeypatch.setattr(Path, "stat", stat)
    app = create_app(root, poll_interval=None)
    async with app.run_test(size=WIDE) as pilot:
        waiting = app.query_one("#waiting")
        await wait_for(pilot, lambda: waiting.display)
        await wait_for(pilot, lambda: "cannot watch" in str(waiting.render()))
        assert "permission denied" in str(waiting.render())


async def test_switching_to_polling_updates_the_waiting_text(tmp_path):
    app = create_app(tmp_path, poll_interval=None)
    async with app.run_test(size=WIDE) as pilot:
        await wait_for(pilot, lambda: app.scan_done.is_set())
        waiting = app.query_one("#waiting")
        assert "watching (events)" in str(waiting.render())
        app.post_message(WatchModeChanged(WatchMode(True, 2.0, "test"), "test"))
        await wait_for(pilot, lambda: "watching (polling 2s)" in str(waiting.render()))


async def test_a_deleted_run_frees_its_cached_reads(tmp_path):
    now = time.time()
    write_run(tmp_path / "a", 3, mtime=now - 1)
    write_run(tmp_path / "b", 3, mtime=now - 100)
    app = create_app(tmp_path, poll_interval=0.05)
    async with app.run_test(size=WIDE) as pilot:
        await wait_loaded(pilot, 2)
        path = app.states["b"].metrics_path
        assert path in app.ingest._previous
        shutil.rmtree(tmp_path / "b")
        await wait_for(pilot, lambda: app.states["b"].gone)
        await wait_for(pilot, lambda: path not in app.ingest._previous)
        assert app.states["b"].epochs_done == 3  # still shown
