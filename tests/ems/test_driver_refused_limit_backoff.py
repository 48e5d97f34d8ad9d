"""A charger that refuses the manager's limits (a setting on it keeps central systems out).

A refused limit was forgotten by the controller and written again by the very next decision,
and a decision follows every model update (the refusal's own undo is one): about one write a
second with the production debounce, for good. A refused limit now waits as a stop refused or a
write left unanswered does (``backed_off``), the reason says the charger refused, a new target
goes out at once, and the refused limit counts as written: the draw above it is the house's, so
the fuse shares of the other chargers make room for what the refusing charger really draws.
All of that from the run's second refusal: the first is written again by the next decision (a
busy charger takes it: ``test_driver_refused_once``), one write more than a wait at once.
Fake clock and current controls (``test_driver.rig``); the controller and the driver are real."""

from __future__ import annotations

from itertools import pairwise

import pytest

from custom_components.ocpp_ems.core.backoff import REFUSED_RETRY_MAX_S
from custom_components.ocpp_ems.core.ems.config import SiteSettings
from custom_components.ocpp_ems.core.ems.driver import ChargerLink
from custom_components.ocpp_ems.core.ems.types import ChargerCommand, Reason
from custom_components.ocpp_ems.core.errors import CommandNotSupportedError
from custom_components.ocpp_ems.core.model import Capabilities, Charger

from .test_driver import TIMING, Control, Rig, rig
from .test_driver_reason_at_once import _shown
from .util import car, site

TEN_MINUTES_S = 600.0


async def _decide_every_second(r: Rig, seconds: float) -> int:
    """A decision every second (each model update makes one) for ``seconds``: the limits sent."""
    sent = len(r.control.calls)
    for _ in range(int(seconds)):
        await r.step(after_s=1.0)
    return len(r.control.calls) - sent


def _write_times(r: Rig) -> list[float]:
    """When each limit goes out from now (the control's hook)."""
    times: list[float] = []
    r.control.on_call = lambda: times.append(r.clock.t)
    return times


def _waits(times: list[float]) -> list[float]:
    return [later - earlier for earlier, later in pairwise(times)]


async def test_a_charger_refusing_every_limit_is_asked_less_and_less_often() -> None:
    """Ten minutes of a decision a second: written at the retries only (5, 10, 20 ... s after
    each refusal here, 30 s on by default), not 600 times."""
    r = rig()
    r.control.fail = {"set_limit"}
    times = _write_times(r)
    assert await _decide_every_second(r, TEN_MINUTES_S) == 8
    # At 1 s and again at the next decision (the first refusal of the run is forgiven), then 5,
    # 10, 20, 40, 80 and 160 s after each (the next is due at 637 s).
    assert _waits(times) == [1.0, 5.0, 10.0, 20.0, 40.0, 80.0, 160.0]


async def test_the_wait_doubles_up_to_the_refused_limit_maximum() -> None:
    """Refusing for hours, the charger is asked every 10 min at most (the current control's
    own refresh of a refused limit backs off to the same)."""
    r = rig()
    r.control.fail = {"set_limit"}
    times = _write_times(r)
    await _decide_every_second(r, 3 * 3600.0)
    waits = _waits(times)
    assert max(waits) == REFUSED_RETRY_MAX_S
    assert waits[-10:] == [REFUSED_RETRY_MAX_S] * 10


async def test_the_reason_says_refused_until_a_limit_is_taken() -> None:
    r = rig()
    r.driver.update_charger("a", {"max_current_a": 16.0})
    r.control.fail = {"set_limit"}
    step, _ = await r.step(after_s=1.0)
    assert step.writes == {"a": ChargerCommand(16.0, 3)}
    assert _shown(r).reason is Reason.FAST  # (refused once: asked again, nothing waits)
    step, retries = await r.step(after_s=1.0)
    assert step.writes == {"a": ChargerCommand(16.0, 3)}
    assert retries == [r.clock.t + TIMING.retry_s]
    shown = _shown(r)
    assert (shown.reason, shown.controller_reason, shown.until) == (
        Reason.CHARGER_REFUSED,
        Reason.FAST,
        r.clock.t + TIMING.retry_s,
    )
    step, _ = await r.step(after_s=1.0)
    assert step.writes == {}  # (not written again: it would refuse the same)
    assert _shown(r).reason is Reason.CHARGER_REFUSED
    r.control.fail = set()
    step, retries = await r.step(after_s=TIMING.retry_s)
    assert (step.writes, retries) == ({"a": ChargerCommand(16.0, 3)}, [None])  # taken
    assert (_shown(r).reason, _shown(r).controller_reason, _shown(r).until) == (
        Reason.FAST,
        None,
        None,
    )


