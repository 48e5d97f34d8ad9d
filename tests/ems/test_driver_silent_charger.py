"""The driver and a charger that leaves the energy manager's writes unanswered (a silent or busy
charger: each write waits out the response timeout): written again after a wait that doubles
while it stays silent, as the user's pause waits (``backoff.backed_off``), its writes held
meanwhile; a write taken, or a new connection, ends the run. A refused stop waits so too."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from itertools import pairwise

from custom_components.ocpp_ems.core.backoff import REFUSED_RETRY_MAX_S
from custom_components.ocpp_ems.core.ems.driver import ChargerLink
from custom_components.ocpp_ems.core.ems.types import ChargerCommand, Mode
from custom_components.ocpp_ems.core.errors import CommandTimeoutError
from custom_components.ocpp_ems.core.settings import PauseStrategy

from .test_driver import TIMING, Control, Rig, rig

HOUR_S = 3600.0
STEP_S = 5.0  # a decision every 5 s (sensors change often), all the while


def _silent(r: Rig, silent: bool = True) -> None:
    """The charger leaves every write unanswered (``silent``), or answers again."""

    def no_answer() -> None:
        raise CommandTimeoutError("SetChargingProfile")

    r.control.on_call = no_answer if silent else None


async def _write_times(r: Rig, duration_s: float) -> list[float]:
    """Decide every STEP_S for ``duration_s``, sending each write: when a write reached the
    charger (since now)."""
    start, times = r.clock.t, []
    while r.clock.t - start < duration_s:
        before = len(r.control.calls)
        await r.step(after_s=STEP_S)
        if len(r.control.calls) > before:
            times.append(r.clock.t - start)
    return times


def _gaps(times: list[float]) -> list[float]:
    return [later - earlier for earlier, later in pairwise(times)]


async def test_a_silent_charger_is_asked_again_with_a_growing_wait() -> None:
    """Over an hour, a decision every 5 s: each write left unanswered was sent again at the next
    decision (720 writes); now each wait is twice the one before, up to the user's pause's
    longest (10 min)."""
    r = rig()
    _silent(r)
    times = await _write_times(r, HOUR_S)
    doubling = [TIMING.retry_s * 2**n for n in range(7)]  # 5 s ... 320 s
    assert doubling[-1] * 2 > REFUSED_RETRY_MAX_S
    assert _gaps(times)[:8] == [*doubling, REFUSED_RETRY_MAX_S]
    assert set(_gaps(times)[7:]) == {REFUSED_RETRY_MAX_S}
    assert len(times) == 12  # (720 before: one at every decision)


async def test_its_writes_are_held_meanwhile_and_the_latest_decision_goes_out() -> None:
    """A raise while the charger is silent (the user allows more current) waits with the rest:
    sent at the end of the wait, not into the silence."""
    r = rig()
    r.driver.update_charger("a", {"max_current_a": 16.0})
    _silent(r)
    _, retries = await r.step()
    assert retries == [r.clock.t + TIMING.retry_s]
    r.driver.update_charger("a", {"max_current_a": 32.0})
    step, _ = await r.step(after_s=1.0)
    assert step.writes == {}
    assert step.wake_at == r.clock.t - 1.0 + TIMING.retry_s
    _silent(r, False)
    step, _ = await r.step(after_s=TIMING.retry_s)
    assert step.writes == {"a": ChargerCommand(32.0, 3)}
    assert r.control.calls == [("set_limit", 16.0, None), ("set_limit", 32.0, None)]


async def test_a_write_that_takes_less_goes_out_into_the_silence() -> None:
    """Less power (the user picks Off; the fuse or the grid asks for less) is never held: the
    charger may have recovered, and the car must not draw the old current for the whole wait."""
    r = rig()
    _silent(r)
    await r.step()
    r.driver.update_charger("a", {"max_current_a": 16.0})
    step, _ = await r.step(after_s=1.0)
    assert step.writes == {"a": ChargerCommand(16.0, 3)}
    _silent(r, False)
    r.driver.update_charger("a", {"mode": Mode.OFF})
    step, _ = await r.step(after_s=1.0)
    assert step.writes == {"a": ChargerCommand.pause(3)}
    assert r.control.calls == [
        ("set_limit", 32.0, None),
        ("set_limit", 16.0, None),
        ("set_limit", 0.0, None),
    ]


async def test_an_answer_ends_the_run() -> None:
    """Taken after two unanswered writes: the next failure waits the first wait again."""
    r = rig()
    _silent(r)
    assert _gaps(await _write_times(r, 4 * TIMING.retry_s)) == [5.0, 10.0]
    _silent(r, False)
    calls = len(r.control.calls)
    await r.step(after_s=4 * TIMING.retry_s)  # the third goes out when its wait is over: taken
    assert len(r.control.calls) == calls + 1
    r.driver.update_charger("a", {"max_current_a": 16.0})  # (something new to write)
    _silent(r)
    _, retries = await r.step()
    assert retries == [r.clock.t + TIMING.retry_s]


async def test_a_new_connection_is_asked_at_once() -> None:
    """The charger goes away during a long wait and comes back: its new connection gets the
    decision at once, and a failure there waits the first wait."""
    r = rig()
    _silent(r)
    await _write_times(r, 4 * TIMING.retry_s)  # waits of 5, 10, 20 s: the next is 40 s
    r.model.connected = False
    r.driver.charger_changed("a")
    r.model.connected = True
    r.driver.charger_changed("a")
    calls = len(r.control.calls)
    _, retries = await r.step(after_s=1.0)
    assert len(r.control.calls) == calls + 1
    assert retries == [r.clock.t + TIMING.retry_s]


@dataclass
class _GatedControl(Control):
    """A control whose limit writes wait for ``gate`` (a write in flight)."""

    gate: asyncio.Event = field(default_factory=asyncio.Event)

    async def set_limit(
        self, amps: float | None, *, phases: int | None = None, by_manager: bool = False
    ) -> None:
        await self.gate.wait()
        await super().set_limit(amps, phases=phases, by_manager=by_manager)


async def test_a_write_queued_behind_an_unanswered_one_is_held_too() -> None:
    """The next decision's write waits behind the one in flight; that one goes unanswered: the
    queued write is not sent into the silence either, but at the end of the wait."""
    r = rig()
    control = _GatedControl()
    r.control = control
    r.driver.remove_charger("a")
    r.driver.add_charger("a", ChargerLink(model=r.model, control=lambda: control))
    _silent(r)
    first = asyncio.ensure_future(r.driver.write("a", ChargerCommand(10.0, 3)))
    second = asyncio.ensure_future(r.driver.write("a", ChargerCommand(12.0, 3)))
    await asyncio.sleep(0)
    control.gate.set()
    assert await first == r.clock.t + TIMING.retry_s
    assert await second is None
    assert control.calls == [("set_limit", 10.0, None)]


async def test_a_refused_stop_is_asked_again_with_a_growing_wait() -> None:
    """A charger that refuses the manager's stop (a car it started by itself charges on) is asked
    again after 5, 10, 20 s ..., not every 5 s for ever; its other writes are not held (it
    answers)."""
    r = rig(strategy=PauseStrategy.REMOTE_STOP_START, mode=Mode.OFF)
    r.control.fail = {"pause"}
    times = await _write_times(r, 40.0)
    assert _gaps(times) == [5.0, 10.0, 20.0]
    r.driver.update_charger("a", {"mode": Mode.FAST})
    step, _ = await r.step(after_s=10.0)  # (a start waits for the write interval)
    assert step.writes == {"a": ChargerCommand(32.0, 3)}  # not held to the stop's next ask
    assert r.control.calls[-2:] == [("set_limit", 32.0, None), ("resume",)]


async def test_a_hand_back_taken_ends_the_run() -> None:
    """Silent, then switched off: the hand-back is taken (it answers again). Switched on, the
    manager's next write goes out at once, and a failure there waits the first wait."""
    r = rig()
    r.control.limit = r.model.limit  # one limit state, as with the real current control
    r.driver.set_active(True)  # (claimed again into it)
    _silent(r)
    await _write_times(r, 4 * TIMING.retry_s)  # waits of 5, 10, 20 s: held for 40 s now
    _silent(r, False)
    r.driver.set_active(False)
    assert r.driver.let_go() == ["a"]
    assert await r.driver.hand_back("a") is None
    r.driver.set_active(True)
    _silent(r)
    calls = len(r.control.calls)
    _, retries = await r.step(after_s=1.0)
    assert len(r.control.calls) == calls + 1
    assert retries == [r.clock.t + TIMING.retry_s]
