"""What the energy manager learned survives a reload: a charger's settle time, learned from its
meter values after real writes, and the home battery's maximum charging power are in effect again
in the new energy manager (read the way diagnostics show them), and the battery's claim still
holds the car back; a 1-phase car paused over a restart is planned on its one phase."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from homeassistant.core import HomeAssistant
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.common import (  # type: ignore[import-untyped]
    MockConfigEntry,
)

from custom_components.ocpp_ems.const import CONF_BATTERY_POWER, CONF_GRID_POWER, DOMAIN
from custom_components.ocpp_ems.core.ems.types import Reason, SiteInputs
from custom_components.ocpp_ems.core.model import ControlledBy

from .helpers.charger import SimCharger, wait_for
from .helpers.ems import (
    MODE,
    POWER,
    async_setup_sources,
    ems_server_options,
    plug_in_and_charge,
    set_sources,
)
from .helpers.fixtures import ConnectCharger, Onboard
from .helpers.platform import device_id

pytestmark = pytest.mark.usefixtures("fast_ems_debounce")


@pytest.fixture
def server_options() -> dict[str, Any]:
    return ems_server_options(
        **{CONF_GRID_POWER: "sensor.grid", CONF_BATTERY_POWER: "sensor.battery"}
    )


def learned(entry: MockConfigEntry) -> dict[str, Any]:
    result: dict[str, Any] = entry.runtime_data.ems.learned()
    return result


async def follow(hass: HomeAssistant, sim: SimCharger, entry: MockConfigEntry, mode: str) -> None:
    """Pick ``mode``; the charger applies the new limit and its meter shows the car following."""
    seen = learned(entry)["chargers"]["CP1"]["observed_changes"]
    before = sim.live_limit()
    await hass.services.async_call(
        "select", "select_option", {"entity_id": MODE, "option": mode}, blocking=True
    )
    await wait_for(lambda: sim.live_limit() != before, what=f"the limit of {mode}")
    amps = sim.live_limit()
    assert amps is not None
    await sim.meter_values(current_a=(amps, amps, amps))
    await wait_for(
        lambda: learned(entry)["chargers"]["CP1"]["observed_changes"] > seen,
        what="the response observed",
    )


async def test_learned_settle_time_and_battery_maximum_survive_a_reload(
    hass: HomeAssistant, onboard: Onboard, server_entry: MockConfigEntry
) -> None:
    await async_setup_sources(hass, {"grid": POWER, "battery": POWER})
    async with onboard() as (sim, _charger_entry):
        # The battery is seen charging 3 kW: it takes at least that. The car draws from the grid
        # (no surplus: Min + solar gives it its minimum).
        await set_sources(hass, grid=20000, battery=-3000)
        await hass.services.async_call(
            "select", "select_option", {"entity_id": MODE, "option": "fast"}, blocking=True
        )
        await plug_in_and_charge(sim)
        await wait_for(lambda: sim.live_limit() == 32.0, what="fast")
        await sim.meter_values(current_a=(32.0, 32.0, 32.0))
        # Three changes the car follows at once: this charger settles in far less than the 8 s
        # assumed for an unknown one (the shortest settle time allowed, 1 s).
        for mode in ("min_solar", "fast", "min_solar"):
            await follow(hass, sim, server_entry, mode)
        now = learned(server_entry)
        assert now["chargers"]["CP1"]["late_s"] == 1.0
        assert now["battery_accept_w"] == 3000.0
        await set_sources(hass, battery=0)

        assert await hass.config_entries.async_reload(server_entry.entry_id)
        await hass.async_block_till_done()
        ems = server_entry.runtime_data.ems
        await wait_for(
            lambda: ems.controlled_by("CP1") is ControlledBy.ENERGY_MANAGER, what="CP1 back"
        )
        again = learned(server_entry)
        assert again["chargers"]["CP1"]["late_s"] == 1.0
        assert again["chargers"]["CP1"]["observed_changes"] == 3
        assert again["battery_accept_w"] == 3000.0
        # The battery charging 1 kW less than it took: a car took it (battery first, as without a
        # SoC reading), so the surplus is 2 kW lower (less the meter-noise band of 100 W) than
        # with the battery charging all it takes.
        assert await surplus_at(hass, server_entry, battery=-1000) == pytest.approx(
            await surplus_at(hass, server_entry, battery=-3000) - 1900.0
        )


async def surplus_at(hass: HomeAssistant, entry: MockConfigEntry, *, battery: float) -> float:
    """The site's surplus decided with the battery charging ``-battery`` W."""
    await set_sources(hass, battery=battery)
    ems = entry.runtime_data.ems
    ems.async_schedule_update(immediately=True)
    assert ems.site_decision is not None
    surplus = ems.site_decision.surplus_w
    assert surplus is not None
    return float(surplus)


