"""What a logged value, epoch number or step number may be, with errors that name it."""

from __future__ import annotations

import math
import operator
from typing import Any

import torch

from metricwatch.readers.step_log import MAX_STEP
from metricwatch.writer import to_float


def metric_value(key: str, value: Any) -> float | None:
    """A value as the float that goes in the file, or an error that names the metric."""
    if value is None:
        return None
    if isinstance(value, torch.Tensor) and value.numel() != 1:
        raise ValueError(
            f"metric {key!r} is a tensor of shape {tuple(value.shape)}; log a scalar "
            "(e.g. .mean() or .item())"
        )
    try:
        return to_float(value.detach() if isinstance(value, torch.Tensor) else value)
    except OverflowError as error:
        # An integer (or fraction) beyond float range: as large as a float gets, like a
        # float overflow would give. NaN/Inf are legal values in the file.
        try:
            return math.inf if value > 0 else -math.inf
        except TypeError:
            raise ValueError(
                f"metric {key!r} is too large for a float: {type(value).__name__}"
            ) from error
    except (TypeError, ValueError) as error:
        raise TypeError(
            f"metric {key!r} must be a number or a one-element tensor, "
            f"got {type(value).__name__}: {value!r}"
        ) from error


def scalar_tensor(key: str, value: torch.Tensor) -> torch.Tensor:
    """A one-element tensor as a 0-d one, without reading its value (no device sync)."""
    if value.numel() != 1:
        raise ValueError(
            f"metric {key!r} is a tensor of shape {tuple(value.shape)}; log a scalar "
            "(e.g. .mean() or .item())"
        )
    if value.is_complex():
        raise TypeError(f"metric {key!r} is a complex tensor; log a real number")
    return value.reshape(()) if value.dim() else value


def _integer(name: str, value: Any) -> int:
    if isinstance(value, bool):
        raise TypeError(f"{name} must be an integer, not a bool")
    try:
        return operator.index(value)
    except TypeError:
        if isinstance(value, float) and value.is_integer():
            return int(value)
        raise TypeError(f"{name} must be an integer, got {value!r}") from None


def epoch_number(epoch: Any) -> int:
    number = _integer("epoch", epoch)
    if number < 1:
        raise ValueError(
            f"epoch must be >= 1, got {number}: epochs are numbered from 1: pass "
            "epoch=epoch + 1 (in a `for epoch in range(epochs)` loop), or omit epoch to "
            "number automatically"
        )
    return number


def step_number(step: Any) -> int:
    number = _integer("step", step)
    if not 0 <= number <= MAX_STEP:
        raise ValueError(f"step must be between 0 and {MAX_STEP:.0e}, got {number}")
    return number


def fractional_epoch(epoch: Any) -> float:
    """An epoch given to log_step: a finite number >= 0 (1.5 = half way through epoch 2)."""
    number = metric_value("epoch", epoch)
    if number is None or not math.isfinite(number) or number < 0:
        raise ValueError(f"epoch must be a finite number >= 0, got {epoch!r}")
    return number
