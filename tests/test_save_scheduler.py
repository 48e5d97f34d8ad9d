"""Saves have a bound: under continuous changes every change is on disk within the save delay.

Home Assistant's ``Store.async_delay_save`` pushes the write back with every call, so with meter
values more often than the delay nothing was ever written while Home Assistant ran (a kill -9 lost
the whole session). These tests drive the clock (``freezer`` + ``async_fire_time_changed``) with a
request every second and check when the data reaches the store.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.const import EVENT_HOMEASSISTANT_FINAL_WRITE
from homeassistant.core import HomeAssistant
from homeassistant.helpers.storage import Store
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.common import (  # type: ignore[import-untyped]
    MockConfigEntry,
    async_fire_time_changed,
)

from custom_components.ocpp_ems.const import STORAGE_SAVE_DELAY_S
from custom_components.ocpp_ems.energy_manager import SAVE_DELAY_S
from custom_components.ocpp_ems.save_scheduler import SaveScheduler

from .helpers.charger import wait_for
from .helpers.fixtures import Onboard, central_of

KEY = "ocpp_ems.test_bound"


async def _tick(hass: HomeAssistant, freezer: FrozenDateTimeFactory, seconds: float = 1) -> None:
    freezer.tick(timedelta(seconds=seconds))
    async_fire_time_changed(hass)
    await hass.async_block_till_done()


def _saved(hass_storage: dict[str, Any]) -> Any:
    return hass_storage[KEY]["data"]["n"] if KEY in hass_storage else None


async def test_continuous_requests_do_not_postpone_the_save(
    hass: HomeAssistant, hass_storage: dict[str, Any], freezer: FrozenDateTimeFactory
) -> None:
    """A request every second for a minute: a write at least every ``delay`` seconds, each holding
    the newest data; HA's own delayed save would not have written once."""
    saver: SaveScheduler[dict[str, Any]] = SaveScheduler(hass, Store(hass, 1, KEY), 10)
    counter = {"n": 0}
    lag: list[int] = []
    for second in range(60):
        counter["n"] = second
        saver.async_schedule(lambda: dict(counter))
        assert saver.pending or _saved(hass_storage) == second
        await _tick(hass, freezer)
        saved = _saved(hass_storage)
        lag.append(second - (-1 if saved is None else saved))
    assert max(lag) <= 10  # never more than the delay behind
    assert _saved(hass_storage) >= 50
    # The timer does not outlive the last write: nothing pending, nothing written again.
    await _tick(hass, freezer, 11)
    assert not saver.pending


async def test_shorter_delay_moves_the_write_earlier(
    hass: HomeAssistant, hass_storage: dict[str, Any], freezer: FrozenDateTimeFactory
) -> None:
    saver: SaveScheduler[dict[str, Any]] = SaveScheduler(hass, Store(hass, 1, KEY), 10)
    saver.async_schedule(lambda: {"n": 1})
    await _tick(hass, freezer, 2)
    assert _saved(hass_storage) is None
    saver.async_schedule(lambda: {"n": 2}, 0)  # a session started: now
    await _tick(hass, freezer, 0.1)
    assert _saved(hass_storage) == 2
    assert not saver.pending
    # A longer delay than the bound is capped at the bound.
    saver.async_schedule(lambda: {"n": 3}, 60)
    await _tick(hass, freezer, 10)
    assert _saved(hass_storage) == 3


async def test_final_write_flushes_and_save_supersedes(
    hass: HomeAssistant, hass_storage: dict[str, Any], freezer: FrozenDateTimeFactory
) -> None:
    saver: SaveScheduler[dict[str, Any]] = SaveScheduler(hass, Store(hass, 1, KEY), 10)
    saver.async_schedule(lambda: {"n": 1})
    hass.bus.async_fire(EVENT_HOMEASSISTANT_FINAL_WRITE)
    await hass.async_block_till_done()
    assert _saved(hass_storage) == 1
    assert not saver.pending
    # An explicit save replaces a pending one; the timer then writes nothing.
    saver.async_schedule(lambda: {"n": 2})
    await saver.async_save({"n": 3})
    await _tick(hass, freezer, 11)
    assert _saved(hass_storage) == 3
    # Cancelled: nothing written, not even on the final write.
    saver.async_schedule(lambda: {"n": 4})
    saver.async_cancel()
    hass.bus.async_fire(EVENT_HOMEASSISTANT_FINAL_WRITE)
    await _tick(hass, freezer, 11)
    assert _saved(hass_storage) == 3


async def test_charger_state_on_disk_within_the_bound(
    hass: HomeAssistant,
    hass_storage: dict[str, Any],
    onboard: Onboard,
    server_entry: MockConfigEntry,
) -> None:
    """A session's start is stored at once (a crash right after must not lose it), and readings
    that keep coming do not postpone the save: it happens at the bound after the first one."""
    key = f"ocpp_ems.{server_entry.entry_id}"

    def stored_cp1() -> dict[str, Any]:
        stored: dict[str, Any] = (
            hass_storage.get(key, {}).get("data", {}).get("chargers", {}).get("CP1", {})
        )
        return stored

    async with onboard("CP1") as (sim, _entry):
        await sim.status("Charging")
        transaction_id = await sim.start_transaction()  # register 1000
        await wait_for(lambda: stored_cp1().get("connectors", {}).get("1", {}).get("transaction"))
        stored = stored_cp1()
        assert stored["connectors"]["1"]["transaction"]["transaction_id"] == str(transaction_id)
        assert stored["info"]["vendor"] == "Acme"
        await hass.async_block_till_done()
        await sim.meter_values(energy_wh=1010)  # arms the save: due in 10 s
        await hass.async_block_till_done()
        await asyncio.sleep(1)
        for register in range(1020, 1100, 10):  # later readings: the save stays due in 9 s
            await sim.meter_values(energy_wh=register)
        await hass.async_block_till_done()
        assert stored_cp1()["lifetime_energy"]["last_register_wh"] == 1000
        # Home Assistant's own delayed save would now wait until 10 s after the last reading.
        async_fire_time_changed(
            hass, dt_util.utcnow() + timedelta(seconds=STORAGE_SAVE_DELAY_S - 0.9)
        )
        await hass.async_block_till_done()
        assert stored_cp1()["lifetime_energy"]["last_register_wh"] == 1090
        model = central_of(server_entry).charger("CP1")
        assert model.lifetime_energy.last_register_wh == 1090


def test_both_stores_have_the_same_bound() -> None:
    assert SAVE_DELAY_S <= 10
    assert STORAGE_SAVE_DELAY_S <= 10
