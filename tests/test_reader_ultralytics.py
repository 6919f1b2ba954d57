"""Ultralytics YOLO results.csv: real files from public repositories
(tests/corpus/ultralytics) and small files made here for the quirks they lack."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from metricwatch.model import EPOCH, ProblemKind, Run
from metricwatch.readers.ultralytics import (
    FORMAT,
    meta_from_args,
    parse_ultralytics,
    total_epochs_from_args,
)

CORPUS = Path(__file__).parent / "corpus" / "ultralytics"


def read(name: str, file: str = "results.csv") -> bytes:
    return (CORPUS / name / file).read_bytes()


def kinds(result):
    return [p.kind for p in result.problems]


def values(result, key):
    return result.table.series[key].values.tolist()


def assert_prefix(part, whole):
    assert part.table.steps.tolist() == whole.table.steps[: len(part.table)].tolist()
    for key, found in part.table.series.items():
        full = whole.table.series[key]
        n = len(found)
        assert found.steps.tolist() == full.steps[:n].tolist(), key
        np.testing.assert_array_equal(found.values, full.values[:n])


# --- real files -------------------------------------------------------------------------------


def test_yolov5_padded_epochs_from_0_and_its_names():
    result = parse_ultralytics(read("yolov5_detect_helmet"))
    assert result.problems == []
    assert result.table.x == EPOCH
    assert result.table.steps.tolist() == [0, 1, 2]
    assert values(result, "train_box_loss")[0] == 0.044359
    assert values(result, "val_mAP")[0] == 0.41228  # metrics/mAP_0.5:0.95
    assert values(result, "val_mAP_50")[0] == 0.61848  # metrics/mAP_0.5
    assert values(result, "val_precision")[0] == 0.66347
    assert values(result, "val_recall")[0] == 0.5581
    # x/lr0 is the biases' warm-up from 0.1; x/lr1 is the schedule
    assert values(result, "lr_pg0")[:2] == [0.0937, 0.086005]
    assert values(result, "lr")[:2] == [0.0007, 0.001005]
    assert result.meta["source_keys"]["lr"] == "x/lr1"
    run = Run("r", Path("results.csv"), table=result.table)
    assert run.epochs_done == 3


def test_loss_is_the_sum_of_its_parts():
    result = parse_ultralytics(read("yolov5_detect_helmet"))
    assert values(result, "train_loss")[0] == 0.044359 + 0.058406 + 0.017296
    assert values(result, "val_loss")[0] == 0.041406 + 0.038171 + 0.010942
    assert result.meta["source_keys"]["train_loss"] == (
        "train/box_loss+train/obj_loss+train/cls_loss"
    )


def test_yolov8_segment_padded_with_mask_metrics():
    result = parse_ultralytics(read("yolov8_segment_car"))
    assert result.problems == []
    assert result.table.steps.tolist() == list(range(1, 11))
    assert values(result, "val_mAP_box")[-1] == 0.91948  # metrics/mAP50-95(B)
    assert values(result, "val_mAP_mask")[-1] == 0.97103  # metrics/mAP50-95(M)
    assert values(result, "val_mAP_50_mask")[-1] == 0.995
    assert values(result, "val_precision_mask")[-1] == 0.99789
    assert values(result, "val_recall_mask")[-1] == 1.0
    assert values(result, "val_mAP_50")[-1] == 0.995
    assert "val_mAP" not in result.table.series
    assert values(result, "train_seg_loss")[0] == 4.0523
    assert values(result, "train_loss")[0] == 0.96712 + 4.0523 + 3.3624 + 1.526


def test_args_yaml_gives_the_planned_epochs():
    assert total_epochs_from_args(read("yolov8_segment_car", "args.yaml").decode()) == 10
    assert total_epochs_from_args(read("yolo11_segment_resumed", "args.yaml").decode()) == 100
    assert total_epochs_from_args(read("yolov10_detect_om_oo", "args.yaml").decode()) == 15
    # YOLOv5's opt.yaml: nested hyp block first, epochs below it
    assert total_epochs_from_args(read("yolov5_detect_helmet", "opt.yaml").decode()) == 3
    assert total_epochs_from_args("epochs: 0\n") is None
    assert total_epochs_from_args("epochs: true\n") is None
    assert total_epochs_from_args("epochs: many\n") is None
    assert total_epochs_from_args("") is None


def test_args_yaml_gives_the_task_and_the_config():
    meta = meta_from_args(read("yolov8_segment_car", "args.yaml").decode())
    assert meta["total_epochs"] == 10
    assert meta["task"] == "instance_segmentation"
    assert meta["config"]["task"] == "segment"
    assert meta_from_args(read("yolov10_detect_om_oo", "args.yaml").decode())["task"] == (
        "object_detection"
    )
    assert meta_from_args("task: obb\nepochs: 5\n") == {
        "config": {"task": "obb", "epochs": 5},
        "total_epochs": 5,
        "task": "oriented_od",
    }
    assert meta_from_args("task: pose\n") == {"config": {"task": "pose"}, "task": "pose_estimation"}


def test_yolov10_one_to_many_and_one_to_one_heads():
    result = parse_ultralytics(read("yolov10_detect_om_oo"))
    assert result.problems == []
    assert len(result.table) == 15
    # the parts are losses, and named so (train/box_om -> train_box_om_loss)
    assert values(result, "train_box_om_loss")[-1] == 0.73023
    assert values(result, "val_dfl_oo_loss")[-1] == 1.1152
    assert result.meta["source_keys"]["train_box_om_loss"] == "train/box_om"
    assert values(result, "val_mAP")[-1] == 0.73182
    assert values(result, "train_loss")[-1] == 0.73023 + 0.47275 + 1.0757 + 0.77406 + 0.43692 + (
        1.0943
    )
    assert values(result, "val_loss")[-1] == 0.83928 + 0.50944 + 1.0917 + 0.87603 + 0.45952 + (
        1.1152
    )


def test_time_gives_epoch_durations_across_a_resume():
    result = parse_ultralytics(read("yolo11_segment_resumed"))
    assert result.problems == []
    assert result.table.steps.tolist() == list(range(1, 101))
    duration = result.table.series["duration_s"]
    assert duration.values[0] == 720.719
    assert duration.values[1] == 1448.08 - 720.719
    # epoch 20 was the first after a resume: `time` started again from 0
    assert duration.values[19] == 616.225
    assert duration.values[20] == 1230 - 616.225
    assert result.meta["source_keys"]["duration_s"] == "time"


def test_epochs_where_validation_did_not_run_are_left_out():
    result = parse_ultralytics(read("yolo11_val_off_drone"))
    assert result.table.steps.tolist() == list(range(1, 21))
    for key in ("val_mAP", "val_mAP_50", "val_precision", "val_recall", "val_box_loss"):
        assert result.table.series[key].steps.tolist() == [20], key
    assert values(result, "val_mAP") == [0.62674]
    assert values(result, "val_loss") == [1.17534 + 0.60804 + 1.15709]
    assert len(result.table.series["train_loss"]) == 20
    assert kinds(result) == [ProblemKind.NON_NUMERIC]
    assert "validation did not run on 19 epochs" in result.problems[0].message


def test_the_task_comes_from_the_columns():
    tasks = {
        name: parse_ultralytics(read(name)).meta.get("task")
        for name in ("yolov5_detect_helmet", "yolov8_segment_car", "yolov10_detect_om_oo")
    }
    assert tasks == {
        "yolov5_detect_helmet": "object_detection",
        "yolov8_segment_car": "instance_segmentation",
        "yolov10_detect_om_oo": "object_detection",
    }
    classify = parse_ultralytics(b"epoch,train/loss,metrics/accuracy_top1\n1,2,0.5\n")
    assert classify.meta["task"] == "classification"
    pose = parse_ultralytics(b"epoch,train/pose_loss,metrics/mAP50-95(P)\n1,2,0.5\n")
    assert pose.meta["task"] == "pose_estimation"


def test_every_real_file_is_claimed():
    for path in sorted(CORPUS.glob("*/results.csv")):
        assert FORMAT.may_hold(path.name)
        assert FORMAT.sniff(path.read_bytes()[:4096]), path


# --- quirks in made files ---------------------------------------------------------------------


def test_classification_has_one_loss_and_top1_accuracy():
    data = (
        b"epoch,time,train/loss,metrics/accuracy_top1,metrics/accuracy_top5,val/loss,lr/pg0\n"
        b"1,10.5,2.3,0.41,0.82,2.1,0.00033\n"
        b"2,20.0,1.9,0.52,0.88,1.8,0.00066\n"
    )
    result = parse_ultralytics(data)
    assert result.problems == []
    assert values(result, "train_loss") == [2.3, 1.9]
    assert values(result, "val_loss") == [2.1, 1.8]
    assert values(result, "val_accuracy") == [0.41, 0.52]
    assert values(result, "val_accuracy_top5") == [0.82, 0.88]
    assert values(result, "lr") == [0.00033, 0.00066]  # the only group
    assert values(result, "duration_s") == [10.5, 9.5]


def test_pose_metrics():
    data = (
        b"epoch,train/pose_loss,train/kobj_loss,metrics/mAP50-95(P),metrics/mAP50(P)\n"
        b"1,4,0.5,0.3,0.6\n"
    )
    result = parse_ultralytics(data)
    assert values(result, "val_mAP_pose") == [0.3]
    assert values(result, "val_mAP_50_pose") == [0.6]
    assert values(result, "train_loss") == [4.5]


def test_an_epoch_written_again_after_a_resume_replaces_the_first():
    data = b"epoch,train/box_loss\n1,3\n2,2\n3,1.5\n3,1.4\n4,1.2\n"
    result = parse_ultralytics(data)
    assert result.table.steps.tolist() == [1, 2, 3, 4]
    assert values(result, "train_box_loss") == [3.0, 2.0, 1.4, 1.2]
    assert kinds(result) == [ProblemKind.RESTART]


def test_nan_parts_make_a_nan_sum():
    data = b"epoch,train/box_loss,train/cls_loss\n1,nan,1\n2,0.5,1\n"
    result = parse_ultralytics(data)
    assert math.isnan(values(result, "train_box_loss")[0])
    assert math.isnan(values(result, "train_loss")[0])
    assert values(result, "train_loss")[1] == 1.5


def test_a_part_missing_in_a_row_leaves_the_sum_out_there():
    data = b"epoch,train/box_loss,train/cls_loss\n1,,1\n2,0.5,1\n"
    result = parse_ultralytics(data)
    assert result.table.series["train_loss"].steps.tolist() == [2]


def test_not_yolo_and_empty():
    assert kinds(parse_ultralytics(b"a,b\n1,2\n")) == [ProblemKind.NOT_OURS]
    assert kinds(parse_ultralytics(b"")) == [ProblemKind.EMPTY]


def test_sniff():
    sniff = FORMAT.sniff
    assert sniff(b"epoch,time,train/box_loss\n")
    assert sniff(b"               epoch,      train/box_loss,    metrics/precision\n")
    assert sniff(b"      epo")  # header cut short
    assert sniff(b"epoch,time,tr")
    assert not sniff(b"epoch,loss,val_loss\n0,1,2\n")  # Keras
    assert not sniff(b"model,score\n")  # someone else's results.csv
    assert not sniff(b"")


# --- cut files and arbitrary bytes ------------------------------------------------------------


def test_a_file_cut_at_every_byte_reads_as_a_prefix():
    data = read("yolov5_detect_helmet")
    whole = parse_ultralytics(data)
    for cut in range(len(data) + 1):
        part = parse_ultralytics(data[:cut])
        assert_prefix(part, whole)
        if not data[:cut].endswith(b"\n"):
            assert part.damaged, cut


def test_bigger_files_cut_around_every_line_read_as_a_prefix():
    for name in ("yolo11_segment_resumed", "yolo11_val_off_drone", "yolov10_detect_om_oo"):
        data = read(name)
        whole = parse_ultralytics(data)
        for end in [i for i, byte in enumerate(data) if byte == ord("\n")]:
            for cut in (end - 4, end, end + 1):
                assert_prefix(parse_ultralytics(data[:cut]), whole)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=500))
def test_arbitrary_bytes_never_raise(data):
    parse_ultralytics(data)
    FORMAT.sniff(data)
    total_epochs_from_args(data.decode("utf-8", errors="replace"))


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(-1, 6) | st.just(""),
            st.floats(allow_nan=True) | st.just("") | st.just(0),
            st.floats(allow_nan=True) | st.just(0),
        ),
        max_size=30,
    )
)
def test_any_rows_never_raise(rows):
    text = "epoch,time,train/box_loss,val/box_loss,metrics/mAP50(B),lr/pg0,lr/pg1\n" + "".join(
        f"{e},{a},{a},{b},{b},{a},{b}\n" for e, a, b in rows
    )
    result = parse_ultralytics(text.encode())
    assert (np.diff(result.table.steps) > 0).all()
