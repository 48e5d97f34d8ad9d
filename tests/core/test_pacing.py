"""Boot storms and timers: the setup gate, per-charger timer spread, the listen backlog.

The gate is tested on its own (real asyncio, an injected random source) and end to end: a real
CentralSystem on 127.0.0.1, simulated 1.6 chargers over real websockets, every observation made on
the chargers' side (which CALLs arrive, and when).
"""

from __future__ import annotations

import asyncio
import contextlib
import select
import socket
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.typing import Subprotocol

from custom_components.ocpp_ems.core.current_control import REFRESH_FRACTION, REFRESH_SPREAD
from custom_components.ocpp_ems.core.directory import Admission
from custom_components.ocpp_ems.core.limit_check import VERIFY_SPREAD, LimitCheck
from custom_components.ocpp_ems.core.pacing import SetupGate, phase
from custom_components.ocpp_ems.core.protocol.v16.provisioning import WATCHDOG_SPREAD
from custom_components.ocpp_ems.core.server import CentralSystem
from custom_components.ocpp_ems.core.settings import ChargerSettings, ServerSettings

from .conftest import MakeCentral
from .fakes import MemoryDirectory
from .v16_harness import CHARGER_ID, Harness, SimCharger, running_harness, wait_for

# --- the gate on its own -------------------------------------------------------------------------

# How late a timer may fire on a busy shared machine (CI ran 0.1 s late once): the tests check
# that timers are never early and are spread, not how punctual the loop is.
LOOP_LATENCY_S = 0.5


def never() -> float:
    raise AssertionError("an idle gate must not draw a jitter")


async def test_idle_gate_is_taken_at_once_without_jitter() -> None:
    gate = SetupGate(2, jitter_s=60.0, random=never)
    loop = asyncio.get_running_loop()
    start = loop.time()
    async with gate.slot("A"):
        assert gate.in_use == 1
        async with gate.slot("B"):  # one slot still free: no jitter either
            assert gate.in_use == 2
    assert loop.time() - start < 0.5
    assert gate.in_use == 0


async def test_at_most_limit_hold_and_the_queue_is_served_in_order() -> None:
    gate = SetupGate(2)
    release = {key: asyncio.Event() for key in "ABCDE"}
    running: list[str] = []
    order: list[str] = []
    peak = 0

    async def setup(key: str) -> None:
        nonlocal peak
        async with gate.slot(key):
            running.append(key)
            order.append(key)
            peak = max(peak, len(running))
            await release[key].wait()
            running.remove(key)

    tasks = [asyncio.create_task(setup(key)) for key in "ABCDE"]
    await wait_for(lambda: gate.waiting == 3)
    assert running == ["A", "B"]
    for key in "BACDE":
        release[key].set()
        await asyncio.sleep(0.01)
    await asyncio.gather(*tasks)
    assert peak == 2
    assert order == ["A", "B", "C", "D", "E"]
    assert gate.in_use == 0
    assert gate.waiting == 0


async def test_a_queued_setup_waits_its_jitter_first() -> None:
    gate = SetupGate(1, jitter_s=0.4, random=lambda: 0.5)
    loop = asyncio.get_running_loop()
    first = await gate.acquire("A")
    start = loop.time()
    second = asyncio.create_task(gate.acquire("B"))
    await asyncio.sleep(0)
    first.release()  # the slot is free at once, but B is still in its jitter
    lease = await second
    assert loop.time() - start >= 0.2
    lease.release()
    assert gate.in_use == 0


async def test_a_cancelled_waiter_leaves_no_trace() -> None:
    gate = SetupGate(1)
    held = await gate.acquire("A")
    waiter = asyncio.create_task(gate.acquire("B"))
    await wait_for(lambda: gate.waiting == 1)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert gate.waiting == 0
    held.release()
    assert gate.in_use == 0
    async with gate.slot("C"):  # the slot went back to the pool
        assert gate.in_use == 1


async def test_a_waiter_cancelled_as_it_is_handed_the_slot_passes_it_on() -> None:
    gate = SetupGate(1)
    held = await gate.acquire("A")
    handed = asyncio.create_task(gate.acquire("B"))
    after = asyncio.create_task(gate.acquire("C"))
    await wait_for(lambda: gate.waiting == 2)
    held.release()  # B is handed the slot ...
    handed.cancel()  # ... and cancelled before it runs again
    with pytest.raises(asyncio.CancelledError):
        await handed
    lease = await asyncio.wait_for(after, 1)
    assert gate.in_use == 1
    lease.release()
    assert gate.in_use == 0


