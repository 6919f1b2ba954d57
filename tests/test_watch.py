"""metricwatch.watch: mode choice, event filtering, classification, polling, real events."""

from __future__ import annotations

import queue
import shutil
import threading
import time
from pathlib import Path

import pytest
from tui_fixtures.support import epoch_record, write_run

from metricwatch import watch
from metricwatch.watch import (
    MetricsFilter,
    RunWatcher,
    UpdateKind,
    WatchMode,
    choose_mode,
    filesystem_type,
)

MOUNTS = """\
overlay / overlay rw,relatime 0 0
proc /proc proc rw 0 0
server:/export /mnt/nfs nfs4 rw,vers=4.2 0 0
user@box:/data /mnt/ssh\\040box fuse.sshfs rw 0 0
/dev/sda1 /mnt/nfs/local ext4 rw 0 0
//nas/share /mnt/smb cifs rw 0 0
"""


# --- choosing the mode ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "polling"),
    [
        ("/home/me/runs", False),
        ("/mnt/nfs/runs/a", True),
        ("/mnt/nfs", True),
        ("/mnt/nfsother/runs", False),  # a prefix of the name is not a mount prefix
        ("/mnt/nfs/local/runs", False),  # the longest mount point wins
        ("/mnt/ssh box/runs", True),  # \\040 in /proc/mounts is a space
        ("/mnt/smb/x", True),
    ],
)
def test_network_filesystems_are_polled_every_2s(path, polling):
    mode = choose_mode(Path(path), None, mounts_text=MOUNTS)
    assert mode.polling is polling
    if polling:
        assert mode.interval == 2.0
        assert mode.label == "polling 2s"
    else:
        assert mode.label == "events"


def test_a_requested_interval_forces_polling():
    mode = choose_mode(Path("/home/me"), 0.5, mounts_text=MOUNTS)
    assert mode == WatchMode(True, 0.5, "requested")
    assert mode.label == "polling 0.5s"
    with pytest.raises(ValueError):
        choose_mode(Path("/"), 0)


def test_filesystem_type_reads_the_real_proc_mounts(tmp_path):
    assert filesystem_type(tmp_path) is not None


def test_debounce_is_well_under_the_watchfiles_default():
    assert watch.DEBOUNCE_MS <= 50 and watch.STEP_MS <= 20


# --- filtering and classification -------------------------------------------------------------


def test_filter_keeps_metrics_files_new_dirs_and_deletions(tmp_path):
    (tmp_path / "run").mkdir()
    (tmp_path / ".venv").mkdir()
    keep = MetricsFilter(tmp_path)

    class Change:
        def __init__(self, name):
            self.name = name

    added, modified, deleted = Change("added"), Change("modified"), Change("deleted")
    assert keep(modified, str(tmp_path / "run" / "metrics.json"))
    assert keep(added, str(tmp_path / "run"))
    assert keep(deleted, str(tmp_path / "old-run"))
    assert not keep(added, str(tmp_path / "run" / ".metrics.json.k3j2.tmp"))
    assert not keep(modified, str(tmp_path / "run" / ".metrics.json.k3j2.tmp"))
    assert not keep(added, str(tmp_path / "run" / "checkpoint.pt"))
    assert not keep(modified, str(tmp_path / "run" / "train.log"))
    assert not keep(modified, str(tmp_path / ".venv" / "metrics.json"))
    assert not keep(modified, str(tmp_path / ".git" / "x" / "metrics.json"))


def watcher_with(tmp_path: Path, *names: str) -> RunWatcher:
    for name in names:
        write_run(tmp_path / name, 2)
    w = RunWatcher(tmp_path, WatchMode(False))
    w.initial()
    return w


def test_classify_new_changed_and_gone(tmp_path):
    w = watcher_with(tmp_path, "a", "b")
    a, b = tmp_path / "a" / "metrics.json", tmp_path / "b" / "metrics.json"
    write_run(tmp_path / "c", 1)
    c = tmp_path / "c" / "metrics.json"
    b.unlink()
    updates = w.classify(
        [("modified", str(a)), ("added", str(c)), ("deleted", str(b)), ("modified", str(a))]
    )
    kinds = {(u.kind, u.name) for u in updates}
    assert kinds == {
        (UpdateKind.CHANGED, "a"),
        (UpdateKind.APPEARED, "c"),
        (UpdateKind.GONE, "b"),
    }
    assert len(updates) == 3  # the duplicate event for a is merged


