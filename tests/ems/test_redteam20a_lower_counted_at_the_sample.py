"""Red team 20a on the fix of red team 19c: a lower counted at what the sample showed.

The first version of 19c's fix counted any limit no higher than the one the charger's sample
shows at what the sample showed the car take, however soon after that write the sample came.
Random two-car histories (red team 18a's closed loop) found where that is wrong: two Solar cars
10 s slow with a meter every 10 s, whose learned settle time is shorter than their lag. A sample
9 s after a raise still showed the car below it; a lower 1 A under the raise was then counted at
that old draw, the surplus fell, both cars were lowered, and raised again when the next sample
showed them up: 6.2 / 7.2 / 8.0 A every 10 s for good (266 writes; 22 at c5510ba). Now a lower
counts at the sample only where the sample surely shows the limit before it
(``ChargerResponse.surely_shown_at``: the longest settle time has passed since its write), and
shows the car taking less than every limit decided since (``test_response``: a car seen taking
a lower decided since may take more under a higher one).
"""

from __future__ import annotations

from custom_components.ocpp_ems.core.ems import Mode

from .test_redteam18a_fuse_edge_rounding import History, _last_minutes

# Random history 375 of the two-car scan: 25 A fuse, two 3-phase cars 10 s slow.
SLOW_CARS = History(
    Mode.SOLAR,
    25.0,
    10,
    ((10.0, 25.7, 3), (10.0, 17.7, 3)),
    ((11.6, 0, 10), (10.0, 8, 10), (34.9, 12, 90), (11.5, 0, 10), (33.5, 12, 40)),
    (15.2, 0),
)


async def test_a_lower_soon_after_a_raise_counts_at_its_limit() -> None:
    """No write in the last 10 minutes of steady sun, the fuse never over (the first version:
    a write each 10 s for both cars to the end)."""
    writes, over_s = await _last_minutes(SLOW_CARS)
    assert writes == {"a": [], "b": []}
    assert over_s == 0
