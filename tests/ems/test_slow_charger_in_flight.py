"""A slow charger's write in flight (``limiter._last_write_shows_at``): in Solar mode a change
waits for the meters to show the last write while its response is watched (until the car is
seen following it, at most the longest settle), except where waiting would cost: a lower after
a raise (the raise's lag reads as more surplus, not less), a lower after a lower larger than the
lag can explain (``limiter._lag_explains``), a lower the fuse needs.

Closed loops of red team 11b (``Plant``: a decision a second, the production driver and
controller; the car follows a taken limit ``lag_s`` later, its meter every 10 s).
"""

from __future__ import annotations

from custom_components.ocpp_ems.core.ems import Mode

from .test_redteam11b_refused_fuse import Plant, Refusing
from .test_redteam11c_forgotten_write import _writes_since
from .test_redteam12b_in_flight_wait import (
    CappedCar,
    _clouds_deepening,
    _house_up_after_a_cloud,
    _measured,
)


async def _raised_on_the_sun(fuse_a: float) -> Plant:
    """Solar mode, a 15 s charger at 7.6 A on 6 kW (house 1 A), then 9 kW for 5 s: a raise in
    flight that its meter showed not followed yet."""
    plant = Plant(Mode.SOLAR, fuse_a, {"a": Refusing(lag_s=15.0)}, meter_period_s=10)
    await plant.run(300, house_a=1.0, pv_w=6000.0)
    await plant.run(15, house_a=1.0, pv_w=9000.0)
    return plant


async def test_a_cloud_while_a_raise_is_in_flight_lowers_at_once() -> None:
    """Held: the raise to 12 A in flight, the sun drops to 5 kW: the lower goes out the same
    second (waiting for the raise to show would import ~2 kW for 15-25 s). (Gain on the way:
    7.6 A on 6 kW written once in 5 min; d714826: 30 writes, 8.6, 7.6, 6.6, 6.0 ...)"""
    plant = await _raised_on_the_sun(40.0)
    await plant.run(5, house_a=1.0, pv_w=5000.0)
    assert _writes_since(plant, "a", 0.0)[:2] == [(7.6, 1.0), (12.0, 301.0)]
    lowered = _writes_since(plant, "a", 316.0)
    assert lowered[0][1] == 316.0
    assert lowered[0][0] <= 6.2


async def test_the_fuse_lowers_a_slow_charger_at_once_whatever_is_in_flight() -> None:
    """Held: a 20 A fuse, the lower for the sun gone (6 A) in flight, the house takes 14 A:
    even 6 A does not fit, and the fuse's pause goes out the same second, the fuse over only
    while the car follows it (its 15 s lag: the car took the raise to 12 A at 316 s. Over 10 s
    before the raise's early sample was unshown: the sample 9 s after it, taken for the
    configured 8 s settle time, capped the car at 7.6 A and 8.6 A went out at 310 s.)"""
    plant = await _raised_on_the_sun(20.0)
    await plant.run(5, house_a=1.0, pv_w=5000.0)
    plant.over_s = 0
    await plant.run(30, house_a=14.0, pv_w=5000.0)
    assert _writes_since(plant, "a", 300.0) == [(12.0, 301.0), (6.2, 316.0), (0.0, 321.0)]
    assert plant.over_s <= 15


async def test_a_lower_in_flight_that_fits_beside_the_house_is_not_paused_for_its_lag() -> None:
    """The same with the house at 12 A: the 6 A in flight fits beside it (18 of 19.5 A), and
    what the car still draws above it is its lag, not the house's: no further write, the fuse
    over while the car follows (10 s). Was (red team 15b): paused at once for a house of 18 A,
    restarted 15 s later. (The lower for the sun is the surplus's 6.2 A; the house's 12 A leave
    no surplus, and the 0.2 A to the minimum goes out once its 1 Wh is due.)"""
    plant = await _raised_on_the_sun(20.0)
    await plant.run(5, house_a=1.0, pv_w=5000.0)
    plant.over_s = 0
    await plant.run(30, house_a=12.0, pv_w=5000.0)
    assert _writes_since(plant, "a", 317.0) == [(6.0, 344.0)]
    assert plant.over_s <= 10


async def test_the_house_stepping_up_while_a_lower_is_in_flight_lowers_at_once() -> None:
    """A 3 s charger metered every 10 s lowered to 9.8 A for a cloud; 5 s later the house takes
    3 kW more: its meter still shows 12 A (1.3 A of lag at most), the 3.8 A lower goes out the
    same second (306 s), 14.5 Wh imported in 2 min.
    Was (c5ea1d0): held until the meter showed the first lower (310 s), 17.4 Wh."""
    plant = await _measured(Mode.SOLAR, {"a": CappedCar(lag_s=3.0)}, _house_up_after_a_cloud())
    assert _writes_since(plant, "a", 300.0) == [(9.8, 301.0), (6.0, 306.0)]
    assert plant.import_wh <= 15.0


async def test_deepening_clouds_lower_a_slow_charger_without_hunting() -> None:
    """A 25 s charger metered every 10 s, 9 kW down to 5.5 kW in four steps 3 s apart: 3 lowers
    (10.7, 8.2, 6.9 A), never a raise between them, 25.6 Wh imported in 72 s. A lower behind
    another in flight is held as long as the meter's lag explains it, watched or not.
    Was (c5ea1d0): 2 writes, the second held 30 s for the meter, 40.5 Wh; (c5ea1d0^): 8 writes
    hunting (11.7, 10.5, 9.2, 6.9, 6.4, 7.4, 6.9, 6.0), 21.5 Wh."""
    plant = await _measured(Mode.SOLAR, {"a": CappedCar(lag_s=25.0)}, _clouds_deepening())
    amps = plant.writes("a")
    assert amps == sorted(amps, reverse=True)
    assert len(amps) <= 4
    assert plant.import_wh <= 28.0


async def test_deepening_clouds_lower_a_quick_charger_step_by_step() -> None:
    """The same clouds on a 3 s charger: the lower the 1.3 A of lag cannot explain goes out
    (307 s) and the next one once the meter shows it (310 s): 10.7, 8.2, 6.9 A, 3.5 Wh.
    Was (c5ea1d0): 10.7, then 6.9 A once the meter showed the first (310 s), 5.0 Wh."""
    plant = await _measured(Mode.SOLAR, {"a": CappedCar(lag_s=3.0)}, _clouds_deepening())
    assert plant.import_wh <= 4.0
    amps = plant.writes("a")
    assert amps == sorted(amps, reverse=True)
    assert len(amps) <= 3
