"""Red team 7d (statuses, the flow): a 1.6 charger whose live StatusNotifications come untimed,
its MeterValues stamped by its clock (on ours, or 4 min behind: ``clock_skew_s`` -240 once live
readings confirmed it). No step of any clock.

While charging at 22 kW it goes offline; its queue keeps a 22 kW reading taken 30 s later. It
reconnects and sends its status now untimed (Finishing: the car stopped; Faulted), which clears
the flow; then it flushes the queued reading, taken BEFORE that status by its own clock. The
meter takes the reading (newer than the one it shows) and put 22 kW back: the flow showed again
under a no-flow status the reading predates, until the charger's next reading (Finishing often
sends none: the energy manager counted the 22 kW as the car's draw until the session ended). Now
a reading taken before the no-flow status shown clears the flow again
(``connector_status.flow_predates_status``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from custom_components.ocpp_ems.core.model import ConnectorStatus

from .test_redteam7d_status_untimed_small_lead import POWER, charging_then_offline, stamp
from .test_time_hostile import CAR_W, energy, our_clock
from .v16_harness import Harness
from .v201_harness import sampled

POWER_2X = "Power.Active.Import"
EVSE = {"id": 1, "connectorId": 1}
CLOCKS = {"on_ours": 0, "4_min_behind": -240}


@pytest.mark.parametrize("lead_s", CLOCKS.values(), ids=CLOCKS.keys())
@pytest.mark.parametrize("status", ["Finishing", "Faulted"])
async def test_a_queued_reading_older_than_a_live_no_flow_status_shows_no_flow(
    h_cp1: Harness, status: str, lead_s: float
) -> None:
    with our_clock() as clock:
        sim, tx, queued_at = await charging_then_offline(h_cp1, clock, lead_s, 10_570)
        assert h_cp1.charger.clock_skew_s == (lead_s or None)
        clock.tick(60)
        error = "GroundFailure" if status == "Faulted" else "NoError"
        await sim.status(1, status, error_code=error)  # reconnected: its status now, untimed
        assert h_cp1.charger.connector(1).meter.power_w == 0.0
        clock.tick(1)
        await sim.meter(1, [*energy(10_750), POWER], tx, timestamp=stamp(lead_s, queued_at))
    connector = h_cp1.charger.connector(1)
    assert (connector.status.value, connector.meter.power_w) == (status.lower(), 0.0)


def power_reading(wh: float, at: str) -> list[dict[str, Any]]:
    """A 2.x meterValue: the register and 22 kW, stamped ``at``."""
    samples = [sampled(wh, "Energy.Active.Import.Register", unit="Wh"), sampled(CAR_W, POWER_2X)]
    return [{"timestamp": at, "sampledValue": samples}]


async def test_v2x_a_queued_reading_older_than_a_live_faulted_shows_no_flow(h2: Any) -> None:
    """Pin (correct, unlike 1.6 above): 2.0.1 and 2.1, the station stamps everything by our
    clock; its live StatusNotification Faulted, then the offline-flagged Updated it queued 60 s
    before: the 22 kW stays cleared."""
    with our_clock() as clock:
        sim = await h2.charger_client(boot=False)
        await sim.tx_event(
            "Started",
            "TX1",
            evse=EVSE,
            charging_state="Charging",
            meter_value=power_reading(10_000, stamp(0)),
        )
        clock.tick(60)
        await sim.tx_event(
            "Updated", "TX1", charging_state="Charging", meter_value=power_reading(10_370, stamp(0))
        )
        clock.tick(30)  # offline from here
        queued_at = datetime.now(UTC)
        clock.tick(60)
        await sim.status(1, 1, "Faulted", stamp(0))  # reconnected: its status now
        assert h2.charger.connector(1).meter.power_w == 0.0
        clock.tick(1)
        await sim.tx_event(
            "Updated",
            "TX1",
            charging_state="Charging",
            offline=True,
            timestamp=stamp(0, queued_at),
            meter_value=power_reading(10_550, stamp(0, queued_at)),
        )
    connector = h2.charger.connector(1)
    assert (connector.status, connector.meter.power_w) == (ConnectorStatus.FAULTED, 0.0)


@pytest.mark.parametrize("lead_s", CLOCKS.values(), ids=CLOCKS.keys())
async def test_a_live_reading_right_after_a_live_finishing_shows_its_power(
    h_cp1: Harness, lead_s: float
) -> None:
    """The car draws again after an untimed Finishing: the charger's next live reading, stamped
    by its clock in whole seconds (truncated: before the Finishing's arrival by up to a second),
    shows its power."""
    with our_clock() as clock:
        sim = await h_cp1.charger_client(boot=False)
        started = await sim.start_tx(meter=10_000, timestamp=stamp(lead_s - 60))
        tx = started.transaction_id
        await sim.meter(1, [*energy(10_200), POWER], tx, timestamp=stamp(lead_s))
        clock.tick(60)
        await sim.meter(1, [*energy(10_570), POWER], tx, timestamp=stamp(lead_s))
        clock.tick((1.5 - datetime.now(UTC).microsecond / 1e6) % 1.0)  # 0.5 s into a second
        await sim.status(1, "Finishing")
        assert h_cp1.charger.connector(1).meter.power_w == 0.0
        clock.tick(0.4)
        whole_second = datetime.now(UTC).replace(microsecond=0)
        await sim.meter(1, [*energy(10_573), POWER], tx, timestamp=stamp(lead_s, whole_second))
    assert h_cp1.charger.connector(1).meter.power_w == CAR_W
