"""Reading a run from disk: stat, read, parse, but only when the file changed.

The monitor re-reads a file on every change event and the summary command
may be pointed at hundreds of runs, so an unchanged file (same inode, size
and modification time) is answered from the cache without parsing.

Every stat, open and read has a deadline (metricwatch.timed_io; the I/O
itself is in metricwatch.sources.loader_io): a file that blocks holds up
only its own run. A live appended log costs one such call per write: its
new bytes and its side files (hparams.yaml) are read together, a side file
only when its stamp moved, and parsed only when its bytes did. A side file
that blocks leaves the log read, with the config last read, until it answers.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from stat import S_ISREG
from typing import Any

from metricwatch.model import Problem, ProblemKind, Run
from metricwatch.readers import DAMAGE_KINDS as _DAMAGE
from metricwatch.readers import (
    FORMATS,
    FileFormat,
    ParseResult,
    claim,
    format_named,
    parse,
    sidecars,
    tail_format,
)
from metricwatch.readers.appended import CHUNK_BYTES, AppendedLog, read_in_chunks
from metricwatch.sources.loader_io import (
    MAX_FILE_BYTES,
    _fetch,
    _fetch_new,
    _head_of,
    _read_at,
    _read_sidecars,
    _size_of,
    _Stamp,
    _stamp_of,
    _tail_read,
)
from metricwatch.timed_io import Blocked, Partial, TimedCalls

#: How long a tail read (reading and parsing together) may take before it is reported as
#: blocked: a 1,000,000-row MLflow store takes 1.4 s quiet, 3 s with both cores busy.
TAIL_READ_TIMEOUT_S = 30.0


#: A side file as last read: its stamp, its bytes, the entries parsed from them.
_Sidecar = tuple[_Stamp | None, bytes, dict[str, Any]]
#: A side file of a log: its path, its reader, and its last read (None: none yet).
_SideFile = tuple[Path, Callable[[bytes], dict[str, Any]], _Sidecar | None]
#: What one call read of a log's side files (stamp and bytes each), None when held up,
#: () when not read yet.
_Reads = list[tuple[_Stamp | None, bytes | None]] | tuple[()] | None


class RunLoader:
    """Loads runs and remembers the last parse of each file."""

    def __init__(self) -> None:
        self._cache: dict[Path, tuple[_Stamp, ParseResult]] = {}
        self._tails: dict[Path, Any] = {}  # runs read by a format's tail (TensorBoard)
        self._logs: dict[Path, AppendedLog] = {}  # appended logs: read from where they ended
        self._inodes: dict[Path, int] = {}  # the file each of them was read from
        self.parses = 0  # how many times a file was parsed whole (for tests and benchmarks)
        self.appended = 0  # how many reads parsed only a log's new lines
        #: runs joined from two files: (the file's result, the companion's, the run)
        self._joined: dict[Path, tuple[ParseResult, ParseResult, ParseResult]] = {}
        #: side files (hparams.yaml, args.yaml): the stamp and bytes they were read at, and
        #: their entries
        self._sidecars: dict[Path, _Sidecar] = {}
        self._sidecar_paths: dict[tuple[Path, str], list[Path]] = {}  # (log, format) -> paths
        # stat/open/read run with a deadline: a file that blocks holds up only its own run.
        self._io = TimedCalls()
        # A tail parses as it reads (TensorBoard records, MLflow rows): the first read of a
        # big store takes seconds of parsing that are no sign of a hung mount.
        self._tail_io = TimedCalls(TAIL_READ_TIMEOUT_S)

    def load(self, name: str, metrics_path: Path) -> Run:
        """The run of a file; a file holding several runs gives them in Run.parts
        (run_parts.expand makes them runs of their own)."""
        from metricwatch.run_parts import run_from  # here: the rest of this module is I/O

        result, mtime = self._read(metrics_path)
        return run_from(name, metrics_path, result, mtime)

    def forget(self, metrics_path: Path) -> None:
        """The next read of the run starts from the first byte of its files (`r`)."""
        self._drop(metrics_path)
        fmt = next((f for f in FORMATS if f.companion and f.may_hold(metrics_path.name)), None)
        if fmt is not None and fmt.companion is not None:
            self._drop(metrics_path.parent / fmt.companion[0])

    def _drop(self, path: Path) -> None:
        for cache in (self._cache, self._tails, self._logs, self._inodes, self._joined):
            cache.pop(path, None)
        for key in [key for key in self._sidecar_paths if key[0] == path]:
            del self._sidecar_paths[key]

    def size(self, metrics_path: Path) -> int:
        """The file's size; 0 when it cannot be known in time (stat blocks on a hung mount)."""
        try:
            return self._io.call(metrics_path, _size_of, metrics_path)
        except Blocked:
            return 0

    def close(self) -> None:
        """Reads waiting on a blocked file give up now (the monitor is quitting)."""
        self._io.close()
        self._tail_io.close()

    def _read(self, path: Path) -> tuple[ParseResult, float | None]:
        """The run of a file: the file's own result, joined with its companion's where the
        format has one and it is there (metrics.json and its step log metrics.jsonl)."""
        result, mtime = self._read_file(path)
        fmt = format_named(result.format)
        if fmt is None or fmt.companion is None:
            return result, mtime
        name, join = fmt.companion
        other = path.parent / name
        companion, other_mtime = self._read_file(other)
        if any(p.kind is ProblemKind.MISSING for p in companion.problems):
            self._joined.pop(path, None)
            return result, mtime
        known = self._joined.get(path)
        if known is not None and known[0] is result and known[1] is companion:
            joined = known[2]  # neither file changed: joined before
        else:
            joined = join(result, companion)
            self._joined[path] = (result, companion, joined)
        times = [t for t in (mtime, other_mtime) if t is not None]
        return joined, max(times) if times else None

    def _read_file(self, path: Path) -> tuple[ParseResult, float | None]:
        fmt = tail_format(path.name)
        if fmt is not None and fmt.tail is not None:
            return self._read_tail(path, fmt)
        cached = self._cache.get(path)
        log = self._logs.get(path)
        if log is not None and cached is not None:
            read = self._read_appended(path, log, cached[0])
            if read is not None:
                return read
        pieces = self._read_in_pieces(path, cached)
        if pieces is not None:
            return pieces
        try:
            stat, data, error = self._io.call(path, _fetch, path, cached[0] if cached else None)
        except Blocked as blocked:
            return _failed(ProblemKind.UNREADABLE, _blocked_message(path, blocked)), None
        if stat is None:
            return self._no_stat(path, error)
        if not S_ISREG(stat.st_mode):
            # A FIFO would block open() forever and /dev/zero would fill memory.
            message = f"{path.name} is not a regular file (a pipe, device or socket): not read"
            return _failed(ProblemKind.UNREADABLE, message), None
        stamp = _stamp_of(stat)
        if cached is not None and cached[0] == stamp:
            return cached[1], stat.st_mtime
        if stat.st_size > MAX_FILE_BYTES:
            message = (
                f"{path.name} is {stat.st_size / 2**20:.0f} MiB, over the "
                f"{MAX_FILE_BYTES / 2**20:.0f} MiB limit: not read"
            )
            return _failed(ProblemKind.UNREADABLE, message), stat.st_mtime
        if isinstance(error, FileNotFoundError):
            return _failed(ProblemKind.MISSING, f"{path.name} is gone (deleted or moved)"), None
        if error is not None:
            return (
                _failed(ProblemKind.UNREADABLE, f"cannot read {path.name}: {_reason(error)}"),
                stat.st_mtime,
            )
        data = data if data is not None else b""
        result = parse(path.name, data)
        self._follow(path, stamp, data, result)
        self.parses += 1
        self._add_sidecars(path, result)
        self._cache[path] = (stamp, result)
        return result, stat.st_mtime

    def _no_stat(self, path: Path, error: OSError | None) -> tuple[ParseResult, None]:
        """The read of a file that cannot be stat'ed: gone, or unreadable."""
        if isinstance(error, FileNotFoundError):
            self._drop(path)
            return _failed(ProblemKind.MISSING, f"{path.name} is gone (deleted or moved)"), None
        return _failed(ProblemKind.UNREADABLE, f"cannot read {path.name}: {_reason(error)}"), None

    def _read_in_pieces(
        self, path: Path, cached: tuple[_Stamp, ParseResult] | None
    ) -> tuple[ParseResult, float | None] | None:
        """A big appended log read from disk CHUNK_BYTES at a time: the file's bytes are never
        all in memory, nor the Python objects of a parse of them. A file gone or unchanged
        since `cached` is answered from this stat too (a live step log's absent metrics.json
        was asked for twice a write). None: read it whole (not such a log, small, or it
        cannot be read so)."""
        if not any(fmt.appends is not None and fmt.may_hold(path.name) for fmt in FORMATS):
            return None
        known = cached[0] if cached is not None else None
        try:
            stat, head, error = self._io.call(path, _head_of, path, known)
        except Blocked:
            return None  # the whole read meets the same deadline and says so
        if stat is None:
            return self._no_stat(path, error)
        if not S_ISREG(stat.st_mode) or error is not None:
            return None
        if cached is not None and _stamp_of(stat) == known:
            return cached[1], stat.st_mtime
        if not CHUNK_BYTES < stat.st_size <= MAX_FILE_BYTES:
            return None
        fmt = claim(path.name, head)
        if fmt is None or fmt.appends is None:
            return None
        stamp = _stamp_of(stat)

        def read(offset: int, size: int) -> bytes | None:
            try:
                return self._io.call(path, _read_at, path, stamp.inode, offset, size)
            except Blocked:
                return None

        chunked = read_in_chunks(fmt, read, CHUNK_BYTES)
        if chunked is None:
            return None
        result, log = chunked
        result.format = fmt.name
        self._logs[path], self._inodes[path] = log, stamp.inode
        self.parses += 1
        self._add_sidecars(path, result)
        self._cache[path] = (stamp, result)
        return result, stat.st_mtime

    def _follow(self, path: Path, stamp: _Stamp, data: bytes, result: ParseResult) -> None:
        """Keep what the next read of an appended log needs to parse only its new lines."""
        fmt = format_named(result.format)
        log = AppendedLog.start(fmt, data, result) if fmt is not None else None
        if log is None:
            self._logs.pop(path, None)
        else:
            self._logs[path] = log
            self._inodes[path] = stamp.inode

    def _read_appended(
        self, path: Path, log: AppendedLog, known: _Stamp
    ) -> tuple[ParseResult, float | None] | None:
        """An appended log read from where the last read ended; None: read it whole (the
        file was rewritten or replaced, or the new lines cannot simply follow). Its side
        files come in the same timed call, unless they are held up (then without them)."""
        files = self._sidecar_files(path, log.format.name)
        side_key = ("sidecars", path)
        asked = [] if self._io.is_stuck(side_key) else _asked(files)
        inode, expected = self._inodes.get(path), log.header + log.context
        try:
            (stat, head, new), reads = self._io.call_in_parts(
                path,
                side_key,
                _fetch_appended,
                path,
                known,
                inode,
                log.offset,
                log.checked,
                expected,
                asked,
            )
        except Partial as partial:  # the side files hold it up: the log is read
            (stat, head, new), reads = partial.first, None
        except Blocked:
            return None  # the whole read meets the same deadline and says so
        if stat is None or not S_ISREG(stat.st_mode):
            return None
        stamp = _stamp_of(stat)
        if stamp == known:
            return self._cache[path][1], stat.st_mtime
        if new is None or head != expected:
            return None  # rewritten in place: its first or last lines read are not the same
        result = log.update(new)
        if result is None:
            return None
        result.format = log.format.name
        self.appended += 1
        self._add_sidecars(path, result, (files, reads if asked else None))
        self._cache[path] = (stamp, result)
        return result, stat.st_mtime

    def _read_tail(self, path: Path, fmt: FileFormat) -> tuple[ParseResult, float | None]:
        """A run that is its log's directory, read by the format's tail: only new bytes."""
        tail = self._tails.get(path)
        if tail is None:
            tail = self._tails[path] = fmt.tail(path)
        try:
            stat, result, mtime = self._tail_io.call(path, _tail_read, path, tail)
        except Blocked as blocked:
            return _failed(ProblemKind.UNREADABLE, _blocked_message(path, blocked)), None
        if stat is None:
            self._drop(path)
            return _failed(ProblemKind.MISSING, f"{path.name} is gone (deleted or moved)"), None
        result.format = fmt.name
        self._add_sidecars(path, result)
        self.parses += 1
        return result, mtime

    def _add_sidecars(
        self, path: Path, result: ParseResult, read: tuple[list[_SideFile], _Reads] | None = None
    ) -> None:
        """The run's description from the files beside its log (hparams.yaml, args.yaml):
        their entries join the meta where the log itself said nothing. All of a log's side
        files are read in one timed call (`read`: the files and what the call that read the
        log's new bytes read of them, None when held up), and parsed again only when their
        bytes changed (Lightning rewrites the same hparams.yaml at every flush).

        The result gets a meta of its own first: an appended log keeps the meta its parse
        gave and grows its next results from it, and entries added to that dict would stay
        there, whatever the side file says later."""
        result.meta = dict(result.meta)
        files, reads = read or (self._sidecar_files(path, result.format), ())
        if files:
            if reads == ():
                try:
                    reads = self._io.call(("sidecars", path), _read_sidecars, _asked(files))
                except Blocked:
                    reads = None
            if reads is None:  # held up: what was read before stays
                reads = [(seen[0], None) if seen else (None, None) for _, _, seen in files]
            for (sidecar, read_fn, seen), (stamp, data) in zip(files, reads):
                entries = self._sidecar_entries(sidecar, read_fn, seen, stamp, data)
                for key, value in (entries or {}).items():
                    result.meta.setdefault(key, value)
        self._add_described(path, result)

    def _sidecar_files(self, path: Path, format_name: str) -> list[_SideFile]:
        """The side files of a log of this format: each one's path, reader and last read."""
        readers = sidecars(format_name)
        if not readers:
            return []
        paths = self._sidecar_paths.get((path, format_name))
        if paths is None or len(paths) != len(readers):
            paths = [path.parent / name for name, _ in readers]
            self._sidecar_paths[(path, format_name)] = paths
        return [
            (sidecar, read, self._sidecars.get(sidecar))
            for sidecar, (_, read) in zip(paths, readers)
        ]

    def _sidecar_entries(
        self,
        sidecar: Path,
        read: Callable[[bytes], dict[str, Any]],
        seen: _Sidecar | None,
        stamp: _Stamp | None,
        data: bytes | None,
    ) -> dict[str, Any] | None:
        """A side file's entries: the last ones while it is unchanged (the same stamp, or the
        same bytes); None when it is not there or cannot be parsed."""
        if seen is not None and ((stamp == seen[0] and stamp is not None) or data == seen[1]):
            if stamp != seen[0]:
                self._sidecars[sidecar] = (stamp, seen[1], seen[2])
            return seen[2]
        if data is None:
            self._sidecars.pop(sidecar, None)
            return None
        try:
            entries = read(data)
        except Exception:  # noqa: BLE001 - a reader's helper failing on a side file
            return None  # the log is what matters: a bad side file only loses the config
        self._sidecars[sidecar] = (stamp, data, entries)
        return entries

    def _add_described(self, path: Path, result: ParseResult) -> None:
        """The entries a format finds for the run elsewhere in its folder (see
        FileFormat.described), where the log and its sidecars said nothing."""
        fmt = format_named(result.format)
        if fmt is None or fmt.described is None:
            return
        try:
            entries = self._io.call(("described", path), fmt.described, path)
        except Exception:  # noqa: BLE001 - Blocked, or a failing helper: only the config is lost
            return
        for key, value in entries.items():
            result.meta.setdefault(key, value)


