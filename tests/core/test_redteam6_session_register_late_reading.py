"""Red team 6: a 1.6 charger whose register counts each session from 0 (meterStart 0; a reset
handled by the new session's start, never confirmed as a jump). Session B's first live reading
(300 Wh, 7.3 kW) is shown; then a MeterValues of session A, queued while it ran (9,500 Wh,
22 kW, stamped during A), arrives late. Its register lies a step above the one read with the
values shown, but it is stamped before them and belongs to the ended session: 33a4c69's
``meter._register_proves_after`` must not take it for a live reading taken after them (no
``_register_reset_stamp`` is kept for a reset at a session's start). Pin: correct."""

from __future__ import annotations

import pytest
from ocpp.v16 import call

from .test_meter_history_shown import NEXT, QUEUED, assert_shown, flow
from .test_time_hostile import energy, our_clock
from .v16_harness import Harness, now_iso


@pytest.fixture
def h(h_cp1: Harness) -> Harness:
    return h_cp1


async def test_a_late_reading_of_the_session_before_leaves_the_live_values_shown(
    h: Harness,
) -> None:
    sim = await h.charger_client(boot=False)
    with our_clock() as clock:
        first = (await sim.start_tx(meter=0, timestamp=now_iso(-3600))).transaction_id
        await sim.meter(1, [*energy(9_000), *flow(QUEUED)], first, timestamp=now_iso(-1800))
        queued_at = now_iso(-1200)
        await sim.call(
            call.StopTransaction(meter_stop=10_000, timestamp=now_iso(-600), transaction_id=first)
        )
        clock.tick(5)
        second = (await sim.start_tx(meter=0, timestamp=now_iso(-60))).transaction_id
        clock.tick(5)
        await sim.meter(1, [*energy(300), *flow(NEXT)], second, timestamp=now_iso())
        assert_shown(h, NEXT)
        clock.tick(1)
        await sim.meter(1, [*energy(9_500), *flow(QUEUED)], first, timestamp=queued_at)
    assert_shown(h, NEXT)
    running = h.charger.connector(1).transaction
    assert running is not None
    assert (running.transaction_id, running.energy_wh) == (str(second), 300)
