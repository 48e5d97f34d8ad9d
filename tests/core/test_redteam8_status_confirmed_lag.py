"""Red team 8b (19cd222): the lag a 1.6 charger's live readings confirmed
(``LiveClockOffset.confirmed_s``, too small for ``clock_skew_s``) orders its stamped readings
against an untimed no-flow status (``status_order.clock_off_s``, ``_flow_predates_status``).

The lag is read off the wire: live stamps lying ``L`` s before their arrival. A clock ``L`` s
behind sending live readings and a clock on ours whose readings are ``L`` s old when they come
look the same, and ``confirmed_s`` keeps the last offset confirmed until two live bursts confirm
another (our Heartbeat answer or NTP set the clock right in between; a reconnect keeps it).

Fixed (``status_order.clock_off_s``): a lag within delivery delay (``DELIVERY_LAG_S``, 6 s)
counts for none; an unrecorded lag never moves back an untimed status that ended a flow
(``FLOW_ENDED_STATUSES``); our time sent to the charger clears it (``LiveClockOffset.clock_set``,
from ``ChargerState._clock_sent``). A reconnect still keeps it: the charger's clock does not move
by a reconnect, and what sets it (its reboot, our time) is a BootNotification or Heartbeat.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from ocpp.v16 import call

from custom_components.ocpp_ems.core.model import ConnectorStatus

from .test_time_hostile import CAR_W, OurClock, energy, our_clock
from .v16_harness import Harness, SimCharger

POWER = {"value": str(CAR_W), "measurand": "Power.Active.Import", "unit": "W"}
START_WH = 10_000


def stamp(offset_s: float, at: datetime | None = None) -> str:
    """What a charger clock ``offset_s`` off ours (< 0: behind) read at ``at`` (default now)."""
    return ((at or datetime.now(UTC)) + timedelta(seconds=offset_s)).isoformat()


async def charging_with_lag(
    h: Harness, clock: OurClock, offset_s: float, interval_s: float
) -> tuple[SimCharger, int, float]:
    """A 22 kW session whose live readings, ``interval_s`` apart, are stamped ``offset_s`` off
    the time they come: the charger, its transaction, the register last sent."""
    sim = await h.charger_client(boot=False)
    started = await sim.start_tx(meter=START_WH, timestamp=stamp(offset_s))
    await sim.status(1, "Charging")
    register = START_WH
    for _ in range(3):
        clock.tick(interval_s)
        register += 100
        await sim.meter(
            1, [*energy(register), POWER], started.transaction_id, timestamp=stamp(offset_s)
        )
    assert h.charger.clock_skew_s is None
    return sim, started.transaction_id, register


def shown(h: Harness) -> tuple[ConnectorStatus, float | None]:
    connector = h.charger.connector(1)
    return connector.status, connector.meter.power_w


async def test_a_stale_lag_keeps_a_queued_readings_power_after_an_untimed_finishing(
    h_cp1: Harness,
) -> None:
    """The clock, 30 s behind, is set right by our Heartbeat answer; offline, it queues a 22 kW
    reading; 28 s later it reconnects, sends Finishing (untimed), then flushes the reading.
    The reading was taken 28 s before the Finishing: its power is over (432c52b: 0 W; 19cd222:
    22 kW). Either fix holds it: the Heartbeat cleared the lag, and a Finishing ended a flow."""
    with our_clock() as clock:
        sim, tx, register = await charging_with_lag(h_cp1, clock, -30, 60)
        await sim.call(call.Heartbeat())  # the charger's clock is right from here
        clock.tick(5)
        queued_at = datetime.now(UTC)  # offline: this reading is queued
        clock.tick(28)
        await sim.status(1, "Finishing")
        clock.tick(1)
        await sim.meter(1, [*energy(register + 150), POWER], tx, timestamp=stamp(0, queued_at))
    assert shown(h_cp1) == (ConnectorStatus.FINISHING, 0.0)


async def test_a_stale_lag_takes_a_status_queued_before_an_untimed_charging(
    h_cp1: Harness,
) -> None:
    """The stale lag where a lag still counts (an untimed Charging ended no flow): the clock, 30 s
    behind, is set right by our Heartbeat answer; offline, the car pauses (SuspendedEV queued);
    28 s later it reconnects, sends Charging (untimed), then flushes the SuspendedEV. That was
    taken 28 s before the Charging: Charging stays (19cd222: the old lag put the Charging 31 s
    back, SuspendedEV shown while the car charged, until the next status change)."""
    with our_clock() as clock:
        sim, _tx, _register = await charging_with_lag(h_cp1, clock, -30, 60)
        await sim.call(call.Heartbeat())  # the charger's clock is right from here
        clock.tick(5)
        queued_at = datetime.now(UTC)
        clock.tick(28)
        await sim.status(1, "Charging")
        clock.tick(1)
        await sim.status(1, "SuspendedEV", timestamp=stamp(0, queued_at))
    assert h_cp1.charger.connector(1).status is ConnectorStatus.CHARGING


async def test_readings_sent_a_steady_interval_late_show_no_power_after_a_fault(
    h_cp1: Harness,
) -> None:
    """Readings every 10 s, each sent 10 s after it was taken (a charger that samples, then
    sends at its next tick; or stamps the start of the interval), clock on ours. The charger
    faults (untimed Faulted); the reading taken 5 s before the fault comes 5 s after it
    (19cd222: 22 kW shown while Faulted)."""
    with our_clock() as clock:
        sim, tx, register = await charging_with_lag(h_cp1, clock, -10, 10)
        clock.tick(5)
        await sim.status(1, "Faulted", error_code="GroundFailure")
        clock.tick(5)
        await sim.meter(1, [*energy(register + 100), POWER], tx, timestamp=stamp(-10))
    assert shown(h_cp1) == (ConnectorStatus.FAULTED, 0.0)


async def test_a_status_sent_a_steady_interval_late_does_not_replace_an_untimed_fault(
    h_cp1: Harness,
) -> None:
    """The statuses' side of the same: a charger on our clock sends its readings and stamped
    statuses 10 s after it took them, alarms at once (untimed). The car resumed (Charging) 5 s
    before the fault; that Charging comes 5 s after the untimed Faulted: Faulted stays (19cd222:
    the lag put the Faulted 11 s back, Charging shown while faulted until the next change)."""
    with our_clock() as clock:
        sim, _tx, _register = await charging_with_lag(h_cp1, clock, -10, 10)
        clock.tick(5)
        await sim.status(1, "Faulted", error_code="GroundFailure")
        clock.tick(5)
        await sim.status(1, "Charging", timestamp=stamp(-10))
    assert h_cp1.charger.connector(1).status is ConnectorStatus.FAULTED


# An ordinary charger: its clock on ours, whole-second stamps, each message 0.8 s on its way.
NETWORK_S = 0.8


def ordinary_stamp(taken_before_s: float = 0.0) -> str:
    """The ordinary charger's stamp of a reading taken ``taken_before_s`` before it sent it."""
    taken = datetime.now(UTC) - timedelta(seconds=NETWORK_S + taken_before_s)
    return taken.replace(microsecond=0).isoformat()


