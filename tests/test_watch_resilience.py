"""Watching that must not stop silently: PATH deleted or missing, the inotify watch limit,
watcher errors, permission errors, links, and one watch per searched directory."""

from __future__ import annotations

import json
import os
import queue
import shutil
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
from tui_fixtures.support import epoch_record, write_run

from metricwatch import inotify, watch, watch_tree
from metricwatch.watch import RunWatcher, UpdateKind, WatchMode

APPEARED, CHANGED, GONE = UpdateKind.APPEARED, UpdateKind.CHANGED, UpdateKind.GONE


def wait_until(condition, timeout: float = 3.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {condition.__doc__ or condition}")
        time.sleep(0.01)


class Collector:
    """Runs watcher.batches in a thread; entered once the watch is in place."""

    def __init__(self, watcher: RunWatcher, *, ready=None) -> None:
        self.watcher = watcher
        self.stop = threading.Event()
        self.updates: queue.Queue = queue.Queue()
        self.seen: list[tuple[UpdateKind, str]] = []  # every update so far, in order
        self.error: BaseException | None = None
        self.ready = ready or (lambda: bool(watcher._watched))
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        try:
            for batch in self.watcher.batches(self.stop):
                for update in batch:
                    self.seen.append((update.kind, update.name))
                    self.updates.put(update)
        except BaseException as error:  # noqa: BLE001 - the test asserts there is none
            self.error = error

    def __enter__(self):
        self.thread.start()
        wait_until(lambda: self.ready() or self.error is not None)
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join(timeout=3)
        assert not self.thread.is_alive()
        assert self.error is None, self.error

    def until(self, kind: UpdateKind, name: str, timeout: float = 3.0):
        deadline = time.monotonic() + timeout
        while True:
            assert self.error is None, self.error
            update = self.updates.get(timeout=max(0.01, deadline - time.monotonic()))
            if (update.kind, update.name) == (kind, name):
                return update

    def drain(self, quiet: float = 0.2) -> list[tuple[UpdateKind, str]]:
        seen = []
        while True:
            try:
                update = self.updates.get(timeout=quiet)
            except queue.Empty:
                return seen
            seen.append((update.kind, update.name))


def append_epoch(doc, epoch: int) -> None:
    doc.put(epoch_record(epoch))
    doc.write()


def watch_count(fds_before: set[int]) -> int:
    (fd,) = inotify.inotify_fds() - fds_before
    return len(inotify.watched_ids(fd))


# --- PATH deleted, re-created, or not there yet ------------------------------------------------


def test_a_deleted_root_is_reported_waited_for_and_watched_again(tmp_path):
    root = tmp_path / "runs"
    write_run(root / "a", 2)
    modes: list[tuple[str, str]] = []
    w = RunWatcher(root, WatchMode(False), on_mode=lambda m, why: modes.append((m.label, why)))
    w.initial()
    with Collector(w) as events:
        shutil.rmtree(root)
        events.until(GONE, "a")
        wait_until(lambda: w.mode.waiting_for is not None)
        assert w.mode.label == f"waiting for {root}/"
        assert modes[-1] == (
            f"waiting for {root}/",
            f"{root}/ is gone (deleted or moved): waiting for it to appear again",
        )
        doc = write_run(root / "b", 1)
        events.until(APPEARED, "b")
        wait_until(lambda: w.mode == WatchMode(False))
        assert modes[-1] == ("events", f"{root}/ is there: watching it (events)")
        append_epoch(doc, 2)  # the new directory is really watched
        events.until(CHANGED, "b")


def test_a_parent_of_the_root_renamed_is_noticed_without_an_event(tmp_path, monkeypatch):
    monkeypatch.setattr(watch, "IDLE_CHECK_S", 0.2)
    root = tmp_path / "exp" / "runs"
    write_run(root / "a", 2)
    w = RunWatcher(root, WatchMode(False))
    w.initial()
    with Collector(w) as events:
        (tmp_path / "exp").rename(tmp_path / "exp.old")  # no event reaches runs/'s own watch
        events.until(GONE, "a")
        wait_until(lambda: w.mode.waiting_for is not None)
        doc = write_run(root / "b", 1)
        events.until(APPEARED, "b")
        append_epoch(doc, 2)  # the new PATH is watched for real, not the moved one
        events.until(CHANGED, "b")


def test_a_root_replaced_within_one_batch_is_watched_anew(tmp_path):
    root = tmp_path / "runs"
    write_run(root / "a", 2)
    w = RunWatcher(root, WatchMode(False))
    w.initial()
    with Collector(w) as events:
        shutil.rmtree(root)
        doc = write_run(root / "a", 1)
        wait_until(lambda: w.dirs.get(root) == watch.dir_id(root) and w._watched.get(root))
        events.drain()
        append_epoch(doc, 2)
        events.until(CHANGED, "a")


def test_a_run_deleted_before_its_catch_up_is_watched_anew_when_made_again(tmp_path):
    """A run's folder watched, then deleted before the catch-up that follows the new watch:
    the search drops it, and its watch with it. Kept, a folder made again there with the
    same inode number (usual right after a delete) would look watched, and a run written
    into it would never show."""
    write_run(tmp_path / "a", 2)
    c = tmp_path / "c"
    w = RunWatcher(tmp_path, WatchMode(False))
    w.initial()
    w._open().close()
    write_run(c, 1)
    assert [(u.kind, u.name) for u in w.classify([("added", str(c))])] == [(APPEARED, "c")]
    assert w._needs_new_watch()
    w._open().close()
    assert w._watched == w.dirs and c in w._watched
    shutil.rmtree(c)
    assert [(u.kind, u.name) for u in w.poll_once(rescan=True)] == [(GONE, "c")]
    assert c not in w.dirs and c not in w._watched
    assert w._watched == w.dirs  # the folders still there keep their watch
    c.mkdir()  # made again, its file not written yet
    assert w.classify([("added", str(c)), ("deleted", str(c))]) == []
    assert c in w.dirs and w._needs_new_watch()


def test_a_root_that_does_not_exist_yet_is_waited_for(tmp_path):
    root = tmp_path / "later" / "runs"
    modes: list[tuple[str, str]] = []
    w = RunWatcher(root, WatchMode(False), on_mode=lambda m, why: modes.append((m.reason, why)))
    assert w.initial() == []
    assert w.mode.label == f"waiting for {root}/"
    # The waiting text on screen says it; no notification on top of it.
    assert modes == [(f"{root}/ does not exist yet: waiting for it to appear", "")]
    with Collector(w, ready=lambda: True) as events:
        time.sleep(0.05)
        write_run(root / "a", 1)  # two levels made at once
        events.until(APPEARED, "a")
        wait_until(lambda: w.mode == WatchMode(False))


def test_polling_follows_a_root_that_goes_and_comes_back(tmp_path):
    root = tmp_path / "runs"
    write_run(root / "a", 2)
    w = RunWatcher(root, WatchMode(True, 0.02), rescan_every=1)
    w.initial()
    with Collector(w, ready=lambda: True) as events:
        shutil.rmtree(root)
        events.until(GONE, "a")
        wait_until(lambda: w.mode.waiting_for is not None)
        write_run(root / "a", 3)
        events.until(APPEARED, "a")
        wait_until(lambda: w.mode.label == "polling 0.02s")


# --- what is watched --------------------------------------------------------------------------


def test_one_watch_per_searched_directory_not_per_checkpoint_directory(tmp_path):
    write_run(tmp_path / "a", 2)
    for step in range(300):
        (tmp_path / "a" / "checkpoints" / f"step_{step:04d}").mkdir(parents=True)
    write_run(tmp_path / "group" / "b", 2)
    before = inotify.inotify_fds()
    w = RunWatcher(tmp_path, WatchMode(False))
    w.initial()
    with Collector(w) as events:
        assert watch_count(before) == 4  # root, a, group, group/b
        (tmp_path / "a" / "checkpoints" / "step_0300").mkdir()
        (tmp_path / "a" / "logs").mkdir()  # a run's own new directory: no watch, no update
        assert events.drain() == []
        assert w._watched == w.dirs and len(w.dirs) == 4
        write_run(tmp_path / "group" / "c", 1)  # a new run directory: watched
        events.until(APPEARED, "group/c")
        wait_until(lambda: tmp_path / "group" / "c" in w._watched)
        assert watch_count(before) == 5


def test_directories_the_kernel_refuses_are_polled_and_said_so(tmp_path, monkeypatch):
    monkeypatch.setattr(watch, "NETWORK_POLL_S", 0.05)
    write_run(tmp_path / "a", 2)
    b = write_run(tmp_path / "b", 2)
    refused = watch.dir_id(tmp_path / "b")
    real = inotify.watched_ids
    monkeypatch.setattr(inotify, "watched_ids", lambda fd: real(fd) - {refused})
    modes: list[str] = []
    w = RunWatcher(tmp_path, WatchMode(False), on_mode=lambda m, why: modes.append(why))
    w.initial()
    with Collector(w) as events:
        assert w.mode.label == "events + polling 0.05s (watch limit)"
        assert modes[0].startswith("1 of 3 directories could not be watched (the inotify")
        assert "max_user_watches" in modes[0]
        append_epoch(b, 3)  # seen by polling
        events.until(CHANGED, "b")


@pytest.mark.skipif(shutil.which("unshare") is None, reason="needs unshare")
def test_the_real_watch_limit_is_detected_and_nothing_stops_updating(tmp_path):
    """In a user namespace of our own, fs.inotify watches are limited to 3 (of 5 needed)."""
    script = textwrap.dedent(
        f"""
        import json, sys, threading, time
        from pathlib import Path
        open("/proc/sys/user/max_inotify_watches", "w").write("3")
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        from metricwatch import watch
        from metricwatch.watch import RunWatcher, WatchMode
        from tui_fixtures.support import epoch_record, write_run
        watch.NETWORK_POLL_S = 0.05
        root = Path({str(tmp_path)!r})
        docs = [write_run(root / name, 1) for name in ("a", "b", "c", "d")]
        w = RunWatcher(root, WatchMode(False))
        w.initial()
        stop, seen = threading.Event(), set()
        def follow():
            for batch in w.batches(stop):
                seen.update(u.name for u in batch if u.kind.value == "changed")
        threading.Thread(target=follow, daemon=True).start()
        while not w._watched:
            time.sleep(0.01)
        for doc in docs:
            doc.put(epoch_record(2)); doc.write()
        deadline = time.monotonic() + 2
        while len(seen) < 4 and time.monotonic() < deadline:
            time.sleep(0.01)
        stop.set()
        print(json.dumps({{"label": w.mode.label, "changed": sorted(seen)}}))
        """
    )
    proc = subprocess.run(
        ["unshare", "-Ur", sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=20,
        cwd=Path(__file__).parent.parent,
    )
    if proc.returncode != 0 and "max_inotify_watches" in proc.stderr:
        pytest.skip(f"cannot set a watch limit here: {proc.stderr.strip().splitlines()[-1]}")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result == {"label": "events + polling 0.05s (watch limit)", "changed": list("abcd")}


# --- watcher errors ---------------------------------------------------------------------------


def test_a_watchfiles_runtime_error_renews_the_watch_then_falls_back_to_polling(
    tmp_path, monkeypatch
):
    from watchfiles._rust_notify import WatchfilesRustInternalError

    monkeypatch.setattr(watch, "NETWORK_POLL_S", 0.05)
    doc = write_run(tmp_path / "a", 2)
    opened: list[int] = []

    class Broken:
        def __init__(self, *args):
            opened.append(1)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return None

        def watch(self, *args):
            raise WatchfilesRustInternalError("error in underlying watcher: boom")

    monkeypatch.setattr(watch, "_notify_class", lambda: Broken)
    errors: list[str] = []
    w = RunWatcher(tmp_path, WatchMode(False), on_error=errors.append)
    w.initial()
    with Collector(w, ready=lambda: w.mode.polling) as events:
        assert len(opened) == watch.MAX_WATCH_FAILURES
        assert errors == [
            "file events failed (WatchfilesRustInternalError: error in underlying watcher: "
            "boom); watching again"
        ]
        assert w.mode.label == "polling 0.05s (events failed)"
        append_epoch(doc, 3)
        events.until(CHANGED, "a")


def test_one_watcher_error_is_survived_by_a_new_watch(tmp_path, monkeypatch):
    real = watch._notify_class()
    failed: list[int] = []

    class FailsOnce:
        def __init__(self, *args):
            self.notify = real(*args)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.notify.close()

        def watch(self, *args):
            if not failed:
                failed.append(1)
                raise RuntimeError("error in underlying watcher: once")
            return self.notify.watch(*args)

    monkeypatch.setattr(watch, "_notify_class", lambda: FailsOnce)
    doc = write_run(tmp_path / "a", 2)
    w = RunWatcher(tmp_path, WatchMode(False))
    w.initial()
    with Collector(w, ready=lambda: bool(failed) and bool(w._watched)) as events:
        time.sleep(0.1)
        append_epoch(doc, 3)
        events.until(CHANGED, "a")
        assert w.mode == WatchMode(False)


# --- permission errors ------------------------------------------------------------------------


def test_a_file_we_may_not_stat_is_a_changed_run_not_a_gone_one(tmp_path, monkeypatch):
    write_run(tmp_path / "a", 2)
    write_run(tmp_path / "b", 2)
    w = RunWatcher(tmp_path, WatchMode(True, 1.0))
    w.initial()
    real_stat = os.stat

    def stat(path, *args, **kwargs):
        if f"{os.sep}a{os.sep}" in os.fspath(path):
            raise PermissionError(13, "Permission denied", os.fspath(path))
        return real_stat(path, *args, **kwargs)

    monkeypatch.setattr(os, "stat", stat)
    a = tmp_path / "a" / "metrics.json"
    assert [(u.kind, u.name) for u in w.poll_once(rescan=True)] == [(CHANGED, "a")]
    assert w.poll_once(rescan=True) == []  # reported once, not on every round
    assert [(u.kind, u.name) for u in w.classify([("modified", str(a))])] == [(CHANGED, "a")]
    assert set(w.known.values()) == {"a", "b"}


@pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("setpriv") is None, reason="needs root and setpriv"
)
def test_an_unprivileged_watcher_keeps_events_when_a_run_directory_is_locked(tmp_path):
    """The real thing: the watcher runs as nobody; a run directory becomes mode 000."""
    root = Path(tempfile_dir())
    try:
        doc = write_run(root / "a", 1)
        write_run(root / "b", 1)
        for path in (root, root / "a", root / "b", doc.path, root / "b" / "metrics.json"):
            os.chmod(path, 0o755 if path.is_dir() else 0o644)
        script = textwrap.dedent(
            f"""
            import json, sys, threading, time
            from pathlib import Path
            from metricwatch.sources.loader import RunLoader
            from metricwatch.watch import RunWatcher, WatchMode
            root = Path({str(root)!r})
            w = RunWatcher(root, WatchMode(False))
            w.initial()
            stop = threading.Event()
            def follow():
                for batch in w.batches(stop):
                    for u in batch:
                        print(json.dumps([u.kind.value, u.name]), flush=True)
            threading.Thread(target=follow, daemon=True).start()
            while not w._watched:
                time.sleep(0.01)
            print(json.dumps(["ready", w.mode.label]), flush=True)
            sys.stdin.readline()
            time.sleep(0.3)
            problems = RunLoader().load("a", root / "a" / "metrics.json").problems
            print(json.dumps(["done", w.mode.label, [p.message for p in problems]]), flush=True)
            stop.set()
            """
        )
        proc = subprocess.Popen(
            ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
             sys.executable, "-c", script],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            cwd=Path(__file__).parent.parent,
        )  # fmt: skip
        try:
            assert json.loads(proc.stdout.readline()) == ["ready", "events"]
            os.chmod(root / "a", 0)
            append_epoch(doc, 2)  # root still may write there
            proc.stdin.write("\n")
            proc.stdin.flush()
            lines = [json.loads(line) for line in proc.stdout]
        finally:
            proc.kill()
            proc.wait()
        assert ["changed", "a"] in lines and ["gone", "a"] not in lines
        assert lines[-1] == ["done", "events", ["cannot read metrics.json: Permission denied"]]
    finally:
        os.chmod(root / "a", 0o755)
        shutil.rmtree(root)


