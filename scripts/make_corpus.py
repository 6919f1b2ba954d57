"""Write the framework-generated part of the real-log corpus (tests/corpus/*/generated/).

Every file below is written by the real framework's own logger on a tiny model
trained on the CPU for a few seconds; nothing is hand-formatted.

Needs, in a virtualenv of its own (never metricwatch's .venv; install torch first
so that nothing pulls a CUDA build):

    python3 -m venv /tmp/corpus-venv
    /tmp/corpus-venv/bin/pip install torch==2.13.0
    /tmp/corpus-venv/bin/pip install lightning mlflow tensorboard transformers accelerate keras

Run from the repository root:

    /tmp/corpus-venv/bin/python scripts/make_corpus.py            # everything
    /tmp/corpus-venv/bin/python scripts/make_corpus.py lightning  # one part

Each part writes only into its own sub-folder of generated/ (named below) and
replaces only that folder, so other generated files beside it are left alone.

Parts: lightning (CSVLogger + TensorBoardLogger), summarywriter
(torch.utils.tensorboard), keras (CSVLogger + history), mlflow (file store and
the default sqlite store), hf (Trainer's trainer_state.json). A part whose
framework does not import is skipped with a message. The script installs
nothing. Versions used are written to VERSIONS.txt in each sub-folder.

Wall times, host names and run ids differ from one run to the next; the shapes
(columns, keys, folders, line ends) are what the tests rely on.
"""

from __future__ import annotations

import gzip
import json
import math
import os
import platform
import shutil
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "torch")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "tests" / "corpus"


def fresh(path: Path) -> Path:
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)
    return path


def write_versions(folder: Path, **versions: str) -> None:
    lines = [f"python {platform.python_version()}"]
    lines += [f"{name} {version}" for name, version in versions.items()]
    (folder / "VERSIONS.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")


# --------------------------------------------------------------------------
# PyTorch Lightning: CSVLogger and TensorBoardLogger on the same tiny run
# --------------------------------------------------------------------------
def make_lightning() -> None:
    import lightning as L
    import torch
    from lightning.pytorch.callbacks import LearningRateMonitor
    from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger
    from torch import nn
    from torch.nn import functional as F
    from torch.utils.data import DataLoader, TensorDataset

    class Tiny(L.LightningModule):
        def __init__(self, lr: float = 0.05, hidden: int = 8):
            super().__init__()
            self.save_hyperparameters()
            self.net = nn.Sequential(nn.Linear(4, hidden), nn.ReLU(), nn.Linear(hidden, 2))

        def training_step(self, batch, batch_idx):
            x, y = batch
            logits = self.net(x)
            loss = F.cross_entropy(logits, y)
            # on_step and on_epoch: the CSV gets train/loss_step and train/loss_epoch
            self.log("train/loss", loss, on_step=True, on_epoch=True)
            self.log(
                "train_acc", (logits.argmax(1) == y).float().mean(), on_step=False, on_epoch=True
            )
            if self.current_epoch == 1 and batch_idx == 2:
                # a NaN value, written as "nan" in the CSV
                self.log("probe/grad_scale", float("nan"), on_step=True, on_epoch=False)
            if self.current_epoch >= 2:
                # a key that first appears late: Lightning 2.x rewrites metrics.csv
                # with the wider header when it shows up
                self.log(
                    "late/weight_norm",
                    sum(p.norm() for p in self.parameters()),
                    on_step=True,
                    on_epoch=False,
                )
            return loss

        def validation_step(self, batch, batch_idx):
            x, y = batch
            logits = self.net(x)
            self.log("val/loss", F.cross_entropy(logits, y))
            self.log("val_acc", (logits.argmax(1) == y).float().mean())

        def configure_optimizers(self):
            opt = torch.optim.Adam(self.parameters(), lr=self.hparams.lr)
            sched = torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
            return [opt], [{"scheduler": sched, "interval": "epoch"}]

    L.seed_everything(0, workers=True)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(96, 4, generator=g)
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).long()
    train = DataLoader(TensorDataset(x[:64], y[:64]), batch_size=8, shuffle=True, generator=g)
    val = DataLoader(TensorDataset(x[64:], y[64:]), batch_size=16)

    csv_root = fresh(CORPUS / "lightning_csv" / "generated" / "lightning_csvlogger")
    tb_root = fresh(CORPUS / "tfevents" / "generated" / "lightning_tb")
    trainer = L.Trainer(
        max_epochs=3,
        log_every_n_steps=2,
        check_val_every_n_epoch=1,
        callbacks=[LearningRateMonitor(logging_interval="step")],
        logger=[
            CSVLogger(save_dir=csv_root, name="lightning_logs", version=0),
            TensorBoardLogger(save_dir=tb_root, name="lightning_logs", version=0),
        ],
        accelerator="cpu",
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        deterministic=True,
    )
    trainer.fit(Tiny(), train, val)
    write_versions(csv_root, torch=torch.__version__, lightning=L.__version__)
    write_versions(tb_root, torch=torch.__version__, lightning=L.__version__)


