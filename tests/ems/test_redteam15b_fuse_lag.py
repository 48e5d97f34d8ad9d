"""Red team 15b on b7995bc: the fuse and a car that follows a lower a few seconds late.

Found: a house step that a fuse lower covers paused the car. Until the car follows the lower, the
grid meter shows it still drawing the old limit, while its line current counted at the new one
(``measure``: capped at the written limit, so the house is never underestimated); the difference
read as more house load, each decision lowered again: a car 3 s slow on a 40 A fuse, the house
0 -> 20 A, was written 19.5, 7, 0 A and 19.5 again 10 s later, with a meter every second as with
one every minute. Two cars on a 32 A fuse were both paused at such steps. Every charger is some
seconds slow (2-15 s), so a kettle on a tight fuse stopped and restarted the car.

Now what the car's meter last showed above a lower in flight, within its settle time, is its lag
(``ChargerWork.lag_a``), and the fuse holds no further lower the lag explains
(``fuse._hold_lowers_in_flight``). A shortfall larger than the lag is lowered at once, and so is
one where the lag would leave more headroom than before the lower (the car followed already and
the house went up as much: a second appliance 2 s later is lowered for in the same second).

The closed loop of red team 11b (``Plant``: a decision a second, the production driver and
controller; each car follows a taken limit ``lag_s`` later, its meter every ``meter_period_s``).
"""

from __future__ import annotations

import pytest

from custom_components.ocpp_ems.core.ems import Mode

from .test_redteam11b_refused_fuse import Plant, Refusing


async def _house_steps_one_car(meter_s: int, lag_s: float) -> Plant:
    """One Fast car at 32 A on a 40 A fuse; the house 20, 5, 25 A for 2 min each."""
    plant = Plant(Mode.FAST, 40.0, {"a": Refusing(lag_s=lag_s)}, meter_period_s=meter_s)
    await plant.run(60, house_a=0.0)
    for house_a in (20.0, 5.0, 25.0):
        await plant.run(120, house_a=house_a)
    return plant


@pytest.mark.parametrize(("meter_s", "lag_s"), [(1, 3.0), (10, 3.0), (30, 5.0), (60, 3.0)])
async def test_a_house_step_a_lower_covers_does_not_pause_the_car(
    meter_s: int, lag_s: float
) -> None:
    """19.5 A at the first step, 14.5 A at the last, nothing between but the raises: 6 writes
    (b7995bc: 11, paused at both steps, 7 and 0 A written for the car's lag). The fuse over
    while the car follows, as before."""
    plant = await _house_steps_one_car(meter_s, lag_s)
    assert plant.writes("a") == [32.0, 19.5, 25.5, 31.5, 32.0, 14.5]
    assert plant.over_s <= 2 * (lag_s + 1)


@pytest.mark.parametrize("a_phases", [1, 3])
async def test_two_cars_on_a_tight_fuse_are_not_paused_for_their_lag(a_phases: int) -> None:
    """a (one or three phases) and b on a 32 A fuse, meters every 10 s, cars 3 s slow, the
    house 10, 0, 15, 5 A for 150 s each: 15 A leaves both their minimum, and neither is paused
    (b7995bc: a 2 times, b 2-3 times), 5 writes each (9-11)."""
    controls = {"a": Refusing(car_phases=a_phases, lag_s=3.0), "b": Refusing(lag_s=3.0)}
    plant = Plant(Mode.FAST, 32.0, controls, meter_period_s=10)
    await plant.run(60, house_a=0.0)
    for house_a in (10.0, 0.0, 15.0, 5.0):
        await plant.run(150, house_a=house_a)
    for cid in "ab":
        assert 0.0 not in plant.writes(cid)
        assert len(plant.writes(cid)) <= 6
    assert plant.over_s <= 8


@pytest.mark.parametrize(("meter_s", "gap_s"), [(10, 2), (10, 5), (60, 2), (60, 7)])
async def test_a_second_appliance_while_the_lower_is_in_flight_is_lowered_for_at_once(
    meter_s: int, gap_s: int
) -> None:
    """The car follows in 1 s, its meter still shows 32 A: the house 0 -> 20 A, then 30 A
    ``gap_s`` later. The lag (12.5 A) would cover the second step, but it would leave more
    headroom than there was before the lower: the car followed, the house went up. 9.5 A goes
    out the same second, the fuse over 2 s (as at b7995bc; without that check 8 s)."""
    plant = Plant(Mode.FAST, 40.0, {"a": Refusing(lag_s=1.0)}, meter_period_s=meter_s)
    await plant.run(60, house_a=0.0)
    await plant.run(gap_s, house_a=20.0)
    await plant.run(120, house_a=30.0)
    calls = [(round(at), amps) for name, amps, at in plant.controls["a"].calls]
    assert calls == [(1, 32.0), (61, 19.5), (61 + gap_s, 9.5)]
    assert plant.over_s <= 2


async def test_a_car_slower_than_its_settle_time_with_a_meter_a_minute() -> None:
    """Known limit: the lag counts only within the car's settle time (8 s until learned), and
    a car 10 s slow metered every minute is still paused once in the two-car loop (b7995bc:
    twice each)."""
    controls = {"a": Refusing(car_phases=1, lag_s=10.0), "b": Refusing(lag_s=10.0)}
    plant = Plant(Mode.FAST, 32.0, controls, meter_period_s=60)
    await plant.run(60, house_a=0.0)
    for house_a in (10.0, 0.0, 15.0, 5.0):
        await plant.run(150, house_a=house_a)
    assert plant.writes("a").count(0.0) <= 1
    assert plant.writes("b").count(0.0) <= 1
