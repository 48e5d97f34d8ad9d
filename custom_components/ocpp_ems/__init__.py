"""OCPP EMS: Home Assistant as the local OCPP central system for EV chargers.

Two kinds of config entries:

* a *server* entry per listening port runs the core's :class:`CentralSystem`;
* a *charger* entry per accepted charger (created by the discovery flow when an unknown charger
  boots) owns the charger's device and entities. Deleting it rejects the charger.
"""

from __future__ import annotations

import dataclasses

from homeassistant.config_entries import (
    SOURCE_IGNORE,
    ConfigEntry,
    ConfigEntryState,
    ConfigFlowContext,
)
from homeassistant.const import EVENT_HOMEASSISTANT_STOP, Platform
from homeassistant.core import CoreState, Event, HomeAssistant, callback
from homeassistant.exceptions import (
    ConfigEntryError,
    ConfigEntryNotReady,
    UnsupportedStorageVersionError,
)
from homeassistant.helpers import config_validation as cv
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.typing import ConfigType

from .charger_issues import (
    async_follow_clock,
    async_follow_limit_not_applied,
    async_follow_self_start_loop,
)
from .const import (
    CONF_CHARGER_ID,
    CONF_SERVER_ENTRY_ID,
    DOMAIN,
    ISSUE_AUTH_FAILED,
    ISSUE_PASSWORD_IGNORED,
    ISSUE_PORT_IN_USE,
    ISSUE_SECURITY_UPGRADE_FAILED,
    ISSUE_TLS_CERTIFICATE_EXPIRING,
    ISSUE_TLS_RENEWAL_FAILED,
    LOGGER,
    repair_issue_id,
)
from .coordinator import (
    ChargerConfigEntry,
    ChargerCoordinator,
    ChargerRuntimeData,
    ServerConfigEntry,
    ServerRuntimeData,
)
from .core.errors import OcppEmsError, ServerBindError
from .core.protocol.certificates import AuthorityCertificates
from .core.security import CertificateError
from .core.server import CentralSystem
from .core.settings import ServerSettings
from .dashboard import async_setup_dashboard_action
from .energy_manager import EnergyManagerRuntime, ems_store
from .hub import (
    HassChargerDirectory,
    HassStateStore,
    is_charger_entry,
    server_settings,
)
from .ownership import async_follow_limit_expiry
from .security import (
    CaCertificateView,
    CaStoreDamagedError,
    ServerSecurity,
)
from .services import async_setup_services
from .session_facts import async_remove_price_store
from .shipped_blueprints import async_install_blueprints
from .site_actions import async_setup_site_actions
from .upgrade import SecurityUpgrades

CONFIG_SCHEMA = cv.config_entry_only_config_schema(DOMAIN)

PLATFORMS: list[Platform] = [
    Platform.BINARY_SENSOR,
    Platform.BUTTON,
    Platform.EVENT,
    Platform.NUMBER,
    Platform.SELECT,
    Platform.SENSOR,
    Platform.SWITCH,
    Platform.TIME,
]
# A server entry's own entities, on the server's device: the energy manager's site settings, the
# last refused connection, and (TLS on) failed TLS handshakes.
SERVER_PLATFORMS: list[Platform] = [Platform.EVENT, Platform.NUMBER, Platform.SENSOR]


async def async_setup(hass: HomeAssistant, config: ConfigType) -> bool:
    """Register the actions and the CA download once, whatever entries exist."""
    async_setup_services(hass)
    hass.http.register_view(CaCertificateView())
    async_setup_dashboard_action(hass)
    async_setup_site_actions(hass)
    await async_install_blueprints(hass)
    return True


async def async_setup_entry(hass: HomeAssistant, entry: ConfigEntry) -> bool:
    try:
        if is_charger_entry(entry):
            return await _async_setup_charger(hass, entry)
        return await _async_setup_server(hass, entry)
    except UnsupportedStorageVersionError as err:
        # Written by a newer release of this integration (installed, then downgraded): Home
        # Assistant's own message would ask to upgrade Home Assistant.
        raise ConfigEntryError(
            translation_domain=DOMAIN,
            translation_key="storage_too_new",
            translation_placeholders={"file": err.storage_key},
        ) from err


