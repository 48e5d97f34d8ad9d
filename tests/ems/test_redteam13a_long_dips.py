"""Red team 13a on d8d217e (Solar: where a car's last 3 dips were long, a deep dip stops after
the meters' lag instead of being held until its import reaches a restart's PV).

A ``SlowLoop`` (the charger applies a write 2 s later, its meter reports every 10-60 s, the grid
every 2 s) with a 3.5 kW house: the sun gives the car 6.5 kW, a dip 1 kW (its 4140 W minimum
imports 3140 W: deep). A restart takes 70 s (60 s start delay, 10 s response): its PV at the
minimum is 80.5 Wh, which a held dip imports in 92 s.

Found at d8d217e:
- Fixed (``solar._note_dip_while_stopped``: the car seen stopped): right after a stop the
  charger's meter still showed the car drawing while the grid no longer did; the surplus counted
  the car twice, the sun seemed back and the dip was taken for a short one (the "8 s and 86 s"
  dips of overcast1). The rule turned itself off after its first stop: dips 4-7 of an overcast
  sky held [6, 94, 94, 94] s at d8d217e (parent: 94 s each), now [6, 12, 12, 12] (meter every
  30 s: [6, 120, 120, 120] -> [6, 6, 6, 6]).
- Fixed in part (``solar._hold_worth_s``): a dip counted long once it outlasted a restart (70 s),
  though holding it was cheaper up to 92 s: clouds of 75-90 s every 5 minutes after an overcast
  morning were stopped for again and again. 75 s clouds: parent 0 of 8 stopped for (grid 534 Wh,
  sun to the car 3289 Wh), d8d217e 2 of 8 (415 / 3030 Wh: the measurement above hid it in
  part), with the measurement fixed 8 of 8 (64 / 2366 Wh: 923 Wh of sun lost for 470 Wh of
  grid). A fix that counts a dip worth a stop only where held through it would have imported
  more than a restart's PV passes it, but loses d8d217e's gains on two-car days (red team
  report 13a). A dip now counts long once it outlasts a restart and the meters' lag (80 s: the
  shortest a hold is worth it, in a dip as deep as the car's minimum): 75 s clouds are held
  (1 of 8 stopped for, 473 / 3159 Wh); 90 s clouds still are stopped for (marked).
"""

from __future__ import annotations

import pytest

from custom_components.ocpp_ems.core.ems import (
    ChargerSettings,
    Decision,
    EnergyManager,
    Mode,
    SiteSettings,
    SolarSettings,
)

from .util import Loop, SlowLoop

HOUSE_W = 3500.0
SUN_W = 10000.0  # 6500 W to spare: the car runs above its minimum
DIP_W = 4500.0  # 1000 W to spare: its 4140 W minimum imports 3140 W, a deep dip


def manager(solar: SolarSettings | None = None) -> EnergyManager:
    settings = SiteSettings(solar=solar or SolarSettings(regulation_margin_w=0.0))
    return EnergyManager(settings, {"a": ChargerSettings(mode=Mode.SOLAR)})


def drawn_in_dip(loop: SlowLoop, dip_at: float, until: float) -> float:
    """How long the car drew in the dip from ``dip_at`` on (s)."""
    for t in range(int(dip_at), int(until)):
        loop.step(float(t))
        if loop.amps() == 0.0:
            return t - dip_at
    return until - dip_at


def overcast(loop: SlowLoop, dips: int, sun_s: float = 300.0, dip_s: float = 600.0) -> list[float]:
    """``dips`` dips of ``dip_s`` after ``sun_s`` of sun each: how long the car drew in each."""
    held = []
    t = 0.0
    for _ in range(dips):
        loop.run(t, t + sun_s - 1)
        held.append(drawn_in_dip(loop, t + sun_s, t + sun_s + dip_s))
        loop.run(t + sun_s + held[-1] + 1, t + sun_s + dip_s - 1)
        t += sun_s + dip_s
    return held


class Metered(SlowLoop):
    """A ``SlowLoop`` that also sums the sun the car took (Wh) and counts its starts."""

    sun_to_car_wh = 0.0
    starts = 0

    def step(self, t: float) -> Decision:
        was_paused = self.applied.paused
        decision = super().step(t)
        if was_paused and not self.applied.paused:
            self.starts += 1
        car_w = self.amps() * 3 * self.voltage
        sun_w = max(0.0, self.pv(t) - self.house(t))  # type: ignore[operator]
        self.sun_to_car_wh += min(car_w, sun_w) / 3600
        return decision


def overcast_sky(t: float) -> float:
    """5 minutes of sun, then a dip of 10 minutes, over and over."""
    return SUN_W if t % 900.0 < 300.0 else DIP_W


def weather(clouds_s: float) -> object:
    """Three dips of 10 minutes after 5 minutes of sun each (an overcast morning), then from
    2700 s on a cloud of ``clouds_s`` at the end of every 5 minutes."""

    def pv(t: float) -> float:
        if t < 2700.0:
            return overcast_sky(t)
        return DIP_W if (t - 2700.0) % 300.0 >= 300.0 - clouds_s else SUN_W

    return pv


