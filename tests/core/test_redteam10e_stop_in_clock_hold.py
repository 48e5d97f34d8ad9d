"""Red team 10e: a session that ends while its rise is held for our clock (7f1b157,
meter.held_for_our_clock). Our host came up 45 min behind after a restart of Home Assistant;
the station's 10 queued minutes (1,800 Wh) lie beyond what our clocks show, so they are held;
the station stops a minute later, before our clocks cover them. Truth: 21 minutes, 3,780 Wh.

Measured (session record / lifetime after NTP and idle readings):
- Was: a426f13^ and a426f13 (no hold): 2,410 / 22,410 Wh: 1,370 Wh lost for both, for good.
- Was: 7f1b157: 1,980 / 23,780 Wh: the lifetime takes the whole held rise once our clocks cover
  it, the ended session never does (1,800 Wh short, SESSION_UPDATED never fires): the lifetime
  holds 1,800 Wh that no session has.
- Now (meter_held_end): 3,780 / 23,780 Wh, 1.6 with NTP or without, 2.0.1 and 2.1: the session
  ended at the held register is owed its rise; when our clocks take it, one SESSION_UPDATED
  (3,780 Wh) and the shown last-session energy follow.

A reset in the queue after 5 held minutes (a replaced meter): 4,030 Wh instead of the 5,220
counted with our clock right (the held rise is dropped, not kept as the life before), the same at
a426f13^ and after meter_held_end (a strict xfail still). Of the 1,190 Wh, 720 are the first
life's held rise: kept as the life before, the new life's first reading would prove it at once,
bounded by our clocks, which cover 250 Wh of it then (it needs a life-before hold our clocks
prove later); 470 are the new life's queued minutes, cut as jumps: their stamps, replaced by the
time they arrive, show no time, and the hold for our clock looks at rises above the restored
register only (it needs that hold from the reset's first value on).
"""

from __future__ import annotations

import pytest

from custom_components.ocpp_ems.core.model import EventKind
from custom_components.ocpp_ems.core.settings import ServerSettings

from .fakes import MemoryDirectory
from .test_energy_quirks import h16
from .test_meter_clock_hold_end import _updated, stopped_then_idle
from .test_meter_host_clock_behind_restart import (
    PER_MINUTE_WH,
    Restart,
    Station,
    ntp_sets_our_clock,
    restarted_behind,
)
from .test_redteam10a_session_across_restarts import Session, h
from .test_redteam11a_held_end_v201 import _ended, _idle, _restarted_with_queue
from .v16_harness import Harness
from .v201_harness import V201Harness

__all__ = ["h", "h16"]

# 10 minutes before the restart, 10 queued, 1 live before the stop.
TRUTH_SESSION_WH = 21 * PER_MINUTE_WH


@pytest.mark.parametrize("ntp", [True, False], ids=["ntp_steps_our_clock", "no_ntp"])
async def test_v16_the_lifetime_takes_the_held_rise_once_after_the_stop(
    h16: Harness, directory: MemoryDirectory, server_settings: ServerSettings, ntp: bool
) -> None:
    """Pins 7f1b157's gain (a426f13^: 22,410 Wh): the held rise reaches the lifetime once our
    clocks cover it, after the stop, counted once (not again by the idle readings)."""
    second, station = await stopped_then_idle(h16, directory, server_settings, ntp=ntp)
    assert second.charger.lifetime_energy.total_wh == pytest.approx(station.wh)


@pytest.mark.parametrize("ntp", [True, False], ids=["ntp_steps_our_clock", "no_ntp"])
async def test_v16_a_stop_within_the_clock_hold_credits_the_held_rise_to_its_session(
    h16: Harness, directory: MemoryDirectory, server_settings: ServerSettings, ntp: bool
) -> None:
    """Was (7f1b157): 1,980 Wh, no SESSION_UPDATED."""
    second, _ = await stopped_then_idle(h16, directory, server_settings, ntp=ntp)
    connector = second.charger.connector(1)
    assert connector.last_session_energy_wh == pytest.approx(TRUTH_SESSION_WH)
    assert _updated(second) == [pytest.approx(TRUTH_SESSION_WH)]


