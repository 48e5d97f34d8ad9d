"""A station clock 2 h behind, its offset confirmed by live readings, set right by our Heartbeat
or BootNotification answer while it charges (the likely way a real station's clock moves
forward): a base received live stays live (meter_time.rise_allowance judges it by the offset
confirmed when we received it, RegisterPoint.live_offset_s), so the 2 h its stamps then span
make no allowance for one reading 50 kWh high. Was: 52,700 Wh for 2,700 (the clock set cleared
the confirmed offset, and the one confirmed after is the new clock's). An honest offline queue
flushed after the station's clock was set keeps its full credit."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import pytest
from ocpp.v16 import call

from .test_energy_quirks import h16
from .test_meter_host_clock_behind_restart import BEGIN_WH, PER_MINUTE_WH, Station
from .test_redteam10a_session_across_restarts import Session, h
from .test_time_hostile import OurClock, our_clock
from .v16_harness import Harness, wait_for
from .v201_harness import V201Harness
from .v201_reuse import cable_started, periodic_updated, send

__all__ = ["h", "h16"]

BEHIND = timedelta(hours=-2)
OUTLIER_WH = 50_000  # one reading this high (test_redteam11a_held_end_v16's)
# Live minutes before the clock set: 10, or 2 (the second reading confirms the offset: the base
# the outlier is judged from is the very reading that confirmed it).
LIVE_MINUTES = [10, 2]
OFFLINE_MINUTES = 120
QUEUE_EVERY_MINUTES = 10


async def _heartbeat(h: Harness, sim: Any) -> None:
    await (sim.heartbeat() if isinstance(h, V201Harness) else sim.call(call.Heartbeat()))


async def _boot(h: Harness, sim: Any) -> None:
    """The station boots and is set up: no message of ours is left on its way while the test
    lets time pass (test_v201_boot_mark_written_after_boot.reboot)."""
    booted = h.booted
    await sim.boot()
    await wait_for(lambda: h.booted > booted)


SET_CLOCK: dict[str, Callable[[Harness, Any], Awaitable[None]]] = {
    "heartbeat": _heartbeat,
    "boot": _boot,
}


async def _clock_set_answer_then(clock: OurClock, set_clock: Awaitable[None]) -> None:
    """Half a minute after the last reading the station asks (Heartbeat / Boot) and sets its
    clock by our answer; half a minute later it reads again."""
    clock.tick(30)
    await set_clock
    clock.tick(30)


@pytest.mark.parametrize("live_minutes", LIVE_MINUTES)
@pytest.mark.parametrize("ask", SET_CLOCK.values(), ids=SET_CLOCK.keys())
async def test_v16_a_clock_set_by_our_answer_makes_no_allowance_for_an_outlier(
    h16: Harness, ask: Callable[[Harness, Any], Awaitable[None]], live_minutes: int
) -> None:
    with our_clock() as clock:
        station = Station(clock, lead=BEHIND)
        sim = await h16.charger_client(boot=False)
        started = await sim.start_tx(meter=BEGIN_WH, timestamp=station.stamp())
        station.transaction_id = started.transaction_id
        await station.charge(sim, live_minutes)
        await _clock_set_answer_then(clock, ask(h16, sim))
        station.lead = timedelta(0)
        station.wh += PER_MINUTE_WH
        await station.send(sim, station.wh + OUTLIER_WH, station.stamp())
        await station.send(sim, station.wh, station.stamp())
        await station.charge(sim, 4)
        await station.stop(sim)
    session = h16.charger.connector(1).last_transaction
    assert session is not None
    assert session.energy_wh == pytest.approx(station.wh - BEGIN_WH)


async def test_v16_a_queue_flushed_after_the_boot_set_the_clock_keeps_its_credit(
    h16: Harness,
) -> None:
    """Live readings confirm the clock 2 h behind; the station is offline 2 h (a reading every
    10 minutes queued, stamped by its clock then); on reconnect our Boot answer sets its clock
    right, then it flushes the queue and reads live."""
    with our_clock() as clock:
        station = Station(clock, lead=BEHIND)
        first = await h16.charger_client(boot=False)
        started = await first.start_tx(meter=BEGIN_WH, timestamp=station.stamp())
        station.transaction_id = started.transaction_id
        await station.charge(first, 10)
        await first._connection.close()
        await wait_for(lambda: not h16.charger.connected)
        for _ in range(OFFLINE_MINUTES // QUEUE_EVERY_MINUTES):
            clock.tick(60 * (QUEUE_EVERY_MINUTES - 1))
            station.wh += (QUEUE_EVERY_MINUTES - 1) * PER_MINUTE_WH
            station.queue.append(station.next_minute())
        sim = await h16.charger_client(boot=False)
        await _boot(h16, sim)
        station.lead = timedelta(0)
        await station.send_queue(sim)
        await station.charge(sim, 4)
        await station.stop(sim)
    session = h16.charger.connector(1).last_transaction
    assert session is not None
    assert session.energy_wh == pytest.approx(station.wh - BEGIN_WH)
    assert session.energy_wh > OFFLINE_MINUTES * PER_MINUTE_WH


# --- 2.0.1 / 2.1 ----------------------------------------------------------------------------------
def _updated(session: Session, wh: float) -> dict[str, Any]:
    frame = periodic_updated(session.seq_no, wh, session.stamp(), charging_state="Charging")
    del frame["evse"]  # 2.0.1 asks for it in the first message only
    session.seq_no += 1
    return frame


async def _ended(sim: Any, session: Session) -> None:
    frame = periodic_updated(session.seq_no, session.wh, session.stamp())
    del frame["evse"]
    await send(sim, frame | {"event_type": "Ended", "stopped_reason": "EVDisconnected"})


@pytest.mark.parametrize("live_minutes", LIVE_MINUTES)
@pytest.mark.parametrize("ask", SET_CLOCK.values(), ids=SET_CLOCK.keys())
async def test_v2_a_clock_set_by_our_answer_makes_no_allowance_for_an_outlier(
    h: V201Harness, ask: Callable[[Harness, Any], Awaitable[None]], live_minutes: int
) -> None:
    with our_clock() as clock:
        session = Session(clock, lead=BEHIND)
        sim = await h.charger_client(boot=True)
        await send(sim, cable_started(BEGIN_WH, session.stamp(), charging_state="Charging"))
        await session.charge(sim, live_minutes)
        await _clock_set_answer_then(clock, ask(h, sim))
        session.lead = timedelta(0)
        session.wh += PER_MINUTE_WH
        await send(sim, _updated(session, session.wh + OUTLIER_WH))
        await send(sim, _updated(session, session.wh))
        await session.charge(sim, 4)
        await _ended(sim, session)
    assert h.charger.connectors[1].last_session_energy_wh == pytest.approx(session.wh - BEGIN_WH)
