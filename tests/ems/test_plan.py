"""Departure plans: solar first, cheapest slots, latest start, feasibility."""

from __future__ import annotations

import math
import random
from dataclasses import replace
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from custom_components.ocpp_ems.core.ems import (
    ChargerCommand,
    ChargerSettings,
    EnergyManager,
    EnergySlot,
    Mode,
    PlanSettings,
    PlanTarget,
    PriceSlot,
    Reason,
    SiteInputs,
    SiteSettings,
    SolarSettings,
)
from custom_components.ocpp_ems.core.ems import options as ems_options
from custom_components.ocpp_ems.core.ems.charger_config import EmsOptions
from custom_components.ocpp_ems.core.ems.config import BatterySettings
from custom_components.ocpp_ems.core.ems.driver import EmsDriver
from custom_components.ocpp_ems.core.ems.plan import (
    MAX_PLAN_AHEAD_S,
    PlanStatus,
    expected_surplus,
    feed_in_per_wh,
    plan_status,
    surplus_outlook,
)
from custom_components.ocpp_ems.core.ems.types import PlanOutlook

from .util import SunLoop, car, site

H = 3600.0
P3 = 16 * 230 * 3  # 11040 W


def planned(plan: PlanTarget, **kwargs: object) -> EnergyManager:
    m = EnergyManager(SiteSettings(), {"a": ChargerSettings(**kwargs)})  # type: ignore[arg-type]
    m.set_plan("a", plan)
    return m


def test_latest_start_without_prices() -> None:
    # 10 kWh at 11.04 kW * 0.9 = ~1.1 h (+10 %): charge only in the last ~1.25 h before departure.
    m = planned(PlanTarget(departure=10 * H, energy_wh=10000))
    d = m.update(site(0, 500, {"a": car(0, energy=0)}), 0)
    assert d.chargers["a"].target.paused
    assert d.chargers["a"].reason is Reason.PLAN_WAITING
    assert d.next_update_at == 60
    d = m.update(site(9 * H, 500, {"a": car(9 * H, energy=0)}), 9 * H)
    assert d.chargers["a"].target == ChargerCommand(16.0, 3)
    assert d.chargers["a"].reason is Reason.PLANNED_SLOT


def test_solar_first_while_waiting_for_the_plan() -> None:
    m = planned(PlanTarget(departure=10 * H, energy_wh=10000))
    d = m.update(site(0, -6000, {"a": car(0, energy=0)}), 0)
    assert not d.chargers["a"].target.paused
    assert d.chargers["a"].reason is Reason.SOLAR


def test_departure_beyond_the_horizon_is_planned_as_that_far() -> None:
    """A departure decades ahead is planned as MAX_PLAN_AHEAD_S ahead (each 15 minutes up to it
    would be weighed on every decision); the latest time is taken, within the horizon."""
    far = plan_status(
        now=0, departure=50 * 365 * 24 * H, remaining_wh=5000, max_power_w=P3, efficiency=0.9
    )
    horizon = plan_status(
        now=0, departure=MAX_PLAN_AHEAD_S, remaining_wh=5000, max_power_w=P3, efficiency=0.9
    )
    assert far == horizon
    assert far.starts_at is not None
    assert 6 * 24 * H < far.starts_at < MAX_PLAN_AHEAD_S


def test_cheapest_slots_are_used() -> None:
    prices = tuple(PriceSlot(h * H, (h + 1) * H, 0.30 if h != 3 else 0.05) for h in range(10))
    status = plan_status(
        now=0, departure=10 * H, remaining_wh=5000, max_power_w=P3, efficiency=0.9, prices=prices
    )
    assert not status.charge_now
    # Within the cheap hour the latest part is taken (room for solar first).
    status = plan_status(
        now=3 * H,
        departure=10 * H,
        remaining_wh=5000,
        max_power_w=P3,
        efficiency=0.9,
        prices=prices,
    )
    assert not status.charge_now
    status = plan_status(
        now=3.5 * H,
        departure=10 * H,
        remaining_wh=5000,
        max_power_w=P3,
        efficiency=0.9,
        prices=prices,
    )
    assert status.charge_now
    m = planned(PlanTarget(departure=10 * H, energy_wh=5000))
    inputs = SiteInputs(
        grid_w=site(3.5 * H, 0).grid_w, prices=prices, chargers={"a": car(3.5 * H, energy=0)}
    )
    assert m.update(inputs, 3.5 * H).chargers["a"].reason is Reason.PLANNED_SLOT


def test_unknown_price_time_is_used_after_known_cheap_time() -> None:
    prices = (PriceSlot(H, 2 * H, 0.10),)
    # Needs ~2.2 h: the known hour first, then the latest unknown time.
    now_in_gap = plan_status(
        now=0, departure=6 * H, remaining_wh=20000, max_power_w=P3, efficiency=0.9, prices=prices
    )
    assert not now_in_gap.charge_now
    late = plan_status(
        now=5.5 * H, departure=6 * H, remaining_wh=5000, max_power_w=P3, efficiency=0.9, prices=()
    )
    assert late.charge_now


def test_unpublished_prices_are_taken_as_the_same_time_a_day_earlier() -> None:
    """Plugged in at 12:00, due at 07:00 tomorrow: today's prices are known (night 0.18, day
    0.32, evening 0.40, late 0.28), tomorrow's come out later. Tomorrow's night counts as today's
    night, so the plan waits for it instead of buying today's late hours."""
    today = tuple(
        PriceSlot(
            h * H, (h + 1) * H, 0.18 if h < 6 else 0.32 if h < 17 else 0.40 if h < 21 else 0.28
        )
        for h in range(24)
    )

    def starts_at(prices: tuple[PriceSlot, ...]) -> float | None:
        plan = {"remaining_wh": 20000, "max_power_w": P3, "efficiency": 1.0, "prices": prices}
        status = plan_status(now=12 * H, departure=31 * H, **plan)  # type: ignore[arg-type]
        assert not status.charge_now
        return status.starts_at

    # 20 kWh (+10 %) at 11 kW: the two latest hours of tomorrow's night.
    assert starts_at(today) == pytest.approx(28 * H, abs=0.25 * H)
    # Without today's past hours nothing says what the night costs: dearer than any known
    # hour, so the plan buys the late hours it knows (21:00-24:00).
    assert starts_at(today[12:]) == pytest.approx(22 * H, abs=0.25 * H)
    # Once tomorrow's prices are out they count (here a dearer night: the late hours again).
    dear_night = tuple(PriceSlot(24 * H + h * H, 25 * H + h * H, 0.35) for h in range(7))
    assert starts_at(today + dear_night) == pytest.approx(22 * H, abs=0.25 * H)


def test_infeasible_plan_charges_now_and_says_so() -> None:
    m = planned(PlanTarget(departure=H, energy_wh=30000))
    d = m.update(site(0, 500, {"a": car(0, energy=0)}), 0)
    assert d.chargers["a"].reason is Reason.PLANNED_SLOT
    assert not d.chargers["a"].plan_feasible


def test_soc_target_and_target_reached() -> None:
    plan = PlanTarget(departure=10 * H, soc=80)
    m = planned(plan, vehicle_capacity_wh=60000)
    d = m.update(site(8 * H, 500, {"a": car(8 * H, soc=50)}), 8 * H)  # 18 kWh in 2 h: now
    assert d.chargers["a"].reason is Reason.PLANNED_SLOT
    d = m.update(site(8 * H + 60, 500, {"a": car(8 * H + 60, soc=80)}), 8 * H + 60)
    assert d.chargers["a"].reason is Reason.TARGET_REACHED
    assert d.chargers["a"].target.paused


def test_plan_without_target_data_and_after_departure_is_solar() -> None:
    m = planned(PlanTarget(departure=10 * H, soc=80))  # no SoC sensor, no capacity
    d = m.update(site(0, 500, {"a": car(0)}), 0)
    assert d.chargers["a"].reason is Reason.PLAN_SOC_UNAVAILABLE
    m = planned(PlanTarget(departure=10 * H, energy_wh=1000))
    d = m.update(site(11 * H, 500, {"a": car(11 * H, energy=0)}), 11 * H)
    assert d.chargers["a"].target.paused


def test_clearing_the_plan_returns_to_solar() -> None:
    m = planned(PlanTarget(departure=10 * H, energy_wh=1000))
    assert m.charger("a").mode is Mode.PLAN
    m.set_plan("a", None)
    assert m.charger("a").mode is Mode.SOLAR
    m.set_mode("a", Mode.PLAN)
    d = m.update(site(0, 500, {"a": car(0)}), 0)
    assert d.chargers["a"].reason is Reason.PLAN_WAITING


def test_done_plan_needs_nothing() -> None:
    status = plan_status(now=0, departure=H, remaining_wh=0, max_power_w=P3, efficiency=0.9)
    assert not status.charge_now
    assert status.feasible


def test_tight_plan_starts_now_at_full_power_even_with_surplus() -> None:
    # Exactly the energy the charger can deliver in the time left: no waiting for solar.
    m = planned(PlanTarget(departure=H, energy_wh=P3))
    d = m.update(site(0, -3000, {"a": car(0, energy=0)}), 0)
    assert d.chargers["a"].target == ChargerCommand(16.0, 3)
    assert d.chargers["a"].write == ChargerCommand(16.0, 3)
    assert d.chargers["a"].reason is Reason.PLANNED_SLOT
    # An energy target is metered at the charger: reachable, so it is not reported infeasible.
    assert d.chargers["a"].plan_feasible
    # The same a minute later with the energy charged since: still at full power.
    d = m.update(site(60, -3000, {"a": car(60, power=P3, energy=P3 / 60)}), 60)
    assert d.chargers["a"].target == ChargerCommand(16.0, 3)


def test_soc_target_pays_the_charging_losses() -> None:
    # 11.04 kWh into the battery in 1 h at 11.04 kW from the grid: not possible with 90 % efficiency.
    m = planned(PlanTarget(departure=H, soc=60), vehicle_capacity_wh=P3 * 10)
    d = m.update(site(0, 0, {"a": car(0, soc=50)}), 0)
    assert d.chargers["a"].reason is Reason.PLANNED_SLOT
    assert not d.chargers["a"].plan_feasible


def test_plan_switches_a_one_phase_charger_back_to_three_phases() -> None:
    # Solar left the 1p/3p charger on one phase; the plan was sized for three.
    m = EnergyManager(SiteSettings(), {"a": ChargerSettings(can_switch_phases=True)})
    d = m.update(site(0, -1500, {"a": car(0)}), 0)
    assert d.chargers["a"].target.phases == 1
    m.set_plan("a", PlanTarget(departure=1000 + H, energy_wh=P3))
    d = m.update(site(1000, 0, {"a": car(1000, power=1380, energy=0)}), 1000)
    assert d.chargers["a"].reason is Reason.PLANNED_SLOT
    assert d.chargers["a"].write == ChargerCommand(16.0, 3)


def test_plan_is_sized_with_the_fuse_not_the_charger_maximum() -> None:
    # 32 A charger on a 16 A fuse: 11.04 kWh needs an hour at the fuse, half that at 32 A.
    m = EnergyManager(
        SiteSettings(fuse_a=16, fuse_margin_a=0.0), {"a": ChargerSettings(max_current_a=32)}
    )
    m.set_plan("a", PlanTarget(departure=H, energy_wh=P3))
    d = m.update(site(0, 0, {"a": car(0, energy=0)}, grid_currents=(0.0, 0.0, 0.0)), 0)
    # Charging now, held at the fuse (which is what the reason says).
    assert d.chargers["a"].target == ChargerCommand(16.0, 3)
    assert d.chargers["a"].reason is Reason.FUSE_LIMIT


def test_soc_plan_goes_on_while_the_soc_sensor_is_unavailable() -> None:
    plan = PlanTarget(departure=10 * H, soc=80)
    m = planned(plan, vehicle_capacity_wh=60000)
    d = m.update(site(8 * H, 500, {"a": car(8 * H, soc=50, energy=0)}), 8 * H)
    assert d.chargers["a"].reason is Reason.PLANNED_SLOT
    # The car's API drops out: the plan keeps charging on the estimate (50 % + energy since).
    later = 8 * H + 600
    d = m.update(site(later, 500, {"a": car(later, soc=None, energy=1800)}), later)
    assert d.chargers["a"].reason is Reason.PLANNED_SLOT
    # 30 % of 60 kWh went in (at 90 %): the estimate reaches the target.
    done = 9.9 * H
    d = m.update(site(done, 500, {"a": car(done, soc=None, energy=20000)}), done)
    assert d.chargers["a"].reason is Reason.TARGET_REACHED
    # A new car (plugged in again) does not inherit the estimate: its SoC is unknown.
    m.update(site(done + 1, 500, {"a": car(done + 1, plugged=False)}), done + 1)
    d = m.update(site(done + 2, 500, {"a": car(done + 2, soc=None, energy=0)}), done + 2)
    assert d.chargers["a"].reason is Reason.PLAN_SOC_UNAVAILABLE


def test_a_planned_slot_fills_the_fuse_first_others_keep_their_minimum() -> None:
    chargers = {"fast": ChargerSettings(mode=Mode.FAST), "plan": ChargerSettings()}
    m = EnergyManager(SiteSettings(fuse_a=25, fuse_margin_a=1.0), chargers)
    m.set_plan("plan", PlanTarget(departure=H, energy_wh=P3))
    inputs = {"fast": car(0, power=None), "plan": car(0, power=None, energy=0)}
    d = m.update(site(0, 0.0, inputs, grid_currents=(0.0, 0.0, 0.0)), 0)
    assert d.chargers["plan"].target == ChargerCommand(16.0, 3)
    assert d.chargers["plan"].reason is Reason.PLANNED_SLOT
    assert d.chargers["fast"].target == ChargerCommand(8.0, 3)
    assert d.chargers["fast"].reason is Reason.FUSE_LIMIT


# --- a solar forecast ------------------------------------------------------------------------
NIGHT = tuple(PriceSlot(h * H, (h + 1) * H, 0.18 if h < 6 else 0.32) for h in range(24))
# A sunny day: 8 kWh an hour from 10:00 to 15:00 (departure at 16:00).
SUNNY = tuple(EnergySlot(h * H, (h + 1) * H, 8000.0) for h in range(10, 15))


MIN_3P = 6 * 230 * 3  # 4140 W
MIN_1P_W = 6 * 230  # 1380 W


def day_plan(
    remaining_wh: float, now: float, prices: tuple[PriceSlot, ...] = NIGHT, **kwargs: Any
) -> PlanStatus:
    """A 3p car with the 6 A minimum, due at 16:00 on the night / day tariff (or ``prices``)."""
    return plan_status(
        now=now,
        departure=16 * H,
        remaining_wh=remaining_wh,
        max_power_w=P3,
        efficiency=1.0,
        prices=prices,
        min_power_w=MIN_3P,
        **kwargs,
    )


def forecast_plan(
    remaining_wh: float,
    now: float,
    solar: tuple[EnergySlot, ...],
    settings: PlanSettings = PlanSettings(),  # noqa: B008 (frozen)
) -> PlanStatus:
    return day_plan(remaining_wh, now, solar=expected_surplus(solar, settings))


def hourly(slots: tuple[EnergySlot, ...]) -> list[float]:
    """Energy per hour of quarter-hour slots."""
    by_hour: dict[int, float] = {}
    for slot in slots:
        by_hour[int(slot.start // H)] = by_hour.get(int(slot.start // H), 0.0) + slot.wh
    return [round(by_hour.get(h, 0.0), 6) for h in range(max(by_hour, default=-1) + 1)]


def test_expected_surplus_is_the_discounted_forecast_above_the_house_load() -> None:
    settings = PlanSettings(forecast_confidence=0.5, house_load_w=1000.0)
    forecast = (
        EnergySlot(0, H, 11000.0),  # half of it counted: 5.5 kWh, 4.5 kWh above the house
        EnergySlot(5 * H, 6 * H, 1800.0),  # below the house load
        EnergySlot(7 * H, 7 * H, 5000.0),  # empty period
    )
    surplus = expected_surplus(forecast, settings)
    # In quarters (a lone hour: flat).
    assert surplus == tuple(
        EnergySlot(q * 900.0, (q + 1) * 900.0, pytest.approx(1125.0))  # type: ignore[arg-type]
        for q in range(4)
    )
    # Confidence beyond 0..1 is clamped.
    assert hourly(expected_surplus(forecast[:1], PlanSettings(forecast_confidence=2.0))) == [
        10500.0
    ]


def test_expected_surplus_follows_the_sun_through_the_hour() -> None:
    # Rising from 2 to 6 kWh an hour: the quarters of the middle hour rise too, its energy kept.
    forecast = tuple(EnergySlot(h * H, (h + 1) * H, wh) for h, wh in enumerate((2000, 4000, 6000)))
    surplus = expected_surplus(forecast, PlanSettings(forecast_confidence=1.0, house_load_w=0.0))
    middle = [s.wh for s in surplus if H <= s.start < 2 * H]
    assert middle == sorted(middle)
    assert middle[0] < 1000.0 < middle[-1]
    assert sum(middle) == pytest.approx(4000.0)
    assert hourly(surplus) == pytest.approx([2000.0, 4000.0, 6000.0])


def test_slots_are_compared_by_the_forecast_as_it_usually_turns_out() -> None:
    # Counted on: a quarter of the forecast (the confidence); likely: half (what it usually is).
    settings = PlanSettings(forecast_confidence=0.25, forecast_typical=0.5, house_load_w=0.0)
    counted, likely = surplus_outlook((EnergySlot(0, H, 4000.0),), settings)
    assert (hourly(counted), hourly(likely)) == ([1000.0], [2000.0])


def test_learned_house_load_takes_the_place_of_the_setting_where_known() -> None:
    # Learned: 2 kW from 01:00 to 02:00; elsewhere the 500 W setting.
    settings = PlanSettings(forecast_confidence=1.0, house_slots=(EnergySlot(H, 2 * H, 2000.0),))
    forecast = tuple(EnergySlot(h * H, (h + 1) * H, 5000.0) for h in range(3))
    assert hourly(expected_surplus(forecast, settings)) == pytest.approx([4500.0, 3000.0, 4500.0])


def test_learned_house_slots_of_any_length_and_order_count_where_they_overlap() -> None:
    # A 2 h slot of 4 kWh (2 kW) listed after a 1 h slot of 1 kW; the hour after: the setting.
    house = (EnergySlot(2 * H, 3 * H, 1000.0), EnergySlot(0, 2 * H, 4000.0))
    settings = PlanSettings(forecast_confidence=1.0, house_slots=house)
    forecast = tuple(EnergySlot(h * H, (h + 1) * H, 5000.0) for h in range(4))
    assert hourly(expected_surplus(forecast, settings)) == pytest.approx(
        [3000.0, 3000.0, 4000.0, 4500.0]
    )


def test_sun_below_the_minimum_counts_nothing_but_makes_a_cheap_slot_at_the_minimum() -> None:
    # 3 kW of sun from 10:00 to 12:00: below a 4.14 kW minimum, so no sun is counted...
    weak = tuple(EnergySlot(h * H, (h + 1) * H, 3500.0) for h in (10, 11))
    early = forecast_plan(20000, 3 * H, weak)
    assert early.outlook == PlanOutlook(0.0, 20000.0)
    # ... but the minimum there costs the grid only 1.14 of 4.14 kW at 0.32 (0.09 a kWh, below
    # the night's 0.18): those slots come first, and the car runs at the minimum in them.
    assert early.starts_at is not None
    assert not early.charge_now
    at_ten = forecast_plan(20000, 10 * H, weak)
    assert at_ten.min_now
    assert not at_ten.charge_now
    # Without the sun the same time is a full-price day slot: nothing planned then.
    assert not forecast_plan(20000, 10 * H, ()).min_now
    # Enough sun for the minimum: counted as sun, the car waits for it (surplus only).
    strong = tuple(EnergySlot(h * H, (h + 1) * H, 8000.0) for h in (10, 11))
    sunny = forecast_plan(8000, 10 * H, strong)
    assert sunny.outlook == PlanOutlook(pytest.approx(8000.0), 0.0)  # type: ignore[arg-type]
    assert not sunny.min_now
    assert not sunny.charge_now


def at_min_plan(
    now: float, counted_w: float, likely_w: float | None = None, feed_in_price: float = 0.0
) -> PlanStatus:
    """5 kWh by 16:00 with ``counted_w`` of sun counted from 10:00 to 12:00 (``likely_w``: the
    same sun without the confidence margin), below the 4.14 kW minimum; the minimum there holds
    all 5 kWh (7.5 kWh with the safety factor)."""

    def sun(watts: float) -> tuple[EnergySlot, ...]:
        return tuple(EnergySlot(h * H, (h + 1) * H, watts) for h in (10, 11))

    return day_plan(
        5000,
        now,
        solar=sun(counted_w),
        likely_solar=None if likely_w is None else sun(likely_w),
        feed_in_price=feed_in_price,
    )


def test_the_sun_in_a_slot_at_the_minimum_costs_what_it_would_earn_exported() -> None:
    # 2 kW of 4.14: the grid's 52 % at 0.32 is 0.165 a kWh, below the night's 0.18, with free sun;
    # exported at 0.08 the sun's 48 % add 0.039: 0.204, and the night is cheaper.
    free = at_min_plan(3 * H, 2000.0)
    assert free.starts_at is not None
    assert 10 * H <= free.starts_at < 12 * H
    assert at_min_plan(11 * H, 2000.0).min_now
    paid = at_min_plan(3 * H, 2000.0, feed_in_price=0.08)
    assert paid.starts_at is not None
    assert paid.starts_at < 6 * H


def test_a_feed_in_sensor_prices_the_sun_of_each_slot() -> None:
    # 3 kWh fit in one hour at the minimum. 2 kW of 4.14 costs 0.165 a kWh with free sun, 0.204
    # with the sun at 0.08 (the night: 0.18). The sensor's price counts where it has one, the
    # fixed price elsewhere.
    sun = tuple(EnergySlot(h * H, (h + 1) * H, 2000.0) for h in (10, 11))

    def starts(fixed: float, *feed_in: PriceSlot) -> float:
        status = day_plan(3000, 3 * H, solar=sun, feed_in_price=fixed, feed_in_prices=feed_in)
        assert status.starts_at is not None
        return status.starts_at

    assert 11 * H <= starts(0.0) < 12 * H  # equal slots: the latest
    # Exporting at 11:00 earns 0.08: 10:00 is the cheaper hour.
    assert 10 * H <= starts(0.0, PriceSlot(11 * H, 12 * H, 0.08)) < 11 * H
    assert starts(0.0, PriceSlot(10 * H, 12 * H, 0.08)) < 6 * H  # both dearer than the night
    assert starts(0.08) < 6 * H
    # A negative feed-in price (paid to export) at 10:00 makes the sun there the best buy.
    assert 10 * H <= starts(0.08, PriceSlot(10 * H, 11 * H, -0.05)) < 11 * H


def test_feed_in_per_wh_weighs_the_sensor_by_time_and_the_fixed_price_for_the_rest() -> None:
    sensor = (PriceSlot(0.0, 300.0, 0.0), PriceSlot(600.0, 900.0, 0.30))
    # 0-900 s: 300 s at 0, 300 s unknown (fixed 0.12), 300 s at 0.30.
    assert feed_in_per_wh(sensor, 0.0, 900.0, 0.12) == pytest.approx(0.14)
    assert feed_in_per_wh((), 0.0, 900.0, 0.12) == pytest.approx(0.12)
    assert feed_in_per_wh(sensor, 600.0, 900.0, 0.12) == pytest.approx(0.30)


def test_slots_at_the_minimum_rank_by_the_forecast_not_the_confidence_margin() -> None:
    # Counted with the margin, 1.2 kW (the grid's 71 % at 0.32: 0.227 a kWh) loses to the night;
    # as forecast, 3 kW (0.088 a kWh) wins. The energy counted on stays the margin's: none.
    margin_only = at_min_plan(3 * H, 1200.0)
    assert margin_only.starts_at is not None
    assert margin_only.starts_at < 6 * H
    ranked = at_min_plan(3 * H, 1200.0, likely_w=3000.0)
    assert ranked.starts_at is not None
    assert 10 * H <= ranked.starts_at < 12 * H
    assert ranked.outlook == PlanOutlook(0.0, 5000.0)


def test_the_plan_ranks_slots_at_the_minimum_by_the_forecast_and_the_feed_in_price() -> None:
    weak = tuple(EnergySlot(h * H, (h + 1) * H, 3500.0) for h in (10, 11))

    def waits_until(feed_in_price: float, *feed_in: PriceSlot) -> float | None:
        # Counted with the 40 % confidence: 0.9 kW; as forecast: 3 kW (the one ranked).
        plan = PlanSettings(forecast_confidence=0.4, feed_in_price=feed_in_price)
        m = EnergyManager(SiteSettings(plan=plan), {"a": ChargerSettings()})
        m.set_plan("a", PlanTarget(departure=16 * H, energy_wh=5000))
        t = 3 * H
        inputs = replace(
            site(t, 500, {"a": car(t, energy=0)}),
            prices=NIGHT,
            feed_in_prices=feed_in,
            solar_forecast=weak,
        )
        return m.update(inputs, t).chargers["a"].until

    # 3 kW of sun at the minimum: 0.088 a kWh free, 0.146 paid for at 0.08; a feed-in of 0.20
    # makes it 0.23, dearer than the night.
    for feed_in_price in (0.0, 0.08):
        until = waits_until(feed_in_price)
        assert until is not None
        assert 10 * H <= until < 12 * H
    night = waits_until(0.20)
    assert night is not None
    assert night < 6 * H
    # A feed-in sensor at 0.0 from 10:00 to 12:00 wins over the fixed 0.20 there.
    sensor = waits_until(0.20, PriceSlot(10 * H, 12 * H, 0.0))
    assert sensor is not None
    assert 10 * H <= sensor < 12 * H


def test_controller_runs_a_slot_planned_at_the_minimum_as_min_and_solar() -> None:
    m = planned(PlanTarget(departure=16 * H, energy_wh=20000))
    weak = tuple(EnergySlot(h * H, (h + 1) * H, 3500.0) for h in (10, 11))
    t = 10 * H
    # 2 kW of surplus: the car takes its minimum (the grid adds 2.1 kW), in a planned slot.
    inputs = replace(site(t, -2000.0, {"a": car(t, energy=0)}), prices=NIGHT, solar_forecast=weak)
    d = m.update(inputs, t).chargers["a"]
    assert d.reason is Reason.PLANNED_SLOT
    assert d.target == ChargerCommand(current_a=6.0, phases=3)


def test_forecast_sun_takes_the_place_of_cheap_night_slots() -> None:
    # 30 kWh by 16:00. Without a forecast: all of it in the cheap night (05:00 is in the slots).
    grid_only = forecast_plan(30000, 5 * H, ())
    assert grid_only.charge_now
    assert grid_only.outlook == PlanOutlook(0.0, 30000.0)
    # 5 h of 8 kWh * 70 % - 0.5 kWh of house: 25.5 kWh from the sun, the rest from the night.
    sunny = forecast_plan(30000, 3 * H, SUNNY)
    assert sunny.outlook is not None
    assert sunny.outlook.solar_wh == pytest.approx(25500.0)
    assert sunny.outlook.grid_wh == pytest.approx(4500.0)
    assert not sunny.charge_now
    # 4.5 kWh at 11 kW (+10 %): the two latest night quarters.
    assert sunny.starts_at == pytest.approx(5.5 * H)
    assert forecast_plan(30000, 5.8 * H, SUNNY).charge_now
    # Plenty of sun: no grid slot at all.
    assert forecast_plan(10000, 3 * H, SUNNY).starts_at is None


# Broken clouds, as learned (``sun_capture``): a car on surplus only misses a fifth of the sun;
# held at its minimum it gets that too, for a twentieth of the sun's energy from the grid.
BROKEN = (0.2, 0.05)


def test_under_broken_clouds_the_car_holds_its_minimum_where_that_beats_the_grid_needed() -> None:
    sun = expected_surplus(SUNNY, PlanSettings())
    # 30 kWh by 16:00: 25.5 kWh counted from the sun, 4.5 kWh from the night, which the plan
    # still buys with the bridge learned: it does not count on the bridge's sun.
    assert day_plan(30000, 3 * H, solar=sun).starts_at == pytest.approx(5.5 * H)
    assert day_plan(30000, 3 * H, solar=sun, bridge=BROKEN).starts_at == pytest.approx(5.5 * H)
    # Noon, the night is over and 4.5 kWh must still come from the grid at 0.32 (the last half
    # hour). Held at the minimum, the sunny hours give 25 % more, a fifth of it from the grid
    # at 0.32 and the rest sun (free here): 0.064 a kWh, so the car holds it now.
    left = 3 * 5100.0 + 4500.0
    plain = day_plan(left, 12 * H, solar=sun)
    assert not plain.min_now
    assert plain.starts_at == pytest.approx(15.5 * H)
    held = day_plan(left, 12 * H, solar=sun, bridge=BROKEN)
    assert held.min_now
    assert not held.charge_now
    assert held.outlook == plain.outlook  # the sun counted is the same
    # A cheap hour at 15:00 (0.10) covers the grid needed: the blend at 0.064 still beats it,
    # but not with the sun worth 0.08 exported (0.128 a kWh).
    cheap_later = {"solar": sun, "bridge": BROKEN, "prices": CHEAP_AFTER_SUN}
    assert day_plan(left, 12 * H, **cheap_later).min_now
    assert not day_plan(left, 12 * H, feed_in_price=0.08, **cheap_later).min_now


def test_controller_holds_the_minimum_in_a_dip_of_a_slot_planned_so() -> None:
    t = 12 * H
    # 2 kW of surplus in a dip at noon, 20 kWh still to charge by 16:00.
    inputs = replace(site(t, -2000.0, {"a": car(t, energy=0)}), prices=NIGHT, solar_forecast=SUNNY)
    plan = PlanTarget(departure=16 * H, energy_wh=20000)
    learned = PlanSettings(sun_bridge=((MIN_1P_W, 0.0, 0.0), (MIN_3P, *BROKEN)))
    held = EnergyManager(SiteSettings(plan=learned), {"a": ChargerSettings()})
    held.set_plan("a", plan)
    d = held.update(inputs, t).chargers["a"]
    assert d.reason is Reason.PLANNED_SLOT
    assert d.target == ChargerCommand(current_a=6.0, phases=3)
    # Nothing learned: the car waits for the surplus, the grid comes at the end of the day.
    d = planned(plan).update(inputs, t).chargers["a"]
    assert d.reason is Reason.PLAN_WAITING
    assert d.target == ChargerCommand(current_a=0.0, phases=3, paused=True)


# A dynamic feed-in: the morning's PV earns 0.10 exported, the midday glut's pays 0.03 to export.
GLUT = (PriceSlot(10 * H, 12 * H, 0.10), PriceSlot(12 * H, 15 * H, -0.03))


def test_with_sun_to_spare_the_plan_takes_the_sun_that_earns_least_exported() -> None:
    # 8 kWh an hour from 10:00 to 15:00; 10 kWh (+10 %) fit in the midday's 24 kWh.
    def waits(remaining_wh: float, now: float, *feed_in: PriceSlot) -> float | None:
        status = day_plan(remaining_wh, now, solar=SUNNY, feed_in_prices=feed_in)
        assert not status.charge_now
        return status.sun_waits_until

    assert waits(10000, 10 * H, *GLUT) == 12 * H  # the morning's sun is exported
    assert waits(10000, 12.5 * H, *GLUT) is None  # the midday's is taken
    assert waits(10000, 10 * H) is None  # a fixed feed-in: all sun is alike, taken from now on
    assert waits(10000, 10 * H, PriceSlot(10 * H, 15 * H, 0.05)) is None
    # Sun whose feed-in price is not published yet comes last; now's, unknown, is taken.
    assert waits(10000, 10 * H, PriceSlot(10 * H, 12 * H, 0.10)) is None
    assert waits(10000, 10 * H, PriceSlot(12 * H, 15 * H, -0.03)) is None
    assert (
        waits(10000, 10 * H, PriceSlot(10 * H, 12 * H, 0.10), PriceSlot(12 * H, 13 * H, -0.03))
        is None
    )
    assert (
        waits(6000, 10 * H, PriceSlot(10 * H, 12 * H, 0.10), PriceSlot(12 * H, 13 * H, -0.03))
        == 12 * H
    )
    # Without grid prices (one long stretch, cut into quarter hours from its end): the same.
    no_prices = day_plan(10000, 10 * H, prices=(), solar=SUNNY, feed_in_prices=GLUT)
    assert no_prices.sun_waits_until == 12 * H
    # 30 kWh (+10 %) need the morning's sun too; 40 kWh more than the sun has: every bit of it.
    assert waits(30000, 10 * H, *GLUT) is None
    assert waits(40000, 10 * H, *GLUT) is None


def test_a_car_taking_the_sun_leaves_it_only_with_more_to_spare() -> None:
    # 20.5 kWh (+10 % = 22.55) fit in the midday's 24 kWh: a waiting car waits for it. A car
    # charging on the morning's sun goes on (x 1.1 again = 24.8): no stop on a small revision.
    def waits(remaining_wh: float, taking_sun: bool) -> float | None:
        status = day_plan(
            remaining_wh, 10 * H, solar=SUNNY, feed_in_prices=GLUT, taking_sun=taking_sun
        )
        return status.sun_waits_until

    assert waits(20500, taking_sun=False) == 12 * H
    assert waits(20500, taking_sun=True) is None
    # With that much more to spare (19 kWh x 1.21 = 23 kWh) the charging car leaves it too.
    assert waits(19000, taking_sun=True) == 12 * H


# The site's forecast counts 5.1 kWh an hour (see above): 15.3 kWh from 12:00 to 15:00, which
# 13.5 kWh fit with 10 % to spare but not with 21 %, and 10 kWh with both.
@pytest.mark.parametrize(("remaining_wh", "keeps_on"), [(13500.0, True), (10000.0, False)])
def test_a_charging_car_keeps_the_sun_unless_the_plan_has_plenty_to_spare(
    remaining_wh: float, keeps_on: bool
) -> None:
    """The feed-in prices are published while the car charges on the morning's sun."""
    m = planned(PlanTarget(departure=16 * H, energy_wh=remaining_wh))
    amps = {"now": 0.0}

    def step(t: float, *feed_in: PriceSlot) -> Reason:
        draw = amps["now"] * 3 * 230.0
        inputs = replace(
            site(t, draw - 8000.0, {"a": car(t, power=draw, energy=0)}),
            prices=NIGHT,
            feed_in_prices=feed_in,
            solar_forecast=SUNNY,
        )
        d = m.update(inputs, t).chargers["a"]
        if d.write is not None:
            amps["now"] = 0.0 if d.write.paused else d.write.current_a
        return d.reason

    t0 = 10 * H
    for t in range(int(t0), int(t0) + 100):
        step(float(t))
    assert amps["now"] > 6.0
    reasons = [step(float(t), *GLUT) for t in range(int(t0) + 100, int(t0) + 200)]
    assert (amps["now"] > 6.0) is keeps_on
    assert (Reason.PLAN_WAITING in reasons) is not keeps_on


def test_sun_that_earns_more_exported_than_the_night_costs_is_left_to_export() -> None:
    """An old fixed feed-in of 0.25 above the night's 0.18: the night's grid is the better buy."""

    def plan(remaining_wh: float, now: float, feed_in: float) -> PlanStatus:
        return day_plan(remaining_wh, now, solar=SUNNY, feed_in_price=feed_in)

    # 10 kWh (+10 %) fit in the night's last hour: bought there, the sun is left to export.
    night = plan(10000, 3 * H, 0.25)
    assert night.outlook == PlanOutlook(0.0, 10000.0)
    assert night.starts_at is not None
    assert 4.5 * H < night.starts_at < 6 * H
    assert not night.spare_sun
    # A feed-in below the night's price: the sun first, as ever.
    assert plan(10000, 3 * H, 0.08).outlook == PlanOutlook(10000.0, 0.0)
    assert plan(10000, 3 * H, 0.08).starts_at is None
    # Half an hour of night left (5 kWh): the night now, then the earliest sun (3 quarters of
    # 2 kWh); the rest is left to export - and the day's grid (0.32) is not bought.
    late = plan(10000, 5.5 * H, 0.25)
    assert late.charge_now
    assert late.outlook == PlanOutlook(pytest.approx(6000.0), pytest.approx(4000.0))  # type: ignore[arg-type]
    # Once the night is over the sun beats the day's grid (0.32), and is taken.
    day = plan(5000, 10 * H, 0.25)
    assert not day.charge_now
    assert day.sun_waits_until is None
    assert day.outlook == PlanOutlook(5000.0, 0.0)


# A cheap hour after the sun (15:00, 0.10): 10 kWh (+10 %) fit in it.
CHEAP_AFTER_SUN = tuple(PriceSlot(h * H, (h + 1) * H, 0.10 if h == 15 else 0.32) for h in range(24))


def test_in_a_sunny_slot_left_to_export_the_car_waits_for_the_grid() -> None:
    status = day_plan(10000, 10 * H, prices=CHEAP_AFTER_SUN, solar=SUNNY, feed_in_price=0.25)
    assert not status.charge_now
    assert status.outlook == PlanOutlook(0.0, 10000.0)
    assert status.starts_at == 15 * H
    assert status.sun_waits_until == 15 * H
    # Sun worth less exported than that hour costs: taken, as ever.
    status = day_plan(10000, 10 * H, prices=CHEAP_AFTER_SUN, solar=SUNNY, feed_in_price=0.08)
    assert status.outlook == PlanOutlook(10000.0, 0.0)
    assert status.sun_waits_until is None


@pytest.mark.parametrize("seed", range(20))
def test_sun_is_left_to_export_only_under_a_feed_in_above_some_grid_price(seed: int) -> None:
    """Random days: with a feed-in below every grid price the plan counts the same sun as with
    none (no sun is left to export); with a high feed-in it counts no more sun and buys no less
    grid, meets the departure all the same, and waits only for a later slot."""
    rng = random.Random(seed)
    prices = tuple(
        PriceSlot(h * H, (h + 1) * H, round(rng.uniform(0.10, 0.40), 3)) for h in range(24)
    )
    sun = tuple(EnergySlot(h * H, (h + 1) * H, rng.uniform(0.0, 9000.0)) for h in range(7, 16))
    now, remaining = rng.uniform(0.0, 9.0) * H, rng.uniform(2000.0, 40000.0)

    def outlook(feed_in: float) -> tuple[PlanStatus, PlanOutlook]:
        status = day_plan(remaining, now, prices=prices, solar=sun, feed_in_price=feed_in)
        assert status.outlook is not None
        return status, status.outlook

    _, free = outlook(0.0)
    _, low = outlook(min(p.price for p in prices) - 0.01)
    assert low == free
    high_status, high = outlook(0.45)
    assert high.solar_wh <= free.solar_wh + 1e-6
    assert high.grid_wh >= free.grid_wh - 1e-6
    assert high_status.feasible
    assert high_status.sun_waits_until is None or high_status.sun_waits_until > now


def test_a_slot_at_the_minimum_is_no_grid_that_displaces_the_sun() -> None:
    # 15:00 has 2 kWh of sun, below the minimum: planned there at the minimum its energy costs
    # 0.32 x 52 % + (-0.20) x 48 % = 0.07, less than the midday sun earns (0.15). It is in the
    # cheapest cover with the sun, but it is no grid the sun is dearer than: the sun stays the
    # plan's, spare sun and all.
    weak = (*SUNNY, EnergySlot(15 * H, 16 * H, 2000.0))
    feed_in = (PriceSlot(10 * H, 15 * H, 0.15), PriceSlot(15 * H, 16 * H, -0.20))
    status = day_plan(10000, 10 * H, solar=weak, feed_in_prices=feed_in)
    assert status.outlook == PlanOutlook(10000.0, 0.0)
    assert status.spare_sun


def test_the_controller_waits_in_sun_worth_more_exported() -> None:
    def decide(feed_in: float) -> tuple[Reason, float | None, ChargerCommand | None]:
        m = EnergyManager(
            SiteSettings(plan=PlanSettings(feed_in_price=feed_in)),
            {"a": ChargerSettings()},
        )
        m.set_plan("a", PlanTarget(departure=16 * H, energy_wh=10000))
        t = 10 * H
        inputs = replace(
            site(t, -6000.0, {"a": car(t, energy=0)}),
            prices=CHEAP_AFTER_SUN,
            solar_forecast=SUNNY,
        )
        d = m.update(inputs, t).chargers["a"]
        return d.reason, d.until, d.target

    reason, until, target = decide(0.25)
    assert (reason, until) == (Reason.PLAN_WAITING, 15 * H)
    assert target is not None
    assert target.paused
    # At the default feed-in (0.08) the sun is the best buy: the car takes it.
    _, _, target = decide(0.08)
    assert target is not None
    assert not target.paused


def test_the_controller_leaves_the_sun_the_plan_does_not_need() -> None:
    def decide(*feed_in: PriceSlot) -> tuple[Reason, float | None, ChargerCommand | None]:
        m = planned(PlanTarget(departure=16 * H, energy_wh=10000))
        t = 10 * H
        inputs = replace(
            site(t, -6000.0, {"a": car(t, energy=0)}),
            prices=NIGHT,
            feed_in_prices=feed_in,
            solar_forecast=SUNNY,
        )
        d = m.update(inputs, t).chargers["a"]
        return d.reason, d.until, d.target

    # 6 kW of surplus at 10:00: exported at 0.10, the car waits for the midday's sun.
    reason, until, target = decide(*GLUT)
    assert (reason, until) == (Reason.PLAN_WAITING, 12 * H)
    assert target is not None
    assert target.paused
    # Without a feed-in sensor the car takes it.
    _, _, target = decide()
    assert target is not None
    assert not target.paused
    assert target.current_a > 6.0


def test_a_short_forecast_is_caught_up_with_grid_before_departure() -> None:
    # The morning was cloudy: at 13:00 still 25 kWh to go, 2 sunny hours left (10.2 kWh):
    # the rest comes from the day's slots, the latest first, so the sun can still make up.
    late = forecast_plan(25000, 13 * H, SUNNY)
    assert late.outlook is not None
    assert late.outlook.solar_wh == pytest.approx(10200.0)
    assert late.outlook.grid_wh == pytest.approx(14800.0)
    assert not late.charge_now
    assert late.starts_at is not None
    assert 13 * H < late.starts_at < 16 * H
    # Nothing left but full power: now.
    assert forecast_plan(25000, 14 * H, SUNNY).charge_now


def test_controller_plans_with_the_site_forecast_and_reports_the_outlook() -> None:
    m = planned(PlanTarget(departure=16 * H, energy_wh=30000))
    inputs = SiteInputs(
        grid_w=site(5.8 * H, 300).grid_w,
        prices=NIGHT,
        solar_forecast=SUNNY,
        chargers={"a": car(5.8 * H, energy=0)},
    )
    d = m.update(inputs, 5.8 * H).chargers["a"]
    assert d.reason is Reason.PLANNED_SLOT
    assert d.plan == PlanOutlook(pytest.approx(25500.0), pytest.approx(4500.0))  # type: ignore[arg-type]
    # Earlier in the night the sun leaves the grid nothing to do yet: wait, and say until when.
    inputs = SiteInputs(
        grid_w=site(H, 300).grid_w,
        prices=NIGHT,
        solar_forecast=SUNNY,
        chargers={"a": car(H, energy=0)},
    )
    d = m.update(inputs, H).chargers["a"]
    assert d.reason is Reason.PLAN_WAITING
    assert d.until == pytest.approx(5.5 * H)


def test_soc_plan_without_a_soc_uses_the_energy_target_and_says_so() -> None:
    m = planned(PlanTarget(departure=10 * H, soc=80, energy_wh=20000), vehicle_capacity_wh=60000)
    # No SoC ever seen: the energy target (20 kWh by 10:00: charging from about 8:00).
    d = m.update(site(0, 500, {"a": car(0, energy=0)}), 0).chargers["a"]
    assert d.reason is Reason.PLAN_SOC_UNAVAILABLE
    assert d.until is not None
    assert 7 * H < d.until < 9 * H
    assert d.target.paused
    d = m.update(site(9 * H, 500, {"a": car(9 * H, energy=0)}), 9 * H).chargers["a"]
    assert d.reason is Reason.PLANNED_SLOT
    # The SoC comes: the SoC target counts (80 % reached).
    t = 9 * H + 60
    d = m.update(site(t, 500, {"a": car(t, soc=80, energy=5000)}), t).chargers["a"]
    assert d.reason is Reason.TARGET_REACHED


def test_slots_the_sun_fills_leave_no_grid_room() -> None:
    # 10:00-11:00 is the cheapest hour but the sun alone fills the car then: the grid energy goes
    # to the next cheapest (the night), not to the sunny hour.
    prices = tuple(PriceSlot(h * H, (h + 1) * H, 0.05 if h == 10 else 0.18) for h in range(16))
    status = plan_status(
        now=0,
        departure=16 * H,
        remaining_wh=30000,
        max_power_w=P3,
        efficiency=1.0,
        prices=prices,
        solar=(EnergySlot(10 * H, 11 * H, 50000.0),),
    )
    assert status.outlook == PlanOutlook(P3, 30000 - P3)
    assert status.starts_at is not None
    assert not 10 * H <= status.starts_at < 11 * H


def test_spare_sun_is_sun_beyond_what_is_left_with_the_safety_factor() -> None:
    # 25.5 kWh of sun ahead (see above): spare for 23 kWh (x 1.1 = 25.3), not for 24 kWh.
    assert forecast_plan(23000, 3 * H, SUNNY).spare_sun
    assert not forecast_plan(24000, 3 * H, SUNNY).spare_sun
    assert not forecast_plan(10000, 3 * H, ()).spare_sun


class SunnyPlanDay(SunLoop):
    """A plan on the SUNNY forecast and the NIGHT prices, the sun set as it runs."""

    def __init__(self, remaining_wh: float) -> None:
        super().__init__(planned(PlanTarget(departure=16 * H, energy_wh=remaining_wh)))

    def inputs(self, t: float, grid: float, ev: dict[str, float]) -> SiteInputs:
        charger = car(t, power=ev["a"], energy=0)
        return replace(site(t, grid, {"a": charger}), prices=NIGHT, solar_forecast=SUNNY)


def test_a_plan_with_sun_to_spare_restarts_after_the_usual_delay() -> None:
    """Solar mode with sun to spare waits 5 minutes to restart (``sun_ahead``); a plan's 10 %
    margin is too thin to miss that much sun: it restarts after the start delay."""
    day = SunnyPlanDay(10000.0)
    t0 = 10 * H
    day.during(t0, t0 + 99, 6000.0)
    stopped = day.paused_at(t0 + 100, t0 + 400, 1000.0)
    assert stopped is not None
    restarted = next(
        t
        for t in range(int(stopped) + 1, int(stopped) + 600)
        if not day.at(t, 6000.0).chargers["a"].target.paused
    )
    assert restarted - (stopped + 1) == SolarSettings().enable_delay_s


@pytest.mark.parametrize(
    ("remaining_wh", "spare", "dip_w"),
    [(10000.0, True, 1000.0), (24000.0, False, 1000.0), (10000.0, True, 3900.0)],
)
def test_a_plan_with_sun_to_spare_stops_at_once_in_a_dip(
    remaining_wh: float, spare: bool, dip_w: float
) -> None:
    """Holding the minimum through a dip buys the grid at the day's price; a restart loses PV,
    which costs a plan nothing when the sun ahead covers it with room to spare. Without spare
    sun the dip is held as in Solar (until its grid energy reaches a restart's PV, ~119 s).
    With spare sun the grid gets no share of the minimum either: 3900 W of sun (94 % of the
    4140 W minimum, which Solar holds without counting a dip) is a dip."""
    day = SunnyPlanDay(remaining_wh)
    t0 = 10 * H
    day.during(t0, t0 + 99, 6000.0)
    assert day.amps() > 6.0
    first = day.at(t0 + 100, dip_w).chargers["a"]
    # The dip's first reading: stopping, with sun to spare once the dip outlasts the meters'
    # lag after a write (the configured 8 s settle time: nothing learned yet), else by the stop
    # delay's end at the latest.
    assert first.reason is Reason.STOPPING
    settle = SolarSettings().settle_s
    assert (first.until == t0 + 100 + settle) is spare
    stopped_at = day.paused_at(t0 + 101, t0 + 400, dip_w)
    assert stopped_at is not None
    if spare:
        assert stopped_at - t0 == 100 + settle
    else:
        assert 200 <= stopped_at - t0 <= 230


class FuseLoop:
    """Cars that draw what was last written (capped by their own maximum), each on 3 phases, and
    meter their session energy; the grid reads the house's 300 W plus the cars, per line too."""

    def __init__(self, m: EnergyManager, cars: dict[str, float]) -> None:
        self.m, self.cars = m, cars  # id -> the car's own maximum (A)
        self.cmd: dict[str, ChargerCommand | None] = dict.fromkeys(cars)
        self.energy = dict.fromkeys(cars, 0.0)
        self.max_line_a = 0.0

    def amps(self, cid: str) -> float:
        c = self.cmd[cid]
        return 0.0 if c is None or c.paused else min(c.current_a, self.cars[cid])

    def run(self, t1: float, dt: float = 30.0) -> None:
        t = 0.0
        while t < t1:
            line_a = 300.0 / 230.0 / 3 + sum(self.amps(cid) for cid in self.cars)
            self.max_line_a = max(self.max_line_a, line_a)
            chargers = {
                cid: car(t, power=self.amps(cid) * 690.0, energy=self.energy[cid])
                for cid in self.cars
            }
            inputs = site(t, line_a * 690.0, chargers, grid_currents=(line_a,) * 3)
            for cid, dec in self.m.update(inputs, t).chargers.items():
                if dec.write is not None:
                    self.cmd[cid] = dec.write
            for cid in self.cars:
                self.energy[cid] += self.amps(cid) * 690.0 * dt / H
            t += dt


def test_two_plans_sharing_a_fuse_both_meet_their_departure() -> None:
    """Two cars (16 A, 3p), 10 kWh each by 10:00, a 25 A main fuse: together 20 kWh in 10 h,
    easily feasible. Sized as though each had the fuse alone, both plans took the same last hour
    and shared 24.5 A there: each got about 8.35 kWh. Sized with its share of the fuse, each
    plan starts early enough even in the same slots."""
    m = EnergyManager(SiteSettings(fuse_a=25.0), {"a": ChargerSettings(), "b": ChargerSettings()})
    for cid in ("a", "b"):
        m.set_plan(cid, PlanTarget(departure=10 * H, energy_wh=10000))
    loop = FuseLoop(m, {"a": 16.0, "b": 16.0})
    loop.run(10 * H)
    assert loop.max_line_a <= 25.0 + 1e-6
    assert loop.energy["a"] >= 10000 - 1, loop.energy
    assert loop.energy["b"] >= 10000 - 1, loop.energy


def test_a_plan_shares_the_fuse_only_with_the_cars_plugged_in_and_online() -> None:
    """The plan's start (its reason's ``until``) with the fuse to itself, shared with a second
    car plugged in, and beside one unplugged and one offline (both ignored)."""
    chargers = {cid: ChargerSettings() for cid in "abcd"}
    m = EnergyManager(SiteSettings(fuse_a=25.0, fuse_margin_a=1.0), chargers)
    m.set_plan("a", PlanTarget(departure=10 * H, energy_wh=10000))

    def starts_at(**others: dict[str, Any]) -> float | None:
        inputs = {"a": car(0, energy=0)} | {cid: car(0, **kw) for cid, kw in others.items()}
        return m.update(site(0, 0, inputs, grid_currents=(0.0,) * 3), 0).chargers["a"].until

    alone = starts_at()
    # 10 kWh (+10 %) at 16 A: 1 h (in quarter hours); at 12 A (half of 24 A): 1.33 h.
    assert alone == 9 * H
    assert starts_at(c={"plugged": False}, d={"connected": False}) == alone
    assert starts_at(b={}) == 8.5 * H


def battery_plan(
    soc: float | None,
    *,
    capacity_wh: float | None = None,
    learned: float | None = None,
    learned_capacity_wh: float | None = None,
    **battery: Any,
) -> float:
    """The sun a plan of 50 kWh by 15:00 counts on at 00:00 (Wh) with a 10 kW forecast
    08:00-16:00 (and an hour before now) and a home battery at ``soc`` (priority SoC 100 %)."""
    settings = SiteSettings(
        battery=BatterySettings(capacity_wh=capacity_wh, **battery),
        plan=PlanSettings(battery_charge_w=learned, battery_capacity_wh=learned_capacity_wh),
    )
    return battery_outlook(settings, soc).solar_wh


def battery_outlook(settings: SiteSettings, soc: float | None) -> PlanOutlook:
    """How a plan of 50 kWh by 15:00 means to reach it at 00:00 with a 10 kW forecast
    08:00-16:00 (and an hour before now) and a home battery at ``soc``."""
    m = EnergyManager(settings, {"a": ChargerSettings()})
    m.set_plan("a", PlanTarget(departure=15 * H, energy_wh=50000))
    forecast = tuple(EnergySlot(h * H, (h + 1) * H, 10000.0) for h in (-1, *range(8, 16)))
    inputs = site(0, 500, {"a": car(0, energy=0)}, battery=0.0, battery_soc=soc)
    outlook = m.update(replace(inputs, solar_forecast=forecast), 0).chargers["a"].plan
    assert outlook is not None
    return outlook


def test_plan_counts_on_sun_the_home_battery_takes_first() -> None:
    """Battery first (priority SoC 100 %, a 30 kWh battery at 0 % taking up to 6 kW): the
    surplus fills the battery before the car gets any (9.5 kW from 08:00: 6 kW to the battery,
    the 3.5 kW left is below the car's 4.1 kW minimum). The plan (25 kWh by 15:00, night 0.10,
    day 0.30, a 10 kW PV forecast 08-16) counted all of the forecast sun as the car's and bought
    no night grid; the battery took the sun until 13:00, and 3.5 kWh were bought at the day's
    0.30 at the end, where the night (6 h at 11 kW) had room for them at 0.10."""
    prices = tuple(PriceSlot(h * H, (h + 1) * H, 0.10 if h < 6 else 0.30) for h in range(24))
    forecast = tuple(EnergySlot(h * H, (h + 1) * H, 10000.0) for h in range(8, 16))
    m = EnergyManager(
        SiteSettings(battery=BatterySettings(priority_soc=100.0, max_charge_w=6000.0)),
        {"a": ChargerSettings()},
    )
    m.set_plan("a", PlanTarget(departure=15 * H, energy_wh=25000))
    house, cap_wh = 500.0, 30000.0
    batt_wh = car_wh = dear_grid_wh = 0.0
    cmd: ChargerCommand | None = None
    t, dt = 0.0, 30.0
    while t < 15 * H:
        pv = 10000.0 if 8 * H <= t < 16 * H else 0.0
        car_w = 0.0 if cmd is None or cmd.paused else cmd.current_a * 230.0 * cmd.phases
        batt_w = min(6000.0, max(0.0, pv - house - car_w)) if batt_wh < cap_wh else 0.0
        grid = house + car_w + batt_w - pv
        inputs = site(
            t,
            grid,
            {"a": car(t, power=car_w, energy=car_wh)},
            battery=-batt_w,
            pv=pv,
            battery_soc=batt_wh / cap_wh * 100.0,
        )
        d = m.update(replace(inputs, prices=prices, solar_forecast=forecast), t)
        car_wh += car_w * dt / H
        batt_wh = min(cap_wh, batt_wh + batt_w * dt / H)
        if t >= 6 * H:
            dear_grid_wh += min(car_w, max(0.0, grid)) * dt / H
        if (w := d.chargers["a"].write) is not None:
            cmd = w
        t += dt
    assert car_wh >= 25000 - 1
    assert dear_grid_wh < 1000, (car_wh, dear_grid_wh, batt_wh)


def test_the_battery_first_takes_its_share_of_the_sun_a_plan_counts_on() -> None:
    """What a plan counts on from a 10 kW forecast (7 kW counted, 6.5 kW above the house, 7 h
    before departure): all of it with the car first; battery first, less what the battery takes
    up to its power until it is at its priority SoC."""
    assert battery_plan(100.0, max_charge_w=6000.0) == pytest.approx(7 * 6500.0)
    # 30 kWh to take at 6 kW: 08:00-13:00 (the 500 W left are below the car's minimum).
    assert battery_plan(0.0, max_charge_w=6000.0, capacity_wh=30000.0) == pytest.approx(13000.0)
    # 3 kWh to its priority SoC: 08:00-08:30.
    assert battery_plan(90.0, max_charge_w=6000.0, capacity_wh=30000.0) == pytest.approx(42250.0)
    # Its capacity or SoC unknown: it keeps its 6 kW until departure.
    assert battery_plan(0.0, max_charge_w=6000.0) == 0.0
    assert battery_plan(None, max_charge_w=6000.0, capacity_wh=30000.0) == 0.0
    # Its power as measured (the driver's) where none is set: 2 kW all day (14 of 30 kWh).
    assert battery_plan(0.0, capacity_wh=30000.0, learned=2000.0) == pytest.approx(7 * 4500.0)
    # Neither: all of the surplus, here until 6.5 kWh are in it (08:00-09:00).
    assert battery_plan(50.0, capacity_wh=13000.0) == pytest.approx(6 * 6500.0)


def test_a_plan_counts_the_sun_beyond_the_learned_capacity_of_the_battery() -> None:
    """The battery's capacity as learned (the driver's) where none is set: the sun beyond what
    fills it up to its priority SoC is the car's again; a capacity set wins."""
    # 30 kWh learned, at 0 %: 08:00-13:00 are the battery's (as with the setting).
    assert battery_plan(0.0, max_charge_w=6000.0, learned_capacity_wh=30000.0) == pytest.approx(
        13000.0
    )
    # 3 kWh to its priority SoC: 08:00-08:30.
    assert battery_plan(90.0, max_charge_w=6000.0, learned_capacity_wh=30000.0) == pytest.approx(
        42250.0
    )
    # A capacity set (30 kWh) wins over the learned one (300 kWh: it would take all day).
    assert battery_plan(
        90.0, max_charge_w=6000.0, capacity_wh=30000.0, learned_capacity_wh=300000.0
    ) == pytest.approx(42250.0)
    # Its SoC unknown: it keeps its power until departure all the same.
    assert battery_plan(None, max_charge_w=6000.0, learned_capacity_wh=30000.0) == 0.0


def test_a_battery_capacity_set_in_the_options_counts_the_sun_once_the_battery_is_full() -> None:
    """Nothing learned yet (a fresh install): without the capacity option the battery below its
    priority SoC keeps its 6 kW until departure and the plan buys all 50 kWh from the grid; with
    its 30 kWh entered (in kWh, as on the datasheet) the 3 kWh it still takes fill it by 08:30
    and the plan counts on the sun after that."""
    options = {"battery_max_charge_w": 6000, "battery_priority_soc": 100}
    unknown = battery_outlook(ems_options.site_settings(options), 90.0)
    assert unknown == PlanOutlook(solar_wh=0.0, grid_wh=50000.0)
    entered = options | {"battery_capacity_kwh": 30}
    known = battery_outlook(ems_options.site_settings(entered), 90.0)
    assert known.solar_wh == pytest.approx(42250.0)
    assert known.grid_wh == pytest.approx(50000.0 - 42250.0)


def test_the_driver_plans_with_the_battery_capacity_as_learned() -> None:
    """A 10 kWh battery charged at 5 kW from 20 % to 70 % in an hour: the plans count on its
    capacity as learned from its power and SoC sensors (about 10 kWh)."""
    driver = EmsDriver(SiteSettings(), EmsOptions(), clock=lambda: 0.0)
    t = 0.0
    while t <= H:
        soc = math.floor(20.0 + 50.0 * t / H)
        driver.step(site(t, 0.0, {}, battery=-5000.0, battery_soc=soc), t)
        assert driver._manager.site.plan.battery_capacity_wh is None or t > 0.2 * H
        t += 10.0
    capacity = driver._manager.site.plan.battery_capacity_wh
    assert capacity == pytest.approx(10000.0, rel=0.02)


def test_the_driver_plans_in_the_site_zone_with_the_battery_as_measured() -> None:
    """The driver gives plans the site's time zone (prices of a day earlier follow the clock)
    and the home battery's charging power as measured (its share of the sun ahead)."""
    zone = ZoneInfo("Europe/Berlin")
    driver = EmsDriver(SiteSettings(), EmsOptions(), clock=lambda: 0.0, zone=lambda: zone)
    for t in (0.0, 1.0):
        driver.step(site(t, -3000.0, {}, battery=-2500.0, battery_soc=50.0), t)
    plan = driver._manager.site.plan  # what the controller plans with
    assert plan.zone is zone
    assert plan.battery_charge_w == 2500.0
