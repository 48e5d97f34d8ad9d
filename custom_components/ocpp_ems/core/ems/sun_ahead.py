"""Solar mode with the car's SoC and a solar forecast: does the sun still ahead fill the cars?

A solar car holds its minimum through a dip on grid energy (``solar.py``) because a stop loses
the sun of a restart. When the sun still to come today fills every solar car anyway, that sun is
not needed: the grid bought in the dips only moves the hour the car is full (on a fast-cloud day
with a small battery to fill: 10-15 % of the car's energy from the grid for nothing). Then the
cars charge as a departure plan with sun to spare does (``ChargerWork.spare_sun``): a car in a
dip stops once the dip outlasts the charger's settle time, starts only on the surplus alone, and
restarts after a longer delay (``SPARE_SUN_RESTART_S``): the sun it misses meanwhile is not
needed either.

Only where every car that takes the sun is in Solar mode with a known need (a SoC, reported or
estimated by ``demand.vehicle_soc``, and the car's capacity) and no home battery charges first
(below its priority SoC it takes an unknown share of the sun first). The sun is the forecast as
plans count on it (``plan.surplus_outlook``: the learned confidence, above the house load) until
``HORIZON_S`` ahead (the rest of today's sun, not tomorrow's: the car may leave in the evening),
``SUN_MARGIN`` times what the cars still take up to 100 %. A car's own charge limit below 100 %
only makes the need look larger: the rule then holds back, never the other way. Without a
forecast or a SoC nothing changes.

The same forecast tells, car by car, whether the sun ahead would fill a car that kept all of it
(``_mark_fills_today``): a car that will not fill up today does not hand the sun over to a car
that needs more of it (``solar._handing_over``), as it has no room to keep for the evening.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import cache

from .charger_work import ChargerWork, Kind
from .config import BatterySettings
from .measure import SiteReadings
from .plan import overlap_wh, surplus_outlook
from .types import EnergySlot, Mode

# How far ahead the forecast's sun counts: the rest of today (from the morning, not tomorrow's).
HORIZON_S = 12 * 3600.0
# The sun ahead (as plans count on it) must cover what the cars still take this many times. A
# plan that counted on too much sun buys the rest later; Solar mode has no later: a car that
# stopped in dips for sun that never came is not full. A car on surplus only also gets less
# than the surplus (its minimum, the start delays), and the forecast's house load is a guess
# (scenario suite, noisy forecast: at 1.1 a clear day's car that did not fill lost 0.7 kWh).
SUN_MARGIN = 1.5
# A car with sun to spare restarts once the surplus has carried it this long (the start delay
# if longer): each start wears the car's and the charger's contactors, and the sun it misses
# meanwhile is not needed (with ``SUN_MARGIN`` to spare; a plan's 10 % is too little for that:
# plans restart after the start delay, and the plan benchmark's cumulus day cost +14 % instead of
# +9 % of the optimum with this delay).
SPARE_SUN_RESTART_S = 300.0
# A car counts as one that fills up today (``_mark_fills_today``) while the sun ahead, as the
# forecast usually turns out, covers this share of what it still takes: a day's forecast may be
# 40 % off. Taken wrongly for one that stays short, a car keeps the sun and loses a hand-over's
# gain (scenario suite, a sunny two-car day with a noisy forecast: 2.3 kWh at a share of 1.0);
# taken wrongly for one that fills, it hands over and costs a start.
FILLS_SHARE = 0.6


# The sun ahead a car with a given smallest minimum can use (Wh): as plans count on it, and as
# the forecast usually turns out (``plan.surplus_outlook``).
type SunAhead = Callable[[float], tuple[float, float]]


def mark_sun_ahead(
    works: Sequence[ChargerWork],
    forecast: Sequence[EnergySlot],
    readings: SiteReadings,
    battery: BatterySettings,
    now: float,
) -> None:
    """What the sun still ahead today does for the Solar-mode cars: ``spare_sun`` where it fills
    all of them (``_mark_spare_sun``), ``fills_today`` car by car (``_mark_fills_today``).
    Nothing without a forecast or while a home battery charges first."""
    solar = [w for w in works if w.cfg.mode is Mode.SOLAR and w.kind is Kind.SOLAR]
    if not solar or not forecast or battery_first(readings, battery):
        return
    # The slots around the horizon only (their neighbours shape them: ``plan._refine``).
    near = [s for s in forecast if s.end > now - 3600.0 and s.start < now + HORIZON_S + 3600.0]
    plan = solar[0].site.plan

    @cache
    def sun_ahead(min_w: float) -> tuple[float, float]:
        counted, likely = surplus_outlook(near, plan, min_w)
        end = now + HORIZON_S
        return overlap_wh(counted, now, end), overlap_wh(likely, now, end)

    _mark_spare_sun(works, solar, sun_ahead)
    _mark_fills_today(solar, sun_ahead)


def _mark_spare_sun(
    works: Sequence[ChargerWork], solar: list[ChargerWork], sun_ahead: SunAhead
) -> None:
    """Set ``spare_sun`` on the Solar-mode cars when the sun ahead fills all of them."""
    # Every charging car takes the sun first, also one charging in full (Fast, a plan's slot).
    takers = [w for w in works if w.kind in (Kind.SOLAR, Kind.MIN_SOLAR, Kind.FULL)]
    if len(solar) != len(takers):
        return
    needs = [_need_wh(work) for work in solar]
    if any(need is None for need in needs):
        return
    need_wh = sum(need for need in needs if need is not None)
    # The smallest minimum of them: sun below it is of no use to any (as in plan_charge).
    counted_wh, _ = sun_ahead(min(w.smallest_min_power() for w in solar))
    if counted_wh >= need_wh * SUN_MARGIN:
        for work in solar:
            work.spare_sun = True
            work.restart_after_s = SPARE_SUN_RESTART_S


def _mark_fills_today(solar: list[ChargerWork], sun_ahead: SunAhead) -> None:
    """Set ``fills_today`` on each Solar-mode car with a known need: would the sun still ahead
    fill it, were it to keep all of it (``FILLS_SHARE``; the forecast as it usually turns out,
    no confidence margin)? A car that does not fill up today gains nothing from handing the sun
    over to another (``solar._handing_over``): the hand-over would only cost a start."""
    if len(solar) < 2:  # only a hand-over asks, and it needs two solar cars
        return
    for work in solar:
        need_wh = _need_wh(work)
        if need_wh is not None:
            _, likely_wh = sun_ahead(work.smallest_min_power())
            work.fills_today = likely_wh >= need_wh * FILLS_SHARE


def battery_first(readings: SiteReadings, battery: BatterySettings) -> bool:
    """A home battery takes the sun before the cars (``BatterySettings.car_first`` says no; a
    configured battery that is not read)."""
    if readings.battery_w is None:
        # None configured (False), or one not read (True: then no surplus is shared at all).
        return readings.battery_unread
    return not battery.car_first(readings.battery_soc)


def _need_wh(work: ChargerWork) -> float | None:
    """What the car still takes up to 100 % (Wh at the charger), None when unknown."""
    into_battery = None if work.soc is None else work.cfg.battery_wh(work.soc, 100.0)
    if into_battery is None:
        return None
    return max(0.0, into_battery) / max(work.cfg.charge_efficiency, 0.1)
