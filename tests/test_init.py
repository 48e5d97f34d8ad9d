"""Entry lifecycle: server binding and repairs, charger entries, admission, removal, restart."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import Any

import pytest
from homeassistant.config_entries import (
    SOURCE_IGNORE,
    ConfigEntry,
    ConfigEntryDisabler,
    ConfigEntryState,
)
from homeassistant.const import (
    EVENT_HOMEASSISTANT_STOP,
    STATE_UNAVAILABLE,
    STATE_UNKNOWN,
    EntityCategory,
)
from homeassistant.core import Event, EventStateChangedData, HomeAssistant, callback
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.event import async_track_state_change_event
from homeassistant.setup import async_setup_component
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_fire_time_changed
from pytest_homeassistant_custom_component.components.diagnostics import (
    get_diagnostics_for_config_entry,
)
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import InvalidStatus

from custom_components.ocpp_ems.const import (
    AUTO_ACCEPT_PER_DAY,
    CONF_ACCEPT_ANY_ID_TAG,
    CONF_ACCEPTED_AUTOMATICALLY,
    CONF_ALLOW_NEW_CHARGERS,
    CONF_AUTO_ACCEPT,
    CONF_CHARGER_ID,
    CONF_ENTRY_TYPE,
    CONF_HOST,
    CONF_ID_TAGS,
    CONF_INSTALLATION_MAX,
    CONF_PASSWORD,
    CONF_PORT,
    CONF_RESPONSE_TIMEOUT,
    CONF_SERVER_ENTRY_ID,
    CONF_VOLTAGE,
    DOMAIN,
    ENTRY_TYPE_CHARGER,
    ENTRY_TYPE_SERVER,
)
from custom_components.ocpp_ems.core import server as server_module
from custom_components.ocpp_ems.core.directory import Admission
from custom_components.ocpp_ems.core.model import ChargerInfo
from custom_components.ocpp_ems.core.server import CentralSystem
from custom_components.ocpp_ems.server_sensor import REFUSAL_WRITE_INTERVAL_S

from .helpers.charger import charger_connection, wait_for
from .helpers.fixtures import (
    ConnectCharger,
    Onboard,
    assert_turned_away,
    async_unload_all,
    central_of,
)


async def _set_up_server(hass: HomeAssistant, port: int) -> MockConfigEntry:
    entry = _server(port)
    entry.add_to_hass(hass)
    await hass.config_entries.async_setup(entry.entry_id)
    return entry


@asynccontextmanager
async def _listening(host: str) -> AsyncIterator[int]:
    """Another program listening on ``host`` (its port)."""
    blocker = await asyncio.get_running_loop().create_server(asyncio.Protocol, host, 0)
    try:
        yield blocker.sockets[0].getsockname()[1]
    finally:
        blocker.close()
        await blocker.wait_closed()


async def _reconfigure(
    hass: HomeAssistant, entry: MockConfigEntry, port: int, host: str
) -> dict[str, Any]:
    result = await entry.start_reconfigure_flow(hass)
    return dict(
        await hass.config_entries.flow.async_configure(
            result["flow_id"], {CONF_PORT: port, CONF_HOST: host}
        )
    )


def _server(port: int, **options: Any) -> MockConfigEntry:
    return MockConfigEntry(
        domain=DOMAIN,
        unique_id=f"port_{port}",
        data={CONF_ENTRY_TYPE: ENTRY_TYPE_SERVER, CONF_HOST: "127.0.0.1", CONF_PORT: port},
        options={CONF_RESPONSE_TIMEOUT: 3, **options},
    )


def _charger(server_entry_id: str, charger_id: str = "CP1", **kwargs: Any) -> MockConfigEntry:
    return MockConfigEntry(
        domain=DOMAIN,
        unique_id=charger_id,
        title=charger_id,
        data={
            CONF_ENTRY_TYPE: ENTRY_TYPE_CHARGER,
            CONF_CHARGER_ID: charger_id,
            CONF_SERVER_ENTRY_ID: server_entry_id,
            CONF_PASSWORD: "secret-password",
        },
        **kwargs,
    )


@pytest.fixture
async def unload_after(hass: HomeAssistant, socket_enabled: None) -> AsyncGenerator[None]:
    yield
    await async_unload_all(hass)


# --- server ------------------------------------------------------------------------------------
async def test_port_in_use_retries_with_repair_issue(
    hass: HomeAssistant, unload_after: None, issue_registry: ir.IssueRegistry
) -> None:
    blocker = await asyncio.get_running_loop().create_server(asyncio.Protocol, "127.0.0.1", 0)
    port = blocker.sockets[0].getsockname()[1]
    entry = _server(port)
    entry.add_to_hass(hass)

    await hass.config_entries.async_setup(entry.entry_id)
    assert entry.state is ConfigEntryState.SETUP_RETRY
    assert entry.error_reason_translation_key == "port_in_use"
    issue = issue_registry.async_get_issue(DOMAIN, f"port_in_use_{entry.entry_id}")
    assert issue is not None
    assert issue.translation_placeholders is not None
    assert issue.translation_placeholders["port"] == str(port)

    blocker.close()
    await blocker.wait_closed()
    await hass.config_entries.async_reload(entry.entry_id)
    assert entry.state is ConfigEntryState.LOADED
    assert issue_registry.async_get_issue(DOMAIN, f"port_in_use_{entry.entry_id}") is None


async def test_reconfigure_from_the_port_in_use_repair_starts_the_server(
    hass: HomeAssistant, unload_after: None, issue_registry: ir.IssueRegistry
) -> None:
    """The repair tells the user to reconfigure the server to another port: doing so starts it
    at once (a server that never started has no update listener to restart it)."""
    async with _listening("127.0.0.1") as port:
        entry = await _set_up_server(hass, port)
        assert entry.state is ConfigEntryState.SETUP_RETRY
        result = await _reconfigure(hass, entry, 0, "127.0.0.1")
        assert result["reason"] == "reconfigure_successful"
        await hass.async_block_till_done()
        assert entry.state is ConfigEntryState.LOADED
        assert issue_registry.async_get_issue(DOMAIN, f"port_in_use_{entry.entry_id}") is None


async def test_reconfigure_to_a_host_where_the_port_is_taken_is_refused(
    hass: HomeAssistant, unload_after: None
) -> None:
    """Moving a running server (127.0.0.1:P) to 127.0.0.2 where another program listens on P:
    the form says so (it was saved, and the working server went down for good); to an address
    its own listener holds ("localhost"), the move is taken."""
    async with _listening("127.0.0.2") as port:
        entry = await _set_up_server(hass, port)
        assert entry.state is ConfigEntryState.LOADED
        for host, outcome in (("127.0.0.2", "port_in_use"), ("localhost", None)):
            result = await _reconfigure(hass, entry, port, host)
            await hass.async_block_till_done()
            assert result.get("errors") == ({CONF_PORT: outcome} if outcome else None), host
            assert entry.state is ConfigEntryState.LOADED
        assert entry.data[CONF_HOST] == "localhost"


async def test_reconfigure_to_a_name_whose_other_address_is_taken_is_refused(
    hass: HomeAssistant, unload_after: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Our server on 127.0.0.1:P, another program on [::1]:P; "localhost" resolving to both (as
    /etc/hosts mostly has it): the move is refused on the form (127.0.0.1 being ours said nothing
    about ::1, and the server then failed to start there)."""
    real = socket.getaddrinfo

    def both(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host == "localhost":
            return real("127.0.0.1", *args, **kwargs) + real("::1", *args, **kwargs)
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", both)
    other = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    other.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    other.bind(("::1", 0))
    other.listen()
    port = other.getsockname()[1]
    try:
        entry = await _set_up_server(hass, port)
        assert entry.state is ConfigEntryState.LOADED
        result = await _reconfigure(hass, entry, port, "localhost")
        assert result["errors"] == {CONF_PORT: "port_in_use"}
        assert entry.state is ConfigEntryState.LOADED
    finally:
        other.close()


async def test_home_assistant_stop_stops_server(
    hass: HomeAssistant,
    server_entry: MockConfigEntry,
    connect: ConnectCharger,
    hass_client: ClientSessionGenerator,
) -> None:
    central = central_of(server_entry)
    async with connect("CP1") as sim:
        await sim.boot()
        hass.bus.async_fire(EVENT_HOMEASSISTANT_STOP)
        await hass.async_block_till_done()
        await wait_for(lambda: central.session("CP1") is None)
    with pytest.raises(RuntimeError):
        _ = central.port  # not listening any more
    diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, server_entry)
    assert diagnostics["server"]["port"] is None
    # Unloading afterwards (as the fixture does) must not fail on the stopped server.


