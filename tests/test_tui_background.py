"""The containers drawn as their background alone give the lines Textual draws, segment for
segment, in every theme and filter; a look of their own (a border, a title) is Textual's."""

from __future__ import annotations

from textual.geometry import Region
from textual.widget import Widget
from tui_fixtures.support import NOW, fixed_app, wait_loaded, write_run

from metricwatch.tui.widgets.background import BackgroundOnly, BackgroundScreen, KeptLines, _plain


def _backgrounds(app) -> list[Widget]:
    found = [app.screen, *app.screen.walk_children()]
    return [
        widget
        for widget in found
        if isinstance(widget, BackgroundOnly) and widget.display and widget.size.area
    ]


def _textuals(widget: Widget, crop: Region) -> list[list]:
    """The widget's lines as Textual's own render_lines draws them."""
    widget._styles_cache.clear()
    return [list(strip) for strip in Widget.render_lines(widget, crop)]


def _mine(widget: Widget, crop: Region) -> list[list]:
    return [list(strip) for strip in widget.render_lines(crop)]


async def _assert_same(app, pilot) -> set[str]:
    await pilot.pause()
    # The sidebar has a border of its own: Textual draws it (KeptLines, tested below).
    widgets = [widget for widget in _backgrounds(app) if widget.id != "sidebar"]
    assert {type(w).__name__ for w in widgets} >= {
        "BackgroundScreen",
        "BackgroundHorizontal",
        "RunView",
        "BackgroundGrid",
        "BackgroundContainer",
        "BackgroundFooter",
    }
    assert all(_plain(widget) for widget in widgets)  # each drawn here, not by Textual
    styles = set()
    for widget in widgets:
        width, height = widget.size
        for crop in (Region(0, 0, width, height), Region(3, 1, width - 5, 2)):
            mine = _mine(widget, crop)
            assert mine == _textuals(widget, crop), (type(widget).__name__, crop)
            assert _mine(widget, crop) == mine  # and again, from the memo
        styles.add(str(mine[0][0].style))
    return styles


