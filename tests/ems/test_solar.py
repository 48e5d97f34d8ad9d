"""Surplus tracking: thresholds, delays, hysteresis, ramp, write limiting, 1p/3p switching."""

from __future__ import annotations

from dataclasses import replace

import pytest

from custom_components.ocpp_ems.core.ems import (
    ChargerCommand,
    ChargerInputs,
    ChargerSettings,
    Decision,
    EnergyManager,
    Mode,
    PlanTarget,
    PriceSlot,
    Reason,
    SiteSettings,
    SolarSettings,
)
from custom_components.ocpp_ems.core.ems.charger_work import ChargerMemory, ChargerWork
from custom_components.ocpp_ems.core.ems.measure import prepare

from .util import Loop, car, site

V = 230.0
MIN_3P = 6 * V * 3  # 4140 W
START_3P = 0.9 * MIN_3P  # a 3p car starts on 90 % of its minimum (the default least sun share)
MIN_1P = 6 * V  # 1380 W


def manager(solar: SolarSettings | None = None, **charger: object) -> EnergyManager:
    settings = SiteSettings(solar=solar or SolarSettings(regulation_margin_w=0.0))
    options: dict[str, object] = {"mode": Mode.SOLAR, **charger}
    return EnergyManager(settings, {"a": ChargerSettings(**options)})  # type: ignore[arg-type]


def switchable_beside_three_phase(settings: SiteSettings) -> EnergyManager:
    """Two solar chargers: "a" can switch between 1 and 3 phases, "b" charges on 3 only."""
    return EnergyManager(
        settings,
        {
            "a": ChargerSettings(mode=Mode.SOLAR, can_switch_phases=True),
            "b": ChargerSettings(mode=Mode.SOLAR),
        },
    )


def test_first_start_after_plug_in_skips_the_enable_delay() -> None:
    m = manager()
    d = m.update(site(0, -MIN_3P - 100), 0)
    assert d.chargers["a"].write == ChargerCommand(6.1, 3)
    assert d.chargers["a"].reason is Reason.SOLAR


def test_enable_threshold_edge_and_delay() -> None:
    solar = SolarSettings(regulation_margin_w=0.0, first_start_skips_delay=False, enable_delay_s=60)
    m = manager(solar)
    # Just below 90 % of the 3p minimum (the default least sun share): never starts, however long.
    d = m.update(site(0, -(START_3P - 1)), 0)
    assert d.chargers["a"].target.paused
    assert d.chargers["a"].reason is Reason.WAITING_FOR_SURPLUS
    assert d.next_update_at is None
    # Exactly at it: the timer runs and fires after 60 s, not before.
    d = m.update(site(10, -START_3P), 10)
    assert d.chargers["a"].target.paused
    assert d.next_update_at == 70
    assert m.update(site(69, -START_3P), 69).chargers["a"].target.paused
    d = m.update(site(70, -START_3P), 70)
    assert d.chargers["a"].write == ChargerCommand(6.0, 3)


@pytest.mark.parametrize("share", [1.0, 0.75])
def test_the_least_sun_share_sets_where_a_car_starts_and_what_counts_as_a_dip(
    share: float,
) -> None:
    """A car starts on ``share`` of its minimum and holds the minimum with the rest from the grid
    as though the sun covered it; beyond that rest a dip counts (and a stop delay runs)."""
    m = manager(SolarSettings(regulation_margin_w=0.0, min_sun_share=share))
    start_w = MIN_3P * share
    loop = Loop(m, lambda t: start_w - (1.0 if t < 10 else 0.0 if t < 3600 else 10.0), house=0.0)
    assert loop.run(0, 9).chargers["a"].target.paused
    # An hour at the start threshold, the grid giving the rest: no dip, no stop.
    d = loop.run(10, 3599).chargers["a"]
    assert loop.commands["a"] == ChargerCommand(6.0, 3)
    assert (d.reason, d.until) == (Reason.SOLAR, None)
    # 10 W less sun: a dip (held for the stop delay: too shallow for a restart to be cheaper).
    d = loop.run(3600, 3600).chargers["a"]
    assert (d.reason, d.until) == (Reason.STOPPING, 3600 + 180)
    assert loop.run(3601, 3780).chargers["a"].target.paused


def test_a_break_resets_the_enable_timer() -> None:
    solar = SolarSettings(regulation_margin_w=0.0, first_start_skips_delay=False)
    m = manager(solar)
    m.update(site(0, -5000), 0)
    m.update(site(50, -100), 50)  # a cloud
    assert m.update(site(70, -5000), 70).chargers["a"].target.paused
    assert m.update(site(129, -5000), 129).chargers["a"].target.paused
    assert not m.update(site(130, -5000), 130).chargers["a"].target.paused


def test_enable_margin_raises_the_start_threshold() -> None:
    m = manager(SolarSettings(regulation_margin_w=0.0, enable_margin_w=500))
    assert m.update(site(0, -(START_3P + 499)), 0).chargers["a"].target.paused
    assert not m.update(site(1, -(START_3P + 500)), 1).chargers["a"].target.paused


def test_disable_after_delay_and_hysteresis_between_thresholds() -> None:
    m = manager(SolarSettings(regulation_margin_w=0.0, disable_delay_s=180))
    loop = Loop(m, lambda t: 6000.0 if t < 100 else 3600.0, house=0.0)
    d = loop.run(0, 99)
    assert d.chargers["a"].target == ChargerCommand(8.6, 3)
    # 3600 W < 90 % of the 4140 W minimum: held at 6 A (importing 540 W) for 180 s, then paused.
    d = loop.run(100, 279)
    assert loop.commands["a"] == ChargerCommand(6.0, 3)
    # Held at the minimum while the stop delay runs, which says when it ends.
    assert d.chargers["a"].reason is Reason.STOPPING
    assert d.chargers["a"].until == 280
    d = loop.run(280, 280)
    assert d.chargers["a"].target.paused
    assert loop.commands["a"] == ChargerCommand.pause(3)
    # Paused at 3600 W: below the start threshold, so it stays off (hysteresis band).
    d = loop.run(281, 600)
    assert d.chargers["a"].target.paused


@pytest.mark.parametrize("factor", [1.0, 0.0])
def test_a_deep_dip_stops_once_a_restart_is_cheaper(factor: float) -> None:
    """Holding 6 A through a deep dip buys grid energy: once it exceeds what a stop and restart
    lose (the 60 s start delay and the 30 s start response at the minimum: 4140 W x 90 s =
    103.5 Wh), the car stops; factor 0 leaves it to the 180 s stop delay."""
    solar = SolarSettings(regulation_margin_w=0.0, restart_cost_factor=factor)
    m = manager(solar)
    loop = Loop(m, lambda t: 6000.0 if t < 100 else 1000.0, house=0.0)
    loop.run(0, 99)
    stopped_at = next(t for t in range(100, 400) if loop.run(t, t).chargers["a"].target.paused)
    if factor == 0.0:
        assert stopped_at == 280
        return
    # The import while held: the car's 4140 W minimum less 1000 W PV (the first second or two
    # it still draws its 8.7 A): 103.5 Wh / 3140 W = 119 s.
    assert 212 <= stopped_at <= 222
    assert stopped_at < 280


