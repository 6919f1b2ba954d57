"""Smoothing a curve: TensorBoard's debiased exponential moving average.

One function for the charts' smoothing and for the rules that judge a trend
on a smoothed curve, so that the two never disagree about a value.

The average starts at 0 and is divided by 1 - w^n (n = finite points so
far), as TensorBoard does: without that, early points are pulled towards
0. A NaN or Inf is data the user must see: it passes through unsmoothed
and does not enter the average.
"""

from __future__ import annotations

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
    values = np.asarray(values, dtype=np.float64)
    if not 0.0 <= weight < 1.0:
        raise ValueError(f"smoothing weight {weight!r} is not in [0, 1)")
    out = values.copy()
    finite = np.isfinite(values)
    if weight == 0.0 or not finite.any():
        return out
    x = values[finite]
    out[finite] = _ema(x, weight) / (1.0 - weight ** np.arange(1, len(x) + 1))
    return out


def _ema(x: np.ndarray, weight: float) -> np.ndarray:
    """a_n = w a_(n-1) + (1 - w) x_n from a_0 = 0, without a Python loop over points.

    Inside a block, a_n = w^n (a_start + (1 - w) sum_k x_k w^-k): a cumulative sum. Each
    block is scaled by its largest magnitude (values up to 1.8e308 stay finite) and is
    short enough that w^-k stays below 1e250.
    """
    block = max(1, int(_MAX_EXPONENT / -np.log(weight)))
    out = np.empty_like(x)
    carry = 0.0
    with np.errstate(under="ignore"):  # a denormal scaled to 0 is no loss
        for start in range(0, len(x), block):
            chunk = x[start : start + block]
            scale = max(float(np.max(np.abs(chunk))), abs(carry)) or 1.0
            powers = weight ** np.arange(1, len(chunk) + 1)
            total = np.cumsum((chunk / scale) * (1.0 - weight) / powers)
            out[start : start + len(chunk)] = (powers * (carry / scale + total)) * scale
            carry = float(out[start + len(chunk) - 1])
    return out
