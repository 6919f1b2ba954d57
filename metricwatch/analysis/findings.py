"""What a rule returns: a Finding, its Severity, and the seed's table of causes and actions.

Also the small helpers every rule family shares: where a point is (its step,
and its epoch where known), how a value prints, and which loss curves the loss
rules may judge at all.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum

import numpy as np

from metricwatch.metrics import Direction, format_sig, spec_for
from metricwatch.model import EPOCH, Run, Series


class Severity(str, Enum):
    """How loud a finding is. INFO is advice: never an alarm, never counted by --fail-on."""

    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        return _RANKS[self]

    @property
    def alarm(self) -> bool:
        """Whether the finding is an alarm (WARNING, CRITICAL) rather than advice."""
        return self is not Severity.INFO


_RANKS = {Severity.INFO: 0, Severity.WARNING: 1, Severity.CRITICAL: 2}


@dataclass(frozen=True)
class Finding:
    """One diagnosis. `step` is the x position it points at (the epoch number in an epoch
    run, the optimiser step in a step run); `epoch` is that point's epoch where known."""

    id: str
    severity: Severity
    observation: str
    evidence: str
    cause: str
    action: str
    epoch: float | None
    step: int | None = None

    @property
    def message(self) -> str:
        return f"{self.observation}: {self.evidence}"


# The seed's diagnostic table (observation, likely cause, action), and the rows added since.
TABLE: dict[str, tuple[str, str, str]] = {
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
    "loss_diverging": (
        "Train loss diverging",
        "LR too high or unstable optimisation",
        "Lower the LR, add warm-up, clip gradients; restart from the last good checkpoint",
    ),
    "loss_spike": (
        "Train loss spike",
        "A bad batch, or an LR briefly too high for the loss surface (often after a "
        "gradient-norm spike)",
        "Check the data at that step; clip gradients or lower the LR if spikes recur",
    ),
    "no_improvement": (
        "Best validation value came long before the end",
        "Training went on after the model stopped improving on held-out data",
        "Use early stopping (or keep the best checkpoint) and shorten the schedule",
    ),
}
FINDING_IDS = tuple(TABLE)


def make_finding(
    rule_id: str,
    severity: Severity,
    evidence: str,
    *,
    step: int | None = None,
    epoch: float | None = None,
    action: str | None = None,
) -> Finding:
    """A finding of rule_id with the seed table's observation and cause, pointing at step."""
    observation, cause, default_action = TABLE[rule_id]
    return Finding(
        rule_id, severity, observation, evidence, cause, action or default_action, epoch, step
    )


def point(run: Run, series: Series, index: int) -> dict[str, float | int | None]:
    """make_finding's step and epoch for point index of series."""
    return {"step": int(series.steps[index]), "epoch": epoch_of(run, series, index)}


def epoch_of(run: Run, series: Series, index: int) -> float | None:
    """The epoch of point index: its step in an epoch run, the logged epoch in a step run."""
    if run.x == EPOCH:
        return int(series.steps[index])
    epoch = series.epoch_at(index)
    return epoch if epoch is not None and math.isfinite(epoch) else None


def at(run: Run, series: Series, index: int) -> str:
    """Where point index is, in words: `epoch 5`, or `step 1,100 (epoch 2.3)` where known."""
    step = int(series.steps[index])
    if run.x == EPOCH:
        return f"epoch {step}"
    epoch = epoch_of(run, series, index)
    return f"step {step:,}" + (f" (epoch {epoch:.3g})" if epoch is not None else "")


def span(run: Run, series: Series, first: int, last: int) -> str:
    """Points first to last in words: `epochs 4-6`, `steps 100-300`, `epoch 5` when one."""
    if first == last:
        return at(run, series, first)
    a, b = int(series.steps[first]), int(series.steps[last])
    return f"epochs {a}-{b}" if run.x == EPOCH else f"steps {a:,}-{b:,}"


def points_word(run: Run) -> str:
    """What a run's points are called in evidence: epochs, or (logged) points of a step run."""
    return "epochs" if run.x == EPOCH else "points"


def fmt(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Inf" if value > 0 else "-Inf"
    return format_sig(value)


def fmt_ratio(ratio: float) -> str:
    """A growth factor: 1,234 up to a billion, then 1.2e+12; an overflow says so."""
    if not math.isfinite(ratio):
        return "more than 1e308"
    return f"{ratio:,.0f}" if ratio < 1e9 else f"{ratio:.1e}"


def judged_loss(run: Run, key: str) -> Series | None:
    """The finite points of a loss the loss rules may judge, or None.

    A loss is judged as "lower is better" progress only when the registry says so
    and it never goes negative: GAN losses (WGAN critic and generator), policy-
    gradient and GRPO losses hover around or below zero and their level says
    nothing about progress; a negative log-likelihood falling to -1e8 is an
    objective running away, not a loss improving.
    """
    if spec_for(key).direction is not Direction.LOWER:
        return None
    series = run.series(key).finite()
    if not len(series) or bool(np.any(series.values < 0)):
        return None
    return series


def worst_severity(findings: Sequence[Finding]) -> Severity | None:
    return max((f.severity for f in findings), key=lambda s: s.rank, default=None)
