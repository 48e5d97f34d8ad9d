"""The reason while the manager writes again to a charger that failed (left a write unanswered,
refused a stop): it says the manager waits for the charger until a write is taken, a new
connection, or nothing is left to stop, and says the latest outcome. It flipped to the
controller's reason for each retry's round trip (two changes per retry of a silent charger),
kept a stop's wait for a session that ended while the stop was on its way (until the retry,
which had nothing to stop), and said "not answering" for a stop refused after one unanswered.
Fake clock and current control (``test_driver.rig``); the controller and the driver are real."""

from __future__ import annotations

import asyncio

from custom_components.ocpp_ems.core.ems.charger_config import EmsOptions
from custom_components.ocpp_ems.core.ems.discharge import DischargeEntity
from custom_components.ocpp_ems.core.ems.driver import Step
from custom_components.ocpp_ems.core.ems.types import ChargerCommand, Mode, Reason, SiteInputs
from custom_components.ocpp_ems.core.errors import CommandRejectedError, CommandTimeoutError
from custom_components.ocpp_ems.core.settings import PauseStrategy

from .test_driver import TIMING, Rig, open_session, rig
from .test_driver_reason_at_once import _decide, _shown
from .test_driver_silent_charger import _silent
from .util import car, site

STOP = "RemoteStopTransaction"


def _sensor(r: Rig) -> list[Reason]:
    """The reasons a sensor shows: the decision read after each step and at each ``on_shown``
    (a reason repeated is no change of state)."""
    shown: list[Reason] = []

    def read() -> None:
        reason = _shown(r).reason
        if not shown or shown[-1] is not reason:
            shown.append(reason)

    step = r.driver.step

    def step_and_read(
        inputs: SiteInputs, now: float, discharge: DischargeEntity | None = None
    ) -> Step:
        decided = step(inputs, now, discharge)
        read()
        return decided

    r.driver.step = step_and_read  # type: ignore[method-assign]
    r.driver._on_shown = read
    return shown


def _stop_fails_when(r: Rig, err: Exception) -> asyncio.Event:
    """The charger's next stops wait until the event returned is set, then fail with ``err``."""
    answer = asyncio.Event()

    async def pause() -> None:
        r.control.calls.append(("pause",))
        await answer.wait()
        raise err

    r.control.pause = pause  # type: ignore[method-assign]
    return answer


async def test_a_silent_charger_shows_not_answering_through_two_retries() -> None:
    """A decision every second, the charger silent: the first write and two retries (after 5 s
    and 10 s) go unanswered. The reason turns to "not answering" once, and stays."""
    r = rig()
    r.driver.update_charger("a", {"max_current_a": 16.0})
    shown = _sensor(r)
    _silent(r)
    tries = 0
    while tries < 3:
        _, retries = await r.step(after_s=1.0)
        tries += len(retries)
    assert len(r.control.calls) == 3
    # One change (there were five: back to Fast for each retry's round trip, then not again).
    assert shown == [Reason.FAST, Reason.CHARGER_NOT_ANSWERING]


async def test_a_retry_on_its_way_still_says_not_answering_until_it_is_taken() -> None:
    r = rig()
    r.driver.update_charger("a", {"max_current_a": 16.0})
    _silent(r)
    await r.step()
    retry = _decide(r, TIMING.retry_s).writes["a"]  # the wait is over: written again
    shown = _shown(r)
    assert (shown.reason, shown.controller_reason, shown.write) == (
        Reason.CHARGER_NOT_ANSWERING,
        Reason.FAST,
        retry,
    )
    assert shown.until == r.clock.t  # (the retry under way, at its time: one change per retry)
    _silent(r, False)
    assert await r.driver.write("a", retry) is None  # taken
    assert (_shown(r).reason, _shown(r).controller_reason) == (Reason.FAST, None)


async def test_a_retry_of_a_charger_taken_over_meanwhile_shows_manual() -> None:
    """Unanswered, then the user takes the charger over: its decision says Manual, not that
    the manager waits for it."""
    r = rig()
    _silent(r)
    await r.step()
    r.driver.take_over("a")
    await r.step(after_s=TIMING.retry_s)
    assert (_shown(r).reason, _shown(r).controller_reason) == (Reason.MANUAL, None)


async def _stopping(r: Rig, err: Exception) -> tuple[asyncio.Task[float | None], asyncio.Event]:
    """Mode Off with a session running: the stop is on its way (it fails with ``err`` once the
    event returned is set)."""
    answer = _stop_fails_when(r, err)
    stop = _decide(r, 1.0).writes["a"]
    assert stop.paused
    sending = asyncio.create_task(r.driver.write("a", stop))
    await asyncio.sleep(0)
    return sending, answer


def _session_ends(r: Rig) -> None:
    r.model.connector(1).transaction = None
    r.driver.charger_changed("a")


def _off_with_a_session() -> Rig:
    r = rig(mode=Mode.OFF, strategy=PauseStrategy.REMOTE_STOP_START)
    open_session(r.model, "tx1")
    r.driver.charger_changed("a")
    return r


