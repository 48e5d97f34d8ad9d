"""The Home Assistant side of a charger that takes no current limit (option "Smart charging" off,
or automatic with a charger that lists no SmartCharging): the energy manager charges it on/off at
its full current and ignores its EMS current bounds, so their numbers are unavailable; the
diagnostics show what the option resolved to. Real simulated chargers, real options flow.
"""

from __future__ import annotations

from typing import Any

import pytest
from homeassistant.const import STATE_UNAVAILABLE
from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.components.diagnostics import (
    get_diagnostics_for_config_entry,
)
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.ocpp_ems.const import CONF_SMART_CHARGING

from .helpers.charger import wait_for
from .helpers.ems import async_set_charger_options, ems_server_options
from .helpers.fixtures import ConnectCharger, Onboard, accept_pending_charger, central_of

MIN_CURRENT = "number.acme_wallbox_1_minimum_charging_current"
MAX_CURRENT = "number.acme_wallbox_1_maximum_charging_current"
PRIORITY = "number.acme_wallbox_1_charging_priority"  # no current: never affected


@pytest.fixture
def server_options() -> dict[str, Any]:
    return ems_server_options()


def _shown(hass: HomeAssistant, entity_id: str) -> str:
    state = hass.states.get(entity_id)
    assert state is not None, entity_id
    return state.state


def _current_bounds_available(hass: HomeAssistant) -> tuple[bool, bool]:
    return (
        _shown(hass, MIN_CURRENT) != STATE_UNAVAILABLE,
        _shown(hass, MAX_CURRENT) != STATE_UNAVAILABLE,
    )


async def _in_force(
    hass: HomeAssistant, hass_client: ClientSessionGenerator, entry: MockConfigEntry
) -> Any:
    diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, entry)
    return diagnostics["in_force"]


async def test_current_bounds_follow_the_option_and_diagnostics_show_what_it_resolved_to(
    hass: HomeAssistant, hass_client: ClientSessionGenerator, onboard: Onboard
) -> None:
    async with onboard() as (_sim, entry):  # lists SmartCharging; option automatic
        assert _current_bounds_available(hass) == (True, True)
        assert await _in_force(hass, hass_client, entry) == {
            "smart_charging": True,
            "pause_strategy": "zero_limit",
        }

        await async_set_charger_options(hass, entry, **{CONF_SMART_CHARGING: "off"})
        assert _current_bounds_available(hass) == (False, False)
        assert _shown(hass, PRIORITY) != STATE_UNAVAILABLE
        assert await _in_force(hass, hass_client, entry) == {
            "smart_charging": False,
            "pause_strategy": "remote_stop_start",
        }

        await async_set_charger_options(hass, entry, **{CONF_SMART_CHARGING: "on"})
        assert _current_bounds_available(hass) == (True, True)
        assert (await _in_force(hass, hass_client, entry))["smart_charging"] is True


async def test_automatic_on_a_charger_listing_no_smart_charging_hides_its_bounds(
    hass: HomeAssistant,
    server_entry: MockConfigEntry,
    connect: ConnectCharger,
) -> None:
    """Its capabilities arrive after the boot (GetConfiguration): the numbers follow them
    without a reload."""
    unlisted = {"SupportedFeatureProfiles": "Core,FirmwareManagement"}
    async with connect("CP1", configuration=unlisted) as sim:
        assert await sim.boot() == "Pending"
        await accept_pending_charger(hass, "CP1")
        model = central_of(server_entry).charger("CP1")
        await wait_for(lambda: model.capabilities.supported_profiles, what="capabilities")
        await hass.async_block_till_done()
        assert _current_bounds_available(hass) == (False, False)
