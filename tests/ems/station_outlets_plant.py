"""A closed loop around the production driver and controller with a simulated
multi-outlet station whose limit (a charger-wide TxDefault profile) holds for EACH outlet.

Each second: every outlet's car follows the limit in force ``lag_s`` after it was taken (the real
limit rules: 0 < amps < min -> min, 0.1 A resolution); a hungry car draws the limit on its phases,
a full car nothing. The station reports each outlet's status the way OCPP 1.6 defines them
(``spec_evse``: a plugged car offered less than its minimum is SuspendedEVSE, whether full or not;
a full car offered current is SuspendedEV; a hungry one Charging) and the driver hears of each
change (``charger_changed``). The grid meter shows house + station - sun.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from custom_components.ocpp_ems.core.ems import Mode
from custom_components.ocpp_ems.core.ems.charger_config import EmsOptions
from custom_components.ocpp_ems.core.ems.config import SiteSettings
from custom_components.ocpp_ems.core.ems.driver import ChargerLink, EmsDriver, Timing
from custom_components.ocpp_ems.core.errors import CommandRejectedError, CommandTimeoutError
from custom_components.ocpp_ems.core.model import (
    Capabilities,
    Charger,
    ConnectorStatus,
    PhaseValues,
)
from custom_components.ocpp_ems.core.settings import ChargerSettings as QuirkSettings

from .test_driver import T0, Clock, Control
from .test_twin_station import card_session
from .util import car, site

V = 230.0


@dataclass
class StationControl(Control):
    """The station's current control: the real limit rules' clamp; ``outcomes``: what the next
    writes get ("ok", "refuse", "timeout"; empty: ok)."""

    clock: Clock | None = None
    lag_s: float = 3.0
    outcomes: list[str] = field(default_factory=list)
    taken: list[tuple[float, float]] = field(default_factory=list)

    async def set_limit(
        self, amps: float | None, *, phases: int | None = None, by_manager: bool = False
    ) -> None:
        assert self.clock is not None
        clamped = self.rules.clamp(amps) if amps is not None else self.rules.max_a
        self.calls.append(("set_limit", clamped, self.clock.t - T0, amps))
        outcome = self.outcomes.pop(0) if self.outcomes else "ok"
        if outcome == "refuse":
            raise CommandRejectedError("set_limit", "Rejected")
        self.limit.requested_a = clamped
        self.taken.append((self.clock.t + self.lag_s, clamped))
        if outcome == "timeout":  # (taken, but the answer never came)
            raise CommandTimeoutError("set_limit")

    def in_force(self, t: float) -> float:
        return max(((at, a) for at, a in self.taken if at <= t), default=(0.0, 0.0))[1]


@dataclass
class Outlet:
    state: str = "absent"  # absent, hungry, full
    phases: int = 3
    line: int = 1  # a one-phase car's line
    shown: ConnectorStatus | None = None  # a status the station reports whatever the car does


class Station:
    """Station ``a`` with ``outlets`` outlets on a ``fuse_a`` fuse, a decision a second."""

    def __init__(
        self,
        mode: Mode,
        fuse_a: float,
        outlets: int = 2,
        *,
        quirks: QuirkSettings | None = None,
        lag_s: float = 3.0,
        spec_evse: bool = True,
        view: dict[str, Any] | None = None,
    ) -> None:
        self.clock = Clock(T0)
        self.fuse_a = fuse_a
        self.spec_evse = spec_evse
        self.control = StationControl(quirks=quirks or QuirkSettings(), lag_s=lag_s)
        self.control.clock = self.clock
        self.driver = EmsDriver(
            SiteSettings(fuse_a=fuse_a), EmsOptions(), clock=self.clock, timing=lambda: Timing()
        )
        self.model = Charger(
            charger_id="a",
            connected=True,
            booted=True,
            capabilities=Capabilities(number_of_connectors=outlets),
        )
        self.outlets = {n: Outlet() for n in range(1, outlets + 1)}
        for n in self.outlets:
            self.model.connector(n).status = ConnectorStatus.AVAILABLE
        self.driver.charger_view("a").mode = mode
        for key, value in (view or {}).items():
            setattr(self.driver.charger_view("a"), key, value)
        self.driver.add_charger("a", ChargerLink(model=self.model, control=lambda: self.control))
        self.import_wh = self.export_wh = 0.0
        self.over_fuse_s = 0  # seconds a line is above the fuse
        self.over_max_s = 0  # seconds the station draws more than its installation maximum
        self.peak_station_a = 0.0
        self.changes = 0  # status changes the driver heard of

    # --- the cars -------------------------------------------------------------------------------
    def plug(self, outlet: int, state: str = "hungry", phases: int = 3, line: int = 1) -> None:
        o = self.outlets[outlet]
        o.state, o.phases, o.line = state, phases, line
        connector = self.model.connector(outlet)
        if state == "absent":
            connector.transaction = None
        elif connector.transaction is None:
            connector.transaction = card_session(outlet, f"tx-{outlet}-{int(self.clock.t)}")
        self._report(self.clock.t)

    def set_state(self, outlet: int, state: str) -> None:
        self.outlets[outlet].state = state
        self._report(self.clock.t)

    def _status(self, outlet: Outlet, limit: float) -> ConnectorStatus:
        if outlet.shown is not None:
            return outlet.shown
        if outlet.state == "absent":
            return ConnectorStatus.AVAILABLE
        if limit < self.control.rules.min_a:
            if self.spec_evse or outlet.state == "hungry":
                return ConnectorStatus.SUSPENDED_EVSE
            return ConnectorStatus.SUSPENDED_EV
        return (
            ConnectorStatus.CHARGING if outlet.state == "hungry" else ConnectorStatus.SUSPENDED_EV
        )

    def _report(self, t: float) -> None:
        limit = self.control.in_force(t)
        changed = False
        for n, outlet in self.outlets.items():
            status = self._status(outlet, limit)
            connector = self.model.connector(n)
            if connector.status is not status:
                connector.status = status
                changed = True
        if changed:
            self.changes += 1
            self.driver.charger_changed("a")

    def _meter(self, t: float) -> None:
        """Each outlet's meter shows what its car draws."""
        limit = self.control.in_force(t)
        for n, outlet in self.outlets.items():
            amps = limit if outlet.state == "hungry" and limit >= self.control.rules.min_a else 0.0
            lines = [amps] * 3 if outlet.phases == 3 else [0.0, 0.0, 0.0]
            if outlet.phases != 3:
                lines[outlet.line - 1] = amps
            self.model.connector(n).meter.current_a = PhaseValues(
                l1=lines[0], l2=lines[1], l3=lines[2]
            )

    def draw(self, t: float) -> tuple[float, float, float]:
        """The station's current on each line (each hungry outlet takes the limit in force)."""
        limit = self.control.in_force(t)
        lines = [0.0, 0.0, 0.0]
        if limit < self.control.rules.min_a:
            return (0.0, 0.0, 0.0)
        for outlet in self.outlets.values():
            if outlet.state != "hungry":
                continue
            if outlet.phases == 3:
                for k in range(3):
                    lines[k] += limit
            else:
                lines[outlet.line - 1] += limit
        return (lines[0], lines[1], lines[2])

    # --- the loop -------------------------------------------------------------------------------
    async def run(self, seconds: int, house_a: float = 0.0, pv_w: float = 0.0) -> None:
        for _ in range(seconds):
            await self.tick(house_a, pv_w)

    async def tick(self, house_a: float = 0.0, pv_w: float = 0.0) -> None:
        self.clock.t += 1.0
        t = self.clock.t
        self._report(t)
        station = self.draw(t)
        self._meter(t)
        lines = [house_a + amps for amps in station]
        grid_w = sum(lines) * V - pv_w
        self.import_wh += max(grid_w, 0.0) / 3600.0
        self.export_wh += max(-grid_w, 0.0) / 3600.0
        self.over_fuse_s += max(lines) > self.fuse_a + 1e-6
        self.over_max_s += max(station) > self.control.rules.max_a + 1e-6
        self.peak_station_a = max(self.peak_station_a, *station)
        phases = max((o.phases for o in self.outlets.values() if o.state == "hungry"), default=3)
        charger = car(
            t,
            power=sum(station) * V,
            currents=station,
            phases_in_use=phases if any(station) else None,
        )
        plugged = any(o.state != "absent" for o in self.outlets.values())
        charger = replace(charger, plugged=plugged)
        inputs = site(t, grid_w, {"a": charger}, grid_currents=tuple(lines), pv=pv_w)
        for cid, command in self.driver.step(inputs, t).writes.items():
            await self.driver.write(cid, command)

    def writes(self) -> list[float]:
        """Each per-outlet limit written (as clamped by the limit rules)."""
        return [call[1] for call in self.control.calls if call[0] == "set_limit"]

    def writes_between(self, t0: float, t1: float) -> int:
        return sum(1 for c in self.control.calls if c[0] == "set_limit" and t0 <= c[2] < t1)

    @property
    def elapsed(self) -> float:
        return self.clock.t - T0
