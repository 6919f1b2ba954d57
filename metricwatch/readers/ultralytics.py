"""Ultralytics YOLO `results.csv` (YOLOv5 to YOLO11; detect, segment, pose, classify).

One row per epoch, x = epoch (from 0 in YOLOv5, from 1 since YOLOv8: the
file's numbers are kept). Quirks handled here:
- padded headers and cells (YOLOv5 and early v8 right-align every field);
- loss parts: `train/box_loss`, `cls_loss`, `dfl_loss`, `obj_loss` (v5),
  `seg_loss`, `pose_loss`, `kobj_loss`, and YOLOv10's one-to-many /
  one-to-one heads (`train/box_om`, ..., `train/dfl_oo`), with `val/`
  counterparts: each part keeps its name (`train/box_loss` ->
  train_box_loss; v10's `train/box_om` -> train_box_om_loss, so that it is
  known as a loss). There is no single loss column, so train_loss (and
  val_loss) is the SUM of the parts: the parts are already multiplied by
  their gains (box 7.5, cls 0.5, dfl 1.5 ...), and their sum is exactly the
  objective Ultralytics minimises (per image), computed the same way on
  train and val, so the two are comparable and the loss rules (overfitting,
  plateau, divergence) work. A classification run's `train/loss` and
  `val/loss` are used as they are.
- metrics: `metrics/mAP50-95(B)` -> val_mAP, `mAP50(B)` -> val_mAP_50,
  `precision(B)` -> val_precision, `recall(B)` -> val_recall; YOLOv5's
  `metrics/mAP_0.5:0.95`, `mAP_0.5`, `precision`, `recall` alike; mask
  `(M)` -> val_mAP_mask, val_mAP_50_mask, val_precision_mask,
  val_recall_mask, and in a segment run (one with `(M)` columns) the box
  mAP50-95 is val_mAP_box (the registry's instance-segmentation key); pose
  `(P)` -> `..._pose`; `metrics/accuracy_top1` -> val_accuracy, `_top5` ->
  val_accuracy_top5.
- learning rates: `lr/pg0` (v8+) and YOLOv5's `x/lr0` are the biases' group,
  which warms up from `warmup_bias_lr` (0.1) down to the schedule (in old
  YOLOv5 the biases were `x/lr2`): lr is group 1 (the weights with decay,
  the schedule itself), and the other groups keep their own names (lr_pg0,
  lr_pg2). A file with only pg0 uses it.
- epochs where validation did not run (`val=False`: Ultralytics writes 0 in
  every val and metrics column until it validates) have those cells left
  out, not drawn as a drop to 0.
- `time` (seconds since the start of training, restarting at a resume)
  becomes duration_s, the time each epoch took.
- a resume that writes an epoch again: the later rows replace the earlier.
- meta["task"] from the columns: `(M)` instance segmentation, top-1 accuracy
  classification, mAP detection (an OBB run looks the same: args.yaml says).

`args.yaml` beside the file holds the planned epochs: total_epochs_from_args
(and meta_from_args for the task and the whole config).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache

import numpy as np

from metricwatch.model import EPOCH, Problem, ProblemKind, Series, Table
from metricwatch.readers import csv_table
from metricwatch.readers.appended_rows import NewPoints, RowAppends
from metricwatch.readers.base import FileFormat, ParseResult
from metricwatch.readers.csv_rows import header_again, header_names, key_columns
from metricwatch.readers.lightning_csv import parse_hparams
from metricwatch.readers.ultralytics_rows import (
    RowPlan,
    TimeCells,
    epoch_rows,
    lines_to_last_time,
)

NAME = "results.csv"
_METRIC = re.compile(
    r"metrics/(precision|recall|mAP50-95|mAP50|mAP_0\.5:0\.95|mAP_0\.5)(?:\(([BMP])\))?"
)
_METRIC_KEYS = {
    "precision": "val_precision",
    "recall": "val_recall",
    "mAP50-95": "val_mAP",
    "mAP_0.5:0.95": "val_mAP",
    "mAP50": "val_mAP_50",
    "mAP_0.5": "val_mAP_50",
}
_LR = re.compile(r"(?:lr/pg|x/lr)(\d+)")
_OTHER = {
    "metrics/accuracy_top1": "val_accuracy",
    "metrics/accuracy_top5": "val_accuracy_top5",
    "train/loss": "train_loss",
    "val/loss": "val_loss",
}


def parse_ultralytics(data: bytes) -> ParseResult:
    """Read an Ultralytics results.csv. Never raises on content."""
    table = csv_table.read_table(data, NAME)
    result = ParseResult(problems=table.problems)
    if not table.header:
        return result
    header = table.header
    if "epoch" not in header:
        result.problems.append(
            Problem(ProblemKind.NOT_OURS, f"{NAME} has no 'epoch' column: not a YOLO results file")
        )
        return result
    epoch_column = table.column("epoch")
    good = csv_table.whole_numbers(epoch_column)
    row_epoch = np.zeros(table.nrows, dtype=np.int64)
    usable = np.zeros(table.nrows, dtype=bool)
    row_epoch[epoch_column.rows[good]] = epoch_column.values[good].astype(np.int64)
    usable[epoch_column.rows[good]] = True
    bad = table.nrows - int(usable.sum())
    if bad:
        result.problems.append(
            Problem(ProblemKind.BAD_EPOCH, f"{bad} rows of {NAME} have no usable epoch; skipped")
        )
    rows = np.flatnonzero(usable)
    kept, restarts = csv_table.keep_after_resumes(row_epoch[rows], strict=True)
    keep = np.zeros(table.nrows, dtype=bool)
    keep[rows[kept]] = True
    if restarts:
        result.problems.append(csv_table.restart_problem(restarts, "epoch"))
    _blank_unvalidated(table, keep, result.problems)
    keys, source_keys, collisions = csv_table.assign_keys(_wanted(header))
    series, steps, non_numeric = csv_table.build_series(table, keys, row_epoch, keep)
    for total, prefix in (("train_loss", "train/"), ("val_loss", "val/")):
        if total not in series:
            summed = _loss_sum(table, prefix, row_epoch, keep, steps)
            if summed is not None:
                series[total], source_keys[total] = summed
    if "time" in header and "duration_s" not in series:
        duration = _durations(table, row_epoch, keep, steps)
        if duration is not None:
            series["duration_s"] = duration
            source_keys["duration_s"] = "time"
    result.table = Table(steps, series, EPOCH)
    result.meta["source_keys"] = source_keys
    task = _task(header)
    if task:
        result.meta["task"] = task
    if collisions:
        result.problems.append(csv_table.collision_problem(collisions))
    found = csv_table.non_numeric_problem(non_numeric, NAME)
    if found:
        result.problems.append(found)
    return result


def lr_keys(names: Iterable[str]) -> dict[str, str]:
    """The keys of Ultralytics' learning-rate columns (or TensorBoard tags) among names:
    the schedule's group (1, else the lowest logged) is `lr`, the others `lr_pgN`."""
    groups = {int(m.group(1)): name for name in names if (m := _LR.fullmatch(name))}
    lr_group = 1 if 1 in groups else min(groups, default=None)
    return {name: "lr" if group == lr_group else f"lr_pg{group}" for group, name in groups.items()}


