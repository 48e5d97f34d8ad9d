"""The energy manager pausing a charger whose pause strategy is remote stop / start.

Such a charger ends the session on a 0 A limit, so the energy manager pauses it with
RemoteStopTransaction and resumes it with RemoteStartTransaction (through the current control's
pause() / resume()); resume() puts the limit in place before the remote start.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import pytest
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from pytest_homeassistant_custom_component.common import (  # type: ignore[import-untyped]
    MockConfigEntry,
)

from custom_components.ocpp_ems import energy_manager
from custom_components.ocpp_ems.const import (
    CONF_EMS_ENABLED,
    CONF_GRID_POWER,
    CONF_PAUSE_STRATEGY,
)
from custom_components.ocpp_ems.core.model import Charger

from .helpers.charger import SimCharger, wait_for
from .helpers.ems import (
    MODE,
    POWER,
    async_set_charger_options,
    async_setup_sources,
    ems_server_options,
    set_sources,
)
from .helpers.fixtures import ConnectCharger, Onboard

pytestmark = pytest.mark.usefixtures("fast_ems_debounce")


@pytest.fixture
def server_options() -> dict[str, Any]:
    return ems_server_options(**{CONF_GRID_POWER: "sensor.grid"})


async def _grid_at(hass: HomeAssistant, watts: float) -> None:
    """The grid sensor, the manager's only source, reads ``watts`` (0: no surplus; more: import,
    no sun)."""
    await async_setup_sources(hass, {"grid": POWER})
    await set_sources(hass, grid=watts)


async def set_mode(hass: HomeAssistant, mode: str) -> None:
    await hass.services.async_call(
        "select", "select_option", {"entity_id": MODE, "option": mode}, blocking=True
    )
    await hass.async_block_till_done()


async def test_pause_and_resume_by_remote_stop_and_start(
    hass: HomeAssistant, onboard: Onboard, server_entry: MockConfigEntry
) -> None:
    await _grid_at(hass, 0)
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


async def stopped_by_the_manager(
    hass: HomeAssistant, sim: SimCharger, entry: MockConfigEntry, server_entry: MockConfigEntry
) -> Charger:
    """Pause strategy remote stop / start: a session runs in Fast, then the manager stops it
    (mode Off: a remote stop; the charger ends the session). Returns the charger's model."""
    await async_set_charger_options(hass, entry, **{CONF_PAUSE_STRATEGY: "remote_stop_start"})
    model: Charger = server_entry.runtime_data.central.charger("CP1")
    await set_mode(hass, "fast")
    await sim.status("Preparing")
    await sim.start_transaction()
    await sim.status("Charging")
    await wait_for(lambda: not model.limit.paused, what="charging")
    await set_mode(hass, "off")
    await wait_for(lambda: sim.commands("RemoteStopTransaction"), what="remote stop")
    await sim.stop_transaction(reason="Remote")
    await sim.status("SuspendedEVSE")
    return model


# --- the energy manager lets go of a charger: it is handed back, not left at its last limit ------
CHARGING = "switch.acme_wallbox_1_charging_enabled"
CURRENT_LIMIT = "number.acme_wallbox_1_current_limit"


async def switch_manager(hass: HomeAssistant, entry: MockConfigEntry, *, on: bool) -> None:
    """The energy manager switched on or off in the options (the chargers' entries reload)."""
    hass.config_entries.async_update_entry(entry, options={**entry.options, CONF_EMS_ENABLED: on})
    await hass.async_block_till_done()


async def _charging_held_at_0_a(sim: SimCharger) -> None:
    """A car plugs in and charges; Solar mode without sun holds it at 0 A."""
    await sim.status("Preparing")
    await sim.start_transaction()
    await sim.status("Charging")
    await wait_for(lambda: sim.live_limit() == 0.0, what="solar without sun: 0 A")


async def test_switching_the_manager_off_hands_a_car_held_at_0_a_back(
    hass: HomeAssistant, onboard: Onboard, connect: ConnectCharger, server_entry: MockConfigEntry
) -> None:
    """Solar mode without sun holds the car at 0 A. Switched off ("leave every charger to you"),
    the manager must not leave it there (it would never charge, and nothing would say why): the
    limit request goes (the installation maximum, as the current-limit number shows) and
    Charging enabled is on. So it stays over a restart with the manager off."""
    await _grid_at(hass, 500)
    async with onboard() as (sim, _entry):
        await _charging_held_at_0_a(sim)
        assert _state(hass, CHARGING) == "off"

        model = server_entry.runtime_data.central.charger("CP1")
        await switch_manager(hass, server_entry, on=False)
        await wait_for(lambda: sim.live_limit() == 32.0, what="handed back at the maximum")
        await asyncio.sleep(0.3)  # its answer on the way back (then the charger disconnects)
        assert model.limit.requested_a is None
        assert _state(hass, CHARGING) == "on"
        assert _state(hass, CURRENT_LIMIT) == "32.0"

    assert await hass.config_entries.async_reload(server_entry.entry_id)
    await hass.async_block_till_done()
    async with connect() as sim:
        assert await sim.boot() == "Accepted"
        await wait_for(lambda: sim.live_limit() == 32.0, what="still the maximum after a restart")
        assert _state(hass, CHARGING) == "on"


