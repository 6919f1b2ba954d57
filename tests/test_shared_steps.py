"""Keys logged at the same steps keep them once (readers/shared_steps.py).

A key's steps are the first steps of a store that other keys' steps may be the first steps
of too; a key whose steps part from the store's goes on with a copy of its own. These
tests grow keys against plain lists, at random, and check every view handed out stays as
it was; then that TensorBoard tags and MLflow metric files logged at the same steps hold
one array of them (and the table steps are that array), live and on a first read alike.
"""

from __future__ import annotations

import random

import numpy as np
import pytest
from test_reader_tfevents import VERSION
from test_tfevents_fast_decode import same_result
from test_tfevents_incremental import scalar

from metricwatch.readers.mlflow_files import FileStoreRunTail, read_file_store_run
from metricwatch.readers.shared_steps import SharedSteps, StepPool
from metricwatch.readers.tfevents import EventDirTail, read_event_dir


def steps(values) -> np.ndarray:
    return np.asarray(list(values), dtype=np.int64)


def test_keys_at_the_same_steps_share_one_store():
    pool = StepPool()
    loss, lr = SharedSteps(pool), SharedSteps(pool)
    loss.extend(steps(range(0, 100)))
    lr.extend(steps(range(0, 60)))  # behind: compared, not written
    lr.extend(steps(range(60, 150)))  # past the store's end: written there
    loss.extend(steps(range(100, 150)))
    assert loss.store is lr.store and len(pool.stores()) == 1
    assert loss.view().tolist() == lr.view().tolist() == list(range(150))
    assert np.shares_memory(loss.view(), lr.view())


def test_a_key_whose_steps_part_goes_on_with_a_copy():
    pool = StepPool()
    loss, epoch = SharedSteps(pool), SharedSteps(pool)
    loss.extend(steps(range(0, 10)))
    shown = loss.view()
    epoch.extend(steps([0, 1, 2, 3, 3]))  # a step logged twice
    epoch.extend(steps([4, 5]))
    assert epoch.store is not loss.store and epoch.store not in pool.stores()
    assert epoch.view().tolist() == [0, 1, 2, 3, 3, 4, 5]
    assert shown.tolist() == list(range(10))


def test_a_step_logged_twice_is_not_written_where_others_would_part():
    pool = StepPool()
    loss, epoch = SharedSteps(pool), SharedSteps(pool)
    for step in range(1, 8):
        loss.extend(steps([step]))
        epoch.extend(steps([step, step] if step == 5 else [step]))  # again at an evaluation
    assert loss.store is not epoch.store and pool.stores() == [loss.store]
    assert epoch.view().tolist() == [1, 2, 3, 4, 5, 5, 6, 7]
    kept = SharedSteps(pool, steps([1, 2, 3, 4, 5, 6, 7]))  # its steps without the repeat
    assert kept.store is loss.store


def test_a_key_with_other_first_steps_finds_no_store():
    pool = StepPool()
    train, val = SharedSteps(pool), SharedSteps(pool)
    train.extend(steps(range(1, 50)))
    val.extend(steps(range(10, 50, 10)))
    assert val.store is not train.store
    other = SharedSteps(pool)
    other.extend(steps([10, 20]))
    assert other.store is val.store  # evaluations logged together share theirs


def test_a_store_no_key_uses_leaves_the_pool():
    pool = StepPool()
    key = SharedSteps(pool)
    key.extend(steps(range(5)))
    del key
    assert pool.stores() == []


def test_random_growth_matches_plain_lists_and_views_never_change():
    rng = random.Random(5)
    for _ in range(200):
        pool = StepPool()
        keys = [SharedSteps(pool) for _ in range(rng.randint(1, 4))]
        plain: list[list[int]] = [[] for _ in keys]
        shown: list[tuple[np.ndarray, list[int]]] = []
        for _ in range(rng.randint(1, 12)):
            i = rng.randrange(len(keys))
            if rng.random() < 0.15 and plain[i]:
                size = rng.randint(0, len(plain[i]))  # a read taken back
                keys[i].truncate(size)
                del plain[i][size:]
                continue
            start = plain[i][-1] + 1 if plain[i] else 0
            new = list(range(start, start + rng.randint(0, 6)))
            if new and rng.random() < 0.2:
                new[rng.randrange(len(new))] -= 1  # a step repeated or going back
            if rng.random() < 0.05:
                keys[i].reserve(len(plain[i]) + len(new) + rng.randint(0, 100))
            keys[i].extend(steps(new))
            plain[i] += new
            for key, want in zip(keys, plain):
                view = key.view()
                assert view.tolist() == want
                shown.append((view, list(want)))
        for view, want in shown:
            assert view.tolist() == want