def _wanted(header: list[str]) -> list[tuple[str, str]]:
    segment = any(name.endswith("(M)") for name in header)
    lrs = lr_keys(header)
    wanted = []
    for name in header:
        if name in ("epoch", "time"):
            continue
        key = _OTHER.get(name)
        metric = _METRIC.fullmatch(name)
        if key is not None:
            pass
        elif metric:
            base, kind = _METRIC_KEYS[metric.group(1)], metric.group(2) or "B"
            if kind == "M":
                key = base + "_mask"
            elif kind == "P":
                key = base + "_pose"
            else:
                key = "val_mAP_box" if segment and base == "val_mAP" else base
        elif name in lrs:
            key = lrs[name]
        elif name.startswith(("train/", "val/")) and not name.endswith("loss"):
            key = csv_table.slash_safe(name) + "_loss"  # YOLOv10's train/box_om: a loss
        else:
            key = csv_table.slash_safe(name)
        wanted.append((name, key))
    return wanted


def _task(header: list[str]) -> str | None:
    """The task the columns show. An OBB run's look like detection's: args.yaml's `task`
    (meta_from_args) is the truth where it is read."""
    if any(name.endswith("(M)") for name in header):
        return "instance_segmentation"
    if "metrics/accuracy_top1" in header:
        return "classification"
    if any(name.endswith("(P)") for name in header):
        return "pose_estimation"
    if any((m := _METRIC.fullmatch(name)) and m.group(1).startswith("mAP") for name in header):
        return "object_detection"
    return None


