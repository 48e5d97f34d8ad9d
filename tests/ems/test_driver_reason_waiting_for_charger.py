"""While the driver holds a charger's writes (it left one unanswered, or refused the stop the
controller still wants), the decision's reason says the manager waits for the charger, until the
next try; the controller's own reason is kept beside it. It showed the controller's reason alone
("fast", "off"): the user could not tell the manager was waiting for the charger."""

from __future__ import annotations

from custom_components.ocpp_ems.core.ems.types import ChargerCommand, ChargerDecision, Mode, Reason
from custom_components.ocpp_ems.core.settings import PauseStrategy

from .test_driver import TIMING, Rig, rig
from .test_driver_silent_charger import _silent
from .util import car


def _shown(r: Rig) -> ChargerDecision:
    decision = r.driver.charger_decision("a")
    assert decision is not None
    return decision


async def test_a_charger_not_answering_is_shown_until_it_answers() -> None:
    r = rig()
    r.driver.update_charger("a", {"max_current_a": 16.0})
    _silent(r)
    await r.step()  # 16 A left unanswered: the next try in 5 s
    next_try = r.clock.t + TIMING.retry_s
    assert _shown(r).reason is Reason.CHARGER_NOT_ANSWERING  # (at once: test_driver_reason_at_once)
    r.driver.update_charger("a", {"max_current_a": 32.0})
    step, _ = await r.step(after_s=1.0)
    assert step.writes == {}
    shown = _shown(r)
    assert shown.reason is Reason.CHARGER_NOT_ANSWERING
    assert shown.until == next_try
    assert shown.controller_reason is Reason.FAST
    assert shown.target == ChargerCommand(32.0, 3)
    _silent(r, False)
    step, _ = await r.step(after_s=TIMING.retry_s)  # the next try: taken
    assert step.writes == {"a": ChargerCommand(32.0, 3)}
    shown = _shown(r)
    assert (shown.reason, shown.until, shown.controller_reason) == (Reason.FAST, None, None)


async def test_a_refused_stop_is_shown_until_the_next_ask() -> None:
    """Off, on a charger that refuses the stop (a car it started by itself charges on): the
    stop is asked again after 5 s; meanwhile the reason says it was refused. Another mode
    starts the car again: its reason is the controller's."""
    r = _refusing_stop()
    await r.step()
    next_ask = r.clock.t + TIMING.retry_s
    step, _ = await r.step(after_s=1.0)
    assert step.writes == {}
    shown = _shown(r)
    assert (shown.reason, shown.until, shown.controller_reason) == (
        Reason.CHARGER_REFUSED,
        next_ask,
        Reason.OFF,
    )
    r.driver.update_charger("a", {"mode": Mode.FAST})
    await r.step(after_s=1.0)  # (a start waits for the write interval)
    assert _shown(r).reason is Reason.FAST
    assert _shown(r).controller_reason is None


def _refusing_stop() -> Rig:
    rig_ = rig(strategy=PauseStrategy.REMOTE_STOP_START, mode=Mode.OFF)
    rig_.control.fail = {"pause"}
    return rig_


async def test_an_offline_charger_says_it_is_unavailable() -> None:
    """Gone during the wait of a refused stop: the controller's "charger unavailable" says more
    (its return ends the wait)."""
    r = _refusing_stop()
    await r.step()
    await r.step(after_s=1.0, charger=car(r.clock.t + 1.0, connected=False))
    assert _shown(r).reason is Reason.CHARGER_UNAVAILABLE
    assert _shown(r).controller_reason is None


async def test_a_manual_charger_says_manual() -> None:
    """Taken over during the wait of a refused stop, and paused by the user: the user's,
    nothing of the manager's waits for it."""
    r = _refusing_stop()
    await r.step()
    r.driver.update_charger("a", {"mode": Mode.MANUAL})
    r.control.limit.paused = True  # (the user's pause)
    await r.step(after_s=1.0)
    assert _shown(r).target.paused
    assert _shown(r).reason is Reason.MANUAL
