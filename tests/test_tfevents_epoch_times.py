"""The epochs axis' tag keeps no times of its own; every other tag keeps its times.

Hugging Face logs `train/epoch` again at each evaluation's step, so its kept points are
columns of their own; no series has the axis' times, and they are not kept. A second
epoch tag (a run logging both `epoch` and `train/epoch`) is a series: its times are the
ones written, read live and whole alike, whichever tag is the axis.
"""

from __future__ import annotations

import numpy as np
import pytest
from test_reader_tfevents import VERSION
from test_tfevents_fast_decode import same_result
from test_tfevents_incremental import scalar

from metricwatch.readers.tfevents import EventDirTail, read_event_dir


def step_records(step: int, first: str, second: str) -> bytes:
    """A step's loss and both epoch tags; every third step, both epochs logged again 30 s
    later (an evaluation)."""
    out = [scalar("train/loss", step, 1 / step)]
    out += [scalar(tag, step, step / 10) for tag in (first, second)]
    if step % 3 == 0:
        out += [scalar(tag, step, step / 10, later=30) for tag in (first, second)]
    return b"".join(out)


@pytest.mark.parametrize("first, second", [("epoch", "train/epoch"), ("train/epoch", "epoch")])
def test_the_axis_keeps_no_times_and_the_other_epoch_tag_keeps_its_own(tmp_path, first, second):
    run = tmp_path / "run"
    run.mkdir()
    path = run / "events.out.tfevents.100.h.1.0"
    path.write_bytes(VERSION)
    tail = EventDirTail(run)
    for start, end in ((1, 2), (2, 5), (5, 6), (6, 12), (12, 15)):
        with path.open("ab") as handle:
            handle.write(b"".join(step_records(s, first, second) for s in range(start, end)))
        live = tail.read()
        same_result(live, read_event_dir(run))
    series = live.table.series[second]  # the first epoch tag is the axis
    assert first not in live.table.series
    steps = series.steps.tolist()
    assert steps == list(range(1, 15))
    want = [1.7e9 + s + (30 if s % 3 == 0 else 0) for s in steps]  # the later of a repeat
    assert np.array_equal(series.times, np.asarray(want))
    epochs = np.asarray([s / 10 for s in steps], dtype=np.float32)  # written as float32
    assert np.array_equal(live.table.series["train_loss"].epochs, epochs)
    axis = tail.memo.tags.tags[("", first)]
    assert not axis.timed and axis.own is not None
    assert np.isnan(axis.arrays()[1]).all()  # in no memory