def _parts(table: csv_table.CsvTable, prefix: str) -> list[str]:
    return _part_names(table.header, prefix)


def _part_names(header: list[str], prefix: str) -> list[str]:
    return [n for n in header if n.startswith(prefix) and n != prefix + "loss"]


@lru_cache(maxsize=32)
def _row_plan(header: bytes) -> RowPlan | None:
    """How a results.csv's new rows are read (ultralytics_rows), its keys as the parse
    names them; None for one the fast path leaves to the parse (a column that would be
    a loss sum or duration_s while it has no value, and the column's once it has one)."""
    found = header_names(header, NAME)
    if found is None or "epoch" not in found[0]:
        return None
    names = list(found[0])
    columns = key_columns(names, _wanted(names))
    taken = {key for _, key in columns}
    sums = []
    for total, prefix in (("train_loss", "train/"), ("val_loss", "val/")):
        parts = [names.index(n) for n in _part_names(names, prefix)]
        if len(parts) >= 2:
            if total in taken:
                return None
            sums.append((total, tuple(parts)))
    if "time" in names and "duration_s" in taken:
        return None
    return RowPlan(
        delimiter=found[1],
        width=len(names),
        epoch=names.index("epoch"),
        time=names.index("time") if "time" in names else None,
        columns=columns,
        validated=tuple(i for i, n in enumerate(names) if n.startswith(("val/", "metrics/"))),
        sums=tuple(sums),
    )


def read_new_rows(header: bytes, context: list[bytes], complete: bytes) -> NewPoints | None:
    """The points new plain rows add (ultralytics_rows), or None."""
    plan = _row_plan(header)
    return None if plan is None else epoch_rows(plan, context, complete)


@lru_cache(maxsize=32)
def _time_cells(header: bytes) -> TimeCells | None:
    """Where a results.csv's rows hold their epoch and time; None when the parse reads no
    duration from them (no `time` or no `epoch` column)."""
    table = csv_table.read_table(header, NAME)
    if "time" not in table.header or "epoch" not in table.header:
        return None
    delimiter = table.delimiter.encode("ascii")
    if b'"' in header or header.count(delimiter) + 1 != len(table.header):
        return TimeCells(delimiter, -1, -1)
    return TimeCells(delimiter, table.header.index("epoch"), table.header.index("time"))


def rows_to_last_time(header: bytes, lines: list[bytes]) -> int | None:
    """How many of the last lines hold the row a new row's duration is read from
    (ultralytics_rows.lines_to_last_time); 0 for a file without times."""
    cells = _time_cells(header)
    if cells is None:
        return 0
    return lines_to_last_time(cells, header.lstrip(b"\xef\xbb\xbf").strip(), lines)


def _blank_unvalidated(table: csv_table.CsvTable, keep: np.ndarray, problems: list) -> None:
    """Rows whose every val/ and metrics/ cell is 0: validation did not run there."""
    names = [n for n in table.header if n.startswith(("val/", "metrics/"))]
    if not names or not table.nrows:
        return
    zero = np.ones(table.nrows, dtype=bool)
    for name in names:
        column = table.column(name)
        is_zero = np.zeros(table.nrows, dtype=bool)
        is_zero[column.rows] = column.values == 0
        zero &= is_zero
    zero &= keep
    if not zero.any():
        return
    for name in names:
        cells = table.cells[name]
        for row in np.flatnonzero(zero).tolist():
            cells[row] = ""
    problems.append(
        Problem(
            ProblemKind.NON_NUMERIC,
            f"validation did not run on {int(zero.sum())} epochs (every val/ and metrics/ "
            "value is 0 there, as with val=False): those values are left out",
        )
    )


