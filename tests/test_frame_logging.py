"""What a running server writes to Home Assistant's log: OCPP frames only on request (the server's
"Log OCPP frames" option, live; or the frames logger at DEBUG), and no line per frame otherwise."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.ocpp_ems.const import CONF_LOG_FRAMES
from custom_components.ocpp_ems.core.protocol.wire_log import WIRE_LOGGER

from .helpers.charger import SimCharger, wait_for
from .helpers.fixtures import Onboard, central_of


@pytest.fixture
def frames_logger_at_warning(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """Everything captured (the integration at DEBUG), except the frames logger: at WARNING, as
    a user's ``logger: default: warning`` leaves it."""
    caplog.set_level(logging.DEBUG)
    level = WIRE_LOGGER.level
    WIRE_LOGGER.setLevel(logging.WARNING)
    yield
    WIRE_LOGGER.setLevel(level)


def _frames(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == WIRE_LOGGER.name]


async def _heartbeat(hass: HomeAssistant, sim: SimCharger) -> None:
    await sim.heartbeat()
    await hass.async_block_till_done()


async def test_frames_only_with_the_option(
    hass: HomeAssistant,
    server_entry: MockConfigEntry,
    onboard: Onboard,
    caplog: pytest.LogCaptureFixture,
    frames_logger_at_warning: None,
) -> None:
    """Off by default; the option logs the chargers' frames at INFO past the logger's level,
    at once (no server restart, the charger stays connected), and off again."""
    central = central_of(server_entry)
    async with onboard() as (sim, _entry):
        caplog.clear()
        await _heartbeat(hass, sim)
        assert _frames(caplog) == []

        options: dict[str, Any] = dict(server_entry.options)
        hass.config_entries.async_update_entry(
            server_entry, options=options | {CONF_LOG_FRAMES: True}
        )
        await hass.async_block_till_done()
        assert central_of(server_entry) is central
        await _heartbeat(hass, sim)
        await wait_for(lambda: len(_frames(caplog)) >= 2, what="both frames of the heartbeat")
        frames = _frames(caplog)
        assert {r.levelno for r in frames} == {logging.INFO}
        messages = [r.getMessage() for r in frames]
        assert any(m.startswith("CP1: receive [2,") and "Heartbeat" in m for m in messages)
        assert any(m.startswith("CP1: send [3,") and "currentTime" in m for m in messages)

        hass.config_entries.async_update_entry(server_entry, options=options)
        await hass.async_block_till_done()
        caplog.clear()
        await _heartbeat(hass, sim)
        assert _frames(caplog) == []


async def test_frames_with_the_logger_at_debug(
    hass: HomeAssistant, onboard: Onboard, caplog: pytest.LogCaptureFixture
) -> None:
    """``logger: logs: custom_components.ocpp_ems.frames: debug`` logs them without the option."""
    assert WIRE_LOGGER.name == "custom_components.ocpp_ems.frames"
    async with onboard() as (sim, _entry):
        caplog.set_level(logging.DEBUG, logger=WIRE_LOGGER.name)
        caplog.clear()
        await _heartbeat(hass, sim)
        frames = _frames(caplog)
        assert frames
        assert {r.levelno for r in frames} == {logging.DEBUG}


async def test_no_line_per_update(
    hass: HomeAssistant,
    onboard: Onboard,
    caplog: pytest.LogCaptureFixture,
    frames_logger_at_warning: None,
) -> None:
    """With the integration at DEBUG, a charger's messages still write no log line each (the
    coordinator's "Manually updated ... data" was one per frame)."""
    async with onboard() as (sim, _entry):
        caplog.clear()
        for _ in range(5):
            await _heartbeat(hass, sim)
        assert [
            r.getMessage() for r in caplog.records if "Manually updated" in r.getMessage()
        ] == []


async def test_frames_hide_id_tags(
    hass: HomeAssistant, onboard: Onboard, caplog: pytest.LogCaptureFixture
) -> None:
    """A card's number is no part of the frames log (logs get shared; a card that only its number
    proves can be copied): the sessions log, the events and the authorization list name it."""
    async with onboard() as (sim, _entry):
        caplog.set_level(logging.DEBUG, logger=WIRE_LOGGER.name)
        caplog.clear()
        await sim.authorize("CARD-04A2B3C4")
        await hass.async_block_till_done()
        messages = [r.getMessage() for r in _frames(caplog)]
        assert any('"Authorize",{"idTag":"***"}' in m for m in messages)
        assert not [m for m in messages if "CARD-04A2B3C4" in m]
