"""The reason sensor of a real 1.6 charger that leaves every SetChargingProfile unanswered, across
the energy manager's retries: it turns to *Charger not answering* once and stays, until the
charger takes a write. It went back to the manager's reason for each retry's round trip (the
response timeout) and to "not answering" again when the retry failed: two state changes per
retry, a sensor flapping in the history and the logbook."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from homeassistant.core import Event, EventStateChangedData, HomeAssistant, callback
from homeassistant.helpers.event import async_track_state_change_event

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
FAILED = "Energy manager could not set charger CP1"
TRIES = 3  # the first write and two retries (a 1 s response timeout each)


@pytest.fixture
def server_options() -> dict[str, Any]:
    return ems_server_options(**{CONF_GRID_POWER: "sensor.grid", CONF_RESPONSE_TIMEOUT: 1})


async def _set_max_current(hass: HomeAssistant, amps: float) -> None:
    await call(hass, "number", "set_value", {"entity_id": MAX_CURRENT, "value": amps})


async def test_the_reason_stays_not_answering_through_two_retries(
    hass: HomeAssistant,
    onboard: Onboard,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setattr(energy_manager, "EMS_RETRY_S", RETRY_S)
    caplog.set_level(logging.DEBUG, logger="custom_components.ocpp_ems.core.ems.driver")
    await async_setup_sources(hass, {"grid": POWER})
    await set_sources(hass, grid=0)
    async with onboard() as (sim, _entry):
        await set_mode(hass, "fast")
        await sim.status("Preparing")
        await sim.start_transaction()
        await sim.status("Charging")
        await _set_max_current(hass, 16)
        await wait_for(lambda: sim.live_limit() == 16.0, what="fast at 16 A")
        assert state_of(hass, REASON).state == "fast"

        shown: list[str] = []

        @callback
        def _changed(event: Event[EventStateChangedData]) -> None:
            old, new = event.data["old_state"], event.data["new_state"]
            if old is not None and new is not None and old.state != new.state:
                shown.append(new.state)

        unsub = async_track_state_change_event(hass, REASON, _changed)
        answering = _answers_profiles_while(sim)
        answering.clear()
        caplog.clear()
        await _set_max_current(hass, 20)
        await wait_for(lambda: caplog.text.count(FAILED) >= TRIES, 15.0, what="two retries")
        assert shown == ["charger_not_answering"]  # (5 changes before: 2 per retry)

        answering.set()  # the next try is taken: the manager's reason once more
        await wait_for(lambda: sim.live_limit() == 20.0, 10.0, what="the next try")
        await wait_for(lambda: shown[-1:] == ["fast"], what="the reason back")
        unsub()
        assert shown == ["charger_not_answering", "fast"]
