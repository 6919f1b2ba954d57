"""`f` follow, and the selection, marks, smoothing, axis and filter remembered per PATH."""

from __future__ import annotations

import json
import os
import time

from tui_fixtures.support import epoch_record, fixed_app, wait_for, wait_loaded, write_run

from metricwatch.tui.state_file import SavedView, load_view, save_view
from metricwatch.tui.view_options import ViewOptions

WIDE = (120, 40)


def runs(tmp_path):
    root = tmp_path / "runs"
    now = time.time()
    write_run(root / "a", 5, mtime=now - 300)
    write_run(root / "b", 6, mtime=now - 200)
    doc = write_run(root / "c", 7, mtime=now - 100)
    return root, doc


def remembering_app(root, file):
    app = fixed_app(root, now=time.time())
    app.remember_in = file
    return app


async def test_following_selects_the_run_written_last_until_the_user_moves(tmp_path):
    root, _ = runs(tmp_path)
    app = fixed_app(root, now=time.time())
    async with app.run_test(size=WIDE) as pilot:
        await wait_loaded(pilot, 3)
        await wait_for(pilot, lambda: app.selected == "c")
        assert "following" in app.view.header.plain
        doc_a = write_run(root / "a", 8)  # a is now the most recently written
        os.utime(doc_a.path, (time.time() + 5, time.time() + 5))
        app.action_reload()
        await wait_for(pilot, lambda: app.selected == "a")
        await pilot.press("j")
        assert not app.following
        assert "following" not in app.view.header.plain
        await pilot.press("f")  # on again: the latest is selected at once
        assert app.following and app.selected == "a"
        await pilot.press("f")
        assert not app.following


def test_a_broken_or_foreign_state_file_is_ignored(tmp_path):
    file = tmp_path / "state" / "views.json"
    file.parent.mkdir()
    for content in ("{not json", "[1, 2]", json.dumps({str(tmp_path): 3}), ""):
        file.write_text(content)
        assert load_view(tmp_path, file) == SavedView()
    file.write_text(
        json.dumps({str(tmp_path.resolve()): {"smoothing": 0.7, "zoom": 99, "marks": [1, "b"]}})
    )
    saved = load_view(tmp_path, file)
    assert saved.options == ViewOptions()  # 0.7 is not a weight offered, 99 not a zoom
    assert saved.marks == ["b"]


def test_a_saved_view_reads_back_and_other_paths_are_kept(tmp_path):
    file = tmp_path / "views.json"
    view = SavedView("b", ["a", "c"], ViewOptions(0.95, True, False, 2, "wall"), "ru", False)
    save_view(tmp_path / "one", view, file)
    save_view(tmp_path / "two", SavedView(), file)
    assert load_view(tmp_path / "one", file) == view
    assert load_view(tmp_path / "two", file) == SavedView()
    assert load_view(tmp_path / "three", file) == SavedView()


async def test_selection_marks_smoothing_axis_and_filter_come_back_after_a_restart(tmp_path):
    root, _ = runs(tmp_path)
    file = tmp_path / "state" / "views.json"
    app = remembering_app(root, file)
    async with app.run_test(size=WIDE) as pilot:
        await wait_loaded(pilot, 3)
        await wait_for(pilot, lambda: app.selected == "c")
        names = app.run_list.names  # c first: it was selected, so read first
        await pilot.press("j", "space", "j", "space")  # marks the other two; selects the last
        await pilot.press("s", "s", "y")
        await pilot.press("slash", *names[2])
        await pilot.press("enter")
    saved = json.loads(file.read_text())[str(root.resolve())]
    assert saved["selected"] == names[2] and saved["marks"] == names[1:]
    assert saved["smoothing"] == 0.8 and saved["log_y"] is True
    assert saved["filter"] == names[2] and saved["following"] is False
    app = remembering_app(root, file)
    async with app.run_test(size=WIDE) as pilot:
        await wait_loaded(pilot, 3)
        await wait_for(pilot, lambda: app.view.marks.names == names[1:])
        assert app.selected == names[2]
        assert not app.following
        assert "smooth 0.8" in app.view.header.plain and "log y" in app.view.header.plain
        assert app.query_one("#filter").value == names[2]
        assert app.run_list.names == [names[2]]
        assert app.view.compared is not None


async def test_a_broken_state_file_starts_with_the_defaults(tmp_path):
    root, _ = runs(tmp_path)
    file = tmp_path / "views.json"
    file.write_text("\x00garbage{")
    app = remembering_app(root, file)
    async with app.run_test(size=WIDE) as pilot:
        await wait_loaded(pilot, 3)
        await wait_for(pilot, lambda: app.selected == "c")
        assert app.following and app.view.options == ViewOptions()
        await pilot.press("s")
    assert json.loads(file.read_text())[str(root.resolve())]["smoothing"] == 0.6


async def test_zoom_while_live_data_arrives_keeps_following(tmp_path):
    root, doc = runs(tmp_path)
    app = fixed_app(root, now=time.time())
    async with app.run_test(size=WIDE) as pilot:
        await wait_loaded(pilot, 3)
        await wait_for(pilot, lambda: app.selected == "c")
        await pilot.press("left_square_bracket")
        for epoch in range(8, 16):
            doc.put(epoch_record(epoch))
        doc.write()
        app.action_reload()
        await wait_for(pilot, lambda: app.states["c"].epochs_done == 15)
        slot = app.view.slots[0]
        await wait_for(pilot, lambda: slot.drawn_layout and slot.drawn_layout.x.hi == 15.0)
        assert slot.drawn_layout.x.lo == 8.0
        assert app.selected == "c" and app.following
