"""The driver's runs of failed writes (red team 7 follow-ups): each kind of failure told once per
run, a new connection ends the run; a stop that waits for the charger is over once no
transaction runs on it, an unanswered limit's wait is not. Fake clock and fake current control
(``test_driver.rig``); the controller, the driver and the limit rules are the real ones."""

from __future__ import annotations

import logging

import pytest

from custom_components.ocpp_ems.core.ems.types import Mode, Reason
from custom_components.ocpp_ems.core.errors import (
    ChargerNotConnectedError,
    CommandTimeoutError,
    OcppEmsError,
)
from custom_components.ocpp_ems.core.settings import PauseStrategy

from .test_driver import Rig, open_session, rig
from .test_driver_silent_charger import _silent
from .test_redteam7_shown_again import _shown
from .util import car

FAILED = "could not set charger a"


def _fails_with(r: Rig, err: OcppEmsError | None) -> None:
    """Every call to the charger's current control fails with ``err`` (None: none fails)."""

    def fail() -> None:
        if err is not None:
            raise err

    r.control.on_call = fail


def _reconnects(r: Rig) -> None:
    r.model.connected = False
    r.driver.charger_changed("a")
    r.model.connected = True
    r.driver.charger_changed("a")


async def _decide_for(r: Rig, duration_s: float) -> None:
    start = r.clock.t
    while r.clock.t - start < duration_s:
        await r.step(after_s=5.0)


@pytest.mark.parametrize(
    "err",
    [CommandTimeoutError("SetChargingProfile"), ChargerNotConnectedError("a")],
    ids=["unanswered", "offline"],
)
async def test_a_failing_charger_is_warned_once_per_connection(
    err: OcppEmsError, caplog: pytest.LogCaptureFixture
) -> None:
    """Every write fails the same way for ten minutes, a decision every 5 s: told once, the
    rest at debug. The charger connects anew and keeps failing: a new run, told once more."""
    caplog.set_level(logging.DEBUG)
    r = rig()
    r.driver.update_charger("a", {"max_current_a": 16.0})
    _fails_with(r, err)
    await _decide_for(r, 600.0)
    _reconnects(r)
    await _decide_for(r, 600.0)
    levels = [rec.levelname for rec in caplog.records if FAILED in rec.message]
    assert levels.count("DEBUG") > 4  # (tried again and again)
    assert levels.count("WARNING") == 2
    assert levels[0] == "WARNING"


async def test_an_unanswered_stop_is_over_once_the_session_ended() -> None:
    """Mode Off: the stop of a running session is left unanswered (not answering, its writes
    held). The car ends the session: nothing is left to stop, the reason is Off at once, and
    no stop goes out at the retry time. A session the car starts later is stopped."""
    r = rig(mode=Mode.OFF, strategy=PauseStrategy.REMOTE_STOP_START)
    open_session(r.model, "tx1")
    r.driver.charger_changed("a")
    _silent(r)
    await r.step()
    assert _shown(r).reason is Reason.CHARGER_NOT_ANSWERING
    _silent(r, False)
    r.model.connector(1).transaction = None  # (the car ended it)
    r.driver.charger_changed("a")
    assert _shown(r).reason is Reason.OFF
    calls = len(r.control.calls)
    step, _ = await r.step(after_s=60.0, charger=car(r.clock.t + 60.0, plugged=False))
    assert (step.writes, len(r.control.calls)) == ({}, calls)
    open_session(r.model, "tx2")
    r.driver.charger_changed("a")
    await r.step(after_s=1.0)
    assert r.control.calls[calls:] == [("pause",)]


async def test_an_unanswered_limit_waits_through_model_updates() -> None:
    """A limit left unanswered on a charger with no session: a model update (nothing runs)
    does not end the wait, as it ends a stop's: the reason still says not answering, and the
    next decision's write is held."""
    r = rig()
    r.driver.update_charger("a", {"max_current_a": 16.0})
    _silent(r)
    await r.step()
    calls = len(r.control.calls)
    r.driver.charger_changed("a")
    step, _ = await r.step(after_s=1.0)
    assert _shown(r).reason is Reason.CHARGER_NOT_ANSWERING
    assert (step.writes, len(r.control.calls)) == ({}, calls)
