"""The body of the 2-process gloo test: run on each rank by torch.multiprocessing.

Each rank logs into a directory of its own (only rank 0's may appear on
disk), both ranks resume a shared run, both log steps into one run
directory (only rank 0 takes its lock and writes), and
AverageMeter.synchronize() is fed different values and counts per rank. What each rank saw goes to
BASE/results/RANK.json for the test to compare.
"""

import json
import os
from datetime import timedelta
from pathlib import Path

import torch
import torch.distributed as dist

from metricwatch.torch import AverageMeter, JSONMetricLogger


def run(rank: int, world_size: int, rendezvous: str, base: str) -> None:
    torch.set_num_threads(1)
    dist.init_process_group(
        "gloo",
        # A file store: no TCP port to pick, so no race with other processes for one.
        init_method=f"file://{rendezvous}",
        rank=rank,
        world_size=world_size,
        timeout=timedelta(seconds=30),
    )
    try:
        result = _checks(rank, Path(base))
        result["gathered"] = [None] * world_size
        dist.all_gather_object(result["gathered"], {"own": result["own"]})
        results = Path(base) / "results"
        results.mkdir(exist_ok=True)
        (results / f"{rank}.json").write_text(json.dumps(result))
        dist.barrier()  # leave together: an early exit can abort the other rank's gloo teardown
    finally:
        dist.destroy_process_group()


def _checks(rank: int, base: Path) -> dict:
    result: dict = {"rank": rank}

    # 1. A run directory per rank: rank 1's must never be created.
    own = base / f"rank{rank}" / "run"
    with JSONMetricLogger(own, total_epochs=2, task="classification", resume=False) as logger:
        first = logger.log_epoch(train_loss=torch.tensor(0.5), val_acc=0.25, duration_s=1.0)
        second = logger.log_epoch(train_loss=torch.tensor(0.25), val_acc=0.5, duration_s=2.0)
    result["own"] = [first, second]

    # 2. One shared run with 3 epochs on disk: every rank resumes at epoch 4.
    shared = base / "shared"
    with JSONMetricLogger(shared, resume=True) as logger:
        dist.barrier()  # every rank has read the file before rank 0 writes to it
        fourth = logger.log_epoch(val_loss=1.0, duration_s=3.0)
        replaced = logger.log_epoch(epoch=3, val_loss=0.5, duration_s=3.0)
        following = logger.log_epoch(val_loss=0.4, duration_s=3.0)
    result["shared"] = [fourth, replaced, following]

    # 3. Steps, every rank on one directory: only rank 0 locks it; rank 1 fails nothing.
    steps = base / "steps"
    with JSONMetricLogger(steps, steps_per_epoch=4) as logger:
        dist.barrier()  # both loggers are open at once
        lock = steps / ".metricwatch.lock"
        returned = [
            logger.log_step(train_loss=torch.tensor(100.0 * rank + step), lr=0.1)
            for step in range(1, 9)
        ]
        epoch = logger.log_epoch(val_loss=1.0 + rank, duration_s=1.0)
        result["steps"] = {
            "returned": [{k: float(v) for k, v in r.items() if k != "time"} for r in returned],
            "pending": logger.pending_steps,
            "epoch": epoch,
            "lock_pid": json.loads(lock.read_text())["pid"],
            "pid": os.getpid(),
        }
        dist.barrier()  # rank 1 has read the lock file before rank 0 removes it

    # 4. Different values and counts per rank; the global average must be exact.
    meter = AverageMeter("loss")
    if rank == 0:
        meter.update(torch.tensor(1.0), 3)
        meter.update(torch.tensor(2.0), 1)
    else:
        meter.update(10.0, 5)
    local = meter.avg
    meter.synchronize()
    meter.synchronize()  # idempotent: must not count anyone twice
    result["meter"] = {"local": local, "avg": meter.avg, "sum": meter.sum, "count": meter.count}

    # 5. A rank with no updates at all (uneven data) still joins the reduction.
    uneven = AverageMeter()
    if rank == 0:
        uneven.update(torch.tensor(4.0), 2)
    uneven.synchronize()
    result["uneven"] = {"avg": uneven.avg, "count": uneven.count}
    return result
