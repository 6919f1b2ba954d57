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
