"""Writes the generated MLflow stores of this folder with MLflow's own client.

Run with a Python that has mlflow (NOT the project's venv), from this folder's parent:
    python tests/corpus/mlflow/generate.py tests/corpus/mlflow/generated
Both stores get the same runs: a finished run with nested keys (`train/loss`), a NaN
and an Inf, params and an epoch per step; a second run logging without steps; a run
that failed; a deleted run; a deleted experiment.
"""

import math
import sys
from pathlib import Path

import mlflow
from mlflow.tracking import MlflowClient

out = Path(sys.argv[1]).resolve()
T0 = 1_700_000_000_000  # ms


def fill(uri: str) -> None:
    client = MlflowClient(tracking_uri=uri)
    experiment = client.create_experiment("cifar")
    run = client.create_run(experiment, run_name="resnet-baseline", start_time=T0)
    rid = run.info.run_id
    for step in range(4):
        client.log_metric(
            rid, "train/loss", 2.0 - 0.5 * step, timestamp=T0 + step * 1000, step=step
        )
        client.log_metric(rid, "epoch", step / 2, timestamp=T0 + step * 1000, step=step)
    for step, value in ((1, 1.5), (3, math.nan)):
        client.log_metric(rid, "val_loss", value, timestamp=T0 + step * 1000 + 500, step=step)
    client.log_metric(rid, "grad_norm", math.inf, timestamp=T0 + 3000, step=3)
    client.log_metric(rid, "eval_accuracy", 0.5, timestamp=T0 + 1500, step=1)
    client.log_metric(rid, "eval_accuracy", 0.75, timestamp=T0 + 3500, step=3)
    client.log_param(rid, "lr", "0.001")
    client.log_param(rid, "optimizer/name", "adam")
    client.set_terminated(rid, "FINISHED", end_time=T0 + 4000)

    run = client.create_run(experiment, run_name="no-steps", start_time=T0)
    for index, value in enumerate((0.9, 0.7, 0.6)):
        client.log_metric(run.info.run_id, "loss", value, timestamp=T0 + index)
    client.set_terminated(run.info.run_id, "FAILED", end_time=T0 + 10)

    run = client.create_run(experiment, run_name="deleted-run", start_time=T0)
    client.log_metric(run.info.run_id, "loss", 1.0, timestamp=T0, step=0)
    client.delete_run(run.info.run_id)

    gone = client.create_experiment("scratch")
    run = client.create_run(gone, run_name="in-deleted-experiment", start_time=T0)
    client.log_metric(run.info.run_id, "loss", 1.0, timestamp=T0, step=0)
    client.delete_experiment(gone)


fill((out / "mlruns").as_uri())
fill("sqlite:///" + str(out / "mlflow.db"))  # then gzip -9 it: mlflow.db.gz
print("mlflow", mlflow.__version__)
