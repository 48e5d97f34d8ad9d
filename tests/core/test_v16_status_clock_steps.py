"""1.6 statuses when one of the two clocks steps back (an NTP correction).

Our clock (Home Assistant's) goes back while the charger's does not (its own time source, or our
Heartbeat answer has not set it yet): a status the charger queued before the one shown and sends
late is still older by its own stamps, which our clock's step says nothing about. Taken for news
"before" the shown one only because our clock went back (``meter_time.later_s``), it showed Preparing
while the car charged, and cleared the car's power the energy manager reads.

The mirror case, the charger's clock going back while ours does not: a queued status stays out by
its stamps, and the live ones are taken once our Heartbeat answer set the charger's clock.
``test_time_hostile_status.py`` holds the case where the charger's clock follows ours at once.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from ocpp.v16 import call

from custom_components.ocpp_ems.core.model import ConnectorStatus

from .test_time_hostile import CAR_W, energy, our_clock
from .v16_harness import Harness, SimCharger, now_iso

# Within MAX_CLOCK_AHEAD_S (the charger's stamps stay its times), and beyond it (they are replaced
# by the time we receive them).
OUR_STEPS_BACK_S = (240, 3600)
# How long before the shown status the late one was queued (s).
QUEUED_BEFORE_S = 60


@pytest.fixture
def h(h_cp1: Harness) -> Harness:
    return h_cp1


async def charging(h: Harness) -> SimCharger:
    """A 22 kW session, its Charging status and its power just reported by a live charger."""
    sim = await h.charger_client(boot=False)
    started = await sim.start_tx(meter=10_000, timestamp=now_iso(-60))
    await sim.status(1, "Charging", timestamp=now_iso())
    power = {"value": str(CAR_W), "measurand": "Power.Active.Import", "unit": "W"}
    await sim.meter(1, [*energy(10_400), power], transaction_id=started.transaction_id)
    return sim


def assert_charging(h: Harness) -> None:
    connector = h.charger.connector(1)
    assert (connector.status, connector.meter.power_w) == (ConnectorStatus.CHARGING, CAR_W)


@pytest.mark.parametrize("back_s", OUR_STEPS_BACK_S)
async def test_a_queued_status_after_our_clock_went_back_stays_out(h: Harness, back_s: int) -> None:
    """Charging; our clock goes back, the charger's does not: a Preparing it queued a minute
    before the Charging (stamped by its clock, now ``back_s`` ahead of ours) arrives. The car
    still charges: the status and the power shown stay. The charger's next live status is
    taken."""
    sim = await charging(h)
    with our_clock() as clock:
        clock.tick(10)
        clock.step(-timedelta(seconds=back_s))
        clock.tick(5)
        # The charger's clock reads ours + back_s; the Charging was stamped 15 s ago by it.
        queued_at = now_iso(back_s - 15 - QUEUED_BEFORE_S)
        await sim.status(1, "Preparing", timestamp=queued_at)
        assert_charging(h)
        clock.tick(20)
        await sim.status(1, "SuspendedEV", timestamp=now_iso(back_s))
        assert h.charger.connector(1).status is ConnectorStatus.SUSPENDED_EV


@pytest.mark.parametrize("back_s", OUR_STEPS_BACK_S)
async def test_a_queued_status_after_our_clock_went_back_keeps_the_live_power(
    h: Harness, back_s: int
) -> None:
    """A session reports 22 kW, no status yet; our clock goes back, the charger's does not: a
    Preparing it queued a minute before the reading arrives. It is the connector's status (none
    was shown), but older than the reading: the car's 22 kW stay shown."""
    sim = await h.charger_client(boot=False)
    started = await sim.start_tx(meter=10_000, timestamp=now_iso(-60))
    power = {"value": str(CAR_W), "measurand": "Power.Active.Import", "unit": "W"}
    await sim.meter(1, [*energy(10_400), power], transaction_id=started.transaction_id)
    with our_clock() as clock:
        clock.tick(10)
        clock.step(-timedelta(seconds=back_s))
        clock.tick(5)
        await sim.status(1, "Preparing", timestamp=now_iso(back_s - 15 - QUEUED_BEFORE_S))
    connector = h.charger.connector(1)
    assert (connector.status, connector.meter.power_w) == (ConnectorStatus.PREPARING, CAR_W)


async def test_after_the_chargers_clock_went_back_its_statuses_follow_its_stamps(
    h: Harness,
) -> None:
    """Charging; the charger's clock goes back an hour, ours does not: a Preparing it queued a
    minute before the Charging (stamped by its clock then) stays out. Its live SuspendedEV,
    stamped an hour before the Charging, cannot be told from a status queued an hour ago: it
    stays out too, until our Heartbeat answer set its clock; its live Finishing then is taken."""
    sim = await charging(h)
    with our_clock() as clock:
        clock.tick(10)
        await sim.status(1, "Preparing", timestamp=now_iso(-10 - QUEUED_BEFORE_S))
        assert_charging(h)
        clock.tick(10)
        await sim.status(1, "SuspendedEV", timestamp=now_iso(-3600))
        assert_charging(h)
        await sim.call(call.Heartbeat())
        await sim.call(call.Heartbeat())
        clock.tick(10)
        await sim.status(1, "Finishing", timestamp=now_iso())
    connector = h.charger.connector(1)
    assert (connector.status, connector.meter.power_w) == (ConnectorStatus.FINISHING, 0.0)
