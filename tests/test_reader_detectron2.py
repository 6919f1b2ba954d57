"""The detectron2 metrics.json reader, on real files (tests/corpus/detectron2) and per quirk."""

import json
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from metricwatch.model import STEP, ProblemKind
from metricwatch.readers import detectron2, metrics_json
from metricwatch.readers.detectron2 import parse_detectron2
from metricwatch.readers.detectron2_keys import canonical_key

CORPUS = Path(__file__).parent / "corpus" / "detectron2"


def corpus(name):
    return (CORPUS / name / "metrics.json").read_bytes()


def kinds(result):
    return [p.kind for p in result.problems]


def lines(*rows):
    return "".join(json.dumps(row) + "\n" for row in rows).encode()


def train_line(iteration, loss, **extra):
    return {"iteration": iteration, "total_loss": loss, "loss_cls": loss / 2, "lr": 0.01, **extra}


# --- recognising the file ------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "frcnn_eval_merged_nan",
        "maskrcnn_train_only",
        "appended_run_same_iteration",
        "appended_run_after_full_run",
        "many_appended_runs_prefix",
        "out_of_order_write",
    ],
)
def test_sniff_takes_every_real_file_and_its_head(name):
    data = corpus(name)
    assert detectron2.FORMAT.sniff(data[:4096])
    assert detectron2.FORMAT.may_hold("metrics.json")


def test_sniff_takes_a_first_line_still_being_written():
    line = json.dumps(train_line(19, 2.5, data_time=0.1)).encode()
    cut = line[: line.index(b'"lr"')]  # "iteration" is written, the line is not finished
    assert b'"iteration"' in cut and not cut.endswith(b"}")
    assert detectron2.FORMAT.sniff(cut)
    assert not detectron2.FORMAT.sniff(b'{"data_time": 0.1, "eta_se')  # no iteration yet


@pytest.mark.parametrize(
    "head",
    [
        b'{"epochs": [{"epoch": 1, "train_loss": 0.5}], "meta": {}}',  # the native document
        b'{\n  "epochs": [\n    {"epoch": 1, "iteration": 10, "train_loss": 0.5}',  # pretty
        b'{"epoch": 1, "train_loss": 0.5}\n{"epoch": 2, "train_loss": 0.4}\n',  # native lines
        b'{"epochs": [{"epoch": 1, "iteration": 10, "train_loss": 0.5',  # native, cut short
        b'[{"iteration": 1}]',
        b"",
        b"\xff\xfe garbage",
    ],
)
def test_sniff_refuses_the_native_format_and_others(head):
    assert not detectron2.FORMAT.sniff(head)


def test_native_reader_still_reads_what_detectron2_refuses():
    """Both formats are called metrics.json: what detectron2's sniffer refuses is native."""
    native = b'{"epochs": [{"epoch": 1, "train_loss": 0.5}]}'
    assert not detectron2.FORMAT.sniff(native)
    assert metrics_json.FORMAT.parse(native).problems == []


# --- real files --------------------------------------------------------------------------------


