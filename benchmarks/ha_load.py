#!/usr/bin/env python3
"""HA load: CPU of a real Home Assistant per MeterValues frame, with 1, 10 and 50 chargers.

What it does (loopback only; nothing of the development setup is touched):

1. A temporary Home Assistant config dir made by ``restart_chaos.seed_config`` (the integration
   copied from ``--source``, recorder on, a server entry that auto-accepts new chargers and lets
   ``restart_chaos.ID_TAG`` charge), plus a tiny probe integration (``ha_load_probe``) that counts
   the state machine's ``state_changed`` and ``state_reported`` events with event filters (a
   counter increment per event, no job scheduled) and writes the counts to a file on SIGUSR1.
2. ``hass -c DIR`` (``restart_chaos.Processes``), and raw-frame chargers in this process
   (``load_fleet.SimCharger``, the fleet of ``server_load.py``, booting until accepted, then
   Preparing, StartTransaction, Charging), added in waves of 10 (the server keeps at most 20
   waiting for approval).
3. For each fleet size (``--chargers``, default 1, 10, 50; the fleet grows, chargers stay
   connected): a settle time, an **idle** window (every charger connected, nothing sent) and a
   **load** window in which every charger sends a MeterValues (energy, power, 3 currents,
   3 voltages, offered current; power and currents change every frame) every ``--interval``
   seconds, phases spread over the interval.

With ``--compare OLD_SOURCE`` a second Home Assistant runs the old integration (labelled
``before_*``, ``--source`` is ``after_*``) with its own fleet, and both are measured in the same
windows: a paired comparison under the same machine conditions (other processes on a shared VM
move the figures of runs made one after the other by 10 % and more).

Figures per fleet size:

* **CPU per frame**: the hass process's utime + stime (``/proc/<pid>/stat``, all its threads:
  event loop, recorder, executor) over the load window, minus the idle CPU rate times the window,
  divided by the MeterValues frames answered in the window. It includes the core's OCPP handling,
  the entity updates, the state machine and the recorder's writes of the changed states. The tick
  is 1/``SC_CLK_TCK`` s: the ``+-`` column is the worst-case error of the four readings.
* **state writes per frame**: ``state_changed`` (a new state object; recorded by the recorder) and
  ``state_reported`` (same state and attributes written again: only ``last_reported`` moves) events
  per frame, the idle rate subtracted. Counted by the probe (exact, at a cost of about a
  microsecond per event), not read from the log or the websocket API.

It prints a table and writes ``<out-dir>/ha_load<_label>.json`` and ``<out-dir>/ha_load.md`` (every
run found in the directory; the means of the runs labelled ``before*`` and ``after*`` are
compared). Exit code 0 when every fleet size answered frames and gave a CPU figure.

    git archive HEAD custom_components/ocpp_ems | tar -x -C /tmp/old
    .venv/bin/python benchmarks/ha_load.py --compare /tmp/old/custom_components/ocpp_ems --label 1
    .venv/bin/python benchmarks/ha_load.py --quick          # 1 and 2 chargers, short windows
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import shutil
import signal
import socket
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

BENCHMARKS = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCHMARKS))

import proc_stats  # noqa: E402
from load_fleet import SimCharger  # noqa: E402
from restart_chaos import DOMAIN, ID_TAG, REPO, Processes, free_port, seed_config  # noqa: E402

WAVE = 10  # chargers onboarded at once (the server keeps at most 20 waiting for approval)
PROBE = "ha_load_probe"
PROBE_FILE = "ha_load_probe.json"

PROBE_MANIFEST = {
    "domain": PROBE,
    "name": "HA load probe",
    "codeowners": [],
    "dependencies": [],
    "documentation": "https://example.invalid",
    "iot_class": "local_push",
    "requirements": [],
    "version": "1.0.0",
}

PROBE_CODE = '''\
"""Counts state writes (state_changed / state_reported events); SIGUSR1 writes them to a file."""

import json
import os
import signal

from homeassistant.const import EVENT_STATE_CHANGED, EVENT_STATE_REPORTED
from homeassistant.core import HomeAssistant, callback

DOMAIN = "ha_load_probe"


async def async_setup(hass: HomeAssistant, config: dict) -> bool:
    counts = {"seq": 0, "state_changed": 0, "state_reported": 0}

    @callback
    def _never(_event) -> None:  # pragma: no cover - the filters never let an event through
        return

    @callback
    def _changed(_data) -> bool:
        counts["state_changed"] += 1
        return False

    @callback
    def _reported(_data) -> bool:
        counts["state_reported"] += 1
        return False

    hass.bus.async_listen(EVENT_STATE_CHANGED, _never, event_filter=_changed)
    hass.bus.async_listen(EVENT_STATE_REPORTED, _never, event_filter=_reported)
    path = hass.config.path("{probe_file}")

    def _write(snapshot: dict) -> None:
        with open(path + ".tmp", "w") as file:
            json.dump(snapshot, file)
        os.replace(path + ".tmp", path)

    def _dump() -> None:
        counts["seq"] += 1
        hass.async_add_executor_job(_write, dict(counts))

    hass.loop.add_signal_handler(signal.SIGUSR1, _dump)
    _dump()  # the file exists: the benchmark may send signals now
    return True
'''.replace("{probe_file}", PROBE_FILE)


def log(message: str) -> None:
    stamp = datetime.now(UTC).strftime("%H:%M:%S")
    print(f"[ha_load {stamp}] {message}", flush=True)


# ------------------------------------------------------------------------------------------ setup
def add_probe(config: Path) -> None:
    """The probe integration, and its entry in configuration.yaml."""
    folder = config / "custom_components" / PROBE
    folder.mkdir(parents=True)
    (folder / "manifest.json").write_text(json.dumps(PROBE_MANIFEST, indent=2))
    (folder / "__init__.py").write_text(PROBE_CODE)
    with (config / "configuration.yaml").open("a") as file:
        file.write(f"\n{PROBE}:\n")


def machine() -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    try:
        from homeassistant.const import __version__ as ha_version
    except ImportError:  # pragma: no cover - the venv has Home Assistant
        ha_version = "?"
    return {
        "cpu": cpu,
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "home_assistant": ha_version,
        "kernel": platform.release(),
    }


def uptime_s() -> float | None:
    with contextlib.suppress(OSError, ValueError, IndexError):
        return float(Path("/proc/uptime").read_text().split()[0])
    return None


# -------------------------------------------------------------------------------------- measuring


class Probe:
    """Reads the probe integration's counters inside the running Home Assistant."""

    def __init__(self, config: Path, pid: int) -> None:
        self.path = config / PROBE_FILE
        self.pid = pid

    async def wait_loaded(self, procs: Processes, limit_s: float) -> None:
        """Until the probe wrote its first file: before, SIGUSR1 would terminate hass."""
        deadline = time.monotonic() + limit_s
        while not self.path.exists():
            if procs.hass is None or procs.hass.poll() is not None:
                raise RuntimeError("Home Assistant exited during its start")
            if time.monotonic() > deadline:
                raise RuntimeError(f"the probe integration did not load within {limit_s:.0f} s")
            await asyncio.sleep(0.2)

    def _written(self) -> dict[str, int] | None:
        with contextlib.suppress(OSError, ValueError):
            data: dict[str, int] = json.loads(self.path.read_text())
            return data
        return None

    async def read(self) -> dict[str, int]:
        """The counters as of now: a dump made after our signal (signals may coalesce)."""
        last = self._written()
        seen = -1 if last is None else last["seq"]
        os.kill(self.pid, signal.SIGUSR1)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            data = self._written()
            if data is not None and data["seq"] > seen:
                return data
            await asyncio.sleep(0.002)
        raise RuntimeError("the probe integration did not answer (is it loaded?)")


