"""The fuse and a charger that refuses a lower limit (``fuse.share_fuse``): what it draws above
its written limit is the house's load for the other chargers' shares, not for its own; where the
fuse cannot wait for the refusal's wait, its limit is asked again at once, once; refused again,
it is offered lower limits as before (not asked at every decision).

Closed loops of red team 10b / 9c (a decision a second, the production retry of 30 s): the
controller and the driver are real, the controls the tests' fakes. The controller alone for
what a refused write leaves (``EnergyManager.refused``)."""

from __future__ import annotations

from custom_components.ocpp_ems.core.ems import (
    ChargerCommand,
    ChargerSettings,
    EnergyManager,
    Mode,
    SiteSettings,
)
from custom_components.ocpp_ems.core.ems.charger_work import ChargerMemory
from custom_components.ocpp_ems.core.ems.response import WriteKind

from .test_driver import T0, Clock
from .test_redteam9c_refused_once import FUSE_A, V, _driver, _run
from .test_redteam10b_refused_rewind import INTERVAL_S, Busy, Loop
from .util import car, site

HOUSE_A = 20.0
MARGIN_A = SiteSettings().fuse_margin_a


async def _two_chargers_one_refusing_twice() -> tuple[Loop, list[tuple[float, float]]]:
    """a and b in Fast mode (house 12 A, then none); the house takes 20 A and a refuses the
    next two limits. Each second's draws of a and b."""
    loop = Loop(Mode.FAST, ids="ab")
    await loop.run(60, house_a=12.0)
    await loop.run(3, house_a=0.0)
    loop.control.refusals = 2
    draws = []
    for _ in range(60):
        draws.append((loop.draw_a("a"), loop.draw_a("b")))
        await loop.run(1, house_a=HOUSE_A)
    return loop, draws


async def test_the_refusing_charger_keeps_its_own_share() -> None:
    """Was: its draw above the refused 9.7 A (10 A) left it 9.5 A of its 9.75 A share, raised
    to 9.7 A 28 s later."""
    loop, draws = await _two_chargers_one_refusing_twice()
    assert loop.limits("a") == [13.7, 19.7, 9.7, 9.7, 9.7]  # (refused, refused, taken)
    assert [a for a, _ in draws] == [19.7] * 3 + [9.7] * 57


async def test_the_other_charger_makes_room_for_the_refusing_ones_draw() -> None:
    """b's share counts a's draw above its limit (paused while a draws 19.7 A), and b restarts
    once the write interval allows, as before: not after a's 30 s wait (paused 29 s where a's
    share ignored its draw above the limit but a was not asked again). The fuse is over for
    the refusals' decisions only."""
    loop, draws = await _two_chargers_one_refusing_twice()
    assert loop.limits("b") == [13.7, 19.7, 9.7, 0.0, 9.7]
    assert sum(1 for _, b in draws if b == 0.0) == INTERVAL_S
    assert sum(1 for a, b in draws if a + b + HOUSE_A > FUSE_A) == 3


async def _one_charger_refusing(refusals: int, seconds: int) -> tuple[list[float], list[float]]:
    """One Fast charger at 32 A; the house takes 20 A and it refuses the next ``refusals``
    limits. The limits written from then, and its draw each second."""
    clock = Clock(T0)
    control = Busy(clock=clock)
    driver = _driver(Mode.FAST, clock, control)
    await _run(driver, clock, control, 10, house_a=0.0, pv_w=0.0)
    control.refusals = refusals
    draws = await _run(driver, clock, control, seconds, house_a=HOUSE_A, pv_w=0.0)
    return [call[1] for call in control.calls[1:]], draws


async def test_asked_again_and_refused_it_is_offered_a_lower_limit_at_once() -> None:
    """Refused three times: 19.5 A, 19.5 A, 19.5 A asked again, then 7 A (its draw above the
    limit counts against its own share once asked again), taken: the fuse over for 4 s. Was:
    19.5, 19.5, 7 A, then a pause taken, 4 s over too (paused 10 s)."""
    limits, draws = await _one_charger_refusing(3, 60)
    assert limits[:4] == [19.5, 19.5, 19.5, 7.0]
    assert sum(1 for draw in draws if draw + HOUSE_A > FUSE_A) == 4


async def test_a_charger_refusing_every_limit_is_asked_again_once_per_wait() -> None:
    """Ten minutes of a decision a second: its limit asked again once after the wait began,
    then a lower limit and a pause, each once; at each retry its target (the pause) is asked
    again: 9 writes, not one a second. Was: the same count, the retry forgetting the refused
    write (19.5, 19.5, 7, 0 A again: its draw its own once more, the other chargers' fuse
    shares counting on it taking a limit; red team 14a)."""
    limits, _ = await _one_charger_refusing(10**6, 600)
    assert limits == [19.5, 19.5, 19.5, 7.0] + [0.0] * 5


