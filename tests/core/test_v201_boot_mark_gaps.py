"""What a 2.x station's messages around a reboot cannot tell (strict xfails: each passes the day
the evidence exists).

- **A per-EVSE station not yet shown, its queue kept through the reboot.** "1" runs on EVSE 1,
  the station reboots and keeps it, sends its queue of "1" (flagged offline), then EVSE 2 starts
  its own "1". A spec station that lost "1" and kept its queue sends the very same messages
  (test_v201_resent_queue_after_boot): the queue was written before the boot either way, its
  seqNos continue the transaction's either way (a queue is what the station wrote after the
  last message we got), EVSE 2's Started is a new session on its own meter either way. Only a
  message of EVSE 1's "1" written after the boot tells (test_v201_boot_mark_written_after_boot),
  or one after EVSE 2's Started (too late: "1" ended as Reboot, and ended ones never come back).
- **A seqNo continuing the transaction's is no stamp-free sign of a message written after the
  boot**: the queue written before it continues them too (above, seqNo 2 after 1). Written after
  the boot by a clock that restarted behind, it is the same message as one queued before.
- **A spec station's old Updated of EVSE 1's ended "1", sent after EVSE 2's Started of "1"**
  (naming no EVSE): it goes to EVSE 2's open "1" and gives it its seqNo. On a station that keeps
  ids unique the open one's own messages after the boot repeat the ended one's seqNos, may be
  stamped inside its span (a clock restarted at an old date, or stepped back) and show the
  household's one card (``transactions._repeated_elsewhere``); a seqNo the ended one is missing
  is one the open one may send next; EVSE 2's register is no comparison with EVSE 1's meter.
"""

from __future__ import annotations

import pytest

from custom_components.ocpp_ems.core.model import EventSequence

from .test_v201_reused_id_clock_back import EVSE, _ago
from .v201_harness import V201Harness as Harness
from .v201_reuse import (
    EVSE_1_BEGIN_WH,
    EVSE_2,
    EVSE_2_BEGIN_WH,
    EVSE_SESSION_WH,
    cable_started,
    periodic_updated,
    send,
)

SENT_WH = EVSE_1_BEGIN_WH + EVSE_SESSION_WH
# A clock restarted at an old date (its build date) after the reboot.
BUILD_DATE = "2025-06-01T00:00:00+00:00"


@pytest.fixture
def h(h2: Harness) -> Harness:
    return h2


@pytest.mark.xfail(
    strict=True,
    reason="a queue kept through a reboot is the same whether the station kept its transaction "
    "or lost it: a per-EVSE station not yet shown has its kept session ended as Reboot",
)
@pytest.mark.parametrize(
    "stamp", [_ago(40), BUILD_DATE], ids=["queued_before_the_boot", "written_after_clock_behind"]
)
async def test_a_per_evse_stations_kept_session_survives_its_queue(h: Harness, stamp: str) -> None:
    sim = await h.charger_client(boot=True)
    await send(sim, cable_started(EVSE_1_BEGIN_WH, _ago(60), evse=EVSE))
    await send(sim, periodic_updated(1, SENT_WH, _ago(50)))
    kept = h.charger.connectors[1].transaction
    await sim.boot(reason="PowerUp")
    await send(sim, periodic_updated(2, SENT_WH + EVSE_SESSION_WH, stamp, offline=True))
    await send(sim, cable_started(EVSE_2_BEGIN_WH, _ago(0), evse=EVSE_2))
    assert h.charger.connectors[1].transaction is kept


@pytest.mark.xfail(
    strict=True,
    reason="on a station that keeps ids unique, EVSE 1's late Updated naming no EVSE looks like "
    "EVSE 2's own after the reboot (seqNos counted again, stamps of a clock restarted, one card)",
)
async def test_evse_1s_late_updated_leaves_evse_2s_session_alone(h: Harness) -> None:
    sim = await h.charger_client(boot=True)
    await send(sim, cable_started(EVSE_1_BEGIN_WH, _ago(100), evse=EVSE))
    # seqNo 1 was queued and not sent before the Ended.
    late = periodic_updated(1, EVSE_1_BEGIN_WH + 250, _ago(90), charging_state="SuspendedEV")
    del late["evse"]
    ended = periodic_updated(2, SENT_WH, _ago(80), evse=EVSE, stopped_reason="Local")
    await send(sim, ended)
    await sim.boot(reason="PowerUp")
    await send(sim, cable_started(EVSE_2_BEGIN_WH, _ago(5), evse=EVSE_2, charging_state="Charging"))
    running = h.charger.connectors[2].transaction
    assert running is not None
    await send(sim, late | {"offline": True})
    assert running.sequence == EventSequence(seen=[(0, 0)], latest=0, latest_at=running.started_at)