async def test_background_lines_are_textuals_in_every_theme_and_after_a_switch(tmp_path):
    write_run(tmp_path / "run", 6, total=10, mtime=NOW - 3)
    app = fixed_app(tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_loaded(pilot, 1)
        assert isinstance(app.screen, BackgroundScreen)
        # Textual's CSS (Footer's dock, Grid's layout) still finds them by their type names.
        assert type(app.query_one("Grid")).__name__ == "BackgroundGrid"
        assert app.query_one("Footer").region == Region(0, 39, 120, 1)  # docked at the bottom
        seen = []
        for theme in ("textual-dark", "textual-light", "nord", "textual-dark"):
            app.theme = theme
            seen.append(await _assert_same(app, pilot))
        assert seen[0] != seen[1] != seen[2]  # each theme its own background
        assert seen[3] == seen[0]
        app.ansi_color = True  # the terminal's own colours: no truecolor filter
        await _assert_same(app, pilot)


async def test_background_lines_are_filtered_as_textual_filters_them(tmp_path, monkeypatch):
    """NO_COLOR's filter (greys, in truecolor) applies to the background too."""
    monkeypatch.setenv("NO_COLOR", "1")
    write_run(tmp_path / "run", 6, total=10, mtime=NOW - 3)
    app = fixed_app(tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_loaded(pilot, 1)
        await _assert_same(app, pilot)
        for widget in _backgrounds(app):
            segment = widget.render_lines(Region(0, 0, *widget.size))[0]._segments[0]
            red, green, blue = segment.style.bgcolor.triplet
            assert red == green == blue, type(widget).__name__


async def test_a_container_given_a_look_of_its_own_is_drawn_by_textual(tmp_path):
    write_run(tmp_path / "run", 6, total=10, mtime=NOW - 3)
    app = fixed_app(tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_loaded(pilot, 1)
        bottom = app.query_one("#bottom")
        crop = Region(0, 0, *bottom.size)
        plain = _mine(bottom, crop)
        bottom.styles.border = ("round", "red")
        await pilot.pause()
        bordered = _mine(bottom, crop)
        assert not _plain(bottom)
        assert bordered != plain and bordered == _textuals(bottom, crop)
        assert "╭" in bordered[0][0].text
        bottom.styles.border = None
        bottom.border_title = "totals"
        await pilot.pause()
        assert _mine(bottom, crop) == _textuals(bottom, crop)
        bottom.border_title = None
        bottom.styles.padding = (1, 2)
        await pilot.pause()
        assert _mine(bottom, crop) == _textuals(bottom, crop)
        bottom.styles.padding = 0
        await pilot.pause()
        assert _mine(bottom, crop) == plain


def _two_runs(tmp_path):
    """The app on a folder of two runs: the runs list (and its sidebar) shown."""
    write_run(tmp_path / "a", 6, total=10, mtime=NOW - 3)
    write_run(tmp_path / "b", 4, total=10, mtime=NOW - 3)
    return fixed_app(tmp_path)


async def _sidebar(app, pilot) -> Widget:
    await wait_loaded(pilot, 2)
    return app.query_one("#sidebar")


def _sidebar_lines_are_textuals(sidebar: Widget) -> list[list]:
    """The sidebar's lines, in two crops, are Textual's, and kept once drawn; the whole."""
    width, height = sidebar.outer_size  # its border included
    whole = Region(0, 0, width, height)
    for crop in (Region(2, 3, width - 2, 4), whole):
        mine = _mine(sidebar, crop)
        assert mine == _textuals(sidebar, crop), crop
        # Textual drew them again (its cache was cleared): those are kept from now on.
        assert _mine(sidebar, crop) == mine
        assert sidebar.render_lines(crop) is sidebar.render_lines(crop)
    return mine


async def test_a_bordered_container_keeps_textuals_lines_while_textual_would_draw_the_same(
    tmp_path,
):
    """The runs list's sidebar has a border: Textual draws it, and its lines are kept (the
    same list handed back) until Textual's own cache of them changes."""
    app = _two_runs(tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        sidebar = await _sidebar(app, pilot)
        assert isinstance(sidebar, KeptLines) and not _plain(sidebar)
        crop = Region(0, 0, *sidebar.outer_size)
        first = sidebar.render_lines(crop)
        assert [list(s) for s in first] == _textuals(sidebar, crop)
        assert sidebar.render_lines(crop) is not first  # Textual drew it again: new strips
        dark = _sidebar_lines_are_textuals(sidebar)
        app.theme = "textual-light"  # a new look: drawn again
        await pilot.pause()
        light = _sidebar_lines_are_textuals(sidebar)
        assert light != dark
        sidebar.styles.border = ("round", "green")  # a style of its own changed
        await pilot.pause()
        bordered = _sidebar_lines_are_textuals(sidebar)
        assert "╭" in bordered[0][0].text
        sidebar.border_title = "runs"  # a title: Textual refreshes the container
        await pilot.pause()
        titled = _sidebar_lines_are_textuals(sidebar)
        assert "runs" in "".join(segment.text for segment in titled[0])
        assert titled[1:] == bordered[1:]
        sidebar.styles.border_right = ("heavy", "red")
        await pilot.pause()
        assert _sidebar_lines_are_textuals(sidebar) != titled
        kept = sidebar.render_lines(crop)
        sidebar.refresh()  # Textual's cache cleared: never the kept lines
        assert sidebar.render_lines(crop) is not kept
        await pilot.resize_terminal(140, 30)
        await pilot.pause()
        assert sidebar.outer_size.height == 29
        _sidebar_lines_are_textuals(sidebar)


async def test_kept_lines_follow_the_line_filters(tmp_path):
    """A filter that comes (the ANSI theme's) is part of what the lines were kept for."""
    app = _two_runs(tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        sidebar = await _sidebar(app, pilot)
        _sidebar_lines_are_textuals(sidebar)
        crop = Region(0, 0, *sidebar.outer_size)
        kept, filters = sidebar.render_lines(crop), list(sidebar.get_line_filters())
        app.ansi_color = True  # the terminal's own colours: the truecolor filter goes
        await pilot.pause()
        assert list(sidebar.get_line_filters()) != filters
        assert sidebar.render_lines(crop) is not kept
        _sidebar_lines_are_textuals(sidebar)
