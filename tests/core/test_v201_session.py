"""V201Session / V21Session, charging station -> CSMS: every incoming 2.x action, on real websockets.

The station is the ``ocpp`` package's own v201 / v21 client (:mod:`.v201_harness`): what it sends
passed the library's dataclasses and schema validation. Every test runs for 2.0.1 and 2.1.
"""

from __future__ import annotations

from typing import Any

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from custom_components.ocpp_ems.core.current_control import CurrentController
from custom_components.ocpp_ems.core.directory import Admission
from custom_components.ocpp_ems.core.ems.outlets import SharingOutlets
from custom_components.ocpp_ems.core.limit_check import LimitCheck
from custom_components.ocpp_ems.core.model import ConnectorStatus, EventKind
from custom_components.ocpp_ems.core.pacing import phase
from custom_components.ocpp_ems.core.protocol import OCPP16, OCPP21, OCPP201
from custom_components.ocpp_ems.core.protocol.incoming import HEARTBEAT_SPREAD, PENDING_RETRY_S
from custom_components.ocpp_ems.core.protocol.v201 import V21Session, V201Session
from custom_components.ocpp_ems.core.protocol.v201.session import PROFILE_REPORTS_KEPT
from custom_components.ocpp_ems.core.server import CentralSystem
from custom_components.ocpp_ems.core.settings import ChargerSettings, ServerSettings
from custom_components.ocpp_ems.core.timeutil import parse_timestamp

from .conftest import MakeCentral
from .fakes import MemoryDirectory
from .v201_harness import (
    CHARGER_ID,
    Harness,
    now_iso,
    running_harness,
    sampled,
    wait_for,
)

ENERGY = "Energy.Active.Import.Register"


@pytest.fixture
def h(h2: Harness) -> Harness:
    """Every test of this module runs for 2.0.1 and 2.1 (``h2``, conftest.py)."""
    return h2


@pytest.fixture
async def sim(h: Harness) -> Any:
    """A station connected to ``h``, not booted: each test sends what it tests."""
    return await h.charger_client(boot=False)


def meter(wh: float, offset_s: float = 0.0, context: str | None = None, **more: Any) -> list[Any]:
    """One meterValue entry with an energy register sample (and more samples by measurand)."""
    samples = [sampled(wh, ENERGY, context=context)]
    samples += [sampled(value, measurand, context=context) for measurand, value in more.items()]
    return [{"timestamp": now_iso(offset_s), "sampledValue": samples}]


def token(value: str = "TAG1", kind: str = "ISO14443") -> dict[str, str]:
    return {"idToken": value, "type": kind}


async def start(
    sim: Any, tx: str = "TX1", *, evse: int = 1, wh: float = 1000.0, at: float = -600.0, **kw: Any
) -> Any:
    """A Started of ``tx`` on ``evse`` stamped ``at`` seconds from now, its Begin value ``wh``."""
    kw.setdefault("charging_state", "Charging")
    kw.setdefault("id_token", token())
    kw.setdefault("meter_value", meter(wh, at, "Transaction.Begin"))
    return await sim.tx_event(
        "Started", tx, evse={"id": evse, "connectorId": 1}, timestamp=now_iso(at), **kw
    )


# --- Provisioning ------------------------------------------------------------------------------
async def test_boot_accepted_records_station_and_spreads_heartbeat(h: Harness, sim: Any) -> None:
    result = await sim.boot(
        serial_number="SN1", firmware_version="1.2.3", modem={"iccid": "8949", "imsi": "1"}
    )
    assert result.status == "Accepted"
    base = h.settings.heartbeat_interval_s
    assert result.interval == round(base * (1 + HEARTBEAT_SPREAD * phase(CHARGER_ID)))
    info = h.charger.info
    assert (info.vendor, info.model, info.serial_number) == ("Acme", "Sim", "SN1")
    assert (info.firmware_version, info.iccid) == ("1.2.3", "8949")
    assert h.session.provisioning.boot_seen
    # The after hook started the setup: the device model is read.
    await wait_for(lambda: sim.actions("GetBaseReport"))


async def test_boot_pending_and_rejected(h: Harness, directory: MemoryDirectory) -> None:
    directory.admissions[CHARGER_ID] = Admission.PENDING
    sim = await h.charger_client(boot=False)
    result = await sim.boot(serial_number="SN9")
    assert (result.status, result.interval) == ("Pending", PENDING_RETRY_S)
    assert directory.pending[0][0] == CHARGER_ID
    assert directory.pending[0][1].serial_number == "SN9"
    directory.admissions[CHARGER_ID] = Admission.REJECTED
    assert (await sim.boot()).status == "Rejected"
    assert not sim.actions("GetBaseReport")  # no control unless accepted


async def test_a_pending_station_may_send_nothing_but_boot(
    h: Harness, directory: MemoryDirectory
) -> None:
    """B02.FR.09: a station answered Pending gets SecurityError to any CALL but a boot (and a
    heartbeat, a report we asked for); an unapproved device writes nothing into the model the
    user then accepts."""
    directory.admissions[CHARGER_ID] = Admission.PENDING
    sim = await h.charger_client(boot=False)
    assert (await sim.boot()).status == "Pending"
    status = {"timestamp": now_iso(), "connectorStatus": "Occupied", "evseId": 1, "connectorId": 1}
    answer = await sim.request("StatusNotification", status)
    assert answer.error_code == "SecurityError"
    answer = await sim.request("TransactionEvent", {"eventType": "Started"})  # not even checked
    assert answer.error_code == "SecurityError"
    assert (await sim.request("Heartbeat", {})).error_code is None
    assert 1 not in h.charger.connectors
    directory.admissions[CHARGER_ID] = Admission.ACCEPTED
    assert (await sim.request("StatusNotification", status)).error_code is None
    assert h.charger.connectors[1].status is ConnectorStatus.PREPARING


async def test_heartbeat(h: Harness, sim: Any) -> None:
    result = await sim.heartbeat()
    assert result.current_time.endswith("Z")
    assert h.charger.last_heartbeat is not None


async def test_notify_report_page_is_acknowledged(sim: Any) -> None:
    # A page nobody asked for (unknown request id): answered, ignored by provisioning.
    sim.report_page_size = 5
    await sim.send_report(4711)  # pages answered one by one (the library waits for each answer)
    assert (await sim.heartbeat()).current_time  # and the connection is still usable


# --- Availability: StatusNotification and chargingState -----------------------------------------
@pytest.mark.parametrize(
    ("reported", "expected"),
    [
        ("Available", ConnectorStatus.AVAILABLE),
        ("Occupied", ConnectorStatus.PREPARING),
        ("Reserved", ConnectorStatus.RESERVED),
        ("Unavailable", ConnectorStatus.UNAVAILABLE),
        ("Faulted", ConnectorStatus.FAULTED),
    ],
)
async def test_status_notification_maps_to_model(
    h: Harness, sim: Any, reported: str, expected: ConnectorStatus
) -> None:
    await sim.status(1, 1, reported)
    assert h.charger.connectors[1].status is expected
    assert (EventKind.FAULT in h.kinds()) is (expected is ConnectorStatus.FAULTED)


