"""The energy manager pausing a charger whose pause strategy is remote stop / start.

Such a charger ends the session on a 0 A limit, so the energy manager pauses it with
RemoteStopTransaction and resumes it with RemoteStartTransaction (through the current control's
pause() / resume()); resume() puts the limit in place before the remote start.
"""

from __future__ import annotations

from typing import Any

import pytest
from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.common import (  # type: ignore[import-untyped]
    MockConfigEntry,
)

from custom_components.ocpp_ems.const import (
    CONF_EMS_ENABLED,
    CONF_GRID_POWER,
    CONF_MIN_WRITE_INTERVAL,
    CONF_PAUSE_STRATEGY,
    CONF_RESPONSE_TIMEOUT,
)

from .helpers.charger import wait_for
from .helpers.ems import MODE, POWER, async_set_charger_options, async_setup_sources, set_sources
from .helpers.fixtures import Onboard

pytestmark = pytest.mark.usefixtures("fast_ems_debounce")


@pytest.fixture
def server_options() -> dict[str, Any]:
    return {
        CONF_RESPONSE_TIMEOUT: 3,
        CONF_EMS_ENABLED: True,
        CONF_GRID_POWER: "sensor.grid",
        CONF_MIN_WRITE_INTERVAL: 2,
    }


async def set_mode(hass: HomeAssistant, mode: str) -> None:
    await hass.services.async_call(
        "select", "select_option", {"entity_id": MODE, "option": mode}, blocking=True
    )
    await hass.async_block_till_done()


async def test_pause_and_resume_by_remote_stop_and_start(
    hass: HomeAssistant, onboard: Onboard, server_entry: MockConfigEntry
) -> None:
    await async_setup_sources(hass, {"grid": POWER})
    await set_sources(hass, grid=0)
    async with onboard() as (sim, entry):
        await async_set_charger_options(hass, entry, **{CONF_PAUSE_STRATEGY: "remote_stop_start"})
        model = server_entry.runtime_data.central.charger("CP1")

        # No car: paused (the EMS's pause() has no session to stop).
        await wait_for(lambda: model.limit.paused, what="paused without a car")
        assert sim.commands("RemoteStopTransaction") == []

        # A car plugs in and starts on its own; Fast resumes the charger without a remote start
        # (its session runs) and gives it the installation maximum.
        await set_mode(hass, "fast")
        await sim.status("Preparing")
        transaction = await sim.start_transaction()
        await sim.status("Charging")
        await wait_for(lambda: not model.limit.paused, what="resumed")
        await wait_for(lambda: sim.live_limit() == 32.0, what="fast")
        assert sim.commands("RemoteStartTransaction") == []

        # Off: the session is stopped remotely (a 0 A limit would end it on this charger anyway).
        await set_mode(hass, "off")
        await wait_for(lambda: sim.commands("RemoteStopTransaction"), what="remote stop")
        assert sim.commands("RemoteStopTransaction") == [{"transaction_id": transaction}]
        assert model.limit.paused
        assert sim.live_limit() == 32.0  # no 0 A profile
        await sim.stop_transaction(reason="Remote")
        await sim.status("SuspendedEVSE")

        # Fast again: a remote start on the stopped connector; the charger still holds 32 A
        # (an unchanged limit is not written again).
        await set_mode(hass, "fast")
        await wait_for(lambda: sim.commands("RemoteStartTransaction"), what="remote start")
        (start,) = sim.commands("RemoteStartTransaction")
        assert start["connector_id"] == 1
        assert not model.limit.paused
        assert sim.live_limit() == 32.0

        # The car's session starts again; the energy manager keeps it running.
        await sim.start_transaction()
        await sim.status("Charging")
        await hass.async_block_till_done()
        assert len(sim.commands("RemoteStartTransaction")) == 1
        assert len(sim.commands("RemoteStopTransaction")) == 1
