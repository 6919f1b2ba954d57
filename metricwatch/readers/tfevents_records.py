"""TensorBoard's record framing: the scalars of an event file's bytes, and a file's tail.

An event file is a sequence of records, each framed as
    uint64 length | uint32 masked CRC32C of the length | data | uint32 masked CRC32C of data
with a serialised Event as data (decoded in tfevents_proto). A wrong length CRC ends
the readable part of a file; a wrong data CRC skips that record. Both CRCs are
checked with numpy (a pure-Python CRC32C costs about 0.3 s a megabyte): every
length, and the data of every record short enough to be a scalar (`_CHECKED_DATA`);
a longer record (an image, a graph) is checked only if it holds a scalar.

Bytes are read and decoded in pieces of about `BLOCK` bytes, each piece's scalars
becoming numpy columns before the next is read: a run's peak memory is its columns
plus one piece, not its file plus a Python object per record. In a piece the
records are found with numpy (every offset whose 8 bytes are a plausible length
with a good checksum, then the chain of lengths from the piece's start), the
scalars PyTorch's add_scalar writes are decoded in bulk (tfevents_proto.bulk_scalars)
and every other record by the full decoder, one by one, in file order.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from metricwatch.model import Problem, ProblemKind
from metricwatch.readers.base import quote_key
from metricwatch.readers.tfevents_proto import (
    BulkScalars,
    Malformed,
    ScalarEvent,
    bulk_scalars,
    decode_event,
    int64,
    narrow,
    unaligned,
    varint,
)

# --- CRC32C (Castagnoli), vectorised over records ------------------------------------------


def _crc_table() -> np.ndarray:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
        table.append(crc)
    return np.asarray(table, dtype=np.uint32)


def _word_tables(table: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Two tables of 2^16 entries that advance a CRC by 4 bytes in two look-ups (slicing
    by 4, its byte tables paired): a quarter of the numpy passes of a byte at a time."""
    sliced = [table]
    for _ in range(3):
        sliced.append((sliced[-1] >> 8) ^ table[sliced[-1] & 0xFF])
    pair = np.arange(1 << 16, dtype=np.uint32)
    low = sliced[3][pair & 0xFF] ^ sliced[2][pair >> 8]
    high = sliced[1][pair & 0xFF] ^ sliced[0][pair >> 8]
    return low, high


_CRC_TABLE = _crc_table()
_CRC_LIST = _CRC_TABLE.tolist()
_CRC_LOW, _CRC_HIGH = _word_tables(_CRC_TABLE)
#: Data CRCs of records up to this length are checked in bulk (a scalar event is ~40 bytes).
_CHECKED_DATA = 512
#: Bytes read and decoded at a time (a record longer than that is read whole).
BLOCK = 1 << 20


