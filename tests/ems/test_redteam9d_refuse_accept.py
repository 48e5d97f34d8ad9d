"""Red team 9d on 961e47b (a limit refused as a run's first failure is asked again at the next
decision, ``WriteRetries.forgives``): a charger that alternates refusing and taking limits. Each
write taken ends the run, so every refusal is a run's first and is forgiven (the controller
forgets what it wrote). A steady limit costs two writes (pin). A moving target: the rewrite at
the next decision skipped the write limiter, 40 raises in 10 min sooner than
``min_write_interval_s`` after the last taken write (strict xfail until the controller counted
from that write again: ``EmsDriver._forget_refused``). Rig: ``test_driver_refused_once``
(fake clock, real controller and driver)."""

from __future__ import annotations

import itertools

import pytest

from custom_components.ocpp_ems.core.ems.config import ChargerSettings
from custom_components.ocpp_ems.core.ems.types import ChargerCommand
from custom_components.ocpp_ems.core.errors import CommandRejectedError

from .test_driver import Rig, rig

TEN_MINUTES_S = 600
# The charger's cap each second, in turn: two lowers, then a raise.
CAPS = (16.0, 10.0, 8.0)


def _refuses_every_other_call(r: Rig) -> None:
    calls = [0]

    def refuse_odd() -> None:
        calls[0] += 1
        if calls[0] % 2 == 1:
            raise CommandRejectedError("set_limit", "Rejected")

    r.control.on_call = refuse_odd


async def _writes_over_ten_minutes(r: Rig) -> list[ChargerCommand]:
    writes: list[ChargerCommand] = []
    for _ in range(TEN_MINUTES_S):
        step, _ = await r.step(after_s=1.0)
        writes += step.writes.values()
    return writes


async def test_a_steady_limit_refused_every_other_time_is_written_twice() -> None:
    """Refused (forgiven), taken at the next decision: then nothing more to write."""
    r = rig()
    r.driver.update_charger("a", {"max_current_a": 16.0})
    _refuses_every_other_call(r)
    writes = await _writes_over_ten_minutes(r)
    assert writes == [ChargerCommand(16.0, 3)] * 2
    assert r.control.limit.requested_a == 16.0


@pytest.mark.parametrize(
    "refusing",
    [False, True],
    ids=["taking_all", "refusing_every_other"],
)
async def test_a_raise_waits_the_write_interval(refusing: bool) -> None:
    """The write limiter raises at most once per ``min_write_interval_s``; a charger that
    refuses every other write must not get its raises sooner."""
    r = rig()
    if refusing:
        _refuses_every_other_call(r)
    interval_s = ChargerSettings().min_write_interval_s
    taken: list[tuple[float, float]] = []  # (time, amps) of each limit the charger took
    for second in range(TEN_MINUTES_S):
        r.driver.update_charger("a", {"max_current_a": CAPS[second % len(CAPS)]})
        await r.step(after_s=1.0)
        amps = r.control.limit.requested_a
        if amps is not None and (not taken or taken[-1][1] != amps):
            taken.append((r.clock.t, amps))
    early_raises = [
        (t, amps)
        for (t_before, amps_before), (t, amps) in itertools.pairwise(taken)
        if amps > amps_before and t - t_before < interval_s
    ]
    assert early_raises == []
