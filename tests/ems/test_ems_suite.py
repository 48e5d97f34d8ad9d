"""Smoke test of benchmarks/ems_suite.py: two short scenarios through the suite's own functions."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from benchmarks import ems_suite as suite
from benchmarks.ems import clouds
from benchmarks.ems import scenarios as scn

T0 = 11 * 3600
T1 = T0 + 15 * 60
STEP = slice(11 * 60 + 8, 11 * 60 + 12)  # 11:08-11:12: a 20 kW house load (40 % on L1)


def _scenario(name: str, site: str, house: np.ndarray) -> scn.Scenario:
    return scn.Scenario(
        name=name,
        group="synthetic",
        source="clear sky, 2025-06-21",
        pv_w=clouds.clear_sky_pv("2025-06-21"),
        site=scn.SITES[site],
        house_day=172,
        house_seed=0,
        noise_seed=3,
        charger_delay_s=3.0,
        start_delay_s=5.0,
        t0=T0,
        t1=T1,
        house_w=house,
    )


@pytest.fixture(scope="module")
def runs() -> list[dict[str, Any]]:
    flat = np.full(1440, 500.0)
    stepped = flat.copy()
    stepped[STEP] = 20000.0
    scenarios = [
        _scenario("step/2ch", "2ch", stepped),
        _scenario("flat/1p3p-bat", "1p3p-bat", flat),
    ]
    out = suite.run_all(suite.jobs_for(scenarios, [0.0, 150.0], True), workers=1, verbose=False)
    suite.attach_bounds(out)
    return out


def test_flows_add_up_and_match_the_chargers(runs: list[dict[str, Any]]) -> None:
    assert {r["controller"] for r in runs} >= {"ours", "reference", "ours@150W"}
    # The user options (sharing the surplus, a priority) and the setting without the hand-over
    # run where there are several solar cars, the least share of sun at 100 % everywhere.
    for option in (*suite.MULTI_CAR_OPTIONS, suite.NO_HANDOVER):
        assert {r["scenario"] for r in runs if r["controller"] == option} == {"step/2ch"}
    for option in (suite.SUN_ONLY, suite.HOLD_DIPS, *suite.FORECAST_OPTIONS):
        everywhere = {r["scenario"] for r in runs if r["controller"] == option}
        assert everywhere == {"step/2ch", "flat/1p3p-bat"}
    step = {r["controller"]: r for r in runs if r["scenario"] == "step/2ch"}
    # With its priority the first car charges more than beside a car of equal priority.
    assert step[suite.PRIORITY]["car_soc_end"][0] > step["ours"]["car_soc_end"][0] + 0.1
    for r in runs:
        parts = r["pv_to_ev_kwh"] + r["grid_to_ev_kwh"] + r["battery_to_ev_wh"] / 1000
        assert parts == pytest.approx(r["ev_kwh"])
        # The plant's flow accounting against the chargers' own energy registers.
        assert r["ev_kwh"] == pytest.approx(r["ev_register_kwh"], abs=1e-6)
        assert r["pv_to_ev_kwh"] > 0.5  # a clear June noon: the solar cars run
        assert r["over_fuse_s"] == r["over_unavoidable_s"] + r["over_avoidable_s"]
        share = 100 * r["grid_to_ev_kwh"] / r["ev_kwh"]
        assert r["grid_share_pct"] == pytest.approx(share)


def test_fuse_seconds_split(runs: list[dict[str, Any]]) -> None:
    step = {r["controller"]: r for r in runs if r["scenario"] == "step/2ch"}
    # The step alone puts L1 over the fuse: the first response time is unavoidable for anyone.
    assert step["ours"]["over_unavoidable_s"] >= 1
    assert step["reference"]["over_unavoidable_s"] >= 1
    # The reference only caps increases for the fuse: its cars stay at 6 A until disabled (3 min).
    assert step["reference"]["over_avoidable_s"] > 0
    response = 3.0 + 2.0 + 1.0
    assert max(r["over_unavoidable_s"] for r in runs) <= response  # one step, one window


def test_bounds_bound_the_runs_but_for_the_battery_priority(runs: list[dict[str, Any]]) -> None:
    # Battery at 40 % < 60 % priority: 7 kW PV, 5 kW of it owed to the battery; the plant credits
    # what a car takes of that as PV->EV, the watch counts it.
    assert all(r["priority_taken_wh"] >= 0.0 for r in runs)
    assert all(r["priority_taken_wh"] == 0.0 for r in runs if r["scenario"] == "step/2ch")
    for r in runs:
        eq = (r.get("eq_bound") or {}).get("kwh")
        if eq is None:
            assert r["pct_eq"] is None
            continue
        kept = r["pv_to_ev_kwh"] - r["priority_taken_wh"] / 1000
        assert kept <= eq * 1.001 + 1e-3, r
        assert r["pct_eq"] == pytest.approx(100 * r["pv_to_ev_kwh"] / eq)


def test_confidence_interval() -> None:
    mean, lo, hi = suite.ci95([1.0, 2.0, 3.0])
    half = 4.302653 / math.sqrt(3)  # t(0.975, 2) * sd 1 / sqrt(3)
    assert (mean, lo, hi) == pytest.approx((2.0, 2.0 - half, 2.0 + half), rel=1e-5)
    assert math.isnan(suite.ci95([1.0])[1])


def test_statistics_targets_and_outputs(runs: list[dict[str, Any]], tmp_path: Path) -> None:
    table = suite.by_controller(runs)
    diffs = suite.paired(suite.METRICS[0], table["ours"], table["reference"])
    assert len(diffs) == 2
    mean, lo, hi = suite.ci95(diffs)
    assert lo <= mean <= hi
    assert not math.isnan(lo)
    pareto = suite.pareto_diffs(table, ["ours", "ours@150W"])
    assert set(pareto) == {"step/2ch", "flat/1p3p-bat"}
    rows = suite.targets(runs, ["ours", "ours@150W"])
    assert any(name.startswith("grid->EV < 3 %") for name, _, _ in rows)
    scenarios = [
        _scenario("step/2ch", "2ch", np.full(1440, 500.0)),
        _scenario("flat/1p3p-bat", "1p3p-bat", np.full(1440, 500.0)),
    ]
    raw = {
        "generated": "now",
        "wall_s": 1.0,
        "workers": 1,
        "margins_w": [0.0, 150.0],
        "scenarios": [suite.scenario_row(s) for s in scenarios],
        "runs": runs,
    }
    lines = suite.write_outputs(raw, tmp_path)
    assert (tmp_path / "ems_pareto.png").read_bytes()[:4] == b"\x89PNG"
    assert "## Targets" in lines
    # Runs, the six options, the setting without the hand-over and scenarios.
    assert sum(1 for line in lines if line.startswith("| step/2ch |")) == 9
    assert "## Option: share the surplus between cars" in lines
    assert "## Option: a charging priority" in lines
    assert "## Option: the least share of sun at 100 %" in lines
    assert "## Option: stop early in deep dips, off" in lines
    assert "## Setting: no hand-over to the car that needs more sun" in lines
    assert "## Option: the cars' SoC and a solar forecast" in lines
    assert "### ours+soc-noisy-forecast" in lines
    assert any(line.startswith("Scenarios with grid->EV at 3 % of the EV energy") for line in lines)
    assert suite.option_section({}, suite.PRIORITY) == ["(not run)"]
    # The JSON holds everything the report needs: it can be rewritten from it alone.
    suite.main(
        ["--from-json", str(tmp_path / "ems_suite.json"), "--out-dir", str(tmp_path / "again")]
    )
    assert (tmp_path / "again" / "ems_suite.md").read_text() == "\n".join(lines) + "\n"