async def test_a_shared_slot_is_free_when_every_holder_released_it() -> None:
    gate = SetupGate(1)
    assert gate.share("A") is None  # holds nothing
    setup = await gate.acquire("A")
    attach = gate.share("A")
    assert attach is not None
    waiter = asyncio.create_task(gate.acquire("B"))
    setup.release()
    setup.release()  # idempotent
    await asyncio.sleep(0.01)
    assert not waiter.done()  # the attach still holds it
    attach.release()
    (await asyncio.wait_for(waiter, 1)).release()
    assert gate.in_use == 0
    assert gate.share("A") is None


async def test_a_slot_past_its_lease_goes_to_the_next_setup() -> None:
    gate = SetupGate(1, lease_s=0.05)
    slow = await gate.acquire("SLOW")
    # What follows the slow setup shares its (expired) slot instead of queueing again.
    nxt = await asyncio.wait_for(gate.acquire("NEXT"), 1)
    follow_up = gate.share("SLOW")
    assert follow_up is not None
    assert gate.in_use == 1  # NEXT only
    slow.release()
    follow_up.release()
    assert gate.in_use == 1
    nxt.release()
    assert gate.in_use == 0


def test_a_gate_needs_a_slot() -> None:
    with pytest.raises(ValueError, match="at least one slot"):
        SetupGate(0)


def test_phase_is_fixed_per_id_and_spread_over_ids() -> None:
    phases = [phase(f"CP{i}") for i in range(1000)]
    assert phases == [phase(f"CP{i}") for i in range(1000)]
    assert all(0.0 <= p < 1.0 for p in phases)
    # Evenly spread: every tenth of [0, 1) holds some of them.
    assert {int(p * 10) for p in phases} == set(range(10))


# --- end to end ----------------------------------------------------------------------------------


class TimedSim(SimCharger):
    """A SimCharger that also notes when each CALL of ours arrived (event-loop time)."""

    def __init__(self, charger_id: str, connection: ClientConnection) -> None:
        super().__init__(charger_id, connection)
        self.times: list[tuple[float, str, dict[str, Any]]] = []

    def _record(self, action: str, payload: dict[str, Any]) -> str:
        self.times.append((asyncio.get_running_loop().time(), action, payload))
        result: str = super()._record(action, payload)
        return result

    def when(self, action: str, which: Callable[[dict[str, Any]], bool] = bool) -> list[float]:
        return [t for t, name, payload in self.times if name == action and which(payload)]

    def live_writes(self) -> list[float]:
        """When each write of the live profile (id 3) arrived."""
        return self.when(
            "SetChargingProfile",
            lambda p: p["cs_charging_profiles"]["charging_profile_id"] == 3,
        )


class Fleet:
    """Simulated chargers connected to one CentralSystem (closed after the test)."""

    def __init__(self) -> None:
        self._connections: list[ClientConnection] = []
        self._tasks: list[asyncio.Task[Any]] = []

    async def connect(self, central: CentralSystem, charger_id: str) -> TimedSim:
        connection = await connect(
            f"ws://127.0.0.1:{central.port}/{charger_id}", subprotocols=[Subprotocol("ocpp1.6")]
        )
        self._connections.append(connection)
        sim = TimedSim(charger_id, connection)
        self._tasks.append(asyncio.create_task(sim.start()))
        await wait_for(lambda: central.session(charger_id) is not None)
        return sim

    async def close(self) -> None:
        for connection in self._connections:
            await connection.close()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(BaseException):
                await task


@pytest.fixture
async def fleet(make_central: MakeCentral) -> AsyncIterator[Fleet]:
    # Depends on make_central: closed before the servers stop.
    chargers = Fleet()
    yield chargers
    await chargers.close()


def most_at_once(intervals: list[tuple[float, float]]) -> int:
    """The largest number of intervals that overlap at one moment."""
    edges = sorted([(start, 1) for start, _ in intervals] + [(end, -1) for _, end in intervals])
    peak = count = 0
    for _, step in edges:
        count += step
        peak = max(peak, count)
    return peak


