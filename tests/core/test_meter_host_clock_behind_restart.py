"""Our host came up with its clock behind after a restart of Home Assistant (a Raspberry Pi
without a real-time clock starts at its last saved time until NTP steps it), on 1.6: the
charger's queued readings, stamped by its right clock, lie "too far ahead" of ours and count as
of when they arrive, so our clocks show no time for the register's rise over the queue. That rise
is held (meter.held_for_our_clock), not cut as a jump, until our clocks cover it: our monotonic
clock since the restore, or ours once NTP set it. A register that jumps, or a charger clock that
jumps years ahead with it, still counts nothing beyond the allowance.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol

import pytest
from ocpp.v16 import call

from custom_components.ocpp_ems.core.model import Charger
from custom_components.ocpp_ems.core.persistence import charger_from_dict
from custom_components.ocpp_ems.core.settings import ServerSettings

from .fakes import MemoryDirectory
from .test_energy_quirks import energy16, h16, harness_with
from .test_time_hostile import OurClock, our_clock
from .test_v201_reboot_mark import _stored
from .v16_harness import Harness, SimCharger

__all__ = ["h16"]

BEGIN_WH = 20_000
PER_MINUTE_WH = 180  # 10.8 kW
HOST_BEHIND = timedelta(minutes=45)
JUMP_WH = 50_000  # a register that jumps: no energy
YEAR_2037 = datetime(2037, 1, 1, tzinfo=UTC)


@dataclass
class Station:
    """The charger's side: its transaction, register, clock's lead on ours and offline queue."""

    clock: OurClock
    transaction_id: int = 0
    wh: int = BEGIN_WH
    lead: timedelta = timedelta(0)
    queue: list[tuple[int, str]] = field(default_factory=list)

    def stamp(self) -> str:
        return (datetime.now(UTC) + self.lead).isoformat()

    def next_minute(self) -> tuple[int, str]:
        self.clock.tick(60)
        self.wh += PER_MINUTE_WH
        return self.wh, self.stamp()

    async def send(self, sim: SimCharger, wh: int, stamp: str) -> None:
        await sim.meter(1, [energy16(wh)], transaction_id=self.transaction_id, timestamp=stamp)

    async def charge(self, sim: SimCharger, minutes: int) -> None:
        for _ in range(minutes):
            await self.send(sim, *self.next_minute())

    async def send_queue(self, sim: SimCharger) -> None:
        for reading in self.queue:
            await self.send(sim, *reading)
        self.queue.clear()

    def reset_in_the_queue(self, after: int) -> None:
        """The register resets (a replaced meter) after the queue's first ``after`` readings."""
        at_reset = self.queue[after - 1][0]
        self.queue[after:] = [(wh - at_reset, stamp) for wh, stamp in self.queue[after:]]
        self.wh = self.queue[-1][0]

    async def stop(self, sim: SimCharger) -> None:
        await sim.call(
            call.StopTransaction(
                meter_stop=self.wh, timestamp=self.stamp(), transaction_id=self.transaction_id
            )
        )


class StationClock(Protocol):
    """A station (1.6 or 2.x) whose clock leads ours by ``lead``."""

    clock: OurClock
    lead: timedelta


def ntp_sets_our_clock(station: StationClock) -> None:
    """NTP steps our host's clock right; the station's clock keeps its own error."""
    station.clock.step(HOST_BEHIND)
    station.lead -= HOST_BEHIND


async def _charged_then_stored(h: Harness, station: Station) -> dict[str, object]:
    """A session charged 10 minutes; Home Assistant stores it and goes down; the station charges
    10 more minutes, queued, while our host comes up 45 minutes behind (the station's clock
    keeps its ``lead``: none, right). The store."""
    sim = await h.charger_client(boot=False)
    started = await sim.start_tx(meter=BEGIN_WH, timestamp=station.stamp())
    station.transaction_id = started.transaction_id
    await station.charge(sim, 10)
    stored = _stored(h)
    station.queue = [station.next_minute() for _ in range(10)]
    station.clock.step(-HOST_BEHIND)
    station.lead += HOST_BEHIND
    return stored


QueueChange = Callable[[Station], object]


@dataclass(frozen=True)
class Restart:
    """How the restart of :func:`restarted_behind` differs from the plain one."""

    station_error: timedelta = timedelta(0)  # the station's clock off the truth throughout
    queued: QueueChange | None = None  # changes the station's queue
    restore: Callable[[dict[str, object]], Charger] = charger_from_dict  # Home Assistant's start


PLAIN = Restart()  # the station's clock right, its queue as it charged


