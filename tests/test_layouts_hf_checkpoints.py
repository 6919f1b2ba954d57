"""A Hugging Face output folder while training: trainer_state.json only in checkpoint-N/.

The folder is one run, read from its own trainer_state.json when there is one
(training ended), else from its newest checkpoint; when a newer checkpoint is
saved (or the one read is deleted by save_total_limit), the run follows it.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from test_watch_resilience import Collector

from metricwatch import watch_tree
from metricwatch.sources.discovery import discover_runs, is_single_run, scan
from metricwatch.sources.loader import RunLoader
from metricwatch.watch import RunWatcher, UpdateKind, WatchMode

CORPUS = Path(__file__).parent / "corpus" / "hf_trainer"


def state(last_step: int) -> str:
    history = [
        {"epoch": step / 100, "loss": 1.0 / step, "learning_rate": 1e-4, "step": step}
        for step in range(10, last_step + 1, 10)
    ]
    return json.dumps(
        {"best_metric": None, "global_step": last_step, "log_history": history, "max_steps": 100},
        indent=2,
        sort_keys=True,
    )


def checkpoint(out: Path, step: int, *, tmp_first: bool = True) -> Path:
    """A checkpoint saved as Trainer saves it: into tmp-checkpoint-N, renamed when done."""
    final = out / f"checkpoint-{step}"
    folder = out / f"tmp-checkpoint-{step}" if tmp_first else final
    folder.mkdir(parents=True)
    (folder / "model.safetensors").write_bytes(b"\0" * 64)
    (folder / "trainer_state.json").write_text(state(step))
    if tmp_first:
        os.rename(folder, final)
    return final / "trainer_state.json"


def steps_of(path: Path) -> list[int]:
    return RunLoader().load("r", path).series("train_loss").steps.tolist()


# --- discovery -------------------------------------------------------------------------------


def test_an_output_folder_with_checkpoints_is_one_run_read_from_the_newest(tmp_path):
    out = tmp_path / "runs" / "bert"
    for step in (10, 20, 100, 30):
        checkpoint(out, step)
    (out / "tmp-checkpoint-200").mkdir()  # a save in progress is no checkpoint yet
    (out / "checkpoint-300").mkdir()  # nor one whose state is not written yet
    ((location,),) = [discover_runs(tmp_path)]
    assert location.name == "runs/bert"
    assert location.metrics_path == out / "checkpoint-100" / "trainer_state.json"
    assert steps_of(location.metrics_path)[-1] == 100
    assert is_single_run(out)
    assert [r.name for r in discover_runs(out)] == ["bert"]


def test_the_folders_own_state_wins_once_training_has_written_it(tmp_path):
    out = tmp_path / "bert"
    checkpoint(out, 10)
    checkpoint(out, 20)
    (out / "trainer_state.json").write_text(state(30))
    (location,) = discover_runs(tmp_path)
    assert (location.name, location.metrics_path) == ("bert", out / "trainer_state.json")


def test_one_checkpoint_named_on_the_command_line_is_that_run(tmp_path):
    out = tmp_path / "bert"
    checkpoint(out, 10)
    checkpoint(out, 20)
    (location,) = discover_runs(out / "checkpoint-10")
    assert location.name == "checkpoint-10"
    assert location.metrics_path == out / "checkpoint-10" / "trainer_state.json"


def test_the_real_output_folders_of_the_corpus(tmp_path):
    for name in ("bert_run_dir", "bart_samsum_run_dir", "sentiment_best_metric"):
        shutil.copytree(CORPUS / name, tmp_path / name)
    found = {
        r.name: r.metrics_path.relative_to(tmp_path).as_posix() for r in discover_runs(tmp_path)
    }
    assert found == {
        "bert_run_dir": "bert_run_dir/checkpoint-2400/trainer_state.json",
        "bart_samsum_run_dir": "bart_samsum_run_dir/trainer_state.json",
        "sentiment_best_metric": "sentiment_best_metric/checkpoint-500/trainer_state.json",
    }


def test_only_the_newest_checkpoint_is_watched_with_the_run(tmp_path):
    for run in range(20):
        for step in (10, 20, 30):
            checkpoint(tmp_path / f"run{run}", step)
    found = scan(tmp_path)
    assert len(found.runs) == 20
    assert len(found.dirs) == 1 + 20 + 20  # PATH, the run folders, one checkpoint each
    assert tmp_path / "run0" / "checkpoint-30" in found.dirs
    assert tmp_path / "run0" / "checkpoint-20" not in found.dirs


# --- watching --------------------------------------------------------------------------------


def test_the_run_follows_each_new_checkpoint_and_ends_on_the_final_state(tmp_path):
    out = tmp_path / "bert"
    first = checkpoint(out, 10)
    watcher = RunWatcher(tmp_path, WatchMode(False))
    (appeared,) = watcher.initial()
    assert (appeared.name, appeared.metrics_path) == ("bert", first)
    with Collector(watcher) as events:
        second = checkpoint(out, 20)  # saved to tmp-checkpoint-20, then renamed
        update = events.until(UpdateKind.CHANGED, "bert")
        assert update.metrics_path == second
        assert steps_of(update.metrics_path) == [10, 20]
        third = checkpoint(out, 30, tmp_first=False)  # older Trainer: the folder first
        while (update := events.until(UpdateKind.CHANGED, "bert")).metrics_path != third:
            pass
        shutil.rmtree(out / "checkpoint-10")  # save_total_limit: the oldest goes, no run does
        shutil.rmtree(out / "checkpoint-20")
        (out / "trainer_state.json").write_text(state(40))  # the end of training
        while (update := events.until(UpdateKind.CHANGED, "bert")).metrics_path != (
            out / "trainer_state.json"
        ):
            pass
        assert all(kind is not UpdateKind.GONE for kind, _ in events.drain())
    assert watcher.known == {out / "trainer_state.json": "bert"}


def test_deleting_the_checkpoint_read_moves_the_run_to_the_one_left(tmp_path):
    out = tmp_path / "bert"
    checkpoint(out, 10)
    checkpoint(out, 20)
    watcher = RunWatcher(tmp_path, WatchMode(False))
    watcher.initial()
    with Collector(watcher) as events:
        shutil.rmtree(out / "checkpoint-20")
        update = events.until(UpdateKind.CHANGED, "bert")
        assert update.metrics_path == out / "checkpoint-10" / "trainer_state.json"
        shutil.rmtree(out / "checkpoint-10")
        events.until(UpdateKind.GONE, "bert")


def test_a_training_that_starts_while_watched_appears_once(tmp_path):
    watcher = RunWatcher(tmp_path, WatchMode(False))
    watcher.initial()
    with Collector(watcher) as events:
        out = tmp_path / "bert"
        out.mkdir()
        (out / "runs").mkdir()  # Trainer's logging dir comes first
        first = checkpoint(out, 10)
        update = events.until(UpdateKind.APPEARED, "bert")
        assert update.metrics_path == first
        second = checkpoint(out, 20)
        while events.until(UpdateKind.CHANGED, "bert").metrics_path != second:
            pass
        assert (UpdateKind.APPEARED, "bert") not in events.drain()
    assert list(watcher.known.values()) == ["bert"]


def test_polling_follows_a_new_checkpoint_at_its_search(tmp_path):
    out = tmp_path / "bert"
    checkpoint(out, 10)
    watcher = RunWatcher(tmp_path, WatchMode(True, 0.02), rescan_every=1)
    watcher.initial()
    with Collector(watcher, ready=lambda: True) as events:
        second = checkpoint(out, 20)
        while events.until(UpdateKind.CHANGED, "bert").metrics_path != second:
            pass
        assert all(kind is not UpdateKind.APPEARED for kind, _ in events.drain())
    assert watcher.known == {second: "bert"}


# --- a folder that becomes a run, with a run inside it ------------------------------------------
#
# `bert/eval` is a run first; then `bert/` gets checkpoint-10/ and is a run itself. A run
# directory's subdirectories are the run's own (metricwatch.sources.discovery), so from then on
# `bert/eval` is no run: the start-up scan, the live watcher and polling all say `bert` alone,
# and when `bert` stops being a run, `bert/eval` is one again.

MODES = {"events": WatchMode(False), "polling": WatchMode(True, 0.02)}


def eval_run_then_its_folder(tmp_path: Path) -> Path:
    out = tmp_path / "bert"
    (out / "eval").mkdir(parents=True)
    (out / "eval" / "trainer_state.json").write_text(state(10))  # a run of its own, first
    return out


def watching(tmp_path: Path, mode: str, errors: list[str]) -> tuple[RunWatcher, Collector]:
    watcher = RunWatcher(tmp_path, MODES[mode], rescan_every=1, on_error=errors.append)
    assert [u.name for u in watcher.initial()] == ["bert/eval"]
    ready = None if mode == "events" else (lambda: True)
    return watcher, Collector(watcher, ready=ready)


@pytest.mark.parametrize("mode", sorted(MODES))
def test_a_run_inside_a_folder_that_becomes_a_run_is_the_folders_own_from_then_on(tmp_path, mode):
    out = eval_run_then_its_folder(tmp_path)
    errors: list[str] = []
    watcher, collector = watching(tmp_path, mode, errors)
    with collector as events:
        first = checkpoint(out, 10)
        gone = events.until(UpdateKind.GONE, "bert/eval")
        assert gone.metrics_path == out / "eval" / "trainer_state.json"
        assert (UpdateKind.APPEARED, "bert") in events.seen
        (out / "eval" / "trainer_state.json").write_text(state(20))  # bert's own business now
        second = checkpoint(out, 20)
        while events.until(UpdateKind.CHANGED, "bert").metrics_path != second:
            pass
        assert watcher.known == {second: "bert"}
        assert out / "eval" not in watcher.dirs
        assert [update for update in events.seen if update[1] == "bert/eval"] == [
            (UpdateKind.GONE, "bert/eval")
        ]
    assert first.parent not in watcher.dirs  # only the newest checkpoint is watched
    assert [error for error in errors if "bert/eval" in error] == [
        "bert/eval is inside the run bert now (a run's folders are its own): "
        "it is no longer followed"
    ]
    # What a start-up scan of the same tree finds.
    assert [location.name for location in scan(tmp_path).runs] == ["bert"]
    assert [u.name for u in RunWatcher(tmp_path, WatchMode(False)).initial()] == ["bert"]


@pytest.mark.parametrize("mode", sorted(MODES))
def test_the_run_inside_is_a_run_again_when_its_folder_stops_being_one(tmp_path, mode):
    out = eval_run_then_its_folder(tmp_path)
    watcher, collector = watching(tmp_path, mode, [])
    with collector as events:
        checkpoint(out, 10)
        events.until(UpdateKind.GONE, "bert/eval")
        shutil.rmtree(out / "checkpoint-10")  # no checkpoint left: bert is no run
        back = events.until(UpdateKind.APPEARED, "bert/eval")
        assert back.metrics_path == out / "eval" / "trainer_state.json"
        assert (UpdateKind.GONE, "bert") in events.seen
        (out / "eval" / "trainer_state.json").write_text(state(20))
        assert steps_of(events.until(UpdateKind.CHANGED, "bert/eval").metrics_path) == [10, 20]
    assert watcher.known == {out / "eval" / "trainer_state.json": "bert/eval"}
    assert [location.name for location in scan(tmp_path).runs] == ["bert/eval"]


def test_one_batch_with_the_run_inside_written_and_its_folder_becoming_a_run(tmp_path):
    """The write inside is read as the folder's own even when it comes first in the batch."""
    out = eval_run_then_its_folder(tmp_path)
    watcher = RunWatcher(tmp_path, WatchMode(False))
    watcher.initial()
    (out / "eval" / "trainer_state.json").write_text(state(20))
    state_10 = checkpoint(out, 10, tmp_first=False)
    updates = watcher.classify(
        [
            ("modified", str(out / "eval" / "trainer_state.json")),
            ("added", str(out / "checkpoint-10")),
        ]
    )
    assert [(u.kind, u.name, u.metrics_path) for u in updates] == [
        (UpdateKind.APPEARED, "bert", state_10),
        (UpdateKind.GONE, "bert/eval", out / "eval" / "trainer_state.json"),
    ]
    assert watcher.catch_up() == []  # a search from scratch agrees
    assert watcher.known == {state_10: "bert"}
    assert sorted(watcher.dirs) == [tmp_path, out, out / "checkpoint-10"]


