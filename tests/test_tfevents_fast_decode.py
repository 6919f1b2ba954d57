"""The bulk decoder of event files gives exactly what the record-by-record one gave.

`old_scan` below is the decoder as it was before records were framed, checked and
decoded in bulk and read in pieces (a Python pass over every record, the file read
whole): it is the reference. Every TensorBoard file of tests/corpus, and files built
here with every odd case together (cuts at every byte near the end, wrong checksums,
tensor scalars, histograms, images and text among the scalars, NaN, long tags,
steps of every varint size, several files, Keras' train/ and validation/), must give
the same columns, counts and problems, and a directory the same table, meta and
problems, whole, in pieces of any size and appended to.
"""

from __future__ import annotations

import math
import os
import random
import struct
from pathlib import Path

import numpy as np
import pytest
from test_reader_tfevents import VERSION, event, ld, record, simple, tensor_value, varint

from metricwatch.readers import tfevents, tfevents_columns, tfevents_records, tfevents_tags
from metricwatch.readers.base import quote_key
from metricwatch.readers.tfevents import EventDirTail, EventFileTail, parse_event_file
from metricwatch.readers.tfevents_crc import masked_crc32c
from metricwatch.readers.tfevents_proto import Malformed, decode_event
from metricwatch.readers.tfevents_proto import varint as read_varint
from metricwatch.readers.tfevents_records import _chunk_problems, scan
from metricwatch.readers.tfevents_scanner import Chunk

CORPUS = Path(__file__).parent / "corpus"
CORPUS_FILES = sorted(CORPUS.rglob("events.out.tfevents.*"))

# --- the reference: the record-by-record decoder, as it was ---------------------------------

_CHECKED_DATA = 512


def _table() -> np.ndarray:
    out = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
        out.append(crc)
    return np.asarray(out, dtype=np.uint32)


_CRC = _table()


def _gather(raw, offsets, size):
    rows = np.empty((len(offsets), size), dtype=np.uint8)
    for column in range(size):
        rows[:, column] = raw[offsets + column]
    return rows


_CRC_LIST = _table().tolist()
#: Up to this many records, _crc_at goes record by record in Python: numpy's per-call cost
#: on arrays of a few elements, 3 calls a byte, made this reference most of the tests' time.
_FEW_OFFSETS = 16


def _crc_at(raw, offsets, size):
    if len(offsets) <= _FEW_OFFSETS:
        return _crc_each(raw, offsets, size)
    return _crc_bulk(raw, offsets, size)


def _crc_bulk(raw, offsets, size):
    crc = np.full(len(offsets), 0xFFFFFFFF, dtype=np.uint32)
    for column in range(size):
        crc = _CRC[(crc ^ raw[offsets + column]) & 0xFF] ^ (crc >> 8)
    crc ^= np.uint32(0xFFFFFFFF)
    return ((crc >> 15) | (crc << 17)) + np.uint32(0xA282EAD8)


