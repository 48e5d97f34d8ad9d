"""Red team 17a on 06762af: a Solar car whose charger meters every 30 s, after passing clouds.

Found (random cloud and house steps in the closed loop of red team 11b, a car 2 s slow taking
at most 16 A): in steady sun after some of them the limit hunted for good, 0.5-0.8 A up and
down every 12-15 s (11.9, 11.1, 11.9 ... A: 97 writes in 10 minutes, 25 Wh of import).
After a lower, the surplus counts the car at its meter's sample from before until the learned
settle time passes (with a 30 s meter it learns up to 30 s): once the car follows, the draw it
left reads as sun. The write limiter held a raise for that only while the lower was watched,
and a watch on an older write ran on through every new one.

Now a raise waits, watched or not, while the surplus counts the car above a lower in flight
(the sample from before it, or a raise before it that the grid counts early:
``limiter._last_write_shows_at``), until the grid surely shows the lower or a sample shows the
car follow it.
"""

from __future__ import annotations

import pytest

from custom_components.ocpp_ems.core.ems import Mode

from .test_driver import T0
from .test_redteam9c_refused_once import V
from .test_redteam11b_refused_fuse import Plant
from .test_redteam16a_unseen_draw_steady import OwnLimit

# Clouds and house steps before the steady sun: (sun A a phase, house A, seconds).
CLOUDS_A = [(15.8, 0.0, 90), (12.1, 2.0, 40), (9.9, 2.0, 20), (18.9, 0.0, 20), (16.8, 0.0, 20)]
CLOUDS_B = [
    (14.7, 5.0, 90),
    (15.9, 12.0, 10),
    (13.9, 0.0, 10),
    (21.6, 0.0, 5),
    (9.9, 12.0, 40),
    (17.3, 8.0, 40),
    (15.9, 0.0, 10),
    (25.2, 8.0, 20),
    (22.5, 8.0, 10),
    (29.4, 2.0, 90),
    (24.7, 2.0, 90),
]
STEADY_S = 600


async def _steady_after(
    clouds: list[tuple[float, float, int]], sun_a: float
) -> tuple[list[float], list[float], float]:
    """The writes (A) in the steady sun and in its last 8 minutes, and its grid import (Wh):
    Solar, 32 A fuse, the house 2 A, the car 2 s slow, its meter every 30 s."""
    control = OwnLimit(lag_s=2.0, car_max_a=16.0)
    plant = Plant(Mode.SOLAR, 32.0, {"a": control}, meter_period_s=30)
    for step_sun_a, house_a, seconds in clouds:
        await plant.run(seconds, house_a=house_a, pv_w=3 * V * step_sun_a)
    start = plant.clock.t - T0  # (the calls' times count from T0)
    import_wh = 0.0
    for _ in range(STEADY_S):
        await plant.run(1, house_a=2.0, pv_w=3 * V * sun_a)
        import_wh += max(0.0, 2.0 + control.draw_a(plant.clock.t) - sun_a) * 3 * V / 3600.0
    writes = [(at - start, amps) for _name, amps, at in control.calls if at > start]
    return [amps for _at, amps in writes], [amps for at, amps in writes if at > 120], import_wh


@pytest.mark.parametrize(("clouds", "sun_a"), [(CLOUDS_A, 13.1), (CLOUDS_B, 14.2)])
async def test_a_slow_meter_does_not_hunt_in_steady_sun(
    clouds: list[tuple[float, float, int]], sun_a: float
) -> None:
    """2 / 1 writes after the clouds, none in the last 8 minutes, 4.8 / 1.5 Wh of import.
    Was (06762af): 97 / 80 writes in the 10 minutes, to the end (0.8 / 0.5 A every 12 / 15 s),
    24.6 / 9.3 Wh."""
    writes, late, import_wh = await _steady_after(clouds, sun_a)
    assert len(writes) <= 8, writes
    assert late == [], writes
    assert import_wh < 8.0
