"""What plans learn over a restart (the stored form, ``PlanLearning.to_dict``): the hour and day
being measured are kept, so an hour the clock goes back into is not learned twice when Home
Assistant restarts in between (it was: the high-water mark was lost with the restart), and
a day's measuring goes on. Anything unreadable in the stored mark is left out."""

from __future__ import annotations

import json
from typing import Any

import pytest

from custom_components.ocpp_ems.core.ems.plan_learning import PlanLearning

from .test_learning_clock import DAY, H, capture_days, days, house_samples, run, steps


def restarted(learning: PlanLearning) -> PlanLearning:
    """``learning`` as a restart finds it: through its stored form, as JSON."""
    return PlanLearning.from_dict(json.loads(json.dumps(learning.to_dict())))


def test_the_clock_going_back_over_a_restart_learns_no_hour_twice() -> None:
    # 13:55 on day 0 (hour 12 is learned); Home Assistant restarts, and its clock has gone back
    # to 11:56 meanwhile (an NTP correction).
    before = run(steps(0, 13 * H + 58 * 60))
    learning = run(steps(11 * H + 56 * 60, 2 * DAY + 300.0), learning=restarted(before))
    assert house_samples(learning) == [2] * 24  # (hour 12 got three)
    assert days(learning) == capture_days(learning) == [0, 1]


def test_a_restart_within_the_hour_goes_on_measuring_it() -> None:
    """A restart of a minute in the middle of hour 12: the hour is still learned (its covered
    part from before the restart counts) and the day too."""
    before = run(steps(0, 12 * H + 30 * 60))
    learning = run(steps(12 * H + 31 * 60, 2 * DAY), learning=restarted(before))
    assert house_samples(learning) == [2] * 23 + [1]  # (day 1 ends in its hour 23)
    assert days(learning) == [0]


GOOD: dict[str, Any] = {
    "day": [740000, 100.0, 200.0],
    "hour": [0.0, 3600.0, 740000, 0] + [None] + [1.0] * 4,
}


@pytest.mark.parametrize(
    "measuring",
    [
        None,
        "garbage",
        {**GOOD, "day": [740000, "x", 200.0]},
        {**GOOD, "day": [1.5, 100.0, 200.0]},
        {**GOOD, "hour": GOOD["hour"][:-1]},
        {**GOOD, "hour": [0.0, 3600.0, 740000, 0, "x", 1.0, 1.0, 1.0, 1.0]},
        {**GOOD, "hour": [0.0, 3600.0, 740000, 0, None, 1.0, float("nan"), 1.0, 1.0]},
    ],
)
def test_an_unreadable_mark_is_left_out(measuring: object) -> None:
    learning = PlanLearning.from_dict({"measuring": measuring})
    assert "measuring" not in learning.to_dict()


def test_a_readable_mark_round_trips() -> None:
    learning = PlanLearning.from_dict({"measuring": GOOD})
    assert learning.to_dict()["measuring"] == GOOD
