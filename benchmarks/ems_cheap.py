"""Cheap grid price benchmark: Solar mode with and without *charge from the grid at or below*, on a
dynamic tariff, against the cheapest way to put the same energy into the car.

Usage: .venv/bin/python benchmarks/ems_cheap.py [--out FILE] [--jobs N] [--step-s S] [--response-s S]
Needs: benchmarks/requirements.txt (pvanalytics data, richardsonpy, scipy).

A car with room for ``ROOM_WH`` is plugged in at 17:00 and leaves 24 h later; the real controller
(``EnergyManager``, Solar mode) runs it on the days of ``ems_plan.py`` (a real sunny and cloudy
day, four synthetic ones) with the house load and car model of ``ems_plan.py`` (11 kW, 6 A minimum;
a full car draws nothing) and its step model: an update every ``STEP_S`` (10 s), a written limit
drawn ``RESPONSE_S`` (5 s) later, PV and house load minute values (``--step-s 60 --response-s 0``:
the minute model of before, each decision's limit drawn at once for the whole minute). The tariff
is the development setup's simulated day-ahead price (``config/configuration.yaml``: cheap night,
negative at 13:00, dear evening), the same every day, given to the controller as hourly slots as a
price sensor's forecast is. PV into the car is valued at what exporting it would have earned: the
feed-in ``ems_plan.FEED_IN``, but never more than the hour's grid price (``feed_in_at``; in the
midday glut a dynamic feed-in earns no more than the grid costs, and one meter cannot import while
it exports, so the optimum below is a schedule the site can run).

Per run: energy into the car by departure (from the sun and the grid), its cost, and the yardstick:
the cheapest way to deliver the same energy in the same 24 h with perfect foresight of the PV
surplus and the car's 6 A minimum (``ems_plan.optimum``, a MILP per minute). A threshold rule is
not a plan: it does not know tomorrow's sun, so a limit above the feed-in buys grid energy the
next day's sun would have given (that is Plan mode's job); the table shows by how much.
"""

from __future__ import annotations

import argparse
import multiprocessing
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.ems_plan import (  # noqa: E402
    DT,
    FEED_IN,
    MAX_A,
    PHASES,
    PLUG_IN_H,
    RESPONSE_S,
    STEP_S,
    VOLTAGE,
    Day,
    H,
    add_step_arguments,
    days,
    optimum,
    parse_step_arguments,
    step_inputs,
    traces,
)
from custom_components.ocpp_ems.core.ems import (  # noqa: E402
    ChargerSettings,
    EnergyManager,
    Mode,
    PriceSlot,
    SiteSettings,
)

# The development setup's simulated day-ahead price (EUR/kWh by hour of day).
PRICE_BY_HOUR = (
    *(0.14, 0.13, 0.12, 0.12, 0.12, 0.13, 0.16, 0.21, 0.24, 0.18, 0.10, 0.05),
    *(0.02, -0.01, 0.01, 0.06, 0.12, 0.20, 0.28, 0.32, 0.30, 0.24, 0.19, 0.16),
)
ROOM_WH = 40000.0  # what the car can take before it is full
STAY_H = 24.0
# Unset (Solar alone), the negative hour only, the midday glut, with its shoulder, the night.
LIMITS: tuple[float | None, ...] = (None, 0.0, 0.02, 0.05, 0.12)


def price_at(hour: float) -> float:
    return PRICE_BY_HOUR[int(hour % 24)]


def feed_in_at(hour: float) -> float:
    return min(FEED_IN, price_at(hour))


