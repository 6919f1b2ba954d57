"""Rules on the loss curves: not decreasing, oscillating, diverging, spikes, overfitting.

Only losses judged_loss accepts are read (lower is better, never negative).
Trend rules read the smoothed curve (levels.smoothed: the chart's debiased
EMA at the weight nearest a tenth of the points) and say "smoothed" where they
quote it; the best value they quote is summary.best_of's, as the summary and
the chart show it.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from metricwatch.analysis.findings import (
    Finding,
    Severity,
    at,
    fmt,
    judged_loss,
    make_finding,
    point,
    points_word,
    span,
)
from metricwatch.analysis.levels import (
    block_medians,
    reduced,
    row_medians,
    smoothed,
    trailing_mean,
    weight_for,
    window_for,
)
from metricwatch.analysis.summary import best_of
from metricwatch.analysis.thresholds import Thresholds
from metricwatch.model import STEP, Run, Series


def _ema_words(points: int, limits: Thresholds) -> str:
    return f"smoothed: EMA {weight_for(points, limits):g}"


def _trend_curve(loss: Series, limits: Thresholds) -> tuple[np.ndarray, np.ndarray, str]:
    """The smoothed curve a trend rule reads, each point's index in loss, and its words.

    Curves longer than max_trend_points are cut to block medians first (levels.reduced).
    """
    values, ends = reduced(loss.values, limits)
    words = _ema_words(len(values), limits)
    if len(values) < len(loss):
        size = math.ceil(len(loss) / limits.max_trend_points)
        words += f" of medians of {size} points"
    return smoothed(values, len(values), limits), ends, words


def _early_level(values: np.ndarray, limits: Thresholds) -> float:
    """Where a curve started: the median of its first window of points."""
    return float(np.median(values[: window_for(len(values), limits)]))


def loss_not_decreasing(run: Run, limits: Thresholds) -> Finding | None:
    """The smoothed train loss never got min_improvement below where it started."""
    loss = judged_loss(run, "train_loss")
    if loss is None or len(loss) < limits.min_epochs_for_trends:
        return None
    n = len(loss)
    start = float(loss.values[0])
    curve, ends, words = _trend_curve(loss, limits)
    best_at = int(np.argmin(curve))
    best_index, best = int(ends[best_at]), float(curve[best_at])
    if not start > 0:
        return None
    improvement = (start - best) / start
    if improvement >= limits.min_improvement:
        return None
    return make_finding(
        "loss_not_decreasing",
        Severity.WARNING,
        f"train_loss started at {fmt(start)} at {at(run, loss, 0)} "
        f"and its lowest ({words}) is only {improvement * 100:.1f}% below "
        f"that, {fmt(best)} at {at(run, loss, best_index)}, over {n} {points_word(run)} "
        f"(now {fmt(float(loss.values[-1]))})",
        **point(run, loss, n - 1),
    )


def loss_oscillating(run: Run, limits: Thresholds) -> Finding | None:
    """Large swings that keep reversing around a level that neither falls nor has converged.

    An epoch run's points are epoch means and are read as they are; a step run's
    points are single logged losses, and per-step noise is normal, so it is read as
    medians of blocks of points. Swings are measured against the recent level.
    """
    loss = judged_loss(run, "train_loss")
    if loss is None or len(loss) < limits.min_epochs_for_trends:
        return None
    n = len(loss)
    step_run = run.x == STEP
    if step_run:
        size = max(limits.oscillation_step_block, math.ceil(n / limits.oscillation_blocks))
    else:
        size = math.ceil(n / limits.max_trend_points)
    values, ends = block_medians(loss.values, size)
    if step_run and len(values) < limits.oscillation_min_blocks:
        return None
    recent = max(limits.oscillation_min_recent, math.ceil(len(values) * limits.oscillation_recent))
    window, where = values[-recent:], ends[-recent:]
    diffs = np.diff(window)
    level = float(np.median(window))
    if len(diffs) < 3 or not level > 0:
        return None
    if level < limits.converged_fraction * _early_level(values, limits):
        return None  # converged: jitter on a loss near zero is not oscillation
    swing = float(np.median(np.abs(diffs))) / level
    turns = float(np.count_nonzero(diffs[:-1] * diffs[1:] < 0)) / (len(diffs) - 1)
    # Net trend: how far the level moved between the window's halves (their means: a
    # median of a zigzag is one of its two sides), in median swings.
    half = len(window) // 2
    typical = float(np.median(np.abs(diffs)))
    moved = abs(float(np.mean(window[half:]) - np.mean(window[:half])))
    trend = moved / typical if typical else math.inf
    limit = limits.oscillation_step_swing if step_run else limits.oscillation_swing
    if (
        not swing >= limit
        or turns < limits.oscillation_turns
        or not trend < limits.oscillation_trend
    ):
        return None
    read = "" if size == 1 else f" (medians of blocks of {size} {points_word(run)})"
    unit = run.x if size == 1 else "block"
    first, last = int(where[0]), int(where[-1])
    return make_finding(
        "loss_oscillating",
        Severity.WARNING,
        f"over {span(run, loss, first, last)} train_loss{read} moved "
        f"{swing * 100:.0f}% of its recent level ({fmt(level)}) per {unit} (median change), "
        f"reversing direction {turns * 100:.0f}% of the time, between "
        f"{fmt(float(np.min(window)))} and {fmt(float(np.max(window)))} with no net trend",
        **point(run, loss, last),
    )


def loss_diverging(run: Run, limits: Thresholds) -> Finding | None:
    """The smoothed train loss rose well above its running minimum and stayed there."""
    loss = judged_loss(run, "train_loss")
    if loss is None or len(loss) < limits.min_epochs_for_trends:
        return None
    curve, ends, words = _trend_curve(loss, limits)
    n = len(curve)
    lowest = np.minimum.accumulate(curve)
    start = float(loss.values[0])
    above = (curve >= limits.diverge_rise * lowest) & (
        curve - lowest >= limits.diverge_of_start * start
    )
    hold = max(window_for(n, limits), math.ceil(limits.diverge_hold * n), limits.diverge_min_hold)
    if n <= hold or not above[-hold:].all():
        return None
    below = np.flatnonzero(~above)
    began = int(below[-1]) + 1 if len(below) else 0
    low = int(np.argmin(curve[: began + 1]))
    first_up = int(ends[began])
    # The checkpoint to go back to: the lowest raw point before the rise (the smoothed
    # curve's low lags it by up to a window).
    good = int(np.argmin(loss.values[: first_up + 1]))
    return make_finding(
        "loss_diverging",
        Severity.CRITICAL,
        f"train_loss ({words}) fell to {fmt(float(curve[low]))} at "
        f"{at(run, loss, int(ends[low]))}, "
        f"then rose to {limits.diverge_rise:g}× that or more from {at(run, loss, first_up)} "
        f"and stayed there for {len(loss) - first_up} {points_word(run)}: now "
        f"{fmt(float(curve[-1]))} smoothed, {fmt(float(loss.values[-1]))} raw",
        action=(
            "Lower the LR, add warm-up, clip gradients; restart from the last good "
            f"checkpoint, at or before {at(run, loss, good)}, where train_loss was "
            f"{fmt(float(loss.values[good]))}"
        ),
        **point(run, loss, first_up),
    )


def spike_window(points: int, limits: Thresholds) -> int:
    """How many previous points a spike is measured against."""
    window = math.ceil(points * limits.spike_window_fraction)
    return min(max(window, limits.spike_window_min), limits.spike_window_max)


def spikes(loss: Series, limits: Thresholds) -> list[tuple[int, int, float, int]]:
    """Each spike of a loss: (peak index, recovery index, baseline, window), in order.

    A point is an outlier when it is above spike_factor times the median of the
    previous window and above that median by spike_noise times the window's median
    point-to-point change. Consecutive outliers are one spike; it counts when,
    within one window after its peak, the loss gives back spike_recovery of the jump.
    Curves longer than max_trend_points are read as block medians.
    """
    values, ends = reduced(loss.values, limits)
    n = len(values)
    window = spike_window(n, limits)
    if n <= window + 1:
        return []
    base, outlier = _outliers(values, window, limits)
    found: list[tuple[int, int, float, int]] = []
    last_peak = -1
    i = window
    while i < n:
        if not outlier[i]:
            i += 1
            continue
        start = i
        while i < n and outlier[i]:
            i += 1
        peak = start + int(np.argmax(values[start:i]))
        if found and start - last_peak <= window:
            continue  # an aftershock within a window of the last spike: the same episode
        baseline = float(base[start])
        after = values[peak + 1 : peak + 1 + window]
        target = baseline + limits.spike_recovery * (float(values[peak]) - baseline)
        back = np.flatnonzero(after <= target)
        if len(back):
            found.append((int(ends[peak]), int(ends[peak + 1 + back[0]]), baseline, window))
            last_peak = peak
    return found


def _outliers(values: np.ndarray, window: int, limits: Thresholds) -> tuple[np.ndarray, np.ndarray]:
    """Each point's baseline (the median of the window before it; NaN where not taken) and
    whether it is an outlier (see spikes), for points from `window` on.

    A point can only be above spike_factor times the median of the window before it if
    it is above that factor times the window's lowest value (the median is not below
    it): the medians, which cost a sort of each window (most of an analysis of a long
    run), are taken only at those points, with the values the whole curve's would have."""
    n = len(values)
    before = sliding_window_view(values[:-1], window)  # row j: the window before j + window
    if limits.spike_factor > 0:
        lowest = before.min(axis=1)
        with np.errstate(invalid="ignore", over="ignore"):
            rows = np.flatnonzero(values[window:] > limits.spike_factor * lowest)
    else:
        rows = np.arange(n - window)
    changes = sliding_window_view(np.abs(np.diff(values)), window - 1)  # ... its changes
    level = row_medians(before, rows)
    spread = row_medians(changes, rows)
    points = rows + window
    base = np.full(n, np.nan)
    base[points] = level
    outlier = np.zeros(n, dtype=bool)
    with np.errstate(invalid="ignore", over="ignore"):
        outlier[points] = (values[points] > limits.spike_factor * level) & (
            values[points] - level > limits.spike_noise * spread
        )
    return base, outlier


