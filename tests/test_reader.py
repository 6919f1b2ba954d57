"""The metrics.json reader on every kind of content a real file can hold."""

import json
import math
from pathlib import Path

import pytest

from metricwatch.model import ProblemKind
from metricwatch.readers import parse_metrics_json
from metricwatch.sources.loader import RunLoader, keep_last_good


def kinds(result):
    return {p.kind for p in result.problems}


def epochs(result):
    return [int(e) for e in result.table.steps]


def values_of(result):
    """Each record's values without its epoch, in epoch order."""
    return [{k: v for k, v in row.items() if k != "epoch"} for row in result.table.rows()]


SEED_EXAMPLE = b"""{
  "epochs": [
    {"epoch": 1, "train_loss": 2.3100, "val_loss": 1.8900, "val_accuracy": 0.3200,
     "val_f1": 0.2800, "lr": 0.001000, "duration_s": 45.2},
    {"epoch": 2, "train_loss": 1.4500, "val_loss": 1.1200, "val_accuracy": 0.5800,
     "val_f1": 0.5400, "lr": 0.000990, "duration_s": 44.8}
  ]
}"""


def test_seed_document_reads_cleanly():
    result = parse_metrics_json(SEED_EXAMPLE)
    assert result.problems == []
    assert epochs(result) == [1, 2]
    assert values_of(result)[1] == {
        "train_loss": 1.45,
        "val_loss": 1.12,
        "val_accuracy": 0.58,
        "val_f1": 0.54,
        "lr": 0.00099,
        "duration_s": 44.8,
    }


def test_meta_and_other_top_level_keys_are_kept():
    doc = {
        "meta": {"total_epochs": 50, "task": "classification", "started_at": "2026-01-01"},
        "epochs": [{"epoch": 1, "train_loss": 1.0}],
        "notes": "baseline",
    }
    result = parse_metrics_json(json.dumps(doc).encode())
    assert result.meta["total_epochs"] == 50
    assert result.extra == {"notes": "baseline"}


def test_bare_list_of_records():
    result = parse_metrics_json(
        b'[{"epoch": 1, "train_loss": 1.0}, {"epoch": 2, "train_loss": 0.5}]'
    )
    assert epochs(result) == [1, 2]
    assert result.problems == []


def test_history_dict_of_lists_with_aliases():
    doc = {
        "train_loss": [1.0, 0.8, 0.6],
        "val_loss": [1.1, 0.9, 0.8],
        "learning_rate": [0.1, 0.1, 0.01],
        "train_acc": [0.3, 0.5, 0.6],
        "val_acc": [0.2, 0.4, 0.5],
    }
    result = parse_metrics_json(json.dumps(doc).encode())
    assert epochs(result) == [1, 2, 3]
    assert values_of(result)[2] == {
        "train_loss": 0.6,
        "val_loss": 0.8,
        "lr": 0.01,
        "train_accuracy": 0.6,
        "val_accuracy": 0.5,
    }


def test_history_lists_one_epoch_behind_are_series_other_lengths_are_not():
    result = parse_metrics_json(
        b'{"train_loss": [3, 2, 1], "val_loss": [3.5, 2.5], "batch_loss": [9, 8, 7, 6, 5, 4]}'
    )
    assert epochs(result) == [1, 2, 3]
    assert "val_loss" not in values_of(result)[2]
    assert values_of(result)[1]["val_loss"] == 2.5
    assert "batch_loss" not in values_of(result)[0]
    assert [p.message for p in result.problems] == [
        "1 lists are not one value per epoch (3 epochs), not charted: 'batch_loss'"
    ]


def test_history_lists_of_per_epoch_dicts_are_flattened():
    doc = {
        "train_loss": [1.0, 0.5],
        "val_metrics": [{"r2": 0.1, "mae": 2.0}, {"r2": 0.3, "mae": 1.5, "name": "x"}],
        "learning_rates": [1e-3, 5e-4],
    }
    result = parse_metrics_json(json.dumps(doc).encode())
    assert values_of(result) == [
        {"train_loss": 1.0, "val_r2": 0.1, "val_mae": 2.0, "lr": 1e-3},
        {"train_loss": 0.5, "val_r2": 0.3, "val_mae": 1.5, "lr": 5e-4},
    ]


