"""A 1.6 session that ends while its register's rise is held for our clock (our host came up
45 min behind after a restart: meter.held_for_our_clock) is owed that rise up to the register it
ended at, once our clocks take it (meter_held_end): the part a re-sent reading brings first, the
rest later; from the restored register when the queue's first reading lay beyond the tolerance;
nothing when a jump is confirmed instead; never what a session started since counts. Red team
10e's file holds the plain case (test_redteam10e_stop_in_clock_hold).
"""

from __future__ import annotations

import pytest

from custom_components.ocpp_ems.core.model import EventKind
from custom_components.ocpp_ems.core.settings import ServerSettings

from .fakes import MemoryDirectory
from .test_energy_quirks import energy16, h16
from .test_meter_host_clock_behind_restart import (
    BEGIN_WH,
    JUMP_WH,
    PER_MINUTE_WH,
    PLAIN,
    Restart,
    Station,
    ntp_sets_our_clock,
    stopped_within_the_hold,
)
from .v16_harness import Harness, SimCharger

__all__ = ["h16"]

# 10 minutes before the restart, 10 queued, 1 live before the stop.
SESSION_MINUTES = 21
# Counted at the stop: the 10 minutes before the restart and the queue's first (the tolerance).
AT_THE_STOP_WH = 11 * PER_MINUTE_WH
IDLE_MINUTES = 10
HALF_AN_HOUR = 30


def _updated(h: Harness) -> list[float]:
    return [e.data["energy_wh"] for e in h.events if e.kind is EventKind.SESSION_UPDATED]


async def _idle(sim: SimCharger, station: Station, wh: int, minutes: int = IDLE_MINUTES) -> None:
    """The station idles at register ``wh``, a reading a minute, no transaction."""
    for _ in range(minutes):
        station.clock.tick(60)
        await sim.meter(1, [energy16(wh)], None, station.stamp())


async def stopped_then_idle(
    h: Harness,
    directory: MemoryDirectory,
    settings: ServerSettings,
    restart: Restart = PLAIN,
    *,
    ntp: bool = True,
    idle_minutes: int = HALF_AN_HOUR,
) -> tuple[Harness, Station]:
    """:func:`stopped_within_the_hold`; NTP (or not); the station idles ``idle_minutes`` at its
    stop register."""
    async with stopped_within_the_hold(h, directory, settings, restart) as (station, second, sim):
        if ntp:
            ntp_sets_our_clock(station)
        await _idle(sim, station, station.wh, minutes=idle_minutes)
    return second, station


async def test_a_resent_reading_brings_part_of_the_owed_rise_and_the_idle_register_the_rest(
    h16: Harness, directory: MemoryDirectory, server_settings: ServerSettings
) -> None:
    """After the stop and NTP the station re-sends its fifth queued reading without its
    transaction: the session is owed the rise up to it first, the rest once the idle register
    comes. Was (7f1b157): 1,980 Wh, no SESSION_UPDATED."""
    queued_fifth: list[tuple[int, str]] = []
    restart = Restart(queued=lambda station: queued_fifth.append(station.queue[4]))
    async with stopped_within_the_hold(h16, directory, server_settings, restart) as (
        station,
        second,
        sim,
    ):
        ntp_sets_our_clock(station)
        station.clock.tick(60)
        resent = queued_fifth[0]
        await sim.meter(1, [energy16(resent[0])], None, resent[1])
        await _idle(sim, station, station.wh)
    part_wh = resent[0] - BEGIN_WH
    assert _updated(second) == [pytest.approx(part_wh), pytest.approx(station.wh - BEGIN_WH)]
    assert second.charger.connector(1).last_session_energy_wh == pytest.approx(
        SESSION_MINUTES * PER_MINUTE_WH
    )
    assert second.charger.lifetime_energy.total_wh == pytest.approx(station.wh)


