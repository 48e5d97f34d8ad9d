"""The energy manager's entities: a snapshot of a charger's (mode, numbers, departure, sensors) and of
the server's site numbers and sensors; the site numbers and sensors, the reason's countdown, the
available PV power input and the vehicle SoC sensor at work in a real Home Assistant with a simulated
charger over real websockets."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import voluptuous as vol
import yaml
from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import STATE_UNAVAILABLE, STATE_UNKNOWN, Platform
from homeassistant.core import HomeAssistant, State
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers import entity_registry as er
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.common import (  # type: ignore[import-untyped]
    MockConfigEntry,
)
from syrupy.assertion import SnapshotAssertion
from syrupy.filters import props

from custom_components.ocpp_ems.const import (
    CONF_BATTERY_ASSIST,
    CONF_BATTERY_FLOOR_SOC,
    CONF_BATTERY_POWER,
    CONF_BATTERY_PRIORITY_SOC,
    CONF_BATTERY_SOC,
    CONF_EMS_ENABLED,
    CONF_GRID_POWER,
    CONF_MIN_WRITE_INTERVAL,
    CONF_PRICE,
    CONF_PV_AVAILABLE_POWER,
    CONF_PV_POWER,
    CONF_RESPONSE_TIMEOUT,
    CONF_VEHICLE_SOC,
    DOMAIN,
)
from custom_components.ocpp_ems.core.ems.options import CHEAP_GRID_PRICE
from custom_components.ocpp_ems.number import EMS_NUMBERS
from custom_components.ocpp_ems.select import CHARGE_MODE
from custom_components.ocpp_ems.sensor import EMS_SENSORS, MOVED_TO_SITE
from custom_components.ocpp_ems.server_sensor import SITE_SENSORS
from custom_components.ocpp_ems.time import DEPARTURE

from .helpers.charger import SimCharger, wait_for
from .helpers.ems import (
    PERCENT,
    POWER,
    async_set_charger_options,
    async_setup_sources,
    set_sources,
)
from .helpers.fixtures import Onboard
from .helpers.platform import device_id, only_platforms

INTEGRATION = Path(__file__).resolve().parent.parent / "custom_components" / DOMAIN
PREFIX = "acme_wallbox_1"
MODE = f"select.{PREFIX}_charge_mode"
REASON = f"sensor.{PREFIX}_energy_manager_reason"
NEXT_CHANGE = f"sensor.{PREFIX}_next_change"
TARGET_ENERGY = f"number.{PREFIX}_target_energy"
CHARGING_PRIORITY = f"number.{PREFIX}_charging_priority"
VEHICLE_CAPACITY = f"number.{PREFIX}_vehicle_battery_capacity"
DEPARTURE_TIME = f"time.{PREFIX}_departure_time"
PRIORITY = "number.ocpp_server_port_0_battery_priority_state_of_charge"
FLOOR = "number.ocpp_server_port_0_battery_floor_state_of_charge"
CHEAP = "number.ocpp_server_port_0_charge_from_the_grid_at_or_below"
SITE = "sensor.ocpp_server_port_0"
EMS_STATE = f"{SITE}_energy_manager"
EMS_KEYS = {
    CHARGE_MODE.key,
    DEPARTURE.key,
    *(description.key for description in EMS_NUMBERS),
    *(description.key for description in EMS_SENSORS),
}


pytestmark = pytest.mark.usefixtures("fast_ems_debounce")


@pytest.fixture
def server_options() -> dict[str, Any]:
    return {
        CONF_RESPONSE_TIMEOUT: 3,
        CONF_EMS_ENABLED: True,
        CONF_GRID_POWER: "sensor.grid",
        CONF_PV_POWER: "sensor.pv",
        CONF_PV_AVAILABLE_POWER: "sensor.pv_available",
        CONF_BATTERY_POWER: "sensor.battery",
        CONF_BATTERY_SOC: "sensor.battery_soc",
        CONF_MIN_WRITE_INTERVAL: 2,
    }


@pytest.fixture
async def sources(hass: HomeAssistant) -> None:
    await async_setup_sources(
        hass,
        {
            "grid": POWER,
            "pv": POWER,
            "pv_available": POWER,
            "battery": POWER,
            "battery_soc": PERCENT,
            "vehicle_soc": PERCENT,
        },
    )


def state_of(hass: HomeAssistant, entity_id: str) -> State:
    state = hass.states.get(entity_id)
    assert state is not None, entity_id
    return state


async def call(hass: HomeAssistant, domain: str, service: str, data: dict[str, Any]) -> None:
    await hass.services.async_call(domain, service, data, blocking=True)
    await hass.async_block_till_done()


async def plug_in_and_charge(sim: SimCharger) -> None:
    await sim.status("Preparing")
    await sim.start_transaction()
    await sim.status("Charging")


@pytest.mark.usefixtures("sources")
async def test_snapshot(
    hass: HomeAssistant,
    onboard: Onboard,
    server_entry: MockConfigEntry,
    entity_registry: er.EntityRegistry,
    device_registry: dr.DeviceRegistry,
    snapshot: SnapshotAssertion,
) -> None:
    # A plugged-in car, no sun: the charger waits for surplus (a steady state to snapshot).
    await set_sources(hass, battery_soc=80)
    # A price sensor picked (its site sensor: not cheap now, no cheap price set).
    hass.states.async_set("sensor.price", "0.30", {"unit_of_measurement": "EUR/kWh"})
    hass.config_entries.async_update_entry(
        server_entry, options={**server_entry.options, CONF_PRICE: "sensor.price"}
    )
    with only_platforms(Platform.NUMBER, Platform.SELECT, Platform.SENSOR, Platform.TIME):
        async with onboard() as (sim, entry):
            await plug_in_and_charge(sim)
            await wait_for(
                lambda: state_of(hass, REASON).state == "waiting_for_surplus", what="no surplus"
            )
            await call(hass, "number", "set_value", {"entity_id": TARGET_ENERGY, "value": 10})
            await call(hass, "time", "set_value", {"entity_id": DEPARTURE_TIME, "time": "07:30"})
            assert state_of(hass, REASON).state == "waiting_for_surplus"

            ems_entries = sorted(
                (
                    registry_entry
                    for registry_entry in er.async_entries_for_config_entry(
                        entity_registry, entry.entry_id
                    )
                    if registry_entry.unique_id.removeprefix("CP1_") in EMS_KEYS
                ),
                key=lambda registry_entry: registry_entry.entity_id,
            )
            assert len(ems_entries) == len(EMS_KEYS)
            for registry_entry in ems_entries:
                assert registry_entry == snapshot(name=f"{registry_entry.entity_id}-entry")
                state = state_of(hass, registry_entry.entity_id)
                assert state == snapshot(name=f"{registry_entry.entity_id}-state")

            # No site value on the charger's device.
            charger_keys = {
                registry_entry.unique_id.removeprefix("CP1_")
                for registry_entry in er.async_entries_for_config_entry(
                    entity_registry, entry.entry_id
                )
            }
            assert not charger_keys & {d.key for d in SITE_SENSORS}

            # The site numbers and sensors are on the server's own device (unique id: the entry
            # id, random in tests, so checked apart).
            site_entries = [
                e
                for e in er.async_entries_for_config_entry(entity_registry, server_entry.entry_id)
                # (the last refused connection is tested in test_init)
                if not e.unique_id.endswith("_last_refused_connection")
            ]
            assert {e.unique_id for e in site_entries} == {
                f"{server_entry.entry_id}_battery_priority_soc",
                f"{server_entry.entry_id}_battery_floor_soc",
                f"{server_entry.entry_id}_cheap_grid_price",
                *(f"{server_entry.entry_id}_{d.key}" for d in SITE_SENSORS),
            }
            for registry_entry in sorted(site_entries, key=lambda e: e.entity_id):
                assert registry_entry == snapshot(
                    name=f"{registry_entry.entity_id}-entry", exclude=props("unique_id")
                )
                state = state_of(hass, registry_entry.entity_id)
                assert state == snapshot(name=f"{registry_entry.entity_id}-state")
            server_device = device_registry.async_get_device_by_identifier(
                (DOMAIN, f"server_{server_entry.entry_id}"), server_entry.entry_id
            )
            assert server_device is not None
            assert server_device.name == server_entry.title
            assert {e.device_id for e in site_entries} == {server_device.id}


@pytest.mark.usefixtures("sources")
async def test_charging_priority_number_drives_the_controller(
    hass: HomeAssistant, onboard: Onboard, server_entry: MockConfigEntry
) -> None:
    async with onboard() as (_sim, entry):
        charger_id = entry.runtime_data.coordinator.charger_id
        ems = server_entry.runtime_data.ems
        assert state_of(hass, CHARGING_PRIORITY).state == "0"
        await call(hass, "number", "set_value", {"entity_id": CHARGING_PRIORITY, "value": 3})
        assert ems.settings(charger_id).priority == 3
        assert state_of(hass, CHARGING_PRIORITY).state == "3"
        # The controller's bounds (0-10) are the entity's.
        with pytest.raises(ServiceValidationError):
            await call(hass, "number", "set_value", {"entity_id": CHARGING_PRIORITY, "value": 11})
        assert ems.settings(charger_id).priority == 3
    # Kept across a restart of the server entry (the charger's stored settings).
    assert await hass.config_entries.async_reload(server_entry.entry_id)
    await hass.async_block_till_done()
    assert server_entry.runtime_data.ems.settings(charger_id).priority == 3


@pytest.mark.usefixtures("sources")
async def test_vehicle_capacity_number_drives_the_controller(
    hass: HomeAssistant, onboard: Onboard, server_entry: MockConfigEntry
) -> None:
    async with onboard() as (_sim, entry):
        charger_id = entry.runtime_data.coordinator.charger_id
        ems = server_entry.runtime_data.ems
        assert state_of(hass, VEHICLE_CAPACITY).state == "0.0"  # not set
        assert ems.settings(charger_id).vehicle_capacity_wh is None
        await call(hass, "number", "set_value", {"entity_id": VEHICLE_CAPACITY, "value": 58.4})
        assert ems.settings(charger_id).vehicle_capacity_wh == pytest.approx(58400.0)
        assert state_of(hass, VEHICLE_CAPACITY).state == "58.4"
    # Kept across a restart of the server entry (the charger's stored settings)...
    assert await hass.config_entries.async_reload(server_entry.entry_id)
    await hass.async_block_till_done()
    ems = server_entry.runtime_data.ems
    assert ems.settings(charger_id).vehicle_capacity_wh == pytest.approx(58400.0)
    assert ems.charger_view(charger_id).vehicle_capacity_kwh == 58.4
    # ...and 0 sets it back to unknown (a SoC plan then asks for it).
    await call(hass, "number", "set_value", {"entity_id": VEHICLE_CAPACITY, "value": 0})
    assert ems.charger_view(charger_id).known_vehicle_capacity_kwh is None
    assert ems.settings(charger_id).vehicle_capacity_wh is None
    assert state_of(hass, VEHICLE_CAPACITY).state == "0.0"
    with pytest.raises(ServiceValidationError) as err:
        await call(
            hass,
            DOMAIN,
            "plan_charge",
            {
                "device_id": device_id(hass, entry),
                "target_soc": 80,
                "departure": dt_util.utcnow() + timedelta(hours=1),
            },
        )
    assert err.value.translation_key == "vehicle_capacity_missing"


@pytest.mark.usefixtures("sources")
async def test_battery_priority_number_drives_the_controller(
    hass: HomeAssistant, onboard: Onboard, server_entry: MockConfigEntry
) -> None:
    # The home battery takes 5 kW of PV at 60 %: below the priority SoC (100 %) it comes first.
    await set_sources(hass, grid=0, pv=5000, battery=-5000, battery_soc=60)
    ems = server_entry.runtime_data.ems
    async with onboard() as (sim, _entry):
        await plug_in_and_charge(sim)
        await wait_for(
            lambda: state_of(hass, REASON).state in ("battery_first", "waiting_for_surplus"),
            what="battery first",
        )
        await wait_for(lambda: sim.live_limit() == 0.0, what="paused")
        assert state_of(hass, PRIORITY).state == "100.0"

        # Car first from 50 %: the battery's charging power is surplus for the car, at once.
        await call(hass, "number", "set_value", {"entity_id": PRIORITY, "value": 50})
        assert ems.site.battery.priority_soc == 50.0
        await wait_for(
            lambda: sim.live_limit() == pytest.approx(5000 / 690, abs=0.15), what="car first"
        )
        # Stored in the options, where the options step edits the same value.
        assert server_entry.options[CONF_BATTERY_PRIORITY_SOC] == 50
        assert state_of(hass, PRIORITY).state == "50.0"

        await call(hass, "number", "set_value", {"entity_id": FLOOR, "value": 30})
        assert ems.site.battery.floor_soc == 30.0
        assert server_entry.options[CONF_BATTERY_FLOOR_SOC] == 30

    # Kept across a restart of the server entry.
    assert await hass.config_entries.async_reload(server_entry.entry_id)
    await hass.async_block_till_done()
    assert state_of(hass, PRIORITY).state == "50.0"
    assert state_of(hass, FLOOR).state == "30.0"
    assert server_entry.runtime_data.ems.site.battery.priority_soc == 50.0


async def test_cheap_grid_price_number(hass: HomeAssistant, server_entry: MockConfigEntry) -> None:
    """Unset: unknown; set from the number (negative too: the grid pays), it reaches the
    controller and the options, in the currency per kWh; the options step shows it back."""
    state = state_of(hass, CHEAP)
    assert state.state == STATE_UNKNOWN
    assert state.attributes["unit_of_measurement"] == "EUR/kWh"
    assert (state.attributes["min"], state.attributes["max"]) == (-10, 100)
    ems = server_entry.runtime_data.ems
    await call(hass, "number", "set_value", {"entity_id": CHEAP, "value": -0.025})
    assert ems.site.cheap_price == -0.025
    assert server_entry.options[CHEAP_GRID_PRICE.key] == -0.025
    assert state_of(hass, CHEAP).state == "-0.025"
    hass.config_entries.async_update_entry(
        server_entry, options=server_entry.options | {CHEAP_GRID_PRICE.key: 0.1}
    )
    await hass.async_block_till_done()
    assert state_of(hass, CHEAP).state == "0.1"
    assert ems.site.cheap_price == 0.1
    # A stored value that is no number reads as the row's default (as the controller reads it).
    hass.config_entries.async_update_entry(
        server_entry, options=server_entry.options | {CONF_BATTERY_FLOOR_SOC: "half"}
    )
    await hass.async_block_till_done()
    assert state_of(hass, FLOOR).state == "50.0"
    assert ems.site.battery.floor_soc == 50.0


async def test_set_cheap_grid_price_action(
    hass: HomeAssistant, server_entry: MockConfigEntry
) -> None:
    """The action sets the price (the number shows it) and, without a price, clears it: what
    the number cannot do. Out of the row's bounds or for no server entry: a clear error."""
    ems = server_entry.runtime_data.ems
    await call(hass, DOMAIN, "set_cheap_grid_price", {"price": "0.05"})
    assert ems.site.cheap_price == 0.05
    assert state_of(hass, CHEAP).state == "0.05"
    await call(
        hass,
        DOMAIN,
        "set_cheap_grid_price",
        {"config_entry_id": server_entry.entry_id, "price": None},
    )
    assert ems.site.cheap_price is None
    assert server_entry.options.get(CHEAP_GRID_PRICE.key) is None
    assert state_of(hass, CHEAP).state == STATE_UNKNOWN
    await call(hass, DOMAIN, "set_cheap_grid_price", {"price": -0.2})
    await call(hass, DOMAIN, "set_cheap_grid_price", {})
    assert ems.site.cheap_price is None

    with pytest.raises(vol.Invalid):
        await call(hass, DOMAIN, "set_cheap_grid_price", {"price": -11})
    with pytest.raises(ServiceValidationError) as raised:
        await call(hass, DOMAIN, "set_cheap_grid_price", {"config_entry_id": "nope", "price": 0})
    assert raised.value.translation_key == "no_server"
    assert ems.site.cheap_price is None


