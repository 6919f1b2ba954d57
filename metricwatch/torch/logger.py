"""JSONMetricLogger: one metrics.json per run, rewritten atomically after every epoch.

The format and the atomic write live in metricwatch.writer (MetricsDocument);
this class adds what a training loop needs around it: epoch numbering,
measured epoch durations, tensor values, resume, and rank-0-only writing.
"""

from __future__ import annotations

import dataclasses
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
    - `resume=True` continues an existing file (re-logging an epoch replaces it
      and drops the later ones, as after restoring a checkpoint); `resume=False`
      starts afresh and keeps the old file as metrics.json.bak.
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
        self._last_time = time.monotonic()
        started_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
        writer = self._is_writer()

        if resume:
            # Other ranks read too (never write), so their epoch numbers match rank 0's.
            self._resume(writer)
        elif writer and self.path.exists():
            os.replace(self.path, self.backup_path)
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
            shutil.copyfile(self.path, self.backup_path)
            problem = next(p for p in parsed.problems if p.kind in DAMAGE_KINDS)
            warnings.warn(
                f"{self.path}: {problem.message}. Continuing from the {len(parsed.records)} "
                f"epochs it still holds; the original is kept as {self.backup_path.name}",
                stacklevel=3,
            )

    @property
    def path(self) -> Path:
        """The metrics.json this logger writes."""
        return self._document.path

    @property
    def backup_path(self) -> Path:
        """Where resume=False moves an existing metrics.json."""
        return self.path.with_name(self.path.name + BACKUP_SUFFIX)

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
            self._document.write()
        return dict(record)

    def close(self) -> None:
        """Stop logging. Every epoch is already on disk, so this only forbids more; idempotent."""
        self._closed = True

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
    if number < 0:
        raise ValueError(f"epoch must be >= 0 (epochs are numbered from 1), got {number}")
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
    except (TypeError, ValueError) as error:
        raise TypeError(
            f"metric {key!r} must be a number or a one-element tensor, "
            f"got {type(value).__name__}: {value!r}"
        ) from error


def _config_dict(config: Any) -> Any:
    """A config as JSON-friendly data: mappings, dataclasses and argparse Namespaces."""
    if isinstance(config, Mapping):
        return dict(config)
    if dataclasses.is_dataclass(config) and not isinstance(config, type):
        return dataclasses.asdict(config)
    if hasattr(config, "__dict__") and not isinstance(config, type):
        return dict(vars(config))
    return config