async def test_a_new_target_goes_out_at_once_and_once() -> None:
    """The user lowers the maximum while the charger refuses: a value not asked yet is written
    at once (it may take that one); refused too, it is not written again at each decision, and
    the retry stays when it was (each lower refused doubled the wait: a target chasing the draw
    pushed the retry 8 minutes away after 5 lowers)."""
    r = rig()
    r.driver.update_charger("a", {"max_current_a": 16.0})
    r.control.fail = {"set_limit"}
    await r.step(after_s=1.0)
    _, first = await r.step(after_s=1.0)  # (refused again: the run waits)
    assert first == [r.clock.t + TIMING.retry_s]
    r.driver.update_charger("a", {"max_current_a": 10.0})
    step, retries = await r.step(after_s=1.0)
    assert step.writes == {"a": ChargerCommand(10.0, 3)}
    assert retries == first
    assert await _decide_every_second(r, TIMING.retry_s - 2.0) == 0


async def test_a_limit_not_supported_waits_as_a_refused_one() -> None:
    """A charger that answers SetChargingProfile with a NotSupported CallError."""
    r = rig()

    def not_supported() -> None:
        raise CommandNotSupportedError("SetChargingProfile")

    r.control.on_call = not_supported
    assert await _decide_every_second(r, 30.0) == 4  # (at 1, 2, 7 and 17 s)
    assert _shown(r).reason is Reason.CHARGER_REFUSED


async def test_a_new_connection_asks_at_once() -> None:
    """Rebooted (or reconnected), the charger may take the limit: written at once."""
    r = rig()
    r.control.fail = {"set_limit"}
    await r.step(after_s=1.0)
    r.model.connected = False
    r.driver.charger_changed("a")
    r.model.connected = True
    r.driver.charger_changed("a")
    r.control.fail = set()
    step, retries = await r.step(after_s=1.0)
    assert (step.writes, retries) == ({"a": ChargerCommand(32.0, 3)}, [None])
    assert _shown(r).reason is Reason.FAST


# --- the fuse ---------------------------------------------------------------------------------
FUSE_A = 40.0  # (less the default 0.5 A margin)
W_PER_A = 230.0 * 3  # (three phases at 230 V)


async def _share_a_fuse_with_a_refusing_charger() -> tuple[Rig, Control]:
    """Chargers a and b in Fast mode behind a 40 A fuse, no house load. b draws 32 A and refuses
    every limit; a takes what it is given. A decision a second for two minutes."""
    r = rig(site_settings=SiteSettings(fuse_a=FUSE_A))
    b_model = Charger(charger_id="b", connected=True, booted=True, capabilities=Capabilities())
    b = Control(capabilities=b_model.capabilities, fail={"set_limit"})
    r.driver.charger_view("b").mode = r.driver.charger_view("a").mode
    r.driver.add_charger("b", ChargerLink(model=b_model, control=lambda: b))
    for _ in range(120):
        r.clock.t += 1.0
        t = r.clock.t
        a_draw = r.control.limit.requested_a or 0.0
        chargers = {
            "a": car(t, power=a_draw * W_PER_A, currents=(a_draw,) * 3),
            "b": car(t, power=32.0 * W_PER_A, currents=(32.0,) * 3),
        }
        total = (a_draw + 32.0,) * 3
        inputs = site(t, total[0] * W_PER_A, chargers, grid_currents=total)
        step = r.driver.step(inputs, t)
        for cid, command in step.writes.items():
            await r.driver.write(cid, command)
    return r, b


async def test_the_others_make_room_for_what_a_refusing_charger_draws() -> None:
    """b keeps the 32 A it had: a gets what the fuse leaves (7.5 A), not an equal share (it got
    19.7 A: 51.7 A on a 40 A fuse, for good)."""
    r, b = await _share_a_fuse_with_a_refusing_charger()
    assert b.calls  # (b was asked: it refused)
    a_limit = r.control.limit.requested_a
    assert a_limit is not None
    assert a_limit == pytest.approx(FUSE_A - SiteSettings().fuse_margin_a - 32.0)
    b_decision = r.driver.charger_decision("b")
    assert b_decision is not None
    assert b_decision.reason is Reason.CHARGER_REFUSED
