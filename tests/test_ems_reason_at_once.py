"""The reason sensor of a real 1.6 charger the energy manager paused by remote stop, where a car
starts a transaction by itself: the charger refuses the stop, or leaves it unanswered. The
sensor says so within a moment of the failure, with nothing else happening (no new reading, no
decision, no other stop). It kept "waiting for surplus" until the next decision: the watchdog,
30 s later, or the next reading."""

from __future__ import annotations

import logging
import time
from typing import Any

import pytest
from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.common import (  # type: ignore[import-untyped]
    MockConfigEntry,
)

from .helpers.charger import wait_for
from .helpers.ems import POWER, REASON, async_setup_sources, set_sources
from .helpers.self_started import stopped
from .helpers.versions import OCPP16, OnboardAny
from .test_ems_entities import state_of
from .test_ems_self_started import (
    car_start_with_its_stop_lost,
    car_start_with_its_stop_refused,
    server_options,
)

__all__ = ["server_options"]  # (the fixture: a grid sensor)

pytestmark = pytest.mark.usefixtures("fast_ems_debounce")

AT_ONCE_S = 1.0  # the failure shown this soon (the next decision: 30 s)


async def _reason_within(hass: HomeAssistant, state: str, since: float) -> dict[str, Any]:
    """The reason sensor says ``state`` no later than AT_ONCE_S after ``since``: its
    attributes."""
    await wait_for(lambda: state_of(hass, REASON).state == state, AT_ONCE_S, what=state)
    assert time.monotonic() - since <= AT_ONCE_S
    return dict(state_of(hass, REASON).attributes)


async def test_a_refused_stop_is_shown_at_once(
    hass: HomeAssistant, onboard_any: OnboardAny, server_entry: MockConfigEntry
) -> None:
    await async_setup_sources(hass, {"grid": POWER})
    await set_sources(hass, grid=500)  # importing: the manager keeps the charger paused
    async with onboard_any(OCPP16) as (charger, entry):
        transaction = await car_start_with_its_stop_refused(hass, charger, entry, server_entry)
        attributes = await _reason_within(hass, "charger_refused", time.monotonic())
        assert attributes["controller_reason"] == "waiting_for_surplus"
        assert attributes["until"] is not None  # (the next ask)
        assert stopped(charger) == [transaction]  # (asked once)


async def test_an_unanswered_stop_is_shown_at_once(
    hass: HomeAssistant,
    onboard_any: OnboardAny,
    server_entry: MockConfigEntry,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING)
    await async_setup_sources(hass, {"grid": POWER})
    await set_sources(hass, grid=500)
    async with onboard_any(OCPP16) as (charger, entry):
        await car_start_with_its_stop_lost(hass, charger, entry, server_entry, caplog)
        attributes = await _reason_within(hass, "charger_not_answering", time.monotonic())
        assert attributes["controller_reason"] == "waiting_for_surplus"
        assert attributes["controller_until"] is None  # (waiting for surplus has no end)
