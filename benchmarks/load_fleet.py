"""The simulated charger fleet of ``benchmarks/server_load.py``: raw OCPP-J 1.6 over ``websockets``.

Each :class:`SimCharger` is one charger on its own WebSocket: it boots, starts a transaction, sends
MeterValues (energy, power, 3 currents, 3 voltages, offered current) and answers at once, with a
schema-valid answer, whatever the server asks it (GetConfiguration, ChangeConfiguration,
GetLocalListVersion, SetChargingProfile, ClearChargingProfile, GetCompositeSchedule,
TriggerMessage ...). :func:`fleet_process` runs a share of the fleet in a process of its own,
driven over a ``multiprocessing`` pipe by ``server_load.py --compare`` / ``--boot-storm``.

With a :class:`FleetStats` the chargers also check the server against the OCPP 1.6 JSON schemas
(the ones the ``ocpp`` package ships, compiled with ``fastjsonschema``): every CALL the server
sends and every answer it gives, plus our own answers (a benchmark that answered badly would
measure the server's error path). In steady state that is one check of an empty MeterValues answer
per message: a few microseconds of the fleet's CPU, none of the server's.

Why Python and not Node (``ocpp-rpc`` in strict mode is installed under ``tests/js``): on 2 cores
the fleet must cost little next to the server it measures, and the Python fleet is not the
expensive option. Measured on this machine (500 chargers at 1 MeterValues/s against the plain
``ocpp`` server, client CPU by ``process_time`` / ``process.cpuUsage``):

==============================  ============  ===============  ================
fleet                           per message   per connect      per boot (4 CALLs)
==============================  ============  ===============  ================
Python raw frames (this file)   ~190 us       ~210 us          ~215 us
Node ``ws`` raw frames          ~150 us       ~330 us          ~330 us
Node ``ocpp-rpc`` strict mode   ~275 us       ~470 us          ~950 us
==============================  ============  ===============  ================

At the largest preset (5,000 chargers, one MeterValues per 10 s = 500 messages/s) one Python fleet
process used 8 % of one core in the window (measured against the plain server), and a boot storm
of 2,000 chargers about 1 CPU-second in all. ``ocpp-rpc``'s strict mode would cost more of the
2 cores the server needs than it is worth here; the end-to-end test
``tests/core/test_e2e_ocpp_rpc.py`` already checks our server against ``ocpp-rpc``'s strict
reading of the schemas. One fleet process is therefore the default even at 5,000 chargers: a
second one would only add a third busy process on 2 cores. The fleet reports its own CPU
utilisation with every result (window and storm separately); ``--fleet-processes N`` splits it
if that ever nears 100 %.
"""

from __future__ import annotations

import asyncio
import importlib
import importlib.util
import json
import os
import random
import resource
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus
from websockets.typing import Subprotocol

CALL, CALLRESULT, CALLERROR = 2, 3, 4
CALL_TIMEOUT_S = 30.0
OPEN_TIMEOUT_S = 30.0
WAVE = 25  # steady mode: chargers connected and booted together

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


