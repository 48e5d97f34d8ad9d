"""A guard between the websocket and the ``ocpp`` package: bad frames never reach the library.

The ``ocpp`` package answers nothing to invalid JSON or an unknown message type (it only logs),
lets a malformed frame kill its receive loop (an unhashable action raises outside its error
handling), queues every CALLRESULT/CALLERROR it receives without bound (and looks up answers
recursively, so thousands of stray answers end in a RecursionError), and swaps
NotImplemented/NotSupported relative to the OCPP-J tables. The guard wraps the connection
(``recv``/``send``/``close``) and:

- answers every frame it cannot pass on with the CALLERROR the spec names (oversized, not JSON,
  NaN/Infinity, nested deeper than any OCPP message, not an OCPP-J array, unknown action);
- correlates answers itself: only a CALLRESULT/CALLERROR for a CALL we sent and still wait for is
  passed on (a bounded table); strays are dropped and counted, never queued;
- applies the connection's limits (:mod:`.limits`): frame size and message rate by trust level;
- repairs the field quirks of meter values (invalid ``context`` values, empty sample lists,
  numbers instead of strings) that would otherwise make schema validation reject a whole
  MeterValues/StopTransaction and lose the reading.

Each kind of problem is logged once per connection at warning level, later repeats at debug
level; :attr:`FrameGuard.stats` counts them.
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections import OrderedDict
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import Any, Protocol

from custom_components.ocpp_ems.core.protocol.limits import (
    LIMITS,
    ConnectionLimits,
    TokenBucket,
    Trust,
    json_depth_exceeds,
)
from custom_components.ocpp_ems.core.protocol.rpc import redact
from custom_components.ocpp_ems.core.timeutil import format_timestamp, utcnow

_LOGGER = logging.getLogger(__name__)

CALL, CALL_RESULT, CALL_ERROR = 2, 3, 4
UNPARSABLE_ID = "-1"
# Our own CALLs awaiting an answer, per connection. The library sends one at a time; the slack
# covers answers that arrive after their call timed out (then they are strays).
MAX_OUTSTANDING_CALLS = 16
# The unique id of a CALL, read without parsing (for frames too large to parse).
_CALL_ID = re.compile(r'^\s*\[\s*2\s*,\s*"([^"\\]{1,64})"')
# The unique id of one of our own outgoing frames (we write them: no whitespace quirks).
_OUTGOING_CALL_ID = re.compile(r'^\[2,\s*"([^"\\]*)"')


class Connection(Protocol):
    """The part of ``websockets``' ServerConnection the adapters use."""

    async def recv(self) -> str | bytes: ...

    async def send(self, message: str) -> None: ...

    async def close(self) -> None: ...


@dataclass(frozen=True, kw_only=True)
class ErrorCodes:
    """CALLERROR codes for frame problems; they differ per OCPP version."""

    # Invalid JSON, not an array, wrong element count/types, unknown message type id: OCPP-J 1.6 has
    # no dedicated codes (2.0.1 adds RpcFrameworkError / MessageTypeNotSupported); its nearest is
    # FormationViolation, "not conform the PDU structure".
    malformed: str = "FormationViolation"
    unknown_message_type: str = "FormationViolation"
    # OCPP-J 1.6 table: NotImplemented = "Requested Action is not known by receiver",
    # NotSupported = "Requested Action is recognized but not supported by the receiver".
    unknown_action: str = "NotImplemented"
    unhandled_action: str = "NotSupported"
    # A frame larger than this connection may send: its payload is not even looked at.
    too_large: str = "FormationViolation"
    # Our own failure while handling a CALL (a bug): the charger still gets an answer.
    internal: str = "InternalError"


@dataclass(frozen=True, kw_only=True)
class SampledValueRules:
    """Allowed enum values of a sampled value, read from the library's own schema."""

    enums: dict[str, frozenset[str]]
    keys: frozenset[str]


@dataclass(kw_only=True)
class FrameStats:
    """What the guard did on one connection (for diagnostics and the fuzz benchmark)."""

    errors_answered: int = 0
    strays_dropped: int = 0
    internal_errors: int = 0
    rate_limited_s: float = 0.0
    by_kind: dict[str, int] = field(default_factory=dict)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text} is out of range")
    return value


def call_id_of(raw: str | bytes) -> str | None:
    """The unique id of a frame that starts like a CALL, read without parsing it (for frames too
    large or too broken to parse)."""
    head = raw[:200] if isinstance(raw, str) else raw[:200].decode(errors="replace")
    match = _CALL_ID.match(head)
    return None if match is None else match.group(1)