# --- charger entries ---------------------------------------------------------------------------
async def test_charger_waits_for_its_server(hass: HomeAssistant, unload_after: None) -> None:
    server = _server(0)
    charger = _charger(server.entry_id)
    charger.add_to_hass(hass)

    await hass.config_entries.async_setup(charger.entry_id)
    assert charger.state is ConfigEntryState.SETUP_RETRY
    assert charger.error_reason_translation_key == "server_not_ready"

    # The server coming up sets its waiting chargers up.
    server.add_to_hass(hass)
    await hass.config_entries.async_setup(server.entry_id)
    await hass.async_block_till_done()
    assert server.state is ConfigEntryState.LOADED
    assert charger.state is ConfigEntryState.LOADED

    # Unloading the server unloads its chargers; a reload brings both back.
    await hass.config_entries.async_reload(server.entry_id)
    await hass.async_block_till_done()
    assert server.state is ConfigEntryState.LOADED
    assert charger.state is ConfigEntryState.LOADED


async def test_charger_device(
    hass: HomeAssistant, onboard: Onboard, device_registry: dr.DeviceRegistry
) -> None:
    async with onboard("CP1") as (_sim, entry):
        device = device_registry.async_get_device_by_identifier((DOMAIN, "CP1"), entry.entry_id)
        assert device is not None
        assert device.config_entry_id == entry.entry_id
        assert device.manufacturer == "Acme"
        assert device.model == "Wallbox 1"
        assert device.serial_number == "SN-0001"
        assert device.sw_version == "1.2.3"
        assert device.name == "Acme Wallbox 1"


async def test_firmware_change_updates_device(
    hass: HomeAssistant, onboard: Onboard, device_registry: dr.DeviceRegistry
) -> None:
    async with onboard("CP1") as (sim, entry):
        sim.firmware = "2.0.0"
        assert await sim.boot() == "Accepted"
        await hass.async_block_till_done()
        device = device_registry.async_get_device_by_identifier((DOMAIN, "CP1"), entry.entry_id)
        assert device is not None
        assert device.sw_version == "2.0.0"