async def test_set_cheap_grid_price_on_a_charger_entry_acts_on_its_server(
    hass: HomeAssistant, onboard: Onboard, server_entry: MockConfigEntry
) -> None:
    """The action's entry selector offers every entry of the integration: a charger's entry
    was answered "No OCPP server is loaded"; it means its server."""
    async with onboard() as (_sim, entry):
        await call(
            hass, DOMAIN, "set_cheap_grid_price", {"config_entry_id": entry.entry_id, "price": 0.05}
        )
    assert server_entry.runtime_data.ems.site.cheap_price == 0.05


def test_cheap_grid_price_selector_is_the_options_row() -> None:
    """services.yaml cannot import the options table: the action's selector is checked against
    the row that the action's schema, the number and the options form take their bounds from."""
    services = yaml.safe_load((INTEGRATION / "services.yaml").read_text())
    selector = services["set_cheap_grid_price"]["fields"]["price"]["selector"]["number"]
    row = CHEAP_GRID_PRICE
    assert (selector["min"], selector["max"], selector["step"]) == (
        row.minimum,
        row.maximum,
        row.step,
    )


async def test_site_numbers_follow_the_options(
    hass: HomeAssistant, server_entry: MockConfigEntry
) -> None:
    # An options change (the options step) shows in the numbers.
    hass.config_entries.async_update_entry(
        server_entry,
        options=server_entry.options | {CONF_BATTERY_FLOOR_SOC: 20, CONF_BATTERY_ASSIST: True},
    )
    await hass.async_block_till_done()
    assert state_of(hass, FLOOR).state == "20.0"
    assert server_entry.runtime_data.ems.site.battery.floor_soc == 20.0

    # Energy manager off: unavailable (and not created at all at the next start).
    hass.config_entries.async_update_entry(
        server_entry, options=server_entry.options | {CONF_EMS_ENABLED: False}
    )
    await hass.async_block_till_done()
    assert state_of(hass, FLOOR).state == STATE_UNAVAILABLE
    assert await hass.config_entries.async_reload(server_entry.entry_id)
    await hass.async_block_till_done()
    assert server_entry.state is ConfigEntryState.LOADED
    assert hass.states.get(FLOOR) is None or state_of(hass, FLOOR).state == STATE_UNAVAILABLE


