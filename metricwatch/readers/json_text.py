"""JSON text as training scripts leave it: decoding, numbers, and what a cut file still holds.

Shared by the JSON-based readers (metricwatch's metrics.json, detectron2's
JSON lines, Hugging Face's trainer_state.json): a file is often read while
it is being rewritten, so a document cut short must give up its complete
part, and a number cut short (`12` of `12.5`) must never be taken.

Runs of JSON lines of one shape read as tables of numbers (the step log's and
detectron2's fast path) are json_lines.
"""

from __future__ import annotations

import codecs
import json
import math
from collections import Counter
from typing import Any

from metricwatch.model import Problem, ProblemKind
from metricwatch.readers.base import quote_key

WHITESPACE = " \t\n\r"
STRUCTURAL = frozenset('[]{},:"')

NON_FINITE_STRINGS = {
    "nan": math.nan,
    "inf": math.inf,
    "+inf": math.inf,
    "-inf": -math.inf,
    "infinity": math.inf,
    "+infinity": math.inf,
    "-infinity": -math.inf,
}


BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


def decode_text(data: bytes, problems: list[Problem]) -> str:
    """Text from bytes: UTF-8, or UTF-16/32 when a byte-order mark says so.

    Only a BOM switches the encoding: guessing from NUL bytes would call a
    file of garbage "not valid UTF-16".
    """
    encoding = next((name for bom, name in BOMS if data.startswith(bom)), "utf-8")
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


def parse_int(text: str) -> int | float:
    """Python refuses to convert integers over 4300 digits; such a number is an overflow
    anyway, so it becomes the float it is (inf) instead of an exception."""
    return int(text) if len(text) < 4000 else float(text)


DECODER = json.JSONDecoder(parse_int=parse_int)


def cut_off(text: str, error: json.JSONDecodeError) -> bool:
    """Whether the parse failed because the text stops early (not because it is wrong).

    A cut-off write ends inside its last token: a string, a number, a keyword.
    Anything structural after the error position means the text is corrupt.
    """
    if error.msg.startswith("Unterminated string"):
        return True
    rest = text[error.pos :].strip(WHITESPACE)
    return not any(char in STRUCTURAL for char in rest) and " " not in rest


def salvage(text: str, pos: int) -> Any:
    """Rebuild the complete prefix of a top-level object or list, element by element."""
    if pos >= len(text):
        return None
    if text[pos] == "[":
        items, _ = partial_array(text, pos)
        return items
    if text[pos] != "{":
        return None
    result: dict[str, Any] = {}
    pos += 1
    while True:
        pos = skip(text, pos)
        if pos >= len(text) or text[pos] == "}":
            break
        try:
            key, pos = DECODER.raw_decode(text, pos)
            pos = skip(text, pos)
            if not isinstance(key, str) or pos >= len(text) or text[pos] != ":":
                break
            pos = skip(text, pos + 1)
            if pos < len(text) and text[pos] == "[":
                items, pos = partial_array(text, pos)
                result[key] = items
                if pos < 0:
                    break
            else:
                value, pos = DECODER.raw_decode(text, pos)
                if maybe_cut(text, pos, value):
                    break
                result[key] = value
        except json.JSONDecodeError:
            break
        pos = skip(text, pos)
        if pos < len(text) and text[pos] == ",":
            pos += 1
            continue
        break
    return result


def partial_array(text: str, pos: int) -> tuple[list[Any], int]:
    """The complete elements of the array at pos; the end position, or -1 if it broke off."""
    items: list[Any] = []
    pos = skip(text, pos + 1)
    if pos < len(text) and text[pos] == "]":
        return items, pos + 1
    while pos < len(text):
        try:
            value, pos = DECODER.raw_decode(text, pos)
        except json.JSONDecodeError:
            return items, -1
        if maybe_cut(text, pos, value):
            return items, -1
        items.append(value)
        pos = skip(text, pos)
        if pos < len(text) and text[pos] == ",":
            pos = skip(text, pos + 1)
            continue
        if pos < len(text) and text[pos] == "]":
            return items, pos + 1
        return items, -1
    return items, -1


def maybe_cut(text: str, end: int, value: Any) -> bool:
    """A number not followed by a delimiter may be cut short (123 of 12345.6, 2 of 2.5)."""
    if not isinstance(value, (int, float)):
        return False
    pos = skip(text, end)
    return pos >= len(text) or text[pos] not in ",]}"


def skip(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in WHITESPACE:
        pos += 1
    return pos


def to_number(value: Any) -> float | None:
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
        if text in NON_FINITE_STRINGS:
            return NON_FINITE_STRINGS[text]
        try:
            return float(text)
        except ValueError:
            return None
    return None


def whole_number(value: Any, limit: int) -> int | None:
    """A JSON value as a count from 0 to limit (an epoch, step or iteration): an int, or a
    float that is one (`12.0`); never a bool, a fraction or a value past limit."""
    if isinstance(value, bool):
        return None
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        value = int(value)
    if isinstance(value, int) and 0 <= value <= limit:
        return value
    return None


def non_numeric_problem(counts: Counter[str]) -> Problem | None:
    """`ignored 3 non-numeric values ('acc' ×2, 'note' ×1)`, or None when there were none."""
    if not counts:
        return None
    detail = ", ".join(f"{quote_key(k)} ×{n}" for k, n in counts.most_common(5))
    return Problem(
        ProblemKind.NON_NUMERIC, f"ignored {sum(counts.values())} non-numeric values ({detail})"
    )


def collision_problem(collisions: set[str]) -> Problem | None:
    """`the same metric under two names ('acc' and 'accuracy'): kept the canonical one`."""
    if not collisions:
        return None
    return Problem(
        ProblemKind.NON_NUMERIC,
        "the same metric under two names ("
        + "; ".join(sorted(collisions)[:3])
        + "): kept the canonical one",
    )