def test_truncated_file_keeps_complete_epochs():
    text = SEED_EXAMPLE.decode()
    cut = text.index('"val_f1": 0.5400')
    result = parse_metrics_json(text[:cut].encode())
    assert epochs(result) == [1]
    assert ProblemKind.TRUNCATED in kinds(result)
    assert result.damaged


def test_truncated_keeps_meta_written_before_epochs():
    text = '{"meta": {"total_epochs": 10}, "epochs": [{"epoch": 1, "train_loss": 1}, {"epo'
    result = parse_metrics_json(text.encode())
    assert result.meta == {"total_epochs": 10}
    assert epochs(result) == [1]


@pytest.mark.parametrize("data", [b"", b"   \n", b"\x00" * 0])
def test_empty_file(data):
    result = parse_metrics_json(data)
    assert len(result.table) == 0
    assert kinds(result) == {ProblemKind.EMPTY}


def test_invalid_json_says_where():
    result = parse_metrics_json(b'{"epochs": [}')
    assert len(result.table) == 0
    assert kinds(result) == {ProblemKind.INVALID_JSON}
    assert "line 1, column" in result.problems[0].message


def test_garbage_after_the_document_keeps_the_document():
    result = parse_metrics_json(b'{"epochs": [{"epoch": 1, "train_loss": 1}]}\n}]}')
    assert epochs(result) == [1]
    assert ProblemKind.INVALID_JSON in kinds(result)


def test_nan_and_infinity_tokens_are_values():
    data = b'{"epochs": [{"epoch": 1, "train_loss": NaN, "val_loss": Infinity, "x": -Infinity}]}'
    values = values_of(parse_metrics_json(data))[0]
    assert math.isnan(values["train_loss"])
    assert values["val_loss"] == math.inf
    assert values["x"] == -math.inf


def test_nan_strings_are_accepted_too():
    values = values_of(parse_metrics_json(b'[{"epoch": 1, "train_loss": "nan", "lr": "1e-3"}]'))[0]
    assert math.isnan(values["train_loss"])
    assert values["lr"] == 0.001


def test_non_numeric_values_are_dropped_and_counted():
    data = (
        b'[{"epoch": 1, "train_loss": "high", "val_loss": [1], "ok": 1, "flag": true, "n": null}]'
    )
    result = parse_metrics_json(data)
    assert values_of(result)[0] == {"ok": 1.0}
    (problem,) = result.problems
    assert problem.kind is ProblemKind.NON_NUMERIC
    assert "3 non-numeric" in problem.message


def test_huge_integer_becomes_infinity_not_a_crash():
    values = values_of(parse_metrics_json(b'[{"epoch": 1, "grad_norm": 1' + b"0" * 400 + b"}]"))[0]
    assert values["grad_norm"] == math.inf


def test_resume_replaces_records_from_the_restart_epoch():
    rows = [{"epoch": e, "train_loss": 10 - e} for e in (1, 2, 3, 4, 5)]
    rows += [{"epoch": e, "train_loss": 100 + e} for e in (3, 4)]
    result = parse_metrics_json(json.dumps({"epochs": rows}).encode())
    assert epochs(result) == [1, 2, 3, 4]
    assert [v["train_loss"] for v in values_of(result)] == [9, 8, 103, 104]
    assert ProblemKind.RESTART in kinds(result)
    assert not result.damaged


def test_missing_epoch_numbers_follow_position():
    result = parse_metrics_json(
        b'[{"train_loss": 1}, {"epoch": 5, "train_loss": 2}, {"train_loss": 3}]'
    )
    assert epochs(result) == [1, 5, 6]
    assert ProblemKind.BAD_EPOCH in kinds(result)


