"""TensorBoard's record framing: finding an event file's records and checking them.

An event file is a sequence of records, each framed as
    uint64 length | uint32 masked CRC32C of the length | data | uint32 masked CRC32C of data
with a serialised Event as data. A wrong length CRC ends the readable part of a file;
a wrong data CRC skips that record. In a buffer the records are found with numpy
(`_frame`: every offset whose 8 bytes are a plausible length with a good checksum,
then the chain of lengths from the start), and the data CRCs are checked in bulk
(tfevents_crc): every record short enough to be a scalar (`_CHECKED_DATA`,
`_bad_data`), and the scalars bulk-decoded by tfevents_bulk (`_bulk_bad`); a longer
record (an image, a graph) is checked only if it holds a scalar (tfevents_scanner).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np

from metricwatch.readers.tfevents_bulk import BulkScalars, narrow, unaligned
from metricwatch.readers.tfevents_crc import (
    _LENGTH_CRC,
    _crc_from_zero,
    _crc_run,
    _masked,
    _masked_crc_at,
    _zero_shift,
    masked_crc32c,
    masked_length_crc,
)

#: Data CRCs of records up to this length are checked in bulk (a scalar event is ~40 bytes).
_CHECKED_DATA = 512
_HEADER = struct.Struct("<QI")
_NO_INTS = np.empty(0, dtype=np.int64)
#: Bytes from which on records are found with numpy; fewer are walked in Python (_walk_few).
FEW_BYTES = 1024


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
    if size - pos <= FEW_BYTES:
        return _walk_few(buf, pos)
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


def _walk_few(buf: bytes, pos: int) -> _Frames:
    """_walk for a few records (a live run's read), each length CRC checked in Python as it
    comes: numpy's fixed costs would be most of the read. The same records, end and
    corrupt_at as _walk."""
    size = len(buf)
    starts: list[int] = []
    while pos + 12 <= size:
        length, length_crc = _HEADER.unpack_from(buf, pos)
        if masked_length_crc(buf[pos : pos + 8], length) != length_crc:
            return _Frames(np.asarray(starts, dtype=np.int64), pos, pos)
        end = pos + 16 + length
        if end > size:
            break
        starts.append(pos)
        pos = end
    return _Frames(np.asarray(starts, dtype=np.int64), pos)


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


def sniff(head: bytes) -> bool:
    """An event file starts with a record whose length checksum holds (or is cut short)."""
    if len(head) < 12:
        return True
    length, crc = _HEADER.unpack_from(head, 0)
    return masked_crc32c(head[:8]) == crc and length < 1 << 40