class Sample:
    """CPU and probe counters at one moment."""

    def __init__(self, cpu: float, counts: dict[str, int]) -> None:
        self.wall = time.monotonic()
        self.cpu = cpu
        self.changed = counts["state_changed"]
        self.reported = counts["state_reported"]


async def sample(pid: int, probe: Probe) -> Sample:
    counts = await probe.read()
    return Sample(proc_stats.cpu_seconds(pid), counts)


# --------------------------------------------------------------------------------------- chargers
class BenchCharger(SimCharger):
    """``load_fleet.SimCharger`` for a Home Assistant that must accept it first: boots again
    until accepted, and starts its transaction with the id tag the server entry allows."""

    id_tag = ID_TAG

    async def boot(self) -> None:
        # Pending until Home Assistant created its entry (auto-accept); then Accepted.
        while await self.boot_notification() != "Accepted":  # noqa: ASYNC110 - the server decides
            await asyncio.sleep(1.0)
        await self.start_session()


async def wait_for_port(port: int, procs: Processes, limit_s: float) -> None:
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        if procs.hass is None or procs.hass.poll() is not None:
            raise RuntimeError("Home Assistant exited during its start")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return
        await asyncio.sleep(0.5)
    raise RuntimeError(f"the OCPP server did not listen within {limit_s:.0f} s")


