"""An MLflow file-store run's files: its meta.yaml, its metric files read whole or by
their new lines (a live run), its params and tags.

    mlruns/<experiment_id>/<run_id>/meta.yaml         run_name, status, start_time, ...
    mlruns/<experiment_id>/<run_id>/metrics/<key>     lines "timestamp value step"
    mlruns/<experiment_id>/<run_id>/params/<name>     the value
A key with `/` (`train/loss`) is a nested folder. readers/mlflow.py is the API.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from metricwatch.model import Problem, ProblemKind
from metricwatch.readers.base import ParseResult, quote_key
from metricwatch.readers.columns import GrowingColumn
from metricwatch.readers.listings import Entry, FolderListings, SettledTexts, Stamp, stamp_of
from metricwatch.readers.mlflow_lines import _fast_lines, cut_line, parse_metric_file
from metricwatch.readers.mlflow_run import EPOCH_KEYS, BuildMemo, build_result
from metricwatch.readers.shared_steps import SharedSteps, StepPool

#: MLflow's RunStatus numbers, as the file store's meta.yaml writes them.
_STATUS = {"1": "RUNNING", "2": "SCHEDULED", "3": "FINISHED", "4": "FAILED", "5": "KILLED"}

# --- the file store --------------------------------------------------------------------------


def read_meta_yaml(path: Path) -> dict[str, str]:
    """The flat `key: value` lines of an MLflow meta.yaml ({} when it cannot be read)."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return {}
    return parse_meta_yaml(text)


def parse_meta_yaml(text: str) -> dict[str, str]:
    """The flat `key: value` lines of a meta.yaml's text (no YAML library: the few keys we
    need are flat scalars). Quotes are removed; nested lines are ignored."""
    meta: dict[str, str] = {}
    for line in text.splitlines():
        if not line or line[0] in " \t-#" or ":" not in line:
            continue
        key, _, value = line.partition(":")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        meta[key.strip()] = value
    return meta


def _run_name(
    run_dir: Path, meta: dict[str, str], read_text: Callable[[str], str] | None = None
) -> str:
    """The run's name as MLflow shows it (read_text: how the tag file is read; a live run's
    tail reads it through its SettledTexts)."""
    tag = os.path.join(run_dir, "tags", "mlflow.runName")
    name = meta.get("run_name") or (read_text or _read_text)(tag) or meta.get("name")
    return name.strip() if name and name.strip() else run_dir.name


def _read_text(path: str | Path) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return handle.read()
    except OSError:
        return ""


def _files_under(listings: FolderListings, folder: str) -> list[tuple[str, str]]:
    """(key, path) of every file below folder; the key is the relative path with `/`.

    As os.walk would list them (each folder's files by name, then its folders by name;
    links to folders not followed), without pathlib, and from the folders' kept listings
    (listings: a live run lists its metrics and params at every write; the same listings
    give the same list, not made again)."""

    def walk(entries: Callable[[str], list[Entry] | None]) -> list[tuple[str, str]]:
        found: list[tuple[str, str]] = []
        _list_folder(entries, folder, "", found)
        return found

    return listings.walked(folder, walk)


def _list_folder(
    entries: Callable[[str], list[Entry] | None],
    folder: str,
    prefix: str,
    found: list[tuple[str, str]],
) -> None:
    listed = entries(folder)
    if listed is None:
        return
    found.extend(
        (prefix + entry.name, os.path.join(folder, entry.name))
        for entry in listed
        if not entry.is_dir
    )
    for entry in listed:
        if entry.is_dir and not entry.is_link:
            path = os.path.join(folder, entry.name)
            _list_folder(entries, path, f"{prefix}{entry.name}/", found)


def read_file_store_run(run_dir: Path) -> ParseResult:
    """One run of a file store: metrics, run name, status and params. Never raises."""
    return FileStoreRunTail(run_dir).read()


