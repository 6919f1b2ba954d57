"""metricwatch's step log `metrics.jsonl`, and how it joins the run's `metrics.json`.

The training side logs every N optimiser steps to `metrics.jsonl`, one JSON
object per line, appended: `step` (the x), `epoch` (fractional, where the
logger knows it), `time` (Unix seconds), then the metrics. Its epoch
records stay in `metrics.json`, which may carry the `step` at which each
epoch ended. A run with both is one run on the step axis:

- the step log's series are drawn at their steps; a key logged both per
  step and per epoch (`train_loss`) keeps its name for the epoch values
  (the mean over the epoch, what the rules judge, as with Lightning's
  `train_loss_epoch`) and the step values become `<key>_step`;
- an epoch record stands at its `step`, or where it has none, at the last
  logged step of that epoch (the last step whose fractional epoch is at
  most the epoch number); an epoch that cannot be placed is said;
- a step going back (a restart from a checkpoint, `resume=True`) replaces
  the steps from there on, as the writer does;
- a last line cut short (a write in progress) is waited for, not an error.

Either file may be the run's file (the other its companion): the logger
writes metrics.json first, but a script that only logs steps has only the
step log.

This module is the format: what the registry sees (the FileFormat, its
sniffer and parse) and the join of the two files, which metrics_json's format
uses too. Reading the lines into columns (restarts, the fast path for runs of
lines of one shape, what was skipped) is step_log_columns; NAME and MAX_STEP
are defined there, where the lines are read.
"""

from __future__ import annotations

import json

import numpy as np

from metricwatch.model import EPOCH, STEP, Problem, ProblemKind, Series, Table
from metricwatch.readers.appended_rows import RowAppends
from metricwatch.readers.base import FileFormat, ParseResult, union_steps
from metricwatch.readers.json_text import decode_text
from metricwatch.readers.step_log_columns import MAX_STEP, NAME, read_columns, read_new_lines

EPOCHS_NAME = "metrics.json"


def parse_step_log(data: bytes) -> ParseResult:
    """Read the bytes of a metrics.jsonl. Never raises on content."""
    problems: list[Problem] = []
    text = decode_text(data, problems)
    if not text or text.isspace():  # not strip(): that copies a whole chunk of text
        problems.append(Problem(ProblemKind.EMPTY, f"{NAME} is empty (a write may be in progress)"))
        return ParseResult(problems=problems)
    columns = read_columns(text)
    result = ParseResult(problems=problems)
    result.table = columns.table()
    if columns.sources:
        result.meta["source_keys"] = columns.sources
    columns.report(problems)
    return result


# --- the run of both files ----------------------------------------------------------------


def join_epochs(epochs: ParseResult, steps: ParseResult) -> ParseResult:
    """The run of a metrics.json (`epochs`) and its step log (`steps`), on the step axis.

    Cheap on a long run: the step log's arrays are used as they are; only the epoch
    records (one per epoch) are placed.
    """
    step_problems = [p for p in steps.problems if p.kind is not ProblemKind.EMPTY]
    if not len(steps.table.steps) or epochs.table.x != EPOCH:
        return _with_problems(epochs, step_problems)
    step_table = steps.table
    epoch_table = epochs.table
    problems = [*epochs.problems, *step_problems]
    at = _epoch_steps(epoch_table, step_table)
    lost = [int(e) for e, s in zip(epoch_table.steps.tolist(), at.tolist()) if s < 0]
    if lost:
        shown = ", ".join(str(e) for e in lost[:5]) + (" ..." if len(lost) > 5 else "")
        problems.append(
            Problem(
                ProblemKind.BAD_EPOCH,
                f'epoch {shown} of {EPOCHS_NAME} has no step (no "step" in the record and '
                f"no step of {NAME} in that epoch): not shown on the step axis",
            )
        )
    series: dict[str, Series] = {}
    for key, column in step_table.series.items():
        name = f"{key}_step" if key in epoch_table.series and key != "step" else key
        series[name] = Series(name, column.steps, column.values, column.epochs, column.times)
    epoch_of = dict(zip(epoch_table.steps.tolist(), at.tolist()))
    for key, column in epoch_table.series.items():
        if key == "step":
            continue
        placed = np.asarray([epoch_of[int(e)] for e in column.steps.tolist()], dtype=np.int64)
        keep = placed >= 0
        if not keep.any():
            continue
        order = np.argsort(placed[keep], kind="stable")
        series[key] = Series(
            key,
            placed[keep][order],
            column.values[keep][order],
            column.steps[keep][order].astype(np.float64),
            None if column.times is None else column.times[keep][order],
        )
    epoch_steps = np.unique(at[at >= 0])
    known = step_table.steps
    inside = np.searchsorted(known, epoch_steps)
    if len(epoch_steps) and (
        inside.max() >= len(known) or not np.array_equal(known[inside], epoch_steps)
    ):
        all_steps = union_steps([known, epoch_steps])
    else:
        all_steps = known
    meta = {**steps.meta, **epochs.meta}
    sources = {**steps.meta.get("source_keys", {}), **epochs.meta.get("source_keys", {})}
    if sources:
        meta["source_keys"] = sources
    return ParseResult(
        table=Table(all_steps, series, STEP),
        meta=meta,
        extra={**steps.extra, **epochs.extra},
        problems=problems,
        format=epochs.format,
    )


