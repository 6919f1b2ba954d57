"""PyTorch Lightning `CSVLogger` files (`metrics.csv`), and legacy test-tube ones.

x is the optimiser step (the `step` column); `epoch` gives each point's epoch.
Quirks handled here:
- sparse rows: train values, val values and learning rates each sit on their
  own rows, with empty cells for the rest; one step can have two rows (the
  last train row and the validation row of an epoch end): a key takes its
  value from whichever row has it (the last one if both do);
- `lr-<Optimizer>` rows (LearningRateMonitor) have an empty epoch: the epoch
  of another row at the same step is used where there is one (the largest; a
  row a resume dropped dates none), else NaN;
  the first `lr-*` column is `lr`, further ones (`lr-Adam/pg2`, `lr-SGD-1`)
  keep their names;
- `x_step`/`x_epoch` pairs (self.log(on_step=True, on_epoch=True)): the
  `_epoch` one is the epoch's mean and becomes the key (`train_loss_epoch` ->
  train_loss, comparable with val_loss logged once per epoch); the `_step` one
  keeps its own name (`train_loss_step`); a `_step` without an `_epoch` one
  becomes the key;
- slash names (`train/loss` -> train_loss, `val/acc` -> val_accuracy),
  `valid_`/`validation_` prefixes -> `val_`, then the registry's aliases;
- `nan` cells are NaN values (the model's), empty cells are absent;
- Lightning 2.x rewrites the file with a new header when a key appears: every
  read is a whole read, so it needs nothing special;
- a step going back (a resumed run writing to the same file): later rows win;
- legacy test-tube files (`created_at`, `epoch`, no `step`): one row per
  epoch is an epoch run; several rows per epoch become a step run counted by
  row; `created_at` gives each point's time.

`hparams.yaml` beside the file is the run's config: parse_hparams reads it
(parse_meta_tags reads test-tube's `meta_tags.csv`).
"""

from __future__ import annotations

import re
from datetime import datetime, timezone
from functools import lru_cache

import numpy as np

from metricwatch.metrics import ALIASES
from metricwatch.model import EPOCH, STEP, Problem, ProblemKind, Table
from metricwatch.readers import csv_table
from metricwatch.readers.appended_rows import NewPoints, RowAppends
from metricwatch.readers.base import FileFormat, ParseResult
from metricwatch.readers.csv_numbers import read_numeric_table
from metricwatch.readers.csv_rows import header_again, header_names, key_columns
from metricwatch.readers.lightning_rows import RowPlan, last_step_lines, step_rows

NAME = "metrics.csv"
_AXES = ("step", "epoch", "created_at")
_LR = re.compile(r"lr-[^/]+(/pg\d+)?")


def parse_lightning_csv(data: bytes) -> ParseResult:
    """Read a Lightning CSVLogger metrics.csv. Never raises on content."""
    table = read_numeric_table(data, text_columns=("created_at",))
    if table is None:
        table = csv_table.read_table(data, NAME)
    result = ParseResult(problems=table.problems)
    if not table.header:
        return result
    header = table.header
    if "step" not in header and "epoch" not in header:
        result.problems.append(
            Problem(
                ProblemKind.NOT_OURS,
                f"{NAME} has neither a 'step' nor an 'epoch' column: not a Lightning log",
            )
        )
        return result
    epoch_column = table.column("epoch")
    row_epochs = np.full(table.nrows, np.nan)
    row_epochs[epoch_column.rows] = epoch_column.values
    row_times = _times(table.text("created_at")) if "created_at" in header else None
    if "step" in header:
        x = STEP
        row_x, usable = _whole(table.column("step"), table.nrows)
        what = "step"
    else:
        row_x, usable = _whole(epoch_column, table.nrows)
        x, what = EPOCH, "epoch"
        if len(np.unique(row_x[usable])) < int(usable.sum()):
            # test-tube with several rows per epoch: count the rows
            x, what = STEP, "row"
            row_x, usable = np.arange(table.nrows, dtype=np.int64), np.ones(table.nrows, bool)
            result.meta["x_is_row_number"] = True
    bad = table.nrows - int(usable.sum())
    if bad:
        result.problems.append(
            Problem(ProblemKind.BAD_EPOCH, f"{bad} rows of {NAME} have no usable {what}; skipped")
        )
    rows = np.flatnonzero(usable)
    kept, restarts = csv_table.keep_after_resumes(row_x[rows], strict=(x == EPOCH))
    keep = np.zeros(table.nrows, dtype=bool)
    keep[rows[kept]] = True
    if "step" in header:
        row_epochs = _fill_epochs(row_x, keep, row_epochs)
    if restarts:
        result.problems.append(csv_table.restart_problem(restarts, what))
    keys, source_keys, collisions = csv_table.assign_keys(_wanted(header))
    series, steps, non_numeric = csv_table.build_series(
        table,
        keys,
        row_x,
        keep,
        row_epochs=row_epochs if x == STEP and "epoch" in header else None,
        row_times=row_times,
    )
    result.table = Table(steps, series, x)
    result.meta["source_keys"] = source_keys
    if collisions:
        result.problems.append(csv_table.collision_problem(collisions))
    found = csv_table.non_numeric_problem(non_numeric, NAME)
    if found:
        result.problems.append(found)
    if not keys and table.nrows:
        result.problems.append(
            Problem(
                ProblemKind.EMPTY,
                f"{NAME} has rows but no metric columns (only "
                + ", ".join(n for n in header if n in _AXES)
                + "): nothing was logged",
            )
        )
    return result


