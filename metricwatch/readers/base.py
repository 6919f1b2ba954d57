"""What every reader returns and how a format declares itself.

A reader is a pure function from a file's bytes to a ParseResult: a
columnar table and typed problems, never an exception on content. A
FileFormat says which file names a format may hold, how to recognise its
content from the first bytes (names alone are ambiguous: detectron2 and
metricwatch both write `metrics.json`, and a `results.csv` may be anyone's),
and which function reads it. The registry in readers/__init__.py asks them
in order.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from metricwatch.model import Problem, ProblemKind, Series, Table
from metricwatch.safetext import printable, shorten_middle

#: How much of a file the sniffers see.
HEAD_BYTES = 4096

#: Problems that mean "this read may have lost data a previous read had".
DAMAGE_KINDS = frozenset(
    {
        ProblemKind.EMPTY,
        ProblemKind.TRUNCATED,
        ProblemKind.INVALID_JSON,
        ProblemKind.NOT_OURS,
        ProblemKind.MISSING,
        ProblemKind.UNREADABLE,
    }
)


@dataclass
class ParseResult:
    """A reader's output. `format` is the FileFormat name that read it ("" before).

    `parts`: a file that holds several runs (MLflow's mlflow.db, a Keras log with fits
    appended) gives one result per run, in order, keyed by the part's name (data from
    the file: escape it wherever shown). Then `problems` are the file's own (a locked or
    cut file) and `table` is not shown; empty for a file of one run.
    """

    table: Table = field(default_factory=Table)
    meta: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    format: str = ""
    parts: dict[str, ParseResult] = field(default_factory=dict)

    @property
    def damaged(self) -> bool:
        """True when the file could not be read whole (as opposed to odd values in it)."""
        return any(p.kind in DAMAGE_KINDS for p in self.problems)


@dataclass(frozen=True)
class Appends:
    """What a parse of a log's new lines must be given before them to read them as the
    whole file's parse would: its first `header_lines` lines (a CSV header) and the last
    `context_lines` complete lines before the new ones (a row's duration is its time minus
    the previous row's; a resume is a step going back from the last one)."""

    header_lines: int = 0
    context_lines: int = 2


@dataclass(frozen=True)
class FileFormat:
    """One log format: its id, its name for people, its file names, sniffer and parser.

    name: the stable id in JSON output ("metricwatch", "hf_trainer_state", ...).
    label: what a person calls it ("Hugging Face Trainer trainer_state.json").
    patterns: fnmatch patterns of the file names it may hold (matched on the base name).
    sniff: given the first HEAD_BYTES of a file with such a name, is it this format?
        It must not raise, and must say yes to a file cut short (a write in progress).
    parse: the whole file's bytes to a ParseResult; never raises on content.
    tail: for a format whose run is its log's whole directory (TensorBoard writes several
        event files, appended to): given the claimed file's path, an object whose
        `read() -> ParseResult` reads the run, parsing only bytes new since its last
        call. The loader keeps one per run and uses it instead of `parse`.
    sidecars: files beside the log that describe the run (Lightning's hparams.yaml,
        Ultralytics' args.yaml): (file name, bytes -> meta entries); the loader reads the
        ones present and adds their entries to the run's meta, never raising.
    described: for a format whose run is described by a file with no fixed name beside
        the log (Hugging Face Trainer: the TrainingArguments its TensorBoard callback
        writes at the start of the newest `runs/*/events.out.tfevents.*` of the output
        folder): given the log's path, meta entries as a sidecar's. It finds and reads
        the file itself (blocking I/O: the loader calls it in its timed calls, after the
        sidecars, whenever it reads the log) and must not raise.
    nested: for a format whose run directory may keep its log only in a subdirectory
        (Hugging Face's `checkpoint-N/trainer_state.json` during training, Keras'
        `train/` and `validation/` event files): given a directory that holds no run
        file of its own and the names of its subdirectories, the file (in one of them)
        the directory's run is read from, or None. The run is the directory: it is
        named after it, and its subdirectories are not searched for more runs.
    owned: the subdirectories of a run directory whose changes are changes of the run
        (MLflow's `metrics/` tree, Keras' `train/` and `validation/`, the newest
        `checkpoint-N/`): discovery lists them with the searched directories, so the
        watcher watches them, and an event in one of them updates the run.
    names: the names the format gives the run directory and its parents, replacing
        the last parts of the path name (MLflow: `<experiment_id>/<run_id>` reads as
        `experiment name/run name`); None (or a failure) keeps the path name.
    appends: for a text log its writer only appends lines to (CSV, JSON lines): how
        much of the file a parse of new lines needs to see first (see Appends). The
        loader then parses only the lines added since its last read (readers/appended.py).
    companion: a file of another format beside the log that holds more of the same run
        (metricwatch's step log `metrics.jsonl` beside its `metrics.json`, and the other way
        round): (its name, (this file's result, the companion's) -> the run's result).
    store: for a file that holds many runs and is no run directory's log (MLflow's
        mlflow.db, often at the top of a project): given the path of a file whose head
        sniffed yes, whether it really is one (its tables lie beyond the first bytes). Its
        directory is still searched (see discovery), it is a run beside another run file
        of its directory, and it is read with `tail` (by path, never as bytes).
    """

    name: str
    label: str
    patterns: tuple[str, ...]
    sniff: Callable[[bytes], bool]
    parse: Callable[[bytes], ParseResult]
    sidecars: tuple[tuple[str, Callable[[bytes], dict[str, Any]]], ...] = ()
    described: Callable[[Path], dict[str, Any]] | None = None
    tail: Callable[[Path], Any] | None = None
    nested: Callable[[Path, list[str]], Path | None] | None = None
    owned: Callable[[Path], list[Path]] | None = None
    names: Callable[[Path], tuple[str, ...] | None] | None = None
    appends: Appends | None = None
    companion: tuple[str, Callable[[ParseResult, ParseResult], ParseResult]] | None = None
    store: Callable[[Path], bool] | None = None

    def may_hold(self, filename: str) -> bool:
        """Whether filename matches one of the patterns (as fnmatch.fnmatchcase would)."""
        return self._names_match(filename) is not None

    @cached_property
    def _names_match(self) -> Callable[[str], re.Match[str] | None]:
        """The patterns as one compiled expression: the watcher asks about every file event,
        and a loop of fnmatch calls over each format's patterns added up."""
        either = "|".join(fnmatch.translate(pattern) for pattern in self.patterns)
        return re.compile(either or "(?!)").match  # no patterns: no name


# --- small pieces every reader uses -----------------------------------------------------------


def quote_key(key: str) -> str:
    """A key or name quoted for a message: at most 40 cells, shortened in the middle (the
    end of `val/acc_top5` tells it apart), hidden characters escaped."""
    return "'" + shorten_middle(printable(key), 40) + "'"


def union_steps(arrays: list[np.ndarray]) -> np.ndarray:
    """Every step of ascending step arrays, once, ascending (a sort: np.unique hashes)."""
    if not arrays:
        return np.empty(0, dtype=np.int64)
    if len(arrays) == 1:
        return arrays[0]
    # A live run's common case, read again at every write: one key's steps hold every other
    # key's (the loss every step, the evaluation every 500th). Then they are the union: a
    # pass and a few searches, not a sort of every step of every key.
    longest = max(arrays, key=len)
    if bool(np.all(longest[1:] > longest[:-1])) and all(
        a is longest or _within(a, longest) for a in arrays
    ):
        return longest
    merged = np.sort(np.concatenate(arrays), kind="stable")
    return merged[np.append(True, merged[1:] != merged[:-1])]


def _within(steps: np.ndarray, ascending: np.ndarray) -> bool:
    """Whether every one of steps is in `ascending` (strictly ascending)."""
    if len(steps) == len(ascending):
        return bool(np.array_equal(steps, ascending))
    if not len(steps):
        return True
    at = np.minimum(np.searchsorted(ascending, steps), len(ascending) - 1)
    return bool(np.array_equal(ascending[at], steps))


def with_epochs(series: Series, epoch_steps: np.ndarray, epochs: np.ndarray) -> Series:
    """The series with the epoch logged at (or last before) each of its steps.

    A series logged at exactly the epoch's steps (a framework logging the epoch with
    every value), each step once, takes the epochs as they are: the search over a
    million points is the cost of every live read of such a run. With no epoch logged
    yet (its file's first line still being written) every epoch is unknown (NaN)."""
    steps = series.steps
    if not len(epoch_steps):
        return Series(series.key, steps, series.values, np.full(len(steps), np.nan), series.times)
    if (
        len(steps) == len(epoch_steps)
        and np.array_equal(steps, epoch_steps)
        and bool(np.all(epoch_steps[1:] > epoch_steps[:-1]))
    ):
        return Series(series.key, steps, series.values, epochs, series.times)
    where = np.searchsorted(epoch_steps, series.steps, side="right") - 1
    found = np.where(where >= 0, epochs[np.clip(where, 0, None)], np.nan)
    return Series(series.key, series.steps, series.values, found, series.times)
