"""Red team of the discharge limit that cannot be set now (driver ``_plan_site(capped=...)``): an
inverter integration whose connection drops shows its discharge-limit number as unavailable (Home
Assistant keeps its unit, minimum and maximum then). Nothing written to it arrives, so it caps
nothing: while the house's deficit cannot be read a Solar car pauses, as without a discharge limit
(README), instead of charging on its fallback from the battery."""

from __future__ import annotations

from homeassistant.const import STATE_UNAVAILABLE
from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.common import (  # type: ignore[import-untyped]
    MockConfigEntry,
)

from .helpers.charger import wait_for
from .helpers.fixtures import Onboard
from .test_energy_manager import (
    plug_in_and_charge,
    server_options,
    set_site,
    sources,
    state_of,
    use_discharge_limit,
)

__all__ = ["server_options", "sources"]

LIMIT = "number.battery_discharge_limit"
LIMIT_ATTRIBUTES = {"unit_of_measurement": "W", "min": 0, "max": 5000}


async def test_an_unavailable_discharge_limit_caps_nothing(
    hass: HomeAssistant, sources: None, onboard: Onboard, server_entry: MockConfigEntry
) -> None:
    """A Solar car charges on the surplus; the inverter's connection drops (its discharge limit
    unavailable) and the grid meter goes unavailable: the car pauses (it held its 6 A fallback,
    from the battery). The limit back, it can be capped again: the car gets its fallback."""
    hass.states.async_set(LIMIT, STATE_UNAVAILABLE, LIMIT_ATTRIBUTES)
    await use_discharge_limit(hass, server_entry, LIMIT)
    await set_site(hass, grid=-8000, pv=9000)
    async with onboard() as (sim, _entry):
        await plug_in_and_charge(sim)
        await wait_for(lambda: 10.0 < (sim.live_limit() or 0.0) < 32.0, what="solar start")
        await hass.services.async_call(
            "input_boolean", "turn_off", {"entity_id": "input_boolean.grid_ok"}, blocking=True
        )
        assert state_of(hass, "sensor.grid_power").state == STATE_UNAVAILABLE
        await wait_for(lambda: sim.live_limit() is not None and sim.live_limit() < 10.0)
        await hass.async_block_till_done()
        assert sim.live_limit() == 0.0

        hass.states.async_set(LIMIT, "5000", LIMIT_ATTRIBUTES)
        await wait_for(lambda: sim.live_limit() == 6.0, 15.0, what="fallback, capped again")
