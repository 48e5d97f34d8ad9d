"""Red team of statuses after Home Assistant's clock went back (an NTP correction), on 2.x: a
station that stamps by our clock reports its EVSE an hour "before" the report of a minute ago. Its
chargingState (TransactionEvent) and its StatusNotification are news, not reports queued from the
past, as a 1.6 status is (``charger_state.record_status``, ``meter_time.later_s``): they were dropped,
so the connector showed Charging and the car's 22 kW after the car was full and unplugged."""

from __future__ import annotations

from datetime import timedelta

import pytest

from custom_components.ocpp_ems.core.model import ConnectorStatus

from .test_time_hostile import our_clock
from .v16_harness import Harness
from .v201_charging import charging_station


@pytest.fixture
def h(h2: Harness) -> Harness:
    """2.0.1 and 2.1 (``h2``, conftest.py)."""
    return h2


async def test_2x_statuses_after_our_clock_went_back_are_taken(h: Harness) -> None:
    """Charging at 22 kW; our clock goes back an hour; the car is full (SuspendedEV), then
    unplugged (the transaction ends, the connector Available), each stamped by our clock: every
    status is taken, and the power shown drops at the unplug."""
    station = await charging_station(h)
    connector = h.charger.connector(1)
    with our_clock() as clock:
        clock.tick(10)
        clock.step(-timedelta(hours=1))
        clock.tick(20)
        await station.tx_event(
            "Updated", "T1", trigger_reason="ChargingStateChanged", charging_state="SuspendedEV"
        )
        assert connector.status is ConnectorStatus.SUSPENDED_EV
        clock.tick(20)
        await station.tx_event(
            "Ended", "T1", trigger_reason="EVCommunicationLost", stopped_reason="EVDisconnected"
        )
        await station.status(1, 1, "Available")
        assert connector.status is ConnectorStatus.AVAILABLE
        assert connector.meter.power_w in (None, 0.0)
