"""A car's offset below the limit it follows (``follow_offset.py``) and where it is used."""

from __future__ import annotations

import math

import pytest

from custom_components.ocpp_ems.core.ems import SolarSettings
from custom_components.ocpp_ems.core.ems.follow_offset import MAX_OFFSET_A, FollowOffset, is_offset
from custom_components.ocpp_ems.core.ems.response import ChargerResponse, draw_under

SOLAR = SolarSettings()


def _seen(*samples: tuple[float, float]) -> FollowOffset:
    """``samples`` (limit, draw) taken 10 s apart."""
    follow = FollowOffset()
    for index, (limit_a, drawn_a) in enumerate(samples):
        follow.observe(10.0 * index, limit_a, drawn_a)
    return follow


def test_a_car_that_moves_with_its_limit_has_the_shortfall_as_offset() -> None:
    assert _seen().offset_a == 0.0  # nothing seen
    assert _seen((6.0, 4.7)).offset_a == 0.0  # one limit says nothing
    assert _seen((6.0, 4.7), (12.0, 10.7)).offset_a == pytest.approx(1.3)
    # A walk down by 0.3 A steps, the draw with it: also following.
    assert _seen((9.4, 8.1), (9.1, 7.8), (8.8, 7.5)).offset_a == pytest.approx(1.3)
    # The median of the last few: one stray move does not set it.
    follow = _seen((6.0, 5.1), (12.0, 11.1), (6.0, 5.1), (12.0, 11.1), (13.0, 10.6))
    assert follow.offset_a == pytest.approx(0.9)


@pytest.mark.parametrize(
    "samples",
    [
        ((12.0, 16.0), (20.0, 16.0)),  # at its own limit: the draw did not move
        ((16.0, 14.0), (15.0, 14.0)),  # tapering: a lower limit it still takes all of
        ((6.0, 5.0), (6.2, 5.2)),  # a change too small to tell
        ((6.0, 2.0), (12.0, 8.0)),  # 4 A under: no offset, it takes less
        ((10.0, 5.0), (16.0, 8.0)),  # moved, but not with the limit
    ],
)
def test_a_car_that_does_not_follow_has_no_offset(samples: tuple[tuple[float, float], ...]) -> None:
    assert _seen(*samples).offset_a == 0.0


def test_the_same_sample_again_and_a_clock_going_back() -> None:
    follow = FollowOffset()
    follow.observe(10.0, 6.0, 5.1)
    follow.observe(10.0, 12.0, 11.1)  # the same sample under a newer limit: not a new one
    assert follow.offset_a == 0.0
    follow.observe(20.0, 12.0, 11.1)
    assert follow.offset_a == pytest.approx(0.9)
    follow.clock_went_back()  # the next sample counts as new, what was learned stays
    follow.observe(5.0, 6.0, 5.1)
    assert follow.offset_a == pytest.approx(0.9)
    follow.forget()
    assert follow.offset_a == 0.0
    assert MAX_OFFSET_A >= 1.3


def test_offsets_stored_before_a_restart_go_before_those_seen_since() -> None:
    follow = _seen((6.0, 5.1), (12.0, 11.1))  # seen since the restart: 0.9
    follow.prior((1.3, 1.3, 1.3, 1.3))  # stored: the newest 5 of them all stay
    assert follow.offsets == pytest.approx((1.3, 1.3, 1.3, 1.3, 0.9))
    follow.observe(30.0, 6.0, 5.1)
    follow.observe(40.0, 12.0, 11.1)
    assert follow.offsets == pytest.approx((1.3, 1.3, 0.9, 0.9, 0.9))
    assert follow.offset_a == pytest.approx(0.9)
    values = (0.0, 0.3, 0.5, 1.3, 2.0, 2.1, -1.0, math.nan, math.inf)
    assert [is_offset(a) for a in values] == [True, False, True, True, True] + [False] * 4


def test_a_limit_counts_at_what_the_car_takes_under_it() -> None:
    assert draw_under(10.0, 0.9) == pytest.approx(9.1)
    assert draw_under(0.0, 0.9) == 0.0  # paused
    assert draw_under(0.5, 0.9) == 0.0


def test_a_write_the_car_is_already_past_is_not_watched() -> None:
    response = ChargerResponse()
    response.observe(0.0, 6.0, 3, SOLAR)
    response.wrote(1.0, 10.0, SOLAR, start=False)
    response.watch = None
    response.observe(5.0, 6.0, 3, SOLAR)
    # Back down to 7 A: the car, still at 6 A, is already where 7 A leads from 10 A.
    response.wrote(6.0, 7.0, SOLAR, start=False)
    assert response.watch is None


def test_a_charger_as_slow_as_its_writes_are_apart_is_learned() -> None:
    """History 138 of the shortfall scan: writes 10 s apart to a charger 10 s slow, a meter every
    10 s: each sample showed the write before the last, so none was ever clean and the charger
    was taken for the configured 8 s for good (9.2 / 15.2 A every 10 s). The write is watched
    from where the last limit leads."""
    response = ChargerResponse()
    response.observe(30.0, 5.1, 3, SOLAR)
    response.wrote(31.0, 12.0, SOLAR, start=False, offset_a=0.9)
    response.watch = None  # (as in the history: its watch never ended)
    response.observe(40.0, 5.1, 3, SOLAR)
    response.wrote(41.0, 9.2, SOLAR, start=False, offset_a=0.9)
    response.watch = None
    response.observe(50.0, 11.1, 3, SOLAR)  # 12 A applied at 41
    response.wrote(51.0, 15.2, SOLAR, start=False, offset_a=0.9)
    watch = response.watch
    assert watch is not None
    assert watch.before_a == pytest.approx(8.3)  # where 9.2 A leads
    response.observe(60.0, 8.3, 3, SOLAR)  # 9.2 A applied at 51
    response.wrote(61.0, 9.2, SOLAR, start=False, offset_a=0.9)  # turns it back
    response.observe(70.0, 14.3, 3, SOLAR)  # 15.2 A applied at 61
    assert list(response.changes) == [(9.0, 19.0)]
    assert response.late_s(SOLAR) == 19.0