async def async_unload_entry(hass: HomeAssistant, entry: ConfigEntry) -> bool:
    if is_charger_entry(entry):
        charger_entry: ChargerConfigEntry = entry
        unloaded = await hass.config_entries.async_unload_platforms(entry, PLATFORMS)
        if unloaded and entry.disabled_by is not None:
            # Disabled: admission refuses it from now on; its open connection must go too (it
            # could authorize and charge unseen until it reconnected).
            runtime = charger_entry.runtime_data
            await runtime.central.reject_charger(runtime.charger_id)
        return unloaded
    # A charger entry cannot work without its server: unload them first (they are set up again
    # when the server comes back, see _async_setup_server).
    server_entry: ServerConfigEntry = entry
    for charger_entry in server_entry.runtime_data.directory.charger_entries():
        if charger_entry.state is ConfigEntryState.LOADED:
            await hass.config_entries.async_unload(charger_entry.entry_id)
    return await hass.config_entries.async_unload_platforms(entry, SERVER_PLATFORMS)


async def async_remove_config_entry_device(
    hass: HomeAssistant, entry: ConfigEntry, device: dr.AnyDeviceEntry
) -> bool:
    """Only a connector the charger no longer has may be deleted (the charger: with its entry)."""
    if not is_charger_entry(entry) or entry.state is not ConfigEntryState.LOADED:
        return False
    charger_entry: ChargerConfigEntry = entry
    charger = charger_entry.runtime_data.coordinator.charger
    current = {f"{charger.charger_id}_{cid}" for cid in charger.outlet_ids}
    return not any(
        domain == DOMAIN and (identifier == charger.charger_id or identifier in current)
        for domain, identifier in device.identifiers
    )


async def async_remove_entry(hass: HomeAssistant, entry: ConfigEntry) -> None:
    if is_charger_entry(entry):
        await _async_remove_charger(hass, entry)
        return
    # Removing a server removes the chargers accepted on it (their devices go with them).
    for charger_entry in hass.config_entries.async_entries(DOMAIN, include_ignore=False):
        if (
            is_charger_entry(charger_entry)
            and charger_entry.data.get(CONF_SERVER_ENTRY_ID) == entry.entry_id
        ):
            await hass.config_entries.async_remove(charger_entry.entry_id)
    for issue_id in (
        repair_issue_id(ISSUE_PORT_IN_USE, entry.entry_id),
        repair_issue_id(ISSUE_TLS_RENEWAL_FAILED, entry.entry_id),
        repair_issue_id(ISSUE_TLS_CERTIFICATE_EXPIRING, entry.entry_id),
    ):
        ir.async_delete_issue(hass, DOMAIN, issue_id)
    await HassStateStore(hass, entry.entry_id).async_remove()
    await ems_store(hass, entry.entry_id).async_remove()
    # The CA and the server's keys go with the server.
    await ServerSecurity(hass, entry).async_remove()


