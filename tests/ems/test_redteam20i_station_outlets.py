"""Red team 20i: a station with several outlets under the energy manager (``core/ems/outlets.py``,
the driver's division), in a closed loop a decision a second (``station_outlets_plant.py``: the
production driver and controller; each car follows a taken limit 3 s later; the station reports
its outlets' statuses as OCPP 1.6 defines them, its meter what each car draws). Each test failed
at e9703fd, with the numbers in its docstring; the strict xfails are gaps still open."""

from __future__ import annotations

import pytest

from custom_components.ocpp_ems.core.current_control import CurrentController
from custom_components.ocpp_ems.core.ems import Mode
from custom_components.ocpp_ems.core.model import (
    Capabilities,
    Charger,
    ChargingRateUnit,
    ConnectorStatus,
    PhaseValues,
)
from custom_components.ocpp_ems.core.settings import ChargerSettings
from custom_components.ocpp_ems.core.settings import ChargerSettings as QuirkSettings

from .station_outlets_plant import Station
from .test_twin_station import card_session


async def test_a_refused_halving_is_written_again() -> None:
    """Fast, 80 A main fuse, installation maximum 32 A: car 1 takes 32 A; car 2 starts within
    the write interval and the station refuses the halving once (busy with car 2's start). The
    refusal was forgiven by going back to the last taken write, 32 A for the station, which is
    the station's target again (2 x 16 A): nothing more was written, the station drew 64 A for
    300 s. Now a write divided among another number of cars is no write to go back to."""
    station = Station(Mode.FAST, 80.0, outlets=2)
    station.plug(1)
    await station.run(5)
    station.control.outcomes = ["refuse"]
    station.plug(2)
    await station.run(300)
    assert station.control.limit.requested_a == 16.0, station.control.calls
    assert station.over_max_s <= 10


async def test_after_a_cloud_the_hungry_car_starts_again() -> None:
    """Solar: car 1 charges alone at 8.1 A; car 2, full, is plugged in; a 10-minute cloud
    pauses the station, and 1.6 reports both cars SuspendedEVSE: the full car counted, the
    station needed two cars' minimum (8.3 kW) to start again and never did (2.83 kWh exported
    in 30 minutes of 6 kW sun). A car seen full in its session no longer counts at 0 A."""
    station = Station(Mode.SOLAR, 40.0, outlets=2, spec_evse=True)
    station.plug(1)
    await station.run(300, house_a=0.5, pv_w=6000.0)
    station.plug(2, state="full")
    await station.run(300, house_a=0.5, pv_w=6000.0)
    await station.run(600, house_a=0.5, pv_w=1000.0)
    assert station.writes()[-1] == 0.0  # (paused by the cloud)
    station.export_wh = 0.0
    await station.run(1800, house_a=0.5, pv_w=6000.0)
    assert station.writes()[-1] >= 6.0, station.writes()
    assert station.export_wh <= 200.0


async def _toggling(outlets: int, period_s: int) -> tuple[int, int]:
    """Fast, 25 A fuse, house 5 A; the last outlet's car toggles full / hungry every
    ``period_s`` for 10 minutes: (writes, seconds over the fuse)."""
    station = Station(Mode.FAST, 25.0, outlets=outlets)
    for outlet in range(1, outlets + 1):
        station.plug(outlet)
    await station.run(60, house_a=5.0)
    over, writes = station.over_fuse_s, len(station.writes())
    toggle = 0
    while station.elapsed < 660:
        station.set_state(outlets, "full" if toggle % 2 == 0 else "hungry")
        toggle += 1
        await station.run(period_s, house_a=5.0)
    return len(station.writes()) - writes, station.over_fuse_s - over


@pytest.mark.parametrize(("period_s", "factor"), [(2, 1.0), (10, 1.0), (60, 2.0)])
async def test_a_car_toggling_near_full_writes_as_on_its_own(period_s: int, factor: float) -> None:
    """Each change of the number of cars sharing the limit was written at once, past the write
    interval, and each resume took the whole limit until its half landed: every 2 s, 300 writes
    and 150 s over the fuse in 10 minutes; every 10 s, 60 and 90 s; every 60 s, 15 s over. Now a
    car that stops by itself counts on for a minute: no second above the fuse, and no more
    writes than the same car toggling on a station of its own (the controller holds a suspended
    car at its minimum, every write interval); at a minute's toggle, when the count changes
    too, at most twice as many (36 for 20)."""
    writes, over_s = await _toggling(2, period_s)
    alone, _ = await _toggling(1, period_s)
    assert over_s <= 5
    assert writes <= alone * factor


