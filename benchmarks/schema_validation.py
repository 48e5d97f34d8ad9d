"""Micro-benchmark: checking one OCPP payload against its official JSON schema, two ways.

- ``jsonschema``: a ``Draft4Validator`` built once per action (what the ``ocpp`` package does, plus
  a thread hop per message that is not counted here);
- ``fastjsonschema``: the schema compiled into a Python function once (what our RPC layer does,
  :mod:`custom_components.ocpp_ems.core.protocol.schemas`).

Both get the same payloads: a 1.6 MeterValues with the 10 samples a three-phase charger sends, a
BootNotification and a StatusNotification. Also printed, for scale: parsing the MeterValues frame
with the strict ``json.loads`` of the frame layer; and what compiling costs, once per check: per OCPP
version, every action's request and answer, strict and tolerant, as the RPC layer has them compiled
in a worker thread before their first use (``Schemas.ready_request`` / ``ready_response``): the
slowest one and the sum, wall time per check including the thread hop.

Usage: .venv/bin/python benchmarks/schema_validation.py [--repeat 5000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import fastjsonschema
import jsonschema  # type: ignore[import-untyped]

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from custom_components.ocpp_ems.core.protocol.frames import parse_frame
from custom_components.ocpp_ems.core.protocol.schemas import Schemas, shipped_schemas

SCHEMAS = shipped_schemas("v16")


def _sample(measurand: str, unit: str, phase: str | None = None) -> dict[str, str]:
    sample = {"value": "230.1", "context": "Sample.Periodic", "measurand": measurand, "unit": unit}
    if phase:
        sample["phase"] = phase
    return sample


PAYLOADS: dict[str, dict[str, Any]] = {
    "MeterValues": {
        "connectorId": 1,
        "transactionId": 1234,
        "meterValue": [
            {
                "timestamp": "2026-11-30T06:00:00.000Z",
                "sampledValue": [
                    _sample("Energy.Active.Import.Register", "Wh"),
                    _sample("Power.Active.Import", "W"),
                    *(_sample("Current.Import", "A", p) for p in ("L1", "L2", "L3")),
                    *(_sample("Voltage", "V", p) for p in ("L1-N", "L2-N", "L3-N")),
                    _sample("Current.Offered", "A"),
                ],
            }
        ],
    },
    "BootNotification": {
        "chargePointVendor": "Vendor",
        "chargePointModel": "Model",
        "chargePointSerialNumber": "SN-1",
        "firmwareVersion": "1.2.3",
    },
    "StatusNotification": {
        "connectorId": 1,
        "errorCode": "NoError",
        "status": "Charging",
        "timestamp": "2026-11-30T06:00:00.000Z",
    },
}


def per_call_us(check: Callable[[Any], Any], payload: Any, repeat: int) -> float:
    """Median over 5 runs of the mean time of one call, in microseconds."""
    runs = []
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(repeat):
            check(payload)
        runs.append((time.perf_counter() - start) / repeat * 1e6)
    return statistics.median(runs)


async def compile_ms(schemas: Schemas) -> list[tuple[float, str]]:
    """Wall time (ms) to have each check compiled, slowest first."""
    times = []
    for action in sorted(schemas.actions):
        for ready, name in ((schemas.ready_request, action), (schemas.ready_response, "answer")):
            for ours in (True, False):
                start = time.perf_counter()
                await ready(action, ours=ours)
                kind = f"{action} {'request' if name == action else 'answer'}"
                times.append(((time.perf_counter() - start) * 1000, kind))
    return sorted(times, reverse=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=5000)
    args = parser.parse_args()
    print(f"{'payload':<20} {'jsonschema':>12} {'fastjsonschema':>15} {'ratio':>7}")
    for action, payload in PAYLOADS.items():
        schema = json.loads((SCHEMAS / f"{action}.json").read_text())
        slow = jsonschema.Draft4Validator(schema).validate
        fast = fastjsonschema.compile(schema, use_formats=False)  # type: ignore[no-untyped-call]
        slow_us = per_call_us(slow, payload, args.repeat // 10)
        fast_us = per_call_us(fast, payload, args.repeat)
        print(f"{action:<20} {slow_us:>9.1f} us {fast_us:>12.1f} us {slow_us / fast_us:>6.0f}x")
    frame = json.dumps([2, "1", "MeterValues", PAYLOADS["MeterValues"]])
    print(
        f"parse the MeterValues frame (strict json.loads): {per_call_us(parse_frame, frame, args.repeat):.1f} us"
    )
    print("compiling each check once (in a worker thread, off the event loop):")
    for version, module, suffix in (
        ("1.6", "v16", ""),
        ("2.0.1", "v201", "Request"),
        ("2.1", "v21", "Request"),
    ):
        schemas = Schemas(shipped_schemas(module), request_suffix=suffix)
        times = asyncio.run(compile_ms(schemas))
        slowest_ms, slowest = times[0]
        total_ms = sum(ms for ms, _ in times)
        print(
            f"  {version:<6} {len(times)} checks, {total_ms:.0f} ms in all; slowest {slowest_ms:.0f} ms"
            f" ({slowest})"
        )


if __name__ == "__main__":
    main()
