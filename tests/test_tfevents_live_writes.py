"""A live run's writes of a few records take paths of their own, worked out in Python, and
give exactly what a fresh read of the same bytes gives.

A write of a handful of records used to cost ~1 ms in small numpy calls; now its records
are decoded by shapes the file's earlier reads learnt (tfevents_scanner), framed in one
pass (tfevents_records), grouped by tag in Python (tfevents_columns, shared_steps), taken
in by a tag's kept points when they simply follow them (tfevents_merged), and dated and
added to the table steps with a look at their ends (grown), while what the tags mean is
worked out once (tfevents_tags._Plan). Random runs of small writes (both kinds of scalar,
records cut and finished by the next write, non-finite values, steps going back, tags
appearing, several files, Keras' folders) are compared with fresh reads after every
write, bit for bit; each path is then checked on its own: that it is taken, and that its
way out to the general path gives the same numbers.
"""

from __future__ import annotations

import io
import random
import struct

import numpy as np
import pytest
from test_reader_tfevents import SHAPE_SCALAR, VERSION, event, ld, record, tensor_value
from test_tfevents_incremental import (
    FILE_A,
    FILE_B,
    Live,
    SettledLive,
    hf_step,
    live_run,  # noqa: F401 - the `live` fixture
    scalar,
)

from metricwatch.readers import (
    grown,
    tfevents_crc,
    tfevents_merged,
    tfevents_records,
    tfevents_scanner,
)
from metricwatch.readers.columns import FEW_STEPS
from metricwatch.readers.shared_steps import SharedSteps, StepPool
from metricwatch.readers.tfevents_columns import _Column, _few_groups, _groups
from metricwatch.readers.tfevents_scanner import Chunk

# --- records ----------------------------------------------------------------------------------

#: float32 bit patterns a value may take: the ordinary, and what must keep its bits.
ODD_BITS = [
    0x7FC00000,  # NaN
    0x7F800001,  # signalling NaN (quietened as numpy quietens it)
    0xFFC00123,  # negative NaN with a payload
    0x7F800000,  # inf
    0xFF800000,  # -inf
    0x80000000,  # -0.0
    0x00000001,  # the smallest subnormal
]


def value_bits(rng: random.Random) -> bytes:
    if rng.random() < 0.15:
        return struct.pack("<I", rng.choice(ODD_BITS))
    return struct.pack("<f", rng.uniform(-2, 2))


def simple_bits(tag: str, bits: bytes) -> bytes:
    return ld(1, tag.encode()) + b"\x15" + bits


def tensor_bits(tag: str, bits: bytes) -> bytes:
    """TF2's tf.summary.scalar: a rank-0 float tensor of the scalars plugin."""
    return tensor_value(tag, b"\x08\x01" + SHAPE_SCALAR + ld(5, bits))


def one_record(rng: random.Random, tag: str, step: int, tensors: bool) -> bytes:
    bits = value_bits(rng)
    value = tensor_bits(tag, bits) if tensors else simple_bits(tag, bits)
    return record(event(step, value, wall=1.7e9 + step + rng.choice([0, 0.5, 30])))


# --- random runs of small writes --------------------------------------------------------------


class SmallWriter:
    """A run written a few records at a time: 1-6 records of the run's tags (new ones now and
    then), steps mostly forward, now and then the same or back, the epoch with them and again
    later at the same step; now and then a write cut short, finished by the next."""

    def __init__(self, live: Live, rng: random.Random, keras: bool) -> None:
        self.live, self.rng, self.keras = live, rng, keras
        self.files = [f"train/{FILE_A}.v2", f"validation/{FILE_A}.v2"] if keras else [FILE_A]
        self.tags = ["epoch_loss", "batch_loss"] if keras else ["loss", "lr", "epoch"]
        self.step = 0
        self.held: dict[str, bytes] = {}  # per file: the cut-off end of its last write
        for name in self.files:
            live.write(name, VERSION)

    def run(self, writes: int) -> None:
        for _ in range(writes):
            self.move()
            name = self.pick_file()
            data = self.held.pop(name, b"") + b"".join(self.records())
            if self.rng.random() < 0.2:  # cut anywhere: the rest comes with the next write
                cut = self.rng.randrange(1, len(data))
                data, self.held[name] = data[:cut], data[cut:]
            self.live.write(name, data)
            self.live.check()
        for name, rest in self.held.items():
            self.live.write(name, rest)
        self.live.check()

    def move(self) -> None:
        roll = self.rng.random()
        if roll < 0.06:
            self.step = max(0, self.step - self.rng.randrange(1, 6))
        elif roll > 0.12:
            self.step += self.rng.randrange(1, 3)
        if self.rng.random() < 0.04:
            self.tags.append(f"{'epoch_' if self.keras else 'extra/'}m{len(self.tags)}")

    def pick_file(self) -> str:
        if not self.keras and self.rng.random() < 0.03:
            self.files.append(f"events.out.tfevents.{500 + len(self.files)}.host.1.0")
            self.live.write(self.files[-1], VERSION)
        if self.keras or self.rng.random() < 0.1:
            return self.rng.choice(self.files)
        return self.files[-1]

    def records(self) -> list[bytes]:
        count = self.rng.randint(1, 6)
        tags = [self.rng.choice(self.tags) for _ in range(count)]
        tensors = self.keras or self.rng.random() < 0.3
        out = [one_record(self.rng, tag, self.step, tensors) for tag in tags]
        if not self.keras and self.rng.random() < 0.2:  # the epoch again, at the same step
            out.append(scalar("epoch", self.step, self.step / 10))
        return out


