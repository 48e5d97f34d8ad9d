"""The energy manager's options table (core/ems/options.py): keys, one default each, bounds, readers."""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import pytest

from custom_components.ocpp_ems.core.ems import (
    BatterySettings,
    ChargerSettings,
    PlanSettings,
    SiteSettings,
    SolarSettings,
    StaleFallback,
)
from custom_components.ocpp_ems.core.ems import options as table
from custom_components.ocpp_ems.core.ems.config import BATTERY_ASSIST_DEFAULT_W
from custom_components.ocpp_ems.core.ems.options import (
    ConfigEntryRef,
    EntityRef,
    Kind,
    Number,
    OptionalNumber,
    Section,
    Select,
    Text,
    Toggle,
)

# The documented defaults (README, "Energy manager options"). None: unset (an input the energy
# manager goes without, no main fuse, the controller's own stale ages).
DOCUMENTED_DEFAULTS: dict[str, Any] = {
    "ems_enabled": False,
    "grid_power_entity": None,
    "grid_current_l1_entity": None,
    "grid_current_l2_entity": None,
    "grid_current_l3_entity": None,
    "price_entity": None,
    "price_forecast_attribute": None,
    "session_price": None,
    "feed_in_price_entity": None,
    "feed_in_price": 0.0,
    "cheap_grid_price": None,
    "fuse_a": None,
    "site_phases": 3,
    "voltage_v": 230.0,
    "pv_power_entity": None,
    "pv_available_power_entity": None,
    "zero_export": False,
    "stop_early_in_dips": True,
    "min_sun_share": 90,
    "share_surplus": False,
    "solar_forecast_entry": None,
    "forecast_confidence": 70,
    "house_load_w": 500.0,
    "battery_power_entity": None,
    "battery_soc_entity": None,
    "battery_discharge_limit_entity": None,
    "battery_priority_soc": 100.0,
    "battery_max_charge_w": None,
    "battery_capacity_kwh": None,
    "battery_assist": False,
    "battery_floor_soc": 50.0,
    "battery_assist_power_w": 2000.0,
    "stale_fallback": "min_current",
    "stale_after_s": None,
    "stale_grace_s": 300.0,
    "min_write_interval_s": 10.0,
}


def test_battery_assist_power_default_has_one_home() -> None:
    """The power the car may get once battery-assisted charging is allowed: the controller's
    constant (the controller itself counts 0 W while it is not allowed)."""
    assert table.BATTERY_ASSIST_POWER.default == BATTERY_ASSIST_DEFAULT_W == 2000.0
    assert table.site_settings({}).battery.max_discharge_to_car_w == 0.0
    assert table.site_settings({"battery_assist": True}).battery.max_discharge_to_car_w == (
        BATTERY_ASSIST_DEFAULT_W
    )


def test_input_groups() -> None:
    """The power inputs are checked for a power unit; the measured ones for being distinct
    sensors (two prices may be one sensor: a net-metering feed-in earns the import price)."""
    assert {option.key for option in table.POWER_INPUTS} == {
        "grid_power_entity",
        "pv_power_entity",
        "pv_available_power_entity",
        "battery_power_entity",
    }
    assert {option.key for option in table.MEASURED_INPUTS} == {
        option.key for option in table.SENSOR_INPUTS
    } - {"price_entity", "feed_in_price_entity"}


def test_keys_are_the_stored_ones_each_with_exactly_one_default() -> None:
    """Stored entries keep working: the keys are the ones options were always saved under (plus
    the new zero_export), each once, and each row has one default (a dict cannot hold two)."""
    assert len(set(table.KEYS)) == len(table.KEYS)
    assert tuple(DOCUMENTED_DEFAULTS) == table.KEYS
    assert {option.key: option.default for option in table.OPTIONS} == DOCUMENTED_DEFAULTS


def test_site_settings_of_nothing_are_the_documented_defaults() -> None:
    site = table.site_settings({})
    # The controller's own defaults and the table's are the same values.
    assert site == SiteSettings()
    assert site.voltage_v == 230.0
    assert site.fuse_a is None
    assert site.site_phases == 3
    assert site.solar == SolarSettings()
    assert site.battery == BatterySettings(
        priority_soc=100.0, allow_discharge_to_car=False, floor_soc=50.0, max_discharge_to_car_w=0.0
    )
    assert (site.grid_max_age_s, site.pv_max_age_s, site.battery_max_age_s) == (60.0, 120.0, 120.0)


