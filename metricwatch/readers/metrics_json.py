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
import codecs
import json
import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from metricwatch.metrics import ALIASES
from metricwatch.model import Problem, ProblemKind, Record

_WHITESPACE = " \t\n\r"
_STRUCTURAL = frozenset('[]{},:"')
#: Larger epoch numbers are garbage, not a very long training.
MAX_EPOCH = 10**9
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
    problems: list[Problem] = []
    text = _decode(data, problems)
    if not text.strip(_WHITESPACE):
        problems.append(
            Problem(ProblemKind.EMPTY, "metrics.json is empty (a write may be in progress)")
        )
        return ParseResult(problems=problems)
    try:
        try:
            document = _DECODER.decode(text)
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


_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


def _decode(data: bytes, problems: list[Problem]) -> str:
    """Text from bytes: UTF-8, or UTF-16/32 when a byte-order mark says so.

    Only a BOM switches the encoding: guessing from NUL bytes would call a
    file of garbage "not valid UTF-16".
    """
    encoding = next((name for bom, name in _BOMS if data.startswith(bom)), "utf-8")
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as error:
        problems.append(
            Problem(
                ProblemKind.ENCODING,
                f"metrics.json is not valid {encoding.upper().removesuffix('-SIG')} (first bad "
                f"byte at offset {error.start}); undecodable bytes were replaced",
            )
        )
        text = data.decode(encoding, errors="replace")
    return text.lstrip("\ufeff")


def _parse_int(text: str) -> int | float:
    """Python refuses to convert integers over 4300 digits; such a number is an overflow
    anyway, so it becomes the float it is (inf) instead of an exception."""
    return int(text) if len(text) < 4000 else float(text)


_DECODER = json.JSONDecoder(parse_int=_parse_int)


# --- recovering what a broken document still holds -------------------------------------------


def _recover(text: str, error: json.JSONDecodeError, problems: list[Problem]) -> Any:
    offset = _skip(text, 0)
    try:
        first, end = _DECODER.raw_decode(text, offset)
    except json.JSONDecodeError:
        first, end = None, None
    if end is not None:
        return _after_first_value(text, first, end, problems)
    salvaged = _salvage(text, offset)
    where = f"line {error.lineno}, column {error.colno}"
    if not salvaged:
        problems.append(
            Problem(
                ProblemKind.INVALID_JSON, f"metrics.json is not valid JSON ({where}: {error.msg})"
            )
        )
        return None
    if _cut_off(text, error):
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


def _cut_off(text: str, error: json.JSONDecodeError) -> bool:
    """Whether the parse failed because the text stops early (not because it is wrong).

    A cut-off write ends inside its last token: a string, a number, a keyword.
    Anything structural after the error position means the text is corrupt.
    """
    if error.msg.startswith("Unterminated string"):
        return True
    rest = text[error.pos :].strip(_WHITESPACE)
    return not any(char in _STRUCTURAL for char in rest) and " " not in rest


def _after_first_value(text: str, first: Any, end: int, problems: list[Problem]) -> Any:
    """A whole value followed by more text: JSON lines, or leftovers of an overwrite."""
    if isinstance(first, dict) and "epoch" in first and "epochs" not in first:
        return _json_lines(text, problems)
    try:
        _DECODER.raw_decode(text, _skip(text, end))
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
    lines = [line for line in text.splitlines() if line.strip(_WHITESPACE)]
    rows: list[Any] = []
    skipped = 0
    for number, line in enumerate(lines, start=1):
        try:
            rows.append(_DECODER.decode(line))
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


def _salvage(text: str, pos: int) -> Any:
    """Rebuild the complete prefix of a top-level object or list, element by element."""
    if pos >= len(text):
        return None
    if text[pos] == "[":
        items, _ = _partial_array(text, pos)
        return items
    if text[pos] != "{":
        return None
    result: dict[str, Any] = {}
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
                if pos < 0:
                    break
            else:
                value, pos = _DECODER.raw_decode(text, pos)
                if _maybe_cut(text, pos, value):
                    break
                result[key] = value
        except json.JSONDecodeError:
            break
        pos = _skip(text, pos)
        if pos < len(text) and text[pos] == ",":
            pos += 1
            continue
        break
    return result


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
        if _maybe_cut(text, pos, value):
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


def _maybe_cut(text: str, end: int, value: Any) -> bool:
    """A number not followed by a delimiter may be cut short (123 of 12345.6, 2 of 2.5)."""
    if not isinstance(value, (int, float)):
        return False
    pos = _skip(text, end)
    return pos >= len(text) or text[pos] not in ",]}"


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
        elif _history_columns(document):
            rows = _history_rows(document, result)
        elif "epoch" in document:
            rows = [document]  # JSON lines after its first epoch: one record, one line
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


def _history_columns(document: dict[str, Any]) -> dict[str, list[Any]]:
    """The lists of a history dict that hold numbers (a list of class names is not one)."""
    return {
        key: value
        for key, value in document.items()
        if key != "meta"
        and isinstance(value, list)
        and any(_number(item) is not None for item in value[:100])
    }


def _history_rows(document: dict[str, Any], result: ParseResult) -> list[dict[str, Any]]:
    """Turn {"train_loss": [..], ...} into epoch rows; the epoch is the 1-based position."""
    columns = _history_columns(document)
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
    collisions: set[str] = set()
    for row in rows:
        if not isinstance(row, dict):
            not_objects += 1
            continue
        epoch = _epoch(row.get("epoch"))
        if epoch is None:
            unnumbered += 1
            epoch = (epochs[-1] + 1) if epochs else 1
        values: dict[str, float] = {}
        sources: dict[str, str] = {}
        for raw_key, raw_value in row.items():
            if raw_key == "epoch" or raw_value is None:
                continue
            # Fast path for the common case: a plain float under a canonical key.
            number = raw_value if type(raw_value) is float else _number(raw_value)
            if number is None:
                non_numeric[str(raw_key)] += 1
                continue
            key = ALIASES.get(raw_key, raw_key)
            if key in values:
                collisions.add(" and ".join(sorted((repr(sources[key]), repr(raw_key)))))
                if raw_key != key:
                    continue  # the canonical spelling wins over its alias
            values[key] = number
            sources[key] = raw_key
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
    if collisions:
        problems.append(
            Problem(
                ProblemKind.NON_NUMERIC,
                "the same metric under two names ("
                + "; ".join(sorted(collisions)[:3])
                + "): kept the canonical one",
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
    """A usable epoch number: a whole number from 0 to MAX_EPOCH, or None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        text = value.strip()
        value = int(text) if text.isascii() and text.isdecimal() and len(text) <= 10 else None
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        value = int(value)
    if isinstance(value, int) and 0 <= value <= MAX_EPOCH:
        return value
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
