"""The fast path of an appended CSV log (readers/appended_rows.py): a write's plain rows
read alone, in Python, give the same run as a whole parse of the file; anything else
falls back to the general path (the parse of context and new lines), with the same
result, or to a whole read (None), as before.

Each write here is checked against the whole parse of the file as written so far, and
whether the format's parse ran (the general path) or not (the fast path) is counted.
"""

from __future__ import annotations

import dataclasses
import random
from pathlib import Path

import numpy as np
import pytest
from test_appended import line_ends, same

from metricwatch.readers import appended, format_named, parse
from metricwatch.readers.appended import AppendedLog
from metricwatch.readers.appended_rows import row_reader

CORPUS = Path(__file__).parent / "corpus"


PL_HEADER = "epoch,lr-AdamW,step,train/acc_epoch,train/acc_step,train/loss_epoch,train/loss_step,val/acc,val/loss\n"  # noqa: E501


def pl_write(step: int, end_of_epoch: bool = False) -> str:
    """One Lightning write: the lr row (no epoch), the training row, and at an epoch's end
    the validation and epoch rows (benchmarks/format_logs.py's shape)."""
    epoch = step // 10
    rows = [
        f",{0.001 / (step + 1)!r},{step},,,,,,",
        f"{epoch},,{step},,{0.5 + step / 1e3!r},,{2.0 / (step + 1)!r},,",
    ]
    if end_of_epoch:
        rows.append(f"{epoch},,{step},,,,,{0.6 + step / 1e3!r},{1.5 / (step + 1)!r}")
        rows.append(f"{epoch},,{step},{0.55 + step / 1e3!r},,{1.9 / (step + 1)!r},,,")
    return "\n".join(rows) + "\n"


class Follower:
    """An appended log followed write by write, each result checked against the whole parse;
    counts the writes read by the fast path, by the general path, and read whole."""

    def __init__(self, name: str, data: bytes) -> None:
        """Follow data from a whole read of it but its last line, which is then written:
        the first write after a whole read is the general path's (see below)."""
        cut = data.rstrip(b"\n").rfind(b"\n") + 1
        self.name, self.data = name, data[:cut]
        self.calls: list[int] = []
        self.log = self._start()
        self.write(data[cut:])
        self.fast = self.general = self.whole = 0

    fast = general = whole = 0

    def _start(self) -> AppendedLog | None:
        """Follow the file as written so far (None: the loader reads it whole each time)."""
        result = parse(self.name, self.data)
        fmt = format_named(result.format)
        assert fmt is not None
        return AppendedLog.start(self._counted(fmt), self.data, result)

    def _counted(self, fmt):
        """The format with its parse counted, its fast path kept (it reads as that parse)."""
        original = fmt.parse

        def counting(data: bytes):
            self.calls.append(1)
            return original(data)

        appends = fmt.appends
        if row_reader(appends, original) is not None:
            appends = dataclasses.replace(appends, parse=counting)
        return dataclasses.replace(fmt, parse=counting, appends=appends)

    def write(self, text: str | bytes) -> object:
        """Append text (whole lines, or not) and read it; the result, checked."""
        raw = text.encode() if isinstance(text, str) else text
        self.data += raw
        before = len(self.calls)
        if self.log is None:
            self.whole += 1
            self.log = self._start()
            return None
        grown = self.log.update(self.data[self.log.offset :])
        if grown is None:
            self.whole += 1
            self.log = self._start()
            return None
        if len(self.calls) == before:
            self.fast += 1
        else:
            self.general += 1
        grown.format = self.log.format.name
        same(grown, parse(self.name, self.data))
        return grown


def lightning(steps: int = 3) -> Follower:
    text = PL_HEADER + "".join(pl_write(step) for step in range(steps))
    return Follower("metrics.csv", text.encode())


def test_lightning_writes_are_read_by_the_fast_path_and_match_the_whole_parse():
    log = lightning()
    for step in range(3, 60):
        log.write(pl_write(step, end_of_epoch=step % 10 == 9))
    # an epoch's end brings the first point of the val keys once (a new key: the general
    # path makes its column), every other write is plain rows after the last step
    assert log.whole == 0
    assert log.general <= 2
    assert log.fast >= 55


def test_an_lr_row_dated_by_the_next_write_is_filled_in_by_the_general_path():
    log = lightning()
    lr_row, train_row = pl_write(3).splitlines(keepends=True)
    grown = log.write(lr_row)  # its epoch is not known yet: NaN, as the whole parse says
    assert np.isnan(grown.table.series["lr"].epochs[-1])
    first = grown.table.series["lr"]
    general = log.general
    grown = log.write(train_row)  # at the last step: the general path fills the epoch
    assert log.general == general + 1
    assert grown.table.series["lr"].epochs[-1] == 0.0
    assert grown.table.series["lr"] is not first  # epochs written in place: a new Series
    log.write(pl_write(4))
    log.write(pl_write(5))
    assert log.whole == 0 and log.fast >= 2


