"""The summary table (seed §5) as plain data: a function of a run's series.

Each figure that appears in more than one place (the best value of a
series, the mean epoch time) is computed here, by one function, and the
charts and the findings call it too, so the same quantity never shows two
numbers. All arithmetic is on float64 arrays and safe against overflow:
a value of 1e308 gives an infinite sum, shown as "—", never an exception.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np

from metricwatch.metrics import (
    MAIN_METRIC,
    Direction,
    Task,
    declared_scales,
    format_duration,
    format_value,
    infer_task,
    spec_for,
    task_metric_keys,
    value_scale,
)
from metricwatch.model import EPOCH, Run, Series


@dataclass(frozen=True)
class Best:
    """A series' best value, the step it was logged at, and that point's epoch where known."""

    value: float
    step: int
    epoch: float | None = None

    def as_json(self, x: str) -> dict[str, float | int | None]:
        """`{"value", "step", "epoch"}`; in an epoch run the step is the epoch."""
        epoch = self.step if x == EPOCH else self.epoch
        return {"value": self.value, "step": self.step, "epoch": epoch}


@dataclass(frozen=True)
class MetricLine:
    """One task metric's row: its last value and its best value with its step.

    `scale` is the one the values are on (100 for a 0-100 percentage): the format's
    declared scale where it gives one, else fraction_scale's guess. The charts and the
    report take it from here, so a value prints and draws the same everywhere.
    """

    key: str
    label: str
    last: float | None
    last_step: int | None
    best: Best | None
    scale: float = 1.0

    def format(self, value: float | None) -> str:
        return format_value(self.key, value, scale=self.scale)


@dataclass
class RunSummary:
    """The seed's summary table as data. `best_step` is the x position of the best value
    of `best_by` (the epoch number in an epoch run); `steps` counts logged steps."""

    epochs: int
    total_epochs: int | None
    task: Task | None
    best_step: int | None
    best_by: str | None
    training_time_s: float | None
    mean_epoch_s: float | None
    last: dict[str, float | None] = field(default_factory=dict)
    best: dict[str, Best] = field(default_factory=dict)
    metrics: list[MetricLine] = field(default_factory=list)
    x: str = EPOCH
    steps: int = 0
    best_epoch_of_step: float | None = None
    last_step: int | None = None
    total_steps: int | None = None

    @property
    def best_epoch(self) -> float | None:
        """The epoch of the best point: the best step itself in an epoch run."""
        return self.best_step if self.x == EPOCH else self.best_epoch_of_step

    @property
    def epochs_label(self) -> str:
        if self.total_epochs:
            return f"{self.epochs} / {self.total_epochs}"
        return str(self.epochs)

    def progress(self, *, compact: bool = False) -> str:
        """How far the run is, the one wording for header, runs list and summary table.

        Epoch runs: `epoch 23 / 50` (compact `23/50`). Step runs: `step 1,200 / 5,000 ·
        epoch 2` (compact `1.2k/5k st`), the epoch only where the source gives it, with
        the planned epochs when the planned steps are not known (`step 300 · epoch 3 / 5`).
        """
        if self.x == EPOCH:
            done = f"{self.epochs}/{self.total_epochs}" if self.total_epochs else str(self.epochs)
            return done if compact else f"epoch {done.replace('/', ' / ')}"
        step = self.last_step if self.last_step is not None else 0
        if compact:
            total = f"/{_count(self.total_steps)}" if self.total_steps else ""
            return f"{_count(step)}{total} st"
        text = f"step {step:,}" + (f" / {self.total_steps:,}" if self.total_steps else "")
        if not self.epochs:
            return text
        planned = f" / {self.total_epochs}" if self.total_epochs and not self.total_steps else ""
        return f"{text} · epoch {self.epochs}{planned}"

    def rows(self) -> list[tuple[str, str]]:
        """The seed's two-column table: (Metric, Value), in the seed's order."""
        rows = [
            ("Train Loss", format_value("train_loss", self.last.get("train_loss"))),
            ("Val Loss", format_value("val_loss", self.last.get("val_loss"))),
        ]
        for line in self.metrics:
            text = line.format(line.last)
            if line.best is not None and line.best.step != line.last_step:
                text += f"  (best {line.format(line.best.value)} @ {line.best.step})"
            rows.append((line.label, text))
        best = "—"
        if self.x == EPOCH:
            if self.best_step is not None:
                best = f"{self.best_step} / {self.total_epochs or self.epochs}"
            rows.append(("Best Epoch", best))
        else:
            if self.best_step is not None:
                best = f"{self.best_step:,}"
                if self.best_epoch_of_step is not None:
                    best += f" (epoch {self.best_epoch_of_step:.2f})"
            rows.append(("Best Step", best))
        rows.append(("Training Time", format_duration(self.training_time_s)))
        rows.append(("Mean Epoch", format_duration(self.mean_epoch_s)))
        if self.x == EPOCH:
            rows.append(("Epochs (actual)", self.epochs_label))
        else:
            rows.append(("Progress", self.progress()))
        return rows


def _count(n: int) -> str:
    """1,200 -> 1.2k, 25_000 -> 25k, 3_400_000 -> 3.4M: short enough for a list column."""
    for size, unit in ((1_000_000_000, "G"), (1_000_000, "M"), (1_000, "k")):
        if abs(n) >= size * 0.9995:  # 999,999 reads 1M, not 1000k
            value = n / size
            return (
                f"{value:.1f}".rstrip("0").rstrip(".") + unit
                if abs(value) < 99.95
                else f"{value:.0f}{unit}"
            )
    return str(n)


def total_steps(run: Run) -> int | None:
    """The planned number of steps where the source says (HF max_steps), else None."""
    total = run.meta.get("total_steps")
    if isinstance(total, bool) or not isinstance(total, int) or total <= 0:
        return None
    return total


def best_of(series: Series) -> Best | None:
    """The best finite value of a series by its key's direction; earliest wins ties."""
    values = series.values
    if not len(values):
        return None
    higher = spec_for(series.key).direction is Direction.HIGHER
    # argmin/argmax stop at the first NaN and pick an infinity first: a finite answer means
    # the series has neither, and it is the best (the first of ties). One pass, no copy.
    index = int(np.argmax(values) if higher else np.argmin(values))
    if not math.isfinite(values[index]):
        finite = np.isfinite(values)
        if not finite.any():
            return None
        masked = np.where(finite, values, -np.inf if higher else np.inf)
        index = int(np.argmax(masked) if higher else np.argmin(masked))  # first of ties
    return Best(float(values[index]), int(series.steps[index]), series.epoch_at(index))


