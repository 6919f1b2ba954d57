"""Two real gloo processes: only rank 0 locks and writes; AverageMeter.synchronize() is exact."""

import json
import sys
import tempfile
import time
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

import torch.distributed as dist  # noqa: E402
import torch.multiprocessing as mp  # noqa: E402
from helpers import records  # noqa: E402

from metricwatch.readers import parse_metrics_json  # noqa: E402
from metricwatch.writer import MetricsDocument  # noqa: E402

if str(Path(__file__).parent) not in sys.path:  # spawned ranks import the helper by name
    sys.path.insert(0, str(Path(__file__).parent))
from torch_helpers import dist_worker  # noqa: E402

pytestmark = [
    pytest.mark.torch,
    pytest.mark.skipif(not dist.is_available(), reason="torch.distributed not built"),
]

WORLD_SIZE = 2
TIMEOUT_S = 60


def run_ranks(base):
    rendezvous = Path(tempfile.mkdtemp(prefix="metricwatch-dist-")) / "store"
    context = mp.start_processes(
        dist_worker.run,
        args=(WORLD_SIZE, str(rendezvous), str(base)),
        nprocs=WORLD_SIZE,
        join=False,
        start_method="spawn",
    )
    deadline = time.monotonic() + TIMEOUT_S
    try:
        while not context.join(timeout=0.5):  # raises if a rank failed
            if time.monotonic() > deadline:
                pytest.fail(f"ranks still running after {TIMEOUT_S}s")
    finally:
        for process in context.processes:
            if process.is_alive():
                process.kill()
    return [json.loads((base / "results" / f"{rank}.json").read_text()) for rank in (0, 1)]


@pytest.fixture(scope="module")
def outcome(tmp_path_factory):
    base = tmp_path_factory.mktemp("ddp")
    shared = MetricsDocument(base / "shared", {"total_epochs": 6})
    for epoch, loss in enumerate((3.0, 2.0, 1.0), start=1):
        shared.put({"epoch": epoch, "val_loss": loss})
    shared.write()
    return base, run_ranks(base)


def test_only_rank_0_creates_its_run(outcome):
    base, _ = outcome
    assert not (base / "rank1").exists()
    result = parse_metrics_json((base / "rank0" / "run" / "metrics.json").read_bytes())
    assert result.problems == []
    assert [(r.epoch, r.values["train_loss"]) for r in records(result)] == [(1, 0.5), (2, 0.25)]
    assert result.meta["task"] == "classification"


def test_every_rank_gets_rank_0s_records(outcome):
    _, (rank0, rank1) = outcome
    assert rank0["own"] == rank1["own"]
    assert rank0["own"][1] == {
        "epoch": 2,
        "train_loss": 0.25,
        "val_accuracy": 0.5,
        "duration_s": 2.0,
    }
    assert rank0["gathered"][0] == rank0["gathered"][1]


def test_a_shared_resumed_run_is_numbered_alike_and_written_once(outcome):
    base, (rank0, rank1) = outcome
    assert rank0["shared"] == rank1["shared"]
    assert [record["epoch"] for record in rank0["shared"]] == [4, 3, 4]
    result = parse_metrics_json((base / "shared" / "metrics.json").read_bytes())
    assert result.problems == []
    values = [(r.epoch, r.values["val_loss"]) for r in records(result)]
    assert values == [(1, 3.0), (2, 2.0), (3, 0.5), (4, 0.4)]
    assert sorted(p.name for p in (base / "shared").iterdir()) == ["metrics.json"]


def test_only_rank_0_locks_and_writes_steps_and_log_step_is_a_no_op_elsewhere(outcome):
    base, (rank0, rank1) = outcome
    # Both ranks had a logger open on one directory: only rank 0 holds the lock.
    assert rank0["steps"]["lock_pid"] == rank1["steps"]["lock_pid"] == rank0["steps"]["pid"]
    assert rank1["steps"]["pid"] != rank0["steps"]["pid"]
    assert rank1["steps"]["pending"] == 0  # nothing queued on rank 1
    lines = (base / "steps" / "metrics.jsonl").read_text().splitlines()
    rows = [json.loads(line) for line in lines]
    assert [row["step"] for row in rows] == list(range(1, 9))
    assert [row["train_loss"] for row in rows] == [float(step) for step in range(1, 9)]  # rank 0's
    assert [row["epoch"] for row in rows] == [step / 4 for step in range(1, 9)]
    for rank, got in enumerate((rank0, rank1)):
        assert [r["step"] for r in got["steps"]["returned"]] == list(range(1, 9))
        assert [r["train_loss"] for r in got["steps"]["returned"]] == [
            100.0 * rank + step for step in range(1, 9)
        ]
        assert got["steps"]["epoch"] == {
            "epoch": 1,
            "step": 8,
            "val_loss": 1.0 + rank,
            "duration_s": 1.0,
        }
    result = parse_metrics_json((base / "steps" / "metrics.json").read_bytes())
    assert [(r.epoch, r.values) for r in records(result)] == [
        (1, {"step": 8.0, "val_loss": 1.0, "duration_s": 1.0})
    ]
    assert sorted(p.name for p in (base / "steps").iterdir()) == ["metrics.json", "metrics.jsonl"]


def test_synchronize_gives_the_exact_global_average(outcome):
    _, (rank0, rank1) = outcome
    # rank 0: 1.0 x 3 and 2.0 x 1; rank 1: 10.0 x 5  ->  (3 + 2 + 50) / 9
    assert rank0["meter"]["local"] == 5.0 / 4
    assert rank1["meter"]["local"] == 10.0
    for rank in (rank0, rank1):
        assert rank["meter"]["sum"] == 55.0
        assert rank["meter"]["count"] == 9
        assert rank["meter"]["avg"] == 55.0 / 9


def test_synchronize_with_a_rank_that_saw_nothing(outcome):
    _, (rank0, rank1) = outcome
    assert rank0["uneven"] == rank1["uneven"] == {"avg": 4.0, "count": 2}