async def test_status_of_an_evse_with_two_connectors(h: Harness, sim: Any) -> None:
    await sim.status(1, 1, "Available", now_iso(-30))
    await sim.status(1, 2, "Occupied", now_iso(-20))  # the car is on the cable
    assert h.charger.connectors[1].status is ConnectorStatus.PREPARING
    await sim.status(1, 1, "Faulted", now_iso(-10))  # the socket faulted: the cable still works
    assert h.charger.connectors[1].status is ConnectorStatus.PREPARING
    await sim.status(1, 2, "Available", now_iso(-5))
    assert h.charger.connectors[1].status is ConnectorStatus.AVAILABLE
    await sim.status(1, 2, "Unavailable", now_iso(-4))
    assert h.charger.connectors[1].status is ConnectorStatus.FAULTED
    assert list(h.charger.connectors) == [1]  # the model's connector is the EVSE


async def test_older_status_never_overwrites_newer(h: Harness, sim: Any) -> None:
    await sim.status(1, 1, "Occupied", now_iso(-5))
    await sim.status(1, 1, "Available", now_iso(-50))  # delayed
    assert h.charger.connectors[1].status is ConnectorStatus.PREPARING


@pytest.mark.parametrize(
    ("charging_state", "expected"),
    [
        ("Charging", ConnectorStatus.CHARGING),
        ("SuspendedEV", ConnectorStatus.SUSPENDED_EV),
        ("SuspendedEVSE", ConnectorStatus.SUSPENDED_EVSE),
        ("EVConnected", ConnectorStatus.PREPARING),
        ("Idle", ConnectorStatus.PREPARING),
    ],
)
async def test_charging_state_refines_occupied(
    h: Harness, sim: Any, charging_state: str, expected: ConnectorStatus
) -> None:
    await sim.status(1, 1, "Occupied", now_iso(-700))
    await start(sim, charging_state=charging_state)
    assert h.charger.connectors[1].status is expected


async def test_status_follows_a_whole_session(h: Harness, sim: Any) -> None:
    await sim.status(1, 1, "Available", now_iso(-900))
    # The station reports the transaction before its Occupied status.
    await start(sim, charging_state="EVConnected")
    assert h.charger.connectors[1].status is ConnectorStatus.PREPARING
    await sim.status(1, 1, "Occupied", now_iso(-590))
    await sim.tx_event(
        "Updated", "TX1", trigger_reason="ChargingStateChanged", charging_state="Charging"
    )
    assert h.charger.connectors[1].status is ConnectorStatus.CHARGING
    assert h.charger.connectors[1].status.plugged_in
    await sim.tx_event(
        "Updated", "TX1", trigger_reason="ChargingStateChanged", charging_state="SuspendedEVSE"
    )
    assert h.charger.connectors[1].status is ConnectorStatus.SUSPENDED_EVSE
    await sim.tx_event("Ended", "TX1", trigger_reason="StopAuthorized", stopped_reason="Local")
    assert h.charger.connectors[1].status is ConnectorStatus.FINISHING  # still plugged in
    await sim.status(1, 1, "Available")
    assert h.charger.connectors[1].status is ConnectorStatus.AVAILABLE


# --- Authorization ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "kind", ["ISO14443", "ISO15693", "eMAID", "KeyCode", "Local", "MacAddress", "Central"]
)
async def test_authorize_every_token_type_from_the_tag_list(
    h: Harness, sim: Any, kind: str
) -> None:
    result = await sim.call(sim._call.Authorize(id_token=token("TAG1", kind)))
    assert result.id_token_info["status"] == "Accepted"
    result = await sim.call(sim._call.Authorize(id_token=token("STRANGER", kind)))
    assert result.id_token_info["status"] == "Invalid"  # default deny
    assert h.kinds() == ["authorized", "authorization_rejected"]
    assert [e.data["id_tag"] for e in h.events] == ["TAG1", "STRANGER"]


async def test_authorize_no_authorization_token(h: Harness, sim: Any) -> None:
    result = await sim.authorize("", "NoAuthorization")
    assert result.id_token_info["status"] == "Accepted"
    assert h.kinds() == []


async def test_remote_start_token_is_ours(sim: Any, directory: MemoryDirectory) -> None:
    tag = directory.settings(CHARGER_ID).remote_start_id_tag
    result = await sim.authorize(tag, "Central")
    assert result.id_token_info["status"] == "Accepted"


# --- Transactions -------------------------------------------------------------------------------
async def test_whole_transaction(h: Harness, sim: Any) -> None:
    result = await start(sim, "a1b2-c3", wh=1000)
    assert result.id_token_info == {"status": "Accepted"}
    connector = h.charger.connectors[1]
    tx = connector.transaction
    assert tx is not None
    assert (tx.transaction_id, tx.id_tag, tx.meter_start_wh) == ("a1b2-c3", "TAG1", 1000.0)
    assert tx.authorized
    result = await sim.tx_event(
        "Updated",
        "a1b2-c3",
        trigger_reason="MeterValuePeriodic",
        meter_value=meter(1500, -300, "Sample.Periodic", **{"Power.Active.Import": 7000}),
    )
    assert result.id_token_info is None  # no token sent, none answered
    assert tx.energy_wh == 500
    assert connector.meter.power_w == 7000
    await sim.tx_event(
        "Ended",
        "a1b2-c3",
        trigger_reason="EVCommunicationLost",
        stopped_reason="EVDisconnected",
        meter_value=meter(2000, 0, "Transaction.End"),
    )
    assert connector.transaction is None
    assert connector.last_transaction is tx
    assert (tx.stop_reason, tx.energy_wh) == ("EVDisconnected", 1000)
    assert connector.session_energy_wh == 1000
    assert connector.meter.power_w == 0
    # The start's token fired its authorization event (no Authorize came first).
    assert h.kinds() == ["authorized", "session_started", "session_ended"]
    ended = h.events[-1].data
    assert (ended["transaction_id"], ended["energy_wh"], ended["reason"]) == (
        "a1b2-c3",
        1000,
        "EVDisconnected",
    )
    assert h.charger.lifetime_energy.total_wh == 2000


async def test_ended_without_reason_is_local(h: Harness, sim: Any) -> None:
    await start(sim)
    await sim.tx_event("Ended", "TX1", trigger_reason="StopAuthorized")
    assert h.charger.connectors[1].last_transaction.stop_reason == "Local"


async def test_rejected_token_starts_an_unauthorized_transaction(h: Harness, sim: Any) -> None:
    result = await start(sim, id_token=token("STRANGER"))
    assert result.id_token_info == {"status": "Invalid"}
    tx = h.charger.connectors[1].transaction
    assert tx is not None
    assert not tx.authorized
    assert h.events[0].kind is EventKind.AUTHORIZATION_REJECTED


