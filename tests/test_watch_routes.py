"""metricwatch.watch_routes: what a repeated event means is remembered, and forgotten in time.

The watcher remembers the route of each "modified" event per path. Every test here
drives two watchers through the same file-system changes and event batches: one
remembers routes, the other works each event out from scratch; they must report the
same updates and end with the same picture of the tree, whatever happened between
(a run file renamed, a new file, a folder made or removed, a folder becoming a
virtualenv, a step log beside its run).
"""

from __future__ import annotations

import fnmatch
import shutil
from pathlib import Path

import pytest
from tui_fixtures.support import write_run

from metricwatch import readers
from metricwatch.readers.base import FileFormat, ParseResult
from metricwatch.watch import RunWatcher, UpdateKind, WatchMode
from metricwatch.watch_routes import Tracked


class FromScratch(RunWatcher):
    """The oracle: every event worked out anew, nothing remembered."""

    def _route_memo(self):
        return None


def pair(root: Path) -> tuple[RunWatcher, RunWatcher]:
    remembering, scratch = RunWatcher(root, WatchMode(False)), FromScratch(root, WatchMode(False))
    assert _seen(remembering.initial()) == _seen(scratch.initial())
    return remembering, scratch


def _seen(updates) -> list[tuple[UpdateKind, str, Path]]:
    return [(u.kind, u.name, u.metrics_path) for u in updates]


def same(watchers: tuple[RunWatcher, RunWatcher], *changes: tuple[str, Path]) -> list:
    """The batch given to both watchers: the same updates and the same tree after it."""
    batch = [(kind, str(path)) for kind, path in changes]
    remembering, scratch = watchers
    got, expected = _seen(remembering.classify(batch)), _seen(scratch.classify(batch))
    assert got == expected
    assert dict(remembering.known) == dict(scratch.known)
    assert dict(remembering.dirs) == dict(scratch.dirs)
    return got


def modified(watchers, *paths: Path, times: int = 3) -> list:
    """The same "modified" batch a few times (remembered after the first)."""
    for _ in range(times):
        found = same(watchers, *[("modified", path) for path in paths])
    return found


def test_a_repeated_event_is_worked_out_once(tmp_path, monkeypatch):
    write_run(tmp_path / "a", 2)
    (tmp_path / "a" / "notes.txt").write_text("x")
    w = RunWatcher(tmp_path, WatchMode(False))
    w.initial()
    worked: list[str] = []
    real = RunWatcher._route

    def counting(self, kind, raw, by_dir, keep):
        worked.append(raw)
        return real(self, kind, raw, by_dir, keep)

    monkeypatch.setattr(RunWatcher, "_route", counting)
    batch = [("modified", str(tmp_path / "a" / "metrics.json"))]
    batch.append(("modified", str(tmp_path / "a" / "notes.txt")))
    for _ in range(5):
        assert _seen(w.classify(batch)) == [
            (UpdateKind.CHANGED, "a", tmp_path / "a" / "metrics.json")
        ]
    assert len(worked) == 2  # the first batch only
    w.known[tmp_path / "other.json"] = "other"  # the tree changed: routes are stale
    del w.known[tmp_path / "other.json"]
    w.classify(batch)
    assert len(worked) == 4


def test_a_run_file_renamed_away_and_back(tmp_path):
    write_run(tmp_path / "a", 2)
    write_run(tmp_path / "b", 2)
    w = pair(tmp_path)
    a = tmp_path / "a" / "metrics.json"
    assert modified(w, a) == [(UpdateKind.CHANGED, "a", a)]
    a.rename(tmp_path / "a" / "old.json")
    assert same(w, ("deleted", a), ("added", tmp_path / "a" / "old.json")) == [
        (UpdateKind.GONE, "a", a)
    ]
    assert modified(w, a, tmp_path / "a" / "old.json") == []  # a late event: nothing there
    (tmp_path / "a" / "old.json").rename(a)
    assert same(w, ("added", a)) == [(UpdateKind.APPEARED, "a", a)]
    assert modified(w, a) == [(UpdateKind.CHANGED, "a", a)]


def test_a_run_file_renamed_into_another_folder(tmp_path):
    write_run(tmp_path / "a", 2)
    (tmp_path / "b").mkdir()
    w = pair(tmp_path)
    a, b = tmp_path / "a" / "metrics.json", tmp_path / "b" / "metrics.json"
    modified(w, a, b)
    a.rename(b)
    got = same(w, ("deleted", a), ("added", b))
    assert sorted(got) == [(UpdateKind.APPEARED, "b", b), (UpdateKind.GONE, "a", a)]
    assert modified(w, a, b) == [(UpdateKind.CHANGED, "b", b)]


def test_a_new_file_beside_nothing_and_a_new_run_file(tmp_path):
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "notes.txt").write_text("x")
    w = pair(tmp_path)
    c = tmp_path / "c" / "metrics.json"
    assert modified(w, tmp_path / "c" / "notes.txt", c) == []
    write_run(tmp_path / "c", 1)
    assert same(w, ("added", c)) == [(UpdateKind.APPEARED, "c", c)]
    assert modified(w, tmp_path / "c" / "notes.txt", c) == [(UpdateKind.CHANGED, "c", c)]


