"""A few records (a live run's read) are framed and decoded in Python, one at a time, and
give exactly what the bulk framing and decoding give.

tfevents_framing._walk_few and tfevents_scanner._Scanner._few take a piece of at most
FEW_BYTES bytes / FEW_RECORDS records. Here every piece is sent down one path or the
other (the limits set to all or nothing) and both are compared with the record-by-record
reference decoder of test_tfevents_fast_decode (old_scan), on the odd files, damaged
records, wrong length checksums and cuts that test uses, in pieces of every size.
"""

from __future__ import annotations

import random

import pytest
from test_reader_tfevents import VERSION
from test_tfevents_fast_decode import (
    damaged,
    odd_records,
    old_dir_read,
    old_scan,
    pytorch,
    same_chunk,
    same_result,
)

from metricwatch.readers import tfevents_framing, tfevents_records, tfevents_scanner
from metricwatch.readers.tfevents import EventDirTail
from metricwatch.readers.tfevents_records import scan


@pytest.fixture(params=["few", "bulk"])
def path(request, monkeypatch):
    """Every piece framed and decoded one record at a time, or every piece in bulk."""
    few = request.param == "few"
    monkeypatch.setattr(tfevents_framing, "FEW_BYTES", 1 << 40 if few else 0)
    monkeypatch.setattr(tfevents_scanner, "FEW_RECORDS", 1 << 40 if few else 0)
    return request.param


@pytest.fixture(params=[None, 200, 4096])
def block(request, monkeypatch):
    if request.param is not None:
        monkeypatch.setattr(tfevents_records, "BLOCK", request.param)
    return request.param


def test_odd_records_in_pieces(path, block):
    data = b"".join(odd_records(random.Random(23), 700))
    same_chunk(scan(data), old_scan(data))


def test_damaged_records(path, block):
    records = odd_records(random.Random(29), 400)
    for seed in range(4):
        data = b"".join(damaged(records, random.Random(seed), 30))
        same_chunk(scan(data), old_scan(data))


def test_a_wrong_length_checksum_anywhere(path):
    records = odd_records(random.Random(31), 60)
    rng = random.Random(37)
    for _ in range(20):
        index = rng.randrange(len(records))
        raw = bytearray(records[index])
        raw[rng.randrange(12)] ^= 1 << rng.randrange(8)
        data = b"".join(records[:index]) + bytes(raw) + b"".join(records[index + 1 :])
        same_chunk(scan(data), old_scan(data))


def test_cut_at_every_byte(path):
    data = b"".join(odd_records(random.Random(41), 12))
    for cut in range(len(data) + 1):
        same_chunk(scan(data[:cut]), old_scan(data[:cut]))


def test_nan_first_values_and_repeated_tags(path, block):
    records = [VERSION]
    for step in range(60):
        for tag in ("loss", "lr", "acc"):
            value = float("nan") if step < 2 or (tag == "acc" and step % 3) else step * 0.25
            records.append(pytorch(tag, step, value))
    data = b"".join(records)
    same_chunk(scan(data), old_scan(data))


def test_a_live_run_appended_a_few_records_at_a_time(path, tmp_path, monkeypatch):
    rng = random.Random(43)
    records = damaged(odd_records(rng, 300), rng, 12)
    live, reference = tmp_path / "live", tmp_path / "reference"
    live.mkdir()
    reference.mkdir()
    name = "events.out.tfevents.100.h.1.0"
    new_tail, old_tail = EventDirTail(live), EventDirTail(reference)
    data = b"".join(records)
    written = 0
    while written < len(data):
        cut = min(len(data), written + rng.randrange(1, 400))
        for folder in (live, reference):
            with (folder / name).open("ab") as handle:
                handle.write(data[written:cut])
        written = cut
        same_result(new_tail.read(), old_dir_read(old_tail, monkeypatch))
