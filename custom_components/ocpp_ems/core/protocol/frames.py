"""Frame inspection: what arrives on the wire is checked before anything acts on it.

:class:`FrameInspector` (one per connection, used by :class:`~.rpc.RpcEndpoint`) parses each frame
once and:

- answers every frame it cannot pass on with the CALLERROR the spec names (oversized, not JSON,
  NaN/Infinity, nested deeper than any OCPP message, not an OCPP-J array, unknown action);
- checks the shape of answers (CALLRESULT/CALLERROR) and repairs what a CALLERROR may still tell
  us; it never answers an answer (two broken peers would loop);
- repairs the field quirks of meter values (invalid ``context`` values, empty sample lists or
  an empty list of them, numbers instead of strings) that would otherwise make schema validation
  reject a whole MeterValues/StopTransaction/TransactionEvent and lose the reading;
- coerces loosely written fields of a transaction's start and end, and a status in the wrong
  case (a meter value as 1234.5 or "1234"; an enum value in the wrong case; an optional idTag
  longer than allowed, or a 2.x Ended's idToken that breaks its schema anywhere (an over-long
  ``additionalInfo`` too), is dropped, never cut: a cut tag could match another, listed one): a
  refused StopTransaction is retried by the charger forever and the session never ends (OCPP 1.6
  section 4.10: always answer it); a refused TransactionEvent is retried, then dropped (2.0.1
  E13); a refused status loses the charger's state;
- takes an answer to our CALL that fails its schema only by how it is written (a top-level field
  its version lacks, an enum value in the wrong case) for what it says (:func:`loosened_answer`).

Each kind of problem is logged once per connection at warning level, later repeats at debug
level; :attr:`FrameInspector.stats` counts them.
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

import fastjsonschema

from custom_components.ocpp_ems.core.protocol.limits import (
    LIMITS,
    ConnectionLimits,
    Trust,
    json_depth_exceeds,
)
from custom_components.ocpp_ems.core.protocol.schemas import Check, compile_check
from custom_components.ocpp_ems.core.protocol.wire_log import redact
from custom_components.ocpp_ems.core.timeutil import format_timestamp, utcnow

_LOGGER = logging.getLogger(__name__)

CALL, CALL_RESULT, CALL_ERROR = 2, 3, 4
# OCPP-J 2.1: an error about a CALLRESULT, and a CALL that gets no answer. Neither is answered.
CALL_RESULT_ERROR, SEND = 5, 6
UNPARSABLE_ID = "-1"
# The unique id of a CALL, read without parsing (for frames too large to parse).
_CALL_ID = re.compile(r'^\s*\[\s*2\s*,\s*"([^"\\]{1,64})"')
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


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


class Repair(Enum):
    """What :meth:`FrameInspector.repair` did to a payload."""

    NONE = "none"  # nothing it knows how to fix
    REPAIRED = "repaired"  # fixed in place: check it again
    NOTHING_USABLE = "nothing_usable"  # no usable reading left: acknowledge it


@dataclass(frozen=True, kw_only=True)
class SampledValueRules:
    """Allowed enum values of a sampled value, read from the library's own schema, and where a
    version's messages carry meter values."""

    enums: dict[str, frozenset[str]]
    keys: frozenset[str]
    # Action -> the key of its meter-value list.
    lists: Mapping[str, str] = field(
        default_factory=lambda: {"MeterValues": "meterValue", "StopTransaction": "transactionData"}
    )
    # Actions that say nothing without meter values (acknowledged when none is usable); the
    # others lose only their readings.
    required: frozenset[str] = frozenset({"MeterValues"})
    # 2.x: values are numbers (1.6: strings).
    numeric: bool = False


@dataclass(frozen=True, slots=True)
class FieldRule:
    """One field of :class:`FieldRules`: its schema, and for an object that schema's check."""

    spec: Mapping[str, Any]
    check: Check | None = None


