"""A PV sensor missing while its inverter sleeps is 0 W, not a stale input (``pv_sleep.py``): at
night; on a dark winter morning or evening (the sun low, the sensor fell silent producing little
within a night); by day, where the sun is not known, or after it failed producing, it stays what
it was."""

from __future__ import annotations

from dataclasses import replace

import pytest

from custom_components.ocpp_ems.core.ems import (
    ChargerSettings,
    EnergyManager,
    Mode,
    Reading,
    SiteInputs,
    SiteSettings,
)
from custom_components.ocpp_ems.core.ems.driver import ChargerLink, EmsDriver
from custom_components.ocpp_ems.core.ems.pv_sleep import (
    PV_ASLEEP_BELOW_DEG,
    PV_DOZING_W,
    PV_LOW_SUN_DEG,
    PV_NIGHT_S,
    PvSleep,
)

from .test_driver import TIMING, rig
from .util import car, site

NOW = 100_000.0
SITE = SiteSettings()
LOW_SUN = (PV_ASLEEP_BELOW_DEG + PV_LOW_SUN_DEG) / 2  # a dark winter morning's sun
MISSING = Reading(None, NOW)


def inputs(pv: Reading | None, sun: float | None, available: Reading | None = None) -> SiteInputs:
    return SiteInputs(pv_w=pv, pv_available_w=available, sun_elevation_deg=sun)


@pytest.mark.parametrize(
    "pv",
    [
        MISSING,  # unavailable
        Reading(float("nan"), NOW),
        Reading(2500.0, NOW - SITE.pv_max_age_s - 1),  # silent (a stale reading of any size)
    ],
)
def test_a_missing_pv_reading_is_0_w_while_the_sun_is_below_the_horizon_line(pv: Reading) -> None:
    asleep = PvSleep().apply(inputs(pv, PV_ASLEEP_BELOW_DEG - 0.1, pv), SITE, NOW)
    assert asleep.pv_w == Reading(0.0, NOW)
    assert asleep.pv_available_w == Reading(0.0, NOW)


@pytest.mark.parametrize("sun", [PV_ASLEEP_BELOW_DEG, 40.0, None])
def test_by_day_or_without_the_sun_and_no_reading_before_it_stays_missing(
    sun: float | None,
) -> None:
    before = inputs(MISSING, sun)
    assert PvSleep().apply(before, SITE, NOW) == before


def test_a_fresh_reading_or_none_picked_is_left_as_it_is() -> None:
    read = inputs(Reading(12.0, NOW - 5), -30.0)
    assert PvSleep().apply(read, SITE, NOW) == read  # a little PV at dusk counts as read
    assert PvSleep().apply(inputs(None, -30.0), SITE, NOW).pv_w is None


def _fell_silent_at(value: float, hours_ago: float) -> PvSleep:
    """A PvSleep that saw the sensor read ``value`` (usable) ``hours_ago``."""
    sleep = PvSleep()
    then = NOW - hours_ago * 3600.0
    sleep.apply(inputs(Reading(value, then), None, Reading(value, then)), SITE, then)
    return sleep


def test_a_dark_winter_morning_keeps_an_inverter_that_fell_asleep_producing_little() -> None:
    """It went unavailable at dusk reading a few watts; 16 hours later the sun is up (10
    degrees) and it has not woken yet: asleep. It reads again: that counts."""
    sleep = _fell_silent_at(PV_DOZING_W * 0.2, 16)
    morning = sleep.apply(inputs(MISSING, LOW_SUN, MISSING), SITE, NOW)
    assert morning.pv_w == Reading(0.0, NOW)
    assert morning.pv_available_w == Reading(0.0, NOW)
    awake = inputs(Reading(40.0, NOW + 60), LOW_SUN)
    assert sleep.apply(awake, SITE, NOW + 60) == awake


@pytest.mark.parametrize(
    ("value", "hours_ago", "sun"),
    [
        (PV_DOZING_W * 10, 0.2, LOW_SUN),  # failed while producing: a fault, named
        (PV_DOZING_W * 0.2, PV_NIGHT_S / 3600 + 1, LOW_SUN),  # missing longer than a night
        (PV_DOZING_W * 0.2, 16, PV_LOW_SUN_DEG),  # the sun well up: it would be awake
    ],
)
def test_a_sensor_missing_after_producing_for_longer_than_a_night_or_in_sun_is_named(
    value: float, hours_ago: float, sun: float
) -> None:
    missing = inputs(MISSING, sun)
    assert _fell_silent_at(value, hours_ago).apply(missing, SITE, NOW) == missing


