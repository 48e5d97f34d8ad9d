"""The charging switch: pause and resume."""

from __future__ import annotations

import pytest
from homeassistant.components.switch import DOMAIN as SWITCH_DOMAIN
from homeassistant.const import ATTR_ENTITY_ID, SERVICE_TURN_OFF, SERVICE_TURN_ON, Platform
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import entity_registry as er
from pytest_homeassistant_custom_component.common import snapshot_platform
from syrupy.assertion import SnapshotAssertion

from custom_components.ocpp_ems.const import CONF_PAUSE_STRATEGY
from custom_components.ocpp_ems.core.current_control import LIVE_PROFILE_ID

from .helpers.charger import SimCharger
from .helpers.fixtures import Onboard
from .helpers.platform import only_platforms

ENTITY = "switch.acme_wallbox_1_charging_enabled"


def live_limit(sim: SimCharger) -> float:
    period = sim.profiles[LIVE_PROFILE_ID]["charging_schedule"]["charging_schedule_period"]
    return float(period[0]["limit"])


async def test_switch(
    hass: HomeAssistant,
    onboard: Onboard,
    entity_registry: er.EntityRegistry,
    snapshot: SnapshotAssertion,
) -> None:
    with only_platforms(Platform.SWITCH):
        async with onboard() as (_sim, entry):
            await snapshot_platform(hass, entity_registry, snapshot, entry.entry_id)


async def test_pause_with_zero_limit(hass: HomeAssistant, onboard: Onboard) -> None:
    with only_platforms(Platform.SWITCH):
        async with onboard() as (sim, _entry):
            await hass.services.async_call(
                SWITCH_DOMAIN, SERVICE_TURN_OFF, {ATTR_ENTITY_ID: ENTITY}, blocking=True
            )
            assert hass.states.get(ENTITY).state == "off"
            assert live_limit(sim) == 0.0
            await hass.services.async_call(
                SWITCH_DOMAIN, SERVICE_TURN_ON, {ATTR_ENTITY_ID: ENTITY}, blocking=True
            )
            assert hass.states.get(ENTITY).state == "on"
            assert live_limit(sim) == 32.0


async def test_pause_with_stop_and_start(hass: HomeAssistant, onboard: Onboard) -> None:
    with only_platforms(Platform.SWITCH):
        async with onboard() as (sim, entry):
            hass.config_entries.async_update_entry(
                entry, options={CONF_PAUSE_STRATEGY: "remote_stop_start"}
            )
            transaction_id = await sim.start_transaction("HomeAssistant")
            await hass.services.async_call(
                SWITCH_DOMAIN, SERVICE_TURN_OFF, {ATTR_ENTITY_ID: ENTITY}, blocking=True
            )
            assert sim.commands("RemoteStopTransaction") == [{"transaction_id": transaction_id}]
            await sim.stop_transaction("Remote")
            await hass.services.async_call(
                SWITCH_DOMAIN, SERVICE_TURN_ON, {ATTR_ENTITY_ID: ENTITY}, blocking=True
            )
            assert sim.commands("RemoteStartTransaction") == [
                {"id_tag": "HomeAssistant", "connector_id": 1}
            ]


async def test_switch_fails_when_offline(hass: HomeAssistant, onboard: Onboard) -> None:
    with only_platforms(Platform.SWITCH):
        async with onboard() as (sim, entry):
            hass.config_entries.async_update_entry(
                entry, options={CONF_PAUSE_STRATEGY: "remote_stop_start"}
            )
            await sim.start_transaction("HomeAssistant")
            sim.statuses["RemoteStopTransaction"] = "Rejected"
            with pytest.raises(HomeAssistantError) as err:
                await hass.services.async_call(
                    SWITCH_DOMAIN, SERVICE_TURN_OFF, {ATTR_ENTITY_ID: ENTITY}, blocking=True
                )
            assert err.value.translation_key == "command_rejected"