async def onboard(chargers: list[BenchCharger], limit_s: float) -> None:
    for start in range(0, len(chargers), WAVE):
        wave = chargers[start : start + WAVE]
        await asyncio.gather(*(c.connect() for c in wave))
        async with asyncio.timeout(limit_s):
            await asyncio.gather(*(c.boot() for c in wave))
        log(f"{start + len(wave)} new chargers accepted and charging")


async def load_window(
    chargers: list[BenchCharger], interval: float, duration: float
) -> tuple[list[float], int]:
    """Every charger sends a MeterValues every ``interval`` s (phases spread); only sends that start
    inside the window count. Returns the round-trip times (s) and the number of errors."""
    loop = asyncio.get_running_loop()
    end = loop.time() + duration
    latencies: list[float] = []
    errors = 0

    async def meter_loop(index: int, charger: BenchCharger) -> None:
        nonlocal errors
        next_at = loop.time() + interval * index / len(chargers)
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

    await asyncio.gather(*(meter_loop(i, c) for i, c in enumerate(chargers)))
    return latencies, errors


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else seconds * 1000


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))]


async def settle(probe: Probe, args: argparse.Namespace) -> None:
    """``--settle`` seconds, then until no state was written for ``--quiet`` seconds (Home
    Assistant's own start, the chargers' post-boot setup), at most ``--settle-max`` seconds."""
    await asyncio.sleep(args.settle)
    deadline = time.monotonic() + args.settle_max
    before = await probe.read()
    while time.monotonic() < deadline:
        await asyncio.sleep(args.quiet)
        now = await probe.read()
        if all(now[key] == before[key] for key in ("state_changed", "state_reported")):
            return
        before = now
    log(f"still writing states after {args.settle_max:g} s: measuring anyway")


class Instance:
    """One Home Assistant under test: its config dir, process, probe and chargers."""

    def __init__(self, label: str, source: Path, interval: float) -> None:
        self.label = label
        self.source = source
        self.work = Path(tempfile.mkdtemp(prefix="ocpp_ems_ha_load_"))
        self.config = self.work / "config"
        self.ocpp_port = free_port()
        seed_config(self.config, self.ocpp_port, free_port(), source)
        add_probe(self.config)
        self.procs = Processes(self.work, self.config, self.ocpp_port, interval)
        self.chargers: list[BenchCharger] = []
        self.probe: Probe | None = None
        log(f"{label or 'hass'}: work dir {self.work}, OCPP port {self.ocpp_port}, source {source}")

    @property
    def pid(self) -> int:
        assert self.procs.hass is not None
        return self.procs.hass.pid

    async def start(self, args: argparse.Namespace) -> None:
        self.procs.start_hass()
        await wait_for_port(self.ocpp_port, self.procs, args.start_timeout)
        self.probe = Probe(self.config, self.pid)
        await self.probe.wait_loaded(self.procs, args.start_timeout)

    async def grow(self, size: int, args: argparse.Namespace) -> None:
        url = f"ws://127.0.0.1:{self.ocpp_port}"
        new = [BenchCharger(url, f"LOAD-{i:03d}") for i in range(len(self.chargers), size)]
        await onboard(new, args.onboard_timeout)
        self.chargers.extend(new)

    async def sample(self) -> Sample:
        assert self.probe is not None
        return await sample(self.pid, self.probe)

    async def close_chargers(self) -> None:
        for charger in self.chargers:
            with contextlib.suppress(Exception):
                await charger.close()

    def tail(self) -> str:
        with contextlib.suppress(OSError):
            return (self.work / "hass.out").read_text(errors="replace")[-3000:]
        return ""

    def cleanup(self, keep: bool) -> None:
        self.procs.kill_all()
        if not keep:
            shutil.rmtree(self.work, ignore_errors=True)


