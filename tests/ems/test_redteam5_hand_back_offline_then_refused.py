"""Red team 5: a hand-back (fc3c74e: a refused one waits longer each time) that first finds the
charger offline, then is refused once it is back.

Pinned (correct): the offline try waits for the charger, not for a time; once back it is tried
at once, and its first refusal waits the first wait (the offline try started no back-off).

Defect: the refusal is never logged as a warning. ``_hand_back_failed`` warns only for the first
failure of the run (``first = charger_id not in HandBackRetries._due``); the offline try was it,
and its warning says only "tried again when it is back: not connected". A charger that then
refuses to be handed back for good (its limit stays at the manager's last one: a car held at
0 A never charges) shows it at debug level only.
"""

from __future__ import annotations

import logging

import pytest

from custom_components.ocpp_ems.core.errors import ChargerNotConnectedError

from .test_driver import TIMING, Rig
from .test_driver_hand_back_backoff import _let_go_refusing

HAND_BACK_LOGGER = "custom_components.ocpp_ems.core.ems.hand_back"


def _offline_on_the_next_call(r: Rig) -> None:
    """The charger is gone when the next command is sent (it dropped meanwhile)."""

    def gone() -> None:
        r.control.on_call = None
        r.model.connected = False
        raise ChargerNotConnectedError("a")

    r.control.on_call = gone


async def _offline_then_refused(r: Rig) -> float | None:
    """The hand-back finds the charger offline; it comes back and refuses: when it is tried
    again."""
    _offline_on_the_next_call(r)
    assert r.driver.let_go() == ["a"]
    assert await r.driver.hand_back("a") is None  # (waits for the charger)
    r.clock.t += 600.0
    assert r.driver.let_go() == []  # still offline: not tried
    assert r.driver.next_hand_back_at() is None
    r.model.connected = True
    assert r.driver.let_go() == ["a"]
    return await r.driver.hand_back("a")


async def test_an_offline_try_starts_no_back_off() -> None:
    r = await _let_go_refusing()
    assert await _offline_then_refused(r) == r.clock.t + TIMING.retry_s


async def test_a_refusal_after_an_offline_try_is_warned(caplog: pytest.LogCaptureFixture) -> None:
    r = await _let_go_refusing()
    with caplog.at_level(logging.DEBUG, logger=HAND_BACK_LOGGER):
        await _offline_then_refused(r)
    warned = [
        record.getMessage()
        for record in caplog.records
        if record.name == HAND_BACK_LOGGER and record.levelno == logging.WARNING
    ]
    assert any("Rejected" in message for message in warned), warned
