"""Red team 9c on 575a3c1: what follows a refused limit (a new session, the manager switched
off and on, a restart) asks the charger again at once. Fake clock and current control
(``test_driver.rig``, retry 5 s); the controller and the driver are real."""

from __future__ import annotations

from custom_components.ocpp_ems.core.ems.types import ChargerCommand, Reason

from .test_driver import Rig, rig
from .test_driver_reason_at_once import _shown
from .util import car


async def _refused_for_good(r: Rig) -> None:
    """Fast mode at 32 A refused, then the refusal's retry refused too (the first refusal is
    forgiven, the second waits the first wait: 5 s here)."""
    r.control.fail = {"set_limit"}
    await r.step(after_s=1.0)
    await r.step(after_s=5.0)
    assert [c[0] for c in r.control.calls] == ["set_limit", "set_limit"]
    r.control.fail = set()


async def _writes_for(r: Rig, seconds: int, **charger: object) -> list[ChargerCommand]:
    writes: list[ChargerCommand] = []
    for _ in range(seconds):
        t = r.clock.t + 1.0
        step, _ = await r.step(after_s=1.0, charger=car(t, **charger))  # type: ignore[arg-type]
        writes += step.writes.values()
    return writes


async def test_a_new_session_after_a_refused_limit_is_written_as_any_new_session() -> None:
    """The car leaves (the pause goes out at once and is taken: the refusals' run ends) and
    comes back: its limit goes out 8 s after the plug, as on a04ba98 (the start's own timing,
    not the refusal's wait, which had grown to 10 s)."""
    r = rig()
    await _refused_for_good(r)
    assert await _writes_for(r, 3, plugged=False) == [ChargerCommand(0.0, 3, paused=True)]
    writes = await _writes_for(r, 7, plugged=True)
    assert writes == []
    assert await _writes_for(r, 1, plugged=True) == [ChargerCommand(32.0, 3)]
    assert _shown(r).reason is Reason.FAST


async def test_switched_off_and_on_after_a_refused_limit_is_written_at_once() -> None:
    r = rig()
    await _refused_for_good(r)
    r.driver.set_active(False)
    r.driver.set_active(True)
    writes = await _writes_for(r, 1)
    assert ChargerCommand(32.0, 3) in writes
    assert _shown(r).reason is Reason.FAST
