"""The driver and a transaction a car starts by itself on a charger the manager stopped (pause
strategy remote stop / start): the stop is written again, once per new transaction; a refused
stop, and one left unanswered, are asked again after the retry time, not at every decision. The
same against a real charger: tests/test_ems_self_started.py."""

from __future__ import annotations

import pytest

from custom_components.ocpp_ems.core.ems.types import Mode
from custom_components.ocpp_ems.core.errors import (
    CommandRejectedError,
    CommandTimeoutError,
    OcppEmsError,
)
from custom_components.ocpp_ems.core.settings import PauseStrategy

from .test_driver import TIMING, Rig, open_session, rig

PAUSE = ("pause",)
STOP = "RemoteStopTransaction"
# The stop refused, or left unanswered (a lost frame, a busy charger: it may still charge).
FAILURES = [CommandRejectedError(STOP, "Rejected"), CommandTimeoutError(STOP)]


async def _stopped_without_a_car() -> Rig:
    """Mode Off pauses the charger (a remote stop, nothing to stop yet)."""
    r = rig(strategy=PauseStrategy.REMOTE_STOP_START, mode=Mode.OFF)
    await r.step()
    assert r.control.calls == [PAUSE]
    return r


async def _car_starts(r: Rig, transaction_id: str) -> None:
    open_session(r.model, transaction_id)
    r.driver.charger_changed("a")


async def test_each_new_transaction_is_stopped_once_unless_the_manager_lets_it_run() -> None:
    r = await _stopped_without_a_car()
    await _car_starts(r, "t1")
    await r.step(after_s=1.0)
    assert r.control.calls == [PAUSE, PAUSE]

    # Its model changes again (a meter value), the same transaction: nothing more.
    r.driver.charger_changed("a")
    step, _ = await r.step(after_s=1.0)
    assert step.writes == {}

    # Fast: the manager wants it running; the next car's transaction is left alone.
    r.driver.update_charger("a", {"mode": Mode.FAST})
    await r.step()  # (a start waits for the write interval)
    await _car_starts(r, "t2")
    step, _ = await r.step(after_s=1.0)
    assert step.writes == {}
    assert r.control.calls[2:] == [("set_limit", 32.0, None), ("resume",)]

    # Stopped again, then the user takes it over: the user's, nothing is written to it.
    r.driver.update_charger("a", {"mode": Mode.OFF})
    await r.step(after_s=1.0)
    r.driver.take_over("a")
    await _car_starts(r, "t3")
    step, _ = await r.step(after_s=1.0)
    assert step.writes == {}
    assert r.control.calls[4:] == [PAUSE]


def _failing(r: Rig, failure: OcppEmsError | None) -> None:
    """Each call of the current control fails with ``failure`` (None: none)."""

    def fail() -> None:
        if failure is not None:
            raise failure

    r.control.on_call = fail


@pytest.mark.parametrize("failure", FAILURES, ids=["refused", "unanswered"])
async def test_a_failed_stop_is_asked_again_after_the_retry_time(failure: OcppEmsError) -> None:
    r = await _stopped_without_a_car()
    _failing(r, failure)
    await _car_starts(r, "t1")
    _, retries = await r.step(after_s=1.0)
    retry_at = r.clock.t + TIMING.retry_s
    assert retries == [retry_at]
    step, _ = await r.step(after_s=1.0)
    assert step.writes == {}  # not at every decision
    assert step.wake_at == retry_at  # (its own wake-up is replaced by the decision's)

    _failing(r, None)
    step, _ = await r.step(after_s=TIMING.retry_s - 1.0)
    assert step.writes
    assert r.control.calls == [PAUSE, PAUSE, PAUSE]
    step, _ = await r.step(after_s=TIMING.retry_s)
    assert step.writes == {}  # taken: done


async def test_a_refused_stop_is_asked_again_after_the_retry_time_when_the_clock_went_back() -> (
    None
):
    """The wall clock goes back an hour after the refusal: the stop is asked again after the
    retry time, not an hour later (the car charging from the grid meanwhile)."""
    r = await _stopped_without_a_car()
    r.control.fail = {"pause"}
    await _car_starts(r, "t1")
    await r.step(after_s=1.0)
    r.control.fail = set()
    step, _ = await r.step(after_s=-3600.0)
    assert step.writes == {}
    await r.step(after_s=TIMING.retry_s)
    assert r.control.calls == [PAUSE, PAUSE, PAUSE]