def _crc_each(raw, offsets, size):
    """_crc_at's masked CRC-32C, one record at a time: the same table and steps, in Python."""
    table, out = _CRC_LIST, []
    for offset in offsets.tolist():
        crc = 0xFFFFFFFF
        for byte in raw[offset : offset + size].tobytes():
            crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
        crc ^= 0xFFFFFFFF
        out.append((((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF)
    return np.asarray(out, dtype=np.uint32)


class _Found:
    def __init__(self):
        self.record_starts, self.names, self.ids = [], [], {}
        self.tag_ids, self.steps, self.where = [], [], []
        self.slow_times, self.slow_values, self.slow_begins = [], [], []

    def id_of(self, tag):
        if tag not in self.ids:
            self.ids[tag] = len(self.names)
            self.names.append(tag)
        return self.ids[tag]


def old_scan(buf: bytes) -> Chunk:
    chunk, found = Chunk(end=0), _Found()
    pos = _old_walk(buf, 0, chunk, found)
    chunk.end = pos
    raw = np.frombuffer(buf, dtype=np.uint8)
    starts = np.asarray(found.record_starts, dtype=np.int64)
    trusted = len(starts)
    if len(starts):
        stored = _gather(raw, starts + 8, 4).view("<u4").ravel()
        bad = np.flatnonzero(_crc_at(raw, starts, 8) != stored)
        if len(bad):
            chunk.corrupt_at, trusted = int(starts[bad[0]]), int(bad[0])
    if chunk.corrupt_at >= 0:
        chunk.end = chunk.corrupt_at
        starts = starts[:trusted]
    elif pos < len(buf):
        header = buf[pos : pos + 12]
        if len(header) == 12 and masked_crc32c(header[:8]) != struct.unpack("<QI", header)[1]:
            chunk.corrupt_at = chunk.end = pos
        else:
            chunk.pending = len(buf) - pos
    if found.tag_ids:
        _old_columns(chunk, raw, starts, found)
    return chunk


def _old_walk(buf, pos, chunk, found):
    fast: dict[bytes, int] = {}
    while pos + 12 <= len(buf):
        begin = pos + 12
        end = begin + struct.unpack_from("<Q", buf, pos)[0]
        if end + 4 > len(buf):
            break
        found.record_starts.append(pos)
        pos = end + 4
        if end - begin > 14 and buf[begin] == 0x09 and buf[begin + 9] == 0x10:
            try:
                step, at = read_varint(buf, begin + 10)
            except Malformed:
                at = end
            if at <= end - 4:
                tag = fast.get(buf[at : end - 4])
                if tag is not None:
                    step &= (1 << 64) - 1
                    found.tag_ids.append(tag)
                    found.steps.append(step if step < 1 << 63 else step - (1 << 64))
                    found.where.append(begin)
                    continue
        _old_slow(buf, begin, end, chunk, found, fast)
    return pos


def _old_slow(buf, begin, end, chunk, found, fast):
    data = buf[begin:end]
    try:
        event = decode_event(data)
    except Malformed:
        chunk.undecodable += 1
        return
    if (
        len(data) > _CHECKED_DATA
        and event.values
        and masked_crc32c(data) != int.from_bytes(buf[end : end + 4], "little")
    ):
        chunk.bad_data += 1
        return
    chunk.skipped += event.skipped
    for tag, value in event.values:
        found.tag_ids.append(found.id_of(tag))
        found.steps.append(event.step)
        found.where.append(-1 - len(found.slow_times))
        found.slow_times.append(event.wall_time)
        found.slow_values.append(value)
        found.slow_begins.append(begin)
    if event.simple_at == -1 and len(event.values) == 1 and data[0] == 0x09:
        if len(data) < 15 or data[9] != 0x10 or data[-5] != 0x15:
            return
        try:
            _, at = read_varint(data, 10)
        except Malformed:
            return
        if at > len(data) - 4 or struct.unpack("<f", data[-4:])[0] != event.values[0][1]:
            return
        if len(fast) < 10_000:
            fast[data[at:-4]] = found.id_of(event.values[0][0])


def _old_columns(chunk, raw, starts, found):
    at = np.asarray(found.where, dtype=np.int64)
    is_fast = at >= 0
    slow = -1 - at[~is_fast]
    begins = at.copy()
    begins[~is_fast] = np.asarray(found.slow_begins, dtype=np.int64)[slow]
    record_begins = starts + 12
    lengths = _gather(raw, starts, 8).view("<u8").ravel().astype(np.int64)
    keep = begins <= (record_begins[-1] if len(starts) else -1)
    drop = []
    for length in np.unique(lengths[lengths <= _CHECKED_DATA]).tolist():
        group = record_begins[lengths == length]
        stored = _gather(raw, group + length, 4).view("<u4").ravel()
        drop.append(group[_crc_at(raw, group, length) != stored])
    drop = np.concatenate(drop) if drop else np.empty(0, dtype=np.int64)
    if len(drop):
        chunk.bad_data += len(drop)
        keep &= ~np.isin(begins, drop)
    times = np.zeros(len(at))
    values = np.zeros(len(at))
    fast_index = np.flatnonzero(is_fast & keep)
    if len(fast_index):
        fast_at = at[fast_index]
        fast_lengths = lengths[np.searchsorted(record_begins, fast_at)]
        times[fast_index] = _gather(raw, fast_at + 1, 8).view("<f8").ravel()
        values[fast_index] = _gather(raw, fast_at + fast_lengths - 4, 4).view("<f4").ravel()
    if len(slow):
        times[~is_fast] = np.asarray(found.slow_times, dtype=np.float64)[slow]
        values[~is_fast] = np.asarray(found.slow_values, dtype=np.float64)[slow]
    chunk.names = found.names
    chunk.tag_ids = np.asarray(found.tag_ids, dtype=np.int64)[keep]
    chunk.steps = np.asarray(found.steps, dtype=np.int64)[keep]
    chunk.times, chunk.values = times[keep], values[keep]


class OldTail(EventFileTail):
    """EventFileTail as it was: the new bytes read whole, decoded by old_scan."""

    def read_chunk(self, sink=None):
        self.reset = self.failed = False
        try:
            with open(self.path, "rb") as handle:
                stat = os.fstat(handle.fileno())
                identity = (stat.st_dev, stat.st_ino)
                if identity != self.identity or stat.st_size < self.offset:
                    self.reset = self.identity is not None
                    self.identity, self.offset, self.skipped = identity, 0, 0
                handle.seek(self.offset)
                data = handle.read()
        except OSError as error:
            self.failed = True
            self.problems = [tfevents.Problem(tfevents.ProblemKind.UNREADABLE, str(error))]
            return Chunk(end=self.offset)
        chunk = old_scan(data)
        self.expected = len(data)
        self.offset += chunk.end
        self.skipped += chunk.skipped
        start = self.offset - chunk.end
        chunk.corrupt_at = chunk.corrupt_at + start if chunk.corrupt_at >= 0 else -1
        self.problems = _chunk_problems(chunk, quote_key(self.path.name))
        if sink is not None and len(chunk.tag_ids):
            sink(chunk)
        return chunk


def old_dir_read(tail: EventDirTail, monkeypatch):
    """tail.read() with every file decoded as before."""
    with monkeypatch.context() as patch:
        patch.setattr(tfevents, "EventFileTail", OldTail)
        return tail.read()


# --- comparing -------------------------------------------------------------------------------


def same_chunk(new: Chunk, old: Chunk) -> None:
    for name in ("names", "end", "pending", "corrupt_at", "bad_data", "undecodable", "skipped"):
        assert getattr(new, name) == getattr(old, name), name
    for name in ("tag_ids", "steps", "times", "values"):
        a, b = getattr(new, name), getattr(old, name)
        assert a.dtype == b.dtype, name
        assert a.tobytes() == b.tobytes() or np.array_equal(a, b, equal_nan=True), name


def same_result(new, old) -> None:
    assert new.format == old.format
    assert [str(p) for p in new.problems] == [str(p) for p in old.problems]
    assert [p.kind for p in new.problems] == [p.kind for p in old.problems]
    assert repr(new.meta) == repr(old.meta) and repr(new.extra) == repr(old.extra)
    assert new.table.x == old.table.x
    assert np.array_equal(new.table.steps, old.table.steps)
    assert list(new.table.series) == list(old.table.series)
    for key, series in old.table.series.items():
        mine = new.table.series[key]
        for name in ("steps", "values", "epochs", "times"):
            a, b = getattr(mine, name), getattr(series, name)
            assert (a is None) == (b is None), (key, name)
            if a is not None:
                assert a.dtype == b.dtype and np.array_equal(a, b, equal_nan=True), (key, name)


# --- files with every odd case -----------------------------------------------------------------


def wall(step: int) -> float:
    return 1.7e9 + 0.25 * step


def pytorch(tag: str, step: int, value: float) -> bytes:
    return record(event(step, simple(tag, value), wall=wall(step)))


def odd_records(rng: random.Random, steps: int) -> list[bytes]:
    """A run's records: mostly PyTorch's one-scalar events, and now and then everything
    else a file may hold."""
    tensor = ld(2, b"") + b"\x08\x01" + ld(4, struct.pack("<f", 0.5))
    image = ld(1, b"img") + ld(4, ld(7, bytes(rng.getrandbits(8) for _ in range(700))))
    histogram = ld(1, b"weights") + ld(5, b"\x09" + struct.pack("<d", 1.0) * 30)
    text = tensor_value("args/text_summary", b"\x08\x07" + ld(8, b'{"lr": 0.1}'), "text")
    long_tag = "x" * 130
    out = [VERSION]
    for step in range(steps):
        value = rng.choice([rng.random(), -rng.random() * 1e6, 0.0, math.inf, math.nan])
        out.append(pytorch("train/loss", step, value))
        out.append(pytorch("train/lr", step, 1e-3 / (step + 1)))
        kind = rng.randrange(24)
        if kind == 0:
            out.append(record(event(step, tensor_value("epoch_acc", tensor), wall=wall(step))))
        elif kind == 1:
            out.append(record(event(step, image, wall=wall(step))))
        elif kind == 2:
            out.append(record(event(step, histogram, simple("h/mean", 0.5), wall=wall(step))))
        elif kind == 3:
            out.append(record(event(step, text, wall=wall(step))))
        elif kind == 4:
            out.append(pytorch(long_tag, step, 1.5))
        elif kind == 5:
            out.append(pytorch("caf\xe9/\u00fc", step, 2.5))
        elif kind == 6:
            out.append(record(event(step, simple("a", 1.0), simple("b", 2.0), wall=wall(step))))
        elif kind == 7:
            out.append(pytorch("", step, 3.0))
        elif kind == 8:
            out.append(pytorch("eval/loss", step * 1000 + (1 << 40), 0.25))
        elif kind == 9:  # a step in a varint longer than it needs
            data = b"\x09" + struct.pack("<d", wall(step)) + b"\x10" + b"\x81\x80\x80\x00"
            out.append(record(data + ld(5, ld(1, simple("padded", 4.0)))))
        elif kind == 10:
            out.append(record(b"\x09" + struct.pack("<d", 1.0)))  # no summary
        elif kind == 11:
            out.append(record(b"\xff\xff\x01garbage"))  # not an Event
        elif kind == 12:
            out.append(record(b""))
        elif kind == 13:  # a tag's bytes that are not UTF-8
            data = event(step, ld(1, b"bad\xff\xfe") + b"\x15" + struct.pack("<f", 1.0))
            out.append(record(data))
    return out


def damaged(records: list[bytes], rng: random.Random, count: int) -> list[bytes]:
    """Some records with a wrong data checksum, or a byte of their data changed."""
    out = list(records)
    for _ in range(count):
        index = rng.randrange(1, len(out))
        raw = bytearray(out[index])
        if len(raw) <= 16:
            continue
        at = rng.choice([len(raw) - 1, rng.randrange(12, len(raw) - 4)])
        raw[at] ^= 1 << rng.randrange(8)
        out[index] = bytes(raw)
    return out


@pytest.fixture(scope="module")
def odd_file() -> bytes:
    return b"".join(odd_records(random.Random(7), 6000))


@pytest.fixture(params=[None, 200, 4096, 65536])
def block(request, monkeypatch):
    """Pieces of every size: the default, and smaller than a record, a few records, many."""
    if request.param is not None:
        monkeypatch.setattr(tfevents_records, "BLOCK", request.param)
    return request.param


# --- the tests --------------------------------------------------------------------------------


def test_the_references_checksums_are_the_same_record_by_record_and_in_bulk():
    """_crc_at's two ways (Python for a few records, numpy for many) give one masked CRC."""
    rng = np.random.default_rng(5)
    for _ in range(100):
        raw = rng.integers(0, 256, int(rng.integers(1, 2000)), dtype=np.uint8)
        size = int(rng.integers(0, min(len(raw), 600) + 1))
        offsets = rng.integers(0, len(raw) - size + 1, int(rng.integers(0, 40))).astype(np.int64)
        each, bulk = _crc_each(raw, offsets, size), _crc_bulk(raw, offsets, size)
        assert each.dtype == bulk.dtype == np.uint32 and each.tolist() == bulk.tolist()
        expected = [masked_crc32c(raw[o : o + size].tobytes()) for o in offsets.tolist()]
        assert each.tolist() == expected


@pytest.mark.parametrize("path", CORPUS_FILES, ids=lambda p: str(p.relative_to(CORPUS)))
def test_every_corpus_file_decodes_as_before(path, block):
    data = path.read_bytes()
    same_chunk(scan(data), old_scan(data))


def test_corpus_runs_read_as_before(monkeypatch, block):
    folders = sorted(
        {
            p.parent.parent if p.parent.name in ("train", "validation") else p.parent
            for p in CORPUS_FILES
        }
    )
    for folder in folders:
        same_result(EventDirTail(folder).read(), old_dir_read(EventDirTail(folder), monkeypatch))


def test_a_file_with_every_odd_case_decodes_as_before(odd_file, block):
    same_chunk(scan(odd_file), old_scan(odd_file))


def test_damaged_records_are_dropped_as_before(block):
    records = odd_records(random.Random(3), 1500)
    for seed in range(4):
        data = b"".join(damaged(records, random.Random(seed), 40))
        same_chunk(scan(data), old_scan(data))


def test_a_wrong_length_checksum_anywhere_ends_the_file_as_before(block):
    records = odd_records(random.Random(5), 300)
    rng = random.Random(11)
    for _ in range(12):
        index = rng.randrange(len(records))
        raw = bytearray(records[index])
        raw[rng.randrange(12)] ^= 1 << rng.randrange(8)
        data = b"".join(records[:index]) + bytes(raw) + b"".join(records[index + 1 :])
        same_chunk(scan(data), old_scan(data))


def test_cut_at_every_byte_near_the_end_as_before():
    data = b"".join(odd_records(random.Random(19), 120))
    for cut in [*range(0, 200), *range(len(data) - 700, len(data) + 1)]:
        same_chunk(scan(data[:cut]), old_scan(data[:cut]))


def test_nan_first_values_and_many_tags_as_before(block):
    records = [VERSION]
    for step in range(1, 400):
        for tag in range(40):
            value = math.nan if step < 3 or (tag % 7 == 0 and step % 5) else step * 0.5
            records.append(pytorch(f"tag{tag}/{'y' * (tag % 13)}", step, value))
    data = b"".join(records)
    same_chunk(scan(data), old_scan(data))


def test_steps_of_every_varint_size_and_sign_as_before(block):
    steps = [0, 1, 127, 128, 16383, 16384, 2**21, 2**28, 2**35, 2**42, 2**49, 2**56, 2**62]
    steps += [2**63 - 1, -1, -(2**40)]
    records = [VERSION] + [pytorch("s", s, 1.0) for s in steps for _ in range(3)]
    data = b"".join(records)
    same_chunk(scan(data), old_scan(data))


def test_a_step_of_more_than_64_bits_is_its_low_64_bits():
    data = b"\x09" + struct.pack("<d", 1.7e9) + b"\x10" + b"\xff" * 9 + b"\x7f"
    data += ld(5, ld(1, simple("a", 1.0)))
    for file in (VERSION + record(data), VERSION + record(data) * 3):
        chunk = scan(file)
        assert chunk.steps.tolist() == [-1] * (len(file) // len(record(data)))
        assert chunk.rows()[0] == ("a", -1, 1.7e9, 1.0)


def test_event_files_of_a_directory_and_keras_dirs_read_as_before(tmp_path, monkeypatch, block):
    rng = random.Random(13)
    run = tmp_path / "run"
    run.mkdir()
    first, second = odd_records(rng, 800), odd_records(rng, 500)
    (run / "events.out.tfevents.100.h.1.0").write_bytes(b"".join(first))
    (run / "events.out.tfevents.200.h.1.0").write_bytes(b"".join(damaged(second, rng, 9)))
    (run / "events.out.tfevents.300.h.1.0").write_bytes(b"".join(second)[:-7])
    same_result(EventDirTail(run).read(), old_dir_read(EventDirTail(run), monkeypatch))
    keras = tmp_path / "keras"
    for role, sign in (("train", 1.0), ("validation", -1.0)):
        (keras / role).mkdir(parents=True)
        tensor = lambda v: ld(2, b"") + b"\x08\x01" + ld(4, struct.pack("<f", v))  # noqa: E731
        data = [VERSION] + [
            record(event(e, tensor_value("epoch_loss", tensor(sign / (e + 1))), wall=wall(e)))
            for e in range(50)
        ]
        data += [pytorch("batch_loss", s, 0.5) for s in range(300)]
        (keras / role / "events.out.tfevents.100.h.1.0.v2").write_bytes(b"".join(data))
    same_result(EventDirTail(keras).read(), old_dir_read(EventDirTail(keras), monkeypatch))


def test_a_file_named_on_its_own_parses_as_before(odd_file):
    new = parse_event_file(odd_file)
    chunk = old_scan(odd_file)
    columns: dict = {}
    tfevents_columns._add(columns, chunk, 0)
    problems = _chunk_problems(chunk, "the event file")
    old = tfevents_tags._build([("", columns)], problems)
    assert new.meta.pop("config") == {"lr": 0.1}
    old.format = "tfevents"
    same_result(new, old)


def test_appending_at_any_cut_reads_as_before(tmp_path, monkeypatch, odd_file, block):
    rng = random.Random(17)
    live, reference = tmp_path / "live", tmp_path / "reference"
    live.mkdir()
    reference.mkdir()
    name = "events.out.tfevents.100.h.1.0"
    new_tail, old_tail = EventDirTail(live), EventDirTail(reference)
    cuts = [*sorted(rng.sample(range(1, len(odd_file)), 25)), len(odd_file)]
    written = 0
    for cut in cuts:
        for folder in (live, reference):
            with (folder / name).open("ab") as handle:
                handle.write(odd_file[written:cut])
        written = cut
        same_result(new_tail.read(), old_dir_read(old_tail, monkeypatch))
    again, fresh = new_tail.read().table, EventDirTail(live).read().table
    assert list(again.series) == list(fresh.series)
    for key, series in fresh.series.items():
        assert np.array_equal(again.series[key].values, series.values, equal_nan=True)


def test_a_replaced_file_is_read_again_from_the_start(tmp_path, monkeypatch):
    path = tmp_path / "events.out.tfevents.100.h.1.0"
    tail = EventDirTail(tmp_path)
    path.write_bytes(b"".join([VERSION] + [pytorch("loss", s, s) for s in range(100)]))
    tail.read()
    replacement = tmp_path / "new"
    replacement.write_bytes(b"".join([VERSION] + [pytorch("acc", s, -s) for s in range(10)]))
    os.replace(replacement, path)
    same_result(tail.read(), old_dir_read(EventDirTail(tmp_path), monkeypatch))


def test_a_read_that_fails_half_way_keeps_nothing_of_it(tmp_path, monkeypatch):
    path = tmp_path / "events.out.tfevents.100.h.1.0"
    path.write_bytes(b"".join([VERSION] + [pytorch("loss", s, s) for s in range(3000)]))
    tail = EventDirTail(tmp_path)
    monkeypatch.setattr(tfevents_records, "BLOCK", 4096)
    real = tfevents_records._pieces

    def failing(read, scanner, into, size=None):
        for count, piece in enumerate(real(read, scanner, into, size)):
            if count == 3:
                raise OSError(5, "Input/output error")
            yield piece

    monkeypatch.setattr(tfevents_records, "_pieces", failing)
    failed = tail.read()
    assert failed.problems and "Input/output error" in str(failed.problems[0])
    monkeypatch.setattr(tfevents_records, "_pieces", real)
    same_result(tail.read(), EventDirTail(tmp_path).read())
    assert tail.read().table.series["train_loss"].steps.tolist() == list(range(3000))


def test_varint_helper_matches_the_wire_format():
    for value in (0, 1, 300, 2**63 - 1):
        assert read_varint(varint(value), 0) == (value, len(varint(value)))
