"""Red team (4) of the live values shown (meter._before_shown, 85f85e6) and a charger's offline
queue flushed after its live readings (59dcdda: "an offline queue flushed after a live reading no
longer replaces the power/current/voltage shown").

A 1.6 charger that samples power, current and voltage (its register comes with the start and
stop) loses its connection for five minutes while the car draws 22 kW; reconnected, it sends two
live readings (11 kW: the manager's new limit arrived) before its queue of the five minutes. By the
charger's own clock (right, as ours) the queue lies before the two values shown, and 85f85e6
takes a reading stamped before both the values shown and those shown before them for live (a clock
that went back): the first queued reading is shown, each next one is after it, and the queue's
last reading (22 kW, minutes old) stays shown until the next live one. The energy manager
regulates by it. With ONE live reading first the queue is history (between the two shown). Fixed:
stamped before both, a reading is live only on the clock offset its live readings confirmed
(meter_time.on_live_clock); each queued one lies off it by its age.
"""

from __future__ import annotations

import pytest

from .test_meter_history_shown import LIVE, QUEUED, assert_shown, flow
from .test_time_hostile import START_WH, our_clock
from .v16_harness import Harness, now_iso

OFFLINE_S = 300
QUEUE_EVERY_S = 30


@pytest.fixture
def h(h_cp1: Harness) -> Harness:
    return h_cp1


async def _live_then_queue(h: Harness, live_readings: int, apart_s: float = 0.0) -> None:
    """``live_readings`` live readings, then the queue flushed right after the last: 10 s apart by
    their stamps, sent at once (``apart_s`` 0: one burst), or each sent as taken ``apart_s`` apart."""
    sim = await h.charger_client(boot=False)
    tx = (await sim.start_tx(meter=START_WH, timestamp=now_iso(-OFFLINE_S - 600))).transaction_id
    await sim.meter(1, flow(QUEUED), transaction_id=tx, timestamp=now_iso(-OFFLINE_S - 30))
    await sim.meter(1, flow(QUEUED), transaction_id=tx, timestamp=now_iso(-OFFLINE_S))
    sim = await h.charger_client(boot=False)  # reconnected
    with our_clock() as clock:
        for n in range(live_readings):
            clock.tick(apart_s)
            stamp = now_iso(0 if apart_s else -10 * (live_readings - 1 - n))
            await sim.meter(1, flow(LIVE), transaction_id=tx, timestamp=stamp)
        for age_s in range(OFFLINE_S - QUEUE_EVERY_S, 0, -QUEUE_EVERY_S):
            await sim.meter(1, flow(QUEUED), transaction_id=tx, timestamp=now_iso(-age_s - 20))


async def test_a_queue_after_one_live_reading_leaves_it_shown(h: Harness) -> None:
    """Passes (pinned): the 59dcdda case."""
    await _live_then_queue(h, live_readings=1)
    assert_shown(h, LIVE)


async def test_a_queue_after_two_live_readings_leaves_them_shown(h: Harness) -> None:
    await _live_then_queue(h, live_readings=2)
    assert_shown(h, LIVE)


async def test_a_queue_right_after_two_live_bursts_leaves_them_shown(h: Harness) -> None:
    """The live readings 20 s apart confirm the clock's offset (the queue, flushed in the second
    one's burst, shares it: timeutil.LiveClockOffset); each queued reading's own offset is off it."""
    await _live_then_queue(h, live_readings=2, apart_s=20)
    assert_shown(h, LIVE)
