"""A 2.x station reboots without a time source and its clock goes back by LESS than its last
session ran: the new session "1" (seqNo 0 again, or counting on) is stamped inside the old
session "1"'s span (120 -> 90 minutes ago, 1,000 -> 2,000 Wh), not before it began
(test_v201_reused_id_clock_back.py covers that). Its Started is no repeat of the old one's (a
message sent again carries its original time: the old session's start, and its register: the old
session's first) and it starts at the old session's last register: a new session, which counts
its energy and ends at its own Ended. The old session's frames sent again count nothing twice.
"""

from __future__ import annotations

import pytest

from .test_v201_reused_id_clock_back import (
    NEW_BEGIN_WH,
    OLD_BEGIN_WH,
    OLD_STARTED_MIN_AGO,
    REUSED_ID,
    SESSION_WH,
    _register,
    send_frames,
    session_frames,
)
from .v16_harness import Harness
from .v201_reuse import ended_sessions

# The old session runs 120 -> 90 minutes ago; the new one starts 20 minutes after it began (the
# clock went back 10 minutes less than the old one ran) and ends 30 minutes later.
NEW_STARTED_MIN_AGO = OLD_STARTED_MIN_AGO - 20
# The new session's seqNos: from 0 again (a counter reset by the reboot), or counting on.
SEQ_NO_RESTARTS = 0
SEQ_NO_CONTINUES = 3


@pytest.fixture
def h(h2: Harness) -> Harness:
    """Every test of this module runs for 2.0.1 and 2.1."""
    return h2


@pytest.mark.parametrize("first_seq_no", [SEQ_NO_RESTARTS, SEQ_NO_CONTINUES])
async def test_new_session_stamped_inside_the_old_span_counts_its_energy(
    h: Harness, first_seq_no: int
) -> None:
    """The new session (2,000 -> 3,000 Wh), Started inside the old span: a session of its own
    with its 1,000 Wh, ended by its own Ended; the lifetime total counts the meter once."""
    sim = await h.charger_client(boot=True)
    await send_frames(sim, session_frames(0, OLD_BEGIN_WH, OLD_STARTED_MIN_AGO))
    lifetime_after_old = h.charger.lifetime_energy.total_wh
    new = session_frames(first_seq_no, NEW_BEGIN_WH, NEW_STARTED_MIN_AGO)
    await send_frames(sim, new[:1])
    running = h.charger.connectors[1].transaction
    assert running is not None, "the new session's Started was taken for the old one's"
    await send_frames(sim, new[1:])
    connector = h.charger.connectors[1]
    assert connector.transaction is None
    assert connector.last_transaction is running
    assert ended_sessions(h) == [(REUSED_ID, SESSION_WH), (REUSED_ID, SESSION_WH)]
    assert h.charger.lifetime_energy.total_wh == pytest.approx(lifetime_after_old + SESSION_WH)


@pytest.mark.parametrize("replay_while_new_runs", [False, True])
async def test_old_frames_sent_again_around_a_new_session_inside_its_span(
    h: Harness, replay_while_new_runs: bool
) -> None:
    """The old session's Started, Updated and Ended sent again (same seqNos, times and
    registers) while the new session runs or after it ended: neither session changes, no session
    opens, nothing is counted twice."""
    sim = await h.charger_client(boot=True)
    old = session_frames(0, OLD_BEGIN_WH, OLD_STARTED_MIN_AGO)
    new = session_frames(0, NEW_BEGIN_WH, NEW_STARTED_MIN_AGO)
    await send_frames(sim, old)
    lifetime_after_old = h.charger.lifetime_energy.total_wh
    split = 2 if replay_while_new_runs else 3
    await send_frames(sim, new[:split])
    await send_frames(sim, old)
    await send_frames(sim, new[split:])
    connector = h.charger.connectors[1]
    assert connector.transaction is None
    assert connector.last_transaction is not None
    assert connector.last_transaction.meter_start_wh == NEW_BEGIN_WH
    assert ended_sessions(h) == [(REUSED_ID, SESSION_WH), (REUSED_ID, SESSION_WH)]
    assert h.kinds().count("session_started") == 2
    assert h.kinds().count("session_updated") == 0
    assert h.charger.lifetime_energy.total_wh == pytest.approx(lifetime_after_old + SESSION_WH)


async def test_started_of_a_session_without_energy_sent_again_is_no_new_session(
    h: Harness,
) -> None:
    """A session that drew nothing (its last register is its first), then its Started sent
    again: at the old session's register but with its original time, its start, it is the old
    one's repeat, never a new session that would stay open."""
    sim = await h.charger_client(boot=True)
    started, _, ended = session_frames(0, OLD_BEGIN_WH, OLD_STARTED_MIN_AGO)
    ended = {**ended, "meter_value": _register(OLD_BEGIN_WH, ended["timestamp"], "Transaction.End")}
    await send_frames(sim, [started, ended, started])
    connector = h.charger.connectors[1]
    assert connector.transaction is None
    assert h.kinds().count("session_started") == 1
