"""Red team (8c) of the life before's rise (b146871: meter._hold_life_before,
meter._prove_life_before), on test_meter_reset_old_queue's charger: a session from 0 Wh (53, 101
live), a queue of the life before (151, 213, stamped 20 and 40 s after 101), the reboot that
resets the register (3, 61, 117, 172 live, the first stamped 60 s after 101), then the queue and
the new life's next readings (195, 210)."""

from __future__ import annotations

import pytest
from ocpp.v16 import call

from custom_components.ocpp_ems.core.meter_time import max_energy_wh, max_power_w
from custom_components.ocpp_ems.core.settings import ServerSettings

from .fakes import MemoryDirectory
from .test_energy_quirks import harness_with, restarted
from .test_meter_clock_first_reading import HOUR_S, READING_EVERY_S, session
from .test_meter_reset_old_queue import (
    COUNTED_WH,
    NEW_LIFE_WH,
    NEXT_WH,
    OLD_LIFE_WH,
    QUEUED_WH,
    TRUTH_WH,
    Send,
    assert_counted,
    live,
    reset_keeping_a_queue,
    send_queue,
    sender16,
)
from .test_time_hostile import OurClock, our_clock
from .v16_harness import CHARGER_ID, Harness, now_iso

# What the new life counts of its next readings.
NEXT_RISE_WH = NEXT_WH[-1] - NEW_LIFE_WH[-1]
# The life before's rise could only happen between its end (101 Wh) and the reset (the new life's
# first reading): 60 s by the charger's own clock (the queue's two readings and the reboot).
LIFE_BEFORE_SPAN_S = (len(QUEUED_WH) + 1) * READING_EVERY_S
HOSTILE_WH = 50_000  # a queued register far above (a glitch, or a hostile charger)


async def hostile_queue_after_an_hour(send: Send, clock: OurClock) -> None:
    """The reset, the new life idle for an hour (no rise to count), then the old queue with its
    last register far above (held: not proven yet)."""
    queue = await reset_keeping_a_queue(send, clock)
    clock.tick(HOUR_S - READING_EVERY_S)
    await live(send, clock, (NEW_LIFE_WH[-1],))
    await send_queue(send, [queue[0], (queue[-1][0], HOSTILE_WH)])


def assert_life_before_bounded(h: Harness) -> None:
    """No more than the charger's maximum power over the life before's 60 s counted for it."""
    bound_wh = max_energy_wh(max_power_w(h.directory.settings(CHARGER_ID)), LIFE_BEFORE_SPAN_S)
    counted_for_life_before = h.charger.lifetime_energy.total_wh - COUNTED_WH - NEXT_RISE_WH
    assert counted_for_life_before <= bound_wh
    assert h.charger.connector(1).session_energy_wh <= COUNTED_WH + NEXT_RISE_WH + bound_wh


async def test_a_held_reading_far_above_counts_no_more_than_the_life_before_could_charge(
    h_cp1: Harness,
) -> None:
    """The new life runs an hour, then the old queue comes with a register far above: the life
    before had 60 s (by the charger's stamps, before the reset) to charge after its end, so no
    more than max power x 60 s may count for it. Was (b146871): 31,622 Wh (max power x the hour
    and a minute since we got 101 Wh); at 432c52b 0 Wh. Fixed: the charger's 40 s from the end
    to the held reading (meter._life_before_allowance)."""
    sim, tx = await session(h_cp1, meter_wh=0)
    send = sender16(sim, tx)
    with our_clock() as clock:
        await hostile_queue_after_an_hour(send, clock)
        await live(send, clock, NEXT_WH)
    assert_life_before_bounded(h_cp1)


async def test_a_held_reading_far_above_after_a_restart_is_bounded_by_its_stamps(
    h_cp1: Harness, directory: MemoryDirectory, server_settings: ServerSettings
) -> None:
    """Pinned (correct): the same, Home Assistant restarting between the queue and the new
    life's next readings: the stored points keep no time of receipt, so the bound is the
    charger's 40 s from the end to the held reading (the bound the test above asks for)."""
    sim, tx = await session(h_cp1, meter_wh=0)
    with our_clock() as clock:
        await hostile_queue_after_an_hour(sender16(sim, tx), clock)
        async with harness_with(restarted(h_cp1.charger), directory, server_settings, Harness) as h:
            await live(sender16(await h.charger_client(boot=False), tx), clock, NEXT_WH)
            assert_life_before_bounded(h)


