"""The share of the promised surplus a car on surplus only gets, learned from the measured
surplus by a virtual car per common minimum (``sun_capture.py``), and how plans count it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from custom_components.ocpp_ems.core.ems import EnergySlot, PlanSettings, Reading, SiteInputs
from custom_components.ocpp_ems.core.ems.plan import capture_share, expected_surplus, sun_bridge
from custom_components.ocpp_ems.core.ems.plan_learning import PlanLearning
from custom_components.ocpp_ems.core.ems.sun_capture import MIN_DAYS, SunCapture

H = 3600.0
MIN_1P, MIN_3P = 1380.0, 4140.0


def live_day(capture: SunCapture, day: int, surplus: Callable[[float], float]) -> None:
    """08:00-16:00 of day ``day`` (days since the epoch), a reading every 10 s."""
    start = day * 24 * H
    for t in range(int(start + 8 * H), int(start + 16 * H), 10):
        capture.observe(surplus(t - start), float(t))
    capture.observe(None, start + 16 * H)
    capture.close_day(day)


def steady(_t: float) -> float:
    return 5000.0


def clouds(t: float) -> float:
    """Each quarter hour: 10 min of 5 kW, then 5 min of 500 W (mean 3.5 kW)."""
    return 5000.0 if t % 900.0 < 600.0 else 500.0


def test_all_of_a_steady_surplus_is_got() -> None:
    capture = SunCapture()
    for day in range(MIN_DAYS):
        live_day(capture, day, steady)
    # The first minute of each day is the start delay: 83 Wh of 40 kWh (0.2 %).
    assert capture.share(MIN_1P) == pytest.approx(1.0, abs=0.003)
    assert capture.share(MIN_3P) == pytest.approx(1.0, abs=0.003)


def test_a_car_on_surplus_only_gets_less_under_clouds() -> None:
    """A 1p car: every quarter promises 3.5 kW x 15 min = 875 Wh; the car runs 9 of the 10 sunny
    minutes (the first is the start delay) and gets 750 Wh: 6/7. A 3p car's minimum (4140 W) is
    above the quarters' mean: nothing promised, so nothing learned (all of it, as before)."""
    capture = SunCapture()
    for day in range(MIN_DAYS - 1):
        live_day(capture, day, clouds)
    assert capture.share(MIN_1P) == 1.0  # not known yet
    live_day(capture, MIN_DAYS - 1, clouds)
    assert capture.share(MIN_1P) == pytest.approx(750.0 / 875.0, abs=0.002)
    assert capture.share(MIN_3P) == 1.0
    assert capture.shares() == (
        (MIN_1P, capture.share(MIN_1P)),
        (MIN_3P, 1.0),
    )


def test_a_car_held_at_its_minimum_gets_the_missed_sun_for_the_dips() -> None:
    """Per quarter (875 Wh promised to a 1p car): a car on surplus only misses the start delay's
    minute of 5 kW (83 Wh) and the 5 min of 500 W (42 Wh): 1/7; held at 1380 W it fills 880 W
    for those 5 min from the grid: 73 Wh. Nothing is promised to a 3p car: nothing to gain."""
    capture = SunCapture()
    for day in range(MIN_DAYS - 1):
        live_day(capture, day, clouds)
    assert capture.bridge(MIN_1P) == (0.0, 0.0)  # not known yet
    live_day(capture, MIN_DAYS - 1, clouds)
    missed, dips = capture.bridge(MIN_1P)
    assert missed == pytest.approx(125.0 / 875.0, abs=0.002)
    assert dips == pytest.approx(880.0 * 5 / 60 / 875.0, abs=0.002)
    assert capture.bridge(MIN_3P) == (0.0, 0.0)
    assert capture.bridges() == ((MIN_1P, missed, dips), (MIN_3P, 0.0, 0.0))
    # A steady sun above the minimum: no dips, nothing missed but the start delays.
    steady_capture = SunCapture()
    for day in range(MIN_DAYS):
        live_day(steady_capture, day, steady)
    missed, dips = steady_capture.bridge(MIN_3P)
    assert missed == pytest.approx(0.0, abs=0.003)
    assert dips == 0.0


