# ruff: noqa: F811 - the TLS fixtures of test_tls are imported, and requested by name
"""The cap on connections still opening (``guard.OpeningConnections``, ``opening.py``).

Real listeners on loopback (127.0.0.x are all this machine), idle TCP clients that never send a
request, and real OCPP 1.6 chargers (the ``ocpp`` package) that must still get in.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import resource
import socket
import ssl
import sys
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from custom_components.ocpp_ems.core.directory import Admission
from custom_components.ocpp_ems.core.guard import (
    MIN_OPENING_CONNECTIONS,
    OPENING_IDLE_S,
    OpeningConnections,
    ReportWindows,
    opening_limit,
)
from custom_components.ocpp_ems.core.opening import (
    ACCEPT_BATCH,
    RETRY_AFTER_S,
    default_opening_limit,
)
from custom_components.ocpp_ems.core.server import CentralSystem
from custom_components.ocpp_ems.core.settings import ServerSettings

from .certificate_fixtures import FakeClock
from .conftest import MakeCentral
from .fakes import MemoryDirectory
from .test_tls import (  # noqa: F401 - fixtures
    LOCALHOST,
    ca,
    credentials,
    server_context,
)
from .v16_harness import SimCharger, wait_for

PER_ADDRESS = 3
LIMIT = 6
CAPPED = ServerSettings(
    host=LOCALHOST,
    port=0,
    tls_port=0,
    max_opening_connections=LIMIT,
    max_opening_per_address=PER_ADDRESS,
)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def central(
    make_central: MakeCentral,
    directory: MemoryDirectory,
    server_context: ssl.SSLContext,
    clock: FakeClock,
) -> CentralSystem:
    directory.admissions["CP1"] = Admission.ACCEPTED
    return await make_central(settings=CAPPED, tls=server_context, clock=clock)


@asynccontextmanager
async def idle_clients(
    port: int, sources: list[str]
) -> AsyncIterator[list[tuple[asyncio.StreamReader, asyncio.StreamWriter]]]:
    """TCP connections that send nothing (one per source address given), closed on exit."""
    clients = [
        await asyncio.open_connection(LOCALHOST, port, local_addr=(source, 0)) for source in sources
    ]
    try:
        yield clients
    finally:
        for _, writer in clients:
            writer.close()


async def answer_of_refused(port: int, source: str) -> bytes:
    """What the server sends a connection it refuses at once (read until it closes)."""
    reader, writer = await asyncio.open_connection(LOCALHOST, port, local_addr=(source, 0))
    try:
        return await asyncio.wait_for(reader.read(), 5)
    finally:
        writer.close()


async def boots(central: CentralSystem, source: str) -> str:
    """A real OCPP 1.6 charger connects from ``source`` and boots; returns its boot status."""
    async with connect(
        f"ws://{LOCALHOST}:{central.port}/ocpp/CP1",
        subprotocols=["ocpp1.6"],
        local_addr=(source, 0),
        open_timeout=5,
    ) as ws:
        charger = SimCharger("CP1", ws)
        reader = asyncio.create_task(charger.start())
        try:
            response = await charger.boot()
        finally:
            reader.cancel()
        status: str = response.status
    await wait_for(lambda: not central.charger("CP1").connected)
    return status


def addresses(first: int, count: int) -> list[str]:
    return [f"127.0.0.{last}" for last in range(first, first + count)]


async def closed_by_server(reader: asyncio.StreamReader) -> bool:
    return await asyncio.wait_for(reader.read(), 5) == b""


async def test_one_address_gets_its_share_and_the_others_still_get_in(
    central: CentralSystem, clock: FakeClock
) -> None:
    opening = central.opening_connections
    async with idle_clients(central.port, ["127.0.0.2"] * PER_ADDRESS) as idle:
        await wait_for(lambda: len(opening) == PER_ADDRESS)
        answer = await answer_of_refused(central.port, "127.0.0.2")
        assert answer.startswith(b"HTTP/1.1 503 ")
        assert f"Retry-After: {RETRY_AFTER_S}".encode() in answer
        assert opening.refused == 1
        # A charger elsewhere connects and boots meanwhile; the idle ones still hold their slots.
        assert await boots(central, "127.0.0.3") == "Accepted"
        assert len(opening) == PER_ADDRESS
        # Idle for longer than a handshake takes: the address's oldest gives way to its newest
        # (one address may be a proxy in front of a charger and of a client gone quiet).
        clock.now += OPENING_IDLE_S
        assert await boots(central, "127.0.0.2") == "Accepted"
        assert await closed_by_server(idle[0][0])
        assert opening.evicted == 1
    # Closed by their client: the slots are free again.
    await wait_for(lambda: len(opening) == 0)
    assert await boots(central, "127.0.0.2") == "Accepted"


async def test_at_the_cap_the_address_holding_most_gives_way(central: CentralSystem) -> None:
    """Plain and TLS listeners share the cap. A new connection from an address that holds
    fewer closes the oldest of the address that holds the most, fresh or not: a flood from many
    addresses cannot keep a charger out. One from an address that holds as many is refused."""
    opening = central.opening_connections
    async with (
        idle_clients(central.port, ["127.0.0.10"] * 2 + ["127.0.0.11"]) as plain,
        idle_clients(central.tls_port, ["127.0.0.12"] * 3) as tls,
    ):
        await wait_for(lambda: len(opening) == LIMIT)
        assert await boots(central, "127.0.0.20") == "Accepted"
        assert await closed_by_server(tls[0][0])  # 127.0.0.12 held the most, this its oldest
        assert opening.evicted == 1
        assert len(opening) == LIMIT - 1  # the charger's slot is free again
        async with idle_clients(central.port, ["127.0.0.21"]):
            await wait_for(lambda: len(opening) == LIMIT)
            # 127.0.0.10 holds 2, as many as the most (127.0.0.10 and .12): refused, plain and TLS.
            assert (await answer_of_refused(central.port, "127.0.0.10")).startswith(b"HTTP/1.1 503")
            assert await answer_of_refused(central.tls_port, "127.0.0.12") == b""
            assert opening.refused == 2
            assert len(opening) == LIMIT
        assert not plain[0][0].at_eof()


async def test_chargers_that_opened_hold_no_slot(
    make_central: MakeCentral, directory: MemoryDirectory
) -> None:
    """More chargers than one address's share stay connected from that address (a reverse
    proxy in front of them): a slot is held only until the websocket handshake is over."""
    central = await make_central(
        settings=ServerSettings(host=LOCALHOST, port=0, max_opening_per_address=2)
    )
    ids = [f"CP{n}" for n in range(5)]
    for charger_id in ids:
        directory.admissions[charger_id] = Admission.ACCEPTED
    async with AsyncExitStack() as stack:
        for charger_id in ids:
            ws = await stack.enter_async_context(
                connect(f"ws://{LOCALHOST}:{central.port}/{charger_id}", subprotocols=["ocpp1.6"])
            )
            charger = SimCharger(charger_id, ws)
            reader = asyncio.create_task(charger.start())
            stack.callback(reader.cancel)
            assert (await charger.boot()).status == "Accepted"
        assert all(central.charger(charger_id).connected for charger_id in ids)
        assert len(central.opening_connections) == 0
        assert central.opening_connections.refused == 0


async def test_refused_handshakes_and_failed_tls_give_their_slot_back(
    central: CentralSystem,
) -> None:
    """An HTTP refusal (unknown path: 400), a timed-out or garbage TLS handshake: each one
    releases what it held, so repeating them never fills the cap."""
    for _ in range(3 * LIMIT):
        with pytest.raises(InvalidStatus):
            async with connect(f"ws://{LOCALHOST}:{central.port}/", open_timeout=5):
                pass
        reader, writer = await asyncio.open_connection(LOCALHOST, central.tls_port)
        writer.write(b"GET / HTTP/1.1\r\n\r\n")  # plain HTTP on the TLS port
        assert await asyncio.wait_for(reader.read(), 5) == b""
        writer.close()
    await wait_for(lambda: len(central.opening_connections) == 0)
    assert central.opening_connections.refused == 0


async def test_a_silent_connection_times_out_and_gives_its_slot_back(
    make_central: MakeCentral, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The websocket open timeout (10 s in production) ends a connection that never sends its
    request; shortened here by the server's own ``serve`` argument."""
    from custom_components.ocpp_ems.core import server as server_module

    real_serve = server_module.serve

    def quick_serve(*args: object, **kwargs: object) -> object:
        return real_serve(*args, open_timeout=0.3, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(server_module, "serve", quick_serve)
    central = await make_central(settings=ServerSettings(host=LOCALHOST, port=0))
    reader, writer = await asyncio.open_connection(LOCALHOST, central.port)
    await wait_for(lambda: len(central.opening_connections) == 1)
    assert await asyncio.wait_for(reader.read(), 5) == b""  # closed by the server
    writer.close()
    await wait_for(lambda: len(central.opening_connections) == 0)


async def test_a_flood_is_warned_about_once_per_address(
    central: CentralSystem, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="custom_components.ocpp_ems.core.guard")
    async with idle_clients(central.port, ["127.0.0.2"] * PER_ADDRESS):
        await wait_for(lambda: len(central.opening_connections) == PER_ADDRESS)
        for _ in range(5):
            await answer_of_refused(central.port, "127.0.0.2")
    # Ours only: asyncio warns of a slow callback on a loaded machine.
    warnings = [
        r.getMessage()
        for r in caplog.records
        if r.levelno == logging.WARNING and r.name.startswith("custom_components.ocpp_ems")
    ]
    assert len(warnings) == 1
    assert warnings[0].startswith(
        "Connection from 127.0.0.2 refused, 3 from there and 3 in all are still opening"
    )
    assert "1 from there since the last warning" in warnings[0]
    assert central.opening_connections.refused == 5


def test_report_windows_hold_back_and_count() -> None:
    clock = FakeClock()
    budget = [True]
    windows = ReportWindows(clock, window_s=100.0, max_keys=2, allowed=lambda: budget[0])
    assert windows.report("a") == 1
    assert [windows.report("a") for _ in range(3)] == [0, 0, 0]
    assert windows.report("b") == 1  # each key its own window
    clock.advance(100.0)
    assert windows.report("a") == 4  # this one and the 3 held back
    # Over the shared budget nothing is reported; the next report after it counts them too.
    budget[0] = False
    assert windows.report("c") == 0
    clock.advance(1.0)
    assert windows.report("c") == 0
    budget[0] = True
    assert windows.report("c") == 3
    # Two keys remembered: "a" (the least recent) makes way for "d"; it is reported again,
    # although its window is not over.
    assert windows.report("d") == 1
    assert windows.report("a") == 1


def test_the_counts_per_address_and_in_all() -> None:
    clock = FakeClock()
    opening = OpeningConnections(clock, limit=3, per_address=2)
    evicted: list[str] = []

    def admit(remote: str, key: str) -> bool:
        return opening.admit(remote, key, lambda: evicted.append(key))

    assert admit("a", "a1")
    assert admit("a", "a2")
    assert not admit("a", "a3")  # its share, both fresh
    assert admit("b", "b1")
    assert admit("c", "c1")  # the cap: "a" holds the most, its oldest gives way
    assert evicted == ["a1"]
    assert not admit("b", "b2")  # "a", "b" and "c" hold one each, all fresh
    clock.now += OPENING_IDLE_S
    # Idle now: the oldest of the address that came to hold the most first ("b") goes.
    assert admit("a", "a3")
    assert evicted == ["a1", "b1"]
    opening.release("b", "b1")  # evicted, then lost: released already
    opening.release("b", "nobody")
    assert len(opening) == 3
    for remote, key in (("a", "a2"), ("a", "a3"), ("c", "c1")):
        opening.release(remote, key)
    assert len(opening) == 0
    assert (opening.refused, opening.evicted) == (2, 2)


def test_the_default_cap_follows_the_file_limit() -> None:
    assert opening_limit(1024) == MIN_OPENING_CONNECTIONS
    assert opening_limit(2048) == 512  # Home Assistant's own minimum soft limit
    assert opening_limit(65536) == 16384
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    assert default_opening_limit() == opening_limit(soft)


async def test_the_listeners_keep_the_deep_backlog(
    make_central: MakeCentral, server_context: ssl.SSLContext
) -> None:
    """asyncio listens with the accept batch (ACCEPT_BATCH connections taken per wake-up); the
    kernel's queue is then set to ``listen_backlog`` again for a reconnect storm (``ss`` shows a
    listening socket's backlog as its Send-Q)."""
    central = await make_central(
        settings=ServerSettings(host=LOCALHOST, port=0, tls_port=0, listen_backlog=1500),
        tls=server_context,
    )
    somaxconn = int(Path("/proc/sys/net/core/somaxconn").read_text())
    for port in (central.port, central.tls_port):
        ss = await asyncio.create_subprocess_exec(
            "ss", "-ltnH", f"sport = :{port}", stdout=asyncio.subprocess.PIPE
        )
        out, _ = await ss.communicate()
        assert ss.returncode == 0
        shown = out.decode().split()  # State, Recv-Q, Send-Q, ...
        assert int(shown[2]) == min(1500, somaxconn) != ACCEPT_BATCH


def test_the_memory_of_warned_addresses_is_bounded(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="custom_components.ocpp_ems.core.guard")
    opening = OpeningConnections(FakeClock(), limit=1, per_address=1)

    def admit(remote: str) -> None:  # each one closes the one before (it holds fewer)
        assert opening.admit(remote, remote, lambda: None)

    for n in range(300):
        admit(f"a{n}")
    admit("a0")  # closes a299's: warned
    admit("a299")  # closes a0's: warned 300 evictions ago, forgotten (256 remembered): warned
    admit("a0")  # closes a299's again: warned just now, DEBUG
    levels = [r.levelno for r in caplog.records]
    assert levels == [logging.WARNING] * 301 + [logging.DEBUG]
    assert opening.evicted == 302


async def test_a_stop_during_a_burst_of_connections_is_quick_and_clean(
    make_central: MakeCentral, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Home Assistant stops (or reloads the server) while connections pour in: the stop does
    not wait for those still opening (up to the 10 s open timeout), and asyncio is left no
    half-made transport (whose ``__del__`` fails: "Exception ignored ... TypeError")."""
    unraisable: list[str] = []
    monkeypatch.setattr(sys, "unraisablehook", lambda u: unraisable.append(repr(u.exc_value)))
    central = await make_central()
    burst = []
    for _ in range(300):
        sock = socket.socket()
        sock.setblocking(False)
        sock.connect_ex((LOCALHOST, central.port))
        burst.append(sock)
    await asyncio.sleep(0)  # the listener accepts a batch; their transports are made later
    try:
        async with asyncio.timeout(5):
            await central.stop()
        gc.collect()
    finally:
        for sock in burst:
            sock.close()
    assert unraisable == []
    assert len(central.opening_connections) == 0
