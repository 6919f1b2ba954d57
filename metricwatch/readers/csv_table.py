"""The CSV part shared by the CSV readers (Lightning, Keras, Ultralytics).

Bytes to columns: decode (UTF-8, a BOM is dropped), split lines (LF, CRLF,
and the `\\r\\r\\n` a csv writer produces on Windows when the file was not
opened with newline=""), find the delimiter from the header line, strip the
padding around names and cells (YOLOv5 pads every cell to 20 characters),
and parse each column to numbers in one numpy call.

Missing versus NaN: an empty cell is absent (the row did not log that key).
Which other spellings mean "absent" is the format's choice (`missing`):
Keras writes `NA` for a key a row lacks, while a `nan` that Lightning or
Ultralytics writes is a real NaN the model produced and must be shown.

A file being written ends mid-line: a last line without a line end is left
out (a TRUNCATED problem) until the writer finishes it. Every writer read
here ends each row with a line end, so a complete row is never lost, and a
file cut at any byte reads as a prefix of the whole file.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass, field
from itertools import compress, repeat

import numpy as np

from metricwatch.model import Problem, ProblemKind
from metricwatch.readers import decimals
from metricwatch.readers.csv_series import (  # theirs, read through this module by the readers
    assign_keys,
    build_series,
    collision_problem,
    keep_after_resumes,
    non_numeric_problem,
    quoted,
    restart_problem,
    slash_safe,
    whole_numbers,
)

__all__ = [
    "Column",
    "CsvTable",
    "assign_keys",
    "build_series",
    "collision_problem",
    "decode",
    "detect_delimiter",
    "keep_after_resumes",
    "non_numeric_problem",
    "number_of",
    "parse_numbers",
    "quoted",
    "read_table",
    "restart_problem",
    "slash_safe",
    "split_lines",
    "unique_names",
    "whole_numbers",
    "without_blank_lines",
]

_DELIMITERS = (",", ";", "\t", "|")
_NON_FINITE = {
    "nan": math.nan,
    "+nan": math.nan,
    "-nan": math.nan,
    "inf": math.inf,
    "+inf": math.inf,
    "-inf": -math.inf,
    "infinity": math.inf,
    "+infinity": math.inf,
    "-infinity": -math.inf,
}


#: The missing marker of most formats: an empty cell.
_EMPTY = frozenset({""})


@dataclass(frozen=True)
class Column:
    """One column's numbers: the positions of the rows holding one, and the values."""

    name: str
    rows: np.ndarray  # int64 row positions, ascending
    values: np.ndarray  # float64, NaN/Inf kept
    non_numeric: int = 0  # cells that were neither a number nor a missing marker


@dataclass
class CsvTable:
    """A CSV file's complete rows, column by column (cells as in the file, padding kept:
    float() ignores it, and text() strips it)."""

    header: list[str] = field(default_factory=list)
    cells: dict[str, list[str]] = field(default_factory=dict)
    nrows: int = 0
    delimiter: str = ","
    #: Row positions where a header line came again (a file appended to by a new writer).
    header_repeats: list[int] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    #: Which cells are not empty (rows x header), found by numpy in the file's text when
    #: no cell can hold padding (ASCII, no whitespace): there an empty cell is exactly an
    #: absent one (the default missing marker), told without a str.strip a cell. None
    #: otherwise.
    present: np.ndarray | None = None
    #: Every column's numbers, read from the bytes where the file is numbers alone
    #: (csv_numbers): such a table keeps no cells, and has no other missing marker.
    numbers: dict[str, Column] | None = None

    def column(self, name: str, missing: frozenset[str] = _EMPTY) -> Column:
        """The numbers of a column; cells spelled as in `missing` (case-sensitive) are absent."""
        if self.numbers is not None:
            if missing != _EMPTY:
                raise ValueError("a table read by csv_numbers knows only empty cells as absent")
            found = self.numbers.get(name)
            return found if found is not None else parse_numbers(name, [], missing)
        cells = self.cells.get(name, [])
        if self.present is not None and missing == _EMPTY and name in self.cells:
            return _numbers_of_present(name, cells, self.present[:, self.header.index(name)])
        return parse_numbers(name, cells, missing)

    def text(self, name: str) -> list[str]:
        """A column's cells without their padding."""
        return [cell.strip() for cell in self.cells.get(name, [""] * self.nrows)]


