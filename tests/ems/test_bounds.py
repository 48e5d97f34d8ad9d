"""The day benchmark's bounds (benchmarks/ems/bounds.py) really bound every controller.

Short synthetic days (fixed seeds) with a cloud dip: the case the old greedy "optimum" failed,
where a controller bridges the dip at 6 A with a little grid import. The equal-import bound's
dynamic programme is checked against exact MILPs (scipy HiGHS) of the per-car problem with start
delays, and against the knapsack it replaced.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pytest
from scipy import sparse  # type: ignore[import-untyped]
from scipy.optimize import Bounds, LinearConstraint, milp  # type: ignore[import-untyped]

from benchmarks.ems.bounds import (
    CarBoundSpec,
    DayInputs,
    _Day,
    equal_import_bound,
    knapsack_bound,
    physical_bound,
)
from benchmarks.ems.controllers import CarSpec as Spec
from benchmarks.ems.plant import BatteryModel, Car, ChargerModel, Command, Plant, V
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
    day = day_inputs(sc, pv, house, T0, T1)
    pv_of = {}
    for name in ("ours", "reference", "naive"):
        result = simulate(sc, name, pv, house, T0, T1)
        # Each run's own bounds: what its discharge cap held back from the house counts.
        inputs = replace(day, battery_held_w=result.battery_held_w)
        physical = physical_bound(inputs)
        pv_wh = pv_of[name] = result.pv_to_ev * 1000
        # Battery energy into the car bridges a dip as import does: it counts in the budget.
        budget_wh = (result.grid_to_ev + result.battery_to_ev) * 1000
        equal = equal_import_bound(inputs, budget_wh)
        assert pv_wh <= physical.pv_to_ev_wh, name
        assert pv_wh <= equal.pv_to_ev_wh, name
        assert equal.grid_to_ev_wh <= budget_wh + 1e-6
        assert equal.pv_to_ev_wh <= physical.pv_to_ev_wh + 1e-6
        # The start delays only take away: never above the knapsack that dropped them.
        assert equal.pv_to_ev_wh <= knapsack_bound(inputs, budget_wh).pv_to_ev_wh + 1e-6
        # The battery's SoC as a state only takes away: never above the DP alone.
        alone = equal_import_bound(inputs, budget_wh, battery_state=False).pv_to_ev_wh
        assert equal.pv_to_ev_wh <= alone + 1e-6
    if sc.name == "3p only":
        # The old optimum's flaw: bridging the dip with import beats every zero-import schedule.
        assert pv_of["reference"] > equal_import_bound(day, 0.0).pv_to_ev_wh + 100.0


def test_the_battery_gives_the_house_its_deficit_unless_a_run_held_it_back() -> None:
    """The battery starts at 62 %, above its priority SoC (60 %); the house draws 1 kW for the
    first 40 minutes of no sun, then 8 kW of sun come. The battery gives the house 0.67 kWh and
    falls below 60 %: it takes its priority share of the sun first, in the bound as in any run
    that lets it. A run whose discharge cap holds the battery back from the house (the house
    imports instead) keeps it above 60 % and gives the car all the sun: the plant records what it
    held back, and with that the bound is one for this run too; without it, not."""
    minutes = np.arange(1440)
    hour = 11 * 60
    pv = np.where((minutes >= hour + 40) & (minutes < hour + 120), 8000.0, 0.0)
    house = np.where(minutes < hour + 40, 1000.0, 100.0)
    car = CarBoundSpec(solar=True)
    inputs = DayInputs(pv, house, (car,), BatteryModel(soc=62.0), PRIORITY_SOC, None, T0, T0 + 7200)
    kept = physical_bound(replace(inputs, battery=None)).pv_to_ev_wh
    bound = physical_bound(inputs).pv_to_ev_wh
    # Down to 55 % (0.67 kWh for the house, 0.7 kWh from its cells); its share back up to 60 %
    # (0.5 kWh into its cells, 0.53 kWh of sun) comes off the car's sun.
    assert kept - 600.0 < bound < kept - 450.0

    charger = ChargerModel("car", 3, 1, Car())
    plant = Plant(
        pv=pv,
        house=house,
        chargers=[charger],
        battery=BatteryModel(soc=62.0),
        fuse_a=None,
        solar_ids={"car"},
    )
    plant.discharge_limit_w = 0.0  # a cap that holds the battery back from the house as well
    charger.write(float(T0), Command(16.0, 3, False))
    for t in range(T0, T0 + 7200):
        plant.step(float(t))
    assert plant.battery is not None
    assert plant.battery.soc > PRIORITY_SOC
    # All of the house's deficit (1 kW until the sun ramps up in the 40th minute).
    day = _Day(inputs)
    deficit_wh = np.maximum(0.0, day.house - day.pv).sum() / 3600.0
    assert plant.flows.battery_held_from_house == pytest.approx(deficit_wh, rel=1e-3)
    assert 640.0 < deficit_wh < 667.0
    assert plant.flows.pv_to_ev > bound + 150.0  # beats the bound that assumes the house got it
    held = replace(inputs, battery_held_w=np.asarray(plant.battery_held_w))
    assert plant.flows.pv_to_ev <= physical_bound(held).pv_to_ev_wh
    assert physical_bound(held).pv_to_ev_wh == pytest.approx(kept, rel=1e-3)


def test_equal_import_bound_is_monotone_and_below_the_physical_bound() -> None:
    pv, house = synthetic_day(3, 2500.0)
    sc = Scenario(
        "2 chargers", "synthetic", [Spec("a", Mode.SOLAR, 3, False), Spec("b", Mode.SOLAR, 3, True)]
    )
    inputs = day_inputs(sc, pv, house, T0, T1)
    physical = physical_bound(inputs).pv_to_ev_wh
    budgets = (0, 5, 20, 80, 300, 1e4, 1e9)
    values = [equal_import_bound(inputs, b).pv_to_ev_wh for b in budgets]
    assert values == sorted(values)
    knapsack = [knapsack_bound(inputs, b).pv_to_ev_wh for b in budgets]
    assert all(v <= k + 1e-6 for v, k in zip(values, knapsack, strict=True))
    assert values[-1] <= physical + 1e-6
    assert values[0] < values[-1]
    # With unlimited import the minimum costs nothing: all the surplus the cars can take but for
    # the start delay at the beginning (the cars are paused at t0).
    day = _Day(inputs)
    delayed = np.minimum(day.available, day.pmax_relaxed)[: day.min_gap()].sum() / 3600.0
    assert delayed > 5.0
    assert values[-1] == pytest.approx(physical - delayed, rel=1e-6)


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


@dataclass(frozen=True)
class MilpBattery:
    """The plant's battery in ``exact_schedule``, per second of the day (``_Day``'s arrays)."""

    start_wh: float  # the cells' energy at t0
    priority_wh: float
    capacity_wh: float
    max_w: float
    efficiency: float
    owed_w: np.ndarray  # what it gives the house at each step (it never runs empty here)

    @classmethod
    def of(cls, inputs: DayInputs) -> MilpBattery:
        battery = inputs.battery
        assert battery is not None
        cap = battery.capacity_wh
        return cls(
            battery.soc / 100.0 * cap,
            inputs.priority_soc / 100.0 * cap,
            cap,
            battery.max_w,
            battery.efficiency,
            _Day(inputs).battery_owed_w(),
        )


def exact_schedule(
    surplus: np.ndarray,
    switchable: list[bool],
    start_delay_s: int,
    budget_wh: float,
    battery: MilpBattery | None = None,
) -> float:
    """Most PV into 6-16 A cars (no fuse) with at most ``budget_wh`` of import, as a MILP (scipy
    HiGHS): each second each car is off, 1p (if ``switchable``) or 3p; PV credited is
    min(surplus, power). A car that starts drawing at t drew nothing for ``start_delay_s`` s
    before, and none before ``start_delay_s`` (paused at the start); 0 drops the delays. Like the
    DP, a 1p/3p switch costs nothing (the plant's switch pause is a relaxed gap).

    With a ``battery`` (``surplus``: before its priority): its cells' energy E is a variable.
    Step t charges it with what the cars left of second t - 1's surplus (eta x at most its
    maximum power; a battery that charges less only holds the cars back more) and drains
    ``owed_w[t]`` / eta; a second that starts below the priority SoC (binary ``z``) leaves the
    battery its share, min(maximum power, surplus), before the cars."""
    n, d = surplus.size, start_delay_s
    names: list[tuple[str, int, int]] = [("x", 0, t) for t in range(n)]  # PV credit
    if battery is not None:
        names += [(kind, 0, t) for kind in ("E", "b", "z") for t in range(n)]
    for i, switch in enumerate(switchable):
        for kind in ("y1", "p1") if switch else ():
            names += [(kind, i, t) for t in range(n)]
        names += [(kind, i, t) for kind in ("y3", "p3", "w") for t in range(n)]
    index = {name: k for k, name in enumerate(names)}
    rows: list[dict[int, float]] = []
    lo: list[float] = []
    hi: list[float] = []

    def add(coeffs: dict[tuple[str, int, int], float], low: float, high: float) -> None:
        rows.append({index[k]: v for k, v in coeffs.items()})
        lo.append(low)
        hi.append(high)

    def on(i: int, t: int) -> dict[tuple[str, int, int], float]:
        return {(y, i, t): 1.0 for y in ("y1", "y3") if (y, i, t) in index}

    for t in range(n):
        power = {(p, i, t): -1.0 for p in ("p1", "p3") for i in range(len(switchable))}
        add({("x", 0, t): 1.0, **{k: v for k, v in power.items() if k in index}}, -np.inf, 0.0)
    for i in range(len(switchable)):
        for t in range(n):
            for p, y, phases in (("p1", "y1", 1), ("p3", "y3", 3)):
                if (p, i, t) in index:
                    add({(p, i, t): 1.0, (y, i, t): -6.0 * V * phases}, 0.0, np.inf)
                    add({(p, i, t): 1.0, (y, i, t): -16.0 * V * phases}, -np.inf, 0.0)
            add(on(i, t), 0.0, 1.0)
            if d:
                # w: the car stops at t (w >= on(t-1) - on(t)); it stays off d s after a stop
                # (the tight minimum-down-time form of unit commitment).
                before = dict.fromkeys(on(i, t - 1), -1.0)
                add({("w", i, t): 1.0, **dict.fromkeys(on(i, t), 1.0), **before}, 0.0, np.inf)
                stops = {("w", i, j): 1.0 for j in range(max(0, t - d + 1), t + 1)}
                add({**stops, **on(i, t)}, -np.inf, 1.0)
    grid = {k: 1.0 / 3600.0 for k in index if k[0] in ("p1", "p3")}
    add({**grid, **{("x", 0, t): -1.0 / 3600.0 for t in range(n)}}, -np.inf, budget_wh)
    upper_of = {"x": surplus, "E": np.full(n, 0.0), "b": np.full(n, 0.0), "z": np.ones(n)}
    if battery is not None:
        eta = battery.efficiency
        share = np.minimum(surplus, battery.max_w)
        upper_of["E"][:] = battery.capacity_wh
        upper_of["b"][:] = battery.max_w
        add({("E", 0, 0): 1.0}, battery.start_wh, battery.start_wh)
        for t in range(n):
            if t + 1 < n:
                charge = {("b", 0, t - 1): -eta / 3600.0} if t else {}
                drain = -battery.owed_w[t] / eta / 3600.0
                add({("E", 0, t + 1): 1.0, ("E", 0, t): -1.0, **charge}, drain, drain)
            add({("b", 0, t): 1.0, ("x", 0, t): 1.0}, -np.inf, surplus[t])
            # z = 0 (above the priority SoC) only where E >= the priority SoC.
            add({("E", 0, t): 1.0, ("z", 0, t): battery.priority_wh}, battery.priority_wh, np.inf)
            add({("x", 0, t): 1.0, ("z", 0, t): share[t]}, -np.inf, surplus[t])
    matrix = sparse.lil_matrix((len(rows), len(names)))
    for r, row in enumerate(rows):
        for k, v in row.items():
            matrix[r, k] = v
    upper = np.array(
        [
            upper_of[kind][t]
            if kind in upper_of
            else (0.0 if t < d else 1.0)
            if kind[0] in "yw"
            else 48 * V
            for kind, _, t in names
        ]
    )
    c = np.array([-1.0 / 3600.0 if kind == "x" else 0.0 for kind, _, _ in names])
    res = milp(
        c,
        constraints=LinearConstraint(matrix.tocsr(), np.array(lo), np.array(hi)),
        integrality=np.array([1 if kind[0] in "yz" else 0 for kind, _, _ in names]),
        bounds=Bounds(np.zeros(len(names)), upper),
    )
    assert res.success
    return float(-res.fun)


def rising_minute(cars: int) -> DayInputs:
    """A minute of rising PV: 1p minimum, the 1p/3p gap, then 3p; 1p/3p cars, 5 s start delay."""
    pv = np.zeros(1440)
    pv[700:702] = (900.0, 6000.0)
    solar = CarBoundSpec(solar=True, switchable=True)
    house = np.full(1440, 300.0)
    return DayInputs(pv, house, (solar,) * cars, None, 60.0, None, 700 * 60, 705 * 60)


@pytest.mark.parametrize("budget_wh", [0.0, 0.1, 0.3, 1.0])
def test_knapsack_matches_the_exact_per_second_problem(budget_wh: float) -> None:
    """Without start delays, the knapsack (the previous bound) is at least the exact optimum and
    exceeds it by less than one second's surplus (the one fractional second)."""
    inputs = rising_minute(1)
    surplus = _Day(inputs).available
    exact = exact_schedule(surplus, [True], 0, budget_wh)
    bound = knapsack_bound(inputs, budget_wh)
    assert exact <= bound.pv_to_ev_wh + 1e-6
    assert bound.pv_to_ev_wh - exact <= surplus.max() / 3600.0 + 1e-6
    assert bound.grid_to_ev_wh <= budget_wh + 1e-9


