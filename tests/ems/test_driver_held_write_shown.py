"""A write the driver holds (the charger left the last one unanswered) is not in the decision
either: what reads the decision (the reason sensor's attributes, diagnostics) showed a write
that was never sent. The target still says what the controller wants; the write at the end of
the wait shows again."""

from __future__ import annotations

from custom_components.ocpp_ems.core.ems.types import ChargerCommand

from .test_driver import TIMING, rig
from .test_driver_silent_charger import _silent


async def test_a_held_write_is_not_shown_as_written() -> None:
    r = rig()
    r.driver.update_charger("a", {"max_current_a": 16.0})
    _silent(r)
    await r.step()  # 16 A left unanswered: its writes are held for the wait
    r.driver.update_charger("a", {"max_current_a": 32.0})
    step, _ = await r.step(after_s=1.0)
    assert step.writes == {}
    for shown in (step.decision.chargers["a"], r.driver.charger_decision("a")):
        assert shown is not None
        assert shown.write is None  # (it showed the 32 A that waits)
        assert shown.target == ChargerCommand(32.0, 3)
    _silent(r, False)
    step, _ = await r.step(after_s=TIMING.retry_s)
    decision = r.driver.charger_decision("a")
    assert decision is not None
    assert decision.write == ChargerCommand(32.0, 3)
    assert step.writes == {"a": ChargerCommand(32.0, 3)}
