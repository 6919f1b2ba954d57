"""Pilot tests: a file holding several runs shows each as a run of the monitor.

An MLflow store (the real mlflow.db of tests/corpus/mlflow/generated) lists its
live runs; a run deleted in MLflow leaves the list, a new one joins it, and the
file deleted marks every one of its runs gone. A Keras log that gets a second
fit appended turns from one run into two.
"""

from __future__ import annotations

import pytest
from test_layouts_mlflow_sqlite import STORES, add_run, delete_run, log, unpack
from tui_fixtures.support import wait_for, wait_loaded

from metricwatch.tui.app import create_app
from metricwatch.tui.ingest import Ingest

WIDE = (120, 40)
BASELINE = "mlflow.db/cifar/resnet-baseline"
NO_STEPS = "mlflow.db/cifar/no-steps"


@pytest.mark.parametrize("poll", [None, 0.05], ids=["events", "polling"])
async def test_the_runs_of_a_store_come_and_go_as_in_mlflow(tmp_path, poll):
    db = unpack(STORES["gen"][0], tmp_path / "mlflow.db")
    app = create_app(tmp_path, poll_interval=poll)
    async with app.run_test(size=WIDE) as pilot:
        await wait_loaded(pilot, 2)
        assert sorted(app.run_list.names) == [NO_STEPS, BASELINE]
        assert app.states[BASELINE].format == "mlflow"
        assert app.states[BASELINE].metrics_path == db
        await wait_for(pilot, lambda: app.selected in (BASELINE, NO_STEPS))

        run_id = add_run(db, "live-run", points=[(0, 2.0), (1, 1.0)])
        fresh = "mlflow.db/cifar/live-run"
        await wait_for(pilot, lambda: fresh in app.run_list.names)
        assert app.states[fresh].summary.steps == 2

        app.select(fresh)
        delete_run(db, run_id)  # mlflow.delete_run: the run leaves the list
        await wait_for(pilot, lambda: fresh not in app.run_list.names)
        assert fresh not in app.states
        assert app.selected in (BASELINE, NO_STEPS)  # the selection moved on

        db.unlink()  # the store deleted: every run of it is gone, its data kept
        await wait_for(pilot, lambda: app.states[BASELINE].gone and app.states[NO_STEPS].gone)
        assert app.states[BASELINE].summary.steps == 4
        assert sorted(app.run_list.names) == [NO_STEPS, BASELINE]


async def test_a_keras_log_getting_a_second_fit_becomes_two_runs(tmp_path):
    log = tmp_path / "mnist" / "training.log"
    log.parent.mkdir()
    log.write_bytes(b"epoch,loss\r\n0,1.0\r\n1,0.8\r\n2,0.7\r\n")
    app = create_app(tmp_path)
    async with app.run_test(size=WIDE) as pilot:
        await wait_loaded(pilot, 1)
        assert app.run_list.names == ["mnist"]
        with log.open("ab") as handle:  # CSVLogger(append=True), a second model.fit()
            handle.write(b"0,2.0\r\n1,1.5\r\n")
        await wait_for(pilot, lambda: app.run_list.names == ["mnist/fit 1", "mnist/fit 2"])
        assert "mnist" not in app.states
        assert app.states["mnist/fit 1"].epochs_done == 3
        assert app.states["mnist/fit 2"].epochs_done == 2
        assert app.selected in ("mnist/fit 1", "mnist/fit 2")
        await pilot.press("r")  # a reload reads the file once, under its own name
        await wait_for(pilot, lambda: app.states["mnist/fit 2"].version > 0)
        assert sorted(app.states) == ["mnist/fit 1", "mnist/fit 2"]


@pytest.mark.parametrize("big", [2**62, 0], ids=["in-process", "child-process"])
def test_a_store_update_rebuilds_only_the_run_that_changed(tmp_path, big):
    """One run logging into a store of many must not summarise every other run again, nor
    (for a big store, parsed in the child process) ship them all back."""
    db = unpack(STORES["gen"][0], tmp_path / "mlflow.db")
    ingest = Ingest(big_file_bytes=big)
    try:
        first = {s.name: s for s in ingest.load_all("mlflow.db", db)}
        assert sorted(first) == [NO_STEPS, BASELINE]
        run_id = add_run(db, "live-run", points=[(0, 2.0)])
        second = {s.name: s for s in ingest.load_all("mlflow.db", db)}
        assert list(second) == [BASELINE, NO_STEPS, "mlflow.db/cifar/live-run"]
        assert second[BASELINE] is first[BASELINE] and second[NO_STEPS] is first[NO_STEPS]
        log(db, run_id, "loss", [(1, 1.5)])
        third = {s.name: s for s in ingest.load_all("mlflow.db", db)}
        live = third["mlflow.db/cifar/live-run"]
        assert live.summary.steps == 2 and live.version > second["mlflow.db/cifar/live-run"].version
        assert third[BASELINE] is first[BASELINE]
        assert third[BASELINE].column("train_loss")[1].tolist() == [2.0, 1.5, 1.0, 0.5]
    finally:
        ingest.close()


async def test_a_single_file_holding_several_runs_lists_them(tmp_path):
    log = tmp_path / "mnist" / "training.log"
    log.parent.mkdir()
    log.write_bytes(b"epoch,loss\r\n0,1.0\r\n1,0.8\r\n0,2.0\r\n")
    app = create_app(log)
    async with app.run_test(size=WIDE) as pilot:
        await wait_loaded(pilot, 2)
        assert app.run_list.names == ["mnist/fit 1", "mnist/fit 2"]
        await wait_for(pilot, lambda: app.query_one("#sidebar").display)
