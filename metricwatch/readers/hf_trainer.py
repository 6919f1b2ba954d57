"""Hugging Face Trainer's `trainer_state.json`: bytes in, a step table and typed problems out.

The Trainer writes the whole file (pretty-printed, keys sorted) into each
`checkpoint-N/` folder when it saves, and into the output folder at the
end. Its `log_history` is a list of entries, each with the optimiser
`step` (our x), a fractional `epoch`, and either training values (`loss`,
`learning_rate`, `grad_norm`) or evaluation values (`eval_loss`,
`eval_accuracy`, ..., with `eval_runtime` and throughput). Quirks handled:

- a training entry and an evaluation entry at the same step are one record;
- the last entry of a finished run (`train_runtime`, `train_loss`,
  `total_flos`...) is a summary of the whole run: its `train_loss` is the
  mean over the run, not a last value, so it goes to meta, not the series;
- `predict_*` entries (Trainer.predict) are not points of the run;
- the float `epoch` restarts at 0 on resumed streaming runs: the step is the
  truth, an epoch going back is not a resume; a step going back is one
  (the later entries replace the earlier ones);
- the eval timings (`eval_runtime`, `eval_samples_per_second`,
  `eval_steps_per_second`) are kept under their own names: they are how
  long the evaluation took, not how good the model is, so they do not get
  the `val_` prefix that marks a metric;
- a file cut short by a save in progress keeps its complete entries.

`newest_checkpoint_state` helps discovery read one run from the newest of
its `checkpoint-N/` copies.

The state holds no hyperparameters; Trainer saves them as `training_args.bin`,
a pickle, which is never loaded (unpickling runs code). With
`report_to=["tensorboard"]` they are also written as JSON text at the start of
the event file under `<output_dir>/runs/<date>_<host>/` (logging_dir's
default): `_tensorboard_args` takes the run's config from there.
"""

from __future__ import annotations

import bisect
import json
import math
import os
import re
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from metricwatch.metrics import ALIASES
from metricwatch.model import STEP, Problem, ProblemKind, Series, Table
from metricwatch.readers.base import FileFormat, ParseResult
from metricwatch.readers.json_text import (
    DECODER,
    collision_problem,
    cut_off,
    non_numeric_problem,
    quote_key,
    salvage,
    skip,
    to_number,
    whole_number,
)
from metricwatch.readers.tfevents import event_files, file_order
from metricwatch.readers.tfevents_args import args_in_file

NAME = "trainer_state.json"

#: Largest step we believe: more is garbage, not a very long training.
MAX_STEP = 10**12

#: Trainer's own names for the canonical keys.
_KEYS = {
    "loss": "train_loss",
    "learning_rate": "lr",
    "grad_norm": "grad_norm",
    "eval_loss": "val_loss",
}

#: Evaluation metric names (after eval_ -> val_) that the registry knows by another name.
_VAL_KEYS = {
    "val_acc": "val_accuracy",
    "val_map": "val_mAP",  # torchmetrics MeanAveragePrecision, as HF's detection examples log it
    "val_map_50": "val_mAP_50",
    "val_map_75": "val_mAP_75",
    "val_mean_iou": "val_mIoU",  # evaluate's mean_iou, as HF's segmentation examples log it
    "val_overall_accuracy": "val_pixel_acc",
    "val_roc_auc": "val_auroc",
}

#: How long an evaluation took: not a metric of the model, kept under its own name.
_TIMING_SUFFIXES = ("_runtime", "_samples_per_second", "_steps_per_second")

#: Keys whose presence marks the whole-run summary entry Trainer.train() appends at the end.
_SUMMARY_MARKERS = frozenset(
    {"train_runtime", "train_samples_per_second", "train_steps_per_second"}
)

#: Top-level keys that become meta under a name the rest of metricwatch knows.
_META_KEYS = {
    "max_steps": "total_steps",
    "num_train_epochs": "total_epochs",
    "best_metric": "best_metric",
    "best_model_checkpoint": "best_model_checkpoint",
    "best_global_step": "best_global_step",
    "global_step": "global_step",
}

_CHECKPOINT = re.compile(r"checkpoint-([0-9]+)")


def newest_checkpoint_state(directory_names: list[str]) -> str | None:
    """The newest `checkpoint-N` among an output folder's subfolder names (by N, not by
    name: checkpoint-1000 is newer than checkpoint-500), or None when there is none.

    Each checkpoint holds a full copy of trainer_state.json up to its step, so a run
    folder with checkpoints is one run, read from the newest one (or the root file).
    Trainer's `tmp-checkpoint-N` (a save in progress) is not a checkpoint yet.
    """
    best: tuple[int, str] | None = None
    for name in directory_names:
        match = _CHECKPOINT.fullmatch(name)
        if match is None or len(match.group(1)) > 18:
            continue
        candidate = (int(match.group(1)), name)
        if best is None or candidate > best:
            best = candidate
    return None if best is None else best[1]


