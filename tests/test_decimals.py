"""decimals: orjson's numbers against float()'s, bit for bit, and every text it must refuse.

A refusal is safe (the reader parses that text as before); a wrong number is not. So
every spelling of a double a logger or a hand may write is read to float()'s bits, and
the refusals are pinned to exactly the texts float() and orjson disagree on or JSON
does not allow, so the fast way is not given up more often than it must be.
"""

from __future__ import annotations

import json
import math
import random
import struct
from pathlib import Path

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from metricwatch.readers import decimals
from metricwatch.readers.decimals import from_separated, from_strings
from metricwatch.sources.discovery import discover_runs
from metricwatch.sources.loader import RunLoader

SETTINGS = settings(max_examples=200, deadline=None, derandomize=True)

#: A JSON number, digits and exponent long enough for float()'s slow cases and overflow.
JSON_NUMBER = r"-?(0|[1-9][0-9]{0,40})(\.[0-9]{1,40})?([eE][-+]?[0-9]{1,3})?"


def bits(values) -> list[int]:
    """Each float64's bit pattern: -0.0 and 0.0 differ, as do NaNs."""
    return [struct.unpack("<q", struct.pack("<d", float(v)))[0] for v in values]


def _refused(word: str) -> bool:
    """The JSON numbers orjson refuses: those float() reads as +-inf (orjson raises)."""
    return math.isinf(float(word))


def spellings(x: float) -> list[str]:
    """How loggers and people write a double: shortest, %g, all 17 digits, long exponent."""
    return [repr(x), f"{x:g}", f"{x:.17g}", f"{x:.25e}", f"{x:.30E}", str(float(x))]


@SETTINGS
@given(st.lists(st.floats(allow_nan=False, allow_infinity=False), max_size=30))
@example([5e-324, -5e-324, 2.2250738585072014e-308, 1.7976931348623157e308, 0.1, -0.0])
def test_every_spelling_of_doubles_reads_as_float_does(values: list[float]) -> None:
    words = [word for x in values for word in spellings(x)]
    got = from_strings(words)
    assert got is not None
    assert got.dtype == np.float64
    assert bits(got) == bits(float(word) for word in words)


@SETTINGS
@given(st.lists(st.from_regex(JSON_NUMBER, fullmatch=True), min_size=1, max_size=20))
@example(["2.4703282292062327e-324", "2.4703282292062328e-324", "1.7976931348623158e308"])
@example(["-0", "0", "-0.0", "-0e-0", "1e400"])
@example(["9007199254740993", "18446744073709551615", "18446744073709551616"])
@example(["-9223372036854775809", "123456789012345678901234567890", "0.0e-999"])
def test_random_json_numbers_read_as_float_does_or_are_refused(words: list[str]) -> None:
    got = from_strings(words)
    if any(map(_refused, words)):
        assert got is None
    else:
        assert got is not None
        assert bits(got) == bits(float(word) for word in words)


@pytest.mark.parametrize(
    "word",
    [
        "NaN",
        "-Infinity",
        "nan",
        "inf",
        "1e400",  # float(): inf; orjson: out of range
        "-1" + "0" * 400,
        ".5",
        "5.",
        "+1",
        "01",
        "1_000",
        "0x10",
        "1,5",  # two numbers for one item
        "",
        " ",
        "true",
        "null",
        "[1]",
        '"1"',
        "\x0c1",  # float() strips it; JSON has no such whitespace
        "\u0661",  # an Arabic-Indic one: float() reads it
        "1\u00a0",
    ],
)
def test_what_is_not_plainly_a_json_number_is_refused(word: str) -> None:
    assert from_strings(["2.5", word, "3"]) is None


@pytest.mark.parametrize("word", ["-0.0", "-0e5", "-0E-0", "-0.000e+10"])
def test_a_negative_zero_with_a_fraction_or_exponent_keeps_its_sign(word: str) -> None:
    got = from_strings(["1", word])
    assert got is not None
    assert bits(got) == bits([1.0, -0.0])


def test_json_whitespace_around_an_item_is_allowed_as_float_strips_it() -> None:
    got = from_strings([" 0.5", "\t2\r\n", "  3e2  "])
    assert got is not None
    assert got.tolist() == [0.5, 2.0, 300.0]


def test_no_item_is_an_empty_table() -> None:
    empty = from_strings([])
    assert empty is not None
    assert empty.dtype == np.float64
    assert empty.shape == (0,)


def test_zeros_keep_their_sign_as_float_reads_them() -> None:
    # orjson reads the integer -0 as the int 0: zeros are read again with float()
    words = ["-0", "0", "-0.0", "0e5", " -0 ", "-0e1", "1e-0", "-0.5"]
    got = from_strings(words)
    assert got is not None
    assert bits(got) == bits(float(word) for word in words)
    assert from_strings(["1", "-00"]) is None  # not JSON


def test_separated_words_read_across_spaces_tabs_and_lines() -> None:
    got = from_separated(b"  1 2.5\t-3e-2\n\n4\r\n")
    assert got is not None
    assert bits(got) == bits([1.0, 2.5, -0.03, 4.0])
    empty = from_separated(b" \n ")
    assert empty is not None
    assert empty.shape == (0,)


def test_separated_zeros_keep_their_sign() -> None:
    got = from_separated(b"1 -0 0\n-0.0")
    assert got is not None
    assert bits(got) == bits([1.0, -0.0, 0.0, -0.0])


@pytest.mark.parametrize("text", [b"1,5 2", b"1 nan 2", b"1 .5", b"1 \xc2\xa0"])
def test_separated_words_that_are_not_plain_numbers_are_refused(text: bytes) -> None:
    assert from_separated(text) is None


