"""Modes, minimum charge, boost, charger states, stale inputs and their fallbacks."""

from __future__ import annotations

from dataclasses import replace

import pytest

from custom_components.ocpp_ems.core.ems import (
    BatterySettings,
    ChargerCommand,
    ChargerSettings,
    EnergyManager,
    Mode,
    Reading,
    Reason,
    SiteInputs,
    SiteSettings,
    StaleFallback,
)

from .util import car, site


def one(mode: Mode = Mode.SOLAR, **kwargs: object) -> EnergyManager:
    return EnergyManager(SiteSettings(), {"a": ChargerSettings(mode=mode, **kwargs)})  # type: ignore[arg-type]


def test_off_pauses_and_fast_charges_full() -> None:
    m = one(Mode.OFF)
    d = m.update(site(0, -9000), 0)
    assert d.chargers["a"].write == ChargerCommand.pause(3)
    assert d.chargers["a"].reason is Reason.OFF
    m.set_mode("a", Mode.FAST)
    d = m.update(site(20, 3000), 20)
    assert d.chargers["a"].write == ChargerCommand(16.0, 3)
    assert d.chargers["a"].reason is Reason.FAST
    assert m.charger("a").mode is Mode.FAST


def test_not_plugged_and_unavailable() -> None:
    m = one(Mode.FAST)
    d = m.update(site(0, 0.0, {"a": car(0, plugged=False)}), 0)
    assert d.chargers["a"].reason is Reason.NOT_PLUGGED
    assert d.chargers["a"].target.paused
    d = m.update(SiteInputs(grid_w=Reading(0.0, 1)), 1)
    assert d.chargers["a"].reason is Reason.CHARGER_UNAVAILABLE
    assert d.chargers["a"].write is None


def test_minimum_soc_and_energy_charge_at_once_in_every_mode_but_off() -> None:
    m = one(Mode.SOLAR, min_soc=20)
    d = m.update(site(0, 2000, {"a": car(0, soc=15)}), 0)
    assert d.chargers["a"].target == ChargerCommand(16.0, 3)
    assert d.chargers["a"].reason is Reason.MINIMUM_CHARGE
    # (after the start settled: a car at 0 A right after a start is still starting)
    d = m.update(site(40, 2000, {"a": car(40, soc=25)}), 40)
    assert d.chargers["a"].target.paused
    m = one(Mode.MIN_SOLAR, min_energy_wh=5000)
    d = m.update(site(0, 2000, {"a": car(0, energy=1000)}), 0)
    assert d.chargers["a"].reason is Reason.MINIMUM_CHARGE
    m = one(Mode.OFF, min_soc=20)
    assert m.update(site(0, 0, {"a": car(0, soc=5)}), 0).chargers["a"].target.paused


@pytest.mark.parametrize("error_code", [-1.0, 255.0])
def test_a_soc_outside_0_to_100_is_no_reading(error_code: float) -> None:
    """A car's or a home battery's "SoC" of -1 or 255 (error codes of car APIs and BMSs) is no
    state of charge: no minimum charge from the grid at -1 %, no battery-assisted charging at
    255 % (above a 50 % floor), and the battery's SoC is a stale input."""
    m = one(Mode.SOLAR, min_soc=20)
    d = m.update(site(0, 2000, {"a": car(0, soc=error_code)}), 0)
    assert d.chargers["a"].target.paused
    assert d.chargers["a"].reason is not Reason.MINIMUM_CHARGE
    battery = BatterySettings(allow_discharge_to_car=True, floor_soc=50.0)
    m = EnergyManager(SiteSettings(battery=battery), {"a": ChargerSettings(mode=Mode.SOLAR)})
    for t in range(0, 400, 5):
        d = m.update(site(t, 0.0, {"a": car(t)}, battery=0.0, battery_soc=error_code, pv=0.0), t)
        assert d.chargers["a"].target.paused
    assert "battery_soc" in d.stale_inputs
    assert not d.surplus_w


