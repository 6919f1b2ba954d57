"""An appended Lightning log read at the rows of one step: the same run as a whole parse.

lightning_csv dates a row without an epoch (an `lr-*` row, a row logged without one) by
the other rows the parse keeps at its step. An appended log's general path parses the
header, the context and the new lines: the context holds every row at the last step
read (readers/appended_context.py), and when it cannot (more rows than it keeps, a resume
before them), a write that begins at that step is read whole. A resume drops rows, which
date no row (a reader following the file does not see them).
"""

from __future__ import annotations

import random

import numpy as np
import pytest
from test_append_write_rows import (
    PL_HEADER,
    Follower,
    pl_write,
    random_lightning_rows,
    write_in_pieces,
)

from metricwatch.readers.appended_context import STEP_LINES
from metricwatch.readers.lightning_csv import parse_lightning_csv, rows_at_last_step

TRAIN = "0,,5,,0.5,,,,\n"  # train/acc_step at step 5, dated (epoch 0)


def test_the_seed_that_found_a_row_at_the_last_step_left_undated():
    """random_lightning_rows' seed 117: a step of more than two rows, the row dating it out
    of the two context lines by the time a row without an epoch came at that step."""
    rng = random.Random(117)
    log = write_in_pieces("metrics.csv", PL_HEADER, random_lightning_rows(rng, 160), rng)
    assert log.fast > 0


def test_a_row_at_the_last_step_is_dated_by_a_row_three_lines_back():
    rows = [TRAIN, ",,5,,,,0.25,,\n", ",,5,,,,,,0.5\n", ",,5,,,,,,\n"]
    log = Follower("metrics.csv", (PL_HEADER + pl_write(0) + pl_write(1) + "".join(rows)).encode())
    # (read whole but its last line, which is the first write: the context is the two before)
    grown = log.write(",,5,,,,,0.6,\n")  # val/acc at step 5, no epoch: step 5's is 0
    assert grown.table.series["val_accuracy"].epochs.tolist() == [0.0]
    assert log.whole == 0


def test_rows_after_the_last_step_s_leave_it_out_of_the_context():
    log = Follower("metrics.csv", (PL_HEADER + pl_write(0) + pl_write(1)).encode())
    rows = [TRAIN, ",,5,,,,0.25,,\n", ",,5,,,,,,0.5\n", ",,5,,,,,0.6,\n", ",,5,,,0.7,,,\n"]
    for row in rows:
        log.write(row)
    log.write("".join(pl_write(step) for step in range(6, 30)))  # the context cut back
    assert len(log.log._context.lines) == 2
    log.write(",0.001,30,,,,,,\n")
    log.write(",,30,,,,,0.6,\n")
    grown = log.write("1,,30,,,,,,\n")  # dates the two rows before
    assert grown.table.series["lr"].epochs[-1] == 1.0
    assert log.whole == 0


def test_a_step_of_more_rows_than_the_context_holds_is_read_whole_when_written_to():
    log = Follower("metrics.csv", (PL_HEADER + pl_write(0) + pl_write(1)).encode())
    log.write("0,,5,,,,,,\n")  # dates step 5
    for _ in range(STEP_LINES):
        log.write(",,5,,,,,,\n")  # rows without a value: step 5's all the same
    assert not log.log._context.whole_step
    whole = log.whole
    grown = log.write(",,5,,,,,,0.25\n")  # val_loss at step 5: its epoch is too far back
    assert log.whole == whole + 1
    assert log.write(",,5,,,,,,\n") is None  # (and so for the whole read's context)
    grown = log.write(pl_write(6))
    assert grown.table.series["val_loss"].epochs.tolist() == [0.0]
    for step in range(7, 12):
        log.write(pl_write(step))
    assert log.fast >= 4 and log.log._context.whole_step


def test_a_resume_before_the_last_step_s_rows_makes_a_write_at_that_step_read_whole():
    """Rows at step 5 before a step 8 that the resume went back from are kept (no later
    row is before step 5): the context after the resume cannot hold them."""
    text = PL_HEADER + ",0.001,5,,,,,,\n" + TRAIN + pl_write(8) + ",,5,,,,,0.6,\n"
    log = Follower("metrics.csv", text.encode())
    assert not log.log._context.whole_step
    assert log.write(",,5,,,,,,0.5\n") is None  # at step 5: read whole
    assert log.write("1,,5,,,,,,\n") is None  # (dates every row at step 5)
    assert log.write(pl_write(6)[:9]) is not None  # a line being written: a note
    grown = log.write(pl_write(6)[9:])  # rows after step 5: followed
    assert grown.table.series["val_accuracy"].epochs.tolist() == [1.0]
    assert log.whole == 2 and log.general == 2


