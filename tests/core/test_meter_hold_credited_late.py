"""A reading held as maybe the register's life before (meter_life_before.hold_life_before) that
is settled after its session ended, or dropped by a second reset (meter8).

- Proven after its session ended (the next session's first reading below it): the held rise is
  the ended session's (its record grows, SESSION_UPDATED fires once, as for late readings:
  record_watch.RecordWatcher.watching_records) and the lifetime's, once each.
- The register resets again before a present-life reading settles it: what the held reading
  proves either way (the first life's rise past its end, or the second's past its own) counts,
  the smaller of the two (meter_life_before.credit_dropped_hold), once.

The charger of test_meter_reset_old_queue: a session from 0 Wh (53, 101 live), the reset
(3 .. 172), the new life's 195 Wh, the old queue (151, 213): 213 Wh held."""

from __future__ import annotations

import pytest
from ocpp.v16 import call

from custom_components.ocpp_ems.core.model import EventKind

from .test_meter_clock_first_reading import READING_EVERY_S, session, wh
from .test_meter_history_shown import NEXT, flow
from .test_meter_life_before_at_end import AT_END_WH, END_WH
from .test_meter_reset_old_queue import (
    COUNTED_WH,
    NEW_LIFE_WH,
    QUEUED_WH,
    reset_keeping_a_queue,
    send_queue,
    sender16,
)
from .test_redteam9c_end_settles_hold import held_after_the_reset
from .test_time_hostile import OurClock, our_clock
from .v16_harness import Harness, SimCharger, now_iso

HELD_WH = QUEUED_WH[-1]
# The session's energy up to 195 Wh, the held rise not counted (293 Wh).
BEFORE_HOLD_WH = COUNTED_WH + END_WH - NEW_LIFE_WH[-1]
# Real either way: the held 213 Wh as the second life's, past its 195 Wh (18 Wh).
EITHER_WAY_WH = HELD_WH - END_WH
# The third life after the second reset (confirmed by its second value).
THIRD_LIFE_WH = (3, 61, 100)


def updated_records(h: Harness) -> list[float]:
    return [e.data["energy_wh"] for e in h.events if e.kind is EventKind.SESSION_UPDATED]


async def stopped_then_held(h: Harness, clock: OurClock) -> tuple[SimCharger, int]:
    """1.6: the session stops at 195 Wh, then its old queue comes (held for it, ended)."""
    sim, tx = await session(h, meter_wh=0)
    send = sender16(sim, tx)
    queue = await reset_keeping_a_queue(send, clock)
    clock.tick(READING_EVERY_S)
    stop = call.StopTransaction(
        meter_stop=END_WH, timestamp=now_iso(), transaction_id=tx, reason="EVDisconnected"
    )
    await sim.call(stop)
    await send_queue(send, queue)
    assert h.charger.connector(1).meter._life_before_held is not None
    return sim, tx


async def test_v16_a_hold_proven_by_the_next_start_updates_the_ended_sessions_record(
    h_cp1: Harness,
) -> None:
    """The next session starts at 195 Wh, below the held 213 Wh: the ended session's record
    grows by the held rise (405 Wh), told once by SESSION_UPDATED; its connector's last session
    shows it; the lifetime counts it once."""
    with our_clock() as clock:
        sim, tx = await stopped_then_held(h_cp1, clock)
        clock.tick(READING_EVERY_S)
        await sim.start_tx(meter=END_WH, timestamp=now_iso())
    ended = h_cp1.charger.find_ended_transaction(str(tx))
    assert ended is not None
    assert (ended.energy_wh, updated_records(h_cp1)) == (
        pytest.approx(AT_END_WH),
        [pytest.approx(AT_END_WH)],
    )
    assert h_cp1.charger.connector(1).last_session_energy_wh == pytest.approx(AT_END_WH)
    assert h_cp1.charger.lifetime_energy.total_wh == pytest.approx(AT_END_WH)


async def test_a_second_reset_right_after_the_hold_counts_the_either_way_rise_once(
    h_cp1: Harness,
) -> None:
    """The register resets again right after the queue (3, 61, 100 Wh): the held 213 Wh is the
    first life's 112 Wh or the second's 18 Wh past 195 Wh: 18 Wh count, for the session (whose
    the second life's end was too) and the lifetime alike; the queue sent again adds nothing."""
    with our_clock() as clock:
        sim, tx = await session(h_cp1, meter_wh=0)
        queue = await held_after_the_reset(sim, tx, clock)
        for register in THIRD_LIFE_WH:
            clock.tick(READING_EVERY_S)
            await sim.meter(1, [wh(register), *flow(NEXT)], tx, now_iso())
        await send_queue(sender16(sim, tx), queue)
    expected = BEFORE_HOLD_WH + EITHER_WAY_WH + THIRD_LIFE_WH[-1] - THIRD_LIFE_WH[0]
    assert h_cp1.charger.lifetime_energy.total_wh == pytest.approx(expected)
    assert h_cp1.charger.connector(1).session_energy_wh == pytest.approx(expected)


async def test_a_second_reset_at_the_next_start_counts_the_either_way_rise_for_the_lifetime(
    h_cp1: Harness,
) -> None:
    """The hold is the ended session's; the next session starts at 3 Wh (the register reset
    again), confirmed by 61 Wh: the held reading's either-way 18 Wh count for the lifetime only
    (as the second life's, after the stop, no session's), the ended record unchanged (no
    SESSION_UPDATED); the new session gets its own 58 Wh."""
    with our_clock() as clock:
        sim, tx = await stopped_then_held(h_cp1, clock)
        clock.tick(READING_EVERY_S)
        start = await sim.start_tx(meter=THIRD_LIFE_WH[0], timestamp=now_iso())
        clock.tick(READING_EVERY_S)
        await sim.meter(1, [wh(THIRD_LIFE_WH[1]), *flow(NEXT)], start.transaction_id, now_iso())
    third_rise_wh = THIRD_LIFE_WH[1] - THIRD_LIFE_WH[0]
    lifetime = h_cp1.charger.lifetime_energy.total_wh
    assert lifetime == pytest.approx(BEFORE_HOLD_WH + EITHER_WAY_WH + third_rise_wh)
    assert h_cp1.charger.connector(1).session_energy_wh == pytest.approx(third_rise_wh)
    ended = h_cp1.charger.find_ended_transaction(str(tx))
    assert ended is not None
    assert (ended.energy_wh, updated_records(h_cp1)) == (pytest.approx(BEFORE_HOLD_WH), [])
