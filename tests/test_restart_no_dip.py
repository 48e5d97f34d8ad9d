"""A crash (kill -9) and restart: no energy sensor ever shows less than it showed before.

The stored charger state is up to the save delay behind what the sensors showed before a crash.
Showing it after the restart would be a dip, which Home Assistant's long-term statistics count as a
meter reset (the whole value counted again). So energy sensors whose restored value may be behind
(a session was open) stay unavailable until the charger reports its register again; those that
cannot be behind (no open session) show the restored value at once. A crash is simulated by putting
back the stored document as it was before the last, unsaved readings.
"""

from __future__ import annotations

import copy
from datetime import timedelta
from typing import Any

from homeassistant.const import STATE_UNAVAILABLE
from homeassistant.core import Event, EventStateChangedData, HomeAssistant, callback
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers.event import async_track_state_change_event
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.common import (  # type: ignore[import-untyped]
    MockConfigEntry,
    async_fire_time_changed,
)

from custom_components.ocpp_ems.const import CONF_PASSWORD, DOMAIN

from .helpers.fixtures import ConnectCharger, Onboard, async_unload_all, central_of

LIFETIME = "sensor.acme_wallbox_1_lifetime_energy"
SESSION = "sensor.acme_wallbox_1_session_energy"


class History:
    """Every state the energy sensors take, in order."""

    def __init__(self, hass: HomeAssistant) -> None:
        self.states: dict[str, list[str]] = {LIFETIME: [], SESSION: []}
        self._unsub = async_track_state_change_event(hass, list(self.states), self._on_change)

    @callback
    def _on_change(self, event: Event[EventStateChangedData]) -> None:
        if (state := event.data["new_state"]) is not None:
            self.states[state.entity_id].append(state.state)

    def numbers(self, entity_id: str) -> list[float]:
        values = []
        for state in self.states[entity_id]:
            try:
                values.append(float(state))
            except ValueError:
                continue
        return values

    def close(self) -> None:
        self._unsub()


def _state(hass: HomeAssistant, entity_id: str) -> str:
    state = hass.states.get(entity_id)
    assert state is not None
    return state.state


async def _crash_and_restart(
    hass: HomeAssistant,
    hass_storage: dict[str, Any],
    server_entry: MockConfigEntry,
    on_disk: dict[str, Any],
) -> None:
    """Unload (a clean stop writes the store), then put back what was on disk before, as if the
    process had been killed; then start again."""
    await async_unload_all(hass)
    hass_storage[f"{DOMAIN}.{server_entry.entry_id}"] = copy.deepcopy(on_disk)
    assert await hass.config_entries.async_setup(server_entry.entry_id)
    await hass.async_block_till_done()


async def test_no_dip_after_a_crash_during_a_session(
    hass: HomeAssistant,
    hass_storage: dict[str, Any],
    onboard: Onboard,
    connect: ConnectCharger,
    server_entry: MockConfigEntry,
    device_registry: dr.DeviceRegistry,
) -> None:
    key = f"{DOMAIN}.{server_entry.entry_id}"
    history = History(hass)
    async with onboard("CP1") as (sim, charger_entry):
        await sim.status("Charging")
        transaction_id = await sim.start_transaction()  # register 1000
        await sim.meter_values(energy_wh=1100)
        async_fire_time_changed(hass, dt_util.utcnow() + timedelta(seconds=11))
        await hass.async_block_till_done()
        on_disk = copy.deepcopy(hass_storage[key])
        assert on_disk["data"]["chargers"]["CP1"]["lifetime_energy"]["last_register_wh"] == 1100
        # Readings within the save delay: shown, not yet on disk when the process dies.
        await sim.meter_values(energy_wh=1150)
        await sim.meter_values(energy_wh=1200)
        await hass.async_block_till_done()
        assert _state(hass, LIFETIME) == "1.2"
        assert _state(hass, SESSION) == "0.2"
        password = charger_entry.data[CONF_PASSWORD].encode()

    await _crash_and_restart(hass, hass_storage, server_entry, on_disk)
    model = central_of(server_entry).charger("CP1")
    assert model.lifetime_energy.last_register_wh == 1100  # the stale stored state
    assert not model.energy_settled
    assert model.info.vendor == "Acme"  # device info survives the crash too
    # Device info came back from the store (the device registry is fed from it at startup).
    device = device_registry.async_get_device_by_identifier((DOMAIN, "CP1"), charger_entry.entry_id)
    assert device is not None
    assert device.manufacturer == "Acme"

    async with connect("CP1", password=password) as sim:
        sim.transaction_id = transaction_id
        assert await sim.boot() == "Accepted"
        await sim.status("Charging")
        await hass.async_block_till_done()
        # Connected, but the restored 1.1 kWh / 0.1 kWh would be dips: not shown.
        assert model.connected
        assert _state(hass, LIFETIME) == STATE_UNAVAILABLE
        assert _state(hass, SESSION) == STATE_UNAVAILABLE
        await sim.meter_values(energy_wh=1300)  # the charger kept charging meanwhile
        await hass.async_block_till_done()
        assert _state(hass, LIFETIME) == "1.3"
        assert _state(hass, SESSION) == "0.3"
        # The session ends and a new one starts: session energy may drop (a genuine reset).
        await sim.stop_transaction()
        await hass.async_block_till_done()
        assert _state(hass, SESSION) == "0.3"
        await sim.start_transaction()
        await hass.async_block_till_done()
        assert _state(hass, SESSION) == "0.0"
    history.close()

    lifetime = history.numbers(LIFETIME)
    assert lifetime == sorted(lifetime)
    assert lifetime[-1] == 1.3
    session = history.numbers(SESSION)
    assert session[:-1] == sorted(session[:-1])  # only the new session's 0 is lower
    assert session[-2:] == [0.3, 0.0]


async def test_restored_value_shown_at_once_without_an_open_session(
    hass: HomeAssistant,
    hass_storage: dict[str, Any],
    onboard: Onboard,
    connect: ConnectCharger,
    server_entry: MockConfigEntry,
) -> None:
    """No session was open: the stored value cannot be behind, so it is shown as soon as the
    charger is connected (a charger that reports its register only while charging would
    otherwise leave the lifetime energy unavailable until its next session)."""
    key = f"{DOMAIN}.{server_entry.entry_id}"
    async with onboard("CP1") as (sim, charger_entry):
        await sim.start_transaction()
        await sim.meter_values(energy_wh=1500)
        await sim.stop_transaction()
        await hass.async_block_till_done()
        password = charger_entry.data[CONF_PASSWORD].encode()
    await async_unload_all(hass)  # a clean stop: the store is written
    on_disk = copy.deepcopy(hass_storage[key])
    await _crash_and_restart(hass, hass_storage, server_entry, on_disk)
    model = central_of(server_entry).charger("CP1")
    assert model.energy_settled
    async with connect("CP1", password=password) as sim:
        assert await sim.boot() == "Accepted"
        await hass.async_block_till_done()
        assert _state(hass, LIFETIME) == "1.5"
        assert _state(hass, SESSION) == "0.5"
