"""Red team (3) of a 2.x transaction lost in a reboot (tx_boot_mark.lost_in_reboot): a station
whose Started carries no meter value (TxStartedMeasurands empty: meterValue is optional in a
TransactionEvent, and many stations send the register only in Updated / Ended).

The station has a real-time clock (it keeps the time through the reboot). The open session "1"
(Started without a register, an Updated at 1,500 Wh) loses its Ended in a reboot; after the
BootNotification the station starts its next session "1" again (seqNo 0), stamped now, after
everything the open session ever sent: a Started sent again carries its original time, so this
one is no re-send whatever its register. Without a register _after_reboot never tells, and the
new session is merged into the open one (one session of 1,500 Wh instead of 500 + 1,000 Wh, one
SESSION_STARTED, the new car's charge billed to the old session's start).
"""

from __future__ import annotations

from typing import Any

import pytest

from .test_v201_reused_id_clock_back import REUSED_ID, _ago
from .v201_harness import V201Harness as Harness
from .v201_reuse import TAG1, Station, ended_sessions, periodic_updated, send, tx_frame

OPEN_BEGIN_WH = 1000.0
OPEN_LAST_WH = 1500.0
NEW_END_WH = 2500.0


@pytest.fixture
def h(h2: Harness) -> Harness:
    return h2


def _started_without_register(minutes_ago: float, seq_no: int = 0) -> dict[str, Any]:
    return tx_frame("Started", seq_no, _ago(minutes_ago), id_token=TAG1, charging_state="Charging")


async def _updated(sim: Station, seq_no: int, wh: float, minutes_ago: float, **more: Any) -> None:
    await send(sim, periodic_updated(seq_no, wh, _ago(minutes_ago), **more))


async def test_a_new_started_without_register_stamped_after_the_open_session_is_new(
    h: Harness,
) -> None:
    sim = await h.charger_client(boot=True)
    await send(sim, _started_without_register(60))
    await _updated(sim, 1, OPEN_BEGIN_WH, 59)
    await _updated(sim, 2, OPEN_LAST_WH, 45)
    open_session = h.charger.connectors[1].transaction
    assert open_session is not None
    await sim.boot(reason="PowerUp")
    await send(sim, _started_without_register(30))  # the clock kept the time: after the open one
    await _updated(sim, 1, OPEN_LAST_WH + 500, 15)
    await _updated(sim, 2, NEW_END_WH, 1, stopped_reason="EVDisconnected")
    assert ended_sessions(h) == [(REUSED_ID, OPEN_LAST_WH - OPEN_BEGIN_WH), (REUSED_ID, 1000.0)]
    assert h.kinds().count("session_started") == 2


@pytest.mark.parametrize(
    ("updates", "seq_no"),
    [(0, 0), (2, 3)],
    ids=["numbered_as_its_newest", "numbered_on"],
)
async def test_a_started_stamped_later_that_does_not_count_again_is_the_open_sessions(
    h: Harness, updates: int, seq_no: int
) -> None:
    """A Started without a register stamped after all the open session sent, numbered as its
    newest message (the only message a station that stamps what it sends again anew would send
    again: its unanswered one) or above it (no count from the start again): the open session's
    own, no session ends or starts."""
    sim = await h.charger_client(boot=True)
    await send(sim, _started_without_register(60))
    for update in range(1, updates + 1):
        await _updated(sim, update, OPEN_BEGIN_WH + 100 * update, 60 - update)
    open_session = h.charger.connectors[1].transaction
    await send(sim, _started_without_register(30, seq_no))
    assert h.charger.connectors[1].transaction is open_session
    assert h.kinds().count("session_started") == 1
    assert ended_sessions(h) == []
