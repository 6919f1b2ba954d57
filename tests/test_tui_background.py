"""The containers drawn as their background alone give the lines Textual draws, segment for
segment, in every theme and filter; a look of their own (a border, a title) is Textual's."""

from __future__ import annotations

from textual.geometry import Region
from textual.widget import Widget
from tui_fixtures.support import NOW, fixed_app, wait_loaded, write_run

from metricwatch.tui.widgets.background import BackgroundOnly, BackgroundScreen, _plain


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
    widgets = _backgrounds(app)
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
