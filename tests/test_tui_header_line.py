"""The header's line made from learned styles is the line Textual draws, segment for segment;
what it has not learned (a new style, another theme, a selection) Textual draws."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from rich.console import Console
from rich.segment import Segment
from rich.style import Style
from rich.text import Span, Text
from textual.geometry import Offset, Region
from textual.selection import Selection
from textual.strip import Strip
from textual.widgets import Static
from tui_fixtures.support import NOW, fixed_app, wait_loaded, write_run

from metricwatch.tui.widgets.header import (
    header_pieces,
    header_text,
    line_segments,
    pieces_segments,
    pieces_text,
)
from metricwatch.tui.widgets.line_styles import LineStyles

BOLD, DIM = Style(bold=True), Style(dim=True)
DRAWN_BOLD = Style(color="#e0e0e0", bgcolor="#1b1b1b", bold=True)
DRAWN_DIM = Style(color="#9d9d9d", bgcolor="#1b1b1b")


def _drawn(*parts: tuple[str, Style]) -> Strip:
    """A strip as Textual draws one: each segment with the offset of its first character."""
    segments, x = [], 0
    for text, style in parts:
        segments.append(Segment(text, style + Style.from_meta({"offset": (x, 0)})))
        x += len(text)
    return Strip(segments)


# --- LineStyles, on hand-made strips ----------------------------------------------------------


def test_learned_styles_make_the_strip_textual_draws_with_offsets_of_characters():
    styles = LineStyles()
    assert styles.learn(
        "dark",
        [Segment("run", BOLD), Segment(" · ", DIM)],
        _drawn(("run", DRAWN_BOLD), (" · ", DRAWN_DIM)),
    )
    made = styles.strip("dark", [Segment("日本語", BOLD), Segment(" · ", DIM), Segment("ab", BOLD)])
    assert made is not None
    assert list(made) == list(
        _drawn(("日本語", DRAWN_BOLD), (" · ", DRAWN_DIM), ("ab", DRAWN_BOLD))
    )
    assert [s.style.meta["offset"] for s in made] == [(0, 0), (3, 0), (6, 0)]  # characters
    assert made.cell_length == 6 + 3 + 2  # cells: the wide characters count twice


def test_a_style_not_learned_or_another_look_is_left_to_textual():
    styles = LineStyles()
    styles.learn("dark", [Segment("run", BOLD)], _drawn(("run", DRAWN_BOLD)))
    assert styles.strip("dark", [Segment("run", BOLD), Segment("x", DIM)]) is None
    assert styles.strip("light", [Segment("run", BOLD)]) is None
    # Learning under another look forgets the first: its colours are not this look's.
    styles.learn("light", [Segment(" · ", DIM)], _drawn((" · ", DRAWN_DIM)))
    assert styles.strip("light", [Segment("run", BOLD)]) is None
    assert styles.strip("light", [Segment("-", DIM)]) is not None


@pytest.mark.parametrize(
    "drawn",
    [
        _drawn(("ru", DRAWN_BOLD), ("n", DRAWN_BOLD)),  # split otherwise than Rich split it
        _drawn(("run", DRAWN_BOLD), ("!", DRAWN_BOLD)),  # more segments
        _drawn(("nur", DRAWN_BOLD)),  # other text
        Strip([Segment("run", DRAWN_BOLD + Style.from_meta({"offset": (1, 0)}))]),  # offset
        Strip([Segment("run", DRAWN_BOLD + Style.from_meta({"offset": (0, 0), "@click": "x"}))]),
        Strip([Segment("run", DRAWN_BOLD)]),  # no offset at all
    ],
)
def test_a_strip_not_drawn_as_rich_split_the_line_teaches_nothing(drawn):
    styles = LineStyles()
    assert not styles.learn("dark", [Segment("run", BOLD)], drawn)
    assert styles.strip("dark", [Segment("run", BOLD)]) is None


def test_one_style_drawn_two_ways_in_one_line_teaches_nothing():
    styles = LineStyles()
    segments = [Segment("a", BOLD), Segment("b", DIM), Segment("c", BOLD)]
    drawn = _drawn(("a", DRAWN_BOLD), ("b", DRAWN_DIM), ("c", DRAWN_DIM))
    assert not styles.learn("dark", segments, drawn)
    assert styles.strip("dark", [Segment("a", BOLD)]) is None


def test_styles_learned_before_stay_when_a_line_teaches_nothing():
    styles = LineStyles()
    styles.learn("dark", [Segment("run", BOLD)], _drawn(("run", DRAWN_BOLD)))
    styles.learn("dark", [Segment("x", DIM)], _drawn(("y", DRAWN_DIM)))
    assert styles.strip("dark", [Segment("run", BOLD)]) is not None
    assert styles.strip("dark", [Segment("x", DIM)]) is None


def test_a_style_learned_again_is_the_one_strips_are_made_with():
    """Strips made before a style was learned again do not lend it their old look."""
    styles = LineStyles()
    styles.learn("dark", [Segment("run", BOLD)], _drawn(("run", DRAWN_BOLD)))
    assert list(styles.strip("dark", [Segment("run", BOLD)])) == list(_drawn(("run", DRAWN_BOLD)))
    redrawn = Style(color="#ff0000", bgcolor="#1b1b1b", bold=True)
    assert styles.learn("dark", [Segment("run", BOLD)], _drawn(("run", redrawn)))
    assert list(styles.strip("dark", [Segment("run", BOLD)])) == list(_drawn(("run", redrawn)))
    styles.learn("light", [Segment("run", BOLD)], _drawn(("run", DRAWN_DIM)))
    assert styles.strip("dark", [Segment("run", BOLD)]) is None
    assert list(styles.strip("light", [Segment("run", BOLD)])) == list(_drawn(("run", DRAWN_DIM)))


# --- the header in the app --------------------------------------------------------------------


def _good_and_bad(tmp_path):
    """A run written 3 s ago, and one with NaN from epoch 4 that stopped hours ago."""
    write_run(tmp_path / "good", 6, total=10, mtime=NOW - 3)
    write_run(tmp_path / "bad", 6, total=10, nan_from=4, mtime=NOW - 40_000)
    return fixed_app(tmp_path)


def _one_run(tmp_path):
    write_run(tmp_path / "run", 6, total=10, mtime=NOW - 3)
    return fixed_app(tmp_path)


async def _shown_header(app, pilot):
    """The one run's header, shown at a fixed clock."""
    await wait_loaded(pilot, 1)
    header = app.view.header
    header.show(app.states["run"], NOW + 5, "events", None)
    return header