def test_a_new_run_starts_without_the_last_runs_dip() -> None:
    """Turned Off in the middle of a deep dip and back to Solar: a dip right after the new start
    counts from zero (held until its own grid energy reaches a restart's), not from what the
    last run had counted (which stopped it one second after the start)."""
    m = manager(SolarSettings(regulation_margin_w=0.0))
    pv = {"now": 6000.0}
    loop = Loop(m, lambda t: pv["now"], house=0.0)
    loop.run(0, 99)
    pv["now"] = 1000.0
    loop.run(100, 190)  # 90 s of the dip: ~80 Wh of the 103.5 Wh a restart costs
    m.set_mode("a", Mode.OFF)
    loop.run(191, 200)
    m.set_mode("a", Mode.SOLAR)
    pv["now"] = 6000.0
    started_at = next(t for t in range(201, 400) if not loop.run(t, t).chargers["a"].target.paused)
    pv["now"] = 1000.0  # the sun goes at once
    stopped_at = next(
        t for t in range(started_at + 1, 800) if loop.run(t, t).chargers["a"].target.paused
    )
    assert stopped_at - started_at > 100
    assert stopped_at - started_at < SolarSettings().disable_delay_s


def test_a_shallow_dip_is_held_for_the_stop_delay() -> None:
    """140 W short of the 90 % for 180 s is 28 Wh of grid (with the 10 % the car may take from it),
    below a restart's 103.5 Wh: the dip is bridged."""
    m = manager(SolarSettings(regulation_margin_w=0.0))
    loop = Loop(m, lambda t: 6000.0 if t < 100 else START_3P - 140, house=0.0)
    loop.run(0, 99)
    stopped_at = next(t for t in range(100, 400) if loop.run(t, t).chargers["a"].target.paused)
    assert stopped_at == 280


def test_disable_import_threshold_tolerates_small_import() -> None:
    m = manager(SolarSettings(regulation_margin_w=0.0, disable_import_w=200, disable_delay_s=10))
    loop = Loop(m, lambda t: 6000.0 if t < 10 else MIN_3P - 150, house=0.0)
    loop.run(0, 100)
    assert loop.commands["a"] == ChargerCommand(6.0, 3)