@dataclass(frozen=True, kw_only=True)
class FieldRules:
    """Fields a charger may write loosely, per action, by path (``"transactionInfo.stoppedReason"``:
    a field of a nested object), with the schema they must meet, tried in order:

    - ``type`` integer: coerced to it;
    - an ``enum``: a value that matches one of them but for its case is taken as that one;
    - a string with ``maxLength``: left out when longer; an object: left out when it breaks its
      schema anywhere (an over-long string, a value of the wrong type, within a list too). A
      top-level field only, and name only optional fields of that kind: a nested one is never
      left out, its object may require it. Name an object's nested fields before it: an enum
      value in it in the wrong case is then taken, not left out with the object.

    ``when``: action -> path -> the top-level values a message must have for that rule (e.g. the
    idToken of a transaction's end only)."""

    fields: Mapping[str, Mapping[str, FieldRule]]
    when: Mapping[str, Mapping[str, Mapping[str, Any]]] = field(default_factory=dict)


_NO_FIELD_RULES = FieldRules(fields={})


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


def encode(message: list[Any] | dict[str, Any]) -> str:
    """A frame as sent on the wire: compact, and ASCII (a lone surrogate a charger sent us in an
    id must not make the reply unencodable)."""
    return json.dumps(message, separators=(",", ":"))


def encode_error(unique_id: str, code: str, description: str = "") -> str:
    return encode([CALL_ERROR, unique_id, code, description, {}])


def call_id_of(raw: str | bytes) -> str | None:
    """The unique id of a frame that starts like a CALL, read without parsing it (for frames too
    large or too broken to parse)."""
    head = raw[:200] if isinstance(raw, str) else raw[:200].decode(errors="replace")
    match = _CALL_ID.match(head)
    return None if match is None else match.group(1)


def parse_frame(raw: str) -> Any:
    """Strict JSON: no NaN/Infinity, no numbers that overflow to infinity.

    Raises ValueError (also for nesting too deep for the parser: RecursionError). A lone UTF-16
    surrogate escaped in a string (``"\\udbff"``: no Unicode text, unencodable in UTF-8) becomes
    U+FFFD: passed on as it is, a log line, an entity attribute or an event that shows the string
    (a security event's type, a vendor's error text) cannot be written out as UTF-8 (orjson, which
    Home Assistant serializes with, refuses it)."""
    try:
        message = json.loads(raw, parse_constant=_reject_constant, parse_float=_finite_float)
    except RecursionError:
        raise ValueError("nested too deeply") from None
    # Only an escape can carry one (websockets decodes a text frame as strict UTF-8). A message
    # id goes back as it came (``encode`` escapes it), so that the charger can match our answer.
    if "\\ud" in raw or "\\uD" in raw:
        if isinstance(message, list):
            return [
                item if i == 1 else _without_lone_surrogates(item) for i, item in enumerate(message)
            ]
        return _without_lone_surrogates(message)
    return message


def _without_lone_surrogates(value: Any) -> Any:
    if isinstance(value, str):
        return _LONE_SURROGATE.sub("\ufffd", value)
    if isinstance(value, list):
        return [_without_lone_surrogates(item) for item in value]
    if isinstance(value, dict):
        return {
            _without_lone_surrogates(key): _without_lone_surrogates(item)
            for key, item in value.items()
        }
    return value


