"""The battery programme's SoC grid (``_BatteryProgramme``): each block's grid is shifted by what
the block adds, so the SoC does not drift up a grid step per block, and the bound stays at or
above the exact optimum (MILP, the SoC a variable) on 200 short windows with a coarse grid and
short blocks (many shifts and roundings in a few minutes).
"""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.ems import bounds
from benchmarks.ems.bounds import CarBoundSpec, DayInputs, _Day, equal_import_bound
from benchmarks.ems.plant import BatteryModel
from tests.ems.test_bounds import MilpBattery, exact_schedule

# 200 MILPs of 0.2-2 s each.
pytestmark = pytest.mark.timeout(900)

MINUTE0 = 600  # 10:00


def sunny_hours(battery: BatteryModel, priority_soc: float, hours: int) -> DayInputs:
    """3 kW of sun and a 300 W house all day: the battery only charges, the house never drains
    it; a 3p car."""
    pv, house = np.full(1440, 3000.0), np.full(1440, 300.0)
    car = CarBoundSpec(solar=True)
    t0 = MINUTE0 * 60
    return DayInputs(pv, house, (car,), battery, priority_soc, None, t0, t0 + 3600 * hours)


def test_a_charging_battery_crosses_its_priority_soc_when_its_charge_does() -> None:
    """40.4 W into 10 kWh from 40 % to its 41 % priority: 3.2 Wh of cells per 5-minute block,
    31 blocks. Counted per block on a fixed 1 Wh grid it rounded up 0.8 Wh a block and crossed
    after 25 (1875 s early, seconds in which the programme lets the cars take the battery's
    share); on the shifted grids it crosses within a second of its charge."""
    battery = BatteryModel(capacity_wh=10000.0, max_w=40.42, efficiency=0.95, soc=40.0)
    inputs = sunny_hours(battery, 41.0, 4)
    day = _Day(inputs)
    programme = day.battery_programme
    assert programme is not None
    seconds = day.surplus.size
    # Worth 1 W s per second above the priority SoC, nothing below: the seconds above.
    above_s = float(programme.value(np.ones((seconds, 1)), np.zeros((seconds, 1)))[0])
    charged = programme.start_wh + np.concatenate([[0.0], np.cumsum(programme.gain_wh)[:-1]])
    crossing_s = int(np.searchsorted(charged, programme.priority_wh))
    assert 9000 < crossing_s < 9600  # the 31st block
    assert above_s == pytest.approx(seconds - crossing_s, abs=1.0)


def short_window(seed: int) -> tuple[DayInputs, float]:
    """2.5 minutes: 6-10 kW of sun ramping into a dark minute (0-0.8 kW) with a 1.5-2.5 kW house
    load, then back; batteries of 100-250 Wh, 1-3 kW, 80 / 95 %, from 3 % below to 12 % above a
    60 / 90 % priority SoC (never empty: the MILP's battery cannot run empty); a 3p or 1p/3p
    car, 2-12 s start delay; t0 0-20 s after 10:00; budgets 0 / 5 / 20 Wh."""
    rng = np.random.default_rng(seed)
    pv, house = rng.uniform(6000.0, 10000.0, 4), np.full(4, 300.0)
    pv[1:3], house[1:3] = rng.uniform(0.0, 800.0, 2), rng.uniform(1500.0, 2500.0)
    priority = float(rng.choice([60.0, 90.0]))
    battery = BatteryModel(
        capacity_wh=float(rng.choice([100.0, 150.0, 250.0])),
        max_w=float(rng.choice([1000.0, 2000.0, 3000.0])),
        efficiency=float(rng.choice([0.8, 0.95])),
        soc=float(np.clip(priority + rng.uniform(-3.0, 12.0), 0.0, 100.0)),
    )
    car = CarBoundSpec(
        solar=True,
        switchable=bool(rng.integers(0, 2)),
        start_delay_s=float(rng.choice([2.0, 5.0, 12.0])),
    )
    pv_day, house_day = np.zeros(1440), np.full(1440, 300.0)
    pv_day[MINUTE0 : MINUTE0 + 4], house_day[MINUTE0 : MINUTE0 + 4] = pv, house
    t0 = MINUTE0 * 60 + int(rng.integers(0, 21))
    t1 = t0 + int(rng.integers(140, 161))
    inputs = DayInputs(pv_day, house_day, (car,), battery, priority, None, t0, t1)
    return inputs, float(rng.choice([0.0, 5.0, 20.0]))


def exact(inputs: DayInputs, budget_wh: float) -> float:
    day = _Day(inputs)
    delay = round(inputs.cars[0].start_delay_s)
    switchable = [c.switchable for c in inputs.cars]
    return exact_schedule(day.no_priority, switchable, delay, budget_wh, MilpBattery.of(inputs))


def test_the_bound_stays_above_the_exact_optimum_with_coarse_grids(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """20 s blocks on a 3 Wh grid: 7-8 blocks, each shifting the grid, in every window."""
    monkeypatch.setattr(bounds, "BATTERY_BLOCK_S", 20)
    monkeypatch.setattr(bounds, "BATTERY_GRID_WH", 3.0)
    margins, below_previous = [], 0
    for seed in range(200):
        inputs, budget_wh = short_window(seed)
        bound = equal_import_bound(inputs, budget_wh).pv_to_ev_wh
        margins.append(bound - exact(inputs, budget_wh))
        previous = equal_import_bound(inputs, budget_wh, battery_state=False).pv_to_ev_wh
        below_previous += int(bound < previous - 0.5)
    assert min(margins) >= -1e-6
    assert below_previous > 0  # the battery's programme, not only the DP, bounded some
