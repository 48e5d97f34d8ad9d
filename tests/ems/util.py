"""Small builders for controller inputs, so each test states only what matters to it."""

from __future__ import annotations

from custom_components.ocpp_ems.core.ems import (
    ChargerCommand,
    ChargerInputs,
    Decision,
    EnergyManager,
    PhaseReading,
    Reading,
    SiteInputs,
)


def car(
    t: float,
    *,
    plugged: bool = True,
    power: float | None = 0.0,
    currents: tuple[float, float, float] | None = None,
    phases_in_use: int | None = None,
    soc: float | None = None,
    energy: float | None = None,
    connected: bool = True,
) -> ChargerInputs:
    return ChargerInputs(
        connected=connected,
        plugged=plugged,
        charging=bool(power),
        power_w=None if power is None else Reading(power, t),
        currents_a=None if currents is None else PhaseReading(currents, t),
        phases_in_use=phases_in_use,
        vehicle_soc=None if soc is None else Reading(soc, t),
        session_energy_wh=energy,
    )


def site(
    t: float,
    grid: float | None,
    chargers: dict[str, ChargerInputs] | None = None,
    *,
    battery: float | None = None,
    battery_soc: float | None = None,
    pv: float | None = None,
    pv_available: float | None = None,
    grid_currents: tuple[float, float, float] | None = None,
) -> SiteInputs:
    return SiteInputs(
        grid_w=None if grid is None else Reading(grid, t),
        battery_w=None if battery is None else Reading(battery, t),
        battery_soc=None if battery_soc is None else Reading(battery_soc, t),
        pv_w=None if pv is None else Reading(pv, t),
        pv_available_w=None if pv_available is None else Reading(pv_available, t),
        grid_currents_a=None if grid_currents is None else PhaseReading(grid_currents, t),
        chargers=chargers if chargers is not None else {"a": car(t)},
    )


def run(
    manager: EnergyManager, t0: float, t1: float, step: float, make: object
) -> list[tuple[float, Decision]]:
    """Call update every ``step`` s from t0 to t1 (inclusive) with inputs ``make(t)``."""
    out: list[tuple[float, Decision]] = []
    t = t0
    while t <= t1 + 1e-9:
        out.append((t, manager.update(make(t), t)))  # type: ignore[operator]
        t += step
    return out


class Loop:
    """A toy closed loop: cars draw exactly what was last written; grid = house + cars - PV."""

    def __init__(
        self,
        manager: EnergyManager,
        pv: object,
        *,
        house: float = 300.0,
        chargers: tuple[str, ...] = ("a",),
        voltage: float = 230.0,
    ) -> None:
        self.manager = manager
        self.pv = pv
        self.house = house
        self.voltage = voltage
        self.commands: dict[str, ChargerCommand | None] = dict.fromkeys(chargers)
        self.writes = 0

    def draw(self, cid: str) -> float:
        cmd = self.commands[cid]
        if cmd is None or cmd.paused:
            return 0.0
        return cmd.current_a * cmd.phases * self.voltage

    def phases(self, cid: str) -> int | None:
        cmd = self.commands[cid]
        return None if cmd is None else cmd.phases

    def step(self, t: float) -> Decision:
        ev = {cid: self.draw(cid) for cid in self.commands}
        grid = self.house + sum(ev.values()) - self.pv(t)  # type: ignore[operator]
        decision = self.manager.update(
            site(t, grid, {cid: car(t, power=p) for cid, p in ev.items()}), t
        )
        for cid, dec in decision.chargers.items():
            if dec.write is not None:
                self.commands[cid] = dec.write
                self.writes += 1
        return decision

    def run(self, t0: float, t1: float, step: float = 1.0) -> Decision:
        t = t0
        decision = self.step(t)
        while t + step <= t1 + 1e-9:
            t += step
            decision = self.step(t)
        return decision
