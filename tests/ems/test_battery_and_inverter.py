"""Home battery rules and zero-export (curtailing) inverters."""

from __future__ import annotations

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
