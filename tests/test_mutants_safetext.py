"""printable and the shortening at their limits, found by mutation testing."""

from __future__ import annotations

import pytest
from rich.cells import cell_len

from metricwatch.safetext import (
    ELLIPSIS,
    TAIL_SHARE,
    _clusters,
    fit_cells,
    pad_cells,
    printable,
    shorten_middle,
)

SWEEP = "sweep/lr1e-3_bs128_seed3"  # 24 cells

# Every width of one sweep name, with the default ellipsis and with a three-cell one.
SWEEP_BY_WIDTH = [
    (0, "", ""),
    (1, "…", ""),
    (2, "…3", ""),
    (3, "…d3", "..."),
    (4, "s…d3", "...3"),
    (5, "s…ed3", "...d3"),
    (6, "sw…ed3", "s...d3"),
    (7, "sw…eed3", "s...ed3"),
    (8, "sw…seed3", "sw...ed3"),
    (9, "swe…seed3", "sw...eed3"),
    (10, "swe…_seed3", "sw...seed3"),
    (11, "swee…_seed3", "swe...seed3"),
    (12, "sweep…_seed3", "swe..._seed3"),
    (13, "swee…28_seed3", "swee..._seed3"),
    (14, "sweep…28_seed3", "sweep..._seed3"),
    (15, "sweep…128_seed3", "swee...28_seed3"),
    (16, "sweep/…128_seed3", "sweep...28_seed3"),
    (17, "sweep/…s128_seed3", "sweep...128_seed3"),
    (18, "sweep/…bs128_seed3", "sweep/...128_seed3"),
    (19, "sweep/l…bs128_seed3", "sweep/...s128_seed3"),
    (20, "sweep/l…_bs128_seed3", "sweep/...bs128_seed3"),
    (21, "sweep/lr…_bs128_seed3", "sweep/l...bs128_seed3"),
    (22, "sweep/lr1…_bs128_seed3", "sweep/l..._bs128_seed3"),
    (23, "sweep/lr…-3_bs128_seed3", "sweep/lr..._bs128_seed3"),
    (24, SWEEP, SWEEP),
    (25, SWEEP, SWEEP),
]


@pytest.mark.parametrize(("width", "short", "dots"), SWEEP_BY_WIDTH)
def test_a_sweep_name_at_every_width(width, short, dots):
    assert shorten_middle(SWEEP, width) == short
    assert shorten_middle(SWEEP, width, ellipsis="...") == dots


def test_negative_widths_give_nothing():
    assert shorten_middle(SWEEP, -1) == ""
    assert shorten_middle("", -5) == ""
    assert shorten_middle("", 0) == ""
    assert fit_cells(SWEEP, -3) == ""


def test_the_end_gets_sixty_percent_of_the_room():
    assert (ELLIPSIS, TAIL_SHARE) == ("…", 0.6)
    # room 9: the end gets ceil(5.4) = 6 cells, the start the 3 left
    assert shorten_middle("abcdefghijklmnopqrstuvwxyz", 10) == "abc…uvwxyz"
    # room 10: ceil(6.0) = 6 and 4
    assert shorten_middle("abcdefghijklmnopqrstuvwxyz", 11) == "abcd…uvwxyz"
    assert shorten_middle("abcdefghij", 7) == "ab…ghij"


def test_the_cut_snaps_to_a_separator_one_character_inside_the_end():
    # the end "h_j" starts one character before a separator: it starts at the separator
    assert shorten_middle("abcdefgh_j", 6) == "abc…_j"
    # the end "_hij" fits whole, separator first
    assert shorten_middle("abcdefg_hij", 7) == "ab…_hij"
    assert shorten_middle("abcdefgh_ij", 7) == "abc…_ij"
    # the end already starts at a separator
    assert shorten_middle("abcdefg-hi", 6) == "ab…-hi"
    # a snap never leaves less than two characters: "h-" keeps its h
    assert shorten_middle("abcdefgh-", 6) == "ab…gh-"
    assert shorten_middle("abcdefgh-", 4) == "a…h-"  # not "ab…-"
    assert shorten_middle("a-b-c-d-e-f-g-h", 7) == "a-…-g-h"
    for separator in "/_-.: ":
        assert shorten_middle(f"abcdefgh{separator}j", 6) == f"abc…{separator}j"
    assert shorten_middle("abcdefgh+j", 6) == "ab…h+j"
    assert shorten_middle("abcdefghXj", 6) == "ab…hXj"
    # the end "hi_jk": its separator is two characters in, past the one-cell snap
    assert shorten_middle("abcdefghi_jk", 8) == "ab…hi_jk"
    # an end that starts at a separator stays as it is, another separator after it or not
    assert shorten_middle("abcdefg_-x", 6) == "ab…_-x"


