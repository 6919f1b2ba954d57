"""Decimal numbers in text to float64 by orjson's parser: the numbers float() reads, faster.

Most of a big log's first read is turning decimal text into floats: a million-point
run holds one to two million numbers, and float() (Python's correctly rounded strtod,
which numpy's string parsing calls too) spends about 260 ns on each 16-17-digit number
a Python logger writes. orjson reads a JSON array of them, also correctly rounded, and
the whole way here (join, check, parse, into numpy) takes about half as long. Short
numbers (`0.101228`) float() reads about as fast (benchmarks/bench_decimals.py).

Only text that is plainly numbers goes to orjson: nothing but digits, `.`, `e`, `E`,
`+`, `-`, JSON whitespace and the commas put between the items. Then what orjson
accepts is one JSON number per item, and for each JSON number orjson and float() give
the same float64 (tests/test_decimals.py holds them to it over doubles' shortest and
longest spellings and random long decimals), but for the integer `-0`, which orjson
reads as the int 0 and float() as -0.0: each zero is read again with float(). Every
other text is refused with None, and the caller reads it as before: NaN and Infinity
tokens, `1e400` (float() says inf, orjson refuses), `.5`, `+1`, `1_000`, padding JSON
does not allow, anything that is not a number.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np
import orjson

#: The bytes an item list may hold: the numbers' characters, JSON whitespace, commas.
_NUMBER_BYTES = b"0123456789.eE+-, \t\r\n"
#: Items, and bytes of separated text, read per orjson call: its list of Python numbers
#: (and the words split from a text) cost 40-80 bytes a number for as long as the call,
#: 2-3 MB a piece, where a million numbers at once would cost 50-80 MB.
PIECE_ITEMS = 2**15
PIECE_BYTES = 2**18
_WHITESPACE = re.compile(rb"\s")


def from_strings(items: Sequence[str]) -> np.ndarray | None:
    """float() of each item (one number, JSON whitespace around it allowed), or None if
    one is not a JSON number orjson reads as float() does."""
    pieces = []
    for start in range(0, len(items), PIECE_ITEMS):
        piece = items[start : start + PIECE_ITEMS]
        joined = ",".join(piece)
        numbers = _parse(joined.encode("ascii"), piece) if joined.isascii() else None
        if numbers is None:
            return None
        pieces.append(numbers)
    return _joined(pieces)


def from_separated(text: bytes) -> np.ndarray | None:
    """float() of each whitespace-separated word of text, or None as from_strings (a comma
    in text is refused: an item would not be one word)."""
    if b"," in text:
        return None
    pieces, start = [], 0
    while start < len(text):
        found = _WHITESPACE.search(text, start + PIECE_BYTES)
        end = len(text) if found is None else found.start()
        words = text[start:end].split()
        numbers = _parse(b",".join(words), words)
        if numbers is None:
            return None
        pieces.append(numbers)
        start = end
    return _joined(pieces)


def _joined(pieces: list[np.ndarray]) -> np.ndarray:
    if len(pieces) == 1:
        return pieces[0]
    return np.concatenate(pieces) if pieces else np.empty(0)


def _parse(joined: bytes, items: Sequence[str | bytes]) -> np.ndarray | None:
    if joined.translate(None, _NUMBER_BYTES):
        return None  # a letter, bracket, quote...: not plainly numbers
    try:
        values = orjson.loads(b"[" + joined + b"]")
    except orjson.JSONDecodeError:  # an item that is no JSON number, or out of range
        return None
    if len(values) != len(items):  # an item holding a comma, or none at all
        return None
    # ints (orjson's for integer text up to 2**64) become the nearest float64, as float()
    numbers = np.fromiter(values, np.float64, len(values))
    for index in np.flatnonzero(numbers == 0).tolist():
        numbers[index] = float(items[index])  # `-0`: float()'s -0.0, orjson's int 0
    return numbers
