"""The actions' fields: their names, and the checks their values pass before an action runs
(whole numbers within OCPP's 32-bit integers, moments, durations, file locations, raw profiles,
the configuration keys Home Assistant keeps in step with the charger). Shared by the action
modules (``services.py``, ``profile_services.py``, ``ems_services.py``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, Final
from urllib.parse import urlparse

import probatio
from homeassistant.helpers import config_validation as cv
from homeassistant.util import dt as dt_util

from .core.ems.charger_config import first_instant_at
from .core.protocol.v16.provisioning import AUTHORIZATION_KEY, SECURITY_PROFILE_KEY
from .core.protocol.v201.device_model import (
    BASIC_AUTH_PASSWORD,
    NETWORK_CONFIGURATION_PRIORITY,
    SECURITY_PROFILE,
    VariableId,
)

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
ATTR_PATH: Final = "path"
ATTR_COUNT: Final = "count"

LOCATION_SCHEMES: Final = ("http", "https", "ftp", "ftps", "sftp")
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


def whole(value: Any) -> int:
    """A whole number, also as a float or text (a template from an input_number renders 1.0);
    a fraction is refused, not cut off (1.9 is not reservation 1)."""
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError) as err:
        raise probatio.Invalid("expected a whole number") from err
    if isinstance(value, bool) or not number.is_integer():
        raise probatio.Invalid("expected a whole number")
    return int(number)


def ocpp_integer(minimum: int, maximum: int = OCPP_INTEGER_MAX) -> probatio.All[int]:
    return probatio.All(whole, probatio.Range(min=minimum, max=maximum))


def time_period(value: Any) -> timedelta:
    """A duration; one too long for a timedelta is bad input, not an OverflowError."""
    try:
        period: timedelta = cv.time_period(value)
    except OverflowError as err:
        raise probatio.Invalid("duration too long") from err
    return period


def instant(value: Any) -> datetime:
    """A date-time as a moment (UTC). One without an offset (the action's date-time picker) is a
    wall-clock time in Home Assistant's time zone; one the clock skips there (02:30 the night it
    goes forward) is the moment it jumps (03:00), as for a daily departure."""
    parsed: datetime = cv.datetime(value)
    if parsed.tzinfo is not None:
        return dt_util.as_utc(parsed)
    zone = dt_util.get_default_time_zone()
    return datetime.fromtimestamp(first_instant_at(parsed.replace(tzinfo=zone), zone), UTC)


def server_managed(key: str) -> bool:
    """Whether ``key`` (a 1.6 key, or a 2.x component.variable) is one Home Assistant keeps in
    step with the charger."""
    variable = VariableId.parse(key)
    name = key if variable is None else f"{variable.component}.{variable.variable}"
    return name.strip().casefold() in _SERVER_MANAGED_KEYS


DEVICE: Final = {probatio.Required(ATTR_DEVICE_ID): cv.string}
CONNECTOR: Final = {probatio.Optional(ATTR_CONNECTOR_ID): ocpp_integer(1)}


def location(value: Any) -> str:
    """Where a charger up- or downloads files: chargers commonly use FTP as well as HTTP."""
    text = str(value).strip()
    parsed = urlparse(text)
    if parsed.scheme not in LOCATION_SCHEMES or not parsed.netloc:
        raise probatio.Invalid(f"expected a {'/'.join(LOCATION_SCHEMES)} URL")
    return text


def raw_profile(value: Any) -> dict[str, Any]:
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
