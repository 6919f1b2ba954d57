"""When to stop: no_improvement, advice (severity INFO) about what early stopping would save.

The curve judged is the one the summary ranks by (summary.ranking_key: the
val loss, else the task's main metric); its best is summary.best_of's, the
same point the summary table and the chart's marker show.
"""

from __future__ import annotations

import math

import numpy as np

from metricwatch.analysis.findings import Finding, Severity, at, fmt, make_finding, point
from metricwatch.analysis.summary import best_of, mean_epoch_s, ranking_key
from metricwatch.analysis.thresholds import Thresholds
from metricwatch.metrics import MAIN_METRIC, Direction, Kind, format_duration, infer_task, spec_for
from metricwatch.model import EPOCH, Run, Series


def patience_for(evaluations: int, limits: Thresholds) -> int:
    """The patience (evaluations without a new best) of the early stopping simulated."""
    return max(limits.stop_patience_min, round(evaluations * limits.stop_patience_fraction))


def early_stop_index(values: np.ndarray, higher: bool, patience: int, min_delta: float) -> int:
    """Where early stopping would have stopped: the evaluation index, or the last one.

    Keras' and Lightning's rule: an evaluation is a new best when it beats the best
    so far by more than min_delta of it; after `patience` evaluations in a row
    without one, training stops.

    Found from one new best to the next with numpy, not evaluation by evaluation: a
    run of 200,000 epochs has a few hundred new bests (each must beat the last by
    min_delta), and the rule is asked again as the run grows.
    """
    values = np.asarray(values, dtype=np.float64)
    count, patience = len(values), max(1, patience)  # 0 stops at the first miss, as 1 does
    at, best = 0, float(values[0])
    while True:
        margin = min_delta * abs(best)
        bar = best + margin if higher else best - margin
        found = _first_better(values, at + 1, min(count, at + patience + 1), bar, higher)
        if found is None:
            return at + patience if at + patience < count else count - 1
        at, best = found, float(values[found])


#: A new best is looked for among this many evaluations first: it is usually near.
_NEAR = 64


def _first_better(values: np.ndarray, start: int, end: int, bar: float, higher: bool) -> int | None:
    """The first index in [start, end) whose value beats bar, or None."""
    for lo, hi in ((start, min(end, start + _NEAR)), (start + _NEAR, end)):
        if lo >= hi:
            continue
        window = values[lo:hi]
        beats = window > bar if higher else window < bar
        if beats.any():
            return lo + int(beats.argmax())
    return None


def _time_between(run: Run, series: Series, start: int, end: int) -> float | None:
    """Seconds from point start to point end: logged times, else the mean epoch duration."""
    if series.times is not None:
        seconds = float(series.times[end] - series.times[start])
        if math.isfinite(seconds) and seconds >= 0:
            return seconds
    if run.x == EPOCH:
        mean = mean_epoch_s(run)
        if mean is not None:
            return mean * float(series.steps[end] - series.steps[start])
    return None


def no_improvement(run: Run, limits: Thresholds) -> Finding | None:
    """The best validation value came long before the end: what early stopping would save."""
    task = infer_task(run.keys, run.meta.get("task"))
    key = ranking_key(run, task)
    # Held-out values only: the val loss, the task's main metric or another val_ metric;
    # a training-side accuracy (detectron2's fast_rcnn/cls_accuracy) says nothing here.
    main = MAIN_METRIC.get(task) if task is not None else None
    if key is None or not (key.startswith("val_") or key == main):
        return None
    direction = spec_for(key).direction
    if direction is Direction.NONE:
        return None
    series = run.series(key).finite()
    if len(series) < limits.min_epochs_for_trends:
        return None
    if spec_for(key).kind is Kind.LOSS and bool(np.any(series.values < 0)):
        return None  # a loss that goes negative is no lower-is-better signal (judged_loss)
    best = best_of(series)
    assert best is not None
    best_index = int(np.searchsorted(series.steps, best.step))
    patience = patience_for(len(series), limits)
    higher = direction is Direction.HIGHER
    stop = early_stop_index(series.values, higher, patience, limits.stop_min_delta)
    last = len(series) - 1
    span = float(series.steps[last] - series.steps[0])
    saved = float(series.steps[last] - series.steps[stop])
    if best_index > stop or stop >= last or not span > 0:
        return None  # the best came after where stopping would have stopped: no advice
    if saved < limits.stop_min_saved * span:
        return None
    now = float(series.values[last])
    drift = abs(now - best.value) / abs(best.value) if best.value else math.inf
    worse = "lower" if higher else "higher"
    drift_text = f"{drift:.1%} {worse}" if drift < 1 else f"{fmt(drift * 100)}% {worse}"
    unit = "epochs" if run.x == EPOCH else "steps"
    seconds = _time_between(run, series, stop, last)
    time_text = f", about {format_duration(seconds)}" if seconds is not None else ""
    return make_finding(
        "no_improvement",
        Severity.INFO,
        f"{key} was best at {at(run, series, best_index)} ({fmt(best.value)}) and is "
        f"{fmt(now)} at {at(run, series, last)} ({drift_text}). Early stopping with "
        f"patience {patience} (evaluations without a {limits.stop_min_delta:.0%} better "
        f"value) would have stopped at {at(run, series, stop)} and saved {saved:,.0f} {unit} "
        f"({saved / span:.0%} of the run{time_text})",
        action=(
            f"Use early stopping (patience {patience}) or keep the best checkpoint "
            f"({at(run, series, best_index)}); shorten the schedule"
        ),
        **point(run, series, best_index),
    )
