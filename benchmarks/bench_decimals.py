"""Decimal text to float64: float() and numpy's parsers against decimals (orjson), per number.

A long run's first read is mostly this conversion. Numbers as Python loggers write
them (repr of a float: mostly 16-17 significant digits, the worst case of a correctly
rounded strtod) and as short ones (`0.101228`, Ultralytics' 6 significant digits) are
converted each way, the fastest of --repeat passes, in ns a number:

- tokens: a list of str, as the JSON-lines and CSV readers hold them (float() of each,
  numpy's conversion of the list, decimals.from_strings);
- separated: bytes of numbers and whitespace, as the CSV and MLflow readers hold them
  (np.fromstring, decimals.from_separated).

    python benchmarks/bench_decimals.py [--numbers 200000] [--repeat 7]

Runs against the metricwatch of the repository it sits in (its parent folder).
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path[:0] = [str(Path(__file__).resolve().parent.parent)]

from metricwatch.readers.decimals import from_separated, from_strings  # noqa: E402


def _fastest(work: Callable[[], object], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        work()
        best = min(best, time.perf_counter() - started)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--numbers", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    rng = random.Random(0)
    kinds = {
        "repr of floats": [repr(rng.lognormvariate(0, 2)) for _ in range(args.numbers)],
        "6 significant digits": [f"{rng.lognormvariate(0, 2):.6g}" for _ in range(args.numbers)],
    }
    for kind, tokens in kinds.items():
        count = len(tokens)
        separated = " ".join(tokens).encode()
        expected = np.array(list(map(float, tokens)))
        assert np.array_equal(from_strings(tokens), expected)
        assert np.array_equal(from_separated(separated), expected)
        ways: dict[str, Callable[[], object]] = {
            "float() each": lambda t=tokens, n=count: np.fromiter(map(float, t), np.float64, n),
            "np.array(list of str)": lambda t=tokens: np.array(t, dtype=np.float64),
            "decimals.from_strings": lambda t=tokens: from_strings(t),
            "np.fromstring(sep=' ')": lambda s=separated: np.fromstring(s, sep=" "),
            "decimals.from_separated": lambda s=separated: from_separated(s),
        }
        print(f"{kind} ({count:,} numbers, e.g. {tokens[0]}):")
        for name, work in ways.items():
            print(f"  {name:26s} {_fastest(work, args.repeat) / count * 1e9:6.0f} ns a number")


if __name__ == "__main__":
    main()
