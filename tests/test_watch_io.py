"""Reads that block, and cut files that are only being rewritten: the I/O and ingest side of
watching (metricwatch.timed_io, RunLoader's reads, Ingest's damage grace)."""

from __future__ import annotations

import threading
import time

import pytest
from test_watch_resilience import APPEARED, CHANGED, Collector, append_epoch
from tui_fixtures.support import epoch_record, write_run

from metricwatch import timed_io, watch_tree
from metricwatch.model import ProblemKind
from metricwatch.sources import loader as loader_module
from metricwatch.sources.loader import RunLoader
from metricwatch.timed_io import Blocked, TimedCalls
from metricwatch.tui.ingest import Ingest
from metricwatch.watch import RunWatcher, WatchMode


class Hang:
    """While `active`, reads of files whose path holds "hung" block until `release`."""

    def __init__(self) -> None:
        self.active, self.release = threading.Event(), threading.Event()


@pytest.fixture
def hang(monkeypatch):
    hang = Hang()
    real = loader_module._fetch

    def fetch(path, known):
        if "hung" in str(path) and hang.active.is_set():
            hang.release.wait(10)
        return real(path, known)

    monkeypatch.setattr(loader_module, "_fetch", fetch)
    monkeypatch.setattr(timed_io, "READ_TIMEOUT_S", 0.2)
    yield hang
    hang.release.set()


def test_a_call_that_blocks_times_out_and_later_calls_do_not_pile_up():
    calls = TimedCalls(timeout=0.1)
    release, started = threading.Event(), []

    def block():
        started.append(1)
        release.wait(5)
        return "late"

    began = time.monotonic()
    with pytest.raises(Blocked):
        calls.call("k", block)
    assert 0.1 <= time.monotonic() - began < 0.5
    with pytest.raises(Blocked):
        calls.call("k", block)  # at once: no second thread on the same stuck file
    assert len(started) == 1 and calls.stuck_keys() == ["k"]
    assert calls.call("other", lambda: 42) == 42  # the others go on
    release.set()
    _until(lambda: not calls.stuck_keys())  # the stuck call has finished
    assert calls.call("k", block) == "late"  # the late answer, not a new call
    assert len(started) == 1 and calls.stuck_keys() == []


