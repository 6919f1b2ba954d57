"""Big logs read a piece at a time stay in the monitor's process; big JSON goes to the child."""

from __future__ import annotations

import json

from metricwatch.tui.ingest import Ingest

HEADER = "epoch,step,train_loss,val_loss\n"


def rows(first: int, last: int) -> str:
    return "".join(f"{e},{e * 10},{1 / (e + 1):.4f},\n" for e in range(first, last + 1))


def test_a_big_appended_log_is_read_here_and_then_by_its_new_lines(tmp_path):
    path = tmp_path / "run" / "metrics.csv"
    path.parent.mkdir()
    path.write_text(HEADER + rows(0, 999))
    ingest = Ingest(big_file_bytes=1)  # every file counts as big
    try:
        assert ingest.load("run", path).summary.last_step == 9990
        with open(path, "a") as handle:
            handle.write(rows(1000, 1001))
        state = ingest.load("run", path)
        assert state.summary.last_step == 10010
        assert not ingest._in_child  # nothing shipped from the child process
        assert (ingest._loader.parses, ingest._loader.appended) == (1, 1)
    finally:
        ingest.close()


def test_a_big_json_document_is_still_parsed_in_the_child(tmp_path):
    path = tmp_path / "run" / "metrics.json"
    path.parent.mkdir()
    epochs = [{"epoch": e, "train_loss": 1 / e} for e in range(1, 50)]
    path.write_text(json.dumps({"epochs": epochs}))
    ingest = Ingest(big_file_bytes=1)
    try:
        assert ingest.load("run", path).epochs_done == 49
        assert path in ingest._in_child
        assert ingest._loader.parses == 0
    finally:
        ingest.close()


def test_a_big_log_is_sniffed_once_not_at_every_write(tmp_path, monkeypatch):
    from metricwatch.tui import ingest as ingest_module

    path = tmp_path / "run" / "metrics.csv"
    path.parent.mkdir()
    path.write_text(HEADER + rows(0, 99))
    sniffed: list[str] = []
    original = ingest_module._read_in_pieces

    def counting(metrics_path):
        sniffed.append(metrics_path.name)
        return original(metrics_path)

    monkeypatch.setattr(ingest_module, "_read_in_pieces", counting)
    ingest = Ingest(big_file_bytes=1)
    try:
        for last in (100, 101, 102):
            with open(path, "a") as handle:
                handle.write(rows(last, last))
            assert ingest.load("run", path).summary.last_step == last * 10
        assert sniffed == ["metrics.csv"]
        ingest.drop(path)  # gone: a file there later is sniffed again
        ingest.load("run", path)
        assert sniffed == ["metrics.csv", "metrics.csv"]
    finally:
        ingest.close()


def test_a_big_event_file_is_read_here_and_then_by_its_new_records(tmp_path):
    import shutil
    from pathlib import Path

    source = Path(__file__).parent / "corpus/tfevents/generated/torch_summarywriter/run_a"
    run = tmp_path / "run_a"
    shutil.copytree(source, run)
    event = sorted(p for p in run.iterdir() if p.name.startswith("events.out"))[0]
    ingest = Ingest(big_file_bytes=1)  # every file counts as big
    try:
        state = ingest.load("run_a", event)
        assert state.summary.steps > 0 and state.format == "tfevents"
        assert not ingest._in_child  # read here, by its tail: nothing shipped back
        assert ingest._child is None  # no parser process started at all
    finally:
        ingest.close()


def test_a_run_read_by_its_tail_is_not_stated_for_its_size_at_every_write(tmp_path):
    # A tail's run (TensorBoard, MLflow) is read here by its new bytes whatever its size:
    # asking the size (a timed call) at every write told nothing.
    import shutil
    from pathlib import Path

    from metricwatch.sources.discovery import discover_runs

    corpus = Path(__file__).parent / "corpus"
    shutil.copytree(corpus / "tfevents/generated/torch_summarywriter/run_a", tmp_path / "tb")
    shutil.copytree(corpus / "mlflow/generated/mlflow_client_filestore", tmp_path / "ml")
    found = {run.metrics_path: run.name for run in discover_runs(tmp_path)}
    ingest = Ingest()
    sized: list[Path] = []
    original = ingest._loader.size
    ingest._loader.size = lambda path: sized.append(path) or original(path)
    try:
        formats = {ingest.load(name, path).format for path, name in found.items()}
        for path, name in found.items():
            ingest.load(name, path)
        assert formats == {"tfevents", "mlflow"}
        assert sized == []
        assert not ingest._in_child
    finally:
        ingest.close()
