"""CRC32C (Castagnoli), the checksum of TensorBoard's record framing, vectorised with numpy.

A record's length and its data each carry a masked CRC32C. A pure-Python CRC32C
costs about 0.3 s a megabyte, so the checks run over many records at once: a CRC
advanced 4 bytes a step by two 2^16-entry tables (`_crc_run`), every length below
2^16 looked up (`_LENGTH_CRC`), and the zero-byte shifts (`_zero_shift`) that let
the checks of a tag's scalars skip the bytes they share (tfevents_framing._bulk_bad).
masked_crc32c is the one-string form, for short or rare inputs (a live run's few
records), 4 bytes a step; masked_length_crc looks a header's up.
"""

from __future__ import annotations

import sys

import numpy as np

from metricwatch.readers.tfevents_bulk import unaligned


def _crc_table() -> np.ndarray:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
        table.append(crc)
    return np.asarray(table, dtype=np.uint32)


def _word_tables(table: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Two tables of 2^16 entries that advance a CRC by 4 bytes in two look-ups (slicing
    by 4, its byte tables paired): a quarter of the numpy passes of a byte at a time."""
    sliced = [table]
    for _ in range(3):
        sliced.append((sliced[-1] >> 8) ^ table[sliced[-1] & 0xFF])
    pair = np.arange(1 << 16, dtype=np.uint32)
    low = sliced[3][pair & 0xFF] ^ sliced[2][pair >> 8]
    high = sliced[1][pair & 0xFF] ^ sliced[0][pair >> 8]
    return low, high


_CRC_TABLE = _crc_table()
_CRC_LIST = _CRC_TABLE.tolist()
_CRC_LOW, _CRC_HIGH = _word_tables(_CRC_TABLE)


def _byte_tables(table: list[int]) -> list[list[int]]:
    """Slicing by 4's byte tables: table k advances a byte's part of the CRC by k + 1
    bytes (a byte, then three zero bytes)."""
    sliced = [table]
    for _ in range(3):
        sliced.append([(crc >> 8) ^ table[crc & 0xFF] for crc in sliced[-1]])
    return sliced


#: Whole 32-bit words of a string are read as native ints: little-endian ones only.
_WORDS = sys.byteorder == "little"
_BY_4 = _byte_tables(_CRC_LIST)


def masked_crc32c(data: bytes) -> int:
    """The masked CRC32C of one byte string (pure Python: for short or rare inputs, such
    as a live run's few records), 4 bytes a step (slicing by 4), a third faster than a
    byte at a time."""
    crc = 0xFFFFFFFF
    whole = len(data) & ~3 if _WORDS else 0
    if whole:
        t0, t1, t2, t3 = _BY_4
        for word in memoryview(data)[:whole].cast("I"):
            crc ^= word
            crc = t3[crc & 0xFF] ^ t2[(crc >> 8) & 0xFF] ^ t1[(crc >> 16) & 0xFF] ^ t0[crc >> 24]
    for byte in data[whole:]:
        crc = _CRC_LIST[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    crc ^= 0xFFFFFFFF
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def masked_length_crc(header: bytes, length: int) -> int:
    """masked_crc32c of a record header's 8 length bytes (`length`, as read from them):
    looked up for the lengths below 2^16."""
    return int(_LENGTH_CRC[length]) if length < len(_LENGTH_CRC) else masked_crc32c(header)


def _masked_crc_at(
    raw: np.ndarray, offsets: np.ndarray, size: int, words: np.ndarray | None = None
) -> np.ndarray:
    """The masked CRC32C of the `size` bytes at each offset (words: raw's uint32 at every
    byte offset, when the caller has them)."""
    words = unaligned(raw, "<u4") if words is None else words
    start = np.full(len(offsets), 0xFFFFFFFF, dtype=np.uint32)
    return _masked(_crc_run(raw, words, offsets, size, start))


def _crc_run(
    raw: np.ndarray, words: np.ndarray, offsets: np.ndarray, size: int, crc: np.ndarray
) -> np.ndarray:
    """The CRC32C states after the `size` bytes at each offset, from states `crc`."""
    column = 0
    while column + 4 <= size:
        crc = crc ^ words[offsets + column]
        crc = _CRC_LOW[crc & 0xFFFF] ^ _CRC_HIGH[crc >> 16]
        column += 4
    for tail in range(column, size):
        crc = _CRC_TABLE[(crc ^ raw[offsets + tail]) & 0xFF] ^ (crc >> 8)
    return crc


def _masked(crc: np.ndarray) -> np.ndarray:
    crc = crc ^ np.uint32(0xFFFFFFFF)
    return ((crc >> 15) | (crc << 17)) + np.uint32(0xA282EAD8)


def _length_crcs() -> np.ndarray:
    """The masked CRC of every length below 2^16 as the 8 bytes of a record's header."""
    raw = np.arange(1 << 16, dtype="<u8").view(np.uint8)
    return _masked_crc_at(raw, np.arange(0, len(raw), 8), 8)


_LENGTH_CRC = _length_crcs()
_ZERO_SHIFTS: dict[int, np.ndarray] = {}


def _zero_shift(count: int) -> np.ndarray:
    """Four byte tables of the (linear) map from a CRC state to the state after `count`
    zero bytes, one per byte of the state."""
    found = _ZERO_SHIFTS.get(count)
    if found is None:
        state = np.arange(256, dtype=np.uint32) << np.asarray([[0], [8], [16], [24]], np.uint32)
        for _ in range(count):
            state = _CRC_TABLE[state & 0xFF] ^ (state >> 8)
        found = _ZERO_SHIFTS[count] = state
    return found


def _crc_from_zero(data: bytes) -> int:
    """The CRC32C state after data from state 0 (its part of any state after it)."""
    crc = 0
    for byte in data:
        crc = _CRC_LIST[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc
