"""Reasons say what the manager does now, and ``until`` when a wait ends (fake clock, scripted
inputs); the available surplus never exceeds what the PV gives."""

from __future__ import annotations

from dataclasses import replace

import pytest

from custom_components.ocpp_ems.core.ems import (
    BatterySettings,
    ChargerCommand,
    ChargerSettings,
    EnergyManager,
    Mode,
    PlanTarget,
    Reading,
    Reason,
    SiteSettings,
    SolarSettings,
    StaleFallback,
)

from .util import Loop, car, site

V = 230.0
MIN_3P = 6 * V * 3  # 4140 W
DELAYED = SolarSettings(regulation_margin_w=0.0, first_start_skips_delay=False)


def manager(
    solar: SolarSettings | None = None,
    battery: BatterySettings | None = None,
    **charger: object,
) -> EnergyManager:
    settings = SiteSettings(
        solar=solar or SolarSettings(regulation_margin_w=0.0),
        battery=battery or BatterySettings(),
    )
    options: dict[str, object] = {"mode": Mode.SOLAR, **charger}
    return EnergyManager(settings, {"a": ChargerSettings(**options)})  # type: ignore[arg-type]


# --- start delay -----------------------------------------------------------------------------------
def test_start_delay_says_starting_until_the_start() -> None:
    m = manager(DELAYED)
    d = m.update(site(0, -5000), 0).chargers["a"]
    assert d.target.paused
    assert (d.reason, d.until) == (Reason.STARTING, 60)
    # The same end while the timer runs (a card's countdown does not jump).
    d = m.update(site(30, -5000), 30).chargers["a"]
    assert (d.reason, d.until) == (Reason.STARTING, 60)
    d = m.update(site(60, -5000), 60).chargers["a"]
    assert d.write == ChargerCommand(7.2, 3)
    assert (d.reason, d.until) == (Reason.SOLAR, None)


def test_a_break_in_the_surplus_moves_the_start() -> None:
    m = manager(DELAYED)
    assert m.update(site(0, -5000), 0).chargers["a"].until == 60
    d = m.update(site(20, -1000), 20).chargers["a"]
    assert (d.reason, d.until) == (Reason.WAITING_FOR_SURPLUS, None)
    d = m.update(site(25, -5000), 25).chargers["a"]
    assert (d.reason, d.until) == (Reason.STARTING, 85)


def test_export_beside_a_charging_battery_is_starting_not_battery_first() -> None:
    # The evidence: "Home battery first" for a minute while 4.5 kW were exported (the start
    # delay was running). The battery takes 3 kW first, the 4.5 kW export is enough to start.
    m = manager(DELAYED, BatterySettings(priority_soc=80))
    d = m.update(site(0, -4500, battery=-3000, battery_soc=50), 0).chargers["a"]
    assert d.target.paused
    assert (d.reason, d.until) == (Reason.STARTING, 60)


def test_battery_first_only_when_the_battery_is_what_is_missing() -> None:
    m = manager(DELAYED, BatterySettings(priority_soc=80))
    # 2 kW export + 3 kW into the battery: the battery's charge would make the start.
    d = m.update(site(0, -2000, battery=-3000, battery_soc=50), 0).chargers["a"]
    assert (d.reason, d.until) == (Reason.BATTERY_FIRST, None)
    # 0.5 kW + 1 kW: even the battery's charge would not; the car waits for surplus.
    d = m.update(site(10, -500, battery=-1000, battery_soc=50), 10).chargers["a"]
    assert (d.reason, d.until) == (Reason.WAITING_FOR_SURPLUS, None)


def test_a_second_car_waits_while_the_first_one_starts() -> None:
    settings = SiteSettings(solar=DELAYED)
    m = EnergyManager(
        settings,
        {"a": ChargerSettings(mode=Mode.SOLAR), "b": ChargerSettings(mode=Mode.SOLAR)},
    )
    d = m.update(site(0, -5000, {"a": car(0), "b": car(0)}), 0)
    assert (d.chargers["a"].reason, d.chargers["a"].until) == (Reason.STARTING, 60)
    assert (d.chargers["b"].reason, d.chargers["b"].until) == (Reason.WAITING_FOR_SURPLUS, None)


def test_a_start_waiting_for_the_write_interval_says_when_it_is_written() -> None:
    m = manager(min_write_interval_s=10)
    # Plugged in without surplus: paused (written at 0).
    assert m.update(site(0, 300), 0).chargers["a"].write == ChargerCommand.pause(3)
    # Surplus at 5: the first start skips the delay, but the write waits for the interval.
    d = m.update(site(5, -5000), 5).chargers["a"]
    assert d.write is None
    assert (d.reason, d.until) == (Reason.STARTING, 10)
    d = m.update(site(10, -5000), 10).chargers["a"]
    assert d.write == ChargerCommand(7.2, 3)
    assert (d.reason, d.until) == (Reason.SOLAR, None)


def test_a_fast_start_waiting_for_the_write_interval_keeps_its_reason() -> None:
    m = manager(mode=Mode.FAST, min_write_interval_s=10)
    assert m.update(site(0, 300), 0).chargers["a"].write == ChargerCommand(16.0, 3)
    m.set_mode("a", Mode.OFF)
    assert m.update(site(1, 300), 1).chargers["a"].write == ChargerCommand.pause(3)
    m.set_mode("a", Mode.FAST)
    d = m.update(site(3, 300), 3).chargers["a"]
    assert d.write is None
    assert (d.reason, d.until) == (Reason.FAST, 11)


# --- stop delay and the minimum ------------------------------------------------------------------
def test_stop_delay_says_stopping_until_the_stop() -> None:
    m = manager(SolarSettings(regulation_margin_w=0.0, disable_delay_s=120))
    loop = Loop(m, lambda t: 6000.0 if t < 100 else 3600.0, house=0.0)
    d = loop.run(0, 99).chargers["a"]
    assert (d.reason, d.until) == (Reason.SOLAR, None)
    # 3600 W < 90 % of the 4140 W minimum: held at 6 A, stopping at 100 + 120 s unless surplus
    # returns.
    d = loop.run(100, 100).chargers["a"]
    assert (d.reason, d.until) == (Reason.STOPPING, 220)
    d = loop.run(101, 219).chargers["a"]
    assert loop.commands["a"] == ChargerCommand(6.0, 3)
    assert (d.reason, d.until) == (Reason.STOPPING, 220)
    d = loop.run(220, 220).chargers["a"]
    assert d.target.paused
    assert (d.reason, d.until) == (Reason.WAITING_FOR_SURPLUS, None)


def test_surplus_back_in_time_ends_the_stop_delay() -> None:
    m = manager(SolarSettings(regulation_margin_w=0.0, disable_delay_s=180))
    loop = Loop(m, lambda t: 3600.0 if 100 <= t < 150 else 6000.0, house=0.0)
    assert loop.run(0, 120).chargers["a"].reason is Reason.STOPPING
    d = loop.run(121, 160).chargers["a"]
    assert (d.reason, d.until) == (Reason.SOLAR, None)


def test_min_solar_holds_the_minimum_without_an_end() -> None:
    m = manager(mode=Mode.MIN_SOLAR)
    d = m.update(site(0, 500), 0).chargers["a"]
    assert d.target == ChargerCommand(6.0, 3)
    assert (d.reason, d.until) == (Reason.MIN_CURRENT_HELD, None)


# --- 1p/3p ----------------------------------------------------------------------------------------
def test_phase_switch_pending_until_the_switch() -> None:
    m = manager(can_switch_phases=True, min_write_interval_s=10)
    loop = Loop(m, lambda t: 2300.0 if t < 20 else 7300.0, house=300.0)
    d = loop.run(0, 19).chargers["a"]
    assert loop.phases("a") == 1
    assert (d.reason, d.until) == (Reason.SOLAR, None)
    # Above the 3p minimum from 20 s: up after the 60 s delay (the start's settle is over by then).
    d = loop.run(20, 20).chargers["a"]
    assert (d.reason, d.until) == (Reason.PHASE_SWITCH_PENDING, 80)
    d = loop.run(21, 79).chargers["a"]
    assert (d.reason, d.until) == (Reason.PHASE_SWITCH_PENDING, 80)
    d = loop.run(80, 80).chargers["a"]
    assert d.reason is Reason.PHASE_SWITCH
    assert loop.phases("a") == 3


def test_phase_switch_pending_waits_for_the_settle_time() -> None:
    # Up at once (no delay), but not sooner than 60 s after the last switch (the 1p start at 0).
    solar = SolarSettings(regulation_margin_w=0.0, phase_up_delay_s=0.0, phase_settle_s=60.0)
    m = manager(solar, can_switch_phases=True)
    loop = Loop(m, lambda t: 2300.0 if t < 20 else 7300.0, house=300.0)
    loop.run(0, 19)
    d = loop.run(20, 20).chargers["a"]
    assert (d.reason, d.until) == (Reason.PHASE_SWITCH_PENDING, 60)


def test_a_phase_switch_waiting_for_the_write_interval() -> None:
    m = manager(can_switch_phases=True, min_write_interval_s=30)
    loop = Loop(m, lambda t: 2300.0 if t < 20 else 7300.0, house=300.0)
    loop.run(0, 79)
    written = m._memory["a"].last_write_at  # the controller's own record
    assert written > 50  # a raise shortly before the switch is due
    d = loop.run(80, 80).chargers["a"]
    assert d.write is None
    assert (d.reason, d.until) == (Reason.PHASE_SWITCH, written + 30)


def test_a_phase_switch_waiting_for_the_write_interval_under_a_fuse() -> None:
    # The same with a main fuse: until the write the charger holds the lines of both phase counts.
    settings = SiteSettings(solar=SolarSettings(regulation_margin_w=0.0), fuse_a=35.0)
    m = EnergyManager(
        settings,
        {"a": ChargerSettings(mode=Mode.SOLAR, can_switch_phases=True, min_write_interval_s=30)},
    )
    loop = Loop(m, lambda t: 2300.0 if t < 20 else 7300.0, house=300.0)
    loop.run(0, 79)
    written = m._memory["a"].last_write_at  # the controller's own record
    d = loop.run(80, 80).chargers["a"]
    assert (d.reason, d.until) == (Reason.PHASE_SWITCH, written + 30)
    assert d.target.phases == 3


def test_a_stop_before_the_phase_switch_is_said() -> None:
    # 3p car, a deficit below even the 1p minimum: both timers run, the stop comes first.
    solar = SolarSettings(
        regulation_margin_w=0.0,
        disable_delay_s=60,
        phase_down_delay_s=180,
        restart_cost_factor=0.0,
    )
    m = manager(solar, can_switch_phases=True)
    loop = Loop(m, lambda t: 6000.0 if t < 100 else 1000.0, house=0.0)
    loop.run(0, 99)
    assert loop.phases("a") == 3
    d = loop.run(100, 100).chargers["a"]
    assert (d.reason, d.until) == (Reason.STOPPING, 160)


def test_a_stop_for_a_deep_dip_is_said_when_it_comes() -> None:
    # The dip's grid energy reaches a restart's before the stop delay ends: the reason says
    # the earlier stop, and the car stops when it said, to the second.
    m = manager(SolarSettings(regulation_margin_w=0.0))
    loop = Loop(m, lambda t: 6000.0 if t < 100 else 1000.0, house=0.0)
    loop.run(0, 99)
    said: list[float | None] = []
    for t in range(100, 300):
        decision = loop.run(t, t)
        d = decision.chargers["a"]
        if d.target.paused:
            break
        assert d.reason is Reason.STOPPING
        said.append(d.until)
        # The manager asks to run again by then, also without a new reading.
        assert decision.next_update_at is not None
        assert d.until is not None
        assert decision.next_update_at <= d.until
    assert said[-1] is not None
    assert t - 1 <= said[-1] <= t
    assert t < 100 + SolarSettings().disable_delay_s


# --- other waits with an end ------------------------------------------------------------------------
def test_stale_input_with_last_limit_says_when_the_grace_ends() -> None:
    m = manager(stale_fallback=StaleFallback.LAST_LIMIT, stale_grace_s=300)
    assert not m.update(site(0, -5000), 0).chargers["a"].target.paused
    stale = replace(site(100, -5000), grid_w=Reading(-5000, 0))
    d = m.update(stale, 100).chargers["a"]
    assert (d.reason, d.until) == (Reason.STALE_INPUT, 400)
    d = m.update(replace(stale, chargers={"a": car(400)}), 400).chargers["a"]
    assert d.target.paused
    assert (d.reason, d.until) == (Reason.STALE_INPUT, None)


def test_boost_says_when_it_ends() -> None:
    m = manager()
    m.boost("a", 500.0)
    d = m.update(site(0, 300), 0).chargers["a"]
    assert (d.reason, d.until) == (Reason.BOOST, 500.0)


def test_plan_waiting_says_when_the_planned_charge_begins() -> None:
    m = manager(mode=Mode.PLAN)
    departure = 8 * 3600.0
    m.set_plan("a", PlanTarget(departure=departure, energy_wh=10_000))
    d = m.update(site(0, 300, {"a": car(0, energy=0.0)}), 0).chargers["a"]
    # 10 kWh at 11 kW with the 10 % reserve: 3587 s, the latest four 15-minute slots.
    assert (d.reason, d.until) == (Reason.PLAN_WAITING, departure - 4 * 900)
    d = m.update(site(departure - 3600, 300, {"a": car(0, energy=0.0)}), departure - 3600)
    assert (d.chargers["a"].reason, d.chargers["a"].until) == (Reason.PLANNED_SLOT, None)


# --- the surplus never exceeds the PV ---------------------------------------------------------------
def test_surplus_never_shows_more_than_the_pv() -> None:
    # The evidence: 9,104 W available with 8,000 W of PV. A car started at 10.2 A (7,038 W) is
    # still ramping at 7.2 A (4,968 W); during the start's settle time its draw is counted as
    # the commanded 10.2 A, while the grid still shows the export beside 7.2 A: with a 960 W
    # house, 9,110 W.
    m = manager()
    d = m.update(site(0, 960 - 8000, pv=8000), 0)
    assert d.chargers["a"].write == ChargerCommand(10.2, 3)
    grid = 960 + 4968 - 8000
    inputs = site(5, grid, {"a": car(5, power=4968)}, pv=8000)
    assert 10.2 * 3 * V - grid == pytest.approx(9110)  # what the sum of the readings says
    d = m.update(inputs, 5)
    assert d.surplus_w == 8000  # capped at the PV
    # Without a PV reading there is nothing to cap at (the old sum).
    m = manager()
    m.update(site(0, 960 - 8000), 0)
    assert m.update(site(5, grid, {"a": car(5, power=4968)}), 5).surplus_w == pytest.approx(9110)


def test_a_stale_battery_charge_is_not_counted_twice() -> None:
    # Car first: the battery's charge is surplus. Its meter still says -3 kW (read 100 s ago);
    # since then the car took that power and the grid shows 0. PV: 5 kW.
    m = manager(battery=BatterySettings(priority_soc=50))
    inputs = replace(
        site(100, 0.0, {"a": car(100, power=4140)}, battery_soc=90, pv=5000),
        battery_w=Reading(-3000, 0),
    )
    assert m.update(inputs, 100).surplus_w == 5000


def test_battery_assistance_and_curtailed_pv_count_on_top_of_the_pv() -> None:
    rules = BatterySettings(
        priority_soc=0, allow_discharge_to_car=True, floor_soc=40, max_discharge_to_car_w=2000
    )
    m = manager(battery=rules)
    # Night: no PV, the battery may add 2 kW for the car.
    d = m.update(site(0, 0.0, {"a": car(0, power=0)}, battery=0, battery_soc=60, pv=0), 0)
    assert d.surplus_w == 2000
    # Curtailed: 2 kW produced (all to the house), 7 kW possible.
    m = manager()
    assert m.update(site(0, 0.0, pv=2000, pv_available=7000), 0).surplus_w == 5000
