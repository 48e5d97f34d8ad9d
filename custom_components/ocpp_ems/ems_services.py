"""The energy manager's actions on one charger: its charge mode, a one-off plan, a boost. They
change settings only, so they work while the charger is offline; each needs the energy manager
switched on (the translated ``ems_not_enabled`` error otherwise)."""

from __future__ import annotations

from datetime import datetime, timedelta

from homeassistant.core import ServiceCall, ServiceResponse
from homeassistant.exceptions import ServiceValidationError
from homeassistant.util import dt as dt_util

from .const import DOMAIN
from .core.ems import Mode
from .core.ems.plan import MAX_PLAN_AHEAD_S
from .core.model import ControlledBy
from .energy_manager import EnergyManagerRuntime
from .service_fields import (
    ATTR_DEPARTURE,
    ATTR_DURATION,
    ATTR_ENERGY,
    ATTR_MODE,
    ATTR_TARGET_SOC,
    ATTR_VEHICLE_CAPACITY,
)
from .service_target import ChargerTarget


def _ems(target: ChargerTarget) -> EnergyManagerRuntime:
    ems = target.entry.runtime_data.server_entry.runtime_data.ems
    if not ems.enabled:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="ems_not_enabled",
            translation_placeholders={"charger": target.entry.title},
        )
    return ems


async def async_set_charge_mode(target: ChargerTarget, call: ServiceCall) -> ServiceResponse:
    _ems(target).async_update_charger(target.charger_id, mode=Mode(call.data[ATTR_MODE]))
    return None


async def async_plan_charge(target: ChargerTarget, call: ServiceCall) -> ServiceResponse:
    """A one-off plan: this much energy (or this SoC) by the departure; the mode becomes Plan."""
    ems = _ems(target)
    energy: float | None = call.data.get(ATTR_ENERGY)
    soc: float | None = call.data.get(ATTR_TARGET_SOC)
    departure: datetime = call.data[ATTR_DEPARTURE]
    if (energy is None) == (soc is None):
        raise ServiceValidationError(
            translation_domain=DOMAIN, translation_key="plan_target_missing"
        )
    if departure <= dt_util.utcnow():
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="departure_in_past",
            translation_placeholders={"departure": departure.isoformat()},
        )
    if departure > dt_util.utcnow() + timedelta(seconds=MAX_PLAN_AHEAD_S):
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="departure_too_far",
            translation_placeholders={
                "departure": departure.isoformat(),
                "days": str(round(MAX_PLAN_AHEAD_S / 86400)),
            },
        )
    view = ems.charger_view(target.charger_id)
    capacity: float | None = call.data.get(ATTR_VEHICLE_CAPACITY, view.known_vehicle_capacity_kwh)
    if soc is not None:
        if capacity is None:
            raise ServiceValidationError(
                translation_domain=DOMAIN, translation_key="vehicle_capacity_missing"
            )
        if ems.vehicle_soc(target.charger_id) is None:
            # Without the car's SoC (from the charger or the vehicle SoC sensor in the charger's
            # options) a SoC target can never be judged: say so instead of waiting.
            raise ServiceValidationError(
                translation_domain=DOMAIN,
                translation_key="vehicle_soc_unknown",
                translation_placeholders={"charger": target.entry.title},
            )
    ems.async_update_charger(
        target.charger_id,
        mode=Mode.PLAN,
        plan_departure=departure,
        plan_energy_kwh=energy,
        plan_soc=soc,
        vehicle_capacity_kwh=capacity,
    )
    return None


async def async_boost_now(target: ChargerTarget, call: ServiceCall) -> ServiceResponse:
    """Full power now, for ``duration`` (default one hour); 0 ends a boost."""
    ems = _ems(target)
    if ems.controlled_by(target.charger_id) is ControlledBy.MANUAL:
        # The user's charger: a boost would not be written; picking a mode hands it back.
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="charger_manual",
            translation_placeholders={"charger": target.entry.title},
        )
    if ems.charger_view(target.charger_id).mode is Mode.OFF:
        # Off does not charge: a boost kept for later would start charging at a mode change.
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="charger_off",
            translation_placeholders={"charger": target.entry.title},
        )
    duration: timedelta = call.data[ATTR_DURATION]
    until = dt_util.utcnow() + duration if duration.total_seconds() > 0 else None
    ems.async_boost(target.charger_id, until)
    return None
