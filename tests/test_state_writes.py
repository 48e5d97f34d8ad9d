"""Entities write their state only when it changed (entity.ChangedStateWriter).

Every OCPP frame notifies every entity of the charger. A frame that changes nothing an entity shows
must not write it again (no ``state_changed``, no ``state_reported``, the same state object), one
that changes a value writes just the entities showing it; availability flips, events, forced
refreshes (``homeassistant.update_entity``) and the energy manager's entities keep working.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from homeassistant.const import (
    EVENT_STATE_CHANGED,
    EVENT_STATE_REPORTED,
    STATE_UNAVAILABLE,
    Platform,
)
from homeassistant.core import (
    Event,
    EventStateChangedData,
    EventStateReportedData,
    HomeAssistant,
    State,
    callback,
)
from homeassistant.setup import async_setup_component

from custom_components.ocpp_ems.const import (
    CONF_BATTERY_POWER,
    CONF_BATTERY_SOC,
    CONF_EMS_ENABLED,
    CONF_GRID_POWER,
    CONF_INSTALLATION_MAX,
    CONF_PASSWORD,
    CONF_PV_POWER,
    CONF_RESPONSE_TIMEOUT,
)

from .helpers.charger import wait_for
from .helpers.ems import PERCENT, POWER, REASON, TARGET, async_setup_sources, set_sources
from .helpers.fixtures import ConnectCharger, Onboard
from .helpers.platform import only_platforms

PREFIX = "acme_wallbox_1"
POWER_SENSOR = f"sensor.{PREFIX}_power"
STATUS = f"sensor.{PREFIX}_status"
HEARTBEAT = f"sensor.{PREFIX}_last_heartbeat"
CONNECTED = f"binary_sensor.{PREFIX}_connected"
AUTHORIZATION = f"event.{PREFIX}_authorization"
MODE = f"select.{PREFIX}_charge_mode"
PRIORITY = "number.ocpp_server_port_0_battery_priority_state_of_charge"

READING: dict[str, Any] = {
    "energy_wh": 2500,
    "power_w": 7200,
    "current_a": (10.1, 10.2, 10.3),
    "voltage_v": (230, 231, 232),
    "offered_a": 16,
}


class Writes:
    """The state writes of the test charger's (and its server's) entities, by kind and entity."""

    def __init__(self, hass: HomeAssistant) -> None:
        self.changed: Counter[str] = Counter()
        self.reported: Counter[str] = Counter()
        hass.bus.async_listen(EVENT_STATE_CHANGED, self._on_changed)
        hass.bus.async_listen(EVENT_STATE_REPORTED, self._on_reported, event_filter=self._ours)

    @staticmethod
    @callback
    def _ours(data: EventStateChangedData | EventStateReportedData) -> bool:
        return PREFIX in data["entity_id"] or "ocpp_server" in data["entity_id"]

    @callback
    def _on_changed(self, event: Event[EventStateChangedData]) -> None:
        if self._ours(event.data):
            self.changed[event.data["entity_id"]] += 1

    @callback
    def _on_reported(self, event: Event[EventStateReportedData]) -> None:
        self.reported[event.data["entity_id"]] += 1

    def clear(self) -> None:
        self.changed.clear()
        self.reported.clear()


def state_of(hass: HomeAssistant, entity_id: str) -> State:
    state = hass.states.get(entity_id)
    assert state is not None, entity_id
    return state


async def test_identical_frame_writes_nothing(hass: HomeAssistant, onboard: Onboard) -> None:
    async with onboard() as (sim, _entry):
        await sim.status("Charging")
        await sim.start_transaction()
        await sim.meter_values(**READING)
        await hass.async_block_till_done()
        writes = Writes(hass)
        power = state_of(hass, POWER_SENSOR)
        assert power.state == "7200.0"

        await sim.meter_values(**READING)
        await hass.async_block_till_done()
        # Nothing written: not even last_reported moved.
        assert writes.changed == {}
        assert writes.reported == {}
        assert state_of(hass, POWER_SENSOR) is power
        assert power.last_reported == power.last_updated

        # A new power value: the power sensor (only) gets a new state.
        await sim.meter_values(**(READING | {"power_w": 7300}))
        await hass.async_block_till_done()
        assert writes.changed == {POWER_SENSOR: 1}
        assert writes.reported == {}
        assert state_of(hass, POWER_SENSOR).state == "7300.0"


async def test_heartbeat_writes_only_the_heartbeat_sensor(
    hass: HomeAssistant, onboard: Onboard
) -> None:
    async with onboard() as (sim, _entry):
        writes = Writes(hass)
        await sim.heartbeat()
        await hass.async_block_till_done()
        assert writes.changed == {HEARTBEAT: 1}
        assert writes.reported == {}


async def test_availability_flips_are_written(
    hass: HomeAssistant, onboard: Onboard, connect: ConnectCharger
) -> None:
    writes = Writes(hass)
    async with onboard() as (sim, entry):
        await sim.status("Charging")
        await sim.meter_values(**READING)
        await hass.async_block_till_done()
        assert state_of(hass, POWER_SENSOR).state == "7200.0"
        assert state_of(hass, CONNECTED).state == "on"
    await wait_for(lambda: state_of(hass, POWER_SENSOR).state == STATE_UNAVAILABLE)
    await hass.async_block_till_done()
    assert state_of(hass, STATUS).state == STATE_UNAVAILABLE
    assert state_of(hass, CONNECTED).state == "off"  # stays available to say so

    writes.clear()
    async with connect("CP1", password=entry.data[CONF_PASSWORD].encode()) as sim:
        assert await sim.boot() == "Accepted"
        await hass.async_block_till_done()
        # The model kept the last values: they are shown again, each written once (but the
        # power: a boot ends any flow until the next reading, as a reboot cuts a session).
        assert state_of(hass, POWER_SENSOR).state == "0.0"
        assert state_of(hass, STATUS).state == "charging"
        assert state_of(hass, CONNECTED).state == "on"
        # The power twice: its last value when the charger is back, 0 once it has booted.
        assert writes.changed[POWER_SENSOR] == 2
        assert writes.changed[CONNECTED] == 1
        assert writes.reported == {}


async def test_events_fire_every_time(hass: HomeAssistant, onboard: Onboard) -> None:
    with only_platforms(Platform.EVENT):
        async with onboard() as (sim, _entry):
            writes = Writes(hass)
            fired = []
            for _ in range(2):  # the same event twice: two states (each with its own time)
                assert await sim.authorize("stranger") == "Invalid"
                await hass.async_block_till_done()
                fired.append(state_of(hass, AUTHORIZATION))
            assert writes.changed[AUTHORIZATION] == 2
            assert fired[0].state != fired[1].state
            assert fired[1].attributes["event_type"] == "rejected"
            assert fired[1].attributes["id_tag"] == "stranger"


async def test_update_entity_still_writes(hass: HomeAssistant, onboard: Onboard) -> None:
    """``homeassistant.update_entity`` refreshes and writes, even an unchanged state."""
    assert await async_setup_component(hass, "homeassistant", {})
    async with onboard() as (sim, _entry):
        await sim.meter_values(**READING)
        await hass.async_block_till_done()
        before = state_of(hass, POWER_SENSOR)
        writes = Writes(hass)
        await hass.services.async_call(
            "homeassistant", "update_entity", {"entity_id": POWER_SENSOR}, blocking=True
        )
        await hass.async_block_till_done()
        assert writes.reported[POWER_SENSOR] == 1
        after = state_of(hass, POWER_SENSOR)
        assert after.state == "7200.0"
        assert after.last_reported > before.last_updated
        # The other entities of the charger heard the refresh, but had nothing new to write.
        assert set(writes.reported) == {POWER_SENSOR}
        assert writes.changed == {}


async def test_settings_follow_new_options(hass: HomeAssistant, onboard: Onboard) -> None:
    """The coordinator reads the charger's settings once per options, not once per frame."""
    async with onboard() as (_sim, entry):
        coordinator = entry.runtime_data.coordinator
        first = coordinator.settings
        assert coordinator.settings is first  # cached
        hass.config_entries.async_update_entry(
            entry, options={**entry.options, CONF_INSTALLATION_MAX: 20}
        )
        assert coordinator.settings.installation_max_a == 20.0
        assert coordinator.settings is not first
        await hass.async_block_till_done()


