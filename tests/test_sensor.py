"""Sensors: snapshot of every sensor of a charging charger, dynamic and per-connector entities."""

from __future__ import annotations

import pytest
from homeassistant.const import Platform
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers import entity_registry as er
from homeassistant.setup import async_setup_component
from ocpp.v16 import call
from pytest_homeassistant_custom_component.common import snapshot_platform
from pytest_homeassistant_custom_component.typing import WebSocketGenerator
from syrupy.assertion import SnapshotAssertion

from custom_components.ocpp_ems.const import DOMAIN

from .helpers.fixtures import Onboard
from .helpers.platform import only_platforms


@pytest.mark.usefixtures("entity_registry_enabled_by_default")
async def test_sensors(
    hass: HomeAssistant,
    onboard: Onboard,
    entity_registry: er.EntityRegistry,
    snapshot: SnapshotAssertion,
) -> None:
    with only_platforms(Platform.SENSOR):
        async with onboard() as (sim, entry):
            await sim.status("Charging")
            await sim.start_transaction("HomeAssistant")
            await sim.meter_values(
                energy_wh=2500,
                power_w=7200,
                current_a=(10.1, 10.2, 10.3),
                voltage_v=(230, 231, 232),
                offered_a=16,
                soc=55,
                temperature_c=31.5,
            )
            await hass.async_block_till_done()
            await snapshot_platform(hass, entity_registry, snapshot, entry.entry_id)


async def test_soc_and_temperature_appear_when_reported(
    hass: HomeAssistant, onboard: Onboard
) -> None:
    with only_platforms(Platform.SENSOR):
        async with onboard() as (sim, _entry):
            assert hass.states.get("sensor.acme_wallbox_1_state_of_charge") is None
            assert hass.states.get("sensor.acme_wallbox_1_temperature") is None
            await sim.meter_values(soc=80, temperature_c=20)
            await hass.async_block_till_done()
            assert hass.states.get("sensor.acme_wallbox_1_state_of_charge").state == "80.0"
            assert hass.states.get("sensor.acme_wallbox_1_temperature").state == "20.0"


async def test_lifetime_energy_unknown_until_read(hass: HomeAssistant, onboard: Onboard) -> None:
    with only_platforms(Platform.SENSOR):
        async with onboard() as (sim, _entry):
            assert hass.states.get("sensor.acme_wallbox_1_lifetime_energy").state == "unknown"
            await sim.meter_values(energy_wh=123456)
            await hass.async_block_till_done()
            state = hass.states.get("sensor.acme_wallbox_1_lifetime_energy")
            assert state.state == "123.456"
            assert state.attributes["unit_of_measurement"] == "kWh"


async def test_connectors_of_a_dual_charger(
    hass: HomeAssistant,
    onboard: Onboard,
    entity_registry: er.EntityRegistry,
    device_registry: dr.DeviceRegistry,
) -> None:
    """Each outlet gets a child device; connector 1 keeps the single-outlet unique ids."""
    with only_platforms(Platform.SENSOR):
        async with onboard("DUO", configuration={"NumberOfConnectors": "2"}) as (sim, entry):
            await sim.status("Available", connector_id=1)
            await sim.status("Charging", connector_id=2)
            await hass.async_block_till_done()
            main = device_registry.async_get_device_by_identifier((DOMAIN, "DUO"), entry.entry_id)
            assert main is not None
            second = device_registry.async_get_child_device_by_identifier(
                (DOMAIN, "DUO_2"), entry.entry_id
            )
            assert second is not None
            assert second.parent_device_id == main.id

            status_1 = entity_registry.async_get_entity_id("sensor", DOMAIN, "DUO_status")
            status_2 = entity_registry.async_get_entity_id("sensor", DOMAIN, "DUO_2_status")
            assert status_1 is not None
            assert status_2 is not None
            assert hass.states.get(status_1).state == "available"
            assert hass.states.get(status_2).state == "charging"
            assert entity_registry.async_get(status_2).device_id == second.id
            # Connector 1 has its own device as well (the entry was set up again once the
            # charger turned out to have two outlets).
            first = device_registry.async_get_child_device_by_identifier(
                (DOMAIN, "DUO_1"), entry.entry_id
            )
            assert first is not None
            assert entity_registry.async_get(status_1).device_id == first.id
            assert first.name == "Acme Wallbox 1 connector 1"  # from the translation
            # Charger-wide sensors stay on the charger itself.
            lifetime = entity_registry.async_get_entity_id("sensor", DOMAIN, "DUO_lifetime_energy")
            assert entity_registry.async_get(lifetime).device_id == main.id


async def test_firmware_and_diagnostics_status(hass: HomeAssistant, onboard: Onboard) -> None:
    with only_platforms(Platform.SENSOR):
        async with onboard() as (sim, _entry):
            await sim.call(call.FirmwareStatusNotification(status="Downloading"))
            await sim.call(call.DiagnosticsStatusNotification(status="Uploaded"))
            await hass.async_block_till_done()
            prefix = "sensor.acme_wallbox_1"
            assert hass.states.get(f"{prefix}_firmware_update_status").state == "Downloading"
            assert hass.states.get(f"{prefix}_diagnostics_upload_status").state == "Uploaded"


async def test_stale_connector_device_can_be_removed(
    hass: HomeAssistant,
    onboard: Onboard,
    device_registry: dr.DeviceRegistry,
    hass_ws_client: WebSocketGenerator,
) -> None:
    assert await async_setup_component(hass, "config", {})
    with only_platforms(Platform.SENSOR):
        async with onboard("DUO", configuration={"NumberOfConnectors": "2"}) as (sim, entry):
            await sim.status("Available", connector_id=2)
            await hass.async_block_till_done()
            main = device_registry.async_get_device_by_identifier((DOMAIN, "DUO"), entry.entry_id)
            second = device_registry.async_get_child_device_by_identifier(
                (DOMAIN, "DUO_2"), entry.entry_id
            )
            assert main is not None
            assert second is not None
            stale = device_registry.async_get_or_create_child(
                config_entry_id=entry.entry_id,
                identifiers={(DOMAIN, "DUO_3")},
                parent_device_id=main.id,
            )
            client = await hass_ws_client(hass)
            await hass.config_entries.async_unload(entry.entry_id)
            response = await client.remove_device(stale.id)
            assert response["success"] is False  # nothing is decided while the entry is unloaded
            await hass.config_entries.async_setup(entry.entry_id)
            await hass.async_block_till_done()
            for device_id, removable in ((main.id, False), (second.id, False), (stale.id, True)):
                response = await client.remove_device(device_id)
                assert response["success"] is removable