# --------------------------------------------------------------------------
# torch.utils.tensorboard.SummaryWriter: scalars, plus things a reader skips
# --------------------------------------------------------------------------
def make_summarywriter() -> None:
    import tensorboard
    import torch
    from torch.utils.tensorboard import SummaryWriter

    root = fresh(CORPUS / "tfevents" / "generated" / "torch_summarywriter")
    run = root / "run_a"
    torch.manual_seed(0)

    # first event file: steps 0..19
    w = SummaryWriter(log_dir=str(run))
    for step in range(20):
        loss = 2.0 * math.exp(-step / 8) + 0.05 * float(torch.rand(()))
        w.add_scalar("Loss/train", loss, step)
        w.add_scalar("lr", 0.1 * 0.9**step, step)
        if step % 5 == 4:
            w.add_scalar("Loss/val", loss * 1.1, step)
            w.add_scalar("Accuracy/val", 1.0 - loss / 3, step)
    w.add_scalar("Loss/train_nan_probe", float("nan"), 10)
    w.add_scalar("Loss/train_inf_probe", float("inf"), 11)
    w.add_histogram("weights/fc", torch.randn(100), 19)
    w.add_text("notes", "histograms and text are not scalars", 0)
    # add_scalars writes one sub-directory per tag under run_a/
    for step in range(0, 20, 5):
        w.add_scalars("lr_groups", {"pg0": 0.1 * 0.9**step, "pg1": 0.01 * 0.9**step}, step)
    w.close()

    # second event file in the same directory (a restarted writer): steps 20..29
    w = SummaryWriter(log_dir=str(run))
    for step in range(20, 30):
        loss = 2.0 * math.exp(-step / 8) + 0.05 * float(torch.rand(()))
        w.add_scalar("Loss/train", loss, step)
        w.add_scalar("lr", 0.1 * 0.9**step, step)
    w.close()
    write_versions(root, torch=torch.__version__, tensorboard=tensorboard.__version__)


