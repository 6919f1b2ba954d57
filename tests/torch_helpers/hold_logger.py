"""Open a JSONMetricLogger on a run directory and hold it until told to stop.

Usage: python hold_logger.py RUN_DIR READY_FILE STOP_FILE

Writes READY_FILE once the logger is open (and has logged a step and an
epoch), then waits for STOP_FILE to appear and closes the logger. A test
may also SIGKILL it while it holds the run.
"""

import sys
import time
from pathlib import Path

from metricwatch.torch import JSONMetricLogger


def main() -> None:
    run_dir, ready, stop = (Path(arg) for arg in sys.argv[1:4])
    with JSONMetricLogger(run_dir, total_epochs=10) as logger:
        logger.log_step(train_loss=1.0)
        logger.log_epoch(val_loss=1.0)
        ready.write_text("ready")
        while not stop.exists():
            time.sleep(0.01)


if __name__ == "__main__":
    main()