def keep_last_good(previous: Run | None, current: Run) -> Run:
    """The run to show after a reload: the new one, unless the new read lost data.

    A half-written or vanished file must not blank the screen: when the new
    read is damaged and holds fewer epochs than the last good one, keep the
    old records and carry the new problems, so the user sees a notice.

    `previous` must be the last good read itself, not an earlier result of
    this function: a merged run carries the problems of the damaged read it
    was merged with, and storing it would pile stale notices up.
    """
    if previous is not None and (current.parts or previous.parts):
        from metricwatch.run_parts import keep_parts  # a file of several runs: part by part

        return keep_parts(previous, current, keep_last_good)
    damaged = any(p.kind in _DAMAGE for p in current.problems)
    if previous is None or not damaged or current.record_count >= previous.record_count:
        return current
    kept_problems = [p for p in previous.problems if p.kind not in _DAMAGE]
    return Run(
        name=current.name,
        path=current.path,
        table=previous.table,
        meta=previous.meta or current.meta,
        extra=previous.extra,
        problems=[*current.problems, *kept_problems],
        mtime=current.mtime if current.mtime is not None else previous.mtime,
        format=previous.format,
    )


def _failed(kind: ProblemKind, message: str) -> ParseResult:
    return ParseResult(problems=[Problem(kind, message)])


