"""Red team 9b on 552a435 (the energy manager switched on again takes its chargers afresh,
``EmsDriver._take_afresh``; a live limit the charger takes meanwhile brings the retry forward,
``_retry_if_it_answers``; the reason's ``until`` is the run's latest retry). Fake clock and fake
current control (``test_driver.rig``); the controller, the driver and the limit rules are the
real ones."""

from __future__ import annotations

from custom_components.ocpp_ems.core.ems.types import ChargerCommand, Mode, Reason
from custom_components.ocpp_ems.core.model import ControlledBy

from .test_driver import TIMING, Rig, rig
from .test_driver_reason_at_once import _shown
from .test_driver_retry_when_it_answers import _refresh_taken
from .test_driver_silent_charger import _silent


async def _20_a_unanswered() -> Rig:
    """16 A taken, then 20 A left unanswered: its retry TIMING.retry_s away."""
    r = rig()
    r.control.limit = r.model.limit  # one limit state, as with the real current control
    r.driver.update_charger("a", {"max_current_a": 16.0})
    await r.step()
    r.driver.update_charger("a", {"max_current_a": 20.0})
    _silent(r)
    _, retries = await r.step()
    assert retries == [r.clock.t + TIMING.retry_s]
    return r


async def test_a_manual_charger_is_not_taken_when_switched_on_again() -> None:
    """Pin: the user took the silent charger over (Manual) while the manager was off; switched
    on again, the manager leaves it alone: no write, no "not answering", Manual recorded."""
    r = await _20_a_unanswered()
    r.driver.set_active(False)
    r.driver.update_charger("a", {"mode": Mode.MANUAL})
    _silent(r, False)
    r.driver.set_active(True)
    calls = len(r.control.calls)
    step, _ = await r.step(after_s=1.0)
    assert step.writes == {}
    assert r.control.calls[calls:] == []
    assert r.model.limit.controlled_by is ControlledBy.MANUAL
    assert r.driver.controlled_by("a") is ControlledBy.MANUAL
    assert _shown(r).reason is not Reason.CHARGER_NOT_ANSWERING


async def test_back_from_manual_after_the_retry_time_no_past_until() -> None:
    """Probe: the user took the silent charger over (Manual) during the run, the retry time
    passed, it answers the user's limit (a live limit taken), then the user gives it back to
    the manager (Fast): the manager writes at once and does not say it waits with a past time."""
    r = await _20_a_unanswered()
    r.driver.update_charger("a", {"mode": Mode.MANUAL})
    await r.step(after_s=2 * TIMING.retry_s)
    _silent(r, False)
    _refresh_taken(r)
    r.driver.update_charger("a", {"mode": Mode.FAST})
    step, retries = await r.step(after_s=1.0)
    assert step.writes == {"a": ChargerCommand(20.0, 3)}
    assert retries == [None]  # taken
    shown = _shown(r)
    assert shown.reason is not Reason.CHARGER_NOT_ANSWERING
    assert shown.until is None or shown.until >= r.clock.t
