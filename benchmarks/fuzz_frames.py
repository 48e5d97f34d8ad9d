"""Fuzz benchmark of the OCPP-J frame layer: hostile frames against the real central system.

The real :class:`CentralSystem` (real 1.6 adapter, current control) runs in a SUBPROCESS on
127.0.0.1, so its memory and log are its own. This process opens several connections and sends
generated frames, seeded (``--seed``), over:

- accepted chargers that authenticated with their password (most frames: no rate limit applies);
- Pending connections (unknown ids, no password: small frames, 2 messages/s, see
  ``core/protocol/limits.py``);
- a flood of Pending connections that write as fast as the socket takes (memory bound).

Frames: valid payloads of every action a charger sends in the version chosen (``--ocpp`` 1.6, 2.0.1
or 2.1: ``fuzz_payloads.py``; a 2.x connection answers the server like ``load_fleet``'s station);
each field at any depth replaced by
every JSON type (null, bool, int, 2**70, float, strings of any length, lists, objects, deep nests);
fields dropped or added; wrong message structure; truncated JSON, random bytes, binary frames;
NaN / Infinity / 1e999; nesting up to 200,000 deep; frames up to 900 KB; stray CALLRESULT /
CALLERROR frames with unknown ids; duplicate unique ids. With ``--hostile-answers P`` the fuzzing
chargers also answer that share of the server's own CALLs hostile (``HOSTILE_ANSWERS``).

Printed (and with ``--write`` saved to benchmarks/results/fuzz_frames.{md,json}):
- tracebacks logged by the server (log records with exception info, any level);
- CALLs unanswered (a CALL with a string unique id must get exactly one CALLRESULT/CALLERROR with
  that id within 10 s) and CALLs answered more than once;
- connections closed by the server (close code), split into payload-caused (must be 0) and the
  documented frame-size limit (1009, only for frames above a connection's hard limit);
- server RSS before / peak during fuzz / peak during the Pending flood;
- latency p50 / p99 of a well-behaved charger's MeterValues before and during the fuzz.

Usage: .venv/bin/python benchmarks/fuzz_frames.py [--frames 100000] [--seed 1] [--ocpp 2.0.1]
       [--write]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import logging
import os
import random
import signal
import string
import sys
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
if __name__ == "__main__":
    from benchmarks.core_alone import isolate_core

    isolate_core()  # the server's memory is the core's, not Home Assistant's

from websockets.asyncio.client import ClientConnection, connect  # noqa: E402
from websockets.exceptions import ConnectionClosed, InvalidStatus  # noqa: E402

from benchmarks import proc_stats  # noqa: E402
from benchmarks.fuzz_payloads import VERSIONS, FuzzVersion  # noqa: E402
from benchmarks.load_fleet import SimStation201  # noqa: E402
from benchmarks.server_load import (  # noqa: E402
    AcceptAllDirectory,
    answer_server_call,
    rss_bytes,
)
from custom_components.ocpp_ems.core.directory import Admission  # noqa: E402
from custom_components.ocpp_ems.core.protocol.limits import LIMITS, Trust  # noqa: E402

PASSWORD = "fuzz-password-0123456789"
ACCEPTED_PREFIX = "FUZZ-A"
GOOD_ID = "GOOD-1"
ANSWER_TIMEOUT_S = float(os.environ.get("FUZZ_ANSWER_TIMEOUT", "10"))


# ------------------------------------------------------------------------------------ server side
@dataclass
class FuzzDirectory(AcceptAllDirectory):
    """Accepted (with a password): GOOD-1 and FUZZ-A*; every other id is Pending."""

    def admission(self, charger_id: str) -> Admission:
        accepted = charger_id == GOOD_ID or charger_id.startswith(ACCEPTED_PREFIX)
        return Admission.ACCEPTED if accepted else Admission.PENDING

    async def answers_elsewhere(self, charger_id: str) -> bool:
        return False  # one server

    def password(self, charger_id: str) -> str | None:
        return PASSWORD if self.admission(charger_id) is Admission.ACCEPTED else None

    def authorize_id_tag(self, charger_id: str, id_tag: str) -> bool:
        return id_tag.startswith("OK")


class TracebackCounter(logging.Handler):
    """Counts log records that carry an exception (a traceback in a real log)."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.tracebacks: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info is not None and record.exc_info[0] is not None:
            error = "".join(traceback.format_exception(*record.exc_info)[-3:])
            self.tracebacks.append(f"{record.name}: {record.getMessage()[:200]}\n{error}")


