"""A step run's charts say what their x axis counts, in titles and notes."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from metricwatch.model import STEP, Run, Series, Table
from metricwatch.tui.charts import charts_for
from metricwatch.tui.state import build_state


def test_step_run_charts_are_titled_by_step_and_notes_count_steps():
    steps = np.array([100, 200, 300, 400])
    loss = Series("train_loss", steps, np.array([2.0, math.nan, math.nan, 1.0]))
    lr = Series("lr", steps, np.array([1e-2, 1e-3, 0.0, 1e-5]))  # log scale: 0 is left out
    run = Run("s", Path("s"), Table(steps, {"train_loss": loss, "lr": lr}, STEP))
    charts = {chart.id: chart for chart in charts_for(build_state(run))}
    assert charts["loss"].title == "Loss by step"
    assert charts["loss"].notes == ("train_loss: NaN from step 200 (2 steps)",)
    assert charts["lr"].title.endswith(" by step")
    assert any("at 1 step" in note for note in charts["lr"].notes)


def test_epoch_run_charts_keep_their_titles():
    run = Run("e", Path("e"), Table.from_rows([(1, {"train_loss": 2.0}), (2, {"train_loss": 1.0})]))
    assert charts_for(build_state(run))[0].title == "Loss"
