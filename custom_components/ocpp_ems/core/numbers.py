"""Numbers from outside (stored JSON, sensor states, charger payloads): a finite float or None.

Nothing here raises: a value that is no usable number (text, a bool, NaN, infinite, missing) is
None, and the caller decides what that means (skip the stored item, mark the sensor unusable).
"""

from __future__ import annotations

import math
from typing import Any


def finite_number(value: Any) -> float | None:
    """A stored number (a JSON int or float; not a bool, NaN or infinite), else None."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return parse_number(value)


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
