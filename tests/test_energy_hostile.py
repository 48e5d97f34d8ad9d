"""Real-world meter behaviour against the energy a user sees (session, lifetime for the Energy
dashboard): register resets, glitches, replays after a reconnect. Driven through ``ChargerState``
(what every OCPP adapter calls), as tests/core/test_energy_rules.py does."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pytest
from homeassistant.const import Platform
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
from ocpp.v16 import call

from custom_components.ocpp_ems.const import DOMAIN
from custom_components.ocpp_ems.core.meter_values import Reading
from tests.core.test_energy_rules import (
    MINUTE,
    T0,
    energy,
    make_state,
    our_clock_a_day_later,
    start,
)

from .helpers.charger import SimCharger
from .helpers.fixtures import Onboard
from .helpers.platform import only_platforms

UNITLESS = "UNITLESS"


def _kwh(hass: HomeAssistant, key: str) -> float:
    entity_id = er.async_get(hass).async_get_entity_id(Platform.SENSOR, DOMAIN, key)
    assert entity_id is not None, key
    state = hass.states.get(entity_id)
    assert state is not None
    return float(state.state)


async def _unitless_register(
    sim: SimCharger, kwh: str, ago_s: float, transaction_id: int | None = None
) -> None:
    """A 1.6 reading of the energy register with no ``unit`` (meant as kWh by the charger), for
    ``transaction_id`` (default: the running one)."""
    timestamp = (datetime.now(UTC) - timedelta(seconds=ago_s)).isoformat()
    sample = {"value": kwh, "measurand": "Energy.Active.Import.Register"}
    await sim.call(
        call.MeterValues(
            connector_id=1,
            transaction_id=transaction_id or sim.transaction_id,
            meter_value=[{"timestamp": timestamp, "sampled_value": [sample]}],
        )
    )


def _unitless(at: datetime, kwh: float) -> Reading:
    """A register reading sent without a unit (parsed as Wh, meant as kWh)."""
    return Reading(timestamp=at, energy_register_wh=kwh, energy_unit_missing=True)


def _unitless_warnings(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if "without a unit" in r.getMessage()]


@our_clock_a_day_later
def test_readings_replayed_after_a_confirmed_reset_are_not_counted_again() -> None:
    """Review finding: once a reset was confirmed, the session's older readings re-sent after a
    reconnect were above the new base, became a "jump" that the next replayed reading confirmed,
    and counted again (up to max power x the time since the base); the next real reading was then
    taken for another reset and lost."""
    state = make_state()
    tx = start(state, 10_000)
    history = [energy(T0 + i * MINUTE, 10_000 + 400 * i) for i in range(1, 6)]
    for reading in history:
        state.record_meter(1, [reading])
    state.record_meter(1, [energy(T0 + 6 * MINUTE, 0)])  # the register resets
    state.record_meter(1, [energy(T0 + 7 * MINUTE, 50)])  # confirmed
    assert tx.energy_wh == 2050
    state.record_meter(1, history)  # re-sent after a reconnect
    assert tx.energy_wh == 2050
    state.record_meter(1, [energy(T0 + 8 * MINUTE, 100)])
    assert tx.energy_wh == 2100
    assert state.charger.lifetime_energy.total_wh == 12_100


async def test_register_in_kwh_without_unit_counts_as_kwh(
    hass: HomeAssistant, onboard: Onboard, caplog: pytest.LogCaptureFixture
) -> None:
    """Review finding: a 1.6 charger sending its register in kWh without ``unit`` (its meterStart
    in Wh, as the spec says) had its 12,345 kWh register read as 12,345 Wh: taken for a reset, the
    session showed 10 Wh for 10 kWh charged, and only an info line said anything."""
    with only_platforms(Platform.SENSOR):
        async with onboard(UNITLESS) as (sim, _entry):
            sim.meter_wh = 12_345_000
            await sim.status("Charging")
            await sim.start_transaction("HomeAssistant")
            await _unitless_register(sim, "12345.000", ago_s=1800)
            await _unitless_register(sim, "12350.000", ago_s=900)
            await _unitless_register(sim, "12355.000", ago_s=0)
            await hass.async_block_till_done()
            assert _kwh(hass, f"{UNITLESS}_session_energy") == pytest.approx(10.0)
            assert _kwh(hass, f"{UNITLESS}_lifetime_energy") == pytest.approx(12_355.0)
            assert len(_unitless_warnings(caplog)) == 1
            assert len(_unitless_warnings(caplog)) == 1


async def test_register_in_kwh_without_unit_counts_as_kwh_when_sent_late(
    hass: HomeAssistant, onboard: Onboard, caplog: pytest.LogCaptureFixture
) -> None:
    """Review finding: readings of an ended session (re-sent after a reconnect, older than its
    stop) skipped the unitless-kWh rule. A charger that stopped offline with a meterStop of 0 (a
    firmware quirk: not counted) re-sends what it read meanwhile: 12,350 and 12,355 kWh were read
    as Wh, taken for a register reset, and the session kept 5 Wh of its 10 kWh."""
    with only_platforms(Platform.SENSOR):
        async with onboard(UNITLESS) as (sim, _entry):
            sim.meter_wh = 12_345_000
            await sim.status("Charging")
            transaction_id = await sim.start_transaction("HomeAssistant")
            await _unitless_register(sim, "12345.000", ago_s=1800)
            sim.meter_wh = 0
            await sim.stop_transaction()
            await _unitless_register(sim, "12350.000", ago_s=900, transaction_id=transaction_id)
            await _unitless_register(sim, "12355.000", ago_s=120, transaction_id=transaction_id)
            await hass.async_block_till_done()
            assert _kwh(hass, f"{UNITLESS}_session_energy") == pytest.approx(10.0)
            assert _kwh(hass, f"{UNITLESS}_lifetime_energy") == pytest.approx(12_355.0)
            assert len(_unitless_warnings(caplog)) == 1


@our_clock_a_day_later
def test_unitless_kwh_warning_is_once_per_charger_not_per_id_forever(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Review finding: the warned-once memory was a module-level set of charger ids, shared by
    every config entry and never forgotten: a charger deleted and added again (or the next test)
    under the same id was never warned. It belongs to the charger now."""
    for _ in range(2):
        state = make_state()  # the same charger id each time
        tx = start(state, 12_345_000)
        state.record_meter(
            1, [_unitless(T0 + 10 * MINUTE, 12_346), _unitless(T0 + 20 * MINUTE, 12_347)]
        )
        assert tx.energy_wh == 2000
    assert len(_unitless_warnings(caplog)) == 2
