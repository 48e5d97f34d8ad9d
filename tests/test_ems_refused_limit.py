"""A real 1.6 charger that answers every SetChargingProfile "Rejected" (a setting on it keeps
central systems out), with the energy manager on and its decisions flowing (a sensor changing
every quarter second, the tests' 50 ms debounce).

The refused limit was written again at the very next decision: 38 SetChargingProfile calls in
3 s (about one a second with the production debounce, for good). Now, from the run's second
refusal (the first is asked again at the next decision: a busy charger takes it), it is written
again only after the retry wait (30 s in use, doubling), the reason sensor says the charger
refused it, and a new target (the user lowers the maximum) goes out at once, once.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
from homeassistant.core import HomeAssistant

from custom_components.ocpp_ems.const import CONF_GRID_POWER

from .helpers.charger import wait_for
from .helpers.ems import POWER, REASON, async_setup_sources, ems_server_options, set_sources
from .helpers.fixtures import Onboard
from .test_ems_entities import state_of
from .test_energy_manager import MAX_CURRENT, call
from .test_reason_charger_not_answering import PROFILE
from .test_redteam7_signals import FAILED, charging_fast_at_16_a

pytestmark = pytest.mark.usefixtures("fast_ems_debounce")

WINDOW_S = 3.0  # decisions flowing meanwhile
REFUSED = "charger_refused"


@pytest.fixture
def server_options() -> dict[str, Any]:
    return ems_server_options(**{CONF_GRID_POWER: "sensor.grid"})


async def _decisions_for(hass: HomeAssistant, seconds: float) -> None:
    """The grid sensor changes every quarter second: a decision each time."""
    grid = 0
    start = hass.loop.time()
    while hass.loop.time() - start < seconds:
        grid = 1 - grid
        await set_sources(hass, grid=grid)
        await asyncio.sleep(0.25)


def _limit_of(profile_call: dict[str, Any]) -> float:
    schedule = profile_call["cs_charging_profiles"]["charging_schedule"]
    return float(schedule["charging_schedule_period"][0]["limit"])


async def _set_max_current(hass: HomeAssistant, amps: float) -> None:
    await call(hass, "number", "set_value", {"entity_id": MAX_CURRENT, "value": amps})


async def test_a_charger_refusing_every_limit_is_not_asked_at_every_decision(
    hass: HomeAssistant, onboard: Onboard, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="custom_components.ocpp_ems.core.ems.driver")
    await async_setup_sources(hass, {"grid": POWER})
    await set_sources(hass, grid=0)
    async with onboard() as (sim, _entry):
        await charging_fast_at_16_a(hass, sim)
        sim.statuses[PROFILE] = "Rejected"
        await _set_max_current(hass, 20)
        await wait_for(lambda: state_of(hass, REASON).state == REFUSED, what="refused shown")
        asked = len(sim.commands(PROFILE))
        await _decisions_for(hass, WINDOW_S)
        assert len(sim.commands(PROFILE)) == asked  # (38 calls in these 3 s before)
        reason = state_of(hass, REASON)
        assert reason.state == REFUSED
        assert reason.attributes["until"] is not None  # (the retry, 30 s on)
        assert sim.live_limit() == 16.0  # it keeps what it took

        failed = caplog.text.count(FAILED)
        await _set_max_current(hass, 10)  # a value it was not asked yet: at once
        await wait_for(lambda: caplog.text.count(FAILED) > failed, what="the new target refused")
        assert _limit_of(sim.commands(PROFILE)[-1]) == 10.0
        asked = len(sim.commands(PROFILE))
        await _decisions_for(hass, WINDOW_S)
        assert len(sim.commands(PROFILE)) == asked  # once
        assert state_of(hass, REASON).state == REFUSED
