"""Time going wrong, on real websockets with a real 1.6 client: a charger whose clock is wrong
(set to its firmware's build date after a power loss, then set right by our BootNotification /
Heartbeat answer) and Home Assistant's clock jumping while timers run."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from unittest.mock import patch

import pytest
from freezegun import freeze_time
from freezegun.api import TickingDateTimeFactory

from custom_components.ocpp_ems.core.ems import (
    ChargerSettings,
    EnergyManager,
    Mode,
    SiteSettings,
    SolarSettings,
)
from custom_components.ocpp_ems.core.ems.timers import HoldTimer
from tests.ems.util import Loop

from .v16_harness import Harness, SimCharger, now_iso

# A real-time clock that lost its time restarts at the firmware's build date: after 2010, so it
# passes for a real time.
BUILD_DATE = "2021-03-01T00:00:00Z"


@pytest.fixture
def h(h_cp1: Harness) -> Harness:
    return h_cp1


def energy(wh: float) -> list[dict[str, str]]:
    return [{"value": str(wh), "measurand": "Energy.Active.Import.Register", "unit": "Wh"}]


class OurClock:
    """Home Assistant's clock, run by the test: ``tick`` lets time pass, ``step`` corrects the
    clock (NTP): the time of day jumps, the monotonic clock runs on (freezegun alone moves both)."""

    def __init__(self, frozen: TickingDateTimeFactory, monotonic_now: float) -> None:
        self._frozen = frozen
        self._frozen_monotonic = time.monotonic  # freezegun's: follows the frozen time of day
        self._offset_s = monotonic_now - self._frozen_monotonic()

    def monotonic(self) -> float:
        return self._frozen_monotonic() + self._offset_s

    def tick(self, seconds: float) -> None:
        self._frozen.tick(seconds)

    def step(self, delta: timedelta) -> None:
        self._frozen.tick(delta)
        self._offset_s -= delta.total_seconds()


@contextmanager
def our_clock() -> Iterator[OurClock]:
    """Home Assistant's clock from now on, as :class:`OurClock` runs it. The event loop keeps
    real time (the test plugin makes it follow ``time.monotonic``): a websocket's keepalive ping
    must not time out because a tick jumped over its answer."""
    monotonic_now = time.monotonic()
    with (
        patch.object(asyncio.get_running_loop(), "time", time.monotonic),
        freeze_time(datetime.now(UTC), tick=True) as frozen,
    ):
        assert isinstance(frozen, TickingDateTimeFactory)
        clock = OurClock(frozen, monotonic_now)
        with patch.object(time, "monotonic", clock.monotonic):
            yield clock


# A 22 kW car (W), and what it charges a minute (Wh).
CAR_W = 22_000
PER_MINUTE_WH = CAR_W / 60
START_WH = 10_000  # the register at the session's start


async def charging(h: Harness) -> tuple[SimCharger, int, float]:
    """A 22 kW session that began 10 minutes ago at :data:`START_WH`, its register just reported:
    the charger, the transaction id and the register (Wh)."""
    sim = await h.charger_client(boot=False)
    started = await sim.start_tx(meter=START_WH, timestamp=now_iso(-600))
    register = START_WH + 10 * PER_MINUTE_WH
    await sim.meter(1, energy(round(register)), transaction_id=started.transaction_id)
    return sim, started.transaction_id, register


def assert_counted_once(h: Harness, register: float) -> None:
    """The session and the lifetime hold the register's whole rise, once."""
    connector = h.charger.connector(1)
    assert connector.session_energy_wh == pytest.approx(round(register) - START_WH, abs=1)
    assert h.charger.lifetime_energy.total_wh == pytest.approx(round(register), abs=1)


async def test_a_start_stamped_at_a_wrong_old_date_gives_no_allowance_to_an_outlier(
    h: Harness,
) -> None:
    """The charger starts a session while its clock shows its build date (years ago), then sets
    its clock by our answer: a single outlier register (5 MWh, a meter glitch) right after must
    count nothing, like any single high reading. The years between the start's stamp and now are
    no time the charger could have charged in (they were a few seconds by our clock)."""
    sim = await h.charger_client(boot=False)
    started = await sim.start_tx(meter=1000, timestamp=BUILD_DATE)
    tx = started.transaction_id
    await sim.meter(1, energy(5_001_000), transaction_id=tx, timestamp=now_iso())
    connector = h.charger.connector(1)
    assert connector.session_energy_wh is not None
    assert connector.session_energy_wh < 1000, connector.session_energy_wh
    assert h.charger.lifetime_energy.total_wh < 2000, h.charger.lifetime_energy.total_wh


def test_a_hold_timer_survives_the_clock_going_back() -> None:
    """Home Assistant's clock goes back an hour (an NTP correction) while a 5-minute stop delay
    runs: the delay must not grow by the hour (the car would charge on grid for 65 minutes)."""
    timer = HoldTimer()
    start = 1_000_000.0
    assert not timer.update(True, start, 300.0)
    back = start - 3600.0 + 10.0  # ten seconds later, by a clock an hour behind
    timer.clock_went_back(3600.0 - 10.0)  # as the manager tells every timer it keeps
    held = [timer.update(True, back + s, 300.0) for s in range(0, 331, 30)]
    assert held[-1], "the stop delay did not end within its 5 minutes after the clock jump"


