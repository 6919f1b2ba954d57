"""A live TensorBoard run read by EventDirTail gives, after every read, exactly what a
fresh read of the same bytes gives.

The tail builds a read's table from its last build and the points added since
(tfevents_merged for each tag's points, grown for the epochs and the table steps), so
these tests grow runs record by record (and in bursts, and cut inside records): several
tags, an epoch tag logged with them and again at evaluations, evaluations every few
steps, several files, steps that go back or repeat (a resumed run), a failed read put
back, a file replaced, Keras' train/ and validation/ directories, and compare every read
with read_event_dir. Arrays handed out by earlier reads must not change either (a view
of a growing column is on screen while it grows), and a read of a grown run must look
at its new points only.
"""

from __future__ import annotations

import os
import random
import struct
from pathlib import Path

import numpy as np
import pytest
from test_mlflow_tail_incremental import age_tree
from test_reader_tfevents import SHAPE_SCALAR, VERSION, event, ld, record, simple, tensor_value
from test_tfevents_fast_decode import same_result

from metricwatch.readers import grown, tfevents_merged, tfevents_records
from metricwatch.readers.base import ParseResult
from metricwatch.readers.tfevents import EventDirTail, read_event_dir


def scalar(tag: str, step: int, value: float, later: float = 0.0) -> bytes:
    """PyTorch's SummaryWriter.add_scalar: one scalar per record (`later` seconds after
    the step's other records)."""
    return record(event(step, simple(tag, value), wall=1.7e9 + step + later))


def keras(tag: str, step: int, value: float) -> bytes:
    """Keras' TensorBoard callback: a rank-0 float tensor."""
    tensor = b"\x08\x01" + SHAPE_SCALAR + ld(5, struct.pack("<f", value))
    return record(event(step, tensor_value(tag, tensor), wall=1.7e9 + step))


def snapshot(result: ParseResult) -> list[tuple[str, str, np.ndarray, np.ndarray]]:
    """Every array of a result, with a copy of it, to check later that it did not change."""
    out = [("", "table", result.table.steps, result.table.steps.copy())]
    for key, series in result.table.series.items():
        for name in ("steps", "values", "epochs", "times"):
            array = getattr(series, name)
            if array is not None:
                out.append((key, name, array, array.copy()))
    return out


class Live:
    """A run directory written to as a writer does, read by one tail after each write and
    compared with a fresh read; every array the tail handed out is checked at the end."""

    def __init__(self, root: Path) -> None:
        self.root, self.tail = root, EventDirTail(root)
        self.handed: list = []
        self.reads = 0

    def write(self, name: str, data: bytes) -> None:
        path = self.root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("ab") as handle:
            handle.write(data)

    def check(self) -> ParseResult:
        live, fresh = self.tail.read(), read_event_dir(self.root)
        same_result(live, fresh)
        for key, series in fresh.table.series.items():  # to the bit: -0.0 is not 0.0
            for name in ("values", "epochs", "times"):
                a, b = getattr(live.table.series[key], name), getattr(series, name)
                assert a is None or a.tobytes() == b.tobytes(), (key, name)
        self.handed += snapshot(live)
        self.reads += 1
        return live

    def write_and_check(self, name: str, records: list[bytes]) -> None:
        for piece in records:
            self.write(name, piece)
            self.check()

    def unchanged(self) -> None:
        for key, name, array, copy in self.handed:
            assert np.array_equal(array, copy, equal_nan=True), (key, name)


@pytest.fixture(name="live")
def live_run(tmp_path):
    """A run folder read by a tail; at the end, the arrays its reads handed out unchanged."""
    run = Live(tmp_path / "run")
    (tmp_path / "run").mkdir()
    yield run
    run.unchanged()


FILE_A = "events.out.tfevents.100.host.1.0"
FILE_B = "events.out.tfevents.200.host.1.0"
FILE_C = "events.out.tfevents.300.host.1.0"


def hf_step(step: int, every: int = 5) -> list[bytes]:
    """Hugging Face Trainer's records of a step: the epoch with every log, evaluations
    (and the epoch again, at the same step) every `every` steps."""
    epoch = step / 20
    out = [
        scalar("train/loss", step, 2.0 / (step + 1)),
        scalar("train/learning_rate", step, 1e-3),
        scalar("train/epoch", step, epoch),
    ]
    if step % every == 0:
        out += [
            scalar("eval/loss", step, 1.0 / (step + 1), later=30),
            scalar("eval/accuracy", step, step / 100, later=30),
            scalar("train/epoch", step, epoch, later=30 if step % 2 else 0),
        ]
    return out


def test_a_hugging_face_run_grown_record_by_record(live):
    live.write(FILE_A, VERSION)
    live.check()
    for step in range(60):
        live.write_and_check(FILE_A, hf_step(step))
    final = live.check()
    assert final.table.series["train_loss"].epochs is final.table.series["lr"].epochs