def _whole(column: csv_table.Column, nrows: int) -> tuple[np.ndarray, np.ndarray]:
    """Each row's whole number from a column (0 where none) and which rows have one."""
    good = csv_table.whole_numbers(column)
    row_x = np.zeros(nrows, dtype=np.int64)
    usable = np.zeros(nrows, dtype=bool)
    row_x[column.rows[good]] = column.values[good].astype(np.int64)
    usable[column.rows[good]] = True
    return row_x, usable


def _fill_epochs(row_x: np.ndarray, usable: np.ndarray, epochs: np.ndarray) -> np.ndarray:
    """A row without an epoch (an lr row) takes the epoch of a row at the same step. Only
    the rows kept (`usable`) date each other: the rows a resume dropped are the run it
    left, and a reader that follows the file from its last lines does not see them."""
    known = usable & np.isfinite(epochs)
    unknown = np.flatnonzero(usable & ~np.isfinite(epochs))
    if not len(unknown) or not known.any():
        return epochs
    order = np.lexsort((epochs[known], row_x[known]))
    known_steps, known_epochs = row_x[known][order], epochs[known][order]
    # the last of each step in this order holds the step's largest epoch
    last = np.append(known_steps[1:] != known_steps[:-1], True)
    known_steps, known_epochs = known_steps[last], known_epochs[last]
    at = np.searchsorted(known_steps, row_x[unknown])
    at_clipped = np.minimum(at, len(known_steps) - 1)
    match = known_steps[at_clipped] == row_x[unknown]
    filled = epochs.copy()
    filled[unknown[match]] = known_epochs[at_clipped[match]]
    return filled


def _times(cells: list[str]) -> np.ndarray:
    """test-tube's `created_at` (local time, no zone: read as UTC) to Unix seconds."""
    times = np.full(len(cells), np.nan)
    for index, cell in enumerate(cells):
        try:
            moment = datetime.fromisoformat(cell)
        except ValueError:
            continue
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=timezone.utc)
        times[index] = moment.timestamp()
    return times


def canonical(name: str) -> str:
    """The registry key a Lightning column name means (without the _step/_epoch rule)."""
    key = csv_table.slash_safe(name.strip())
    for prefix in ("validation_", "valid_"):
        if key.startswith(prefix):
            key = "val_" + key[len(prefix) :]
    return ALIASES.get(key, key)


def _wanted(header: list[str]) -> list[tuple[str, str]]:
    """(column, key) for every metric column of a header."""
    names = [n for n in header if n not in _AXES]
    present = set(names)
    wanted = []
    lr_taken = False
    for name in names:
        if _LR.fullmatch(name) and not lr_taken:
            wanted.append((name, "lr"))
            lr_taken = True
            continue
        for suffix, sibling in (("_epoch", "_step"), ("_step", "_epoch")):
            base = name[: -len(suffix)]
            if name.endswith(suffix) and base and base not in present:
                if suffix == "_epoch" or base + sibling not in present:
                    wanted.append((name, canonical(base)))
                else:
                    wanted.append((name, csv_table.slash_safe(name)))
                break
        else:
            wanted.append((name, canonical(name)))
    return wanted


def _sniff(head: bytes) -> bool:
    """The header names a `step` or an `epoch` column (Lightning writes both)."""
    text = head.decode("utf-8", errors="ignore").lstrip("\ufeff")
    lines, terminated = csv_table.split_lines(text)
    if not lines:
        return False
    fields = [f.strip().strip('"') for f in lines[0].split(csv_table.detect_delimiter(lines[0]))]
    if not terminated and len(lines) == 1:
        # a header cut short: its last name may be the start of `step` or `epoch`
        *complete, partial = fields
        if partial and ("step".startswith(partial) or "epoch".startswith(partial)):
            return True
        fields = complete
    return "step" in fields or "epoch" in fields


# --- a write's new rows alone (the fast path of an appended log: readers/appended_rows.py) ---


@lru_cache(maxsize=32)
def _row_plan(header: bytes) -> RowPlan | None:
    """How a step log's rows are read (its keys as the parse names them); None for a file
    the fast path leaves to the parse (test-tube's: by epoch, or with `created_at`)."""
    found = header_names(header, NAME)
    if found is None:
        return None
    names, delimiter = found
    if "step" not in names or "created_at" in names:
        return None
    columns = key_columns(list(names), _wanted(list(names)))
    epoch = names.index("epoch") if "epoch" in names else None
    return RowPlan(delimiter, len(names), names.index("step"), epoch, columns)


