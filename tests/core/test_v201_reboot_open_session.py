"""A 2.x station without a time source reboots DURING a session and never sends that session's
Ended (OCPP 2.0.1 E: a station that keeps its transactions through a reboot ends them with
stoppedReason PowerLoss or Reboot; one that lost them says nothing). After the reboot it numbers
its transactions and seqNos from the start again: its next session is "1" again, seqNo 0, stamped
from a clock behind (before the open session began, or inside its span) or, with a clock that
kept the time, after it. Its Started starts at or above the open session's last register, above
the open one's start: a new session, not the open one's Started sent again (which carries the
open session's start register and time). The open session ends ("Reboot", at its last known
reading, with the energy it counted); the new one counts its own energy and ends at its own
Ended. The open session's own Started sent again stays a duplicate.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from custom_components.ocpp_ems.core.timeutil import parse_timestamp

from .test_v201_reused_id_clock_back import (
    EVSE,
    OLD_BEGIN_WH,
    OLD_STARTED_MIN_AGO,
    REUSED_ID,
    SESSION_WH,
    _ago,
    send_frames,
    session_frames,
)
from .v201_harness import Harness, sampled
from .v201_reuse import ended_sessions, open_session_then_reboot

# The open session (120 -> 105 minutes ago) charged half a session before the reboot: its
# Started and Updated arrived, its Ended never comes.
OPEN_LAST_WH = OLD_BEGIN_WH + SESSION_WH / 2
# When the new session "1" starts (minutes ago): its clock went back further than the open one
# ran, or less (inside its span), or kept the time (after the open one's newest message).
NEW_STARTED_MIN_AGO = {"before_the_open_session": 240, "inside_its_span": 110, "clock_kept": 60}


@pytest.fixture
def h(h2: Harness) -> Harness:
    """Every test of this module runs for 2.0.1 and 2.1."""
    return h2


def _at(frame: dict[str, Any]) -> datetime:
    return parse_timestamp(frame["timestamp"])


def _ended(h: Harness) -> list[tuple[Any, ...]]:
    return ended_sessions(h, "transaction_id", "energy_wh", "reason")


@pytest.mark.parametrize("new_started", NEW_STARTED_MIN_AGO)
async def test_new_session_after_a_reboot_ends_the_open_one(h: Harness, new_started: str) -> None:
    """The open session "1" (1,000 -> 1,500 Wh, its Ended lost), the reboot, the new "1" (seqNo 0,
    1,500 -> 2,500 Wh): the open one ends as "Reboot" at its last message with its 500 Wh, the
    new one is a session of its own with its 1,000 Wh, ended by its own Ended; the lifetime total
    counts the meter once."""
    opened = await open_session_then_reboot(h)
    sim, open_session = opened.station, opened.transaction
    lifetime_before_new = h.charger.lifetime_energy.total_wh
    new = session_frames(0, OPEN_LAST_WH, NEW_STARTED_MIN_AGO[new_started])
    await send_frames(sim, new[:1])
    running = h.charger.connectors[1].transaction
    assert running is not None
    assert running is not open_session, "the new session's Started was taken for the open one's"
    assert open_session.ended_at == _at(opened.frames[-1]), "not ended at its last reading"
    assert open_session.energy_wh == SESSION_WH / 2
    await send_frames(sim, new[1:])
    connector = h.charger.connectors[1]
    assert connector.transaction is None
    assert connector.last_transaction is running
    assert _ended(h) == [(REUSED_ID, SESSION_WH / 2, "Reboot"), (REUSED_ID, SESSION_WH, "Local")]
    assert h.kinds().count("session_started") == 2
    assert h.charger.lifetime_energy.total_wh == pytest.approx(lifetime_before_new + SESSION_WH)


async def test_open_sessions_frames_sent_again_while_the_new_one_runs(h: Harness) -> None:
    """After the new session (stamped inside the open one's span) started, the old session's
    Started and Updated are sent again (the station never saw our answers): they count nothing
    again and never end or extend the new session."""
    opened = await open_session_then_reboot(h)
    sim, open_session = opened.station, opened.transaction
    new = session_frames(0, OPEN_LAST_WH, NEW_STARTED_MIN_AGO["inside_its_span"])
    await send_frames(sim, new[:2])
    running = h.charger.connectors[1].transaction
    await send_frames(sim, opened.frames)
    assert h.charger.connectors[1].transaction is running
    assert running is not None
    assert running.energy_wh == SESSION_WH / 2
    await send_frames(sim, new[2:])
    assert _ended(h) == [(REUSED_ID, SESSION_WH / 2, "Reboot"), (REUSED_ID, SESSION_WH, "Local")]
    assert open_session.energy_wh == SESSION_WH / 2


@pytest.mark.parametrize("reboot", [False, True], ids=["no_boot", "boot_in_between"])
@pytest.mark.parametrize("charged", [True, False], ids=["charged", "drew_nothing"])
async def test_open_sessions_own_started_sent_again_is_a_duplicate(
    h: Harness, reboot: bool, charged: bool
) -> None:
    """The open session's own Started sent again (its seqNo, time and start register; with or
    without a BootNotification before it, after the session charged or drew nothing): nothing
    applied, the session runs on as it was."""
    sim = await h.charger_client(boot=True)
    started, updated, _ = session_frames(0, OLD_BEGIN_WH, OLD_STARTED_MIN_AGO)
    await send_frames(sim, [started, updated] if charged else [started])
    running = h.charger.connectors[1].transaction
    assert running is not None
    energy = running.energy_wh
    if reboot:
        await sim.boot(reason="PowerUp")
    await send_frames(sim, [started])
    assert h.charger.connectors[1].transaction is running
    assert running.ended_at is None
    assert running.started_at == _at(started)
    assert running.energy_wh == energy
    assert h.kinds().count("session_started") == 1
    assert h.kinds().count("session_ended") == 0


async def test_late_started_of_an_open_session_is_its_own(h: Harness) -> None:
    """A session opened by its Updated (seqNo 1, no readings: it starts at the EVSE's register,
    1,000 Wh), then its Started (seqNo 0, stamped earlier, Begin 1,000 Wh: at the session's last
    register, like a new session's). It fills the gap: the session's own late Started moves its
    start back, and no session is ended or opened."""
    sim = await h.charger_client(boot=True)
    await sim.meter_values(1, [sampled(OLD_BEGIN_WH, "Energy.Active.Import.Register")], _ago(60))
    started = session_frames(0, OLD_BEGIN_WH, 20)[0]
    updated = {"seq_no": 1, "timestamp": _ago(10), "evse": EVSE, "charging_state": "Charging"}
    await sim.tx_event("Updated", REUSED_ID, **updated)
    running = h.charger.connectors[1].transaction
    assert running is not None
    await send_frames(sim, [started])
    assert h.charger.connectors[1].transaction is running
    assert running.started_at == _at(started)
    assert h.kinds().count("session_started") == 1
    assert h.kinds().count("session_ended") == 0
