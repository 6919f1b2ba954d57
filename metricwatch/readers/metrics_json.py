"""metrics.json: bytes in, epoch records and typed problems out.

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
import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from metricwatch.metrics import canonical_key
from metricwatch.model import Problem, ProblemKind, Record

_DECODER = json.JSONDecoder()
_WHITESPACE = " \t\n\r"
_NON_FINITE_STRINGS = {
    "nan": math.nan,
    "inf": math.inf,
    "+inf": math.inf,
    "-inf": -math.inf,
    "infinity": math.inf,
    "+infinity": math.inf,
    "-infinity": -math.inf,
}


@dataclass
class ParseResult:
    records: list[Record] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)

    @property
    def damaged(self) -> bool:
        """True when the file could not be read whole (as opposed to odd values in it)."""
        return any(p.kind in DAMAGE_KINDS for p in self.problems)


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


def parse_metrics_json(data: bytes) -> ParseResult:
    """Parse the bytes of a metrics.json file. Never raises on content."""
    if not data.strip():
        return ParseResult(
            problems=[
                Problem(ProblemKind.EMPTY, "metrics.json is empty (a write may be in progress)")
            ]
        )
    problems: list[Problem] = []
    text = _decode(data, problems)
    try:
        try:
            document = json.loads(text)
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
    return _from_document(document, problems)


def _decode(data: bytes, problems: list[Problem]) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        problems.append(
            Problem(
                ProblemKind.ENCODING,
                f"metrics.json is not valid UTF-8 (first bad byte at offset {error.start}); "
                "undecodable bytes were replaced",
            )
        )
        return data.decode("utf-8-sig", errors="replace")


# --- recovering what a broken document still holds -------------------------------------------


def _recover(text: str, error: json.JSONDecodeError, problems: list[Problem]) -> Any:
    stripped = text.lstrip(_WHITESPACE)
    offset = len(text) - len(stripped)
    # Several JSON values one after another: JSON lines, as detectron2 writes.
    try:
        _, end = _DECODER.raw_decode(text, offset)
    except json.JSONDecodeError:
        end = None
    if end is not None:
        return _after_first_value(text, offset, end, problems)
    salvaged, complete_items = _salvage(text, offset)
    if salvaged is None or complete_items == 0:
        problems.append(
            Problem(
                ProblemKind.INVALID_JSON,
                f"metrics.json is not valid JSON (line {error.lineno}, column {error.colno}: "
                f"{error.msg})",
            )
        )
        return None
    problems.append(
        Problem(
            ProblemKind.TRUNCATED,
            f"metrics.json ends mid-document (line {error.lineno}, column {error.colno}): "
            "a write in progress or an interrupted one; kept the complete part",
        )
    )
    return salvaged


def _after_first_value(text: str, offset: int, end: int, problems: list[Problem]) -> Any:
    """A whole value followed by more text: JSON lines, or leftovers of an overwrite."""
    values = []
    pos = offset
    try:
        while pos < len(text):
            value, pos = _DECODER.raw_decode(text, pos)
            values.append(value)
            pos = _skip(text, pos)
    except json.JSONDecodeError:
        pass
    if len(values) == 1:
        problems.append(
            Problem(
                ProblemKind.INVALID_JSON,
                f"metrics.json has unexpected text after the document (from character {end}); "
                "an overwrite in progress? kept the document",
            )
        )
        return values[0]
    if all(isinstance(v, dict) and "epoch" in v for v in values):
        return values  # JSON lines of epoch records: as good as a list
    problems.append(
        Problem(
            ProblemKind.NOT_OURS,
            f"metrics.json holds {len(values)} JSON values one per line (JSON lines, as detectron2 "
            'writes), not an {"epochs": [...]} document; it is not a metricwatch file',
        )
    )
    return None


def _salvage(text: str, pos: int) -> tuple[Any, int]:
    """Rebuild the complete prefix of a top-level object or list, element by element."""
    if pos >= len(text):
        return None, 0
    if text[pos] == "[":
        items, _ = _partial_array(text, pos)
        return items, len(items)
    if text[pos] != "{":
        return None, 0
    result: dict[str, Any] = {}
    count = 0
    pos += 1
    while True:
        pos = _skip(text, pos)
        if pos >= len(text) or text[pos] == "}":
            break
        try:
            key, pos = _DECODER.raw_decode(text, pos)
            pos = _skip(text, pos)
            if not isinstance(key, str) or pos >= len(text) or text[pos] != ":":
                break
            pos = _skip(text, pos + 1)
            if pos < len(text) and text[pos] == "[":
                items, pos = _partial_array(text, pos)
                result[key] = items
                count += len(items)
                if pos < 0:
                    break
            else:
                value, pos = _DECODER.raw_decode(text, pos)
                result[key] = value
        except json.JSONDecodeError:
            break
        pos = _skip(text, pos)
        if pos < len(text) and text[pos] == ",":
            pos += 1
            continue
        break
    return result, count


def _partial_array(text: str, pos: int) -> tuple[list[Any], int]:
    """The complete elements of the array at pos; the end position, or -1 if it broke off."""
    items: list[Any] = []
    pos = _skip(text, pos + 1)
    if pos < len(text) and text[pos] == "]":
        return items, pos + 1
    while pos < len(text):
        try:
            value, pos = _DECODER.raw_decode(text, pos)
        except json.JSONDecodeError:
            return items, -1
        items.append(value)
        pos = _skip(text, pos)
        if pos < len(text) and text[pos] == ",":
            pos = _skip(text, pos + 1)
            continue
        if pos < len(text) and text[pos] == "]":
            return items, pos + 1
        return items, -1
    return items, -1


def _skip(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in _WHITESPACE:
        pos += 1
    return pos


# --- from a JSON value to records ------------------------------------------------------------


def _from_document(document: Any, problems: list[Problem]) -> ParseResult:
    result = ParseResult(problems=problems)
    if isinstance(document, list):
        rows = document
    elif isinstance(document, dict):
        meta = document.get("meta")
        if isinstance(meta, dict):
            result.meta = meta
        if isinstance(document.get("epochs"), list):
            rows = document["epochs"]
            result.extra = {k: v for k, v in document.items() if k not in ("epochs", "meta")}
        elif _looks_like_history(document):
            rows = _history_rows(document, result)
        else:
            problems.append(
                Problem(
                    ProblemKind.NOT_OURS,
                    'metrics.json has no "epochs" list (nor lists of values per metric); '
                    "it is not a metricwatch file",
                )
            )
            return result
    else:
        problems.append(
            Problem(
                ProblemKind.NOT_OURS,
                f"metrics.json holds a JSON {type(document).__name__}, not epoch records",
            )
        )
        return result
    result.records = _records(rows, problems)
    return result


def _looks_like_history(document: dict[str, Any]) -> bool:
    return any(isinstance(v, list) and k != "meta" for k, v in document.items())


def _history_rows(document: dict[str, Any], result: ParseResult) -> list[dict[str, Any]]:
    """Turn {"train_loss": [..], ...} into epoch rows; the epoch is the 1-based position."""
    columns = {k: v for k, v in document.items() if isinstance(v, list)}
    result.extra = {k: v for k, v in document.items() if k not in columns and k != "meta"}
    length = max(len(v) for v in columns.values())
    rows = []
    epoch_column = columns.pop("epoch", None)
    for index in range(length):
        row: dict[str, Any] = {}
        if epoch_column is not None and index < len(epoch_column):
            row["epoch"] = epoch_column[index]
        else:
            row["epoch"] = index + 1
        for key, column in columns.items():
            if index < len(column):
                row[key] = column[index]
        rows.append(row)
    return rows


def _records(rows: list[Any], problems: list[Problem]) -> list[Record]:
    records: list[Record] = []
    epochs: list[int] = []
    non_numeric: Counter[str] = Counter()
    not_objects = 0
    unnumbered = 0
    restarts: list[str] = []
    for row in rows:
        if not isinstance(row, dict):
            not_objects += 1
            continue
        epoch = _epoch(row.get("epoch"))
        if epoch is None:
            unnumbered += 1
            epoch = (epochs[-1] + 1) if epochs else 1
        values: dict[str, float] = {}
        for raw_key, raw_value in row.items():
            if raw_key == "epoch" or raw_value is None:
                continue
            number = _number(raw_value)
            if number is None:
                non_numeric[str(raw_key)] += 1
                continue
            values[canonical_key(str(raw_key))] = number
        if epochs and epoch <= epochs[-1]:
            cut = bisect.bisect_left(epochs, epoch)
            restarts.append(f"{epoch} (after {epochs[-1]})")
            del records[cut:]
            del epochs[cut:]
        records.append(Record(epoch, values))
        epochs.append(epoch)
    if not_objects:
        problems.append(
            Problem(
                ProblemKind.NOT_OURS, f"skipped {not_objects} epoch entries that are not objects"
            )
        )
    if unnumbered:
        problems.append(
            Problem(
                ProblemKind.BAD_EPOCH,
                f'{unnumbered} epoch records had no usable "epoch" number; numbered by position',
            )
        )
    if non_numeric:
        detail = ", ".join(f"{_safe(k)} ×{n}" for k, n in non_numeric.most_common(5))
        problems.append(
            Problem(
                ProblemKind.NON_NUMERIC,
                f"ignored {sum(non_numeric.values())} non-numeric values ({detail})",
            )
        )
    if restarts:
        problems.append(
            Problem(
                ProblemKind.RESTART,
                "epoch numbers went back (resumed from a checkpoint) at epoch "
                + ", ".join(restarts[:3])
                + "; the later records replace the earlier ones",
            )
        )
    return records


def _epoch(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value >= 0 else None
    if isinstance(value, float) and math.isfinite(value) and value.is_integer() and value >= 0:
        return int(value)
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, float):
        return value
    if isinstance(value, int):
        try:
            return float(value)
        except OverflowError:
            return math.inf if value > 0 else -math.inf
    if isinstance(value, str):
        text = value.strip().lower()
        if text in _NON_FINITE_STRINGS:
            return _NON_FINITE_STRINGS[text]
        try:
            return float(text)
        except ValueError:
            return None
    return None


def _safe(key: str) -> str:
    """A key quoted for a message: bounded length, control characters shown escaped."""
    text = key if len(key) <= 40 else key[:39] + "…"
    return repr(text)
