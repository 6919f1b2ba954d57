"""A CSV log's new rows read in Python alone: the fast path of an appended CSV log.

A write adds a row or a few to a logger's CSV; the CSV readers' parse (csv_numbers,
csv_table) reads a file in a few numpy calls, whose cost per call is most of what a
few rows cost. Here plain rows (see plain_rows) are read cell by cell with float(), the
function both of those parses read a number's text with: the same numbers, bit for bit.
Anything else is left to the parse (readers/appended_rows.py).
"""

from __future__ import annotations

from functools import lru_cache

from metricwatch.readers import csv_table

#: The bytes a plain number's text may hold (digits, sign, point, exponent).
_PLAIN = b"0123456789.+-eE"


@lru_cache(maxsize=32)
def header_names(header: bytes, filename: str) -> tuple[tuple[str, ...], bytes] | None:
    """The column names and the delimiter a parse finds in a header line (csv_table's
    reading of it); None for one the fast path leaves to the parse (not ASCII: a BOM;
    quotes). Cached: a log's header is the same at every write."""
    if not header.isascii() or b'"' in header:
        return None
    table = csv_table.read_table(header, filename)
    if not table.header:
        return None
    return tuple(table.header), table.delimiter.encode("ascii")


def key_columns(names: list[str], wanted: list[tuple[str, str]]) -> tuple[tuple[int, str], ...]:
    """(column index, key) of each column the parse keeps, named as the parse names them
    (csv_table.assign_keys of the reader's wanted columns): what a row's cells become."""
    keys, _, _ = csv_table.assign_keys(wanted)
    return tuple((names.index(column), key) for column, key in keys.items())


@lru_cache(maxsize=32)
def _first_name(header: bytes) -> tuple[bytes, bytes] | None:
    """The header's first name (when it is a name, not a number) and its line, stripped."""
    names = csv_table.read_table(header, "").header
    first = names[0] if names else ""
    if not first or csv_table.number_of(first) is not None:
        return None
    return first.encode("utf-8"), header.lstrip(b"\xef\xbb\xbf").strip()


def header_again(header: bytes, data: bytes) -> bool:
    """Whether data (lines after the header) may hold a line csv_table takes for a header
    with other names: one that begins, past padding or a quote, with the header's first
    name and is not the header line. The parse places the rows after such a line by its
    names, which a parse of the header and the last lines cannot: such a log is read
    whole. (A plain row holds no letter: its first name is found only in a line of text.)"""
    found = _first_name(header)
    if found is None:
        return False
    first, line = found
    at = data.find(first)
    while at >= 0:
        start = data.rfind(b"\n", 0, at) + 1
        if not data[start:at].strip(b' \t\r\x0b\x0c"'):
            end = data.find(b"\n", at)
            if data[start : len(data) if end < 0 else end].strip() != line:
                return True
        at = data.find(first, at + 1)
    return False


def plain_rows(
    complete: bytes, delimiter: bytes, width: int, missing: tuple[bytes, ...] = (b"",)
) -> list[list[float | None]] | None:
    """The rows of whole new lines, each its cells' numbers (None: a cell spelled as one of
    `missing`, absent), when every line is a row of `width` cells each of which is a plain
    number (digits, sign, point, exponent) or absent, ended by LF, CRLF or CRCRLF (the
    parse takes the CRs off as csv_table.split_lines does). None for anything else: a
    blank or ragged line, padding, quotes, `nan`, text (the parse reads those, with the
    problems it tells)."""
    if complete.translate(None, _PLAIN + delimiter + b"\r\n" + b"".join(missing)):
        return None
    rows: list[list[float | None]] = []
    try:
        for line in complete.split(b"\n")[:-1]:
            cells = line.rstrip(b"\r").split(delimiter)
            if len(cells) != width or not line.strip(b"\r"):
                return None
            rows.append([None if cell in missing else float(cell) for cell in cells])
    except ValueError:  # `1-2`, `e`, a lone sign: no number
        return None
    return rows


def whole(value: float | None, limit: int = 10**12) -> int | None:
    """A cell's usable x position (csv_table.whole_numbers: whole, 0..limit), or None."""
    if value is None or not 0 <= value <= limit or value != int(value):
        return None
    return int(value)
