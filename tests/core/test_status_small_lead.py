"""A charger whose clock is a little ahead of ours (under ``MAX_CLOCK_AHEAD_S``: ``clock_skew_s``
stays None), its live readings stamped by it: the lead they confirm
(``LiveClockOffset.confirmed_s``) orders the charger's stamps against an untimed 1.6 status as a
confirmed lag does (``status_order.clock_off_s``, one rule for both signs). A reading cannot
come before it was taken, so delivery never makes a lead: a lead beyond ``DELIVERY_LEAD_S``
(1 s: a stamp rounded up to a whole second) counts, and it moves statuses that ended a flow too
(forward: what was taken before them stays out).

Was: an untimed status counted as of its arrival by our clock, so a status or reading the charger
queued up to its lead before that arrival, stamped after it, replaced it (Preparing over a live
Charging; 22 kW over a Finishing). Our time sent (a Heartbeat answer) clears the lead; a clock
set right on its own keeps it until its live readings confirm the new offset (the pin below).
2.0.1 and 2.1 stamp every status: the lead changes nothing there (one pin).
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from ocpp.v16 import call

from custom_components.ocpp_ems.core.model import ConnectorStatus

from .test_redteam7d_status_untimed_small_lead import charging_then_offline, stamp
from .test_status_lag_small import IDLE, START_WH, seconds_of_zero_watts
from .test_time_hostile import CAR_W, OurClock, energy, our_clock
from .v16_harness import Harness, SimCharger, now_iso
from .v201_charging import charging_station
from .v201_harness import sampled

LEADS = {"on_time": 0, "3_s_ahead": 3, "30_s_ahead": 30, "4_min_ahead": 240}
# A lead, and how long before the untimed status came the charger queued the status after it:
# more than the truncation of the untimed status's stamp (STAMP_RESOLUTION_S), less than the lead
# (stamped after that arrival by our clock; on time, before it).
QUEUED = {"on_time": (0, 2), "3_s_ahead": (3, 2), "30_s_ahead": (30, 20), "4_min_ahead": (240, 120)}
POWER = {"value": str(CAR_W), "measurand": "Power.Active.Import", "unit": "W"}


async def idle_readings(h: Harness, clock: OurClock, sim: SimCharger, lead_s: float) -> None:
    """Two idle live readings a minute apart, stamped by a clock ``lead_s`` ahead: they confirm
    its offset."""
    for _ in range(2):
        await sim.meter(1, [*energy(START_WH), IDLE], None, timestamp=stamp(lead_s))
        clock.tick(60)
    assert h.charger.clock_skew_s is None


async def lead_confirmed(h: Harness, clock: OurClock, lead_s: float) -> SimCharger:
    """A charger whose idle live readings confirmed its clock ``lead_s`` ahead of ours."""
    sim = await h.charger_client(boot=False)
    await idle_readings(h, clock, sim, lead_s)
    assert h.charger._live_clock.confirmed_s == pytest.approx(lead_s, abs=0.5)
    return sim


def shown(h: Harness) -> ConnectorStatus:
    return h.charger.connector(1).status


@pytest.mark.parametrize(("lead_s", "queued_before_s"), QUEUED.values(), ids=QUEUED.keys())
async def test_a_status_queued_before_an_untimed_one_stays_out(
    h_cp1: Harness, lead_s: float, queued_before_s: float
) -> None:
    """Reconnected: its Charging now, untimed; then the Preparing it queued before (was: taken
    on every lead, stamped after the Charging's arrival by our clock; on time it stays out)."""
    with our_clock() as clock:
        sim = await lead_confirmed(h_cp1, clock, lead_s)
        await sim.status(1, "Charging")
        charging_at = datetime.now(UTC)
        clock.tick(1)
        await sim.status(1, "Preparing", timestamp=stamp(lead_s - queued_before_s, charging_at))
    assert shown(h_cp1) is ConnectorStatus.CHARGING


@pytest.mark.parametrize("lead_s", LEADS.values(), ids=LEADS.keys())
async def test_a_live_stamped_status_right_after_an_untimed_one_is_taken(
    h_cp1: Harness, lead_s: float
) -> None:
    """Pin: the lead counts only as the lead: the Charging it stamps a second after its untimed
    Preparing shows."""
    with our_clock() as clock:
        sim = await lead_confirmed(h_cp1, clock, lead_s)
        await sim.status(1, "Preparing")
        clock.tick(1)
        await sim.status(1, "Charging", timestamp=stamp(lead_s))
    assert shown(h_cp1) is ConnectorStatus.CHARGING


@pytest.mark.parametrize("lead_s", LEADS.values(), ids=LEADS.keys())
async def test_live_readings_after_an_untimed_preparing_show_their_power(
    h_cp1: Harness, lead_s: float
) -> None:
    """Pin: each live 22 kW reading after an untimed Preparing shows its power."""
    with our_clock() as clock:
        sim = await lead_confirmed(h_cp1, clock, lead_s)
        assert await seconds_of_zero_watts(h_cp1, clock, sim, -lead_s, readings=3) == 0


@pytest.mark.parametrize("lead_s", [3, 30], ids=["3_s_ahead", "30_s_ahead"])
async def test_a_queued_reading_older_than_an_untimed_finishing_shows_no_flow(
    h_cp1: Harness, lead_s: float
) -> None:
    """A status that ended a flow is moved forward by a lead too: the 22 kW reading the charger
    queued offline 2 s before its untimed Finishing came stays cleared (was: 22 kW while
    Finishing; a lag never moves such a status back)."""
    with our_clock() as clock:
        sim, tx, queued_at = await charging_then_offline(h_cp1, clock, lead_s, START_WH + 370)
        assert h_cp1.charger._live_clock.confirmed_s == pytest.approx(lead_s, abs=0.5)
        clock.tick(2)
        await sim.status(1, "Finishing")  # reconnected: its status now, untimed
        clock.tick(1)
        await sim.meter(1, [*energy(START_WH + 550), POWER], tx, timestamp=stamp(lead_s, queued_at))
    connector = h_cp1.charger.connector(1)
    assert (connector.status, connector.meter.power_w) == (ConnectorStatus.FINISHING, 0.0)


async def test_our_heartbeat_answer_clears_the_lead(h_cp1: Harness) -> None:
    """The clock 30 s ahead is set right by our Heartbeat answer before live readings confirm
    its new offset: the Charging it stamps a second after its untimed Preparing, on our clock
    now, shows (the old lead would put the Preparing 29 s after it)."""
    with our_clock() as clock:
        sim = await lead_confirmed(h_cp1, clock, 30)
        await sim.call(call.Heartbeat())
        assert h_cp1.charger._live_clock.confirmed_s is None
        await sim.status(1, "Preparing")
        clock.tick(1)
        await sim.status(1, "Charging", timestamp=stamp(0))
    assert shown(h_cp1) is ConnectorStatus.CHARGING


@pytest.mark.parametrize(
    ("readings_confirm_it", "expected"),
    [(False, ConnectorStatus.PREPARING), (True, ConnectorStatus.CHARGING)],
    ids=["before_readings_confirm_it", "once_readings_confirm_it"],
)
async def test_a_clock_set_right_on_its_own(
    h_cp1: Harness, readings_confirm_it: bool, expected: ConnectorStatus
) -> None:
    """The clock 30 s ahead goes back to ours without our time (its own NTP): once two live
    readings confirm the new offset, the Charging it stamps a second after its untimed Preparing
    shows. Pin of the lead's cost: before they do, it lies before the Preparing by the old lead
    and is dropped (Preparing shown until live readings confirm the new offset:
    test_status_lead_stale)."""
    with our_clock() as clock:
        sim = await lead_confirmed(h_cp1, clock, 30)
        if readings_confirm_it:
            await idle_readings(h_cp1, clock, sim, 0)
            assert h_cp1.charger._live_clock.confirmed_s == pytest.approx(0, abs=0.5)
        await sim.status(1, "Preparing")
        clock.tick(1)
        await sim.status(1, "Charging", timestamp=stamp(0))
    assert shown(h_cp1) is expected


async def test_v2x_a_live_status_of_a_station_a_little_ahead_is_taken(h2: Harness) -> None:
    """Pin, 2.0.1 and 2.1 (``h2``): every status is stamped, so the confirmed lead (30 s) orders
    nothing more: the station's live Available, stamped by it a minute on, shows and clears the
    car's power."""
    lead_s = 30
    with our_clock() as clock:
        station = await charging_station(h2, lead_s)
        clock.tick(60)
        power = sampled(CAR_W, "Power.Active.Import", unit="W")
        await station.meter_values(1, [power], now_iso(lead_s))
        assert h2.charger._live_clock.confirmed_s == pytest.approx(lead_s, abs=0.5)
        clock.tick(60)
        await station.status(1, 1, "Available", now_iso(lead_s))
    connector = h2.charger.connector(1)
    assert (connector.status, connector.meter.power_w) == (ConnectorStatus.AVAILABLE, 0.0)
