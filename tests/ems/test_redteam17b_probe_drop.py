"""Red team 17b on f8c386e: a Solar car that takes less than it is offered, metered every 30-60 s.

Found (the random cloud histories of red team 17a with two cars): a car taking 16 A under a
larger offer is offered a 1 A probe above that (``ChargerWork.car_max_a``: 17.0 A); between its
charger's samples the surplus counts it at its cap (16.5 A, what it takes + 0.5 A), so at each
sample the surplus seemed 0.5 A smaller, the probe was dropped to 16.5 A, and raised back once
the samples were stale again: 17.0, 16.5, 17.0 ... A every 15 s for good in steady sun (42 writes
in 11 minutes with a 30 s meter, 24 with 60 s), though the car drew 16 A under both.

Now a surplus drop from the probe to no less than the cap is not written
(``limiter._probe_dropped``); a drop below it, a fuse's drop, and a full car's drop to its
minimum go out as before (tests/ems/test_solar.py).
"""

from __future__ import annotations

import pytest

from custom_components.ocpp_ems.core.ems import Mode

from .test_redteam9c_refused_once import V
from .test_redteam11b_refused_fuse import Plant
from .test_redteam16a_unseen_draw_steady import OwnLimit

# (sun A a phase, house A, seconds): clouds that offer the car more than it takes, then steady
# sun for 16.5 A a phase.
DAY = [(15.8, 0.0, 20), (22.8, 0.0, 20), (27.3, 8.0, 20), (21.5, 5.0, 600)]


@pytest.mark.parametrize("meter_s", [10, 30, 60])
@pytest.mark.parametrize("lag_s", [2.0, 5.0])
async def test_a_car_taking_less_than_offered_is_not_written_its_probe_again_and_again(
    meter_s: int, lag_s: float
) -> None:
    """3 writes with a 10 or 30 s meter, 9 with 60 s (a 0.5 A staircase up from 19.3 A while the
    sample is old, one drop to 16.5 A and the probe 17.0 A); nothing in the last 7 minutes.
    Was (f8c386e): 42 / 24 writes with a 30 / 60 s meter, every 15 s to the end."""
    control = OwnLimit(lag_s=lag_s, car_max_a=16.0)
    plant = Plant(Mode.SOLAR, 32.0, {"a": control}, meter_period_s=meter_s)
    for sun_a, house_a, seconds in DAY:
        await plant.run(seconds, house_a=house_a, pv_w=3 * V * sun_a)
    writes = [(at, amps) for _name, amps, at in control.calls]
    assert len(writes) <= 9, writes
    assert [amps for at, amps in writes if at > 60 + 180] == [], writes
    assert writes[-1][1] >= 16.5  # the car's 16 A stays offered
