"""An event file's scalars read in pieces: scan, parse_events, and a file's tail.

Bytes are read and decoded in pieces of about `BLOCK` bytes, each piece's scalars
becoming numpy columns before the next is read: a run's peak memory is its columns
plus one piece, not its file plus a Python object per record. Each piece is framed
and checked (tfevents_framing) and decoded (tfevents_scanner); this module chains the
pieces, keeps the offsets (a record cut short at the end, a wrong length CRC), turns
the counts into problems, and tails one growing file (EventFileTail).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from metricwatch.model import Problem, ProblemKind
from metricwatch.readers.base import quote_key
from metricwatch.readers.tfevents_bulk import unaligned
from metricwatch.readers.tfevents_framing import _frame
from metricwatch.readers.tfevents_scanner import Chunk, _Scanner

#: Bytes read and decoded at a time (a record longer than that is read whole).
BLOCK = 1 << 20
__all__ = ["BLOCK", "EventFileTail", "parse_events", "scan", "scan_pieces"]


def _pieces(
    read: Callable[[int], bytes], scanner: _Scanner, into: Chunk, size: int | None = None
) -> Iterator[Chunk]:
    """The scalars of the bytes `read` gives, a piece at a time; `into` gets the counts and
    where reading ended (end, pending, corrupt_at: offsets from the first byte read).
    size: the bytes there are to read, when known (a file's, at its stat): no more are
    asked for, as a read of a block allocates a block (~50 us for a live run's write)."""
    buf, offset, want, left = b"", 0, BLOCK, size
    while True:
        ask = want if left is None else min(want, left)
        more = read(ask)
        # a short read is the end (of a regular file, or of scan's bytes), as is the size:
        # not read again to find nothing, which framed an empty piece at every live read
        left = None if left is None else left - len(more)
        eof = len(more) < ask or left == 0
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


class _Opened:
    """A file open for reading, by its descriptor: a live read makes 5 system calls (open,
    stat, seek, read, close), where a buffered file made 8 (its own stat and seek, and a
    read more to find the end), each a release of the GIL that the app's other threads
    take, and a cold cache after."""

    def __init__(self, path: Path) -> None:
        self.fd = os.open(path, os.O_RDONLY | getattr(os, "O_BINARY", 0))

    def __enter__(self) -> _Opened:
        return self

    def __exit__(self, *_: object) -> None:
        os.close(self.fd)

    def read(self, size: int) -> bytes:
        """size bytes, fewer only at the end (as a buffered file's read)."""
        data = os.read(self.fd, size)
        if len(data) == size or not data:
            return data
        parts, got = [data], len(data)
        while got < size:
            more = os.read(self.fd, size - got)
            if not more:
                break
            parts.append(more)
            got += len(more)
        return b"".join(parts)


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
        self.mtime: float | None = None  # the file's mtime at the last read
        self.quoted = quote_key(self.path.name)  # for its problems (a grapheme walk: once)
        #: the shapes of event learnt from the records before the offset (_Scanner): the
        #: file's reads decode as one read of it does
        self.shapes: dict[bytes, str] = {}

    def read_new(self) -> list[tuple[str, int, float, float]]:
        return self.read_chunk().rows()

    def read_chunk(self, sink: Callable[[Chunk], None] | None = None) -> Chunk:
        """The new scalars as columns; with a sink, each piece goes to it as it is decoded
        and the chunk returned holds only the counts (what EventDirTail uses)."""
        self.reset = self.failed = False
        self.mtime = None
        total = Chunk(end=0)
        pieces: list[Chunk] = []
        learnt = len(self.shapes)
        try:
            with _Opened(self.path) as handle:
                stat = os.fstat(handle.fd)
                self.mtime = stat.st_mtime
                identity = (stat.st_dev, stat.st_ino)
                if identity != self.identity or stat.st_size < self.offset:
                    self.reset = self.identity is not None
                    self.identity, self.offset, self.skipped = identity, 0, 0
                    self.shapes.clear()  # read from the start as a fresh read reads it
                    learnt = 0
                self.expected = stat.st_size - self.offset
                os.lseek(handle.fd, self.offset, os.SEEK_SET)
                scanner = _Scanner(self.shapes)
                for piece in _pieces(handle.read, scanner, total, self.expected):
                    (sink or pieces.append)(piece)
        except OSError as error:
            self.failed = True  # what a sink was given is not to be kept: read again
            for shape in list(self.shapes)[learnt:]:  # nor the shapes learnt from it
                del self.shapes[shape]
            self.problems = [
                Problem(ProblemKind.UNREADABLE, f"{self.path.name}: {error.strerror or error}")
            ]
            return Chunk(end=self.offset)
        start = self.offset
        self.offset += total.end
        self.skipped += total.skipped
        total.corrupt_at = total.corrupt_at + start if total.corrupt_at >= 0 else -1
        self.problems = _chunk_problems(total, self.quoted)
        return _concatenated(total, pieces)