def test_an_epoch_logged_before_with_and_after_the_steps_it_dates(live):
    live.write(FILE_A, VERSION)
    for step in range(40):
        records = [scalar("loss", step, step), scalar("val_loss", 3 * step, -step)]
        if step % 4 == 0:
            records.insert(0, scalar("epoch", step + 2, step // 4))
        elif step % 4 == 1:
            records.append(scalar("epoch", step - 1, step // 4))
        live.write_and_check(FILE_A, records)


def test_steps_that_go_back_and_repeat_in_one_file(live):
    live.write(FILE_A, VERSION)
    steps = [*range(0, 30), *range(20, 45), 44, 44, *range(10, 15), *range(15, 60, 3)]
    for step in steps:
        live.write_and_check(
            FILE_A,
            [
                scalar("train/loss", step, step * 0.5),
                scalar("train/epoch", step, step / 10),
                *([scalar("eval/loss", step, -step)] if step % 6 == 0 else []),
                *([scalar("hp_metric", step, -1.0)] if step % 9 == 0 else []),
            ],
        )
    assert any(p.kind.value == "restart" for p in live.check().problems)


def test_a_value_logged_again_at_its_step_as_it_was_or_not(live):
    live.write(FILE_A, VERSION)
    for step in range(30):
        records = [scalar("loss", step, step), scalar("epoch", step, step // 5)]
        if step % 3 == 0:  # again, later: the same value, then (now and then) another one
            records += [scalar("loss", step, step, later=5), scalar("epoch", step, step // 5)]
        if step % 7 == 0:
            records += [scalar("loss", step, -step, later=9), scalar("epoch", step, -1.0)]
        live.write_and_check(FILE_A, records)
    live.write_and_check(FILE_A, [scalar("loss", s, s, later=1) for s in range(25, 31)])
    live.write_and_check(FILE_A, [scalar("zero", s, 0.0) for s in range(5)])
    live.write_and_check(FILE_A, [scalar("zero", 4, -0.0)])  # not the same value


def test_a_resumed_run_in_several_files(live):
    live.write(FILE_A, VERSION)
    for step in range(30):
        live.write_and_check(FILE_A, hf_step(step, every=7))
    live.write(FILE_B, VERSION)
    live.check()
    for step in range(21, 50):  # resumed from the checkpoint at step 21
        live.write_and_check(FILE_B, hf_step(step, every=7))
    for step in range(60, 64):  # the first file grows again: merged again from scratch
        live.write_and_check(FILE_A, hf_step(step, every=7))
    live.write(FILE_C, VERSION)
    for step in range(64, 80):  # a third file, going on from the last step
        live.write_and_check(FILE_C, hf_step(step, every=7))


def test_a_file_named_earlier_than_the_ones_read_appears(live):
    live.write(FILE_B, VERSION)
    for step in range(20):
        live.write_and_check(FILE_B, hf_step(step))
    live.write_and_check(FILE_A, [VERSION, *hf_step(3), *hf_step(30)])
    for step in range(20, 30):
        live.write_and_check(FILE_B, hf_step(step))


def test_a_hp_metric_placeholder_then_a_real_value(live):
    live.write(FILE_A, VERSION)
    for step in range(10):
        live.write_and_check(FILE_A, [scalar("hp_metric", step, -1.0), scalar("loss", step, 1)])
    live.write_and_check(FILE_A, [scalar("hp_metric", 10, 0.5)])
    live.write_and_check(FILE_A, [scalar("hp_metric", 2, -1.0)])  # back: only -1 kept
    live.write_and_check(FILE_A, [scalar("hp_metric", 11, -1.0)])


def test_a_replaced_file_and_a_deleted_one(live):
    live.write(FILE_A, VERSION)
    for step in range(25):
        live.write_and_check(FILE_A, hf_step(step))
    live.write(FILE_B, VERSION + b"".join(hf_step(25)))
    live.check()
    replacement = live.root / "new"
    replacement.write_bytes(VERSION + b"".join(hf_step(3) + hf_step(4)))
    os.replace(replacement, live.root / FILE_A)
    live.check()
    for step in range(5, 12):
        live.write_and_check(FILE_A, hf_step(step))
    (live.root / FILE_B).unlink()
    live.check()
    for step in range(12, 20):
        live.write_and_check(FILE_A, hf_step(step))


def test_a_read_that_fails_half_way_is_put_back(live, monkeypatch):
    live.write(FILE_A, VERSION)
    for step in range(10):
        live.write_and_check(FILE_A, hf_step(step))
    monkeypatch.setattr(tfevents_records, "BLOCK", 256)
    real = tfevents_records._pieces

    def failing(read, scanner, into, size=None):
        for count, piece in enumerate(real(read, scanner, into, size)):
            if count == 2:
                raise OSError(5, "Input/output error")
            yield piece

    live.write(FILE_A, b"".join(b"".join(hf_step(s)) for s in range(10, 30)))
    live.write(FILE_A, scalar("new/tag", 31, 1.0))
    monkeypatch.setattr(tfevents_records, "_pieces", failing)
    failed = live.tail.read()
    assert any("Input/output error" in str(p) for p in failed.problems)
    monkeypatch.setattr(tfevents_records, "_pieces", real)
    live.check()
    for step in range(31, 40):
        live.write_and_check(FILE_A, hf_step(step))


def test_keras_train_and_validation_directories(live):
    train, validation = f"train/{FILE_A}.v2", f"validation/{FILE_A}.v2"
    live.write(train, VERSION)
    live.write(validation, VERSION)
    live.check()
    batch = 0
    for epoch in range(12):
        for _ in range(3):
            live.write_and_check(train, [keras("batch_loss", batch, 1.0 / (batch + 1))])
            batch += 1
        live.write_and_check(train, [keras("epoch_loss", epoch, 1.0 / (epoch + 1))])
        live.write_and_check(train, [keras("epoch_learning_rate", epoch, 1e-3)])
        live.write_and_check(validation, [keras("epoch_loss", epoch, 2.0 / (epoch + 1))])
        live.write_and_check(
            validation, [keras("evaluation_loss_vs_iterations", batch, 2.0 / (epoch + 1))]
        )
    assert live.check().table.x == "epoch"


def test_records_cut_anywhere_and_written_in_bursts(live):
    rng = random.Random(5)
    data = VERSION + b"".join(b"".join(hf_step(s, every=4)) for s in range(80))
    written = 0
    while written < len(data):
        cut = min(len(data), written + rng.randrange(1, 400))
        live.write(FILE_A, data[written:cut])
        written = cut
        live.check()


class SettledLive(Live):
    """Live, with the run's folders and files made old before each read (its tail then
    keeps the folders' listings between reads: readers/listings.py)."""

    def check(self) -> ParseResult:
        age_tree(self.root)
        return super().check()


@pytest.mark.parametrize("seed", range(6))
def test_random_runs_with_settled_folders(tmp_path, seed):
    run = SettledLive(tmp_path / "run")
    (tmp_path / "run").mkdir()
    write_at_random(run, random.Random(100 + seed))
    run.unchanged()


@pytest.mark.parametrize("seed", range(10))
def test_random_runs(live, seed):
    write_at_random(live, random.Random(seed))


def write_at_random(live: Live, rng: random.Random) -> None:
    """Tags, steps forward, repeated and back, files (new, grown, cut short, replaced),
    evaluations and epochs at random, each write checked."""
    files = [FILE_A]
    live.write(FILE_A, VERSION)
    step = 0
    for _ in range(120):
        move = rng.random()
        if move < 0.08:
            step = max(0, step - rng.randrange(1, 15))
        elif move < 0.15:
            pass  # the same step again
        else:
            step += rng.randrange(1, 4)
        records = [scalar("loss", step, rng.random())]
        for tag, chance in (("epoch", 0.6), ("lr", 0.5), ("val_loss", 0.15), ("hp_metric", 0.05)):
            if rng.random() < chance:
                value = -1.0 if tag == "hp_metric" and rng.random() < 0.8 else rng.random()
                records.insert(rng.randrange(len(records) + 1), scalar(tag, step, value))
        if rng.random() < 0.03:
            files.append(f"events.out.tfevents.{100 + len(files)}.host.1.0")
            live.write(files[-1], VERSION)
        name = files[-1] if rng.random() < 0.9 else rng.choice(files)
        if rng.random() < 0.02:  # rewritten: cut short, or replaced by another file
            path = live.root / name
            if rng.random() < 0.5:  # cut in place: seen before it grows again (a tail
                path.write_bytes(VERSION)  # cannot tell that from an append)
                live.check()
            else:
                other = [scalar(rng.choice(["loss", "epoch", "acc"]), s, s) for s in range(9)]
                (live.root / "new").write_bytes(VERSION + b"".join(other))
                os.replace(live.root / "new", path)
        if rng.random() < 0.5:
            live.write_and_check(name, records)
        else:
            live.write(name, b"".join(records))
            live.check()


def test_a_read_of_a_grown_run_looks_at_its_new_points_only(live, monkeypatch):
    live.write(FILE_A, VERSION + b"".join(b"".join(hf_step(s)) for s in range(3000)))
    live.check()
    seen: list[int] = []
    spied = [(tfevents_merged, "latest"), (grown, "epochs_at"), (grown, "union_steps")]
    spied += [(grown, "_equal_prefix")]
    for module, name in spied:
        real = getattr(module, name)

        def spy(*args, real=real):
            seen.append(len(args[0]))
            return real(*args)

        monkeypatch.setattr(module, name, spy)
    for step in range(3000, 3012):
        for piece in hf_step(step):  # a step cut between its records, too
            live.write(FILE_A, piece)
            live.tail.read()
    assert seen and max(seen) <= 3
    monkeypatch.undo()
    live.check()