# --- server entries ----------
async def _async_setup_server(hass: HomeAssistant, entry: ServerConfigEntry) -> bool:
    settings = server_settings(entry)
    directory = HassChargerDirectory(hass, entry)
    store = HassStateStore(hass, entry.entry_id)
    security = ServerSecurity(hass, entry)
    tls = None
    if settings.tls_port is not None:
        try:
            tls = await security.async_start()
        except CaStoreDamagedError:
            # Its repair says what to do; chargers without TLS need no CA.
            settings = dataclasses.replace(settings, tls_port=None)
        except (CertificateError, ValueError, OSError) as err:
            # A repair says what failed when it was the server certificate.
            raise ConfigEntryNotReady(
                translation_domain=DOMAIN,
                translation_key="tls_setup_failed",
                translation_placeholders={"error": str(err)},
            ) from err
    # Charger certificates (profile 3) are signed by the CA while TLS is on (none is loaded
    # otherwise: certificate signing requests are then rejected).
    certificates = AuthorityCertificates(lambda: security.ca)
    central = CentralSystem(settings, directory, store, tls=tls, certificates=certificates)
    try:
        await central.start()
    except ServerBindError as err:
        placeholders = {"host": err.host, "port": str(err.port), "reason": err.reason}
        ir.async_create_issue(
            hass,
            DOMAIN,
            repair_issue_id(ISSUE_PORT_IN_USE, entry.entry_id),
            is_fixable=False,
            severity=ir.IssueSeverity.ERROR,
            translation_key=ISSUE_PORT_IN_USE,
            translation_placeholders=placeholders,
        )
        raise ConfigEntryNotReady(
            translation_domain=DOMAIN,
            translation_key="port_in_use",
            translation_placeholders=placeholders,
        ) from err
    ir.async_delete_issue(hass, DOMAIN, repair_issue_id(ISSUE_PORT_IN_USE, entry.entry_id))
    LOGGER.info("OCPP central system listening on %s:%s", settings.host, central.port)

    stopped = False

    async def _async_stop(_event: Event | None = None) -> None:
        nonlocal stopped
        if stopped:
            return
        stopped = True
        await central.stop()

    # Registered as soon as it listens: a set-up failing after this point must free the port
    # (Home Assistant runs the unload callbacks of a failed set-up). Home Assistant does not
    # unload entries on shutdown: stop the server on both paths.
    entry.async_on_unload(_async_stop)
    entry.async_on_unload(hass.bus.async_listen_once(EVENT_HOMEASSISTANT_STOP, _async_stop))

    ems = EnergyManagerRuntime(hass, entry)
    await ems.async_start()
    entry.async_on_unload(ems.async_stop)
    entry.runtime_data = ServerRuntimeData(
        central=central,
        directory=directory,
        store=store,
        settings=settings,
        local_list=directory.local_list(),
        ems=ems,
        security=security,
        upgrades=SecurityUpgrades(hass, entry, central, security),
    )
    if tls is not None:
        entry.runtime_data.upgrades.async_resume()

    entry.async_on_unload(entry.add_update_listener(_async_server_options_updated))

    @callback
    def _on_state_change() -> None:
        # Chargers that tried to set up before their server was listening (or were unloaded
        # with it) can run once it is LOADED. At startup Home Assistant sets them up itself.
        if entry.state is not ConfigEntryState.LOADED:
            return
        for charger_entry in directory.charger_entries():
            if charger_entry.disabled_by is None and (
                charger_entry.state is ConfigEntryState.SETUP_RETRY
                or (
                    charger_entry.state is ConfigEntryState.NOT_LOADED
                    and hass.state is CoreState.running
                )
            ):
                hass.config_entries.async_schedule_reload(charger_entry.entry_id)

    entry.async_on_unload(entry.async_on_state_change(_on_state_change))
    await hass.config_entries.async_forward_entry_setups(entry, SERVER_PLATFORMS)
    return True


async def _async_server_options_updated(hass: HomeAssistant, entry: ConfigEntry) -> None:
    """Restart the server only for what needs a restart; id tags and onboarding apply live."""
    server_entry: ServerConfigEntry = entry
    runtime = server_entry.runtime_data
    if runtime.ems.async_options_updated():
        # The energy manager was switched on or off: its entities come or go with the chargers.
        for charger_entry in runtime.directory.charger_entries():
            if charger_entry.state is ConfigEntryState.LOADED:
                hass.config_entries.async_schedule_reload(charger_entry.entry_id)
    settings = server_settings(entry)
    # Live: the running sessions read these per frame (runtime.settings is the server's own).
    runtime.settings.log_frames = settings.log_frames
    runtime.settings.allow_new_chargers = settings.allow_new_chargers  # read per handshake
    if _restart_relevant(settings) != _restart_relevant(runtime.settings):
        hass.config_entries.async_schedule_reload(entry.entry_id)
        return  # chargers get the id tag list when they boot again
    if settings.tls_port is not None:
        # New certificate names, or the other certificate: the listener takes it without restart.
        entry.async_create_task(hass, runtime.security.async_check(), f"{DOMAIN} certificates")
    local_list = runtime.directory.local_list()
    if local_list != runtime.local_list:
        runtime.local_list = local_list
        entry.async_create_background_task(
            hass, _async_sync_local_lists(runtime.central, *local_list), f"{DOMAIN} local lists"
        )


async def _async_sync_local_lists(central: CentralSystem, version: int, tags: list[str]) -> None:
    """Mirror a changed id tag list into every connected charger that keeps a local list."""
    for charger_id, charger in central.chargers.items():
        session = central.session(charger_id)
        if session is None or not charger.booted or not charger.capabilities.local_auth_list:
            continue
        try:
            await session.send_local_list(tags, version)
        except OcppEmsError as err:
            LOGGER.warning("Could not update the id tag list of charger %s: %s", charger_id, err)


def _restart_relevant(settings: ServerSettings) -> tuple[object, ...]:
    return (
        settings.host,
        settings.port,
        settings.ping_interval_s,
        settings.ping_timeout_s,
        settings.heartbeat_interval_s,
        settings.response_timeout_s,
        settings.ocpp_versions,
        settings.tls_port,
    )