def loss_spike(run: Run, limits: Thresholds) -> Finding | None:
    """Sudden jumps far above the recent level, each followed by (partial) recovery."""
    loss = judged_loss(run, "train_loss")
    if loss is None or len(loss) < limits.min_epochs_for_trends:
        return None
    found = spikes(loss, limits)
    if not found:
        return None
    parts = []
    for peak, back, baseline, window in found[:5]:
        value = float(loss.values[peak])
        ratio = value / baseline if baseline > 0 else math.inf
        parts.append(
            f"{fmt(value)} at {at(run, loss, peak)} ({ratio:.1f}× the median of the previous "
            f"{window} {points_word(run)}, {fmt(baseline)}), back to "
            f"{fmt(float(loss.values[back]))} by {at(run, loss, back)}"
        )
    more = f" ({len(found)} spikes, the first 5 shown)" if len(found) > 5 else ""
    return make_finding(
        "loss_spike",
        Severity.WARNING,
        "train_loss jumped to " + "; to ".join(parts) + more,
        **point(run, loss, found[0][0]),
    )


def overfitting(run: Run, limits: Thresholds) -> Finding | None:
    """Val loss rose well above its best while the train loss kept falling, beyond its noise."""
    val = judged_loss(run, "val_loss")
    train = judged_loss(run, "train_loss")
    if val is None or train is None:
        return None
    if len(val) < limits.min_epochs_for_trends or len(train) < limits.min_epochs_for_trends:
        return None
    # Judge trailing means, not single evaluations: the minimum of a noisy val curve sits
    # below its true level, and comparing against it flags healthy noisy runs.
    window = limits.overfit_recent
    smooth = trailing_mean(val.values, window)
    best = int(np.argmin(smooth))
    best_value = float(smooth[best])
    if len(val) - 1 - best < limits.overfit_patience or not best_value > 0:
        return None
    rise = (float(smooth[-1]) - best_value) / best_value
    if not rise >= limits.overfit_rise:
        return None
    # Train and val may be logged at different steps: take train's latest at or before.
    at_best = int(np.searchsorted(train.steps, val.steps[best], side="right")) - 1
    if at_best < 0:
        return None
    # "Kept falling" means by more than the train loss's own noise since then: a loss
    # swinging 20% per epoch (an LR far too high) that happens to end low has not fallen.
    w = max(window_for(len(train), limits), limits.overfit_train_level)
    half = w // 2
    train_at_best = float(np.median(train.values[max(0, at_best - half) : at_best + half + 1]))
    train_now = float(np.median(train.values[-w:]))
    if not train_at_best > 0:
        return None
    since = train.values[at_best:]
    noise = float(np.median(np.abs(np.diff(since)))) / train_at_best if len(since) > 1 else 0.0
    if not (train_at_best - train_now) / train_at_best >= max(limits.overfit_train_drop, noise):
        return None
    raw = best_of(val)
    assert raw is not None  # val has finite points
    raw_index = int(np.searchsorted(val.steps, raw.step))
    first = max(0, best - window + 1)
    return make_finding(
        "overfitting",
        Severity.WARNING,
        f"val_loss was best at {at(run, val, raw_index)} ({fmt(raw.value)}); smoothed (mean "
        f"of {window} evaluations) it rose {rise * 100:.0f}% from {fmt(best_value)} "
        f"({span(run, val, first, best)}) "
        f"to {fmt(float(smooth[-1]))} (the last {window}) while train_loss kept falling "
        f"({fmt(train_at_best)} → {fmt(train_now)}, medians of {w} {points_word(run)})",
        **point(run, val, raw_index),
    )
