"""A station with two outlets whose limit holds for each of them (a TxDefault profile): with two
cars the station draws twice the limit written. The energy manager took the station for one car:
on a 25 A fuse in Fast mode it wrote 19.5 A, the line carried 44 A, and it cycled between 19.5 A
and a pause (138 s above the fuse in 10 minutes); in Solar mode it wrote the surplus for one car
and the second imported as much (1.7 kWh in 10 minutes of 11 kW sun). Now the controller decides
the station's current for the cars that share the limit (``outlets.py``; their
minimum and the installation maximum: ``charger_config.charger_settings``) and the driver writes
it divided among them.

Closed loops a decision a second (as red team 11b's ``Plant``): the production driver and
controller; both cars follow a taken limit 3 s later; the station's meter shows both."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from custom_components.ocpp_ems.core.ems import Mode
from custom_components.ocpp_ems.core.ems.charger_config import EmsOptions, charger_settings
from custom_components.ocpp_ems.core.ems.charger_view import ChargerView
from custom_components.ocpp_ems.core.ems.outlets import LEAVE_S, SharingOutlets
from custom_components.ocpp_ems.core.limits import LimitRules
from custom_components.ocpp_ems.core.model import (
    Capabilities,
    ConnectorStatus,
    PhaseValues,
    Transaction,
)
from custom_components.ocpp_ems.core.settings import ChargerSettings as QuirkSettings

from .test_redteam9c_refused_once import V
from .test_redteam11b_refused_fuse import Plant, Refusing
from .util import car, site


def card_session(outlet: int, transaction_id: str | None = None) -> Transaction:
    """A session on ``outlet`` begun with a card we accepted."""
    return Transaction(
        transaction_id=transaction_id or f"tx-{outlet}",
        connector_id=outlet,
        id_tag="tag",
        started_at=datetime(2026, 6, 1, tzinfo=UTC),
        meter_start_wh=0.0,
        meter_last_wh=0.0,
    )


class TwinStation(Plant):
    """One station ``a`` with two outlets; ``cars`` of them charging (each takes the limit)."""

    def __init__(self, mode: Mode, fuse_a: float, cars: int) -> None:
        super().__init__(mode, fuse_a, {"a": Refusing(lag_s=3.0)})
        self.model = self.driver._links["a"].model
        self.import_wh = self.export_wh = 0.0
        self.cars = 0
        self.plug_in(cars)

    def plug_in(self, cars: int) -> None:
        """``cars`` charge from now on (outlet 1 first); the driver hears of the change."""
        for outlet in range(1, 3):
            connector = self.model.connector(outlet)
            charging = outlet <= cars
            connector.status = ConnectorStatus.CHARGING if charging else ConnectorStatus.AVAILABLE
            connector.transaction = card_session(outlet) if charging else None
        self.cars = cars
        self.driver.charger_changed("a")

    async def run(self, seconds: int, house_a: float, pv_w: float = 0.0) -> None:
        control = self.controls["a"]
        for _ in range(seconds):
            self.clock.t += 1.0
            t = self.clock.t
            station = [self.cars * amps for amps in control.line_currents(control.draw_a(t))]
            lines = [house_a + amps for amps in station]
            grid_w = sum(lines) * V - pv_w
            self.import_wh += max(grid_w, 0.0) / 3600.0
            self.export_wh += max(-grid_w, 0.0) / 3600.0
            self.over_s += max(lines) > self.fuse_a
            charger = car(t, power=sum(station) * V, currents=tuple(station), phases_in_use=3)
            inputs = site(t, grid_w, {"a": charger}, grid_currents=tuple(lines), pv=pv_w)
            for cid, command in self.driver.step(inputs, t).writes.items():
                await self.driver.write(cid, command)


async def test_two_cars_share_the_fuse_without_going_over_it() -> None:
    """Fast, 25 A fuse, the house 5 A: each car gets 10 A (the station 20 A), the fuse is over
    only while the first limit lands (3 s), and nothing cycles."""
    plant = TwinStation(Mode.FAST, 25.0, cars=2)
    await plant.run(600, house_a=5.0)
    writes = plant.writes("a")
    assert writes[-1] == pytest.approx(10.0, abs=0.5)
    assert 0.0 not in writes
    assert len(writes) <= 4
    assert plant.over_s <= 4


async def test_two_cars_in_solar_mode_take_the_surplus_not_the_grid() -> None:
    """Solar, 11 kW of sun, the house 1 A a line: the two cars take the surplus between them
    (about 7.5 A each), with next to no import."""
    plant = TwinStation(Mode.SOLAR, 40.0, cars=2)
    await plant.run(120, house_a=1.0, pv_w=11000.0)
    plant.import_wh = plant.export_wh = 0.0
    await plant.run(600, house_a=1.0, pv_w=11000.0)
    assert plant.writes("a")[-1] == pytest.approx((11000.0 / V / 3 - 1.0) / 2, abs=0.6)
    assert plant.import_wh <= 20.0  # of about 1.8 kWh the cars take in these 10 minutes
    assert plant.export_wh <= 100.0


async def test_a_second_car_halves_the_limit_at_once() -> None:
    """One car at 19.5 A (25 A fuse, house 5 A); a second car starts: the limit is written
    divided at once, the fuse over only while the cars follow. Then the first car leaves: the
    one left gets the station's current again."""
    plant = TwinStation(Mode.FAST, 25.0, cars=1)
    await plant.run(60, house_a=5.0)
    assert plant.writes("a")[-1] == pytest.approx(20.0, abs=0.5)
    before = plant.over_s
    plant.plug_in(2)
    await plant.run(120, house_a=5.0)
    assert plant.writes("a")[-1] == pytest.approx(10.0, abs=0.5)
    assert plant.over_s - before <= 5
    plant.plug_in(1)
    await plant.run(60, house_a=5.0)
    assert plant.writes("a")[-1] == pytest.approx(20.0, abs=0.5)


