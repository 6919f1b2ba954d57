"""TensorBoard event files (`events.out.tfevents.*`): scalars, without tensorboard.

Three layers, one module each: tfevents_proto decodes the few protobuf
fields that carry scalars, tfevents_records the record framing with its
checksums and the tail of one growing file (EventFileTail), and this module
turns a run directory into one run: tag names, file order, Keras' layout.

A directory of event files is one run: its files are read in the order of
the timestamp in their names, and Keras' `train/` and `validation/`
subdirectories are one run too. Tags map onto the registry's keys through
`_TAG_KEYS` below; the original tag is kept in meta["source_keys"].

The run's arguments, when a file starts with them as text (Hugging Face's
TrainingArguments, see tfevents_args), are its config: meta["config"], from the
newest file that holds them.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import numpy as np

from metricwatch.model import EPOCH, STEP, Problem, ProblemKind, Series, Table
from metricwatch.readers.base import FileFormat, ParseResult, quote_key, union_steps, with_epochs
from metricwatch.readers.tfevents_args import ARGS_WINDOW, args_in_file, args_in_head
from metricwatch.readers.tfevents_proto import narrow
from metricwatch.readers.tfevents_records import (
    Chunk,
    EventFileTail,
    _chunk_problems,
    masked_crc32c,
    parse_events,
    scan,
    scan_pieces,
    sniff,
)
from metricwatch.readers.ultralytics import lr_keys

PATTERN = "events.out.tfevents.*"

# --- tag names ----------------------------------------------------------------------------

#: Tags whose meaning is the registry's key, from the frameworks that write event files:
#: PyTorch tutorials (`Loss/train`), Hugging Face Trainer (`train/loss`, `eval/loss`,
#: `train/learning_rate`), Lightning (`train_loss`, `lr-Adam`), Ultralytics (`metrics/...`).
_TAG_KEYS: dict[str, str] = {
    "loss": "train_loss",
    "train_loss": "train_loss",
    "train/loss": "train_loss",
    "Loss/train": "train_loss",
    "loss/train": "train_loss",
    "training_loss": "train_loss",
    "train_loss_step": "train_loss",
    "train/loss_step": "train_loss",
    "val_loss": "val_loss",
    "val/loss": "val_loss",
    "valid/loss": "val_loss",
    "validation/loss": "val_loss",
    "validation_loss": "val_loss",
    "eval/loss": "val_loss",
    "eval_loss": "val_loss",
    "Loss/val": "val_loss",
    "Loss/valid": "val_loss",
    "Loss/validation": "val_loss",
    "loss/val": "val_loss",
    "lr": "lr",
    "learning_rate": "lr",
    "train/lr": "lr",
    "train/learning_rate": "lr",
    "grad_norm": "grad_norm",
    "train/grad_norm": "grad_norm",
    "acc": "train_accuracy",
    "accuracy": "train_accuracy",
    "train_acc": "train_accuracy",
    "train_accuracy": "train_accuracy",
    "train/acc": "train_accuracy",
    "train/accuracy": "train_accuracy",
    "Accuracy/train": "train_accuracy",
    "val_acc": "val_accuracy",
    "val_accuracy": "val_accuracy",
    "val/acc": "val_accuracy",
    "val/accuracy": "val_accuracy",
    "eval/accuracy": "val_accuracy",
    "Accuracy/val": "val_accuracy",
    "Accuracy/valid": "val_accuracy",
    "val_f1": "val_f1",
    "val/f1": "val_f1",
    "eval/f1": "val_f1",
    "metrics/mAP50-95(B)": "val_mAP",
    "metrics/mAP50(B)": "val_mAP_50",
    "metrics/precision(B)": "val_precision",
    "metrics/recall(B)": "val_recall",
    "metrics/mAP50-95(M)": "val_mAP_mask",
    "metrics/mAP_0.5:0.95": "val_mAP",  # YOLOv5
    "metrics/mAP_0.5": "val_mAP_50",
    "metrics/precision": "val_precision",
    "metrics/recall": "val_recall",
}
#: Ultralytics segmentation runs log box and mask mAP: there the box one is val_mAP_box.
_SEGMENT_KEYS = {"metrics/mAP50-95(B)": "val_mAP_box"}
#: Lightning's LearningRateMonitor: `lr-Adam`, `lr-SGD` (one param group).
_LR_MONITOR = re.compile(r"lr-[A-Za-z][A-Za-z0-9_]*")
#: Tags that are the epoch of a step (HF `train/epoch`, Lightning `epoch`): the epochs axis.
_EPOCH_TAGS = ("train/epoch", "epoch")
#: Keras' TensorBoard callback: `epoch_loss` in train/ and validation/ (TF2 tensors).
_KERAS_DIRS = {"train": "train", "validation": "val"}
_KERAS_KEYS = {"epoch_learning_rate": "lr", "epoch_lr": "lr"}
#: YOLOv5 and Ultralytics log once per epoch, with the epoch as the step.
_EPOCH_RUN_TAGS = frozenset({"train/box_loss"})


def canonical_tag(tag: str, role: str = "") -> str:
    """The registry's key for a tag read in directory `role` ("", "train", "validation")."""
    if role in _KERAS_DIRS:
        if tag in _KERAS_KEYS:
            return _KERAS_KEYS[tag]
        if tag.startswith("epoch_"):
            name = tag[len("epoch_") :]
            key = f"{_KERAS_DIRS[role]}_{name}"
            return {"train_acc": "train_accuracy", "val_acc": "val_accuracy"}.get(key, key)
        return f"{role}/{tag}"
    if tag in _TAG_KEYS:
        return _TAG_KEYS[tag]
    if _LR_MONITOR.fullmatch(tag):
        return "lr"
    if tag.startswith("eval/") and "/" not in tag[5:]:  # Hugging Face Trainer
        return "val_" + tag[5:]
    return tag


