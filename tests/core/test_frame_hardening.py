"""The frame layer cannot be knocked over: hostile payload content, parser bombs, strays and floods.

Each test talks raw OCPP-J over a real websocket to a real V16Session (the harness), and checks
that every CALL got exactly its answer and the connection still works afterwards.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from custom_components.ocpp_ems.core.directory import Admission
from custom_components.ocpp_ems.core.errors import (
    ChargerNotConnectedError,
    CommandTimeoutError,
    InvalidCommandError,
)
from custom_components.ocpp_ems.core.protocol.frames import (
    FrameInspector,
    Repair,
    field_rules,
    parse_frame,
)
from custom_components.ocpp_ems.core.protocol.limits import (
    LIMITS,
    ConnectionLimits,
    TokenBucket,
    Trust,
    json_depth_exceeds,
)
from custom_components.ocpp_ems.core.protocol.rpc import Route, RpcEndpoint
from custom_components.ocpp_ems.core.protocol.v16.handlers import ROUTES
from custom_components.ocpp_ems.core.protocol.v16.session import DIALECT
from custom_components.ocpp_ems.core.protocol.v201.session import DIALECT_201
from custom_components.ocpp_ems.core.settings import ServerSettings

from .fakes import MemoryDirectory
from .v16_harness import (
    CHARGER_ID,
    Harness,
    assert_usable,
    exchange,
    now_iso,
    protocol_harness,
    wait_for,
)

_ODD_VALUES: list[Any] = [
    None,
    True,
    0,
    -1,
    2**70,
    1.5,
    "",
    "x" * 5000,
    [],
    ["Wh"],
    {},
    {"unit": "Wh"},
    [[[[]]]],
]


@pytest.mark.parametrize("field", ["unit", "context", "measurand", "phase", "location", "format"])
async def test_sampled_value_fields_of_any_type(
    h: Harness, ws: ClientConnection, field: str
) -> None:
    """Audit finding: a list/object here raised TypeError in the guard and closed the connection."""
    for index, value in enumerate(_ODD_VALUES):
        sample = {"value": "100", "measurand": "Energy.Active.Import.Register", field: value}
        entry = {"timestamp": now_iso(), "sampledValue": [sample]}
        payload = {"connectorId": 1, "meterValue": [entry]}
        reply = await exchange(ws, [2, f"m{index}", "MeterValues", payload])
        assert reply[1] == f"m{index}"
        assert reply[0] in (3, 4)
    await assert_usable(ws)


@pytest.mark.parametrize(
    "frame",
    [
        "[" * 100_000,
        "[" * 100_000 + "]" * 100_000,
        '[2, "d1", "Heartbeat", ' + '{"a":' * 50 + "1" + "}" * 50 + "]",
        '[2, "n1", "Heartbeat", {"x": NaN}]',
        '[2, "n2", "Heartbeat", {"x": Infinity}]',
        '[2, "n3", "Heartbeat", {"x": -Infinity}]',
        '[2, "n4", "Heartbeat", {"x": 1e999}]',
        '[2, "n5", "Heartbeat", {"x": ' + "9" * 5000 + "}]",
    ],
    ids=["open-brackets", "deep-array", "deep-object", "nan", "inf", "-inf", "1e999", "bigint"],
)
async def test_parser_bombs_get_formation_violation(
    h: Harness, ws: ClientConnection, frame: str
) -> None:
    reply = await exchange(ws, frame)
    assert reply[0] == 4
    assert reply[2] == "FormationViolation"
    await assert_usable(ws)


def test_a_lone_surrogate_escape_becomes_a_replacement_character() -> None:
    """``"\\udbff"`` alone is no text and cannot be written out as UTF-8 (orjson refuses it):
    it becomes U+FFFD, in keys and values at any depth; a proper pair stays the character."""
    frame = (
        '[2, "s1", "SecurityEventNotification", {"type": "X\\udbff", '
        '"techInfo": "\\ud83d\\ude00", "l": [{"\\uDC00k": "\\uD800"}]}]'
    )
    message = parse_frame(frame)
    payload = message[3]
    assert payload["type"] == "X\ufffd"
    assert payload["techInfo"] == "\U0001f600"
    assert payload["l"] == [{"\ufffdk": "\ufffd"}]
    assert json.dumps(payload, ensure_ascii=False).encode("utf-8")
    plain = '[2, "s2", "Heartbeat", {}]'
    assert parse_frame(plain) == [2, "s2", "Heartbeat", {}]
    # The message id goes back as it came, so that the charger can match the answer.
    assert parse_frame('[2, "id\\udbff", "Heartbeat", {}]')[1] == "id\udbff"


async def test_duplicate_ids_each_answered(h: Harness, ws: ClientConnection) -> None:
    for _ in range(3):
        reply = await exchange(ws, [2, "same", "Heartbeat", {}])
        assert reply[:2] == [3, "same"]


async def test_strays_are_dropped_not_queued_and_commands_still_work(
    h: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Audit finding: 3,000 strays made the next server request fail (RecursionError)."""
    monkeypatch.setitem(LIMITS, Trust.UNAUTHENTICATED, LIMITS[Trust.AUTHENTICATED])
    sim = await h.charger_client()
    raw = sim._connection  # the charger's own socket: strays interleave with real traffic
    for index in range(3000):
        await raw.send(json.dumps([3, f"stray-{index}", {"status": "Accepted"}]))
    await raw.send(json.dumps([4, "stray-err", "GenericError", "", {}]))
    await wait_for(lambda: h.session.endpoint.stats.strays_dropped >= 3001, 20)
    assert not h.session.endpoint._pending
    await h.session.reset()  # a real command round trip after the flood
    assert sim.actions("Reset")


