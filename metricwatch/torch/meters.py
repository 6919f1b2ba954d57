"""AverageMeter: the seed's running average, safe to feed tensors every step.

Calling .item() on a CUDA loss every batch stalls the GPU queue once per
step. This meter keeps tensor sums on their device (detached, in float64
where the device has it) and converts only when `val`, `avg`, `sum` or
`count` is read, typically once per epoch.
"""

from __future__ import annotations

import numbers
from typing import Any

import torch

from metricwatch.torch.distributed import all_reduce_sum, is_distributed

Number = int | float


class AverageMeter:
    """Running (weighted) average of per-batch values.

    `update(val, n)` counts `val` as the mean of `n` items, so `avg` is the
    mean over items, not over batches. `val` and `n` may be Python numbers,
    numpy scalars or one-element tensors on any device.
    """

    def __init__(self, name: str | None = None, fmt: str = ".4f") -> None:
        self.name = name
        self.fmt = fmt
        self.reset()

    def reset(self) -> None:
        """Forget every update (start of an epoch)."""
        self._val: Number | torch.Tensor = 0.0
        self._sum: Number | torch.Tensor = 0.0
        self._count: Number | torch.Tensor = 0
        self._global: tuple[torch.Tensor, torch.Tensor] | None = None
        self._int_count = True

    def update(self, val: Any, n: Any = 1) -> None:
        """Add `val` as the average of `n` items; tensors stay on their device.

        Tensor sums accumulate in float64 (float32 on MPS) and an integer
        count as an integer, whatever the mix of Python numbers, numpy
        scalars and tensors: `0.1 * torch.tensor(1)` alone would be float32.
        """
        value = _as_scalar(val, "val")
        weight = _as_scalar(n, "n")
        if not _is_integer(weight):
            self._int_count = False
        device = _device_of(self._sum, value, weight)
        self._val = value
        product = _as_float(value, device) * _as_float(weight, device)
        self._sum = _as_float(self._sum, device) + product
        if self._int_count:
            self._count = _as_int(self._count, device) + _as_int(weight, device)
        else:
            self._count = _as_float(self._count, device) + _as_float(weight, device)
        self._global = None

    def synchronize(self) -> None:
        """All-reduce sum and count over ranks so every rank's `avg` is the global one.

        A collective: every rank must call it (a no-op when not distributed).
        The local totals are kept, so calling it twice does not double count;
        a later `update` goes back to this rank's own numbers until the next
        synchronize.
        """
        if not is_distributed():
            return
        totals = torch.stack(
            [
                _as_accumulator_tensor(self._sum, self._sum),
                _as_accumulator_tensor(self._count, self._sum),
            ]
        )
        reduced = all_reduce_sum(totals)
        self._global = (reduced[0], reduced[1])

    @property
    def val(self) -> float:
        """The last value given to update (0.0 before any)."""
        return float(_to_python(self._val))

    @property
    def sum(self) -> float:
        total = self._global[0] if self._global is not None else self._sum
        return float(_to_python(total))

    @property
    def count(self) -> Number:
        """Number of items seen: an int while every `n` was an integer (Python, numpy or tensor)."""
        count = _to_python(self._global[1] if self._global is not None else self._count)
        return round(count) if self._int_count else float(count)

    @property
    def avg(self) -> float:
        """sum / count, converted with one device-to-host transfer; 0.0 before any update."""
        total, count = self._global if self._global is not None else (self._sum, self._count)
        if not isinstance(count, torch.Tensor):
            if count == 0:
                return 0.0
            if not isinstance(total, torch.Tensor):
                return float(total) / count
        # Divide on the device so that reading avg costs a single transfer.
        average = total / count
        if isinstance(count, torch.Tensor):
            average = torch.where(count == 0, 0.0, average)
        return float(average.item())

    def __str__(self) -> str:
        label = f"{self.name} " if self.name else ""
        return f"{label}{self.val:{self.fmt}} ({self.avg:{self.fmt}})"

    def __repr__(self) -> str:
        name = f"name={self.name!r}, " if self.name else ""
        scope = ", synchronized" if self._global is not None else ""
        return (
            f"AverageMeter({name}val={self.val:{self.fmt}}, avg={self.avg:{self.fmt}}, "
            f"count={self.count}{scope})"
        )


def _as_scalar(value: Any, what: str) -> Number | torch.Tensor:
    if isinstance(value, torch.Tensor):
        if value.numel() != 1:
            raise ValueError(
                f"AverageMeter.update: {what} must be a scalar, got a tensor of shape "
                f"{tuple(value.shape)} (reduce it first, e.g. .mean())"
            )
        return value.detach().reshape(())
    if isinstance(value, numbers.Integral):  # Python and numpy integers, bools
        return int(value)
    error: Exception | None = None
    if not isinstance(value, (str, bytes)):
        try:
            return float(value)
        except (TypeError, ValueError) as caught:
            error = caught
    raise TypeError(
        f"AverageMeter.update: {what} must be a number or a one-element tensor, "
        f"got {type(value).__name__}"
    ) from error


def _accumulation_dtype(device: torch.device) -> torch.dtype:
    # float64 keeps long sums exact enough; MPS has no float64.
    return torch.float32 if device.type == "mps" else torch.float64


def _is_integer(value: Number | torch.Tensor) -> bool:
    if isinstance(value, torch.Tensor):
        return not (value.is_floating_point() or value.is_complex())
    return isinstance(value, int)


def _as_float(value: Number | torch.Tensor, device: torch.device | None) -> Number | torch.Tensor:
    """value ready to accumulate: a tensor in the accumulation dtype on `device`.

    Python numbers stay Python numbers (float64 already); they never lower a
    float64 tensor's dtype, while an integer tensor times a float would be
    float32, hence every tensor operand is converted first.
    """
    if isinstance(value, torch.Tensor):
        device = device or value.device
        return value.to(device=device, dtype=_accumulation_dtype(device))
    return value


def _as_int(value: Number | torch.Tensor, device: torch.device | None) -> Number | torch.Tensor:
    if isinstance(value, torch.Tensor):
        return value.to(device=device, dtype=torch.int64)
    return value


def _device_of(*values: Any) -> torch.device | None:
    """The device of the first tensor among values (the accumulator's, when it is one)."""
    for value in values:
        if isinstance(value, torch.Tensor):
            return value.device
    return None


def _as_accumulator_tensor(value: Number | torch.Tensor, like: Any) -> torch.Tensor:
    device = _device_of(value, like) or torch.device("cpu")
    return torch.as_tensor(value, device=device).to(_accumulation_dtype(device)).reshape(())


def _to_python(value: Number | torch.Tensor) -> Number:
    return value.item() if isinstance(value, torch.Tensor) else value
