"""Red team 6: a 1.6 charger reading every second (no clock step anywhere) whose offline queue is
flushed after a reconnect at the pace of a slow link: each queued message sent when the one
before was answered, 0.7 s or 0.9 s a round trip (a charger on LTE). The live values (the power
the energy manager regulates by) must stay shown throughout.

fa507c2 confirms a clock's live offset over 10 s stretches of a charger that never pauses 2 s
(``timeutil.LiveClockOffset``, ``CLOCK_STREAM_SPAN_S``): a queue flushed less than 1.5 times as
fast as it was taken keeps its offset (its age) within the tolerance over a stretch, is confirmed
as the charger's live clock, and its readings are shown as live (``meter._on_live_clock``). At
71164f6 such a flush was one burst (no pause of 2 s) and never confirmed: a regression. Fixed:
the stretches are 30 s apart and their offsets must agree within 1 s (a live stream's stamps
move with our clock; this queue's drift 3.3-13 s over the span)."""

from __future__ import annotations

import pytest

from .test_meter_clock_every_second import OUTAGE_S, QUEUED_UNTIL_S, every_second
from .test_meter_history_shown import NEXT, QUEUED, assert_shown, flow
from .test_time_hostile import START_WH, our_clock
from .v16_harness import Harness, now_iso


@pytest.fixture
def h(h_cp1: Harness) -> Harness:
    return h_cp1


@pytest.mark.parametrize("flushed_every_s", [0.7, 0.9], ids=["lte-0.7s", "lte-0.9s"])
async def test_a_queue_flushed_over_a_slow_link_is_never_shown(
    h: Harness, flushed_every_s: float
) -> None:
    sim = await h.charger_client(boot=False)
    tx = (await sim.start_tx(meter=START_WH, timestamp=now_iso(-600))).transaction_id
    with our_clock() as clock:
        await every_second(sim, clock, tx, NEXT, seconds=20)
        clock.tick(OUTAGE_S)
        queued = [now_iso(-age_s) for age_s in range(OUTAGE_S, QUEUED_UNTIL_S, -1)]
        sim = await h.charger_client(boot=False)  # reconnected
        await every_second(sim, clock, tx, NEXT, seconds=2)
        for stamp in queued:
            clock.tick(flushed_every_s)
            await sim.meter(1, flow(QUEUED), transaction_id=tx, timestamp=stamp)
            assert_shown(h, NEXT)
    assert h.charger.clock_skew_s is None
