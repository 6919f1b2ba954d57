"""Run names as users name them (sweeps, CJK, emoji, hostile bytes): shortened in the middle,
measured in terminal cells, escaped when invisible, and never breaking a row or the header."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from rich.cells import cell_len
from tui_fixtures.support import NOW, fixed_app, wait_for, wait_loaded, write_run

from metricwatch.safetext import ELLIPSIS, fit_cells, printable, shorten_middle

SWEEP = "sweep/lr1e-05_bs128_seed3"
CJK = "runs/日本語の実験_🚀"
LONG = "a/very/long/experiment/name/resnet50_imagenet_mixup0.2_cutmix_warmup5_cosine_ema_v2"


# --- the one shortening function ------------------------------------------------------------


def test_shortening_keeps_the_end_that_tells_sweep_runs_apart():
    assert shorten_middle(SWEEP, 22) == "sweep/lr1…_bs128_seed3"
    names = [f"sweep/lr1e-05_bs128_seed{seed}" for seed in range(10)]
    shown = {shorten_middle(name, 16) for name in names}
    assert len(shown) == len(names)  # cut at the end, all ten read `sweep/lr1e-05_b…`


def test_a_name_that_fits_is_untouched():
    assert shorten_middle(SWEEP, len(SWEEP)) == SWEEP
    assert shorten_middle(CJK, cell_len(CJK)) == CJK


@pytest.mark.parametrize("width", range(0, 30))
def test_shortening_is_measured_in_cells_and_never_splits_a_wide_character(width):
    for name in (SWEEP, CJK, LONG, "日本語" * 10, "e\u0301" * 30):
        shown = shorten_middle(name, width)
        assert cell_len(shown) <= width
        assert cell_len(shown) >= width - 1 or shown == name  # a wide char may leave one cell
        if shown != name and width >= 2:
            assert ELLIPSIS in shown
        assert cell_len(fit_cells(name, width)) == max(width, 0)


def test_combining_marks_stay_with_their_letter():
    shown = shorten_middle("e\u0301" * 30, 9)
    assert not shown.startswith("\u0301") and "…\u0301" not in shown


@pytest.mark.parametrize("width", range(4, 20))
def test_an_escape_is_never_cut_in_two(width):
    shown = shorten_middle(printable("exp\u202egnp.exe\x1b[2J_tail"), width)
    for piece in shown.split("…"):
        assert piece.count("\\") == piece.count("\\u202e") + piece.count("\\x1b")


@given(st.text(max_size=80), st.integers(min_value=0, max_value=90))
def test_shortening_any_text_fits(text, width):
    shown = shorten_middle(printable(text), width)
    assert cell_len(shown) <= width


# --- escaping invisible characters -----------------------------------------------------------


@pytest.mark.parametrize(
    "char",
    list("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")  # bidi
    + list("\u200b\u200c\u200d\u200e\u200f\u2060\ufeff\u2028\u061c"),  # zero-width
)
def test_bidi_and_zero_width_characters_are_escaped_like_control_characters(char):
    shown = printable(f"exp{char}gnp.exe")
    assert char not in shown
    assert f"\\u{ord(char):04x}" in shown


def test_control_characters_and_bad_bytes_are_still_escaped():
    assert printable("a\x1b[2Jb") == "a\\x1b[2Jb"
    assert printable("a\udcffb") == "a\\udcffb"
    assert printable(CJK) == CJK  # ordinary wide text is left alone


# --- in the app ------------------------------------------------------------------------------


def _runs(tmp_path):
    root = tmp_path / "runs"
    for index, name in enumerate([CJK, SWEEP, "sweep/lr1e-05_bs128_seed2", LONG]):
        write_run(root / name, 20, nan_from=15 if name == CJK else None, mtime=NOW - 10 * index)
    return root


def _row(app, name):
    return app.run_list.get_option(name).prompt


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
async def test_run_rows_fit_their_width_in_cells_with_cjk_and_emoji(tmp_path, size):
    """`runs/日本語の実験_🚀` was padded by characters: its row was 8 cells too wide and the
    `▲1` at its end was cut off."""
    app = fixed_app(_runs(tmp_path))
    async with app.run_test(size=size) as pilot:
        await wait_loaded(pilot, 4)
        if size[0] < 100:
            await pilot.press("l")
        await wait_for(pilot, lambda: app.run_list.row_width == app.run_list._width)
        width = app.run_list.row_width
        for name in app.run_list.names:
            assert _row(app, name).cell_len == width, name
        cjk = _row(app, CJK).plain
        assert cjk.rstrip().endswith("▲1") and "20/50" in cjk


async def test_sweep_names_show_their_distinguishing_end_in_the_list(tmp_path):
    app = fixed_app(_runs(tmp_path))
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_loaded(pilot, 4)
        await pilot.press("l")
        await wait_for(pilot, lambda: app.run_list.row_width == app.run_list._width)
        seed3, seed2 = _row(app, SWEEP).plain, _row(app, "sweep/lr1e-05_bs128_seed2").plain
        assert "seed3" in seed3 and "seed2" in seed2 and "…" in seed3
        assert "_v2" in _row(app, LONG).plain


@pytest.mark.parametrize("width", [80, 100, 120, 200])
@pytest.mark.parametrize("show_list", [False, True])
async def test_header_is_one_line_at_every_width_with_the_name_shortened_in_the_middle(
    tmp_path, width, show_list
):
    """A long name wrapped the header over up to 4 lines, pushing the charts down."""
    app = fixed_app(_runs(tmp_path))
    async with app.run_test(size=(width, 30)) as pilot:
        await wait_loaded(pilot, 4)
        if app.screen.has_class("-list") != show_list:
            await pilot.press("l")
        for _ in range(3):
            await pilot.press("j")  # the longest name
        header = app.view.header
        await wait_for(pilot, lambda: "_v2" in header.plain)
        room = header.content_region.width
        assert header.size.height == 1
        assert "\n" not in header.plain and cell_len(header.plain) <= room
        assert "epoch 20 / 50" in header.plain
        assert header.plain.split("  epoch")[0].endswith("cosine_ema_v2")  # the end is kept
        if cell_len(LONG) + 40 < room:
            assert LONG in header.plain  # room enough: the full name


async def test_header_shows_the_full_name_of_the_selected_run(tmp_path):
    app = fixed_app(_runs(tmp_path))
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_loaded(pilot, 4)
        await pilot.press("l")
        await pilot.press("j")
        await wait_for(pilot, lambda: SWEEP in app.view.header.plain)
        assert SWEEP not in _row(app, SWEEP).plain  # shortened in the list, whole up here
        assert str(app.view.header.tooltip) == SWEEP


async def test_invisible_characters_in_a_run_name_are_shown_escaped(tmp_path):
    root = tmp_path / "runs"
    write_run(root / "exp\u202egnp.exe", 3, mtime=NOW)
    write_run(root / "a\u200bb", 3, mtime=NOW - 10)
    app = fixed_app(root)
    async with app.run_test(size=(120, 30)) as pilot:
        await wait_loaded(pilot, 2)
        rows = [_row(app, name).plain for name in app.run_list.names]
        assert any("exp\\u202egnp.exe" in row for row in rows)
        assert any("a\\u200bb" in row for row in rows)
        assert "exp\\u202egnp.exe" in app.view.header.plain
        for text in [*rows, app.view.header.plain]:
            assert "\u202e" not in text and "\u200b" not in text
