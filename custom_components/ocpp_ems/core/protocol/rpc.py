"""Our OCPP-J RPC layer, shared by every version's adapter: one frame in, one answer out.

:class:`RpcEndpoint` owns one connection:

- **incoming CALLs**: each frame is parsed once and checked (:class:`~.frames.FrameInspector`),
  its payload checked against the version's compiled schema (:mod:`.schemas`), routed by a table
  built once per version (:class:`Route`: no introspection, no key conversion: handlers get the
  payload as sent), and answered exactly once: with the handler's result, the schema violation's
  CALLERROR, a handler's :class:`CallError`, or InternalError when a handler fails (our bug). CALLs
  are handled one at a time in arrival order (a charger's StopTransaction never overtakes its
  MeterValues); a route's ``after`` hook runs once the answer is on the wire (follow-up CALLs
  of ours start there, never inside a handler);
- **our CALLs**: checked against the schema before sending (:class:`InvalidCommandError`: never
  sent), one at a time (OCPP-J), correlated by unique id with a deadline; late and unknown answers
  are dropped and counted; an answer written loosely (a status in the wrong case, a field its
  version lacks) is taken for what it says; the outcome is one of our errors (:mod:`..errors`),
  never a library's;
- **limits**: frame size and message rate by the connection's trust (:mod:`.limits`);
- frames are logged only when somebody listens or the server's option asks (:mod:`.wire_log`).

:class:`SessionTasks` keeps a session's background tasks (cancelled on close).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections import deque
from collections.abc import Callable, Collection, Coroutine, Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from websockets.exceptions import ConnectionClosed

from custom_components.ocpp_ems.core.errors import (
    ChargerNotConnectedError,
    CommandRejectedError,
    CommandTimeoutError,
    InvalidCommandError,
)

from .frames import (
    CALL,
    CALL_ERROR,
    CALL_RESULT,
    ErrorCodes,
    FieldRules,
    FrameInspector,
    FrameStats,
    Repair,
    SampledValueRules,
    call_id_of,
    encode,
    encode_error,
    loosened_answer,
)
from .limits import LIMITS, WHILE_PENDING, ConnectionLimits, TokenBucket, Trust
from .schemas import Schemas, SchemaViolation
from .wire_log import log_frame

_LOGGER = logging.getLogger(__name__)

type Payload = dict[str, Any]


class Connection(Protocol):
    """The part of ``websockets``' ServerConnection the endpoint uses."""

    async def recv(self) -> str | bytes: ...

    async def send(self, message: str) -> None: ...

    async def close(self) -> None: ...


class CallError(Exception):
    """Raised by a handler to answer its CALL with a CALLERROR instead of a result."""

    def __init__(self, code: str, description: str = "") -> None:
        super().__init__(f"{code}: {description}")
        self.code = code
        self.description = description


@dataclass(frozen=True, kw_only=True)
class Dialect:
    """What differs between OCPP versions at the RPC level."""

    version: str
    schemas: Schemas
    codes: ErrorCodes
    # Known to the version (answered NotSupported when not routed) vs unknown (NotImplemented).
    known_actions: Collection[str]
    sampled_value_rules: SampledValueRules | None = None
    field_rules: FieldRules | None = None
    # Message types the version has beyond CALL / CALLRESULT / CALLERROR that get no answer
    # (2.1: CALLRESULTERROR and SEND): dropped, not answered MessageTypeNotSupported.
    unanswered_message_types: frozenset[int] = frozenset()


@dataclass(frozen=True, slots=True)
class Route[T]:
    """How one incoming action is handled: ``handle(target, payload) -> result payload``; then
    ``after(target, payload)`` once the answer was sent."""

    handle: Callable[[T, Payload], Payload]
    after: Callable[[T, Payload], None] | None = None


