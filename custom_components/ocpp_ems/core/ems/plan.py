"""Departure planning: which time slots to charge from the grid so the target is met in time.

Solar comes first: the car takes surplus whenever there is some, and the plan only reserves the
cheapest grid slots still needed for the energy that is left. The plan is rebuilt on every update
from "now", so it always covers what remains; among equally priced slots the latest are taken,
which leaves the most room for solar to make them unnecessary. Time with no known price counts as
dearer than any known slot but is still used when needed, so the target is met whenever that is
physically possible.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .types import PriceSlot

# Reserve a little more than the estimate: cars charge slower than their nominal power near full.
SAFETY_FACTOR = 1.1
CHUNK_S = 900.0


@dataclass(frozen=True, slots=True)
class PlanStatus:
    charge_now: bool  # the current moment is in a reserved slot (or the plan is already late)
    feasible: bool  # the remaining energy fits before departure at full power
    remaining_wh: float
    needed_s: float  # full-power time still needed
    # Not charging now: when the first reserved slot begins (None: none reserved).
    starts_at: float | None = None


def _segments(
    now: float, departure: float, prices: Sequence[PriceSlot]
) -> list[tuple[float, float, float]]:
    """(start, end, price) covering [now, departure); gaps get a price above every known one."""
    known = sorted(
        (max(s.start, now), min(s.end, departure), s.price)
        for s in prices
        if s.end > now and s.start < departure and s.end > s.start
    )
    unknown_price = max((p for _, _, p in known), default=0.0) + 1.0
    segments: list[tuple[float, float, float]] = []
    cursor = now
    for slot_start, end, price in known:
        if slot_start > cursor:
            segments.append((cursor, slot_start, unknown_price))
        start = max(slot_start, cursor)
        if end > start:
            segments.append((start, end, price))
            cursor = end
    if cursor < departure:
        segments.append((cursor, departure, unknown_price))
    # Cut long segments so "latest first" can pick the end of a long flat-priced stretch.
    chunks: list[tuple[float, float, float]] = []
    for start, seg_end, price in segments:
        end = seg_end
        while end - start > CHUNK_S:
            chunks.append((end - CHUNK_S, end, price))
            end -= CHUNK_S
        chunks.append((start, end, price))
    return chunks


def plan_status(
    *,
    now: float,
    departure: float,
    remaining_wh: float,
    max_power_w: float,
    efficiency: float,
    prices: Sequence[PriceSlot] = (),
) -> PlanStatus:
    """Whether to charge from the grid now to meet the departure target."""
    if remaining_wh <= 0.0:
        return PlanStatus(False, True, 0.0, 0.0)
    effective_w = max(1.0, max_power_w * efficiency)
    needed_s = remaining_wh / effective_w * 3600.0 * SAFETY_FACTOR
    available_s = max(0.0, departure - now)
    if needed_s >= available_s:
        feasible = needed_s <= available_s * SAFETY_FACTOR + 1e-6
        return PlanStatus(True, feasible, remaining_wh, needed_s)
    # Cheapest first; among equal prices the latest first.
    ranked = sorted(_segments(now, departure, prices), key=lambda seg: (seg[2], -seg[0]))
    covered = 0.0
    starts_at: float | None = None
    for start, end, _price in ranked:
        if start <= now < end:
            return PlanStatus(True, True, remaining_wh, needed_s)
        starts_at = start if starts_at is None else min(starts_at, start)
        covered += end - start
        if covered >= needed_s:
            break
    return PlanStatus(False, True, remaining_wh, needed_s, starts_at)
