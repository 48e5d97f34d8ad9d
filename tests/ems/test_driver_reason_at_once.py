"""The reason says the manager waits for the charger from the moment a write fails (left
unanswered, or a stop refused), and says so no more the moment the charger takes one: the latest
decision is shown again (listeners told), with no new decision and no write. It said so only at
the next decision, up to the 30 s watchdog later (a car held at 0 A looked "off" or "waiting for
surplus" meanwhile); and the controller's own ``until`` (a planned slot) was lost beside it."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from custom_components.ocpp_ems.core.ems.charger_config import EmsOptions
from custom_components.ocpp_ems.core.ems.driver import Step
from custom_components.ocpp_ems.core.ems.types import ChargerCommand, ChargerDecision, Mode, Reason
from custom_components.ocpp_ems.core.settings import PauseStrategy

from .test_driver import TIMING, Rig, rig
from .test_driver_silent_charger import _silent
from .util import car, site

HOUR_S = 3600.0


def _shown(r: Rig, charger_id: str = "a") -> ChargerDecision:
    decision = r.driver.charger_decision(charger_id)
    assert decision is not None
    return decision


def _told(r: Rig) -> list[Reason]:
    """The reason shown each time the driver told its listeners the decision changed."""
    told: list[Reason] = []
    r.driver._on_shown = lambda: told.append(_shown(r).reason)
    return told


def _decide(r: Rig, after_s: float) -> Step:
    """A decision ``after_s`` from now, its writes not sent (the caller sends them)."""
    r.clock.t += after_s
    return r.driver.step(site(r.clock.t, 0.0, {"a": car(r.clock.t)}), r.clock.t)


def _answers_limits_when(r: Rig) -> asyncio.Event:
    """The charger answers a current limit only once the event returned is set."""
    answer = asyncio.Event()
    set_limit = r.control.set_limit

    async def slow(
        amps: float | None, *, phases: int | None = None, by_manager: bool = False
    ) -> None:
        await answer.wait()
        await set_limit(amps, phases=phases, by_manager=by_manager)

    r.control.set_limit = slow  # type: ignore[method-assign]
    return answer


async def test_a_write_left_unanswered_is_shown_at_once() -> None:
    r = rig()
    told = _told(r)
    r.driver.update_charger("a", {"max_current_a": 16.0})
    _silent(r)
    _, retries = await r.step()  # 16 A left unanswered
    failed_at = r.clock.t
    assert retries == [failed_at + TIMING.retry_s]
    shown = _shown(r)
    assert (shown.reason, shown.until, shown.controller_reason) == (
        Reason.CHARGER_NOT_ANSWERING,
        failed_at + TIMING.retry_s,
        Reason.FAST,
    )
    assert (shown.target, shown.write) == (ChargerCommand(16.0, 3), None)
    assert told == [Reason.CHARGER_NOT_ANSWERING]
    assert r.control.calls == [("set_limit", 16.0, None)]  # nothing more went out
    # The next decision shows what was shown (the one rule), and writes nothing either.
    step, _ = await r.step(after_s=1.0)
    assert (step.writes, _shown(r)) == ({}, shown)
    # The next try is taken: the controller's reason again, told once (the retry's decision
    # still said the manager waits for the charger).
    _silent(r, False)
    step, _ = await r.step(after_s=TIMING.retry_s)
    assert step.writes == {"a": ChargerCommand(16.0, 3)}
    assert (_shown(r).reason, _shown(r).controller_reason) == (Reason.FAST, None)
    assert told == [Reason.CHARGER_NOT_ANSWERING, Reason.FAST]


async def test_a_write_taken_ends_the_wait_at_once() -> None:
    """16 A taken, a raise left unanswered; 20 A goes out all the same (it takes less),
    answered late: a raise decided meanwhile waits for the charger. Once it answers, the reason
    is the controller's at once, not at the next decision (the wait's end: 5 s, later 10 min)."""
    r = rig(options=EmsOptions(min_write_interval_s=1.0))  # (a raise goes out after 1 s)
    told = _told(r)
    r.driver.update_charger("a", {"max_current_a": 16.0})
    await r.step()  # 16 A taken
    _silent(r)
    r.driver.update_charger("a", {"max_current_a": 32.0})
    step, _ = await r.step(after_s=1.0)  # a raise (a ramp's step) left unanswered
    raised = step.writes["a"]
    _silent(r, False)
    answer = _answers_limits_when(r)
    r.driver.update_charger("a", {"max_current_a": 20.0})
    lower = _decide(r, 1.0).writes["a"]
    assert lower.current_a < raised.current_a
    sent = asyncio.create_task(r.driver.write("a", lower))
    await asyncio.sleep(0)  # (on its way: the charger answers late)
    r.driver.update_charger("a", {"max_current_a": 32.0})
    assert _decide(r, 1.0).writes == {}  # (held)
    assert _shown(r).reason is Reason.CHARGER_NOT_ANSWERING
    answer.set()
    assert await sent is None  # taken
    assert (_shown(r).reason, _shown(r).until, _shown(r).controller_reason) == (
        Reason.FAST,
        None,
        None,
    )
    assert told == [Reason.CHARGER_NOT_ANSWERING, Reason.FAST]
    assert "a" in _decide(r, 1.0).writes  # (no longer held)


async def test_a_refused_stop_is_shown_at_once_with_the_controllers_until() -> None:
    """Plan mode waiting for its slot, on a charger that refuses the stop: "refused" at once,
    the controller's reason and when its wait ends (the planned slot) kept beside it."""
    r = rig(mode=Mode.PLAN, strategy=PauseStrategy.REMOTE_STOP_START)
    r.control.fail = {"pause"}
    departure = datetime.fromtimestamp(r.clock.t + 60.0 + 8 * HOUR_S, UTC)
    r.driver.update_charger("a", {"plan_departure": departure, "plan_energy_kwh": 10.0})
    told = _told(r)
    await r.step(charger=car(r.clock.t + 60.0, energy=0.0))
    shown = _shown(r)
    assert shown.target.paused
    assert (shown.reason, shown.until, shown.controller_reason) == (
        Reason.CHARGER_REFUSED,
        r.clock.t + TIMING.retry_s,
        Reason.PLAN_WAITING,
    )
    slot = shown.controller_until
    assert slot is not None
    assert r.clock.t < slot < departure.timestamp()
    assert told == [Reason.CHARGER_REFUSED]
    assert r.control.calls == [("pause",)]
    # Asked again, it stops: the controller's reason and its own until, as kept.
    r.control.fail = set()
    await r.step(after_s=TIMING.retry_s, charger=car(r.clock.t + TIMING.retry_s, energy=0.0))
    shown = _shown(r)
    assert (shown.reason, shown.until, shown.controller_reason, shown.controller_until) == (
        Reason.PLAN_WAITING,
        slot,
        None,
        None,
    )
    assert r.control.calls == [("pause",), ("pause",)]


async def test_an_unanswered_stop_says_the_charger_does_not_answer() -> None:
    """Mode Off, the stop left unanswered: the manager waits for the charger as for a refused
    one (it showed "off" while the stop waited for its next try)."""
    r = rig(mode=Mode.OFF, strategy=PauseStrategy.REMOTE_STOP_START)
    _silent(r)
    await r.step()
    assert (_shown(r).reason, _shown(r).controller_reason) == (
        Reason.CHARGER_NOT_ANSWERING,
        Reason.OFF,
    )
    step, _ = await r.step(after_s=1.0)
    assert step.writes == {}
    assert _shown(r).reason is Reason.CHARGER_NOT_ANSWERING


async def test_a_failure_before_any_decision_changes_nothing() -> None:
    """A write failed before any decision: nothing is shown, nobody is told."""
    r = rig()
    told = _told(r)
    _silent(r)
    assert await r.driver.write("a", ChargerCommand(16.0, 3)) is not None
    assert (r.driver.decision, told) == (None, [])
