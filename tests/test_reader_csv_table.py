"""The CSV part shared by the Lightning, Keras and Ultralytics readers."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from metricwatch.model import ProblemKind
from metricwatch.readers import csv_table
from metricwatch.readers.csv_table import (
    assign_keys,
    detect_delimiter,
    keep_after_resumes,
    read_table,
    split_lines,
)

NA = frozenset({"", "NA"})


def kinds(table):
    return [p.kind for p in table.problems]


def test_line_ends_lf_crlf_crcrlf_and_cr_read_the_same():
    rows = ["epoch,loss", "0,1.5", "1,0.5"]
    for end in ("\n", "\r\n", "\r\r\n", "\r"):
        table = read_table(end.join(rows).encode() + end.encode(), "log")
        assert table.header == ["epoch", "loss"], end
        assert table.cells == {"epoch": ["0", "1"], "loss": ["1.5", "0.5"]}, end
        assert table.problems == [], end


def test_split_lines_says_whether_the_last_line_ended():
    assert split_lines("a\r\r\nb\r\n") == (["a", "b"], True)
    assert split_lines("a\nb") == (["a", "b"], False)
    assert split_lines("") == ([], True)  # nothing is left unfinished


def test_bom_is_dropped_and_bad_utf8_is_an_encoding_problem():
    table = read_table(b"\xef\xbb\xbfepoch,loss\n0,1\n", "log")
    assert table.header == ["epoch", "loss"]
    table = read_table(b"epoch,lo\xffss\n0,1\n", "log")
    assert table.header == ["epoch", "lo\ufffdss"]
    assert kinds(table) == [ProblemKind.ENCODING]


def test_delimiter_is_found_from_the_header():
    assert detect_delimiter("epoch;loss;val_loss") == ";"
    assert detect_delimiter("epoch\tloss") == "\t"
    assert detect_delimiter("epoch|loss|acc") == "|"
    assert detect_delimiter("epoch,loss") == ","
    assert detect_delimiter("epoch") == ","
    table = read_table(b"epoch;loss\n0;1,5\n", "log")  # a comma inside a cell is not one
    assert table.delimiter == ";"
    assert table.cells["loss"] == ["1,5"]


def test_padding_around_names_and_cells_is_stripped():
    data = b"               epoch,      train/box_loss\n                   0,            0.064085\n"
    table = read_table(data, "results.csv")
    assert table.header == ["epoch", "train/box_loss"]
    column = table.column("train/box_loss")
    assert column.values.tolist() == [0.064085]


def test_empty_cells_are_absent_nan_cells_are_nan_and_missing_is_per_format():
    table = read_table(b"a,b\n1,\n,nan\nNA,NaN\n2,x\n", "log")
    a = table.column("a", NA)
    assert a.rows.tolist() == [0, 3]
    assert a.values.tolist() == [1.0, 2.0]
    assert a.non_numeric == 0
    b = table.column("b")
    assert b.rows.tolist() == [1, 2]
    assert all(math.isnan(v) for v in b.values)
    assert b.non_numeric == 1  # the "x"
    a_plain = table.column("a")  # NA is not a missing marker here: it is not a number
    assert a_plain.rows.tolist() == [0, 3]
    assert a_plain.non_numeric == 1


def test_numbers_spelled_every_way_and_overflow():
    cells = ["inf", "-Infinity", "+inf", "1e400", "9" * 5000, "-0.5", "  7 "]
    column = csv_table.parse_numbers("x", cells, frozenset({""}))
    assert column.values.tolist() == [math.inf, -math.inf, math.inf, math.inf, math.inf, -0.5, 7]
    assert column.values.dtype == np.float64
    assert column.rows.dtype == np.int64


def test_unterminated_last_line_is_left_out_as_truncated():
    table = read_table(b"epoch,loss\n0,1.5\n1,0.12", "log")
    assert table.nrows == 1
    assert kinds(table) == [ProblemKind.TRUNCATED]
    assert "last line" in table.problems[0].message


def test_a_header_cut_short_is_truncated_and_has_no_rows():
    table = read_table(b"epoch,lo", "log")
    assert table.header == []
    assert kinds(table) == [ProblemKind.TRUNCATED]
    assert "header" in table.problems[0].message


def test_empty_and_blank_files_are_empty():
    for data in (b"", b"\n\n", b"  \r\n"):
        assert kinds(read_table(data, "log")) == [ProblemKind.EMPTY]


def test_header_only_has_no_rows_and_no_problem():
    table = read_table(b"epoch,loss\n", "log")
    assert table.header == ["epoch", "loss"]
    assert table.nrows == 0
    assert table.problems == []
    assert table.column("loss").values.tolist() == []


def test_repeated_header_is_not_a_row_and_its_position_is_kept():
    table = read_table(b"epoch,loss\n0,1\n1,2\nepoch,loss\n0,3\n", "log")
    assert table.nrows == 3
    assert table.header_repeats == [2]
    assert table.cells["loss"] == ["1", "2", "3"]


def test_a_new_header_with_other_names_remaps_the_rows_after_it():
    table = read_table(b"epoch,loss\n0,1\nepoch,acc,loss\n0,0.5,2\n", "log")
    assert table.header == ["epoch", "loss", "acc"]
    assert table.cells == {"epoch": ["0", "0"], "loss": ["1", "2"], "acc": ["", "0.5"]}


def test_short_rows_are_padded_and_long_rows_noted():
    table = read_table(b"a,b,c\n1\n1,2,3,4\n", "log")
    assert table.cells == {"a": ["1", "1"], "b": ["", "2"], "c": ["", "3"]}
    assert kinds(table) == [ProblemKind.NON_NUMERIC]
    assert "1 rows" in table.problems[0].message


def test_quoted_cells_keep_their_delimiters():
    table = read_table(b'epoch,"acc,top5",per_class\n0,0.5,"[0.1, 0.2]"\n', "log")
    assert table.header == ["epoch", "acc,top5", "per_class"]
    assert table.cells["per_class"] == ["[0.1, 0.2]"]
    assert table.column("per_class").non_numeric == 1


def test_duplicate_header_names_are_made_unique():
    table = read_table(b"a,a,a.1\n1,2,3\n", "log")
    assert table.header == ["a", "a.1", "a.1.1"]


def test_keep_after_resumes_strict_and_not():
    x = np.array([1, 2, 3, 2, 3, 4])
    keep, restarts = keep_after_resumes(x, strict=True)
    assert keep.tolist() == [True, False, False, True, True, True]
    assert restarts == ["2 (after 3)"]
    same_step = np.array([49, 78, 78, 99])
    keep, restarts = keep_after_resumes(same_step, strict=False)
    assert keep.all() and restarts == []
    keep, restarts = keep_after_resumes(same_step, strict=True)
    assert keep.tolist() == [True, False, True, True]


def test_assign_keys_gives_each_key_to_one_column():
    keys, source, collisions = assign_keys(
        [("val/acc", "val_accuracy"), ("val_accuracy", "val_accuracy"), ("loss", "train_loss")]
    )
    assert keys == {"val/acc": "val_acc", "val_accuracy": "val_accuracy", "loss": "train_loss"}
    assert source == {"val_acc": "val/acc", "train_loss": "loss"}
    assert collisions == ["'val/acc' and 'val_accuracy'"]


def test_build_series_merges_two_rows_of_one_step_and_shares_steps():
    table = read_table(b"step,a,b\n1,1,\n1,,2\n2,3,4\n", "log")
    row_x = np.array([1, 1, 2])
    series, steps, _ = csv_table.build_series(table, {"a": "a", "b": "b"}, row_x, np.ones(3, bool))
    assert steps.tolist() == [1, 2]
    assert series["a"].values.tolist() == [1.0, 3.0]
    assert series["b"].values.tolist() == [2.0, 4.0]
    assert series["a"].steps is series["b"].steps  # one array, shared


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400))
def test_arbitrary_bytes_never_raise(data):
    table = read_table(data, "log")
    for name in table.header:
        column = table.column(name, NA)
        assert len(column.rows) == len(column.values)


_CSVISH = st.text(alphabet=',;\t| \r\n"0123456789.-+eEnaNAif_xyz/()', max_size=300)


@settings(max_examples=300, deadline=None)
@given(_CSVISH)
def test_csv_like_text_never_raises(text):
    table = read_table(text.encode(), "log")
    assert all(len(cells) == table.nrows for cells in table.cells.values())


def test_regular_rows_are_cut_into_columns_in_one_split_and_the_rest_row_by_row():
    from metricwatch.readers.csv_table import _regular_columns

    header = ["epoch", "loss", "val_loss"]
    assert _regular_columns(["0,1.5,", "1,1.25,2"], ",", header) == [
        ["0", "1"],
        ["1.5", "1.25"],
        ["", "2"],
    ]
    assert _regular_columns(["0,1.5", "1,1.25,2"], ",", header) is None  # ragged
    assert _regular_columns(["0,1.5,2", "epoch,loss,val_loss"], ",", header) is None  # header
    assert _regular_columns(["0,1.5,2", " epoch ,x,y"], ",", header) is None  # padded header
    assert _regular_columns([], ",", header) is None
    # A header whose first name is a number is no name: such a row is data.
    assert _regular_columns(["1,2,3"], ",", ["1", "a", "b"]) == [["1"], ["2"], ["3"]]