async def test_late_answer_after_timeout_is_a_stray(
    directory: MemoryDirectory, socket_enabled: None
) -> None:
    settings = ServerSettings(host="127.0.0.1", port=0, response_timeout_s=0.3)
    async with protocol_harness(directory, settings) as harness:
        sim = await harness.charger_client(
            setup=lambda s: s.delay.update(RemoteStopTransaction=0.6)
        )
        with pytest.raises(CommandTimeoutError):
            await harness.session.remote_stop("1")
        await asyncio.sleep(0.5)  # the late answer arrives now
        await harness.session.unlock(1)  # the next call gets its own answer, not the late one
        endpoint = harness.session.endpoint
        assert endpoint.stats.strays_dropped == 1
        assert not endpoint._pending
        assert sim.actions("UnlockConnector")


async def test_pending_connection_gets_small_frames_and_a_rate_limit(
    directory: MemoryDirectory,
    server_settings: ServerSettings,
    socket_enabled: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(
        LIMITS,
        Trust.PENDING,
        ConnectionLimits(frame_bytes=2000, hard_frame_bytes=8000, messages_per_s=40.0, burst=5),
    )
    directory.admissions[CHARGER_ID] = Admission.PENDING
    async with protocol_harness(directory, server_settings) as harness:
        directory.admissions[CHARGER_ID] = Admission.PENDING
        ws = await harness.raw()
        big = [2, "big", "Heartbeat", {"pad": "x" * 3000}]
        reply = await exchange(ws, big)
        assert reply[:3] == [4, "big", "FormationViolation"]
        for index in range(25):
            assert (await exchange(ws, [2, f"h{index}", "Heartbeat", {}]))[0] == 3
        assert (
            harness.session.endpoint.stats.rate_limited_s > 0.2
        )  # 20 frames beyond the burst at 40/s
        # Above the hard limit websockets does not even read the frame: close 1009.
        await ws.send(json.dumps([2, "huge", "Heartbeat", {"pad": "x" * 9000}]))
        await ws.wait_closed()
        assert ws.close_code == 1009


async def test_accepted_charger_frames_are_not_rate_limited_once_authenticated(
    h: Harness, ws: ClientConnection
) -> None:
    for index in range(20):
        await exchange(ws, [2, f"q{index}", "Heartbeat", {}])
    assert h.session._trust() is Trust.UNAUTHENTICATED
    assert h.session.endpoint.stats.rate_limited_s == 0.0


async def test_internal_error_when_checking_fails_outside_handlers(
    h: Harness, ws: ClientConnection, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A failure of ours before the handler (here: the schema check itself) still gets the CALL
    an answer and keeps the connection."""

    def broken(*args: Any, **kwargs: Any) -> None:
        raise RecursionError("deep")

    monkeypatch.setattr(DIALECT.schemas, "check_request", broken)
    reply = await exchange(ws, [2, "c1", "Heartbeat", {}])
    assert reply[:3] == [4, "c1", "InternalError"]
    monkeypatch.undo()
    await assert_usable(ws)


async def test_an_invalid_answer_of_ours_is_an_internal_error(
    h: Harness, ws: ClientConnection, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Our answers are schema-checked before they go out: a bug never sends an invalid frame."""
    monkeypatch.setitem(ROUTES, "Heartbeat", Route(lambda session, payload: {"currentTime": 5}))
    reply = await exchange(ws, [2, "c2", "Heartbeat", {}])
    assert reply[:3] == [4, "c2", "InternalError"]
    monkeypatch.undo()
    await assert_usable(ws)


def test_token_bucket_waits_and_reconfigures() -> None:
    bucket = TokenBucket(rate=10.0, burst=2)
    assert bucket.delay() == 0.0
    asyncio.run(bucket.take())
    asyncio.run(bucket.take())
    assert bucket.delay() > 0.0
    bucket.configure(rate=1000.0, burst=1)
    assert bucket.delay() < 0.01


def test_json_depth() -> None:
    assert not json_depth_exceeds([2, "a", "B", {"x": [{"y": 1}]}], limit=4)
    assert json_depth_exceeds([2, "a", "B", {"x": [{"y": [1]}]}], limit=4)
    assert not json_depth_exceeds("flat", limit=1)


class _NullConnection:
    async def recv(self) -> str:  # pragma: no cover - inspect() is called directly
        return ""

    async def send(self, message: str) -> None:
        pass

    async def close(self) -> None:  # pragma: no cover
        pass


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=30,
)


@settings(max_examples=400, deadline=None)
@given(
    frame=st.one_of(
        st.text(max_size=200),
        st.binary(max_size=200),
        _json.map(lambda v: json.dumps(v, allow_nan=True)),
        st.tuples(
            st.sampled_from([2, 3, 4, 5, "2", 2.0]),
            st.text(max_size=8) | st.integers(),
            st.sampled_from(["MeterValues", "StopTransaction", "Heartbeat", "Nope"]) | _json,
            _json,
        ).map(lambda t: json.dumps(list(t), allow_nan=True)),
    )
)
def test_inspect_never_raises_and_answers_calls(frame: str | bytes) -> None:
    inspector = FrameInspector(
        charger_id="fuzz",
        known_actions={"MeterValues", "StopTransaction", "Heartbeat"},
        handled_actions={"MeterValues", "StopTransaction", "Heartbeat"},
        sampled_value_rules=DIALECT.sampled_value_rules,
    )
    passed, reply = inspector.inspect(frame)
    assert passed is None or reply is None
    if passed is not None:
        assert passed[0] in (2, 3, 4)
        assert isinstance(passed[1], str)
        assert len(passed) == {2: 4, 3: 3, 4: 5}[passed[0]]
        if passed[0] == 2:
            inspector.repair(passed[2], passed[3])  # never raises either
    if reply is not None:
        assert json.loads(reply)[0] in (3, 4)


def test_field_rules_repair_only_what_is_unambiguous() -> None:
    """Field rules by path: an enum value in the wrong case is taken as the one it matches (not
    when it matches two); a nested over-long string is never left out (its object may require
    it), an optional object holding one is."""
    schema = {
        "properties": {
            "kind": {"enum": ["Ended", "Started"]},
            "mode": {"enum": ["Fast", "FAST"]},
            "token": {"$ref": "#/definitions/Token"},
        },
        "definitions": {
            "Token": {"type": "object", "properties": {"id": {"type": "string", "maxLength": 3}}}
        },
    }
    rules = field_rules(
        lambda action: schema,
        {"Event": ("kind", "mode", "token.id", "token")},
        when={"Event": {"token": {"kind": "Ended"}}},
    )
    inspector = FrameInspector(
        charger_id="r", known_actions={"Event"}, handled_actions={"Event"}, field_rules=rules
    )
    started = {"kind": "started", "mode": "fast", "token": {"id": "LONG"}}
    assert inspector.repair("Event", started) is Repair.REPAIRED
    assert started == {"kind": "Started", "mode": "fast", "token": {"id": "LONG"}}
    ended = {"kind": "ENDED", "token": {"id": "LONG"}}
    assert inspector.repair("Event", ended) is Repair.REPAIRED
    assert ended == {"kind": "Ended"}
    assert inspector.repair("Event", {"kind": "Ended", "mode": "slow"}) is Repair.NONE


def test_an_ended_keeps_a_stop_token_it_can_mend() -> None:
    """2.0.1: an Ended's idToken whose type is in the wrong case is mended and kept (the type's
    rule goes before the idToken's); one that breaks its schema otherwise is left out."""
    rules = DIALECT_201.field_rules
    inspector = FrameInspector(
        charger_id="r",
        known_actions={"TransactionEvent"},
        handled_actions={"TransactionEvent"},
        field_rules=rules,
    )
    ended: dict[str, Any] = {
        "eventType": "Ended",
        "idToken": {"idToken": "TAG1", "type": "iso14443"},
    }
    assert inspector.repair("TransactionEvent", ended) is Repair.REPAIRED
    assert ended["idToken"] == {"idToken": "TAG1", "type": "ISO14443"}
    ended["idToken"]["additionalInfo"] = [{"additionalIdToken": "X" * 37, "type": "Plate"}]
    assert inspector.repair("TransactionEvent", ended) is Repair.REPAIRED
    assert "idToken" not in ended


class _QueueConnection:
    """A connection fed from a list (closed when empty); records what is sent."""

    def __init__(self, frames: list[str | bytes]) -> None:
        self.frames = frames
        self.sent: list[str] = []
        self.closed = False

    async def recv(self) -> str | bytes:
        if not self.frames:
            raise ConnectionClosed(None, None)
        return self.frames.pop(0)

    async def send(self, message: str) -> None:
        self.sent.append(message)

    async def close(self) -> None:
        self.closed = True


def _inspector() -> FrameInspector:
    return FrameInspector(
        charger_id="g", known_actions={"Heartbeat"}, handled_actions={"Heartbeat"}
    )


def _endpoint(connection: Any, trust: Any = lambda: Trust.AUTHENTICATED) -> RpcEndpoint[None]:
    return RpcEndpoint(
        connection,
        charger_id="e",
        dialect=DIALECT,
        routes={"Heartbeat": Route(lambda target, payload: {"currentTime": now_iso()})},
        target=None,
        timeout_s=1,
        trust=trust,
    )


def test_answers_are_shape_checked_and_completed() -> None:
    inspector = _inspector()
    assert inspector.inspect('[3, "a", ["not", "an", "object"]]') == (None, None)
    assert inspector.inspect('[3, "a", {}]') == ([3, "a", {}], None)
    assert inspector.inspect('[4, "b", 5]') == (None, None)
    assert inspector.inspect('[4, "b", "GenericError"]')[0] == [4, "b", "GenericError", "", {}]
    frame, _ = inspector.inspect('[4, "c", "GenericError", 7, []]')
    assert frame == [4, "c", "GenericError", "", {}]
    assert inspector.inspect('[4, "d", "GenericError", "x", {"k": 1}]')[0] == [
        4,
        "d",
        "GenericError",
        "x",
        {"k": 1},
    ]
    assert inspector.inspect("[3, 5, {}]") == (None, None)  # no id: a stray
    assert inspector.stats.strays_dropped == 1
    assert inspector.stats.by_kind["malformed_response"] == 2


async def test_answers_nobody_waits_for_are_strays() -> None:
    connection = _QueueConnection(['[3, "nobody", {}]', '[4, "nobody", "GenericError", "", {}]'])
    endpoint = _endpoint(connection)
    await endpoint.serve()
    assert endpoint.stats.strays_dropped == 2
    assert connection.sent == []  # an answer is never answered


def test_oversized_frame_without_a_call_id_is_dropped_silently() -> None:
    inspector = _inspector()
    small = ConnectionLimits(frame_bytes=10, hard_frame_bytes=100, messages_per_s=None)
    assert inspector.inspect(b"\x00" * 50, small) == (None, None)
    assert inspector.stats.by_kind["too_large"] == 1


async def test_a_bug_in_inspection_still_answers_the_call(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    connection = _QueueConnection(
        ['[2, "x1", "Heartbeat", {}]', "[3", '[2, "ok", "Heartbeat", {}]']
    )
    endpoint = _endpoint(connection)
    calls = {"n": 0}
    original = endpoint.inspector.inspect

    def flaky(raw: str | bytes, limits: ConnectionLimits | None = None) -> Any:
        calls["n"] += 1
        if calls["n"] <= 2:
            raise RuntimeError("bug")
        return original(raw, limits)

    monkeypatch.setattr(endpoint.inspector, "inspect", flaky)
    await endpoint.serve()
    assert json.loads(connection.sent[0])[:3] == [4, "x1", "InternalError"]
    assert json.loads(connection.sent[1])[:2] == [3, "ok"]  # "[3" has no id to answer
    assert len(connection.sent) == 2
    assert endpoint.stats.internal_errors == 1
    assert endpoint.closed


async def test_calls_fail_fast_once_closed_and_payloads_are_checked_before_sending() -> None:
    connection = _QueueConnection([])
    endpoint = _endpoint(connection)
    with pytest.raises(InvalidCommandError):
        await endpoint.call("Reset", {"type": "Sideways"})
    await endpoint.serve()  # the connection is gone at once
    with pytest.raises(ChargerNotConnectedError):
        await endpoint.call("Reset", {"type": "Soft"})
    assert connection.sent == []


async def test_trust_change_reconfigures_the_rate_limit() -> None:
    trust = {"level": Trust.PENDING}
    connection = _QueueConnection(['[2, "a", "Heartbeat", {}]', '[2, "b", "Heartbeat", {}]'])
    endpoint = _endpoint(connection, trust=lambda: trust["level"])

    def raise_trust() -> None:
        trust["level"] = Trust.UNAUTHENTICATED

    endpoint._on_frame = raise_trust
    await endpoint.serve()
    assert endpoint._bucket is not None
    assert endpoint._bucket._rate == LIMITS[Trust.UNAUTHENTICATED].messages_per_s
    assert len(connection.sent) == 2


async def test_server_declines_per_message_compression(make_central: Any) -> None:
    """A compressed flood inflates thousands of frames per TCP segment before reading pauses."""
    from websockets.asyncio.client import connect
    from websockets.typing import Subprotocol

    central = await make_central()
    async with connect(
        f"ws://127.0.0.1:{central.port}/CP-Z",
        subprotocols=[Subprotocol("ocpp1.6")],
        compression="deflate",
    ) as ws:
        assert ws.protocol.extensions == []


async def test_call_error_answers_are_not_logged_as_warnings(
    h: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    from custom_components.ocpp_ems.core.errors import CommandRejectedError

    sim = await h.charger_client()
    sim.fail_with_error.add("Reset")
    with pytest.raises(CommandRejectedError):
        await h.session.reset()
    assert not [r for r in caplog.records if r.levelno >= 30 and "CALLError" in r.getMessage()]


async def test_duplicate_authorization_headers_are_refused_without_a_traceback(
    make_central: Any, directory: MemoryDirectory, caplog: pytest.LogCaptureFixture
) -> None:
    """Review finding: two Authorization headers made the handshake raise (HTTP 500, a traceback
    per request)."""
    from websockets.asyncio.client import connect
    from websockets.datastructures import Headers
    from websockets.exceptions import InvalidStatus
    from websockets.typing import Subprotocol

    directory.accept("CP-D", password="correct-horse-battery-staple-1")
    central = await make_central()
    headers = Headers()
    headers["Authorization"] = "Basic eDp5"
    headers["Authorization"] = "Basic eTp6"
    with pytest.raises(InvalidStatus) as refused:
        async with connect(
            f"ws://127.0.0.1:{central.port}/CP-D",
            subprotocols=[Subprotocol("ocpp1.6")],
            additional_headers=headers,
        ):
            pass
    assert refused.value.response.status_code == 401
    assert not [r for r in caplog.records if r.exc_info]
