"""Diagnostic rules: records in, findings out. Pure functions, no I/O.

Each rule turns one row of the seed's diagnostic table into a check with
numbers. Every threshold is a named constant in THRESHOLDS below, with the
reason for its value; they were tuned on the real tiny trainings in
sample_runs/ (made by scripts/make_sample_runs.py) so that the healthy
runs, a noisy small-batch one and a plateauing one among them, raise
nothing while each pathological run raises its own finding.
"""

from __future__ import annotations

import bisect
import itertools
import math
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import Enum

from metricwatch.metrics import GRADIENT_KEYS, format_duration, format_sig
from metricwatch.model import Run


class Severity(str, Enum):
    WARNING = "warning"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        return 1 if self is Severity.WARNING else 2


@dataclass(frozen=True)
class Finding:
    id: str
    severity: Severity
    observation: str
    evidence: str
    cause: str
    action: str
    epoch: int | None

    @property
    def message(self) -> str:
        return f"{self.observation}: {self.evidence}"


@dataclass(frozen=True)
class Thresholds:
    """Every number the rules use, in one place.

    min_epochs_for_trends: fewer epochs than this and no trend rule speaks;
        the first epochs of any run are too noisy to judge.
    min_improvement: train loss must have fallen at least this fraction
        below its first value (5%), else it is "not decreasing". A run that
        fell a lot and then plateaued has long passed this bar.
    oscillation_window: how many recent epochs the oscillation rule reads.
    oscillation_swing: median epoch-to-epoch change, as a fraction of the
        median loss in the window, above which the loss "swings wildly"
        (small-batch noise on epoch averages stays well under 10%).
    oscillation_turns: fraction of consecutive changes that reverse sign.
    oscillation_trend: |net change| / total variation in the window below
        which there is "no trend" (a steady descent scores near 1).
    oscillation_floor: the level swings are measured against is at least
        this fraction (1%) of the first train loss, so jitter on a loss that
        has converged to ~0 is not "wild".
    overfit_recent: the window (epochs) of the trailing means the
        overfitting rule compares, so one noisy epoch decides nothing.
    overfit_rise: how far the recent val loss (trailing mean) must sit
        above its best trailing mean to count (10%).
    overfit_patience: epochs that must have passed since that best.
    overfit_train_drop: train loss (trailing mean) must have fallen at
        least this fraction since then ("kept falling").
    explode_growth: gradient norm this many times its early median is
        "growing by orders of magnitude" (two orders).
    explode_min_peak: the grown norm must also reach this (1.0): a norm
        going from 1e-6 to 1e-3 (a frozen backbone thawing) is not exploding.
    explode_critical_growth: growth at or above which it is critical.
    vanish_norm: gradient norm (median of the last epochs) below which
        gradients are "near zero".
    vanish_stuck: recent relative train-loss improvement below which the
        loss is "not improving".
    vanish_converged: a train loss below this fraction of its first value
        counts as converged, so tiny gradients there are not vanishing.
    stall_factor, stall_min_s: a live run is stalled when nothing was
        written for stall_factor times its median epoch duration, and at
        least stall_min_s seconds.
    """

    min_epochs_for_trends: int = 5
    min_improvement: float = 0.05
    oscillation_window: int = 10
    oscillation_swing: float = 0.10
    oscillation_turns: float = 0.5
    oscillation_trend: float = 0.3
    overfit_rise: float = 0.10
    overfit_recent: int = 3
    overfit_patience: int = 3
    overfit_train_drop: float = 0.02
    oscillation_floor: float = 0.01
    explode_growth: float = 100.0
    explode_min_peak: float = 1.0
    explode_critical_growth: float = 10_000.0
    vanish_norm: float = 1e-4
    vanish_stuck: float = 0.01
    vanish_converged: float = 0.05
    stall_factor: float = 5.0
    stall_min_s: float = 60.0


THRESHOLDS = Thresholds()

# The seed's diagnostic table: observation, likely cause, action.
_TABLE: dict[str, tuple[str, str, str]] = {
    "loss_not_decreasing": (
        "Train loss not decreasing",
        "LR too low, bug in loop",
        "Increase LR, check code",
    ),
    "loss_oscillating": ("Train loss oscillating wildly", "LR too high", "Decrease LR"),
    "overfitting": (
        "Val loss diverges from train loss",
        "Overfitting",
        "Add regularization, reduce model",
    ),
    "exploding_gradients": (
        "Gradient norm exploding",
        "Unstable optimization",
        "Add gradient clipping",
    ),
    "vanishing_gradients": (
        "Gradient norm near zero",
        "Vanishing gradients",
        "Check architecture, initialization",
    ),
    "non_finite": (
        "NaN or Inf in the logged values",
        "Numerical overflow: LR too high, log/division of zero, or fp16 overflow",
        "Lower the LR, add gradient clipping, check the loss for log(0) or 0/0",
    ),
    "stalled": (
        "No new epoch for much longer than usual",
        "Training process hung, crashed or was killed; or a slow evaluation step",
        "Check the training process and its log (is it alive? out of memory?)",
    ),
}
FINDING_IDS = tuple(_TABLE)

