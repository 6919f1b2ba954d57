"""TensorBoard event files: framing, the protobuf fields we decode, runs made of directories.

Files under tests/corpus/tfevents/generated/ were written by the real writers
(torch.utils.tensorboard 2.13, tensorboard 2.21's own protobufs, Lightning 2.6;
see generate.py and VERSIONS.txt there); every scalar our reader returns from
them was compared with tensorboard's EventFileLoader when they were made.
Odd cases no writer produces on demand (a tensor of int64, a corrupt checksum)
are built here with a few lines of wire format.
"""

from __future__ import annotations

import math
import os
import struct
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from metricwatch.model import EPOCH, STEP, ProblemKind
from metricwatch.readers import tfevents_crc
from metricwatch.readers.tfevents import (
    EventDirTail,
    EventFileTail,
    canonical_tag,
    masked_crc32c,
    parse_events,
    read_event_dir,
    sniff,
)

CORPUS = Path(__file__).parent / "corpus" / "tfevents" / "generated"
F32 = lambda x: float(np.float32(x))  # noqa: E731 - simple_value is a float32


# --- a few lines of wire format -----------------------------------------------------------


def varint(value: int) -> bytes:
    value &= (1 << 64) - 1
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def ld(number: int, payload: bytes) -> bytes:
    return varint(number << 3 | 2) + varint(len(payload)) + payload


def simple(tag: str, value: float) -> bytes:
    return ld(1, tag.encode()) + b"\x15" + struct.pack("<f", value)


def tensor_value(tag: str, tensor: bytes, plugin: str = "scalars") -> bytes:
    metadata = ld(1, ld(1, plugin.encode())) if plugin else b""
    return ld(1, tag.encode()) + ld(8, tensor) + (ld(9, metadata) if metadata else b"")


def event(step: int, *values: bytes, wall: float = 1.7e9) -> bytes:
    data = b"\x09" + struct.pack("<d", wall)
    if step:
        data += b"\x10" + varint(step)
    return data + ld(5, b"".join(ld(1, v) for v in values))


def record(data: bytes, *, bad_length: bool = False, bad_data: bool = False) -> bytes:
    header = struct.pack("<Q", len(data))
    length_crc = masked_crc32c(header) ^ (1 if bad_length else 0)
    data_crc = masked_crc32c(data) ^ (1 if bad_data else 0)
    return header + struct.pack("<I", length_crc) + data + struct.pack("<I", data_crc)


VERSION = record(b"\x09" + struct.pack("<d", 1.7e9) + ld(3, b"brain.Event:2"))


def file_of(*events: bytes) -> bytes:
    return VERSION + b"".join(record(e) for e in events)


# --- checksums ----------------------------------------------------------------------------


