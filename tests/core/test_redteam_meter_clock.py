"""Red team of the register rule for a charger's stamps ahead of our clock (a2eeb7e): a charger
that counts per session (its register back to 0 at each start) must have every new session
counted, whichever way its stamps came to lie too far ahead of our clock since the last one."""

from __future__ import annotations

from datetime import timedelta

import pytest
from ocpp.v16 import call

from .test_time_hostile import PER_MINUTE_WH, OurClock, energy, our_clock
from .v16_harness import Harness, SimCharger, now_iso

HOUR = timedelta(hours=1)


@pytest.fixture
def h(h_cp1: Harness) -> Harness:
    return h_cp1


async def _session(sim: SimCharger, clock: OurClock, minutes: int, ahead_s: float) -> float:
    """A 22 kW session on a register that starts at 0, reported every minute and ended, stamped
    ``ahead_s`` ahead of our clock: the energy it charged (Wh)."""
    started = await sim.start_tx(meter=0, timestamp=now_iso(ahead_s))
    register = 0.0
    for _ in range(minutes):
        clock.tick(60)
        register += PER_MINUTE_WH
        await sim.meter(1, energy(round(register)), started.transaction_id, now_iso(ahead_s))
    stop = call.StopTransaction(
        meter_stop=round(register),
        timestamp=now_iso(ahead_s),
        transaction_id=started.transaction_id,
    )
    await sim.call(stop)
    return round(register)


@pytest.mark.parametrize(
    ("step", "ahead_before_s", "ahead_after_s"),
    [(timedelta(0), 290, 310), (-HOUR, 0, HOUR.total_seconds())],
    ids=["its-clock-drifted-past-five-minutes-ahead", "ours-went-back-it-kept-the-time"],
)
async def test_a_session_on_a_register_that_restarts_at_zero_counts_after_its_stamps_went_ahead(
    h: Harness, step: timedelta, ahead_before_s: float, ahead_after_s: float
) -> None:
    """A 30-minute session stamped by a clock a little ahead of ours (290 s, or right); half an
    hour later the next session, its register from 0 again, stamped too far ahead to stand for a
    time: the charger's clock drifted on (310 s ahead), or ours went back an hour and the charger
    has not taken our time yet (no Heartbeat answer since). Its stamps still run on from the last
    session's: a reset, whose energy counts (it was dropped as history: 11 kWh lost, and every
    session after it while the register stayed below 11 kWh)."""
    sim = await h.charger_client(boot=False)
    with our_clock() as clock:
        first = await _session(sim, clock, 30, ahead_before_s)
        clock.tick(1800)
        clock.step(step)
        second = await _session(sim, clock, 20, ahead_after_s)
    connector = h.charger.connector(1)
    assert connector.last_session_energy_wh == pytest.approx(second, abs=1)
    assert h.charger.lifetime_energy.total_wh == pytest.approx(first + second, abs=1)
