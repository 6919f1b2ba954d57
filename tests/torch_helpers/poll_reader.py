"""Re-read a metrics.json in a tight loop and report every read that is not valid JSON.

Usage: python poll_reader.py METRICS_JSON READY_FILE STOP_FILE RESULT_JSON

Deliberately imports neither torch nor metricwatch: it is what any foreign
tool polling the file does (json.loads on whatever bytes are there).
"""

import json
import sys
from pathlib import Path


def main() -> None:
    target, ready, stop, result = (Path(arg) for arg in sys.argv[1:5])
    reads = 0
    failures = 0
    first_failure = None
    epoch_counts = set()
    ready.write_text("ready")
    while True:
        stopping = stop.exists()  # one more full pass after the writer is done
        try:
            data = target.read_bytes()
        except FileNotFoundError:
            data = None
        if data is not None:
            reads += 1
            try:
                document = json.loads(data)
                epoch_counts.add(len(document["epochs"]))
            except (ValueError, KeyError, TypeError) as error:
                failures += 1
                if first_failure is None:
                    first_failure = f"{error!r} in {len(data)} bytes: {data[:80]!r}"
        if stopping:
            break
    result.write_text(
        json.dumps(
            {
                "reads": reads,
                "failures": failures,
                "first_failure": first_failure,
                "distinct_epoch_counts": len(epoch_counts),
                "max_epochs": max(epoch_counts, default=0),
            }
        )
    )


if __name__ == "__main__":
    main()
