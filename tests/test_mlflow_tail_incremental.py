"""A live MLflow file-store run read by FileStoreRunTail gives, after every read, exactly
what a fresh read of the same files gives.

The tail builds a write's result from its last build and the new points (mlflow_run's
BuildMemo), so these tests grow runs line by line and in random bursts, in order and
not, with the epoch metric logged before, with and after the steps it dates, keys
appearing late or vanishing, files replaced or truncated, lines cut short, and compare
every read with read_file_store_run of the run directory. Arrays handed out by earlier
reads must not change either (a view of a growing buffer is shown while it grows).
"""

from __future__ import annotations

import itertools
import math
import os
import random
import re
import time
from pathlib import Path

import numpy as np
import pytest

from metricwatch.readers import mlflow_run
from metricwatch.readers.base import ParseResult
from metricwatch.readers.mlflow import FileStoreRunTail, read_file_store_run

T0 = 1_700_000_000_000


def make_run(root: Path) -> Path:
    run = root / "0" / ("a" * 32)
    (run / "metrics").mkdir(parents=True)
    (run / "params").mkdir()
    (run / "meta.yaml").write_text(
        f"experiment_id: '0'\nrun_id: {'a' * 32}\nrun_name: live\nstatus: 1\nstart_time: {T0}\n"
    )
    (run / "params" / "lr").write_text("0.1")
    return run


def append(run: Path, key: str, text: str) -> None:
    path = run / "metrics" / key
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as out:
        out.write(text)


def line(step: int, value: float, stamp: int | None = None) -> str:
    return f"{T0 + step if stamp is None else stamp} {value} {step}\n"


#: Old mtimes, one second apart: each use of age_tree gives each changed path its own.
OLD_NS = 1_600_000_000 * 10**9
_AGES = itertools.count()


def age_tree(root: Path) -> None:
    """Every folder and file under root changed in the last minute gets an old mtime never
    given before: what a tail kept of them (readers/listings.py) is then trusted, and a
    change made since its last read still shows as another stamp."""
    now = time.time_ns()
    for folder, _, files in os.walk(root):
        for path in [folder, *(os.path.join(folder, name) for name in files)]:
            if now - os.stat(path).st_mtime_ns < 60 * 10**9:
                old = OLD_NS + next(_AGES) * 10**9
                os.utime(path, ns=(old, old))


def snapshot(result: ParseResult) -> list[tuple[str, str, np.ndarray]]:
    """Copies of every array of a result, to check later that they did not change."""
    out = [("", "table", result.table.steps.copy())]
    for name, series in result.table.series.items():
        for attr in ("steps", "values", "epochs", "times"):
            array = getattr(series, attr)
            if array is not None:
                out.append((name, attr, array.copy()))
    return out


def assert_unchanged(result: ParseResult, copies: list[tuple[str, str, np.ndarray]]) -> None:
    for name, attr, copy in copies:
        array = result.table.steps if attr == "table" else getattr(result.table.series[name], attr)
        np.testing.assert_array_equal(array, copy, err_msg=f"{name}.{attr} changed")


def assert_same(got: ParseResult, want: ParseResult) -> None:
    """The two results are the same, array for array (NaN equal to NaN)."""
    assert got.format == want.format
    assert got.meta == want.meta
    assert [(p.kind, p.message) for p in got.problems] == [
        (p.kind, p.message) for p in want.problems
    ]
    assert got.table.x == want.table.x
    np.testing.assert_array_equal(got.table.steps, want.table.steps, strict=True)
    assert list(got.table.series) == list(want.table.series)
    for name, series in want.table.series.items():
        mine = got.table.series[name]
        assert mine.key == series.key
        for attr in ("steps", "values", "epochs", "times"):
            expected, actual = getattr(series, attr), getattr(mine, attr)
            if expected is None:
                assert actual is None, f"{name}.{attr}"
                continue
            assert actual is not None, f"{name}.{attr}"
            np.testing.assert_array_equal(actual, expected, err_msg=f"{name}.{attr}", strict=True)


class Checked:
    """A tail read after every change and compared with a fresh read; earlier results are
    checked not to have changed."""

    def __init__(self, run: Path) -> None:
        self.run = run
        self.tail = FileStoreRunTail(run)
        self.kept: list[tuple[ParseResult, list]] = []

    def read(self) -> ParseResult:
        got = self.tail.read()
        assert_same(got, read_file_store_run(self.run))
        for result, copies in self.kept:
            assert_unchanged(result, copies)
        self.kept = [*self.kept[-3:], (got, snapshot(got))]
        return got


# --- runs written the common way --------------------------------------------------------------


@pytest.mark.parametrize("epoch_at", ["first", "last", "none"])
def test_line_by_line_in_order(tmp_path, epoch_at):
    run = make_run(tmp_path)
    checked = Checked(run)
    checked.read()  # no metrics yet
    for step in range(1, 60):
        keys = ["train/loss", "lr", "grad_norm"]
        if epoch_at != "none":
            keys.insert(0 if epoch_at == "first" else len(keys), "epoch")
        if step % 10 == 0:
            keys.append("eval_loss")
        for key in keys:
            value = step / 25 if key == "epoch" else 1.0 / step
            append(run, key, line(step, value))
            checked.read()  # a read may come between any two files of a write