# --------------------------------------------------------------------------
# Keras 3 (torch backend): CSVLogger in several shapes, and History
# --------------------------------------------------------------------------
def make_keras() -> None:
    import keras
    import numpy as np

    out = fresh(CORPUS / "keras_csv" / "generated" / "keras3_csvlogger")
    hist_out = fresh(CORPUS / "history_json" / "generated" / "keras3_history")
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(256, 4)).astype("float32")
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).astype("float32")

    def model():
        m = keras.Sequential(
            [
                keras.Input((4,)),
                keras.layers.Dense(8, activation="relu"),
                keras.layers.Dense(1, activation="sigmoid"),
            ]
        )
        m.compile(
            optimizer=keras.optimizers.Adam(0.01), loss="binary_crossentropy", metrics=["accuracy"]
        )
        return m

    fit = dict(batch_size=32, verbose=0, validation_split=0.25)

    # 1. the default: training.log, comma separated
    m = model()
    h = m.fit(
        x, y, epochs=4, callbacks=[keras.callbacks.CSVLogger(str(out / "training.log"))], **fit
    )
    (hist_out / "keras_history.json").write_text(json.dumps(h.history), encoding="utf-8")

    # 2. append=True, two fit() calls into one file: the epoch restarts at 0
    m = model()
    log = str(out / "appended_training.log")
    m.fit(x, y, epochs=3, callbacks=[keras.callbacks.CSVLogger(log, append=True)], **fit)
    m.fit(x, y, epochs=3, callbacks=[keras.callbacks.CSVLogger(log, append=True)], **fit)

    # 3. another separator, plus ReduceLROnPlateau's learning_rate column
    m = model()
    m.fit(
        x,
        y,
        epochs=4,
        callbacks=[
            keras.callbacks.ReduceLROnPlateau(
                monitor="loss", factor=0.5, patience=0, min_delta=10.0
            ),
            keras.callbacks.CSVLogger(str(out / "semicolon_training_log.csv"), separator=";"),
        ],
        **fit,
    )

    # 4. validation every 2nd epoch: the val_ cells of the other epochs are NA
    m = model()
    split = 192
    m.fit(
        x[:split],
        y[:split],
        epochs=4,
        batch_size=32,
        verbose=0,
        validation_data=(x[split:], y[split:]),
        validation_freq=2,
        callbacks=[keras.callbacks.CSVLogger(str(out / "valfreq_training.log"))],
    )
    import torch

    write_versions(
        out, keras=keras.__version__, keras_backend=keras.backend.backend(), torch=torch.__version__
    )
    write_versions(
        hist_out,
        keras=keras.__version__,
        keras_backend=keras.backend.backend(),
        torch=torch.__version__,
    )


# --------------------------------------------------------------------------
# MLflow: a file store (mlruns/) and the default sqlite store (mlflow.db)
# --------------------------------------------------------------------------
def _log_mlflow_runs(mlflow) -> None:
    mlflow.set_experiment("tiny-classifier")
    with mlflow.start_run(run_name="baseline"):
        mlflow.log_params({"lr": 0.05, "batch_size": 8, "optimizer": "adam"})
        mlflow.set_tag("stage", "corpus")
        for epoch in range(5):
            loss = 1.0 / (epoch + 1)
            mlflow.log_metric("train/loss", loss, step=epoch)
            mlflow.log_metric("val_loss", loss * 1.2, step=epoch)
            mlflow.log_metric("val_accuracy", 0.5 + 0.08 * epoch, step=epoch)
            mlflow.log_metric("lr", 0.05 * 0.5**epoch, step=epoch)
        mlflow.log_metric("val_loss", float("nan"), step=5)
    with mlflow.start_run(run_name="diverged") as run:
        mlflow.log_params({"lr": 5.0, "batch_size": 8, "optimizer": "adam"})
        for step in range(0, 40, 10):
            mlflow.log_metric("train/loss", 0.7 * 3 ** (step / 10), step=step)
        mlflow.log_metric("train/loss", float("inf"), step=40)
        mlflow.end_run(status="FAILED")
    _ = run


def make_mlflow() -> None:
    import mlflow

    # file store: MLflow 3.x refuses it unless told otherwise
    os.environ["MLFLOW_ALLOW_FILE_STORE"] = "true"
    root = fresh(CORPUS / "mlflow" / "generated" / "mlflow_client_filestore")
    mlflow.set_tracking_uri((root / "mlruns").as_uri())
    _log_mlflow_runs(mlflow)

    # default store (sqlite:///mlflow.db in the working directory since 3.7):
    # written in a temporary directory, kept gzipped (an empty database is ~1 MB)
    with tempfile.TemporaryDirectory() as tmp:
        cwd = os.getcwd()
        os.chdir(tmp)
        try:
            mlflow.set_tracking_uri(None)
            os.environ.pop("MLFLOW_TRACKING_URI", None)
            from mlflow.tracking._tracking_service.utils import _resolve_tracking_uri

            uri = _resolve_tracking_uri()
            if uri.startswith("sqlite"):
                _log_mlflow_runs(mlflow)
                db = Path(tmp) / "mlflow.db"
                db_root = fresh(CORPUS / "mlflow" / "generated" / "mlflow_client_default_db")
                with (
                    open(db, "rb") as src,
                    gzip.GzipFile(db_root / "mlflow.db.gz", "wb", mtime=0) as dst,
                ):
                    shutil.copyfileobj(src, dst)
                write_versions(db_root, mlflow=mlflow.__version__)
            else:
                print(f"mlflow: default tracking URI is {uri!r}, not sqlite; no mlflow.db written")
        finally:
            os.chdir(cwd)
    write_versions(root, mlflow=mlflow.__version__)


