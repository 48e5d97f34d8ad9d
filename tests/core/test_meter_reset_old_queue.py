"""A charger queues readings while offline, reboots (its register counts from 0 again: a reset,
confirmed by its next reading) and then sends its old queue: the last queued register (213 Wh,
read in the life before the reset, stamped before the reset by the charger's clock) lies above
the new life's base (172 Wh). It belongs to the life before (meter._of_life_before): never a rise
of the new life, and the new life's next readings (below it) count their whole rise. The life
before's own rise it carries (101 -> 213 Wh, charged offline before the reboot) is held
(meter._hold_life_before) and counts once the new life's next reading, below it, proves it no
reading of the new life (meter._prove_life_before). Also after a restart of Home Assistant
between the reset and the queue (the reset and the life before's end are stored), and for a 2.x
station. A charger whose clock went back after the reset
stamps its live readings before the reset too: they count once its live clock confirms them."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import pytest

from custom_components.ocpp_ems.core.meter_values import ENERGY_REGISTER, POWER
from custom_components.ocpp_ems.core.persistence import charger_from_dict, charger_to_dict
from custom_components.ocpp_ems.core.settings import ServerSettings

from .fakes import MemoryDirectory
from .test_energy_quirks import harness_with, restarted
from .test_meter_clock_first_reading import HOUR_S, READING_EVERY_S, session, wh
from .test_meter_history_shown import LIVE, NEXT, QUEUED, assert_shown, flow
from .test_time_hostile import OurClock, our_clock
from .v16_harness import Harness, SimCharger, now_iso
from .v201_harness import SimStation, sampled

# The session from 0 Wh: two live readings, the reboot, the new life from 3 Wh (the reset,
# confirmed by 61 Wh); the queue kept through the reboot; the new life's next readings (20 s
# apart), below the queue's last register.
OLD_LIFE_WH = (53, 101)
QUEUED_WH = (151, 213)
NEW_LIFE_WH = (3, 61, 117, 172)
NEXT_WH = (195, 210)
# What counted before the queue came: the old life's live rise, and the new life's from its first
# value (270 Wh).
COUNTED_WH = OLD_LIFE_WH[-1] + NEW_LIFE_WH[-1] - NEW_LIFE_WH[0]
# The life before's rise the queue carries (112 Wh): held while the new life's register (172 Wh)
# might still be below a reading of its own, counted once its next reading (195 Wh) lies below.
QUEUED_RISE_WH = QUEUED_WH[-1] - OLD_LIFE_WH[-1]
# All the session charged (420 Wh): counted once the new life's next readings came.
TRUTH_WH = COUNTED_WH + QUEUED_RISE_WH + NEXT_WH[-1] - NEW_LIFE_WH[-1]
RESET_KEY = "register_reset_stamp"  # its key in a connector's stored form

# A reading: its register (Wh), the values with it, its stamp.
Send = Callable[[int, tuple[float, float, float], str], Awaitable[object]]


def sender16(sim: SimCharger, tx: int) -> Send:
    async def send(register: int, values: tuple[float, float, float], stamp: str) -> None:
        await sim.meter(1, [wh(register), *flow(values)], tx, stamp)

    return send


async def live(
    send: Send, clock: OurClock, registers: tuple[int, ...], ahead_s: float = 0.0
) -> None:
    """Each of ``registers`` 20 s after the one before, stamped ``ahead_s`` off our clock."""
    for register in registers:
        clock.tick(READING_EVERY_S)
        await send(register, NEXT, now_iso(ahead_s))


async def reset_keeping_a_queue(send: Send, clock: OurClock) -> list[tuple[str, int]]:
    """The old life's live readings, the reboot and the new life's: the queue kept through it
    (its stamps, its registers)."""
    await live(send, clock, OLD_LIFE_WH)
    queue = [(now_iso((n + 1) * READING_EVERY_S), wh_) for n, wh_ in enumerate(QUEUED_WH)]
    clock.tick(len(QUEUED_WH) * READING_EVERY_S)
    await live(send, clock, NEW_LIFE_WH)
    return queue


async def send_queue(send: Send, queue: list[tuple[str, int]]) -> None:
    for stamp, register in queue:
        await send(register, QUEUED, stamp)


def assert_counted(h: Harness, counted_wh: float) -> None:
    assert h.charger.connector(1).session_energy_wh == pytest.approx(counted_wh)
    assert h.charger.lifetime_energy.total_wh == pytest.approx(counted_wh)


async def old_queue_then_new_life(h: Harness, send: Send, clock: OurClock) -> None:
    queue = await reset_keeping_a_queue(send, clock)
    assert_counted(h, COUNTED_WH)
    await send_queue(send, queue)
    assert_counted(h, COUNTED_WH)  # held: not proven yet
    await live(send, clock, NEXT_WH)
    # Was 308 Wh (the queue's 112 Wh lost): the new life's 195 Wh, below 213, proved the queue.
    assert_counted(h, TRUTH_WH)


async def test_an_old_queue_sent_again_after_the_reset_counts_only_the_life_befores_rise(
    h_cp1: Harness,
) -> None:
    sim, tx = await session(h_cp1, meter_wh=0)
    with our_clock() as clock:
        await old_queue_then_new_life(h_cp1, sender16(sim, tx), clock)


@pytest.mark.parametrize("flagged", [True, False], ids=["offline", "resent-unanswered"])
async def test_an_old_queue_sent_again_after_the_reset_counts_only_the_life_befores_rise_v2(
    h2: Harness, flagged: bool
) -> None:
    """2.x: the readings in TransactionEvents (Updated), the queue's flagged offline with the
    seqNos it had when queued (3 and 4: sent after the new life's). Not flagged (messages sent
    before the reboot whose answer never came) it is sent behind newer ones all the same: not
    read as it was sent (transactions._taken_now)."""
    with our_clock() as clock:
        send = await session2(h2, flagged)
        await old_queue_then_new_life(h2, send, clock)


# The seqNos of the live readings of :func:`session2`'s session: the queue's (3 and 4) between.
LIVE_SEQ_NOS = [1, 2, *range(3 + len(QUEUED_WH), 40)]


async def session2(h2: Harness, flagged: bool) -> Send:
    """A 2.x session T1 from 0 Wh (run inside :func:`our_clock`), its readings sent as
    :func:`sender2` says."""
    station = await h2.charger_client(boot=False)
    send = sender2(station, flagged)
    await station.tx_event(
        "Started",
        "T1",
        seq_no=0,
        evse={"id": 1, "connectorId": 1},
        id_token={"idToken": "TAG1", "type": "ISO14443"},
        charging_state="Charging",
        meter_value=meter_value(0, LIVE[0], now_iso()),
    )
    return send


def sender2(station: SimStation, flagged: bool, sent_live: int = 0) -> Send:
    """How a 2.x station sends T1's readings: in TransactionEvents (Updated), the queue's
    (``QUEUED``) with the seqNos they had when queued, ``flagged`` offline or not; the live ones
    from :data:`LIVE_SEQ_NOS` (``sent_live`` of them sent before)."""
    queued_seq_nos = {register: 3 + n for n, register in enumerate(QUEUED_WH)}
    live_seq_nos = iter(LIVE_SEQ_NOS[sent_live:])

    async def send(register: int, values: tuple[float, float, float], stamp: str) -> None:
        queued = values is QUEUED
        await station.tx_event(
            "Updated",
            "T1",
            trigger_reason="MeterValuePeriodic",
            seq_no=queued_seq_nos[register] if queued else next(live_seq_nos),
            offline=(queued and flagged) or None,
            meter_value=meter_value(register, values[0], stamp),
            timestamp=stamp,
        )

    return send


def meter_value(register: int, watts: float, stamp: str) -> list[dict[str, Any]]:
    samples = [sampled(register, ENERGY_REGISTER, unit="Wh"), sampled(watts, POWER, unit="W")]
    return [{"timestamp": stamp, "sampledValue": samples}]


async def test_the_reset_is_stored_for_an_old_queue_after_a_restart(
    h_cp1: Harness, directory: MemoryDirectory, server_settings: ServerSettings
) -> None:
    """Home Assistant restarts between the reset and the old queue: the reset's stamp and the life
    before's end came back with the connector: the queue counts the life before's rise once the
    new life's next reading proves it, the new life's next readings all of theirs."""
    sim, tx = await session(h_cp1, meter_wh=0)
    with our_clock() as clock:
        queue = await reset_keeping_a_queue(sender16(sim, tx), clock)
        model = restarted(h_cp1.charger)
        async with harness_with(model, directory, server_settings, Harness) as h:
            send = sender16(await h.charger_client(boot=False), tx)
            await send_queue(send, queue)
            assert_counted(h, COUNTED_WH)
            await live(send, clock, NEXT_WH)
            assert_counted(h, TRUTH_WH)  # was 308 Wh: the queue's 112 Wh lost


async def test_live_readings_stamped_before_the_reset_count_once_the_clock_is_confirmed(
    h_cp1: Harness,
) -> None:
    """After the reset the charger's clock goes back an hour (a time zone's summer time ends):
    its live readings lie before the reset's stamp. The first waits for the clock's new offset
    (it could be the life before: an old queue is stamped alike); the second confirms it: both
    rises count, and its values are shown."""
    sim, tx = await session(h_cp1, meter_wh=0)
    send = sender16(sim, tx)
    with our_clock() as clock:
        await reset_keeping_a_queue(send, clock)
        await live(send, clock, NEXT_WH, ahead_s=-HOUR_S)
        assert_counted(h_cp1, COUNTED_WH + NEXT_WH[-1] - NEW_LIFE_WH[-1])
        assert_shown(h_cp1, NEXT)
        clock.tick(READING_EVERY_S)
        await send(NEXT_WH[-1] + 20, LIVE, now_iso(-HOUR_S))
        assert_shown(h_cp1, LIVE)


@pytest.mark.parametrize(
    ("damage", "kept"),
    [
        (lambda stored: None, True),
        (lambda stored: stored.pop(RESET_KEY), False),  # written before it was kept
        (lambda stored: stored.update({RESET_KEY: "yesterday"}), False),
        (lambda stored: stored.update({RESET_KEY: 1_733_000_000}), False),
        (lambda stored: stored.update({RESET_KEY: "2026-03-29T01:00:00"}), False),  # no zone
    ],
    ids=["as-stored", "older-store", "not-a-time", "a-number", "no-zone"],
)
async def test_the_reset_stamp_is_stored(
    h_cp1: Harness, damage: Callable[[dict[str, Any]], object], kept: bool
) -> None:
    """The stamp of the register's last reset is stored with the connector; a store without it
    (older) or with a damaged one loads the connector (its register kept), with no reset."""
    sim, tx = await session(h_cp1, meter_wh=0)
    with our_clock() as clock:
        await reset_keeping_a_queue(sender16(sim, tx), clock)
    reset = h_cp1.charger.connector(1).meter._register_reset_stamp
    assert isinstance(reset, datetime)
    stored = json.loads(json.dumps(charger_to_dict(h_cp1.charger)))
    damage(stored["connectors"]["1"])
    connector = charger_from_dict(stored).connector(1)
    assert connector.meter._register_reset_stamp == (reset if kept else None)
    assert connector.stored_register is not None
    assert connector.stored_register.register_wh == NEW_LIFE_WH[-1]
