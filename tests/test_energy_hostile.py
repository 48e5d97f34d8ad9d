"""Real-world meter behaviour against the energy a user sees (session, lifetime for the Energy
dashboard): register resets, glitches, replays after a reconnect. Driven through ``ChargerState``
(what every OCPP adapter calls), as tests/core/test_energy_rules.py does."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from homeassistant.const import Platform
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
from ocpp.v16 import call

from custom_components.ocpp_ems.const import DOMAIN
from tests.core.test_energy_rules import MINUTE, T0, energy, make_state, start

from .helpers.charger import SimCharger
from .helpers.fixtures import Onboard
from .helpers.platform import only_platforms

# Its own id: the warning is logged once per charger id while Home Assistant runs.
UNITLESS = "UNITLESS"


def _kwh(hass: HomeAssistant, key: str) -> float:
    entity_id = er.async_get(hass).async_get_entity_id(Platform.SENSOR, DOMAIN, key)
    assert entity_id is not None, key
    state = hass.states.get(entity_id)
    assert state is not None
    return float(state.state)


async def _unitless_register(sim: SimCharger, kwh: str, ago_s: float) -> None:
    """A 1.6 reading of the energy register with no ``unit`` (meant as kWh by the charger)."""
    timestamp = (datetime.now(UTC) - timedelta(seconds=ago_s)).isoformat()
    sample = {"value": kwh, "measurand": "Energy.Active.Import.Register"}
    await sim.call(
        call.MeterValues(
            connector_id=1,
            transaction_id=sim.transaction_id,
            meter_value=[{"timestamp": timestamp, "sampled_value": [sample]}],
        )
    )


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
            warnings = [r for r in caplog.records if "without a unit" in r.getMessage()]
            assert len(warnings) == 1
