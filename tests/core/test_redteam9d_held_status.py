"""Red team 9d on 28703ed (a 1.6 stamped status dropped only by a stale clock lead is held and
ordered again by the next offset live readings confirm, ``ConnectorStatuses._retake_held_status``).

The offset is the charger's (one clock): readings of another connector (or connector 0) that
confirm the clock on ours order the held status again too (they did not: fixed in
``_retake_held_statuses``). Harness: ``test_status_lead_stale``."""

from __future__ import annotations

import pytest

from custom_components.ocpp_ems.core.model import ConnectorStatus, EventKind

from .test_redteam7d_status_untimed_small_lead import stamp
from .test_status_lag_small import IDLE, READING_INTERVAL_S, START_WH
from .test_status_lead_stale import set_right_then_dropped, shown
from .test_time_hostile import energy, our_clock
from .v16_harness import Harness


@pytest.mark.parametrize("other_connector", [2, 0], ids=["connector_2", "connector_0"])
async def test_another_connectors_readings_confirm_the_clock(
    h_cp1: Harness, other_connector: int
) -> None:
    with our_clock() as clock:
        sim = await set_right_then_dropped(h_cp1, clock, 240)
        for _ in range(3):
            clock.tick(READING_INTERVAL_S)
            await sim.meter(other_connector, [*energy(START_WH), IDLE], timestamp=stamp(0))
        assert h_cp1.charger._live_clock.confirmed_s == pytest.approx(0, abs=0.5)
    assert shown(h_cp1) is ConnectorStatus.PREPARING


async def test_a_held_faulted_fires_its_fault_once_when_retaken(h_cp1: Harness) -> None:
    """Pin: a Faulted dropped by the stale lead fires no FAULT while held; the readings that
    confirm the clock on ours show it and fire FAULT once (not again at the next readings)."""
    with our_clock() as clock:
        sim = await set_right_then_dropped(h_cp1, clock, 240)
        clock.tick(5)
        await sim.status(1, "Faulted", error_code="GroundFailure", timestamp=stamp(0))
        assert EventKind.FAULT not in [e.kind for e in h_cp1.events]
        for _ in range(4):
            clock.tick(READING_INTERVAL_S)
            await sim.meter(1, [*energy(START_WH), IDLE], timestamp=stamp(0))
    faults = [e for e in h_cp1.events if e.kind is EventKind.FAULT]
    assert shown(h_cp1) is ConnectorStatus.FAULTED
    assert len(faults) == 1