async def test_unavailable_when_disconnected_logs_once(
    hass: HomeAssistant,
    onboard: Onboard,
    connect: ConnectCharger,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="custom_components.ocpp_ems")
    async with onboard("CP1") as (sim, entry):
        await sim.status("Available")
        await hass.async_block_till_done()
        assert hass.states.get("sensor.acme_wallbox_1_status").state == "available"
    await wait_for(lambda: not entry.runtime_data.coordinator.charger.connected)
    await hass.async_block_till_done()
    assert hass.states.get("sensor.acme_wallbox_1_status").state == STATE_UNAVAILABLE
    # The connectivity sensor stays available to say so.
    assert hass.states.get("binary_sensor.acme_wallbox_1_connected").state == "off"
    lost = [r for r in caplog.records if "is not connected; its entities" in r.getMessage()]
    assert len(lost) == 1

    async with connect("CP1", password=entry.data[CONF_PASSWORD].encode()) as sim:
        assert await sim.boot() == "Accepted"
        await sim.status("Available")
        await hass.async_block_till_done()
        assert hass.states.get("sensor.acme_wallbox_1_status").state == "available"
        back = [r for r in caplog.records if "is connected again" in r.getMessage()]
        assert len(back) == 1


async def test_remove_charger_rejects_it(
    hass: HomeAssistant, onboard: Onboard, connect: ConnectCharger, central: CentralSystem
) -> None:
    async with onboard("CP1") as (_sim, entry):
        await hass.config_entries.async_remove(entry.entry_id)
        await hass.async_block_till_done()
        ignored = hass.config_entries.async_entry_for_domain_unique_id(DOMAIN, "CP1")
        assert ignored is not None
        assert ignored.source == SOURCE_IGNORE
        await wait_for(lambda: central.session("CP1") is None)
    await assert_turned_away(connect, "CP1")

    # "Stop ignoring" (deleting the ignored entry) lets it ask again.
    await hass.config_entries.async_remove(ignored.entry_id)
    async with connect("CP1") as sim:
        assert await sim.boot() == "Pending"
        await wait_for(lambda: hass.config_entries.flow.async_progress_by_handler(DOMAIN))
        for flow in hass.config_entries.flow.async_progress_by_handler(DOMAIN):
            hass.config_entries.flow.async_abort(flow["flow_id"])


async def test_remove_server_removes_its_chargers(
    hass: HomeAssistant, onboard: Onboard, server_entry: MockConfigEntry
) -> None:
    async with onboard("CP1") as (_sim, charger_entry):
        await hass.config_entries.async_remove(server_entry.entry_id)
        await hass.async_block_till_done()
    assert hass.config_entries.async_get_entry(charger_entry.entry_id) is None
    # Removed with its server, not by the user: nothing is remembered as rejected.
    assert hass.config_entries.async_entries(DOMAIN, include_ignore=True) == []


async def test_disabled_charger_is_rejected(
    hass: HomeAssistant, server_entry: MockConfigEntry, connect: ConnectCharger
) -> None:
    charger = _charger(server_entry.entry_id, disabled_by=ConfigEntryDisabler.USER)
    charger.add_to_hass(hass)
    directory = server_entry.runtime_data.directory
    assert directory.admission("CP1") is Admission.REJECTED
    await assert_turned_away(connect, "CP1")


async def test_charger_of_other_server_is_pending(
    hass: HomeAssistant, server_entry: MockConfigEntry
) -> None:
    _charger("another-server").add_to_hass(hass)
    directory = server_entry.runtime_data.directory
    assert directory.admission("CP1") is Admission.PENDING
    assert directory.password("CP1") == "secret-password"
    assert directory.password("unknown") is None
    assert directory.settings("unknown").installation_max_a == 32.0


async def test_charger_settings_follow_options_and_the_servers_voltage(
    hass: HomeAssistant, server_entry: MockConfigEntry
) -> None:
    charger = _charger(server_entry.entry_id, options={CONF_INSTALLATION_MAX: 20})
    charger.add_to_hass(hass)
    directory = server_entry.runtime_data.directory
    first = directory.settings("CP1")
    assert (first.installation_max_a, first.nominal_voltage_v) == (20.0, 230.0)
    assert directory.settings("CP1") is first  # read once per options
    # The server's site voltage is every charger's (chargers have no voltage of their own).
    hass.config_entries.async_update_entry(
        server_entry, options={**server_entry.options, CONF_VOLTAGE: 240}
    )
    assert directory.settings("CP1").nominal_voltage_v == 240.0
    # An ignored charger gets the defaults (at the server's voltage).
    ignored = _charger(server_entry.entry_id, "CP2", source=SOURCE_IGNORE)
    ignored.add_to_hass(hass)
    ignored_settings = directory.settings("CP2")
    assert (ignored_settings.installation_max_a, ignored_settings.nominal_voltage_v) == (32, 240)


@pytest.mark.parametrize("server_options", [{CONF_ALLOW_NEW_CHARGERS: False}])
async def test_new_chargers_not_allowed(
    hass: HomeAssistant, server_entry: MockConfigEntry, connect: ConnectCharger
) -> None:
    assert server_entry.runtime_data.directory.admission("NEW") is Admission.REJECTED
    await assert_turned_away(connect, "NEW")


