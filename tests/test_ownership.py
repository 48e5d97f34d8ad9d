"""Who controls a charger's limit, in a real Home Assistant with a simulated charger.

A manual change (the current-limit number, the charging switch, set_current_limit,
pause_charging, resume_charging) of a charger the energy manager controls takes it over: its mode
becomes Manual, the manual value stays, the manager writes nothing more until another mode hands it
back. Controls and actions refuse an offline charger. A charger that reconnects under the energy
manager never gets a live limit above its safe current before the manager's first decision.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from homeassistant.components.number import NumberEntity
from homeassistant.components.switch import SwitchEntity
from homeassistant.core import HomeAssistant, State
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers.entity_component import DATA_INSTANCES
from pytest_homeassistant_custom_component.common import (  # type: ignore[import-untyped]
    MockConfigEntry,
)

from custom_components.ocpp_ems.const import (
    CONF_EMS_ENABLED,
    CONF_GRID_POWER,
    CONF_PASSWORD,
    CONF_PV_POWER,
    DOMAIN,
)
from custom_components.ocpp_ems.core.current_control import LIVE_PROFILE_ID
from custom_components.ocpp_ems.core.model import ControlledBy

from .helpers.charger import SimCharger, wait_for
from .helpers.ems import (
    MODE,
    POWER,
    REASON,
    async_setup_sources,
    ems_server_options,
    set_sources,
)
from .helpers.fixtures import ConnectCharger, Onboard
from .helpers.platform import device_id

CONTROLLED_BY = "sensor.acme_wallbox_1_controlled_by"
CURRENT_LIMIT = "number.acme_wallbox_1_current_limit"
CHARGING = "switch.acme_wallbox_1_charging_enabled"
ACTIVE_LIMIT = "sensor.acme_wallbox_1_active_limit"
# What Solar gives the car with 5 kW exported (three phases at 230 V).
SOLAR_A = 5000 / 690


@pytest.fixture
def server_options() -> dict[str, Any]:
    return ems_server_options(**{CONF_GRID_POWER: "sensor.grid", CONF_PV_POWER: "sensor.pv"})


@pytest.fixture
async def sources(hass: HomeAssistant) -> None:
    await async_setup_sources(hass, {"grid": POWER, "pv": POWER})
    await set_sources(hass, grid=-5000, pv=6000)


def state_of(hass: HomeAssistant, entity_id: str) -> State:
    state = hass.states.get(entity_id)
    assert state is not None, entity_id
    return state


async def call(hass: HomeAssistant, domain: str, service: str, data: dict[str, Any]) -> None:
    await hass.services.async_call(domain, service, data, blocking=True)
    await hass.async_block_till_done()


async def set_mode(hass: HomeAssistant, mode: str) -> None:
    await call(hass, "select", "select_option", {"entity_id": MODE, "option": mode})


def live_writes(sim: SimCharger) -> list[float]:
    return [
        float(
            p["cs_charging_profiles"]["charging_schedule"]["charging_schedule_period"][0]["limit"]
        )
        for p in sim.commands("SetChargingProfile")
        if p["cs_charging_profiles"]["charging_profile_id"] == LIVE_PROFILE_ID
    ]


async def plug_in_and_charge(sim: SimCharger) -> None:
    await sim.status("Preparing")
    await sim.start_transaction()
    await sim.status("Charging")


# (start mode, the manual change, the live limit it leaves)
type Change = Callable[[HomeAssistant, MockConfigEntry], Awaitable[None]]


async def number_to_10(hass: HomeAssistant, _entry: MockConfigEntry) -> None:
    await call(hass, "number", "set_value", {"entity_id": CURRENT_LIMIT, "value": 10})


async def switch_off(hass: HomeAssistant, _entry: MockConfigEntry) -> None:
    await call(hass, "switch", "turn_off", {"entity_id": CHARGING})


async def switch_on(hass: HomeAssistant, _entry: MockConfigEntry) -> None:
    await call(hass, "switch", "turn_on", {"entity_id": CHARGING})


async def action_limit_12(hass: HomeAssistant, entry: MockConfigEntry) -> None:
    await call(
        hass, DOMAIN, "set_current_limit", {"device_id": device_id(hass, entry), "current": 12}
    )


async def action_pause(hass: HomeAssistant, entry: MockConfigEntry) -> None:
    await call(hass, DOMAIN, "pause_charging", {"device_id": device_id(hass, entry)})


async def action_resume(hass: HomeAssistant, entry: MockConfigEntry) -> None:
    await call(hass, DOMAIN, "resume_charging", {"device_id": device_id(hass, entry)})


@pytest.mark.usefixtures("fast_ems_debounce", "sources")
@pytest.mark.parametrize(
    ("start_mode", "start_a", "change", "manual_a"),
    [
        ("fast", 32.0, number_to_10, 10.0),
        ("fast", 32.0, switch_off, 0.0),
        ("off", 0.0, switch_on, 32.0),  # resuming lifts the manager's 0 A pause
        ("fast", 32.0, action_limit_12, 12.0),
        ("fast", 32.0, action_pause, 0.0),
        ("off", 0.0, action_resume, 32.0),
    ],
)
async def test_manual_change_takes_over_until_a_mode_hands_back(
    hass: HomeAssistant,
    onboard: Onboard,
    server_entry: MockConfigEntry,
    start_mode: str,
    start_a: float,
    change: Change,
    manual_a: float,
) -> None:
    async with onboard() as (sim, entry):
        await plug_in_and_charge(sim)
        await set_mode(hass, start_mode)
        await wait_for(lambda: sim.live_limit() == start_a, what=f"{start_mode}: {start_a} A")
        assert state_of(hass, CONTROLLED_BY).state == "energy_manager"
        assert state_of(hass, CONTROLLED_BY).attributes["mode"] == start_mode

        await change(hass, entry)
        # Taken over: mode Manual, the manual value in force, the sensors say so.
        assert sim.live_limit() == manual_a
        assert state_of(hass, MODE).state == "manual"
        assert state_of(hass, CONTROLLED_BY).state == "manual"
        assert "mode" not in state_of(hass, CONTROLLED_BY).attributes
        assert state_of(hass, REASON).state == "manual"
        model = server_entry.runtime_data.central.charger("CP1")
        assert model.limit.controlled_by is ControlledBy.MANUAL

        # The manager keeps deciding (the site changes), but writes nothing to this charger.
        writes = len(sim.commands("SetChargingProfile"))
        await set_sources(hass, grid=-9000, pv=10000)
        await asyncio.sleep(0.3)
        await set_sources(hass, grid=2000, pv=0)
        await asyncio.sleep(0.3)
        await hass.async_block_till_done()
        assert len(sim.commands("SetChargingProfile")) == writes
        assert sim.live_limit() == manual_a
        assert state_of(hass, REASON).state == "manual"

        # Picking Solar hands it back: the manager decides and writes again (5 kW exported).
        await set_sources(hass, grid=-5000, pv=6000)
        await set_mode(hass, "solar")
        assert state_of(hass, CONTROLLED_BY).state == "energy_manager"
        assert state_of(hass, CONTROLLED_BY).attributes["mode"] == "solar"
        await wait_for(
            lambda: abs((sim.live_limit() or 0.0) - SOLAR_A) < 0.15, what="solar after hand-back"
        )
        assert state_of(hass, CHARGING).state == "on"
        assert model.limit.controlled_by is ControlledBy.ENERGY_MANAGER


@pytest.mark.usefixtures("fast_ems_debounce", "sources")
async def test_a_refused_manual_change_leaves_the_manager_in_control(
    hass: HomeAssistant, onboard: Onboard, server_entry: MockConfigEntry
) -> None:
    """The charger refuses the manual limit: the action fails and nothing was taken over."""
    async with onboard() as (sim, entry):
        await plug_in_and_charge(sim)
        await set_mode(hass, "fast")
        await wait_for(lambda: sim.live_limit() == 32.0, what="fast: 32 A")
        sim.statuses["SetChargingProfile"] = "Rejected"
        with pytest.raises(HomeAssistantError):
            await action_limit_12(hass, entry)
        assert state_of(hass, MODE).state == "fast"
        assert state_of(hass, CONTROLLED_BY).state == "energy_manager"
        model = server_entry.runtime_data.central.charger("CP1")
        assert model.limit.controlled_by is ControlledBy.ENERGY_MANAGER
        assert sim.live_limit() == 32.0


@pytest.mark.usefixtures("fast_ems_debounce", "sources")
async def test_a_refused_manual_change_keeps_a_running_boost(
    hass: HomeAssistant, onboard: Onboard, server_entry: MockConfigEntry
) -> None:
    """The takeover ends a boost; when the charger refused the change the mode came back
    without it: the car the user boosted fell back to the sun."""
    async with onboard() as (sim, entry):
        await plug_in_and_charge(sim)
        await set_mode(hass, "solar")
        await call(hass, DOMAIN, "boost_now", {"device_id": device_id(hass, entry)})
        view = server_entry.runtime_data.ems.charger_view("CP1")
        boosted_until = view.boost_until
        assert boosted_until is not None
        await wait_for(lambda: sim.live_limit() == 32.0, what="boosted")
        sim.statuses["SetChargingProfile"] = "Rejected"
        with pytest.raises(HomeAssistantError):
            await action_limit_12(hass, entry)
        assert state_of(hass, MODE).state == "solar"
        assert view.boost_until == boosted_until
        sim.statuses["SetChargingProfile"] = "Accepted"
        await set_sources(hass, grid=-5100, pv=6000)  # the manager decides again: still boosted
        await wait_for(lambda: state_of(hass, REASON).state == "boost", what="still boosted")
        await asyncio.sleep(0.3)
        await hass.async_block_till_done()
        assert sim.live_limit() == 32.0


@pytest.mark.usefixtures("fast_ems_debounce", "sources")
async def test_mode_actions_and_boost_while_manual(
    hass: HomeAssistant, onboard: Onboard, server_entry: MockConfigEntry
) -> None:
    async with onboard() as (sim, entry):
        await plug_in_and_charge(sim)
        device = device_id(hass, entry)
        # The action takes it over as well (the limit as it is stays).
        await call(hass, DOMAIN, "set_charge_mode", {"device_id": device, "mode": "manual"})
        assert state_of(hass, CONTROLLED_BY).state == "manual"
        with pytest.raises(ServiceValidationError) as err:
            await call(hass, DOMAIN, "boost_now", {"device_id": device})
        assert err.value.translation_key == "charger_manual"
        # A manual change of a Manual charger leaves it Manual.
        await call(hass, "number", "set_value", {"entity_id": CURRENT_LIMIT, "value": 9})
        assert state_of(hass, MODE).state == "manual"
        assert sim.live_limit() == 9.0
        # Off refuses a boost like Manual (it was kept, and boosted at a later mode change).
        await call(hass, DOMAIN, "set_charge_mode", {"device_id": device, "mode": "off"})
        with pytest.raises(ServiceValidationError) as err:
            await call(hass, DOMAIN, "boost_now", {"device_id": device})
        assert err.value.translation_key == "charger_off"
        assert server_entry.runtime_data.ems.charger_view("CP1").boost_until is None
        await call(hass, DOMAIN, "set_charge_mode", {"device_id": device, "mode": "fast"})
        assert state_of(hass, CONTROLLED_BY).state == "energy_manager"
        await wait_for(lambda: sim.live_limit() == 32.0, what="fast")
        await call(hass, DOMAIN, "boost_now", {"device_id": device})

        # Switched off in the options: nobody controls it; a manual change changes no mode.
        hass.config_entries.async_update_entry(
            server_entry, options=server_entry.options | {CONF_EMS_ENABLED: False}
        )
        await hass.async_block_till_done()
        assert state_of(hass, CONTROLLED_BY).state == "none"
        await call(hass, "number", "set_value", {"entity_id": CURRENT_LIMIT, "value": 11})
        assert sim.live_limit() == 11.0
        assert state_of(hass, CONTROLLED_BY).state == "none"
        view = server_entry.runtime_data.ems.charger_view("CP1")
        assert view.mode == "fast"


async def solar_then_10_a_for_a_second(
    hass: HomeAssistant, sim: SimCharger, entry: MockConfigEntry
) -> str:
    """A charging car in Solar, then set_current_limit 10 A for 1 s; returns the device id."""
    await plug_in_and_charge(sim)
    await set_mode(hass, "solar")
    await wait_for(lambda: abs((sim.live_limit() or 0.0) - SOLAR_A) < 0.15, what="solar")
    device = device_id(hass, entry)
    await call(
        hass, DOMAIN, "set_current_limit", {"device_id": device, "current": 10, "duration": 1}
    )
    return device


@pytest.mark.usefixtures("fast_ems_debounce", "sources")
async def test_a_limit_for_a_while_hands_back_to_the_manager_when_it_ends(
    hass: HomeAssistant, onboard: Onboard, server_entry: MockConfigEntry
) -> None:
    """set_current_limit with a duration on a Solar charger: when the limit ended the charger
    stayed Manual, without any limit (the installation maximum, from the grid), although the
    action promises the charger returns to its previous limit."""
    async with onboard() as (sim, entry):
        await solar_then_10_a_for_a_second(hass, sim, entry)
        assert sim.live_limit() == 10.0
        assert state_of(hass, MODE).state == "manual"
        model = server_entry.runtime_data.central.charger("CP1")
        await wait_for(lambda: model.limit.expires_at is None, seconds=15, what="expiry")
        await hass.async_block_till_done()
        assert state_of(hass, MODE).state == "solar"
        assert model.limit.controlled_by is ControlledBy.ENERGY_MANAGER
        await wait_for(
            lambda: abs((sim.live_limit() or 0.0) - SOLAR_A) < 0.15, what="solar after the limit"
        )


@pytest.mark.usefixtures("fast_ems_debounce", "sources")
async def test_a_pause_after_a_limit_for_a_while_is_not_handed_back(
    hass: HomeAssistant, onboard: Onboard, server_entry: MockConfigEntry
) -> None:
    """10 A for 1 s on a Solar charger, then a pause: a new limit without a duration ended the
    hand-back, a pause did not, so when the second was over the charger went back to Solar and
    the energy manager resumed the charging the user had paused."""
    async with onboard() as (sim, entry):
        device = await solar_then_10_a_for_a_second(hass, sim, entry)
        await call(hass, DOMAIN, "pause_charging", {"device_id": device})
        model = server_entry.runtime_data.central.charger("CP1")
        assert model.limit.paused
        assert model.limit.expires_at is None
        await asyncio.sleep(1.5)  # past the end the limit had
        await hass.async_block_till_done()
        assert state_of(hass, MODE).state == "manual"
        assert model.limit.paused


def entity_of[E](hass: HomeAssistant, domain: str, entity_id: str, kind: type[E]) -> E:
    entity = hass.data[DATA_INSTANCES][domain].get_entity(entity_id)
    assert isinstance(entity, kind), entity_id
    return entity


@pytest.mark.usefixtures("fast_ems_debounce", "sources")
async def test_controls_refuse_an_offline_charger(
    hass: HomeAssistant, onboard: Onboard, server_entry: MockConfigEntry
) -> None:
    """Home Assistant itself skips unavailable entities; a change that reaches one of ours while
    the charger is gone (it went offline meanwhile) says so, translated, and is not remembered."""
    async with onboard() as (sim, entry):
        number = entity_of(hass, "number", CURRENT_LIMIT, NumberEntity)
        switch = entity_of(hass, "switch", CHARGING, SwitchEntity)
        await sim._connection.close()
        charger = entry.runtime_data.coordinator.charger
        await wait_for(lambda: not charger.connected, what="offline")
        limit = (charger.limit.requested_a, charger.limit.paused)
        for attempt in (
            number.async_set_native_value(10),
            switch.async_turn_off(),
            switch.async_turn_on(),
        ):
            with pytest.raises(HomeAssistantError) as err:
                await attempt
            assert err.value.translation_key == "charger_not_connected"
            assert err.value.translation_placeholders == {"charger_id": "CP1"}
        assert (charger.limit.requested_a, charger.limit.paused) == limit
        # Nothing was taken over either.
        assert server_entry.runtime_data.ems.charger_view("CP1").mode == "solar"


@pytest.mark.usefixtures("sources")
async def test_reconnect_is_held_at_the_safe_current_until_the_first_decision(
    hass: HomeAssistant, onboard: Onboard, connect: ConnectCharger, server_entry: MockConfigEntry
) -> None:
    """The energy manager decides about a second after a reconnect (its debounce); the charger is
    attached within that second and must not run at the limit from before (here Fast: 32 A)."""
    async with onboard() as (sim, entry):
        await plug_in_and_charge(sim)
        await set_mode(hass, "fast")
        await wait_for(lambda: sim.live_limit() == 32.0, what="fast")
    charger = entry.runtime_data.coordinator.charger
    await wait_for(lambda: not charger.connected, what="offline")
    assert charger.limit.controlled_by is ControlledBy.ENERGY_MANAGER

    async with connect("CP1", password=entry.data[CONF_PASSWORD].encode()) as again:
        assert await again.boot() == "Accepted"
        await wait_for(lambda: live_writes(again), what="the live limit of the new connection")
        assert live_writes(again)[0] == 6.0  # the safe current (the base profile's)
        await hass.async_block_till_done()
        assert state_of(hass, ACTIVE_LIMIT).state == "6.0"
        # Then the manager's decision for this connection (the car is still charging).
        await again.status("Charging")
        await wait_for(lambda: again.live_limit() == 32.0, seconds=10, what="the decision")
        assert all(limit <= 6.0 for limit in live_writes(again)[:-1])


@pytest.mark.usefixtures("fast_ems_debounce")
@pytest.mark.parametrize(
    ("own_a", "back_a"), [(None, 32.0), (12.0, 12.0)], ids=["no limit of its own", "its own 12 A"]
)
async def test_a_limit_for_a_while_ending_with_the_manager_off_returns_the_users_own(
    hass: HomeAssistant,
    onboard: Onboard,
    server_entry: MockConfigEntry,
    own_a: float | None,
    back_a: float,
) -> None:
    """Solar without sun holds the car at 0 A; the user gives it 10 A for a while, then switches
    the manager off. When the while ends, the limit from before it (the manager's 0 A) came
    back with nobody to lift it: the car never charged again, though nothing controlled it. Now
    the user's own comes back: none (the installation maximum), or the 12 A set in Manual
    before Solar (which was lost: no limit at all)."""
    await async_setup_sources(hass, {"grid": POWER, "pv": POWER})
    await set_sources(hass, grid=500, pv=0)
    async with onboard() as (sim, entry):
        await plug_in_and_charge(sim)
        if own_a is not None:
            await call(hass, "number", "set_value", {"entity_id": CURRENT_LIMIT, "value": own_a})
            assert state_of(hass, MODE).state == "manual"
            await wait_for(lambda: sim.live_limit() == own_a, what="the user's own limit")
            await set_mode(hass, "solar")
        await wait_for(lambda: sim.live_limit() == 0.0, what="solar without sun: 0 A")
        await call(
            hass,
            DOMAIN,
            "set_current_limit",
            {"device_id": device_id(hass, entry), "current": 10, "duration": 2},
        )
        assert sim.live_limit() == 10.0
        hass.config_entries.async_update_entry(
            server_entry, options=server_entry.options | {CONF_EMS_ENABLED: False}
        )
        await hass.async_block_till_done()
        model = server_entry.runtime_data.central.charger("CP1")
        await wait_for(lambda: model.limit.expires_at is None, seconds=15, what="expiry")
        await wait_for(lambda: sim.live_limit() == back_a, what="the user's own limit back")
        await hass.async_block_till_done()
        assert state_of(hass, CONTROLLED_BY).state == "none"
        assert state_of(hass, CHARGING).state == "on"
        assert state_of(hass, CURRENT_LIMIT).state == str(back_a)
