"""Red team 7 (f86f32d): how often a real 1.6 charger that leaves every SetChargingProfile
unanswered makes the energy manager signal its entities. The decision shown again on a failed
write (``on_shown``) is one more dispatcher signal: at most one per failed write, whatever the
decisions do meanwhile (sensors changing every half second). Pinned (correct at f86f32d)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.dispatcher import async_dispatcher_connect
from pytest_homeassistant_custom_component.common import (  # type: ignore[import-untyped]
    MockConfigEntry,
)

from custom_components.ocpp_ems import energy_manager
from custom_components.ocpp_ems.const import CONF_GRID_POWER, CONF_RESPONSE_TIMEOUT

from .helpers.charger import wait_for
from .helpers.ems import POWER, REASON, async_setup_sources, ems_server_options, set_sources
from .helpers.fixtures import Onboard
from .test_ems_entities import state_of
from .test_ems_pause import set_mode
from .test_energy_manager import MAX_CURRENT, call
from .test_reason_charger_not_answering import _answers_profiles_while

pytestmark = pytest.mark.usefixtures("fast_ems_debounce")

RETRY_S = 0.5  # the first wait after a write left unanswered (30 s in use), doubling
SILENT_S = 12.0  # how long the charger stays silent (tries at about 0, 1.5, 3.5, 7.5 s)
FAILED = "Energy manager could not set charger CP1"


@pytest.fixture
def server_options() -> dict[str, Any]:
    return ems_server_options(**{CONF_GRID_POWER: "sensor.grid", CONF_RESPONSE_TIMEOUT: 1})


async def retries_watched(
    hass: HomeAssistant, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Retries after RETRY_S, the driver's failures logged, a grid meter at 0 W."""
    monkeypatch.setattr(energy_manager, "EMS_RETRY_S", RETRY_S)
    caplog.set_level(logging.DEBUG, logger="custom_components.ocpp_ems.core.ems.driver")
    await async_setup_sources(hass, {"grid": POWER})
    await set_sources(hass, grid=0)


async def charging_fast_at_16_a(hass: HomeAssistant, sim: Any) -> None:
    """Mode Fast, the car charging, its 16 A limit taken by the charger."""
    await set_mode(hass, "fast")
    await sim.status("Preparing")
    await sim.start_transaction()
    await sim.status("Charging")
    await call(hass, "number", "set_value", {"entity_id": MAX_CURRENT, "value": 16})
    await wait_for(lambda: sim.live_limit() == 16.0, what="fast at 16 A")


async def raised_to_20_a_unanswered(
    hass: HomeAssistant, sim: Any, caplog: pytest.LogCaptureFixture
) -> asyncio.Event:
    """The charger stops answering SetChargingProfile and the limit is raised to 20 A (the log
    cleared first). Set the returned event to have the charger answer again."""
    answering = _answers_profiles_while(sim)
    answering.clear()
    caplog.clear()
    await call(hass, "number", "set_value", {"entity_id": MAX_CURRENT, "value": 20})
    return answering


async def test_signals_per_failed_write_of_a_silent_charger(
    hass: HomeAssistant,
    onboard: Onboard,
    server_entry: MockConfigEntry,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    await retries_watched(hass, monkeypatch, caplog)
    async with onboard() as (sim, _entry):
        await charging_fast_at_16_a(hass, sim)

        ems = server_entry.runtime_data.ems
        driver = ems._driver  # (a spy on its decisions: each calls the real step)
        decisions = 0
        step = driver.step

        def counted(*args: Any, **kwargs: Any) -> Any:
            nonlocal decisions
            decisions += 1
            return step(*args, **kwargs)

        monkeypatch.setattr(driver, "step", counted)
        signals = 0

        @callback
        def _signalled() -> None:
            nonlocal signals
            signals += 1

        unsub = async_dispatcher_connect(hass, ems.signal, _signalled)
        answering = await raised_to_20_a_unanswered(hass, sim, caplog)
        grid = 0
        start = hass.loop.time()
        while hass.loop.time() - start < SILENT_S:
            grid = 1 - grid  # (a sensor changing every half second: a decision each time)
            await set_sources(hass, grid=grid)
            await asyncio.sleep(0.5)
        unsub()
        failed = caplog.text.count(FAILED)
        assert failed >= 3, caplog.text  # (tried again, backed off)
        assert state_of(hass, REASON).state in ("charger_not_answering", "fast")
        # Every signal is a decision's, or one per failed write at most.
        assert decisions <= signals <= decisions + failed, (signals, decisions, failed)
        answering.set()
