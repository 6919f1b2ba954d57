"""JSONMetricLogger: a run's metrics.json (per epoch) and metrics.jsonl (per step).

The epoch format and its atomic write live in metricwatch.writer
(MetricsDocument), the step log in metricwatch.torch.step_log and the
one-writer lock in metricwatch.torch.run_lock; this class adds what a
training loop needs around them: numbering, measured epoch durations,
tensor values, fresh runs or resumed ones, and rank-0-only writing.
"""

from __future__ import annotations

import atexit
import functools
import operator
import os
import shutil
import time
import warnings
import weakref
from datetime import datetime, timezone
from pathlib import Path
from types import TracebackType
from typing import Any

from metricwatch.readers import DAMAGE_KINDS
from metricwatch.torch import distributed
from metricwatch.torch.config import config_dict
from metricwatch.torch.run_lock import RunLock
from metricwatch.torch.step_log import (
    STEPS_FILENAME,
    EpochClock,
    StepLog,
    make_appendable,
    read_tail,
    unix_time,
)
from metricwatch.torch.values import epoch_number, fractional_epoch, metric_value, step_number
from metricwatch.writer import MetricsDocument, remove_stale_temp_files

BACKUP_SUFFIX = ".bak"


class JSONMetricLogger:
    """Write a run's metrics, per epoch and per step, in the formats metricwatch reads.

    - `log_epoch(**metrics)` numbers epochs itself (last + 1, from 1), measures
      `duration_s`, accepts 0-d tensors and numpy scalars, keeps NaN/Inf, and
      rewrites run_dir/metrics.json atomically: a watcher never reads half a
      document and a killed run leaves the last complete one. When steps were
      logged the record carries `step`, the last step logged, so that epoch
      values stand at their place on a step axis.
    - `log_step(step=None, **metrics)` appends one line to run_dir/metrics.jsonl:
      `step` (default: the last step + 1, from 1), `epoch` (fractional, see
      below), `time` (Unix seconds), then the metrics. Tensor values stay on
      their device until the flush, which moves all of them to the host at
      once; flushes happen at most every `flush_every_s` seconds, at every
      `log_epoch`, at `flush()` and at `close()` (also at interpreter exit for
      a logger still open). The file is only ever appended to.
    - The fractional epoch of a step is step / `steps_per_epoch` when that is
      given (e.g. len(train_loader), counting the steps the way `step` does).
      Without it, it is learnt from the epochs: the steps an epoch took (from
      the `step` of the epoch records) give the pace of the next, which is
      assumed to take as many (the epoch stops at the next whole number if it
      takes longer); during the first epoch it is unknown and left out. An
      `epoch=` given to log_step is used as it is.
    - Epochs are numbered from 1: `log_epoch(epoch=0)` is refused (in a
      `for epoch in range(n)` loop pass `epoch + 1`, or omit it), because
      metricwatch counts the epochs done from the last epoch number.
    - `resume=False` (the default) starts a fresh run: an earlier run's
      metrics.json and metrics.jsonl are moved to metrics.json.bak and
      metrics.jsonl.bak, or to the first free .bak.1, .bak.2, ... (the same
      number for both files; a backup is never overwritten); `backup_path`
      tells where metrics.json went. `resume=True` continues the files on
      disk: logging an epoch or a step that is already there replaces it and
      drops the later ones (a restart from a checkpoint: pass the
      checkpoint's step to log_step).
    - One writer per run: while open, the logger holds an advisory lock on the
      run directory (run_dir/.metricwatch.lock); a second logger on it raises
      RunLockedError naming the process that holds it. Temporary files a
      killed writer left behind are removed when the lock is taken.
    - A failed write (disk full, permission denied) does not stop training:
      it warns once per distinct error, keeps the records in memory and
      writes them at the next `log_epoch` (or flush); `write_error` holds the
      error while the files are behind. Only the writes at creation raise, so
      a wrong run_dir fails before training starts.
    - Under torch.distributed only rank 0 touches the disk (and takes the
      lock); other ranks get the same epoch records back at the cost of a
      dict, and `log_step` does nothing there but number the step. Create
      the logger after init_process_group (or under torchrun, whose RANK is
      honoured).
    """

    def __init__(
        self,
        run_dir: str | os.PathLike[str],
        *,
        total_epochs: int | None = None,
        task: str | None = None,
        config: Any = None,
        resume: bool = False,
        steps_per_epoch: int | None = None,
        flush_every_s: float = 1.0,
    ) -> None:
        meta: dict[str, Any] = {}
        if total_epochs is not None:
            meta["total_epochs"] = operator.index(total_epochs)
        if task is not None:
            meta["task"] = str(getattr(task, "value", task))
        if config is not None:
            meta["config"] = config_dict(config)
        if steps_per_epoch is not None and operator.index(steps_per_epoch) < 1:
            raise ValueError(f"steps_per_epoch must be >= 1, got {steps_per_epoch!r}")
        if not float(flush_every_s) >= 0:  # NaN too
            raise ValueError(f"flush_every_s must be a number >= 0, got {flush_every_s!r}")
        self._document = MetricsDocument(Path(run_dir), meta)
        self._steps = StepLog(self.path.with_name(STEPS_FILENAME), flush_every_s)
        self._clock = EpochClock(None if steps_per_epoch is None else int(steps_per_epoch))
        self._last_step: int | None = None
        self._closed = False
        self._backup_path: Path | None = None
        self._backup_paths: list[Path] = []
        self._epochs_error: OSError | None = None  # metrics.json is behind
        self._steps_error: OSError | None = None  # metrics.jsonl is behind
        self._warned_errors: set[tuple[Any, ...]] = set()
        self._last_time = time.monotonic()
        self._lock: RunLock | None = None
        self._pid = os.getpid()  # a forked child must not close (flush, unlock) our files
        started_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
        writer = self._is_writer()
        if writer:
            self._lock = RunLock.acquire(self.path.parent)
        try:
            if writer:
                # Nobody else writes here now: any temp file is a killed writer's.
                remove_stale_temp_files(self.path, older_than_s=0.0)
            if resume:
                # Other ranks read too (never write), so their numbers match rank 0's.
                self._resume(writer)
            elif writer:
                self._start_afresh()
            resumed = self._document.records or self._last_step is not None
            if resume and resumed and "started_at" in self._document.meta:
                self._document.meta["resumed_at"] = started_at
            else:
                self._document.meta["started_at"] = started_at
            if writer:
                # A watcher sees the run (and its total_epochs) before the first epoch ends.
                self._document.write()
        except BaseException:
            self._release()
            raise
        self._at_exit = functools.partial(_close_at_exit, weakref.ref(self))
        atexit.register(self._at_exit)

    def _start_afresh(self) -> None:
        """Move an earlier run's files to backups that share one free number."""
        existing = [p for p in (self.path, self._steps.path) if os.path.lexists(p)]
        if not existing:
            return
        suffix = _free_backup_suffix([self.path, self._steps.path])
        for path in existing:
            backup = path.with_name(path.name + suffix)
            os.replace(path, backup)
            self._backup_paths.append(backup)
            if path == self.path:
                self._backup_path = backup

    def _resume(self, writer: bool) -> None:
        """Load the epochs and the last step on disk; keep a copy of what cannot be continued.

        Resuming rewrites metrics.json in our format, so a damaged or foreign one
        would otherwise be replaced by the part we could salvage; a foreign
        metrics.jsonl is moved aside rather than appended to.
        """
        parsed = self._document.load_existing()
        if parsed is not None and parsed.damaged and writer:
            backup = self.path.with_name(self.path.name + _free_backup_suffix([self.path]))
            shutil.copyfile(self.path, backup)
            self._backup_path = backup
            self._backup_paths.append(backup)
            problem = next(p for p in parsed.problems if p.kind in DAMAGE_KINDS)
            warnings.warn(
                f"{self.path}: {problem.message}. Continuing from the {len(parsed.table)} "
                f"epochs it still holds; the original is kept as {backup.name}",
                stacklevel=3,
            )
        self._clock.rebuild(self._document.records)
        tail = read_tail(self._steps.path)
        if tail is None:
            return
        self._last_step = tail.last_step
        if writer:
            backup = make_appendable(self._steps.path, tail, _free_backup_suffix)
            if backup is not None:
                self._backup_paths.append(backup)
                warnings.warn(
                    f"{self._steps.path} has no line with a step: not a metricwatch step "
                    f"log. It is kept as {backup.name} and a new one is started",
                    stacklevel=3,
                )

    @property
    def path(self) -> Path:
        """The metrics.json this logger writes."""
        return self._document.path

    @property
    def steps_path(self) -> Path:
        """The metrics.jsonl that log_step appends to."""
        return self._steps.path

    @property
    def backup_path(self) -> Path | None:
        """Where this logger kept an earlier metrics.json, or None if it kept none.

        resume=False moves an existing file there; resuming a damaged or
        foreign file copies it there first. It is metrics.json.bak, or the
        first of metrics.json.bak.1, .bak.2, ... that did not exist yet.
        """
        return self._backup_path

    @property
    def backup_paths(self) -> list[Path]:
        """Every backup this logger made (metrics.json's and metrics.jsonl's)."""
        return list(self._backup_paths)

    @property
    def write_error(self) -> OSError | None:
        """The error of the last failed write while a file is behind, else None."""
        return self._epochs_error or self._steps_error

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
    def last_step(self) -> int | None:
        """The last logged step (in this run, or in the resumed log); None before any."""
        return self._last_step

    @property
    def pending_steps(self) -> int:
        """Steps logged but not yet written (they go at the next flush)."""
        return self._steps.pending

    @property
    def closed(self) -> bool:
        return self._closed

    def log_step(self, step: int | None = None, **metrics: Any) -> dict[str, Any]:
        """Record one step; returns the record (tensor values as given, not yet read).

        `step` defaults to the last step + 1 (1 for the first). Values may be
        numbers, numpy scalars or one-element tensors on any device (kept there
        until the flush); None values are left out. `epoch=` and `time=` replace
        the fractional epoch and the time the logger would give the step.
        On other ranks than 0 the step is numbered and nothing else happens.
        """
        self._check_open()
        number = (self._last_step or 0) + 1 if step is None else step_number(step)
        epoch = metrics.pop("epoch", None)
        epoch = self._clock.at(number) if epoch is None else fractional_epoch(epoch)
        moment = metrics.pop("time", None)
        record: dict[str, Any] = {"step": number}
        if epoch is not None:
            record["epoch"] = epoch
        record["time"] = unix_time() if moment is None else metric_value("time", moment)
        if not self._is_writer():
            record.update((k, v) for k, v in metrics.items() if v is not None)
            self._last_step = number
            return record
        record = dict(self._steps.add(record, metrics))
        self._last_step = number
        if self._steps.due():
            self._flush_steps()
        return record

    def log_epoch(self, epoch: int | None = None, **metrics: Any) -> dict[str, Any]:
        """Record one epoch and rewrite metrics.json; returns the stored record.

        `epoch` defaults to the last epoch + 1. `duration_s` is the time since
        the previous call (or since the logger was created) unless given;
        `step` is the last step logged (when steps were logged) unless given.
        Values may be numbers, numpy scalars or one-element tensors on any
        device; None values are left out. The step log is flushed first.
        """
        self._check_open()
        now = time.monotonic()
        number = self.last_epoch + 1 if epoch is None else epoch_number(epoch)
        step = metrics.pop("step", self._last_step)
        step = None if step is None else step_number(step)
        values = {key: metric_value(key, value) for key, value in metrics.items()}
        if values.get("duration_s") is None:
            values["duration_s"] = round(now - self._last_time, 6)
        self._last_time = now
        head: dict[str, Any] = {"epoch": number}
        if step is not None:
            head["step"] = step
        record = self._document.put({**head, **values})
        self._clock.ended(number, step)
        # Steps first: metrics.json never points at a step the step log lacks.
        if self._is_writer() and self._flush_steps(sync=True):
            self._write()
        return dict(record)

    def flush(self) -> None:
        """Write the queued steps to metrics.jsonl now (a write error warns, as usual)."""
        self._check_open()
        if self._is_writer():
            self._flush_steps()

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError(
                f"JSONMetricLogger for {self.path} is closed; create a new logger to log more"
            )

    def _flush_steps(self, sync: bool = False) -> bool:
        try:
            self._steps.flush(sync=sync)
        except OSError as error:
            self._steps_error = error
            self._warn_write_error(self._steps.path, error, "flush")
            return False
        self._steps_error = None
        return True

    def _write(self) -> bool:
        """Rewrite metrics.json; on an OSError warn (once per distinct error) instead of raising.

        The epochs stay in memory, so the next successful write catches the
        file up with every epoch logged meanwhile.
        """
        try:
            self._document.write()
        except OSError as error:
            self._epochs_error = error
            self._warn_write_error(self.path, error, "log_epoch")
            return False
        self._epochs_error = None
        return True

    def _warn_write_error(self, path: Path, error: OSError, retry: str) -> None:
        key = (type(error), error.errno, error.strerror or str(error))
        if key in self._warned_errors:
            return
        self._warned_errors.add(key)
        what = "epochs" if path == self.path else "steps"
        warnings.warn(
            f"JSONMetricLogger could not write {path}: {error}. Training goes on: the "
            f"{what} are kept in memory and written with all the others at the next "
            f"{retry} (this warning is not repeated)",
            RuntimeWarning,
            stacklevel=4,
        )

    def close(self) -> None:
        """Flush the steps, stop logging and let go of the run directory; idempotent.

        Every epoch is normally on disk already; if the last write failed, it
        is tried once more, with a warning if a file is still behind.
        """
        if self._closed:
            return
        self._closed = True
        atexit.unregister(self._at_exit)
        try:
            if self._is_writer():
                steps_ok = self._flush_steps(sync=True)
                epochs_ok = self._epochs_error is None or self._write()
                if not (steps_ok and epochs_ok):
                    warnings.warn(
                        f"JSONMetricLogger closed with its files still behind "
                        f"({self.write_error}): they may lack epochs up to {self.last_epoch}"
                        + ("" if steps_ok else f" and steps up to {self._last_step}")
                        + "; the epochs are in logger.records",
                        RuntimeWarning,
                        stacklevel=2,
                    )
        finally:
            self._steps.close()
            self._release()

    def _release(self) -> None:
        if self._lock is not None:
            self._lock.release()
            self._lock = None

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


def _close_at_exit(ref: weakref.ref[JSONMetricLogger]) -> None:
    """A logger still open when the interpreter exits writes its queued steps."""
    logger = ref()
    if logger is not None and logger._pid == os.getpid():
        logger.close()


def _free_backup_suffix(paths: list[Path]) -> str:
    """.bak, else the first of .bak.1, .bak.2, ... free for every one of the paths.

    An existing backup is never the answer, so no earlier run is overwritten, and
    one run's files keep one number.
    """
    suffix = BACKUP_SUFFIX
    number = 0
    while any(os.path.lexists(p.with_name(p.name + suffix)) for p in paths):
        number += 1
        suffix = f"{BACKUP_SUFFIX}.{number}"
    return suffix