def test_wide_characters_are_never_split_and_may_leave_a_cell_over():
    cjk = "日本語日本語日本語"
    assert shorten_middle(cjk, 7) == "日…本語"
    assert shorten_middle(cjk, 8) == "日…本語"
    assert shorten_middle(cjk, 9) == "日本…本語"
    assert shorten_middle(cjk, 18) == cjk
    assert shorten_middle(cjk, 17) == "日本語…本語日本語"
    assert shorten_middle(cjk, 10) == "日…日本語"  # nine cells: the tenth would split a 本
    assert shorten_middle(cjk, 3) == "…語"
    assert shorten_middle(cjk, 2) == "…"
    # the start stops at the first character that does not fit: nothing after it is taken
    assert shorten_middle("日abcdefghij", 5) == "…hij"
    assert shorten_middle("日abcdefghij", 6) == "日…hij"
    for width in range(1, 19):
        assert cell_len(shorten_middle(cjk, width)) in (width, width - 1)


def test_clusters_keep_marks_with_their_letter_and_escapes_whole():
    assert _clusters("\u0301ab\u0301\\x1bc\\u202ed\\U0001f600e\\xZZ") == [
        "\u0301", "a", "b\u0301", "\\x1b", "c", "\\u202e", "d", "\\U0001f600", "e",
        "\\", "x", "Z", "Z",
    ]  # fmt: skip
    assert _clusters("") == []
    # a text that starts with a mark shortens without error
    assert shorten_middle("\u0301abcdefghijkl", 6) == "\u0301ab…jkl"


def test_an_escape_is_kept_whole_at_the_limit():
    text = printable("ab\x1bcdefgh\x1bij")
    assert text == "ab\\x1bcdefgh\\x1bij"
    assert shorten_middle(text, 9) == "ab\\x1b…ij"
    assert shorten_middle(text, 8) == "ab…ij"


def test_printable_escapes_exactly_the_hidden_ranges():
    hidden = "\x00\x1f\x7f\x9f\u061c\u200b\u200f\u2028\u202e\u2060\u2064\u2066\u2069\ufeff"
    assert printable(hidden) == (
        "\\x00\\x1f\\x7f\\x9f\\u061c\\u200b\\u200f\\u2028\\u202e\\u2060\\u2064\\u2066\\u2069\\ufeff"
    )
    # just outside each range: shown as they are
    shown = " ~\xa0\xff\u0100\u061b\u061d\u200a\u2010\u2027\u202f\u2065\u206a\ufefe"
    assert printable(shown) == shown


def test_printable_of_other_objects_and_bad_bytes():
    assert printable(12) == "12"
    assert printable(None) == "None"
    assert printable("a\udcff\x1b") == "a\\udcff\\x1b"
    assert printable("\\x1b") == "\\x1b"  # already escaped text is left as it is


def test_pad_and_fit_cells():
    assert pad_cells("日本", 6) == "日本  "
    assert pad_cells("abcdef", 3) == "abcdef"
    assert pad_cells("abc", 3) == "abc"
    assert pad_cells("", 2) == "  "
    assert fit_cells("abcdefghij", 5) == "a…hij"
    assert fit_cells("ab", 5) == "ab   "
    assert fit_cells("日本語", 5) == "日…語"
    assert fit_cells("日本語日本語日本語", 10) == "日…日本語 "
