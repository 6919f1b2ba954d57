"""Diagnostics: a run's series in, findings out. Pure functions, no I/O.

diagnose(run) runs every rule (one module per family: rules_values,
rules_gradients, rules_loss, rules_stopping) with the thresholds of
thresholds.py, drops a generic finding when a more specific one explains the
same observation (SUPERSEDED_BY), and sorts worst first. The rules read
float64 arrays under np.errstate: a file may hold 1.7e308 or 5e-324, and a
ratio or a difference of such values is an infinity the rule then compares,
never an exception.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from metricwatch.analysis.findings import (
    FINDING_IDS,
    TABLE,
    Finding,
    Severity,
    worst_severity,
)
from metricwatch.analysis.levels import trailing_mean
from metricwatch.analysis.rules_gradients import exploding_gradients, vanishing_gradients
from metricwatch.analysis.rules_loss import (
    loss_diverging,
    loss_not_decreasing,
    loss_oscillating,
    loss_spike,
    overfitting,
)
from metricwatch.analysis.rules_stopping import no_improvement
from metricwatch.analysis.rules_values import non_finite, stall_check, stall_limit_s, stalled
from metricwatch.analysis.thresholds import THRESHOLDS, Thresholds
from metricwatch.model import Run

__all__ = [
    "FINDING_IDS",
    "RULES",
    "SUPERSEDED_BY",
    "TABLE",
    "THRESHOLDS",
    "Finding",
    "Severity",
    "Thresholds",
    "diagnose",
    "stall_check",
    "stall_limit_s",
    "stalled",
    "trailing_mean",
    "worst_severity",
]

Rule = Callable[[Run, Thresholds], "Finding | None"]

RULES: tuple[Rule, ...] = (
    non_finite,
    exploding_gradients,
    loss_diverging,
    overfitting,
    loss_spike,
    loss_oscillating,
    loss_not_decreasing,
    vanishing_gradients,
    no_improvement,
)

#: A finding is dropped when a more specific one explains the same observation, and only
#: then: a loss that oscillates, diverges, explodes or has no gradient is also "not
#: decreasing"; a loss blowing up with its gradient norm is diverging because the gradients
#: exploded. Oscillation does not hide overfitting (train swinging says nothing about val
#: rising), and no finding hides the advice of no_improvement.
SUPERSEDED_BY: dict[str, set[str]] = {
    "loss_not_decreasing": {
        "loss_oscillating",
        "loss_diverging",
        "vanishing_gradients",
        "exploding_gradients",
    },
    "loss_diverging": {"exploding_gradients"},
}


def diagnose(run: Run, limits: Thresholds = THRESHOLDS) -> list[Finding]:
    """Every finding for a run, worst first. A healthy run gives nothing above INFO."""
    with np.errstate(all="ignore"):
        findings = [f for rule in RULES if (f := rule(run, limits)) is not None]
    ids = {f.id for f in findings}
    findings = [f for f in findings if not (SUPERSEDED_BY.get(f.id, set()) & ids)]
    findings.sort(key=lambda f: -f.severity.rank)
    return findings
