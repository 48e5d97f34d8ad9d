"""Red team (7) of meter._of_life_before (b784341) on an ordinary 1.6 charger whose register
counts each session from 0 (a reset at every session start) and that keeps local time: summer
time ends half an hour into a session (its clock goes back an hour). Its next reading lies
above the base, stamped before it and before the reset: it waits for the live clock (correct:
an old queue is stamped alike). The car leaves right after: StopTransaction's meterStop (applied
as a register, not as a reading) still counts the whole session. Pinned (passing)."""

from __future__ import annotations

import pytest
from ocpp.v16 import call

from .test_meter_clock_first_reading import HOUR_S, wh
from .test_time_hostile import our_clock
from .v16_harness import Harness, now_iso

READING_EVERY_S = 20.0
FIRST_LIFE_WH = (20_000, 20_300)
SESSION_WH = (0, 100, 200)  # from 0: the reset, confirmed by its first reading
AFTER_STEP_WH, STOP_WH = 260, 300


async def test_a_stop_right_after_the_clock_went_back_counts_the_whole_session(
    h_cp1: Harness,
) -> None:
    sim = await h_cp1.charger_client(boot=False)
    with our_clock() as clock:
        first = (await sim.start_tx(meter=FIRST_LIFE_WH[0], timestamp=now_iso())).transaction_id
        clock.tick(READING_EVERY_S)
        stop = call.StopTransaction(
            meter_stop=FIRST_LIFE_WH[1], timestamp=now_iso(), transaction_id=first
        )
        await sim.call(stop)
        clock.tick(READING_EVERY_S)
        tx = (await sim.start_tx(meter=SESSION_WH[0], timestamp=now_iso())).transaction_id
        for register in SESSION_WH[1:]:
            clock.tick(READING_EVERY_S)
            await sim.meter(1, [wh(register)], tx, now_iso())
        assert h_cp1.charger.connector(1).meter._register_reset_stamp is not None
        clock.tick(READING_EVERY_S)
        await sim.meter(1, [wh(AFTER_STEP_WH)], tx, now_iso(-HOUR_S))
        transaction = h_cp1.charger.connector(1).transaction
        assert transaction is not None
        assert transaction.energy_wh == pytest.approx(SESSION_WH[-1])  # waits for the clock
        clock.tick(READING_EVERY_S)
        stop = call.StopTransaction(
            meter_stop=STOP_WH, timestamp=now_iso(-HOUR_S), transaction_id=tx
        )
        await sim.call(stop)
    assert transaction.ended_at is not None
    assert transaction.energy_wh == pytest.approx(STOP_WH)
    assert h_cp1.charger.lifetime_energy.total_wh == pytest.approx(FIRST_LIFE_WH[1] + STOP_WH)
