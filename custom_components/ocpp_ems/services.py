"""Actions, registered once in ``async_setup`` and addressed to a charger (or connector) device.

Every action resolves its device to a loaded charger entry; an action that commands the charger
needs it online (else the translated ``charger_not_connected`` error), validates what it can
(ServiceValidationError), then sends the command; the core's errors become translated
HomeAssistantErrors that say what the charger answered (see ``entity.charger_errors``). The energy
manager's actions change settings only and work while the charger is offline.

``set_current_limit``, ``pause_charging`` and ``resume_charging`` are manual changes
(``ownership.py``): they take a charger over from the energy manager (mode Manual).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final
from urllib.parse import urlparse

import probatio
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import (
    HomeAssistant,
    ServiceCall,
    ServiceResponse,
    SupportsResponse,
    callback,
)
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers import config_validation as cv
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers.service import async_register_admin_service
from homeassistant.util import dt as dt_util

from .const import DOMAIN
from .coordinator import ChargerConfigEntry
from .core.current_control import MAX_LIMIT_DURATION_S, CurrentController, stops_failed
from .core.ems import Mode
from .core.ems.charger_config import first_instant_at
from .core.ems.charger_view import VEHICLE_CAPACITY_MAX_KWH
from .core.ems.plan import MAX_PLAN_AHEAD_S
from .core.limits import LimitRules
from .core.model import Charger, ChargingRateUnit, ControlledBy
from .core.protocol.v16.provisioning import AUTHORIZATION_KEY, SECURITY_PROFILE_KEY
from .core.protocol.v201.device_model import (
    BASIC_AUTH_PASSWORD,
    NETWORK_CONFIGURATION_PRIORITY,
    SECURITY_PROFILE,
    VariableId,
)
from .core.session import (
    DIAGNOSTICS_LOG,
    SECURITY_LOG,
    ChargerSession,
    CompositeSchedule,
    SignedFirmware,
    next_request_id,
    remote_stop_each,
)
from .core.settings import PauseStrategy
from .energy_manager import EnergyManagerRuntime
from .entity import charger_errors, require_session
from .hub import is_charger_entry
from .ownership import async_manual_change, energy_manager_mode
from .sessions_log import async_export_sessions

ATTR_DEVICE_ID: Final = "device_id"
ATTR_CONNECTOR_ID: Final = "connector_id"
ATTR_CURRENT: Final = "current"
ATTR_DURATION: Final = "duration"
ATTR_ID_TAG: Final = "id_tag"
ATTR_KEYS: Final = "keys"
ATTR_KEY: Final = "key"
ATTR_VALUE: Final = "value"
ATTR_MESSAGE: Final = "message"
ATTR_TYPE: Final = "type"
ATTR_URL: Final = "url"
ATTR_RETRIEVE_DATE: Final = "retrieve_date"
ATTR_RETRIES: Final = "retries"
ATTR_SIGNING_CERTIFICATE: Final = "signing_certificate"
ATTR_SIGNATURE: Final = "signature"
ATTR_LOG_TYPE: Final = "log_type"
# request_diagnostics' log types -> the GetLog logType (diagnostics on 1.6 stays GetDiagnostics).
_LOG_TYPES: Final = {"diagnostics": DIAGNOSTICS_LOG, "security": SECURITY_LOG}
ATTR_PROFILE_ID: Final = "profile_id"
ATTR_PURPOSE: Final = "purpose"
ATTR_STACK_LEVEL: Final = "stack_level"
ATTR_PROFILE: Final = "profile"
ATTR_VENDOR_ID: Final = "vendor_id"
ATTR_MESSAGE_ID: Final = "message_id"
ATTR_DATA: Final = "data"
ATTR_MODE: Final = "mode"
ATTR_ENERGY: Final = "energy_kwh"
ATTR_TARGET_SOC: Final = "target_soc"
ATTR_VEHICLE_CAPACITY: Final = "vehicle_capacity_kwh"
ATTR_DEPARTURE: Final = "departure"
ATTR_OPERATIVE: Final = "operative"
ATTR_EXPIRY: Final = "expiry"
ATTR_RESERVATION_ID: Final = "reservation_id"
ATTR_SECURITY_PROFILE: Final = "security_profile"
ATTR_UNIT: Final = "unit"
# get_composite_schedule's window when none is asked for.
COMPOSITE_DEFAULT_S: Final = 3600
ATTR_PATH: Final = "path"
ATTR_COUNT: Final = "count"

TRIGGER_MESSAGES: Final = [
    "BootNotification",
    "DiagnosticsStatusNotification",
    "FirmwareStatusNotification",
    "Heartbeat",
    "MeterValues",
    "StatusNotification",
]
RESET_TYPES: Final = ["soft", "hard"]
LOCATION_SCHEMES: Final = ("http", "https", "ftp", "ftps", "sftp")
PROFILE_PURPOSES: Final = ["charger_max", "tx_default", "tx"]
# The longest boost (a boost for "until further notice" is Fast mode).
MAX_BOOST: Final = timedelta(days=7)
# OCPP's integer has 32 bits: a larger id, level or count would overflow in the charger.
OCPP_INTEGER_MAX: Final = 2**31 - 1
# What Home Assistant keeps in step with the charger (its password, its security profile, the
# connection it uses): changed behind its back, the charger is locked out at its next connection.
# ``upgrade_security`` and the charger's options change them safely. 1.6 keys, and 2.x variables
# as component.variable (any instance or EVSE); casefolded (OCPP keys are case-insensitive).
_SERVER_MANAGED_KEYS: Final = frozenset(
    name.casefold()
    for name in (
        AUTHORIZATION_KEY,
        SECURITY_PROFILE_KEY,
        *(
            f"{variable.component}.{variable.variable}"
            for variable in (BASIC_AUTH_PASSWORD, SECURITY_PROFILE, NETWORK_CONFIGURATION_PRIORITY)
        ),
    )
)


def _whole(value: Any) -> int:
    """A whole number, also as a float or text (a template from an input_number renders 1.0);
    a fraction is refused, not cut off (1.9 is not reservation 1)."""
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError) as err:
        raise probatio.Invalid("expected a whole number") from err
    if isinstance(value, bool) or not number.is_integer():
        raise probatio.Invalid("expected a whole number")
    return int(number)


def _ocpp_integer(minimum: int, maximum: int = OCPP_INTEGER_MAX) -> probatio.All[int]:
    return probatio.All(_whole, probatio.Range(min=minimum, max=maximum))


def _time_period(value: Any) -> timedelta:
    """A duration; one too long for a timedelta is bad input, not an OverflowError."""
    try:
        period: timedelta = cv.time_period(value)
    except OverflowError as err:
        raise probatio.Invalid("duration too long") from err
    return period


def _instant(value: Any) -> datetime:
    """A date-time as a moment (UTC). One without an offset (the action's date-time picker) is a
    wall-clock time in Home Assistant's time zone; one the clock skips there (02:30 the night it
    goes forward) is the moment it jumps (03:00), as for a daily departure."""
    parsed: datetime = cv.datetime(value)
    if parsed.tzinfo is not None:
        return dt_util.as_utc(parsed)
    zone = dt_util.get_default_time_zone()
    return datetime.fromtimestamp(first_instant_at(parsed.replace(tzinfo=zone), zone), UTC)


def _server_managed(key: str) -> bool:
    variable = VariableId.parse(key)
    name = key if variable is None else f"{variable.component}.{variable.variable}"
    return name.strip().casefold() in _SERVER_MANAGED_KEYS


_DEVICE: Final = {probatio.Required(ATTR_DEVICE_ID): cv.string}
_CONNECTOR: Final = {probatio.Optional(ATTR_CONNECTOR_ID): _ocpp_integer(1)}


@dataclass(kw_only=True)
class ChargerTarget:
    """The charger an action is addressed to."""

    entry: ChargerConfigEntry
    charger_id: str
    # Set when the targeted device is one connector of a multi-outlet charger.
    device_connector_id: int | None

    @property
    def charger(self) -> Charger:
        return self.entry.runtime_data.coordinator.charger

    def session(self) -> ChargerSession:
        return require_session(self.entry.runtime_data.central, self.charger_id)

    def controller(self) -> CurrentController:
        return self.entry.runtime_data.central.current_control(self.charger_id)

    def wanted_connector(self, call: ServiceCall) -> int | None:
        """The connector from the call, else from the device (None: the whole charger); one the
        charger does not have is the caller's mistake (never sent to it)."""
        connector_id: int | None = call.data.get(ATTR_CONNECTOR_ID) or self.device_connector_id
        if connector_id is not None and connector_id not in self.charger.outlet_ids:
            raise ServiceValidationError(
                translation_domain=DOMAIN,
                translation_key="unknown_connector",
                translation_placeholders={
                    "charger_id": self.charger_id,
                    "connector_id": str(connector_id),
                },
            )
        return connector_id

    def profile_connector(self, call: ServiceCall) -> int | None:
        """For the raw profile actions: the call's connector (0: the charger as a whole), else
        the device's (None: the call's and the device's are unset)."""
        if call.data.get(ATTR_CONNECTOR_ID) == 0:
            return 0
        return self.wanted_connector(call)

    def connector_id(self, call: ServiceCall) -> int:
        """The connector from the call, else from the device, else 1."""
        return self.wanted_connector(call) or 1


