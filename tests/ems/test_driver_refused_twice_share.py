"""A charger that refuses a fuse lower twice in a row (the second refusal waits and counts as
written), then takes the next write. Its own draw above the refused 19.5 A counts as house load,
against its own share too: it is written 7 A, then raised 13, 19, 19.5 A (20 s below its fuse
share). Counting that draw as its own (tried in a scratch copy, ``measure.py``: its meter capped
at the limit it holds) keeps its target at the refused 19.5 A, which is not written again until
the refusal's wait is over: the fuse carried 52 A of 40 A for 32 s instead of 3 s. Pinned: a
refused fuse lower must not keep the fuse over for the refusal's wait. Closed loop of
``test_redteam9c_refused_once`` (production retry, 30 s); the controller and the driver are real."""

from __future__ import annotations

from custom_components.ocpp_ems.core.ems import Mode

from .test_driver import T0, Clock
from .test_redteam9c_refused_once import FUSE_A, _driver, _run
from .test_redteam10b_refused_rewind import Busy

HOUSE_A = 20.0


async def test_a_fuse_lower_refused_twice_does_not_keep_the_fuse_over() -> None:
    clock = Clock(T0)
    control = Busy(clock=clock)
    driver = _driver(Mode.FAST, clock, control)
    await _run(driver, clock, control, 10, house_a=0.0, pv_w=0.0)
    control.refusals = 2
    draws = await _run(driver, clock, control, 60, house_a=HOUSE_A, pv_w=0.0)
    assert sum(1 for draw in draws if draw + HOUSE_A > FUSE_A) == 3
    # The cost: the car's own share shrinks by its draw above the refused limit, for a while.
    assert [call[1] for call in control.calls[1:]] == [19.5, 19.5, 7.0, 13.0, 19.0, 19.5]
    assert draws[-1] == FUSE_A - HOUSE_A - 0.5
