"""Home Assistant's clock going back an hour (an NTP correction) while a charger that stamps by our
clock reports its connector's status: statuses are ordered by the charger's stamps, and one stamped
"before" the status of a minute ago only because our clock stepped back is news, not a status
queued from the past."""

from __future__ import annotations

from datetime import timedelta

import pytest

from custom_components.ocpp_ems.core.model import ConnectorStatus

from .test_time_hostile import CAR_W, energy, our_clock
from .v16_harness import Harness, now_iso


@pytest.fixture
def h(h_cp1: Harness) -> Harness:
    return h_cp1


async def test_a_status_after_our_clock_went_back_is_taken(h: Harness) -> None:
    """Charging, then our clock goes back an hour; a minute later the car is full (SuspendedEV),
    then unplugged (Finishing, then Available), each stamped by our clock: every status is taken,
    and the power shown drops to 0 W at once (not an hour later, when the stamps pass the old
    ones)."""
    sim = await h.charger_client(boot=False)
    started = await sim.start_tx(meter=10_000, timestamp=now_iso(-60))
    await sim.status(1, "Charging", timestamp=now_iso())
    sample = [
        *energy(10_400),
        {"value": str(CAR_W), "measurand": "Power.Active.Import", "unit": "W"},
    ]
    await sim.meter(1, sample, transaction_id=started.transaction_id)
    connector = h.charger.connector(1)
    assert connector.meter.power_w == CAR_W
    with our_clock() as clock:
        clock.tick(10)
        clock.step(-timedelta(hours=1))
        for status, expected in (
            ("SuspendedEV", ConnectorStatus.SUSPENDED_EV),
            ("Finishing", ConnectorStatus.FINISHING),
        ):
            clock.tick(20)
            await sim.status(1, status, timestamp=now_iso())
            assert connector.status is expected, status
        assert connector.meter.power_w in (None, 0.0)
