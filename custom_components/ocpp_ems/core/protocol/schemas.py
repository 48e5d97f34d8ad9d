"""The official OCPP JSON schemas, compiled once per action and checked in the event loop.

The schemas are the ones the ``ocpp`` package ships (read from disk when this module's version is
imported, i.e. while Home Assistant imports the integration, never inside the event loop).
Each one is compiled by ``fastjsonschema`` into a Python function on first use: a 1.6 MeterValues
is checked in ~10 us, against ~260 us for a ``jsonschema`` validator and no thread hop (see
``benchmarks/schema_validation.py``). The compiling itself takes up to ~30 ms for a 2.1 schema
(a few ms for 1.6), so the RPC layer has it done in a worker thread (``ready_request``,
``ready_response``) before the first check of each: the event loop never waits for it.

Direction matters: what we send is checked strictly (a payload the charger would refuse is never
sent); what a charger sends is checked without ``multipleOf`` (a composite schedule limit of 13.33 A
tells us as much as 13.3) and without ``format`` (timestamps are parsed leniently by the handlers).
"""

from __future__ import annotations

import asyncio
import json
import re
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import fastjsonschema
import ocpp

type Check = Callable[[Any], Any]


@dataclass(frozen=True, kw_only=True)
class ViolationCodes:
    """CALLERROR codes for schema violations, by the schema rule that failed (they differ per
    OCPP version: 1.6 writes "Occurence", 2.0.1 "Occurrence" and "FormatViolation")."""

    type: str = "TypeConstraintViolation"  # a field of the wrong type or length
    required: str = "ProtocolError"  # "payload for action is incomplete"
    value: str = "PropertyConstraintViolation"  # enum, minimum, maximum, pattern ...
    occurrence: str = "OccurenceConstraintViolation"  # minItems / maxItems
    structure: str = "FormationViolation"  # unexpected properties and anything else

    def for_rule(self, rule: str | None) -> str:
        if rule in ("type", "maxLength", "minLength"):
            return self.type
        if rule == "required":
            return self.required
        if rule in (
            "enum",
            "const",
            "minimum",
            "maximum",
            "exclusiveMinimum",
            "multipleOf",
            "pattern",
        ):
            return self.value
        if rule in ("minItems", "maxItems", "uniqueItems"):
            return self.occurrence
        return self.structure


class SchemaViolation(Exception):  # noqa: N818 - a verdict, not a failure of ours
    """A payload does not match its schema: ``code`` is the CALLERROR code to answer with."""

    def __init__(self, code: str, description: str) -> None:
        super().__init__(description)
        self.code = code
        self.description = description


def shipped_schemas(version_module: str) -> Path:
    """The folder of the official schemas the ``ocpp`` package ships for one version ("v16",
    "v201", "v21"). Found beside the package, not through the version's module: importing that
    loads the library's own charge point (every message as a dataclass, jsonschema), which we do
    not use: 16 MiB and a quarter of a second of Home Assistant's start for the three."""
    return Path(ocpp.__file__).parent / version_module / "schemas"


class Schemas:
    """The request and response schemas of one OCPP version, by action."""

    def __init__(
        self,
        directory: Path,
        *,
        request_suffix: str = "",
        codes: ViolationCodes | None = None,
    ) -> None:
        self.codes = codes or ViolationCodes()
        self._raw: dict[str, dict[str, Any]] = {}
        for path in sorted(directory.glob("*.json")):
            # The 2.x schema files start with a byte order mark.
            self._raw[path.stem] = json.loads(path.read_text(encoding="utf-8-sig"))
        self._request_suffix = request_suffix
        self.actions = frozenset(
            name.removesuffix(request_suffix) if request_suffix else name
            for name in self._raw
            if not name.endswith("Response") and name.endswith(request_suffix)
        )
        self._compiled: dict[tuple[str, bool], Check] = {}
        self._compiling: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
            weakref.WeakKeyDictionary()
        )

    def request_schema(self, action: str) -> Mapping[str, Any]:
        return self._raw[action + self._request_suffix]

    def response_schema(self, action: str) -> Mapping[str, Any]:
        return self._raw[action + "Response"]

    # --- compiling off the event loop ------------------------------------------------------------
    async def ready_request(self, action: str, *, ours: bool) -> None:
        """Have the check of an ``action`` request compiled (in a worker thread) if it is not."""
        await self._ready(action + self._request_suffix, strict=ours)

    async def ready_response(self, action: str, *, ours: bool) -> None:
        """The same for the answer to an ``action`` CALL."""
        await self._ready(action + "Response", strict=ours)

    async def _ready(self, name: str, *, strict: bool) -> None:
        # An action this version does not have is left to the check (KeyError, as before). One
        # compile at a time per event loop: the executor then reuses one idle thread, and each
        # thread that compiles keeps its own malloc arena full of compiled code (six threads
        # compiling at once for the 2.1 fuzz's connections took the server from 129 MiB to 283).
        if (name, strict) in self._compiled or name not in self._raw:
            return
        loop = asyncio.get_running_loop()
        lock = self._compiling.get(loop)
        if lock is None:
            lock = self._compiling[loop] = asyncio.Lock()
        async with lock:
            if (name, strict) not in self._compiled:
                await asyncio.to_thread(self._compile, name, strict)

    # --- checks ------------------------------------------------------------------------------------
    def check_request(self, action: str, payload: Any, *, ours: bool) -> None:
        """Raise :class:`SchemaViolation` unless ``payload`` is a valid ``action`` request
        (``ours``: we are about to send it, checked strictly)."""
        self._check(action + self._request_suffix, payload, strict=ours)

    def check_response(self, action: str, payload: Any, *, ours: bool) -> None:
        """The same for the answer to an ``action`` CALL."""
        self._check(action + "Response", payload, strict=ours)

    def _check(self, name: str, payload: Any, *, strict: bool) -> None:
        check = self._compiled.get((name, strict)) or self._compile(name, strict)
        try:
            check(payload)
        except fastjsonschema.JsonSchemaValueException as err:
            # "data.meterValue[0].timestamp must be string": name the field, never the value.
            message = err.message
            message = message[5:] if message.startswith("data.") else message
            message = "payload" + message[4:] if message.startswith("data ") else message
            raise SchemaViolation(self.codes.for_rule(err.rule), message) from None

    def _compile(self, name: str, strict: bool) -> Check:
        schema = _inlined(self._raw[name])  # KeyError: an action this version does not have
        if not strict:
            schema = _without(schema, "multipleOf")
        check = compile_check(schema)
        self._compiled[(name, strict)] = check
        return check


