"""Each charger's response time is learned from its meter values and used (``response.py``)."""

from __future__ import annotations

import pytest

from custom_components.ocpp_ems.core.ems import (
    BatterySettings,
    ChargerSettings,
    EnergyManager,
    Mode,
    SiteSettings,
    SolarSettings,
)
from custom_components.ocpp_ems.core.ems.response import ChargerResponse

from .util import SlowLoop

SOLAR = SolarSettings()


def stepping_pv(t: float) -> float:
    """PV that moves by 1.5 kW every 90 s: enough writes to learn from."""
    return 6000.0 + (1500.0 if int(t // 90) % 2 else 0.0)


def solar_manager() -> EnergyManager:
    return EnergyManager(SiteSettings(), {"a": ChargerSettings(mode=Mode.SOLAR)})


def test_nothing_learned_yet_means_the_configured_times() -> None:
    response = ChargerResponse()
    assert response.late_s(SOLAR) == SOLAR.settle_s
    assert response.late_s(SOLAR, start=True) == SOLAR.start_settle_s
    assert response.early_s(SOLAR) == 0.0


def test_the_slowest_start_bounds_when_a_car_taking_nothing_is_full() -> None:
    response = ChargerResponse()
    assert response.slowest_start_s(SOLAR) == SOLAR.start_settle_s  # nothing seen
    response.load({"starts": [[2, 4], [3, 5]]}, SOLAR)
    assert response.slowest_start_s(SOLAR) == SOLAR.start_settle_s  # too few: the default
    response.load({"starts": [[2, 4], [3, 5], [2, 4], [40, 45]]}, SOLAR)
    # The slowest (a switch's pause), where the settle time is the usual one.
    assert response.slowest_start_s(SOLAR) == 45.0
    assert response.late_s(SOLAR, start=True) == 4.0
    response.load({"starts": [[2, 4], [3, 5], [2, 4], [80, 200]]}, SOLAR)
    assert response.slowest_start_s(SOLAR) == SOLAR.start_settle_max_s


def test_a_slow_chargers_response_is_learned_from_its_meter() -> None:
    # Applies a limit after 15 s, a start 20 s later still; meter values every 10 s.
    m = solar_manager()
    loop = SlowLoop(m, stepping_pv, lambda t: 300.0, apply_s=15.0, start_s=20.0)
    loop.run(0, 1800)
    response = m._memory["a"].response
    assert len(response.changes) >= 3
    # Bounds around the real 15 s, not the 8 s configured for an unknown charger.
    assert 8.0 < response.early_s(SOLAR) <= 15.0 <= response.late_s(SOLAR) < 25.0
    assert response.late_s(SOLAR, start=True) >= 35.0


def test_a_fast_chargers_settle_time_is_shorter_than_the_default() -> None:
    m = solar_manager()
    loop = SlowLoop(m, stepping_pv, lambda t: 300.0, apply_s=1.0, meter_s=2.0)
    loop.run(0, 1800)
    response = m._memory["a"].response
    assert len(response.changes) >= 3
    assert response.late_s(SOLAR) <= 3.0


def test_a_slow_charger_gets_one_write_per_change_once_learned() -> None:
    # A charger that applies a limit 15 s late: a raise it has not applied yet must not count as
    # drawn in the grid meter (the next one would add the same surplus again), nor a drop (the
    # controller would drop again at every grid reading): either way the car oscillates. With
    # its response learned (the first minutes), each PV step of 1.5 kW takes one write.
    m = solar_manager()
    loop = SlowLoop(m, stepping_pv, lambda t: 300.0, apply_s=15.0, start_s=20.0)
    loop.run(0, 899)
    written = len(loop.writes)
    loop.run(900, 1799)
    assert len(loop.writes) - written <= 10  # ten PV steps (the fixed 8 s: 70 writes)
    assert loop.amps() == pytest.approx((stepping_pv(1799) - 300.0) / 690.0, abs=0.1)


def test_battery_never_feeds_the_car_across_a_house_load_step() -> None:
    # A Fast car at 16 A from the grid, the battery covers the house (no discharge to the car).
    # The house steps from 300 W to 3 kW: the fuse lowers the car, which the charger applies
    # only 15 s later. Meanwhile the car still draws 16 A: counted at its new limit, the house's
    # deficit would include 2 kW of the car, and the battery's cap would let it through.
    site = SiteSettings(fuse_a=25.0, battery=BatterySettings(priority_soc=100.0))
    m = EnergyManager(site, {"a": ChargerSettings(mode=Mode.FAST)})

    def house(t: float) -> float:
        return 3000.0 if 600 <= t < 1200 else 300.0

    loop = SlowLoop(m, lambda t: 0.0, house, apply_s=15.0, start_s=5.0, battery_w=5000.0)
    loop.run(0, 1800)
    assert loop.battery_to_car_wh < 0.05
    assert min(w.current_a for _, w in loop.writes) < 16.0  # the fuse did lower the car
