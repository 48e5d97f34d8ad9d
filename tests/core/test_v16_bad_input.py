"""Bad input never takes a session down: each class gets the OCPP-J 1.6 error, once-logged, and the
connection keeps working. Frames are sent raw: the ``ocpp`` package would never produce them."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection

from custom_components.ocpp_ems.core.protocol.frames import ErrorCodes, FrameInspector
from custom_components.ocpp_ems.core.protocol.rpc import Route
from custom_components.ocpp_ems.core.protocol.v16 import handlers
from custom_components.ocpp_ems.core.protocol.wire_log import WIRE_LOGGER

from .v16_harness import Harness, assert_usable, exchange, now_iso


@pytest.mark.parametrize(
    ("frame", "expected_id", "code"),
    [
        ("this is not json", "-1", "FormationViolation"),
        ('[2, "a", "Heartbeat"', "a", "FormationViolation"),
        ("[2,", "-1", "FormationViolation"),
        ('{"not": "an array"}', "-1", "FormationViolation"),
        ("[]", "-1", "FormationViolation"),
        ('[7, "x1", "Heartbeat", {}]', "x1", "FormationViolation"),
        ('["2", "x2", "Heartbeat", {}]', "x2", "FormationViolation"),
        ('[2, "x3", "Heartbeat"]', "x3", "FormationViolation"),
        ('[2, 5, "Heartbeat", {}]', "-1", "FormationViolation"),
        ('[2, "x4", ["Heartbeat"], {}]', "x4", "FormationViolation"),
        ('[2, "x5", "NoSuchAction", {}]', "x5", "NotImplemented"),
        ('[2, "x6", "Reset", {"type": "Hard"}]', "x6", "NotSupported"),
    ],
)
async def test_frame_errors(
    h: Harness, ws: ClientConnection, frame: str, expected_id: str, code: str
) -> None:
    reply = await exchange(ws, frame)
    assert reply[0] == 4
    assert reply[1] == expected_id
    assert reply[2] == code
    assert isinstance(reply[3], str)
    assert reply[4] == {}
    await assert_usable(ws)


@pytest.mark.parametrize(
    ("payload", "codes"),
    [
        # Schema violations / wrong types: the library's own CALLERROR.
        (["BootNotification", {"chargePointVendor": "A"}], {"ProtocolError"}),
        (
            ["BootNotification", {"chargePointVendor": 5, "chargePointModel": "M"}],
            {"TypeConstraintViolation"},
        ),
        (["Heartbeat", {"unexpected": 1}], {"FormationViolation", "FormatViolation"}),
        (["Heartbeat", []], {"TypeConstraintViolation"}),
        (
            ["StatusNotification", {"connectorId": 1, "errorCode": "NoError", "status": "Dancing"}],
            {"FormationViolation", "FormatViolation", "PropertyConstraintViolation"},
        ),
        (["Authorize", {"idTag": "X" * 30}], {"TypeConstraintViolation"}),
    ],
)
async def test_schema_violations_get_library_call_error(
    h: Harness, ws: ClientConnection, payload: list[Any], codes: set[str]
) -> None:
    reply = await exchange(ws, [2, "s1", *payload])
    assert reply[0] == 4
    assert reply[1] == "s1"
    assert reply[2] in codes
    await assert_usable(ws)


async def test_meter_value_quirks_are_repaired(h: Harness, ws: ClientConnection) -> None:
    frame = [
        2,
        "m1",
        "MeterValues",
        {
            "connectorId": 1,
            "meterValue": [
                {"timestamp": now_iso(), "sampledValue": []},  # Vestel: empty list
                {
                    "timestamp": now_iso(-5),
                    "sampledValue": [
                        {"value": "1.5", "unit": "kwh", "context": "Sample.Bogus"},  # Alfen
                        {"value": 230, "measurand": "Voltage", "phase": "L1-N"},  # number
                        {"value": "9", "measurand": "Bogus.Measurand"},  # dropped
                        {"value": "9", "measurand": "Current.Import", "unit": "furlongs"},
                        {"value": "3", "measurand": "Current.Import", "phase": "L9"},
                        {"value": "16", "measurand": "Current.Offered", "vendorExtra": 1},
                        {"value": "1", "location": "Nowhere", "measurand": "SoC", "context": 5},
                        {"value": None},
                        "not a sample",
                    ],
                },
                {"sampledValue": [{"value": "42", "measurand": "Temperature"}], "timestamp": 5},
            ],
        },
    ]
    reply = await exchange(ws, frame)
    assert reply == [3, "m1", {}]
    meter = h.charger.connector(1).meter
    assert meter.energy_register_wh == 1500
    assert meter.voltage_v.l1 == 230
    assert meter.offered_current_a == 16
    assert meter.soc_percent == 1
    assert meter.current_a.l1 is None
    assert meter.temperature_c == 42  # its missing timestamp became "now"


async def test_meter_values_without_any_sample_are_acknowledged(
    h: Harness, ws: ClientConnection
) -> None:
    frame = [
        2,
        "m2",
        "MeterValues",
        {"connectorId": 1, "meterValue": [{"timestamp": now_iso(), "sampledValue": []}]},
    ]
    assert await exchange(ws, frame) == [3, "m2", {}]
    # A clean one passes untouched.
    clean = [
        2,
        "m3",
        "MeterValues",
        {
            "connectorId": 1,
            "meterValue": [{"timestamp": now_iso(), "sampledValue": [{"value": "10"}]}],
        },
    ]
    assert await exchange(ws, clean) == [3, "m3", {}]


async def test_stop_transaction_data_is_repaired(h: Harness, ws: ClientConnection) -> None:
    start = await exchange(
        ws,
        [
            2,
            "t1",
            "StartTransaction",
            {"connectorId": 1, "idTag": "X", "meterStart": 0, "timestamp": now_iso()},
        ],
    )
    tx = start[2]["transactionId"]
    stop = [
        2,
        "t2",
        "StopTransaction",
        {
            "meterStop": 100,
            "timestamp": now_iso(),
            "transactionId": tx,
            "transactionData": [{"timestamp": now_iso(), "sampledValue": []}],
        },
    ]
    assert (await exchange(ws, stop))[0] == 3
    assert h.charger.connector(1).last_session_energy_wh == 100
    start = await exchange(
        ws,
        [
            2,
            "t3",
            "StartTransaction",
            {"connectorId": 1, "idTag": "X", "meterStart": 0, "timestamp": now_iso()},
        ],
    )
    stop = [
        2,
        "t4",
        "StopTransaction",
        {
            "meterStop": 50,
            "timestamp": now_iso(),
            "transactionId": start[2]["transactionId"],
            "transactionData": [
                {"timestamp": now_iso(), "sampledValue": [{"value": 40, "context": "Weird"}]}
            ],
        },
    ]
    assert (await exchange(ws, stop))[0] == 3
    clean_stop = [
        2,
        "t5",
        "StopTransaction",
        {
            "meterStop": 50,
            "timestamp": now_iso(),
            "transactionId": 1,
            "transactionData": [{"timestamp": now_iso(), "sampledValue": [{"value": "40"}]}],
        },
    ]
    assert (await exchange(ws, clean_stop))[0] == 3


LONG_TAG = "X16WG99J2QIEGCC0MCJ5-"  # 21 characters (CiString20Type)


@pytest.mark.parametrize(
    ("start", "stop"),
    [
        ({"meterStart": 1000.0}, {"meterStop": 4000.0}),
        ({"meterStart": 1000.4}, {"meterStop": 3999.6}),
        ({"meterStart": "1000"}, {"meterStop": " 4000 "}),
        ({"meterStart": 1000}, {"meterStop": 4000, "idTag": LONG_TAG}),
    ],
    ids=["whole-floats", "fractions", "strings", "stop-id-tag-21-chars"],
)
async def test_loosely_written_start_and_stop_fields_are_coerced(
    h: Harness, ws: ClientConnection, start: dict[str, Any], stop: dict[str, Any]
) -> None:
    """Chargers write meterStart/meterStop as 1234.0, with a fraction or as a string, and a
    Stop's idTag longer than 20 characters. Such a StartTransaction/StopTransaction got a
    CALLERROR, so the session never started or never ended: the charger retries the Stop forever
    (OCPP 1.6 section 4.10: a StopTransaction.conf must always be sent)."""
    begin = {"connectorId": 1, "idTag": "TAG1", "timestamp": now_iso(-3600), **start}
    started = await exchange(ws, [2, "t1", "StartTransaction", begin])
    assert started[0] == 3, started
    tx = started[2]["transactionId"]
    running = h.charger.connector(1).transaction
    assert running is not None
    assert running.id_tag == "TAG1"
    end = {"transactionId": tx, "timestamp": now_iso(), **stop}
    assert (await exchange(ws, [2, "t2", "StopTransaction", end]))[0] == 3
    connector = h.charger.connector(1)
    assert connector.transaction is None
    assert connector.last_session_energy_wh == 3000


async def test_an_over_long_id_tag_never_starts_as_a_listed_one(
    h: Harness, ws: ClientConnection
) -> None:
    """A Start's idTag longer than 20 characters was cut to 20 and then authorized: another card
    whose first 20 characters are a listed tag charged as that user. It stays refused."""
    h.directory.id_tags.add(LONG_TAG[:20])
    begin = {"connectorId": 1, "idTag": LONG_TAG, "meterStart": 0, "timestamp": now_iso()}
    reply = await exchange(ws, [2, "t1", "StartTransaction", begin])
    assert reply[0] == 4
    assert h.charger.connector(1).transaction is None
    await assert_usable(ws)


async def test_a_meter_stop_that_is_no_number_is_still_refused(
    h: Harness, ws: ClientConnection
) -> None:
    stop = {"transactionId": 1, "timestamp": now_iso(), "meterStop": "lots"}
    assert (await exchange(ws, [2, "t1", "StopTransaction", stop]))[0] == 4
    await assert_usable(ws)


async def test_structurally_wrong_meter_values_are_schema_errors(
    h: Harness, ws: ClientConnection
) -> None:
    frame = [2, "w1", "MeterValues", {"connectorId": 1, "meterValue": ["not an entry"]}]
    reply = await exchange(ws, frame)
    assert reply[:3] == [4, "w1", "TypeConstraintViolation"]
    await assert_usable(ws)


@pytest.mark.parametrize("connector_id", [-1, 33, 10**9])
@pytest.mark.parametrize(
    "payload",
    [
        ["StatusNotification", {"errorCode": "NoError", "status": "Available"}],
        ["StartTransaction", {"idTag": "T", "meterStart": 0, "timestamp": now_iso()}],
        [
            "MeterValues",
            {"meterValue": [{"timestamp": now_iso(), "sampledValue": [{"value": "1"}]}]},
        ],
    ],
)
async def test_implausible_connector_ids_are_refused(
    h: Harness, ws: ClientConnection, payload: list[Any], connector_id: int
) -> None:
    # The 1.6 schema lets any integer through; each id would become a connector and entities.
    action, fields = payload
    reply = await exchange(ws, [2, "c1", action, {**fields, "connectorId": connector_id}])
    assert reply[:3] == [4, "c1", "PropertyConstraintViolation"]
    assert "connectorId must be 0..32" in reply[3]
    assert connector_id not in h.charger.connectors
    await assert_usable(ws)


async def test_a_start_on_connector_0_is_refused(h: Harness, ws: ClientConnection) -> None:
    """Connector 0 is the charger as a whole: no session runs there (1.6 StartTransaction wants
    connectorId > 0). Booked, its session events reached every connector's entities."""
    reply = await exchange(
        ws,
        [
            2,
            "s0",
            "StartTransaction",
            {"connectorId": 0, "idTag": "T", "meterStart": 0, "timestamp": now_iso()},
        ],
    )
    assert reply[:3] == [4, "s0", "PropertyConstraintViolation"]
    assert "connectorId must be 1..32, not 0" in reply[3]
    assert h.charger.connectors.get(0) is None or h.charger.connector(0).transaction is None
    await assert_usable(ws)


