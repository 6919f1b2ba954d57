"""Diagnostic rules: a run's series in, findings out. Pure functions, no I/O.

The rules read float64 arrays and compute under np.errstate: a file may
hold 1.7e308 or 5e-324, and a ratio or a difference of such values is an
infinity the rule then compares, never an exception.

Each rule turns one row of the seed's diagnostic table into a check with
numbers. Every threshold is a named constant in THRESHOLDS below, with the
reason for its value; they were tuned on the real tiny trainings in
sample_runs/ (made by scripts/make_sample_runs.py) so that the healthy
runs, a noisy small-batch one and a plateauing one among them, raise
nothing while each pathological run raises its own finding.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import Enum

import numpy as np

from metricwatch.metrics import GRADIENT_KEYS, format_duration, format_sig
from metricwatch.model import Run
from metricwatch.summary import best_of, mean_epoch_s


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
        written for stall_factor times its mean epoch duration (the
        summary's figure), and at least stall_min_s seconds.
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
    with np.errstate(all="ignore"):
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
        bad = np.flatnonzero(~np.isfinite(series.values))
        if len(bad):
            first[key] = (int(series.steps[bad[0]]), float(series.values[bad[0]]))
    if not first:
        return None
    epoch = min(e for e, _ in first.values())
    parts = [
        f"{key} = {_fmt(v)} at {run.x} {e}"
        for key, (e, v) in sorted(first.items(), key=lambda item: item[1][0])
    ]
    return _finding(
        "non_finite",
        Severity.CRITICAL,
        f"first at {run.x} " + str(epoch) + ": " + ", ".join(parts[:4]),
        epoch,
    )


def loss_not_decreasing(run: Run, limits: Thresholds) -> Finding | None:
    loss = run.series("train_loss").finite()
    if len(loss) < limits.min_epochs_for_trends:
        return None
    start = float(loss.values[0])
    best = float(np.min(loss.values))
    if start == 0:
        return None
    improvement = (start - best) / abs(start)  # abs: negative losses (NLL, ELBO) too
    if improvement >= limits.min_improvement:
        return None
    return _finding(
        "loss_not_decreasing",
        Severity.WARNING,
        f"train_loss went from {_fmt(start)} at {run.x} {loss.steps[0]} to "
        f"{_fmt(loss.last)} at {run.x} {loss.last_step}; its best is only "
        f"{improvement * 100:.1f}% below the start over {len(loss)} {run.x}s",
        loss.last_step,
    )


def loss_oscillating(run: Run, limits: Thresholds) -> Finding | None:
    loss = run.series("train_loss").finite()
    if len(loss) < limits.min_epochs_for_trends:
        return None
    window = loss.values[-limits.oscillation_window :]
    epochs = loss.steps[-limits.oscillation_window :]
    diffs = np.diff(window)
    # Swings are judged against the loss level, but never against less than a small
    # fraction of where the loss started: noise on a loss that has fallen to ~0 is not wild.
    level = max(
        float(np.median(np.abs(window))), limits.oscillation_floor * abs(float(loss.values[0]))
    )
    if level == 0 or len(diffs) < 3:
        return None
    swing = float(np.median(np.abs(diffs))) / level
    turns = float(np.count_nonzero(diffs[:-1] * diffs[1:] < 0)) / (len(diffs) - 1)
    variation = float(np.sum(np.abs(diffs)))
    trend = abs(float(window[-1] - window[0])) / variation if variation else 1.0
    if not swing >= limits.oscillation_swing or turns < limits.oscillation_turns:
        return None
    if not trend < limits.oscillation_trend:
        return None
    return _finding(
        "loss_oscillating",
        Severity.WARNING,
        f"over {run.x}s {epochs[0]}-{epochs[-1]} train_loss moved {swing * 100:.0f}% of its level "
        f"per {run.x} (median), reversing direction {turns * 100:.0f}% of the time, "
        f"between {_fmt(float(np.min(window)))} and {_fmt(float(np.max(window)))} "
        "with no net trend",
        int(epochs[-1]),
    )


def overfitting(run: Run, limits: Thresholds) -> Finding | None:
    val = run.series("val_loss").finite()
    train = run.series("train_loss").finite()
    if len(val) < limits.min_epochs_for_trends or len(train) < limits.min_epochs_for_trends:
        return None
    # Judge trailing means, not single epochs: the minimum of a noisy val curve sits
    # below its true level, and comparing against it flags healthy noisy runs.
    window = limits.overfit_recent
    smooth = trailing_mean(val.values, window)
    best = int(np.argmin(smooth))
    best_value = float(smooth[best])
    scale = abs(best_value) or abs(float(smooth[0]))  # abs: log-likelihood losses are negative
    if len(val) - 1 - best < limits.overfit_patience or scale == 0:
        return None
    rise = (float(smooth[-1]) - best_value) / scale
    if not rise >= limits.overfit_rise:
        return None
    train_smooth = trailing_mean(train.values, window)
    # Train and val may be logged at different epochs: take train's latest at or before.
    at_best = int(np.searchsorted(train.steps, val.steps[best], side="right")) - 1
    if at_best < 0:
        return None
    train_at_best, train_now = float(train_smooth[at_best]), float(train_smooth[-1])
    if train_at_best == 0:
        return None
    if not (train_at_best - train_now) / abs(train_at_best) >= limits.overfit_train_drop:
        return None
    first = int(val.steps[max(0, best - window + 1)])
    best_epoch = int(val.steps[best])
    span = f"{run.x}s {first}-{best_epoch}" if first != best_epoch else f"{run.x} {first}"
    raw = best_of(val)
    raw_text = f"; best single {run.x} {_fmt(raw.value)} at {run.x} {raw.step}" if raw else ""
    return _finding(
        "overfitting",
        Severity.WARNING,
        f"val_loss (smoothed: mean of {window} {_points(run)}) rose {rise * 100:.0f}% from its "
        f"best {_fmt(best_value)} ({span}) to {_fmt(float(smooth[-1]))} "
        f"(last {window} {_points(run)}) "
        f"while train_loss kept falling ({_fmt(train_at_best)} → {_fmt(train_now)}){raw_text}",
        best_epoch,
    )


def trailing_mean(values: np.ndarray, window: int) -> np.ndarray:
    """Each point's mean with the window - 1 before it (fewer at the start); overflow-safe."""
    values = np.asarray(values, dtype=np.float64)
    if not len(values):
        return values
    sums = np.convolve(values / window, np.ones(window))[: len(values)]  # divided first
    counts = np.minimum(np.arange(1, len(values) + 1), window)
    return sums * (window / counts)


