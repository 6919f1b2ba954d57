"""The monitor when watching goes wrong: PATH deleted or not there yet, the watch limit, a
permission error, a read that blocks, and a writer that is not atomic."""

from __future__ import annotations

import asyncio
import os
import shutil
import threading
import time
from pathlib import Path

from tui_fixtures.support import epoch_record, wait_for, wait_loaded, write_run

from metricwatch import inotify, timed_io, watch
from metricwatch.sources import loader as loader_module
from metricwatch.tui import app as app_module
from metricwatch.tui.app import create_app

WIDE = (120, 40)


def header(app) -> str:
    return app.view.header.plain


def notices(app) -> list[str]:
    return [str(n.message) for n in app._notifications]


async def test_a_deleted_root_is_said_and_its_new_runs_show_when_it_is_back(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    root = Path("runs")  # as typed: `metricwatch runs/`
    write_run(root / "a", 3)
    app = create_app(root)
    async with app.run_test(size=WIDE) as pilot:
        await wait_loaded(pilot, 1)
        assert "events" in header(app)
        shutil.rmtree(root)
        await wait_for(pilot, lambda: app.states["a"].gone)
        await wait_for(pilot, lambda: "waiting for runs/" in header(app))
        assert "runs/ is gone (deleted or moved): waiting for it to appear again" in notices(app)
        doc = write_run(root / "b", 2)
        await wait_for(pilot, lambda: "b" in app.states)
        await wait_for(pilot, lambda: app.mode.label == "events")
        doc.put(epoch_record(3))
        doc.write()  # the new directory is watched for real
        await wait_for(pilot, lambda: app.states["b"].epochs_done == 3)


async def test_a_root_that_does_not_exist_yet_is_waited_for_on_screen(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    root = Path("runs")
    app = create_app(root)
    async with app.run_test(size=WIDE) as pilot:
        waiting = app.query_one("#waiting")
        await wait_for(pilot, app.scan_done.is_set)
        # The scan's end was handled with the scan done: the app sets it as it handles it.
        # (The watch thread set it after posting, and the handler could run first: then
        # the waiting text never showed.)
        assert waiting.display
        assert str(waiting.render()).startswith("waiting for runs/ to appear")
        write_run(root / "exp1", 2)
        await wait_for(pilot, lambda: "exp1" in app.states)
        assert app.view.display and not waiting.display
        assert "exp1" in header(app) and "events" in header(app)


async def test_the_watch_limit_shows_in_the_header_and_polled_runs_still_update(
    tmp_path, monkeypatch
):
    monkeypatch.setattr(watch, "NETWORK_POLL_S", 0.05)
    now = time.time()
    write_run(tmp_path / "a", 3, mtime=now - 100)
    b = write_run(tmp_path / "b", 3, mtime=now - 1)
    refused = watch.dir_id(tmp_path / "b")
    real = inotify.watched_ids
    monkeypatch.setattr(inotify, "watched_ids", lambda fd: real(fd) - {refused})
    app = create_app(tmp_path)
    async with app.run_test(size=WIDE) as pilot:
        await wait_loaded(pilot, 2)
        await wait_for(pilot, lambda: "events + polling 0.05s (watch limit)" in header(app))
        b.put(epoch_record(4))
        b.write()
        await wait_for(pilot, lambda: "epoch 4 / 50" in header(app))


async def test_a_permission_error_marks_that_run_unreadable_and_keeps_events(tmp_path, monkeypatch):
    now = time.time()
    a = write_run(tmp_path / "a", 3, mtime=now - 1)
    write_run(tmp_path / "b", 3, mtime=now - 100)
    app = create_app(tmp_path)
    async with app.run_test(size=WIDE) as pilot:
        await wait_loaded(pilot, 2)
        real_stat = os.stat

        def stat(path, *args, **kwargs):  # as if a/ had become mode 000 for us
            if os.fspath(path).startswith(str(tmp_path / "a") + os.sep):
                raise PermissionError(13, "Permission denied", os.fspath(path))
            return real_stat(path, *args, **kwargs)

        monkeypatch.setattr(os, "stat", stat)
        # Python 3.10's Path.stat holds a reference to os.stat of its own: patched too
        monkeypatch.setattr(Path, "stat", lambda self, *args, **kwargs: stat(self, *args, **kwargs))
        with open(a.path, "a") as handle:  # a write there: an event
            handle.write(" ")
        await wait_for(pilot, lambda: app.states["a"].problems)
        assert [p.message for p in app.states["a"].problems] == [
            "cannot read metrics.json: Permission denied"
        ]
        assert not app.states["a"].gone and app.states["a"].epochs_done == 3
        assert "deleted or moved" not in str(app.view.notice.render())
        assert app.mode.label == "events"


async def test_a_read_that_blocks_holds_up_neither_the_others_nor_quitting(tmp_path, monkeypatch):
    monkeypatch.setattr(timed_io, "READ_TIMEOUT_S", 0.3)
    release, hung = threading.Event(), threading.Event()
    real = loader_module._fetch

    def fetch(path, known):
        if "hung" in str(path) and hung.is_set():
            release.wait(10)  # a link to /proc/kmsg, a stale NFS file...
        return real(path, known)

    monkeypatch.setattr(loader_module, "_fetch", fetch)
    now = time.time()
    h = write_run(tmp_path / "hung", 3, mtime=now - 100)
    ok = write_run(tmp_path / "ok", 3, mtime=now - 1)
    app = create_app(tmp_path)
    try:
        async with app.run_test(size=WIDE) as pilot:
            await wait_loaded(pilot, 2)
            hung.set()
            h.put(epoch_record(4))
            h.write()
            await wait_for(pilot, lambda: app.states["hung"].problems)
            assert "taking too long" in app.states["hung"].problems[0].message
            assert app.states["hung"].epochs_done == 3  # the last good data stays
            ok.put(epoch_record(4))
            ok.write()
            await wait_for(pilot, lambda: app.states["ok"].epochs_done == 4, timeout=3)
            await pilot.press("q")
            quitting = time.monotonic()
        assert time.monotonic() - quitting < 1.0
    finally:
        release.set()


def cut(doc) -> None:
    """What `json.dump(obj, open(p, "w"))` leaves while it writes: a cut document."""
    text = doc.render()
    with open(doc.path, "w") as handle:
        handle.write(text[: len(text) // 2])


async def test_a_non_atomic_rewrite_is_not_reported_but_a_file_left_cut_is(tmp_path, monkeypatch):
    monkeypatch.setattr(app_module, "DAMAGE_GRACE_S", 0.4)
    doc = write_run(tmp_path / "a", 3)
    app = create_app(tmp_path)
    async with app.run_test(size=WIDE) as pilot:
        await wait_loaded(pilot, 1)
        shown: list[bool] = []
        for epoch in range(4, 9):  # rewritten in place, caught cut each time
            seen = app.states["a"].version
            cut(doc)
            await wait_for(pilot, lambda v=seen: app.states["a"].version > v)  # the cut read
            shown.append(app.view.notice.display or app.states["a"].damaged)
            doc.put(epoch_record(epoch))
            with open(doc.path, "w") as handle:
                handle.write(doc.render())
            await wait_for(pilot, lambda e=epoch: app.states["a"].epochs_done == e)
        assert shown == [False] * 5
        cut(doc)  # ... and left cut: said once the grace is over, with no further event
        await wait_for(pilot, lambda: app.states["a"].damaged, timeout=2)
        assert app.view.notice.display
        assert app.states["a"].epochs_done == 8


async def test_r_reports_a_cut_file_at_once(tmp_path, monkeypatch):
    monkeypatch.setattr(app_module, "DAMAGE_GRACE_S", 60.0)
    doc = write_run(tmp_path / "a", 3)
    app = create_app(tmp_path)
    async with app.run_test(size=WIDE) as pilot:
        await wait_loaded(pilot, 1)
        seen = app.states["a"].version
        cut(doc)
        await wait_for(pilot, lambda: app.states["a"].version > seen)
        assert not app.states["a"].damaged
        await pilot.press("r")
        await wait_for(pilot, lambda: app.states["a"].damaged, timeout=3)


class DeadWatch:
    """A watch that silently stopped: it never reports anything again."""

    watching = threading.Event()  # set once the watcher waits on it (after its catch-up)

    def __init__(self, *args) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        return None

    def watch(self, debounce_ms, step_ms, timeout_ms, stop_event):
        DeadWatch.watching.set()
        while not stop_event.is_set():
            time.sleep(step_ms / 1000)
        return "stop"


async def test_r_searches_again_and_renews_a_watch_that_went_silent(tmp_path, monkeypatch):
    write_run(tmp_path / "a", 3)
    monkeypatch.setattr(watch, "_notify_class", lambda: DeadWatch)
    monkeypatch.setattr(DeadWatch, "watching", threading.Event())
    app = create_app(tmp_path)
    async with app.run_test(size=WIDE) as pilot:
        await wait_loaded(pilot, 1)
        await wait_for(pilot, DeadWatch.watching.is_set)  # past the catch-up search
        write_run(tmp_path / "b", 2)
        await pilot.pause(0.2)
        assert "b" not in app.states  # no event came
        await pilot.press("r")
        await wait_for(pilot, lambda: "b" in app.states, timeout=2)


QUIT_WITH_A_HUNG_WATCHER = """
import asyncio, sys, threading, time
from pathlib import Path
sys.path.insert(0, sys.argv[2])
from tui_fixtures.support import write_run
from metricwatch import watch_tree
from metricwatch.tui.app import create_app

root = Path(sys.argv[1])
write_run(root / "a", 3)
hung = threading.Event()
real = watch_tree._stamp

def stamp(path):
    if hung.is_set():
        threading.Event().wait()  # a stat on a dead network mount: it never returns
    return real(path)

watch_tree._stamp = stamp
app = create_app(root, poll_interval=0.05)

async def press_q(pilot):
    while not app.states:
        await asyncio.sleep(0.02)
    hung.set()
    await asyncio.sleep(0.3)  # the watcher thread is stuck now
    print("quitting", time.monotonic(), flush=True)
    await pilot.press("q")

app.run(headless=True, auto_pilot=press_q)
print("exited", time.monotonic(), flush=True)
"""


def test_q_exits_at_once_even_with_the_watcher_stuck_in_a_stat(tmp_path):
    import subprocess
    import sys

    tests = Path(__file__).parent
    proc = subprocess.run(
        [sys.executable, "-c", QUIT_WITH_A_HUNG_WATCHER, str(tmp_path / "runs"), str(tests)],
        capture_output=True, text=True, timeout=30, cwd=tests.parent,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    quitting, exited = (float(line.split()[1]) for line in proc.stdout.splitlines()[-2:])
    assert exited - quitting < 1.0


async def test_a_watcher_that_dies_says_so_and_r_starts_it_again(tmp_path, monkeypatch):
    write_run(tmp_path / "a", 2)
    real_follow = watch.RunWatcher.batches
    calls = []

    def dies_once(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("the notify backend gave up")
        return real_follow(self, *args, **kwargs)

    monkeypatch.setattr(watch.RunWatcher, "batches", dies_once)
    app = create_app(tmp_path)
    async with app.run_test(size=WIDE) as pilot:
        await wait_loaded(pilot, 1)
        await wait_for(pilot, lambda: "stopped: r to restart" in header(app))
        assert app.mode.degraded
        await pilot.press("r")
        await wait_for(pilot, lambda: app.mode.label == "events")
        doc = write_run(tmp_path / "b", 1)
        await wait_for(pilot, lambda: "b" in app.states)  # watched again for real
        doc.put(epoch_record(2))
        doc.write()
        await wait_for(pilot, lambda: app.states["b"].epochs_done == 2)


async def test_a_read_racing_a_deletion_does_not_undo_gone(tmp_path):
    from metricwatch.model import Problem, ProblemKind, Run
    from metricwatch.tui.messages import RunGone, RunsLoaded
    from metricwatch.tui.state import build_state

    write_run(tmp_path / "a", 3)
    app = create_app(tmp_path, poll_interval=None)
    async with app.run_test(size=WIDE) as pilot:
        await wait_loaded(pilot, 1)
        path = app.states["a"].metrics_path
        app.post_message(RunGone("a"))
        await wait_for(pilot, lambda: app.states["a"].gone)
        missing = Run("a", path, problems=[Problem(ProblemKind.MISSING, "metrics.json is gone")])
        app.post_message(RunsLoaded([build_state(missing, version=10**6)]))
        await pilot.pause()
        await pilot.pause()
        assert app.states["a"].gone and app.states["a"].epochs_done == 3


async def test_a_write_read_while_quitting_is_dropped_not_a_traceback(tmp_path):
    """The watch thread posts what it read; quitting may take the screen apart before the
    app handles it. Every message of the watch is dropped then (each would look for
    widgets already gone)."""
    from dataclasses import replace

    from metricwatch.tui.messages import (
        ColumnsReady,
        RunFailed,
        RunGone,
        RunsLoaded,
        RunsRemoved,
        ScanFinished,
        WatchError,
    )

    write_run(tmp_path / "a", 3)
    write_run(tmp_path / "b", 3)
    app = create_app(tmp_path, watch=False)
    handled = []
    async with app.run_test(size=WIDE) as pilot:
        await wait_loaded(pilot, 2)
        state = app.states["a"]
        newer = replace(state, version=state.version + 1)
        close_all = app._close_all

        async def quitting() -> None:
            await close_all()  # the widgets are gone; the watch posts what it read
            for message in (
                RunsLoaded([newer]),
                ColumnsReady(newer),
                RunGone("a"),
                RunsRemoved(["b"]),
                RunFailed("a", state.metrics_path, "gone"),
                ScanFinished(),
                WatchError(OSError("no")),
            ):
                app.post_message(message)
            await asyncio.sleep(0.1)  # the app's loop handles them meanwhile
            handled.append(app.states["a"])

        app._close_all = quitting
    assert handled == [state]  # none of them was handled, and none raised
