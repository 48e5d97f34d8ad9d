"""The controllers under test, each driving the plant through the same meters and charger writes.

- ``Ours``: the real ``EnergyManager`` from custom_components/ocpp_ems/core/ems, called on every
  meter update (event driven) and at its ``next_update_at``.
- ``Reference``: the evcc-style controller re-implemented from docs/ems-reference.md with its
  defaults (30 s loop, one charger per tick round robin, effective current + 2 A, 1 min enable /
  3 min disable, 1p/3p 3 min down / 1 min up with 60 s settle, first-come load management).
- ``Naive``: a typical automation: every 60 s, current = surplus / 230 / phases, whole amps.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from custom_components.ocpp_ems.core.ems import (
    BatterySettings,
    ChargerInputs,
    ChargerSettings,
    EnergyManager,
    Mode,
    PhaseReading,
    Reading,
    SiteInputs,
    SiteSettings,
    SolarSettings,
)

from .plant import ChargerModel, Command, Plant, V


@dataclass
class CarSpec:
    cid: str
    mode: Mode
    wired_phases: int
    switchable: bool
    line_1p: int = 1


class Ours:
    name = "ours"

    def __init__(
        self,
        specs: list[CarSpec],
        fuse_a: float | None,
        battery: BatterySettings | None,
        honour_discharge_limit: bool = True,
        solar: SolarSettings | None = None,
    ) -> None:
        site = SiteSettings(
            fuse_a=fuse_a, battery=battery or BatterySettings(), solar=solar or SolarSettings()
        )
        self.manager = EnergyManager(
            site,
            {
                s.cid: ChargerSettings(
                    mode=s.mode,
                    phases=s.wired_phases,
                    can_switch_phases=s.switchable,
                    line_1p=s.line_1p,
                )
                for s in specs
            },
        )
        self.has_battery = battery is not None
        self.honour = honour_discharge_limit
        self.next_at = 0.0

    def step(self, t: float, plant: Plant) -> None:
        if not plant.any_meter_update and t < self.next_at:
            return
        chargers = {}
        for charger in plant.chargers:
            meter = plant.charger_meters[charger.cid]
            chargers[charger.cid] = ChargerInputs(
                plugged=True,
                charging=max(meter.values) > 0.5,
                currents_a=PhaseReading(meter.values, meter.at),
            )
        battery = plant.battery
        inputs = SiteInputs(
            grid_w=Reading(plant.grid_meter.value, plant.grid_meter.at),
            grid_currents_a=PhaseReading(plant.grid_phase_meter.values, plant.grid_phase_meter.at),
            pv_w=Reading(plant.pv_meter.value, plant.pv_meter.at),
            battery_w=(
                Reading(plant.battery_meter.value, plant.battery_meter.at) if battery else None
            ),
            battery_soc=Reading(battery.soc, plant.battery_meter.at) if battery else None,
            chargers=chargers,
        )
        decision = self.manager.update(inputs, t)
        for charger in plant.chargers:
            write = decision.chargers[charger.cid].write
            if write is not None:
                charger.write(t, Command(write.current_a, write.phases, write.paused))
        if self.honour:
            plant.discharge_limit_w = decision.battery_discharge_limit_w
        self.next_at = decision.next_update_at if decision.next_update_at else math.inf


@dataclass
class _RefState:
    enabled: bool = False
    started_once: bool = False
    phases: int = 3
    enable_since: float | None = None
    disable_since: float | None = None
    down_since: float | None = None
    up_since: float | None = None
    last_switch: float = -math.inf
    limit: Command = field(default_factory=lambda: Command(0.0, 3, True))
    written: bool = False


class Reference:
    """evcc-style solar charging as documented (see module doc)."""

    name = "reference"
    interval_s = 30.0
    min_a = 6.0
    max_a = 16.0

    def __init__(self, specs: list[CarSpec], fuse_a: float | None, priority_soc: float | None):
        self.specs = specs
        self.fuse_a = fuse_a
        self.priority_soc = priority_soc
        self.states = {s.cid: _RefState(phases=s.wired_phases) for s in specs}
        self.tick = 0
        self.next_at = 0.0

    def _site_power(self, plant: Plant) -> float:
        site = plant.grid_meter.value
        if plant.battery is not None:
            battery = plant.battery_meter.value
            below = self.priority_soc is not None and plant.battery.soc < self.priority_soc
            site += max(battery, 0.0) if below else battery
        return site

    def step(self, t: float, plant: Plant) -> None:
        if t < self.next_at:
            return
        self.next_at = t + self.interval_s
        spec = self.specs[self.tick % len(self.specs)]
        self.tick += 1
        charger = next(c for c in plant.chargers if c.cid == spec.cid)
        state = self.states[spec.cid]
        if spec.mode is Mode.FAST:
            self._write(t, charger, state, Command(self.max_a, spec.wired_phases, False), plant)
            return
        site = self._site_power(plant)
        measured = plant.charger_meters[spec.cid].values
        charging = max(measured) > 0.5
        offered = state.limit.current_a if not state.limit.paused else 0.0
        effective = min(max(measured) + 2.0, offered) if charging else 0.0
        phases = state.phases
        target = effective + (-site) / (phases * V)
        target = math.floor(target * 10.0) / 10.0
        available_w = effective * phases * V - site
        if spec.switchable and state.enabled:
            phases = self._switch_phases(t, state, available_w)
            if phases != state.phases:
                state.phases = phases
                state.last_switch = t
                target = max(self.min_a, min(self.max_a, math.floor(available_w / V / phases)))
                self._write(t, charger, state, Command(target, phases, False), plant)
                return
        if not state.enabled:
            if spec.switchable:
                state.phases = 3 if available_w >= 4140.0 else 1
                phases = state.phases
                target = math.floor((-site) / (phases * V) * 10.0) / 10.0
            ok = target >= self.min_a
            state.enable_since = (state.enable_since or t) if ok else None
            delay = 0.0 if not state.started_once else 60.0
            if ok and t - (state.enable_since or t) >= delay:
                state.enabled = True
                state.started_once = True
                state.disable_since = None
                amps = min(self.max_a, target)
                self._write(t, charger, state, Command(amps, phases, False), plant)
            elif not state.written:
                self._write(t, charger, state, Command(0.0, phases, True), plant)
            return
        if target < self.min_a:
            state.disable_since = state.disable_since if state.disable_since is not None else t
            if t - state.disable_since >= 180.0:
                state.enabled = False
                state.enable_since = None
                self._write(t, charger, state, Command(0.0, phases, True), plant)
                return
            target = self.min_a
        else:
            state.disable_since = None
        amps = min(self.max_a, max(self.min_a, target))
        self._write(t, charger, state, Command(amps, phases, False), plant)

    def _switch_phases(self, t: float, state: _RefState, available_w: float) -> int:
        if t - state.last_switch < 60.0:
            return state.phases
        if state.phases == 3:
            state.down_since = (state.down_since or t) if available_w < 4140.0 else None
            if state.down_since is not None and t - state.down_since >= 180.0:
                state.down_since = None
                return 1
        else:
            up_w = max(self.max_a * V, 4140.0)
            state.up_since = (state.up_since or t) if available_w > up_w else None
            if state.up_since is not None and t - state.up_since >= 60.0:
                state.up_since = None
                return 3
        return state.phases

    def _write(
        self, t: float, charger: ChargerModel, state: _RefState, command: Command, plant: Plant
    ) -> None:
        if self.fuse_a is not None and not command.paused:
            # Load management caps only increases, against the remaining headroom.
            silent = t - plant.grid_phase_meter.at > 60.0
            worst = self.fuse_a if silent else max(plant.grid_phase_meter.values)
            headroom = self.fuse_a - worst
            old = 0.0 if state.limit.paused else state.limit.current_a
            if command.current_a > old + headroom:
                capped = math.floor((old + max(0.0, headroom)) * 10.0) / 10.0
                if capped < self.min_a:
                    command = Command(0.0, command.phases, True)
                else:
                    command = Command(capped, command.phases, False)
        if state.written and command == state.limit:
            return
        state.limit = command
        state.written = True
        charger.write(t, command)


class Naive:
    """Every 60 s: current = (cars' power - grid) / 230 / phases, whole amps, charger by charger."""

    name = "naive"

    def __init__(self, specs: list[CarSpec]) -> None:
        self.specs = specs
        self.next_at = 0.0
        self.last: dict[str, Command] = {}

    def step(self, t: float, plant: Plant) -> None:
        if t < self.next_at:
            return
        self.next_at = t + 60.0
        solar = [s for s in self.specs if s.mode is not Mode.FAST]
        ev_w = sum(sum(plant.charger_meters[s.cid].values) * V for s in solar)
        surplus = ev_w - plant.grid_meter.value
        for spec in self.specs:
            charger = next(c for c in plant.chargers if c.cid == spec.cid)
            if spec.mode is Mode.FAST:
                command = Command(16.0, spec.wired_phases, False)
            else:
                # One automation per charger, in order: each takes what the ones before left.
                amps = min(16, math.floor(surplus / V / spec.wired_phases))
                if amps < 6:
                    command = Command(0.0, spec.wired_phases, True)
                else:
                    command = Command(float(amps), spec.wired_phases, False)
                    surplus -= amps * V * spec.wired_phases
            if self.last.get(spec.cid) != command:
                self.last[spec.cid] = command
                charger.write(t, command)
