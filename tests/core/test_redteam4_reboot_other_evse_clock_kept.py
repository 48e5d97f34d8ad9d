"""Red team (4) of a 2.x transaction lost in a reboot (tx_boot_mark.lost_in_reboot, 09ca23a) on a
station with two EVSEs and a clock that keeps the time (a real-time clock, NTP).

The station numbers its transactions from 1 again after a reboot. Session "1" runs on EVSE 1
(1,000 -> 1,500 Wh); the power fails, the station boots again (BootNotification, reason PowerUp)
without it (its Ended never comes) and the next car starts "1" on EVSE 2, stamped now, seqNo 0.
On EVSE 1 that Started ends the lost session (_counts_again: a seqNo below its highest, stamped
after it was last known to run); on EVSE 2 only one stamped before the lost one began does (a
clock that went back), so here EVSE 1's session stays open for good: a car "charging" on
EVSE 1 for the energy manager, its session never booked. The boot between its last message and
the new Started tells the reboot apart from a station that numbers its transactions per EVSE.
A station that kept the session through the boot says so with its next message of it, which
takes that back: a Started on EVSE 2 after it leaves EVSE 1's session running.
"""

from __future__ import annotations

import pytest

from .test_v201_reused_id_clock_back import EVSE, _ago
from .v201_harness import V201Harness as Harness
from .v201_reuse import (
    EVSE_1_BEGIN_WH,
    EVSE_2,
    EVSE_2_BEGIN_WH,
    EVSE_SESSION_WH,
    OpenSession,
    Station,
    cable_started,
    open_session_then_reboot,
    periodic_updated,
    send,
)


@pytest.fixture
def h(h2: Harness) -> Harness:
    return h2


async def _session_on_evse_1_then_boot(h: Harness) -> OpenSession:
    """EVSE 1's "1" (Started, Updated: 500 Wh), then a BootNotification."""
    begin, middle = _ago(40), _ago(20)
    started = cable_started(EVSE_1_BEGIN_WH, begin, evse=EVSE, charging_state="Charging")
    updated = periodic_updated(1, EVSE_1_BEGIN_WH + EVSE_SESSION_WH, middle, evse=EVSE)
    return await open_session_then_reboot(h, [started, updated])


async def _evse_2_started(h: Harness, sim: Station) -> None:
    """ "1" on EVSE 2, stamped now, seqNo 0: EVSE 2's own session."""
    await send(sim, cable_started(EVSE_2_BEGIN_WH, _ago(1), evse=EVSE_2, charging_state="Charging"))
    assert h.charger.connectors[2].transaction is not None


async def test_a_session_lost_in_a_reboot_ends_when_the_next_starts_on_the_other_evse(
    h: Harness,
) -> None:
    opened = await _session_on_evse_1_then_boot(h)
    lost = opened.transaction
    await _evse_2_started(h, opened.station)
    assert (lost.stop_reason, lost.energy_wh) == ("Reboot", EVSE_SESSION_WH)
    assert h.charger.connectors[1].transaction is None


async def test_a_session_kept_through_the_boot_runs_on_beside_the_other_evses(
    h: Harness,
) -> None:
    """The station sends EVSE 1's "1" on after the boot (it kept it), then numbers EVSE 2's
    session "1" too (per EVSE): EVSE 1's session runs on and counts its own energy."""
    opened = await _session_on_evse_1_then_boot(h)
    sim, kept = opened.station, opened.transaction
    await send(sim, periodic_updated(2, EVSE_1_BEGIN_WH + 2 * EVSE_SESSION_WH, _ago(10), evse=EVSE))
    await _evse_2_started(h, sim)
    assert h.charger.connectors[1].transaction is kept
    assert (kept.ended_at, kept.energy_wh) == (None, 2 * EVSE_SESSION_WH)
