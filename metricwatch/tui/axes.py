"""Axis arithmetic for the charts: scaling, round ticks and their labels. Pure.

Every value a file can hold is valid input, +/-1.7e308 to denormals. Ticks
are chosen on values scaled by a power of ten, 10**k with k =
decade(largest |value|), so every value seen is below 10 in magnitude:
differences and steps cannot overflow (1.7e308 - -1.7e308) or vanish (a
range 5e-324 wide). Labels are written from the scaled value and k, never by
multiplying back; whole-number ticks (epochs, decades) are Python integers,
exact at any size.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator

import numpy as np

from metricwatch.metrics import format_sig


def epoch_label(value: float) -> str:
    """`40`, `1200`, `25k`, `1.5M`, `3e12`: short where that is exact, else every digit.

    Ticks fall on round numbers and print short; a label that would round
    (epoch 999,999,990 is not `1000M`) keeps its digits, so two labels never
    read the same.
    """
    if not math.isfinite(value):
        return str(value)
    whole = round(value)  # a Python int: exact at any size
    if abs(whole) < 10_000:
        return str(whole)
    for size, suffix in ((1_000_000, "M"), (1_000, "k")):
        if abs(whole) >= size:
            short = f"{whole / size:.4g}"
            if "e" not in short and round(float(short) * size) == whole:
                return short + suffix
    if abs(whole) < 10**15:
        return str(whole)
    return _sci(float(whole), 3, 0)


def decade(value: float) -> int:
    """floor(log10(|value|)), the k that brings value into [1, 10) as value / 10**k; 0 for 0."""
    magnitude = abs(value)
    if magnitude == 0 or not math.isfinite(magnitude):
        return 0
    return math.floor(math.log10(magnitude))


def scale_down(values, k: int):
    """values / 10**k, in two steps so neither factor over- or underflows (k from -324 to 308)."""
    half = k // 2
    return values / 10.0**half / 10.0 ** (k - half)


def scale_up(value: float, k: int) -> float:
    """value * 10**k as a float: inf past the float range (callers check)."""
    half = k // 2
    with np.errstate(over="ignore"):
        return float(np.float64(value) * 10.0**half * 10.0 ** (k - half))


def linear_ticks(lo: float, hi: float, max_ticks: int) -> tuple[list[float], list[str]]:
    """Round-numbered ticks (1, 2, 2.5, 5 x 10^k steps) inside [lo, hi], in real values.

    The smallest round step that gives no more than max_ticks is used (one
    more is allowed when that step would leave a single tick), so a short
    chart still gets labelled values instead of none. Any finite lo and hi
    work, from denormals to +/-1.7e308; a tick past the float range is left out.
    """
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return [], []
    if hi <= lo:
        return [lo], [format_sig(lo)]
    k = decade(max(abs(lo), abs(hi)))
    scaled, labels = scaled_ticks(scale_down(lo, k), scale_down(hi, k), max_ticks, k)
    pairs = [(scale_up(t, k), label) for t, label in zip(scaled, labels)]
    pairs = [(t, label) for t, label in pairs if math.isfinite(t)]
    return [t for t, _ in pairs], [label for _, label in pairs]


def scaled_ticks(lo: float, hi: float, max_ticks: int, k: int) -> tuple[list[float], list[str]]:
    """Round ticks inside [lo, hi] of values scaled by 10**-k; labels in real values.

    lo and hi are scaled values (|lo|, |hi| about 10 at most), so the step
    arithmetic is plain float arithmetic on small numbers.
    """
    max_ticks = max(2, max_ticks)
    with np.errstate(over="ignore"):
        spacing = (np.float64(hi) - np.float64(lo)) / max_ticks
    if not (math.isfinite(lo) and math.isfinite(hi) and 0 < spacing < math.inf):
        return [], []
    power = 10.0 ** math.floor(math.log10(spacing))
    if power == 0:
        return [], []  # a range under 1e-323: callers scale first (see decade)
    previous: tuple[list[float], float] | None = None
    chosen: tuple[list[float], float] = ([], power)
    for candidate in (m * power * scale for scale in (1, 10, 100) for m in (1, 2, 2.5, 5)):
        if spacing * max_ticks / candidate > 10 * max_ticks + 10:
            continue  # far too many ticks: a bigger step will do
        first = math.ceil(lo / candidate - 1e-9)
        last = math.floor(hi / candidate + 1e-9)
        ticks = [0.0 if i == 0 else i * candidate for i in range(first, last + 1)]
        if len(ticks) <= max_ticks:
            chosen = previous if len(ticks) < 2 and previous else (ticks, candidate)
            break
        previous = (ticks, candidate)
    ticks, step = chosen
    return ticks, _tick_labels(ticks, step, k)


def _tick_labels(ticks: list[float], step: float, k: int = 0) -> list[str]:
    """Same style for every label of an axis: all decimals, or all `2e-4` when values are tiny.

    ticks and step are scaled by 10**-k; the labels are the real values.
    """
    biggest = max((abs(t) for t in ticks), default=0.0)
    exponent = decade(biggest) + k if biggest else 0
    if biggest and (exponent >= 5 or exponent < -2):
        # As many mantissa digits as it takes to tell the ticks apart (a flat lr of 1e-3
        # gets 9.5e-4 1e-3 1.05e-3, not 1e-3 1e-3 1.1e-3).
        for digits in range(1, 7):
            labels = [_sci(t, digits, k) if t else "0" for t in ticks]
            mantissas = [float(f"{t:.{digits}e}") for t in ticks]
            if all(abs(m - t) <= step * 1e-3 for m, t in zip(mantissas, ticks)):
                break
        return labels
    # Here |values| are between 1e-2 and 1e5, so the real values are plain floats.
    real_step = scale_up(step, k)
    decimals = 0
    while decimals < 6 and abs(round(real_step, decimals) - real_step) > real_step * 1e-6:
        decimals += 1
    return [f"{scale_up(t, k):.{decimals}f}" for t in ticks]


def _sci(value: float, digits: int, k: int) -> str:
    """value * 10**k as `2.5e-4` (`3` for 10**0), written from value's own digits."""
    mantissa, exponent = f"{value:.{digits}e}".split("e")
    if "." in mantissa:
        mantissa = mantissa.rstrip("0").rstrip(".")
    power = int(exponent) + k
    return f"{mantissa}e{power}" if power else mantissa


