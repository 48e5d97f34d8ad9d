"""The connection flood benchmark in its quick mode (``benchmarks/connection_flood.py --quick``,
about 40 s): a real ``hass`` process whose file limit is 1,024 (it cannot raise it) gets 1,200
idle connections on its OCPP port for 10 s, from one address, while a simulated charger charges.

Targets: Home Assistant survives (before the cap on opening connections it stopped its event loop
on EMFILE within a second), every probe charger that connects meanwhile gets its boot answered, the
charging charger goes on reporting, and nothing of the flood is left afterwards.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.helpers.benchmarks import run_benchmark


@pytest.mark.timeout(240)
def test_connection_flood_quick(tmp_path: Path) -> None:
    run = run_benchmark("connection_flood.py", tmp_path, "--quick", timeout=230)
    report = run.stdout + run.stderr
    results = tmp_path / "connection_flood.json"
    assert results.is_file(), report
    (result,) = json.loads(results.read_text())
    assert result["hass_file_limit"] == 1024, report
    assert result["survived"], report
    assert result["fatal_log_lines"] == 0, report
    assert result["fds_peak"] < result["hass_file_limit"] // 2, report
    assert result["fds_after"] <= result["fds_before"] + 8, report  # nothing of the flood left
    assert result["answered_503"] > 1000, report  # the flood ran and was refused
    assert result["probes"] >= 3, report
    assert result["probes_answered"] == result["probes"], report
    assert result["charger_wh_during_flood"] > 0, report
    assert run.returncode == 0, report
