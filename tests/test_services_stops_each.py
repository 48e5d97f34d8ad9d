"""The pause and stop actions on a charger with a charge on two connectors whose stops both fail,
one refused and one left unanswered: the action's error names each connector by its outcome (it
named the first failure only, so a car charging on behind an unanswered stop went untold)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError

from .helpers.charger import wait_for
from .helpers.ems import async_set_charger_options
from .helpers.fixtures import Target
from .test_services import call

STOP = "RemoteStopTransaction"


async def _charging_on_two_connectors_refusing_one_stop_and_ignoring_the_other(
    hass: HomeAssistant, target: Target
) -> None:
    """A charge on connector 1 (its stop refused) and on connector 2 (its stop unanswered)."""
    sim = target.sim
    await async_set_charger_options(hass, target.entry, pause_strategy="remote_stop_start")
    await wait_for(lambda: target.entry.runtime_data.central.session("CP1") is not None)
    transactions = {}
    for connector_id in (1, 2):
        await sim.status("Preparing", connector_id=connector_id)
        transactions[await sim.start_transaction(connector_id=connector_id)] = connector_id
        await sim.status("Charging", connector_id=connector_id)
    await hass.async_block_till_done()
    answer = sim._answer

    async def scripted(action: str, payload: dict[str, Any], default: str) -> str:
        status = await answer(action, payload, default)  # (recorded)
        if action != STOP:
            return status
        if transactions[payload["transaction_id"]] == 2:
            await asyncio.Event().wait()  # never answers (the server times out)
        return "Rejected"

    sim._answer = scripted  # type: ignore[method-assign]


@pytest.mark.parametrize("action", ["pause_charging", "stop_charging"])
async def test_the_error_names_each_connector_by_its_outcome(
    hass: HomeAssistant, target: Target, action: str
) -> None:
    await _charging_on_two_connectors_refusing_one_stop_and_ignoring_the_other(hass, target)
    with pytest.raises(HomeAssistantError) as err:
        await call(hass, action, target)
    assert err.value.translation_key == "stops_failed"
    assert err.value.translation_placeholders == {
        "charger_id": "CP1",
        "refused": "1",
        "unanswered": "2",
        "failed": "-",
    }
    assert len(target.sim.commands(STOP)) == 2  # each asked
