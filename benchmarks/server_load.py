"""Load benchmark of the core OCPP server: N chargers sending MeterValues.

The real :class:`CentralSystem` (with the real 1.6 adapter and current control) runs in this
process on 127.0.0.1; the chargers run in a SEPARATE process (multiprocessing, spawn), so the
server's CPU time is measured alone. The chargers speak raw OCPP-J frames over ``websockets``
(no schema validation on their side: the client must stay cheaper than the server it measures),
boot, start a transaction, answer whatever the server asks after boot, and then send a MeterValues
(energy, power, 3 currents, 3 voltages, offered current) every ``--interval`` seconds each.

Measured during the ``--duration`` window only (after every charger booted and a warm-up):
- messages per second: MeterValues round trips completed per second;
- round-trip latency p50 / p99 / max, measured client side (send -> CallResult received);
- server CPU per message: ``time.process_time()`` of the server process over the window divided by
  the messages in the window (includes the schema-validation threads and current control);
- memory per charger: server RSS after all chargers are connected minus RSS before, divided by N
  (``--tracemalloc`` adds Python-heap bytes per charger, at a large CPU cost).

Usage: .venv/bin/python benchmarks/server_load.py [--chargers 100] [--interval 5] [--duration 30]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import logging
import multiprocessing
import os
import platform
import random
import resource
import statistics
import sys
import time
import tracemalloc
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from custom_components.ocpp_ems.core.directory import Admission
from custom_components.ocpp_ems.core.model import ChargerInfo
from custom_components.ocpp_ems.core.settings import ChargerSettings, ServerSettings

# ----------------------------------------------------------------------------------- server side


@dataclass
class AcceptAllDirectory:
    """The host application's answers for a benchmark: every charger and id tag is welcome."""

    charger_settings: dict[str, ChargerSettings] = field(default_factory=dict)

    def admission(self, charger_id: str) -> Admission:
        return Admission.ACCEPTED

    def password(self, charger_id: str) -> str | None:
        return None

    def settings(self, charger_id: str) -> ChargerSettings:
        return self.charger_settings.setdefault(charger_id, ChargerSettings())

    def authorize_id_tag(self, charger_id: str, id_tag: str) -> bool:
        return True

    def local_list(self) -> tuple[int, list[str]]:
        return 1, []

    def on_pending_charger(self, charger_id: str, info: ChargerInfo) -> None:
        pass

    def on_auth_failure(self, charger_id: str, remote: str) -> None:
        pass

    def on_auth_success(self, charger_id: str) -> None:
        pass

    def on_password_ignored(self, charger_id: str) -> None:
        pass

    def on_pending_forgotten(self, charger_id: str) -> None:
        pass