def test_epoch_logged_per_epoch_dates_later_steps(tmp_path):
    run = make_run(tmp_path)
    checked = Checked(run)
    for step in range(0, 200):
        if step % 25 == 0:
            append(run, "epoch", line(step, step // 25))
        append(run, "loss", line(step, 2.0 - step / 100))
        if step % 7 == 0:
            checked.read()
    checked.read()


def test_epoch_logged_after_its_steps_dates_them_again(tmp_path):
    run = make_run(tmp_path)
    checked = Checked(run)
    for step in range(1, 40):
        append(run, "loss", line(step, 1.0 / step))
        checked.read()
        if step % 3 == 0:  # the epoch of the last three steps arrives late
            append(run, "epoch", line(step - 2, step / 10))
            checked.read()


def test_epoch_file_with_no_whole_line_yet(tmp_path):
    """The first line of `epoch` still being written: epochs unknown, not an error."""
    run = make_run(tmp_path)
    checked = Checked(run)
    append(run, "loss", line(1, 0.5) + line(2, 0.4))
    append(run, "epoch", f"{T0} 0.1")
    result = checked.read()
    assert np.isnan(result.table.series["train_loss"].epochs).all()
    append(run, "epoch", " 1\n")
    result = checked.read()
    assert result.table.series["train_loss"].epochs.tolist() == [0.1, 0.1]


def test_nan_and_infinite_values(tmp_path):
    run = make_run(tmp_path)
    checked = Checked(run)
    for step, value in enumerate([1.0, math.nan, math.inf, -math.inf, 0.5, math.nan]):
        append(run, "train/loss", line(step, value))
        append(run, "epoch", line(step, math.nan if step == 3 else step / 4))
        checked.read()


def test_aliases_collide_and_keys_vanish(tmp_path):
    run = make_run(tmp_path)
    checked = Checked(run)
    for step in range(10):
        append(run, "train_loss", line(step, 1.0))
        append(run, "loss", line(step, 2.0))
        checked.read()
    (run / "metrics" / "loss").unlink()
    checked.read()
    for step in range(10, 15):
        append(run, "train_loss", line(step, 1.0))
        checked.read()


def test_unstepped_keys_and_bad_lines(tmp_path):
    run = make_run(tmp_path)
    checked = Checked(run)
    for step in range(8):
        append(run, "no_step", f"{T0 + step} {step / 3}\n")
        append(run, "loss", line(step, 1.0) if step != 4 else "oops\n")
        checked.read()


def test_in_order_writes_extend_the_last_build(tmp_path, monkeypatch):
    """The common case does no work over the whole run: no dating of every point, no
    union of every step (the functions that do it are not called after the first read)."""
    run = make_run(tmp_path)
    for step in range(100):
        for key in ("epoch", "train/loss", "val/loss" if step % 10 == 0 else "lr"):
            append(run, key, line(step, step / 10))
    tail = FileStoreRunTail(run)
    tail.read()
    calls = []
    for name in ("with_epochs", "union_steps", "_in_step_order"):
        original = getattr(mlflow_run, name)
        monkeypatch.setattr(
            mlflow_run, name, lambda *a, _n=name, _f=original: calls.append(_n) or _f(*a)
        )
    for step in range(100, 130):
        for key in ("epoch", "train/loss", "val/loss" if step % 10 == 0 else "lr"):
            append(run, key, line(step, step / 10))
        fresh = read_file_store_run(run)
        calls.clear()
        assert_same(tail.read(), fresh)
        assert calls == []


# --- replaced, truncated, out of order ---------------------------------------------------------


def test_file_replaced_or_truncated(tmp_path):
    run = make_run(tmp_path)
    checked = Checked(run)
    for step in range(20):
        append(run, "epoch", line(step, step / 5))
        append(run, "loss", line(step, 1.0 / (step + 1)))
        checked.read()
    fresh = run / "metrics" / "loss.new"
    fresh.write_text("".join(line(step, 5.0) for step in range(3, 9)))
    os.replace(fresh, run / "metrics" / "loss")  # replaced (a new inode)
    checked.read()
    (run / "metrics" / "epoch").write_text(line(0, 0.0) + line(4, 1.0))  # truncated
    checked.read()
    for step in range(9, 15):
        append(run, "epoch", line(step, step / 5))
        append(run, "loss", line(step, 1.0 / (step + 1)))
        checked.read()


def test_out_of_order_and_repeated_steps(tmp_path):
    run = make_run(tmp_path)
    checked = Checked(run)
    for step in [0, 1, 2, 2, 5, 3, 6, 6, 7, 1, 8, 9]:
        append(run, "loss", line(step, step * 1.5, stamp=T0 + len(checked.kept)))
        append(run, "epoch", line(step, step / 3))
        checked.read()


# --- random bursts -----------------------------------------------------------------------------

KEYS = ["train/loss", "train/lr", "epoch", "val/loss", "accuracy", "a/b/c"]


class RandomWriter:
    """A run's files grown in random bursts: mostly in order, sometimes not."""

    def __init__(self, run: Path, rng: random.Random) -> None:
        self.run, self.rng = run, rng
        self.next = {key: rng.randrange(0, 5) for key in KEYS}
        self.cut: dict[str, str] = {}  # the rest of a line left cut short
        self.live = set(rng.sample(KEYS, 2))

    def burst(self) -> None:
        rng = self.rng
        if rng.random() < 0.15:
            self.live.add(rng.choice(KEYS))  # a key appearing late
        for key in sorted(self.live):
            text = self.cut.pop(key, "")
            for _ in range(rng.choice([0, 0, 1, 1, 1, 2, 3, 7])):
                text += line(self.step(key), self.value(key))
            if rng.random() < 0.1:
                whole = line(self.step(key), self.value(key))
                cut = rng.randrange(1, len(whole) - 1)
                text, self.cut[key] = text + whole[:cut], whole[cut:]
            append(self.run, key, text)
        roll = rng.random()
        if roll < 0.04:
            self.replace(rng.choice(sorted(self.live)))
        elif roll < 0.08:
            self.truncate(rng.choice(sorted(self.live)))
        elif roll < 0.1 and len(self.live) > 1:
            key = rng.choice(sorted(self.live))
            self.live.discard(key)
            self.cut.pop(key, None)
            (self.run / "metrics" / key).unlink(missing_ok=True)

    def step(self, key: str) -> int:
        roll = self.rng.random()
        if roll < 0.05:
            return max(0, self.next[key] - self.rng.randrange(1, 6))  # back in time
        if roll < 0.1:
            return max(0, self.next[key] - 1)  # repeated
        self.next[key] += self.rng.choice([1, 1, 1, 2, 5])
        return self.next[key]

    def value(self, key: str) -> float:
        if self.rng.random() < 0.05:
            return self.rng.choice([math.nan, math.inf, -math.inf])
        if key == "epoch":
            return self.next[key] / 10
        return round(self.rng.uniform(0, 3), 4)

    def replace(self, key: str) -> None:
        path = self.run / "metrics" / key
        new = path.with_name(path.name + ".tmp")
        steps = sorted(self.rng.sample(range(0, self.next[key] + 3), 3))
        new.write_text("".join(line(step, self.value(key)) for step in steps))
        os.replace(new, path)
        self.cut.pop(key, None)

    def truncate(self, key: str) -> None:
        path = self.run / "metrics" / key
        text = path.read_text() if path.exists() else ""
        lines = text.splitlines(keepends=True)
        path.write_text("".join(lines[: len(lines) // 2]))  # shorter than read: a reset
        self.cut.pop(key, None)


@pytest.mark.parametrize("seed", range(24))
def test_random_bursts(tmp_path, seed):
    rng = random.Random(seed)
    run = make_run(tmp_path)
    writer = RandomWriter(run, rng)
    checked = Checked(run)
    for _ in range(60):
        writer.burst()
        checked.read()


@pytest.mark.parametrize("seed", range(12))
def test_random_bursts_with_settled_folders(tmp_path, seed):
    """As test_random_bursts, with the run's folders and files made old after most bursts
    (the tail then keeps its listings, meta.yaml and params between reads), and meta.yaml
    and the params rewritten now and then."""
    rng = random.Random(500 + seed)
    run = make_run(tmp_path)
    writer = RandomWriter(run, rng)
    checked = Checked(run)
    for burst in range(60):
        writer.burst()
        roll = rng.random()
        if roll < 0.08:  # in place, as MLflow rewrites it (same size: a status of one digit)
            meta = (run / "meta.yaml").read_text()
            status = f"status: {rng.randrange(1, 6)}"
            (run / "meta.yaml").write_text(re.sub(r"status: \d", status, meta))
        elif roll < 0.16:
            (run / "params" / rng.choice(["lr", "batch"])).write_text(str(burst))
        if rng.random() < 0.8:
            age_tree(tmp_path)
        checked.read()


@pytest.mark.parametrize("seed", range(8))
def test_random_bursts_in_order(tmp_path, seed):
    """Every key in step order, in bursts of random sizes: the path a live run takes."""
    rng = random.Random(1000 + seed)
    run = make_run(tmp_path)
    checked = Checked(run)
    step = 0
    pending: dict[str, list[int]] = {key: [] for key in KEYS}
    for _ in range(80):
        for _ in range(rng.randrange(0, 4)):
            step += rng.choice([1, 1, 3])
            for key in KEYS:
                if key == "epoch" or rng.random() < 0.6:
                    pending[key].append(step)
        for key in KEYS:  # each file catches up by a random part of what it is owed
            take = rng.randrange(0, len(pending[key]) + 1)
            if take:
                append(run, key, "".join(line(s, s / 7) for s in pending[key][:take]))
                del pending[key][:take]
        checked.read()
