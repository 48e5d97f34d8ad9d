"""Controls users expect: the availability switch (ChangeAvailability, state from the charger's
status), start / stop charging buttons, the active-phases sensor and the 1p/3p select (a manual
change that takes the charger over from the energy manager, which keeps its own choice meanwhile)."""

from __future__ import annotations

from typing import Any

import pytest
from homeassistant.const import Platform
from homeassistant.core import HomeAssistant, State
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import entity_registry as er
from pytest_homeassistant_custom_component.common import (  # type: ignore[import-untyped]
    MockConfigEntry,
)

from custom_components.ocpp_ems.const import CONF_GRID_POWER, CONF_PV_POWER, DOMAIN
from custom_components.ocpp_ems.core.current_control import LIVE_PROFILE_ID
from custom_components.ocpp_ems.core.ems import Mode
from custom_components.ocpp_ems.core.model import ControlledBy

from .helpers.charger import SimCharger, wait_for
from .helpers.ems import POWER, async_setup_sources, ems_server_options, set_sources
from .helpers.fixtures import Onboard, central_of
from .helpers.platform import only_platforms

SWITCHABLE = {"configuration": {"ConnectorSwitch3to1PhaseSupported": "true"}}


def entity_id(hass: HomeAssistant, platform: Platform, key: str) -> str | None:
    return er.async_get(hass).async_get_entity_id(platform, DOMAIN, f"CP1_{key}")


def state(hass: HomeAssistant, platform: Platform, key: str) -> State:
    found = entity_id(hass, platform, key)
    assert found is not None, key
    result = hass.states.get(found)
    assert result is not None
    return result


async def call(
    hass: HomeAssistant, platform: Platform, service: str, key: str, **data: Any
) -> None:
    target = entity_id(hass, platform, key)
    await hass.services.async_call(
        str(platform), service, {"entity_id": target, **data}, blocking=True
    )
    await hass.async_block_till_done()


def live_phases(sim: SimCharger) -> int | None:
    period = sim.profiles[LIVE_PROFILE_ID]["charging_schedule"]["charging_schedule_period"][0]
    phases: int | None = period.get("number_phases")
    return phases


async def test_availability_switch(hass: HomeAssistant, onboard: Onboard) -> None:
    with only_platforms(Platform.SWITCH):
        async with onboard() as (sim, _entry):
            assert state(hass, Platform.SWITCH, "availability").state == "on"
            await call(hass, Platform.SWITCH, "turn_off", "availability")
            assert sim.commands("ChangeAvailability") == [
                {"connector_id": 0, "type": "Inoperative"}
            ]
            # The state is the charger's: it changes once the charger reports it.
            assert state(hass, Platform.SWITCH, "availability").state == "on"
            await sim.status("Unavailable", connector_id=0)
            await hass.async_block_till_done()
            assert state(hass, Platform.SWITCH, "availability").state == "off"

            await call(hass, Platform.SWITCH, "turn_on", "availability")
            assert sim.commands("ChangeAvailability")[-1] == {
                "connector_id": 0,
                "type": "Operative",
            }
            await sim.status("Available", connector_id=0)
            await hass.async_block_till_done()
            assert state(hass, Platform.SWITCH, "availability").state == "on"

            # Every outlet out of service (a charger that reports no connector 0) is off too.
            await sim.status("Unavailable", connector_id=1)
            await hass.async_block_till_done()
            assert state(hass, Platform.SWITCH, "availability").state == "off"

            sim.statuses["ChangeAvailability"] = "Rejected"
            with pytest.raises(HomeAssistantError, match="Rejected"):
                await call(hass, Platform.SWITCH, "turn_on", "availability")


async def test_availability_switch_offline(
    hass: HomeAssistant, onboard: Onboard, server_entry: MockConfigEntry
) -> None:
    with only_platforms(Platform.SWITCH):
        async with onboard() as (_sim, _entry):
            pass
        model = central_of(server_entry).charger("CP1")
        await wait_for(lambda: not model.connected, what="disconnected")
        await hass.async_block_till_done()
        assert state(hass, Platform.SWITCH, "availability").state == "unavailable"
        switch = hass.data["entity_components"]["switch"].get_entity(
            entity_id(hass, Platform.SWITCH, "availability")
        )
        with pytest.raises(HomeAssistantError, match="not connected"):
            await switch.async_turn_off()