def test_which_outlets_share_the_limit() -> None:
    """Cars that take the limit written, or soon will: charging, held at 0 A by the station, or
    plugged into a session begun with a card we accepted; not a full car (once it has been full
    for ``LEAVE_S``), nor a cable without a session, in a session without a card yet (a 2.x
    station's at plug-in) or with a card we refused (``outlets.py``)."""
    model = TwinStation(Mode.FAST, 25.0, cars=2).model
    sharing = SharingOutlets()
    assert sharing.count(model, 0.0) == 2
    for status, shares in (
        (ConnectorStatus.SUSPENDED_EVSE, 2),
        (ConnectorStatus.PREPARING, 2),  # (its session began)
        (ConnectorStatus.FINISHING, 1),
    ):
        model.connector(2).status = status
        assert sharing.count(model, 0.0) == shares, status
    model.connector(2).status = ConnectorStatus.PREPARING
    session = model.connector(2).transaction
    assert session is not None
    card, session.id_tag = session.id_tag, None  # a 2.x session opened at plug-in, no card yet
    assert sharing.count(model, 0.0) == 1
    session.id_tag = card  # the card comes
    assert sharing.count(model, 0.0) == 2
    session.authorized = False  # a card we refused: that session is stopped
    assert sharing.count(model, 0.0) == 1
    model.connector(2).transaction = None
    assert sharing.count(model, 0.0) == 1


def test_a_full_car_counts_on_for_a_while_then_not_even_held_at_0_a() -> None:
    """A car that stops taking current (SuspendedEV) counts on for ``LEAVE_S`` (it may resume
    at once), then not; held at 0 A with the other car (1.6 reports SuspendedEVSE for both) it
    still does not, until it charges again. An outlet whose meter shows current counts, whatever
    its status."""
    model = TwinStation(Mode.FAST, 25.0, cars=2).model
    sharing = SharingOutlets()
    full = model.connector(2)
    full.status = ConnectorStatus.SUSPENDED_EV
    assert sharing.count(model, 100.0) == 2
    assert sharing.next_change_at(100.0) == 100.0 + LEAVE_S
    assert sharing.count(model, 100.0 + LEAVE_S) == 1
    assert sharing.next_change_at(100.0 + LEAVE_S) is None
    full.status = ConnectorStatus.SUSPENDED_EVSE  # the station holds both at 0 A
    assert sharing.count(model, 200.0) == 1
    full.status = ConnectorStatus.CHARGING
    assert sharing.count(model, 210.0) == 2
    full.status = ConnectorStatus.SUSPENDED_EVSE  # held at 0 A, hungry
    assert sharing.count(model, 220.0) == 2
    full.status = ConnectorStatus.SUSPENDED_EV  # a status that lags: the car draws
    full.meter.current_a = PhaseValues(l1=9.5, l2=9.6, l3=9.4)
    assert sharing.count(model, 400.0) == 2


@pytest.mark.parametrize(
    ("outlets", "expected"),
    [(1, (6.0, 16.0, 0.1)), (2, (12.0, 25.0, 0.2)), (5, (30.0, 30.0, 0.5))],
)
def test_the_station_current_for_its_cars(
    outlets: int, expected: tuple[float, float, float]
) -> None:
    """The controller's settings of a station with ``outlets`` sharing its limit: each car's
    minimum, all of them within the installation maximum (25 A; each car at most 16 A here);
    steps that divide back into the outlet's. Five cars at 6 A need 30 A: they draw that at
    their minimum (each gets 6 A written: a share below it the limit rules raise), and the
    controller counts it so (it counted 25 A: on a tight fuse it paused and restarted them)."""
    rules = LimitRules(QuirkSettings(installation_max_a=25.0), Capabilities())
    view = ChargerView(max_current_a=16.0)
    settings = charger_settings(view, rules, EmsOptions(), now=0.0, zone=UTC, outlets=outlets)
    low, high, step = expected
    assert (settings.min_current_a, settings.max_current_a) == (low, high)
    assert settings.current_step_a == pytest.approx(step)
