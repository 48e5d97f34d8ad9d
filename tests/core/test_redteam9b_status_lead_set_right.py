"""Red team 9b on 25192a5 (a small lead of the charger's clock, confirmed by its live readings,
orders untimed 1.6 statuses): a clock a few minutes ahead (under ``MAX_CLOCK_AHEAD_S``) that its
own NTP sets right (no Heartbeat answer of ours clears the lead) while the car is away. The car
leaves (untimed Available); a minute later the next car plugs in and charges: Preparing,
StartTransaction, Charging stamped by the clock now on ours, live 22 kW readings every 10 s.

The commit pinned this cost for 30 s (``test_status_small_lead.test_a_clock_set_right_on_its_own``:
one status dropped "until the charger's next status"); with a lead of minutes the whole start of
the next session lies inside the old lead, and a charging charger sends no next status: it
showed (Available, 22000 W) three minutes into the session (a04ba98: Charging).

Fixed: the latest status dropped only by the lead is ordered again by the next offset live
readings confirm (``ConnectorStatuses._retake_held_status``): Charging at the session's second reading
(test_status_lead_stale.py).
"""

from __future__ import annotations

from custom_components.ocpp_ems.core.model import ConnectorStatus

from .test_redteam7d_status_untimed_small_lead import stamp
from .test_status_lag_small import READING_INTERVAL_S, START_WH
from .test_status_small_lead import POWER, lead_confirmed
from .test_time_hostile import CAR_W, energy, our_clock
from .v16_harness import Harness

FOUR_MIN_AHEAD_S = 240


async def test_a_session_after_the_clock_went_right_shows_charging(h_cp1: Harness) -> None:
    with our_clock() as clock:
        sim = await lead_confirmed(h_cp1, clock, FOUR_MIN_AHEAD_S)
        # Its own NTP sets the clock right; the car leaves: its status now, untimed.
        await sim.status(1, "Available")
        clock.tick(60)
        await sim.status(1, "Preparing", timestamp=stamp(0))
        started = await sim.start_tx(meter=START_WH, timestamp=stamp(0))
        await sim.status(1, "Charging", timestamp=stamp(0))
        for index in range(1, 19):  # three minutes of live readings on our clock
            clock.tick(READING_INTERVAL_S)
            register = [*energy(START_WH + 60 * index), POWER]
            await sim.meter(1, register, started.transaction_id, timestamp=stamp(0))
    connector = h_cp1.charger.connector(1)
    assert (connector.status, connector.meter.power_w) == (ConnectorStatus.CHARGING, CAR_W)
