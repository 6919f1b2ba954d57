"""Big runs in every log format metricwatch reads, and writers that go on logging them.

Used by bench_formats.py. Each format is a class that
- generates a run of about N logged points (scalar values, the x column not counted)
  in the shape its framework writes (file names, column order, sparse rows, number
  formatting; see tests/corpus/<format>/ for the real files these copy), and
- appends to it the way the framework does while training (`step()`: one logged step
  or epoch), so the monitor can be measured on a live run.

What each framework really does on disk, checked in its source:
- metricwatch's own logger (JSONMetricLogger -> writer.MetricsDocument) rewrites
  metrics.json atomically (temp file, fsync, rename) after every epoch.
- Hugging Face Trainer writes trainer_state.json only when it saves a checkpoint
  (`save_steps`), into a new `checkpoint-N/` folder, with a plain `open(path, "w")`
  (truncate and write, not atomic: TrainerState.save_to_json), after the model and
  optimizer files; `save_total_limit` then deletes the oldest checkpoint folders.
- Lightning 2.x CSVLogger appends the rows buffered since its last flush
  (`flush_logs_every_n_steps`) and rewrites the whole file only when a new key
  appears; lightning.pytorch's writer also rewrites hparams.yaml on every flush.
- Keras CSVLogger appends one row per epoch and flushes.
- Ultralytics (BaseTrainer.save_metrics, v8 to v11) appends one row per epoch with
  `open(csv, "a")` ("%.6g" cells); it does not rewrite results.csv.
- detectron2's JSONWriter appends one JSON line (sort_keys) per logging period.
- TensorBoard's EventFileWriter appends records (length, CRC, event, CRC) and flushes.
- MLflow's file store appends a `timestamp value step` line to metrics/<key> per
  logged value (keys with `/` are folders).
"""

from __future__ import annotations

import json
import math
import os
import shutil
import struct
import time
from pathlib import Path
from typing import Any

import numpy as np

T0 = 1_700_000_000.0  # wall time of step 0


def noise(index: int, salt: int = 0) -> float:
    """Deterministic noise in [-0.5, 0.5): the same run every time, cheap in a loop."""
    return (((index * 2654435761 + salt * 97531 + 12345) & 0xFFFFFFFF) / 2**32) - 0.5


def decay(frac: float, index: int, salt: int, start: float = 2.2, floor: float = 0.25) -> float:
    """A training loss: exponential decay to a floor, with noise."""
    return floor + start * math.exp(-4.0 * frac) * (1.0 + 0.2 * noise(index, salt))


def rise(frac: float, index: int, salt: int, top: float = 0.92) -> float:
    """An accuracy-like metric rising towards top."""
    return top - (top - 0.1) * math.exp(-5.0 * frac) + 0.01 * noise(index, salt)


def cosine_lr(frac: float, peak: float = 3e-4, warmup: float = 0.02) -> float:
    if frac < warmup:
        return peak * frac / warmup
    return peak * 0.5 * (1.0 + math.cos(math.pi * min(1.0, frac)))


class LogFormat:
    """One format: `generate(points)` writes the run, `step()` logs one more step."""

    name = ""
    label = ""
    x = "step"
    #: How the framework writes while training (shown in the report).
    live = ""

    def __init__(self, root: Path) -> None:
        self.root = root  # the path given to metricwatch
        self.next = 0  # the next step (or epoch) to log
        self.total = 1  # the planned length, so the run is in progress

    # --- state shared between the generating and the writing process -------------------------
    def state(self) -> dict[str, Any]:
        return {"next": self.next, "total": self.total}

    def restore(self, state: dict[str, Any]) -> None:
        self.next = state["next"]
        self.total = state["total"]
        self.open()

    def open(self) -> None:
        """Prepare to append (open files, load what the writer keeps in memory)."""

    def close(self) -> None:
        """Flush what the writer keeps (nothing for most formats)."""

    def generate(self, points: int) -> int:
        """Write a run of about `points` values; returns the number of values written."""
        raise NotImplementedError

    def step(self) -> int | None:
        """Log one step; returns the x now on disk, or None if nothing was written."""
        raise NotImplementedError


# --- metricwatch's own metrics.json -----------------------------------------------------------


