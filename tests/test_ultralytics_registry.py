"""Registry entries for Ultralytics' pose and mask columns, on real results.csv files.

The reader names `metrics/mAP50-95(P)` val_mAP_pose (and `_50_pose`,
`precision_pose`, `recall_pose`), the mask `(M)` columns `..._mask`, and
the pose losses train_pose_loss / train_kobj_loss (val_ alike). Before
these entries the mask precision printed as a bare 0.9979 and a pose run
had no task, so without val_loss its best epoch was ranked by the box
precision. yolo11_pose_hands_live is a real pose run copied at epoch 10 of
100 (tests/corpus/ultralytics/PROVENANCE.md).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import make_run

from metricwatch.analysis.summary import ranking_key, summarize
from metricwatch.metrics import (
    MAIN_METRIC,
    REGISTRY,
    Direction,
    Kind,
    Task,
    infer_task,
    spec_for,
    task_metric_keys,
)
from metricwatch.sources.loader import RunLoader
from metricwatch.tui.charts import charts_for
from metricwatch.tui.state import build_state

CORPUS = Path(__file__).parent / "corpus" / "ultralytics"
POSE_KEYS = ["val_precision_pose", "val_recall_pose", "val_mAP_50_pose", "val_mAP_pose"]


def load(name: str):
    return RunLoader().load(name, CORPUS / name / "results.csv")


@pytest.mark.parametrize(
    ("key", "label", "kind", "direction", "tasks"),
    [
        ("val_mAP_pose", "Val mAP (pose)", Kind.FRACTION, Direction.HIGHER, (Task.POSE,)),
        ("val_mAP_50_pose", "Val mAP@50 (pose)", Kind.FRACTION, Direction.HIGHER, (Task.POSE,)),
        (
            "val_precision_pose",
            "Val Precision (pose)",
            Kind.FRACTION,
            Direction.HIGHER,
            (Task.POSE,),
        ),
        ("val_recall_pose", "Val Recall (pose)", Kind.FRACTION, Direction.HIGHER, (Task.POSE,)),
        ("val_mAP_50_mask", "Val mAP@50 (mask)", Kind.FRACTION, Direction.HIGHER, ()),
        ("val_precision_mask", "Val Precision (mask)", Kind.FRACTION, Direction.HIGHER, ()),
        ("val_recall_mask", "Val Recall (mask)", Kind.FRACTION, Direction.HIGHER, ()),
        ("train_pose_loss", "Train Pose Loss", Kind.LOSS, Direction.LOWER, ()),
        ("val_pose_loss", "Val Pose Loss", Kind.LOSS, Direction.LOWER, ()),
        ("train_kobj_loss", "Train Keypoint Obj Loss", Kind.LOSS, Direction.LOWER, ()),
        ("val_kobj_loss", "Val Keypoint Obj Loss", Kind.LOSS, Direction.LOWER, ()),
    ],
)
def test_entries(key, label, kind, direction, tasks):
    spec = spec_for(key)
    assert spec is REGISTRY[key]
    assert (spec.label, spec.kind, spec.direction, spec.tasks) == (label, kind, direction, tasks)


def test_main_metric_per_ultralytics_task():
    assert MAIN_METRIC[Task.OBJECT_DETECTION] == "val_mAP"  # mAP50-95(B)
    assert MAIN_METRIC[Task.INSTANCE_SEGMENTATION] == "val_mAP_mask"  # mAP50-95(M)
    assert MAIN_METRIC[Task.POSE] == "val_mAP_pose"  # mAP50-95(P)
    assert set(MAIN_METRIC) == set(Task)


def test_a_pose_run_is_told_by_its_columns_or_its_args():
    box = ["val_precision", "val_recall", "val_mAP_50", "val_mAP"]
    assert infer_task(box + POSE_KEYS) is Task.POSE
    assert infer_task(["val_mAP_pose"]) is Task.POSE
    assert infer_task(box, "pose") is Task.POSE  # args.yaml `task: pose`
    assert infer_task(box, "pose_estimation") is Task.POSE
    # The mask columns do not make a run look like anything else.
    segment = ["val_mAP_50", "val_mAP_box", "val_mAP_50_mask", "val_mAP_mask"]
    segment += ["val_precision_mask", "val_recall_mask"]
    assert infer_task(segment) is Task.INSTANCE_SEGMENTATION


def test_real_pose_run_rows_task_and_charts():
    run = load("yolo11_pose_hands_live")
    assert (run.epochs_done, run.total_epochs) == (10, 100)  # a live run: epoch 10 / 100
    summary = summarize(run)
    assert summary.task is Task.POSE
    rows = dict(summary.rows())
    assert rows["Val mAP (pose)"] == "51.0%"
    assert rows["Val mAP@50 (pose)"] == "71.9%"
    assert rows["Val Precision (pose)"] == "82.9%"
    assert rows["Val Recall (pose)"] == "69.9%"
    assert rows["Val mAP"] == "84.9%"  # the box mAP50-95 beside it
    assert rows["Epochs (actual)"] == "10 / 100"
    assert (summary.best_by, summary.best_step) == ("val_loss", 10)
    assert not [key for key in task_metric_keys(run.keys) if "loss" in key or "lr" in key]
    charts = {c.id: c for c in charts_for(build_state(run))}
    assert [line.key for line in charts["metrics-1"].lines] == POSE_KEYS
    assert charts["metrics-1"].unit == "%"
    assert [line.key for line in charts["losses-2"].lines] == ["val_pose_loss", "train_pose_loss"]
    assert [line.label for line in charts["losses-2"].lines] == [
        "Val Pose Loss",
        "Train Pose Loss",
    ]


def test_without_val_loss_a_pose_run_is_ranked_by_its_pose_map():
    """Epochs 1-9 of the real file: the pose mAP50-95 peaks at epoch 7 (0.45993), the box
    mAP50-95 at epoch 9 (0.83372) and the box precision at epoch 1 (0.95213)."""
    full = load("yolo11_pose_hands_live")
    keys = ["train_loss", "val_precision", "val_mAP", *POSE_KEYS]
    rows = [
        {"epoch": epoch, **{key: full.series(key).values[epoch - 1] for key in keys}}
        for epoch in range(1, 10)
    ]
    run = make_run(rows)
    assert ranking_key(run, Task.POSE) == "val_mAP_pose"
    summary = summarize(run)
    assert (summary.task, summary.best_by, summary.best_step) == (Task.POSE, "val_mAP_pose", 7)


def test_real_segment_run_mask_rows_are_percentages():
    rows = dict(summarize(load("yolov8_segment_car")).rows())
    assert rows["Val Precision (mask)"] == "99.8%  (best 100.0% @ 3)"  # was 0.9979
    assert rows["Val Recall (mask)"] == "100.0%  (best 100.0% @ 1)"
    assert rows["Val mAP@50 (mask)"] == "99.5%  (best 99.5% @ 6)"
    assert rows["Val mAP (mask)"] == "97.1%"
    assert rows["Val mAP (box)"] == "91.9%"
