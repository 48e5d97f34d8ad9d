"""The driver and a pause whose stops fail on several connectors (``StopsFailedError``, each
connector's own error): one left unanswered makes it a silent charger's (its writes held, asked
again after the wait; whether that car stopped is unknown), all refused a refused stop's (told
once per run of refusals)."""

from __future__ import annotations

import logging

import pytest

from custom_components.ocpp_ems.core.current_control import StopsFailedError
from custom_components.ocpp_ems.core.ems.types import ChargerCommand, Mode
from custom_components.ocpp_ems.core.errors import (
    CommandRejectedError,
    CommandTimeoutError,
    OcppEmsError,
)
from custom_components.ocpp_ems.core.settings import PauseStrategy

from .test_driver import TIMING, Rig, rig

REFUSED = CommandRejectedError("RemoteStopTransaction", "Rejected")
UNANSWERED = CommandTimeoutError("RemoteStopTransaction")


def _stops_fail(r: Rig, *errors: OcppEmsError) -> None:
    """Each pause fails with ``errors`` on connectors 1, 2 ..."""

    def fail() -> None:
        if r.control.calls[-1] == ("pause",):
            raise StopsFailedError(dict(enumerate(errors, start=1)))

    r.control.on_call = fail


async def test_one_stop_unanswered_holds_the_chargers_writes() -> None:
    r = rig(strategy=PauseStrategy.REMOTE_STOP_START, mode=Mode.OFF)
    _stops_fail(r, REFUSED, UNANSWERED)
    _, retries = await r.step()
    assert retries == [r.clock.t + TIMING.retry_s]
    r.control.on_call = None
    r.driver.update_charger("a", {"mode": Mode.FAST})
    step, _ = await r.step(after_s=1.0)
    assert step.writes == {}  # held: the charger left a stop unanswered
    step, _ = await r.step(after_s=TIMING.retry_s)
    assert step.writes == {"a": ChargerCommand(32.0, 3)}


async def test_every_stop_refused_is_told_once_per_run(caplog: pytest.LogCaptureFixture) -> None:
    r = rig(strategy=PauseStrategy.REMOTE_STOP_START, mode=Mode.OFF)
    _stops_fail(r, REFUSED, REFUSED)
    _, first = await r.step()
    _, second = await r.step(after_s=TIMING.retry_s)
    assert first == [r.clock.t]  # (its wait from the step before: the retry time)
    assert second == [r.clock.t + 2 * TIMING.retry_s]
    told = [rec for rec in caplog.records if "could not set charger a" in rec.message]
    assert [rec.levelno for rec in told] == [logging.WARNING, logging.DEBUG]
    assert "connector 1: RemoteStopTransaction answered Rejected" in told[0].message