def tfevents_step(step: int, eval_every: int = 5) -> bytes:
    """Hugging Face's records of a step: three scalars and the epoch; at an evaluation,
    its scalars and the epoch again, 30 seconds later."""
    out = [
        scalar(tag, step, value)
        for tag, value in (
            ("train/loss", 1 / step),
            ("train/learning_rate", 0.1),
            ("train/grad_norm", 2.0),
        )
    ]
    out.append(scalar("train/epoch", step, step / 20))
    if step % eval_every == 0:
        out.append(scalar("eval/loss", step, 0.5, later=30))
        out.append(scalar("train/epoch", step, step / 20, later=30))
    return b"".join(out)


def held_once(result) -> None:
    """The training series' steps are one array, the table's too, and their epochs one."""
    series = result.table.series
    train = [series[key] for key in ("train_loss", "lr", "grad_norm")]
    for one in train:
        assert np.shares_memory(one.steps, train[0].steps)
        assert one.epochs is train[0].epochs
    assert np.shares_memory(result.table.steps, train[0].steps)


@pytest.mark.parametrize("burst", [1, 3, 40])
def test_tensorboard_tags_at_the_same_steps_hold_them_once(tmp_path, burst):
    run = tmp_path / "run"
    run.mkdir()
    path = run / "events.out.tfevents.100.h.1.0"
    path.write_bytes(VERSION)
    tail = EventDirTail(run)
    for first in range(1, 121, burst):
        with path.open("ab") as handle:
            handle.write(b"".join(tfevents_step(s) for s in range(first, first + burst)))
        live = tail.read()
        same_result(live, read_event_dir(run))
        held_once(live)
    held_once(read_event_dir(run))


def mlflow_log(run, first: int, count: int) -> None:
    for key in ("loss", "learning_rate", "grad_norm", "epoch"):
        with (run / "metrics" / key).open("a") as handle:
            for s in range(first, first + count):
                handle.write(f"{1_700_000_000_000 + s} {s / 7!r} {s}\n")


def test_mlflow_metrics_at_the_same_steps_hold_them_once(tmp_path):
    run = tmp_path / "run"
    (run / "metrics").mkdir(parents=True)
    (run / "meta.yaml").write_text("run_id: abc\nrun_name: live\nstatus: 1\n")
    tail = FileStoreRunTail(run)
    first = 0
    for count in (50, 1, 7, 1, 300):
        mlflow_log(run, first, count)
        first += count
        live = tail.read()
        whole = read_file_store_run(run)
        for key, series in whole.table.series.items():
            got = live.table.series[key]
            assert got.steps.tolist() == series.steps.tolist()
            assert np.array_equal(got.values, series.values, equal_nan=True)
            assert np.array_equal(got.epochs, series.epochs, equal_nan=True)
            assert np.array_equal(got.times, series.times)
        assert live.table.steps.tolist() == whole.table.steps.tolist()
        held_once(live)
        held_once(whole)


def test_many_stores_are_searched_a_few_at_a_time_and_stay_right():
    pool = StepPool()
    keys = [SharedSteps(pool, steps(range(0, 100 * every, every))) for every in range(1, 60)]
    assert len(pool.stores()) == 59
    again = SharedSteps(pool, steps(range(0, 100 * 58, 58)))  # among the last made: found
    assert again.store is keys[57].store
    oldest = SharedSteps(pool, steps(range(0, 100)))  # past the searched ones: its own
    assert oldest.view().tolist() == keys[0].view().tolist() == list(range(100))