@SETTINGS
@given(st.lists(st.floats(allow_nan=False, allow_infinity=False), max_size=50), st.data())
def test_separated_words_read_as_numpy_fromstring_does(values: list[float], data) -> None:
    gaps = data.draw(st.lists(st.sampled_from([" ", "\n", "  ", "\t"]), min_size=len(values)))
    text = "".join(repr(x) + gap for x, gap in zip(values, gaps)).encode()
    got = from_separated(text)
    assert got is not None
    assert bits(got) == bits(values)


def test_orjson_errors_are_value_errors_the_parse_catches() -> None:
    # the parse catches orjson.JSONDecodeError alone; it must be what every refusal raises
    with pytest.raises(decimals.orjson.JSONDecodeError):
        decimals.orjson.loads(b"[1e400]")


@SETTINGS
@given(
    st.lists(st.floats(allow_nan=False, allow_infinity=False), max_size=40),
    st.integers(1, 7),
    st.integers(1, 30),
)
def test_long_texts_read_in_pieces_give_the_numbers_of_one_read(
    values: list[float], items: int, size: int
) -> None:
    words = [repr(x) for x in values]
    text = " \n".join(words).encode()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(decimals, "PIECE_ITEMS", items)
        patch.setattr(decimals, "PIECE_BYTES", size)
        by_strings, by_text = from_strings(words), from_separated(text)
        refused = from_strings([*words, "nan"]), from_separated(text + b" 1 nan")
    assert by_strings is not None
    assert by_text is not None
    assert bits(by_strings) == bits(by_text) == bits(values)
    assert refused == (None, None)  # a refusal in the last piece refuses the whole


# --- the readers: decimals' numbers, or none, give the same runs ---------------------------


def _number(rng: random.Random) -> float:
    """What logs hold: long reprs, zeros of both signs, tiny learning rates, negatives."""
    kinds = (rng.lognormvariate(0, 2), 0.0, -0.0, rng.random() * 1e-5, -rng.random(), 1e-300)
    return rng.choice(kinds)


def _write_logs(root: Path) -> None:
    """A run of each text format whose numbers decimals reads: 300 records each."""
    rng = random.Random(3)
    lines = {
        "steps/metrics.jsonl": [
            json.dumps(
                {"step": i, "epoch": i / 100, "train_loss": _number(rng), "lr": _number(rng)}
            )
            for i in range(300)
        ],
        "d2/metrics.json": [
            json.dumps({"iteration": i, "total_loss": _number(rng), "lr": _number(rng)})
            for i in range(300)
        ],
        "pl/version_0/metrics.csv": ["epoch,step,train_loss,val_loss"]
        + [
            f"{i // 30},{i},{_number(rng)!r}," if i % 3 else f"{i // 30},{i},,{_number(rng)!r}"
            for i in range(300)
        ],
        "keras/training.log": ["epoch,accuracy,loss,val_loss"]
        + [f"{i},{_number(rng)!r},{_number(rng)!r},{_number(rng)!r}" for i in range(300)]
        + ["300,-0,0,-0.0"],  # an integer -0, as a hand or another tool may write it
        "mlruns/0/abc123/metrics/loss": [
            f"{1700000000000 + i * 1000} {_number(rng)!r} {i}" for i in range(300)
        ],
        "mlruns/0/meta.yaml": ["experiment_id: '0'", "lifecycle_stage: active", "name: Default"],
        "mlruns/0/abc123/meta.yaml": [
            "experiment_id: '0'",
            "lifecycle_stage: active",
            "run_id: abc123",
            "run_name: demo",
            "start_time: 1700000000000",
            "status: 1",
        ],
    }
    for name, text in lines.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("\n".join(text) + "\n")


def _runs(root: Path, read: list[bool]) -> dict[str, tuple[str, dict[str, list[list[int]]], bool]]:
    """Each run's format, the bits of each series' steps, values, epochs and times, and
    whether decimals read numbers of it (`read`: what the spies saw)."""
    out = {}
    for found in discover_runs(root):
        read.clear()
        run = RunLoader().load(found.name, found.metrics_path)
        assert not run.problems, run.problems
        columns = {
            key: [
                bits(column) if column is not None else []
                for column in (series.steps, series.values, series.epochs, series.times)
            ]
            for key in run.keys
            for series in [run.series(key)]
        }
        out[found.name] = (run.format, columns, any(read))
    return out


def test_every_text_format_reads_the_same_runs_with_and_without_decimals(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _write_logs(tmp_path)
    read: list[bool] = []

    def spied(function):
        def spy(*args):
            numbers = function(*args)
            read.append(numbers is not None)
            return numbers

        return spy

    monkeypatch.setattr(decimals, "from_strings", spied(decimals.from_strings))
    monkeypatch.setattr(decimals, "from_separated", spied(decimals.from_separated))
    fast = _runs(tmp_path, read)
    assert sorted((fmt, used) for fmt, _, used in fast.values()) == [
        ("detectron2", True),
        ("keras_csv", True),
        ("lightning_csv", True),
        ("metricwatch_steps", True),
        ("mlflow", True),
    ]
    monkeypatch.setattr(decimals, "from_strings", spied(lambda *args: None))
    monkeypatch.setattr(decimals, "from_separated", spied(lambda *args: None))
    slow = _runs(tmp_path, read)
    assert {name: run[:2] for name, run in slow.items()} == {
        name: run[:2] for name, run in fast.items()
    }
