"""What the monitor knows about one run, computed once per file change, off the UI thread.

A RunState is built in a worker (thread or subprocess) right after a load:
the summary and the findings are computed there, so the UI thread only
formats. The stall check needs only a few numbers it keeps (epochs, total,
mtime, mean epoch), so a huge run parsed in a subprocess can be shipped
back as its chart columns alone.

No textual import here: this is plain data and arithmetic, tested as such.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from metricwatch.analysis.diagnostics import (
    THRESHOLDS,
    Finding,
    diagnose,
    stall_check,
)
from metricwatch.analysis.smoothing import Smoothed, extend_ema
from metricwatch.analysis.status import Status, run_status
from metricwatch.analysis.summary import ANALYSED_META, RunSummary, summarize, with_progress
from metricwatch.metrics import GRADIENT_KEYS, format_duration
from metricwatch.model import Problem, Run
from metricwatch.readers import DAMAGE_KINDS

#: The id of the stall finding (diagnostics.stalled).
STALL_ID = "stalled"

Columns = dict[str, tuple[np.ndarray, np.ndarray]]


#: The last smoothing of each (run file, run, key, weight), carried from a run's state to
#: the next: a live run grown by a few points is smoothed only for those points.
_LAST_SMOOTHED: dict[tuple[str, str, str, float], Smoothed] = {}
#: How many of them are kept (the charts of a few runs, at the weights in use).
_SMOOTHED_KEPT = 64


@dataclass
class RunState:
    name: str
    metrics_path: Path
    mtime: float | None
    meta: dict[str, Any]
    problems: list[Problem]
    keys: list[str]
    epochs_done: int
    total_epochs: int | None
    summary: RunSummary
    findings: list[Finding]
    gone: bool = False
    version: int = 0
    format: str = ""  # the reader that read it (readers.FileFormat.name)
    _run: Run | None = field(default=None, repr=False)
    _columns: Columns | None = field(default=None, repr=False)
    #: (epochs, times) of each key where the file has them: the other x axes (`x` key).
    _axes: dict[str, tuple[np.ndarray | None, np.ndarray | None]] | None = field(
        default=None, repr=False
    )
    #: Smoothed values by (key, weight): computed once per new data, not per redraw.
    _smoothed: dict[tuple[str, float], np.ndarray] = field(default_factory=dict, repr=False)
    #: Steps as floats, for drawing: converted on the first redraw, kept; by the memory
    #: they are in (_memory_of), so keys logged on the same lines (one array) share them.
    _drawn_x: dict[tuple[int, int, int], np.ndarray] = field(default_factory=dict, repr=False)

    # --- data for charts ---------------------------------------------------------------------

    def column(self, key: str) -> tuple[np.ndarray, np.ndarray]:
        """(steps, values) of one key: the steps as the run holds them (int64), the values
        as floats; built on first use and kept."""
        if self._columns is None:
            self._columns = {}
        found = self._columns.get(key)
        if found is None:
            found = _column(self._run, key)
            self._columns[key] = found
        return found

    def drawn_column(self, key: str) -> tuple[np.ndarray, np.ndarray]:
        """(steps as floats, values) of one key, what a chart line is made of: the steps
        converted once per state, on its first redraw (in the UI thread, not at every
        write in the watch thread), and kept for the next (a resize, a zoom, a key)."""
        steps, values = self.column(key)
        memory = _memory_of(steps)
        drawn = self._drawn_x.get(memory)
        if drawn is None:
            drawn = self._drawn_x[memory] = steps.astype(np.float64)
        return drawn, values

    def x_values(self, key: str, axis: str) -> np.ndarray | None:
        """The key's x on another axis: `epoch` (fractional), `relative` (seconds since the
        run's first point) or `wall` (Unix seconds); None where the file does not say."""
        if axis == self.summary.x or axis == "step":
            return self.drawn_column(key)[0] if axis == self.summary.x else None
        epochs, times = self._axes_of(key)
        if axis == "epoch":
            return epochs
        if times is None or not np.isfinite(times).any():
            return None
        if axis == "wall":
            return times
        return times - self.start_time()

    def start_time(self) -> float:
        """The earliest time any key of the run was logged at (0 when none is known)."""
        firsts = [
            float(np.nanmin(t))
            for _, t in (self._axes_of(k) for k in self.keys)
            if t is not None and np.isfinite(t).any()
        ]
        return min(firsts) if firsts else 0.0

    def axes(self) -> list[str]:
        """The x axes this run has, in the `x` key's order: its own, epoch, relative, wall."""
        have = [self.summary.x]
        known = [self._axes_of(k) for k in self.keys]
        if self.summary.x == "step" and any(e is not None for e, _ in known):
            have.append("epoch")
        if any(t is not None and np.isfinite(t).any() for _, t in known):
            have += ["relative", "wall"]
        return have

    def _axes_of(self, key: str) -> tuple[np.ndarray | None, np.ndarray | None]:
        if self._axes is None:
            self._axes = {}
        found = self._axes.get(key)
        if found is None:
            if self._run is None:
                return None, None
            series = self._run.series(key)
            found = (series.epochs, series.times)
            self._axes[key] = found
        return found

    def smoothed(self, key: str, weight: float) -> np.ndarray:
        """The key's values under the debiased EMA of `weight`; computed once and kept, and
        for a run that grew since its last state, only for the points it gained."""
        found = self._smoothed.get((key, weight))
        if found is None:
            slot = (str(self.metrics_path), self.name, key, weight)
            grown = extend_ema(_LAST_SMOOTHED.pop(slot, None), self.column(key)[1], weight)
            _LAST_SMOOTHED[slot] = grown
            while len(_LAST_SMOOTHED) > _SMOOTHED_KEPT:
                del _LAST_SMOOTHED[next(iter(_LAST_SMOOTHED))]  # the least recently used
            found = self._smoothed[(key, weight)] = grown.out
        return found

    @property
    def has_columns(self) -> bool:
        """Every column is built: charts cost the UI thread nothing."""
        built = self._columns
        return built is not None and all(key in built for key in self.keys)

    @property
    def columns_built(self) -> Columns | None:
        return self._columns

    def with_columns(self) -> RunState:
        """Build every column now (in a worker) so the UI thread does not have to."""
        for key in self.keys:
            self.column(key)
            self._axes_of(key)
        return self

    def detached(self) -> RunState:
        """A copy without the full Run, for shipping across a process boundary."""
        self.with_columns()
        return replace(self, _run=None)

    # --- derived, cheap ----------------------------------------------------------------------

    @property
    def damaged(self) -> bool:
        return any(p.kind in DAMAGE_KINDS for p in self.problems)

    def stall_finding(self, now: float) -> Finding | None:
        if self.gone or self.summary.mean_epoch_s is None or self.mtime is None:
            return None
        if now - self.mtime < THRESHOLDS.stall_min_s:
            return None  # the rule's floor: skip the call for every run that wrote recently
        return stall_check(
            self.epochs_done, self.total_epochs, self.mtime, self.summary.mean_epoch_s, now
        )

    def all_findings(self, now: float) -> list[Finding]:
        stall = self.stall_finding(now)
        return [*self.findings, stall] if stall else list(self.findings)

    def status(self, now: float, findings: list[Finding] | None = None) -> Status:
        """The run's status; pass all_findings(now) when at hand, to skip a second stall check."""
        if findings is not None:
            stalled = any(f.id == STALL_ID for f in findings)
        else:
            stalled = self.stall_finding(now) is not None
        return run_status(
            gone=self.gone,
            epochs_done=self.epochs_done,
            total_epochs=self.total_epochs,
            points=self.summary.steps,
            mtime=self.mtime,
            mean_epoch_s=self.summary.mean_epoch_s,
            now=now,
            problems=self.problems,
            stalled=stalled,
        )

    def eta_s(self, now: float) -> float | None:
        """Time left: epochs to go times the mean epoch, minus the time spent on this one."""
        mean = self.summary.mean_epoch_s
        if self.total_epochs is None or mean is None or self.epochs_done >= self.total_epochs:
            return None
        remaining = (self.total_epochs - self.epochs_done) * mean
        if self.mtime is not None:
            remaining -= max(0.0, now - self.mtime)
        return max(0.0, remaining)

    def epoch_label(self) -> str:
        """`epoch 23 / 50`, or `step 1,200 · epoch 2` for a step run (summary.progress)."""
        return self.summary.progress()


