"""Red team 10c on ab0826b (meter_life_before.is_held matched the held register alone, whatever
its stamp): a PRESENT life that really reaches the register held as maybe the life before's.
Seven regressions (stale power shown, the step to it given to the next session, a second reset
losing its rise) were strict xfails; is_held matches register and stamp again, and they pass
(pins). A second reset right after the hold counts what it proves either way
(meter_life_before.credit_dropped_hold; was a strict xfail: dropped, 390 Wh).

The charger of test_meter_reset_old_queue / test_meter_life_before_at_end: a session from 0 Wh
(53, 101 live), the reset (3 .. 172), the new life's 195 Wh, then the old queue (151, 213): 213 Wh
held. Then the present life itself reads 213 Wh, stamped now, for several readings (a car paused
or full there; a register in kWh steps sits at one value for minutes), with the values of the
moment (0 W: nothing flows)."""

from __future__ import annotations

import pytest
from ocpp.v16 import call

from .test_meter_clock_first_reading import READING_EVERY_S, kwh, session, wh
from .test_meter_history_shown import NEXT, assert_shown, flow
from .test_meter_life_before_at_end import (
    SENT_LIVE,
    held_at_the_last_reading,
    t2_started_then_updated,
)
from .test_meter_reset_old_queue import (
    COUNTED_WH,
    LIVE_SEQ_NOS,
    NEW_LIFE_WH,
    QUEUED_RISE_WH,
    QUEUED_WH,
    meter_value,
    sender2,
    sender16,
    session2,
)
from .test_time_hostile import OurClock, our_clock
from .v16_harness import Harness, SimCharger, now_iso

HELD_WH = QUEUED_WH[-1]
END_WH = 195  # the present life's reading before the queue came
# What counted before the present life reached 213 Wh (293 Wh), and with its rise (311 Wh).
BEFORE_WH = COUNTED_WH + END_WH - NEW_LIFE_WH[-1]
PRESENT_RISE_WH = HELD_WH - END_WH
# The car paused (or full) at 213 Wh: no power, no current.
PAUSED = (0.0, 0.0, 230.0)
PAUSED_READINGS = 5
# The next session (another tag): from 213 Wh to 230 Wh, its own 17 Wh.
NEXT_SESSION_WH = (HELD_WH, HELD_WH + 17)


async def paused_at_held16(h: Harness, clock: OurClock) -> tuple[SimCharger, int]:
    """1.6: the hold, then the present life's readings at 213 Wh, 0 W, a reading apart."""
    sim, tx = await session(h, meter_wh=0)
    await held_at_the_last_reading(sender16(sim, tx), clock)
    assert h.charger.connector(1).meter._life_before_held is not None
    for _ in range(PAUSED_READINGS):
        clock.tick(READING_EVERY_S)
        await sim.meter(1, [wh(HELD_WH), *flow(PAUSED)], tx, now_iso())
    return sim, tx


async def test_a_present_life_paused_at_the_held_register_shows_its_values(
    h_cp1: Harness,
) -> None:
    with our_clock() as clock:
        await paused_at_held16(h_cp1, clock)
    assert_shown(h_cp1, PAUSED)


async def test_a_stop_at_the_held_register_after_the_present_life_sat_there_is_the_sessions(
    h_cp1: Harness,
) -> None:
    with our_clock() as clock:
        sim, tx = await paused_at_held16(h_cp1, clock)
        clock.tick(READING_EVERY_S)
        stop = call.StopTransaction(
            meter_stop=HELD_WH, timestamp=now_iso(), transaction_id=tx, reason="EVDisconnected"
        )
        await sim.call(stop)
        clock.tick(READING_EVERY_S)
        start = await sim.start_tx(id_tag="TAG2", meter=NEXT_SESSION_WH[0], timestamp=now_iso())
        clock.tick(READING_EVERY_S)
        await sim.meter(1, [wh(NEXT_SESSION_WH[1])], start.transaction_id, now_iso())
    ended = h_cp1.charger.find_ended_transaction(str(tx))
    assert ended is not None
    t2_wh = h_cp1.charger.connector(1).session_energy_wh
    assert (ended.energy_wh, t2_wh) == (
        pytest.approx(BEFORE_WH + PRESENT_RISE_WH),
        pytest.approx(NEXT_SESSION_WH[1] - NEXT_SESSION_WH[0]),
    )


async def test_a_second_reset_after_the_present_life_sat_at_the_held_register_keeps_its_rise(
    h_cp1: Harness,
) -> None:
    second_life_wh = (3, 61)
    with our_clock() as clock:
        sim, tx = await paused_at_held16(h_cp1, clock)
        for register in second_life_wh:
            clock.tick(READING_EVERY_S)
            await sim.meter(1, [wh(register), *flow(NEXT)], tx, now_iso())
    expected = BEFORE_WH + PRESENT_RISE_WH + second_life_wh[1] - second_life_wh[0]
    assert h_cp1.charger.lifetime_energy.total_wh == pytest.approx(expected)