def test_missing_keys_are_fine():
    result = parse_metrics_json(b'[{"epoch": 1, "train_loss": 1}, {"epoch": 2, "val_loss": 2}]')
    assert result.problems == []
    assert values_of(result)[1] == {"val_loss": 2.0}


def test_non_utf8_bytes_are_replaced_and_reported():
    data = b'[{"epoch": 1, "train_loss": 1.5, "caf\xe9": 2}]'
    result = parse_metrics_json(data)
    assert values_of(result)[0]["train_loss"] == 1.5
    assert ProblemKind.ENCODING in kinds(result)


def test_utf8_bom_is_not_a_problem():
    result = parse_metrics_json(b"\xef\xbb\xbf" + SEED_EXAMPLE)
    assert result.problems == []
    assert epochs(result) == [1, 2]


def test_detectron2_json_lines_are_recognised_as_not_ours():
    lines = (
        b'{"iteration": 19, "total_loss": 1.9, "lr": 0.0002}\n'
        b'{"iteration": 39, "total_loss": 1.7}\n'
    )
    result = parse_metrics_json(lines)
    assert len(result.table) == 0
    assert kinds(result) == {ProblemKind.NOT_OURS}
    assert "detectron2" in result.problems[0].message


def test_json_lines_of_epoch_records_are_read():
    lines = b'{"epoch": 1, "train_loss": 2}\n{"epoch": 2, "train_loss": 1}\n'
    assert epochs(parse_metrics_json(lines)) == [1, 2]


@pytest.mark.parametrize("data", [b"42", b'"text"', b'{"model": "resnet"}', b"null"])
def test_other_json_is_not_ours(data):
    result = parse_metrics_json(data)
    assert len(result.table) == 0
    assert kinds(result) == {ProblemKind.NOT_OURS}


def test_entries_that_are_not_objects_are_skipped():
    result = parse_metrics_json(b'{"epochs": [1, {"epoch": 1, "train_loss": 1}, "x"]}')
    assert epochs(result) == [1]
    assert "skipped 2" in result.problems[0].message


def test_deeply_nested_json_does_not_raise():
    result = parse_metrics_json(b"[" * 100_000 + b"]" * 100_000)
    assert len(result.table) == 0
    assert result.problems


def test_fifty_megabyte_file(tmp_path):
    row = {
        "epoch": 0,
        "train_loss": 0.123456789,
        "val_loss": 0.23456789,
        "val_accuracy": 0.9,
        "lr": 1e-4,
        "duration_s": 12.5,
        "grad_norm": 1.23456,
    }
    line_size = len(json.dumps(row)) + 2
    count = 50 * 2**20 // line_size
    rows = ",\n".join(json.dumps({**row, "epoch": i + 1}) for i in range(count))
    data = ('{"epochs": [' + rows + "]}").encode()
    assert len(data) > 45 * 2**20
    result = parse_metrics_json(data)
    assert result.problems == []
    assert len(result.table) == count


# --- loading from disk ------------------------------------------------------------------------


def test_loader_parses_an_unchanged_file_once(tmp_path):
    path = tmp_path / "metrics.json"
    path.write_bytes(SEED_EXAMPLE)
    loader = RunLoader()
    first = loader.load("r", path)
    second = loader.load("r", path)
    assert loader.parses == 1
    assert epochs(second) == epochs(first) == [1, 2]
    path.write_text('{"epochs": [{"epoch": 1, "train_loss": 0.5}]}')
    assert values_of(loader.load("r", path))[0] == {"train_loss": 0.5}
    assert loader.parses == 2


def test_loader_reports_a_vanished_file(tmp_path):
    run = RunLoader().load("gone", tmp_path / "metrics.json")
    assert len(run.table) == 0
    assert [p.kind for p in run.problems] == [ProblemKind.MISSING]


def test_loader_reports_permission_errors(tmp_path, monkeypatch):
    path = tmp_path / "metrics.json"
    path.write_bytes(SEED_EXAMPLE)

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr("builtins.open", refuse)
    run = RunLoader().load("locked", path)
    assert [p.kind for p in run.problems] == [ProblemKind.UNREADABLE]
    assert "Permission denied" in run.problems[0].message