async def test_start_and_stop_buttons(hass: HomeAssistant, onboard: Onboard) -> None:
    with only_platforms(Platform.BUTTON):
        async with onboard() as (sim, _entry):
            await call(hass, Platform.BUTTON, "press", "start_charging")
            assert sim.commands("RemoteStartTransaction") == [
                {"id_tag": "HomeAssistant", "connector_id": 1}
            ]
            with pytest.raises(ServiceValidationError) as err:
                await call(hass, Platform.BUTTON, "press", "stop_charging")
            assert err.value.translation_key == "no_transaction"

            transaction_id = await sim.start_transaction()
            await hass.async_block_till_done()
            await call(hass, Platform.BUTTON, "press", "stop_charging")
            assert sim.commands("RemoteStopTransaction") == [{"transaction_id": transaction_id}]

            sim.statuses["RemoteStartTransaction"] = "Rejected"
            with pytest.raises(HomeAssistantError, match="Rejected"):
                await call(hass, Platform.BUTTON, "press", "start_charging")


async def test_active_phases(hass: HomeAssistant, onboard: Onboard) -> None:
    with only_platforms(Platform.SENSOR):
        async with onboard() as (sim, _entry):
            assert state(hass, Platform.SENSOR, "active_phases").state == "unknown"
            await sim.status("Charging")
            await sim.start_transaction()
            await sim.meter_values(current_a=(16.0, 15.8, 0.2))
            await hass.async_block_till_done()
            assert state(hass, Platform.SENSOR, "active_phases").state == "2"
            await sim.meter_values(current_a=(16.0, 0.0, 0.0))
            await hass.async_block_till_done()
            assert state(hass, Platform.SENSOR, "active_phases").state == "1"
            await sim.stop_transaction()
            await sim.status("Available")
            await hass.async_block_till_done()
            assert state(hass, Platform.SENSOR, "active_phases").state == "0"


async def test_no_phase_select_without_switching(hass: HomeAssistant, onboard: Onboard) -> None:
    with only_platforms(Platform.SELECT):
        async with onboard() as (_sim, _entry):
            assert entity_id(hass, Platform.SELECT, "phases") is None


async def test_phase_select(hass: HomeAssistant, onboard: Onboard) -> None:
    with only_platforms(Platform.SELECT, Platform.NUMBER):
        async with onboard(**SWITCHABLE) as (sim, _entry):
            await hass.async_block_till_done()
            assert state(hass, Platform.SELECT, "phases").state == "3"
            assert live_phases(sim) is None  # the supply's phases: none sent
            await call(hass, Platform.SELECT, "select_option", "phases", option="1")
            assert state(hass, Platform.SELECT, "phases").state == "1"
            assert live_phases(sim) == 1
            # A manual current change keeps the manual phase choice.
            await call(hass, Platform.NUMBER, "set_value", "current_limit", value=10)
            assert live_phases(sim) == 1
            await call(hass, Platform.SELECT, "select_option", "phases", option="3")
            assert live_phases(sim) == 3
            period = sim.profiles[LIVE_PROFILE_ID]["charging_schedule"]
            assert period["charging_schedule_period"][0]["limit"] == 10.0


@pytest.mark.parametrize(
    "server_options",
    [ems_server_options(**{CONF_GRID_POWER: "sensor.grid", CONF_PV_POWER: "sensor.pv"})],
)
@pytest.mark.usefixtures("fast_ems_debounce")
async def test_phase_select_takes_over_from_the_energy_manager(
    hass: HomeAssistant, onboard: Onboard, server_entry: MockConfigEntry
) -> None:
    await async_setup_sources(hass, {"grid": POWER, "pv": POWER})
    await set_sources(hass, grid=-5000, pv=6000)
    with only_platforms(Platform.SELECT):
        async with onboard(**SWITCHABLE) as (sim, _entry):
            await hass.async_block_till_done()
            model = central_of(server_entry).charger("CP1")
            ems = server_entry.runtime_data.ems
            await wait_for(
                lambda: model.limit.controlled_by is ControlledBy.ENERGY_MANAGER,
                what="energy manager in control",
            )
            assert ems.charger_view("CP1").mode is not Mode.MANUAL
            await call(hass, Platform.SELECT, "select_option", "phases", option="1")
            assert model.limit.controlled_by is ControlledBy.MANUAL
            assert ems.charger_view("CP1").mode is Mode.MANUAL
            assert live_phases(sim) == 1
            assert state(hass, Platform.SELECT, "phases").state == "1"
