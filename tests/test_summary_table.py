"""`metricwatch summary` at scale: a table row per run, the gate's reasons, output errors.

Issue 7: 300 runs printed 300 boxes; one run's arithmetic error ended the
command for all; `| head -1` and `> /dev/full` ended in a traceback.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from metricwatch.cli import EXIT_BROKEN_PIPE, main
from metricwatch.report import TABLE_ABOVE

REPO = Path(__file__).resolve().parent.parent
SAMPLE_RUNS = REPO / "sample_runs"


def write_metrics(run_dir: Path, epochs: list[dict], meta: dict | None = None) -> Path:
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / "metrics.json"
    path.write_text(json.dumps({"meta": meta or {}, "epochs": epochs}))
    return path


def healthy(n: int = 6) -> list[dict]:
    return [
        {"epoch": e, "train_loss": 2.0 / e, "val_loss": 2.1 / e, "val_accuracy": 0.5 + e / 100}
        for e in range(1, n + 1)
    ]


OVERFIT = [
    {"epoch": e + 1, "train_loss": t, "val_loss": v}
    for e, (t, v) in enumerate(
        zip(
            [2.0, 1.2, 0.8, 0.5, 0.3, 0.2, 0.1, 0.05],
            [2.1, 1.3, 1.0, 1.1, 1.3, 1.5, 1.7, 1.9],
        )
    )
]


@pytest.fixture(scope="module")
def many_runs(tmp_path_factory):
    """300 runs, written once for the module: the tests that use them only read them."""
    root = tmp_path_factory.mktemp("many_runs")
    for index in range(300):
        write_metrics(root / f"sweep/lr{index % 7}_bs{index}", healthy(), {"total_epochs": 6})
    return root


def summary_text(capsys, monkeypatch, *args, columns=80):
    monkeypatch.setenv("COLUMNS", str(columns))
    code = main(["summary", *map(str, args)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


# --- a table row per run ---------------------------------------------------------------------


def test_300_runs_print_one_line_each(many_runs, capsys, monkeypatch):
    code, out, _ = summary_text(capsys, monkeypatch, many_runs)
    assert code == 0
    lines = out.splitlines()
    assert len(lines) == 300 + 2  # header, a row per run, the footer
    assert lines[0].startswith("Run")
    assert lines[-1].startswith("300 runs:")
    assert all(len(line) <= 80 for line in lines)
    assert sum("sweep/" in line for line in lines) == 300


@pytest.mark.parametrize("columns", [80, 120])
def test_sample_runs_fit_the_width_one_row_each(capsys, monkeypatch, columns):
    code, out, _ = summary_text(capsys, monkeypatch, SAMPLE_RUNS, columns=columns)
    assert code == 0
    lines = out.splitlines()
    assert len(lines) == 17 + 2
    assert all(len(line) <= columns for line in lines), "\n".join(lines)
    rows = {line.split()[0]: line for line in lines[1:-1]}
    assert len(rows) == 17 if columns == 120 else len(rows) >= 15
    if columns == 120:  # room for every name and the status words
        overfit = rows["diagnostics/overfitting"]
        assert "✓ finished" in overfit and "40/40" in overfit and "▲1" in overfit
        assert "1.008 @ 2" in overfit  # the best val loss and where
        assert "1.022e-04" in overfit and "3.149" in overfit  # last train and val loss
        assert "■2" in rows["diagnostics/non_finite"]
        assert "ok" in rows["healthy/clean"]
    assert "Best val loss" in lines[0] and "Train loss" in lines[0]
    # 5: the oscillating sample also overfits (val 0.21 -> 0.56), no longer hidden.
    assert "■ 3 critical ▲ 5 warning" in lines[-1]


def test_up_to_the_threshold_a_box_per_run_above_it_a_table(tmp_path, capsys, monkeypatch):
    for index in range(TABLE_ABOVE):
        write_metrics(tmp_path / f"run{index}", healthy())
    _, out, _ = summary_text(capsys, monkeypatch, tmp_path)
    assert out.count("╭─") == TABLE_ABOVE and "Training Time" in out
    write_metrics(tmp_path / "one-more", healthy())
    _, out, _ = summary_text(capsys, monkeypatch, tmp_path)
    assert "╭─" not in out and out.splitlines()[-1].startswith(f"{TABLE_ABOVE + 1} runs:")
    _, out, _ = summary_text(capsys, monkeypatch, tmp_path, "--detail")
    assert out.count("╭─") == TABLE_ABOVE + 1


def test_long_names_keep_their_tail_and_file_text_is_escaped(tmp_path, capsys, monkeypatch):
    long_name = "a_very_long_experiment_directory_name_from_a_sweep_" * 3 + "seed7"
    write_metrics(tmp_path / long_name, healthy())
    write_metrics(tmp_path / "ansi\x1b[31mred", healthy())
    write_metrics(tmp_path / "[bold red]markup", OVERFIT)
    write_metrics(tmp_path / "bidi\u202egnp.exe", healthy())
    (tmp_path / "keys").mkdir()
    (tmp_path / "keys" / "metrics.json").write_text(
        '[{"epoch": 1, "\\u001b[2Jval_loss": 1}, {"epoch": 2, "\\u001b[2Jval_loss": 2}]'
    )
    code, out, _ = summary_text(capsys, monkeypatch, tmp_path)
    assert code == 0
    assert "\x1b" not in out and "\u202e" not in out
    assert "ansi\\x1b[31mred" in out and "[bold red]markup" in out
    assert "bidi\\u202egnp.exe" in out
    row = next(line for line in out.splitlines() if "seed7" in line)
    assert "…" in row and len(row) <= 80


def test_runs_ranked_by_other_metrics_name_it_after_the_value(tmp_path, capsys, monkeypatch):
    for index in range(3):
        write_metrics(tmp_path / f"val{index}", healthy())
    accuracy_only = [{"epoch": e, "train_loss": 1 / e, "val_accuracy": e / 20} for e in (1, 2, 3)]
    write_metrics(tmp_path / "acc", accuracy_only, {"task": "classification"})
    write_metrics(tmp_path / "empty", [])
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "metrics.json").write_text("not json")
    code, out, _ = summary_text(capsys, monkeypatch, tmp_path)
    assert code == 0
    lines = out.splitlines()
    assert "Best val loss" in lines[0] and all(len(line) <= 80 for line in lines)
    rows = {line.split()[0]: line for line in lines[1:7]}
    assert "0.35 @ 6" in rows["val0"] and "val accuracy" not in rows["val0"]
    assert "15.0% @ 3  val" in rows["acc"]  # the value and epoch whole, then the metric
    assert rows["junk"].split()[-1] == "—" and rows["empty"].split()[-1] == "—"
    assert "! unreadable" in rows["junk"] and "junk: note: metrics.json is not valid JSON" in out


def test_json_has_the_same_shape_for_many_runs(many_runs, capsys):
    assert main(["summary", str(many_runs), "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert len(payload["runs"]) == 300
    entry = payload["runs"][0]
    assert {"name", "path", "epochs", "last", "best", "diagnostics", "problems"} <= set(entry)
    assert entry["epochs"] == 6 and entry["best"]["val_loss"]["epoch"] == 6


# --- --fail-on names its reasons ------------------------------------------------------------


def test_fail_on_names_each_run_and_finding_on_stderr(tmp_path, capsys, monkeypatch):
    write_metrics(tmp_path / "good", healthy())
    write_metrics(tmp_path / "overfit", OVERFIT)
    write_metrics(tmp_path / "nan", [*OVERFIT, {"epoch": 9, "train_loss": "NaN"}])
    code, _, err = summary_text(capsys, monkeypatch, tmp_path, "--fail-on", "warning")
    assert code == 3
    lines = err.splitlines()
    assert any(
        line.startswith("metricwatch: overfit: warning overfitting: Val loss diverges")
        for line in lines
    )
    assert any(line.startswith("metricwatch: nan: critical non_finite: ") for line in lines)
    assert not any(line.startswith("metricwatch: good") for line in lines)
    assert lines[-1] == "metricwatch: --fail-on warning: 3 causes in 2 of 3 runs (exit 3)"
    code, _, err = summary_text(capsys, monkeypatch, tmp_path, "--fail-on", "critical")
    assert code == 3
    assert [line for line in err.splitlines() if "overfitting" in line] == []
    assert err.splitlines()[-1].endswith("1 cause in 1 of 3 runs (exit 3)")


def test_fail_on_says_nothing_when_it_passes(tmp_path, capsys, monkeypatch):
    write_metrics(tmp_path / "good", healthy())
    code, _, err = summary_text(capsys, monkeypatch, tmp_path, "--fail-on", "warning")
    assert code == 0 and err == ""


# --- one run never ends the command for all --------------------------------------------------


@pytest.fixture
def one_run_breaks(tmp_path, monkeypatch):
    """Five runs; summarising or diagnosing `boom` raises, as a bug in the arithmetic would."""
    import metricwatch.report as report

    for name in ("a", "b", "boom", "c", "d"):
        write_metrics(tmp_path / name, OVERFIT if name == "c" else healthy())
    real_summarize, real_diagnose = report.summarize, report.diagnose

    def summarize(run):
        if run.name == "boom":
            raise OverflowError("int too large to convert to float")
        return real_summarize(run)

    def diagnose(run):
        if run.name == "boom":
            raise ZeroDivisionError("float division by zero")
        return real_diagnose(run)

    monkeypatch.setattr(report, "summarize", summarize)
    monkeypatch.setattr(report, "diagnose", diagnose)
    return tmp_path


def test_an_error_in_one_run_is_reported_in_its_row(one_run_breaks, capsys, monkeypatch):
    code, out, err = summary_text(capsys, monkeypatch, one_run_breaks, columns=120)
    assert code == 0 and "Traceback" not in out + err
    rows = {line.split()[0]: line for line in out.splitlines()[1:6]}
    assert set(rows) == {"a", "b", "boom", "c", "d"}
    assert rows["boom"].split()[-1] == "error"
    assert "▲1" in rows["c"] and "ok" in rows["a"]
    assert "boom: could not summarise: OverflowError: int too large to convert to float" in out
    assert "boom: could not diagnose: ZeroDivisionError: float division by zero" in out
    assert "test_summary_table.py" in out  # where it came from, for the bug report


def test_an_error_in_one_run_is_in_its_json_entry(one_run_breaks, capsys):
    assert main(["summary", str(one_run_breaks), "--json"]) == 0
    runs = {r["name"]: r for r in json.loads(capsys.readouterr().out)["runs"]}
    assert set(runs) == {"a", "b", "boom", "c", "d"}
    boom = runs["boom"]
    assert boom["problem_kinds"] == ["internal_error", "internal_error"]
    assert boom["problems"][0].startswith("could not summarise: OverflowError")
    assert boom["epochs"] == 6 and boom["last"] == {} and boom["diagnostics"] == []
    assert [d["id"] for d in runs["c"]["diagnostics"]] == ["overfitting", "no_improvement"]


def test_an_error_in_one_run_shows_in_its_box(one_run_breaks, capsys, monkeypatch):
    code, out, _ = summary_text(capsys, monkeypatch, one_run_breaks, "--detail")
    assert code == 0 and out.count("╭─") == 5
    assert "could not summarise: OverflowError" in out


def test_a_run_that_could_not_be_diagnosed_fails_the_gate(one_run_breaks, capsys, monkeypatch):
    code, _, err = summary_text(capsys, monkeypatch, one_run_breaks, "--fail-on", "critical")
    assert code == 3
    assert "metricwatch: boom: could not diagnose: ZeroDivisionError" in err


def test_overflowing_values_never_end_the_command(tmp_path, capsys, monkeypatch):
    """The inputs issue 7 names, among healthy runs: every run still gets its line."""
    cases = {
        "huge_twice": [1.7e308, 1.7e308],
        "opposite": [1e308, -1e308, 1],
        "subnormal": [0, 5e-324],
        "subnormal_twice": [5e-324, 5e-324],
    }
    for name, values in cases.items():
        write_metrics(
            tmp_path / name, [{"epoch": i + 1, "train_loss": v} for i, v in enumerate(values)]
        )
    write_metrics(
        tmp_path / "durations", [{"epoch": e, "train_loss": 1, "duration_s": 1e308} for e in (1, 2)]
    )
    (tmp_path / "huge_int").mkdir()
    (tmp_path / "huge_int" / "metrics.json").write_text(
        '{"epochs": [{"epoch": 1, "train_loss": 1%s}, {"epoch": 2, "train_loss": 1}]}' % ("0" * 400)
    )
    write_metrics(tmp_path / "fine", healthy())
    code, out, err = summary_text(capsys, monkeypatch, tmp_path, columns=120)
    assert code == 0 and "Traceback" not in out + err
    assert out.splitlines()[-1].startswith("7 runs:")
    assert main(["summary", str(tmp_path), "--json"]) == 0
    runs = json.loads(
        capsys.readouterr().out, parse_constant=lambda c: pytest.fail(f"non-standard {c}")
    )["runs"]
    assert len(runs) == 7


# --- output that cannot be written ------------------------------------------------------------


def _env(unbuffered: bool) -> dict[str, str]:
    env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "80"}
    env.pop("PYTHONUNBUFFERED", None)
    if unbuffered:
        env["PYTHONUNBUFFERED"] = "1"
    return env


COMMAND = [sys.executable, "-m", "metricwatch"]


@pytest.mark.parametrize("unbuffered", [False, True])
@pytest.mark.parametrize(
    "args",
    [["summary", "RUNS"], ["summary", "RUNS", "--json"], ["summary", "RUNS", "--detail"]],
    ids=["table", "json", "detail"],
)
def test_a_closed_pipe_ends_quietly_with_141(many_runs, args, unbuffered):
    args = [str(many_runs) if a == "RUNS" else a for a in args]
    process = subprocess.Popen(
        [*COMMAND, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=_env(unbuffered)
    )
    process.stdout.close()  # the reader is gone before the first write: like `| head -0`
    stderr = process.stderr.read().decode()
    assert process.wait(timeout=60) == EXIT_BROKEN_PIPE == 141
    assert stderr == ""


def test_head_dash_1_reads_a_line_and_the_rest_ends_quietly(many_runs):
    process = subprocess.Popen(
        [*COMMAND, "summary", str(many_runs), "--detail"],  # 300 boxes: more than a pipe holds
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=_env(False),
    )
    first = process.stdout.readline().decode()
    process.stdout.close()
    stderr = process.stderr.read().decode()
    assert first.startswith("╭─ sweep/")
    assert process.wait(timeout=60) == 141 and stderr == ""


@pytest.mark.parametrize("unbuffered", [False, True])
@pytest.mark.parametrize(
    "args",
    [
        ["summary", "RUNS"],
        ["summary", "RUNS", "--json"],
        ["summary", "RUNS", "--detail"],
        ["summary", "RUNS", "--fail-on", "warning"],
        ["--help"],
        ["summary", "--help"],
        ["demo", "--help"],
        ["--version"],
    ],
)
def test_a_full_disk_is_one_line_and_exit_2(many_runs, args, unbuffered):
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full here")
    args = [str(many_runs) if a == "RUNS" else a for a in args]
    with open("/dev/full", "w") as full:
        result = subprocess.run(
            [*COMMAND, *args],
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            env=_env(unbuffered),
            timeout=60,
        )
    assert result.returncode == 2
    assert result.stderr == "metricwatch: cannot write the output: No space left on device\n"


def test_an_output_error_in_process_is_one_line_and_exit_2(tmp_path, capsys, monkeypatch):
    write_metrics(tmp_path / "run", healthy())

    class Full:
        encoding = "utf-8"

        def write(self, text):
            raise OSError(28, "No space left on device")

        def flush(self):
            pass

        def isatty(self):
            return False

    monkeypatch.setattr(sys, "stdout", Full())
    assert main(["summary", str(tmp_path), "--json"]) == 2
    assert capsys.readouterr().err == (
        "metricwatch: cannot write the output: No space left on device\n"
    )


def test_help_documents_the_exit_codes(capsys):
    with pytest.raises(SystemExit):
        main(["summary", "--help"])
    out = capsys.readouterr().out
    assert "141" in out and "--detail" in out and "exit codes:" in out


# --- found in review -------------------------------------------------------------------------


def test_a_key_that_looks_like_markup_is_printed_not_interpreted(tmp_path, capsys, monkeypatch):
    for index in range(TABLE_ABOVE + 1):
        epochs = [{"epoch": 1, "acc[/]": 0.5}, {"epoch": 2, "acc[/]": 0.6}]
        write_metrics(tmp_path / f"r{index}", epochs)
    code, out, err = summary_text(capsys, monkeypatch, tmp_path, columns=120)
    assert code == 0 and err == ""
    assert "Best acc[/]" in out.splitlines()[0]


def test_a_directory_that_cannot_be_searched_is_said_on_stderr(tmp_path, capsys, monkeypatch):
    write_metrics(tmp_path / "r1", healthy())
    write_metrics(tmp_path / "g" / "r2", healthy())
    real_scandir = os.scandir

    def scandir(path):
        if Path(path) == tmp_path / "g":
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    code, out, err = summary_text(capsys, monkeypatch, tmp_path)
    assert code == 0 and "r1" in out
    assert err == f"metricwatch: not searched: {tmp_path / 'g'}: permission denied\n"


def test_an_unreadable_run_has_one_status_everywhere(tmp_path, capsys, monkeypatch):
    for index in range(TABLE_ABOVE):
        write_metrics(tmp_path / f"good{index}", healthy())
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "metrics.json").write_text("garbage{")
    (tmp_path / "new").mkdir()
    (tmp_path / "new" / "metrics.json").write_text("")  # just created: a write is coming
    code, out, _ = summary_text(capsys, monkeypatch, tmp_path, columns=120)
    assert code == 0
    bad_row = next(line for line in out.splitlines() if line.startswith("bad"))
    new_row = next(line for line in out.splitlines() if line.startswith("new"))
    assert "! unreadable" in bad_row and "· empty" in new_row
    assert "1 unreadable" in out.splitlines()[-1] and "1 empty" in out.splitlines()[-1]
    main(["summary", "--json", str(tmp_path)])
    runs = {run["name"]: run for run in json.loads(capsys.readouterr().out)["runs"]}
    assert (runs["bad"]["status"], runs["new"]["status"]) == ("unreadable", "empty")