def _target(hass: HomeAssistant, call: ServiceCall) -> ChargerTarget:
    """The loaded charger entry behind the call's device (a charger or one of its connectors)."""
    device_id: str = call.data[ATTR_DEVICE_ID]
    device = dr.async_get(hass).async_get(device_id)
    entry = None if device is None else hass.config_entries.async_get_entry(device.config_entry_id)
    if device is None or entry is None or entry.domain != DOMAIN or not is_charger_entry(entry):
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="invalid_device",
            translation_placeholders={"device_id": device_id},
        )
    if entry.state is not ConfigEntryState.LOADED:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="charger_not_loaded",
            translation_placeholders={"charger": entry.title},
        )
    charger_entry: ChargerConfigEntry = entry
    charger_id = charger_entry.runtime_data.charger_id
    # Connector devices of multi-outlet chargers are identified as "<charger id>_<connector>".
    connector: int | None = None
    for domain, identifier in device.identifiers:
        suffix = identifier.removeprefix(f"{charger_id}_")
        if domain == DOMAIN and suffix != identifier and suffix.isdigit():
            connector = int(suffix)
    return ChargerTarget(entry=charger_entry, charger_id=charger_id, device_connector_id=connector)


type Handler = Callable[[ChargerTarget, ServiceCall], Awaitable[ServiceResponse]]


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
    if _server_managed(key):
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