@pytest.mark.parametrize("server_options", [{CONF_RESPONSE_TIMEOUT: 3}])
async def test_site_numbers_appear_when_enabled(
    hass: HomeAssistant, server_entry: MockConfigEntry
) -> None:
    assert hass.states.get(PRIORITY) is None
    hass.config_entries.async_update_entry(
        server_entry, options=server_entry.options | {CONF_EMS_ENABLED: True}
    )
    await hass.async_block_till_done()
    assert state_of(hass, PRIORITY).state == "100.0"
    assert state_of(hass, FLOOR).state == "50.0"


@pytest.mark.usefixtures("sources")
async def test_available_pv_power_counts_curtailed_pv(
    hass: HomeAssistant, onboard: Onboard
) -> None:
    # A zero-export inverter: nothing exported, 2 kW produced, 7 kW possible. No battery reading.
    await set_sources(hass, grid=0, pv=2000, pv_available=7000, battery=0, battery_soc=100)
    async with onboard() as (sim, _entry):
        await plug_in_and_charge(sim)
        # (Not just "above 6 A": until the manager's first decision the charger holds the
        # installation maximum it was given when it connected.)
        await wait_for(
            lambda: sim.live_limit() == pytest.approx(5000 / 690, abs=0.15),
            what="start on curtailed PV",
        )


