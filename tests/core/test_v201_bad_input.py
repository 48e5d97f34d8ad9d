"""2.x bad input and unreliable delivery: the OCPP-J 2.0.1 CallErrors, and nothing lost or counted
twice when a station sends messages again, late, offline, out of order or for transactions that
ended. Every test runs for 2.0.1 and 2.1."""

from __future__ import annotations

import json
import logging
from datetime import timedelta
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection

from custom_components.ocpp_ems.core.model import ConnectorStatus, EventKind, EventSequence
from custom_components.ocpp_ems.core.persistence import charger_from_dict, charger_to_dict
from custom_components.ocpp_ems.core.protocol.v201.station import station_state
from custom_components.ocpp_ems.core.protocol.v201.transactions import (
    MAX_HELD_EVENTS,
    MAX_HELD_TRANSACTIONS,
)
from custom_components.ocpp_ems.core.protocol.v201.tx_sequence import (
    MAX_SEQ_RANGES,
    Seen,
    missing,
    observe,
)
from custom_components.ocpp_ems.core.timeutil import parse_timestamp

from .test_v201_session import ENERGY, meter, start, token
from .v201_harness import (
    OCPP21,
    Harness,
    assert_usable,
    exchange,
    now_iso,
    sampled,
)


@pytest.fixture
def h(h2: Harness) -> Harness:
    """Every test of this module runs for 2.0.1 and 2.1 (``h2``, conftest.py)."""
    return h2


def tx_payload(
    kind: str, tx: str, seq_no: int, offset_s: float = 0.0, **more: Any
) -> dict[str, Any]:
    """A TransactionEvent payload as on the wire (for :meth:`SimStation.request`)."""
    info = {"transactionId": tx, **more.pop("info", {})}
    return {
        "eventType": kind,
        "timestamp": now_iso(offset_s),
        "triggerReason": more.pop("trigger", "MeterValuePeriodic"),
        "seqNo": seq_no,
        "transactionInfo": info,
        **more,
    }


# --- frames and schemas -------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("frame", "expected_id", "code"),
    [
        ("this is not json", "-1", "RpcFrameworkError"),
        ('[2, "a", "Heartbeat"', "a", "RpcFrameworkError"),
        ('{"not": "an array"}', "-1", "RpcFrameworkError"),
        ('[7, "x1", "Heartbeat", {}]', "x1", "MessageTypeNotSupported"),
        ('[2, "x3", "Heartbeat"]', "x3", "RpcFrameworkError"),
        ('[2, "x5", "NoSuchAction", {}]', "x5", "NotImplemented"),
        # Known to 2.x, not handled here (CSMS -> station actions): recognised, not supported.
        ('[2, "x6", "ClearCache", {}]', "x6", "NotSupported"),
        ('[2, "x7", "Reset", {"type": "Immediate"}]', "x7", "NotSupported"),
    ],
)
async def test_frame_errors(
    h: Harness, ws: ClientConnection, frame: str, expected_id: str, code: str
) -> None:
    reply = await exchange(ws, frame)
    assert reply[:3] == [4, expected_id, code]
    assert reply[4] == {}
    await assert_usable(ws)