# The end of each raise in fastjsonschema's generated code: ", definition={...}, rule='type')".
_DEFINITION_ARGUMENT = re.compile(r", definition=.*(, rule=(?:None|'\w+')\))$", re.MULTILINE)


def compile_check(schema: Mapping[str, Any]) -> Check:
    """fastjsonschema's check of ``schema``, without the schema's text in the code.

    The generated code hands every exception it raises the failing subschema, references
    expanded, as a dict literal: an object's literal holds all of its fields' subschemas, and
    each field's raises hold theirs again, so the code grows with the square of the nesting.
    Every action's checks of 2.1, both ways, took 58 MiB of memory that way and take 22 MiB
    without (2.0.1: 23 and 9; the 2.x soak's step when the server's first SetChargingProfile was
    checked, +23 MiB on 2.1, was this). Only an exception's message and rule are read
    (``Schemas._check``), so the literal is cut out of the source before it is compiled; should a
    fastjsonschema release write its raises otherwise, the code stays as generated. The source
    comes from the ``ocpp`` package's schemas, never from a charger."""
    namespace: dict[str, Any] = {}
    exec(compile(lean_code(schema), "<ocpp schema check>", "exec"), namespace)
    check: Check = namespace["validate"]
    return check


def lean_code(schema: Mapping[str, Any]) -> str:
    """The source of ``compile_check``: fastjsonschema's, the raises without their literal."""
    # Without an id the entry function is called "validate" (its references are all local).
    root = {key: value for key, value in schema.items() if key not in ("id", "$id")}
    code: str = fastjsonschema.compile_to_code(root, use_formats=False)  # type: ignore[no-untyped-call]
    lean = _DEFINITION_ARGUMENT.sub(r"\1", code)
    return lean if "definition=" not in lean else code


def _inlined(schema: dict[str, Any]) -> dict[str, Any]:
    """The schema with each local ``$ref`` definition (2.x) that is referred to only once written
    in its place. The compiled check then runs straight through instead of calling a function per
    definition per element (a 2.0.1 TransactionEvent with ten samples: 21 us against 35), while a
    definition used in several places stays one function: written into each, the 2.1 tariff and
    schedule types made the generated code of all 2.x schemas 1.6x as large and their compiled
    checks 99 MiB instead of 60 (both with the literals ``compile_check`` leaves out). OCPP's
    definitions never refer to themselves; a cycle would be left as a reference."""
    definitions = schema.get("definitions", {})
    uses: dict[str, int] = {}

    def count(node: Any) -> None:
        if isinstance(node, dict):
            if (key := _definition(node)) is not None:
                # A reference beside other keywords is not replaced: its definition stays.
                uses[key] = uses.get(key, 0) + (1 if len(node) == 1 else 2)
            for value in node.values():
                count(value)
        elif isinstance(node, list):
            for item in node:
                count(item)

    count(schema)
    once = {key for key, n in uses.items() if n == 1 and key in definitions}

    def resolve(node: Any, seen: frozenset[str]) -> Any:
        if isinstance(node, dict):
            key = _definition(node)
            if key in once and key not in seen and len(node) == 1:
                return resolve(definitions[key], seen | {key})
            return {k: resolve(v, seen) for k, v in node.items()}
        if isinstance(node, list):
            return [resolve(item, seen) for item in node]
        return node

    out = {k: resolve(v, frozenset()) for k, v in schema.items() if k != "definitions"}
    if shared := {
        key: resolve(value, frozenset({key}))
        for key, value in definitions.items()
        if key not in once
    }:
        out["definitions"] = shared
    return out


def _definition(node: dict[str, Any]) -> str | None:
    """The local definition a ``{"$ref": "#/definitions/..."}`` node refers to (None: not one)."""
    ref = node.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/definitions/"):
        return ref.removeprefix("#/definitions/")
    return None


def _without(node: Any, keyword: str) -> Any:
    """A copy of the schema ``node`` with every ``keyword`` constraint removed."""
    if isinstance(node, dict):
        return {k: _without(v, keyword) for k, v in node.items() if k != keyword}
    if isinstance(node, list):
        return [_without(item, keyword) for item in node]
    return node
