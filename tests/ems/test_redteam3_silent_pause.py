"""Red team (3) of the writes held for a charger that left one unanswered (driver._held, 3c244eb).

The charger took 32 A. The manager's pause (0 A, the user picked Off) goes unanswered: the charger
may not have paused (busy, or it lost our message) and the car may still draw the 32 A it last
took. The user then picks Fast again with a maximum of 6 A: a write that takes less than the
charger's last confirmed limit (32 A). write_retry._takes_less compares it with the unanswered pause
only ("than.paused: nothing takes less"), so it was held for the whole wait (up to 10 minutes
after a run of silences) while the car may draw 32 A, five times what is asked; now it goes out.
"""

from __future__ import annotations

from custom_components.ocpp_ems.core.ems.types import ChargerCommand, Mode

from .silence import no_answer, rig_that_took_32_a
from .test_driver import TIMING, rig


async def test_a_limit_below_the_last_confirmed_one_goes_out_after_an_unanswered_pause() -> None:
    r = await rig_that_took_32_a()
    r.control.on_call = no_answer
    r.driver.update_charger("a", {"mode": Mode.OFF})
    _, retries = await r.step(after_s=1.0)
    assert retries == [r.clock.t + TIMING.retry_s]  # the pause left unanswered
    r.control.on_call = None  # the charger answers again
    r.driver.update_charger("a", {"mode": Mode.FAST, "max_current_a": 6.0})
    step, _ = await r.step(after_s=1.0)
    assert step.decision.chargers["a"].write == ChargerCommand(6.0, 3)  # decided: not the limiter
    assert step.writes == {"a": ChargerCommand(6.0, 3)}
    assert r.control.calls[-1] == ("set_limit", 6.0, None)


async def test_a_switch_to_three_phases_at_less_current_a_line_goes_out_into_the_silence() -> None:
    """1 phase at 16 A left unanswered, then 3 phases at 6 A (more power in all, less on L1): the
    car may still draw 16 A on L1, so the lower line current is not held."""
    r = rig()
    r.driver.update_charger("a", {"max_current_a": 16.0})
    r.control.on_call = no_answer
    assert await r.driver.write("a", ChargerCommand(16.0, 1)) is not None  # unanswered
    r.control.on_call = None
    assert await r.driver.write("a", ChargerCommand(6.0, 3)) is None  # sent, taken
    assert await r.driver.write("a", ChargerCommand(16.0, 3)) is None  # the run ended: sent
    assert [call[1] for call in r.control.calls] == [16.0, 6.0, 16.0]