# --- a directory of event files: one run -----------------------------------------------------

_STAMP = re.compile(r"events\.out\.tfevents\.(\d+)")


def event_files(directory: Path) -> list[tuple[str, Path]]:
    """(role, path) of the event files of a run directory, in reading order.

    Role is "" for files in the directory itself, "train"/"validation" for
    Keras' subdirectories. Order: by the timestamp in the name, then the name.
    """
    found: list[tuple[str, Path]] = []
    for role in ("", "train", "validation"):
        folder = directory / role if role else directory
        try:
            names = [entry.name for entry in os.scandir(folder) if entry.is_file()]
        except OSError:
            continue
        names = [name for name in names if name.startswith("events.out.tfevents.")]
        names.sort(key=file_order)
        found.extend((role, folder / name) for name in names)
    return found


def file_order(name: str) -> tuple[int, str]:
    """An event file's place among a run's: the timestamp in its name, then the name."""
    match = _STAMP.match(name)
    return (int(match.group(1)) if match else 0, name)


class EventDirTail:
    """A run directory's event files, each tailed; read() re-reads only new bytes."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self.tails: dict[Path, tuple[str, EventFileTail]] = {}
        #: per file, per tag: its steps, times, values (in file order)
        self.columns: dict[Path, dict[str, _Column]] = {}
        #: per file: (its identity, its arguments, whether that is final, the tail's offset
        #: when searched)
        self.args: dict[Path, tuple[tuple[int, int] | None, dict[str, Any] | None, bool, int]] = {}

    def read(self) -> ParseResult:
        files = event_files(self.directory)
        problems: list[Problem] = []
        for role, path in files:
            if path not in self.tails:
                self.tails[path] = (role, EventFileTail(path))
            tail = self.tails[path][1]
            sink = _Sink(self.columns, path, tail)
            tail.read_chunk(sink=sink)
            sink.finish()
            problems.extend(tail.problems)
        present = {path for _, path in files}
        for path in [p for p in self.tails if p not in present]:
            del self.tails[path]
            self.columns.pop(path, None)
            self.args.pop(path, None)
        result = _build([(role, self.columns[path]) for role, path in files], problems)
        config = self._config([path for _, path in files])
        if config is not None:
            result.meta.setdefault("config", config)
        if not files:
            result.problems.append(
                Problem(
                    ProblemKind.MISSING, f"no {PATTERN} files in {quote_key(str(self.directory))}"
                )
            )
        elif not any(tail.offset for _, tail in self.tails.values()) and not result.problems:
            result.problems.append(Problem(ProblemKind.EMPTY, "the event files are empty"))
        result.format = "tfevents"
        return result

    def _config(self, paths: list[Path]) -> dict[str, Any] | None:
        """The arguments of the newest file that starts with them (a resumed run's files
        hold the same ones; a run started again in the same folder, its new ones)."""
        found = None
        for path in paths:
            args = self._args_of(path, self.tails[path][1])
            found = args if args is not None else found
        return found

    def _args_of(self, path: Path, tail: EventFileTail) -> dict[str, Any] | None:
        """A file's arguments, searched for again only when more whole records came while
        its first ones were still being written (they come first: once found, or past
        them, the answer is final)."""
        known = self.args.get(path)
        if (
            known is not None
            and known[0] == tail.identity
            and (known[2] or known[3] == tail.offset)
        ):
            return known[1]
        if not tail.offset:
            return None  # nothing whole in it yet
        args, final = args_in_file(path)
        self.args[path] = (tail.identity, args, final, tail.offset)
        return args


def read_event_dir(directory: Path) -> ParseResult:
    """Every event file of a run directory (and Keras' train/, validation/) as one run."""
    return EventDirTail(directory).read()


class _Column:
    """A tag's steps, times and values, grown in place: one array each, sized for the
    whole read from how far into it the first pieces are (not one small array per piece
    kept to the end, whose holes a process's heap keeps). The run's series are views of
    them; a later read writes only past their ends."""

    def __init__(self) -> None:
        self.size = 0
        self.arrays = [np.empty(0, dtype=np.int64), np.empty(0), np.empty(0)]

    def append(self, parts: tuple[np.ndarray, ...], scale: float) -> None:
        need = self.size + len(parts[0])
        if need > len(self.arrays[0]):
            self._resize(max(int(need * scale), need + need // 16 + 64))
        for kept, part in zip(self.arrays, parts):
            kept[self.size : need] = part
        self.size = need

    def trim(self) -> None:
        """Give back room a read's estimate left over (a little is kept for the next)."""
        if len(self.arrays[0]) - self.size > self.size // 8 + 1024:
            self._resize(self.size + self.size // 16 + 64)

    def _resize(self, capacity: int) -> None:
        for i, kept in enumerate(self.arrays):
            grown = np.empty(capacity, dtype=kept.dtype)
            grown[: self.size] = kept[: self.size]
            self.arrays[i] = grown

    def views(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        steps, times, values = (a[: self.size] for a in self.arrays)
        return steps, times, values


class _Sink:
    """Where a file's pieces go as its tail reads them: its columns, emptied first when
    the file was replaced, and put back as they were if the read fails half way."""

    def __init__(
        self, columns: dict[Path, dict[str, _Column]], path: Path, tail: EventFileTail
    ) -> None:
        self.all, self.path, self.tail = columns, path, tail
        self.columns: dict[str, _Column] | None = None
        self.sizes: dict[str, int] = {}

    def __call__(self, piece: Chunk) -> None:
        columns = self.columns if self.columns is not None else self._start()
        _add(columns, piece, self.tail.expected)

    def _start(self) -> dict[str, _Column]:
        if self.tail.reset or self.path not in self.all:
            self.all[self.path] = {}
        self.columns = self.all[self.path]
        self.sizes = {tag: column.size for tag, column in self.columns.items()}
        return self.columns

    def finish(self) -> None:
        columns = self.columns if self.columns is not None else self._start()
        if self.tail.failed:  # the offset did not move: what came will come again
            for tag in [t for t in columns if t not in self.sizes]:
                del columns[tag]
            for tag, size in self.sizes.items():
                columns[tag].size = size
        for column in columns.values():
            column.trim()


def _add(columns: dict[str, _Column], chunk: Chunk, expected: int) -> None:
    """Append a chunk's scalars to per-tag columns, grouped in one pass (chunk.end: the
    bytes read so far of the `expected`)."""
    if not len(chunk.tag_ids):
        return
    scale = 1.02 * expected / max(chunk.end, 1) if expected > chunk.end else 1.0
    steps, times, values, ids = chunk.steps, chunk.times, chunk.values, chunk.tag_ids
    if len(chunk.names) == 1:
        groups = {chunk.names[0]: slice(None)}
    else:
        order = np.argsort(narrow(ids), kind="stable")
        bounds = np.searchsorted(ids[order], np.arange(len(chunk.names) + 1)).tolist()
        groups = {tag: order[bounds[i] : bounds[i + 1]] for i, tag in enumerate(chunk.names)}
    for tag, index in groups.items():
        if isinstance(index, np.ndarray) and not len(index):
            continue  # a tag whose every scalar was dropped
        column = columns.get(tag)
        if column is None:
            column = columns[tag] = _Column()
        column.append((steps[index], times[index], values[index]), scale)


def _joined(arrays: list[np.ndarray]) -> np.ndarray:
    """One array of a column's parts: the part itself when there is one."""
    return arrays[0] if len(arrays) == 1 else np.concatenate(arrays)


def _build(files: list[tuple[str, dict[str, _Column]]], problems: list[Problem]) -> ParseResult:
    """Columns per (role, tag) across files in order -> a Table with canonical keys."""
    merged: dict[tuple[str, str], tuple[list, list, list]] = {}
    for role, columns in files:
        for tag, column in columns.items():
            target = merged.setdefault((role, tag), ([], [], []))
            for parts, view in zip(target, column.views()):
                parts.append(view)
    # Keras: per-epoch tags in train/ and validation/ make an epoch run; its per-batch and
    # `evaluation_*_vs_iterations` tags count optimiser steps, another axis: set aside.
    keras = any(role and tag.startswith("epoch_") for role, tag in merged)
    other_axis = [f"{r}/{t}" for r, t in merged if keras and not t.startswith("epoch_")]
    tags = {tag for role, tag in merged if not role}
    segment = "metrics/mAP50-95(M)" in tags
    lrs = lr_keys(tags)  # Ultralytics' lr/pg0..2: the schedule is group 1
    series: dict[str, Series] = {}
    sources: dict[str, str] = {}
    epoch_axis: tuple[np.ndarray, np.ndarray] | None = None
    restarts: list[str] = []
    collisions: list[str] = []
    for (role, tag), (steps_l, times_l, values_l) in merged.items():
        steps, times, values = (_joined(a) for a in (steps_l, times_l, values_l))
        keep = _latest(steps)
        if not keep.all():
            back = int(np.count_nonzero(steps[1:] < steps[:-1]))
            if back:
                restarts.append(f"{quote_key(tag)} ×{back}")
            steps, times, values = steps[keep], times[keep], values[keep]
        original = f"{role}/{tag}" if role else tag
        if original in other_axis:
            continue
        if not role and tag == "hp_metric" and bool(np.all(values == -1)):
            continue  # Lightning's placeholder, logged once when no metric is named
        if not role and tag in _EPOCH_TAGS and epoch_axis is None:
            epoch_axis = (steps, values)
            continue
        key = _SEGMENT_KEYS.get(tag, "") if segment and not role else ""
        key = key or (lrs.get(tag, "") if not role else "")
        key = key or canonical_tag(tag, role)
        if key in series:
            collisions.append(f"{quote_key(sources[key])} and {quote_key(original)}")
            key = original
            if key in series:
                continue
        sources[key] = original
        series[key] = Series(key, steps, values, None, times)
    if epoch_axis is not None:
        series = {k: with_epochs(s, *epoch_axis) for k, s in series.items()}
    if restarts:
        problems.append(
            Problem(
                ProblemKind.RESTART,
                "steps went back (a resumed or restarted run) in "
                + ", ".join(restarts[:3])
                + "; the later values replace the earlier ones",
            )
        )
    if collisions:
        problems.append(
            Problem(
                ProblemKind.NON_NUMERIC,
                "two tags mean the same metric ("
                + "; ".join(collisions[:3])
                + "): the second keeps its own name",
            )
        )
    table_steps = union_steps([s.steps for s in series.values()])
    per_epoch = keras or not _EPOCH_RUN_TAGS.isdisjoint(tags)
    table = Table(table_steps, series, EPOCH if per_epoch else STEP)
    meta = {"source_keys": {k: v for k, v in sources.items() if k != v}}
    extra = {"other_axis_tags": other_axis} if other_axis else {}
    return ParseResult(table=table, meta=meta, extra=extra, problems=problems)


def _latest(steps: np.ndarray) -> np.ndarray:
    """Points no later point replaces: a step that goes back (or repeats) wins over earlier
    points at or after it, as a resumed run's log does."""
    if len(steps) < 2 or bool(np.all(steps[1:] > steps[:-1])):
        return np.ones(len(steps), dtype=bool)
    later_min = np.minimum.accumulate(steps[::-1])[::-1]
    keep = np.ones(len(steps), dtype=bool)
    keep[:-1] = steps[:-1] < later_min[1:]
    return keep


__all__ = [
    "PATTERN",
    "EventDirTail",
    "EventFileTail",
    "canonical_tag",
    "event_files",
    "masked_crc32c",
    "parse_events",
    "read_event_dir",
    "scan",
    "sniff",
]


def parse_event_file(data: bytes) -> ParseResult:
    """One event file's bytes as a run (a file named on its own; a run directory is read
    whole, and incrementally, by EventDirTail)."""
    chunk, pieces = scan_pieces(data)
    columns: dict[str, _Column] = {}
    for piece in pieces:
        _add(columns, piece, len(data))
    problems = _chunk_problems(chunk, "the event file")
    if not data:
        problems.append(Problem(ProblemKind.EMPTY, "the event file is empty"))
    result = _build([("", columns)], problems)
    config = args_in_head(data[:ARGS_WINDOW])
    if config is not None:
        result.meta["config"] = config
    result.format = "tfevents"
    return result


def _keras_events(directory: Path, subdirs: list[str]) -> Path | None:
    """Keras' layout: a run directory holding only `train/` and `validation/`, each with
    TF2 event files (`...v2`; PyTorch's writer, which Ultralytics runs use, writes none)."""
    for role in ("train", "validation"):
        if role in subdirs:
            keras = [
                path
                for kind, path in event_files(directory)
                if kind == role and path.name.endswith(".v2")
            ]
            if keras:
                return keras[0]
    return None


def _keras_dirs(run_dir: Path) -> list[Path]:
    """Keras' train/ and validation/ of a run: their event files are the run's."""
    return [run_dir / role for role in ("train", "validation") if (run_dir / role).is_dir()]


def _run_dir(path: Path) -> Path:
    """The run directory of an event file: its folder, or the parent of Keras' train/."""
    if path.parent.name in ("train", "validation") and path.name.endswith(".v2"):
        return path.parent.parent
    return path.parent


FORMAT = FileFormat(
    name="tfevents",
    label="TensorBoard event files",
    patterns=(PATTERN,),
    sniff=sniff,
    parse=parse_event_file,
    tail=lambda path: EventDirTail(_run_dir(path)),
    nested=_keras_events,
    owned=_keras_dirs,
)
