#!/usr/bin/env python3
"""Restart chaos: kill -9 a real Home Assistant again and again while a charger charges.

What it does (loopback only; nothing of the development setup is touched):

1. A temporary Home Assistant config dir: a copy of ``custom_components/ocpp_ems``, a minimal
   ``configuration.yaml`` (recorder, no http) and a pre-seeded OCPP server entry on a free port that
   auto-accepts new chargers and lets the simulator's id tag charge.
2. ``hass -c DIR`` and ``scripts/simulate_charger.py`` (a simulated wallbox speaking ``--ocpp``
   1.6, 2.0.1 or 2.1 that keeps its own energy register in a state file, the truth, and keeps
   reconnecting) with ``--meter-interval``.
   Once the charger is accepted and charging, Home Assistant is stopped cleanly once (so the
   registries are on disk) and started again.
3. ``--kills`` times: Home Assistant runs for a random time in [``--min-up``, ``--max-up``]
   seconds (seeded RNG), then gets SIGKILL and is started again at once. The charger keeps
   charging while Home Assistant is down.
4. At the end Home Assistant runs until the charger reported again, the simulator stops cleanly
   (its last register is one Home Assistant acknowledged), then Home Assistant stops cleanly.

Then it compares, reading the recorder database (``home-assistant_v2.db``):

* final state of lifetime energy and session energy vs the charger's register (the truth):
  negative = lost, positive = double counted;
* every energy sensor's state history (``states``): a numeric state lower than the numeric state
  before it is a dip (``unavailable`` in between does not matter; a drop to 0 when a new session
  starts is allowed for session energy);
* long-term statistics: (a) HA's ``total_increasing`` sum rule (a drop of more than 10 % is a meter
  reset, which adds the new value again) applied to the recorded states, vs the true increase over
  the same span; (b) the compiled short-term statistics (``statistics_short_term``, every 5
  minutes, where Home Assistant ran at a period end or compiled it at the next start): the sum of
  the last period vs the sensor's increase since the first compiled period started.

It prints a table and writes ``<out-dir>/restart_chaos_<interval>s.json`` and
``<out-dir>/restart_chaos.md`` (every run found in the directory). Exit code 0 when the targets are
met: 0 Wh lost or double counted, no dips, statistics within 1 Wh.

    .venv/bin/python benchmarks/restart_chaos.py --kills 20 --meter-interval 1
    .venv/bin/python benchmarks/restart_chaos.py --kills 20 --ocpp 2.0.1
    .venv/bin/python benchmarks/restart_chaos.py --quick          # 3 kills, for CI
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import os
import random
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import MappingProxyType
from typing import Any

REPO = Path(__file__).resolve().parent.parent
DOMAIN = "ocpp_ems"
CHARGER_ID = "CHAOS-1"
ID_TAG = "SIM-TAG-1"
TOLERANCE_WH = 1.0
# Energy sensors: entity id suffix -> kind ("lifetime" never drops, "session" may drop to 0 at a new
# session). The energy-by-source sensors exist only with the energy manager on (not enabled here).
SENSOR_SUFFIXES = {
    "_lifetime_energy": "lifetime",
    "_session_energy": "session",
    "_session_energy_solar": "session",
    "_session_energy_battery": "session",
    "_session_energy_grid": "session",
}

CONFIGURATION_YAML = """\
homeassistant:
  name: Restart chaos
  latitude: 0
  longitude: 0
  elevation: 0
  unit_system: metric
  time_zone: UTC
  currency: EUR
  country: PT

recorder:

# Home Assistant always loads the frontend (recovery mode without it); the web UI is not needed
# here, so an empty development build stands in for the frontend package.
frontend:
  development_repo: {frontend}

logger:
  default: warning
  logs:
    custom_components.ocpp_ems: info
"""
# A sunny site for the energy manager (``seed_config(site=True)``): 11 kW of PV, a 500 W house,
# and a grid meter that sees what the chargers draw (their power sensors: entity ids ending in
# _power), so the energy manager's Solar mode charges from the surplus.
SITE_YAML = """
template:
  - sensor:
      - name: Site PV power
        unique_id: site_pv_power
        unit_of_measurement: W
        device_class: power
        state: "11000"
      - name: Site grid power
        unique_id: site_grid_power
        unit_of_measurement: W
        device_class: power
        state: >
          {% set ns = namespace(w=0) %}
          {% for e in integration_entities('ocpp_ems') if e is search('^sensor[.].*_power$') %}
            {% set ns.w = ns.w + states(e) | float(0) %}
          {% endfor %}
          {{ (500 + ns.w - 11000) | round(0) }}
