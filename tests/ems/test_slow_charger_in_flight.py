"""A slow charger's write in flight (``limiter._last_write_shows_at``): in Solar mode a change
waits for the meters to show the last write while its response is watched (until the car is
seen following it, at most the longest settle), except where waiting would cost: a lower after
a raise (the raise's lag reads as more surplus, not less), a lower the fuse needs.

Closed loops of red team 11b (``Plant``: a decision a second, the production driver and
controller; the car follows a taken limit ``lag_s`` later, its meter every 10 s).
"""

from __future__ import annotations

from custom_components.ocpp_ems.core.ems import Mode

from .test_redteam11b_refused_fuse import Plant, Refusing
from .test_redteam11c_forgotten_write import _writes_since


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
    """Held: a 20 A fuse, the lower for the sun gone in flight, the house takes 12 A: the
    fuse's pause goes out the same second, the fuse over only while the car follows it (10 s,
    as at d714826)."""
    plant = await _raised_on_the_sun(20.0)
    await plant.run(5, house_a=1.0, pv_w=5000.0)
    plant.over_s = 0
    await plant.run(30, house_a=12.0, pv_w=5000.0)
    assert _writes_since(plant, "a", 321.0)[0] == (0.0, 321.0)
    assert plant.over_s <= 10