#: A finding is dropped when a more specific explanation of the same curves fired:
#: a loss that oscillates, explodes or has no gradient is also "not decreasing", and
#: when train loss swings wildly, val loss drifting from it says nothing about overfitting.
SUPERSEDED_BY: dict[str, set[str]] = {
    "loss_not_decreasing": {"loss_oscillating", "vanishing_gradients", "exploding_gradients"},
    "overfitting": {"loss_oscillating"},
}


def _finding(rule_id: str, severity: Severity, evidence: str, epoch: int | None) -> Finding:
    observation, cause, action = _TABLE[rule_id]
    return Finding(rule_id, severity, observation, evidence, cause, action, epoch)


Rule = Callable[[Run, Thresholds], "Finding | None"]


def diagnose(run: Run, limits: Thresholds = THRESHOLDS) -> list[Finding]:
    """Every finding for a run, worst first. A healthy run gives an empty list."""
    findings = [f for rule in RULES if (f := rule(run, limits)) is not None]
    ids = {f.id for f in findings}
    findings = [f for f in findings if not (SUPERSEDED_BY.get(f.id, set()) & ids)]
    findings.sort(key=lambda f: -f.severity.rank)
    return findings


def worst_severity(findings: Sequence[Finding]) -> Severity | None:
    return max((f.severity for f in findings), key=lambda s: s.rank, default=None)


# --- the rules -------------------------------------------------------------------------------


def non_finite(run: Run, limits: Thresholds) -> Finding | None:
    first: dict[str, tuple[int, float]] = {}
    for key in run.keys:
        if key in GRADIENT_KEYS:
            continue  # reported, with more to say, by exploding_gradients
        series = run.series(key)
        for epoch, value in zip(series.epochs, series.values):
            if not math.isfinite(value):
                first[key] = (epoch, value)
                break
    if not first:
        return None
    epoch = min(e for e, _ in first.values())
    parts = [
        f"{key} = {_fmt(v)} at epoch {e}"
        for key, (e, v) in sorted(first.items(), key=lambda item: item[1][0])
    ]
    return _finding(
        "non_finite",
        Severity.CRITICAL,
        "first at epoch " + str(epoch) + ": " + ", ".join(parts[:4]),
        epoch,
    )


def loss_not_decreasing(run: Run, limits: Thresholds) -> Finding | None:
    loss = run.series("train_loss").finite()
    if len(loss) < limits.min_epochs_for_trends:
        return None
    start = loss.values[0]
    best = min(loss.values)
    if start == 0:
        return None
    improvement = (start - best) / abs(start)  # abs: negative losses (NLL, ELBO) too
    if improvement >= limits.min_improvement:
        return None
    return _finding(
        "loss_not_decreasing",
        Severity.WARNING,
        f"train_loss went from {_fmt(start)} at epoch {loss.epochs[0]} to "
        f"{_fmt(loss.values[-1])} at epoch {loss.epochs[-1]}; its best is only "
        f"{improvement * 100:.1f}% below the start over {len(loss)} epochs",
        loss.epochs[-1],
    )


def loss_oscillating(run: Run, limits: Thresholds) -> Finding | None:
    loss = run.series("train_loss").finite()
    if len(loss) < limits.min_epochs_for_trends:
        return None
    window = loss.values[-limits.oscillation_window :]
    epochs = loss.epochs[-limits.oscillation_window :]
    diffs = [b - a for a, b in itertools.pairwise(window)]
    # Swings are judged against the loss level, but never against less than a small
    # fraction of where the loss started: noise on a loss that has fallen to ~0 is not wild.
    level = max(
        statistics.median(abs(v) for v in window), limits.oscillation_floor * abs(loss.values[0])
    )
    if level == 0 or len(diffs) < 3:
        return None
    swing = statistics.median(abs(d) for d in diffs) / level
    turns = sum(1 for a, b in itertools.pairwise(diffs) if a * b < 0) / (len(diffs) - 1)
    variation = sum(abs(d) for d in diffs)
    trend = abs(window[-1] - window[0]) / variation if variation else 1.0
    if swing < limits.oscillation_swing or turns < limits.oscillation_turns:
        return None
    if trend >= limits.oscillation_trend:
        return None
    return _finding(
        "loss_oscillating",
        Severity.WARNING,
        f"over epochs {epochs[0]}-{epochs[-1]} train_loss moved {swing * 100:.0f}% of its level "
        f"per epoch (median), reversing direction {turns * 100:.0f}% of the time, "
        f"between {_fmt(min(window))} and {_fmt(max(window))} with no net trend",
        epochs[-1],
    )


