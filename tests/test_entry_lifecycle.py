"""Server and charger entries over their whole life: set up, fail, reload, disable, remove.

Real Home Assistant, a real server on 127.0.0.1 and real OCPP clients; what must hold at every
step: no task or listening socket left behind, no stored data orphaned, no session energy lost.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from typing import Any

import pytest
from homeassistant.config_entries import ConfigEntryDisabler, ConfigEntryState
from homeassistant.const import EVENT_HOMEASSISTANT_STOP
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers import entity_registry as er
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.ocpp_ems.const import (
    CONF_ENTRY_TYPE,
    CONF_HOST,
    CONF_PASSWORD,
    CONF_PORT,
    CONF_RESPONSE_TIMEOUT,
    DOMAIN,
    ENTRY_TYPE_SERVER,
)

from .helpers.charger import SimCharger, charger_connection, wait_for
from .helpers.ems import MODE, ems_server_options
from .helpers.fixtures import (
    ConnectCharger,
    Onboard,
    accept_pending_charger,
    async_unload_all,
    central_of,
)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def _server(port: int) -> MockConfigEntry:
    return MockConfigEntry(
        domain=DOMAIN,
        unique_id=f"port_{port}",
        data={CONF_ENTRY_TYPE: ENTRY_TYPE_SERVER, CONF_HOST: "127.0.0.1", CONF_PORT: port},
        options={CONF_RESPONSE_TIMEOUT: 3},
    )


def _our_running_tasks() -> list[str]:
    return [
        task.get_name()
        for task in asyncio.all_tasks()
        if task.get_name().startswith("ocpp_ems") and not task.done()
    ]


async def _nobody_listens(port: int) -> bool:
    try:
        _reader, writer = await asyncio.open_connection("127.0.0.1", port)
    except ConnectionRefusedError:
        return True
    writer.close()
    await writer.wait_closed()
    return False


async def test_removing_the_server_mid_session_leaves_nothing_behind(
    hass: HomeAssistant,
    onboard: Onboard,
    server_entry: MockConfigEntry,
    device_registry: dr.DeviceRegistry,
    entity_registry: er.EntityRegistry,
) -> None:
    """Removing the server while a car charges: its chargers' entries, devices and entities go,
    its port is free and nothing of it keeps running."""
    port = central_of(server_entry).port
    async with onboard("CP1") as (sim, _charger_entry):
        await sim.status("Charging")
        await sim.start_transaction("HomeAssistant")
        await sim.meter_values(energy_wh=1000, power_w=7000)
        await hass.config_entries.async_remove(server_entry.entry_id)
        await hass.async_block_till_done()
    assert hass.config_entries.async_entries(DOMAIN, include_ignore=True) == []
    assert [d for d in device_registry.devices if d.identifiers & {(DOMAIN, "CP1")}] == []
    assert [e for e in entity_registry.entities.values() if e.platform == DOMAIN] == []
    assert await _nobody_listens(port)
    assert _our_running_tasks() == []
    assert _our_timers() == []


async def test_removing_the_server_leaves_no_stored_data(
    hass: HomeAssistant,
    onboard: Onboard,
    server_entry: MockConfigEntry,
    hass_storage: dict[str, Any],
) -> None:
    """Every store a server entry writes (chargers, energy manager, CA) goes with it."""
    async with onboard("CP1") as (sim, _charger_entry):
        await sim.status("Charging")
        await hass.config_entries.async_remove(server_entry.entry_id)
        await hass.async_block_till_done()
    left = [key for key in hass_storage if key.startswith(f"{DOMAIN}.{server_entry.entry_id}")]
    assert left == []


async def test_a_server_failing_after_it_listens_frees_its_port(
    hass: HomeAssistant, socket_enabled: None, hass_storage: dict[str, Any]
) -> None:
    """A set-up that fails once the server listens (here: the energy manager's store was
    written by a newer version of the integration) must not keep the port: the entry could
    never be set up again ("port in use") until Home Assistant restarts."""
    port = _free_port()
    entry = _server(port)
    entry.add_to_hass(hass)
    hass_storage[f"{DOMAIN}.{entry.entry_id}.ems"] = {
        "version": 99,
        "minor_version": 1,
        "key": f"{DOMAIN}.{entry.entry_id}.ems",
        "data": {},
    }
    assert not await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.SETUP_ERROR
    # Said in the user's words on the entry (Home Assistant's would say "upgrade Home Assistant").
    assert entry.error_reason_translation_key == "storage_too_new"
    assert await _nobody_listens(port)
    assert _our_running_tasks() == []


async def test_a_charger_deleted_while_its_server_is_off_is_forgotten(
    hass: HomeAssistant, onboard: Onboard, server_entry: MockConfigEntry
) -> None:
    """README: a deleted charger is forgotten (its sessions, the profiles it was given), also
    when its server was not running at the time (disabled, or its port taken)."""
    async with onboard("CP1") as (sim, charger_entry):
        await sim.status("Charging")
        await sim.start_transaction("HomeAssistant")
        await sim.meter_values(energy_wh=1000, power_w=7000)
        await hass.config_entries.async_set_disabled_by(
            server_entry.entry_id, ConfigEntryDisabler.USER
        )
        await hass.async_block_till_done()
    assert server_entry.state is ConfigEntryState.NOT_LOADED
    await hass.config_entries.async_remove(charger_entry.entry_id)
    await hass.config_entries.async_set_disabled_by(server_entry.entry_id, None)
    await hass.async_block_till_done()
    assert server_entry.state is ConfigEntryState.LOADED
    assert "CP1" not in central_of(server_entry).chargers


async def _charging_at_3000_wh(sim: SimCharger) -> int:
    """A session of CP1 (started at 1,000 Wh) charges, its register at 3,000 Wh: its id."""
    await sim.status("Charging")
    transaction_id = await sim.start_transaction("HomeAssistant")
    await sim.meter_values(energy_wh=3000, power_w=7000)
    return transaction_id


async def _reconnect_and_end_the_session(
    hass: HomeAssistant,
    server_entry: MockConfigEntry,
    charger_entry: MockConfigEntry,
    transaction_id: int,
) -> None:
    """CP1 connects again and ends the session of :func:`_charging_at_3000_wh` at 3,100 Wh: it
    is still open, and none of its energy was lost (2,100 Wh)."""
    password = charger_entry.data[CONF_PASSWORD].encode()
    async with charger_connection(central_of(server_entry).port, "CP1", password=password) as sim:
        sim.transaction_id = transaction_id
        assert await sim.boot() == "Accepted"
        sim.meter_wh = 3100
        await sim.stop_transaction()
        await hass.async_block_till_done()
    connector = central_of(server_entry).charger("CP1").connectors[1]
    assert connector.last_session_energy_wh == 2100


async def test_reloading_the_server_during_a_session_keeps_it(
    hass: HomeAssistant,
    onboard: Onboard,
    server_entry: MockConfigEntry,
    entity_registry: er.EntityRegistry,
) -> None:
    """Reloading the server (new options, the user's "Reload") while a car charges: the same
    entities come back (no ``_2`` twins), and the session goes on with its energy."""
    async with onboard("CP1") as (sim, charger_entry):
        transaction_id = await _charging_at_3000_wh(sim)
        await hass.async_block_till_done()
        entities = _entity_ids(entity_registry, charger_entry)
        assert await hass.config_entries.async_reload(server_entry.entry_id)
        await hass.async_block_till_done()
    assert server_entry.state is ConfigEntryState.LOADED
    assert charger_entry.state is ConfigEntryState.LOADED
    assert _entity_ids(entity_registry, charger_entry) == entities
    await _reconnect_and_end_the_session(hass, server_entry, charger_entry, transaction_id)
    await async_unload_all(hass)
    assert _our_running_tasks() == []
    assert _our_timers() == []


def _our_timers() -> list[str]:
    """Timers (call_later, async_track_*) of this integration still due on the loop."""
    scheduled: list[asyncio.TimerHandle] = asyncio.get_running_loop()._scheduled  # type: ignore[attr-defined]
    return [
        repr(handle)
        for handle in scheduled
        if not handle.cancelled() and "custom_components/ocpp_ems" in repr(handle)
    ]


def _entity_ids(entity_registry: er.EntityRegistry, entry: MockConfigEntry) -> list[str]:
    return sorted(
        e.entity_id for e in er.async_entries_for_config_entry(entity_registry, entry.entry_id)
    )


async def test_a_disabled_charger_keeps_its_session_when_enabled_again(
    hass: HomeAssistant, onboard: Onboard, server_entry: MockConfigEntry
) -> None:
    """Disabling a charger drops its connection and refuses it; enabling it again lets it
    back in with its open session (disabling is not deleting)."""
    async with onboard("CP1") as (sim, charger_entry):
        transaction_id = await _charging_at_3000_wh(sim)
        await hass.config_entries.async_set_disabled_by(
            charger_entry.entry_id, ConfigEntryDisabler.USER
        )
        await hass.async_block_till_done()
        await wait_for(lambda: central_of(server_entry).session("CP1") is None)
    await hass.config_entries.async_set_disabled_by(charger_entry.entry_id, None)
    await hass.async_block_till_done()
    assert charger_entry.state is ConfigEntryState.LOADED
    await _reconnect_and_end_the_session(hass, server_entry, charger_entry, transaction_id)


async def test_accepting_a_charger_while_home_assistant_stops(
    hass: HomeAssistant,
    server_entry: MockConfigEntry,
    connect: ConnectCharger,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The user answers a pending approval while Home Assistant shuts down (the server has
    stopped, the entries are still loaded): the entry is made without an error, and the
    charger is accepted when it connects after the restart."""
    async with connect("CP1") as sim:
        assert await sim.boot() == "Pending"
        await wait_for(lambda: hass.config_entries.flow.async_progress_by_handler(DOMAIN))
        hass.bus.async_fire(EVENT_HOMEASSISTANT_STOP)
        await hass.async_block_till_done()
        await wait_for(lambda: central_of(server_entry).session("CP1") is None)
    charger_entry = await accept_pending_charger(hass, "CP1")
    await hass.async_block_till_done()
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]

    await async_unload_all(hass)
    assert await hass.config_entries.async_setup(server_entry.entry_id)
    await hass.async_block_till_done()
    assert charger_entry.state is ConfigEntryState.LOADED
    # It never got its password (it was gone before): it logs in without one and is given it.
    async with connect("CP1") as sim:
        assert await sim.boot() == "Accepted"
        await wait_for(lambda: central_of(server_entry).charger("CP1").auth_provisioned)


@pytest.mark.parametrize("server_options", [ems_server_options()])
async def test_a_deleted_charger_comes_back_without_its_energy_manager_settings(
    hass: HomeAssistant, onboard: Onboard, connect: ConnectCharger
) -> None:
    """README: a deleted charger is forgotten and, accepted again, starts afresh; that includes
    the charge mode and plan the energy manager kept for it."""
    async with onboard("CP1") as (_sim, charger_entry):
        default_mode = hass.states.get(MODE)
        assert default_mode is not None
        assert default_mode.state != "off"
        await hass.services.async_call(
            "select", "select_option", {"entity_id": MODE, "option": "off"}, blocking=True
        )
        assert hass.states.get(MODE).state == "off"  # type: ignore[union-attr]
        await hass.config_entries.async_remove(charger_entry.entry_id)
        await hass.async_block_till_done()
    ignored = hass.config_entries.async_entry_for_domain_unique_id(DOMAIN, "CP1")
    assert ignored is not None
    await hass.config_entries.async_remove(ignored.entry_id)  # "stop ignoring"
    async with onboard("CP1"):
        assert hass.states.get(MODE).state == default_mode.state  # type: ignore[union-attr]
