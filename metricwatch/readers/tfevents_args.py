"""The run's arguments from the start of an event file (Hugging Face's TrainingArguments).

Hugging Face's TensorBoardCallback writes `args.to_json_string()` as text when training
begins, before any scalar: the second record of the file, after the file_version one.
So only the head of a file is looked at (ARGS_WINDOW bytes); a record cut short at the
end of that window, or of a file still being written, ends the search without an error.
The scalar reader (tfevents_records.scan) never sees these records as anything but
skipped values, so its hot path stays as it is.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path
from stat import S_ISREG
from typing import Any

from metricwatch.readers.tfevents_crc import masked_crc32c
from metricwatch.readers.tfevents_proto import decode_args

#: How much of an event file is searched for the arguments: they come first.
ARGS_WINDOW = 256 * 1024
#: Read first: enough for HF's arguments (~4 KB) in all but odd files; a directory of
#: many event files costs a small read each, not ARGS_WINDOW each.
FIRST_READ = 16 * 1024
#: Records searched at most: HF's arguments are the second (after file_version), its model
#: config the third; a few more allow for another writer's records first. A run without
#: arguments (most event files) costs a few records, not a 256 KiB walk.
MAX_RECORDS = 64

_HEADER = struct.Struct("<QI")


def args_in_head(data: bytes) -> dict[str, Any] | None:
    """The JSON object of the first `args` text among the first whole records of an event
    file's bytes, or None. Never raises."""
    return search_head(data)[0]


def search_head(data: bytes) -> tuple[dict[str, Any] | None, bool]:
    """(the arguments or None, whether more bytes could change that): final once found,
    after MAX_RECORDS records, or at a record whose length checksum fails (nothing after
    it can be trusted); not final when the bytes end first (a file still being written).
    A record whose data checksum fails is skipped."""
    pos = 0
    for _ in range(MAX_RECORDS):
        if pos + 12 > len(data):
            return None, False
        length, length_crc = _HEADER.unpack_from(data, pos)
        if masked_crc32c(data[pos : pos + 8]) != length_crc:
            return None, True
        begin, end = pos + 12, pos + 12 + length
        if end + 4 > len(data):
            return None, False  # cut short: the window's end, or a write in progress
        record = data[begin:end]
        pos = end + 4
        if b"args" not in record:
            continue  # the file_version record, a scalar: not worth a decode or a CRC
        if masked_crc32c(record) != int.from_bytes(data[end:pos], "little"):
            continue
        found = decode_args(record)
        if found is not None:
            return found, True
    return None, True


def args_in_file(path: Path, window: int = ARGS_WINDOW) -> tuple[dict[str, Any] | None, bool]:
    """search_head of an event file's first `window` bytes; (None, True) when it cannot
    be read (it is read again only when replaced). Blocking I/O: call it where reads are
    timed (a tail's read, the loader's timed calls)."""
    try:
        if not S_ISREG(os.stat(path).st_mode):
            return None, True  # a FIFO would block open() for good
        with open(path, "rb") as handle:
            data = handle.read(min(window, FIRST_READ))
            args, final = search_head(data)
            if not final and len(data) == FIRST_READ < window:
                data += handle.read(window - FIRST_READ)
                args, final = search_head(data)
    except OSError:
        return None, True
    return args, final or len(data) >= window