def _pieces_of(text: Text) -> tuple[tuple[str, str], ...]:
    """The pieces of a line of Text whose spans follow one another, as the header keeps it."""
    pieces, at = [], 0
    for start, end, style in text.spans:
        if start > at:
            pieces.append((text.plain[at:start], ""))
        pieces.append((text.plain[start:end], str(style)))
        at = end
    if at < len(text.plain):
        pieces.append((text.plain[at:], ""))
    assert pieces_text(pieces) == text
    return tuple(pieces)


def _set_line(header, text: Text, room: int | None = None) -> None:
    """The header given `text` as its line, fitted to `room` (its width by default; 0: no
    width, the line kept as it is), without a run (so tick() leaves it alone)."""
    header._state = None
    room = header.content_region.width if room is None else room
    header._pieces, header._text = (_pieces_of(text), room), None


def _fast_strip(header, text: Text, room: int | None = None):
    _set_line(header, text, room)
    return header._fast_strip()


async def _header_lines(app, pilot, text: Text) -> tuple[bool, list[Segment], list[Segment]]:
    """The header's line for `text` as the header draws it, and as Static draws it."""
    header = app.view.header
    header._fast = _fast_strip(header, text)
    header.refresh()
    await pilot.pause()
    fast = header._fast is not None
    mine = list(header.render_line(0))
    header._fast = None
    Static.update(header, text, layout=False)
    await pilot.pause()
    return fast, mine, list(header.render_line(0))


