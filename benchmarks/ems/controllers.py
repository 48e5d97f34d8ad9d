"""The controllers under test, each driving the plant through the same meters and charger writes.

- ``Ours``: the real ``EmsDriver`` from custom_components/ocpp_ems/core/ems (the controller with
  everything the Home Assistant layer runs around it), set up the way ``energy_manager.py`` does:
  site settings and driver options read from the user's options (``core/ems/options.py``), each
  charger's mode in its ``ChargerView``, its limit rules from its own settings and capabilities.
  It decides on every meter update, in the same second (the HA layer's 1 s debounce is not
  modelled), and at the driver's ``wake_at``; its writes go through ``PlantControl``, a charger
  current control that applies them to the plant, and the battery's discharge limit through the
  driver's ``discharge_value`` (as the HA layer sets the inverter's number entity).
- ``Reference``: the evcc-style controller re-implemented from docs/ems-reference.md with its
  defaults (30 s loop, one charger per tick round robin, effective current + 2 A, 1 min enable /
  3 min disable, 1p/3p 3 min down / 1 min up with 60 s settle, first-come load management).
- ``Naive``: a typical automation: every 60 s, current = surplus / 230 / phases, whole amps.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from custom_components.ocpp_ems.core.ems import (
    ChargerCommand,
    ChargerInputs,
    EnergySlot,
    Mode,
    PhaseReading,
    Reading,
    SiteInputs,
    SolarSettings,
)
from custom_components.ocpp_ems.core.ems.discharge import DischargeEntity
from custom_components.ocpp_ems.core.ems.driver import ChargerLink, CurrentControl, EmsDriver
from custom_components.ocpp_ems.core.ems.options import (
    BATTERY_DISCHARGE_LIMIT,
    BATTERY_POWER,
    BATTERY_PRIORITY_SOC,
    BATTERY_SOC,
    EMS_ENABLED,
    FUSE,
    GRID_CURRENTS,
    GRID_POWER,
    PV_POWER,
    driver_options,
    site_settings,
)
from custom_components.ocpp_ems.core.limits import LimitRules
from custom_components.ocpp_ems.core.model import (
    Capabilities,
    Charger,
    Connector,
    ControlledBy,
    Transaction,
)
from custom_components.ocpp_ems.core.settings import ChargerSettings, PauseStrategy

from .plant import ChargerModel, Command, Plant, V

# The plant's chargers: 11 kW wallboxes (16 A installation maximum), minimum and safe current 6 A.
INSTALLATION_MAX_A = 16.0
# A car's integration reports its SoC this often (s) when the benchmark gives ours one.
SOC_REPORT_S = 300.0


@dataclass
class CarSpec:
    cid: str
    mode: Mode
    wired_phases: int
    switchable: bool
    line_1p: int = 1


def site_options(
    fuse_a: float | None, *, battery: bool, priority_soc: float | None = None
) -> dict[str, Any]:
    """A server entry's options as a user would set them for the benchmark's site: the sensors
    the plant has (entity ids stand for the plant's meters), the fuse and the battery rules."""
    options: dict[str, Any] = {
        EMS_ENABLED.key: True,
        GRID_POWER.key: "sensor.grid_power",
        **{phase.key: f"sensor.grid_current_l{k}" for k, phase in enumerate(GRID_CURRENTS, 1)},
        PV_POWER.key: "sensor.pv_power",
    }
    if fuse_a is not None:
        options[FUSE.key] = fuse_a
    if battery:
        options[BATTERY_POWER.key] = "sensor.battery_power"
        options[BATTERY_SOC.key] = "sensor.battery_soc"
        options[BATTERY_DISCHARGE_LIMIT.key] = "number.battery_max_discharge_power"
        if priority_soc is not None:
            options[BATTERY_PRIORITY_SOC.key] = priority_soc
    return options


class PlantControl:
    """A charger's current control (the driver's ``CurrentControl``) for the plant's charger.

    The limit rules are the core's (``LimitRules`` of the charger's settings and capabilities);
    the requested limit and the pause live in the charger model's ``LimitState``, like the core's
    ``CurrentController``. A limit is clamped by the rules and, like the live profile, reaches the
    charger only when what it holds changes (a 0 A limit or a pause is a paused command). The
    chargers stay connected all day, so the core's safe-current hold after a reconnect never
    applies and is not modelled.
    """

    def __init__(
        self,
        charger: ChargerModel,
        model: Charger,
        settings: ChargerSettings,
        clock: Callable[[], float],
    ) -> None:
        self._charger = charger
        self._model = model
        self._settings = settings
        self._clock = clock
        self._sent: Command | None = None

    @property
    def rules(self) -> LimitRules:
        return LimitRules(self._settings, self._model.capabilities)

    @property
    def effective_limit_a(self) -> float:
        return self.rules.effective_a(self._model.limit)

    @property
    def paused(self) -> bool:
        return self._model.limit.paused

    def pause_strategy(self) -> PauseStrategy:
        return self.rules.pause_strategy

    def set_controlled_by(self, controlled_by: ControlledBy) -> None:
        self._model.limit.controlled_by = controlled_by

    async def set_limit(
        self, amps: float | None, *, phases: int | None = None, by_manager: bool = False
    ) -> None:
        limit = self._model.limit
        limit.requested_a = None if amps is None else self.rules.clamp(amps)
        limit.requested_phases = phases
        self._apply()

    def set_user_limit(self, amps: float | None, phases: int | None) -> None:
        self._model.limit.user_a, self._model.limit.user_phases = amps, phases

    async def pause(self) -> None:
        self._model.limit.paused = True
        self._apply()

    async def resume(self) -> None:
        limit = self._model.limit
        limit.paused = False
        if limit.requested_a == 0:
            limit.requested_a = None
        self._apply()

    def _apply(self) -> None:
        amps = self.effective_limit_a
        # Phases go to the charger only where it switches them; otherwise it keeps its wiring.
        phases = self._model.limit.requested_phases or self._charger.wired_phases
        command = Command(amps, phases, amps <= 0.0)
        if command != self._sent:
            self._sent = command
            self._charger.write(self._clock(), command)


def _lookup(control: CurrentControl) -> Callable[[], CurrentControl]:
    """How the driver reaches a charger's current control (looked up at each use)."""
    return lambda: control


class Ours:
    """The real ``EmsDriver`` with the site's options and the chargers' views and controls."""

    name = "ours"

    def __init__(
        self,
        specs: list[CarSpec],
        chargers: list[ChargerModel],
        options: Mapping[str, Any],
        solar: SolarSettings | None = None,
        priorities: Mapping[str, int] | None = None,
        forecast: Sequence[EnergySlot] | None = None,
    ) -> None:
        """``forecast``: a solar forecast for the site, and each car's SoC (reported every
        ``SOC_REPORT_S``) and capacity for its charger, as a user who picked those sensors."""
        self.now = 0.0
        self.forecast = tuple(forecast or ())
        self.soc_reports = forecast is not None
        self.soc_seen: dict[str, Reading] = {}
        site = site_settings(options)
        if solar is not None:
            # Tuning knobs of the controller (``--solar``), not user options: through SiteSettings.
            site = replace(site, solar=solar)
        self.driver = EmsDriver(site, driver_options(options), clock=lambda: self.now)
        models = {c.cid: c for c in chargers}
        for spec in specs:
            if spec.line_1p != 1:
                # ChargerSettings.line_1p is neither a ChargerView field nor built by
                # charger_config.charger_settings: the driver always says L1.
                raise ValueError(f"{spec.cid}: the driver cannot set line_1p={spec.line_1p}")
            # A user's settings: the charger's own options (core settings: installation maximum,
            # wiring), what it reported it can do (phase switching), and its EMS mode.
            model = Charger(
                charger_id=spec.cid,
                connected=True,
                booted=True,
                capabilities=Capabilities(phase_switching=spec.switchable),
            )
            # The car is plugged in all along: one session (the driver splits its energy).
            model.connectors[1] = Connector(
                connector_id=1,
                transaction=Transaction(
                    transaction_id=f"{spec.cid}-1",
                    connector_id=1,
                    id_tag=None,
                    started_at=datetime.fromtimestamp(0, UTC),
                    meter_start_wh=0.0,
                    meter_last_wh=0.0,
                ),
            )
            settings = ChargerSettings(
                installation_max_a=INSTALLATION_MAX_A, phases=spec.wired_phases
            )
            control = PlantControl(models[spec.cid], model, settings, lambda: self.now)
            # The user's energy manager settings of the charger (its entities).
            priority = (priorities or {}).get(spec.cid, 0)
            view: dict[str, Any] = {"mode": spec.mode, "priority": priority}
            if self.soc_reports:
                view["vehicle_capacity_kwh"] = models[spec.cid].car.capacity_wh / 1000.0
            self.driver.update_charger(spec.cid, view)
            self.driver.add_charger(spec.cid, ChargerLink(model=model, control=_lookup(control)))
        # The inputs the options configure (like the HA layer, which reads only those sensors).
        self.battery_power = bool(BATTERY_POWER.read(options))
        self.battery_soc = bool(BATTERY_SOC.read(options))
        self.discharge_limit = bool(BATTERY_DISCHARGE_LIMIT.read(options))
        self.next_at = 0.0
        # The driver's writes are coroutines: one event loop for the whole day.
        self._runner = asyncio.Runner()

    def close(self) -> None:
        self._runner.close()

    def split_wh(self, charger_ids: set[str]) -> tuple[float, float, float]:
        """The driver's energy split of these chargers' sessions: (solar, battery, grid) Wh."""
        views = [self.driver.charger_view(cid) for cid in sorted(charger_ids)]
        return (
            sum(v.solar_wh for v in views),
            sum(v.battery_wh for v in views),
            sum(v.grid_wh for v in views),
        )

    def step(self, t: float, plant: Plant) -> None:
        if not plant.any_meter_update and t < self.next_at:
            return
        self.now = t
        chargers = {}
        for charger in plant.chargers:
            meter = plant.charger_meters[charger.cid]
            register = plant.charger_registers[charger.cid]
            chargers[charger.cid] = ChargerInputs(
                plugged=True,
                charging=max(meter.values) > 0.5,
                currents_a=PhaseReading(meter.values, meter.at),
                session_energy_wh=register.value if register.at > -math.inf else None,
                vehicle_soc=self._soc(charger, t),
            )
        battery = plant.battery
        inputs = SiteInputs(
            grid_w=Reading(plant.grid_meter.value, plant.grid_meter.at),
            grid_currents_a=PhaseReading(plant.grid_phase_meter.values, plant.grid_phase_meter.at),
            pv_w=Reading(plant.pv_meter.value, plant.pv_meter.at),
            battery_w=(
                Reading(plant.battery_meter.value, plant.battery_meter.at)
                if battery is not None and self.battery_power
                else None
            ),
            battery_soc=(
                Reading(battery.soc, plant.battery_meter.at)
                if battery is not None and self.battery_soc
                else None
            ),
            chargers=chargers,
            solar_forecast=self.forecast,
        )
        entity = None
        if battery is not None and self.discharge_limit:
            # The inverter's discharge limit as a number entity in W (0 .. the battery's maximum).
            entity = DischargeEntity(value=plant.discharge_limit_w, low=0.0, high=battery.max_w)
        step = self.driver.step(inputs, t, entity)
        if step.discharge_value is not None:
            plant.discharge_limit_w = step.discharge_value
        self.next_at = step.wake_at
        if step.writes:
            retry = self._runner.run(self._write(step.writes))
            if retry is not None:
                self.next_at = min(self.next_at, retry)

    def _soc(self, charger: ChargerModel, t: float) -> Reading | None:
        """The car's SoC as its integration reports it: every ``SOC_REPORT_S`` (None: no sensor)."""
        if not self.soc_reports:
            return None
        seen = self.soc_seen.get(charger.cid)
        if seen is None or t - seen.at >= SOC_REPORT_S:
            seen = self.soc_seen[charger.cid] = Reading(charger.car.soc, t)
        return seen

    async def _write(self, writes: dict[str, ChargerCommand]) -> float | None:
        retries = [await self.driver.write(cid, command) for cid, command in writes.items()]
        return min((r for r in retries if r is not None), default=None)


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