def test_rows_at_the_last_step_read_in_a_later_write_go_to_the_general_path():
    log = lightning()
    log.write(pl_write(3) + pl_write(4) + pl_write(5) + pl_write(6))
    rows = pl_write(9, end_of_epoch=True).splitlines(keepends=True)
    log.write("".join(rows[:2]))
    log.write(rows[2])  # the validation row of step 9, at the last step read
    log.write(rows[3])
    assert log.whole == 0 and log.general >= 2


def test_a_step_going_back_is_read_whole_as_before():
    log = lightning(6)
    assert log.write(pl_write(2)) is None
    assert log.whole == 1


def test_cells_that_are_no_plain_number_go_to_the_general_path():
    log = lightning()
    log.write(",nan,3,,,,,,\n0,,3,,nan,,inf,,\n")  # a NaN loss is data: read by the parse
    log.write(",1e-3,4,,,,,,\n0,,4,,0.5,,2.0,,\n")
    log.write(",1E-3,5,,,,,,\n0,,5,,+.5,,-2.,,\n")
    assert (log.fast, log.general, log.whole) == (2, 1, 0)


@pytest.mark.parametrize(
    "rows",
    [
        ",1e-3,3,,,,,,\n\n0,,3,,0.5,,2.0,,\n",  # a blank line
        ",1e-3,3,,,,,\n0,,3,,0.5,,2.0,,\n",  # a row a cell short
        ",1e-3,3,,,,,,,\n0,,3,,0.5,,2.0,,\n",  # a cell too many
        ",1e-3, 3,,,,,,\n0,,3,,0.5,,2.0,,\n",  # padding
        ',1e-3,"3",,,,,,\n0,,3,,0.5,,2.0,,\n',  # quotes
        ",1-3,3,,,,,,\n0,,3,,0.5,,2.0,,\n",  # no number
        ",1e-3,3.5,,,,,,\n0,,3,,0.5,,2.0,,\n",  # a step that is not whole
        ",1e-3,,,,,,,\n0,,3,,0.5,,2.0,,\n",  # no step
        ",1e-3,4,,,,,,\n0,,3,,0.5,,2.0,,\n",  # a step going back among the new rows
        ",1e-3,3,,,,,,\n1e999,,3,,0.5,,2.0,,\n",  # an epoch that is not finite
    ],
)
def test_rows_the_fast_path_leaves_read_as_the_general_path_reads_them(rows):
    log = lightning()
    log.write(rows)
    assert log.fast == 0
    log.write(pl_write(7))  # and the log goes on


def test_crlf_rows_and_a_row_without_any_metric_are_plain_rows():
    log = lightning()
    log.write(pl_write(3).replace("\n", "\r\n"))
    log.write("0,,4,,,,,,\n")  # a step with no value: a table step all the same
    log.write(pl_write(5))
    assert (log.fast, log.general, log.whole) == (3, 0, 0)


def test_keys_logged_on_the_same_rows_part_when_a_row_lacks_one():
    log = lightning()
    log.write("0,,3,,0.5,,,,\n")  # train/acc_step without train/loss_step
    assert (log.fast, log.general) == (0, 1)
    log.write(pl_write(4))
    assert log.fast == 1


