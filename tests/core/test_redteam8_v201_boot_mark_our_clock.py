"""Red team 8b (e85e5bb): ``tx_boot_mark.written_since_boot`` compared a queued message's stamp
with ``Charger._booted_at``, the time of day by OUR clock when the BootNotification came. Our
clock may be wrong then and set right before the queue comes: a Home Assistant host without a
real-time clock (a Raspberry Pi) starts after a house power cut at the time it last saved and
NTP corrects it minutes later, while the station, cut by the same power loss, boots at once.

The station lost "1" (EVSE 1) in the power cut; its queue of "1", written before the cut and
flagged offline, comes after NTP set our clock right, then EVSE 2 starts the id again (the
station numbers from the start again). The queue's stamp lay an hour after the boot by the
wrong clock: "written after the boot", the mark cleared, the lost "1" stayed open (432c52b: ended
as Reboot, EVSE 2's session its own). Our clock ahead at the boot and set back did the reverse:
a queue of the session the station kept, written after the boot, lay "before" it, and the kept
session was ended as Reboot. Fixed: the boot's time is moved by the step our clock took since
(``tx_boot_mark.boot_time_now``, ``meter_time.clock_step_s``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from custom_components.ocpp_ems.core.meter_time import MAX_CLOCK_AHEAD_S
from custom_components.ocpp_ems.core.protocol.v201.transactions import STOPPED_BY_REBOOT

from .test_time_hostile import our_clock
from .test_v201_boot_mark_written_after_boot import reboot
from .test_v201_reused_id_clock_back import EVSE, _ago
from .v201_harness import V201Harness as Harness
from .v201_reuse import (
    EVSE_1_BEGIN_WH,
    EVSE_1_QUEUED_WH,
    EVSE_1_SENT_WH,
    EVSE_2,
    EVSE_2_BEGIN_WH,
    cable_started,
    periodic_updated,
    send,
)

# How far our clock was off (ahead > 0) when the BootNotification came, until NTP set it right.
OUR_CLOCK_OFF = {"behind": -timedelta(hours=1), "ahead": timedelta(hours=1)}
# When the queued Updated of "1" was written, by the station's (right) clock: just before the
# power cut, or after the boot by twice what a clock may lead ours unrecorded.
WRITTEN = {"before_the_boot": -10.0, "after_the_boot": 2 * MAX_CLOCK_AHEAD_S}
# How long after the boot the queue is sent: after it was written.
SENT_AFTER_BOOT_S = 3 * MAX_CLOCK_AHEAD_S


@pytest.fixture
def h(h2: Harness) -> Harness:
    return h2


@pytest.mark.parametrize("our_clock_was", sorted(OUR_CLOCK_OFF))
@pytest.mark.parametrize(
    ("written", "kept"), [("before_the_boot", False), ("after_the_boot", True)]
)
async def test_only_a_queue_written_after_the_boot_keeps_the_session_across_our_clock_step(
    h: Harness, our_clock_was: str, written: str, kept: bool
) -> None:
    """Was: behind / written before, the lost "1" stayed open; ahead / written after, the kept
    "1" was ended as Reboot."""
    sim = await h.charger_client(boot=True)
    await send(sim, cable_started(EVSE_1_BEGIN_WH, _ago(60), evse=EVSE))
    await send(sim, periodic_updated(1, EVSE_1_SENT_WH, _ago(50)))
    running = h.charger.connectors[1].transaction
    assert running is not None
    with our_clock() as clock:
        boot = datetime.now(UTC)  # the right time
        queued = (boot + timedelta(seconds=WRITTEN[written])).isoformat()
        clock.step(OUR_CLOCK_OFF[our_clock_was])  # our clock wrong as the station boots
        await reboot(h, sim)
        clock.step(-OUR_CLOCK_OFF[our_clock_was])  # NTP sets it right
        clock.tick(SENT_AFTER_BOOT_S)
        await send(sim, periodic_updated(2, EVSE_1_QUEUED_WH, queued, offline=True))
        await send(sim, cable_started(EVSE_2_BEGIN_WH, _ago(0), evse=EVSE_2))
    evse_1 = h.charger.connectors[1].transaction
    if kept:
        assert evse_1 is running, "the session the station kept was ended"
        assert running.stop_reason is None
    else:
        assert evse_1 is None, "EVSE 1's lost session stayed open"
        assert running.stop_reason == STOPPED_BY_REBOOT
    assert h.charger.connectors[2].transaction is not None
