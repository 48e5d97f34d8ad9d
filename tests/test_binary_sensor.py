"""Binary sensors: snapshot, and the states they derive from the charger's own status."""

from __future__ import annotations

import pytest
from homeassistant.const import Platform
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
from pytest_homeassistant_custom_component.common import snapshot_platform
from syrupy.assertion import SnapshotAssertion

from .helpers.charger import wait_for
from .helpers.fixtures import Onboard
from .helpers.platform import only_platforms

PREFIX = "binary_sensor.acme_wallbox_1"


async def test_binary_sensors(
    hass: HomeAssistant,
    onboard: Onboard,
    entity_registry: er.EntityRegistry,
    snapshot: SnapshotAssertion,
) -> None:
    with only_platforms(Platform.BINARY_SENSOR):
        async with onboard() as (sim, entry):
            await sim.status("Charging")
            await hass.async_block_till_done()
            await snapshot_platform(hass, entity_registry, snapshot, entry.entry_id)


@pytest.mark.parametrize(
    ("status", "error_code", "plugged_in", "charging", "fault"),
    [
        ("Available", "NoError", "off", "off", "off"),
        ("Preparing", "NoError", "on", "off", "off"),
        ("SuspendedEV", "NoError", "on", "off", "off"),
        ("Charging", "NoError", "on", "on", "off"),
        ("Finishing", "NoError", "on", "off", "off"),
        ("Faulted", "GroundFailure", "off", "off", "on"),
        ("Available", "HighTemperature", "off", "off", "on"),
    ],
)
async def test_states_follow_status(
    hass: HomeAssistant,
    onboard: Onboard,
    status: str,
    error_code: str,
    plugged_in: str,
    charging: str,
    fault: str,
) -> None:
    with only_platforms(Platform.BINARY_SENSOR):
        async with onboard() as (sim, _entry):
            # Nothing reported yet: unknown rather than a guess.
            assert hass.states.get(f"{PREFIX}_plugged_in").state == "unknown"
            await sim.status(status, error_code=error_code)
            await hass.async_block_till_done()
            assert hass.states.get(f"{PREFIX}_plugged_in").state == plugged_in
            assert hass.states.get(f"{PREFIX}_charging").state == charging
            assert hass.states.get(f"{PREFIX}_fault").state == fault


async def test_limit_mismatch(hass: HomeAssistant, onboard: Onboard) -> None:
    """A charger that reports another limit than it was given shows a problem."""
    with only_platforms(Platform.BINARY_SENSOR, Platform.NUMBER):
        async with onboard() as (sim, _entry):
            assert hass.states.get(f"{PREFIX}_limit_mismatch").state == "off"
            sim.composite_limit = 20.0
            await hass.services.async_call(
                "number",
                "set_value",
                {"entity_id": "number.acme_wallbox_1_current_limit", "value": 10},
                blocking=True,
            )
            await hass.async_block_till_done()
            await wait_for(lambda: hass.states.get(f"{PREFIX}_limit_mismatch").state == "on")