# --- smart charging and vendor extensions ----------
async def _clear_charging_profiles(target: ChargerTarget, call: ServiceCall) -> ServiceResponse:
    await target.session().clear_profiles(
        profile_id=call.data.get(ATTR_PROFILE_ID),
        connector_id=target.profile_connector(call),
        purpose=call.data.get(ATTR_PURPOSE),
        stack_level=call.data.get(ATTR_STACK_LEVEL),
    )
    # It may have removed our own live and safe-fallback profiles as well.
    await target.controller().restore_profiles()
    return None


async def _get_composite_schedule(target: ChargerTarget, call: ServiceCall) -> ServiceResponse:
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


async def _set_charging_profile(target: ChargerTarget, call: ServiceCall) -> ServiceResponse:
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


async def _data_transfer(target: ChargerTarget, call: ServiceCall) -> ServiceResponse:
    result = await target.session().data_transfer(
        call.data[ATTR_VENDOR_ID], call.data.get(ATTR_MESSAGE_ID), call.data.get(ATTR_DATA)
    )
    return dict(result)


# --- energy manager ----------
def _ems(target: ChargerTarget) -> EnergyManagerRuntime:
    ems = target.entry.runtime_data.server_entry.runtime_data.ems
    if not ems.enabled:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="ems_not_enabled",
            translation_placeholders={"charger": target.entry.title},
        )
    return ems