@pytest.mark.parametrize(
    "frame",
    [
        '[5, "r1", "FormatViolation", "bad result", {}]',
        '[6, "s1", "NotifyPeriodicEventStream", {"id": 1, "pending": 0, "basetime": "x", "data": []}]',
    ],
)
async def test_21_message_types_that_get_no_answer(
    h: Harness, ws: ClientConnection, frame: str
) -> None:
    """2.1's CALLRESULTERROR and SEND are never answered; 2.0.1 does not know them."""
    await ws.send(frame)
    if h.subprotocol == OCPP21:
        await assert_usable(ws)  # the next answer is the Heartbeat's: nothing came before it
    else:
        reply = json.loads(await ws.recv())
        assert reply[0] == 4
        assert reply[2] == "MessageTypeNotSupported"
        await assert_usable(ws)


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        (["BootNotification", {"reason": "PowerUp"}], "OccurrenceConstraintViolation"),
        (
            [
                "BootNotification",
                {"reason": "PowerUp", "chargingStation": {"model": 5, "vendorName": "A"}},
            ],
            "TypeConstraintViolation",
        ),
        (["Heartbeat", {"unexpected": 1}], "FormatViolation"),
        (["Heartbeat", []], "TypeConstraintViolation"),
        (
            [
                "StatusNotification",
                {"timestamp": "t", "connectorStatus": "Dancing", "evseId": 1, "connectorId": 1},
            ],
            "PropertyConstraintViolation",
        ),
        (
            [
                "StatusNotification",
                {"timestamp": "t", "connectorStatus": "Available", "evseId": "1", "connectorId": 1},
            ],
            "TypeConstraintViolation",
        ),
        (
            [
                "StatusNotification",
                {"timestamp": "t", "connectorStatus": "Available", "evseId": -1, "connectorId": 1},
            ],
            "PropertyConstraintViolation",
        ),
        (
            [
                "StatusNotification",
                {"timestamp": "t", "connectorStatus": "Available", "evseId": 1, "connectorId": -2},
            ],
            "PropertyConstraintViolation",
        ),
        (
            ["MeterValues", {"evseId": -1, "meterValue": meter(1, 0)}],
            "PropertyConstraintViolation",
        ),
        (
            ["MeterValues", {"evseId": 33, "meterValue": meter(1, 0)}],
            "PropertyConstraintViolation",
        ),
        (
            [
                "StatusNotification",
                {
                    "timestamp": "t",
                    "connectorStatus": "Available",
                    "evseId": 10**9,
                    "connectorId": 1,
                },
            ],
            "PropertyConstraintViolation",
        ),
        (
            [
                "NotifyEVChargingNeeds",
                {"evseId": 40, "chargingNeeds": {"requestedEnergyTransfer": "AC_single_phase"}},
            ],
            "PropertyConstraintViolation",
        ),
        (
            ["TransactionEvent", tx_payload("Started", "T", 0, evse={"id": 33})],
            "PropertyConstraintViolation",
        ),
        (["Authorize", {"idToken": {"idToken": "X" * 300, "type": "ISO14443"}}], None),
        (
            ["TransactionEvent", tx_payload("Started", "T", "0")],
            "TypeConstraintViolation",
        ),
        (
            ["TransactionEvent", tx_payload("Started", "T", 0, evse={"id": -1})],
            "PropertyConstraintViolation",
        ),
        (
            ["TransactionEvent", tx_payload("Begun", "T", 0)],
            "PropertyConstraintViolation",
        ),
    ],
)
async def test_schema_violations_get_the_201_codes(
    h: Harness, ws: ClientConnection, payload: list[Any], code: str | None
) -> None:
    reply = await exchange(ws, [2, "s1", *payload])
    assert reply[:2] == [4, "s1"]
    if code is None:  # idToken length: 36 in 2.0.1, 255 in 2.1
        code = "TypeConstraintViolation"
    assert reply[2] == code
    await assert_usable(ws)
    assert h.charger.find_transaction("T") is None


async def test_corrected_message_after_an_error_is_applied(h: Harness) -> None:
    sim = await h.charger_client(boot=False)
    wrong = tx_payload("Started", "T1", "0", evse={"id": 1})
    assert (await sim.request("TransactionEvent", wrong)).error_code == "TypeConstraintViolation"
    right = tx_payload("Started", "T1", 0, evse={"id": 1})
    assert (await sim.request("TransactionEvent", right)).ok
    assert h.charger.find_transaction("T1") is not None


async def test_meter_value_quirks_are_repaired_not_lost(h: Harness) -> None:
    sim = await h.charger_client(boot=False)
    quirky = [
        {
            "timestamp": now_iso(-600),
            "sampledValue": [
                {"value": "1000", "measurand": ENERGY, "context": "Transaction.begin"},
                {"value": 3, "measurand": "Power.Active.Import", "context": "Bogus"},
            ],
        },
        {"timestamp": now_iso(-600), "sampledValue": []},
    ]
    started = tx_payload("Started", "Q1", 0, -600, evse={"id": 1}, meterValue=quirky)
    assert (await sim.request("TransactionEvent", started)).ok
    tx = h.charger.find_transaction("Q1")
    assert tx is not None
    assert tx.meter_start_wh == 1000
    # Nothing usable left in an Ended's readings: the end itself still counts.
    ended = tx_payload("Ended", "Q1", 1, meterValue=[{"timestamp": now_iso(), "sampledValue": []}])
    assert (await sim.request("TransactionEvent", ended)).ok
    assert h.charger.connectors[1].last_transaction is tx
    # A MeterValues without anything usable is acknowledged (a retry would not improve it).
    empty = {"evseId": 1, "meterValue": [{"timestamp": now_iso(), "sampledValue": []}]}
    assert (await sim.request("MeterValues", empty)).payload == {}
    for garbage in ("x", True, "inf"):
        entry = {"timestamp": now_iso(), "sampledValue": [{"value": garbage}]}
        assert (await sim.request("MeterValues", {"evseId": 1, "meterValue": [entry]})).ok
    # A multiplier beyond any meter: the sample is dropped, the others count.
    await sim.meter_values(
        1, [sampled(5, ENERGY, unit="Wh", multiplier=12), sampled(7000, "Power.Active.Import")]
    )
    assert h.charger.connectors[1].meter.power_w == 7000
    assert h.charger.connectors[1].meter.energy_register_wh == 1000  # the session's start


