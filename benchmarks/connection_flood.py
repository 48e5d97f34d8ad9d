#!/usr/bin/env python3
"""Connection flood: a real Home Assistant while a client opens thousands of idle connections.

Idle = TCP connected to the OCPP port, nothing sent (no HTTP request): each holds a file descriptor
of Home Assistant's process until the websocket open timeout (10 s) ends it. Home Assistant runs
with the file limit it gives itself on a usual Linux (soft 1024 / hard 4096: it raises the soft
limit to 2,048), a simulated charger charges, and for ``--seconds`` the flood keeps
``--connections`` idle connections open from ``--addresses`` loopback source addresses (each
reopened as soon as the server closes it). Meanwhile, every 2 s, a new OCPP 1.6 charger (its own
address) connects and sends a BootNotification: the chargers a user has must still get in.

Measured: whether Home Assistant survives (it stops its event loop on EMFILE, "Too many open
files"), its open file descriptors (peak during the flood, and after), its RSS, the probe chargers'
boots answered, and whether the charging charger's meter values kept arriving.

Loopback only (127.0.x.y, all this machine). Writes ``<out-dir>/connection_flood.json`` (one entry
per label, replaced on a rerun) and ``connection_flood.md``.

    .venv/bin/python benchmarks/connection_flood.py                      # 2,400 from 1 address
    .venv/bin/python benchmarks/connection_flood.py --addresses 64 --label many-addresses
    .venv/bin/python benchmarks/connection_flood.py --source /tmp/old/custom_components/ocpp_ems \\
        --label before                                    # an older version (git archive)
    .venv/bin/python benchmarks/connection_flood.py --quick    # CI: 1,200 for 10 s, soft limit 1024
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import proc_stats
from benchmarks.restart_chaos import (
    REPO,
    Processes,
    add_source_argument,
    free_port,
    log,
    seed_config,
    wait_until,
)

REPORT_HEAD = """# Connection flood (benchmarks/connection_flood.py)

A real Home Assistant (file limit soft 1024 / hard 4096 at its start: it raises the soft limit to
2,048; `--quick`: 1024 / 1024) with the integration, a simulated OCPP 1.6 charger charging. For 30 s
(quick: 10 s) a client keeps that many TCP connections to the OCPP port open that send nothing,
from that many loopback addresses, each reopened as soon as the server closes it. Every 2 s a new
charger (an address of its own) connects and sends a BootNotification (answered within 10 s or
counted as not answered). File descriptors and RSS of Home Assistant's process are sampled every
0.5 s; "after" is 12 s after the flood (past the 10 s open timeout). "503 answers" counts the
connections the server answered HTTP 503 (over the cap, nothing to close for room). Label
`before`: the integration of the commit before the cap (`--source`, from `git archive`). Each
row is one run; the commit column is the checkout that ran it (+: with uncommitted changes
outside benchmarks/results).

`new-ids` (`--new-ids`): no idle connections; each of the clients connects under a new charger
id, sends a BootNotification and leaves, again and again (the probes are new ids as well). The
JSON has the boots the server answered, the attempts, and Home Assistant's CPU seconds over the
flood and the 12 s after it (`hass_cpu_s`). `--stay`: each client stays connected after its boot
(as a charger waiting for approval does), so the flood holds the list of pending ids. Labels
ending in `-before` there: the integration before one address could no longer fill that list
(ed07361, `--source`).

