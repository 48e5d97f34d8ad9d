"""HA states and the charger model -> the energy manager's plain inputs (no server needed)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from homeassistant.core import State
from hypothesis import given, settings
from hypothesis import strategies as st

from custom_components.ocpp_ems.const import (
    CONF_BATTERY_ASSIST,
    CONF_BATTERY_ASSIST_POWER,
    CONF_BATTERY_FLOOR_SOC,
    CONF_FUSE,
    CONF_SITE_PHASES,
    CONF_STALE_AFTER,
)
from custom_components.ocpp_ems.core.ems import EnergySlot, PriceSlot, Reading
from custom_components.ocpp_ems.core.ems import options as ems_options
from custom_components.ocpp_ems.core.ems.energy_split import GRID_ONLY, EnergyMix, energy_mix
from custom_components.ocpp_ems.core.model import Charger, ConnectorStatus, Transaction
from custom_components.ocpp_ems.ems_inputs import (
    charger_inputs,
    forecast_slots,
    picked_inputs,
    price_slots,
    read_phases,
    read_power,
    read_value,
    read_vehicle_soc,
    site_settings,
    watts_per_unit,
)

T0 = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
NOW = T0.timestamp()


def state(value: str, **attributes: object) -> State:
    return State("sensor.x", value, attributes, last_updated=T0, last_reported=T0)


def test_site_settings_defaults_and_options() -> None:
    site = site_settings({})
    assert site.fuse_a is None
    assert site.battery.max_discharge_to_car_w == 0.0
    site = site_settings(
        {
            CONF_FUSE: 25,
            CONF_SITE_PHASES: 1,
            CONF_BATTERY_ASSIST: True,
            CONF_BATTERY_FLOOR_SOC: 30,
            CONF_BATTERY_ASSIST_POWER: 1200,
        }
    )
    assert site.fuse_a == 25.0
    assert site.site_phases == 1
    assert site.battery.allow_discharge_to_car
    assert site.battery.floor_soc == 30.0
    assert site.battery.max_discharge_to_car_w == 1200.0
    assert site.grid_max_age_s == 60.0
    site = site_settings({CONF_STALE_AFTER: 30})
    assert (site.grid_max_age_s, site.pv_max_age_s, site.battery_max_age_s) == (30.0, 30.0, 30.0)


def test_readings() -> None:
    assert read_value(None, NOW) == Reading(None, NOW)
    assert read_value(state("unavailable"), NOW) == Reading(None, NOW)
    assert read_value(state("not a number"), NOW) == Reading(None, NOW)
    assert read_value(state("nan"), NOW) == Reading(None, NOW)
    assert read_value(state("42.5"), NOW + 10) == Reading(42.5, NOW)
    assert read_power(state("1.5", unit_of_measurement="kW"), NOW) == Reading(1500.0, NOW)
    assert read_power(state("1500", unit_of_measurement="W"), NOW) == Reading(1500.0, NOW)
    assert read_power(state("unknown", unit_of_measurement="kW"), NOW) == Reading(None, NOW)
    assert read_power(state("1500"), NOW) == Reading(1500.0, NOW)  # no unit: W
    # No power unit (a template's "kw", an energy sensor picked by mistake): never taken for W
    # (a 20 kW import read as 20 W opened the fuse); unavailable, so the stale repair names it.
    for unit in ("kw", "kWh", "A", "%"):
        assert read_power(state("20", unit_of_measurement=unit), NOW) == Reading(None, NOW)
    phases = read_phases([state("10"), None, state("12")], NOW + 5)
    assert phases.values == (10.0, None, 12.0)
    assert phases.at == NOW


def test_grid_currents_in_milliamperes_are_converted_to_amperes() -> None:
    """HA's current device class has A and mA (a Shelly / ESPHome CT clamp may report mA): 5000 mA
    was read as 5000 A (the fuse then paused every car). No unit is A; a unit that is no current
    (W, a misspelt "ma") reads as unavailable, so the stale repair names that phase."""
    phases = read_phases(
        [
            state("5000", unit_of_measurement="mA"),
            state("5", unit_of_measurement="A"),
            state("5"),
        ],
        NOW,
    )
    assert phases.values == (5.0, 5.0, 5.0)
    for unit in ("W", "ma", "%"):
        assert read_phases([state("5", unit_of_measurement=unit)], NOW).values[0] is None


def test_a_unit_that_is_no_text_reads_as_an_unknown_unit() -> None:
    """A state's attributes can hold anything (Node-RED, a script): a unit_of_measurement that is
    a list raised (unhashable) in every decision; it is an unknown unit, the input unavailable."""
    for unit in (["W"], {"unit": "W"}, 1000):
        assert read_power(state("500", unit_of_measurement=unit), NOW) == Reading(None, NOW)
        assert watts_per_unit(state("500", unit_of_measurement=unit)) is None
        assert read_phases([state("5", unit_of_measurement=unit)], NOW).values[0] is None


def test_a_vehicle_soc_reading_is_as_old_as_its_value() -> None:
    """A car's cloud integration writes its cached SoC again every poll (HA moves last_reported,
    not last_changed): taken as a new report, it threw away the estimate of what was charged since
    the value was read. The time of a vehicle SoC reading is when it changed."""
    later = T0 + timedelta(minutes=5)
    cached = State("sensor.car_soc", "40", {}, last_changed=T0, last_reported=later)
    assert read_vehicle_soc(cached, later.timestamp()) == Reading(40.0, NOW)
    assert read_vehicle_soc(None, NOW) == Reading(None, NOW)
    # A meter's reading is as fresh as its last report, changed or not.
    assert read_value(cached, later.timestamp()) == Reading(40.0, later.timestamp())


def test_price_slots_from_a_forecast() -> None:
    hour = timedelta(hours=1)
    forecast = [
        {"start": T0.isoformat(), "end": (T0 + hour).isoformat(), "price": 0.30},
        {"start_time": T0 + hour, "value": 0.10},  # no end: up to the next slot
        {"startsAt": (T0 + 2 * hour).timestamp(), "total": 0.20},  # no end, last: one hour
        {"start": "garbage", "price": 1.0},
        {"start": T0.isoformat(), "price": "n/a"},
        "not a mapping",
    ]
    slots = price_slots(state("0.30", raw_today=forecast), "raw_today", NOW)
    assert slots == (
        PriceSlot(NOW, NOW + 3600, 0.30),
        PriceSlot(NOW + 3600, NOW + 7200, 0.10),
        PriceSlot(NOW + 7200, NOW + 10800, 0.20),
    )


def test_price_slots_without_a_forecast() -> None:
    assert price_slots(None, None, NOW) == ()
    assert price_slots(state("0.25"), None, NOW) == (PriceSlot(NOW, NOW + 3600, 0.25),)
    assert price_slots(state("unavailable"), "missing", NOW) == ()


@pytest.mark.parametrize(
    ("grid", "pv", "battery", "ev", "expected"),
    [
        (None, 5000.0, None, 3000.0, GRID_ONLY),
        (-2000.0, 5000.0, None, 3000.0, EnergyMix(1.0, 0.0, 0.0)),
        (1000.0, 3000.0, None, 3000.0, EnergyMix(0.75, 0.0, 0.25)),
        (0.0, 2000.0, 2000.0, 3000.0, EnergyMix(0.5, 0.5, 0.0)),
        (0.0, 0.0, None, 3000.0, GRID_ONLY),
        # Without a PV sensor: import and discharge go to the car first.
        (1000.0, None, 1000.0, 4000.0, EnergyMix(0.5, 0.25, 0.25)),
        (500.0, None, None, 0.0, GRID_ONLY),
        (-500.0, None, None, 0.0, EnergyMix(1.0, 0.0, 0.0)),
    ],
)
def test_energy_mix(
    grid: float | None, pv: float | None, battery: float | None, ev: float, expected: EnergyMix
) -> None:
    assert energy_mix(grid_w=grid, pv_w=pv, battery_w=battery, ev_w=ev) == expected


def test_charger_inputs_from_the_model() -> None:
    charger = Charger(charger_id="CP1")
    empty = charger_inputs(charger)
    assert not empty.connected
    assert empty.power_w is None
    assert empty.session_energy_wh is None

    charger.connected = charger.booted = True
    charger.last_seen = T0
    connector = charger.connector(1)
    connector.status = ConnectorStatus.CHARGING
    meter = connector.meter
    meter.timestamp = T0 + timedelta(minutes=5)  # a charger clock ahead of ours
    meter.power_w = 7000.0
    for phase in ("L1", "L2", "L3"):
        meter.current_a.set(phase, 10.0)
    meter.offered_current_a = 16.0
    meter.soc_percent = 55.0
    connector.transaction = Transaction(
        transaction_id="1",
        connector_id=1,
        id_tag="TAG",
        started_at=T0,
        meter_start_wh=1000.0,
        meter_last_wh=3500.0,
    )
    inputs = charger_inputs(charger)
    assert inputs.connected
    assert inputs.plugged
    assert inputs.charging
    assert inputs.power_w == Reading(7000.0, NOW)
    assert inputs.currents_a is not None
    assert inputs.currents_a.values == (10.0, 10.0, 10.0)
    assert inputs.offered_a == 16.0
    assert inputs.phases_in_use == 3
    assert inputs.vehicle_soc == Reading(55.0, NOW)
    assert inputs.session_energy_wh == 2500.0
    assert not inputs.ev_suspended

    # The car stops taking current (full): SuspendedEV tells the manager to count it at 0.
    connector.status = ConnectorStatus.SUSPENDED_EV
    assert charger_inputs(charger).ev_suspended
    connector.status = ConnectorStatus.SUSPENDED_EVSE  # our own pause is not the car's
    assert not charger_inputs(charger).ev_suspended


def test_a_stations_currents_are_its_outlets_added_up() -> None:
    """Two outlets charging: the station draws both cars' currents, line by line (before: the
    outlet that reported last, half of what the station took from the fuse)."""
    charger = Charger(charger_id="DUO", connected=True, booted=True, last_seen=T0)
    for outlet, (l1, l2, l3) in ((1, (10.0, 10.0, 10.0)), (2, (6.5, None, None))):
        connector = charger.connector(outlet)
        connector.status = ConnectorStatus.CHARGING
        connector.meter.timestamp = T0 - timedelta(seconds=outlet)
        connector.meter.power_w = 690.0 * (l1 + (l2 or 0.0) + (l3 or 0.0)) / 3
        for phase, value in zip(("L1", "L2", "L3"), (l1, l2, l3), strict=True):
            if value is not None:
                connector.meter.current_a.set(phase, value)
    inputs = charger_inputs(charger)
    assert inputs.currents_a is not None
    assert inputs.currents_a.values == (16.5, 10.0, 10.0)
    assert inputs.power_w is not None
    assert inputs.power_w.value == pytest.approx(230.0 * (30.0 + 6.5))


def test_price_slots_today_and_tomorrow_any_resolution_and_spelling() -> None:
    quarter = timedelta(minutes=15)
    today = [
        # ENTSO-E style: "time", numeric strings; 15-minute slots.
        {"time": (T0 + k * quarter).isoformat(), "price": str(0.20 + k / 100)}
        for k in range(4)
    ]
    tomorrow = [
        # Octopus style, epoch milliseconds from another integration.
        {
            "valid_from": (T0 + timedelta(hours=1)).timestamp() * 1000,
            "valid_to": (T0 + timedelta(hours=2)).timestamp() * 1000,
            "value_inc_vat": 0.05,
        },
        {"start": T0.isoformat(), "price": float("nan")},  # skipped
        {"start": T0.isoformat(), "price": True},  # skipped
    ]
    state_ = state("0.20", raw_today=today, raw_tomorrow=tomorrow)
    slots = price_slots(state_, "raw_today, raw_tomorrow", NOW)
    assert [s.end - s.start for s in slots] == [900.0] * 4 + [3600.0]
    assert slots[0] == PriceSlot(NOW, NOW + 900, 0.20)
    assert slots[-1] == PriceSlot(NOW + 3600, NOW + 7200, 0.05)
    # Without a configured attribute the common names are found.
    assert price_slots(state_, None, NOW) == slots


def test_price_slots_are_per_kwh_in_the_main_currency_unit() -> None:
    """The plan weighs a sensor's prices against the options' fixed ones (per kWh, main unit)."""
    hour = [{"start": T0.isoformat(), "end": (T0 + timedelta(hours=1)).isoformat(), "price": 8}]
    cents = state("8", unit_of_measurement="ct/kWh", raw_today=hour)
    assert price_slots(cents, None, NOW) == (PriceSlot(NOW, NOW + 3600, pytest.approx(0.08)),)
    # Only the state (no forecast), per MWh; a unit that is no price per energy: as given.
    per_mwh = state("-20", unit_of_measurement="EUR/MWh")
    assert price_slots(per_mwh, None, NOW) == (PriceSlot(NOW, NOW + 3600, pytest.approx(-0.02)),)
    assert price_slots(state("7", unit_of_measurement="EUR"), None, NOW)[0].price == 7.0
    assert price_slots(state("7", unit_of_measurement=7), None, NOW)[0].price == 7.0  # not text


def test_current_price_lasts_until_the_next_known_slot() -> None:
    later = [{"start": (T0 + timedelta(minutes=30)).isoformat(), "price": 0.10}]
    slots = price_slots(state("0.40", prices=later), None, NOW)
    assert slots[0] == PriceSlot(NOW, NOW + 1800, 0.40)
    assert slots[1] == PriceSlot(NOW + 1800, NOW + 5400, 0.10)


@settings(max_examples=300, deadline=None)
@given(
    grid=st.none() | st.floats(min_value=-20000, max_value=20000),
    pv=st.none() | st.floats(min_value=-100, max_value=20000),
    battery=st.none() | st.floats(min_value=-10000, max_value=10000),
    ev=st.floats(min_value=-100, max_value=22000),
)
def test_energy_mix_shares_sum_to_one(
    grid: float | None, pv: float | None, battery: float | None, ev: float
) -> None:
    """The session's solar + battery + grid energy always adds up to the metered energy."""
    mix = energy_mix(grid_w=grid, pv_w=pv, battery_w=battery, ev_w=ev)
    assert all(0.0 <= share <= 1.0 for share in (mix.solar, mix.battery, mix.grid))
    assert mix.solar + mix.battery + mix.grid == pytest.approx(1.0)