async def test_the_header_line_is_textuals_line_for_every_status_and_width(tmp_path):
    app = _good_and_bad(tmp_path)
    async with app.run_test(size=(110, 30)) as pilot:
        await wait_loaded(pilot, 2)
        header = app.view.header
        for name in ("good", "bad"):
            app.select(name)
            await pilot.pause()
            for width in (110, 70, 40):
                await pilot.resize_terminal(width, 30)
                await pilot.pause()
                for ago in (0.5, 30.0, 4000.0):
                    header.show(app.states[name], NOW + ago, "events", (1, 2))
                    await pilot.pause()
                    text = header._line_text()
                    fast, mine, textuals = await _header_lines(app, pilot, text)
                    assert mine == textuals, (name, width, ago)
        assert fast  # by then every style of these lines was learned


async def test_a_new_style_a_theme_or_a_selection_falls_back_to_textual(tmp_path):
    write_run(tmp_path / "run", 4, total=10, mtime=NOW - 3)
    app = fixed_app(tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_loaded(pilot, 1)
        header = app.view.header
        text = Text("run  epoch 4 / 10", style="bold")
        text.append(" · written just now", style="dim")
        await _header_lines(app, pilot, text)  # drawn by Textual once: learned
        assert _fast_strip(header, text) is not None
        odd = text.copy()
        odd.append(" · new", style="italic magenta")
        assert _fast_strip(header, odd) is None  # a style never drawn: Textual draws it
        dark_line = list(_fast_strip(header, text)[1])
        app.theme = "textual-light" if app.theme != "textual-light" else "textual-dark"
        await pilot.pause()  # another look: Textual draws the line again, and teaches it
        assert header._styles._key == header._look()
        assert header._look()[1] == app.theme
        fast, mine, textuals = await _header_lines(app, pilot, text)
        assert fast and mine == textuals and mine != dark_line
        too_wide = Text("x" * (header.content_region.width + 1))
        assert _fast_strip(header, too_wide, room=0) is None  # Static cuts it: Textual draws it
        app.screen.selections = {header: Selection(Offset(0, 0), Offset(3, 0))}
        await pilot.pause()
        assert _fast_strip(header, text) is None  # the selection's look is Textual's to draw
        fast, mine, textuals = await _header_lines(app, pilot, text)
        assert not fast and mine == textuals


# --- the header's whole line: padding and filters around the fast line ------------------------


def _textuals_lines(header, crop: Region) -> list[list[Segment]]:
    header._styles_cache.clear()
    return [list(strip) for strip in Static.render_lines(header, crop)]


async def _framed_lines(header, pilot) -> tuple[Region, list[list[Segment]]]:
    """The header's lines once its frame is learned: made by LineFrame, not by Textual."""
    await pilot.pause()
    if header._fast_line() is None:  # a style not learned: Textual drew it, and taught it
        header._pieces = None
        header.tick(header._now)
        await pilot.pause()
    crop = Region(0, 0, *header.region.size)
    header.render_lines(crop)  # Textual's, the first time for this look: the frame is learned
    strip = header._fast_line()
    assert strip is not None
    assert header._frame.lines(header._frame_key(crop), strip) is not None
    return crop, [list(line) for line in header.render_lines(crop)]


async def test_the_header_frame_is_textuals_for_every_width_theme_and_status(tmp_path):
    app = _good_and_bad(tmp_path)
    async with app.run_test(size=(110, 30)) as pilot:
        await wait_loaded(pilot, 2)
        header = app.view.header
        for theme in ("textual-dark", "textual-light"):
            app.theme = theme
            for name in ("good", "bad"):
                app.select(name)
                for width in (110, 70):
                    await pilot.resize_terminal(width, 30)
                    for ago in (0.5, 4000.0):
                        header.show(app.states[name], NOW + ago, "events", (1, 2))
                        crop, mine = await _framed_lines(header, pilot)
                        assert mine == _textuals_lines(header, crop), (theme, name, width, ago)
                        assert sum(s.cell_length for s in mine[0]) == width - 32 * (width > 100)


async def test_the_header_frame_under_no_color_and_a_crop_is_textuals(tmp_path, monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")
    app = _one_run(tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        header = await _shown_header(app, pilot)
        crop, mine = await _framed_lines(header, pilot)
        assert mine == _textuals_lines(header, crop)
        assert all(s.style.color is None or s.style.color.triplet is not None for s in mine[0])
        part = Region(4, 0, crop.width - 10, 1)  # a clipped header: only its visible cells
        header.render_lines(part)
        assert [list(line) for line in header.render_lines(part)] == _textuals_lines(header, part)


async def test_a_border_or_a_tint_leaves_the_header_line_to_textual(tmp_path):
    app = _one_run(tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        header = await _shown_header(app, pilot)
        crop, plain = await _framed_lines(header, pilot)
        header.styles.tint = "red 40%"
        await pilot.pause()
        crop = Region(0, 0, *header.region.size)
        tinted = [list(line) for line in header.render_lines(crop)]
        assert tinted != plain and tinted == _textuals_lines(header, crop)
        assert header._frame.lines(header._frame_key(crop), header._fast_line()) is None
        header.styles.tint = None
        header.styles.padding = (0, 3)
        crop, padded = await _framed_lines(header, pilot)
        assert padded == _textuals_lines(header, crop)
        assert padded[0][0].text == "   "


# --- the line's segments, made in one pass -----------------------------------------------------


def _assembled(*parts: tuple[str, str | Style]) -> Text:
    text = Text(no_wrap=True, overflow="ellipsis", end="")
    for part, style in parts:
        text.append(part, style=style)
    return text


@pytest.mark.parametrize(
    "text",
    [
        _assembled(("● ", "bold green"), ("run", "bold"), ("  ", ""), ("epoch 3", "bold")),
        _assembled((" · ", "dim"), ("events", "dim"), ("x", "")),  # same style, two spans
        _assembled(("plain", ""), (" tail", "italic")),  # a gap first
        _assembled(("a", Style(bold=True)), ("b", Style(color="red", link="https://x"))),
        _assembled(("ünï", "bold"), ("表", "dim"), ("", "red"), ("end", "")),
        Text("no spans at all"),
        Text(""),
        Text("styled line", style="bold"),  # a style of its own: Text.render
    ],
)
def test_line_segments_are_text_renders(text):
    console = Console()
    assert line_segments(text, console) == list(text.render(console, end=""))


def test_overlapping_or_unordered_spans_are_left_to_text_render():
    console = Console()
    text = Text("abcdef")
    text.stylize("bold", 0, 4)
    text.stylize("red", 2, 6)  # overlaps the first
    assert line_segments(text, console) == list(text.render(console, end=""))
    backwards = Text("abcdef", spans=[Span(3, 6, "bold"), Span(0, 2, "dim")])
    assert line_segments(backwards, console) == list(backwards.render(console, end=""))
    past_end = Text("abc", spans=[Span(1, 9, "bold")])
    assert line_segments(past_end, console) == list(past_end.render(console, end=""))


async def test_line_segments_of_every_header_are_text_renders(tmp_path):
    app = _good_and_bad(tmp_path)
    async with app.run_test(size=(110, 30)) as pilot:
        await wait_loaded(pilot, 2)
        for name in ("good", "bad"):
            for width in (110, 60, 30, None):
                for ago in (0.5, 4000.0):
                    text = header_text(app.states[name], NOW + ago, "events", (1, 2), width=width)
                    assert line_segments(text, app.console) == list(
                        text.render(app.console, end="")
                    )
                    pieces = header_pieces(
                        app.states[name], NOW + ago, "events", (1, 2), width=width
                    )
                    if width is None or text.cell_len < width:  # not cut to the width
                        assert pieces_text(pieces) == text
                        assert pieces_segments(pieces, app.console) == list(
                            text.render(app.console, end="")
                        )


#: What a header piece may hold: names are made printable (no control characters) first.
_PRINTABLE = st.characters(blacklist_categories=("Cc", "Cs"))
_PIECE_STYLES = st.sampled_from(["", "bold", "dim", "bold green", "italic magenta"])


@given(st.lists(st.tuples(st.text(_PRINTABLE, max_size=4), _PIECE_STYLES), max_size=8))
def test_pieces_make_the_segments_their_text_renders_to(pieces):
    """Empty pieces, unstyled ones in a row, the same style twice: as Rich renders them."""
    console = Console()
    text = pieces_text(pieces)
    assert pieces_segments(pieces, console) == list(text.render(console, end=""))
    assert text.plain == "".join(piece for piece, _ in pieces)
