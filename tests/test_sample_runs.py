"""The shipped sample runs: each diagnostic fires on its own real training and
nowhere else; healthy and per-task runs raise nothing; every task is covered."""

from pathlib import Path

import pytest

from metricwatch.analysis.diagnostics import diagnose
from metricwatch.analysis.summary import summarize
from metricwatch.metrics import Task, infer_task
from metricwatch.sources.discovery import discover_runs
from metricwatch.sources.loader import RunLoader

SAMPLES = Path(__file__).resolve().parent.parent / "sample_runs"
EXPECTED = {
    "diagnostics/loss_not_decreasing": {"loss_not_decreasing"},
    # Its val loss more than doubles (0.21 -> 0.56) while train loss falls: overfitting,
    # no longer hidden by the oscillation (they explain different curves).
    "diagnostics/loss_oscillating": {"loss_oscillating", "overfitting"},
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


def alarms(name):
    """The findings of a sample that are alarms (info is advice: early stopping)."""
    return [f for f in diagnose(RUNS[name]) if f.severity.alarm]


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_pattern_fires_on_its_sample(name):
    assert {f.id for f in alarms(name)} == EXPECTED[name]


@pytest.mark.parametrize("name", sorted(n for n in RUNS if n not in EXPECTED))
def test_healthy_and_task_runs_raise_nothing_above_info(name):
    assert alarms(name) == [], [f.message for f in alarms(name)]


def test_the_only_advice_on_the_samples_is_early_stopping():
    infos = {(n, f.id) for n in RUNS for f in diagnose(RUNS[n]) if not f.severity.alarm}
    assert {i for _, i in infos} == {"no_improvement"}
    assert ("healthy/plateau", "no_improvement") in infos  # val best at epoch 6 of 40
    assert ("tasks/anomaly_detection", "no_improvement") not in infos  # best at the end


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
