"""What keeping freed memory (metricwatch/allocator.py) saves on numpy temporaries.

Each case runs in a fresh interpreter, once with glibc's default thresholds
and once after `keep_freed_memory()`, and prints the median of 200 calls:
an expression with two temporaries over 100,000 values (a chart line of a
long run placed on its axis) and a float-to-int conversion plus clip of
1,000,000 values (the shape of most passes over a 1M-point run).

    python benchmarks/bench_allocator.py
"""

from __future__ import annotations

import subprocess
import sys

CASE = """
import statistics, time
import numpy as np
from metricwatch.allocator import keep_freed_memory
taken = keep_freed_memory() if {keep} else False
x = np.random.default_rng(0).random(100_000)
big = np.random.default_rng(1).random(1_000_000) * 100

def median_ms(fn):
    times = []
    for _ in range(200):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000

place = median_ms(lambda: np.minimum((x - 0.25) * 3.0, 1.0))
clip = median_ms(lambda: np.clip(big.astype(np.int64), 0, 33))
print(f"{{taken!s:>5}}  {{place:16.3f}}  {{clip:17.3f}}")
"""


def main() -> None:
    print("kept   place 100k ms   astype+clip 1M ms")
    for keep in (False, True):
        code = CASE.format(keep=keep)
        subprocess.run([sys.executable, "-c", code], check=True)


if __name__ == "__main__":
    main()
