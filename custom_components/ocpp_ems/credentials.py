"""What the user sees of a charger's Basic-auth password (on demand only; never logged)."""

from __future__ import annotations

from homeassistant.config_entries import ConfigEntry, ConfigEntryState

from .const import CONF_PASSWORD
from .core.auth import password_to_authorization_key
from .core.server import CentralSystem


def charger_password(entry: ConfigEntry) -> str | None:
    """The password Home Assistant holds for a charger entry (None: "no password" chosen)."""
    password = entry.data.get(CONF_PASSWORD)
    return str(password) if password else None


def password_placeholders(charger_id: str, password: str) -> dict[str, str]:
    """Description placeholders to show the credentials a charger's web page asks for."""
    return {
        "charger_id": charger_id,
        "password": password,
        "authorization_key": password_to_authorization_key(password),
    }


def charger_central(entry: ConfigEntry) -> CentralSystem | None:
    """The running central system of a loaded charger entry."""
    if entry.state is not ConfigEntryState.LOADED:
        return None
    central: CentralSystem = entry.runtime_data.central
    return central