async def test_the_highest_plausible_connector_id_is_taken(
    h: Harness, ws: ClientConnection
) -> None:
    status = {"connectorId": 32, "errorCode": "NoError", "status": "Available"}
    assert (await exchange(ws, [2, "c2", "StatusNotification", status]))[:2] == [3, "c2"]
    assert 32 in h.charger.connectors


async def test_stray_and_malformed_responses_are_dropped(h: Harness, ws: ClientConnection) -> None:
    for frame in (
        '[3, "nobody-asked", {}]',
        '[3, "x"]',
        "[3, 5, {}]",
        '[4, "x"]',
        '[4, "nobody", "GenericError"]',
        '[4, "nobody", "GenericError", "d", {}]',
    ):
        await ws.send(frame)
    await assert_usable(ws)


async def test_dropped_response_is_logged_without_secrets(
    h: Harness, ws: ClientConnection, caplog: pytest.LogCaptureFixture
) -> None:
    secret = "cd" * 20
    answer = {"configurationKey": [{"key": "AuthorizationKey", "value": secret}]}
    await ws.send(json.dumps([3, "x", answer, 1]))
    await assert_usable(ws)
    assert "dropped a malformed CALLRESULT" in caplog.text
    assert secret not in caplog.text


async def test_each_problem_logged_once(
    h: Harness, ws: ClientConnection, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="custom_components.ocpp_ems.core.protocol")
    for _ in range(3):
        await exchange(ws, "garbage")
    for _ in range(3):
        await exchange(ws, [2, "v", "Authorize", {}])
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len([w for w in warnings if "not valid JSON" in w]) == 1
    assert len([w for w in warnings if "ProtocolError" in w]) == 1
    assert all(r.exc_info is None for r in caplog.records if r.levelno >= logging.WARNING)


