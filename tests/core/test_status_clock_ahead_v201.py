"""OCPP 2.x: a station whose clock runs further ahead of ours than ``MAX_CLOCK_AHEAD_S`` (its
stamps stand for the time we receive them) keeps its lead when our clock steps back an hour. Its
live reports after the step, a TransactionEvent's chargingState and a StatusNotification, are
stamped later than every report before them by its clock: they are taken at once, and an unplug
clears the car's power (``status_order.taken_after`` compares the station's own stamps; they
were dropped for the hour minus its lead). The 1.6 route: test_redteam5_status_clock_ahead.py."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from custom_components.ocpp_ems.core.meter_time import MAX_CLOCK_AHEAD_S
from custom_components.ocpp_ems.core.model import ConnectorStatus

from .test_time_hostile import our_clock
from .v16_harness import Harness, now_iso
from .v201_charging import charging_station

LEAD_S = 2 * MAX_CLOCK_AHEAD_S  # the station's clock ahead of ours, all along
OUR_STEP_BACK_S = 3600


@pytest.fixture
def h(h2: Harness) -> Harness:
    """2.0.1 and 2.1 (``h2``, conftest.py)."""
    return h2


async def charging(h: Harness) -> Any:
    """22 kW charging, reported by a station whose clock runs :data:`LEAD_S` ahead of ours."""
    station = await charging_station(h, LEAD_S)
    assert h.charger.clock_skew_s == pytest.approx(LEAD_S, abs=2)
    return station


async def test_a_charging_state_after_our_clock_went_back_is_taken(h: Harness) -> None:
    """The car is full a minute after our step: the station's SuspendedEV shows."""
    station = await charging(h)
    with our_clock() as clock:
        clock.tick(10)
        clock.step(-timedelta(seconds=OUR_STEP_BACK_S))
        clock.tick(60)
        await station.tx_event(
            "Updated",
            "T1",
            trigger_reason="ChargingStateChanged",
            charging_state="SuspendedEV",
            timestamp=now_iso(LEAD_S),
        )
    assert h.charger.connector(1).status is ConnectorStatus.SUSPENDED_EV


async def test_a_status_notification_after_our_clock_went_back_is_taken(h: Harness) -> None:
    """The car is unplugged a minute after our step: the station's Available shows (it reports
    the connector before the transaction's end), and the car's 22 kW are gone."""
    station = await charging(h)
    with our_clock() as clock:
        clock.tick(10)
        clock.step(-timedelta(seconds=OUR_STEP_BACK_S))
        clock.tick(60)
        await station.status(1, 1, "Available", now_iso(LEAD_S))
    connector = h.charger.connector(1)
    assert (connector.status, connector.meter.power_w) == (ConnectorStatus.AVAILABLE, 0.0)