async def test_learned_battery_capacity_survives_a_reload(
    hass: HomeAssistant, server_entry: MockConfigEntry
) -> None:
    """The home battery's capacity as learned (here put in place: learning it takes an hour of
    its power and SoC) is stored on unload, read back by the new energy manager and planned with
    (the diagnostics show it)."""
    await async_setup_sources(hass, {"grid": POWER, "battery": POWER})
    assert "battery_capacity_wh" not in learned(server_entry)
    memory = server_entry.runtime_data.ems._driver._manager.site_memory
    memory.capacity.load(12000.0)
    assert learned(server_entry)["battery_capacity_wh"] == 12000.0

    assert await hass.config_entries.async_reload(server_entry.entry_id)
    await hass.async_block_till_done()
    assert learned(server_entry)["battery_capacity_wh"] == 12000.0
    driver = server_entry.runtime_data.ems._driver
    assert driver._plan_site(SiteInputs(), 0.0, capped=True).plan.battery_capacity_wh == 12000.0


def car_phases(entry: MockConfigEntry) -> int | None:
    memory = entry.runtime_data.ems._driver._manager.memory("CP1")
    return None if memory is None else memory.car_phases


async def plan_start(hass: HomeAssistant, entry: MockConfigEntry) -> float | None:
    """When the plan means to start charging the car, paused now (POSIX s)."""
    ems = entry.runtime_data.ems
    ems.async_schedule_update(immediately=True)
    await hass.async_block_till_done()
    decision = ems.decision("CP1")
    assert decision is not None
    assert decision.reason is Reason.PLAN_WAITING
    return decision.until


async def test_a_paused_one_phase_car_stays_one_phase_over_a_restart(
    hass: HomeAssistant, onboard: Onboard, connect: ConnectCharger, server_entry: MockConfigEntry
) -> None:
    """5 kWh in two hours on a 3-phase charger: a plan starts later for a 3-phase car than for a
    1-phase one. The car was seen drawing on one phase, then paused; the energy manager restarts
    (reloaded) while the charger is offline, which comes back in the same session: still planned
    as a 1-phase car."""
    await async_setup_sources(hass, {"grid": POWER, "battery": POWER})
    departure = dt_util.utcnow() + timedelta(hours=2)
    async with onboard() as (sim, charger_entry):
        await plug_in_and_charge(sim)
        await hass.services.async_call(
            DOMAIN,
            "plan_charge",
            {"device_id": device_id(hass, charger_entry), "energy_kwh": 5, "departure": departure},
            blocking=True,
        )
        await sim.status("SuspendedEV")
        three_phase = await plan_start(hass, server_entry)
        assert car_phases(server_entry) is None
        # It draws from the grid for a moment (no sun: nothing for the plan to take).
        await set_sources(hass, grid=3680)
        await sim.status("Charging")
        await sim.meter_values(power_w=3680, current_a=(16.0, 0.0, 0.0))
        await wait_for(lambda: car_phases(server_entry) == 1, what="seen on one phase")
        await sim.meter_values(power_w=0, current_a=(0.0, 0.0, 0.0))
        await set_sources(hass, grid=0)
        await sim.status("SuspendedEV")
        one_phase = await plan_start(hass, server_entry)
        assert one_phase is not None
        assert three_phase is not None
        assert one_phase < three_phase  # 1 phase takes longer: the plan starts earlier
        transaction_id = sim.transaction_id

    assert await hass.config_entries.async_reload(server_entry.entry_id)
    await hass.async_block_till_done()
    async with connect() as sim:
        sim.transaction_id = transaction_id
        assert await sim.boot() == "Accepted"
        await sim.status("SuspendedEV")
        model = server_entry.runtime_data.central.charger("CP1")
        await wait_for(lambda: model.booted, what="CP1 back")
        assert await plan_start(hass, server_entry) == one_phase
        assert car_phases(server_entry) == 1
