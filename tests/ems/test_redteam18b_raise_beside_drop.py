"""Red team 18b on 7981704: a raise beside another car's drop in flight.

Found (random cloud and house steps with three cars on one fuse, a decision a second): the
fuse's shares count every car at its new limit, so a house step that drops one car and leaves
another more room raised the other in the same decision. The headroom the drop frees is there
only once its car follows: a car 5 s slow raised 8.6 -> 13.2 A beside one 10 s slow dropped
19.6 -> 13.2 A, and the line carried 37.8 A on the 32 A fuse for 5 s (10 s over in all after
the step; at bde6528 the same history raised it 4 s later, by chance, 1 s over).

Now a raise or a start goes no higher than what the others draw now leaves, or their new
limits where higher (``fuse._hold_raises_for_drops_in_flight``): it goes out once the grid
shows the drop.
"""

from __future__ import annotations

from custom_components.ocpp_ems.core.ems import Mode

from .test_driver import T0
from .test_redteam9c_refused_once import V
from .test_redteam11b_refused_fuse import Plant
from .test_redteam16a_unseen_draw_steady import OwnLimit

# (sun A a phase, house A, seconds) before the step.
STEPS = [
    (22.4, 16, 10),
    (22.4, 8, 40),
    (35.3, 16, 10),
    (32.2, 5, 10),
    (12.2, 16, 40),
    (17.1, 2, 90),
]


async def test_a_raise_waits_for_the_drop_beside_it() -> None:
    """32 A fuse, the chargers metered every 30 s: a (Min + solar, 3 phases, 5 s slow, takes
    16 A at most), b (Fast, one phase, 10 s slow), c (Solar, waiting). The house +3 A and the
    sun up at 200 s: b drops, a is raised once the grid shows b's drop; the fuse is not over
    after the step (was 10 s, up to 37.8 A)."""
    controls = {
        "a": OwnLimit(lag_s=5.0, car_max_a=16.0, car_phases=3),
        "b": OwnLimit(lag_s=10.0, car_max_a=32.0, car_phases=1),
        "c": OwnLimit(lag_s=5.0, car_max_a=32.0, car_phases=3),
    }
    plant = Plant(Mode.SOLAR, 32.0, controls, meter_period_s=30)
    for cid, mode in (("a", Mode.MIN_SOLAR), ("b", Mode.FAST), ("c", Mode.SOLAR)):
        plant.driver.charger_view(cid).mode = mode
    for sun_a, house_a, seconds in STEPS:
        await plant.run(seconds, house_a=house_a, pv_w=3 * V * sun_a)
    raised_before = len(controls["a"].calls)
    peak = 0.0
    b_draws = []
    for _ in range(60):
        await plant.run(1, house_a=5.0, pv_w=3 * V * 35.3)
        t = plant.clock.t
        b_draws.append((t - T0, controls["b"].draw_a(t)))
        peak = max(peak, 5.0 + controls["a"].draw_a(t) + controls["b"].draw_a(t))
    raises = [(at, amps) for _name, amps, at in controls["a"].calls[raised_before:] if amps > 9.0]
    assert max(amps for _at, amps in raises) >= 13.0
    # a's raise goes out once b draws less than before the step, and the line carries no more
    # than the house step (3 A) adds to what the cars drew at it (was 37.8 A).
    first_raise_at = min(at for at, _amps in raises)
    assert any(at <= first_raise_at and amps < 19.0 for at, amps in b_draws)
    assert peak <= 32.0 + 3.0
