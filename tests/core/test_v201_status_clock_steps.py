"""OCPP 2.x: a status the station queued before the one shown, sent late after OUR clock stepped
back (the station's clock did not), does not replace the live status nor clear the live power
(``status_order.taken_after`` is shared by both versions; the 1.6 cases are in
test_v16_status_clock_steps.py)."""

from datetime import timedelta

import pytest

from custom_components.ocpp_ems.core.model import ConnectorStatus

from .test_time_hostile import CAR_W, our_clock
from .v16_harness import Harness, now_iso
from .v201_charging import charging_station


@pytest.fixture
def h(h2: Harness) -> Harness:
    return h2


@pytest.mark.parametrize("back_s", [240, 3600])
async def test_a_queued_status_after_our_clock_went_back_stays_out(h: Harness, back_s: int) -> None:
    station = await charging_station(h)
    connector = h.charger.connector(1)
    with our_clock() as clock:
        clock.tick(10)
        clock.step(-timedelta(seconds=back_s))
        clock.tick(5)
        # Stamped by the station's clock (not stepped) a minute before the session's start.
        await station.status(1, 1, "Available", now_iso(back_s - 15 - 60))
        assert (connector.status, connector.meter.power_w) == (ConnectorStatus.CHARGING, CAR_W)
