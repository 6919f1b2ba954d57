"""JSON lines that repeat one shape, read a run of lines at a time as a table of numbers.

A JSON-lines writer (metricwatch's step log, detectron2's JSONWriter) repeats
one line shape: json.dumps of one dict, the same keys in the same order, every
value a number. LineRuns finds runs of such lines with one regular expression a
piece of text and converts their tokens (decimals.from_strings: the numbers float()
reads) straight into a numpy table, with no json.loads and no dict a line; any other
line (other keys or order, strings, nulls, `-0`, a cut or blank line, bad JSON) is
handed back as text, for the reader to decode with the json module as before. A line
the pattern takes decodes, with the json module, to exactly those numbers, so both
ways give the same records.

Used by the JSON-lines readers alone, so it stands apart from json_text (JSON
text as every JSON reader meets it: decoding, numbers, what a cut file holds),
whose decoder it uses to learn a shape from a line.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from functools import lru_cache
from itertools import chain
from operator import itemgetter

import numpy as np

from metricwatch.model import Problem, ProblemKind
from metricwatch.readers import decimals
from metricwatch.readers.json_text import DECODER

#: JSON whitespace inside a line (a CRLF file leaves its \r at each line's end). No
#: possessive quantifiers in these patterns: Python 3.10's re has none (3.11 added them),
#: and a number is always followed by a separator that no digit matches, so giving
#: digits back cannot make a line match otherwise.
_LINE_WS = "[ \t\r]*"
#: A JSON number or a bare NaN/Infinity token, every one of which float() reads as the json
#: module does. `-0` alone is left out: json reads it as the int 0 (+0.0), float() as -0.0.
#: Spelt for the re engine: a number's first character picks its branch (no lookahead
#: before each number), and an optional part is `(?:...|)`, which it matches faster than
#: `(?:...)?` (a general repeat). A third less time than the plain spelling on the step
#: log's lines; tests/test_jsonl_patterns.py holds the two to the same tokens.
_FRACTION_EXPONENT = r"(?:\.[0-9]+|)(?:[eE][-+]?[0-9]+|)"
_NUMBER = (
    rf"[1-9][0-9]*{_FRACTION_EXPONENT}|0{_FRACTION_EXPONENT}"
    rf"|-(?:[1-9][0-9]*|0(?=[.eE])){_FRACTION_EXPONENT}|NaN|-?Infinity"
)
#: A count (step, iteration) as a plain integer of at most 16 digits: exact in a float64.
_COUNT = "0|[1-9][0-9]{0,15}"
#: The separators (between items, after a key) of json.dumps, of json.dumps(separators=
#: (",", ":")), and any whitespace: a pattern without optional whitespace is faster.
_STYLES = ((", ", ": "), (",", ":"), None)
#: Runs are read this many characters of text at a time (about 1,500 lines).
_PIECE_CHARS = 2**18
#: How many of a chunk's first lines may be tried for its shape.
_SHAPE_LINES = 16
#: A run of fewer lines than this is given as lists of numbers, to be taken a line at a
#: time (a dict a line): a table's fixed cost (a few numpy calls) is more than a few dicts'.
SHORT_RUN = 8
#: A chunk with fewer lines than this is read line by line (a few appended lines): finding
#: its shape would cost more than it saves.
MIN_SHAPED_LINES = 64
#: ... counted in the text's first this many characters.
_FEW_SCAN_CHARS = 2**20


def cut_last_line(name: str) -> Problem:
    """The note for a last line cut short (no line end after it, not valid JSON): a write
    in progress, waited for rather than counted as bad."""
    return Problem(
        ProblemKind.TRUNCATED, f"the last line of {name} is incomplete (a write in progress?)"
    )


#: What runs() gives for a stretch of lines: a line (str), a table of a run of lines of one
#: shape (a row a key), or a short run's values (a list a line).
Run = str | np.ndarray | list[list[float]]


class LineShape:
    """The keys, in order, of the lines a JSON-lines writer repeats (json.dumps of one dict
    shape), and the patterns that take exactly such a line whose values are all numbers.

    A line the pattern takes decodes, with the json module, to a dict of these keys whose
    values are the float() of the captured tokens (the counts: ints of at most 16 digits),
    so a run of such lines can be read as one table of numbers, with no dict per line.
    """

    __slots__ = ("keys", "lines", "pattern")

    def __init__(
        self, keys: tuple[str, ...], counts: frozenset[str], style: int, ascii_keys: bool
    ) -> None:
        self.keys = keys
        self.pattern, self.lines = _shape_patterns(keys, counts, style, ascii_keys)


class LineRuns:
    """JSON lines read as runs of lines of one shape (a table of numbers each) and the
    other lines (for the json module). The shape is learnt from the first lines, and
    learnt again where most lines of a piece of text have another (a logger that adds a
    key after its first epoch, or starts logging evaluations)."""

    def __init__(self, counts: frozenset[str], accept: Callable[[tuple[str, ...]], bool]) -> None:
        self.counts = counts  # keys whose values are counts (plain integers)
        self.accept = accept  # whether lines of these keys may be read as a table

    def runs(self, text: str) -> Iterator[tuple[int, tuple[str, ...], Run]]:
        """The lines of text (split at "\n") in order, as (i, keys, run): a run of lines from
        line i on, of these keys (runs.T: the values of each key; a list: those of each
        line, for a run shorter than SHORT_RUN), or line i itself (a str). A piece of text
        at a time, so that the tokens of a run stay few (a whole file's would outgrow the
        CPU's caches)."""
        if self.few(text):
            yield from ((index, (), line) for index, line in enumerate(text.split("\n")))
            return
        shape = None
        first = start = 0
        while start <= len(text):
            end = text.find("\n", start + _PIECE_CHARS)
            stop = len(text) if end < 0 else end
            shape, rows = self._piece(text, start, stop, shape)
            if rows is None:
                lines = text[start:stop].split("\n")
                yield from ((first + i, (), line) for i, line in enumerate(lines))
                first += len(lines)
            else:
                assert shape is not None
                yield from _runs(rows, first, shape.keys)
                first += len(rows)
            if end < 0:
                return
            start = end + 1

    @staticmethod
    def few(text: str) -> bool:
        """Whether text has too few lines to look for runs (a few appended lines): they
        are read one at a time, as cheaply as ever."""
        end = -1
        for _ in range(MIN_SHAPED_LINES):  # not count(): that scans a whole MiB of a big chunk
            end = text.find("\n", end + 1, _FEW_SCAN_CHARS)
            if end < 0:
                return True
        return False

    def _piece(
        self, text: str, start: int, stop: int, shape: LineShape | None
    ) -> tuple[LineShape | None, list[tuple[str, ...]] | None]:
        """The shape for text[start:stop] and its rows (None: no shape fits it)."""
        if shape is not None:
            rows = shape.lines.findall(text, start, stop)
            others = [row[-1] for row in rows if not row[0]]
            if len(others) * 2 <= len(rows):
                return shape, rows
            found = self.shape(others[:_SHAPE_LINES])
            if found is None or found.keys == shape.keys:
                return shape, rows
        else:
            found = self.shape(text[start:stop].split("\n", _SHAPE_LINES)[:_SHAPE_LINES])
            if found is None:
                return None, None
        return found, found.lines.findall(text, start, stop)

    def shape(self, lines: list[str]) -> LineShape | None:
        """The shape of the first of these lines that has one (a JSON object of numbers
        under distinct keys that accept() takes, the counts among them), or None."""
        for line in lines:
            try:
                row = DECODER.decode(line)
            except (ValueError, RecursionError):
                continue
            if not isinstance(row, dict) or not self.counts <= row.keys():
                continue
            keys = tuple(row)
            if not self.accept(keys):
                continue
            for style in range(len(_STYLES)):
                for ascii_keys in _key_spellings(keys):
                    shape = LineShape(keys, self.counts, style, ascii_keys)
                    if shape.pattern.fullmatch(line):
                        return shape
        return None


def _key_spellings(keys: tuple[str, ...]) -> tuple[bool, ...]:
    """How a line may spell these keys (LineShape's ascii_keys): keys that are not all ASCII
    as they are, or escaped (`\\u00e9`) as json.dumps does by default, and so metricwatch's
    own step log writer (torch/step_log.py), whose lines would else all be read one by one."""
    return (False,) if all(map(str.isascii, keys)) else (False, True)


def _runs(
    rows: list[tuple[str, ...]], first: int, keys: tuple[str, ...]
) -> Iterator[tuple[int, tuple[str, ...], Run]]:
    """rows: a tuple a line, its tokens, or empty tokens and the line (another line)."""
    tokens = list(map(itemgetter(0), rows))  # never empty in a line of the shape
    start = 0
    while start < len(rows):
        try:
            other = tokens.index("", start)
        except ValueError:
            other = len(rows)
        if other - start >= SHORT_RUN:
            yield first + start, keys, _table(rows[start:other], len(keys))
        elif start < other:
            yield (
                first + start,
                keys,
                [list(map(float, filter(None, r))) for r in rows[start:other]],
            )
        if other < len(rows):
            yield first + other, (), rows[other][-1]
        start = other + 1


def _table(rows: list[tuple[str, ...]], width: int) -> np.ndarray:
    count = len(rows) * width
    tokens = list(filter(None, chain.from_iterable(rows)))  # without the empty "other line"
    flat = decimals.from_strings(tokens)
    if flat is None:  # a NaN or Infinity token, or one out of range
        flat = np.fromiter(map(float, tokens), np.float64, count)
    return flat.reshape(len(rows), width).T.copy()


@lru_cache(maxsize=32)
def _shape_patterns(
    keys: tuple[str, ...], counts: frozenset[str], style: int, ascii_keys: bool
) -> tuple[re.Pattern[str], re.Pattern[str]]:
    """A line of these keys (fullmatch), and lines (findall: a tuple a line, the tokens of
    a line of these keys or, for any other line, empty tokens and the line as the last).
    ascii_keys: the keys spelt with their non-ASCII characters escaped (`\\u00e9`)."""
    separators = _STYLES[style]
    if separators is None:
        item, colon, start = f"{_LINE_WS},{_LINE_WS}", f"{_LINE_WS}:{_LINE_WS}", _LINE_WS
    else:
        item, colon, start = re.escape(separators[0]), re.escape(separators[1]), ""
    fields = []
    for key in keys:
        token = _COUNT if key in counts else _NUMBER
        name = re.escape(json.dumps(key, ensure_ascii=ascii_keys))
        fields.append(f"{name}{colon}({token})")
    body = start + r"\{" + start + item.join(fields) + start + r"\}" + _LINE_WS
    return re.compile(body), re.compile(f"^(?:{body}|(.*))$", re.MULTILINE)