def tempfile_dir() -> str:
    import tempfile

    path = tempfile.mkdtemp(prefix="metricwatch-perm-")
    os.chmod(path, 0o755)
    return path


# --- links ------------------------------------------------------------------------------------


def test_links_made_while_watching_follow_discoverys_rule(tmp_path):
    root, outside = tmp_path / "runs", tmp_path / "elsewhere"
    write_run(root / "a", 2)
    ext = write_run(outside / "exp1", 2)
    w = RunWatcher(root, WatchMode(False))
    w.initial()
    with Collector(w) as events:
        (root / "loop").symlink_to(".")
        (root / "ext").symlink_to(outside)
        events.until(APPEARED, "ext/exp1")
        append_epoch(ext, 3)  # a run reached through a link updates live
        events.until(CHANGED, "ext/exp1")
        (root / "again").symlink_to(outside)  # a second link to it adds nothing
        assert [kind for kind, _ in events.drain()] in ([], [CHANGED])  # (a late event)
        assert sorted(w.known.values()) == ["a", "ext/exp1"]


def test_a_directory_moved_within_the_root_is_followed_under_its_new_name(tmp_path):
    doc = write_run(tmp_path / "a", 2)
    w = RunWatcher(tmp_path, WatchMode(False))
    w.initial()
    with Collector(w) as events:
        (tmp_path / "a").rename(tmp_path / "b")
        events.until(GONE, "a")
        events.until(APPEARED, "b")
        wait_until(lambda: tmp_path / "b" in w._watched)
        doc.path = tmp_path / "b" / "metrics.json"
        append_epoch(doc, 3)
        events.until(CHANGED, "b")