"""
PROBE_EVERY_S = 2.0
PROBE_TIMEOUT_S = 10.0
SAMPLE_EVERY_S = 0.5


def rss_mib(pid: int) -> float | None:
    rss = proc_stats.rss_bytes(pid)
    return None if rss is None else rss / 2**20


def loopback_address(index: int, first: int) -> str:
    """A loopback source address of its own per index (127.<first>.x.y)."""
    return f"127.{first}.{index // 250}.{index % 250 + 1}"


class Flood:
    """The idle connections, the probe chargers and the samples of Home Assistant's process."""

    def __init__(self, port: int, pid: int, args: argparse.Namespace) -> None:
        self.port = port
        self.pid = pid
        self.args = args
        self.opened = 0
        self.answered_503 = 0
        self.closed_by_server = 0
        self.connect_errors = 0
        self.new_ids_answered = 0
        self.flood_ids = itertools.count(1)
        self.probes: list[float | None] = []  # boot answer time (s), None: no answer
        self.fds: list[int] = []
        self.rss: list[float] = []
        self.alive = True

    async def idle(self, source: str, end: float) -> None:
        while time.monotonic() < end:
            try:
                reader, writer = await asyncio.open_connection(
                    "127.0.0.1", self.port, local_addr=(source, 0)
                )
            except OSError:
                self.connect_errors += 1
                await asyncio.sleep(0.05)
                continue
            self.opened += 1
            try:
                data = await asyncio.wait_for(reader.read(), max(0.0, end - time.monotonic()))
                self.closed_by_server += 1
                if data.startswith(b"HTTP/1.1 503"):
                    self.answered_503 += 1
            except (TimeoutError, OSError):
                pass
            finally:
                writer.close()

    async def new_ids(self, source: str, end: float) -> None:
        """A client that connects under a new charger id each time and boots, then leaves (with
        ``--stay``: stays connected until the flood ends)."""
        while time.monotonic() < end:
            stay_until = end if self.args.stay else None
            charger_id = f"FLOOD-{next(self.flood_ids)}"  # new across all clients
            if await self.boot(charger_id, source, stay_until) is not None:
                self.new_ids_answered += 1
            else:
                self.connect_errors += 1
            self.opened += 1

    async def probe(self, number: int) -> None:
        self.probes.append(await self.boot(f"PROBE-{number}", loopback_address(number, 200)))

    async def boot(
        self, charger_id: str, source: str, stay_until: float | None = None
    ) -> float | None:
        """Connect as ``charger_id`` from ``source`` and send a BootNotification: the seconds
        until it was answered (None: not within PROBE_TIMEOUT_S, or refused). With
        ``stay_until`` (monotonic), stay connected until then, as a pending charger does."""
        from websockets.asyncio.client import connect

        started = time.monotonic()
        boot = [
            2,
            "boot",
            "BootNotification",
            {"chargePointVendor": "Probe", "chargePointModel": "P"},
        ]
        try:
            async with asyncio.timeout(PROBE_TIMEOUT_S):
                ws = await connect(
                    f"ws://127.0.0.1:{self.port}/{charger_id}",
                    subprotocols=["ocpp1.6"],  # type: ignore[list-item]
                    local_addr=(source, 0),
                    open_timeout=PROBE_TIMEOUT_S,
                )
                try:
                    await ws.send(json.dumps(boot))
                    while True:
                        answer = json.loads(await ws.recv())
                        if answer[0] == 3 and answer[1] == boot[1]:
                            break
                except BaseException:
                    await ws.close()
                    raise
            answered = time.monotonic() - started
            if stay_until is not None:  # until the flood ends, or the server closes it
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(max(0.0, stay_until - time.monotonic())):
                        await ws.wait_closed()
            await ws.close()
            return answered
        except Exception:  # any failure is "no answer"
            return None

    async def sample(self, end: float) -> None:
        while time.monotonic() < end:
            fds, rss = proc_stats.open_fds(self.pid), rss_mib(self.pid)
            if fds is None or rss is None:
                self.alive = False
                return
            self.fds.append(fds)
            self.rss.append(rss)
            await asyncio.sleep(SAMPLE_EVERY_S)

    async def run(self) -> None:
        end = time.monotonic() + self.args.seconds
        per_address = -(-self.args.connections // self.args.addresses)
        client = self.new_ids if self.args.new_ids else self.idle
        idle = [
            client(loopback_address(i % self.args.addresses, 100), end)
            for i in range(self.args.addresses * per_address)
        ][: self.args.connections]
        probes = []

        async def prober() -> None:
            number = 0
            while time.monotonic() < end - PROBE_EVERY_S:
                await asyncio.sleep(PROBE_EVERY_S)
                number += 1
                probes.append(asyncio.create_task(self.probe(number)))

        await asyncio.gather(*idle, prober(), self.sample(end))
        await asyncio.gather(*probes)


def run(args: argparse.Namespace) -> dict[str, Any]:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < args.connections + 512:  # the flood's own sockets
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, args.connections + 4096), hard))
    work = Path(tempfile.mkdtemp(prefix="ocpp_ems_flood_"))
    config = work / "config"
    ocpp_port = free_port()
    seed_config(config, ocpp_port, free_port(), args.source)
    procs = Processes(work, config, ocpp_port, 1.0)
    procs.reconnect_delay = 1.0
    procs.file_limit = (args.soft_limit, args.hard_limit)
    result: dict[str, Any] = {"label": args.label, "source": str(args.source)}
    try:
        procs.start_hass()
        procs.start_sim()
        wait_until(procs.sim_charging, args.setup_timeout, "the charger starts charging", procs)
        assert procs.hass is not None
        pid = procs.hass.pid
        limit = Path(f"/proc/{pid}/limits").read_text()
        soft_now = next(
            int(line.split()[3]) for line in limit.splitlines() if line.startswith("Max open files")
        )
        time.sleep(3)
        fds_before, rss_before = proc_stats.open_fds(pid), rss_mib(pid)
        energy_before = procs.sim_data().get("last_sent_wh") or 0
        cpu_before = proc_stats.cpu_seconds(pid)
        log(f"charging; Home Assistant: {fds_before} fds of {soft_now}, {rss_before:.0f} MiB")
        flood = Flood(ocpp_port, pid, args)
        asyncio.run(flood.run())
        energy_during = (procs.sim_data().get("last_sent_wh") or 0) - energy_before
        time.sleep(12)  # past the open timeout: what the flood left behind
        alive_after = procs.hass.poll() is None
        fds_after = proc_stats.open_fds(pid) if alive_after else None
        answered = [t for t in flood.probes if t is not None]
        result.update(
            {
                "at": datetime.now(UTC).isoformat(timespec="seconds"),
                "connections": args.connections,
                "addresses": args.addresses,
                "seconds": args.seconds,
                "hass_file_limit": soft_now,
                "survived": flood.alive and alive_after,
                "fds_before": fds_before,
                "fds_peak": max(flood.fds, default=None),
                "fds_after": fds_after,
                "rss_before_mib": rss_before,
                "rss_peak_mib": max(flood.rss, default=None),
                "opened": flood.opened,
                "new_ids": args.new_ids,
                "stay": args.stay,
                "new_id_boots_answered": flood.new_ids_answered,
                "hass_cpu_s": proc_stats.cpu_seconds(pid) - cpu_before if alive_after else None,
                "answered_503": flood.answered_503,
                "closed_by_server": flood.closed_by_server,
                "connect_errors": flood.connect_errors,
                "probes": len(flood.probes),
                "probes_answered": len(answered),
                "probe_boot_s_max": max(answered, default=None),
                "charger_wh_during_flood": energy_during,
            }
        )
    finally:
        procs.kill_all()
        if (work / "config" / "home-assistant.log").is_file():
            errors = [
                line
                for line in (work / "config" / "home-assistant.log").read_text().splitlines()
                if "Too many open files" in line or "Fatal error" in line
            ]
            result["fatal_log_lines"] = len(errors)
        if args.keep_work:
            log(f"kept {work} (Home Assistant's configuration and log)")
        else:
            shutil.rmtree(work, ignore_errors=True)
    return result