@pytest.mark.parametrize(
    "quirk",
    [
        # A serializer that always writes its lists (TxEndedMeasurands empty): schema minItems 1,
        # the same "no readings" as [{"sampledValue": []}] (repaired, see above).
        {"meterValue": []},
        # The (optional) stop token longer than allowed (36; 2.1: 255): left out, as a 1.6
        # StopTransaction's over-long idTag.
        {"idToken": {"idToken": "X" * 300, "type": "ISO14443"}},
        # Enum values in the wrong case.
        {"triggerReason": "evcommunicationlost", "info": {"stoppedReason": "evdisconnected"}},
        {"info": {"chargingState": "IDLE"}, "idToken": {"idToken": "TAG1", "type": "iso14443"}},
        {"eventType": "ended", "idToken": {"idToken": "X" * 300, "type": "ISO14443"}},
    ],
    ids=[
        "empty_meter_value_list",
        "over_long_stop_token",
        "lowercase_reasons",
        "state_and_type",
        "lowercase_ended_with_long_token",
    ],
)
async def test_a_transactions_end_always_gets_through(h: Harness, quirk: dict[str, Any]) -> None:
    """A CALLERROR to an Ended makes the station retry it MessageAttemptsTransactionEvent times
    and then discard it (E13): the session would never end here. Quirks of a transaction's end
    are repaired (an empty meterValue list dropped, an over-long optional idToken left out, enum
    values taken regardless of case), as 1.6 takes a quirky StopTransaction."""
    sim = await h.charger_client(boot=False)
    await start(sim, "E1", seq_no=0)
    more = {"trigger": "EVCommunicationLost", **quirk}
    more["info"] = {"stoppedReason": "EVDisconnected", **quirk.get("info", {})}
    ended = tx_payload(more.pop("eventType", "Ended"), "E1", 1, **more)
    answer = await sim.request("TransactionEvent", ended)
    assert answer.ok, answer.error_code
    connector = h.charger.connectors[1]
    assert connector.transaction is None
    assert connector.last_transaction is not None
    assert connector.last_transaction.stop_reason == "EVDisconnected"


@pytest.mark.parametrize("kind", ["Started", "Updated"])
async def test_an_over_long_token_that_authorizes_stays_refused(h: Harness, kind: str) -> None:
    """A Started's or Updated's idToken authorizes the session: an over-long one is never left
    out (nor cut: it could match another, listed card). 2.1 allows 255 characters."""
    sim = await h.charger_client(boot=False)
    if kind == "Updated":
        await start(sim, "U1", seq_no=0)
    long = "X" * (300 if h.subprotocol == OCPP21 else 40)
    payload = tx_payload(
        kind, "U1", 1, evse={"id": 1}, idToken={"idToken": long, "type": "ISO14443"}
    )
    answer = await sim.request("TransactionEvent", payload)
    assert answer.error_code == "TypeConstraintViolation"
    # A value that matches none (nor one but for its case) is still refused; so is a wrong type.
    for wrong in ({"triggerReason": "Whatever"}, {"transactionInfo": "E1"}, {"idToken": "TAG1"}):
        payload = {**tx_payload("Ended", "U1", 2, evse={"id": 1}), **wrong}
        assert (await sim.request("TransactionEvent", payload)).error_code is not None


# --- unknown EVSEs --------------------------------------------------------------------------------
async def test_unknown_evse_is_booked_as_the_station_says(h: Harness) -> None:
    sim = await h.charger_client(boot=False)
    await sim.status(1, 1, "Available")
    await sim.status(7, 1, "Occupied")
    assert h.charger.connectors[7].status is ConnectorStatus.PREPARING
    await start(sim, "E7", evse=7)
    assert h.charger.connectors[7].transaction is not None
    assert h.charger.connectors[1].transaction is None


# --- sequence numbers -----------------------------------------------------------------------------
def test_observe_orders_deduplicates_and_finds_gaps() -> None:
    sequence = EventSequence()
    t = parse_timestamp

    assert observe(sequence, 5, t("2025-01-01T10:00:00Z")) is Seen.NEW  # any first number
    assert observe(sequence, 6, t("2025-01-01T10:01:00Z")) is Seen.NEW
    assert observe(sequence, 9, t("2025-01-01T10:04:00Z")) is Seen.NEW
    assert missing(sequence) == [(7, 8)]
    assert observe(sequence, 6, t("2025-01-01T10:01:00Z")) is Seen.DUPLICATE
    assert observe(sequence, 8, t("2025-01-01T10:03:00Z")) is Seen.LATE
    assert missing(sequence) == [(7, 7)]
    assert observe(sequence, 7, t("2025-01-01T10:02:00Z")) is Seen.LATE
    assert (missing(sequence), sequence.seen, sequence.latest) == ([], [(5, 9)], 9)
    # A seen number sent after everything else: the station counts again (it rebooted).
    assert observe(sequence, 0, t("2025-01-01T10:05:00Z")) is Seen.NEW
    assert observe(sequence, 5, t("2025-01-01T10:06:00Z")) is Seen.NEW
    assert (sequence.seen, sequence.latest) == ([(0, 0), (5, 5)], 5)
    assert missing(sequence) == [(1, 4)]
    restored = EventSequence.from_dict(sequence.to_dict())
    assert restored == sequence
    # The schema sets no bound: a gap of 2**53 numbers is one range, not a list to build.
    assert observe(sequence, 2**53, t("2025-01-01T10:07:00Z")) is Seen.NEW
    assert missing(sequence) == [(1, 4), (6, 2**53 - 1)]


