"""The smart-charging actions on raw profiles: clear profiles, read the composite schedule, write
a profile of one's own. The charger's own profiles (installation maximum, safe current, live
limit) are written again after a clear or a write that may have touched them
(``CurrentController.restore_profiles``); no profile may go above the installation maximum."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import datetime, timedelta
from typing import Any, Final

from homeassistant.core import ServiceCall, ServiceResponse
from homeassistant.exceptions import ServiceValidationError
from homeassistant.util import dt as dt_util

from .const import DOMAIN
from .core.limits import LimitRules
from .core.model import ChargingRateUnit
from .core.session import CompositeSchedule
from .service_fields import (
    ATTR_DURATION,
    ATTR_PROFILE,
    ATTR_PROFILE_ID,
    ATTR_PURPOSE,
    ATTR_STACK_LEVEL,
    ATTR_UNIT,
)
from .service_target import ChargerTarget


async def async_clear_charging_profiles(
    target: ChargerTarget, call: ServiceCall
) -> ServiceResponse:
    await target.session().clear_profiles(
        profile_id=call.data.get(ATTR_PROFILE_ID),
        connector_id=target.profile_connector(call),
        purpose=call.data.get(ATTR_PURPOSE),
        stack_level=call.data.get(ATTR_STACK_LEVEL),
    )
    # It may have removed our own live and safe-fallback profiles as well.
    await target.controller().restore_profiles()
    return None


async def async_get_composite_schedule(target: ChargerTarget, call: ServiceCall) -> ServiceResponse:
    """What the charger will apply from now on: the result of every profile it holds (the
    installation maximum, the live limit and its safe fallback, anyone else's)."""
    connector_id = target.profile_connector(call)
    if connector_id is None:
        connector_id = target.connector_id(call)
    unit: str | None = call.data.get(ATTR_UNIT)
    asked_at = dt_util.utcnow()
    schedule = await target.session().get_composite_schedule(
        connector_id, call.data[ATTR_DURATION], None if unit is None else ChargingRateUnit(unit)
    )
    return _schedule_response(connector_id, schedule, asked_at)


def _schedule_response(
    connector_id: int, schedule: CompositeSchedule | None, asked_at: datetime
) -> dict[str, Any]:
    """The action's answer: the schedule's periods in order, each with its start (the charger's
    schedule start, else when we asked: the schedule is asked for from now), and the limit in
    force now; a charger that holds no schedule answers with no periods."""
    if schedule is None:
        return {
            "connector_id": connector_id,
            "unit": None,
            "start": None,
            "duration": None,
            "limit": None,
            "periods": [],
        }
    start = schedule.start or asked_at
    first = schedule.first
    return {
        "connector_id": schedule.connector_id,
        "unit": schedule.unit.value,
        "start": start.isoformat(),
        "duration": schedule.duration_s,
        "limit": None if first is None else first.limit,
        "periods": [
            {
                "start": (start + timedelta(seconds=period.start_s)).isoformat(),
                "offset": period.start_s,
                "limit": period.limit,
                "phases": period.phases,
                **period.details,
            }
            for period in sorted(schedule.periods, key=lambda period: period.start_s)
        ],
    }


# A period's limits (2.1: phases 2 and 3 apart, and setpoints); numberPhases is 3 when left out.
_PERIOD_LIMITS: Final = tuple(
    f"{name}{phase}" for name in ("limit", "setpoint") for phase in ("", "_L2", "_L3")
)
_DEFAULT_PHASES: Final = 3


def _raw_limits_a(profile: Mapping[str, Any], rules: LimitRules) -> Iterator[float]:
    """Every numeric limit of a raw profile's schedule (1.6: one, 2.x: a list) in A per phase;
    anything else is left to the OCPP schema check."""
    schedules = profile.get("chargingSchedule")
    for schedule in schedules if isinstance(schedules, list) else [schedules]:
        if not isinstance(schedule, Mapping):
            continue
        watts = schedule.get("chargingRateUnit") == "W"
        unit = ChargingRateUnit.WATT if watts else ChargingRateUnit.AMPERE
        for period in schedule.get("chargingSchedulePeriod") or []:
            if not isinstance(period, Mapping):
                continue
            phases = period.get("numberPhases")
            if not isinstance(phases, int) or phases < 1:
                phases = _DEFAULT_PHASES
            for key in _PERIOD_LIMITS:
                value = period.get(key)
                if isinstance(value, int | float) and not isinstance(value, bool):
                    yield rules.to_amps(float(value), unit, phases)


async def async_set_charging_profile(target: ChargerTarget, call: ServiceCall) -> ServiceResponse:
    profile: dict[str, Any] = call.data[ATTR_PROFILE]
    rules = target.controller().rules
    # The installation maximum is the circuit's: no profile may go above it (nor be NaN).
    if not all(amps <= rules.max_a for amps in _raw_limits_a(profile, rules)):
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="profile_above_maximum",
            translation_placeholders={"charger": target.entry.title, "max": str(rules.max_a)},
        )
    connector_id = target.profile_connector(call)
    await target.session().set_raw_profile(connector_id or 0, dict(profile))
    # It may have replaced one of ours (same id, or same purpose and stack level).
    await target.controller().restore_profiles()
    return None