async def test_switching_the_manager_off_hands_back_the_users_own_limit(
    hass: HomeAssistant, onboard: Onboard, server_entry: MockConfigEntry
) -> None:
    """The user's 10 A from before the manager took the charger come back when it is switched
    off (not the installation maximum: the user's choice would be lost)."""
    await switch_manager(hass, server_entry, on=False)
    await _grid_at(hass, 500)
    async with onboard() as (sim, _entry):
        await hass.services.async_call(
            "number", "set_value", {"entity_id": CURRENT_LIMIT, "value": 10}, blocking=True
        )
        await wait_for(lambda: sim.live_limit() == 10.0, what="the user's 10 A")
        await switch_manager(hass, server_entry, on=True)
        await _charging_held_at_0_a(sim)
        assert _state(hass, CURRENT_LIMIT) == "0.0"

        await switch_manager(hass, server_entry, on=False)
        await wait_for(lambda: sim.live_limit() == 10.0, what="handed back at the user's 10 A")
        await hass.async_block_till_done()
        assert _state(hass, CURRENT_LIMIT) == "10.0"
        assert _state(hass, CHARGING) == "on"


async def test_a_site_without_a_pv_sensor_has_no_sun_computed(
    hass: HomeAssistant, onboard: Onboard, server_entry: MockConfigEntry
) -> None:
    """The sun's elevation serves only a PV sensor asleep at night (``PvSleep``): a grid-only
    site (this module's) is not asked it at each update."""
    await _grid_at(hass, 500)
    async with onboard() as (sim, _entry):
        await _charging_held_at_0_a(sim)
        seen = server_entry.runtime_data.ems.site_inputs
        assert seen is not None
        assert seen.sun_elevation_deg is None


type RefusedHandBack = Callable[..., AbstractAsyncContextManager[SimCharger]]


