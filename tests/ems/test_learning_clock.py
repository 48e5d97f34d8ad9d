"""What plans learn (``plan_learning.py``, ``sun_capture.py``) while Home Assistant's clock or the
site's local time is hostile: the wall clock going back (an NTP correction) or forward, the
clocks changing for summer and winter (23 h and 25 h days), a long gap between updates, the
site's time zone changing, a stored state from "the future". Each local hour and day is learned
once, none is made up, and the house load plans count follows the site's local time."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from itertools import chain
from zoneinfo import ZoneInfo

import pytest

from custom_components.ocpp_ems.core.ems import EnergySlot, PlanSettings, SiteSettings
from custom_components.ocpp_ems.core.ems.plan_learning import PlanLearning

from .test_plan_learning import measured, sun

H = 3600.0
DAY = 24 * H
STEP = 300.0
FACTOR = 2.0  # the forecast says twice the sun: each day learned is a ratio of 0.5
BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK_WINTER = timezone(timedelta(hours=-5))
EPOCH_DAY = datetime(1970, 1, 1).toordinal()

type Zone = Callable[[float], tzinfo]


def utc(_t: float) -> tzinfo:
    return UTC


def steps(t0: float, t1: float) -> list[float]:
    """Update times from ``t0`` up to ``t1`` (excluded), ``STEP`` apart."""
    return [t0 + n * STEP for n in range(math.ceil((t1 - t0) / STEP))]


def run(
    times: Iterable[float], zone: Zone = utc, learning: PlanLearning | None = None
) -> PlanLearning:
    """Updates at ``times`` (in the order given: the wall clock may jump) as the driver gives
    them, with a forecast of twice the sun in the site's local time at each."""
    learning = PlanLearning() if learning is None else learning
    times = list(times)
    forecast = tuple(
        EnergySlot(h, h + H, sun(h, zone(h)) * FACTOR)
        for h in range(int(min(times) // H * H), int(max(times) + 2 * DAY), int(H))
    )
    for t in times:
        learning.update(SiteSettings(), measured(t, forecast, zone=zone(t)), t, zone(t))
    return learning


def house_samples(learning: PlanLearning) -> list[int]:
    """How many days each local hour of the day holds."""
    return [len(samples) for samples in learning.to_dict()["house_w"]]


def days(learning: PlanLearning) -> list[int]:
    """The local dates (days since the epoch) of the forecast's learned days."""
    return [day - EPOCH_DAY for day, _ in learning.to_dict()["ratios"]]


def capture_days(learning: PlanLearning) -> list[int]:
    """The local dates of the sun capture's learned days (a 1p car's minimum)."""
    return [day - EPOCH_DAY for day, _ in learning.to_dict()["sun_capture"]["1380"]]


def test_the_clock_going_back_an_hour_learns_no_hour_twice() -> None:
    # 12:55 on day 0 (hour 12 is covered): an NTP correction takes it back to 11:56.
    learning = run(chain(steps(0, 12 * H + 58 * 60), steps(11 * H + 56 * 60, 2 * DAY + STEP)))
    assert house_samples(learning) == [2] * 24
    assert days(learning) == capture_days(learning) == [0, 1]
    assert learning.confidence(0.7) == 0.7  # two days: not enough yet


def test_the_clock_going_back_a_day_learns_no_day_twice() -> None:
    # 10:00 on day 1, back to 10:02 on day 0: the day replayed is not learned again, day 1 is
    # learned once, whole (before the jump and after the clock got past it again).
    learning = run(chain(steps(0, DAY + 10 * H + 60), steps(10 * H + 120, 3 * DAY + STEP)))
    assert days(learning) == capture_days(learning) == [0, 1, 2]
    assert house_samples(learning) == [3] * 24
    assert learning.confidence(0.7) == pytest.approx(1 / FACTOR)


def test_a_clock_that_went_back_further_learns_on_at_once() -> None:
    # A week ahead (a clock that was wrong), then right: learning does not wait for that week.
    learning = run(chain(steps(7 * DAY, 7 * DAY + 12 * H), steps(0, 3 * DAY + STEP)))
    assert days(learning) == [7, 0, 1, 2]
    assert learning.confidence(0.7) == pytest.approx(1 / FACTOR)


@pytest.mark.parametrize(
    ("night", "hours_that_day"),
    [(datetime(2026, 3, 29, tzinfo=BERLIN), 23), (datetime(2026, 10, 25, tzinfo=BERLIN), 25)],
)
def test_a_daylight_saving_night_learns_each_local_hour_once(
    night: datetime, hours_that_day: int
) -> None:
    """The day before, the day the clocks change and the day after, by local time."""
    start = (night - timedelta(days=1)).timestamp()
    end = (night + timedelta(days=2)).timestamp()
    assert end - start == (48 + hours_that_day) * H
    learning = run(steps(start, end + STEP), lambda _t: BERLIN)
    # 02:00 does not exist in spring; in autumn it comes twice and is learned once.
    spring = hours_that_day == 23
    assert house_samples(learning) == [3] * 2 + [2 if spring else 3] + [3] * 21
    assert len(days(learning)) == 3
    assert learning.confidence(0.7) == pytest.approx(1 / FACTOR)


def test_the_clock_going_forward_or_a_night_without_updates_learns_no_made_up_hour() -> None:
    # An hour forward at 12:30 on day 0; no update from 20:00 on day 1 to 07:00 on day 2.
    learning = run(
        chain(
            steps(0, 12 * H + 30 * 60),
            steps(13 * H + 30 * 60, DAY + 20 * H),
            steps(2 * DAY + 7 * H, 3 * DAY + STEP),
        )
    )
    expected = [3] * 24
    for missed in (12, 13, *range(20, 24), *range(7)):
        expected[missed] -= 1  # hours not covered are not learned
    assert house_samples(learning) == expected
    assert days(learning) == [0, 1, 2]
    # What the forecast said for the hours measured, not for those missed.
    assert learning.confidence(0.7) == pytest.approx(1 / FACTOR)


def test_the_site_moving_west_learns_no_local_hour_twice() -> None:
    # At 14:00 UTC on day 1 the site's zone becomes UTC-5 (09:00): local 09:00 to 14:00 were
    # learned already that day.
    def zone(t: float) -> tzinfo:
        return UTC if t < DAY + 14 * H else NEW_YORK_WINTER

    learning = run(steps(0, 3 * DAY + 5 * H + STEP), zone)
    assert house_samples(learning) == [3] * 24
    assert days(learning) == [0, 1, 2]


def test_the_house_load_planned_follows_a_new_time_zone_at_once() -> None:
    """A house that draws 2 kW from 18:00 to 19:00 local time: when the site's zone changes,
    the plan gets it at 18:00 in the new zone from the next update on."""
    learning = PlanLearning()
    forecast = tuple(EnergySlot(h * H, (h + 1) * H, 0.0) for h in range(24 * 3))
    for t in steps(0, 2 * DAY + STEP):
        house = 2000.0 if datetime.fromtimestamp(t, UTC).hour == 18 else 300.0
        learning.observe(measured(t, forecast, house=house), t, UTC)

    def planned_at_18(zone: tzinfo) -> float:
        settings = learning.plan_settings(PlanSettings(), 2 * DAY + 10 * H, zone)
        return next(
            slot.wh
            for slot in settings.house_slots
            if datetime.fromtimestamp(slot.start, zone).hour == 18
        )

    assert planned_at_18(UTC) == pytest.approx((500.0 * 2 + 2000.0 * 2) / 4)
    assert planned_at_18(NEW_YORK_WINTER) == pytest.approx((500.0 * 2 + 2000.0 * 2) / 4)


def test_a_stored_state_from_the_future_does_not_stop_learning() -> None:
    """Stored while the clock was a year ahead: the days learned after the restart count."""
    year_ahead = EPOCH_DAY + 365
    stored = {
        "ratios": [[year_ahead + day, 1.0] for day in range(3)],
        "house_w": [[400.0] * 3] * 24,
        "sun_capture": {"1380": [[year_ahead + day, 1.0] for day in range(3)]},
    }
    learning = run(steps(0, 3 * DAY + STEP), learning=PlanLearning.from_dict(stored))
    assert days(learning) == [365, 366, 367, 0, 1, 2]
    assert capture_days(learning) == [365, 366, 367, 0, 1, 2]
    assert house_samples(learning) == [6] * 24
    # Ratios 1, 1, 1, 0.5, 0.5, 0.5: a low quantile is the learned days'.
    assert learning.confidence(0.7) == pytest.approx(1 / FACTOR)