def test_a_break_resets_the_disable_timer() -> None:
    m = manager(SolarSettings(regulation_margin_w=0.0, disable_delay_s=180))
    pv = {True: 3600.0, False: 5000.0}
    loop = Loop(m, lambda t: pv[(t // 100) % 2 == 1], house=0.0)  # dips of 100 s
    loop.run(0, 1000)
    assert not loop.commands["a"].paused  # type: ignore[union-attr]


def test_ramp_limit_on_raises_and_immediate_decrease() -> None:
    m = manager(SolarSettings(regulation_margin_w=0.0, ramp_up_a=2.0), min_write_interval_s=10)
    loop = Loop(m, lambda t: 5000.0 if t < 20 else (11000.0 if t < 100 else 4500.0), house=0.0)
    loop.run(0, 19)
    assert loop.commands["a"] == ChargerCommand(7.2, 3)
    loop.run(20, 20)
    assert loop.commands["a"] == ChargerCommand(9.2, 3)  # +2 A at most
    loop.run(21, 29)
    assert loop.commands["a"] == ChargerCommand(9.2, 3)  # write interval
    loop.run(30, 30)
    assert loop.commands["a"] == ChargerCommand(11.2, 3)
    loop.run(31, 99)
    assert loop.commands["a"] == ChargerCommand(15.9, 3)
    loop.run(100, 100)  # a drop is written at once, whatever the interval
    assert loop.commands["a"] == ChargerCommand(6.5, 3)


def test_write_limiter_only_on_change_and_deadband() -> None:
    m = manager(SolarSettings(), min_write_interval_s=10)
    loop = Loop(m, lambda t: 6003.0, house=0.0)  # 8.7 A on 3 phases
    loop.run(0, 300)
    assert loop.writes == 1  # steady surplus: written once
    # A raise of a whole deadband (1 A) is written at once.
    loop.pv = lambda t: 6003.0 + 1.0 * 3 * V
    loop.run(301, 301)
    assert loop.writes == 2
    assert loop.commands["a"] == ChargerCommand(9.7, 3)
    # A small raise (0.2 A = 138 W unused) waits until its unused energy reaches 1 Wh (26 s).
    loop.pv = lambda t: 6003.0 + 1.2 * 3 * V
    d = loop.run(302, 320)
    assert loop.writes == 2
    assert d.next_update_at == pytest.approx(328.1, abs=0.1)
    loop.run(321, 329)
    assert loop.writes == 3
    assert loop.commands["a"] == ChargerCommand(9.9, 3)


def test_a_drop_is_written_at_half_the_deadband_of_a_raise() -> None:
    # Import costs more than unused PV: a 0.5 A drop goes out at once, a 0.5 A raise waits for
    # its unused energy (1 Wh: 10 s at 345 W).
    m = manager(min_write_interval_s=10)
    m.update(site(0, -6003), 0)  # 8.7 A
    d = m.update(site(20, 0.5 * 3 * V, {"a": car(20, power=8.7 * 3 * V)}), 20)
    assert d.chargers["a"].write == ChargerCommand(8.2, 3)
    d = m.update(site(40, -0.5 * 3 * V, {"a": car(40, power=8.2 * 3 * V)}), 40)
    assert d.chargers["a"].target == ChargerCommand(8.7, 3)
    assert d.chargers["a"].write is None
    d = m.update(site(51, -0.5 * 3 * V, {"a": car(51, power=8.2 * 3 * V)}), 51)
    assert d.chargers["a"].write == ChargerCommand(8.7, 3)


def test_noise_around_the_limit_is_never_written() -> None:
    m = manager(SolarSettings(), min_write_interval_s=10)
    loop = Loop(m, lambda t: 6000.0 + (0.15 if int(t) % 2 else -0.15) * 3 * V, house=0.0)
    loop.run(0, 600)
    # +-0.15 A every second: the signed error cancels out (one correction for the rounding of
    # the first write at most, instead of a write every 10 s).
    assert loop.writes <= 2


def test_small_drop_waits_for_its_import_energy() -> None:
    m = manager(min_write_interval_s=10)
    m.update(site(0, -6003), 0)  # 8.7 A
    # The car follows the 8.7 A written; the grid shows 0.1 A of import: 8.6 A would do.
    d = m.update(site(5, 0.1 * 3 * V, {"a": car(5, power=8.7 * 3 * V)}), 5)
    assert d.chargers["a"].target == ChargerCommand(8.6, 3)
    assert d.chargers["a"].write is None
    # 0.1 A too much on 3 phases = 69 W of import: 1 Wh after 52 s.
    assert d.next_update_at == pytest.approx(5 + 3600 / 69, abs=0.1)
    d = m.update(site(30, 0.1 * 3 * V, {"a": car(30, power=8.7 * 3 * V)}), 30)
    assert d.chargers["a"].write is None
    d = m.update(site(58, 0.1 * 3 * V, {"a": car(58, power=8.7 * 3 * V)}), 58)
    assert d.chargers["a"].write == ChargerCommand(8.6, 3)


def test_big_drop_is_written_at_once_small_changes_at_the_latest_after_the_age_cap() -> None:
    solar = SolarSettings(raise_error_wh=1e9, drop_error_wh=1e9, small_raise_after_s=120)
    m = manager(solar, min_write_interval_s=10)
    m.update(site(0, -6003), 0)  # 8.7 A
    d = m.update(site(3, 1.0 * 3 * V, {"a": car(3, power=8.7 * 3 * V)}), 3)
    assert d.chargers["a"].write == ChargerCommand(7.7, 3)  # 1 A of import: at once
    d = m.update(site(50, 0.3 * 3 * V, {"a": car(50, power=7.7 * 3 * V)}), 50)
    assert d.chargers["a"].write is None
    assert d.next_update_at == 123  # the age cap
    d = m.update(site(123, 0.3 * 3 * V, {"a": car(123, power=7.7 * 3 * V)}), 123)
    assert d.chargers["a"].write == ChargerCommand(7.4, 3)


@pytest.mark.parametrize(("step_a", "amps"), [(1.0, 8.0), (0.1, 8.6)])
def test_limits_round_down_to_the_chargers_step(step_a: float, amps: float) -> None:
    """6000 W on 3 phases is 8.696 A: rounding up would buy grid energy to use the surplus."""
    m = manager(current_step_a=step_a)
    assert m.update(site(0, -6000), 0).chargers["a"].write == ChargerCommand(amps, 3)


def test_regulation_margin_is_kept_free() -> None:
    m = EnergyManager(
        SiteSettings(solar=SolarSettings(regulation_margin_w=230 * 3)),
        {"a": ChargerSettings(mode=Mode.SOLAR)},
    )
    assert m.update(site(0, -(MIN_3P + 3 * V * 2)), 0).chargers["a"].target == ChargerCommand(
        7.0, 3
    )


class TestPhaseSwitching:
    solar = SolarSettings(regulation_margin_w=0.0, phase_up_delay_s=60, phase_down_delay_s=120)

    def test_start_phases_follow_the_surplus(self) -> None:
        m = manager(self.solar, can_switch_phases=True)
        assert m.update(site(0, -2000), 0).chargers["a"].write == ChargerCommand(8.6, 1)
        m2 = manager(self.solar, can_switch_phases=True)
        assert m2.update(site(0, -6000), 0).chargers["a"].write == ChargerCommand(8.6, 3)

    def test_up_after_delay_down_after_delay_and_settle(self) -> None:
        m = manager(self.solar, can_switch_phases=True)
        level = {"pv": 2000.0}
        loop = Loop(m, lambda t: level["pv"], house=0.0)
        loop.run(0, 10)
        assert loop.commands["a"] == ChargerCommand(8.6, 1)
        level["pv"] = 6000.0
        loop.run(11, 70)
        assert loop.phases("a") == 1
        d = loop.run(71, 71)
        assert d.chargers["a"].reason is Reason.PHASE_SWITCH
        assert loop.commands["a"] == ChargerCommand(8.6, 3)
        level["pv"] = 3000.0  # below the 3p minimum: held at 6 A 3p, then down after 120 s
        loop.run(72, 191)
        assert loop.commands["a"] == ChargerCommand(6.0, 3)
        loop.run(192, 192)
        assert loop.commands["a"] == ChargerCommand(13.0, 1)

    @pytest.mark.parametrize(("pv_w", "phases"), [(4000.0, 3), (3850.0, 1)])
    def test_down_where_the_import_at_the_3p_minimum_costs_more(
        self, pv_w: float, phases: int
    ) -> None:
        """Between the 1p maximum (16 A: 3680 W) and the 3p minimum (4140 W) a 3p car at 6 A
        imports what the sun lacks and a 1p car at 16 A leaves PV unused; halfway (3910 W) both
        lose the same. Above it the car stays on 3p (140 W import against 320 W of PV unused);
        below it it goes down (290 W import against 170 W unused)."""
        m = manager(self.solar, can_switch_phases=True)
        level = {"pv": 6000.0}
        loop = Loop(m, lambda t: level["pv"], house=0.0)
        loop.run(0, 100)
        assert loop.phases("a") == 3
        level["pv"] = pv_w
        loop.run(101, 101 + 120 + 60)
        assert loop.phases("a") == phases

    def test_settle_time_blocks_a_quick_switch_back(self) -> None:
        solar = SolarSettings(
            regulation_margin_w=0.0, phase_up_delay_s=1, phase_down_delay_s=1, phase_settle_s=60
        )
        m = manager(solar, can_switch_phases=True)
        level = {"pv": 2000.0}
        loop = Loop(m, lambda t: level["pv"], house=0.0)
        loop.run(0, 2)
        assert loop.phases("a") == 1
        level["pv"] = 6000.0
        loop.run(3, 59)  # starting on 1p was a switch at t=0: it settles for 60 s first
        assert loop.phases("a") == 1
        loop.run(60, 60)
        assert loop.phases("a") == 3
        level["pv"] = 2000.0
        loop.run(61, 119)  # down is due after 1 s, but the switch at t=60 settles first
        assert loop.phases("a") == 3
        d = loop.run(120, 120)
        assert loop.phases("a") == 1
        assert d.chargers["a"].target.phases == 1

    def test_own_thresholds(self) -> None:
        solar = SolarSettings(regulation_margin_w=0.0, phase_up_w=7000, phase_up_delay_s=0)
        m = manager(solar, can_switch_phases=True, max_current_a=32)
        loop = Loop(m, lambda t: 6500.0, house=0.0)
        loop.run(0, 100)
        assert loop.commands["a"] == ChargerCommand(28.2, 1)

    def test_three_phase_only_never_switches(self) -> None:
        m = manager(self.solar)
        loop = Loop(m, lambda t: 3000.0 if t > 10 else 6000.0, house=0.0)
        loop.run(0, 150)
        assert loop.commands["a"] == ChargerCommand(6.0, 3)

    def test_one_phase_site_never_switches(self) -> None:
        m = EnergyManager(
            SiteSettings(site_phases=1, solar=self.solar),
            {"a": ChargerSettings(mode=Mode.SOLAR, phases=1, can_switch_phases=True)},
        )
        loop = Loop(m, lambda t: 9000.0, house=0.0)
        loop.run(0, 200)
        assert loop.commands["a"] == ChargerCommand(16.0, 1)


def test_single_phase_car_on_three_phase_charger() -> None:
    m = manager()
    d = m.update(site(0, -1380 - 460, {"a": car(0, power=0.0, phases_in_use=1)}), 0)
    assert d.chargers["a"].write == ChargerCommand(8.0, 3)
    # Measured currents tell the same when no phase count is given, once the car followed the
    # start (before, the meter may still show the phases from before a start or a switch).
    d = m.update(site(20, -460, {"a": car(20, power=1840, currents=(8.0, 0.0, 0.0))}), 20)
    assert d.chargers["a"].write == ChargerCommand(10.0, 3)


def _phases(memory: ChargerMemory, ci: ChargerInputs, now: float, **charger: object) -> ChargerWork:
    """One update's measurement of ``ci`` (the work: its ``vehicle_phases``)."""
    cfg = ChargerSettings(**charger)  # type: ignore[arg-type]
    return prepare("a", cfg, memory, ci, SiteSettings(), now)


def test_a_one_phase_car_counts_on_its_phases_while_paused() -> None:
    """The phases a car was seen drawing on in its session (fewer than offered) count while it
    draws nothing, until it is seen on more or another car is plugged in."""
    memory = ChargerMemory(phases=3, was_plugged=True)
    assert _phases(memory, car(0, power=0.0), 0).vehicle_phases == 3  # nothing seen yet
    assert _phases(memory, car(10, power=2000, currents=(8.7, 0.0, 0.0)), 10).vehicle_phases == 1
    assert memory.car_phases == 1
    assert _phases(memory, car(20, power=0.0, currents=(0.0, 0.0, 0.0)), 20).vehicle_phases == 1
    assert _phases(memory, car(30, power=0.0), 30).vehicle_phases == 1  # no meter
    # Right after a start the meter may show the phases from before: they teach nothing.
    memory.started_at = 35
    assert _phases(memory, car(40, power=6000, currents=(8.7, 8.7, 8.7)), 40).vehicle_phases == 1
    assert memory.car_phases == 1
    # Seen on 2 of 3 phases: a 2p car.
    assert _phases(memory, car(90, power=3680, currents=(8.0, 8.0, 0.0)), 90).vehicle_phases == 2
    assert _phases(memory, car(100, power=0.0), 100).vehicle_phases == 2
    # Seen on every phase: it takes what the charger offers.
    assert _phases(memory, car(110, power=6000, currents=(8.7, 8.7, 8.7)), 110).vehicle_phases == 3
    assert memory.car_phases is None
    assert _phases(memory, car(120, power=0.0), 120).vehicle_phases == 3
    # Another car: what the last one drew on no longer holds.
    _phases(memory, car(130, power=2000, phases_in_use=1), 130)
    assert memory.car_phases == 1
    _phases(memory, car(140, plugged=False, power=0.0), 140)
    assert _phases(memory, car(150, power=0.0), 150).vehicle_phases == 3
    assert memory.car_phases is None


def test_a_car_on_a_charger_switched_to_one_phase_is_not_a_one_phase_car() -> None:
    """A 3p car draws on one phase because the charger was switched to 1p, not because of
    itself: once switched back and paused it counts on 3 phases; a 1p car stays one."""
    switchable = {"can_switch_phases": True}
    memory = ChargerMemory(phases=1, was_plugged=True)
    work = _phases(memory, car(0, power=2000, currents=(8.7, 0.0, 0.0)), 0, **switchable)
    assert (work.vehicle_phases, memory.car_phases) == (1, None)
    # On 1p a switch up could give it the 3p maximum.
    assert work.max_power(after_switch_up=True) == 16 * V * 3
    memory.phases, memory.last_switch_at = 3, 10
    assert _phases(memory, car(100, power=0.0), 100, **switchable).vehicle_phases == 3
    # Past the settle time, a sample taken as it switched (on 1p) tells nothing of the car ...
    work = _phases(memory, car(10, power=2000, currents=(8.7, 0.0, 0.0)), 110, **switchable)
    assert (work.vehicle_phases, memory.car_phases) == (1, None)
    # ... nor does a phase count read as it switches (the switch itself, with the old one).
    memory.response.followed_at = 10  # the write before the switch was followed
    memory.last_switch_at = 115
    assert (
        _phases(memory, car(115, power=2000, phases_in_use=1), 115, **switchable).vehicle_phases
        == 1
    )
    assert memory.car_phases is None
    # A 1p car seen on 3p, paused and switched to 1p: a switch up gains it nothing.
    _phases(memory, car(120, power=2000, currents=(8.7, 0.0, 0.0)), 120, **switchable)
    assert memory.car_phases == 1
    memory.phases, memory.last_switch_at = 1, 130
    work = _phases(memory, car(200, power=0.0), 200, **switchable)
    assert work.vehicle_phases == 1
    assert work.max_power(after_switch_up=True) == 16 * V
    # On 1p a 2p car draws on one phase: it is still a 2p car ...
    memory.car_phases = 2
    _phases(memory, car(210, power=2000, currents=(8.7, 0.0, 0.0)), 210, **switchable)
    assert memory.car_phases == 2
    # ... unless it shows drawing on more phases than that.
    work = _phases(memory, car(220, power=6000, currents=(8.7, 8.7, 8.7)), 220, **switchable)
    assert (work.vehicle_phases, memory.car_phases) == (1, None)


class _OnePhaseLoop:
    """A 1p car (16 A) on a 3p charger: it draws on one phase what was last written and meters
    its session energy."""

    def __init__(self, m: EnergyManager, prices: tuple[PriceSlot, ...]) -> None:
        self.m, self.prices = m, prices
        self.cmd: ChargerCommand | None = None
        self.energy_wh = 0.0

    def run(self, t0: float, t1: float, dt: float = 30.0) -> None:
        for t in range(int(t0), int(t1), int(dt)):
            amps = 0.0 if self.cmd is None or self.cmd.paused else min(self.cmd.current_a, 16.0)
            ci = car(t, power=amps * V, currents=(amps, 0.0, 0.0), energy=self.energy_wh)
            sample = site(t, 300.0 + amps * V, {"a": ci})
            d = self.m.update(replace(sample, prices=self.prices), t)
            if (write := d.chargers["a"].write) is not None:
                self.cmd = write
            self.energy_wh += amps * V * dt / 3600


@pytest.mark.parametrize("switchable", [False, True])
def test_one_phase_car_seen_charging_is_planned_on_one_phase(switchable: bool) -> None:
    """A 1p car (3.68 kW) on a 3p charger: 10 kWh by 10:00, a cheap hour 02:00-03:00. In the
    cheap hour it draws on one phase; paused after it, it still counts as a 1p car (not the
    charger's 3 phases, 11 kW): the plan starts in time for the 2.7 h it still needs, not in the
    last 45 minutes (found in review: it reached 6.4 kWh). A 1p/3p charger too: a switch up
    gives a 1p car nothing."""
    h = 3600
    prices = tuple(PriceSlot(i * h, (i + 1) * h, 0.10 if i == 2 else 0.30) for i in range(12))
    m = EnergyManager(SiteSettings(), {"a": ChargerSettings(can_switch_phases=switchable)})
    m.set_plan("a", PlanTarget(departure=10 * h, energy_wh=10000))
    loop = _OnePhaseLoop(m, prices)
    loop.run(0, 10 * h)
    assert loop.energy_wh >= 10000 - 1


def test_second_car_waits_while_the_first_can_take_the_surplus() -> None:
    m = EnergyManager(
        SiteSettings(),
        {"a": ChargerSettings(mode=Mode.SOLAR), "b": ChargerSettings(mode=Mode.SOLAR)},
    )
    loop = Loop(m, lambda t: 10000.0, house=0.0, chargers=("a", "b"))
    loop.run(0, 300)
    assert loop.commands["a"] == ChargerCommand(14.4, 3)  # takes it all: b stays paused
    assert loop.commands["b"] == ChargerCommand.pause(3)
    # More than a can take at its maximum, and the rest covers b's minimum: b starts.
    loop.pv = lambda t: 11040.0 + 4200.0
    loop.run(301, 400)
    assert loop.commands["b"] is not None
    assert not loop.commands["b"].paused
    d = loop.run(401, 700)
    a, b = loop.commands["a"], loop.commands["b"]
    assert a is not None
    assert b is not None
    assert a.current_a == pytest.approx(b.current_a, abs=0.1)  # then equal shares
    assert d.chargers["a"].reason is Reason.SOLAR


def test_two_solar_chargers_share_equally_and_start_one_at_a_time() -> None:
    settings = SiteSettings(solar=SolarSettings(regulation_margin_w=0.0, stagger_starts=False))
    m = EnergyManager(
        settings,
        {"a": ChargerSettings(mode=Mode.SOLAR), "b": ChargerSettings(mode=Mode.SOLAR)},
    )
    loop = Loop(m, lambda t: 10000.0, house=0.0, chargers=("a", "b"))
    d = loop.run(0, 0)
    assert d.chargers["a"].write == ChargerCommand(14.4, 3)
    assert d.chargers["b"].target.paused
    loop.run(1, 300)
    assert loop.commands["a"] == loop.commands["b"] == ChargerCommand(7.2, 3)


@pytest.mark.parametrize("share", [False, True])
def test_a_three_phase_car_beside_a_switchable_one(share: bool) -> None:
    """A 1p/3p car ("a") charges on 3 phases; a 3-phase-only car ("b") waits. With 8 kW of sun,
    staggered, "a" takes it all until the surplus has carried "b" for an hour; then "a" hands
    over to "b" (``test_a_car_that_needs_more_sun_takes_over_after_an_hour``). Side by side, "b"
    starts once the surplus covers its minimum, "a"'s 1-phase minimum and a 1-phase minimum to
    spare: "a" switches to 1 phase at once (not after its 1p/3p delay, importing two 3-phase
    minimums meanwhile) and both share the surplus equally."""
    settings = SiteSettings(solar=SolarSettings(regulation_margin_w=0.0, stagger_starts=not share))
    m = switchable_beside_three_phase(settings)
    sun = {"w": 6000.0}
    loop = Loop(m, lambda t: sun["w"], house=0.0, chargers=("a", "b"))
    loop.run(0, 300)
    # 6 kW: not enough for "b" beside "a" either way (4140 + 1380 + 1380 W).
    assert loop.commands["a"] == ChargerCommand(8.6, 3)  # 6000 W / 690 W/A, rounded down
    assert loop.commands["b"] == ChargerCommand.pause(3)
    sun["w"] = 8000.0
    d = loop.run(301, 301)
    if not share:
        d = loop.run(302, 900)
        assert loop.commands["a"] == ChargerCommand(11.5, 3)
        assert loop.commands["b"] == ChargerCommand.pause(3)
        # 8 kW would start "b" alone: it takes "a"'s place an hour after 6 kW first carried it.
        assert (d.chargers["b"].reason, d.chargers["b"].until) == (Reason.STARTING, 3601)
        return
    assert d.chargers["a"].reason is Reason.PHASE_SWITCH
    a, b = loop.commands["a"], loop.commands["b"]
    assert a is not None
    assert a.phases == 1
    assert b is not None
    assert not b.paused
    assert b.phases == 3
    grid = []
    for t in range(302, 900):
        d = loop.step(t)
        grid.append(loop.draw("a") + loop.draw("b") - sun["w"])
    assert max(grid) <= 0.0  # never two 3-phase minimums on 8 kW
    # Each gets its minimum and half of the rest: (8000 - 1380 - 4140) / 2 = 1240 W.
    assert loop.commands["a"] == ChargerCommand(11.3, 1)  # 2620 W
    assert loop.commands["b"] == ChargerCommand(7.7, 3)  # 5380 W
    assert d.chargers["a"].reason is d.chargers["b"].reason is Reason.SOLAR


class _MeteredLoop(Loop):
    """The toy loop with the session energy each charger's meter counts (what it drew)."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.energy = dict.fromkeys(self.commands, 0.0)
        self.last_t: float | None = None

    def step(self, t: float) -> Decision:
        ev = {cid: self.draw(cid) for cid in self.commands}
        if self.last_t is not None:
            for cid, power in ev.items():
                self.energy[cid] += power * (t - self.last_t) / 3600.0
        self.last_t = t
        grid = self.house + sum(ev.values()) - self.pv(t)  # type: ignore[operator]
        chargers = {cid: car(t, power=p, energy=self.energy[cid]) for cid, p in ev.items()}
        decision = self.manager.update(site(t, grid, chargers), t)
        for cid, dec in decision.chargers.items():
            if dec.write is not None:
                self.commands[cid] = dec.write
        return decision


def test_side_by_side_cars_take_turns_when_the_sun_carries_one() -> None:
    """5 kW of sun carries one car, not a 3-phase one beside a 1p/3p one (4140 + 1380 W and a
    1380 W spare): side by side, the car that has charged 5 kWh more in its session gives way,
    so neither waits all day; staggered without the hand-over to the car that needs more sun
    (its own test), the first car keeps it."""
    for share in (True, False):
        settings = SiteSettings(
            solar=SolarSettings(
                regulation_margin_w=0.0, stagger_starts=not share, handover_after_s=None
            )
        )
        m = switchable_beside_three_phase(settings)
        loop = _MeteredLoop(m, lambda t: 5000.0, house=0.0, chargers=("a", "b"))
        both = 0
        gap_at_a_again = None  # "b"'s lead when "a" takes over again
        for t in range(0, 11_700, 5):
            a_was_on = loop.draw("a") > 0
            d = loop.step(t)
            both += loop.draw("a") > 0 and loop.draw("b") > 0
            if t > 3800 and not a_was_on and loop.draw("a") > 0:
                gap_at_a_again = loop.energy["b"] - loop.energy["a"]
            if t == 3500:  # "a" first (first in line), not yet 5 kWh ahead
                assert loop.draw("a") > 0
                assert loop.commands["b"] == ChargerCommand.pause(3)
                assert d.chargers["b"].reason is Reason.OTHER_CAR
            if t == 3800 and share:  # "a" 5 kWh ahead: "b"'s turn (its first start: at once)
                assert loop.commands["a"] == ChargerCommand.pause(3)
                assert loop.draw("b") > 0
        assert both == 0  # never both on 5 kW
        if share:
            # "b" 5 kWh ahead of "a" (at about 10 kWh): "a"'s turn again, after its start delay.
            assert loop.draw("a") > 0
            assert loop.commands["b"] == ChargerCommand.pause(3)
            assert gap_at_a_again == pytest.approx(5000.0, abs=300.0)
        else:
            assert loop.energy["b"] == 0.0


@pytest.mark.parametrize("handover_after_s", [3600.0, None])
def test_a_car_that_needs_more_sun_takes_over_after_an_hour(
    handover_after_s: float | None,
) -> None:
    """One after another, a 1p/3p car ("a") has the sun; a 3-phase-only car ("b") waits. Once
    the surplus has carried "b" for an hour without a break, "a" hands over in one update (no
    import, no gap): "a" keeps its room for the evening's sun below "b"'s 3-phase minimum,
    which only "a" can take, on 1 phase. It never takes the sun back while "b" can run (it can
    charge on less, so the rule does not apply the other way); in the evening "b" stops and "a"
    starts again. None: "a" keeps the sun, as before."""
    settings = SiteSettings(
        solar=SolarSettings(regulation_margin_w=0.0, handover_after_s=handover_after_s)
    )
    m = switchable_beside_three_phase(settings)
    sun = {"w": 3000.0}
    loop = Loop(m, lambda t: sun["w"], house=0.0, chargers=("a", "b"))
    loop.run(0, 600)
    assert loop.draw("a") > 0  # 3 kW: only "a" can take it (on 1 phase)
    assert loop.commands["b"] == ChargerCommand.pause(3)
    # 6 kW, with a 10-minute cloud of 3 kW: the cloud starts the hour again.
    sun["w"] = 6000.0
    loop.run(601, 1800)
    sun["w"] = 3000.0
    loop.run(1801, 2400)
    sun["w"] = 6000.0
    d = loop.run(2401, 2401 + 3599)
    assert loop.commands["b"] == ChargerCommand.pause(3)
    if handover_after_s is None:
        loop.run(6001, 20000)
        assert loop.commands["b"] == ChargerCommand.pause(3)
        assert loop.draw("a") == pytest.approx(6000.0, abs=690.0)
        return
    assert (d.chargers["b"].reason, d.chargers["b"].until) == (Reason.STARTING, 2401 + 3600)
    grid = []
    for t in range(6001, 20000):
        d = loop.step(t)
        grid.append(loop.draw("a") + loop.draw("b") - sun["w"])
        both = loop.draw("a") > 0 and loop.draw("b") > 0
        assert not both
    assert max(grid) <= 0.0
    assert loop.commands["a"] == ChargerCommand.pause(3)
    assert loop.commands["b"] == ChargerCommand(8.6, 3)
    assert d.chargers["a"].reason is Reason.OTHER_CAR
    # Evening: 2 kW, below "b"'s minimum: "b" stops after its stop delay, "a" takes it on 1 phase.
    sun["w"] = 2000.0
    loop.run(20001, 21000)
    assert loop.commands["b"] == ChargerCommand.pause(3)
    a = loop.commands["a"]
    assert a is not None
    assert (a.paused, a.phases) == (False, 1)


@pytest.mark.parametrize(("evening_w", "hands_back"), [(3800.0, True), (4000.0, False)])
def test_a_car_the_sun_no_longer_carries_hands_back(evening_w: float, hands_back: bool) -> None:
    """After the hand-over, the evening's sun falls below the 3-phase car's ("b") minimum but
    stays above the share it may take from the grid (3726 W), so no dip stops it. At 3800 W it
    imports 340 W where the 1p/3p car ("a") would take 3680 W on 1 phase from the sun alone,
    leaving 120 W unused: "a" takes its place once that has lasted the stop delay, in one update.
    At 4000 W "b" imports 140 W and "a" would leave 320 W unused: "b" keeps the sun."""
    m = switchable_beside_three_phase(SiteSettings(solar=SolarSettings(regulation_margin_w=0.0)))
    sun = {"w": 6000.0}
    loop = Loop(m, lambda t: sun["w"], house=0.0, chargers=("a", "b"))
    loop.run(0, 3700)
    assert loop.commands["a"] == ChargerCommand.pause(3)
    assert loop.draw("b") > 0
    sun["w"] = evening_w
    d = loop.run(3701, 3701 + 170)
    assert loop.draw("b") == MIN_3P
    if hands_back:
        assert (d.chargers["a"].reason, d.chargers["a"].until) == (Reason.STARTING, 3701 + 180)
    d = loop.run(3701 + 171, 3701 + 181)
    if not hands_back:
        d = loop.run(3701 + 182, 20000)
        assert loop.draw("b") == MIN_3P
        assert loop.commands["a"] == ChargerCommand.pause(3)
        assert d.chargers["a"].reason is Reason.OTHER_CAR
        return
    assert loop.commands["b"] == ChargerCommand.pause(3)
    assert loop.commands["a"] == ChargerCommand(16.0, 1)
    assert d.chargers["b"].reason is Reason.OTHER_CAR
    # It stays: no hand-over back to "b" on a surplus that "a" would take straight back.
    loop.run(3701 + 182, 20000)
    assert loop.commands["b"] == ChargerCommand.pause(3)
    assert loop.draw("a") == 16.0 * V


def test_no_hand_over_where_a_min_solar_car_takes_the_surplus_first() -> None:
    """A Min + solar car ("m", 6-7 A) counts at what it can take, as for any start one after
    another: of 8140 W, its minimum (4140 W) and the 690 W it could take beyond leave 3310 W in
    the 1p/3p car's ("a") place, less than the 3-phase car ("b") starts on (3726 W), so "a"
    keeps its place however long the sun lasts."""
    m = EnergyManager(
        SiteSettings(solar=SolarSettings(regulation_margin_w=0.0)),
        {
            "m": ChargerSettings(mode=Mode.MIN_SOLAR, max_current_a=7.0),
            "a": ChargerSettings(mode=Mode.SOLAR, can_switch_phases=True),
            "b": ChargerSettings(mode=Mode.SOLAR),
        },
    )
    loop = Loop(m, lambda t: 8140.0, house=0.0, chargers=("m", "a", "b"))
    d = loop.run(0, 3 * 3600, step=5)
    assert loop.commands["b"] == ChargerCommand.pause(3)
    assert d.chargers["b"].reason is not Reason.STARTING
    assert loop.draw("a") > 0


@pytest.mark.parametrize(
    ("share", "sun_w", "a_amps", "b_amps"),
    [
        # One after another: "a" gives way while "b" can take all of the sun...
        (False, 10000.0, None, 14.4),
        (False, 8000.0, None, 11.5),
        # ... and keeps what "b" cannot take at its maximum (16000 - 11040 W).
        (False, 16000.0, 7.1, 16.0),
        # Side by side: "a" keeps its minimum beside "b", which gets the rest first...
        (True, 10000.0, 6.0, 8.4),
        # ... unless the two minimums (and a 1-phase spare) do not fit.
        (True, 8000.0, None, 11.5),
    ],
)
def test_a_car_of_higher_priority_takes_the_sun_from_a_lower_one(
    share: bool, sun_w: float, a_amps: float | None, b_amps: float
) -> None:
    """ "a" (priority 0) charges on the sun; "b" (priority 1) is switched to Solar later: it
    starts as though "a" were not there, and "a" stops in the same update where the surplus does
    not carry it beside "b" (no import meanwhile)."""
    settings = SiteSettings(solar=SolarSettings(regulation_margin_w=0.0, stagger_starts=not share))
    m = EnergyManager(
        settings,
        {"a": ChargerSettings(mode=Mode.SOLAR), "b": ChargerSettings(mode=Mode.OFF, priority=1)},
    )
    loop = Loop(m, lambda t: sun_w, house=0.0, chargers=("a", "b"))
    loop.run(0, 300)
    assert loop.draw("a") > 0
    m.set_mode("b", Mode.SOLAR)
    grid = []
    for t in range(301, 900):
        d = loop.step(t)
        grid.append(loop.draw("a") + loop.draw("b") - sun_w)
    assert max(grid) <= 0.0
    assert loop.commands["b"] == ChargerCommand(b_amps, 3)
    if a_amps is None:
        assert loop.commands["a"] == ChargerCommand.pause(3)
        assert d.chargers["a"].reason is Reason.OTHER_CAR
    else:
        assert loop.commands["a"] == ChargerCommand(a_amps, 3)


@pytest.mark.parametrize("mode", [Mode.MIN_SOLAR])
def test_min_solar_holds_minimum_without_surplus(mode: Mode) -> None:
    m = manager(mode=mode)
    d = m.update(site(0, 500), 0)
    assert d.chargers["a"].write == ChargerCommand(6.0, 3)
    assert d.chargers["a"].reason is Reason.MIN_CURRENT_HELD
    loop = Loop(m, lambda t: 6000.0, house=0.0)
    loop.commands["a"] = ChargerCommand(6.0, 3)
    d = loop.run(1, 100)
    assert loop.commands["a"] == ChargerCommand(8.6, 3)
    assert d.chargers["a"].reason is Reason.SOLAR


def test_a_car_that_fits_starts_when_the_first_in_line_does_not() -> None:
    settings = SiteSettings(solar=SolarSettings(regulation_margin_w=0.0))
    m = EnergyManager(
        settings,
        {
            "a": ChargerSettings(mode=Mode.SOLAR),  # 3p only: needs 4140 W
            "b": ChargerSettings(mode=Mode.SOLAR, can_switch_phases=True),  # 1p from 1380 W
        },
    )
    d = m.update(site(0, -2000, {"a": car(0), "b": car(0)}), 0)
    assert d.chargers["a"].target.paused
    assert d.chargers["b"].write == ChargerCommand(8.6, 1)


def test_a_full_fast_car_leaves_the_surplus_to_solar_cars() -> None:
    settings = SiteSettings(solar=SolarSettings(regulation_margin_w=0.0))
    m = EnergyManager(
        settings,
        {"fast": ChargerSettings(mode=Mode.FAST), "sol": ChargerSettings(mode=Mode.SOLAR)},
    )
    m.update(site(0, 0.0, {"fast": car(0), "sol": car(0)}), 0)
    # The fast car is full (draws nothing although offered 16 A): the export is for the solar car.
    full = {"fast": car(100, power=0.0), "sol": car(100)}
    d = m.update(site(100, -6000, full), 100)
    assert d.chargers["sol"].write == ChargerCommand(8.6, 3)


def test_prediction_learns_a_car_that_takes_less_than_offered() -> None:
    m = manager()
    m.update(site(0, -6000), 0)  # 8.7 A offered
    # A settled sample: the car takes only 5 A per phase.
    # Within start_settle_s of the start a car at 0 A is still starting, not full.
    m.update(site(20, -6000, {"a": car(20, power=0.0, currents=(0.0, 0.0, 0.0))}), 20)
    assert m._memory["a"].car_limit_a is None
    # A settled sample: the car takes only 5 A per phase.
    m.update(site(40, -2530, {"a": car(40, power=3450, currents=(5.0, 5.0, 5.0))}), 40)
    state = m._memory["a"]
    assert state.car_limit_a == 5.5
    # A sample from before the next write: the prediction uses the learned limit, not the offer.
    m.update(site(60, -2530, {"a": car(55, power=3450, currents=(5.0, 5.0, 5.0))}), 60)
    assert m._memory["a"].car_limit_a == 5.5


def test_a_car_paused_by_a_slow_switch_is_not_taken_for_full() -> None:
    # Found on an overcast day: a 1p/3p car switched up; its charger's pause outlasted the
    # starts it had learned (its 25 % quartile), a sample at 0 A counted it as full, and the
    # waiting 3-phase car started beside it: 4 kW of import until the next stop.
    m = manager()
    solar = SolarSettings()
    m._memory["a"].response.load({"starts": [[10, 13], [10, 13], [10, 13], [15, 18]]}, solar)
    m.update(site(0, -6000), 0)  # started at 8.7 A
    assert m._memory["a"].response.late_s(solar, start=True) == 13.0
    # 16 s on: past the usual start, within the slowest seen. Taking nothing: not yet full.
    m.update(site(16, -6000, {"a": car(16, power=0.0, currents=(0.0, 0.0, 0.0))}), 16)
    assert m._memory["a"].car_limit_a is None
    # Past even the slowest start seen: a car that takes nothing is full.
    m.update(site(19, -6000, {"a": car(19, power=0.0, currents=(0.0, 0.0, 0.0))}), 19)
    assert m._memory["a"].car_limit_a == 0.5


def test_a_full_car_is_seen_while_writes_follow_faster_than_it_settles() -> None:
    # Found on a clear day: a full car's target swung around the 0 A it took, a write every
    # 10 s, and no sample was ever settled after the last write: it held the sun for 30 minutes.
    m = manager(min_write_interval_s=5)
    m.update(site(0, -6000), 0)  # started at 8.7 A
    # Still starting: the grid shows 1 kW of import, a drop to 7.2 A, which the car follows.
    d = m.update(site(25, 1000, {"a": car(25, power=6003, currents=(8.7, 8.7, 8.7))}), 25)
    assert d.chargers["a"].write == ChargerCommand(7.2, 3)
    d = m.update(site(31, -1035, {"a": car(31, power=4968, currents=(7.2, 7.2, 7.2))}), 31)
    assert d.chargers["a"].write == ChargerCommand(8.7, 3)
    # 4 s after the raise (not settled): the sample shows 7.2 A or 8.7 A offered. A car taking
    # less than either may be ramping up to the raise; one taking nothing is full.
    m.update(site(35, -3933, {"a": car(35, power=2070, currents=(3.0, 3.0, 3.0))}), 35)
    assert m._memory["a"].car_limit_a is None
    m.update(site(36, -6003, {"a": car(36, power=0.0, currents=(0.0, 0.0, 0.0))}), 36)
    assert m._memory["a"].car_limit_a == 0.5


class _FullCarLoop(Loop):
    """The toy loop with cars that take at most ``caps`` A (full: 0), whatever they are offered."""

    caps: dict[str, float] = {}  # replaced per test, never mutated

    def draw(self, cid: str) -> float:
        cap = self.caps.get(cid)
        drawn = super().draw(cid)
        phases = self.phases(cid) or 3
        return drawn if cap is None else min(drawn, cap * phases * self.voltage)


def test_a_full_solar_car_leaves_the_surplus_to_the_waiting_car() -> None:
    m = EnergyManager(
        SiteSettings(solar=SolarSettings(regulation_margin_w=0.0)),
        {"a": ChargerSettings(mode=Mode.SOLAR), "b": ChargerSettings(mode=Mode.SOLAR)},
    )
    loop = _FullCarLoop(m, lambda t: 9000.0, house=0.0, chargers=("a", "b"))
    loop.run(0, 300)
    assert loop.commands["a"] == ChargerCommand(13.0, 3)  # a takes it all: b waits (staggered)
    assert loop.commands["b"] == ChargerCommand.pause(3)
    # a is full: it draws nothing at its limit. It counts at what it takes (nothing), not at its
    # minimum or maximum, so b starts on the export a leaves.
    loop.caps = {"a": 0.0}
    d = loop.run(301, 600)
    b = loop.commands["b"]
    assert b is not None
    assert not b.paused
    assert b.current_a == 13.0  # all of the surplus
    # a stays on at its minimum (no import, nothing to stop it for) and ramps if it takes again.
    assert loop.commands["a"] == ChargerCommand(6.0, 3)
    assert d.chargers["a"].reason is Reason.SOLAR
    assert d.chargers["b"].reason is Reason.SOLAR
    # a takes current again (the car's own limit rose): it gets its full claim back.
    loop.caps = {}
    loop.run(601, 1200)
    a, b = loop.commands["a"], loop.commands["b"]
    assert a is not None
    assert b is not None
    assert a.current_a == pytest.approx(b.current_a, abs=0.2)


def test_a_tapering_car_keeps_its_cap_while_it_follows_a_lower_limit() -> None:
    """A car that took 9 A of 13 offered counts at 9.5 A. Following a lower limit (the sun
    dropped) says nothing of what it could take: when the sun is back it is offered its cap plus
    the 1 A probe, not its maximum, and takes the probe once it can take more."""
    m = manager()
    pv = {"w": 9000.0}
    loop = _FullCarLoop(m, lambda t: pv["w"], house=0.0)
    loop.caps = {"a": 9.0}
    loop.run(0, 300)
    assert m._memory["a"].car_limit_a == 9.5
    assert loop.commands["a"] == ChargerCommand(10.0, 3)
    pv["w"] = 5500.0  # 8 A: below the cap, the car follows
    loop.run(301, 600)
    assert loop.commands["a"] == ChargerCommand(7.9, 3)
    assert m._memory["a"].car_limit_a == 9.5
    pv["w"] = 9000.0
    d = loop.run(601, 900)
    assert loop.commands["a"] == ChargerCommand(10.0, 3)
    assert d.chargers["a"].reason is Reason.SOLAR
    # It takes more again: at the cap the probe clears it, and it gets the whole surplus.
    loop.caps = {}
    loop.run(901, 1500)
    assert m._memory["a"].car_limit_a is None
    assert loop.commands["a"] == ChargerCommand(13.0, 3)


def test_a_full_min_solar_car_counts_at_what_it_takes() -> None:
    m = EnergyManager(
        SiteSettings(solar=SolarSettings(regulation_margin_w=0.0)),
        {"a": ChargerSettings(mode=Mode.MIN_SOLAR), "b": ChargerSettings(mode=Mode.SOLAR)},
    )
    loop = _FullCarLoop(m, lambda t: 7000.0, house=0.0, chargers=("a", "b"))
    loop.caps = {"a": 0.0}
    loop.run(0, 400)
    # a holds its 6 A but takes nothing: the 7 kW are b's.
    assert loop.commands["a"] == ChargerCommand(6.0, 3)
    b = loop.commands["b"]
    assert b is not None
    assert not b.paused
    assert b.current_a == 10.1


def test_a_car_the_charger_reports_suspended_counts_at_what_it_takes() -> None:
    m = EnergyManager(
        SiteSettings(solar=SolarSettings(regulation_margin_w=0.0)),
        {"a": ChargerSettings(mode=Mode.SOLAR), "b": ChargerSettings(mode=Mode.SOLAR)},
    )
    d = m.update(site(0, -6000, {"a": car(0), "b": car(0)}), 0)
    assert d.chargers["a"].write == ChargerCommand(8.6, 3)
    # No meter: only the status (SuspendedEV) tells a takes nothing. Right after the start the
    # car may still be starting; once the response time passed it counts as EV-limited.
    a = ChargerInputs(plugged=True, power_w=None, ev_suspended=True)
    d = m.update(site(10, -6000, {"a": a, "b": car(10)}), 10)
    assert d.chargers["b"].target.paused
    assert m._memory["a"].car_limit_a is None
    d = m.update(site(200, -6000, {"a": a, "b": car(200)}), 200)
    assert m._memory["a"].car_limit_a == 0.5
    assert not d.chargers["b"].target.paused
    assert not d.chargers["a"].target.paused  # a stays on, at its minimum
    # Charging again (no meter shows how much): it counts in full again.
    a = ChargerInputs(plugged=True, charging=True, power_w=None)
    m.update(site(210, -6000, {"a": a, "b": car(210)}), 210)
    assert m._memory["a"].car_limit_a is None


def test_a_car_suspended_in_a_slow_switch_is_not_taken_for_full() -> None:
    # As a meter at 0 A (test_a_car_paused_by_a_slow_switch_is_not_taken_for_full): the status
    # SuspendedEV counts only once the slowest start or switch the charger showed is over.
    m = manager()
    solar = SolarSettings()
    m._memory["a"].response.load({"starts": [[10, 13], [10, 13], [10, 13], [15, 18]]}, solar)
    m.update(site(0, -6000), 0)  # started at 8.7 A
    suspended = ChargerInputs(plugged=True, power_w=None, ev_suspended=True)
    m.update(site(16, -6000, {"a": suspended}), 16)
    assert m._memory["a"].car_limit_a is None
    m.update(site(19, -6000, {"a": suspended}), 19)
    assert m._memory["a"].car_limit_a == 0.5


def test_a_car_taking_less_than_its_minimum_counts_at_that_plus_headroom() -> None:
    m = EnergyManager(
        SiteSettings(solar=SolarSettings(regulation_margin_w=0.0)),
        {"a": ChargerSettings(mode=Mode.SOLAR), "b": ChargerSettings(mode=Mode.SOLAR)},
    )
    loop = _FullCarLoop(m, lambda t: 7000.0, house=0.0, chargers=("a", "b"))
    loop.caps = {"a": 3.0}  # the car's own limit: 3 A per phase (2070 W) at any offer
    loop.run(0, 400)
    # a counts at 3 A + 1 A headroom (2760 W), not at its 6 A minimum (4140 W): the 4.2 kW
    # left start b.
    assert loop.commands["a"] == ChargerCommand(6.0, 3)
    b = loop.commands["b"]
    assert b is not None
    assert not b.paused


def test_a_full_car_keeps_its_phases_and_stays_on() -> None:
    m = manager(can_switch_phases=True)
    loop = _FullCarLoop(m, lambda t: 9000.0, house=0.0)
    loop.run(0, 300)
    assert loop.commands["a"] == ChargerCommand(13.0, 3)
    # Full, on a surplus below the 3p minimum: 1p would not make it take anything, and it
    # imports nothing, so it neither switches nor stops.
    loop.caps = {"a": 0.0}
    loop.pv = lambda t: 2000.0
    d = loop.run(301, 1200)
    assert loop.commands["a"] == ChargerCommand(6.0, 3)
    assert d.chargers["a"].reason is Reason.SOLAR