@pytest.mark.parametrize("seed", range(24))
def test_random_small_writes(tmp_path, seed):
    (tmp_path / "run").mkdir()
    live = SettledLive(tmp_path / "run") if seed % 3 == 0 else Live(tmp_path / "run")
    SmallWriter(live, random.Random(1000 + seed), keras=seed % 4 == 3).run(70)
    live.unchanged()


# --- the paths, one by one ---------------------------------------------------------------------


def test_later_writes_are_decoded_by_the_shapes_earlier_reads_learnt(live, monkeypatch):
    live.write(FILE_A, VERSION + b"".join(b"".join(hf_step(s)) for s in range(5)))
    live.check()
    calls = []
    real = tfevents_scanner.decode_event
    monkeypatch.setattr(
        tfevents_scanner, "decode_event", lambda data: calls.append(data) or real(data)
    )
    rng = random.Random(3)
    tags = ["train/loss", "train/learning_rate", "train/epoch"]
    for step in range(5, 40):
        bits = [value_bits(rng) for _ in tags]
        wall = 1.7e9 + step
        live.write(
            FILE_A,
            b"".join(record(event(step, simple_bits(t, b), wall=wall)) for t, b in zip(tags, bits)),
        )
        calls.clear()
        live.tail.read()
        assert not calls  # each record by its tag's shape, learnt by the first read
        live.check()
    values = live.check().table.series["train_loss"].values
    assert np.isnan(values).any() and np.isinf(values).any()


def test_a_learnt_shape_gives_a_tensor_or_a_new_tag_to_the_full_decoder(live):
    live.write(FILE_A, VERSION)
    live.write_and_check(FILE_A, [scalar("loss", 1, 0.5)])
    live.write_and_check(FILE_A, [record(event(2, tensor_bits("loss", struct.pack("<f", 2))))])
    live.write_and_check(FILE_A, [scalar("loss", 3, 0.25), scalar("lossy", 3, 1.0)])
    assert list(live.check().table.series["train_loss"].values) == [0.5, 2.0, 0.25]


def test_a_live_read_frames_its_bytes_once(live, monkeypatch):
    live.write(FILE_A, VERSION)
    live.check()
    framed = []
    real = tfevents_records._frame
    monkeypatch.setattr(
        tfevents_records, "_frame", lambda buf, *a: framed.append(len(buf)) or real(buf, *a)
    )
    live.write(FILE_A, b"".join(hf_step(1)))
    live.tail.read()
    assert len(framed) == 1  # not again for the empty read that followed
    cut = b"".join(hf_step(2))
    live.write(FILE_A, cut[:30])
    framed.clear()
    assert any(p.kind.name == "TRUNCATED" for p in live.check().problems)
    assert framed[0] == 30
    live.write(FILE_A, cut[30:])
    live.check()


def test_a_whole_block_is_read_again_to_find_the_end(live, monkeypatch):
    monkeypatch.setattr(tfevents_records, "BLOCK", 64)
    live.write(FILE_A, VERSION)
    for step in range(20):
        live.write_and_check(FILE_A, hf_step(step))


def chunk_of(rng: random.Random, names: int, rows: int) -> Chunk:
    ids = np.asarray([rng.randrange(names) for _ in range(rows)], dtype=np.int64)
    steps = np.asarray([rng.randrange(-3, 9) for _ in range(rows)], dtype=np.int64)
    bits = [rng.choice([*ODD_BITS, rng.getrandbits(64)]) for _ in range(2 * rows)]
    floats = np.asarray(bits, dtype=np.uint64).view(np.float64)
    return Chunk([f"t{i}" for i in range(names)], ids, steps, floats[:rows], floats[rows:])


