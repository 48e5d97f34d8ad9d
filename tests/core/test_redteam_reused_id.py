"""Red team of the reused transaction id after a 2.x station's clock went back
(test_v201_reused_id_clock_back.py): a new session whose messages look like the old one's repeats.

The old session "1" ran from 120 to 90 minutes ago (1,000 -> 2,000 Wh). The station reboots with
its clock 40 minutes behind: its new session "1" (seqNo 0 again) is stamped 130 minutes ago, before
the old one began, at the old one's last register. The car draws nothing (full, or a departure
timer) and is unplugged: the new session's Ended has seqNo 1 (one the old session had), a time
inside the old session's span and a register not above its last one. It is no repeat of the old
session's Ended (a message sent again carries its original time: the old session's end): it ends
the new session, which would otherwise stay open with no car at the charger. And the old
session's MeterValues, kept in the station's queue through the reboot and sent again, count
nothing twice.
"""

from __future__ import annotations

from typing import Any

import pytest

from .test_v201_reused_id_clock_back import (
    EVSE,
    NEW_BEGIN_WH,
    OLD_BEGIN_WH,
    OLD_STARTED_MIN_AGO,
    REUSED_ID,
    _ago,
    _register,
    send_frames,
    session_frames,
)
from .v16_harness import Harness
from .v201_harness import sampled

# The new session's Started: before the old one began (the clock went back 40 minutes).
NEW_STARTED_MIN_AGO = OLD_STARTED_MIN_AGO + 10
# Its Ended: inside the old session's span (120 -> 90 minutes ago).
NEW_ENDED_MIN_AGO = OLD_STARTED_MIN_AGO - 15


@pytest.fixture
def h(h2: Harness) -> Harness:
    """Every test of this module runs for 2.0.1 and 2.1."""
    return h2


def _unplugged(with_register: bool) -> dict[str, Any]:
    at = _ago(NEW_ENDED_MIN_AGO)
    frame: dict[str, Any] = {
        "seq_no": 1,
        "timestamp": at,
        "trigger_reason": "EVCommunicationLost",
        "evse": EVSE,
        "stopped_reason": "EVDisconnected",
    }
    if with_register:
        frame["meter_value"] = _register(NEW_BEGIN_WH, at, "Transaction.End")
    return frame


@pytest.mark.parametrize("with_register", [True, False], ids=["register_unchanged", "no_register"])
async def test_new_session_that_drew_nothing_ends_inside_the_old_span(
    h: Harness, with_register: bool
) -> None:
    sim = await h.charger_client(boot=True)
    await send_frames(sim, session_frames(0, OLD_BEGIN_WH, OLD_STARTED_MIN_AGO))
    await send_frames(sim, session_frames(0, NEW_BEGIN_WH, NEW_STARTED_MIN_AGO)[:1])
    connector = h.charger.connectors[1]
    new = connector.transaction
    assert new is not None, "the new session's Started was taken for the old one's"
    await sim.tx_event("Ended", REUSED_ID, **_unplugged(with_register))
    assert connector.transaction is None, "the new session's Ended was taken for a repeat"
    assert new.ended_at is not None
    assert new.stop_reason == "EVDisconnected"
    assert new.energy_wh == 0.0
    assert h.kinds().count("session_ended") == 2


async def test_old_meter_values_sent_again_count_nothing_for_the_new_session(h: Harness) -> None:
    """The station's queue kept the old session's MeterValues through the reboot and sends them
    again while the new session runs: below its start register, stamped inside the old session,
    after the new one's start. They were counted; taken for a register reset and the rise after
    it, they were counted again, for the new session too."""
    sim = await h.charger_client(boot=True)
    await send_frames(sim, session_frames(0, OLD_BEGIN_WH, OLD_STARTED_MIN_AGO))
    lifetime = h.charger.lifetime_energy.total_wh
    await send_frames(sim, session_frames(0, NEW_BEGIN_WH, NEW_STARTED_MIN_AGO)[:1])
    new = h.charger.connectors[1].transaction
    assert new is not None
    for wh, minutes_ago in ((1200.0, 115), (1500.0, 105), (1800.0, 95)):
        await sim.meter_values(1, [sampled(wh, "Energy.Active.Import.Register")], _ago(minutes_ago))
    assert new.energy_wh == 0.0
    assert h.charger.lifetime_energy.total_wh == lifetime