def test_a_run_file_written_before_its_added_event_is_seen(tmp_path):
    """A modified event for a file no run reads from is never remembered: its content
    (claimed or not) decides, and it may change."""
    (tmp_path / "c").mkdir()
    c = tmp_path / "c" / "metrics.csv"
    c.write_text("name,size\nx,1\n")  # someone else's CSV: no reader claims it
    w = pair(tmp_path)
    assert modified(w, c) == []
    c.write_text("epoch,step,train_loss\n0,0,1.0\n")  # rewritten as Lightning's
    assert modified(w, c, times=1) == [(UpdateKind.APPEARED, "c", c)]
    assert modified(w, c) == [(UpdateKind.CHANGED, "c", c)]


def test_a_folder_that_appears_and_disappears(tmp_path):
    write_run(tmp_path / "a", 2)
    w = pair(tmp_path)
    a = tmp_path / "a" / "metrics.json"
    x, y = tmp_path / "group" / "x" / "metrics.json", tmp_path / "group" / "y" / "metrics.json"
    modified(w, a, x)
    write_run(tmp_path / "group" / "x", 1)
    write_run(tmp_path / "group" / "y", 1)
    assert sorted(same(w, ("added", tmp_path / "group"))) == [
        (UpdateKind.APPEARED, "group/x", x),
        (UpdateKind.APPEARED, "group/y", y),
    ]
    assert sorted(modified(w, a, x, y)) == [
        (UpdateKind.CHANGED, "a", a),
        (UpdateKind.CHANGED, "group/x", x),
        (UpdateKind.CHANGED, "group/y", y),
    ]
    shutil.rmtree(tmp_path / "group")
    assert sorted(same(w, ("deleted", tmp_path / "group"))) == [
        (UpdateKind.GONE, "group/x", x),
        (UpdateKind.GONE, "group/y", y),
    ]
    assert modified(w, a, x, y) == [(UpdateKind.CHANGED, "a", a)]


def test_a_folder_that_becomes_a_virtualenv_is_no_longer_followed(tmp_path):
    write_run(tmp_path / "exp" / "a", 2)
    w = pair(tmp_path)
    a = tmp_path / "exp" / "a" / "metrics.json"
    assert modified(w, a) == [(UpdateKind.CHANGED, "exp/a", a)]
    (tmp_path / "exp" / "pyvenv.cfg").write_text("home = /usr\n")
    same(w, ("added", tmp_path / "exp" / "pyvenv.cfg"))
    modified(w, a)  # as a search from scratch would: whatever that is, the same


def test_a_searched_folder_whose_attributes_change_forgets_the_routes(tmp_path):
    write_run(tmp_path / "exp" / "a", 2)
    w = pair(tmp_path)
    a = tmp_path / "exp" / "a" / "metrics.json"
    modified(w, a)
    same(w, ("modified", tmp_path / "exp"), ("modified", a))
    assert not w[0]._memo  # a searched directory changed: nothing remembered
    assert modified(w, a) == [(UpdateKind.CHANGED, "exp/a", a)]


def test_a_step_log_beside_its_run_touches_the_run(tmp_path):
    write_run(tmp_path / "a", 2)
    w = pair(tmp_path)
    a = tmp_path / "a" / "metrics.json"
    steps = tmp_path / "a" / "metrics.jsonl"
    steps.write_text('{"step": 1, "loss": 1.0}\n')
    assert same(w, ("added", steps)) == [(UpdateKind.CHANGED, "a", a)]
    for step in range(2, 5):
        with open(steps, "a") as handle:
            handle.write(f'{{"step": {step}, "loss": 1.0}}\n')
        assert modified(w, steps, times=1) == [(UpdateKind.CHANGED, "a", a)]
    steps.unlink()
    assert same(w, ("deleted", steps)) == [(UpdateKind.CHANGED, "a", a)]


def test_a_lightning_run_rewriting_its_hparams(tmp_path):
    run = tmp_path / "lightning_logs" / "version_0"
    run.mkdir(parents=True)
    log = run / "metrics.csv"
    log.write_text("epoch,step,train_loss\n0,0,1.0\n")
    (run / "hparams.yaml").write_text("lr: 0.1\n")
    w = pair(tmp_path)
    for step in range(1, 4):
        (run / "hparams.yaml").write_text("lr: 0.1\n")
        with open(log, "a") as handle:
            handle.write(f"0,{step},1.0\n")
        got = modified(w, run / "hparams.yaml", log, times=1)
        assert got == [(UpdateKind.CHANGED, "lightning_logs/version_0", log)]
    (run / "hparams.yaml").unlink()
    assert same(w, ("deleted", run / "hparams.yaml")) == []