def _epoch_record(epoch: int, total: int) -> dict[str, float]:
    frac = epoch / total
    return {
        "epoch": epoch,
        "train_loss": decay(frac, epoch, 1),
        "val_loss": decay(frac, epoch, 2, floor=0.32) + 0.15 * frac,
        "val_accuracy": rise(frac, epoch, 3),
        "lr": cosine_lr(frac, 1e-3),
        "duration_s": 41.0 + 4 * noise(epoch, 4),
    }


class NativeJSON(LogFormat):
    name = "metricwatch_json"
    label = "metricwatch metrics.json"
    x = "epoch"
    live = "JSONMetricLogger: whole file rewritten atomically per epoch"
    per_epoch = 5

    def generate(self, points: int) -> int:
        from metricwatch.writer import MetricsDocument

        epochs = max(2, points // self.per_epoch)
        self.total = epochs * 5 // 4
        doc = MetricsDocument(self.root, {"total_epochs": self.total, "task": "classification"})
        for epoch in range(1, epochs + 1):
            doc.put(_epoch_record(epoch, self.total))
        doc.write()
        self.next = epochs + 1
        return epochs * self.per_epoch

    def open(self) -> None:
        from metricwatch.writer import MetricsDocument

        self.doc = MetricsDocument(self.root)
        self.doc.load_existing()

    def step(self) -> int | None:
        epoch = self.next
        self.doc.put(_epoch_record(epoch, self.total))
        self.doc.write()
        self.next += 1
        return epoch


class NativeJSONLines(LogFormat):
    name = "metricwatch_jsonl"
    label = "metricwatch metrics.json, JSON lines"
    x = "epoch"
    live = "one JSON line appended per epoch"
    per_epoch = 5

    @property
    def path(self) -> Path:
        return self.root / "metrics.json"

    def generate(self, points: int) -> int:
        epochs = max(2, points // self.per_epoch)
        self.total = epochs * 5 // 4
        self.root.mkdir(parents=True, exist_ok=True)
        with self.path.open("w") as out:
            out.writelines(
                json.dumps(_epoch_record(e, self.total)) + "\n" for e in range(1, epochs + 1)
            )
        self.next = epochs + 1
        return epochs * self.per_epoch

    def open(self) -> None:
        self.handle = self.path.open("a")

    def close(self) -> None:
        self.handle.close()

    def step(self) -> int | None:
        epoch = self.next
        self.handle.write(json.dumps(_epoch_record(epoch, self.total)) + "\n")
        self.handle.flush()
        self.next += 1
        return epoch


STEPS_PER_EPOCH = 5_000


def _step_record(step: int, total: int) -> dict[str, float]:
    frac = step / total
    return {
        "step": step,
        "epoch": round(step / STEPS_PER_EPOCH, 4),
        "time": T0 + 0.1 * step,
        "train_loss": decay(frac, step, 60),
        "train_accuracy": rise(frac, step, 61),
        "lr": cosine_lr(frac, 3e-4),
        "grad_norm": 1.1 + 0.3 * noise(step, 62),
    }


class NativeStepLog(LogFormat):
    name = "metricwatch_steps"
    label = "metricwatch step log metrics.jsonl"
    live = "one JSON line appended per logged step"
    per_step = 4

    @property
    def path(self) -> Path:
        return self.root / "metrics.jsonl"

    def generate(self, points: int) -> int:
        steps = max(2, points // self.per_step)
        self.total = steps * 5 // 4
        self.root.mkdir(parents=True, exist_ok=True)
        with self.path.open("w") as out:
            out.writelines(
                json.dumps(_step_record(s, self.total)) + "\n" for s in range(1, steps + 1)
            )
        self.next = steps + 1
        return steps * self.per_step

    def open(self) -> None:
        self.handle = self.path.open("a")

    def close(self) -> None:
        self.handle.close()

    def step(self) -> int | None:
        step = self.next
        self.handle.write(json.dumps(_step_record(step, self.total)) + "\n")
        self.handle.flush()
        self.next += 1
        return step


# --- Hugging Face trainer_state.json ----------------------------------------------------------

HF_STEPS_PER_EPOCH = 10_000
HF_EVAL_STEPS = 1_000
HF_SAVE_STEPS = 20  # real default 500: 20 gives a checkpoint every 2 s at 10 steps/s
HF_SAVE_LIMIT = 2
_LOG_MARK = '    "__LOG_HISTORY__"'


def _hf_entries(step: int, total: int) -> list[dict[str, Any]]:
    frac = step / total
    epoch = round(step / HF_STEPS_PER_EPOCH, 4)
    entries: list[dict[str, Any]] = [
        {
            "epoch": epoch,
            "grad_norm": 1.2 + 0.8 * math.exp(-3 * frac) + 0.3 * noise(step, 5),
            "learning_rate": cosine_lr(frac, 5e-5),
            "loss": round(decay(frac, step, 6), 4),
            "step": step,
        }
    ]
    if step % HF_EVAL_STEPS == 0:
        entries.append(
            {
                "epoch": epoch,
                "eval_accuracy": rise(frac, step, 7),
                "eval_loss": decay(frac, step, 8, floor=0.35),
                "eval_runtime": 61.2 + noise(step, 9),
                "eval_samples_per_second": 163.4 + noise(step, 10),
                "eval_steps_per_second": 20.43 + 0.1 * noise(step, 11),
                "step": step,
            }
        )
    return entries


def _hf_encode(entry: dict[str, Any]) -> str:
    """One log_history entry exactly as json.dumps(state, indent=2, sort_keys=True) has it."""
    return "\n".join(
        "    " + line for line in json.dumps(entry, indent=2, sort_keys=True).split("\n")
    )


class HFTrainerState(LogFormat):
    name = "hf_trainer"
    label = "Hugging Face trainer_state.json"
    live = (
        f"a new checkpoint-N/ every {HF_SAVE_STEPS} steps, trainer_state.json written with "
        f"open('w') (not atomic), oldest checkpoint deleted (save_total_limit={HF_SAVE_LIMIT})"
    )

    def _state_doc(self, step: int) -> dict[str, Any]:
        return {
            "best_global_step": None,
            "best_metric": None,
            "best_model_checkpoint": None,
            "epoch": round(step / HF_STEPS_PER_EPOCH, 4),
            "eval_steps": HF_EVAL_STEPS,
            "global_step": step,
            "is_hyper_param_search": False,
            "is_local_process_zero": True,
            "is_world_process_zero": True,
            "log_history": ["__LOG_HISTORY__"],
            "logging_steps": 1,
            "max_steps": self.total,
            "num_input_tokens_seen": 0,
            "num_train_epochs": math.ceil(self.total / HF_STEPS_PER_EPOCH),
            "save_steps": HF_SAVE_STEPS,
            "stateful_callbacks": {
                "TrainerControl": {
                    "args": {
                        "should_epoch_stop": False,
                        "should_evaluate": False,
                        "should_log": False,
                        "should_save": True,
                        "should_training_stop": False,
                    },
                    "attributes": {},
                }
            },
            "total_flos": 1.3e12 * step,
            "train_batch_size": 16,
            "trial_name": None,
            "trial_params": None,
        }

    def _render(self, step: int) -> str:
        text = json.dumps(self._state_doc(step), indent=2, sort_keys=True) + "\n"
        return text.replace(_LOG_MARK, self.history, 1)

    def _save(self, step: int) -> None:
        """What Trainer._save_checkpoint does on disk, in its order."""
        folder = self.root / f"checkpoint-{step}"
        folder.mkdir(parents=True, exist_ok=True)
        for name in ("model.safetensors", "optimizer.pt", "scheduler.pt", "rng_state.pth"):
            (folder / name).write_bytes(b"\0" * 1024)
        with open(folder / "trainer_state.json", "w", encoding="utf-8") as out:
            out.write(self._render(step))
        kept = sorted(
            (p for p in self.root.glob("checkpoint-*") if p.name.split("-")[-1].isdigit()),
            key=lambda p: int(p.name.split("-")[-1]),
        )
        for old in kept[:-HF_SAVE_LIMIT]:
            shutil.rmtree(old, ignore_errors=True)

    def generate(self, points: int) -> int:
        steps = max(2, int(points / (3 + 5 / HF_EVAL_STEPS)))
        self.total = steps * 5 // 4
        encoded: list[str] = []
        values = 0
        for step in range(1, steps + 1):
            for entry in _hf_entries(step, self.total):
                encoded.append(_hf_encode(entry))
                values += len(entry) - 2  # step and epoch are the axes
        self.history = ",\n".join(encoded)
        self.root.mkdir(parents=True, exist_ok=True)
        self._save(steps)
        self.next = steps + 1
        return values

    def open(self) -> None:
        newest = max(self.root.glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[-1]))
        text = (newest / "trainer_state.json").read_text(encoding="utf-8")
        start = text.index('"log_history": [\n') + len('"log_history": [\n')
        end = text.index("\n  ],\n", start)
        self.history = text[start:end]

    def step(self) -> int | None:
        step = self.next
        self.history += "".join(",\n" + _hf_encode(e) for e in _hf_entries(step, self.total))
        self.next += 1
        if step % HF_SAVE_STEPS:
            return None
        self._save(step)
        return step


# --- Lightning CSVLogger metrics.csv ----------------------------------------------------------

PL_STEPS_PER_EPOCH = 1_000
PL_COLUMNS = (
    "epoch",
    "lr-AdamW",
    "step",
    "train/acc_epoch",
    "train/acc_step",
    "train/loss_epoch",
    "train/loss_step",
    "val/acc",
    "val/loss",
)
PL_HPARAMS = "batch_size: 64\nlr: 0.0003\nmodel: resnet18\nweight_decay: 0.05\n"


def _pl_rows(step: int, total: int) -> list[str]:
    """The rows Lightning writes for one logged step: LearningRateMonitor's row (no epoch),
    the training row, and at an epoch's end the validation and epoch-aggregate rows."""
    frac = step / total
    epoch = step // PL_STEPS_PER_EPOCH
    rows = [
        f",{cosine_lr(frac)!r},{step},,,,,,",
        f"{epoch},,{step},,{rise(frac, step, 12)!r},,{decay(frac, step, 13)!r},,",
    ]
    if (step + 1) % PL_STEPS_PER_EPOCH == 0:
        rows.append(
            f"{epoch},,{step},,,,,{rise(frac, step, 14)!r},{decay(frac, step, 15, floor=0.3)!r}"
        )
        rows.append(f"{epoch},,{step},{rise(frac, step, 16)!r},,{decay(frac, step, 17)!r},,,")
    return rows


class LightningCSV(LogFormat):
    name = "lightning_csv"
    label = "Lightning CSVLogger metrics.csv"
    live = "rows appended per flush (here every step), hparams.yaml rewritten per flush"

    @property
    def path(self) -> Path:
        return self.root / "metrics.csv"

    def generate(self, points: int) -> int:
        steps = max(2, int(points / (3 + 4 / PL_STEPS_PER_EPOCH)))
        self.total = steps * 5 // 4
        self.root.mkdir(parents=True, exist_ok=True)
        (self.root / "hparams.yaml").write_text(PL_HPARAMS)
        values = 0
        with self.path.open("w", newline="") as out:
            out.write(",".join(PL_COLUMNS) + "\n")
            for step in range(steps):
                rows = _pl_rows(step, self.total)
                values += 3 + (4 if len(rows) > 2 else 0)  # lr 1, train 2 (+ val 2, epoch 2)
                out.write("\n".join(rows) + "\n")
        self.next = steps
        return values

    def open(self) -> None:
        self.handle = self.path.open("a", newline="")

    def close(self) -> None:
        self.handle.close()

    def step(self) -> int | None:
        step = self.next
        (self.root / "hparams.yaml").write_text(PL_HPARAMS)
        self.handle.write("\n".join(_pl_rows(step, self.total)) + "\n")
        self.handle.flush()
        self.next += 1
        return step


# --- Keras CSVLogger training.log -------------------------------------------------------------

KERAS_COLUMNS = ("epoch", "accuracy", "learning_rate", "loss", "val_accuracy", "val_loss")


def _keras_row(epoch: int, total: int) -> str:
    frac = epoch / total
    cells = (
        rise(frac, epoch, 18),
        cosine_lr(frac, 1e-3),
        decay(frac, epoch, 19),
        rise(frac, epoch, 20, top=0.88),
        decay(frac, epoch, 21, floor=0.34),
    )
    return f"{epoch}," + ",".join(repr(c) for c in cells) + "\r\n"


class KerasCSV(LogFormat):
    name = "keras_csv"
    label = "Keras CSVLogger training.log"
    x = "epoch"
    live = "one row appended per epoch, flushed"

    @property
    def path(self) -> Path:
        return self.root / "training.log"

    def generate(self, points: int) -> int:
        epochs = max(2, points // 5)
        self.total = epochs * 5 // 4
        self.root.mkdir(parents=True, exist_ok=True)
        with self.path.open("w", newline="") as out:
            out.write(",".join(KERAS_COLUMNS) + "\r\n")
            out.writelines(_keras_row(e, self.total) for e in range(epochs))
        self.next = epochs
        return epochs * 5

    def open(self) -> None:
        self.handle = self.path.open("a", newline="")

    def close(self) -> None:
        self.handle.close()

    def step(self) -> int | None:
        epoch = self.next
        self.handle.write(_keras_row(epoch, self.total))
        self.handle.flush()
        self.next += 1
        return epoch


# --- Ultralytics results.csv ------------------------------------------------------------------

YOLO_COLUMNS = (
    "epoch",
    "time",
    "train/box_loss",
    "train/cls_loss",
    "train/dfl_loss",
    "metrics/precision(B)",
    "metrics/recall(B)",
    "metrics/mAP50(B)",
    "metrics/mAP50-95(B)",
    "val/box_loss",
    "val/cls_loss",
    "val/dfl_loss",
    "lr/pg0",
    "lr/pg1",
    "lr/pg2",
)


def _yolo_row(epoch: int, total: int) -> str:
    frac = epoch / total
    lr = cosine_lr(frac, 0.01, warmup=0.0) + 1e-4
    warm = max(lr, 0.1 * (1 - epoch / 3)) if epoch < 3 else lr  # pg0: the bias warm-up
    cells = (
        epoch,
        61.3 * epoch,
        decay(frac, epoch, 22, 1.0, 0.8),
        decay(frac, epoch, 23, 2.0, 0.5),
        decay(frac, epoch, 24, 0.6, 0.9),
        rise(frac, epoch, 25, 0.85),
        rise(frac, epoch, 26, 0.78),
        rise(frac, epoch, 27, 0.83),
        rise(frac, epoch, 28, 0.61),
        decay(frac, epoch, 29, 1.0, 1.0),
        decay(frac, epoch, 30, 1.5, 0.7),
        decay(frac, epoch, 31, 0.5, 1.0),
        warm,
        lr,
        lr,
    )
    return ("%.6g," * len(cells) % cells).rstrip(",") + "\n"


class Ultralytics(LogFormat):
    name = "ultralytics"
    label = "Ultralytics results.csv"
    x = "epoch"
    live = "one row appended per epoch (save_metrics: open('a'))"

    @property
    def path(self) -> Path:
        return self.root / "results.csv"

    def generate(self, points: int) -> int:
        per_row = len(YOLO_COLUMNS) - 1
        epochs = max(2, points // per_row)
        self.total = epochs * 5 // 4
        self.root.mkdir(parents=True, exist_ok=True)
        (self.root / "args.yaml").write_text(
            f"task: detect\nmode: train\nmodel: yolo11n.pt\ndata: coco8.yaml\n"
            f"epochs: {self.total}\nbatch: 16\nimgsz: 640\n"
        )
        with self.path.open("w") as out:
            out.write(",".join(YOLO_COLUMNS) + "\n")
            out.writelines(_yolo_row(e, self.total) for e in range(1, epochs + 1))
        self.next = epochs + 1
        return epochs * per_row

    def open(self) -> None:
        self.handle = self.path.open("a")

    def close(self) -> None:
        self.handle.close()

    def step(self) -> int | None:
        epoch = self.next
        self.handle.write(_yolo_row(epoch, self.total))
        self.handle.flush()
        self.next += 1
        return epoch


# --- detectron2 metrics.json (JSON lines) -----------------------------------------------------

D2_PERIOD = 20
D2_EVAL_PERIOD = 5_000


def _d2_line(index: int, total: int) -> tuple[int, str, int]:
    """(iteration, line, values) of the index-th log line."""
    iteration = D2_PERIOD * index + D2_PERIOD - 1
    frac = index / total
    losses = {
        "loss_box_reg": decay(frac, index, 32, 0.4, 0.15),
        "loss_cls": decay(frac, index, 33, 0.6, 0.12),
        "loss_mask": decay(frac, index, 34, 0.5, 0.2),
        "loss_rpn_cls": decay(frac, index, 35, 0.04, 0.01),
        "loss_rpn_loc": decay(frac, index, 36, 0.03, 0.01),
    }
    record: dict[str, Any] = {
        "data_time": 0.004 + 0.002 * noise(index, 37),
        "eta_seconds": max(0.0, (total - index) * D2_PERIOD * 0.21),
        "fast_rcnn/cls_accuracy": rise(frac, index, 38, 0.95),
        "fast_rcnn/false_negative": 1 - rise(frac, index, 39, 0.8),
        "fast_rcnn/fg_cls_accuracy": rise(frac, index, 40, 0.85),
        "iteration": iteration,
        "lr": cosine_lr(frac, 0.02, warmup=0.001),
        "mask_rcnn/accuracy": rise(frac, index, 41, 0.9),
        "mask_rcnn/false_negative": 1 - rise(frac, index, 42, 0.9),
        "mask_rcnn/false_positive": 1 - rise(frac, index, 43, 0.88),
        "rank_data_time": 0.004 + 0.002 * noise(index, 44),
        "roi_head/num_bg_samples": 104.75 + 10 * noise(index, 45),
        "roi_head/num_fg_samples": 23.25 + 10 * noise(index, 46),
        "rpn/num_neg_anchors": 244.5 + 10 * noise(index, 47),
        "rpn/num_pos_anchors": 11.5 + 5 * noise(index, 48),
        "time": 0.21 + 0.02 * noise(index, 49),
        "total_loss": sum(losses.values()),
        **losses,
    }
    if (iteration + 1) % D2_EVAL_PERIOD == 0:  # evaluation results merged into the line
        for task, scale in (("bbox", 1.0), ("segm", 0.9)):
            ap = 100 * scale * rise(frac, index, 50, 0.45)
            record.update(
                {
                    f"{task}/AP": ap,
                    f"{task}/AP50": ap * 1.5,
                    f"{task}/AP75": ap * 1.05,
                    f"{task}/APl": ap * 1.3,
                    f"{task}/APm": ap * 1.1,
                    f"{task}/APs": ap * 0.5,
                }
            )
    return iteration, json.dumps(record, sort_keys=True) + "\n", len(record) - 1


class Detectron2(LogFormat):
    name = "detectron2"
    label = "detectron2 metrics.json (JSON lines)"
    live = f"one JSON line appended per {D2_PERIOD} iterations (JSONWriter), flushed"

    @property
    def path(self) -> Path:
        return self.root / "metrics.json"

    def generate(self, points: int) -> int:
        lines = max(2, points // 21)
        self.total = lines * 5 // 4
        self.root.mkdir(parents=True, exist_ok=True)
        values = 0
        with self.path.open("w") as out:
            for index in range(lines):
                _, text, count = _d2_line(index, self.total)
                out.write(text)
                values += count
        self.next = lines
        return values

    def open(self) -> None:
        self.handle = self.path.open("a")

    def close(self) -> None:
        self.handle.close()

    def step(self) -> int | None:
        iteration, text, _ = _d2_line(self.next, self.total)
        self.handle.write(text)
        self.handle.flush()
        self.next += 1
        return iteration


# --- TensorBoard event files ------------------------------------------------------------------


def _crc_table() -> np.ndarray:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
        table.append(crc)
    return np.asarray(table, dtype=np.uint32)


_CRC = _crc_table()


def masked_crc_rows(rows: np.ndarray) -> np.ndarray:
    """The masked CRC32C of each row of a (n, length) uint8 array, all rows at once."""
    crc = np.full(rows.shape[0], 0xFFFFFFFF, dtype=np.uint32)
    for column in range(rows.shape[1]):
        crc = _CRC[(crc ^ rows[:, column]) & 0xFF] ^ (crc >> np.uint32(8))
    crc ^= np.uint32(0xFFFFFFFF)
    return ((crc >> np.uint32(15)) | (crc << np.uint32(17))) + np.uint32(0xA282EAD8)


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _field(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def scalar_event(tag: str, step: int, wall_time: float, value: float) -> bytes:
    """Event{wall_time, step, summary{value{tag, simple_value}}}: SummaryWriter.add_scalar."""
    value_msg = _field(1, tag.encode()) + b"\x15" + struct.pack("<f", value)
    event = b"\x09" + struct.pack("<d", wall_time)
    if step:
        event += b"\x10" + _varint(step)
    return event + _field(5, _field(1, value_msg))


def version_event(wall_time: float) -> bytes:
    """The first record of every event file: Event{wall_time, file_version}."""
    return b"\x09" + struct.pack("<d", wall_time) + _field(3, b"brain.Event:2")


def frame_records(events: list[bytes]) -> bytes:
    """TFRecord framing of many events: length, masked CRC of it, data, masked CRC of it."""
    lengths = np.asarray([len(e) for e in events], dtype="<u8")
    header_crc = masked_crc_rows(lengths.view(np.uint8).reshape(-1, 8))
    data_crc = np.empty(len(events), dtype=np.uint32)
    order = np.argsort(lengths, kind="stable")
    sorted_lengths = lengths[order]
    bounds = np.flatnonzero(np.diff(sorted_lengths)) + 1
    for group in np.split(order, bounds):
        size = int(lengths[group[0]])
        rows = np.frombuffer(b"".join(events[i] for i in group), dtype=np.uint8)
        data_crc[group] = masked_crc_rows(rows.reshape(len(group), size))
    pack = struct.Struct("<QI").pack
    crc = struct.Struct("<I").pack
    return b"".join(
        pack(length, hcrc) + event + crc(dcrc)
        for length, hcrc, event, dcrc in zip(
            lengths.tolist(), header_crc.tolist(), events, data_crc.tolist()
        )
    )


TB_EVAL_STEPS = 1_000
TB_STEPS_PER_EPOCH = 10_000


def _tb_events(step: int, total: int) -> list[bytes]:
    """What Hugging Face's TensorBoardCallback writes for one logged step (and an eval)."""
    frac = step / total
    wall = T0 + 0.1 * step
    epoch = step / TB_STEPS_PER_EPOCH
    events = [
        scalar_event("train/loss", step, wall, decay(frac, step, 51)),
        scalar_event("train/grad_norm", step, wall, 1.2 + 0.3 * noise(step, 52)),
        scalar_event("train/learning_rate", step, wall, cosine_lr(frac, 5e-5)),
        scalar_event("train/epoch", step, wall, epoch),
    ]
    if step % TB_EVAL_STEPS == 0:
        events += [
            scalar_event("eval/loss", step, wall + 30, decay(frac, step, 53, floor=0.35)),
            scalar_event("eval/accuracy", step, wall + 30, rise(frac, step, 54)),
            scalar_event("eval/runtime", step, wall + 30, 61.2 + noise(step, 55)),
            scalar_event("eval/samples_per_second", step, wall + 30, 163.4),
            scalar_event("eval/steps_per_second", step, wall + 30, 20.4),
            scalar_event("train/epoch", step, wall + 30, epoch),
        ]
    return events


class TensorBoard(LogFormat):
    name = "tfevents"
    label = "TensorBoard event file"
    live = "records appended and flushed per logged step (4 scalars a step)"

    @property
    def path(self) -> Path:
        return self.root / f"events.out.tfevents.{int(T0)}.bench-host.4242.0"

    def generate(self, points: int) -> int:
        steps = max(2, int(points / (4 + 6 / TB_EVAL_STEPS)))
        self.total = steps * 5 // 4
        self.root.mkdir(parents=True, exist_ok=True)
        values = 0
        with self.path.open("wb") as out:
            out.write(frame_records([version_event(T0)]))
            chunk: list[bytes] = []
            for step in range(1, steps + 1):
                chunk += _tb_events(step, self.total)
                if len(chunk) >= 100_000:
                    values += len(chunk)
                    out.write(frame_records(chunk))
                    chunk = []
            values += len(chunk)
            out.write(frame_records(chunk))
        self.next = steps + 1
        return values

    def open(self) -> None:
        self.handle = self.path.open("ab")

    def close(self) -> None:
        self.handle.close()

    def step(self) -> int | None:
        step = self.next
        self.handle.write(frame_records(_tb_events(step, self.total)))
        self.handle.flush()
        self.next += 1
        return step


# --- MLflow file store ------------------------------------------------------------------------

MLF_EXPERIMENT = "718234906153290417"
MLF_RUN = "3f9c2b7e1d4a4c8e9b0a6d5f2e1c7b3a"
MLF_EVAL_STEPS = 1_000
MLF_STEPS_PER_EPOCH = 10_000


def _mlflow_values(step: int, total: int) -> list[tuple[str, float]]:
    frac = step / total
    values = [
        ("train/loss", decay(frac, step, 56)),
        ("train/grad_norm", 1.2 + 0.3 * noise(step, 57)),
        ("train/lr", cosine_lr(frac, 3e-4)),
        ("epoch", step / MLF_STEPS_PER_EPOCH),
    ]
    if step % MLF_EVAL_STEPS == 0:
        values += [
            ("val/loss", decay(frac, step, 58, floor=0.35)),
            ("val/accuracy", rise(frac, step, 59)),
        ]
    return values


class MLflowStore(LogFormat):
    name = "mlflow"
    label = "MLflow file store (mlruns/)"
    live = "a 'timestamp value step' line appended to metrics/<key> per value (log_metric)"

    @property
    def run_dir(self) -> Path:
        return self.root / MLF_EXPERIMENT / MLF_RUN

    def generate(self, points: int) -> int:
        steps = max(2, int(points / (4 + 2 / MLF_EVAL_STEPS)))
        self.total = steps * 5 // 4
        experiment = self.root / MLF_EXPERIMENT
        run = self.run_dir
        for folder in (run / "metrics" / "train", run / "metrics" / "val", run / "params"):
            folder.mkdir(parents=True, exist_ok=True)
        (run / "tags").mkdir(exist_ok=True)
        (run / "artifacts").mkdir(exist_ok=True)
        (self.root / ".trash").mkdir(exist_ok=True)
        created = int(T0 * 1000)
        (experiment / "meta.yaml").write_text(
            f"artifact_location: file://{experiment}\ncreation_time: {created}\n"
            f"experiment_id: '{MLF_EXPERIMENT}'\nlast_update_time: {created}\n"
            "lifecycle_stage: active\nname: imagenet-vit\n"
        )
        (run / "meta.yaml").write_text(
            f"artifact_uri: file://{run}/artifacts\nend_time: null\nentry_point_name: ''\n"
            f"experiment_id: '{MLF_EXPERIMENT}'\nlifecycle_stage: active\n"
            f"run_id: {MLF_RUN}\nrun_name: vit-b16-baseline\nsource_name: ''\n"
            f"source_type: 4\nsource_version: ''\nstart_time: {created}\nstatus: 1\n"
            "tags: []\nuser_id: bench\n"
        )
        (run / "tags" / "mlflow.runName").write_text("vit-b16-baseline")
        (run / "tags" / "mlflow.user").write_text("bench")
        for key, value in (("lr", "0.0003"), ("batch_size", "256"), ("optimizer", "adamw")):
            (run / "params" / key).write_text(value)
        lines: dict[str, list[str]] = {}
        for step in range(1, steps + 1):
            stamp = created + 100 * step
            for key, value in _mlflow_values(step, self.total):
                lines.setdefault(key, []).append(f"{stamp} {value} {step}\n")
        for key, rows in lines.items():
            with (run / "metrics" / key).open("w") as out:
                out.writelines(rows)
        self.next = steps + 1
        return sum(len(rows) for rows in lines.values())

    def step(self) -> int | None:
        step = self.next
        stamp = int(time.time() * 1000)
        for key, value in _mlflow_values(step, self.total):
            with (self.run_dir / "metrics" / key).open("a") as out:  # FileStore's append_to
                out.write(f"{stamp} {value} {step}\n")
        self.next += 1
        return step


FORMATS: dict[str, type[LogFormat]] = {
    cls.name: cls
    for cls in (
        NativeJSON,
        NativeJSONLines,
        NativeStepLog,
        HFTrainerState,
        LightningCSV,
        KerasCSV,
        Ultralytics,
        Detectron2,
        TensorBoard,
        MLflowStore,
    )
}


def make(name: str, root: Path) -> LogFormat:
    return FORMATS[name](root)


def save_state(fmt: LogFormat, path: Path) -> None:
    path.write_text(json.dumps(fmt.state()))


def load_state(name: str, root: Path, path: Path) -> LogFormat:
    fmt = make(name, root)
    fmt.restore(json.loads(path.read_text()))
    return fmt


def file_bytes(root: Path) -> int:
    """The size of every file below root (the run's logs)."""
    total = 0
    for folder, _, names in os.walk(root):
        for name in names:
            total += os.path.getsize(os.path.join(folder, name))
    return total
