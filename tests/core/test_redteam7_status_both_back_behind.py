"""Red team 7 (669f114, statuses): a charger whose clock is 2 min behind ours stamps its statuses
live (1.6 and 2.x); no meter values yet (a car plugged in, no session: nothing but the status
received with it). Both clocks go back an hour at once (each keeps local time as UTC: the end of
summer time). The car leaves 20 s later: its live Available must show (Available: unplugged, for
the current control and the energy manager).

``status_order.lead_s`` of a status shown alone is at least 0 (the charger's lead unknown); the
Available's stamp lies 120 s behind our clock, "taken 120 s before it came" by that lead, more
than the 30 s since the Preparing came: 669f114's second condition of the step branch
(``lag_s <= since_s``) drops it. Before (259cd6f) a stamp no further ahead than the lead was
taken. With a reading received with the status (its offset -120 s) the lead is -120 s and the
Available shows: the pin below. Fixed: shown alone, the lead may be as low as the shown status's
own offset (it came live).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from custom_components.ocpp_ems.core.model import ConnectorStatus

from .test_time_hostile import energy, our_clock
from .v16_harness import Harness, now_iso

BEHIND_S = 120
STEP = timedelta(hours=1)


async def send(h: Harness, charger: Any, status: str) -> None:
    """``status`` stamped live by the charger's clock, :data:`BEHIND_S` behind ours."""
    if h.subprotocol == "ocpp1.6":
        await charger.status(1, status, timestamp=now_iso(-BEHIND_S))
    else:
        await charger.status(1, 1, status, now_iso(-BEHIND_S))


async def unplugged_after_both_went_back(h: Harness, plugged: str, *, reading: bool) -> None:
    charger = await h.charger_client(boot=False)
    with our_clock() as clock:
        if reading:
            await charger.meter(1, energy(10_000), timestamp=now_iso(-BEHIND_S))
        await send(h, charger, plugged)
        assert h.charger.connector(1).status.plugged_in
        clock.tick(10)
        clock.step(-STEP)
        clock.tick(20)
        await send(h, charger, "Available")
    assert h.charger.connector(1).status is ConnectorStatus.AVAILABLE


async def test_v16_a_live_available_after_both_clocks_went_back_shows(h_cp1: Harness) -> None:
    await unplugged_after_both_went_back(h_cp1, "Preparing", reading=False)


async def test_v2x_a_live_available_after_both_clocks_went_back_shows(h2: Harness) -> None:
    """2.0.1 and 2.1 (``h2``)."""
    await unplugged_after_both_went_back(h2, "Occupied", reading=False)


async def test_v16_with_a_reading_the_live_available_shows(h_cp1: Harness) -> None:
    """Pin (correct): a reading received with the Preparing shows the clock 2 min behind."""
    await unplugged_after_both_went_back(h_cp1, "Preparing", reading=True)
