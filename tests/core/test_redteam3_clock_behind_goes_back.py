"""Red team (3) of the live values shown (meter._before_shown) for a charger whose clock is BEHIND
ours and goes back: a 1.6 charger keeping local time as UTC west of Greenwich (New York: five
hours behind in winter, four in summer time) at the end of summer time. Its stamps are never
replaced (meter.effective_time replaces only a clock too far ahead), so the first live reading
after the change is stamped an hour before the values shown and taken for history: the car's
power shown stays the old one for an hour (the energy manager regulates by it), while the same
change on a clock ahead keeps the values live (test_meter_history_shown.py). Its energy counts.
"""

from __future__ import annotations

import pytest

from .test_energy_quirks import energy16
from .test_meter_history_shown import LIVE, NEXT, QUEUED, assert_shown, flow
from .test_time_hostile import START_WH
from .v16_harness import Harness, now_iso

HOUR_S = 3600.0
BEHIND_S = -4 * HOUR_S  # the charger's clock in summer time: four hours behind ours


@pytest.fixture
def h(h_cp1: Harness) -> Harness:
    return h_cp1


async def test_a_clock_behind_that_goes_back_an_hour_keeps_its_live_values_shown(
    h: Harness,
) -> None:
    sim = await h.charger_client(boot=False)
    tx = (await sim.start_tx(meter=START_WH, timestamp=now_iso(BEHIND_S - 600))).transaction_id
    await sim.meter(1, [energy16(START_WH), *flow(LIVE)], tx, now_iso(BEHIND_S - 20))
    await sim.meter(1, [energy16(START_WH + 50), *flow(LIVE)], tx, now_iso(BEHIND_S))
    # The end of summer time: five hours behind from now on.
    await sim.meter(
        1, [energy16(START_WH + 100), *flow(QUEUED)], tx, now_iso(BEHIND_S - HOUR_S + 20)
    )
    assert h.charger.connector(1).session_energy_wh == 100
    assert_shown(h, QUEUED)
    await sim.meter(1, [energy16(START_WH + 150), *flow(NEXT)], tx, now_iso(BEHIND_S - HOUR_S + 40))
    assert_shown(h, NEXT)
