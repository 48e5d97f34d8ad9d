"""Dips in the weather of the day: a deep dip is held for a restart only where the sun comes back
within one (``solar._restart_is_cheaper``, ``LONG_DIPS_JUDGED``).

An overcast sky takes the sun for many minutes at a time: a car held at its minimum through
each collapse, until the import reaches what a restart loses, imported that much again and
again for a restart it never saved (scenario suite, overcast days with a battery: with the sun
below half of the minimum, up to 13 Wh of grid for each Wh of sun the car took meanwhile).
"""

from __future__ import annotations

from custom_components.ocpp_ems.core.ems import (
    ChargerSettings,
    EnergyManager,
    Mode,
    SiteSettings,
    SolarSettings,
)

from .util import Loop

V = 230.0
MIN_3P = 6 * V * 3  # 4140 W
SUN_W = 6000.0
DEEP_W = 1000.0  # a dip in which the car's minimum imports 3140 W: more than the sun it gets
SHALLOW_W = 2500.0  # one in which it imports 1640 W: less than the sun it gets


def manager() -> EnergyManager:
    settings = SiteSettings(solar=SolarSettings(regulation_margin_w=0.0))
    return EnergyManager(settings, {"a": ChargerSettings(mode=Mode.SOLAR)})


class Weather:
    """Sun for ``sun_s``, then a dip to ``dip_w`` for ``dip_s``, over and over; ``last_dip_w``
    instead for the dip from ``last_from`` on."""

    def __init__(self, sun_s: float, dip_s: float, last_from: float, last_dip_w: float) -> None:
        self.sun_s, self.dip_s = sun_s, dip_s
        self.last_from, self.last_dip_w = last_from, last_dip_w

    def __call__(self, t: float) -> float:
        if (t % (self.sun_s + self.dip_s)) < self.sun_s:
            return SUN_W
        return self.last_dip_w if t >= self.last_from else DEEP_W


def held_in_dip(loop: Loop, dip_at: float, until: float) -> tuple[float, float]:
    """How long the car drew in the dip from ``dip_at`` on, and the grid energy (Wh) it took."""
    grid_wh = 0.0
    for t in range(int(dip_at), int(until)):
        loop.run(t, t)
        drawn = loop.draw("a")
        if drawn == 0.0:
            return t - dip_at, grid_wh
        grid_wh += max(0.0, drawn - loop.pv(t)) / 3600.0  # type: ignore[operator]
    return until - dip_at, grid_wh


def test_after_three_long_dips_a_deep_one_stops_after_the_meters_lag() -> None:
    """Sun for 5 minutes, then 10 minutes of thick cloud, four times: the first three dips are
    each held until their import reaches a restart's PV (at first 4140 W x 90 s = 103.5 Wh:
    about 2 minutes) and each outlasts a restart; the fourth stops once it outlasts the meters'
    lag, with a fraction of the grid energy."""
    loop = Loop(manager(), Weather(300.0, 600.0, 1e9, DEEP_W), house=0.0)
    loop.run(0, 299)
    held = []
    for dip_at in (300.0, 1200.0, 2100.0, 3000.0):
        held.append(held_in_dip(loop, dip_at, dip_at + 600.0))
        loop.run(dip_at + held[-1][0] + 1, dip_at + 899.0)
        assert loop.draw("a") > 0.0  # the sun came back: the car runs again
    for seconds, grid_wh in held[:3]:
        # A restart's PV falls as the car's start response is learned (instant here).
        assert 60.0 <= seconds <= 125.0
        assert 50.0 <= grid_wh <= 110.0
    seconds, grid_wh = held[3]
    assert seconds <= 10.0
    assert grid_wh <= held[2][1] / 5.0


def test_dips_that_end_within_a_restart_keep_the_deep_one_held() -> None:
    """Passing clouds: three dips of 50 s, each bridged (a restart would have lost more), then
    a long one: it is held until its import reaches a restart's PV, as before."""
    loop = Loop(manager(), Weather(250.0, 50.0, 900.0, DEEP_W), house=0.0)
    loop.run(0, 899)
    assert loop.draw("a") > 0.0  # every dip so far bridged
    loop.pv = lambda t: SUN_W if t < 900.0 else DEEP_W  # from 900 s on a long dip
    loop.run(900, 949)  # the first 50 s, as the others
    seconds, _ = held_in_dip(loop, 950.0, 1300.0)
    assert 55.0 <= seconds + 50.0 <= 125.0
    assert seconds + 50.0 > 12.0


def test_a_shallow_dip_is_held_for_the_stop_delay_in_long_dip_weather() -> None:
    """After three long deep dips, a dip in which the car still gets more sun than grid (it
    takes 2500 W of sun for 1640 W of grid) is held as before: until its import reaches a
    restart's PV (70 Wh with the response learned), within the 180 s stop delay."""
    loop = Loop(manager(), Weather(300.0, 600.0, 3000.0, SHALLOW_W), house=0.0)
    loop.run(0, 2999)
    seconds, _ = held_in_dip(loop, 3000.0, 3600.0)
    assert 100.0 <= seconds <= SolarSettings().disable_delay_s