def test_a_search_that_sees_the_folder_stop_being_a_run_before_the_stat_does(tmp_path, monkeypatch):
    """The checkpoint is deleted between a catch-up's stat round and its search."""
    out = eval_run_then_its_folder(tmp_path)
    state_10 = checkpoint(out, 10)
    watcher = RunWatcher(tmp_path, WatchMode(False))
    assert [u.name for u in watcher.initial()] == ["bert"]
    stat_before = watch_tree._stamp(state_10)
    shutil.rmtree(out / "checkpoint-10")
    real_stamp = watch_tree._stamp
    monkeypatch.setattr(
        watch_tree, "_stamp", lambda path: stat_before if path == state_10 else real_stamp(path)
    )
    updates = watcher.catch_up()
    assert [(u.kind, u.name) for u in updates] == [
        (UpdateKind.GONE, "bert"),
        (UpdateKind.APPEARED, "bert/eval"),
    ]
    assert watcher.known == {out / "eval" / "trainer_state.json": "bert/eval"}
    assert sorted(watcher.dirs) == [tmp_path, out, out / "eval"]


def test_a_search_that_misses_the_folders_run_for_a_moment_finds_no_run_inside_it(tmp_path):
    """A state file that for a moment no reader claims is still there: the run stays, what
    is inside its folder stays the run's own, and its checkpoint stays watched."""
    out = eval_run_then_its_folder(tmp_path)
    state_10 = checkpoint(out, 10)
    watcher = RunWatcher(tmp_path, WatchMode(False))
    assert [u.name for u in watcher.initial()] == ["bert"]
    state_10.write_text("[1, 2]")  # not a trainer state: the search finds no run at bert/
    assert [(u.kind, u.name) for u in watcher.catch_up()] == [(UpdateKind.CHANGED, "bert")]
    assert watcher.known == {state_10: "bert"}
    assert sorted(watcher.dirs) == [tmp_path, out, out / "checkpoint-10"]
    state_10.write_text(state(20))
    assert [(u.kind, u.name) for u in watcher.catch_up()] == [(UpdateKind.CHANGED, "bert")]
    assert watcher.known == {state_10: "bert"}
