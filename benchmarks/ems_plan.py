"""Plan-mode benchmark: a car plugged in the evening must have its energy by a departure the next
day; the real controller (Plan mode) charges it from cheap night slots, dear day slots and the sun,
with no forecast, a perfect forecast and noisy forecasts.

Usage: .venv/bin/python benchmarks/ems_plan.py [--out FILE] [--quick] [--history DAYS]
    [--forecast none|perfect|noisy ...] [--scenario NAME-PART] [--forecast-step-min 60|30|15]
    [--step-s S] [--response-s S]
Needs: benchmarks/requirements.txt (pvanalytics data, richardsonpy, scipy).

Model (10-second steps): the controller sees the grid meter (house + car - PV), the PV power and
the car's power and session energy every ``--step-s`` (10 s, as Home Assistant's sensors change),
and the car (16 A 3p, 11 kW; min 6 A) draws a limit ``--response-s`` (5 s) after it is written.
PV and house load are minute values, held within their minute (the yardsticks' resolution: for
any schedule the LP bound stays a bound). ``--step-s 60 --response-s 0`` is the minute model of
the figures before 2026-12-06 (a decision drawn at once for its minute: no lag, but every cloud
cost a minute at least, and the car's behaviour between minutes was not seen). PV and house traces: ``benchmarks/ems/data.py`` (a real sunny and a real cloudy day; the
synthetic days of ``benchmarks/ems/clouds.py`` when that module exists); the evening of plug-in
and the departure day both use the scenario's day.

Cost: grid energy into the car at the slot's price, PV energy into the car at the feed-in tariff
(what exporting it would have earned); energy after the target is reached (the car goes on with
surplus only) is not counted. Yardsticks, per minute with the true PV surplus (perfect
foresight), scipy HiGHS: minimise sum(price * grid + feed_in * pv) s.t. pv <= surplus,
grid + pv <= car max, sum >= target; the optimum plan adds the car's 6 A minimum (a MILP: off or
6-16 A), the bound drops it (an LP: no controller can be cheaper). Where a perfect forecast's
cost above the optimum comes from: the grid energy by tariff slot, ours and the optimum's, and
why ours drew it (a planned slot at full power, one planned at the minimum, following the sun).

Starts: the times the car goes from 0 A to charging between plug-in and departure (a restart
wears the charger's contactor, and a car takes 5-30 s to draw again, some refuse to restart): per
scenario the mean of its runs, in the summary the total over the group's runs.

Dynamic feed-in: the same runs (perfect and noisy forecasts, 16:00 departures) with PV exported
at a day-ahead feed-in price that drops below zero at midday (``feed_in_at``), costed at that
price; the plan either reads it from a feed-in price sensor (its hourly prices) or knows only its
daylight mean as the fixed feed-in option.

Forecasts are Wh per slot, as HA's energy platform gives them at the provider's resolution:
hourly by default (Forecast.Solar), ``--forecast-step-min`` 30 or 15 for finer providers (Solcast:
30 min), in the runs and their history alike (``benchmarks/ems/forecast.py``). Noisy: the whole day
is off by 20-40 % (sign and size seeded) and every hour by a further 15 % (normal), as day-ahead
forecasts are; a finer forecast's slots share their hour's error.

History: the controller learns the forecast's confidence, the house load and the share of the
surplus a car on surplus only gets from what it measures (``core/ems/plan_learning.py``, fed every
update as ``EmsDriver.step`` does); each run starts with
``--history`` days of it (default 14: the same PV day, earlier house-load days, a forecast of the
same quality with its own noise seed). "no history" runs plan with the settings alone. The
16:00 departures with a forecast run again learned from a history of the other PV days in turn
(what a site with changing weather learns), paired with the same runs learned from their own day.
"""

from __future__ import annotations

import argparse
import functools
import importlib.util
import multiprocessing
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC
from pathlib import Path
from typing import Any

import numpy as np
from scipy import sparse  # type: ignore[import-untyped]
from scipy.optimize import Bounds, LinearConstraint, milp  # type: ignore[import-untyped]

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.ems import data  # noqa: E402
from benchmarks.ems.forecast import STEPS_MIN, solar_forecast  # noqa: E402
from custom_components.ocpp_ems.core.ems import (  # noqa: E402
    ChargerInputs,
    ChargerSettings,
    EnergyManager,
    EnergySlot,
    Mode,
    PhaseReading,
    PlanSettings,
    PlanTarget,
    PriceSlot,
    Reading,
    Reason,
    SiteInputs,
    SiteSettings,
)
from custom_components.ocpp_ems.core.ems.plan_learning import PlanLearning  # noqa: E402

