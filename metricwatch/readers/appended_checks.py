"""What a chunk's parse must show for an appended log to take its new points, and the
meta new lines bring (readers/appended.AppendedLog): the log ends with the context's
points, the chunk begins with them, and the run's mappings grow as the whole parse's
would.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from metricwatch.model import ProblemKind, Series
from metricwatch.readers.base import ParseResult


def starts_with(array: np.ndarray, prefix: np.ndarray) -> bool:
    """Whether array begins with prefix (the chunk's steps with the context's)."""
    return len(array) >= len(prefix) and bool(np.array_equal(array[: len(prefix)], prefix))


def ends_with(array: np.ndarray, suffix: np.ndarray) -> bool:
    """Whether array ends with suffix (the log's steps with the context's)."""
    start = len(array) - len(suffix)
    return start >= 0 and bool(np.array_equal(array[start:], suffix))


def same_points(series: Series, known: Series) -> bool | np.ndarray | None:
    """Whether series begins with exactly the points of known (NaN equal to NaN): True;
    None when not; or, when only epochs unknown in known are known in series, those
    epochs (NaN at the points whose epoch series does not newly tell: the columns may
    know it from lines before the context, which neither parse saw)."""
    n = len(known)
    if len(series) < n or not np.array_equal(series.steps[:n], known.steps):
        return None
    for mine, theirs in ((series.values, known.values), (series.times, known.times)):
        if (mine is None) != (theirs is None):
            return None
        if mine is not None and not np.array_equal(mine[:n], theirs, equal_nan=True):
            return None
    if (series.epochs is None) != (known.epochs is None):
        return None
    if series.epochs is None or np.array_equal(series.epochs[:n], known.epochs, equal_nan=True):
        return True
    mine, theirs = series.epochs[:n], known.epochs
    differ = ~((mine == theirs) | (np.isnan(mine) & np.isnan(theirs)))
    if np.isnan(known.epochs[differ]).all():
        return np.where(differ, mine, np.nan)
    return None


def without_cut(result: ParseResult) -> ParseResult:
    """The result without the note of a cut last line: that line is read again later."""
    kept = [p for p in result.problems if p.kind is not ProblemKind.TRUNCATED]
    return replace(result, problems=kept)


def known_meta(meta: dict[str, Any], new: dict[str, Any]) -> bool:
    """Whether every entry of the new lines' mappings (a key's source name) is known as it
    is: a new one joins the mapping as the whole parse would not always have it (it keeps
    the first source of a key), which the general path's parse of the context tells."""
    for name, value in new.items():
        if isinstance(value, dict):
            known = meta.get(name)
            if not isinstance(known, dict):
                return False
            if any(entry not in known or known[entry] != v for entry, v in value.items()):
                return False
    return True


def merge_meta(meta: dict[str, Any], new: dict[str, Any]) -> None:
    """What new lines say about the run (`new`) joins what was known (`meta`): mappings
    (source keys, value scales) are merged, a later single value (detectron2's eta)
    replaces the earlier."""
    for key, value in new.items():
        known: Any = meta.get(key)
        if isinstance(value, dict) and isinstance(known, dict):
            meta[key] = {**known, **value}
        else:
            meta[key] = value
