"""What a run of failed hand-backs logs: each kind of failure (offline, refused) as a warning the
first time in the run, the rest at debug (a charger that keeps refusing, or keeps dropping, would
fill the log); a run that ended (the hand-back taken) warns again."""

from __future__ import annotations

import logging

import pytest

from .test_driver import Rig
from .test_driver_hand_back_backoff import _let_go_refusing
from .test_redteam5_hand_back_offline_then_refused import (
    HAND_BACK_LOGGER,
    _offline_on_the_next_call,
)


async def _try_when_due(r: Rig) -> None:
    """The HA layer's next try: at its retry time, or once the charger is back."""
    r.model.connected = True
    r.clock.t = r.driver.next_hand_back_at() or r.clock.t
    assert r.driver.let_go() == ["a"]
    await r.driver.hand_back("a")


async def _offline_try(r: Rig) -> None:
    _offline_on_the_next_call(r)
    await _try_when_due(r)


async def _hand_back_again(r: Rig) -> None:
    """The manager takes the charger again and lets go of it (a new hand-back)."""
    r.driver.set_active(True)
    await r.step()
    r.driver.set_active(False)


async def test_each_kind_of_failure_is_warned_once_per_run(
    caplog: pytest.LogCaptureFixture,
) -> None:
    r = await _let_go_refusing()
    with caplog.at_level(logging.DEBUG, logger=HAND_BACK_LOGGER):
        await _offline_try(r)
        await _offline_try(r)  # back, but gone again when asked
        await _try_when_due(r)  # refused
        await _try_when_due(r)  # refused again
        r.control.fail = set()
        await _try_when_due(r)  # taken: the run ends
        await _hand_back_again(r)
        r.control.fail = {"set_limit"}
        await _try_when_due(r)  # refused in the next run
    failed = [
        (record.levelname, "not connected" in record.getMessage())
        for record in caplog.records
        if "could not hand charger a back" in record.getMessage()
    ]
    assert failed == [
        ("WARNING", True),
        ("DEBUG", True),
        ("WARNING", False),
        ("DEBUG", False),
        ("WARNING", False),
    ]
