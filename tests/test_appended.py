"""Appended logs read by their new lines only: the same run as a whole read, at every cut.

Real logs from tests/corpus are replayed as a writer would produce them
(line by line, and cut mid-line), and each incremental read is compared
with a whole parse of the same bytes: table, meta, extra and problems.
"""

from __future__ import annotations

import dataclasses
import itertools
import os
from pathlib import Path

import numpy as np
import pytest

from metricwatch.model import ProblemKind
from metricwatch.readers import appended_context, format_named, parse
from metricwatch.readers.appended import AppendedLog, read_in_chunks
from metricwatch.readers.base import ParseResult
from metricwatch.readers.columns import GROWTH
from metricwatch.sources import loader as loader_module
from metricwatch.sources.loader import RunLoader

CORPUS = Path(__file__).parent / "corpus"
LOGS = sorted(
    [
        *CORPUS.glob("detectron2/*/metrics.json"),
        *CORPUS.glob("lightning_csv/**/metrics.csv"),
        *CORPUS.glob("ultralytics/*/results.csv"),
        *(p for p in CORPUS.glob("keras_csv/**/*") if p.suffix in (".log", ".csv")),
    ]
)


#: The lines of these logs that are read whole, not followed, and why; every other line of
#: every log is parsed alone.
WHOLE_READS = {
    # a training appended after one that finished (eta 0): the iteration goes back to 9
    "detectron2/appended_run_after_full_run/metrics.json": 2,
    "detectron2/appended_run_same_iteration/metrics.json": 2,
    # nine runs one after another, each logging from the start again
    "detectron2/many_appended_runs_prefix/metrics.json": 9,
    # iteration 1 written after iteration 2 (one write, out of order)
    "detectron2/out_of_order_write/metrics.json": 1,
    # a second fit appended (append=True): a run per fit, read whole at each line after
    "keras_csv/generated/keras3_csvlogger/appended_training.log": 3,
    # val=False: every new epoch changes the count of unvalidated epochs in the notice
    "ultralytics/yolo11_val_off_drone/results.csv": 19,
}


def same(a: ParseResult, b: ParseResult) -> None:
    """Assert two results are the same run, point for point."""
    assert a.format == b.format
    assert a.table.x == b.table.x
    assert a.table.steps.tolist() == b.table.steps.tolist()
    assert sorted(a.table.series) == sorted(b.table.series)
    for key, mine in a.table.series.items():
        theirs = b.table.series[key]
        assert mine.steps.tolist() == theirs.steps.tolist(), key
        assert np.array_equal(mine.values, theirs.values, equal_nan=True), key
        for axis in ("epochs", "times"):
            x, y = getattr(mine, axis), getattr(theirs, axis)
            assert (x is None) == (y is None), (key, axis)
            if x is not None:
                assert np.array_equal(x, y, equal_nan=True), (key, axis)
    assert a.meta == b.meta
    assert a.extra == b.extra
    assert sorted((p.kind, p.message) for p in a.problems) == sorted(
        (p.kind, p.message) for p in b.problems
    )


def line_ends(data: bytes) -> list[int]:
    return [i + 1 for i, byte in enumerate(data) if byte == ord("\n")]


def follow(name: str, data: bytes) -> AppendedLog | None:
    result = parse(name, data)
    fmt = format_named(result.format)
    return AppendedLog.start(fmt, data, result) if fmt is not None else None


@pytest.mark.parametrize("path", LOGS, ids=lambda p: str(p.relative_to(CORPUS)))
def test_a_log_written_line_by_line_reads_as_its_whole_parse_at_every_line(path):
    data = path.read_bytes()
    ends = line_ends(data)
    fmt = format_named(parse(path.name, data).format)
    start = next(e for e in ends if e >= 1 and data[:e].count(b"\n") > fmt.appends.header_lines)
    log = follow(path.name, data[:start])
    if path.parent.name == "testtube_no_metrics":
        assert log is None  # no metric in it: nothing to follow, read whole each time
        return
    assert log is not None
    followed = restarts = 0
    for end in [e for e in ends if e > start]:
        grown = log.update(data[log.offset : end]) if log is not None else None
        if grown is None:  # the loader reads it whole, and follows on from there
            restarts += 1
            log = follow(path.name, data[:end])
            continue
        followed += 1
        grown.format = log.format.name
        same(grown, parse(path.name, data[:end]))
    assert restarts == WHOLE_READS.get(str(path.relative_to(CORPUS)), 0)


