"""TensorBoard's record framing: the scalars of an event file's bytes, and a file's tail.

An event file is a sequence of records, each framed as
    uint64 length | uint32 masked CRC32C of the length | data | uint32 masked CRC32C of data
with a serialised Event as data (decoded in tfevents_proto). Both CRCs are
checked, vectorised with numpy (a pure-Python CRC32C costs about 0.3 s a
megabyte): every length, and the data of every record short enough to be a
scalar (`_CHECKED_DATA`); a longer record (an image, a graph) is checked only
if it holds a scalar. A wrong length CRC ends the readable part of a file; a
wrong data CRC skips that record.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from metricwatch.model import Problem, ProblemKind
from metricwatch.readers.base import quote_key
from metricwatch.readers.tfevents_proto import Malformed, ScalarEvent, decode_event, varint

# --- CRC32C (Castagnoli), vectorised over records ------------------------------------------


def _crc_table() -> np.ndarray:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
        table.append(crc)
    return np.asarray(table, dtype=np.uint32)


_CRC_TABLE = _crc_table()
_CRC_LIST = _CRC_TABLE.tolist()
#: Data CRCs of records up to this length are checked in bulk (a scalar event is ~40 bytes).
_CHECKED_DATA = 512


def masked_crc32c(data: bytes) -> int:
    """The masked CRC32C of one byte string (pure Python: for short or rare inputs)."""
    crc = 0xFFFFFFFF
    for byte in data:
        crc = _CRC_LIST[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    crc ^= 0xFFFFFFFF
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


# --- records ---------------------------------------------------------------------------------

_HEADER = struct.Struct("<QI")


_NO_INTS = np.empty(0, dtype=np.int64)
_NO_FLOATS = np.empty(0, dtype=np.float64)


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


def _gather(raw: np.ndarray, offsets: np.ndarray, size: int) -> np.ndarray:
    """The `size` bytes at each offset, as the rows of a 2-D uint8 array (column by
    column: no index array `size` times as large as offsets)."""
    rows = np.empty((len(offsets), size), dtype=np.uint8)
    for column in range(size):
        rows[:, column] = raw[offsets + column]
    return rows


def _masked_crc_at(raw: np.ndarray, offsets: np.ndarray, size: int) -> np.ndarray:
    """The masked CRC32C of the `size` bytes at each offset."""
    crc = np.full(len(offsets), 0xFFFFFFFF, dtype=np.uint32)
    for column in range(size):
        crc = _CRC_TABLE[(crc ^ raw[offsets + column]) & 0xFF] ^ (crc >> 8)
    crc ^= np.uint32(0xFFFFFFFF)
    return ((crc >> 15) | (crc << 17)) + np.uint32(0xA282EAD8)


def _trusted(raw: np.ndarray, starts: np.ndarray, chunk: Chunk) -> int:
    """How many of the records at starts come before the first wrong length CRC."""
    if not len(starts):
        return 0
    stored = _gather(raw, starts + 8, 4).view("<u4").ravel()
    bad = np.flatnonzero(_masked_crc_at(raw, starts, 8) != stored)
    if not len(bad):
        return len(starts)
    chunk.corrupt_at = int(starts[bad[0]])
    return int(bad[0])


def _bad_data(raw: np.ndarray, begins: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Data offsets of the records of up to _CHECKED_DATA bytes whose data CRC is wrong."""
    bad = []
    for length in np.unique(lengths[lengths <= _CHECKED_DATA]).tolist():
        group = begins[lengths == length]
        stored = _gather(raw, group + length, 4).view("<u4").ravel()
        bad.append(group[_masked_crc_at(raw, group, length) != stored])
    return np.concatenate(bad) if bad else _NO_INTS


class _Found:
    """What one pass over the records collected, before the checksums are checked."""

    def __init__(self) -> None:
        self.record_starts: list[int] = []
        self.names: list[str] = []
        self.ids: dict[str, int] = {}
        self.tag_ids: list[int] = []
        self.steps: list[int] = []
        self.where: list[int] = []  # fast path: the data offset; else -1 - slow index
        self.slow_times: list[float] = []
        self.slow_values: list[float] = []
        self.slow_begins: list[int] = []

    def id_of(self, tag: str) -> int:
        found = self.ids.get(tag)
        if found is None:
            found = self.ids[tag] = len(self.names)
            self.names.append(tag)
        return found


