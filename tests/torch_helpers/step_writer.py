"""Log STEPS steps as fast as possible (train_loss = the step), flushing every FLUSH_S seconds.

Usage: python step_writer.py RUN_DIR STEPS FLUSH_S
"""

import sys

from metricwatch.torch import JSONMetricLogger


def main() -> None:
    run_dir, steps, flush_s = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    with JSONMetricLogger(run_dir, flush_every_s=flush_s) as logger:
        for step in range(1, steps + 1):
            logger.log_step(train_loss=float(step), lr=0.5)


if __name__ == "__main__":
    main()
