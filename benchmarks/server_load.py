"""Load benchmark of the core OCPP server: N chargers sending meter values (and booting at once),
in OCPP 1.6 and 2.0.1.

Two modes.

**Our server alone** (no ``--compare`` / ``--boot-storm``): the steady-load measurement below for
our server only, one round, at this benchmark's original defaults (100 chargers, 1 meter message /
5 s each, 30 s window), with each fleet version of ``--ocpp``.

**Comparison** (``--compare`` and/or ``--boot-storm``): our core server and a plain central system
written the way the ``ocpp`` package's README shows it (``benchmarks/plain_ocpp_server.py``, OCPP
1.6 only), in ONE run, with the chargers of every version in ``--ocpp`` (default ``1.6,2.0.1``):
*ours 1.6*, *plain 1.6* and *ours 2.0.1* (``benchmarks/load_fleet.py``: 1.6 chargers sending
MeterValues, 2.0.1 stations sending TransactionEvent Updated with the same ten samples, answering
the device-model report our server asks for after boot). Each server runs in its own spawned
process and measures its own CPU (``time.process_time``, all threads) and RSS
(``/proc/self/status`` VmRSS, after ``gc.collect``) when this coordinator asks over a pipe; the
fleet runs in one or more processes of its own (``--fleet-processes``). The variants take turns
in every round (ours 1.6, plain 1.6, ours 2.0.1, ours 1.6 ...; ``--rounds``, a fresh server and
fleet for every measurement) and the table shows medians with the min-max over rounds, side by
side, with the ratios ours/plain (1.6) and ours 2.0.1/1.6.

- steady load (``--compare``): N chargers are brought up in waves of 25 and settle (``--warmup``,
  then until the server has sent no CALL for ``--quiet`` seconds: its post-boot work is done); then
  every charger sends one meter message per ``--interval`` for ``--duration`` seconds. Server CPU
  per message = server process CPU in the window / meter messages in the window. Round trip
  p50/p99/max is measured by the fleet (send -> CALLRESULT). RSS per charger = RSS after all
  chargers are up minus RSS after the first few (which pay one-off costs), per charger.
- boot storm (``--boot-storm``): N chargers connect and send BootNotification at the same instant
  (no waves; a failed connection is retried after 1-2 s, up to 10 times). Reported: time until all
  are Accepted, connect and BootNotification round trips, handshake failures by kind, server CPU
  until the last boot is answered and until the post-boot work settled, then meter message round
  trips in the first ``--storm-window`` seconds and the time until the server's post-boot work
  settles (the last CALL the server sends, once it has sent none for ``--quiet`` seconds).

The fleet checks every CALL the server sends and every answer it gives against the JSON schemas of
its OCPP version; a violation counts as an error. ``--profile DIR`` writes a cProfile of the
server (CPU time) per run. Targets of issue 7 (OCPP 1.6) are printed as PASS / FAIL lines when the
run matches their preset (``n/a`` otherwise). Reproduce them with:

    .venv/bin/python benchmarks/server_load.py --compare --chargers 1000 --interval 10
    .venv/bin/python benchmarks/server_load.py --compare --chargers 2000 --interval 10
    .venv/bin/python benchmarks/server_load.py --compare --chargers 5000 --interval 10
    .venv/bin/python benchmarks/server_load.py --boot-storm --chargers 2000
    .venv/bin/python benchmarks/server_load.py --compare --boot-storm --quick   # ~1 min smoke run

Add ``--ocpp 1.6`` for the 1.6 figures alone (as before issue 9), ``--servers ours`` for our server
alone with both fleets.

Usage: .venv/bin/python benchmarks/server_load.py [--chargers 100] [--interval 5] [--duration 30]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import json
import logging
import math
import multiprocessing
import os
import platform
import resource
import statistics
import sys
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.metadata import version
from multiprocessing.connection import Connection
from multiprocessing.context import SpawnContext, SpawnProcess
from pathlib import Path
from typing import TYPE_CHECKING, Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# Only light imports at module level: every spawned process (servers, fleet) imports this module
# again, and the plain server's process must not carry Home Assistant or our integration.
from benchmarks import proc_stats  # noqa: E402
from benchmarks.load_fleet import (  # noqa: E402
    CALL_TIMEOUT_S,
    CONFIGURATION,
    OPEN_TIMEOUT_S,
    VERSIONS,
    Channel,
    FleetConfig,
    SimCharger,
    answer_server_call,
    fleet_process,
    percentile,
    raise_nofile_limit,
)

if TYPE_CHECKING:
    from custom_components.ocpp_ems.core.directory import Admission
    from custom_components.ocpp_ems.core.model import ChargerInfo
    from custom_components.ocpp_ems.core.settings import ChargerSettings

__all__ = [
    "CONFIGURATION",
    "AcceptAllDirectory",
    "SimCharger",
    "answer_server_call",
    "percentile",
    "rss_bytes",
]

# ----------------------------------------------------------------------------------- server side


@dataclass
class AcceptAllDirectory:
    """The host application's answers for a benchmark: every charger and id tag is welcome."""

    charger_settings: dict[str, ChargerSettings] = field(default_factory=dict)

    def admission(self, charger_id: str) -> Admission:
        from custom_components.ocpp_ems.core.directory import Admission

        return Admission.ACCEPTED

    async def answers_elsewhere(self, charger_id: str) -> bool:
        return False  # one server

    def password(self, charger_id: str) -> str | None:
        return None

    def settings(self, charger_id: str) -> ChargerSettings:
        settings = self.charger_settings.get(charger_id)
        if settings is None:
            from custom_components.ocpp_ems.core.settings import ChargerSettings

            settings = self.charger_settings[charger_id] = ChargerSettings()
        return settings

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
    """This process's resident set size (Linux /proc), else its peak from getrusage."""
    current = proc_stats.rss_bytes()
    if current is not None:
        return current
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


