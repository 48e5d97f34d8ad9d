"""A slot planned at the minimum is ranked now by the surplus measured now, not the forecast's.

A slot's forecast is its mean sun: under clouds that come and go, a minute in a cloud held at the
minimum is nearly all grid at the day's price, and a sunny minute the forecast did not see is
nearly all sun (``ems_plan``: cloudy dep 16:00 30 kWh, perfect forecast, +9.9 -> +4.2 % above the
optimum, which holds its minimum only in the sunny minutes).
"""

from __future__ import annotations

from dataclasses import replace

from custom_components.ocpp_ems.core.ems import (
    ChargerCommand,
    EnergySlot,
    PlanTarget,
    Reason,
)

from .test_plan import NIGHT, day_plan, planned
from .util import car, site

H = 3600.0
# 3 kWh an hour from 10:00 to 16:00: below a 3p car's 6 A minimum (4.14 kW) all day.
WEAK = tuple(EnergySlot(h * H, (h + 1) * H, 3000.0) for h in range(10, 16))


def test_a_cloud_now_moves_the_minimum_to_the_slots_the_sun_is_likely_in() -> None:
    # Noon, 16 kWh still to charge by 16:00 and the night is over: at the minimum with 3 kW of
    # sun a Wh costs 0.15, at full power 0.32. The minimum until 16:00 gives 15 kWh (at the
    # plan's 10 % margin): every slot is held at it, now too, the rest at full power.
    assert day_plan(16000, 12 * H, solar=WEAK).min_now
    # In a cloud now, the minimum is all grid at 0.32, no cheaper than the last quarter at full
    # power: the car waits and holds the minimum from the next quarter on.
    cloud = day_plan(16000, 12 * H, solar=WEAK, surplus_now_w=0.0)
    assert not cloud.min_now
    assert not cloud.charge_now
    assert cloud.starts_at == 12.25 * H


def test_sun_the_forecast_did_not_see_is_taken_at_the_minimum() -> None:
    # The forecast has no sun at noon (full power there is 0.32 a Wh, as at 15:00), but 3.5 kW
    # of surplus is measured: at the minimum that is 0.12 a Wh, the plan's cheapest now.
    dark_noon = tuple(slot for slot in WEAK if slot.start != 12 * H)
    assert not day_plan(10000, 12 * H, solar=dark_noon).min_now
    assert day_plan(10000, 12 * H, solar=dark_noon, surplus_now_w=3500.0).min_now


def test_controller_waits_out_a_cloud_in_a_slot_planned_at_the_minimum() -> None:
    t = 12 * H
    plan = PlanTarget(departure=16 * H, energy_wh=10000)
    # The forecast's 3 kW less the 0.5 kW house load is likely everywhere (2.5 kW, 0.18 a Wh
    # at the minimum); 3.5 kW of surplus measured now makes now the cheapest (0.12).
    sunny = site(t, -3500.0, {"a": car(t, energy=0)}, pv=4000.0)
    cloudy = site(t, 300.0, {"a": car(t, energy=0)}, pv=200.0)  # 0.2 kW of PV in a cloud
    decisions = {}
    for name, inputs in (("sun", sunny), ("cloud", cloudy)):
        at_noon = replace(inputs, prices=NIGHT, solar_forecast=WEAK)
        decisions[name] = planned(plan).update(at_noon, t).chargers["a"]
    # In the sun: the minimum now, the grid adding what the sun lacks.
    assert decisions["sun"].reason is Reason.PLANNED_SLOT
    assert decisions["sun"].target == ChargerCommand(current_a=6.0, phases=3)
    # In the cloud: no grid at the day's price now, the car waits for the sun.
    assert decisions["cloud"].reason is Reason.PLAN_WAITING
    assert decisions["cloud"].target == ChargerCommand(current_a=0.0, phases=3, paused=True)
