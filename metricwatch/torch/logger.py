"""JSONMetricLogger: one metrics.json per run, rewritten atomically after every epoch.

The format and the atomic write live in metricwatch.writer (MetricsDocument);
this class adds what a training loop needs around it: epoch numbering,
measured epoch durations, tensor values, resume, and rank-0-only writing.
"""

from __future__ import annotations

import argparse
import dataclasses
import enum
import json
import math
import numbers
import operator
import os
import shutil
import time
import warnings
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path
from types import TracebackType
from typing import Any

import torch

from metricwatch.readers import DAMAGE_KINDS
from metricwatch.torch import distributed
from metricwatch.writer import MetricsDocument, to_float

BACKUP_SUFFIX = ".bak"


class JSONMetricLogger:
    """Write run_dir/metrics.json after every epoch, in the format metricwatch reads.

    - `log_epoch(**metrics)` numbers epochs itself (last + 1, from 1), measures
      `duration_s`, accepts 0-d tensors and numpy scalars, and keeps NaN/Inf.
    - Every write replaces the file atomically: a watcher never reads half a
      document and a killed run leaves the last complete one.
    - Epochs are numbered from 1: `log_epoch(epoch=0)` is refused (in a
      `for epoch in range(n)` loop pass `epoch + 1`, or omit it), because
      metricwatch counts the epochs done from the last epoch number.
    - `resume=True` continues an existing file (re-logging an epoch replaces it
      and drops the later ones, as after restoring a checkpoint); `resume=False`
      starts afresh and moves the old file to metrics.json.bak, or to the first
      free metrics.json.bak.1, .bak.2, ... (a backup is never overwritten);
      `backup_path` tells which.
    - A failed write (disk full, permission denied) does not stop training:
      it warns once per distinct error, keeps the epochs in memory and
      rewrites the whole file at the next `log_epoch`; `write_error` holds
      the error while the file is behind. Only the write at creation raises,
      so a wrong run_dir fails before training starts.
    - Under torch.distributed only rank 0 touches the disk; other ranks get the
      same records back at the cost of a dict. Create the logger after
      init_process_group (or under torchrun, whose RANK is honoured).
    """

    def __init__(
        self,
        run_dir: str | os.PathLike[str],
        *,
        total_epochs: int | None = None,
        task: str | None = None,
        config: Any = None,
        resume: bool = True,
    ) -> None:
        meta: dict[str, Any] = {}
        if total_epochs is not None:
            meta["total_epochs"] = operator.index(total_epochs)
        if task is not None:
            meta["task"] = str(getattr(task, "value", task))
        if config is not None:
            meta["config"] = _config_dict(config)
        self._document = MetricsDocument(Path(run_dir), meta)
        self._closed = False
        self._backup_path: Path | None = None
        self._write_error: OSError | None = None
        self._warned_errors: set[tuple[Any, ...]] = set()
        self._last_time = time.monotonic()
        started_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
        writer = self._is_writer()

        if resume:
            # Other ranks read too (never write), so their epoch numbers match rank 0's.
            self._resume(writer)
        elif writer and self.path.exists():
            backup = _free_backup_path(self.path)
            os.replace(self.path, backup)
            self._backup_path = backup
        if resume and self._document.records and "started_at" in self._document.meta:
            self._document.meta["resumed_at"] = started_at
        else:
            self._document.meta["started_at"] = started_at
        if writer:
            # A watcher sees the run (and its total_epochs) before the first epoch ends.
            self._document.write()

    def _resume(self, writer: bool) -> None:
        """Load the epochs on disk; keep a copy first if the file cannot be read whole.

        Resuming rewrites the file in our format, so a damaged or foreign
        metrics.json would otherwise be replaced by the part we could salvage.
        """
        parsed = self._document.load_existing()
        if parsed is not None and parsed.damaged and writer:
            backup = _free_backup_path(self.path)
            shutil.copyfile(self.path, backup)
            self._backup_path = backup
            problem = next(p for p in parsed.problems if p.kind in DAMAGE_KINDS)
            warnings.warn(
                f"{self.path}: {problem.message}. Continuing from the {len(parsed.table)} "
                f"epochs it still holds; the original is kept as {backup.name}",
                stacklevel=3,
            )

    @property
    def path(self) -> Path:
        """The metrics.json this logger writes."""
        return self._document.path

    @property
    def backup_path(self) -> Path | None:
        """The backup this logger made of an earlier metrics.json, or None if it made none.

        resume=False moves an existing file there; resuming a damaged or
        foreign file copies it there first. It is metrics.json.bak, or the
        first of metrics.json.bak.1, .bak.2, ... that did not exist yet.
        """
        return self._backup_path

    @property
    def write_error(self) -> OSError | None:
        """The error of the last write if it failed (the file is behind), else None."""
        return self._write_error

    @property
    def meta(self) -> dict[str, Any]:
        return dict(self._document.meta)

    @property
    def records(self) -> list[dict[str, Any]]:
        """Every epoch record so far (including resumed ones), oldest first."""
        return [dict(record) for record in self._document.records]

    @property
    def last_epoch(self) -> int:
        """The last logged epoch number; 0 before any."""
        return self._document.last_epoch

    @property
    def closed(self) -> bool:
        return self._closed

    def log_epoch(self, epoch: int | None = None, **metrics: Any) -> dict[str, Any]:
        """Record one epoch and rewrite metrics.json; returns the stored record.

        `epoch` defaults to the last epoch + 1. `duration_s` is the time since
        the previous call (or since the logger was created) unless given.
        Values may be numbers, numpy scalars or one-element tensors on any
        device; None values are left out.
        """
        if self._closed:
            raise RuntimeError(
                f"JSONMetricLogger for {self.path} is closed; create a new logger to log more"
            )
        now = time.monotonic()
        number = self.last_epoch + 1 if epoch is None else _epoch_number(epoch)
        values = {key: _metric_value(key, value) for key, value in metrics.items()}
        if values.get("duration_s") is None:
            values["duration_s"] = round(now - self._last_time, 6)
        self._last_time = now
        record = self._document.put({"epoch": number, **values})
        if self._is_writer():
            self._write()
        return dict(record)

    def _write(self) -> bool:
        """Rewrite the file; on an OSError warn (once per distinct error) instead of raising.

        The epochs stay in memory, so the next successful write catches the
        file up with every epoch logged meanwhile.
        """
        try:
            self._document.write()
        except OSError as error:
            self._write_error = error
            key = (type(error), error.errno, error.strerror or str(error))
            if key not in self._warned_errors:
                self._warned_errors.add(key)
                warnings.warn(
                    f"JSONMetricLogger could not write {self.path}: {error}. Training goes "
                    "on: the epochs are kept in memory and the file is rewritten with all "
                    "of them at the next log_epoch (this warning is not repeated)",
                    RuntimeWarning,
                    stacklevel=3,
                )
            return False
        self._write_error = None
        return True

    def close(self) -> None:
        """Stop logging; idempotent.

        Every epoch is normally on disk already; if the last write failed, it
        is tried once more, with a warning if the file is still behind.
        """
        if self._closed:
            return
        self._closed = True
        if self._write_error is not None and self._is_writer() and not self._write():
            warnings.warn(
                f"JSONMetricLogger closed with {self.path} still behind ({self._write_error}): "
                f"it may lack epochs up to {self.last_epoch}; they are in logger.records",
                RuntimeWarning,
                stacklevel=2,
            )

    def __enter__(self) -> JSONMetricLogger:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else f"last_epoch={self.last_epoch}"
        return f"JSONMetricLogger({str(self.path)!r}, {state})"

    @staticmethod
    def _is_writer() -> bool:
        return distributed.is_main_process()


