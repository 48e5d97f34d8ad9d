"""Diagnostics of a server or charger entry, with every credential, private key and id tag
redacted. The secure connection shows what is public of its certificates (fingerprints, names,
expiry); the private keys never leave the security store (and would be redacted if they did)."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from enum import Enum
from typing import Any

from homeassistant.components.diagnostics import REDACTED, async_redact_data
from homeassistant.config_entries import ConfigEntry, ConfigEntryState
from homeassistant.core import HomeAssistant

from .const import (
    CONF_ID_TAGS,
    CONF_PASSWORD,
    CONF_REMOTE_START_ID_TAG,
    CONF_TLS_PRIVATE_KEY_PEM,
)
from .coordinator import ChargerConfigEntry, ServerConfigEntry
from .core.guard import OpeningConnections
from .core.limits import LimitRules
from .core.model import Charger
from .core.protocol.common import names_a_secret
from .core.security import CertificateInfo
from .core.server import CentralSystem
from .hub import is_charger_entry
from .security import ServerSecurity

# Secrets, personal identifiers and anything that lets someone else charge on this account.
TO_REDACT = {
    CONF_PASSWORD,
    CONF_ID_TAGS,
    CONF_REMOTE_START_ID_TAG,  # often the user's own card
    "id_tag",
    "idTag",
    "AuthorizationKey",
    "authorization_key",
    "BasicAuthPassword",
    "iccid",
    "imsi",
    # Private keys (the security store's documents call them so).
    "private_key",
    CONF_TLS_PRIVATE_KEY_PEM,
    # Signed meter data (OCMF ...) names the user's id tag inside its text.
    "signed_meter_value",
    "signed_start",
    "signed_end",
}


def _plain(value: Any) -> Any:
    """Model objects as JSON-ready data (dataclasses, enums, datetimes, sets)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            field.name: _plain(getattr(value, field.name))
            for field in dataclasses.fields(value)
            if not field.name.startswith("_")
        }
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        items = [_plain(item) for item in value]
        return sorted(items, key=str) if isinstance(value, (set, frozenset)) else items
    return value


def _bound_port(central: CentralSystem) -> int | None:
    try:
        return central.port
    except RuntimeError:
        return None  # stopped: Home Assistant is shutting down


def _opening(opening: OpeningConnections) -> dict[str, int]:
    """Connections still opening, the cap on them and what it refused or closed since the
    start (a flood of connections that send nothing shows here)."""
    return {
        "now": len(opening),
        "cap": opening.limit,  # from the process's file limit
        "per_address": opening.per_address,
        "refused": opening.refused,
        "evicted": opening.evicted,
    }


def _certificate(info: CertificateInfo) -> dict[str, Any]:
    return {
        "subject": info.subject_cn,
        "issuer": info.issuer_cn,
        "names": list(info.names),
        "key": info.key,
        "not_valid_after": info.not_valid_after.isoformat(),
        "fingerprint_sha256": info.fingerprint_sha256,
    }


def security_diagnostics(security: ServerSecurity, tls_port: int | None) -> dict[str, Any]:
    """The secure connection: on or off, the CA and the certificates the listener presents."""
    active = security.active
    return {
        "tls_port": tls_port,
        "ca": None if security.ca is None else _certificate(security.ca.info),
        "own_certificate": active is not None and active.user_provided,
        "server_certificates": []
        if active is None
        else [_certificate(certificate.info) for certificate in active.certificates],
    }


def _bound_tls_port(central: CentralSystem) -> int | None:
    try:
        return central.tls_port
    except RuntimeError:
        return None  # stopped: Home Assistant is shutting down


def _secret_configuration_key(key: str) -> bool:
    """A 1.6 key or a 2.x "Component.Variable[instance]" whose value is a secret."""
    return names_a_secret(key.rpartition(".")[2].partition("[")[0])


def charger_diagnostics(charger: Charger) -> dict[str, Any]:
    data: dict[str, Any] = _plain(charger)
    # Configuration keys that hold secrets keep their name (useful) but lose their value; None
    # stays (the value was never stored).
    configuration = data.get("configuration", {})
    for key, value in configuration.items():
        if value is not None and _secret_configuration_key(key):
            configuration[key] = REDACTED
    return data


def _rules_in_force(rules: LimitRules) -> dict[str, Any]:
    """What the charger's options resolved to with what it reported: the entry's options show
    "Smart charging: auto", support needs to know whether limits are written and how it pauses."""
    return {
        "smart_charging": rules.smart_charging,
        "pause_strategy": rules.pause_strategy.value,
    }


async def async_get_config_entry_diagnostics(
    hass: HomeAssistant, entry: ConfigEntry
) -> dict[str, Any]:
    result: dict[str, Any] = {
        "entry": {
            "title": entry.title,
            "data": dict(entry.data),
            "options": dict(entry.options),
        }
    }
    if entry.state is not ConfigEntryState.LOADED:
        return async_redact_data(result, TO_REDACT)
    if is_charger_entry(entry):
        charger_entry: ChargerConfigEntry = entry
        runtime = charger_entry.runtime_data
        result["charger"] = charger_diagnostics(runtime.coordinator.charger)
        result["online"] = runtime.central.session(runtime.charger_id) is not None
        result["in_force"] = _rules_in_force(
            runtime.central.current_control(runtime.charger_id).rules
        )
    else:
        server_entry: ServerConfigEntry = entry
        server = server_entry.runtime_data
        result["server"] = {
            "settings": _plain(server.settings),
            "port": _bound_port(server.central),
            "chargers": {
                charger_id: {
                    "admission": str(server.directory.admission(charger_id)),
                    "connected": charger.connected,
                    "ocpp_version": charger.ocpp_version,
                    "vendor": charger.info.vendor,
                    "model": charger.info.model,
                }
                for charger_id, charger in sorted(server.central.chargers.items())
            },
            "auth_failures": server.directory.auth_failures(),
            "opening_connections": _opening(server.central.opening_connections),
            "security": security_diagnostics(server.security, _bound_tls_port(server.central)),
            "energy_manager": {
                "enabled": server.ems.enabled,
                "learned": server.ems.learned(),
                "forecasts_held": server.ems.held_forecasts(),
            },
        }
    return async_redact_data(result, TO_REDACT)
