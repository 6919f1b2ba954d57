"""Fuzz: nothing a metrics.json holds may raise past the reader, summary, rules, charts or CLI.

Every test drives one generated file through the whole way a user's file
travels: the reader (parse_metrics_json), the loader (RunLoader.load on a
real file), the summary, the diagnostic rules, the TUI's state and chart
specs (build_state, charts_for, the per-column reduction and the tick
rules, no App), the `summary` report (boxes and table), and `metricwatch
summary --json` in-process, whose output must be strict JSON (null for
NaN/Inf) with no run left "could not summarise" (that guard is the last line
of defence, not a way to pass). One test also draws every chart with
plotext, as the widgets do.

The documents cover every accepted shape ({"epochs": [...], "meta": {...}},
a bare list of records, JSON lines of records, a history dict of lists)
filled with extreme floats (+/-1.7e308, 5e-324, -0.0), huge integers (10**400,
and 4,300+ digit integers written as JSON text, past Python's int-to-str
limit), NaN/Infinity as tokens and as strings, odd epochs (0, negative,
floats, duplicates, going back, 1e18, strings, bools, null), empty,
single-point and constant series, long and non-ASCII keys (CJK, emoji,
control and bidi characters), values of the wrong type; and byte-level
mutations (truncate, flip, insert, delete, duplicate) of valid files.

Profiles (hypothesis settings, chosen by the METRICWATCH_FUZZ variable):

- default ("ci"): 200 examples per test (50 for the two that render the
  report and draw with plotext, which cost the most), derandomized so CI sees
  the same inputs every run; the whole file takes about ten seconds.
- thorough: 3,000 examples per test (750 for those two), random, for a manual run:

      METRICWATCH_FUZZ=thorough .venv/bin/python -m pytest tests/test_fuzz.py

A failure prints the falsifying document; add it to REGRESSIONS below so it
stays fixed.
"""

from __future__ import annotations

import io
import json
import math
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rich.console import Console

from metricwatch.analysis.diagnostics import diagnose, worst_severity
from metricwatch.analysis.downsample import reduce_minmax
from metricwatch.analysis.summary import summarize
from metricwatch.cli import main
from metricwatch.readers import ParseResult, parse_metrics_json
from metricwatch.report import build_report, print_reports
from metricwatch.sources.loader import RunLoader
from metricwatch.tui.charts import charts_for, visible
from metricwatch.tui.plotting import draw, layout
from metricwatch.tui.state import build_state