@pytest.mark.parametrize("path", LOGS, ids=lambda p: str(p.relative_to(CORPUS)))
def test_a_log_cut_mid_line_reads_as_its_whole_parse(path):
    data = path.read_bytes()
    ends = line_ends(data)
    fmt = format_named(parse(path.name, data).format)
    starts = [e for e in ends if data[:e].count(b"\n") > fmt.appends.header_lines]
    for start, end in itertools.pairwise(starts):
        for cut in sorted({start + 1, (start + end) // 2, end - 1}):
            log = follow(path.name, data[:start])
            grown = log.update(data[log.offset : cut]) if log is not None else None
            if grown is None:
                continue
            grown.format = log.format.name
            same(grown, parse(path.name, data[:cut]))
            assert any(p.kind is ProblemKind.TRUNCATED for p in grown.problems) or cut == end


# --- the loader: which reads parse only new lines ----------------------------------------------

HEADER = "epoch,step,train_loss,val_loss\n"


def lightning_rows(first: int, last: int) -> str:
    return "".join(f"{e},{e * 10},{1 / (e + 1):.4f},\n" for e in range(first, last + 1))


def test_the_loader_parses_only_the_lines_a_log_gained(tmp_path):
    path = tmp_path / "metrics.csv"
    path.write_text(HEADER + lightning_rows(0, 99))
    loader = RunLoader()
    first = loader.load("run", path)
    assert (loader.parses, loader.appended) == (1, 0)
    with open(path, "a") as handle:
        handle.write(lightning_rows(100, 104))
    grown = loader.load("run", path)
    assert (loader.parses, loader.appended) == (1, 1)
    assert grown.series("train_loss").steps[-3:].tolist() == [1020, 1030, 1040]
    assert grown.series("train_loss").values[-1] == 0.0095
    assert len(grown.series("train_loss")) == 105
    # The run read before is what it was: its arrays do not grow under it.
    assert len(first.series("train_loss")) == 100
    assert first.series("train_loss").steps[-1] == 990
    # Unchanged: answered from the cache.
    loader.load("run", path)
    assert (loader.parses, loader.appended) == (1, 1)


def test_a_write_of_a_line_costs_one_parse_while_the_context_grows(monkeypatch):
    """The chunk parsed at one write (context + new line) is the next write's context, up
    to CONTEXT_REUSE_LINES lines; then the context is cut back to the format's two lines,
    parsed again at the next write. A line cut short is parsed with the context, whose
    parse is then not the next one's."""
    monkeypatch.setattr(appended_context, "CONTEXT_REUSE_LINES", 6)
    data = (HEADER + lightning_rows(0, 40)).encode()
    ends = line_ends(data)
    log = follow("metrics.csv", data[: ends[2]])  # header and two rows: the context
    fmt = log.format
    calls: list[int] = []
    counted = dataclasses.replace(fmt, parse=lambda raw: calls.append(1) or fmt.parse(raw))
    log.format = counted
    per_write = []
    for end in ends[3:14]:
        before = len(calls)
        grown = log.update(data[log.offset : end])
        per_write.append(len(calls) - before)
        grown.format = fmt.name
        same(grown, parse("metrics.csv", data[:end]))
    # A context of 2 lines (parsed), then of 3, 4, 5 and 6 (each the write before's chunk);
    # 6 and a new line are past the limit: cut back to 2, parsed at the next write.
    assert per_write == [2, 1, 1, 1, 1, 2, 1, 1, 1, 1, 2]
    assert len(log._context.lines) == 3
    # A write ending in a cut line: its parse holds that line, so the next write parses the
    # context again (the cut line, now whole, among the new lines).
    cut = log.update(data[log.offset : ends[14] + 3])
    assert [p.kind for p in cut.problems] == [ProblemKind.TRUNCATED]
    before = len(calls)
    whole = log.update(data[log.offset : ends[15]])
    assert len(calls) - before == 2
    whole.format = fmt.name
    same(whole, parse("metrics.csv", data[: ends[15]]))


def test_a_line_being_written_is_a_note_until_its_end_arrives(tmp_path):
    path = tmp_path / "metrics.csv"
    path.write_text(HEADER + lightning_rows(0, 9))
    loader = RunLoader()
    loader.load("run", path)
    with open(path, "a") as handle:
        handle.write("10,100,0.09")
    cut = loader.load("run", path)
    assert [p.kind for p in cut.problems] == [ProblemKind.TRUNCATED]
    assert len(cut.series("train_loss")) == 10
    with open(path, "a") as handle:
        handle.write("09,\n")
    whole = loader.load("run", path)
    assert whole.problems == []
    assert whole.series("train_loss").values[-1] == 0.0909
    assert (loader.parses, loader.appended) == (1, 2)


def replace_file(path: Path, text: str) -> None:
    """An atomic rewrite: a new file renamed over the old one (a new inode)."""
    path.with_name("new").write_text(text)
    os.replace(path.with_name("new"), path)


@pytest.mark.parametrize(
    "rewrite",
    [
        pytest.param(lambda p: p.write_text(HEADER + lightning_rows(0, 4)), id="shorter"),
        pytest.param(
            lambda p: p.write_text(HEADER.replace("val_loss", "val_acc") + lightning_rows(0, 20)),
            id="new header (Lightning 2 adding a key)",
        ),
        pytest.param(
            lambda p: p.write_text(HEADER + lightning_rows(0, 8) + "9,90,0.5,\n" + "10,100,0.2,\n"),
            id="last lines changed in place",
        ),
        pytest.param(lambda p: replace_file(p, HEADER + lightning_rows(0, 12)), id="replaced"),
    ],
)
def test_a_log_rewritten_instead_of_appended_is_read_whole(tmp_path, rewrite):
    path = tmp_path / "metrics.csv"
    path.write_text(HEADER + lightning_rows(0, 9))
    loader = RunLoader()
    loader.load("run", path)
    rewrite(path)
    expected = parse(path.name, path.read_bytes())
    run = loader.load("run", path)
    assert (loader.parses, loader.appended) == (2, 0)
    for key, series in expected.table.series.items():
        assert run.series(key).steps.tolist() == series.steps.tolist()
        assert np.array_equal(run.series(key).values, series.values, equal_nan=True)


def test_columns_grow_in_place_and_earlier_views_keep_their_points():
    data = (HEADER + lightning_rows(0, 0)).encode()
    log = follow("metrics.csv", data)
    views = []
    for epoch in range(1, 400):
        result = log.update(lightning_rows(epoch, epoch).encode())
        assert result is not None
        views.append(result.table.series["train_loss"])
    assert [len(v) for v in views[:3]] == [2, 3, 4]
    assert views[0].values.tolist() == [1.0, 0.5]
    assert views[-1].steps[-1] == 3990
    assert len(views[-1]) == 400
    # At most a quarter of slack over the points held (and a small first allocation).
    held = 400 * 3 * 8 * 3 + 400 * 8  # three series with steps, values, epochs + the row steps
    assert log.nbytes <= held * GROWTH + 64 * 8 * 10


@pytest.mark.parametrize("path", LOGS, ids=lambda p: str(p.relative_to(CORPUS)))
@pytest.mark.parametrize("chunk", [64, 1000])
def test_a_big_log_read_in_chunks_is_its_whole_parse(path, chunk):
    data = path.read_bytes()
    whole = parse(path.name, data)
    fmt = format_named(whole.format)
    read = read_in_chunks(fmt, lambda offset, size: data[offset : offset + size], chunk)
    if read is None:  # a resume, a bad line, a line longer than a chunk: parsed whole
        longest = max(len(line) for line in data.splitlines(keepends=True))
        assert (
            str(path.relative_to(CORPUS)) in WHOLE_READS
            or path.parent.name == "testtube_no_metrics"
            or longest >= chunk
        )
        return
    result, log = read
    result.format = fmt.name
    same(result, whole)
    assert log.offset == len(data)  # every file here ends with a line end


def test_the_loader_reads_a_big_log_in_chunks_and_then_follows_it(tmp_path, monkeypatch):
    monkeypatch.setattr(loader_module, "CHUNK_BYTES", 100)
    path = tmp_path / "metrics.csv"
    path.write_text(HEADER + lightning_rows(0, 49))
    loader = RunLoader()
    run = loader.load("run", path)
    assert len(run.series("train_loss")) == 50
    assert run.series("train_loss").values[-1] == 0.02
    with open(path, "a") as handle:
        handle.write(lightning_rows(50, 50) + "51,510,0.0")
    run = loader.load("run", path)
    assert (loader.parses, loader.appended) == (1, 1)
    assert len(run.series("train_loss")) == 51
    assert [p.kind for p in run.problems] == [ProblemKind.TRUNCATED]


def test_an_epoch_dated_by_the_next_line_is_filled_in_even_on_a_nan_value():
    """Lightning writes an `lr-*` row before the row that says its epoch; a NaN learning rate
    (a real value: shown) must not stop the epoch from being filled in place."""
    header = b"lr-Adam,step,train_loss,epoch\n"
    rows = [b"nan,10,,\n", b",10,0.5,0\n", b"0.001,20,,\n", b",20,0.25,1\n", b",30,0.125,1\n"]
    log = follow("metrics.csv", header + rows[0])
    data = header + rows[0]
    for row in rows[1:]:
        grown = log.update(row)
        data += row
        assert grown is not None
        grown.format = log.format.name
        same(grown, parse("metrics.csv", data))
    assert grown.table.series["lr"].epochs.tolist() == [0.0, 1.0]
    assert np.isnan(grown.table.series["lr"].values[0])


def test_the_loader_reads_a_big_log_from_disk_a_chunk_at_a_time(tmp_path, monkeypatch):
    monkeypatch.setattr(loader_module, "CHUNK_BYTES", 128)
    sizes: list[int] = []
    real = loader_module._read_at
    monkeypatch.setattr(
        loader_module,
        "_read_at",
        lambda path, inode, offset, size: sizes.append(size) or real(path, inode, offset, size),
    )
    path = tmp_path / "metrics.csv"
    path.write_text(HEADER + lightning_rows(0, 99))  # 2,000 bytes or so
    run = RunLoader().load("run", path)
    whole = parse("metrics.csv", path.read_bytes())
    assert (
        run.series("train_loss").values.tolist() == whole.table.series["train_loss"].values.tolist()
    )
    assert len(sizes) >= path.stat().st_size // 128 and set(sizes) == {128}


@pytest.mark.parametrize("path", LOGS, ids=lambda p: str(p.relative_to(CORPUS)))
def test_every_real_log_read_in_pieces_by_the_loader_is_its_whole_parse(
    path, tmp_path, monkeypatch
):
    monkeypatch.setattr(loader_module, "CHUNK_BYTES", 200)
    copy = tmp_path / path.name
    copy.write_bytes(path.read_bytes())
    run = RunLoader().load("run", copy)
    whole = parse(path.name, path.read_bytes())
    parts = whole.parts or {"": whole}
    got = run.parts or {"": run}
    assert list(got) == list(parts)
    for name, expected in parts.items():
        table = got[name].table
        assert sorted(table.series) == sorted(expected.table.series)
        for key, series in expected.table.series.items():
            assert table.series[key].steps.tolist() == series.steps.tolist()
            assert np.array_equal(table.series[key].values, series.values, equal_nan=True)


def test_a_log_replaced_while_read_in_pieces_is_read_whole(tmp_path, monkeypatch):
    monkeypatch.setattr(loader_module, "CHUNK_BYTES", 128)
    path = tmp_path / "metrics.csv"
    path.write_text(HEADER + lightning_rows(0, 99))
    real = loader_module._read_at
    calls = []

    def replace_after_first(p, inode, offset, size):
        calls.append(offset)
        if len(calls) == 2:  # the writer replaces the file between two pieces
            replace_file(p, HEADER + lightning_rows(0, 9))
        return real(p, inode, offset, size)

    monkeypatch.setattr(loader_module, "_read_at", replace_after_first)
    run = RunLoader().load("run", path)
    assert len(run.series("train_loss")) == 10  # the new file, read whole


# --- axes shared by the keys of the same lines ----------------------------------------------


def step_lines(first: int, last: int, *, skip_acc: set[int] = frozenset()) -> bytes:
    out = []
    for step in range(first, last + 1):
        acc = "" if step in skip_acc else f', "train_accuracy": {step / 1000:.4f}'
        out.append(
            f'{{"step": {step * 10}, "epoch": {step / 50:.2f}, "time": {1000 + step}.5, '
            f'"train_loss": {1 / (step + 1):.5f}{acc}, "lr": 0.001}}\n'
        )
    return "".join(out).encode()


def test_keys_written_on_the_same_lines_share_their_axes_until_their_lines_part():
    data = step_lines(0, 30)
    log = follow("metrics.jsonl", data)
    assert log is not None
    shared = {id(grown.axes) for grown in log._series.values()}
    assert len(shared) == 1  # three keys, one copy of steps, epochs and times
    for end in range(31, 60):
        more = step_lines(end, end, skip_acc={45})
        data += more
        grown = log.update(more)
        assert grown is not None
        grown.format = log.format.name
        same(grown, parse("metrics.jsonl", data))
        loss, acc = grown.table.series["train_loss"], grown.table.series["train_accuracy"]
        lr = grown.table.series["lr"]
        assert np.shares_memory(loss.steps, lr.steps)  # still the same lines
        assert np.shares_memory(loss.steps, acc.steps) == (end < 45)  # parted at step 450
    assert len({id(grown.axes) for grown in log._series.values()}) == 2
    # The views handed out before the parting still hold what they held.
    assert log.nbytes < sum(
        c.nbytes for g in log._series.values() for c in (g.values, *g.axes.columns)
    )


def test_a_log_read_in_chunks_shares_axes_and_is_its_whole_parse():
    data = step_lines(0, 3000, skip_acc={1500, 2999})

    def read(offset: int, size: int) -> bytes:
        return data[offset : offset + size]

    result, log = read_in_chunks(format_named("metricwatch_steps"), read, chunk_bytes=4096)
    result.format = "metricwatch_steps"
    same(result, parse("metrics.jsonl", data))
    assert len({id(grown.axes) for grown in log._series.values()}) == 2  # accuracy parted


def test_epochs_filled_in_for_some_of_the_keys_sharing_axes_part_them_first():
    log = follow("metrics.jsonl", step_lines(0, 9))
    loss, acc, lr = (log._series[k] for k in ("train_loss", "train_accuracy", "lr"))
    shared = loss.axes
    epochs = np.array([0.5])
    same_fill = {"train_loss": epochs, "train_accuracy": epochs, "lr": epochs.copy()}
    assert log._own_axes_unless_shared_alike("train_loss", same_fill) is loss
    assert loss.axes is shared and acc.axes is shared  # filled alike: still one
    other_fill = {"train_loss": epochs, "train_accuracy": np.array([0.7]), "lr": epochs}
    log._own_axes_unless_shared_alike("train_loss", other_fill)
    assert loss.axes is not shared and acc.axes is shared and lr.axes is shared
    np.testing.assert_array_equal(loss.axes.steps.view(), shared.steps.view())
    loss.axes.epochs.view()[-1:] = epochs  # written to its own copy only
    assert shared.epochs.view()[-1] == 9 / 50
