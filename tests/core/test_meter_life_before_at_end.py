"""A reading held as maybe the register's life before (meter._hold_life_before) when its session
ends: the session's end register (1.6 meterStop, 2.x the Ended's end reading), taken in the
present life, settles it as a later live reading would (meter.prove_life_before_at_end, called
by transaction_book.TransactionBook._close before the session's record is written). Below the held one it proves
it: the held rise counts for the session that ended; at or above it the held one may be the
session's own: uncounted. Still held at the end (no end register), the next session's first
reading proves it for the lifetime only.

The charger of test_meter_reset_old_queue: a session from 0 Wh (53, 101 live), a queue of the
life before (151, 213), the reboot that resets the register (3, 61, 117, 172 live), the new
life's next reading (195), the queue (held), then the end."""

from __future__ import annotations

import contextlib
from typing import Any

import pytest
from ocpp.v16 import call

from custom_components.ocpp_ems.core.model import EventKind
from custom_components.ocpp_ems.core.settings import ServerSettings

from .fakes import MemoryDirectory
from .test_energy_quirks import harness_with, restarted
from .test_meter_clock_first_reading import READING_EVERY_S, session, wh
from .test_meter_history_shown import NEXT
from .test_meter_reset_old_queue import (
    COUNTED_WH,
    LIVE_SEQ_NOS,
    NEW_LIFE_WH,
    NEXT_WH,
    OLD_LIFE_WH,
    QUEUED_RISE_WH,
    QUEUED_WH,
    TRUTH_WH,
    Send,
    assert_counted,
    meter_value,
    reset_keeping_a_queue,
    send_queue,
    sender16,
    session2,
)
from .test_redteam7_reset_then_reboot_clock import A_END_WH, B_FINAL_WH, EVSE, plugged_in
from .test_redteam8c_ended_present_life import AFTER_BOOT_WH, b_given_up_after_the_boot
from .test_time_hostile import OurClock, our_clock
from .test_v201_ended_after_powerloss import until_the_boot
from .v16_harness import Harness, now_iso

# The session ends at the new life's next reading (195 Wh), below the held 213 Wh: 405 Wh.
END_WH = NEXT_WH[0]
AT_END_WH = COUNTED_WH + QUEUED_RISE_WH + END_WH - NEW_LIFE_WH[-1]
# An end above the held reading: that one may be the session's own (the new life's 172 -> 230).
ABOVE_HELD_WH = QUEUED_WH[-1] + 17
# The live messages a 2.x session sent before its end (the old life's, the new life's, 195 Wh).
SENT_LIVE = len(OLD_LIFE_WH) + len(NEW_LIFE_WH) + 1
RESTART = pytest.mark.parametrize("restart", [False, True], ids=["running", "restarted"])


async def held_at_the_last_reading(send: Send, clock: OurClock) -> str:
    """The reset, the new life's reading at :data:`END_WH`, then the old queue (held): the last
    reading's stamp."""
    queue = await reset_keeping_a_queue(send, clock)
    clock.tick(READING_EVERY_S)
    stamp = now_iso()
    await send(END_WH, NEXT, stamp)
    await send_queue(send, queue)
    return stamp


async def restarted_if(
    restart: bool,
    h: Harness,
    directory: MemoryDirectory,
    settings: ServerSettings,
    stack: contextlib.AsyncExitStack,
) -> Harness:
    """``h``, or (``restart``) the harness of Home Assistant restarted now (closed with
    ``stack``)."""
    if not restart:
        return h
    return await stack.enter_async_context(
        harness_with(restarted(h.charger), directory, settings, type(h))
    )


def assert_ended_with(h: Harness, transaction_id: str, energy_wh: float) -> None:
    """The session ended with ``energy_wh``: its record, its SESSION_ENDED, and as stored."""
    ended = h.charger.find_ended_transaction(transaction_id)
    assert ended is not None
    assert ended.energy_wh == pytest.approx(energy_wh)
    records = [e.data["energy_wh"] for e in h.events if e.kind is EventKind.SESSION_ENDED]
    assert records == [pytest.approx(energy_wh)]
    stored = restarted(h.charger).find_ended_transaction(transaction_id)
    assert stored is not None
    assert stored.energy_wh == pytest.approx(energy_wh)


async def stop16(
    h_cp1: Harness,
    directory: MemoryDirectory,
    settings: ServerSettings,
    *,
    restart: bool,
    stop_wh: int,
    as_last_reading: bool,
) -> tuple[Harness, str]:
    """A 1.6 session held at its last reading, stopped at ``stop_wh`` (stamped as that reading,
    or 20 s after it), Home Assistant restarted before the stop if ``restart``: the harness
    then, the transaction's id."""
    sim, tx = await session(h_cp1, meter_wh=0)
    with our_clock() as clock:
        last_stamp = await held_at_the_last_reading(sender16(sim, tx), clock)
        async with contextlib.AsyncExitStack() as stack:
            h = await restarted_if(restart, h_cp1, directory, settings, stack)
            sim = await h.charger_client(boot=False) if restart else sim
            clock.tick(READING_EVERY_S)
            stamp = last_stamp if as_last_reading else now_iso()
            stop = call.StopTransaction(
                meter_stop=stop_wh, timestamp=stamp, transaction_id=tx, reason="EVDisconnected"
            )
            await sim.call(stop)
            assert h.charger.connector(1).meter._life_before_held is None
            return h, str(tx)