class FrameInspector:
    """Checks the frames of one connection; :meth:`inspect` never raises on any input."""

    def __init__(
        self,
        *,
        charger_id: str,
        known_actions: Collection[str],
        handled_actions: Collection[str],
        codes: ErrorCodes | None = None,
        sampled_value_rules: SampledValueRules | None = None,
        field_rules: FieldRules | None = None,
        unanswered_types: Collection[int] = (),
    ) -> None:
        self._charger_id = charger_id
        self._unanswered_types = unanswered_types
        self._known_actions = known_actions
        self._handled_actions = handled_actions
        self.codes = codes or ErrorCodes()
        self._rules = sampled_value_rules
        self._field_rules = field_rules or _NO_FIELD_RULES
        self._reported: set[str] = set()
        self.stats = FrameStats()

    def inspect(
        self, raw: str | bytes, limits: ConnectionLimits | None = None
    ) -> tuple[list[Any] | None, str | None]:
        """(message to act on or None, reply to send or None) for one received frame.

        A message passed on is a CALL ``[2, id, action, payload]`` of a handled action, or an
        answer ``[3, id, payload]`` / ``[4, id, code, description, details]`` in exactly that
        shape (whether anyone waits for it is the endpoint's business)."""
        limits = limits or LIMITS[Trust.AUTHENTICATED]
        if len(raw) > limits.frame_bytes:
            call_id = call_id_of(raw)
            if call_id is None:
                self._report("too_large", "dropped a %d-byte frame", len(raw))
                return None, None
            return None, self._error(
                "too_large",
                call_id,
                self.codes.too_large,
                f"Frame larger than {limits.frame_bytes} bytes",
            )
        if isinstance(raw, bytes):
            try:
                raw = raw.decode()
            except UnicodeDecodeError:
                return None, self._error("invalid_json", UNPARSABLE_ID, self.codes.malformed, "")
        try:
            message = parse_frame(raw)
        except ValueError:
            # Broken JSON that still starts like a CALL: answer that CALL by its id.
            return None, self._error(
                "invalid_json",
                call_id_of(raw) or UNPARSABLE_ID,
                self.codes.malformed,
                "Message is not valid JSON",
            )
        if type(message) is not list or not message:
            return None, self._error(
                "not_array", UNPARSABLE_ID, self.codes.malformed, "Message is not a JSON array"
            )
        unique_id = message[1] if len(message) > 1 and type(message[1]) is str else None
        type_id = message[0]
        if type(type_id) is int and type_id in self._unanswered_types:
            # Nothing of ours waits for these, and answering them is not allowed.
            self._report("unanswered_message", "dropped a message of type %d: %s", type_id, raw)
            return None, None
        if type(type_id) is not int or type_id not in (CALL, CALL_RESULT, CALL_ERROR):
            return None, self._error(
                "unknown_message_type",
                unique_id or UNPARSABLE_ID,
                self.codes.unknown_message_type,
                f"MessageTypeId {type_id!r} is not supported",
            )
        if type_id == CALL:
            if json_depth_exceeds(message, raw=raw):
                return None, self._error(
                    "too_deep",
                    unique_id or UNPARSABLE_ID,
                    self.codes.malformed,
                    "Payload nested too deeply",
                )
            return self._inspect_call(message, unique_id)
        return self._inspect_response(raw, message, unique_id), None

    def _inspect_call(
        self, message: list[Any], unique_id: str | None
    ) -> tuple[list[Any] | None, str | None]:
        if unique_id is None or len(message) != 4 or type(message[2]) is not str:
            return None, self._error(
                "malformed_call",
                unique_id or UNPARSABLE_ID,
                self.codes.malformed,
                "A CALL is [2, uniqueId, action, payload]",
            )
        action = message[2]
        if action not in self._known_actions:
            return None, self._error(
                "unknown_action", unique_id, self.codes.unknown_action, f"Unknown action {action}"
            )
        if action not in self._handled_actions:
            return None, self._error(
                "unhandled_action",
                unique_id,
                self.codes.unhandled_action,
                f"{action} is not supported by the central system",
            )
        return message, None

    def _inspect_response(
        self, raw: str, message: list[Any], unique_id: str | None
    ) -> list[Any] | None:
        if unique_id is None:
            self.drop_stray(raw)
            return None
        if message[0] == CALL_RESULT:
            if len(message) != 3 or type(message[2]) is not dict:
                self._report("malformed_response", "dropped a malformed CALLRESULT: %s", raw)
                return None
            return message
        if len(message) < 3 or type(message[2]) is not str:
            self._report("malformed_response", "dropped a malformed CALLERROR: %s", raw)
            return None
        # A CALLERROR with a missing or mistyped description/details still tells us the call
        # failed: pass it on in its full shape.
        description = message[3] if len(message) > 3 and type(message[3]) is str else ""
        details = message[4] if len(message) > 4 and type(message[4]) is dict else {}
        return [CALL_ERROR, unique_id, message[2], description, details]

    def drop_stray(self, description: str) -> None:
        """An answer nobody waits for (unknown id, or its call timed out): count it, log it once."""
        self.stats.strays_dropped += 1
        self._report("stray_response", "dropped an answer to no pending call: %s", description)

    # --- payload repair ---------------------------------------------------------------------------
    def repair(self, action: str, payload: Any) -> Repair:
        """Fix the field and meter-value quirks of a payload that failed its schema, in place."""
        if type(payload) is not dict:
            return Repair.NONE
        coerced = self._coerce_fields(action, payload)
        repair = self._repair_meter_values(action, payload)
        return Repair.REPAIRED if coerced and repair is Repair.NONE else repair

    def _coerce_fields(self, action: str, payload: dict[str, Any]) -> bool:
        """Coerce the loosely written fields of ``payload`` (see :class:`FieldRules`)."""
        rules = self._field_rules
        conditions = rules.when.get(action, {})
        changed = False
        for path, rule in rules.fields.get(action, {}).items():
            condition = conditions.get(path, {})
            if any(payload.get(key) != value for key, value in condition.items()):
                continue
            *parents, name = path.split(".")
            holder = _holder(payload, parents)
            if holder is None or name not in holder:
                continue
            given = holder[name]
            value = _coerced(given, rule)
            if value is given or (value is _DROPPED and parents):
                continue
            if value is _DROPPED:
                del holder[name]
            else:
                holder[name] = value
            changed = True
            self._report(
                f"coerced_{path}",
                "%s: %s %s taken as %s",
                action,
                path,
                encode(given),
                "absent" if value is _DROPPED else value,
            )
        return changed

    def _repair_meter_values(self, action: str, payload: dict[str, Any]) -> Repair:
        if self._rules is None:
            return Repair.NONE
        key = self._rules.lists.get(action)
        if key is None or type(payload.get(key)) is not list:
            return Repair.NONE
        entries, changed = self._repair_entries(payload[key])
        # An empty list (a serializer that always writes its lists): no readings, as if left out.
        changed |= not payload[key]
        if not entries and action in self._rules.required:
            # Nothing usable (e.g. only empty sample lists): acknowledge, rather than a schema
            # error that would make the charger retry the same useless message forever.
            self._report(
                "empty_meter_values", "%s without usable samples: %s", action, encode(payload)
            )
            return Repair.NOTHING_USABLE
        if not changed:
            return Repair.NONE
        if entries:
            payload[key] = entries
        else:
            del payload[key]  # the message without its readings (a transaction's end ...)
        self._report(
            "repaired_meter_values", "repaired non-conforming meter values: %s", encode(payload)
        )
        return Repair.REPAIRED

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
        value = _repair_value(item.get("value"), numeric=self._rules.numeric)
        if value is None:
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
        return encode_error(unique_id, code, description)

    def report(self, kind: str, message: str, *args: Any) -> None:
        """Log a problem of the charger's making: once per kind at warning level, then debug."""
        self._report(kind, message, *args)

    def _report(self, kind: str, message: str, *args: Any) -> None:
        self.stats.by_kind[kind] = self.stats.by_kind.get(kind, 0) + 1
        level = logging.DEBUG if kind in self._reported else logging.WARNING
        self._reported.add(kind)
        if not _LOGGER.isEnabledFor(level):
            return
        # Raw frames are logged: a malformed GetConfiguration answer may hold the AuthorizationKey.
        clean = tuple(_shorten(redact(arg)) if isinstance(arg, str) else arg for arg in args)
        _LOGGER.log(level, "%s: " + message, self._charger_id, *clean)