# ------------------------------------------------------------------- single-server mode (as before)
def priming_count(n: int) -> int:
    return max(1, min(10, n // 10))


# ------------------------------------------------------------------- comparison: server processes
SERVERS = ("ours", "plain")
SERVER_NAMES = {"ours": "ours (core CentralSystem)", "plain": "plain ocpp 2.1.0"}
# The OCPP versions each server speaks (the plain one is the ocpp README's 1.6 central system).
SERVER_VERSIONS = {"ours": tuple(VERSIONS), "plain": ("1.6",)}


@dataclass(frozen=True)
class Variant:
    """One server measured with one fleet: ours with 1.6 chargers, ours with 2.0.1 stations ..."""

    server: str
    ocpp: str

    @property
    def key(self) -> str:
        """Its key in the report ("ours", "plain" for 1.6, as before; "ours@2.0.1")."""
        return self.server if self.ocpp == "1.6" else f"{self.server}@{self.ocpp}"

    @property
    def label(self) -> str:
        return f"{self.server} {self.ocpp}"


# The ratios shown next to the figures: (numerator, denominator, column title).
RATIOS = (("ours", "plain", "ours/plain (1.6)"), ("ours@2.0.1", "ours", "ours 2.0.1/1.6"))


class WarningCounter(logging.Handler):
    """Counts a server's log records at WARNING and above and keeps a few distinct samples."""

    def __init__(self) -> None:
        super().__init__(level=logging.WARNING)
        self.count = 0
        self.samples: dict[str, int] = {}

    def emit(self, record: logging.LogRecord) -> None:
        self.count += 1
        key = f"{record.levelname} {record.name}: {record.getMessage()[:160]}"
        if key in self.samples or len(self.samples) < 10:
            self.samples[key] = self.samples.get(key, 0) + 1


class GcTimer:
    """The CPU time the cyclic garbage collector took (a ``gc.callbacks`` entry)."""

    def __init__(self) -> None:
        self.cpu_s = 0.0
        self._started = 0.0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.process_time()
        else:
            self.cpu_s += time.process_time() - self._started


@dataclass(frozen=True, kw_only=True)
class ServerOptions:
    chargers: int
    ping_interval_s: float | None
    ping_timeout_s: float | None


async def _serve(kind: str, options: ServerOptions, conn: Connection) -> None:
    counter = WarningCounter()
    logging.getLogger().addHandler(counter)
    logging.getLogger().setLevel(logging.WARNING)
    gc_timer = GcTimer()
    gc.callbacks.append(gc_timer)
    start: Callable[[], Awaitable[None]]
    stop: Callable[[], Awaitable[None]]
    if kind == "ours":
        from custom_components.ocpp_ems.core.server import CentralSystem
        from custom_components.ocpp_ems.core.settings import ServerSettings

        central = CentralSystem(ServerSettings(host="127.0.0.1", port=0), AcceptAllDirectory())
        start, stop = central.start, central.stop

        def connected() -> int:
            return sum(1 for c in central.chargers.values() if c.connected)

        def port() -> int:
            return central.port

    else:
        from benchmarks.plain_ocpp_server import PlainCentralSystem

        plain = PlainCentralSystem(
            "127.0.0.1",
            0,
            ping_interval_s=options.ping_interval_s,
            ping_timeout_s=options.ping_timeout_s,
        )
        start, stop = plain.start, plain.stop

        def connected() -> int:
            return len(plain.connections)

        def port() -> int:
            return plain.port

    await start()
    channel = Channel(conn)
    channel.send({"event": "listening", "port": port(), "pid": os.getpid()})
    profiler = cProfile.Profile(time.process_time)  # CPU time: other processes do not count
    while True:
        message = await channel.queue.get()
        if message.get("cmd") != "measure":
            break
        # CPU first (the end of a window), then memory after a full collection, then CPU again
        # (the start of a window): the collection itself is in no window.
        cpu_before_gc, wall = time.process_time(), time.monotonic()
        gc_end = gc_timer.cpu_s
        if message.get("profile_to"):  # --profile: the window ends here
            profiler.disable()
            profiler.dump_stats(message["profile_to"])
        if message.get("gc", True):
            gc.collect()
        if message.get("profile_start"):  # --profile: the window starts here
            profiler.enable()
        channel.send(
            {
                "event": "measured",
                "cpu_end": cpu_before_gc,
                "wall_end": wall,
                "rss": rss_bytes(),
                "cpu_start": time.process_time(),
                "wall_start": time.monotonic(),
                "connected": connected(),
                "threads": threading.active_count(),
                "gc_end": gc_end,
                "gc_start": gc_timer.cpu_s,
                "warnings": counter.count,
                "warning_samples": counter.samples,
            }
        )
    await stop()
    channel.send({"event": "stopped"})


def server_process(kind: str, options: ServerOptions, conn: Connection) -> None:
    """Entry point of a spawned server process: ``kind`` is "ours" or "plain"."""
    raise_nofile_limit(options.chargers, f"{kind} server process")
    asyncio.run(_serve(kind, options, conn))


class BenchmarkError(Exception):
    """A process of the benchmark failed or did not answer in time."""


class Child:
    """A spawned process and its pipe; ``recv`` waits with a timeout and notices a dead child."""

    def __init__(
        self, ctx: SpawnContext, name: str, target: Callable[..., None], args: tuple[Any, ...]
    ) -> None:
        self.name = name
        self.conn, child_conn = ctx.Pipe()
        self.process: SpawnProcess = ctx.Process(
            target=target, args=(*args, child_conn), name=name, daemon=True
        )
        self.process.start()
        child_conn.close()
        self.finished = False

    def send(self, message: dict[str, Any]) -> None:
        self.conn.send(message)

    def recv(self, event: str, timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while not self.conn.poll(0.2):
            if not self.process.is_alive():
                raise BenchmarkError(f"{self.name} exited (code {self.process.exitcode})")
            if time.monotonic() > deadline:
                raise BenchmarkError(f"{self.name}: no {event!r} within {timeout:.0f} s")
        message: dict[str, Any] = self.conn.recv()
        if message.get("event") != event:
            raise BenchmarkError(f"{self.name}: expected {event!r}, got {message!r:.200}")
        return message

    def finish(self, message: dict[str, Any], event: str, timeout: float) -> None:
        """Ask the child to end, wait for it; kill it if it does not."""
        if self.finished:
            return
        self.finished = True
        try:
            if self.process.is_alive():
                self.send(message)
                self.recv(event, timeout)
        except (BenchmarkError, OSError, EOFError) as err:
            print(f"  ({self.name} did not end cleanly: {err})", file=sys.stderr)
        self.process.join(10)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(5)
        self.conn.close()


class ServerChild(Child):
    def __init__(self, ctx: SpawnContext, kind: str, options: ServerOptions) -> None:
        super().__init__(ctx, f"{kind} server", server_process, (kind, options))
        listening = self.recv("listening", 120)
        self.url = f"ws://127.0.0.1:{listening['port']}/ocpp"

    def measure(
        self, *, gc: bool = True, profile_start: bool = False, profile_to: str | None = None
    ) -> dict[str, Any]:
        """CPU, memory and counts of the server now; with ``profile_start`` a cProfile of the
        server starts after the reading, ``profile_to`` ends it and writes it there."""
        self.send(
            {"cmd": "measure", "gc": gc, "profile_start": profile_start, "profile_to": profile_to}
        )
        return self.recv("measured", 120)

    def stop(self) -> None:
        self.finish({"cmd": "stop"}, "stopped", 60)


@dataclass
class Plan:
    """The parameters of a comparison run (after presets and --quick)."""

    chargers: int
    interval_s: float
    duration_s: float
    warmup_s: float
    rounds: int
    servers: tuple[str, ...]
    versions: tuple[str, ...]
    fleet_processes: int
    storm_window_s: float
    quiet_s: float
    max_settle_s: float
    profile_dir: Path | None = None

    def profile_path(self, scenario: str, variant: Variant) -> str | None:
        """Where the server's profile of this run goes (``--profile``), None without one."""
        if self.profile_dir is None:
            return None
        stamp = datetime.now(UTC).strftime("%H%M%S")
        name = f"{scenario}-{variant.server}-{variant.ocpp}-{stamp}.prof"
        return str(self.profile_dir / name)

    @property
    def variants(self) -> list[Variant]:
        """What one round measures, in this order: ours 1.6, plain 1.6, ours 2.0.1."""
        return [
            Variant(server, ocpp)
            for ocpp in self.versions
            for server in self.servers
            if ocpp in SERVER_VERSIONS[server]
        ]


def start_fleet(ctx: SpawnContext, plan: Plan, mode: str, url: str, ocpp: str) -> list[Child]:
    ids = [f"BENCH-{i:05d}" for i in range(plan.chargers)]
    processes = max(1, min(plan.fleet_processes, plan.chargers))
    fleets = []
    for k in range(processes):
        config = FleetConfig(
            url=url,
            ids=ids[k::processes],
            primed=priming_count(plan.chargers) if k == 0 and mode == "steady" else 0,
            interval_s=plan.interval_s,
            warmup_s=plan.warmup_s,
            duration_s=plan.duration_s,
            storm_window_s=plan.storm_window_s,
            quiet_s=plan.quiet_s,
            max_settle_s=plan.max_settle_s,
            ocpp=ocpp,
        )
        fleets.append(Child(ctx, f"fleet {k + 1}/{processes}", fleet_process, (mode, config)))
    return fleets


def _merge_counts(messages: list[dict[str, Any]], key: str) -> dict[str, int]:
    total: Counter[str] = Counter()
    for message in messages:
        total.update(message.get(key, {}))
    return dict(total)


def _samples(messages: list[dict[str, Any]]) -> list[str]:
    return [sample for m in messages for sample in m.get("error_samples", [])][:8]


def _ms_stats(values: list[float], prefix: str) -> dict[str, float]:
    return {
        f"{prefix}_p50_ms": percentile(values, 50),
        f"{prefix}_p99_ms": percentile(values, 99),
        f"{prefix}_max_ms": max(values, default=float("nan")),
    }


def _server_log(end: dict[str, Any]) -> dict[str, Any]:
    return {"server_warnings": end["warnings"], "server_warning_samples": end["warning_samples"]}


def run_steady(
    ctx: SpawnContext, plan: Plan, variant: Variant, options: ServerOptions
) -> dict[str, Any]:
    kind = variant.server
    server = ServerChild(ctx, kind, options)
    fleets: list[Child] = []
    bring_up_timeout = 120 + plan.chargers * 0.1 + plan.warmup_s + plan.max_settle_s
    try:
        fleets = start_fleet(ctx, plan, "steady", server.url, variant.ocpp)
        primed = [f.recv("primed", bring_up_timeout) for f in fleets]
        before = server.measure()
        for fleet in fleets:
            fleet.send({"cmd": "continue"})
        ready = [f.recv("ready", bring_up_timeout) for f in fleets]
        profile = plan.profile_path("steady", variant)
        after = server.measure(profile_start=profile is not None)
        for fleet in fleets:
            fleet.send({"cmd": "go"})
        done = [f.recv("done", plan.duration_s + 2 * 30 + 60) for f in fleets]
        end = server.measure(profile_to=profile)
        for fleet in fleets:
            fleet.finish({"cmd": "close"}, "closed", 120)
    finally:
        for fleet in fleets:
            fleet.finish({"cmd": "close"}, "closed", 5)
        server.stop()

    latencies = [x for d in done for x in d["latencies_ms"]]
    messages = len(latencies)
    up = sum(d["up"] for d in done)
    primed_up = sum(p["up"] for p in primed)
    cpu = end["cpu_end"] - after["cpu_start"]
    wall = end["wall_end"] - after["wall_start"]
    window = done[0]["window_s"]
    calls_after_boot = _merge_counts(done, "server_calls")
    follow_ups = _merge_counts(done, "follow_up_calls")
    return {
        "server": kind,
        "ocpp": variant.ocpp,
        "chargers": plan.chargers,
        "accepted": up,
        "connected_at_server": after["connected"],
        "not_accepted": _merge_counts(ready, "not_accepted"),
        "interval_s": plan.interval_s,
        "window_s": window,
        "messages": messages,
        "meter_errors": sum(d["meter_errors"] for d in done),
        "errors": sum(_merge_counts(done, "errors").values()),
        "error_kinds": _merge_counts(done, "errors"),
        "error_samples": _samples(done),
        "msg_per_s": messages / window,
        "offered_msg_per_s": plan.chargers / plan.interval_s,
        **_ms_stats(latencies, "meter"),
        "server_cpu_s": cpu,
        "server_cpu_util": cpu / wall if wall > 0 else float("nan"),
        "cpu_us_per_msg": cpu / messages * 1e6 if messages else float("nan"),
        "gc_us_per_msg": (end["gc_end"] - after["gc_start"]) / messages * 1e6
        if messages
        else float("nan"),
        "rss_per_charger_kib": (after["rss"] - before["rss"]) / max(up - primed_up, 1) / 1024,
        "rss_total_mib": after["rss"] / 2**20,
        "server_threads": after["threads"],
        "server_calls": calls_after_boot,
        "server_calls_per_charger": sum(calls_after_boot.values()) / max(up, 1),
        "follow_up_calls": follow_ups,
        "follow_up_calls_per_charger": sum(follow_ups.values()) / max(up, 1),
        "settled": all(r["settled"] for r in ready),
        "server_calls_in_window": sum(d["server_calls_in_window"] for d in done),
        "fleet_cpu": max(d["fleet_cpu"] for d in done),
        **_server_log(end),
    }


def tcp_counters() -> Counter[str]:
    """Linux TCP counters of the whole machine: listen-queue overflows and SYN retransmits."""
    counters: Counter[str] = Counter()
    try:
        lines = Path("/proc/net/netstat").read_text().splitlines()
    except OSError:
        return counters
    for names, values in zip(lines[::2], lines[1::2], strict=False):
        if names.startswith("TcpExt:"):
            table = dict(zip(names.split()[1:], values.split()[1:], strict=False))
            for key in ("ListenOverflows", "TCPSynRetrans"):
                counters[key] = int(table.get(key, 0))
    return counters


def run_storm(
    ctx: SpawnContext, plan: Plan, variant: Variant, options: ServerOptions
) -> dict[str, Any]:
    kind = variant.server
    server = ServerChild(ctx, kind, options)
    fleets: list[Child] = []
    try:
        fleets = start_fleet(ctx, plan, "storm", server.url, variant.ocpp)
        for fleet in fleets:
            fleet.recv("idle", 120)
        profile = plan.profile_path("storm", variant)
        before = server.measure(profile_start=profile is not None)
        tcp_before = tcp_counters()
        t0 = time.monotonic() + 0.3
        for fleet in fleets:
            fleet.send({"cmd": "storm", "t0": t0})
        # The fleet stops retrying after give_up_after_s; one attempt then lasts at most a
        # connect timeout plus a call timeout.
        limit = FleetConfig.give_up_after_s + OPEN_TIMEOUT_S + CALL_TIMEOUT_S + 60
        booted = [f.recv("booted", limit) for f in fleets]
        at_booted = server.measure(gc=False)
        tcp = tcp_counters()
        tcp.subtract(tcp_before)
        done = [
            f.recv("done", plan.storm_window_s + plan.max_settle_s + 2 * 30 + 60) for f in fleets
        ]
        end = server.measure(profile_to=profile)
        for fleet in fleets:
            fleet.finish({"cmd": "close"}, "closed", 120)
    finally:
        for fleet in fleets:
            fleet.finish({"cmd": "close"}, "closed", 5)
        server.stop()

    accepted_at = [x for b in booted for x in b["accepted_at_s"]]
    accepted = len(accepted_at)
    latencies = [x for d in done for x in d["latencies_ms"]]
    calls = _merge_counts(done, "server_calls")
    follow_ups = _merge_counts(done, "follow_up_calls")
    last_calls = [d["last_server_call_s"] for d in done if d["last_server_call_s"] is not None]
    cpu = at_booted["cpu_end"] - before["cpu_start"]
    return {
        "server": kind,
        "ocpp": variant.ocpp,
        "chargers": plan.chargers,
        "accepted": accepted,
        "not_accepted": _merge_counts(booted, "not_accepted"),
        "all_accepted_s": max(accepted_at) if accepted == plan.chargers else float("inf"),
        "accepted_p50_s": percentile(accepted_at, 50),
        **_ms_stats([x for b in booted for x in b["connect_ms"]], "connect"),
        **_ms_stats([x for b in booted for x in b["boot_ms"]], "boot"),
        "handshake_failures": _merge_counts(booted, "failures"),
        "handshake_failure_count": sum(_merge_counts(booted, "failures").values()),
        "listen_overflows": tcp["ListenOverflows"],
        "syn_retransmits": tcp["TCPSynRetrans"],
        "server_cpu_storm_s": cpu,
        "server_cpu_total_s": end["cpu_end"] - before["cpu_start"],
        "server_gc_total_s": end["gc_end"] - before["gc_start"],
        "fleet_cpu_storm": max(b["fleet_cpu"] for b in booted),
        "server_calls": calls,
        "server_calls_per_charger": sum(calls.values()) / max(accepted, 1),
        "follow_up_calls": follow_ups,
        "follow_up_calls_per_charger": sum(follow_ups.values()) / max(accepted, 1),
        "settle_s": max(last_calls, default=0.0),
        "settled": all(d["settled"] for d in done),
        "window_s": plan.storm_window_s,
        "interval_s": plan.interval_s,
        "messages": len(latencies),
        **_ms_stats(latencies, "meter"),
        "meter_errors": sum(d["meter_errors"] for d in done),
        "errors": sum(_merge_counts(done, "errors").values()),
        "error_kinds": _merge_counts(done, "errors"),
        "error_samples": _samples(done),
        "rss_after_storm_mib": end["rss"] / 2**20,
        "fleet_cpu": max(d["fleet_cpu"] for d in done),
        **_server_log(end),
    }


# ------------------------------------------------------------------------ comparison: the report
@dataclass(frozen=True)
class Metric:
    key: str
    label: str
    unit: str = ""
    digits: int = 1
    ratio: bool = False  # show ours/plain and 2.0.1/1.6
    total: bool = False  # sum over rounds instead of median


STEADY_METRICS = (
    Metric("accepted", "chargers Accepted", digits=0, total=False),
    Metric("messages", "meter message round trips (per round)", digits=0),
    Metric("errors", "errors, all rounds (schema, CALLERROR, timeout)", digits=0, total=True),
    Metric("cpu_us_per_msg", "server CPU per message", "us", 0, ratio=True),
    Metric("gc_us_per_msg", "  of which garbage collection", "us", 0, ratio=True),
    Metric("server_cpu_util", "server CPU utilisation in window", "%", 1),
    Metric("meter_p50_ms", "meter message round trip p50", "ms", 2, ratio=True),
    Metric("meter_p99_ms", "meter message round trip p99", "ms", 2, ratio=True),
    Metric("meter_max_ms", "meter message round trip max", "ms", 2),
    Metric("rss_per_charger_kib", "server RSS per charger", "KiB", 1, ratio=True),
    Metric("rss_total_mib", "server RSS with all chargers", "MiB", 1),
    Metric("server_calls_per_charger", "server CALLs per charger (after boot)", digits=1),
    Metric(
        "follow_up_calls_per_charger", "charger CALLs per charger asked for (reports)", digits=1
    ),
    Metric("server_calls_in_window", "server CALLs during the window", digits=0),
    Metric("server_warnings", "server log warnings, all rounds", digits=0, total=True),
    Metric("fleet_cpu", "fleet CPU in the window (busiest fleet process)", "%", 1),
)

STORM_METRICS = (
    Metric("accepted", "chargers Accepted", digits=0),
    Metric("all_accepted_s", "time until all Accepted", "s", 2, ratio=True),
    Metric("accepted_p50_s", "time until half Accepted", "s", 2),
    Metric("connect_p50_ms", "WebSocket connect p50", "ms", 1),
    Metric("connect_p99_ms", "WebSocket connect p99", "ms", 1),
    Metric("boot_p50_ms", "BootNotification round trip p50", "ms", 1),
    Metric("boot_p99_ms", "BootNotification round trip p99", "ms", 1, ratio=True),
    Metric("boot_max_ms", "BootNotification round trip max", "ms", 1),
    Metric(
        "handshake_failure_count", "handshake failures/resets, all rounds", digits=0, total=True
    ),
    Metric("listen_overflows", "listen queue overflows (machine-wide counter)", digits=0),
    Metric("syn_retransmits", "SYN retransmits (machine-wide counter)", digits=0),
    Metric("server_cpu_storm_s", "server CPU until the last boot answered", "s", 2, ratio=True),
    Metric("fleet_cpu_storm", "fleet CPU until the last boot answered", "%", 1),
    Metric(
        "server_cpu_total_s",
        "server CPU, storm start to settled (meter messages too)",
        "s",
        2,
        ratio=True,
    ),
    Metric("server_gc_total_s", "  of which garbage collection", "s", 2, ratio=True),
    Metric("server_calls_per_charger", "server CALLs per charger (post-boot work)", digits=1),
    Metric(
        "follow_up_calls_per_charger", "charger CALLs per charger asked for (reports)", digits=1
    ),
    Metric("settle_s", "post-boot work settled after", "s", 1, ratio=True),
    Metric("meter_p50_ms", "meter message p50 in the storm window", "ms", 2),
    Metric("meter_p99_ms", "meter message p99 in the storm window", "ms", 2, ratio=True),
    Metric("errors", "errors, all rounds (schema, CALLERROR, timeout)", digits=0, total=True),
    Metric("server_warnings", "server log warnings, all rounds", digits=0, total=True),
    Metric("fleet_cpu", "fleet CPU after the boots (busiest fleet process)", "%", 1),
)


def summarise(rounds: list[dict[str, Any]], metrics: tuple[Metric, ...]) -> dict[str, Any]:
    summary: dict[str, Any] = {}
    for metric in metrics:
        values = [float(r[metric.key]) for r in rounds]
        if metric.total:
            summary[metric.key] = {"total": sum(values)}
        else:
            finite = [v for v in values if not math.isnan(v)]
            summary[metric.key] = {
                "median": statistics.median(finite) if finite else float("nan"),
                "min": min(finite, default=float("nan")),
                "max": max(finite, default=float("nan")),
            }
    return summary


def _fmt(value: float, metric: Metric) -> str:
    if math.isnan(value):
        return "-"
    if math.isinf(value):
        return "never"
    if metric.unit == "%":
        return f"{value * 100:.{metric.digits}f}"
    return f"{value:.{metric.digits}f}"


def _cell(summary: dict[str, Any], metric: Metric, rounds: int) -> str:
    entry = summary[metric.key]
    if metric.total:
        return _fmt(entry["total"], metric)
    text = _fmt(entry["median"], metric)
    if rounds > 1 and entry["min"] != entry["max"]:
        text += f" [{_fmt(entry['min'], metric)}-{_fmt(entry['max'], metric)}]"
    return text


def ratio(results: dict[str, Any], key: str, over: tuple[str, str] = ("ours", "plain")) -> float:
    """The median of ``key`` of variant ``over[0]`` divided by that of ``over[1]``."""
    try:
        top = results[over[0]]["summary"][key]["median"]
        bottom = results[over[1]]["summary"][key]["median"]
    except KeyError:
        return float("nan")
    if not bottom or math.isnan(bottom) or math.isnan(top) or math.isinf(bottom):
        return float("nan")
    return float(top / bottom)


def comparison_table(
    title: str, results: dict[str, Any], metrics: tuple[Metric, ...], variants: list[Variant]
) -> str:
    present = [v for v in variants if v.key in results]
    ratios = [(top, bottom, name) for top, bottom, name in RATIOS if {top, bottom} <= set(results)]
    header = ["metric", *(v.label for v in present), *(name for _, _, name in ratios)]
    rows = [header]
    for metric in metrics:
        label = f"{metric.label} ({metric.unit})" if metric.unit else metric.label
        row = [label]
        for variant in present:
            run = results[variant.key]
            row.append(_cell(run["summary"], metric, len(run["rounds"])))
        for top, bottom, _ in ratios:
            value = ratio(results, metric.key, (top, bottom)) if metric.ratio else float("nan")
            row.append("" if math.isnan(value) else f"{value:.2f}x")
        rows.append(row)
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) for row in rows]
    rule = "-" * len(lines[0])
    return "\n".join([title, rule, lines[0], rule, *lines[1:], rule])


def findings(results: dict[str, Any], variants: list[Variant]) -> list[str]:
    """Errors, refused chargers and server warnings, by variant, for the reader to look at."""
    lines = []
    for variant in variants:
        if variant.key not in results:
            continue
        for index, run in enumerate(results[variant.key]["rounds"], start=1):
            where = f"{variant.label} round {index}"
            if run["not_accepted"]:
                lines.append(f"{where}: not Accepted: {run['not_accepted']}")
            if run["error_kinds"]:
                lines.append(f"{where}: errors {run['error_kinds']}")
                lines.extend(f"    {sample}" for sample in run["error_samples"])
            if run.get("handshake_failures"):
                lines.append(f"{where}: handshake failures {run['handshake_failures']}")
            if run.get("settled") is False:
                lines.append(f"{where}: the server was still sending CALLs when the wait ended")
            for sample, count in run["server_warning_samples"].items():
                lines.append(f"{where}: server log x{count}: {sample}")
    return lines


@dataclass(frozen=True, kw_only=True)
class Target:
    name: str
    scenario: str  # "steady" or "storm"
    chargers: tuple[int, ...] | None  # the preset sizes it is defined for (None: any >= 500)
    interval_s: float | None
    check: Callable[[dict[str, Any]], tuple[bool, str] | None]


def _ours(results: dict[str, Any], key: str) -> float:
    value: float = results["ours"]["summary"][key]["median"]
    return value


def _cpu_target(results: dict[str, Any]) -> tuple[bool, str] | None:
    if "plain" not in results:
        return None
    value = ratio(results, "cpu_us_per_msg")
    return value <= 0.5, f"ours/plain = {value:.2f}x"


def _p99_under(limit_ms: float) -> Callable[[dict[str, Any]], tuple[bool, str] | None]:
    def check(results: dict[str, Any]) -> tuple[bool, str]:
        value = _ours(results, "meter_p99_ms")
        return value < limit_ms, f"ours p99 = {value:.2f} ms"

    return check


def _storm_target(results: dict[str, Any]) -> tuple[bool, str]:
    value = _ours(results, "all_accepted_s")
    return value <= 10.0, f"ours: all Accepted after {value:.2f} s (median)"


def _rss_target(results: dict[str, Any]) -> tuple[bool, str]:
    value = _ours(results, "rss_per_charger_kib")
    return value <= 48.0, f"ours: {value:.1f} KiB per charger"


TARGETS = (
    Target(
        name="CPU per message ours <= 0.5x plain at 1,000 and 2,000 chargers",
        scenario="steady",
        chargers=(1000, 2000),
        interval_s=None,
        check=_cpu_target,
    ),
    Target(
        name="MeterValues p99 < 20 ms at 2,000 chargers, 1 msg / 10 s",
        scenario="steady",
        chargers=(2000,),
        interval_s=10.0,
        check=_p99_under(20.0),
    ),
    Target(
        name="MeterValues p99 < 50 ms at 5,000 chargers, 1 msg / 10 s",
        scenario="steady",
        chargers=(5000,),
        interval_s=10.0,
        check=_p99_under(50.0),
    ),
    Target(
        name="boot storm of 2,000 chargers all Accepted within 10 s",
        scenario="storm",
        chargers=(2000,),
        interval_s=None,
        check=_storm_target,
    ),
    Target(
        name="RSS per charger <= 48 KiB (any run of >= 500 chargers)",
        scenario="steady",
        chargers=None,
        interval_s=None,
        check=_rss_target,
    ),
)


def evaluate_targets(plan: Plan, report: dict[str, Any]) -> list[dict[str, Any]]:
    verdicts = []
    for target in TARGETS:
        results = report.get(target.scenario)
        verdict, detail = "n/a", ""
        if results is None or "ours" not in results:
            detail = f"no {target.scenario} run of our server"
        elif target.chargers is not None and plan.chargers not in target.chargers:
            detail = f"defined at {target.chargers} chargers; this run: {plan.chargers}"
        elif target.chargers is None and plan.chargers < 500:
            detail = f"this run: {plan.chargers} chargers"
        elif target.interval_s is not None and plan.interval_s != target.interval_s:
            detail = f"defined at --interval {target.interval_s:g}; this run: {plan.interval_s:g}"
        else:
            outcome = target.check(results)
            if outcome is None:
                detail = "needs the plain server in the run"
            else:
                verdict, detail = ("PASS" if outcome[0] else "FAIL"), outcome[1]
        verdicts.append({"target": target.name, "verdict": verdict, "detail": detail})
    return verdicts


def run_comparison(plan: Plan, scenarios: list[str]) -> dict[str, Any]:
    from custom_components.ocpp_ems.core.settings import ServerSettings

    defaults = ServerSettings()
    options = ServerOptions(
        chargers=plan.chargers,
        ping_interval_s=defaults.ping_interval_s,
        ping_timeout_s=defaults.ping_timeout_s,
    )
    ctx = multiprocessing.get_context("spawn")
    report: dict[str, Any] = {}
    runners = {"steady": run_steady, "storm": run_storm}
    for scenario in scenarios:
        runs: dict[str, list[dict[str, Any]]] = {v.key: [] for v in plan.variants}
        for index in range(plan.rounds):
            # In turn: ours 1.6, plain 1.6, ours 2.0.1, ours 1.6, plain 1.6 ...
            for variant in plan.variants:
                print(
                    f"  {scenario} round {index + 1}/{plan.rounds}: {variant.label} ...",
                    file=sys.stderr,
                    flush=True,
                )
                runs[variant.key].append(runners[scenario](ctx, plan, variant, options))
        metrics = STEADY_METRICS if scenario == "steady" else STORM_METRICS
        report[scenario] = {
            server: {"rounds": rounds, "summary": summarise(rounds, metrics)}
            for server, rounds in runs.items()
        }
    return report


def _plan(args: argparse.Namespace) -> Plan:
    quick = args.quick

    def pick(value: Any, normal: Any, quick_value: Any) -> Any:
        if value is not None:
            return value
        return quick_value if quick else normal

    servers = tuple(s.strip() for s in args.servers.split(",") if s.strip())
    unknown = set(servers) - set(SERVERS)
    if unknown or not servers:
        raise SystemExit(f"--servers: choose from {', '.join(SERVERS)} (got {args.servers!r})")
    versions = tuple(v.strip() for v in args.ocpp.split(",") if v.strip())
    if set(versions) - set(VERSIONS) or not versions:
        raise SystemExit(f"--ocpp: choose from {', '.join(VERSIONS)} (got {args.ocpp!r})")
    chargers = pick(args.chargers, 100, 20)
    return Plan(
        chargers=chargers,
        interval_s=pick(args.interval, 10.0, 1.0),
        duration_s=pick(args.duration, 30.0, 4.0),
        warmup_s=pick(args.warmup, 5.0, 2.5),
        rounds=pick(args.rounds, 3, 1),
        servers=tuple(s for s in SERVERS if s in servers),
        versions=tuple(v for v in VERSIONS if v in versions),
        fleet_processes=args.fleet_processes or 1,
        storm_window_s=pick(args.storm_window, 30.0, 4.0),
        quiet_s=pick(args.quiet, 5.0, 2.0),
        max_settle_s=pick(args.max_settle, 60.0, 20.0),
        profile_dir=args.profile,
    )


def _header(title: str) -> str:
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return (
        f"{title}  ({datetime.now(UTC):%Y-%m-%d %H:%M} UTC, Python {platform.python_version()}, "
        f"{os.cpu_count()} CPUs, {platform.machine()}, load average {load})"
    )


def compare_main(args: argparse.Namespace) -> None:
    plan = _plan(args)
    scenarios = [s for s, on in (("steady", args.compare), ("storm", args.boot_storm)) if on]
    variants = plan.variants
    if not variants:
        raise SystemExit("--servers / --ocpp: the plain server speaks OCPP 1.6 only")
    if plan.profile_dir is not None:
        plan.profile_dir.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    print(_header("OCPP server load: our core server vs a plain ocpp central system"))
    if plan.profile_dir is not None:
        print(f"PROFILED (cProfile of each server, {plan.profile_dir}): CPU figures inflated")
    print(
        f"ocpp {version('ocpp')}, websockets {version('websockets')}; each server in its own "
        f"process, fleet in {plan.fleet_processes} process(es); {plan.rounds} round(s), "
        f"{', '.join(v.label for v in variants)} in turn; medians [min-max over rounds]\n"
        f"ours = {SERVER_NAMES['ours']}, plain = {SERVER_NAMES['plain']} (1.6 only); 1.6 = "
        f"OCPP 1.6 chargers (meter message: MeterValues), 2.0.1 = OCPP 2.0.1 stations (meter "
        f"message: TransactionEvent Updated)",
        flush=True,
    )
    report: dict[str, Any] = {
        "plan": plan.__dict__ | {"servers": list(plan.servers), "versions": list(plan.versions)},
        "variants": {v.key: v.label for v in variants},
    }
    try:
        report |= run_comparison(plan, scenarios)
    except BenchmarkError as err:
        raise SystemExit(f"benchmark failed: {err}") from None
    print()
    if "steady" in report:
        title = (
            f"steady load: {plan.chargers} chargers, 1 meter message / {plan.interval_s:g} s each "
            f"({plan.chargers / plan.interval_s:.0f} msg/s offered), {plan.duration_s:g} s window "
            f"after {plan.warmup_s:g} s warm-up"
        )
        print(comparison_table(title, report["steady"], STEADY_METRICS, variants))
        print()
    if "storm" in report:
        title = (
            f"boot storm: {plan.chargers} chargers connect and boot at once, then 1 meter message / "
            f"{plan.interval_s:g} s for {plan.storm_window_s:g} s; settled = {plan.quiet_s:g} s "
            f"without a server CALL"
        )
        print(comparison_table(title, report["storm"], STORM_METRICS, variants))
        print()
    notes = [line for s in scenarios for line in findings(report[s], variants)]
    if notes:
        print("findings:")
        for line in notes:
            print(f"  {line}")
        print()
    report["targets"] = evaluate_targets(plan, report)
    print("targets (issue 7, OCPP 1.6):")
    for verdict in report["targets"]:
        print(f"  {verdict['verdict']:<4}  {verdict['target']}: {verdict['detail']}")
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"\n(run took {time.monotonic() - started:.0f} s; load average at the end {load})")
    if args.json:
        print(json.dumps(report, default=str))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--chargers", type=int, default=None, help="simulated chargers (default 100)"
    )
    parser.add_argument(
        "--interval",
        type=float,
        default=None,
        help="meter message period per charger, s (default 5; 10 with --compare/--boot-storm)",
    )
    parser.add_argument(
        "--duration", type=float, default=None, help="measurement window, s (default 30)"
    )
    parser.add_argument(
        "--warmup",
        type=float,
        default=None,
        help="settle time after boot, s (default 3; 5 with --compare)",
    )
    parser.add_argument("--json", action="store_true", help="print the raw figures as JSON too")
    group = parser.add_argument_group("comparison with a plain ocpp central system")
    group.add_argument(
        "--compare", action="store_true", help="steady load: ours vs plain, in one run"
    )
    group.add_argument(
        "--boot-storm", action="store_true", help="boot storm: ours vs plain, in one run"
    )
    group.add_argument("--rounds", type=int, default=None, help="rounds per server (default 3)")
    group.add_argument(
        "--servers", default=",".join(SERVERS), help="servers to run (default: ours,plain)"
    )
    group.add_argument(
        "--ocpp",
        default=",".join(VERSIONS),
        help="OCPP versions of the fleet, each against our server (default: 1.6,2.0.1); the "
        "plain server is measured with 1.6 only",
    )
    group.add_argument(
        "--fleet-processes",
        type=int,
        default=None,
        help="processes the fleet is split over (default 1: enough for 5,000 chargers)",
    )
    group.add_argument(
        "--storm-window",
        type=float,
        default=None,
        help="meter messages measured this long after the storm starts, s (default 30)",
    )
    group.add_argument(
        "--quiet",
        type=float,
        default=None,
        help="the server's post-boot work has settled after this long without a CALL, s (5)",
    )
    group.add_argument(
        "--max-settle",
        type=float,
        default=None,
        help="wait at most this long after the storm window for the server to settle, s (60)",
    )
    group.add_argument(
        "--profile",
        type=Path,
        default=None,
        metavar="DIR",
        help="write a cProfile of the server per run to DIR (steady: the window; storm: start to "
        "settled); its overhead makes the CPU figures of such a run not comparable",
    )
    group.add_argument(
        "--quick",
        action="store_true",
        help="smoke run: 20 chargers, 1 meter message/s, 4 s windows, 1 round",
    )
    args = parser.parse_args()
    if not (args.compare or args.boot_storm):
        # Without --compare / --boot-storm: our server alone, one round of steady load, at the
        # defaults this benchmark always had (100 chargers, 1 meter message / 5 s, 30 s window).
        args.compare = True
        args.servers = "ours"
        args.rounds = args.rounds or 1
        args.interval = args.interval or 5.0
        args.warmup = 3.0 if args.warmup is None else args.warmup
    compare_main(args)


if __name__ == "__main__":
    main()
