"""Red team 16a on adf5a67: the fuse and a car that takes less than offered, in its first minute.

Found: a car that takes 16 A under a 24.5 A limit (its own maximum: an 11 kW car on a 22 kW
charger) on a 25 A fuse, and the house +12 A within the start's settle time (30 s until learned)
or before a 60 s meter first showed it drawing: 21, 17.5, 14, 10.5, 7, 0 A, then 12.5 A ten
seconds later, where 12.5 A at once was right. The grid's rise was counted as the car's start its
meter did not show yet (``measure.count_unseen_draw``), up to its limit; each lower capped that
count lower and moved the rest back to the house.

Now a car whose draw held still for ``unseen_draw.STEADY_S`` after it started counts at no more
than that draw (a later rise is the house's), and what it held counts as its lag while a lower is
in flight (``fuse._hold_lowers_in_flight``). What the other cars draw beyond their line currents
(a refused limit, a lag) is no rise to count for a car.

The closed loop of red team 11b (``Plant``: a decision a second, the production driver and
controller; the car follows a taken limit ``lag_s`` later, its meter every ``meter_period_s``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pytest

from custom_components.ocpp_ems.core.ems import Mode
from custom_components.ocpp_ems.core.ems.config import SolarSettings
from custom_components.ocpp_ems.core.ems.response import ChargerResponse
from custom_components.ocpp_ems.core.ems.unseen_draw import STEADY_S, UnseenDraw

from .test_redteam11b_refused_fuse import MIN_CURRENT_A, Plant, Refusing


@dataclass
class OwnLimit(Refusing):
    """A car that takes no more than ``car_max_a``; after its start it draws ``soft_a`` for
    ``soft_s`` (0: none), then ramps ``ramp_a_s`` A a second from 6 A (0: at once). Its draw
    jitters by up to ``jitter_a`` each second (the same for the same second in every run); it
    takes ``offset_a`` less than the limit it follows."""

    car_max_a: float = 16.0
    soft_a: float = 0.0
    soft_s: float = 0.0
    ramp_a_s: float = 0.0
    jitter_a: float = 0.0
    offset_a: float = 0.0

    def draw_a(self, t: float) -> float:
        offered = super().draw_a(t)
        if offered <= 0.0:
            return 0.0
        since = t - min(at for at, amps in self.taken if amps >= MIN_CURRENT_A)
        if since < self.soft_s:
            return min(offered, self.soft_a)
        ramped = 6.0 + (since - self.soft_s) * self.ramp_a_s if self.ramp_a_s else math.inf
        # (Knuth's multiplicative hash of the second: spread over [-1, 1).)
        jitter = self.jitter_a * ((int(t) * 2654435761) % 1000 / 500.0 - 1.0)
        return max(0.0, min(offered - self.offset_a, self.car_max_a, ramped) + jitter)


async def _house_step_after_start(meter_s: int, lag_s: float, step_s: int) -> Plant:
    """Fast on a 25 A fuse, the car started at 1 s; the house 0 -> 12 A at ``step_s``."""
    plant = Plant(Mode.FAST, 25.0, {"a": OwnLimit(lag_s=lag_s)}, meter_period_s=meter_s)
    await plant.run(step_s, house_a=0.0)
    await plant.run(120, house_a=12.0)
    return plant


@pytest.mark.parametrize("meter_s", [1, 10, 60])
@pytest.mark.parametrize("lag_s", [1.0, 3.0, 8.0])
@pytest.mark.parametrize("step_s", [25, 40])
async def test_a_house_step_after_the_car_held_still_is_the_houses(
    meter_s: int, lag_s: float, step_s: int
) -> None:
    """12.5 A goes out at the step and nothing after it: the fuse over for the car's lag only
    (adf5a67: 21, 17.5, 14, 10.5 A and often 7, 0 and 12.5 again; over 4-11 s). (Where the car's
    own limit was learned before the step, 17 A went out first.)"""
    plant = await _house_step_after_start(meter_s, lag_s, step_s)
    calls = [(round(at), amps) for _name, amps, at in plant.controls["a"].calls]
    after = [amps for at, amps in calls if at > step_s]
    assert after == [12.5], calls
    assert plant.over_s <= lag_s + 1


@pytest.mark.parametrize("meter_s", [1, 10, 60])
async def test_a_house_step_while_the_car_starts_is_still_taken_for_the_car(meter_s: int) -> None:
    """Known limit: the house steps as the car starts drawing (within ``STEADY_S``): its rise
    may be the car ramping, counted so, and lowered for in steps as before: 21, 17.5, 14, 12.5 A
    for a car 1 s slow, the fuse over 4 s (a car 3 s slow with a meter every 10 or 60 s is
    still paused once, as at adf5a67)."""
    plant = await _house_step_after_start(meter_s, 1.0, 3)
    assert plant.writes("a") == [24.5, 21.0, 17.5, 14.0, 12.5]
    assert plant.over_s <= 4


@pytest.mark.parametrize("meter_s", [10, 60])
@pytest.mark.parametrize("ramp_a_s", [0.5, 1.0, 3.0])
async def test_a_car_ramping_slowly_is_not_taken_for_the_house(
    meter_s: int, ramp_a_s: float
) -> None:
    """A car ramping 0.5-3 A a second from 6 A to what it takes (32 A) keeps rising: every rise
    is its own, as before: 24.5 A on a 25 A fuse, never below 24 A (at most a 0.5 A write for
    a 10 s meter's lag, as at adf5a67)."""
    control = OwnLimit(lag_s=2.0, car_max_a=32.0, ramp_a_s=ramp_a_s)
    plant = Plant(Mode.FAST, 25.0, {"a": control}, meter_period_s=meter_s)
    await plant.run(300, house_a=0.0)
    assert plant.writes("a")[0] == 24.5
    assert min(plant.writes("a")) >= 24.0
    assert plant.over_s == 0


@pytest.mark.parametrize("meter_s", [10, 60])
@pytest.mark.parametrize("soft_s", [5.0, 9.0])
async def test_a_car_holding_a_low_current_briefly_before_it_ramps(
    meter_s: int, soft_s: float
) -> None:
    """Some cars draw a low current a few seconds before they ramp: up to ``STEADY_S`` that is
    still the start, and the jump after it the car's. 23.5 A once (32 A fuse, house 8 A)."""
    control = OwnLimit(lag_s=2.0, car_max_a=32.0, soft_a=6.0, soft_s=soft_s)
    plant = Plant(Mode.FAST, 32.0, {"a": control}, meter_period_s=meter_s)
    await plant.run(300, house_a=8.0)
    assert plant.writes("a") == [23.5]


@pytest.mark.parametrize("meter_s", [10, 60])
async def test_a_car_holding_a_low_current_longer_is_lowered_for_a_while(meter_s: int) -> None:
    """Known cost: a car that holds 6 A for 20 s before it jumps to 32 A has its jump taken for
    the house's: lowered to 6 A, raised back to all it may have within 50 s, never paused
    (adf5a67: 23.5 A throughout)."""
    control = OwnLimit(lag_s=2.0, car_max_a=32.0, soft_a=6.0, soft_s=20.0)
    plant = Plant(Mode.FAST, 32.0, {"a": control}, meter_period_s=meter_s)
    await plant.run(300, house_a=8.0)
    calls = [(round(at), amps) for _name, amps, at in plant.controls["a"].calls]
    assert calls[:2] == [(1, 23.5), (23, 6.0)]
    assert 0.0 not in plant.writes("a")
    assert calls[-1][1] == 23.5
    assert calls[-1][0] <= 75


def _most(unseen: UnseenDraw, write_at: float) -> float:
    """The record's cap once its latest start or raise is the one decided at ``write_at``."""
    unseen.written(write_at)
    return unseen.most_a


def test_the_steady_draw_is_counted_from_the_latest_start_or_raise() -> None:
    """The record starts over at each start or raise and holds once the car held still after
    moving toward it; a car below its minimum is not charging yet (it may jump)."""
    unseen = UnseenDraw()
    assert _most(unseen, 100.0) == math.inf
    unseen.observe(101.0, 1.5, minimum_a=6.0)  # waking up
    unseen.observe(101.0 + STEADY_S + 1, 1.5, minimum_a=6.0)
    assert _most(unseen, 100.0) == math.inf
    unseen.observe(120.0, 16.0, minimum_a=6.0)
    unseen.observe(120.0 + STEADY_S - 1, 16.4, minimum_a=6.0)
    assert _most(unseen, 100.0) == math.inf
    unseen.observe(120.0 + STEADY_S, 16.2, minimum_a=6.0)
    assert _most(unseen, 100.0) == 16.2
    # A raise: open again, and the car's draw then is where it moves from.
    assert _most(unseen, 200.0) == math.inf
    unseen.observe(201.0, 16.0, minimum_a=6.0)
    unseen.observe(201.0 + STEADY_S, 16.0, minimum_a=6.0)
    assert _most(unseen, 200.0) == math.inf  # not moved toward the raise: it may follow later
    unseen.observe(220.0, 24.0, minimum_a=6.0)
    unseen.observe(220.0 + STEADY_S, 24.0, minimum_a=6.0)
    assert _most(unseen, 200.0) == 24.0


def test_the_limit_in_force_is_the_highest_the_car_may_still_draw() -> None:
    """A start (30 s to settle until learned), then a lower 20 s later (8 s): the start's limit
    until the lower settled (at its settle time too, as for a meter sample: strictly after),
    the lower's after; the lower's at once once the car's meter showed it follow."""
    solar = SolarSettings()
    response = ChargerResponse()
    response.wrote(0.0, 24.5, solar, start=True)
    response.observe(10.0, 24.4, 3, solar)
    response.wrote(20.0, 12.5, solar, start=False)
    assert response.in_force_max_a(25.0, solar) == 24.5
    assert response.in_force_max_a(20.0 + solar.settle_s, solar) == 24.5
    assert response.in_force_max_a(20.0 + solar.settle_s + 0.5, solar) == 12.5
    response.observe(23.0, 12.4, 3, solar)  # followed 3 s after the lower
    assert response.in_force_max_a(23.0, solar) == 12.5
    assert ChargerResponse().in_force_max_a(0.0, solar) is None


def test_the_steady_time_follows_the_clock_back() -> None:
    """The wall clock going back moves the write's time and the steady start with the
    response's writes: the record is the same one, its wait as long."""
    unseen = UnseenDraw()
    _most(unseen, 100.0)
    unseen.observe(102.0, 16.0, minimum_a=6.0)
    unseen.clock_went_back(50.0)
    assert _most(unseen, 50.0) == math.inf  # the same write: not started over
    unseen.observe(52.0 + STEADY_S - 1, 16.0, minimum_a=6.0)
    assert _most(unseen, 50.0) == math.inf
    unseen.observe(52.0 + STEADY_S, 16.0, minimum_a=6.0)
    assert _most(unseen, 50.0) == 16.0


@pytest.mark.parametrize("meter_s", [1, 10, 60])
@pytest.mark.parametrize("lag_s", [1.0, 5.0])
async def test_two_cars_taking_less_than_offered_and_a_house_step(
    meter_s: int, lag_s: float
) -> None:
    """a takes 16 A, b 10 A, each offered 15.7 A on a 32 A fuse; the house +14 A 20 s after
    they started: 8.7 A each at once and nothing more till the house falls (adf5a67: 11.6,
    then lowered in steps, both paused where the cars are 5 s slow)."""
    controls = {"a": OwnLimit(lag_s=lag_s), "b": OwnLimit(lag_s=lag_s, car_max_a=10.0)}
    plant = Plant(Mode.FAST, 32.0, controls, meter_period_s=meter_s)
    await plant.run(20, house_a=0.0)
    await plant.run(120, house_a=14.0)
    for cid in "ab":
        assert plant.writes(cid) == [15.7, 8.7]
    assert plant.over_s <= lag_s
