"""The columnar run model and the reader's column building, and overflow-safe figures."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from helpers import columns, make_run

from metricwatch.analysis.diagnostics import diagnose, trailing_mean
from metricwatch.analysis.summary import best_of, mean_epoch_s, summarize, training_time_s
from metricwatch.model import ProblemKind, Series, Table
from metricwatch.readers import parse_metrics_json


def parse(document) -> Table:
    return parse_metrics_json(json.dumps(document).encode()).table


def test_series_are_read_only_int64_and_float64_arrays():
    table = parse({"epochs": [{"epoch": 3, "train_loss": 1}, {"epoch": 7, "train_loss": 0.5}]})
    series = table.series["train_loss"]
    assert series.steps.dtype == np.int64 and series.values.dtype == np.float64
    assert series.steps.tolist() == [3, 7] and series.values.tolist() == [1.0, 0.5]
    with pytest.raises(ValueError):
        series.values[0] = 2.0
    assert series.last == 0.5 and series.last_step == 7
    assert Series("x").last is None and Series("x").last_step is None


def test_series_of_a_full_record_share_one_epochs_array():
    rows = [{"epoch": e, "train_loss": 1.0 / e, "val_loss": 2.0 / e} for e in range(2, 40)]
    table = parse({"epochs": rows})
    assert table.series["train_loss"].steps is table.series["val_loss"].steps
    history = parse({"train_loss": [1.0, 0.5, 0.25], "val_loss": [2.0, 1.0, 0.5]})
    assert history.series["train_loss"].steps is history.series["val_loss"].steps
    # 16 bytes a point: the arrays are all there is.
    assert table.series["train_loss"].values.nbytes == 8 * 38


def test_sparse_records_keep_each_series_own_epochs():
    table = parse(
        {"epochs": [{"epoch": 1, "train_loss": 3}, {"epoch": 2, "val_loss": 9}, {"epoch": 4}]}
    )
    assert table.steps.tolist() == [1, 2, 4]
    assert table.series["train_loss"].steps.tolist() == [1]
    assert table.series["val_loss"].steps.tolist() == [2]


def test_history_lists_of_mixed_values():
    doc = {
        "train_loss": [1.5, None, "nan", 10**400, True, 0.25],
        "val_loss": [2, 3, 4, 5, 6],  # one epoch behind: still a series
    }
    result = parse_metrics_json(json.dumps(doc).encode())
    loss = result.table.series["train_loss"]
    assert loss.steps.tolist() == [1, 3, 4, 6]
    assert loss.values[0] == 1.5 and math.isnan(loss.values[1])
    assert loss.values[2] == math.inf and loss.values[3] == 0.25
    assert result.table.series["val_loss"].steps.tolist() == [1, 2, 3, 4, 5]
    assert [p.kind for p in result.problems] == [ProblemKind.NON_NUMERIC]
    assert "'train_loss' ×1" in result.problems[0].message  # the bool, not the None


def test_history_with_an_epoch_list_that_goes_back_is_a_resume():
    doc = {"epoch": [1, 2, 3, 2, 3, 4], "train_loss": [9, 8, 7, 6, 5, 4]}
    result = parse_metrics_json(json.dumps(doc).encode())
    loss = result.table.series["train_loss"]
    assert result.table.steps.tolist() == [1, 2, 3, 4]
    assert loss.steps.tolist() == [1, 2, 3, 4] and loss.values.tolist() == [9, 6, 5, 4]
    assert ProblemKind.RESTART in {p.kind for p in result.problems}


def test_history_alias_fills_only_the_epochs_the_canonical_key_lacks():
    doc = {"train_loss": [1.0, 0.8, None], "loss": [5.0, 5.0, 0.6]}
    result = parse_metrics_json(json.dumps(doc).encode())
    loss = result.table.series["train_loss"]
    assert loss.steps.tolist() == [1, 2, 3] and loss.values.tolist() == [1.0, 0.8, 0.6]
    assert "the same metric under two names" in result.problems[0].message


def test_rows_round_trip_through_a_table():
    rows = [{"epoch": 1, "a": 1.0}, {"epoch": 2, "b": 2.0}, {"epoch": 5, "a": 3.0, "b": 4.0}]
    table = Table.from_rows(
        (r["epoch"], {k: v for k, v in r.items() if k != "epoch"}) for r in rows
    )
    assert table.rows() == rows


# --- figures that must not overflow ----------------------------------------------------------


def test_durations_of_1e308_give_a_mean_and_no_total():
    run = make_run(columns(train_loss=[1, 0.9], duration_s=[1e308, 1e308]))
    assert mean_epoch_s(run) == 1e308
    assert training_time_s(run) is None  # the sum overflows: unknown, not an exception
    assert summarize(run).mean_epoch_s == 1e308


def test_mean_epoch_ignores_negative_and_non_finite_durations():
    run = make_run(columns(duration_s=[10, -5, math.nan, math.inf, 20]))
    assert mean_epoch_s(run) == 15.0
    assert training_time_s(run) == 30.0
    assert mean_epoch_s(make_run(columns(train_loss=[1.0]))) is None


@pytest.mark.parametrize(
    "values",
    [
        [1.7e308, 1.7e308],
        [1e308, -1e308, 1.0],
        [0.0, 5e-324],
        [5e-324, 5e-324],
        [1.7e308, -1.7e308, 1.7e308, -1.7e308, 1.7e308, -1.7e308, 1.7e308],
    ],
)
def test_extreme_losses_summarise_and_diagnose(values):
    rows = columns(train_loss=values, val_loss=values, grad_norm=values, duration_s=values)
    run = make_run(rows)
    summary = summarize(run)
    assert summary.steps == len(values)
    diagnose(run)  # must not raise


def test_best_of_picks_the_first_of_ties_by_direction():
    loss = Series("val_loss", np.array([4, 5, 6, 7]), np.array([2.0, 1.0, math.nan, 1.0]))
    assert best_of(loss) == best_of(loss.finite())
    assert (best_of(loss).value, best_of(loss).step) == (1.0, 5)
    accuracy = Series("val_accuracy", np.array([4, 5, 6]), np.array([0.5, 0.9, 0.9]))
    assert (best_of(accuracy).value, best_of(accuracy).step) == (0.9, 5)
    assert best_of(Series("val_loss", np.array([1]), np.array([math.nan]))) is None


def test_trailing_mean_is_exact_and_does_not_overflow():
    assert trailing_mean(np.array([3.0, 6.0, 9.0, 12.0]), 3).tolist() == [3.0, 4.5, 6.0, 9.0]
    big = trailing_mean(np.array([1.7e308, 1.7e308, 1.7e308]), 3)
    assert np.isfinite(big).all()
    assert trailing_mean(np.array([]), 3).tolist() == []


def test_problem_messages_shorten_keys_in_the_middle_and_escape_them():
    key = "a" * 30 + "\u202e" + "b" * 30 + "_top5"
    result = parse_metrics_json(json.dumps({"epochs": [{"epoch": 1, key: "x"}]}).encode())
    assert result.problems[0].message == (
        "ignored 1 non-numeric values ('aaaaaaaaaaaaaaa…bbbbbbbbbbbbbbbbbbb_top5' ×1)"
    )


def test_a_fraction_far_out_of_range_prints_as_a_number():
    from metricwatch.metrics import format_value

    assert format_value("val_accuracy", 1.7e308) == "1.700e+308"
    assert format_value("val_accuracy", 1.7e308, scale=100) == "1.700e+308"
    assert format_value("val_accuracy", 999.9) == "99990.0%"
    assert format_value("val_accuracy", 1000.0) == "1000"
    assert format_value("val_accuracy", 0.453) == "45.3%"


# --- step runs -------------------------------------------------------------------------------


def step_run():
    from metricwatch.model import STEP, Run

    steps = np.array([10, 20, 30, 40])
    loss = Series(
        "train_loss", steps, np.array([4.0, 3.0, 2.5, 2.0]), np.array([0.25, 0.5, 0.75, 1.0])
    )
    val = Series("val_loss", np.array([20, 40]), np.array([2.0, 2.2]), np.array([0.5, 1.0]))
    table = Table(steps, {"train_loss": loss, "val_loss": val}, STEP)
    return Run("s", Path("s"), table)


def test_a_step_run_knows_its_axis_epochs_and_best_step():
    run = step_run()
    assert run.x == "step" and run.last_step == 40 and run.epochs_done == 1
    summary = summarize(run)
    assert (summary.best_step, summary.best_epoch, summary.steps) == (20, 0.5, 4)
    assert summary.best["val_loss"].as_json("step") == {"value": 2.0, "step": 20, "epoch": 0.5}
    rows = dict(summary.rows())
    assert rows["Best Step"] == "20 (epoch 0.50)" and "Best Epoch" not in rows
    assert rows["Progress"] == "step 40 · epoch 1" and "Epochs (actual)" not in rows


def test_a_step_series_keeps_its_axes_together_when_filtered():
    series = Series(
        "train_loss",
        np.array([1, 2, 3]),
        np.array([1.0, math.nan, 0.5]),
        np.array([0.1, 0.2, 0.3]),
        np.array([100.0, 101.0, 102.0]),
    )
    finite = series.finite()
    assert finite.steps.tolist() == [1, 3] and finite.epochs.tolist() == [0.1, 0.3]
    assert finite.times.tolist() == [100.0, 102.0] and finite.epoch_at(1) == 0.3
    with pytest.raises(ValueError):
        Series("x", np.array([1, 2]), np.array([1.0, 2.0]), np.array([0.5]))


def test_epoch_run_json_best_carries_step_and_epoch():
    run = make_run(columns(val_loss=[3.0, 1.0, 2.0]))
    assert summarize(run).best["val_loss"].as_json("epoch") == {"value": 1.0, "step": 2, "epoch": 2}
    assert dict(summarize(run).rows())["Best Epoch"] == "2 / 3"


def test_progress_reads_the_same_in_every_place():
    from metricwatch.analysis.summary import _count

    epoch_summary = summarize(make_run(columns(train_loss=[3.0, 2.0]), meta={"total_epochs": 50}))
    assert epoch_summary.progress() == "epoch 2 / 50"
    assert epoch_summary.progress(compact=True) == "2/50"
    run = step_run()
    run.meta["total_steps"] = 12_500
    summary = summarize(run)
    assert summary.progress() == "step 40 / 12,500 · epoch 1"
    assert summary.progress(compact=True) == "40/12.5k st"
    assert [_count(n) for n in (999, 1_000, 1_250, 99_500, 250_000, 3_400_000)] == [
        "999", "1k", "1.2k", "99.5k", "250k", "3.4M",
    ]  # fmt: skip


def test_a_step_run_without_epochs_is_not_empty():
    from metricwatch.analysis.status import Status, run_status

    run = step_run()
    common = {"gone": False, "total_epochs": None, "mtime": 0.0, "mean_epoch_s": None, "now": 1e9}
    assert run.epochs_done == 1
    assert run_status(epochs_done=0, points=run.record_count, **common) is Status.IDLE
    assert run_status(epochs_done=0, points=0, **common) is Status.EMPTY


def test_findings_on_a_step_run_speak_of_steps():
    from metricwatch.model import STEP, Run

    steps = np.array([100, 200, 300])
    loss = Series("train_loss", steps, np.array([1.0, math.nan, 0.5]))
    run = Run("s", Path("s"), Table(steps, {"train_loss": loss}, STEP))
    (finding,) = diagnose(run)
    assert finding.evidence == "first at step 200: train_loss = NaN at step 200"


def test_registry_reads_the_names_real_logs_use():
    from metricwatch.metrics import Direction, Kind, Task, infer_task, spec_for, task_metric_keys

    for loss in ("loss_cls", "loss_box_reg", "train_loss_step", "val_loss_epoch", "rpn_loss_x"):
        assert (spec_for(loss).kind, spec_for(loss).direction) == (Kind.LOSS, Direction.LOWER)
    for timing in ("time", "data_time", "eval_runtime", "val_runtime"):
        assert spec_for(timing).kind is Kind.DURATION
    assert spec_for("val_wer").direction is Direction.LOWER
    assert spec_for("val_cer").direction is Direction.LOWER
    assert spec_for("val_accuracy_top5").kind is Kind.FRACTION
    assert spec_for("val_samples_per_second").kind is Kind.THROUGHPUT
    keys = ["train_loss", "loss_cls", "time", "val_mAP", "val_runtime", "custom", "x_per_second"]
    assert task_metric_keys(keys) == ["val_mAP", "custom"]
    # Oriented detection logs detection's keys: only a declared task says it is one.
    assert infer_task(["val_mAP", "val_mAP_50"]) is Task.OBJECT_DETECTION
    assert infer_task(["val_mAP", "val_mAP_50"], "oriented_od") is Task.ORIENTED_OD


def test_sub_millisecond_durations_and_fractional_totals():
    from metricwatch.metrics import format_duration, format_sig

    assert [format_duration(s) for s in (0.00049, 0.0005, 0.00099, 0.001, 0.9994, 0.9996)] == [
        "<1ms", "<1ms", "<1ms", "1ms", "999ms", "1.0s",
    ]  # fmt: skip
    assert (format_sig(99999.4), format_sig(99999.6)) == ("99999", "1.000e+05")
    run = make_run(columns(train_loss=[1.0]), meta={"total_epochs": 0.5})
    assert run.total_epochs is None  # not "finished" after one epoch of a 0.5-epoch plan
