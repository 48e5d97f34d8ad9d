"""Plant model for the day benchmark: PV, house, battery, chargers, cars and meters (1 s steps).

- House load is split over the phases 40/35/25 % (real homes are unbalanced); PV and battery are
  three-phase and symmetric.
- Home battery: self-consumption inverter that drives the grid to zero with a 1 s lag, limited by
  power, SoC and (if it is given one) a discharge cap from the controller. What the cap keeps
  from the house's own deficit (``Plant.battery_held_w``) is recorded: the bounds need it.
- Charger: applies a written limit after ``charger_delay_s``; a start after a pause takes
  ``start_delay_s`` more; a 1p/3p switch pauses the car for ``switch_pause_s``.
- IEC 61851: a car does not charge on a limit below its minimum (``min_a``, 6 A): such a limit is
  a pause, and the start after it takes ``start_delay_s`` like any other.
- Car: follows the limit at ``ramp_a_per_s`` (starting at its minimum), tapers linearly above
  90 % SoC to 30 % of its power (it then draws less than 6 A on a limit of 6 A or more).
- Meters report at their own interval with Gaussian noise: grid every 2 s, PV and battery every 5 s,
  charger meter values every 10 s (OCPP MeterValues: the currents, and the energy register).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field

import numpy as np

V = 230.0
HOUSE_SPLIT = (0.40, 0.35, 0.25)

# Where the solar cars' grid import comes from, second by second (``Plant._grid_source``), in the
# order the rules are tried: a car above its minimum (the limit ran ahead of the sun: a write's
# lag, noise), a switchable car held at its 3-phase minimum where its 1-phase one would fit (the
# 1p/3p delay), and cars held at their minimums by how much of them the surplus covers.
REGULATION = "above the minimum (regulation)"
ONE_PHASE_WOULD_DO = "3p minimum where 1p would fit"
SUN_90 = "at the minimum, sun >= 90 %"
SHALLOW_DIP = "at the minimum, sun 50-90 %"
DEEP_DIP = "at the minimum, sun < 50 %"
GRID_SOURCES = (REGULATION, ONE_PHASE_WOULD_DO, SUN_90, SHALLOW_DIP, DEEP_DIP)
# A car within this of its minimum counts as held at it (the car's ramp, limit rounding).
AT_MINIMUM_A = 0.25


@dataclass
class BatteryModel:
    capacity_wh: float = 10000.0
    max_w: float = 5000.0
    efficiency: float = 0.95
    soc: float = 40.0
    power_w: float = 0.0  # + discharge

    def step(self, wanted_w: float, limit_w: float | None) -> float:
        power = max(-self.max_w, min(self.max_w, wanted_w))
        if limit_w is not None:
            power = min(power, max(0.0, limit_w))
        energy = self.soc / 100.0 * self.capacity_wh
        if power > 0:
            power = min(power, energy * self.efficiency * 3600.0)
            energy -= power / self.efficiency / 3600.0
        else:
            room = self.capacity_wh - energy
            power = max(power, -room / self.efficiency * 3600.0)
            energy -= power * self.efficiency / 3600.0
        self.soc = max(0.0, min(100.0, energy / self.capacity_wh * 100.0))
        self.power_w = power
        return power


@dataclass
class Command:
    current_a: float
    phases: int
    paused: bool


@dataclass
class Car:
    capacity_wh: float = 60000.0
    soc: float = 20.0
    max_a: float = 16.0
    efficiency: float = 0.9

    def max_current(self) -> float:
        if self.soc >= 100.0:
            return 0.0
        if self.soc > 90.0:
            return self.max_a * (1.0 - 0.7 * (self.soc - 90.0) / 10.0)
        return self.max_a


@dataclass
class ChargerModel:
    cid: str
    wired_phases: int
    line_1p: int
    car: Car
    charger_delay_s: float = 3.0
    start_delay_s: float = 5.0
    switch_pause_s: float = 10.0
    ramp_a_per_s: float = 5.0
    min_a: float = 6.0  # IEC 61851: the car does not charge on a lower limit
    applied: Command = field(default_factory=lambda: Command(0.0, 3, True))
    pending: list[tuple[float, Command]] = field(default_factory=list)
    current_a: float = 0.0
    hold_until: float = -1.0
    energy_wh: float = 0.0  # the charger's energy register (AC, what the car draws)
    writes: int = 0
    starts: int = 0
    switches: int = 0
    was_charging: bool = False

    def write(self, t: float, command: Command) -> None:
        self.writes += 1
        self.pending.append((t + self.charger_delay_s, command))

    @property
    def phases(self) -> int:
        return min(self.applied.phases, self.wired_phases)

    def off(self, command: Command) -> bool:
        """The car does not charge on this command: paused, or a limit below its minimum."""
        return command.paused or command.current_a < self.min_a

    def step(self, t: float) -> None:
        while self.pending and self.pending[0][0] <= t:
            _, command = self.pending.pop(0)
            old = self.applied
            if command.phases != old.phases and self.wired_phases == 3:
                self.switches += 1
                self.hold_until = t + self.switch_pause_s
                self.current_a = 0.0
            if self.off(old) and not self.off(command):
                self.hold_until = max(self.hold_until, t + self.start_delay_s)
            self.applied = command
        off = self.off(self.applied) or t < self.hold_until
        # Near full the car's own taper may hold it below the minimum (down to 0.5 A).
        limit = 0.0 if off else min(self.applied.current_a, self.car.max_current())
        if limit < 0.5:
            self.current_a = 0.0
        elif self.current_a < limit:
            # A start draws the minimum at once (never less than the rules allow).
            step = max(self.current_a + self.ramp_a_per_s, self.min_a)
            self.current_a = min(limit, step)
        else:
            self.current_a = limit
        charging = self.current_a > 0.5
        if charging and not self.was_charging:
            self.starts += 1
        self.was_charging = charging
        self.energy_wh += self.power_w() / 3600.0
        energy = self.power_w() / 3600.0 * self.car.efficiency
        self.car.soc = min(100.0, self.car.soc + energy / self.car.capacity_wh * 100.0)

    def power_w(self) -> float:
        return self.current_a * V * self.phases

    def line_currents(self) -> tuple[float, float, float]:
        if self.phases == 3:
            return (self.current_a, self.current_a, self.current_a)
        out = [0.0, 0.0, 0.0]
        out[self.line_1p - 1] = self.current_a
        return (out[0], out[1], out[2])


@dataclass
class Meter:
    """A value that is reported every ``interval_s`` with noise; ``at`` is the report time."""

    interval_s: float
    noise: float
    value: float = 0.0
    at: float = -math.inf
    fresh: bool = False

    def sample(self, t: float, true_value: float, rng: random.Random) -> None:
        self.fresh = t - self.at >= self.interval_s
        if self.fresh:
            self.value = true_value + rng.gauss(0.0, self.noise)
            self.at = t


@dataclass
class PhaseMeter:
    interval_s: float
    noise: float
    values: tuple[float, float, float] = (0.0, 0.0, 0.0)
    at: float = -math.inf

    def sample(self, t: float, true_values: tuple[float, float, float], rng: random.Random) -> bool:
        if t - self.at < self.interval_s:
            return False
        self.values = (
            true_values[0] + rng.gauss(0.0, self.noise),
            true_values[1] + rng.gauss(0.0, self.noise),
            true_values[2] + rng.gauss(0.0, self.noise),
        )
        self.at = t
        return True


@dataclass
class Flows:
    """Energy accounting (Wh) per solar-mode car and for the site."""

    pv_to_ev: float = 0.0
    grid_to_ev: float = 0.0
    battery_to_ev: float = 0.0
    export_takeable: float = 0.0
    export: float = 0.0
    seconds_over_fuse: int = 0
    battery_held_from_house: float = 0.0  # the house imported it: the discharge cap held it back
    grid_sources: dict[str, float] = field(default_factory=lambda: dict.fromkeys(GRID_SOURCES, 0.0))


class Plant:
    def __init__(
        self,
        *,
        pv: np.ndarray,
        house: np.ndarray,
        chargers: list[ChargerModel],
        battery: BatteryModel | None,
        fuse_a: float | None,
        solar_ids: set[str],
        seed: int = 1,
    ) -> None:
        self.pv_trace = pv
        self.house_trace = house
        self.chargers = chargers
        self.battery = battery
        self.fuse_a = fuse_a
        self.solar_ids = solar_ids
        self.rng = random.Random(seed)
        self.grid_w = 0.0
        self.grid_meter = Meter(2.0, 15.0)
        self.grid_phase_meter = PhaseMeter(2.0, 0.05)
        self.pv_meter = Meter(5.0, 10.0)
        self.battery_meter = Meter(5.0, 10.0)
        self.charger_meters = {c.cid: PhaseMeter(10.0, 0.05) for c in chargers}
        # The energy register comes with the same MeterValues as the currents (a counter: no noise).
        self.charger_registers = {c.cid: Meter(10.0, 0.0) for c in chargers}
        self.discharge_limit_w: float | None = None
        # Per second: what the discharge cap kept from the house's deficit of the second before
        # (W; the battery answers last second's grid), as much as the battery could have given.
        self.battery_held_w: list[float] = []
        self.flows = Flows()
        self.pv_w = 0.0
        self.house_w = 0.0
        self.phase_currents = (0.0, 0.0, 0.0)
        self.any_meter_update = False

    def _trace(self, trace: np.ndarray, t: float, interpolate: bool) -> float:
        minute = t / 60.0
        i = int(minute)
        if i >= len(trace) - 1:
            return float(trace[-1])
        if not interpolate:
            return float(trace[i])
        frac = minute - i
        return float(trace[i] * (1 - frac) + trace[i + 1] * frac)

    def step(self, t: float) -> None:
        pv = self._trace(self.pv_trace, t, interpolate=True)
        house = self._trace(self.house_trace, t, interpolate=False)
        for charger in self.chargers:
            charger.step(t)
        ev = sum(c.power_w() for c in self.chargers)
        net = house + ev - pv
        battery_w = 0.0
        if self.battery is not None:
            wanted = self.battery.power_w + self.grid_w  # drive last second's grid to zero
            battery_w = self.battery.step(wanted, self.discharge_limit_w)
            self._held(min(wanted, self.battery.max_w), battery_w)
        grid = net - battery_w
        self.grid_w, self.pv_w, self.house_w = grid, pv, house
        ev_lines = [0.0, 0.0, 0.0]
        for charger in self.chargers:
            for k, amps in enumerate(charger.line_currents()):
                ev_lines[k] += amps
        sym = (battery_w + pv) / 3.0 / V
        currents = tuple(house * HOUSE_SPLIT[k] / V + ev_lines[k] - sym for k in range(3))
        self.phase_currents = (currents[0], currents[1], currents[2])
        self._account(pv, house, battery_w, ev_lines)
        rng = self.rng
        self.grid_meter.sample(t, grid, rng)
        grid_fresh = self.grid_phase_meter.sample(t, self.phase_currents, rng)
        self.pv_meter.sample(t, pv, rng)
        self.battery_meter.sample(t, battery_w, rng)
        fresh = [
            self.charger_meters[c.cid].sample(t, c.line_currents(), rng) for c in self.chargers
        ]
        for charger, is_fresh in zip(self.chargers, fresh, strict=True):
            if is_fresh:
                register = self.charger_registers[charger.cid]
                register.value, register.at = charger.energy_wh, t
        self.any_meter_update = grid_fresh or any(fresh)

    def battery_held_series(self) -> np.ndarray | None:
        """``battery_held_w`` as the bounds take it (``DayInputs.battery_held_w``; None: no battery)."""
        return np.asarray(self.battery_held_w) if self.battery_held_w else None

    def _held(self, uncapped_w: float, battery_w: float) -> None:
        """Record what the discharge cap kept from the house: the house's deficit of the second
        before (as much as the battery gives at most), less what it gave. Errs high where the
        battery ran empty as well (a bound then only gets looser)."""
        held = 0.0
        if self.discharge_limit_w is not None and battery_w < uncapped_w:
            # ``pv_w`` and ``house_w`` still hold the second before.
            deficit = min(max(0.0, self.house_w - self.pv_w), uncapped_w)
            held = max(0.0, deficit - max(0.0, battery_w))
        self.battery_held_w.append(held)
        self.flows.battery_held_from_house += held / 3600.0

    def _account(self, pv: float, house: float, battery_w: float, ev_lines: list[float]) -> None:
        f = self.flows
        solar = [c for c in self.chargers if c.cid in self.solar_ids]
        others = sum(c.power_w() for c in self.chargers if c.cid not in self.solar_ids)
        ev = sum(c.power_w() for c in solar)
        # PV serves the house first, then the other (fast) cars, then the solar cars.
        pv_left = max(0.0, pv - house)
        pv_left = max(0.0, pv_left - others)
        pv_to_ev = min(pv_left, ev)
        pv_left -= pv_to_ev
        charge = max(0.0, -battery_w)
        export = max(0.0, pv_left - charge)
        house_deficit = max(0.0, house + others - max(0.0, pv - 0.0))
        discharge = max(0.0, battery_w)
        battery_to_house = min(discharge, house_deficit)
        ev_deficit = ev - pv_to_ev
        battery_to_ev = min(discharge - battery_to_house, ev_deficit)
        f.pv_to_ev += pv_to_ev / 3600.0
        f.battery_to_ev += battery_to_ev / 3600.0
        grid_to_ev = max(0.0, ev_deficit - battery_to_ev)
        f.grid_to_ev += grid_to_ev / 3600.0
        if grid_to_ev > 0.0:
            source = self._grid_source(solar, max(0.0, pv - house - others))
            f.grid_sources[source] += grid_to_ev / 3600.0
        f.export += export / 3600.0
        takeable = 0.0
        for charger in solar:
            room = charger.car.max_current() * V * charger.wired_phases - charger.power_w()
            min_w = 6.0 * V * (1 if charger.wired_phases == 1 or self._switchable(charger) else 3)
            if charger.car.max_current() > 0 and (charger.power_w() > 0 or export >= min_w):
                takeable += max(0.0, room)
        f.export_takeable += min(export, takeable) / 3600.0
        if self.fuse_a is not None:
            over = any(
                abs(self.phase_currents[k]) > self.fuse_a and ev_lines[k] > 0.0 for k in range(3)
            )
            f.seconds_over_fuse += int(over)

    def _grid_source(self, solar: list[ChargerModel], surplus_w: float) -> str:
        """Why the solar cars import in this second (``GRID_SOURCES``); ``surplus_w``: the PV
        left after the house and the other cars."""
        charging = [c for c in solar if c.current_a > 0.5]
        if any(c.current_a > c.min_a + AT_MINIMUM_A for c in charging):
            return REGULATION
        minimums_w = sum(c.min_a * V * c.phases for c in charging)
        for charger in charging:
            on_one_phase_w = minimums_w - charger.min_a * V * 2  # this car's minimum on 1p
            if charger.phases == 3 and self._switchable(charger) and surplus_w >= on_one_phase_w:
                return ONE_PHASE_WOULD_DO
        if surplus_w >= 0.9 * minimums_w:
            return SUN_90
        return SHALLOW_DIP if surplus_w >= 0.5 * minimums_w else DEEP_DIP

    switchable_ids: set[str] = set()

    def _switchable(self, charger: ChargerModel) -> bool:
        return charger.cid in self.switchable_ids