def test_a_few_scalars_are_grouped_by_tag_as_numpy_groups_them():
    rng = random.Random(8)
    for _ in range(300):
        chunk = chunk_of(rng, rng.randint(1, 5), rng.randint(1, 12))
        few, bulk = _few_groups(chunk), _groups(chunk)
        assert [tag for tag, _ in few] == [tag for tag, _ in bulk]
        for (_, lists), (_, arrays) in zip(few, bulk):
            assert all(isinstance(part, list) for part in lists)
            for part, array in zip(lists, arrays):
                again = np.asarray(part, dtype=array.dtype)
                assert again.tobytes() == array.tobytes()


def test_columns_grown_from_lists_and_from_arrays_are_the_same():
    rng = random.Random(9)
    for _ in range(100):
        pools = StepPool(), StepPool()
        by_list, by_array = _Column(pools[0]), _Column(pools[1])
        others = _Column(pools[0]), _Column(pools[1])
        step = 0
        for _ in range(rng.randint(1, 12)):
            count = rng.randint(1, 5)
            steps = []
            for _ in range(count):
                step += rng.choice([1, 1, 2, 0, -1])
                steps.append(step)
            floats = np.asarray([rng.getrandbits(64) for _ in range(2 * count)], np.uint64)
            floats = floats.view(np.float64)
            parts = (steps, floats[:count].tolist(), floats[count:].tolist())
            arrays = (np.asarray(steps, np.int64), floats[:count], floats[count:])
            by_list.append(parts, 1.0)
            by_array.append(arrays, 1.0)
            for other in others:  # a tag logged along, which then shares their steps
                other.append(arrays, 1.0)
        for a, b in zip(by_list.views(), by_array.views()):
            assert a.dtype == b.dtype and a.tobytes() == b.tobytes()
        assert (by_list.steps.store is others[0].steps.store) == (
            by_array.steps.store is others[1].steps.store
        )


@pytest.mark.parametrize(
    ("held", "steps", "same"),
    [([1, 2], [1, 2, 3], True), ([1, 2], [1, 3], False), ([5], [5], True), ([5], [4], False)],
)
def test_shared_steps_are_compared_in_python_for_a_few(held, steps, same):
    pool = StepPool()
    first = SharedSteps(pool, np.asarray(held, dtype=np.int64))
    second = SharedSteps(pool)
    second.extend(steps)
    assert (second.store is first.store) == same
    assert second.view().tolist() == steps


def test_steps_that_do_not_rise_leave_the_shared_store():
    pool = StepPool()
    first = SharedSteps(pool, np.arange(3, dtype=np.int64))
    second = SharedSteps(pool, np.arange(3, dtype=np.int64))
    first.extend([3, 3])  # repeats: not written to the store the other key follows
    assert first.store is not second.store and first.view().tolist() == [0, 1, 2, 3, 3]
    second.extend([3, 4])
    assert second.view().tolist() == [0, 1, 2, 3, 4]


def _general_merges(monkeypatch) -> list[int]:
    """One entry for each time a tag's new points go the general way (_Merged._add)."""
    general: list[int] = []
    real = tfevents_merged._Merged._add
    monkeypatch.setattr(
        tfevents_merged._Merged,
        "_add",
        lambda self, *a, **k: general.append(1) or real(self, *a, **k),
    )
    return general


def merged_of(live: Live, tag: str) -> tfevents_merged._Merged:
    return next(m for (_, t), m in live.tail.memo.tags.tags.items() if t == tag)


def test_a_tags_new_points_that_follow_its_kept_ones_skip_the_general_merge(live, monkeypatch):
    live.write(FILE_A, VERSION + b"".join(b"".join(hf_step(s)) for s in range(10)))
    live.check()
    general = _general_merges(monkeypatch)
    for step in range(10, 30):  # the epoch (columns of its own) and loss (the column's views)
        live.write_and_check(FILE_A, hf_step(step, every=1000))
    assert merged_of(live, "train/epoch").own is not None
    assert merged_of(live, "train/loss").own is None
    assert not general
    live.write(FILE_B, VERSION)  # a second file: the epoch's kept points are its own columns
    for step in range(30, 40):
        live.write_and_check(FILE_B, hf_step(step, every=1000))
    assert merged_of(live, "train/loss").own is not None
    calls = len(general)
    for step in range(40, 50):
        live.write_and_check(FILE_B, hf_step(step, every=1000))
    assert len(general) == calls