def test_nothing_is_remembered_while_a_folder_is_polled(tmp_path):
    write_run(tmp_path / "a", 2)
    w = RunWatcher(tmp_path, WatchMode(False))
    w.initial()
    w._unwatched = {tmp_path / "a"}
    a = tmp_path / "a" / "metrics.json"
    for _ in range(3):
        assert _seen(w.classify([("modified", str(a))])) == [(UpdateKind.CHANGED, "a", a)]
    assert not w._memo


def test_a_plain_dict_put_in_the_tree_is_tracked(tmp_path):
    write_run(tmp_path / "a", 2)
    w = RunWatcher(tmp_path, WatchMode(False))
    w.initial()
    a = tmp_path / "a" / "metrics.json"
    w.classify([("modified", str(a))])
    w.known = dict(w.known)  # someone puts a plain dict there
    w.known.pop(a)
    # Worked out anew (a run file no run reads from: it appears), not a's route from before.
    assert _seen(w.classify([("modified", str(a))])) == [(UpdateKind.APPEARED, "a", a)]
    assert type(w.known) is Tracked


@pytest.mark.parametrize(
    "change",
    [
        lambda d: d.__setitem__("k", 1),
        lambda d: d.__delitem__("a"),
        lambda d: d.pop("a"),
        lambda d: d.pop("missing", None),
        lambda d: d.popitem(),
        lambda d: d.setdefault("k", 1),
        lambda d: d.update(k=1),
        lambda d: d.__ior__({"k": 1}),
        lambda d: d.clear(),
    ],
)
def test_every_change_of_a_tracked_dict_gives_it_a_new_version(change):
    tracked = Tracked(a=1)
    before = tracked.version
    change(tracked)
    assert tracked.version != before
    assert Tracked().version != Tracked().version  # a new dict is never an old one


# --- names asked of the registry, remembered ---------------------------------------------------


@pytest.mark.parametrize(
    "patterns", [(), ("metrics.json",), ("*history.json", "history_*.json"), ("a[bc]?.log",)]
)
def test_may_hold_answers_as_fnmatch(patterns):
    fmt = FileFormat("x", "X", patterns, lambda head: True, lambda data: ParseResult())
    names = ["metrics.json", "history.json", "my_history.json", "history_1.json", "abx.log"]
    names += ["acx.log", "ab.log", "", "metrics.json\n", "x/metrics.json", "HISTORY.json"]
    for name in names:
        assert fmt.may_hold(name) == any(fnmatch.fnmatchcase(name, p) for p in patterns)


def test_names_are_asked_again_of_another_registry(monkeypatch):
    assert not readers.may_be_run_file("log.picky")
    picky = FileFormat(
        "picky", "Picky log", ("log.picky",), lambda head: True, lambda data: ParseResult()
    )
    monkeypatch.setattr(readers, "FORMATS", (picky, *readers.FORMATS))
    assert readers.may_be_run_file("log.picky")
    assert readers.format_named("picky") is picky
    monkeypatch.undo()
    assert not readers.may_be_run_file("log.picky")
    assert readers.format_named("picky") is None


def test_a_run_forgotten_by_a_catch_up_no_longer_owns_its_step_log(tmp_path):
    """The tree changed with no file event (a catch-up's stat found the run file gone):
    the step log's route, "the run's own", is forgotten with it."""
    write_run(tmp_path / "a", 2)
    a, steps = tmp_path / "a" / "metrics.json", tmp_path / "a" / "metrics.jsonl"
    steps.write_text('{"step": 1, "loss": 1.0}\n')
    w = pair(tmp_path)
    assert modified(w, steps) == [(UpdateKind.CHANGED, "a", a)]
    a.unlink()
    for watcher in w:
        assert [(u.kind, u.name) for u in watcher.catch_up()] == [
            (UpdateKind.GONE, "a"),
            (UpdateKind.APPEARED, "a"),
        ]
    assert modified(w, steps) == [(UpdateKind.CHANGED, "a", steps)]


# --- reading events -------------------------------------------------------------------------


def test_change_names_are_watchfiles_own():
    from watchfiles import Change

    from metricwatch import watch

    for change in Change:
        assert watch._change_name(change.value) == change.name


def test_remembered_event_paths_are_the_paths_decoded_anew():
    import struct

    from metricwatch.inotify_watch import IN_CREATE, IN_DELETE, IN_MODIFY, decode_events

    def event(wd: int, mask: int, name: bytes) -> bytes:
        padded = name + b"\0" * (16 - len(name) % 16)
        return struct.pack("iIII", wd, mask, 0, len(padded)) + padded

    data = event(1, IN_MODIFY, b"metrics.csv") + event(2, IN_CREATE, b"odd\xff name")
    data += event(1, IN_DELETE, b"metrics.csv") + event(9, IN_MODIFY, b"gone")
    dirs = {1: "/r/a", 2: "/r/b"}
    paths: dict[tuple[int, bytes], str] = {}
    fresh = decode_events(data, dirs)
    assert decode_events(data, dirs, paths) == fresh
    assert decode_events(data, dirs, paths) == fresh  # from what is remembered
    assert paths == {(1, b"metrics.csv"): "/r/a/metrics.csv", (2, b"odd\xff name"): fresh[0][1][1]}