def dip_day(cars: int, minutes: int = 10, dips: tuple[int, ...] = (5,)) -> DayInputs:
    """``minutes`` of 6 kW surplus from 10:00 with 60 s dips to 3 kW (one-minute 3 kW house
    loads at these minutes), under the 3p cars' 4.14 kW minimum; start delay 90 s, longer than
    a dip."""
    pv = np.zeros(1440)
    pv[590 : 611 + minutes] = 6000.0
    house = np.zeros(1440)
    house[[600 + m for m in dips]] = 3000.0
    car = CarBoundSpec(solar=True, start_delay_s=90.0)
    return DayInputs(pv, house, (car,) * cars, None, 60.0, None, 600 * 60, (600 + minutes) * 60)


EXACT_CASES = [
    # (day, cars, budget Wh): the rising minute (5 s delay), two dips 60 s apart (90 s delay).
    *[("rising", 1, b) for b in (0.0, 0.1, 1.0)],
    *[("rising", 2, b) for b in (0.0, 1.0)],
    *[("dips", 1, b) for b in (0.0, 10.0, 19.0, 38.0)],
    *[("dips", 2, b) for b in (0.0, 19.0, 38.0)],
]


@pytest.mark.parametrize(("day", "cars", "budget_wh"), EXACT_CASES)
def test_dp_bounds_the_exact_problem_with_start_delays(
    day: str, cars: int, budget_wh: float
) -> None:
    """Per car, exactly (MILP): the DP's dual is at least the optimum, equal to it without import
    (no duality gap at an infinite price), and at most the knapsack."""
    inputs = rising_minute(cars) if day == "rising" else dip_day(cars, 6, (2, 4))
    delay = 5 if day == "rising" else 90
    surplus = _Day(inputs).available
    exact = exact_schedule(surplus, [day == "rising"] * cars, delay, budget_wh)
    bound = equal_import_bound(inputs, budget_wh)
    assert exact <= bound.pv_to_ev_wh + 1e-6
    if budget_wh == 0.0:
        assert bound.pv_to_ev_wh == pytest.approx(exact, abs=1e-6)
    assert bound.grid_to_ev_wh <= budget_wh + 1e-9
    assert bound.pv_to_ev_wh <= knapsack_bound(inputs, budget_wh).pv_to_ev_wh + 1e-6