def test_a_solar_stop_delay_running_when_the_clock_goes_back_ends_in_minutes() -> None:
    """A car on surplus, the sun gone below its minimum: the 180 s stop delay runs when Home
    Assistant's clock goes back an hour. The car must stop within the delay after the jump, not
    draw its minimum from the grid for an hour more."""
    manager = EnergyManager(
        SiteSettings(solar=SolarSettings(regulation_margin_w=0.0, disable_delay_s=180)),
        {"a": ChargerSettings(mode=Mode.SOLAR)},
    )
    loop = Loop(manager, lambda t: 6000.0 if t < 100 else 3600.0, house=0.0)
    loop.run(0, 99)
    # The dip from 100 on; the pv function keys on the time, so the jump keeps it a dip.
    loop.pv = lambda t: 6000.0 if 0 <= t < 100 else 3600.0
    loop.run(100, 150)
    assert not loop.commands["a"].paused  # type: ignore[union-attr]
    jumped = 151 - 3600
    stopped = next(
        (t for t in range(jumped, jumped + 3700) if loop.run(t, t).chargers["a"].target.paused),
        None,
    )
    assert stopped is not None
    assert stopped - jumped <= 180, f"stopped {stopped - jumped} s after the clock went back"


@pytest.mark.parametrize(
    "step_h",
    [0, -1, 1],
    ids=["steady-clock", "clock-back-an-hour", "clock-forward-an-hour"],
)
async def test_energy_charged_across_a_step_of_our_clock_counts_once(
    h: Harness, step_h: int
) -> None:
    """A 22 kW car, the charger reporting its register every minute with the time it got from
    our Heartbeat. Home Assistant's clock steps an hour back or ahead (an NTP correction) and the
    charger follows it: its next readings are an hour "older" or "newer" than the last one
    counted. Every kWh the register rose is the session's and the lifetime's, exactly once: none
    may be taken for a replay of history or a register jump."""
    sim, tx, register = await charging(h)
    with our_clock() as clock:
        clock.step(timedelta(hours=step_h))
        for _ in range(70):
            clock.tick(60)
            register += PER_MINUTE_WH
            await sim.meter(1, energy(round(register)), transaction_id=tx)
    assert_counted_once(h, register)


@pytest.mark.parametrize(
    "live_after_jump", [0, 5], ids=["taken-before-the-jump", "taken-after-the-jump"]
)
async def test_readings_replayed_after_our_clock_went_back_count_once(
    h: Harness, live_after_jump: int
) -> None:
    """A 22 kW car, the charger reporting every 20 s: two readings in a row differ by less than
    the tolerance, so re-sent ones would confirm one another as a register reset. Home
    Assistant's clock goes back an hour, a minute passes without a reading and the charger
    follows our clock; after ``live_after_jump`` more readings it reconnects and re-sends its last
    five with their original stamps (those taken before the jump lie an hour "ahead" of the clock
    now), then reports on. The re-sent ones were counted already: the session ends with the
    register's rise, counted once."""
    sim = await h.charger_client(boot=False)
    started = await sim.start_tx(meter=10_000, timestamp=now_iso(-600))
    tx = started.transaction_id
    register = 10_000.0
    sent: list[tuple[str, int]] = []

    async def report(after_s: float) -> None:
        nonlocal register
        register += CAR_W * after_s / 3600
        sent.append((now_iso(), round(register)))
        await sim.meter(1, energy(sent[-1][1]), transaction_id=tx, timestamp=sent[-1][0])

    with our_clock() as clock:
        for _ in range(30):
            clock.tick(20)
            await report(20)
        clock.step(timedelta(hours=-1))
        clock.tick(60)
        register += PER_MINUTE_WH  # charged in the minute without a reading
        for _ in range(live_after_jump):
            clock.tick(20)
            await report(20)
        sim = await h.charger_client(boot=False)
        for stamp, value in sent[-5:]:
            await sim.meter(1, energy(value), transaction_id=tx, timestamp=stamp)
        for _ in range(30):
            clock.tick(20)
            await report(20)
    connector = h.charger.connector(1)
    assert connector.session_energy_wh == pytest.approx(round(register) - 10_000, abs=1)
    assert h.charger.lifetime_energy.total_wh == pytest.approx(round(register), abs=1)


def test_a_start_after_the_clock_went_back_is_not_held_for_the_jump() -> None:
    """A solar car was paused a moment ago (its last write); Home Assistant's clock then goes back
    an hour and the sun comes: the car must start within its start delay and write interval,
    not an hour later (the write interval counted from a last write now "in the future")."""
    manager = EnergyManager(
        SiteSettings(solar=SolarSettings(regulation_margin_w=0.0, disable_delay_s=60)),
        {"a": ChargerSettings(mode=Mode.SOLAR)},
    )
    sun = {"on": True}
    loop = Loop(manager, lambda t: 6000.0 if sun["on"] else 0.0, house=0.0)
    loop.run(0, 60)
    sun["on"] = False
    loop.run(61, 200)
    assert loop.commands["a"].paused  # type: ignore[union-attr]
    sun["on"] = True
    jumped = 201 - 3600
    started = next(
        (
            t
            for t in range(jumped, jumped + 3700)
            if not loop.run(t, t).chargers["a"].target.paused and not loop.commands["a"].paused  # type: ignore[union-attr]
        ),
        None,
    )
    assert started is not None
    assert started - jumped <= 600, f"started {started - jumped} s after the clock went back"