def git(*args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(REPO), *args], capture_output=True, text=True, check=False
    ).stdout.strip()


def table(results: list[dict[str, Any]]) -> str:
    head = (
        "| label | connections / addresses | HA file limit | HA survived | fds before / peak / after"
        " | RSS before / peak (MiB) | 503 answers | probe boots answered (slowest s) |"
        " charger Wh during flood | commit |\n|---|---|---|---|---|---|---|---|---|---|\n"
    )
    rows = []
    for r in results:
        peak = r.get("rss_peak_mib")
        slowest = r.get("probe_boot_s_max")
        rows.append(
            f"| {r['label']} | {r['connections']} / {r['addresses']} | {r['hass_file_limit']} | "
            f"{'yes' if r['survived'] else 'NO'} | {r['fds_before']} / {r['fds_peak']} / "
            f"{r['fds_after'] if r['fds_after'] is not None else '-'} | "
            f"{r['rss_before_mib']:.0f} / {peak:.0f} | {r['answered_503']} | "
            f"{r['probes_answered']}/{r['probes']}"
            f"{f' ({slowest:.2f})' if slowest is not None else ''} | "
            f"{r['charger_wh_during_flood']:.0f} | {r.get('commit', '')} |"
            if peak is not None
            else f"| {r['label']} | {r['connections']} / {r['addresses']} | "
            f"{r['hass_file_limit']} | NO | - | - | - | - | - | {r.get('commit', '')} |"
        )
    return head + "\n".join(rows) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--connections", type=int, default=2400)
    parser.add_argument("--addresses", type=int, default=1)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument(
        "--stay",
        action="store_true",
        help="with --new-ids: each client stays connected after its boot, as a pending charger",
    )
    parser.add_argument(
        "--new-ids",
        action="store_true",
        help="each client connects under a new charger id, boots and leaves, again and again",
    )
    parser.add_argument("--soft-limit", type=int, default=1024, help="Home Assistant's, at start")
    parser.add_argument("--hard-limit", type=int, default=4096)
    parser.add_argument("--setup-timeout", type=float, default=180.0)
    parser.add_argument("--quick", action="store_true", help="CI: 1,200 for 10 s, limit 1024")
    add_source_argument(parser)
    parser.add_argument("--label", default="one-address")
    parser.add_argument("--keep-work", action="store_true", help="keep HA's config and log")
    parser.add_argument("--out-dir", type=Path, default=REPO / "benchmarks" / "results")
    args = parser.parse_args()
    if args.quick:
        args.connections, args.seconds = 1200, 10.0
        args.soft_limit = args.hard_limit = 1024  # Home Assistant cannot raise it
        if args.label == parser.get_default("label"):
            args.label = "quick"
    result = run(args)
    result["commit"] = git("rev-parse", "--short", "HEAD") + (
        "+" if git("status", "--porcelain", "--", ".", ":!benchmarks/results") else ""
    )
    args.out_dir.mkdir(parents=True, exist_ok=True)
    path = args.out_dir / "connection_flood.json"
    results = json.loads(path.read_text()) if path.is_file() else []
    results = [r for r in results if r["label"] != args.label] + [result]
    path.write_text(json.dumps(results, indent=2) + "\n")
    (args.out_dir / "connection_flood.md").write_text(REPORT_HEAD + table(results))
    print(table([result]), flush=True)
    return (
        0 if result.get("survived") and result.get("probes_answered") == result.get("probes") else 1
    )


if __name__ == "__main__":
    sys.exit(main())