@asynccontextmanager
async def restarted_behind(
    h: Harness, directory: MemoryDirectory, settings: ServerSettings, restart: Restart = PLAIN
) -> AsyncIterator[tuple[Station, Harness, SimCharger]]:
    """A session stored (:func:`_charged_then_stored`); Home Assistant restarted from the store
    with our host's clock behind; the station reconnects (no boot) and sends its queue."""
    with our_clock() as clock:
        station = Station(clock, lead=restart.station_error)
        stored = await _charged_then_stored(h, station)
        if restart.queued is not None:
            restart.queued(station)
        async with harness_with(restart.restore(stored), directory, settings, type(h)) as restored:
            sim = await restored.charger_client(boot=False)
            await station.send_queue(sim)
            yield station, restored, sim


@asynccontextmanager
async def stopped_within_the_hold(
    h: Harness, directory: MemoryDirectory, settings: ServerSettings, restart: Restart = PLAIN
) -> AsyncIterator[tuple[Station, Harness, SimCharger]]:
    """:func:`restarted_behind`, then a live minute and the stop, all while the queue's rise is
    held for our clock."""
    async with restarted_behind(h, directory, settings, restart) as (station, restored, sim):
        await station.charge(sim, 1)
        await station.stop(sim)
        yield station, restored, sim


@pytest.mark.parametrize("ntp", [True, False], ids=["ntp_steps_our_clock", "no_ntp"])
async def test_queued_readings_after_our_clock_came_up_behind_count_once_our_clocks_cover_them(
    h16: Harness, directory: MemoryDirectory, server_settings: ServerSettings, ntp: bool
) -> None:
    """Was: the queue's rise beyond the tolerance taken for a jump (180, 70, 0, ... Wh of its
    1,800 Wh counted). Without NTP our monotonic clock covers it after ~5 live minutes."""
    async with restarted_behind(h16, directory, server_settings) as (station, restored, sim):
        await station.charge(sim, 3)
        if ntp:
            ntp_sets_our_clock(station)
        await station.charge(sim, 7)
        station.clock.tick(30)
        await station.stop(sim)
        connector = restored.charger.connector(1)
        lifetime = restored.charger.lifetime_energy.total_wh
    minutes = 10 + 10 + 10
    assert connector.transaction is None
    assert connector.last_session_energy_wh == pytest.approx(minutes * PER_MINUTE_WH)
    assert lifetime == pytest.approx(station.wh)


@pytest.mark.parametrize("station_clock", ["right", "jumped_to_2037"])
async def test_a_register_jump_while_our_clock_is_behind_counts_nothing(
    h16: Harness, directory: MemoryDirectory, server_settings: ServerSettings, station_clock: str
) -> None:
    """The queue's second half comes after the register jumped by 50 kWh (and, at a broken
    station, its clock to 2037): never explained by the station's clock since the stored register
    (nor by ours, even once NTP set it), so the jump is confirmed and counts nothing, as it did
    before our clock's step back was held. Passes before and after."""

    def jumped(station: Station) -> None:
        after_the_jump = [(wh + JUMP_WH, stamp) for wh, stamp in station.queue[5:]]
        if station_clock == "jumped_to_2037":
            after_the_jump = [(wh, YEAR_2037.isoformat()) for wh, _ in after_the_jump]
            station.lead = YEAR_2037 - datetime.now(UTC)
        station.queue[5:] = after_the_jump
        station.wh += JUMP_WH

    restart = Restart(queued=jumped)
    async with restarted_behind(h16, directory, server_settings, restart) as (
        station,
        restored,
        sim,
    ):
        await station.charge(sim, 10)
        station.clock.step(HOST_BEHIND)
        await station.charge(sim, 10)
        await station.stop(sim)
        connector = restored.charger.connector(1)
        lifetime = restored.charger.lifetime_energy.total_wh
    counted = connector.last_session_energy_wh
    assert connector.transaction is None
    assert counted <= (10 + 10 + 20) * PER_MINUTE_WH  # the jump never counts
    assert lifetime == pytest.approx(BEGIN_WH + counted)


async def test_a_register_reset_while_our_clock_is_behind_is_taken_not_held(
    h16: Harness, directory: MemoryDirectory, server_settings: ServerSettings
) -> None:
    """The register resets (a replaced meter) in the queue: no rise to hold, a new life whose
    live rise counts (held, it would never be confirmed: nothing counted for the session's
    rest)."""
    restart = Restart(queued=lambda station: station.reset_in_the_queue(after=5))
    async with restarted_behind(h16, directory, server_settings, restart) as (
        station,
        restored,
        sim,
    ):
        connector = restored.charger.connector(1)
        assert connector.transaction is not None
        before_live = connector.transaction.energy_wh
        await station.charge(sim, 10)
        live = connector.transaction.energy_wh - before_live
    # The live minutes count (with what the queue's new life had left to confirm).
    assert 10 * PER_MINUTE_WH <= live <= 15 * PER_MINUTE_WH
