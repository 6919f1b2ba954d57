"""Files that hold several runs: each part a run of its own (metricwatch.run_parts).

Keras' `CSVLogger(append=True)` writes every fit after the last into one file, the
epoch starting again at 0: each fit is a run (`<run>/fit 1`, `<run>/fit 2`), never a
resume of the one before. The real appended file is Keras 3's own
(tests/corpus/keras_csv/generated, see its PROVENANCE.md); the one with every quirk
at once (`;` separator, `NA`, CRLF) is made here from a real single-fit log
(voice_old_acc: Keras 2, CRLF), its rows written again as a second fit.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from metricwatch.cli import main
from metricwatch.model import Problem, ProblemKind, Run, Table
from metricwatch.readers.keras_csv import parse_keras_csv
from metricwatch.run_parts import expand, keep_parts
from metricwatch.sources.loader import RunLoader, keep_last_good

KERAS = Path(__file__).parent / "corpus" / "keras_csv"
APPENDED = KERAS / "generated" / "keras3_csvlogger" / "appended_training.log"
SINGLE = KERAS / "voice_old_acc" / "training.log"


def values(run: Run, key: str) -> list[float]:
    return run.series(key).values.tolist()


# --- the pure part -----------------------------------------------------------------------------


def part(name: str, epochs: int, *problems: Problem) -> Run:
    table = Table.from_rows((e, {"train_loss": 1.0 / (e + 1)}) for e in range(epochs))
    return Run(name, Path("f"), table=table, problems=list(problems), mtime=5.0)


def test_a_file_of_one_run_expands_to_itself():
    run = part("r", 3)
    assert expand(run) == [run] and expand(run)[0] is run


def test_parts_expand_with_the_files_path_format_and_problems():
    cut = Problem(ProblemKind.TRUNCATED, "cut")
    own = Problem(ProblemKind.RESTART, "resumed")
    run = Run("logs/x", Path("logs/x/training.log"), problems=[cut], mtime=9.0, format="keras_csv")
    run.parts = {"fit 1": part("fit 1", 3), "fit 2": part("fit 2", 2, own)}
    runs = expand(run)
    assert [r.name for r in runs] == ["logs/x/fit 1", "logs/x/fit 2"]
    assert all(r.path == run.path and r.format == "keras_csv" for r in runs)
    assert runs[0].problems == [cut] and runs[1].problems == [own, cut]
    assert [r.epochs_done for r in runs] == [3, 2]
    assert runs[0].mtime == 5.0  # a part's own time, when its reader knows it


def test_a_damaged_read_keeps_each_parts_last_good_data_and_the_parts_it_lost():
    previous = Run("s", Path("f"), parts={"a": part("a", 3), "b": part("b", 4)})
    locked = Run("s", Path("f"), problems=[Problem(ProblemKind.UNREADABLE, "locked")])
    shown = keep_last_good(previous, locked)
    assert [(r.name, r.epochs_done) for r in expand(shown)] == [("s/a", 3), ("s/b", 4)]
    assert all(r.problems[-1].message == "locked" for r in expand(shown))
    cut = Run(
        "s",
        Path("f"),
        problems=[Problem(ProblemKind.TRUNCATED, "cut")],
        parts={"a": part("a", 3), "b": part("b", 2), "c": part("c", 1)},
    )
    shown = keep_last_good(previous, cut)
    assert [(r.name, r.epochs_done) for r in expand(shown)] == [
        ("s/a", 3),
        ("s/b", 4),  # the read lost two of its epochs: the last good ones stay
        ("s/c", 1),
    ]
    assert [p.message for p in expand(shown)[1].problems] == ["cut"]  # once, not twice


def test_a_good_read_is_taken_as_it_is():
    previous = Run("s", Path("f"), parts={"a": part("a", 3), "b": part("b", 4)})
    current = Run("s", Path("f"), parts={"a": part("a", 4)})  # b deleted: it goes
    assert keep_last_good(previous, current) is current
    plain = part("s", 5)  # the file holds one run again
    assert keep_parts(previous, plain, keep_last_good) is plain


# --- Keras fits appended -----------------------------------------------------------------------


def test_the_real_appended_keras_file_is_two_runs(tmp_path, capsys):
    log = tmp_path / "mnist" / "training.log"
    log.parent.mkdir()
    log.write_bytes(APPENDED.read_bytes())
    runs = expand(RunLoader().load("mnist", log))
    assert [r.name for r in runs] == ["mnist/fit 1", "mnist/fit 2"]
    first, second = runs
    assert first.table.steps.tolist() == second.table.steps.tolist() == [0, 1, 2]
    assert values(first, "train_accuracy") == [0.546875, 0.6458333134651184, 0.765625]
    assert values(second, "val_loss") == [
        0.4791056513786316,
        0.43335288763046265,
        0.3915543854236603,
    ]
    assert first.problems == second.problems == []
    capsys.readouterr()
    assert main(["summary", str(tmp_path), "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)["runs"]
    assert sorted(r["name"] for r in listed) == ["mnist/fit 1", "mnist/fit 2"]
    assert {r["path"] for r in listed} == {str(log)}
    assert {r["format"] for r in listed} == {"keras_csv"}
    assert {r["epochs"] for r in listed} == {3}


def quirky(rows: list[list[str]], header: list[str]) -> bytes:
    """Rows as Keras writes them with separator=';' on Windows: CRLF line ends."""
    return b"".join((";".join(row) + "\r\n").encode() for row in [header, *rows])


def real_rows() -> tuple[list[str], list[list[str]]]:
    lines = SINGLE.read_bytes().decode().split("\r\n")
    header, *rows = (line.split(",") for line in lines if line)
    return header, rows


def test_two_fits_with_every_quirk_made_from_a_real_log(tmp_path):
    header, rows = real_rows()
    second = [row[:] for row in rows[:4]]
    second[1][header.index("val_acc")] = "NA"  # validation_freq=2: an absent value
    data = quirky(rows + second, header)
    log = tmp_path / "voice" / "training.log"
    log.parent.mkdir()
    log.write_bytes(data)
    fits = expand(RunLoader().load("voice", log))
    assert [r.name for r in fits] == ["voice/fit 1", "voice/fit 2"]
    single = RunLoader().load("voice", SINGLE)  # the real file, as read today
    assert single.parts == {}
    assert fits[0].table.steps.tolist() == single.table.steps.tolist() == list(range(len(rows)))
    for key in single.keys:
        assert values(fits[0], key) == values(single, key), key
        assert values(fits[1], key)[:1] == values(single, key)[:1]
    assert fits[1].table.steps.tolist() == [0, 1, 2, 3]
    assert fits[1].series("val_accuracy").steps.tolist() == [0, 2, 3]  # NA: absent
    assert values(fits[1], "train_loss") == values(single, "train_loss")[:4]
    assert fits[0].problems == fits[1].problems == []


def test_one_fit_is_one_run_named_as_before(tmp_path):
    header, rows = real_rows()
    log = tmp_path / "voice" / "training.log"
    log.parent.mkdir()
    log.write_bytes(quirky(rows, header))
    runs = expand(RunLoader().load("voice", log))
    assert [r.name for r in runs] == ["voice"]
    assert runs[0].epochs_done == len(rows) and runs[0].problems == []


def test_a_second_fit_cut_mid_line(tmp_path):
    header, rows = real_rows()
    data = quirky(rows + rows[:3], header)
    log = tmp_path / "voice" / "training.log"
    log.parent.mkdir()
    log.write_bytes(data[: len(data) - 20])  # the third row of fit 2 is being written
    loader = RunLoader()
    fits = expand(loader.load("voice", log))
    assert [r.name for r in fits] == ["voice/fit 1", "voice/fit 2"]
    assert fits[0].epochs_done == len(rows)
    assert fits[1].table.steps.tolist() == [0, 1]  # whole rows only, never a number cut short
    assert all(p.kind is ProblemKind.TRUNCATED for r in fits for p in r.problems)
    cut_values = values(fits[1], "train_loss")
    assert all(math.isfinite(v) for v in cut_values)
    log.write_bytes(data)  # the line finished
    fits = expand(loader.load("voice", log))
    assert fits[1].table.steps.tolist() == [0, 1, 2] and fits[1].problems == []


def test_a_segment_asked_for_keeps_its_note():
    result = parse_keras_csv(APPENDED.read_bytes(), segment=0)
    assert result.parts == {}
    assert [p.kind for p in result.problems] == [ProblemKind.RESTART]