def now_iso() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def raise_nofile_limit(connections: int, who: str) -> int:
    """Soft RLIMIT_NOFILE up to the hard limit; a clear error when even that is too low."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    needed = connections + 256  # one descriptor per connection, plus files, pipes, the loop
    if hard != resource.RLIM_INFINITY and hard < needed:
        raise SystemExit(
            f"{who}: {connections} connections need {needed} file descriptors but the hard limit "
            f"(ulimit -Hn) is {hard}; raise it (e.g. /etc/security/limits.conf, or "
            f"`ulimit -Hn {2 * needed}` as root) or run fewer chargers"
        )
    if soft != hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


# ---------------------------------------------------------------------------------------- schemas
class Schemas:
    """The OCPP 1.6 JSON schemas of the ``ocpp`` package, compiled with ``fastjsonschema``."""

    def __init__(self) -> None:
        spec = importlib.util.find_spec("ocpp")
        if spec is None or spec.origin is None:
            raise SystemExit("the ocpp package is not installed")
        self._dir = Path(spec.origin).parent / "v16" / "schemas"
        self._fastjsonschema: Any = importlib.import_module("fastjsonschema")
        self._compiled: dict[str, Callable[[Any], Any]] = {}

    def problem(self, name: str, payload: Any) -> str | None:
        """None if ``payload`` matches schema ``name`` (e.g. ``MeterValuesResponse``), else why."""
        check = self._compiled.get(name)
        if check is None:
            path = self._dir / f"{name}.json"
            if not path.exists():
                return f"no schema {name}"
            check = self._fastjsonschema.compile(json.loads(path.read_text()))
            self._compiled[name] = check
        try:
            check(payload)
        except self._fastjsonschema.JsonSchemaException as err:
            return f"{name}: {err}"
        return None


@dataclass
class FleetStats:
    """What one fleet process saw; merged over processes by the coordinator."""

    schemas: Schemas | None = None
    errors: Counter[str] = field(default_factory=Counter)
    error_samples: list[str] = field(default_factory=list)
    server_calls: Counter[str] = field(default_factory=Counter)
    last_server_call: float | None = None  # time.monotonic()

    def error(self, kind: str, detail: str) -> None:
        self.errors[kind] += 1
        if len(self.error_samples) < 8:
            self.error_samples.append(f"{kind}: {detail[:300]}")


class CallFailedError(Exception):
    """A CALL of ours got a CALLERROR, a schema-invalid answer, or none (timeout, closed)."""

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(f"{kind}: {detail}")
        self.kind = kind
        self.detail = detail


# ---------------------------------------------------------------------------------------- charger
class SimCharger:
    """One charger: raw OCPP-J over websockets, answers server calls, times its own calls."""

    # The id tag its transactions start with.
    id_tag = "BENCH"

    def __init__(self, url: str, charger_id: str, stats: FleetStats | None = None) -> None:
        self.url = f"{url}/{charger_id}"
        self.charger_id = charger_id
        self.stats = stats
        self.pending: dict[str, tuple[str, asyncio.Future[Any]]] = {}
        self.ws: ClientConnection | None = None
        self.reader: asyncio.Task[None] | None = None
        self.energy_wh = 1_000_000.0
        self.transaction_id: int | None = None

    async def connect(self) -> None:
        self.ws = await connect(
            self.url,
            subprotocols=[Subprotocol("ocpp1.6")],
            max_size=2**20,
            ping_interval=None,
            compression=None,
            open_timeout=OPEN_TIMEOUT_S,
        )
        self.reader = asyncio.create_task(self._read())

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()
        if self.reader is not None:
            await self.reader

    async def _read(self) -> None:
        assert self.ws is not None
        try:
            async for raw in self.ws:
                try:
                    message = json.loads(raw)
                    kind, unique_id = message[0], message[1]
                    if kind == CALL:  # a CALL from the server: answer at once
                        answer = self._answer(message[2], message[3])
                        await self.ws.send(json.dumps([CALLRESULT, unique_id, answer]))
                    elif kind in (CALLRESULT, CALLERROR):
                        _, future = self.pending.pop(unique_id, ("", None))
                        if future is not None and not future.done():
                            future.set_result(message)
                except (ValueError, TypeError, LookupError) as err:
                    if self.stats is None:
                        raise
                    self.stats.error("server frame not OCPP-J", f"{err!r}: {raw[:200]!r}")
        except ConnectionClosed:
            pass
        finally:
            for _, future in self.pending.values():
                if not future.done():
                    future.set_exception(ConnectionError("connection closed"))
            self.pending.clear()

    def _answer(self, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        answer = answer_server_call(action, payload)
        stats = self.stats
        if stats is not None:
            stats.server_calls[action] += 1
            stats.last_server_call = time.monotonic()
            if stats.schemas is not None:
                if problem := stats.schemas.problem(action, payload):
                    stats.error("server CALL not schema-valid", problem)
                if problem := stats.schemas.problem(f"{action}Response", answer):
                    stats.error("fleet answer not schema-valid (benchmark bug)", problem)
        return answer

    async def call(self, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        assert self.ws is not None
        unique_id = uuid.uuid4().hex
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.pending[unique_id] = (action, future)
        try:
            await self.ws.send(json.dumps([CALL, unique_id, action, payload]))
            reply = await asyncio.wait_for(future, CALL_TIMEOUT_S)
        except TimeoutError:
            raise CallFailedError(
                "timeout", f"{action}: no answer in {CALL_TIMEOUT_S:g} s"
            ) from None
        except (ConnectionClosed, ConnectionError) as err:
            raise CallFailedError("connection closed", f"{action}: {err}") from None
        finally:
            self.pending.pop(unique_id, None)
        if reply[0] == CALLERROR:
            raise CallFailedError("CALLERROR", f"{action}: {reply[2]} {reply[3]}")
        result: dict[str, Any] = reply[2]
        if self.stats is not None and self.stats.schemas is not None:
            problem = self.stats.schemas.problem(f"{action}Response", result)
            if problem:
                raise CallFailedError("answer not schema-valid", problem)
        return result

    async def boot_notification(self) -> str:
        reply = await self.call(
            "BootNotification",
            {
                "chargePointVendor": "Bench",
                "chargePointModel": "Load",
                "chargePointSerialNumber": self.charger_id,
            },
        )
        status: str = reply["status"]
        return status

    async def start_session(self) -> None:
        """After an accepted boot: Preparing, StartTransaction, Charging."""
        await self.call(
            "StatusNotification",
            {
                "connectorId": 1,
                "errorCode": "NoError",
                "status": "Preparing",
                "timestamp": now_iso(),
            },
        )
        start = await self.call(
            "StartTransaction",
            {
                "connectorId": 1,
                "idTag": self.id_tag,
                "meterStart": int(self.energy_wh),
                "timestamp": now_iso(),
            },
        )
        self.transaction_id = start["transactionId"]
        await self.call(
            "StatusNotification",
            {
                "connectorId": 1,
                "errorCode": "NoError",
                "status": "Charging",
                "timestamp": now_iso(),
            },
        )

    async def boot(self) -> None:
        await self.boot_notification()
        await self.start_session()

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
                    "timestamp": now_iso(),
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


def handshake_failure_kind(err: BaseException) -> str:
    """How a connection attempt failed: refused, reset, timeout, HTTP status, other."""
    if isinstance(err, ConnectionRefusedError):
        return "refused"
    if isinstance(err, TimeoutError):
        return "timeout"
    if isinstance(err, InvalidStatus):
        return f"HTTP {err.response.status_code}"
    cause: BaseException | None = err
    while cause is not None:
        if isinstance(cause, ConnectionResetError | EOFError | BrokenPipeError):
            return "reset"
        cause = cause.__cause__ or cause.__context__
    if isinstance(err, InvalidHandshake):
        return "invalid handshake"
    return type(err).__name__


# ------------------------------------------------------------------------------- the fleet process
class Channel:
    """The coordinator's pipe, read without blocking the event loop."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.queue: asyncio.Queue[Any] = asyncio.Queue()
        asyncio.get_running_loop().add_reader(conn.fileno(), self._readable)

    def _readable(self) -> None:
        try:
            while self.conn.poll():
                self.queue.put_nowait(self.conn.recv())
        except (EOFError, OSError):  # the coordinator is gone
            asyncio.get_running_loop().remove_reader(self.conn.fileno())
            self.queue.put_nowait({"cmd": "stop"})

    async def recv(self, expected: str) -> dict[str, Any]:
        message: dict[str, Any] = await self.queue.get()
        if message.get("cmd") != expected:
            raise SystemExit(f"fleet: expected {expected!r} from the coordinator, got {message!r}")
        return message

    def send(self, message: dict[str, Any]) -> None:
        self.conn.send(message)


