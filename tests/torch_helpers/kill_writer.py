"""Kill a logging process with SIGKILL at random moments; keep what each kill left behind.

Usage: python kill_writer.py RUN_DIR SNAPSHOT_DIR TRIALS SEED

torch is imported once here; every trial forks a child that resumes the run
and logs as fast as it can (so it is almost always mid-write): steps to
metrics.jsonl, flushed every few milliseconds, and an epoch to metrics.json
every STEPS_PER_EPOCH steps, until this process SIGKILLs it after a random
delay: counted from the fork for every fourth trial (which may hit the
logger's start-up), else from the moment the child has started logging.

After each kill it saves metrics.json whole (SNAPSHOT_DIR/NNN.json) and the
bytes of metrics.jsonl from the end of the complete lines seen after the
previous kill (SNAPSHOT_DIR/NNN.jsonl): the file is only ever appended to,
so these pieces, in order, are the file. Prints one JSON line per trial.
"""

import json
import os
import random
import select
import signal
import sys
import time
from pathlib import Path

import torch

from metricwatch.torch import JSONMetricLogger
from metricwatch.writer import MetricsDocument

METRICS = [f"metric_{i}" for i in range(12)]
STEPS_PER_EPOCH = 40


def step_values(step: int) -> dict:
    """What step `step` logs: each value says which step it belongs to."""
    return {"train_loss": 1.0 / step, "lr": torch.tensor(step * 0.5, dtype=torch.float64)}


def child(run_dir: Path, ready_fd: int) -> None:
    logger = JSONMetricLogger(
        run_dir, total_epochs=10**6, task="classification", resume=True, flush_every_s=0.003
    )
    os.write(ready_fd, b"r")
    while True:
        for _ in range(STEPS_PER_EPOCH):
            logger.log_step(**step_values((logger.last_step or 0) + 1))
        epoch = logger.last_epoch + 1
        logger.log_epoch(
            train_loss=1.0 / epoch,
            val_loss=float("nan") if epoch % 7 == 0 else 2.0 / epoch,
            lr=1e-3,
            **{key: epoch * 0.001 + i for i, key in enumerate(METRICS)},
        )


def main() -> None:
    run_dir, snapshots = Path(sys.argv[1]), Path(sys.argv[2])
    trials, seed = int(sys.argv[3]), int(sys.argv[4])
    rng = random.Random(seed)
    snapshots.mkdir(parents=True, exist_ok=True)
    # Start from a sizeable file so that each write takes a while: kills land mid-write.
    document = MetricsDocument(run_dir, {"total_epochs": 10**6})
    for epoch in range(1, 301):
        document.put({"epoch": epoch, "train_loss": 1.0 / epoch, **dict.fromkeys(METRICS, 0.5)})
    document.write()
    steps = run_dir / "metrics.jsonl"
    complete = 0  # where the complete lines seen so far end
    for trial in range(trials):
        ready_read, ready_write = os.pipe()
        pid = os.fork()
        if pid == 0:
            try:
                child(run_dir, ready_write)
            finally:
                os._exit(1)
        os.close(ready_write)
        if trial % 4 == 0:
            # Any moment from the fork on: may hit the logger's own start-up.
            time.sleep(rng.uniform(0.0, 0.05))
        else:
            # While it logs (start-up time varies with the machine's load).
            select.select([ready_read], [], [], 30)
            time.sleep(rng.uniform(0.0, 0.04))
        os.kill(pid, signal.SIGKILL)
        os.close(ready_read)
        _, status = os.waitpid(pid, 0)
        (snapshots / f"{trial:03d}.json").write_bytes((run_dir / "metrics.json").read_bytes())
        with open(steps, "rb") if steps.exists() else open(os.devnull, "rb") as handle:
            handle.seek(complete)
            piece = handle.read()
        (snapshots / f"{trial:03d}.jsonl").write_bytes(piece)
        leftovers = sorted(p.name for p in run_dir.iterdir() if p.name.endswith(".tmp"))
        killed = os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
        report = {"trial": trial, "killed": killed, "temp_files": leftovers, "from": complete}
        print(json.dumps(report), flush=True)
        complete += piece.rfind(b"\n") + 1


if __name__ == "__main__":
    main()
