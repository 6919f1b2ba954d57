"""One read's decoding of framed records into scalar columns (a Chunk per piece).

The scalars PyTorch's add_scalar writes are decoded in bulk (tfevents_bulk) and every
other record by the full decoder (tfevents_proto), one by one, in file order, with a
fast path for the shapes of event it has learnt; both kinds are merged into columns
in record order, the records with a wrong data CRC (tfevents_framing) dropped.

A live run's write is a few records: they are decoded one by one in Python (_few), by
the shapes the file's earlier reads learnt (EventFileTail keeps them), so that a write
costs ~2 us a record, not the full decoder's ~25 us for the first record of each tag.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

import numpy as np

from metricwatch.readers.tfevents_bulk import BulkScalars, bulk_scalars, unaligned
from metricwatch.readers.tfevents_crc import masked_crc32c
from metricwatch.readers.tfevents_framing import (
    _CHECKED_DATA,
    _NO_INTS,
    _bad_data,
    _bulk_bad,
    _Frames,
)
from metricwatch.readers.tfevents_proto import (
    Malformed,
    ScalarEvent,
    decode_event,
    int64,
    varint,
)

_NO_FLOATS = np.empty(0, dtype=np.float64)
#: The fast path's wall_time and value: the value's float32 made a float64 by the same C
#: cast numpy's bulk decoding makes (NaN payloads included).
_TIME = struct.Struct("<d").unpack_from
_VALUE = struct.Struct("<f").unpack_from
#: A piece of at most this many records (and 128 bytes a record) is decoded one record at
#: a time (see _few): in Python, ~15 us a scalar record, where bulk decoding costs ~0.5 ms.
FEW_RECORDS = 16


@dataclass
class Chunk:
    """Scalars of a stretch of one file, as columns, and where the last whole record ends."""

    names: list[str] = field(default_factory=list)  # the tags, in first-seen order
    tag_ids: np.ndarray = field(default_factory=lambda: _NO_INTS)  # index into names
    steps: np.ndarray = field(default_factory=lambda: _NO_INTS)
    times: np.ndarray = field(default_factory=lambda: _NO_FLOATS)
    values: np.ndarray = field(default_factory=lambda: _NO_FLOATS)
    end: int = 0  # offset after the last complete record read
    pending: int = 0  # bytes of a record cut short at the end
    corrupt_at: int = -1  # offset of a record whose length CRC is wrong: reading stops there
    bad_data: int = 0  # records skipped for a wrong data CRC
    undecodable: int = 0  # records with a valid CRC that are not an Event
    skipped: int = 0  # non-scalar values

    def rows(self) -> list[tuple[str, int, float, float]]:
        tags = [self.names[i] for i in self.tag_ids.tolist()]
        return list(zip(tags, self.steps.tolist(), self.times.tolist(), self.values.tolist()))


class _Scanner:
    """One read's decoding state across its pieces: the tags seen, the shapes of event
    learnt for the one-by-one decoder's fast path, and the counts of what was dropped.

    shapes: the shapes learnt by earlier reads of the file (EventFileTail keeps them): a
    live run's write is then decoded by the fast path, where a new read learning them
    again sent every record of a write through the full decoder."""

    def __init__(self, shapes: dict[bytes, str] | None = None) -> None:
        self.names: list[str] = []
        self.ids: dict[str, int] = {}
        #: the bytes after the step -> tag, of one-scalar events
        self.fast: dict[bytes, str] = shapes if shapes is not None else {}
        self.bad_data = self.undecodable = self.skipped = 0

    def id_of(self, tag: str) -> int:
        found = self.ids.get(tag)
        if found is None:
            found = self.ids[tag] = len(self.names)
            self.names.append(tag)
        return found

    def piece(self, buf: bytes, frames: _Frames, raw: np.ndarray, words: np.ndarray) -> Chunk:
        """The scalars of the framed records of buf, in file order, as columns."""
        starts = frames.starts
        if len(starts) <= FEW_RECORDS and frames.end <= FEW_RECORDS * 128:
            return self._few(buf, starts.tolist(), frames.end)
        lengths = unaligned(raw, "<u8")[starts].astype(np.int64)
        begins = starts + 12
        bulk = bulk_scalars(raw, begins, lengths)
        bad = _bad_data(raw, words, begins, np.where(bulk.mask, _CHECKED_DATA + 1, lengths))
        bad[bulk.records] = _bulk_bad(raw, words, bulk)
        self.bad_data += int(np.count_nonzero(bad))
        rows = _Rows()
        self._one_by_one(buf, begins, lengths, bulk, rows)
        tag_ids = bulk.tag_ids(rows.group_ids)
        columns = _merged(bulk, tag_ids, rows)
        keep = ~bad[columns[0]]
        out = Chunk(self.names, *(c[keep] if not keep.all() else c for c in columns[1:]))
        out.end = frames.end
        return out

    def _few(self, buf: bytes, starts: list[int], end: int) -> Chunk:
        """piece, for a few records (a live run's read): each through the one-by-one
        decoder and its data CRC checked in Python, where the bulk decoder's and the bulk
        checks' fixed costs (~0.5 ms) would be most of the read. What the bulk path
        gives: the same scalars, tags in the same order, the same counts."""
        rows, bad = _Rows(), set()
        for index, start in enumerate(starts):
            begin = start + 12
            stop = begin + int.from_bytes(buf[start : start + 8], "little")
            if stop - begin <= _CHECKED_DATA and masked_crc32c(buf[begin:stop]) != int.from_bytes(
                buf[stop : stop + 4], "little"
            ):
                bad.add(index)
            self._record(buf, begin, stop, index, rows)
        self.bad_data += len(bad)
        columns = _row_columns(rows.dropped(bad) if bad else rows)
        out = Chunk(self.names, *columns[1:])
        out.end = end
        return out

    def past_corruption(self, buf: bytes) -> None:
        """The records after a wrong length CRC, walked by their (untrusted) lengths to
        the end of the file: their scalars are dropped, but what they add to the counts
        (damaged, skipped) and tags is kept, as it always was. The shapes they teach are
        not kept for the file's next reads, which walk them again."""
        self.fast = dict(self.fast)
        rows = _Rows()
        pos = 0
        while pos + 12 <= len(buf):
            end = pos + 16 + int.from_bytes(buf[pos : pos + 8], "little")
            if end > len(buf):
                break
            self._record(buf, pos + 12, end - 4, -1, rows)
            pos = end
            if len(rows.index) > 4096:
                rows = _Rows()  # not kept: only what they did to the counts

    def _one_by_one(
        self, buf: bytes, begins: np.ndarray, lengths: np.ndarray, bulk: BulkScalars, rows: _Rows
    ) -> None:
        """The records bulk_scalars left, through the full decoder, in file order; between
        them, what the bulk records would have done to the decoder's state had they been
        read one by one (a tag first seen, a shape learnt for the fast path)."""
        others = np.flatnonzero(~bulk.mask).tolist()
        marks = [(index, 0, group) for group, index in enumerate(bulk.first.tolist())]
        learn = enumerate(bulk.learn.tolist())
        marks += [(index, 1, group) for group, index in learn if index >= 0]
        marks += [(index, 2, -1) for index in others]
        marks.sort()
        for index, kind, group in marks:
            if kind == 0:
                rows.group_ids[group] = self.id_of(bulk.tags[group])
            elif kind == 1:
                suffix = bulk.suffix(group)
                if suffix not in self.fast and len(self.fast) < 10_000:
                    self.fast[suffix] = bulk.tags[group]
            else:
                begin = int(begins[index])
                self._record(buf, begin, begin + int(lengths[index]), index, rows)

    def _record(self, buf: bytes, begin: int, end: int, index: int, rows: _Rows) -> None:
        """One record: the fast path when its shape was learnt, else the full decoder."""
        if end - begin > 14 and buf[begin] == 0x09 and buf[begin + 9] == 0x10:
            try:
                step, at = varint(buf, begin + 10)
            except Malformed:
                at = end
            if at <= end - 4:
                tag = self.fast.get(buf[at : end - 4])
                if tag is not None:
                    time, value = _TIME(buf, begin + 1)[0], _VALUE(buf, end - 4)[0]
                    rows.add(index, self.id_of(tag), int64(step), time, value)
                    return
        self._slow(buf, begin, end, index, rows)

    def _slow(self, buf: bytes, begin: int, end: int, index: int, rows: _Rows) -> None:
        """Decode one record with the full decoder, and learn its shape for the fast path."""
        data = buf[begin:end]
        try:
            event = decode_event(data)
        except Malformed:
            self.undecodable += 1
            return
        if (
            len(data) > _CHECKED_DATA
            and event.values
            and masked_crc32c(data) != int.from_bytes(buf[end : end + 4], "little")
        ):
            self.bad_data += 1
            return
        self.skipped += event.skipped
        for tag, value in event.values:
            rows.add(index, self.id_of(tag), event.step, event.wall_time, value)
        if event.simple_at == -1 and len(event.values) == 1 and data[0] == 0x09:
            self._learn(data, event)

    def _learn(self, data: bytes, event: ScalarEvent) -> None:
        """Remember this event's shape when its only value is a simple_value in the last
        4 bytes."""
        if len(data) < 15 or data[9] != 0x10 or data[-5] != 0x15:
            return
        try:
            _, pos = varint(data, 10)
        except Malformed:
            return
        if pos > len(data) - 4 or struct.unpack("<f", data[-4:])[0] != event.values[0][1]:
            return  # NaN compares unequal: such an event simply takes the slow path
        if len(self.fast) < 10_000:
            self.fast[data[pos:-4]] = event.values[0][0]


class _Rows:
    """The scalars of the records decoded one by one (few: a run's first records, other
    writers' shapes, a live run's writes), with the index of their record."""

    def __init__(self) -> None:
        self.group_ids: dict[int, int] = {}  # bulk group -> tag id
        self.index: list[int] = []
        self.tag_ids: list[int] = []
        self.steps: list[int] = []
        self.times: list[float] = []
        self.values: list[float] = []

    def add(self, index: int, tag: int, step: int, time: float, value: float) -> None:
        self.index.append(index)
        self.tag_ids.append(tag)
        self.steps.append(step)
        self.times.append(time)
        self.values.append(value)

    def dropped(self, bad: set[int]) -> _Rows:
        """These rows less those of the records in `bad`."""
        kept = _Rows()
        for row in zip(self.index, self.tag_ids, self.steps, self.times, self.values):
            if row[0] not in bad:
                kept.add(*row)
        return kept


def _merged(bulk: BulkScalars, tag_ids: np.ndarray, rows: _Rows) -> tuple:
    """(record index, tag ids, steps, times, values) of the bulk and one-by-one scalars,
    in record order."""
    columns = (bulk.records, tag_ids, bulk.steps, bulk.times, bulk.values)
    if not rows.index:
        return columns
    extra = _row_columns(rows)
    at = np.searchsorted(bulk.records, extra[0])
    return tuple(np.insert(c, at, e) for c, e in zip(columns, extra))


def _row_columns(rows: _Rows) -> tuple[np.ndarray, ...]:
    """(record index, tag ids, steps, times, values) of the scalars decoded one by one."""
    return (
        np.asarray(rows.index, dtype=np.int64),
        np.asarray(rows.tag_ids, dtype=np.int64),
        np.asarray(rows.steps, dtype=np.int64),
        np.asarray(rows.times, dtype=np.float64),
        np.asarray(rows.values, dtype=np.float64),
    )