async def serve_forever() -> None:
    """``--serve``: run the central system, print its port, report tracebacks on SIGTERM."""
    from custom_components.ocpp_ems.core.server import CentralSystem
    from custom_components.ocpp_ems.core.settings import ServerSettings

    counter = TracebackCounter()
    logging.getLogger().addHandler(counter)
    logging.getLogger().setLevel(logging.INFO)
    central = CentralSystem(ServerSettings(host="127.0.0.1", port=0), FuzzDirectory())  # type: ignore[arg-type]
    await central.start()
    if any(name.startswith("homeassistant") for name in sys.modules):
        raise SystemExit("the core server loaded Home Assistant")  # see core_alone.py
    print(f"PORT {central.port}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    await central.stop()
    print(json.dumps({"tracebacks": counter.tracebacks}), flush=True)


# ------------------------------------------------------------------------------ frame generation
def random_json(rng: random.Random, depth: int = 0) -> Any:
    """Any JSON value: every type, odd sizes, a few levels of nesting."""
    kind = rng.randrange(12 if depth < 3 else 9)
    if kind == 0:
        return None
    if kind == 1:
        return rng.random() < 0.5
    if kind == 2:
        return rng.choice([0, -1, 1, 2**31, -(2**63), 2**70])
    if kind == 3:
        return rng.choice([0.5, -1e300, 1e-300, 6.25, 3.14159])
    if kind == 4:
        return ""
    if kind == 5:
        return "".join(rng.choices(string.printable, k=rng.randint(1, 40)))
    if kind == 6:
        return "x" * rng.choice([100, 5000, 70_000])
    if kind == 7:
        return rng.choice(["Wh", "kWh", "Sample.Periodic", "L1-N", "Charging", "\u0000\udbff"])
    if kind == 8:
        return "\u20ac\U0001f600" * rng.randint(1, 50)
    if kind == 9:
        return [random_json(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    if kind == 10:
        return {f"k{i}": random_json(rng, depth + 1) for i in range(rng.randint(0, 4))}
    nested: Any = 1
    for _ in range(rng.randint(5, 60)):
        nested = [nested] if rng.random() < 0.5 else {"a": nested}
    return nested


# Values of the same JSON type as the one they replace that a schema lets through (numbers and
# free text are rarely bounded): the handlers' own checks must catch what they mean.
_HOSTILE_INTS = (0, -1, 2**31 - 1, -(2**31), 2**53, 10**12)
_HOSTILE_FLOATS = (0.0, -0.0, -1e9, 1e15, 1e-9, 5e-324)
_HOSTILE_NUMERIC_TEXT = ("-1", "0", "-0", "1e15", "1e308", "99999999999999999999", " 12 ", "12,5")
_HOSTILE_TIMES = (
    "1970-01-01T00:00:00Z",
    "2099-12-31T23:59:59Z",
    "2026-02-30T25:61:61Z",
    "2026-12-01T12:00:00+14:00",
    "2026-12-01",
)


def hostile_value(rng: random.Random, value: Any) -> Any:
    """A value of ``value``'s JSON type that is valid by type but hostile by meaning: a register
    running backwards or jumping, a time far off or impossible, an id out of range."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return rng.choice(_HOSTILE_INTS)
    if isinstance(value, float):
        return rng.choice(_HOSTILE_FLOATS)
    if isinstance(value, str):
        if value[:2].isdigit() and "T" in value:
            return rng.choice(_HOSTILE_TIMES)
        try:
            float(value)
        except ValueError:
            return rng.choice(["", " ", value * 3, value.upper(), f"{value}\u0000"])
        return rng.choice(_HOSTILE_NUMERIC_TEXT)
    return value


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if isinstance(value, dict):
        for key, child in value.items():
            yield (*prefix, key)
            yield from _paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield (*prefix, index)
            yield from _paths(child, (*prefix, index))


def _get(root: Any, path: tuple[Any, ...]) -> Any:
    for step in path:
        root = root[step]
    return root


def _set(root: Any, path: tuple[Any, ...], value: Any, *, delete: bool = False) -> None:
    target = _get(root, path[:-1])
    if delete:
        del target[path[-1]]
    else:
        target[path[-1]] = value


@dataclass
class Fuzzed:
    kind: str
    data: str | bytes
    call_id: str | None = None  # a CALL with this string id: exactly one answer expected
    repeat: int = 1  # duplicate ids: sent (and answered) this many times


class FrameFactory:
    """Seeded hostile frames; ``call_id``s are unique per factory (prefix)."""

    KINDS = (
        ("valid", 10),
        ("field_type", 28),
        ("semantic", 6),
        ("field_dropped", 6),
        ("field_added", 4),
        ("structure", 10),
        ("broken_json", 8),
        ("binary", 2),
        ("non_finite", 5),
        ("deep", 3),
        ("huge", 1),
        ("stray", 12),
        ("duplicate", 5),
    )

    def __init__(
        self, seed: int, prefix: str, *, max_frame: int = 900_000, version: str = "1.6"
    ) -> None:
        self.rng = random.Random(seed)
        self.version: FuzzVersion = VERSIONS[version]
        self.prefix = prefix
        self.max_frame = max_frame
        self._serial = 0
        self._kinds = [kind for kind, _ in self.KINDS]
        self._weights = [weight for _, weight in self.KINDS]

    def _id(self) -> str:
        self._serial += 1
        return f"{self.prefix}-{self._serial}"

    def next(self) -> Fuzzed:
        """The next frame, at most ``max_frame`` bytes (larger ones are not read by the server:
        websockets closes with 1009; that limit is tested on its own)."""
        while True:
            kind = self.rng.choices(self._kinds, self._weights)[0]
            maker: Callable[[], Fuzzed] = getattr(self, f"_{kind}")
            fuzzed = maker()
            if len(fuzzed.data) <= self.max_frame:
                return fuzzed

    def _call(self, kind: str, payload: Any, action: str | None = None) -> Fuzzed:
        unique_id = self._id()
        action = action or self._action()
        return Fuzzed(kind, json.dumps([2, unique_id, action, payload]), unique_id)

    def _action(self) -> str:
        return self.rng.choice(self.version.actions)

    def _template(self, action: str) -> dict[str, Any]:
        return self.version.template(action, self.rng)

    def _valid(self) -> Fuzzed:
        action = self._action()
        return self._call("valid", self._template(action), action)

    def _field_type(self) -> Fuzzed:
        action = self._action()
        payload = self._template(action)
        paths = list(_paths(payload))
        if paths:
            _set(payload, self.rng.choice(paths), random_json(self.rng))
        return self._call("field_type", payload, action)

    def _semantic(self) -> Fuzzed:
        action = self._action()
        payload = self._template(action)
        leaves = [p for p in _paths(payload) if not isinstance(_get(payload, p), (dict, list))]
        if leaves:
            path = self.rng.choice(leaves)
            _set(payload, path, hostile_value(self.rng, _get(payload, path)))
        return self._call("semantic", payload, action)

    def _field_dropped(self) -> Fuzzed:
        action = self._action()
        payload = self._template(action)
        paths = list(_paths(payload))
        if paths:
            _set(payload, self.rng.choice(paths), None, delete=True)
        return self._call("field_dropped", payload, action)

    def _field_added(self) -> Fuzzed:
        action = self._action()
        payload = self._template(action)
        key = self.rng.choice(["session", "self", "kwargs", "connector_id", "x", "", "__class__"])
        payload[key] = random_json(self.rng)
        return self._call("field_added", payload, action)

    def _structure(self) -> Fuzzed:
        rng = self.rng
        unique_id = self._id()
        action = self._action()
        variants: list[tuple[list[Any], str | None]] = [
            ([2, unique_id, action, random_json(rng)], unique_id),
            ([2, unique_id, random_json(rng), {}], unique_id),
            ([2, unique_id, action], unique_id),
            ([2, unique_id, action, {}, "extra"], unique_id),
            ([2, unique_id, "NoSuchAction", {}], unique_id),
            ([2, unique_id, "Reset", {"type": "Hard"}], unique_id),
            ([random_json(rng), unique_id, action, {}], None),
            ([2, random_json(rng), action, {}], None),
            ([], None),
            ([rng.choice([5, 6, 9, -1])], None),
        ]
        frame, expected = rng.choice(variants)
        call_id = expected if frame and frame[0] == 2 and isinstance(frame[1], str) else None
        if call_id is not None and (len(frame) != 4 or not isinstance(frame[2], str)):
            call_id = unique_id  # malformed CALLs with a string id are answered too
        return Fuzzed("structure", json.dumps(frame), call_id)

    def _broken_json(self) -> Fuzzed:
        # Its own id space: a cut id plus noise must never spell the id of a tracked CALL.
        broken_id = f"broken-{self._id()}"
        text = json.dumps([2, broken_id, "Heartbeat", self._template("MeterValues")])
        cut = text[: self.rng.randint(0, len(text) - 1)]
        noise = "".join(self.rng.choices(string.printable, k=self.rng.randint(0, 20)))
        return Fuzzed("broken_json", cut + noise)

    def _binary(self) -> Fuzzed:
        return Fuzzed(
            "binary", bytes(self.rng.randrange(256) for _ in range(self.rng.randint(1, 64)))
        )

    def _non_finite(self) -> Fuzzed:
        unique_id = self._id()
        literal = self.rng.choice(["NaN", "Infinity", "-Infinity", "1e999", "-1e999"])
        payload = self.version.non_finite.format(literal=literal)
        frame = f'[2, "{unique_id}", "MeterValues", {payload}]'
        return Fuzzed("non_finite", frame, unique_id)

    def _deep(self) -> Fuzzed:
        depth = self.rng.choice([30, 500, 5000, 200_000])
        unique_id = self._id()
        if self.rng.random() < 0.5:
            return Fuzzed("deep", "[" * depth)
        frame = f'[2, "{unique_id}", "DataTransfer", {{"vendorId": "v", "data": '
        frame += '{"a":' * depth + "1" + "}" * depth + "}]"
        return Fuzzed("deep", frame, unique_id)

    def _huge(self) -> Fuzzed:
        size = self.rng.randint(20_000, self.max_frame)
        unique_id = self._id()
        payload = {"vendorId": "v", "data": "x" * size}
        return Fuzzed("huge", json.dumps([2, unique_id, "DataTransfer", payload]), unique_id)

    def _stray(self) -> Fuzzed:
        stray_id = "".join(self.rng.choices(string.ascii_letters, k=12))
        if self.rng.random() < 0.6:
            frame: list[Any] = [3, stray_id, random_json(self.rng)]
        else:
            frame = [4, stray_id, "GenericError", random_json(self.rng), random_json(self.rng)]
        return Fuzzed("stray", json.dumps(frame))

    def _duplicate(self) -> Fuzzed:
        fuzzed = self._valid()
        fuzzed.kind = "duplicate"
        fuzzed.repeat = self.rng.randint(2, 4)
        return fuzzed


# ------------------------------------------------------------------------------------ client side
@dataclass
class Tally:
    frames: int = 0
    calls: int = 0
    unanswered: int = 0
    answered_twice: int = 0
    closed_by_payload: dict[str, int] = field(default_factory=dict)
    closed_by_size_limit: int = 0
    refused_handshakes: int = 0
    by_kind: dict[str, int] = field(default_factory=dict)
    # The answers of the "valid" frames: CALLRESULT or the CALLERROR's code (a valid frame
    # answered with errors only would mean the fuzz never reached the handlers).
    valid_answers: dict[str, int] = field(default_factory=dict)
    # What the server asked the fuzzing chargers, and how they answered (``HOSTILE_ANSWERS``).
    server_calls: int = 0
    hostile_answers: dict[str, int] = field(default_factory=dict)
    samples: list[str] = field(default_factory=list)  # the first problem frames, for a report

    def answered(self, fuzzed: Fuzzed, answer: list[Any]) -> None:
        if fuzzed.kind == "valid":
            outcome = "CALLRESULT" if answer[0] == 3 else str(answer[2])
            self.valid_answers[outcome] = self.valid_answers.get(outcome, 0) + 1

    def note(self, what: str, fuzzed: Fuzzed) -> None:
        if len(self.samples) < 10:
            text = fuzzed.data if isinstance(fuzzed.data, str) else repr(fuzzed.data)
            self.samples.append(f"{what} [{fuzzed.kind}]: {text[:200]}")


# How a fuzzing charger answers a CALL of the server (``--hostile-answers``: the share of them):
# a valid answer with a field of any type or dropped, any JSON as the payload, a CALLERROR of any
# code, no answer at all, the answer twice, or under another id.
HOSTILE_ANSWERS = (
    "field_type",
    "field_dropped",
    "any_payload",
    "call_error",
    "none",
    "twice",
    "stray",
)


def hostile_answer(
    rng: random.Random, unique_id: str, answer: dict[str, Any]
) -> tuple[str, list[str]]:
    """A hostile reply to the server's CALL ``unique_id`` whose valid answer is ``answer``: its
    kind and the frames to send (none: no answer)."""
    kind = rng.choice(HOSTILE_ANSWERS)
    payload: Any = json.loads(json.dumps(answer))
    paths = list(_paths(payload))
    if kind == "field_type" and paths:
        _set(payload, rng.choice(paths), random_json(rng))
    elif kind == "field_dropped" and paths:
        _set(payload, rng.choice(paths), None, delete=True)
    elif kind == "any_payload":
        payload = random_json(rng)
    frame = json.dumps([3, unique_id, payload])
    if kind == "call_error":
        code = rng.choice(["NotImplemented", "InternalError", "GenericError", "", "NoSuchCode"])
        frame = json.dumps([4, unique_id, code, random_json(rng), random_json(rng)])
    frames = {"none": [], "twice": [frame, frame]}.get(kind, [frame])
    if kind == "stray":
        frames = [json.dumps([3, unique_id + "-x", payload])]
    return kind, frames


class FuzzClient:
    """One charger connection that sends fuzzed frames and checks every CALL's answer."""

    def __init__(
        self,
        base_url: str,
        charger_id: str,
        password: str | None,
        tally: Tally,
        version: str = "1.6",
        hostile_answers: float = 0.0,
        seed: int = 0,
    ) -> None:
        self.url = f"{base_url}/{charger_id}"
        self.hostile_answers = hostile_answers
        self.rng = random.Random(seed)
        self.version = VERSIONS[version]
        # What the server asks after a boot is answered like a charger of that version would.
        self.answer = (
            answer_server_call
            if version == "1.6"
            else SimStation201(self.url, charger_id).answer_server_call
        )
        self.charger_id = charger_id
        self.password = password
        self.tally = tally
        self.ws: ClientConnection | None = None
        self._waiting: dict[str, asyncio.Future[list[Any]]] = {}
        self._answered: set[str] = set()
        self._reader: asyncio.Task[None] | None = None

    async def connect(self) -> None:
        headers = {}
        if self.password is not None:
            token = base64.b64encode(f"{self.charger_id}:{self.password}".encode()).decode()
            headers["Authorization"] = f"Basic {token}"
        self.ws = await connect(
            self.url,
            subprotocols=[self.version.subprotocol],  # type: ignore[list-item]
            additional_headers=headers,
            max_size=None,
            compression=None,
        )
        self._reader = asyncio.create_task(self._read(self.ws))
        boot = self.version.template("BootNotification", random.Random(0))
        await self.call_ok("BootNotification", boot)

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
        if self.ws is not None:
            await self.ws.close()

    async def _read(self, ws: ClientConnection) -> None:
        with contextlib.suppress(ConnectionClosed):
            async for raw in ws:
                message = json.loads(raw)
                if message[0] == 2:  # the server asks us something: answer like a charger
                    await self._answer_server(ws, message)
                    continue
                unique_id = message[1]
                future = self._waiting.pop(unique_id, None)
                if future is not None and not future.done():
                    future.set_result(message)
                    self._answered.add(unique_id)
                elif unique_id in self._answered:
                    self.tally.answered_twice += 1
                    if len(self.tally.samples) < 10:
                        self.tally.samples.append(f"answered twice: {str(raw)[:300]}")

    async def _answer_server(self, ws: ClientConnection, message: list[Any]) -> None:
        answer = self.answer(message[2], message[3])
        self.tally.server_calls += 1
        frames = [json.dumps([3, message[1], answer])]
        if self.rng.random() < self.hostile_answers:
            kind, frames = hostile_answer(self.rng, message[1], answer)
            self.tally.hostile_answers[kind] = self.tally.hostile_answers.get(kind, 0) + 1
        for frame in frames:
            await ws.send(frame)

    async def call_ok(self, action: str, payload: dict[str, Any]) -> list[Any]:
        unique_id = f"{self.charger_id}-{time.monotonic_ns()}"
        return await self._send_and_wait(json.dumps([2, unique_id, action, payload]), unique_id)

    async def _send_and_wait(self, data: str | bytes, unique_id: str) -> list[Any]:
        assert self.ws is not None
        future: asyncio.Future[list[Any]] = asyncio.get_running_loop().create_future()
        self._waiting[unique_id] = future
        await self.ws.send(data)
        try:
            return await asyncio.wait_for(future, ANSWER_TIMEOUT_S)
        finally:
            self._waiting.pop(unique_id, None)

    async def send(self, fuzzed: Fuzzed) -> None:
        """Send one fuzzed frame (and wait for its answer when it is a CALL)."""
        tally = self.tally
        tally.frames += fuzzed.repeat
        tally.by_kind[fuzzed.kind] = tally.by_kind.get(fuzzed.kind, 0) + fuzzed.repeat
        for _ in range(fuzzed.repeat):
            try:
                if fuzzed.call_id is None:
                    assert self.ws is not None
                    await self.ws.send(fuzzed.data)
                    continue
                tally.calls += 1
                self._answered.discard(fuzzed.call_id)  # duplicates: each send is answered once
                try:
                    answer = await self._send_and_wait(fuzzed.data, fuzzed.call_id)
                    tally.answered(fuzzed, answer)
                except TimeoutError:
                    tally.unanswered += 1
                    tally.note("unanswered", fuzzed)
            except ConnectionClosed as closed:
                await self._closed(fuzzed, closed)
                return

    async def _closed(self, fuzzed: Fuzzed, closed: ConnectionClosed) -> None:
        code = closed.rcvd.code if closed.rcvd is not None else None
        if code == 1009:
            self.tally.closed_by_size_limit += 1
        else:
            key = f"{fuzzed.kind}:{code}"
            self.tally.note(f"closed {code}", fuzzed)
            self.tally.closed_by_payload[key] = self.tally.closed_by_payload.get(key, 0) + 1
        await self.close()
        await self.connect()


async def fuzz_connections(
    base_url: str,
    ids: list[str],
    password: str | None,
    frames: int,
    seed: int,
    rate: float,
    *,
    max_frame: int = 900_000,
    version: str = "1.6",
    hostile_answers: float = 0.0,
) -> Tally:
    """Send ``frames`` fuzzed frames spread over ``ids`` (one connection each) at about ``rate``
    frames/s in total; return what happened."""
    tally = Tally()
    per_connection = max(1, frames // len(ids))
    interval = len(ids) / rate if rate > 0 else 0.0

    async def run(index: int, charger_id: str) -> None:
        client = FuzzClient(
            base_url, charger_id, password, tally, version, hostile_answers, seed * 1000 + index
        )
        factory = FrameFactory(
            seed * 1000 + index, charger_id, max_frame=max_frame, version=version
        )
        try:
            await client.connect()
        except InvalidStatus:
            tally.refused_handshakes += 1
            return
        start = time.monotonic()
        try:
            for sent in range(per_connection):
                await client.send(factory.next())
                if interval:
                    delay = start + (sent + 1) * interval - time.monotonic()
                    if delay > 0:
                        await asyncio.sleep(delay)
        finally:
            await client.close()

    await asyncio.gather(*(run(index, charger_id) for index, charger_id in enumerate(ids)))
    return tally


async def latency_probe(
    base_url: str,
    stop: asyncio.Event,
    samples: list[float],
    period_s: float = 0.05,
    version: str = "1.6",
) -> None:
    """A well-behaved charger: MeterValues every ``period_s``; round-trip times in ms."""
    client = FuzzClient(base_url, GOOD_ID, PASSWORD, Tally(), version)
    template = VERSIONS[version].template
    await client.connect()
    rng = random.Random(7)
    try:
        while not stop.is_set():
            started = time.perf_counter()
            await client.call_ok("MeterValues", template("MeterValues", rng))
            samples.append((time.perf_counter() - started) * 1000)
            await asyncio.sleep(period_s)
    finally:
        await client.close()


async def pending_flood(
    base_url: str, connections: int, seconds: float, subprotocol: str
) -> tuple[int, int]:
    """Unknown ids writing strays and oversized CALLs as fast as the socket takes them, without
    reading anything. Returns (connections the server admitted, frames written)."""
    sent = 0
    admitted = 0
    strays = [json.dumps([3, f"s{n}", {"x": "y" * 200}]) for n in range(50)]
    big_calls = [json.dumps([2, f"c{n}", "Heartbeat", {"pad": "z" * 15_000}]) for n in range(10)]

    async def blast(index: int) -> None:
        nonlocal sent, admitted
        with contextlib.suppress(ConnectionClosed, InvalidStatus, OSError, TimeoutError):
            async with connect(
                f"{base_url}/FLOOD-{index}",
                subprotocols=[subprotocol],  # type: ignore[list-item]
                # Per-message deflate on: the costliest state a client can make us keep.
                compression="deflate",
            ) as ws:
                admitted += 1
                deadline = time.monotonic() + seconds
                while time.monotonic() < deadline:
                    for frame in strays + big_calls:
                        remaining = max(0.01, deadline - time.monotonic())
                        await asyncio.wait_for(ws.send(frame), remaining)
                        sent += 1

    await asyncio.gather(*(blast(index) for index in range(connections)))
    return admitted, sent


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def sample_rss(pid: int, stop: asyncio.Event, peak: list[int]) -> None:
    while not stop.is_set():
        peak[0] = max(peak[0], proc_stats.rss_bytes(pid) or 0)
        await asyncio.sleep(0.2)


async def start_server(root: Path = ROOT) -> tuple[asyncio.subprocess.Process, int]:
    """The central system of the checkout ``root`` in a subprocess (``--serve``), and its port."""
    server = await asyncio.create_subprocess_exec(
        sys.executable,
        str(root / "benchmarks" / "fuzz_frames.py"),
        "--serve",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
        env={**os.environ, "PYTHONPATH": str(root)},
    )
    assert server.stdout is not None
    line = (await server.stdout.readline()).decode()
    return server, int(line.split()[1])


async def stop_server(server: asyncio.subprocess.Process) -> list[str]:
    """Stop it; the tracebacks it logged."""
    server.send_signal(signal.SIGTERM)
    out, _ = await server.communicate()
    tracebacks: list[str] = json.loads(out.decode().strip().splitlines()[-1])["tracebacks"]
    return tracebacks


async def benchmark(args: argparse.Namespace) -> dict[str, Any]:
    server, port = await start_server()
    base_url = f"ws://127.0.0.1:{port}"
    started = time.monotonic()
    try:
        rss_before = proc_stats.rss_bytes(server.pid) or 0
        stop_probe = asyncio.Event()
        samples: list[float] = []
        probe = asyncio.create_task(latency_probe(base_url, stop_probe, samples, version=args.ocpp))
        await asyncio.sleep(args.warmup)
        before_ms = list(samples)

        peak = [rss_before]
        stop_rss = asyncio.Event()
        sampler = asyncio.create_task(sample_rss(server.pid, stop_rss, peak))
        accepted_ids = [f"{ACCEPTED_PREFIX}{i}" for i in range(args.accepted)]
        pending_ids = [f"FUZZ-P{i}" for i in range(args.pending)]
        fuzz_started = time.monotonic()
        accepted_tally, pending_tally = await asyncio.gather(
            fuzz_connections(
                base_url,
                accepted_ids,
                PASSWORD,
                args.frames,
                args.seed,
                args.rate,
                version=args.ocpp,
                hostile_answers=args.hostile_answers,
            ),
            fuzz_connections(
                base_url,
                pending_ids,
                None,
                args.pending_frames * len(pending_ids),
                args.seed + 1,
                0,
                max_frame=LIMITS[Trust.PENDING].hard_frame_bytes - 1024,
                version=args.ocpp,
            ),
        )
        fuzz_seconds = time.monotonic() - fuzz_started
        stop_probe.set()
        await probe
        during_ms = samples[len(before_ms) :]
        rss_fuzz_peak = peak[0]

        peak[0] = proc_stats.rss_bytes(server.pid) or 0
        rss_before_flood = peak[0]
        flood_admitted, flood_frames = await pending_flood(
            base_url, args.flood_connections, args.flood_seconds, VERSIONS[args.ocpp].subprotocol
        )
        rss_flood_peak = peak[0]
        stop_rss.set()
        await sampler
    finally:
        tracebacks = await stop_server(server)
    return {
        "ocpp": args.ocpp,
        "seed": args.seed,
        "frames_sent": accepted_tally.frames + pending_tally.frames,
        "flood_frames": flood_frames,
        "calls": accepted_tally.calls + pending_tally.calls,
        "tracebacks": len(tracebacks),
        "traceback_samples": tracebacks[:5],
        "problem_samples": (accepted_tally.samples + pending_tally.samples)[:10],
        "unanswered": accepted_tally.unanswered + pending_tally.unanswered,
        "answered_twice": accepted_tally.answered_twice + pending_tally.answered_twice,
        "closed_by_payload": {
            **accepted_tally.closed_by_payload,
            **pending_tally.closed_by_payload,
        },
        "closed_by_size_limit": accepted_tally.closed_by_size_limit
        + pending_tally.closed_by_size_limit,
        "refused_handshakes": accepted_tally.refused_handshakes + pending_tally.refused_handshakes,
        "by_kind": {
            kind: accepted_tally.by_kind.get(kind, 0) + pending_tally.by_kind.get(kind, 0)
            for kind in sorted(set(accepted_tally.by_kind) | set(pending_tally.by_kind))
        },
        # Over the accepted connections (a Pending one is answered SecurityError by design).
        "valid_answers": dict(sorted(accepted_tally.valid_answers.items())),
        "server_calls": accepted_tally.server_calls,
        "hostile_answers": dict(sorted(accepted_tally.hostile_answers.items())),
        "fuzz_seconds": round(fuzz_seconds, 1),
        "total_seconds": round(time.monotonic() - started, 1),
        "rss_before_mib": round(rss_before / 2**20, 1),
        "rss_fuzz_peak_mib": round(rss_fuzz_peak / 2**20, 1),
        "rss_before_flood_mib": round(rss_before_flood / 2**20, 1),
        "rss_flood_peak_mib": round(rss_flood_peak / 2**20, 1),
        "flood_connections": args.flood_connections,
        "flood_admitted": flood_admitted,
        "latency_before_ms": {
            "p50": round(percentile(before_ms, 0.5), 2),
            "p99": round(percentile(before_ms, 0.99), 2),
            "n": len(before_ms),
        },
        "latency_during_ms": {
            "p50": round(percentile(during_ms, 0.5), 2),
            "p99": round(percentile(during_ms, 0.99), 2),
            "n": len(during_ms),
        },
        "client_rss_mib": round(rss_bytes() / 2**20, 1),
    }


def render(result: dict[str, Any]) -> str:
    rows = [
        ("frames sent (accepted + Pending connections)", result["frames_sent"]),
        ("CALLs among them (each must be answered once)", result["calls"]),
        ("tracebacks logged by the server", result["tracebacks"]),
        ("CALLs unanswered", result["unanswered"]),
        ("CALLs answered more than once", result["answered_twice"]),
        ("connections closed by payload", sum(result["closed_by_payload"].values())),
        ("connections closed by the frame-size limit (1009)", result["closed_by_size_limit"]),
        (
            "server RSS before / fuzz peak (MiB)",
            f"{result['rss_before_mib']} / {result['rss_fuzz_peak_mib']}",
        ),
        (
            f"server RSS during a Pending flood ({result['flood_connections']} connections tried, "
            f"{result['flood_admitted']} admitted, {result['flood_frames']} frames written): "
            "before / peak (MiB)",
            f"{result['rss_before_flood_mib']} / {result['rss_flood_peak_mib']}",
        ),
        (
            "well-behaved charger MeterValues p50 / p99 before (ms)",
            f"{result['latency_before_ms']['p50']} / {result['latency_before_ms']['p99']}",
        ),
        (
            "well-behaved charger MeterValues p50 / p99 during fuzz (ms)",
            f"{result['latency_during_ms']['p50']} / {result['latency_during_ms']['p99']}",
        ),
        ("fuzz duration (s)", result["fuzz_seconds"]),
    ]
    lines = ["| measure | value |", "|---|---|"]
    lines += [f"| {name} | {value} |" for name, value in rows]
    kinds = ", ".join(f"{kind} {count}" for kind, count in result["by_kind"].items())
    lines.append("")
    lines.append(f"Frames by kind: {kinds}.")
    answers = ", ".join(f"{what} {count}" for what, count in result["valid_answers"].items())
    lines.append("")
    lines.append(f"Answers to the valid frames over the authenticated connections: {answers}.")
    hostile = ", ".join(f"{kind} {n}" for kind, n in result["hostile_answers"].items()) or "none"
    lines.append("")
    lines.append(
        f"CALLs of the server to the fuzzing chargers: {result['server_calls']}; answered hostile: "
        f"{hostile}."
    )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--frames", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--ocpp", choices=sorted(VERSIONS), default="1.6", help="OCPP version")
    parser.add_argument(
        "--hostile-answers",
        type=float,
        default=0.0,
        help="share of the server's CALLs the fuzzing chargers answer hostile (0-1)",
    )
    parser.add_argument("--accepted", type=int, default=8, help="authenticated connections")
    parser.add_argument("--pending", type=int, default=4, help="Pending connections")
    parser.add_argument("--pending-frames", type=int, default=40, help="frames per Pending one")
    parser.add_argument("--rate", type=float, default=1500.0, help="frames/s over accepted ones")
    parser.add_argument("--warmup", type=float, default=5.0, help="latency baseline (s)")
    parser.add_argument("--flood-connections", type=int, default=50)
    parser.add_argument("--flood-seconds", type=float, default=10.0)
    parser.add_argument("--write", action="store_true", help="save to benchmarks/results/")
    args = parser.parse_args()
    if args.serve:
        asyncio.run(serve_forever())
        return
    result = asyncio.run(benchmark(args))
    table = render(result)
    print(table)
    if result["problem_samples"]:
        print("\nProblem frames (first 10):\n" + "\n".join(result["problem_samples"]))
    if result["traceback_samples"]:
        print("\nTracebacks (first 5):\n" + "\n".join(result["traceback_samples"]))
    if args.write:
        out = ROOT / "benchmarks" / "results"
        header = (
            f"# Frame fuzz, OCPP {args.ocpp} ({datetime.now(UTC):%Y-%m-%d}, seed {args.seed}, "
            f"{os.cpu_count()} CPUs)\n\n"
            f"`benchmarks/fuzz_frames.py --frames {args.frames} --seed {args.seed} "
            f"--ocpp {args.ocpp}`\n\n"
        )
        stem = "fuzz_frames" + ("" if args.ocpp == "1.6" else "_v" + args.ocpp.replace(".", ""))
        (out / f"{stem}.md").write_text(header + table + "\n")
        (out / f"{stem}.json").write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
