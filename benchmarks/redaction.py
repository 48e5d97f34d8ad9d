"""Frame-log redaction time against frame size (``core/protocol/wire_log.redact``).

A trusted charger's frame may be 256 kB, and a broken one is logged (once per kind) at WARNING
whatever the frames log says, inside the event loop. Redaction must grow with the frame, not its
square: before the bound on the name-to-value gap, a 256 kB frame of secret names took 45 s.

Usage: .venv/bin/python benchmarks/redaction.py
Prints, per frame size, the best of three runs (ms) for three frames: full of secret names (the
worst case), a GetConfiguration answer with many keys, and MeterValues without any secret.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from custom_components.ocpp_ems.core.protocol.wire_log import redact

SIZES_KB = (16, 64, 256, 1024)


def names_only(size: int) -> str:
    item = '"BasicAuthPassword",'
    return "[" + item * (size // len(item))


def configuration(size: int) -> str:
    entry = {"key": "WifiPassword", "readonly": False, "value": "secret-value-123"}
    other = {"key": "MeterValueSampleInterval", "readonly": False, "value": "60"}
    one = len(json.dumps(entry)) + len(json.dumps(other)) + 2
    keys = [entry, other] * (size // one)
    return json.dumps([3, "1", {"configurationKey": keys}])


def meter_values(size: int) -> str:
    sample = {"measurand": "Power.Active.Import", "unit": "W", "value": "7360"}
    count = size // (len(json.dumps(sample)) + 1)
    payload = {
        "connectorId": 1,
        "meterValue": [{"timestamp": "x", "sampledValue": [sample] * count}],
    }
    return json.dumps([2, "1", "MeterValues", payload])


def best_ms(frame: str, runs: int = 3) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        redact(frame)
        times.append(time.perf_counter() - started)
    return min(times) * 1000


def main() -> None:
    kinds: dict[str, Callable[[int], str]] = {
        "secret names only": names_only,
        "GetConfiguration": configuration,
        "MeterValues": meter_values,
    }
    print(f"{'frame':20s}" + "".join(f"{size:>10d} kB" for size in SIZES_KB))
    for name, make in kinds.items():
        cells = "".join(f"{best_ms(make(size * 1024)):>10.1f} ms" for size in SIZES_KB)
        print(f"{name:20s}{cells}")


if __name__ == "__main__":
    main()
