"""The day benchmark's bounds (benchmarks/ems/bounds.py) really bound every controller.

Short synthetic days (fixed seeds) with a cloud dip: the case the old greedy "optimum" failed,
where a controller bridges the dip at 6 A with a little grid import.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import sparse  # type: ignore[import-untyped]
from scipy.optimize import Bounds, LinearConstraint, milp  # type: ignore[import-untyped]

from benchmarks.ems.bounds import (
    CarBoundSpec,
    DayInputs,
    _Day,
    equal_import_bound,
    physical_bound,
)
from benchmarks.ems.controllers import CarSpec as Spec
from benchmarks.ems.plant import BatteryModel, V
from benchmarks.ems_day import PRIORITY_SOC, Scenario, day_inputs, simulate
from custom_components.ocpp_ems.core.ems import Mode

T0, T1 = 11 * 3600, 13 * 3600


def synthetic_day(seed: int, dip_w: float) -> tuple[np.ndarray, np.ndarray]:
    """PV: a noisy 6.5 kW plateau from 10:50 to 13:10 with a 12-minute dip and short flickers;
    house: 400 W plus random appliance minutes."""
    rng = np.random.default_rng(seed)
    pv = np.zeros(1440)
    minutes = np.arange(650, 790)
    pv[minutes] = 6500.0 + rng.normal(0.0, 300.0, minutes.size)
    pv[700:712] = dip_w + rng.normal(0.0, 150.0, 12)
    for start in rng.integers(660, 780, 4):
        pv[start : start + 2] *= rng.uniform(0.3, 0.7)
    house = 400.0 + rng.choice([0.0, 0.0, 0.0, 1500.0], 1440) + rng.normal(0.0, 50.0, 1440)
    return np.clip(pv, 0.0, None), np.clip(house, 100.0, None)


SCENARIOS = [
    # 3p only: a dip to ~3 kW surplus is below the 4.1 kW minimum: bridging costs import.
    (Scenario("3p only", "synthetic", [Spec("car1", Mode.SOLAR, 3, False)]), 1, 3400.0),
    # 1p/3p car and a fast car on a 25 A fuse, battery below its priority SoC.
    (
        Scenario(
            "1p-3p + fast + battery",
            "synthetic",
            [Spec("car1", Mode.SOLAR, 3, True), Spec("fast", Mode.FAST, 3, False)],
            battery=True,
        ),
        2,
        1500.0,
    ),
]


@pytest.mark.parametrize(("sc", "seed", "dip_w"), SCENARIOS, ids=[s[0].name for s in SCENARIOS])
def test_no_controller_beats_the_bounds(sc: Scenario, seed: int, dip_w: float) -> None:
    pv, house = synthetic_day(seed, dip_w)
    if sc.battery:
        # The fast car takes 11 kW: PV alone never has a surplus; give the solar car one.
        pv = pv * 2.2
    inputs = day_inputs(sc, pv, house, T0, T1)
    physical = physical_bound(inputs)
    pv_of = {}
    for name in ("ours", "reference", "naive"):
        result = simulate(sc, name, pv, house, T0, T1)
        pv_wh = pv_of[name] = result.pv_to_ev * 1000
        # Battery energy into the car bridges a dip as import does: it counts in the budget.
        budget_wh = (result.grid_to_ev + result.battery_to_ev) * 1000
        equal = equal_import_bound(inputs, budget_wh)
        assert pv_wh <= physical.pv_to_ev_wh, name
        assert pv_wh <= equal.pv_to_ev_wh, name
        assert equal.grid_to_ev_wh <= budget_wh + 1e-6
        assert equal.pv_to_ev_wh <= physical.pv_to_ev_wh + 1e-6
    if sc.name == "3p only":
        # The old optimum's flaw: bridging the dip with import beats every zero-import schedule.
        assert pv_of["reference"] > equal_import_bound(inputs, 0.0).pv_to_ev_wh + 100.0


def test_equal_import_bound_is_monotone_and_below_the_physical_bound() -> None:
    pv, house = synthetic_day(3, 2500.0)
    sc = Scenario(
        "2 chargers", "synthetic", [Spec("a", Mode.SOLAR, 3, False), Spec("b", Mode.SOLAR, 3, True)]
    )
    inputs = day_inputs(sc, pv, house, T0, T1)
    physical = physical_bound(inputs).pv_to_ev_wh
    values = [equal_import_bound(inputs, b).pv_to_ev_wh for b in (0, 5, 20, 80, 300, 1e4, 1e9)]
    assert values == sorted(values)
    assert values[-1] <= physical + 1e-6
    assert values[0] < values[-1]
    # Without the minimum and with unlimited import, all the surplus the cars can take is reachable.
    assert values[-1] == pytest.approx(physical, rel=1e-6)


def test_battery_priority_and_fast_car_reduce_the_bound() -> None:
    pv, house = synthetic_day(4, 3000.0)
    solar = CarBoundSpec(solar=True, switchable=True)

    def inputs(scale: float, battery: BatteryModel | None, fast: bool) -> DayInputs:
        cars = (solar, CarBoundSpec(solar=False)) if fast else (solar,)
        return DayInputs(pv * scale, house, cars, battery, PRIORITY_SOC, 25.0, T0, T1)

    # Below the car's maximum the battery's 2 kWh to its priority SoC come out of the cars' PV.
    free = physical_bound(inputs(1.2, None, fast=False))
    kept = physical_bound(inputs(1.2, BatteryModel(), fast=False))
    assert free.pv_to_ev_wh - 2300.0 < kept.pv_to_ev_wh < free.pv_to_ev_wh - 1900.0
    assert kept.no_priority_wh == pytest.approx(free.pv_to_ev_wh)
    # An 11 kW fast car is served first.
    alone = physical_bound(inputs(2.5, None, fast=False)).pv_to_ev_wh
    assert physical_bound(inputs(2.5, None, fast=True)).pv_to_ev_wh < alone - 10000.0


def exact_per_second(surplus: np.ndarray, budget_wh: float) -> float:
    """The per-second problem of one 1p/3p car (no fuse, no start delays) as a MILP (scipy HiGHS):
    on/off in 1p or 3p each second, 6-16 A, PV credited min(surplus, power), import capped."""
    n = surplus.size
    # Variables per second: x (PV credit), p1, p3 (power), y1, y3 (on in 1p / 3p).
    x, p1, p3 = (np.arange(n) + k * n for k in range(3))
    eye = sparse.identity(n, format="csr")
    zero = sparse.csr_matrix((n, n))

    def row(coeffs: dict[str, float]) -> sparse.csr_matrix:
        return sparse.hstack([eye * coeffs.get(v, 0.0) if v in coeffs else zero for v in "xabyz"])

    inf = np.full(n, np.inf)
    blocks = [
        (row({"x": 1.0, "a": -1.0, "b": -1.0}), -inf, np.zeros(n)),  # credit <= power
        (row({"a": 1.0, "y": -6 * V}), np.zeros(n), inf),  # 1p: 6-16 A when on
        (row({"a": 1.0, "y": -16 * V}), -inf, np.zeros(n)),
        (row({"b": 1.0, "z": -18 * V}), np.zeros(n), inf),  # 3p: 6-16 A on 3 phases
        (row({"b": 1.0, "z": -48 * V}), -inf, np.zeros(n)),
        (row({"y": 1.0, "z": 1.0}), -inf, np.ones(n)),
    ]
    grid = np.zeros(5 * n)
    grid[p1] = grid[p3] = 1.0 / 3600.0
    grid[x] = -1.0 / 3600.0
    matrix = sparse.vstack([b[0] for b in blocks] + [sparse.csr_matrix(grid)])
    lo = np.concatenate([b[1] for b in blocks] + [[-np.inf]])
    hi = np.concatenate([b[2] for b in blocks] + [[budget_wh]])
    upper = np.concatenate([surplus, np.full(2 * n, 48 * V), np.ones(2 * n)])
    c = np.zeros(5 * n)
    c[x] = -1.0 / 3600.0
    integrality = np.concatenate([np.zeros(3 * n), np.ones(2 * n)])
    res = milp(
        c,
        constraints=LinearConstraint(matrix, lo, hi),
        integrality=integrality,
        bounds=Bounds(np.zeros(5 * n), upper),
    )
    assert res.success
    return float(-res.fun)


@pytest.mark.parametrize("budget_wh", [0.0, 0.1, 0.3, 1.0])
def test_knapsack_matches_the_exact_per_second_problem(budget_wh: float) -> None:
    """Over a minute of rising PV (1p minimum, 1p/3p gap, 3p), the greedy bound is at least the exact optimum and exceeds it
    by less than one second's surplus (the one fractional second)."""
    pv = np.zeros(1440)
    pv[700:702] = (900.0, 6000.0)
    house = np.full(1440, 300.0)
    inputs = DayInputs(
        pv,
        house,
        (CarBoundSpec(solar=True, switchable=True),),
        None,
        60.0,
        None,
        700 * 60,
        705 * 60,
    )
    surplus = _Day(inputs).available
    exact = exact_per_second(surplus, budget_wh)
    bound = equal_import_bound(inputs, budget_wh)
    assert exact <= bound.pv_to_ev_wh + 1e-6
    assert bound.pv_to_ev_wh - exact <= surplus.max() / 3600.0 + 1e-6
    assert bound.grid_to_ev_wh <= budget_wh + 1e-9