H = 3600.0
DT = 60.0
VOLTAGE = 230.0
MAX_A = 16.0
MIN_A = 6.0
PHASES = 3
CAR_MAX_W = MAX_A * VOLTAGE * PHASES
PLUG_IN_H = 17.0  # day 0, local time; the simulation's t = 0 is midnight of day 0
FEED_IN = 0.08  # EUR/kWh, what PV exported earns (the car's PV costs that)
# The controller updates every STEP_S (Home Assistant's sensors change every few seconds); the car
# draws a new limit RESPONSE_S after it is written (chargers: 2-15 s).
STEP_S = 10.0
RESPONSE_S = 5.0
HISTORY_DAYS = 14  # days the controller has learned from before the car plugs in (default)
# Dynamic feed-in (EUR/kWh by hour of day): a day-ahead export price, negative in the midday glut.
FEED_IN_BY_HOUR = (
    *(0.10,) * 8,  # 00-08
    *(0.06,) * 2,  # 08-10
    0.0,  # 10-11
    *(-0.03,) * 3,  # 11-14
    0.0,  # 14-15
    *(0.06,) * 2,  # 15-17
    *(0.12,) * 4,  # 17-21
    *(0.10,) * 3,  # 21-24
)
# What a user without the sensor would set as the fixed option: its daylight (06-18) mean.
FEED_IN_MEAN = round(sum(FEED_IN_BY_HOUR[6:18]) / 12, 3)
# A feed-in above the night's grid price (an old fixed feed-in tariff): the sun is worth more
# exported than the night's grid energy that could take its place.
FEED_IN_HIGH = 0.25


def feed_in_at(hour: float, curve: str) -> float:
    """What a kWh exported earns at ``hour`` on the ``curve`` ("flat": FEED_IN, "dynamic": the
    day-ahead curve, "high": FEED_IN_HIGH)."""
    if curve == "dynamic":
        return FEED_IN_BY_HOUR[int(hour % 24)]
    return FEED_IN_HIGH if curve == "high" else FEED_IN


# A dynamic tariff's shape: cheap night, dear day, peak in the evening. (label, until the hour of
# the day, EUR/kWh), in order.
TARIFF = (("00-06", 6, 0.18), ("06-17", 17, 0.32), ("17-21", 21, 0.40), ("21-24", 24, 0.28))


def tariff_slot(hour: float) -> tuple[str, float]:
    """The tariff's slot at ``hour``: its label and price (EUR/kWh)."""
    h = hour % 24
    return next((label, price) for label, until, price in TARIFF if h < until)


def price_at(hour: float) -> float:
    """The grid price at ``hour`` (EUR/kWh, ``TARIFF``)."""
    return tariff_slot(hour)[1]


@dataclass(frozen=True, eq=False)
class Day:
    name: str
    pv: np.ndarray  # W per minute, one day
    house_doy: int


@dataclass(frozen=True)
class Scenario:
    day: Day
    departure_h: float  # from midnight of day 0
    target_wh: float
    forecast: str  # "none" | "perfect" | "noisy"
    seed: int = 0
    confidence: float = PlanSettings().forecast_confidence  # the setting (the learning's prior)
    history_days: int = HISTORY_DAYS
    run_history_days: int = HISTORY_DAYS  # the run's default (``--history``): not in the label
    # "flat": FEED_IN everywhere; "sensor" / "mean": the dynamic feed-in, which the plan reads from
    # a feed-in sensor or knows only as its mean (the fixed option); "high": FEED_IN_HIGH, the
    # plan's fixed option.
    feed_in: str = "flat"
    # The history's PV days: the scenario's own day each day (False) or the other days in turn.
    mixed_history: bool = False
    forecast_step_min: int = 60  # the forecast's slot length, in the run and its history
    step_s: float = STEP_S  # the controller's update interval (the history learns per minute)
    response_s: float = RESPONSE_S  # a written limit is drawn this long after (<= step_s)

    def forecast_of(self, pv: np.ndarray, seed: int) -> tuple[EnergySlot, ...]:
        """The scenario's kind of forecast of ``pv``, at its resolution."""
        return solar_forecast(pv, self.forecast, seed, self.forecast_step_min)

    @property
    def curve(self) -> str:
        """The feed-in the run is costed at (``feed_in_at``)."""
        return "dynamic" if self.feed_in in ("sensor", "mean") else self.feed_in

    @property
    def kind(self) -> str:
        """The forecast, with the history where it is not the run's default."""
        if self.history_days == self.run_history_days:
            return self.forecast
        if self.history_days == 0:
            return f"{self.forecast} (no history: the settings)"
        return f"{self.forecast} ({self.history_days} days of history)"

    @property
    def name(self) -> str:
        dep = f"{int(self.departure_h % 24):02d}:{int(self.departure_h % 1 * 60):02d}"
        return f"{self.day.name} dep {dep} {self.target_wh / 1000:.0f} kWh"


@dataclass
class Result:
    scenario: Scenario
    delivered_wh: float
    cost: float
    pv_wh: float
    grid_wh: float
    confidence: float = 0.0  # the forecast confidence the plan started with (learned or set)
    # The grid energy into the car (Wh) by tariff slot, and by why the car drew it (``GRID_CAUSES``).
    grid_by_slot: dict[str, float] = field(default_factory=dict)
    grid_by_cause: dict[str, float] = field(default_factory=dict)
    optimum: float | None = None  # best plan with the 6 A minimum (MILP); None: infeasible
    bound: float | None = None  # LP without the minimum (a lower bound)
    optimum_grid: dict[str, float] = field(default_factory=dict)  # the optimum's, by tariff slot
    starts: int = 0  # times the car went from 0 A to charging, plug-in to departure

    @property
    def met(self) -> bool:
        return self.delivered_wh >= self.scenario.target_wh - 1.0

    @property
    def pv_share(self) -> float:
        return self.pv_wh / self.delivered_wh if self.delivered_wh else 0.0


