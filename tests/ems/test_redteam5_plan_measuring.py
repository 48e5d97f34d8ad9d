"""Red team 5: the stored hour and day being measured (``PlanLearning.to_dict``'s ``measuring``,
fc3c74e) read back from a hostile or damaged store. ``_load_measuring`` checks each value's type
and finiteness, not what it must be: an hour of the day outside 0..23, an hour that ends before
it starts, a negative house energy. Each is used as it is once the hour closes: the energy
manager's update raises at every update from then on, or the house load plans count is made up.
"""

from __future__ import annotations

from typing import Any

import pytest

from custom_components.ocpp_ems.core.ems.plan_learning import PlanLearning

from .test_learning_clock import DAY, EPOCH_DAY, H, run, steps

TODAY = EPOCH_DAY + 2  # (a local date as stored: ordinal)


def stored_hour(
    *, start: float, end: float, of_day: int, house_wh: float, house_s: float
) -> dict[str, Any]:
    """A store whose hour being measured is as given (the day's sums zero, PV unmeasured)."""
    return {
        "measuring": {
            "day": [TODAY, 0.0, 0.0],
            "hour": [start, end, TODAY, of_day, None, 0.0, 0.0, house_wh, house_s],
        }
    }


HOSTILE = {
    # An hour of the day past 23 (a store written by hand, or damaged): every hour of the next day
    # is taken for one measured already (``_replays``), then the covered hour's mean goes to
    # house slot 24.
    "hour_of_day_24": stored_hour(
        start=2 * DAY, end=2 * DAY + H, of_day=24, house_wh=500.0, house_s=H
    ),
    # An hour that ends where it starts: covered by no time at all, its mean divides by it.
    "empty_hour": stored_hour(start=2 * DAY, end=2 * DAY, of_day=0, house_wh=0.0, house_s=0.0),
}


@pytest.mark.parametrize("store", HOSTILE.values(), ids=HOSTILE.keys())
def test_a_hostile_measuring_entry_never_stops_the_updates(store: dict[str, Any]) -> None:
    """Restarted from the store, the next 26 hours are measured as without it (as after a
    restart from a store without the mark): hour 2 twice (days 2 and 3), the others once."""
    learning = run(steps(2 * DAY + 2 * H, 3 * DAY + 4 * H), learning=PlanLearning.from_dict(store))
    house_w = learning.to_dict()["house_w"]
    assert [len(samples) for samples in house_w] == [1, 1, 2] + [1] * 21


def test_a_negative_house_energy_in_the_store_is_no_house_load() -> None:
    """A stored hour 01:00 covered by a house energy of -50 kWh (a hostile store): from_dict
    never keeps a negative house mean in the learned days; the mark must not bring one in."""
    store = stored_hour(
        start=2 * DAY + H, end=2 * DAY + 2 * H, of_day=1, house_wh=-50_000.0, house_s=H
    )
    learning = run(steps(2 * DAY + 2 * H, 2 * DAY + 3 * H), learning=PlanLearning.from_dict(store))
    assert all(w >= 0.0 for w in learning.to_dict()["house_w"][1])
