"""Fixtures for core tests: a real CentralSystem on 127.0.0.1 (port 0) and host-app fakes."""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Mapping

import pytest
from websockets.asyncio.client import ClientConnection

from custom_components.ocpp_ems.core.directory import Admission
from custom_components.ocpp_ems.core.guard import Clock
from custom_components.ocpp_ems.core.protocol import SessionFactory
from custom_components.ocpp_ems.core.security import TlsContextSource
from custom_components.ocpp_ems.core.server import CentralSystem
from custom_components.ocpp_ems.core.settings import ChargerSettings, ServerSettings

from . import v201_harness
from .fakes import MemoryDirectory, MemoryStore
from .v16_harness import CHARGER_ID, Harness, protocol_harness, running_harness

type MakeCentral = Callable[..., Awaitable[CentralSystem]]


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations() -> None:
    """Core tests run without a Home Assistant instance (overrides the autouse hass fixture)."""


@pytest.fixture
def directory() -> MemoryDirectory:
    return MemoryDirectory()


@pytest.fixture
def store() -> MemoryStore:
    return MemoryStore()


@pytest.fixture
def server_settings() -> ServerSettings:
    return ServerSettings(host="127.0.0.1", port=0)


@pytest.fixture
async def make_central(
    socket_enabled: None,
    directory: MemoryDirectory,
    server_settings: ServerSettings,
) -> AsyncGenerator[MakeCentral]:
    """Start CentralSystems (real server, real sockets); every one is stopped after the test.

    Keyword arguments: ``factories`` (adapters by version, default: the real registry), ``store``,
    ``settings``, ``directory``, ``tls`` (the TLS context or context source of the wss listener),
    ``clock`` (the server's monotonic clock, e.g. a FakeClock).
    """
    started: list[CentralSystem] = []

    async def make(
        *,
        factories: Mapping[str, SessionFactory] | None = None,
        store: MemoryStore | None = None,
        settings: ServerSettings | None = None,
        directory_: MemoryDirectory | None = None,
        tls: TlsContextSource | None = None,
        clock: Clock = time.monotonic,
    ) -> CentralSystem:
        central = CentralSystem(
            settings or server_settings,
            directory_ or directory,
            store,
            factories=factories,
            tls=tls,
            clock=clock,
        )
        await central.start()
        started.append(central)
        return central

    yield make
    for central in started:
        await central.stop()


@pytest.fixture
async def central(make_central: MakeCentral) -> CentralSystem:
    """A running CentralSystem with the real protocol adapters."""
    return await make_central()


@pytest.fixture
async def h(
    socket_enabled: None, directory: MemoryDirectory, server_settings: ServerSettings
) -> AsyncIterator[Harness]:
    """A protocol harness (accepted charger, no current control); modules may override it."""
    async with protocol_harness(directory, server_settings) as harness:
        yield harness


@pytest.fixture
async def h_cp1(
    socket_enabled: None, directory: MemoryDirectory, server_settings: ServerSettings
) -> AsyncIterator[Harness]:
    """A protocol harness with the charger CP1 accepted and the id tag TAG1 known."""
    directory.id_tags.add("TAG1")
    directory.admissions["CP1"] = Admission.ACCEPTED
    async with protocol_harness(directory, server_settings) as harness:
        yield harness


@pytest.fixture(params=v201_harness.VERSIONS)
async def h2(
    request: pytest.FixtureRequest,
    socket_enabled: None,
    directory: MemoryDirectory,
    server_settings: ServerSettings,
) -> AsyncIterator[Harness]:
    """A 2.x protocol harness (accepted station, id tag TAG1 allowed, no current control), once
    for 2.0.1 and once for 2.1; a module of 2.x tests returns it from its own ``h`` fixture (the
    ``ws`` fixture and the 1.6 tests' conventions then hold)."""
    directory.id_tags.add("TAG1")
    async with v201_harness.protocol_harness(directory, server_settings, request.param) as harness:
        yield harness


@pytest.fixture
def settings(directory: MemoryDirectory) -> ChargerSettings:
    """CP1 accepted, id tag TAG1 allowed; its charger settings (tests change them in place)."""
    directory.admissions[CHARGER_ID] = Admission.ACCEPTED
    directory.id_tags.add("TAG1")
    return directory.settings(CHARGER_ID)


@pytest.fixture
async def controlled(
    socket_enabled: None,
    directory: MemoryDirectory,
    server_settings: ServerSettings,
    settings: ChargerSettings,
) -> AsyncIterator[Harness]:
    """A harness with current control running for CP1 (see ``settings``)."""
    async with running_harness(directory, server_settings) as harness:
        yield harness


@pytest.fixture
async def ws(h: Harness) -> ClientConnection:
    """A raw websocket to the harness's session."""
    return await h.raw()
