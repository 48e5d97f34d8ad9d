"""Red team 14a on 46ae6aa: a charger that refuses the manager's limits (a setting on it keeps
central systems out) while its target keeps changing.

Found: its run of refusals waited (``WriteRetries``) only for the SAME value; every new target
went out at once. Beside another car on a shared fuse, a one-phase car refusing every limit had
its target chase its own draw (raised to 11.9 A every 14 s, then four lowers): 75 writes in 10
minutes. Now, while the run waits, its first new target still goes out at once (it may take a
value not asked yet), and later a lower one (the fuse) or a pause, but a raise waits for the
retry; a limit refused in the wait keeps the retry where it was (each lower doubled the wait:
8 minutes after five lowers), and the retry asks the target again with the
refused write still counted as written (forgotten at the retry, the other car restarted on the
room the refusing one would free: paused 4 times instead of 2 with the raise held alone).

Fake clock and current controls (``test_driver.rig``), and the closed loop of red team 11b; the
controller and the driver are real.
"""

from __future__ import annotations

from itertools import pairwise

from custom_components.ocpp_ems.core.ems.charger_config import EmsOptions
from custom_components.ocpp_ems.core.ems.types import ChargerCommand, Mode, Reason

from .test_driver import Rig, rig
from .test_driver_reason_at_once import _shown
from .test_redteam11b_refused_fuse import _one_phase_car_refusing_next_to_a_three_phase_one

REFUSALS_FROM_S = 60.0  # (the closed loop: a refuses every limit from then)
WRITE_INTERVAL_S = EmsOptions().min_write_interval_s


def _raises(writes: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """The writes above the one before."""
    return [later for earlier, later in pairwise(writes) if later[1] > earlier[1]]


async def test_a_car_refusing_every_limit_beside_another_is_not_raised_at_each_decision() -> None:
    """The closed loop of 11b (32 A fuse, house 10, 0, 15, 5 A for 150 s each): a's raises go
    out at its retries only (none in 9 minutes since red team 15a, 4 before; 46ae6aa: 25, one
    every 14 s), 9 writes in all (21; 75), and b is paused no more than before (2), the fuse
    over no longer (5 s)."""
    plant = await _one_phase_car_refusing_next_to_a_three_phase_one()
    writes = [(at, amps) for name, amps, at in plant.controls["a"].calls if name == "set_limit"]
    refusing = [w for w in writes if w[0] >= REFUSALS_FROM_S]
    assert len(_raises(refusing)) <= 4
    assert len(writes) <= 25
    assert plant.writes("b").count(0.0) <= 2
    assert plant.over_s <= 5


async def _refusing_run(r: Rig) -> list[float]:
    """Max 16 A, every limit refused: the first refusal forgiven, the second waits. The retry
    time it returned."""
    r.driver.update_charger("a", {"max_current_a": 16.0})
    r.control.fail = {"set_limit"}
    await r.step(after_s=1.0)
    _, retries = await r.step(after_s=1.0)
    return retries


async def _long_wait(r: Rig) -> float:
    """The refusing run's retries go on until its wait is longer than twice the write interval
    (5, 10, 20 s): the retry time."""
    await _refusing_run(r)
    while True:
        _, retries = await r.step(after_s=1.0)
        if retries and retries[0] is not None and retries[0] - r.clock.t > 2 * WRITE_INTERVAL_S:
            return retries[0]


async def test_a_raise_in_the_wait_goes_out_at_the_retry() -> None:
    """The user lowers the maximum (written at once, refused), then raises it: the raise waits
    for the retry, not only for the write interval (46ae6aa: written once that was over), the
    reason says the charger refused until then, and at the retry the raise goes out once."""
    r = rig()
    retry = await _long_wait(r)
    r.driver.update_charger("a", {"max_current_a": 10.0})
    step, retries = await r.step(after_s=1.0)
    assert (step.writes, retries) == ({"a": ChargerCommand(10.0, 3)}, [retry])
    lowered_at = r.clock.t
    r.driver.update_charger("a", {"max_current_a": 13.0})
    sent: list[float] = []
    r.control.on_call = lambda: sent.append(r.clock.t)
    while r.clock.t < lowered_at + WRITE_INTERVAL_S + 1.0:
        await r.step(after_s=1.0)
    shown = _shown(r)
    assert (sent, shown.reason, shown.until) == ([], Reason.CHARGER_REFUSED, retry)
    while r.clock.t < retry + 2.0:
        await r.step(after_s=1.0)
    assert sent == [retry]
    assert r.control.calls[-1][1] == 13.0


async def test_a_pause_in_the_wait_goes_out_at_once() -> None:
    """Off while the charger refuses: the pause is no limit it refused (and Off must not wait)."""
    r = rig()
    await _refusing_run(r)
    r.driver.update_charger("a", {"max_current_a": 10.0})
    await r.step(after_s=1.0)  # (a new target in the wait: the next one waits)
    r.driver.update_charger("a", {"mode": Mode.OFF})
    step, _ = await r.step(after_s=1.0)
    assert step.writes == {"a": ChargerCommand.pause(3)}


async def test_a_limit_taken_ends_the_wait_for_the_next_raise() -> None:
    """The charger takes the retry: its run is over, and a raise goes out as soon as the write
    interval allows, as for any charger."""
    r = rig()
    retry = await _long_wait(r)
    r.control.fail = set()
    while r.clock.t < retry:
        await r.step(after_s=1.0)
    assert r.control.calls[-1][1] == 16.0  # (asked again at the retry, taken)
    r.driver.update_charger("a", {"max_current_a": 10.0})
    await r.step(after_s=1.0)
    lowered_at = r.clock.t
    r.driver.update_charger("a", {"max_current_a": 12.0})
    sent: list[float] = []
    r.control.on_call = lambda: sent.append(r.clock.t)
    while r.clock.t < lowered_at + 3 * WRITE_INTERVAL_S:
        await r.step(after_s=1.0)
    assert sent == [lowered_at + WRITE_INTERVAL_S]
    assert _shown(r).reason is Reason.FAST