def log_ticks(lo: float, hi: float, max_ticks: int) -> tuple[list[float], list[str]]:
    """Ticks for a log10 axis: positions in log10 units, labels in real values (`1e-3`).

    Whole decades when at least two fit; otherwise 1-2-5 steps inside the
    decade, so a narrow range still gets readable labels. Labels are written
    from the decade and the mantissa, so 1e400 is a label, not an overflow.
    """
    max_ticks = max(2, max_ticks)
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi < lo:
        return [], []
    first, last = math.ceil(lo - 1e-9), math.floor(hi + 1e-9)
    if last - first + 1 >= 2:
        chosen = whole_ticks(first, last, max_ticks)  # every decade, or every 2nd, 5th, 10th...
        return [float(d) for d in chosen], [_sci(1.0, 1, d) for d in chosen]
    ticks: list[tuple[float, str]] = []
    for power in range(math.floor(lo) - 1, math.ceil(hi) + 1):
        for mantissa in (1, 2, 5):
            position = power + math.log10(mantissa)
            if lo - 1e-9 <= position <= hi + 1e-9 and (not ticks or position > ticks[-1][0]):
                ticks.append((position, _sci(float(mantissa), 1, power)))
    if len(ticks) > max_ticks:
        ticks = ticks[:: math.ceil(len(ticks) / max_ticks)]
    return [t for t, _ in ticks], [label for _, label in ticks]


def whole_ticks(lo: float, hi: float, count: int) -> list[int]:
    """Whole-number ticks at a regular step (1, 2, 2.5, 5 x 10^n, whole only): never 2.5.

    Worked out in Python integers, exact at any size: the smallest step that
    gives at most `count` ticks, or the one before when that step would
    leave a single tick. Used for epochs and for decades on a log axis.
    """
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi < lo:
        return []
    first, last = math.ceil(lo), math.floor(hi)
    if last < first:
        return []
    count = max(2, count)
    power = 10 ** max(0, len(str((last - first) // count)) - 1)
    previous: list[int] = []
    for step in _whole_steps(power):
        start = -(-first // step) * step
        ticks = range(start, last + 1, step)
        if len(ticks) <= count:
            return previous if len(ticks) < 2 and previous else list(ticks)
        previous = list(ticks) if len(ticks) <= 4 * count else []
    return []  # not reached: the steps grow without end


def _whole_steps(power: int) -> Iterator[int]:
    """power x 1, 2, 2.5 (when whole), 5, then the same x 10, and so on."""
    while True:
        yield power
        yield 2 * power
        if power >= 10:
            yield power * 5 // 2
        yield 5 * power
        power *= 10


#: Tick steps on a time axis, in seconds: round seconds, minutes, hours, days.
_TIME_STEPS = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600)
_DAY = 86400
#: Seconds past which a value is not a time (about 3,000 years): no time ticks for it.
MAX_SECONDS = 1e11


def time_ticks(lo: float, hi: float, count: int, *, wall: bool) -> tuple[list[float], list[str]]:
    """Ticks on a time axis (seconds): at a round step, labelled `1h30m` since the start
    (relative) or `14:05` on the local clock (wall; `14:05:30` when the step is under a
    minute). Values no clock can hold (past MAX_SECONDS) get no ticks."""
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi < lo:
        return [], []
    if max(abs(lo), abs(hi)) > MAX_SECONDS:
        return [], []
    count = max(2, count)
    span = hi - lo
    steps = list(_TIME_STEPS)
    while steps[-1] * count < span:
        steps.append(steps[-1] * 2)
    step = next(s for s in steps if span / s <= count)
    first = math.ceil(lo / step) * step
    ticks = [float(first + i * step) for i in range(int((hi - first) // step) + 1)]
    if not wall:
        return ticks, [duration_label(t) for t in ticks]
    form = "%H:%M:%S" if step < 60 else ("%H:%M" if step < _DAY else "%m-%d")
    try:
        return ticks, [time.strftime(form, time.localtime(t)) for t in ticks]
    except (OverflowError, OSError, ValueError):  # a platform's clock range is narrower
        return ticks, [duration_label(t - ticks[0]) for t in ticks]


def duration_label(seconds: float) -> str:
    """`0`, `45s`, `5m`, `1h30m`, `2d3h`: a time since the start, short."""
    total = round(seconds)
    if total == 0:
        return "0"
    sign, total = ("-" if total < 0 else ""), abs(total)
    days, rest = divmod(total, _DAY)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [(days, "d"), (hours, "h"), (minutes, "m"), (secs, "s")]
    shown = [f"{n}{unit}" for n, unit in parts if n][:2]
    return sign + "".join(shown)
