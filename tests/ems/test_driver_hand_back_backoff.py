"""The driver and a charger that refuses to be handed back (its limit cleared when the energy
manager lets go of it): asked again after a wait that doubles while it keeps refusing, as a
silent charger's writes wait (``backoff.backed_off``); it was asked every retry time
forever. A hand-back taken, or one called off, ends the run."""

from __future__ import annotations

from itertools import pairwise

from custom_components.ocpp_ems.core.backoff import REFUSED_RETRY_MAX_S
from custom_components.ocpp_ems.core.ems.types import Mode
from custom_components.ocpp_ems.core.settings import PauseStrategy

from .test_driver import TIMING, Rig, rig

HOUR_S = 3600.0


async def _let_go_refusing() -> Rig:
    """A charger the manager controlled, then let go of (switched off), that refuses its limit."""
    r = rig(strategy=PauseStrategy.REMOTE_STOP_START, mode=Mode.OFF)
    r.control.limit = r.model.limit  # one limit state, as with the real current control
    r.driver.set_active(True)
    await r.step()
    r.driver.set_active(False)
    r.control.fail = {"set_limit"}
    return r


async def _hand_back_times(r: Rig, duration_s: float) -> list[float]:
    """Run the HA layer's hand-back loop for ``duration_s`` (each try when the driver says it is
    due): when each hand-back was tried (since now)."""
    start, times = r.clock.t, []
    while r.clock.t - start < duration_s:
        for charger_id in r.driver.let_go():
            times.append(r.clock.t - start)
            await r.driver.hand_back(charger_id)
        due = r.driver.next_hand_back_at()
        assert due is not None  # still waiting to be handed back
        r.clock.t = due
    return times


async def test_a_refused_hand_back_is_asked_again_with_a_growing_wait() -> None:
    r = await _let_go_refusing()
    times = await _hand_back_times(r, HOUR_S)
    gaps = [later - earlier for earlier, later in pairwise(times)]
    doubling = [TIMING.retry_s * 2**n for n in range(7)]  # 5 s ... 320 s
    assert gaps[:8] == [*doubling, REFUSED_RETRY_MAX_S]
    assert set(gaps[7:]) == {REFUSED_RETRY_MAX_S}
    assert len(times) == 12  # (720 before: one every retry time)


async def test_a_hand_back_taken_or_called_off_ends_the_run() -> None:
    r = await _let_go_refusing()
    await _hand_back_times(r, 100.0)  # a few refusals: the wait has grown
    # Taken at last: a later refusal waits the first wait again.
    r.control.fail = set()
    r.clock.t = r.driver.next_hand_back_at() or r.clock.t
    assert r.driver.let_go() == ["a"]
    assert await r.driver.hand_back("a") is None
    r.driver.set_active(True)
    await r.step()
    r.driver.set_active(False)
    r.control.fail = {"set_limit"}
    assert r.driver.let_go() == ["a"]
    assert await r.driver.hand_back("a") == r.clock.t + TIMING.retry_s
    # Refused again (the wait grows), then called off by a manual change: the next run starts
    # from the first wait.
    r.clock.t += TIMING.retry_s
    assert r.driver.let_go() == ["a"]
    assert await r.driver.hand_back("a") == r.clock.t + 2 * TIMING.retry_s
    assert r.driver.cancel_hand_back("a")
    r.driver.hand_back_again("a")
    assert r.driver.let_go() == ["a"]
    assert await r.driver.hand_back("a") == r.clock.t + TIMING.retry_s


async def test_a_grown_wait_is_kept_when_the_wall_clock_goes_back() -> None:
    """A due time later than its wait from now moves back (the clock went back); one within its
    grown wait is left as it is (it was cut to the first wait)."""
    r = await _let_go_refusing()
    await _hand_back_times(r, 100.0)
    assert r.driver.let_go() == ["a"]
    await r.driver.hand_back("a")
    due = r.driver.next_hand_back_at()
    assert due is not None
    assert due - r.clock.t > TIMING.retry_s
    assert r.driver.next_hand_back_at() == due
    r.clock.t -= 3600.0  # the wall clock went back an hour
    wait_s = due - (r.clock.t + 3600.0)
    assert r.driver.next_hand_back_at() == r.clock.t + wait_s