async def _v2_ended_then_idle(
    h: V201Harness, directory: MemoryDirectory, settings: ServerSettings
) -> tuple[Harness, Session, list[float]]:
    """2.x: the queue, a live minute, Ended within the hold; NTP; the station idles."""
    async with _restarted_with_queue(h, directory, settings) as (session, second, sim):
        await session.charge(sim, 1)
        await _ended(sim, session)
        ntp_sets_our_clock(session)
        await _idle(sim, session)
    ended_records = [
        e.data["energy_wh"] for e in second.events if e.kind is EventKind.SESSION_ENDED
    ]
    return second, session, ended_records


async def test_v2_the_lifetime_takes_the_held_rise_once_after_the_end(
    h: V201Harness, directory: MemoryDirectory, server_settings: ServerSettings
) -> None:
    """Pins 7f1b157's gain (a426f13^: 22,410 Wh)."""
    second, session, _ = await _v2_ended_then_idle(h, directory, server_settings)
    assert second.charger.lifetime_energy.total_wh == pytest.approx(session.wh)


async def test_v2_an_end_within_the_clock_hold_credits_the_held_rise_to_its_session(
    h: V201Harness, directory: MemoryDirectory, server_settings: ServerSettings
) -> None:
    """Was (7f1b157): 1,980 Wh, no SESSION_UPDATED."""
    second, _, ended_records = await _v2_ended_then_idle(h, directory, server_settings)
    assert ended_records == [pytest.approx(1980)]  # at the end, the held rise was not known yet
    assert second.charger.connectors[1].last_session_energy_wh == pytest.approx(TRUTH_SESSION_WH)
    assert _updated(second) == [pytest.approx(TRUTH_SESSION_WH)]


async def _reset_in_the_queue(
    h16: Harness, directory: MemoryDirectory, settings: ServerSettings, *, ntp_first: bool
) -> tuple[float, Station]:
    """1.6: the queue's first 5 minutes rise (held while our clock is behind), then the register
    resets (a replaced meter) and the queue's last 5 minutes are its new life; 10 live minutes,
    the stop. ``ntp_first``: NTP sets our clock before the station reconnects. The session's
    energy."""

    def reset_in_the_queue(station: Station) -> None:
        station.reset_in_the_queue(after=5)
        if ntp_first:
            ntp_sets_our_clock(station)

    restart = Restart(queued=reset_in_the_queue)
    async with restarted_behind(h16, directory, settings, restart) as (station, second, sim):
        await station.charge(sim, 10)
        await station.stop(sim)
        return second.charger.connector(1).last_session_energy_wh, station


# All 30 minutes but the new life's first (its reset step confirmed by its second value).
RESET_SESSION_WH = 29 * PER_MINUTE_WH


async def test_v16_a_reset_in_the_queue_with_our_clock_right_loses_one_minute(
    h16: Harness, directory: MemoryDirectory, server_settings: ServerSettings
) -> None:
    """The reference for the next test (passes at a426f13^ and 7f1b157)."""
    session_wh, _ = await _reset_in_the_queue(h16, directory, server_settings, ntp_first=True)
    assert session_wh == pytest.approx(RESET_SESSION_WH)


@pytest.mark.xfail(
    strict=True,
    reason="observed 4,030 Wh, expected 5,220 as with our clock right: the queue's rise held for "
    "our clock before a reset is dropped when the reset is taken (not kept as the life before); "
    "a426f13^ fails the same (4,030 Wh)",
)
async def test_v16_a_reset_in_the_queue_with_our_clock_behind_keeps_the_held_rise(
    h16: Harness, directory: MemoryDirectory, server_settings: ServerSettings
) -> None:
    session_wh, _ = await _reset_in_the_queue(h16, directory, server_settings, ntp_first=False)
    assert session_wh == pytest.approx(RESET_SESSION_WH)