@pytest.mark.usefixtures("sources")
async def test_vehicle_soc_sensor_for_a_charger_without_soc(
    hass: HomeAssistant, onboard: Onboard, server_entry: MockConfigEntry
) -> None:
    await set_sources(hass, vehicle_soc=40, battery_soc=100)
    ems = server_entry.runtime_data.ems
    async with onboard() as (sim, entry):
        device = device_id(hass, entry)
        assert ems.vehicle_soc("CP1") is None
        assert ems.vehicle_soc("unknown") is None

        # The charger's options name the car's SoC sensor.
        await async_set_charger_options(hass, entry, **{CONF_VEHICLE_SOC: "sensor.vehicle_soc"})
        assert ems.vehicle_soc("CP1") == 40.0

        # A SoC plan (20 kWh missing, 1 h left: more than 22 kW can give): charging at once.
        await plug_in_and_charge(sim)
        departure = dt_util.utcnow() + timedelta(hours=1)
        await call(
            hass,
            DOMAIN,
            "plan_charge",
            {
                "device_id": device,
                "target_soc": 80,
                "vehicle_capacity_kwh": 50,
                "departure": departure,
            },
        )
        plan = ems.settings("CP1").plan
        assert plan is not None
        assert plan.soc == 80.0
        await wait_for(lambda: sim.live_limit() == 32.0, what="plan charging")

        assert state_of(hass, REASON).state == "planned_slot"

        # The car's sensor reaches the target: the plan is done (only solar surplus from now).
        # (The car draws its 32 A from the grid: no surplus.)
        await set_sources(hass, vehicle_soc=80, grid=22080)
        await wait_for(lambda: sim.live_limit() == 0.0, what="paused at the target")
        assert state_of(hass, REASON).state == "target_reached"

        # A SoC the charger reports wins over the sensor.
        await sim.meter_values(soc=55)
        await hass.async_block_till_done()
        assert ems.vehicle_soc("CP1") == 55.0


