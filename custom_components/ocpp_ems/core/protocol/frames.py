"""A guard between the websocket and the ``ocpp`` package: bad frames never reach the library.

The ``ocpp`` package answers nothing to invalid JSON or an unknown message type (it only logs),
lets a malformed frame kill its receive loop (an unhashable action raises outside its error
handling), and swaps NotImplemented/NotSupported relative to the OCPP-J tables. The guard wraps the
connection (``recv``/``send``/``close``), answers such frames itself with the CALLERROR the spec
names, and passes only well-formed frames on. It also repairs the field quirks of meter values
(invalid ``context`` values, empty sample lists, numbers instead of strings) that would otherwise
make schema validation reject a whole MeterValues/StopTransaction and lose the reading. Each kind
of problem is logged once per connection at warning level, later repeats at debug level.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any, Protocol

from custom_components.ocpp_ems.core.protocol.rpc import redact
from custom_components.ocpp_ems.core.timeutil import format_timestamp, utcnow

_LOGGER = logging.getLogger(__name__)

CALL, CALL_RESULT, CALL_ERROR = 2, 3, 4
UNPARSABLE_ID = "-1"


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


@dataclass(frozen=True, kw_only=True)
class SampledValueRules:
    """Allowed enum values of a sampled value, read from the library's own schema."""

    enums: dict[str, frozenset[str]]
    keys: frozenset[str]


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
    ) -> None:
        self._connection = connection
        self._charger_id = charger_id
        self._known_actions = frozenset(known_actions)
        self._handled_actions = handled_actions
        self._codes = codes or ErrorCodes()
        self._rules = sampled_value_rules
        self._reported: set[str] = set()

    async def recv(self) -> str:
        while True:
            raw = await self._connection.recv()
            frame, reply = self.inspect(raw)
            if reply is not None:
                await self._connection.send(reply)
            if frame is not None:
                return frame

    async def send(self, message: str) -> None:
        await self._connection.send(message)

    async def close(self) -> None:
        await self._connection.close()

    # --- inspection ------------------------------------------------------------------------------
    def inspect(self, raw: str | bytes) -> tuple[str | None, str | None]:
        """(frame to pass on or None, reply to send or None) for one received frame."""
        if isinstance(raw, bytes):
            try:
                raw = raw.decode()
            except UnicodeDecodeError:
                return None, self._error("invalid_json", UNPARSABLE_ID, self._codes.malformed, "")
        try:
            message = json.loads(raw)
        except ValueError:
            return None, self._error(
                "invalid_json", UNPARSABLE_ID, self._codes.malformed, "Message is not valid JSON"
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
        payload = message[3]
        if self._rules is not None and isinstance(payload, dict):
            return self._repair_meter_payload(raw, message, unique_id, action, payload)
        return raw, None

    def _inspect_response(
        self, raw: str, message: list[Any], unique_id: str | None
    ) -> tuple[str | None, str | None]:
        # Never answer a response with an error (two broken peers would loop): drop the unusable.
        if unique_id is None:
            self._report("malformed_response", "dropped a response without a unique id: %s", raw)
            return None, None
        if message[0] == CALL_RESULT:
            if len(message) != 3:
                self._report("malformed_response", "dropped a malformed CALLRESULT: %s", raw)
                return None, None
            return raw, None
        if len(message) < 3 or not isinstance(message[2], str):
            self._report("malformed_response", "dropped a malformed CALLERROR: %s", raw)
            return None, None
        if len(message) == 5:
            return raw, None
        # A CALLERROR missing its description/details still tells us the call failed: complete it.
        description = message[3] if len(message) > 3 and isinstance(message[3], str) else ""
        return json.dumps([CALL_ERROR, unique_id, message[2], description, {}]), None

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
        self._report(kind, "answered %s: %s", code, description)
        return json.dumps([CALL_ERROR, unique_id, code, description, {}])

    def _report(self, kind: str, message: str, *args: Any) -> None:
        level = logging.DEBUG if kind in self._reported else logging.WARNING
        self._reported.add(kind)
        # Raw frames are logged: a malformed GetConfiguration answer may hold the AuthorizationKey.
        clean = tuple(redact(arg) if isinstance(arg, str) else arg for arg in args)
        _LOGGER.log(level, "%s: " + message, self._charger_id, *clean)


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
