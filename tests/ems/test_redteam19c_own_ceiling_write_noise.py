"""Red team 19c on e5448b1: a car whose own maximum lies within 1 A below its limit (a strict xfail).

Found (red team 18's random three-car histories, read for all their writes): a Min+Solar car on
three phases whose onboard charger takes 16.0 A, a charger meter every 30 s, the sun offering it
16.3-16.8 A. Under 16.3 A it counts as taking what it is offered (within 0.5 A), so its own
maximum is never learned (that takes a shortfall of 1 A: ``measure``, ``car_limit_a``). Each raise
is counted at its new limit until the next sample (``ChargerResponse.draw_at_grid``), the 0.3-0.8 A
it does not take reads as sun, and the limit creeps 16.3 -> 16.6 -> 16.8 until the sample drops it
back to 16.3: 20 writes in 10 minutes for good, the car's current the same throughout. Kept as a
strict xfail until a car that does not follow a raise is known to be at its own maximum.
"""

from __future__ import annotations

import pytest

from custom_components.ocpp_ems.core.ems import Mode

from .test_redteam9c_refused_once import V
from .test_redteam11b_refused_fuse import Plant
from .test_redteam16a_unseen_draw_steady import OwnLimit

# (sun A a phase, house A, seconds), then 10 minutes more of the last step.
STEPS = ((8.5, 0, 90), (22.1, 0, 40), (11.9, 5, 10), (31.7, 12, 20), (24.0, 2, 420))


@pytest.mark.xfail(
    strict=True,
    reason="20 writes in the last 10 minutes (16.3, 16.6, 16.8 A every 90 s) for a car taking 16.0 A",
)
async def test_a_car_at_its_own_maximum_just_below_its_limit_is_not_rewritten() -> None:
    own_max = OwnLimit(lag_s=5.0, car_max_a=16.0, car_phases=3)
    controls = {"own_max": own_max, "one_phase": OwnLimit(lag_s=2.0, car_max_a=16.0, car_phases=1)}
    plant = Plant(Mode.SOLAR, 40.0, controls, meter_period_s=30)
    plant.driver.charger_view("own_max").mode = Mode.MIN_SOLAR
    for sun_a, house_a, seconds in STEPS:
        await plant.run(seconds, house_a=house_a, pv_w=3 * V * sun_a)
    written = len(own_max.calls)
    sun_a, house_a, _seconds = STEPS[-1]
    await plant.run(600, house_a=house_a, pv_w=3 * V * sun_a)
    assert len(own_max.calls) - written <= 2
