"""The stored hour and day being measured (``PlanLearning.to_dict``'s ``measuring``) with any one
field hostile: a wrong type, a bool for a number, NaN, infinite, huge, negative, an hour of the
day past 23. Each is either left out or used, and the updates go on for good: a day and more of
them (the stored hour closes, the day closes) never raise, and what plans learn stays a finite
number >= 0 that the store can write as JSON."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest

from custom_components.ocpp_ems.core.ems import PlanSettings
from custom_components.ocpp_ems.core.ems.plan_learning import PlanLearning

from .test_learning_clock import DAY, H, run, steps
from .test_redteam5_plan_measuring import stored_hour

MEASURED_UNTIL = 12 * H + 30 * 60  # the store is written in the middle of hour 12 of day 0
HOSTILE_VALUES: dict[str, object] = {
    "none": None,
    "text": "12",
    "list": [],
    "dict": {},
    "true": True,
    "false": False,
    "nan": math.nan,
    "inf": math.inf,
    "-inf": -math.inf,
    "huge": 1e308,
    "-huge": -1e308,
    "huge_int": 10**400,  # (past a float's range)
    "-1": -1,
    "-0.5": -0.5,
    "24": 24,
    "7h": 7 * H,
}


def _stored_mark() -> dict[str, list[Any]]:
    """The mark as a real run writes it (its day has forecast and PV already)."""
    stored = run(steps(0, MEASURED_UNTIL)).to_dict()["measuring"]
    return json.loads(json.dumps(stored))  # type: ignore[no-any-return]


def _cases() -> list[Any]:
    mark = _stored_mark()
    cases = []
    for key, values in mark.items():
        for index in range(len(values)):
            for name, hostile in HOSTILE_VALUES.items():
                field = [*values]
                field[index] = hostile
                cases.append(pytest.param({**mark, key: field}, id=f"{key}[{index}]={name}"))
    return cases


def _finite_sample(value: object) -> bool:
    return isinstance(value, float | int) and math.isfinite(value) and value >= 0.0


def test_the_unchanged_mark_is_taken() -> None:
    """(The fuzzed mark is one a restart goes on with.)"""
    mark = _stored_mark()
    assert PlanLearning.from_dict({"measuring": mark}).to_dict()["measuring"] == mark


@pytest.mark.parametrize("mark", _cases())
def test_a_hostile_field_never_stops_the_updates(mark: dict[str, list[Any]]) -> None:
    learning = run(
        steps(MEASURED_UNTIL + 60.0, DAY + 14 * H),
        learning=PlanLearning.from_dict({"measuring": mark}),
    )
    stored = learning.to_dict()
    json.dumps(stored, allow_nan=False)
    assert all(_finite_sample(w) for samples in stored["house_w"] for w in samples)
    assert all(_finite_sample(ratio) for _, ratio in stored["ratios"])
    summary = learning.summary(PlanSettings())
    assert all(_finite_sample(w) for w in summary["house_w_by_hour"])


def test_a_huge_mean_of_a_short_stored_hour_is_no_sample() -> None:
    """A stored hour of 1 s at 02:00 covered by 1e308 Wh (each value readable): its mean is past a
    float's range. The hour is learned from the days measured only."""
    store = stored_hour(
        start=2 * DAY + 2 * H, end=2 * DAY + 2 * H + 1.0, of_day=2, house_wh=1e308, house_s=1.0
    )
    learning = run(steps(2 * DAY + 2 * H, 3 * DAY + 4 * H), learning=PlanLearning.from_dict(store))
    assert learning.to_dict()["house_w"][2] == [400.0]  # (day 3's; day 2's hour 2 was replayed)


GOOD = {"day": [740000, 100.0, 200.0], "hour": [0.0, H, 740000, 0, 50.0, 1.0, H, 1.0, H]}


HOUR_FIELDS = ("start", "end", "day", "of_day", "forecast", "pv_wh", "pv_s", "house_wh", "house_s")


def _hour_with(**values: object) -> dict[str, list[Any]]:
    """``GOOD`` with the hour's fields given by name."""
    hour = [values.get(name, v) for name, v in zip(HOUR_FIELDS, GOOD["hour"], strict=True)]
    return {**GOOD, "hour": hour}


@pytest.mark.parametrize(
    "mark",
    [
        pytest.param({**GOOD, "day": [True, 100.0, 200.0]}, id="a bool for the date"),
        pytest.param(_hour_with(of_day=True), id="a bool for the hour of the day"),
        pytest.param(_hour_with(of_day=-1), id="hour of the day -1"),
        pytest.param(_hour_with(of_day=24), id="hour of the day 24"),
        pytest.param(_hour_with(day=740001), id="the hour in another day"),
        pytest.param(_hour_with(end=0.0), id="ends where it starts"),
        pytest.param(_hour_with(end=2 * H + 1.0, pv_s=1.0, house_s=1.0), id="longer than 2 h"),
        pytest.param(_hour_with(pv_s=H + 1.0), id="PV covered longer than the hour"),
        pytest.param(_hour_with(house_s=H + 1.0), id="house covered longer than the hour"),
        pytest.param(_hour_with(house_wh=-1.0), id="negative house energy"),
        pytest.param(_hour_with(forecast=-1.0), id="negative forecast"),
        pytest.param({**GOOD, "day": [740000, -1.0, 200.0]}, id="negative day PV"),
    ],
)
def test_an_impossible_mark_is_left_out(mark: dict[str, list[Any]]) -> None:
    assert "measuring" not in PlanLearning.from_dict({"measuring": mark}).to_dict()


@pytest.mark.parametrize(
    "mark",
    [
        pytest.param(GOOD, id="covered for the whole hour"),
        pytest.param(_hour_with(end=2 * H), id="2 h long (the clocks went back)"),
        pytest.param(_hour_with(forecast=None, pv_s=0.0, house_wh=0.0), id="nothing measured"),
    ],
)
def test_a_possible_mark_is_taken(mark: dict[str, list[Any]]) -> None:
    assert PlanLearning.from_dict({"measuring": mark}).to_dict()["measuring"] == mark