@RESTART
async def test_a_stop_at_the_last_reading_proves_the_held_rise(
    h_cp1: Harness, directory: MemoryDirectory, server_settings: ServerSettings, restart: bool
) -> None:
    """The charger stops at its last reading's register and stamp (it repeats its last sample):
    the stop, the session's end, lies below the held 213 Wh, so that one is the life before's:
    its 112 Wh count for the session before SESSION_ENDED. Was: 293 Wh for 405 (the stop, no
    later than the base, proved nothing; the held rise counted nowhere)."""
    h, tx = await stop16(
        h_cp1, directory, server_settings, restart=restart, stop_wh=END_WH, as_last_reading=True
    )
    assert_counted(h, AT_END_WH)
    assert_ended_with(h, tx, AT_END_WH)


@RESTART
async def test_a_stop_above_the_held_reading_leaves_it_uncounted(
    h_cp1: Harness, directory: MemoryDirectory, server_settings: ServerSettings, restart: bool
) -> None:
    """Pinned (a known loss, as before): the stop's register (230 Wh) lies above the held 213 Wh,
    which may then be one of the session's own readings: the life before's 112 Wh stay
    uncounted (328 Wh for 440), never counted twice."""
    h, tx = await stop16(
        h_cp1,
        directory,
        server_settings,
        restart=restart,
        stop_wh=ABOVE_HELD_WH,
        as_last_reading=False,
    )
    above_wh = COUNTED_WH + ABOVE_HELD_WH - NEW_LIFE_WH[-1]
    assert_counted(h, above_wh)
    assert_ended_with(h, tx, above_wh)


async def ended2(
    h2: Harness,
    directory: MemoryDirectory,
    settings: ServerSettings,
    clock: OurClock,
    *,
    restart: bool,
    end_wh: int | None,
) -> Harness:
    """A 2.x session T1 held at its last reading, ended live (not flagged offline) stamped as that
    reading, with ``end_wh`` as its end reading (None: no meter value), by the station
    connected again (after Home Assistant restarted if ``restart``): the harness then."""
    send = await session2(h2, flagged=True)
    stamp = await held_at_the_last_reading(send, clock)
    async with contextlib.AsyncExitStack() as stack:
        h = await restarted_if(restart, h2, directory, settings, stack)
        station = await h.charger_client(boot=False)
        await station.tx_event(
            "Ended",
            "T1",
            seq_no=LIVE_SEQ_NOS[SENT_LIVE],
            trigger_reason="EVCommunicationLost",
            stopped_reason="EVDisconnected",
            meter_value=None if end_wh is None else meter_value(end_wh, 0.0, stamp),
            timestamp=stamp,
        )
        return h


async def t2_from_the_end(station: Any, clock: OurClock) -> None:
    """T2's Started at the end register (195 Wh), then an Updated at 210 Wh, a reading apart."""
    await t2_started_then_updated(station, clock, NEXT_WH)


async def t2_started_then_updated(
    station: Any, clock: OurClock, registers: tuple[int, int], **more: Any
) -> None:
    """T2's Started at ``registers[0]``, then an Updated at ``registers[1]``, a reading apart
    (``more``: further fields of both)."""
    for seq_no, (event_type, register) in enumerate(
        zip(("Started", "Updated"), registers, strict=True)
    ):
        clock.tick(READING_EVERY_S)
        await station.tx_event(
            event_type,
            "T2",
            seq_no=seq_no,
            evse=EVSE,
            trigger_reason="CablePluggedIn",
            charging_state="Charging",
            meter_value=meter_value(register, 0.0, now_iso()),
            **more,
        )


@RESTART
async def test_an_ended_at_the_last_reading_proves_the_held_rise(
    h2: Harness, directory: MemoryDirectory, server_settings: ServerSettings, restart: bool
) -> None:
    """2.x: the Ended's end reading repeats the last reading (195 Wh, stamped alike), below the
    held 213 Wh: the life before's 112 Wh count for T1 before SESSION_ENDED. Was: 293 Wh."""
    with our_clock() as clock:
        h = await ended2(h2, directory, server_settings, clock, restart=restart, end_wh=END_WH)
    assert_counted(h, AT_END_WH)
    assert_ended_with(h, "T1", AT_END_WH)


@RESTART
async def test_an_ended_above_the_held_reading_leaves_it_uncounted(
    h2: Harness, directory: MemoryDirectory, server_settings: ServerSettings, restart: bool
) -> None:
    """Pinned (a known loss, as before): 2.x, the end reading (230 Wh) above the held one."""
    with our_clock() as clock:
        h = await ended2(
            h2, directory, server_settings, clock, restart=restart, end_wh=ABOVE_HELD_WH
        )
    above_wh = COUNTED_WH + ABOVE_HELD_WH - NEW_LIFE_WH[-1]
    assert_counted(h, above_wh)
    assert_ended_with(h, "T1", above_wh)


