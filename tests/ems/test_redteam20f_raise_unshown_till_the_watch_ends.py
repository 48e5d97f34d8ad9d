"""Red team 20f: a raise an early sample did not show, before the charger's response is learned.

Until a charger's response is learned its settle time is the configured guess (8 s): a sample
9 s after a raise counted as showing it, and a charger 10 s slow had its car capped at the draw
before the raise (red team 20d's histories: 76 % of the sun, 31 % for two cars started at their
minimum). Now such a sample, seen not showing the watched raise, does not show it
(``ChargerResponse.raise_unshown``): the grid counts the car at the raise meanwhile.

Found on the first version of that rule (random two-car histories of red team 11b's closed loop,
history 292 of 450): a car at its own 16 A, its charger's response not learned, was counted at
each raise it did not take for the whole watch (30 s), the limiter let the next raise out as
the watch ended, on that phantom surplus: 17.0, 17.5, 17.0, 16.5 A every minute for good (40
writes in the last 10 minutes). Now the sample shows the raise once the watch's longest settle
passed, not only from the next sample on (``ChargerResponse.tick``): the car is capped at what
it takes before the limiter lets a raise out.
"""

from __future__ import annotations

from custom_components.ocpp_ems.core.ems import Mode

from .test_redteam9c_refused_once import V
from .test_redteam18a_fuse_edge_rounding import History, before_last_minutes

# History 292: a 3-phase car 10 s slow at its own 16 A, a second one waiting, a 10 s meter.
AT_ITS_OWN_MAXIMUM = History(
    Mode.SOLAR,
    32.0,
    10,
    ((10.0, 16.0, 3), (5.0, 21.4, 3)),
    ((20.2, 12, 40), (27.2, 5, 10), (7.6, 5, 20), (36.2, 8, 20)),
    (18.5, 2),
)


async def test_a_car_at_its_own_maximum_is_not_raised_on_a_phantom_surplus() -> None:
    """No write in the last 10 minutes of steady sun (40 on the rule's first version), the car
    at its own maximum all along."""
    plant, since = await before_last_minutes(AT_ITS_OWN_MAXIMUM)
    sun_a, house_a = AT_ITS_OWN_MAXIMUM.steady
    car = plant.controls["a"]
    drawn = []
    for _ in range(600):
        await plant.run(1, house_a=house_a, pv_w=3 * V * sun_a)
        drawn.append(car.draw_a(plant.clock.t))
    writes = [amps for c in plant.controls.values() for _name, amps, at in c.calls if at > since]
    assert writes == []
    assert min(drawn) == 16.0
