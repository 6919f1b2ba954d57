"""The header's new line written at once (paint_now) is the line Textual's compositor draws
there, and it is written only when a frame would draw exactly that: otherwise the header
is refreshed as before."""

from __future__ import annotations

from contextlib import asynccontextmanager
from dataclasses import replace

from textual.strip import Strip
from textual.widgets import Static
from tui_fixtures.support import copy_fixtures, fixed_app, wait_for, wait_loaded

from metricwatch.tui.app import MetricwatchApp
from metricwatch.tui.messages import RunsLoaded
from metricwatch.tui.widgets import paint_now as paint_module
from metricwatch.tui.widgets.paint_now import can_write, layout_update, paint_now

SIZES = [(120, 40), (97, 30), (64, 24)]


def _cells(strip: Strip) -> list[tuple[str, object]]:
    """Each cell's character and style, however the strip is cut into segments."""
    cells = []
    for segment in strip.discard_meta():
        cells.extend((char, segment.style) for char in segment.text)
    return cells


def _drawn_row(app: MetricwatchApp, region) -> Strip:
    """The header's row as Textual's compositor draws the whole screen now."""
    row = app.screen._compositor.render_strips()[region.y]
    return row.crop(region.x, region.right)


def _newer(state, step_gain: int = 1):
    return replace(
        state,
        version=state.version + 1,
        summary=replace(state.summary, epochs=state.summary.epochs + step_gain),
    )


@asynccontextmanager
async def _ready(tmp_path, size=(120, 40)):
    """The monitor on the sample runs, a first write shown and the header's line ready to
    be written at once: (app, pilot, header)."""
    app = fixed_app(copy_fixtures(tmp_path))
    async with app.run_test(size=size) as pilot:
        await wait_loaded(pilot, 2)
        await _live(pilot)
        await _header_ready(pilot)
        yield app, pilot, app.view.header


async def _header_ready(pilot) -> None:
    """The header's line is drawn from its learned frame (what paint_now writes)."""
    header = pilot.app.view.header
    await wait_for(
        pilot, lambda: layout_update(header, header._frame_lines) is not None, timeout=5.0
    )


async def _live(pilot, gain: int = 1):
    """A write to the selected run (its epochs grown by `gain`), shown: its state. The
    header's line is made from learned styles from the first change after its first draw
    on (the app's clock is fixed here: only writes change it)."""
    app = pilot.app
    state = _newer(app.states[app.selected], gain)
    app.post_message(RunsLoaded([state]))
    await wait_for(pilot, lambda: app.view.state is state)
    return state


async def test_the_update_is_the_row_textual_draws_at_each_size_and_offset(tmp_path):
    for size in SIZES:
        app = fixed_app(copy_fixtures(tmp_path / f"{size[0]}"))
        async with app.run_test(size=size) as pilot:
            await wait_loaded(pilot, 2)
            await _live(pilot)
            header = app.view.header
            for gain in (1, 7, 40):
                await _live(pilot, gain)
                await _header_ready(pilot)
                update = layout_update(header, header._frame_lines)
                region = app.screen._compositor.visible_widgets[header][0]
                assert update.region == region
                assert len(update.strips) == 1
                (strip,) = update.strips[0]
                assert strip.cell_length == region.width
                assert _cells(strip) == _cells(_drawn_row(app, region))
                assert f"epoch {app.states[app.selected].summary.epochs}" in strip.text


async def test_the_header_next_to_the_runs_list_is_placed_where_textual_draws_it(tmp_path):
    async with _ready(tmp_path, (140, 40)) as (app, _, header):
        region = app.screen._compositor.visible_widgets[header][0]
        assert region.x > 1  # beside the list: an x offset other than 0 and 1
        update = layout_update(header, header._frame_lines)
        assert update.region.x == region.x and update.region.y == region.y
        assert _cells(update.strips[0][0]) == _cells(_drawn_row(app, region))


