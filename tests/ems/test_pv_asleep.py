"""A PV sensor missing at night is an inverter asleep (``measure.with_pv_asleep``): 0 W, not a
stale input; by day, or where the sun is not known, it stays what it was."""

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
from custom_components.ocpp_ems.core.ems.measure import PV_ASLEEP_BELOW_DEG, with_pv_asleep

from .util import car, site

NOW = 10_000.0
SITE = SiteSettings()


@pytest.mark.parametrize(
    "pv",
    [
        Reading(None, NOW),  # unavailable
        Reading(float("nan"), NOW),
        Reading(0.0, NOW - SITE.pv_max_age_s - 1),  # silent since dusk
    ],
)
def test_a_missing_pv_reading_is_0_w_while_the_sun_is_low(pv: Reading) -> None:
    inputs = SiteInputs(pv_w=pv, pv_available_w=pv, sun_elevation_deg=PV_ASLEEP_BELOW_DEG - 0.1)
    asleep = with_pv_asleep(inputs, SITE, NOW)
    assert asleep.pv_w == Reading(0.0, NOW)
    assert asleep.pv_available_w == Reading(0.0, NOW)


@pytest.mark.parametrize("sun", [PV_ASLEEP_BELOW_DEG, 40.0, None])
def test_by_day_or_without_the_sun_it_stays_missing(sun: float | None) -> None:
    inputs = SiteInputs(pv_w=Reading(None, NOW), sun_elevation_deg=sun)
    assert with_pv_asleep(inputs, SITE, NOW) == inputs


def test_a_fresh_reading_or_none_picked_is_left_as_it_is() -> None:
    inputs = SiteInputs(pv_w=Reading(12.0, NOW - 5), sun_elevation_deg=-30.0)
    assert with_pv_asleep(inputs, SITE, NOW) == inputs  # a little PV at dusk counts as read
    assert with_pv_asleep(SiteInputs(sun_elevation_deg=-30.0), SITE, NOW).pv_w is None


def test_the_controller_sees_no_stale_pv_at_night() -> None:
    """What the driver hands the controller at night: no stale PV, no surplus (the PV caps it at
    0 W): a Solar car is paused for want of sun, not for a stale input."""
    manager = EnergyManager(SiteSettings(), {"a": ChargerSettings(mode=Mode.SOLAR)})
    decision = None
    for t in range(0, 200, 5):
        night = replace(
            site(t, -2000.0, {"a": car(t)}), pv_w=Reading(None, t), sun_elevation_deg=-20.0
        )
        decision = manager.update(with_pv_asleep(night, SITE, t), t)
    assert decision is not None
    assert decision.stale_inputs == frozenset()
    assert decision.chargers["a"].target.paused
    assert not decision.chargers["a"].stale
