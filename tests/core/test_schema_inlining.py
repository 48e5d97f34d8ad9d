"""How the checks are compiled (``protocol/schemas.py``): local ``$ref`` definitions used once are
written in place, shared ones stay one function (``_inlined``), and the generated code leaves out
the schema literals of its exceptions (``compile_check``); the verdicts are those of the schema as
shipped."""

from __future__ import annotations

import json
import random
from typing import Any

import fastjsonschema
import pytest

from benchmarks.fuzz_frames import _paths, _set, random_json
from benchmarks.fuzz_payloads import ACTIONS_2X, ACTIONS_16, template_2x, template_16
from custom_components.ocpp_ems.core.protocol.schemas import (
    Schemas,
    SchemaViolation,
    _inlined,
    _without,
    lean_code,
)
from custom_components.ocpp_ems.core.protocol.v16.session import _SCHEMAS as SCHEMAS_16
from custom_components.ocpp_ems.core.protocol.v201.session import DIALECT_21, DIALECT_201

UNIT = {"type": "object", "properties": {"unit": {"type": "string"}}, "additionalProperties": False}
SCHEMA: dict[str, Any] = {
    "type": "object",
    "definitions": {
        "Unit": UNIT,
        "Sample": {
            "type": "object",
            "properties": {"unit": {"$ref": "#/definitions/Unit"}, "value": {"type": "number"}},
            "required": ["value"],
        },
        "Limit": {"type": "number", "minimum": 0},
    },
    "properties": {
        "samples": {"type": "array", "items": {"$ref": "#/definitions/Sample"}},
        "low": {"$ref": "#/definitions/Limit"},
        "high": {"$ref": "#/definitions/Limit"},
    },
}


def test_definitions_used_once_are_written_in_place_shared_ones_stay() -> None:
    out = _inlined(SCHEMA)
    sample = out["properties"]["samples"]["items"]
    assert sample["properties"]["unit"] == UNIT  # Sample and, inside it, Unit: each used once
    assert out["properties"]["low"] == {"$ref": "#/definitions/Limit"}  # used twice
    assert out["definitions"] == {"Limit": SCHEMA["definitions"]["Limit"]}
    assert "definitions" not in _inlined({"type": "object", "properties": {}})
    # A reference beside another keyword is left as it is, and so is its definition.
    beside = {
        "definitions": {"Unit": UNIT},
        "properties": {"u": {"$ref": "#/definitions/Unit", "title": "t"}},
    }
    assert _inlined(beside) == beside


def test_a_definition_that_refers_to_itself_stays_a_reference() -> None:
    node = {"type": "object", "properties": {"next": {"$ref": "#/definitions/Node"}}}
    schema = {"definitions": {"Node": node}, "properties": {"head": {"$ref": "#/definitions/Node"}}}
    out = _inlined(schema)
    assert out["properties"]["head"] == {"$ref": "#/definitions/Node"}
    assert out["definitions"]["Node"] == node
    check = fastjsonschema.compile(out)
    check({"head": {"next": {"next": {}}}})
    with pytest.raises(fastjsonschema.JsonSchemaValueException):
        check({"head": {"next": {"next": 1}}})


@pytest.mark.parametrize("dialect", [DIALECT_201, DIALECT_21], ids=["2.0.1", "2.1"])
def test_same_verdicts_as_the_shipped_schemas(dialect: Any) -> None:
    """Every action a station sends, valid and mutated like the fuzzer does: the same verdict
    (the failing rule and field) from the inlined schema as from the shipped one."""
    rng = random.Random(5)
    valid = 0
    for action in ACTIONS_2X:
        raw = dialect.schemas.request_schema(action)
        shipped = fastjsonschema.compile(raw, use_formats=False)
        inlined = fastjsonschema.compile(_inlined(raw), use_formats=False)
        for _ in range(40):
            payload = template_2x(action, rng)
            paths = list(_paths(payload))
            if paths and rng.random() < 0.7:
                _set(payload, rng.choice(paths), random_json(rng))
            verdicts = []
            for check in (shipped, inlined):
                try:
                    check(json.loads(json.dumps(payload)))
                    verdicts.append(None)
                except fastjsonschema.JsonSchemaValueException as err:
                    verdicts.append((err.rule, err.message.split(" must ")[0]))
            assert verdicts[0] == verdicts[1], (action, payload)
            valid += verdicts[0] is None
    assert valid > 200  # the templates are valid, a mutation mostly is not


@pytest.mark.parametrize(
    ("schemas", "actions", "template"),
    [
        (SCHEMAS_16, ACTIONS_16, template_16),
        (DIALECT_201.schemas, ACTIONS_2X, template_2x),
        (DIALECT_21.schemas, ACTIONS_2X, template_2x),
    ],
    ids=["1.6", "2.0.1", "2.1"],
)
def test_checks_give_the_verdicts_of_the_shipped_schema(
    schemas: Schemas, actions: tuple[str, ...], template: Any
) -> None:
    """Our checks (inlined, compiled without the exceptions' schema literals) against the
    shipped schema compiled as fastjsonschema does it: the same CALLERROR code and description
    for every action a station sends, valid and mutated as the fuzzer does, strict and tolerant."""
    rng = random.Random(11)
    verdicts_seen: set[str | None] = set()
    for action in actions:
        raw = schemas.request_schema(action)
        shipped = {
            True: fastjsonschema.compile(raw, use_formats=False),
            False: fastjsonschema.compile(_without(raw, "multipleOf"), use_formats=False),
        }
        for _ in range(30):
            payload = template(action, rng)
            paths = list(_paths(payload))
            if paths and rng.random() < 0.7:
                _set(payload, rng.choice(paths), random_json(rng))
            for strict, check in shipped.items():
                try:
                    check(json.loads(json.dumps(payload)))
                    expected = None
                except fastjsonschema.JsonSchemaValueException as err:
                    message = err.message.removeprefix("data.").replace("data ", "payload ", 1)
                    expected = (schemas.codes.for_rule(err.rule), message)
                try:
                    schemas.check_request(action, json.loads(json.dumps(payload)), ours=strict)
                    got = None
                except SchemaViolation as violation:
                    got = (violation.code, violation.description)
                assert got == expected, (action, strict, payload)
                verdicts_seen.add(None if got is None else got[0])
    # Valid payloads and several kinds of violation were among them.
    assert None in verdicts_seen
    assert len(verdicts_seen) >= 4


def test_the_generated_code_has_no_schema_literals() -> None:
    """The pinned fastjsonschema writes its raises as ``compile_check`` expects: every one loses
    its literal (a release that writes them otherwise fails here instead of silently costing the
    memory again), and the 2.1 code shrinks to well under half."""
    generated = lean = 0
    for name, raw in DIALECT_21.schemas._raw.items():
        schema = _inlined(raw)
        code = lean_code(schema)
        assert "definition=" not in code, name
        assert "rule=" in code or "raise" not in code, name
        generated += len(fastjsonschema.compile_to_code(schema, use_formats=False))
        lean += len(code)
    assert lean < 0.4 * generated
