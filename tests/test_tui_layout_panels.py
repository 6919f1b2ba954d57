"""Every layout from 80x24 up: readable panels, `l` at every width, notices that do not move
the charts, toasts that cover no panel, a keys help that Esc closes, help and README in step."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from tui_fixtures.support import NOW, copy_fixtures, fixed_app, wait_for, wait_loaded, write_run

from metricwatch.tui import app as app_module
from metricwatch.tui.screens.help import EXTRA_KEYS, HelpScreen

README = Path(__file__).parent.parent / "README.md"
#: The narrowest a panel may be and still read (findings wrap to about 25 cells of text).
READABLE = 30
SIZES = [(80, 24), (100, 30), (120, 40), (160, 50), (200, 60)]


def panels(app):
    view = app.view
    shown = [slot for slot in view.slots if slot.display]
    return {"summary": view.summary, "findings": view.findings, **dict(enumerate(shown))}


def set_list(pilot, shown: bool):
    app = pilot.app
    if app.screen.has_class("-list") != shown:
        return pilot.press("l")
    return pilot.pause()


# --- 2. readable widths ---------------------------------------------------------------------


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("show_list", [False, True])
async def test_every_visible_panel_has_a_readable_width(tmp_path, size, show_list):
    """At 80x24 with the runs list shown the findings panel was 6 columns wide (the summary
    kept a fixed 44) and broke every word."""
    app = fixed_app(copy_fixtures(tmp_path))
    async with app.run_test(size=size) as pilot:
        await wait_loaded(pilot, 2)
        await pilot.press("j")  # the overfitting run: a finding with long text
        await set_list(pilot, show_list)
        await pilot.pause(0.1)
        for name, widget in panels(app).items():
            assert widget.display
            assert widget.size.width >= READABLE, (name, widget.size)
            assert widget.size.height >= 3, (name, widget.size)
        # Nothing overlaps and nothing leaves the screen.
        regions = [widget.region for widget in panels(app).values()]
        screen = app.screen.region
        for index, region in enumerate(regions):
            assert screen.contains_region(region)
            for other in regions[index + 1 :]:
                assert not region.overlaps(other)
        assert "Val loss diverges" in app.view.findings.plain


async def test_findings_beside_the_list_at_80x24_are_stacked_above_the_summary(tmp_path):
    app = fixed_app(copy_fixtures(tmp_path))
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_loaded(pilot, 2)
        await pilot.press("j", "l")
        await pilot.pause(0.1)
        findings, summary = app.view.findings.region, app.view.summary.region
        assert findings.width == summary.width == app.view.size.width
        assert findings.bottom <= summary.y  # findings first: what is wrong comes first


# --- 3. `l` at every width -------------------------------------------------------------------


@pytest.mark.parametrize("width", [80, 99, 100, 120, 200])
async def test_l_shows_and_hides_the_runs_list_at_every_width(tmp_path, width):
    """`l` did nothing from 100 columns: the list was shown by a CSS rule it never touched."""
    app = fixed_app(copy_fixtures(tmp_path))
    async with app.run_test(size=(width, 30)) as pilot:
        await wait_loaded(pilot, 2)
        sidebar = app.query_one("#sidebar")
        first = sidebar.display
        assert first == (width >= 100)  # the default for the width
        view_width = app.view.size.width
        await pilot.press("l")
        await pilot.pause(0.1)
        assert sidebar.display != first
        assert app.view.size.width != view_width  # the run view takes or gives the room
        await pilot.press("l")
        await pilot.pause(0.1)
        assert sidebar.display == first
        assert app.view.size.width == view_width


async def test_the_l_choice_holds_across_resizes_and_focus_never_stays_on_a_hidden_list(
    tmp_path,
):
    app = fixed_app(copy_fixtures(tmp_path))
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_loaded(pilot, 2)
        sidebar = app.query_one("#sidebar")
        assert app.focused is app.run_list
        await pilot.press("l")
        assert not sidebar.display and app.focused is None
        await pilot.press("j")  # keys still switch runs with the list hidden
        assert "vit-overfit" in app.view.header.plain
        await pilot.resize_terminal(80, 24)
        await pilot.resize_terminal(130, 40)
        await pilot.pause(0.1)
        assert not sidebar.display  # the user's choice, not the width's default
        await pilot.press("l")
        assert sidebar.display and app.focused is app.run_list


async def test_a_hidden_list_is_not_focused_at_start_or_after_the_filter(tmp_path):
    app = fixed_app(copy_fixtures(tmp_path))
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_loaded(pilot, 2)
        assert app.focused is None
        await pilot.press("slash", "v")
        assert app.query_one("#sidebar").display  # filtering shows the list
        await pilot.press("escape")
        await pilot.pause()
        assert not app.query_one("#sidebar").display and app.focused is None


# --- 4. notices never move the charts ---------------------------------------------------------


def _truncated_run(directory: Path, epochs: int) -> None:
    """A run whose metrics.json ends mid-document: `epochs` complete records kept."""
    doc = write_run(directory, epochs + 1)
    text = doc.path.read_text()
    doc.path.write_text(text[: text.rindex('"epoch": ' + str(epochs + 1)) + 12])
    os.utime(doc.path, (NOW - 60, NOW - 60))


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
@pytest.mark.parametrize("show_list", [False, True])
async def test_a_notice_does_not_move_the_charts(tmp_path, monkeypatch, size, show_list):
    """The notice line sat above the charts and pushed them down by up to 4 rows whenever a
    file was half-written, then pulled them back up at the next complete write."""
    # The notice comes once the damage grace is over: a shorter grace, the same notice.
    monkeypatch.setattr(app_module, "DAMAGE_GRACE_S", 0.4)
    root = tmp_path / "runs"
    write_run(root / "a-good", 6, mtime=NOW - 10)
    _truncated_run(root / "b-half-written", 6)
    app = fixed_app(root)
    async with app.run_test(size=size) as pilot:
        await wait_loaded(pilot, 2)
        await set_list(pilot, show_list)
        await pilot.pause(0.1)
        assert not app.view.notice.display

        def charts():
            return [(slot.spec.id, slot.region) for slot in app.view.slots if slot.display]

        before = charts()
        assert before
        header = app.view.header.region
        await pilot.press("j")
        await wait_for(pilot, lambda: app.view.notice.display)
        await pilot.pause(0.1)
        notice = app.view.notice
        assert "showing the last good data (6 epochs)" in str(notice.render())
        assert app.screen.region.contains_region(notice.region)  # on screen, not scrolled away
        assert charts() == before
        assert app.view.header.region == header


# --- 5. toasts, the palette's keys panel ------------------------------------------------------


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
@pytest.mark.parametrize("show_list", [False, True])
async def test_the_reload_toast_covers_no_panel_and_no_key_hint(tmp_path, size, show_list):
    """The toast was a 3-line box above the footer, on the findings panel's border."""
    app = fixed_app(copy_fixtures(tmp_path))
    async with app.run_test(size=size, notifications=True) as pilot:
        await wait_loaded(pilot, 2)
        await set_list(pilot, show_list)
        await pilot.press("r")
        await wait_for(pilot, lambda: bool(app.screen.query("Toast")))
        await pilot.pause(0.1)
        (toast,) = app.screen.query("Toast")
        assert "reloading 2 runs" in str(toast.render())
        covered = [*panels(app).values(), app.view.header, app.query_one("#sidebar")]
        for widget in covered:
            if widget.display:
                assert not toast.region.overlaps(widget.region), widget
        for key in app.screen.query("FooterKey"):
            if not key.has_class("-command-palette"):
                assert not toast.region.overlaps(key.region), key