async def test_a_plausible_queue_after_an_hour_counts_its_rise(h_cp1: Harness) -> None:
    """Pinned (correct): the same hour, the queue's real 213 Wh (112 Wh in 40 s): counted whole;
    the bound above must not lose it."""
    sim, tx = await session(h_cp1, meter_wh=0)
    send = sender16(sim, tx)
    with our_clock() as clock:
        queue = await reset_keeping_a_queue(send, clock)
        clock.tick(HOUR_S - READING_EVERY_S)
        await live(send, clock, (NEW_LIFE_WH[-1],))
        await send_queue(send, queue)
        await live(send, clock, NEXT_WH)
    truth_wh = COUNTED_WH + QUEUED_WH[-1] - OLD_LIFE_WH[-1] + NEXT_RISE_WH
    assert h_cp1.charger.lifetime_energy.total_wh == pytest.approx(truth_wh)
    assert h_cp1.charger.connector(1).session_energy_wh == pytest.approx(truth_wh)


async def test_a_queue_sent_three_times_across_a_restart_counts_once(
    h_cp1: Harness, directory: MemoryDirectory, server_settings: ServerSettings
) -> None:
    """Pinned (correct): the queue, the new life's first next reading (it proves the queue: 112
    Wh counted), Home Assistant restarts, the charger sends the same queue twice more, then its
    last reading: the stored end moved up to the queue's 213 Wh, so the copies count nothing
    (counted again, each would add 112 Wh)."""
    sim, tx = await session(h_cp1, meter_wh=0)
    with our_clock() as clock:
        queue = await reset_keeping_a_queue(sender16(sim, tx), clock)
        await send_queue(sender16(sim, tx), queue)
        await live(sender16(sim, tx), clock, NEXT_WH[:1])
        async with harness_with(restarted(h_cp1.charger), directory, server_settings, Harness) as h:
            send = sender16(await h.charger_client(boot=False), tx)
            for _ in range(2):
                await send_queue(send, queue)
            await live(send, clock, NEXT_WH[1:])
            assert_counted(h, TRUTH_WH)


async def test_a_register_from_0_each_session_with_the_stop_before_its_queue(
    h_cp1: Harness,
) -> None:
    """Pinned (correct): a 1.6 charger whose register counts each session from 0 goes offline in
    tx1 (100, 200 Wh live; 300, 400 queued; stopped at 450). Back online it sends the Stop first,
    then starts tx2 from 0 (the reset, confirmed by 50 Wh), then flushes tx1's MeterValues queue:
    they lie above tx2's register, stamped before the reset, but not after the life before's end
    (the Stop): nothing held, nothing counted twice. Truth: 450 + 200 Wh."""
    sim, tx1 = await session(h_cp1, meter_wh=0)
    with our_clock() as clock:
        await live(sender16(sim, tx1), clock, (100, 200))
        queue = [(now_iso(20), 300), (now_iso(40), 400)]
        stopped_at = now_iso(50)
        clock.tick(3 * READING_EVERY_S)
        await sim.call(
            call.StopTransaction(
                meter_stop=450, timestamp=stopped_at, transaction_id=tx1, reason="EVDisconnected"
            )
        )
        clock.tick(READING_EVERY_S)
        tx2 = (await sim.start_tx(meter=0, timestamp=now_iso())).transaction_id
        await live(sender16(sim, tx2), clock, (50, 100))
        await send_queue(sender16(sim, tx1), queue)
        await live(sender16(sim, tx2), clock, (150, 200))
    meter = h_cp1.charger.connector(1).meter
    assert meter._life_before_end is not None  # tx2's start was a reset
    assert meter._life_before_end.register_wh == 450
    assert meter._life_before_held is None
    assert h_cp1.charger.connector(1).session_energy_wh == pytest.approx(200)
    ended = h_cp1.charger.find_ended_transaction(str(tx1))
    assert ended is not None
    assert ended.energy_wh == pytest.approx(450)
    assert h_cp1.charger.lifetime_energy.total_wh == pytest.approx(650)