@pytest.mark.parametrize(
    "records",
    [
        [scalar("loss", 5, 9.0)],  # the kept last step again
        [scalar("loss", 3, 9.0)],  # back
        [scalar("loss", 12, 1.0), scalar("loss", 11, 2.0)],  # new points not ascending
        [scalar("loss", s, s) for s in range(12, 12 + FEW_STEPS + 1)],  # many
    ],
)
def test_new_points_that_do_not_simply_follow_go_the_general_way(live, monkeypatch, records):
    live.write(FILE_A, VERSION)
    for step in range(6):
        live.write_and_check(FILE_A, [scalar("loss", step, step), scalar("epoch", step, step)])
    general = _general_merges(monkeypatch)
    live.write(FILE_A, b"".join(records))  # read at once
    live.check()
    assert general
    live.write_and_check(FILE_A, [scalar("loss", 40, 1.0)])


def test_an_unchanged_tags_arrays_and_series_are_the_last_reads(live):
    live.write(FILE_A, VERSION + b"".join(b"".join(hf_step(s)) for s in range(3)))
    live.write(FILE_A, b"".join(hf_step(3)))  # the evaluation of step 0, before: not again
    first = live.check()
    arrays = merged_of(live, "eval/loss").arrays()
    live.write(FILE_A, b"".join(hf_step(4)))
    later = live.check()
    assert merged_of(live, "eval/loss").arrays() is arrays
    assert later.table.series["val_loss"] is first.table.series["val_loss"]
    assert later.table.series["train_loss"] is not first.table.series["train_loss"]


def test_what_the_tags_mean_is_worked_out_again_only_when_they_change(live):
    live.write(FILE_A, VERSION)
    live.write_and_check(FILE_A, [scalar("loss", 0, 1.0), scalar("hp_metric", 0, -1.0)])
    plan = live.tail.memo.plan
    live.write_and_check(FILE_A, [scalar("loss", 1, 1.0)])
    assert live.tail.memo.plan is plan and "hp_metric" not in live.check().table.series
    live.write_and_check(FILE_A, [scalar("hp_metric", 1, 0.5)])  # no placeholder any more
    assert live.tail.memo.plan is not plan and "hp_metric" in live.check().table.series
    plan = live.tail.memo.plan
    live.write_and_check(FILE_A, [scalar("Loss/train", 2, 1.0)])  # a tag for the same key
    assert live.tail.memo.plan is not plan
    assert any("same metric" in str(p) for p in live.check().problems)


def test_the_epoch_axis_times_are_nan_and_read_only():
    times = tfevents_merged._NoTimes(4)
    view = times.view()
    assert view.dtype == np.float64 and np.isnan(view).all() and len(view) == 4
    assert not view.flags.writeable
    times.extend(np.zeros(2))
    assert len(times.view()) == 6 and len(view) == 4
    assert len(tfevents_merged._NoTimes(0).view()) == 0


def test_only_the_columns_a_read_grew_are_trimmed(live, monkeypatch):
    live.write(FILE_A, VERSION + b"".join(b"".join(hf_step(s)) for s in range(10)))
    live.check()
    trimmed = []
    real = _Column.trim
    monkeypatch.setattr(_Column, "trim", lambda self: trimmed.append(self) or real(self))
    live.write(FILE_A, scalar("train/loss", 10, 1.0))
    live.tail.read()
    columns = live.tail.columns[live.root / FILE_A]
    assert trimmed == [columns["train/loss"]]
    live.check()


# --- grown: a few steps in Python --------------------------------------------------------------


def reference_holds(ascending: np.ndarray, steps: np.ndarray) -> bool:
    return set(steps.tolist()) <= set(ascending.tolist())


def test_holds_and_equal_prefix_of_a_few_steps_as_numpy_finds_them():
    rng = random.Random(4)
    for _ in range(2000):
        ascending = np.asarray(sorted(rng.sample(range(60), rng.randint(1, 40))), np.int64)
        steps = np.asarray([rng.randrange(-2, 62) for _ in range(rng.randint(1, 20))], np.int64)
        assert grown._holds(ascending, steps) == reference_holds(ascending, steps)
        other = ascending.copy()
        if rng.random() < 0.7:
            other[rng.randrange(len(other))] += 1
        expected = next((i for i in range(len(other)) if other[i] != ascending[i]), len(other))
        assert grown._equal_prefix(ascending, other) == expected