async def test_a_session_that_ends_while_its_first_stop_is_on_its_way_leaves_no_wait() -> None:
    """The stop is left unanswered after the car ended the session: nothing is left to stop,
    the manager waits for nothing (it waited out the retry time, 5 s here, 30 s by default)."""
    r = _off_with_a_session()
    shown = _sensor(r)
    sending, answer = await _stopping(r, CommandTimeoutError(STOP))
    _session_ends(r)
    answer.set()
    assert await sending is None  # counts as written: no retry
    assert shown == [Reason.OFF]
    r.clock.t += 1.0
    step = r.driver.step(site(r.clock.t, 0.0, {"a": car(r.clock.t, plugged=False)}), r.clock.t)
    assert step.writes == {}
    assert step.wake_at == r.clock.t + TIMING.watchdog_s  # (no retry time)


async def test_a_session_that_ends_while_a_retried_stop_is_on_its_way_ends_the_wait() -> None:
    """The stop left unanswered, asked again; the car ends the session while the retry waits for
    the charger's answer: the reason is the controller's at once, and stays so when the retry
    goes unanswered too (it showed "not answering" until the next retry, 10 s later)."""
    r = _off_with_a_session()
    _stop_fails_when(r, CommandTimeoutError(STOP)).set()
    await r.step(after_s=1.0)
    assert _shown(r).reason is Reason.CHARGER_NOT_ANSWERING
    r.clock.t += TIMING.retry_s - 1.0
    sending, answer = await _stopping(r, CommandTimeoutError(STOP))
    assert _shown(r).reason is Reason.CHARGER_NOT_ANSWERING  # (the retry on its way)
    _session_ends(r)
    assert (_shown(r).reason, _shown(r).until) == (Reason.OFF, None)
    answer.set()
    assert await sending is None
    assert (_shown(r).reason, _shown(r).until) == (Reason.OFF, None)


async def test_a_stop_refused_after_one_left_unanswered_says_refused() -> None:
    """16 A taken; Off: the stop is left unanswered. The car starts a new session: its stop goes
    out into the silence (it takes less than 16 A) and the charger refuses it: it answers. The
    reason says "refused" (the latest outcome), and its writes are no longer held."""
    r = rig(strategy=PauseStrategy.REMOTE_STOP_START, options=EmsOptions(min_write_interval_s=1.0))
    r.driver.update_charger("a", {"max_current_a": 16.0})
    open_session(r.model, "tx1")
    r.driver.charger_changed("a")
    await r.step()  # 16 A taken
    r.driver.update_charger("a", {"mode": Mode.OFF})
    _stop_fails_when(r, CommandTimeoutError(STOP)).set()
    await r.step(after_s=1.0)
    assert _shown(r).reason is Reason.CHARGER_NOT_ANSWERING
    _stop_fails_when(r, CommandRejectedError(STOP, "Rejected")).set()
    open_session(r.model, "tx2")
    r.driver.charger_changed("a")
    step, retries = await r.step(after_s=1.0)
    assert step.writes == {"a": ChargerCommand.pause(3)}
    assert retries == [r.clock.t + 2 * TIMING.retry_s]  # (the run's second wait)
    assert (_shown(r).reason, _shown(r).controller_reason) == (Reason.CHARGER_REFUSED, Reason.OFF)
    r.driver.update_charger("a", {"mode": Mode.FAST})
    step, _ = await r.step(after_s=1.0)
    assert step.writes == {"a": ChargerCommand(16.0, 3)}  # (not held: it answers)
    assert _shown(r).reason is Reason.FAST


async def test_a_retried_stop_says_each_outcome_in_turn() -> None:
    """Unanswered, then refused at the retry, then unanswered again: each shown in turn."""
    r = _off_with_a_session()
    unanswered, refused = CommandTimeoutError(STOP), CommandRejectedError(STOP, "Rejected")
    for outcome, reason, wait_s in [
        (unanswered, Reason.CHARGER_NOT_ANSWERING, 5.0),
        (refused, Reason.CHARGER_REFUSED, 10.0),  # (one run: the wait doubles)
        (unanswered, Reason.CHARGER_NOT_ANSWERING, 20.0),
    ]:
        _stop_fails_when(r, outcome).set()
        step, retries = await r.step(after_s=20.0)  # (the wait is over)
        assert (step.writes, retries) == ({"a": ChargerCommand.pause(3)}, [r.clock.t + wait_s])
        assert _shown(r).reason is reason


async def test_a_limit_refused_after_one_left_unanswered_says_refused() -> None:
    """A limit left unanswered, then refused at the retry: the charger answers (its writes are
    no longer held), and the reason says the latest outcome; the refused limit waits the run's
    second wait (it was written again at the very next decision:
    ``test_driver_refused_limit_backoff``)."""
    r = rig()
    _silent(r)
    await r.step()
    _silent(r, False)
    r.control.fail = {"set_limit"}
    _, retries = await r.step(after_s=TIMING.retry_s)
    assert retries == [r.clock.t + 2 * TIMING.retry_s]
    assert (_shown(r).reason, _shown(r).controller_reason) == (Reason.CHARGER_REFUSED, Reason.FAST)
