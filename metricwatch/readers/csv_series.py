"""From a CSV table's columns to the run model: keys, resumes, series, and the problems
they tell; shared by the CSV readers (Lightning, Keras, Ultralytics).

csv_table reads the bytes into columns (and makes these names its own, for the readers
that ask it); this module works on what a table's `column()` gives: it knows no CSV.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from metricwatch.model import Problem, ProblemKind, Series
from metricwatch.safetext import printable, shorten_middle

if TYPE_CHECKING:
    from metricwatch.readers.csv_table import Column, CsvTable


def quoted(key: str) -> str:
    """A key for a message: printable, at most 40 cells."""
    return "'" + shorten_middle(printable(key), 40) + "'"


def non_numeric_problem(counts: dict[str, int], filename: str) -> Problem | None:
    """One NON_NUMERIC problem for the cells of several columns that were not numbers."""
    counts = {k: n for k, n in counts.items() if n}
    if not counts:
        return None
    top = sorted(counts.items(), key=lambda item: -item[1])[:5]
    detail = ", ".join(f"{quoted(k)} ×{n}" for k, n in top)
    return Problem(
        ProblemKind.NON_NUMERIC,
        f"ignored {sum(counts.values())} non-numeric cells in {filename} ({detail})",
    )


def keep_after_resumes(x: np.ndarray, strict: bool) -> tuple[np.ndarray, list[str]]:
    """Rows to keep when x goes back (a resume): the later rows replace the earlier ones.

    A row is kept when no later row has a smaller x (strict: a smaller or equal x, for
    formats with one row per x). Returns the keep mask and the points where x went back.
    """
    if len(x) < 2:
        return np.ones(len(x), dtype=bool), []
    later_min = np.minimum.accumulate(x[::-1])[::-1]
    later_min = np.append(later_min[1:], np.iinfo(np.int64).max)
    keep = x < later_min if strict else x <= later_min
    back = np.flatnonzero(x[1:] <= x[:-1] if strict else x[1:] < x[:-1])
    restarts = [f"{x[i + 1]} (after {x[i]})" for i in back[:3]]
    return keep, restarts


def restart_problem(restarts: list[str], what: str) -> Problem:
    return Problem(
        ProblemKind.RESTART,
        f"{what} numbers went back (resumed from a checkpoint) at {what} "
        + ", ".join(restarts)
        + "; the later rows replace the earlier ones",
    )


def whole_numbers(column: Column, limit: int = 10**12) -> np.ndarray:
    """Which values of a column are usable x positions (whole, 0..limit)."""
    values = column.values
    with np.errstate(invalid="ignore"):
        whole = values == np.floor(values)
        return np.isfinite(values) & (values >= 0) & (values <= limit) & whole


# --- from columns to the run model ----------------------------------------------------------


def slash_safe(name: str) -> str:
    """A key without slashes (`train/entropy` -> `train_entropy`)."""
    return name.replace("/", "_")


def assign_keys(wanted: list[tuple[str, str]]) -> tuple[dict[str, str], dict[str, str], list[str]]:
    """Final keys for (original column, wanted key) pairs, without two columns on one key.

    A column spelled exactly as the key wins it, else the first one asking; a loser
    keeps its slash-safe name (or its original one). Returns {column: key},
    source_keys {key: column} for the renamed ones, and the collisions in words.
    """
    owner: dict[str, str] = {}
    for column, key in wanted:
        if key not in owner or column == key:
            owner[key] = column
    taken = set(owner)
    result: dict[str, str] = {}
    collisions: list[str] = []
    for column, key in wanted:
        if owner.get(key) == column:
            result[column] = key
            continue
        own = slash_safe(column)
        if own in taken:
            own = column
        while own in taken:
            own += "_"
        taken.add(own)
        result[column] = own
        collisions.append(f"{quoted(column)} and {quoted(owner[key])}")
    source_keys = {key: column for column, key in result.items() if key != column}
    return result, source_keys, collisions


def collision_problem(collisions: list[str]) -> Problem:
    return Problem(
        ProblemKind.NON_NUMERIC,
        "the same metric under two names ("
        + "; ".join(collisions[:3])
        + "): the second keeps its own name",
    )


def build_series(
    table: CsvTable,
    keys: dict[str, str],
    row_x: np.ndarray,
    keep: np.ndarray,
    missing: frozenset[str] = frozenset({""}),
    row_epochs: np.ndarray | None = None,
    row_times: np.ndarray | None = None,
) -> tuple[dict[str, Series], np.ndarray, dict[str, int]]:
    """Series for the columns in keys ({column: key}), on the rows in keep.

    row_x holds each row's x (only read where keep is True; kept rows must be in
    non-decreasing x order). Several values of one key at one x (two rows of one
    step) keep the last. Returns the series, the table's steps (the distinct x of
    the kept rows) and the non-numeric cell counts per column.
    """
    all_steps = _distinct(row_x[keep])
    series: dict[str, Series] = {}
    non_numeric: dict[str, int] = {}
    for column_name, key in keys.items():
        column = table.column(column_name, missing)
        non_numeric[column_name] = column.non_numeric
        rows = column.rows[keep[column.rows]]
        if not len(rows):
            continue
        values = column.values[keep[column.rows]]
        steps = row_x[rows]
        last = np.append(steps[1:] != steps[:-1], True)
        if not last.all():
            rows, steps, values = rows[last], steps[last], values[last]
        if steps.shape == all_steps.shape:
            steps = all_steps  # shared, not an array per series
        epochs = None if row_epochs is None else row_epochs[rows]
        times = None if row_times is None else row_times[rows]
        series[key] = Series(key, steps, values, epochs, times)
    return series, all_steps, non_numeric


def _distinct(x: np.ndarray) -> np.ndarray:
    """np.unique of x as int64; the kept rows' x never go down (build_series), so a pass
    that drops repeats makes the same array without np.unique's hashing and sorting."""
    x = x.astype(np.int64)
    if len(x) < 2 or not bool(np.all(x[1:] >= x[:-1])):
        return np.unique(x)
    return x[np.append(True, x[1:] != x[:-1])]