def test_forecast_slots_from_the_energy_platform_shape() -> None:
    """Each value is the energy of the period starting then, up to the next one (an hour at
    most); unreadable items are skipped, negative energy is none."""
    hour = 3600.0
    forecast = {
        "wh_hours": {
            (T0 + timedelta(hours=2)).isoformat(): 900,
            T0.isoformat(): 1200.5,
            (T0 + timedelta(minutes=30)).isoformat(): "800",
            (T0 + timedelta(hours=3)).isoformat(): -5,
            "not a time": 100,
            (T0 + timedelta(hours=4)).isoformat(): "lots",
        }
    }
    assert forecast_slots(forecast) == [
        EnergySlot(NOW, NOW + 1800, 1200.5),
        EnergySlot(NOW + 1800, NOW + 1800 + hour, 800.0),  # an hour at most
        EnergySlot(NOW + 2 * hour, NOW + 3 * hour, 900.0),
        EnergySlot(NOW + 3 * hour, NOW + 4 * hour, 0.0),
    ]
    assert forecast_slots(None) == []
    assert forecast_slots({"wh_hours": None}) == []
    assert forecast_slots({"watts": {}}) == []


def test_picked_inputs_name_the_entities_and_a_unit_of_the_wrong_kind() -> None:
    """The stale-input repair names what the user picked: each entity once, its unit where it is
    none of the input's kind (a kWh counter for a power, W for a current); an input no entity is
    picked for keeps the controller's name."""
    options = {
        ems_options.GRID_POWER.key: "sensor.grid_energy",
        ems_options.PV_POWER.key: "sensor.pv",
        ems_options.GRID_CURRENT_L1.key: "sensor.l1",
        ems_options.GRID_CURRENT_L2.key: "sensor.l2",
    }
    states = {
        "sensor.grid_energy": State("sensor.grid_energy", "1.5", {"unit_of_measurement": "kWh"}),
        "sensor.pv": State("sensor.pv", "unavailable", {"unit_of_measurement": "kW"}),
        "sensor.l1": State("sensor.l1", "5", {"unit_of_measurement": "W"}),
    }
    names = {"grid_power", "pv_power", "grid_currents", "grid_current_l1", "battery_soc"}
    assert picked_inputs(names, options, states.get) == (
        "battery_soc, sensor.grid_energy (kWh), sensor.l1 (W), sensor.l2, sensor.pv"
    )