def _file_problems(cut: list[str], bad: dict[str, int], problems: list[Problem]) -> None:
    if cut:
        problems.append(
            Problem(
                ProblemKind.TRUNCATED,
                f"the last line of metric {', '.join(map(quote_key, cut[:3]))} is incomplete "
                "(a write in progress?)",
            )
        )
    if bad:
        detail = ", ".join(f"{quote_key(k)} ×{n}" for k, n in list(bad.items())[:5])
        problems.append(
            Problem(ProblemKind.NON_NUMERIC, f"ignored lines that are not numbers ({detail})")
        )


def _file_meta(
    run_dir: Path, meta_yaml: dict[str, str], listings: FolderListings, texts: SettledTexts
) -> dict[str, Any]:
    """The run's meta from its meta.yaml, params and tags (read through the tail's kept
    listings and texts: they seldom change while the metrics grow)."""
    params_dir = os.path.join(run_dir, "params")
    params = {key: texts.text(path) for key, path in _files_under(listings, params_dir)}
    meta: dict[str, Any] = {
        "run_name": _run_name(run_dir, meta_yaml, texts.text),
        "run_id": meta_yaml.get("run_id") or meta_yaml.get("run_uuid") or run_dir.name,
        "experiment_id": meta_yaml.get("experiment_id", run_dir.parent.name),
        "status": _STATUS.get(meta_yaml.get("status", ""), meta_yaml.get("status", "")),
        "config": params,
    }
    for name in ("start_time", "end_time"):
        stamp = _int_or_none(meta_yaml.get(name, ""))
        if stamp is not None:
            meta[name] = stamp / 1000.0
    return meta


#: A metric file's new lines are read and parsed this many bytes at a time, into the key's
#: columns: the bytes, text and numbers of one piece are all there is of them besides the
#: columns (a whole 10 MB file's were 38 MB at once, left as holes in the heap).
READ_BYTES = 2**20