async def test_a_jump_confirmed_after_the_stop_owes_the_session_nothing(
    h16: Harness, directory: MemoryDirectory, server_settings: ServerSettings
) -> None:
    """The idle register jumps by 50 kWh after the stop, before our clocks covered the held
    rise: the jump is confirmed (the station's clock never explains it) and the base moves past
    the held rise without our clocks taking it: the session keeps what it had at its stop."""
    async with stopped_within_the_hold(h16, directory, server_settings) as (
        station,
        second,
        sim,
    ):
        await _idle(sim, station, station.wh + JUMP_WH)
    assert second.charger.connector(1).last_session_energy_wh == pytest.approx(AT_THE_STOP_WH)
    assert _updated(second) == []


@pytest.mark.parametrize("ntp_first", [True, False], ids=["ntp_then_start", "start_then_ntp"])
async def test_a_session_started_since_never_counts_a_wh_twice(
    h16: Harness, directory: MemoryDirectory, server_settings: ServerSettings, ntp_first: bool
) -> None:
    """A new session starts at the ended one's stop register and charges 10 minutes. NTP set
    our clock first: its start register proves the held rise, the ended session's (was
    (7f1b157): 1,980 Wh, the 1,800 Wh for the lifetime only). It started while the rise was
    still held: its own first reading takes the rise from the ended session's last counted
    point, the new session's from its own start register, the rise below it the ended one's
    (was: 1,980 / 3,600 Wh, the held rise counted for the new session; each Wh once either
    way). Fixed by meter._below_start: 3,780 / 1,800 Wh."""
    async with stopped_within_the_hold(h16, directory, server_settings) as (
        station,
        second,
        sim,
    ):
        ended = second.charger.connector(1).last_transaction
        station.clock.tick(60)
        if ntp_first:
            ntp_sets_our_clock(station)
        started = await sim.start_tx(meter=station.wh, timestamp=station.stamp())
        station.transaction_id = started.transaction_id
        if not ntp_first:
            ntp_sets_our_clock(station)
        await station.charge(sim, 10)
        await station.stop(sim)
        new = second.charger.connector(1).last_transaction
    assert ended is not None
    assert new is not None
    ended_wh, new_wh = SESSION_MINUTES * PER_MINUTE_WH, 10 * PER_MINUTE_WH
    assert (ended.energy_wh, new.energy_wh) == (pytest.approx(ended_wh), pytest.approx(new_wh))
    assert second.charger.lifetime_energy.total_wh == pytest.approx(station.wh)
    assert ended.energy_wh + new.energy_wh == pytest.approx(station.wh - BEGIN_WH)


async def test_the_reading_that_brings_the_owed_rise_is_told_once(
    h16: Harness, directory: MemoryDirectory, server_settings: ServerSettings
) -> None:
    """NTP set our clock after the stop: the first idle reading takes the held rise; it is saved
    once, its SESSION_UPDATED fires once (test_meter_clock_hold_told_once)."""
    async with stopped_within_the_hold(h16, directory, server_settings) as (
        station,
        second,
        sim,
    ):
        ntp_sets_our_clock(station)
        saves = second.saves
        await _idle(sim, station, station.wh, minutes=1)
        saved = second.saves - saves
    assert (saved, _updated(second)) == (1, [pytest.approx(SESSION_MINUTES * PER_MINUTE_WH)])


def _read_every_other_minute(station: Station) -> None:
    station.queue = station.queue[1::2]


@pytest.mark.parametrize("ntp", [True, False], ids=["ntp_steps_our_clock", "no_ntp"])
async def test_a_queue_read_every_two_minutes_is_owed_from_the_restored_register(
    h16: Harness, directory: MemoryDirectory, server_settings: ServerSettings, ntp: bool
) -> None:
    """The station reads its register every 2 minutes: its first queued reading lies beyond
    the tolerance, so nothing is read at the stop and the session is owed the rise from its
    restored register. Was (7f1b157): 1,800 Wh, no SESSION_UPDATED."""
    every_other = Restart(queued=_read_every_other_minute)
    second, station = await stopped_then_idle(
        h16, directory, server_settings, every_other, ntp=ntp, idle_minutes=IDLE_MINUTES
    )
    truth_wh = SESSION_MINUTES * PER_MINUTE_WH
    assert _updated(second) == [pytest.approx(truth_wh)]
    assert second.charger.connector(1).last_session_energy_wh == pytest.approx(truth_wh)
    assert second.charger.lifetime_energy.total_wh == pytest.approx(station.wh)
