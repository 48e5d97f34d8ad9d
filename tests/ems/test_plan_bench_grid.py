"""benchmarks/ems_plan.py's split of the grid energy: by tariff slot (ours and the optimum's) and
by why the car drew it, on a day without sun, where both must buy the whole target in the night."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from benchmarks import ems_plan as bench

TARGET_WH = 30000.0
DEPARTURE_H = 24 + 7.5  # 07:30 the next day: the night (00-06) holds the whole target


@pytest.fixture(scope="module")
def dark() -> bench.Day:
    return bench.Day("dark", np.zeros(bench.data.MINUTES), 33)


def test_the_optimum_buys_the_whole_target_in_the_night(dark: bench.Day) -> None:
    best = bench.optima((dark, DEPARTURE_H, TARGET_WH, "flat"))
    night_price = bench.price_at(0.0)
    assert best.optimum == pytest.approx(TARGET_WH / 1000.0 * night_price, rel=1e-3)
    assert best.optimum_grid["00-06"] == pytest.approx(TARGET_WH, rel=1e-3)
    assert sum(best.optimum_grid.values()) == pytest.approx(TARGET_WH, rel=1e-3)


def test_a_run_splits_its_grid_by_slot_and_cause(dark: bench.Day) -> None:
    # No sun, so a perfect forecast promises none.
    run = bench.simulate(bench.Scenario(dark, DEPARTURE_H, TARGET_WH, "perfect", history_days=0))
    assert run.met
    # All of it planned at full power in the night, nothing following the sun.
    assert run.grid_by_slot["00-06"] == pytest.approx(run.grid_wh)
    assert run.grid_by_cause["full"] == pytest.approx(run.grid_wh)
    assert sum(run.grid_by_cause.values()) == pytest.approx(run.grid_wh)
    best = bench.optima((dark, DEPARTURE_H, TARGET_WH, "flat"))
    run.optimum, run.optimum_grid = best.optimum, best.optimum_grid
    rows = [line for line in bench.grid_section([run]) if line.startswith("| dark dep 07:30")]
    assert rows == [
        f"| dark dep 07:30 30 kWh, perfect (no history: the settings) | "
        f"{run.cost - best.optimum:+.2f} | {run.grid_wh / 1000:.1f} / 30.0 | 0.0 / 0.0 | "
        f"0.0 / 0.0 | 0.0 / 0.0 | {run.grid_wh / 1000:.2f} / 0.00 / 0.00 |"
    ]
    # The section lists the perfect forecasts' runs only.
    without = replace(run, scenario=replace(run.scenario, forecast="none"))
    assert bench.grid_section([without]) == bench.grid_section([])


def test_a_minute_s_cause() -> None:
    assert bench.grid_cause(bench.Reason.PLANNED_SLOT, bench.MAX_A) == "full"
    assert bench.grid_cause(bench.Reason.PLANNED_SLOT, bench.MIN_A) == "minimum"
    assert bench.grid_cause(bench.Reason.STOPPING, bench.MIN_A) == "sun"


@pytest.mark.parametrize(("step_s", "response_s"), [(10.0, 5.0), (10.0, 10.0), (60.0, 0.0)])
def test_a_run_at_any_update_rate_accounts_for_every_second(
    dark: bench.Day, step_s: float, response_s: float
) -> None:
    """Stepped every ``step_s`` with the car drawing a limit ``response_s`` after it is written,
    the run still delivers the target in the night, its grid split adds up, and the lag shows:
    the first limit written at the plug-in is drawn only after the response."""
    sc = bench.Scenario(
        dark,
        DEPARTURE_H,
        TARGET_WH,
        "perfect",
        history_days=0,
        step_s=step_s,
        response_s=response_s,
    )
    run = bench.simulate(sc)
    assert run.met
    assert sum(run.grid_by_cause.values()) == pytest.approx(run.grid_wh)
    assert sum(run.grid_by_slot.values()) == pytest.approx(run.grid_wh)
    assert run.delivered_wh == pytest.approx(run.grid_wh)  # no sun: every Wh from the grid
    minute = bench.simulate(replace(sc, step_s=60.0, response_s=0.0))
    # The same plan (full power in the night slots): the same cost, give or take the minute's
    # energy the minute model draws past the target.
    minute_kwh = bench.CAR_MAX_W * bench.DT / bench.H / 1000.0
    assert run.cost == pytest.approx(minute.cost, abs=bench.price_at(0.0) * minute_kwh)


def test_the_car_draws_a_written_limit_after_its_response(dark: bench.Day) -> None:
    """A plan that cannot be met (40 kWh in 3 h at 11 kW: full power from the plug-in) draws
    nothing in the response after the plug-in: 30 s of energy less than with no lag at the
    same update rate."""
    sc = bench.Scenario(dark, bench.PLUG_IN_H + 3.0, 40000.0, "perfect", history_days=0)
    at_once = bench.simulate(replace(sc, step_s=30.0, response_s=0.0))
    lagged = bench.simulate(replace(sc, step_s=30.0, response_s=30.0))
    lost_wh = bench.CAR_MAX_W * 30.0 / bench.H
    assert at_once.delivered_wh - lagged.delivered_wh == pytest.approx(lost_wh, rel=1e-6)
