"""Red team 20b: a raise of a car that takes less than offered, counted at its limit.

Found (random two-car histories with ramping cars, red team 20a's scan): a 1-phase car that
takes 16.0 A of its own, held by a 32 A fuse at 16.9 A beside a 3-phase Solar car, was
rewritten 16.9 / 16.7 A every 100 s for good. Its shortfall (0.9 A) learns no cap; lowered to
16.7 A by the fuse, the write limiter raised it back by 0.2 A once the energy that raise
misallocates added up. The surplus counted that raise at its limit: the 0.9 A the car did not
take read as sun, the Solar car's share rose by 0.1 A, and the fuse took it back from the raise
at once. Now a car that a sample surely shows taking less than offered keeps its shortfall
under a raise (``ChargerResponse.draw_at_grid``: counted at 16.2 A, not 16.9; ``test_response``
pins the rule).
"""

from __future__ import annotations

from custom_components.ocpp_ems.core.ems import Mode

from .test_redteam18a_fuse_edge_rounding import History, _last_minutes

# Random history 65 of the two-car scan with ramping cars: two cars 10 s slow, a 10 s meter.
OWN_CEILING_AT_THE_FUSE = History(
    Mode.SOLAR,
    32.0,
    10,
    ((10.0, 16.0, 1), (10.0, 25.0, 3)),
    ((42.6, 12, 20), (16.4, 2, 40), (29.0, 2, 90)),
    (23.2, 2),
    starts=((0.3, 8.0, 60.0), (0.1, 0.0, 0.0)),
)


async def test_a_raise_the_car_does_not_take_is_no_sun() -> None:
    """No write in the last 10 minutes of steady sun (before: 16.9 / 16.7 A every 100 s), the
    fuse never over."""
    writes, over_s = await _last_minutes(OWN_CEILING_AT_THE_FUSE)
    assert writes == {"a": [], "b": []}
    assert over_s == 0
