"""Sessions and energy across restarts, deletion and damaged stored data: nothing lost, no charger
left without its fallback profiles, the lifetime shown as soon as its source reported."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from homeassistant.core import HomeAssistant
from ocpp.v16 import call as call16
from pytest_homeassistant_custom_component.common import (  # type: ignore[import-untyped]
    MockConfigEntry,
)

from custom_components.ocpp_ems.const import CONF_PASSWORD, DOMAIN
from tests.core.v201_harness import sampled

from .helpers.charger import wait_for
from .helpers.fixtures import ConnectCharger, Onboard, async_unload_all, central_of
from .helpers.platform import device_id
from .helpers.station201 import OCPP201, station_connection
from .helpers.versions import OnboardAny
from .test_restart_no_dip import LIFETIME, SESSION, History


def _state(hass: HomeAssistant, entity_id: str) -> str:
    state = hass.states.get(entity_id)
    assert state is not None
    return state.state


async def _restart(hass: HomeAssistant, server_entry: MockConfigEntry) -> None:
    await async_unload_all(hass)
    assert await hass.config_entries.async_setup(server_entry.entry_id)
    await hass.async_block_till_done()


def _iso(seconds_ago: float) -> str:
    return (datetime.now(UTC) - timedelta(seconds=seconds_ago)).isoformat()


# --- 1.6: the session ended while Home Assistant was down ---------------------------------------
async def test_v16_stop_sent_on_reconnect_without_boot(
    hass: HomeAssistant,
    onboard: Onboard,
    connect: ConnectCharger,
    server_entry: MockConfigEntry,
) -> None:
    history = History(hass)
    async with onboard("CP1") as (sim, charger_entry):
        await sim.status("Charging")
        transaction_id = await sim.start_transaction()  # 1000 Wh, an hour ago
        await sim.meter_values(energy_wh=1500, ago_s=600)
        await hass.async_block_till_done()
        assert _state(hass, SESSION) == "0.5"
        password = charger_entry.data[CONF_PASSWORD].encode()
    await _restart(hass, server_entry)
    async with connect("CP1", password=password) as sim:
        # Queued while HA was down: no boot first (a websocket reconnect only).
        await sim.call(
            call16.StopTransaction(
                meter_stop=2000,
                timestamp=_iso(60),
                transaction_id=transaction_id,
                reason="EVDisconnected",
                transaction_data=[
                    {
                        "timestamp": _iso(120),
                        "sampled_value": [
                            {"value": "1800", "measurand": "Energy.Active.Import.Register"}
                        ],
                    }
                ],
            )
        )
        await sim.status("Available")
        await hass.async_block_till_done()
        model = central_of(server_entry).charger("CP1")
        assert model.connectors[1].transaction is None
        assert model.connectors[1].last_session_energy_wh == 1000
        assert model.lifetime_energy.total_wh == 2000
        assert _state(hass, SESSION) == "1.0"
        assert _state(hass, LIFETIME) == "2.0"
    history.close()
    lifetime = history.numbers(LIFETIME)
    assert lifetime == sorted(lifetime)


async def test_v201_ended_offline_after_restart(
    hass: HomeAssistant,
    onboard_any: OnboardAny,
    server_entry: MockConfigEntry,
) -> None:
    history = History(hass)
    async with onboard_any(OCPP201, "CP1") as (side, _charger_entry):
        await side.plug_in()
        transaction_id = await side.start_session()  # 1000 Wh
        await side.meter(energy_wh=1500, ago_s=600)
        await hass.async_block_till_done()
        assert _state(hass, SESSION) == "0.5"
        seq_no = side.station.seq_no
        password = side.provisioned_password()
    assert password is not None
    await _restart(hass, server_entry)
    central = central_of(server_entry)
    async with station_connection(central.port, "CP1", password=password) as station:
        station.seq_no = seq_no
        for ago, wh, kind in ((180, 1700, "Updated"), (60, 2000, "Ended")):
            extra: dict[str, Any] = {}
            if kind == "Ended":
                extra["stopped_reason"] = "EVDisconnected"
            await station.tx_event(
                kind,
                transaction_id,
                trigger_reason="MeterValuePeriodic" if kind == "Updated" else "EVCommunicationLost",
                timestamp=_iso(ago),
                offline=True,
                meter_value=[
                    {
                        "timestamp": _iso(ago),
                        "sampledValue": [sampled(wh, "Energy.Active.Import.Register", unit="Wh")],
                    }
                ],
                **extra,
            )
        await station.boot()
        await hass.async_block_till_done()
        model = central.charger("CP1")
        assert model.connectors[1].transaction is None
        assert model.connectors[1].last_session_energy_wh == 1000
        assert model.lifetime_energy.total_wh == 2000
        await wait_for(lambda: model.booted, what="booted")
        await hass.async_block_till_done()
        assert _state(hass, SESSION) == "1.0"
        assert _state(hass, LIFETIME) == "2.0"
    history.close()
    lifetime = history.numbers(LIFETIME)
    assert lifetime == sorted(lifetime)


# --- 2.x: a session started without a meter value after a restart ---------------------------------
async def test_v201_started_without_meter_value_after_restart_counts_all_energy(
    hass: HomeAssistant,
    onboard_any: OnboardAny,
    server_entry: MockConfigEntry,
) -> None:
    """A 2.x Started needs no meterValue (many stations send none). Before the restart the
    connector's last register stood in as the start value; after it, the stored lifetime register
    is what is known. Every Wh the charger's register rose by must reach the lifetime total."""
    history = History(hass)
    async with onboard_any(OCPP201, "CP1") as (side, _entry):
        side.meter_wh = 100_000.0
        await side.plug_in()
        await side.start_session()  # 100 kWh register, an hour ago
        await side.meter(energy_wh=101_000, ago_s=600)
        await side.end_session(energy_wh=101_500)
        await hass.async_block_till_done()
        assert _state(hass, LIFETIME) == "101.5"
        seq_no = side.station.seq_no
        password = side.provisioned_password()
    assert password is not None
    await _restart(hass, server_entry)
    central = central_of(server_entry)
    model = central.charger("CP1")
    assert model.lifetime_energy.total_wh == 101_500
    async with station_connection(central.port, "CP1", password=password) as station:
        station.seq_no = seq_no
        assert str((await station.boot()).status) == "Accepted"
        await wait_for(lambda: model.booted, what="booted")
        # A new session, Started without a meter value (the spec makes it optional).
        await station.tx_event(
            "Started",
            "CP1-new",
            trigger_reason="CablePluggedIn",
            timestamp=_iso(900),
            evse={"id": 1, "connectorId": 1},
            charging_state="EVConnected",
        )
        for ago, wh in ((600, 102_500), (300, 103_500), (0, 104_500)):
            await station.tx_event(
                "Updated",
                "CP1-new",
                trigger_reason="MeterValuePeriodic",
                timestamp=_iso(ago),
                charging_state="Charging",
                meter_value=[
                    {
                        "timestamp": _iso(ago),
                        "sampledValue": [sampled(wh, "Energy.Active.Import.Register", unit="Wh")],
                    }
                ],
            )
        await hass.async_block_till_done()
        # The register rose from 101.5 to 104.5 kWh: all of it is charged energy.
        assert model.lifetime_energy.total_wh == 104_500
        assert _state(hass, LIFETIME) == "104.5"
        assert model.connectors[1].transaction is not None
        assert model.connectors[1].transaction.energy_wh >= 2_000
    history.close()


