"""Solar mode with the car's SoC and a forecast: no grid in the dips when the sun fills the car."""

from __future__ import annotations

from dataclasses import replace

import pytest

from custom_components.ocpp_ems.core.ems import (
    ChargerCommand,
    ChargerSettings,
    EnergyManager,
    EnergySlot,
    Mode,
    Reason,
    SiteInputs,
    SiteSettings,
    SolarSettings,
)
from custom_components.ocpp_ems.core.ems.sun_ahead import HORIZON_S, SPARE_SUN_RESTART_S

from .util import SunLoop, car, site

H = 3600.0
T0 = 10 * H
SETTLE_S = SolarSettings().settle_s
# 8 kWh an hour from 10:00 to 15:00: 40 kWh ahead at 10:00 (28 kWh counted at 70 % confidence,
# less the 500 W house).
SUNNY = tuple(EnergySlot(h * H, (h + 1) * H, 8000.0) for h in range(10, 15))
SMALL_CAR = 10_000.0  # Wh: 20 % to go is 2.2 kWh at the wall
BIG_CAR = 60_000.0  # 80 % to go: 53 kWh, more than the sun ahead


def manager(**cars: float | None) -> EnergyManager:
    """Solar-mode chargers named by their car's capacity (None: not configured)."""
    return EnergyManager(
        SiteSettings(),
        {
            cid: ChargerSettings(mode=Mode.SOLAR, vehicle_capacity_wh=capacity)
            for cid, capacity in cars.items()
        },
    )


class Day(SunLoop):
    """Solar cars with their SoCs, the forecast, and an idle home battery at ``battery_soc``
    (None: none)."""

    def __init__(
        self,
        m: EnergyManager,
        socs: dict[str, float],
        forecast: tuple[EnergySlot, ...],
        battery_soc: float | None = None,
    ):
        super().__init__(m, chargers=tuple(socs))
        self.socs, self.forecast, self.battery_soc = socs, forecast, battery_soc

    def inputs(self, t: float, grid: float, ev: dict[str, float]) -> SiteInputs:
        chargers = {cid: car(t, power=w, soc=self.socs[cid]) for cid, w in ev.items()}
        battery = None if self.battery_soc is None else 0.0
        return replace(
            site(t, grid, chargers, battery=battery, battery_soc=self.battery_soc),
            solar_forecast=self.forecast,
        )


def test_a_car_the_sun_fills_anyway_stops_at_once_in_a_dip() -> None:
    day = Day(manager(a=SMALL_CAR), {"a": 80.0}, SUNNY)
    day.during(T0, T0 + 100, 6000.0)
    assert day.amps("a") > 6.0
    # A cloud: 1 kW of sun. The minimum would take 3 kW of grid: stop once the dip outlasts
    # the meters' lag after a write (the 8 s settle time), not the ~2 minutes of a restart's PV.
    d = day.at(T0 + 101, 1000.0)
    assert d.chargers["a"].reason is Reason.STOPPING
    assert d.chargers["a"].until == T0 + 101 + SETTLE_S
    assert day.paused_at(T0 + 102, T0 + 400, 1000.0) == T0 + 101 + SETTLE_S


def test_the_restart_waits_longer_with_sun_to_spare() -> None:
    day = Day(manager(a=SMALL_CAR), {"a": 80.0}, SUNNY)
    day.during(T0, T0 + 100, 6000.0)
    stopped = day.paused_at(T0 + 101, T0 + 400, 1000.0)
    assert stopped is not None
    # The sun is back: the car restarts once it has carried it for 5 minutes, not 1.
    d = day.during(stopped + 1, stopped + 200, 6000.0)
    assert d.chargers["a"].target.paused
    assert d.chargers["a"].reason is Reason.STARTING
    assert d.chargers["a"].until == stopped + 1 + SPARE_SUN_RESTART_S
    d = day.during(stopped + 201, stopped + 1 + SPARE_SUN_RESTART_S + 20, 6000.0)
    assert not d.chargers["a"].target.paused


def dip_stop_after(
    m: EnergyManager,
    socs: dict[str, float],
    forecast: tuple[EnergySlot, ...],
    sun_w: float = 6000.0,
    cid: str = "a",
    battery_soc: float | None = None,
    dip_w: float = 1000.0,
) -> float:
    """Seconds from a dip's start (``dip_w`` of sun after ``sun_w``) to the stop of car ``cid``."""
    day = Day(m, socs, forecast, battery_soc)
    day.during(T0, T0 + 600, sun_w)
    assert all(day.amps(cid) > 6.0 for cid in day.commands)
    stopped = day.paused_at(T0 + 601, T0 + 900, dip_w, cid)
    assert stopped is not None
    return stopped - (T0 + 601)