def test_keep_last_good_keeps_old_epochs_when_a_read_is_damaged(tmp_path):
    path = tmp_path / "metrics.json"
    path.write_bytes(SEED_EXAMPLE)
    loader = RunLoader()
    good = loader.load("r", path)
    path.write_bytes(SEED_EXAMPLE[:40])
    broken = loader.load("r", path)
    shown = keep_last_good(good, broken)
    assert epochs(shown) == [1, 2]
    assert shown.problems and shown.problems[0].kind in (
        ProblemKind.TRUNCATED,
        ProblemKind.INVALID_JSON,
    )
    path.write_text(
        '{"epochs": [{"epoch": 1, "train_loss": 2}, {"epoch": 2, "train_loss": 1},'
        '{"epoch": 3, "train_loss": 0.5}]}'
    )
    recovered = keep_last_good(shown, loader.load("r", path))
    assert epochs(recovered) == [1, 2, 3]
    assert recovered.problems == []


def test_keep_last_good_accepts_a_deliberately_shorter_file(tmp_path):
    path = tmp_path / "metrics.json"
    path.write_bytes(SEED_EXAMPLE)
    loader = RunLoader()
    good = loader.load("r", path)
    path.write_text('{"epochs": [{"epoch": 1, "train_loss": 9}]}')  # restarted from scratch
    shown = keep_last_good(good, loader.load("r", path))
    assert epochs(shown) == [1]


# --- adversarial content: the reader must never raise ----------------------------------------


def test_integers_beyond_pythons_digit_limit_are_overflow_not_errors():
    huge = b"9" * 5000
    values = values_of(parse_metrics_json(b'{"epochs":[{"epoch":1,"x":' + huge + b"}]}"))[0]
    assert values["x"] == math.inf
    result = parse_metrics_json(b'{"epochs":[{"epoch":' + huge + b',"x":1}]}')
    assert epochs(result) == [1]  # unusable epoch number: numbered by position
    assert ProblemKind.BAD_EPOCH in kinds(result)


@pytest.mark.parametrize("epoch", ['"²"', '"' + "9" * 5000 + '"', "1e300", "-3", "true", '"1.5"'])
def test_odd_epoch_values_are_numbered_by_position(epoch):
    result = parse_metrics_json(f'[{{"epoch": {epoch}, "train_loss": 1}}]'.encode())
    assert epochs(result) == [1]
    assert ProblemKind.BAD_EPOCH in kinds(result)


def _realistic_documents():
    rows = [
        {
            "epoch": e,
            "train_loss": round(2 / e, 4),
            "val_loss": round(2.2 / e, 4),
            "val_accuracy": 0.1 * e,
            "lr": 1e-3,
        }
        for e in range(1, 6)
    ]
    yield "native", json.dumps({"meta": {"total_epochs": 9}, "epochs": rows}, indent=1)
    yield "list", json.dumps(rows)
    yield "lines", "\n".join(json.dumps(r) for r in rows) + "\n"
    history = {k: [r[k] for r in rows] for k in ("train_loss", "val_loss", "lr")}
    yield "history", json.dumps(history)


@pytest.mark.parametrize(("shape", "text"), list(_realistic_documents()))
def test_a_file_cut_at_any_byte_yields_a_prefix_of_the_true_records(shape, text):
    whole = parse_metrics_json(text.encode())
    full = dict(zip(epochs(whole), values_of(whole)))
    assert len(full) == 5
    for cut in range(len(text)):
        result = parse_metrics_json(text[:cut].encode())
        for epoch, values in zip(epochs(result), values_of(result)):
            # Every value read from a cut file is a true value: never a number cut short.
            assert values.items() <= full[epoch].items(), (shape, cut)
        if not result.problems:  # then it read as a complete file: whole records only
            assert values_of(result) == list(full.values())[: len(result.table)]


