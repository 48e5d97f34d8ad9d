"""A 2.x station that numbers its transactions per EVSE (against the spec: ids are unique per
station), around a reboot: which of its transactions a message of a shared id belongs to.

- It kept EVSE 1's session through a reboot (it resumes it with its next message) and starts the
  same id on EVSE 2 before that message: EVSE 1's session was ended as lost in the reboot
  ("Reboot") and what it charged after was no longer the session's. A station that showed it
  numbers per EVSE (two of one id ran at once on its EVSEs) keeps it running
  (tx_boot_mark.numbers_per_evse); one that did not cannot be told from one that lost it
  (test_redteam4_reboot_other_evse_clock_kept).
- A message of an EVSE's ended transaction sent again (the station never saw our answer) went to
  the other EVSE's transaction of that id: an Ended re-sent for EVSE 1 ended EVSE 2's running
  session with EVSE 1's register, an Ended re-sent for EVSE 2 counted EVSE 2's register on
  EVSE 1 (tx_routing._find_ended: the EVSE the message names first).
"""

from __future__ import annotations

from typing import Any

import pytest

from .test_v201_reused_id_clock_back import EVSE, _ago
from .v201_harness import V201Harness as Harness
from .v201_reuse import (
    EVSE_1_BEGIN_WH,
    EVSE_2,
    EVSE_2_BEGIN_WH,
    EVSE_SESSION_WH,
    Station,
    cable_started,
    ended_sessions,
    periodic_updated,
    send,
)

KEPT_ID = "2"


@pytest.fixture
def h(h2: Harness) -> Harness:
    return h2


def _ended(evse: dict[str, int], wh: float, at: str) -> dict[str, Any]:
    """The Ended (seqNo 1) of a session at register ``wh``."""
    return periodic_updated(1, wh, at, evse=evse, stopped_reason="EVDisconnected")


async def _both_evses_ran_id_1(h: Harness) -> Station:
    """Session "1" on each EVSE, at once (500 Wh each): EVSE 1's from 100 to 80 minutes ago,
    EVSE 2's from 90 to 70 minutes ago."""
    sim = await h.charger_client(boot=True)
    await send(sim, cable_started(EVSE_1_BEGIN_WH, _ago(100), evse=EVSE))
    await send(sim, cable_started(EVSE_2_BEGIN_WH, _ago(90), evse=EVSE_2))
    await send(sim, _ended(EVSE, EVSE_1_BEGIN_WH + EVSE_SESSION_WH, _ago(80)))
    await send(sim, _ended(EVSE_2, EVSE_2_BEGIN_WH + EVSE_SESSION_WH, _ago(70)))
    assert sorted(ended_sessions(h)) == [("1", EVSE_SESSION_WH)] * 2
    return sim


async def test_a_session_kept_through_a_reboot_runs_on_when_the_other_evse_starts_its_id(
    h: Harness,
) -> None:
    sim = await _both_evses_ran_id_1(h)
    evse_1_begin = EVSE_1_BEGIN_WH + EVSE_SESSION_WH
    await send(sim, cable_started(evse_1_begin, _ago(60), evse=EVSE), KEPT_ID)
    await send(sim, periodic_updated(1, evse_1_begin + EVSE_SESSION_WH, _ago(40)), KEPT_ID)
    kept = h.charger.connectors[1].transaction
    assert kept is not None
    await sim.boot(reason="PowerUp")
    # EVSE 2's "2" before the station sends EVSE 1's "2" on.
    evse_2_begin = EVSE_2_BEGIN_WH + EVSE_SESSION_WH
    await send(sim, cable_started(evse_2_begin, _ago(1), evse=EVSE_2), KEPT_ID)
    await send(sim, periodic_updated(2, evse_1_begin + 2 * EVSE_SESSION_WH, _ago(0)), KEPT_ID)
    assert h.charger.connectors[1].transaction is kept, f"EVSE 1's ended as {kept.stop_reason}"
    assert (kept.ended_at, kept.energy_wh) == (None, 2 * EVSE_SESSION_WH)
    other = h.charger.connectors[2].transaction
    assert other is not None
    assert (other.transaction_id, other.energy_wh) == (KEPT_ID, 0)


async def test_an_ended_sent_again_for_evse_1_never_ends_evse_2s_session(h: Harness) -> None:
    sim = await h.charger_client(boot=True)
    await send(sim, cable_started(EVSE_1_BEGIN_WH, _ago(100), evse=EVSE))
    await send(sim, cable_started(EVSE_2_BEGIN_WH, _ago(90), evse=EVSE_2))
    evse_1_ended = _ended(EVSE, EVSE_1_BEGIN_WH + EVSE_SESSION_WH, _ago(80))
    await send(sim, evse_1_ended)
    await send(sim, evse_1_ended)  # the station never saw our answer
    running = h.charger.connectors[2].transaction
    assert running is not None, "EVSE 2's session was ended by EVSE 1's Ended sent again"
    assert running.meter_last_wh == EVSE_2_BEGIN_WH
    assert ended_sessions(h) == [("1", EVSE_SESSION_WH)]


async def test_an_ended_sent_again_for_evse_2_never_counts_on_evse_1(h: Harness) -> None:
    sim = await _both_evses_ran_id_1(h)
    lifetime = h.charger.lifetime_energy.total_wh
    await send(sim, _ended(EVSE_2, EVSE_2_BEGIN_WH + EVSE_SESSION_WH, _ago(70)))
    evse_1 = h.charger.connectors[1]
    assert evse_1.last_transaction is not None
    assert evse_1.last_transaction.energy_wh == EVSE_SESSION_WH
    assert evse_1.meter.energy_register_wh == EVSE_1_BEGIN_WH + EVSE_SESSION_WH
    assert h.charger.lifetime_energy.total_wh == lifetime
