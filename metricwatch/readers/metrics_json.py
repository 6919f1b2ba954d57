"""metrics.json: bytes in, a columnar table and typed problems out.

The file is rewritten after every epoch, often by code we do not control,
so the reader must survive every way such a file can look mid-write or
after a crash. It never raises on content: what it cannot use becomes a
Problem that the monitor shows while it keeps the good data.

Accepted shapes (all in a file named metrics.json):
- the native one: {"epochs": [{"epoch": 1, "train_loss": ...}, ...], "meta": {...}}
- a bare list of epoch records: [{"epoch": 1, ...}, ...]
- a history dict of lists: {"train_loss": [...], "val_loss": [...]} (epoch = position)
"""

from __future__ import annotations

import bisect
import json
import re
from collections import Counter
from typing import Any

import numpy as np

from metricwatch.metrics import ALIASES
from metricwatch.model import Problem, ProblemKind, Series, Table
from metricwatch.readers import step_log
from metricwatch.readers.base import FileFormat, ParseResult
from metricwatch.readers.json_text import (
    DECODER,
    WHITESPACE,
    collision_problem,
    cut_off,
    decode_text,
    non_numeric_problem,
    quote_key,
    salvage,
    skip,
    to_number,
    whole_number,
)

#: Larger epoch numbers are garbage, not a very long training.
MAX_EPOCH = 10**9


def parse_metrics_json(data: bytes) -> ParseResult:
    """Parse the bytes of a metrics.json file. Never raises on content."""
    problems: list[Problem] = []
    text = decode_text(data, problems)
    if not text.strip(WHITESPACE):
        problems.append(
            Problem(ProblemKind.EMPTY, "metrics.json is empty (a write may be in progress)")
        )
        return ParseResult(problems=problems)
    try:
        try:
            document = DECODER.decode(text)
        except json.JSONDecodeError as error:
            document = _recover(text, error, problems)
            if document is None:
                return ParseResult(problems=problems)
    except RecursionError:
        problems.append(
            Problem(
                ProblemKind.INVALID_JSON, "metrics.json is nested too deeply to be epoch records"
            )
        )
        return ParseResult(problems=problems)
    except ValueError as error:  # any other refusal of the json module: still content
        problems.append(Problem(ProblemKind.INVALID_JSON, f"metrics.json: {error}"))
        return ParseResult(problems=problems)
    return _from_document(document, problems)


# --- recovering what a broken document still holds -------------------------------------------


def _recover(text: str, error: json.JSONDecodeError, problems: list[Problem]) -> Any:
    offset = skip(text, 0)
    try:
        first, end = DECODER.raw_decode(text, offset)
    except json.JSONDecodeError:
        first, end = None, None
    if end is not None:
        return _after_first_value(text, first, end, problems)
    salvaged = salvage(text, offset)
    where = f"line {error.lineno}, column {error.colno}"
    if not salvaged:
        problems.append(
            Problem(
                ProblemKind.INVALID_JSON, f"metrics.json is not valid JSON ({where}: {error.msg})"
            )
        )
        return None
    if cut_off(text, error):
        problems.append(
            Problem(
                ProblemKind.TRUNCATED,
                f"metrics.json ends mid-document ({where}): a write in progress or an "
                "interrupted one; kept the complete part",
            )
        )
    else:
        problems.append(
            Problem(
                ProblemKind.INVALID_JSON,
                f"metrics.json is corrupt at {where} ({error.msg}); kept what comes before",
            )
        )
    return salvaged


def _after_first_value(text: str, first: Any, end: int, problems: list[Problem]) -> Any:
    """A whole value followed by more text: JSON lines, or leftovers of an overwrite."""
    if isinstance(first, dict) and "epoch" in first and "epochs" not in first:
        return _json_lines(text, problems)
    try:
        DECODER.raw_decode(text, skip(text, end))
        several = True
    except json.JSONDecodeError:
        several = False
    if not several:
        problems.append(
            Problem(
                ProblemKind.INVALID_JSON,
                f"metrics.json has unexpected text after the document (from character {end}); "
                "an overwrite in progress? kept the document",
            )
        )
        return first
    lines = sum(1 for line in text.splitlines() if line.strip())
    problems.append(
        Problem(
            ProblemKind.NOT_OURS,
            f"metrics.json holds {lines} JSON values one per line (JSON lines, as detectron2 "
            'writes), not an {"epochs": [...]} document; it is not a metricwatch file',
        )
    )
    return None


