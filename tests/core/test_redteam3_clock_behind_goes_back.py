"""Red team (3) of the live values shown (meter._before_shown) for a charger whose clock is BEHIND
ours and goes back: a 1.6 charger keeping local time as UTC west of Greenwich (New York: five
hours behind in winter, four in summer time) at the end of summer time. Its stamps are never
replaced (meter_time.effective_time replaces only a clock too far ahead), so the first live reading
after the change is stamped an hour before the values shown (and before those shown before them).
Taken for history, the car's power shown would stay the old one for an hour (the energy manager
regulates by it). Its register, risen past the one read with the values shown, proves it taken
after them (meter._register_proves_after): its values are shown at once; its energy counts.
"""

from __future__ import annotations

import pytest

from .test_meter_history_shown import LIVE, NEXT, QUEUED, assert_shown, next_reading
from .test_time_hostile import START_WH, our_clock
from .v16_harness import Harness, now_iso

HOUR_S = 3600.0
BEHIND_S = -4 * HOUR_S  # the charger's clock in summer time: four hours behind ours


@pytest.fixture
def h(h_cp1: Harness) -> Harness:
    return h_cp1


async def test_a_clock_behind_that_goes_back_an_hour_keeps_its_live_values_shown(
    h: Harness,
) -> None:
    """A reading every 20 s; the first after the change is shown at once (its register rose past
    the one shown), and so is every one after it (stamped after the one before)."""
    sim = await h.charger_client(boot=False)
    register = START_WH
    with our_clock() as clock:
        tx = (await sim.start_tx(meter=START_WH, timestamp=now_iso(BEHIND_S - 600))).transaction_id
        for _ in range(2):
            register = await next_reading(sim, clock, tx, register, BEHIND_S, LIVE)
        # The end of summer time: five hours behind from now on.
        register = await next_reading(sim, clock, tx, register, BEHIND_S - HOUR_S, QUEUED)
        assert h.charger.connector(1).session_energy_wh == 150
        assert_shown(h, QUEUED)
        register = await next_reading(sim, clock, tx, register, BEHIND_S - HOUR_S, NEXT)
        assert_shown(h, NEXT)
        register = await next_reading(sim, clock, tx, register, BEHIND_S - HOUR_S, QUEUED)
        assert_shown(h, QUEUED)
    assert h.charger.connector(1).session_energy_wh == register - START_WH