@pytest.mark.parametrize(
    ("status", "error_code"), [("Faulted", "GroundFailure"), ("Available", "NoError")]
)
async def test_an_ordinary_chargers_reading_taken_before_its_fault_shows_no_power(
    h_cp1: Harness, status: str, error_code: str
) -> None:
    """Readings every 10 s; the charger faults (untimed Faulted, its transaction still open) and
    sends the reading it took 1.5 s before, right after the Faulted. The live offsets lie
    1.75 s back (0.8 s on the way, 0.95 s truncated): confirmed_s rounds to -2, the Faulted
    counts 3 s before its arrival, the reading 2.3 s (432c52b: 1 s, the reading cleared; the
    same for ages 0.5 to 2.5 s and other arrival fractions: 1 of 24 cells kept 22 kW, 10 at
    19cd222; since the fix, 0 of a like grid: ages 0.5-2.5 s by 0.4 x arrivals at .0/.25/.5/.75
    s, 7 of them at 19cd222). Also with an untimed Available (the cable pulled while charging),
    a status a flow may begin in: the lag still counts after it, unless within delivery delay."""
    with our_clock() as clock:
        clock.tick(1.75 - datetime.now(UTC).microsecond / 1e6)  # receptions at x.75 s
        sim = await h_cp1.charger_client(boot=False)
        started = await sim.start_tx(meter=START_WH, timestamp=ordinary_stamp())
        await sim.status(1, "Charging")
        tx, register = started.transaction_id, START_WH
        for _ in range(3):
            clock.tick(10)
            register += 60
            await sim.meter(1, [*energy(register), POWER], tx, timestamp=ordinary_stamp())
        clock.tick(5)
        await sim.status(1, status, error_code=error_code)
        clock.tick(0.05)
        await sim.meter(1, [*energy(register + 10), POWER], tx, timestamp=ordinary_stamp(1.5))
    assert shown(h_cp1) == (ConnectorStatus(status.lower()), 0.0)