async def measure_fleet(
    instances: list[Instance], args: argparse.Namespace
) -> list[dict[str, Any]]:
    """Settle, an idle window and a load window, the same windows for every instance."""
    n = len(instances[0].chargers)
    window = max(args.window, args.min_frames * args.interval / n)
    idle_window = max(args.idle, window / 2)
    await asyncio.gather(*(settle(i.probe, args) for i in instances if i.probe is not None))

    idle_start = await asyncio.gather(*(i.sample() for i in instances))
    await asyncio.sleep(idle_window)
    idle_end = await asyncio.gather(*(i.sample() for i in instances))
    start = await asyncio.gather(*(i.sample() for i in instances))
    loads = await asyncio.gather(
        *(load_window(i.chargers, args.interval, window) for i in instances)
    )
    end = await asyncio.gather(*(i.sample() for i in instances))
    return [
        figures(n, args, idle_start[k], idle_end[k], start[k], end[k], *loads[k])
        for k in range(len(instances))
    ]


def figures(
    n: int,
    args: argparse.Namespace,
    idle_start: Sample,
    idle_end: Sample,
    start: Sample,
    end: Sample,
    latencies: list[float],
    errors: int,
) -> dict[str, Any]:
    idle_wall = idle_end.wall - idle_start.wall
    idle_rate = (idle_end.cpu - idle_start.cpu) / idle_wall
    idle_changed = (idle_end.changed - idle_start.changed) / idle_wall
    idle_reported = (idle_end.reported - idle_start.reported) / idle_wall
    wall = end.wall - start.wall
    frames = len(latencies)
    load_cpu = end.cpu - start.cpu
    net_cpu = load_cpu - idle_rate * wall
    tick = 1 / proc_stats.CLK_TCK
    result: dict[str, Any] = {
        "chargers": n,
        "interval_s": args.interval,
        "frames": frames,
        "errors": errors,
        "frames_per_s": frames / wall,
        "window_s": round(wall, 2),
        "idle_window_s": round(idle_wall, 2),
        "idle_cpu_ms_per_s": idle_rate * 1000,
        "load_cpu_ms_per_s": load_cpu / wall * 1000,
        "cpu_us_per_frame": net_cpu / frames * 1e6 if frames else None,
        # Each of the 4 readings is up to one tick off; the idle rate's error scales with wall.
        "tick_error_us": (2 * tick + 2 * tick * wall / idle_wall) / frames * 1e6
        if frames
        else None,
        "state_changed_per_frame": None,
        "state_reported_per_frame": None,
        "p50_ms": _ms(percentile(latencies, 50)),
        "p99_ms": _ms(percentile(latencies, 99)),
    }
    if frames:
        changed = end.changed - start.changed - idle_changed * wall
        reported = end.reported - start.reported - idle_reported * wall
        result["state_changed_per_frame"] = changed / frames
        result["state_reported_per_frame"] = reported / frames
    return result


# ------------------------------------------------------------------------------------------- run
async def run_fleets(
    instances: list[Instance], args: argparse.Namespace
) -> list[list[dict[str, Any]]]:
    """Per instance, the figures of each fleet size."""
    results: list[list[dict[str, Any]]] = [[] for _ in instances]
    await asyncio.gather(*(i.start(args) for i in instances))
    try:
        for size in args.fleet:
            for instance in instances:
                await instance.grow(size, args)
            for k, result in enumerate(await measure_fleet(instances, args)):
                results[k].append(result)
                log(
                    f"{instances[k].label or 'hass'}, {size} chargers: {result['frames']} frames, "
                    f"{_fmt(result['cpu_us_per_frame'], 0)} us CPU per frame, "
                    f"{_fmt(result['state_changed_per_frame'], 1)} + "
                    f"{_fmt(result['state_reported_per_frame'], 1)} state writes per frame"
                )
    finally:
        for instance in instances:
            await instance.close_chargers()
    return results


def run(args: argparse.Namespace) -> list[dict[str, Any]]:
    """One result per Home Assistant under test (two with ``--compare``)."""
    suffix = f"_{args.label}" if args.label else ""
    if args.compare is None:
        plan = [(args.label, args.source)]
    else:
        plan = [(f"before{suffix}", args.compare), (f"after{suffix}", args.source)]
    load_before = os.getloadavg()
    started = time.monotonic()
    instances: list[Instance] = []
    try:
        instances.extend(Instance(label, source, args.interval) for label, source in plan)
        figures_by_instance = asyncio.run(run_fleets(instances, args))
        for instance in instances:
            instance.procs.stop_hass()
    except BaseException:
        for instance in instances:
            print(instance.tail(), file=sys.stderr)
        raise
    finally:
        for instance in instances:
            instance.cleanup(args.keep)
    results = []
    for instance, runs in zip(instances, figures_by_instance, strict=True):
        passed = bool(runs) and all(
            r["frames"] > 0 and r["cpu_us_per_frame"] is not None and r["cpu_us_per_frame"] > 0
            for r in runs
        )
        results.append(
            {
                "label": instance.label,
                "paired_with": [i.label for i in instances if i is not instance],
                "date": datetime.now(UTC).isoformat(timespec="seconds"),
                "machine": machine(),
                "load_average_before": [round(x, 2) for x in load_before],
                "load_average_after": [round(x, 2) for x in os.getloadavg()],
                "uptime_s": uptime_s(),
                "interval_s": args.interval,
                "quick": args.quick,
                "source": str(instance.source),
                "run_time_s": round(time.monotonic() - started, 1),
                "passed": passed,
                "runs": runs,
            }
        )
    return results