def _loss_sum(
    table: csv_table.CsvTable,
    prefix: str,
    row_epoch: np.ndarray,
    keep: np.ndarray,
    steps: np.ndarray,
) -> tuple[Series, str] | None:
    """The sum of the loss parts under prefix, on the rows holding every part."""
    parts = _parts(table, prefix)
    if len(parts) < 2:
        return None
    total = np.zeros(table.nrows)
    present = keep.copy()
    for name in parts:
        column = table.column(name)
        has = np.zeros(table.nrows, dtype=bool)
        has[column.rows] = True
        present &= has
        total[column.rows] += column.values
    rows = np.flatnonzero(present)
    if not len(rows):
        return None
    key = "train_loss" if prefix == "train/" else "val_loss"
    at = row_epoch[rows]
    return Series(key, steps if len(at) == len(steps) else at, total[rows]), "+".join(parts)


def _durations(
    table: csv_table.CsvTable, row_epoch: np.ndarray, keep: np.ndarray, steps: np.ndarray
) -> Series | None:
    """Each epoch's seconds from the cumulative `time` (which restarts at a resume)."""
    column = table.column("time")
    inside = keep[column.rows]
    rows, elapsed = column.rows[inside], column.values[inside]
    if not len(rows):
        return None
    duration = np.diff(elapsed, prepend=0.0)
    restarted = duration < 0
    duration[restarted] = elapsed[restarted]
    at = row_epoch[rows]
    return Series("duration_s", steps if len(at) == len(steps) else at, duration)


def total_epochs_from_args(text: str) -> int | None:
    """The planned epochs in an `args.yaml` (YOLOv8+) or `opt.yaml` (YOLOv5), if any."""
    return _total_epochs(parse_hparams(text))


def _total_epochs(args: dict) -> int | None:
    epochs = args.get("epochs")
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs <= 0:
        return None
    return epochs


#: Ultralytics' `task:` to the registry's task names (pose has none there).
_TASKS = {
    "detect": "object_detection",
    "segment": "instance_segmentation",
    "obb": "oriented_od",
    "classify": "classification",
    "pose": "pose_estimation",
}


def meta_from_args(text: str) -> dict:
    """Run meta from `args.yaml`/`opt.yaml`: total_epochs, task (where the registry has
    it: an OBB run's columns look like detection's, only args.yaml tells) and config."""
    args = parse_hparams(text)
    meta: dict = {"config": args}
    total = _total_epochs(args)
    if total is not None:
        meta["total_epochs"] = total
    task = args.get("task")
    if isinstance(task, str) and task in _TASKS:
        meta["task"] = _TASKS[task]
    return meta


def _sniff(head: bytes) -> bool:
    """The header has `epoch` and a `train/` or `metrics/` column."""
    text = head.decode("utf-8", errors="ignore").lstrip("\ufeff")
    lines, terminated = csv_table.split_lines(text)
    if not lines:
        return False
    fields = [f.strip() for f in lines[0].split(csv_table.detect_delimiter(lines[0]))]
    if not terminated and len(lines) == 1:
        # a header cut short: what it has so far must fit
        *complete, partial = fields
        return "epoch" in complete or (not complete and "epoch".startswith(partial) and partial)
    return "epoch" in fields and any(f.startswith(("train/", "metrics/")) for f in fields)


FORMAT = FileFormat(
    name="ultralytics",
    label="Ultralytics YOLO results.csv",
    patterns=("results.csv",),
    sniff=_sniff,
    parse=parse_ultralytics,
    sidecars=(
        ("args.yaml", lambda data: meta_from_args(data.decode("utf-8", "replace"))),
        ("opt.yaml", lambda data: meta_from_args(data.decode("utf-8", "replace"))),  # YOLOv5
    ),
    appends=RowAppends(
        header_lines=1,
        context_lines=2,
        rows=read_new_rows,
        parse=parse_ultralytics,
        unfollowed=header_again,
        last_step_lines=rows_to_last_time,
    ),
)