def test_eval_results_merged_into_training_lines_and_on_their_own_line():
    """Faster R-CNN: bbox/* in the training lines of iterations 99 and 199, then a line
    of its own at iteration 300 after the last training line (299); bbox/APs is NaN."""
    result = parse_detectron2(corpus("frcnn_eval_merged_nan"))
    assert result.problems == []
    table = result.table
    assert table.x == STEP
    assert table.steps.tolist() == [*range(19, 300, 20), 300]
    m_ap = table.series["val_mAP"]
    assert m_ap.steps.tolist() == [99, 199, 300]
    assert m_ap.values.tolist() == [23.934527287997305, 59.00039825411113, 75.7732398239824]
    assert table.series["val_mAP_50"].values.tolist() == [
        53.33145880677639,
        90.78157815781577,
        100.0,
    ]
    assert table.series["val_mAP_75"].values[-1] == 91.74917491749174
    assert table.series["bbox/AP-hazelnut"].values.tolist() == [
        22.054455445544555,
        58.95964596459646,
        83.2871287128713,
    ]
    assert np.isnan(table.series["bbox/APs"].values).all()  # bare NaN tokens
    train = table.series["train_loss"]
    assert train.steps.tolist() == list(range(19, 300, 20))
    assert train.values[0] == 2.632075755856931
    assert train.values[-1] == 0.4286037251627022
    assert train.epochs is None and train.times is None
    assert table.series["loss_box_reg"].values[0] == 1.0067543983459473
    assert table.series["time"].values[0] == 1.1115185959997689
    assert "eta_seconds" not in table.series
    assert result.meta["eta_seconds"] == 0.0
    assert result.meta["task"] == "object_detection"
    assert result.meta["source_keys"] == {
        "train_loss": "total_loss",
        "val_mAP": "bbox/AP",
        "val_mAP_50": "bbox/AP50",
        "val_mAP_75": "bbox/AP75",
    }
    # COCO AP is a percentage: every bbox/* series is flagged as on a 0-100 scale.
    assert result.meta["value_scale"]["val_mAP"] == 100.0
    assert result.meta["value_scale"]["bbox/AP-date"] == 100.0
    assert "train_loss" not in result.meta["value_scale"]


def test_mask_rcnn_training_only():
    result = parse_detectron2(corpus("maskrcnn_train_only"))
    assert result.problems == []
    table = result.table
    assert table.steps.tolist() == list(range(19, 300, 20))
    assert table.series["loss_mask"].values[0] == 0.6871292293071747
    assert table.series["train_loss"].values[-1] == 0.26559973329131026
    assert table.series["mask_rcnn/accuracy"].values[-1] == 0.9736915283790284
    assert not any(key.startswith("val_") for key in table.series)
    assert "task" not in result.meta and "value_scale" not in result.meta
    # Series logged at every iteration share the table's steps array.
    assert table.series["train_loss"].steps is table.steps


def test_new_run_appended_at_the_same_iteration_keeps_the_last_run():
    """A run stopped after its first log, restarted into the same file: two lines at 19."""
    result = parse_detectron2(corpus("appended_run_same_iteration"))
    assert kinds(result) == [ProblemKind.RESTART]
    assert "2 training runs" in result.problems[0].message
    assert "from line 2 (iteration 19)" in result.problems[0].message
    assert result.extra["earlier_runs"] == [
        {"first_line": 1, "last_line": 1, "first_iteration": 19, "last_iteration": 19}
    ]
    train = result.table.series["train_loss"]
    assert train.steps.tolist() == list(range(19, 300, 20))
    assert train.values[0] == 2.152726454194635  # line 2's value, not line 1's (2.1679)


def test_new_run_appended_after_a_finished_run():
    result = parse_detectron2(corpus("appended_run_after_full_run"))
    assert kinds(result) == [ProblemKind.RESTART]
    assert result.extra["earlier_runs"] == [
        {"first_line": 1, "last_line": 15, "first_iteration": 19, "last_iteration": 299}
    ]
    train = result.table.series["train_loss"]
    assert train.steps.tolist() == list(range(19, 300, 20))
    assert train.values[0] == 1.8111420148052275


def test_many_short_runs_a_stopped_run_and_its_lone_eta_line():
    """Runs of 10 iterations (one line at 9, eta 0), a run stopped by hand at 224 whose last
    write is a line holding only eta_seconds (iteration 225), then a run logging from 19."""
    result = parse_detectron2(corpus("many_appended_runs_prefix"))
    assert kinds(result) == [ProblemKind.RESTART]
    assert "8 training runs" in result.problems[0].message
    earlier = result.extra["earlier_runs"]
    assert [(r["first_line"], r["last_line"]) for r in earlier] == [
        (1, 1),
        (2, 2),
        (3, 14),
        (16, 16),
        (17, 17),
        (18, 18),
        (19, 19),
    ]
    assert earlier[2]["first_iteration"] == 19 and earlier[2]["last_iteration"] == 224
    assert result.table.steps.tolist() == [19, 39, 59, 79, 99]
    assert result.table.series["lr"].values[0] == 1.60675e-05
    assert result.meta["eta_seconds"] == 61.746339999990596


