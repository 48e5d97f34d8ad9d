"""Smoke test of the integration on whatever Home Assistant this interpreter has (run by
``scripts/smoke_newest_ha`` with the newest release): a real ``hass`` process, a seeded OCPP server
entry with its energy manager on a sunny site (template sensors: PV, and a grid meter that sees the
charger), the simulated 1.6 charger. Passes when the charger is accepted and charges from the sun,
our entities are registered and recorded with values (the energy manager's reason among them), and
Home Assistant logged no warning or error about our code.

Reuses the restart chaos benchmark's config seeding and process handling (one home for both).
"""

from __future__ import annotations

import json
import re
import shutil
import sqlite3
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from benchmarks.restart_chaos import (  # noqa: E402
    CHARGER_ID,
    DOMAIN,
    Processes,
    free_port,
    log,
    seed_config,
    wait_until,
)

# Entities a charger must have on any release (suffixes of their entity ids).
EXPECTED_SUFFIXES = (
    "_session_energy",
    "_lifetime_energy",
    "_status",
    "_power",
    "_energy_manager_reason",
)
# Recorded with a value: the session's energy, and why the energy manager set the limit.
RECORDED_SUFFIXES = ("_session_energy", "_energy_manager_reason")
# Lines Home Assistant writes for every custom integration: not about our code's behaviour.
BENIGN = (re.compile(r"custom integration ocpp_ems which has not been tested"),)
LOG_LINE = re.compile(r"^\S+ \S+ (WARNING|ERROR|CRITICAL) \(\S+\) \[([^\]]+)\] (.*)$")


def our_problems(log_text: str) -> list[str]:
    """Warnings and errors that name our integration or come from its loggers."""
    problems = []
    for line in log_text.splitlines():
        match = LOG_LINE.match(line)
        if match is None:
            continue
        logger, message = match.group(2), match.group(3)
        ours = logger.startswith(f"custom_components.{DOMAIN}") or DOMAIN in message
        if ours and not any(pattern.search(message) for pattern in BENIGN):
            problems.append(line)
    return problems


def recorded_states(db: Path) -> dict[str, str]:
    """The last recorded value of each entity (entity id -> state; unavailable/unknown skipped:
    every entity is unavailable once Home Assistant stops)."""
    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            "SELECT m.entity_id, s.state FROM states s JOIN states_meta m "
            "ON s.metadata_id = m.metadata_id "
            "WHERE s.state NOT IN ('unavailable', 'unknown') ORDER BY s.state_id"
        ).fetchall()
    return dict(rows)


def main() -> int:
    from homeassistant.const import __version__

    work = Path(tempfile.mkdtemp(prefix="ocpp_ems_smoke_"))
    config = work / "config"
    ocpp_port = free_port()
    entry_id = seed_config(
        config, ocpp_port, free_port(), REPO / "custom_components" / DOMAIN, site=True
    )
    procs = Processes(work, config, ocpp_port, meter_interval=2.0)
    log(f"Home Assistant {__version__}; work dir {work}")
    ok = False
    try:
        procs.start_hass()
        procs.start_sim()

        wait_until(procs.sim_charging, 180, "the charger starts charging", procs)
        wait_until(
            lambda: bool(
                ((procs.storage(f"{DOMAIN}.{entry_id}") or {}).get("data") or {})
                .get("chargers", {})
                .get(CHARGER_ID)
            ),
            60,
            "the charger is stored",
            procs,
        )
        procs.stop_sim()
        procs.stop_hass()
        registry = procs.storage("core.entity_registry") or {}
        entities = [
            e["entity_id"]
            for e in registry.get("data", {}).get("entities", [])
            if e.get("platform") == DOMAIN
        ]
        states = recorded_states(config / "home-assistant_v2.db")
        failures = [
            f"no entity ending in {suffix}"
            for suffix in EXPECTED_SUFFIXES
            if not any(e.endswith(suffix) for e in entities)
        ]
        recorded = {
            suffix: min((e for e in entities if e.endswith(suffix)), key=len, default=None)
            for suffix in RECORDED_SUFFIXES
        }
        failures += [
            f"{entity} never had a value"
            for entity in recorded.values()
            if entity is not None and states.get(entity) is None
        ]
        problems = our_problems((work / "hass.out").read_text(errors="replace"))
        failures += [f"log: {line}" for line in problems]
        shown = ", ".join(f"{e} last recorded {states.get(e)}" for e in recorded.values() if e)
        log(f"{len(entities)} entities; {shown}")
        for failure in failures:
            log(f"FAIL {failure}")
        ok = not failures
        log("smoke test passed" if ok else "smoke test FAILED")
        print(json.dumps({"ha": __version__, "entities": len(entities), "failures": failures}))
    finally:
        procs.kill_all()
        if ok:
            shutil.rmtree(work, ignore_errors=True)
        else:
            log(f"logs kept in {work}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