@pytest.mark.parametrize("capacity_wh", [50000.0, None])
def test_a_soc_not_reported_again_is_estimated_from_the_energy_since(
    capacity_wh: float | None,
) -> None:
    """A car API that reports every few minutes (or stops): the same reading seen again (its
    time unchanged) is no news. With the car's capacity the SoC goes on from it with the energy
    charged since: 15 % + 3 kWh x 0.9 of 50 kWh = 20.4 %, above the minimum of 20 %, and the
    minimum charge ends; a new reading replaces the estimate. Without the capacity the reading
    stays as it is."""
    m = one(Mode.SOLAR, min_soc=20, vehicle_capacity_wh=capacity_wh)
    stuck = Reading(15.0, 0.0)

    def update(t: float, energy: float, soc: Reading = stuck) -> Reason:
        inputs = replace(car(t, power=11000.0, energy=energy), vehicle_soc=soc)
        return m.update(site(t, 2000, {"a": inputs}), t).chargers["a"].reason

    assert update(0, 1000) is Reason.MINIMUM_CHARGE
    assert update(600, 3000) is Reason.MINIMUM_CHARGE  # 18.6 %
    estimated = update(1200, 4000) is not Reason.MINIMUM_CHARGE  # 20.4 %
    assert estimated is (capacity_wh is not None)
    # A new reading counts as it is (the car says 19 %), and the estimate goes on from it.
    assert update(1260, 4100, Reading(19.0, 1250.0)) is Reason.MINIMUM_CHARGE
    assert (update(1800, 5000, Reading(19.0, 1250.0)) is Reason.MINIMUM_CHARGE) is (
        capacity_wh is None
    )


def test_boost_until_a_time() -> None:
    m = one(Mode.SOLAR)
    m.boost("a", until=100)
    d = m.update(site(0, 1000), 0)
    assert d.chargers["a"].reason is Reason.BOOST
    assert d.chargers["a"].target == ChargerCommand(16.0, 3)
    assert d.next_update_at == 100
    d = m.update(site(100, 1000), 100)
    assert d.chargers["a"].target.paused
    m.boost("a", until=500)
    m.boost("a", until=None)
    assert m.update(site(200, 1000), 200).chargers["a"].reason is not Reason.BOOST


def test_invalidate_forces_a_rewrite() -> None:
    m = one(Mode.FAST)
    assert m.update(site(0, 0), 0).chargers["a"].write is not None
    assert m.update(site(1, 0), 1).chargers["a"].write is None
    m.invalidate("a")
    assert m.update(site(2, 0), 2).chargers["a"].write == ChargerCommand(16.0, 3)


def test_settings_changes_and_removal() -> None:
    m = one(Mode.SOLAR, can_switch_phases=True)
    m.set_charger("a", ChargerSettings(mode=Mode.FAST, phases=1))
    assert m.update(site(0, 0), 0).chargers["a"].target == ChargerCommand(16.0, 1)
    m.set_site(SiteSettings(fuse_a=10, fuse_margin_a=0))
    assert m.site.fuse_a == 10
    assert m.update(site(1, 0), 1).chargers["a"].target.current_a == 10.0
    m.remove_charger("a")
    assert m.update(site(2, 0), 2).chargers == {}


def test_stale_grid_min_current_fallback_and_repair_flag_clears() -> None:
    m = one(Mode.SOLAR)
    m.update(site(0, -9000), 0)
    inputs = site(100, -9000)
    stale = SiteInputs(grid_w=Reading(-9000, 0), chargers=inputs.chargers)
    d = m.update(stale, 100)
    assert d.stale_inputs == {"grid_power"}
    assert d.chargers["a"].stale
    assert d.chargers["a"].reason is Reason.STALE_INPUT
    assert d.chargers["a"].write == ChargerCommand(6.0, 3)
    d = m.update(site(101, -9000), 101)
    assert d.stale_inputs == frozenset()
    assert not d.chargers["a"].stale


def test_unavailable_sensor_is_stale() -> None:
    m = one(Mode.SOLAR, stale_fallback=StaleFallback.PAUSE)
    d = m.update(SiteInputs(grid_w=Reading(None, 0), chargers={"a": car(0)}), 0)
    assert "grid_power" in d.stale_inputs
    assert d.chargers["a"].target.paused
    d = m.update(SiteInputs(grid_w=Reading(float("nan"), 1), chargers={"a": car(1)}), 1)
    assert "grid_power" in d.stale_inputs


def test_an_unavailable_pv_sensor_leaves_the_surplus_to_the_grid_meter() -> None:
    """README said every sensor that goes unavailable makes the chargers fall back; many inverters
    go unavailable every night, and a fallback to the minimum would charge Solar cars from the
    grid all night. The PV sensor only caps the surplus: without it the surplus is the grid
    meter's (the repair still names it), and a Solar car follows that, not the fallback."""
    m = one(Mode.SOLAR, stale_fallback=StaleFallback.MIN_CURRENT)
    d = None
    for t in range(0, 400, 5):
        inputs = replace(site(t, -3000.0, {"a": car(t, power=4140.0)}), pv_w=Reading(None, t))
        d = m.update(inputs, t)
    assert d is not None
    assert d.stale_inputs == {"pv_power"}
    assert d.surplus_w == 7140.0  # the car's 4140 W and the 3000 W exported
    decision = d.chargers["a"]
    assert not decision.stale
    assert decision.target.current_a > 6.0
    # At night (importing, no sun) it stops as on any dip: no minimum from the grid.
    for t in range(400, 800, 5):
        inputs = replace(site(t, 4640.0, {"a": car(t, power=4140.0)}), pv_w=Reading(None, t))
        d = m.update(inputs, t)
    assert d.chargers["a"].target.paused
    assert not d.chargers["a"].stale