def test_a_line_being_written_and_a_big_write_are_the_parse_s():
    log = lightning()
    write = pl_write(3)
    log.write(write[:-5])
    log.write(write[-5:])
    assert (log.fast, log.general) == (0, 2)
    big = "".join(pl_write(step) for step in range(4, 4 + appended.ROWS_BYTES // 40))
    assert len(big) > appended.ROWS_BYTES
    log.write(big)
    assert (log.fast, log.general) == (0, 3)


def test_after_a_step_back_lightning_rows_are_read_alone_too():
    """The parse dates an lr row by the rows it keeps at its step, none a resume dropped:
    new rows after the last step read are dated by each other alone, as before a resume."""
    log = lightning(6)
    assert log.write("0,,3,,0.5,,2.0,,\n") is None  # a resume: read whole
    for step in range(4, 12):
        log.write(pl_write(step))
    # read whole while the context holds the step back, then by the general path once,
    # then by the fast path
    assert (log.fast, log.general, log.whole) == (6, 1, 2)


def test_a_format_with_another_parse_has_no_fast_path():
    fmt = format_named("lightning_csv")
    assert row_reader(fmt.appends, fmt.parse) is not None
    other = dataclasses.replace(fmt, parse=lambda data: fmt.parse(data))
    assert row_reader(other.appends, other.parse) is None


def test_a_key_a_write_left_alone_keeps_its_series():
    log = lightning()
    first = log.write(pl_write(3, end_of_epoch=True))
    second = log.write(pl_write(4))
    assert second.table.series["val_loss"] is first.table.series["val_loss"]
    assert second.table.series["train_loss_step"] is not first.table.series["train_loss_step"]


# --- Keras --------------------------------------------------------------------------------------

KERAS_HEADER = "epoch,accuracy,learning_rate,loss,val_accuracy,val_loss\r\n"


def keras_row(epoch: int, val: bool = True) -> str:
    cells = [0.5 + epoch / 100, 1e-3, 2.0 / (epoch + 1)]
    cells += [0.4 + epoch / 100, 2.5 / (epoch + 1)] if val else ["NA", "NA"]
    return f"{epoch}," + ",".join(str(c) for c in cells) + "\r\n"


def test_keras_rows_are_read_by_the_fast_path_and_match_the_whole_parse():
    log = Follower("training.log", (KERAS_HEADER + keras_row(0) + keras_row(1)).encode())
    for epoch in range(2, 30):
        log.write(keras_row(epoch, val=epoch % 3 != 0))
    # the first row without validation parts the val keys' axes from the training keys'
    # (the general path's); every other row is the fast path's
    assert (log.fast, log.general, log.whole) == (27, 1, 0)


def test_a_keras_fit_appended_or_resumed_is_read_whole():
    log = Follower("training.log", (KERAS_HEADER + keras_row(0) + keras_row(1)).encode())
    log.write(keras_row(2))
    assert log.write(keras_row(0)) is None  # a second fit: a run per fit
    log = Follower("training.log", (KERAS_HEADER + keras_row(0) + keras_row(1)).encode())
    assert log.write(keras_row(1)) is None  # a resume at the last epoch
    log.write(keras_row(2) + keras_row(3))
    assert log.write("4,0.5,NA,NA,x,1\r\n") is None  # text: a problem the parse tells


# --- every corpus log, in writes of a few lines ---------------------------------------------

LOGS = sorted(
    [
        *CORPUS.glob("lightning_csv/**/metrics.csv"),
        *CORPUS.glob("ultralytics/*/results.csv"),
        *(p for p in CORPUS.glob("keras_csv/**/*") if p.suffix in (".log", ".csv")),
        *CORPUS.glob("detectron2/*/metrics.json"),
    ]
)


@pytest.mark.parametrize("path", LOGS, ids=lambda p: str(p.relative_to(CORPUS)))
def test_every_corpus_log_written_a_few_lines_at_a_time_reads_as_its_whole_parse(path):
    data = path.read_bytes()
    ends = line_ends(data)
    fmt = format_named(parse(path.name, data).format)
    start = next(e for e in ends if data[:e].count(b"\n") > fmt.appends.header_lines)
    log = Follower(path.name, data[:start])
    rng = random.Random(str(path))
    written = start
    later = [e for e in ends if e > start]
    while later:
        end = later[min(len(later), rng.choice((1, 1, 2, 3, 5))) - 1]
        later = [e for e in later if e > end]
        log.write(data[written:end])
        written = end
    assert log.fast + log.general + log.whole > 0


# --- Ultralytics ----------------------------------------------------------------------------

YOLO_HEADER = (
    "epoch,time,train/box_loss,train/cls_loss,train/dfl_loss,metrics/precision(B),"
    "metrics/recall(B),metrics/mAP50(B),metrics/mAP50-95(B),val/box_loss,val/cls_loss,"
    "val/dfl_loss,lr/pg0,lr/pg1,lr/pg2\n"
)


def yolo_row(epoch: int, time: float | None = None, validated: bool = True) -> str:
    """A results.csv row; `time` None: its cell empty."""
    train = [1.0 / epoch, 2.0 / epoch, 0.7 + 1.0 / epoch]
    val = [0.5 + epoch / 100, 0.4, 0.3 + epoch / 100, 0.2, 1.1 / epoch, 1.7, 0.9 / epoch]
    cells = [epoch, "" if time is None else time, *train, *(val if validated else [0] * 7)]
    return ",".join(str(c) for c in [*cells, 0.01, 0.01 / epoch, 0.01]) + "\n"


def ultralytics(epochs: int = 2) -> Follower:
    rows = "".join(yolo_row(e, 60.5 * e) for e in range(1, epochs + 1))
    return Follower("results.csv", (YOLO_HEADER + rows).encode())


def test_ultralytics_rows_with_loss_sums_and_durations_are_the_fast_path_s():
    log = ultralytics()
    for epoch in range(3, 20):
        log.write(yolo_row(epoch, 60.5 * epoch + (epoch % 4) * 0.3))
    log.write(yolo_row(20, 12.5))  # the clock restarted (a resume that kept the epochs)
    log.write(yolo_row(21, 70.0) + yolo_row(22, 130.25))
    assert (log.fast, log.general, log.whole) == (19, 0, 0)


def test_ultralytics_rows_the_fast_path_leaves_to_the_parse():
    log = ultralytics()
    assert log.write(yolo_row(3, 180.0, validated=False)) is None  # the notice's count changes
    log.write(yolo_row(4, None))  # no time: the row before has none for the next one
    log.write(yolo_row(5, 300.0))
    log.write(yolo_row(6, 360.0).replace(",0.01,", ", 0.01,"))  # padding
    log.write(yolo_row(7, 420.0))  # the context is not plain rows now
    log.write(yolo_row(8, 480.0))
    # read whole while the unvalidated row is in the context (the chunk's parse tells its
    # notice: rows 3 to 6, as row 5's duration is read from row 3's time), then row 7 by
    # the parse (the first write after a whole read, and the time before it is in a row
    # that is not plain); row 8 by the fast path
    assert (log.fast, log.general, log.whole) == (1, 1, 4)


def test_the_first_write_after_a_whole_read_is_the_general_path_s():
    """A whole read's context may hold what its parse found wrong (here a step going back),
    which the general path's parse of the context tells again: read whole, as before; the
    fast path follows once the general path has read a write."""
    log = Follower("training.log", (KERAS_HEADER + "".join(map(keras_row, range(6)))).encode())
    assert log.write(keras_row(3)) is None  # a resume: read whole
    assert log.write(keras_row(6)) is None  # the context still holds the epoch going back
    log.write(keras_row(7))  # the context is clean: the general path reads it
    log.write(keras_row(8))
    assert (log.fast, log.general, log.whole) == (1, 1, 2)


def test_an_ultralytics_header_with_a_loss_column_and_its_parts_has_no_fast_path():
    header = YOLO_HEADER.replace("lr/pg2\n", "train/loss\n")
    log = Follower("results.csv", (header + yolo_row(1, 1.0) + yolo_row(2, 2.0)).encode())
    log.write(yolo_row(3, 3.0))
    log.write(yolo_row(4, 4.0))
    assert log.fast == 0 and log.general == 2


# --- a header line again, with other names ----------------------------------------------

SWAPPED = PL_HEADER.replace("train/acc_step", "SWAP").replace("train/loss_step", "train/acc_step")
SWAPPED = SWAPPED.replace("SWAP", "train/loss_step")


@pytest.mark.parametrize("at_start", [True, False])
def test_a_header_line_again_with_other_names_makes_the_log_read_whole(at_start):
    """The parse places the rows after it by its names; neither path can from the header
    and the last lines (the general path could, while it was among them)."""
    before = PL_HEADER + pl_write(0) + pl_write(1)
    if at_start:
        log = Follower("metrics.csv", (before + SWAPPED + "0,,2,,0.5,,1.0,,\n").encode())
    else:
        log = Follower("metrics.csv", before.encode())
        assert log.write(SWAPPED) is None
    for step in range(3, 25):
        assert log.write(f"0,,{step},,0.5,,1.0,,\n") is None
    assert log.fast == log.general == 0


def test_the_same_header_line_again_is_followed():
    log = Follower("metrics.csv", (PL_HEADER + pl_write(0) + pl_write(1)).encode())
    log.write(PL_HEADER + pl_write(2))
    for step in range(3, 25):
        log.write(pl_write(step))
    assert log.whole == 0 and log.fast >= 20


@pytest.mark.parametrize(
    "header, data, again",
    [
        (b"epoch,step\n", b"1,2\n3,4\n", False),
        (b"epoch,step\n", b"1,2\nepoch,step\n3,4\n", False),  # the same header
        (b"epoch,step\n", b"1,2\nepoch,step,x\n3,4,5\n", True),
        (b"epoch,step\n", b'1,2\n "epoch" ,step,x\n', True),  # padded, quoted
        (b"epoch,step\n", b"epoch,x\n", True),  # the first line after the header
        (b"epoch,step\n", b"1,2\n3,4,epoch\n", False),  # not at a line's start
        (b",loss\n", b"0,1\n,loss,x\n", False),  # no first name: no header line again
        (b"\xef\xbb\xbfepoch,step\r\n", b"1,2\r\nepoch,step\r\n", False),
    ],
)
def test_a_header_line_again_is_told_by_its_first_name(header, data, again):
    from metricwatch.readers.csv_rows import header_again

    assert header_again(header, data) is again


# --- random logs, written in random pieces ----------------------------------------------------


def random_lightning_rows(rng: random.Random, count: int) -> list[str]:
    """Rows as Lightning writes them and worse: lr rows without an epoch, several rows at
    one step, sparse cells, NaN losses, a row without a value. (No step back: see
    test_append_write_lightning_steps.py for those.)"""
    rows, step = [], 0
    for _ in range(count):
        step += rng.choice((0, 1, 1, 1, 2))
        epoch = "" if rng.random() < 0.3 else str(step // 7)
        cells = [epoch, "", str(step)] + [""] * 6
        for index in rng.sample(range(3, 9), rng.randint(0, 3)):
            cells[index] = rng.choice(("0.5", "1e-3", "2", "-0.25", "nan", f"{rng.random()!r}"))
        if not epoch and rng.random() < 0.7:
            cells[1] = f"{rng.random() * 1e-3!r}"
        rows.append(",".join(cells) + "\n")
    return rows


def random_keras_rows(rng: random.Random, count: int) -> list[str]:
    rows, epoch = [], 0
    for _ in range(count):
        epoch += 1 if rng.random() > 0.03 else -rng.randint(0, 2)
        cells = [str(max(epoch, 1))]
        cells += [rng.choice(("NA", "0.5", "1e-3", f"{rng.random()!r}")) for _ in range(5)]
        rows.append(",".join(cells) + "\r\n")
    return rows


def random_yolo_rows(rng: random.Random, count: int) -> list[str]:
    """results.csv rows and worse: resumes, the clock restarting, rows without a time or
    a cell, epochs without validation (every val/ and metrics/ cell 0)."""
    rows, epoch, clock = [], 0, 0.0
    for _ in range(count):
        epoch += 1 if rng.random() > 0.03 else -rng.randint(0, 2)
        clock = clock + 60.0 * rng.random() if rng.random() > 0.05 else 10.0 * rng.random()
        cells = [str(max(epoch, 1)), "" if rng.random() < 0.05 else repr(clock)]
        unvalidated = rng.random() < 0.05
        for index in range(13):
            if unvalidated and 3 <= index < 10:
                cells.append("0")
            elif rng.random() < 0.05:
                cells.append("")
            else:
                cells.append(rng.choice(("0", "0.5", "1e-3", repr(rng.random()))))
        rows.append(",".join(cells) + "\n")
    return rows


RANDOM_LOGS = {
    "lightning": ("metrics.csv", PL_HEADER, random_lightning_rows),
    "keras": ("training.log", KERAS_HEADER, random_keras_rows),
    "ultralytics": ("results.csv", YOLO_HEADER, random_yolo_rows),
}
#: Seeds whose logs once read otherwise than their whole parse: a duration read from a row
#: two rows without a time had put out of the context.
YOLO_SEEDS = (32, 97, 155, 193, 221, 231, 245, 262, 288)


@pytest.mark.parametrize(
    "name, header, rows, seed",
    [
        *(
            pytest.param(*log, seed, id=f"{kind}-{seed}")
            for kind, log in RANDOM_LOGS.items()
            for seed in range(12)
        ),
        *(pytest.param(*RANDOM_LOGS["ultralytics"], s, id=f"ultralytics-{s}") for s in YOLO_SEEDS),
    ],
)
def test_random_logs_written_in_random_pieces_read_as_their_whole_parse(name, header, rows, seed):
    rng = random.Random(seed)
    log = write_in_pieces(name, header, rows(rng, 160), rng)
    assert log.fast > 0


def write_in_pieces(name: str, header: str, lines: list[str], rng: random.Random) -> Follower:
    """A log of these lines followed from its first three, then written 1 to 4 lines at a
    time (now and then a line cut short, finished by the next write), each write's read
    checked against the whole parse."""
    log = Follower(name, (header + "".join(lines[:3])).encode())
    at = 3
    while at < len(lines):
        take = rng.choice((1, 1, 2, 3, 4))
        piece = "".join(lines[at : at + take])
        at += take
        if rng.random() < 0.1:  # a line cut short, finished by the next write
            cut = rng.randint(1, len(piece) - 1)
            log.write(piece[:cut])
            piece = piece[cut:]
        log.write(piece)
    return log