def test_site_settings_of_options() -> None:
    site = table.site_settings(
        {
            "fuse_a": 25,
            "site_phases": 1,
            "voltage_v": 240,
            "zero_export": True,
            "stop_early_in_dips": False,
            "min_sun_share": 75,
            "share_surplus": True,
            "battery_priority_soc": 80,
            "battery_max_charge_w": 4500,
            "battery_capacity_kwh": 13.5,
            "battery_assist": True,
            "battery_floor_soc": 30,
            "battery_assist_power_w": 1200,
            "stale_after_s": 30,
            "forecast_confidence": 85,
            "house_load_w": 750,
            "feed_in_price": 0.085,
        }
    )
    assert site.fuse_a == 25.0
    assert site.site_phases == 1
    assert site.voltage_v == 240.0
    assert site.solar.zero_export
    # Off: a dip is held for the whole stop delay (the restart-cost rule is off).
    assert site.solar.restart_cost_factor == 0.0
    assert site.solar.min_sun_share == 0.75
    assert table.site_settings({}).solar.restart_cost_factor == SolarSettings().restart_cost_factor
    # On: solar cars charge side by side (the stagger rule off); off by default.
    assert not site.solar.stagger_starts
    assert table.site_settings({}).solar.stagger_starts
    assert site.battery == replace(
        BatterySettings(),
        priority_soc=80.0,
        allow_discharge_to_car=True,
        floor_soc=30.0,
        max_discharge_to_car_w=1200.0,
        max_charge_w=4500.0,
        capacity_wh=13500.0,  # entered in kWh, counted in Wh
    )
    assert (site.grid_max_age_s, site.pv_max_age_s, site.battery_max_age_s) == (30.0, 30.0, 30.0)
    assert site.plan == PlanSettings(
        forecast_confidence=0.85, house_load_w=750.0, feed_in_price=0.085
    )
    # The assist power counts only while assisted charging is allowed.
    assert table.site_settings({"battery_assist_power_w": 1200}).battery.max_discharge_to_car_w == 0


def test_charger_wide_options() -> None:
    """The options every charger of the site follows (stale inputs, write pacing)."""
    defaults = ChargerSettings()
    assert table.STALE_FALLBACK.read({}) is defaults.stale_fallback
    assert table.STALE_GRACE.read({}) == defaults.stale_grace_s == 300.0
    assert table.MIN_WRITE_INTERVAL.read({}) == defaults.min_write_interval_s == 10.0
    options = {"stale_fallback": "last_limit", "stale_grace_s": 120, "min_write_interval_s": 0}
    assert table.STALE_FALLBACK.read(options) is StaleFallback.LAST_LIMIT
    assert table.STALE_GRACE.read(options) == 120.0
    assert table.MIN_WRITE_INTERVAL.read(options) == 0.0  # 0: no minimum


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (150, 100.0),  # above the maximum: clamped
        (-5, 0.0),  # below the minimum: clamped
        ("40", 40.0),
        (33.5, 33.5),
        ("high", 50.0),  # not a number: the default
        (math.nan, 50.0),
        (math.inf, 50.0),
        (True, 50.0),
        ([], 50.0),
        (None, 50.0),
    ],
)
def test_bounds_are_enforced_on_read(raw: Any, expected: float) -> None:
    assert table.BATTERY_FLOOR_SOC.read({"battery_floor_soc": raw}) == expected
    assert table.site_settings({"battery_floor_soc": raw}).battery.floor_soc == expected