def _durations(run: Run) -> np.ndarray:
    values = run.series("duration_s").values
    return values[np.isfinite(values) & (values >= 0)]


def training_time_s(run: Run) -> float | None:
    """The sum of the logged epoch durations; None without any, or when it overflows."""
    durations = _durations(run)
    if not len(durations):
        return None
    with np.errstate(over="ignore"):
        total = float(np.sum(durations))
    return total if np.isfinite(total) else None


def mean_epoch_s(run: Run) -> float | None:
    """The mean epoch duration: the summary's figure, the stall rule's and the ETA's."""
    durations = _durations(run)
    if not len(durations):
        return None
    mean = float(np.sum(durations / len(durations)))  # divided first: cannot overflow
    return mean if np.isfinite(mean) else None


def ranking_key(run: Run, task: Task | None) -> str | None:
    """The key that decides the best epoch: val_loss, else the task's main metric."""
    if run.has("val_loss"):
        return "val_loss"
    if task is not None and run.has(MAIN_METRIC[task]):
        return MAIN_METRIC[task]
    for key in task_metric_keys(run.keys):
        if spec_for(key).direction.value != "none":
            return key
    if run.has("train_loss"):
        return "train_loss"
    return None


def summarize(run: Run) -> RunSummary:
    keys = run.keys
    task = infer_task(keys, run.meta.get("task"))
    last: dict[str, float | None] = {}
    best: dict[str, Best] = {}
    for key in keys:
        series = run.series(key)
        last[key] = series.last
        if spec_for(key).direction.value != "none":
            found = best_of(series)
            if found is not None:
                best[key] = found
    by = ranking_key(run, task)
    top = best.get(by) if by is not None else None
    metrics = []
    declared = declared_scales(run.meta)
    for key in task_metric_keys(keys):
        series = run.series(key)
        metrics.append(
            MetricLine(
                key,
                spec_for(key).label,
                series.last,
                series.last_step,
                best.get(key),
                value_scale(key, series.values, declared),
            )
        )
    return RunSummary(
        epochs=run.epochs_done,
        total_epochs=run.total_epochs,
        task=task,
        best_step=top.step if top else None,
        best_by=by,
        training_time_s=training_time_s(run),
        mean_epoch_s=mean_epoch_s(run),
        last=last,
        best=best,
        metrics=metrics,
        x=run.x,
        steps=len(run.table),
        best_epoch_of_step=top.epoch if top else None,
        last_step=run.last_step,
        total_steps=total_steps(run),
    )


#: The entries of a run's meta that summarize and the rules read: a run whose other meta
#: changed (detectron2's `eta_seconds` on every line) is analysed the same.
ANALYSED_META = ("task", "total_epochs", "total_steps", "value_scale")


def with_progress(summary: RunSummary, run: Run) -> RunSummary:
    """`summary` of an earlier read of `run`, brought up to its progress and last values.

    For a run that only grew since: the best values and the figures over the whole run
    stay as they were (the next whole summarize brings them), what the header and the
    last-value cells show is now. No pass over the data: a few lookups per key.
    """
    found = run.table.series
    lasts = {key: series.last for key, series in found.items()}
    metrics = []
    for line in summary.metrics:
        series = found.get(line.key)
        last, last_step = lasts.get(line.key), None if series is None else series.last_step
        if line.last == last and line.last_step == last_step:  # a key this write left alone
            metrics.append(line)
        else:  # (a dataclass replace() costs a few times this, for every key at every write)
            metrics.append(MetricLine(line.key, line.label, last, last_step, line.best, line.scale))
    return replace(
        summary,
        epochs=run.epochs_done,
        total_epochs=run.total_epochs,
        last=lasts,
        metrics=metrics,
        steps=len(run.table),
        last_step=run.last_step,
        total_steps=total_steps(run),
    )