def _json_lines(text: str, problems: list[Problem]) -> list[Any]:
    """One epoch record per line. A broken last line is an append in progress."""
    lines = [line for line in text.splitlines() if line.strip(WHITESPACE)]
    rows: list[Any] = []
    skipped = 0
    for number, line in enumerate(lines, start=1):
        try:
            rows.append(DECODER.decode(line))
        except json.JSONDecodeError:
            if number == len(lines):
                problems.append(
                    Problem(
                        ProblemKind.TRUNCATED,
                        "the last line of metrics.json is incomplete (a write in progress?)",
                    )
                )
            else:
                skipped += 1
    if skipped:
        problems.append(
            Problem(ProblemKind.INVALID_JSON, f"skipped {skipped} lines that are not valid JSON")
        )
    return rows


# --- from a JSON value to a table ----------------------------------------------------------


def _from_document(document: Any, problems: list[Problem]) -> ParseResult:
    result = ParseResult(problems=problems)
    if isinstance(document, list):
        result.table = _table_from_rows(document, problems)
    elif isinstance(document, dict):
        meta = document.get("meta")
        if isinstance(meta, dict):
            result.meta = meta
        columns = None if isinstance(document.get("epochs"), list) else _history_columns(document)
        if columns is None:
            result.extra = {k: v for k, v in document.items() if k not in ("epochs", "meta")}
            result.table = _table_from_rows(document["epochs"], problems)
        elif columns:
            result.extra = {k: v for k, v in document.items() if k not in columns and k != "meta"}
            result.table = _table_from_history(columns, problems)
        elif "epoch" in document:
            # JSON lines after its first epoch: one record, one line
            result.table = _table_from_rows([document], problems)
        else:
            problems.append(
                Problem(
                    ProblemKind.NOT_OURS,
                    'metrics.json has no "epochs" list (nor lists of values per metric); '
                    "it is not a metricwatch file",
                )
            )
    else:
        problems.append(
            Problem(
                ProblemKind.NOT_OURS,
                f"metrics.json holds a JSON {type(document).__name__}, not epoch records",
            )
        )
    return result


def _history_columns(document: dict[str, Any]) -> dict[str, list[Any]]:
    """The lists of a history dict that hold numbers (a list of class names is not one);
    a list of per-epoch dicts is flattened (`val_metrics: [{"r2": ..}]` -> `val_r2`)."""
    lists: dict[str, list[Any]] = {}
    for key, value in document.items():
        if key == "meta" or not isinstance(value, list):
            continue
        if any(isinstance(item, dict) for item in value[:100]):
            lists.update(_flattened(key, value))
        elif any(to_number(item) is not None for item in value[:100]):
            lists[key] = value
    return lists


def _flattened(key: str, rows: list[Any]) -> dict[str, list[Any]]:
    """`val_metrics: [{"r2": 0.4}, ...]` -> `{"val_r2": [0.4, ...]}` (numeric entries only)."""
    prefix = key.removesuffix("_metrics") if key.endswith("_metrics") else key
    names: dict[str, None] = {}
    for row in rows[:100]:
        if isinstance(row, dict):
            names.update(dict.fromkeys(k for k, v in row.items() if to_number(v) is not None))
    return {
        f"{prefix}_{name}": [row.get(name) if isinstance(row, dict) else None for row in rows]
        for name in names
    }


def _epoch_count(lists: dict[str, list[Any]]) -> int:
    """How many epochs a history holds: its `epoch` list, else its loss lists, else the
    most common length (the longest of ties)."""
    for key in ("epoch", "train_loss", "loss", "val_loss"):
        if key in lists:
            return len(lists[key])
    lengths = Counter(len(value) for value in lists.values())
    return max(lengths, key=lambda n: (lengths[n], n), default=0)