def test_lines_of_one_write_out_of_iteration_order_are_merged():
    """JSONWriter groups a write by iteration in no order: iteration 2, then 1, then 4."""
    result = parse_detectron2(corpus("out_of_order_write"))
    assert result.problems == []
    table = result.table
    assert table.steps.tolist() == [1, 2, 4]
    assert table.series["train_loss"].steps.tolist() == [1, 4]
    assert table.series["train_loss"].values.tolist() == [6.42981281504035, 6.026784874498844]
    assert table.series["mask_rcnn/accuracy"].steps.tolist() == [2, 4]
    assert table.series["time"].steps.tolist() == [4]


# --- quirks on small files made here --------------------------------------------------------


def test_resume_part_way_replaces_the_later_lines():
    data = lines(
        train_line(19, 4.0),
        train_line(39, 3.0),
        train_line(59, 2.0),
        train_line(79, 1.5),
        train_line(59, 2.1),  # resumed from the checkpoint after iteration 49
        train_line(79, 1.6),
        train_line(99, 1.2),
    )
    result = parse_detectron2(data)
    assert kinds(result) == [ProblemKind.RESTART]
    assert result.problems[0].message == (
        "the iteration went back (resumed from a checkpoint) at iteration 59 (after 79); "
        "the later lines replace the earlier ones"
    )
    assert "earlier_runs" not in result.extra
    train = result.table.series["train_loss"]
    assert train.steps.tolist() == [19, 39, 59, 79, 99]
    assert train.values.tolist() == [4.0, 3.0, 2.1, 1.6, 1.2]


def test_going_back_to_the_first_iteration_is_a_new_run():
    data = lines(train_line(19, 4.0), train_line(39, 3.0), train_line(19, 5.0))
    result = parse_detectron2(data)
    assert kinds(result) == [ProblemKind.RESTART]
    assert result.extra["earlier_runs"] == [
        {"first_line": 1, "last_line": 2, "first_iteration": 19, "last_iteration": 39}
    ]
    assert result.table.series["train_loss"].values.tolist() == [5.0]


def test_finished_run_extended_by_a_resume_is_one_run():
    """eta 0 at the last iteration, then MAX_ITER raised and training resumed from there."""
    data = lines(
        train_line(19, 4.0, eta_seconds=20.0),
        train_line(39, 3.0, eta_seconds=0.0),
        train_line(59, 2.5, eta_seconds=30.0),
    )
    result = parse_detectron2(data)
    assert result.problems == []
    assert result.table.steps.tolist() == [19, 39, 59]
    assert result.meta["eta_seconds"] == 30.0


def test_eval_line_at_the_iteration_of_a_training_line_is_one_record():
    data = lines(
        train_line(99, 1.0),
        {"bbox/AP": 12.5, "bbox/AP50": 30.0, "iteration": 99},
        train_line(119, 0.9),
    )
    result = parse_detectron2(data)
    assert result.problems == []
    assert result.table.steps.tolist() == [99, 119]
    assert result.table.series["val_mAP"].steps.tolist() == [99]
    assert result.table.series["val_mAP_50"].values.tolist() == [30.0]