"""
# The energy manager's options on that site.
SITE_OPTIONS = {
    "ems_enabled": True,
    "grid_power_entity": "sensor.site_grid_power",
    "pv_power_entity": "sensor.site_pv_power",
}


def log(message: str) -> None:
    stamp = datetime.now(UTC).strftime("%H:%M:%S")
    print(f"[chaos {stamp}] {message}", flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


# ------------------------------------------------------------------------------------------ setup
def seed_config(
    config: Path, ocpp_port: int, hass_port: int, source: Path, *, site: bool = False
) -> str:
    """The config dir with the integration and a server entry; returns the server entry id.
    ``site``: with the sunny site of ``SITE_YAML`` and the energy manager on it."""
    from homeassistant.components.http.config import HTTP_STORAGE_SCHEMA
    from homeassistant.config_entries import (
        STORAGE_KEY,
        STORAGE_VERSION,
        STORAGE_VERSION_MINOR,
        ConfigEntry,
    )

    (config / "custom_components").mkdir(parents=True)
    # A copy, not a symlink: edits in the working tree during a run do not reach the running hass.
    shutil.copytree(
        source,
        config / "custom_components" / DOMAIN,
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    frontend = config.parent / "frontend"
    for folder in ("static", "frontend_latest", "frontend_es5"):
        (frontend / "hass_frontend" / folder).mkdir(parents=True)
    yaml = CONFIGURATION_YAML.format(frontend=frontend) + (SITE_YAML if site else "")
    (config / "configuration.yaml").write_text(yaml)
    entry = ConfigEntry(
        data={"entry_type": "server", "host": "127.0.0.1", "port": ocpp_port},
        discovery_keys=MappingProxyType({}),
        domain=DOMAIN,
        minor_version=1,
        options={"auto_accept": True, "id_tags": [ID_TAG], **(SITE_OPTIONS if site else {})},
        source="user",
        subentries_data=None,
        title=f"OCPP server port {ocpp_port}",
        unique_id=f"port_{ocpp_port}",
        version=1,
    )
    storage = config / ".storage"
    storage.mkdir()
    document = {
        "version": STORAGE_VERSION,
        "minor_version": STORAGE_VERSION_MINOR,
        "key": STORAGE_KEY,
        "data": {"entries": [entry.as_dict()]},
    }
    (storage / STORAGE_KEY).write_text(json.dumps(document, default=str, indent=2))
    # HTTP on 127.0.0.1 and a free port, confirmed (see scripts/dev_bootstrap.py).
    http = {
        "version": 2,
        "minor_version": 2,
        "key": "http",
        "data": {
            "stable": {
                **HTTP_STORAGE_SCHEMA({"server_host": ["127.0.0.1"], "server_port": hass_port}),
                "created_at": datetime.now(UTC).isoformat(),
                "error": None,
                "error_message": None,
            },
            "pending": None,
            "yaml_migration_done": True,
        },
    }
    (storage / "http").write_text(json.dumps(http, indent=2))
    return entry.entry_id


_WITH_FILE_LIMIT = (
    "import os, resource, sys; "
    "resource.setrlimit(resource.RLIMIT_NOFILE, (int(sys.argv[1]), int(sys.argv[2]))); "
    "os.execv(sys.argv[3], sys.argv[3:])"
)


class Processes:
    """Home Assistant and the simulator as child processes (each in its own process group)."""

    def __init__(
        self, work: Path, config: Path, ocpp_port: int, meter_interval: float, ocpp: str = "1.6"
    ) -> None:
        self.work = work
        self.ocpp = ocpp
        self.config = config
        self.ocpp_port = ocpp_port
        self.meter_interval = meter_interval
        self.hass: subprocess.Popen[bytes] | None = None
        self.sim: subprocess.Popen[bytes] | None = None
        self.sim_state = work / "sim_charger.json"
        self.hass_starts = 0
        self.reconnect_delay = 5.0
        # Home Assistant's RLIMIT_NOFILE (soft, hard); None: inherited.
        self.file_limit: tuple[int, int] | None = None

    def _spawn(self, args: list[str], log_name: str, cwd: Path = REPO) -> subprocess.Popen[bytes]:
        out = (self.work / log_name).open("ab")
        try:
            return subprocess.Popen(
                args, stdout=out, stderr=subprocess.STDOUT, start_new_session=True, cwd=cwd
            )
        finally:
            out.close()

    def start_hass(self) -> None:
        self.hass_starts += 1
        # Not from the repository: ``python -m`` puts the working directory first on sys.path, and
        # its custom_components would shadow the copy under test in the config dir.
        hass = [sys.executable, "-m", "homeassistant", "-c", str(self.config), "--skip-pip"]
        if self.file_limit is not None:  # set by a Python that then becomes Home Assistant
            hass = [sys.executable, "-c", _WITH_FILE_LIMIT, *map(str, self.file_limit), *hass]
        self.hass = self._spawn(hass, "hass.out", cwd=self.work)

    def kill_hass(self) -> None:
        """kill -9 (the whole process group: nothing of it survives)."""
        if self.hass is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.hass.pid, signal.SIGKILL)
            self.hass.wait()
            self.hass = None

    def stop_hass(self, timeout: float = 120) -> None:
        """A clean stop (SIGTERM: Home Assistant's final write runs)."""
        if self.hass is not None:
            self.hass.send_signal(signal.SIGTERM)
            try:
                self.hass.wait(timeout)
            except subprocess.TimeoutExpired:
                log("Home Assistant did not stop in time: killed")
            self.kill_hass()

    def start_sim(self) -> None:
        self.sim = self._spawn(
            [
                sys.executable,
                str(REPO / "scripts" / "simulate_charger.py"),
                "--url",
                f"ws://127.0.0.1:{self.ocpp_port}/{CHARGER_ID}",
                "--interval",
                str(self.meter_interval),
                "--plug-in-after",
                "2",
                "--reconnect-delay",
                str(self.reconnect_delay),
                "--id-tag",
                ID_TAG,
                "--state-file",
                str(self.sim_state),
                "--ocpp",
                self.ocpp,
            ],
            "sim.out",
        )

    def stop_sim(self, timeout: float = 30) -> None:
        """SIGTERM: the simulator finishes the exchange in flight and saves its register."""
        if self.sim is not None:
            self.sim.send_signal(signal.SIGTERM)
            try:
                self.sim.wait(timeout)
            except subprocess.TimeoutExpired:
                log("Simulator did not stop in time: killed")
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.sim.pid, signal.SIGKILL)
            self.sim.wait()
            self.sim = None

    def kill_all(self) -> None:
        for proc in (self.hass, self.sim):
            if proc is not None and proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        self.hass = self.sim = None

    def sim_data(self) -> dict[str, Any]:
        with contextlib.suppress(OSError, ValueError):
            data: dict[str, Any] = json.loads(self.sim_state.read_text())
            return data
        return {}

    def sim_charging(self) -> bool:
        """The simulator is in a transaction and has sent energy beyond its start."""
        sim = self.sim_data()
        start = sim.get("meter_start_wh")
        return (
            sim.get("transaction_id") is not None
            and start is not None
            and (sim.get("last_sent_wh") or 0) > start
        )

    def storage(self, key: str) -> dict[str, Any] | None:
        with contextlib.suppress(OSError, ValueError):
            data: dict[str, Any] = json.loads((self.config / ".storage" / key).read_text())
            return data
        return None


