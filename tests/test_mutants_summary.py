"""Summary edge cases found by mutation testing: exact texts, limits and x offsets."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from helpers import columns, make_run

from metricwatch.analysis.summary import (
    Best,
    MetricLine,
    RunSummary,
    _count,
    best_of,
    mean_epoch_s,
    ranking_key,
    summarize,
    total_steps,
    training_time_s,
)
from metricwatch.metrics import Task
from metricwatch.model import STEP, Run, Series, Table


def summary(**kwargs) -> RunSummary:
    base = {
        "epochs": 0,
        "total_epochs": None,
        "task": None,
        "best_step": None,
        "best_by": None,
        "training_time_s": None,
        "mean_epoch_s": None,
    }
    return RunSummary(**{**base, **kwargs})


def step_run(steps, values, epochs=None, key="val_loss", meta=None, extra_series=()) -> Run:
    steps = np.asarray(steps)
    series = {key: Series(key, steps, np.asarray(values, dtype=float), epochs)}
    for s in extra_series:
        series[s.key] = s
    return Run("s", Path("s"), Table(steps, series, STEP), meta=meta or {})


# --- Best and MetricLine ---------------------------------------------------------------------


def test_best_as_json_in_a_step_run_keeps_its_own_epoch():
    best = Best(0.5, 300, 2.75)
    assert best.as_json("step") == {"value": 0.5, "step": 300, "epoch": 2.75}
    assert best.as_json("epoch") == {"value": 0.5, "step": 300, "epoch": 300}
    assert Best(0.5, 7).as_json("step") == {"value": 0.5, "step": 7, "epoch": None}


def test_a_metric_line_formats_a_fraction_at_scale_one_by_default():
    line = MetricLine("val_accuracy", "Val Accuracy", 0.5, 3, None)
    assert line.scale == 1.0
    assert line.format(0.5) == "50.0%"
    assert line.format(None) == "—"
    assert MetricLine("val_accuracy", "Val Accuracy", 50, 3, None, 100.0).format(50) == "50.0%"


# --- RunSummary defaults, labels and progress ------------------------------------------------


def test_a_new_summary_counts_no_steps_and_is_an_epoch_summary():
    s = summary()
    assert s.steps == 0 and s.x == "epoch"
    assert s.last == {} and s.best == {} and s.metrics == []
    assert s.last_step is None and s.total_steps is None and s.best_epoch_of_step is None


def test_best_epoch_is_the_best_step_in_an_epoch_run_and_the_point_epoch_in_a_step_run():
    assert summary(best_step=7, best_epoch_of_step=1.5).best_epoch == 7
    assert summary(x="step", best_step=700, best_epoch_of_step=1.5).best_epoch == 1.5


@pytest.mark.parametrize(
    ("epochs", "total", "label"),
    [(3, 10, "3 / 10"), (3, None, "3"), (3, 0, "3"), (0, None, "0"), (12, 12, "12 / 12")],
)
def test_epochs_label(epochs, total, label):
    assert summary(epochs=epochs, total_epochs=total).epochs_label == label


def test_epoch_progress_with_and_without_a_total():
    assert summary(epochs=23, total_epochs=50).progress() == "epoch 23 / 50"
    assert summary(epochs=23, total_epochs=50).progress(compact=True) == "23/50"
    assert summary(epochs=23).progress() == "epoch 23"
    assert summary(epochs=23).progress(compact=True) == "23"


def test_step_progress_wordings():
    s = summary(x="step", epochs=2, last_step=1_200, total_steps=5_000)
    assert s.progress() == "step 1,200 / 5,000 · epoch 2"
    assert s.progress(compact=True) == "1.2k/5k st"
    s = summary(x="step", epochs=0, last_step=1_200)
    assert s.progress() == "step 1,200"
    assert s.progress(compact=True) == "1.2k st"
    s = summary(x="step", epochs=3, last_step=None, total_steps=0)
    assert s.progress() == "step 0 · epoch 3"
    assert s.progress(compact=True) == "0 st"
    # The planned epochs, where the planned steps are not known (a step log and its
    # metrics.json): after the epoch, never next to a total of steps.
    s = summary(x="step", epochs=3, last_step=350, total_epochs=5)
    assert s.progress() == "step 350 · epoch 3 / 5"
    s = summary(x="step", epochs=3, last_step=350, total_epochs=5, total_steps=500)
    assert s.progress() == "step 350 / 500 · epoch 3"


# --- rows ------------------------------------------------------------------------------------


def test_rows_of_an_epoch_run_in_the_seed_order():
    line_best_elsewhere = MetricLine("val_accuracy", "Val Accuracy", 0.5, 4, Best(0.75, 2))
    line_best_last = MetricLine("val_f1", "Val F1", 0.25, 4, Best(0.25, 4))
    s = summary(
        epochs=4,
        total_epochs=None,
        best_step=2,
        training_time_s=125.0,
        mean_epoch_s=31.25,
        last={"train_loss": 0.5, "val_loss": 0.75},
        metrics=[line_best_elsewhere, line_best_last],
    )
    assert s.rows() == [
        ("Train Loss", "0.5"),
        ("Val Loss", "0.75"),
        ("Val Accuracy", "50.0%  (best 75.0% @ 2)"),
        ("Val F1", "25.0%"),
        ("Best Epoch", "2 / 4"),
        ("Training Time", "2m 05s"),
        ("Mean Epoch", "31.2s"),
        ("Epochs (actual)", "4"),
    ]


def test_rows_of_an_epoch_run_without_a_best():
    rows = dict(summary(epochs=3, total_epochs=9).rows())
    assert rows["Best Epoch"] == "—"
    assert rows["Epochs (actual)"] == "3 / 9"
    assert rows["Train Loss"] == "—" and rows["Training Time"] == "—"
    assert dict(summary(epochs=3, total_epochs=9, best_step=0).rows())["Best Epoch"] == "0 / 9"


def test_rows_of_a_step_run():
    s = summary(
        x="step",
        epochs=2,
        best_step=12_000,
        best_epoch_of_step=2.125,
        last_step=15_000,
        total_steps=20_000,
        mean_epoch_s=5400.0,
    )
    rows = s.rows()
    assert ("Best Step", "12,000 (epoch 2.12)") in rows
    assert ("Progress", "step 15,000 / 20,000 · epoch 2") in rows
    assert ("Mean Epoch", "1h 30m") in rows
    assert [name for name, _ in rows][-4:] == [
        "Best Step", "Training Time", "Mean Epoch", "Progress",
    ]  # fmt: skip
    assert dict(summary(x="step", best_step=12_000).rows())["Best Step"] == "12,000"
    assert dict(summary(x="step").rows())["Best Step"] == "—"
    assert dict(summary(x="step", best_step=0, best_epoch_of_step=0.0).rows())["Best Step"] == (
        "0 (epoch 0.00)"
    )


# --- _count ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("n", "text"),
    [
        (0, "0"),
        (1, "1"),
        (999, "999"),
        (1_000, "1k"),
        (1_001, "1k"),
        (2_000, "2k"),
        (20_000, "20k"),
        (1_500, "1.5k"),
        (99_940, "99.9k"),
        (100_000, "100k"),
        (100_700, "101k"),
        (150_000, "150k"),
        (999_499, "999k"),
        (999_500, "1M"),
        (999_999, "1M"),
        (99_950, "100k"),
        (1_000_000, "1M"),
        (2_500_000, "2.5M"),
        (250_000_000, "250M"),
        (999_999_999, "1G"),
        (1_000_000_000, "1G"),
        (1_200_000_000, "1.2G"),
        (3_000_000_000_000, "3000G"),
        (-1_500, "-1.5k"),
        (-999, "-999"),
        (-2_000_000, "-2M"),
    ],
)
def test_count(n, text):
    assert _count(n) == text


# --- total_steps -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [(1, 1), (5_000, 5_000), (0, None), (-1, None), (True, None), (False, None),
     (5.0, None), ("5", None), (None, None)],
)  # fmt: skip
def test_total_steps(value, expected):
    run = make_run(columns(train_loss=[1.0]), meta={} if value is None else {"total_steps": value})
    assert total_steps(run) == expected


# --- best_of ---------------------------------------------------------------------------------


def test_best_of_a_lower_series_with_infinities_and_nan():
    s = Series("val_loss", np.array([5, 6, 7, 8]), np.array([math.nan, -math.inf, 0.5, 0.25]))
    # -inf is not finite: never the best
    assert best_of(s) == Best(0.25, 8, None)


def test_best_of_a_higher_series_with_infinities():
    s = Series("val_accuracy", np.array([5, 6, 7]), np.array([math.inf, 0.5, 0.75]))
    assert best_of(s) == Best(0.75, 7, None)
    s = Series(
        "val_accuracy",
        np.array([5, 6, 7]),
        np.array([0.9, 0.9, math.nan]),
        np.array([1.5, 2.5, 3.5]),
    )
    assert best_of(s) == Best(0.9, 5, 1.5)


def test_best_of_takes_the_one_pass_answer_only_when_it_is_finite():
    s = Series("val_loss", np.array([1, 2, 3]), np.array([1.7e308, -1.7e308, 0.0]))
    assert best_of(s) == Best(-1.7e308, 2, None)
    s = Series("val_loss", np.array([1, 2, 3]), np.array([0.5, 0.2, math.nan]))  # NaN last
    assert best_of(s) == Best(0.2, 2, None)
    s = Series("val_accuracy", np.array([1, 2, 3]), np.array([0.5, -math.inf, math.nan]))
    assert best_of(s) == Best(0.5, 1, None)


def test_best_of_without_a_finite_value_is_none():
    assert best_of(Series("val_loss")) is None
    assert best_of(Series("val_loss", np.array([1, 2]), np.array([math.nan, math.inf]))) is None
    assert best_of(Series("val_loss", np.array([3]), np.array([-1.0]))) == Best(-1.0, 3, None)


# --- durations -------------------------------------------------------------------------------


def test_durations_of_zero_count_and_negatives_do_not():
    run = make_run(columns(duration_s=[0.0, 10.0, -4.0, -0.5, math.nan, math.inf]))
    assert training_time_s(run) == 10.0
    assert mean_epoch_s(run) == 5.0


def test_durations_without_any_or_overflowing():
    assert training_time_s(make_run(columns(train_loss=[1.0]))) is None
    assert mean_epoch_s(make_run(columns(train_loss=[1.0]))) is None
    assert training_time_s(make_run(columns(duration_s=[-1.0]))) is None
    assert mean_epoch_s(make_run(columns(duration_s=[-1.0]))) is None
    huge = make_run(columns(duration_s=[1.5e308, 1.5e308]))
    assert training_time_s(huge) is None
    assert mean_epoch_s(huge) == 1.5e308


def test_one_duration_is_its_own_mean_and_total():
    run = make_run(columns(duration_s=[42.0]))
    assert training_time_s(run) == 42.0 and mean_epoch_s(run) == 42.0
    run = make_run(columns(duration_s=[30.0, 60.0, 90.0]))
    assert training_time_s(run) == 180.0 and mean_epoch_s(run) == 60.0


# --- ranking ---------------------------------------------------------------------------------


def test_ranking_key_order():
    run = make_run(columns(train_loss=[1.0], val_loss=[1.0], val_accuracy=[0.5]))
    assert ranking_key(run, Task.CLASSIFICATION) == "val_loss"
    run = make_run(columns(train_loss=[1.0], val_accuracy=[0.5], val_f1=[0.5]))
    assert ranking_key(run, Task.CLASSIFICATION) == "val_accuracy"
    # the declared task's main metric is missing: the first task metric with a direction
    run = make_run(columns(train_loss=[1.0], my_thing=[1.0], val_f1=[0.5], val_accuracy=[0.5]))
    assert ranking_key(run, Task.SEGMENTATION) == "val_f1"
    # the task's main metric before an earlier task metric
    assert ranking_key(run, Task.CLASSIFICATION) == "val_accuracy"
    assert ranking_key(run, None) == "val_f1"
    run = make_run(columns(train_loss=[1.0], my_thing=[1.0]))
    assert ranking_key(run, None) == "train_loss"
    assert ranking_key(make_run(columns(my_thing=[1.0])), None) is None
    assert ranking_key(make_run(columns(lr=[1.0])), Task.REGRESSION) is None


# --- summarize -------------------------------------------------------------------------------


def test_summarize_an_epoch_run_counting_from_zero():
    run = make_run(
        [
            {"epoch": 0, "val_loss": 3.0, "lr": 0.1, "val_accuracy": 40.0},
            {"epoch": 1, "val_loss": 1.0, "lr": 0.2, "val_accuracy": 60.0},
            {"epoch": 2, "val_loss": 2.0, "lr": 0.3, "val_accuracy": 55.0},
        ],
        meta={"total_epochs": 5, "total_steps": 300},
    )
    s = summarize(run)
    assert (s.epochs, s.total_epochs, s.steps, s.last_step, s.total_steps) == (3, 5, 3, 2, 300)
    assert (s.best_step, s.best_by, s.best_epoch) == (1, "val_loss", 1)
    assert s.task is Task.CLASSIFICATION
    assert s.last == {"val_loss": 2.0, "lr": 0.3, "val_accuracy": 55.0}
    assert set(s.best) == {"val_loss", "val_accuracy"}
    assert s.best["val_accuracy"] == Best(60.0, 1, None)
    [line] = s.metrics
    assert (line.key, line.label, line.last, line.last_step, line.scale) == (
        "val_accuracy", "Val Accuracy", 55.0, 2, 100.0,
    )  # fmt: skip
    assert line.best == Best(60.0, 1, None)
    assert dict(s.rows())["Val Accuracy"] == "55.0%  (best 60.0% @ 1)"


def test_summarize_a_step_run_takes_the_best_point_epoch():
    epochs = np.array([0.5, 1.0, 1.5])
    acc = Series("val_accuracy", np.array([100, 200, 300]), np.array([0.25, 0.5, 0.75]), epochs)
    run = step_run([100, 200, 300], [3.0, 1.0, 2.0], epochs, extra_series=[acc],
                   meta={"total_steps": 900})  # fmt: skip
    s = summarize(run)
    assert (s.x, s.best_step, s.best_epoch, s.best_epoch_of_step) == ("step", 200, 1.0, 1.0)
    assert (s.epochs, s.steps, s.last_step, s.total_steps) == (1, 3, 300, 900)
    assert s.metrics[0].scale == 1.0
    assert s.best["val_accuracy"] == Best(0.75, 300, 1.5)
    assert s.progress() == "step 300 / 900 · epoch 1"


def test_summarize_without_a_ranking_key_has_no_best_step():
    s = summarize(make_run(columns(lr=[0.1, 0.2])))
    assert (s.best_step, s.best_by, s.best_epoch_of_step) == (None, None, None)
    assert s.best == {} and s.metrics == []
    s = summarize(make_run(columns(val_loss=[math.nan, math.nan])))
    assert (s.best_step, s.best_by) == (None, "val_loss")


def test_summarize_takes_the_task_the_run_declares():
    run = make_run(columns(val_accuracy=[0.5, 0.75]), meta={"task": "segmentation"})
    assert summarize(run).task is Task.SEGMENTATION
    assert summarize(make_run(columns(val_accuracy=[0.5]))).task is Task.CLASSIFICATION
