"""A station with two outlets under the energy manager, in a real Home Assistant with a simulated
1.6 station: its limit (a charger-wide TxDefault profile) holds for each outlet, so with two cars
charging the manager writes the station's current divided between them, and the whole of it again
once one car is done. Before, the manager wrote the surplus of one car, and two cars took twice
it (in Solar mode the second car's share came from the grid; on a tight fuse it went over)."""

from __future__ import annotations

from typing import Any

import pytest
from homeassistant.core import HomeAssistant

from custom_components.ocpp_ems.const import CONF_GRID_POWER, CONF_PV_POWER
from custom_components.ocpp_ems.core.ems import outlets

from .helpers.charger import wait_for
from .helpers.ems import POWER, async_setup_sources, ems_server_options, set_sources
from .helpers.fixtures import Onboard

pytestmark = pytest.mark.usefixtures("fast_ems_debounce")

# 10 kW exported with the cars drawing nothing yet: 14.5 A a line for the station.
SURPLUS_W = 10_000.0
STATION_A = SURPLUS_W / 690


@pytest.fixture
def server_options() -> dict[str, Any]:
    return ems_server_options(**{CONF_GRID_POWER: "sensor.grid", CONF_PV_POWER: "sensor.pv"})


async def test_two_cars_share_the_surplus_of_one_station(
    hass: HomeAssistant,
    onboard: Onboard,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A full car counts on for a while (it may resume at once): 1 s here.
    monkeypatch.setattr(outlets, "LEAVE_S", 1.0)
    await async_setup_sources(hass, {"grid": POWER, "pv": POWER})
    await set_sources(hass, grid=-SURPLUS_W, pv=SURPLUS_W)
    async with onboard("DUO", configuration={"NumberOfConnectors": "2"}) as (sim, _entry):
        for outlet in (1, 2):
            await sim.status("Preparing", connector_id=outlet)
            await sim.start_transaction(connector_id=outlet)
            await sim.status("Charging", connector_id=outlet)
        await wait_for(
            lambda: sim.live_limit() == pytest.approx(STATION_A / 2, abs=0.15),
            what="the surplus halved",
        )
        await sim.status("SuspendedEV", connector_id=2)  # the second car is full
        await wait_for(
            lambda: sim.live_limit() == pytest.approx(STATION_A, abs=0.15),
            what="the whole surplus for the car left",
        )
