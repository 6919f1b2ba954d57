"""The fast path of an appended JSON-lines log (readers/appended_rows.py): a write's
lines of metricwatch's step log `metrics.jsonl`, or of a detectron2 `metrics.json`,
decoded alone, give the same run as a whole parse of the file; anything else falls back
to the general path (the parse of context and new lines) or to a whole read, as before.
"""

from __future__ import annotations

import json
import random

import pytest
from test_append_write_rows import Follower, write_in_pieces


def step_line(step: int, **extra: object) -> str:
    record: dict[str, object] = {
        "step": step,
        "epoch": round(step / 50, 4),
        "time": 1.7e9 + 0.1 * step,
        "train_loss": 2.0 / step,
        "lr": 3e-4 * (1 - step / 1e4),
    }
    record.update(extra)
    return json.dumps({k: v for k, v in record.items() if v is not ...}) + "\n"


def step_log(first: int = 1, last: int = 3, **extra: object) -> Follower:
    text = "".join(step_line(step, **extra) for step in range(first, last + 1))
    return Follower("metrics.jsonl", text.encode())


def test_step_log_lines_are_read_by_the_fast_path_and_match_the_whole_parse():
    log = step_log()
    for step in range(4, 40):
        log.write(step_line(step) if step % 5 else step_line(step) + step_line(step + 100))
        if step % 5 == 0:
            break
    for step in range(106, 130, 2):
        log.write(step_line(step) + step_line(step + 1))
    assert (log.fast, log.general, log.whole) == (14, 0, 0)


def test_step_log_lines_without_an_epoch_or_time_are_nan_there():
    log = step_log()
    log.write(step_line(4, epoch=..., time=None))
    log.write(step_line(5, epoch="x", time=float("inf")))
    log.write(step_line(6))
    assert (log.fast, log.general, log.whole) == (3, 0, 0)


def test_a_source_name_the_log_knows_is_the_fast_path_s_a_new_one_the_parse_s():
    log = step_log(acc=0.5)  # `acc` is logged as train_accuracy
    log.write(step_line(4, acc=0.6))
    assert log.fast == 1
    log.write(step_line(5, acc=0.6, learning_rate=1.0, lr=...))  # a new source of lr
    assert log.general == 1


@pytest.mark.parametrize(
    "lines",
    [
        '{"step": 4, "train_loss": "high"}\n',  # no number: the parse counts it
        '{"step": 4, "loss": 1.0}\n',  # two names of one metric on a line
        '{"epoch": 1, "train_loss": 1.0}\n',  # no step
        '{"step": 4.5, "train_loss": 1.0}\n',  # a step that is not whole
        '{"step": 2, "train_loss": 1.0}\n',  # a step going back: a restart
        '{"step": 5, "train_loss": 1.0}\n{"step": 4, "train_loss": 1.0}\n',  # back in a write
        '{"step": 4, "train_loss": 1.0}\n\n',  # a blank line
        "[1, 2]\n",  # no object
        '{"step": 4, "train_loss": 1.0\n',  # no JSON
        '\ufeff{"step": 4, "train_loss": 1.0}\n',  # a byte-order mark inside the file
    ],
)
def test_step_log_lines_the_fast_path_leaves_to_the_parse(lines):
    log = step_log()
    log.write(lines)
    assert log.fast == 0
    log.write(step_line(50))
    log.write(step_line(51))


# --- detectron2 ---------------------------------------------------------------------------------


def d2_line(iteration: int, eta: float | None = 100.0, **extra: object) -> str:
    record: dict[str, object] = {
        "data_time": 0.004,
        "iteration": iteration,
        "loss_cls": 1.0 / (iteration + 1),
        "lr": 0.02,
        "time": 0.21,
        "total_loss": 2.0 / (iteration + 1),
    }
    if eta is not None:
        record["eta_seconds"] = eta
    record.update(extra)
    return json.dumps(record, sort_keys=True) + "\n"


def detectron2(lines: int = 3) -> Follower:
    text = "".join(d2_line(20 * i + 19, eta=1000.0 - i) for i in range(lines))
    return Follower("metrics.json", text.encode())


def test_detectron2_lines_are_read_by_the_fast_path_and_match_the_whole_parse():
    log = detectron2()
    for index in range(3, 30):
        log.write(d2_line(20 * index + 19, eta=900.0 - index))
    log.write(d2_line(619, eta=None) + d2_line(639, eta=7.0))
    log.write(json.dumps({"iteration": 659, "eta_seconds": 5.0}) + "\n")  # only an eta
    log.write(d2_line(679, eta=4.0, loss_box_reg=float("nan")) + d2_line(699, eta=3.0))
    assert log.whole == 0
    assert log.fast >= 29


def test_detectron2_evaluation_lines_and_a_run_s_end_are_the_parse_s():
    log = detectron2()
    log.write(d2_line(79, **{"bbox/AP": 12.5, "bbox/AP50": 20.0}))  # percentages, a task
    log.write(d2_line(99))
    log.write(d2_line(119, eta=0.0))  # the run's end: the next line may start a new run
    log.write(d2_line(139))
    log.write(d2_line(159))
    log.write(d2_line(179, eta=0.0) + d2_line(199))  # an end, then a line, in one write
    log.write(d2_line(219))
    assert log.whole == 0
    assert log.fast == 4  # lines 99, 119, 159 and 219


@pytest.mark.parametrize(
    "lines",
    [
        d2_line(79, loss_cls="x"),  # no number
        d2_line(59),  # the last iteration again (a late line, or a resume)
        d2_line(99) + d2_line(79),  # going back inside the write
        '{"loss_cls": 1.0}\n',  # no iteration
        d2_line(79).replace('"lr"', '"learning_rate": 1.0, "lr"'),  # two names of lr
    ],
)
def test_detectron2_lines_the_fast_path_leaves_to_the_parse(lines):
    log = detectron2()
    log.write(lines)
    assert log.fast == 0
    log.write(d2_line(1019))
    log.write(d2_line(1039))


