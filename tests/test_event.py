"""Event entities: sessions, authorizations and faults as they happen."""

from __future__ import annotations

from homeassistant.const import Platform
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
from ocpp.v16 import call
from pytest_homeassistant_custom_component.common import snapshot_platform
from syrupy.assertion import SnapshotAssertion

from .helpers.fixtures import Onboard
from .helpers.platform import only_platforms

PREFIX = "event.acme_wallbox_1"


async def test_events(
    hass: HomeAssistant,
    onboard: Onboard,
    entity_registry: er.EntityRegistry,
    snapshot: SnapshotAssertion,
) -> None:
    with only_platforms(Platform.EVENT):
        async with onboard() as (_sim, entry):
            await snapshot_platform(hass, entity_registry, snapshot, entry.entry_id)


async def test_session_authorization_and_fault(hass: HomeAssistant, onboard: Onboard) -> None:
    with only_platforms(Platform.EVENT):
        async with onboard() as (sim, _entry):
            assert await sim.authorize("stranger") == "Invalid"
            await hass.async_block_till_done()
            state = hass.states.get(f"{PREFIX}_authorization")
            assert state.attributes["event_type"] == "rejected"
            assert state.attributes["id_tag"] == "stranger"

            transaction_id = await sim.start_transaction("HomeAssistant")
            await hass.async_block_till_done()
            state = hass.states.get(f"{PREFIX}_session")
            assert state.attributes["event_type"] == "started"
            assert state.attributes["transaction_id"] == str(transaction_id)
            assert state.attributes["connector_id"] == 1

            sim.meter_wh = 4000
            await sim.stop_transaction()
            await hass.async_block_till_done()
            state = hass.states.get(f"{PREFIX}_session")
            assert state.attributes["event_type"] == "ended"
            assert state.attributes["energy_wh"] == 3000.0

            await sim.status("Faulted", error_code="GroundFailure", info="RCD tripped")
            await hass.async_block_till_done()
            state = hass.states.get(f"{PREFIX}_fault")
            assert state.attributes["event_type"] == "fault"
            assert state.attributes["error_code"] == "GroundFailure"
            assert state.attributes["info"] == "RCD tripped"


async def test_events_of_other_connectors_are_not_reported(
    hass: HomeAssistant, onboard: Onboard
) -> None:
    with only_platforms(Platform.EVENT):
        async with onboard("DUO", configuration={"NumberOfConnectors": "2"}) as (sim, _entry):
            await sim.status("Available", connector_id=1)
            await sim.status("Available", connector_id=2)
            await hass.async_block_till_done()
            await sim.start_transaction("HomeAssistant", connector_id=2)
            await hass.async_block_till_done()
            first = hass.states.async_all("event")
            by_id = {s.entity_id: s for s in first}
            sessions = [s for s in by_id.values() if s.entity_id.endswith("_session")]
            started = [s for s in sessions if s.attributes.get("event_type") == "started"]
            assert len(sessions) == 2
            assert len(started) == 1
            assert started[0].attributes["connector_id"] == 2


async def test_security_event_from_charger(hass: HomeAssistant, onboard: Onboard) -> None:
    """A 1.6 charger with the security extension reports a security event (2.x: the same)."""
    with only_platforms(Platform.EVENT):
        async with onboard() as (sim, _entry):
            await sim.call(
                call.SecurityEventNotification(
                    type="InvalidCentralSystemCertificate",
                    timestamp="2026-11-30T08:00:00Z",
                    tech_info="self-signed",
                )
            )
            await hass.async_block_till_done()
            state = hass.states.get(f"{PREFIX}_security_event")
            assert state.attributes["event_type"] == "reported"
            assert state.attributes["type"] == "InvalidCentralSystemCertificate"
            assert state.attributes["tech_info"] == "self-signed"


async def test_data_transfer_from_charger(hass: HomeAssistant, onboard: Onboard) -> None:
    with only_platforms(Platform.EVENT):
        async with onboard() as (sim, _entry):
            await sim.send_data_transfer("com.example", "hello", '{"x": 1}')
            await hass.async_block_till_done()
            state = hass.states.get(f"{PREFIX}_data_transfer")
            assert state.attributes["event_type"] == "received"
            assert state.attributes["vendor_id"] == "com.example"
            assert state.attributes["message_id"] == "hello"
            assert state.attributes["data"] == '{"x": 1}'
