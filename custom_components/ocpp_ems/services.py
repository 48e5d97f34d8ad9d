"""Actions, registered once in ``async_setup`` and addressed to a charger (or connector) device.

Every action resolves its device to a loaded charger entry; an action that commands the charger
needs it online (else the translated ``charger_not_connected`` error), validates what it can
(ServiceValidationError), then sends the command; the core's errors become translated
HomeAssistantErrors that say what the charger answered (see ``entity.charger_errors``). The energy
manager's actions change settings only and work while the charger is offline.

``set_current_limit``, ``pause_charging`` and ``resume_charging`` are manual changes
(``ownership.py``): they take a charger over from the energy manager (mode Manual).

This module holds the table of every action (:data:`SERVICES`: its handler, schema, response,
whether it needs the charger online or an admin) and the handlers of the charger's commands;
the raw profile actions are ``profile_services.py``'s, the energy manager's
``ems_services.py``'s; their fields and checks ``service_fields.py``, the device they address
``service_target.py``.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

import probatio
from homeassistant.core import (
    HomeAssistant,
    ServiceCall,
    ServiceResponse,
    SupportsResponse,
    callback,
)
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers import config_validation as cv
from homeassistant.helpers.service import async_register_admin_service
from homeassistant.util import dt as dt_util

from .const import DOMAIN
from .core.current_control import MAX_LIMIT_DURATION_S, stops_failed
from .core.ems import Mode
from .core.ems.charger_view import VEHICLE_CAPACITY_MAX_KWH
from .core.model import ChargingRateUnit
from .core.session import (
    DIAGNOSTICS_LOG,
    SECURITY_LOG,
    SignedFirmware,
    next_request_id,
    remote_stop_each,
)
from .core.settings import PauseStrategy
from .ems_services import (
    async_boost_now,
    async_plan_charge,
    async_set_charge_mode,
)
from .entity import charger_errors
from .ownership import async_manual_change, energy_manager_mode
from .profile_services import (
    async_clear_charging_profiles,
    async_get_composite_schedule,
    async_set_charging_profile,
)
from .service_fields import (
    ATTR_CONNECTOR_ID,
    ATTR_COUNT,
    ATTR_CURRENT,
    ATTR_DATA,
    ATTR_DEPARTURE,
    ATTR_DURATION,
    ATTR_ENERGY,
    ATTR_EXPIRY,
    ATTR_ID_TAG,
    ATTR_KEY,
    ATTR_KEYS,
    ATTR_LOG_TYPE,
    ATTR_MESSAGE,
    ATTR_MESSAGE_ID,
    ATTR_MODE,
    ATTR_OPERATIVE,
    ATTR_PATH,
    ATTR_PROFILE,
    ATTR_PROFILE_ID,
    ATTR_PURPOSE,
    ATTR_RESERVATION_ID,
    ATTR_RETRIES,
    ATTR_RETRIEVE_DATE,
    ATTR_SECURITY_PROFILE,
    ATTR_SIGNATURE,
    ATTR_SIGNING_CERTIFICATE,
    ATTR_STACK_LEVEL,
    ATTR_TARGET_SOC,
    ATTR_TYPE,
    ATTR_UNIT,
    ATTR_URL,
    ATTR_VALUE,
    ATTR_VEHICLE_CAPACITY,
    ATTR_VENDOR_ID,
    CONNECTOR,
    DEVICE,
    instant,
    location,
    ocpp_integer,
    raw_profile,
    server_managed,
    time_period,
    whole,
)
from .service_target import (
    ChargerTarget,
    Handler,
    charger_target,
)
from .sessions_log import async_export_sessions

# request_diagnostics' log types -> the GetLog logType (diagnostics on 1.6 stays GetDiagnostics).
_LOG_TYPES: Final = {"diagnostics": DIAGNOSTICS_LOG, "security": SECURITY_LOG}
# get_composite_schedule's window when none is asked for.
COMPOSITE_DEFAULT_S: Final = 3600

TRIGGER_MESSAGES: Final = [
    "BootNotification",
    "DiagnosticsStatusNotification",
    "FirmwareStatusNotification",
    "Heartbeat",
    "MeterValues",
    "StatusNotification",
]
RESET_TYPES: Final = ["soft", "hard"]
PROFILE_PURPOSES: Final = ["charger_max", "tx_default", "tx"]
# The longest boost (a boost for "until further notice" is Fast mode).
MAX_BOOST: Final = timedelta(days=7)


# --- current control ----------
async def _set_current_limit(target: ChargerTarget, call: ServiceCall) -> ServiceResponse:
    current: float = call.data[ATTR_CURRENT]
    duration: int | None = call.data.get(ATTR_DURATION)
    rules = target.controller().rules
    if not rules.accepts(current):
        # IEC 61851 cannot signal 0 < I < 6 A: only 0 (pause) or min..max make sense.
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="current_out_of_range",
            translation_placeholders={
                "current": str(current),
                "min": str(rules.min_a),
                "max": str(rules.max_a),
            },
        )
    if current == 0 and duration is None:
        # "0 pauses": with the charger's pause strategy, like pause_charging.
        await async_manual_change(target.entry, lambda control: control.pause())
        return None
    if current == 0 and rules.pause_strategy is not PauseStrategy.ZERO_LIMIT:
        # A pause for a while is a 0 A limit for a while: it would end this charger's session.
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="pause_with_duration",
            translation_placeholders={"charger": target.entry.title},
        )
    # A limit for a while hands the charger back to the energy manager when it ends.
    hand_back = energy_manager_mode(target.entry) if duration is not None else None
    await async_manual_change(
        target.entry,
        lambda control: control.set_limit(
            current,
            duration_s=duration,
            hand_back_to=None if hand_back is None else str(hand_back),
        ),
    )
    return None


async def _pause(target: ChargerTarget, call: ServiceCall) -> ServiceResponse:
    await async_manual_change(target.entry, lambda control: control.pause())
    return None


async def _resume(target: ChargerTarget, call: ServiceCall) -> ServiceResponse:
    await async_manual_change(target.entry, lambda control: control.resume())
    return None


# --- transactions ----------
async def _start_charging(target: ChargerTarget, call: ServiceCall) -> ServiceResponse:
    id_tag: str = (
        call.data.get(ATTR_ID_TAG)
        or target.entry.runtime_data.coordinator.settings.remote_start_id_tag
    )
    await target.session().remote_start(target.connector_id(call), id_tag)
    return None


async def _stop_charging(target: ChargerTarget, call: ServiceCall) -> ServiceResponse:
    wanted = target.wanted_connector(call)
    transactions = [
        connector.transaction
        for connector in target.charger.outlets
        if connector.transaction is not None
        and (wanted is None or connector.connector_id == wanted)
    ]
    if not transactions:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="no_transaction",
            translation_placeholders={"charger_id": target.charger_id},
        )
    failed = await remote_stop_each(target.session(), [t.transaction_id for t in transactions])
    if failed:  # told as the action's error, each connector's outcome
        raise stops_failed(failed, {t.transaction_id: t.connector_id for t in transactions})
    return None


async def _export_sessions(target: ChargerTarget, call: ServiceCall) -> ServiceResponse:
    return await async_export_sessions(
        target.entry.runtime_data.coordinator.hass,
        target.entry,
        call.data.get(ATTR_PATH),
        call.data[ATTR_COUNT],
    )


# --- configuration and maintenance ----------
async def _get_configuration(target: ChargerTarget, call: ServiceCall) -> ServiceResponse:
    keys: list[str] | None = call.data.get(ATTR_KEYS) or None
    result = await target.session().get_configuration(keys)
    return dict(result)


async def _set_configuration(target: ChargerTarget, call: ServiceCall) -> ServiceResponse:
    key: str = call.data[ATTR_KEY]
    if server_managed(key):
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="server_managed_key",
            translation_placeholders={"key": key, "charger": target.entry.title},
        )
    status = await target.session().set_configuration(key, call.data[ATTR_VALUE])
    return {"status": status}


async def _trigger_message(target: ChargerTarget, call: ServiceCall) -> ServiceResponse:
    await target.session().trigger_message(call.data[ATTR_MESSAGE], target.wanted_connector(call))
    return None


async def _reset(target: ChargerTarget, call: ServiceCall) -> ServiceResponse:
    await target.session().reset(hard=call.data[ATTR_TYPE] == "hard")
    return None


async def _unlock(target: ChargerTarget, call: ServiceCall) -> ServiceResponse:
    await target.session().unlock(target.connector_id(call))
    return None


async def _change_availability(target: ChargerTarget, call: ServiceCall) -> ServiceResponse:
    status = await target.session().change_availability(
        target.wanted_connector(call), operative=call.data[ATTR_OPERATIVE]
    )
    return {"status": status}


async def _clear_cache(target: ChargerTarget, call: ServiceCall) -> ServiceResponse:
    await target.session().clear_cache()
    return None


async def _update_firmware(target: ChargerTarget, call: ServiceCall) -> ServiceResponse:
    """Plain, or signed when a signature and its certificate come along (1.6 security extension
    SignedUpdateFirmware, 2.x UpdateFirmware with them): the charger checks the image first."""
    retrieve = call.data.get(ATTR_RETRIEVE_DATE) or dt_util.utcnow()
    retries = call.data.get(ATTR_RETRIES)
    if ATTR_SIGNATURE not in call.data:
        await target.session().update_firmware(call.data[ATTR_URL], retrieve, retries)
        return None
    firmware = SignedFirmware(
        location=call.data[ATTR_URL],
        retrieve_date=retrieve,
        signing_certificate=call.data[ATTR_SIGNING_CERTIFICATE],
        signature=call.data[ATTR_SIGNATURE],
    )
    await target.session().signed_update_firmware(firmware, retries=retries)
    return None


async def _request_diagnostics(target: ChargerTarget, call: ServiceCall) -> ServiceResponse:
    """A diagnostics upload (1.6 GetDiagnostics, 2.x GetLog) or the security log (GetLog)."""
    session = target.session()
    log_type = _LOG_TYPES[call.data[ATTR_LOG_TYPE]]
    if log_type == DIAGNOSTICS_LOG:
        file_name = await session.request_diagnostics(call.data[ATTR_URL])
    else:
        file_name = await session.get_log(log_type, call.data[ATTR_URL])
    return {"file_name": file_name}


# --- reservations ----------
async def _reserve_now(target: ChargerTarget, call: ServiceCall) -> ServiceResponse:
    """Reserve a connector (the call's or device's; else the only one, else any: 0) for a tag;
    the response carries the reservation id we picked, for ``cancel_reservation``."""
    expiry: datetime = call.data[ATTR_EXPIRY]
    if expiry <= dt_util.utcnow():
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="expiry_in_past",
            translation_placeholders={"expiry": expiry.isoformat()},
        )
    connector_id = target.wanted_connector(call)
    if connector_id is None:
        connector_id = 1 if target.charger.capabilities.number_of_connectors == 1 else 0
    reservation_id = next_request_id()
    await target.session().reserve_now(connector_id, call.data[ATTR_ID_TAG], expiry, reservation_id)
    return {"reservation_id": reservation_id}


async def _cancel_reservation(target: ChargerTarget, call: ServiceCall) -> ServiceResponse:
    """Cancel the reservation ``reservation_id``; without one, each reservation in force of the
    targeted connector (charger-wide ones too), or of the whole charger (the "Reserved until"
    sensor lists them)."""
    reservation_id: int | None = call.data.get(ATTR_RESERVATION_ID)
    if reservation_id is not None:
        cancelled = [reservation_id]
    else:
        outlet = target.wanted_connector(call)
        cancelled = [
            reservation.reservation_id
            for reservation in target.charger.reservations.for_outlet(outlet, dt_util.utcnow())
        ]
        if not cancelled:
            raise ServiceValidationError(
                translation_domain=DOMAIN,
                translation_key="no_reservation",
                translation_placeholders={"charger_id": target.charger_id},
            )
    session = target.session()
    for each in cancelled:
        await session.cancel_reservation(each)
    return {"reservation_ids": [*cancelled]}


# --- security ----------
async def _upgrade_security(target: ChargerTarget, call: ServiceCall) -> ServiceResponse:
    """Move the charger to another security profile (upgrade.py); returns once it accepted, the
    outcome comes as a ``profile_changed`` security event (and a repair when rolled back)."""
    upgrades = target.entry.runtime_data.server_entry.runtime_data.upgrades
    await upgrades.async_upgrade(target.entry, call.data[ATTR_SECURITY_PROFILE])
    return {"status": "waiting"}


async def _data_transfer(target: ChargerTarget, call: ServiceCall) -> ServiceResponse:
    result = await target.session().data_transfer(
        call.data[ATTR_VENDOR_ID], call.data.get(ATTR_MESSAGE_ID), call.data.get(ATTR_DATA)
    )
    return dict(result)


@dataclass(frozen=True, kw_only=True)
class ServiceSpec:
    handler: Handler
    schema: dict[Any, Any]
    response: SupportsResponse = SupportsResponse.NONE
    # Commands the charger: refused while it is offline. False: a setting (the energy manager's).
    online: bool = True
    # Maintenance, configuration and security of the charger: for admin users only.
    admin: bool = False


SERVICES: Final[dict[str, ServiceSpec]] = {
    "set_current_limit": ServiceSpec(
        handler=_set_current_limit,
        schema={
            probatio.Required(ATTR_CURRENT): probatio.All(
                probatio.Coerce(float), probatio.Range(min=0)
            ),
            probatio.Optional(ATTR_DURATION): ocpp_integer(1, MAX_LIMIT_DURATION_S),
        },
    ),
    "pause_charging": ServiceSpec(handler=_pause, schema={}),
    "resume_charging": ServiceSpec(handler=_resume, schema={}),
    "start_charging": ServiceSpec(
        handler=_start_charging,
        schema={**CONNECTOR, probatio.Optional(ATTR_ID_TAG): cv.string},
    ),
    "stop_charging": ServiceSpec(handler=_stop_charging, schema=CONNECTOR),
    "export_sessions": ServiceSpec(
        handler=_export_sessions,
        online=False,
        schema={
            probatio.Optional(ATTR_PATH): cv.string,
            probatio.Optional(ATTR_COUNT, default=100): ocpp_integer(1, 10000),
        },
        response=SupportsResponse.OPTIONAL,
    ),
    "get_configuration": ServiceSpec(
        handler=_get_configuration,
        admin=True,
        schema={probatio.Optional(ATTR_KEYS): probatio.All(cv.ensure_list, [cv.string])},
        response=SupportsResponse.ONLY,
    ),
    "set_configuration": ServiceSpec(
        handler=_set_configuration,
        admin=True,
        schema={probatio.Required(ATTR_KEY): cv.string, probatio.Required(ATTR_VALUE): cv.string},
        response=SupportsResponse.OPTIONAL,
    ),
    "trigger_message": ServiceSpec(
        handler=_trigger_message,
        schema={**CONNECTOR, probatio.Required(ATTR_MESSAGE): probatio.In(TRIGGER_MESSAGES)},
    ),
    "reset": ServiceSpec(
        handler=_reset,
        admin=True,
        schema={probatio.Optional(ATTR_TYPE, default="soft"): probatio.In(RESET_TYPES)},
    ),
    "unlock": ServiceSpec(handler=_unlock, schema=CONNECTOR),
    "change_availability": ServiceSpec(
        handler=_change_availability,
        schema={**CONNECTOR, probatio.Required(ATTR_OPERATIVE): cv.boolean},
        response=SupportsResponse.OPTIONAL,
    ),
    "clear_cache": ServiceSpec(handler=_clear_cache, schema={}, admin=True),
    "update_firmware": ServiceSpec(
        handler=_update_firmware,
        admin=True,
        schema={
            probatio.Required(ATTR_URL): location,
            probatio.Optional(ATTR_RETRIEVE_DATE): instant,
            probatio.Optional(ATTR_RETRIES): ocpp_integer(0),
            # Both or neither: a signed update.
            probatio.Inclusive(ATTR_SIGNATURE, "signed"): cv.string,
            probatio.Inclusive(ATTR_SIGNING_CERTIFICATE, "signed"): cv.string,
        },
    ),
    "request_diagnostics": ServiceSpec(
        handler=_request_diagnostics,
        admin=True,
        schema={
            probatio.Required(ATTR_URL): location,
            probatio.Optional(ATTR_LOG_TYPE, default="diagnostics"): probatio.In(_LOG_TYPES),
        },
        response=SupportsResponse.OPTIONAL,
    ),
    "reserve_now": ServiceSpec(
        handler=_reserve_now,
        schema={
            **CONNECTOR,
            probatio.Required(ATTR_ID_TAG): cv.string,
            probatio.Required(ATTR_EXPIRY): instant,
        },
        response=SupportsResponse.OPTIONAL,
    ),
    "cancel_reservation": ServiceSpec(
        handler=_cancel_reservation,
        schema={**CONNECTOR, probatio.Optional(ATTR_RESERVATION_ID): ocpp_integer(0)},
        response=SupportsResponse.OPTIONAL,
    ),
    "upgrade_security": ServiceSpec(
        handler=_upgrade_security,
        admin=True,
        schema={
            probatio.Required(ATTR_SECURITY_PROFILE): probatio.All(whole, probatio.In([1, 2, 3]))
        },
        response=SupportsResponse.OPTIONAL,
    ),
    # Raw profiles override the live limit and the energy manager: admins only, like the
    # configuration (never above the installation maximum, see async_set_charging_profile).
    "clear_charging_profiles": ServiceSpec(
        handler=async_clear_charging_profiles,
        admin=True,
        schema={
            probatio.Optional(ATTR_PROFILE_ID): ocpp_integer(0),
            probatio.Optional(ATTR_CONNECTOR_ID): ocpp_integer(0),
            probatio.Optional(ATTR_PURPOSE): probatio.In(PROFILE_PURPOSES),
            probatio.Optional(ATTR_STACK_LEVEL): ocpp_integer(0),
        },
    ),
    "set_charging_profile": ServiceSpec(
        handler=async_set_charging_profile,
        admin=True,
        schema={
            probatio.Optional(ATTR_CONNECTOR_ID): ocpp_integer(0),
            probatio.Required(ATTR_PROFILE): raw_profile,
        },
    ),
    "get_composite_schedule": ServiceSpec(
        handler=async_get_composite_schedule,
        schema={
            probatio.Optional(ATTR_CONNECTOR_ID): ocpp_integer(0),
            probatio.Optional(ATTR_DURATION, default=COMPOSITE_DEFAULT_S): ocpp_integer(
                1, MAX_LIMIT_DURATION_S
            ),
            probatio.Optional(ATTR_UNIT): probatio.In([str(unit) for unit in ChargingRateUnit]),
        },
        response=SupportsResponse.ONLY,
    ),
    "data_transfer": ServiceSpec(
        handler=_data_transfer,
        admin=True,
        schema={
            probatio.Required(ATTR_VENDOR_ID): cv.string,
            probatio.Optional(ATTR_MESSAGE_ID): cv.string,
            probatio.Optional(ATTR_DATA): cv.string,
        },
        response=SupportsResponse.OPTIONAL,
    ),
    "set_charge_mode": ServiceSpec(
        handler=async_set_charge_mode,
        online=False,
        schema={probatio.Required(ATTR_MODE): probatio.In([str(mode) for mode in Mode])},
    ),
    "plan_charge": ServiceSpec(
        handler=async_plan_charge,
        online=False,
        schema={
            probatio.Optional(ATTR_ENERGY): probatio.All(
                probatio.Coerce(float), probatio.Range(min=0.1, max=500)
            ),
            probatio.Optional(ATTR_TARGET_SOC): probatio.All(
                probatio.Coerce(float), probatio.Range(min=1, max=100)
            ),
            probatio.Optional(ATTR_VEHICLE_CAPACITY): probatio.All(
                probatio.Coerce(float), probatio.Range(min=1, max=VEHICLE_CAPACITY_MAX_KWH)
            ),
            probatio.Required(ATTR_DEPARTURE): instant,
        },
    ),
    "boost_now": ServiceSpec(
        handler=async_boost_now,
        online=False,
        schema={
            probatio.Optional(ATTR_DURATION, default=timedelta(hours=1)): probatio.All(
                time_period, cv.positive_timedelta, probatio.Range(max=MAX_BOOST)
            ),
        },
    ),
}


@callback
def async_setup_services(hass: HomeAssistant) -> None:
    """Register every action (once per Home Assistant run, not per entry)."""
    for name, spec in SERVICES.items():
        handler = _make_service_handler(hass, spec)
        schema = probatio.Schema({**DEVICE, **spec.schema})
        if spec.admin:
            async_register_admin_service(
                hass, DOMAIN, name, handler, schema=schema, supports_response=spec.response
            )
        else:
            hass.services.async_register(
                DOMAIN, name, handler, schema=schema, supports_response=spec.response
            )


def _make_service_handler(
    hass: HomeAssistant, spec: ServiceSpec
) -> Callable[[ServiceCall], Coroutine[Any, Any, ServiceResponse]]:
    async def _handle(call: ServiceCall) -> ServiceResponse:
        target = charger_target(hass, call)
        with charger_errors(target.charger_id):
            if spec.online:
                target.session()  # an offline charger: charger_not_connected
            return await spec.handler(target, call)

    return _handle
