"""The step log run_dir/metrics.jsonl on the writing side: buffered, appended, never rewritten.

One JSON object per line: `step`, `epoch` (fractional, when known), `time`
(Unix seconds), then the metrics; the format metricwatch.readers.step_log
reads. Records wait in memory and go to the file together at each flush,
in one write on a file opened for appending: a process killed at any
instant leaves complete lines, then at most one line cut short, which the
reader waits for and the next logger removes before appending.

Tensor values are copied when logged (one small device op, no sync) and
brought to the host at the flush: all of them at once, one transfer per
device.
"""

from __future__ import annotations

import bisect
import io
import json
import os
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from metricwatch.metrics import canonical_key
from metricwatch.readers.step_log import MAX_STEP
from metricwatch.torch.values import metric_value, scalar_tensor

STEPS_FILENAME = "metrics.jsonl"
_ENCODE = json.JSONEncoder(allow_nan=True).encode


class _Pending:
    """A record waiting for the flush; `tensors` are its values still on their device."""

    __slots__ = ("record", "tensors")

    def __init__(self, record: dict[str, Any], tensors: list[tuple[list[str], torch.Tensor]]):
        self.record = record
        self.tensors = tensors


class StepLog:
    """Appends step records to one metrics.jsonl; the caller decides when to flush."""

    def __init__(self, path: Path, flush_every_s: float) -> None:
        self.path = path
        self.flush_every_s = float(flush_every_s)
        self._pending: list[_Pending] = []
        self._unwritten = b""  # encoded lines a failed write left behind, retried first
        self._file: io.FileIO | None = None
        self._unsynced = False
        self._last_flush = time.monotonic()
        self._names: dict[str, str] = {}

    @property
    def pending(self) -> int:
        """Records logged but not yet handed to the file."""
        return len(self._pending)

    def add(self, record: dict[str, Any], metrics: Mapping[str, Any]) -> dict[str, Any]:
        """Queue a record (step, epoch, time already in it) with its metrics; returns it.

        A step at or below queued ones replaces them (a restart from a checkpoint), as
        the reader does with the lines already written. A bad value raises before
        anything is queued or dropped.
        """
        names = self._names
        tensors: list[tuple[str, torch.Tensor]] | None = None
        for key, value in metrics.items():
            name = names.get(key)
            if name is None:
                name = names[key] = canonical_key(str(key))
            if type(value) is float:
                record[name] = value
            elif isinstance(value, torch.Tensor):
                if tensors is None:
                    tensors = []
                tensors.append((name, scalar_tensor(key, value)))
                record[name] = value
            elif value is not None:
                record[name] = metric_value(key, value)
        pending = self._pending
        step = record["step"]
        while pending and pending[-1].record["step"] >= step:
            pending.pop()
        pending.append(_Pending(record, _snapshot(tensors) if tensors else []))
        return record

    def due(self) -> bool:
        return time.monotonic() - self._last_flush >= self.flush_every_s

    def flush(self, sync: bool = False) -> None:
        """Write every queued record (and what a failed write left) to the file.

        Raises the OSError of a failed write; the unwritten bytes are kept and go
        first at the next flush, so the file catches up line for line. With `sync`
        the file is fsynced too.
        """
        pending, self._pending = self._pending, []
        self._last_flush = time.monotonic()
        if pending:
            _to_host(pending)
            text = "".join([_ENCODE(item.record) + "\n" for item in pending])
            self._unwritten += text.encode("utf-8")
        if self._unwritten:
            self._write()
        if sync and self._unsynced and self._file is not None:
            os.fsync(self._file.fileno())
            self._unsynced = False

    def _write(self) -> None:
        handle = self._open()
        view = memoryview(self._unwritten)
        try:
            while view:
                written = handle.write(view)
                view = view[written:]
        finally:
            self._unwritten = bytes(view)
            self._unsynced = True

    def _open(self) -> io.FileIO:
        """The file, opened for appending; opened again if it was moved or deleted."""
        handle = self._file
        if handle is not None:
            try:
                on_disk = os.stat(self.path)
            except FileNotFoundError:
                on_disk = None
            held = os.fstat(handle.fileno())
            if on_disk is not None and (on_disk.st_ino, on_disk.st_dev) == (
                held.st_ino,
                held.st_dev,
            ):
                return handle
            handle.close()
            self._file = None
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = handle = _append_file(self.path)
        return handle

    def close(self) -> None:
        """Close the file (after a flush by the caller); queued records are dropped."""
        self._pending = []
        if self._file is not None:
            self._file.close()
            self._file = None


