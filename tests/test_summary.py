"""Summary numbers against values computed by hand."""

import math

import pytest
from helpers import columns, make_run

from metricwatch.analysis.summary import summarize
from metricwatch.metrics import Task, format_duration, format_value, infer_task

ROWS = columns(
    train_loss=[2.0, 1.0, 0.5, 0.4],
    val_loss=[2.2, 1.2, 0.9, 1.0],
    val_accuracy=[0.3, 0.6, 0.8, 0.79],
    val_f1=[0.2, 0.5, 0.7, 0.75],
    lr=[1e-3, 1e-3, 5e-4, 1e-4],
    duration_s=[60, 61.5, 58.5, 62],
)


def test_summary_of_a_classification_run():
    summary = summarize(make_run(ROWS, meta={"total_epochs": 10}))
    assert summary.epochs == 4
    assert summary.epochs_label == "4 / 10"
    assert summary.task is Task.CLASSIFICATION
    assert summary.best_epoch == 3 and summary.best_by == "val_loss"
    assert summary.training_time_s == pytest.approx(242.0)
    assert summary.mean_epoch_s == pytest.approx(60.5)
    assert summary.last["val_accuracy"] == 0.79
    assert (summary.best["val_accuracy"].value, summary.best["val_accuracy"].step) == (0.8, 3)
    assert (summary.best["val_f1"].value, summary.best["val_f1"].step) == (0.75, 4)
    assert summary.best["train_loss"].step == 4
    assert "lr" not in summary.best  # no direction: nothing is "best"


def test_summary_rows_follow_the_seed_table():
    rows = dict(summarize(make_run(ROWS, meta={"total_epochs": 10})).rows())
    assert rows["Train Loss"] == "0.4"
    assert rows["Val Loss"] == "1"
    assert rows["Val Accuracy"] == "79.0%  (best 80.0% @ 3)"
    assert rows["Val F1"] == "75.0%"
    assert rows["Best Epoch"] == "3 / 10"
    assert rows["Training Time"] == "4m 02s"
    assert rows["Epochs (actual)"] == "4 / 10"


def test_best_epoch_uses_the_task_metric_without_val_loss():
    rows = columns(train_loss=[1, 0.8, 0.7, 0.6], val_mAP=[0.1, 0.4, 0.35, 0.3])
    summary = summarize(make_run(rows))
    assert summary.task is Task.OBJECT_DETECTION
    assert (summary.best_by, summary.best_epoch) == ("val_mAP", 2)


def test_best_epoch_ignores_nan_and_prefers_the_earliest_tie():
    rows = columns(val_loss=[1.0, math.nan, 0.5, 0.5, math.inf])
    summary = summarize(make_run(rows))
    assert summary.best_epoch == 3
    assert math.isinf(summary.last["val_loss"])


def test_empty_run_summarises_to_dashes():
    summary = summarize(make_run([]))
    assert summary.epochs == 0 and summary.best_epoch is None
    assert dict(summary.rows())["Training Time"] == "—"


def test_unknown_numeric_keys_are_kept_with_a_generic_format():
    summary = summarize(make_run(columns(val_loss=[1.0, 0.5], val_bleu=[12.5, 20.25])))
    assert summary.last["val_bleu"] == 20.25
    assert summary.best["val_bleu"].step == 2  # "bleu" reads as higher-is-better
    assert dict(summary.rows())["Val Bleu"] == "20.25"


@pytest.mark.parametrize(
    ("key", "value", "text"),
    [
        ("val_accuracy", 0.956, "95.6%"),
        ("train_loss", 0.04213, "0.04213"),
        ("train_loss", 2.31, "2.31"),
        ("lr", 0.00099, "9.90e-4"),
        ("val_r2", 0.8812, "0.8812"),
        ("val_loss", math.nan, "NaN"),
        ("val_loss", -math.inf, "-Inf"),
        ("val_loss", None, "—"),
        ("grad_norm", 123456.0, "1.235e+05"),
    ],
)
def test_format_value(key, value, text):
    assert format_value(key, value) == text


def test_fraction_logged_in_percent_is_not_multiplied_again():
    assert format_value("val_mAP", 45.3, scale=100) == "45.3%"


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (45.2, "45.2s"),
        (2412, "40m 12s"),
        (3725, "1h 02m"),
        (95_412_700, "1104d 07h"),
        (None, "—"),
        (math.nan, "—"),
    ],
)
def test_format_duration(seconds, text):
    assert format_duration(seconds) == text


def test_task_is_declared_or_inferred():
    assert infer_task(["val_mIoU", "val_dice"]) is Task.SEGMENTATION
    assert infer_task(["val_auroc", "val_f1"]) is Task.ANOMALY_DETECTION
    assert infer_task(["val_accuracy", "val_f1"]) is Task.CLASSIFICATION
    assert infer_task(["val_mAP", "val_mAP_50", "val_mAP_75"]) is Task.OBJECT_DETECTION
    assert infer_task(["val_mae", "val_r2"]) is Task.REGRESSION
    assert infer_task(["val_mAP_mask"]) is Task.INSTANCE_SEGMENTATION
    assert infer_task(["val_mAP"], "Oriented OD") is Task.ORIENTED_OD
    assert infer_task(["train_loss"]) is None


def test_best_is_shown_only_when_it_is_not_the_metrics_own_last_value():
    rows = columns(val_loss=[1.0, 0.9, 0.8, 0.7], val_accuracy=[0.5, 0.7])  # metric stops at 2
    assert dict(summarize(make_run(rows)).rows())["Val Accuracy"] == "70.0%"


@pytest.mark.parametrize(
    ("value", "text"), [(12345.0, "12345"), (99999.0, "99999"), (123456.0, "1.235e+05")]
)
def test_five_digit_values_print_plainly(value, text):
    assert format_value("grad_norm", value) == text


def test_durations_just_under_a_minute():
    assert format_duration(59.96) == "1m 00s"


def test_labels_of_unknown_keys_are_printable():
    from metricwatch.metrics import spec_for

    assert spec_for("esc\x1b[2Jkey").label == "Esc\\x1b[2Jkey"
