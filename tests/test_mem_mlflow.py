"""An MLflow metric file read a piece at a time gives what a parse of all its lines gives."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from metricwatch.readers import mlflow_files
from metricwatch.readers.mlflow_files import (
    FileStoreRunTail,
    MetricFileTail,
    parse_metric_file,
    read_file_store_run,
)


def lines(count: int, start: int = 0) -> bytes:
    return "".join(
        f"{1_700_000_000_000 + 100 * s} {math.sin(s) * 10 ** (s % 7 - 3)!r} {s}\n"
        for s in range(start, start + count)
    ).encode()


def same_as_whole(tail: MetricFileTail, data: bytes) -> None:
    steps, values, times = tail.read_new()
    want_steps, want_values, want_times, bad, cut = parse_metric_file(data)
    assert steps.tolist() == want_steps.tolist()
    assert np.array_equal(values, want_values, equal_nan=True)
    assert np.array_equal(times, want_times, equal_nan=True)
    assert (tail.bad, tail.cut) == (bad, cut)
    assert tail.offset == data.rfind(b"\n") + 1


@pytest.mark.parametrize(
    "data",
    [
        lines(500),
        lines(500) + b"1700000000 0.5 50",  # a last line being written
        lines(300) + b"1700000000 0.5\n" + lines(200, 300),  # a line of two fields, late
        lines(300) + b"1700000000 x 301\n" + lines(200, 301),  # a bad line, late
        lines(300) + b"1700000000 0.5 5.0\n",  # a step as a float: read as the whole file is
        lines(100) + b"1700000000 " + b"1" * 400 + b" 5\n" + lines(50, 101),  # a long line
        lines(400) + b"\n",  # a blank line at the end
        lines(400) + b"\x1c",  # a last "line" of what str.split() takes for whitespace
        b"\x1f \x1c",  # and only that: blank, not a line being written
    ],
)
def test_a_file_read_in_pieces_is_its_whole_parse(tmp_path, monkeypatch, data):
    monkeypatch.setattr(mlflow_files, "READ_BYTES", 256)
    path = tmp_path / "loss"
    path.write_bytes(data)
    same_as_whole(MetricFileTail(path), data)


def test_lines_appended_in_pieces_after_a_first_read(tmp_path, monkeypatch):
    monkeypatch.setattr(mlflow_files, "READ_BYTES", 128)
    run = tmp_path / "run"
    (run / "metrics").mkdir(parents=True)
    (run / "meta.yaml").write_text("run_id: abc\nrun_name: live\nstatus: 1\n")
    path = run / "metrics" / "loss"
    path.write_bytes(lines(40))
    tail = FileStoreRunTail(run)
    first = tail.read().table.series["train_loss"]
    shown = first.values.tolist()
    for more in (lines(200, 40), lines(5, 240) + b"1 bad 245\n" + lines(100, 246)):
        with path.open("ab") as handle:
            handle.write(more)
        live = tail.read().table.series["train_loss"]
        fresh = read_file_store_run(run).table.series["train_loss"]
        assert live.steps.tolist() == fresh.steps.tolist()
        assert live.values.tolist() == fresh.values.tolist()
        assert live.times.tolist() == fresh.times.tolist()
        assert first.values.tolist() == shown  # what was handed out before never changes


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.tuples(
                st.integers(0, 2**41),
                st.floats(allow_nan=True, allow_infinity=True),
                st.integers(-(2**62), 2**62),
            ).map(lambda r: f"{r[0]} {r[1]!r} {r[2]}\n".encode()),
            st.sampled_from([b"\n", b"1 2\n", b"a b c\n", b"1  2 3\n", b"1 2 3 4\n"]),
        ),
        max_size=60,
    ),
    st.binary(max_size=8),
    st.integers(16, 200),
)
@example(rows=[], end=b"\x1c", piece=16)  # found: the tail took it for a cut line
def test_any_lines_in_any_pieces(tmp_path_factory, rows, end, piece):
    data = b"".join(rows) + end.replace(b"\n", b"")
    path = tmp_path_factory.mktemp("m") / "loss"
    path.write_bytes(data)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(mlflow_files, "READ_BYTES", piece)
        same_as_whole(MetricFileTail(path), data)


def test_a_line_of_three_fields_that_are_not_numbers_is_a_bad_line():
    # numpy 2's fromstring raises on such a token (1.x warned): the line-by-line path reads it
    steps, values, _, bad, cut = parse_metric_file(b"1000 0.5 1\n1000 x 2\n")
    assert steps.tolist() == [1] and values.tolist() == [0.5] and (bad, cut) == (1, False)


def _same_run(live, fresh) -> None:
    assert live.table.steps.tolist() == fresh.table.steps.tolist()
    assert live.table.series.keys() == fresh.table.series.keys()
    for key, series in fresh.table.series.items():
        mine = live.table.series[key]
        for a, b in zip(
            (mine.steps, mine.values, mine.epochs), (series.steps, series.values, series.epochs)
        ):
            assert (a is None) == (b is None)
            assert a is None or np.array_equal(a, b, equal_nan=True)


def test_a_key_logged_with_every_epoch_shares_the_epoch_values_and_stays_right(tmp_path):
    run = tmp_path / "run"
    (run / "metrics").mkdir(parents=True)
    (run / "meta.yaml").write_text("run_id: abc\nrun_name: live\nstatus: 1\n")
    loss, epoch, acc = (run / "metrics" / name for name in ("loss", "epoch", "val_acc"))

    def log(path, steps):
        with path.open("ab") as handle:
            handle.write(b"".join(f"{1000 + s} {s / 7!r} {s}\n".encode() for s in steps))

    log(loss, range(0, 50))
    log(epoch, range(0, 50))
    log(acc, range(0, 50, 10))
    tail = FileStoreRunTail(run)
    first = tail.read()
    shared = first.table.series["train_loss"].epochs
    assert np.shares_memory(shared, tail.columns["epoch"].values.buffer)  # no copy
    assert not np.shares_memory(first.table.series["val_accuracy"].epochs, shared)
    shown = shared.tolist()
    for loss_steps, epoch_steps in [
        (range(50, 60), range(50, 60)),  # both grew alike: still shared
        (range(60, 65), ()),  # the loss written first: dated from the last epoch
        ((), range(60, 65)),  # the epochs catch up: dated again
        (range(65, 70), range(65, 70)),
    ]:
        log(loss, loss_steps)
        log(epoch, epoch_steps)
        live = tail.read()
        _same_run(live, read_file_store_run(run))
        epochs = live.table.series["train_loss"].epochs
        alike = len(loss_steps) == len(epoch_steps) and loss_steps.start == 50
        assert np.shares_memory(epochs, tail.columns["epoch"].values.buffer) == alike
    assert shared.tolist() == shown  # what was handed out never changes