def build_state(run: Run, *, version: int = 0) -> RunState:
    """Everything the UI shows about a run, computed from it once."""
    return RunState(
        name=run.name,
        metrics_path=run.path,
        mtime=run.mtime,
        meta=dict(run.meta),
        problems=list(run.problems),
        keys=run.keys,
        epochs_done=run.epochs_done,
        total_epochs=run.total_epochs,
        summary=summarize(run),
        findings=diagnose(run),
        version=version,
        format=run.format,
        _run=run,
    )


def grown_state(analysed: RunState, run: Run, *, version: int) -> RunState | None:
    """The state of `run` from the state of an earlier read of it, without a new analysis:
    its progress, last values, time and meta now, its findings and best values as
    analysed. None when `run` is not simply the earlier read grown (other keys, problems,
    format or meta the analysis reads, fewer points), is damaged (a cut file, kept as its
    last good data: news the damage grace decides on), or brings a run's first NaN or
    infinity (_first_non_finite): that needs build_state."""
    earlier = analysed._run
    if (
        earlier is None
        or any(p.kind in DAMAGE_KINDS for p in run.problems)
        or run.keys != analysed.keys
        or run.problems != analysed.problems
        or run.format != analysed.format
        or run.x != analysed.summary.x
        or any(run.meta.get(key) != analysed.meta.get(key) for key in ANALYSED_META)
        or len(run.table) < len(earlier.table)
        or _first_non_finite(analysed, earlier, run)
    ):
        return None
    return replace(
        analysed,
        mtime=run.mtime,
        meta=dict(run.meta),
        epochs_done=run.epochs_done,
        total_epochs=run.total_epochs,
        summary=with_progress(analysed.summary, run),
        version=version,
        _run=run,
        _columns=None,
        _axes=None,
        _smoothed={},
        _drawn_x={},
    )


