"""Buttons: restart and unlock."""

from __future__ import annotations

import pytest
from homeassistant.components.button import DOMAIN as BUTTON_DOMAIN
from homeassistant.components.button import SERVICE_PRESS
from homeassistant.const import ATTR_ENTITY_ID, Platform
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import entity_registry as er
from pytest_homeassistant_custom_component.common import snapshot_platform
from syrupy.assertion import SnapshotAssertion

from .helpers.fixtures import Onboard
from .helpers.platform import only_platforms


async def test_buttons(
    hass: HomeAssistant,
    onboard: Onboard,
    entity_registry: er.EntityRegistry,
    snapshot: SnapshotAssertion,
) -> None:
    with only_platforms(Platform.BUTTON):
        async with onboard() as (_sim, entry):
            await snapshot_platform(hass, entity_registry, snapshot, entry.entry_id)


async def test_press(hass: HomeAssistant, onboard: Onboard) -> None:
    with only_platforms(Platform.BUTTON):
        async with onboard() as (sim, _entry):
            for entity_id in (
                "button.acme_wallbox_1_restart",
                "button.acme_wallbox_1_unlock_cable",
            ):
                await hass.services.async_call(
                    BUTTON_DOMAIN, SERVICE_PRESS, {ATTR_ENTITY_ID: entity_id}, blocking=True
                )
            assert sim.commands("Reset") == [{"type": "Soft"}]
            assert sim.commands("UnlockConnector") == [{"connector_id": 1}]

            sim.statuses["Reset"] = "Rejected"
            with pytest.raises(HomeAssistantError) as err:
                await hass.services.async_call(
                    BUTTON_DOMAIN,
                    SERVICE_PRESS,
                    {ATTR_ENTITY_ID: "button.acme_wallbox_1_restart"},
                    blocking=True,
                )
            assert err.value.translation_placeholders == {
                "charger_id": "CP1",
                "action": "Reset",
                "status": "Rejected",
            }
