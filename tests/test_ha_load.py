"""The HA load benchmark in its quick mode: a real ``hass`` process with 1, then 2 raw-frame chargers
sending MeterValues (``benchmarks/ha_load.py --quick``, about 40 s).

It must answer every frame and give a CPU figure per frame, and no entity may be written again
with an unchanged state (``state_reported``): each frame changes a few values (power, energy), and
only the entities showing them get a new state.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.helpers.benchmarks import run_benchmark


@pytest.mark.timeout(120)
def test_ha_load_quick(tmp_path: Path) -> None:
    run = run_benchmark("ha_load.py", tmp_path, "--quick", timeout=110)
    results = tmp_path / "ha_load.json"
    report = run.stdout + run.stderr[-3000:]
    assert results.is_file(), report
    result = json.loads(results.read_text())
    assert [fleet["chargers"] for fleet in result["runs"]] == [1, 2], report
    for fleet in result["runs"]:
        assert fleet["frames"] > 0, report  # MeterValues answered in the window
        assert fleet["errors"] == 0, report
        assert fleet["cpu_us_per_frame"] is not None, report
        assert fleet["cpu_us_per_frame"] > 0, report
        # Power and energy change with every frame: a few new states per frame and charger...
        assert fleet["state_changed_per_frame"] is not None, report
        assert fleet["state_changed_per_frame"] >= 1, report
        # ...and the other entities of the charger are not written again (about 20 before).
        assert fleet["state_reported_per_frame"] is not None, report
        assert fleet["state_reported_per_frame"] < 1, report
    assert (tmp_path / "ha_load.md").is_file(), report
    assert result["passed"], report
    assert run.returncode == 0, report
