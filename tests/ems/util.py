"""Small builders for controller inputs, so each test states only what matters to it."""

from __future__ import annotations

import math

from custom_components.ocpp_ems.core.ems import (
    ChargerCommand,
    ChargerInputs,
    Decision,
    EnergyManager,
    PhaseReading,
    Reading,
    SiteInputs,
)
from custom_components.ocpp_ems.core.ems.discharge import DischargeEntity, discharge_value


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

    def amps(self, cid: str = "a") -> float:
        """The current the charger was last written (0: paused or never written)."""
        cmd = self.commands[cid]
        return 0.0 if cmd is None or cmd.paused else cmd.current_a

    def inputs(self, t: float, grid: float, ev: dict[str, float]) -> SiteInputs:
        """What the manager reads at ``t`` (``ev``: each car's draw); a test's loop adds more."""
        return site(t, grid, {cid: car(t, power=p) for cid, p in ev.items()})

    def step(self, t: float) -> Decision:
        ev = {cid: self.draw(cid) for cid in self.commands}
        grid = self.house + sum(ev.values()) - self.pv(t)  # type: ignore[operator]
        decision = self.manager.update(self.inputs(t, grid, ev), t)
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


class SunLoop(Loop):
    """The toy loop with no house load and the sun set as it runs: ``at`` one second, ``during``
    a stretch of them."""

    def __init__(self, manager: EnergyManager, chargers: tuple[str, ...] = ("a",)) -> None:
        self.sun_w = 0.0
        super().__init__(manager, lambda _t: self.sun_w, house=0.0, chargers=chargers)

    def at(self, t: float, sun_w: float) -> Decision:
        self.sun_w = sun_w
        return self.step(t)

    def during(self, t0: float, t1: float, sun_w: float) -> Decision:
        self.sun_w = sun_w
        return self.run(t0, t1)

    def paused_at(self, t0: float, t1: float, sun_w: float, cid: str = "a") -> float | None:
        """The first second from ``t0`` on at which car ``cid`` is paused (None: not by t1)."""
        for t in range(int(t0), int(t1) + 1):
            if self.at(float(t), sun_w).chargers[cid].target.paused:
                return float(t)
        return None


class SlowLoop:
    """A closed loop with a charger that is slow to follow and meters that report at intervals.

    A write is applied ``apply_s`` after it was decided (a start ``start_s`` later still); the car
    then draws exactly the limit. The grid meter reads every ``grid_s``, the charger's meter every
    ``meter_s`` (OCPP meter values: its currents). A home battery, if given a capacity, drives the
    grid to zero within the second, capped by the controller's discharge limit (rounded down to
    100 W like the driver writes it), and its meter reads every ``battery_s``. ``battery_to_car_wh``
    is what the battery gave beyond the house's own deficit: energy the car took from it. The
    limit reaches the inverter as the driver writes it (``discharge.discharge_value``).
    """

    def __init__(
        self,
        manager: EnergyManager,
        pv: object,
        house: object,
        *,
        apply_s: float,
        start_s: float = 0.0,
        meter_s: float = 10.0,
        grid_s: float = 2.0,
        battery_w: float = 0.0,
        battery_s: float = 5.0,
        voltage: float = 230.0,
    ) -> None:
        self.manager = manager
        self.pv, self.house = pv, house
        self.apply_s, self.start_s = apply_s, start_s
        self.meter_s, self.grid_s, self.battery_s = meter_s, grid_s, battery_s
        self.battery_max_w = battery_w
        self.voltage = voltage
        self.applied = ChargerCommand.pause(3)
        self.pending: list[tuple[float, ChargerCommand]] = []
        self.cap_w: float | None = None
        self.cap_written_at = -math.inf
        self.battery_now = 0.0
        self.grid_reading = (0.0, -1e9)
        self.battery_reading = (0.0, -1e9)
        self.charger_reading = (0.0, -1e9)
        self.import_wh = 0.0
        self.battery_to_car_wh = 0.0
        self.writes: list[tuple[float, ChargerCommand]] = []

    def amps(self) -> float:
        return 0.0 if self.applied.paused else self.applied.current_a

    def step(self, t: float) -> Decision:
        for due, command in list(self.pending):
            if due <= t:
                self.applied = command
                self.pending.remove((due, command))
        ev = self.amps() * 3 * self.voltage
        house, pv = self.house(t), self.pv(t)  # type: ignore[operator]
        deficit = max(0.0, house + ev - pv)
        if self.battery_max_w:
            cap = self.battery_max_w if self.cap_w is None else self.cap_w
            self.battery_now = min(deficit, cap, self.battery_max_w)
            self.battery_to_car_wh += max(0.0, self.battery_now - max(0.0, house - pv)) / 3600
        grid = house + ev - pv - self.battery_now
        self.import_wh += max(0.0, grid) / 3600
        if t - self.grid_reading[1] >= self.grid_s:
            self.grid_reading = (grid, t)
        if t - self.battery_reading[1] >= self.battery_s:
            self.battery_reading = (self.battery_now, t)
        if t - self.charger_reading[1] >= self.meter_s:
            self.charger_reading = (self.amps(), t)
        amps, at = self.charger_reading
        charger = ChargerInputs(
            plugged=True,
            charging=amps > 0.5,
            currents_a=PhaseReading((amps, amps, amps), at),
        )
        inputs = SiteInputs(
            grid_w=Reading(*self.grid_reading),
            pv_w=Reading(pv, t),
            battery_w=Reading(*self.battery_reading) if self.battery_max_w else None,
            battery_soc=Reading(90.0, t) if self.battery_max_w else None,
            chargers={"a": charger},
        )
        decision = self.manager.update(inputs, t)
        if self.battery_max_w:
            # As the driver gives it to the inverter: 100 W steps, raised at most every 10 s.
            value = discharge_value(
                decision.battery_discharge_limit_w,
                DischargeEntity(value=self.cap_w, low=0.0, high=self.battery_max_w),
                now=t,
                written_at=self.cap_written_at,
                interval_s=10.0,
            )
            if value is not None:
                self.cap_w, self.cap_written_at = value, t
        write = decision.chargers["a"].write
        if write is not None:
            delay = self.apply_s + (self.start_s if self.applied.paused else 0.0)
            self.pending.append((t + delay, write))
            self.writes.append((t, write))
        return decision

    def run(self, t0: float, t1: float) -> None:
        t = t0
        while t <= t1:
            self.step(t)
            t += 1.0