async def test_an_id_like_a_server_entrys_is_turned_away(
    hass: HomeAssistant, server_entry: MockConfigEntry, connect: ConnectCharger
) -> None:
    """``port_<port>`` is the server entry's unique id: a device connecting under it was taken
    for an accepted charger after its first boot (the discovery rewrote the server entry). No
    charger can ever have an id of that form: turned away, the server entry untouched."""
    charger_id = str(server_entry.unique_id)
    data = dict(server_entry.data)
    directory = server_entry.runtime_data.directory
    assert directory.admission("port_9001") is Admission.REJECTED  # a server added later
    assert directory.admission("port_x") is Admission.PENDING
    assert directory.admission(charger_id) is Admission.REJECTED
    assert directory.charger_entry(charger_id) is None
    assert directory.password(charger_id) is None
    await assert_turned_away(connect, charger_id)
    await hass.async_block_till_done()
    assert dict(server_entry.data) == data
    assert directory.admission(charger_id) is Admission.REJECTED


async def test_unknown_ids_share_one_settings(
    hass: HomeAssistant, server_entry: MockConfigEntry
) -> None:
    """Every handshake reads its id's settings: a device cycling ids must not grow a per-id cache
    (memory without bound); unknown ids share the defaults, a charger keeps its own."""
    _charger(server_entry.entry_id, options={CONF_INSTALLATION_MAX: 20}).add_to_hass(hass)
    directory = server_entry.runtime_data.directory
    shared = directory.settings("id-0")
    assert all(directory.settings(f"id-{i}") is shared for i in range(500))
    assert directory.settings("CP1").installation_max_a == 20.0
    assert len(directory._settings) == 2


@pytest.mark.parametrize("server_options", [{CONF_AUTO_ACCEPT: True, CONF_RESPONSE_TIMEOUT: 3}])
async def test_auto_accept(
    hass: HomeAssistant, server_entry: MockConfigEntry, connect: ConnectCharger
) -> None:
    async with connect("CP9") as sim:
        assert await sim.boot() == "Pending"
        await wait_for(lambda: sim.boot_status == "Accepted")
        entry = hass.config_entries.async_entry_for_domain_unique_id(DOMAIN, "CP9")
        assert entry is not None
        # The entry's set-up provisions the charger in a background task: the Accepted boot that
        # follows may come back before the set-up itself has returned.
        await wait_for(lambda: entry.state is ConfigEntryState.LOADED)