class _Tally:
    """What a table builder skipped or merged, turned into problems once at the end."""

    def __init__(self) -> None:
        self.non_numeric: Counter[str] = Counter()
        self.not_objects = 0
        self.unnumbered = 0
        self.restarts: list[str] = []
        self.collisions: set[str] = set()

    def collide(self, first: str, second: str) -> None:
        self.collisions.add(" and ".join(sorted((quote_key(first), quote_key(second)))))

    def report(self, problems: list[Problem]) -> None:
        if self.not_objects:
            problems.append(
                Problem(
                    ProblemKind.NOT_OURS,
                    f"skipped {self.not_objects} epoch entries that are not objects",
                )
            )
        if self.unnumbered:
            problems.append(
                Problem(
                    ProblemKind.BAD_EPOCH,
                    f'{self.unnumbered} epoch records had no usable "epoch" number; '
                    "numbered by position",
                )
            )
        for problem in (
            non_numeric_problem(self.non_numeric),
            collision_problem(self.collisions),
        ):
            if problem is not None:
                problems.append(problem)
        if self.restarts:
            problems.append(
                Problem(
                    ProblemKind.RESTART,
                    "epoch numbers went back (resumed from a checkpoint) at epoch "
                    + ", ".join(self.restarts[:3])
                    + "; the later records replace the earlier ones",
                )
            )

    def number(self, epoch: Any, previous: list[int]) -> int:
        """A record's epoch: its own if usable, else the one after the previous record."""
        found = _epoch(epoch)
        if found is None:
            self.unnumbered += 1
            found = (previous[-1] + 1) if previous else 1
        return found

    def keep(self, epochs: list[int], kept: list[Any], epoch: int, item: Any) -> None:
        """Append a record; an epoch that goes back is a resume and drops the later ones."""
        if epochs and epoch <= epochs[-1]:
            cut = bisect.bisect_left(epochs, epoch)
            self.restarts.append(f"{epoch} (after {epochs[-1]})")
            del kept[cut:]
            del epochs[cut:]
        kept.append(item)
        epochs.append(epoch)


def _table_from_rows(rows: list[Any], problems: list[Problem]) -> Table:
    """Epoch records (dicts) to columns: one pass to settle the epochs, one to fill columns."""
    tally = _Tally()
    epochs: list[int] = []
    kept: list[dict[str, Any]] = []
    for row in rows:
        if not isinstance(row, dict):
            tally.not_objects += 1
            continue
        tally.keep(epochs, kept, tally.number(row.get("epoch"), epochs), row)
    columns: dict[str, tuple[list[int], list[float]]] = {}
    for epoch, row in zip(epochs, kept):
        sources: dict[str, str] = {}
        for raw_key, raw_value in row.items():
            if raw_key == "epoch" or raw_value is None:
                continue
            # Fast path for the common case: a plain float under a canonical key.
            number = raw_value if type(raw_value) is float else to_number(raw_value)
            if number is None:
                tally.non_numeric[raw_key] += 1
                continue
            key = ALIASES.get(raw_key, raw_key)
            if key in sources:
                tally.collide(sources[key], raw_key)
                if raw_key == key:  # the canonical spelling wins over its alias
                    columns[key][1][-1] = number
                    sources[key] = raw_key
                continue
            sources[key] = raw_key
            column = columns.get(key)
            if column is None:
                column = columns[key] = ([], [])
            column[0].append(epoch)
            column[1].append(number)
    tally.report(problems)
    all_epochs = np.asarray(epochs, dtype=np.int64)
    series = {}
    for key, (column_epochs, values) in columns.items():
        # Every series holding a value at every epoch shares the one epochs array.
        shared = len(column_epochs) == len(epochs)
        series[key] = Series(
            key, all_epochs if shared else np.asarray(column_epochs), np.asarray(values)
        )
    return Table(all_epochs, series)


