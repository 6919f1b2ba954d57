"""`metricwatch summary --fail-on warning` on a folder of healthy runs, sample and real,
exits 0 though they carry early-stopping advice (info); one real problem makes it 3."""

import shutil
from pathlib import Path

import pytest

from metricwatch.cli import main

ROOT = Path(__file__).resolve().parent.parent
HEALTHY = [
    ROOT / "sample_runs" / "healthy" / "clean",
    ROOT / "sample_runs" / "healthy" / "noisy_small_batch",
    ROOT / "sample_runs" / "healthy" / "plateau",
    ROOT / "sample_runs" / "tasks" / "classification",
    ROOT / "tests" / "corpus" / "hf_trainer" / "whisper_bashkir_step_noise",
    ROOT / "tests" / "corpus" / "hf_trainer" / "tinyllama_lora_healthy",
    ROOT / "tests" / "corpus" / "keras_csv" / "brats_lr_column",
    ROOT / "tests" / "corpus" / "ultralytics" / "yolo11_segment_resumed",
    ROOT / "tests" / "corpus" / "lightning_csv" / "camels_lr_adam_hparams",
    ROOT / "tests" / "corpus" / "labelled" / "step_noisy_small_batch",
    ROOT / "tests" / "corpus" / "labelled" / "step_converged_near_zero",
]


@pytest.fixture
def healthy_folder(tmp_path):
    for run in HEALTHY:
        shutil.copytree(run, tmp_path / run.name)
    return tmp_path


def test_a_folder_of_healthy_runs_passes_fail_on_warning(healthy_folder, capsys):
    assert main(["summary", str(healthy_folder), "--fail-on", "warning"]) == 0
    assert capsys.readouterr().err == ""


def test_the_advice_is_there_but_not_counted(healthy_folder, capsys):
    import json

    assert main(["summary", str(healthy_folder), "--json", "--fail-on", "warning"]) == 0
    runs = json.loads(capsys.readouterr().out)["runs"]
    severities = {d["severity"] for r in runs for d in r["diagnostics"]}
    assert severities == {"info"}
    assert len(runs) == len(HEALTHY)


def test_one_real_problem_fails_the_folder(healthy_folder, capsys):
    shutil.copytree(
        ROOT / "tests" / "corpus" / "labelled" / "step_diverging", healthy_folder / "bad"
    )
    assert main(["summary", str(healthy_folder), "--fail-on", "critical"]) == 3
    err = capsys.readouterr().err
    assert "critical loss_diverging" in err and "no_improvement" not in err
