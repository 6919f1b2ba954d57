"""TensorBoard event files (`events.out.tfevents.*`): scalars, without tensorboard.

An event file is a sequence of records, each framed as
    uint64 length | uint32 masked CRC32C of the length | data | uint32 masked CRC32C of data
where data is a serialised `Event` protobuf. We decode only the few fields
that carry scalars (wire format by hand, no protobuf library):
    Event       {1 wall_time double, 2 step int64, 3 file_version string, 5 summary Summary}
    Summary     {1 value repeated Value}
    Value       {1 tag string, 2 simple_value float, 8 tensor TensorProto, 9 metadata}
    TensorProto {1 dtype, 2 tensor_shape, 4 tensor_content, 5 float_val, 6 double_val,
                 7 int_val, 10 int64_val}
Scalars come as `simple_value` (PyTorch SummaryWriter, tensorboardX, TF1) or
as rank-0 tensors (TF2's tf.summary.scalar, so Keras). Histograms, images,
audio, text, graphs and hparams are skipped.

Both CRCs are checked, vectorised with numpy (a pure-Python CRC32C costs
about 0.3 s a megabyte). A data CRC is checked for every record short
enough to be a scalar (`_CHECKED_DATA`); a longer record (an image, a
graph) is only used if it holds a scalar, and then it is checked too.

A directory of event files is one run: its files are read in the order of
the timestamp in their names, and Keras' `train/` and `validation/`
subdirectories are one run too. Tags map onto the registry's keys through
`_TAG_KEYS` below; the original tag is kept in meta["source_keys"].
"""

from __future__ import annotations

import os
import re
import struct
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from metricwatch.model import EPOCH, STEP, Problem, ProblemKind, Series, Table
from metricwatch.readers.base import ParseResult
from metricwatch.safetext import printable, shorten_middle

PATTERN = "events.out.tfevents.*"

# --- tag names ----------------------------------------------------------------------------

#: Tags whose meaning is the registry's key, from the frameworks that write event files:
#: PyTorch tutorials (`Loss/train`), Hugging Face Trainer (`train/loss`, `eval/loss`,
#: `train/learning_rate`), Lightning (`train_loss`, `lr-Adam`), Ultralytics (`metrics/...`).
_TAG_KEYS: dict[str, str] = {
    "loss": "train_loss",
    "train_loss": "train_loss",
    "train/loss": "train_loss",
    "Loss/train": "train_loss",
    "loss/train": "train_loss",
    "training_loss": "train_loss",
    "train_loss_step": "train_loss",
    "train/loss_step": "train_loss",
    "val_loss": "val_loss",
    "val/loss": "val_loss",
    "valid/loss": "val_loss",
    "validation/loss": "val_loss",
    "validation_loss": "val_loss",
    "eval/loss": "val_loss",
    "eval_loss": "val_loss",
    "Loss/val": "val_loss",
    "Loss/valid": "val_loss",
    "Loss/validation": "val_loss",
    "loss/val": "val_loss",
    "lr": "lr",
    "learning_rate": "lr",
    "train/lr": "lr",
    "train/learning_rate": "lr",
    "grad_norm": "grad_norm",
    "train/grad_norm": "grad_norm",
    "acc": "train_accuracy",
    "accuracy": "train_accuracy",
    "train_acc": "train_accuracy",
    "train_accuracy": "train_accuracy",
    "train/acc": "train_accuracy",
    "train/accuracy": "train_accuracy",
    "Accuracy/train": "train_accuracy",
    "val_acc": "val_accuracy",
    "val_accuracy": "val_accuracy",
    "val/acc": "val_accuracy",
    "val/accuracy": "val_accuracy",
    "eval/accuracy": "val_accuracy",
    "Accuracy/val": "val_accuracy",
    "Accuracy/valid": "val_accuracy",
    "val_f1": "val_f1",
    "val/f1": "val_f1",
    "eval/f1": "val_f1",
    "metrics/mAP50-95(B)": "val_mAP",
    "metrics/mAP50(B)": "val_mAP_50",
    "metrics/precision(B)": "val_precision",
    "metrics/recall(B)": "val_recall",
    "metrics/mAP50-95(M)": "val_mAP_mask",
    "metrics/mAP_0.5:0.95": "val_mAP",  # YOLOv5
    "metrics/mAP_0.5": "val_mAP_50",
    "metrics/precision": "val_precision",
    "metrics/recall": "val_recall",
}
#: Ultralytics segmentation runs log box and mask mAP: there the box one is val_mAP_box.
_SEGMENT_KEYS = {"metrics/mAP50-95(B)": "val_mAP_box"}
#: Lightning's LearningRateMonitor: `lr-Adam`, `lr-SGD` (one param group).
_LR_MONITOR = re.compile(r"lr-[A-Za-z][A-Za-z0-9_]*")
#: Tags that are the epoch of a step (HF `train/epoch`, Lightning `epoch`): the epochs axis.
_EPOCH_TAGS = ("train/epoch", "epoch")
#: Keras' TensorBoard callback: `epoch_loss` in train/ and validation/ (TF2 tensors).
_KERAS_DIRS = {"train": "train", "validation": "val"}
_KERAS_KEYS = {"epoch_learning_rate": "lr", "epoch_lr": "lr"}
#: YOLOv5 and Ultralytics log once per epoch, with the epoch as the step.
_EPOCH_RUN_TAGS = frozenset({"train/box_loss"})


