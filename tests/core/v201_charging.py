"""Test plumbing: a 2.x station charging a car on EVSE 1, the start of the status tests that then
move our clock or the station's (test_*status_clock*_v201.py)."""

from __future__ import annotations

from typing import Any

from custom_components.ocpp_ems.core.model import ConnectorStatus

from .test_time_hostile import CAR_W
from .v16_harness import Harness, now_iso
from .v201_harness import sampled

EVSE = {"id": 1, "connectorId": 1}
TOKEN = {"idToken": "TAG1", "type": "ISO14443"}


async def charging_station(h: Harness, lead_s: float = 0.0) -> Any:
    """A station whose clock runs ``lead_s`` ahead of ours: EVSE 1 Occupied, then transaction
    "T1" Started, charging at :data:`CAR_W` (its reading stamped with the Started): the station
    (a ``v201_harness`` station)."""
    station = await h.charger_client(boot=False)
    await station.status(1, 1, "Occupied", now_iso(lead_s - 60))
    power = sampled(CAR_W, "Power.Active.Import", unit="W")
    await station.tx_event(
        "Started",
        "T1",
        evse=EVSE,
        id_token=TOKEN,
        charging_state="Charging",
        meter_value=[{"timestamp": now_iso(lead_s), "sampledValue": [power]}],
        timestamp=now_iso(lead_s),
    )
    connector = h.charger.connector(1)
    assert (connector.status, connector.meter.power_w) == (ConnectorStatus.CHARGING, CAR_W)
    return station
