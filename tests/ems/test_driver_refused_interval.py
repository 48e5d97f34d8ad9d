"""A limit refused as its run's first failure (forgiven: asked again at the next decision) within
the write interval of the charger's last taken write: the controller counts from that write
again (``EmsDriver._forget_refused``), so a lower refused is asked again at once and a raise
waits out the interval of the write the charger took. Only while the charger still holds that
write and no newer write follows the refused one: after a new connection, or with a newer
decision's write queued behind it, the next decision writes afresh. Fake clock and current
control (``test_driver.rig``); the controller and the driver are real."""

from __future__ import annotations

import asyncio

from custom_components.ocpp_ems.core.ems.config import ChargerSettings
from custom_components.ocpp_ems.core.ems.driver import ChargerLink
from custom_components.ocpp_ems.core.ems.types import ChargerCommand
from custom_components.ocpp_ems.core.errors import CommandRejectedError

from .test_driver import Control, Rig, rig
from .test_driver_failure_runs import _reconnects
from .test_driver_refused_once import _refuses_next
from .util import car, site

INTERVAL_S = ChargerSettings().min_write_interval_s


async def _capped(r: Rig, amps: float) -> list[ChargerCommand]:
    """The user's maximum (Fast mode's target) set to ``amps``, one decision a second later."""
    r.driver.update_charger("a", {"max_current_a": amps})
    step, _ = await r.step(after_s=1.0)
    return list(step.writes.values())


async def test_a_lower_refused_is_asked_again_at_the_next_decision() -> None:
    r = rig()
    await _capped(r, 16.0)
    _refuses_next(r, 1)
    assert await _capped(r, 10.0) == [ChargerCommand(10.0, 3)]  # refused (forgiven)
    assert await _capped(r, 10.0) == [ChargerCommand(10.0, 3)]
    assert r.control.limit.requested_a == 10.0


async def test_a_raise_after_a_refused_lower_waits_the_taken_writes_interval() -> None:
    """10 A taken, 8 A refused, the target back up to 16 A: raised 10 s after the 10 A was
    taken (asked at once, the controller having forgotten the 8 A: 2 s after)."""
    r = rig()
    await _capped(r, 16.0)
    assert await _capped(r, 10.0) == [ChargerCommand(10.0, 3)]
    taken_at = r.clock.t
    _refuses_next(r, 1)
    assert await _capped(r, 8.0) == [ChargerCommand(8.0, 3)]  # refused (forgiven)
    raised_after_s = []
    for _ in range(int(INTERVAL_S)):
        if await _capped(r, 16.0):
            raised_after_s.append(r.clock.t - taken_at)
    assert raised_after_s == [INTERVAL_S]
    assert r.control.limit.requested_a == 16.0


async def test_after_a_new_connection_a_refused_limit_is_written_afresh() -> None:
    """The charger took 16 A, then reconnected (what it holds is unknown): the 16 A written to
    the new connection is refused, and asked again at the next decision (counted from the old
    16 A, the controller would see nothing to write)."""
    r = rig()
    assert await _capped(r, 16.0) == [ChargerCommand(16.0, 3)]
    _reconnects(r)
    _refuses_next(r, 1)
    assert await _capped(r, 16.0) == [ChargerCommand(16.0, 3)]  # refused (forgiven)
    assert await _capped(r, 16.0) == [ChargerCommand(16.0, 3)]
    assert [call[0] for call in r.control.calls] == ["set_limit"] * 3


class SlowFirst(Control):
    """Holds the next limit until ``answer`` is set, then refuses it; takes the others."""

    answer: asyncio.Event | None = None

    async def set_limit(
        self, amps: float | None, *, phases: int | None = None, by_manager: bool = False
    ) -> None:
        if (answer := self.answer) is not None:
            self.answer = None
            self.calls.append(("set_limit", amps, phases))
            await answer.wait()
            raise CommandRejectedError("set_limit", "Rejected")
        await super().set_limit(amps, phases=phases, by_manager=by_manager)


async def test_a_refusal_a_newer_write_follows_leaves_the_charger_written_afresh() -> None:
    """16 A taken; 10 A on its way when 8 A is decided (queued behind it); the 10 A refused,
    the 8 A taken; the target back at 16 A: written (the controller, counting from the 16 A
    taken before, would see nothing to write to a charger at 8 A)."""
    r = rig()
    r.control = control = SlowFirst()
    r.driver.add_charger("a", ChargerLink(model=r.model, control=lambda: control))
    assert await _capped(r, 16.0) == [ChargerCommand(16.0, 3)]
    answer = control.answer = asyncio.Event()
    writes = []
    for amps in (10.0, 8.0):
        r.driver.update_charger("a", {"max_current_a": amps})
        r.clock.t += 1.0
        step = r.driver.step(site(r.clock.t, 0.0, {"a": car(r.clock.t)}), r.clock.t)
        writes += [asyncio.create_task(r.driver.write("a", w)) for w in step.writes.values()]
        await asyncio.sleep(0)
    answer.set()
    await asyncio.gather(*writes)
    assert r.control.limit.requested_a == 8.0
    for _ in range(int(INTERVAL_S) + 1):
        await _capped(r, 16.0)
    assert r.control.limit.requested_a == 16.0
