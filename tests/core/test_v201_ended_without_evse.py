"""An Ended naming no EVSE (2.0.1 asks for the EVSE in a transaction's first message only) on a
station that numbers its transactions per EVSE: one sent again for EVSE 1's ended "1" stays
EVSE 1's (``test_redteam5_resent_ended_no_evse``); EVSE 2's own Ended of its open "1" still ends
it, also when stamped in the same second as EVSE 1's end (its register, above EVSE 1's last,
tells it is no repeat)."""

from __future__ import annotations

import pytest

from .test_v201_reused_id_clock_back import EVSE, _ago
from .v201_harness import V201Harness as Harness
from .v201_reuse import (
    EVSE_1_BEGIN_WH,
    EVSE_2,
    EVSE_2_BEGIN_WH,
    EVSE_SESSION_WH,
    cable_started,
    ended_sessions,
    periodic_updated,
    send,
)


@pytest.fixture
def h(h2: Harness) -> Harness:
    return h2


@pytest.mark.parametrize("same_stamp", [False, True], ids=["later", "same stamp"])
async def test_the_open_ones_own_ended_without_its_evse_ends_it(
    h: Harness, same_stamp: bool
) -> None:
    # (Stamped when the test runs: taken at import, they fell before the starts below once the
    # test ran 20 minutes after its collection.)
    evse_1_ended_at = _ago(80)
    at = evse_1_ended_at if same_stamp else _ago(70)
    sim = await h.charger_client(boot=True)
    await send(sim, cable_started(EVSE_1_BEGIN_WH, _ago(100), evse=EVSE))
    await send(sim, cable_started(EVSE_2_BEGIN_WH, _ago(90), evse=EVSE_2))
    evse_1_end_wh = EVSE_1_BEGIN_WH + EVSE_SESSION_WH
    await send(sim, periodic_updated(1, evse_1_end_wh, evse_1_ended_at, stopped_reason="Local"))
    assert h.charger.connectors[1].transaction is None
    ended = periodic_updated(
        1, EVSE_2_BEGIN_WH + EVSE_SESSION_WH, at, stopped_reason="EVDisconnected"
    )
    await send(sim, {key: value for key, value in ended.items() if key != "evse"})
    assert h.charger.connectors[2].transaction is None
    assert ended_sessions(h) == [("1", EVSE_SESSION_WH), ("1", EVSE_SESSION_WH)]