def read_new_rows(header: bytes, context: list[bytes], complete: bytes) -> NewPoints | None:
    """The points new plain rows of a step log add (lightning_rows), or None."""
    plan = _row_plan(header)
    return None if plan is None else step_rows(plan, complete)


def rows_at_last_step(header: bytes, lines: list[bytes]) -> int | None:
    """How many of the last lines hold every row at the last step (lightning_rows)."""
    return last_step_lines(header, lines, NAME)


def parse_meta_tags(data: bytes) -> dict:
    """The config in a legacy test-tube `meta_tags.csv` (`key,value` rows), values typed
    as in parse_hparams. Never raises."""
    table = csv_table.read_table(data, "meta_tags.csv")
    if table.header[:2] != ["key", "value"]:
        return {}
    return {
        key: _scalar(value) if value else None
        for key, value in zip(table.text("key"), table.text("value"))
        if key
    }


# --- hparams.yaml ----------------------------------------------------------------------------


def parse_hparams(text: str) -> dict:
    """The config in a Lightning `hparams.yaml` (or an Ultralytics `args.yaml`).

    A small YAML subset, enough for what `yaml.dump` writes for hyperparameters:
    `key: value` lines, nested mappings by indentation, `- item` lists and
    `[a, b]` flow lists of scalars; values typed as int, float, bool or None,
    quotes removed, `!!python/...` tags dropped. Anything else is kept as its
    text. Never raises.
    """
    lines = []
    for raw in text.splitlines():
        stripped = raw.strip()
        if not stripped or stripped.startswith("#") or stripped in ("---", "..."):
            continue
        lines.append((len(raw) - len(raw.lstrip(" ")), stripped))
    if not lines:
        return {}
    value, _ = _block(lines, 0, lines[0][0])
    return value if isinstance(value, dict) else {}


def _block(lines: list[tuple[int, str]], i: int, indent: int) -> tuple[object, int]:
    if lines[i][1].startswith("- ") or lines[i][1] == "-":
        items: list[object] = []
        while i < len(lines) and lines[i][0] == indent and lines[i][1].startswith("-"):
            rest = lines[i][1][1:].strip()
            i += 1
            if rest:
                items.append(_scalar(rest))
            elif i < len(lines) and lines[i][0] > indent:
                value, i = _block(lines, i, lines[i][0])
                items.append(value)
            else:
                items.append(None)
        return items, i
    mapping: dict[str, object] = {}
    while i < len(lines) and lines[i][0] >= indent:
        level, content = lines[i]
        i += 1
        if level > indent:
            continue  # a line we do not understand: skipped
        key, rest = _key_value(content)
        if key is None:
            continue
        if rest:
            mapping[key] = _scalar(rest)
        elif i < len(lines) and (
            lines[i][0] > indent or (lines[i][0] == indent and lines[i][1].startswith("- "))
        ):
            mapping[key], i = _block(lines, i, lines[i][0])
        else:
            mapping[key] = None
    return mapping, i


def _key_value(content: str) -> tuple[str | None, str]:
    if content.endswith(":"):
        key, rest = content[:-1], ""
    elif ": " in content:
        key, rest = content.split(": ", 1)
    else:
        return None, ""
    key = key.strip()
    if len(key) >= 2 and key[0] == key[-1] and key[0] in "'\"":
        key = key[1:-1]
    rest = rest.strip()
    if rest.startswith("!!") or rest.startswith("!"):
        rest = rest.split(" ", 1)[1].strip() if " " in rest else ""
    return key, rest


def _scalar(text: str) -> object:
    text = text.strip()
    if text[:1] in "'\"":
        end = text.find(text[0], 1)
        return text[1:end] if end > 0 else text[1:]
    if " #" in text:
        text = text.split(" #", 1)[0].rstrip()
    if text.startswith("[") and text.endswith("]"):
        inner = text[1:-1].strip()
        return [_scalar(part) for part in inner.split(",")] if inner else []
    lowered = text.lower()
    if lowered in ("null", "~", ""):
        return None
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered in (".inf", "+.inf", "-.inf", ".nan"):
        return float(lowered.replace(".", ""))
    if re.fullmatch(r"[-+]?\d+", text) and len(text) < 100:
        return int(text)
    if re.fullmatch(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?", text):
        return float(text)
    return text


FORMAT = FileFormat(
    name="lightning_csv",
    label="PyTorch Lightning CSVLogger metrics.csv",
    patterns=("metrics.csv",),
    sniff=_sniff,
    parse=parse_lightning_csv,
    sidecars=(
        ("hparams.yaml", lambda data: {"config": parse_hparams(data.decode("utf-8", "replace"))}),
        ("meta_tags.csv", lambda data: {"config": parse_meta_tags(data)}),  # test-tube
    ),
    appends=RowAppends(
        header_lines=1,
        context_lines=2,
        rows=read_new_rows,
        parse=parse_lightning_csv,
        unfollowed=header_again,
        last_step_lines=rows_at_last_step,
    ),
)
