"""What a 1.6 charger can do, learned from its configuration keys (read after every boot).

Feature profiles (``SupportedFeatureProfiles``) gate the commands we send: a command of a profile
the charger does not list is refused locally (:class:`~...errors.CommandNotSupportedError`).
"""

from __future__ import annotations

from collections.abc import Mapping

from custom_components.ocpp_ems.core.model import (
    Capabilities,
    ChargingRateUnit,
    plausible_connector_count,
)
from custom_components.ocpp_ems.core.protocol.common import (
    CORE,
    FIRMWARE,
    LOCAL_AUTH,
    REMOTE_TRIGGER,
    RESERVATION,
    SMART_CHARGING,
    csv,
    int_or_none,
)

__all__ = [
    "CORE",
    "FIRMWARE",
    "LOCAL_AUTH",
    "REMOTE_TRIGGER",
    "RESERVATION",
    "SMART_CHARGING",
    "capabilities_from_configuration",
    "csv",
    "int_or_none",
]
_PROFILE_NAMES = {
    name.lower(): name
    for name in (CORE, FIRMWARE, LOCAL_AUTH, RESERVATION, SMART_CHARGING, REMOTE_TRIGGER)
}
_PROFILE_ALIASES = {"localauthlist": LOCAL_AUTH, "firmware": FIRMWARE, "smart": SMART_CHARGING}


def capabilities_from_configuration(config: Mapping[str, str | None]) -> Capabilities:
    """Smart-charging and other capabilities from 1.6 configuration keys (defaults where absent)."""
    defaults = Capabilities()
    units = set()
    for unit in csv(config.get("ChargingScheduleAllowedChargingRateUnit")):
        if unit.lower() in ("current", "a"):
            units.add(ChargingRateUnit.AMPERE)
        elif unit.lower() in ("power", "w"):
            units.add(ChargingRateUnit.WATT)
    return Capabilities(
        supported_profiles=frozenset(
            _profile_name(p) for p in csv(config.get("SupportedFeatureProfiles"))
        ),
        # 0 is an answer (ABB Terra AC & co.: level 0 only), not a missing value.
        max_stack_level=int_or_none(config.get("ChargeProfileMaxStackLevel")),
        rate_units=frozenset(units) or defaults.rate_units,
        max_schedule_periods=int_or_none(config.get("ChargingScheduleMaxPeriods"))
        or defaults.max_schedule_periods,
        max_profiles_installed=int_or_none(config.get("MaxChargingProfilesInstalled")),
        phase_switching=str(config.get("ConnectorSwitch3to1PhaseSupported")).lower() == "true",
        local_auth_list_max=int_or_none(config.get("LocalAuthListMaxLength")),
        number_of_connectors=plausible_connector_count(
            int_or_none(config.get("NumberOfConnectors"))
        ),
    )


def _profile_name(name: str) -> str:
    key = name.lower()
    return _PROFILE_NAMES.get(key) or _PROFILE_ALIASES.get(key) or name
