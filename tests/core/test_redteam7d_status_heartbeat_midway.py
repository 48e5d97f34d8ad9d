"""Red team 7d pin (correct): a 1.6 charger that stamps everything, its clock 1, 4 or 10 min
ahead of ours, charging at 22 kW. Our Heartbeat answer sets its clock right midway; 30 s later it
sends a live Finishing stamped by the corrected clock, before every stamp it sent so far. It
shows and clears the power: ``ChargerState._clock_sent`` pulled the shown status's and reading's
stamps back to the answer's time (under MAX_CLOCK_AHEAD_S), ``status_order.taken_after``'s
"clock came right" rule orders it after the reading of a clock too far ahead (10 min: replaced
stamps).
"""

from __future__ import annotations

import pytest
from ocpp.v16 import call

from custom_components.ocpp_ems.core.model import ConnectorStatus

from .test_time_hostile import CAR_W, energy, our_clock
from .v16_harness import Harness, now_iso

POWER = {"value": str(CAR_W), "measurand": "Power.Active.Import", "unit": "W"}


@pytest.mark.parametrize("lead_s", [60, 240, 600], ids=["1_min", "4_min", "10_min"])
async def test_a_live_finishing_after_our_heartbeat_set_the_clock_right_shows(
    h_cp1: Harness, lead_s: float
) -> None:
    with our_clock() as clock:
        sim = await h_cp1.charger_client(boot=False)
        started = await sim.start_tx(meter=10_000, timestamp=now_iso(lead_s - 60))
        await sim.status(1, "Charging", timestamp=now_iso(lead_s))
        tx = started.transaction_id
        await sim.meter(1, [*energy(10_200), POWER], tx, timestamp=now_iso(lead_s))
        clock.tick(60)
        await sim.meter(1, [*energy(10_570), POWER], tx, timestamp=now_iso(lead_s))
        await sim.call(call.Heartbeat())
        clock.tick(30)
        await sim.status(1, "Finishing", timestamp=now_iso())
    connector = h_cp1.charger.connector(1)
    assert (connector.status, connector.meter.power_w) == (ConnectorStatus.FINISHING, 0.0)