def decode(data: bytes, filename: str, problems: list[Problem]) -> str:
    """UTF-8 text (a BOM dropped); undecodable bytes replaced, with an ENCODING problem."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        problems.append(
            Problem(
                ProblemKind.ENCODING,
                f"{filename} is not valid UTF-8 (first bad byte at offset {error.start}); "
                "undecodable bytes were replaced",
            )
        )
        text = data.decode("utf-8-sig", errors="replace")
    return text.lstrip("\ufeff")


def split_lines(text: str) -> tuple[list[str], bool]:
    """The lines of text without their ends, and whether the last one was terminated.

    LF, CRLF and CRCRLF end a line; a file with only CR (old Mac) is split on CR.
    """
    # CR alone ends lines only in a file without LF, and not when the CRs are all at
    # the end (a CRLF cut between its CR and LF)
    newline = "\r" if "\n" not in text and "\r" in text.rstrip("\r") else "\n"
    lines = text.split(newline)
    terminated = lines[-1] == ""
    if terminated:
        lines.pop()
    if newline == "\n" and "\r" in text:  # a pass per line only for CRLF files
        lines = [line.rstrip("\r") for line in lines]
    return lines, terminated


def without_blank_lines(lines: list[str]) -> list[str]:
    """The lines that are not blank (empty or whitespace); a regular log has none, and
    finding that out in C (`all(map(...))`) costs half the filtering pass."""
    if all(map(str.strip, lines)):
        return lines
    return [line for line in lines if line.strip()]


def detect_delimiter(header_line: str) -> str:
    """The delimiter of a header line: the most frequent of , ; TAB |, else a comma."""
    counts = [header_line.count(d) for d in _DELIMITERS]
    best = max(counts)
    return _DELIMITERS[counts.index(best)] if best else ","


def _splitter(delimiter: str, quoted: bool):
    if not quoted:
        return lambda line: line.split(delimiter)
    reader_dialect = {"delimiter": delimiter, "quotechar": '"', "skipinitialspace": True}

    def split(line: str) -> list[str]:
        try:
            return next(csv.reader([line], **reader_dialect), [""])
        except csv.Error:
            return line.split(delimiter)

    return split


def read_table(data: bytes, filename: str) -> CsvTable:
    """The header and complete rows of a CSV file. Never raises on content.

    Blank lines are skipped; a line equal to the header is a repeated header
    (its position is kept); a row with fewer cells than the header is padded
    with empty (absent) cells; cells past the header are ignored (noted).
    """
    table = CsvTable()
    problems = table.problems
    text = decode(data, filename, problems)
    if not text.strip():
        problems.append(Problem(ProblemKind.EMPTY, f"{filename} is empty (a write in progress?)"))
        return table
    lines, terminated = split_lines(text)
    if not terminated:
        cut = lines.pop()
        if lines or cut.strip():
            what = "its header" if not any(line.strip() for line in lines) else "its last line"
            problems.append(
                Problem(
                    ProblemKind.TRUNCATED,
                    f"{filename} ends inside {what} (a write in progress?); "
                    "the incomplete line is left out",
                )
            )
    lines = without_blank_lines(lines)
    if not lines:
        if not problems:
            problems.append(
                Problem(ProblemKind.EMPTY, f"{filename} is empty (a write in progress?)")
            )
        return table
    table.delimiter = delimiter = detect_delimiter(lines[0])
    quoted = '"' in text
    split = _splitter(delimiter, quoted)
    header = unique_names([name.strip() for name in split(lines[0])])
    if not quoted:
        columns = _regular_columns(lines[1:], delimiter, header)
        if columns is not None:
            table.present = _present_cells(lines[1:], delimiter, len(header))
            table.header, table.nrows = header, len(lines) - 1
            table.cells = dict(zip(header, columns))
            return table
    rows = list(map(split, lines[1:]))
    first = header[0]
    repeats = (
        bool(first) and number_of(first) is None and first in {r[0].strip() for r in rows if r}
    )
    ragged = 0
    if repeats or {len(row) for row in rows} - {len(header)}:
        rows, ragged = _regular_rows(rows, header, table.header_repeats)
    table.header = header
    if ragged:
        problems.append(
            Problem(
                ProblemKind.NON_NUMERIC,
                f"{ragged} rows of {filename} have more cells than its header names; "
                "the extra cells were ignored",
            )
        )
    table.nrows = len(rows)
    columns = list(zip(*rows)) if rows else [() for _ in table.header]
    table.cells = {name: list(column) for name, column in zip(table.header, columns)}
    return table


def _regular_columns(lines: list[str], delimiter: str, header: list[str]) -> list[list[str]] | None:
    """The columns of rows that all have the header's width and no repeated header line,
    cut from one split of the whole text (a million rows in a fraction of a second); None
    when a row is ragged or a header line comes again (read row by row then)."""
    width = len(header)
    if not lines or not _all_as_wide(lines, delimiter, width):
        return None
    cells = delimiter.join(lines).split(delimiter)
    columns = [cells[j::width] for j in range(width)]
    first = header[0]
    if first and number_of(first) is None and first in set(map(str.strip, columns[0])):
        return None  # a header line among the rows
    return columns


def _present_cells(lines: list[str], delimiter: str, width: int) -> np.ndarray | None:
    """Which cells of _regular_columns' rows are not empty, as (rows, width), found in their
    bytes; None when a cell may be padding only (the text is not ASCII, or has whitespace
    or control characters: str.strip then decides, cell by cell)."""
    joined = delimiter.join(lines)
    rows = len(lines)
    if not joined.isascii():
        return None
    raw = np.frombuffer(joined.encode("ascii"), dtype=np.uint8)
    code = ord(delimiter)
    ends = np.flatnonzero(raw == code)
    # str.strip's ASCII whitespace is all <= 32 (with \x1c-\x1f); a tab may be the delimiter
    if np.count_nonzero(raw <= 32) != (len(ends) if code <= 32 else 0):
        return None
    if len(ends) + 1 != rows * width:
        return None
    lengths = np.diff(ends, prepend=-1, append=len(raw)) - 1
    return (lengths > 0).reshape(rows, width)


def _all_as_wide(lines: list[str], delimiter: str, width: int) -> bool:
    """Whether every line has width - 1 delimiters (the counts taken in C, one a line)."""
    return not (set(map(str.count, lines, repeat(delimiter))) - {width - 1})


def _regular_rows(
    rows: list[list[str]], header: list[str], repeats: list[int]
) -> tuple[list[list[str]], int]:
    """Rows made as wide as the header (extended in place by header lines with new names).

    A line whose first cell is the header's first name is a header line: its position
    goes into repeats; if its names differ, the rows after it are placed by name.
    """
    first = header[0] if number_of(header[0]) is None else ""
    place: list[int] | None = None  # where each cell of the current block goes
    out: list[list[str]] = []
    ragged = 0
    for cells in rows:
        if first and cells and cells[0].strip() == first:
            repeats.append(len(out))
            names = unique_names([cell.strip() for cell in cells])
            if names == header:
                place = None
                continue
            for name in names:
                if name not in header:
                    header.append(name)
                    for row in out:
                        row.append("")
            place = [header.index(name) for name in names]
            continue
        if place is not None:
            moved = [""] * len(header)
            for index, cell in zip(place, cells):
                moved[index] = cell
            ragged += len(cells) > len(place)
            cells = moved
        width = len(header)
        if len(cells) != width:
            if len(cells) > width:
                ragged += 1
                del cells[width:]
            else:
                cells.extend([""] * (width - len(cells)))
        out.append(cells)
    return out, ragged


def unique_names(names: list[str]) -> list[str]:
    """Header names made unique (a repeated name gets .1, .2 as pandas does)."""
    seen: dict[str, int] = {}
    out = []
    for name in names:
        if name in seen:
            seen[name] += 1
            candidate = f"{name}.{seen[name]}"
            while candidate in seen:
                seen[name] += 1
                candidate = f"{name}.{seen[name]}"
            name = candidate
        seen.setdefault(name, 0)
        out.append(name)
    return out


def parse_numbers(name: str, cells: list[str], missing: frozenset[str]) -> Column:
    """A column's cells to float64, without a Python loop when every cell is a number
    (or a missing marker) that float() reads; cell by cell only when one is not."""
    count = len(cells)
    if not count:
        return Column(name, np.empty(0, np.int64), np.empty(0, np.float64))
    if not any(number_of(token) is not None for token in missing):
        values = _all_numbers(cells)
        if values is not None:
            return Column(name, np.arange(count, dtype=np.int64), values)
    # One C-level pass each: which cells are absent, then the others' numbers.
    present = ~np.fromiter(map(missing.__contains__, map(str.strip, cells)), bool, count)
    values = _all_numbers(list(compress(cells, present)))
    if values is not None:
        return Column(name, np.flatnonzero(present).astype(np.int64), values)
    values, mask, non_numeric = _slow_numbers(cells, missing)
    rows = np.flatnonzero(mask).astype(np.int64)
    return Column(name, rows, values[rows], non_numeric)


def _numbers_of_present(name: str, cells: list[str], present: np.ndarray) -> Column:
    """parse_numbers of a column whose non-empty cells are known (`present`) and hold no
    padding: the same numbers, without finding the empty cells one by one."""
    whole = int(np.count_nonzero(present)) == len(cells)
    values = _all_numbers(cells if whole else list(compress(cells, present)))
    if values is None:
        return parse_numbers(name, cells, _EMPTY)
    return Column(name, np.flatnonzero(present).astype(np.int64), values)


def _all_numbers(cells: list[str]) -> np.ndarray | None:
    """float() of every cell, or None if one is no number."""
    values = decimals.from_strings(cells)
    if values is not None:
        return values
    try:
        # numpy reads each str with float() itself: the same numbers, without an
        # iterator's call per cell (a third faster)
        return np.array(cells, dtype=np.float64)
    except ValueError:
        return None


def _slow_numbers(cells: list[str], missing: frozenset[str]) -> tuple[np.ndarray, np.ndarray, int]:
    values = np.full(len(cells), np.nan)
    present = np.zeros(len(cells), dtype=bool)
    non_numeric = 0
    for index, cell in enumerate(cells):
        if cell.strip() in missing:
            continue
        number = number_of(cell)
        if number is None:
            non_numeric += 1
            continue
        values[index] = number
        present[index] = True
    return values, present, non_numeric


def number_of(cell: str) -> float | None:
    """A cell's number (NaN/Inf spelled any way Python or numpy write them), or None."""
    lowered = cell.strip().lower()
    if lowered in _NON_FINITE:
        return _NON_FINITE[lowered]
    try:
        return float(lowered)
    except (ValueError, OverflowError):
        return None