def test_a_silent_sensors_last_report_counts_without_a_reading_seen_before() -> None:
    """After a restart nothing was seen: a silent sensor's own last report tells (a few watts:
    asleep; a few kilowatts: a fault), an unavailable one's nothing (named above 5 degrees)."""
    dozing = Reading(PV_DOZING_W * 0.2, NOW - 3600.0)
    assert PvSleep().apply(inputs(dozing, LOW_SUN), SITE, NOW).pv_w == Reading(0.0, NOW)
    producing = inputs(Reading(PV_DOZING_W * 10, NOW - 3600.0), LOW_SUN)
    assert PvSleep().apply(producing, SITE, NOW) == producing
    unavailable = inputs(MISSING, LOW_SUN)
    assert PvSleep().apply(unavailable, SITE, NOW) == unavailable


def test_after_a_restart_the_last_usable_readings_still_count() -> None:
    """Stored with the manager's state: a restart after dusk, the sensor unavailable since, at
    a dark morning's sun (before: the 5-degree rule alone, and the repair named the sensor)."""
    stored = _fell_silent_at(PV_DOZING_W * 0.2, 16).to_dict()
    assert stored == {
        "pv_w": [PV_DOZING_W * 0.2, NOW - 16 * 3600.0],
        "pv_available_w": [PV_DOZING_W * 0.2, NOW - 16 * 3600.0],
    }
    restarted = PvSleep()
    restarted.load(stored)
    morning = restarted.apply(inputs(MISSING, LOW_SUN, MISSING), SITE, NOW)
    assert (morning.pv_w, morning.pv_available_w) == (Reading(0.0, NOW), Reading(0.0, NOW))


def test_the_driver_stores_them_with_the_managers_state() -> None:
    r = rig(mode=Mode.SOLAR)
    r.clock.t = NOW - 16 * 3600.0
    r.driver.step(site(r.clock.t, 100.0, pv=PV_DOZING_W * 0.2), r.clock.t, None)
    stored = r.driver.dump()
    restarted = EmsDriver(r.driver.site, r.driver._options, clock=r.clock, timing=lambda: TIMING)
    restarted.load(stored)
    restarted.add_charger("a", ChargerLink(model=r.model, control=lambda: r.control))
    morning = replace(site(NOW, 100.0), pv_w=MISSING, sun_elevation_deg=LOW_SUN)
    assert restarted.step(morning, NOW, None).decision.stale_inputs == frozenset()
    unknown = EmsDriver(r.driver.site, r.driver._options, clock=r.clock, timing=lambda: TIMING)
    unknown.add_charger("a", ChargerLink(model=r.model, control=lambda: r.control))
    assert unknown.step(morning, NOW, None).decision.stale_inputs != frozenset()


@pytest.mark.parametrize(
    "stored",
    [
        None,
        "x",
        {"pv_w": [20.0]},
        {"pv_w": [float("nan"), NOW]},
        {"pv_w": [True, NOW]},
        {"pv_w": ["20", NOW]},
        {"pv_w": {"value": 20.0}},
        {"battery_w": [20.0, NOW]},
    ],
)
def test_a_damaged_stored_reading_is_skipped(stored: object) -> None:
    restarted = PvSleep()
    restarted.load(stored)
    assert restarted.to_dict() == {}


def test_a_sensor_no_longer_picked_is_forgotten() -> None:
    sleep = _fell_silent_at(PV_DOZING_W * 0.2, 1)
    sleep.apply(inputs(None, None), SITE, NOW)  # unpicked
    missing = inputs(MISSING, LOW_SUN)
    assert sleep.apply(missing, SITE, NOW) == missing


def test_the_controller_sees_no_stale_pv_at_night() -> None:
    """What the driver hands the controller at night: no stale PV, no surplus (the PV caps it at
    0 W): a Solar car is paused for want of sun, not for a stale input."""
    manager = EnergyManager(SiteSettings(), {"a": ChargerSettings(mode=Mode.SOLAR)})
    sleep = PvSleep()
    decision = None
    for t in range(0, 200, 5):
        night = replace(
            site(t, -2000.0, {"a": car(t)}), pv_w=Reading(None, t), sun_elevation_deg=-20.0
        )
        decision = manager.update(sleep.apply(night, SITE, t), t)
    assert decision is not None
    assert decision.stale_inputs == frozenset()
    assert decision.chargers["a"].target.paused
    assert not decision.chargers["a"].stale