def _palette_titles(app) -> list[str]:
    return [command.title for command in app.get_system_commands(app.screen)]


async def test_the_palette_offers_the_help_screen_not_textuals_keys_panel(tmp_path):
    """Textual's "Keys" panel docked beside the view, squeezing it, and Esc did not close it."""
    app = fixed_app(copy_fixtures(tmp_path))
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_loaded(pilot, 2)
        assert "Keys" not in _palette_titles(app)
        charts = [slot.region for slot in app.view.slots if slot.display]
        await pilot.press("ctrl+p")
        await pilot.press(*"keys")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen))
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, HelpScreen))
        assert not app.screen.query("HelpPanel")
        assert [slot.region for slot in app.view.slots if slot.display] == charts


# --- 6. help and README agree with the bindings ---------------------------------------------

#: How the README writes a binding's key.
_README_KEYS = {
    "down": "↓",
    "up": "↑",
    "slash": "/",
    "question_mark": "?",
    "escape": "Esc",
    "left_square_bracket": "[",
    "right_square_bracket": "]",
    "space": "Space",
}


def _readme_key_table() -> str:
    text = README.read_text(encoding="utf-8")
    start = text.index("| key | does |")
    return text[start : text.index("\n\n", start)]


def test_readme_key_table_and_help_screen_cover_every_binding():
    from metricwatch.tui.app import MetricwatchApp
    from metricwatch.tui.screens.help import help_table

    table = _readme_key_table()
    cells = set(re.findall(r"`([^`]+)`", table))
    help_text = str(help_table(list(MetricwatchApp.BINDINGS)).columns[0]._cells)
    for binding in MetricwatchApp.BINDINGS:
        for key in binding.key.split(","):
            assert _README_KEYS.get(key, key) in cells, (key, "README key table")
        assert binding.tooltip, binding  # the help screen's line
    for shown in ("j / down", "k / up", "/", "m", "l", "r", "?", "q", "esc"):
        assert shown in help_text
    extra = {key for key, _ in EXTRA_KEYS}
    assert {"tab / shift+tab", "ctrl+p"} <= extra
    assert {"Tab", "Shift+Tab", "Ctrl+P"} <= cells
