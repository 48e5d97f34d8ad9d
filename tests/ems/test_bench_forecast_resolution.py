"""benchmarks/ems/forecast.py at the providers' resolutions (60, 30, 15 min): the slots hold the PV
they cover, a noisy forecast's slots share their hour's error, and 60 min is the hourly forecast
the benchmarks have always used."""

from __future__ import annotations

import random
from dataclasses import replace

import numpy as np
import pytest

from benchmarks import ems_plan as bench
from benchmarks.ems import data
from benchmarks.ems.forecast import DT, STEPS_MIN, H, hourly_forecast, solar_forecast

SEED = 3


@pytest.fixture(scope="module")
def pv() -> np.ndarray:
    """Two days and 17 hours of a bell-shaped PV day (W per minute) with a cloud's dips every
    20 minutes, the horizon a plan benchmark's history sees (not whole days)."""
    minute = np.arange(2 * 1440 + 17 * 60)
    hour = minute % 1440 / 60.0
    bell = np.where((hour > 6) & (hour < 20), 6000.0 * np.sin((hour - 6) / 14 * np.pi), 0.0)
    dipped: np.ndarray = bell * np.where(minute % 20 < 5, 0.3, 1.0)
    return dipped


@pytest.mark.parametrize("step_min", STEPS_MIN)
def test_each_slot_holds_the_pv_it_covers(pv: np.ndarray, step_min: int) -> None:
    slots = solar_forecast(pv, "perfect", SEED, step_min)
    step_s = step_min * DT
    assert [(s.start, s.end) for s in slots] == [
        (i * step_s, (i + 1) * step_s) for i in range(len(pv) // step_min)
    ]
    for s in slots:
        minutes = pv[int(s.start // DT) : int(s.end // DT)]
        assert s.wh == pytest.approx(minutes.sum() * DT / H)
    assert sum(s.wh for s in slots) == pytest.approx(pv.sum() * DT / H)


@pytest.mark.parametrize("step_min", [30, 15])
def test_finer_noisy_slots_share_their_hour_s_error(pv: np.ndarray, step_min: int) -> None:
    per_hour = 60 // step_min
    hourly = solar_forecast(pv, "noisy", SEED, 60)
    fine = solar_forecast(pv, "noisy", SEED, step_min)
    true = solar_forecast(pv, "perfect", SEED, step_min)
    true_hourly = solar_forecast(pv, "perfect", SEED, 60)
    assert len(fine) == len(hourly) * per_hour
    for h, hour in enumerate(hourly):
        parts = range(h * per_hour, (h + 1) * per_hour)
        # The same seed, the same hourly forecast: its energy spread as the PV is in the hour.
        assert sum(fine[i].wh for i in parts) == pytest.approx(hour.wh, abs=1e-9)
        error = hour.wh / true_hourly[h].wh if true_hourly[h].wh else 0.0
        for i in parts:
            assert fine[i].wh == pytest.approx(true[i].wh * error, abs=1e-9)


def _shipped_hourly(pv: np.ndarray, kind: str, seed: int) -> list[tuple[float, float, float]]:
    """The hourly model as the benchmarks' figures were made with it: hourly sums, the day's
    error then every hour's, drawn in this order from the seed."""
    if kind == "none":
        return []
    hours = len(pv) // 60
    wh = [float(pv[h * 60 : (h + 1) * 60].sum()) * DT / H for h in range(hours)]
    if kind == "noisy":
        rng = random.Random(seed)
        for day_start in range(0, hours, 24):
            day_error = rng.uniform(0.2, 0.4) * rng.choice((-1.0, 1.0))
            for h in range(day_start, min(day_start + 24, hours)):
                wh[h] = max(0.0, wh[h] * (1.0 + day_error) * (1.0 + rng.gauss(0.0, 0.15)))
    return [(h * H, (h + 1) * H, w) for h, w in enumerate(wh)]


@pytest.mark.parametrize("kind", ["none", "perfect", "noisy"])
def test_sixty_minutes_is_the_hourly_forecast(pv: np.ndarray, kind: str) -> None:
    slots = solar_forecast(pv, kind, SEED, 60)
    assert hourly_forecast(pv, kind, SEED) == slots
    expected = _shipped_hourly(pv, kind, SEED)
    assert [s.start for s in slots] == [start for start, _, _ in expected]
    assert [s.end for s in slots] == [end for _, end, _ in expected]
    assert [s.wh for s in slots] == pytest.approx([wh for _, _, wh in expected], rel=1e-12)


def test_a_step_that_does_not_divide_the_hour_is_refused(pv: np.ndarray) -> None:
    with pytest.raises(ValueError, match="does not divide the hour"):
        solar_forecast(pv, "perfect", SEED, 25)


def test_a_plan_scenario_forecasts_at_its_resolution(pv: np.ndarray) -> None:
    day = bench.Day("bell", pv[: data.MINUTES], 150)
    scenario = bench.Scenario(day, 24 + 16.0, 30000.0, "noisy", seed=SEED)
    assert scenario.forecast_step_min == 60  # the default: every shipped figure as it was
    assert scenario.forecast_of(pv, SEED) == hourly_forecast(pv, "noisy", SEED)
    quarter = replace(scenario, forecast_step_min=15)
    assert quarter.forecast_of(pv, SEED) == solar_forecast(pv, "noisy", SEED, 15)