class RpcEndpoint[T]:
    """One connection's OCPP-J traffic in both directions (see the module docstring)."""

    def __init__(
        self,
        connection: Connection,
        *,
        charger_id: str,
        dialect: Dialect,
        routes: Mapping[str, Route[T]],
        target: T,
        timeout_s: float,
        trust: Callable[[], Trust] = lambda: Trust.AUTHENTICATED,
        on_frame: Callable[[], None] = lambda: None,
        log_frames: Callable[[], bool] = lambda: False,
    ) -> None:
        self._connection = connection
        self._log_frames = log_frames
        self._charger_id = charger_id
        self._dialect = dialect
        self._routes = routes
        self._target = target
        self.timeout_s = timeout_s
        self._trust = trust
        self._on_frame = on_frame
        self.inspector = FrameInspector(
            charger_id=charger_id,
            known_actions=dialect.known_actions,
            handled_actions=routes.keys(),
            codes=dialect.codes,
            sampled_value_rules=dialect.sampled_value_rules,
            field_rules=dialect.field_rules,
            unanswered_types=dialect.unanswered_message_types,
        )
        self._limits: ConnectionLimits | None = None
        self._bucket: TokenBucket | None = None
        self._call_lock = asyncio.Lock()
        # Our CALL awaiting its answer (one at a time; an entry lives until answer or deadline).
        self._pending: dict[str, asyncio.Future[list[Any]]] = {}
        # Our CALLs given up by their caller (cancelled, not timed out): a late answer to one is
        # no fault of the charger's, dropped quietly.
        self._abandoned: deque[str] = deque(maxlen=16)
        self._closed = False

    @property
    def stats(self) -> FrameStats:
        return self.inspector.stats

    @property
    def closed(self) -> bool:
        return self._closed

    # --- receiving -------------------------------------------------------------------------------
    async def serve(self) -> None:
        """Read and answer frames until the connection closes (ConnectionClosed ends it quietly)."""
        try:
            while True:
                limits = self._apply_limits()
                if self._bucket is not None and limits.messages_per_s is not None:
                    self.stats.rate_limited_s += await self._bucket.take()
                raw = await self._connection.recv()
                await self._receive(raw, limits)
        except ConnectionClosed:
            pass
        finally:
            self.close()

    async def _receive(self, raw: str | bytes, limits: ConnectionLimits) -> None:
        log_frame(self._charger_id, "receive", raw, always=self._log_frames())
        try:
            self._on_frame()
            message, reply = self.inspector.inspect(raw, limits)
        except Exception:  # a bug of ours must not cost the charger its answer
            _LOGGER.exception("%s: could not inspect a frame", self._charger_id)
            call_id = call_id_of(raw)
            message = None
            reply = None if call_id is None else self._internal_error(call_id)
        if reply is not None:
            await self._send(reply)
        if message is None:
            return
        if message[0] == CALL:
            await self._answer(message)
        else:
            self._resolve(message)

    async def _answer(self, message: list[Any]) -> None:
        _, unique_id, action, payload = message
        route = self._routes[action]  # the inspector passes only routed actions
        schemas = self._dialect.schemas
        await schemas.ready_request(action, ours=False)
        await schemas.ready_response(action, ours=True)
        reply = self._handle(unique_id, action, route, payload)
        await self._send(reply)
        if route.after is not None and reply.startswith("[3,"):
            try:
                route.after(self._target, payload)
            except Exception:
                _LOGGER.exception("%s: follow-up of %s failed", self._charger_id, action)

    def _handle(self, unique_id: str, action: str, route: Route[T], payload: Any) -> str:
        """The encoded answer to one CALL; a failure of ours is answered InternalError."""
        try:
            return self._handle_checked(unique_id, action, route, payload)
        except Exception:
            _LOGGER.exception("%s: failed to handle %s", self._charger_id, action)
            return self._internal_error(unique_id)

    def _handle_checked(self, unique_id: str, action: str, route: Route[T], payload: Any) -> str:
        if action not in WHILE_PENDING and self._trust() is Trust.PENDING:
            self.inspector.report(
                f"pending:{action}", "answered SecurityError to %s: not accepted yet", action
            )
            return encode_error(
                unique_id, "SecurityError", "Not accepted: only BootNotification until accepted"
            )
        violation = self._check_incoming(action, payload)
        if violation is Repair.NOTHING_USABLE:
            return encode([CALL_RESULT, unique_id, {}])
        if violation is not None:
            self.stats.errors_answered += 1
            self.inspector.report(
                f"schema:{action}:{violation.code}",
                "answered %s to %s: %s",
                violation.code,
                action,
                violation,
            )
            return encode_error(unique_id, violation.code, violation.description)
        try:
            result = route.handle(self._target, payload)
        except CallError as err:
            return encode_error(unique_id, err.code, err.description)
        # Our own answer is checked like everything we send: a violation here is our bug.
        self._dialect.schemas.check_response(action, result, ours=True)
        return encode([CALL_RESULT, unique_id, result])

    def _check_incoming(
        self, action: str, payload: Any
    ) -> SchemaViolation | Literal[Repair.NOTHING_USABLE] | None:
        """None when ``payload`` is valid (after repair, if it needed one); else what to answer.

        Field quirks of real chargers are repaired only when the schema says something is wrong:
        the common, valid frame pays for one compiled check and nothing else."""
        schemas = self._dialect.schemas
        try:
            schemas.check_request(action, payload, ours=False)
        except SchemaViolation as violation:
            repair = self.inspector.repair(action, payload)
            if repair is not Repair.REPAIRED:
                return Repair.NOTHING_USABLE if repair is Repair.NOTHING_USABLE else violation
        else:
            return None
        try:
            schemas.check_request(action, payload, ours=False)
        except SchemaViolation as still:
            return still
        return None

    def _resolve(self, message: list[Any]) -> None:
        future = self._pending.pop(message[1], None)
        if future is None and message[1] in self._abandoned:
            self._abandoned.remove(message[1])
            _LOGGER.debug("%s: answer to a call we gave up: %s", self._charger_id, message[1])
            return
        if future is None or future.done():
            self.inspector.drop_stray(encode(message))
            return
        future.set_result(message)

    def _internal_error(self, unique_id: str) -> str:
        self.stats.internal_errors += 1
        return encode_error(unique_id, self._dialect.codes.internal)

    # --- sending ---------------------------------------------------------------------------------
    async def call(self, action: str, payload: Payload) -> Payload:
        """Send one CALL and return the charger's result payload.

        Raises InvalidCommandError (our payload fails the schema: not sent),
        CommandRejectedError (CALLERROR, or an answer that fails its schema for more than how
        it is written: :meth:`_taken_loosely`),
        CommandTimeoutError, ChargerNotConnectedError."""
        schemas = self._dialect.schemas
        await schemas.ready_request(action, ours=True)
        try:
            schemas.check_request(action, payload, ours=True)
        except SchemaViolation as err:
            raise InvalidCommandError(action, err.description) from None
        async with self._call_lock:
            if self._closed:
                raise ChargerNotConnectedError(self._charger_id)
            unique_id = str(uuid.uuid4())
            future: asyncio.Future[list[Any]] = asyncio.get_running_loop().create_future()
            self._pending[unique_id] = future
            try:
                await self._send(encode([CALL, unique_id, action, payload]))
                async with asyncio.timeout(self.timeout_s):
                    answer = await future
            except TimeoutError:
                raise CommandTimeoutError(action) from None
            except asyncio.CancelledError:
                self._abandoned.append(unique_id)
                raise
            except ConnectionClosed:
                raise ChargerNotConnectedError(self._charger_id) from None
            finally:
                self._pending.pop(unique_id, None)
        if answer[0] == CALL_ERROR:
            raise CommandRejectedError(action, answer[2])
        await schemas.ready_response(action, ours=False)
        result: Payload = answer[2]
        try:
            schemas.check_response(action, result, ours=False)
        except SchemaViolation as err:
            loosened = self._taken_loosely(action, result)
            if loosened is None:
                _LOGGER.debug("%s: invalid %s answer: %s", self._charger_id, action, err)
                raise CommandRejectedError(action, err.code) from None
            result = loosened
        return result

    def _taken_loosely(self, action: str, answer: Any) -> Payload | None:
        """An answer that fails its schema only by how it is written (a status in the wrong case,
        a field its version lacks): what it says. Refused, a charger that did what it said (a
        limit applied) would be shown and counted at what it no longer holds. None: it fails
        for more than that."""
        schemas = self._dialect.schemas
        loosened = loosened_answer(schemas.response_schema(action), answer)
        if loosened is None:
            return None
        try:
            schemas.check_response(action, loosened, ours=False)
        except SchemaViolation:
            return None
        self.inspector.report(
            f"loose_answer:{action}",
            "took a loosely written %s answer %s as %s",
            action,
            encode(answer),
            encode(loosened),
        )
        return loosened

    async def _send(self, frame: str) -> None:
        log_frame(self._charger_id, "send", frame, always=self._log_frames())
        await self._connection.send(frame)

    # --- lifecycle -------------------------------------------------------------------------------
    def close(self) -> None:
        """Fail the pending CALL now (the charger is gone); later calls fail at once."""
        self._closed = True
        for future in self._pending.values():
            if not future.done():
                future.set_exception(ChargerNotConnectedError(self._charger_id))
                # Marked as seen: if the waiting call is cancelled in the same instant, nobody
                # reads it, and asyncio would log "exception was never retrieved".
                future.exception()
        self._pending.clear()

    def _apply_limits(self) -> ConnectionLimits:
        limits = LIMITS[self._trust()]
        if limits is not self._limits:
            self._limits = limits
            protocol = getattr(self._connection, "protocol", None)
            if protocol is not None and hasattr(protocol, "max_message_size"):
                # Larger frames are not even read (websockets closes with 1009).
                protocol.max_message_size = limits.hard_frame_bytes
            if limits.messages_per_s is not None:
                if self._bucket is None:
                    self._bucket = TokenBucket(limits.messages_per_s, limits.burst)
                else:
                    self._bucket.configure(limits.messages_per_s, limits.burst)
        return limits


class SessionTasks:
    """A session's background tasks (set-up, watchdogs): cancelled when the session closes."""

    def __init__(self, charger_id: str) -> None:
        self._charger_id = charger_id
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        self._closed = True
        for task in list(self._tasks):
            task.cancel()

    def spawn(self, coro: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None]:
        task = asyncio.get_running_loop().create_task(
            coro, name=f"ocpp_ems {self._charger_id} {name}"
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task


def expect(action: str, status: Any, accepted: tuple[str, ...] = ("Accepted",)) -> str:
    """The answer's status as text; :class:`CommandRejectedError` unless it is ``accepted``."""
    text = str(status)
    if text not in accepted:
        raise CommandRejectedError(action, text)
    return text