@pytest.mark.usefixtures("sources")
async def test_reason_says_until_when_and_next_change_counts_down(
    hass: HomeAssistant, onboard: Onboard
) -> None:
    await set_sources(hass, grid=-5000, pv=6000, battery_soc=100)
    async with onboard() as (sim, _entry):
        await plug_in_and_charge(sim)
        await wait_for(lambda: state_of(hass, REASON).state == "solar", what="solar start")
        assert state_of(hass, REASON).attributes["until"] is None
        assert state_of(hass, NEXT_CHANGE).state == "unknown"

        # A cloud: 1 kW import beside the car, less than its minimum. It holds 6 A and says when
        # it stops (the stop delay, 180 s) unless the surplus returns.
        await set_sources(hass, grid=1000)
        await wait_for(lambda: state_of(hass, REASON).state == "stopping", what="stopping")
        until = dt_util.parse_datetime(state_of(hass, REASON).attributes["until"])
        assert until is not None
        assert (until - dt_util.utcnow()).total_seconds() == pytest.approx(180, abs=10)
        # The timestamp sensor shows the same moment, for a card's countdown.
        assert dt_util.parse_datetime(state_of(hass, NEXT_CHANGE).state) == until

        # The sun is back: charging from solar again, no end.
        await set_sources(hass, grid=-3000)
        await wait_for(lambda: state_of(hass, REASON).state == "solar", what="solar again")
        assert state_of(hass, REASON).attributes["until"] is None
        assert state_of(hass, NEXT_CHANGE).state == "unknown"