def test_a_replace_reported_as_delete_then_add_is_a_change(tmp_path):
    w = watcher_with(tmp_path, "a")
    a = tmp_path / "a" / "metrics.json"
    updates = w.classify([("deleted", str(a)), ("added", str(a))])
    assert [(u.kind, u.name) for u in updates] == [(UpdateKind.CHANGED, "a")]


def test_deleted_directory_marks_its_runs_gone(tmp_path):
    w = watcher_with(tmp_path, "group/x", "group/y", "z")
    shutil.rmtree(tmp_path / "group")
    updates = w.classify([("deleted", str(tmp_path / "group"))])
    assert sorted((u.kind, u.name) for u in updates) == [
        (UpdateKind.GONE, "group/x"),
        (UpdateKind.GONE, "group/y"),
    ]


def test_a_directory_moved_in_brings_its_runs(tmp_path):
    w = watcher_with(tmp_path, "a")
    write_run(tmp_path / "new" / "deep", 1)
    updates = w.classify([("added", str(tmp_path / "new"))])
    assert [(u.kind, u.name) for u in updates] == [(UpdateKind.APPEARED, "new/deep")]


# --- polling ----------------------------------------------------------------------------------


def test_polling_notices_changes_new_runs_and_deletions(tmp_path):
    w = RunWatcher(tmp_path, WatchMode(True, 0.01))
    doc = write_run(tmp_path / "a", 2)
    assert [(u.kind, u.name) for u in w.initial()] == [(UpdateKind.APPEARED, "a")]
    assert w.poll_once(rescan=False) == []  # nothing changed: nothing to re-read
    doc.put(epoch_record(3))
    doc.write()
    assert [(u.kind, u.name) for u in w.poll_once(rescan=False)] == [(UpdateKind.CHANGED, "a")]
    write_run(tmp_path / "b", 1)
    assert w.poll_once(rescan=False) == []  # new runs wait for a rescan
    assert [(u.kind, u.name) for u in w.poll_once(rescan=True)] == [(UpdateKind.APPEARED, "b")]
    shutil.rmtree(tmp_path / "a")
    assert [(u.kind, u.name) for u in w.poll_once(rescan=False)] == [(UpdateKind.GONE, "a")]


# --- real file-system events ----------------------------------------------------------------


class Collector:
    """Runs watcher.batches in a thread and hands each update over with its arrival time."""

    def __init__(self, watcher: RunWatcher) -> None:
        self.stop = threading.Event()
        self.updates: queue.Queue = queue.Queue()
        self.thread = threading.Thread(target=self._run, args=(watcher,), daemon=True)

    def _run(self, watcher: RunWatcher) -> None:
        for batch in watcher.batches(self.stop):
            for update in batch:
                self.updates.put((time.monotonic(), update))

    def __enter__(self):
        self.thread.start()
        time.sleep(0.3)  # let the OS watch be in place
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join(timeout=5)
        assert not self.thread.is_alive()

    def next(self, timeout: float = 3.0):
        return self.updates.get(timeout=timeout)

    def until(self, kind: UpdateKind, name: str, timeout: float = 3.0):
        """Skip other updates (a new run may also report a change) until this one arrives."""
        deadline = time.monotonic() + timeout
        while True:
            arrived, update = self.next(timeout=max(0.01, deadline - time.monotonic()))
            if (update.kind, update.name) == (kind, name):
                return arrived, update