# --- charger entries ----------
async def _async_setup_charger(hass: HomeAssistant, entry: ChargerConfigEntry) -> bool:
    charger_id: str = entry.data[CONF_CHARGER_ID]
    server_entry: ServerConfigEntry | None = hass.config_entries.async_get_entry(
        entry.data[CONF_SERVER_ENTRY_ID]
    )
    if server_entry is None or server_entry.state is not ConfigEntryState.LOADED:
        raise ConfigEntryNotReady(
            translation_domain=DOMAIN,
            translation_key="server_not_ready",
            translation_placeholders={"charger_id": charger_id},
        )
    central = server_entry.runtime_data.central
    coordinator = ChargerCoordinator(hass, entry, central, charger_id)
    entry.runtime_data = ChargerRuntimeData(
        charger_id=charger_id,
        central=central,
        server_entry=server_entry,
        coordinator=coordinator,
    )
    entry.async_on_unload(coordinator.async_start())
    entry.async_on_unload(async_follow_clock(hass, charger_id, coordinator.charger))
    entry.async_on_unload(async_follow_limit_not_applied(hass, charger_id, coordinator.charger))
    entry.async_on_unload(
        async_follow_self_start_loop(
            hass, charger_id, coordinator.charger, lambda: central.current_control(charger_id)
        )
    )

    charger = coordinator.charger
    if charger.connected and not (charger.booted and charger.auth_provisioned):
        # Just accepted while it waits in Pending (or it missed its password): provision it.
        # This talks to the charger, so it must not hold up the setup.
        entry.async_create_background_task(
            hass, _async_accept(central, charger_id), f"{DOMAIN} accept {charger_id}"
        )
    entry.async_on_unload(entry.add_update_listener(_async_charger_entry_updated))
    # Before the entities, which read the charger's EMS settings; its first decision is debounced.
    entry.async_on_unload(server_entry.runtime_data.ems.async_add_charger(entry))
    entry.async_on_unload(async_follow_limit_expiry(entry))
    await hass.config_entries.async_forward_entry_setups(entry, PLATFORMS)
    return True


async def _async_charger_entry_updated(hass: HomeAssistant, entry: ConfigEntry) -> None:
    """New options (limits, stack levels...) or a move to another server."""
    charger_entry: ChargerConfigEntry = entry
    runtime = charger_entry.runtime_data
    session = runtime.central.session(runtime.charger_id)
    if session is not None and entry.data[CONF_SERVER_ENTRY_ID] == runtime.server_entry.entry_id:
        # Write what changed (installation maximum, safe profile, live limit) right away rather
        # than at the next reconnect.
        await runtime.central.current_control(runtime.charger_id).attach(session)
    # Entities take their bounds from the options: set them up again.
    hass.config_entries.async_schedule_reload(entry.entry_id)


async def _async_accept(central: CentralSystem, charger_id: str) -> None:
    try:
        await central.accept_charger(charger_id)
    except OcppEmsError as err:  # pragma: no cover - the 1.6 adapter logs and swallows these
        LOGGER.warning("Could not finish accepting charger %s: %s", charger_id, err)


async def _async_remove_charger(hass: HomeAssistant, entry: ConfigEntry) -> None:
    charger_id: str = entry.data[CONF_CHARGER_ID]
    await async_remove_price_store(hass, entry.entry_id)
    ir.async_delete_issue(hass, DOMAIN, repair_issue_id(ISSUE_AUTH_FAILED, charger_id))
    ir.async_delete_issue(hass, DOMAIN, repair_issue_id(ISSUE_PASSWORD_IGNORED, charger_id))
    ir.async_delete_issue(hass, DOMAIN, repair_issue_id(ISSUE_SECURITY_UPGRADE_FAILED, charger_id))
    server_entry: ServerConfigEntry | None = hass.config_entries.async_get_entry(
        entry.data[CONF_SERVER_ENTRY_ID]
    )
    if server_entry is None:
        return  # removed together with its server: nothing left to reject at
    if server_entry.state is ConfigEntryState.LOADED:
        await server_entry.runtime_data.central.forget_charger(charger_id)
        server_entry.runtime_data.ems.async_forget_charger(charger_id)
    else:
        await HassStateStore(hass, server_entry.entry_id).async_forget_charger(charger_id)
    # The user deleted an accepted charger: remember the decision as an ignored entry, which
    # rejects the charger from now on and which the user can "stop ignoring" in the UI. The ignore
    # step of the flow also drops the charger's connection.
    await hass.config_entries.flow.async_init(
        DOMAIN,
        context=ConfigFlowContext(source=SOURCE_IGNORE, unique_id=charger_id),
        data={"unique_id": charger_id, "title": entry.title},
    )
