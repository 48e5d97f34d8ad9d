"""Current control: the failed stops of transactions a car started while the user paused by
remote stop are told by one rule (``errors.FailureRuns``): each kind of failure once per run of
failed stops; a stop taken, nothing left to stop, or the connection dropped ends the run.

End to end like ``test_current_control_stops_each.py``: CurrentController -> real V16Session ->
websockets -> SimCharger, whose answer to each stop is scripted.
"""

from __future__ import annotations

import logging
from collections import deque

import pytest
from ocpp.v16 import call

from custom_components.ocpp_ems.core.current_control import CurrentController
from custom_components.ocpp_ems.core.limit_check import LimitCheck
from custom_components.ocpp_ems.core.settings import ChargerSettings, PauseStrategy, ServerSettings

from .test_current_control_stops_each import LOSE, REFUSE, STOP, answer_stops
from .v16_harness import Harness, SimCharger, now_iso, wait_for

UNANSWERED = "did not answer the stop"
REFUSED = "did not stop a transaction it started"


@pytest.fixture(autouse=True)
def fast_timers(monkeypatch: pytest.MonkeyPatch, server_settings: ServerSettings) -> None:
    monkeypatch.setattr(LimitCheck, "verify_delay_s", 0.05)
    monkeypatch.setattr(CurrentController, "self_started_stop_retry_s", 0.3)
    server_settings.response_timeout_s = 0.2


def _answer_stops(sim: SimCharger, outcomes: deque[str | None]) -> None:
    """``sim`` answers each stop by the next of ``outcomes`` (REFUSE, LOSE: never answered;
    None, or none left: as usual)."""
    answer_stops(sim, lambda _transaction_id: outcomes.popleft() if outcomes else None)


async def _paused_by_the_user(
    h: Harness, settings: ChargerSettings, outcomes: deque[str | None]
) -> SimCharger:
    settings.pause_strategy = PauseStrategy.REMOTE_STOP_START
    sim = await h.charger_client(setup=lambda sim: _answer_stops(sim, outcomes))
    controller = h.get_controller()
    await wait_for(lambda: controller._refresh_task is not None)
    await controller.pause()
    return sim


def _told(caplog: pytest.LogCaptureFixture, what: str) -> list[str]:
    return [r.levelname for r in caplog.records if what in r.message]


async def test_each_kind_of_failed_stop_is_told_once_per_run(
    controlled: Harness, settings: ChargerSettings, caplog: pytest.LogCaptureFixture
) -> None:
    """The car's first transaction: its stop left unanswered (told), asked again and refused
    (told). A second transaction: its stop left unanswered again, no stop taken in between:
    the same run, so at debug (it was told as the first of a new run of unanswered stops once
    the refusal ended the run of waits). Its retry is taken: the run ends."""
    caplog.set_level(logging.DEBUG)
    outcomes: deque[str | None] = deque([LOSE, REFUSE, LOSE])
    sim = await _paused_by_the_user(controlled, settings, outcomes)
    controller = controlled.get_controller()
    await sim.start_tx(1)
    await wait_for(lambda: _told(caplog, REFUSED))  # (unanswered, then refused)
    second = await sim.start_tx(2)
    await wait_for(lambda: sim.actions(STOP))  # (its retry, answered)
    assert sim.actions(STOP) == [{"transaction_id": second.transaction_id}]
    await wait_for(lambda: controller._stops._stop_retry_s is None)
    assert (_told(caplog, UNANSWERED), _told(caplog, REFUSED)) == (
        ["WARNING", "DEBUG"],
        ["WARNING"],
    )


async def test_a_run_of_failed_stops_ends_once_nothing_is_left_to_stop(
    controlled: Harness, settings: ChargerSettings, caplog: pytest.LogCaptureFixture
) -> None:
    """The stop of the car's transaction left unanswered (told); the car ends it before it is
    asked again: nothing is left to stop, the run ends. The next car's stop left unanswered is
    told again."""
    caplog.set_level(logging.DEBUG)
    sim = await _paused_by_the_user(controlled, settings, deque([LOSE, LOSE]))
    controller = controlled.get_controller()
    started = await sim.start_tx(1)
    await wait_for(lambda: controller._stops._stop_retry_task is not None)
    await sim.call(
        call.StopTransaction(
            transaction_id=started.transaction_id, meter_stop=1000, timestamp=now_iso()
        )
    )
    await wait_for(lambda: controller._stops._stop_retry_s is None)  # (the retry found it ended)
    await sim.start_tx(2)
    await wait_for(lambda: len(_told(caplog, UNANSWERED)) == 2)
    assert _told(caplog, UNANSWERED) == ["WARNING", "WARNING"]
