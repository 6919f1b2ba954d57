"""JSON for output: NaN and Inf become null, numpy scalars plain numbers.

JSON has no NaN or Infinity, and a run's values may hold both (they are data
the user must see). `summary --json` and the HTTP API (metricwatch.serve)
write through this one function, so both spell them the same way: null.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np


def json_safe(value: Any) -> Any:
    """value with NaN/Inf as None, numpy scalars as Python numbers, tuples as lists."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value
