"""Home Assistant's clock going back an hour (an NTP correction, a Raspberry Pi that restores the
time it last saved) around what the meter rules keep from before the jump: a register restored
after a restart, a charger's offline queue flushed after its live readings, the power shown."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from custom_components.ocpp_ems.core.settings import ServerSettings

from .fakes import MemoryDirectory
from .test_energy_quirks import harness_with, restarted
from .test_time_hostile import (
    CAR_W,
    PER_MINUTE_WH,
    START_WH,
    assert_counted_once,
    charging,
    energy,
    our_clock,
)
from .v16_harness import Harness, now_iso

HOUR = timedelta(hours=1)


@pytest.fixture
def h(h_cp1: Harness) -> Harness:
    return h_cp1


@pytest.mark.parametrize("charger_clock", [0, 1], ids=["stamped-by-our-clock", "by-its-own"])
async def test_energy_charged_after_a_restart_with_our_clock_an_hour_back_is_counted(
    h: Harness, directory: MemoryDirectory, server_settings: ServerSettings, charger_clock: int
) -> None:
    """Home Assistant restarts (a minute down, the car charging on) with its clock an hour behind
    the time it saved the register at; the car charges 22 kW for an hour more, reported every
    minute, stamped by our clock or by the charger's own (right, so an hour ahead of ours). The
    restored register is from before the restart: every kWh after it counts, once."""
    _sim, tx, register = await charging(h)
    with our_clock() as clock:
        clock.tick(60)
        register += PER_MINUTE_WH  # charged while Home Assistant was down
        clock.step(-HOUR)
        async with harness_with(restarted(h.charger), directory, server_settings, Harness) as h2:
            sim = await h2.charger_client(boot=False)
            for _ in range(60):
                clock.tick(60)
                register += PER_MINUTE_WH
                stamp = now_iso(charger_clock * HOUR.total_seconds())
                await sim.meter(1, energy(round(register)), transaction_id=tx, timestamp=stamp)
            assert_counted_once(h2, register)


@pytest.mark.parametrize("charger_clock", [0, 1], ids=["set-to-our-time", "not-synced-yet"])
@pytest.mark.parametrize("live_first", [1, 3], ids=["one-live-reading", "three-live-readings"])
async def test_an_offline_queue_from_before_the_jump_flushed_after_live_readings_counts_once(
    h: Harness, live_first: int, charger_clock: int
) -> None:
    """The charger loses its connection and queues a reading every 20 s for two minutes; Home
    Assistant's clock goes back an hour meanwhile. Reconnected, the charger sends ``live_first``
    live readings, stamped by our time (it set its clock by ours) or by its own, right, an hour
    ahead of ours (no BootNotification / Heartbeat answer since the jump), then flushes its queue
    with the stamps it took them at (an hour "ahead" of our clock now, and below the live
    register), then reports on. Every kWh the register rose counts once: the queue is history,
    neither a reset nor new energy."""
    sim, tx, register = await charging(h)
    queued: list[tuple[str, int]] = []
    with our_clock() as clock:
        for _ in range(6):
            clock.tick(20)
            register += CAR_W * 20 / 3600
            queued.append((now_iso(), round(register)))
        clock.step(-HOUR)
        sim = await h.charger_client(boot=False)
        ahead_s = charger_clock * HOUR.total_seconds()
        for _ in range(live_first):
            clock.tick(20)
            register += CAR_W * 20 / 3600
            await sim.meter(1, energy(round(register)), tx, now_iso(ahead_s))
        for stamp, value in queued:
            await sim.meter(1, energy(value), transaction_id=tx, timestamp=stamp)
        for _ in range(30):
            clock.tick(20)
            register += CAR_W * 20 / 3600
            await sim.meter(1, energy(round(register)), tx, now_iso(ahead_s))
    assert_counted_once(h, register)


def _flow(watts: float, amps: float) -> list[dict[str, Any]]:
    return [
        {"value": str(watts), "measurand": "Power.Active.Import", "unit": "W"},
        {"value": str(amps), "measurand": "Current.Import", "unit": "A", "phase": "L1"},
    ]


@pytest.mark.parametrize("charger_clock", [0, 1], ids=["stamped-by-our-clock", "by-its-own"])
async def test_power_and_current_follow_the_charger_right_after_our_clock_went_back(
    h: Harness, charger_clock: int
) -> None:
    """A car at 22 kW; Home Assistant's clock goes back an hour, and 20 s later the car drops to
    11 kW. The charger stamps by our clock (it follows it at once) or by its own, an hour ahead
    of ours until our next Heartbeat answer sets it (up to the Heartbeat interval we configure,
    5 minutes). The power and current shown, which the energy manager regulates by, are the new
    ones at once: readings that arrive after the last are no history."""
    sim = await h.charger_client(boot=False)
    started = await sim.start_tx(meter=START_WH, timestamp=now_iso(-600))
    tx = started.transaction_id
    with our_clock() as clock:
        await sim.meter(1, _flow(CAR_W, 32.0), transaction_id=tx)
        clock.step(-HOUR)
        clock.tick(20)
        stamp = now_iso(charger_clock * HOUR.total_seconds())
        await sim.meter(1, _flow(CAR_W / 2, 16.0), transaction_id=tx, timestamp=stamp)
    meter = h.charger.connector(1).meter
    assert (meter.power_w, meter.current_a.l1) == (CAR_W / 2, 16.0)


async def test_a_reading_sent_again_after_a_restart_below_the_restored_register_counts_once(
    h: Harness, directory: MemoryDirectory, server_settings: ServerSettings
) -> None:
    """Home Assistant's clock goes back an hour; the charger, not set to our time yet, reports
    three readings 20 s apart stamped by its own clock (an hour ahead of ours). Home
    Assistant restarts; the charger sends the first two again (their answers were lost), then
    reports on. The register restored is the third: the two, stamped before it by the charger's
    clock, are history, never a reset that confirms itself and counts again (+244 Wh)."""
    _sim, tx, register = await charging(h)
    with our_clock() as clock:
        clock.step(-HOUR)
        sim = await h.charger_client(boot=False)
        sent: list[tuple[str, int]] = []
        for _ in range(3):
            clock.tick(20)
            register += CAR_W * 20 / 3600
            sent.append((now_iso(HOUR.total_seconds()), round(register)))
            await sim.meter(1, energy(sent[-1][1]), tx, sent[-1][0])
        clock.tick(30)
        async with harness_with(restarted(h.charger), directory, server_settings, Harness) as h2:
            sim = await h2.charger_client(boot=False)
            for stamp, value in sent[:2]:
                await sim.meter(1, energy(value), transaction_id=tx, timestamp=stamp)
            for _ in range(5):
                clock.tick(60)
                register += PER_MINUTE_WH
                await sim.meter(1, energy(round(register)), tx, now_iso(HOUR.total_seconds()))
            assert_counted_once(h2, register)
