"""The reason sensor of a real 1.6 charger that leaves every SetChargingProfile unanswered, across
the energy manager's retries: it turns to *Charger not answering* once and stays, until the
charger takes a write. It went back to the manager's reason for each retry's round trip (the
response timeout) and to "not answering" again when the retry failed: two state changes per
retry, a sensor flapping in the history and the logbook."""

from __future__ import annotations

from typing import Any

import pytest
from homeassistant.core import Event, EventStateChangedData, HomeAssistant, callback
from homeassistant.helpers.event import async_track_state_change_event

from custom_components.ocpp_ems.const import CONF_GRID_POWER, CONF_RESPONSE_TIMEOUT

from .helpers.charger import wait_for
from .helpers.ems import REASON, ems_server_options
from .helpers.fixtures import Onboard
from .test_ems_entities import state_of
from .test_redteam7_signals import (
    FAILED,
    charging_fast_at_16_a,
    raised_to_20_a_unanswered,
    retries_watched,
)

pytestmark = pytest.mark.usefixtures("fast_ems_debounce")

TRIES = 3  # the first write and two retries (a 1 s response timeout each)


@pytest.fixture
def server_options() -> dict[str, Any]:
    return ems_server_options(**{CONF_GRID_POWER: "sensor.grid", CONF_RESPONSE_TIMEOUT: 1})


async def test_the_reason_stays_not_answering_through_two_retries(
    hass: HomeAssistant,
    onboard: Onboard,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    await retries_watched(hass, monkeypatch, caplog)
    async with onboard() as (sim, _entry):
        await charging_fast_at_16_a(hass, sim)
        assert state_of(hass, REASON).state == "fast"

        shown: list[str] = []

        @callback
        def _changed(event: Event[EventStateChangedData]) -> None:
            old, new = event.data["old_state"], event.data["new_state"]
            if old is not None and new is not None and old.state != new.state:
                shown.append(new.state)

        unsub = async_track_state_change_event(hass, REASON, _changed)
        answering = await raised_to_20_a_unanswered(hass, sim, caplog)
        await wait_for(lambda: caplog.text.count(FAILED) >= TRIES, 15.0, what="two retries")
        assert shown == ["charger_not_answering"]  # (5 changes before: 2 per retry)

        answering.set()  # the next try is taken: the manager's reason once more
        await wait_for(lambda: sim.live_limit() == 20.0, 10.0, what="the next try")
        await wait_for(lambda: shown[-1:] == ["fast"], what="the reason back")
        unsub()
        assert shown == ["charger_not_answering", "fast"]
