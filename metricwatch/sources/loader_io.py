"""The loader's file I/O, each function run in a TimedCalls thread (metricwatch.timed_io).

They never raise on a file that is missing, unreadable or of the wrong kind: they say
so in what they return, and RunLoader (metricwatch.sources.loader) decides what it
means for the run.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from stat import S_ISREG
from typing import Any

from metricwatch.readers import HEAD_BYTES, ParseResult

#: Files larger than this are not read at all: a metrics.json this big is not ours.
MAX_FILE_BYTES = 512 * 1024 * 1024


@dataclass(frozen=True)
class _Stamp:
    inode: int
    size: int
    mtime_ns: int


def _stamp_of(stat: os.stat_result) -> _Stamp:
    return _Stamp(stat.st_ino, stat.st_size, stat.st_mtime_ns)


def _fetch(
    path: Path, known: _Stamp | None
) -> tuple[os.stat_result | None, bytes | None, OSError | None]:
    """stat, then read unless unchanged since `known`, not a regular file or too big."""
    try:
        stat = path.stat()
    except OSError as error:
        return None, None, error
    if not S_ISREG(stat.st_mode) or _stamp_of(stat) == known or stat.st_size > MAX_FILE_BYTES:
        return stat, None, None
    try:
        with open(path, "rb") as handle:
            return stat, handle.read(), None
    except OSError as error:
        return stat, None, error


def _head_of(
    path: Path, known: _Stamp | None
) -> tuple[os.stat_result | None, bytes, OSError | None]:
    """stat, and the first bytes a format is told by (none for what is not a file or is
    unchanged since `known`); the error of the stat, or of the read after it."""
    try:
        stat = path.stat()
    except OSError as error:
        return None, b"", error
    if not S_ISREG(stat.st_mode) or _stamp_of(stat) == known:
        return stat, b"", None
    try:
        with open(path, "rb") as handle:
            return stat, handle.read(HEAD_BYTES), None
    except OSError as error:
        return stat, b"", error


def _read_at(path: Path, inode: int, offset: int, size: int) -> bytes | None:
    """size bytes of the file from offset (fewer at its end); None when path is another
    file now (replaced) or cannot be read."""
    try:
        with open(path, "rb") as handle:
            if os.fstat(handle.fileno()).st_ino != inode:
                return None
            handle.seek(offset)
            return handle.read(size)
    except OSError:
        return None


def _fetch_new(
    path: Path, known: _Stamp, inode: int | None, offset: int, checked: tuple[int, int]
) -> tuple[os.stat_result | None, bytes | None, bytes | None]:
    """stat, then the bytes to check (the file's first `checked[0]`, and the `checked[1]`
    before offset) and the bytes from offset on; (stat, None, None) when the file changed
    otherwise than by growing (another inode, shorter than offset)."""
    try:
        stat = path.stat()
    except OSError:
        return None, None, None
    if _stamp_of(stat) == known:
        return stat, None, None
    if stat.st_ino != inode or stat.st_size < offset or stat.st_size > MAX_FILE_BYTES:
        return stat, None, None
    try:
        with open(path, "rb") as handle:
            head = handle.read(checked[0])
            handle.seek(offset - checked[1])
            head += handle.read(checked[1])
            return stat, head, handle.read()
    except OSError:
        return stat, None, None


#: A side file bigger than this is no config: not read.
MAX_SIDECAR_BYTES = 1 << 20


def _read_sidecars(
    files: list[tuple[Path, _Stamp | None]],
) -> list[tuple[_Stamp | None, bytes | None]]:
    """_read_small of each side file of a log, in one call."""
    return [_read_small(path, known) for path, known in files]


def _read_small(path: Path, known: _Stamp | None = None) -> tuple[_Stamp | None, bytes | None]:
    """A small regular file's stamp and bytes; no bytes when its stamp is `known` (read
    before, unchanged) or it cannot be used (absent, not regular, too big, unreadable)."""
    try:
        stat = path.stat()
        if not S_ISREG(stat.st_mode) or stat.st_size > MAX_SIDECAR_BYTES:
            return None, None
        stamp = _stamp_of(stat)
        if stamp == known:
            return stamp, None
        with open(path, "rb") as handle:
            return stamp, handle.read(MAX_SIDECAR_BYTES)
    except OSError:
        return None, None


def _tail_read(
    path: Path, tail: Any
) -> tuple[os.stat_result | None, ParseResult | None, float | None]:
    """The run read by its tail, and when it was last written: the newest of the run file's
    mtime and the tail's `mtime`, the newest of the files its read read (stat'ed by the read
    itself: the run's folders are not listed again for it at every write)."""
    try:
        stat = path.stat()
    except OSError:
        return None, None, None
    result = tail.read()
    newest = tail.mtime
    return stat, result, stat.st_mtime if newest is None else max(stat.st_mtime, newest)


def _size_of(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0