def test_crc32c_is_castagnoli_masked_as_tensorflow_masks_it():
    crc = 0xE3069283  # CRC32C("123456789"), the standard check value
    masked = (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF
    assert masked_crc32c(b"123456789") == masked
    rows = np.frombuffer(b"123456789", dtype=np.uint8)
    assert int(tfevents_crc._masked_crc_at(rows, np.zeros(1, dtype=np.int64), 9)[0]) == masked


# --- files from the real writers ----------------------------------------------------------


def test_pytorch_summarywriter_scalars_resume_nan_inf_and_skipped_kinds():
    """Two files (the second a resume from step 3), histograms, an image, text: skipped."""
    result = read_event_dir(CORPUS / "pytorch_writer")
    table = result.table
    assert table.x == STEP
    assert table.steps.tolist() == [0, 1, 2, 3, 4, 5]
    assert list(table.series) == ["train_loss", "val_loss", "lr"]
    train = table.series["train_loss"]
    assert train.steps.tolist() == [0, 1, 2, 3, 4]  # step 5 of the first file was replaced
    assert train.values.tolist() == [1.0, 0.5, F32(1 / 3), F32(0.3), F32(0.4)]
    assert train.times.tolist() == [1.7e9, 1.7e9 + 1, 1.7e9 + 2, 1.7e9 + 103, 1.7e9 + 104]
    val = table.series["val_loss"].values
    assert val[:4].tolist() == [1.5, F32(1.2), 1.0, F32(0.9)]
    assert math.isnan(val[4]) and val[5] == math.inf
    assert result.meta["source_keys"] == {
        "train_loss": "Loss/train",
        "val_loss": "Loss/val",
        "lr": "lr-Adam",
    }
    assert [p.kind for p in result.problems] == [ProblemKind.RESTART]
    assert "'Loss/train' ×1" in result.problems[0].message


def test_parse_events_returns_every_scalar_in_file_order():
    path = next((CORPUS / "pytorch_writer").glob("*.0"))
    scalars, problems = parse_events(path.read_bytes())
    assert problems == []
    assert len(scalars) == 18  # 6 steps x 3 tags; histograms, image, text skipped
    assert scalars[0] == ("Loss/train", 0, 1.7e9, 1.0)
    assert scalars[1] == ("Loss/val", 0, 1.7e9, 1.5)


def test_hugging_face_tags_and_the_epoch_axis():
    result = read_event_dir(CORPUS / "hf_tags")
    series = result.table.series
    assert list(series) == ["train_loss", "grad_norm", "lr", "val_loss", "val_accuracy"]
    assert series["train_loss"].values.tolist() == [2.0, 1.0, 0.0]
    assert series["train_loss"].epochs.tolist() == [0.5, 1.0, 1.5]
    assert series["val_loss"].steps.tolist() == [20]
    assert series["val_loss"].epochs.tolist() == [1.0]
    assert series["val_accuracy"].values.tolist() == [0.75]
    assert "epoch" not in series and "train/epoch" not in series
    assert result.problems == []  # the epoch logged twice at step 20 is no restart


def test_keras_train_and_validation_dirs_are_one_epoch_run_of_tensor_scalars():
    result = read_event_dir(CORPUS / "keras")
    table = result.table
    assert table.x == EPOCH
    assert table.steps.tolist() == [0, 1, 2]
    assert table.series["train_loss"].values.tolist() == [1.0, 0.75, 0.5]  # tensor_content f32
    assert table.series["val_loss"].values.tolist() == [1.5, 1.25, 1.0]
    assert table.series["train_accuracy"].values.tolist() == [0.5, 0.625, 0.75]  # float_val
    assert table.series["val_accuracy"].values.tolist() == [0.25, 0.5, 0.75]
    assert table.series["lr"].values.tolist() == [0.001, 0.001, 0.001]  # a double tensor
    assert result.meta["source_keys"]["val_loss"] == "validation/epoch_loss"
    assert result.extra["other_axis_tags"] == ["validation/evaluation_loss_vs_iterations"]
    assert result.problems == []


def test_lightning_tensorboard_logger():
    result = read_event_dir(CORPUS / "lightning_tb" / "lightning_logs" / "version_0")
    series = result.table.series
    assert "hp_metric" not in series  # Lightning's -1 placeholder
    assert result.meta["source_keys"]["lr"] == "lr-Adam"
    assert result.meta["source_keys"]["val_loss"] == "val/loss"
    assert result.meta["source_keys"]["train_loss"] == "train/loss_step"
    assert series["val_loss"].steps.tolist() == [7, 15, 23]
    assert series["val_loss"].epochs.tolist() == [0.0, 1.0, 2.0]
    assert np.isnan(series["probe/grad_scale"].values).all()
    assert result.problems == []


def test_torch_writer_nan_and_inf_probes():
    series = read_event_dir(CORPUS / "torch_summarywriter" / "run_a").table.series
    assert math.isnan(series["Loss/train_nan_probe"].values[0])
    assert series["Loss/train_inf_probe"].values.tolist() == [math.inf]
    assert len(series["train_loss"]) == 30


# --- the directory: order, roles, mapping -------------------------------------------------


def test_files_are_read_in_the_order_of_their_timestamp_not_their_name(tmp_path):
    (tmp_path / "events.out.tfevents.10.host.1.0").write_bytes(
        file_of(event(1, simple("loss", 2.0)))
    )
    (tmp_path / "events.out.tfevents.9.host.1.0").write_bytes(
        file_of(event(1, simple("loss", 1.0)), event(2, simple("loss", 1.0)))
    )
    series = read_event_dir(tmp_path).table.series["train_loss"]
    # file 9 first (steps 1, 2), then file 10 resumes at step 1
    assert series.steps.tolist() == [1] and series.values.tolist() == [2.0]


def test_a_step_repeated_keeps_the_later_value_without_a_restart(tmp_path):
    (tmp_path / "events.out.tfevents.1.h").write_bytes(
        file_of(event(5, simple("x", 1.0)), event(5, simple("x", 2.0)), event(6, simple("x", 3.0)))
    )
    result = read_event_dir(tmp_path)
    assert result.table.series["x"].values.tolist() == [2.0, 3.0]
    assert result.problems == []


def test_ultralytics_segment_box_map_is_val_map_box(tmp_path):
    (tmp_path / "events.out.tfevents.1.h").write_bytes(
        file_of(event(1, simple("metrics/mAP50-95(B)", 0.5), simple("metrics/mAP50-95(M)", 0.25)))
    )
    result = read_event_dir(tmp_path)
    assert list(result.table.series) == ["val_mAP_box", "val_mAP_mask"]
    detect = tmp_path / "detect"
    detect.mkdir()
    (detect / "events.out.tfevents.1.h").write_bytes(
        file_of(event(1, simple("metrics/mAP50-95(B)", 0.5), simple("lr/pg0", 0.1)))
    )
    assert list(read_event_dir(detect).table.series) == ["val_mAP", "lr"]  # the only group


def test_ultralytics_learning_rate_groups_as_in_results_csv(tmp_path):
    """lr/pg1 is the schedule (pg0 is the biases' warm-up), named as results.csv names them."""
    tags = [simple("lr/pg0", 0.0625), simple("lr/pg1", 0.0009765625), simple("lr/pg2", 0.5)]
    (tmp_path / "events.out.tfevents.1.h").write_bytes(file_of(event(3, *tags)))
    result = read_event_dir(tmp_path)
    assert {key: s.values.tolist() for key, s in result.table.series.items()} == {
        "lr_pg0": [0.0625],
        "lr": [0.0009765625],
        "lr_pg2": [0.5],
    }


def test_yolov5_tags_and_its_epoch_axis(tmp_path):
    """Tag names as in YOLOv5's runs/train/exp event files (Grafit-Kil/helmet-detection-yolov5
    runs/train/exp2/events.out.tfevents.1671637532.gakko.30470.0 at 474f6ef9733b098b818becf9
    21ec588e278ed837, checked by hand: 1,950 scalars, equal to tensorboard's read)."""
    tags = ["train/box_loss", "metrics/precision", "metrics/recall", "metrics/mAP_0.5"]
    tags += ["metrics/mAP_0.5:0.95", "val/box_loss", "x/lr0"]
    (tmp_path / "events.out.tfevents.1671637532.gakko.30470.0").write_bytes(
        file_of(*(event(epoch, *(simple(t, 0.5) for t in tags)) for epoch in range(3)))
    )
    table = read_event_dir(tmp_path).table
    assert table.x == EPOCH and table.steps.tolist() == [0, 1, 2]
    assert list(table.series) == [
        "train/box_loss",
        "val_precision",
        "val_recall",
        "val_mAP_50",
        "val_mAP",
        "val/box_loss",
        "lr",  # x/lr0, the only group logged: as results.csv reads it
    ]


@pytest.mark.parametrize(
    ("tag", "role", "key"),
    [
        ("train/loss", "", "train_loss"),
        ("Loss/train", "", "train_loss"),
        ("loss", "", "train_loss"),
        ("train_loss", "", "train_loss"),
        ("eval/loss", "", "val_loss"),
        ("val/loss", "", "val_loss"),
        ("eval/f1", "", "val_f1"),
        ("eval/runtime", "", "val_runtime"),
        ("lr-Adam", "", "lr"),
        ("lr-AdamW/pg1", "", "lr-AdamW/pg1"),
        ("train/learning_rate", "", "lr"),
        ("metrics/mAP50-95(B)", "", "val_mAP"),
        ("metrics/mAP50(B)", "", "val_mAP_50"),
        ("train/box_loss", "", "train/box_loss"),
        ("epoch_loss", "validation", "val_loss"),
        ("epoch_loss", "train", "train_loss"),
        ("epoch_accuracy", "train", "train_accuracy"),
        ("epoch_acc", "validation", "val_accuracy"),
        ("epoch_learning_rate", "train", "lr"),
        ("batch_loss", "train", "train/batch_loss"),
    ],
)
def test_tag_names(tag, role, key):
    assert canonical_tag(tag, role) == key


def test_two_tags_for_one_key_keep_both(tmp_path):
    (tmp_path / "events.out.tfevents.1.h").write_bytes(
        file_of(event(1, simple("train/loss", 1.0), simple("Loss/train", 2.0)))
    )
    result = read_event_dir(tmp_path)
    assert result.table.series["train_loss"].values.tolist() == [1.0]
    assert result.table.series["Loss/train"].values.tolist() == [2.0]
    assert result.problems[0].kind is ProblemKind.NON_NUMERIC


def test_a_profile_empty_file_beside_the_events_adds_nothing(tmp_path):
    """TF's profiler leaves `events.out.tfevents.<time>.<host>.profile-empty`: one
    file_version record (40 bytes, as in the Swahili-Speech-To-Text run of PROVENANCE)."""
    (tmp_path / "events.out.tfevents.1628697787.host.profile-empty").write_bytes(VERSION)
    (tmp_path / "events.out.tfevents.1628697775.host.1.2.v2").write_bytes(
        file_of(event(1, simple("loss", 1.0)))
    )
    result = read_event_dir(tmp_path)
    assert result.problems == [] and list(result.table.series) == ["train_loss"]
    assert len(VERSION) == 40


def test_an_unreadable_file_is_a_problem(tmp_path):
    tail = EventFileTail(tmp_path / "events.out.tfevents.1.gone")
    assert tail.read_new() == []
    assert tail.problems[0].kind is ProblemKind.UNREADABLE


def test_missing_and_empty_directories(tmp_path):
    assert read_event_dir(tmp_path).problems[0].kind is ProblemKind.MISSING
    (tmp_path / "events.out.tfevents.1.h").write_bytes(b"")
    result = read_event_dir(tmp_path)
    assert [p.kind for p in result.problems] == [ProblemKind.EMPTY]
    assert len(result.table) == 0


# --- protobuf fields ----------------------------------------------------------------------

SHAPE_SCALAR = ld(2, b"")


@pytest.mark.parametrize(
    ("tensor", "value"),
    [
        (b"\x08\x01" + SHAPE_SCALAR + ld(5, struct.pack("<f", 0.5)), 0.5),  # packed float_val
        (b"\x08\x01" + SHAPE_SCALAR + b"\x2d" + struct.pack("<f", 0.25), 0.25),  # unpacked
        (b"\x08\x02" + SHAPE_SCALAR + ld(6, struct.pack("<d", 0.1)), 0.1),  # double_val
        (b"\x08\x02" + SHAPE_SCALAR + ld(4, struct.pack("<d", 0.2)), 0.2),  # tensor_content
        (b"\x08\x09" + SHAPE_SCALAR + b"\x50" + varint(-3), -3.0),  # int64_val
        (b"\x08\x03" + SHAPE_SCALAR + b"\x38" + varint(7), 7.0),  # int_val
        (b"\x08\x01" + ld(4, struct.pack("<f", 1.5)), 1.5),  # no shape at all: rank 0
    ],
)
def test_rank0_tensor_scalars(tensor, value):
    scalars, problems = parse_events(file_of(event(3, tensor_value("t", tensor))))
    assert scalars == [("t", 3, 1.7e9, value)] and problems == []


@pytest.mark.parametrize(
    ("tensor", "plugin"),
    [
        (b"\x08\x01" + ld(2, ld(2, b"\x08\x02")) + ld(5, struct.pack("<2f", 1, 2)), "scalars"),
        (b"\x08\x07" + SHAPE_SCALAR + ld(8, b"text"), "text"),  # a string tensor
        (b"\x08\x01" + SHAPE_SCALAR + ld(5, struct.pack("<f", 1)), "hparams"),
        (b"\x08\x13" + SHAPE_SCALAR + ld(4, b"\x00\x3c"), "scalars"),  # DT_HALF: not read
    ],
)
def test_other_tensors_are_skipped(tensor, plugin):
    scalars, problems = parse_events(file_of(event(3, tensor_value("t", tensor, plugin))))
    assert scalars == [] and problems == []


def test_step_zero_negative_and_huge_steps():
    steps = [0, -2, 2**40, -5, 200, 20000, 3]  # after the first, the fast path reads them
    scalars, _ = parse_events(file_of(*(event(step, simple("a", 1)) for step in steps)))
    assert [s[1] for s in scalars] == steps


def test_several_values_in_one_event_and_a_file_version_event():
    scalars, problems = parse_events(file_of(event(4, simple("a", 1), simple("b", 2))))
    assert scalars == [("a", 4, 1.7e9, 1.0), ("b", 4, 1.7e9, 2.0)] and problems == []


def test_the_fast_path_gives_what_the_full_decoder_gives():
    events = [event(step, simple("loss", 1 / (step + 1)), wall=1e9 + step) for step in range(300)]
    scalars, _ = parse_events(file_of(*events))
    assert [s[1] for s in scalars] == list(range(300))
    assert [s[3] for s in scalars] == [F32(1 / (step + 1)) for step in range(300)]
    assert [s[2] for s in scalars] == [1e9 + step for step in range(300)]


# --- damage -------------------------------------------------------------------------------


def test_a_record_with_a_wrong_data_checksum_is_skipped():
    good = record(event(1, simple("a", 1.0)))
    bad = record(event(2, simple("a", 2.0)), bad_data=True)
    scalars, problems = parse_events(VERSION + good + bad + good)
    assert [s[1] for s in scalars] == [1, 1]
    assert [p.kind for p in problems] == [ProblemKind.UNREADABLE]
    assert "skipped 1 damaged records" in problems[0].message


def test_a_wrong_length_checksum_ends_the_readable_part():
    good = record(event(1, simple("a", 1.0)))
    data = VERSION + good + record(event(2, simple("a", 2.0)), bad_length=True) + good
    scalars, problems = parse_events(data)
    assert [s[1] for s in scalars] == [1]
    assert problems[0].kind is ProblemKind.UNREADABLE
    assert f"corrupt at byte {len(VERSION + good)}" in problems[0].message


def test_a_file_that_is_not_an_event_file():
    scalars, problems = parse_events(b"step,loss\n1,0.5\n2,0.4\n")
    assert scalars == [] and problems[0].kind is ProblemKind.NOT_OURS
    assert not sniff(b"step,loss\n1,0.5\n2,0.4\n")
    assert sniff(VERSION[:12]) and sniff(VERSION[:5]) and sniff(VERSION)


def test_a_file_cut_at_every_byte_reads_a_prefix():
    data = (CORPUS / "hf_tags").glob("events.*").__next__().read_bytes()
    full, _ = parse_events(data)
    boundaries = set()
    pos = 0
    while pos < len(data):
        pos += 16 + struct.unpack_from("<Q", data, pos)[0]
        boundaries.add(pos)
    for cut in range(len(data) + 1):
        scalars, problems = parse_events(data[:cut])
        assert repr(scalars) == repr(full[: len(scalars)])
        kinds = [p.kind for p in problems]
        if cut == 0:
            assert kinds == [ProblemKind.EMPTY]
        elif cut in boundaries:
            assert kinds == []
        else:
            assert kinds == [ProblemKind.TRUNCATED], cut


# --- reading as the file grows ------------------------------------------------------------


def test_tail_reads_only_new_records_and_waits_for_a_cut_one(tmp_path):
    data = next((CORPUS / "pytorch_writer").glob("*.0")).read_bytes()
    full, _ = parse_events(data)
    path = tmp_path / "events.out.tfevents.1.h"
    tail = EventFileTail(path)
    path.write_bytes(b"")
    got = []
    for cut in range(0, len(data) + 1, 777):
        with path.open("ab") as handle:
            handle.write(data[path.stat().st_size : cut])
        got.extend(tail.read_new())
        assert all(p.kind is ProblemKind.TRUNCATED for p in tail.problems)
    with path.open("ab") as handle:
        handle.write(data[path.stat().st_size :])
    got.extend(tail.read_new())
    assert repr(got) == repr(full)  # repr: NaN equals NaN
    assert tail.offset == len(data) and tail.problems == []
    assert tail.read_new() == []


def test_tail_starts_again_when_the_file_is_replaced_or_shrinks(tmp_path):
    path = tmp_path / "events.out.tfevents.1.h"
    path.write_bytes(file_of(event(1, simple("a", 1.0)), event(2, simple("a", 2.0))))
    tail = EventFileTail(path)
    assert len(tail.read_new()) == 2 and not tail.reset
    replacement = tmp_path / "new"
    replacement.write_bytes(file_of(event(1, simple("a", 5.0))))
    os.replace(replacement, path)
    assert tail.read_new() == [("a", 1, 1.7e9, 5.0)] and tail.reset
    path.write_bytes(file_of())  # same inode, shorter
    assert tail.read_new() == [] and tail.reset and tail.offset == len(VERSION)


def test_dir_tail_equals_a_fresh_read_after_each_append(tmp_path):
    path = tmp_path / "events.out.tfevents.1.h"
    tail = EventDirTail(tmp_path)
    records = [record(event(s, simple("loss", s), simple("eval/loss", -s))) for s in range(50)]
    path.write_bytes(VERSION)
    for index, piece in enumerate(records):
        with path.open("ab") as handle:
            handle.write(piece)
        if index % 7 == 0:
            live, fresh = tail.read().table, read_event_dir(tmp_path).table
            assert live.steps.tolist() == fresh.steps.tolist()
            for key, series in fresh.series.items():
                assert live.series[key].values.tolist() == series.values.tolist()
    final = tail.read().table
    assert final.series["train_loss"].values.tolist() == [float(s) for s in range(50)]
    assert final.series["val_loss"].steps.tolist() == list(range(50))


# --- anything a file may hold -------------------------------------------------------------


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=400))
def test_arbitrary_bytes_never_raise(data):
    parse_events(data)
    parse_events(VERSION + data)
    sniff(data)


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_mutated_real_files_never_raise(data):
    raw = bytearray(next((CORPUS / "keras" / "train").glob("events.*")).read_bytes())
    for _ in range(data.draw(st.integers(1, 8))):
        raw[data.draw(st.integers(0, len(raw) - 1))] = data.draw(st.integers(0, 255))
    # Mutations that keep the checksums valid exercise the decoder: fix them up.
    fixed, pos = bytearray(), 0
    while pos + 12 <= len(raw):
        length = struct.unpack_from("<Q", raw, pos)[0]
        if pos + 16 + length > len(raw):
            break
        fixed += record(bytes(raw[pos + 12 : pos + 12 + length]))
        pos += 16 + length
    parse_events(bytes(raw))
    parse_events(bytes(fixed))