def test_missing_grid_sensor_is_reported_for_solar_modes() -> None:
    m = one(Mode.SOLAR, stale_fallback=StaleFallback.PAUSE)
    d = m.update(SiteInputs(chargers={"a": car(0)}), 0)
    assert d.stale_inputs == {"grid_power"}
    m.set_mode("a", Mode.FAST)
    d = m.update(SiteInputs(chargers={"a": car(1)}), 1)
    assert d.stale_inputs == frozenset()
    assert d.chargers["a"].target == ChargerCommand(16.0, 3)


def test_last_limit_for_a_grace_period_then_pause() -> None:
    m = one(Mode.SOLAR, stale_fallback=StaleFallback.LAST_LIMIT, stale_grace_s=300)
    m.update(site(0, -6000), 0)
    stale = SiteInputs(grid_w=Reading(-6000, 0), chargers={"a": car(100, power=5934)})
    d = m.update(stale, 100)
    assert d.chargers["a"].target == ChargerCommand(8.6, 3)
    assert d.next_update_at == 400
    d = m.update(stale, 400)
    assert d.chargers["a"].target.paused
    assert d.chargers["a"].reason is Reason.STALE_INPUT


def test_last_limit_without_a_running_limit_pauses() -> None:
    m = one(Mode.MIN_SOLAR, stale_fallback=StaleFallback.LAST_LIMIT)
    d = m.update(SiteInputs(grid_w=Reading(0.0, -500), chargers={"a": car(0)}), 0)
    assert d.chargers["a"].target.paused


def test_stale_grid_currents_fall_back_to_grid_power() -> None:
    m = EnergyManager(
        SiteSettings(fuse_a=25, fuse_margin_a=0), {"a": ChargerSettings(mode=Mode.FAST)}
    )
    from custom_components.ocpp_ems.core.ems import PhaseReading

    inputs = SiteInputs(
        grid_w=Reading(2300.0, 100),
        grid_currents_a=PhaseReading((1.0, 1.0, 1.0), 0),
        chargers={"a": car(100)},
    )
    d = m.update(inputs, 100)
    assert "grid_currents" in d.stale_inputs
    assert d.chargers["a"].target.current_a == 15.0


def test_stale_charger_meter_uses_the_commanded_current() -> None:
    m = one(Mode.SOLAR)
    m.update(site(0, -6000), 0)
    old = car(0, power=5934)
    charging = type(old)(plugged=True, charging=True, power_w=Reading(5934, -1000))
    d = m.update(SiteInputs(grid_w=Reading(0.0, 30), chargers={"a": charging}), 30)
    assert d.surplus_w == pytest.approx(8.6 * 3 * 230)


@pytest.mark.parametrize("mode", [Mode.FAST, Mode.MIN_SOLAR, Mode.SOLAR, Mode.PLAN])
def test_minimum_soc_charges_at_full_power_in_every_mode(mode: Mode) -> None:
    m = one(mode, min_soc=20, can_switch_phases=True)
    d = m.update(site(0, 2000, {"a": car(0, soc=15)}), 0)
    assert d.chargers["a"].target == ChargerCommand(16.0, 3)
    expected = Reason.MINIMUM_CHARGE
    assert d.chargers["a"].reason is expected


def test_fast_and_boost_use_every_phase_of_a_switching_charger() -> None:
    m = one(Mode.SOLAR, can_switch_phases=True)
    assert m.update(site(0, -1500, {"a": car(0)}), 0).chargers["a"].target.phases == 1
    m.boost("a", 600)
    d = m.update(site(20, 0, {"a": car(20, power=1500)}), 20)
    assert d.chargers["a"].reason is Reason.BOOST
    assert d.chargers["a"].write == ChargerCommand(16.0, 3)
    m.set_mode("a", Mode.FAST)
    d = m.update(site(700, 0, {"a": car(700, power=11040)}), 700)
    assert d.chargers["a"].target == ChargerCommand(16.0, 3)