def test_json_lines_in_their_normal_states():
    one = b'{"epoch": 1, "train_loss": 1.0}\n'
    assert epochs(parse_metrics_json(one)) == [1]
    assert parse_metrics_json(one).problems == []
    appending = one + b'{"epoch": 2, "tra'
    result = parse_metrics_json(appending)
    assert epochs(result) == [1]
    assert kinds(result) == {ProblemKind.TRUNCATED}
    garbage = one + b"GARBAGE\n" + b'{"epoch": 2, "train_loss": 0.5}\n'
    result = parse_metrics_json(garbage)
    assert epochs(result) == [1, 2]
    assert "skipped 1 lines" in result.problems[0].message


def test_utf16_with_bom_and_a_bom_only_file():
    result = parse_metrics_json('[{"epoch": 1, "train_loss": 2}]'.encode("utf-16"))
    assert epochs(result) == [1] and result.problems == []
    assert kinds(parse_metrics_json(b"\xef\xbb\xbf")) == {ProblemKind.EMPTY}


def test_meta_survives_a_file_cut_before_the_first_epoch():
    result = parse_metrics_json(b'{"meta": {"total_epochs": 9}, "epochs": [')
    assert result.meta == {"total_epochs": 9}
    assert len(result.table) == 0 and kinds(result) == {ProblemKind.TRUNCATED}


def test_corruption_in_the_middle_keeps_what_comes_before():
    result = parse_metrics_json(b'{"epochs": [{"epoch": 1, "train_loss": 1}, @@@, {"epoch": 2}]}')
    assert epochs(result) == [1]
    assert kinds(result) == {ProblemKind.INVALID_JSON}


def test_history_lists_without_numbers_are_not_epochs():
    doc = {
        "train_loss": [1.0, 0.5],
        "class_names": ["cat", "dog", "fox", "owl", "elk"],
        "meta": ["not", "a", "dict"],
    }
    result = parse_metrics_json(json.dumps(doc).encode())
    assert epochs(result) == [1, 2]
    assert result.extra == {"class_names": ["cat", "dog", "fox", "owl", "elk"]}


def test_keras_history_names_map_to_ours():
    doc = {
        "loss": [0.9, 0.5],
        "accuracy": [0.6, 0.8],
        "val_loss": [1.0, 0.7],
        "val_accuracy": [0.5, 0.7],
        "learning_rate": [1e-3, 1e-3],
    }
    values = values_of(parse_metrics_json(json.dumps(doc).encode()))[1]
    assert values == {
        "train_loss": 0.5,
        "train_accuracy": 0.8,
        "val_loss": 0.7,
        "val_accuracy": 0.7,
        "lr": 1e-3,
    }


def test_a_metric_under_two_names_keeps_the_canonical_one():
    result = parse_metrics_json(b'[{"epoch": 1, "learning_rate": 0.2, "lr": 0.1}]')
    assert values_of(result)[0] == {"lr": 0.1}
    assert "'learning_rate' and 'lr'" in result.problems[0].message


def test_garbage_with_nul_bytes_is_not_mistaken_for_utf16():
    result = parse_metrics_json(b"\x00\x01garbage\xff")
    assert len(result.table) == 0
    assert all("UTF-16" not in p.message for p in result.problems)
    assert ProblemKind.ENCODING in kinds(result)


def test_history_files_from_the_corpus_are_runs_of_their_own_format():
    from metricwatch.sources.discovery import discover_runs
    from metricwatch.sources.loader import RunLoader

    corpus = Path(__file__).parent / "corpus" / "history_json"
    runs = {loc.name: RunLoader().load(loc.name, loc.metrics_path) for loc in discover_runs(corpus)}
    assert set(runs) == {
        "bikeshare_val_metrics_dicts",
        "car_keras_reduce_lr",
        "handwriting_torch_compact",
        "generated/keras3_history",
    }
    bikes = runs["bikeshare_val_metrics_dicts"]
    assert bikes.format == "history" and bikes.record_count == 48
    assert {"val_r2", "val_rmse", "train_r2", "lr"} <= set(bikes.keys)
    assert runs["car_keras_reduce_lr"].series("lr").values[0] == pytest.approx(0.001)