async def test_v201_live_readings_and_ended_at_the_held_register_are_the_sessions(
    h2: Harness,
) -> None:
    with our_clock() as clock:
        send = await session2(h2, flagged=True)
        await held_at_the_last_reading(send, clock)
        station = await h2.charger_client(boot=False)
        send_live = sender2(station, flagged=False, sent_live=SENT_LIVE)
        for _ in range(PAUSED_READINGS):
            clock.tick(READING_EVERY_S)
            await send_live(HELD_WH, PAUSED, now_iso())
        clock.tick(READING_EVERY_S)
        await station.tx_event(
            "Ended",
            "T1",
            seq_no=LIVE_SEQ_NOS[SENT_LIVE + PAUSED_READINGS],
            trigger_reason="EVCommunicationLost",
            stopped_reason="EVDisconnected",
            meter_value=meter_value(HELD_WH, 0.0, now_iso()),
            timestamp=now_iso(),
        )
        tag2 = {"idToken": "TAG2", "type": "ISO14443"}
        await t2_started_then_updated(station, clock, NEXT_SESSION_WH, id_token=tag2)
    ended = h2.charger.find_ended_transaction("T1")
    assert ended is not None
    assert (ended.energy_wh, h2.charger.connector(1).session_energy_wh) == (
        pytest.approx(BEFORE_WH + PRESENT_RISE_WH),
        pytest.approx(NEXT_SESSION_WH[1] - NEXT_SESSION_WH[0]),
    )


# A charger whose register is in kWh with coarse steps, one reading a minute (0.1 kWh at 6 kW)
# or every ten minutes (1 kWh): the old life 0 -> 2 steps live, 3 and 4 steps queued offline,
# the reboot, the new life 0 -> 3 steps (the reset confirmed by 1), then the queue: 4 steps held.
# The present life reaches 4 steps itself and sits there 30 readings (the car full), then stops
# there. Its own 0 -> 4 steps and the old life's 2 live steps are the session's (6 steps); the
# old life's queued 2 steps may be the present life's readings (uncounted by design).
CAR_W = 6000.0
STEPS = [pytest.param(100, id="0.1kWh"), pytest.param(1000, id="1kWh")]


def kwh_reading(steps: int, step_wh: int) -> dict[str, object]:
    return kwh(f"{steps * step_wh / 1000:g}")


@pytest.mark.parametrize("step_wh", STEPS)
async def test_a_coarse_kwh_register_full_at_the_held_register(
    h_cp1: Harness, step_wh: int
) -> None:
    every_s = step_wh * 3600 / CAR_W
    charging = (CAR_W, 26.0, 230.0)
    with our_clock() as clock:
        sim = await h_cp1.charger_client(boot=False)
        tx = (await sim.start_tx(meter=0, timestamp=now_iso())).transaction_id

        async def read(steps: int, values: tuple[float, float, float], stamp: str) -> None:
            await sim.meter(1, [kwh_reading(steps, step_wh), *flow(values)], tx, stamp)

        for steps in (1, 2):
            clock.tick(every_s)
            await read(steps, charging, now_iso())
        queue = [(now_iso(n * every_s), steps) for n, steps in ((1, 3), (2, 4))]
        clock.tick(2 * every_s)
        for steps in (0, 1, 2, 3):
            clock.tick(every_s)
            await read(steps, charging, now_iso())
        for stamp, steps in queue:
            await read(steps, charging, stamp)
        assert h_cp1.charger.connector(1).meter._life_before_held is not None
        clock.tick(every_s)
        await read(4, charging, now_iso())
        for _ in range(30):
            clock.tick(60)
            await read(4, PAUSED, now_iso())
        paused_shown = h_cp1.charger.connector(1).meter.power_w
        clock.tick(60)
        stop = call.StopTransaction(
            meter_stop=4 * step_wh, timestamp=now_iso(), transaction_id=tx, reason="EVDisconnected"
        )
        await sim.call(stop)
    ended = h_cp1.charger.find_ended_transaction(str(tx))
    assert ended is not None
    assert (ended.energy_wh, paused_shown) == (pytest.approx(6 * step_wh), 0.0)


async def test_a_second_reset_right_after_the_hold_keeps_what_the_hold_proves_either_way(
    h_cp1: Harness,
) -> None:
    """The register resets again (3, 61, 100 Wh) right after the queue: the held 213 Wh is real
    energy either way (112 Wh of the first life or 18 Wh of the second past its 195 Wh): at least
    408 Wh. Was (a strict xfail): the hold dropped, 390 Wh."""
    third_life_wh = (3, 61, 100)
    with our_clock() as clock:
        sim, tx = await session(h_cp1, meter_wh=0)
        await held_at_the_last_reading(sender16(sim, tx), clock)
        for register in third_life_wh:
            clock.tick(READING_EVERY_S)
            await sim.meter(1, [wh(register), *flow(NEXT)], tx, now_iso())
    third_rise_wh = third_life_wh[-1] - third_life_wh[0]
    either_way = BEFORE_WH + PRESENT_RISE_WH + third_rise_wh
    at_most = BEFORE_WH + QUEUED_RISE_WH + third_rise_wh
    assert either_way <= h_cp1.charger.lifetime_energy.total_wh <= at_most
