"""Our OCPP-J RPC layer on its own: schema checks in both directions, answers exactly once, hooks.

The endpoint runs over an in-memory connection here (the websocket paths are covered by the
session tests); the schemas are the official 1.6 ones the adapter uses.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import fastjsonschema
import pytest
from websockets.exceptions import ConnectionClosed

from custom_components.ocpp_ems.core.errors import CommandRejectedError, CommandTimeoutError
from custom_components.ocpp_ems.core.protocol.rpc import CallError, Payload, Route, RpcEndpoint
from custom_components.ocpp_ems.core.protocol.schemas import (
    Schemas,
    SchemaViolation,
    ViolationCodes,
    shipped_schemas,
)
from custom_components.ocpp_ems.core.protocol.v16.session import DIALECT

SCHEMAS = DIALECT.schemas


class ScriptedConnection:
    """Frames to receive come from a queue; ``answer`` replies to each CALL we send."""

    def __init__(self, answer: Callable[[list[Any]], list[Any] | None] | None = None) -> None:
        self.incoming: asyncio.Queue[str | None] = asyncio.Queue()
        self.sent: list[list[Any]] = []
        self._answer = answer

    def feed(self, *frames: Any) -> None:
        for frame in frames:
            self.incoming.put_nowait(frame if isinstance(frame, str) else json.dumps(frame))

    def hang_up(self) -> None:
        self.incoming.put_nowait(None)

    async def recv(self) -> str:
        frame = await self.incoming.get()
        if frame is None:
            raise ConnectionClosed(None, None)
        return frame

    async def send(self, message: str) -> None:
        frame = json.loads(message)
        self.sent.append(frame)
        if frame[0] == 2 and self._answer is not None:
            reply = self._answer(frame)
            if reply is not None:
                self.feed(reply)

    async def close(self) -> None:
        self.hang_up()


def _endpoint(
    connection: ScriptedConnection, routes: dict[str, Route[list[str]]], timeout_s: float = 1
) -> tuple[RpcEndpoint[list[str]], list[str]]:
    seen: list[str] = []
    endpoint = RpcEndpoint(
        connection,
        charger_id="rpc",
        dialect=DIALECT,
        routes=routes,
        target=seen,
        timeout_s=timeout_s,
    )
    return endpoint, seen


async def _serve_until_quiet(endpoint: RpcEndpoint[Any], connection: ScriptedConnection) -> None:
    connection.hang_up()
    await endpoint.serve()


@pytest.mark.parametrize(
    ("rule", "field"),
    [
        ("type", "type"),
        ("maxLength", "type"),
        ("required", "required"),
        ("enum", "value"),
        ("multipleOf", "value"),
        ("maxItems", "occurrence"),
        ("additionalProperties", "structure"),
        (None, "structure"),
    ],
)
def test_violation_codes_by_rule(rule: str | None, field: str) -> None:
    codes = ViolationCodes(type="T", required="R", value="V", occurrence="O", structure="S")
    assert codes.for_rule(rule) == getattr(codes, field)


def test_what_we_send_is_strict_what_we_receive_is_tolerant() -> None:
    schedule = {
        "chargingRateUnit": "A",
        "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 13.33}],
    }
    # A charger's composite schedule with two decimals still tells us the limit.
    SCHEMAS.check_response(
        "GetCompositeSchedule", {"status": "Accepted", "chargingSchedule": schedule}, ours=False
    )
    profile = {
        "chargingProfileId": 1,
        "stackLevel": 0,
        "chargingProfilePurpose": "TxDefaultProfile",
        "chargingProfileKind": "Absolute",
        "chargingSchedule": schedule,
    }
    with pytest.raises(SchemaViolation) as err:
        SCHEMAS.check_request(
            "SetChargingProfile", {"connectorId": 1, "csChargingProfiles": profile}, ours=True
        )
    assert err.value.code == "PropertyConstraintViolation"
    assert "multiple of" in err.value.description
    assert "13.33" not in err.value.description  # names the field, never the value


def test_root_of_wrong_type_is_named_payload() -> None:
    with pytest.raises(SchemaViolation) as err:
        SCHEMAS.check_request("Heartbeat", [], ours=False)
    assert err.value.code == "TypeConstraintViolation"
    assert err.value.description.startswith("payload ")


def test_every_action_of_the_version_has_both_schemas() -> None:
    assert {"BootNotification", "MeterValues", "SetChargingProfile"} <= SCHEMAS.actions
    assert not any(action.endswith("Response") for action in SCHEMAS.actions)
    for action in SCHEMAS.actions:
        SCHEMAS.request_schema(action)


async def test_handler_call_error_and_failing_hook() -> None:
    def refuse(seen: list[str], payload: Payload) -> Payload:
        raise CallError("SecurityError", "not you")

    def hook_fails(seen: list[str], payload: Payload) -> None:
        raise RuntimeError("follow-up bug")

    def beat(seen: list[str], payload: Payload) -> Payload:
        seen.append("beat")
        return {"currentTime": "2026-11-30T00:00:00Z"}

    connection = ScriptedConnection()
    endpoint, seen = _endpoint(
        connection,
        {"Authorize": Route(refuse), "Heartbeat": Route(beat, hook_fails)},
    )
    connection.feed([2, "a1", "Authorize", {"idTag": "X"}], [2, "h1", "Heartbeat", {}])
    connection.feed([2, "h2", "Heartbeat", {}])
    await _serve_until_quiet(endpoint, connection)
    assert connection.sent[0] == [4, "a1", "SecurityError", "not you", {}]
    assert connection.sent[1][:2] == [3, "h1"]
    assert connection.sent[2][:2] == [3, "h2"]  # the failed hook cost nothing
    assert seen == ["beat", "beat"]


async def test_stop_transaction_data_without_usable_entries_is_dropped() -> None:
    received: list[Payload] = []

    def stop(seen: list[str], payload: Payload) -> Payload:
        received.append(payload)
        return {}

    connection = ScriptedConnection()
    endpoint, _ = _endpoint(connection, {"StopTransaction": Route(stop)})
    payload = {
        "meterStop": 100,
        "timestamp": "2026-11-30T00:00:00Z",
        "transactionId": 1,
        "transactionData": [
            {"timestamp": "2026-11-30T00:00:00Z", "sampledValue": [{"value": 5.5}]}
        ],
    }
    bad = {**payload, "transactionData": [{"timestamp": "x", "sampledValue": [{"value": None}]}]}
    connection.feed([2, "s1", "StopTransaction", payload], [2, "s2", "StopTransaction", bad])
    await _serve_until_quiet(endpoint, connection)
    assert [frame[:2] for frame in connection.sent] == [[3, "s1"], [3, "s2"]]
    assert received[0]["transactionData"][0]["sampledValue"] == [{"value": "5.5"}]
    assert "transactionData" not in received[1]


async def test_our_call_gets_its_answer_checked() -> None:
    answers = {
        "Reset": [3, None, {"status": "Maybe"}],  # not in the enum: the charger's mistake
        "UnlockConnector": [4, None, "NotSupported", "", {}],
        "ClearCache": [3, None, {"status": "Accepted"}],
    }

    def answer(frame: list[Any]) -> list[Any] | None:
        reply = list(answers[frame[2]])
        reply[1] = frame[1]
        return reply

    connection = ScriptedConnection(answer)
    endpoint, _ = _endpoint(connection, {})
    serving = asyncio.ensure_future(endpoint.serve())
    with pytest.raises(CommandRejectedError) as err:
        await endpoint.call("Reset", {"type": "Soft"})
    assert err.value.status == "PropertyConstraintViolation"
    with pytest.raises(CommandRejectedError) as err:
        await endpoint.call("UnlockConnector", {"connectorId": 1})
    assert err.value.status == "NotSupported"
    assert await endpoint.call("ClearCache", {}) == {"status": "Accepted"}
    assert not endpoint._pending
    connection.hang_up()
    await serving


async def test_a_silent_charger_times_out_and_its_late_answer_is_a_stray() -> None:
    connection = ScriptedConnection()
    endpoint, _ = _endpoint(connection, {}, timeout_s=0.05)
    serving = asyncio.ensure_future(endpoint.serve())
    with pytest.raises(CommandTimeoutError):
        await endpoint.call("ClearCache", {})
    connection.feed([3, connection.sent[0][1], {"status": "Accepted"}])
    connection.hang_up()
    await serving
    assert endpoint.stats.strays_dropped == 1


async def test_a_repaired_payload_that_is_still_invalid_gets_the_remaining_violation() -> None:
    connection = ScriptedConnection()
    endpoint, _ = _endpoint(connection, {"MeterValues": Route(lambda seen, payload: {})})
    sample = {"value": "1.5", "measurand": "Energy.Active.Import.Register", "unit": "kwh"}
    payload = {
        "connectorId": "one",  # not repairable
        "meterValue": [{"timestamp": "2026-11-30T00:00:00Z", "sampledValue": [sample]}],
    }
    connection.feed([2, "r1", "MeterValues", payload])
    await _serve_until_quiet(endpoint, connection)
    assert connection.sent[0][:3] == [4, "r1", "TypeConstraintViolation"]
    assert endpoint.inspector.stats.by_kind["repaired_meter_values"] == 1


async def test_schemas_are_compiled_off_the_event_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    """Compiling a check takes up to ~30 ms for a 2.1 schema: the first CALL each way (the
    charger's request, our answer, our request, its answer) has it done in a worker thread, and
    every check after that is the compiled function, in the loop."""
    schemas = Schemas(shipped_schemas("v16"))
    dialect = replace(DIALECT, schemas=schemas)
    compiled_in: list[tuple[str, bool]] = []
    compile_schema = fastjsonschema.compile_to_code

    def recording(schema: Any, **kwargs: Any) -> Any:
        compiled_in.append((schema.get("title", "?"), threading.current_thread() is loop_thread))
        return compile_schema(schema, **kwargs)

    monkeypatch.setattr(fastjsonschema, "compile_to_code", recording)
    loop_thread = threading.current_thread()

    def beat(seen: list[str], payload: Payload) -> Payload:
        return {"currentTime": "2026-11-30T00:00:00Z"}

    def answer(frame: list[Any]) -> list[Any]:
        return [3, frame[1], {"status": "Accepted"}]

    connection = ScriptedConnection(answer)
    endpoint = RpcEndpoint(
        connection,
        charger_id="rpc",
        dialect=dialect,
        routes={"Heartbeat": Route(beat)},
        target=[],
        timeout_s=1,
    )
    serving = asyncio.ensure_future(endpoint.serve())
    connection.feed([2, "h1", "Heartbeat", {}], [2, "h2", "Heartbeat", {}])
    assert await endpoint.call("ClearCache", {}) == {"status": "Accepted"}
    assert await endpoint.call("ClearCache", {}) == {"status": "Accepted"}
    connection.hang_up()
    await serving
    assert [frame[:2] for frame in connection.sent if frame[0] == 3] == [[3, "h1"], [3, "h2"]]
    # Each of the four checks compiled once, none in the event loop's thread.
    assert len(compiled_in) == 4
    assert not any(in_loop for _, in_loop in compiled_in)
