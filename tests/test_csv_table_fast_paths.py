"""read_table's quicker passes (no pass for CRs a file has none of, blank lines and row
widths checked in C) read every text as the line-by-line code they replace did."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from metricwatch.readers import csv_table
from metricwatch.readers.csv_table import read_table


def reference_split_lines(text: str) -> tuple[list[str], bool]:
    newline = "\r" if "\n" not in text and "\r" in text.rstrip("\r") else "\n"
    lines = text.split(newline)
    terminated = lines[-1] == ""
    if terminated:
        lines.pop()
    if newline == "\n":
        lines = [line.rstrip("\r") for line in lines]
    return lines, terminated


def reference_blank(lines: list[str]) -> list[str]:
    return [line for line in lines if line.strip()]


def reference_width(lines: list[str], delimiter: str, width: int) -> bool:
    return not ({line.count(delimiter) for line in lines} - {width - 1})


CELLS = st.sampled_from(["1", "2.5", "", " ", "nan", "NA", "x", "-3e8", "é", "\x0c", "\u2028"])
LINE_ENDS = st.sampled_from(["\n", "\r\n", "\r\r\n", "\r"])


@st.composite
def csv_texts(draw) -> str:
    delimiter = draw(st.sampled_from([",", ";", "\t", "|"]))
    width = draw(st.integers(1, 4))
    end = draw(LINE_ENDS)
    header = delimiter.join(f"k{i}" for i in range(width))
    rows = []
    for _ in range(draw(st.integers(0, 12))):
        kind = draw(st.sampled_from(["row", "row", "row", "blank", "spaces", "ragged"]))
        if kind == "blank":
            rows.append("")
        elif kind == "spaces":
            rows.append(draw(st.sampled_from([" ", "\t", " \t ", "\x0b", "\x1c"])))
        else:
            cells = draw(st.lists(CELLS, min_size=width, max_size=width))
            if kind == "ragged":
                cells = cells[: draw(st.integers(0, width))] + draw(st.lists(CELLS, max_size=2))
            rows.append(delimiter.join(cells))
    text = end.join([header, *rows])
    return text + draw(st.sampled_from(["", end, end + end]))


@settings(max_examples=400, deadline=None)
@given(csv_texts())
def test_every_text_is_read_as_line_by_line(text):
    fast = read_table(text.encode("utf-8"), "metrics.csv")
    with _reference_paths():
        slow = read_table(text.encode("utf-8"), "metrics.csv")
    assert (fast.header, fast.nrows, fast.header_repeats) == (
        slow.header,
        slow.nrows,
        slow.header_repeats,
    )
    assert fast.cells == slow.cells
    assert fast.problems == slow.problems


@given(st.lists(st.text(alphabet=" \t\x0b\x0c\x1c\x85\u2028\u3000ab,", max_size=6), max_size=8))
def test_blank_lines_are_found_as_strip_finds_them(lines):
    lines = [line.replace("\n", "").replace("\r", "") for line in lines]
    assert csv_table.without_blank_lines(lines) == reference_blank(lines)


@given(
    st.lists(st.text(alphabet="ab,é\u2028;", max_size=8), min_size=1, max_size=8),
    st.sampled_from([",", ";"]),
    st.integers(1, 4),
)
def test_row_widths_are_counted_per_line(lines, delimiter, width):
    assert csv_table._all_as_wide(lines, delimiter, width) == reference_width(
        lines, delimiter, width
    )


class _reference_paths:
    """The module's three replaced pieces swapped for the code they replaced."""

    def __enter__(self):
        self._saved = (csv_table.split_lines, csv_table.without_blank_lines, csv_table._all_as_wide)
        csv_table.split_lines = reference_split_lines
        csv_table.without_blank_lines = reference_blank
        csv_table._all_as_wide = reference_width
        return self

    def __exit__(self, *exc):
        csv_table.split_lines, csv_table.without_blank_lines, csv_table._all_as_wide = self._saved
        return False
