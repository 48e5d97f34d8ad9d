"""A hand-back returns the limit the user had when the energy manager took the charger, not the
installation maximum (``hand_back.HandBacks.returns_to``): a user's 10 A on one phase, the
manager switched on and off again, is 10 A on one phase again; so after a restart with the
manager off, and after a hand-back the charger refused while the manager took it back meanwhile.
Fake clock and fake current control (``test_driver.rig``); the controller, the driver and the
limit rules are the real ones."""

from __future__ import annotations

import pytest

from custom_components.ocpp_ems.core.ems import Mode
from custom_components.ocpp_ems.core.ems.driver import HAND_BACK_LIMITS_KEY, ChargerLink, EmsDriver
from custom_components.ocpp_ems.core.ems.hand_back import NO_LIMIT, HandBacks, UserLimit
from custom_components.ocpp_ems.core.model import ControlledBy, LimitState

from .test_driver import TIMING, Rig, rig


def _users_10_a_taken_by_the_manager() -> Rig:
    """The user's 10 A on one phase, then the manager (Fast) takes the charger."""
    r = rig(mode=Mode.FAST)
    r.driver.remove_charger("a")
    r.model.limit = r.control.limit = LimitState(requested_a=10.0, requested_phases=1)
    r.driver.add_charger("a", ChargerLink(model=r.model, control=lambda: r.control))
    assert r.model.limit.controlled_by is ControlledBy.ENERGY_MANAGER
    return r


async def _handed_back(driver: EmsDriver, r: Rig) -> None:
    assert driver.let_go() == ["a"]
    assert await driver.hand_back("a") is None
    assert r.control.calls[-1] == ("set_limit", 10.0, 1)
    assert (r.model.limit.requested_a, r.model.limit.requested_phases) == (10.0, 1)


async def test_switched_off_the_users_limit_comes_back() -> None:
    r = _users_10_a_taken_by_the_manager()
    await r.step()
    assert r.control.calls[-1] == ("set_limit", 32.0, None)  # the manager's
    r.driver.set_active(False)
    await _handed_back(r.driver, r)


async def test_after_a_restart_with_the_manager_off_the_users_limit_comes_back() -> None:
    r = _users_10_a_taken_by_the_manager()
    await r.step()
    stored = r.driver.dump()
    assert stored[HAND_BACK_LIMITS_KEY] == {"a": [10.0, 1]}
    restarted = EmsDriver(r.driver.site, r.driver._options, clock=r.clock, timing=lambda: TIMING)
    restarted.load(stored)
    restarted.set_active(False)
    restarted.add_charger("a", ChargerLink(model=r.model, control=lambda: r.control))
    await _handed_back(restarted, r)


async def test_taken_again_while_a_refused_hand_back_waits_it_still_returns_the_users() -> None:
    """The limit requested when the manager takes the charger again is its own (the hand-back
    was refused): the user's from the first time stays the one to return to."""
    r = _users_10_a_taken_by_the_manager()
    await r.step()
    r.driver.set_active(False)
    assert r.driver.let_go() == ["a"]
    r.control.fail = {"set_limit"}
    assert await r.driver.hand_back("a") is not None
    r.control.fail = set()
    r.driver.set_active(True)
    await r.step()
    r.driver.set_active(False)
    await _handed_back(r.driver, r)


async def test_a_manual_limit_is_what_comes_back_after_the_next_mode() -> None:
    """Mode Manual with the user's 12 A, then Solar: the 12 A are the user's to come back."""
    r = _users_10_a_taken_by_the_manager()
    r.driver.update_charger("a", {"mode": Mode.MANUAL})
    assert r.driver.let_go() == ["a"]
    assert await r.driver.hand_back("a") is None
    await r.control.set_limit(12.0, phases=None)
    r.driver.update_charger("a", {"mode": Mode.SOLAR})
    r.driver.set_active(False)
    assert r.driver.let_go() == ["a"]
    assert await r.driver.hand_back("a") is None
    assert r.control.calls[-1] == ("set_limit", 12.0, None)


@pytest.mark.parametrize(
    "stored",
    [
        [10.0],
        [float("nan"), 1],
        [-1.0, None],
        [True, None],
        ["10", None],
        [10.0, 4],
        [10.0, True],
        "10 A",
    ],
)
def test_a_damaged_stored_limit_is_no_limit(stored: object) -> None:
    hand_backs = HandBacks(lambda: TIMING.retry_s)
    hand_backs.load_limits({"a": stored, "b": [16, None]})
    assert hand_backs.returns_to("a") == NO_LIMIT
    assert hand_backs.returns_to("b") == UserLimit(16.0, None)
    hand_backs.load_limits("not a mapping")
    hand_backs.forget("b")
    assert hand_backs.returns_to("b") == NO_LIMIT


async def test_a_hand_back_whose_entry_reloads_meanwhile_waits_until_it_is_linked() -> None:
    """Named, then its entry reloads before the hand-back runs: nothing is sent to the charger
    gone, and it is named again once linked (to the user's limit, still known)."""
    r = _users_10_a_taken_by_the_manager()
    await r.step()
    r.driver.set_active(False)
    assert r.driver.let_go() == ["a"]
    r.driver.remove_charger("a")
    sent = list(r.control.calls)
    assert await r.driver.hand_back("a") is None
    assert r.control.calls == sent
    assert r.driver.let_go() == []
    r.driver.add_charger("a", ChargerLink(model=r.model, control=lambda: r.control))
    await _handed_back(r.driver, r)