def test_events_follow_atomic_replaces_quickly(tmp_path):
    doc = write_run(tmp_path / "a", 1)
    w = RunWatcher(tmp_path, WatchMode(False))
    w.initial()
    with Collector(w) as events:
        for epoch in (2, 3, 4):  # each write is a new inode renamed over the old one
            doc.put(epoch_record(epoch))
            written = time.monotonic()
            doc.write()
            arrived, update = events.next()
            assert (update.kind, update.name) == (UpdateKind.CHANGED, "a")
            assert arrived - written < 0.5
        write_run(tmp_path / "later" / "b", 1)
        events.until(UpdateKind.APPEARED, "later/b")
        shutil.rmtree(tmp_path / "a")
        events.until(UpdateKind.GONE, "a")
        time.sleep(0.2)
        while not events.updates.empty():
            events.next()
        (tmp_path / "later" / "b" / "noise.log").write_text("x")
        (tmp_path / "later" / "b" / "checkpoint.pt").write_bytes(b"x")
        with pytest.raises(queue.Empty):
            events.next(timeout=0.3)


def test_single_file_root_is_watched_through_its_directory(tmp_path):
    doc = write_run(tmp_path / "a", 1)
    write_run(tmp_path / "other", 1)
    w = RunWatcher(doc.path, WatchMode(False))
    assert [u.name for u in w.initial()] == ["a"]
    with Collector(w) as events:
        doc.put(epoch_record(2))
        doc.write()
        _, update = events.next()
        assert (update.kind, update.name) == (UpdateKind.CHANGED, "a")
        write_run(tmp_path / "other", 2)  # a sibling run is not ours
        with pytest.raises(queue.Empty):
            events.next(timeout=0.3)


def test_catch_up_finds_writes_made_before_events_started(tmp_path):
    doc = write_run(tmp_path / "a", 1)
    w = RunWatcher(tmp_path, WatchMode(False))
    w.initial()
    doc.put(epoch_record(2))
    doc.write()  # between the initial scan and the OS watch: no event will ever come
    write_run(tmp_path / "b", 1)
    assert sorted((u.kind, u.name) for u in w.catch_up()) == [
        (UpdateKind.APPEARED, "b"),
        (UpdateKind.CHANGED, "a"),
    ]


def test_an_unreadable_root_raises_and_an_unreadable_subdirectory_is_reported(
    tmp_path, monkeypatch
):
    import os

    from metricwatch.sources.discovery import DiscoveryError

    real_stat = Path.stat

    def refuse(self, *args, **kwargs):
        if self.name == "locked":
            raise PermissionError(13, "Permission denied", str(self))
        return real_stat(self, *args, **kwargs)

    monkeypatch.setattr(Path, "stat", refuse)
    with pytest.raises(DiscoveryError, match="permission denied"):
        RunWatcher(tmp_path / "locked", WatchMode(False)).initial()
    monkeypatch.undo()
    errors: list[str] = []
    w = RunWatcher(tmp_path, WatchMode(False), on_error=errors.append)
    w.initial()
    (tmp_path / "secret").mkdir()
    real_scandir = os.scandir

    def scandir(path="."):
        if os.fspath(path).endswith("secret"):
            raise PermissionError(13, "Permission denied", os.fspath(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    w.classify([("added", str(tmp_path / "secret"))])
    assert errors == [f"{tmp_path / 'secret'}: permission denied"]


def test_runs_seen_through_events_are_not_reloaded_by_catch_up(tmp_path):
    w = watcher_with(tmp_path, "a")
    write_run(tmp_path / "b", 2)
    updates = w.classify([("added", str(tmp_path / "b"))])
    assert [(u.kind, u.name) for u in updates] == [(UpdateKind.APPEARED, "b")]
    a = tmp_path / "a" / "metrics.json"
    a.write_text(a.read_text() + " ")
    assert [(u.kind, u.name) for u in w.classify([("modified", str(a))])] == [
        (UpdateKind.CHANGED, "a")
    ]
    assert w.catch_up() == []


def test_polling_keeps_no_stamp_for_a_file_it_could_not_name(tmp_path, monkeypatch):
    w = watcher_with(tmp_path, "a")
    write_run(tmp_path / "b", 2)
    b = tmp_path / "b" / "metrics.json"
    monkeypatch.setattr(w, "_name", lambda path: None)
    assert w.poll_once(rescan=True) == []
    assert b not in w._stamps
    monkeypatch.undo()
    assert [(u.kind, u.name) for u in w.poll_once(rescan=True)] == [(UpdateKind.APPEARED, "b")]