def canonical_tag(tag: str, role: str = "") -> str:
    """The registry's key for a tag read in directory `role` ("", "train", "validation")."""
    if role in _KERAS_DIRS:
        if tag in _KERAS_KEYS:
            return _KERAS_KEYS[tag]
        if tag.startswith("epoch_"):
            name = tag[len("epoch_") :]
            key = f"{_KERAS_DIRS[role]}_{name}"
            return {"train_acc": "train_accuracy", "val_acc": "val_accuracy"}.get(key, key)
        return f"{role}/{tag}"
    if tag in _TAG_KEYS:
        return _TAG_KEYS[tag]
    if _LR_MONITOR.fullmatch(tag):
        return "lr"
    if tag.startswith("eval/") and "/" not in tag[5:]:  # Hugging Face Trainer
        return "val_" + tag[5:]
    return tag


# --- CRC32C (Castagnoli), vectorised over records ------------------------------------------


def _crc_table() -> np.ndarray:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
        table.append(crc)
    return np.asarray(table, dtype=np.uint32)


_CRC_TABLE = _crc_table()
_CRC_LIST = _CRC_TABLE.tolist()
#: Data CRCs of records up to this length are checked in bulk (a scalar event is ~40 bytes).
_CHECKED_DATA = 512


def _masked_crc_rows(rows: np.ndarray) -> np.ndarray:
    """The masked CRC32C of each row of a 2-D uint8 array, one numpy step per column."""
    crc = np.full(rows.shape[0], 0xFFFFFFFF, dtype=np.uint32)
    for column in range(rows.shape[1]):
        crc = _CRC_TABLE[(crc ^ rows[:, column]) & 0xFF] ^ (crc >> 8)
    crc ^= np.uint32(0xFFFFFFFF)
    return ((crc >> 15) | (crc << 17)) + np.uint32(0xA282EAD8)


