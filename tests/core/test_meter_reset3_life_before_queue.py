"""The life before's rise in an old queue sent after a register reset (meter._hold_life_before,
meter._prove_life_before): counted once, for its own session only, bounded like any rise, kept
through a restart of Home Assistant; never where the new life may have read it itself.

The charger of test_meter_reset_old_queue: a session from 0 Wh (53, 101 live), a queue of the
life before (151, 213, never sent), the reboot that resets the register (3, 61, 117, 172 live),
the queue sent after them, then the new life's next readings (195, 210). Truth: 420 Wh."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest

from custom_components.ocpp_ems.core.meter_time import max_energy_wh, max_power_w
from custom_components.ocpp_ems.core.model import MeterState
from custom_components.ocpp_ems.core.persistence import charger_from_dict, charger_to_dict
from custom_components.ocpp_ems.core.settings import ServerSettings

from .fakes import MemoryDirectory
from .test_energy_quirks import harness_with, restarted
from .test_meter_clock_first_reading import READING_EVERY_S, session
from .test_meter_reset_old_queue import (
    COUNTED_WH,
    NEW_LIFE_WH,
    NEXT_WH,
    OLD_LIFE_WH,
    QUEUED_RISE_WH,
    QUEUED_WH,
    TRUTH_WH,
    Send,
    assert_counted,
    live,
    reset_keeping_a_queue,
    send_queue,
    sender2,
    sender16,
    session2,
)
from .test_time_hostile import OurClock, our_clock
from .v16_harness import CHARGER_ID, Harness

LIFE_BEFORE_KEY = "life_before"  # its key in a connector's stored form
# What the new life counts of its next readings.
NEXT_RISE_WH = NEXT_WH[-1] - NEW_LIFE_WH[-1]


async def queue_sent_twice(h: Harness, send: Send, clock: OurClock) -> None:
    """The queue, the new life's first next reading (proof), the queue again, the last one."""
    queue = await reset_keeping_a_queue(send, clock)
    await send_queue(send, queue)
    await live(send, clock, NEXT_WH[:1])
    assert_counted(h, COUNTED_WH + QUEUED_RISE_WH + NEXT_WH[0] - NEW_LIFE_WH[-1])
    await send_queue(send, queue)
    await live(send, clock, NEXT_WH[1:])
    # Counted again, the copy would add its 112 Wh (213 - 101) once more: 532 Wh.
    assert_counted(h, TRUTH_WH)


async def test_a_second_copy_of_the_queue_counts_nothing_more(h_cp1: Harness) -> None:
    sim, tx = await session(h_cp1, meter_wh=0)
    with our_clock() as clock:
        await queue_sent_twice(h_cp1, sender16(sim, tx), clock)


@pytest.mark.parametrize("flagged", [True, False], ids=["offline", "resent-unanswered"])
async def test_a_second_copy_of_the_queue_counts_nothing_more_v2(
    h2: Harness, flagged: bool
) -> None:
    with our_clock() as clock:
        await queue_sent_twice(h2, await session2(h2, flagged), clock)


async def test_a_queue_sent_newest_first_counts_its_highest_once(h_cp1: Harness) -> None:
    """A queue of three (151, 190, 213 Wh) sent newest first: 213 is held, 190 (also above
    the new life's base) adds nothing: the rise counts up to the highest, once."""
    sim, tx = await session(h_cp1, meter_wh=0)
    send = sender16(sim, tx)
    with our_clock() as clock:
        queue = await reset_keeping_a_queue(send, clock)
        (first_stamp, first_wh), (last_stamp, last_wh) = queue
        between_stamp = datetime.fromisoformat(first_stamp) + timedelta(seconds=10)
        between = (between_stamp.isoformat(), NEW_LIFE_WH[-1] + 18)
        await send_queue(send, [(last_stamp, last_wh), between, (first_stamp, first_wh)])
        await live(send, clock, NEXT_WH)
    assert_counted(h_cp1, TRUTH_WH)


async def test_a_held_queue_is_counted_after_a_restart(
    h_cp1: Harness, directory: MemoryDirectory, server_settings: ServerSettings
) -> None:
    """Home Assistant restarts between the queue (held) and the new life's next readings: the
    held reading came back with the connector, and the next reading proves it."""
    sim, tx = await session(h_cp1, meter_wh=0)
    with our_clock() as clock:
        queue = await reset_keeping_a_queue(sender16(sim, tx), clock)
        await send_queue(sender16(sim, tx), queue)
        async with harness_with(restarted(h_cp1.charger), directory, server_settings, Harness) as h:
            send = sender16(await h.charger_client(boot=False), tx)
            await live(send, clock, NEXT_WH)
            assert_counted(h, TRUTH_WH)


