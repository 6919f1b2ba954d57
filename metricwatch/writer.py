"""Writing metrics.json: the one definition of the format on the writing side.

Used by the PyTorch logger, the demo simulator and the sample-run script, so
every file metricwatch writes has the same shape:

    {"meta": {...}, "epochs": [{"epoch": 1, "train_loss": ..., ...}, ...]}

`meta` comes first so that even a reader that catches a foreign, non-atomic
copy midway gets it. Writes are atomic: a temporary file in the same
directory, flushed and fsynced, then os.replace; a reader never sees half a
document and a crash leaves the old or the new file, whole.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from metricwatch.metrics import canonical_key
from metricwatch.readers import ParseResult, parse_metrics_json
from metricwatch.sources.discovery import METRICS_FILENAME


def atomic_write_text(path: Path, text: str) -> None:
    """Replace path's content with text so that no reader ever sees a partial file."""
    directory = path.parent
    fd, temp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    try:
        # mkstemp makes the file 0600; a monitor run by another user must still read it.
        os.fchmod(fd, _file_mode(path))
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp_name, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp_name)
        raise
    _fsync_directory(directory)


def _file_mode(path: Path) -> int:
    """The mode the file already has, else what a plain open() would give it."""
    try:
        return path.stat().st_mode & 0o777
    except OSError:
        return 0o666 & ~_current_umask()


def _current_umask() -> int:
    """The process umask, read without changing it where the OS allows (Linux)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass  # not Linux: fall back to setting and restoring it (briefly process-wide)
    umask = os.umask(0o022)
    os.umask(umask)
    return umask


def remove_stale_temp_files(path: Path, older_than_s: float = 60.0) -> int:
    """Delete temp files a killed writer left beside path; returns how many went.

    Only files older than `older_than_s` are touched (a minute by default), so a
    writer in another process that is mid-write keeps its temp file; a writer that
    holds the run's lock (no other writer can be at work) passes 0 to remove them all.
    """
    removed = 0
    cutoff = time.time() - older_than_s
    for temp in path.parent.glob(f".{path.name}.*.tmp"):
        try:
            if temp.stat().st_mtime <= cutoff:
                temp.unlink()
                removed += 1
        except OSError:
            continue  # raced with its owner or not ours to delete: leave it
    return removed


def _fsync_directory(directory: Path) -> None:
    """Make the rename itself durable; not every platform lets a directory be opened."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        return
    finally:
        os.close(fd)


def to_float(value: Any) -> float:
    """A logged value as a float: Python and numpy numbers, 0-d tensors (via .item())."""
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, (int, float)):
        return float(value)
    item = getattr(value, "item", None)
    if callable(item):
        return float(item())
    return float(value)


def _step_of(value: Any) -> int | None:
    """An epoch record's step as an integer (a file read back gives floats); None: none."""
    if value is None or isinstance(value, bool):
        return None
    number = to_float(value)
    return int(number) if number.is_integer() and number >= 0 else None


class MetricsDocument:
    """An in-memory metrics.json with the format's epoch semantics.

    Each epoch's JSON text is kept once serialised, so rewriting a file that
    already holds thousands of epochs costs one join, not a re-encode.
    """

    def __init__(self, path: Path, meta: Mapping[str, Any] | None = None) -> None:
        self.path = path if path.name == METRICS_FILENAME else path / METRICS_FILENAME
        self.meta: dict[str, Any] = dict(meta or {})
        self._records: list[dict[str, Any]] = []
        self._encoded: list[str] = []
        self._written = False

    @property
    def records(self) -> list[dict[str, Any]]:
        return list(self._records)

    @property
    def last_epoch(self) -> int:
        return self._records[-1]["epoch"] if self._records else 0

    def load_existing(self) -> ParseResult | None:
        """Take the epochs (and meta keys not set here) of the file on disk, if any.

        Returns the parse (so the caller can see whether the file was damaged),
        or None when there is no file yet.
        """
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return None
        parsed = parse_metrics_json(data)
        for key, value in parsed.meta.items():
            self.meta.setdefault(key, value)
        for record in parsed.table.rows():
            self.put(record)
        return parsed

    def put(self, record: Mapping[str, Any]) -> dict[str, Any]:
        """Add an epoch record. Re-logging an epoch replaces it and drops every later one."""
        epoch = int(record["epoch"])
        clean: dict[str, Any] = {"epoch": epoch}
        step = _step_of(record.get("step"))
        if step is not None:
            clean["step"] = step  # where the epoch ended on the step axis: an integer
        for key, value in record.items():
            if key in ("epoch", "step") or value is None:
                continue
            clean[canonical_key(str(key))] = to_float(value)
        while self._records and self._records[-1]["epoch"] >= epoch:
            self._records.pop()
            self._encoded.pop()
        self._records.append(clean)
        self._encoded.append(json.dumps(clean, allow_nan=True))
        return clean

    def render(self) -> str:
        meta = json.dumps(self.meta, allow_nan=True, default=str)
        epochs = ",\n  ".join(self._encoded)
        body = f"\n  {epochs}\n" if epochs else ""
        return f'{{"meta": {meta},\n "epochs": [{body}]}}\n'

    def write(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if not self._written:
            remove_stale_temp_files(self.path)
            self._written = True
        atomic_write_text(self.path, self.render())