def test_the_union_takes_a_few_new_steps_as_numpy_does():
    rng = random.Random(6)
    for _ in range(2000):
        union = np.asarray(sorted(rng.sample(range(40), rng.randint(0, 20))), np.int64)
        parts = [
            np.asarray(sorted(rng.sample(range(30, 50), rng.randint(1, 5))), np.int64)
            for _ in range(rng.randint(1, 3))
        ]
        steps = np.concatenate(parts)
        several = len(parts) > 1
        top = int(union[-1]) if len(union) else None
        values = steps.tolist()
        old = [step for step in values if top is not None and step <= top]
        later = [step for step in values if top is None or step > top]
        expected = None
        if set(old) <= set(union.tolist()):
            expected = sorted(set(later)) if several else later
        found = grown._later(union, steps, several)
        assert (found if found is None else list(found)) == expected


def test_a_series_logged_on_the_union_and_beside_it_grows_the_union():
    union = grown.GrownUnion()
    a, b = np.arange(5, dtype=np.int64), np.asarray([1, 3], np.int64)
    union.steps([(("a", 1), a[:3]), (("b", 1), b[:1])])
    assert union.steps([(("a", 1), a[:3]), (("b", 1), b)]).tolist() == [0, 1, 2, 3]
    assert union.steps([(("a", 1), a), (("b", 1), b)]).tolist() == [0, 1, 2, 3, 4]
    c = np.asarray([2, 7], np.int64)
    assert union.steps([(("a", 1), a), (("c", 1), c)]).tolist() == [0, 1, 2, 3, 4, 7]


# --- CRC32C of a few bytes ---------------------------------------------------------------------


def byte_at_a_time(data: bytes) -> int:
    crc = 0xFFFFFFFF
    for byte in data:
        crc = tfevents_crc._CRC_LIST[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    crc ^= 0xFFFFFFFF
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def test_crc_four_bytes_a_step_is_the_crc_a_byte_at_a_time():
    rng = random.Random(2)
    for size in range(0, 200):
        data = rng.randbytes(size)
        assert tfevents_crc.masked_crc32c(data) == byte_at_a_time(data)
    for length in (0, 1, 40, 65535, 65536, 1 << 33):
        header = struct.pack("<Q", length)
        assert tfevents_crc.masked_length_crc(header, length) == byte_at_a_time(header)


def test_a_files_tail_keeps_the_shapes_of_the_records_before_its_offset(tmp_path, monkeypatch):
    path = tmp_path / FILE_A
    path.write_bytes(VERSION + scalar("a", 1, 1.0))
    tail = tfevents_records.EventFileTail(path)
    tail.read_chunk()
    assert list(tail.shapes.values()) == ["a"]
    # a wrong length checksum: the shapes of the records past it are not kept
    with path.open("ab") as handle:
        handle.write(record(b"x" * 20, bad_length=True) + scalar("b", 2, 2.0))
    tail.read_chunk()
    assert list(tail.shapes.values()) == ["a"]
    # a read that fails half way: nor are those it learnt
    path.write_bytes(VERSION + scalar("a", 1, 1.0))
    tail = tfevents_records.EventFileTail(path)
    tail.read_chunk()
    real = tfevents_records._pieces

    def failing(read, scanner, into, size=None):
        yield from real(read, scanner, into, size)
        raise OSError(5, "Input/output error")

    with path.open("ab") as handle:
        handle.write(scalar("c", 2, 1.0))
    monkeypatch.setattr(tfevents_records, "_pieces", failing)
    tail.read_chunk()
    assert tail.failed and list(tail.shapes.values()) == ["a"]
    monkeypatch.setattr(tfevents_records, "_pieces", real)
    assert tail.read_chunk().rows() == [("c", 2, 1.7e9 + 2, 1.0)]
    assert list(tail.shapes.values()) == ["a", "c"]
    # a file replaced: read from the start with none
    path.unlink()
    path.write_bytes(VERSION + scalar("d", 1, 1.0))
    tail.read_chunk()
    assert tail.reset and list(tail.shapes.values()) == ["d"]


def test_no_more_than_the_bytes_there_are_is_asked_for():
    data = VERSION + b"".join(hf_step(3))
    for size, asks in [(len(data), [len(data)]), (None, [tfevents_records.BLOCK] * 2)]:
        asked = []
        stream = io.BytesIO(data)

        def read(count, stream=stream, asked=asked):
            asked.append(count)
            return stream.read(count)

        total = Chunk()
        pieces = list(tfevents_records._pieces(read, tfevents_scanner._Scanner(), total, size))
        assert asked == asks[:1] and total.end == len(data) and total.pending == 0
        assert sum(len(piece.steps) for piece in pieces) == 3
    # the file grew since its stat: the rest is the next read's
    total = Chunk()
    read = io.BytesIO(data + scalar("x", 9, 1.0)).read
    assert len(list(tfevents_records._pieces(read, tfevents_scanner._Scanner(), total, len(data))))
    assert total.end == len(data) and total.pending == 0