# --------------------------------------------------------------------------
# Hugging Face Trainer: trainer_state.json in the run root and checkpoint-N/
# --------------------------------------------------------------------------
def make_hf() -> None:
    import torch
    import transformers
    from transformers import BertConfig, BertForSequenceClassification, Trainer, TrainingArguments

    out = fresh(CORPUS / "hf_trainer" / "generated" / "tiny_bert_run")
    run = out
    torch.manual_seed(0)

    class Toy(torch.utils.data.Dataset):
        def __init__(self, n, seed):
            g = torch.Generator().manual_seed(seed)
            self.ids = torch.randint(5, 100, (n, 12), generator=g)
            self.labels = (self.ids[:, 0] > 50).long()

        def __len__(self):
            return len(self.labels)

        def __getitem__(self, i):
            return {
                "input_ids": self.ids[i],
                "attention_mask": torch.ones(12, dtype=torch.long),
                "labels": self.labels[i],
            }

    config = BertConfig(
        vocab_size=100,
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=32,
        num_labels=2,
    )
    model = BertForSequenceClassification(config)

    def accuracy(pred):
        return {"accuracy": float((pred.predictions.argmax(-1) == pred.label_ids).mean())}

    args = TrainingArguments(
        output_dir=str(run),
        max_steps=30,
        per_device_train_batch_size=8,
        per_device_eval_batch_size=16,
        learning_rate=5e-3,
        warmup_steps=5,
        logging_steps=5,
        eval_strategy="steps",
        eval_steps=10,
        save_strategy="steps",
        save_steps=10,
        load_best_model_at_end=True,
        metric_for_best_model="accuracy",
        report_to="none",
        use_cpu=True,
        seed=0,
        dataloader_num_workers=0,
    )
    trainer = Trainer(
        model=model,
        args=args,
        train_dataset=Toy(128, 1),
        eval_dataset=Toy(48, 2),
        compute_metrics=accuracy,
    )
    trainer.train()
    trainer.save_state()  # run root trainer_state.json, with the final summary entry

    # keep only the trainer_state.json files (weights, optimizer and rng states are not logs)
    for path in sorted(run.rglob("*"), reverse=True):
        if path.is_file() and path.name != "trainer_state.json":
            path.unlink()
        elif path.is_dir() and not any(path.iterdir()):
            path.rmdir()
    write_versions(out, torch=torch.__version__, transformers=transformers.__version__)


PARTS = {
    "lightning": make_lightning,
    "summarywriter": make_summarywriter,
    "keras": make_keras,
    "mlflow": make_mlflow,
    "hf": make_hf,
}


def main(argv: list[str]) -> int:
    wanted = argv or list(PARTS)
    unknown = [w for w in wanted if w not in PARTS]
    if unknown:
        print(f"unknown part(s): {', '.join(unknown)}; parts are {', '.join(PARTS)}")
        return 2
    failed = 0
    for name in wanted:
        try:
            PARTS[name]()
        except ImportError as exc:
            print(f"{name}: skipped, framework not importable ({exc})")
        except Exception as exc:  # noqa: BLE001 - report and go on with the other parts
            failed += 1
            print(f"{name}: FAILED: {exc!r}")
            import traceback

            traceback.print_exc()
        else:
            print(f"{name}: written")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
