"""The charger (or connector) device an action is addressed to: its loaded entry, its session and
current control, the connector a call means; an action's handler takes it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant, ServiceCall, ServiceResponse
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers import device_registry as dr

from .const import DOMAIN
from .coordinator import ChargerConfigEntry
from .core.current_control import CurrentController
from .core.model import Charger
from .core.session import ChargerSession
from .entity import require_session
from .hub import is_charger_entry
from .service_fields import ATTR_CONNECTOR_ID, ATTR_DEVICE_ID


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


def charger_target(hass: HomeAssistant, call: ServiceCall) -> ChargerTarget:
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
