"""Growing columns: big buffers are memory mappings of their own, grown on staggered ladders,
and what a reader adds it can take back; views handed out never change."""

from __future__ import annotations

import mmap

import numpy as np
import pytest

from metricwatch.readers import columns as columns_module
from metricwatch.readers.columns import MAPPED_BYTES, GrowingColumn

BIG = MAPPED_BYTES // 8  # float64 points that fill a mapped buffer


def _mapped(column: GrowingColumn) -> bool:
    base = column.buffer.base
    return isinstance(base, mmap.mmap) or isinstance(getattr(base, "obj", None), mmap.mmap)


def test_small_columns_stay_on_the_heap_with_a_quarter_of_slack():
    column = GrowingColumn(np.arange(100.0), np.float64)
    assert not _mapped(column) and len(column.buffer) == 125
    column.extend(np.arange(26.0))
    assert len(column.buffer) == int(125 * 1.25) and column.view().tolist()[-1] == 25.0


def test_big_columns_are_mapped_and_views_handed_out_keep_their_points():
    column = GrowingColumn(np.arange(10.0), np.float64)
    views = []
    for start in range(10, 4 * BIG, 997):
        column.extend(np.arange(start, start + 997, dtype=np.float64))
        views.append(column.view())
    assert _mapped(column)
    assert column.view().tolist() == list(range(len(column.view())))
    for view in views:  # each still holds its own points, however often the buffer moved
        assert view.tolist() == list(range(len(view)))
    assert column.view().flags.writeable  # the reader's own; Series make read-only views


def test_mapped_capacity_doubles_on_a_ladder_of_its_own():
    size = 3 * BIG
    first, second = (GrowingColumn(np.zeros(size), np.float64) for _ in range(2))
    for column in (first, second):
        assert size <= len(column.buffer) < 2 * size
    # a column grown past its capacity doubles it (a rung of its ladder) ...
    capacity = len(first.buffer)
    first.extend(np.zeros(capacity - size + 1))
    assert len(first.buffer) == pytest.approx(2 * capacity, abs=1)
    # ... and two columns made one after the other grow at different sizes
    assert len(first.buffer) != len(second.buffer) or capacity != len(second.buffer)
    capacities = {len(GrowingColumn(np.zeros(size), np.float64).buffer) for _ in range(8)}
    assert len(capacities) >= 6


def test_columns_of_a_log_are_replaced_one_at_a_time():
    """Ten columns grown by the same chunks: once mapped, never more than a few of them are
    replaced by one chunk (each replaced buffer lives on while views of it are held)."""
    columns = [GrowingColumn(np.zeros(1000), np.float64) for _ in range(10)]
    most = replaced = 0
    for _ in range(400):
        before = [c.buffer for c in columns]
        for column in columns:
            column.extend(np.zeros(1000))
        moved = [c.buffer is not b for c, b in zip(columns, before) if len(b) * 8 > MAPPED_BYTES]
        most, replaced = max(most, sum(moved)), replaced + sum(moved)
    assert columns[0].size == 401_000 and replaced >= 20 and most <= 3


def test_reserve_makes_room_once_and_truncate_takes_back_only_the_end():
    column = GrowingColumn(np.arange(5, dtype=np.int64), np.int64)
    shown = column.view()
    column.reserve(3 * BIG)
    buffer = column.buffer
    assert len(buffer) >= 3 * BIG and _mapped(column)
    column.extend(np.arange(5, 3 * BIG, dtype=np.int64))
    assert column.buffer is buffer  # no growth: the room was there
    column.truncate(7)
    assert column.view().tolist() == [0, 1, 2, 3, 4, 5, 6] and shown.tolist() == [0, 1, 2, 3, 4]
    column.extend(np.array([70], dtype=np.int64))
    assert column.view().tolist()[-2:] == [6, 70]
    column.reserve(3)  # never shrinks
    assert column.buffer is buffer


def test_without_memory_mappings_the_heap_is_used(monkeypatch):
    def refuse(nbytes):
        raise OSError("no mmap here")

    monkeypatch.setattr(columns_module, "_anonymous", refuse)
    column = GrowingColumn(np.zeros(2 * BIG), np.float64)
    column.extend(np.ones(BIG))
    assert not _mapped(column) and column.view().sum() == BIG
