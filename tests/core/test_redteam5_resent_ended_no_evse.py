"""Red team 5: 3a37d31 keeps a message sent again for one EVSE's ended transaction off the other
EVSE's open one of the same id (a station that numbers its transactions per EVSE) only when the
message names its EVSE (``tx_routing.find_transaction`` / ``_find_ended``). OCPP 2.0.1 asks for the EVSE in
a transaction's first TransactionEvent only; stations commonly leave it out of the Updated and
Ended messages. An Ended sent again without it goes to the open transaction of its id
(``ChargerState.find_open`` with no connector: any), and an Ended of an open transaction is
always applied (``_on_open``): EVSE 2's running session ends with EVSE 1's register.
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
    cable_started,
    ended_sessions,
    periodic_updated,
    send,
)


@pytest.fixture
def h(h2: Harness) -> Harness:
    return h2


def _without_evse(frame: dict[str, Any]) -> dict[str, Any]:
    """``frame`` as a station that names the EVSE in a transaction's first message only."""
    return {key: value for key, value in frame.items() if key != "evse"}


async def test_an_ended_sent_again_without_its_evse_never_ends_the_other_evses_session(
    h: Harness,
) -> None:
    """Session "1" on EVSE 1 (500 Wh) and, meanwhile, session "1" on EVSE 2 (a station numbering
    per EVSE). EVSE 1's Ended, which names no EVSE, is sent again (the station never saw our
    answer): it is EVSE 1's message (its seqNo, stamp and register); EVSE 2's session runs on."""
    sim = await h.charger_client(boot=True)
    await send(sim, cable_started(EVSE_1_BEGIN_WH, _ago(100), evse=EVSE))
    await send(sim, cable_started(EVSE_2_BEGIN_WH, _ago(90), evse=EVSE_2))
    evse_1_ended = _without_evse(
        periodic_updated(
            1, EVSE_1_BEGIN_WH + EVSE_SESSION_WH, _ago(80), stopped_reason="EVDisconnected"
        )
    )
    await send(sim, evse_1_ended)
    # (EVSE 1's own session ended: the first Ended found the open one on EVSE 1 or 2.)
    assert h.charger.connectors[1].transaction is None, "the first Ended ended EVSE 2's session"
    await send(sim, evse_1_ended)  # the station never saw our answer
    running = h.charger.connectors[2].transaction
    assert running is not None, "EVSE 2's session was ended by EVSE 1's Ended sent again"
    assert running.meter_last_wh == EVSE_2_BEGIN_WH
    assert ended_sessions(h) == [("1", EVSE_SESSION_WH)]
