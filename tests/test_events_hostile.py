"""What automations see when chargers behave like real ones: replays after a network drop,
duplicate ends, unknown transactions, reconnects. Each real occurrence is one event; a replay,
a duplicate or a reconnect is none."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from homeassistant.const import EVENT_CALL_SERVICE, STATE_UNAVAILABLE, Platform
from homeassistant.core import (
    Event,
    EventStateChangedData,
    HomeAssistant,
    ServiceCall,
    callback,
)
from homeassistant.helpers import entity_registry as er
from homeassistant.setup import async_setup_component
from ocpp.v16 import call
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_mock_service

from custom_components.ocpp_ems.const import CONF_ID_TAGS, CONF_VEHICLE_SOC, DOMAIN
from custom_components.ocpp_ems.core.server import CentralSystem
from custom_components.ocpp_ems.event import CHARGER_EVENTS, CONNECTOR_EVENTS, SERVER_SECURITY_EVENT

from .helpers.charger import now_iso, wait_for
from .helpers.ems import (
    PERCENT,
    async_set_charger_options,
    async_setup_sources,
    ems_server_options,
    set_sources,
)
from .helpers.fixtures import ConnectCharger, Onboard, central_of
from .helpers.platform import only_platforms
from .helpers.versions import (
    VERSIONS,
    VERSIONS_2X,
    ChargerSide,
    OnboardAny,
    Side2x,
    Side16,
    connect_any,
)
from .test_blueprints import _device_id, _entity
from .test_station_controls import device_id, two_evses

SESSION = "event.acme_wallbox_1_session"

pytestmark = pytest.mark.usefixtures("fast_ems_debounce")


@pytest.fixture
def server_options() -> dict[str, Any]:
    """With the energy manager (the blueprints set its charge mode) and the card they know."""
    return ems_server_options(**{CONF_ID_TAGS: ["FASTCARD"]})


def _session_events(hass: HomeAssistant, entity_id: str = SESSION) -> list[dict[str, Any]]:
    """The session events the entity fires from now on (each a new state with a new timestamp)."""
    fired: list[dict[str, Any]] = []

    @callback
    def _record(event: Event[EventStateChangedData]) -> None:
        old, new = event.data["old_state"], event.data["new_state"]
        if event.data["entity_id"] != entity_id or new is None or new.state == STATE_UNAVAILABLE:
            return
        if old is not None and old.state == new.state:
            return  # the same event (e.g. back from unavailable), not a new one
        fired.append(dict(new.attributes))

    hass.bus.async_listen("state_changed", _record)
    return fired


async def _reconnect(connect: ConnectCharger, central: CentralSystem, hass: HomeAssistant) -> None:
    """The charger drops off the network and comes back (boots again)."""
    async with connect("CP1") as sim:
        assert await sim.boot() == "Accepted"
        await wait_for(lambda: hass.states.get(SESSION).state != STATE_UNAVAILABLE, what="back")
        await hass.async_block_till_done()
    await wait_for(lambda: central.session("CP1") is None, what="gone")
    await hass.async_block_till_done()


async def _blueprint_automations(
    hass: HomeAssistant, *others: dict[str, Any], **inputs: dict[str, Any]
) -> None:
    """One automation per shipped blueprint named, with its inputs (and the ``others``)."""
    automations = [
        *others,
        *(
            {"alias": name, "use_blueprint": {"path": f"{DOMAIN}/{name}.yaml", "input": given}}
            for name, given in inputs.items()
        ),
    ]
    assert await async_setup_component(hass, "automation", {"automation": automations})
    await hass.async_block_till_done()
    for name in inputs:
        assert hass.states.get(f"automation.{name}").state == "on"


async def test_reconnect_does_not_replay_blueprint_automations(
    hass: HomeAssistant, onboard: Onboard, connect: ConnectCharger, server_entry: MockConfigEntry
) -> None:
    """The session entity goes unavailable with the charger and comes back showing its last
    event: the shipped blueprints must not take that for a new session end or start (a
    notification per reconnect, the user's charge mode overwritten per reconnect)."""
    notes: list[ServiceCall] = async_mock_service(hass, "notify", "phone")
    central = central_of(server_entry)
    async with onboard() as (sim, entry):
        mode = _entity(hass, entry, "select", "charge_mode")
        await _blueprint_automations(
            hass,
            notify_session_ended={"session_event": SESSION, "notify_action": "notify.phone"},
            rfid_charging_rules={
                "session_event": SESSION,
                "charge_mode": mode,
                "fast_tags": ["FASTCARD"],
            },
        )
        transaction_id = await sim.start_transaction("FASTCARD")
        await wait_for(lambda: hass.states.get(mode).state == "fast", what="fast mode")
        # The user picks another mode for this session.
        await _select(hass, mode, "solar")
    # The charger drops off the network in the middle of the session and comes back.
    await wait_for(lambda: central.session("CP1") is None, what="disconnected")
    await hass.async_block_till_done()
    assert hass.states.get(SESSION).state == STATE_UNAVAILABLE
    await _reconnect(connect, central, hass)
    assert hass.states.get(mode).state == "solar"
    async with connect("CP1") as sim:
        assert await sim.boot() == "Accepted"
        sim.transaction_id = transaction_id
        await sim.stop_transaction()
        await wait_for(lambda: len(notes) == 1, what="notification")
    await wait_for(lambda: central.session("CP1") is None, what="disconnected")
    await _select(hass, mode, "min_solar")
    for _ in range(3):
        await _reconnect(connect, central, hass)
    assert len(notes) == 1
    assert hass.states.get(mode).state == "min_solar"


async def _select(hass: HomeAssistant, entity_id: str, option: str) -> None:
    await hass.services.async_call(
        "select", "select_option", {"entity_id": entity_id, "option": option}, blocking=True
    )


async def test_replayed_and_unknown_ends_fire_nothing(
    hass: HomeAssistant, onboard: Onboard
) -> None:
    """A charger that never saw our answer sends the same StopTransaction again; one with a
    transaction id we never gave is not a session of ours: neither is an event."""
    with only_platforms(Platform.EVENT):
        async with onboard() as (sim, _entry):
            fired = _session_events(hass)
            transaction_id = await sim.start_transaction("HomeAssistant")
            sim.meter_wh = 4000
            stop = call.StopTransaction(
                meter_stop=4000, timestamp=now_iso(), transaction_id=transaction_id, reason="Local"
            )
            await sim.call(stop)
            await sim.call(stop)
            await sim.call(
                call.StopTransaction(
                    meter_stop=9000, timestamp=now_iso(), transaction_id=987654, reason="Local"
                )
            )
            await hass.async_block_till_done()
            assert [e["event_type"] for e in fired] == ["started", "ended"]
            assert fired[1]["energy_wh"] == 3000.0
            assert fired[1]["transaction_id"] == str(transaction_id)


async def test_replayed_start_fires_nothing(hass: HomeAssistant, onboard: Onboard) -> None:
    """A 1.6 charger that never saw our answer to StartTransaction sends it again (same
    connector, time and register): the same transaction, one ``started``."""
    with only_platforms(Platform.EVENT):
        async with onboard() as (sim, _entry):
            fired = _session_events(hass)
            start = call.StartTransaction(
                connector_id=1, id_tag="HomeAssistant", meter_start=1000, timestamp=now_iso()
            )
            first = await sim.call(start)
            again = await sim.call(start)
            await hass.async_block_till_done()
            assert again.transaction_id == first.transaction_id
            assert [e["event_type"] for e in fired] == ["started"]


async def test_ended_event_carries_the_id_tag(hass: HomeAssistant, onboard: Onboard) -> None:
    """Automations key on the card (the shipped blueprints do): started and ended name it."""
    with only_platforms(Platform.EVENT):
        async with onboard() as (sim, _entry):
            fired = _session_events(hass)
            await sim.start_transaction("HomeAssistant")
            await sim.stop_transaction()
            await hass.async_block_till_done()
            assert [(e["event_type"], e["id_tag"]) for e in fired] == [
                ("started", "HomeAssistant"),
                ("ended", "HomeAssistant"),
            ]


def test_every_event_type_is_translated() -> None:
    """Each event type an entity can fire has a name in every language we ship."""
    folder = Path(__file__).parent.parent / "custom_components" / "ocpp_ems" / "translations"
    for path in sorted(folder.glob("*.json")):
        events = json.loads(path.read_text())["entity"]["event"]
        for description in (*CHARGER_EVENTS, *CONNECTOR_EVENTS, SERVER_SECURITY_EVENT):
            assert description.event_types is not None
            names = events[description.translation_key]["state_attributes"]["event_type"]["state"]
            assert set(description.event_types) <= set(names), (path.name, description.key)


def test_every_kind_is_a_listed_event_type() -> None:
    """An event type fired that is not in ``event_types`` would raise in Home Assistant."""
    for description in (*CHARGER_EVENTS, *CONNECTOR_EVENTS):
        assert description.event_types is not None
        assert set(description.kinds.values()) <= set(description.event_types), description.key


async def test_reconnect_does_not_plan_again(
    hass: HomeAssistant, onboard: Onboard, connect: ConnectCharger, server_entry: MockConfigEntry
) -> None:
    """The departure blueprint plans when a session starts; a charger back from a network drop
    in the middle of the session is no new start (the user's own mode since then stays)."""
    await async_setup_sources(hass, {"car_soc": PERCENT})
    assert await async_setup_component(
        hass, "input_datetime", {"input_datetime": {"leave": {"has_time": True}}}
    )
    central = central_of(server_entry)
    async with onboard() as (sim, entry):
        await async_set_charger_options(hass, entry, **{CONF_VEHICLE_SOC: "sensor.car_soc"})
        await set_sources(hass, car_soc=40)
        mode = _entity(hass, entry, "select", "charge_mode")
        await _blueprint_automations(
            hass,
            charge_by_departure_time={
                "charger": _device_id(hass, entry),
                "session_event": SESSION,
                "departure_time": "input_datetime.leave",
                "target_soc": 80,
                "capacity_kwh": 60,
            },
        )
        await sim.start_transaction()
        await wait_for(lambda: hass.states.get(mode).state == "plan", what="plan mode")
        await _select(hass, mode, "solar")
    await wait_for(lambda: central.session("CP1") is None, what="disconnected")
    await _reconnect(connect, central, hass)
    assert hass.states.get(mode).state == "solar"


def _session_entity(hass: HomeAssistant, entry: MockConfigEntry) -> str:
    return _entity(hass, entry, "event", "session")


@pytest.mark.parametrize("version", VERSIONS_2X)
async def test_replayed_transaction_events_fire_nothing(
    hass: HomeAssistant, onboard_any: OnboardAny, version: str
) -> None:
    """A 2.x station back from a network drop sends its queued TransactionEvents again (same
    seqNo): Started and Ended once each, and a session whose Started was lost is booked once."""
    with only_platforms(Platform.EVENT):
        async with onboard_any(version) as (side, entry):
            assert isinstance(side, Side2x)
            fired = _session_events(hass, _session_entity(hass, entry))
            transaction_id = await side.start_session()
            side.meter_wh = 4000
            ended = datetime.now(UTC).isoformat()
            for _ in range(2):
                await side.station.tx_event(
                    "Ended",
                    transaction_id,
                    seq_no=5,
                    trigger_reason="StopAuthorized",
                    timestamp=ended,
                    stopped_reason="Local",
                    evse={"id": 1, "connectorId": 1},
                )
            # One whose Started never reached us: booked as a past session, once.
            for _ in range(2):
                await side.station.tx_event(
                    "Ended",
                    "lost-start",
                    seq_no=1,
                    timestamp=ended,
                    stopped_reason="Local",
                    evse={"id": 1, "connectorId": 1},
                )
            await hass.async_block_till_done()
            assert [(e["event_type"], e["transaction_id"]) for e in fired] == [
                ("started", transaction_id),
                ("ended", transaction_id),
                ("started", "lost-start"),
                ("ended", "lost-start"),
            ]


@pytest.mark.parametrize("version", VERSIONS_2X)
async def test_replayed_reservation_end_fires_nothing(
    hass: HomeAssistant, onboard_any: OnboardAny, version: str
) -> None:
    """A station that never saw our answer sends its ReservationStatusUpdate again: the
    reservation ended once (one event, on the reserved EVSE), not once more on every EVSE."""
    async with onboard_any(version, "DUO") as (charger, entry):
        assert isinstance(charger, Side2x)
        await two_evses(hass, charger, entry)
        fired: list[str] = []

        @callback
        def _record(event: Event[EventStateChangedData]) -> None:
            new = event.data["new_state"]
            entity_id = event.data["entity_id"]
            ended = new is not None and new.attributes.get("event_type") == "ended"
            if entity_id.endswith("_reservation") and ended:
                fired.append(entity_id)

        hass.bus.async_listen("state_changed", _record)
        reserved = await hass.services.async_call(
            DOMAIN,
            "reserve_now",
            {
                "device_id": await device_id(hass, "DUO_2", entry),
                "id_tag": "CARD",
                "expiry": "2099-01-01T00:00:00+00:00",
            },
            blocking=True,
            return_response=True,
        )
        assert reserved is not None
        update = {"reservationId": reserved["reservation_id"], "reservationUpdateStatus": "Expired"}
        for _ in range(2):
            assert (await charger.station.request("ReservationStatusUpdate", update)).ok
            await hass.async_block_till_done()
        assert len(fired) == 1, fired
        assert "connector_2" in fired[0]


def _readme_example() -> dict[str, Any]:
    """The README's "notify when a session ends" automation, on our entity and notify action."""
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    block = readme.split("Example: notify when a session ends.", 1)[1]
    text = block.split("```yaml\n", 1)[1].split("```", 1)[0]
    text = text.replace("event.wallbox_session", SESSION).replace("notify.notify", "notify.phone")
    automations: list[dict[str, Any]] = yaml.safe_load(text)["automation"]
    return automations[0]


async def test_readme_example_does_not_fire_on_reconnect(
    hass: HomeAssistant, onboard: Onboard, connect: ConnectCharger, server_entry: MockConfigEntry
) -> None:
    """What the README tells users to copy must not notify again each time the charger
    reconnects (or Home Assistant restarts before the charger is back)."""
    notes: list[ServiceCall] = async_mock_service(hass, "notify", "phone")
    central = central_of(server_entry)
    async with onboard() as (sim, _entry):
        assert await async_setup_component(hass, "automation", {"automation": _readme_example()})
        await sim.start_transaction()
        await sim.stop_transaction()
        await wait_for(lambda: len(notes) == 1, what="notification")
    await wait_for(lambda: central.session("CP1") is None, what="disconnected")
    await _reconnect(connect, central, hass)
    assert len(notes) == 1


def _mode_writes(hass: HomeAssistant) -> list[str]:
    """The charge modes automations write from now on (each ``select.select_option`` call)."""
    written: list[str] = []

    @callback
    def _record(event: Event[dict[str, Any]]) -> None:
        if (event.data["domain"], event.data["service"]) == ("select", "select_option"):
            written.append(event.data["service_data"]["option"])

    hass.bus.async_listen(EVENT_CALL_SERVICE, _record)
    return written


@pytest.mark.parametrize("version", VERSIONS_2X)
@pytest.mark.parametrize("asked", [True, False], ids=["authorize_request", "local_list"])
async def test_card_presented_after_a_cable_first_start_reaches_the_rfid_rule(
    hass: HomeAssistant, onboard_any: OnboardAny, version: str, asked: bool
) -> None:
    """E02: a 2.x station that starts the transaction on plug-in (Started without a token) sends
    the card in a later Updated, after an Authorize request or from its local list. The RFID
    rule gets that card once for the session, as it gets a 1.6 StartTransaction's: the tagless
    start has the default mode, the card its own; the same token again changes nothing."""
    async with onboard_any(version) as (side, entry):
        assert isinstance(side, Side2x)
        session = _session_entity(hass, entry)
        mode = _entity(hass, entry, "select", "charge_mode")
        await _blueprint_automations(
            hass,
            rfid_charging_rules={
                "session_event": session,
                "charge_mode": mode,
                "fast_tags": ["FASTCARD"],
            },
        )
        written = _mode_writes(hass)
        fired = _session_events(hass, session)
        card = {"idToken": "FASTCARD", "type": "ISO14443"}
        evse = {"id": 1, "connectorId": 1}
        await side.station.tx_event(
            "Started",
            "cable-first",
            trigger_reason="CablePluggedIn",
            charging_state="EVConnected",
            evse=evse,
        )
        await hass.async_block_till_done()
        if asked:
            assert await side.authorize("FASTCARD") == "Accepted"
        await side.station.tx_event("Updated", "cable-first", id_token=card, evse=evse)
        await side.station.tx_event(
            "Updated",
            "cable-first",
            trigger_reason="ChargingStateChanged",
            charging_state="Charging",
            id_token=card,
            evse=evse,
        )
        await wait_for(lambda: hass.states.get(mode).state == "fast", what="the card's mode")
        await hass.async_block_till_done()
        assert written == ["min_solar", "fast"]
        assert [(e["event_type"], e["transaction_id"], e["id_tag"]) for e in fired] == [
            ("started", "cable-first", None),
            ("identified", "cable-first", "FASTCARD"),
        ]


async def _end_queued(side: ChargerSide, transaction_id: str) -> None:
    """The session end a charger queued while it was offline (the answer never came)."""
    if isinstance(side, Side2x):
        await side.station.tx_event(
            "Ended",
            transaction_id,
            trigger_reason="StopAuthorized",
            stopped_reason="Local",
            evse={"id": 1, "connectorId": 1},
            seq_no=99,
        )
        return
    assert isinstance(side, Side16)
    side.sim.transaction_id = int(transaction_id)
    await side.sim.stop_transaction()


@pytest.mark.parametrize("version", VERSIONS)
async def test_queued_end_sent_at_once_after_a_reconnect_is_notified(
    hass: HomeAssistant, onboard_any: OnboardAny, server_entry: MockConfigEntry, version: str
) -> None:
    """A charger back from a network drop sends its queued session end at once (before its
    boot): a real end, so the blueprint and the README example notify (once), and the RFID rule
    is not applied again. The shipped conditions skip an event that follows "unavailable": that
    is right because the entity shows its last event again the moment the charger is back, and
    again on any change of the charger before a session event (also after Home Assistant's own
    restored "unavailable"), so a session event never follows "unavailable" directly."""
    notes: list[ServiceCall] = async_mock_service(hass, "notify", "phone")
    central = central_of(server_entry)
    async with onboard_any(version) as (side, entry):
        session = _session_entity(hass, entry)
        mode = _entity(hass, entry, "select", "charge_mode")
        readme = _readme_example()
        readme["triggers"][0]["entity_id"] = session
        await _blueprint_automations(
            hass,
            readme,
            notify_session_ended={"session_event": session, "notify_action": "notify.phone"},
            rfid_charging_rules={
                "session_event": session,
                "charge_mode": mode,
                "fast_tags": ["FASTCARD"],
            },
        )
        registry_entry = er.async_get(hass).async_get(session)
        assert registry_entry is not None
        registry_entry.write_unavailable_state(hass)
        transaction_id = await side.start_session("FASTCARD")
        await wait_for(lambda: hass.states.get(mode).state == "fast", what="fast mode")
        await _select(hass, mode, "solar")
        password = side.provisioned_password()
    await wait_for(lambda: central.session("CP1") is None, what="disconnected")
    await hass.async_block_till_done()
    assert hass.states.get(session).state == STATE_UNAVAILABLE
    shown: list[tuple[bool, str | None]] = []

    @callback
    def _record(event: Event[EventStateChangedData]) -> None:
        old, new = event.data["old_state"], event.data["new_state"]
        if event.data["entity_id"] == session and old is not None and new is not None:
            shown.append((old.state == STATE_UNAVAILABLE, new.attributes.get("event_type")))

    hass.bus.async_listen("state_changed", _record)
    async with connect_any(version, central.port, "CP1", password=password) as side:
        await _end_queued(side, transaction_id)
        # The blueprint's and the README's.
        await wait_for(lambda: len(notes) == 2, what="notifications")
        await hass.async_block_till_done()
    # Back: its last event shown again (after "unavailable"), then the real end after that.
    assert shown[:2] == [(True, "started"), (False, "ended")]
    assert hass.states.get(mode).state == "solar"
