"""Home battery rules and zero-export (curtailing) inverters."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest

from custom_components.ocpp_ems.core.ems import (
    BatterySettings,
    ChargerCommand,
    ChargerSettings,
    EnergyManager,
    Mode,
    Reason,
    SiteSettings,
    SolarSettings,
)
from custom_components.ocpp_ems.core.ems.measure import CapacityLearner, SiteMemory
from custom_components.ocpp_ems.core.ems.types import Reading

from .util import car, site

NO_MARGIN = SolarSettings(regulation_margin_w=0.0)


def manager(battery: BatterySettings, mode: Mode = Mode.SOLAR, **solar: object) -> EnergyManager:
    solar_settings = SolarSettings(regulation_margin_w=0.0, **solar)  # type: ignore[arg-type]
    return EnergyManager(
        SiteSettings(battery=battery, solar=solar_settings), {"a": ChargerSettings(mode=mode)}
    )


def test_battery_first_below_priority_soc() -> None:
    m = manager(BatterySettings(priority_soc=80))
    # The battery takes 5 kW of PV; the grid shows nothing: the car waits for the battery.
    d = m.update(site(0, 0.0, battery=-5000, battery_soc=50), 0)
    assert d.surplus_w == 0.0
    assert d.chargers["a"].target.paused
    assert d.chargers["a"].reason is Reason.BATTERY_FIRST
    # Export beside a charging battery is still surplus.
    d = m.update(site(20, -4500, battery=-5000, battery_soc=50), 20)
    assert d.chargers["a"].write == ChargerCommand(6.5, 3)


def test_car_first_above_priority_soc_takes_battery_charging() -> None:
    m = manager(BatterySettings(priority_soc=80))
    d = m.update(site(0, 0.0, battery=-5000, battery_soc=85), 0)
    assert d.surplus_w == 5000.0
    assert d.chargers["a"].write == ChargerCommand(7.2, 3)


def test_battery_discharge_counts_as_import_and_is_capped_to_the_house() -> None:
    m = manager(BatterySettings(priority_soc=0))
    # Car at 6 A 3p (4140 W), PV gone, battery covers 4440 W: that is import for the car.
    d = m.update(site(0, 0.0, {"a": car(0, power=4140)}, battery=4440, battery_soc=90), 0)
    assert d.surplus_w == 4140 - 4440
    # The battery may cover the house (300 W) but not the car.
    assert d.battery_discharge_limit_w == 300.0


def test_no_discharge_limit_while_no_car_draws() -> None:
    m = manager(BatterySettings())
    d = m.update(site(0, 0.0, battery=500, battery_soc=90), 0)
    assert d.battery_discharge_limit_w is None


def test_assisted_charging_above_floor_only() -> None:
    rules = BatterySettings(
        priority_soc=0, allow_discharge_to_car=True, floor_soc=40, max_discharge_to_car_w=3000
    )
    m = manager(rules)
    d = m.update(site(0, 0.0, {"a": car(0, power=4140)}, battery=4140, battery_soc=60), 0)
    assert d.surplus_w == 3000.0
    assert d.battery_discharge_limit_w == 3000.0
    d = m.update(site(100, 0.0, {"a": car(100, power=4140)}, battery=4140, battery_soc=40), 100)
    assert d.surplus_w == 0.0  # the battery's discharge is import for the car again
    assert d.battery_discharge_limit_w == 0.0


def test_fast_mode_never_drains_the_battery_into_the_car() -> None:
    m = manager(BatterySettings(priority_soc=50), mode=Mode.FAST)
    d = m.update(site(0, 5000, {"a": car(0, power=11040)}, battery=6340, battery_soc=70), 0)
    assert d.chargers["a"].target == ChargerCommand(16.0, 3)
    assert d.chargers["a"].reason is Reason.FAST
    assert d.battery_discharge_limit_w == 300.0


def test_min_solar_never_drains_the_battery_into_the_car() -> None:
    m = manager(BatterySettings(priority_soc=50, floor_soc=30), mode=Mode.MIN_SOLAR)
    d = m.update(site(0, 0.0, {"a": car(0, power=4140)}, battery=4440, battery_soc=20), 0)
    assert d.chargers["a"].target == ChargerCommand(6.0, 3)
    assert d.battery_discharge_limit_w == 300.0


def test_unknown_battery_soc_is_battery_first() -> None:
    m = manager(BatterySettings(priority_soc=10))
    d = m.update(site(0, 0.0, battery=-3000), 0)
    assert d.surplus_w == 0.0


def test_discharge_limit_can_be_turned_off() -> None:
    m = manager(BatterySettings(emit_discharge_limit=False))
    d = m.update(site(0, 0.0, {"a": car(0, power=4140)}, battery=4440, battery_soc=90), 0)
    assert d.battery_discharge_limit_w is None


def test_available_pv_sensor_reveals_curtailed_headroom() -> None:
    m = EnergyManager(SiteSettings(solar=NO_MARGIN), {"a": ChargerSettings(mode=Mode.SOLAR)})
    # Zero export: grid 0, PV throttled to the house load, the inverter could give 5 kW more.
    d = m.update(site(0, 0.0, pv=300, pv_available=5300), 0)
    assert d.surplus_w == 5000.0
    assert d.chargers["a"].write == ChargerCommand(7.2, 3)


def test_available_pv_above_a_clipping_inverter_is_no_surplus_while_importing() -> None:
    """An oversized array behind a clipping inverter: the available-PV sensor (its DC side) reads
    8 kW, the inverter gives at most 5 kW. Its gap to the output was counted as curtailed PV
    whatever the grid did, so the car kept ~3 kW of grid import as surplus. It counts only while
    the grid does not import (closed loop, last 15 min)."""
    m = EnergyManager(SiteSettings(), {"a": ChargerSettings(mode=Mode.SOLAR, max_current_a=32.0)})
    house, pv_ac, pv_dc = 500.0, 5000.0, 8000.0
    written = 0.0
    import_wh = 0.0
    for t in range(1800):
        ev = written * 3 * 230.0
        grid = house + ev - pv_ac
        if t >= 900:
            import_wh += max(0.0, grid) / 3600.0
        d = m.update(site(t, grid, {"a": car(t, power=ev)}, pv=pv_ac, pv_available=pv_dc), t)
        if (write := d.chargers["a"].write) is not None:
            written = 0.0 if write.paused else write.current_a
    assert import_wh < 100.0, (import_wh, written)


def test_zero_export_probe_climbs_while_the_grid_stays_at_zero() -> None:
    solar = SolarSettings(regulation_margin_w=0.0, zero_export=True, curtailment_probe_w=300)
    m = EnergyManager(SiteSettings(solar=solar), {"a": ChargerSettings(mode=Mode.MIN_SOLAR)})
    d = m.update(site(0, 0.0, {"a": car(0, power=4140)}, pv=4440), 0)
    assert d.surplus_w == 4440.0
    assert d.chargers["a"].write == ChargerCommand(6.4, 3)
    # Import means the inverter gave all it had: no probe.
    d = m.update(site(20, 200.0, {"a": car(20, power=4416)}, pv=4516), 20)
    assert d.surplus_w == 4216.0


def test_stale_battery_reading_stops_solar_charging() -> None:
    m = manager(BatterySettings())
    d = m.update(site(0, -6000, battery=0.0, battery_soc=50), 0)
    assert not d.chargers["a"].target.paused
    inputs = site(500, -6000, battery=0.0, battery_soc=50)
    from dataclasses import replace

    from custom_components.ocpp_ems.core.ems import Reading

    d = m.update(replace(inputs, battery_w=Reading(0.0, 0)), 500)
    assert "battery_power" in d.stale_inputs
    assert d.surplus_w is None
    assert d.chargers["a"].reason is Reason.STALE_INPUT


class _ChargingBattery:
    """A battery that zeroes the grid: it charges with whatever PV is left after the house and
    the car, up to ``max_w``; the car draws what was last written (1p/3p)."""

    def __init__(self, m: EnergyManager, *, max_w: float = 5000.0, house: float = 500.0) -> None:
        self.m, self.max_w, self.house = m, max_w, house
        self.command = ChargerCommand.pause(3)
        self.charge_w = 0.0

    def step(self, t: float, pv: float) -> None:
        cmd = self.command
        ev = 0.0 if cmd.paused else cmd.current_a * cmd.phases * 230.0
        left = pv - self.house - ev
        self.charge_w = min(self.max_w, max(0.0, left))
        grid = -(left - self.charge_w) if left > 0 else -left
        inputs = site(t, grid, {"a": car(t, power=ev)}, battery=-self.charge_w, battery_soc=40)
        write = self.m.update(inputs, t).chargers["a"].write
        if write is not None:
            self.command = write


def test_battery_first_is_owed_up_to_what_it_takes_not_what_it_charges_now() -> None:
    m = EnergyManager(
        SiteSettings(battery=BatterySettings(priority_soc=60), solar=NO_MARGIN),
        {"a": ChargerSettings(mode=Mode.SOLAR, can_switch_phases=True)},
    )
    loop = _ChargingBattery(m)
    for t in range(300):
        loop.step(t, 8000.0)
    # 7.5 kW left over: the battery takes its 5 kW (the export shows it takes no more), the car
    # the rest.
    assert loop.charge_w >= 4950.0  # within the write deadband
    assert not loop.command.paused
    assert loop.command.current_a * loop.command.phases * 230.0 <= 2550.0
    # A cloud: 5.5 kW left. The battery zeroes the grid whatever the car takes, so the grid shows
    # no deficit; the battery charging less than it took is the car taking its share.
    charged = []
    for t in range(300, 700):
        loop.step(t, 6000.0)
        charged.append(loop.charge_w)
    assert loop.command.paused or loop.command.current_a * loop.command.phases * 230.0 <= 500.0
    assert min(charged[-100:]) >= 4900.0


def test_a_configured_battery_maximum_counts_before_any_export() -> None:
    m = EnergyManager(
        SiteSettings(
            battery=BatterySettings(priority_soc=60, max_charge_w=5000.0), solar=NO_MARGIN
        ),
        {"a": ChargerSettings(mode=Mode.SOLAR)},
    )
    # The battery charges 3 kW beside 4.5 kW of export (a just-started car or a cloud's end the
    # battery has not followed yet): 2 kW of the export are still the battery's.
    d = m.update(site(0, -50.0, {"a": car(0)}, battery=-3000, battery_soc=40), 0)
    assert d.surplus_w == -1850.0  # 2 kW less the meter-noise band (100 W)
    # A short export is a transient; one that lasts shows the battery takes no more than 3 kW now
    # (nearly full, it tapers): all of the export is surplus.
    d = m.update(site(5, -6500.0, {"a": car(5)}, battery=-3000, battery_soc=40), 5)
    assert d.surplus_w == 4600.0
    d = m.update(site(40, -6500.0, {"a": car(40)}, battery=-3000, battery_soc=40), 40)
    assert d.surplus_w == 6500.0
    assert d.chargers["a"].target == ChargerCommand(9.4, 3)


def test_a_zero_export_site_learns_no_battery_claim_it_could_never_unlearn() -> None:
    m = EnergyManager(
        SiteSettings(
            battery=BatterySettings(priority_soc=60),
            solar=SolarSettings(regulation_margin_w=0.0, zero_export=True),
        ),
        {"a": ChargerSettings(mode=Mode.SOLAR)},
    )
    m.update(site(0, 0.0, {"a": car(0)}, battery=-5000, battery_soc=40), 0)
    # Nearly full it takes 1 kW: the inverter curtails the rest, the grid never shows it.
    d = m.update(site(10, 0.0, {"a": car(10)}, battery=-1000, battery_soc=40), 10)
    assert d.surplus_w == 0.0  # not -4 kW: no stale claim of the battery


def charge(
    learner: CapacityLearner,
    start_s: float,
    end_s: float,
    power_w: float,
    soc_from: float,
    capacity_wh: float = 10000.0,
    step_s: float = 10.0,
) -> float:
    """The battery's power (negative: charging) and its SoC in whole points every ``step_s``;
    the SoC at the end."""
    t, stored = start_s, soc_from / 100.0 * capacity_wh
    while t <= end_s:
        learner.observe(t, -power_w, math.floor(stored / capacity_wh * 100.0 + 1e-9))
        stored += power_w * step_s / 3600.0
        t += step_s
    return math.floor(stored / capacity_wh * 100.0)


def test_the_battery_capacity_is_learned_from_its_power_and_soc() -> None:
    """A 10 kWh battery charged at 5 kW for an hour (20 % to 70 %): about 10 kWh, from an
    estimate every 10 points counted from one change of its whole-point SoC to another."""
    learner = CapacityLearner()
    assert learner.capacity_wh is None
    charge(learner, 0.0, 3600.0, 5000.0, 20.0)
    assert len(learner.estimates) == 4  # 21-31-41-51-61 (the first change is the anchor)
    assert learner.capacity_wh == pytest.approx(10000.0, rel=0.02)
    # Discharging counts the same way (2 kW from 70 % down to 45 %).
    discharging = CapacityLearner()
    charge(discharging, 0.0, 4500.0, -2000.0, 70.0)
    assert discharging.capacity_wh == pytest.approx(10000.0, rel=0.02)


def test_the_battery_capacity_is_the_median_of_the_last_estimates() -> None:
    learner = CapacityLearner()
    for value in (9000.0, 30000.0, 10000.0, 11000.0):
        learner.estimates.append(value)
    assert learner.capacity_wh == 10500.0
    learner.estimates.append(12000.0)
    assert learner.capacity_wh == 11000.0


def test_no_capacity_across_a_gap_a_turn_or_a_jump() -> None:
    """Nothing is learned where the readings stop for long, the SoC turns before 10 points or
    jumps; a short gap (a missing reading) is bridged."""
    # Readings missing for 10 minutes between 20 % and 35 %: the anchor is dropped twice.
    gap = CapacityLearner()
    charge(gap, 0.0, 700.0, 5000.0, 20.0)  # 20 -> 29 %
    gap.observe(800.0, None, 29.0)  # unavailable: held, not integrated
    charge(gap, 1400.0, 2000.0, 5000.0, 30.0)  # 30 -> 38 %: 8 points since the new anchor
    assert gap.capacity_wh is None
    # A short one (a minute) is bridged with the last reading.
    short = CapacityLearner()
    charge(short, 0.0, 360.0, 5000.0, 20.0)
    short.observe(380.0, -5000.0, None)
    charge(short, 440.0, 1200.0, 5000.0, 20.0 + 440.0 * 5000.0 / 3600.0 / 100.0)
    assert short.capacity_wh == pytest.approx(10000.0, rel=0.05)
    # The SoC turns every 9 points (charging, then discharging): no estimate.
    turning = CapacityLearner()
    soc = charge(turning, 0.0, 620.0, 5000.0, 20.0)
    soc = charge(turning, 630.0, 1300.0, -5000.0, soc)
    charge(turning, 1310.0, 1900.0, 5000.0, soc)
    assert turning.capacity_wh is None
    # A recalibration (+8 points at once) is no charge: the anchor is dropped.
    jump = CapacityLearner()
    charge(jump, 0.0, 400.0, 5000.0, 20.0)  # 20 -> 25 %
    jump.observe(410.0, -5000.0, 33.0)
    charge(jump, 420.0, 900.0, 5000.0, 33.6)  # 33 -> 40 %
    assert jump.capacity_wh is None
    # Readings out of order (the clock went back) drop the anchor too.
    back = CapacityLearner()
    charge(back, 0.0, 400.0, 5000.0, 20.0)
    charge(back, 100.0, 500.0, 5000.0, 26.0)
    assert back.capacity_wh is None


def test_an_implausible_battery_capacity_is_dropped() -> None:
    """Beyond 1-200 kWh (a sensor in kW read as W, the SoC drifting while the battery idles) or
    of the wrong sign: no estimate."""
    for power_w, capacity_wh in ((5.0, 10000.0), (50000.0, 400000.0)):
        learner = CapacityLearner()
        # The SoC moves as a battery of ``capacity_wh`` would at 5 kW, the power reads ``power_w``.
        t, stored = 0.0, 0.2 * capacity_wh
        while stored < 0.6 * capacity_wh:
            learner.observe(t, -power_w, math.floor(stored / capacity_wh * 100.0))
            stored += 5000.0 * 10.0 / 3600.0
            t += 10.0
        assert learner.capacity_wh is None, power_w
    # The SoC rises while the power says discharging (an inverted sensor).
    wrong = CapacityLearner()
    for i in range(400):
        wrong.observe(i * 10.0, 5000.0, 20.0 + i * 0.14)
    assert wrong.capacity_wh is None


def test_a_stored_battery_capacity_is_a_prior_and_checked() -> None:
    memory = SiteMemory()
    assert not memory.learned()
    assert memory.to_dict() == {"battery_accept_w": None}
    memory.load({"battery_capacity_wh": 12000.0})
    assert memory.learned()
    assert memory.to_dict() == {"battery_accept_w": None, "battery_capacity_wh": 12000.0}
    for bad in (500.0, 300000.0, "12000", True, math.inf):
        again = SiteMemory()
        again.load({"battery_capacity_wh": bad})
        assert again.battery_capacity_wh is None, bad
    # Learning goes on from it: new estimates join the stored one.
    charge(memory.capacity, 0.0, 3600.0, 5000.0, 20.0)
    assert memory.battery_capacity_wh == pytest.approx(10000.0, rel=0.02)


def test_the_controller_learns_the_battery_capacity() -> None:
    """The energy manager learns it from the battery's sensors as it runs (even without a grid
    reading), and a stale SoC sensor teaches nothing."""
    m = manager(BatterySettings(priority_soc=80))
    stale = manager(BatterySettings(priority_soc=80))
    t, stored = 0.0, 2000.0
    while t <= 3600.0:
        soc = math.floor(stored / 100.0)
        m.update(site(t, None, battery=-5000, battery_soc=soc), t)
        # The SoC sensor last reported at 0 s: stale from 120 s on.
        inputs = site(t, 0.0, battery=-5000, battery_soc=soc)
        stale.update(replace(inputs, battery_soc=Reading(soc, 0.0)), t)
        stored += 5000.0 * 10.0 / 3600.0
        t += 10.0
    assert m.site_memory.battery_capacity_wh == pytest.approx(10000.0, rel=0.02)
    assert stale.site_memory.battery_capacity_wh is None
