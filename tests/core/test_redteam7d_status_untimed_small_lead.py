"""Red team 7d (669f114 / 60c6d46, statuses): a 1.6 charger whose live StatusNotifications come
untimed and whose MeterValues (and an offline queue of statuses, flushed after a reconnect) are
stamped by a clock a little ahead of ours (1 or 4 min: under ``MAX_CLOCK_AHEAD_S``, so
``clock_skew_s`` stays None). No step of any clock, no Heartbeat answer in between.

The charger goes offline, queues a Preparing, reconnects and sends its status now (Charging)
untimed, then flushes the queued Preparing. ``on_charger_clock`` counts the untimed Charging as
of its arrival by our clock (a lead under MAX_CLOCK_AHEAD_S "is recorded nowhere"); the queued
Preparing's stamp, taken before the Charging came but stamped ``lead`` ahead, lies after that
arrival: it replaces the live Charging and (a NO_FLOW status taken after the 22 kW reading by the
charger's own stamps) clears the power the energy manager reads. The lead was visible all along:
every live reading's stamp lay ``lead`` ahead of the time we got it.

Fixed: the lead its live readings confirmed (``LiveClockOffset.confirmed_s``) puts the untimed
status on the charger's clock, as a confirmed lag does (``clock_off_s``).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from custom_components.ocpp_ems.core.model import ConnectorStatus

from .test_time_hostile import CAR_W, energy, our_clock
from .v16_harness import Harness, SimCharger

POWER = {"value": str(CAR_W), "measurand": "Power.Active.Import", "unit": "W"}
CASES = {"1_min_ahead_queued_30_s_before": (60, 30), "4_min_ahead_queued_2_min_before": (240, 120)}


def stamp(lead_s: float, at: datetime | None = None) -> str:
    """What a charger clock ``lead_s`` ahead of ours read at ``at`` (our clock; default now)."""
    return ((at or datetime.now(UTC)) + timedelta(seconds=lead_s)).isoformat()


async def charging_then_offline(
    h: Harness, clock: Any, lead_s: float, register_wh: float
) -> tuple[SimCharger, Any, datetime]:
    """A session at 22 kW on a clock ``lead_s`` ahead, two live readings a minute apart (the
    second at ``register_wh``), then offline 30 s later: the charger, its transaction and the
    time its queue begins."""
    sim = await h.charger_client(boot=False)
    started = await sim.start_tx(meter=10_000, timestamp=stamp(lead_s - 60))
    await sim.status(1, "Charging")
    tx = started.transaction_id
    await sim.meter(1, [*energy(10_200), POWER], tx, timestamp=stamp(lead_s))
    clock.tick(60)
    await sim.meter(1, [*energy(register_wh), POWER], tx, timestamp=stamp(lead_s))
    clock.tick(30)  # offline from here
    return sim, tx, datetime.now(UTC)


@pytest.mark.parametrize(("lead_s", "queued_before_s"), CASES.values(), ids=CASES.keys())
async def test_a_queued_status_of_a_clock_a_little_ahead_stays_out(
    h_cp1: Harness, lead_s: float, queued_before_s: float
) -> None:
    with our_clock() as clock:
        sim, _, queued_at = await charging_then_offline(h_cp1, clock, lead_s, 10_500)
        clock.tick(queued_before_s)
        await sim.status(1, "Charging")  # reconnected: its status now, untimed
        clock.tick(1)
        await sim.status(1, "Preparing", timestamp=stamp(lead_s, queued_at))
    connector = h_cp1.charger.connector(1)
    assert (connector.status, connector.meter.power_w) == (ConnectorStatus.CHARGING, CAR_W)
