"""The first live reading after a 1.6 charger's clock went back is stamped before the values shown
(the power and current the energy manager regulates by). Its register, risen past the one read
with the values shown, proves it taken after them (registers only count up): its values are shown
at once, not one reading later (meter._register_proves_after). Nothing else proves it: a register
below or equal to the shown one, a coarse register's rise by less than its step, a register of
the life before a reset, a reading without a register, or values shown without one."""

from __future__ import annotations

from typing import Any

import pytest

from .test_meter_history_shown import LIVE, NEXT, QUEUED, assert_shown, flow
from .test_time_hostile import START_WH, OurClock, our_clock
from .v16_harness import Harness, SimCharger, now_iso

HOUR_S = 3600.0
READING_EVERY_S = 20


@pytest.fixture
def h(h_cp1: Harness) -> Harness:
    return h_cp1


def wh(value: float) -> dict[str, Any]:
    return {"value": str(value), "measurand": "Energy.Active.Import.Register", "unit": "Wh"}


def kwh(value: str) -> dict[str, Any]:
    return {"value": value, "measurand": "Energy.Active.Import.Register", "unit": "kWh"}


def unitless(kwh: float) -> dict[str, Any]:
    """A register in kWh sent without a unit (1.6 reads Wh by default)."""
    return {"value": str(kwh), "measurand": "Energy.Active.Import.Register"}


async def read(
    sim: SimCharger,
    clock: OurClock,
    tx: int,
    register: dict[str, Any] | None,
    values: tuple[float, float, float],
    offset_s: float = 0.0,
) -> str:
    """20 s on, a live reading of ``register`` (None: power etc. only) and ``values``, stamped
    ``offset_s`` off our clock: its stamp."""
    clock.tick(READING_EVERY_S)
    stamp = now_iso(offset_s)
    await sim.meter(1, [*([register] if register else []), *flow(values)], tx, stamp)
    return stamp


async def session(h: Harness, meter_wh: int = START_WH) -> tuple[SimCharger, int]:
    sim = await h.charger_client(boot=False)
    return sim, (await sim.start_tx(meter=meter_wh, timestamp=now_iso(-600))).transaction_id


async def test_a_clock_back_by_less_than_a_reading_interval_shows_its_first_reading(
    h: Harness,
) -> None:
    """An NTP correction of 30 s back: the first reading after it is stamped between the values
    shown and those before them (10 s before the shown ones), the place of an offline queue; its
    register rose 61 Wh past theirs: shown at once."""
    sim, tx = await session(h)
    with our_clock() as clock:
        await read(sim, clock, tx, wh(10_061), LIVE)
        await read(sim, clock, tx, wh(10_122), LIVE)
        await read(sim, clock, tx, wh(10_183), NEXT, offset_s=-30)
        assert_shown(h, NEXT)
    assert h.charger.connector(1).session_energy_wh == 183


async def test_a_unitless_kwh_register_proves_the_first_reading_after_the_clock_went_back(
    h: Harness,
) -> None:
    """Registers in kWh without a unit, read as kWh against the meterStart in Wh: the first reading
    after the clock went back an hour rose a step (0.1 kWh) past the shown one: shown at once."""
    sim, tx = await session(h)
    with our_clock() as clock:
        await read(sim, clock, tx, unitless(10.1), LIVE)
        await read(sim, clock, tx, unitless(10.2), LIVE)
        await read(sim, clock, tx, unitless(10.3), NEXT, offset_s=-HOUR_S)
        assert_shown(h, NEXT)
    assert h.charger.connector(1).session_energy_wh == pytest.approx(300)


async def test_a_register_that_did_not_rise_a_step_proves_nothing(h: Harness) -> None:
    """A whole-kWh register unchanged for minutes when the clock went back an hour; later, set
    right again, the clock goes back two hours, and the register (0.1 kWh now) lies 70 Wh past the
    finer one shown: less than its step (a coarse register rounds up). Both wait for the clock's
    new offset, as before."""
    sim, tx = await session(h)
    with our_clock() as clock:
        await read(sim, clock, tx, kwh("10"), LIVE)
        await read(sim, clock, tx, kwh("10"), LIVE)
        await read(sim, clock, tx, kwh("10"), NEXT, offset_s=-HOUR_S)
        assert_shown(h, LIVE)
        await read(sim, clock, tx, wh(10_130), LIVE)
        await read(sim, clock, tx, kwh("10.2"), QUEUED, offset_s=-2 * HOUR_S)
        assert_shown(h, LIVE)
    assert h.charger.connector(1).session_energy_wh == 200


async def test_an_old_queue_below_the_shown_register_is_never_shown(h: Harness) -> None:
    """An offline queue flushed after two live readings, stamped before both: its registers lie
    below the shown one (history), its values are never shown."""
    sim, tx = await session(h)
    with our_clock() as clock:
        await read(sim, clock, tx, wh(10_100), LIVE)
        await read(sim, clock, tx, wh(10_200), LIVE)
        for register in (10_150, 10_180):
            await sim.meter(1, [wh(register), *flow(QUEUED)], tx, now_iso(-HOUR_S))
        assert_shown(h, LIVE)


async def test_a_queue_sent_again_after_the_register_reset_is_never_shown(h: Harness) -> None:
    """The charger queues two readings while offline, reboots and counts from 0 again (a reset,
    confirmed by its next reading), then sends its old queue again: the last queued register
    (213 Wh) lies past the new life's shown one (172 Wh), but it was read in the life before the
    reset; its values are never shown."""
    sim, tx = await session(h, meter_wh=0)
    with our_clock() as clock:
        await read(sim, clock, tx, wh(53), LIVE)
        await read(sim, clock, tx, wh(101), LIVE)
        queued = [(now_iso(READING_EVERY_S), 151), (now_iso(2 * READING_EVERY_S), 213)]
        clock.tick(2 * READING_EVERY_S)
        for register in (3, 61, 117, 172):
            await read(sim, clock, tx, wh(register), NEXT)
        assert_shown(h, NEXT)
        for stamp, register in queued:
            await sim.meter(1, [wh(register), *flow(QUEUED)], tx, stamp)
        assert_shown(h, NEXT)


async def test_power_only_readings_after_the_clock_went_back_prove_nothing(h: Harness) -> None:
    """Readings without a register: after the clock went back an hour, the first waits for the
    clock's new offset (a queue flushed now would be stamped alike), the second is shown."""
    sim, tx = await session(h)
    with our_clock() as clock:
        await read(sim, clock, tx, wh(10_100), LIVE)
        await read(sim, clock, tx, wh(10_200), LIVE)
        await read(sim, clock, tx, None, QUEUED, offset_s=-HOUR_S)
        assert_shown(h, LIVE)
        await read(sim, clock, tx, None, NEXT, offset_s=-HOUR_S)
        assert_shown(h, NEXT)


async def test_values_shown_without_a_register_are_no_mark_for_a_queue(h: Harness) -> None:
    """A live reading with a register (10,100 Wh), then one with power only, then the queue taken
    between them (stamped between the values shown and those before them), its registers rising
    past 10,100 Wh: nothing proves it taken after the power-only values shown (their register is
    unknown); its values are never shown."""
    sim, tx = await session(h)
    with our_clock() as clock:
        await read(sim, clock, tx, wh(10_100), LIVE)
        queued = [(now_iso(5), 10_150), (now_iso(10), 10_190)]
        await read(sim, clock, tx, None, NEXT)
        for stamp, register in queued:
            await sim.meter(1, [wh(register), *flow(QUEUED)], tx, stamp)
        assert_shown(h, NEXT)
