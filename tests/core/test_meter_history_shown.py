"""A charger's offline queue flushed after its live readings: the queued readings' energy counts
by the register rules, but the power, current and voltage shown (which the energy manager
regulates by) stay the live ones, also where the queued stamps were replaced by the time we got
them (meter_time.effective_time: they lay too far ahead of our clock)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from .test_energy_quirks import energy16
from .test_time_hostile import CAR_W, START_WH, OurClock, energy, our_clock
from .v16_harness import Harness, SimCharger, now_iso

HOUR_S = 3600.0
# Power (W), current (A), voltage (V): now, while the charger was offline, after its queue.
LIVE = (CAR_W / 2, 16.0, 231.0)
QUEUED = (CAR_W, 32.0, 225.0)
NEXT = (CAR_W / 3, 10.0, 229.0)


@pytest.fixture
def h(h_cp1: Harness) -> Harness:
    return h_cp1


def flow(values: tuple[float, float, float]) -> list[dict[str, Any]]:
    watts, amps, volts = values
    return [
        {"value": str(watts), "measurand": "Power.Active.Import", "unit": "W"},
        {"value": str(amps), "measurand": "Current.Import", "unit": "A", "phase": "L1"},
        {"value": str(volts), "measurand": "Voltage", "unit": "V", "phase": "L1-N"},
    ]


def assert_shown(h: Harness, values: tuple[float, float, float]) -> None:
    meter = h.charger.connector(1).meter
    assert (meter.power_w, meter.current_a.l1, meter.voltage_v.l1) == values


# A charger sampling every 20 s (by our clock): each reading a burst of its own (timeutil).
READING_EVERY_S = 20
READING_RISE_WH = 50


async def next_reading(
    sim: SimCharger,
    clock: OurClock,
    tx: int,
    register_wh: int,
    ahead_s: float,
    values: tuple[float, float, float],
) -> int:
    """20 s on, the charger's next reading: its register up 50 Wh (returned), ``values``, stamped
    ``ahead_s`` off our clock."""
    clock.tick(READING_EVERY_S)
    register_wh += READING_RISE_WH
    await sim.meter(1, [energy16(register_wh), *flow(values)], tx, now_iso(ahead_s))
    return register_wh


async def test_a_queue_stamped_by_a_clock_far_ahead_leaves_the_live_values_shown(
    h: Harness,
) -> None:
    """The charger's clock is an hour ahead of ours (every stamp of it is replaced by the time we
    got it). Reconnected, it sends a live reading (power only), then its queue of the last minute
    (stamped before it by the charger's clock, registers rising 50 Wh a reading): the queue's
    energy counts, the live values stay shown; the next live reading is shown."""
    sim = await h.charger_client(boot=False)
    started = await sim.start_tx(meter=START_WH, timestamp=now_iso(HOUR_S - 600))
    tx = started.transaction_id
    await sim.meter(1, flow(LIVE), transaction_id=tx, timestamp=now_iso(HOUR_S))
    for step in (1, 2, 3):
        queued = [energy16(START_WH + 50 * step), *flow(QUEUED)]
        await sim.meter(1, queued, transaction_id=tx, timestamp=now_iso(HOUR_S - 80 + 20 * step))
    assert_shown(h, LIVE)
    assert h.charger.connector(1).session_energy_wh == 150
    await sim.meter(1, flow(NEXT), transaction_id=tx, timestamp=now_iso(HOUR_S + 20))
    assert_shown(h, NEXT)


async def test_a_queue_from_before_our_clock_went_back_leaves_the_live_values_shown(
    h: Harness,
) -> None:
    """The charger queues readings for a minute while offline; Home Assistant's clock goes back an
    hour meanwhile, and the charger follows it. Reconnected, it sends a live reading, then the
    queue (stamped an hour "ahead" of our clock now, so replaced, and below the live register):
    history, whose values are never shown; the next live reading is."""
    sim = await h.charger_client(boot=False)
    started = await sim.start_tx(meter=START_WH, timestamp=now_iso(-600))
    tx = started.transaction_id
    queued: list[tuple[str, float]] = []
    register = float(START_WH)
    with our_clock() as clock:
        for _ in range(3):
            clock.tick(20)
            register += CAR_W * 20 / 3600
            queued.append((now_iso(), round(register)))
        clock.step(timedelta(hours=-1))
        sim = await h.charger_client(boot=False)
        clock.tick(20)
        register += CAR_W * 20 / 3600
        await sim.meter(1, [*energy(round(register)), *flow(LIVE)], tx, now_iso())
        for stamp, wh in queued:
            await sim.meter(1, [energy16(wh), *flow(QUEUED)], transaction_id=tx, timestamp=stamp)
        assert_shown(h, LIVE)
        clock.tick(20)
        register += CAR_W * 20 / 3600
        await sim.meter(1, [*energy(round(register)), *flow(NEXT)], tx, now_iso())
    assert_shown(h, NEXT)
    assert h.charger.connector(1).session_energy_wh == pytest.approx(round(register) - START_WH)


async def test_a_clock_far_ahead_that_goes_back_an_hour_keeps_its_live_values_shown(
    h: Harness,
) -> None:
    """A charger keeping local time as UTC, two hours ahead in summer time, one hour at its end
    (every stamp of it replaced: too far ahead), sends a reading every 20 s. The first reading
    after the change is stamped an hour before the ones shown, and before the values shown before
    them too, but its register rose past theirs: taken after them, its values are shown at once;
    from the second one on, the clock's new offset is confirmed as well."""
    sim = await h.charger_client(boot=False)
    register = START_WH
    with our_clock() as clock:
        started = await sim.start_tx(meter=START_WH, timestamp=now_iso(2 * HOUR_S - 600))
        tx = started.transaction_id
        for _ in range(2):
            register = await next_reading(sim, clock, tx, register, 2 * HOUR_S, LIVE)
        # The end of summer time.
        register = await next_reading(sim, clock, tx, register, HOUR_S, QUEUED)
        assert_shown(h, QUEUED)
        register = await next_reading(sim, clock, tx, register, HOUR_S, NEXT)
        assert_shown(h, NEXT)
        register = await next_reading(sim, clock, tx, register, HOUR_S, QUEUED)
        assert_shown(h, QUEUED)
    assert h.charger.connector(1).session_energy_wh == register - START_WH


async def test_a_queue_after_our_clock_went_back_leaves_the_live_values_shown(h: Harness) -> None:
    """The charger sets its clock by ours. Home Assistant's clock goes back an hour; the charger
    queues two readings (power etc. only: a register would tell them from the live values by
    itself), then sends a live reading, then the queue. By its stamps the queue lies before the
    live values, and an hour "before" the ones shown before them: after them once our clock's
    step is taken out (later_s), a queue whose values are never shown."""
    sim = await h.charger_client(boot=False)
    tx = (await sim.start_tx(meter=START_WH, timestamp=now_iso(-600))).transaction_id
    with our_clock() as clock:
        for _ in range(2):
            await sim.meter(1, flow(LIVE), transaction_id=tx, timestamp=now_iso())
            clock.tick(20)
        clock.step(timedelta(hours=-1))
        queued = []
        for _ in range(2):
            clock.tick(20)
            queued.append(now_iso())
        clock.tick(20)
        await sim.meter(1, flow(NEXT), transaction_id=tx, timestamp=now_iso())
        for stamp in queued:
            await sim.meter(1, flow(QUEUED), transaction_id=tx, timestamp=stamp)
    assert_shown(h, NEXT)