@functools.cache
def days() -> list[Day]:
    """The real sunny and cloudy days, and synthetic ones when the cloud model is there."""
    found = [Day("sunny", data.sunny_pv(), 78), Day("cloudy", data.cloudy_pv(), 33)]
    if importlib.util.find_spec("benchmarks.ems.clouds") is not None:  # another worker's model
        from benchmarks.ems import clouds

        for regime, date, seed in (
            ("clear", "2024-06-12", 11),
            ("broken", "2024-05-02", 12),
            ("cumulus", "2024-07-20", 13),
            ("overcast", "2024-04-10", 14),
        ):
            doy = int(date[5:7]) * 30 - 30 + int(date[8:])
            pv = clouds.synthetic_pv(date, regime, seed)
            found.append(Day(f"synthetic {regime}", np.asarray(pv, dtype=float), doy))
    return found


def traces(day: Day, minutes: int) -> tuple[np.ndarray, np.ndarray]:
    """PV and house load (W per minute) from midnight of day 0, ``minutes`` long."""
    reps = minutes // data.MINUTES + 1
    pv = np.tile(day.pv, reps)[:minutes]
    house = np.concatenate([data.house_load(day.house_doy + d, seed=7) for d in range(reps)])[
        :minutes
    ]
    return pv, house


_HISTORIES: dict[tuple[str, str, int, int, bool, int], dict[str, object]] = {}


