"""`metricwatch summary`: output shape, exit codes, and errors as one line."""

import json
import math
import os
import subprocess
import sys

import pytest
from helpers import columns, write_run

from metricwatch.cli import main

HEALTHY = columns(
    train_loss=[2.0, 1.5, 1.1, 0.9, 0.8, 0.75],
    val_loss=[2.1, 1.6, 1.2, 1.0, 0.95, 0.9],
    val_accuracy=[0.3, 0.5, 0.6, 0.7, 0.72, 0.74],
    duration_s=[10] * 6,
)
OVERFIT = columns(
    train_loss=[2.0, 1.2, 0.8, 0.5, 0.3, 0.2, 0.1, 0.05],
    val_loss=[2.1, 1.3, 1.0, 1.1, 1.3, 1.5, 1.7, 1.9],
)


@pytest.fixture
def runs(tmp_path):
    write_run(tmp_path / "good", HEALTHY, {"total_epochs": 6, "task": "classification"})
    write_run(tmp_path / "bad", [*OVERFIT, {"epoch": 9, "train_loss": math.nan}])
    return tmp_path


def run_json(capsys, *args):
    code = main(["summary", *args, "--json"])
    return code, json.loads(capsys.readouterr().out)


def test_json_shape(runs, capsys):
    code, payload = run_json(capsys, str(runs))
    assert code == 0
    by_name = {r["name"]: r for r in payload["runs"]}
    assert set(by_name) == {"good", "bad"}
    good = by_name["good"]
    required = {
        "name": str,
        "path": str,
        "epochs": int,
        "last": dict,
        "best": dict,
        "diagnostics": list,
        "problems": list,
    }
    for key, kind in required.items():
        assert isinstance(good[key], kind), key
    assert good["epochs"] == 6 and good["best_epoch"] == 6 and good["best_step"] == 6
    assert good["x"] == "epoch" and good["steps"] is None  # steps: for step runs only
    assert good["training_time_s"] == 60.0
    assert good["last"]["val_accuracy"] == 0.74
    assert good["best"]["val_loss"] == {"value": 0.9, "step": 6, "epoch": 6}
    assert good["diagnostics"] == []
    bad = by_name["bad"]
    assert bad["last"]["train_loss"] is None  # NaN comes out as null
    assert bad["training_time_s"] is None and bad["best_epoch"] == 3
    findings = {d["id"]: d for d in bad["diagnostics"]}
    assert set(findings) == {"non_finite", "overfitting", "no_improvement"}
    assert findings["no_improvement"]["severity"] == "info"  # advice, not an alarm
    for finding in findings.values():
        assert set(finding) >= {"id", "severity", "message", "cause", "action", "epoch", "step"}
    assert findings["non_finite"]["severity"] == "critical"
    assert findings["non_finite"]["epoch"] == 9
    assert findings["non_finite"]["step"] == 9  # an epoch run: the step is the epoch
    assert findings["overfitting"]["cause"] == "Overfitting"


def test_json_output_is_strict_json(runs, capsys):
    main(["summary", str(runs), "--json"])
    text = capsys.readouterr().out
    json.loads(text, parse_constant=lambda token: pytest.fail(f"non-standard {token}"))


@pytest.mark.parametrize(("fail_on", "expected"), [("warning", 3), ("critical", 3)])
def test_fail_on_exits_3(runs, capsys, fail_on, expected):
    assert main(["summary", str(runs), "--fail-on", fail_on]) == expected


def test_fail_on_passes_a_healthy_run(runs, capsys):
    assert main(["summary", str(runs / "good"), "--fail-on", "warning"]) == 0


def test_fail_on_critical_ignores_warnings(tmp_path, capsys):
    write_run(tmp_path / "r", OVERFIT)
    assert main(["summary", str(tmp_path), "--fail-on", "critical"]) == 0
    assert main(["summary", str(tmp_path), "--fail-on", "warning"]) == 3


