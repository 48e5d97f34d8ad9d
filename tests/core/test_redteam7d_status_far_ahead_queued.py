"""Red team 7d (statuses): a 1.6 charger whose clock is 10 min ahead of ours (``clock_skew_s``
+600, recorded from its readings: their stamps are replaced by the times we get them). No step,
no Heartbeat answer in between. It goes offline, queues a Preparing, and reconnects 6 min later
(its status now, Charging, sent untimed or stamped live), then flushes the queued Preparing.

The queued Preparing's stamp (taken 6 min ago by a clock 10 min ahead) lies 4 min ahead of our
clock: under ``MAX_CLOCK_AHEAD_S``, so it stands for a time. ``status_order.taken_after``'s
no-step branch reads that as "the charger's clock came right" (the shown status's stamp was
replaced, this one not) and takes it: the live Charging is replaced by the older Preparing, and
the 22 kW cleared.
Queued 4 min before (red team 7's case) its stamp lies 6 min ahead, is replaced, and stays out.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from custom_components.ocpp_ems.core.model import ConnectorStatus

from .test_time_hostile import CAR_W, energy, our_clock
from .v16_harness import Harness

POWER = {"value": str(CAR_W), "measurand": "Power.Active.Import", "unit": "W"}
LEAD_S = 600
QUEUED_BEFORE_S = 360


def stamp(at: datetime | None = None) -> str:
    """What the charger's clock (:data:`LEAD_S` ahead) read at ``at`` (our clock; default now)."""
    return ((at or datetime.now(UTC)) + timedelta(seconds=LEAD_S)).isoformat()


@pytest.mark.xfail(
    strict=True,
    reason="status_order.taken_after without a step: a stamp of a clock far ahead that no "
    "longer lies too far ahead is taken for the clock come right, also when it is only old "
    "(queued)",
)
@pytest.mark.parametrize("live_stamped", [False, True], ids=["untimed_live", "stamped_live"])
async def test_a_queued_status_of_a_clock_far_ahead_queued_long_stays_out(
    h_cp1: Harness, live_stamped: bool
) -> None:
    with our_clock() as clock:
        sim = await h_cp1.charger_client(boot=False)
        started = await sim.start_tx(meter=10_000, timestamp=stamp())
        await sim.status(1, "Charging", **({"timestamp": stamp()} if live_stamped else {}))
        tx = started.transaction_id
        await sim.meter(1, [*energy(10_200), POWER], tx, timestamp=stamp())
        clock.tick(60)
        await sim.meter(1, [*energy(10_570), POWER], tx, timestamp=stamp())
        assert h_cp1.charger.clock_skew_s == LEAD_S
        clock.tick(30)  # offline from here
        queued_at = datetime.now(UTC)
        clock.tick(QUEUED_BEFORE_S)
        # Reconnected: its status now (the same Charging: sent again after a reconnect).
        await sim.status(1, "Charging", **({"timestamp": stamp()} if live_stamped else {}))
        clock.tick(1)
        await sim.status(1, "Preparing", timestamp=stamp(queued_at))
    connector = h_cp1.charger.connector(1)
    assert (connector.status, connector.meter.power_w) == (ConnectorStatus.CHARGING, CAR_W)