def test_instance_and_semantic_segmentation_keys():
    data = lines(
        train_line(99, 1.0),
        {
            "bbox/AP": 40.0,
            "segm/AP": 35.5,
            "segm/AP50": 60.25,
            "segm/AP-person": 33.0,
            "sem_seg/mIoU": 71.5,
            "sem_seg/pACC": 90.0,
            "iteration": 99,
        },
    )
    result = parse_detectron2(data)
    series = result.table.series
    assert series["val_mAP_mask"].values.tolist() == [35.5]
    assert series["val_mAP"].values.tolist() == [40.0]
    assert series["segm/AP50"].values.tolist() == [60.25]
    assert series["segm/AP-person"].values.tolist() == [33.0]
    assert series["val_mIoU"].values.tolist() == [71.5]
    assert series["val_pixel_acc"].values.tolist() == [90.0]
    assert result.meta["task"] == "instance_segmentation"
    assert result.meta["value_scale"]["val_mAP_mask"] == 100.0


@pytest.mark.parametrize(
    "evaluations, task",
    [
        ([{"segm/AP": 30.0, "bbox/AP": 35.0}, {"bbox/AP": 36.0}], "instance_segmentation"),
        ([{"bbox/AP": 36.0}, {"segm/AP": 30.0}], "instance_segmentation"),
        ([{"bbox/AP": 36.0}, {"sem_seg/mIoU": 60.0}], "segmentation"),
        ([{"sem_seg/mIoU": 60.0}, {"bbox/AP": 36.0}], "segmentation"),
        ([{"bbox/AP": 36.0}, {"bbox/AP": 37.0}], "object_detection"),
    ],
)
def test_the_task_is_the_first_of_segm_sem_seg_bbox_any_line_tells(evaluations, task):
    """Whatever the order of the lines (an appended log merges its writes' tasks so)."""
    rows = [train_line(19 + 20 * i, 1.0, **extra) for i, extra in enumerate(evaluations)]
    assert parse_detectron2(lines(*rows)).meta["task"] == task


def test_bare_nan_and_infinity_tokens():
    data = b'{"iteration": 19, "total_loss": NaN, "loss_cls": Infinity, "lr": -Infinity}\n'
    result = parse_detectron2(data)
    assert result.problems == []
    series = result.table.series
    assert math.isnan(series["train_loss"].values[0])
    assert series["loss_cls"].values[0] == math.inf
    assert series["lr"].values[0] == -math.inf


def test_last_line_cut_short_keeps_the_complete_lines():
    data = lines(train_line(19, 4.0), train_line(39, 3.0)) + b'{"iteration": 59, "total_lo'
    result = parse_detectron2(data)
    assert kinds(result) == [ProblemKind.TRUNCATED]
    assert result.problems[0].message == (
        "the last line of metrics.json is incomplete (a write in progress?)"
    )
    assert result.table.steps.tolist() == [19, 39]


def test_broken_line_in_the_middle_and_odd_lines_are_typed_problems():
    data = (
        lines(train_line(19, 4.0))
        + b'{"iteration": 39, "total_loss": 3.\n'
        + b"[1, 2]\n"
        + b'{"total_loss": 2.0}\n'
        + b'{"iteration": -5, "total_loss": 2.0}\n'
        + lines(train_line(59, 2.0, note="hello", extra_list=[1, 2]))
    )
    result = parse_detectron2(data)
    assert kinds(result) == [
        ProblemKind.INVALID_JSON,
        ProblemKind.NOT_OURS,
        ProblemKind.BAD_EPOCH,
        ProblemKind.NON_NUMERIC,
    ]
    assert result.problems[0].message == "skipped 1 lines that are not valid JSON"
    assert result.problems[2].message == 'skipped 2 lines without a usable "iteration"'
    assert result.problems[3].message == (
        "ignored 2 non-numeric values ('note' ×1, 'extra_list' ×1)"
    )
    assert result.table.steps.tolist() == [19, 59]


def test_empty_and_blank_files():
    for data in (b"", b"\n\n  \n"):
        result = parse_detectron2(data)
        assert kinds(result) == [ProblemKind.EMPTY]
        assert len(result.table) == 0


def test_crlf_and_byte_order_mark():
    data = b"\xef\xbb\xbf" + lines(train_line(19, 4.0), train_line(39, 3.0)).replace(b"\n", b"\r\n")
    result = parse_detectron2(data)
    assert result.problems == []
    assert result.table.steps.tolist() == [19, 39]


