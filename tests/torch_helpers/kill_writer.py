"""Kill a logging process with SIGKILL at random moments; keep what each kill left behind.

Usage: python kill_writer.py RUN_DIR SNAPSHOT_DIR TRIALS SEED

torch is imported once here; every trial forks a child that resumes the run
and logs epochs as fast as it can (so it is almost always mid-write) until
this process SIGKILLs it after a random delay: counted from the fork for
every fourth trial (which may hit the logger's start-up write), else from
the moment the child has started logging. After each kill the bytes of
metrics.json and the names of leftover temp files are saved for the test to
check. Prints one JSON line per trial.
"""

import json
import os
import random
import select
import signal
import sys
import time
from pathlib import Path

from metricwatch.torch import JSONMetricLogger
from metricwatch.writer import MetricsDocument

METRICS = [f"metric_{i}" for i in range(12)]


def child(run_dir: Path, ready_fd: int) -> None:
    logger = JSONMetricLogger(run_dir, total_epochs=10**6, task="classification", resume=True)
    os.write(ready_fd, b"r")
    while True:
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
    for epoch in range(1, 601):
        document.put({"epoch": epoch, "train_loss": 1.0 / epoch, **dict.fromkeys(METRICS, 0.5)})
    document.write()
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
            # Any moment from the fork on: may hit the logger's own start-up write.
            time.sleep(rng.uniform(0.0, 0.1))
        else:
            # While it logs epochs (start-up time varies with the machine's load).
            select.select([ready_read], [], [], 30)
            time.sleep(rng.uniform(0.0, 0.08))
        os.kill(pid, signal.SIGKILL)
        os.close(ready_read)
        _, status = os.waitpid(pid, 0)
        data = (run_dir / "metrics.json").read_bytes()
        (snapshots / f"{trial:03d}.json").write_bytes(data)
        leftovers = sorted(p.name for p in run_dir.iterdir() if p.name.endswith(".tmp"))
        killed = os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
        print(json.dumps({"trial": trial, "killed": killed, "temp_files": leftovers}), flush=True)


if __name__ == "__main__":
    main()
