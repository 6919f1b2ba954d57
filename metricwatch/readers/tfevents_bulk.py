"""The scalars PyTorch's add_scalar writes, decoded in bulk with numpy, a piece at a time.

Nearly every record of a long run is one shape: Event{wall_time, step, summary{value{tag,
simple_value}}}, every length one byte:
    09 wall_time(8) 10 step(varint) 2a L1 0a L2 0a L3 tag(L3) 15 value(4)
numpy finds and decodes those across a piece of a file at once: each one gives what
tfevents_proto.decode_event gives for it (one value, nothing skipped); any other record
is left to it (tfevents_scanner). Also here: the numpy views of a piece's bytes the
framing and checksums gather from (`unaligned`), and the int16 sort keys (`narrow`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

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
    with np.errstate(invalid="ignore"):  # a signalling NaN is quietened, not warned about
        values = values.astype(np.float64)
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
        values=values,
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