# --- entry deletion and re-add ----------------------------------------------------------------------
async def test_deleted_and_re_added_charger_gets_its_fallback_profiles(
    hass: HomeAssistant,
    onboard: Onboard,
    connect: ConnectCharger,
    server_entry: MockConfigEntry,
) -> None:
    """The user deletes a charger (e.g. it was replaced or factory reset) and accepts it again:
    the re-added charger must be set up like a new one, with the installation maximum and the safe
    base profile (the fallback when Home Assistant stops), and with a password."""
    from custom_components.ocpp_ems.core.current_control import BASE_PROFILE_ID, MAX_PROFILE_ID

    from .helpers.fixtures import accept_pending_charger

    central = central_of(server_entry)
    async with onboard("CP1") as (sim, entry):
        assert BASE_PROFILE_ID in sim.profiles
        assert MAX_PROFILE_ID in sim.profiles
        await hass.config_entries.async_remove(entry.entry_id)
        await hass.async_block_till_done()
        await wait_for(lambda: central.session("CP1") is None)
    ignored = hass.config_entries.async_entry_for_domain_unique_id(DOMAIN, "CP1")
    assert ignored is not None
    # "Stop ignoring", then accept it again: a new (factory-fresh) unit under the same id.
    await hass.config_entries.async_remove(ignored.entry_id)
    await hass.async_block_till_done()
    async with connect("CP1") as sim:
        assert sim.profiles == {}
        assert await sim.boot() == "Pending"
        new_entry = await accept_pending_charger(hass, "CP1")
        await wait_for(lambda: sim.boot_status == "Accepted", what="accepted boot")
        model = central.charger("CP1")
        await wait_for(lambda: model.booted, what="booted")
        await hass.async_block_till_done()
        await wait_for(lambda: 3 in sim.profiles, what="live limit")
        assert sim.authorization_key is not None
        assert bytes.fromhex(sim.authorization_key).decode() == new_entry.data[CONF_PASSWORD]
        assert BASE_PROFILE_ID in sim.profiles, sim.profiles.keys()
        assert MAX_PROFILE_ID in sim.profiles, sim.profiles.keys()


