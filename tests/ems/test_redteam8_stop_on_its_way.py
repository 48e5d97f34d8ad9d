"""Red team 8 on ea10a71 (a stop joins the stop wait when it is sent; the reason stays "not
answering" / "refused" until a write is taken): a stop whose session ends on its way, a new
transaction before the stop's answer, a charger handed back after a failed write. Fake clock and
current control (``test_driver.rig``); the controller and the driver are real."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import pytest

from custom_components.ocpp_ems.core.ems.charger_config import EmsOptions
from custom_components.ocpp_ems.core.ems.types import ChargerCommand, Mode, Reason
from custom_components.ocpp_ems.core.errors import CommandRejectedError, CommandTimeoutError
from custom_components.ocpp_ems.core.settings import PauseStrategy

from .test_driver import TIMING, Rig, open_session, rig
from .test_driver_reason_at_once import _decide, _shown
from .test_driver_retry_reason import (
    STOP,
    _off_with_a_session,
    _sensor,
    _session_ends,
    _stop_fails_when,
    _stopping,
)
from .test_driver_silent_charger import _silent

FAILED = "Energy manager could not set charger a"
PAUSE = ChargerCommand.pause(3)


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        record.getMessage()
        for record in caplog.records
        if record.levelno >= logging.WARNING and record.getMessage().startswith(FAILED)
    ]


def _stop_taken_when(r: Rig) -> asyncio.Event:
    """The charger's next stops are taken (Accepted) once the event returned is set."""
    answer = asyncio.Event()

    async def pause() -> None:
        r.control.calls.append(("pause",))
        await answer.wait()
        r.control.limit.paused = True

    r.control.pause = pause  # type: ignore[method-assign]
    return answer


def _on_shown_count(r: Rig) -> list[int]:
    """How often the driver told its listeners (``on_shown``), beside ``_sensor``'s reading."""
    count = [0]
    read = r.driver._on_shown

    def counted() -> None:
        count[0] += 1
        read()

    r.driver._on_shown = counted
    return count


