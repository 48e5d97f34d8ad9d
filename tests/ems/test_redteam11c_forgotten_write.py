"""Red team 11c on d714826 (``limiter._starts``: with no last write, a write to a car its own
meter shows drawing is a change, not a start; ``fuse._refusing``: what a charger
that refused the limit asked again holds is no room for the others).

Closed loops of red team 11b (``Plant``: a decision a second, the production driver and
controller, the chargers the tests' fakes). Home Assistant restarting is a fresh driver beside
the same chargers (the car keeps drawing what it was given).

Regressions of d714826: a slow charger's write that went unanswered in Solar mode is retried as
a change and hunts a minute (4 -> 8 writes; fixed: 1); after a restart, a one-phase car on a
1p/3p charger written one phase is taken as not switching (its own phases), so the switch's pause
reads as a full car (lowered to 6 A for 12 s). Old gap, fixed: a slow charger (15 s, meter every
10 s) in Solar mode in steady sun is written 91 times in 10 min (now once). Pins of gains: a
restart of Home Assistant while a slow car charges (47 -> 7 writes, 65 -> 25 s over the fuse), a
refusing charger that then accepts (the other: 60 -> 8 writes, 38 -> 5 s over the fuse), two of
three chargers refusing every limit (300 -> 153 s over the fuse).
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from custom_components.ocpp_ems.core.ems import ChargerSettings, EnergyManager, Mode, SiteSettings
from custom_components.ocpp_ems.core.ems.charger_config import EmsOptions
from custom_components.ocpp_ems.core.ems.driver import ChargerLink, EmsDriver, Timing
from custom_components.ocpp_ems.core.errors import CommandTimeoutError
from custom_components.ocpp_ems.core.model import Capabilities, Charger

from .test_driver import T0, open_session
from .test_redteam9c_refused_once import V
from .test_redteam11b_refused_fuse import Plant, Refusing
from .util import car, site


@dataclass
class Unanswered(Refusing):
    """Leaves the next ``unanswered`` writes unanswered (not taken), then takes as ``Refusing``."""

    unanswered: int = 0

    async def set_limit(
        self, amps: float | None, *, phases: int | None = None, by_manager: bool = False
    ) -> None:
        if self.unanswered > 0:
            assert self.clock is not None
            self.unanswered -= 1
            self.calls.append(("set_limit", amps or 0.0, self.clock.t - T0))
            raise CommandTimeoutError("set_limit")
        await super().set_limit(amps, phases=phases, by_manager=by_manager)


def _restart_home_assistant(plant: Plant, mode: Mode) -> None:
    """A fresh driver (nothing remembered) beside the same chargers and cars."""
    plant.driver = EmsDriver(
        SiteSettings(fuse_a=plant.fuse_a), EmsOptions(), clock=plant.clock, timing=lambda: Timing()
    )
    for cid, control in plant.controls.items():
        model = Charger(charger_id=cid, connected=True, booted=True, capabilities=Capabilities())
        open_session(model, f"tx-{cid}")
        plant.driver.charger_view(cid).mode = mode
        plant.driver.add_charger(cid, ChargerLink(model=model, control=lambda c=control: c))


def _writes_since(plant: Plant, cid: str, since_s: float) -> list[tuple[float, float]]:
    """(amps, seconds from T0) of each write to ``cid`` from ``since_s`` on."""
    return [(call[1], call[2]) for call in plant.controls[cid].calls if call[2] >= since_s]


async def _slow_charger_in_steady_sun(
    control: Refusing, seconds: int, meter_period_s: int = 10
) -> Plant:
    """Solar mode on 9 kW (house 1 A, 40 A fuse) for ``seconds``, a decision a second."""
    plant = Plant(Mode.SOLAR, 40.0, {"a": control}, meter_period_s=meter_period_s)
    await plant.run(seconds, house_a=1.0, pv_w=9000.0)
    return plant


# --- regression -------------------------------------------------------------------------------
async def test_a_slow_chargers_unanswered_write_does_not_hunt() -> None:
    """A slow charger's (15 s, meter every 10 s) write left unanswered in Solar mode is written
    again once and the car left at it: the retry is the same write, its watch goes on
    (``ChargerResponse._written_again``) and no change waits less than for the meters to show
    the last (``ChargerResponse.last_write_shows_at``).
    Was (d714826): 7.6, 8.6, 7.6 ... 8 writes in the minute after (d714826^: 7.6, 6.0, 7.6,
    6.0: 4)."""
    control = Unanswered(lag_s=15.0)
    plant = await _slow_charger_in_steady_sun(control, 300)
    control.unanswered = 1
    await plant.run(60, house_a=1.0, pv_w=6000.0)
    assert _writes_since(plant, "a", 301.0) == [(7.6, 301.0), (7.6, 302.0)]


def _first_write_to_a_one_phase_car_on_a_switchable_charger(pause_s: int) -> list[float]:
    """A fresh controller (Home Assistant restarted), Solar mode on 2.5 kW, a one-phase car
    drawing 8 A on a 1p/3p charger; the first write (one phase) makes the charger switch, the
    car drawing nothing for ``pause_s`` s. The limits written in 30 s."""
    manager = EnergyManager(
        SiteSettings(fuse_a=40.0),
        {"a": ChargerSettings(mode=Mode.SOLAR, can_switch_phases=True)},
    )
    pv_w, amps, house_w, house_a = 2500.0, 8.0, 300.0, 1.3
    limits = []
    for t in range(31):
        draw_a = 0.0 if 0 < t <= pause_s else amps
        charger = car(
            t, power=draw_a * V, currents=(draw_a, 0.0, 0.0), phases_in_use=1 if draw_a else None
        )
        lines = (draw_a + house_a, house_a, house_a)
        grid_w = draw_a * V + house_w - pv_w
        inputs = site(t, grid_w, {"a": charger}, grid_currents=lines, pv=pv_w)
        if (write := manager.update(inputs, t).chargers["a"].write) is not None:
            limits.append(write.current_a)
    return limits


@pytest.mark.xfail(
    strict=True,
    reason="trade-off of the fix of the switch pause below: on a 1p/3p charger a write after a "
    "forgotten one is a start again (which phases the charger holds is not known), so a "
    "one-phase car that does not switch is learned as slowly as before d714826: 9.5, 10.8, 9.5, "
    "9.0 (d714826: 9.5, 9.0, capped at 8.5 A at 9 s)",
)
def test_a_one_phase_car_not_switching_is_learned_at_once() -> None:
    assert _first_write_to_a_one_phase_car_on_a_switchable_charger(0) == [9.5, 9.0]


def test_a_switch_pause_after_a_restart_is_no_full_car() -> None:
    """A fresh controller's first one-phase write to a one-phase car on a 1p/3p charger that
    held 3 phases: the switch's 20 s pause is no full car. Was (d714826: the write a change, by
    the car's phases): 9.5, 6.0, 9.5, 9.0, held at the 6 A minimum for 12 s; now as at
    d714826^ (a start): 9.5, 10.8, 9.5, 9.0, never below 9."""
    assert min(_first_write_to_a_one_phase_car_on_a_switchable_charger(20)) >= 9.0


# --- old gap, fixed ----------------------------------------------------------------------------
@pytest.mark.parametrize(("lag_s", "meter_period_s"), [(15.0, 10), (25.0, 30)])
async def test_a_slow_charger_in_steady_sun_is_not_written_a_staircase(
    lag_s: float, meter_period_s: int
) -> None:
    """A slow charger in Solar mode in steady sun is written once, as one following at once:
    a change waits for the meters to show the last write (``limiter._write_now``,
    ``ChargerResponse.last_write_shows_at``). Was (d714826^ and d714826): a raise 10 s after
    the start (the grid not showing it yet read as a smaller house load), then a staircase
    12, 11 ... 6 A a second: 91 / 90 writes in 10 min."""
    plant = await _slow_charger_in_steady_sun(Refusing(lag_s=lag_s), 600, meter_period_s)
    assert plant.writes("a") == [12.0]


# --- pins: limiter._starts --------------------------------------------------------------------
@pytest.mark.parametrize(("lag_s", "over_s"), [(15.0, 15), (25.0, 25)])
async def test_a_restart_while_a_slow_car_charges_does_not_hunt(lag_s: float, over_s: int) -> None:
    """Gain: Fast at 32 A on a 40 A fuse, Home Assistant restarts, the house takes 20 A: 7
    writes (32 as a change, 19.5, 7, 0, 12.5, 18.5, 19.5), the fuse over for the car's lag.
    Was (d714826^): 11 / 47 writes, 15 / 65 s over (the first write a start: 8 s settle)."""
    plant = Plant(Mode.FAST, 40.0, {"a": Refusing(lag_s=lag_s)}, meter_period_s=10)
    await plant.run(120, house_a=0.0)
    _restart_home_assistant(plant, Mode.FAST)
    plant.over_s = 0
    await plant.run(3, house_a=0.0)
    await plant.run(600, house_a=20.0)
    assert [amps for amps, _ in _writes_since(plant, "a", 121.0)] == [
        32.0,
        19.5,
        7.0,
        0.0,
        12.5,
        18.5,
        19.5,
    ]
    assert plant.over_s <= over_s


@pytest.mark.parametrize(("pv_w", "paused_at"), [(2000.0, 538.0), (4000.0, 586.0)])
async def test_a_restart_in_solar_mode_then_a_dip_stops_the_car_as_before(
    pv_w: float, paused_at: float
) -> None:
    """Held: the car charging on 9 kW when Home Assistant restarts, then a dip: 12 A (a change,
    was a start), 6 A, the pause at the same second as at d714826^ (132 / 180 s into the dip)."""
    plant = Plant(Mode.SOLAR, 40.0, {"a": Refusing()})
    await plant.run(400, house_a=1.0, pv_w=9000.0)
    _restart_home_assistant(plant, Mode.SOLAR)
    await plant.run(5, house_a=1.0, pv_w=9000.0)
    await plant.run(600, house_a=1.0, pv_w=pv_w)
    assert _writes_since(plant, "a", 401.0) == [(12.0, 401.0), (6.0, 406.0), (0.0, paused_at)]


@pytest.mark.parametrize("meter_period_s", [1, 10, 30])
async def test_a_start_refused_after_a_fuse_pause_is_written_again_at_once(
    meter_period_s: int,
) -> None:
    """Held: the fuse paused the car (25 A fuse, the house 22 A for 20 s), its meter's last
    sample may still show it drawing; the start is refused once and written again the next
    second, taken: 4 writes, over the fuse 1 s."""
    control = Refusing()
    plant = Plant(Mode.FAST, 25.0, {"a": control}, meter_period_s=meter_period_s)
    await plant.run(60, house_a=0.0)
    await plant.run(20, house_a=22.0)
    control.policy = "once"
    await plant.run(600, house_a=0.0)
    assert _writes_since(plant, "a", 0.0) == [(24.5, 1.0), (0.0, 61.0), (24.5, 81.0), (24.5, 82.0)]
    assert plant.over_s == 1


# --- pins: fuse._refusing --------------------------------------------------------
async def test_a_refusing_charger_that_accepts_again_leaves_the_other_alone() -> None:
    """Gain: a (one phase) refuses every limit for 150 s beside b (three phases) on a 32 A
    fuse, then takes them (house 10, 0, 15, 5 A): b 8 writes, paused once, the fuse over 5 s.
    Was (d714826^): b 60 writes, paused 11 times, the fuse over 38 s."""
    controls = {"a": Refusing(car_phases=1), "b": Refusing()}
    plant = Plant(Mode.FAST, 32.0, controls)
    await plant.run(60, house_a=0.0)
    controls["a"].policy = "all"
    await plant.run(150, house_a=10.0)
    controls["a"].policy = "none"
    for house_a in (0.0, 15.0, 5.0):
        await plant.run(150, house_a=house_a)
    assert len(plant.writes("b")) <= 10
    assert plant.writes("b").count(0.0) <= 1
    assert plant.over_s <= 5


@pytest.mark.parametrize("policy", ["all", "lower"])
async def test_two_chargers_refusing_every_limit_are_not_written_a_storm(policy: str) -> None:
    """Held: a (one phase) refuses every limit, b every limit or every lower (32 A fuse, house
    10, 0, 15, 5 A): 17 and 20 writes in 10 min (d714826^: 19, 21); the fuse over 450 s, what
    no limit can help where both refuse."""
    controls = {"a": Refusing(car_phases=1), "b": Refusing()}
    plant = Plant(Mode.FAST, 32.0, controls)
    await plant.run(60, house_a=0.0)
    controls["a"].policy = "all"
    controls["b"].policy = policy
    for house_a in (10.0, 0.0, 15.0, 5.0):
        await plant.run(150, house_a=house_a)
    assert len(plant.writes("a")) <= 20
    assert len(plant.writes("b")) <= 22


async def test_two_of_three_chargers_refusing_every_limit_the_third_makes_room() -> None:
    """Gain: a (one phase) and b refuse every limit beside c (32 A fuse, house 10, 0, 15, 5 A):
    the fuse over 153 s, c written 8 times. Was (d714826^): 300 s, c 10 times (c counted on
    room a and b would free)."""
    controls = {"a": Refusing(car_phases=1), "b": Refusing(), "c": Refusing()}
    plant = Plant(Mode.FAST, 32.0, controls)
    await plant.run(60, house_a=0.0)
    controls["a"].policy = controls["b"].policy = "all"
    for house_a in (10.0, 0.0, 15.0, 5.0):
        await plant.run(150, house_a=house_a)
    assert plant.over_s <= 160
    assert len(plant.writes("c")) <= 8
