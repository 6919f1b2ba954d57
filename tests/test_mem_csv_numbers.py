"""A CSV of numbers read by numpy alone (csv_numbers) is the table csv_table reads, bit for
bit; any other text is left to csv_table."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from metricwatch.readers import csv_numbers, lightning_csv
from metricwatch.readers.csv_numbers import read_numeric_table
from metricwatch.readers.csv_table import read_table
from metricwatch.readers.lightning_csv import parse_lightning_csv

CORPUS = Path(__file__).parent / "corpus" / "lightning_csv"


def same_table(data: bytes) -> bool:
    """Whether the numeric read of data (if it takes it) is read_table's; True if taken."""
    fast = read_numeric_table(data)
    if fast is None:
        return False
    slow = read_table(data, "metrics.csv")
    assert not slow.problems and not slow.header_repeats
    assert (fast.header, fast.nrows, fast.delimiter) == (slow.header, slow.nrows, slow.delimiter)
    for name in slow.header:
        mine, theirs = fast.column(name), slow.column(name)
        assert mine.rows.dtype == theirs.rows.dtype == np.int64
        assert mine.rows.tolist() == theirs.rows.tolist()
        assert mine.values.tobytes() == theirs.values.tobytes()  # bit for bit
        assert mine.non_numeric == theirs.non_numeric == 0
    assert fast.column("absent").rows.tolist() == slow.column("absent").rows.tolist() == []
    return True


NUMBER = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
    st.integers(-(10**20), 10**20).map(str),
    st.sampled_from(["0", "-0", "1e5", "1E+05", "+5", ".5", "5.", "007", "1e-400", "1e400"]),
)
CELL = st.one_of(st.just(""), st.just(""), NUMBER)


@settings(max_examples=300, deadline=None)
@given(st.integers(1, 5).flatmap(lambda w: st.lists(st.lists(CELL, min_size=w, max_size=w))))
def test_rows_of_numbers_and_empty_cells_read_as_read_table_reads_them(rows):
    width = len(rows[0]) if rows else 1
    header = ",".join(f"k{i}" for i in range(width))
    data = (header + "\n" + "".join(",".join(row) + "\n" for row in rows)).encode()
    blank = width == 1 and [""] in rows  # a blank line: csv_table skips it
    assert same_table(data) == (bool(rows) and not blank)


@pytest.mark.parametrize(
    "data",
    [
        b"step,loss\n0,1.5\n1,nan\n",  # nan, inf: csv_table reads them
        b"step,loss\n0,1.5\n1,inf\n",
        b"step,loss\n0,1.5\n1,1.5",  # the last line being written
        b"step,loss\n0,1.5\n\n1,2\n",  # a blank line
        b"step,loss\n0, 1.5\n",  # padding
        b"step,loss\r\n0,1.5\r\n",  # CRLF
        b'step,loss\n0,"1.5"\n',  # quotes
        b"step,loss\n0,1.5,3\n",  # a row of another width
        b"step,loss\n0\n",
        b"step,loss\n0,1.5\nstep,loss\n1,2\n",  # a header again
        b"step,loss\n0,1-2\n",  # no number (read as two by a lax reader)
        b"step,loss\n0,1.5.5\n",
        b"step,loss\n0,1e\n",
        b"step,loss\n0,-\n",
        b"step,loss\n0,1_0\n",  # float() takes it: csv_table reads it
        b"\xef\xbb\xbfstep,loss\n0,1\n",  # a BOM
        b"step,loss\n",  # no rows
        b"\nstep,loss\n0,1\n",  # a blank first line
        b"step,loss\n0,\xc3\xa9\n",
    ],
)
def test_other_text_is_left_to_csv_table(data):
    assert read_numeric_table(data) is None


def test_a_header_naming_a_text_column_is_left_to_csv_table():
    data = b"epoch,created_at,loss\n0,1,2\n"
    assert read_numeric_table(data, text_columns=("created_at",)) is None
    assert same_table(data)


@settings(max_examples=100, deadline=None)
@given(
    st.integers(1, 4).flatmap(lambda w: st.lists(st.lists(CELL, min_size=w, max_size=w))),
    st.integers(1, 64),
)
def test_a_long_text_read_in_pieces_is_read_as_a_whole(rows, piece):
    width = len(rows[0]) if rows else 1
    header = ",".join(f"k{i}" for i in range(width))
    data = (header + "\n" + "".join(",".join(row) + "\n" for row in rows)).encode()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(csv_numbers, "PIECE_BYTES", piece)
        taken = same_table(data)
    blank = width == 1 and [""] in rows
    assert taken == (bool(rows) and not blank)


def test_semicolon_and_single_column_tables():
    assert same_table(b"step;loss\n0;1.5\n1;\n;2\n")
    assert same_table(b"loss\n1.5\n2\n")


def lightning_log(steps: int) -> bytes:
    lines = ["epoch,lr-AdamW,step,train_loss_epoch,train_loss_step,val_loss"]
    for step in range(steps):
        lines.append(f",{1e-3 * math.cos(step / 7)!r},{step},,,")
        lines.append(f"{step // 10},,{step},,{2.0 / (step + 1)!r},")
        if step % 10 == 9:
            lines.append(f"{step // 10},,{step},{1.0 / (step + 1)!r},,{1.1 / (step + 1)!r}")
    return ("\n".join(lines) + "\n").encode()


@pytest.mark.parametrize(
    "path",
    [*sorted(CORPUS.glob("**/metrics.csv")), None],
    ids=lambda p: "generated" if p is None else str(p.relative_to(CORPUS)),
)
def test_a_lightning_log_reads_the_same_either_way(path, monkeypatch):
    data = lightning_log(300) if path is None else path.read_bytes()
    fast = parse_lightning_csv(data)
    monkeypatch.setattr(lightning_csv, "read_numeric_table", lambda data, **_: None)
    slow = parse_lightning_csv(data)
    assert [(p.kind, p.message) for p in fast.problems] == [
        (p.kind, p.message) for p in slow.problems
    ]
    assert fast.meta == slow.meta and fast.table.x == slow.table.x
    assert fast.table.steps.tobytes() == slow.table.steps.tobytes()
    assert fast.table.series.keys() == slow.table.series.keys()
    for key, series in slow.table.series.items():
        mine = fast.table.series[key]
        for a, b in zip(
            (mine.steps, mine.values, mine.epochs, mine.times),
            (series.steps, series.values, series.epochs, series.times),
        ):
            assert (a is None) == (b is None)
            assert a is None or a.tobytes() == b.tobytes()


def test_the_generated_log_is_read_by_numpy():
    assert read_numeric_table(lightning_log(30), ("created_at",)) is not None
    assert csv_numbers.read_numeric_table is lightning_csv.read_numeric_table