# --- random logs, written in random pieces ----------------------------------------------------


def random_step_lines(rng: random.Random, count: int) -> list[str]:
    """Step log lines and worse: steps going back, no epoch or time, aliases (two names of
    lr now and then), null, NaN, a value that is no number, lines without a metric."""
    lines, step = [], 0
    for _ in range(count):
        step += rng.choice((1, 1, 1, 2)) if rng.random() > 0.03 else -rng.randint(0, 4)
        record: dict[str, object] = {"step": max(step, 0)}
        if rng.random() > 0.1:
            record["epoch"] = round(step / 20, 3)
        if rng.random() > 0.1:
            record["time"] = 1.7e9 + step
        keys = ["train_loss", "lr", "acc", "grad_norm", "learning_rate"]
        for key in rng.sample(keys, rng.randint(0, 3)):
            value = rng.choice([rng.random(), 1, None, float("nan")])
            record[key] = value if rng.random() > 0.02 else "x"
        lines.append(json.dumps(record) + "\n")
    return lines


def random_d2_lines(rng: random.Random, count: int) -> list[str]:
    """detectron2 lines and worse: late lines and resumes, an iteration again, runs ending
    (eta 0), lines without an eta, evaluation keys, lines with only an eta."""
    lines, iteration = [], 19
    for index in range(count):
        draw = rng.random()
        if draw < 0.03:
            iteration -= rng.choice((20, 200))
        elif draw > 0.06:
            iteration += 20
        record: dict[str, object] = {"iteration": max(iteration, 0)}
        if rng.random() > 0.1:
            record["eta_seconds"] = 0.0 if rng.random() < 0.03 else 100.0 - index
        keys = ["total_loss", "lr", "loss_cls", "time", "bbox/AP", "fast_rcnn/cls_accuracy"]
        for key in rng.sample(keys, rng.randint(0, 4)):
            record[key] = rng.random()
        lines.append(json.dumps(record, sort_keys=True) + "\n")
    return lines


#: detectron2 logs that once read otherwise than their whole parse (22, 66, 176, 209: lines
#: the context's parse took for a late line where the whole parse saw a new run or a
#: resume, by keys logged before the context), and more of runs ending (eta 0) and
#: beginning again.
D2_SEEDS = (22, 66, 176, 209, 151, 154, 163, 177, 249)


@pytest.mark.parametrize(
    "name, lines, seed",
    [
        *(pytest.param("metrics.jsonl", random_step_lines, s, id=f"steps-{s}") for s in range(8)),
        *(pytest.param("metrics.json", random_d2_lines, s, id=f"d2-{s}") for s in range(8)),
        *(pytest.param("metrics.json", random_d2_lines, s, id=f"d2-{s}") for s in D2_SEEDS),
    ],
)
def test_random_logs_written_in_random_pieces_read_as_their_whole_parse(name, lines, seed):
    rng = random.Random(seed)
    log = write_in_pieces(name, "", lines(rng, 120), rng)
    assert log.fast > 0


# --- detectron2's task: the first of segm, sem_seg, bbox that any line tells ------------------


def test_a_bbox_evaluation_after_a_segm_one_leaves_the_task_instance_segmentation():
    """The whole parse's task is the first any line tells; a write's parse, of the context
    and the new lines, tells only theirs (here, the segm line is long out of the context)."""
    log = detectron2()
    log.write(d2_line(79, **{"segm/AP": 30.0, "bbox/AP": 12.5}))
    for index in range(5, 25):
        log.write(d2_line(20 * index + 19))
    grown = log.write(d2_line(999, **{"bbox/AP": 13.0}))
    assert grown.meta["task"] == "instance_segmentation"
    grown = log.write(d2_line(1019, **{"sem_seg/mIoU": 40.0}))
    assert grown.meta["task"] == "instance_segmentation"
    assert log.whole == 0


def test_a_segm_evaluation_after_a_bbox_one_makes_the_task_instance_segmentation():
    log = detectron2()
    log.write(d2_line(79, **{"bbox/AP": 12.5}))
    for index in range(5, 25):
        log.write(d2_line(20 * index + 19))
    assert log.write(d2_line(999))
    grown = log.write(d2_line(1019, **{"segm/AP": 30.0}))
    assert grown.meta["task"] == "instance_segmentation"


EVALUATIONS = (
    {"bbox/AP": 12.5},
    {"bbox/AP": 13.0, "segm/AP": 11.0},
    {"sem_seg/mIoU": 40.0},
    {"bbox/AP50": 20.0, "sem_seg/mIoU": 41.0},
)


def random_d2_evaluations(rng: random.Random, count: int) -> list[str]:
    """Training lines with now and then an evaluation of one task or another, far enough
    apart for the context to lose the one before."""
    lines = []
    for index in range(count):
        extra = rng.choice(EVALUATIONS) if rng.random() < 0.06 else {}
        lines.append(d2_line(20 * index + 19, eta=1000.0 - index, **extra))
    return lines


@pytest.mark.parametrize("seed", range(12))
def test_random_evaluations_of_several_tasks_read_as_their_whole_parse(seed):
    rng = random.Random(seed)
    written = random_d2_evaluations(rng, 150)
    log = Follower("metrics.json", "".join(written[:3]).encode())
    at = 3
    while at < len(written):
        take = rng.choice((1, 1, 2, 3))
        log.write("".join(written[at : at + take]))
        at += take
    assert log.whole == 0 and log.fast > 0