def _epoch_number(epoch: Any) -> int:
    if isinstance(epoch, bool):
        raise TypeError("epoch must be an integer, not a bool")
    try:
        number = operator.index(epoch)
    except TypeError:
        if isinstance(epoch, float) and epoch.is_integer():
            number = int(epoch)
        else:
            raise TypeError(f"epoch must be an integer, got {epoch!r}") from None
    if number < 1:
        raise ValueError(
            f"epoch must be >= 1, got {number}: epochs are numbered from 1: pass "
            "epoch=epoch + 1 (in a `for epoch in range(epochs)` loop), or omit epoch to "
            "number automatically"
        )
    return number


def _metric_value(key: str, value: Any) -> float | None:
    """A value as the float that goes in the file, or an error that names the metric."""
    if value is None:
        return None
    if isinstance(value, torch.Tensor) and value.numel() != 1:
        raise ValueError(
            f"metric {key!r} is a tensor of shape {tuple(value.shape)}; log a scalar "
            "(e.g. .mean() or .item())"
        )
    try:
        return to_float(value.detach() if isinstance(value, torch.Tensor) else value)
    except OverflowError as error:
        # An integer (or fraction) beyond float range: as large as a float gets, like a
        # float overflow would give. NaN/Inf are legal values in the file.
        try:
            return math.inf if value > 0 else -math.inf
        except TypeError:
            raise ValueError(
                f"metric {key!r} is too large for a float: {type(value).__name__}"
            ) from error
    except (TypeError, ValueError) as error:
        raise TypeError(
            f"metric {key!r} must be a number or a one-element tensor, "
            f"got {type(value).__name__}: {value!r}"
        ) from error


