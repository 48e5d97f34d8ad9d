"""Red team (3) of a 2.x transaction lost in a reboot (tx_boot_mark.lost_in_reboot, b461946) on a
station with two EVSEs.

The station numbers its transactions per station and has no time source. Session "1" runs on
EVSE 1 (1,000 -> 1,500 Wh on EVSE 1's meter, 120 -> 105 minutes ago); the station reboots and
loses it (its Ended never comes), its clock now two hours behind, and its next session, "1"
again, starts on EVSE 2 (EVSE 2's own meter at 7,000 Wh), stamped before the lost one began.
_lost_in_reboot only looked at the lost session's own EVSE, and _starts_another took a Started
naming another EVSE for another session only when stamped after the open one began: EVSE 2's
session was applied to the open session of EVSE 1 (its register into EVSE 1's meter), EVSE 2
got no session at all, and EVSE 1's lost session never ended. A transaction never moves EVSE:
EVSE 2's Started is its own session whatever its stamp; sent live after the station's
BootNotification (which came after EVSE 1's last message), it also ends EVSE 1's as lost in the
reboot. Sent from an offline queue it may be an old session of EVSE 2 of a station that numbers
its transactions per EVSE: EVSE 1's goes on (as without a boot:
test_redteam4_per_evse_ids_same_moment).
"""

from __future__ import annotations

import pytest

from custom_components.ocpp_ems.core.model import ConnectorStatus, Transaction

from .test_v201_reused_id_clock_back import EVSE, OLD_STARTED_MIN_AGO, SESSION_WH, _ago
from .v201_harness import V201Harness as Harness
from .v201_reuse import (
    EVSE_2,
    EVSE_2_BEGIN_WH,
    TAG1,
    Station,
    open_session_then_reboot,
    periodic_updated,
    send,
    tx_frame,
)

# EVSE 2's session starts this long before the lost one began (the clock went back in the reboot).
CLOCK_BACK_MIN = 120


@pytest.fixture
def h(h2: Harness) -> Harness:
    return h2


def _before_the_lost_one(minutes_later: float = 0) -> str:
    return _ago(OLD_STARTED_MIN_AGO + CLOCK_BACK_MIN - minutes_later)


async def _lost_then_evse_2_session(
    h: Harness, *, offline: bool = False
) -> tuple[Station, Transaction]:
    """EVSE 1's session "1" (Started, Updated: 500 Wh), a reboot, then "1" on EVSE 2 (Started
    and two Updated, 1,000 Wh), stamped before EVSE 1's began; the station, EVSE 1's session."""
    opened = await open_session_then_reboot(h)
    sim, lost = opened.station, opened.transaction
    started = _before_the_lost_one()
    await send(
        sim,
        tx_frame(
            "Started",
            0,
            started,
            wh=EVSE_2_BEGIN_WH,
            evse=EVSE_2,
            id_token=TAG1,
            charging_state="Charging",
            offline=offline,
        ),
    )
    for seq_no, minutes in ((1, 15), (2, 30)):
        wh = EVSE_2_BEGIN_WH + SESSION_WH * minutes / 30
        at = _before_the_lost_one(minutes)
        await send(sim, periodic_updated(seq_no, wh, at, evse=EVSE_2, offline=offline))
    new = h.charger.connector(2).transaction
    assert new is not None, "EVSE 2's session was not booked (nor its 1,000 Wh counted)"
    assert new.energy_wh == SESSION_WH
    assert lost.energy_wh == SESSION_WH / 2
    assert lost.connector_id == EVSE["id"]
    return sim, lost


async def test_a_session_on_the_other_evse_after_a_reboot_is_its_own(h: Harness) -> None:
    await _lost_then_evse_2_session(h)


async def test_the_lost_session_ends_as_rebooted_and_stops_charging(h: Harness) -> None:
    """EVSE 1's lost session ends as "Reboot" at its last message, and its charging state with
    it: EVSE 1's status after the reboot, stamped by the clock gone back (before that charging
    state), is what the station says (it stayed Charging)."""
    sim, lost = await _lost_then_evse_2_session(h)
    assert h.charger.connectors[1].transaction is None
    assert (lost.stop_reason, lost.ended_at) == ("Reboot", lost.meter_last_at)
    await sim.status(EVSE["id"], EVSE["connectorId"], "Available", _before_the_lost_one(31))
    assert h.charger.connectors[1].status is ConnectorStatus.AVAILABLE


async def test_an_offline_session_on_the_other_evse_leaves_the_open_one_running(
    h: Harness,
) -> None:
    """EVSE 2's "1" from an offline queue, stamped before EVSE 1's "1" began: its own session,
    and EVSE 1's runs on (a station that numbers per EVSE sends an old session of EVSE 2)."""
    _, lost = await _lost_then_evse_2_session(h, offline=True)
    assert h.charger.connectors[1].transaction is lost
    assert lost.ended_at is None
