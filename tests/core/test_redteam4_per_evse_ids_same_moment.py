"""Red team (4) of a Started naming another EVSE (tx_boot_mark.lost_in_reboot, 09ca23a) on a
station that numbers its transactions per EVSE (against the spec; the module docstring keeps
such stations' EVSEs apart).

Two cars plug in at the same moment: EVSE 2's Started is stamped two seconds before EVSE 1's but
sent after it (live, no offline flag: each EVSE's controller builds its own messages). 09ca23a
takes a live Started on another EVSE stamped before the open transaction of its id began for
"the station rebooted and its clock went back": EVSE 1's session, running, ends as "Reboot",
and its next Updated (transaction "1" on EVSE 1) goes to EVSE 2's open "1": EVSE 1's register
into EVSE 2's meter. Nothing rebooted (no BootNotification): both sessions go on, each with its
own energy.
"""

from __future__ import annotations

from typing import Any

import pytest

from .test_v201_reused_id_clock_back import EVSE
from .v201_harness import V201Harness as Harness
from .v201_harness import now_iso
from .v201_reuse import (
    EVSE_1_BEGIN_WH,
    EVSE_2,
    EVSE_2_BEGIN_WH,
    EVSE_SESSION_WH,
    cable_started,
    periodic_updated,
    send,
)


@pytest.fixture
def h(h2: Harness) -> Harness:
    return h2


def _charging(evse: dict[str, int], wh: float, at: str) -> dict[str, Any]:
    """The session's first Updated (seqNo 1): charging, at register ``wh``."""
    return periodic_updated(1, wh, at, evse=evse, charging_state="Charging")


async def test_two_sessions_started_together_on_a_per_evse_numbering_station(h: Harness) -> None:
    sim = await h.charger_client(boot=True)
    await send(sim, cable_started(EVSE_1_BEGIN_WH, now_iso(-60), evse=EVSE))
    await send(sim, cable_started(EVSE_2_BEGIN_WH, now_iso(-62), evse=EVSE_2))
    await send(sim, _charging(EVSE, EVSE_1_BEGIN_WH + EVSE_SESSION_WH, now_iso(-1)))
    await send(sim, _charging(EVSE_2, EVSE_2_BEGIN_WH + EVSE_SESSION_WH, now_iso()))
    first, second = (h.charger.connectors[n].transaction for n in (1, 2))
    ended = h.charger.connectors[1].last_transaction
    energies = [None if t is None else t.energy_wh for t in (first, second)]
    assert (energies, ended) == ([EVSE_SESSION_WH, EVSE_SESSION_WH], None), (
        f"EVSE 1's ended: {ended and (ended.stop_reason, ended.energy_wh)}"
    )
