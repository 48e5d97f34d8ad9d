"""Red team 6: statuses of a 1.6 charger whose clock is 10 min ahead of ours (beyond
``MAX_CLOCK_AHEAD_S``: its times are replaced by the time we receive them), with NO step of any
clock. A Preparing it queued 20 s before its Charging (a StatusNotification retried after the
call failed) arrives 5 s after the Charging and the 22 kW reading.

Stamped before the shown Charging by the charger's own clock, it is old: the car charges.
``status_order.taken_after`` (ce1b4ad) reaches the lead check although our clock never
stepped: ``later_s`` of the replaced times (reception order) is >= 0, the stamps say before, and
the Preparing's stamp (580 s ahead) lies within the lead (600 s). It replaces the Charging and
clears the 22 kW: the energy manager sees no car drawing. Also at 71164f6 (its ``stamp >= then``
compared the stamp with the replaced time): an old gap, which ce1b4ad's "ordered by the
charger's own stamps" did not close. Fixed: with no step of our clock a status stamped before
the shown one is old, unless the charger's clock came right (the shown one's stamp was replaced,
this one's not: test_energy_rules.test_clock_ahead_in_a_status_does_not_block_later_statuses).
A charger within 5 min of ours has the same Preparing dropped (``later_s`` < 0): the pin below."""

from __future__ import annotations

import pytest

from custom_components.ocpp_ems.core.model import ConnectorStatus

from .test_time_hostile import CAR_W, energy, our_clock
from .v16_harness import Harness, now_iso

QUEUED_BEFORE_S = 20  # the Preparing was stamped this long before the Charging
ARRIVES_AFTER_S = 5  # and arrives this long after it


@pytest.fixture
def h(h_cp1: Harness) -> Harness:
    return h_cp1


async def late_preparing(h: Harness, lead_s: int) -> tuple[ConnectorStatus, float | None]:
    """Charging at 22 kW by a charger ``lead_s`` ahead of ours; its late Preparing; what shows."""
    sim = await h.charger_client(boot=False)
    started = await sim.start_tx(meter=10_000, timestamp=now_iso(lead_s - 60))
    with our_clock() as clock:
        await sim.status(1, "Charging", timestamp=now_iso(lead_s))
        power = {"value": str(CAR_W), "measurand": "Power.Active.Import", "unit": "W"}
        await sim.meter(
            1, [*energy(10_400), power], started.transaction_id, timestamp=now_iso(lead_s)
        )
        clock.tick(ARRIVES_AFTER_S)
        stamp = now_iso(lead_s - ARRIVES_AFTER_S - QUEUED_BEFORE_S)
        await sim.status(1, "Preparing", timestamp=stamp)
    connector = h.charger.connector(1)
    return connector.status, connector.meter.power_w


async def test_a_late_status_of_a_clock_far_ahead_stays_out(h: Harness) -> None:
    assert await late_preparing(h, lead_s=600) == (ConnectorStatus.CHARGING, CAR_W)


async def test_a_late_status_of_a_clock_slightly_ahead_stays_out(h: Harness) -> None:
    """Pin (correct): 2 min ahead, its stamps stand for times; the late Preparing stays out."""
    assert await late_preparing(h, lead_s=120) == (ConnectorStatus.CHARGING, CAR_W)
