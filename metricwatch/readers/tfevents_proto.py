"""The protobuf wire format of TensorBoard's Event, decoded by hand for scalars only.

    Event       {1 wall_time double, 2 step int64, 3 file_version string, 5 summary Summary}
    Summary     {1 value repeated Value}
    Value       {1 tag string, 2 simple_value float, 8 tensor TensorProto, 9 metadata}
    TensorProto {1 dtype, 2 tensor_shape, 4 tensor_content, 5 float_val, 6 double_val,
                 7 int_val, 10 int64_val}
Scalars come as `simple_value` (PyTorch SummaryWriter, tensorboardX, TF1) or as
rank-0 float, double or integer tensors of the `scalars` plugin (TF2's
tf.summary.scalar, so Keras). Every other value (histograms, images, audio,
text, hparams, tensors of other plugins or ranks) is counted and skipped.
No protobuf library: the few fields are a page of code, and tensorboard's
~180 MB are not needed to read scalars.

One kind of text is read, apart from the scalars (decode_args): the JSON object
of a run's arguments that Hugging Face's TensorBoardCallback writes once at the
start, `add_text("args", args.to_json_string())` (tag `args/text_summary`; TF2's
tf.summary.text keeps the plain tag `args`). It is a `text` plugin value whose
tensor is DT_STRING (TensorProto field 1 = 7) with the text in string_val (field 8).

This is the decoder of one record at a time; the one shape of record PyTorch's
add_scalar writes, nearly all of a long run, is decoded in bulk by tfevents_bulk.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any


class Malformed(Exception):
    """Bytes that are not the protobuf message they should be."""


def varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(buf) or shift > 63:
            raise Malformed
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
        key, pos = varint(buf, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = varint(buf, pos)
        elif wire == 1:
            if pos + 8 > end:
                raise Malformed
            value = int.from_bytes(buf[pos : pos + 8], "little")
            pos += 8
        elif wire == 2:
            size, pos = varint(buf, pos)
            if pos + size > end:
                raise Malformed
            value = buf[pos : pos + size]
            pos += size
        elif wire == 5:
            if pos + 4 > end:
                raise Malformed
            value = int.from_bytes(buf[pos : pos + 4], "little")
            pos += 4
        else:  # groups (3, 4) and unknown wire types: not in these messages
            raise Malformed
        yield number, wire, value


def _f32(bits: int) -> float:
    return struct.unpack("<f", bits.to_bytes(4, "little"))[0]


def _f64(bits: int) -> float:
    return struct.unpack("<d", bits.to_bytes(8, "little"))[0]


def int64(raw: int) -> int:
    """A varint's int64: its low 64 bits (a tenth byte may carry more), signed."""
    raw &= (1 << 64) - 1
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
            raw, pos = varint(value, pos)
            out.append(float(int64(raw) if number == 10 else _int32(raw)))
        return out
    if number == 5 and wire == 5:
        return [_f32(value)]
    if number == 6 and wire == 1:
        return [_f64(value)]
    if wire == 0:
        return [float(int64(value) if number == 10 else _int32(value))]
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
class ScalarEvent:
    wall_time: float = 0.0
    step: int = 0
    values: list[tuple[str, float]] = field(default_factory=list)
    skipped: int = 0  # non-scalar values (histograms, images, ...)
    simple_at: int = -1  # offset of the only simple_value's 4 bytes, for the fast path


def decode_event(buf: bytes) -> ScalarEvent:
    event = ScalarEvent()
    for number, wire, value in _fields(buf):
        if number == 1 and wire == 1:
            event.wall_time = _f64(value)
        elif number == 2 and wire == 0:
            event.step = int64(value)
        elif number == 5 and wire == 2:
            _decode_summary(value, event)
    return event


def _decode_summary(buf: bytes, event: ScalarEvent) -> None:
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


# --- the run's arguments, written as text ---------------------------------------------------

#: Tags whose text is the JSON object of the run's arguments (HF TrainingArguments).
ARGS_TAGS = frozenset({"args/text_summary", "args"})
#: Text longer than this is not a config (TrainingArguments are ~4 KB): not decoded.
MAX_TEXT_BYTES = 1 << 20
_DT_STRING = 7


def decode_args(buf: bytes) -> dict[str, Any] | None:
    """The JSON object an Event's `args` text holds, or None: no such text, text that is
    not a JSON object, too long, or bytes that are not an Event. Never raises, so one odd
    record costs only the config, never the run's scalars."""
    try:
        for number, wire, value in _fields(buf):
            if number == 5 and wire == 2:
                found = _summary_args(value)
                if found is not None:
                    return found
    except Malformed:
        return None
    return None


def _summary_args(buf: bytes) -> dict[str, Any] | None:
    for number, wire, value in _fields(buf):
        if number != 1 or wire != 2:
            continue
        tag, tensor, plugin = "", b"", ""
        for inner, inner_wire, item in _fields(value):
            if inner == 1 and inner_wire == 2:
                tag = item.decode("utf-8", "replace")
            elif inner == 8 and inner_wire == 2:
                tensor = item
            elif inner == 9 and inner_wire == 2:
                plugin = _plugin_name(item)
        if tag in ARGS_TAGS and plugin == "text":
            text = tensor_text(tensor)
            if text is not None:
                return json_object(text)
    return None


def tensor_text(buf: bytes) -> str | None:
    """The first string of a DT_STRING tensor (a text summary holds one), as UTF-8 with
    bad bytes replaced; None for another dtype, no string or one over MAX_TEXT_BYTES."""
    dtype, text = 0, None
    for number, wire, value in _fields(buf):
        if number == 1 and wire == 0:
            dtype = value
        elif number == 8 and wire == 2 and text is None:
            text = value
    if dtype != _DT_STRING or text is None or len(text) > MAX_TEXT_BYTES:
        return None
    return text.decode("utf-8", "replace")


def json_object(text: str) -> dict[str, Any] | None:
    """The JSON object the text is, or None (not JSON, not an object, nested too deep)."""
    if len(text) > MAX_TEXT_BYTES:
        return None
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None