async def test_a_retried_stop_whose_session_ends_on_its_way_warns_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Off: the stop is left unanswered (warned). Its retry goes out; the car ends the session
    while the retry waits for its answer, which never comes. One failure run of one stop: one
    warning (the retry's failure is moot: nothing was left to stop). 432c52b: one."""
    caplog.set_level(logging.DEBUG, logger="custom_components.ocpp_ems.core.ems.driver")
    r = _off_with_a_session()
    _stop_fails_when(r, CommandTimeoutError(STOP)).set()
    await r.step(after_s=1.0)
    assert len(_warnings(caplog)) == 1
    r.clock.t += TIMING.retry_s - 1.0
    sending, answer = await _stopping(r, CommandTimeoutError(STOP))  # the retry
    _session_ends(r)
    answer.set()
    await sending  # (None: nothing to ask again, ``test_driver_retry_reason``)
    assert len(_warnings(caplog)) == 1, _warnings(caplog)


async def test_a_stop_whose_session_ends_before_its_accepted_answer_is_quiet() -> None:
    """Pinned (correct): the 1.6 order of many chargers, StopTransaction (or a 2.0.1
    TransactionEvent Ended) before the RemoteStop's Accepted. No retry, no wait, the reason says
    Off throughout, the listeners are told nothing; a car that starts a new transaction by
    itself afterwards is stopped once."""
    r = _off_with_a_session()
    shown, told = _sensor(r), _on_shown_count(r)
    answer = _stop_taken_when(r)
    stop = _decide(r, 1.0).writes["a"]
    sending = asyncio.create_task(r.driver.write("a", stop))
    await asyncio.sleep(0)
    _session_ends(r)
    answer.set()
    assert await sending is None
    assert (shown, told[0]) == ([Reason.OFF], 0)
    step = _decide(r, 1.0)
    assert (step.writes, step.wake_at) == ({}, r.clock.t + TIMING.watchdog_s)
    open_session(r.model, "tx2")
    r.driver.charger_changed("a")
    assert _decide(r, 1.0).writes == {"a": PAUSE}
    assert _decide(r, 1.0).writes == {}  # (once per new transaction)


@pytest.mark.parametrize(
    "answer_err",
    [None, CommandTimeoutError(STOP), CommandRejectedError(STOP, "Rejected")],
    ids=["accepted", "unanswered", "refused"],
)
async def test_a_new_transaction_before_the_stops_answer_is_stopped(
    answer_err: Exception | None,
) -> None:
    """Pinned (correct): the stop's session ends on its way and the car starts a new one before
    the stop's answer (Accepted, none, Rejected). The first stop counts as written (nothing to
    ask again for it), and the new transaction is stopped by the next decision: one stop more,
    not none and not two."""
    r = _off_with_a_session()
    if answer_err is None:
        answer = _stop_taken_when(r)
        stop = _decide(r, 1.0).writes["a"]
        sending = asyncio.create_task(r.driver.write("a", stop))
        await asyncio.sleep(0)
    else:
        sending, answer = await _stopping(r, answer_err)
    _session_ends(r)
    open_session(r.model, "tx2")
    r.driver.charger_changed("a")
    answer.set()
    assert await sending is None
    _stop_taken_when(r).set()
    assert _decide(r, 1.0).writes == {"a": PAUSE}
    assert await r.driver.write("a", PAUSE) is None
    assert r.control.calls == [("pause",), ("pause",)]
    assert _decide(r, 1.0).writes == {}
    assert _shown(r).reason is Reason.OFF


def _reload(r: Rig) -> None:
    """The charger's entry reloads (its link removed and added again, still connected)."""
    link = r.driver._links["a"]
    r.driver.remove_charger("a")
    r.driver.add_charger("a", link)


def _manual_and_back(r: Rig) -> None:
    r.driver.take_over("a")
    r.clock.t += 3 * TIMING.retry_s  # (the manager's wait is over meanwhile)
    _decide(r, 1.0)
    r.driver.update_charger("a", {"mode": Mode.FAST})


@pytest.mark.parametrize("between", [_manual_and_back, _reload], ids=["manual", "reload"])
async def test_a_charger_handed_back_starts_without_the_old_wait(
    between: Callable[[Rig], None],
) -> None:
    """16 A left unanswered. The user takes the charger over (or its entry reloads) until the
    manager's wait is long over, and it answers again; back under the manager, its first
    write goes out at once and its reason is the controller's (it showed "not answering" for
    the write's round trip: a wrong state in the history and the logbook)."""
    r = rig()
    r.driver.update_charger("a", {"max_current_a": 16.0})
    _silent(r)
    await r.step()
    assert _shown(r).reason is Reason.CHARGER_NOT_ANSWERING
    _silent(r, False)
    r.clock.t += 3 * TIMING.retry_s
    between(r)
    step = _decide(r, 1.0)
    assert step.writes == {"a": ChargerCommand(16.0, 3)}
    assert _shown(r).reason is Reason.FAST


async def test_a_reconnect_while_the_stop_is_on_its_way_asks_the_new_connection_again() -> None:
    """Pinned (correct): the charger reconnects while the stop waits for its answer, which never
    comes (the old connection's call times out), the session still running. That stop counts as
    nothing (the new connection ended the wait: no retry time for it), but the reconnect made
    the next decision write the stop again, at once."""
    r = _off_with_a_session()
    sending, answer = await _stopping(r, CommandTimeoutError(STOP))
    r.model.connected = False
    r.driver.charger_changed("a")
    r.model.connected = True
    r.driver.charger_changed("a")
    answer.set()
    assert await sending is None
    _stop_taken_when(r).set()
    assert _decide(r, 1.0).writes == {"a": PAUSE}
    assert await r.driver.write("a", PAUSE) is None
    assert (len(r.control.calls), _shown(r).reason) == (2, Reason.OFF)


async def test_a_refused_stop_no_longer_wanted_then_wanted_again_waits_its_retry() -> None:
    """Pinned (correct): the stop refused; the controller wants no pause for a while (the reason
    is its own), but its write is held back by nothing and taken: the wait is over. Off again:
    a new stop goes out at once, and its refusal says "refused" again (a new run)."""
    r = rig(
        mode=Mode.OFF,
        strategy=PauseStrategy.REMOTE_STOP_START,
        options=EmsOptions(min_write_interval_s=1.0),
    )
    open_session(r.model, "tx1")
    r.driver.charger_changed("a")
    _stop_fails_when(r, CommandRejectedError(STOP, "Rejected")).set()
    await r.step(after_s=1.0)
    assert _shown(r).reason is Reason.CHARGER_REFUSED
    r.driver.update_charger("a", {"mode": Mode.FAST})
    step, _ = await r.step(after_s=1.0)
    assert step.writes["a"].paused is False
    assert _shown(r).reason is Reason.FAST
    r.driver.update_charger("a", {"mode": Mode.OFF})
    step, retries = await r.step(after_s=1.0)
    assert (step.writes, retries) == ({"a": PAUSE}, [r.clock.t + TIMING.retry_s])
    assert _shown(r).reason is Reason.CHARGER_REFUSED