def _reason(error: OSError) -> str:
    return error.strerror or type(error).__name__


def _asked(files: list[_SideFile]) -> list[tuple[Path, _Stamp | None]]:
    """The side files to read, each with the stamp it was last read at (not read again
    while it has that stamp)."""
    return [(sidecar, seen[0] if seen else None) for sidecar, _, seen in files]


def _fetch_appended(
    say_first: Callable[[Any], None],
    path: Path,
    known: _Stamp,
    inode: int | None,
    offset: int,
    checked: tuple[int, int],
    expected: bytes,
    sidecar_files: list[tuple[Path, _Stamp | None]],
) -> tuple[tuple[os.stat_result | None, bytes | None, bytes | None], list[Any] | tuple[()]]:
    """For TimedCalls.call_in_parts: _fetch_new, then, when the log grew as an appended log
    does (its bytes checked are the `expected` ones), _read_sidecars of its side files;
    () when they are not read (unchanged, or rewritten: a whole read reads them). The
    log's offset and checked lengths come as values: the caller's log is not touched here."""
    fetched = _fetch_new(path, known, inode, offset, checked)
    if not sidecar_files or fetched[2] is None or fetched[1] != expected:
        return fetched, ()
    say_first(fetched)
    return fetched, _read_sidecars(sidecar_files)


def _blocked_message(path: Path, blocked: Blocked) -> str:
    if blocked.closing:
        return f"reading {path.name} was given up: the monitor is closing"
    return (
        f"reading {path.name} is taking too long (no answer in {blocked.timeout:g} s; "
        "a hung network mount, or a device?): the other runs go on, and it is read "
        "again at its next change or on r"
    )
