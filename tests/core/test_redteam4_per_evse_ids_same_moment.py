"""Red team (4) of a Started naming another EVSE (transactions._lost_in_reboot, 09ca23a) on a
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

import pytest

from .test_v201_reused_id_clock_back import EVSE, REUSED_ID, _register
from .v201_harness import SimStation, SimStation21, now_iso
from .v201_harness import V201Harness as Harness

EVSE_2 = {"id": 2, "connectorId": 1}
EVSE_1_BEGIN_WH = 1000.0
EVSE_2_BEGIN_WH = 7000.0
SESSION_WH = 500.0


@pytest.fixture
def h(h2: Harness) -> Harness:
    return h2


async def _started(
    sim: SimStation | SimStation21, evse: dict[str, int], wh: float, at: str
) -> None:
    await sim.tx_event(
        "Started",
        REUSED_ID,
        seq_no=0,
        timestamp=at,
        evse=evse,
        trigger_reason="CablePluggedIn",
        charging_state="EVConnected",
        meter_value=_register(wh, at, "Transaction.Begin"),
    )


async def _updated(
    sim: SimStation | SimStation21, evse: dict[str, int], wh: float, at: str
) -> None:
    await sim.tx_event(
        "Updated",
        REUSED_ID,
        seq_no=1,
        timestamp=at,
        evse=evse,
        trigger_reason="MeterValuePeriodic",
        charging_state="Charging",
        meter_value=_register(wh, at, "Sample.Periodic"),
    )


async def test_two_sessions_started_together_on_a_per_evse_numbering_station(h: Harness) -> None:
    sim = await h.charger_client(boot=True)
    await _started(sim, EVSE, EVSE_1_BEGIN_WH, now_iso(-60))
    await _started(sim, EVSE_2, EVSE_2_BEGIN_WH, now_iso(-62))
    await _updated(sim, EVSE, EVSE_1_BEGIN_WH + SESSION_WH, now_iso(-1))
    await _updated(sim, EVSE_2, EVSE_2_BEGIN_WH + SESSION_WH, now_iso())
    first, second = (h.charger.connectors[n].transaction for n in (1, 2))
    ended = h.charger.connectors[1].last_transaction
    energies = [None if t is None else t.energy_wh for t in (first, second)]
    assert (energies, ended) == ([SESSION_WH, SESSION_WH], None), (
        f"EVSE 1's ended: {ended and (ended.stop_reason, ended.energy_wh)}"
    )
