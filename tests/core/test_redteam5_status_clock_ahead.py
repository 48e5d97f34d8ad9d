"""Red team 5: statuses (efe1f2d, ``taken_after``) after OUR clock stepped back
(an NTP correction of Home Assistant's host) while the charger's clock did not.

1. A charger whose clock is ahead of ours, where the shown status's time is the time we received
   it (a clock more than ``MAX_CLOCK_AHEAD_S`` ahead, or a 1.6 status sent without a timestamp),
   and our step is longer than its lead. Its clock never moves: its live statuses are stamped
   later than every status before them by its own clock. ``taken_after`` compares such a
   status's own stamp with the shown status's *effective* time (our clock before the step), and
   that time's offset (0: a reception time) with the new stamp's (the whole lead): every live
   status is taken for one queued before the shown one until our clock has made up the step
   minus the lead. Before efe1f2d each was taken (``later_s`` >= 0): a regression.
2. efe1f2d's own case (a status queued before the shown one, sent late) with the charger on the
   true time and our clock ahead of it until the step (the usual way our clock steps back: it
   was wrong, the charger's was not): the charger looked behind ours, the shown status's offset
   is clamped at 0, so the queued status passes (as before efe1f2d): the fix does not reach it.

Both fixed: ``taken_after`` compares the charger's own stamps (``Connector._status_stamp``; a
status sent without one is ordered by its time alone) and their leads as they were, also below 0.
The 2.x routes of case 1: test_status_clock_ahead_v201.py.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from custom_components.ocpp_ems.core.model import ConnectorStatus

from .test_time_hostile import CAR_W, energy, our_clock
from .v16_harness import Harness, now_iso

OUR_STEP_BACK_S = 3600
# The charger's clock ahead of ours (s), and whether its Charging carries a timestamp: beyond
# MAX_CLOCK_AHEAD_S (300 s: its stamps are replaced by the time we receive them), or within it
# with a Charging sent without one (optional in 1.6: the time we receive it stands for it).
CASES = {"10_min_ahead": (600, True), "2_min_ahead_untimed_charging": (120, False)}


@pytest.fixture
def h(h_cp1: Harness) -> Harness:
    return h_cp1


@pytest.mark.parametrize(("lead_s", "stamped"), CASES.values(), ids=CASES.keys())
async def test_live_statuses_of_a_clock_ahead_are_taken_after_our_clock_went_back(
    h: Harness, lead_s: int, stamped: bool
) -> None:
    """22 kW charging, the charger's clock ahead of ours all along. Our clock goes back an hour.
    The car is unplugged: the charger's live Finishing then Available (stamped by its clock,
    later than its Charging) must show, and clear the power."""
    sim = await h.charger_client(boot=False)
    started = await sim.start_tx(meter=10_000, timestamp=now_iso(lead_s - 60))
    await sim.status(1, "Charging", **({"timestamp": now_iso(lead_s)} if stamped else {}))
    power = {"value": str(CAR_W), "measurand": "Power.Active.Import", "unit": "W"}
    await sim.meter(
        1,
        [*energy(10_400), power],
        transaction_id=started.transaction_id,
        timestamp=now_iso(lead_s),
    )
    connector = h.charger.connector(1)
    assert connector.status is ConnectorStatus.CHARGING
    with our_clock() as clock:
        clock.tick(10)
        clock.step(-timedelta(seconds=OUR_STEP_BACK_S))
        clock.tick(60)
        await sim.status(1, "Finishing", timestamp=now_iso(lead_s))
        clock.tick(30)
        await sim.status(1, "Available", timestamp=now_iso(lead_s))
    assert (connector.status, connector.meter.power_w) == (ConnectorStatus.AVAILABLE, 0.0)


# Our clock ran an hour ahead (a host clock kept in local time, say) and NTP corrects it; the
# charger keeps the true time by its own time source: behind ours by the step until then.
LAG_S = OUR_STEP_BACK_S
QUEUED_BEFORE_S = 60


async def test_a_queued_status_of_a_clock_behind_stays_out_after_our_clock_went_back(
    h: Harness,
) -> None:
    """efe1f2d's case with the charger's clock on the true time (its own NTP, never set by our
    Heartbeat) while ours ran an hour ahead: 22 kW charging; NTP takes our clock back the hour,
    the charger's stays; a Preparing it queued a minute before the Charging arrives late. The
    car still charges: Charging and 22 kW stay shown (they do for a charger whose clock ran in
    step with ours)."""
    sim = await h.charger_client(boot=False)
    started = await sim.start_tx(meter=10_000, timestamp=now_iso(-LAG_S - 60))
    await sim.status(1, "Charging", timestamp=now_iso(-LAG_S))
    power = {"value": str(CAR_W), "measurand": "Power.Active.Import", "unit": "W"}
    await sim.meter(
        1,
        [*energy(10_400), power],
        transaction_id=started.transaction_id,
        timestamp=now_iso(-LAG_S),
    )
    with our_clock() as clock:
        clock.tick(10)
        clock.step(-timedelta(seconds=OUR_STEP_BACK_S))
        clock.tick(5)
        # The charger's clock reads ours now; the Charging was stamped 15 s ago by it.
        charging_at = OUR_STEP_BACK_S - LAG_S - 15
        await sim.status(1, "Preparing", timestamp=now_iso(charging_at - QUEUED_BEFORE_S))
    connector = h.charger.connector(1)
    assert (connector.status, connector.meter.power_w) == (ConnectorStatus.CHARGING, CAR_W)
