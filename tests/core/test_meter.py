"""Meter value parsing and energy accounting (pure functions on the model)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from custom_components.ocpp_ems.core.meter import apply_energy, apply_reading, clear_flow
from custom_components.ocpp_ems.core.meter_values import parse_meter_values
from custom_components.ocpp_ems.core.model import Charger, Connector, Transaction

T0 = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)


def entry(samples: list[dict[str, Any]], at: datetime = T0) -> dict[str, Any]:
    return {"timestamp": at.isoformat(), "sampled_value": samples}


def one(samples: list[dict[str, Any]]) -> Any:
    readings = parse_meter_values([entry(samples)])
    assert len(readings) == 1
    return readings[0]


def apply_on_time(
    charger: Charger,
    connector: Connector,
    register_wh: float,
    transaction: Transaction | None,
    at: datetime,
) -> bool:
    """:func:`apply_energy` of a value received when stamped (the charger's clock is right)."""
    return apply_energy(charger, connector, register_wh, transaction, at, received=at)


def test_default_measurand_is_energy_register() -> None:
    assert one([{"value": "1234.5"}]).energy_register_wh == 1234.5


@pytest.mark.parametrize(
    ("sample", "attr", "expected"),
    [
        ({"value": "2.5", "unit": "kWh"}, "energy_register_wh", 2500),
        ({"value": "2500", "unit": "Wh"}, "energy_register_wh", 2500),
        ({"value": "7.2", "unit": "kW", "measurand": "Power.Active.Import"}, "power_w", 7200),
        ({"value": "720", "unit": "W", "measurand": "Power.Active.Import"}, "power_w", 720),
        ({"value": "13", "measurand": "Current.Offered", "unit": "A"}, "offered_current_a", 13),
        ({"value": "80", "measurand": "SoC", "unit": "Percent"}, "soc_percent", 80),
        ({"value": "30", "measurand": "Temperature"}, "temperature_c", 30),
        ({"value": "30", "measurand": "Temperature", "unit": "Celcius"}, "temperature_c", 30),
        ({"value": "86", "measurand": "Temperature", "unit": "Fahrenheit"}, "temperature_c", 30),
        ({"value": "303.15", "measurand": "Temperature", "unit": "K"}, "temperature_c", 30),
    ],
)
def test_units(sample: dict[str, Any], attr: str, expected: float) -> None:
    assert getattr(one([sample]), attr) == pytest.approx(expected)


def test_unusable_samples_are_dropped() -> None:
    samples: list[Any] = [
        {"value": "abc"},
        {"value": "nan"},
        {"value": "1", "measurand": "Temperature", "unit": "Percent"},
        {"value": "1", "measurand": "Power.Active.Import", "unit": "kvar"},
        {"value": "1", "measurand": 5},
        "junk",
        {"value": "5", "measurand": "Frequency"},
        {"value": "12", "measurand": "SoC"},
    ]
    reading = one(samples)
    assert reading.energy_register_wh is None
    assert reading.power_w is None
    assert reading.temperature_c is None
    assert reading.soc_percent == 12


def test_phases_and_totals() -> None:
    reading = one(
        [
            {"value": "10", "measurand": "Current.Import", "phase": "L1-N"},
            {"value": "11", "measurand": "Current.Import", "phase": "L2"},
            {"value": "12", "measurand": "Current.Import", "phase": "L3"},
            {"value": "1", "measurand": "Current.Import", "phase": "N"},
            {"value": "1000", "measurand": "Power.Active.Import", "phase": "L1"},
            {"value": "2000", "measurand": "Power.Active.Import", "phase": "L2"},
            {"value": "400", "measurand": "Voltage", "phase": "L1-L2"},
            {"value": "231", "measurand": "Voltage", "phase": "L2-N"},
            {"value": "400", "measurand": "Voltage", "phase": "L2-L3"},
            {"value": "5", "measurand": "Energy.Active.Import.Register", "phase": "L1"},
            {"value": "6", "measurand": "Energy.Active.Import.Register", "phase": "L2"},
        ]
    )
    assert reading.current_a == {"L1": 10, "L2": 11, "L3": 12}
    assert reading.power_w == 3000
    assert reading.voltage_v["L2"] == 231  # L-N wins over L-L
    assert reading.voltage_v["L1"] == pytest.approx(230.9, abs=0.1)
    assert reading.energy_register_wh == 11


def test_phase_less_total_wins() -> None:
    reading = one(
        [
            {"value": "1000", "measurand": "Power.Active.Import", "phase": "L1"},
            {"value": "2900", "measurand": "Power.Active.Import"},
        ]
    )
    assert reading.power_w == 2900


def test_inlet_only_used_without_outlet() -> None:
    reading = one(
        [
            {"value": "100", "measurand": "Power.Active.Import", "location": "Inlet"},
            {"value": "90", "measurand": "Power.Active.Import", "location": "Outlet"},
        ]
    )
    assert reading.power_w == 90
    reading = one([{"value": "100", "measurand": "Power.Active.Import", "location": "Inlet"}])
    assert reading.power_w == 100


def test_empty_and_invalid_lists() -> None:
    assert parse_meter_values(None) == []
    assert parse_meter_values("x") == []
    assert parse_meter_values([entry([]), "junk", {"timestamp": "x"}]) == []


def test_readings_sorted_and_context() -> None:
    later = entry([{"value": "2", "context": "Sample.Periodic"}], T0 + timedelta(minutes=1))
    earlier = entry([{"value": "1", "context": "Transaction.Begin"}], T0)
    readings = parse_meter_values([later, earlier])
    assert [r.energy_register_wh for r in readings] == [1, 2]
    assert readings[0].context == "Transaction.Begin"
    camel = parse_meter_values([{"timestamp": T0.isoformat(), "sampledValue": [{"value": "3"}]}])
    assert camel[0].energy_register_wh == 3


def test_apply_reading_and_old_readings_ignored() -> None:
    charger = Charger(charger_id="c")
    reading = one(
        [
            {"value": "5000"},
            {"value": "16", "measurand": "Current.Import", "phase": "L1"},
            {"value": "230", "measurand": "Voltage"},
        ]
    )
    assert apply_reading(charger, 1, reading, None, received=T0)
    meter = charger.connector(1).meter
    assert meter.energy_register_wh == 5000
    assert meter.current_a.l1 == 16
    assert meter.timestamp == T0
    old = parse_meter_values([entry([{"value": "100"}], T0 - timedelta(minutes=5))])[0]
    assert not apply_reading(charger, 1, old, None, received=T0)
    assert meter.energy_register_wh == 5000
    assert charger.lifetime_energy.total_wh == 5000


def test_lifetime_register_reset_and_jump() -> None:
    charger = Charger(charger_id="c")
    connector = charger.connector(1)
    minute = timedelta(minutes=1)
    apply_on_time(charger, connector, 1000, None, T0)
    apply_on_time(charger, connector, 1500, None, T0 + minute)
    assert charger.lifetime_energy.total_wh == 1500
    apply_on_time(charger, connector, 10, None, T0 + 2 * minute)  # reset (a candidate)
    assert charger.lifetime_energy.total_wh == 1500
    apply_on_time(charger, connector, 110, None, T0 + 3 * minute)  # confirms it: +100
    assert charger.lifetime_energy.total_wh == 1600
    # 1 GWh in one minute is not energy, it is a broken register: not counted...
    apply_on_time(charger, connector, 1e9, None, T0 + 4 * minute)
    assert charger.lifetime_energy.total_wh == 1600
    # ...and once confirmed, only the rise after the jump counts.
    apply_on_time(charger, connector, 1e9 + 100, None, T0 + 5 * minute)
    assert charger.lifetime_energy.total_wh == 1700


def test_session_energy_survives_reset_and_jump() -> None:
    charger = Charger(charger_id="c")
    connector = charger.connector(1)
    tx = Transaction(
        transaction_id="1",
        connector_id=1,
        id_tag=None,
        started_at=T0,
        meter_start_wh=1000,
        meter_last_wh=1000,
    )
    apply_on_time(charger, connector, 1000, None, T0)
    apply_on_time(charger, connector, 1800, tx, T0 + timedelta(minutes=5))
    apply_on_time(charger, connector, 200, tx, T0 + timedelta(minutes=6))  # reset to a low value
    assert tx.energy_wh == 800
    apply_on_time(charger, connector, 500, tx, T0 + timedelta(minutes=7))
    assert tx.energy_wh == 1100
    apply_on_time(charger, connector, 5e8, tx, T0 + timedelta(minutes=8))  # bogus jump
    assert tx.energy_wh == 1100


def test_lifetime_with_whole_charger_meter() -> None:
    charger = Charger(charger_id="c")
    charger.connector(1)
    charger.connector(2)
    main = charger.connector(0)
    apply_on_time(charger, main, 10_000, None, T0)
    apply_on_time(charger, charger.connector(1), 500, None, T0)  # outlet meters do not add
    apply_on_time(charger, main, 10_400, None, T0 + timedelta(minutes=1))
    assert charger.lifetime_energy.total_wh == 10_400


def test_lifetime_with_several_outlet_meters() -> None:
    charger = Charger(charger_id="c")
    one_, two = charger.connector(1), charger.connector(2)
    apply_energy(charger, one_, 100, None, T0)
    apply_energy(charger, two, 5000, None, T0)
    apply_energy(charger, one_, 300, None, T0)
    apply_energy(charger, two, 5100, None, T0)
    apply_energy(charger, two, 50, None, T0)  # reset on outlet 2: ignored
    assert charger.lifetime_energy.total_wh == 300


def test_single_outlet_ignores_outlet_when_main_meter_exists() -> None:
    charger = Charger(charger_id="c")
    main = charger.connector(0)
    outlet = charger.connector(1)
    apply_energy(charger, main, 1000, None, T0)
    apply_energy(charger, outlet, 5, None, T0)
    assert charger.lifetime_energy.total_wh == 1000


def test_clear_flow() -> None:
    charger = Charger(charger_id="c")
    connector = charger.connector(1)
    clear_flow(connector)
    assert connector.meter.power_w is None
    connector.meter.power_w = 7000
    connector.meter.current_a.set("L1", 16)
    clear_flow(connector)
    assert connector.meter.power_w == 0
    assert connector.meter.current_a.l1 == 0
    assert connector.meter.current_a.l2 is None