def price_slots(t0: float, t1: float) -> tuple[PriceSlot, ...]:
    return tuple(
        PriceSlot(h * H, (h + 1) * H, price_at(h)) for h in range(int(t0 // H), int(t1 // H) + 1)
    )


@dataclass(frozen=True)
class Run:
    day: Day
    limit: float | None
    step_s: float = STEP_S  # the controller's update interval (a divisor of a minute)
    response_s: float = RESPONSE_S  # a written limit is drawn this long after (<= step_s)


@dataclass
class Outcome:
    run: Run
    pv_wh: float
    grid_wh: float
    cost: float
    optimum: float | None = None  # the cheapest way to the same energy (None: none found)

    @property
    def delivered_wh(self) -> float:
        return self.pv_wh + self.grid_wh


def simulate(run: Run) -> Outcome:
    t0, t1 = PLUG_IN_H * H, (PLUG_IN_H + STAY_H) * H
    pv, house = traces(run.day, int(t1 // DT) + 1)
    manager = EnergyManager(
        SiteSettings(cheap_price=run.limit),
        {"car": ChargerSettings(mode=Mode.SOLAR, max_current_a=MAX_A)},
    )
    tariff = price_slots(t0, t1)
    amps = pv_wh = grid_wh = cost = 0.0
    step, lag = run.step_s, min(run.response_s, run.step_s)
    for k in range(int(t0 // step), int(t1 // step)):
        t = k * step
        i = int(t // DT)  # PV and house are held within their minute (the optimum's own)
        inputs = step_inputs(t, float(pv[i]), float(house[i]), amps, pv_wh + grid_wh, prices=tariff)
        decision = manager.update(inputs, t).chargers["car"]
        new_amps = amps
        if decision.write is not None:
            new_amps = 0.0 if decision.write.paused else decision.write.current_a
        # The step that follows: the car draws the old limit for its response time, then the
        # new one, until it is full.
        surplus_w = max(0.0, float(pv[i] - house[i]))
        for drawn, seconds in ((amps, lag), (new_amps, step - lag)):
            if seconds <= 0.0:
                continue
            room_w = max(0.0, ROOM_WH - pv_wh - grid_wh) * H / seconds
            car_w = min(drawn * VOLTAGE * PHASES, room_w)
            sun_w = min(car_w, surplus_w)
            at = (t + step - seconds) / H
            pv_wh += sun_w * seconds / H
            grid_wh += (car_w - sun_w) * seconds / H
            cost += ((car_w - sun_w) * price_at(at) + sun_w * feed_in_at(at)) * seconds / H / 1000
        amps = new_amps if pv_wh + grid_wh < ROOM_WH - 1e-6 else 0.0  # full: it draws nothing
    return Outcome(run, pv_wh, grid_wh, cost)


def cheapest(outcome: Outcome) -> float | None:
    """The cheapest way to deliver the outcome's energy in the same hours (perfect foresight)."""
    t0, t1 = PLUG_IN_H * H, (PLUG_IN_H + STAY_H) * H
    i0, i1 = int(t0 // DT), int(t1 // DT)
    pv, house = traces(outcome.run.day, i1 + 1)
    surplus = np.clip(pv[i0:i1] - house[i0:i1], 0.0, None)
    price = np.array([price_at(i * DT / H) for i in range(i0, i1)])
    feed_in = np.array([feed_in_at(i * DT / H) for i in range(i0, i1)])
    # A hair below what the run delivered: the MILP's own rounding must not make it infeasible.
    target = max(0.0, outcome.delivered_wh - 1.0)
    return optimum(surplus, price, feed_in, target, 6.0 * VOLTAGE * PHASES)


def _limit(limit: float | None) -> str:
    return "unset (Solar alone)" if limit is None else f"{limit:.2f}"


def report(outcomes: list[Outcome], seconds: float) -> list[str]:
    curve = ", ".join(f"{p:+.2f}" for p in PRICE_BY_HOUR)
    step, lag = outcomes[0].run.step_s, outcomes[0].run.response_s
    lines = [
        "# Cheap grid price in Solar mode (benchmarks/ems_cheap.py)",
        "",
        f"{len(outcomes)} runs, {seconds:.0f} s. A car with room for {ROOM_WH / 1000:.0f} kWh "
        f"(11 kW, 6 A minimum) plugged in at 17:00 for {STAY_H:.0f} h, Solar mode, the charge "
        "from the grid at or below price (the *limit*) unset or set. Tariff by hour from 00:00 "
        f"(EUR/kWh, every day): {curve}. PV into the car valued at the feed-in {FEED_IN} EUR/kWh, "
        "or the hour's price where that is lower (exports earn no more than the grid costs). "
        "Optimum: the cheapest way to deliver the same energy in the same 24 h with perfect "
        "foresight of the PV surplus and the car's minimum (MILP per minute). The controller "
        f"updates every {step:g} s, the car draws a limit {lag:g} s after it is written; PV and "
        "house load are minute values.",
        "",
        "## By limit (mean over the days)",
        "",
        "| limit EUR/kWh | days | energy kWh | from the sun kWh | from the grid kWh | cost EUR "
        "| EUR/kWh | optimum EUR | above optimum EUR (mean) | worst |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for limit in LIMITS:
        rs = [o for o in outcomes if o.run.limit == limit]
        above = [o.cost - o.optimum for o in rs if o.optimum is not None]
        energy = float(np.mean([o.delivered_wh for o in rs])) / 1000
        lines.append(
            f"| {_limit(limit)} | {len(rs)} | {energy:.1f} | "
            f"{np.mean([o.pv_wh for o in rs]) / 1000:.1f} | "
            f"{np.mean([o.grid_wh for o in rs]) / 1000:.1f} | "
            f"{np.mean([o.cost for o in rs]):.2f} | "
            f"{np.mean([o.cost for o in rs]) / energy if energy else 0.0:.3f} | "
            f"{np.mean([o.optimum for o in rs if o.optimum is not None]):.2f} | "
            f"{np.mean(above):+.2f} | {max(above):+.2f} |"
        )
    lines += [
        "",
        "## Per day",
        "",
        "| day | limit EUR/kWh | energy kWh | sun kWh | grid kWh | cost EUR | optimum EUR |",
        "|---|---|---|---|---|---|---|",
    ]
    for o in outcomes:
        best = "n/a" if o.optimum is None else f"{o.optimum:.2f}"
        lines.append(
            f"| {o.run.day.name} | {_limit(o.run.limit)} | {o.delivered_wh / 1000:.1f} | "
            f"{o.pv_wh / 1000:.1f} | {o.grid_wh / 1000:.1f} | {o.cost:.2f} | {best} |"
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default=str(ROOT / "benchmarks/results/ems_cheap.md"))
    parser.add_argument("--jobs", type=int, default=2, help="parallel processes")
    add_step_arguments(parser)
    args = parse_step_arguments(parser)
    started = time.monotonic()
    runs = [Run(day, limit, args.step_s, args.response_s) for day in days() for limit in LIMITS]
    with multiprocessing.get_context("fork").Pool(args.jobs) as pool:
        outcomes = pool.map(simulate, runs)
        for outcome, best in zip(outcomes, pool.map(cheapest, outcomes), strict=True):
            outcome.optimum = best
    lines = report(outcomes, time.monotonic() - started)
    Path(args.out).write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
