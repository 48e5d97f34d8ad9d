"""A hand-back returns the user's own limit (``LimitState.user_a``, kept by the current control:
``tests/core/test_user_limit.py``), not the installation maximum: a user's 10 A on one phase, the
manager switched on and off again, is 10 A on one phase again; so after a restart with the
manager off, and after a hand-back the charger refused. An older version's store, which kept
the limit for the hand-back itself, is taken over once. Fake clock and fake current control
(``test_driver.rig``); the controller, the driver and the limit rules are the real ones."""

from __future__ import annotations

from typing import Any

import pytest

from custom_components.ocpp_ems.core.ems import Mode
from custom_components.ocpp_ems.core.ems.driver import (
    HAND_BACK_KEY,
    OLDER_HAND_BACK_KEY,
    OLDER_HAND_BACK_LIMITS_KEY,
    ChargerLink,
    EmsDriver,
)
from custom_components.ocpp_ems.core.ems.hand_back import NO_LIMIT, UserLimit, legacy_user_limits
from custom_components.ocpp_ems.core.model import ControlledBy, LimitState

from .test_driver import TIMING, Rig, rig


def _taken_by_the_manager(limit: LimitState) -> Rig:
    """The charger's limit state ``limit``, then the manager (Fast) takes it."""
    r = rig(mode=Mode.FAST)
    r.driver.remove_charger("a")
    r.model.limit = r.control.limit = limit
    r.driver.add_charger("a", ChargerLink(model=r.model, control=lambda: r.control))
    assert r.model.limit.controlled_by is ControlledBy.ENERGY_MANAGER
    return r


def _users_10_a_taken_by_the_manager() -> Rig:
    return _taken_by_the_manager(
        LimitState(requested_a=10.0, requested_phases=1, user_a=10.0, user_phases=1)
    )


async def _handed_back(driver: EmsDriver, r: Rig, to: tuple[float | None, int | None]) -> None:
    assert driver.let_go() == ["a"]
    assert await driver.hand_back("a") is None
    assert r.control.calls[-1] == ("set_limit", *to)
    assert (r.model.limit.requested_a, r.model.limit.requested_phases) == to


async def test_switched_off_the_users_limit_comes_back() -> None:
    r = _users_10_a_taken_by_the_manager()
    await r.step()
    assert r.control.calls[-1] == ("set_limit", 32.0, None)  # the manager's
    r.driver.set_active(False)
    await _handed_back(r.driver, r, (10.0, 1))


def _restarted(r: Rig, stored: Any, *, active: bool = False) -> EmsDriver:
    restarted = EmsDriver(r.driver.site, r.driver._options, clock=r.clock, timing=lambda: TIMING)
    restarted.load(stored)
    restarted.set_active(active)
    restarted.add_charger("a", ChargerLink(model=r.model, control=lambda: r.control))
    return restarted


async def test_after_a_restart_with_the_manager_off_the_users_limit_comes_back() -> None:
    r = _users_10_a_taken_by_the_manager()
    await r.step()
    stored = r.driver.dump()
    assert set(stored) == {"chargers"}  # (the charger's own state keeps the user's limit)
    await _handed_back(_restarted(r, stored), r, (10.0, 1))


async def test_a_refused_hand_back_tried_again_still_returns_the_users() -> None:
    r = _users_10_a_taken_by_the_manager()
    await r.step()
    r.driver.set_active(False)
    assert r.driver.let_go() == ["a"]
    r.control.fail = {"set_limit"}
    assert await r.driver.hand_back("a") is not None
    r.control.fail = set()
    r.clock.t += 60.0
    await _handed_back(r.driver, r, (10.0, 1))


async def test_an_older_stores_limit_for_a_charger_the_manager_holds_becomes_the_users() -> None:
    """Stored by the version before: the limit kept for the hand-back in the manager's store
    (the charger's state has none: the manager controlled it, persistence left it unknown)."""
    r = _taken_by_the_manager(
        LimitState(requested_a=32.0, controlled_by=ControlledBy.ENERGY_MANAGER)
    )
    older = {"chargers": {}, OLDER_HAND_BACK_LIMITS_KEY: {"a": [10.0, 1]}}
    restarted = _restarted(r, older, active=True)
    assert (r.model.limit.user_a, r.model.limit.user_phases) == (10.0, 1)
    assert set(restarted.dump()) == {"chargers"}  # taken over once
    restarted.set_active(False)
    await _handed_back(restarted, r, (10.0, 1))


async def test_an_older_stores_due_hand_back_without_a_limit_returns_to_none() -> None:
    """Due under the version before, which kept no limit: the charger's request is the
    manager's 0 A, which an older charger state (read as the user's own) must not keep."""
    limit = LimitState(requested_a=0.0, user_a=0.0, controlled_by=ControlledBy.NONE)
    r = _taken_by_the_manager(limit)
    r.driver.remove_charger("a")
    older = {"chargers": {}, OLDER_HAND_BACK_KEY: ["a"]}
    await _handed_back(_restarted(r, older), r, (None, None))


async def test_a_due_hand_back_of_this_version_keeps_the_users_limit() -> None:
    r = _users_10_a_taken_by_the_manager()
    await r.step()
    r.driver.set_active(False)
    stored = r.driver.dump()
    assert stored[HAND_BACK_KEY] == ["a"]
    await _handed_back(_restarted(r, stored), r, (10.0, 1))


async def test_an_older_stores_limit_for_a_charger_handed_back_since_is_not_taken() -> None:
    """The version before kept the limit after the hand-back; the user's 12 A since (the
    charger's own state, read as the user's) is theirs."""
    limit = LimitState(requested_a=12.0, user_a=12.0, controlled_by=ControlledBy.NONE)
    r = _taken_by_the_manager(limit)
    older = {OLDER_HAND_BACK_LIMITS_KEY: {"a": [10.0, 1]}}
    r.model.limit.controlled_by = ControlledBy.NONE
    _restarted(r, older)
    assert (r.model.limit.user_a, r.model.limit.user_phases) == (12.0, None)


@pytest.mark.parametrize(
    "stored",
    [[10.0], [float("nan"), 1], [-1.0, None], [True, None], ["10", None], [10.0, 4], [10.0, True]],
)
def test_a_damaged_older_limit_is_none(stored: object) -> None:
    assert legacy_user_limits(set(), {"a": stored, "b": [16, None]}) == {
        "a": NO_LIMIT,
        "b": UserLimit(16.0, None),
    }
    assert legacy_user_limits({"c"}, "not a mapping") == {"c": NO_LIMIT}


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
    await _handed_back(r.driver, r, (10.0, 1))
