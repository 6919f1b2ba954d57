"""Files beside a log that describe the run (hparams.yaml, args.yaml) join its meta."""

from __future__ import annotations

import shutil
from pathlib import Path

from metricwatch.sources.loader import RunLoader

CORPUS = Path(__file__).parent / "corpus"


def test_ultralytics_args_yaml_gives_total_epochs_task_and_config():
    run = RunLoader().load("car", CORPUS / "ultralytics/yolov8_segment_car/results.csv")
    assert run.format == "ultralytics"
    assert (run.total_epochs, run.meta["task"]) == (10, "instance_segmentation")
    assert run.meta["config"]["model"] == "yolov8n-seg.pt"


def test_lightning_hparams_yaml_is_the_config():
    run = RunLoader().load("camels", CORPUS / "lightning_csv/camels_lr_adam_hparams/metrics.csv")
    assert run.format == "lightning_csv"
    assert run.meta["config"]["hidden_size"] == 85
    assert run.meta["config"]["group_identifier"] == "gauge_id"


def test_a_broken_or_huge_side_file_only_loses_the_config(tmp_path):
    source = CORPUS / "ultralytics/yolov8_segment_car"
    shutil.copy(source / "results.csv", tmp_path / "results.csv")
    (tmp_path / "args.yaml").write_bytes(b"\xff\xfe epochs: [unclosed\n\x00")
    run = RunLoader().load("car", tmp_path / "results.csv")
    assert run.record_count == 10 and run.total_epochs is None
    (tmp_path / "args.yaml").write_bytes(b"epochs: 5\n" + b"#" * (2 << 20))
    run = RunLoader().load("car", tmp_path / "results.csv")
    assert run.record_count == 10 and run.total_epochs is None  # over 1 MiB: not read


def test_a_side_file_is_parsed_again_only_when_it_changed(tmp_path, monkeypatch):
    import os

    from metricwatch.sources import loader as loader_module

    source = CORPUS / "lightning_csv/camels_lr_adam_hparams"
    shutil.copy(source / "metrics.csv", tmp_path / "metrics.csv")
    hparams = tmp_path / "hparams.yaml"
    hparams.write_text("hidden_size: 85\n")
    parsed: list[bytes] = []
    original = loader_module.sidecars

    def counting_sidecars(format_name: str):
        def wrap(read):
            def counting(data: bytes):
                parsed.append(data)
                return read(data)

            return counting

        return tuple((name, wrap(read)) for name, read in original(format_name))

    monkeypatch.setattr(loader_module, "sidecars", counting_sidecars)
    loader = RunLoader()
    run = loader.load("camels", tmp_path / "metrics.csv")
    assert run.meta["config"] == {"hidden_size": 85}
    last = (tmp_path / "metrics.csv").read_text().splitlines()[-1]
    with open(tmp_path / "metrics.csv", "a") as handle:
        handle.write(last + "\n")
    assert loader.load("camels", tmp_path / "metrics.csv").meta["config"] == {"hidden_size": 85}
    assert len(parsed) == 1  # the log changed, its side file did not
    hparams.write_text("hidden_size: 128\n")
    os.utime(hparams, ns=(1, 1))  # another stamp, whatever the clock's resolution
    loader.forget(tmp_path / "metrics.csv")
    assert loader.load("camels", tmp_path / "metrics.csv").meta["config"] == {"hidden_size": 128}
    assert len(parsed) == 2
    hparams.unlink()
    loader.forget(tmp_path / "metrics.csv")
    assert "config" not in loader.load("camels", tmp_path / "metrics.csv").meta


def test_a_side_file_rewritten_with_the_same_bytes_is_not_parsed_again(tmp_path, monkeypatch):
    """Lightning rewrites hparams.yaml at every flush, the same text each time: a new stamp,
    the same config. Its bytes are compared, and all side files come in one timed call."""
    import os

    from metricwatch.sources import loader as loader_module

    source = CORPUS / "lightning_csv/camels_lr_adam_hparams"
    shutil.copy(source / "metrics.csv", tmp_path / "metrics.csv")
    hparams = tmp_path / "hparams.yaml"
    hparams.write_text("hidden_size: 85\n")
    parsed: list[bytes] = []
    calls: list[int] = []
    original, read_all = loader_module.sidecars, loader_module._read_sidecars

    def counting_sidecars(format_name: str):
        def counting(read):
            return lambda data: parsed.append(data) or read(data)

        return tuple((name, counting(read)) for name, read in original(format_name))

    def counting_reads(files):
        calls.append(len(files))
        return read_all(files)

    monkeypatch.setattr(loader_module, "sidecars", counting_sidecars)
    monkeypatch.setattr(loader_module, "_read_sidecars", counting_reads)
    loader = RunLoader()
    assert loader.load("camels", tmp_path / "metrics.csv").meta["config"] == {"hidden_size": 85}
    assert (len(parsed), calls) == (1, [2])  # hparams.yaml and meta_tags.csv: one call
    last = (tmp_path / "metrics.csv").read_text().splitlines()[-1]
    for flush in range(3):
        hparams.write_text("hidden_size: 85\n")
        os.utime(hparams, ns=(10 + flush, 10 + flush))  # a new stamp at every flush
        with open(tmp_path / "metrics.csv", "a") as handle:
            handle.write(last + "\n")
        run = loader.load("camels", tmp_path / "metrics.csv")
        assert run.meta["config"] == {"hidden_size": 85}
    assert len(parsed) == 1 and calls == [2, 2, 2, 2]
    hparams.write_text("hidden_size: 86\n")  # the same size, other bytes
    os.utime(hparams, ns=(20, 20))
    with open(tmp_path / "metrics.csv", "a") as handle:
        handle.write(last + "\n")
    assert loader.load("camels", tmp_path / "metrics.csv").meta["config"] == {"hidden_size": 86}
    assert len(parsed) == 2


def test_a_side_file_that_blocks_keeps_the_config_last_read(tmp_path, monkeypatch):
    from metricwatch.sources import loader as loader_module
    from metricwatch.timed_io import Blocked

    source = CORPUS / "lightning_csv/camels_lr_adam_hparams"
    shutil.copy(source / "metrics.csv", tmp_path / "metrics.csv")
    (tmp_path / "hparams.yaml").write_text("hidden_size: 85\n")
    loader = RunLoader()
    assert loader.load("camels", tmp_path / "metrics.csv").meta["config"] == {"hidden_size": 85}

    def blocked(files):
        raise Blocked(0.1)

    monkeypatch.setattr(loader_module, "_read_sidecars", blocked)
    last = (tmp_path / "metrics.csv").read_text().splitlines()[-1]
    with open(tmp_path / "metrics.csv", "a") as handle:
        handle.write(last + "\n")
    run = loader.load("camels", tmp_path / "metrics.csv")
    assert run.record_count > 0 and run.meta["config"] == {"hidden_size": 85}