@RESTART
async def test_a_hold_past_an_ended_without_register_counts_for_the_lifetime_once(
    h2: Harness, directory: MemoryDirectory, server_settings: ServerSettings, restart: bool
) -> None:
    """T1's Ended carries no meter value: nothing proves the held 213 Wh, which stays held (T1
    ends with 293 Wh). Home Assistant restarts (or not), T2 starts at 195 Wh: its first reading,
    below, proves it for the lifetime once and for T1 (405 Wh, as stored), never for T2; then
    T2's 15 Wh. Was: T1 kept 293 Wh (the proof counted for the lifetime only)."""
    with our_clock() as clock:
        h = await ended2(h2, directory, server_settings, clock, restart=False, end_wh=None)
        assert_ended_with(h, "T1", COUNTED_WH + END_WH - NEW_LIFE_WH[-1])
        assert h.charger.connector(1).meter._life_before_held is not None
        async with contextlib.AsyncExitStack() as stack:
            h = await restarted_if(restart, h2, directory, server_settings, stack)
            station = await h.charger_client(boot=False)
            await t2_from_the_end(station, clock)
            assert h.charger.lifetime_energy.total_wh == pytest.approx(TRUTH_WH)
            assert h.charger.connector(1).session_energy_wh == pytest.approx(NEXT_WH[1] - END_WH)
            stored = restarted(h.charger).find_ended_transaction("T1")
            assert stored is not None
            assert stored.energy_wh == pytest.approx(AT_END_WH)


@RESTART
async def test_a_queue_after_the_stop_counts_for_the_lifetime_once(
    h_cp1: Harness, directory: MemoryDirectory, server_settings: ServerSettings, restart: bool
) -> None:
    """1.6, the stop (195 Wh) comes before the old queue, which is then held for the session
    that ended (293 Wh). Home Assistant restarts (or not); the next session starts at 195 Wh:
    that proves it for the lifetime once and for the ended session (405 Wh), never for the new
    session; then the new session's 15 Wh. Was: the ended session kept 293 Wh."""
    sim, tx = await session(h_cp1, meter_wh=0)
    send = sender16(sim, tx)
    with our_clock() as clock:
        queue = await reset_keeping_a_queue(send, clock)
        clock.tick(READING_EVERY_S)
        await sim.call(
            call.StopTransaction(
                meter_stop=END_WH, timestamp=now_iso(), transaction_id=tx, reason="EVDisconnected"
            )
        )
        await send_queue(send, queue)
        assert h_cp1.charger.connector(1).meter._life_before_held is not None
        async with contextlib.AsyncExitStack() as stack:
            h = await restarted_if(restart, h_cp1, directory, server_settings, stack)
            sim = await h.charger_client(boot=False) if restart else sim
            clock.tick(READING_EVERY_S)
            tx2 = (await sim.start_tx(meter=END_WH, timestamp=now_iso())).transaction_id
            assert h.charger.lifetime_energy.total_wh == pytest.approx(AT_END_WH)
            clock.tick(READING_EVERY_S)
            await sim.meter(1, [wh(NEXT_WH[1])], tx2, now_iso())
            assert h.charger.lifetime_energy.total_wh == pytest.approx(TRUTH_WH)
            assert h.charger.connector(1).session_energy_wh == pytest.approx(NEXT_WH[1] - END_WH)
            ended = h.charger.find_ended_transaction(str(tx))
            assert ended is not None
            assert ended.energy_wh == pytest.approx(AT_END_WH)


async def test_an_ended_whose_end_reading_is_the_held_one_counts_it_for_the_lifetime(
    h2: Harness,
) -> None:
    """Red team 8c's case, reproduced and pinned: B (300 Wh at its last live reading), the power
    cut (350 Wh), the reset (the EVSE's 0, 10 Wh after the boot), then B's Ended flagged offline
    whose only reading is the one at the cut, stamped before the reset: held as the life
    before's, and no present-life register ends B (a known loss: B 310 Wh for 360). The next
    session's first reading (20 Wh, below it) proves it: the lifetime counts its 50 Wh once."""
    with our_clock() as clock:
        station, seq_no, transaction = await until_the_boot(h2, clock)
        await b_given_up_after_the_boot(station, clock, seq_no)
        after_boot_wh = AFTER_BOOT_WH[-1] - AFTER_BOOT_WH[0]
        assert transaction.energy_wh == pytest.approx(300 + after_boot_wh)  # 50 Wh lost
        clock.tick(READING_EVERY_S)
        await plugged_in(station, "C", AFTER_BOOT_WH[-1] + 10)
    truth_wh = A_END_WH + B_FINAL_WH + after_boot_wh + 10
    assert h2.charger.lifetime_energy.total_wh == pytest.approx(truth_wh)
    assert h2.charger.connector(1).session_energy_wh == 0.0