def wait_until(predicate: Any, timeout: float, what: str, procs: Processes) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        if procs.hass is not None and procs.hass.poll() is not None:
            raise RuntimeError(f"Home Assistant exited ({procs.hass.returncode}) while {what}")
        time.sleep(0.5)
    raise RuntimeError(f"timed out after {timeout:.0f} s: {what}")


# --------------------------------------------------------------------------------------- analysis
@dataclass
class SensorReport:
    entity_id: str
    kind: str
    states: int = 0
    unavailable: int = 0
    first_wh: float | None = None
    final_wh: float | None = None
    truth_wh: float | None = None
    error_wh: float | None = None  # final - truth: < 0 lost, > 0 double counted
    dips: list[dict[str, float]] = field(default_factory=list)
    new_sessions: int = 0
    resets_seen_by_statistics: int = 0
    state_statistics_sum_wh: float | None = None
    state_statistics_expected_wh: float | None = None
    state_statistics_error_wh: float | None = None
    compiled_periods: int = 0
    compiled_sum_wh: float | None = None
    compiled_expected_wh: float | None = None
    compiled_error_wh: float | None = None


def _to_wh(value: float, unit: str | None) -> float:
    return value * {"kWh": 1000.0, "MWh": 1_000_000.0}.get(unit or "Wh", 1.0)