def test_a_dip_shorter_than_the_start_delay() -> None:
    """One car from 90 s on (paused at the start): bridging the dip costs (4140 - 3000) W x 60 s
    = 19 Wh for 6 kW x 210 s + 3 kW x 60 s + 6 kW x 240 s = 800 Wh; stopping loses the dip and
    30 s more (the 90 s start delay): 700 Wh. Half the import buys the dual's halfway, 750 Wh.
    Two cars stop for the dip alone: the second was warmed up before it (750 Wh). The knapsack
    bridged for free and started at once: 900 Wh, 950 Wh with the 19 Wh."""
    one, two = dip_day(1), dip_day(2)
    assert equal_import_bound(one, 0.0).pv_to_ev_wh == pytest.approx(700.0, abs=1e-6)
    assert equal_import_bound(one, 19.0).pv_to_ev_wh == pytest.approx(800.0, abs=1e-6)
    assert equal_import_bound(one, 19.0).grid_to_ev_wh == pytest.approx(19.0, abs=1e-6)
    assert equal_import_bound(one, 9.5).pv_to_ev_wh == pytest.approx(750.0, abs=0.5)
    assert equal_import_bound(two, 0.0).pv_to_ev_wh == pytest.approx(750.0, abs=1e-6)
    assert knapsack_bound(one, 0.0).pv_to_ev_wh == pytest.approx(900.0, abs=1e-6)
    assert knapsack_bound(one, 19.0).pv_to_ev_wh == pytest.approx(950.0, abs=1e-6)