def test_invalid_utf8_is_an_encoding_problem():
    data = lines(train_line(19, 4.0)) + b'{"iteration": 39, "total_loss": 3.0, "x\xff": 1}\n'
    result = parse_detectron2(data)
    assert kinds(result) == [ProblemKind.ENCODING]
    assert result.table.steps.tolist() == [19, 39]


def test_canonical_keys():
    assert canonical_key("total_loss") == "train_loss"
    assert canonical_key("bbox/AP") == "val_mAP"
    assert canonical_key("bbox/AP50") == "val_mAP_50"
    assert canonical_key("bbox/AP75") == "val_mAP_75"
    assert canonical_key("segm/AP") == "val_mAP_mask"
    assert canonical_key("validation_loss") == "val_loss"
    assert canonical_key("lr") == "lr"
    assert canonical_key("loss_rpn_loc") == "loss_rpn_loc"
    assert canonical_key("bbox/APs") == "bbox/APs"
    assert canonical_key("bbox/AP-person") == "bbox/AP-person"


# --- cut short at every byte, and arbitrary bytes --------------------------------------------


def _assert_prefix(part, whole):
    for key, series in part.table.series.items():
        full = whole.table.series[key]
        n = len(series)
        assert series.steps.tolist() == full.steps[:n].tolist(), key
        assert np.array_equal(series.values, full.values[:n], equal_nan=True), key


@pytest.mark.parametrize("name", ["frcnn_eval_merged_nan", "out_of_order_write"])
def test_cut_at_every_byte_reads_a_prefix(name):
    data = corpus(name)
    whole = parse_detectron2(data)
    for cut in range(len(data)):
        part = parse_detectron2(data[:cut])
        assert set(kinds(part)) <= {ProblemKind.TRUNCATED, ProblemKind.EMPTY}, cut
        _assert_prefix(part, whole)


@pytest.mark.parametrize("name", ["appended_run_after_full_run", "many_appended_runs_prefix"])
def test_cut_at_every_line_of_appended_runs_never_raises(name):
    data = corpus(name)
    ends = [i + 1 for i, byte in enumerate(data) if byte == ord("\n")]
    for cut in ends:
        part = parse_detectron2(data[:cut])
        assert set(kinds(part)) <= {ProblemKind.RESTART}
        assert len(part.table) >= 1


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=400))
def test_arbitrary_bytes_never_raise(data):
    result = parse_detectron2(data)
    detectron2.FORMAT.sniff(data)
    for series in result.table.series.values():
        assert len(series.steps) == len(series.values)


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=8,
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.dictionaries(
            st.sampled_from(["iteration", "total_loss", "bbox/AP", "lr", "eta_seconds", "x/y"]),
            _JSON | st.integers(min_value=-5, max_value=100),
        ),
        max_size=12,
    )
)
def test_arbitrary_json_lines_never_raise(rows):
    result = parse_detectron2(lines(*rows))
    assert result.table.steps.tolist() == sorted(set(result.table.steps.tolist()))
    for series in result.table.series.values():
        assert set(series.steps.tolist()) <= set(result.table.steps.tolist())


def test_a_write_telling_a_task_the_parse_never_tells_leaves_the_known_one():
    from metricwatch.readers.detectron2 import merge_new_meta

    meta = {"task": "object_detection"}
    merge_new_meta(meta, {"task": "keypoints"})  # ranked after every task of the parse
    assert meta["task"] == "object_detection"
    meta = {"task": "object_detection"}
    merge_new_meta(meta, {"task": "instance_segmentation"})  # an earlier one: taken
    assert meta["task"] == "instance_segmentation"
    meta = {}
    merge_new_meta(meta, {"task": "keypoints"})  # nothing known: the write's
    assert meta["task"] == "keypoints"
