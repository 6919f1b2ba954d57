"""Keras `CSVLogger` logs (`training.log`, `training_log.csv`, `history.csv`...).

One row per epoch: `epoch` first (counted from 0, as Keras does: the file's
numbers are kept and the run counts from 0), then the logs' keys in sorted
order. Quirks handled here:
- any delimiter (`separator=`): the header line says which;
- `NA` is what Keras writes for a key a row lacks: absent, not NaN; a `nan`
  cell is a NaN the model produced and is kept;
- CRLF and `\\r\\r\\n` line ends (a Windows file opened without newline="");
- `append=True`: each fit appends its rows, its epochs starting again at 0
  (the header is written only into an empty file, so it may or may not come
  again). Each restart at 0 starts a new segment: a separate training, never
  a resume. A file of two fits or more is read as one part per fit
  (ParseResult.parts `fit 1`, `fit 2`...: runs of their own, see run_parts),
  the file's table being the last fit's; a file of one fit is one run, as
  ever. One segment can also be asked for (`segment=`). In a file of two fits
  or more, every segment's rows are in meta["segments"] as [first_row,
  last_row, first_epoch, last_epoch] (data rows counted from 0, header lines
  not counted); a file of one fit has none (it grows line by line: see
  readers/appended.py). An epoch going back
  but not to 0 (`initial_epoch=`) is a resume inside a segment: the later
  rows replace the earlier ones.
- `pd.DataFrame(history.history).to_csv("history.csv")`: no `epoch` column but
  pandas' index first (an empty name): the index is the epoch;
- keys: `loss` -> train_loss, `acc`/`accuracy` -> train_accuracy, `val_acc`
  -> val_accuracy, `lr`/`learning_rate` -> lr; others keep their names.
"""

from __future__ import annotations

import re
from functools import lru_cache

import numpy as np

from metricwatch.metrics import ALIASES
from metricwatch.model import EPOCH, Problem, ProblemKind, Table
from metricwatch.readers import csv_table
from metricwatch.readers.appended_rows import NewPoints, Points, RowAppends
from metricwatch.readers.base import FileFormat, ParseResult
from metricwatch.readers.csv_rows import (
    header_again,
    header_names,
    key_columns,
    plain_rows,
    whole,
)

NAME = "the Keras CSV log"
#: What Keras' CSVLogger writes for a key a row lacks.
MISSING = frozenset({"", "NA"})
_MISSING_BYTES = tuple(token.encode() for token in sorted(MISSING))
_KEYS = {
    "loss": "train_loss",
    "acc": "train_accuracy",
    "accuracy": "train_accuracy",
    "val_acc": "val_accuracy",
    "lr": "lr",
    "learning_rate": "lr",
}
#: The first header name pandas writes for a DataFrame's index (`to_csv` of History.history).
_INDEX_NAMES = ("", "Unnamed: 0")
_METRIC_NAME = re.compile(r"[A-Za-z_][\w.\-/()@ ]*")


def parse_keras_csv(data: bytes, segment: int | None = None) -> ParseResult:
    """Read a Keras CSVLogger file: every fit in it (as parts when there are two or more),
    or only segment number `segment` (-1: the last)."""
    table = csv_table.read_table(data, NAME)
    result = ParseResult(problems=table.problems)
    if not table.header:
        return result
    index = table.header[0] if table.header[0] in _INDEX_NAMES else None
    epoch_name = "epoch" if "epoch" in table.header else index
    if epoch_name is None:
        result.problems.append(
            Problem(ProblemKind.NOT_OURS, f"{NAME} has no 'epoch' column: not a Keras log")
        )
        return result
    epoch_column = table.column(epoch_name, MISSING)
    usable = np.zeros(table.nrows, dtype=bool)
    usable[epoch_column.rows[csv_table.whole_numbers(epoch_column)]] = True
    bad = table.nrows - int(usable.sum())
    if bad:
        result.problems.append(
            Problem(ProblemKind.BAD_EPOCH, f"{bad} rows of {NAME} have no usable epoch; skipped")
        )
    row_epoch = np.full(table.nrows, -1, dtype=np.int64)
    row_epoch[epoch_column.rows] = np.where(
        np.isfinite(epoch_column.values), epoch_column.values, -1
    ).astype(np.int64)
    rows = np.flatnonzero(usable)
    segments = _segments(rows, row_epoch[rows])
    if len(segments) > 1:
        result.meta["segments"] = segments
    if len(segments) > 1 and segment is not None:
        result.problems.append(
            Problem(
                ProblemKind.RESTART,
                f"{len(segments)} trainings appended in this file; showing number "
                f"{_segment_index(segment, len(segments)) + 1}",
            )
        )
    wanted = _wanted(table.header, index)
    if len(segments) > 1 and segment is None:
        for number, (first, last, _, _) in enumerate(segments, start=1):
            part, _ = _fit(table, wanted, rows, row_epoch, first, last)
            result.parts[f"fit {number}"] = part
    if segments:
        chosen = segments[_segment_index(-1 if segment is None else segment, len(segments))]
        fit, whole_file = _fit(table, wanted, rows, row_epoch, chosen[0], chosen[1])
    else:
        fit, whole_file = _fit(table, wanted, rows[:0], row_epoch, 0, -1)
    result.table = fit.table
    result.meta["source_keys"] = fit.meta["source_keys"]
    if not result.parts:
        result.problems.extend(fit.problems)
    result.problems.extend(whole_file)
    return result


def _wanted(header: list[str], index: str | None) -> list[tuple[str, str]]:
    """(column, key) for every metric column of a header (`index`: pandas' index column)."""
    return [
        (name, ALIASES.get(_KEYS.get(name, name), _KEYS.get(name, name)))
        for name in header
        if name not in ("epoch", index)
    ]