async def test_token_presented_after_the_start(h: Harness, sim: Any) -> None:
    # TxStartPoint EVConnected: the transaction starts on plug-in, the card comes later.
    await start(sim, id_token=None, charging_state="EVConnected", trigger_reason="CablePluggedIn")
    tx = h.charger.connectors[1].transaction
    assert tx is not None
    assert (tx.id_tag, tx.authorized) == (None, True)
    result = await sim.tx_event("Updated", "TX1", id_token=token("TAG1", "ISO15693"))
    assert result.id_token_info == {"status": "Accepted"}
    assert tx.id_tag == "TAG1"
    # The same token again (a repeated Updated): the verdict stands, no second event.
    result = await sim.tx_event("Updated", "TX1", id_token=token("TAG1", "ISO15693"))
    assert result.id_token_info == {"status": "Accepted"}
    assert h.kinds() == ["session_started", "authorized", "session_identified"]
    result = await sim.tx_event("Updated", "TX1", id_token=token("STRANGER"))
    assert result.id_token_info == {"status": "Invalid"}
    assert not tx.authorized


async def test_refused_token_after_a_cable_first_start_is_stopped(
    socket_enabled: None,
    directory: MemoryDirectory,
    server_settings: ServerSettings,
    settings: ChargerSettings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """E02 (cable plug-in first): the Started has no token (authorized for now); the card comes in
    an Updated and is refused. A station that ignores the Invalid answer is stopped like one whose
    Started named the refused token."""
    monkeypatch.setattr(LimitCheck, "verify_delay_s", 0.05)
    monkeypatch.setattr(CurrentController, "unauthorized_stop_grace_s", 0.2)
    async with running_harness(directory, server_settings) as h:
        sim = await h.charger_client()
        await wait_for(lambda: h.controller is not None and h.controller._refresh_task is not None)
        await start(
            sim, id_token=None, charging_state="EVConnected", trigger_reason="CablePluggedIn"
        )
        tx = h.charger.connectors[1].transaction
        assert tx is not None
        assert tx.authorized
        result = await sim.tx_event("Updated", "TX1", id_token=token("STRANGER"))
        assert result.id_token_info == {"status": "Invalid"}
        assert not tx.authorized
        # The station keeps charging regardless: it is told to stop.
        await sim.tx_event(
            "Updated", "TX1", trigger_reason="ChargingStateChanged", charging_state="Charging"
        )
        await wait_for(lambda: sim.actions("RequestStopTransaction"))
        assert sim.actions("RequestStopTransaction") == [{"transactionId": "TX1"}]


async def test_an_immediate_reset_ends_the_session_with_its_energy(h: Harness, sim: Any) -> None:
    """B12: Reset Immediate while a transaction runs. The station ends it (ImmediateReset, its
    end value), drops the connection, comes back and boots (RemoteReset): the session ended once
    with all its energy, nothing is left open, the lifetime counts the register once."""
    await start(sim, wh=1000.0)
    await h.session.reset(hard=True)
    assert sim.actions("Reset") == [{"type": "Immediate"}]
    await sim.tx_event(
        "Ended",
        "TX1",
        trigger_reason="ResetCommand",
        stopped_reason="ImmediateReset",
        meter_value=meter(3500.0, 0, "Transaction.End"),
    )
    await sim._connection.close()
    again = await h.charger_client(boot=False)
    assert (await again.boot(reason="RemoteReset")).status == "Accepted"
    await again.status(1, 1, "Available")
    connector = h.charger.connectors[1]
    ended = connector.last_transaction
    assert connector.transaction is None
    assert ended is not None
    assert (ended.transaction_id, ended.stop_reason, ended.energy_wh) == (
        "TX1",
        "ImmediateReset",
        2500.0,
    )
    assert h.kinds().count(EventKind.SESSION_ENDED) == 1
    assert h.charger.lifetime_energy.total_wh == pytest.approx(3500.0)  # the register, once


async def test_a_plug_in_session_shares_the_limit_once_its_card_comes(h: Harness, sim: Any) -> None:
    """A station with two EVSEs: a car charging on one; the other opens a session at plug-in
    (E02, no card yet). That car takes no share of the station's limit until its card is
    accepted (it may wait for one for hours: the charging car got half meanwhile), then it does."""
    await start(sim, "TX1", evse=1)
    await start(
        sim,
        "TX2",
        evse=2,
        id_token=None,
        charging_state="EVConnected",
        trigger_reason="CablePluggedIn",
    )
    assert h.charger.connectors[2].status is ConnectorStatus.PREPARING
    assert SharingOutlets().count(h.charger, 0.0) == 1
    await sim.tx_event("Updated", "TX2", evse={"id": 2, "connectorId": 1}, id_token=token())
    assert SharingOutlets().count(h.charger, 0.0) == 2


async def test_stop_token_gets_its_verdict(sim: Any) -> None:
    await start(sim)
    result = await sim.tx_event(
        "Ended", "TX1", trigger_reason="StopAuthorized", id_token=token("TAG1")
    )
    assert result.id_token_info == {"status": "Accepted"}


@pytest.mark.parametrize(
    "additional_info",
    [
        {"additionalIdToken": "X" * 300, "type": "Plate"},  # longer than 36 (2.1: 255)
        {"additionalIdToken": "X1", "type": "T" * 51},  # longer than 50
        {"additionalIdToken": 7, "type": "Plate"},  # no string
    ],
    ids=["long_additional_token", "long_additional_type", "number"],
)
async def test_an_ended_whose_stop_token_breaks_its_schema_still_ends_the_session(
    h: Harness, sim: Any, additional_info: dict[str, Any]
) -> None:
    """E13: a CALLERROR to an Ended is retried, then the Ended is dropped: the session would never
    end here. Its (optional) idToken only stops the session: one that breaks its schema anywhere
    (in its additionalInfo too) is left out, as an over-long one. A Started's stays refused: its
    token authorizes the session."""
    await start(sim, wh=1000)
    broken = {**token("TAG1"), "additionalInfo": [additional_info]}
    ended = {
        "eventType": "Ended",
        "timestamp": now_iso(),
        "triggerReason": "StopAuthorized",
        "seqNo": 1,
        "transactionInfo": {"transactionId": "TX1", "stoppedReason": "Local"},
        "idToken": broken,
        "meterValue": meter(1800, 0, "Transaction.End"),
    }
    answer = await sim.request("TransactionEvent", ended)
    assert answer.ok, answer.error_code
    assert answer.payload == {}  # no verdict on a token left out
    connector = h.charger.connectors[1]
    tx = connector.last_transaction
    assert connector.transaction is None
    assert tx is not None
    assert (tx.transaction_id, tx.id_tag, tx.stop_reason, tx.energy_wh) == (
        "TX1",
        "TAG1",
        "Local",
        800,
    )
    assert h.events[-1].data["energy_wh"] == 800
    started = {
        **ended,
        "eventType": "Started",
        "seqNo": 0,
        "transactionInfo": {"transactionId": "TX2"},
        "evse": {"id": 1},
    }
    assert (await sim.request("TransactionEvent", started)).error_code is not None
    assert h.charger.find_transaction("TX2") is None


async def test_stop_token_does_not_take_the_session_over(
    h: Harness, sim: Any, directory: MemoryDirectory
) -> None:
    """E06/E07: with TxStopPoint EVConnected a card that stops the session comes in an Updated
    (triggerReason StopAuthorized): it gets its verdict, the session stays the starting card's and
    keeps its authorization (1.6: StopTransaction's idTag never changes the session's tag)."""
    directory.id_tags.add("MASTER")
    await start(sim, "S1")
    for stopper, verdict in (("STRANGER", "Invalid"), ("MASTER", "Accepted")):
        result = await sim.tx_event(
            "Updated",
            "S1",
            trigger_reason="StopAuthorized",
            id_token=token(stopper),
            charging_state="EVConnected",
            meter_value=meter(3000, -10),
        )
        assert result.id_token_info == {"status": verdict}
        tx = h.charger.connectors[1].transaction
        assert tx is not None
        assert (tx.id_tag, tx.authorized) == ("TAG1", True)
    await sim.tx_event(
        "Ended",
        "S1",
        stopped_reason="EVDisconnected",
        meter_value=meter(3000, 0, "Transaction.End"),
    )
    assert h.events[-1].data["id_tag"] == "TAG1"


async def test_no_authorization_transaction(h: Harness, sim: Any) -> None:
    result = await start(sim, id_token=token("", "NoAuthorization"))
    assert result.id_token_info == {"status": "Accepted"}
    tx = h.charger.connectors[1].transaction
    assert tx is not None
    assert (tx.id_tag, tx.authorized) == (None, True)


async def test_remote_start_id_and_string_ids(
    h: Harness, sim: Any, directory: MemoryDirectory
) -> None:
    tag = directory.settings(CHARGER_ID).remote_start_id_tag
    long_id = "f" * 36
    result = await start(sim, long_id, id_token=token(tag, "Central"), trigger_reason="RemoteStart")
    assert result.id_token_info == {"status": "Accepted"}
    assert h.charger.find_transaction(long_id) is not None


async def test_two_evses_run_their_own_transactions(h: Harness, sim: Any) -> None:
    await start(sim, "A", evse=1, wh=1000)
    await start(sim, "B", evse=2, wh=5000)
    await sim.tx_event("Updated", "A", meter_value=meter(1100, -60))  # no evse: it is known
    await sim.tx_event("Updated", "B", meter_value=meter(5300, -60), evse={"id": 2})
    assert h.charger.connectors[1].transaction.energy_wh == 100
    assert h.charger.connectors[2].transaction.energy_wh == 300


async def test_signed_meter_values_are_kept_as_sent(h: Harness, sim: Any) -> None:
    begin = {
        "signedMeterData": "AAEC",
        "signingMethod": "ECDSA-secp256r1-SHA256",
        "encodingMethod": "OCMF",
        "publicKey": "PK",
    }
    end = {**begin, "signedMeterData": "AwQF"}
    await start(
        sim,
        meter_value=[
            {
                "timestamp": now_iso(-600),
                "sampledValue": [sampled(1000, ENERGY, context="Transaction.Begin", signed=begin)],
            }
        ],
    )
    await sim.tx_event(
        "Ended",
        "TX1",
        trigger_reason="StopAuthorized",
        meter_value=[
            {
                "timestamp": now_iso(),
                "sampledValue": [sampled(1800, ENERGY, context="Transaction.End", signed=end)],
            }
        ],
    )
    connector = h.charger.connectors[1]
    tx = connector.last_transaction
    assert tx.signed_start == begin
    assert tx.signed_end == end
    assert connector.meter.signed_meter_value == end
    assert tx.energy_wh == 800
    # ... and they survive a restart.
    restored = type(tx).from_dict(tx.to_dict())
    assert (restored.signed_start, restored.signed_end) == (begin, end)


@pytest.mark.parametrize(("stopper", "verdict"), [("MASTER", "Accepted"), ("STRANGER", "Invalid")])
async def test_stop_token_of_an_unknown_transaction_does_not_own_it(
    h: Harness, sim: Any, directory: MemoryDirectory, stopper: str, verdict: str
) -> None:
    """A session whose Started we never saw (lost, or refused while the station was Pending):
    the first message of it is the card that stops it. The card gets its verdict, but neither
    owns the session nor flags it refused (the current control would stop someone's charging)."""
    directory.id_tags.add("MASTER")
    result = await sim.tx_event(
        "Updated",
        "U1",
        trigger_reason="StopAuthorized",
        evse={"id": 1, "connectorId": 1},
        id_token=token(stopper),
        charging_state="Charging",  # the station charges on when the card is refused
        meter_value=meter(3000, -600),
        timestamp=now_iso(-600),
    )
    assert result.id_token_info == {"status": verdict}
    tx = h.charger.connectors[1].transaction
    assert tx is not None
    assert (tx.id_tag, tx.authorized) == (None, True)
    await sim.tx_event("Ended", "U1", id_token=token(stopper), meter_value=meter(3500))
    last = h.charger.connectors[1].last_transaction
    assert last is not None
    assert (last.id_tag, last.energy_wh) == (None, 500)


async def test_a_late_signed_reading_is_not_the_sessions_latest(h: Harness, sim: Any) -> None:
    """A gap filled late (seqNo 1 after seqNo 2, offline): its signed value is older than the one
    kept; the session's latest signed value (the billing check's) stays seqNo 2's, as the
    connector's does, also when the Ended carries no reading."""

    def signed(data: str, wh: float, offset_s: float, context: str | None = None) -> Any:
        value = {
            "signedMeterData": data,
            "signingMethod": "ECDSA-secp256r1-SHA256",
            "encodingMethod": "OCMF",
            "publicKey": "PK",
        }
        sample = sampled(wh, ENERGY, context=context, signed=value)
        return [{"timestamp": now_iso(offset_s), "sampledValue": [sample]}], value

    begin, _ = signed("B0", 1000, -600, "Transaction.Begin")
    await start(sim, "SG", seq_no=0, meter_value=begin)
    newer, newest_signed = signed("S2", 1800, -100)
    await sim.tx_event("Updated", "SG", seq_no=2, timestamp=now_iso(-100), meter_value=newer)
    older, _ = signed("S1", 1400, -300)
    await sim.tx_event(
        "Updated", "SG", seq_no=1, timestamp=now_iso(-300), offline=True, meter_value=older
    )
    await sim.tx_event("Ended", "SG", seq_no=3, stopped_reason="Local")
    connector = h.charger.connectors[1]
    tx = connector.last_transaction
    assert tx is not None
    assert tx.energy_wh == 800
    assert connector.meter.signed_meter_value == newest_signed
    assert tx.signed_end == newest_signed


async def test_units_and_multipliers(h: Harness, sim: Any) -> None:
    await sim.meter_values(
        1,
        [
            sampled(12.5, ENERGY, unit="kWh"),
            sampled(7.2, "Power.Active.Import", unit="kW"),
            sampled(160, "Current.Import", unit="A", multiplier=-1, phase="L1"),
            sampled(230, "Voltage", unit="V", phase="L1-N"),
            sampled(55, "SoC", unit="Percent"),
        ],
    )
    meter_state = h.charger.connectors[1].meter
    assert meter_state.energy_register_wh == 12500
    assert meter_state.power_w == 7200
    assert meter_state.current_a.l1 == 16
    assert meter_state.voltage_v.l1 == 230
    assert meter_state.soc_percent == 55


async def test_meter_values_outside_transactions_and_evse_0(h: Harness, sim: Any) -> None:
    await sim.meter_values(1, [sampled(3000, ENERGY)], now_iso(-120))
    assert h.charger.connectors[1].meter.energy_register_wh == 3000
    assert h.charger.lifetime_energy.total_wh == 3000
    # The station's main meter (EVSE 0) takes over the lifetime count from its first value on
    # (the 1.6 rule for connector 0): its rises count, its own total is not taken over.
    await sim.meter_values(0, [sampled(9000, ENERGY)], now_iso(-60))
    await sim.meter_values(0, [sampled(9400, ENERGY)])
    assert h.charger.lifetime_energy.total_wh == 3400
    # An outlet still counts (a main meter may fall silent), but only what exceeds what the main
    # meter counted ahead of it, and the other way round: the total follows whichever is ahead,
    # nothing counted twice.
    await sim.meter_values(1, [sampled(3100, ENERGY)])
    assert h.charger.lifetime_energy.total_wh == 3400  # within the main meter's 400
    await sim.meter_values(1, [sampled(3500, ENERGY)], now_iso(60))
    assert h.charger.lifetime_energy.total_wh == 3500  # 100 beyond it
    await sim.meter_values(0, [sampled(9500, ENERGY)])
    assert h.charger.lifetime_energy.total_wh == 3500  # the outlet had counted it
    await sim.meter_values(0, [sampled(9700, ENERGY)], now_iso(120))
    assert h.charger.lifetime_energy.total_wh == 3700  # 3000 + the main meter's 700
    assert h.charger.connectors[0].meter.energy_register_wh == 9700
    assert h.charger.connectors[1].transaction is None


# --- Transactions out of order: offline queues, reused ids, costs ------------------------------
@pytest.mark.parametrize("known_register", [True, False], ids=["register_known", "first_reading"])
async def test_ended_before_its_started_keeps_the_session_energy(
    h: Harness, sim: Any, known_register: bool
) -> None:
    """An offline queue delivered out of order (E04/E11): the Ended (Transaction.End 2000 Wh)
    before its Started (Transaction.Begin 1000 Wh, -600 s) and Updated. The late Started moves the
    ended session's start back and gives it the energy since its Begin value: 1000 Wh, whether the
    EVSE's register was known before (the Ended then counts from it) or the End value is the
    first one ever (then only the Started can tell)."""
    if known_register:
        await sim.meter_values(1, [sampled(1000, ENERGY)], now_iso(-4000))
    await sim.tx_event(
        "Ended",
        "OOO",
        seq_no=2,
        offline=True,
        evse={"id": 1, "connectorId": 1},
        timestamp=now_iso(-60),
        stopped_reason="EVDisconnected",
        meter_value=meter(2000, -60, "Transaction.End"),
    )
    await start(sim, "OOO", seq_no=0, offline=True, wh=1000)  # Begin 1000 Wh at -600 s
    await sim.tx_event(
        "Updated",
        "OOO",
        seq_no=1,
        offline=True,
        timestamp=now_iso(-300),
        meter_value=meter(1500, -300),
    )
    connector = h.charger.connectors[1]
    tx = connector.last_transaction
    assert tx is not None
    assert tx.transaction_id == "OOO"
    assert connector.transaction is None
    assert tx.started_at < parse_timestamp(now_iso(-500))
    assert h.charger.lifetime_energy.total_wh == 2000
    assert (tx.energy_wh, connector.session_energy_wh) == (1000, 1000)
    assert h.kinds().count("session_started") == 1
    # The session's record (SESSION_ENDED's facts) follows.
    updated = [e for e in h.events if e.kind is EventKind.SESSION_UPDATED]
    assert updated[-1].data["energy_wh"] == 1000
    assert updated[-1].data["started_at"] == tx.started_at.isoformat()
    # Its Started sent again under a new seqNo (a station numbering its retries) is no news.
    events = len(h.events)
    await start(sim, "OOO", seq_no=3, offline=True, wh=1000)
    assert tx.energy_wh == 1000
    assert len(h.events) == events


async def test_reused_transaction_id_after_a_station_reboot_is_a_new_session(
    h: Harness, sim: Any
) -> None:
    """A station that numbers its transactions "1", "2", ... starts over after a reboot: a
    Started of "1" an hour after the old "1" ended (seqNo 0 again). A replay carries its
    original time; this one began after the old one ended: a new session, with its own energy."""
    await start(sim, "1", seq_no=0, at=-7200, wh=1000)
    await sim.tx_event(
        "Ended",
        "1",
        seq_no=1,
        timestamp=now_iso(-6000),
        stopped_reason="EVDisconnected",
        meter_value=meter(2000, -6000, "Transaction.End"),
    )
    old = h.charger.connectors[1].last_transaction
    await sim.boot()
    await start(sim, "1", seq_no=0, wh=2000)
    await sim.tx_event(
        "Updated", "1", seq_no=1, timestamp=now_iso(-60), meter_value=meter(2500, -60)
    )
    tx = h.charger.connectors[1].transaction
    assert tx is not None
    assert tx is not old
    assert tx.energy_wh == 500
    assert old is not None
    assert old.energy_wh == 1000
    assert h.kinds().count("session_started") == 2


async def _live_and_held_old(sim: Any, old_begin: list[Any] | None) -> dict[str, Any]:
    """LIVE (5000 Wh, -600 s) runs; OLD, an offline session of -7200 s (its Started with
    ``old_begin``), then an Updated of OLD (3000 Wh): held behind LIVE. OLD's message extras."""
    await sim.meter_values(1, [sampled(1000, ENERGY)], now_iso(-8000))
    await start(sim, "LIVE", wh=5000)  # began 600 s ago
    old = {"offline": True, "evse": {"id": 1, "connectorId": 1}}
    if old_begin is not None:
        old["meter_value"] = old_begin
    await sim.tx_event("Started", "OLD", timestamp=now_iso(-7200), id_token=token(), **old)
    old.pop("meter_value", None)
    await sim.tx_event("Updated", "OLD", timestamp=now_iso(-5400), meter_value=meter(3000, -5400))
    return old


@pytest.mark.parametrize("old_begin", [True, False], ids=["begin_value", "no_meter_values"])
async def test_held_session_whose_end_comes_after_the_running_one_ended(
    h: Harness, sim: Any, old_begin: bool
) -> None:
    """test_v201_bad_input.py::test_offline_session_sent_behind_the_running_one_is_history, but
    the running LIVE ends before the held OLD's Ended arrives (a slow offline queue, a short
    session). OLD is history still: a past session with its own energy, LIVE keeps its 1000 Wh
    and stays the EVSE's last session; OLD never opens as a live session (it took everything up
    to LIVE's end: LIVE's energy counted twice). Also when OLD's Started had no meter values
    (nothing then shows it older than LIVE but its having been held)."""
    begin = meter(1000, -7200, "Transaction.Begin") if old_begin else None
    old = await _live_and_held_old(sim, begin)
    await sim.tx_event(
        "Ended",
        "LIVE",
        timestamp=now_iso(-60),
        stopped_reason="EVDisconnected",
        meter_value=meter(6000, -60, "Transaction.End"),
    )
    await sim.tx_event(
        "Ended",
        "OLD",
        timestamp=now_iso(-3600),
        stopped_reason="EVDisconnected",
        meter_value=meter(4000, -3600, "Transaction.End"),
        **old,
    )
    connector = h.charger.connectors[1]
    live = h.charger.find_ended_transaction("LIVE")
    past = h.charger.find_ended_transaction("OLD")
    assert live is not None
    assert past is not None
    assert h.charger.lifetime_energy.total_wh == 6000
    assert live.energy_wh == 1000
    assert past.energy_wh == (3000 if old_begin else 1000)  # its own readings
    assert connector.last_transaction is live
    assert connector.last_session_energy_wh == 1000


async def test_old_session_sent_after_a_newer_one_ended_is_a_past_session(
    h: Harness, sim: Any
) -> None:
    """test_v16_session.py::test_old_session_sent_after_a_newer_one_ended_is_a_past_session for
    2.x (the same meaning lands in the same place): back from offline, the station sends its
    queued sessions newest first: B (5000 -> 8000 Wh) complete, then the older A (1000 -> 3000 Wh).
    A is a past session of 2000 Wh (not a live one credited up to B's end), B stays the EVSE's
    last session."""
    off = {"offline": True, "evse": {"id": 1, "connectorId": 1}}
    for tx, begin_wh, at in (("B", 5000, -3600), ("A", 1000, -7200)):
        await sim.tx_event(
            "Started",
            tx,
            seq_no=0,
            timestamp=now_iso(at),
            id_token=token(),
            meter_value=meter(begin_wh, at, "Transaction.Begin"),
            **off,
        )
        await sim.tx_event(
            "Updated",
            tx,
            seq_no=1,
            timestamp=now_iso(at + 900),
            meter_value=meter(begin_wh + 1000, at + 900),
            **off,
        )
        await sim.tx_event(
            "Ended",
            tx,
            seq_no=2,
            timestamp=now_iso(at + 1800),
            stopped_reason="EVDisconnected",
            meter_value=meter(
                begin_wh + (3000 if tx == "B" else 2000), at + 1800, "Transaction.End"
            ),
            **off,
        )
        if tx == "B":
            lifetime = h.charger.lifetime_energy.total_wh
    past = h.charger.find_ended_transaction("A")
    assert past is not None
    assert past.energy_wh == 2000
    connector = h.charger.connectors[1]
    assert h.charger.lifetime_energy.total_wh == lifetime
    assert connector.last_transaction is not None
    assert connector.last_transaction.transaction_id == "B"
    assert connector.last_session_energy_wh == 3000


async def test_started_without_meter_arriving_after_its_updated(h: Harness, sim: Any) -> None:
    """E01: a Started without a Transaction.Begin reading counts from the EVSE's last register
    (1000 Wh here). Its Started (-600 s, no meter values) and an Updated (1500 Wh, -60 s) count
    the same in either order (an offline queue that retried the Started): 500 Wh, from -600 s;
    the Updated's periodic reading is no start value."""
    for evse in (1, 2):
        await sim.meter_values(evse, [sampled(1000, ENERGY)], now_iso(-4000))

    async def started(tx: str, evse: int) -> None:
        await sim.tx_event(
            "Started",
            tx,
            seq_no=0,
            evse={"id": evse, "connectorId": 1},
            timestamp=now_iso(-600),
            id_token=token(),
            charging_state="Charging",
        )

    async def updated(tx: str, evse: int) -> None:
        await sim.tx_event(
            "Updated",
            tx,
            seq_no=1,
            evse={"id": evse, "connectorId": 1},
            timestamp=now_iso(-60),
            meter_value=meter(1500, -60, "Sample.Periodic"),
            charging_state="Charging",
        )

    await started("IN_ORDER", 2)
    await updated("IN_ORDER", 2)
    await updated("LATE_START", 1)
    await started("LATE_START", 1)
    in_order = h.charger.connectors[2].transaction
    late = h.charger.connectors[1].transaction
    assert in_order is not None
    assert late is not None
    assert in_order.energy_wh == late.energy_wh == 500
    assert abs((late.started_at - in_order.started_at).total_seconds()) < 5  # both -600 s


async def test_same_transaction_id_on_two_evses_never_mixes_their_meters(
    h: Harness, sim: Any
) -> None:
    """A station that numbers its transactions per EVSE (against the spec: ids are unique per
    station) starts "1" on EVSE 1 (1000 Wh) and then "1" on EVSE 2 (its register at 50,000 Wh).
    That Started names another EVSE and began later: another transaction. Each EVSE's messages
    go to its own session, its Ended ends its own; no meter gets the other's register."""
    await start(sim, "1", evse=1, wh=1000, seq_no=0)
    evse2 = {"evse": {"id": 2, "connectorId": 1}}
    await sim.tx_event(
        "Started",
        "1",
        seq_no=0,
        timestamp=now_iso(-300),
        id_token=token(),
        charging_state="Charging",
        meter_value=meter(50_000, -300, "Transaction.Begin"),
        **evse2,
    )
    await sim.tx_event(
        "Updated", "1", seq_no=1, timestamp=now_iso(-200), meter_value=meter(50_100, -200), **evse2
    )
    await sim.tx_event(
        "Updated",
        "1",
        seq_no=1,
        evse={"id": 1, "connectorId": 1},
        timestamp=now_iso(-100),
        meter_value=meter(1300, -100),
    )
    one, two = h.charger.connectors[1], h.charger.connectors[2]
    assert one.meter.energy_register_wh == 1300
    assert one.meter.energy_candidate is None  # EVSE 2's register never reached it
    assert one.transaction is not None
    assert one.transaction.energy_wh == 300
    assert two.transaction is not None
    assert two.transaction.energy_wh == 100
    await sim.tx_event(
        "Ended",
        "1",
        seq_no=2,
        stopped_reason="EVDisconnected",
        meter_value=meter(50_200, -10, "Transaction.End"),
        **evse2,
    )
    assert two.transaction is None
    assert two.last_transaction is not None
    assert two.last_transaction.energy_wh == 200
    assert one.transaction is not None
    assert one.transaction.energy_wh == 300


async def test_energy_credited_by_a_late_started_is_costed(h: Harness, sim: Any) -> None:
    """test_energy_quirks.py::test_v2_started_arriving_after_its_updated_keeps_the_energy_since_
    begin with a price known (0.30 per kWh): the 500 Wh the late Started gives the session are
    costed like any credit (they were 500 Wh for 0.00)."""
    h.charger.energy_price = 0.30
    await sim.tx_event(
        "Updated",
        "OOO1",
        seq_no=1,
        evse={"id": 1, "connectorId": 1},
        timestamp=now_iso(-60),
        meter_value=meter(1500, -60, "Sample.Periodic"),
        charging_state="Charging",
        trigger_reason="MeterValuePeriodic",
    )
    await start(sim, "OOO1", seq_no=0, wh=1000)  # Started -600 s, Begin 1000 Wh
    tx = h.charger.connectors[1].transaction
    assert tx is not None
    assert tx.energy_wh == pytest.approx(500)
    assert tx.cost == pytest.approx(0.15)


async def test_energy_credited_to_a_start_older_than_the_meter_is_costed(
    h: Harness, sim: Any
) -> None:
    """In order, the EVSE's idle MeterValues (1500 Wh, -60 s) before a Started of -600 s with
    Begin 1000 Wh: the session is credited the 500 Wh since its Begin value, and costed them."""
    h.charger.energy_price = 0.30
    await sim.meter_values(1, [sampled(1000, ENERGY)], now_iso(-4000))
    await sim.meter_values(1, [sampled(1500, ENERGY)], now_iso(-60))
    await start(sim, "S", wh=1000)  # Started -600 s, Begin 1000 Wh
    tx = h.charger.connectors[1].transaction
    assert tx is not None
    assert tx.energy_wh == pytest.approx(500)
    assert tx.cost == pytest.approx(0.15)


async def test_a_past_session_is_costed_like_a_buffered_one(h: Harness, sim: Any) -> None:
    """An offline session sent behind the running one (a past session) is costed like any
    credit; at the prices of when it ran: test_cost_when_drawn.py."""
    h.charger.energy_price = 0.30
    await sim.meter_values(1, [sampled(1000, ENERGY)], now_iso(-8000))
    await start(sim, "LIVE", wh=5000)
    old = {"offline": True, "evse": {"id": 1, "connectorId": 1}}
    await sim.tx_event(
        "Started",
        "OLD",
        timestamp=now_iso(-7200),
        id_token=token(),
        meter_value=meter(1000, -7200, "Transaction.Begin"),
        **old,
    )
    await sim.tx_event(
        "Ended",
        "OLD",
        timestamp=now_iso(-3600),
        stopped_reason="EVDisconnected",
        meter_value=meter(2000, -3600, "Transaction.End"),
        **old,
    )
    past = h.charger.find_ended_transaction("OLD")
    assert past is not None
    assert past.energy_wh == 1000
    assert past.cost == pytest.approx(0.30)


# --- ISO 15118 ------------------------------------------------------------------------------------
async def ev_charging_needs(sim: Any, needs: dict[str, Any]) -> Any:
    """The station sends NotifyEVChargingNeeds of EVSE 1 with ``needs``."""
    return await sim.call(sim._call.NotifyEVChargingNeeds(evse_id=1, charging_needs=needs))


async def test_ev_charging_needs_ac(h: Harness, sim: Any) -> None:
    await start(sim)
    departure = now_iso(3600 * 8)
    result = await ev_charging_needs(
        sim,
        {
            "requestedEnergyTransfer": "AC_three_phase",
            "departureTime": departure,
            "acChargingParameters": {
                "energyAmount": 20000,
                "evMinCurrent": 6,
                "evMaxCurrent": 16,
                "evMaxVoltage": 400,
            },
        },
    )
    assert result.status == "Accepted"
    needs = h.charger.connectors[1].ev_charging_needs
    assert needs is not None
    assert needs.requested_energy_transfer == "AC_three_phase"
    assert needs.energy_amount_wh == 20000
    assert (needs.ev_min_current_a, needs.ev_max_current_a, needs.ev_max_voltage_v) == (6, 16, 400)
    assert needs.departure_time is not None
    assert needs.departure_time.isoformat().startswith(departure[:16])
    # Its energy comes on top of what the session had when it asked.
    session_wh = needs.session_energy_wh
    assert session_wh == h.charger.connectors[1].session_energy_wh
    assert needs.target_session_wh == session_wh + 20000
    # The EV's needs belong to its session.
    await sim.tx_event("Ended", "TX1", trigger_reason="EVDeparted", stopped_reason="EVDisconnected")
    assert h.charger.connectors[1].ev_charging_needs is None


@pytest.mark.parametrize("h2", [OCPP21], indirect=True)
async def test_ev_charging_needs_v2x_21(h: Harness, sim: Any) -> None:
    """2.1's V2X parameters (a bidirectional car) give the same needs as AC and DC ones: its
    energy request, currents, voltage, power and target SoC."""
    result = await ev_charging_needs(
        sim,
        {
            "requestedEnergyTransfer": "AC_BPT",
            "v2xChargingParameters": {
                "evTargetEnergyRequest": 30000,
                "minChargeCurrent": 6,
                "maxChargeCurrent": 32,
                "maxVoltage": 400,
                "maxChargePower": 22000,
                "targetSoC": 80,
            },
        },
    )
    assert result.status == "Accepted"
    needs = h.charger.connectors[1].ev_charging_needs
    assert needs is not None
    assert needs.requested_energy_transfer == "AC_BPT"
    assert (needs.energy_amount_wh, needs.ev_min_current_a, needs.ev_max_current_a) == (
        30000,
        6,
        32,
    )
    assert (needs.ev_max_voltage_v, needs.ev_max_power_w, needs.full_soc_percent) == (
        400,
        22000,
        80,
    )


async def test_ev_charging_needs_dc_with_soc(h: Harness, sim: Any) -> None:
    result = await ev_charging_needs(
        sim,
        {
            "requestedEnergyTransfer": "DC",
            "dcChargingParameters": {
                "evMaxCurrent": 200,
                "evMaxVoltage": 800,
                "evMaxPower": 150000,
                "stateOfCharge": 35,
                "evEnergyCapacity": 77000,
                "fullSoC": 100,
                "bulkSoC": 80,
                "energyAmount": 50000,
            },
        },
    )
    assert result.status == "Accepted"
    needs = h.charger.connectors[1].ev_charging_needs
    assert needs is not None
    assert (needs.soc_percent, needs.ev_max_power_w, needs.ev_energy_capacity_wh) == (
        35,
        150000,
        77000,
    )
    assert (needs.full_soc_percent, needs.bulk_soc_percent, needs.energy_amount_wh) == (
        100,
        80,
        50000,
    )
    assert needs.departure_time is None


async def test_ev_charging_schedule_accepted(sim: Any) -> None:
    result = await sim.call(
        sim._call.NotifyEVChargingSchedule(
            time_base=now_iso(),
            evse_id=1,
            charging_schedule={
                "id": 1,
                "chargingRateUnit": "W",
                "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 11000}],
            },
        )
    )
    assert result.status == "Accepted"


# --- Notifications ------------------------------------------------------------------------------
async def test_firmware_and_log_status(h: Harness, sim: Any) -> None:
    await sim.call(sim._call.FirmwareStatusNotification(status="Downloading", request_id=3))
    await sim.call(sim._call.LogStatusNotification(status="Uploaded", request_id=4))
    assert h.charger.firmware_status == "Downloading"
    assert h.charger.diagnostics_status == "Uploaded"
    assert h.kinds() == ["firmware_status", "diagnostics_status"]


async def test_security_event_is_an_event(h: Harness, sim: Any) -> None:
    at = now_iso(-5)
    await sim.call(
        sim._call.SecurityEventNotification(
            type="InvalidCsmsCertificate", timestamp=at, tech_info="CN mismatch"
        )
    )
    event = h.events[-1]
    assert event.kind is EventKind.SECURITY_EVENT
    assert event.data["type"] == "InvalidCsmsCertificate"
    assert event.data["tech_info"] == "CN mismatch"
    assert event.data["timestamp"].startswith(at[:19])


async def test_reservation_status_update_is_an_event(h: Harness, sim: Any) -> None:
    await sim.call(
        sim._call.ReservationStatusUpdate(reservation_id=7, reservation_update_status="Expired")
    )
    assert h.events[-1].kind is EventKind.RESERVATION_STATUS
    assert h.events[-1].data == {"reservation_id": 7, "status": "Expired"}


async def test_data_transfer_is_an_event(h: Harness, sim: Any) -> None:
    result = await sim.call(sim._call.DataTransfer(vendor_id="acme", message_id="m", data={"a": 1}))
    assert result.status == "Accepted"
    assert h.events[-1].kind is EventKind.DATA_TRANSFER
    assert h.events[-1].data == {"vendor_id": "acme", "message_id": "m", "data": {"a": 1}}


async def test_monitoring_and_limit_notifications_are_acknowledged(h: Harness, sim: Any) -> None:
    # ReportChargingProfiles as the station sends it unasked (a profile of the operator's).
    report = {
        "chargingLimitSource": "CSO",
        "evseId": 1,
        "chargingProfile": [
            {
                "id": 1,
                "stackLevel": 0,
                "chargingProfilePurpose": "TxDefaultProfile",
                "chargingProfileKind": "Absolute",
                "chargingSchedule": [
                    {
                        "id": 1,
                        "chargingRateUnit": "A",
                        "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 16}],
                    }
                ],
            }
        ],
    }
    variable = {"component": {"name": "EVSE", "evse": {"id": 1}}, "variable": {"name": "Power"}}
    event = {
        "eventId": 1,
        "timestamp": now_iso(),
        "trigger": "Alerting",
        "actualValue": "high",
        "eventNotificationType": "HardWiredMonitor",
        **variable,
    }
    answers = [
        await sim.request(
            "NotifyEvent", {"generatedAt": now_iso(), "seqNo": 0, "eventData": [event]}
        ),
        await sim.request(
            "NotifyEvent",
            {"generatedAt": now_iso(), "seqNo": 1, "eventData": [{**event, "cleared": True}]},
        ),
        await sim.request(
            "NotifyMonitoringReport",
            {
                "requestId": 1,
                "seqNo": 0,
                "generatedAt": now_iso(),
                "monitor": [
                    {
                        **variable,
                        "variableMonitoring": [
                            {
                                "id": 1,
                                "transaction": False,
                                "value": 1.0,
                                "type": "UpperThreshold",
                                "severity": 5,
                                **(
                                    {"eventNotificationType": "CustomMonitor"}
                                    if h.subprotocol == OCPP21
                                    else {}
                                ),
                            }
                        ],
                    }
                ],
            },
        ),
        await sim.request(
            "NotifyChargingLimit",
            {"chargingLimit": {"chargingLimitSource": "EMS"}, "evseId": 1},
        ),
        await sim.request("ClearedChargingLimit", {"chargingLimitSource": "EMS"}),
        await sim.request("ReportChargingProfiles", {"requestId": 2, **report}),
        await sim.request("PublishFirmwareStatusNotification", {"status": "Published"}),
        await sim.request(
            "NotifyCustomerInformation",
            {"data": "x", "seqNo": 0, "generatedAt": now_iso(), "requestId": 1},
        ),
        await sim.request("NotifyDisplayMessages", {"requestId": 1}),
    ]
    assert [a.error_code for a in answers] == [None] * len(answers)
    assert [a.payload for a in answers] == [{}] * len(answers)
    assert h.session.profile_reports[0]["requestId"] == 2
    # Unasked reports do not pile up: only the latest are kept.
    for request_id in range(3, 3 + PROFILE_REPORTS_KEPT):
        await sim.request("ReportChargingProfiles", {"requestId": request_id, **report})
    assert len(h.session.profile_reports) == PROFILE_REPORTS_KEPT
    assert h.session.profile_reports[0]["requestId"] == 3


# --- Negotiation (real CentralSystem) -----------------------------------------------------------
async def _negotiate(central: CentralSystem, offered: list[str]) -> str | None:
    async with connect(
        f"ws://127.0.0.1:{central.port}/{CHARGER_ID}",
        subprotocols=offered,  # type: ignore[arg-type]
    ) as ws:
        await wait_for(lambda: central.charger(CHARGER_ID).connected)
        return ws.subprotocol


async def accepted_central(
    make_central: MakeCentral, directory: MemoryDirectory, *versions: str
) -> CentralSystem:
    """A CentralSystem that accepts CP1, speaking ``versions`` (when given) only."""
    directory.admissions[CHARGER_ID] = Admission.ACCEPTED
    if not versions:
        return await make_central()
    return await make_central(
        settings=ServerSettings(host="127.0.0.1", port=0, ocpp_versions=versions)
    )


async def test_the_chargers_preferred_version_is_spoken(
    make_central: MakeCentral, directory: MemoryDirectory
) -> None:
    """A charger lists its versions in its order of preference: the first we speak wins."""
    central = await accepted_central(make_central, directory)
    assert await _negotiate(central, [OCPP16, OCPP201, OCPP21]) == OCPP16
    assert await _negotiate(central, [OCPP21, OCPP201, OCPP16]) == OCPP21
    assert await _negotiate(central, [OCPP201, OCPP16]) == OCPP201
    assert await _negotiate(central, [OCPP16]) == OCPP16


async def test_session_classes_by_version(
    make_central: MakeCentral, directory: MemoryDirectory
) -> None:
    central = await accepted_central(make_central, directory)
    for offered, cls in ((OCPP21, V21Session), (OCPP201, V201Session)):
        async with connect(
            f"ws://127.0.0.1:{central.port}/{CHARGER_ID}",
            subprotocols=[offered],  # type: ignore[list-item]
        ):
            await wait_for(lambda cls=cls: type(central.session(CHARGER_ID)) is cls)
            assert central.charger(CHARGER_ID).ocpp_version == offered


async def test_disabled_versions_are_skipped(
    make_central: MakeCentral, directory: MemoryDirectory
) -> None:
    central = await accepted_central(make_central, directory, OCPP201, OCPP16)
    assert await _negotiate(central, [OCPP21, OCPP201, OCPP16]) == OCPP201
    with pytest.raises(InvalidStatus) as refused:
        await _negotiate(central, [OCPP21])
    assert refused.value.response.status_code == 400


async def test_without_16_a_charger_offering_nothing_is_refused(
    make_central: MakeCentral, directory: MemoryDirectory
) -> None:
    central = await accepted_central(make_central, directory, OCPP21)
    with pytest.raises(InvalidStatus) as refused:
        await _negotiate(central, [])
    assert refused.value.response.status_code == 400
    assert await _negotiate(central, [OCPP16, OCPP21]) == OCPP21
