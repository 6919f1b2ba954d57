"""A write's state grown from the last analysis: the summary lines of keys it left alone are
kept as they are, and a first NaN or infinity among its new points is found whatever
their number."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from metricwatch.analysis.summary import summarize, with_progress
from metricwatch.model import STEP, Run, Series, Table
from metricwatch.tui.state import _all_finite, build_state, grown_state


def _run(points: dict[str, tuple[list[int], list[float]]]) -> Run:
    series = {
        key: Series(key, np.asarray(steps), np.asarray(values, dtype=float))
        for key, (steps, values) in points.items()
    }
    steps = np.unique(np.concatenate([s.steps for s in series.values()]))
    return Run("r", Path("r"), Table(steps, series, STEP))


def test_lines_of_keys_a_write_left_alone_are_kept_and_the_others_brought_up():
    before = _run({"val_accuracy": ([10, 20], [0.5, 0.6]), "val_f1": ([20], [0.7])})
    summary = summarize(before)
    after = _run({"val_accuracy": ([10, 20, 30], [0.5, 0.6, 0.65]), "val_f1": ([20], [0.7])})
    grown = with_progress(summary, after)
    old = {line.key: line for line in summary.metrics}
    new = {line.key: line for line in grown.metrics}
    assert new["val_f1"] is old["val_f1"]
    assert (new["val_accuracy"].last, new["val_accuracy"].last_step) == (0.65, 30)
    assert grown.last == {"val_accuracy": 0.65, "val_f1": 0.7}
    assert grown.last_step == 30 and grown.steps == 3


def test_a_line_whose_last_value_changed_at_the_same_step_is_brought_up():
    before = _run({"val_accuracy": ([10, 20], [0.5, 0.6])})
    after = _run({"val_accuracy": ([10, 20], [0.5, 0.8])})  # the last row rewritten
    (line,) = with_progress(summarize(before), after).metrics
    assert (line.last, line.last_step) == (0.8, 20)


def test_a_nan_last_value_is_brought_up_each_time():
    before = _run({"val_accuracy": ([10, 20], [0.5, math.nan])})
    summary = summarize(before)
    (line,) = with_progress(summary, before).metrics
    assert math.isnan(line.last) and line is not summary.metrics[0]


@pytest.mark.parametrize("count", [1, 63, 64, 65, 300])
@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_all_finite_both_ways_at_the_limit(count, bad):
    values = np.linspace(0.5, 2.0, count)
    assert _all_finite(values)
    values[count // 2] = bad
    assert not _all_finite(values)
    values[count // 2] = 1e308
    assert _all_finite(values)


@pytest.mark.parametrize("new_points", [2, 70])
def test_a_first_nan_among_new_points_needs_a_new_analysis(new_points):
    steps = list(range(1, 41))
    earlier = _run({"train_loss": (steps, [1 / s for s in steps])})
    analysed = build_state(earlier, version=1)
    more = list(range(41, 41 + new_points))
    values = [1 / s for s in steps + more]
    grown = _run({"train_loss": (steps + more, values)})
    assert grown_state(analysed, grown, version=2) is not None
    values[-1] = math.nan
    poisoned = _run({"train_loss": (steps + more, values)})
    assert grown_state(analysed, poisoned, version=2) is None
