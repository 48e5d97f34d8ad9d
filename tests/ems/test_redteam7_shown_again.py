"""Red team 7 (f86f32d, the decision shown again when a write fails or is taken): what the
re-published decision shows against what the manager does, and how often it tells its
listeners. Fake clock and fake current control (``test_driver.rig``); the controller, the driver
and the limit rules are the real ones."""

from __future__ import annotations

import asyncio
import logging

import pytest

from custom_components.ocpp_ems.core.ems.charger_config import EmsOptions
from custom_components.ocpp_ems.core.ems.driver import ChargerLink
from custom_components.ocpp_ems.core.ems.types import ChargerCommand, Mode, Reason
from custom_components.ocpp_ems.core.errors import CommandTimeoutError
from custom_components.ocpp_ems.core.model import Capabilities, Charger
from custom_components.ocpp_ems.core.settings import PauseStrategy

from .test_driver import TIMING, Control, Rig, open_session, rig
from .test_driver_reason_at_once import _answers_limits_when, _decide, _shown, _told
from .test_driver_silent_charger import _silent
from .util import car, site

HOUR_S = 3600.0


def _stop_unanswered_when(r: Rig) -> asyncio.Event:
    """The charger's next stop waits until the event returned is set, then is left unanswered
    (the response timeout)."""
    answer = asyncio.Event()

    async def pause() -> None:
        r.control.calls.append(("pause",))
        await answer.wait()
        raise CommandTimeoutError("RemoteStopTransaction")

    r.control.pause = pause  # type: ignore[method-assign]
    return answer


async def test_an_unanswered_stop_overtaken_by_a_resume_shows_the_resume_held() -> None:
    """Mode Off: the stop goes out and the charger sits on it (the response timeout); meanwhile
    the user picks Fast again: the next decision resumes at 16 A, queued behind the stop. The
    stop goes unanswered: the resume is held (the charger's writes wait, ``_held``), so nothing
    reaches the charger; the reason must say the manager waits for the charger, and no write."""
    # (a change goes out 1 s after the last one: the write interval)
    r = rig(strategy=PauseStrategy.REMOTE_STOP_START, options=EmsOptions(min_write_interval_s=1.0))
    r.driver.update_charger("a", {"max_current_a": 16.0})
    await r.step()  # 16 A taken
    answer = _stop_unanswered_when(r)
    r.driver.update_charger("a", {"mode": Mode.OFF})
    stop = _decide(r, 1.0).writes["a"]
    assert stop.paused
    stopping = asyncio.create_task(r.driver.write("a", stop))
    await asyncio.sleep(0)  # (the stop is on its way)
    r.driver.update_charger("a", {"mode": Mode.FAST})
    resume = _decide(r, 1.0).writes["a"]
    assert resume == ChargerCommand(16.0, 3)
    resuming = asyncio.create_task(r.driver.write("a", resume))
    await asyncio.sleep(0)
    calls_before = list(r.control.calls)
    answer.set()
    assert await stopping is not None  # left unanswered: tried again later
    assert await resuming is None
    assert r.control.calls == calls_before  # the resume was held: nothing went out
    shown = _shown(r)
    # What the manager does: waits for the charger, writes nothing.
    assert (shown.reason, shown.write) == (Reason.CHARGER_NOT_ANSWERING, None)


async def test_a_charger_silent_for_an_hour_tells_listeners_once_per_failed_write() -> None:
    """Pinned (correct): a charger that leaves every write unanswered for an hour, a decision
    every 5 s: listeners are told at most once per failed write (the reason flips to "not
    answering"), never by a decision, and nothing more goes out than the backed-off tries."""
    r = rig()
    told = _told(r)
    r.driver.update_charger("a", {"max_current_a": 16.0})
    _silent(r)
    failed = 0
    start = r.clock.t
    while r.clock.t - start < HOUR_S:
        _, retries = await r.step(after_s=5.0)
        failed += sum(retry is not None for retry in retries)
    # 5, 10, 20 ... 600 s: a handful of tries, each told once at most.
    assert 0 < len(told) <= failed <= 16
    assert set(told) == {Reason.CHARGER_NOT_ANSWERING}
    assert len(r.control.calls) == failed


async def test_a_failure_of_one_charger_leaves_the_others_entry_alone() -> None:
    """Pinned (correct): charger a leaves its write unanswered; b's entry in the decision shown
    again is the very same."""
    r = rig()
    other = Control()
    model_b = Charger(charger_id="b", connected=True, booted=True, capabilities=Capabilities())
    r.driver.charger_view("b").mode = Mode.FAST
    r.driver.add_charger("b", ChargerLink(model=model_b, control=lambda: other))
    _silent(r)
    r.clock.t += 60.0
    step = r.driver.step(
        site(r.clock.t, 0.0, {"a": car(r.clock.t), "b": car(r.clock.t)}), r.clock.t
    )
    b_before = _shown(r, "b")
    assert await r.driver.write("a", step.writes["a"]) is not None
    assert _shown(r, "a").reason is Reason.CHARGER_NOT_ANSWERING
    assert _shown(r, "b") is b_before