def _repair_value(value: Any, *, numeric: bool) -> str | float | None:
    """A sample's value as its version writes it (1.6: a string; 2.x: a finite number); None
    when it is no number at all."""
    if isinstance(value, bool):
        return None
    if not numeric:
        if isinstance(value, int | float):
            return str(value)
        return value if isinstance(value, str) else None
    if isinstance(value, int | float):
        return value
    try:
        number = float(str(value).strip())
    except ValueError:
        return None
    return number if math.isfinite(number) else None


# ``_coerced``: the field is left out (an optional one only: see FieldRules).
_DROPPED = object()


def _holder(payload: dict[str, Any], parents: list[str]) -> dict[str, Any] | None:
    """The object at ``parents`` in ``payload`` (None: not there, or no object)."""
    holder: Any = payload
    for parent in parents:
        holder = holder.get(parent)
        if type(holder) is not dict:
            return None
    return holder  # type: ignore[no-any-return]


def _coerced(value: Any, rule: FieldRule) -> Any:
    """``value`` as its field's schema wants it (:data:`_DROPPED`: left out); ``value`` itself
    when it cannot be (or need not be) coerced: schema validation then decides."""
    spec = rule.spec
    if rule.check is not None:
        # An object (an idToken) that breaks its schema: left out, not cut or mended. One that is
        # no object at all stays refused.
        return _DROPPED if type(value) is dict and not _meets(rule.check, value) else value
    if spec.get("type") == "integer":
        return _whole_number(value)
    if "enum" in spec:
        if value in spec["enum"]:
            return value
        canonical = _match(value, frozenset(spec["enum"]))
        return value if canonical is None else canonical
    limit = spec.get("maxLength")
    long = isinstance(value, str) and isinstance(limit, int) and len(value) > limit
    return _DROPPED if long else value  # never cut: a cut tag could be another


