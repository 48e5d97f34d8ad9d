"""The current limit number."""

from __future__ import annotations

import pytest
from homeassistant.components.number import ATTR_VALUE, SERVICE_SET_VALUE
from homeassistant.components.number import DOMAIN as NUMBER_DOMAIN
from homeassistant.const import ATTR_ENTITY_ID, Platform
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import entity_registry as er
from pytest_homeassistant_custom_component.common import snapshot_platform
from syrupy.assertion import SnapshotAssertion

from custom_components.ocpp_ems.const import (
    CONF_INSTALLATION_MAX,
    CONF_RATE_UNIT,
    CONF_RESPONSE_TIMEOUT,
    CONF_VOLTAGE,
)
from custom_components.ocpp_ems.core.current_control import LIVE_PROFILE_ID

from .helpers.charger import wait_for
from .helpers.fixtures import Onboard
from .helpers.platform import only_platforms

ENTITY = "number.acme_wallbox_1_current_limit"


async def set_limit(hass: HomeAssistant, value: float) -> None:
    await hass.services.async_call(
        NUMBER_DOMAIN, SERVICE_SET_VALUE, {ATTR_ENTITY_ID: ENTITY, ATTR_VALUE: value}, blocking=True
    )


async def test_number(
    hass: HomeAssistant,
    onboard: Onboard,
    entity_registry: er.EntityRegistry,
    snapshot: SnapshotAssertion,
) -> None:
    with only_platforms(Platform.NUMBER):
        async with onboard() as (_sim, entry):
            await snapshot_platform(hass, entity_registry, snapshot, entry.entry_id)


async def test_set_limit(hass: HomeAssistant, onboard: Onboard) -> None:
    with only_platforms(Platform.NUMBER):
        async with onboard() as (sim, _entry):
            assert hass.states.get(ENTITY).state == "32.0"  # no limit: the installation maximum
            await set_limit(hass, 13.3)
            period = sim.profiles[LIVE_PROFILE_ID]["charging_schedule"]["charging_schedule_period"]
            assert float(period[0]["limit"]) == 13.3
            assert hass.states.get(ENTITY).state == "13.3"


async def test_set_limit_rejected(hass: HomeAssistant, onboard: Onboard) -> None:
    with only_platforms(Platform.NUMBER):
        async with onboard() as (sim, _entry):
            sim.statuses["SetChargingProfile"] = "Rejected"
            with pytest.raises(HomeAssistantError) as err:
                await set_limit(hass, 10)
            assert err.value.translation_key == "command_rejected"
            assert err.value.translation_placeholders is not None
            assert err.value.translation_placeholders["action"] == "SetChargingProfile"


# A charger that takes limits in A and in W (a preferred W is used only where it takes W).
BOTH_UNITS = {"configuration": {"ChargingScheduleAllowedChargingRateUnit": "Current,Power"}}


async def test_bounds_and_step_follow_options(hass: HomeAssistant, onboard: Onboard) -> None:
    with only_platforms(Platform.NUMBER):
        async with onboard(**BOTH_UNITS) as (sim, entry):
            state = hass.states.get(ENTITY)
            assert state.attributes["min"] == 6.0
            assert state.attributes["max"] == 32.0
            assert state.attributes["step"] == 0.1

            hass.config_entries.async_update_entry(
                entry, options={CONF_INSTALLATION_MAX: 16.0, CONF_RATE_UNIT: "W"}
            )
            await hass.async_block_till_done()
            # The new hard cap reached the charger at once (in W now: 16 A * 230 V * 3).
            max_profile = sim.profiles[1]["charging_schedule"]["charging_schedule_period"][0]
            assert float(max_profile["limit"]) == 11040
            await wait_for(lambda: hass.states.get(ENTITY).state != "unavailable")
            state = hass.states.get(ENTITY)
            assert state.attributes["max"] == 16.0
            assert state.attributes["step"] == 1.0
            assert state.state == "16.0"


@pytest.mark.parametrize("server_options", [{CONF_RESPONSE_TIMEOUT: 3, CONF_VOLTAGE: 240}])
async def test_watts_use_the_servers_site_voltage(hass: HomeAssistant, onboard: Onboard) -> None:
    """One voltage: the server's (the energy manager's nominal voltage option), even with the
    energy manager off; chargers have none of their own."""
    with only_platforms(Platform.NUMBER):
        async with onboard(**BOTH_UNITS) as (sim, entry):
            hass.config_entries.async_update_entry(entry, options={CONF_RATE_UNIT: "W"})
            await hass.async_block_till_done()
            live = sim.profiles[LIVE_PROFILE_ID]["charging_schedule"]
            assert live["charging_rate_unit"] == "W"
            assert float(live["charging_schedule_period"][0]["limit"]) == 32 * 240 * 3
            await wait_for(lambda: hass.states.get(ENTITY).state != "unavailable")
            await set_limit(hass, 10)
            period = sim.profiles[LIVE_PROFILE_ID]["charging_schedule"]["charging_schedule_period"]
            assert float(period[0]["limit"]) == 10 * 240 * 3
