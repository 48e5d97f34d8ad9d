"""What departure plans learn: the forecast's track record and the house load by hour of day."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone, tzinfo

import pytest

from custom_components.ocpp_ems.core.ems import (
    ChargerInputs,
    EnergySlot,
    PlanSettings,
    Reading,
    SiteInputs,
    SiteSettings,
)
from custom_components.ocpp_ems.core.ems.charger_config import EmsOptions
from custom_components.ocpp_ems.core.ems.driver import PLAN_KEY, EmsDriver
from custom_components.ocpp_ems.core.ems.plan_learning import (
    DAYS,
    LEAD_S,
    MIN_DAYS,
    PlanLearning,
)

H = 3600.0
DAY = 24 * H
STEP = 300.0
CEST = timezone(timedelta(hours=2))


def sun(t: float, zone: tzinfo = UTC) -> float:
    """3 kW from 08:00 to 16:00 local time."""
    return 3000.0 if 8 <= datetime.fromtimestamp(t, zone).hour < 16 else 0.0


def forecast_of(days: int, factor: float, zone: tzinfo = UTC) -> tuple[EnergySlot, ...]:
    """Hourly forecast of ``days`` days: the true sun times ``factor``."""
    return tuple(
        EnergySlot(h * H, (h + 1) * H, sun(h * H, zone) * factor) for h in range(days * 24 + 24)
    )


def feed(
    learning: PlanLearning,
    t0: float,
    t1: float,
    make: Callable[[float], SiteInputs],
    zone: tzinfo = UTC,
) -> None:
    t = t0
    while t < t1:
        learning.observe(make(t), t, zone)
        t += STEP


def measured(
    t: float,
    forecast: tuple[EnergySlot, ...],
    *,
    house: float = 400.0,
    zone: tzinfo = UTC,
    battery: float | None = None,
    car: float = 0.0,
) -> SiteInputs:
    pv = sun(t, zone)
    return SiteInputs(
        grid_w=Reading(house + car - pv - (battery or 0.0), t),
        pv_w=Reading(pv, t),
        battery_w=None if battery is None else Reading(battery, t),
        solar_forecast=forecast,
        chargers={"a": ChargerInputs(charging=car > 0, power_w=Reading(car, t))},
    )


def learn_days(factors: list[float]) -> PlanLearning:
    """One day per factor, each day's forecast that factor of the real sun."""
    learning = PlanLearning()
    for day, factor in enumerate(factors):
        forecast = forecast_of(len(factors), factor)

        def make(t: float, forecast: tuple[EnergySlot, ...] = forecast) -> SiteInputs:
            return measured(t, forecast)

        feed(learning, day * DAY, (day + 1) * DAY, make)
    # The next day's first update closes the last one.
    learning.observe(measured(len(factors) * DAY, ()), len(factors) * DAY, UTC)
    return learning


def test_a_good_forecast_earns_full_confidence_after_a_few_days() -> None:
    assert learn_days([1.0] * (MIN_DAYS - 1)).confidence(0.7) == 0.7  # the prior until then
    assert learn_days([1.0] * MIN_DAYS).confidence(0.7) == pytest.approx(1.0)


def test_a_forecast_too_high_is_discounted_by_a_low_quantile_of_its_days() -> None:
    # The forecast says twice what comes: half of it counts.
    assert learn_days([2.0] * 4).confidence(0.7) == pytest.approx(0.5)
    # Ratios 1/0.8 .. 1/1.6 on five days: the plan counts on the second lowest (a quarter).
    learning = learn_days([0.8, 1.6, 1.0, 1.25, 2.0])
    assert learning.confidence(0.7) == pytest.approx(1 / 1.6)
    # Never more than the forecast (a forecast too low), never below the floor.
    assert learn_days([0.5] * 4).confidence(0.7) == 1.0
    assert learn_days([50.0] * 4).confidence(0.7) == pytest.approx(0.2)