def test_a_gap_in_the_readings_is_not_measured_and_stops_the_virtual_car() -> None:
    capture = SunCapture()
    for day in range(MIN_DAYS):
        start = day * 24 * H
        for t in range(int(start + 8 * H), int(start + 16 * H), 10):
            if start + 12 * H <= t < start + 13 * H:
                continue  # the meter is away for an hour
            capture.observe(steady(t), float(t))
        capture.close_day(day)
    # Each restart after the gap costs a start delay: still nearly all of it, nothing invented.
    assert 0.99 < capture.share(MIN_1P) <= 1.0


def test_the_stored_form_comes_back_and_garbage_is_left_out() -> None:
    capture = SunCapture()
    for day in range(MIN_DAYS):
        live_day(capture, day, clouds)
    stored = capture.to_dict()
    again = SunCapture()
    again.load(stored)
    assert again.share(MIN_1P) == pytest.approx(capture.share(MIN_1P), abs=1e-4)
    assert again.bridge(MIN_1P) == pytest.approx(capture.bridge(MIN_1P), abs=1e-4)
    # Days stored before the dips were measured: the shares come back, the bridge is unknown.
    older = SunCapture()
    older.load({"1380": stored["1380"]})
    assert older.share(MIN_1P) == again.share(MIN_1P)
    assert older.bridge(MIN_1P) == (0.0, 0.0)
    junk = SunCapture()
    junk.load({"1380": [[1, "x"], ["2", 0.5], [3, float("nan")], [4, -1.0], [5, True], "no"]})
    junk.load({"4140": "not a list", "1380 dips": [[1, "x"]], "1380 missed": None})
    assert not junk.learned


def test_plan_learning_measures_the_surplus_and_plans_with_the_share() -> None:
    """Fed like the driver (PV and grid readings), over local days: the share reaches the plan
    settings and survives the stored form."""
    learning = PlanLearning()
    start = datetime(2026, 6, 1, tzinfo=UTC).timestamp()
    for day in range(MIN_DAYS + 1):
        base = start + day * 24 * H
        for t in range(int(base + 8 * H), int(base + 16 * H), 10):
            pv, house = clouds(t - base) + 300.0, 300.0
            inputs = SiteInputs(grid_w=Reading(house - pv, t), pv_w=Reading(pv, t))
            learning.observe(inputs, float(t), UTC)
    learning.observe(SiteInputs(), start + (MIN_DAYS + 1) * 24 * H, UTC)  # the last day ends
    settings = learning.plan_settings(PlanSettings(), start + 30 * 24 * H, UTC)
    assert capture_share(settings, MIN_1P) == pytest.approx(6 / 7, abs=0.002)
    assert capture_share(settings, MIN_3P) == 1.0
    again = PlanLearning.from_dict(learning.to_dict())
    restored = again.plan_settings(PlanSettings(), 0.0, UTC)
    assert capture_share(restored, MIN_1P) == pytest.approx(6 / 7, abs=0.002)
    assert sun_bridge(restored, MIN_1P) == pytest.approx(sun_bridge(settings, MIN_1P), abs=1e-4)
    assert sun_bridge(settings, MIN_1P)[0] == pytest.approx(1 / 7, abs=0.002)
    assert sun_bridge(PlanSettings(), MIN_1P) == (0.0, 0.0)


def test_a_plan_counts_the_share_of_its_cars_minimum() -> None:
    forecast = (EnergySlot(10 * H, 11 * H, 5000.0),)
    settings = PlanSettings(
        forecast_confidence=1.0, house_load_w=0.0, sun_capture=((MIN_1P, 0.8), (MIN_3P, 0.6))
    )
    assert sum(s.wh for s in expected_surplus(forecast, settings, MIN_1P)) == pytest.approx(4000)
    assert sum(s.wh for s in expected_surplus(forecast, settings, 4600.0)) == pytest.approx(3000)
    # Nothing learned: all of it.
    assert sum(s.wh for s in expected_surplus(forecast, PlanSettings(house_load_w=0.0))) == (
        pytest.approx(3500.0)
    )
