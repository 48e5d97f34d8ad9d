"""Whether a 2.x station numbers its transactions per EVSE (``tx_boot_mark.numbers_per_evse``)
is judged by what ran at once: never by the stamps of a clock that is not set.

The station numbers its transactions per station, from 1 again after each boot, and has no time
source. "1" runs on EVSE 1 and ends. The station boots; its clock restarts at an old date (its
firmware's build date, years back, or hours back: the time it last saved), and "1" starts on
EVSE 2. By those stamps EVSE 2's "1", open, "ran" since before EVSE 1's began: the two "ran at
once", as on a station numbering per EVSE. The station boots again and loses EVSE 2's "1"; the
next car starts "1" on EVSE 1. On a per-EVSE station that Started cannot tell EVSE 2's lost, so
it stayed open until EVSE 2's next session (charging for the energy manager, never booked). By
when we received them the two never ran at once: EVSE 2's ends as lost in the reboot.

A station that does number per EVSE shows it by two of one id running at once as we receive
them (test_v201_reboot_per_evse): that evidence is kept.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from custom_components.ocpp_ems.core.model import RECENTLY_ENDED
from custom_components.ocpp_ems.core.persistence import charger_from_dict, charger_to_dict
from custom_components.ocpp_ems.core.protocol.v201.transactions import STOPPED_BY_REBOOT
from custom_components.ocpp_ems.core.settings import ServerSettings

from .fakes import MemoryDirectory
from .test_energy_quirks import harness_with
from .test_v201_reboot_per_evse import KEPT_ID, _both_evses_ran_id_1
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


@pytest.fixture
def h(h2: Harness) -> Harness:
    return h2


def _behind(clock_back: timedelta, minutes_later: float = 0) -> str:
    return (datetime.now(UTC) - clock_back + timedelta(minutes=minutes_later)).isoformat()


@pytest.mark.parametrize(
    "clock_back",
    # (Stamps before 2010 are taken as received: timeutil.parse_timestamp. Pinned.)
    [timedelta(days=3 * 365), timedelta(hours=3), timedelta(days=27 * 365)],
    ids=["build_date", "last_saved_time", "unset_before_2010"],
)
async def test_a_clock_restarted_in_the_past_proves_no_numbering_per_evse(
    h: Harness, clock_back: timedelta
) -> None:
    sim = await h.charger_client(boot=True)
    evse_1_end_wh = EVSE_1_BEGIN_WH + EVSE_SESSION_WH
    await send(sim, cable_started(EVSE_1_BEGIN_WH, _ago(120), evse=EVSE))
    await send(sim, periodic_updated(1, evse_1_end_wh, _ago(90), evse=EVSE, stopped_reason="Local"))
    await sim.boot(reason="PowerUp")
    evse_2_begin = cable_started(
        EVSE_2_BEGIN_WH, _behind(clock_back), evse=EVSE_2, charging_state="Charging"
    )
    await send(sim, evse_2_begin)
    evse_2_wh = EVSE_2_BEGIN_WH + EVSE_SESSION_WH
    await send(sim, periodic_updated(1, evse_2_wh, _behind(clock_back, 20), evse=EVSE_2))
    lost = h.charger.connectors[2].transaction
    assert lost is not None
    await sim.boot(reason="PowerUp")  # EVSE 2's "1" lost in it
    await send(sim, cable_started(evse_1_end_wh, _behind(clock_back, 30), evse=EVSE))
    assert h.charger.connectors[1].transaction is not None
    assert h.charger.connectors[2].transaction is None, "EVSE 2's lost session stayed open"
    assert lost.stop_reason == STOPPED_BY_REBOOT


async def test_the_evidence_outlives_the_recently_ended_sessions_and_a_restart(
    h: Harness, directory: MemoryDirectory, server_settings: ServerSettings
) -> None:
    """Both EVSEs ran "1" at once; then EVSE 1 ran :data:`RECENTLY_ENDED` more sessions (the
    bounded record of ended ones forgets its "1") and Home Assistant restarted. EVSE 1's "2"
    kept through a reboot runs on when EVSE 2 starts its "2" (the evidence was the two "1"s in
    that record: EVSE 1's "2" ended as lost, what it charged after no longer the session's)."""
    sim = await _both_evses_ran_id_1(h)
    evse_1_wh = EVSE_1_BEGIN_WH + EVSE_SESSION_WH
    for n in range(RECENTLY_ENDED):
        at = _ago(60 - n)
        await send(sim, cable_started(evse_1_wh, at, evse=EVSE), f"S{n}")
        ended = periodic_updated(1, evse_1_wh, at, evse=EVSE, stopped_reason="Local")
        await send(sim, ended, f"S{n}")
    stored = json.loads(json.dumps(charger_to_dict(h.charger)))
    async with harness_with(charger_from_dict(stored), directory, server_settings, type(h)) as h2:
        sim = await h2.charger_client(boot=False)
        await send(sim, cable_started(evse_1_wh, _ago(30), evse=EVSE), KEPT_ID)
        await send(sim, periodic_updated(1, evse_1_wh + EVSE_SESSION_WH, _ago(20)), KEPT_ID)
        kept = h2.charger.connectors[1].transaction
        assert kept is not None
        await sim.boot(reason="PowerUp")
        evse_2_begin = EVSE_2_BEGIN_WH + EVSE_SESSION_WH
        await send(sim, cable_started(evse_2_begin, _ago(1), evse=EVSE_2), KEPT_ID)
        assert h2.charger.connectors[1].transaction is kept, f"ended as {kept.stop_reason}"
        assert h2.charger.connectors[2].transaction is not None
