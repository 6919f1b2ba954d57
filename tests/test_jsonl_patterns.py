"""The JSON-lines fast path's number pattern, and whole step logs, against the plain reading.

json_lines spells its number pattern for the re engine's speed; the plain spelling it
replaced is kept here, and every token (JSON numbers, the json module's NaN/Infinity, and
what is not JSON but float() reads: `-0`, `01`, `.5`, `+1`, `nan`) must be taken by both
or by neither, and a taken token must read with float() as the json module reads it, bit
for bit. Whole step logs of random lines (odd spacing, keys reordered, nulls, NaN and
Infinity tokens, strings where numbers are expected, unicode keys, CRLF, blank, bad and
cut lines) must read as the line-by-line reference in test_jsonl_fast_parse reads them,
whole and in chunks.
"""

from __future__ import annotations

import json
import math
import random
import re
import struct
from functools import partial
from typing import Any

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_jsonl_fast_parse import check_step_log, chunked, odd_value

from metricwatch.readers import step_log, step_log_columns
from metricwatch.readers.json_lines import _NUMBER, MIN_SHAPED_LINES, LineRuns
from metricwatch.readers.json_text import DECODER, to_number

#: The number pattern as it was first spelt (a lookahead before each number, `(...)?`).
PLAIN_NUMBER = r"(?!-0[^.eE])-?(?:[1-9][0-9]*|0)(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?|NaN|-?Infinity"
#: What may follow a number in a line the pattern takes.
FOLLOWERS = (",", "}", " ", "\t", "\r", ", ")

SETTINGS = settings(
    max_examples=300,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)

EDGE_TOKENS = [
    "0", "-0", "-0.0", "-0e0", "-0E+1", "-0.", "00", "01", "-01", "0.5", "1.", ".5", "-.5",
    "+1", "1e", "1e+", "1e5", "1E-5", "1e+05", "1.5e3.2", "--1", "-", "", "NaN", "-NaN",
    "nan", "Infinity", "-Infinity", "+Infinity", "infinity", "inf", "1e400", "-1e-400",
    "9" * 30, "9" * 400, "4.9e-324", "2.2250738585072014e-308", "1.7976931348623157e308",
    "1.7976931348623159e308", "9007199254740993", "0.10120734051105712", "1_0", " 1",
]  # fmt: skip

tokens = st.one_of(
    st.sampled_from(EDGE_TOKENS),
    st.text(alphabet="0123456789.-+eE", max_size=14),
    st.floats().map(json.dumps),
    st.integers().map(str),
    st.builds("{}e{}".format, st.floats(allow_nan=False, allow_infinity=False), st.integers()),
)


def bits(value: float) -> bytes:
    return struct.pack("<d", value)


@SETTINGS
@given(token=tokens, follower=st.sampled_from(FOLLOWERS))
def test_the_number_pattern_takes_what_the_plain_spelling_takes(token, follower):
    line = token + follower
    new = re.match(rf"(?:{_NUMBER}){re.escape(follower)}\Z", line)
    plain = re.match(rf"(?:{PLAIN_NUMBER}){re.escape(follower)}\Z", line)
    assert bool(new) == bool(plain)


@SETTINGS
@given(token=tokens)
def test_a_token_the_pattern_takes_reads_as_the_json_module_reads_it(token):
    if not re.fullmatch(_NUMBER, token):
        return
    number = to_number(DECODER.decode(token))
    assert number is not None
    assert bits(float(token)) == bits(number)


@SETTINGS
@given(lengths=st.lists(st.integers(0, 40_000), max_size=100))
def test_few_counts_the_lines_of_the_first_mib(lengths):
    text = "\n".join("x" * n for n in lengths)
    assert LineRuns.few(text) == (text.count("\n", 0, 2**20) < MIN_SHAPED_LINES)


# --- whole step logs ------------------------------------------------------------------------

KEYS = ["loss", "acc", "lr", "grad_norm", "top1", "e", "损失", "точность", "k\u00e9y", "a b"]
ODD_VALUES = [
    "null", '"1.5"', '"nan"', '"x"', "true", "[]", "NaN", "Infinity", "-Infinity", "-0",
    "-0.0", "0", "1e400", "-1e-400", "01", "1.", ".5", "+1", "9" * 30, "nan", "inf",
]  # fmt: skip


def writer_line(rnd: random.Random, step: int, keys: list[str], options: dict[str, Any]) -> str:
    """A line as the training side's logger writes it: the axes, then the metrics."""
    row: dict[str, Any] = {"step": step, "epoch": step / 97, "time": 1.7e9 + step / 10}
    for key in keys:
        row[key] = rnd.choice([rnd.random(), rnd.random() * 10 ** rnd.randint(-12, 12), step])
    return json.dumps(row, **options)


