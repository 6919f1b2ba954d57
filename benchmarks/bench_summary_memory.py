"""Peak memory and time of `metricwatch summary` on a 100 MB file of each accepted shape.

Each shape (the native {"epochs": [...]} document, a bare list of epoch
records, JSON lines, and a history dict of lists) is written at about
--mb megabytes into a temporary directory; `metricwatch summary --json`
then runs in a fresh interpreter, and the child's peak RSS (getrusage
ru_maxrss) and wall time are printed, with the ratio to the file size.

    python benchmarks/bench_summary_memory.py            # 100 MB, every shape
    python benchmarks/bench_summary_memory.py --mb 20 --shape history
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

SHAPES = ("native", "list", "lines", "history")
KEYS = ("train_loss", "val_loss", "val_accuracy", "lr", "duration_s")


def _record(epoch: int, rng: random.Random) -> dict[str, float]:
    loss = 2.0 / (1 + epoch / 1000) + rng.random() * 0.01
    return {
        "epoch": epoch,
        "train_loss": loss,
        "val_loss": loss * 1.1,
        "val_accuracy": 1 - loss / 3,
        "lr": 1e-3 * 0.999 ** (epoch % 5000),
        "duration_s": 40 + rng.random(),
    }


def write_shape(path: Path, shape: str, megabytes: float) -> int:
    """Write about `megabytes` MB of the given shape; returns the number of values."""
    rng = random.Random(0)
    target = int(megabytes * 1e6)
    per_record = len(json.dumps(_record(1, rng))) + 2
    count = max(1, target // per_record)
    if shape == "history":
        # Short values (~5 bytes each, "0.41, "): the most values, and so the most
        # objects, per megabyte; one list per key, as Keras' history.history dumps it.
        count = max(1, target // (5 * len(KEYS)))
        with path.open("w") as out:
            out.write("{")
            for index, key in enumerate(KEYS):
                values = (
                    f"{(e * 7919 % 97) / 100:.2f}".rstrip("0").rstrip(".") for e in range(count)
                )
                out.write(("," if index else "") + f'"{key}": [' + ", ".join(values) + "]")
            out.write("}\n")
        return count * len(KEYS)
    with path.open("w") as out:
        if shape == "native":
            out.write(f'{{"meta": {{"total_epochs": {count}}}, "epochs": [\n')
        elif shape == "list":
            out.write("[\n")
        for epoch in range(1, count + 1):
            line = json.dumps(_record(epoch, rng))
            if shape == "lines":
                out.write(line + "\n")
            else:
                out.write(line + (",\n" if epoch < count else "\n"))
        if shape == "native":
            out.write("]}\n")
        elif shape == "list":
            out.write("]\n")
    return count * len(KEYS)


def measure(run_dir: Path) -> tuple[float, float, int]:
    """(peak RSS in MiB, seconds, exit code) of one `metricwatch summary --json`."""
    code = (
        "import resource, sys, time\n"
        "from metricwatch.cli import main\n"
        "start = time.perf_counter()\n"
        "status = main(['summary', '--json', sys.argv[1]])\n"
        "elapsed = time.perf_counter() - start\n"
        "peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024\n"
        "print(f'{peak:.1f} {elapsed:.3f} {status}', file=sys.stderr)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(run_dir)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        check=False,
    )
    last = done.stderr.strip().splitlines()[-1] if done.stderr.strip() else ""
    try:
        peak, elapsed, status = last.split()
        return float(peak), float(elapsed), int(status)
    except ValueError:
        raise SystemExit(f"summary failed: {done.stderr[-2000:]}") from None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=float, default=100.0, help="file size in MB (default 100)")
    parser.add_argument("--shape", choices=SHAPES, action="append", help="default: all")
    args = parser.parse_args()
    baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        "shape     file MB   values      peak RSS MiB   x file   seconds   "
        f"(this process {baseline:.0f} MiB)"
    )
    for shape in args.shape or SHAPES:
        with tempfile.TemporaryDirectory() as tmp:
            run_dir = Path(tmp) / "run"
            run_dir.mkdir()
            path = run_dir / "metrics.json"
            values = write_shape(path, shape, args.mb)
            size_mb = path.stat().st_size / 1e6
            peak, elapsed, status = measure(run_dir)
            ratio = peak * 1.048576 / size_mb
            print(
                f"{shape:<9} {size_mb:7.1f}   {values:>10,}   {peak:10.0f}     {ratio:5.1f}   "
                f"{elapsed:7.2f}   exit {status}"
            )


if __name__ == "__main__":
    main()
