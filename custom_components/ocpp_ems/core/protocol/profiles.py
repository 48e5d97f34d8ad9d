"""What every version's charging profiles share: the limit's resolution and the schedule's window.

A profile's schedule starts in the past, so a replaced profile never leaves a gap: a charger that
sees a start in the future falls back to the lower stack level until then, also one whose clock is
behind ours (no time source; 1.6 chargers need not take the time we send).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from custom_components.ocpp_ems.core.model import ChargingRateUnit
from custom_components.ocpp_ems.core.session import CompositeSchedule, LimitRequest, SchedulePeriod
from custom_components.ocpp_ems.core.timeutil import (
    format_timestamp,
    parse_optional_timestamp,
    utcnow,
)

# How far before now a profile's schedule starts when the request names no start: more than a
# charger's clock is plausibly behind (a minute left one 5 minutes behind at its base current for
# 4 minutes after every change). The duration is lengthened by as much: it still ends as asked.
PROFILE_START_BACKDATE = timedelta(hours=1)


def wire_limit(value: float, unit: ChargingRateUnit) -> float | int:
    """A limit as sent: A rounded to 0.1 (1.6 ``multipleOf``, 2.x "at most one digit fraction")
    as a float, W as an integer; never negative."""
    if unit is ChargingRateUnit.AMPERE:
        return float(round(max(value, 0.0), 1))
    return round(max(value, 0.0))


def schedule_window(
    request: LimitRequest, now: datetime | None = None
) -> tuple[datetime, int | None]:
    """(startSchedule, duration) of the request's schedule.

    Without a start of its own the schedule starts :data:`PROFILE_START_BACKDATE` ago, and its
    duration is lengthened by as much, so it still lasts ``duration_s`` from now."""
    if request.start is not None:
        return request.start, request.duration_s
    start = (now or utcnow()) - PROFILE_START_BACKDATE
    duration = request.duration_s
    if duration is not None:
        duration += int(PROFILE_START_BACKDATE.total_seconds())
    return start, duration


def limit_period(value: float, unit: ChargingRateUnit, number_phases: int | None) -> dict[str, Any]:
    """The one schedule period of a limit (``numberPhases`` only when given)."""
    period: dict[str, Any] = {"startPeriod": 0, "limit": wire_limit(value, unit)}
    if number_phases is not None:
        period["numberPhases"] = number_phases
    return period


def schedule_timing(request: LimitRequest, now: datetime | None = None) -> dict[str, Any]:
    """A schedule's ``startSchedule`` and (when limited) ``duration`` (see :func:`schedule_window`)."""
    start, duration = schedule_window(request, now)
    timing: dict[str, Any] = {"startSchedule": format_timestamp(start)}
    if duration is not None:
        timing["duration"] = duration
    return timing


def composite_schedule(
    connector_id: int, schedule: Mapping[str, Any] | None, start: Any
) -> CompositeSchedule | None:
    """A GetCompositeSchedule answer's schedule (1.6 ``chargingSchedule``, 2.x ``schedule``; the
    periods are alike) with its start (1.6 ``scheduleStart``, else the schedule's own
    ``startSchedule``; 2.x ``scheduleStart``); None without one."""
    if not schedule:
        return None
    periods = tuple(
        SchedulePeriod(
            start_s=int(period["startPeriod"]),
            limit=None if period.get("limit") is None else float(period["limit"]),
            phases=period.get("numberPhases"),
            details=_period_details(period),
        )
        for period in schedule.get("chargingSchedulePeriod") or ()
    )
    return CompositeSchedule(
        connector_id=connector_id,
        unit=ChargingRateUnit(schedule["chargingRateUnit"]),
        start=parse_optional_timestamp(start),
        duration_s=schedule.get("duration"),
        periods=periods,
    )


# A period's fields kept apart (``SchedulePeriod``), or not kept (a vendor's).
_PERIOD_FIELDS_APART = frozenset({"startPeriod", "limit", "numberPhases", "customData"})


def _period_details(period: Mapping[str, Any]) -> dict[str, Any]:
    """A period's other fields (2.1's), by snake_case name (``dischargeLimit_L2`` ->
    ``discharge_limit_l2``); a curve's points without their vendor data."""
    return {
        _snake_case(name): [_without_custom_data(point) for point in value]
        if isinstance(value, list)
        else value
        for name, value in period.items()
        if name not in _PERIOD_FIELDS_APART
    }


def _snake_case(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name).lower()


def _without_custom_data(point: Any) -> Any:
    if isinstance(point, Mapping):
        return {key: value for key, value in point.items() if key != "customData"}
    return point