def _numeric(state: str) -> float | None:
    try:
        return float(state)
    except ValueError:
        return None


def analyse(db_path: Path, sim: dict[str, Any]) -> list[SensorReport]:
    db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    reports: list[SensorReport] = []
    truth_register = sim.get("last_sent_wh")
    meter_start = sim.get("meter_start_wh")
    for metadata_id, entity_id in db.execute(
        "SELECT metadata_id, entity_id FROM states_meta WHERE entity_id LIKE 'sensor.%'"
    ):
        kind = next(
            (kind for suffix, kind in SENSOR_SUFFIXES.items() if entity_id.endswith(suffix)), None
        )
        if kind is None:
            continue
        report = SensorReport(entity_id=entity_id, kind=kind)
        rows = db.execute(
            "SELECT s.state, s.last_updated_ts, a.shared_attrs FROM states s "
            "LEFT JOIN state_attributes a ON s.attributes_id = a.attributes_id "
            "WHERE s.metadata_id = ? ORDER BY s.last_updated_ts, s.state_id",
            (metadata_id,),
        ).fetchall()
        series: list[tuple[float, float]] = []  # (timestamp, Wh)
        for state, stamp, attrs in rows:
            report.states += 1
            value = _numeric(state)
            if value is None:
                report.unavailable += 1
                continue
            unit = json.loads(attrs or "{}").get("unit_of_measurement")
            series.append((stamp, _to_wh(value, unit)))
        if not series:
            reports.append(report)
            continue
        report.first_wh = series[0][1]
        report.final_wh = series[-1][1]
        # Dips: a numeric state below the one before it.
        for (_, before), (stamp, after) in itertools.pairwise(series):
            if after < before - 1e-6:
                if kind == "session" and after <= TOLERANCE_WH:
                    report.new_sessions += 1
                else:
                    report.dips.append({"at": stamp, "before_wh": before, "after_wh": after})
        # Truth.
        if truth_register is not None:
            if entity_id.endswith("_lifetime_energy"):
                report.truth_wh = float(truth_register)
            elif entity_id.endswith("_session_energy") and meter_start is not None:
                report.truth_wh = float(truth_register - meter_start)
        if report.truth_wh is not None:
            report.error_wh = report.final_wh - report.truth_wh
        # (a) Home Assistant's total_increasing sum rule over the recorded states.
        total, resets = _statistics_sum([value for _, value in series])
        report.state_statistics_sum_wh = total
        report.resets_seen_by_statistics = resets
        if report.truth_wh is not None and report.new_sessions == 0:
            expected = report.truth_wh - report.first_wh
            report.state_statistics_expected_wh = expected
            report.state_statistics_error_wh = total - expected
        # (b) compiled short-term statistics.
        _compiled(db, report, series)
        reports.append(report)
    db.close()
    return sorted(reports, key=lambda r: r.entity_id)


def _statistics_sum(values: list[float]) -> tuple[float, int]:
    """The sum long-term statistics keep for a total_increasing sensor (sensor/recorder.py): a
    drop below 90 % of the previous value is a meter reset and starts a new cycle from 0."""
    total = 0.0
    resets = 0
    old = new = values[0]
    for value in values[1:]:
        if value < 0.9 * new:
            resets += 1
            total += new - old
            old = 0.0
        new = value
    return total + new - old, resets


