"""A signalling NaN among a TensorBoard file's float32 values is a NaN, read without a
warning: a RuntimeWarning printed by the monitor would land on its screen."""

from __future__ import annotations

import struct
import warnings

import numpy as np
from test_reader_tfevents import VERSION, event, ld, record

from metricwatch.readers.tfevents import read_event_dir

SIGNALLING_NAN = struct.pack("<I", 0x7F800001)


def _scalar_bits(tag: str, bits: bytes) -> bytes:
    return ld(1, tag.encode()) + b"\x15" + bits


def test_signalling_nans_in_bulk_and_one_by_one_are_nans_without_a_warning(tmp_path):
    records = [VERSION]
    for step in range(300):  # enough records for the bulk decoder
        bits = SIGNALLING_NAN if step % 7 == 3 else struct.pack("<f", 1.0 / (step + 1))
        records.append(record(event(step, _scalar_bits("train/loss", bits))))
    (tmp_path / "events.out.tfevents.1.host").write_bytes(b"".join(records))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = read_event_dir(tmp_path)
    values = result.table.series["train_loss"].values
    assert len(values) == 300
    assert np.isnan(values[3::7]).all() and not np.isnan(np.delete(values, np.s_[3::7])).any()
