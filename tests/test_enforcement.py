"""Issue 6 in a real Home Assistant: an unauthorized session gets no current from the energy
manager, and a charger whose clock runs ahead raises a repair issue that clears by itself."""

from __future__ import annotations

from typing import Any

import pytest
from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir
from pytest_homeassistant_custom_component.common import (  # type: ignore[import-untyped]
    MockConfigEntry,
)

from custom_components.ocpp_ems.const import (
    CONF_EMS_ENABLED,
    CONF_GRID_POWER,
    CONF_MIN_WRITE_INTERVAL,
    CONF_RESPONSE_TIMEOUT,
    DOMAIN,
    ISSUE_CLOCK_SKEW,
    repair_issue_id,
)
from custom_components.ocpp_ems.core.meter_time import MAX_CLOCK_AHEAD_S

from .helpers.charger import wait_for
from .helpers.ems import MODE, POWER, REASON, TARGET, async_setup_sources, set_sources
from .helpers.fixtures import Onboard

pytestmark = pytest.mark.usefixtures("fast_ems_debounce")


@pytest.fixture
def server_options() -> dict[str, Any]:
    return {
        CONF_RESPONSE_TIMEOUT: 3,
        CONF_EMS_ENABLED: True,
        CONF_GRID_POWER: "sensor.grid",
        CONF_MIN_WRITE_INTERVAL: 0,
    }


def state(hass: HomeAssistant, entity_id: str) -> str:
    current = hass.states.get(entity_id)
    assert current is not None, entity_id
    return current.state


async def test_energy_manager_gives_an_unauthorized_session_no_current(
    hass: HomeAssistant, onboard: Onboard, server_entry: MockConfigEntry
) -> None:
    await async_setup_sources(hass, {"grid": POWER})
    await set_sources(hass, grid=0)
    async with onboard() as (sim, _entry):
        await hass.services.async_call(
            "select", "select_option", {"entity_id": MODE, "option": "fast"}, blocking=True
        )
        # The charger will not stop the session it started with a card nobody allowed.
        sim.statuses["RemoteStopTransaction"] = "Rejected"
        await sim.status("Preparing")
        await sim.start_transaction("STRANGER")
        await sim.status("Charging")
        await wait_for(lambda: sim.commands("RemoteStopTransaction"), what="remote stop")
        await hass.async_block_till_done()
        await wait_for(lambda: state(hass, REASON) == "not_plugged", what="no current wanted")
        assert float(state(hass, TARGET)) == 0
        await wait_for(lambda: sim.live_limit() == 0.0, what="0 A")

        # The same car with an accepted card: the energy manager gives it the maximum (fast).
        await sim.stop_transaction()
        await sim.start_transaction()
        await wait_for(lambda: state(hass, REASON) == "fast", what="fast")
        await wait_for(lambda: sim.live_limit() == 32.0, what="32 A")


async def test_charger_clock_ahead_raises_a_repair_that_clears(
    hass: HomeAssistant, onboard: Onboard
) -> None:
    issues = ir.async_get(hass)
    async with onboard() as (sim, _entry):
        assert issues.async_get_issue(DOMAIN, repair_issue_id(ISSUE_CLOCK_SKEW, "CP1")) is None
        await sim.start_transaction()
        # A reading stamped an hour ahead: counted as of now, and the user is told.
        await sim.meter_values(energy_wh=1500, ago_s=-3600)
        await hass.async_block_till_done()
        issue = issues.async_get_issue(DOMAIN, repair_issue_id(ISSUE_CLOCK_SKEW, "CP1"))
        assert issue is not None
        assert issue.translation_key == ISSUE_CLOCK_SKEW
        assert issue.translation_placeholders == {"charger_id": "CP1", "minutes": "60"}
        assert state(hass, "sensor.acme_wallbox_1_session_energy") == "0.5"
        # Still ahead (but beyond the limit) by another amount: the issue follows.
        await sim.meter_values(energy_wh=1600, ago_s=-(MAX_CLOCK_AHEAD_S + 120))
        await hass.async_block_till_done()
        issue = issues.async_get_issue(DOMAIN, repair_issue_id(ISSUE_CLOCK_SKEW, "CP1"))
        assert issue is not None
        assert issue.translation_placeholders["minutes"] == "7"
        # The clock is right again: the issue goes away, and the reading counts.
        await sim.meter_values(energy_wh=1700)
        await hass.async_block_till_done()
        assert issues.async_get_issue(DOMAIN, repair_issue_id(ISSUE_CLOCK_SKEW, "CP1")) is None
        assert state(hass, "sensor.acme_wallbox_1_session_energy") == "0.7"