def test_a_sequence_keeps_its_newest_ranges() -> None:
    """A station numbering all its messages with one counter leaves a gap at each: the oldest
    ranges are forgotten, and a message below them is late (applied by the energy rules), not a
    duplicate."""
    sequence = EventSequence()
    start = parse_timestamp("2025-01-01T10:00:00Z")
    for n in range(500):
        assert observe(sequence, 2 * n, start + timedelta(seconds=n)) is Seen.NEW
    assert len(sequence.seen) == MAX_SEQ_RANGES
    assert sequence.seen[0] == (2 * (500 - MAX_SEQ_RANGES), 2 * (500 - MAX_SEQ_RANGES))
    assert len(missing(sequence)) == MAX_SEQ_RANGES - 1
    assert observe(sequence, 0, start) is Seen.LATE  # forgotten: not known to be a duplicate
    assert observe(sequence, 998, start + timedelta(seconds=499)) is Seen.DUPLICATE


async def test_a_replay_below_the_kept_ranges_counts_nothing_twice(h: Harness) -> None:
    sim = await h.charger_client(boot=False)
    await start(sim, "M1", seq_no=0, wh=1000)
    count = MAX_SEQ_RANGES + 5

    async def update(n: int) -> None:  # every other seqNo: a gap at each
        offset = n - count
        reading = meter(1000 + 10 * n, offset)
        await sim.tx_event(
            "Updated", "M1", seq_no=2 * n, timestamp=now_iso(offset), meter_value=reading
        )

    for n in range(1, count):
        await update(n)
    tx = h.charger.connectors[1].transaction
    assert tx is not None
    assert tx.energy_wh == 10 * (count - 1)
    # The station replays its first messages (they are below the ranges kept): nothing doubles.
    for n in range(1, 4):
        await update(n)
    assert tx.energy_wh == 10 * (count - 1)
    assert h.charger.lifetime_energy.total_wh == 1000 + 10 * (count - 1)


async def test_duplicates_change_nothing(h: Harness) -> None:
    sim = await h.charger_client(boot=False)
    started = tx_payload(
        "Started",
        "D1",
        0,
        -600,
        evse={"id": 1},
        idToken=token(),
        meterValue=meter(1000, -600, "Transaction.Begin"),
    )
    first = await sim.request("TransactionEvent", started)
    again = await sim.request("TransactionEvent", started)  # our answer was lost
    assert first.payload == again.payload == {"idTokenInfo": {"status": "Accepted"}}
    updated = tx_payload("Updated", "D1", 1, -300, meterValue=meter(1400, -300))
    for _ in range(3):
        assert (await sim.request("TransactionEvent", updated)).ok
    ended = tx_payload(
        "Ended", "D1", 2, info={"stoppedReason": "Remote"}, meterValue=meter(1600, 0)
    )
    assert (await sim.request("TransactionEvent", ended)).ok
    assert (await sim.request("TransactionEvent", ended)).ok
    tx = h.charger.connectors[1].last_transaction
    assert (tx.transaction_id, tx.energy_wh, tx.stop_reason) == ("D1", 600, "Remote")
    assert h.kinds() == ["authorized", "session_started", "session_ended"]
    assert h.charger.lifetime_energy.total_wh == 1600


async def test_replayed_end_after_a_reconnect(h: Harness) -> None:
    sim = await h.charger_client(boot=False)
    await start(sim, "R1")
    ended = tx_payload("Ended", "R1", 1, meterValue=meter(1500, 0, "Transaction.End"))
    assert (await sim.request("TransactionEvent", ended)).ok
    await h._clients[-1].close()
    sim = await h.charger_client(boot=False)  # a new connection replays its queue
    assert (await sim.request("TransactionEvent", ended)).ok
    assert h.kinds().count("session_ended") == 1
    assert h.charger.connectors[1].last_transaction.energy_wh == 500
    assert h.charger.connectors[1].transaction is None