async def _set_charge_mode(target: ChargerTarget, call: ServiceCall) -> ServiceResponse:
    _ems(target).async_update_charger(target.charger_id, mode=Mode(call.data[ATTR_MODE]))
    return None


async def _plan_charge(target: ChargerTarget, call: ServiceCall) -> ServiceResponse:
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


async def _boost_now(target: ChargerTarget, call: ServiceCall) -> ServiceResponse:
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


def _location(value: Any) -> str:
    """Where a charger up- or downloads files: chargers commonly use FTP as well as HTTP."""
    text = str(value).strip()
    parsed = urlparse(text)
    if parsed.scheme not in LOCATION_SCHEMES or not parsed.netloc:
        raise probatio.Invalid(f"expected a {'/'.join(LOCATION_SCHEMES)} URL")
    return text


def _profile(value: Any) -> dict[str, Any]:
    """A raw charging profile: a mapping with an id (1.6 ``chargingProfileId``, 2.x ``id``) and a
    schedule; the charger's version checks the rest when it is sent (``invalid_command``)."""
    if not isinstance(value, dict):
        raise probatio.Invalid("profile must be a mapping")
    missing = [] if "chargingProfileId" in value or "id" in value else ["chargingProfileId (id)"]
    if "chargingSchedule" not in value:
        missing.append("chargingSchedule")
    if missing:
        raise probatio.Invalid(f"profile lacks {', '.join(missing)}")
    if (number := _beyond_ocpp_integer(value)) is not None:
        raise probatio.Invalid(f"profile has {number}, beyond OCPP's 32-bit integers")
    return value


