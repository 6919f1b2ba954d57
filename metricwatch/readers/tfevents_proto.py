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
"""

from __future__ import annotations

import json
import struct
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np


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


# --- the scalars PyTorch's add_scalar writes, decoded in bulk -------------------------------
#
# Nearly every record of a long run is one shape: Event{wall_time, step, summary{value{tag,
# simple_value}}}, every length one byte:
#     09 wall_time(8) 10 step(varint) 2a L1 0a L2 0a L3 tag(L3) 15 value(4)
# numpy finds and decodes those across a piece of a file at once: each one gives what
# decode_event gives for it (one value, nothing skipped); any other record is left to it.

#: The longest tag of that shape (L1 = tag + 9 must fit in one byte of varint).
_LONGEST_TAG = 118
#: Steps of up to 9 varint bytes (below 2^63: no sign to fix).
_STEP_BYTES = 9
_HASH = np.uint64(0x9E3779B97F4A7C15)
_LOW_BYTES = np.asarray([(1 << (8 * n)) - 1 for n in range(8)] + [(1 << 64) - 1], np.uint64)


def narrow(keys: np.ndarray) -> np.ndarray:
    """Small non-negative keys as int16, which numpy's stable argsort sorts by radix (ten
    times as fast as int64 for a piece's records)."""
    if len(keys) and int(keys.min()) >= 0 and int(keys.max()) < 1 << 15:
        return keys.astype(np.int16)
    return keys


def unaligned(raw: np.ndarray, dtype: str) -> np.ndarray:
    """raw's numbers of `dtype` at every byte offset: a view (gathers read it in place)."""
    size = np.dtype(dtype).itemsize
    return np.ndarray((max(len(raw) - size + 1, 0),), dtype=dtype, buffer=raw, strides=(1,))


@dataclass
class BulkScalars:
    """The records of a piece that bulk_scalars decoded, and their tags."""

    mask: np.ndarray  # per record of the piece: decoded here
    records: np.ndarray  # the indexes of those records, ascending
    groups: np.ndarray  # per decoded record: its tag's group
    tags: list[str]  # per group: the tag, as decode_event decodes it
    tag_bytes: list[bytes]
    first: np.ndarray  # per group: the index of its first record
    learn: np.ndarray  # per group: the index of its first record not NaN, or -1
    steps: np.ndarray
    times: np.ndarray
    values: np.ndarray
    at: np.ndarray  # per decoded record: its data's offset
    size: np.ndarray  # its data's length
    prefix: np.ndarray  # the length of its wall_time and step fields (10 + step bytes)

    def suffix(self, group: int) -> bytes:
        """The bytes of the group's records between the step and the value: what the
        one-by-one decoder learns as the shape of a fast-path event."""
        tag = self.tag_bytes[group]
        size = len(tag)
        return bytes([0x2A, size + 9, 0x0A, size + 7, 0x0A, size]) + tag + b"\x15"

    def tag_ids(self, ids: dict[int, int]) -> np.ndarray:
        """Per decoded record, the id of its tag (ids: group -> tag id)."""
        lookup = np.asarray([ids[g] for g in range(len(self.tags))], dtype=np.int64)
        return lookup[self.groups] if len(self.groups) else np.empty(0, dtype=np.int64)