def parse_trainer_state(data: bytes) -> ParseResult:
    """Parse the bytes of a trainer_state.json. Never raises on content."""
    problems: list[Problem] = []
    text = decode_text(data, problems)
    if not text.strip():
        problems.append(Problem(ProblemKind.EMPTY, f"{NAME} is empty (a save may be in progress)"))
        return ParseResult(problems=problems)
    try:
        document = _load(text, problems)
    except RecursionError:
        problems.append(Problem(ProblemKind.INVALID_JSON, f"{NAME} is nested too deeply"))
        return ParseResult(problems=problems)
    except ValueError as error:  # any other refusal of the json module: still content
        problems.append(Problem(ProblemKind.INVALID_JSON, f"{NAME}: {error}"))
        return ParseResult(problems=problems)
    if document is None:
        return ParseResult(problems=problems)
    if not isinstance(document, dict):
        problems.append(
            Problem(
                ProblemKind.NOT_OURS,
                f"{NAME} holds a JSON {type(document).__name__}, not a Trainer state",
            )
        )
        return ParseResult(problems=problems)
    history = document.get("log_history")
    if not isinstance(history, list):
        cut_short = any(p.kind is ProblemKind.TRUNCATED for p in problems)
        if history is not None or not cut_short:
            problems.append(
                Problem(
                    ProblemKind.NOT_OURS,
                    f'{NAME} has no "log_history" list; it is not a Trainer state',
                )
            )
        history = []
    result = ParseResult(problems=problems)
    result.meta, result.extra = _meta(document)
    result.table = _table(history, result.meta, problems)
    key = _best_metric_key(result.table, result.meta)
    if key is not None:
        result.meta["best_metric_key"] = key
    return result


def _best_metric_key(table: Table, meta: dict[str, Any]) -> str | None:
    """Which series best_metric is (metric_for_best_model is not in the state): the one
    key whose value at the best checkpoint's step is exactly best_metric."""
    best = meta.get("best_metric")
    step = meta.get("best_global_step")
    if step is None:
        match = _CHECKPOINT.search(str(meta.get("best_model_checkpoint", "")))
        step = int(match.group(1)) if match and len(match.group(1)) <= 18 else None
    if best is None or step is None or not math.isfinite(best):
        return None
    found = [
        key
        for key, series in table.series.items()
        if np.any((series.steps == step) & (series.values == best))
    ]
    return found[0] if len(found) == 1 else None


def decode_text(data: bytes, problems: list[Problem]) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        problems.append(
            Problem(
                ProblemKind.ENCODING,
                f"{NAME} is not valid UTF-8 (first bad byte at offset {error.start}); "
                "undecodable bytes were replaced",
            )
        )
        return data.decode("utf-8-sig", errors="replace")


def _load(text: str, problems: list[Problem]) -> Any:
    """The document, or what a file cut short (or damaged) still holds of it."""
    try:
        return DECODER.decode(text)
    except json.JSONDecodeError as error:
        salvaged = salvage(text, skip(text, 0))
        where = f"line {error.lineno}, column {error.colno}"
        if salvaged is None or (not salvaged and not cut_off(text, error)):
            problems.append(
                Problem(
                    ProblemKind.INVALID_JSON, f"{NAME} is not valid JSON ({where}: {error.msg})"
                )
            )
            return None
        if cut_off(text, error):
            problems.append(
                Problem(
                    ProblemKind.TRUNCATED,
                    f"{NAME} ends mid-document ({where}): a save in progress or an "
                    "interrupted one; kept the complete entries",
                )
            )
        else:
            problems.append(
                Problem(
                    ProblemKind.INVALID_JSON,
                    f"{NAME} is corrupt at {where} ({error.msg}); kept what comes before",
                )
            )
        return salvaged


