"""A planned charge in one update: the energy still to charge, and whether a planned slot is now.

:func:`~.plan.plan_status` picks the slots; this module gives it what the car still needs (energy,
or a SoC target turned into energy), the power the car can really take, the solar surplus the
site's forecast promises before departure and the site's prices (grid and feed-in).
"""

from __future__ import annotations

from .charger_work import ChargerWork, Kind
from .config import ChargerSettings, PlanTarget
from .plan import plan_status, sun_bridge, surplus_outlook
from .types import Reason, SiteInputs


def resolve_plan(work: ChargerWork, site_inputs: SiteInputs, now: float) -> None:
    """Full power in a planned slot (or when late), the minimum with the sun in a slot planned
    so, else surplus only until the next slot (stopping at once in a dip when the sun ahead
    is more than the plan needs: holding the minimum would buy the grid at the day's price), or
    none while a dynamic feed-in makes later sun the better buy."""
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
    phases = cfg.phases if work.switchable else work.vehicle_phases
    # What the car can really get: its maximum, the fuse (even with no house load) and what
    # it was seen taking (taper) - planning with more would start too late.
    amps = work.car_max_a()
    if site.fuse_a is not None:
        amps = min(amps, max(0.0, site.fuse_a - site.fuse_margin_a))
    # Sun below the car's minimum is of no use to it alone (a switchable charger starts on 1p).
    # A slot planned at the minimum runs as Min + solar: the minimum, and the sun above it.
    min_w = work.smallest_min_power()
    counted, likely = surplus_outlook(site_inputs.solar_forecast, site.plan, min_w)
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
    )
    work.plan_feasible = status.feasible
    work.plan = status.outlook
    if status.charge_now:
        work.kind = Kind.FULL
        work.say(Reason.PLANNED_SLOT)
    elif status.min_now:
        work.kind = Kind.MIN_SOLAR
        work.say(Reason.PLANNED_SLOT)
    elif status.sun_waits_until is not None:
        # The sun now earns more exported than the sun later that covers the plan.
        work.kind = Kind.PAUSED
        work.memory.active = False
        work.say(waiting, status.sun_waits_until)
    else:
        work.spare_sun = status.spare_sun
        work.say(waiting, status.starts_at)


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
