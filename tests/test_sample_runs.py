"""The shipped sample runs: each diagnostic fires on its own real training and
nowhere else; healthy and per-task runs raise nothing; every task is covered."""

from pathlib import Path

import pytest

from metricwatch.diagnostics import diagnose
from metricwatch.discovery import discover_runs
from metricwatch.loader import RunLoader
from metricwatch.metrics import Task, infer_task
from metricwatch.summary import summarize

SAMPLES = Path(__file__).resolve().parent.parent / "sample_runs"
EXPECTED = {
    "diagnostics/loss_not_decreasing": {"loss_not_decreasing"},
    "diagnostics/loss_oscillating": {"loss_oscillating"},
    "diagnostics/overfitting": {"overfitting"},
    "diagnostics/exploding_gradients": {"exploding_gradients"},
    "diagnostics/vanishing_gradients": {"vanishing_gradients"},
    "diagnostics/non_finite": {"non_finite", "exploding_gradients"},
}


def load_all():
    loader = RunLoader()
    return {loc.name: loader.load(loc.name, loc.metrics_path) for loc in discover_runs(SAMPLES)}


RUNS = load_all()


def test_every_sample_reads_without_problems():
    assert RUNS, "sample_runs/ is empty"
    for name, run in RUNS.items():
        assert run.problems == [], name
        assert run.record_count >= 10, name


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_pattern_fires_on_its_sample(name):
    found = {f.id for f in diagnose(RUNS[name])}
    assert found == EXPECTED[name]


@pytest.mark.parametrize("name", sorted(n for n in RUNS if n not in EXPECTED))
def test_healthy_and_task_runs_raise_nothing(name):
    assert diagnose(RUNS[name]) == [], [f.message for f in diagnose(RUNS[name])]


def test_there_are_three_healthy_real_trainings():
    assert {"healthy/clean", "healthy/noisy_small_batch", "healthy/plateau"} <= set(RUNS)


def test_every_task_of_the_seed_table_has_a_run_with_its_keys():
    seen = set()
    for name, run in RUNS.items():
        if name.startswith("tasks/"):
            task = infer_task(run.keys, run.meta.get("task"))
            seen.add(task)
            metric_keys = {line.key for line in summarize(run).metrics}
            assert metric_keys, name
    # Pose has no sample run: the seed's table has no pose row (it came from YOLO logs).
    assert seen == set(Task) - {Task.POSE}


def test_the_unfinished_run_knows_its_total():
    run = RUNS["tasks/object_detection_resumed"]
    assert run.total_epochs == 60 and run.epochs_done == 22


def test_sample_runs_are_small():
    total = sum(p.stat().st_size for p in SAMPLES.rglob("*") if p.is_file())
    assert total < 1_000_000