@pytest.mark.parametrize("server_options", [{CONF_AUTO_ACCEPT: True, CONF_RESPONSE_TIMEOUT: 3}])
async def test_auto_accept_takes_a_few_new_chargers_a_day(
    hass: HomeAssistant,
    server_entry: MockConfigEntry,
    connect: ConnectCharger,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A device trying ids must not create charger entries by the thousand: beyond the day's
    share, a new charger waits for approval as without the option (once warned)."""
    ids = [f"AUTO{n}" for n in range(AUTO_ACCEPT_PER_DAY + 2)]
    for charger_id in ids:
        async with connect(charger_id) as sim:
            assert await sim.boot() == "Pending"
    await hass.async_block_till_done()

    def entry(charger_id: str) -> ConfigEntry | None:
        return hass.config_entries.async_entry_for_domain_unique_id(DOMAIN, charger_id)

    accepted = ids[:AUTO_ACCEPT_PER_DAY]
    await wait_for(lambda: all(entry(cid) is not None for cid in accepted), what="accepted")
    waiting = {
        flow["context"]["unique_id"]
        for flow in hass.config_entries.flow.async_progress_by_handler(DOMAIN)
        if flow["step_id"] == "confirm"
    }
    assert waiting == set(ids[AUTO_ACCEPT_PER_DAY:])
    assert all(entry(cid) is None for cid in waiting)
    warned = [r for r in caplog.records if "waits for approval although" in r.getMessage()]
    assert len(warned) == 1
    for flow in hass.config_entries.flow.async_progress_by_handler(DOMAIN):
        hass.config_entries.flow.async_abort(flow["flow_id"])


@pytest.mark.parametrize("server_options", [{CONF_AUTO_ACCEPT: True, CONF_RESPONSE_TIMEOUT: 3}])
async def test_auto_accept_share_is_not_renewed_by_a_restart(
    hass: HomeAssistant, server_entry: MockConfigEntry, connect: ConnectCharger
) -> None:
    """The day's share counts the entries it made (their creation time), not a memory of this
    run: restarting Home Assistant, or reloading the server, does not renew it."""
    now = dt_util.utcnow()
    # Left from before a restart: one accepted automatically more than a day ago (no longer
    # counted) and all but two of the share within the day.
    for n, age_h in enumerate([25] + [23] * (AUTO_ACCEPT_PER_DAY - 2)):
        old = MockConfigEntry(
            domain=DOMAIN,
            unique_id=f"OLD{n}",
            data={
                CONF_ENTRY_TYPE: ENTRY_TYPE_CHARGER,
                CONF_CHARGER_ID: f"OLD{n}",
                CONF_SERVER_ENTRY_ID: server_entry.entry_id,
                CONF_PASSWORD: "0123456789abcdef",
                CONF_ACCEPTED_AUTOMATICALLY: True,
            },
        )
        object.__setattr__(old, "created_at", now - timedelta(hours=age_h))
        old.add_to_hass(hass)

    def entry(charger_id: str) -> ConfigEntry | None:
        return hass.config_entries.async_entry_for_domain_unique_id(DOMAIN, charger_id)

    async def boot(charger_id: str) -> None:
        async with connect(charger_id) as sim:
            assert await sim.boot() == "Pending"
        await hass.async_block_till_done()

    await boot("NEW0")
    await wait_for(lambda: entry("NEW0") is not None, what="NEW0 accepted")
    loaded_entry = entry("NEW0")
    assert loaded_entry is not None
    assert loaded_entry.data[CONF_ACCEPTED_AUTOMATICALLY] is True
    await wait_for(lambda: loaded_entry.state is ConfigEntryState.LOADED)

    assert await hass.config_entries.async_reload(server_entry.entry_id)
    await hass.async_block_till_done()
    await boot("NEW1")  # the last of the share
    await wait_for(lambda: entry("NEW1") is not None, what="NEW1 accepted")
    await boot("NEW2")
    (waiting,) = [
        flow
        for flow in hass.config_entries.flow.async_progress_by_handler(DOMAIN)
        if flow["step_id"] == "confirm"
    ]
    assert waiting["context"]["unique_id"] == "NEW2"
    assert entry("NEW2") is None
    hass.config_entries.flow.async_abort(waiting["flow_id"])


# --- authentication ----------------------------------------------------------------------------
async def _fail_logins(connect: ConnectCharger, charger_id: str) -> None:
    """Another device (another address) tries the charger's id with wrong passwords, enough for
    the repair issue."""
    for _ in range(3):
        with pytest.raises(Exception, match="HTTP 401"):
            async with connect(charger_id, password=b"wrong", local_address="127.0.0.2"):
                pass


async def test_wrong_password_repair_issue(
    hass: HomeAssistant,
    onboard: Onboard,
    connect: ConnectCharger,
    issue_registry: ir.IssueRegistry,
) -> None:
    async with onboard("CP1") as (_sim, entry):
        pass
    await _fail_logins(connect, "CP1")
    issue = issue_registry.async_get_issue(DOMAIN, "auth_failed_CP1")
    assert issue is not None
    assert issue.is_fixable
    assert issue.translation_placeholders == {"charger_id": "CP1", "remote": "127.0.0.2"}
    # Throttled from now on (HTTP 429) ...
    with pytest.raises(Exception, match="HTTP 429"):
        async with connect("CP1", password=b"wrong", local_address="127.0.0.2"):
            pass

    # ... but not the charger at its own address: the right password (the bytes of the hex
    # AuthorizationKey) gets in and clears the issue.
    async with connect("CP1", password=entry.data[CONF_PASSWORD].encode()) as sim:
        assert await sim.boot() == "Accepted"
    assert issue_registry.async_get_issue(DOMAIN, "auth_failed_CP1") is None


# --- id tags -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "server_options",
    [{CONF_ID_TAGS: ["Card-1", " ", "card-1", "CARD-2"], CONF_RESPONSE_TIMEOUT: 3}],
)
async def test_id_tags(
    hass: HomeAssistant, onboard: Onboard, server_entry: MockConfigEntry
) -> None:
    async with onboard("CP1") as (sim, _entry):
        # The list is synced into the charger's local list.
        assert sorted(sim.local_list[1]) == ["CARD-2", "Card-1"]
        assert await sim.authorize("card-1") == "Accepted"  # case-insensitive
        assert await sim.authorize("stranger") == "Invalid"

        hass.config_entries.async_update_entry(
            server_entry, options={**server_entry.options, CONF_ACCEPT_ANY_ID_TAG: True}
        )
        await hass.async_block_till_done()
        assert await sim.authorize("stranger") == "Accepted"
        # A changed list reaches the charger without a reboot (offline ones get it at boot).
        central_of(server_entry).charger("OFFLINE")
        hass.config_entries.async_update_entry(
            server_entry, options={**server_entry.options, CONF_ID_TAGS: ["NEW"]}
        )
        await hass.async_block_till_done()
        await wait_for(lambda: sim.local_list[1] == ["NEW"])
        sim.statuses["SendLocalList"] = "Failed"
        hass.config_entries.async_update_entry(
            server_entry, options={**server_entry.options, CONF_ID_TAGS: ["NEWER"]}
        )
        await wait_for(lambda: len(sim.commands("SendLocalList")) == 3)
        await hass.async_block_till_done()
        assert sim.local_list[1] == ["NEW"]  # refused by the charger: logged, nothing breaks
    directory = server_entry.runtime_data.directory
    version, tags = directory.local_list()
    assert tags == ["NEWER"]
    assert version > 0


async def test_pending_charger_callback_is_idempotent(
    hass: HomeAssistant, server_entry: MockConfigEntry, caplog: pytest.LogCaptureFixture
) -> None:
    """A charger that boots again while its question is open does not ask twice."""
    caplog.set_level(logging.DEBUG, logger="custom_components.ocpp_ems")
    directory = server_entry.runtime_data.directory
    info = ChargerInfo(vendor="Acme", model="X", serial_number="1")
    for _ in range(3):
        directory.on_pending_charger("CP5", info)
    await hass.async_block_till_done()
    flows = hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    assert len(flows) == 1
    hass.config_entries.flow.async_abort(flows[0]["flow_id"])
    # Every minute's boot of a waiting charger is no INFO line: the first only, within the hour.
    waiting = [
        r.levelno for r in caplog.records if r.getMessage().startswith(("New OCPP", "Charger CP5"))
    ]
    assert waiting == [logging.INFO, logging.DEBUG, logging.DEBUG]


# --- restart -----------------------------------------------------------------------------------
async def test_state_survives_restart(
    hass: HomeAssistant, onboard: Onboard, server_entry: MockConfigEntry, connect: ConnectCharger
) -> None:
    async with onboard("CP1") as (sim, charger_entry):
        await sim.status("Charging")
        transaction_id = await sim.start_transaction("HomeAssistant")
        await sim.meter_values(energy_wh=3000, power_w=7000)
        await hass.async_block_till_done()
        assert hass.states.get("sensor.acme_wallbox_1_session_energy").state == "2.0"

    # Restart: unload everything and set the entries up again (state comes from the store).
    await async_unload_all(hass)
    await hass.config_entries.async_setup(server_entry.entry_id)
    await hass.async_block_till_done()
    assert charger_entry.state is ConfigEntryState.LOADED
    model = central_of(server_entry).charger("CP1")
    connector = model.connectors[1]
    assert connector.transaction is not None
    assert connector.transaction.transaction_id == str(transaction_id)

    async with connect("CP1", password=charger_entry.data[CONF_PASSWORD].encode()) as sim:
        sim.transaction_id = transaction_id
        assert await sim.boot() == "Accepted"
        # Within what the charger can deliver in the seconds since its last reading.
        sim.meter_wh = 3100
        await sim.stop_transaction()
        await hass.async_block_till_done()
        assert connector.transaction is None
        assert connector.last_session_energy_wh == 2100


async def test_manual_refresh(hass: HomeAssistant, onboard: Onboard) -> None:
    """homeassistant.update_entity on a push entity just re-reads the model."""
    assert await async_setup_component(hass, "homeassistant", {})
    async with onboard("CP1") as (_sim, _entry):
        await hass.services.async_call(
            "homeassistant",
            "update_entity",
            {"entity_id": "sensor.acme_wallbox_1_status"},
            blocking=True,
        )


async def test_charger_moves_to_another_server(
    hass: HomeAssistant, onboard: Onboard, server_entry: MockConfigEntry
) -> None:
    """A charger accepted on one port that connects to another follows (discovery-update-info)."""
    second = _server(0)
    second.add_to_hass(hass)
    # A second server on port 0 needs its own unique id.
    hass.config_entries.async_update_entry(second, unique_id="port_0_b")
    await hass.config_entries.async_setup(second.entry_id)
    await hass.async_block_till_done()
    async with onboard("CP1") as (_sim, charger_entry):
        password = charger_entry.data[CONF_PASSWORD].encode()
    async with charger_connection(central_of(second).port, "CP1", password=password) as sim:
        assert await sim.boot() == "Pending"
        await wait_for(lambda: charger_entry.data[CONF_SERVER_ENTRY_ID] == second.entry_id)
        await wait_for(lambda: sim.boot_status == "Accepted")
        await hass.async_block_till_done()
        assert charger_entry.state is ConfigEntryState.LOADED
        assert charger_entry.runtime_data.central is central_of(second)


async def test_startup_with_existing_entries(hass: HomeAssistant, unload_after: None) -> None:
    """Home Assistant starting: chargers set up before their server catch up once it listens."""
    charger = _charger("placeholder")
    server = _server(0)
    charger.add_to_hass(hass)  # registered first, so set up first
    server.add_to_hass(hass)
    hass.config_entries.async_update_entry(
        charger, data={**charger.data, CONF_SERVER_ENTRY_ID: server.entry_id}
    )
    assert await async_setup_component(hass, DOMAIN, {})
    await hass.async_block_till_done()
    assert server.state is ConfigEntryState.LOADED
    assert charger.state is ConfigEntryState.LOADED


async def test_unload_leaves_nothing_running(
    hass: HomeAssistant, onboard: Onboard, server_entry: MockConfigEntry
) -> None:
    async with onboard("CP1") as (sim, _entry):
        await sim.status("Charging")
        port = central_of(server_entry).port
        await async_unload_all(hass)
        leftovers = [
            task.get_name()
            for task in asyncio.all_tasks()
            if task.get_name().startswith("ocpp_ems") and not task.done()
        ]
        assert leftovers == []
    with pytest.raises(ConnectionRefusedError):  # nobody listens any more
        await asyncio.open_connection("127.0.0.1", port)


# --- pending chargers and refused connections --------------------------------------------------
async def test_forgotten_pending_ids_lose_their_discovery_flow(
    hass: HomeAssistant,
    server_entry: MockConfigEntry,
    connect: ConnectCharger,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(server_module, "MAX_PENDING_CHARGERS", 1)
    await hass.config_entries.async_reload(server_entry.entry_id)
    await hass.async_block_till_done()
    central = central_of(server_entry)

    def flows() -> list[str]:
        return [
            str(flow["context"].get("unique_id"))
            for flow in hass.config_entries.flow.async_progress_by_handler(DOMAIN)
        ]

    async with connect("P1") as sim:
        assert await sim.boot() == "Pending"
        await wait_for(lambda: flows() == ["P1"], what="discovery of P1")
    await wait_for(lambda: central.session("P1") is None)
    async with connect("P2") as sim:
        assert await sim.boot() == "Pending"
        # P1 made room for P2 (the list holds one): its question to the user is gone too.
        await wait_for(lambda: flows() == ["P2"], what="only P2 asked for")
        assert "P1" not in central.chargers
        assert "P2" not in central.stored_state()["chargers"]  # pending: never stored
    for flow in hass.config_entries.flow.async_progress_by_handler(DOMAIN):
        hass.config_entries.flow.async_abort(flow["flow_id"])


async def test_last_refused_connection_sensor(
    hass: HomeAssistant, server_entry: MockConfigEntry, connect: ConnectCharger
) -> None:
    registry = er.async_get(hass)
    entity_id = registry.async_get_entity_id(
        "sensor", DOMAIN, f"{server_entry.entry_id}_last_refused_connection"
    )
    assert entity_id is not None
    entity = registry.async_get(entity_id)
    assert entity is not None
    assert entity.entity_category is EntityCategory.DIAGNOSTIC
    device = dr.async_get(hass).async_get(entity.device_id or "")
    assert device is not None
    assert (DOMAIN, f"server_{server_entry.entry_id}") in device.identifiers
    state = hass.states.get(entity_id)
    assert state is not None
    assert state.state == STATE_UNKNOWN

    port = central_of(server_entry).port
    with pytest.raises(InvalidStatus, match="HTTP 400"):
        async with ws_connect(f"ws://127.0.0.1:{port}/ocpp/%20"):
            pass
    await hass.async_block_till_done()
    state = hass.states.get(entity_id)
    assert state is not None
    assert datetime.fromisoformat(state.state) <= dt_util.utcnow()
    assert state.attributes["reason"] == "invalid_id"
    assert state.attributes["charger_id"] is None
    assert state.attributes["path"] == "/ocpp/%20"
    assert state.attributes["remote"] == "127.0.0.1"
    assert state.attributes["device_class"] == "timestamp"

    _charger(server_entry.entry_id, disabled_by=ConfigEntryDisabler.USER).add_to_hass(hass)
    await assert_turned_away(connect, "CP1")
    await hass.async_block_till_done()
    # Within REFUSAL_WRITE_INTERVAL_S of the last write: shown when the interval is over.
    state = hass.states.get(entity_id)
    assert state is not None
    assert state.attributes["reason"] == "invalid_id"
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(seconds=REFUSAL_WRITE_INTERVAL_S))
    await hass.async_block_till_done()
    state = hass.states.get(entity_id)
    assert state is not None
    assert state.attributes["reason"] == "rejected"
    assert state.attributes["charger_id"] == "CP1"
    assert state.attributes["path"] is None


async def test_a_burst_of_refusals_writes_the_sensor_twice(
    hass: HomeAssistant, server_entry: MockConfigEntry
) -> None:
    """Someone tries 40 ids in a row: the first refusal is shown at once, the last when the
    write interval is over; nothing in between reaches the state machine (or the database)."""
    entity_id = er.async_get(hass).async_get_entity_id(
        "sensor", DOMAIN, f"{server_entry.entry_id}_last_refused_connection"
    )
    assert entity_id is not None
    changes: list[str | None] = []

    @callback
    def changed(event: Event[EventStateChangedData]) -> None:
        new = event.data["new_state"]
        changes.append(None if new is None else new.attributes.get("path"))

    async_track_state_change_event(hass, entity_id, changed)
    port = central_of(server_entry).port
    for n in range(40):
        with pytest.raises(InvalidStatus, match="HTTP 400"):
            async with ws_connect(f"ws://127.0.0.1:{port}/try{n}/%20"):
                pass
    await hass.async_block_till_done()
    assert changes == ["/try0/%20"]
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(seconds=REFUSAL_WRITE_INTERVAL_S))
    await hass.async_block_till_done()
    assert changes == ["/try0/%20", "/try39/%20"]
    # One more, then the entry is unloaded before its write: the write is dropped with it.
    with pytest.raises(InvalidStatus, match="HTTP 400"):
        async with ws_connect(f"ws://127.0.0.1:{port}/late/%20"):
            pass
    await hass.config_entries.async_unload(server_entry.entry_id)
    async_fire_time_changed(
        hass, dt_util.utcnow() + timedelta(seconds=3 * REFUSAL_WRITE_INTERVAL_S)
    )
    await hass.async_block_till_done()
    assert changes[:2] == ["/try0/%20", "/try39/%20"]
    assert "/late/%20" not in changes


# --- found by an adversarial review (2026-12-03) --------------------------------------------
async def _second_server(hass: HomeAssistant) -> MockConfigEntry:
    second = MockConfigEntry(
        domain=DOMAIN,
        unique_id="port_0_b",
        data={CONF_ENTRY_TYPE: ENTRY_TYPE_SERVER, CONF_HOST: "127.0.0.1", CONF_PORT: 0},
        options={CONF_RESPONSE_TIMEOUT: 3},
    )
    second.add_to_hass(hass)
    assert await hass.config_entries.async_setup(second.entry_id)
    await hass.async_block_till_done()
    return second


async def test_charger_of_another_server_must_log_in_to_move(
    hass: HomeAssistant, onboard: Onboard, server_entry: MockConfigEntry, connect: ConnectCharger
) -> None:
    """A device without the password that connects to our other server under an accepted
    charger's id was taken for the charger moving there: its entry moved and the device was
    given the charger's password. Now it is refused; the charger itself still moves."""
    second = await _second_server(hass)
    async with onboard("CP1") as (_sim, charger_entry):
        password = str(charger_entry.data[CONF_PASSWORD]).encode()
    with pytest.raises(InvalidStatus, match="HTTP 401"):
        async with charger_connection(central_of(second).port, "CP1"):
            pass
    await hass.async_block_till_done()
    assert charger_entry.data[CONF_SERVER_ENTRY_ID] == server_entry.entry_id
    async with charger_connection(central_of(second).port, "CP1", password=password) as sim:
        assert await sim.boot() == "Pending"
        await wait_for(lambda: charger_entry.data[CONF_SERVER_ENTRY_ID] == second.entry_id)


async def test_live_charger_without_a_password_is_not_moved_by_another_server(
    hass: HomeAssistant, onboard: Onboard, server_entry: MockConfigEntry
) -> None:
    """A charger the user let in without a password ("no password", a trusted network) is
    connected and alive on its server. A device with no credentials that connected to our other
    server under its id moved the charger's entry there (its boot Accepted) and left the charger
    pending at home; on the charger's own server it would have got 409. Now it gets 409 there
    too; once the charger is gone, a charger without a password still moves."""
    second = await _second_server(hass)
    async with onboard("CP1") as (_sim, charger_entry):
        data = {k: v for k, v in charger_entry.data.items() if k != CONF_PASSWORD}
        hass.config_entries.async_update_entry(charger_entry, data=data)
        central_of(server_entry).forget_password("CP1")
        await hass.async_block_till_done()
        with pytest.raises(InvalidStatus, match="HTTP 409"):
            async with charger_connection(central_of(second).port, "CP1"):
                pass
        await hass.async_block_till_done()
        assert charger_entry.data[CONF_SERVER_ENTRY_ID] == server_entry.entry_id
        assert central_of(server_entry).session("CP1") is not None
    await wait_for(lambda: central_of(server_entry).session("CP1") is None)
    async with charger_connection(central_of(second).port, "CP1") as sim:
        assert await sim.boot() == "Pending"
        await wait_for(lambda: charger_entry.data[CONF_SERVER_ENTRY_ID] == second.entry_id)


async def test_disabled_charger_loses_its_connection(
    hass: HomeAssistant, onboard: Onboard, server_entry: MockConfigEntry
) -> None:
    """Disabling a connected charger closed nothing: it could go on authorizing and charging,
    unseen, until it reconnected."""
    central = central_of(server_entry)
    async with onboard("CP1") as (_sim, entry):
        assert central.session("CP1") is not None
        await hass.config_entries.async_set_disabled_by(entry.entry_id, ConfigEntryDisabler.USER)
        await hass.async_block_till_done()
        assert entry.state is ConfigEntryState.NOT_LOADED
        await wait_for(lambda: central.session("CP1") is None, what="connection closed")


@pytest.mark.parametrize(
    "server_options", [{CONF_RESPONSE_TIMEOUT: 3, CONF_ALLOW_NEW_CHARGERS: False}]
)
async def test_allowing_new_chargers_applies_without_a_restart(
    hass: HomeAssistant, server_entry: MockConfigEntry, connect: ConnectCharger
) -> None:
    central = central_of(server_entry)
    await assert_turned_away(connect, "NEW1")
    hass.config_entries.async_update_entry(
        server_entry, options={**server_entry.options, CONF_ALLOW_NEW_CHARGERS: True}
    )
    await hass.async_block_till_done()
    assert central_of(server_entry) is central  # not restarted
    async with connect("NEW1") as sim:
        assert await sim.boot() == "Pending"
    await hass.async_block_till_done()
    for flow in hass.config_entries.flow.async_progress_by_handler(DOMAIN):
        hass.config_entries.flow.async_abort(flow["flow_id"])


async def test_wrong_password_repair_clears_after_a_server_reload(
    hass: HomeAssistant,
    onboard: Onboard,
    server_entry: MockConfigEntry,
    connect: ConnectCharger,
    issue_registry: ir.IssueRegistry,
) -> None:
    """The failure count is a memory of the run; the repair issue is not: a login with the right
    password clears it also after a reload of the server."""
    async with onboard("CP1") as (_sim, entry):
        pass
    await _fail_logins(connect, "CP1")
    assert issue_registry.async_get_issue(DOMAIN, "auth_failed_CP1") is not None
    assert await hass.config_entries.async_reload(server_entry.entry_id)
    await hass.async_block_till_done()
    async with connect("CP1", password=entry.data[CONF_PASSWORD].encode()) as sim:
        assert await sim.boot() == "Accepted"
        await hass.async_block_till_done()
    assert issue_registry.async_get_issue(DOMAIN, "auth_failed_CP1") is None


async def test_charger_moved_off_a_disabled_server_is_set_up(
    hass: HomeAssistant, onboard: Onboard, server_entry: MockConfigEntry
) -> None:
    """Its old server disabled (its chargers unloaded), a charger that logs in on our other
    server moved there but was never set up (no update listener on an unloaded entry) until the
    next start of Home Assistant."""
    second = await _second_server(hass)
    async with onboard("CP1") as (_sim, charger_entry):
        password = str(charger_entry.data[CONF_PASSWORD]).encode()
    await hass.config_entries.async_set_disabled_by(server_entry.entry_id, ConfigEntryDisabler.USER)
    await hass.async_block_till_done()
    assert charger_entry.state is ConfigEntryState.NOT_LOADED
    async with charger_connection(central_of(second).port, "CP1", password=password) as sim:
        assert await sim.boot() == "Pending"
        await wait_for(lambda: charger_entry.state is ConfigEntryState.LOADED, what="set up")
        assert charger_entry.data[CONF_SERVER_ENTRY_ID] == second.entry_id