def _until(condition, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_closing_ends_a_wait_at_once():
    calls = TimedCalls(timeout=30)
    release = threading.Event()
    threading.Timer(0.1, calls.close).start()
    began = time.monotonic()
    with pytest.raises(Blocked) as raised:
        calls.call("k", release.wait, 5)
    assert raised.value.closing and time.monotonic() - began < 1
    release.set()


def test_errors_come_back_to_the_caller():
    def refuse():
        raise PermissionError(13, "Permission denied")

    with pytest.raises(PermissionError):
        TimedCalls(timeout=1).call("k", refuse)


def test_a_blocked_read_marks_only_its_run(tmp_path, hang):
    write_run(tmp_path / "hung", 3)
    write_run(tmp_path / "ok", 3)
    runs = RunLoader()
    hang.active.set()
    began = time.monotonic()
    blocked = runs.load("hung", tmp_path / "hung" / "metrics.json")
    assert time.monotonic() - began < 1
    assert [p.kind for p in blocked.problems] == [ProblemKind.UNREADABLE]
    assert blocked.problems[0].message.startswith(
        "reading metrics.json is taking too long (no answer in 0.2 s"
    )
    assert runs.load("ok", tmp_path / "ok" / "metrics.json").epochs_done == 3
    began = time.monotonic()
    runs.load("hung", tmp_path / "hung" / "metrics.json")  # still stuck: answered at once
    assert time.monotonic() - began < 0.5
    hang.release.set()
    _until(lambda: not runs._io.stuck_keys())
    assert runs.load("hung", tmp_path / "hung" / "metrics.json").epochs_done == 3


def test_ingest_keeps_the_last_good_data_of_a_run_whose_read_blocks(tmp_path, hang):
    doc = write_run(tmp_path / "hung", 3)
    ingest = Ingest()
    assert ingest.load("hung", doc.path).epochs_done == 3
    doc.put(epoch_record(4))
    doc.write()
    hang.active.set()
    state = ingest.load("hung", doc.path)
    assert state.epochs_done == 3 and "taking too long" in state.problems[0].message
    began = time.monotonic()
    ingest.close()  # quitting does not wait for the stuck read
    assert time.monotonic() - began < 0.5


# --- the damage grace -----------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_cut_file_is_reported_only_after_the_grace_or_when_asked(tmp_path):
    doc = write_run(tmp_path / "a", 5)
    clock, rechecks = Clock(), []
    ingest = Ingest(damage_grace_s=2.0, clock=clock, on_recheck=lambda *args: rechecks.append(args))
    assert ingest.load("a", doc.path).problems == []
    text = doc.path.read_text()
    doc.path.write_text(text[: len(text) // 2])  # a non-atomic rewrite, caught halfway
    state = ingest.load("a", doc.path)
    assert state.epochs_done == 5 and state.problems == [] and not state.damaged
    assert rechecks == [("a", doc.path, 2.0)]
    assert ingest.recheck_wanted(doc.path)
    clock.now += 1.0
    doc.path.write_text("")  # still being rewritten: the same spell of damage
    assert ingest.load("a", doc.path).problems == []
    assert len(rechecks) == 1  # one re-check per spell
    assert [p.kind for p in ingest.load("a", doc.path, reveal=True).problems] == [
        ProblemKind.EMPTY
    ]  # `r`: said at once
    clock.now += 1.0  # the grace is over: the re-check reports it
    state = ingest.load("a", doc.path)
    assert state.damaged and state.epochs_done == 5
    assert [p.kind for p in state.problems] == [ProblemKind.EMPTY]
    doc.write()  # whole again: the spell ends, the next cut starts a new grace
    assert ingest.load("a", doc.path).problems == []
    assert not ingest.recheck_wanted(doc.path)  # the good read made the re-check needless
    doc.path.write_text("{")
    assert ingest.load("a", doc.path).problems == []
    assert len(rechecks) == 2


def test_reads_that_cannot_be_made_are_reported_at_once(tmp_path):
    doc = write_run(tmp_path / "a", 5)
    ingest = Ingest(damage_grace_s=60.0, clock=Clock())
    ingest.load("a", doc.path)
    doc.path.unlink()
    doc.path.mkdir()  # a directory named metrics.json: unreadable, not a rewrite
    state = ingest.load("a", doc.path)
    assert [p.kind for p in state.problems] == [ProblemKind.UNREADABLE]


def test_a_blocked_read_does_not_hold_up_ingest_for_the_other_runs(tmp_path, hang, monkeypatch):
    monkeypatch.setattr(timed_io, "READ_TIMEOUT_S", 2.0)  # the hung read waits its full 2 s
    hung = write_run(tmp_path / "hung", 3)
    ok = write_run(tmp_path / "ok", 3)
    ingest = Ingest()
    ingest.load("hung", hung.path)
    ingest.load("ok", ok.path)
    hung.put(epoch_record(4))
    hung.write()
    hang.active.set()
    waiting = threading.Thread(target=ingest.load, args=("hung", hung.path), daemon=True)
    waiting.start()
    time.sleep(0.1)  # the hung read is under way, inside Ingest
    ok.put(epoch_record(4))
    ok.write()
    began = time.monotonic()
    assert ingest.load("ok", ok.path).epochs_done == 4
    assert time.monotonic() - began < 1.0  # not behind the hung read's 2 s
    hang.release.set()
    waiting.join(timeout=5)


# --- the watcher's stat rounds and searches (polling) --------------------------------------------


@pytest.fixture
def held(monkeypatch):
    """Released at the end whatever happens: a stat or search held up never outlives the test."""
    monkeypatch.setattr(timed_io, "READ_TIMEOUT_S", 0.2)
    release = threading.Event()
    yield release
    release.set()


def test_a_stat_that_hangs_in_polling_holds_up_only_its_run(tmp_path, monkeypatch, held):
    hung = write_run(tmp_path / "hung", 1)
    other = write_run(tmp_path / "other", 1)
    errors: list[str] = []
    watcher = RunWatcher(tmp_path, WatchMode(True, 0.02), rescan_every=1000, on_error=errors.append)
    watcher.initial()
    real = watch_tree._stamp

    def stamp(path):
        if path.parent.name == "hung":
            held.wait(10)  # a hung mount
        return real(path)

    monkeypatch.setattr(watch_tree, "_stamp", stamp)
    with Collector(watcher, ready=lambda: True) as events:
        for epoch in (2, 3):  # round after round, the other run goes on
            append_epoch(other, epoch)
            events.until(CHANGED, "other")
        held.set()  # the mount answers again
        append_epoch(hung, 2)
        events.until(CHANGED, "hung")
    assert errors == [
        f"{hung.path}: stat: no answer in 0.2 s (a hung mount?); skipped until it answers"
    ]


def test_a_search_that_hangs_in_polling_holds_up_no_stat_round(tmp_path, monkeypatch, held):
    other = write_run(tmp_path / "other", 1)
    errors: list[str] = []
    monkeypatch.setattr(timed_io, "SEARCH_TIMEOUT_S", 0.2)
    watcher = RunWatcher(tmp_path, WatchMode(True, 0.02), rescan_every=1, on_error=errors.append)
    watcher.initial()
    real = watch_tree.scan

    def scan(path, **kwargs):
        held.wait(10)  # a directory below PATH on a hung mount
        return real(path, **kwargs)

    monkeypatch.setattr(watch_tree, "scan", scan)
    with Collector(watcher, ready=lambda: True) as events:
        write_run(tmp_path / "new", 1)
        for epoch in (2, 3):
            append_epoch(other, epoch)
            events.until(CHANGED, "other")
        assert (APPEARED, "new") not in events.seen
        held.set()
        events.until(APPEARED, "new")
    assert errors == [
        f"searching {tmp_path}/: no answer in 0.2 s (a hung mount?); skipped until it answers"
    ]