# --- 1.6: the charger comes back with a new transaction for the same plugged-in car ---------------
async def test_v16_new_transaction_after_restart_books_the_energy_of_the_replaced_one(
    hass: HomeAssistant,
    onboard: Onboard,
    connect: ConnectCharger,
    server_entry: MockConfigEntry,
) -> None:
    """HA restarts; meanwhile the charger rebooted and lost its StopTransaction, and it starts a
    new transaction for the same car (meterStart 1800). The old session charged from 1000 up to
    that start: 800 Wh. Nothing of it may be lost (the README's 0 Wh lost, lifetime and session)."""
    async with onboard("CP1") as (sim, charger_entry):
        await sim.status("Charging")
        await sim.start_transaction()  # 1000 Wh, an hour ago
        await sim.meter_values(energy_wh=1500, ago_s=600)
        await hass.async_block_till_done()
        password = charger_entry.data[CONF_PASSWORD].encode()
    await _restart(hass, server_entry)
    central = central_of(server_entry)
    model = central.charger("CP1")
    async with connect("CP1", password=password) as sim:
        assert await sim.boot() == "Accepted"
        sim.meter_wh = 1800
        await sim.start_transaction(started_ago_s=60)
        await sim.meter_values(energy_wh=2000)
        await hass.async_block_till_done()
        replaced = model.connectors[1].transaction
        assert replaced is not None
        old = [t for t in model.recently_ended if t.stop_reason == "Replaced"]
        assert len(old) == 1
        assert model.lifetime_energy.total_wh == 2000
        # The replaced session charged up to the new one's start: 1000 -> 1800.
        assert old[0].energy_wh == 800
        assert replaced.energy_wh == 200


# --- damaged stored data ----------------------------------------------------------------------------
async def test_damaged_store_document_does_not_stop_the_server(
    hass: HomeAssistant,
    hass_storage: dict[str, Any],
    onboard: Onboard,
    server_entry: MockConfigEntry,
) -> None:
    """persistence.state_from_dict: "A damaged entry is skipped (and logged), never fatal: losing
    one charger's history beats a central system that cannot start". A document whose chargers
    are not a mapping (hand-edited, or written by another version) must not stop the server."""
    from homeassistant.config_entries import ConfigEntryState

    async with onboard("CP1") as (_sim, _entry):
        pass
    await async_unload_all(hass)
    key = f"{DOMAIN}.{server_entry.entry_id}"
    hass_storage[key] = {
        "version": 1,
        "minor_version": 1,
        "key": key,
        "data": {"version": 1, "chargers": [{"charger_id": "CP1"}]},
    }
    await hass.config_entries.async_setup(server_entry.entry_id)
    await hass.async_block_till_done()
    assert server_entry.state is ConfigEntryState.LOADED


