"""A session's end that repeats the reading held as maybe the register's life before
(meter._hold_life_before): its register and the charger's stamp equal the held one's (the charger
sends its end late after the reset with the old life's values). That is the held reading sent
again, not the present life's end (meter._is_held): no rise of the present life, and it neither
proves nor forgets the hold; the next session's first reading (195 Wh, below it) proves it for the
lifetime once (420 Wh, the truth).

The charger of test_redteam9c_end_settles_hold: a session from 0 Wh (53, 101 live), the reset
(3 .. 172), the new life's 195 Wh, the old queue (151, 213) held; then the end; then the next
session from 195 Wh to 210 Wh."""

from __future__ import annotations

import pytest

from .test_meter_clock_first_reading import READING_EVERY_S
from .test_meter_history_shown import NEXT
from .test_meter_life_before_at_end import ABOVE_HELD_WH, SENT_LIVE, t2_from_the_end
from .test_meter_reset_old_queue import (
    COUNTED_WH,
    LIVE_SEQ_NOS,
    NEW_LIFE_WH,
    NEXT_WH,
    QUEUED_RISE_WH,
    QUEUED_WH,
    TRUTH_WH,
    meter_value,
    reset_keeping_a_queue,
    send_queue,
    session2,
)
from .test_redteam9c_end_settles_hold import (
    BEFORE_END_WH,
    END_WH,
    PROVEN_AFTER_WH,
    stopped_then_next,
)
from .test_time_hostile import our_clock
from .v16_harness import Harness, now_iso

HELD_WH = QUEUED_WH[-1]
HELD = len(QUEUED_WH) - 1  # the held reading's place in the queue


@pytest.mark.parametrize("flagged", [False, True], ids=["live", "offline"])
async def test_an_ended_whose_end_reading_repeats_the_held_one_proves_nothing(
    h2: Harness, flagged: bool
) -> None:
    """2.0.1: T1's Ended (stamped now; sent live, or flagged offline) carries the held reading
    (213 Wh, stamped as queued) as its end reading: T1 ends with what it counted (293 Wh), the
    hold kept; T2's first reading (195 Wh, below it) proves it for the lifetime (420 Wh) and T1
    (405 Wh), never for T2 (15 Wh). Was (live): T1 311 Wh, the hold forgotten, T2's 195 Wh a
    reset: 326 Wh. Was (meter8): T1 kept 293 Wh after the proof."""
    with our_clock() as clock:
        send = await session2(h2, flagged=True)
        queue = await reset_keeping_a_queue(send, clock)
        clock.tick(READING_EVERY_S)
        await send(END_WH, NEXT, now_iso())
        await send_queue(send, queue)
        station = await h2.charger_client(boot=False)
        clock.tick(READING_EVERY_S)
        await station.tx_event(
            "Ended",
            "T1",
            seq_no=LIVE_SEQ_NOS[SENT_LIVE],
            offline=flagged or None,
            trigger_reason="EVCommunicationLost",
            stopped_reason="EVDisconnected",
            meter_value=meter_value(HELD_WH, 0.0, queue[HELD][0]),
            timestamp=now_iso(),
        )
        assert h2.charger.lifetime_energy.total_wh == pytest.approx(BEFORE_END_WH)
        await t2_from_the_end(station, clock)
    ended = h2.charger.find_ended_transaction("T1")
    assert ended is not None
    assert ended.energy_wh == pytest.approx(PROVEN_AFTER_WH)
    assert h2.charger.lifetime_energy.total_wh == pytest.approx(TRUTH_WH)
    assert h2.charger.connector(1).session_energy_wh == pytest.approx(NEXT_WH[1] - END_WH)


async def test_a_stop_at_the_held_register_stamped_now_is_the_present_lifes_end(
    h_cp1: Harness,
) -> None:
    """Decided: meterStop 213 Wh stamped now (after the last reading, 195 Wh) is the present
    life's end: a register the present life can reach in its 20 s, on its clock. The hold, at its
    end, may be its own reading: forgotten, never counted twice (the held rise stays uncounted, as
    for an end above it); T2's 195 Wh, below the end, is a reset of the present life."""
    session_wh = COUNTED_WH + HELD_WH - NEW_LIFE_WH[-1]
    assert await stopped_then_next(h_cp1, HELD_WH, old_stamp=None) == (
        pytest.approx(session_wh),
        pytest.approx(session_wh),
        pytest.approx(session_wh + NEXT_WH[1] - END_WH),
    )


# Stops stamped as the held reading was queued, at another register: between the last reading
# and the held one (204 Wh), above the held one (230 Wh). The session's figures, the lifetime
# after the stop, the lifetime after the next session (195 -> 210 Wh).
BETWEEN_WH = (END_WH + HELD_WH) // 2
PROVED_WH = COUNTED_WH + QUEUED_RISE_WH + BETWEEN_WH - NEW_LIFE_WH[-1]
ABOVE_WH = COUNTED_WH + ABOVE_HELD_WH - NEW_LIFE_WH[-1]
STOPS_STAMPED_AS_HELD = [
    (BETWEEN_WH, (PROVED_WH, PROVED_WH, TRUTH_WH)),
    (ABOVE_HELD_WH, (ABOVE_WH, ABOVE_WH, ABOVE_WH + NEXT_WH[1] - END_WH)),
]


@pytest.mark.parametrize(("stop_wh", "figures"), STOPS_STAMPED_AS_HELD)
async def test_a_stop_stamped_as_the_held_reading_at_another_register_is_the_present_lifes(
    h_cp1: Harness, stop_wh: int, figures: tuple[float, float, float]
) -> None:
    """Decided (pinned): a stop with the held reading's stamp but another register is not that
    reading: its value is the present life's end by a register value's rules, as a stop stamped
    before the reset by a clock that went back since is (held as the life before's, the session
    of test_redteam7_v16_reset_then_clock_back_stop lost 100 Wh of 300). 204 Wh, below the held one,
    proves it (the session 414 Wh: its 9 Wh of rise included; lifetime 420 Wh); 230 Wh, above it,
    forgets it as maybe the session's own (328 Wh), the next session's 195 Wh is a reset: the
    lifetime misses the held 112 Wh less the 35 Wh it counted (343 Wh for 420)."""
    assert await stopped_then_next(h_cp1, stop_wh, old_stamp=HELD) == tuple(
        pytest.approx(figure) for figure in figures
    )