def _fit(
    table: csv_table.CsvTable,
    wanted: list[tuple[str, str]],
    rows: np.ndarray,
    row_epoch: np.ndarray,
    first: int,
    last: int,
) -> tuple[ParseResult, list[Problem]]:
    """One fit of the file (its rows first..last): its table, keys and own problems (a
    resume inside it); and the problems of the whole file's columns (non-numeric cells,
    two names of one key), the same for every fit."""
    keep = np.zeros(table.nrows, dtype=bool)
    problems: list[Problem] = []
    chosen = rows[(rows >= first) & (rows <= last)]
    kept, restarts = csv_table.keep_after_resumes(row_epoch[chosen], strict=True)
    keep[chosen[kept]] = True
    if restarts:
        problems.append(csv_table.restart_problem(restarts, "epoch"))
    keys, source_keys, collisions = csv_table.assign_keys(wanted)
    series, steps, non_numeric = csv_table.build_series(
        table, keys, row_epoch, keep, missing=MISSING
    )
    whole_file = []
    if collisions:
        whole_file.append(csv_table.collision_problem(collisions))
    found = csv_table.non_numeric_problem(non_numeric, NAME)
    if found:
        whole_file.append(found)
    result = ParseResult(
        table=Table(steps, series, EPOCH),
        meta={"source_keys": source_keys},
        problems=problems,
        format="keras_csv",
    )
    return result, whole_file


def _segment_index(segment: int, count: int) -> int:
    return min(max(segment if segment >= 0 else count + segment, 0), count - 1)


def _segments(rows: np.ndarray, epochs: np.ndarray) -> list[list[int]]:
    """[first_row, last_row, first_epoch, last_epoch] of each training: a new one starts
    at every row (but the first) whose epoch is 0."""
    if not len(rows):
        return []
    starts = np.flatnonzero(epochs == 0)
    starts = np.union1d([0], starts)
    ends = np.append(starts[1:] - 1, len(rows) - 1)
    return [
        [int(rows[s]), int(rows[e]), int(epochs[s]), int(epochs[s : e + 1].max())]
        for s, e in zip(starts.tolist(), ends.tolist())
    ]


# --- a write's new rows alone (the fast path of an appended log: readers/appended_rows.py) ---


@lru_cache(maxsize=32)
def _row_plan(header: bytes) -> tuple[bytes, int, int, tuple[tuple[int, str], ...]] | None:
    """(delimiter, width, epoch column, ((column, key), ...)) of a log's header, its keys as
    the parse names them; None for one the fast path leaves to the parse."""
    found = header_names(header, NAME)
    if found is None:
        return None
    names = list(found[0])
    index = names[0] if names[0] in _INDEX_NAMES else None
    epoch_name = "epoch" if "epoch" in names else index
    if epoch_name is None:
        return None
    columns = key_columns(names, _wanted(names, index))
    return found[1], len(names), names.index(epoch_name), columns


def read_new_rows(header: bytes, context: list[bytes], complete: bytes) -> NewPoints | None:
    """The points new plain rows add, each epoch after the last (appended_rows refuses an
    epoch at or before the last read: a resume, or a new fit at 0): a point a cell that
    is not `NA`. None for anything else (no usable epoch, an epoch going back)."""
    plan = _row_plan(header)
    if plan is None:
        return None
    delimiter, width, epoch_at, columns = plan
    rows = plain_rows(complete, delimiter, width, _MISSING_BYTES)
    if rows is None:
        return None
    epochs: list[int] = []
    for cells in rows:
        epoch = whole(cells[epoch_at])
        if epoch is None or (epochs and epoch <= epochs[-1]):
            return None
        epochs.append(epoch)
    series = {}
    for column, key in columns:
        steps = [epoch for epoch, cells in zip(epochs, rows) if cells[column] is not None]
        if steps:
            values = [cells[column] for cells in rows if cells[column] is not None]
            series[key] = Points(steps, values)  # type: ignore[arg-type]
    return NewPoints(epochs, series)


def _sniff(head: bytes) -> bool:
    """The first line starts with an `epoch` field; the others look like metric names."""
    text = head.decode("utf-8", errors="ignore").lstrip("\ufeff")
    lines, terminated = csv_table.split_lines(text)
    if not lines:
        return False
    fields = [f.strip().strip('"') for f in lines[0].split(csv_table.detect_delimiter(lines[0]))]
    cut = not terminated and len(lines) == 1  # a header cut short
    if cut and len(fields) == 1:
        return bool(fields[0]) and "epoch".startswith(fields[0])
    names = fields[1:-1] if cut else fields[1:]
    if fields[0] in _INDEX_NAMES and len(fields) > 1:
        # pandas' History.history.to_csv: the index is the epoch; a known key must be there
        known = any(name in ("loss", "epoch") or name.startswith("val_") for name in names)
        return known and all(_METRIC_NAME.fullmatch(name) for name in names)
    if fields[0] != "epoch" or "step" in fields:
        return False
    return all(_METRIC_NAME.fullmatch(name) for name in names)


FORMAT = FileFormat(
    name="keras_csv",
    label="Keras CSVLogger log",
    patterns=(
        "training.log",
        "*_training.log",
        "training_log.csv",
        "*training_log*.csv",
        "history.csv",
        "log.csv",
    ),
    sniff=_sniff,
    parse=parse_keras_csv,
    appends=RowAppends(
        header_lines=1,
        context_lines=2,
        rows=read_new_rows,
        parse=parse_keras_csv,
        unfollowed=header_again,
    ),
)