@pytest.mark.usefixtures("sources")
async def test_site_sensors_show_what_the_manager_saw(
    hass: HomeAssistant, onboard: Onboard, server_entry: MockConfigEntry
) -> None:
    await set_sources(hass, grid=-2000, pv=3000, battery=-500, battery_soc=60)
    async with onboard() as (sim, _entry):
        await plug_in_and_charge(sim)
        await wait_for(
            lambda: state_of(hass, REASON).state == "waiting_for_surplus", what="decision"
        )
        assert state_of(hass, f"{SITE}_grid").state == "-2000.0"
        assert state_of(hass, f"{SITE}_solar_production").state == "3000.0"
        assert state_of(hass, f"{SITE}_home_battery").state == "-500.0"
        assert state_of(hass, f"{SITE}_home_battery_state_of_charge").state == "60.0"
        # Battery first (60 % < 100 %): the export, not the battery's charge; the car is paused.
        assert state_of(hass, f"{SITE}_available_surplus").state == "2000.0"
        assert state_of(hass, f"{SITE}_charging_power_all_chargers").state == "0.0"
        state = state_of(hass, EMS_STATE)
        assert state.state == "running"
        assert state.attributes["stale_inputs"] == []
        # What the chargers' meters report, all chargers together.
        await sim.meter_values(power_w=1500)
        await wait_for(
            lambda: state_of(hass, f"{SITE}_charging_power_all_chargers").state == "1500.0",
            what="charging power",
        )

    # Off in the options: the manager says so, its values are unavailable.
    hass.config_entries.async_update_entry(
        server_entry, options=server_entry.options | {CONF_EMS_ENABLED: False}
    )
    await hass.async_block_till_done()
    assert state_of(hass, EMS_STATE).state == "off"
    assert state_of(hass, f"{SITE}_grid").state == STATE_UNAVAILABLE
    assert state_of(hass, f"{SITE}_available_surplus").state == STATE_UNAVAILABLE


