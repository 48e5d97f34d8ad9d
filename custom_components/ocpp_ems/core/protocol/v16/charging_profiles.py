"""Version-agnostic :class:`~...session.LimitRequest` -> 1.6 ``csChargingProfiles`` payload."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from custom_components.ocpp_ems.core.protocol.profiles import limit_period, schedule_timing
from custom_components.ocpp_ems.core.session import LimitRequest

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
    schedule: dict[str, Any] = {
        "chargingRateUnit": request.unit.value,
        "chargingSchedulePeriod": [
            limit_period(request.limit, request.unit, request.number_phases)
        ],
        **schedule_timing(request, now),
    }
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