def join_steps(steps: ParseResult, epochs: ParseResult) -> ParseResult:
    """join_epochs, for a run whose file is the step log and metrics.json its companion."""
    if not len(epochs.table):  # metrics.json not written yet, or no epoch in it
        kept = [p for p in epochs.problems if p.kind is not ProblemKind.EMPTY]
        return _with_problems(steps, kept)
    joined = join_epochs(epochs, steps)
    joined.format = steps.format
    return joined


def _with_problems(result: ParseResult, problems: list[Problem]) -> ParseResult:
    if not problems:
        return result
    return ParseResult(
        result.table, result.meta, result.extra, [*result.problems, *problems], result.format
    )


def _epoch_steps(epoch_table: Table, step_table: Table) -> np.ndarray:
    """The step each epoch record stands at: its own `step`, else its epoch's last step in
    the step log (the last with a fractional epoch at most the epoch number); -1: none."""
    epochs = epoch_table.steps
    at = np.full(len(epochs), -1, dtype=np.int64)
    own = epoch_table.series.get("step")
    if own is not None:
        where = np.searchsorted(epochs, own.steps)
        ok = np.isfinite(own.values) & (own.values >= 0) & (own.values <= MAX_STEP)
        at[where[ok]] = own.values[ok].astype(np.int64)
    missing = np.flatnonzero(at < 0)
    if len(missing):
        logged_steps, logged_epochs = _logged_epochs(step_table)
        if len(logged_steps):
            index = np.searchsorted(logged_epochs, epochs[missing], side="right") - 1
            found = index >= 0
            at[missing[found]] = logged_steps[index[found]]
    return at


def _logged_epochs(step_table: Table) -> tuple[np.ndarray, np.ndarray]:
    """The step log's (step, epoch) pairs where the epoch is known, ascending in both."""
    best: Series | None = None
    for column in step_table.series.values():
        if column.epochs is not None and (best is None or len(column) > len(best)):
            best = column
    if best is None or best.epochs is None:
        return np.empty(0, dtype=np.int64), np.empty(0)
    known = np.isfinite(best.epochs)
    steps, epochs = best.steps[known], best.epochs[known]
    # Epochs only grow with the steps; a log that says otherwise is read by its running max.
    return steps, np.maximum.accumulate(epochs) if len(epochs) else epochs


def _sniff(head: bytes) -> bool:
    """JSON lines whose first object has a "step" (or a first line still being written)."""
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if not text:
        return True
    if not text.startswith(b"{"):
        return False
    first, newline, _ = text.partition(b"\n")
    try:
        row = json.loads(first.decode("utf-8", errors="replace"))
    except ValueError:
        return not newline and b'"step"' in first
    return isinstance(row, dict) and "step" in row


FORMAT = FileFormat(
    name="metricwatch_steps",
    label="metricwatch step log metrics.jsonl",
    patterns=(NAME,),
    sniff=_sniff,
    parse=parse_step_log,
    appends=RowAppends(header_lines=0, context_lines=2, rows=read_new_lines, parse=parse_step_log),
    companion=(EPOCHS_NAME, join_steps),
)

__all__ = ["FORMAT", "join_epochs", "join_steps", "parse_step_log"]