def scan(buf: bytes, start: int = 0) -> Chunk:
    """Every scalar in the whole records of buf from offset start. Never raises.

    One pass decodes the records, with a fast path for the events PyTorch's
    add_scalar writes (only the step is decoded in Python; wall_time and value
    are gathered by numpy afterwards); then both CRCs are checked in bulk and
    the scalars of records that fail them are dropped.
    """
    chunk = Chunk(end=start)
    found = _Found()
    pos = _walk(buf, start, chunk, found)
    size = len(buf)
    chunk.end = pos
    raw = np.frombuffer(buf, dtype=np.uint8)
    starts = np.asarray(found.record_starts, dtype=np.int64)
    trusted = _trusted(raw, starts, chunk)
    if chunk.corrupt_at >= 0:
        chunk.end = chunk.corrupt_at
        starts = starts[:trusted]
    elif pos < size:
        header = buf[pos : pos + 12]
        if len(header) == 12 and masked_crc32c(header[:8]) != _HEADER.unpack(header)[1]:
            chunk.corrupt_at = chunk.end = pos  # not a record cut short: a wrong length
        else:
            chunk.pending = size - pos
    if found.tag_ids:
        _columns(chunk, raw, starts, found)
    return chunk


def _walk(buf: bytes, pos: int, chunk: Chunk, found: _Found) -> int:
    """Decode records from pos; returns the offset after the last whole record."""
    size = len(buf)
    record_starts, tag_ids, steps, where = (
        found.record_starts,
        found.tag_ids,
        found.steps,
        found.where,
    )
    fast: dict[bytes, int] = {}  # the bytes after the step -> tag, for one-scalar events
    unpack_length = struct.Struct("<Q").unpack_from
    while pos + 12 <= size:
        begin = pos + 12
        end = begin + unpack_length(buf, pos)[0]
        if end + 4 > size:
            break
        record_starts.append(pos)
        pos = end + 4
        # Fast path: wall_time (tag 0x09), step (0x10), then a summary seen before whose
        # only value is a simple_value in the last 4 bytes.
        if end - begin > 14 and buf[begin] == 0x09 and buf[begin + 9] == 0x10:
            at = begin + 10
            step = buf[at]
            if step < 0x80:
                at += 1
            elif buf[at + 1] < 0x80:
                step, at = (step & 0x7F) | buf[at + 1] << 7, at + 2
            elif buf[at + 2] < 0x80:
                step = (step & 0x7F) | (buf[at + 1] & 0x7F) << 7 | buf[at + 2] << 14
                at += 3
            else:
                try:
                    step, at = varint(buf, at)
                except Malformed:
                    at = end
            if at <= end - 4:
                tag = fast.get(buf[at : end - 4])
                if tag is not None:
                    tag_ids.append(tag)
                    steps.append(step if step < 1 << 63 else step - (1 << 64))
                    where.append(begin)
                    continue
        _slow(buf, begin, end, chunk, found, fast)
    return pos


def _slow(
    buf: bytes, begin: int, end: int, chunk: Chunk, found: _Found, fast: dict[bytes, int]
) -> None:
    """Decode one record with the full decoder, and learn its shape for the fast path."""
    data = buf[begin:end]
    try:
        event = decode_event(data)
    except Malformed:
        chunk.undecodable += 1
        return
    if (
        len(data) > _CHECKED_DATA
        and event.values
        and masked_crc32c(data) != int.from_bytes(buf[end : end + 4], "little")
    ):
        chunk.bad_data += 1
        return
    chunk.skipped += event.skipped
    for tag, value in event.values:
        found.tag_ids.append(found.id_of(tag))
        found.steps.append(event.step)
        found.where.append(-1 - len(found.slow_times))
        found.slow_times.append(event.wall_time)
        found.slow_values.append(value)
        found.slow_begins.append(begin)
    if event.simple_at == -1 and len(event.values) == 1 and data[0] == 0x09:
        _learn(fast, data, event, found)


def _columns(chunk: Chunk, raw: np.ndarray, starts: np.ndarray, found: _Found) -> None:
    """The chunk's columns: the fast path's numbers gathered, untrusted records dropped."""
    at = np.asarray(found.where, dtype=np.int64)
    is_fast = at >= 0
    slow = -1 - at[~is_fast]
    begins = at.copy()
    begins[~is_fast] = np.asarray(found.slow_begins, dtype=np.int64)[slow]
    record_begins = starts + 12
    lengths = _gather(raw, starts, 8).view("<u8").ravel().astype(np.int64)
    keep = begins <= (record_begins[-1] if len(starts) else -1)  # before a wrong length
    drop = _bad_data(raw, record_begins, lengths)
    if len(drop):
        chunk.bad_data += len(drop)
        keep &= ~np.isin(begins, drop)
    times = np.zeros(len(at), dtype=np.float64)
    values = np.zeros(len(at), dtype=np.float64)
    fast_index = np.flatnonzero(is_fast & keep)
    if len(fast_index):
        fast_at = at[fast_index]
        fast_lengths = lengths[np.searchsorted(record_begins, fast_at)]
        times[fast_index] = _gather(raw, fast_at + 1, 8).view("<f8").ravel()
        values[fast_index] = _gather(raw, fast_at + fast_lengths - 4, 4).view("<f4").ravel()
    if len(slow):
        times[~is_fast] = np.asarray(found.slow_times, dtype=np.float64)[slow]
        values[~is_fast] = np.asarray(found.slow_values, dtype=np.float64)[slow]
    all_kept = bool(keep.all())
    chunk.names = found.names
    chunk.tag_ids = np.asarray(found.tag_ids, dtype=np.int64)
    chunk.steps = np.asarray(found.steps, dtype=np.int64)
    chunk.times, chunk.values = times, values
    if not all_kept:
        chunk.tag_ids, chunk.steps = chunk.tag_ids[keep], chunk.steps[keep]
        chunk.times, chunk.values = times[keep], values[keep]


