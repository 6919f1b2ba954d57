"""An MLflow metric file's lines (`timestamp value step`) parsed to numpy columns.

A file of plain lines, as MLflow writes them, is parsed in one call (`_fast_lines`: by
decimals.from_separated, or by numpy's parser where a value is nan or inf);
any other shape (a line of two fields, a word, a step too big for a float) line by line in
Python, as MLflow itself would read it. mlflow_files reads the files, whole or by their new
lines, with these.
"""

from __future__ import annotations

import re
import warnings

import numpy as np

from metricwatch.readers import decimals


def cut_line(rest: bytes) -> bool:
    """Whether a file's bytes after its last newline are a line being written, not blank:
    blank as the lines are read (decoded, then split at whitespace as str.split() does,
    which counts more characters as whitespace than bytes do, such as \\x1c-\\x1f). The
    whole read and the tail of a growing file say the same."""
    return bool(rest.decode("utf-8", errors="replace").strip())


def parse_metric_file(data: bytes) -> tuple[np.ndarray, np.ndarray, np.ndarray, int, bool]:
    """A metric file's lines `timestamp value step` as (steps, values, times in seconds),
    the number of lines that are not numbers, and whether the last line is cut short.

    Lines of MLflow before 1.0 have no step (step 0). Values may be nan, inf, -inf."""
    body = data[: data.rfind(b"\n") + 1]
    fast = _fast_lines(body)
    if fast is not None:
        return (*fast, 0, len(body) < len(data) and cut_line(data[len(body) :]))
    text = data.decode("utf-8", errors="replace")
    lines = text.split("\n")
    cut = cut_line(data[len(body) :])  # no newline after the last line: a write in progress
    if cut:
        lines.pop()
    steps: list[int] = []
    values: list[float] = []
    times: list[float] = []
    bad = 0
    for line in lines:
        parts = line.split()
        if not parts:
            continue
        try:
            stamp = float(parts[0]) / 1000.0
            value = float(parts[1])
            step = int(parts[2]) if len(parts) > 2 else 0
        except (ValueError, IndexError, OverflowError):
            bad += 1
            continue
        if len(parts) > 3 or not -(2**63) <= step < 2**63:
            bad += 1
            continue
        steps.append(step)
        values.append(value)
        times.append(stamp)
    return (
        np.asarray(steps, dtype=np.int64),
        np.asarray(values, dtype=np.float64),
        np.asarray(times, dtype=np.float64),
        bad,
        cut,
    )


def _fast_lines(body: bytes) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """Whole lines of exactly `timestamp value step` (one space apart), parsed by numpy in
    one call (a live write's line or two: in Python, as numpy would parse them); None when
    any line is shaped otherwise (the line-by-line path handles it)."""
    if len(body) < _SMALL_BODY:
        plain = _plain_lines(body)
        if plain is not None:
            return plain
    return _numpy_lines(body)


#: A line as MLflow writes it (`str` of an int, a float, an int), every number of which
#: Python's float() reads as numpy's parser does (both round decimal strings correctly); a
#: step of at most 15 digits is a whole float below 2**53, as _numpy_lines requires.
_PLAIN_LINE = re.compile(
    rb"(-?\d{1,15}) (-?(?:\d+(?:\.\d*)?(?:[eE][-+]?\d{1,2})?|inf)|nan) (-?\d{1,15})"
)


def _plain_lines(body: bytes) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """_numpy_lines's columns of a few plain lines, parsed in Python (numpy's fixed cost per
    call was most of a live write's read); None when a line is not plain (numpy decides)."""
    steps, values, times = [], [], []
    for line in body.split(b"\n")[:-1]:
        match = _PLAIN_LINE.fullmatch(line)
        if match is None:
            return None
        stamp, value, step = match.groups()
        times.append(float(stamp) / 1000.0)
        values.append(float(value))
        steps.append(int(step))
    if not steps:
        return None
    return (
        np.array(steps, dtype=np.int64),
        np.array(values, dtype=np.float64),
        np.array(times, dtype=np.float64),
    )


def _numpy_lines(body: bytes) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """_fast_lines in bulk: every line checked, then parsed in one call (decimals, or
    numpy's parser for what decimals refuses)."""
    if not body or not _three_fields(body):
        return None
    numbers = decimals.from_separated(body)
    if numbers is None:  # nan, inf, or a number JSON does not spell so
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                numbers = np.fromstring(body.decode("ascii", errors="replace"), sep=" ")
            except ValueError:  # a token that is no number (numpy 2 raises where 1.x warned)
                return None
    if numbers.shape[0] != 3 * body.count(b"\n"):
        return None
    table = numbers.reshape(-1, 3)
    steps = table[:, 2]
    # finite whole numbers, below 2**53 (beyond exact float integers: the line-by-line path
    # parses them as ints); NaN fails the first test
    if not (bool((np.abs(steps) < 2.0**53).all()) and bool((steps == np.round(steps)).all())):
        return None
    return steps.astype(np.int64), table[:, 1].copy(), table[:, 0] / 1000.0


#: Below this many bytes, lines are checked one by one in Python: numpy's fixed cost per
#: call is most of a live write's read (a line or two per metric file).
_SMALL_BODY = 4096


def _three_fields(body: bytes) -> bool:
    """Whether every line of body (whole lines) is three fields one space apart."""
    if len(body) < _SMALL_BODY:
        for line in body.split(b"\n")[:-1]:
            if line.count(b" ") != 2 or b"  " in line or line[:1] == b" " or line[-1:] == b" ":
                return False
        return True
    raw = np.frombuffer(body, dtype=np.uint8)
    space = raw == 0x20
    ends = np.flatnonzero(raw == 0x0A)
    per_line = np.diff(np.searchsorted(np.flatnonzero(space), ends), prepend=0)
    starts = np.concatenate(([0], ends[:-1] + 1))
    return not (
        bool((per_line != 2).any())
        or bool((space[1:] & space[:-1]).any())
        or bool(space[starts].any())
        or bool(space[ends - 1].any())
    )