def test_every_number_has_sane_bounds_and_a_default_within_them() -> None:
    for option in table.OPTIONS:
        if isinstance(option, (Number, OptionalNumber)):
            assert option.minimum < option.maximum, option.key
            assert option.step > 0, option.key
            assert option.unit, option.key
            if option.default is not None:
                assert option.minimum <= option.default <= option.maximum, option.key
            # Just outside the bounds reads back on the bound (or unset, where 0 or less means
            # it); the form refuses it.
            assert option.parse(option.maximum + 1) == option.maximum
            low = option.parse(option.minimum - 1)
            zero_is_unset = getattr(option, "zero_is_unset", False)
            assert low == (None if zero_is_unset and option.minimum - 1 <= 0 else option.minimum)
            assert not option.in_bounds(option.maximum + 1), option.key
            assert not option.in_bounds(option.minimum - 1), option.key
            assert option.in_bounds(option.minimum), option.key
            assert option.in_bounds(option.maximum), option.key
            assert option.in_bounds(None), option.key  # empty: the default, or unset
            assert option.form_minimum == (0 if zero_is_unset else option.minimum), option.key


@pytest.mark.parametrize(
    ("raw", "stored", "read", "in_bounds"),
    [
        (0, None, None, True),  # no main fuse
        (None, None, None, True),
        (-25, None, None, False),  # read as none where stored, refused in the form
        # Below 6 A no car gets its minimum current: refused, read as 6 A where stored.
        (1, 6, 6.0, False),
        (5, 6, 6.0, False),
        (6, 6, 6.0, True),
        (35.0, 35, 35.0, True),
        (400, 400, 400.0, True),
        (1000, 400, 400.0, False),
    ],
)
def test_the_main_fuse_is_6_a_or_none(
    raw: Any, stored: int | None, read: float | None, in_bounds: bool
) -> None:
    fuse = table.FUSE
    assert fuse.minimum == ChargerSettings().min_current_a == 6.0
    assert fuse.form_minimum == 0  # the field takes 0: no fuse
    assert fuse.from_form(raw) == stored
    assert fuse.read({"fuse_a": raw}) == read
    assert fuse.in_bounds(raw) is in_bounds


def test_optional_numbers() -> None:
    assert table.FUSE.read({}) is None
    assert table.FUSE.read({"fuse_a": 0}) is None  # 0: no main fuse
    assert table.FUSE.read({"fuse_a": "35"}) == 35.0
    assert table.FUSE.from_form(0) is None  # not stored
    assert table.FUSE.from_form(35.0) == 35
    assert table.STALE_AFTER.read({"stale_after_s": 5}) == 10.0
    assert table.STALE_AFTER.stored(None) is None


def test_battery_capacity_is_entered_in_kwh_and_counted_in_wh() -> None:
    """Empty: learned (None in the core); a datasheet's kWh, two decimals kept, become Wh;
    stored values beyond the bounds are clamped, garbage is the default (learned)."""
    capacity = table.BATTERY_CAPACITY
    assert (capacity.section, capacity.kind, capacity.unit) == (
        Section.BATTERY,
        Kind.NUMBER,
        "kWh",
    )
    assert table.site_settings({}).battery.capacity_wh is None
    assert capacity.from_form(None) is None  # an empty field is not stored
    assert capacity.from_form(10.24) == 10.24
    assert capacity.from_form(13.0) == 13.0
    assert table.site_settings({"battery_capacity_kwh": 10.24}).battery.capacity_wh == (
        pytest.approx(10240.0)
    )
    assert table.site_settings({"battery_capacity_kwh": "9.6"}).battery.capacity_wh == 9600.0
    assert table.site_settings({"battery_capacity_kwh": 0}).battery.capacity_wh == 500.0
    assert table.site_settings({"battery_capacity_kwh": 500}).battery.capacity_wh == 200000.0
    assert table.site_settings({"battery_capacity_kwh": "big"}).battery.capacity_wh is None


def test_selects() -> None:
    phases = table.SITE_PHASES
    assert phases.form_choices == ["1", "3"]
    assert phases.read({"site_phases": 1}) == 1
    assert phases.read({"site_phases": "1"}) == 1
    assert phases.read({"site_phases": 1.0}) == 1
    assert phases.read({"site_phases": 2}) == 3  # not a choice: the default
    assert phases.from_form("1") == 1  # stored as the number it always was
    assert phases.to_form(3) == "3"
    fallback = table.STALE_FALLBACK
    assert fallback.form_choices == [str(f) for f in StaleFallback]
    assert fallback.read({"stale_fallback": "pause"}) is StaleFallback.PAUSE
    assert fallback.read({"stale_fallback": "sometimes"}) is StaleFallback.MIN_CURRENT
    stored = fallback.from_form("pause")
    assert stored == "pause"
    assert type(stored) is str  # plain JSON, not the enum