def _meets(check: Check, value: Any) -> bool:
    try:
        check(value)
    except fastjsonschema.JsonSchemaException:
        return False
    return True


def _whole_number(value: Any) -> Any:
    """1234.0, 1234.4 and "1234" as 1234 (a meter value in Wh: a fraction of one does not matter)."""
    if isinstance(value, bool | int) or not isinstance(value, float | str):
        return value
    try:
        number = float(value)
    except ValueError:
        return value
    return round(number) if math.isfinite(number) else value


def _shorten(text: str, limit: int = 500) -> str:
    return text if len(text) <= limit else f"{text[:limit]}... [{len(text)} characters]"


def _match(given: Any, allowed: frozenset[str]) -> str | None:
    """Case-tolerant match ("kwh" -> "kWh", "Sample.periodic" -> "Sample.Periodic"); None
    unless exactly one value matches."""
    if not isinstance(given, str):
        return None
    wanted = given.strip().lower()
    matches = [value for value in allowed if value.lower() == wanted]
    return matches[0] if len(matches) == 1 else None


def loosened_answer(schema: Mapping[str, Any], answer: Any) -> dict[str, Any] | None:
    """``answer`` (a CALLRESULT's payload) without the top-level fields its ``schema`` does not
    name, and a top-level enum value in the wrong case as the one it matches (:func:`_match`);
    None when neither changes anything."""
    if type(answer) is not dict:
        return None
    definitions = schema.get("definitions", {})
    properties: Mapping[str, Any] = schema.get("properties", {})
    loosened: dict[str, Any] = {}
    for name, value in answer.items():
        spec = properties.get(name)
        if spec is None:
            continue
        while "$ref" in spec:
            spec = definitions[spec["$ref"].rsplit("/", 1)[-1]]
        enum = spec.get("enum")
        canonical = _match(value, frozenset(enum)) if enum and value not in enum else None
        loosened[name] = value if canonical is None else canonical
    return None if loosened == answer else loosened


def field_rules(
    request_schema: Callable[[str], Mapping[str, Any]],
    fields: Mapping[str, Collection[str]],
    when: Mapping[str, Mapping[str, Mapping[str, Any]]] | None = None,
) -> FieldRules:
    """The :class:`FieldRules` of ``fields`` (action -> paths, in the order they are tried),
    read from the request schemas (1.6 inline, 2.x with ``$ref`` definitions); ``when``: see
    :class:`FieldRules`. An object's check is compiled here (a small schema: an idToken's takes a
    few ms, at import)."""

    def rule(action: str, path: str) -> FieldRule:
        schema = request_schema(action)
        definitions = schema.get("definitions", {})

        def resolve(node: Mapping[str, Any]) -> Mapping[str, Any]:
            while "$ref" in node:
                node = definitions[node["$ref"].rsplit("/", 1)[-1]]
            return node

        node: Mapping[str, Any] = schema
        for name in path.split("."):
            node = resolve(node["properties"][name])
        if node.get("type") != "object":
            return FieldRule(spec=node)
        # The object's schema with the definitions its own references name.
        return FieldRule(spec=node, check=compile_check({**node, "definitions": definitions}))

    return FieldRules(
        fields={
            action: {path: rule(action, path) for path in paths} for action, paths in fields.items()
        },
        when=when or {},
    )


def sampled_value_rules(schema: Mapping[str, Any], **where: Any) -> SampledValueRules:
    """Extract the sampled-value enums from a MeterValues request schema (1.6 inline, 2.x with
    ``$ref`` definitions); ``where``: the other :class:`SampledValueRules` fields."""
    definitions = schema.get("definitions", {})

    def resolve(node: Mapping[str, Any]) -> Mapping[str, Any]:
        while "$ref" in node:
            node = definitions[node["$ref"].rsplit("/", 1)[-1]]
        return node

    entry = resolve(schema["properties"]["meterValue"]["items"])
    sample = resolve(entry["properties"]["sampledValue"]["items"])
    properties = {key: resolve(spec) for key, spec in sample["properties"].items()}
    return SampledValueRules(
        enums={key: frozenset(spec["enum"]) for key, spec in properties.items() if "enum" in spec},
        keys=frozenset(properties),
        **where,
    )
