"""A planned charge in one update: the energy still to charge, and whether a planned slot is now.

:func:`~.plan.plan_status` picks the slots; this module gives it what the car still needs (energy,
or a SoC target turned into energy), the power the car can really take, the solar surplus the
site's forecast promises before departure (less what a home battery that comes first takes), the
site's prices (grid and feed-in) and the surplus now, which ranks now's slot at the minimum. A car
run at the minimum starts and stops as a solar car does (the start delay, the surplus smoothed
over a start's time; a dip held until its grid costs a restart): under passing clouds that
surplus changes every minute, the car must not.
"""

from __future__ import annotations

import math

from .charger_work import ChargerMemory, ChargerWork, Kind
from .config import ChargerSettings, PlanTarget, SiteSettings
from .measure import SiteReadings
from .plan import BatteryFill, plan_status, sun_bridge, surplus_outlook
from .plan_learning import pv_and_house
from .solar import dip_grid_wh, enable_delay, restart_s, switch_on
from .sun_ahead import battery_first
from .types import Reason, SiteInputs


def resolve_plan(
    work: ChargerWork, site_inputs: SiteInputs, readings: SiteReadings, now: float
) -> None:
    """Full power in a planned slot (or when late), the minimum with the sun in a slot planned
    so, else surplus only until the next slot (stopping at once in a dip when the sun ahead
    is more than the plan needs: holding the minimum would buy the grid at the day's price), or
    none while a dynamic feed-in makes later sun the better buy. ``readings``: the site's, as the
    controller read them for this update."""
    cfg, ci, site = work.cfg, work.inputs, work.site
    work.kind = Kind.SOLAR
    work.say(Reason.PLAN_WAITING)
    plan = cfg.plan
    if plan is None:
        return
    remaining, uses_soc, soc_missing = _remaining_wh(cfg, plan, work.soc, ci.session_energy_wh)
    waiting = Reason.PLAN_SOC_UNAVAILABLE if soc_missing else Reason.PLAN_WAITING
    work.say(waiting)
    if remaining is None or now >= plan.departure:
        return
    if remaining <= 0.0:
        work.say(Reason.TARGET_REACHED)
        return
    # A switchable charger plans on its phases (it switches up for the plan), but a car seen on
    # fewer in this session (a 1p car) gains nothing from a switch.
    phases = (
        min(cfg.phases, work.memory.car_phases or cfg.phases)
        if work.switchable
        else work.vehicle_phases
    )
    # What the car can really get: its maximum, its share of the fuse (even with no house load)
    # and what it was seen taking (taper) - planning with more would start too late.
    amps = min(work.car_max_a(), _fuse_share_a(site, site_inputs))
    # Sun below the car's minimum is of no use to it alone (a switchable charger starts on 1p).
    # A slot planned at the minimum runs as Min + solar: the minimum, and the sun above it.
    min_w = work.smallest_min_power()
    battery = _battery_fill(site, readings, now)
    counted, likely = surplus_outlook(site_inputs.solar_forecast, site.plan, min_w, battery)
    status = plan_status(
        now=now,
        departure=plan.departure,
        remaining_wh=remaining,
        max_power_w=amps * site.voltage_v * phases,
        # An energy target is metered at the charger (losses included); a SoC target is
        # what reaches the car's battery, so only that one pays the charging losses.
        efficiency=cfg.charge_efficiency if uses_soc else 1.0,
        prices=site_inputs.prices,
        solar=counted,
        likely_solar=likely,
        min_power_w=min_w,
        feed_in_price=site.plan.feed_in_price,
        feed_in_prices=site_inputs.feed_in_prices,
        taking_sun=work.memory.active,
        bridge=sun_bridge(site.plan, min_w),
        zone=site.plan.zone,
        surplus_now_w=None if battery is not None else _surplus_now_w(work, site_inputs, now),
    )
    work.plan_feasible = status.feasible
    work.plan = status.outlook
    if status.charge_now:
        work.kind = Kind.FULL
        work.say(Reason.PLANNED_SLOT)
    elif status.min_now:
        _run_at_minimum(work, now)
    elif status.sun_waits_until is not None:
        # The sun now earns more exported than the sun later that covers the plan.
        work.kind = Kind.PAUSED
        work.memory.active = False
        work.say(waiting, status.sun_waits_until)
    else:
        work.spare_sun = status.spare_sun
        work.say(waiting, status.starts_at)