class MetricFileTail:
    """One append-only metric file and its read offset: read_into() parses only the whole
    lines added since the last call. A file replaced (new inode) or shrunk is read again
    from the start; `reset` then tells the caller to drop what it had. A file whose stat
    (inode, size, mtime) is the one it had when last read to its end is not opened: an
    append changes its size (most of a run's files have nothing new at a write)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._file = os.fspath(path)
        self.offset = 0
        self.identity: tuple[int, int] | None = None
        self.reset = False
        self.cut = False  # the file ends in a line cut short (left for the next call)
        self.bad = 0
        self.stamp: Stamp | None = None  # the file's stamp when last read through
        self.mtime: float | None = None  # its mtime at the last read_into

    def read_new(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(steps, values, times) of the new whole lines. Raises OSError if unreadable."""
        columns = _KeyColumns()
        self.read_into(lambda reset: columns)
        return columns.arrays()

    def read_into(self, columns_for: Callable[[bool], _KeyColumns]) -> None:
        """Add the new whole lines to the columns that columns_for(reset) gives (reset: the
        file was replaced or shrunk, and is read from its start). Raises OSError if
        unreadable; the lines added before an error stay added, and read past.

        A piece of READ_BYTES at a time, while every piece is lines of exactly three fields
        (parse_metric_file's fast path). A piece that is not sends the read back to where it
        began: the lines are then parsed in one go, as parse_metric_file reads a file (a
        file's lines are parsed one way, whichever pieces they were read in)."""
        self.reset, self.mtime = False, None
        stat = os.stat(self._file)
        self.mtime = stat.st_mtime  # the tail's "last written" (stat'ed here at every read)
        if stamp_of(stat) == self.stamp:
            return  # not written since it was read to its end: nothing new (append-only)
        with open(self._file, "rb") as handle:
            stat = os.fstat(handle.fileno())
            identity = (stat.st_dev, stat.st_ino)
            if identity != self.identity or stat.st_size < self.offset:
                self.reset = self.identity is not None
                self.identity, self.offset, self.bad = identity, 0, 0
            columns = columns_for(self.reset)
            start = self.offset
            handle.seek(start)
            if stat.st_size - start > READ_BYTES:  # (a live write's few lines: one piece)
                mark = columns.mark()
                if self._read_fast(handle, columns, stat.st_size - start):
                    self.stamp = stamp_of(stat)
                    return
                columns.rollback(mark)
                self.offset = start
                handle.seek(start)
            data = handle.read()
        whole = data.rfind(b"\n") + 1
        self.cut = cut_line(data[whole:])
        if whole:  # something new (most files at a write have nothing): parsed
            steps, values, times, bad, _ = parse_metric_file(data[:whole])
            self.offset += whole
            self.bad += bad
            columns.extend(steps, values, times)
        self.stamp = stamp_of(stat)

    def _read_fast(self, handle: BinaryIO, columns: _KeyColumns, pending: int) -> bool:
        """The new lines added piece by piece (see read_into; asked only for more than one
        piece); False at the first piece that is not all lines of three fields (offset and
        columns then left to roll back)."""
        carry, first = b"", True
        while True:
            block = handle.read(READ_BYTES)
            if not block:
                self.cut = cut_line(carry)
                return True
            data = carry + block if carry else block
            whole = data.rfind(b"\n") + 1
            if not whole:
                carry = data  # a line longer than a piece
                continue
            fast = _fast_lines(data[:whole])
            if fast is None:
                return False
            if first:  # room for all the new lines, at this piece's bytes a line
                lines = len(fast[0])
                columns.reserve(columns.steps.size + lines * pending // whole + lines)
                first = False
            columns.extend(*fast)
            self.offset += whole
            carry = data[whole:]


class _KeyColumns:
    """One metric's points read so far, in growing columns (appending a line costs the
    line), and whether its steps have been strictly ascending (then they need no sort
    and no dedup, and what was built from them can be extended: mlflow_run.BuildMemo).
    Its steps are shared with the run's other metrics logged at the same steps so far
    (shared_steps: a file a metric, each with the same steps, kept them once per file).

    timed=False: its times are not kept (arrays() gives NaN, no memory): the epoch key's,
    the epochs axis, whose times no series has (8 bytes an epoch point for nothing)."""

    def __init__(self, pool: StepPool | None = None, timed: bool = True) -> None:
        empty = np.empty(0)
        self.steps = SharedSteps(pool)
        self.values = GrowingColumn(empty, np.float64)
        self.times = GrowingColumn(empty, np.float64) if timed else None
        self.ascending = True

    def extend(self, steps: np.ndarray, values: np.ndarray, times: np.ndarray) -> None:
        if not len(steps):
            return
        if self.ascending:
            after = self.steps.size == 0 or int(steps[0]) > int(self.steps.view()[-1])
            self.ascending = after and (len(steps) < 2 or bool(np.all(steps[1:] > steps[:-1])))
        self.steps.extend(steps)
        self.values.extend(values)
        if self.times is not None:
            self.times.extend(times)

    def reserve(self, capacity: int) -> None:
        for column in self._columns():
            column.reserve(capacity)

    def mark(self) -> tuple[int, bool]:
        """Where the columns end now, for rollback."""
        return self.steps.size, self.ascending

    def rollback(self, mark: tuple[int, bool]) -> None:
        """Drop the points added since mark (views handed out before it keep theirs)."""
        size, self.ascending = mark
        for column in self._columns():
            column.truncate(size)

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if self.times is None:
            times = np.broadcast_to(np.float64(np.nan), (self.steps.size,))
            return self.steps.view(), self.values.view(), times
        return self.steps.view(), self.values.view(), self.times.view()

    def _columns(self) -> list[SharedSteps | GrowingColumn]:
        kept = [self.steps, self.values]
        return kept if self.times is None else [*kept, self.times]


class FileStoreRunTail:
    """A file-store run read as it grows: each read() parses only new metric lines, and
    builds the run from the last build and the new points (a live run is read at every
    write: the cost of a write stays that of the write, not of the run). Its folders'
    listings and its meta.yaml, params and tags are kept between reads while their stamps
    stay the same (readers/listings.py says when that can be trusted).

    mtime: after a read, the newest mtime of the metric files it read (the loader's "last
    written": MLflow appends to metrics/, not to meta.yaml)."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = Path(run_dir)
        self.tails: dict[str, MetricFileTail] = {}
        self.columns: dict[str, _KeyColumns] = {}
        self.pool = StepPool()  # the steps the run's metrics share (shared_steps)
        self.memo = BuildMemo()
        self.listings = FolderListings()
        self.texts = SettledTexts()
        self.mtime: float | None = None
        self._meta_yaml = os.path.join(self.run_dir, "meta.yaml")
        self._meta: tuple[str, dict[str, str]] = ("", {})  # meta.yaml's text, parsed
        self._metrics = os.path.join(self.run_dir, "metrics")

    def read(self) -> ParseResult:
        meta_yaml = self._parsed_meta(self.texts.text(self._meta_yaml))
        problems: list[Problem] = []
        if not meta_yaml:
            problems.append(
                Problem(
                    ProblemKind.MISSING, f"{quote_key(self.run_dir.name)} has no MLflow meta.yaml"
                )
            )
        present = _files_under(self.listings, self._metrics)
        grown = {key: self.columns[key].steps.size for key in self.columns}
        for key, path in present:
            self._read_key(key, path, grown, problems)
        keys = {key for key, _ in present}
        for key in [k for k in self.tails if k not in keys]:
            del self.tails[key]
            self.columns.pop(key, None)
        columns = {key: self.columns[key].arrays() for key, _ in present if key in self.columns}
        ascending = {key: grown.get(key, 0) for key in columns if self.columns[key].ascending}
        # named in the files' order (as a first read names them), not in order of appearance
        tails = [(key, self.tails[key]) for key, _ in present if key in self.tails]
        cut = [key for key, tail in tails if tail.cut]
        bad = {key: tail.bad for key, tail in tails if tail.bad}
        self.mtime = max((t.mtime for _, t in tails if t.mtime is not None), default=None)
        _file_problems(cut, bad, problems)
        meta = _file_meta(self.run_dir, meta_yaml, self.listings, self.texts)
        return build_result(columns, meta, problems, grown=ascending, memo=self.memo)

    def _parsed_meta(self, text: str) -> dict[str, str]:
        """meta.yaml's keys, parsed again only when its text changed (not to be changed)."""
        if text != self._meta[0]:
            self._meta = (text, parse_meta_yaml(text))
        return self._meta[1]

    def _read_key(
        self, key: str, path: str, grown: dict[str, int], problems: list[Problem]
    ) -> None:
        """The key's new lines added to its columns (new columns if its file was replaced
        or shrunk: `grown` then says it had no points before)."""
        tail = self.tails.get(key)
        if tail is None:
            tail = self.tails[key] = MetricFileTail(path)
        try:
            tail.read_into(lambda reset: self._columns_of(key, reset, grown))
        except OSError as error:
            problems.append(
                Problem(
                    ProblemKind.UNREADABLE, f"metric {quote_key(key)}: {error.strerror or error}"
                )
            )

    def _columns_of(self, key: str, reset: bool, grown: dict[str, int]) -> _KeyColumns:
        """The key's columns to add new lines to: new ones for a file read from its start."""
        if reset or key not in self.columns:
            self.columns[key] = _KeyColumns(self.pool, timed=key not in EPOCH_KEYS)
            grown[key] = 0
        return self.columns[key]


def _int_or_none(text: str) -> int | None:
    try:
        return int(text)
    except ValueError:
        return None


# --- the file store's run as a format of the registry ----------------------------------------
#
# A run directory is claimed through its meta.yaml (an experiment's meta.yaml has no run_id:
# the experiment directory is no run, so its runs below it are found). The run is read by
# FileStoreRunTail from the directory; its metrics/ tree is the run's own, watched with it.
# The SQLite store (mlflow.db: many runs in one file) is a format of its own, with parts
# (mlflow_sqlite.FORMAT).
