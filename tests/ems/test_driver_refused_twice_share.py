"""A charger that refuses a fuse lower twice in a row (the second refusal waits and counts as
written), then takes the next write. Its draw above the refused 19.5 A is the house's load for
the other chargers' fuse shares, not for its own (``fuse.share_fuse``): its share stays 19.5 A,
and as the fuse cannot wait for the refusal's wait, that limit is asked again at once, once
(``ChargerWork.ask_again``). Was: its draw above the limit counted against its own share too:
written 7 A, then raised 13, 19, 19.5 A (32 s below its fuse share). Counting that draw as its
own without asking again (tried: its meter capped at the limit it holds) kept the fuse at 52 A
of 40 A for 32 s instead of 3 s. Pinned: a refused fuse lower must not keep the fuse over for
the refusal's wait. Closed loop of ``test_redteam9c_refused_once`` (production retry, 30 s);
the controller and the driver are real."""

from __future__ import annotations

from custom_components.ocpp_ems.core.ems import Mode

from .test_driver import T0, Clock
from .test_redteam9c_refused_once import FUSE_A, _driver, _run
from .test_redteam10b_refused_rewind import Busy

HOUSE_A = 20.0
SHARE_A = FUSE_A - 0.5 - HOUSE_A  # (the default 0.5 A margin)


async def test_a_fuse_lower_refused_twice_does_not_keep_the_fuse_over() -> None:
    clock = Clock(T0)
    control = Busy(clock=clock)
    driver = _driver(Mode.FAST, clock, control)
    await _run(driver, clock, control, 10, house_a=0.0, pv_w=0.0)
    control.refusals = 2
    draws = await _run(driver, clock, control, 60, house_a=HOUSE_A, pv_w=0.0)
    assert sum(1 for draw in draws if draw + HOUSE_A > FUSE_A) == 3
    # Refused, refused (waits), asked again at once: taken. Was: 19.5, 19.5, 7, 13, 19, 19.5.
    assert [call[1] for call in control.calls[1:]] == [SHARE_A] * 3
    assert draws == [32.0] * 3 + [SHARE_A] * 57
