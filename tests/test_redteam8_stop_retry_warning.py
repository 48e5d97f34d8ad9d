"""Red team 8 on ea10a71, in real hass with a real 1.6 charger (pause by remote stop / start):
the charger leaves RemoteStopTransaction unanswered; the energy manager asks again; the car ends
the session while that retry waits for its answer. The warning of the run was told already; the
retry's own failure (nothing was left to stop) must not warn again."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.common import (  # type: ignore[import-untyped]
    MockConfigEntry,
)

from custom_components.ocpp_ems.const import (
    CONF_GRID_POWER,
    CONF_PAUSE_STRATEGY,
    CONF_RESPONSE_TIMEOUT,
)
from custom_components.ocpp_ems.core.model import Charger
from custom_components.ocpp_ems.core.protocol.v16.commands import V16Commands

from .helpers.charger import wait_for
from .helpers.ems import REASON, async_set_charger_options, ems_server_options
from .helpers.fixtures import Onboard
from .test_ems_entities import state_of
from .test_ems_pause import set_mode
from .test_redteam7_signals import FAILED, retries_watched

pytestmark = pytest.mark.usefixtures("fast_ems_debounce")

STOP = "RemoteStopTransaction"


@pytest.fixture
def server_options() -> dict[str, Any]:
    return ems_server_options(**{CONF_GRID_POWER: "sensor.grid", CONF_RESPONSE_TIMEOUT: 1})


def _stops_sent(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The transactions the central system asks the charger to stop, as it sends each (the
    1.6 command runs as it is; a silent charger cannot record it: its handler blocks)."""
    sent: list[str] = []
    remote_stop = V16Commands.remote_stop

    async def recorded(self: V16Commands, transaction_id: str) -> None:
        sent.append(transaction_id)
        await remote_stop(self, transaction_id)

    monkeypatch.setattr(V16Commands, "remote_stop", recorded)
    return sent


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.levelno >= logging.WARNING and r.getMessage().startswith(FAILED)
    ]


async def test_a_retried_stop_whose_session_ends_on_its_way_warns_once(
    hass: HomeAssistant,
    onboard: Onboard,
    server_entry: MockConfigEntry,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    await retries_watched(hass, monkeypatch, caplog)
    sent = _stops_sent(monkeypatch)
    async with onboard() as (sim, entry):
        await async_set_charger_options(hass, entry, **{CONF_PAUSE_STRATEGY: "remote_stop_start"})
        model: Charger = server_entry.runtime_data.central.charger("CP1")
        await set_mode(hass, "fast")
        await sim.status("Preparing")
        await sim.start_transaction()
        await sim.status("Charging")
        await wait_for(lambda: not model.limit.paused, what="charging")

        sim.silent.add(STOP)
        await set_mode(hass, "off")
        await wait_for(lambda: len(_warnings(caplog)) == 1, 5.0, what="the stop unanswered")
        await wait_for(lambda: len(sent) == 2, 5.0, what="the stop asked again")
        sim._spawn(sim.stop_transaction)  # the car ends the session (its answer never read)
        await wait_for(lambda: not model.running_transactions, what="the session ended")
        await wait_for(lambda: caplog.text.count(FAILED) == 2, 5.0, what="the retry's timeout")
        await hass.async_block_till_done()
        assert len(_warnings(caplog)) == 1, _warnings(caplog)
        assert len(sent) == 2  # (nothing more to stop)
        assert state_of(hass, REASON).state == "off"  # (432c52b: "not answering" until the retry)