async def test_frames_logged_at_debug(
    h: Harness, ws: ClientConnection, caplog: pytest.LogCaptureFixture
) -> None:
    """Home Assistant logs stay quiet at INFO: one line per frame, at DEBUG only."""
    caplog.set_level(logging.DEBUG, logger=WIRE_LOGGER.name)
    await assert_usable(ws)
    frames = [r for r in caplog.records if r.name == WIRE_LOGGER.name]
    assert frames
    assert {r.levelno for r in frames} == {logging.DEBUG}
    assert any("Heartbeat" in r.getMessage() for r in frames)


async def test_binary_frames(h: Harness, ws: ClientConnection) -> None:
    await ws.send(b"\xff\xfe")
    reply = json.loads(await ws.recv())
    assert reply[2] == "FormationViolation"
    await ws.send(json.dumps([2, "b1", "Heartbeat", {}]).encode())
    assert json.loads(await ws.recv())[1] == "b1"


async def test_handler_crash_gives_internal_error(
    h: Harness, ws: ClientConnection, monkeypatch: pytest.MonkeyPatch
) -> None:
    def explode(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("boom")

    monkeypatch.setitem(handlers.ROUTES, "Heartbeat", Route(explode))
    reply = await exchange(ws, [2, "c1", "Heartbeat", {}])
    assert reply[2] == "InternalError"
    reply = await exchange(ws, [2, "c2", "Authorize", {"idTag": "A"}])
    assert reply[0] == 3


def test_error_codes_are_configurable() -> None:
    guard = FrameInspector(
        charger_id="x",
        known_actions={"Heartbeat", "MeterValues"},
        handled_actions={"Heartbeat"},
        codes=ErrorCodes(
            malformed="RpcFrameworkError", unknown_message_type="MessageTypeNotSupported"
        ),
    )
    frame, reply = guard.inspect("[9]")
    assert frame is None
    assert reply is not None
    assert json.loads(reply)[2] == "MessageTypeNotSupported"
    frame, reply = guard.inspect('[2, "1", "Heartbeat", {}]')
    assert frame == [2, "1", "Heartbeat", {}]
    assert reply is None
    assert guard.inspect('[2, "1", "MeterValues", {}]')[1] is not None
