"""Smoothing a curve: TensorBoard's debiased exponential moving average.

One function for the charts' smoothing and for the rules that judge a trend
on a smoothed curve, so that the two never disagree about a value.

The average starts at 0 and is divided by 1 - w^n (n = finite points so
far), as TensorBoard does: without that, early points are pulled towards
0. A NaN or Inf is data the user must see: it passes through unsmoothed
and does not enter the average.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: ln(1e250): how far w^-k may grow inside one block of the cumulative sum.
_MAX_EXPONENT = 575.0

#: The weights the monitor offers (`s` cycles through them); 0 is the raw curve.
WEIGHTS = (0.0, 0.6, 0.8, 0.9, 0.95, 0.99)


def debiased_ema(values: np.ndarray, weight: float) -> np.ndarray:
    """The debiased EMA of values with smoothing weight in [0, 1); NaN/Inf kept in place.

    Vectorised for long series: the recurrence a_n = w a_(n-1) + (1 - w) x_n is a
    discounted cumulative sum, computed in blocks short enough that w^-k stays finite.
    """
    return extend_ema(None, values, weight).out


@dataclass(frozen=True, eq=False)
class Smoothed:
    """A series smoothed, with what it takes to smooth points appended to it later."""

    values: np.ndarray  # the input, as given
    out: np.ndarray  # its debiased EMA
    weight: float
    average: float  # the EMA before debiasing, at the last finite point
    count: int  # the finite points so far


def extend_ema(previous: Smoothed | None, values: np.ndarray, weight: float) -> Smoothed:
    """values smoothed, reusing `previous` when values begins with exactly its input (a
    live run's series grown by a few points): then only the new points are computed, so
    smoothing a 1,000,000-point series as it grows costs a comparison and a copy."""
    values = np.asarray(values, dtype=np.float64)
    if not 0.0 <= weight < 1.0:
        raise ValueError(f"smoothing weight {weight!r} is not in [0, 1)")
    start, average, count, head = 0, 0.0, 0, None
    if (
        previous is not None
        and previous.weight == weight
        and len(values) >= len(previous.values)
        and np.array_equal(values[: len(previous.values)], previous.values, equal_nan=True)
    ):
        start, average, count, head = (
            len(previous.values),
            previous.average,
            previous.count,
            previous.out,
        )
    out = np.empty_like(values)
    if head is not None:
        out[:start] = head
    tail = out[start:]  # smoothed in place: no copy of the series besides its output
    tail[:] = values[start:]
    finite = np.isfinite(tail)
    if weight > 0.0 and finite.any():
        every = bool(finite.all())  # the usual case: smoothed where it is, no gathered copy
        x = tail if every else tail[finite]
        _ema(x, weight, average, out=x)
        average = float(x[-1])
        _debias(x, weight, count)
        if not every:
            tail[finite] = x
        count += len(x)
    return Smoothed(values, out, weight, average, count)


#: Points debiased at a time: the exponents and divisors of a million points at once
#: were three temporaries of the series' size at the smoothing's peak.
_DEBIAS_BLOCK = 65_536


def _debias(ema: np.ndarray, weight: float, count: int) -> None:
    """ema[i] / (1 - w^n), n = count + i + 1 (the finite points so far), in place. Only
    where 1 - w^n is not exactly 1: from a few hundred points on (w = 0.9: 350), the
    division changes nothing, and w^n and the division for a million points were a third
    of a smoothing's time."""
    with np.errstate(under="ignore"):  # w^n is 0 after a few thousand points
        for first in range(0, len(ema), _DEBIAS_BLOCK):
            last = min(len(ema), first + _DEBIAS_BLOCK)
            n = count + np.arange(first + 1, last + 1)
            divisors = 1.0 - weight**n
            if divisors[0] == 1.0:
                return  # (w^n only falls as n grows: 1 from here on)
            ema[first:last] /= divisors


def _ema(
    x: np.ndarray, weight: float, carry: float = 0.0, out: np.ndarray | None = None
) -> np.ndarray:
    """a_n = w a_(n-1) + (1 - w) x_n from a_0 = carry, without a Python loop over points;
    into `out` when given (x itself may be: each block is read before it is written).

    Inside a block, a_n = w^n (a_start + (1 - w) sum_k x_k w^-k): a cumulative sum. Each
    block is scaled by its largest magnitude (values up to 1.8e308 stay finite) and is
    short enough that w^-k stays below 1e250.
    """
    block = max(1, int(_MAX_EXPONENT / -np.log(weight)))
    out = np.empty_like(x) if out is None else out
    with np.errstate(under="ignore"):  # a denormal scaled to 0 is no loss
        block_powers = weight ** np.arange(1, min(block, len(x)) + 1)  # the same every block
        for start in range(0, len(x), block):
            chunk = x[start : start + block]
            scale = max(float(np.max(np.abs(chunk))), abs(carry)) or 1.0
            powers = block_powers[: len(chunk)]
            total = np.cumsum((chunk / scale) * (1.0 - weight) / powers)
            out[start : start + len(chunk)] = (powers * (carry / scale + total)) * scale
            carry = float(out[start + len(chunk) - 1])
    return out