def rss_bytes() -> int:
    """Current resident set size (Linux /proc), else the peak from getrusage."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


# ----------------------------------------------------------------------------------- client side
CONFIGURATION = {
    "SupportedFeatureProfiles": "Core,SmartCharging,RemoteTrigger",
    "ChargeProfileMaxStackLevel": "8",
    "ChargingScheduleAllowedChargingRateUnit": "Current",
    "ChargingScheduleMaxPeriods": "5",
    "MaxChargingProfilesInstalled": "5",
    "NumberOfConnectors": "1",
    "MeterValueSampleInterval": "60",
    "MeterValuesSampledData": "Energy.Active.Import.Register",
    "MeterValuesSampledDataMaxLength": "10",
    "HeartbeatInterval": "300",
}


def answer_server_call(action: str, payload: dict[str, Any]) -> dict[str, Any]:
    """A minimal schema-valid answer to whatever the server asks a charger."""
    if action == "GetConfiguration":
        keys = payload.get("key") or list(CONFIGURATION)
        return {
            "configurationKey": [
                {"key": k, "readonly": False, "value": CONFIGURATION[k]}
                for k in keys
                if k in CONFIGURATION
            ]
        }
    if action == "GetCompositeSchedule":
        return {"status": "Rejected"}
    if action == "GetLocalListVersion":
        return {"listVersion": 0}
    if action in ("UpdateFirmware",):
        return {}
    if action == "GetDiagnostics":
        return {}
    if action == "DataTransfer":
        return {"status": "Accepted"}
    if action == "UnlockConnector":
        return {"status": "Unlocked"}
    return {"status": "Accepted"}


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


class SimCharger:
    """One charger: raw OCPP-J over websockets, answers server calls, times its own calls."""

    def __init__(self, url: str, charger_id: str) -> None:
        self.url = f"{url}/{charger_id}"
        self.charger_id = charger_id
        self.pending: dict[str, asyncio.Future[Any]] = {}
        self.ws: Any = None
        self.energy_wh = 1_000_000.0
        self.transaction_id: int | None = None

    async def connect(self) -> None:
        from websockets.asyncio.client import connect

        self.ws = await connect(
            self.url, subprotocols=["ocpp1.6"], max_size=2**20, ping_interval=None
        )
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for raw in self.ws:
            message = json.loads(raw)
            kind, unique_id = message[0], message[1]
            if kind == 2:  # a CALL from the server: answer at once
                answer = answer_server_call(message[2], message[3])
                await self.ws.send(json.dumps([3, unique_id, answer]))
            elif kind in (3, 4):
                future = self.pending.pop(unique_id, None)
                if future is not None and not future.done():
                    future.set_result(message)

    async def call(self, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        unique_id = uuid.uuid4().hex
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.pending[unique_id] = future
        await self.ws.send(json.dumps([2, unique_id, action, payload]))
        reply = await asyncio.wait_for(future, 30)
        if reply[0] == 4:
            raise RuntimeError(f"{action}: CallError {reply[2]} {reply[3]}")
        result: dict[str, Any] = reply[2]
        return result

    async def boot(self) -> None:
        await self.call(
            "BootNotification",
            {
                "chargePointVendor": "Bench",
                "chargePointModel": "Load",
                "chargePointSerialNumber": self.charger_id,
            },
        )
        await self.call(
            "StatusNotification",
            {"connectorId": 1, "errorCode": "NoError", "status": "Preparing", "timestamp": _now()},
        )
        start = await self.call(
            "StartTransaction",
            {
                "connectorId": 1,
                "idTag": "BENCH",
                "meterStart": int(self.energy_wh),
                "timestamp": _now(),
            },
        )
        self.transaction_id = start["transactionId"]
        await self.call(
            "StatusNotification",
            {"connectorId": 1, "errorCode": "NoError", "status": "Charging", "timestamp": _now()},
        )

    def meter_values(self) -> dict[str, Any]:
        self.energy_wh += 15.3
        current = 16.0 + random.random()

        def sv(value: float, measurand: str, unit: str, phase: str | None = None) -> dict[str, str]:
            item = {
                "value": f"{value:.1f}",
                "context": "Sample.Periodic",
                "measurand": measurand,
                "unit": unit,
            }
            if phase:
                item["phase"] = phase
            return item

        return {
            "connectorId": 1,
            "transactionId": self.transaction_id,
            "meterValue": [
                {
                    "timestamp": _now(),
                    "sampledValue": [
                        sv(self.energy_wh, "Energy.Active.Import.Register", "Wh"),
                        sv(current * 690, "Power.Active.Import", "W"),
                        *(sv(current, "Current.Import", "A", p) for p in ("L1", "L2", "L3")),
                        *(sv(230.0, "Voltage", "V", p) for p in ("L1-N", "L2-N", "L3-N")),
                        sv(32.0, "Current.Offered", "A"),
                    ],
                }
            ],
        }


async def run_clients(
    url: str, n: int, interval: float, warmup: float, duration: float, pipe: Connection
) -> None:
    chargers = [SimCharger(url, f"BENCH-{i:04d}") for i in range(n)]

    async def bring_up(group: list[SimCharger]) -> None:
        # Connect and boot in waves: a real fleet does not boot in the same millisecond.
        for start in range(0, len(group), 25):
            wave = group[start : start + 25]
            await asyncio.gather(*(c.connect() for c in wave))
            await asyncio.gather(*(c.boot() for c in wave))
        await asyncio.sleep(warmup)  # let post-boot configuration and current control settle

    # A few chargers first, so one-off costs (imports, schema caches, thread pool) are paid before
    # the server's "memory before" reading; then the rest.
    primed = priming_count(n)
    await bring_up(chargers[:primed])
    pipe.send({"event": "primed"})
    pipe.recv()
    await bring_up(chargers[primed:])
    pipe.send({"event": "ready"})
    pipe.recv()  # the server took its "before" measurements

    latencies: list[float] = []
    errors = 0
    loop = asyncio.get_running_loop()
    end = loop.time() + duration

    async def meter_loop(charger: SimCharger) -> None:
        nonlocal errors
        # Spread the chargers over the period; only sends that start inside the window count.
        next_at = loop.time() + random.uniform(0, interval)
        while True:
            await asyncio.sleep(max(0.0, next_at - loop.time()))
            if next_at >= end:
                return
            started = time.perf_counter()
            try:
                await charger.call("MeterValues", charger.meter_values())
                latencies.append(time.perf_counter() - started)
            except Exception:
                errors += 1
            next_at += interval

    await asyncio.gather(*(meter_loop(c) for c in chargers))
    pipe.send({"event": "done", "latencies": latencies, "errors": errors, "window_s": duration})
    for charger in chargers:
        await charger.ws.close()


def client_process(
    url: str, n: int, interval: float, warmup: float, duration: float, pipe: Connection
) -> None:
    asyncio.run(run_clients(url, n, interval, warmup, duration, pipe))


# ------------------------------------------------------------------------------------------- main
def priming_count(n: int) -> int:
    return max(1, min(10, n // 10))


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


async def benchmark(args: argparse.Namespace) -> dict[str, Any]:
    from custom_components.ocpp_ems.core.server import CentralSystem

    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("custom_components.ocpp_ems").setLevel(logging.WARNING)
    central = CentralSystem(ServerSettings(host="127.0.0.1", port=0), AcceptAllDirectory())
    await central.start()
    url = f"ws://127.0.0.1:{central.port}/ocpp"

    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe()
    process = ctx.Process(
        target=client_process,
        args=(url, args.chargers, args.interval, args.warmup, args.duration, child),
        daemon=True,
    )
    process.start()
    loop = asyncio.get_running_loop()
    try:
        primed = await loop.run_in_executor(None, parent.recv)
        assert primed["event"] == "primed"
        gc.collect()
        rss_before = rss_bytes()
        if args.tracemalloc:
            tracemalloc.start()
        heap_before = tracemalloc.get_traced_memory()[0] if args.tracemalloc else 0
        parent.send("continue")
        ready = await loop.run_in_executor(None, parent.recv)
        assert ready["event"] == "ready"
        connected = sum(1 for c in central.chargers.values() if c.connected)
        gc.collect()
        rss_after = rss_bytes()
        heap_after = tracemalloc.get_traced_memory()[0] if args.tracemalloc else 0
        cpu_before, wall_before = time.process_time(), time.perf_counter()
        parent.send("go")
        done = await loop.run_in_executor(None, parent.recv)
        cpu = time.process_time() - cpu_before
        wall = time.perf_counter() - wall_before
    finally:
        await loop.run_in_executor(None, process.join, 30)
        if process.is_alive():
            process.kill()
        await central.stop()

    latencies = [x * 1000 for x in done["latencies"]]
    messages = len(latencies)
    measured = args.chargers - priming_count(args.chargers) or 1
    return {
        "chargers": args.chargers,
        "connected": connected,
        "interval_s": args.interval,
        "window_s": done["window_s"],
        "messages": messages,
        "errors": done["errors"],
        "msg_per_s": messages / done["window_s"],
        "offered_msg_per_s": args.chargers / args.interval,
        "p50_ms": percentile(latencies, 50),
        "p99_ms": percentile(latencies, 99),
        "max_ms": max(latencies, default=float("nan")),
        "mean_ms": statistics.fmean(latencies) if latencies else float("nan"),
        "server_cpu_s": cpu,
        "server_cpu_util": cpu / wall,
        "cpu_us_per_msg": cpu / messages * 1e6 if messages else float("nan"),
        "rss_per_charger_kib": (rss_after - rss_before) / measured / 1024,
        "heap_per_charger_kib": (heap_after - heap_before) / measured / 1024
        if args.tracemalloc
        else None,
        "rss_total_mib": rss_after / 2**20,
    }


def table(result: dict[str, Any]) -> str:
    rows = [
        ("chargers (connected)", f"{result['chargers']} ({result['connected']})"),
        ("MeterValues interval per charger", f"{result['interval_s']:g} s"),
        ("measurement window", f"{result['window_s']:.1f} s"),
        ("MeterValues round trips (errors)", f"{result['messages']} ({result['errors']})"),
        (
            "messages per second (offered)",
            f"{result['msg_per_s']:.1f} ({result['offered_msg_per_s']:.1f})",
        ),
        ("round-trip latency p50", f"{result['p50_ms']:.2f} ms"),
        ("round-trip latency p99", f"{result['p99_ms']:.2f} ms"),
        ("round-trip latency max", f"{result['max_ms']:.2f} ms"),
        (
            "server CPU in window (utilisation)",
            f"{result['server_cpu_s']:.2f} s ({result['server_cpu_util']:.1%})",
        ),
        ("server CPU per message", f"{result['cpu_us_per_msg']:.0f} us"),
        ("server memory per charger (RSS delta)", f"{result['rss_per_charger_kib']:.1f} KiB"),
        ("server RSS total", f"{result['rss_total_mib']:.1f} MiB"),
    ]
    if result["heap_per_charger_kib"] is not None:
        rows.append(
            ("Python heap per charger (tracemalloc)", f"{result['heap_per_charger_kib']:.1f} KiB")
        )
    width = max(len(name) for name, _ in rows)
    lines = [f"{name:<{width}}  {value}" for name, value in rows]
    rule = "-" * (width + 2 + max(len(value) for _, value in rows))
    return "\n".join([rule, *lines, rule])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--chargers", type=int, default=100, help="simulated chargers (default 100)"
    )
    parser.add_argument(
        "--interval", type=float, default=5.0, help="MeterValues period per charger, s"
    )
    parser.add_argument("--duration", type=float, default=30.0, help="measurement window, s")
    parser.add_argument("--warmup", type=float, default=3.0, help="settle time after boot, s")
    parser.add_argument(
        "--tracemalloc", action="store_true", help="also measure Python heap per charger"
    )
    parser.add_argument("--json", action="store_true", help="print the raw figures as JSON too")
    args = parser.parse_args()
    result = asyncio.run(benchmark(args))
    print(
        f"OCPP EMS core server load benchmark  ({datetime.now(UTC):%Y-%m-%d %H:%M} UTC, "
        f"Python {platform.python_version()}, {os.cpu_count()} CPUs, {platform.machine()})"
    )
    print(table(result))
    if args.json:
        print(json.dumps(result))


if __name__ == "__main__":
    main()
