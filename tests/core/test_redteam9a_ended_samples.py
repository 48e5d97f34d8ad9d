"""Red team (9a) of 36ee0d9 (a 2.x Ended's readings applied together, oldest first, only its
end reading live: charger_state.end_session): hostile samples in a live Ended's
TxEndedMeasurands. T on EVSE 1 runs from BEGIN_WH (an Updated a minute in, SoC 79 %) and ends
at END_WH (the Transaction.End sample: SoC 80 %, 7.2 kW); its Ended also carries a sample
stamped a second after the end sample with a lower register, or a garbage register
(0xFFFFFFFF) before or after it. The session counts END_WH - BEGIN_WH, ends at END_WH, shows
no power after the end, fires SESSION_ENDED once; the next session's 100 Wh count at once."""

from __future__ import annotations

from typing import Any

import pytest

from custom_components.ocpp_ems.core.model import EventKind

from .test_redteam8d_ordinary_ended import (
    BEGIN,
    BEGIN_WH,
    CAR_W,
    END,
    END_WH,
    NEXT_RISE_WH,
    PERIODIC,
    authorized_started,
    ended_as_the_car_left,
    entry,
    next_session_rises,
    periodic_a_minute_in,
)
from .v16_harness import now_iso
from .v201_harness import V201Harness as Harness

EVSE = {"id": 1, "connectorId": 1}
GARBAGE_WH = float(0xFFFFFFFF)
AFTER_END_S = -1  # entry()'s ago_s: a second after now

HOSTILE_SAMPLES = {
    "lower_register_after_the_end": [
        entry(0, END, END_WH, power=CAR_W, soc=80),
        entry(AFTER_END_S, PERIODIC, END_WH - 50, power=CAR_W),
    ],
    "garbage_register_before_the_end": [
        entry(30, PERIODIC, GARBAGE_WH, power=CAR_W),
        entry(0, END, END_WH, power=CAR_W, soc=80),
    ],
    "garbage_register_after_the_end": [
        entry(0, END, END_WH, power=CAR_W, soc=80),
        entry(AFTER_END_S, PERIODIC, GARBAGE_WH, power=CAR_W),
    ],
}


async def ended_with(h2: Harness, samples: list[dict[str, Any]], offline: bool) -> Any:
    station = await h2.charger_client(boot=True)
    begin = [entry(120, BEGIN, BEGIN_WH, power=CAR_W)]
    await authorized_started(station, "T", EVSE, begin, timestamp=now_iso(-120))
    await periodic_a_minute_in(station, power=CAR_W, soc=79)
    await ended_as_the_car_left(station, samples, evse=EVSE, offline=offline or None)
    return station


@pytest.mark.parametrize("offline", [False, True], ids=["live", "flagged_offline"])
@pytest.mark.parametrize("samples", sorted(HOSTILE_SAMPLES))
async def test_a_hostile_sample_in_the_ended(h2: Harness, samples: str, offline: bool) -> None:
    station = await ended_with(h2, HOSTILE_SAMPLES[samples], offline)
    connector = h2.charger.connector(1)
    ended = connector.last_transaction
    assert connector.transaction is None
    assert ended is not None
    assert (ended.energy_wh, ended.meter_last_wh) == (END_WH - BEGIN_WH, END_WH)
    assert h2.charger.lifetime_energy.total_wh == pytest.approx(END_WH)
    assert connector.meter.power_w == 0.0
    ends = (EventKind.SESSION_ENDED, EventKind.SESSION_UPDATED)
    assert [(e.kind, e.data["energy_wh"]) for e in h2.events if e.kind in ends] == [
        (EventKind.SESSION_ENDED, END_WH - BEGIN_WH)
    ]
    await next_session_rises(station)
    following = connector.transaction
    assert following is not None
    assert following.energy_wh == pytest.approx(NEXT_RISE_WH)
    assert h2.charger.lifetime_energy.total_wh == pytest.approx(END_WH + NEXT_RISE_WH)