def unix_time() -> float:
    """Now, in Unix seconds to the millisecond: a step line's `time`."""
    return round(time.time(), 3)


def _append_file(path: Path) -> io.FileIO:
    """The file opened for appending: every write goes to its end, whoever else writes."""
    return io.FileIO(path, "ab")


def _snapshot(tensors: list[tuple[str, torch.Tensor]]) -> list[tuple[list[str], torch.Tensor]]:
    """The values as they are now, one stacked copy per device and dtype (no sync).

    A copy, not the caller's tensor: a value changed in place after log_step (a running
    sum zeroed) must not change what was logged.
    """
    first = tensors[0][1]
    device, dtype = first.device, first.dtype
    for _, tensor in tensors:
        if tensor.dtype != dtype or tensor.device != device:
            break
    else:
        block = torch.stack([tensor for _, tensor in tensors])
        if block.requires_grad:
            block = block.detach()
        return [([name for name, _ in tensors], block)]
    groups: dict[tuple[torch.device, torch.dtype], list[tuple[str, torch.Tensor]]] = {}
    for name, tensor in tensors:
        groups.setdefault((tensor.device, tensor.dtype), []).append((name, tensor))
    return [_snapshot(group)[0] for group in groups.values()]


def _to_host(pending: list[_Pending]) -> None:
    """Replace every queued tensor value by its float: one transfer per device."""
    groups: dict[tuple[torch.device, torch.dtype], list[tuple[dict[str, Any], list[str]]]] = {}
    blocks: dict[tuple[torch.device, torch.dtype], list[torch.Tensor]] = {}
    for item in pending:
        for names, block in item.tensors:
            key = (block.device, block.dtype)
            if key not in groups:
                groups[key], blocks[key] = [], []
            groups[key].append((item.record, names))
            blocks[key].append(block)
        item.tensors = []
    devices: dict[torch.device, list[tuple[torch.device, torch.dtype]]] = {}
    for key in groups:
        devices.setdefault(key[0], []).append(key)
    for device, keys in devices.items():
        host_dtype = torch.float32 if device.type == "mps" else torch.float64  # no f64 on MPS
        flat = torch.cat([torch.cat(blocks[key]).to(host_dtype) for key in keys])
        values = flat.tolist()  # the one device-to-host transfer
        at = 0
        for key in keys:
            for record, names in groups[key]:
                for name in names:
                    record[name] = values[at]
                    at += 1


# --- resuming: where the log ends --------------------------------------------------------


@dataclass(frozen=True)
class Tail:
    """The end of an existing step log."""

    last_step: int | None  # the step of its last complete line with one; None: no such line
    complete: int  # where its complete lines end (a line cut short may follow)
    size: int
    has_lines: bool  # it holds complete lines (with a step or not)
    last_line_whole: bool  # its last record is whole but lacks its line end