async def test_boot_storm_is_accepted_at_once_and_set_up_two_at_a_time(
    make_central: MakeCentral, fleet: Fleet, directory: MemoryDirectory
) -> None:
    ids = [f"STORM{i}" for i in range(5)]
    for charger_id in ids:
        directory.accept(charger_id)
    central = await make_central(
        settings=ServerSettings(host="127.0.0.1", port=0, setup_concurrency=2, setup_jitter_s=0)
    )
    sims = [await fleet.connect(central, charger_id) for charger_id in ids]
    for sim in sims:
        sim.delay["GetConfiguration"] = 0.2  # every setup takes a while
    loop = asyncio.get_running_loop()

    async def boot(sim: TimedSim) -> tuple[str, float]:
        result = await sim.boot()
        return str(result.status), loop.time()

    answers = await asyncio.gather(*(boot(sim) for sim in sims))
    assert [status for status, _ in answers] == ["Accepted"] * 5
    await wait_for(lambda: all(sim.live_writes() for sim in sims), seconds=10)

    # One setup, as the charger sees it: from our first CALL (GetConfiguration) to the live
    # profile that ends current control's start.
    setups = [(sim.when("GetConfiguration")[0], sim.live_writes()[0]) for sim in sims]
    starts = sorted(start for start, _ in setups)
    # Every boot was answered before the queued setups began (the answer never waits).
    assert max(answered for _, answered in answers) < starts[2]
    assert most_at_once(setups) == 2
    assert all(central.charger(charger_id).booted for charger_id in ids)


async def test_a_single_charger_is_set_up_without_delay(
    socket_enabled: None, directory: MemoryDirectory, fleet: Fleet
) -> None:
    directory.accept("HOME")
    # Were a jitter drawn, it would be the whole minute.
    settings = ServerSettings(host="127.0.0.1", port=0, setup_jitter_s=60.0)
    central = CentralSystem(settings, directory, random=lambda: 0.999)
    await central.start()
    try:
        sim = await fleet.connect(central, "HOME")
        loop = asyncio.get_running_loop()
        assert (await sim.boot()).status == "Accepted"
        answered = loop.time()
        await wait_for(lambda: sim.when("GetConfiguration"), seconds=2)
        assert sim.when("GetConfiguration")[0] - answered < 0.5
        await wait_for(lambda: sim.live_writes(), seconds=2)
    finally:
        await fleet.close()
        await central.stop()


