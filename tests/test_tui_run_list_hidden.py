"""A hidden runs list leaves its changed rows for when it is shown: an epoch run's row
changes at every write, and a replaced prompt repaints the list."""

from __future__ import annotations

from textual.widgets import OptionList
from tui_fixtures.support import NOW, fixed_app, wait_for, wait_loaded, write_run

from metricwatch.tui.widgets import run_list as run_list_module
from metricwatch.tui.widgets.run_list import RunList, row


def _prompt(app, name: str) -> str:
    return str(app.run_list.get_option(name).prompt)


def _spy(monkeypatch) -> list[str]:
    replaced: list[str] = []
    original = OptionList.replace_option_prompt

    def spy(self, option_id, prompt):
        replaced.append(option_id)
        return original(self, option_id, prompt)

    monkeypatch.setattr(RunList, "replace_option_prompt", spy)
    return replaced


def _two_runs(tmp_path):
    """The app on two runs of 6 epochs (of 50): the runs list shown."""
    write_run(tmp_path / "a", 6, mtime=NOW - 5)
    write_run(tmp_path / "b", 6, mtime=NOW - 9)
    return fixed_app(tmp_path)


async def _grow(app, pilot, root, name: str, epochs: int) -> None:
    write_run(root / name, epochs, mtime=NOW - 1)
    app.action_reload()
    await wait_for(pilot, lambda: app.states[name].summary.epochs == epochs)


async def test_rows_changed_while_hidden_are_shown_as_they_are_now(tmp_path, monkeypatch):
    app = _two_runs(tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_loaded(pilot, 2)
        assert "6/50" in _prompt(app, "a")
        width = app.run_list._width
        replaced = _spy(monkeypatch)

        await _grow(app, pilot, tmp_path, "a", 7)  # shown: the row is replaced at once
        assert replaced == ["a"] and "7/50" in _prompt(app, "a")

        await pilot.press("l")  # hidden
        await pilot.pause()
        assert not app.run_list.region.area
        replaced.clear()
        made: list[str] = []
        original_row = run_list_module.row
        monkeypatch.setattr(
            run_list_module,
            "row",
            lambda state, *a: made.append(state.name) or original_row(state, *a),
        )
        await _grow(app, pilot, tmp_path, "a", 9)
        await _grow(app, pilot, tmp_path, "b", 8)
        app._check_status()  # the 5 s re-check of every run's mark
        assert replaced == []  # nothing repainted while hidden
        assert made == []  # nor any row made
        assert "7/50" in _prompt(app, "a") and "6/50" in _prompt(app, "b")
        assert app.run_list._width == width  # no width of its own while hidden

        await pilot.press("l")  # shown again: the rows as they are now
        await wait_for(pilot, lambda: "9/50" in _prompt(app, "a"))
        assert sorted(replaced) == ["a", "b"]
        assert {"a", "b"} <= set(made)  # made when shown
        for name in ("a", "b"):
            state = app.states[name]
            assert _prompt(app, name) == str(row(state, app.clock(), width))
        replaced.clear()
        await pilot.pause()
        assert replaced == []  # each once


async def test_a_run_removed_while_hidden_is_not_shown_again(tmp_path, monkeypatch):
    app = _two_runs(tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_loaded(pilot, 2)
        await pilot.press("l")
        await pilot.pause()
        await _grow(app, pilot, tmp_path, "b", 8)
        app.run_list.remove(["b"])
        replaced = _spy(monkeypatch)
        await pilot.press("l")
        await pilot.pause()
        assert replaced == [] and app.run_list.names == ["a"]
