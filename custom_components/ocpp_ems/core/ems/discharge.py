"""The home battery's discharge limit: when and to what the inverter's limit entity is set.

The controller says how much the battery may discharge (``Decision.battery_discharge_limit_w``:
enough for the house, not for the car; None: no cap). :func:`discharge_value` turns that into the
value to write to the inverter's limit (a number entity on the HA side), or None to leave it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

# The limit moves in steps of this much (W), rounded down: a cap rounded up would let the battery
# give up to a step more than the house's deficit, and a car drawing from the grid takes that
# (the grid gives the house the rest of the step instead). Raised at most every write interval
# (an inverter's setting is not a fast control), lowered at once (a lower cap is what keeps the
# battery from the car).
DISCHARGE_STEP_W = 100.0


@dataclass(frozen=True, slots=True, kw_only=True)
class DischargeEntity:
    """The inverter's discharge limit as it is now, in its own unit."""

    value: float | None  # None: unknown (unavailable, not a number)
    low: float | None = None  # its minimum (None: 0)
    high: float | None = None  # its maximum (None: none known)
    per_w: float = 1.0  # its unit per W (0.001 for kW)


def discharge_value(
    limit_w: float | None,
    entity: DischargeEntity,
    *,
    now: float,
    written_at: float,
    interval_s: float,
    force: bool = False,
) -> float | None:
    """The value to write (in the entity's unit), or None to leave the entity as it is.

    ``limit_w`` None gives the battery back its maximum (nothing to write without a known one).
    A raise of less than half a step is not written, nor one before ``interval_s`` after the last
    write (``written_at``) unless ``force``; a drop is written at once, however small (the entity
    may show a value between steps that lets the battery give more than the house needs).
    """
    step = DISCHARGE_STEP_W * entity.per_w
    if limit_w is None:
        if entity.high is None:
            return None
        wanted = entity.high
    else:
        wanted = math.floor(limit_w / DISCHARGE_STEP_W + 1e-9) * step
        if entity.high is not None:
            wanted = min(entity.high, wanted)
        wanted = max(entity.low or 0.0, wanted)
    current = entity.value
    if current is not None and current - step * 1e-6 <= wanted < current + step / 2:
        return None
    raising = current is None or wanted > current
    if raising and not force and now - written_at < interval_s:
        return None  # a later update raises it (they come at least every watchdog period)
    return wanted


class DischargeWriter:
    """The discharge limit's writes: when it was last written, so that a raise waits the write
    interval from then (and the driver wakes when the wait ends)."""

    def __init__(self) -> None:
        self._written_at = float("-inf")

    def write(
        self,
        limit_w: float | None,
        entity: DischargeEntity,
        now: float,
        *,
        interval_s: float,
        force: bool = False,
    ) -> float | None:
        """The value to give the entity now, if any (:func:`discharge_value`; recorded as
        written)."""
        value = discharge_value(
            limit_w,
            entity,
            now=now,
            written_at=self._written_at,
            interval_s=interval_s,
            force=force,
        )
        if value is not None:
            self._written_at = now
        return value

    def raise_due_at(
        self,
        written: float | None,
        limit_w: float | None,
        entity: DischargeEntity | None,
        *,
        now: float,
        interval_s: float,
    ) -> float | None:
        """When a raise the write interval held back (the entity left, ``written`` None, though
        a forced write would have set it) is due; None: none was held."""
        if written is not None or entity is None:
            return None
        forced = discharge_value(
            limit_w, entity, now=now, written_at=now, interval_s=0.0, force=True
        )
        return None if forced is None else self._written_at + interval_s

    def clock_went_back(self, back_s: float) -> None:
        """The wall clock went back: the last write moves back with it (its interval would hold a
        raise the jump longer)."""
        self._written_at -= back_s