def history(sc: Scenario) -> dict[str, object]:
    """What the controller learned (``PlanLearning``) in the scenario's ``history_days`` before
    day 0 up to the plug-in: its PV day each day (``mixed_history``: the other PV days in turn,
    then the day's own morning), that many earlier house-load days, and a forecast of the same
    quality and resolution (its noise seeded apart from the scenario's own)."""
    day, seed, length = sc.day, sc.seed, sc.history_days
    key = (day.name, sc.forecast, seed, length, sc.mixed_history, sc.forecast_step_min)
    if key in _HISTORIES:
        return _HISTORIES[key]
    learning = PlanLearning()
    if length <= 0:
        return learning.to_dict()
    minutes = length * data.MINUTES + int(PLUG_IN_H * H // DT)
    others = [d.pv for d in days() if d.name != day.name] if sc.mixed_history else [day.pv]
    pv = np.concatenate([others[d % len(others)] for d in range(length)] + [day.pv])[:minutes]
    house = np.concatenate(
        [data.house_load(day.house_doy - length + d, seed=7) for d in range(length + 1)]
    )[:minutes]
    start = -length * 24 * H
    fc = tuple(
        replace(s, start=s.start + start, end=s.end + start)
        for s in sc.forecast_of(pv, seed + 1000)
    )
    for i in range(minutes):
        t = start + i * DT
        inputs = SiteInputs(
            grid_w=Reading(float(house[i] - pv[i]), t),
            pv_w=Reading(float(pv[i]), t),
            solar_forecast=fc,
        )
        learning.observe(inputs, t, UTC)
    _HISTORIES[key] = learning.to_dict()
    return _HISTORIES[key]


def prices(t0: float, t1: float) -> tuple[PriceSlot, ...]:
    return tuple(
        PriceSlot(q * 900.0, (q + 1) * 900.0, price_at(q / 4))
        for q in range(int(t0 // 900), int(t1 // 900) + 1)
    )


def feed_in_prices(t0: float, t1: float) -> tuple[PriceSlot, ...]:
    """The dynamic feed-in as a feed-in sensor publishes it (hourly slots)."""
    return tuple(
        PriceSlot(h * H, (h + 1) * H, feed_in_at(h, "dynamic"))
        for h in range(int(t0 // H), int(t1 // H) + 1)
    )


def optimum(
    surplus: np.ndarray,
    price: np.ndarray,
    feed_in: np.ndarray,
    target_wh: float,
    min_w: float = 0.0,
) -> float | None:
    """Minimal cost (EUR) to put ``target_wh`` into the car over these minutes, knowing the true
    PV surplus; None when infeasible. ``min_w`` 0: an LP (no minimum: a lower bound on any
    controller's cost); else a MILP where the car is off or between ``min_w`` and its maximum
    (the best plan a real car allows, the yardstick of the 5 % target)."""
    best = optimum_plan(surplus, price, feed_in, target_wh, min_w)
    return None if best is None else best[0]


def optimum_plan(
    surplus: np.ndarray,
    price: np.ndarray,
    feed_in: np.ndarray,
    target_wh: float,
    min_w: float = 0.0,
) -> tuple[float, np.ndarray] | None:
    """:func:`optimum`'s cost and the grid power into the car it buys per minute (W)."""
    n = len(surplus)
    e = DT / H / 1000.0  # W over a minute -> kWh
    eye = sparse.eye(n, format="csr")
    zero = sparse.csr_matrix((n, n))
    # Variables: grid W, PV W, car on (0/1) per minute.
    cost = np.concatenate([price * e, feed_in * e, np.zeros(n)])
    on = min_w > 0.0
    rows = [
        sparse.hstack([eye, eye, -CAR_MAX_W * eye if on else zero]),  # <= max when on
        sparse.hstack([-eye, -eye, min_w * eye]),  # >= min when on
        sparse.csr_matrix(np.concatenate([np.full(2 * n, DT / H), np.zeros(n)])[None, :]),
    ]
    upper = np.concatenate([np.full(n, 0.0 if on else CAR_MAX_W), np.zeros(n), [np.inf]])
    lower = np.concatenate([np.full(2 * n, -np.inf), [target_wh]])
    bounds = Bounds(
        np.zeros(3 * n),
        np.concatenate([np.full(n, CAR_MAX_W), surplus, np.full(n, 1.0 if on else 0.0)]),
    )
    res = milp(
        cost,
        constraints=LinearConstraint(sparse.vstack(rows), lower, upper),
        bounds=bounds,
        integrality=np.concatenate([np.zeros(2 * n), np.full(n, 1 if on else 0)]),
        options={"time_limit": 30.0, "mip_rel_gap": 1e-3},
    )
    return (float(res.fun), res.x[:n]) if res.status == 0 else None


@dataclass(frozen=True)
class Yardsticks:
    bound: float | None  # LP without the minimum (a lower bound); None: infeasible
    optimum: float | None  # MILP with the 6 A minimum; None: infeasible
    optimum_grid: dict[str, float]  # the optimum's grid energy into the car by tariff slot (Wh)


def optima(key: tuple[Day, float, float, str]) -> Yardsticks:
    """The LP bound and the MILP optimum (with the 6 A minimum) of one day, departure, target
    and feed-in."""
    day, departure_h, target_wh, curve = key
    i0, i1 = int(PLUG_IN_H * H // DT), int(departure_h * H // DT)
    pv, house = traces(day, i1 + 1)
    surplus = np.clip(pv[i0:i1] - house[i0:i1], 0.0, None)
    price = np.array([price_at(i * DT / H) for i in range(i0, i1)])
    feed_in = np.array([feed_in_at(i * DT / H, curve) for i in range(i0, i1)])
    best = optimum_plan(surplus, price, feed_in, target_wh, MIN_A * VOLTAGE * PHASES)
    grid: dict[str, float] = {}
    for i, grid_w in enumerate(best[1] if best is not None else ()):
        add_grid(grid, (i0 + i) * DT / H, grid_w * DT / H)
    return Yardsticks(
        optimum(surplus, price, feed_in, target_wh), None if best is None else best[0], grid
    )


def add_grid(by_slot: dict[str, float], hour: float, wh: float) -> None:
    """Adds ``wh`` of grid energy at ``hour`` to its tariff slot's sum."""
    label = tariff_slot(hour)[0]
    by_slot[label] = by_slot.get(label, 0.0) + wh


def step_inputs(
    t: float, pv_w: float, house_w: float, amps: float, session_wh: float, **site: Any
) -> SiteInputs:
    """What the controller sees at ``t``: the grid meter (house + car - PV), the PV, the car
    drawing ``amps`` on 3 phases, and ``site``'s prices and forecast."""
    car_w = amps * VOLTAGE * PHASES
    return SiteInputs(
        grid_w=Reading(house_w + car_w - pv_w, t),
        pv_w=Reading(pv_w, t),
        chargers={
            "car": ChargerInputs(
                plugged=True,
                charging=car_w > 0,
                power_w=Reading(car_w, t),
                currents_a=PhaseReading((amps, amps, amps), t),
                session_energy_wh=session_wh,
            )
        },
        **site,
    )


def simulate(sc: Scenario) -> Result:
    t0, t1 = PLUG_IN_H * H, sc.departure_h * H
    minutes = int(t1 // DT) + 1
    pv, house = traces(sc.day, minutes)
    fixed = {"dynamic": FEED_IN_MEAN, "high": FEED_IN_HIGH}.get(sc.curve, FEED_IN)
    site = SiteSettings(plan=PlanSettings(forecast_confidence=sc.confidence, feed_in_price=fixed))
    manager = EnergyManager(site, {"car": ChargerSettings(mode=Mode.PLAN, max_current_a=MAX_A)})
    # The driver's part (``EmsDriver.step``): learn from every update, plan with what is learned.
    learning = PlanLearning.from_dict(history(sc))
    started_with = learning.confidence(sc.confidence)
    manager.set_plan("car", PlanTarget(departure=t1, energy_wh=sc.target_wh))
    fc = sc.forecast_of(pv, sc.seed)
    tariff = prices(t0, t1)
    feed_in_sensor = feed_in_prices(t0, t1) if sc.feed_in == "sensor" else ()
    amps = 0.0  # what the car draws
    reason = Reason.PLAN_WAITING  # why it draws that (the decision that wrote it)
    starts = 0
    delivered = cost = pv_in = grid_in = extra = 0.0
    by_slot: dict[str, float] = {}
    by_cause: dict[str, float] = {}
    step = sc.step_s
    lag = min(sc.response_s, step)
    for k in range(int(t0 // step), int(t1 // step)):
        t = k * step
        i = int(t // DT)  # PV and house are held within their minute (the yardsticks' own)
        inputs = step_inputs(
            t,
            float(pv[i]),
            float(house[i]),
            amps,
            delivered + extra,
            prices=tariff,
            feed_in_prices=feed_in_sensor,
            solar_forecast=fc,
        )
        manager.set_site(learning.update(site, inputs, t, UTC))
        decision = manager.update(inputs, t).chargers["car"]
        new_amps = amps
        if decision.write is not None:
            new_amps = 0.0 if decision.write.paused else decision.write.current_a
        # The step that follows: the car draws the old limit for its response time, then the new.
        surplus_w = max(0.0, float(pv[i] - house[i]))
        for drawn, why, seconds in ((amps, reason, lag), (new_amps, decision.reason, step - lag)):
            if seconds <= 0.0:
                continue
            car_w = drawn * VOLTAGE * PHASES
            wh = car_w * seconds / H
            if delivered >= sc.target_wh:
                # Target reached: the car goes on with surplus only (a bonus, not the plan's cost).
                extra += wh
                continue
            sun_w = min(car_w, surplus_w)
            at = t + step - seconds
            delivered += wh
            pv_in += sun_w * seconds / H
            grid_wh = (car_w - sun_w) * seconds / H
            grid_in += grid_wh
            add_grid(by_slot, at / H, grid_wh)
            cause = grid_cause(why, drawn)
            by_cause[cause] = by_cause.get(cause, 0.0) + grid_wh
            earned = feed_in_at(at / H, sc.curve)
            cost += ((car_w - sun_w) * price_at(at / H) + sun_w * earned) * seconds / H / 1000.0
        starts += amps == 0.0 and new_amps > 0.0
        amps, reason = new_amps, decision.reason
    return Result(
        sc, delivered, cost, pv_in, grid_in, started_with, by_slot, by_cause, starts=starts
    )


# Why the car drew grid energy in a minute: a slot planned at full power (or full power because
# the time left is short), a slot planned at the minimum with the sun below it, or the car
# following the sun (a dip below the minimum before it stops, the surplus falling before it
# follows).
GRID_CAUSES = ("full", "minimum", "sun")


def grid_cause(reason: Reason, amps: float) -> str:
    """The ``GRID_CAUSES`` entry of a minute the car charged at ``amps`` for ``reason``."""
    if reason is not Reason.PLANNED_SLOT:
        return "sun"
    return "full" if amps >= MAX_A else "minimum"


def scenarios(quick: bool, history_days: int = HISTORY_DAYS) -> list[Scenario]:
    out = []
    seeds = range(1, 3) if quick else range(1, 5)
    for day in days():
        for departure_h, target in (
            (24 + 16.0, 30000.0),
            (24 + 16.0, 50000.0),
            (24 + 7.5, 30000.0),
        ):
            base = Scenario(
                day,
                departure_h,
                target,
                "none",
                history_days=history_days,
                run_history_days=history_days,
            )
            out.append(base)
            out.append(replace(base, forecast="perfect"))
            out.append(replace(base, forecast="perfect", history_days=0))
            out += [replace(base, forecast="noisy", seed=s) for s in seeds]
    return out


def _pct(value: float) -> str:
    return f"{value * 100:.1f} %"


def _excess(r: Result) -> float:
    """Cost above the optimum, in % of it."""
    assert r.optimum is not None
    return (r.cost - r.optimum) / r.optimum if r.optimum > 0 else 0.0


def table(results: list[Result], key: Callable[[Result], str]) -> list[str]:
    lines = [
        "| scenario, forecast | runs | met | cost EUR (mean) | optimum EUR | LP bound EUR | "
        "vs optimum mean | vs optimum worst | PV share | grid kWh | starts (mean) |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    groups: dict[str, list[Result]] = {}
    for r in results:
        groups.setdefault(key(r), []).append(r)
    for name, rs in groups.items():
        feasible = [r for r in rs if r.optimum is not None]
        met = sum(r.met for r in feasible)
        excess = [_excess(r) for r in feasible]
        lines.append(
            f"| {name} | {len(rs)} | {met}/{len(feasible)} | "
            f"{np.mean([r.cost for r in rs]):.2f} | "
            f"{np.mean([r.optimum for r in feasible]):.2f} | "
            f"{np.mean([r.bound for r in feasible]):.2f} | "
            f"+{_pct(float(np.mean(excess)))} | +{_pct(max(excess))} | "
            f"{_pct(float(np.mean([r.pv_share for r in rs])))} | "
            f"{np.mean([r.grid_wh for r in rs]) / 1000:.1f} | "
            f"{np.mean([r.starts for r in rs]):.1f} |"
        )
    return lines


def _feasible_groups[K: (str, tuple[str, str])](
    results: list[Result], key: Callable[[Result], K]
) -> list[tuple[K, list[Result]]]:
    """The runs with an optimum, grouped by ``key``, in the key's order."""
    groups: dict[K, list[Result]] = {}
    for r in results:
        if r.optimum is not None:
            groups.setdefault(key(r), []).append(r)
    return sorted(groups.items())


def mixed_history_section(mixed: list[Result], same_day: list[Result]) -> list[str]:
    """The 16:00 departures with a forecast, learned from a history of the other PV days, against
    the same runs learned from their own day (paired by scenario)."""

    def run(r: Result) -> tuple[str, str, int, int]:
        return (r.scenario.name, r.scenario.forecast, r.scenario.seed, r.scenario.history_days)

    own = {run(r): r for r in same_day}
    lines = [
        "",
        "## History of mixed days (16:00 departures, perfect and noisy forecasts)",
        "",
        "The same runs, but the 14 days learned from before the plug-in cycle through the other "
        "five PV days (a site's weather changes from day to day), so what is learned (confidence, "
        "house load, sun capture and what holding the minimum through dips adds) is not that "
        "day's own. *vs own day*: the mean difference in cost to the same run learned from its own "
        "day (% of the optimum).",
        "",
        "| forecast | runs | met | cost vs optimum mean | worst | within 5 % | PV share | "
        "vs own day |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for forecast_kind, rs in _feasible_groups(mixed, lambda r: r.scenario.forecast):
        excess = [_excess(r) for r in rs]
        paired = [_excess(r) - _excess(own[run(r)]) for r in rs]
        lines.append(
            f"| {forecast_kind} | {len(rs)} | {sum(r.met for r in rs)}/{len(rs)} | "
            f"+{_pct(float(np.mean(excess)))} | +{_pct(max(excess))} | "
            f"{sum(x <= 0.05 for x in excess)}/{len(rs)} | "
            f"{_pct(float(np.mean([r.pv_share for r in rs])))} | "
            f"{float(np.mean(paired)) * 100:+.1f} points |"
        )
    return lines


def grid_section(results: list[Result]) -> list[str]:
    """Where a perfect forecast's runs buy their grid energy, against the optimum: by tariff
    slot, and why the car drew it (``GRID_CAUSES``)."""
    labels = [label for label, _until, _price in TARIFF]
    lines = [
        "",
        "## Where the cost above the optimum comes from (perfect forecasts)",
        "",
        "The grid energy into the car (kWh) by tariff slot, ours / the optimum's, and why ours "
        "drew it: *full*, a slot planned at full power (or full power as the time left is "
        "short); *minimum*, a slot planned at the minimum, the sun below it or in a dip; *sun*, "
        "the car following the sun (a dip below its minimum before it stops, the surplus falling "
        "before it follows). Both deliver the target, so each kWh of grid "
        f"more costs its price less the {FEED_IN} EUR/kWh the sun it replaces earns exported.",
        "",
        "| scenario, forecast | above optimum EUR | "
        + " | ".join(f"{label} ours / opt" for label in labels)
        + " | ours by cause: full / minimum / sun |",
        "|---|---|" + "---|" * len(labels) + "---|",
    ]
    for r in results:
        if r.scenario.forecast != "perfect" or r.optimum is None:
            continue
        slots = " | ".join(
            f"{r.grid_by_slot.get(label, 0.0) / 1000:.1f} / "
            f"{r.optimum_grid.get(label, 0.0) / 1000:.1f}"
            for label in labels
        )
        causes = " / ".join(f"{r.grid_by_cause.get(c, 0.0) / 1000:.2f}" for c in GRID_CAUSES)
        lines.append(
            f"| {r.scenario.name}, {r.scenario.kind} | {r.cost - r.optimum:+.2f} | {slots} | "
            f"{causes} |"
        )
    return lines


def feed_in_section(results: list[Result]) -> list[str]:
    """The dynamic feed-in runs: the plan with the feed-in sensor against the plan that knows only
    its mean, both costed at the dynamic price, each against its optimum."""
    curve = ", ".join(
        f"{h:02d}: {p:+.2f}"
        for h, p in enumerate(FEED_IN_BY_HOUR)
        if h in (0, 8, 10, 11, 14, 15, 17, 21)
    )
    lines = [
        "",
        "## Dynamic feed-in (16:00 departures, perfect and noisy forecasts)",
        "",
        f"PV exported earns a day-ahead feed-in price by hour ({curve} EUR/kWh from that hour on); "
        "the car's PV and the optimum are costed at it. *sensor*: the plan reads those prices from a "
        f"feed-in price sensor; *mean*: it knows only their 06-18 mean, {FEED_IN_MEAN} EUR/kWh, as the "
        "fixed feed-in option.",
        "",
        "Costs can be negative (midday PV earns the car money), so the excess is given in EUR, "
        "not in % of the optimum.",
        "",
        "| forecast | feed-in the plan sees | runs | met | cost EUR (mean) | optimum EUR (mean) | "
        "above optimum EUR (mean) | worst | PV share |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for (forecast_kind, feed_in), rs in _feasible_groups(
        results, lambda r: (r.scenario.forecast, r.scenario.feed_in)
    ):
        above = [r.cost - (r.optimum or 0.0) for r in rs]
        lines.append(
            f"| {forecast_kind} | {feed_in} | {len(rs)} | {sum(r.met for r in rs)}/{len(rs)} | "
            f"{np.mean([r.cost for r in rs]):.3f} | {np.mean([r.optimum for r in rs]):.3f} | "
            f"{np.mean(above):+.3f} | {max(above):+.3f} | "
            f"{_pct(float(np.mean([r.pv_share for r in rs])))} |"
        )
    return lines


def high_feed_in_section(results: list[Result]) -> list[str]:
    """The runs whose fixed feed-in (the plan's option) is above the night's grid price."""
    lines = [
        "",
        "## Feed-in above the night's price (16:00 departures, perfect and noisy forecasts)",
        "",
        f"PV exported earns {FEED_IN_HIGH} EUR/kWh (an old fixed feed-in tariff; the plan's "
        "feed-in option), more than the night's grid (0.18): the cheapest plan buys the night's "
        "grid and exports the sun. The car's PV and the optimum are costed at it.",
        "",
        "| forecast | runs | met | cost EUR (mean) | optimum EUR (mean) | above optimum EUR (mean) "
        "| vs optimum mean | worst | PV share |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for forecast_kind, rs in _feasible_groups(results, lambda r: r.scenario.forecast):
        above = [r.cost - (r.optimum or 0.0) for r in rs]
        lines.append(
            f"| {forecast_kind} | {len(rs)} | {sum(r.met for r in rs)}/{len(rs)} | "
            f"{np.mean([r.cost for r in rs]):.3f} | {np.mean([r.optimum for r in rs]):.3f} | "
            f"{np.mean(above):+.3f} | +{_pct(float(np.mean([_excess(r) for r in rs])))} | "
            f"+{_pct(max(_excess(r) for r in rs))} | "
            f"{_pct(float(np.mean([r.pv_share for r in rs])))} |"
        )
    return lines


def add_step_arguments(parser: argparse.ArgumentParser) -> None:
    """``--step-s`` and ``--response-s``: the step model (``STEP_S``, ``RESPONSE_S``)."""
    parser.add_argument(
        "--step-s",
        type=float,
        default=STEP_S,
        help=f"the controller's update interval, a divisor of 60 s (default {STEP_S:g})",
    )
    parser.add_argument(
        "--response-s",
        type=float,
        default=RESPONSE_S,
        help=f"the car draws a written limit this long after, <= --step-s (default {RESPONSE_S:g})",
    )


def parse_step_arguments(parser: argparse.ArgumentParser) -> argparse.Namespace:
    """The arguments, the step model's checked (:func:`add_step_arguments`)."""
    args = parser.parse_args()
    if DT % args.step_s or not 0.0 <= args.response_s <= args.step_s:
        parser.error("--step-s must divide 60 and --response-s lie within 0 and --step-s")
    return args


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default=str(ROOT / "benchmarks/results/ems_plan.md"))
    parser.add_argument("--quick", action="store_true", help="2 noise seeds instead of 4")
    parser.add_argument("--jobs", type=int, default=2, help="parallel processes")
    parser.add_argument(
        "--history",
        type=int,
        default=HISTORY_DAYS,
        help="days the controller learned from before the plug-in (0: the settings only)",
    )
    parser.add_argument(
        "--forecast",
        action="append",
        choices=("none", "perfect", "noisy"),
        help="run only this forecast kind (repeatable; default: all)",
    )
    parser.add_argument(
        "--scenario",
        help="run only the scenarios whose name contains this (e.g. 'cloudy dep 16:00 30 kWh')",
    )
    parser.add_argument(
        "--forecast-step-min",
        type=int,
        choices=STEPS_MIN,
        default=60,
        help="the solar forecast's slot length in minutes (default 60: hourly, as Forecast.Solar)",
    )
    add_step_arguments(parser)
    args = parse_step_arguments(parser)
    started = time.monotonic()
    runs = [
        replace(
            sc,
            forecast_step_min=args.forecast_step_min,
            step_s=args.step_s,
            response_s=args.response_s,
        )
        for sc in scenarios(args.quick, args.history)
        if (args.forecast is None or sc.forecast in args.forecast)
        and (args.scenario is None or args.scenario in sc.name)
    ]
    # The sweep: noisy forecasts of the departures the sun can help (not the morning one), with
    # less history (0: the settings, 70 % and 500 W).
    noisy = [sc for sc in runs if sc.forecast == "noisy" and sc.departure_h % 24 > 12]
    lengths = [d for d in (0, 3, 7) if d != args.history]
    sweep = [replace(sc, history_days=d) for d in lengths for sc in noisy]
    # Dynamic feed-in: the afternoon departures with a forecast and the run's history, with the
    # sensor and with its mean.
    forecast_runs = [
        sc
        for sc in runs
        if sc.forecast in ("perfect", "noisy")
        and sc.departure_h % 24 > 12
        and sc.history_days == args.history
    ]
    dynamic = [replace(sc, feed_in=kind) for kind in ("sensor", "mean") for sc in forecast_runs]
    high = [replace(sc, feed_in="high") for sc in forecast_runs]
    # The same runs learned from a history of the other PV days (a real site's two weeks).
    mixed = [replace(sc, mixed_history=True) for sc in forecast_runs]

    # Two processes (the machine's cores); each run is independent.
    def key(sc: Scenario) -> tuple[str, float, float, str]:
        return (sc.day.name, sc.departure_h, sc.target_wh, sc.curve)

    keys = list({key(sc): sc for sc in runs + dynamic + high}.values())
    with multiprocessing.get_context("fork").Pool(args.jobs) as pool:
        best = pool.map(optima, [(sc.day, sc.departure_h, sc.target_wh, sc.curve) for sc in keys])
        done = pool.map(simulate, runs + sweep + dynamic + high + mixed, chunksize=4)
    yardsticks = {key(sc): b for sc, b in zip(keys, best, strict=True)}
    for r in done:
        sticks = yardsticks[key(r.scenario)]
        r.bound, r.optimum, r.optimum_grid = sticks.bound, sticks.optimum, sticks.optimum_grid
    groups: list[list[Result]] = []
    for group in (runs, sweep, dynamic, high, mixed):
        groups.append(done[: len(group)])
        done = done[len(group) :]
    results, sensitivity, with_feed_in, above_night, mixed_results = groups
    feasible = [r for r in results if r.optimum is not None]
    by_kind: dict[str, list[Result]] = {}
    for r in feasible:
        by_kind.setdefault(r.scenario.kind, []).append(r)
    lines = [
        "# Plan mode: departure met, cost and PV share (benchmarks/ems_plan.py)",
        "",
        f"{len(results)} runs ({len(feasible)} feasible) + {len(sensitivity)} for the history "
        f"sweep + {len(mixed_results)} with a history of mixed days + {len(with_feed_in)} with a "
        f"dynamic feed-in + {len(above_night)} with a feed-in above the night's price, "
        f"{time.monotonic() - started:.0f} s. Solar forecasts in {args.forecast_step_min}-min "
        f"slots. The controller updates every {args.step_s:g} s, the car draws a limit "
        f"{args.response_s:g} s after it is written; PV and house load are minute values. "
        "Car 11 kW (16 A 3p), plugged in at 17:00, "
        f"tariff {' / '.join(f'{price:.2f} ({label})' for label, _, price in TARIFF)} EUR/kWh, "
        "PV into the "
        f"car valued at the feed-in {FEED_IN} EUR/kWh (the plan's feed-in price setting). Optimum: the cheapest plan with perfect "
        "foresight of the true PV surplus and the car's 6 A minimum (MILP per minute); LP bound: "
        "the same without the minimum.",
        "",
        f"History: before the plug-in the controller learned (``plan_learning.py``) from "
        f"{args.history} days of the same PV day with that many earlier house-load days and a "
        "forecast of the same quality (noise seeded apart from the scenario's): the forecast "
        "confidence (a low quantile of the days' measured / forecast PV) and what the forecast "
        "usually turns out to be (their median, which ranks slots at the minimum), the house load by "
        "hour of day and the share of the surplus a car on surplus only gets within the quarter "
        "hours and, per Wh of it, the sun such a car misses there and the grid a car held at its "
        "minimum draws in the dips (``sun_capture.py``: a virtual car with the car's minimum run "
        "over the measured surplus; the same PV day each day, so it is that day's share). Without "
        "history (or with "
        "less than 3 days) a plan uses the settings: "
        f"confidence {PlanSettings().forecast_confidence:.0%}, house load "
        f"{PlanSettings().house_load_w:.0f} W, all of the surplus.",
        "",
        "## Summary (feasible runs)",
        "",
        "*starts*: the times the car went from 0 A to charging between plug-in and departure, "
        "the total over the runs (per scenario below: the mean of its runs).",
        "",
        "| forecast | runs | departure met | cost vs optimum mean | worst | within 5 % | PV share | "
        "starts |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for kind, rs in by_kind.items():
        excess = [_excess(r) for r in rs]
        lines.append(
            f"| {kind} | {len(rs)} | {sum(r.met for r in rs)}/{len(rs)} | "
            f"+{_pct(float(np.mean(excess)))} | +{_pct(max(excess))} | "
            f"{sum(x <= 0.05 for x in excess)}/{len(rs)} | "
            f"{_pct(float(np.mean([r.pv_share for r in rs])))} | {sum(r.starts for r in rs)} |"
        )
    lines += ["", "## Per scenario", ""]
    lines += table(results, lambda r: f"{r.scenario.name}, {r.scenario.kind}")
    lines += [
        "",
        "## History (noisy forecasts, 16:00 departures)",
        "",
        "| days of history | runs | met | cost vs optimum mean | worst | PV share | "
        "confidence (mean) |",
        "|---|---|---|---|---|---|---|",
    ]
    default = [
        r for r in results if r.scenario.forecast == "noisy" and r.scenario.departure_h % 24 > 12
    ]
    for length in sorted({r.scenario.history_days for r in sensitivity + default}):
        rs = [r for r in sensitivity + default if r.scenario.history_days == length]
        rs = [r for r in rs if r.optimum is not None]
        excess = [_excess(r) for r in rs]
        lines.append(
            f"| {length} | {len(rs)} | {sum(r.met for r in rs)}/{len(rs)} | "
            f"+{_pct(float(np.mean(excess)))} | +{_pct(max(excess))} | "
            f"{_pct(float(np.mean([r.pv_share for r in rs])))} | "
            f"{_pct(float(np.mean([r.confidence for r in rs])))} |"
        )
    lines += grid_section(results)
    lines += mixed_history_section(mixed_results, results)
    lines += feed_in_section(with_feed_in)
    lines += high_feed_in_section(above_night)
    Path(args.out).write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