def odd_spacing(line: str, rnd: random.Random) -> str:
    return line.replace(", ", rnd.choice([",", " , ", ",\t", ",  "])).replace(
        ": ", rnd.choice([":", " : ", ":\t"])
    )


def loads(line: str) -> dict[str, Any] | None:
    """The line's object, or None for a line that an earlier change made no object."""
    try:
        row = json.loads(line)
    except ValueError:
        return None
    return row if isinstance(row, dict) else None


def reordered(line: str, rnd: random.Random) -> str:
    row = loads(line)
    if row is None:
        return line
    items = list(row.items())
    rnd.shuffle(items)
    return json.dumps(dict(items))


def unicode_key(line: str, rnd: random.Random) -> str:
    row = loads(line)
    if row is None:
        return line
    row[rnd.choice(["ünïcode", "指标", "\u2028sep"])] = rnd.random()
    return json.dumps(row, ensure_ascii=rnd.random() < 0.5)


def cut(line: str, rnd: random.Random) -> str:
    return line[: rnd.randrange(len(line) + 1)]


def other_line(line: str, rnd: random.Random) -> str:
    return rnd.choice(["", " ", "\r", "garbage", "[1]", "{}", '{"step": null}', line + "\r"])


CHANGES = [
    odd_spacing,
    reordered,
    partial(odd_value, values=ODD_VALUES),
    unicode_key,
    cut,
    other_line,
]


@st.composite
def step_logs(draw: st.DrawFn) -> bytes:
    rnd = random.Random(draw(st.integers(0, 2**32)))
    keys = draw(st.lists(st.sampled_from(KEYS), min_size=1, max_size=5, unique=True))
    options = draw(st.sampled_from([{}, {"separators": (",", ":")}, {"ensure_ascii": False}]))
    count = draw(st.integers(MIN_SHAPED_LINES, 400))
    lines = [writer_line(rnd, step, keys, options) for step in range(1, count + 1)]
    for change, at in draw(st.lists(st.tuples(st.sampled_from(CHANGES), st.integers()))):
        index = at % len(lines)
        lines[index] = change(lines[index], rnd)
    if draw(st.booleans()):  # a restart: steps written again from an earlier one
        start = rnd.randrange(len(lines))
        lines[start:start] = lines[rnd.randrange(start + 1) : start][:50]
    ending = draw(st.sampled_from(["\n", "\r\n"]))
    text = ending.join(lines) + (ending if draw(st.booleans()) else "")
    if draw(st.booleans()):  # a last line being written
        text += cut(writer_line(rnd, count + 1, keys, options), rnd)
    return text.encode()


@SETTINGS
@given(data=step_logs())
def test_random_step_logs_read_as_the_line_by_line_reading(data):
    check_step_log(data)


@settings(SETTINGS, max_examples=60)
@given(data=step_logs(), size=st.sampled_from([2048, 8192]))
def test_random_step_logs_read_in_chunks_as_whole(data, size):
    whole = step_log.parse_step_log(data)
    pieces = chunked(step_log.FORMAT, data, size)
    if pieces is None:  # the loader reads such a file whole
        return
    assert pieces.table.steps.tolist() == whole.table.steps.tolist()
    for key, series in whole.table.series.items():
        got = pieces.table.series[key]
        for name in ("steps", "values", "epochs", "times"):
            assert bits_of(getattr(got, name)) == bits_of(getattr(series, name)), (key, name)
    assert set(pieces.table.series) == set(whole.table.series)


def bits_of(array: Any) -> bytes | None:
    return None if array is None else array.tobytes()


def test_generated_logs_take_the_fast_path():
    """Not vacuous: a generated log long enough is read in runs."""
    lines = [writer_line(random.Random(1), s, ["loss"], {}) for s in range(1, 200)]
    assert not LineRuns.few("\n".join(lines))
    assert math.isfinite(json.loads(lines[0])["loss"])


def test_escaped_unicode_keys_are_read_in_runs():
    """json.dumps escapes keys that are not ASCII (`\\u635f\\u5931`), as the step log writer
    does: such lines are read as tables too, and give what the line-by-line reading gives."""
    lines = [writer_line(random.Random(s), s, ["损失", "précision"], {}) for s in range(1, 300)]
    text = "\n".join(lines) + "\n"
    assert "\\u" in text
    runs = [run for _, _, run in step_log_columns._RUNS.runs(text)]
    assert any(isinstance(run, np.ndarray) for run in runs)
    check_step_log(text.encode())