@pytest.mark.parametrize("flagged", [True, False], ids=["offline", "resent-unanswered"])
async def test_the_life_before_is_stored_for_an_old_queue_v2(
    h2: Harness, directory: MemoryDirectory, server_settings: ServerSettings, flagged: bool
) -> None:
    """2.x: Home Assistant restarts between the reset and the queue."""
    with our_clock() as clock:
        send = await session2(h2, flagged)
        queue = await reset_keeping_a_queue(send, clock)
        async with harness_with(restarted(h2.charger), directory, server_settings, type(h2)) as h:
            sent_live = len(OLD_LIFE_WH) + len(NEW_LIFE_WH)
            send = sender2(await h.charger_client(boot=False), flagged, sent_live)
            await send_queue(send, queue)
            await live(send, clock, NEXT_WH)
            assert_counted(h, TRUTH_WH)


async def test_a_queue_the_new_life_passed_before_proving_it_stays_uncounted(
    h_cp1: Harness,
) -> None:
    """The new life's next readings (230, 250 Wh) lie above the queue (213 Wh): they do not
    prove it, and it may have been one of the new life's own (:func:`held_new_life_reading`):
    the life before's 112 Wh stay uncounted (348 Wh for 460: a known loss)."""
    sim, tx = await session(h_cp1, meter_wh=0)
    send = sender16(sim, tx)
    above_queue_wh = (QUEUED_WH[-1] + 17, QUEUED_WH[-1] + 37)
    with our_clock() as clock:
        queue = await reset_keeping_a_queue(send, clock)
        await send_queue(send, queue)
        await live(send, clock, above_queue_wh)
    assert_counted(h_cp1, COUNTED_WH + above_queue_wh[-1] - NEW_LIFE_WH[-1])


def held_wh(meter: MeterState) -> float | None:
    """The register of the reading held as maybe the life before's (None: none)."""
    held = meter._life_before_held
    return None if held is None else held.register_wh


async def test_a_held_new_life_reading_counts_once(h_cp1: Harness) -> None:
    """After the reset the charger's clock goes back 90 s: its next live reading (195 Wh) lies
    between the life before's end and the reset, above the new life's base: held as maybe the
    life before's (counted at once, it would add 94 Wh: 195 - 101). The next ones count the
    new life's rise from 172 Wh; the first on a clock set right again (newer than the base) lies
    not below the held one, so that may be the new life's own: forgotten, never counted.
    (At 100 s back the second, 210 Wh, was stamped the reset's own moment: on a loaded machine
    a few milliseconds put it on either side, and it was held in place of 195 Wh now and then.)"""
    sim, tx = await session(h_cp1, meter_wh=0)
    send = sender16(sim, tx)
    meter = h_cp1.charger.connector(1).meter
    with our_clock() as clock:
        await reset_keeping_a_queue(send, clock)
        await live(send, clock, NEXT_WH, ahead_s=-4.5 * READING_EVERY_S)
        assert held_wh(meter) == NEXT_WH[0]
        await live(send, clock, (NEXT_WH[-1] + 20,))
        assert held_wh(meter) is None
    assert_counted(h_cp1, COUNTED_WH + NEXT_RISE_WH + 20)


async def test_a_queue_of_another_transaction_counts_for_the_lifetime_only(
    h_cp1: Harness,
) -> None:
    """The queue came with a transaction we do not know (not the session the life before's end
    was counted for): its rise is the charger's, not the session's."""
    sim, tx = await session(h_cp1, meter_wh=0)
    send = sender16(sim, tx)
    with our_clock() as clock:
        queue = await reset_keeping_a_queue(send, clock)
        await send_queue(sender16(sim, tx + 1), queue)
        await live(send, clock, NEXT_WH)
    assert h_cp1.charger.connector(1).session_energy_wh == pytest.approx(COUNTED_WH + NEXT_RISE_WH)
    assert h_cp1.charger.lifetime_energy.total_wh == pytest.approx(TRUTH_WH)