def exploding_gradients(run: Run, limits: Thresholds) -> Finding | None:
    for key in GRADIENT_KEYS:
        series = run.series(key)
        if not len(series):
            continue
        bad = np.flatnonzero(~np.isfinite(series.values))
        if len(bad):
            epoch = int(series.steps[bad[0]])
            return _finding(
                "exploding_gradients",
                Severity.CRITICAL,
                f"{key} = {_fmt(float(series.values[bad[0]]))} at {run.x} {epoch}",
                epoch,
            )
        if len(series) < 4:
            continue
        baseline = float(np.median(series.values[:3]))
        if baseline <= 0:
            continue
        peak_index = 3 + int(np.argmax(series.values[3:]))
        peak, peak_epoch = float(series.values[peak_index]), int(series.steps[peak_index])
        growth = peak / baseline
        if growth < limits.explode_growth or peak < limits.explode_min_peak:
            continue
        severity = (
            Severity.CRITICAL if growth >= limits.explode_critical_growth else Severity.WARNING
        )
        return _finding(
            "exploding_gradients",
            severity,
            f"{key} grew {_fmt_ratio(growth)}× from {_fmt(baseline)} (median of {run.x}s "
            f"{series.steps[0]}-{series.steps[2]}) to {_fmt(peak)} at {run.x} {peak_epoch}",
            peak_epoch,
        )
    return None


def vanishing_gradients(run: Run, limits: Thresholds) -> Finding | None:
    grad = run.series("grad_norm").finite()
    loss = run.series("train_loss").finite()
    if len(grad) < 3 or len(loss) < limits.min_epochs_for_trends:
        return None
    recent_grad = float(np.median(grad.values[-3:]))
    if recent_grad >= limits.vanish_norm:
        return None
    first = float(loss.values[0])
    if first > 0 and loss.last < limits.vanish_converged * first:
        return None  # converged: tiny gradients at a tiny loss are expected
    window = loss.values[-limits.min_epochs_for_trends :]
    start = float(window[0])
    improvement = (start - float(np.min(window))) / abs(start) if start else 0.0
    if not improvement < limits.vanish_stuck:
        return None
    return _finding(
        "vanishing_gradients",
        Severity.WARNING,
        f"grad_norm is {_fmt(recent_grad)} (median of the last 3 {_points(run)}) while train_loss "
        f"improved only {improvement * 100:.2f}% over the last {len(window)} {run.x}s "
        f"(now {_fmt(loss.last)})",
        grad.last_step,
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
    return _finding(
        "stalled",
        Severity.WARNING,
        f"no new epoch for {format_duration(quiet)}, "
        f"against a mean epoch of {format_duration(usual)} "
        f"(epoch {epochs_done} / {total_epochs})",
        epochs_done,
    )


def stalled(run: Run, now: float, limits: Thresholds = THRESHOLDS) -> Finding | None:
    """The live monitor's rule: no write for far longer than an epoch usually takes.

    Only a run that declares total_epochs and has not reached it can be
    stalled; without a total, a quiet run may simply be finished.
    """
    return stall_check(
        run.epochs_done, run.total_epochs, run.mtime, mean_epoch_s(run), now, limits
    )


RULES: tuple[Rule, ...] = (
    non_finite,
    exploding_gradients,
    overfitting,
    loss_oscillating,
    loss_not_decreasing,
    vanishing_gradients,
)


def _points(run: Run) -> str:
    """What a run's points are called in evidence: epochs, or (logged) points of a step run."""
    return "epochs" if run.x == "epoch" else "points"


def _fmt_ratio(ratio: float) -> str:
    """A growth factor: 1,234 up to a billion, then 1.2e+12; an overflow says so."""
    if not math.isfinite(ratio):
        return "more than 1e308"
    return f"{ratio:,.0f}" if ratio < 1e9 else f"{ratio:.1e}"


def _fmt(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Inf" if value > 0 else "-Inf"
    return format_sig(value)
