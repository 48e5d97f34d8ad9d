"""The energy manager switched off while a charger leaves its writes unanswered, then on again:
it takes the charger afresh (``EmsDriver._take_afresh``). The run of failed writes from before
outlived the switch: a hand-back the charger refused (an answer) left "not answering" shown and
the manager's writes held for the rest of the old wait; and a hand-back taken left the charger
at the installation maximum, the controller sure its last limit still stood. (Home Assistant
reloads the charger's entry on the switch, which hid both; the driver must not rely on it.)
Fake clock and fake current control (``test_driver.rig``); the controller, the driver and the
limit rules are the real ones."""

from __future__ import annotations

from custom_components.ocpp_ems.core.ems.types import ChargerCommand, Reason

from .test_driver import TIMING, Rig, rig
from .test_driver_reason_at_once import _shown, _told
from .test_driver_silent_charger import _silent


async def _at_16_a() -> Rig:
    """Mode Fast, the user's 16 A taken."""
    r = rig()
    r.control.limit = r.model.limit  # one limit state, as with the real current control
    r.driver.update_charger("a", {"max_current_a": 16.0})
    await r.step()
    return r


async def _at_16_a_then_20_a_unanswered() -> Rig:
    """16 A taken, then the user allows 20 A and the charger leaves it unanswered."""
    r = await _at_16_a()
    r.driver.update_charger("a", {"max_current_a": 20.0})
    _silent(r)
    _, retries = await r.step()
    assert retries == [r.clock.t + TIMING.retry_s]
    assert _shown(r).reason is Reason.CHARGER_NOT_ANSWERING
    return r


async def _switched_off_and_handed_back(r: Rig, *, refused: bool) -> None:
    r.driver.set_active(False)
    assert r.driver.let_go() == ["a"]
    _silent(r, False)  # it answers the hand-back again
    r.control.fail = {"set_limit"} if refused else set()
    assert (await r.driver.hand_back("a") is None) is not refused
    r.control.fail = set()


async def test_a_refused_hand_back_does_not_leave_not_answering_after_switching_on() -> None:
    r = await _at_16_a_then_20_a_unanswered()
    await _switched_off_and_handed_back(r, refused=True)
    r.driver.set_active(True)
    # Before the old retry time: the manager's 20 A goes out at once and is taken.
    step, retries = await r.step(after_s=1.0)
    assert step.decision.chargers["a"].reason is Reason.FAST  # (was charger_not_answering)
    assert step.writes == {"a": ChargerCommand(20.0, 3)}  # (was held until the retry)
    assert retries == [None]
    assert r.control.calls[-1] == ("set_limit", 20.0, None)
    assert _shown(r).reason is Reason.FAST


async def test_after_a_hand_back_taken_the_managers_limit_is_written_again() -> None:
    r = await _at_16_a()
    await _switched_off_and_handed_back(r, refused=False)
    assert r.model.limit.requested_a is None  # (handed back: the installation maximum)
    r.driver.set_active(True)
    step, _ = await r.step(after_s=1.0)
    assert step.writes == {"a": ChargerCommand(16.0, 3)}  # (was none: left at the maximum)
    assert r.model.limit.requested_a == 16.0


async def test_a_charger_still_silent_says_so_again_at_its_first_write() -> None:
    """Taken afresh hides no silence: the first write goes out and its failure is shown."""
    r = await _at_16_a_then_20_a_unanswered()
    r.driver.set_active(False)
    r.driver.set_active(True)
    told = _told(r)
    _, retries = await r.step(after_s=1.0)
    assert retries == [r.clock.t + TIMING.retry_s]  # the first wait of a new run
    assert r.control.calls[-1] == ("set_limit", 20.0, None)
    assert told == [Reason.CHARGER_NOT_ANSWERING]
    assert _shown(r).until == r.clock.t + TIMING.retry_s


async def test_switched_on_while_on_changes_nothing() -> None:
    """The HA layer passes the switch with every options update: no switch, no fresh start (the
    silent charger's writes stay held until the retry)."""
    r = await _at_16_a_then_20_a_unanswered()
    calls = len(r.control.calls)
    r.driver.set_active(True)
    step, _ = await r.step(after_s=1.0)
    assert step.writes == {}
    assert len(r.control.calls) == calls
    assert _shown(r).reason is Reason.CHARGER_NOT_ANSWERING