def _learn(fast: dict[bytes, int], data: bytes, event: ScalarEvent, found: _Found) -> None:
    """Remember this event's shape when its only value is a simple_value in the last 4 bytes."""
    if len(data) < 15 or data[9] != 0x10 or data[-5] != 0x15:
        return
    try:
        _, pos = varint(data, 10)
    except Malformed:
        return
    if pos > len(data) - 4 or struct.unpack("<f", data[-4:])[0] != event.values[0][1]:
        return  # NaN compares unequal: such an event simply takes the slow path
    if len(fast) < 10_000:
        fast[data[pos:-4]] = found.id_of(event.values[0][0])


def parse_events(data: bytes) -> tuple[list[tuple[str, int, float, float]], list[Problem]]:
    """Every scalar of an event file's bytes: [(tag, step, wall_time, value)], problems."""
    chunk = scan(data)
    problems = _chunk_problems(chunk, "the event file")
    if not data:
        problems.append(Problem(ProblemKind.EMPTY, "the event file is empty"))
    return chunk.rows(), problems


def _chunk_problems(chunk: Chunk, name: str) -> list[Problem]:
    problems = []
    if chunk.corrupt_at == 0:
        problems.append(
            Problem(ProblemKind.NOT_OURS, f"{name} does not start with a TensorBoard record")
        )
    elif chunk.corrupt_at > 0:
        problems.append(
            Problem(
                ProblemKind.UNREADABLE,
                f"{name} is corrupt at byte {chunk.corrupt_at} (the record length's checksum "
                "is wrong); read the records before it",
            )
        )
    if chunk.pending:
        problems.append(
            Problem(
                ProblemKind.TRUNCATED,
                f"{name} ends in a record cut short ({chunk.pending} bytes; a write in "
                "progress?); read the records before it",
            )
        )
    if chunk.bad_data or chunk.undecodable:
        problems.append(
            Problem(
                ProblemKind.UNREADABLE,
                f"{name}: skipped {chunk.bad_data + chunk.undecodable} damaged records "
                "(wrong checksum or not an event)",
            )
        )
    return problems


# --- one file, read as it grows --------------------------------------------------------------


class EventFileTail:
    """One event file and its read offset: each read_new() returns only new scalars.

    A record cut short at the end is not an error: the offset stays before it
    and the next call retries. A file replaced (new inode) or shrunk is read
    again from the start (`reset` tells the caller to drop what it had).
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.offset = 0
        self.identity: tuple[int, int] | None = None
        self.reset = False
        self.problems: list[Problem] = []
        self.skipped = 0

    def read_new(self) -> list[tuple[str, int, float, float]]:
        return self.read_chunk().rows()

    def read_chunk(self) -> Chunk:
        """The new scalars as columns (what read_event_dir uses)."""
        self.reset = False
        try:
            with open(self.path, "rb") as handle:
                stat = os.fstat(handle.fileno())
                identity = (stat.st_dev, stat.st_ino)
                if identity != self.identity or stat.st_size < self.offset:
                    self.reset = self.identity is not None
                    self.identity, self.offset, self.skipped = identity, 0, 0
                handle.seek(self.offset)
                data = handle.read()
        except OSError as error:
            self.problems = [
                Problem(ProblemKind.UNREADABLE, f"{self.path.name}: {error.strerror or error}")
            ]
            return Chunk(end=self.offset)
        chunk = scan(data)
        self.offset += chunk.end
        self.skipped += chunk.skipped
        chunk.corrupt_at = (
            chunk.corrupt_at + self.offset - chunk.end if chunk.corrupt_at >= 0 else -1
        )
        self.problems = _chunk_problems(chunk, quote_key(self.path.name))
        return chunk


def sniff(head: bytes) -> bool:
    """An event file starts with a record whose length checksum holds (or is cut short)."""
    if len(head) < 12:
        return True
    length, crc = _HEADER.unpack_from(head, 0)
    return masked_crc32c(head[:8]) == crc and length < 1 << 40
