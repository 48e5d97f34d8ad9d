"""The user's own limit (``LimitState.user_a``): the one rule of what a charger is handed back at.
The current control keeps the last limit without an end requested while the energy manager did
not control the charger; the manager's decisions, a limit given for a while and a refused limit
never become it; a limit taken over from the manager that ends after the manager let go returns
to it. Real CurrentController -> V16Session -> websockets -> SimCharger."""

from __future__ import annotations

import asyncio

import pytest

from custom_components.ocpp_ems.core.current_control import CurrentController
from custom_components.ocpp_ems.core.errors import CommandRejectedError
from custom_components.ocpp_ems.core.model import ControlledBy, EventKind

from .test_current_control import attached, live_writes
from .v16_harness import Harness, SimCharger, wait_for


@pytest.fixture
def h(controlled: Harness) -> Harness:
    return controlled


def users(control: CurrentController) -> tuple[float | None, int | None]:
    return control.charger.limit.user_a, control.charger.limit.user_phases


async def _users_10_a_on_one_phase(h: Harness) -> tuple[SimCharger, CurrentController]:
    sim = await attached(h)
    control = h.get_controller()
    await control.set_limit(10, phases=1)
    assert users(control) == (10.0, 1)
    return sim, control


async def test_a_limit_for_a_while_is_not_the_users_own(h: Harness) -> None:
    sim, control = await _users_10_a_on_one_phase(h)
    await control.set_limit(16, duration_s=1)
    await control.set_limit(16, phases=3)  # only the phases: the limit still ends
    assert users(control) == (10.0, 1)
    await wait_for(lambda: control.charger.limit.expires_at is None, seconds=3)
    assert (control.charger.limit.requested_a, control.charger.limit.requested_phases) == (10, 1)
    await wait_for(lambda: live_writes(sim)[-1] == 10, seconds=3)  # (written after the lift)
    await control.set_limit(None)  # no limit (on the phases kept): the user's own now
    assert users(control) == (None, 1)


async def test_the_managers_limits_are_never_the_users_own(h: Harness) -> None:
    _sim, control = await _users_10_a_on_one_phase(h)
    control.set_controlled_by(ControlledBy.ENERGY_MANAGER)
    await control.set_limit(0.0, phases=None, by_manager=True)
    assert control.charger.limit.requested_a == 0.0
    await control.set_limit(20)  # anyone else's while the manager holds it: overwritten soon
    assert users(control) == (10.0, 1)
    control.set_controlled_by(ControlledBy.MANUAL)  # taken over: the user's again
    await control.set_limit(12)
    assert users(control) == (12.0, None)


async def test_a_refused_limit_is_not_the_users_own(h: Harness) -> None:
    sim, control = await _users_10_a_on_one_phase(h)
    sim.status_override["SetChargingProfile"] = "Rejected"
    with pytest.raises(CommandRejectedError):
        await control.set_limit(20)
    assert users(control) == (10.0, 1)
    assert control.charger.limit.requested_a == 10.0


async def test_a_managers_decision_after_it_let_go_is_dropped(h: Harness) -> None:
    """The manager's write queued behind a slow user write while the manager is switched off:
    it went out after the hand-back had been decided (and its limit was kept as the user's)."""
    sim, control = await _users_10_a_on_one_phase(h)
    control.set_controlled_by(ControlledBy.ENERGY_MANAGER)
    sim.delay["SetChargingProfile"] = 0.3
    slow = asyncio.create_task(control.set_limit(8.0, by_manager=True))
    await asyncio.sleep(0.05)
    queued = asyncio.create_task(control.set_limit(0.0, by_manager=True))
    await asyncio.sleep(0.05)
    control.set_controlled_by(ControlledBy.NONE)  # switched off while both wait
    await asyncio.gather(slow, queued)
    sim.delay.clear()
    assert control.charger.limit.requested_a == 8.0  # the first was under way: kept
    assert 0.0 not in live_writes(sim)
    assert users(control) == (10.0, 1)


async def test_a_limit_taken_from_the_manager_ending_after_it_let_go_returns_the_users(
    h: Harness,
) -> None:
    """The user's 10 A, the manager holds the car at 0 A, the user takes it over with 16 A for a
    while and switches the manager off: when the while ends, neither the manager's 0 A (nobody
    would lift it) nor no limit at all (the user's 10 A would be lost) but the 10 A come back."""
    sim, control = await _users_10_a_on_one_phase(h)
    control.set_controlled_by(ControlledBy.ENERGY_MANAGER)
    await control.set_limit(0.0, phases=None, by_manager=True)
    control.set_controlled_by(ControlledBy.MANUAL)
    await control.set_limit(16, duration_s=1, hand_back_to="solar")
    control.set_controlled_by(ControlledBy.NONE)
    ended: list[dict[str, object]] = []
    control.charger.add_listener(
        lambda event: ended.append(event.data)
        if event is not None and event.kind is EventKind.LIMIT_EXPIRED
        else None
    )
    await wait_for(lambda: bool(ended), seconds=3)
    assert ended == [{"hand_back_to": "solar"}]
    assert (control.charger.limit.requested_a, control.charger.limit.requested_phases) == (10, 1)
    await wait_for(lambda: live_writes(sim)[-1] == 10, seconds=3)