# ----------------------------------------------------------------------------------------- report
def _fmt(value: float | None, digits: int = 1) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def table(result: dict[str, Any]) -> str:
    machine_ = result["machine"]
    label = f" ({result['label']})" if result["label"] else ""
    if result.get("paired_with"):
        label += f", measured in the same windows as {', '.join(result['paired_with'])}"
    lines = [
        f"### {result['date']}{label}: {'PASS' if result['passed'] else 'FAIL'}",
        "",
        f"{machine_['cpus']} x {machine_['cpu']}, Python {machine_['python']}, Home Assistant "
        f"{machine_['home_assistant']}; load average before / after "
        f"{' '.join(map(str, result['load_average_before']))} / "
        f"{' '.join(map(str, result['load_average_after']))}, uptime "
        f"{_fmt((result['uptime_s'] or 0) / 3600, 1)} h; MeterValues every "
        f"{result['interval_s']:g} s per charger; run time {result['run_time_s']:.0f} s.",
        "",
        "| chargers | frames (per s) | idle CPU (ms/s) | load CPU (ms/s) | CPU per frame (us) "
        "| +- tick (us) | state_changed / state_reported per frame | round trip p50 / p99 (ms) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for run in result["runs"]:
        lines.append(
            f"| {run['chargers']} | {run['frames']} ({run['frames_per_s']:.1f}) "
            f"| {run['idle_cpu_ms_per_s']:.1f} | {run['load_cpu_ms_per_s']:.1f} "
            f"| {_fmt(run['cpu_us_per_frame'], 0)} | {_fmt(run['tick_error_us'], 0)} "
            f"| {_fmt(run['state_changed_per_frame'], 2)} / "
            f"{_fmt(run['state_reported_per_frame'], 2)} "
            f"| {_fmt(run['p50_ms'], 2)} / {_fmt(run['p99_ms'], 2)} |"
        )
    return "\n".join(lines)


def comparison(before: list[dict[str, Any]], after: list[dict[str, Any]]) -> str:
    """Mean CPU per frame of the runs labelled ``before*`` and ``after*`` (each run in brackets)."""

    def by_size(results: list[dict[str, Any]]) -> dict[int, list[dict[str, Any]]]:
        runs: dict[int, list[dict[str, Any]]] = {}
        for result in results:
            for run in result["runs"]:
                if run["cpu_us_per_frame"] is not None:
                    runs.setdefault(run["chargers"], []).append(run)
        return runs

    def cpu(runs: list[dict[str, Any]]) -> tuple[float, str]:
        values = [run["cpu_us_per_frame"] for run in runs]
        mean = sum(values) / len(values)
        each = f" ({', '.join(f'{v:.0f}' for v in values)})" if len(values) > 1 else ""
        return mean, f"{mean:.0f}{each}"

    def writes(runs: list[dict[str, Any]]) -> str:
        changed = sum(run["state_changed_per_frame"] for run in runs) / len(runs)
        reported = sum(run["state_reported_per_frame"] for run in runs) / len(runs)
        return f"{changed + reported:.1f} ({changed:.1f} new states)"

    lines = [
        "| chargers | CPU per frame before (us) | after (us) | change "
        "| state writes per frame before | after |",
        "|---|---|---|---|---|---|",
    ]
    old_runs, new_runs = by_size(before), by_size(after)
    for size in sorted(old_runs.keys() & new_runs.keys()):
        (old_mean, old_text), (new_mean, new_text) = cpu(old_runs[size]), cpu(new_runs[size])
        lines.append(
            f"| {size} | {old_text} | {new_text} | {new_mean / old_mean - 1:+.0%} "
            f"| {writes(old_runs[size])} | {writes(new_runs[size])} |"
        )
    return "\n".join(lines)


MD_HEAD = """# HA load results

Written by `benchmarks/ha_load.py` (one section per `ha_load*.json` here). A real `hass` process
(recorder on) with 1, 10 and 50 raw-frame chargers connected; each charger sends a MeterValues
(energy, power, 3 currents, 3 voltages, offered current; power and currents change every frame)
every interval. **CPU per frame** = the hass process's utime + stime (`/proc/<pid>/stat`, all
threads) in the load window, minus the idle CPU rate (same chargers connected, nothing sent) times
the window, divided by the frames answered: the core's OCPP handling, the entity updates, the state
machine and the recorder's writes included. **state writes per frame** = `state_changed` +
`state_reported` events per frame (idle rate subtracted), counted exactly by a probe integration;
`state_reported` is a write of an unchanged state (only `last_reported` moves). Runs labelled
`before_N` / `after_N` (`--compare`) ran in two Home Assistants at once, measured in the same
windows; each has its own fleet, so both share the 2 vCPUs and their absolute figures are higher
than those of a single Home Assistant.
"""


def write_results(result: dict[str, Any], out_dir: Path) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    suffix = f"_{result['label']}" if result["label"] else ""
    path = out_dir / f"ha_load{suffix}.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    write_markdown(out_dir)
    return path


def write_markdown(out_dir: Path) -> None:
    found = [json.loads(p.read_text()) for p in sorted(out_dir.glob("ha_load*.json"))]
    parts = [MD_HEAD.rstrip()]
    before = [r for r in found if r["label"].startswith("before")]
    after = [r for r in found if r["label"].startswith("after")]
    if before and after:
        parts.append(
            "## Before / after (entities write only what changed)\n\n"
            "Mean of the runs labelled `before*` / `after*` (each run in brackets).\n\n"
            + comparison(before, after)
        )
    parts.extend(table(result) for result in found)
    (out_dir / "ha_load.md").write_text("\n\n".join(parts) + "\n")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--chargers", default="1,10,50", help="fleet sizes, comma separated (the fleet grows)"
    )
    parser.add_argument("--interval", type=float, default=1.0, help="MeterValues period (s)")
    parser.add_argument("--window", type=float, default=60.0, help="load window (s), at least")
    parser.add_argument(
        "--min-frames", type=int, default=240, help="the load window lasts for at least so many"
    )
    parser.add_argument("--idle", type=float, default=30.0, help="idle window (s), at least")
    parser.add_argument("--settle", type=float, default=10.0, help="after onboarding (s)")
    parser.add_argument(
        "--quiet", type=float, default=3.0, help="then until no state was written for (s)"
    )
    parser.add_argument("--settle-max", type=float, default=60.0, help="but no longer than (s)")
    parser.add_argument("--start-timeout", type=float, default=180.0)
    parser.add_argument("--onboard-timeout", type=float, default=120.0)
    parser.add_argument("--quick", action="store_true", help="1 and 2 chargers, short windows")
    parser.add_argument("--out-dir", type=Path, default=REPO / "benchmarks" / "results")
    parser.add_argument("--label", default="", help="suffix of the result file (before, after)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary config dir")
    parser.add_argument(
        "--compare",
        type=Path,
        metavar="OLD_SOURCE",
        help="also run this integration (labelled before_*, --source after_*) in a second hass, "
        "measured in the same windows",
    )
    parser.add_argument(
        "--source",
        type=Path,
        default=REPO / "custom_components" / DOMAIN,
        help="the integration to measure (e.g. an older version extracted with git archive)",
    )
    args = parser.parse_args()
    if args.quick:
        args.chargers, args.interval, args.window, args.min_frames = "1,2", 0.25, 8.0, 0
        args.idle, args.settle, args.quiet, args.settle_max = 4.0, 2.0, 1.0, 10.0
    args.fleet = sorted({int(n) for n in args.chargers.split(",")})

    def _terminate(_signum: int, _frame: Any) -> None:
        raise SystemExit(1)  # runs the finally blocks: no child process survives

    signal.signal(signal.SIGTERM, _terminate)
    results = run(args)
    for result in results:
        print(table(result), flush=True)
        path = write_results(result, args.out_dir)
        log(f"wrote {path}")
    if len(results) == 2:
        print(comparison(results[:1], results[1:]), flush=True)
    log(f"wrote {args.out_dir / 'ha_load.md'}")
    return 0 if all(result["passed"] for result in results) else 1


if __name__ == "__main__":
    sys.exit(main())