def masked_crc32c(data: bytes) -> int:
    """The masked CRC32C of one byte string (pure Python: for short or rare inputs)."""
    crc = 0xFFFFFFFF
    for byte in data:
        crc = _CRC_LIST[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    crc ^= 0xFFFFFFFF
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


# --- protobuf wire format, just what scalars need -------------------------------------------


class _Malformed(Exception):
    """Bytes that are not the protobuf message they should be."""


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(buf) or shift > 63:
            raise _Malformed
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, pos
        shift += 7


def _fields(buf: bytes) -> Iterable[tuple[int, int, int | bytes]]:
    """(field number, wire type, value) for each field: ints for varints and fixed
    numbers (raw bits), bytes for length-delimited fields."""
    pos, end = 0, len(buf)
    while pos < end:
        key, pos = _varint(buf, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(buf, pos)
        elif wire == 1:
            if pos + 8 > end:
                raise _Malformed
            value = int.from_bytes(buf[pos : pos + 8], "little")
            pos += 8
        elif wire == 2:
            size, pos = _varint(buf, pos)
            if pos + size > end:
                raise _Malformed
            value = buf[pos : pos + size]
            pos += size
        elif wire == 5:
            if pos + 4 > end:
                raise _Malformed
            value = int.from_bytes(buf[pos : pos + 4], "little")
            pos += 4
        else:  # groups (3, 4) and unknown wire types: not in these messages
            raise _Malformed
        yield number, wire, value


def _f32(bits: int) -> float:
    return struct.unpack("<f", bits.to_bytes(4, "little"))[0]


def _f64(bits: int) -> float:
    return struct.unpack("<d", bits.to_bytes(8, "little"))[0]


def _int64(raw: int) -> int:
    return raw - (1 << 64) if raw >= 1 << 63 else raw


_DT_FLOAT, _DT_DOUBLE, _DT_INT32, _DT_INT64 = 1, 2, 3, 9


def _tensor_scalar(buf: bytes) -> float | None:
    """The number in a rank-0 float/double/int tensor, or None (any other tensor)."""
    dtype = 0
    rank0 = True
    content = b""
    numbers: list[float] = []
    for number, wire, value in _fields(buf):
        if number == 1 and wire == 0:
            dtype = value
        elif number == 2 and wire == 2:  # TensorShapeProto: any dim means not a scalar
            rank0 = not any(n == 2 for n, _, _ in _fields(value))
        elif number == 4 and wire == 2:
            content = value
        elif number in (5, 6, 7, 10):
            numbers.extend(_tensor_values(number, wire, value))
    if not rank0:
        return None
    if dtype == _DT_FLOAT and (numbers or len(content) == 4):
        return numbers[0] if numbers else struct.unpack("<f", content)[0]
    if dtype == _DT_DOUBLE and (numbers or len(content) == 8):
        return numbers[0] if numbers else struct.unpack("<d", content)[0]
    if dtype == _DT_INT32 and (numbers or len(content) == 4):
        return numbers[0] if numbers else float(struct.unpack("<i", content)[0])
    if dtype == _DT_INT64 and (numbers or len(content) == 8):
        return numbers[0] if numbers else float(struct.unpack("<q", content)[0])
    return None


def _tensor_values(number: int, wire: int, value: int | bytes) -> list[float]:
    """float_val (5), double_val (6), int_val (7), int64_val (10): packed or not."""
    if isinstance(value, bytes):  # packed
        if number == 5:
            return list(struct.unpack(f"<{len(value) // 4}f", value[: len(value) // 4 * 4]))
        if number == 6:
            return list(struct.unpack(f"<{len(value) // 8}d", value[: len(value) // 8 * 8]))
        out, pos = [], 0
        while pos < len(value):
            raw, pos = _varint(value, pos)
            out.append(float(_int64(raw) if number == 10 else _int32(raw)))
        return out
    if number == 5 and wire == 5:
        return [_f32(value)]
    if number == 6 and wire == 1:
        return [_f64(value)]
    if wire == 0:
        return [float(_int64(value) if number == 10 else _int32(value))]
    return []


def _int32(raw: int) -> int:
    raw &= 0xFFFFFFFF
    return raw - (1 << 32) if raw >= 1 << 31 else raw


def _plugin_name(metadata: bytes) -> str:
    for number, wire, value in _fields(metadata):
        if number == 1 and wire == 2:  # plugin_data
            for inner, inner_wire, name in _fields(value):
                if inner == 1 and inner_wire == 2:
                    return name.decode("utf-8", "replace")
    return ""


@dataclass
class _Event:
    wall_time: float = 0.0
    step: int = 0
    values: list[tuple[str, float]] = field(default_factory=list)
    skipped: int = 0  # non-scalar values (histograms, images, ...)
    simple_at: int = -1  # offset of the only simple_value's 4 bytes, for the fast path


def _decode_event(buf: bytes) -> _Event:
    event = _Event()
    for number, wire, value in _fields(buf):
        if number == 1 and wire == 1:
            event.wall_time = _f64(value)
        elif number == 2 and wire == 0:
            event.step = _int64(value)
        elif number == 5 and wire == 2:
            _decode_summary(value, event)
    return event


def _decode_summary(buf: bytes, event: _Event) -> None:
    for number, wire, value in _fields(buf):
        if number != 1 or wire != 2:
            continue
        tag, scalar, plugin, simple = "", None, "", False
        tensor = None
        for inner, inner_wire, item in _fields(value):
            if inner == 1 and inner_wire == 2:
                tag = item.decode("utf-8", "replace")
            elif inner == 2 and inner_wire == 5:
                scalar, simple = _f32(item), True
            elif inner == 8 and inner_wire == 2:
                tensor = item
            elif inner == 9 and inner_wire == 2:
                plugin = _plugin_name(item)
        if scalar is None and tensor is not None and plugin in ("", "scalars"):
            scalar = _tensor_scalar(tensor)
        if scalar is None:
            event.skipped += 1
        else:
            event.values.append((tag, scalar))
            event.simple_at = -2 if len(event.values) > 1 or not simple else -1


# --- records ---------------------------------------------------------------------------------

_HEADER = struct.Struct("<QI")


_NO_INTS = np.empty(0, dtype=np.int64)
_NO_FLOATS = np.empty(0, dtype=np.float64)


@dataclass
class _Chunk:
    """Scalars of a stretch of one file, as columns, and where the last whole record ends."""

    names: list[str] = field(default_factory=list)  # the tags, in first-seen order
    tag_ids: np.ndarray = field(default_factory=lambda: _NO_INTS)  # index into names
    steps: np.ndarray = field(default_factory=lambda: _NO_INTS)
    times: np.ndarray = field(default_factory=lambda: _NO_FLOATS)
    values: np.ndarray = field(default_factory=lambda: _NO_FLOATS)
    end: int = 0  # offset after the last complete record read
    pending: int = 0  # bytes of a record cut short at the end
    corrupt_at: int = -1  # offset of a record whose length CRC is wrong: reading stops there
    bad_data: int = 0  # records skipped for a wrong data CRC
    undecodable: int = 0  # records with a valid CRC that are not an Event
    skipped: int = 0  # non-scalar values

    def rows(self) -> list[tuple[str, int, float, float]]:
        tags = [self.names[i] for i in self.tag_ids.tolist()]
        return list(zip(tags, self.steps.tolist(), self.times.tolist(), self.values.tolist()))


def _gather(raw: np.ndarray, offsets: np.ndarray, size: int) -> np.ndarray:
    """The `size` bytes at each offset, as the rows of a 2-D uint8 array (column by
    column: no index array `size` times as large as offsets)."""
    rows = np.empty((len(offsets), size), dtype=np.uint8)
    for column in range(size):
        rows[:, column] = raw[offsets + column]
    return rows


def _masked_crc_at(raw: np.ndarray, offsets: np.ndarray, size: int) -> np.ndarray:
    """The masked CRC32C of the `size` bytes at each offset."""
    crc = np.full(len(offsets), 0xFFFFFFFF, dtype=np.uint32)
    for column in range(size):
        crc = _CRC_TABLE[(crc ^ raw[offsets + column]) & 0xFF] ^ (crc >> 8)
    crc ^= np.uint32(0xFFFFFFFF)
    return ((crc >> 15) | (crc << 17)) + np.uint32(0xA282EAD8)


def _trusted(raw: np.ndarray, starts: np.ndarray, chunk: _Chunk) -> int:
    """How many of the records at starts come before the first wrong length CRC."""
    if not len(starts):
        return 0
    stored = _gather(raw, starts + 8, 4).view("<u4").ravel()
    bad = np.flatnonzero(_masked_crc_at(raw, starts, 8) != stored)
    if not len(bad):
        return len(starts)
    chunk.corrupt_at = int(starts[bad[0]])
    return int(bad[0])


def _bad_data(raw: np.ndarray, begins: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Data offsets of the records of up to _CHECKED_DATA bytes whose data CRC is wrong."""
    bad = []
    for length in np.unique(lengths[lengths <= _CHECKED_DATA]).tolist():
        group = begins[lengths == length]
        stored = _gather(raw, group + length, 4).view("<u4").ravel()
        bad.append(group[_masked_crc_at(raw, group, length) != stored])
    return np.concatenate(bad) if bad else _NO_INTS


class _Found:
    """What one pass over the records collected, before the checksums are checked."""

    def __init__(self) -> None:
        self.record_starts: list[int] = []
        self.names: list[str] = []
        self.ids: dict[str, int] = {}
        self.tag_ids: list[int] = []
        self.steps: list[int] = []
        self.where: list[int] = []  # fast path: the data offset; else -1 - slow index
        self.slow_times: list[float] = []
        self.slow_values: list[float] = []
        self.slow_begins: list[int] = []

    def id_of(self, tag: str) -> int:
        found = self.ids.get(tag)
        if found is None:
            found = self.ids[tag] = len(self.names)
            self.names.append(tag)
        return found


def scan(buf: bytes, start: int = 0) -> _Chunk:
    """Every scalar in the whole records of buf from offset start. Never raises.

    One pass decodes the records, with a fast path for the events PyTorch's
    add_scalar writes (only the step is decoded in Python; wall_time and value
    are gathered by numpy afterwards); then both CRCs are checked in bulk and
    the scalars of records that fail them are dropped.
    """
    chunk = _Chunk(end=start)
    found = _Found()
    pos = _walk(buf, start, chunk, found)
    size = len(buf)
    chunk.end = pos
    raw = np.frombuffer(buf, dtype=np.uint8)
    starts = np.asarray(found.record_starts, dtype=np.int64)
    trusted = _trusted(raw, starts, chunk)
    if chunk.corrupt_at >= 0:
        chunk.end = chunk.corrupt_at
        starts = starts[:trusted]
    elif pos < size:
        header = buf[pos : pos + 12]
        if len(header) == 12 and masked_crc32c(header[:8]) != _HEADER.unpack(header)[1]:
            chunk.corrupt_at = chunk.end = pos  # not a record cut short: a wrong length
        else:
            chunk.pending = size - pos
    if found.tag_ids:
        _columns(chunk, raw, starts, found)
    return chunk


def _walk(buf: bytes, pos: int, chunk: _Chunk, found: _Found) -> int:
    """Decode records from pos; returns the offset after the last whole record."""
    size = len(buf)
    record_starts, tag_ids, steps, where = (
        found.record_starts,
        found.tag_ids,
        found.steps,
        found.where,
    )
    fast: dict[bytes, int] = {}  # the bytes after the step -> tag, for one-scalar events
    unpack_length = struct.Struct("<Q").unpack_from
    while pos + 12 <= size:
        begin = pos + 12
        end = begin + unpack_length(buf, pos)[0]
        if end + 4 > size:
            break
        record_starts.append(pos)
        pos = end + 4
        # Fast path: wall_time (tag 0x09), step (0x10), then a summary seen before whose
        # only value is a simple_value in the last 4 bytes.
        if end - begin > 14 and buf[begin] == 0x09 and buf[begin + 9] == 0x10:
            at = begin + 10
            step = buf[at]
            if step < 0x80:
                at += 1
            elif buf[at + 1] < 0x80:
                step, at = (step & 0x7F) | buf[at + 1] << 7, at + 2
            elif buf[at + 2] < 0x80:
                step = (step & 0x7F) | (buf[at + 1] & 0x7F) << 7 | buf[at + 2] << 14
                at += 3
            else:
                try:
                    step, at = _varint(buf, at)
                except _Malformed:
                    at = end
            if at <= end - 4:
                tag = fast.get(buf[at : end - 4])
                if tag is not None:
                    tag_ids.append(tag)
                    steps.append(step if step < 1 << 63 else step - (1 << 64))
                    where.append(begin)
                    continue
        _slow(buf, begin, end, chunk, found, fast)
    return pos


def _slow(
    buf: bytes, begin: int, end: int, chunk: _Chunk, found: _Found, fast: dict[bytes, int]
) -> None:
    """Decode one record with the full decoder, and learn its shape for the fast path."""
    data = buf[begin:end]
    try:
        event = _decode_event(data)
    except _Malformed:
        chunk.undecodable += 1
        return
    if (
        len(data) > _CHECKED_DATA
        and event.values
        and masked_crc32c(data) != int.from_bytes(buf[end : end + 4], "little")
    ):
        chunk.bad_data += 1
        return
    chunk.skipped += event.skipped
    for tag, value in event.values:
        found.tag_ids.append(found.id_of(tag))
        found.steps.append(event.step)
        found.where.append(-1 - len(found.slow_times))
        found.slow_times.append(event.wall_time)
        found.slow_values.append(value)
        found.slow_begins.append(begin)
    if event.simple_at == -1 and len(event.values) == 1 and data[0] == 0x09:
        _learn(fast, data, event, found)


def _columns(chunk: _Chunk, raw: np.ndarray, starts: np.ndarray, found: _Found) -> None:
    """The chunk's columns: the fast path's numbers gathered, untrusted records dropped."""
    at = np.asarray(found.where, dtype=np.int64)
    is_fast = at >= 0
    slow = -1 - at[~is_fast]
    begins = at.copy()
    begins[~is_fast] = np.asarray(found.slow_begins, dtype=np.int64)[slow]
    record_begins = starts + 12
    lengths = _gather(raw, starts, 8).view("<u8").ravel().astype(np.int64)
    keep = begins <= (record_begins[-1] if len(starts) else -1)  # before a wrong length
    drop = _bad_data(raw, record_begins, lengths)
    if len(drop):
        chunk.bad_data += len(drop)
        keep &= ~np.isin(begins, drop)
    times = np.zeros(len(at), dtype=np.float64)
    values = np.zeros(len(at), dtype=np.float64)
    fast_index = np.flatnonzero(is_fast & keep)
    if len(fast_index):
        fast_at = at[fast_index]
        fast_lengths = lengths[np.searchsorted(record_begins, fast_at)]
        times[fast_index] = _gather(raw, fast_at + 1, 8).view("<f8").ravel()
        values[fast_index] = _gather(raw, fast_at + fast_lengths - 4, 4).view("<f4").ravel()
    if len(slow):
        times[~is_fast] = np.asarray(found.slow_times, dtype=np.float64)[slow]
        values[~is_fast] = np.asarray(found.slow_values, dtype=np.float64)[slow]
    all_kept = bool(keep.all())
    chunk.names = found.names
    chunk.tag_ids = np.asarray(found.tag_ids, dtype=np.int64)
    chunk.steps = np.asarray(found.steps, dtype=np.int64)
    chunk.times, chunk.values = times, values
    if not all_kept:
        chunk.tag_ids, chunk.steps = chunk.tag_ids[keep], chunk.steps[keep]
        chunk.times, chunk.values = times[keep], values[keep]


def _learn(fast: dict[bytes, int], data: bytes, event: _Event, found: _Found) -> None:
    """Remember this event's shape when its only value is a simple_value in the last 4 bytes."""
    if len(data) < 15 or data[9] != 0x10 or data[-5] != 0x15:
        return
    try:
        _, pos = _varint(data, 10)
    except _Malformed:
        return
    if pos > len(data) - 4 or struct.unpack("<f", data[-4:])[0] != event.values[0][1]:
        return  # NaN compares unequal: such an event simply takes the slow path
    if len(fast) < 10_000:
        fast[data[pos:-4]] = found.id_of(event.values[0][0])


def parse_events(data: bytes) -> tuple[list[tuple[str, int, float, float]], list[Problem]]:
    """Every scalar of an event file's bytes: [(tag, step, wall_time, value)], problems."""
    chunk = scan(data)
    problems = _chunk_problems(chunk, "the event file")
    if not data:
        problems.append(Problem(ProblemKind.EMPTY, "the event file is empty"))
    return chunk.rows(), problems


def _chunk_problems(chunk: _Chunk, name: str) -> list[Problem]:
    problems = []
    if chunk.corrupt_at == 0:
        problems.append(
            Problem(ProblemKind.NOT_OURS, f"{name} does not start with a TensorBoard record")
        )
    elif chunk.corrupt_at > 0:
        problems.append(
            Problem(
                ProblemKind.UNREADABLE,
                f"{name} is corrupt at byte {chunk.corrupt_at} (the record length's checksum "
                "is wrong); read the records before it",
            )
        )
    if chunk.pending:
        problems.append(
            Problem(
                ProblemKind.TRUNCATED,
                f"{name} ends in a record cut short ({chunk.pending} bytes; a write in "
                "progress?); read the records before it",
            )
        )
    if chunk.bad_data or chunk.undecodable:
        problems.append(
            Problem(
                ProblemKind.UNREADABLE,
                f"{name}: skipped {chunk.bad_data + chunk.undecodable} damaged records "
                "(wrong checksum or not an event)",
            )
        )
    return problems


# --- one file, read as it grows --------------------------------------------------------------


class EventFileTail:
    """One event file and its read offset: each read_new() returns only new scalars.

    A record cut short at the end is not an error: the offset stays before it
    and the next call retries. A file replaced (new inode) or shrunk is read
    again from the start (`reset` tells the caller to drop what it had).
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.offset = 0
        self.identity: tuple[int, int] | None = None
        self.reset = False
        self.problems: list[Problem] = []
        self.skipped = 0

    def read_new(self) -> list[tuple[str, int, float, float]]:
        return self.read_chunk().rows()

    def read_chunk(self) -> _Chunk:
        """The new scalars as columns (what read_event_dir uses)."""
        self.reset = False
        try:
            with open(self.path, "rb") as handle:
                stat = os.fstat(handle.fileno())
                identity = (stat.st_dev, stat.st_ino)
                if identity != self.identity or stat.st_size < self.offset:
                    self.reset = self.identity is not None
                    self.identity, self.offset, self.skipped = identity, 0, 0
                handle.seek(self.offset)
                data = handle.read()
        except OSError as error:
            self.problems = [
                Problem(ProblemKind.UNREADABLE, f"{self.path.name}: {error.strerror or error}")
            ]
            return _Chunk(end=self.offset)
        chunk = scan(data)
        self.offset += chunk.end
        self.skipped += chunk.skipped
        chunk.corrupt_at = (
            chunk.corrupt_at + self.offset - chunk.end if chunk.corrupt_at >= 0 else -1
        )
        self.problems = _chunk_problems(chunk, _safe(self.path.name))
        return chunk


# --- a directory of event files: one run -----------------------------------------------------

_STAMP = re.compile(r"events\.out\.tfevents\.(\d+)")


def event_files(directory: Path) -> list[tuple[str, Path]]:
    """(role, path) of the event files of a run directory, in reading order.

    Role is "" for files in the directory itself, "train"/"validation" for
    Keras' subdirectories. Order: by the timestamp in the name, then the name.
    """
    found: list[tuple[str, Path]] = []
    for role in ("", "train", "validation"):
        folder = directory / role if role else directory
        try:
            names = [entry.name for entry in os.scandir(folder) if entry.is_file()]
        except OSError:
            continue
        names = [name for name in names if name.startswith("events.out.tfevents.")]
        names.sort(key=lambda n: (int(m.group(1)) if (m := _STAMP.match(n)) else 0, n))
        found.extend((role, folder / name) for name in names)
    return found


class EventDirTail:
    """A run directory's event files, each tailed; read() re-reads only new bytes."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self.tails: dict[Path, tuple[str, EventFileTail]] = {}
        #: per file, per tag: lists of steps, times, values (in file order)
        self.columns: dict[Path, dict[str, tuple[list[int], list[float], list[float]]]] = {}

    def read(self) -> ParseResult:
        files = event_files(self.directory)
        problems: list[Problem] = []
        for role, path in files:
            if path not in self.tails:
                self.tails[path] = (role, EventFileTail(path))
            tail = self.tails[path][1]
            chunk = tail.read_chunk()
            if tail.reset or path not in self.columns:
                self.columns[path] = {}
            _add(self.columns[path], chunk)
            problems.extend(tail.problems)
        present = {path for _, path in files}
        for path in [p for p in self.tails if p not in present]:
            del self.tails[path]
            self.columns.pop(path, None)
        result = _build([(role, self.columns[path]) for role, path in files], problems)
        if not files:
            result.problems.append(
                Problem(ProblemKind.MISSING, f"no {PATTERN} files in {_safe(str(self.directory))}")
            )
        elif not any(tail.offset for _, tail in self.tails.values()) and not result.problems:
            result.problems.append(Problem(ProblemKind.EMPTY, "the event files are empty"))
        result.format = "tfevents"
        return result


def read_event_dir(directory: Path) -> ParseResult:
    """Every event file of a run directory (and Keras' train/, validation/) as one run."""
    return EventDirTail(directory).read()


def _add(columns: dict[str, tuple[list, list, list]], chunk: _Chunk) -> None:
    """Append a chunk's scalars to per-tag columns (lists of arrays), grouped in one pass."""
    if not len(chunk.tag_ids):
        return
    steps, times, values, ids = chunk.steps, chunk.times, chunk.values, chunk.tag_ids
    if len(chunk.names) == 1:
        groups = {chunk.names[0]: slice(None)}
    else:
        order = np.argsort(ids, kind="stable")
        bounds = np.searchsorted(ids[order], np.arange(len(chunk.names) + 1)).tolist()
        groups = {tag: order[bounds[i] : bounds[i + 1]] for i, tag in enumerate(chunk.names)}
    for tag, index in groups.items():
        if isinstance(index, np.ndarray) and not len(index):
            continue  # a tag whose every scalar was dropped
        column = columns.setdefault(tag, ([], [], []))
        column[0].append(steps[index])
        column[1].append(times[index])
        column[2].append(values[index])


def _build(
    files: list[tuple[str, dict[str, tuple[list, list, list]]]], problems: list[Problem]
) -> ParseResult:
    """Columns per (role, tag) across files in order -> a Table with canonical keys."""
    merged: dict[tuple[str, str], tuple[list, list, list]] = {}
    for role, columns in files:
        for tag, (steps, times, values) in columns.items():
            target = merged.setdefault((role, tag), ([], [], []))
            target[0].extend(steps)
            target[1].extend(times)
            target[2].extend(values)
    # Keras: per-epoch tags in train/ and validation/ make an epoch run; its per-batch and
    # `evaluation_*_vs_iterations` tags count optimiser steps, another axis: set aside.
    keras = any(role and tag.startswith("epoch_") for role, tag in merged)
    other_axis = [f"{r}/{t}" for r, t in merged if keras and not t.startswith("epoch_")]
    tags = {tag for role, tag in merged if not role}
    segment = "metrics/mAP50-95(M)" in tags
    series: dict[str, Series] = {}
    sources: dict[str, str] = {}
    epoch_axis: tuple[np.ndarray, np.ndarray] | None = None
    restarts: list[str] = []
    collisions: list[str] = []
    for (role, tag), (steps_l, times_l, values_l) in merged.items():
        steps, times, values = (np.concatenate(a) for a in (steps_l, times_l, values_l))
        keep = _latest(steps)
        if not keep.all():
            back = int(np.count_nonzero(steps[1:] < steps[:-1]))
            if back:
                restarts.append(f"{_safe(tag)} ×{back}")
            steps, times, values = steps[keep], times[keep], values[keep]
        original = f"{role}/{tag}" if role else tag
        if original in other_axis:
            continue
        if not role and tag == "hp_metric" and bool(np.all(values == -1)):
            continue  # Lightning's placeholder, logged once when no metric is named
        if not role and tag in _EPOCH_TAGS and epoch_axis is None:
            epoch_axis = (steps, values)
            continue
        key = _SEGMENT_KEYS.get(tag, "") if segment and not role else ""
        key = key or canonical_tag(tag, role)
        if key in series:
            collisions.append(f"{_safe(sources[key])} and {_safe(original)}")
            key = original
            if key in series:
                continue
        sources[key] = original
        series[key] = Series(key, steps, values, None, times)
    if epoch_axis is not None:
        series = {k: _with_epochs(s, *epoch_axis) for k, s in series.items()}
    if restarts:
        problems.append(
            Problem(
                ProblemKind.RESTART,
                "steps went back (a resumed or restarted run) in "
                + ", ".join(restarts[:3])
                + "; the later values replace the earlier ones",
            )
        )
    if collisions:
        problems.append(
            Problem(
                ProblemKind.NON_NUMERIC,
                "two tags mean the same metric ("
                + "; ".join(collisions[:3])
                + "): the second keeps its own name",
            )
        )
    table_steps = _union([s.steps for s in series.values()])
    per_epoch = keras or not _EPOCH_RUN_TAGS.isdisjoint(tags)
    table = Table(table_steps, series, EPOCH if per_epoch else STEP)
    meta = {"source_keys": {k: v for k, v in sources.items() if k != v}}
    extra = {"other_axis_tags": other_axis} if other_axis else {}
    return ParseResult(table=table, meta=meta, extra=extra, problems=problems)


def _latest(steps: np.ndarray) -> np.ndarray:
    """Points no later point replaces: a step that goes back (or repeats) wins over earlier
    points at or after it, as a resumed run's log does."""
    if len(steps) < 2 or bool(np.all(steps[1:] > steps[:-1])):
        return np.ones(len(steps), dtype=bool)
    later_min = np.minimum.accumulate(steps[::-1])[::-1]
    keep = np.ones(len(steps), dtype=bool)
    keep[:-1] = steps[:-1] < later_min[1:]
    return keep


def _union(arrays: list[np.ndarray]) -> np.ndarray:
    """Every step of ascending step arrays, once, ascending (a sort: np.unique hashes)."""
    if not arrays:
        return np.empty(0, dtype=np.int64)
    if len(arrays) == 1:
        return arrays[0]
    merged = np.sort(np.concatenate(arrays), kind="stable")
    return merged[np.append(True, merged[1:] != merged[:-1])]


def _with_epochs(series: Series, epoch_steps: np.ndarray, epochs: np.ndarray) -> Series:
    """The series with the epoch logged at (or last before) each of its steps."""
    where = np.searchsorted(epoch_steps, series.steps, side="right") - 1
    found = np.where(where >= 0, epochs[np.clip(where, 0, None)], np.nan)
    return Series(series.key, series.steps, series.values, found, series.times)


def _safe(text: str) -> str:
    return "'" + shorten_middle(printable(text), 40) + "'"


def sniff(head: bytes) -> bool:
    """An event file starts with a record whose length checksum holds (or is cut short)."""
    if len(head) < 12:
        return True
    length, crc = _HEADER.unpack_from(head, 0)
    return masked_crc32c(head[:8]) == crc and length < 1 << 40