def _compiled(
    db: sqlite3.Connection, report: SensorReport, series: list[tuple[float, float]]
) -> None:
    meta = db.execute(
        "SELECT id, unit_of_measurement FROM statistics_meta WHERE statistic_id = ?",
        (report.entity_id,),
    ).fetchone()
    if meta is None:
        return
    rows = db.execute(
        "SELECT start_ts, state, sum FROM statistics_short_term WHERE metadata_id = ? "
        "ORDER BY start_ts",
        (meta[0],),
    ).fetchall()
    if not rows:
        return
    unit = meta[1]
    report.compiled_periods = len(rows)
    first_start = rows[0][0]
    last_state, last_sum = rows[-1][1], rows[-1][2]
    # The value in effect when the first compiled period started (else the first one after).
    before = [value for stamp, value in series if stamp <= first_start]
    after = [value for stamp, value in series if stamp > first_start]
    baseline = before[-1] if before else after[0] if after else None
    if baseline is None or last_state is None or last_sum is None:
        return
    report.compiled_sum_wh = _to_wh(last_sum, unit)
    report.compiled_expected_wh = _to_wh(last_state, unit) - baseline
    report.compiled_error_wh = report.compiled_sum_wh - report.compiled_expected_wh


# ------------------------------------------------------------------------------------------- run
def run(args: argparse.Namespace) -> dict[str, Any]:
    rng = random.Random(args.seed)
    work = Path(tempfile.mkdtemp(prefix="ocpp_ems_chaos_"))
    config = work / "config"
    ocpp_port = free_port()
    server_entry_id = seed_config(config, ocpp_port, free_port(), args.source)
    procs = Processes(work, config, ocpp_port, args.meter_interval, args.ocpp)
    procs.reconnect_delay = args.reconnect_delay
    started = time.monotonic()
    kills: list[dict[str, Any]] = []
    log(f"work dir {work}, OCPP port {ocpp_port}, meter interval {args.meter_interval} s")
    try:
        # --- setup: accepted, charging, registries on disk ---
        procs.start_hass()
        procs.start_sim()

        def transaction_stored() -> bool:
            stored = procs.storage(f"{DOMAIN}.{server_entry_id}") or {}
            charger = stored.get("data", {}).get("chargers", {}).get(CHARGER_ID, {})
            return bool(charger.get("connectors", {}).get("1", {}).get("transaction"))

        wait_until(procs.sim_charging, args.setup_timeout, "the charger starts charging", procs)
        wait_until(transaction_stored, 30, "the transaction is stored", procs)
        log("charging; clean restart so that the registries are on disk")
        procs.stop_hass()
        procs.start_hass()

        # --- chaos ---
        for number in range(1, args.kills + 1):
            up = rng.uniform(args.min_up, args.max_up)
            time.sleep(up)
            if procs.hass is not None and procs.hass.poll() is not None:
                raise RuntimeError(f"Home Assistant exited ({procs.hass.returncode})")
            register = procs.sim_data().get("last_sent_wh")
            procs.kill_hass()
            # What survived on disk: how far the stored register is behind the charger's.
            stored = procs.storage(f"{DOMAIN}.{server_entry_id}") or {}
            charger = stored.get("data", {}).get("chargers", {}).get(CHARGER_ID, {})
            on_disk = charger.get("lifetime_energy", {}).get("last_register_wh")
            lag = None if on_disk is None or register is None else register - on_disk
            kills.append(
                {
                    "kill": number,
                    "up_s": round(up, 2),
                    "register_wh": register or 0,
                    "stored_register_wh": on_disk,
                    "stored_lag_wh": lag,
                }
            )
            log(f"kill -9 #{number} after {up:.1f} s (register {register} Wh, on disk {on_disk})")
            procs.start_hass()

        # --- the end: the charger reports to the last Home Assistant, then everything stops ---
        before = procs.sim_data().get("last_sent_wh") or 0
        settle = max(3 * args.meter_interval, 5.0)
        wait_until(
            lambda: (procs.sim_data().get("last_sent_wh") or 0) > before,
            180,
            "the charger reports to the restarted Home Assistant",
            procs,
        )
        if args.wait_statistics:
            # Past the next 5-minute boundary (+ compile time), so its period is compiled.
            now = time.time()
            boundary = (now // 300 + 1) * 300 + 20
            log(f"waiting {boundary - now:.0f} s for the short-term statistics")
            time.sleep(boundary - now)
        time.sleep(settle)
        procs.stop_sim()
        time.sleep(2)  # the last reading reaches the state machine and the recorder queue
        procs.stop_hass()
        elapsed = time.monotonic() - started
        sim = procs.sim_data()
        reports = analyse(config / "home-assistant_v2.db", sim)
    finally:
        procs.kill_all()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    return summarise(args, reports, kills, sim, elapsed, work if args.keep else None)


def summarise(
    args: argparse.Namespace,
    reports: list[SensorReport],
    kills: list[dict[str, Any]],
    sim: dict[str, Any],
    elapsed: float,
    work: Path | None,
) -> dict[str, Any]:
    def worst(values: list[float | None]) -> float | None:
        known = [abs(v) for v in values if v is not None]
        return max(known) if known else None

    errors = [r.error_wh for r in reports]
    dips = sum(len(r.dips) for r in reports)
    stat_errors = [r.state_statistics_error_wh for r in reports]
    compiled_errors = [r.compiled_error_wh for r in reports]
    have_truth = all(
        any(r.entity_id.endswith(s) and r.error_wh is not None for r in reports)
        for s in ("_lifetime_energy", "_session_energy")
    )
    passed = (
        have_truth
        and (worst(errors) or 0.0) <= TOLERANCE_WH
        and dips == 0
        and (worst(stat_errors) or 0.0) <= TOLERANCE_WH
        and (worst(compiled_errors) or 0.0) <= TOLERANCE_WH
    )
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "kills": len(kills),
        "meter_interval_s": args.meter_interval,
        "ocpp": args.ocpp,
        "seed": args.seed,
        "up_s": [args.min_up, args.max_up],
        "run_time_s": round(elapsed, 1),
        "label": f"_{args.label}" if args.label else "",
        "source": str(args.source),
        "passed": passed,
        "truth": {
            "register_wh": sim.get("last_sent_wh"),
            "meter_start_wh": sim.get("meter_start_wh"),
            "charged_wh": (sim.get("last_sent_wh") or 0) - (sim.get("meter_start_wh") or 0),
        },
        "worst_error_wh": worst(errors),
        # How far the stored register was behind the charger at the kills (the save bound).
        "max_stored_lag_wh": worst([k.get("stored_lag_wh") for k in kills]),
        "dips": dips,
        "worst_state_statistics_error_wh": worst(stat_errors),
        "worst_compiled_statistics_error_wh": worst(compiled_errors),
        "sensors": [asdict(r) for r in reports],
        "kill_log": kills,
        "work_dir": str(work) if work else None,
    }


