"""A 2.x message written after the station's reboot shows it kept its transaction, flagged
offline or not (``tx_boot_mark.written_since_boot``, the boot mark of ``_on_open``).

"1" runs on EVSE 1, the station reboots (BootNotification) and keeps it, goes offline again and
queues an Updated of "1" ten minutes later, sends it, then EVSE 2 starts its own "1" (a station
numbering per EVSE that has not shown it yet). Only a live message cleared the mark: EVSE 1's
"1" was ended as Reboot though the station wrote of it after the boot (what it charged after
counted nowhere). A queue that may have been written before the boot still never clears it
(test_v201_resent_queue_after_boot): stamped within the lead a clock may have unrecorded, by a
clock known ahead at the boot or ahead of its arrival, or with a stamp that is no time (1970: a
clock not set)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from custom_components.ocpp_ems.core.meter_time import MAX_CLOCK_AHEAD_S
from custom_components.ocpp_ems.core.protocol.v201.transactions import STOPPED_BY_REBOOT

from .test_time_hostile import our_clock
from .test_v201_reused_id_clock_back import EVSE, _ago
from .v16_harness import wait_for
from .v201_harness import V201Harness as Harness
from .v201_reuse import (
    EVSE_1_BEGIN_WH,
    EVSE_1_QUEUED_WH,
    EVSE_1_SENT_WH,
    EVSE_2,
    EVSE_2_BEGIN_WH,
    Station,
    cable_started,
    periodic_updated,
    send,
)

# How long after the boot the queued Updated is sent, and how far the clock led before the boot.
SENT_AFTER_BOOT = timedelta(minutes=15)
LEAD_MIN = 10.0


@pytest.fixture
def h(h2: Harness) -> Harness:
    return h2


async def reboot(h: Harness, sim: Station) -> None:
    """The station boots (PowerUp) and is set up: a test that lets time pass within
    ``our_clock`` after it must have no message left on its way (its end sets our monotonic clock
    back: a rate limit would wait for it to come back where the test left it)."""
    booted = h.booted
    await sim.boot(reason="PowerUp")
    await wait_for(lambda: h.booted > booted)


def _after(boot: datetime, seconds: float) -> str:
    return (boot + timedelta(seconds=seconds)).isoformat()


@pytest.mark.parametrize(
    ("case", "kept"),
    [
        ("written_after_the_boot", True),
        ("within_an_unrecorded_lead", False),
        ("clock_known_ahead", False),
        ("ahead_of_its_arrival", False),
        ("no_time", False),
    ],
)
async def test_only_a_message_stamped_after_the_boot_shows_the_session_kept(
    h: Harness, case: str, kept: bool
) -> None:
    sim = await h.charger_client(boot=True)
    ahead = case == "clock_known_ahead"
    await send(sim, cable_started(EVSE_1_BEGIN_WH, _ago(60), evse=EVSE))
    await send(sim, periodic_updated(1, EVSE_1_SENT_WH, _ago(-LEAD_MIN if ahead else 50)))
    assert (h.charger.clock_skew_s is not None) is ahead  # the clock's lead was seen
    running = h.charger.connectors[1].transaction
    assert running is not None
    with our_clock() as clock:
        boot = datetime.now(UTC)
        stamps = {
            "written_after_the_boot": _after(boot, 2 * MAX_CLOCK_AHEAD_S),
            # Queued just before the boot by a clock that led ours by less than is recorded.
            "within_an_unrecorded_lead": _after(boot, MAX_CLOCK_AHEAD_S - 10),
            # Queued just before the boot by the clock that led by ten minutes.
            "clock_known_ahead": _after(boot, LEAD_MIN * 60 - 10),
            # Queued before the boot by a clock 20 min ahead that sent nothing live before.
            "ahead_of_its_arrival": _after(boot, SENT_AFTER_BOOT.total_seconds() + 1200),
            "no_time": "1970-01-01T00:00:00+00:00",
        }
        await reboot(h, sim)
        # Time passes (our clock and the monotonic one alike: a step of ours alone moves the
        # boot by as much, _written_since_boot); the event loop keeps real time, timers run on.
        clock.tick(SENT_AFTER_BOOT.total_seconds())
        await send(sim, periodic_updated(2, EVSE_1_QUEUED_WH, stamps[case], offline=True))
        await send(sim, cable_started(EVSE_2_BEGIN_WH, _ago(0), evse=EVSE_2))
    evse_1 = h.charger.connectors[1].transaction
    if kept:
        assert evse_1 is running, "the session the station kept was ended"
        assert running.stop_reason is None
    else:
        assert evse_1 is None, "EVSE 1's lost session stayed open"
        assert running.stop_reason == STOPPED_BY_REBOOT
    assert h.charger.connectors[2].transaction is not None
