"""The reason sensor of a real 1.6 charger that stops answering SetChargingProfile: while the
energy manager holds its writes it says *Charger not answering* (translated), until the next try
and with the manager's own reason beside it; once the charger answers, the manager's reason is
back. It said "Fast charging" all along, so the user could not tell the manager was waiting."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
from homeassistant.core import HomeAssistant
from homeassistant.helpers.translation import async_get_translations
from homeassistant.util import dt as dt_util

from custom_components.ocpp_ems import energy_manager
from custom_components.ocpp_ems.const import CONF_GRID_POWER, CONF_RESPONSE_TIMEOUT, DOMAIN

from .helpers.charger import SimCharger, wait_for
from .helpers.ems import (
    POWER,
    REASON,
    async_setup_sources,
    ems_server_options,
    plug_in_and_charge,
    set_sources,
)
from .helpers.fixtures import Onboard
from .test_ems_entities import state_of
from .test_ems_pause import set_mode
from .test_energy_manager import MAX_CURRENT, call

pytestmark = pytest.mark.usefixtures("fast_ems_debounce")

RETRY_S = 5.0  # the next try after a write left unanswered (30 s in use)
PROFILE = "SetChargingProfile"
NOT_ANSWERING = "charger_not_answering"


@pytest.fixture
def server_options() -> dict[str, Any]:
    return ems_server_options(**{CONF_GRID_POWER: "sensor.grid", CONF_RESPONSE_TIMEOUT: 1})


async def _state_text(hass: HomeAssistant, language: str, state: str) -> str:
    """The reason sensor's state ``state`` as the frontend shows it in ``language``."""
    texts = await async_get_translations(hass, language, "entity", [DOMAIN])
    return texts[f"component.{DOMAIN}.entity.sensor.ems_reason.state.{state}"]


def _answers_profiles_while(sim: SimCharger) -> asyncio.Event:
    """The charger answers SetChargingProfile only while the event returned is set (meanwhile
    its calls wait, and the central system's after them: a 1.6 charger answers in order)."""
    answering = asyncio.Event()
    answering.set()
    answer = sim._answer

    async def gated(action: str, payload: dict[str, Any], default: str) -> str:
        if action == PROFILE:
            await answering.wait()
        return await answer(action, payload, default)

    sim._answer = gated  # type: ignore[method-assign]
    return answering


async def _set_max_current(hass: HomeAssistant, amps: float) -> None:
    await call(hass, "number", "set_value", {"entity_id": MAX_CURRENT, "value": amps})


async def test_the_reason_says_the_charger_does_not_answer(
    hass: HomeAssistant,
    onboard: Onboard,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setattr(energy_manager, "EMS_RETRY_S", RETRY_S)
    caplog.set_level(logging.WARNING)
    await async_setup_sources(hass, {"grid": POWER})
    await set_sources(hass, grid=0)
    async with onboard() as (sim, _entry):
        await set_mode(hass, "fast")
        await plug_in_and_charge(sim)
        await _set_max_current(hass, 16)
        await wait_for(lambda: sim.live_limit() == 16.0, what="fast at 16 A")
        assert state_of(hass, REASON).state == "fast"

        # Silent: 20 A is left unanswered; 24 A then waits for the next try.
        answering = _answers_profiles_while(sim)
        answering.clear()
        await _set_max_current(hass, 20)
        await wait_for(lambda: "could not set charger CP1" in caplog.text, what="20 A unanswered")
        failed_at = dt_util.utcnow()
        await _set_max_current(hass, 24)
        await wait_for(lambda: state_of(hass, REASON).state == NOT_ANSWERING, what="held")
        attributes = state_of(hass, REASON).attributes
        assert attributes["controller_reason"] == "fast"
        until = dt_util.parse_datetime(attributes["until"])
        assert until is not None
        assert 0 < (until - failed_at).total_seconds() <= RETRY_S + 1
        assert await _state_text(hass, "en", NOT_ANSWERING) == "Charger not answering"
        assert await _state_text(hass, "de", NOT_ANSWERING) == "Ladestation antwortet nicht"
        assert await _state_text(hass, "pt", NOT_ANSWERING) == "O carregador não responde"

        # It answers again: the next try sets 24 A, and the reason is the manager's again.
        answering.set()  # (20 A is answered too late: the server gave up on it)
        await wait_for(lambda: sim.live_limit() == 24.0, RETRY_S + 5, what="the next try")
        await wait_for(lambda: state_of(hass, REASON).state == "fast", what="the reason back")
        assert "controller_reason" not in state_of(hass, REASON).attributes
        assert state_of(hass, REASON).attributes["until"] is None