@dataclass(kw_only=True)
class FleetConfig:
    url: str
    ids: list[str]
    primed: int  # steady mode: chargers brought up before the server's "memory before" reading
    interval_s: float
    warmup_s: float = 3.0
    duration_s: float = 30.0
    storm_window_s: float = 30.0
    quiet_s: float = 5.0
    max_settle_s: float = 60.0
    retry_attempts: int = 10
    give_up_after_s: float = 120.0  # boot storm: no new connection attempt after this (from t0)


class Fleet:
    def __init__(self, config: FleetConfig, channel: Channel) -> None:
        self.config = config
        self.channel = channel
        self.stats = FleetStats(schemas=Schemas())
        self.chargers = [SimCharger(config.url, cid, self.stats) for cid in config.ids]
        self.up: list[SimCharger] = []  # connected, Accepted, transaction started
        self.not_accepted: Counter[str] = Counter()
        self.cpu_mark = time.process_time()
        self.wall_mark = time.monotonic()

    def _fleet_cpu(self) -> float:
        """Fleet CPU utilisation (share of one core) since the previous call."""
        cpu, wall = time.process_time(), time.monotonic()
        share = (cpu - self.cpu_mark) / max(wall - self.wall_mark, 1e-9)
        self.cpu_mark, self.wall_mark = cpu, wall
        return share

    def _summary(self) -> dict[str, Any]:
        return {
            "errors": dict(self.stats.errors),
            "error_samples": self.stats.error_samples,
            "server_calls": dict(self.stats.server_calls),
            "not_accepted": dict(self.not_accepted),
            "up": len(self.up),
        }

    # ------------------------------------------------------------------------------------ steady
    async def _bring_up(self, group: list[SimCharger]) -> None:
        """Connect and boot in waves: a real fleet does not boot in the same millisecond."""

        async def one(charger: SimCharger) -> None:
            try:
                await charger.connect()
            except (OSError, InvalidHandshake, TimeoutError) as err:
                self.stats.error(f"handshake {handshake_failure_kind(err)}", repr(err))
                return
            try:
                status = await charger.boot_notification()
                if status != "Accepted":
                    self.not_accepted[status] += 1
                    return
                await charger.start_session()
            except CallFailedError as err:
                self.stats.error(f"boot {err.kind}", err.detail)
                return
            self.up.append(charger)

        for start in range(0, len(group), WAVE):
            await asyncio.gather(*(one(c) for c in group[start : start + WAVE]))

    async def _meter_window(
        self, chargers: list[SimCharger], end: float, phase: str
    ) -> tuple[list[float], int]:
        """MeterValues every interval from each charger; sends that start before ``end`` count."""
        loop = asyncio.get_running_loop()
        interval = self.config.interval_s
        latencies: list[float] = []
        errors = 0

        async def meter_loop(charger: SimCharger) -> None:
            nonlocal errors
            # Spread the chargers over the period.
            next_at = loop.time() + random.uniform(0, interval)
            while True:
                await asyncio.sleep(max(0.0, next_at - loop.time()))
                if next_at >= end:
                    return
                started = time.perf_counter()
                try:
                    await charger.call("MeterValues", charger.meter_values())
                    latencies.append((time.perf_counter() - started) * 1000)
                except CallFailedError as err:
                    errors += 1
                    self.stats.error(f"{phase} MeterValues {err.kind}", err.detail)
                next_at += interval

        await asyncio.gather(*(meter_loop(c) for c in chargers))
        return latencies, errors

    async def steady(self) -> None:
        primed = self.chargers[: self.config.primed]
        await self._bring_up(primed)
        await asyncio.sleep(self.config.warmup_s if primed else 0.0)
        self.channel.send({"event": "primed", "up": len(self.up)})
        await self.channel.recv("continue")
        await self._bring_up(self.chargers[len(primed) :])
        await asyncio.sleep(self.config.warmup_s)
        self.channel.send({"event": "ready", **self._summary()})
        await self.channel.recv("go")
        self._fleet_cpu()
        loop = asyncio.get_running_loop()
        calls_before = sum(self.stats.server_calls.values())
        latencies, errors = await self._meter_window(
            self.up, loop.time() + self.config.duration_s, "window"
        )
        self.channel.send(
            {
                "event": "done",
                "latencies_ms": latencies,
                "meter_errors": errors,
                "window_s": self.config.duration_s,
                "fleet_cpu": self._fleet_cpu(),
                "server_calls_in_window": sum(self.stats.server_calls.values()) - calls_before,
                **self._summary(),
            }
        )

    # -------------------------------------------------------------------------------- boot storm
    async def storm(self) -> None:
        self.channel.send({"event": "idle"})
        start = await self.channel.recv("storm")
        t0: float = start["t0"]  # time.monotonic() of the coordinator: the same clock here
        await asyncio.sleep(max(0.0, t0 - time.monotonic()))
        self._fleet_cpu()
        failures: Counter[str] = Counter()
        connect_ms: list[float] = []
        boot_ms: list[float] = []
        accepted_at: list[float] = []
        booted = 0
        all_booted = asyncio.Event()

        async def boot_phase(charger: SimCharger) -> bool:
            for attempt in range(self.config.retry_attempts):
                if attempt:  # a real charger retries after a pause; spread the retries
                    await asyncio.sleep(random.uniform(1.0, 2.0))
                if time.monotonic() - t0 > self.config.give_up_after_s:
                    break
                started = time.monotonic()
                try:
                    await charger.connect()
                except (OSError, InvalidHandshake, TimeoutError) as err:
                    failures[handshake_failure_kind(err)] += 1
                    continue
                connect_ms.append((time.monotonic() - started) * 1000)
                sent = time.monotonic()
                try:
                    status = await charger.boot_notification()
                except CallFailedError as err:
                    failures[f"boot {err.kind}"] += 1
                    if err.kind in ("CALLERROR", "answer not schema-valid"):
                        self.stats.error(f"storm boot {err.kind}", err.detail)
                        return False
                    await charger.close()
                    continue
                answered = time.monotonic()
                boot_ms.append((answered - sent) * 1000)
                if status != "Accepted":
                    self.not_accepted[status] += 1
                    return False
                accepted_at.append(answered - t0)
                return True
            self.not_accepted["gave up connecting"] += 1
            return False

        async def one(charger: SimCharger) -> None:
            nonlocal booted
            try:
                accepted = await boot_phase(charger)
            finally:
                booted += 1
                if booted == len(self.chargers):
                    all_booted.set()
            if not accepted:
                return
            try:
                await charger.start_session()
            except CallFailedError as err:
                self.stats.error(f"storm session {err.kind}", err.detail)
                return
            self.up.append(charger)

        async def report_booted() -> None:
            await all_booted.wait()
            self.channel.send(
                {
                    "event": "booted",
                    "accepted_at_s": accepted_at,
                    "connect_ms": connect_ms,
                    "boot_ms": boot_ms,
                    "failures": dict(failures),
                    "not_accepted": dict(self.not_accepted),
                    "fleet_cpu": self._fleet_cpu(),
                }
            )

        reporter = asyncio.create_task(report_booted())
        await asyncio.gather(*(one(c) for c in self.chargers))
        await reporter
        # MeterValues from every charger that is up, until the storm window ends.
        window_end = t0 + self.config.storm_window_s
        latencies, errors = await self._meter_window(self.up, window_end, "after storm")
        # Wait until the server has sent no CALL for quiet_s (or give up after max_settle_s).
        settled = True
        give_up = window_end + self.config.max_settle_s
        while True:
            last = self.stats.last_server_call
            quiet_since = max(last if last is not None else t0, window_end)
            now = time.monotonic()
            if now - quiet_since >= self.config.quiet_s:
                break
            if now >= give_up:
                settled = False
                break
            await asyncio.sleep(min(0.5, self.config.quiet_s))
        self.channel.send(
            {
                "event": "done",
                "latencies_ms": latencies,
                "meter_errors": errors,
                "window_s": self.config.storm_window_s,
                "fleet_cpu": self._fleet_cpu(),
                "last_server_call_s": None
                if self.stats.last_server_call is None
                else self.stats.last_server_call - t0,
                "settled": settled,
                **self._summary(),
            }
        )

    async def close(self) -> None:
        await self.channel.recv("close")
        connected = [c for c in self.chargers if c.ws is not None]
        await asyncio.gather(*(c.close() for c in connected), return_exceptions=True)
        self.channel.send({"event": "closed"})


async def _run_fleet(mode: str, config: FleetConfig, conn: Connection) -> None:
    channel = Channel(conn)
    fleet = Fleet(config, channel)
    if mode == "steady":
        await fleet.steady()
    else:
        await fleet.storm()
    await fleet.close()


def fleet_process(mode: str, config: FleetConfig, conn: Connection) -> None:
    """Entry point of a spawned fleet process (``mode``: "steady" or "storm")."""
    raise_nofile_limit(len(config.ids), f"fleet process {os.getpid()}")
    asyncio.run(_run_fleet(mode, config, conn))
