"""A CSV log of plain numbers read in bulk: no csv row, no cell found in Python.

A logger's CSV (Lightning's CSVLogger above all) is a header and rows of numbers with
empty cells between them: of a million-point Lightning log's six million cells, four
million are empty. csv_table cuts the text into a string a cell and reads each number
with float(); here the cells are found in the bytes with numpy, the empty ones
dropped there, and the others' text read in one call: decimals.from_separated (orjson),
or, for a number JSON does not spell so, np.fromstring, which converts each number
with PyOS_string_to_double, the function float() calls: the same numbers, bit for bit.

Only text of that shape is read here; read_numeric_table answers None for anything else
(not ASCII, quotes, padding or any whitespace but the line ends, a blank line, a last line
without its end, a row of another width, a cell that is not a decimal number or holds
anything but digits, `.`, `+`, `-`, `e`, `E`: `nan`, `inf`, a repeated header, a date),
and csv_table reads it as before, with the problems it tells.
"""

from __future__ import annotations

import warnings

import numpy as np

from metricwatch.readers import decimals
from metricwatch.readers.csv_table import Column, CsvTable, detect_delimiter, unique_names

#: The bytes a number's text may hold here (digits, sign, point, exponent).
_NUMERIC = b"0123456789.+-eE"
#: A longer text is read this much at a time (see _pieces).
PIECE_BYTES = 2**21


def read_numeric_table(data: bytes, text_columns: tuple[str, ...] = ()) -> CsvTable | None:
    """The table csv_table.read_table makes of data, when data is a header and whole rows
    of numbers and empty cells (see the module), with its columns' numbers already read
    (CsvTable.numbers; it keeps no cells, so a header naming one of text_columns, whose
    cells the caller wants as text, is read by csv_table). None for any other text."""
    if not data.endswith(b"\n") or not data.isascii() or b"\n\n" in data:
        return None
    end = data.find(b"\n")
    header_line = data[:end].decode("ascii")
    if not header_line.strip() or '"' in header_line:
        return None
    delimiter = detect_delimiter(header_line)
    header = unique_names([name.strip() for name in header_line.split(delimiter)])
    body = data[end + 1 :]
    separators = delimiter.encode() + b"\n"
    if not body or body.translate(None, _NUMERIC + separators):
        return None  # a byte that is in no number (a quote, a space, a letter)
    if any(name in header for name in text_columns):
        return None
    width, spaces = len(header), bytes.maketrans(separators, b"  ")
    rows, cells, values = 0, [], []
    for piece in _pieces(body):
        read = _read_rows(piece, spaces, width)
        if read is None:
            return None
        cells.append(read[1] + rows * width)
        values.append(read[2])
        rows += read[0]
    all_cells, all_values = np.concatenate(cells), np.concatenate(values)
    columns = all_cells % width
    numbers = {}
    for index, name in enumerate(header):
        mine = columns == index
        rows_of = (all_cells[mine] // width).astype(np.int64, copy=False)
        numbers[name] = Column(name, rows_of, all_values[mine])
    return CsvTable(header=header, nrows=rows, delimiter=delimiter, numbers=numbers)


def _pieces(body: bytes) -> list[bytes]:
    """body (whole lines) cut at line ends into pieces of about PIECE_BYTES: a whole file's
    temporaries (an index a cell, 8 bytes each) would be ten times its size."""
    pieces, start = [], 0
    while len(body) - start > PIECE_BYTES:
        cut = body.find(b"\n", start + PIECE_BYTES) + 1
        if not cut:
            break
        pieces.append(body[start:cut])
        start = cut
    pieces.append(body[start:] if start else body)
    return pieces


def _read_rows(body: bytes, spaces: bytes, width: int) -> tuple[int, np.ndarray, np.ndarray] | None:
    """Whole rows of `width` cells: their number, the positions (row * width + column) of
    the cells that are not empty, and those cells' numbers; None if they are not that."""
    # every cell's end a space: np.fromstring(sep=" ") takes any run of spaces as one
    # separator, so the empty cells vanish from the numbers
    spaced = body.translate(spaces)
    ends = np.flatnonzero(np.frombuffer(spaced, dtype=np.uint8) == 32)
    rows, rest = divmod(len(ends), width)
    if rest or body.count(b"\n") != rows:
        return None
    line_ends = np.frombuffer(body, dtype=np.uint8)[ends[width - 1 :: width]]
    if not bool(np.all(line_ends == 10)):
        return None  # a row of another width
    cells = np.flatnonzero(np.diff(ends, prepend=-1) > 1)
    if not len(cells):  # no number at all (np.fromstring reads nothing as an error)
        return rows, cells, np.empty(0)
    values = _numbers(spaced)
    if values is None or len(values) != len(cells):
        return None  # a cell that is no number, or is read as two (`1-2`)
    return rows, cells, values


def _numbers(spaced: bytes) -> np.ndarray | None:
    """The numbers of a text of numbers and spaces, or None at one that is no number."""
    plain = decimals.from_separated(spaced)
    if plain is not None:
        return plain
    try:
        with warnings.catch_warnings():
            # numpy 1.x warns (2.x raises) where a cell is no number; stop there either way
            warnings.simplefilter("error", DeprecationWarning)
            return np.fromstring(spaced, sep=" ")
    except (ValueError, DeprecationWarning):
        return None