def read_tail(path: Path) -> Tail | None:
    """The last step of a metrics.jsonl, read from its end; None if there is no file."""
    try:
        handle = open(path, "rb")  # noqa: SIM115 - closed below, read in pieces
    except FileNotFoundError:
        return None
    with handle:
        size = os.fstat(handle.fileno()).st_size
        span = 1 << 16
        while True:
            start = max(0, size - span)
            handle.seek(start)
            data = handle.read(size - start)
            end = data.rfind(b"\n") + 1
            if end == 0 and start > 0:
                span *= 4  # one long line: read further back
                continue
            trailing = _line_step(data[end:])
            if trailing is not None:  # a whole record that only lacks its line end
                return Tail(trailing, size, size, True, True)
            lines = data[:end].split(b"\n")[:-1]
            if start > 0:
                lines = lines[1:]  # may begin mid-line
            for line in reversed(lines):
                step = _line_step(line)
                if step is not None:
                    return Tail(step, start + end, size, True, False)
            if start == 0:
                has_lines = any(line.strip() for line in lines)
                return Tail(None, end, size, has_lines, False)
            span *= 4


def make_appendable(
    path: Path, tail: Tail, backup_suffix: Callable[[list[Path]], str]
) -> Path | None:
    """Ready an existing step log to be appended to by a resumed logger.

    A line cut short by a killed writer is removed (appending after it would spoil
    the next line too); a whole last record missing its line end gets one. A file
    without any line with a step is not ours to append to: it is moved to a backup
    (named with `backup_suffix`), which is returned.
    """
    if tail.last_step is None and tail.has_lines:
        backup = path.with_name(path.name + backup_suffix([path]))
        os.replace(path, backup)
        return backup
    if tail.last_line_whole:
        with open(path, "ab") as handle:
            handle.write(b"\n")
    elif tail.size > tail.complete:
        os.truncate(path, tail.complete)
    return None


def _line_step(line: bytes) -> int | None:
    try:
        row = json.loads(line)
    except ValueError:
        return None
    if not isinstance(row, dict):
        return None
    step = row.get("step")
    if isinstance(step, float) and step.is_integer():
        step = int(step)
    if type(step) is int and 0 <= step <= MAX_STEP:
        return step
    return None


# --- the fractional epoch ----------------------------------------------------------------


class EpochClock:
    """The fractional epoch of a step, where the logger can know it.

    With `steps_per_epoch` it is step / steps_per_epoch. Without, it comes from
    the epoch records that carry a step: between two of them the epoch grows
    linearly with the step (the start of the run, step 0, is epoch 0), and
    after the last one it grows at the pace of the epoch before, up to the
    next whole epoch at most. Before the first epoch ends it is unknown.
    """

    def __init__(self, steps_per_epoch: int | None) -> None:
        self.steps_per_epoch = steps_per_epoch
        self._epochs: list[int] = [0]
        self._steps: list[int] = [0]
        self._length: float | None = None  # steps per epoch lately

    def rebuild(self, records: Iterable[Mapping[str, Any]]) -> None:
        self._epochs, self._steps = [0], [0]
        for record in records:
            self.ended(record["epoch"], record.get("step"))

    def ended(self, epoch: int, step: int | None) -> None:
        """Epoch `epoch` was logged (at `step`, if known); later ones are gone."""
        cut = bisect.bisect_left(self._epochs, epoch)
        del self._epochs[max(cut, 1) :], self._steps[max(cut, 1) :]
        if step is not None and step > self._steps[-1]:
            self._epochs.append(epoch)
            self._steps.append(step)
        if len(self._steps) > 1:
            self._length = (self._steps[-1] - self._steps[-2]) / (
                self._epochs[-1] - self._epochs[-2]
            )
        else:
            self._length = None

    def at(self, step: int) -> float | None:
        if self.steps_per_epoch:
            return step / self.steps_per_epoch
        last = self._steps[-1]
        if step > last:
            if self._length is None:
                return None
            return self._epochs[-1] + min((step - last) / self._length, 1.0)
        index = bisect.bisect_left(self._steps, step)
        if index == 0:
            return 0.0
        s0, s1 = self._steps[index - 1], self._steps[index]
        e0, e1 = self._epochs[index - 1], self._epochs[index]
        return e0 + (e1 - e0) * (step - s0) / (s1 - s0)