def test_a_move_a_catch_up_sees_half_of_reads_gone_then_appeared(tmp_path, monkeypatch):
    """The directory is renamed between the catch-up's stat round and its search: the
    search finds the new name and misses the old, which is then looked at again."""
    write_run(tmp_path / "a", 2)
    w = RunWatcher(tmp_path, WatchMode(False))
    w.initial()
    old = tmp_path / "a" / "metrics.json"
    stat_before = watch_tree._stamp(old)
    (tmp_path / "a").rename(tmp_path / "b")
    real_stamp = watch_tree._stamp
    monkeypatch.setattr(watch_tree, "_stamp", lambda p: stat_before if p == old else real_stamp(p))
    assert [(u.kind, u.name) for u in w.catch_up()] == [(GONE, "a"), (APPEARED, "b")]
    assert w.known == {tmp_path / "b" / "metrics.json": "b"}
    assert sorted(w.dirs) == [tmp_path, tmp_path / "b"]


def test_a_run_directory_made_again_is_watched_anew_even_with_the_same_inode(tmp_path):
    """rm -rf a; mkdir a: the file system may hand the new directory the old inode number,
    so identity alone cannot tell; the deletion event says the old watch is gone."""
    write_run(tmp_path / "a", 2)
    w = RunWatcher(tmp_path, WatchMode(False))
    w.initial()
    with Collector(w) as events:
        for _ in range(3):
            shutil.rmtree(tmp_path / "a")
            doc = write_run(tmp_path / "a", 1)
            # Upper bounds of 10 s: a loaded machine (two test workers) may take seconds.
            wait_until(
                lambda: w._watched.get(tmp_path / "a") == watch.dir_id(tmp_path / "a"),
                timeout=10.0,
            )
            events.drain(quiet=0.1)
            append_epoch(doc, 2)
            events.until(CHANGED, "a", timeout=10.0)