async def test_replayed_start_never_resurrects(h: Harness) -> None:
    sim = await h.charger_client(boot=False)
    await start(sim, "R2")
    await sim.tx_event("Ended", "R2", stopped_reason="EVDisconnected")
    # The station replays its whole queue: the Started and Updated of an ended transaction.
    await start(sim, "R2", seq_no=0)
    await sim.tx_event("Updated", "R2", seq_no=1, charging_state="Charging")
    assert h.charger.connectors[1].transaction is None
    assert h.kinds().count("session_started") == 1
    # The station never sent a StatusNotification: the end says the car left.
    assert h.charger.connectors[1].status is ConnectorStatus.AVAILABLE


async def test_seqno_gaps_are_reported_and_late_messages_fill_them(
    h: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    sim = await h.charger_client(boot=False)
    await start(sim, "G1", seq_no=10, wh=1000)
    await sim.tx_event("Updated", "G1", seq_no=11, meter_value=meter(1200, -500))
    # seqNo 12 and 13 get lost on the way.
    await sim.tx_event("Updated", "G1", seq_no=14, meter_value=meter(1800, -200))
    with caplog.at_level(logging.WARNING):
        await sim.tx_event(
            "Ended", "G1", seq_no=15, stopped_reason="Local", timestamp=now_iso(-100)
        )
    assert "ended without the messages seqNo 12-13" in caplog.text
    tx = h.charger.connectors[1].last_transaction
    assert tx.energy_wh == 800
    # 13 arrives after all: its (older) reading is history, nothing is reopened or recounted.
    await sim.tx_event(
        "Updated", "G1", seq_no=13, timestamp=now_iso(-300), meter_value=meter(1600, -300)
    )
    assert missing(tx.sequence) == [(12, 12)]
    assert tx.energy_wh == 800
    assert h.charger.connectors[1].transaction is None


async def test_seqno_gaps_are_warned_about_once_per_connection(
    h: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    # A station with one counter for all its messages leaves gaps in every transaction: the
    # log says so once, not at every session's end.
    sim = await h.charger_client(boot=False)
    for n, tx_id in enumerate(("S1", "S2", "S3")):
        base = 100 * n
        await start(sim, tx_id, seq_no=base, wh=1000 + base)
        with caplog.at_level(logging.DEBUG):
            await sim.tx_event("Ended", tx_id, seq_no=base + 5, stopped_reason="Local")
    gaps = [r for r in caplog.records if "ended without the messages seqNo" in r.getMessage()]
    assert [r.levelno for r in gaps] == [logging.WARNING, logging.DEBUG, logging.DEBUG]
    assert "later ones on this connection at debug level" in gaps[0].getMessage()
    assert "S3 ended without the messages seqNo 201-204" in gaps[2].getMessage()
    # A new connection warns again (the habit may have changed with a firmware update).
    sim = await h.charger_client(boot=False)
    await start(sim, "S4", seq_no=400, wh=2000)
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        await sim.tx_event("Ended", "S4", seq_no=402, stopped_reason="Local")
    assert "S4 ended without the messages seqNo 401" in caplog.text


async def test_early_ended_before_the_last_meter_values(h: Harness) -> None:
    """Firmware that sends Ended before the Updated with the last readings: those count for the
    session (up to the end) and never reopen it."""
    sim = await h.charger_client(boot=False)
    await start(sim, "L1", seq_no=0, wh=1000)
    await sim.tx_event("Ended", "L1", seq_no=2, stopped_reason="Local", timestamp=now_iso(-60))
    tx = h.charger.connectors[1].last_transaction
    assert tx.energy_wh == 0
    await sim.tx_event(
        "Updated", "L1", seq_no=1, timestamp=now_iso(-61), meter_value=meter(1900, -61)
    )
    assert tx.energy_wh == 900
    assert h.charger.connectors[1].session_energy_wh == 900
    assert h.charger.connectors[1].transaction is None
    assert h.charger.connectors[1].meter.power_w is None  # live values untouched
    # Energy after the end is the station's, not the session's; its live values stay untouched.
    await sim.tx_event(
        "Updated",
        "L1",
        seq_no=3,
        timestamp=now_iso(-10),
        meter_value=[
            *meter(2000, -10),
            {"timestamp": now_iso(-5), "sampledValue": [sampled(7000, "Power.Active.Import")]},
        ],
    )
    assert h.charger.connectors[1].meter.power_w is None
    assert tx.energy_wh == 900
    assert h.charger.lifetime_energy.total_wh == 2000
    assert h.kinds().count("session_ended") == 1


async def test_offline_replay_is_history(h: Harness) -> None:
    """A session that happened while the station was offline: booked with its own times and
    energy; its charging state does not overwrite the status reported since."""
    sim = await h.charger_client(boot=False)
    await sim.meter_values(1, [sampled(1000, ENERGY)], now_iso(-4000))
    await sim.status(1, 1, "Available", now_iso(-1))
    await sim.tx_event(
        "Started",
        "OFF1",
        offline=True,
        timestamp=now_iso(-3600),
        evse={"id": 1},
        id_token=token(),
        charging_state="Charging",
        meter_value=meter(1000, -3600, "Transaction.Begin"),
    )
    await sim.tx_event(
        "Updated",
        "OFF1",
        offline=True,
        timestamp=now_iso(-1800),
        meter_value=meter(4000, -1800),
        charging_state="Charging",
    )
    await sim.tx_event(
        "Ended",
        "OFF1",
        offline=True,
        timestamp=now_iso(-1200),
        stopped_reason="EVDisconnected",
        meter_value=meter(5000, -1200, "Transaction.End"),
    )
    connector = h.charger.connectors[1]
    tx = connector.last_transaction
    assert tx.transaction_id == "OFF1"
    assert tx.started_at < parse_timestamp(now_iso(-3500))
    assert tx.ended_at is not None
    assert tx.ended_at < parse_timestamp(now_iso(-1100))
    assert tx.energy_wh == 4000
    assert h.charger.lifetime_energy.total_wh == 5000
    assert connector.status is ConnectorStatus.AVAILABLE
    assert h.kinds() == ["authorized", "session_started", "session_ended"]


async def test_seqno_restart_is_not_a_duplicate(h: Harness) -> None:
    sim = await h.charger_client(boot=False)
    await start(sim, "S1", seq_no=0, wh=1000)
    await sim.tx_event("Updated", "S1", seq_no=1, meter_value=meter(1100, -500))
    # The station rebooted and counts from 0 again, same transaction.
    await sim.tx_event("Updated", "S1", seq_no=1, meter_value=meter(1300, -100))
    assert h.charger.connectors[1].transaction.energy_wh == 300


# --- transactions we never saw start ----------------------------------------------------------------
async def test_updated_of_an_unknown_transaction_starts_it(h: Harness) -> None:
    sim = await h.charger_client(boot=False)
    result = await sim.tx_event(
        "Updated",
        "U1",
        seq_no=4,
        evse={"id": 1},
        id_token=token(),
        meter_value=[
            *meter(1000, -900, "Transaction.Begin"),
            *meter(1400, -60, "Sample.Periodic"),
        ],
        charging_state="Charging",
    )
    assert result.id_token_info == {"status": "Accepted"}
    tx = h.charger.connectors[1].transaction
    assert tx is not None
    assert (tx.meter_start_wh, tx.energy_wh, tx.id_tag) == (1000, 400, "TAG1")
    assert tx.started_at < parse_timestamp(now_iso(-800))
    assert h.charger.connectors[1].status is ConnectorStatus.CHARGING


async def test_ended_of_an_unknown_transaction_is_recorded(h: Harness) -> None:
    sim = await h.charger_client(boot=False)
    await sim.tx_event(
        "Ended",
        "U2",
        evse={"id": 1},
        stopped_reason="PowerLoss",
        meter_value=[*meter(2000, -900, "Transaction.Begin"), *meter(2600, 0, "Transaction.End")],
    )
    connector = h.charger.connectors[1]
    assert connector.transaction is None
    tx = connector.last_transaction
    assert (tx.transaction_id, tx.energy_wh, tx.stop_reason) == ("U2", 600, "PowerLoss")
    assert h.kinds() == ["session_started", "session_ended"]


async def test_offline_session_sent_behind_the_running_one_is_history(h: Harness) -> None:
    """A station sends an older offline session after the one running now (out of order): the
    old one is booked as a past session with its own energy, the running one goes on (it used to
    be ended as "Replaced" and its energy from then on lost to the session); nothing is counted
    twice."""
    sim = await h.charger_client(boot=False)
    await sim.meter_values(1, [sampled(1000, ENERGY)], now_iso(-8000))
    await start(sim, "LIVE", wh=5000)  # began 600 s ago
    old = {"offline": True, "evse": {"id": 1, "connectorId": 1}}
    await sim.tx_event(
        "Started",
        "OLD",
        timestamp=now_iso(-7200),
        id_token=token(),
        meter_value=meter(1000, -7200, "Transaction.Begin"),
        **old,
    )
    await sim.tx_event("Updated", "OLD", timestamp=now_iso(-5400), meter_value=meter(1500, -5400))
    connector = h.charger.connectors[1]
    assert connector.transaction is not None
    assert connector.transaction.transaction_id == "LIVE"
    await sim.tx_event("Updated", "LIVE", meter_value=meter(5100, -30))

    async def end_old() -> None:
        await sim.tx_event(
            "Ended",
            "OLD",
            timestamp=now_iso(-3600),
            stopped_reason="EVDisconnected",
            meter_value=meter(2000, -3600, "Transaction.End"),
            **old,
        )

    await end_old()
    await sim.tx_event("Updated", "LIVE", meter_value=meter(5200, -1))
    live = connector.transaction
    assert live is not None
    assert (live.transaction_id, live.energy_wh) == ("LIVE", 200)
    past = h.charger.find_ended_transaction("OLD")
    assert past is not None
    assert (past.connector_id, past.energy_wh, past.stop_reason) == (1, 1000, "EVDisconnected")
    assert past.started_at < parse_timestamp(now_iso(-7100)) < past.ended_at  # type: ignore[operator]
    assert h.charger.lifetime_energy.total_wh == 5200  # the register: nothing counted twice
    assert [e.kind for e in h.events if e.kind is EventKind.SESSION_ENDED] == [
        EventKind.SESSION_ENDED
    ]
    # Sent again, the old session's end changes nothing.
    await end_old()
    assert connector.transaction is live
    assert live.energy_wh == 200


async def test_held_transactions_are_bounded(h: Harness) -> None:
    """A station that keeps opening old transactions behind the running one (or a hostile one)
    cannot make the server hold messages without end: beyond MAX_HELD_TRANSACTIONS the oldest
    is booked as it stands."""
    sim = await h.charger_client(boot=False)
    await start(sim, "LIVE")
    for n in range(MAX_HELD_TRANSACTIONS + 1):
        await sim.tx_event(
            "Started",
            f"OLD{n}",
            offline=True,
            evse={"id": 1, "connectorId": 1},
            timestamp=now_iso(-7200 + n),
            meter_value=meter(100.0 * n, -7200 + n, "Transaction.Begin"),
        )
    assert len(station_state(h.charger).held) == MAX_HELD_TRANSACTIONS
    assert "OLD0" not in station_state(h.charger).held
    booked = h.charger.find_ended_transaction("OLD0")
    assert booked is not None
    assert booked.connector_id == 1
    assert h.charger.connectors[1].transaction.transaction_id == "LIVE"


# --- missing EVSE -----------------------------------------------------------------------------
async def test_missing_evse_on_a_single_evse_station(h: Harness) -> None:
    sim = await h.charger_client(boot=False)
    await sim.status(1, 1, "Occupied")
    await sim.tx_event("Started", "M1", id_token=token(), meter_value=meter(100, -60))
    assert h.charger.connectors[1].transaction.transaction_id == "M1"


async def test_missing_evse_resolved_by_the_only_plugged_in_evse(h: Harness) -> None:
    sim = await h.charger_client(boot=False)
    await sim.status(1, 1, "Available")
    await sim.status(2, 1, "Occupied")
    await sim.tx_event("Started", "M2", id_token=token())
    assert h.charger.connectors[2].transaction.transaction_id == "M2"
    assert h.charger.connectors[1].transaction is None


async def test_ambiguous_evse_waits_for_the_station_to_name_it(
    h: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    sim = await h.charger_client(boot=False)
    await sim.status(1, 1, "Occupied")
    await sim.status(2, 1, "Occupied")
    with caplog.at_level(logging.WARNING):
        result = await sim.tx_event(
            "Started",
            "M3",
            id_token=token(),
            timestamp=now_iso(-600),
            meter_value=meter(1000, -600, "Transaction.Begin"),
        )
    assert result.id_token_info == {"status": "Accepted"}
    assert "names no EVSE" in caplog.text
    # Never guessed: not on connector 1 (lbbrhzn booked it there), not anywhere yet.
    assert h.charger.find_transaction("M3") is None
    await sim.tx_event("Updated", "M3", meter_value=meter(1300, -300))
    assert h.charger.find_transaction("M3") is None
    await sim.tx_event("Updated", "M3", evse={"id": 2, "connectorId": 1}, charging_state="Charging")
    tx = h.charger.connectors[2].transaction
    assert tx is not None
    assert tx.transaction_id == "M3"
    assert tx.meter_start_wh == 1000
    assert tx.started_at < parse_timestamp(now_iso(-500))  # the Started's own time
    assert tx.energy_wh == 300
    assert h.charger.connectors[2].status is ConnectorStatus.CHARGING
    assert h.kinds() == ["authorized", "session_started"]  # one swipe, one event


async def test_ambiguous_evse_to_the_end_touches_no_connector(h: Harness) -> None:
    sim = await h.charger_client(boot=False)
    await sim.status(1, 1, "Occupied")
    await sim.status(2, 1, "Occupied")
    await sim.tx_event("Started", "M4", meter_value=meter(1000, -600, "Transaction.Begin"))
    await sim.tx_event(
        "Ended",
        "M4",
        stopped_reason="EVDisconnected",
        meter_value=meter(1700, 0, "Transaction.End"),
    )
    assert h.charger.connectors[1].last_transaction is None
    assert h.charger.connectors[2].last_transaction is None
    station = h.charger.connectors[0]
    tx = station.last_transaction
    assert (tx.transaction_id, tx.energy_wh, tx.stop_reason) == ("M4", 700, "EVDisconnected")
    assert station.meter.energy_register_wh is None  # no meter moved
    assert h.charger.lifetime_energy.total_wh == 0
    assert h.kinds() == ["session_started", "session_ended"]


async def test_missing_evse_skips_evses_with_a_transaction(h: Harness) -> None:
    sim = await h.charger_client(boot=False)
    await sim.status(1, 1, "Occupied")
    await sim.status(2, 1, "Occupied")
    await start(sim, "A", evse=1)
    await sim.tx_event("Started", "B", id_token=token())  # EVSE 1 is busy: EVSE 2
    assert h.charger.connectors[2].transaction.transaction_id == "B"
    assert h.charger.connectors[1].transaction.transaction_id == "A"


async def test_transaction_reported_on_another_evse_stays_put(
    h: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    sim = await h.charger_client(boot=False)
    await start(sim, "A", evse=1)
    with caplog.at_level(logging.WARNING):
        await sim.tx_event("Updated", "A", evse={"id": 2}, meter_value=meter(1100, -60))
    assert "kept on EVSE 1" in caplog.text
    assert h.charger.connectors[1].transaction.energy_wh == 100
    assert 2 not in h.charger.connectors


async def test_waiting_transaction_keeps_its_first_and_latest_messages(h: Harness) -> None:
    sim = await h.charger_client(boot=False)
    await sim.status(1, 1, "Occupied")
    await sim.status(2, 1, "Occupied")
    started = tx_payload(
        "Started", "W1", 0, -900, idToken=token(), meterValue=meter(1000, -900, "Transaction.Begin")
    )
    await sim.request("TransactionEvent", started)
    await sim.request("TransactionEvent", started)  # sent again while it waits: counted once
    for seq_no in range(1, MAX_HELD_EVENTS + 20):
        payload = tx_payload("Updated", "W1", seq_no, -800 + seq_no)
        assert (await sim.request("TransactionEvent", payload)).ok
    await sim.tx_event(
        "Updated",
        "W1",
        seq_no=MAX_HELD_EVENTS + 20,
        evse={"id": 1},
        meter_value=meter(1500, -10),
    )
    tx = h.charger.connectors[1].transaction
    assert (tx.meter_start_wh, tx.energy_wh) == (1000, 500)
    assert missing(tx.sequence)  # the middle was dropped while waiting
    assert h.kinds() == ["authorized", "session_started"]


async def test_idle_without_a_status_changes_nothing(h: Harness) -> None:
    sim = await h.charger_client(boot=False)
    await start(sim, charging_state="Idle")
    assert h.charger.connectors[1].status is ConnectorStatus.UNKNOWN


# --- restarts -------------------------------------------------------------------------------------
async def test_sequence_survives_a_restart(h: Harness) -> None:
    sim = await h.charger_client(boot=False)
    await start(sim, "P1", seq_no=0)
    await sim.tx_event("Updated", "P1", seq_no=1, meter_value=meter(1500, -300))
    stored = charger_to_dict(h.charger)
    restored = charger_from_dict(stored)
    tx = restored.connectors[1].transaction
    assert tx is not None
    assert tx.sequence is not None
    assert (tx.sequence.seen, tx.sequence.latest) == ([(0, 1)], 1)
    # A store written before sequences existed still loads.
    del stored["connectors"]["1"]["transaction"]["sequence"]
    assert charger_from_dict(stored).connectors[1].transaction.sequence is None


async def test_open_transaction_without_sequence_gets_one(h: Harness) -> None:
    sim = await h.charger_client(boot=False)
    await start(sim, "P2", seq_no=0)
    h.charger.connectors[1].transaction.sequence = None  # restored from an older store
    await sim.tx_event("Updated", "P2", seq_no=1, meter_value=meter(1200, -300))
    assert h.charger.connectors[1].transaction.sequence.latest == 1


async def test_21_only_fields_are_accepted(h: Harness) -> None:
    if h.subprotocol != OCPP21:
        pytest.skip("2.1 only")
    sim = await h.charger_client(boot=False)
    result = await sim.request(
        "TransactionEvent",
        tx_payload(
            "Started",
            "V1",
            0,
            evse={"id": 1},
            idToken={"idToken": "TAG1", "type": "VendorSpecificType"},
            info={"operationMode": "ChargingOnly", "chargingState": "Charging"},
        ),
    )
    assert result.payload == {"idTokenInfo": {"status": "Accepted"}}
    assert h.charger.connectors[1].transaction.id_tag == "TAG1"
    assert EventKind.SESSION_STARTED in [e.kind for e in h.events]