def test_text_entities_and_toggles() -> None:
    assert table.PRICE_FORECAST_ATTRIBUTE.read({"price_forecast_attribute": " raw_today "}) == (
        "raw_today"
    )
    assert table.PRICE_FORECAST_ATTRIBUTE.from_form("  ") is None
    assert table.GRID_POWER.read({"grid_power_entity": "sensor.grid"}) == "sensor.grid"
    assert table.GRID_POWER.read({"grid_power_entity": ""}) is None
    assert table.GRID_POWER.read({"grid_power_entity": 5}) is None
    assert table.EMS_ENABLED.read({"ems_enabled": True}) is True
    assert table.EMS_ENABLED.read({"ems_enabled": False}) is False
    assert table.EMS_ENABLED.read({}) is False
    # The solar forecast: a config entry id; unset, the Energy dashboard's.
    assert table.SOLAR_FORECAST.read({"solar_forecast_entry": "01JABC"}) == "01JABC"
    assert table.SOLAR_FORECAST.read({"solar_forecast_entry": ""}) is None
    assert table.SOLAR_FORECAST.kind is Kind.CONFIG_ENTRY


def test_form_values_round_trip() -> None:
    """What the form shows for a default is read back as that default and stored plainly."""
    for option in table.OPTIONS:
        if option.default is None:
            continue
        shown = option.to_form(option.default)
        assert option.parse(shown) == option.default, option.key
        assert option.from_form(shown) == option.stored(option.default), option.key
    # Whole numbers of whole-step fields are stored as int, like before.
    assert table.MIN_WRITE_INTERVAL.from_form(15.0) == 15
    assert type(table.MIN_WRITE_INTERVAL.from_form(15.0)) is int
    assert table.VOLTAGE.from_form(230.5) == 230.5


def test_sections_and_fields() -> None:
    """The switch sits on top; every section has rows; only the advanced one is folded."""
    assert table.section_options(None) == (table.EMS_ENABLED,)
    for part in Section:
        assert table.section_options(part), part
        assert part.collapsed is (part is Section.ADVANCED)
    kinds = {option.key: option.kind for option in table.OPTIONS}
    assert kinds["site_phases"] is Kind.SELECT
    assert kinds["battery_floor_soc"] is Kind.SLIDER
    assert kinds["voltage_v"] is Kind.NUMBER
    assert kinds["battery_discharge_limit_entity"] is Kind.ENTITY
    assert kinds["price_forecast_attribute"] is Kind.TEXT
    assert kinds["battery_assist"] is Kind.BOOLEAN
    classes = {
        option.key: option.device_class
        for option in table.OPTIONS
        if isinstance(option, EntityRef) and option.kind is Kind.SENSOR
    }
    assert set(classes.values()) == {"power", "current", "battery", "monetary"}
    assert [option.key for option in table.SENSOR_INPUTS] == list(classes)
    assert "battery_discharge_limit_entity" not in classes  # written, not followed
    assert table.BATTERY_DISCHARGE_LIMIT.domains == ("number", "input_number")
    # Every row is one of the known kinds of field.
    known = (Toggle, EntityRef, ConfigEntryRef, Text, Number, OptionalNumber, Select)
    assert all(isinstance(option, known) for option in table.OPTIONS)


def test_cheap_grid_price_may_be_zero_or_negative() -> None:
    """0 and negative prices are limits (charge when the grid is free or pays), not unset."""
    assert table.site_settings({}).cheap_price is None
    assert table.site_settings({"cheap_grid_price": 0}).cheap_price == 0.0
    assert table.site_settings({"cheap_grid_price": -0.05}).cheap_price == -0.05
    assert table.site_settings({"cheap_grid_price": -99}).cheap_price == -10.0  # clamped
    assert table.site_settings({"cheap_grid_price": "cheap"}).cheap_price is None