def masked_crc32c(data: bytes) -> int:
    """The masked CRC32C of one byte string (pure Python: for short or rare inputs)."""
    crc = 0xFFFFFFFF
    for byte in data:
        crc = _CRC_LIST[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    crc ^= 0xFFFFFFFF
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def _masked_crc_at(
    raw: np.ndarray, offsets: np.ndarray, size: int, words: np.ndarray | None = None
) -> np.ndarray:
    """The masked CRC32C of the `size` bytes at each offset (words: raw's uint32 at every
    byte offset, when the caller has them)."""
    words = unaligned(raw, "<u4") if words is None else words
    start = np.full(len(offsets), 0xFFFFFFFF, dtype=np.uint32)
    return _masked(_crc_run(raw, words, offsets, size, start))


def _crc_run(
    raw: np.ndarray, words: np.ndarray, offsets: np.ndarray, size: int, crc: np.ndarray
) -> np.ndarray:
    """The CRC32C states after the `size` bytes at each offset, from states `crc`."""
    column = 0
    while column + 4 <= size:
        crc = crc ^ words[offsets + column]
        crc = _CRC_LOW[crc & 0xFFFF] ^ _CRC_HIGH[crc >> 16]
        column += 4
    for tail in range(column, size):
        crc = _CRC_TABLE[(crc ^ raw[offsets + tail]) & 0xFF] ^ (crc >> 8)
    return crc


def _masked(crc: np.ndarray) -> np.ndarray:
    crc = crc ^ np.uint32(0xFFFFFFFF)
    return ((crc >> 15) | (crc << 17)) + np.uint32(0xA282EAD8)


def _length_crcs() -> np.ndarray:
    """The masked CRC of every length below 2^16 as the 8 bytes of a record's header."""
    raw = np.arange(1 << 16, dtype="<u8").view(np.uint8)
    return _masked_crc_at(raw, np.arange(0, len(raw), 8), 8)


_LENGTH_CRC = _length_crcs()
_ZERO_SHIFTS: dict[int, np.ndarray] = {}


def _zero_shift(count: int) -> np.ndarray:
    """Four byte tables of the (linear) map from a CRC state to the state after `count`
    zero bytes, one per byte of the state."""
    found = _ZERO_SHIFTS.get(count)
    if found is None:
        state = np.arange(256, dtype=np.uint32) << np.asarray([[0], [8], [16], [24]], np.uint32)
        for _ in range(count):
            state = _CRC_TABLE[state & 0xFF] ^ (state >> 8)
        found = _ZERO_SHIFTS[count] = state
    return found


def _crc_from_zero(data: bytes) -> int:
    """The CRC32C state after data from state 0 (its part of any state after it)."""
    crc = 0
    for byte in data:
        crc = _CRC_LIST[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc


def _bulk_bad(raw: np.ndarray, words: np.ndarray, bulk: BulkScalars) -> np.ndarray:
    """Per record bulk_scalars decoded: whether its data CRC is wrong. Records of one tag
    and one size of step differ only in their first bytes (wall_time, step) and last 4
    (value): the CRC runs over those and crosses the bytes between (their tag's) at once.
    CRC is linear: the state after them is the state before them shifted through as many
    zero bytes, xor the state they give from 0."""
    bad = np.zeros(len(bulk.at), dtype=bool)
    key = bulk.groups * 32 + bulk.prefix
    order = np.argsort(narrow(key), kind="stable")
    for rows in np.split(order, np.flatnonzero(np.diff(key[order])) + 1) if len(key) else ():
        at, prefix, size = bulk.at[rows], int(bulk.prefix[rows[0]]), int(bulk.size[rows[0]])
        crc = np.full(len(rows), 0xFFFFFFFF, dtype=np.uint32)
        crc = _crc_run(raw, words, at, prefix, crc)
        first = int(at[0])
        middle = raw[first + prefix : first + size - 4].tobytes()
        shift = _zero_shift(len(middle))
        crc = (
            shift[0][crc & 0xFF]
            ^ shift[1][(crc >> 8) & 0xFF]
            ^ shift[2][(crc >> 16) & 0xFF]
            ^ shift[3][crc >> 24]
            ^ np.uint32(_crc_from_zero(middle))
        )
        crc = _crc_run(raw, words, at + size - 4, 4, crc)
        bad[rows] = _masked(crc) != words[at + size]
    return bad


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


@dataclass
class _Frames:
    """The whole records of a buffer from an offset, as found by _frame."""

    starts: np.ndarray  # offsets of their headers
    end: int  # offset after the last one
    corrupt_at: int = -1  # offset of a header whose length CRC is wrong, where reading stops


def _frame(buf: bytes, raw: np.ndarray, words: np.ndarray, pos: int) -> _Frames:
    """The records from pos, in bulk: the offsets whose 8 bytes are a length that fits,
    with a good length CRC after them, are the candidates; the records are the chain of
    lengths from pos through them (a candidate inside a record's data is stepped over)."""
    size = len(raw)
    if size - pos < 12:
        return _Frames(_NO_INTS, pos)
    lengths = unaligned(raw, "<u8")
    found = np.flatnonzero(lengths[pos : size - 11] < np.uint64(size)) + pos
    if len(found) > (size - pos) // 8:  # odd bytes (long runs of zeros): one by one
        return _walk(buf, raw, words, pos)
    good = found[_length_crc(raw, words, found, lengths) == words[found + 8]]
    after = good + 16 + lengths[good].astype(np.int64)
    breaks = np.flatnonzero(after[:-1] != good[1:])
    runs: list[np.ndarray] = []
    while True:
        first = int(np.searchsorted(good, pos))
        if first == len(good) or good[first] != pos:
            return _finish(buf, raw, words, pos, runs)
        at = int(np.searchsorted(breaks, first))
        last = int(breaks[at]) if at < len(breaks) else len(good) - 1
        fits = after[last] <= size
        runs.append(good[first : last + 1 if fits else last])
        if not fits:
            return _Frames(_joined(runs), int(good[last]))
        pos = int(after[last])


def _length_crc(
    raw: np.ndarray, words: np.ndarray, found: np.ndarray, lengths: np.ndarray
) -> np.ndarray:
    """The masked CRC of the 8 bytes at each offset: a look-up for lengths below 2^16."""
    values = lengths[found]
    short = values < np.uint64(1 << 16)
    if short.all():
        return _LENGTH_CRC[values]
    crc = _masked_crc_at(raw, found, 8, words)
    crc[short] = _LENGTH_CRC[values[short]]
    return crc


def _finish(
    buf: bytes, raw: np.ndarray, words: np.ndarray, pos: int, runs: list[np.ndarray]
) -> _Frames:
    """The records from an offset that is no candidate: the end of the bytes, a wrong
    length CRC, or (rarely) an empty record: walked one by one."""
    rest = _walk(buf, raw, words, pos)
    runs.append(rest.starts)
    return _Frames(_joined(runs), rest.end, rest.corrupt_at)


def _joined(runs: list[np.ndarray]) -> np.ndarray:
    return np.concatenate(runs).astype(np.int64, copy=False) if runs else _NO_INTS


def _walk(buf: bytes, raw: np.ndarray, words: np.ndarray, pos: int) -> _Frames:
    """The records from pos one length at a time, their length CRCs checked afterwards in
    bulk: the first wrong one ends them."""
    size = len(buf)
    starts: list[int] = []
    unpack_length = struct.Struct("<Q").unpack_from
    while pos + 12 <= size:
        end = pos + 16 + unpack_length(buf, pos)[0]
        if end > size:
            break
        starts.append(pos)
        pos = end
    found = np.asarray(starts, dtype=np.int64)
    bad = np.flatnonzero(_masked_crc_at(raw, found, 8, words) != words[found + 8])
    if len(bad):
        return _Frames(found[: bad[0]], int(found[bad[0]]), int(found[bad[0]]))
    header = buf[pos : pos + 12]
    if len(header) == 12 and masked_crc32c(header[:8]) != _HEADER.unpack(header)[1]:
        return _Frames(found, pos, pos)  # not a record cut short: a wrong length
    return _Frames(found, pos)


class _Scanner:
    """One read's decoding state across its pieces: the tags seen, the shapes of event
    learnt for the one-by-one decoder's fast path, and the counts of what was dropped."""

    def __init__(self) -> None:
        self.names: list[str] = []
        self.ids: dict[str, int] = {}
        self.fast: dict[bytes, int] = {}  # the bytes after the step -> tag, one-scalar events
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
        lengths = unaligned(raw, "<u8")[starts].astype(np.int64)
        begins = starts + 12
        bulk = bulk_scalars(raw, begins, lengths)
        bad = _bad_data(raw, words, begins, np.where(bulk.mask, _CHECKED_DATA + 1, lengths))
        bad[bulk.records] = _bulk_bad(raw, words, bulk)
        self.bad_data += int(np.count_nonzero(bad))
        rows = _Rows()
        self._one_by_one(buf, begins, lengths, bulk, rows)
        tag_ids = bulk.tag_ids(rows.group_ids)
        columns = _merged(bulk, tag_ids, rows, raw)
        keep = ~bad[columns[0]]
        out = Chunk(self.names, *(c[keep] if not keep.all() else c for c in columns[1:]))
        out.end = frames.end
        return out

    def past_corruption(self, buf: bytes) -> None:
        """The records after a wrong length CRC, walked by their (untrusted) lengths to
        the end of the file: their scalars are dropped, but what they add to the counts
        (damaged, skipped) and tags is kept, as it always was."""
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
                    self.fast[suffix] = self.id_of(bulk.tags[group])
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
                    step = int64(step)
                    rows.fast(index, tag, step, begin + 1, end - 4)
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
            rows.slow(index, self.id_of(tag), event.step, event.wall_time, value)
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
            self.fast[data[pos:-4]] = self.id_of(event.values[0][0])


class _Rows:
    """The scalars of the records decoded one by one (few: a run's first records, other
    writers' shapes), with the index of their record."""

    def __init__(self) -> None:
        self.group_ids: dict[int, int] = {}  # bulk group -> tag id
        self.index: list[int] = []
        self.tag_ids: list[int] = []
        self.steps: list[int] = []
        self.times: list[float] = []
        self.values: list[float] = []
        self.fast_at: list[tuple[int, int, int]] = []  # (row, wall_time at, value at)

    def slow(self, index: int, tag: int, step: int, time: float, value: float) -> None:
        self.index.append(index)
        self.tag_ids.append(tag)
        self.steps.append(step)
        self.times.append(time)
        self.values.append(value)

    def fast(self, index: int, tag: int, step: int, time_at: int, value_at: int) -> None:
        self.fast_at.append((len(self.index), time_at, value_at))
        self.slow(index, tag, step, 0.0, 0.0)


def _merged(bulk: BulkScalars, tag_ids: np.ndarray, rows: _Rows, raw: np.ndarray) -> tuple:
    """(record index, tag ids, steps, times, values) of the bulk and one-by-one scalars,
    in record order."""
    columns = (bulk.records, tag_ids, bulk.steps, bulk.times, bulk.values)
    if not rows.index:
        return columns
    times = np.asarray(rows.times, dtype=np.float64)
    values = np.asarray(rows.values, dtype=np.float64)
    if rows.fast_at:  # gathered as the bulk values are: the same float32 to float64
        row, time_at, value_at = (np.asarray(c, dtype=np.int64) for c in zip(*rows.fast_at))
        times[row] = unaligned(raw, "<f8")[time_at]
        values[row] = unaligned(raw, "<f4")[value_at]
    index = np.asarray(rows.index, dtype=np.int64)
    extra = (
        index,
        np.asarray(rows.tag_ids, dtype=np.int64),
        np.asarray(rows.steps, dtype=np.int64),
        times,
        values,
    )
    at = np.searchsorted(bulk.records, index)
    return tuple(np.insert(c, at, e) for c, e in zip(columns, extra))


def _bad_data(
    raw: np.ndarray, words: np.ndarray, begins: np.ndarray, lengths: np.ndarray
) -> np.ndarray:
    """Per record: whether it is up to _CHECKED_DATA bytes long and its data CRC is wrong."""
    bad = np.zeros(len(begins), dtype=bool)
    small = np.flatnonzero(lengths <= _CHECKED_DATA)
    order = small[np.argsort(narrow(lengths[small]), kind="stable")]
    bounds = np.flatnonzero(np.diff(lengths[order])) + 1
    for group in np.split(order, bounds) if len(order) else ():
        length = int(lengths[group[0]])
        at = begins[group]
        stored = words[at + length]
        bad[group] = _masked_crc_at(raw, at, length, words) != stored
    return bad


def _pieces(read: Callable[[int], bytes], scanner: _Scanner, into: Chunk) -> Iterator[Chunk]:
    """The scalars of the bytes `read` gives, a piece at a time; `into` gets the counts and
    where reading ended (end, pending, corrupt_at: offsets from the first byte read)."""
    buf, offset, want = b"", 0, BLOCK
    while True:
        more = read(want)
        eof = not more
        buf = buf + more if buf else more
        del more  # one copy of the bytes at a time
        raw = np.frombuffer(buf, dtype=np.uint8)
        words = unaligned(raw, "<u4")
        frames = _frame(buf, raw, words, 0)
        if len(frames.starts):
            piece = scanner.piece(buf, frames, raw, words)
            piece.end = offset + frames.end  # from the first byte read
            yield piece
        del raw, words
        into.end = offset + frames.end
        if frames.corrupt_at >= 0:
            into.corrupt_at = offset + frames.corrupt_at
            scanner.past_corruption(buf[frames.corrupt_at :] + _rest(read))
            break
        buf, offset = buf[frames.end :], offset + frames.end
        if eof:
            into.pending = len(buf)
            break
        want = max(BLOCK, len(buf))  # a record longer than a block: read it whole
    into.names = scanner.names
    into.bad_data, into.undecodable = scanner.bad_data, scanner.undecodable
    into.skipped = scanner.skipped


def _rest(read: Callable[[int], bytes]) -> bytes:
    parts = []
    while more := read(BLOCK):
        parts.append(more)
    return b"".join(parts)


def scan_pieces(buf: bytes, start: int = 0) -> tuple[Chunk, Iterator[Chunk]]:
    """scan in pieces: (the totals, filled once the pieces are consumed; the pieces)."""
    view = memoryview(buf)
    at = start

    def read(size: int) -> bytes:
        nonlocal at
        more = bytes(view[at : at + size])
        at += len(more)
        return more

    total = Chunk()
    pieces = _pieces(read, _Scanner(), total)

    def shifted() -> Iterator[Chunk]:
        yield from pieces
        total.end += start
        total.corrupt_at = total.corrupt_at + start if total.corrupt_at >= 0 else -1

    return total, shifted()


def scan(buf: bytes, start: int = 0) -> Chunk:
    """Every scalar in the whole records of buf from offset start. Never raises."""
    total, pieces = scan_pieces(buf, start)
    return _concatenated(total, list(pieces))


def _concatenated(total: Chunk, pieces: list[Chunk]) -> Chunk:
    """The pieces' columns as one chunk with the totals' counts."""
    if pieces:
        total.tag_ids, total.steps, total.times, total.values = (
            np.concatenate([getattr(p, name) for p in pieces])
            for name in ("tag_ids", "steps", "times", "values")
        )
    return total


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
        self.failed = False  # the last read met an OS error
        self.expected = 0  # the bytes the last read expected to find
        self.problems: list[Problem] = []
        self.skipped = 0

    def read_new(self) -> list[tuple[str, int, float, float]]:
        return self.read_chunk().rows()

    def read_chunk(self, sink: Callable[[Chunk], None] | None = None) -> Chunk:
        """The new scalars as columns; with a sink, each piece goes to it as it is decoded
        and the chunk returned holds only the counts (what EventDirTail uses)."""
        self.reset = self.failed = False
        total = Chunk(end=0)
        pieces: list[Chunk] = []
        try:
            with open(self.path, "rb") as handle:
                stat = os.fstat(handle.fileno())
                identity = (stat.st_dev, stat.st_ino)
                if identity != self.identity or stat.st_size < self.offset:
                    self.reset = self.identity is not None
                    self.identity, self.offset, self.skipped = identity, 0, 0
                self.expected = stat.st_size - self.offset
                handle.seek(self.offset)
                for piece in _pieces(handle.read, _Scanner(), total):
                    (sink or pieces.append)(piece)
        except OSError as error:
            self.failed = True  # what a sink was given is not to be kept: read again
            self.problems = [
                Problem(ProblemKind.UNREADABLE, f"{self.path.name}: {error.strerror or error}")
            ]
            return Chunk(end=self.offset)
        start = self.offset
        self.offset += total.end
        self.skipped += total.skipped
        total.corrupt_at = total.corrupt_at + start if total.corrupt_at >= 0 else -1
        self.problems = _chunk_problems(total, quote_key(self.path.name))
        return _concatenated(total, pieces)


def sniff(head: bytes) -> bool:
    """An event file starts with a record whose length checksum holds (or is cut short)."""
    if len(head) < 12:
        return True
    length, crc = _HEADER.unpack_from(head, 0)
    return masked_crc32c(head[:8]) == crc and length < 1 << 40