def parse_frame(raw: str) -> Any:
    """Strict JSON: no NaN/Infinity, no numbers that overflow to infinity.

    Raises ValueError (also for nesting too deep for the parser: RecursionError)."""
    try:
        return json.loads(raw, parse_constant=_reject_constant, parse_float=_finite_float)
    except RecursionError:
        raise ValueError("nested too deeply") from None


class FrameGuard:
    """Wraps a connection; ``recv()`` returns only frames the ``ocpp`` library can handle."""

    def __init__(
        self,
        connection: Connection,
        *,
        charger_id: str,
        known_actions: Collection[str],
        handled_actions: Callable[[], Collection[str]],
        codes: ErrorCodes | None = None,
        sampled_value_rules: SampledValueRules | None = None,
        trust: Callable[[], Trust] | None = None,
    ) -> None:
        self._connection = connection
        self._charger_id = charger_id
        self._known_actions = frozenset(known_actions)
        self._handled_actions = handled_actions
        self._codes = codes or ErrorCodes()
        self._rules = sampled_value_rules
        self._trust = trust or (lambda: Trust.AUTHENTICATED)
        self._reported: set[str] = set()
        self._outstanding: OrderedDict[str, None] = OrderedDict()
        self._limits: ConnectionLimits | None = None
        self._bucket: TokenBucket | None = None
        # The CALL being handled (the library handles CALLs one at a time) and whether it was
        # answered: lets the session answer it if handling fails in an unexpected way.
        self.current_call_id: str | None = None
        self.current_call_answered = True
        self._call_id: str | None = None  # the CALL inspect() just looked at
        self.stats = FrameStats()

    async def recv(self) -> str:
        while True:
            limits = self._apply_limits()
            if self._bucket is not None and limits.messages_per_s is not None:
                self.stats.rate_limited_s += await self._bucket.take()
            raw = await self._connection.recv()
            try:
                frame, reply = self.inspect(raw, limits)
            except Exception:  # a bug of ours must not cost the charger its answer
                _LOGGER.exception("%s: could not inspect a frame", self._charger_id)
                frame, reply = None, self._internal_error(raw)
            if reply is not None:
                await self._connection.send(reply)
            if frame is not None:
                if self._call_id is not None:  # a CALL for the library: it must answer it
                    self.current_call_id = self._call_id
                    self.current_call_answered = False
                return frame

    async def send(self, message: str) -> None:
        if message.startswith("[2"):
            match = _OUTGOING_CALL_ID.match(message)
            if match is not None:
                self._expect(match.group(1))
        elif message.startswith(("[3", "[4")):
            self.current_call_answered = True
        await self._connection.send(message)

    async def close(self) -> None:
        await self._connection.close()

    # --- correlation of our own calls -------------------------------------------------------------
    def _expect(self, unique_id: str) -> None:
        self._outstanding[unique_id] = None
        while len(self._outstanding) > MAX_OUTSTANDING_CALLS:
            self._outstanding.popitem(last=False)

    def forget(self, unique_id: str) -> None:
        """Our call ``unique_id`` is no longer awaited (answered or timed out)."""
        self._outstanding.pop(unique_id, None)

    def drop_stray(self, description: str) -> None:
        """An answer nobody waits for (also: one that reached the library after its call timed
        out): count it, log it once."""
        self.stats.strays_dropped += 1
        self._report("stray_response", "dropped an answer to no pending call: %s", description)

    async def answer_internal_error(self, error: BaseException) -> None:
        """Handling the current CALL failed before it was answered: answer it now."""
        if self.current_call_answered or self.current_call_id is None:
            return
        self.stats.internal_errors += 1
        self._report("internal_error", "failed to handle a CALL: %r", error)
        reply = [CALL_ERROR, self.current_call_id, self._codes.internal, "", {}]
        await self.send(json.dumps(reply))

    # --- limits -----------------------------------------------------------------------------------
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

    # --- inspection ------------------------------------------------------------------------------
    def inspect(
        self, raw: str | bytes, limits: ConnectionLimits | None = None
    ) -> tuple[str | None, str | None]:
        """(frame to pass on or None, reply to send or None) for one received frame."""
        self._call_id = None
        limits = limits or LIMITS[Trust.AUTHENTICATED]
        if len(raw) > limits.frame_bytes:
            call_id = call_id_of(raw)
            if call_id is None:
                self._report("too_large", "dropped a %d-byte frame", len(raw))
                return None, None
            return None, self._error(
                "too_large",
                call_id,
                self._codes.too_large,
                f"Frame larger than {limits.frame_bytes} bytes",
            )
        if isinstance(raw, bytes):
            try:
                raw = raw.decode()
            except UnicodeDecodeError:
                return None, self._error("invalid_json", UNPARSABLE_ID, self._codes.malformed, "")
        try:
            message = parse_frame(raw)
        except ValueError:
            # Broken JSON that still starts like a CALL: answer that CALL by its id.
            return None, self._error(
                "invalid_json",
                call_id_of(raw) or UNPARSABLE_ID,
                self._codes.malformed,
                "Message is not valid JSON",
            )
        if not isinstance(message, list) or not message:
            return None, self._error(
                "not_array", UNPARSABLE_ID, self._codes.malformed, "Message is not a JSON array"
            )
        unique_id = message[1] if len(message) > 1 and isinstance(message[1], str) else None
        type_id = message[0]
        if type(type_id) is not int or type_id not in (CALL, CALL_RESULT, CALL_ERROR):
            return None, self._error(
                "unknown_message_type",
                unique_id or UNPARSABLE_ID,
                self._codes.unknown_message_type,
                f"MessageTypeId {type_id!r} is not supported",
            )
        if type_id == CALL:
            if json_depth_exceeds(message):
                return None, self._error(
                    "too_deep",
                    unique_id or UNPARSABLE_ID,
                    self._codes.malformed,
                    "Payload nested too deeply",
                )
            return self._inspect_call(raw, message, unique_id)
        return self._inspect_response(raw, message, unique_id)

    def _inspect_call(
        self, raw: str, message: list[Any], unique_id: str | None
    ) -> tuple[str | None, str | None]:
        if unique_id is None or len(message) != 4 or not isinstance(message[2], str):
            return None, self._error(
                "malformed_call",
                unique_id or UNPARSABLE_ID,
                self._codes.malformed,
                "A CALL is [2, uniqueId, action, payload]",
            )
        action = message[2]
        if action not in self._known_actions:
            return None, self._error(
                "unknown_action", unique_id, self._codes.unknown_action, f"Unknown action {action}"
            )
        if action not in self._handled_actions():
            return None, self._error(
                "unhandled_action",
                unique_id,
                self._codes.unhandled_action,
                f"{action} is not supported by the central system",
            )
        self._call_id = unique_id
        payload = message[3]
        if self._rules is not None and isinstance(payload, dict):
            return self._repair_meter_payload(raw, message, unique_id, action, payload)
        return raw, None

    def _inspect_response(
        self, raw: str, message: list[Any], unique_id: str | None
    ) -> tuple[str | None, str | None]:
        # Never answer a response with an error (two broken peers would loop): drop the unusable.
        if unique_id is None or unique_id not in self._outstanding:
            self.drop_stray(raw)
            return None, None
        if message[0] == CALL_RESULT:
            if len(message) != 3 or not isinstance(message[2], dict):
                self._report("malformed_response", "dropped a malformed CALLRESULT: %s", raw)
                return None, None
            self.forget(unique_id)
            return raw, None
        if len(message) < 3 or not isinstance(message[2], str):
            self._report("malformed_response", "dropped a malformed CALLERROR: %s", raw)
            return None, None
        self.forget(unique_id)
        # A CALLERROR with a missing or mistyped description/details still tells us the call
        # failed: pass it on in the shape the library expects.
        if len(message) == 5 and isinstance(message[3], str) and isinstance(message[4], dict):
            return raw, None
        description = message[3] if len(message) > 3 and isinstance(message[3], str) else ""
        details = message[4] if len(message) > 4 and isinstance(message[4], dict) else {}
        return json.dumps([CALL_ERROR, unique_id, message[2], description, details]), None

    # --- meter value repair ----------------------------------------------------------------------
    def _repair_meter_payload(
        self, raw: str, message: list[Any], unique_id: str, action: str, payload: dict[str, Any]
    ) -> tuple[str | None, str | None]:
        if action == "MeterValues" and isinstance(payload.get("meterValue"), list):
            entries, changed = self._repair_entries(payload["meterValue"])
            if not entries:
                # Nothing usable (e.g. only empty sample lists): acknowledge, rather than a schema
                # error that would make the charger retry the same useless message forever.
                self._report("empty_meter_values", "MeterValues without usable samples: %s", raw)
                return None, json.dumps([CALL_RESULT, unique_id, {}])
            if not changed:
                return raw, None
            payload["meterValue"] = entries
        elif action == "StopTransaction" and isinstance(payload.get("transactionData"), list):
            entries, changed = self._repair_entries(payload["transactionData"])
            if not changed:
                return raw, None
            if entries:
                payload["transactionData"] = entries
            else:
                del payload["transactionData"]
        else:
            return raw, None
        self._report("repaired_meter_values", "repaired non-conforming meter values: %s", raw)
        return json.dumps(message, separators=(",", ":")), None

    def _repair_entries(self, entries: list[Any]) -> tuple[list[Any], bool]:
        repaired: list[Any] = []
        changed = False
        for entry in entries:
            if not isinstance(entry, dict) or not isinstance(entry.get("sampledValue"), list):
                repaired.append(entry)  # structurally wrong: leave it to schema validation
                continue
            samples = []
            for item in entry["sampledValue"]:
                sample = self._repair_sample(item)
                if sample is not None:
                    samples.append(sample)
                changed |= sample != item
            if not samples:
                changed = True
                continue
            fixed = {**entry, "sampledValue": samples}
            if not isinstance(fixed.get("timestamp"), str):
                fixed["timestamp"] = format_timestamp(utcnow())
                changed = True
            repaired.append(fixed)
        return repaired, changed

    def _repair_sample(self, item: Any) -> dict[str, Any] | None:
        assert self._rules is not None
        if not isinstance(item, dict):
            return None
        value = item.get("value")
        if isinstance(value, int | float) and not isinstance(value, bool):
            value = str(value)
        if not isinstance(value, str):
            return None
        sample: dict[str, Any] = {"value": value}
        for key, given in item.items():
            if key == "value" or key not in self._rules.keys:
                continue
            allowed = self._rules.enums.get(key)
            if allowed is not None and not isinstance(given, str):
                if key in ("measurand", "phase", "unit"):
                    return None  # an enum field of another type: the value would be misread
                continue
            if allowed is None or given in allowed:
                sample[key] = given
                continue
            canonical = _match(given, allowed)
            if canonical is not None:
                sample[key] = canonical
            elif key in ("measurand", "phase", "unit"):
                # Without these the value would be misread (a default measurand/unit): drop it.
                return None
            # An invalid context/format/location only loses a label: drop the field, keep the value.
        return sample

    # --- replies and logging ---------------------------------------------------------------------
    def _error(self, kind: str, unique_id: str, code: str, description: str) -> str:
        self.stats.errors_answered += 1
        self._report(kind, "answered %s: %s", code, description)
        return json.dumps([CALL_ERROR, unique_id, code, description, {}])

    def _internal_error(self, raw: str | bytes) -> str | None:
        call_id = call_id_of(raw)
        if call_id is None:
            return None
        self.stats.internal_errors += 1
        return json.dumps([CALL_ERROR, call_id, self._codes.internal, "", {}])

    def _report(self, kind: str, message: str, *args: Any) -> None:
        self.stats.by_kind[kind] = self.stats.by_kind.get(kind, 0) + 1
        level = logging.DEBUG if kind in self._reported else logging.WARNING
        self._reported.add(kind)
        if not _LOGGER.isEnabledFor(level):
            return
        # Raw frames are logged: a malformed GetConfiguration answer may hold the AuthorizationKey.
        clean = tuple(_shorten(redact(arg)) if isinstance(arg, str) else arg for arg in args)
        _LOGGER.log(level, "%s: " + message, self._charger_id, *clean)


def _shorten(text: str, limit: int = 500) -> str:
    return text if len(text) <= limit else f"{text[:limit]}... [{len(text)} characters]"


def _match(given: Any, allowed: frozenset[str]) -> str | None:
    """Case-tolerant match ("kwh" -> "kWh", "Sample.periodic" -> "Sample.Periodic")."""
    if not isinstance(given, str):
        return None
    wanted = given.strip().lower()
    return next((value for value in allowed if value.lower() == wanted), None)


def sampled_value_rules(schema: dict[str, Any]) -> SampledValueRules:
    """Extract the sampled-value enums from a 1.6 MeterValues request schema."""
    properties = schema["properties"]["meterValue"]["items"]["properties"]["sampledValue"]["items"][
        "properties"
    ]
    return SampledValueRules(
        enums={key: frozenset(spec["enum"]) for key, spec in properties.items() if "enum" in spec},
        keys=frozenset(properties),
    )