def _table_from_history(columns: dict[str, list[Any]], problems: list[Problem]) -> Table:
    """{"train_loss": [..], ...} to a table without a Python object per value.

    The epoch is the 1-based position, or the `epoch` list where there is one
    (which may go back, as a resume does). Lists of plain numbers go to numpy
    in one call; only a list holding something else is walked value by value.
    """
    tally = _Tally()
    # A series has a value per epoch (one fewer too: a write may catch the val lists an
    # epoch behind); lists of other lengths (per-batch values, per-class scores) are not.
    count = _epoch_count(columns)
    odd = sorted(key for key, value in columns.items() if not count - 1 <= len(value) <= count)
    if odd:
        problems.append(
            Problem(
                ProblemKind.NON_NUMERIC,
                f"{len(odd)} lists are not one value per epoch ({count} epochs), not charted: "
                + ", ".join(quote_key(key) for key in odd[:5]),
            )
        )
    columns = {key: value for key, value in columns.items() if key not in odd}
    epoch_column = columns.pop("epoch", None)
    length = max((len(v) for v in columns.values()), default=0)
    if epoch_column is None:
        kept_positions = None
        epochs_array = np.arange(1, length + 1, dtype=np.int64)
    else:
        epochs: list[int] = []
        positions: list[int] = []
        for index in range(length):
            raw = epoch_column[index] if index < len(epoch_column) else None
            tally.keep(epochs, positions, tally.number(raw, epochs), index)
        kept_positions = np.asarray(positions, dtype=np.int64)
        epochs_array = np.asarray(epochs, dtype=np.int64)
    series: dict[str, Series] = {}
    sources: dict[str, str] = {}
    # Canonical spellings first, so that an alias only fills the epochs they lack.
    for raw_key in sorted(columns, key=lambda k: ALIASES.get(k, k) != k):
        values, present = _float_column(columns[raw_key], raw_key, tally)
        if kept_positions is None:
            epochs_for = epochs_array[: len(values)]
        else:
            in_range = kept_positions[kept_positions < len(values)]
            values, present = values[in_range], None if present is None else present[in_range]
            epochs_for = epochs_array[: len(in_range)]
        if present is not None:
            values, epochs_for = values[present], epochs_for[present]
        elif len(epochs_for) == len(epochs_array):
            epochs_for = epochs_array  # shared, not a view per series
        key = ALIASES.get(raw_key, raw_key)
        if key in series:
            tally.collide(sources[key], raw_key)
            values, epochs_for = _fill_gaps(series[key], epochs_for, values)
        sources.setdefault(key, raw_key)
        series[key] = Series(key, epochs_for, values)
    tally.report(problems)
    return Table(epochs_array, series)


def _float_column(
    items: list[Any], key: str, tally: _Tally
) -> tuple[np.ndarray, np.ndarray | None]:
    """A list's values as float64, and which are present (None: all of them)."""
    kinds = set(map(type, items))
    if kinds <= {float, int}:
        try:
            return np.asarray(items, dtype=np.float64), None
        except OverflowError:  # an int past float range: the slow path makes it inf
            pass
    values = np.full(len(items), np.nan)
    present = np.zeros(len(items), dtype=bool)
    for index, item in enumerate(items):
        if item is None:
            continue
        number = to_number(item)
        if number is None:
            tally.non_numeric[key] += 1
            continue
        values[index] = number
        present[index] = True
    return values, present


def _fill_gaps(
    canonical: Series, epochs: np.ndarray, values: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """An alias's points merged under the canonical series, only where it has none."""
    extra = ~np.isin(epochs, canonical.steps)
    merged_epochs = np.concatenate([canonical.steps, epochs[extra]])
    merged_values = np.concatenate([canonical.values, values[extra]])
    order = np.argsort(merged_epochs, kind="stable")
    return merged_values[order], merged_epochs[order]


def _epoch(value: Any) -> int | None:
    """A usable epoch number: a whole number from 0 to MAX_EPOCH, or None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        text = value.strip()
        value = int(text) if text.isascii() and text.isdecimal() and len(text) <= 10 else None
    return whole_number(value, MAX_EPOCH)


def _sniff(head: bytes) -> bool:
    """Any metrics.json is ours to read: a damaged or foreign one gets a typed problem."""
    return True


FORMAT = FileFormat(
    name="metricwatch",
    label="metricwatch metrics.json",
    patterns=("metrics.json",),
    sniff=_sniff,
    parse=parse_metrics_json,
    companion=(step_log.NAME, step_log.join_epochs),
)


_HISTORY_HEAD = re.compile(rb'\A(?:\xef\xbb\xbf)?\s*\{\s*"[^"]*"\s*:\s*\[')


def _sniff_history(head: bytes) -> bool:
    """A JSON object whose first value is a list: `{"loss": [...], ...}` (Keras' history)."""
    return bool(_HISTORY_HEAD.match(head)) or not head.strip()


#: A history dict of lists saved under its own name (`history.json`, Keras'
#: `json.dump(history.history, ...)` as `training_history.json`): read as ours.
HISTORY_FORMAT = FileFormat(
    name="history",
    label="JSON history dict of lists",
    patterns=("*history.json", "history_*.json"),
    sniff=_sniff_history,
    parse=parse_metrics_json,
)
