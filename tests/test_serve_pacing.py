"""The server paces its analyses as the monitor does: a run written many times a second
is not analysed at every write, its records still go out at once, and its last write is
always analysed."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from serve_helpers import SseReader, served, until, write_epochs

from metricwatch.model import Run, Series, Table
from metricwatch.serve import analyses as analyses_module
from metricwatch.serve.analyses import Analyses


def _run(epochs: int, keys: tuple[str, ...] = ("train_loss",)) -> Run:
    steps = np.arange(1, epochs + 1, dtype=np.int64)
    series = {key: Series(key, steps, 1.0 / steps) for key in keys}
    return Run(name="r", path=Path("r/metrics.json"), table=Table(steps, series))


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_between_analyses_the_last_report_is_grown_to_the_new_read(monkeypatch):
    built: list[int] = []
    real = analyses_module.build_report

    def costly(run):
        built.append(len(run.table))
        return real(run)

    monkeypatch.setattr(analyses_module, "build_report", costly)
    monkeypatch.setattr(analyses_module.time, "perf_counter", iter(range(0, 1000, 1)).__next__)
    clock = Clock()
    analyses = Analyses(share=0.5, longest=2.0, clock=clock)  # each analysis "costs" 1 s
    first, wait = analyses.report("k", _run(3))
    assert wait == 0 and built == [3]
    clock.now += 0.5
    grown, wait = analyses.report("k", _run(4))
    assert built == [3] and wait == 1.5  # 1 s / 0.5 = 2 s after the last began
    assert grown.run.epochs_done == 4 and grown.findings == first.findings
    _, wait = analyses.report("k", _run(5, ("train_loss", "val_loss")))
    assert wait == 0 and built == [3, 5]  # a new key: not the same run grown
    clock.now += 0.1
    _, wait = analyses.report("k", _run(6, ("train_loss", "val_loss")), force=True)
    assert wait == 0 and built == [3, 5, 6]  # the analysis that was due


async def test_a_run_written_fast_is_analysed_less_often_and_its_last_write_always(
    tmp_path, monkeypatch
):
    root = tmp_path / "runs"
    write_epochs(root / "a", [{"epoch": 1, "train_loss": 1.0}])
    built: list[int] = []
    real = analyses_module.build_report

    def slow(run):
        time.sleep(0.05)  # 0.05 s at 1 % of a core: one analysis every 2 s at most
        built.append(run.last_step)
        return real(run)

    monkeypatch.setattr(analyses_module, "build_report", slow)
    async with served(root) as server:
        rid = server.run_id("a")
        response = await server.client.get(f"/api/training/{rid}/events")
        reader = SseReader(response)
        before = len(built)
        for epoch in range(2, 12):
            write_epochs(root / "a", [{"epoch": epoch, "train_loss": 1.0 / epoch}])
            event = await reader.next_of({"epoch"})  # each record at once
            assert event.data["epoch"] == epoch
        assert len(built) - before < 10
        await until(lambda: built[-1] == 11)  # the last write analysed, when due
        listing = (await server.json("/api/runs"))["runs"]
        assert [run["epochs"] for run in listing] == [11]
        response.close()