async def test_timers_of_chargers_set_up_together_are_spread_and_refresh_in_time(
    make_central: MakeCentral,
    fleet: Fleet,
    directory: MemoryDirectory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    verify_delay = 0.2
    monkeypatch.setattr(LimitCheck, "verify_delay_s", verify_delay)
    duration = 4  # a live profile lasts 4 s: refreshed 1.5-2 s after it was written
    ids = [f"SPREAD{i}" for i in range(6)]
    for charger_id in ids:
        directory.accept(charger_id)
        directory.charger_settings[charger_id] = ChargerSettings(live_limit_duration_s=duration)
    assert max(map(phase, ids)) - min(map(phase, ids)) > 0.5  # ids chosen to show the spread
    central = await make_central()
    sims = [await fleet.connect(central, charger_id) for charger_id in ids]
    await asyncio.gather(*(sim.boot() for sim in sims))
    await wait_for(lambda: all(len(sim.live_writes()) >= 2 for sim in sims), seconds=5)

    written = [sim.live_writes()[0] for sim in sims]
    assert max(written) - min(written) < 0.3  # written in the same moment
    latest = duration * REFRESH_FRACTION  # expiry minus the safety margin
    refreshed_after = [sim.live_writes()[1] - sim.live_writes()[0] for sim in sims]
    for charger_id, after in zip(ids, refreshed_after, strict=True):
        expected = latest * (1 - REFRESH_SPREAD * phase(charger_id))
        # Never early; late only by the event loop's latency (loose: a busy shared machine).
        assert expected - 0.15 <= after <= expected + LOOP_LATENCY_S
    assert max(refreshed_after) - min(refreshed_after) > 0.2  # not all at once

    verified_after = [sim.when("GetCompositeSchedule")[0] - sim.live_writes()[0] for sim in sims]
    for charger_id, after in zip(ids, verified_after, strict=True):
        expected = verify_delay * (1 + VERIFY_SPREAD * phase(charger_id))
        assert expected - 0.1 <= after <= expected + LOOP_LATENCY_S
    assert max(verified_after) - min(verified_after) > 0.1
    # Every write is read back, refreshes too (a profile installed meanwhile would show).
    await wait_for(lambda: all(len(sim.when("GetCompositeSchedule")) >= 2 for sim in sims), 4)


async def test_boot_watchdogs_of_chargers_that_reconnect_together_are_spread(
    make_central: MakeCentral, fleet: Fleet, directory: MemoryDirectory
) -> None:
    trigger_after = 0.4
    ids = ["WD7", "WD5", "WD2", "WD3"]
    assert max(map(phase, ids)) - min(map(phase, ids)) > 0.9  # ids chosen to show the spread
    for charger_id in ids:
        directory.accept(charger_id)
    central = await make_central(
        settings=ServerSettings(host="127.0.0.1", port=0, boot_trigger_after_s=trigger_after)
    )
    loop = asyncio.get_running_loop()
    connected: list[float] = []
    sims: list[TimedSim] = []
    for charger_id in ids:  # reconnected, and none sends a BootNotification by itself
        sims.append(await fleet.connect(central, charger_id))
        connected.append(loop.time())
    await wait_for(lambda: all(sim.when("TriggerMessage") for sim in sims), seconds=3)
    triggered_after = [
        sim.when("TriggerMessage")[0] - at for sim, at in zip(sims, connected, strict=True)
    ]
    for charger_id, after in zip(ids, triggered_after, strict=True):
        expected = trigger_after * (1 + WATCHDOG_SPREAD * phase(charger_id))
        assert expected - 0.08 <= after <= expected + LOOP_LATENCY_S
        assert after >= trigger_after - 0.02  # never earlier than the setting
    assert max(triggered_after) - min(triggered_after) > 0.1


# --- skipped work --------------------------------------------------------------------------------


@pytest.fixture
async def harness(
    socket_enabled: None, directory: MemoryDirectory, server_settings: ServerSettings
) -> AsyncIterator[Harness]:
    """The one-charger harness with current control attached (CP1 accepted)."""
    directory.admissions[CHARGER_ID] = Admission.ACCEPTED
    async with running_harness(directory, server_settings) as h:
        yield h


async def test_a_reboot_with_the_same_configuration_keeps_the_capabilities(
    harness: Harness,
) -> None:
    await harness.charger_client()
    capabilities = harness.charger.capabilities
    assert capabilities.smart_charging
    await harness.charger_client()  # reconnects and boots: the same configuration
    assert harness.charger.capabilities is capabilities

    def fewer_levels(sim: SimCharger) -> None:
        sim.config["ChargeProfileMaxStackLevel"] = "3"

    await harness.charger_client(setup=fewer_levels)
    assert harness.charger.capabilities.max_stack_level == 3


# --- listen backlog ------------------------------------------------------------------------------


def _somaxconn() -> int:
    try:
        return int(Path("/proc/sys/net/core/somaxconn").read_text())
    except OSError, ValueError:
        return 0


def handshakes_completed_while_not_accepting(port: int, attempts: int) -> int:
    """Open ``attempts`` TCP connections without giving the event loop a turn (nothing is
    accepted meanwhile): how many of them the kernel completed, i.e. found room in the backlog."""
    sockets: list[socket.socket] = []
    try:
        for _ in range(attempts):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setblocking(False)
            sock.connect_ex(("127.0.0.1", port))
            sockets.append(sock)
        # Loopback handshakes complete at once; one that found the backlog full is retried by
        # the client only after a second.
        _, writable, _ = select.select([], sockets, [], 0.3)
        return sum(
            1 for sock in writable if sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0
        )
    finally:
        for sock in sockets:
            sock.close()


pytestmark_backlog = pytest.mark.skipif(
    sys.platform != "linux" or _somaxconn() < 400,
    reason="counts completed handshakes the way Linux queues them (needs somaxconn >= 400)",
)


@pytestmark_backlog
async def test_the_listen_backlog_holds_a_reconnect_storm(make_central: MakeCentral) -> None:
    assert ServerSettings().listen_backlog >= 2048
    central = await make_central()
    # asyncio's default backlog (100) would complete only 101 of these.
    assert handshakes_completed_while_not_accepting(central.port, 300) == 300


@pytestmark_backlog
async def test_the_listen_backlog_setting_reaches_the_socket(make_central: MakeCentral) -> None:
    central = await make_central(
        settings=ServerSettings(host="127.0.0.1", port=0, listen_backlog=8)
    )
    assert handshakes_completed_while_not_accepting(central.port, 40) <= 9
