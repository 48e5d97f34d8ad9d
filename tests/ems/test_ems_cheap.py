"""Smoke test of benchmarks/ems_cheap.py: the real controller in Solar mode on a synthetic overcast
day, with and without a cheap grid price, against the benchmark's optimum."""

from __future__ import annotations

import pytest

from benchmarks import ems_cheap as cheap
from benchmarks.ems_plan import Day, days


@pytest.fixture(scope="module")
def overcast() -> Day:
    return next(day for day in days() if day.name == "synthetic overcast")


def test_a_cheap_price_charges_in_the_cheap_hour_only(overcast: Day) -> None:
    alone = cheap.simulate(cheap.Run(overcast, None))
    free = cheap.simulate(cheap.Run(overcast, 0.0))
    # Almost no sun: Solar alone gets a few short charges in the brightest minutes; at 0 the car
    # takes the negative hour in full (11 kW for an hour) and is paid for it.
    assert alone.delivered_wh < 0.2 * free.grid_wh
    assert free.grid_wh == pytest.approx(11040.0, rel=0.15)
    assert free.cost < 0.0
    # Nothing is cheaper than the yardstick, which is reached here (one negative hour).
    for outcome in (alone, free):
        best = cheap.cheapest(outcome)
        assert best is not None
        assert outcome.cost >= best - 1e-6
    assert free.cost == pytest.approx(cheap.cheapest(free), abs=0.02)


def test_report_has_a_row_per_limit(overcast: Day) -> None:
    outcomes = [cheap.simulate(cheap.Run(overcast, limit)) for limit in cheap.LIMITS]
    for outcome in outcomes:
        outcome.optimum = cheap.cheapest(outcome)
    lines = cheap.report(outcomes, 1.0)
    assert sum(line.startswith("| synthetic overcast |") for line in lines) == len(cheap.LIMITS)
    assert any(line.startswith("| unset (Solar alone) | 1 |") for line in lines)


def test_the_step_model_fills_the_car_to_its_room_and_no_further(overcast: Day) -> None:
    """At the night's price the car fills up: exactly its room, in 10-s steps with the car
    drawing each limit 5 s late, as in the minute model (the room caps each part of a step)."""
    for step_s, response_s in ((10.0, 5.0), (60.0, 0.0)):
        outcome = cheap.simulate(cheap.Run(overcast, 0.12, step_s, response_s))
        assert outcome.delivered_wh == pytest.approx(cheap.ROOM_WH, abs=1.0)


def test_the_car_follows_a_limit_its_response_later(overcast: Day) -> None:
    """A car 30 s slow follows the sun's short spells and leaves the negative hour 25 s later
    than one 5 s slow: less sun (2.90 against 2.93 kWh), a dearer day."""
    prompt = cheap.simulate(cheap.Run(overcast, 0.0, 30.0, 5.0))
    late = cheap.simulate(cheap.Run(overcast, 0.0, 30.0, 30.0))
    assert late.pv_wh < prompt.pv_wh - 10.0
    assert late.cost > prompt.cost
