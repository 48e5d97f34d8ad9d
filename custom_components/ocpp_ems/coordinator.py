"""Runtime data of the config entries and the push coordinator of one charger.

The core's charger model notifies its listeners on every change; the coordinator forwards those to
the entities (``async_update_listeners``) and hands events (session started, fault, ...) to the
event entities. Nothing is polled. A change is every OCPP frame (a MeterValues every few seconds
per charger), so the per-change work is kept small: the device and outlet checks compare a few
values, the charger's settings are read from its options once per options change, and entities
write only states that changed (``entity.ChangedStateWriter``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers.device_registry import DeviceInfo
from homeassistant.helpers.typing import UNDEFINED
from homeassistant.helpers.update_coordinator import DataUpdateCoordinator

from .const import CONF_SERVER_ENTRY_ID, DOMAIN, LOGGER
from .core.guard import Refusal, RefusalReason
from .core.model import Charger, ChargerEvent, EventKind
from .core.server import CentralSystem
from .core.settings import ChargerSettings, ServerSettings
from .hub import HassChargerDirectory, HassStateStore, is_charger_entry

if TYPE_CHECKING:
    from .energy_manager import EnergyManagerRuntime
    from .security import ServerSecurity
    from .upgrade import SecurityUpgrades


@dataclass(kw_only=True)
class ServerRuntimeData:
    """What a loaded server entry holds: the running central system and its HA adapters."""

    central: CentralSystem
    directory: HassChargerDirectory
    store: HassStateStore
    settings: ServerSettings
    # The id tag list (version, tags) last mirrored into the chargers' local lists.
    local_list: tuple[int, list[str]]
    # The energy manager of this server's chargers (idle unless enabled in the options).
    ems: EnergyManagerRuntime
    # The local CA and the wss:// listener's certificates (loaded only while TLS is on).
    security: ServerSecurity
    # Chargers being moved to another security profile.
    upgrades: SecurityUpgrades


@dataclass(kw_only=True)
class ChargerRuntimeData:
    """What a loaded charger entry holds."""

    charger_id: str
    central: CentralSystem
    server_entry: ServerConfigEntry
    coordinator: ChargerCoordinator


type ServerConfigEntry = ConfigEntry[ServerRuntimeData]
type ChargerConfigEntry = ConfigEntry[ChargerRuntimeData]


def loaded_server_entries(hass: HomeAssistant) -> list[ServerConfigEntry]:
    """The running OCPP servers (their entries), in the order they were added."""
    return [
        entry
        for entry in hass.config_entries.async_loaded_entries(DOMAIN)
        if not is_charger_entry(entry)
    ]


def loaded_server_entry(hass: HomeAssistant, entry_id: str | None) -> ServerConfigEntry:
    """The loaded server entry ``entry_id`` (None: the first one; a charger's entry: its
    server's), for the server-wide actions."""
    picked = None if entry_id is None else hass.config_entries.async_get_entry(entry_id)
    if picked is not None and is_charger_entry(picked):
        # The actions' entry selector offers every entry of the integration, chargers too.
        entry_id = picked.data.get(CONF_SERVER_ENTRY_ID)
    servers = [
        entry
        for entry in loaded_server_entries(hass)
        if entry_id is None or entry.entry_id == entry_id
    ]
    if not servers:
        raise ServiceValidationError(translation_domain=DOMAIN, translation_key="no_server")
    return servers[0]


type EventCallback = Callable[[ChargerEvent], None]
# Our own security events about a charger: (event type, attributes).
type SecurityCallback = Callable[[str, dict[str, Any]], None]

# Security event types of our own (the charger's own reports are "reported").
SECURITY_REFUSED = "refused"  # a connection in its name was refused at the handshake
SECURITY_DOWNGRADED = "downgraded"  # it connected lower than its profile (the user allowed it)
SECURITY_PROFILE_CHANGED = "profile_changed"  # moved to another profile (or rolled back)
# Refusals that are not reported: an id being throttled is refused on every retry, and was
# reported for the failed logins that got it throttled.
_UNREPORTED_REFUSALS = frozenset({RefusalReason.THROTTLED})


# Saved at once rather than within the save delay: a crash right after must not lose a session.
_SAVE_AT_ONCE = frozenset(
    {EventKind.SESSION_STARTED, EventKind.SESSION_ENDED, EventKind.SESSION_UPDATED}
)


def charger_device_info(entry: ChargerConfigEntry, charger: Charger) -> DeviceInfo:
    info = charger.info
    return DeviceInfo(
        identifiers={(DOMAIN, charger.charger_id)},
        name=entry.title,
        manufacturer=info.vendor,
        model=info.model,
        serial_number=info.serial_number,
        sw_version=info.firmware_version,
    )


class ChargerCoordinator(DataUpdateCoordinator[Charger]):
    """Push coordinator of one charger; ``data`` is the core's live charger model."""

    config_entry: ChargerConfigEntry

    def __init__(
        self,
        hass: HomeAssistant,
        entry: ChargerConfigEntry,
        central: CentralSystem,
        charger_id: str,
    ) -> None:
        super().__init__(
            hass,
            LOGGER,
            config_entry=entry,
            name=f"{DOMAIN} {charger_id}",
            update_interval=None,
            always_update=True,
        )
        self.central = central
        self.charger_id = charger_id
        self.charger = central.charger(charger_id)
        self.data = self.charger
        # The charger's device, registered before any entity: connector devices of multi-outlet
        # chargers hang below it.
        self.device_id = (
            dr.async_get(hass)
            .async_get_or_create(
                config_entry_id=entry.entry_id, **charger_device_info(entry, self.charger)
            )
            .id
        )
        self._event_callbacks: list[EventCallback] = []
        self._security_callbacks: list[SecurityCallback] = []
        self._was_connected: bool | None = None
        # The outlets as of the last change (entities are added per outlet).
        self.connector_ids = self.charger.outlet_ids
        self._several_outlets = len(self.connector_ids) > 1
        self._device_info_seen: tuple[str | None, ...] | None = None

    @property
    def settings(self) -> ChargerSettings:
        """The charger's settings: its current control's, which the server's directory reads
        from the entry's options (and the server's voltage) again only once they change."""
        return self.central.current_control(self.charger_id).rules.settings

    async def _async_update_data(self) -> Charger:
        # Push only: a manual refresh (homeassistant.update_entity) just re-reads the model.
        return self.charger

    @callback
    def async_start(self) -> CALLBACK_TYPE:
        """Start following the charger model and the server's refusals; returns the function
        that stops it."""
        self._log_connectivity()
        stops = (
            self.charger.add_listener(self._on_charger_change),
            self.central.add_refusal_listener(self._on_refusal),
        )

        def stop() -> None:
            for stop_one in stops:
                stop_one()

        return stop

    @callback
    def async_add_event_callback(self, event_callback: EventCallback) -> CALLBACK_TYPE:
        """Call ``event_callback`` for every charger event (used by event entities)."""
        self._event_callbacks.append(event_callback)
        return lambda: self._event_callbacks.remove(event_callback)

    @callback
    def async_add_security_callback(self, security_callback: SecurityCallback) -> CALLBACK_TYPE:
        """Call ``security_callback`` for every security event of our own about this charger."""
        self._security_callbacks.append(security_callback)
        return lambda: self._security_callbacks.remove(security_callback)

    @callback
    def async_security_event(self, event_type: str, data: dict[str, Any]) -> None:
        """Report a security event of our own (refused connection, downgrade, profile change)."""
        for security_callback in list(self._security_callbacks):
            security_callback(event_type, data)

    @callback
    def _on_refusal(self, refusal: Refusal) -> None:
        if refusal.charger_id != self.charger_id or refusal.reason in _UNREPORTED_REFUSALS:
            return
        self.async_security_event(
            SECURITY_REFUSED, {"reason": str(refusal.reason), "remote": refusal.remote}
        )

    @callback
    def _check_downgrade(self, event: ChargerEvent) -> None:
        security = self.charger.connection_security
        if event.kind is EventKind.CONNECTED and security is not None and security.downgraded:
            self.async_security_event(
                SECURITY_DOWNGRADED,
                {
                    "profile": int(security.profile),
                    "required_profile": int(security.configured_profile),
                    "remote": event.data.get("remote"),
                },
            )

    @callback
    def _on_charger_change(self, event: ChargerEvent | None) -> None:
        if event is not None:
            for event_callback in list(self._event_callbacks):
                event_callback(event)
            self._check_downgrade(event)
            if event.kind in _SAVE_AT_ONCE:
                server = self.config_entry.runtime_data.server_entry.runtime_data
                server.store.schedule_save(self.central.stored_state, 0)
        self._log_connectivity()
        self._update_device_info()
        self._check_outlets()
        # Not async_set_updated_data: ``data`` is the live model already, and that logs a DEBUG
        # line ("Manually updated ... data") per call, i.e. per OCPP frame.
        self.async_update_listeners()

    @callback
    def _log_connectivity(self) -> None:
        """One INFO line each way when the charger goes away or comes back (not per message)."""
        connected = self.charger.connected
        if connected == self._was_connected:
            return
        if connected:
            if self._was_connected is not None:
                LOGGER.info("Charger %s is connected again", self.charger_id)
        else:
            LOGGER.info(
                "Charger %s is not connected; its entities are unavailable", self.charger_id
            )
        self._was_connected = connected

    @callback
    def _check_outlets(self) -> None:
        """A charger that turns out to have several outlets gets a device per connector: set the
        entities up again so connector 1 moves to its own device too (once, after onboarding)."""
        self.connector_ids = self.charger.outlet_ids
        several = len(self.connector_ids) > 1
        if several != self._several_outlets:
            self._several_outlets = several
            self.hass.config_entries.async_schedule_reload(self.config_entry.entry_id)

    @callback
    def _update_device_info(self) -> None:
        """Keep the device page in step with what the charger reports (firmware updates...)."""
        info = self.charger.info
        seen = (info.vendor, info.model, info.serial_number, info.firmware_version)
        if seen == self._device_info_seen:
            return
        self._device_info_seen = seen
        # Only what the charger told us: a model restored before its first boot knows nothing yet.
        dr.async_get(self.hass).async_update_device(
            self.device_id,
            manufacturer=info.vendor or UNDEFINED,
            model=info.model or UNDEFINED,
            serial_number=info.serial_number or UNDEFINED,
            sw_version=info.firmware_version or UNDEFINED,
        )