def test_slots_are_ranked_by_what_the_forecast_usually_turns_out_to_be() -> None:
    assert learn_days([2.0] * (MIN_DAYS - 1)).typical() == 1.0  # the forecast's word until then
    # Four days at half the forecast beside the prior's two days at its word: the median, half.
    assert learn_days([2.0] * 4).typical() == pytest.approx(0.5)
    # Ratios 1.25, 0.625, 1.0, 0.8, 0.5 and the prior's 1.0, 1.0: the median is 1.0.
    assert learn_days([0.8, 1.6, 1.0, 1.25, 2.0]).typical() == pytest.approx(1.0)
    # A forecast too low ranks its slots above its word (up to twice it).
    assert learn_days([0.5] * 5).typical() == pytest.approx(2.0)
    assert learn_days([0.25] * 5).typical() == pytest.approx(2.0)


def test_only_the_last_days_count() -> None:
    learning = learn_days([2.0] * 5 + [1.0] * DAYS)
    assert learning.confidence(0.7) == pytest.approx(1.0)


def test_the_forecast_as_it_stood_hours_ahead_is_judged() -> None:
    # The day-ahead forecast was twice the sun; a new one on the day itself is right. The plan
    # was made on the old one: that is the one compared.
    learning = PlanLearning()
    ahead, late = forecast_of(5, 2.0), forecast_of(5, 1.0)
    for day in range(4):
        t0 = day * DAY
        feed(learning, t0, t0 + 8 * H - LEAD_S + 2 * H, lambda t: measured(t, ahead))
        feed(learning, t0 + 8 * H - LEAD_S + 2 * H, t0 + DAY, lambda t: measured(t, late))
    learning.observe(measured(4 * DAY, late), 4 * DAY, UTC)
    # 08:00 and 09:00 were already within the lead when the new forecast came: judged on it.
    assert learning.confidence(0.7) == pytest.approx(8 / (2 * 2 + 6 * 1))


def test_hours_the_meter_missed_and_dark_days_do_not_count() -> None:
    learning = PlanLearning()
    forecast = forecast_of(6, 2.0)
    for day in range(6):
        t0 = day * DAY
        # A silent PV sensor from 10:00 to 14:00 (the forecast said 2x in those hours too).
        feed(learning, t0, t0 + 10 * H, lambda t: measured(t, forecast))
        feed(
            learning,
            t0 + 14 * H,
            t0 + DAY,
            lambda t: measured(t, forecast),
        )
    learning.observe(measured(6 * DAY, forecast), 6 * DAY, UTC)
    assert learning.confidence(0.7) == pytest.approx(0.5)
    # Winter: the forecast promises less than a kWh a day: nothing learned.
    dim = PlanLearning()
    tiny = tuple(EnergySlot(s.start, s.end, s.wh / 100.0) for s in forecast_of(4, 1.0))
    feed(dim, 0, 4 * DAY + STEP, lambda t: measured(t, tiny))
    assert dim.confidence(0.7) == 0.7


def test_house_load_is_learned_by_local_hour_with_the_setting_as_prior() -> None:
    learning = PlanLearning()
    forecast = forecast_of(4, 1.0, CEST)

    def inputs(t: float) -> SiteInputs:
        # 2 kW from 18:00 to 19:00 local time, 300 W otherwise; a car charging and a battery
        # discharging are not the house.
        evening = datetime.fromtimestamp(t, CEST).hour == 18
        return measured(
            t, forecast, house=2000.0 if evening else 300.0, zone=CEST, battery=500.0, car=4000.0
        )

    feed(learning, 0, 2 * DAY, inputs, CEST)
    # Two days of 2 kW against a 500 W prior worth two days.
    assert learning.house_w(18, 500.0) == pytest.approx(1250.0)
    assert learning.house_w(3, 500.0) == pytest.approx(400.0)
    settings = learning.plan_settings(PlanSettings(), 2 * DAY, CEST)
    evening = next(
        s for s in settings.house_slots if datetime.fromtimestamp(s.start, CEST).hour == 18
    )
    assert evening.end - evening.start == H
    assert evening.wh == pytest.approx(1250.0)
    assert len(settings.house_slots) == 48
    assert settings.forecast_confidence == 0.7  # two days: not enough for it yet
    # Nothing learned: the setting holds everywhere.
    assert PlanLearning().plan_settings(PlanSettings(), 0, UTC).house_slots == ()