@pytest.mark.parametrize("server_options", [{CONF_RESPONSE_TIMEOUT: 3}])
async def test_site_sensors_appear_with_their_inputs(
    hass: HomeAssistant, server_entry: MockConfigEntry
) -> None:
    assert hass.states.get(EMS_STATE) is None
    # Enabled with a grid meter only: no decision yet (no charger), no PV or battery sensor.
    hass.config_entries.async_update_entry(
        server_entry,
        options=server_entry.options | {CONF_EMS_ENABLED: True, CONF_GRID_POWER: "sensor.grid"},
    )
    await hass.async_block_till_done()
    assert state_of(hass, EMS_STATE).state == "idle"
    assert state_of(hass, f"{SITE}_grid").state == "unknown"
    assert hass.states.get(f"{SITE}_solar_production") is None
    # A PV sensor picked later: its site sensor comes with it.
    hass.config_entries.async_update_entry(
        server_entry, options=server_entry.options | {CONF_PV_POWER: "sensor.pv"}
    )
    await hass.async_block_till_done()
    assert state_of(hass, f"{SITE}_solar_production").state == "unknown"


@pytest.mark.usefixtures("sources")
async def test_site_values_once_on_a_charger_leave_no_orphans(
    hass: HomeAssistant, onboard: Onboard, entity_registry: er.EntityRegistry
) -> None:
    # The available surplus was a sensor of every charger before it moved to the server.
    for key in MOVED_TO_SITE:
        entity_registry.async_get_or_create(
            "sensor", DOMAIN, f"CP1_{key}", suggested_object_id=f"{PREFIX}_{key}"
        )
    async with onboard():
        for key in MOVED_TO_SITE:
            assert entity_registry.async_get_entity_id("sensor", DOMAIN, f"CP1_{key}") is None
        assert hass.states.get(f"sensor.{PREFIX}_available_surplus") is None