async def test_refusal_timeout_refusal_in_one_run_warns_each_kind_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Pinned (correct, FailureRuns): a limit refused, then one left unanswered, then refused
    again, no write taken in between: the refusal is warned once, the timeout is warned."""
    caplog.set_level(logging.DEBUG)
    r = rig()
    r.control.fail = {"set_limit"}
    await r.step()
    r.control.fail = set()
    _silent(r)
    await r.step()
    _silent(r, False)
    r.control.fail = {"set_limit"}
    await r.step(after_s=TIMING.retry_s * 2)
    levels = [
        (rec.levelname, "no answer" in rec.message)
        for rec in caplog.records
        if "could not set charger a" in rec.message
    ]
    assert levels == [("WARNING", False), ("WARNING", True), ("DEBUG", False)]


async def test_a_charger_silent_for_an_hour_warns_once(caplog: pytest.LogCaptureFixture) -> None:
    """A charger that leaves every write unanswered for an hour (a decision every 5 s): the run
    of unanswered writes is told once, the rest at debug, as the unanswered stops of a
    self-started transaction are (``TransactionStops._stop_again_later``) and a run of
    refusals is (``FailureRuns``)."""
    caplog.set_level(logging.DEBUG)
    r = rig()
    r.driver.update_charger("a", {"max_current_a": 16.0})
    _silent(r)
    start = r.clock.t
    while r.clock.t - start < HOUR_S:
        await r.step(after_s=5.0)
    failures = [rec for rec in caplog.records if "could not set charger a" in rec.message]
    assert len(failures) > 10  # (tried again and again, backed off)
    assert [rec.levelname for rec in failures].count("WARNING") == 1


async def test_a_refused_stop_is_not_shown_once_the_session_ended() -> None:
    """Mode Off, a charger that refuses the stop of a running session, four times (the wait
    has grown to 40 s). Then the car ends the session and leaves: there is nothing left to stop,
    the manager waits for nothing; the reason must not say the charger refused the stop."""
    r = rig(mode=Mode.OFF, strategy=PauseStrategy.REMOTE_STOP_START)
    open_session(r.model, "tx1")
    r.driver.charger_changed("a")
    r.control.fail = {"pause"}
    for _ in range(4):
        await r.step(after_s=60.0)
    assert _shown(r).reason is Reason.CHARGER_REFUSED
    r.model.connector(1).transaction = None  # (the car ended it, and left)
    r.driver.charger_changed("a")
    step, _ = await r.step(after_s=1.0, charger=car(r.clock.t + 1.0, plugged=False))
    assert step.writes == {}
    assert _shown(r).reason is Reason.OFF


async def test_a_write_in_flight_when_the_charger_went_offline_is_not_shown_waiting() -> None:
    """Pinned (correct): 10 A on its way, the charger goes offline and a decision says so; then
    the write is left unanswered: the reason stays "charger unavailable" (not "not
    answering"), and nobody is told of a change."""
    r = rig()
    r.driver.update_charger("a", {"max_current_a": 16.0})
    await r.step()
    told = _told(r)
    r.driver.update_charger("a", {"max_current_a": 10.0})
    lower = _decide(r, 60.0).writes["a"]
    answer = _answers_limits_when(r)
    _silent(r)
    sent = asyncio.create_task(r.driver.write("a", lower))
    await asyncio.sleep(0)
    r.model.connected = False
    r.driver.charger_changed("a")
    r.clock.t += 1.0
    r.driver.step(site(r.clock.t, 0.0, {"a": car(r.clock.t, connected=False)}), r.clock.t)
    assert _shown(r).reason is Reason.CHARGER_UNAVAILABLE
    answer.set()
    assert await sent is not None  # left unanswered
    assert (_shown(r).reason, _shown(r).controller_reason, told) == (
        Reason.CHARGER_UNAVAILABLE,
        None,
        [],
    )


async def test_a_refusal_after_a_hand_back_taken_is_warned(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Mode Off on a charger that refuses the stop: warned. The user picks Manual: the
    hand-back (limit cleared, resumed) is taken, the charger answers. Later Off again, the stop
    refused again: a new run, warned again (the car charges while the manager wants it
    stopped)."""
    caplog.set_level(logging.DEBUG)
    r = rig(mode=Mode.OFF, strategy=PauseStrategy.REMOTE_STOP_START)
    r.control.limit = r.model.limit  # one limit state, as with the real current control
    r.driver.set_active(True)  # (claimed again into it)
    r.control.fail = {"pause"}
    await r.step()
    r.driver.update_charger("a", {"mode": Mode.MANUAL})
    assert r.driver.let_go() == ["a"]
    assert await r.driver.hand_back("a") is None  # taken
    assert r.control.calls[-2:] == [("set_limit", None, None), ("resume",)]
    r.driver.update_charger("a", {"mode": Mode.OFF})
    await r.step(after_s=HOUR_S)
    assert r.control.calls[-1] == ("pause",)
    levels = [rec.levelname for rec in caplog.records if "could not set charger a" in rec.message]
    assert levels == ["WARNING", "WARNING"]
