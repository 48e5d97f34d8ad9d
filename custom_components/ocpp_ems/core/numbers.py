"""Numbers from outside (stored JSON, sensor states, charger payloads): a finite float or None.

Nothing here raises: a value that is no usable number (text, a bool, NaN, infinite, missing) is
None, and the caller decides what that means (skip the stored item, mark the sensor unusable).
:func:`quantile` is the one statistic the learners keep over such numbers once read (the plan's
forecast confidence and median, the sun capture's median); it needs at least one value.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any


def finite_number(value: Any) -> float | None:
    """A stored number (a JSON int or float; not a bool, NaN or infinite), else None."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return parse_number(value)


def non_negative_number(value: Any) -> float | None:
    """A stored measured value (an energy, a time, a mean power, a ratio): a finite number >= 0,
    else None."""
    number = finite_number(value)
    return number if number is not None and number >= 0.0 else None


def parse_number(value: Any) -> float | None:
    """A number or numeric text (a sensor's state, a payload's value), else None: never a bool
    (``True`` is no reading of 1), NaN or infinite."""
    if isinstance(value, bool):
        return None
    try:
        number = float(value)
    except TypeError, ValueError, OverflowError:
        return None
    return number if math.isfinite(number) else None


def quantile(values: Sequence[float], q: float, *, nearest: bool = False) -> float:
    """The ``q`` quantile (0..1) of ``values`` (not empty), linear between neighbours: 0.5 is
    the median. ``nearest``: the value at the nearest rank instead (always one of them)."""
    ordered = sorted(values)
    pos = q * (len(ordered) - 1)
    if nearest:
        return ordered[min(len(ordered) - 1, int(pos + 0.5))]
    low = math.floor(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def day_numbers(items: Any, keep: int) -> list[tuple[int, float]]:
    """Stored ``[day, number]`` pairs (a day's ordinal, a finite number >= 0), the last ``keep``
    of them; any other item is left out."""
    pairs: list[tuple[int, float]] = []
    for item in items if isinstance(items, list) else ():
        if not (isinstance(item, list) and len(item) == 2 and isinstance(item[0], int)):
            continue
        if (number := non_negative_number(item[1])) is not None:
            pairs.append((item[0], number))
    return pairs[-keep:] if keep > 0 else []