async def test_a_hostile_queue_counts_no_more_than_the_allowance(h_cp1: Harness) -> None:
    """A queue's last register 50 kWh: its rise from the life before's end counts no more than
    the charger's maximum power could add in the life before's own time, from that end to the
    held reading by the charger's stamps (40 s: the queue's), plus the tolerance. (Was: from
    when we got the end to when we got the queue, 120 s with the new life's 80, which counted
    itself: meter._life_before_allowance.)"""
    sim, tx = await session(h_cp1, meter_wh=0)
    send = sender16(sim, tx)
    power_w = max_power_w(h_cp1.directory.settings(CHARGER_ID))
    stamped_s = len(QUEUED_WH) * READING_EVERY_S
    with our_clock() as clock:
        queue = await reset_keeping_a_queue(send, clock)
        await send_queue(send, [queue[0], (queue[-1][0], 50_000)])
        await live(send, clock, NEXT_WH)
    bound_wh = max_energy_wh(power_w, stamped_s)
    assert bound_wh < 50_000 - OLD_LIFE_WH[-1]
    # Up to a second more of it: the stamps are taken from our clock, which ticks on while the
    # test runs; never the new life's 80 s more.
    counted_wh = h_cp1.charger.lifetime_energy.total_wh - COUNTED_WH - NEXT_RISE_WH
    assert bound_wh <= counted_wh <= max_energy_wh(power_w, stamped_s + 1)
    assert h_cp1.charger.connector(1).session_energy_wh == pytest.approx(
        h_cp1.charger.lifetime_energy.total_wh
    )


def life_before(meter: MeterState) -> Kept:
    """What is kept of the life before (the points' registers and times: what is stored)."""
    return (
        *(
            None if point is None else (point.register_wh, point.timestamp, point.charger_stamp)
            for point in (meter._life_before_end, meter._life_before_held)
        ),
        meter._life_before_session,
        meter._held_for_session,
    )


def damaged(key: str, value: Any) -> Callable[[dict[str, Any]], object]:
    return lambda stored: stored[LIFE_BEFORE_KEY].update({key: value})


# What comes back of the life before (the end, the held reading, the session, held for it).
Kept = tuple[Any, ...]
NONE_KEPT: Kept = (None, None, None, False)


def without_session(kept: Kept) -> Kept:
    return (*kept[:2], None, kept[3])


@pytest.mark.parametrize(
    ("damage", "kept"),
    [
        (lambda stored: None, True),
        (damaged("session", None), without_session),  # the end was counted for no session
        (lambda stored: stored.pop(LIFE_BEFORE_KEY), False),  # written before it was kept
        (lambda stored: stored.update({LIFE_BEFORE_KEY: [1, 2]}), False),
        (damaged("end", None), False),
        (damaged("end", {"wh": "lots", "at": "2026-03-29T01:00:00+00:00"}), False),
        (damaged("end", {"wh": 101.0}), False),  # no time
        (damaged("held", {"wh": 213.0, "at": "2026-03-29T01:00:00"}), False),  # no zone
        (damaged("session", "T1"), False),
        (damaged("session", [1, "2026-03-29T01:00:00+00:00"]), False),
        (damaged("session", ["1", "yesterday"]), False),
        (damaged("session", ["1", None]), False),
        (damaged("held_for_session", "yes"), False),
    ],
    ids=[
        "as-stored",
        "no-session",
        "older-store",
        "not-a-dict",
        "no-end",
        "end-not-a-number",
        "end-without-time",
        "held-no-zone",
        "session-not-a-list",
        "session-id-a-number",
        "session-start-not-a-time",
        "session-without-start",
        "held-for-session-not-a-bool",
    ],
)
async def test_the_life_before_is_stored(
    h_cp1: Harness,
    damage: Callable[[dict[str, Any]], object],
    kept: bool | Callable[[Kept], Kept],
) -> None:
    """The life before's end, its session and the held reading are stored with the connector; a
    store without them (older) or with a damaged part loads the connector (its register and
    reset kept) with none of them: nothing is counted for the life before, as before."""
    sim, tx = await session(h_cp1, meter_wh=0)
    send = sender16(sim, tx)
    with our_clock() as clock:
        await send_queue(send, await reset_keeping_a_queue(send, clock))
    meter = h_cp1.charger.connector(1).meter
    assert meter._life_before_held is not None
    assert meter._held_for_session
    stored = json.loads(json.dumps(charger_to_dict(h_cp1.charger)))
    damage(stored["connectors"]["1"])
    connector = charger_from_dict(stored).connector(1)
    stored_kept = life_before(meter)
    expected = kept(stored_kept) if callable(kept) else stored_kept if kept else NONE_KEPT
    assert life_before(connector.meter) == expected
    assert connector.meter._register_reset_stamp == meter._register_reset_stamp
    assert connector.stored_register is not None
    assert connector.stored_register.register_wh == NEW_LIFE_WH[-1]
