"""Departure planning: which time slots to charge from the grid so the target is met in time.

Solar comes first: the car takes surplus whenever there is some, and the plan only reserves the
cheapest grid slots still needed for the energy that is left. With a solar forecast the plan counts
on the surplus it expects before departure (the forecast discounted by a confidence factor, above
the house load; both learned on the site, ``plan_learning``) and reserves grid slots only for the
rest; the sun's share is taken in every slot first, so a reserved slot's grid energy is what the
car takes beyond it. The plan is rebuilt on every update
from "now", so it always covers what remains: when the sun gives less than expected, the energy
still missing gets the cheapest slots that are left (and, at the end, full power). Among equally
priced slots the latest are taken, which leaves the most room for solar to make them unnecessary.
A slot whose sun stays below the car's minimum can be planned at the minimum (the car takes that
sun and the grid the rest): ranked by what a Wh charged there costs (the grid's share at the
slot's price, the sun's at the feed-in price it would earn exported: the feed-in sensor's price
for that time where it has one, else the fixed option), it often beats the night. Now's slot is
ranked by the surplus measured now instead: a slot's forecast is its mean, and under passing
clouds the minimum held in a cloud is nearly all grid at the slot's price, while a sunny minute
is nearly all sun (the car waits out the cloud for the slots the sun is likely in). Under broken
clouds a car on surplus only misses the sun of its stops, which a car held at its minimum takes for
the grid that fills the dips (both learned per Wh of surplus, ``sun_capture``): a sunny slot is
held so when that blend is cheaper than grid the plan buys anyway, but the plan does not count on
it (it still buys the night it needs without it), as that sun is the least certain.
That share is the sun as the forecast usually turns out (learned): the confidence is a margin on
how much sun to count on, not on which slot is likely to be sunnier.
Time with no known price yet is priced like the same wall-clock time a day earlier (in the site's
zone: a day is 23 or 25 hours across a DST change) where that is known:
day-ahead prices come out once a day (around noon), and a car plugged in before must not buy
today's dear evening for fear of tomorrow's unpublished night; the plan follows the real prices as
soon as they come. Time with neither counts as dearer than any known slot but is still used when
needed, so the target is met whenever that is physically possible. While the sun ahead covers what is left
with ``SAFETY_FACTOR`` to spare, a restart loses no PV the plan needs: a car in a dip stops at
once (``PlanStatus.spare_sun``) instead of holding its minimum on grid energy. With a dynamic
feed-in (a sensor) and that much sun ahead, the plan takes the sun that earns least exported and
the car leaves the rest (``PlanStatus.sun_waits_until``); a fixed feed-in makes all sun alike.
Sun is first only while it is the cheapest energy: where it would earn more exported than the grid
that could take its place costs (an old fixed feed-in tariff above the night's price), the plan
buys that grid and leaves the sun to export, the car waiting in those slots (``_dear_sun``).
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, tzinfo

from .config import PlanSettings
from .types import EnergySlot, PlanOutlook, PriceSlot

# Reserve a little more than the estimate: cars charge slower than their nominal power near full.
SAFETY_FACTOR = 1.1
CHUNK_S = 900.0
# The plan is looked at again within this long (``demand_wake_ups``): full power already when the
# time left would be too short by then.
LOOK_S = 60.0
# A car taking the sun now leaves it for later, cheaper sun only when that covers the plan with
# this much more to spare than a waiting car needs to stay waiting: a forecast's small revision
# or the energy the car just took must not stop and restart it.
KEEP_TAKING = 1.1


@dataclass(frozen=True, slots=True)
class PlanStatus:
    charge_now: bool  # the current moment is in a reserved slot (or the plan is already late)
    feasible: bool  # the remaining energy fits before departure at full power
    remaining_wh: float
    needed_s: float  # full-power time still needed
    # Not charging now: when the first reserved slot begins (None: none reserved).
    starts_at: float | None = None
    outlook: PlanOutlook | None = None  # expected from the sun / planned from the grid (Wh)
    min_now: bool = False  # the current moment is a slot planned at the minimum with the sun
    # The sun expected before departure covers what is left with the safety factor to spare: a
    # stop in a dip then loses no PV the plan needs (``solar.py`` stops at once).
    spare_sun: bool = False
    # The sun now would earn more exported than the later sun the plan needs (a dynamic feed-in):
    # the car leaves it and waits until then (None: it takes the surplus now).
    sun_waits_until: float | None = None


DAY_S = 86400.0


class Timeline[S: PriceSlot | EnergySlot](tuple[S, ...]):
    """Slots in order of their start, with an index: the slots within a span are found by
    bisection, not by a scan (a week of 5-minute prices, feed-in prices and forecast slots is
    thousands of each, looked up for each of thousands of chunks on every decision)."""

    _starts: list[float]
    _longest: float

    def __new__(cls, slots: Iterable[S]) -> Timeline[S]:
        timeline = super().__new__(cls, sorted(slots, key=lambda slot: slot.start))
        timeline._starts = [slot.start for slot in timeline]
        timeline._longest = max((slot.end - slot.start for slot in timeline), default=0.0)
        return timeline

    def within(self, start: float, end: float) -> Sequence[S]:
        """The slots that may overlap [start, end) (their start is less than a slot's length
        before ``start``): a short list to check."""
        low = bisect_left(self._starts, start - self._longest)
        return self[low : bisect_left(self._starts, end)]


def _near[S: PriceSlot | EnergySlot](slots: Sequence[S], start: float, end: float) -> Sequence[S]:
    return slots.within(start, end) if isinstance(slots, Timeline) else slots


# The furthest departure a plan takes (prices and forecasts reach a day or two; each 15 minutes
# ahead costs planning time on every decision): a one-off plan beyond it is refused, and a later
# departure is planned as this far ahead.
MAX_PLAN_AHEAD_S = 7 * DAY_S


def _segments(
    now: float, departure: float, prices: Sequence[PriceSlot], zone: tzinfo | None = None
) -> list[tuple[float, float, float]]:
    """(start, end, price) covering [now, departure); time with no price gets the price of the
    same time a day earlier (wall-clock time in ``zone``) where the slots cover that, else a price
    above every known one."""
    departure = min(departure, now + MAX_PLAN_AHEAD_S)
    known = sorted(
        (max(s.start, now), min(s.end, departure), s.price)
        for s in prices
        if s.end > now and s.start < departure and s.end > s.start
    )
    unknown_price = max((p for _, _, p in known), default=0.0) + 1.0
    # (start, end, price, whether the price is known): an explicit flag, as a known price can
    # equal the unknown one (1e308 + 1 == 1e308).
    segments: list[tuple[float, float, float, bool]] = []
    cursor = now
    for slot_start, end, price in known:
        if slot_start > cursor:
            segments.append((cursor, slot_start, unknown_price, False))
        start = max(slot_start, cursor)
        if end > start:
            segments.append((start, end, price, True))
            cursor = end
    if cursor < departure:
        segments.append((cursor, departure, unknown_price, False))
    # Cut long segments so "latest first" can pick the end of a long flat-priced stretch.
    chunks: list[tuple[float, float, float, bool]] = []
    for start, seg_end, price, is_known in segments:
        end = seg_end
        while end - start > CHUNK_S:
            chunks.append((end - CHUNK_S, end, price, is_known))
            end -= CHUNK_S
        chunks.append((start, end, price, is_known))
    return [
        (start, end, price if is_known else _day_before(prices, start, end, price, zone))
        for start, end, price, is_known in chunks
    ]


def _day_before(
    prices: Sequence[PriceSlot], start: float, end: float, unknown: float, zone: tzinfo | None
) -> float:
    """The time-weighted price of [start, end) a day earlier, ``unknown`` unless the slots cover
    all of it."""
    back = start - _day_earlier(start, zone)
    covered = paid = 0.0
    for slot in _near(prices, start - back, end - back):
        a, b = max(slot.start, start - back), min(slot.end, end - back)
        if b > a:
            covered += b - a
            paid += slot.price * (b - a)
    if covered < (end - start) * (1.0 - 1e-6):
        return unknown
    return paid / covered


def _day_earlier(t: float, zone: tzinfo | None) -> float:
    """The same wall-clock time in ``zone`` a day before ``t``: a day is 23 or 25 hours across a
    DST change, and day-ahead prices follow the clock. No zone: ``DAY_S`` earlier."""
    if zone is None:
        return t - DAY_S
    return (datetime.fromtimestamp(t, zone) - timedelta(days=1)).timestamp()


def expected_surplus(
    forecast: Sequence[EnergySlot], settings: PlanSettings, min_power_w: float = 0.0
) -> tuple[EnergySlot, ...]:
    """The PV surplus a plan counts on: the forecast, discounted, above the expected house load,
    in parts of at most ``CHUNK_S`` (see :func:`_refine`), and of it the share a car with this
    minimum gets on surplus only (:func:`capture_share`)."""
    return surplus_outlook(forecast, settings, min_power_w)[0]


def surplus_outlook(
    forecast: Sequence[EnergySlot],
    settings: PlanSettings,
    min_power_w: float = 0.0,
    battery: BatteryFill | None = None,
) -> tuple[tuple[EnergySlot, ...], tuple[EnergySlot, ...]]:
    """The surplus a plan counts on (:func:`expected_surplus`) and the one a slot is likely to
    give: the forecast as it usually turns out (``forecast_typical``), no confidence margin.
    ``battery``: a home battery that takes the surplus first (none of that reaches the car)."""
    confidence = min(max(settings.forecast_confidence, 0.0), 1.0)
    typical = max(settings.forecast_typical, 0.0)
    share = capture_share(settings, min_power_w)
    counted: list[EnergySlot] = []
    likely: list[EnergySlot] = []
    # Each series fills the battery from its own sun (a dimmer forecast fills it later).
    fills = (None, None) if battery is None else (replace(battery), replace(battery))
    # The learned house slots by start: each part looks only at those that can overlap it.
    house = sorted(settings.house_slots, key=lambda s: s.start)
    starts = [s.start for s in house]
    longest = max((s.end - s.start for s in house), default=0.0)
    for slot in _refine(forecast):
        near = house[bisect_left(starts, slot.start - longest) : bisect_left(starts, slot.end)]
        # The confidence is learned on the PV itself (``plan_learning``); the house is apart.
        house_wh = _house_wh(near, settings.house_load_w, slot.start, slot.end)
        for series, pv_wh, fill in (
            (counted, slot.wh * confidence, fills[0]),
            (likely, slot.wh * typical, fills[1]),
        ):
            surplus = pv_wh - house_wh
            if surplus > 0.0 and fill is not None:
                surplus -= fill.take(slot.start, slot.end, surplus)
            if surplus > 0.0:
                series.append(EnergySlot(slot.start, slot.end, surplus * share))
    return tuple(counted), tuple(likely)


@dataclass(slots=True)
class BatteryFill:
    """A home battery that comes first (``BatterySettings.car_first`` says no): from ``since`` on
    it takes the surplus up to ``power_w`` until ``energy_wh`` more is in it (inf: unknown)."""

    since: float
    power_w: float
    energy_wh: float = math.inf

    def take(self, start: float, end: float, surplus_wh: float) -> float:
        """What it takes of the surplus of [start, end) (Wh): the power it takes from ``since``
        on, through the whole slot. A slot's surplus is spread evenly over it (``overlap_wh``)
        and a plan counts only its part from now (``since``) on, so the car's share there comes
        out right only with the whole slot's take; what it took before ``since`` is in the SoC it
        was read at, so only the part from ``since`` on comes out of what it still needs."""
        ahead_s = end - max(start, self.since)
        if ahead_s <= 0.0 or self.energy_wh <= 0.0:
            return 0.0
        power_w = min(
            surplus_wh * 3600.0 / (end - start), self.power_w, self.energy_wh * 3600.0 / ahead_s
        )
        self.energy_wh -= power_w * ahead_s / 3600.0
        return power_w * (end - start) / 3600.0


def _nearest[T: tuple[float, ...]](learned: tuple[T, ...], min_power_w: float) -> T:
    """The learned figures (minimum W first) of the minimum nearest to ``min_power_w``."""
    return min(learned, key=lambda item: abs(item[0] - min_power_w))


def capture_share(settings: PlanSettings, min_power_w: float) -> float:
    """The share of the expected surplus a car with this minimum gets: the learned share of the
    nearest minimum (``sun_capture``), all of it while none is known."""
    if not settings.sun_capture:
        return 1.0
    _, share = _nearest(settings.sun_capture, min_power_w)
    return min(max(share, 0.0), 1.0)


def sun_bridge(settings: PlanSettings, min_power_w: float) -> tuple[float, float]:
    """Per Wh of expected surplus, for a car with this minimum held at it (the nearest learned
    minimum's, ``sun_capture``): the sun a car on surplus only misses, the grid filling the dips
    ((0, 0) while none is known)."""
    if not settings.sun_bridge:
        return 0.0, 0.0
    _, missed, dips = _nearest(settings.sun_bridge, min_power_w)
    return max(missed, 0.0), max(dips, 0.0)


def _refine(forecast: Sequence[EnergySlot]) -> list[EnergySlot]:
    """Each slot in parts of at most ``CHUNK_S``, the power following the line through the
    neighbouring slots' mean powers (the sun rises and sets through an hour), each slot's energy
    kept."""
    ordered = sorted((s for s in forecast if s.end > s.start), key=lambda s: s.start)
    out: list[EnergySlot] = []
    for i, slot in enumerate(ordered):
        parts = max(1, math.ceil((slot.end - slot.start) / CHUNK_S - 1e-9))
        step = (slot.end - slot.start) / parts
        power = slot.wh / (slot.end - slot.start)
        mid = (slot.start + slot.end) / 2.0
        before = ordered[i - 1] if i > 0 and ordered[i - 1].end == slot.start else None
        after = (
            ordered[i + 1] if i + 1 < len(ordered) and ordered[i + 1].start == slot.end else None
        )
        shape = []
        for k in range(parts):
            t = slot.start + (k + 0.5) * step
            other = before if t < mid else after
            if other is None:
                shape.append(power)
                continue
            o_power = other.wh / (other.end - other.start)
            o_mid = (other.start + other.end) / 2.0
            shape.append(power + (o_power - power) * (t - mid) / (o_mid - mid))
        shape = [max(0.0, p) for p in shape]
        total = sum(shape) * step
        scale = slot.wh / total if total > 0.0 else 0.0
        out += [
            EnergySlot(slot.start + k * step, slot.start + (k + 1) * step, p * step * scale)
            for k, p in enumerate(shape)
        ]
    return out


def _house_wh(house: Sequence[EnergySlot], prior_w: float, start: float, end: float) -> float:
    """The house's expected energy in [start, end): learned (``house``) where known, else
    ``prior_w`` (the setting)."""
    learned = [s for s in house if s.end > start and s.start < end]
    covered_s = sum(min(s.end, end) - max(s.start, start) for s in learned)
    return overlap_wh(learned, start, end) + prior_w * (end - start - covered_s) / 3600.0


def overlap_wh(slots: Sequence[EnergySlot], start: float, end: float) -> float:
    """Energy of the slots within [start, end), spread evenly over each slot."""
    return sum(
        s.wh * (min(s.end, end) - max(s.start, start)) / (s.end - s.start)
        for s in _near(slots, start, end)
        if s.end > start and s.start < end
    )


def _feed_in_known(
    feed_in_prices: Sequence[PriceSlot], start: float, end: float
) -> tuple[float, float]:
    """How long (s) the feed-in sensor's prices cover [start, end), and price x time there."""
    known_s = earned = 0.0
    for slot in _near(feed_in_prices, start, end):
        if (overlap := min(slot.end, end) - max(slot.start, start)) > 0.0:
            known_s += overlap
            earned += slot.price * overlap
    return known_s, earned


def feed_in_per_wh(
    feed_in_prices: Sequence[PriceSlot], start: float, end: float, fixed: float
) -> float:
    """What a Wh exported in [start, end) earns: the feed-in prices known for that time
    (time-weighted), the fixed ``fixed`` price for the rest."""
    known_s, earned = _feed_in_known(feed_in_prices, start, end)
    if known_s <= 0.0:
        return fixed
    return (earned + fixed * max(0.0, end - start - known_s)) / (end - start)


def plan_status(
    *,
    now: float,
    departure: float,
    remaining_wh: float,
    max_power_w: float,
    efficiency: float,
    prices: Sequence[PriceSlot] = (),
    solar: Sequence[EnergySlot] = (),
    likely_solar: Sequence[EnergySlot] | None = None,
    min_power_w: float = 0.0,
    feed_in_price: float = 0.0,
    feed_in_prices: Sequence[PriceSlot] = (),
    taking_sun: bool = False,
    bridge: tuple[float, float] = (0.0, 0.0),
    zone: tzinfo | None = None,
    surplus_now_w: float | None = None,
) -> PlanStatus:
    """Whether to charge from the grid now to meet the departure target.

    ``solar``: the surplus the car may count on (Wh at the charger, see :func:`expected_surplus`);
    ``likely_solar``: what the slots are likely to give (:func:`surplus_outlook`; None:
    ``solar``), which ranks slots planned at the minimum. ``remaining_wh``
    and the result are energy into the car (after ``efficiency``). Sun below the car's
    ``min_power_w`` in a slot is of no use to it alone (it would not start on it): such a slot
    counts no sun, but may be planned at the minimum, the grid adding what the sun lacks, which
    makes its energy cheaper than the slot's price. The sun's share there is worth what it would
    earn exported: ``feed_in_prices`` where they cover the slot, else ``feed_in_price``.
    ``taking_sun``: the car charges on the sun now (it leaves it with ``KEEP_TAKING`` to spare).
    ``bridge``: per Wh of counted sun, the sun more and the grid a car held at its minimum gets
    (:func:`sun_bridge`): where the sun covers the minimum, now is held at the minimum when that
    blend is cheaper than grid the plan needs (``min_now``), without counting on it.
    ``zone``: the site's time zone, for the prices of a day earlier (None: 24 hours earlier).
    ``surplus_now_w``: the surplus measured now (PV above the house; None: unknown). Now's slot
    at the minimum is ranked by it, not by the forecast: a slot's mean sun does not say which of
    its minutes have it, and a minute in a cloud held at the minimum is nearly all grid.
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
    solar = Timeline(s for s in solar if s.end > now and s.start < departure)
    prices = Timeline(prices)
    feed_in_prices = Timeline(feed_in_prices)
    chunks, options, held = _slot_offers(
        _segments(now, departure, prices, zone),
        solar=solar,
        likely=solar if likely_solar is None else Timeline(likely_solar),
        full_w=effective_w,
        min_w=min_power_w * efficiency,
        efficiency=efficiency,
        feed_in_prices=feed_in_prices,
        feed_in_price=feed_in_price,
        bridge=bridge,
        measured=None if surplus_now_w is None else (now, surplus_now_w),
    )
    dear = _dear_sun(chunks, options, feed_in_prices, feed_in_price, remaining_wh)
    if dear:
        # That sun is left to export, and the car does not charge there (it would take it first).
        chunks = [(a, b, 0.0 if a in dear else wh) for a, b, wh in chunks]
        options = [option for option in options if option[1] not in dear]
        held = [option for option in held if option[1] not in dear]
    sun_total = sum(wh for _, _, wh in chunks)
    grid_wh = max(0.0, remaining_wh - sun_total)
    outlook = PlanOutlook(min(sun_total, remaining_wh), grid_wh)
    spare = sun_total >= remaining_wh * SAFETY_FACTOR
    # Cheapest first; among equal prices the latest first. A slot's grid share is what the car
    # takes beyond the sun's, at a pace SAFETY_FACTOR slower than nominal. Holding the minimum
    # through a sunny slot's dips is taken where it is cheaper than grid the plan buys anyway,
    # but not counted on (no night slot is left out for it): its sun is the least certain.
    ranked = sorted(
        [(*option, True) for option in options] + [(*option, False) for option in held],
        key=lambda option: (option[0], -option[1]),
    )
    covered = 0.0
    starts_at: float | None = None
    min_now = False
    for _price, start, end, room_wh, at_min, counted in ranked:
        if covered >= grid_wh:
            break
        if not counted:
            min_now = min_now or start <= now < end
            continue
        if (room := room_wh / SAFETY_FACTOR) <= 0.0:
            continue
        if start <= now < end:
            if not at_min:
                return PlanStatus(True, True, remaining_wh, needed_s, outlook=outlook)
            min_now = True
        starts_at = start if starts_at is None else min(starts_at, start)
        covered += room
    if min_now:
        return PlanStatus(False, True, remaining_wh, needed_s, outlook=outlook, min_now=True)
    waits = None
    if any(start <= now < end for start, end, _ in chunks if start in dear):
        waits = starts_at  # now's sun is left to export: wait for the grid the plan buys
    elif spare and feed_in_prices:
        keep = KEEP_TAKING if taking_sun else 1.0
        waits = _sun_waits_until(chunks, feed_in_prices, remaining_wh * SAFETY_FACTOR * keep, now)
    return PlanStatus(
        False,
        True,
        remaining_wh,
        needed_s,
        starts_at,
        outlook,
        spare_sun=spare,
        sun_waits_until=waits,
    )


# A slot's sun: (start, end, Wh counted). Its grid room: (price per Wh, start, end, room Wh,
# at the minimum only).
type SunOffer = tuple[float, float, float]
type GridOffer = tuple[float, float, float, float, bool]


def _slot_offers(
    segments: Sequence[tuple[float, float, float]],
    *,
    solar: Sequence[EnergySlot],
    likely: Sequence[EnergySlot],
    full_w: float,
    min_w: float,
    efficiency: float,
    feed_in_prices: Sequence[PriceSlot],
    feed_in_price: float,
    bridge: tuple[float, float] = (0.0, 0.0),
    measured: tuple[float, float] | None = None,
) -> tuple[list[SunOffer], list[GridOffer], list[GridOffer]]:
    """What each (start, end, price) slot offers the car: the sun it counts, grid room (the room
    beyond the sun, or the minimum with the sun's share at a blended price where the sun stays
    below the minimum), and where the sun covers the minimum, the minimum held through its dips
    (``bridge``: the sun missed and the grid, at a blended price). ``full_w`` / ``min_w``: into
    the car (after ``efficiency``). ``measured``: (now, the surplus W measured then): the slot
    with now in it blends at the minimum with that surplus instead of the likely one."""
    chunks: list[SunOffer] = []
    options: list[GridOffer] = []
    held: list[GridOffer] = []
    for start, end, price in segments:
        full_wh = full_w * (end - start) / 3600.0
        min_wh = min(full_wh, min_w * (end - start) / 3600.0)
        # The car can take no more of the sun than its own power in the slot.
        sun_wh = min(full_wh, overlap_wh(solar, start, end) * efficiency)
        if sun_wh < min_wh:
            likely_wh = overlap_wh(likely, start, end)
            if measured is not None and start <= measured[0] < end:
                likely_wh = max(0.0, measured[1]) * (end - start) / 3600.0
            sun_share = min(1.0, likely_wh * efficiency / min_wh)
            if sun_share > 0.0:
                # Sun below the minimum: the minimum with the grid's share is a cheaper slot.
                feed_in = feed_in_per_wh(feed_in_prices, start, end, feed_in_price)
                per_wh = price * (1.0 - sun_share) + feed_in * sun_share
                options.append((per_wh, start, end, min_wh, True))
                options.append((price, start, end, full_wh - min_wh, False))
            else:
                options.append((price, start, end, full_wh, False))
            sun_wh = 0.0
        else:
            # Held at the minimum through the dips: the sun missed and the grid in them.
            held_sun, held_grid = (share * sun_wh for share in bridge)
            if held_sun + held_grid > 0.0:
                feed_in = feed_in_per_wh(feed_in_prices, start, end, feed_in_price)
                per_wh = (held_grid * price + held_sun * feed_in) / (held_sun + held_grid)
                held.append((per_wh, start, end, held_sun + held_grid, True))
            options.append((price, start, end, full_wh - sun_wh, False))
        chunks.append((start, end, sun_wh))
    return chunks, options, held


def _dear_sun(
    chunks: Sequence[SunOffer],
    options: Sequence[GridOffer],
    feed_in_prices: Sequence[PriceSlot],
    feed_in_price: float,
    remaining_wh: float,
) -> set[float]:
    """Starts of the slots whose sun earns more exported than the grid energy that covers the
    plan in its place costs (a feed-in above the night's price, an old fixed feed-in tariff).

    What covers ``remaining_wh`` the cheapest: the slots' sun at the price it would earn
    exported and the grid's room at its price (a Wh of room at ``SAFETY_FACTOR``), cheapest
    first; among equal prices the sun first, the earliest sun and the latest grid first. Sun left
    out of that cover and dearer than the grid in it is left to export (not where the slot's own
    grid is in the cover: the car charging there takes its sun first). A slot planned at the
    minimum counts as sun here (its blend is mostly sun); sun beyond a cover that needs no grid
    is spare sun, as before (``_sun_waits_until``).
    """
    sun = {
        a: (feed_in_per_wh(feed_in_prices, a, b, feed_in_price), wh)
        for a, b, wh in chunks
        if wh > 0.0
    }
    items = sorted(
        [(price, 0, a, a, wh, False) for a, (price, wh) in sun.items()]
        + [
            (price, 1, -start, start, room / SAFETY_FACTOR, at_min)
            for price, start, _end, room, at_min in options
            if room > 0.0
        ]
    )
    covered = 0.0
    taken: set[float] = set()
    grid_price: float | None = None  # the dearest grid in the cover (a blend at the minimum is sun)
    for price, is_grid, _order, start, wh, at_min in items:
        if covered >= remaining_wh - 1e-6:
            break
        taken.add(start)
        covered += wh
        if is_grid and not at_min:
            grid_price = price
    if grid_price is None or covered < remaining_wh - 1e-6:
        return set()
    return {a for a, (price, _wh) in sun.items() if a not in taken and price > grid_price + 1e-9}


def _known_feed_in(feed_in_prices: Sequence[PriceSlot], start: float, end: float) -> float | None:
    """The feed-in sensor's price of [start, end) (time-weighted), None unless it covers it all."""
    known_s, earned = _feed_in_known(feed_in_prices, start, end)
    if known_s < (end - start) * (1.0 - 1e-6):
        return None
    return earned / (end - start)


def _sun_waits_until(
    chunks: Sequence[SunOffer],
    feed_in_prices: Sequence[PriceSlot],
    needed_wh: float,
    now: float,
) -> float | None:
    """With more sun ahead than needed: when the sun the plan takes begins, if now's sun is not
    part of it (None: take it now). ``chunks``: (start, end, Wh counted) per slot from now on,
    in any order. The plan takes the sun that earns least exported (``feed_in_prices``) until it
    has ``needed_wh``; at equal feed-in prices that is all of it, from now on. Sun whose feed-in
    the sensor does not know (not published yet) is taken last, and now's is taken when unknown:
    a missing price must not send the car waiting for sun it might not need."""
    sun = [(_known_feed_in(feed_in_prices, a, b), a, b, wh) for a, b, wh in chunks]
    now_feed_in = next(price for price, start, end, _ in sun if start <= now < end)
    if now_feed_in is None:
        return None
    known = [(price, start, wh) for price, start, _, wh in sun if price is not None and wh > 0.0]
    taken = 0.0
    marginal = math.inf  # unknown sun is needed too: now's is taken
    for feed_in, _start, wh in sorted(known):
        taken += wh
        if taken >= needed_wh:
            marginal = feed_in
            break
    if now_feed_in <= marginal + 1e-9:
        return None
    return min(start for feed_in, start, _ in known if feed_in <= marginal + 1e-9)