def _fmt(value: float | None, digits: int = 1) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def table(result: dict[str, Any]) -> str:
    lines = [
        f"### {result['kills']} kills, OCPP {result.get('ocpp', '1.6')}, "
        f"meter interval {result['meter_interval_s']} s"
        f"{' (' + result['label'].lstrip('_') + ')' if result.get('label') else ''} "
        f"(seed {result['seed']}, up {result['up_s'][0]}-{result['up_s'][1]} s): "
        f"{'PASS' if result['passed'] else 'FAIL'}",
        "",
        f"Run time {result['run_time_s']:.0f} s ({result['date']}); session energy (truth) "
        f"{result['truth']['charged_wh']} Wh; final register {result['truth']['register_wh']} Wh."
        + (
            f" At the kills the stored register was at most {result['max_stored_lag_wh']:.0f} Wh"
            " behind the charger's."
            if result.get("max_stored_lag_wh") is not None
            else ""
        ),
        "",
        "| sensor | states (unavail.) | final - truth (Wh) | dips | new sessions "
        "| stats from states: sum - true increase (Wh) | resets seen | compiled periods "
        "| compiled sum - increase (Wh) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for sensor in result["sensors"]:
        lines.append(
            f"| `{sensor['entity_id']}` | {sensor['states']} ({sensor['unavailable']}) "
            f"| {_fmt(sensor['error_wh'])} | {len(sensor['dips'])} | {sensor['new_sessions']} "
            f"| {_fmt(sensor['state_statistics_error_wh'])} "
            f"| {sensor['resets_seen_by_statistics']} | {sensor['compiled_periods']} "
            f"| {_fmt(sensor['compiled_error_wh'])} |"
        )
    return "\n".join(lines)


MD_HEAD = """# Restart chaos (kill -9) results

Written by `benchmarks/restart_chaos.py` (one section per `restart_chaos_*.json` here). A real
`hass` process is killed with SIGKILL at random points while the simulated charger
(`scripts/simulate_charger.py`) charges, and started again at once; at the end the charger and Home
Assistant stop cleanly and the recorder database is compared with the charger's register.

* **final - truth**: the sensor's last recorded state minus the charger's own register (lifetime)
  or register minus meterStart (session); < 0 = lost, > 0 = double counted.
* **dips**: numeric states lower than the numeric state before them (`unavailable` in between is
  not a value); a drop to 0 at a new session is counted under *new sessions*, not as a dip.
* **stats from states**: Home Assistant's `total_increasing` sum rule (a drop below 90 % is a meter
  reset, which counts the new value again) applied to the recorded states, minus the true increase
  over the same span; **resets seen** = how many resets that rule detected.
* **compiled**: the short-term statistics Home Assistant compiled (5-minute periods, where it ran
  at a period end or compiled the period at its next start): the last period's sum minus the
  sensor's increase since the first compiled period started.

Targets: 0 Wh lost or double counted, no dips, statistics within 1 Wh. Sections marked *(before)*
ran the integration as it was before the bounded saves (`--source` = the last commit's
`custom_components/ocpp_ems`, extracted with `git archive`): compare how far the register on disk
was behind at the kills.
"""


def write_results(result: dict[str, Any], out_dir: Path) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    interval = f"{result['meter_interval_s']:g}".replace(".", "_")
    version = result.get("ocpp", "1.6")
    ocpp = "" if version == "1.6" else "_v" + version.replace(".", "")
    path = out_dir / f"restart_chaos_{interval}s{ocpp}{result['label']}.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    write_markdown(out_dir)
    return path


def write_markdown(out_dir: Path) -> None:
    """``restart_chaos.md``: one section per run result in ``out_dir``."""
    sections = []
    for run_file in sorted(out_dir.glob("restart_chaos_*.json")):
        sections.append(table(json.loads(run_file.read_text())))
    (out_dir / "restart_chaos.md").write_text(MD_HEAD + "\n" + "\n\n".join(sections) + "\n")


def add_source_argument(parser: argparse.ArgumentParser) -> None:
    """``--source``: the integration a benchmark copies into Home Assistant's config dir."""
    parser.add_argument(
        "--source",
        type=Path,
        default=REPO / "custom_components" / DOMAIN,
        help="the integration to test (e.g. an older version extracted with git archive)",
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--meter-interval", type=float, default=1.0, help="MeterValues period (s)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--ocpp", choices=("1.6", "2.0.1", "2.1"), default="1.6", help="the charger's version"
    )
    parser.add_argument("--min-up", type=float, default=15.0, help="seconds before a kill (min)")
    parser.add_argument("--max-up", type=float, default=45.0, help="seconds before a kill (max)")
    parser.add_argument("--quick", action="store_true", help="CI: 3 kills, 16-20 s up")
    parser.add_argument(
        "--reconnect-delay", type=float, default=5.0, help="the simulator's (s); quick: 1"
    )
    parser.add_argument("--setup-timeout", type=float, default=180.0)
    parser.add_argument(
        "--wait-statistics",
        action="store_true",
        help="before the end, wait past the next 5-minute boundary so it is compiled",
    )
    parser.add_argument("--out-dir", type=Path, default=REPO / "benchmarks" / "results")
    parser.add_argument("--keep", action="store_true", help="keep the temporary config dir")
    add_source_argument(parser)
    parser.add_argument("--label", default="", help="suffix of the result file names")
    args = parser.parse_args()
    if args.quick:
        # Up long enough that a save falls due in each run (start, reconnect, first reading, 10 s).
        args.kills, args.min_up, args.max_up, args.reconnect_delay = 3, 16.0, 20.0, 1.0

    def _terminate(_signum: int, _frame: Any) -> None:
        raise SystemExit(1)  # runs the finally blocks: no child process survives

    signal.signal(signal.SIGTERM, _terminate)
    result = run(args)
    print(table(result), flush=True)
    path = write_results(result, args.out_dir)
    log(f"wrote {path} and {path.parent / 'restart_chaos.md'}")
    return 0 if result["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