def test_no_inotify_instance_left_means_polling_said_so(tmp_path, monkeypatch):
    monkeypatch.setattr(watch, "NETWORK_POLL_S", 0.05)

    def refuse(*args):
        raise OSError(24, "Too many open files (fs.inotify.max_user_instances)")

    monkeypatch.setattr(watch, "_notify_class", lambda: refuse)
    doc = write_run(tmp_path / "a", 2)
    w = RunWatcher(tmp_path, WatchMode(False))
    w.initial()
    with Collector(w, ready=lambda: w.mode.polling) as events:
        assert w.mode.label == "polling 0.05s (events failed)"
        assert w.mode.reason.startswith("file events failed (OSError: [Errno 24] Too many")
        append_epoch(doc, 3)
        events.until(CHANGED, "a")


def test_a_directory_whose_name_is_not_utf8_never_stops_the_watch(tmp_path, monkeypatch):
    """watchfiles takes paths as UTF-8 text: given such a name, it raised and the watch
    stopped for every run (`events (stopped: r to restart)`)."""
    monkeypatch.setattr(watch, "NETWORK_POLL_S", 0.05)
    good = write_run(tmp_path / "good", 2)
    odd_dir = Path(os.fsdecode(b"odd\xff name"))
    odd = write_run(tmp_path / odd_dir, 2)
    modes: list[str] = []
    w = RunWatcher(tmp_path, WatchMode(False), on_mode=lambda m, why: modes.append(why))
    assert {u.name for u in w.initial()} == {"good", str(odd_dir)}
    with Collector(w) as events:
        assert modes[0] == (
            "1 of 3 directories could not be watched (their names are not valid UTF-8): "
            "they are polled every 0.05s"
        )
        append_epoch(odd, 3)  # polled
        events.until(CHANGED, str(odd_dir), timeout=10.0)
        append_epoch(good, 3)  # events, or polling once events gave up on the odd name
        events.until(CHANGED, "good", timeout=10.0)
        append_epoch(good, 4)
        events.until(CHANGED, "good", timeout=10.0)