def test_an_unread_battery_or_car_leaves_the_house_unknown() -> None:
    learning = PlanLearning()
    forecast = forecast_of(2, 1.0)

    def inputs(t: float) -> SiteInputs:
        unread = measured(t, forecast, battery=100.0)
        return SiteInputs(
            grid_w=unread.grid_w,
            pv_w=unread.pv_w,
            battery_w=Reading(None, t),
            solar_forecast=forecast,
            chargers={"a": ChargerInputs(charging=True, power_w=None)},
        )

    feed(learning, 0, DAY, inputs)
    assert not learning.learned


def test_what_was_learned_survives_a_restart() -> None:
    learning = learn_days([1.6, 0.8, 1.0, 1.25])
    stored = learning.to_dict()
    again = PlanLearning.from_dict(stored)
    assert again.learned
    assert again.confidence(0.7) == pytest.approx(learning.confidence(0.7), abs=1e-3)
    assert again.house_w(12, 500.0) == pytest.approx(learning.house_w(12, 500.0), abs=0.1)
    assert again.to_dict() == stored


@pytest.mark.parametrize(
    "stored",
    [
        {},
        {"ratios": "x", "house_w": None},
        {"ratios": [[1, "x"], [1.5, 1.0], [1, -1.0], [1, float("nan")], "y"]},
        {"house_w": [[100.0]] * 23},
        {"house_w": [["x", -5.0, float("inf")]] * 24},
    ],
)
def test_garbage_in_the_stored_form_is_skipped(stored: dict[str, object]) -> None:
    learning = PlanLearning.from_dict(stored)
    assert not learning.learned
    assert learning.confidence(0.7) == 0.7


def test_the_driver_learns_from_every_step_and_keeps_it_in_its_stored_form() -> None:
    now = [0.0]
    site = SiteSettings()
    driver = EmsDriver(site, EmsOptions(), clock=lambda: now[0])
    assert PLAN_KEY not in driver.dump()  # nothing learned yet: nothing stored
    forecast = forecast_of(4, 2.0)
    while now[0] <= 4 * DAY:
        driver.step(measured(now[0], forecast), now[0])
        now[0] += STEP
    stored = driver.dump()
    assert PlanLearning.from_dict(stored[PLAN_KEY]).confidence(0.7) == pytest.approx(0.5)
    assert driver.site == site  # the settings stay the user's
    again = EmsDriver(site, EmsOptions(), clock=lambda: now[0])
    again.load(stored)
    assert again.dump()[PLAN_KEY] == stored[PLAN_KEY]
    # Diagnostics show what plans use now: the learned confidence, house load, sun capture and bridge
    # (a steady 3 kW sun: a 1p car gets all of it; the 3p minimum is never promised).
    summary = again.learned()["plan"]
    assert summary["forecast_confidence"] == pytest.approx(0.5)
    assert summary["forecast_typical"] == pytest.approx(0.5)
    assert summary["forecast_days"] == 4
    assert summary["house_w_by_hour"][12] == 433  # 4 days of 400 W, the 500 W setting worth 2
    assert summary["sun_capture"]["1380 W"] == pytest.approx(1.0, abs=0.05)
    assert summary["sun_capture"]["4140 W"] == 1.0
    # A steady sun: no dips to hold a 1p car through; nothing promised to a 3p car.
    assert summary["sun_bridge"]["1380 W"]["dips"] == 0.0
    assert summary["sun_bridge"]["1380 W"]["sun_missed"] == pytest.approx(0.0, abs=0.05)
    assert summary["sun_bridge"]["4140 W"] == {"sun_missed": 0.0, "dips": 0.0}
    assert "plan" not in EmsDriver(site, EmsOptions(), clock=lambda: 0.0).learned()
