"""An MLflow file-store run's `epoch` metric is the epochs axis: its times are not kept.

No series has the axis's times, so its file's times were 8 bytes an epoch point held for
nothing. A run read live, with its epoch logged out of order too (built again from the
start), reads as a fresh read does, and the epochs are the same.
"""

from __future__ import annotations

import numpy as np

from metricwatch.readers.mlflow_files import FileStoreRunTail, read_file_store_run


def log(run, key: str, lines: list[tuple[int, float]]) -> None:
    with (run / "metrics" / key).open("a") as handle:
        handle.writelines(f"{1_700_000_000_000 + s} {v!r} {s}\n" for s, v in lines)


def test_the_epoch_metric_keeps_no_times_and_dates_as_before(tmp_path):
    run = tmp_path / "run"
    (run / "metrics").mkdir(parents=True)
    (run / "meta.yaml").write_text("run_id: abc\nrun_name: live\nstatus: 1\n")
    tail = FileStoreRunTail(run)
    for steps in (range(0, 20), range(20, 25), [30, 26, 27]):  # the last out of order
        log(run, "loss", [(s, 1 / (s + 1)) for s in steps])
        log(run, "epoch", [(s, s / 10) for s in steps])
        live, whole = tail.read(), read_file_store_run(run)
        assert tail.columns["epoch"].times is None
        assert tail.columns["loss"].times is not None
        got, want = live.table.series["train_loss"], whole.table.series["train_loss"]
        assert got.steps.tolist() == want.steps.tolist()
        assert np.array_equal(got.epochs, want.epochs, equal_nan=True)
        assert np.array_equal(got.times, want.times)
        assert "epoch" not in live.table.series
    assert live.table.series["train_loss"].epochs.tolist()[-3:] == [2.6, 2.7, 3.0]