@pytest.fixture
def refused_hand_back(
    hass: HomeAssistant,
    onboard: Onboard,
    server_entry: MockConfigEntry,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> RefusedHandBack:
    """``async with refused_hand_back(retry_s=...) as sim``: solar without sun holds the car at
    0 A; the manager is switched off and the charger refuses the hand-back (tried again after
    ``retry_s``; it still refuses profiles)."""

    @asynccontextmanager
    async def _refused(*, retry_s: float) -> AsyncIterator[SimCharger]:
        monkeypatch.setattr(energy_manager, "EMS_RETRY_S", retry_s)
        await _grid_at(hass, 500)
        async with onboard() as (sim, _entry):
            await _charging_held_at_0_a(sim)
            sim.statuses["SetChargingProfile"] = "Rejected"
            await switch_manager(hass, server_entry, on=False)
            await wait_for(
                lambda: "could not hand charger CP1 back" in caplog.text,
                what="a refused hand-back",
            )
            yield sim

    return _refused


async def test_a_refused_hand_back_is_tried_again_with_the_manager_off(
    hass: HomeAssistant, refused_hand_back: RefusedHandBack
) -> None:
    """The charger refuses the hand-back (or does not answer): it would stay at the manager's
    0 A for good, with no decision running to write anything again. It is tried again."""
    async with refused_hand_back(retry_s=0.5) as sim:
        assert sim.live_limit() == 0.0
        del sim.statuses["SetChargingProfile"]
        await wait_for(lambda: sim.live_limit() == 32.0, what="handed back on the next try")
        assert _state(hass, CHARGING) == "on"


async def test_a_manual_limit_set_while_a_hand_back_waits_for_its_retry_is_kept(
    hass: HomeAssistant, refused_hand_back: RefusedHandBack
) -> None:
    """Before the refused hand-back's next try the user sets 10 A (the manager is off: no
    take-over). The retry then wrote the installation maximum over the user's limit."""
    async with refused_hand_back(retry_s=1.0) as sim:
        del sim.statuses["SetChargingProfile"]
        await hass.services.async_call(
            "number", "set_value", {"entity_id": CURRENT_LIMIT, "value": 10}, blocking=True
        )
        assert sim.live_limit() == 10.0
        await asyncio.sleep(1.5)  # past the retry time
        await hass.async_block_till_done()
        assert sim.live_limit() == 10.0
        assert _state(hass, CURRENT_LIMIT) == "10.0"


async def test_a_refused_manual_limit_leaves_the_hand_back_due(
    hass: HomeAssistant, refused_hand_back: RefusedHandBack
) -> None:
    """The user's limit is refused too: nothing of the user's to keep, so the hand-back is
    still tried again (not left at the manager's 0 A)."""
    async with refused_hand_back(retry_s=1.0) as sim:
        with pytest.raises(HomeAssistantError):
            await hass.services.async_call(
                "number", "set_value", {"entity_id": CURRENT_LIMIT, "value": 10}, blocking=True
            )
        del sim.statuses["SetChargingProfile"]
        await wait_for(lambda: sim.live_limit() == 32.0, what="handed back on the next try")
        assert _state(hass, CHARGING) == "on"


async def test_picking_manual_hands_back_but_a_manual_change_is_kept(
    hass: HomeAssistant, onboard: Onboard, server_entry: MockConfigEntry
) -> None:
    """Mode Manual picked in the select: handed back like switching the manager off. A manual
    change (the user's limit, the user's pause) takes the charger over and stays as the user
    set it: nothing is handed back over it, and switching the manager off then leaves it too."""
    await _grid_at(hass, 500)
    async with onboard() as (sim, _entry):
        await _charging_held_at_0_a(sim)
        await set_mode(hass, "manual")
        await wait_for(lambda: sim.live_limit() == 32.0, what="handed back at the maximum")

        await set_mode(hass, "solar")
        await wait_for(lambda: sim.live_limit() == 0.0, what="the manager's again: 0 A")
        await hass.services.async_call(
            "number", "set_value", {"entity_id": CURRENT_LIMIT, "value": 10}, blocking=True
        )
        await hass.async_block_till_done()
        await asyncio.sleep(0.2)  # a hand-back would be a background task
        assert sim.live_limit() == 10.0
        await hass.services.async_call("switch", "turn_off", {"entity_id": CHARGING}, blocking=True)
        await switch_manager(hass, server_entry, on=False)
        await asyncio.sleep(0.2)
        assert sim.live_limit() == 0.0  # the user's pause (0 A)
        assert _state(hass, CHARGING) == "off"
        assert _state(hass, CURRENT_LIMIT) == "10.0"


async def test_switching_off_resumes_a_charger_the_manager_stopped_but_not_one_the_user_did(
    hass: HomeAssistant, onboard: Onboard, server_entry: MockConfigEntry
) -> None:
    """Remote stop / start: the manager stopped the session (mode Off); switched off, it starts it
    again (a remote start). Stopped by the user (Charging enabled off), nothing is started."""
    await _grid_at(hass, 0)
    async with onboard() as (sim, entry):
        model = await stopped_by_the_manager(hass, sim, entry, server_entry)

        await switch_manager(hass, server_entry, on=False)
        await wait_for(lambda: sim.commands("RemoteStartTransaction"), what="remote start")
        assert not model.limit.paused
        await sim.start_transaction()
        await sim.status("Charging")

        await hass.services.async_call("switch", "turn_off", {"entity_id": CHARGING}, blocking=True)
        await wait_for(lambda: len(sim.commands("RemoteStopTransaction")) == 2, what="user stop")
        await sim.stop_transaction(reason="Remote")
        await sim.status("SuspendedEVSE")
        await switch_manager(hass, server_entry, on=True)
        await switch_manager(hass, server_entry, on=False)
        await asyncio.sleep(0.2)
        assert len(sim.commands("RemoteStartTransaction")) == 1
        assert model.limit.paused


async def test_a_charger_the_manager_stopped_is_started_again_after_its_entry_reloads(
    hass: HomeAssistant, onboard: Onboard, server_entry: MockConfigEntry
) -> None:
    """Remote stop / start: the manager stopped the session (mode Off), then the charger's entry
    reloads (its options changed). The manager still knows it stopped it: Fast starts it again,
    where it would otherwise wait for the user, the car never charging."""
    await _grid_at(hass, 0)
    async with onboard() as (sim, entry):
        model = await stopped_by_the_manager(hass, sim, entry, server_entry)

        assert await hass.config_entries.async_reload(entry.entry_id)
        await hass.async_block_till_done()
        await set_mode(hass, "fast")
        await wait_for(lambda: sim.commands("RemoteStartTransaction"), what="remote start")
        assert not model.limit.paused


@pytest.mark.parametrize("restart", [False, True])
async def test_a_charger_offline_at_its_hand_back_is_started_again_when_it_is_back(
    hass: HomeAssistant,
    onboard: Onboard,
    connect: ConnectCharger,
    server_entry: MockConfigEntry,
    caplog: pytest.LogCaptureFixture,
    restart: bool,
) -> None:
    """Remote stop / start: the manager stopped the session, the charger went offline, then the
    manager was switched off. Its remote start cannot go out then: it goes out once the charger
    is back (not after the retry time, nor never), also after a restart meanwhile (where the
    charger was already recorded as nobody's, so the hand-back still due was forgotten)."""
    await _grid_at(hass, 0)
    async with onboard() as (sim, entry):
        model = await stopped_by_the_manager(hass, sim, entry, server_entry)
    await wait_for(lambda: not model.connected, what="offline")

    await switch_manager(hass, server_entry, on=False)
    await wait_for(lambda: "tried again when it is back" in caplog.text, what="a failed hand-back")
    assert model.limit.paused
    if restart:
        assert await hass.config_entries.async_reload(server_entry.entry_id)
        await hass.async_block_till_done()
        model = server_entry.runtime_data.central.charger("CP1")
        assert model.limit.paused
    async with connect() as sim:
        assert await sim.boot() == "Accepted"
        await wait_for(lambda: sim.commands("RemoteStartTransaction"), what="remote start")
        assert not model.limit.paused


def _state(hass: HomeAssistant, entity_id: str) -> str:
    state = hass.states.get(entity_id)
    assert state is not None, entity_id
    return state.state