def test_after_a_resume_a_row_is_dated_by_the_rows_kept_not_those_it_dropped():
    log = Follower("metrics.csv", (PL_HEADER + "".join(map(pl_write, range(8)))).encode())
    assert log.write(pl_write(3)) is None  # a resume: steps 4 to 7 dropped
    lr_row = pl_write(4).splitlines(keepends=True)[0]
    grown = log.write(lr_row)  # step 4's dropped rows had an epoch: they date it no more
    assert np.isnan(grown.table.series["lr"].epochs[-1])
    grown = log.write(pl_write(4)[len(lr_row) :])  # its training row dates it
    assert grown.table.series["lr"].epochs[-1] == 0.0
    for step in range(5, 12):
        log.write(pl_write(step))
    assert log.fast >= 5


def test_a_row_a_resume_dropped_dates_no_row():
    data = b"epoch,lr-Adam,step,loss\n3,,7,1.0\n0,,5,2.0\n,0.1,7,\n"
    lr = parse_lightning_csv(data).table.series["lr"]
    assert lr.steps.tolist() == [7]
    assert np.isnan(lr.epochs).all()
    lr = parse_lightning_csv(data + b"4,,7,\n").table.series["lr"]
    assert lr.epochs.tolist() == [4.0]


@pytest.mark.parametrize(
    "lines, found",
    [
        ([b"0,,4\n", b",1,5\n", b"0,,5\n"], 2),
        ([b",1,5\n", b"0,,5\n"], 2),  # every line: the rows may go on before them
        ([b"0,,5\n", b"\n", b"epoch,lr-Adam,step\n", b"0,,6\n"], 3),  # no row between
        ([b"0,,5\n", b"0,,8\n", b"0,,5\n"], None),  # a resume before the last step's rows
        ([b"0,,4\n", b"0,,x\n"], None),  # a step not read here
        ([b"0,,4\n", b'0,,"5"\n'], None),
        ([], 0),
    ],
)
def test_the_rows_at_the_last_step_are_told_by_their_step_cells(lines, found):
    assert rows_at_last_step(b"epoch,lr-Adam,step\n", lines) == found


def test_a_log_whose_rows_are_not_dated_by_each_other_needs_no_rows_of_its_step():
    assert rows_at_last_step(b"step,loss\n", [b"5,1\n", b"5,2\n"]) == 0
    assert rows_at_last_step(b"epoch,loss\n", [b"5,1\n", b"5,2\n"]) == 0
    assert rows_at_last_step(b'"epoch",step\n', [b"0,5\n"]) is None  # quotes: not read here


def random_lightning_steps(rng: random.Random, count: int) -> list[str]:
    """Rows as random_lightning_rows writes them, with many more rows at one step (often
    more than the context's two lines), steps going back (resumes), and rows whose epoch
    is not their step's."""
    rows, step = [], 0
    for _ in range(count):
        if rng.random() < 0.03:
            step = max(step - rng.randint(0, 6), 0)
        else:
            step += rng.choice((0, 0, 0, 1, 1, 2))
        epoch = "" if rng.random() < 0.4 else str(step // 7 + rng.choice((0, 0, 0, 1)))
        cells = [epoch, "", str(step)] + [""] * 6
        for index in rng.sample(range(3, 9), rng.randint(0, 2)):
            cells[index] = rng.choice(("0.5", "1e-3", "2", "nan", f"{rng.random()!r}"))
        if not epoch and rng.random() < 0.7:
            cells[1] = f"{rng.random() * 1e-3!r}"
        rows.append(",".join(cells) + "\n")
    return rows


@pytest.mark.parametrize("seed", range(24))
def test_random_steps_of_many_rows_and_resumes_read_as_their_whole_parse(seed):
    rng = random.Random(seed)
    log = write_in_pieces("metrics.csv", PL_HEADER, random_lightning_steps(rng, 200), rng)
    assert log.fast > 0 and log.general > 0
