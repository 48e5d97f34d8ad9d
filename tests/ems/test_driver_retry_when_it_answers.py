"""A charger that left the manager's writes unanswered takes a live limit the manager did not
send (its current control refreshes the live profile every few minutes, ``_refresh_loop``): it
answers again, so the run is tried again at once (``EmsDriver._retry_if_it_answers``). It said
"not answering" and held the manager's writes for the rest of the backed-off wait, up to 10 min
after the charger had answered. Fake clock and fake current control (``test_driver.rig``); the
controller, the driver and the limit rules are the real ones."""

from __future__ import annotations

from datetime import UTC, datetime

from custom_components.ocpp_ems.core.ems.types import ChargerCommand, Reason

from .test_driver import TIMING, Rig, rig
from .test_driver_reason_at_once import _shown
from .test_driver_silent_charger import _silent


async def _silent_through_three_tries() -> Rig:
    """16 A taken, then 20 A left unanswered three times: the next try 20 s away."""
    r = rig()
    r.driver.update_charger("a", {"max_current_a": 16.0})
    await r.step()
    r.driver.update_charger("a", {"max_current_a": 20.0})
    _silent(r)
    _, retries = await r.step()
    wait_s = TIMING.retry_s
    for _ in range(2):
        _, retries = await r.step(after_s=wait_s)  # (its retry)
        wait_s *= 2
        assert retries == [r.clock.t + wait_s]
    assert _shown(r).reason is Reason.CHARGER_NOT_ANSWERING
    _silent(r, False)
    return r


def _refresh_taken(r: Rig) -> None:
    """The current control's refresh of the live profile is taken (its model tells)."""
    r.model.limit.last_write = datetime.fromtimestamp(r.clock.t, UTC)
    r.driver.charger_changed("a")


async def test_a_limit_it_takes_meanwhile_brings_the_retry_forward() -> None:
    r = await _silent_through_three_tries()
    _refresh_taken(r)
    step, retries = await r.step(after_s=1.0)  # (the old retry: 20 s away)
    assert step.writes == {"a": ChargerCommand(20.0, 3)}  # (was held)
    assert retries == [None]  # taken
    assert _shown(r).reason is Reason.FAST  # (was charger_not_answering)


async def test_another_change_of_its_model_brings_nothing_forward() -> None:
    r = await _silent_through_three_tries()
    r.model.connector(1)  # (some other change: a status, a meter reading)
    r.driver.charger_changed("a")
    step, _ = await r.step(after_s=1.0)
    assert step.writes == {}
    assert _shown(r).reason is Reason.CHARGER_NOT_ANSWERING