def charger(*commands: tuple[float, Command]) -> list[float]:
    """The current a plant charger (no response delay, 5 s start delay) draws over 30 s."""
    model = ChargerModel("c", 3, 1, Car(), charger_delay_s=0.0, start_delay_s=5.0)
    for t, command in commands:
        model.pending.append((t, command))
    drawn = []
    for t in range(30):
        model.step(float(t))
        drawn.append(model.current_a)
    return drawn


def test_a_limit_below_the_minimum_is_a_pause() -> None:
    """IEC 61851: the car does not draw on a limit below 6 A, and the start after it (or after a
    pause) takes the start delay; a start draws the minimum at once."""
    on = Command(10.0, 3, False)
    drawn = charger((0.0, on), (10.0, Command(3.0, 3, False)), (15.0, on))
    assert drawn[:5] == [0.0] * 5  # the start delay from the initial pause
    assert drawn[5:8] == [6.0, 10.0, 10.0]  # the minimum at once, then the 5 A/s ramp
    assert drawn[10:20] == [0.0] * 10  # 3 A: off; the resume at 15 s waits until 20 s
    assert drawn[20] == 6.0
    paused = charger((0.0, on), (10.0, Command(10.0, 3, True)), (12.0, on))
    assert paused[10:17] == [0.0] * 7
    assert paused[17] == 6.0
    # Near full the car's own taper (below 6 A) is drawn on a limit of 6 A or more.
    full = ChargerModel("c", 3, 1, Car(soc=99.0), charger_delay_s=0.0, start_delay_s=0.0)
    full.pending.append((0.0, Command(16.0, 3, False)))
    full.step(0.0)
    assert 0.5 < full.current_a < 6.0