def bulk_scalars(raw: np.ndarray, begins: np.ndarray, lengths: np.ndarray) -> BulkScalars:
    """Decode every record of that one shape among the records at begins (their data's
    offsets in raw; each is whole, with its data CRC after it)."""
    index = np.flatnonzero((lengths >= 21) & (lengths <= 30 + _LONGEST_TAG))
    at = begins[index]
    keep = (raw[at] == 0x09) & (raw[at + 9] == 0x10)
    index, at = index[keep], at[keep]
    size = lengths[index]
    steps, step_bytes, keep = _varints(raw, at + 10)
    tag_size = size - 21 - step_bytes
    keep &= (tag_size >= 0) & (tag_size <= _LONGEST_TAG)
    index, at, size, steps, tag_size = (a[keep] for a in (index, at, size, steps, tag_size))
    key = at + 10 + step_bytes[keep]
    keep = (raw[key] == 0x2A) & (raw[key + 1] == tag_size + 9) & (raw[key + 2] == 0x0A)
    keep &= (raw[key + 3] == tag_size + 7) & (raw[key + 4] == 0x0A) & (raw[key + 5] == tag_size)
    keep &= raw[at + size - 5] == 0x15
    index, at, size, steps, tag_size, key = (
        a[keep] for a in (index, at, size, steps, tag_size, key)
    )
    groups, firsts, keep = _tag_groups(raw, key + 6, tag_size)
    first = index[firsts]
    prefix = key - at
    index, at, size, steps, groups, prefix = (
        a[keep] for a in (index, at, size, steps, groups, prefix)
    )
    values = unaligned(raw, "<f4")[at + size - 4]
    number = ~np.isnan(values)
    learn = first if number.all() else _first_of_groups(groups, index, len(first), number)
    starts = (key + 6)[firsts]
    tag_bytes = [bytes(raw[s : s + n]) for s, n in zip(starts.tolist(), tag_size[firsts].tolist())]
    mask = np.zeros(len(begins), dtype=bool)
    mask[index] = True
    return BulkScalars(
        mask=mask,
        records=index.astype(np.int64, copy=False),
        groups=groups,
        tags=[tag.decode("utf-8", "replace") for tag in tag_bytes],
        tag_bytes=tag_bytes,
        first=first,
        learn=learn,
        steps=steps.astype(np.int64),
        times=unaligned(raw, "<f8")[at + 1],
        values=values.astype(np.float64),
        at=at,
        size=size,
        prefix=prefix,
    )


def _varints(raw: np.ndarray, at: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(value, bytes, whether it ends within _STEP_BYTES) of the varint at each offset."""
    byte = raw[at].astype(np.uint64)
    values = byte & np.uint64(0x7F)
    sizes = np.ones(len(at), dtype=np.int64)
    more = np.flatnonzero(byte >= 0x80)
    for shift in range(1, _STEP_BYTES):
        if not len(more):
            break
        byte = raw[at[more] + shift].astype(np.uint64)
        values[more] |= (byte & np.uint64(0x7F)) << np.uint64(7 * shift)
        sizes[more] += 1
        more = more[byte >= 0x80]
    ends = np.ones(len(at), dtype=bool)
    ends[more] = False
    return values, sizes, ends


def _tag_groups(
    raw: np.ndarray, starts: np.ndarray, sizes: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(group per tag, the first of each group, whether its bytes are its group's first's):
    tags hashed 8 bytes at a time, grouped by hash, then compared byte for byte with their
    group's first (a record whose tag only shares a hash is left to the full decoder)."""
    words = unaligned(raw, "<u8")
    last = len(words) - 1
    hashed = sizes.astype(np.uint64) * _HASH
    parts = []
    for column in range(0, int(sizes.max(initial=0)), 8):
        mask = _LOW_BYTES[np.clip(sizes - column, 0, 8)]
        part = words[np.minimum(starts + column, last)] & mask
        parts.append(part)
        hashed = (hashed ^ part) * _HASH
        hashed ^= hashed >> np.uint64(29)
    groups, firsts = _grouped(hashed)
    leader = firsts[groups] if len(groups) else groups
    same = sizes == sizes[leader]
    for part in parts:
        same &= part == part[leader]
    return groups, firsts, same


def _grouped(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(group of each key, the index of each group's first key): equal keys, one group.
    The few keys of a run (its tags) are split off one at a time (a pass each, no sort)."""
    groups = np.full(len(keys), -1, dtype=np.int64)
    firsts: list[int] = []
    rest = np.arange(len(keys))
    while len(rest) and len(firsts) < 32:
        same = keys[rest] == keys[rest[0]]
        groups[rest[same]] = len(firsts)
        firsts.append(int(rest[0]))
        rest = rest[~same]
    if len(rest):
        _, first, inverse = np.unique(keys[rest], return_index=True, return_inverse=True)
        groups[rest] = len(firsts) + inverse.ravel()
        firsts.extend(rest[first].tolist())
    return groups, np.asarray(firsts, dtype=np.int64)


def _first_of_groups(
    groups: np.ndarray, index: np.ndarray, count: int, where: np.ndarray
) -> np.ndarray:
    """Per group, the index of its first record of those `where` holds, or -1."""
    found = np.full(count, -1, dtype=np.int64)
    rows = np.flatnonzero(where)
    present, first = np.unique(groups[rows], return_index=True)
    found[present] = index[rows[first]]
    return found
