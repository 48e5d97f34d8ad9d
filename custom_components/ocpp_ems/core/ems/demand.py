"""Demand: what each charger asks for in this update, before the surplus and the fuse are shared.

"Full" (as much as allowed) for Fast, a boost, a minimum charge, a planned slot and the solar
modes at a cheap grid price (``cheap_grid.py``); "min_solar" (the minimum plus a share of the
surplus) for Min + solar; "solar" (surplus only) for Solar and a plan waiting for its slot; a
pause for Off, an unplugged car or a reached target. While an input that a charger's kind needs
is stale, the charger falls back to its ``stale_fallback`` instead.
"""

from __future__ import annotations

from .charger_work import ChargerMemory, ChargerWork, Kind
from .config import ChargerSettings
from .measure import SiteReadings
from .phases import full_phases
from .plan_charge import resolve_plan
from .types import ChargerInputs, Mode, Reason, SiteInputs, StaleFallback, plausible_soc

# The modes that charge in full from the grid at a cheap price (plans pick their own slots).
_CHEAP_GRID_MODES = (Mode.SOLAR, Mode.MIN_SOLAR)


def resolve_kind(
    work: ChargerWork,
    site_inputs: SiteInputs,
    readings: SiteReadings,
    now: float,
    cheap_end: float | None,
) -> None:
    """Set the charger's kind and reason from its mode, boost, minimum charge, plan and the
    cheap grid run now lies in (``cheap_end``: its end, None: not cheap now); ``readings``: the
    site's for this update (a plan's home battery)."""
    cfg, memory, ci = work.cfg, work.memory, work.inputs
    if memory.boost_until is not None and now >= memory.boost_until:
        memory.boost_until = None
    if not ci.connected:
        work.say(Reason.CHARGER_UNAVAILABLE)
        return
    if cfg.mode is Mode.OFF:
        work.say(Reason.OFF)
        memory.active = False
        return
    if not ci.plugged:
        work.say(Reason.NOT_PLUGGED)
        memory.active = False
        return
    work.target_a = cfg.max_current_a  # used only by the "full" kind
    work.soc = vehicle_soc(cfg, ci, memory)
    if memory.boost_until is not None:
        work.kind = Kind.FULL
        work.say(Reason.BOOST, memory.boost_until)
    elif _below_minimum(cfg, ci, work.soc):
        work.kind = Kind.FULL
        work.say(Reason.MINIMUM_CHARGE)
    elif cfg.mode is Mode.FAST:
        work.kind = Kind.FULL
        work.say(Reason.FAST)
    elif cfg.mode in _CHEAP_GRID_MODES and cheap_end is not None:
        work.kind = Kind.FULL
        # Running when the run ends: the surplus rules take it on from there (no stop and
        # start delay on a sunny afternoon; the stop rules in a deficit).
        memory.active = True
        work.say(Reason.CHEAP_GRID, cheap_end)
    elif cfg.mode is Mode.MIN_SOLAR:
        work.kind = Kind.MIN_SOLAR
        work.say(Reason.MIN_CURRENT_HELD)
    elif cfg.mode is Mode.SOLAR:
        work.kind = Kind.SOLAR
        work.say(Reason.WAITING_FOR_SURPLUS)
    else:
        resolve_plan(work, site_inputs, readings, now)
    if work.kind is Kind.FULL:
        full_phases(work, now)


def demand_wake_ups(work: ChargerWork, now: float) -> list[float]:
    """A boost's end and the plan's next look (how far the car got, whether a slot began)."""
    wake: list[float] = []
    if work.memory.boost_until is not None:  # (``resolve_kind`` dropped one that ended)
        wake.append(work.memory.boost_until)
    plan = work.cfg.plan
    if work.cfg.mode is Mode.PLAN and plan is not None and now < plan.departure:
        wake.append(now + 60.0)
    return wake


def vehicle_soc(cfg: ChargerSettings, ci: ChargerInputs, memory: ChargerMemory) -> float | None:
    """The car's SoC now (%): a new reading as it is; the same reading seen again (no new
    report: ``Reading.at`` unchanged) or an unavailable sensor, the last reading plus the energy
    charged since it was first seen (at ``charge_efficiency``, with the car's capacity; without
    the capacity, the reading as it is, and None while unavailable)."""
    reading = ci.vehicle_soc
    if reading is not None and not plausible_soc(reading.value):
        reading = None  # unavailable, or an error code (255 %): no report
    energy = ci.session_energy_wh or 0.0
    if reading is not None and reading.value is not None and reading.at != memory.soc_at:
        memory.soc_seen, memory.soc_at = (reading.value, energy), reading.at
    if memory.soc_seen is None:
        return None
    if not cfg.vehicle_capacity_wh:
        return reading.value if reading is not None else None
    last_soc, last_energy = memory.soc_seen
    added = max(0.0, energy - last_energy) * cfg.charge_efficiency
    return min(100.0, last_soc + added / cfg.vehicle_capacity_wh * 100.0)


def _below_minimum(cfg: ChargerSettings, ci: ChargerInputs, soc: float | None) -> bool:
    if cfg.min_soc is not None and soc is not None and soc < cfg.min_soc:
        return True
    energy = ci.session_energy_wh
    return cfg.min_energy_wh is not None and energy is not None and energy < cfg.min_energy_wh


def stale_fallback(work: ChargerWork, now: float) -> float | None:
    """What the charger does while an input its kind needs is stale (``cfg.stale_fallback``).

    Min current pauses a charger that has nothing gentler than its full current (its minimum
    is its maximum: on/off, ``charger_config.currents``): a fallback at 11 kW on an unknown
    surplus or fuse is no fallback. Returns when the grace period ends while the last limit
    holds (None: nothing waits).
    """
    memory, cfg = work.memory, work.cfg
    if memory.stale_since is None:
        memory.stale_since = now
    work.stale = True
    work.say(Reason.STALE_INPUT)
    policy = cfg.stale_fallback
    last = memory.last_write
    if policy is StaleFallback.LAST_LIMIT and now - memory.stale_since < cfg.stale_grace_s:
        if last is not None and not last.paused:
            work.kind, work.target_a = Kind.MIN_SOLAR, last.current_a
            # The last limit holds for the grace period, then the charger pauses.
            work.say(Reason.STALE_INPUT, memory.stale_since + cfg.stale_grace_s)
            return work.until
        policy = StaleFallback.PAUSE
    if policy is StaleFallback.MIN_CURRENT and cfg.min_current_a < cfg.max_current_a:
        work.kind, work.target_a = Kind.MIN_SOLAR, cfg.min_current_a
    else:
        work.kind, work.target_a = Kind.PAUSED, 0.0
    return None