def test_missing_path_is_one_line_and_exit_2(tmp_path, capsys):
    assert main(["summary", str(tmp_path / "nope")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no such file or directory" in err


def test_no_runs_is_exit_2(tmp_path, capsys):
    assert main(["summary", str(tmp_path)]) == 2
    assert "no runs found" in capsys.readouterr().err


def test_unreadable_single_run_is_exit_2(tmp_path, capsys):
    (tmp_path / "metrics.json").write_text("this is not json")
    assert main(["summary", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "cannot be read" in err and "not valid JSON" in err


def test_a_bad_run_among_good_ones_is_reported_not_fatal(runs, capsys):
    (runs / "broken").mkdir()
    (runs / "broken" / "metrics.json").write_text("{this is not json")
    code, payload = run_json(capsys, str(runs))
    assert code == 0
    broken = next(r for r in payload["runs"] if r["name"] == "broken")
    assert broken["epochs"] == 0 and "not valid JSON" in broken["problems"][0]
    assert broken["status"] == "unreadable" and broken["format"] == "metricwatch"


def test_human_output_lists_table_findings_and_escapes_names(tmp_path, capsys):
    write_run(tmp_path / "[bold red]evil", OVERFIT)
    assert main(["summary", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "[bold red]evil" in out  # shown literally, not interpreted as markup
    assert "Best Epoch" in out and "3 / 8" in out
    assert "Val loss diverges from train loss" in out
    assert "Add regularization, reduce model" in out


def test_healthy_run_says_so(runs, capsys):
    main(["summary", str(runs / "good")])
    assert "No problems found." in capsys.readouterr().out


def test_real_command_and_python_dash_m(runs):
    env = {**os.environ, "NO_COLOR": "1"}
    for command in (["metricwatch"], [sys.executable, "-m", "metricwatch"]):
        result = subprocess.run(
            [*command, "summary", str(runs), "--json"],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
        )
        assert result.returncode == 0, result.stderr
        assert len(json.loads(result.stdout)["runs"]) == 2
    missing = subprocess.run(
        [sys.executable, "-m", "metricwatch", "summary", str(runs / "x")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert missing.returncode == 2 and "Traceback" not in missing.stderr


def test_bad_arguments_exit_2(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["summary", "x", "--fail-on", "info"])
    assert exit_info.value.code == 2


def test_escape_sequences_in_names_and_keys_never_reach_the_terminal(tmp_path, capsys):
    write_run(tmp_path / "ansi\x1b[31mred", OVERFIT)
    (tmp_path / "keys").mkdir()
    (tmp_path / "keys" / "metrics.json").write_text(
        '[{"epoch": 1, "\\u001b[2Jclear": NaN}, {"epoch": 2, "\\u001b[2Jclear": 1}]'
    )
    assert main(["summary", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out
    assert "ansi\\x1b[31mred" in out and "\\x1b[2Jclear" in out


def test_several_runs_none_readable_is_exit_2(tmp_path, capsys):
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "metrics.json").write_text("{")
    assert main(["summary", str(tmp_path)]) == 2
    assert "none of its 2 runs can be read" in capsys.readouterr().err


def test_demo_writes_two_live_runs_while_the_monitor_is_open(tmp_path, monkeypatch, capsys):
    import time

    from metricwatch.sources.loader import RunLoader

    seen: dict[str, list[int]] = {"classifier-healthy": [], "classifier-overfits": []}

    def fake_monitor(root):
        # Stands in for the TUI: watch both demo runs grow epoch by epoch, then "quit".
        loader = RunLoader()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and min(len(s) for s in seen.values()) < 3:
            for name, epochs in seen.items():
                path = root / name / "metrics.json"
                if path.exists():
                    run = loader.load(name, path)
                    if not run.problems and (not epochs or run.epochs_done > epochs[-1]):
                        epochs.append(run.epochs_done)
            time.sleep(0.01)
        return 0

    monkeypatch.setattr("metricwatch.tui.app.run_monitor", fake_monitor)
    assert main(["demo", str(tmp_path), "--interval", "0.05", "--epochs", "50"]) == 0
    for name, epochs in seen.items():
        assert len(epochs) >= 3 and epochs == sorted(epochs) and epochs[0] >= 1, name
        run = RunLoader().load(name, tmp_path / name / "metrics.json")
        assert run.total_epochs == 50 and run.epochs_done < 50  # stopped when the monitor quit
        assert {"train_loss", "val_loss", "val_accuracy", "lr", "grad_norm"} <= set(run.keys)
    assert f"the demo runs are in {tmp_path}" in capsys.readouterr().err


@pytest.mark.parametrize("epochs", [12, 60])
def test_demo_one_run_stays_healthy_the_other_overfits_on_the_way(tmp_path, epochs):
    from metricwatch.analysis.diagnostics import diagnose
    from metricwatch.simulate import run_demo_writer
    from metricwatch.sources.loader import RunLoader

    healthy_path, bad_path = run_demo_writer(tmp_path, epochs=epochs, interval=0)
    loader = RunLoader()
    healthy = loader.load("healthy", healthy_path)
    bad = loader.load("bad", bad_path)
    assert healthy.epochs_done == bad.epochs_done == epochs
    assert diagnose(healthy) == []
    findings = diagnose(bad)
    assert [f.id for f in findings if f.severity.alarm] == ["overfitting"]
    # It goes wrong on the way, not from the start: the best epoch is past the first few.
    assert epochs // 4 <= findings[0].epoch < epochs


def test_demo_overfitting_appears_partway_through(tmp_path):
    """Epoch by epoch, as the monitor sees it: nothing at first, the finding later."""
    from metricwatch.analysis.diagnostics import diagnose
    from metricwatch.simulate import DEMO_RUNS, simulate_epochs
    from metricwatch.sources.loader import RunLoader
    from metricwatch.writer import MetricsDocument

    name, seed, onset = DEMO_RUNS[1]
    records = list(
        simulate_epochs(
            epochs=60,
            seed=seed,
            epoch_seconds=0.5,
            with_gradients=True,
            overfit_from=round(60 * onset),
        )
    )
    first_seen = None
    for count in range(1, 61):
        document = MetricsDocument(tmp_path / str(count), {"total_epochs": 60})
        for record in records[:count]:
            document.put(record)
        document.write()
        if any(f.id == "overfitting" for f in diagnose(RunLoader().load(name, document.path))):
            first_seen = count
            break
    assert first_seen is not None and 20 < first_seen <= 30


def test_demo_reports_a_writer_failure_after_the_monitor_closes(tmp_path, monkeypatch, capsys):
    import time

    def full_disk(self):
        raise OSError(28, "No space left on device")

    def fake_monitor(root):
        time.sleep(0.2)  # the writer fails meanwhile; nothing may be printed over the TUI
        assert "stopped" not in capsys.readouterr().err
        return 0

    monkeypatch.setattr("metricwatch.writer.MetricsDocument.write", full_disk)
    monkeypatch.setattr("metricwatch.tui.app.run_monitor", fake_monitor)
    assert main(["demo", str(tmp_path), "--interval", "0.01"]) == 0
    err = capsys.readouterr().err
    assert "the demo writer stopped: [Errno 28] No space left on device" in err


def test_demo_cannot_create_its_runs_is_one_line_and_exit_2(tmp_path, capsys):
    (tmp_path / "file").write_text("")
    assert main(["demo", str(tmp_path / "file")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cannot create the demo runs" in err


def test_demo_rejects_nonsense_arguments(capsys):
    with pytest.raises(SystemExit):
        main(["demo", "--epochs", "0"])
    assert "must be at least 1" in capsys.readouterr().err


@pytest.mark.parametrize("collecting", [True, False])
def test_the_monitor_import_pauses_the_collector_and_leaves_it_as_it_was(collecting):
    import gc

    import metricwatch.tui
    import metricwatch.tui.app
    from metricwatch import cli

    seen = []
    original = sys.modules.pop("metricwatch.tui.app")  # imported again: the pause is seen
    gc.callbacks.append(lambda phase, info: seen.append(phase))
    (gc.enable if collecting else gc.disable)()
    try:
        frozen = gc.get_freeze_count()
        run_monitor = cli._import_monitor()
        assert gc.isenabled() is collecting
        assert gc.get_freeze_count() > frozen
        assert seen == []  # no collection while the TUI's modules were made
        assert run_monitor.__module__ == "metricwatch.tui.app"
    finally:
        gc.callbacks.pop()
        gc.enable()
        gc.unfreeze()
        sys.modules["metricwatch.tui.app"] = metricwatch.tui.app = original