def _run_at_minimum(work: ChargerWork, now: float) -> None:
    """Now is planned at the minimum (Min + solar). A car that is not running starts as a solar
    car does, once that has held for the start delay; running, it is a solar car that is on:
    where the sun no longer makes the minimum worth it (a cloud, the slot's end) the surplus
    rules take it on, held through a dip until its grid costs a restart. Ranked by the surplus
    measured now, a car stopped in every cloud and started in every sunny minute would wear its
    charger's contactor (``ems_plan``: starts +18 %)."""
    memory = work.memory
    if _running(memory):
        # The minimum is worth it now: a dip the surplus rules were holding it through is over
        # (as a start ends one: switch_on).
        memory.disable.reset()
        dip_grid_wh(memory, None, now)
        memory.active = True
    else:
        delay = enable_delay(work, work.site.solar)
        if not memory.enable.update(True, now, delay):
            work.kind = Kind.PAUSED
            work.say(Reason.STARTING, memory.enable.due_at(delay))
            return
        switch_on(work, memory.phases, now)
    work.kind = Kind.MIN_SOLAR
    work.say(Reason.PLANNED_SLOT)


def _running(memory: ChargerMemory) -> bool:
    """The car is on: a solar car switched on, or its last write let it draw."""
    last = memory.last_write
    return memory.active or (last is not None and not last.paused)


def _surplus_now_w(work: ChargerWork, site_inputs: SiteInputs, now: float) -> float | None:
    """The surplus now (the PV above the house, as the plan's learning measures it; None:
    unknown), which ranks now's slot at the minimum, smoothed over the time a start takes (the
    start delay and the car's response): sun that does not last through a start is not worth
    one, nor is a cloud shorter than that worth a stop. Taken as measured for a running car,
    every cloud of more than a minute read every few seconds stopped it (two hours of 10-90 s
    clouds: 10-43 starts, ``test_plan_no_flap``)."""
    pv, house = pv_and_house(site_inputs)
    memory = work.memory
    if pv is None or house is None:
        memory.surplus_smoothed = None
        return None
    measured = pv - house
    last = memory.surplus_smoothed
    if last is None:
        memory.surplus_smoothed = (measured, now)
        return measured
    smoothed, at = last
    weight = 1.0 - math.exp(-max(0.0, now - at) / max(restart_s(work, work.site.solar), 1.0))
    memory.surplus_smoothed = (smoothed + (measured - smoothed) * weight, now)
    return memory.surplus_smoothed[0]


def _fuse_share_a(site: SiteSettings, site_inputs: SiteInputs) -> float:
    """The current (A) a plan counts on: its fair share of the fuse among the cars plugged in.

    Planned slots fill the fuse before the other cars, which keep at most their minimums
    (``fuse._PLAN_PRIORITY``). With n cars plugged in, k of them in planned slots of equal
    priority, each of those gets (F - (n - k) x minimum) / k >= F / n wherever the minimums fit
    (minimum <= F / n): sized with F / n, every plan is met even when all pick the same slots.
    One car: the whole fuse.
    """
    if site.fuse_a is None:
        return math.inf
    plugged = sum(1 for ci in site_inputs.chargers.values() if ci.connected and ci.plugged)
    return max(0.0, site.fuse_a - site.fuse_margin_a) / max(1, plugged)


def _battery_fill(site: SiteSettings, readings: SiteReadings, now: float) -> BatteryFill | None:
    """The home battery's claim on the sun ahead while it comes first (``sun_ahead.battery_first``:
    below the priority SoC, or not read): up to what it takes at most (the setting, else as
    measured; unknown: all of the surplus), until it reaches the priority SoC: capacity (the
    setting, else as learned: ``measure.CapacityLearner``) x (priority SoC - SoC) / 100. Without
    its capacity or SoC the energy it still takes is unknown: it keeps its power until departure,
    as a plan that counts on sun the battery takes buys the day's grid at the end; the plan is
    rebuilt every minute and counts the sun again once the battery is at its priority SoC."""
    rules = site.battery
    if not battery_first(readings, rules):
        return None
    power_w = rules.max_charge_w if rules.max_charge_w is not None else site.plan.battery_charge_w
    capacity_wh = rules.capacity_wh
    if capacity_wh is None:
        capacity_wh = site.plan.battery_capacity_wh
    energy_wh = math.inf
    if capacity_wh is not None and readings.battery_soc is not None:
        energy_wh = capacity_wh * (rules.priority_soc - readings.battery_soc) / 100.0
    return BatteryFill(now, math.inf if power_w is None else power_w, energy_wh)


def _remaining_wh(
    cfg: ChargerSettings, plan: PlanTarget, soc: float | None, energy_wh: float | None
) -> tuple[float | None, bool, bool]:
    """Energy still to charge, whether it is a SoC target (into the car's battery), and whether
    a SoC target has no SoC to go by (then the energy target counts, if there is one). ``soc``:
    the car's SoC now, reported or estimated (``demand.vehicle_soc``)."""
    if plan.soc is not None and soc is not None:
        into_battery = cfg.battery_wh(soc, plan.soc)
        if into_battery is not None:
            return into_battery, True, False
    soc_missing = plan.soc is not None
    if plan.energy_wh is not None:
        return plan.energy_wh - (energy_wh or 0.0), False, soc_missing
    return None, False, soc_missing
