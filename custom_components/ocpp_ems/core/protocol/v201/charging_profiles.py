"""Version-agnostic :class:`~...session.LimitRequest` -> 2.x SetChargingProfile payload.

Profile strategy (the same three roles as 1.6, see ``current_control.py``):

- ``charger_max`` -> ``ChargingStationMaxProfile`` on EVSE 0 (the station's hard cap; 2.x allows
  it on EVSE 0 only), Absolute, no duration;
- ``tx_default`` -> ``TxDefaultProfile`` on the request's EVSE (0: every EVSE): the safe base at
  the base stack level without a duration, and the live limit at the live stack level with a
  limited duration (the station falls back to the base when it runs out);
- ``tx`` -> ``TxProfile`` on the transaction's EVSE with its ``transactionId``. A TxProfile without
  a running transaction does not exist in 2.x (and EVSE 0 never takes one): such a request becomes
  a ``TxDefaultProfile`` on its EVSE at the same (live) stack level, which is above the base.

Units: the station's ``SmartChargingCtrlr.RateUnit`` decides. The current control writes in a unit
the station takes (``LimitRules.unit``: converted over the phases the car draws on); a request in
another unit (a raw profile action) is converted with the core's one conversion
(:class:`~...limits.LimitRules`, the charger's nominal voltage) over the phases it names, else the
station's supply phases: a W-only station never gets A.
``numberPhases`` is sent only where the station switches phases (``Phases3to1``) and never above its
supply phases; ``phaseToUse`` is left out (the station chooses the phase itself where it can, and
must reject it where it cannot).

2.1 dynamic profiles (``SmartChargingCtrlr.SupportsFeature[DynamicProfiles]``): the live limit is
set once as a ``Dynamic`` profile and its value then changed in place with UpdateDynamicSchedule
(no new profile to validate and store). Its duration stays the fail-safe: the profile is written
anew once a quarter of its window has passed (see ``commands.DYNAMIC_RENEW_FRACTION``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from custom_components.ocpp_ems.core.limits import LimitRules
from custom_components.ocpp_ems.core.model import ChargingRateUnit
from custom_components.ocpp_ems.core.protocol.profiles import limit_period, schedule_timing
from custom_components.ocpp_ems.core.session import CompositeSchedule, LimitRequest

# LimitRequest.purpose -> 2.x ChargingProfilePurposeEnumType.
PURPOSES = {
    "charger_max": "ChargingStationMaxProfile",
    "tx_default": "TxDefaultProfile",
    "tx": "TxProfile",
}
# The 1.6 name a user may still use (clear_profiles).
PURPOSE_ALIASES = {"ChargePointMaxProfile": "ChargingStationMaxProfile", **PURPOSES}


@dataclass(frozen=True, kw_only=True)
class StationLimits:
    """What a station takes in a profile, and how its A and W relate."""

    rules: LimitRules
    rate_units: frozenset[ChargingRateUnit]
    phase_switching: bool
    supply_phases: int | None = None

    def phases_for(self, number_phases: int | None) -> int:
        """The phases a limit applies to (for A <-> W): the requested ones, else the station's
        supply phases, else the charger's configured phases."""
        if number_phases:
            return number_phases
        if self.supply_phases:
            return self.supply_phases
        return self.rules.settings.phases

    def unit_for(self, unit: ChargingRateUnit) -> ChargingRateUnit:
        """``unit`` if the station takes it (or did not say), else the one it takes."""
        if not self.rate_units or unit in self.rate_units:
            return unit
        return next(iter(self.rate_units))

    def convert(
        self, value: float, unit: ChargingRateUnit, to: ChargingRateUnit, phases: int
    ) -> float:
        if unit is to:
            return value
        return self.rules.to_unit(self.rules.to_amps(value, unit, phases), to, phases)


def target_evse(request: LimitRequest) -> int:
    """The EVSE a request's profile is set on."""
    return 0 if request.purpose == "charger_max" else request.connector_id


def build_limit_profile(
    request: LimitRequest,
    station: StationLimits,
    now: datetime | None = None,
    *,
    kind: str = "Absolute",
) -> dict[str, Any]:
    """A 2.x ``chargingProfile`` for one limit (see the module docstring); ``kind`` "Dynamic"
    (2.1) for a live limit the station updates in place (one schedule, one period from 0)."""
    purpose = PURPOSES[request.purpose]
    evse_id = target_evse(request)
    if purpose == "TxProfile" and (request.transaction_id is None or evse_id == 0):
        purpose = "TxDefaultProfile"
    number_phases = request.number_phases
    if number_phases is not None and (
        not station.phase_switching
        or (station.supply_phases and number_phases > station.supply_phases)
    ):
        number_phases = None
    unit = station.unit_for(request.unit)
    limit = station.convert(
        request.limit, request.unit, unit, station.phases_for(request.number_phases)
    )
    schedule: dict[str, Any] = {
        "id": request.profile_id,
        "chargingRateUnit": unit.value,
        "chargingSchedulePeriod": [limit_period(limit, unit, number_phases)],
        **schedule_timing(request, now),
    }
    profile: dict[str, Any] = {
        "id": request.profile_id,
        "stackLevel": request.stack_level,
        "chargingProfilePurpose": purpose,
        "chargingProfileKind": kind,
        "chargingSchedule": [schedule],
    }
    if purpose == "TxProfile":
        profile["transactionId"] = request.transaction_id
    return profile


def dynamic_shape(profile: dict[str, Any]) -> dict[str, Any]:
    """A profile without what UpdateDynamicSchedule changes or a rewrite renews (the limit, the
    start and the duration): two profiles of one shape differ only in their limit."""
    schedule = dict(profile["chargingSchedule"][0])
    for key in ("startSchedule", "duration"):
        schedule.pop(key, None)
    schedule["chargingSchedulePeriod"] = [
        {k: v for k, v in period.items() if k != "limit"}
        for period in schedule["chargingSchedulePeriod"]
    ]
    return {**profile, "chargingSchedule": [schedule]}


def composite_limit(
    schedule: CompositeSchedule | None,
    unit: ChargingRateUnit | None,
    station: StationLimits,
) -> float | None:
    """The limit in force now from a composite ``schedule``, in ``unit`` (None: as the station
    answered); None when it holds no limit."""
    first = None if schedule is None else schedule.first
    if schedule is None or first is None or first.limit is None:  # 2.1: a setpoint-only period
        return None
    if unit is None or unit is schedule.unit:
        return first.limit
    return station.convert(first.limit, schedule.unit, unit, station.phases_for(first.phases))
