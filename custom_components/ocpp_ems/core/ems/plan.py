"""Departure planning: which time slots to charge from the grid so the target is met in time.

Solar comes first: the car takes surplus whenever there is some, and the plan only reserves the
cheapest grid slots still needed for the energy that is left. With a solar forecast the plan counts
on the surplus it expects before departure (above a typical house load, discounted by a confidence
factor) and reserves grid slots only for the rest; the sun's share is taken in every slot first, so
a reserved slot's grid energy is what the car takes beyond it. The plan is rebuilt on every update
from "now", so it always covers what remains: when the sun gives less than expected, the energy
still missing gets the cheapest slots that are left (and, at the end, full power). Among equally
priced slots the latest are taken, which leaves the most room for solar to make them unnecessary.
Time with no known price counts as dearer than any known slot but is still used when needed, so
the target is met whenever that is physically possible.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .config import PlanSettings
from .types import EnergySlot, PlanOutlook, PriceSlot

# Reserve a little more than the estimate: cars charge slower than their nominal power near full.
SAFETY_FACTOR = 1.1
CHUNK_S = 900.0
# The plan is looked at again within this long (``demand_wake_ups``): full power already when the
# time left would be too short by then.
LOOK_S = 60.0


@dataclass(frozen=True, slots=True)
class PlanStatus:
    charge_now: bool  # the current moment is in a reserved slot (or the plan is already late)
    feasible: bool  # the remaining energy fits before departure at full power
    remaining_wh: float
    needed_s: float  # full-power time still needed
    # Not charging now: when the first reserved slot begins (None: none reserved).
    starts_at: float | None = None
    outlook: PlanOutlook | None = None  # expected from the sun / planned from the grid (Wh)


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


def expected_surplus(
    forecast: Sequence[EnergySlot], settings: PlanSettings, min_power_w: float = 0.0
) -> tuple[EnergySlot, ...]:
    """The PV surplus a plan counts on: the forecast above the typical house load, discounted.

    A slot whose surplus stays below the car's ``min_power_w`` on average does not count: the
    car would not start on it, or would import to make up its minimum.
    """
    confidence = min(max(settings.forecast_confidence, 0.0), 1.0)
    slots = []
    for slot in forecast:
        hours = (slot.end - slot.start) / 3600.0
        surplus = slot.wh - settings.house_load_w * hours
        if hours > 0.0 and surplus > 0.0 and surplus >= min_power_w * hours:
            slots.append(EnergySlot(slot.start, slot.end, surplus * confidence))
    return tuple(slots)


def _overlap_wh(solar: Sequence[EnergySlot], start: float, end: float) -> float:
    """Energy of the slots within [start, end), spread evenly over each slot."""
    return sum(
        s.wh * (min(s.end, end) - max(s.start, start)) / (s.end - s.start)
        for s in solar
        if s.end > start and s.start < end
    )


def plan_status(
    *,
    now: float,
    departure: float,
    remaining_wh: float,
    max_power_w: float,
    efficiency: float,
    prices: Sequence[PriceSlot] = (),
    solar: Sequence[EnergySlot] = (),
) -> PlanStatus:
    """Whether to charge from the grid now to meet the departure target.

    ``solar``: the surplus the car may expect (Wh at the charger, see :func:`expected_surplus`);
    ``remaining_wh`` and the result are energy into the car (after ``efficiency``).
    """
    if remaining_wh <= 0.0:
        return PlanStatus(False, True, 0.0, 0.0, outlook=PlanOutlook(0.0, 0.0))
    effective_w = max(1.0, max_power_w * efficiency)
    needed_s = remaining_wh / effective_w * 3600.0 * SAFETY_FACTOR
    available_s = max(0.0, departure - now)
    if needed_s >= available_s - LOOK_S:
        feasible = needed_s <= available_s * SAFETY_FACTOR + 1e-6
        outlook = PlanOutlook(0.0, remaining_wh)
        return PlanStatus(True, feasible, remaining_wh, needed_s, outlook=outlook)
    solar = [s for s in solar if s.end > now and s.start < departure]
    chunks = []
    for start, end, price in _segments(now, departure, prices):
        full_wh = effective_w * (end - start) / 3600.0
        # The car can take no more of the sun than its own power in the slot.
        sun_wh = min(full_wh, _overlap_wh(solar, start, end) * efficiency)
        chunks.append((start, end, price, sun_wh, full_wh))
    sun_total = sum(chunk[3] for chunk in chunks)
    grid_wh = max(0.0, remaining_wh - sun_total)
    outlook = PlanOutlook(min(sun_total, remaining_wh), grid_wh)
    # Cheapest first; among equal prices the latest first. A slot's grid share is what the car
    # takes beyond the sun's, at a pace SAFETY_FACTOR slower than nominal.
    ranked = sorted(chunks, key=lambda chunk: (chunk[2], -chunk[0]))
    covered = 0.0
    starts_at: float | None = None
    for start, end, _price, sun_wh, full_wh in ranked:
        if covered >= grid_wh:
            break
        if (room := (full_wh - sun_wh) / SAFETY_FACTOR) <= 0.0:
            continue
        if start <= now < end:
            return PlanStatus(True, True, remaining_wh, needed_s, outlook=outlook)
        starts_at = start if starts_at is None else min(starts_at, start)
        covered += room
    return PlanStatus(False, True, remaining_wh, needed_s, starts_at, outlook)