# --- the controller alone ---------------------------------------------------------------------
def _fast_at_32_a_then_house_up() -> tuple[EnergyManager, ChargerCommand]:
    """One Fast charger drawing 32 A on a 40 A fuse; the house takes 20 A: the fuse lowers it
    (the write returned)."""
    manager = EnergyManager(
        SiteSettings(fuse_a=FUSE_A), {"a": ChargerSettings(mode=Mode.FAST, max_current_a=32.0)}
    )
    manager.update(site(0.0, 0.0, {"a": car(0.0)}, grid_currents=(0.0,) * 3), 0.0)
    _update(manager, 20.0, car_a=32.0, house_a=0.0)
    lower = _update(manager, 40.0, car_a=32.0, house_a=HOUSE_A)
    assert lower == ChargerCommand(FUSE_A - MARGIN_A - HOUSE_A, 3)
    return manager, lower


def _update(
    manager: EnergyManager, t: float, car_a: float, house_a: float
) -> ChargerCommand | None:
    """A decision whose charger meter and grid meter show the car at ``car_a``: its write."""
    charger = car(t, power=car_a * V * 3, currents=(car_a,) * 3)
    lines = (car_a + house_a,) * 3
    inputs = site(t, lines[0] * V * 3, {"a": charger}, grid_currents=lines)
    return manager.update(inputs, t).chargers["a"].write


def test_a_lower_taken_but_not_shown_yet_is_no_draw_above_the_limit() -> None:
    """The charger's meter reports every 30 s: its last sample (from before the lower) shows
    32 A while the grid shows the car at 19.5 A. Nothing is asked again, nor raised once the
    write interval has passed (counted as the car's own, that draw raised it to 25.5 A)."""
    manager, lower = _fast_at_32_a_then_house_up()
    charger = car(39.0, power=32.0 * V * 3, currents=(32.0,) * 3)
    lines = (HOUSE_A + lower.current_a,) * 3
    for t in range(41, 61):
        inputs = site(t, lines[0] * V * 3, {"a": charger}, grid_currents=lines)
        assert manager.update(inputs, t).chargers["a"].write is None


def test_a_refused_lower_is_asked_again_once_while_the_car_draws_above_it() -> None:
    manager, lower = _fast_at_32_a_then_house_up()
    manager.refused("a", lower)  # (the driver counts it as written: its run of refusals waits)
    assert _update(manager, 41.0, car_a=32.0, house_a=HOUSE_A) == lower
    manager.refused("a", lower)
    offered = _update(manager, 42.0, car_a=32.0, house_a=HOUSE_A)
    assert offered == ChargerCommand(FUSE_A - MARGIN_A - HOUSE_A - (32.0 - lower.current_a), 3)


def _memory_of_a(manager: EnergyManager) -> ChargerMemory:
    memory = manager.memory("a")
    assert memory is not None
    return memory


def _forgotten_then_decided(
    car_a: float,
) -> tuple[ChargerCommand, ChargerCommand | None, float, ChargerMemory]:
    """The fuse's lower is forgotten (``invalidate``) and the next decision sees the car at
    ``car_a``: the lower, that decision's write, when the charger had started, its memory."""
    manager, lower = _fast_at_32_a_then_house_up()
    memory = _memory_of_a(manager)
    started_at = memory.started_at
    manager.invalidate("a")
    write = _update(manager, 41.0, car_a=car_a, house_a=HOUSE_A)
    return lower, write, started_at, memory


def _last_write_kind(memory: ChargerMemory) -> WriteKind:
    last = memory.response.last_write
    assert last is not None
    return last.kind


def test_a_write_forgotten_while_the_car_draws_is_written_again_as_a_change() -> None:
    """The lower was forgotten (a refusal forgiven past the write interval: ``invalidate``):
    written again while the car draws 32 A, it is a drop the response learner watches, not a
    start (``limiter._starts``; as a start, a 15-25 s charger learned no change and hunted)."""
    lower, write, started_at, memory = _forgotten_then_decided(car_a=32.0)
    assert write == lower
    assert memory.started_at == started_at
    assert _last_write_kind(memory) is WriteKind.DROP


def test_a_write_forgotten_while_the_car_draws_nothing_starts_it() -> None:
    _, write, _, memory = _forgotten_then_decided(car_a=0.0)
    assert write is not None
    assert memory.started_at == 41.0
    assert _last_write_kind(memory) is WriteKind.START


def test_a_refused_write_no_longer_the_last_stays_in_the_response_history() -> None:
    """A newer decision's write followed the refused one: that one's limit may show."""
    manager, lower = _fast_at_32_a_then_house_up()
    memory = _memory_of_a(manager)
    written = list(memory.response.writes)
    manager.refused("a", ChargerCommand(25.0, 3))
    assert list(memory.response.writes) == written
    manager.refused("a", lower)
    assert list(memory.response.writes) == written[:-1]