# --- lifetime from the whole-charger meter (connector 0) after a restart ---------------------------
async def test_lifetime_from_connector_0_is_shown_once_it_reported_after_a_restart(
    hass: HomeAssistant,
    onboard: Onboard,
    connect: ConnectCharger,
    server_entry: MockConfigEntry,
) -> None:
    """A charger whose main meter (connector 0) reports the register, the outlet only its
    meterStart / meterStop. The lifetime counts connector 0 (meter.py). After a restart with a
    session open, the lifetime can no longer be behind once connector 0 reported again: the README
    keeps it unavailable only "while ... the charger has not reported its register yet"."""
    async with onboard("CP1") as (sim, charger_entry):
        await sim.status("Available", connector_id=0)
        await sim.meter_values(connector_id=0, energy_wh=1000, ago_s=4000)
        await sim.status("Charging")
        transaction_id = await sim.start_transaction()  # 1000 Wh, an hour ago
        saved_tx = sim.transaction_id
        sim.transaction_id = None
        await sim.meter_values(connector_id=0, energy_wh=1500, ago_s=600)
        await hass.async_block_till_done()
        assert _state(hass, LIFETIME) == "1.5"
        password = charger_entry.data[CONF_PASSWORD].encode()
    await _restart(hass, server_entry)
    model = central_of(server_entry).charger("CP1")
    async with connect("CP1", password=password) as sim:
        assert await sim.boot() == "Accepted"
        await sim.status("Charging")
        await sim.meter_values(connector_id=0, energy_wh=2000, ago_s=60)
        await hass.async_block_till_done()
        assert model.lifetime_energy.total_wh == 2000
        assert _state(hass, LIFETIME) == "2.0"
        sim.transaction_id = saved_tx
        assert transaction_id == saved_tx


@pytest.mark.parametrize(("duration", "down_s", "lifted"), [(1, 1.2, True), (3600, 0.0, False)])
async def test_a_limit_given_for_a_while_is_lifted_across_a_restart(
    hass: HomeAssistant,
    onboard: Onboard,
    connect: ConnectCharger,
    server_entry: MockConfigEntry,
    duration: int,
    down_s: float,
    lifted: bool,
) -> None:
    """``set_current_limit`` with a ``duration`` (an automation pauses charging for a while): Home
    Assistant restarts meanwhile. A limit whose time ran out while it was down is lifted as the
    charger is back (it held the car at 0 A for good); one whose time is not up is kept until
    then."""
    async with onboard("CP1") as (sim, entry):
        await sim.status("Charging")
        transaction_id = await sim.start_transaction()
        await hass.services.async_call(
            DOMAIN,
            "set_current_limit",
            {"device_id": device_id(hass, entry), "current": 0, "duration": duration},
            blocking=True,
        )
        await wait_for(lambda: sim.live_limit() == 0.0, what="0 A")
        password = entry.data[CONF_PASSWORD].encode()
    await async_unload_all(hass)
    await asyncio.sleep(down_s)
    assert await hass.config_entries.async_setup(server_entry.entry_id)
    await hass.async_block_till_done()
    async with connect("CP1", password=password) as sim:
        sim.transaction_id = transaction_id
        assert await sim.boot() == "Accepted"
        await sim.status("Charging")
        model = central_of(server_entry).charger("CP1")
        expected = 32.0 if lifted else 0.0
        await wait_for(lambda: sim.live_limit() == expected, what="limit")
        assert (model.limit.requested_a is None) is lifted
        assert (model.limit.expires_at is None) is lifted