def _beyond_ocpp_integer(value: Any) -> int | None:
    """An integer anywhere in ``value`` that OCPP's 32-bit integer cannot hold (the JSON schemas
    set no bound: a stack level of 10**30 would pass them and overflow in the charger)."""
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, list):
        return next((n for v in value if (n := _beyond_ocpp_integer(v)) is not None), None)
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > OCPP_INTEGER_MAX:
        return value
    return None


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
            probatio.Optional(ATTR_DURATION): _ocpp_integer(1, MAX_LIMIT_DURATION_S),
        },
    ),
    "pause_charging": ServiceSpec(handler=_pause, schema={}),
    "resume_charging": ServiceSpec(handler=_resume, schema={}),
    "start_charging": ServiceSpec(
        handler=_start_charging,
        schema={**_CONNECTOR, probatio.Optional(ATTR_ID_TAG): cv.string},
    ),
    "stop_charging": ServiceSpec(handler=_stop_charging, schema=_CONNECTOR),
    "export_sessions": ServiceSpec(
        handler=_export_sessions,
        online=False,
        schema={
            probatio.Optional(ATTR_PATH): cv.string,
            probatio.Optional(ATTR_COUNT, default=100): _ocpp_integer(1, 10000),
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
        schema={**_CONNECTOR, probatio.Required(ATTR_MESSAGE): probatio.In(TRIGGER_MESSAGES)},
    ),
    "reset": ServiceSpec(
        handler=_reset,
        admin=True,
        schema={probatio.Optional(ATTR_TYPE, default="soft"): probatio.In(RESET_TYPES)},
    ),
    "unlock": ServiceSpec(handler=_unlock, schema=_CONNECTOR),
    "change_availability": ServiceSpec(
        handler=_change_availability,
        schema={**_CONNECTOR, probatio.Required(ATTR_OPERATIVE): cv.boolean},
        response=SupportsResponse.OPTIONAL,
    ),
    "clear_cache": ServiceSpec(handler=_clear_cache, schema={}, admin=True),
    "update_firmware": ServiceSpec(
        handler=_update_firmware,
        admin=True,
        schema={
            probatio.Required(ATTR_URL): _location,
            probatio.Optional(ATTR_RETRIEVE_DATE): _instant,
            probatio.Optional(ATTR_RETRIES): _ocpp_integer(0),
            # Both or neither: a signed update.
            probatio.Inclusive(ATTR_SIGNATURE, "signed"): cv.string,
            probatio.Inclusive(ATTR_SIGNING_CERTIFICATE, "signed"): cv.string,
        },
    ),
    "request_diagnostics": ServiceSpec(
        handler=_request_diagnostics,
        admin=True,
        schema={
            probatio.Required(ATTR_URL): _location,
            probatio.Optional(ATTR_LOG_TYPE, default="diagnostics"): probatio.In(_LOG_TYPES),
        },
        response=SupportsResponse.OPTIONAL,
    ),
    "reserve_now": ServiceSpec(
        handler=_reserve_now,
        schema={
            **_CONNECTOR,
            probatio.Required(ATTR_ID_TAG): cv.string,
            probatio.Required(ATTR_EXPIRY): _instant,
        },
        response=SupportsResponse.OPTIONAL,
    ),
    "cancel_reservation": ServiceSpec(
        handler=_cancel_reservation,
        schema={**_CONNECTOR, probatio.Optional(ATTR_RESERVATION_ID): _ocpp_integer(0)},
        response=SupportsResponse.OPTIONAL,
    ),
    "upgrade_security": ServiceSpec(
        handler=_upgrade_security,
        admin=True,
        schema={
            probatio.Required(ATTR_SECURITY_PROFILE): probatio.All(_whole, probatio.In([1, 2, 3]))
        },
        response=SupportsResponse.OPTIONAL,
    ),
    # Raw profiles override the live limit and the energy manager: admins only, like the
    # configuration (never above the installation maximum, see _set_charging_profile).
    "clear_charging_profiles": ServiceSpec(
        handler=_clear_charging_profiles,
        admin=True,
        schema={
            probatio.Optional(ATTR_PROFILE_ID): _ocpp_integer(0),
            probatio.Optional(ATTR_CONNECTOR_ID): _ocpp_integer(0),
            probatio.Optional(ATTR_PURPOSE): probatio.In(PROFILE_PURPOSES),
            probatio.Optional(ATTR_STACK_LEVEL): _ocpp_integer(0),
        },
    ),
    "set_charging_profile": ServiceSpec(
        handler=_set_charging_profile,
        admin=True,
        schema={
            probatio.Optional(ATTR_CONNECTOR_ID): _ocpp_integer(0),
            probatio.Required(ATTR_PROFILE): _profile,
        },
    ),
    "get_composite_schedule": ServiceSpec(
        handler=_get_composite_schedule,
        schema={
            probatio.Optional(ATTR_CONNECTOR_ID): _ocpp_integer(0),
            probatio.Optional(ATTR_DURATION, default=COMPOSITE_DEFAULT_S): _ocpp_integer(
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
        handler=_set_charge_mode,
        online=False,
        schema={probatio.Required(ATTR_MODE): probatio.In([str(mode) for mode in Mode])},
    ),
    "plan_charge": ServiceSpec(
        handler=_plan_charge,
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
            probatio.Required(ATTR_DEPARTURE): _instant,
        },
    ),
    "boost_now": ServiceSpec(
        handler=_boost_now,
        online=False,
        schema={
            probatio.Optional(ATTR_DURATION, default=timedelta(hours=1)): probatio.All(
                _time_period, cv.positive_timedelta, probatio.Range(max=MAX_BOOST)
            ),
        },
    ),
}


@callback
def async_setup_services(hass: HomeAssistant) -> None:
    """Register every action (once per Home Assistant run, not per entry)."""
    for name, spec in SERVICES.items():
        handler = _make_service_handler(hass, spec)
        schema = probatio.Schema({**_DEVICE, **spec.schema})
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
        target = _target(hass, call)
        with charger_errors(target.charger_id):
            if spec.online:
                target.session()  # an offline charger: charger_not_connected
            return await spec.handler(target, call)

    return _handle