async def test_anything_drawn_over_the_header_leaves_it_to_textual(tmp_path):
    async with _ready(tmp_path) as (app, pilot, header):
        region = header.region
        cover = Static("over the header")
        cover.styles.overlay = "screen"
        cover.styles.position = "absolute"
        cover.styles.width = 5
        cover.styles.height = 1
        cover.styles.offset = (region.right - 3, region.y)  # over its last three cells
        await app.screen.mount(cover)
        await pilot.pause()
        assert header in app.screen._compositor.visible_widgets
        assert layout_update(header, header._frame_lines) is None
        cover.styles.offset = (region.x, region.y + 1)  # the row below: no longer over it
        await pilot.pause()
        await _header_ready(pilot)
        await cover.remove()
        await pilot.pause()
        await _header_ready(pilot)


async def test_a_header_cut_by_its_container_leaves_it_to_textual(tmp_path):
    """Only a header whole on screen is written: a cut one is the compositor's to crop."""
    async with _ready(tmp_path) as (app, _pilot, header):
        compositor = app.screen._compositor
        visible = compositor.visible_widgets
        region, clip = visible[header]
        assert clip.contains_region(region)
        cut = region.crop_size((region.width - 1, region.height))  # its last cell hidden
        compositor._visible_widgets = {**visible, header: (region, cut)}
        assert layout_update(header, header._frame_lines) is None
        compositor._visible_widgets = {**visible, header: (region, region)}  # exactly whole
        assert layout_update(header, header._frame_lines) is not None


async def test_a_layout_under_way_leaves_the_header_to_textual(tmp_path):
    """While a new layout is due, where the header will be is not known yet."""
    async with _ready(tmp_path) as (app, pilot, header):
        app.screen._layout_required = True
        assert layout_update(header, header._frame_lines) is None
        app.screen.refresh(layout=True)  # the layout done
        await wait_for(pilot, lambda: not app.screen._layout_required)
        await _header_ready(pilot)


async def test_a_screen_over_the_main_one_leaves_the_header_to_textual(tmp_path):
    async with _ready(tmp_path) as (app, pilot, header):
        await pilot.press("question_mark")  # the help screen
        await wait_for(pilot, lambda: app.screen is not header.screen)
        assert layout_update(header, header._frame_lines) is None
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is header.screen)
        await _header_ready(pilot)


async def test_lines_the_caller_cannot_give_leave_the_header_to_textual(tmp_path):
    async with _ready(tmp_path) as (_, _pilot, header):
        asked = []
        assert layout_update(header, lambda crop: asked.append(crop)) is None  # None: no lines
        assert asked == [header.region.reset_offset]  # asked for its whole region
        assert layout_update(header, lambda crop: []) is None  # fewer lines than its height


async def test_written_through_textuals_display_and_not_refreshed(tmp_path, monkeypatch):
    """With a terminal to write to, a write's new line goes out at once and the header is not
    left to the next frame; in a batched update, or headless, it is refreshed as before."""
    async with _ready(tmp_path) as (app, pilot, header):
        assert not can_write(header)  # headless: nothing would reach a terminal
        monkeypatch.setattr(MetricwatchApp, "is_headless", property(lambda self: False))
        assert can_write(header)
        written = []
        monkeypatch.setattr(app, "_display", lambda screen, update: written.append(update))
        region = app.screen._compositor.visible_widgets[header][0]

        state = await _live(pilot, 3)
        mine = [u for u in written if getattr(u, "region", None) == region]
        assert len(mine) == 1
        assert f"epoch {state.summary.epochs}" in mine[0].strips[0][0].text
        assert not header._repaint_required  # no frame asked for

        with app.batch_update():
            assert not can_write(header)
            assert not paint_now(header, header._frame_lines)
        monkeypatch.setattr(MetricwatchApp, "is_headless", property(lambda self: True))
        written.clear()
        state = await _live(pilot, 2)
        assert [u for u in written if getattr(u, "region", None) == region] == []
        await _header_ready(pilot)
        assert f"epoch {state.summary.epochs}" in _drawn_row(app, region).text


def test_a_textual_without_the_update_class_is_left_to_refresh(monkeypatch):
    monkeypatch.setattr(paint_module, "LayoutUpdate", None)
    assert paint_module.layout_update(object(), lambda crop: []) is None  # type: ignore[arg-type]
