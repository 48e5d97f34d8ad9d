"""1.6: the status shown carries a stamp older than its arrival (queued while the charger was
offline, or stamped when its state began), the charger's clock otherwise on ours, as its live
reading shows. Our clock steps back an hour and the charger's with it (one time source): its live
Finishing, stamped an hour before that old stamp, lies as far ahead of our clock as the live
reading's did: news (``status_order.taken_after`` takes the clock's lead from every stamp
received with the shown status, not from the shown one alone: that lies behind by its age)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from custom_components.ocpp_ems.core.model import ConnectorStatus

from .test_time_hostile import CAR_W, energy, our_clock
from .v16_harness import Harness, now_iso

STATUS_AGE_S = 300  # how old the shown Charging's stamp was when it arrived
OUR_STEP_BACK_S = 3600


@pytest.fixture
def h(h_cp1: Harness) -> Harness:
    return h_cp1


async def test_a_live_status_after_both_clocks_went_back_is_taken(h: Harness) -> None:
    sim = await h.charger_client(boot=False)
    started = await sim.start_tx(meter=10_000, timestamp=now_iso(-STATUS_AGE_S - 60))
    await sim.status(1, "Charging", timestamp=now_iso(-STATUS_AGE_S))
    power = {"value": str(CAR_W), "measurand": "Power.Active.Import", "unit": "W"}
    await sim.meter(
        1, [*energy(10_400), power], transaction_id=started.transaction_id, timestamp=now_iso()
    )
    connector = h.charger.connector(1)
    assert (connector.status, connector.meter.power_w) == (ConnectorStatus.CHARGING, CAR_W)
    with our_clock() as clock:
        clock.tick(10)
        clock.step(-timedelta(seconds=OUR_STEP_BACK_S))
        clock.tick(60)
        await sim.status(1, "Finishing", timestamp=now_iso())
    assert (connector.status, connector.meter.power_w) == (ConnectorStatus.FINISHING, 0.0)


async def test_without_a_reading_a_live_status_after_both_clocks_went_back_is_taken(
    h: Harness,
) -> None:
    """No reading tells the clock's lead (an idle outlet, its Available stamped when it began):
    a queued status and a clock behind ours look the same. Its live statuses are taken (the lead
    counts as at least 0): dropping them would keep the outlet's status for up to the step (an
    hour), a late queued one is replaced by its next status."""
    sim = await h.charger_client(boot=False)
    await sim.status(1, "Available", timestamp=now_iso(-STATUS_AGE_S))
    connector = h.charger.connector(1)
    with our_clock() as clock:
        clock.tick(10)
        clock.step(-timedelta(seconds=OUR_STEP_BACK_S))
        clock.tick(60)
        await sim.status(1, "Preparing", timestamp=now_iso())
    assert connector.status is ConnectorStatus.PREPARING
