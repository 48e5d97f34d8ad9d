"""Red team 20d: cars that take a steady 0.6-1.3 A less than the limit they follow.

Found (random two-car histories of red team 11b's closed loop, each car taking 0.3-1.3 A less
than its limit, 200 histories; notes 65-66): a car's shortfall was read as the car taking no
more (full, a taper, its own limit), so the manager capped it:

- a car 1.3 A under its limit at its start was capped at what it took, and the 1 A probe above
  that stayed at the minimum current: held there for good with 10 kW of sun. Now a shortfall an
  offset could explain is no cap where the probe would be no higher than the minimum
  (``measure._offset_pinned``);
- the manager learns each car's offset from its draw following a change of its limit
  (``follow_offset.py``) and uses it where a limit stands for a draw: a shortfall within it is
  no cap, the probe goes that much higher, the draw the grid shows of a write counts at the
  limit less the offset (``ChargerResponse.draw_at_grid``: counted at the limit, the surplus
  swung by the offset at each write), and a surplus car's limit is its share plus the offset
  (``ChargerWork.amps``: it left that much of its share to the grid);
- a write is watched from where the last limit leads when the car was not seen at it
  (``ChargerResponse.wrote``: writes as far apart as a slow charger's lag never were, and its
  response was never learned; tests/ems/test_follow_offset.py).

- a charger 10 s slow sampled 9 s after a raise, before its response was learned (the settle
  time the configured 8 s), had a cap learned from the draw before the raise (history 58: 76 %
  of the sun; two cars started at their minimum, 10 s slow on a 10 s meter: 31 %). Now such a
  sample, seen not showing the raise, does not show it till the car follows or the longest
  settle passed (``ChargerResponse.raise_unshown``; the grid counts the car at the raise
  meanwhile, so its rise is not read as the house's load).
"""

from __future__ import annotations

import pytest

from custom_components.ocpp_ems.core.ems import Mode

from .test_redteam18a_fuse_edge_rounding import History, before_last_minutes, share_of_the_sun

HISTORIES = {
    # History 58: a 3-phase car 10 s slow 0.9 A under, a 1-phase car 1.3 A under, a 10 s meter.
    "early_sample": History(
        Mode.MIN_SOLAR,
        25.0,
        10,
        ((10.0, 21.2, 3), (2.0, 32.0, 1)),
        ((36.7, 12, 40), (13.4, 5, 20)),
        (14.6, 0),
        offsets=(0.9, 1.3),
    ),
    # History 106: the same offsets, a car at its own 15.4 A.
    "held_at_the_minimum": History(
        Mode.MIN_SOLAR,
        25.0,
        10,
        ((10.0, 15.4, 3), (2.0, 25.1, 1)),
        ((25.2, 12, 20), (9.9, 12, 10)),
        (16.0, 2),
        offsets=(0.9, 1.3),
    ),
    # Two cars 1.3 A under their limits started at their minimum in little sun.
    "started_at_the_minimum": History(
        Mode.MIN_SOLAR,
        40.0,
        10,
        ((2.0, 32.0, 1), (2.0, 32.0, 3)),
        ((4.0, 0, 120), (6.0, 0, 120)),
        (20.0, 0),
        offsets=(1.3, 1.3),
    ),
    # The same with chargers 10 s slow.
    "started_slow_at_the_minimum": History(
        Mode.MIN_SOLAR,
        40.0,
        10,
        ((10.0, 32.0, 1), (10.0, 32.0, 3)),
        ((4.0, 0, 120), (6.0, 0, 120)),
        (20.0, 0),
        offsets=(1.3, 1.3),
    ),
    # History 138: two 3-phase cars 10 s slow, a 10 s meter.
    "never_seen_at_a_limit": History(
        Mode.SOLAR,
        25.0,
        10,
        ((10.0, 16.0, 3), (10.0, 32.0, 3)),
        ((17.4, 8, 10), (7.4, 12, 20), (42.2, 12, 10)),
        (20.2, 5),
        offsets=(0.9, 1.3),
    ),
    # History 141: a 1-phase and a 3-phase car 0.6 and 0.9 A under, a 30 s meter.
    "predicted_at_the_limit": History(
        Mode.MIN_SOLAR,
        40.0,
        30,
        ((2.0, 32.0, 1), (5.0, 32.0, 3)),
        ((24.3, 5, 90), (17.2, 2, 20)),
        (15.7, 5),
        offsets=(0.6, 0.9),
    ),
    # History 174: a 3-phase car 0.9 A under, a 1-phase car 10 s slow 1.3 A under, a 60 s meter.
    "probe_under_the_offset": History(
        Mode.MIN_SOLAR,
        40.0,
        60,
        ((2.0, 32.0, 3), (10.0, 32.0, 1)),
        ((19.7, 2, 90), (14.5, 12, 40), (13.1, 5, 10)),
        (26.7, 2),
        offsets=(0.9, 1.3),
    ),
    # History 70: two 1-phase cars 10 s slow, 0.9 and 1.3 A under, a 10 s meter.
    "watched_from_the_last_limit": History(
        Mode.SOLAR,
        40.0,
        10,
        ((10.0, 16.0, 1), (10.0, 32.0, 1)),
        ((16.5, 5, 40), (38.3, 8, 20), (31.0, 5, 40)),
        (28.2, 2),
        offsets=(0.9, 1.3),
    ),
}


async def _steady_sun(history: History) -> tuple[float, int, int]:
    """The cars' draw in the last 10 of 17 minutes of steady sun as a share of the surplus, the
    writes then, and the seconds the fuse was over in all."""
    plant, since = await before_last_minutes(history)
    share = await share_of_the_sun(plant, history, 600)
    writes = sum(1 for c in plant.controls.values() for _name, _amps, at in c.calls if at > since)
    return share, writes, plant.over_s


@pytest.mark.parametrize(
    ("name", "least_share", "most_over_s"),
    [
        ("early_sample", 0.9, 0),
        ("held_at_the_minimum", 0.9, 0),
        ("started_at_the_minimum", 0.95, 0),
        ("started_slow_at_the_minimum", 0.95, 0),
        ("never_seen_at_a_limit", 0.98, 0),
        ("predicted_at_the_limit", 0.95, 0),
        ("probe_under_the_offset", 0.9, 2),
        ("watched_from_the_last_limit", 0.4, 0),  # both on one line of a 40 A fuse
    ],
)
async def test_cars_under_their_limits_take_the_sun(
    name: str, least_share: float, most_over_s: int
) -> None:
    """In the last 10 minutes of steady sun the cars take most of the surplus (on 8132c0a the
    seven but the slow start: 48, 50, 31, 65, 89, 97 and 33 %, held at 6.3 A or at their
    minimum; on 1c82730, before a raise an early sample did not show was unshown, the first
    five: 76, 74, 100, 31, 94 %)
    with at most 4 writes (40 and 9 in the last two; 50 without counting the grid's draw at
    the limit less the offset, 19 without the offset in the cap, 60 with writes watched only
    from a clean start), and the fuse over no longer than on 8132c0a (a house step)."""
    share, writes, over_s = await _steady_sun(HISTORIES[name])
    assert share >= least_share, share
    assert writes <= 4, writes
    assert over_s <= most_over_s
