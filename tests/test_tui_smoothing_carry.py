"""A live run's smoothing is carried from one state to the next: only new points are smoothed."""

from __future__ import annotations

import numpy as np
from helpers import make_run

import metricwatch.analysis.smoothing as smoothing
from metricwatch.analysis.smoothing import debiased_ema
from metricwatch.tui.state import build_state


def rows(last: int) -> list[dict]:
    return [{"epoch": e, "train_loss": 1.0 / e + (e % 7) * 0.01} for e in range(3, last + 1)]


def counting(monkeypatch) -> list[int]:
    """The lengths of what goes through the average, from now on."""
    seen: list[int] = []
    real = smoothing._ema
    monkeypatch.setattr(
        smoothing, "_ema", lambda x, w, c=0.0, **kw: seen.append(len(x)) or real(x, w, c, **kw)
    )
    return seen


def test_a_grown_run_is_smoothed_only_for_the_points_it_gained(monkeypatch):
    first = build_state(make_run(rows(502), name="carry-a"))
    grown = build_state(make_run(rows(510), name="carry-a"))
    other = build_state(make_run(rows(510), name="carry-b"))
    expected = debiased_ema(grown.column("train_loss")[1], 0.9)
    seen = counting(monkeypatch)
    first.smoothed("train_loss", 0.9)
    out = grown.smoothed("train_loss", 0.9)
    assert seen == [500, 8]
    assert np.allclose(out, expected, rtol=1e-13, atol=0)
    # Another run of the same shape, or another weight, starts afresh.
    other.smoothed("train_loss", 0.9)
    grown.smoothed("train_loss", 0.6)
    assert seen[2:] == [508, 508]


def test_a_run_whose_points_changed_is_smoothed_afresh(monkeypatch):
    before = build_state(make_run(rows(100), name="carry-c"))
    resumed = rows(100)
    resumed[50]["train_loss"] = 9.0  # a resume rewrote a point in the middle
    after = build_state(make_run(resumed, name="carry-c"))
    expected = debiased_ema(np.array([r["train_loss"] for r in resumed]), 0.9)
    seen = counting(monkeypatch)
    before.smoothed("train_loss", 0.9)
    out = after.smoothed("train_loss", 0.9)
    assert seen == [98, 98]
    assert np.allclose(out, expected, rtol=1e-13, atol=0)


def test_chart_columns_are_the_runs_arrays_not_copies():
    """Building a state's columns at every write copies nothing: a million steps turned
    into floats per write cost the watch thread more than reading the write."""
    run = make_run(rows(40), name="columns")
    state = build_state(run).with_columns()
    steps, values = state.column("train_loss")
    series = run.series("train_loss")
    assert steps is series.steps and values is series.values
    assert steps.dtype == np.int64 and steps.tolist() == list(range(3, 41))


def test_drawn_steps_are_floats_converted_once_per_state_and_not_carried_to_a_grown_one():
    from metricwatch.tui.state import grown_state

    state = build_state(make_run(rows(40), name="drawn")).with_columns()
    x, y = state.drawn_column("train_loss")
    assert x.dtype == np.float64 and x.tolist() == [float(e) for e in range(3, 41)]
    assert state.drawn_column("train_loss")[0] is x  # kept for the next redraw
    assert y is state.column("train_loss")[1]
    assert state.x_values("train_loss", "epoch") is x  # the run's own axis
    grown = grown_state(state, make_run(rows(45), name="drawn"), version=2)
    assert grown is not None
    assert grown.drawn_column("train_loss")[0].tolist() == [float(e) for e in range(3, 46)]


def test_keys_on_one_steps_array_share_their_drawn_steps_and_no_others_do():
    from pathlib import Path

    from metricwatch.model import STEP, Run, Series, Table

    steps = np.arange(5, 500, 5, dtype=np.int64)
    values = np.linspace(2.0, 0.1, len(steps))
    series = {
        "train_loss": Series("train_loss", steps, values),
        "lr": Series("lr", steps, values / 100),  # the same array: the same lines
        "train_accuracy": Series("train_accuracy", steps.copy(), values / 3),  # a copy
        "val_loss": Series("val_loss", steps[:50], values[:50]),  # the same memory, shorter
    }
    run = Run(name="shared", path=Path("shared"), table=Table(steps, series, STEP), meta={})
    state = build_state(run).with_columns()
    loss = state.drawn_column("train_loss")[0]
    assert state.drawn_column("lr")[0] is loss  # converted once for both
    assert state.drawn_column("train_accuracy")[0] is not loss
    short = state.drawn_column("val_loss")[0]
    assert short is not loss and short.tolist() == [float(s) for s in steps[:50]]
    assert loss.tolist() == [float(s) for s in steps]
