"""What the context of an appended log (readers/appended_context.py) must hold, or tell,
for a write's read to be the whole parse: the row an Ultralytics duration is read from,
rows back; and detectron2 lines the context's parse reads otherwise than the whole parse
(a late line there, a restart in the whole file).
"""

from __future__ import annotations

import json

import pytest
from test_append_write_rows import YOLO_HEADER, Follower, yolo_row

from metricwatch.readers.ultralytics import rows_to_last_time

# --- Ultralytics: a duration is the time since the last row with one ------------------------


def test_a_duration_after_rows_without_a_time_is_read_from_the_last_row_with_one():
    """Rows 4 and 5 have no time: row 6's duration is its time minus row 3's. Read whole
    up to row 5, the log's context of two lines would be rows 4 and 5 alone."""
    times = (60.0, 120.0, 180.0, None, None, 390.0)
    rows = [yolo_row(epoch, time) for epoch, time in enumerate(times, 1)]
    log = Follower("results.csv", (YOLO_HEADER + "".join(rows)).encode())
    duration = log.log.result().table.series["duration_s"]
    assert duration.steps.tolist() == [1, 2, 3, 6]
    assert duration.values.tolist() == [60.0, 60.0, 60.0, 210.0]
    log.write(yolo_row(7, None))
    log.write(yolo_row(8, None))
    grown = log.write(yolo_row(9, 400.5))
    assert grown.table.series["duration_s"].values[-1] == 10.5
    assert (log.fast, log.general, log.whole) == (3, 0, 0)


def test_durations_written_row_by_row_as_the_context_is_cut_back():
    """Two rows without a time in every five: now and then they are the last two lines
    when the context is cut back to the format's two (rows 16 and 17)."""
    log = Follower("results.csv", (YOLO_HEADER + yolo_row(1, 60.0) + yolo_row(2, 120.0)).encode())
    for epoch in range(3, 60):
        log.write(yolo_row(epoch, None if epoch % 5 in (1, 2) else 60.0 * epoch))
    assert log.whole == 0 and log.fast > 45


@pytest.mark.parametrize(
    "times, lines",
    [
        ((1.0, 2.0), 2),  # the row before the last has a time
        ((1.0, None), 2),  # the last row has none: the row before is the one
        ((1.0, None, None), 3),
        ((1.0, None, 3.0), 3),  # the last row's duration is read from the first's time
        ((1.0, None, None, 4.0, None), 2),
        ((None, None), 2),  # none among them: it may lie before them
        ((), 0),
    ],
)
def test_the_context_holds_the_lines_back_to_the_time_before_the_last_row(times, lines):
    rows = [yolo_row(epoch, time).encode() for epoch, time in enumerate(times, 1)]
    assert rows_to_last_time(YOLO_HEADER.encode(), rows) == lines


def test_a_row_the_parse_drops_is_not_the_one_a_duration_is_read_from():
    """A resume to epoch 2 drops the rows of epochs 2 and 3: the time before the last row
    the parse keeps is epoch 1's."""
    rows = [yolo_row(1, 60.0), yolo_row(2, 120.0), yolo_row(3, None), yolo_row(2, 125.0)]
    assert rows_to_last_time(YOLO_HEADER.encode(), [r.encode() for r in rows]) == 4
    padded = [r.replace(",", ", ").encode() for r in rows]
    assert rows_to_last_time(YOLO_HEADER.encode(), padded) == 4
    quoted = [*rows[:3], rows[3].replace("125.0", '"125.0"')]
    assert rows_to_last_time(YOLO_HEADER.encode(), [r.encode() for r in quoted]) is None


def test_a_results_csv_without_times_needs_no_line_before_a_new_row():
    header = YOLO_HEADER.replace("epoch,time,", "epoch,").encode()
    assert rows_to_last_time(header, [b"1,0.5\n", b"2,0.4\n"]) == 0


# --- detectron2: lines the context's parse reads otherwise than the whole parse -------------


def d2(iteration: int, eta: float, **values: float) -> str:
    return json.dumps({"iteration": iteration, "eta_seconds": eta, **values}, sort_keys=True)


def test_a_new_run_the_context_takes_for_a_late_line_is_read_whole():
    """Iteration 0 after 59 repeats keys the run logged (loss_cls): the whole parse begins
    a new run there, which has no bbox/AP. A context of 59's evaluation line and 0's shares
    no key: its parse merges 0 as a late line, and would show val_mAP and its
    value_scale."""
    lines = [
        d2(19, 99.0, loss_cls=0.5, total_loss=1.0),
        d2(39, 98.0, loss_cls=0.4, total_loss=0.9),
        d2(59, 97.0, **{"bbox/AP": 40.0}),
        d2(0, 96.0, loss_cls=0.7, total_loss=1.2),  # a new run: read whole
    ]
    log = Follower("metrics.json", "\n".join([*lines, ""]).encode())
    assert log.write(d2(0, 95.0) + "\n") is None  # only an eta, after that context
    grown = log.write(d2(19, 94.0, loss_cls=0.6, total_loss=1.1) + "\n")
    assert grown.table.steps.tolist() == [0, 19]
    assert "value_scale" not in grown.meta
    assert grown.meta["source_keys"] == {"train_loss": "total_loss", "val_mAP": "bbox/AP"}
    assert grown.extra["earlier_runs"][0]["last_iteration"] == 59


def test_a_resume_the_context_takes_for_a_late_line_is_read_whole():
    """39 again with total_loss, logged at 39 before the context: the whole parse resumes
    there (dropping 59); the context (59's lr line and 39's) merges it as a late line, and
    a chunk's parse would add 59's time to a step the table no longer has."""
    lines = [
        d2(19, 99.0, loss_cls=0.5, total_loss=1.0),
        d2(39, 98.0, loss_cls=0.4, total_loss=0.9),
        d2(59, 97.0, lr=0.02),
        d2(39, 96.0, total_loss=0.8),
    ]
    log = Follower("metrics.json", "\n".join([*lines, ""]).encode())
    assert log.write(d2(59, 95.0, time=0.2) + "\n") is None
    grown = log.write(d2(79, 94.0, time=0.3) + "\n")
    assert grown.table.steps.tolist() == [19, 39, 59, 79]
    assert grown.table.series["time"].steps.tolist() == [59, 79]
    assert "lr" not in grown.table.series


def test_a_resume_at_the_context_s_iteration_drops_what_the_context_keeps():
    """The last line repeats loss_cls at 39, logged there before the context: the whole
    parse resumes at 39, dropping the evaluation merged there (no val_mAP, no value_scale
    left). The context (the evaluation line and the last) has the same step, but merges
    both lines: its parse keeps val_mAP at 39."""
    lines = [
        d2(19, 99.0, loss_cls=0.5, total_loss=1.0),
        d2(39, 98.0, loss_cls=0.4),
        d2(39, 97.0, **{"bbox/AP": 40.0}),  # a late line: merged at 39
        d2(39, 96.0, loss_cls=0.3),  # a resume: read whole
    ]
    log = Follower("metrics.json", "\n".join([*lines, ""]).encode())
    assert log.write(d2(59, 95.0, total_loss=0.9) + "\n") is None
    grown = log.write(d2(79, 94.0, total_loss=0.8) + "\n")
    assert grown.table.steps.tolist() == [19, 39, 59, 79]
    assert "val_mAP" not in grown.table.series
    assert "value_scale" not in grown.meta