def test_the_dip_is_held_where_the_sun_does_not_fill_the_car() -> None:
    with_sun = dip_stop_after(manager(a=SMALL_CAR), {"a": 80.0}, SUNNY)
    assert with_sun == SETTLE_S
    # The same dip held as without a forecast: until its grid energy reaches a restart's PV.
    held = dip_stop_after(manager(a=SMALL_CAR), {"a": 80.0}, ())
    assert held > 60.0
    # Not when the car needs more than the sun ahead...
    assert dip_stop_after(manager(a=BIG_CAR), {"a": 20.0}, SUNNY) == held
    # ...nor when its capacity is not configured (its need is unknown)...
    assert dip_stop_after(manager(a=None), {"a": 80.0}, SUNNY) == held
    # ...nor with the sun only beyond the horizon (tomorrow's).
    tomorrow = tuple(replace(s, start=s.start + HORIZON_S, end=s.end + HORIZON_S) for s in SUNNY)
    assert dip_stop_after(manager(a=SMALL_CAR), {"a": 80.0}, tomorrow) == held


def test_every_car_taking_the_sun_must_be_filled_by_it() -> None:
    # Two cars the sun fills: in a dip the last one started stops at once.
    both = manager(a=SMALL_CAR, b=SMALL_CAR)
    socs = {"a": 80.0, "b": 80.0}
    assert dip_stop_after(both, socs, SUNNY, sun_w=16000.0, cid="b") == SETTLE_S
    # Beside a car of unknown need the sun is not known to be to spare for either.
    unknown = manager(a=SMALL_CAR, b=None)
    held = dip_stop_after(manager(a=SMALL_CAR, b=SMALL_CAR), socs, (), sun_w=16000.0, cid="b")
    assert held > 4 * SETTLE_S
    assert dip_stop_after(unknown, socs, SUNNY, sun_w=16000.0, cid="b") == held


def test_not_while_a_home_battery_takes_the_sun_first() -> None:
    socs = {"a": 80.0}
    held = dip_stop_after(manager(a=SMALL_CAR), socs, (), battery_soc=50.0)
    assert held > 4 * SETTLE_S
    # Below its priority SoC the battery takes an unknown share of the sun first.
    assert dip_stop_after(manager(a=SMALL_CAR), socs, SUNNY, battery_soc=50.0) == held
    # At its priority SoC (100 % by default) the car comes first: the sun is to spare again.
    assert dip_stop_after(manager(a=SMALL_CAR), socs, SUNNY, battery_soc=100.0) == SETTLE_S


def test_not_beside_a_car_charging_in_full() -> None:
    def with_fast_car() -> EnergyManager:
        return EnergyManager(
            SiteSettings(),
            {
                "a": ChargerSettings(mode=Mode.SOLAR, vehicle_capacity_wh=SMALL_CAR),
                "f": ChargerSettings(mode=Mode.FAST),
            },
        )

    socs = {"a": 80.0, "f": 50.0}
    # A dip of 2 kW below both cars' draw: held until a restart's PV in grid energy.
    held = dip_stop_after(with_fast_car(), socs, (), sun_w=20000.0, dip_w=13000.0)
    assert held > 4 * SETTLE_S
    # The Fast car takes the sun first, however much the forecast promises.
    assert dip_stop_after(with_fast_car(), socs, SUNNY, sun_w=20000.0, dip_w=13000.0) == held


HUGE_CAR = 100_000.0  # Wh: 80 % to go is 89 kWh at the wall, more than twice the sun ahead


@pytest.mark.parametrize(
    ("capacity", "hands_over"), [(SMALL_CAR, True), (None, True), (HUGE_CAR, False)]
)
def test_a_car_the_sun_will_not_fill_keeps_it_instead_of_handing_over(
    capacity: float | None, hands_over: bool
) -> None:
    """One after another, the 1p/3p car "a" has the sun and the 3-phase car "b" waits; once the
    surplus has carried "b" for an hour, "a" hands over, to keep room for the evening's sun that
    only it can take on 1 phase (``test_solar``). A car the sun ahead will not fill (89 kWh to go,
    37.5 kWh of sun ahead as the forecast usually turns out) has no room to keep: it keeps the
    sun, and the hand-over's start is saved. With its need unknown (no capacity) it hands over,
    as without a forecast."""
    m = EnergyManager(
        SiteSettings(solar=SolarSettings(regulation_margin_w=0.0)),
        {
            "a": ChargerSettings(
                mode=Mode.SOLAR, can_switch_phases=True, vehicle_capacity_wh=capacity
            ),
            "b": ChargerSettings(mode=Mode.SOLAR, vehicle_capacity_wh=BIG_CAR),
        },
    )
    day = Day(m, {"a": 20.0, "b": 20.0}, SUNNY)
    day.during(T0, T0 + 600, 3000.0)
    assert day.draw("a") > 0  # 3 kW: only "a" can take it (on 1 phase)
    d = day.during(T0 + 601, T0 + 601 + 3600 + 60, 6000.0)
    if hands_over:
        assert day.commands["a"] == ChargerCommand.pause(3)
        assert day.draw("b") > 0
        assert d.chargers["a"].reason is Reason.OTHER_CAR
    else:
        assert day.draw("a") == pytest.approx(6000.0, abs=690.0)
        assert day.commands["b"] == ChargerCommand.pause(3)
        assert d.chargers["b"].reason is Reason.OTHER_CAR
