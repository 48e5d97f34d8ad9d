"""A charger that refuses a limit once (busy) and takes the next.

575a3c1 made a refused limit wait (30 s, doubling) and count as written from the first refusal:
a charger refusing every limit was no longer asked at every decision, but one refusing once was
left at the wrong current for the whole wait (``test_redteam9c_refused_once``). The run's first
refusal is now forgiven: the next decision writes the limit again, nothing waits, the reason
stays the controller's; from the run's next refusal on (no write taken between) the run waits
as before. Fake clock and current control (``test_driver.rig``, retry 5 s); the controller and
the driver are real."""

from __future__ import annotations

from custom_components.ocpp_ems.core.ems.types import ChargerCommand, Reason
from custom_components.ocpp_ems.core.errors import CommandRejectedError

from .test_driver import TIMING, Rig, rig
from .test_driver_reason_at_once import _shown

SIXTEEN = ChargerCommand(16.0, 3)
TEN = ChargerCommand(10.0, 3)


def _refuses_next(r: Rig, count: int) -> None:
    """The charger refuses the next ``count`` limits, then takes every one."""
    left = [count]

    def refuse() -> None:
        if left[0] > 0:
            left[0] -= 1
            raise CommandRejectedError("set_limit", "Rejected")

    r.control.on_call = refuse


async def _writes_every_second(r: Rig, seconds: float) -> list[ChargerCommand]:
    writes: list[ChargerCommand] = []
    for _ in range(int(seconds)):
        step, _ = await r.step(after_s=1.0)
        writes += step.writes.values()
    return writes


async def test_refused_twice_then_taken() -> None:
    """Refused once: asked again at the next decision, the reason unchanged. Refused again: the
    run waits the first wait and the reason says the charger refused; the retry is taken."""
    r = rig()
    r.driver.update_charger("a", {"max_current_a": 16.0})
    _refuses_next(r, 2)
    step, _ = await r.step(after_s=1.0)
    assert step.writes == {"a": SIXTEEN}
    assert _shown(r).reason is Reason.FAST
    step, retries = await r.step(after_s=1.0)
    assert step.writes == {"a": SIXTEEN}  # (at once: no wait after the first refusal)
    retry_at = r.clock.t + TIMING.retry_s
    assert retries == [retry_at]
    assert (_shown(r).reason, _shown(r).until) == (Reason.CHARGER_REFUSED, retry_at)
    assert await _writes_every_second(r, TIMING.retry_s - 1.0) == []
    step, retries = await r.step(after_s=1.0)
    assert (step.writes, retries) == ({"a": SIXTEEN}, [None])
    assert r.control.limit.requested_a == 16.0
    assert (_shown(r).reason, _shown(r).until) == (Reason.FAST, None)


async def test_refused_once_taken_then_refused_once_again_carries_no_wait_over() -> None:
    """Each refusal after a write taken is a run's first: forgiven again (not the run's second,
    which would wait), and a later run that does wait starts at the first wait (not doubled)."""
    r = rig()
    r.driver.update_charger("a", {"max_current_a": 16.0})
    _refuses_next(r, 1)
    await r.step(after_s=1.0)
    step, retries = await r.step(after_s=1.0)
    assert (step.writes, retries) == ({"a": SIXTEEN}, [None])  # taken

    r.driver.update_charger("a", {"max_current_a": 10.0})
    _refuses_next(r, 1)
    step, _ = await r.step(after_s=60.0)
    assert step.writes == {"a": TEN}
    assert _shown(r).reason is Reason.FAST
    step, retries = await r.step(after_s=1.0)
    assert (step.writes, retries) == ({"a": TEN}, [None])
    assert r.control.limit.requested_a == 10.0

    r.driver.update_charger("a", {"max_current_a": 16.0})
    _refuses_next(r, 2)
    await r.step(after_s=60.0)
    _, retries = await r.step(after_s=1.0)
    assert retries == [r.clock.t + TIMING.retry_s]


async def test_a_charger_refusing_for_good_shows_one_change_per_retry() -> None:
    """Refused from the second refusal on, then only the retry time changes, once per retry
    (no controller's reason between: no flapping)."""
    r = rig()
    r.control.fail = {"set_limit"}
    start = r.clock.t
    shown: list[tuple[Reason, float | None]] = []

    def note() -> None:
        now = (_shown(r).reason, _shown(r).until)
        if not shown or shown[-1] != now:
            shown.append(now)

    r.driver._on_shown = note
    for _ in range(60):
        await r.step(after_s=1.0)
        note()
    # Refused at 1 s (forgiven), 2 s (5 s wait), 7 s (10 s), 17 s (20 s), 37 s (40 s).
    assert shown == [
        (Reason.FAST, None),
        (Reason.CHARGER_REFUSED, start + 7.0),
        (Reason.CHARGER_REFUSED, start + 17.0),
        (Reason.CHARGER_REFUSED, start + 37.0),
        (Reason.CHARGER_REFUSED, start + 77.0),
    ]
