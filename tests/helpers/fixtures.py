"""Fixtures of the Home Assistant tests (imported by tests/conftest.py).

A real server entry listening on 127.0.0.1 with port 0, simulated chargers connecting to it over
real websockets, and ``onboard`` which plays the whole acceptance of a new charger.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import Any

import pytest
from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import CONF_NAME
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr
from pytest_homeassistant_custom_component.common import (  # type: ignore[import-untyped]
    MockConfigEntry,
)

from custom_components.ocpp_ems.const import (
    CONF_ENTRY_TYPE,
    CONF_HOST,
    CONF_PORT,
    CONF_RESPONSE_TIMEOUT,
    DOMAIN,
    ENTRY_TYPE_SERVER,
)
from custom_components.ocpp_ems.core.current_control import LIVE_PROFILE_ID
from custom_components.ocpp_ems.core.limit_check import LimitCheck
from custom_components.ocpp_ems.core.server import CentralSystem
from custom_components.ocpp_ems.hub import is_charger_entry

from .charger import SimCharger, charger_connection, wait_for

type ConnectCharger = Callable[..., AbstractAsyncContextManager[SimCharger]]
# The ``onboard`` fixture: ``async with onboard(...) as (charger, entry)``.
type Onboard = Callable[..., AbstractAsyncContextManager[tuple[SimCharger, MockConfigEntry]]]


@pytest.fixture
def server_options() -> dict[str, Any]:
    """Options of the test server entry (tests override this fixture to change them)."""
    return {CONF_RESPONSE_TIMEOUT: 3}


@pytest.fixture
async def server_entry(
    hass: HomeAssistant,
    socket_enabled: None,
    server_options: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncGenerator[MockConfigEntry]:
    """A loaded server entry on 127.0.0.1, port chosen by the system; everything unloaded after."""
    # Verifying an applied limit waits 2 s first: no need to wait in tests.
    monkeypatch.setattr(LimitCheck, "verify_delay_s", 0.0)
    entry = MockConfigEntry(
        domain=DOMAIN,
        title="OCPP server port 0",
        unique_id="port_0",
        data={CONF_ENTRY_TYPE: ENTRY_TYPE_SERVER, CONF_HOST: "127.0.0.1", CONF_PORT: 0},
        options=server_options,
    )
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED
    yield entry
    await async_unload_all(hass)


async def async_unload_all(hass: HomeAssistant) -> None:
    """Unload chargers, then servers (the order Home Assistant itself would not guarantee)."""
    entries = hass.config_entries.async_entries(DOMAIN)
    for entry in sorted(entries, key=lambda e: not is_charger_entry(e)):
        if entry.state is ConfigEntryState.LOADED:
            await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()


def central_of(entry: MockConfigEntry) -> CentralSystem:
    central: CentralSystem = entry.runtime_data.central
    return central


@pytest.fixture
def central(server_entry: MockConfigEntry) -> CentralSystem:
    return central_of(server_entry)


@pytest.fixture
def connect(server_entry: MockConfigEntry) -> ConnectCharger:
    """Open simulated charger connections to the test server; all closed after the test.

    The port is read at connection time: a test may restart the server in between."""

    @asynccontextmanager
    async def _connect(charger_id: str = "CP1", **kwargs: Any) -> AsyncIterator[SimCharger]:
        async with charger_connection(central_of(server_entry).port, charger_id, **kwargs) as sim:
            yield sim

    return _connect


async def assert_turned_away(connect: ConnectCharger, charger_id: str) -> None:
    """The server refuses ``charger_id`` at the handshake (HTTP 404: rejected or not allowed)."""
    with pytest.raises(Exception, match="HTTP 404"):
        async with connect(charger_id):
            pass


async def accept_pending_charger(
    hass: HomeAssistant, charger_id: str, name: str | None = None
) -> MockConfigEntry:
    """Play the user: accept the discovery flow of ``charger_id`` (named ``name``; by default as
    suggested: vendor + model); return the charger entry."""
    await wait_for(lambda: _discovery_flow(hass, charger_id) is not None, what="discovery flow")
    await hass.async_block_till_done()
    flow = _discovery_flow(hass, charger_id)
    assert flow is not None
    answer = {} if name is None else {CONF_NAME: name}
    result = await hass.config_entries.flow.async_configure(flow["flow_id"], answer)
    assert result["type"] == "create_entry", result
    entry = result["result"]
    await hass.async_block_till_done()
    return entry


def _discovery_flow(hass: HomeAssistant, charger_id: str) -> dict[str, Any] | None:
    for flow in hass.config_entries.flow.async_progress_by_handler(DOMAIN):
        if flow["context"].get("unique_id") == charger_id:
            return dict(flow)
    return None


@pytest.fixture
def onboard(hass: HomeAssistant, server_entry: MockConfigEntry, connect: ConnectCharger) -> Onboard:
    """Connect a new charger, accept it, and wait until it runs under current control."""

    @asynccontextmanager
    async def _onboard(
        charger_id: str = "CP1", **kwargs: Any
    ) -> AsyncIterator[tuple[SimCharger, MockConfigEntry]]:
        async with connect(charger_id, **kwargs) as sim:
            assert await sim.boot() == "Pending"
            entry = await accept_pending_charger(hass, charger_id)
            await wait_for(lambda: sim.boot_status == "Accepted", what="accepted boot")
            model = central_of(server_entry).charger(charger_id)
            await wait_for(
                lambda: model.booted and LIVE_PROFILE_ID in sim.profiles, what="live limit"
            )
            await hass.async_block_till_done()
            yield sim, entry

    return _onboard


@dataclass
class Target:
    """An onboarded charger as the actions target it: its simulator, entry and device."""

    sim: SimCharger
    entry: MockConfigEntry
    device_id: str


@pytest.fixture
async def target(
    hass: HomeAssistant, onboard: Onboard, device_registry: dr.DeviceRegistry
) -> AsyncGenerator[Target]:
    async with onboard("CP1") as (sim, entry):
        device = device_registry.async_get_device_by_identifier((DOMAIN, "CP1"), entry.entry_id)
        assert device is not None
        yield Target(sim=sim, entry=entry, device_id=device.id)
