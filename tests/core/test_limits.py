"""The limit rules' single home (core/limits.py): bounds, step, unit and A <-> W with one voltage,
the limit in force, the pause strategy."""

from __future__ import annotations

import pytest

from custom_components.ocpp_ems.core.limits import LimitRules
from custom_components.ocpp_ems.core.model import Capabilities, ChargingRateUnit, LimitState
from custom_components.ocpp_ems.core.settings import (
    ChargerSettings,
    PauseStrategy,
    RateUnitPreference,
)

AMPS = frozenset({ChargingRateUnit.AMPERE})
WATTS = frozenset({ChargingRateUnit.WATT})
BOTH = AMPS | WATTS
SMART = frozenset({"Core", "SmartCharging"})


def rules(rate_units: frozenset[ChargingRateUnit] = AMPS, **settings: object) -> LimitRules:
    return LimitRules(
        ChargerSettings(**settings),  # type: ignore[arg-type]
        Capabilities(rate_units=rate_units, supported_profiles=SMART),
    )


def test_bounds_and_what_a_user_may_ask_for() -> None:
    r = rules(min_current_a=6.0, installation_max_a=16.0, safe_current_a=8.0)
    assert r.bounds == (6.0, 16.0)
    assert (r.min_a, r.max_a, r.safe_a) == (6.0, 16.0, 8.0)
    assert [a for a in (0.0, 3.0, 5.9, 6.0, 10.0, 16.0, 16.1) if r.accepts(a)] == [0, 6, 10, 16]
    # An installation maximum below the charger's minimum wins.
    low = rules(min_current_a=8.0, installation_max_a=6.0)
    assert low.bounds == (6.0, 6.0)
    assert low.accepts(6.0)


def test_clamp_what_a_requested_limit_becomes() -> None:
    r = rules(min_current_a=6.0, installation_max_a=16.0)
    assert r.clamp(0.0) == 0.0  # no flow stays no flow
    assert r.clamp(3.0) == 6.0  # IEC 61851 cannot signal less than the minimum
    assert r.clamp(40.0) == 16.0
    assert r.clamp(10.04) == 10.0  # the limit resolution (multiples of 0.1 A)
    assert r.clamp(10.06) == 10.1
    assert rules(min_current_a=8.0, installation_max_a=6.0).clamp(7.0) == 6.0


@pytest.mark.parametrize(("safe", "written"), [(0.0, 0.0), (0.5, 6.0), (3.0, 6.0), (8.0, 8.0)])
def test_safe_current_is_never_between_0_and_the_minimum(safe: float, written: float) -> None:
    """The safe base was written as configured: a 3 A fail-safe profile is a value IEC 61851
    cannot signal (chargers reject it or treat it as they see fit). Raised like any limit."""
    assert rules(min_current_a=6.0, safe_current_a=safe).safe_a == written


@pytest.mark.parametrize(
    ("rate_units", "preference", "unit", "step"),
    [
        (AMPS, RateUnitPreference.AUTO, ChargingRateUnit.AMPERE, 0.1),
        (BOTH, RateUnitPreference.AUTO, ChargingRateUnit.AMPERE, 0.1),
        (WATTS, RateUnitPreference.AUTO, ChargingRateUnit.WATT, 1.0),
        (BOTH, RateUnitPreference.WATT, ChargingRateUnit.WATT, 1.0),
        (AMPS, RateUnitPreference.AMPERE, ChargingRateUnit.AMPERE, 0.1),
        # A preference the charger says it does not take: its own unit (a 2.x station would
        # otherwise convert it over its supply phases, not the car's: 3x the current on 1 phase).
        (WATTS, RateUnitPreference.AMPERE, ChargingRateUnit.WATT, 1.0),
        (AMPS, RateUnitPreference.WATT, ChargingRateUnit.AMPERE, 0.1),
        # Nothing reported: A assumed, a preference kept.
        (frozenset(), RateUnitPreference.AUTO, ChargingRateUnit.AMPERE, 0.1),
        (frozenset(), RateUnitPreference.WATT, ChargingRateUnit.WATT, 1.0),
    ],
)
def test_unit_and_step(
    rate_units: frozenset[ChargingRateUnit],
    preference: RateUnitPreference,
    unit: ChargingRateUnit,
    step: float,
) -> None:
    r = rules(rate_units, rate_unit=preference)
    assert r.unit is unit
    assert r.step_a == step


def test_conversion_uses_the_one_voltage() -> None:
    r = rules(nominal_voltage_v=240.0)
    assert r.voltage_v == 240.0
    assert r.to_unit(16.04, ChargingRateUnit.AMPERE, 3) == 16.0
    assert r.to_unit(16.0, ChargingRateUnit.WATT, 3) == 16 * 240 * 3
    assert r.to_unit(10.0, ChargingRateUnit.WATT, 1) == 2400.0
    assert r.to_amps(11520.0, ChargingRateUnit.WATT, 3) == 16.0
    assert r.to_amps(12.5, ChargingRateUnit.AMPERE, 3) == 12.5
    assert rules().voltage_v == 230.0  # the default, where the host sets none


def test_limit_in_force() -> None:
    r = rules(installation_max_a=16.0)
    assert r.limit_a(LimitState()) == 16.0  # none requested: up to the maximum
    assert r.limit_a(LimitState(requested_a=10.0)) == 10.0
    assert r.limit_a(LimitState(requested_a=20.0)) == 16.0  # the maximum was lowered since
    assert r.effective_a(LimitState(requested_a=10.0)) == 10.0
    assert r.effective_a(LimitState(requested_a=10.0, paused=True)) == 0.0
    # Paused by stopping the transaction: the profile keeps the limit.
    stop_start = rules(installation_max_a=16.0, pause_strategy=PauseStrategy.REMOTE_STOP_START)
    assert stop_start.effective_a(LimitState(requested_a=10.0, paused=True)) == 10.0


def test_pause_strategy_without_smart_charging() -> None:
    assert rules().pause_strategy is PauseStrategy.ZERO_LIMIT
    assert rules().smart_charging
    core_only = LimitRules(ChargerSettings(), Capabilities(supported_profiles=frozenset({"Core"})))
    assert not core_only.smart_charging
    assert core_only.pause_strategy is PauseStrategy.REMOTE_STOP_START
    # Nothing reported yet: assumed to take profiles.
    assert LimitRules(ChargerSettings(), Capabilities()).smart_charging