def overfitting(run: Run, limits: Thresholds) -> Finding | None:
    val = run.series("val_loss").finite()
    train = run.series("train_loss").finite()
    if len(val) < limits.min_epochs_for_trends or len(train) < limits.min_epochs_for_trends:
        return None
    # Judge trailing means, not single epochs: the minimum of a noisy val curve sits
    # below its true level, and comparing against it flags healthy noisy runs.
    window = limits.overfit_recent
    smooth = _trailing_mean(val.values, window)
    best = min(range(len(smooth)), key=smooth.__getitem__)
    best_value = smooth[best]
    scale = abs(best_value) or abs(smooth[0])  # abs: log-likelihood losses are negative
    if len(val) - 1 - best < limits.overfit_patience or scale == 0:
        return None
    rise = (smooth[-1] - best_value) / scale
    if rise < limits.overfit_rise:
        return None
    train_smooth = _trailing_mean(train.values, window)
    # Train and val may be logged at different epochs: take train's latest at or before.
    at_best = bisect.bisect_right(train.epochs, val.epochs[best]) - 1
    if at_best < 0:
        return None
    train_at_best, train_now = train_smooth[at_best], train_smooth[-1]
    if train_at_best == 0:
        return None
    if (train_at_best - train_now) / abs(train_at_best) < limits.overfit_train_drop:
        return None
    first = val.epochs[max(0, best - window + 1)]
    span = f"epochs {first}-{val.epochs[best]}" if first != val.epochs[best] else (f"epoch {first}")
    return _finding(
        "overfitting",
        Severity.WARNING,
        f"val_loss rose {rise * 100:.0f}% from its best {_fmt(best_value)} ({span}) to "
        f"{_fmt(smooth[-1])} (last {window} epochs) while train_loss kept falling "
        f"({_fmt(train_at_best)} → {_fmt(train_now)})",
        val.epochs[best],
    )


def _trailing_mean(values: Sequence[float], window: int) -> list[float]:
    return [statistics.fmean(values[max(0, i - window + 1) : i + 1]) for i in range(len(values))]


def exploding_gradients(run: Run, limits: Thresholds) -> Finding | None:
    for key in GRADIENT_KEYS:
        series = run.series(key)
        if not len(series):
            continue
        for epoch, value in zip(series.epochs, series.values):
            if not math.isfinite(value):
                return _finding(
                    "exploding_gradients",
                    Severity.CRITICAL,
                    f"{key} = {_fmt(value)} at epoch {epoch}",
                    epoch,
                )
        if len(series) < 4:
            continue
        baseline = statistics.median(series.values[:3])
        if baseline <= 0:
            continue
        later = list(zip(series.epochs[3:], series.values[3:]))
        peak_epoch, peak = max(later, key=lambda item: item[1])
        growth = peak / baseline
        if growth < limits.explode_growth or peak < limits.explode_min_peak:
            continue
        severity = (
            Severity.CRITICAL if growth >= limits.explode_critical_growth else Severity.WARNING
        )
        return _finding(
            "exploding_gradients",
            severity,
            f"{key} grew {growth:,.0f}× from {_fmt(baseline)} (median of epochs "
            f"{series.epochs[0]}-{series.epochs[2]}) to {_fmt(peak)} at epoch {peak_epoch}",
            peak_epoch,
        )
    return None


def vanishing_gradients(run: Run, limits: Thresholds) -> Finding | None:
    grad = run.series("grad_norm").finite()
    loss = run.series("train_loss").finite()
    if len(grad) < 3 or len(loss) < limits.min_epochs_for_trends:
        return None
    recent_grad = statistics.median(grad.values[-3:])
    if recent_grad >= limits.vanish_norm:
        return None
    first = loss.values[0]
    if first > 0 and loss.values[-1] < limits.vanish_converged * first:
        return None  # converged: tiny gradients at a tiny loss are expected
    window = loss.values[-limits.min_epochs_for_trends :]
    improvement = (window[0] - min(window)) / abs(window[0]) if window[0] else 0.0
    if improvement >= limits.vanish_stuck:
        return None
    return _finding(
        "vanishing_gradients",
        Severity.WARNING,
        f"grad_norm is {_fmt(recent_grad)} (median of the last 3 epochs) while train_loss "
        f"improved only {improvement * 100:.2f}% over the last {len(window)} epochs "
        f"(now {_fmt(loss.values[-1])})",
        grad.epochs[-1],
    )


def usual_epoch_s(run: Run) -> float | None:
    """The median positive, finite epoch duration (duration_s), or None without any."""
    durations = [v for v in run.series("duration_s").values if math.isfinite(v) and v > 0]
    return statistics.median(durations) if durations else None


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
    return _finding(
        "stalled",
        Severity.WARNING,
        f"no new epoch for {format_duration(quiet)}, "
        f"against a usual epoch of {format_duration(usual)} "
        f"(epoch {epochs_done} / {total_epochs})",
        epochs_done,
    )


def stalled(run: Run, now: float, limits: Thresholds = THRESHOLDS) -> Finding | None:
    """The live monitor's rule: no write for far longer than an epoch usually takes.

    Only a run that declares total_epochs and has not reached it can be
    stalled; without a total, a quiet run may simply be finished.
    """
    return stall_check(
        run.epochs_done, run.total_epochs, run.mtime, usual_epoch_s(run), now, limits
    )


RULES: tuple[Rule, ...] = (
    non_finite,
    exploding_gradients,
    overfitting,
    loss_oscillating,
    loss_not_decreasing,
    vanishing_gradients,
)


def _fmt(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Inf" if value > 0 else "-Inf"
    return format_sig(value)