def _meta(document: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Planned length and best checkpoint to meta; the rest of the state to extra."""
    meta: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    for key, value in document.items():
        if key == "log_history":
            continue
        name = _META_KEYS.get(key)
        if name is None:
            extra[key] = value
        elif name in ("total_steps", "total_epochs", "global_step", "best_global_step"):
            number = to_number(value)
            if number is not None and math.isfinite(number) and number > 0:
                meta[name] = int(number) if number.is_integer() else number
        elif name == "best_metric":
            number = to_number(value)
            if number is not None:
                meta[name] = number
        elif isinstance(value, str):
            meta[name] = value
    return meta, extra


class _Tally:
    """What the table builder skipped, merged or cut, turned into problems at the end."""

    def __init__(self) -> None:
        self.non_numeric: Counter[str] = Counter()
        self.not_objects = 0
        self.no_step = 0
        self.restarts: list[str] = []
        self.collisions: set[str] = set()

    def report(self, problems: list[Problem]) -> None:
        if self.not_objects:
            problems.append(
                Problem(
                    ProblemKind.NOT_OURS,
                    f"skipped {self.not_objects} log_history entries that are not objects",
                )
            )
        if self.no_step:
            problems.append(
                Problem(
                    ProblemKind.BAD_EPOCH,
                    f'skipped {self.no_step} log_history entries without a usable "step"',
                )
            )
        for problem in (
            non_numeric_problem(self.non_numeric),
            collision_problem(self.collisions),
        ):
            if problem is not None:
                problems.append(problem)
        if self.restarts:
            problems.append(
                Problem(
                    ProblemKind.RESTART,
                    "the step went back (resumed from a checkpoint) at step "
                    + ", ".join(self.restarts[:3])
                    + "; the later entries replace the earlier ones",
                )
            )


def canonical_key(raw: str) -> str:
    """The registry's name for a Trainer log key (unknown keys keep their own name)."""
    known = _KEYS.get(raw)
    if known is not None:
        return known
    if raw.startswith("eval_") and not raw.endswith(_TIMING_SUFFIXES):
        raw = "val_" + raw[len("eval_") :]
        return _VAL_KEYS.get(raw, ALIASES.get(raw, raw))
    return raw


def _step(value: Any) -> int | None:
    return whole_number(value, MAX_STEP)


def _is_summary(entry: dict[str, Any]) -> bool:
    """Trainer.train()'s closing entry: run totals, not a point of the run."""
    if not _SUMMARY_MARKERS.isdisjoint(entry):
        return True
    # Before 4.x timings, the closing entry held only the step, epoch and total_flos.
    return "total_flos" in entry and set(entry) <= {"step", "epoch", "total_flos", "train_loss"}


def _table(history: list[Any], meta: dict[str, Any], problems: list[Problem]) -> Table:
    """Entries to one record per step, then to columns (every Series shares nothing mutable)."""
    tally = _Tally()
    steps: list[int] = []
    records: list[dict[str, tuple[float, float]]] = []  # per step: key -> (value, epoch)
    sources: dict[str, str] = {}
    summary: dict[str, float] = {}
    for entry in history:
        if not isinstance(entry, dict):
            tally.not_objects += 1
            continue
        if _is_summary(entry):
            _summarise(entry, summary)
            continue
        values = _values(entry, tally, sources, meta)
        if not values:
            continue  # predict_* only, or nothing numeric: not a point of the run
        step = _step(entry.get("step"))
        if step is None:
            tally.no_step += 1
            continue
        epoch = to_number(entry.get("epoch"))
        epoch = math.nan if epoch is None else epoch
        if steps and step < steps[-1]:
            tally.restarts.append(f"{step} (after {steps[-1]})")
            cut = bisect.bisect_left(steps, step)
            del steps[cut:]
            del records[cut:]
        if not steps or step != steps[-1]:
            steps.append(step)
            records.append({})
        record = records[-1]
        for key, value in values.items():
            record[key] = (value, epoch)
    tally.report(problems)
    for key, value in summary.items():
        meta[key] = value
    if sources:
        meta["source_keys"] = sources
    return _columns(steps, records)


def _values(
    entry: dict[str, Any], tally: _Tally, sources: dict[str, str], meta: dict[str, Any]
) -> dict[str, float]:
    """An entry's numbers under canonical keys; predict_* and total_flos left out."""
    values: dict[str, float] = {}
    raw_of: dict[str, str] = {}
    for raw, value in entry.items():
        if raw in ("step", "epoch") or raw.startswith("predict_") or value is None:
            continue
        number = value if type(value) is float else to_number(value)
        if number is None:
            tally.non_numeric[raw] += 1
            continue
        if raw == "total_flos":  # a running total some versions log with every entry
            meta["total_flos"] = number
            continue
        key = canonical_key(raw)
        if key in values:
            tally.collisions.add(" and ".join(sorted((quote_key(raw_of[key]), quote_key(raw)))))
            if not _direct(raw, key):
                continue  # an alias never overrides the direct spelling
        values[key] = number
        raw_of[key] = raw
        if key != raw and (key not in sources or _direct(raw, key)):
            sources[key] = raw
    return values


def _direct(raw: str, key: str) -> bool:
    """Whether raw is the plain spelling of key (eval_accuracy of val_accuracy, not eval_acc)."""
    if raw.startswith("eval_"):
        raw = "val_" + raw[len("eval_") :]
    return _KEYS.get(raw, raw) == key


def _summarise(entry: dict[str, Any], summary: dict[str, float]) -> None:
    for raw, value in entry.items():
        if raw in ("step", "epoch"):
            continue
        number = to_number(value)
        if number is not None:
            # The run's mean training loss: not the last value of the train_loss series.
            summary["mean_train_loss" if raw == "train_loss" else raw] = number


def _columns(steps: list[int], records: list[dict[str, tuple[float, float]]]) -> Table:
    columns: dict[str, tuple[list[int], list[float], list[float]]] = {}
    for step, record in zip(steps, records):
        for key, (value, epoch) in record.items():
            column = columns.get(key)
            if column is None:
                column = columns[key] = ([], [], [])
            column[0].append(step)
            column[1].append(value)
            column[2].append(epoch)
    all_steps = np.asarray(steps, dtype=np.int64)
    series: dict[str, Series] = {}
    for key, (column_steps, values, epochs) in columns.items():
        epochs_array = np.asarray(epochs, dtype=np.float64)
        shared = len(column_steps) == len(steps)
        series[key] = Series(
            key,
            all_steps if shared else np.asarray(column_steps, dtype=np.int64),
            np.asarray(values, dtype=np.float64),
            None if np.isnan(epochs_array).all() else epochs_array,
        )
    return Table(all_steps, series, STEP)


_HEAD_KEYS = (b'"log_history"', b'"global_step"', b'"best_metric"', b'"best_global_step"')


def _sniff(head: bytes) -> bool:
    """A JSON object naming a Trainer state key near its start (the file is pretty-printed
    with sorted keys, so best_* and global_step come first), or one so short that the
    first key is still being written."""
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if not text:
        return True  # trainer_state.json being written: parse says EMPTY
    if not text.startswith(b"{"):
        return False
    return any(key in text for key in _HEAD_KEYS) or (len(head) < 64 and b":" not in text)


def _checkpoint_state(directory: Path, subdirs: list[str]) -> Path | None:
    """An output folder with no trainer_state.json of its own (training in progress): the
    state of its newest checkpoint that holds one (a checkpoint being saved may not yet)."""
    names = [name for name in subdirs if _CHECKPOINT.fullmatch(name)]
    while names:
        newest = newest_checkpoint_state(names)
        if newest is None:
            return None
        path = directory / newest / NAME
        if os.path.isfile(path):
            return path
        names.remove(newest)
    return None


def _newest_checkpoint_dir(run_dir: Path) -> list[Path]:
    """The newest checkpoint folder, watched so its trainer_state.json is seen when written."""
    try:
        names = [entry.name for entry in os.scandir(run_dir) if entry.is_dir()]
    except OSError:
        return []
    newest = newest_checkpoint_state(names)
    return [run_dir / newest] if newest is not None else []


def _tensorboard_args(path: Path) -> dict[str, Any]:
    """{"config": the TrainingArguments} from the newest event file in the output folder's
    `runs/*/` (the run's own `runs/` when it was run again in the same folder), or {}.

    `path` is the trainer_state.json read: in the output folder or in one of its
    `checkpoint-N/`. Only the first ARGS_WINDOW bytes of the event file are read (the
    callback writes the arguments before any scalar). A logging_dir set elsewhere, or a
    hyperparameter search's `runs/<date>/<trial>/`, is not looked for. Never raises.
    """
    output = path.parent
    if _CHECKPOINT.fullmatch(output.name):
        output = output.parent
    newest = _newest_event_file(output / "runs")
    if newest is None:
        return {}
    args, _ = args_in_file(newest)
    return {"config": args} if args is not None else {}


def _newest_event_file(runs: Path) -> Path | None:
    """The event file of `runs/*/` with the newest timestamp in its name (the TensorBoard
    reader's order); None when there is none or `runs/` cannot be listed."""
    try:
        folders = [Path(entry.path) for entry in os.scandir(runs) if entry.is_dir()]
    except OSError:
        return None
    files = [file for folder in folders for role, file in event_files(folder) if not role]
    return max(files, key=lambda file: file_order(file.name), default=None)


FORMAT = FileFormat(
    name="hf_trainer_state",
    label="Hugging Face Trainer trainer_state.json",
    patterns=("trainer_state.json",),
    sniff=_sniff,
    parse=parse_trainer_state,
    nested=_checkpoint_state,
    owned=_newest_checkpoint_dir,
    described=_tensorboard_args,
)
