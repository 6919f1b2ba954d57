"""The `t` runs table: every run a row, differing hyperparameters as columns, sort, filter,
open, mark."""

from __future__ import annotations

from tui_fixtures.support import fixed_app, wait_for, wait_loaded

from metricwatch.tui.app import MetricwatchApp
from metricwatch.tui.screens.runs_table import RunsTableScreen
from metricwatch.watch import choose_mode
from metricwatch.writer import MetricsDocument

WIDE = (120, 40)


def table_rows(screen: RunsTableScreen) -> list[list[str]]:
    data = screen.data_table
    return [[str(c) for c in data.get_row_at(i)] for i in range(data.row_count)]


async def open_table(pilot) -> RunsTableScreen:
    await pilot.press("t")
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, RunsTableScreen))
    return pilot.app.screen


def config_runs(tmp_path):
    from tui_fixtures.support import epoch_record

    root = tmp_path / "runs"
    for name, lr, epochs in (("alpha", 0.1, 12), ("beta", 0.01, 30), ("gamma", 0.001, 20)):
        doc = MetricsDocument(root / name, {"total_epochs": 50, "config": {"lr": lr, "bs": 64}})
        for epoch in range(1, epochs + 1):
            doc.put(epoch_record(epoch))
        doc.write()
    return root


async def test_t_lists_every_run_with_the_differing_hyperparameters(tmp_path):
    app = fixed_app(config_runs(tmp_path))
    async with app.run_test(size=WIDE) as pilot:
        await wait_loaded(pilot, 3)
        screen = await open_table(pilot)
        columns = list(screen.table.columns)
        assert columns == [
            "",
            "run",
            "format",
            "progress",
            "best val_loss",
            "train loss",
            "val loss",
            "findings",
            "lr",
        ]  # bs is 64 in every run: not a column
        rows = {row[1]: row for row in table_rows(screen)}
        assert set(rows) == {"alpha", "beta", "gamma"}
        assert rows["beta"][3] == "30/50"
        assert rows["beta"][8] == "0.01"
        assert rows["alpha"][4].endswith("@ 12")  # val_loss keeps falling: best at the end


async def test_sort_by_a_column_both_ways_and_by_a_header_click(tmp_path):
    app = fixed_app(config_runs(tmp_path))
    async with app.run_test(size=WIDE) as pilot:
        await wait_loaded(pilot, 3)
        screen = await open_table(pilot)
        screen.data_table.move_cursor(column=8)  # lr
        await pilot.press("less_than_sign")
        assert screen.names == ["gamma", "beta", "alpha"]
        await pilot.press("greater_than_sign")
        assert screen.names == ["alpha", "beta", "gamma"]
        screen.data_table.move_cursor(column=3)  # progress: 12, 30, 20 epochs
        await pilot.press("less_than_sign")
        assert screen.names == ["alpha", "gamma", "beta"]
        assert "▲" in str(screen.data_table.ordered_columns[3].label)


async def test_filter_then_enter_opens_the_run(tmp_path):
    app = fixed_app(config_runs(tmp_path))
    async with app.run_test(size=WIDE) as pilot:
        await wait_loaded(pilot, 3)
        screen = await open_table(pilot)
        await pilot.press("slash", "g", "a", "m")
        assert screen.names == ["gamma"]
        await pilot.press("enter")  # the filter is kept, the table focused
        await pilot.press("enter")
        await wait_for(pilot, lambda: not isinstance(app.screen, RunsTableScreen))
        assert app.selected == "gamma"
        assert "gamma" in app.view.header.plain


async def test_space_marks_runs_for_comparison_from_the_table(tmp_path):
    app = fixed_app(config_runs(tmp_path))
    async with app.run_test(size=WIDE) as pilot:
        await wait_loaded(pilot, 3)
        screen = await open_table(pilot)
        await pilot.press("space", "down", "space")
        assert app.view.marks.names == screen.names[:2]
        assert table_rows(screen)[0][0].endswith("▌")
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, RunsTableScreen))
        assert app.view.compared is not None
        assert "comparing 2 runs" in app.view.header.plain


async def test_the_open_table_follows_the_runs_keeping_the_cursor_on_its_run(tmp_path):
    from tui_fixtures.support import epoch_record

    from metricwatch.tui.screens.runs_table import REFRESH_S

    assert REFRESH_S == 1.0
    root = config_runs(tmp_path)
    app = MetricwatchApp(root, mode=choose_mode(root, None))  # watching, a real clock
    async with app.run_test(size=WIDE) as pilot:
        await wait_loaded(pilot, 3)
        screen = await open_table(pilot)
        await pilot.press("down")  # the cursor on the second row
        cursor = screen._cursor_name()
        assert cursor is not None
        doc = MetricsDocument(root / "beta", {"total_epochs": 50, "config": {"lr": 0.01}})
        for epoch in range(1, 32):
            doc.put(epoch_record(epoch))
        doc.write()  # beta logs its 31st epoch while the table is open
        doc = MetricsDocument(root / "delta", {"total_epochs": 50, "config": {"lr": 0.5}})
        doc.put(epoch_record(1))
        doc.write()  # and a run appears

        def updated() -> bool:
            rows = {row[1]: row for row in table_rows(screen)}
            return rows.get("beta", [""] * 4)[3] == "31/50" and "delta" in rows

        await wait_for(pilot, updated, timeout=10.0)
        assert screen._cursor_name() == cursor
        assert app.screen is screen