@pytest.mark.parametrize("fuse_a", [25.0, 80.0])
async def test_a_car_drawing_under_a_stale_status_is_counted(fuse_a: float) -> None:
    """Fast, house 5 A, both cars drawing, outlet 2 reported SuspendedEV throughout (a status
    that lags): not counted, it was the behaviour before stations were divided (25 A fuse: 93
    writes of 19.5 / 0 A, 138 s over; 80 A fuse: 64 A on a 32 A installation for 597 s). An
    outlet whose meter shows current counts."""
    station = Station(Mode.FAST, fuse_a, outlets=2)
    station.plug(1)
    station.plug(2)
    station.outlets[2].shown = ConnectorStatus.SUSPENDED_EV
    await station.run(600, house_a=5.0)
    assert station.over_fuse_s <= 10
    assert station.over_max_s <= 10


async def test_three_cars_above_the_installation_maximum_do_not_cycle_over_the_fuse() -> None:
    """3 cars on a 16 A installation (3 x 6 A = 18 A at their minimum), 20 A fuse, house 3 A:
    the controller counted the station at 16 A while it drew 18 A (the limit rules raise a
    5.3 A share to the 6 A minimum): over the fuse, paused, restarted, 93 writes and 138 s over
    in 10 minutes. Now it counts their minima (and relies on the station's installation-maximum
    profile to cap them)."""
    station = Station(Mode.FAST, 20.0, outlets=3, quirks=QuirkSettings(installation_max_a=16.0))
    for outlet in (1, 2, 3):
        station.plug(outlet)
    await station.run(600, house_a=3.0)
    assert station.over_fuse_s <= 10
    assert len(station.writes()) <= 10


def _charging(model: Charger, outlet: int, lines: tuple[float, float, float]) -> None:
    connector = model.connector(outlet)
    connector.status = ConnectorStatus.CHARGING
    connector.transaction = card_session(outlet)
    connector.meter.current_a = PhaseValues(l1=lines[0], l2=lines[1], l3=lines[2])


def test_a_one_phase_car_beside_a_three_phase_one_gets_no_more_than_the_amps_decided() -> None:
    """A station that takes limits in W only, a 3p car on one outlet and a 1p car on the other,
    10 A decided per outlet: the W limit (for each outlet) was converted over 3 phases, 6900 W,
    which the 1p car takes as 30 A on L1. Now over the fewest phases a car draws on."""
    model = Charger(
        charger_id="a",
        connected=True,
        booted=True,
        capabilities=Capabilities(
            number_of_connectors=2, rate_units=frozenset({ChargingRateUnit.WATT})
        ),
    )
    _charging(model, 1, (10.0, 10.0, 10.0))
    _charging(model, 2, (10.0, 0.0, 0.0))
    settings = ChargerSettings()
    control = CurrentController(model, lambda: settings, lambda: None)
    model.limit.requested_a = 10.0
    control._decided = True
    live = control._desired()
    assert live.unit is ChargingRateUnit.WATT
    assert live.value / settings.nominal_voltage_v <= 10.0 + 0.1, live


# --- gaps still open ----------------------------------------------------------------------------
@pytest.mark.xfail(
    strict=True,
    reason="a car plugged in full while the station holds its cars at 0 A is SuspendedEVSE as a "
    "hungry one is: it counts (starting at one car's minimum could put both cars over the fuse), "
    "so the hungry car needs two cars' minimum to start (2.83 kWh exported in 30 min of 6 kW)",
)
async def test_a_full_car_plugged_in_while_paused_does_not_keep_the_other_paused() -> None:
    station = Station(Mode.SOLAR, 40.0, outlets=2, spec_evse=True)
    station.plug(1)
    station.plug(2, state="full")
    await station.run(1800, house_a=0.5, pv_w=6000.0)
    assert max(station.writes()) >= 6.0


@pytest.mark.xfail(
    strict=True,
    reason="a 3p and a 1p car on one station: its currents summed line by line (2x, x, x) with 3 "
    "phases in use count 6x x 230 W where the cars take 4x x 230 W: held at the minimum, 492 Wh "
    "exported in 10 min of 9 kW sun (two 3p cars: 16.5 Wh)",
)
async def test_a_3p_and_a_1p_car_take_the_surplus() -> None:
    station = Station(Mode.SOLAR, 40.0, outlets=2)
    station.plug(1, phases=3)
    station.plug(2, phases=1)
    await station.run(120, house_a=0.5, pv_w=9000.0)
    station.export_wh = station.import_wh = 0.0
    await station.run(600, house_a=0.5, pv_w=9000.0)
    assert station.export_wh <= 100.0
