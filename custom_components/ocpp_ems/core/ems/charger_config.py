"""The controller's settings of one charger: the user's choices, clamped to what the charger takes.

Pure functions: a :class:`~.charger_view.ChargerView` (the user's mode, currents and plans), the
charger's limit rules (``core.limits.LimitRules``, from its current control: bounds, step, wired
phases, capabilities) and the site-wide :class:`EmsOptions` give the
:class:`~.config.ChargerSettings` the controller runs with.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta, tzinfo

from custom_components.ocpp_ems.core.limits import LimitRules
from custom_components.ocpp_ems.core.model import EvChargingNeeds

from .charger_view import ChargerView
from .config import PRIORITY_MAX, PRIORITY_MIN, ChargerSettings, PlanTarget
from .types import StaleFallback

_DEFAULTS = ChargerSettings()


@dataclass(frozen=True, slots=True, kw_only=True)
class EmsOptions:
    """The energy manager's options that apply to every charger of the site."""

    # The controller's own defaults (read from the options table: core/ems/options.py).
    stale_fallback: StaleFallback = _DEFAULTS.stale_fallback
    stale_grace_s: float = _DEFAULTS.stale_grace_s  # how long "last limit" holds a stale input
    min_write_interval_s: float = _DEFAULTS.min_write_interval_s  # also the discharge limit's


def clamp(value: float | None, low: float, high: float, default: float) -> float:
    """``value`` within ``low .. high``; ``default`` when unset or not a number."""
    if value is None or math.isnan(value):
        return default
    return min(high, max(low, value))


def next_departure(departure: time, now: float, zone: tzinfo) -> float:
    """The next occurrence of a daily departure time (wall clock in ``zone``) after ``now``: in
    an hour the clock repeats, its first pass (or its second, once the first is over); in one it
    skips, the moment it jumps."""
    today = datetime.fromtimestamp(now, UTC).astimezone(zone).date()
    wall = departure.replace(microsecond=0, tzinfo=None)
    return min(
        instant
        for days in (0, 1, 2)
        for fold in (0, 1)
        if (
            instant := first_instant_at(
                datetime.combine(today + timedelta(days=days), wall, zone).replace(fold=fold),
                zone,
            )
        )
        > now
    )


def first_instant_at(wall: datetime, zone: tzinfo) -> float:
    """The first moment the clock in ``zone`` shows ``wall`` or later: ``wall`` itself, or, for a
    time the clock skips (02:30 the night it goes forward), the moment it jumps (03:00)."""
    naive = wall.replace(tzinfo=None)
    stamp = wall.timestamp()  # its own fold: in a repeated hour, the pass it was built on
    if datetime.fromtimestamp(stamp, zone).replace(tzinfo=None) == naive:
        return stamp
    # Skipped: the jump lies between the two readings of it, on a whole second.
    low, high = sorted((wall.replace(fold=0).timestamp(), wall.replace(fold=1).timestamp()))
    before, after = math.floor(low), math.ceil(high)
    while after - before > 1:
        middle = (before + after) // 2
        if datetime.fromtimestamp(middle, zone).replace(tzinfo=None) >= naive:
            after = middle
        else:
            before = middle
    return float(after)


def plan_target(
    view: ChargerView, now: float, zone: tzinfo, ev: EvChargingNeeds | None = None
) -> PlanTarget | None:
    """The one-off plan while it lies ahead, else the daily target energy by departure time,
    else what the car asked for (ISO 15118: its departure and energy): the user's plans win."""
    if view.plan_departure is not None and view.plan_departure.timestamp() > now:
        return PlanTarget(
            departure=view.plan_departure.timestamp(),
            energy_wh=None if view.plan_energy_kwh is None else view.plan_energy_kwh * 1000.0,
            soc=view.plan_soc,
        )
    if view.target_energy_kwh and view.departure_time is not None:
        return PlanTarget(
            departure=next_departure(view.departure_time, now, zone),
            energy_wh=view.target_energy_kwh * 1000.0,
        )
    if (
        ev is not None
        and ev.departure_time is not None
        and ev.departure_time.timestamp() > now
        and (energy_wh := ev.target_session_wh) is not None
    ):
        return PlanTarget(departure=ev.departure_time.timestamp(), energy_wh=energy_wh)
    return None


def currents(
    view: ChargerView, rules: LimitRules, ev: EvChargingNeeds | None = None
) -> tuple[float, float]:
    """(minimum, maximum) of the car's current: the user's currents clamped to the charger's
    bounds, the maximum also to what the car said it takes (``ev``: its ISO 15118 charging
    needs, if any)."""
    minimum, maximum = rules.bounds
    if ev is not None and ev.ev_max_current_a is not None and ev.ev_max_current_a >= minimum:
        maximum = min(maximum, ev.ev_max_current_a)
    if not rules.smart_charging:
        # No limit reaches this charger (only a stop and a start do): charging, it draws its
        # maximum whatever the user's currents, so it is on/off at that. Solar starts it only on
        # a surplus for all of it, the fuse counts all of it.
        return maximum, maximum
    low = clamp(view.min_current_a, minimum, maximum, minimum)
    return low, clamp(view.max_current_a, low, maximum, maximum)


def charger_settings(
    view: ChargerView,
    rules: LimitRules,
    options: EmsOptions,
    *,
    now: float,
    zone: tzinfo,
    ev: EvChargingNeeds | None = None,
    outlets: int = 1,
) -> ChargerSettings:
    """The controller's settings of one charger now (a daily departure moves on to the next day,
    a passed one-off plan ends), with its :func:`currents`. ``outlets``: how many of a station's
    outlets share its limit now (``outlets.py``): the controller decides the station's current,
    that many cars' currents (each at least the minimum, all together at most the installation
    maximum unless their minima are more), which the driver writes divided among them."""
    low, high = currents(view, rules, ev)
    if outlets > 1:
        # More cars than the installation maximum has room for at their minimum draw their
        # minimum each all the same (the limit rules raise a share below it): counted so.
        low *= outlets
        high = max(min(high * outlets, rules.max_a), low)
    phases = rules.settings.phases
    capacity = view.known_vehicle_capacity_kwh
    return ChargerSettings(
        mode=view.mode,
        min_current_a=low,
        max_current_a=high,
        phases=phases,
        line_1p=rules.settings.single_phase_line,
        # Phases are switched only by a three-phase installation's charger that can, and takes
        # limits (a switch is part of a limit).
        can_switch_phases=phases == 3
        and rules.capabilities.phase_switching
        and rules.smart_charging,
        current_step_a=rules.step_a * max(outlets, 1),
        stale_fallback=options.stale_fallback,
        stale_grace_s=options.stale_grace_s,
        min_write_interval_s=options.min_write_interval_s,
        vehicle_capacity_wh=None if capacity is None else capacity * 1000.0,
        priority=round(clamp(view.priority, PRIORITY_MIN, PRIORITY_MAX, _DEFAULTS.priority)),
        plan=plan_target(view, now, zone, ev),
    )
