"""The registry's formats, specs and task inference at their limits (mutation testing)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from metricwatch.metrics import (
    REGISTRY,
    Direction,
    Kind,
    Task,
    format_duration,
    format_lr,
    format_sig,
    format_value,
    fraction_scale,
    infer_task,
    spec_for,
)

# --- format_duration -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0ms"),
        (0.0, "0ms"),
        (-0.5, "-500ms"),
        (0.00049, "<1ms"),
        (0.0001, "<1ms"),
        (0.001, "1ms"),
        (0.045, "45ms"),
        (0.9994, "999ms"),
        (0.9995, "1.0s"),  # 999.5 ms would round to "1000ms"
        (1.0, "1.0s"),
        (1.25, "1.2s"),
        (59.94, "59.9s"),
        (59.95, "1m 00s"),  # "60.0s" is never printed
        (60, "1m 00s"),
        (61.5, "1m 02s"),
        (119.4, "1m 59s"),
        (754, "12m 34s"),
        (3599.4, "59m 59s"),
        (3599.5, "1h 00m"),
        (3600, "1h 00m"),
        (3661, "1h 01m"),
        (7322, "2h 02m"),
        (86399, "23h 59m"),
        (86400, "1d 00h"),
        (90061, "1d 01h"),
        (2 * 86400 + 5 * 3600 + 59 * 60 + 59, "2d 05h"),
        (math.inf, "—"),
        (-math.inf, "—"),
        (math.nan, "—"),
        (None, "—"),
    ],
)
def test_format_duration_at_each_limit(seconds, text):
    assert format_duration(seconds) == text


# --- format_sig and format_lr ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0, "0"),
        (0.0, "0"),
        (-0.0, "0"),
        (0.001, "0.001"),
        (0.000999, "9.990e-04"),
        (-0.000999, "-9.990e-04"),
        (12.345678, "12.35"),
        (-0.5, "-0.5"),
        (999.94, "999.9"),
        (1000.0, "1000"),
        (1234.5, "1234"),
        (9999.6, "10000"),  # whole from 1000: not "1e+04"
        (99999.4, "99999"),
        (-99999.4, "-99999"),
        (100000.0, "1.000e+05"),
        (-123456.0, "-1.235e+05"),
        (1e300, "1.000e+300"),
    ],
)
def test_format_sig(value, text):
    assert format_sig(value) == text


def test_format_sig_with_other_digits():
    assert format_sig(12.345678, 3) == "12.3"
    assert format_sig(12.345678, 6) == "12.3457"
    assert format_sig(123.4, 3) == "123"  # three digits: a whole number from 100
    assert format_sig(99.94, 3) == "99.9"
    assert format_sig(0.000999, 2) == "1.0e-03"
    assert format_sig(250000.0, 2) == "2.5e+05"


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0, "0"),
        (0.0, "0"),
        (0.001, "1.00e-3"),
        (0.00099, "9.90e-4"),
        (3e-5, "3.00e-5"),
        (1e-10, "1.00e-10"),
        (1.5, "1.50e+0"),
        (25.0, "2.50e+1"),
        (1e10, "1.00e+10"),
        (-2e-4, "-2.00e-4"),
    ],
)
def test_format_lr(value, text):
    assert format_lr(value) == text


# --- format_value ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "value", "scale", "text"),
    [
        ("val_accuracy", 0.5, 1.0, "50.0%"),
        ("val_accuracy", -0.5, 1.0, "-50.0%"),
        ("val_accuracy", 0.0, 1.0, "0.0%"),
        ("val_accuracy", 50.0, 100.0, "50.0%"),
        ("val_accuracy", 0.5, 100.0, "0.5%"),
        ("val_accuracy", 999.99, 1.0, "99999.0%"),  # just under 1e5 percent
        ("val_accuracy", -999.99, 1.0, "-99999.0%"),
        ("val_accuracy", 1000.0, 1.0, "1000"),  # 1e5 percent: the number, not a percentage
        ("val_accuracy", -1000.0, 1.0, "-1000"),
        ("val_accuracy", 99999.9, 100.0, "99999.9%"),
        ("val_accuracy", 100000.0, 100.0, "1.000e+05"),
        ("val_accuracy", 1e308, 1.0, "1.000e+308"),
        ("val_acc", 0.25, 1.0, "25.0%"),  # an alias prints like its key
        ("acc", 0.25, 1.0, "25.0%"),
        ("lr", 0.01, 1.0, "1.00e-2"),
        ("learning_rate", 0.0, 1.0, "0"),
        ("duration_s", 75, 1.0, "1m 15s"),
        ("duration_s", 0.25, 1.0, "250ms"),
        ("epoch", 3.7, 1.0, "3"),
        ("epoch", 12.0, 1.0, "12"),
        ("val_loss", 1234.5, 1.0, "1234"),
        ("val_mae", 0.000999, 1.0, "9.990e-04"),
        ("val_r2", -0.5, 1.0, "-0.5"),
        ("foo", 2.5, 1.0, "2.5"),
        ("grad_norm", 0.0, 1.0, "0"),
        ("val_loss", math.inf, 1.0, "Inf"),
        ("val_loss", -math.inf, 1.0, "-Inf"),
        ("val_accuracy", math.inf, 1.0, "Inf"),
        ("lr", math.nan, 1.0, "NaN"),
        ("val_accuracy", None, 1.0, "—"),
        ("duration_s", None, 1.0, "—"),
    ],
)
def test_format_value(key, value, scale, text):
    assert format_value(key, value, scale=scale) == text


def test_format_value_scale_defaults_to_one():
    assert format_value("val_f1", 0.123) == "12.3%"


# --- spec_for --------------------------------------------------------------------------------


def test_spec_for_registered_keys_and_aliases():
    assert spec_for("val_loss") is REGISTRY["val_loss"]
    assert spec_for("learning_rate") is REGISTRY["lr"]
    assert spec_for("val_acc") is REGISTRY["val_accuracy"]
    assert spec_for("loss") is REGISTRY["train_loss"]
    assert spec_for("accuracy") is REGISTRY["train_accuracy"]
    assert spec_for("train_acc") is REGISTRY["train_accuracy"]


@pytest.mark.parametrize(
    ("key", "label", "kind", "direction"),
    [
        ("Box_LOSS", "Box LOSS", Kind.LOSS, Direction.LOWER),
        ("seg_loss", "Seg Loss", Kind.LOSS, Direction.LOWER),
        ("loss_cls", "Loss Cls", Kind.LOSS, Direction.LOWER),
        ("train_loss_step", "Train Loss (step)", Kind.LOSS, Direction.LOWER),
        ("lossy", "Lossy", Kind.GENERIC, Direction.NONE),
        ("top5_acc", "Top5 Acc", Kind.GENERIC, Direction.HIGHER),
        ("bleu", "Bleu", Kind.GENERIC, Direction.HIGHER),
        ("my_err", "My Err", Kind.GENERIC, Direction.LOWER),
        ("perplexity", "Perplexity", Kind.GENERIC, Direction.LOWER),
        ("foo", "Foo", Kind.GENERIC, Direction.NONE),
        ("__", "__", Kind.GENERIC, Direction.NONE),
        ("time", "Time", Kind.DURATION, Direction.NONE),
        ("Data_Time", "Data Time", Kind.DURATION, Direction.NONE),
        ("eval_runtime", "Eval Runtime", Kind.DURATION, Direction.NONE),
        ("runtime", "Runtime", Kind.GENERIC, Direction.NONE),
        ("train_samples_per_second", "Train Samples Per Second", Kind.THROUGHPUT, Direction.NONE),
        ("per_second", "Per Second", Kind.GENERIC, Direction.NONE),
        ("x\x1b_y", "X\\x1b Y", Kind.GENERIC, Direction.NONE),
        # COCO-style evaluation names (detectron2's, on 0-100): percentages, higher is better.
        ("bbox/AP", "Bbox/AP", Kind.FRACTION, Direction.HIGHER),
        ("bbox/AP50", "Bbox/AP50", Kind.FRACTION, Direction.HIGHER),
        ("segm/APs", "Segm/APs", Kind.FRACTION, Direction.HIGHER),
        ("keypoints/APl", "Keypoints/APl", Kind.FRACTION, Direction.HIGHER),
        ("bbox/AP-person", "Bbox/AP-person", Kind.FRACTION, Direction.HIGHER),
        ("bbox/AP-traffic light", "Bbox/AP-traffic light", Kind.FRACTION, Direction.HIGHER),
        ("bbox/AR@100", "Bbox/AR@100", Kind.FRACTION, Direction.HIGHER),
        ("sem_seg/fwIoU", "Sem Seg/fwIoU", Kind.FRACTION, Direction.HIGHER),
        ("sem_seg/IoU-road", "Sem Seg/IoU-road", Kind.FRACTION, Direction.HIGHER),
        ("sem_seg/mACC", "Sem Seg/mACC", Kind.FRACTION, Direction.HIGHER),
        ("sem_seg/ACC-road", "Sem Seg/ACC-road", Kind.FRACTION, Direction.HIGHER),
        ("panoptic_seg/PQ_th", "Panoptic Seg/PQ Th", Kind.FRACTION, Direction.HIGHER),
        ("panoptic_seg/SQ", "Panoptic Seg/SQ", Kind.FRACTION, Direction.HIGHER),
        ("AP", "AP", Kind.FRACTION, Direction.HIGHER),
        # ...and names that only start like them.
        ("bbox/AP-", "Bbox/AP-", Kind.GENERIC, Direction.NONE),
        ("bbox/APx", "Bbox/APx", Kind.GENERIC, Direction.NONE),
        ("bbox/ap", "Bbox/ap", Kind.GENERIC, Direction.NONE),
        ("bbox/AP@", "Bbox/AP@", Kind.GENERIC, Direction.NONE),
        ("bbox/mAP_x", "Bbox/mAP X", Kind.GENERIC, Direction.HIGHER),
        ("panoptic_seg/PQ_all", "Panoptic Seg/PQ All", Kind.GENERIC, Direction.NONE),
        ("APPLE", "APPLE", Kind.GENERIC, Direction.NONE),
        ("lr_pg", "Lr Pg", Kind.GENERIC, Direction.NONE),
    ],
)
def test_spec_for_unknown_keys(key, label, kind, direction):
    spec = spec_for(key)
    assert (spec.key, spec.label, spec.kind, spec.direction, spec.tasks) == (
        key,
        label,
        kind,
        direction,
        (),
    )
    assert not spec.known


# --- infer_task ------------------------------------------------------------------------------


def test_a_declared_task_is_normalised():
    assert infer_task(["val_accuracy"], " Object-Detection ") is Task.OBJECT_DETECTION
    assert infer_task(["val_accuracy"], "INSTANCE SEGMENTATION") is Task.INSTANCE_SEGMENTATION
    assert infer_task([], "regression") is Task.REGRESSION
    assert infer_task([], "oriented_od") is Task.ORIENTED_OD
    # not a task, or not a string: the keys decide
    assert infer_task(["val_accuracy"], "nonsense") is Task.CLASSIFICATION
    assert infer_task(["val_accuracy"], 3) is Task.CLASSIFICATION
    assert infer_task(["val_accuracy"], ["regression"]) is Task.CLASSIFICATION
    assert infer_task([], "nonsense") is None


def test_infer_task_counts_hits_then_completeness_then_enum_order():
    # one hit each for classification and anomaly detection: the first in enum order
    assert infer_task(["val_f1"]) is Task.CLASSIFICATION
    assert infer_task(["val_mIoU", "val_mAP_mask"]) is Task.SEGMENTATION
    # more hits win
    assert infer_task(["val_f1", "val_auroc"]) is Task.ANOMALY_DETECTION
    assert infer_task(["val_f1", "val_auroc", "val_accuracy", "val_recall"]) is (
        Task.CLASSIFICATION
    )
    # equal hits: the task whose keys are all present wins
    assert infer_task(["val_mIoU", "val_dice", "val_mAP_mask", "val_mAP_box"]) is (
        Task.INSTANCE_SEGMENTATION
    )
    assert infer_task(["val_mAP_mask", "val_mAP_box", "val_mIoU"]) is Task.INSTANCE_SEGMENTATION
    # oriented OD is only ever declared: its keys are detection's
    assert infer_task(["val_mAP", "val_mAP_50"]) is Task.OBJECT_DETECTION
    assert infer_task(iter(["val_rmse"])) is Task.REGRESSION
    assert infer_task([]) is None
    assert infer_task(["train_loss", "lr", "foo"]) is None


# --- fraction_scale --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "scale"),
    [
        ([], 1.0),
        ([0.5, 1.0], 1.0),
        ([1.5], 1.0),  # the limit itself is still a fraction
        ([1.5001], 100.0),
        ([-2.0], 100.0),
        ([-1.5], 1.0),
        ([0.2, 99.0], 100.0),
        ([math.nan, math.inf, -math.inf, 0.5], 1.0),
        ([math.nan], 1.0),
        ([math.inf, 45.0], 100.0),
        ([-1.7e308, 0.1], 100.0),  # finite, however large: no infinity from the sign flip
        ([0.3, math.nan, 1.2], 1.0),  # a NaN after the values
        ([-math.inf, -0.5], 1.0),
    ],
)
def test_fraction_scale(values, scale):
    assert fraction_scale(values) == scale
    assert fraction_scale(np.asarray(values, dtype=np.float64)) == scale


def test_a_known_key_logged_per_step_is_the_same_metric_without_a_task():
    from metricwatch.metrics import Direction, Kind, spec_for

    lr = spec_for("lr_step")
    assert (lr.label, lr.kind, lr.direction, lr.tasks) == (
        "Learning Rate (step)",
        Kind.LR,
        Direction.NONE,
        (),
    )
    loss = spec_for("train_loss_step")
    assert (loss.label, loss.kind, loss.direction) == (
        "Train Loss (step)",
        Kind.LOSS,
        Direction.LOWER,
    )
    assert spec_for("val_accuracy_step").tasks == ()
    assert spec_for("foo_step").label == "Foo Step"  # not a known key: named as written
    assert spec_for("_step").label != " (step)"