def _memory_of(steps: np.ndarray) -> tuple[int, int, int]:
    """Where an array's items are (address, count, stride): the same for the steps of keys
    that share one array (appended logs share the axes of keys written on the same lines),
    and unique among the arrays a state's run holds, which it keeps alive."""
    return (steps.__array_interface__["data"][0], len(steps), steps.strides[0])


def _first_non_finite(analysed: RunState, earlier: Run, run: Run) -> bool:
    """Whether a value that is not a number (NaN, an infinity) is among the points new since
    the analysis, which found none: a diverging run's first NaN is the news the rules exist
    for, shown at once rather than at the next paced analysis. Once found, later ones change
    nothing (the finding names each key's first), so a run logging NaN at every step is not
    analysed at every write; nor is one whose gradient norm overflows now and then (mixed
    precision skips those steps), which the NaN rule leaves to the gradient rule.
    Only the new points are looked at."""
    if any(finding.id == "non_finite" for finding in analysed.findings):
        return False
    before = earlier.table.series
    for key, series in run.table.series.items():
        old = before.get(key)
        if series is old or key in GRADIENT_KEYS:
            continue  # (the same Series: a key no write touched since the analysis)
        values = series.values
        known = 0 if old is None else old.values.shape[0]
        if values.shape[0] > known and not _all_finite(values[known:]):
            return True
    return False


def _all_finite(values: np.ndarray) -> bool:
    """A write's few points in Python (numpy's call costs more than them), many in numpy."""
    if len(values) < 64:
        return all(map(math.isfinite, values.tolist()))
    return bool(np.isfinite(values).all())


def _column(run: Run | None, key: str) -> tuple[np.ndarray, np.ndarray]:
    """The run's own arrays, not copies: converting a million steps to floats at every
    write cost the watch thread more than reading the write, and the charts convert only
    what they draw, when they draw it."""
    if run is None:
        return np.empty(0, dtype=np.int64), np.empty(0)
    series = run.series(key)
    return series.steps, series.values


def format_ago(seconds: float | None) -> str:
    """`just now`, `12s ago`, `3m ago`, `2h 10m ago`, `3d ago`.

    Seconds only while they matter (the first minute): the label then
    changes once a minute, so an idle screen is not repainted every second.
    """
    if seconds is None or not math.isfinite(seconds):
        return "never written"
    seconds = max(0.0, seconds)
    if seconds < 1:
        return "just now"
    if seconds < 60:
        return f"{int(seconds)}s ago"
    if seconds < 3600:
        return f"{int(seconds // 60)}m ago"
    if seconds >= 2 * 86400:
        return f"{int(seconds // 86400)}d ago"
    return f"{format_duration(seconds - seconds % 60)} ago"
