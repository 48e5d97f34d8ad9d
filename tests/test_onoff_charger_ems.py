"""The energy manager and a charger whose option "Smart charging" is off, with a real simulated
charger: no limit reaches it, so charging it draws its full current (16 A on three phases here,
11 kW). Solar starts it only on a surplus for all of that, and stops it (remote stop) otherwise.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest
from homeassistant.core import HomeAssistant

from custom_components.ocpp_ems.const import (
    CONF_GRID_POWER,
    CONF_INSTALLATION_MAX,
    CONF_SMART_CHARGING,
)

from .helpers.charger import wait_for
from .helpers.ems import (
    POWER,
    REASON,
    TARGET,
    async_set_charger_options,
    async_setup_sources,
    ems_server_options,
    plug_in_and_charge,
    set_sources,
)
from .helpers.fixtures import Onboard

pytestmark = pytest.mark.usefixtures("fast_ems_debounce")
OURS = "custom_components.ocpp_ems"


@pytest.fixture
def server_options() -> dict[str, Any]:
    return ems_server_options(**{CONF_GRID_POWER: "sensor.grid"})


def state(hass: HomeAssistant, entity_id: str) -> str:
    shown = hass.states.get(entity_id)
    assert shown is not None, entity_id
    return shown.state


async def test_solar_charges_it_only_on_a_surplus_for_its_full_draw(
    hass: HomeAssistant, onboard: Onboard, caplog: pytest.LogCaptureFixture
) -> None:
    await async_setup_sources(hass, {"grid": POWER})
    await set_sources(hass, grid=-5000)  # 5 kW exported: less than its 11 kW
    async with onboard() as (sim, entry):
        # A car charging on the surplus; then the charger's limits are switched off: it draws
        # its 11 kW now, so it is stopped.
        await plug_in_and_charge(sim)
        await async_set_charger_options(
            hass, entry, **{CONF_SMART_CHARGING: "off", CONF_INSTALLATION_MAX: 16}
        )
        written = len(sim.commands("SetChargingProfile"))
        await wait_for(lambda: sim.commands("RemoteStopTransaction"), what="remote stop")
        await hass.async_block_till_done()
        assert (state(hass, REASON), state(hass, TARGET)) == ("waiting_for_surplus", "0.0")
        await sim.stop_transaction(reason="Remote")
        await sim.status("SuspendedEVSE")

        # Sun for all of it: started again, shown at its full current; never a limit written.
        await set_sources(hass, grid=-12000)
        await wait_for(lambda: sim.commands("RemoteStartTransaction"), what="remote start")
        await hass.async_block_till_done()
        assert (state(hass, REASON), state(hass, TARGET)) == ("solar", "16.0")
        assert len(sim.commands("SetChargingProfile")) == written
        # Its targets are no limits it fails to apply: nothing to warn about.
        warned = [r for r in caplog.records if r.levelno >= logging.WARNING and OURS in r.name]
        assert warned == []
