"""Each charger's response time is learned from its meter values and used (``response.py``)."""

from __future__ import annotations

import pytest

from custom_components.ocpp_ems.core.ems import (
    BatterySettings,
    ChargerSettings,
    EnergyManager,
    Mode,
    SiteSettings,
    SolarSettings,
)
from custom_components.ocpp_ems.core.ems.response import ChargerResponse, Write

from .util import SlowLoop

SOLAR = SolarSettings()


def stepping_pv(t: float) -> float:
    """PV that moves by 1.5 kW every 90 s: enough writes to learn from."""
    return 6000.0 + (1500.0 if int(t // 90) % 2 else 0.0)


def solar_manager() -> EnergyManager:
    return EnergyManager(SiteSettings(), {"a": ChargerSettings(mode=Mode.SOLAR)})


def test_nothing_learned_yet_means_the_configured_times() -> None:
    response = ChargerResponse()
    assert response.late_s(SOLAR) == SOLAR.settle_s
    assert response.late_s(SOLAR, start=True) == SOLAR.start_settle_s
    assert response.early_s(SOLAR) == 0.0


def test_the_slowest_start_bounds_when_a_car_taking_nothing_is_full() -> None:
    response = ChargerResponse()
    assert response.slowest_start_s(SOLAR) == SOLAR.start_settle_s  # nothing seen
    response.load({"starts": [[2, 4], [3, 5]]}, SOLAR)
    assert response.slowest_start_s(SOLAR) == SOLAR.start_settle_s  # too few: the default
    response.load({"starts": [[2, 4], [3, 5], [2, 4], [40, 45]]}, SOLAR)
    # The slowest (a switch's pause), where the settle time is the usual one.
    assert response.slowest_start_s(SOLAR) == 45.0
    assert response.late_s(SOLAR, start=True) == 4.0
    response.load({"starts": [[2, 4], [3, 5], [2, 4], [80, 200]]}, SOLAR)
    assert response.slowest_start_s(SOLAR) == SOLAR.start_settle_max_s


def test_a_slow_chargers_response_is_learned_from_its_meter() -> None:
    # Applies a limit after 15 s, a start 20 s later still; meter values every 10 s.
    m = solar_manager()
    loop = SlowLoop(m, stepping_pv, lambda t: 300.0, apply_s=15.0, start_s=20.0)
    loop.run(0, 1800)
    response = m._memory["a"].response
    assert len(response.changes) >= 3
    # Bounds around the real 15 s, not the 8 s configured for an unknown charger.
    assert 8.0 < response.early_s(SOLAR) <= 15.0 <= response.late_s(SOLAR) < 25.0
    assert response.late_s(SOLAR, start=True) >= 35.0


def test_a_fast_chargers_settle_time_is_shorter_than_the_default() -> None:
    m = solar_manager()
    loop = SlowLoop(m, stepping_pv, lambda t: 300.0, apply_s=1.0, meter_s=2.0)
    loop.run(0, 1800)
    response = m._memory["a"].response
    assert len(response.changes) >= 3
    assert response.late_s(SOLAR) <= 3.0


def test_a_slow_charger_gets_one_write_per_change_once_learned() -> None:
    # A charger that applies a limit 15 s late: a raise it has not applied yet must not count as
    # drawn in the grid meter (the next one would add the same surplus again), nor a drop (the
    # controller would drop again at every grid reading): either way the car oscillates. With
    # its response learned (the first minutes), each PV step of 1.5 kW takes one write.
    m = solar_manager()
    loop = SlowLoop(m, stepping_pv, lambda t: 300.0, apply_s=15.0, start_s=20.0)
    loop.run(0, 899)
    written = len(loop.writes)
    loop.run(900, 1799)
    assert len(loop.writes) - written <= 10  # ten PV steps (the fixed 8 s: 70 writes)
    assert loop.amps() == pytest.approx((stepping_pv(1799) - 300.0) / 690.0, abs=0.1)


def test_battery_never_feeds_the_car_across_a_house_load_step() -> None:
    # A Fast car at 16 A from the grid, the battery covers the house (no discharge to the car).
    # The house steps from 300 W to 3 kW: the fuse lowers the car, which the charger applies
    # only 15 s later. Meanwhile the car still draws 16 A: counted at its new limit, the house's
    # deficit would include 2 kW of the car, and the battery's cap would let it through.
    site = SiteSettings(fuse_a=25.0, battery=BatterySettings(priority_soc=100.0))
    m = EnergyManager(site, {"a": ChargerSettings(mode=Mode.FAST)})

    def house(t: float) -> float:
        return 3000.0 if 600 <= t < 1200 else 300.0

    loop = SlowLoop(m, lambda t: 0.0, house, apply_s=15.0, start_s=5.0, battery_w=5000.0)
    loop.run(0, 1800)
    assert loop.battery_to_car_wh < 0.05
    assert min(w.current_a for _, w in loop.writes) < 16.0  # the fuse did lower the car


@pytest.mark.parametrize(
    ("sample_at", "lower_a", "counted_a"),
    [
        (40.0, 16.3, 16.0),  # the sample surely shows 16.8: the car takes no more under 16.3
        (40.0, 12.0, 12.0),  # a lower below what the car took: the lower
        (20.0, 16.3, 16.3),  # the car may still be rising to 16.8: the lower, as before
        (40.0, 17.5, 16.7),  # a raise: the 0.7 A it adds at most (its shortfall kept)
        (20.0, 17.5, 17.5),  # the car may still be rising to 16.8: the raise, as before
    ],
)
def test_a_car_keeps_the_shortfall_it_surely_showed(
    sample_at: float, lower_a: float, counted_a: float
) -> None:
    """16.8 A written at 0, the car seen taking 16.0 (its own maximum or an offset), then a new
    limit at 41 s that the grid shows at 50 s and the charger's meter does not yet
    (``draw_at_grid``)."""
    response = ChargerResponse()
    response.wrote(0.0, 16.8, SOLAR, start=False)
    response.observe(sample_at, 16.0, 3, SOLAR)
    response.wrote(41.0, lower_a, SOLAR, start=False)
    assert response.draw_at_grid(50.0, sample_at, 16.0, SOLAR) == pytest.approx(counted_a)


def test_a_switch_counts_at_its_limit_whatever_the_car_took_before() -> None:
    """As above, but 17.5 A at 41 s is a 1p/3p switch (a start to the learner): the car
    handshakes again, its shortfall before says nothing of what it takes now."""
    response = ChargerResponse()
    response.wrote(0.0, 16.8, SOLAR, start=False)
    response.observe(40.0, 16.0, 3, SOLAR)
    response.wrote(41.0, 17.5, SOLAR, start=True, phases=1)
    assert response.draw_at_grid(50.0, 40.0, 16.0, SOLAR) == 17.5


def test_a_raise_after_a_lower_the_car_did_not_fill_adds_only_itself() -> None:
    """16.8 A at 0, 15.0 A at 35 s, the car seen at 14.0 A at 40 s (under both), then 16.3 A at
    41 s: it may take the 1.3 A the raise adds to the 15.0 it did not fill, no more (counted at
    14.0 A before this rule, as under a lower)."""
    response = ChargerResponse()
    response.wrote(0.0, 16.8, SOLAR, start=False)
    response.wrote(35.0, 15.0, SOLAR, start=False)
    response.observe(40.0, 14.0, 3, SOLAR)
    response.wrote(41.0, 16.3, SOLAR, start=False)
    assert response.draw_at_grid(50.0, 40.0, 14.0, SOLAR) == pytest.approx(15.3)


def test_a_car_taking_a_lower_decided_before_its_sample_takes_more_under_a_higher() -> None:
    """16.8 A at 0, 12 A at 35 s, the sample at 40 s (it surely shows 16.8 and may show 12):
    the car seen at 12 A may take all of it, so 16.3 A written at 41 s counts in full (counted
    at 12 A, a car back from a cloud's lower read as taking nothing of its raise: both cars of
    a random two-car history lowered again at once, 25 writes where 11 did)."""
    response = ChargerResponse()
    response.wrote(0.0, 16.8, SOLAR, start=False)
    response.wrote(35.0, 12.0, SOLAR, start=False)
    response.observe(40.0, 12.0, 3, SOLAR)
    response.wrote(41.0, 16.3, SOLAR, start=False)
    assert response.draw_at_grid(50.0, 40.0, 12.0, SOLAR) == 16.3


def test_a_car_still_ramping_counts_at_a_lower_it_may_reach() -> None:
    """As above, but the car's sample at 40 s is 1 A up on the one at 20 s: it may be ramping
    (a car ramping slower than any settle time): 16.3 A counts in full. (Counted at 16.0 A, the
    slow ramps of a random two-car scan wrote more: 5,655 -> 5,677 writes in 220 histories.)"""
    response = ChargerResponse()
    response.wrote(0.0, 16.8, SOLAR, start=False)
    response.observe(20.0, 15.0, 3, SOLAR)
    response.observe(40.0, 16.0, 3, SOLAR)
    response.wrote(41.0, 16.3, SOLAR, start=False)
    assert response.draw_at_grid(50.0, 40.0, 16.0, SOLAR) == 16.3


def _raise_a_sample_missed(response: ChargerResponse) -> Write | None:
    """6.2 A at 0 (the car seen at it), 9.3 A at 20 s, a sample at 29 s still at 6.2 A: the
    raise (the last write)."""
    response.wrote(0.0, 6.2, SOLAR, start=False)
    response.observe(10.0, 6.2, 3, SOLAR)
    response.wrote(20.0, 9.3, SOLAR, start=False)
    raised = response.last_write
    response.observe(29.0, 6.2, 3, SOLAR)
    return raised


@pytest.mark.parametrize("learned", [False, True])
def test_a_raise_a_sample_did_not_show_is_not_shown_by_it_till_the_response_is_learned(
    learned: bool,
) -> None:
    """6.2 A at 0 (the car seen at it), 9.3 A at 20 s, a sample at 29 s still at 6.2 A. Before
    the charger's response is learned (the 8 s settle time is a guess) that sample does not
    show the raise: the charger may be slower (10 s: the car was capped at 5.8 A, taking 76 %
    of the sun for good). Learned (2 s), it does: the car takes no more."""
    response = ChargerResponse()
    if learned:
        response.load({"changes": [[1.0, 2.0]] * 3}, SOLAR)
    raised = _raise_a_sample_missed(response)
    assert response.raise_unshown(29.0) is not learned
    assert (response.shown_by_sample(29.0, SOLAR) is raised) is learned
    # The grid counts the car at the raise meanwhile (none: the sample holds).
    assert response.draw_at_grid(29.5, 29.0, 6.2, SOLAR) == (None if learned else 9.3)
    # A sample after the longest settle shows it whatever the charger.
    response.observe(51.0, 6.2, 3, SOLAR)
    assert not response.raise_unshown(51.0)
    assert response.shown_by_sample(51.0, SOLAR) is raised


def test_a_lower_a_sample_did_not_show_is_shown_by_it_after_the_settle_time() -> None:
    """The rule above is a raise's: a car not seen following a lower after the settle time
    draws what it drew (it may draw it still: ``_lower_in_flight`` counts it)."""
    response = ChargerResponse()
    response.wrote(0.0, 16.0, SOLAR, start=False)
    response.observe(10.0, 16.0, 3, SOLAR)
    response.wrote(20.0, 9.3, SOLAR, start=False)
    response.observe(29.0, 16.0, 3, SOLAR)
    assert not response.raise_unshown(29.0)
    assert response.shown_by_sample(29.0, SOLAR) is response.last_write


def test_a_raise_shows_once_its_longest_settle_passed_not_at_the_next_sample() -> None:
    """6.2 A at 0 (the car at it), 9.3 A at 20 s, no sample showing it by 50 s (20 + the
    longest settle): from then the sample at 29 s shows the raise (the car is judged by it: a
    car at its own maximum counted at the raise till the next sample was raised again on that
    phantom surplus as the limiter let it, red team 20f)."""
    response = ChargerResponse()
    raised = _raise_a_sample_missed(response)
    response.tick(49.0, SOLAR)
    assert response.raise_unshown(29.0)
    response.tick(20.0 + SOLAR.settle_max_s, SOLAR)
    assert not response.raise_unshown(29.0)
    assert response.shown_by_sample(29.0, SOLAR) is raised
