"""Rules on the values themselves and on the run's liveness: non_finite, stalled."""

from __future__ import annotations

import numpy as np

from metricwatch.analysis.findings import Finding, Severity, at, fmt, make_finding, point
from metricwatch.analysis.summary import mean_epoch_s
from metricwatch.analysis.thresholds import THRESHOLDS, Thresholds
from metricwatch.metrics import GRADIENT_KEYS, format_duration
from metricwatch.model import Run


def non_finite(run: Run, limits: Thresholds) -> Finding | None:
    """The first NaN/Inf of every key (gradients aside: exploding_gradients says more)."""
    first: dict[str, tuple[int, int, float]] = {}
    for key in run.keys:
        if key in GRADIENT_KEYS:
            continue
        series = run.series(key)
        values = series.values
        if not len(values) or (np.isfinite(values.min()) and np.isfinite(values.max())):
            continue  # NaN and infinities carry through min and max: none here (no copy)
        bad = np.flatnonzero(~np.isfinite(values))
        if len(bad):
            first[key] = (int(series.steps[bad[0]]), int(bad[0]), float(series.values[bad[0]]))
    if not first:
        return None
    ordered = sorted(first.items(), key=lambda item: item[1][0])
    key0, (_, index0, _) = ordered[0]
    series0 = run.series(key0)
    parts = [f"{key} = {fmt(v)} at {at(run, run.series(key), i)}" for key, (_, i, v) in ordered]
    return make_finding(
        "non_finite",
        Severity.CRITICAL,
        f"first at {at(run, series0, index0)}: " + ", ".join(parts[:4]),
        **point(run, series0, index0),
    )


def stall_limit_s(usual: float | None, limits: Thresholds = THRESHOLDS) -> float:
    """How long a run may stay quiet before it counts as stalled (the floor without `usual`)."""
    if usual is None:
        return limits.stall_min_s
    return max(limits.stall_factor * usual, limits.stall_min_s)


def stall_check(
    epochs_done: int,
    total_epochs: int | None,
    mtime: float | None,
    usual: float | None,
    now: float,
    limits: Thresholds = THRESHOLDS,
) -> Finding | None:
    """`stalled` on a run's few numbers, for callers that keep those instead of the run."""
    if mtime is None or total_epochs is None or epochs_done >= total_epochs or usual is None:
        return None
    quiet = now - mtime
    if quiet < stall_limit_s(usual, limits):
        return None
    return make_finding(
        "stalled",
        Severity.WARNING,
        f"no new epoch for {format_duration(quiet)}, "
        f"against a mean epoch of {format_duration(usual)} "
        f"(epoch {epochs_done} / {total_epochs})",
        epoch=epochs_done,
    )


def stalled(run: Run, now: float, limits: Thresholds = THRESHOLDS) -> Finding | None:
    """The live monitor's rule: no write for far longer than an epoch usually takes.

    Only a run that declares total_epochs and has not reached it can be
    stalled; without a total, a quiet run may simply be finished.
    """
    return stall_check(run.epochs_done, run.total_epochs, run.mtime, mean_epoch_s(run), now, limits)
