"""Red team of the stale fallback's switch down to 1 phase (``phases.down_to_floor_phases``): a
meter that flickers unavailable every few seconds (a weak Wi-Fi or Modbus link) must not switch
a 1p/3p charger back and forth (each switch pauses the car and wears the charger's relays)."""

from __future__ import annotations

from itertools import pairwise

from custom_components.ocpp_ems.core.ems import StaleFallback

from .test_stale_battery import STALE_AT, STALE_METER, SUNNY_W, uncapped_loop

FLICKER_S = 5  # the meter reads, then reads unavailable, this long each
TEN_MINUTES_S = 600


@STALE_METER
def test_a_flickering_meter_switches_the_phases_down_once(stale: str) -> None:
    """A Min + solar car on a 1p/3p charger in the sun, no discharge limit; for ten minutes the
    meter reads for 5 s, then is unavailable for 5 s: the car goes to 1 phase at the first spell
    and stays there (it switched at every settle time: 10 switches in 10 minutes)."""
    loop = uncapped_loop(stale, StaleFallback.MIN_CURRENT, chargers=("min",), switchable=True)
    loop.pv = lambda _t: SUNNY_W
    loop.run(0.0, STALE_AT - 1.0)
    phases = [loop.phases("min")]
    assert phases == [3]
    for t in range(int(STALE_AT), int(STALE_AT) + TEN_MINUTES_S):
        fresh = (t // FLICKER_S) % 2 == 0
        loop.stale_at = None if fresh else t
        loop.step(float(t))
        phases.append(loop.phases("min"))
    switches = sum(1 for before, after in pairwise(phases) if before != after)
    assert switches == 1, switches
    assert phases[-1] == 1
