"""Rules on the gradient norm: exploding_gradients, vanishing_gradients."""

from __future__ import annotations

import numpy as np

from metricwatch.analysis.findings import (
    Finding,
    Severity,
    at,
    fmt,
    fmt_ratio,
    judged_loss,
    make_finding,
    point,
    points_word,
    span,
)
from metricwatch.analysis.thresholds import Thresholds
from metricwatch.metrics import GRADIENT_KEYS
from metricwatch.model import Run


def exploding_gradients(run: Run, limits: Thresholds) -> Finding | None:
    """A gradient norm that is NaN/Inf, or grew by orders of magnitude from its first points."""
    for key in GRADIENT_KEYS:
        series = run.series(key)
        if not len(series):
            continue
        bad = np.flatnonzero(~np.isfinite(series.values))
        if len(bad):
            index = int(bad[0])
            return make_finding(
                "exploding_gradients",
                Severity.CRITICAL,
                f"{key} = {fmt(float(series.values[index]))} at {at(run, series, index)}",
                **point(run, series, index),
            )
        if len(series) < 4:
            continue
        baseline = float(np.median(series.values[:3]))
        if baseline <= 0:
            continue
        peak_index = 3 + int(np.argmax(series.values[3:]))
        peak = float(series.values[peak_index])
        growth = peak / baseline
        if growth < limits.explode_growth or peak < limits.explode_min_peak:
            continue
        severity = (
            Severity.CRITICAL if growth >= limits.explode_critical_growth else Severity.WARNING
        )
        return make_finding(
            "exploding_gradients",
            severity,
            f"{key} grew {fmt_ratio(growth)}× from {fmt(baseline)} (median of "
            f"{span(run, series, 0, 2)}) to {fmt(peak)} at {at(run, series, peak_index)}",
            **point(run, series, peak_index),
        )
    return None


def vanishing_gradients(run: Run, limits: Thresholds) -> Finding | None:
    """A gradient norm near zero while the (unconverged) train loss does not improve."""
    grad = run.series("grad_norm").finite()
    loss = judged_loss(run, "train_loss")
    if len(grad) < 3 or loss is None or len(loss) < limits.min_epochs_for_trends:
        return None
    recent_grad = float(np.median(grad.values[-3:]))
    if recent_grad >= limits.vanish_norm:
        return None
    first = float(loss.values[0])
    if first > 0 and loss.values[-1] < limits.converged_fraction * first:
        return None  # converged: tiny gradients at a tiny loss are expected
    window = loss.values[-limits.min_epochs_for_trends :]
    start = float(window[0])
    improvement = (start - float(np.min(window))) / start if start else 0.0
    if not improvement < limits.vanish_stuck:
        return None
    return make_finding(
        "vanishing_gradients",
        Severity.WARNING,
        f"grad_norm is {fmt(recent_grad)} (median of the last 3 {points_word(run)}) while "
        f"train_loss improved only {improvement * 100:.2f}% over the last {len(window)} "
        f"{points_word(run)} (now {fmt(float(loss.values[-1]))})",
        **point(run, grad, len(grad) - 1),
    )