def _free_backup_path(path: Path) -> Path:
    """metrics.json.bak, else the first free one of metrics.json.bak.1, .bak.2, ...

    An existing backup is never the answer, so no earlier run is overwritten.
    """
    candidate = path.with_name(path.name + BACKUP_SUFFIX)
    number = 0
    while os.path.lexists(candidate):
        number += 1
        candidate = path.with_name(f"{path.name}{BACKUP_SUFFIX}.{number}")
    return candidate


def _config_dict(config: Any) -> Any:
    """A config as JSON-safe data, whatever it holds: it goes into meta on every write.

    Mappings, dataclasses, argparse Namespaces (and, at the top level, any
    object with attributes) become dicts with str keys; tuples, lists and
    sets become lists; numbers, str, bool and None stay (NaN/Inf too: the
    file allows them); enums become their value as text; everything else
    (paths, dtypes, devices, ...) its str().
    """
    if (
        not isinstance(config, (Mapping, type, argparse.Namespace))
        and not _is_dataclass_instance(config)
        and hasattr(config, "__dict__")
        and not isinstance(config, enum.Enum)
    ):
        config = vars(config)
    return _json_safe(config, set())


def _is_dataclass_instance(value: Any) -> bool:
    return dataclasses.is_dataclass(value) and not isinstance(value, type)


def _json_safe(value: Any, active: set[int]) -> Any:
    if value is None or isinstance(value, (str, bool)):
        return value
    if isinstance(value, enum.Enum):
        return str(value.value)
    if isinstance(value, numbers.Integral):  # numpy integers too
        return int(value)
    if isinstance(value, numbers.Real):  # numpy floats too; NaN/Inf kept
        return float(value)
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        return value.item()
    if id(value) in active:
        return "<recursive>"
    if isinstance(value, Mapping):
        items: Any = value.items()
    elif isinstance(value, argparse.Namespace):
        items = vars(value).items()
    elif _is_dataclass_instance(value):
        items = ((f.name, getattr(value, f.name)) for f in dataclasses.fields(value))
    elif isinstance(value, (list, tuple, set, frozenset)):
        active.add(id(value))
        converted = [_json_safe(item, active) for item in value]
        active.discard(id(value))
        if isinstance(value, (set, frozenset)):
            # Sets have no order; sort so the file does not change between runs.
            try:
                converted.sort()
            except TypeError:  # mixed types
                converted.sort(key=lambda item: (type(item).__name__, repr(item)))
        return converted
    else:
        return str(value)
    active.add(id(value))
    result = {_json_key(key): _json_safe(item, active) for key, item in items}
    active.discard(id(value))
    return result


def _json_key(key: Any) -> str:
    """A mapping key as JSON text, spelled as json.dumps spells the keys it accepts."""
    if isinstance(key, str):
        return key
    if isinstance(key, enum.Enum):
        return str(key.value)
    if key is None or isinstance(key, (bool, int, float)):
        return json.dumps(key)  # None -> "null", True -> "true", 1.5 -> "1.5"
    return str(key)