def after_overcast(clouds_s: float, clouds: int = 8) -> tuple[Metered, list[float]]:
    """The overcast morning, then ``clouds`` clouds: the loop metered from the first cloud's
    5 minutes on, and how long the car drew in each cloud."""
    loop = Metered(manager(), weather(clouds_s), lambda _t: HOUSE_W, apply_s=2.0, meter_s=10.0)
    loop.run(0.0, 2699.0)
    loop.import_wh = loop.sun_to_car_wh = 0.0
    loop.starts = 0
    held = []
    for at in range(2700, 2700 + 300 * clouds, 300):
        cloud_at = at + 300.0 - clouds_s
        loop.run(float(at), cloud_at - 1.0)
        held.append(drawn_in_dip(loop, cloud_at, at + 300.0))
        loop.run(cloud_at + held[-1] + 1.0, at + 299.0)
    return loop, held


@pytest.mark.parametrize(("meter_s", "lag_s"), [(10.0, 15.0), (30.0, 15.0), (60.0, 30.0)])
def test_a_stop_in_an_overcast_sky_is_not_taken_for_a_short_dip(
    meter_s: float, lag_s: float
) -> None:
    """Seven dips of 10 minutes: the first three are held (until their import reaches a
    restart's PV), every later one stops after the meters' lag, also once the rule stopped the
    car and its meter showed it drawing beside a grid that no longer did (d8d217e: held again
    from the fifth on, [6, 94, 94, 94] s with a meter every 10 s; [6, 120, 120, 120] every 30 s,
    [26, 160, 160, 160] every 60 s)."""
    loop = SlowLoop(manager(), overcast_sky, lambda _t: HOUSE_W, apply_s=2.0, meter_s=meter_s)
    held = overcast(loop, 7)
    assert all(seconds >= 90.0 for seconds in held[:3])
    assert all(seconds <= lag_s for seconds in held[3:]), held


_STOPPED_FOR_AGAIN = pytest.mark.xfail(
    strict=True,
    reason="REGRESSION of d8d217e: a dip that outlasts a restart and the meters' lag (80 s) "
    "counts long, though in a dip this shallow (3140 W imported for a 4140 W minimum) a hold "
    "bridges it for less grid than a restart's PV up to 92 s and the lag. 90 s clouds: parent "
    "0 of 8 stopped for (638 / 3106 Wh), d8d217e 2 of 8 (497 / 2840 Wh), with the stopped car's "
    "dip measured once its meter shows the stop 8 of 8 (89 / 2158 Wh), still 8 of 8",
)


@pytest.mark.parametrize(
    "clouds_s",
    [
        30.0,
        60.0,
        75.0,
        pytest.param(90.0, marks=_STOPPED_FOR_AGAIN),
    ],
)
def test_clouds_a_hold_bridges_are_stopped_for_once(clouds_s: float) -> None:
    """After the overcast morning, clouds that a hold bridges for less grid than a restart's PV
    (up to 92 s): the first may stop the car (the rule still on, as it was), the others are
    held through (the parent: none stopped for)."""
    loop, held = after_overcast(clouds_s)
    assert sum(seconds < clouds_s for seconds in held) <= 1, held
    assert loop.starts <= 2  # after the morning's last dip, and after the first cloud


def test_clouds_past_a_restarts_worth_are_stopped_for_at_once() -> None:
    """Clouds of 2 minutes after the overcast morning: held, each would import more than a
    restart's PV (80.5 Wh in 92 s), and each stops the car after the meters' lag (d8d217e:
    held 94 s from the second on, the stop taken for a short dip: 518 Wh of grid for 1862 Wh
    of sun; the parent: 666 / 1910 Wh; now 89 / 1726 Wh)."""
    loop, held = after_overcast(120.0)
    assert all(seconds <= 15.0 for seconds in held), held
    assert loop.import_wh <= 150.0


def test_stop_early_in_dips_off_holds_every_dip_for_the_stop_delay() -> None:
    """ "Stop early in dips" off (no restart's PV to weigh): an overcast sky does not stop the
    car before the stop delay either."""
    solar = SolarSettings(regulation_margin_w=0.0, restart_cost_factor=0.0)
    loop = SlowLoop(manager(solar), overcast_sky, lambda _t: HOUSE_W, apply_s=2.0)
    held = overcast(loop, 5)
    delay_s = solar.disable_delay_s
    assert all(delay_s <= seconds <= delay_s + 5.0 for seconds in held), held


def test_two_cars_side_by_side_each_learn_the_overcast_sky() -> None:
    """Two cars side by side in an overcast sky (the sun carries both minimums, a dip 1 kW):
    only the last in line counts a dip down, so the other's dips begin once it stopped; each
    car's own history still turns the rule on, and from the fourth dip on both stop within
    the meters' lag (the parent: the first held 117 s, the second 35 s in every dip)."""
    sun_w, dip_w = 12000.0, 1000.0
    solar = SolarSettings(regulation_margin_w=0.0, stagger_starts=False)
    cars = {cid: ChargerSettings(mode=Mode.SOLAR) for cid in ("a", "b")}
    loop = Loop(
        EnergyManager(SiteSettings(solar=solar), cars),
        lambda t: sun_w if t % 900.0 < 300.0 else dip_w,
        house=0.0,
        chargers=("a", "b"),
    )
    held: dict[str, list[float]] = {"a": [], "b": []}
    drew = dict.fromkeys(held, 0.0)
    for t in range(900 * 6):
        loop.step(float(t))
        for cid, seconds in held.items():
            if t % 900 >= 300 and drew[cid] > 0.0 and loop.draw(cid) == 0.0:
                seconds.append(t % 900 - 300.0)
            drew[cid] = loop.draw(cid)
    assert all(len(seconds) == 6 for seconds in held.values()), held
    assert all(s >= 30.0 for seconds in held.values() for s in seconds[:3]), held
    assert all(s <= 5.0 for seconds in held.values() for s in seconds[3:]), held