class TestEnergyManager:
    """With the energy manager on (its entities update after every decision)."""

    @pytest.fixture
    def server_options(self) -> dict[str, Any]:
        return {
            CONF_RESPONSE_TIMEOUT: 3,
            CONF_EMS_ENABLED: True,
            CONF_GRID_POWER: "sensor.grid",
            CONF_PV_POWER: "sensor.pv",
            CONF_BATTERY_POWER: "sensor.battery",
            CONF_BATTERY_SOC: "sensor.battery_soc",
        }

    @pytest.mark.usefixtures("fast_ems_debounce")
    async def test_entities_write_only_changes(self, hass: HomeAssistant, onboard: Onboard) -> None:
        """A decision that changes nothing they show writes none of the energy manager's
        entities; one that does writes those that show it."""
        await async_setup_sources(
            hass, {"grid": POWER, "pv": POWER, "battery": POWER, "battery_soc": PERCENT}
        )
        async with onboard() as (sim, _entry):
            await set_sources(hass, grid=0, pv=0, battery=0, battery_soc=50)
            await hass.services.async_call(
                "select", "select_option", {"entity_id": MODE, "option": "solar"}, blocking=True
            )
            await sim.status("Charging")
            await sim.start_transaction()
            await wait_for(lambda: state_of(hass, REASON).state != "unknown", what="a decision")
            await hass.async_block_till_done()
            reason = state_of(hass, REASON)
            target = state_of(hass, TARGET)
            priority = state_of(hass, PRIORITY)
            writes = Writes(hass)

            # New site readings: a new decision (the surplus it shows changes), which still finds
            # no surplus: what did not change is not written again.
            await set_sources(hass, grid=10)
            await wait_for(lambda: writes.changed, seconds=2, what="a new decision")
            await hass.async_block_till_done()
            assert writes.reported == {}
            for before in (reason, target, priority):  # priority: a site entity
                if before.entity_id not in writes.changed:
                    assert state_of(hass, before.entity_id) is before
            assert PRIORITY not in writes.changed

            # A surplus: the target current changes and is written.
            await set_sources(hass, grid=-7000, pv=7000)
            await wait_for(lambda: state_of(hass, TARGET).state != target.state, what="target")
            assert writes.reported == {}
