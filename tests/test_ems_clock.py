"""The energy manager's Home Assistant timers when the wall clock goes back.

An NTP correction, or a host without a real-time clock that booted on the time it last saved,
moves Home Assistant's wall clock back while the event loop's clock runs on. The core moves the
times it remembers back with it (``EnergyManager.clock_went_back_s``, tests/ems/test_clock_back.py);
these tests check that the HA layer's own timers (the wake-up the driver asks for, a refused
hand-back's retry) still fire after the time they were armed for, not the jump later.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any
from unittest.mock import patch

import pytest
from freezegun import freeze_time
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.dispatcher import async_dispatcher_connect
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.common import (  # type: ignore[import-untyped]
    MockConfigEntry,
)

from custom_components.ocpp_ems import energy_manager
from custom_components.ocpp_ems.const import CONF_EMS_ENABLED, CONF_GRID_POWER

from .helpers.charger import SimCharger, wait_for
from .helpers.ems import POWER, async_setup_sources, ems_server_options, set_sources
from .helpers.fixtures import Onboard

pytestmark = pytest.mark.usefixtures("fast_ems_debounce")

RETRY_S = 1.0  # the retry time of a refused write or hand-back here (EMS_RETRY_S)
# Waited for a retry after the jump: a few retry times, far less than the hour.
WITHIN_S = 6.0


@pytest.fixture
def server_options() -> dict[str, Any]:
    return ems_server_options(**{CONF_GRID_POWER: "sensor.grid"})


@pytest.fixture(autouse=True)
def _short_retry(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(energy_manager, "EMS_RETRY_S", RETRY_S)


@contextmanager
def _clock_back_an_hour() -> Iterator[None]:
    """Home Assistant's wall clock an hour back from now on, running on; the monotonic clock (the
    event loop's) runs on unchanged, as on a real host (freezegun would move it too)."""
    monotonic = time.monotonic
    with (
        freeze_time(dt_util.utcnow() - timedelta(hours=1), tick=True),
        patch.object(time, "monotonic", monotonic),
    ):
        yield


async def _held_at_0_a(hass: HomeAssistant, sim: SimCharger) -> None:
    """Solar mode, the grid importing (no sun): a car plugs in and is held at 0 A."""
    await async_setup_sources(hass, {"grid": POWER})
    await set_sources(hass, grid=500)
    await sim.status("Preparing")
    await sim.start_transaction()
    await sim.status("Charging")
    await wait_for(lambda: sim.live_limit() == 0.0, what="solar without sun: 0 A")


async def test_the_wake_up_the_driver_asks_for_comes_after_the_clock_went_back(
    hass: HomeAssistant,
    onboard: Onboard,
    server_entry: MockConfigEntry,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With nothing changing, the driver asks to run again by its watchdog time (here 1 s; a
    stop delay's end or a refused write's retry the same way). The clock goes back an hour: the
    next decisions must still come then (Home Assistant's point-in-time timer waited for the
    wall clock to show its time again: an hour without a decision)."""
    monkeypatch.setattr(energy_manager, "WATCHDOG_S", 1.0)
    async with onboard() as (sim, _entry):
        await _held_at_0_a(hass, sim)
        decisions = 0

        @callback
        def _decided() -> None:
            nonlocal decisions
            decisions += 1

        unsub = async_dispatcher_connect(
            hass, energy_manager.signal(server_entry.entry_id), _decided
        )
        try:
            await wait_for(lambda: decisions, what="a decision")
            with _clock_back_an_hour():
                seen = decisions
                await wait_for(lambda: decisions >= seen + 2, WITHIN_S, what="decisions go on")
        finally:
            unsub()


async def test_a_refused_hand_back_is_tried_again_after_the_clock_went_back(
    hass: HomeAssistant,
    onboard: Onboard,
    server_entry: MockConfigEntry,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The manager is switched off, the charger refuses the hand-back: its own timer tries again
    (no decision runs). The clock goes back an hour before then; the car must not stay at the
    manager's 0 A for that hour."""
    async with onboard() as (sim, _entry):
        await _held_at_0_a(hass, sim)
        sim.statuses["SetChargingProfile"] = "Rejected"
        hass.config_entries.async_update_entry(
            server_entry, options={**server_entry.options, CONF_EMS_ENABLED: False}
        )
        await hass.async_block_till_done()
        await wait_for(
            lambda: "could not hand charger CP1 back" in caplog.text, what="a refused hand-back"
        )
        del sim.statuses["SetChargingProfile"]
        with _clock_back_an_hour():
            await wait_for(lambda: sim.live_limit() == 32.0, WITHIN_S, what="handed back")
