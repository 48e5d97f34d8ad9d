"""Version-agnostic :class:`~...session.LimitRequest` -> 1.6 ``csChargingProfiles`` payload."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from custom_components.ocpp_ems.core.model import ChargingRateUnit
from custom_components.ocpp_ems.core.session import LimitRequest
from custom_components.ocpp_ems.core.timeutil import format_timestamp, utcnow

# A profile's schedule starts slightly in the past, so a replaced profile never leaves a gap.
PROFILE_START_BACKDATE = timedelta(minutes=1)

# LimitRequest.purpose -> 1.6 ChargingProfilePurposeType.
PURPOSES = {
    "charger_max": "ChargePointMaxProfile",
    "tx_default": "TxDefaultProfile",
    "tx": "TxProfile",
}


def build_limit_profile(request: LimitRequest, now: datetime | None = None) -> dict[str, Any]:
    """A 1.6 ``csChargingProfiles`` for one limit.

    A is rounded to 0.1 (the schema's ``multipleOf``) and sent as float; W as an integer.
    """
    if request.unit is ChargingRateUnit.AMPERE:
        limit: float | int = float(round(max(request.limit, 0.0), 1))
    else:
        limit = round(max(request.limit, 0.0))
    period: dict[str, Any] = {"startPeriod": 0, "limit": limit}
    if request.number_phases is not None:
        period["numberPhases"] = request.number_phases
    duration = request.duration_s
    if request.start is None:
        start = (now or utcnow()) - PROFILE_START_BACKDATE
        # The duration counts from the (backdated) start: keep it lasting duration_s from now.
        if duration is not None:
            duration += int(PROFILE_START_BACKDATE.total_seconds())
    else:
        start = request.start
    schedule: dict[str, Any] = {
        "chargingRateUnit": request.unit.value,
        "chargingSchedulePeriod": [period],
        "startSchedule": format_timestamp(start),
    }
    if duration is not None:
        schedule["duration"] = duration
    profile: dict[str, Any] = {
        "chargingProfileId": request.profile_id,
        "stackLevel": request.stack_level,
        "chargingProfilePurpose": PURPOSES[request.purpose],
        "chargingProfileKind": "Absolute",
        "chargingSchedule": schedule,
    }
    if request.purpose == "tx" and request.transaction_id is not None:
        profile["transactionId"] = int(request.transaction_id)
    return profile