settings.register_profile(
    "ci",
    max_examples=200,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
settings.register_profile(
    "thorough",
    max_examples=3000,
    deadline=None,
    database=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
PROFILE = settings.get_profile(os.environ.get("METRICWATCH_FUZZ", "ci"))


# --- JSON text we control: NaN tokens, raw huge numbers, invalid surrogates -------------------


class Raw(str):
    """Text that goes into the document as it is: numbers JSON allows but Python cannot print."""


def encode(value: Any, ascii_only: bool = True) -> str:
    if isinstance(value, Raw):
        return str(value)
    if isinstance(value, dict):
        items = (f"{encode(str(k), ascii_only)}: {encode(v, ascii_only)}" for k, v in value.items())
        return "{" + ", ".join(items) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(encode(v, ascii_only) for v in value) + "]"
    return json.dumps(value, allow_nan=True, ensure_ascii=ascii_only)  # NaN, Infinity tokens


def to_bytes(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")  # a lone surrogate becomes invalid UTF-8


# --- values -----------------------------------------------------------------------------------

EXTREME_FLOATS = [
    1.7e308,
    -1.7e308,
    1e308,
    -1e308,
    5e-324,
    -5e-324,
    2.2250738585072014e-308,
    -0.0,
    0.0,
    1.0,
    1e-300,
    1e300,
    math.nan,
    math.inf,
    -math.inf,
]
HUGE_INTS = [10**400, -(10**400), 2**63, 2**64, -(2**63) - 1, 10**18]
RAW_NUMBERS = [
    Raw("9" * 4301),
    Raw("-1" + "0" * 5000),
    Raw("1" + "0" * 4300 + ".5"),
    Raw("1e400"),
    Raw("-1e400"),
    Raw("1e-400"),
    Raw("0." + "0" * 400 + "1"),
    Raw("123456789" * 40 + "e-300"),
]
NON_FINITE_STRINGS = ["NaN", "nan", "Infinity", "-Infinity", "inf", "-inf", "+inf", "INF"]

extreme_floats = st.one_of(
    st.sampled_from(EXTREME_FLOATS),
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(min_value=-1e6, max_value=1e6),
)
numbers = st.one_of(
    extreme_floats,
    st.integers(-1000, 1000),
    st.sampled_from(HUGE_INTS),
    st.sampled_from(RAW_NUMBERS),
)
wrong_types = st.one_of(
    st.none(),
    st.booleans(),
    st.sampled_from([*NON_FINITE_STRINGS, "", "1.5", "abc", "1e999", "0x10"]),
    st.text(max_size=8),
    st.lists(st.integers(-3, 3), max_size=3),
    st.dictionaries(st.text(max_size=3), st.integers(-3, 3), max_size=2),
)
values = st.one_of(numbers, numbers, numbers, wrong_types)

KNOWN_KEYS = [
    "train_loss",
    "val_loss",
    "lr",
    "learning_rate",
    "duration_s",
    "grad_norm",
    "grad_max",
    "train_accuracy",
    "val_accuracy",
    "val_acc",
    "loss",
    "acc",
    "val_f1",
    "val_auroc",
    "val_mAP",
    "val_mIoU",
    "val_dice",
    "val_mae",
    "val_mse",
    "val_r2",
]
ODD_KEYS = [
    "",
    " ",
    "検証損失",
    "🔥loss",
    "val_loss\u200b",
    "\x1b[2Jclear",
    "\u202eevil_loss",
    "a\x00b",
    "[bold red]x[/]",
    "\ud800lone",
    "k" * 300,
    "損" * 2000,
]
keys = st.one_of(
    st.sampled_from(KNOWN_KEYS),
    st.sampled_from(KNOWN_KEYS),
    st.sampled_from(ODD_KEYS),
    st.text(max_size=12),
)

ODD_EPOCHS = [0, -1, -100, 1.5, 2.0, 1e18, 10**18, 10**400, "3", "x", "", True, False, None]
ODD_EPOCHS += [math.nan, math.inf, -0.0, 1e308, Raw("9" * 4400), [1], {"e": 1}]
epochs = st.one_of(st.integers(-3, 60), st.sampled_from(ODD_EPOCHS))


@st.composite
def records(draw, with_epoch: bool = True) -> dict[str, Any]:
    record: dict[str, Any] = {}
    if with_epoch and draw(st.integers(0, 9)):  # an epoch now and then missing
        record["epoch"] = draw(epochs)
    for key in draw(st.lists(keys, max_size=6)):
        record[key] = draw(values)
    return record


@st.composite
def columns(draw, length: int) -> list[Any]:
    """One key's values: random, constant, geometric, linear or mostly clean with spikes."""
    shape = draw(st.sampled_from(["random", "constant", "geometric", "linear", "spiky"]))
    if shape == "random":
        return draw(st.lists(extreme_floats, min_size=length, max_size=length))
    if shape == "constant":
        return [draw(extreme_floats)] * length
    start = draw(st.sampled_from([1.0, 2.3, 1e-300, 1e300, 1.7e308, -1.0, 5e-324, 0.0]))
    if shape == "geometric":  # decays, stays, or grows until it overflows to inf
        ratio = draw(st.sampled_from([0.5, 0.9, 1.0, 1.1, 10.0, 1e100, -1.0]))
        series, value = [], start
        for _ in range(length):
            series.append(value)
            with np.errstate(over="ignore"):
                value = float(np.float64(value) * ratio) if math.isfinite(value) else value
        return series
    if shape == "linear":
        step = draw(st.sampled_from([-0.1, 0.0, 0.1, 1e307, -1e307]))
        return [start + step * i for i in range(length)]
    clean = [2.0 * 0.9**i for i in range(length)]
    for index in draw(st.lists(st.integers(0, max(0, length - 1)), max_size=3)):
        if index < length:
            clean[index] = draw(extreme_floats)
    return clean


@st.composite
def epoch_axis(draw, length: int) -> list[Any]:
    shape = draw(st.sampled_from(["from1", "from0", "gaps", "back", "dupes", "odd"]))
    if shape == "from1":
        return list(range(1, length + 1))
    if shape == "from0":
        return list(range(length))
    if shape == "gaps":
        return sorted(draw(st.lists(st.integers(1, 10**6), min_size=length, max_size=length)))
    if shape == "back":  # a resume from a checkpoint
        cut = draw(st.integers(0, max(0, length - 1)))
        return list(range(1, cut + 1)) + list(
            range(max(1, cut - 2), max(1, cut - 2) + length - cut)
        )
    if shape == "dupes":
        return [1 + i // 2 for i in range(length)]
    return draw(st.lists(epochs, min_size=length, max_size=length))


META_VALUES = st.one_of(
    st.integers(-5, 100),
    st.sampled_from([0, 10**400, 1e308, math.nan, math.inf, "50", None, True, Raw("9" * 4400)]),
)
metas = st.fixed_dictionaries(
    {},
    optional={
        "total_epochs": META_VALUES,
        "task": st.one_of(
            st.sampled_from(["classification", "regression", "Object Detection", "x", ""]),
            st.integers(),
            st.none(),
        ),
        "config": st.dictionaries(keys, values, max_size=3),
    },
)


SCALES = [1.0, 1e-300, 1e300, 1e307, 1.7e308, 1e-320, -1.0]


@st.composite
def scenarios(draw, length: int) -> dict[str, list[float]]:
    """Columns shaped like what each diagnostic rule looks for, multiplied by an extreme scale,
    so the rules' deeper arithmetic (trailing means, ratios, medians) meets extreme values."""
    kind = draw(st.sampled_from(["overfit", "vanish", "explode", "oscillate", "flat"]))
    scale = draw(st.sampled_from(SCALES))
    n = max(length, 1)

    def scaled(values: list[float]) -> list[float]:
        with np.errstate(over="ignore", under="ignore"):
            return [float(np.float64(v) * scale) for v in values]

    train = scaled([2.0 * 0.9**i for i in range(length)])
    if kind == "overfit":
        val = scaled([1.0 + ((i - n / 3) / n) ** 2 for i in range(length)])
        return {"train_loss": train, "val_loss": val}
    if kind == "vanish":
        flat = scaled([1.386 + 1e-4 * (i % 2) for i in range(length)])
        return {"train_loss": flat, "grad_norm": [1e-9 * 0.5**i for i in range(length)]}
    if kind == "explode":
        with np.errstate(over="ignore"):
            grads = [float(np.float64(0.5) * np.float64(10.0) ** (4 * i)) for i in range(length)]
        return {"train_loss": train, "grad_norm": grads, "grad_max": grads}
    if kind == "oscillate":
        return {"train_loss": scaled([1.0 + 0.5 * (-1) ** i for i in range(length)])}
    return {"train_loss": scaled([1.0] * length), "val_loss": scaled([1.0] * length)}


@st.composite
def numeric_documents(draw) -> bytes:
    """Well-formed native files of real-looking columns filled with extreme numbers."""
    length = draw(st.integers(0, 40))
    axis = draw(epoch_axis(length))
    chosen = draw(st.lists(st.sampled_from(KNOWN_KEYS), min_size=1, max_size=6, unique=True))
    data = {key: draw(columns(length)) for key in chosen}
    if draw(st.booleans()):  # a pattern the rules look for, at an extreme scale
        for key, column in draw(scenarios(length)).items():
            data[key] = column
            if key not in chosen:
                chosen.append(key)
    rows = [{"epoch": axis[i], **{k: data[k][i] for k in chosen}} for i in range(length)]
    for row in rows:  # sparse rows: a key now and then missing
        if draw(st.integers(0, 7)) == 0 and len(row) > 1:
            row.pop(draw(st.sampled_from(sorted(k for k in row if k != "epoch"))))
    return to_bytes(encode({"meta": draw(metas), "epochs": rows}))


@st.composite
def native_documents(draw) -> bytes:
    body = {"epochs": draw(st.lists(records(), max_size=25))}
    if draw(st.booleans()):
        body = {"meta": draw(metas), **body}
    return to_bytes(encode(body, ascii_only=draw(st.booleans())))


@st.composite
def bare_lists(draw) -> bytes:
    return to_bytes(encode(draw(st.lists(records(), max_size=25)), draw(st.booleans())))


@st.composite
def json_lines(draw) -> bytes:
    rows = draw(st.lists(records(), max_size=25))
    ending = draw(st.sampled_from(["\n", "\r\n", ""]))
    return to_bytes("\n".join(encode(row, draw(st.booleans())) for row in rows) + ending)


@st.composite
def history_dicts(draw) -> bytes:
    """Keras' History.history: {key: [values]}, lists of unequal length, an epoch list maybe."""
    length = draw(st.integers(0, 30))
    history: dict[str, Any] = {}
    for key in draw(st.lists(keys, min_size=1, max_size=5)):
        size = draw(st.sampled_from([length, length, 0, 1, max(0, length - 3)]))
        history[key] = draw(st.one_of(columns(size), st.lists(values, max_size=size)))
    if draw(st.integers(0, 4)) == 0:
        history["epoch"] = draw(st.lists(epochs, max_size=length))
    return to_bytes(encode(history, draw(st.booleans())))


@st.composite
def mutated_files(draw) -> bytes:
    """A valid file, then a few byte-level edits: a half-written, corrupted or spliced file."""
    data = bytearray(draw(st.one_of(numeric_documents(), native_documents(), json_lines())))
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["truncate", "flip", "insert", "delete", "duplicate"]))
        at = draw(st.integers(0, len(data)))
        if kind == "truncate":
            del data[at:]
        elif kind == "flip" and at < len(data):
            data[at] ^= draw(st.integers(1, 255))
        elif kind == "insert":
            data[at:at] = draw(
                st.one_of(
                    st.binary(min_size=1, max_size=8),
                    st.sampled_from([b"NaN", b"Infinity", b"\xff\xfe", b"\x00", b",", b"]", b"{"]),
                )
            )
        elif kind == "delete":
            del data[at : at + draw(st.integers(1, 16))]
        elif kind == "duplicate":
            data[at:at] = data[at : at + draw(st.integers(1, 64))]
    return bytes(data)


# --- the whole way a file travels --------------------------------------------------------------


@pytest.fixture(scope="module")
def workdir():
    with tempfile.TemporaryDirectory(prefix="metricwatch-fuzz-") as root:
        yield Path(root)


def _strict(text: str) -> Any:
    def refuse(token: str) -> Any:
        raise AssertionError(f"non-standard JSON token {token} in the output")

    return json.loads(text, parse_constant=refuse)


def check_everything(
    data: bytes, workdir: Path, capsys: Any, *, render: bool = False, draw_charts: bool = False
) -> None:
    """Reader, loader, summary, rules, TUI state and charts, report and CLI: none may raise.

    `render` adds the rich report (box and table), `draw_charts` plotext drawing: they
    cost most of the time, so they get their own tests with fewer examples.
    """
    parsed = parse_metrics_json(data)
    assert isinstance(parsed, ParseResult)

    run_dir = workdir / "run"
    run_dir.mkdir(exist_ok=True)
    path = run_dir / "metrics.json"
    path.write_bytes(data)
    run = RunLoader().load("fuzz", path)

    summary = summarize(run)
    summary.rows()
    findings = diagnose(run)
    for finding in findings:
        assert finding.message
    worst_severity(findings)

    now = time.time()
    state = build_state(run)
    state.status(now, state.all_findings(now))
    state.eta_s(now)
    state.epoch_label()
    charts = charts_for(state)
    visible(charts, 3, 1)
    for spec in charts:
        for line in spec.lines:
            assert len(line.x) == len(line.y)
            reduce_minmax(line.x, line.y, 72)
        _plot_data(spec)
        if draw_charts:
            _draw(spec)

    report = build_report(run, now)
    assert report.errors == [], report.errors
    if render:
        console = Console(file=io.StringIO(), width=80, color_system=None)
        print_reports([report], console)  # the box
        print_reports([report] * 4, console)  # the table

    code = main(["summary", str(run_dir), "--json"])
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    if code == 2:  # a file that holds no usable run is one line on stderr, not an error
        assert captured.err.count("\n") == 1 and captured.out == ""
        return
    assert code == 0, captured.err
    payload = _strict(captured.out)
    (entry,) = payload["runs"]
    assert "internal_error" not in entry["problem_kinds"], entry["problems"]


SIZES = ((80, 12), (38, 8), (12, 4))


def _plot_data(spec: Any) -> None:
    """The pure step from a chart spec to what plotext is given: plot units in [0, 1] only."""
    for width, height in SIZES:
        plan = layout(spec, width, height)
        coordinates = np.asarray(plan.coordinates(), dtype=np.float64)
        assert np.isfinite(coordinates).all(), (spec.id, width, height)
        assert ((coordinates >= -1e-9) & (coordinates <= 1 + 1e-9)).all(), (spec.id, width)


def _draw(spec: Any) -> None:
    import plotext

    for width, height in SIZES:
        draw(plotext, spec, width, height)
        plotext.build()


# --- the tests ---------------------------------------------------------------------------------


@PROFILE
@given(data=numeric_documents())
def test_extreme_numbers_in_well_formed_files(data, workdir, capsys):
    check_everything(data, workdir, capsys)


@PROFILE
@given(data=native_documents())
def test_native_documents(data, workdir, capsys):
    check_everything(data, workdir, capsys)


@PROFILE
@given(data=bare_lists())
def test_bare_lists_of_records(data, workdir, capsys):
    check_everything(data, workdir, capsys)


@PROFILE
@given(data=json_lines())
def test_json_lines(data, workdir, capsys):
    check_everything(data, workdir, capsys)


@PROFILE
@given(data=history_dicts())
def test_history_dicts(data, workdir, capsys):
    check_everything(data, workdir, capsys)


@PROFILE
@given(data=mutated_files())
def test_byte_mutations_of_valid_files(data, workdir, capsys):
    check_everything(data, workdir, capsys)


FEWER = settings(PROFILE, max_examples=max(20, PROFILE.max_examples // 4))


@FEWER
@given(data=st.one_of(numeric_documents(), native_documents(), history_dicts()))
def test_report_renders_box_and_table(data, workdir, capsys):
    check_everything(data, workdir, capsys, render=True)


@FEWER
@given(data=numeric_documents())
def test_charts_draw_with_plotext(data, workdir, capsys):
    check_everything(data, workdir, capsys, draw_charts=True)


# --- the inputs issue 7 names, always checked ---------------------------------------------------


def _losses(*values: Any, key: str = "train_loss") -> bytes:
    rows = [{"epoch": i + 1, key: v} for i, v in enumerate(values)]
    return to_bytes(encode({"epochs": rows}))


REGRESSIONS = {
    "huge_train_loss_twice": b'{"epochs":[{"epoch":1,"train_loss":1.7e308},'
    b'{"epoch":2,"train_loss":1.7e308}]}',
    "opposite_extremes": _losses(1e308, -1e308, 1),
    "zero_then_subnormal": _losses(0, 5e-324),
    "subnormal_twice": _losses(5e-324, 5e-324),
    "huge_durations": to_bytes(
        encode(
            {
                "epochs": [
                    {"epoch": 1, "train_loss": 1.0, "duration_s": 1e308},
                    {"epoch": 2, "train_loss": 0.9, "duration_s": 1e308},
                ]
            }
        )
    ),
    "huge_integer_value": _losses(10**400, 1),
    "huge_integer_text": b'{"epochs":[{"epoch":1,"train_loss":1' + b"0" * 4400 + b"},"
    b'{"epoch":2,"train_loss":1}]}',
    "huge_val_loss_five_epochs": _losses(
        1.7e308, 1.7e308, 1.7e308, 1.7e308, 1.7e308, key="val_loss"
    ),
    "huge_grad_norm": to_bytes(
        encode(
            {
                "epochs": [
                    {"epoch": e, "train_loss": 1.0 / e, "grad_norm": 1.7e308 if e > 3 else 5e-324}
                    for e in range(1, 8)
                ]
            }
        )
    ),
    "extreme_lr": to_bytes(
        encode({"epochs": [{"epoch": e, "lr": v} for e, v in enumerate([5e-324, 1.7e308, 0], 1)]})
    ),
    "huge_epoch_numbers": b'{"epochs":[{"epoch":1e18,"train_loss":1},'
    b'{"epoch":1000000000000000000,"train_loss":2}]}',
    "huge_total_epochs": b'{"meta":{"total_epochs":1' + b"0" * 400 + b'},"epochs":'
    b'[{"epoch":1,"train_loss":1}]}',
}


@pytest.mark.parametrize("name", sorted(REGRESSIONS))
def test_issue_7_inputs(name, workdir, capsys):
    check_everything(REGRESSIONS[name], workdir, capsys, render=True, draw_charts=True)
