"""Modes, minimum charge, boost, charger states, stale inputs and their fallbacks."""

from __future__ import annotations

from dataclasses import replace

import pytest

from custom_components.ocpp_ems.core.ems import (
    BatterySettings,
    ChargerCommand,
    ChargerSettings,
    Decision,
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


# --- a grid or battery meter with its sign the wrong way round (``meter_sign.py``) -----------------
HOUSE_W = 20 * 3 * 230.0
CAR_W = 16 * 3 * 230.0


def test_an_inverted_grid_meter_at_night_is_stale_and_the_fuse_not_blind() -> None:
    """Export shown positive: a house importing 20 A per phase with a car at 16 A reads as
    24.8 kW of export while the PV sensor says 0 W. Within ``BALANCE_S`` the grid meter is
    stale (named inverted) and the car falls back, not raised onto a fuse that carries 36 A."""
    manager = EnergyManager(
        SiteSettings(fuse_a=25), {"a": ChargerSettings(mode=Mode.FAST, max_current_a=32)}
    )
    decision = None
    for t in range(0, 40, 5):
        charging = {"a": car(t, power=CAR_W, currents=(16.0, 16.0, 16.0))}
        decision = manager.update(site(t, -(HOUSE_W + CAR_W), charging, pv=0.0), t)
    assert decision is not None
    assert decision.inverted_inputs == {"grid_power"}
    assert "grid_power" in decision.stale_inputs
    target = decision.chargers["a"].target
    assert target.paused or target.current_a <= 16.0, target


def _stepping_car(
    manager: EnergyManager, grid_sign: float, t0: int, steps: int, *, battery: bool = False
) -> Decision:
    """A car that starts (odd 20 s periods) and stops (even ones) beside a 2 kW house (no PV sensor), the grid
    meter (or with ``battery``, a battery that covers the car) shown with ``grid_sign``. Each
    period has a second reading 10 s in (a step is judged once it has settled on the meter)."""
    decision = None
    for k in range(steps):
        period = t0 + 20 * k
        car_w = CAR_W if (period // 20) % 2 else 0.0
        for t in (period, period + 10):
            charging = {"a": car(t, power=car_w)}
            if battery:
                meter = grid_sign * (2000.0 + car_w)
                inputs = site(t, 0.0, charging, battery=meter, battery_soc=50)
            else:
                inputs = site(t, grid_sign * (2000.0 + car_w), charging)
            decision = manager.update(inputs, t)
    assert decision is not None
    return decision


@pytest.mark.parametrize("battery", [False, True], ids=["grid", "battery"])
def test_a_meter_that_moves_against_the_cars_steps_is_flagged_until_it_follows(
    battery: bool,
) -> None:
    """Without a PV sensor: the car's draw steps by 11 kW, the meter moves the other way by
    as much, three times in a row: inverted. Turned round (a template sensor), the next step
    goes the right way and the flag clears."""
    name = "battery_power" if battery else "grid_power"
    manager = one(Mode.FAST)
    assert not _stepping_car(manager, -1.0, 0, 3, battery=battery).inverted_inputs  # two steps
    third = _stepping_car(manager, -1.0, 60, 1, battery=battery)
    assert third.inverted_inputs == {name}
    assert name in third.stale_inputs
    assert not _stepping_car(manager, 1.0, 80, 2, battery=battery).stale_inputs


@pytest.mark.parametrize("battery", [False, True], ids=["grid", "battery"])
def test_a_car_raised_after_the_house_load_fell_is_no_verdict(battery: bool) -> None:
    """The house's load falls by 2 kW: the meter shows 2 kW more export (or the battery 2 kW
    more charging); the car, raised to follow, shows its step at its next sample while the meter
    still shows the fall (it reads a moment later), then the meter comes back. Met at the
    moment of the car's sample, the meter moved against the car by as much, every time (a real
    PV day flagged a right battery meter so, and its car drained the battery all afternoon): a
    step is judged once it has settled on the meter, where a right meter came back."""
    manager = one(Mode.FAST)
    decision = None
    for k in range(6):
        t0 = 60 * k
        car_w = 4500.0 + 2000.0 * k  # raised by 2 kW each time
        # (when, the meter, the car's draw, when the car's meter sampled it: every 10 s)
        for t, meter, draw, sampled in (
            (t0, 0.0, car_w - 2000.0, t0),  # the load falls just after both were read
            (t0 + 5, -2000.0, car_w - 2000.0, t0),
            (t0 + 10, -2000.0, car_w, t0 + 10),  # the car's step; the meter still shows the fall
            (t0 + 15, 0.0, car_w, t0 + 10),  # the car's step on the meter
        ):
            charging = {"a": car(sampled, power=draw)}
            inputs = (
                site(t, 0.0, charging, battery=meter, battery_soc=50)
                if battery
                else site(t, meter, charging)
            )
            decision = manager.update(inputs, t)
    assert decision is not None
    assert not decision.inverted_inputs


def test_a_right_meter_beside_uncovered_pv_is_never_flagged() -> None:
    """PV the PV sensor does not cover (a second inverter) makes the computed house load
    negative: by day (the covered PV makes power) and once a car's step showed the sign right
    (a generator exporting at night) the grid meter is trusted."""
    manager = one(Mode.FAST)
    for t in range(0, 120, 5):  # by day: 3 kW of covered PV, 6 kW more export than it explains
        charging = {"a": car(t, power=CAR_W)}
        assert manager.update(site(t, -9000.0, charging, pv=3000.0), t).inverted_inputs == set()
    assert not _stepping_car(manager, 1.0, 120, 4).inverted_inputs  # steps the right way
    for t in range(200, 320, 5):  # at night, a generator exporting 3 kW beside the car
        charging = {"a": car(t, power=CAR_W)}
        assert manager.update(site(t, -3000.0, charging, pv=0.0), t).inverted_inputs == set()


def test_a_cloud_passing_with_the_cars_step_is_no_verdict() -> None:
    """The sun comes out as the car starts (and goes as it stops): the grid meter moves against
    the car's step by as much, every time. The PV reading of each moment shows why: the meter is
    judged with it, and a right meter is never flagged."""
    manager = one(Mode.FAST)
    decision = None
    for t in range(0, 200, 10):  # (a second reading 10 s into each period: the step settled)
        car_w = CAR_W if (t // 20) % 2 else 0.0
        pv_w = 2 * car_w  # the sun's change is twice the car's
        inputs = site(t, 2000.0 + car_w - pv_w, {"a": car(t, power=car_w)}, pv=pv_w)
        decision = manager.update(inputs, t)
    assert decision is not None
    assert not decision.inverted_inputs
    assert not decision.stale_inputs
