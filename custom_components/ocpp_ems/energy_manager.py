"""The energy manager in Home Assistant: one per server entry, driving that server's chargers.

Thin on purpose: the decisions are the core's :class:`~.core.ems.EnergyManager`. This module

* keeps each charger's EMS settings (mode, currents, plan) in a ``Store``, loaded before the
  first decision, so a restart neither forgets them nor briefly charges in a default mode;
* listens to the picked sensors and the chargers' coordinators, debounces to about a second, builds
  the inputs (``ems_inputs``) and calls ``update``; wakes up again at ``next_update_at`` and at
  least every ``WATCHDOG_S`` (a silent sensor must turn stale even when nothing else changes);
* sends each ``write`` through the charger's :class:`CurrentController` (the only path to a
  charger, with its fail-safe profile durations) and forgets the write when it fails or the charger
  reconnects (``invalidate``), so it is sent again;
* raises a repair issue while inputs are stale (it clears itself);
* attributes each session's energy to solar, battery and grid.

Entities read ``charger_view`` / ``decision`` and follow ``signal``.
"""

from __future__ import annotations

import math
from contextlib import suppress
from dataclasses import dataclass, field, replace
from datetime import datetime, time, timedelta
from typing import TYPE_CHECKING, Any

from homeassistant.const import EVENT_HOMEASSISTANT_STOP, UnitOfPower
from homeassistant.core import (
    CALLBACK_TYPE,
    Event,
    EventStateChangedData,
    HomeAssistant,
    callback,
)
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.debounce import Debouncer
from homeassistant.helpers.dispatcher import async_dispatcher_send
from homeassistant.helpers.event import (
    async_track_point_in_utc_time,
    async_track_state_change_event,
)
from homeassistant.helpers.storage import Store
from homeassistant.util import dt as dt_util
from homeassistant.util.unit_conversion import PowerConverter

from .const import (
    CONF_BATTERY_POWER,
    CONF_BATTERY_SOC,
    CONF_EMS_ENABLED,
    CONF_GRID_CURRENT_L1,
    CONF_GRID_CURRENT_L2,
    CONF_GRID_CURRENT_L3,
    CONF_GRID_POWER,
    CONF_MIN_WRITE_INTERVAL,
    CONF_PRICE,
    CONF_PRICE_FORECAST_ATTRIBUTE,
    CONF_PV_AVAILABLE_POWER,
    CONF_PV_POWER,
    CONF_STALE_FALLBACK,
    CONF_VEHICLE_SOC,
    DEFAULT_MIN_WRITE_INTERVAL,
    DOMAIN,
    EMS_DEBOUNCE_S,
    EMS_RETRY_S,
    EMS_SENSOR_KEYS,
    ISSUE_EMS_STALE_INPUTS,
    LOGGER,
    STORAGE_VERSION,
)
from .core.ems import (
    ChargerCommand,
    ChargerDecision,
    ChargerInputs,
    ChargerSettings,
    Decision,
    EnergyManager,
    Mode,
    PlanTarget,
    SiteInputs,
    SiteSettings,
    StaleFallback,
)
from .core.errors import OcppEmsError
from .core.model import ChargingRateUnit
from .core.settings import ChargerSettings as QuirkSettings
from .core.settings import PauseStrategy, RateUnitPreference
from .ems_inputs import (
    CONF_BATTERY_DISCHARGE_LIMIT,
    CONF_STALE_GRACE,
    DEFAULT_STALE_GRACE,
    GRID_ONLY,
    EnergyMix,
    charger_inputs,
    energy_mix,
    price_slots,
    read_phases,
    read_power,
    read_value,
    site_settings,
    to_float,
)
from .hub import charger_settings
from .save_scheduler import SaveScheduler

if TYPE_CHECKING:
    from .coordinator import ChargerConfigEntry, ServerConfigEntry

# Run at least this often (s) even without events: a silent sensor must turn stale.
WATCHDOG_S = 30.0
# Saving the EMS settings and the session split: on disk at most this long after a change (s).
SAVE_DELAY_S = 10.0
# The inverter's battery discharge limit moves in steps of this much (W), rounded up (the house
# is never short); raised at most every write interval, lowered at once.
DISCHARGE_STEP_W = 100.0


@dataclass(kw_only=True)
class ChargerView:
    """One charger's EMS settings chosen by the user and its session's energy split (persisted)."""

    mode: Mode = Mode.SOLAR
    min_current_a: float | None = None  # None: the charger's minimum
    max_current_a: float | None = None  # None: the installation maximum
    target_energy_kwh: float | None = None
    departure_time: time | None = None  # daily departure for the target energy
    # A one-off plan (action plan_charge): a departure date and an energy or SoC target.
    plan_departure: datetime | None = None
    plan_energy_kwh: float | None = None
    plan_soc: float | None = None
    vehicle_capacity_kwh: float | None = None
    # The session's energy by source (Wh) and what it was last attributed up to.
    transaction_id: str | None = None
    solar_wh: float = 0.0
    battery_wh: float = 0.0
    grid_wh: float = 0.0
    attributed_wh: float = 0.0
    mix: EnergyMix = field(default=GRID_ONLY)
    # Not stored: True once the split was brought up to the charger's settled energy since the
    # start (a restored split may be up to the save delay behind what was shown before a crash).
    settled: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "mode": str(self.mode),
            "min_current_a": self.min_current_a,
            "max_current_a": self.max_current_a,
            "target_energy_kwh": self.target_energy_kwh,
            "departure_time": None
            if self.departure_time is None
            else self.departure_time.isoformat(),
            "plan_departure": None
            if self.plan_departure is None
            else self.plan_departure.isoformat(),
            "plan_energy_kwh": self.plan_energy_kwh,
            "plan_soc": self.plan_soc,
            "vehicle_capacity_kwh": self.vehicle_capacity_kwh,
            "transaction_id": self.transaction_id,
            "solar_wh": self.solar_wh,
            "battery_wh": self.battery_wh,
            "grid_wh": self.grid_wh,
            "attributed_wh": self.attributed_wh,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ChargerView:
        """Stored data back; anything unreadable falls back to the default."""
        view = cls()
        with suppress(ValueError):
            view.mode = Mode(data.get("mode", view.mode))
        for key in (
            "min_current_a",
            "max_current_a",
            "target_energy_kwh",
            "plan_energy_kwh",
            "plan_soc",
            "vehicle_capacity_kwh",
        ):
            value = data.get(key)
            setattr(view, key, float(value) if isinstance(value, (int, float)) else None)
        for key in ("solar_wh", "battery_wh", "grid_wh", "attributed_wh"):
            value = data.get(key)
            setattr(view, key, float(value) if isinstance(value, (int, float)) else 0.0)
        departure = data.get("departure_time")
        view.departure_time = dt_util.parse_time(departure) if isinstance(departure, str) else None
        plan = data.get("plan_departure")
        view.plan_departure = dt_util.parse_datetime(plan) if isinstance(plan, str) else None
        transaction = data.get("transaction_id")
        view.transaction_id = str(transaction) if transaction is not None else None
        return view


def signal(server_entry_id: str) -> str:
    """Dispatcher signal sent after every decision of a server's energy manager."""
    return f"{DOMAIN}_ems_{server_entry_id}"


def stale_issue_id(server_entry_id: str) -> str:
    return f"{ISSUE_EMS_STALE_INPUTS}_{server_entry_id}"


class EnergyManagerRuntime:
    """The energy manager of one server entry (runs only while enabled in its options)."""

    def __init__(self, hass: HomeAssistant, entry: ServerConfigEntry) -> None:
        self.hass = hass
        self.entry = entry
        self._store: Store[dict[str, Any]] = Store(
            hass, STORAGE_VERSION, f"{DOMAIN}.{entry.entry_id}.ems"
        )
        # Decisions every few seconds must not keep pushing the save back (see save_scheduler).
        self._saver = SaveScheduler(hass, self._store, SAVE_DELAY_S)
        self._views: dict[str, ChargerView] = {}
        self._chargers: dict[str, ChargerConfigEntry] = {}
        self._manager = EnergyManager(site_settings(entry.options))
        self._decision: Decision | None = None
        self._debouncer: Debouncer[None] = Debouncer(
            hass, LOGGER, cooldown=EMS_DEBOUNCE_S, immediate=False, function=self._async_run
        )
        self._unsub_states: CALLBACK_TYPE | None = None
        self._unsub_wakeup: CALLBACK_TYPE | None = None
        self._unsub_stop: CALLBACK_TYPE | None = None
        self._ems_paused: set[str] = set()  # chargers the EMS paused with pause() (stop/start)
        self._connected: dict[str, bool] = {}
        self._stale: frozenset[str] = frozenset()
        self._discharge_written_at = -math.inf
        self._stopped = False
        self.enabled = bool(entry.options.get(CONF_EMS_ENABLED, False))

    # --- lifecycle -------------------------------------------------------------------------------
    async def async_start(self) -> None:
        stored = await self._store.async_load() or {}
        for charger_id, data in stored.get("chargers", {}).items():
            if isinstance(data, dict):
                self._views[charger_id] = ChargerView.from_dict(data)
        self._unsub_stop = self.hass.bus.async_listen_once(
            EVENT_HOMEASSISTANT_STOP, self._async_on_hass_stop
        )
        self._follow_sensors()

    async def async_stop(self) -> None:
        """Unload: no timer, listener or repair issue outlives the entry; settings are saved."""
        self._stopped = True
        self._debouncer.async_cancel()
        for unsub in (self._unsub_states, self._unsub_wakeup, self._unsub_stop):
            if unsub is not None:
                unsub()
        self._unsub_states = self._unsub_wakeup = self._unsub_stop = None
        ir.async_delete_issue(self.hass, DOMAIN, stale_issue_id(self.entry.entry_id))
        # Without the energy manager nothing keeps the battery from the car: give it back.
        if (call := self._discharge_limit_call(None, force=True)) is not None:
            await self._async_set_discharge_limit(*call)
        await self._saver.async_save(self._data())

    async def _async_on_hass_stop(self, _event: Event) -> None:
        self._unsub_stop = None
        self._debouncer.async_cancel()

    @callback
    def async_options_updated(self) -> bool:
        """New options: new site settings and sensors, live. True when ``enabled`` flipped (the
        chargers' entities then have to be set up again)."""
        enabled = bool(self.entry.options.get(CONF_EMS_ENABLED, False))
        flipped = enabled != self.enabled
        self.enabled = enabled
        self._manager.set_site(site_settings(self.entry.options))
        for charger_id in self._chargers:
            self._configure_charger(charger_id)
        self._follow_sensors()
        if not enabled:
            self._decision = None
            self._set_stale(frozenset())
            self._apply_discharge_limit(None, dt_util.utcnow().timestamp(), force=True)
        self.async_schedule_update()
        # Site entities (battery SoC numbers) show the options: refresh them even without chargers.
        async_dispatcher_send(self.hass, self.signal)
        return flipped

    @callback
    def async_add_charger(self, entry: ChargerConfigEntry) -> CALLBACK_TYPE:
        """Put a loaded charger entry under the energy manager; returns how to take it off."""
        charger_id = entry.runtime_data.charger_id
        coordinator = entry.runtime_data.coordinator
        self._chargers[charger_id] = entry
        self._connected[charger_id] = coordinator.charger.connected
        self._configure_charger(charger_id)
        unsub = coordinator.async_add_listener(lambda: self._on_charger_update(charger_id))
        self._follow_sensors()  # its vehicle SoC sensor, if any
        self.async_schedule_update()

        @callback
        def _remove() -> None:
            unsub()
            self._chargers.pop(charger_id, None)
            self._manager.remove_charger(charger_id)
            self._ems_paused.discard(charger_id)
            if not self._stopped:
                self._follow_sensors()

        return _remove

    # --- what entities read and set --------------------------------------------------------------
    @property
    def signal(self) -> str:
        return signal(self.entry.entry_id)

    def charger_view(self, charger_id: str) -> ChargerView:
        return self._views.setdefault(charger_id, ChargerView())

    @property
    def site_decision(self) -> Decision | None:
        """The latest decision for the whole site (None before the first one)."""
        return self._decision

    def decision(self, charger_id: str) -> ChargerDecision | None:
        if self._decision is None:
            return None
        return self._decision.chargers.get(charger_id)

    def current_bounds(self, charger_id: str) -> tuple[float, float]:
        """What the charger takes: its minimum current and the installation maximum."""
        return _bounds(charger_settings(self._chargers[charger_id]))

    @property
    def site(self) -> SiteSettings:
        """The site settings the controller runs with now."""
        return self._manager.site

    def settings(self, charger_id: str) -> ChargerSettings:
        """The EMS settings of a charger now (the bounds the number entities offer)."""
        return self._manager.charger(charger_id)

    @callback
    def async_update_charger(self, charger_id: str, **changes: Any) -> None:
        """A user change (entity or action) to a charger's EMS settings: applied at once."""
        view = self.charger_view(charger_id)
        for key, value in changes.items():
            setattr(view, key, value)
        if charger_id in self._chargers:
            self._configure_charger(charger_id)
        # The user's choice is on disk at once, not only within the save delay.
        self._saver.async_schedule(self._data, 0)
        self.async_schedule_update(immediately=True)

    @callback
    def async_set_site_option(self, key: str, value: float) -> None:
        """A site setting changed by an entity (battery priority / floor SoC): applied now and
        stored in the options, where the options step edits the same value."""
        options = {**self.entry.options, key: value}
        self.hass.config_entries.async_update_entry(self.entry, options=options)
        # The update listener applies it too, a moment later; do not wait for it.
        self._manager.set_site(site_settings(options))
        async_dispatcher_send(self.hass, self.signal)
        self.async_schedule_update(immediately=True)

    def vehicle_soc(self, charger_id: str) -> float | None:
        """The car's SoC now: the charger's reading, else its vehicle SoC sensor's (None: unknown)."""
        if (entry := self._chargers.get(charger_id)) is None:
            return None
        now = dt_util.utcnow().timestamp()
        return _value(self._charger_inputs(entry, now).vehicle_soc)

    @callback
    def async_boost(self, charger_id: str, until: datetime | None) -> None:
        self._manager.boost(charger_id, None if until is None else until.timestamp())
        self.async_schedule_update(immediately=True)

    # --- settings --------------------------------------------------------------------------------
    def _configure_charger(self, charger_id: str) -> None:
        entry = self._chargers[charger_id]
        view = self.charger_view(charger_id)
        quirks = charger_settings(entry)
        charger = entry.runtime_data.coordinator.charger
        minimum, maximum = _bounds(quirks)
        low = _clamp(view.min_current_a, minimum, maximum, minimum)
        takes_amps = ChargingRateUnit.AMPERE in charger.capabilities.rate_units
        fallback = self.entry.options.get(CONF_STALE_FALLBACK, StaleFallback.MIN_CURRENT)
        capacity = view.vehicle_capacity_kwh
        settings = ChargerSettings(
            mode=view.mode,
            min_current_a=low,
            max_current_a=_clamp(view.max_current_a, low, maximum, maximum),
            phases=quirks.phases,
            can_switch_phases=quirks.phases == 3 and charger.capabilities.phase_switching,
            current_step_a=(
                0.1 if takes_amps and quirks.rate_unit is not RateUnitPreference.WATT else 1.0
            ),
            stale_fallback=StaleFallback(fallback),
            stale_grace_s=float(self.entry.options.get(CONF_STALE_GRACE, DEFAULT_STALE_GRACE)),
            min_write_interval_s=float(
                self.entry.options.get(CONF_MIN_WRITE_INTERVAL, DEFAULT_MIN_WRITE_INTERVAL)
            ),
            vehicle_capacity_wh=None if capacity is None else capacity * 1000.0,
            plan=self._plan(view),
        )
        self._manager.set_charger(charger_id, settings)

    @staticmethod
    def _plan(view: ChargerView) -> PlanTarget | None:
        """The one-off plan while it lies ahead, else the daily target energy by departure time."""
        now = dt_util.utcnow()
        if view.plan_departure is not None and view.plan_departure > now:
            return PlanTarget(
                departure=view.plan_departure.timestamp(),
                energy_wh=None if view.plan_energy_kwh is None else view.plan_energy_kwh * 1000.0,
                soc=view.plan_soc,
            )
        if view.target_energy_kwh and view.departure_time is not None:
            return PlanTarget(
                departure=next_departure(view.departure_time, now).timestamp(),
                energy_wh=view.target_energy_kwh * 1000.0,
            )
        return None

    def _data(self) -> dict[str, Any]:
        return {"chargers": {cid: view.to_dict() for cid, view in self._views.items()}}

    # --- events ----------------------------------------------------------------------------------
    @callback
    def _follow_sensors(self) -> None:
        if self._unsub_states is not None:
            self._unsub_states()
            self._unsub_states = None
        if not self.enabled:
            return
        entities = [
            entity_id for key in EMS_SENSOR_KEYS if (entity_id := self.entry.options.get(key))
        ]
        entities += [
            entity_id
            for entry in self._chargers.values()
            if (entity_id := entry.options.get(CONF_VEHICLE_SOC))
        ]
        if entities:
            self._unsub_states = async_track_state_change_event(
                self.hass, entities, self._on_sensor_change
            )

    @callback
    def _on_sensor_change(self, _event: Event[EventStateChangedData]) -> None:
        self.async_schedule_update()

    @callback
    def _on_charger_update(self, charger_id: str) -> None:
        charger = self._chargers[charger_id].runtime_data.coordinator.charger
        connected = charger.connected
        if connected and not self._connected.get(charger_id, False):
            # Reconnected: what the charger holds is unknown, write the next decision again.
            self._manager.invalidate(charger_id)
        self._connected[charger_id] = connected
        self.async_schedule_update()

    @callback
    def async_schedule_update(self, *, immediately: bool = False) -> None:
        if self._stopped or not self.enabled:
            return
        if immediately:
            # A user action or a timer: decide now (pending input changes are included).
            self._debouncer.async_cancel()
            self._async_run()
        else:
            self._debouncer.async_schedule_call()

    # --- one decision ----------------------------------------------------------------------------
    @callback
    def _async_run(self) -> None:
        if self._stopped or not self.enabled or not self._chargers:
            return
        now_dt = dt_util.utcnow()
        now = now_dt.timestamp()
        for charger_id in self._chargers:
            # Plans with a daily departure move on to the next day; a passed one-off plan ends.
            self._configure_charger(charger_id)
        inputs = self._inputs(now)
        decision = self._manager.update(inputs, now)
        self._decision = decision
        self._attribute_energy(inputs)
        self._apply_discharge_limit(decision.battery_discharge_limit_w, now)
        for charger_id, charger_decision in decision.chargers.items():
            if charger_decision.write is not None and charger_id in self._chargers:
                self.entry.async_create_background_task(
                    self.hass,
                    self._async_write(charger_id, charger_decision.write),
                    f"{DOMAIN} ems write {charger_id}",
                )
        self._set_stale(decision.stale_inputs)
        wake = now + WATCHDOG_S
        if decision.next_update_at is not None:
            wake = min(wake, max(decision.next_update_at, now + EMS_DEBOUNCE_S))
        self._wake_at(wake)
        self._saver.async_schedule(self._data)
        async_dispatcher_send(self.hass, self.signal)

    def _state(self, key: str) -> Any:
        entity_id = self.entry.options.get(key)
        return self.hass.states.get(entity_id) if entity_id else None

    def _inputs(self, now: float) -> SiteInputs:
        options = self.entry.options

        def power(key: str) -> Any:
            return read_power(self._state(key), now) if options.get(key) else None

        phase_keys = (CONF_GRID_CURRENT_L1, CONF_GRID_CURRENT_L2, CONF_GRID_CURRENT_L3)
        phases = [key for key in phase_keys if options.get(key)]
        return SiteInputs(
            grid_w=power(CONF_GRID_POWER),
            grid_currents_a=(
                read_phases([self._state(key) for key in phase_keys], now) if phases else None
            ),
            pv_w=power(CONF_PV_POWER),
            pv_available_w=power(CONF_PV_AVAILABLE_POWER),
            battery_w=power(CONF_BATTERY_POWER),
            battery_soc=(
                read_value(self._state(CONF_BATTERY_SOC), now)
                if options.get(CONF_BATTERY_SOC)
                else None
            ),
            prices=(
                price_slots(
                    self._state(CONF_PRICE), options.get(CONF_PRICE_FORECAST_ATTRIBUTE), now
                )
                if options.get(CONF_PRICE)
                else ()
            ),
            chargers={
                charger_id: self._charger_inputs(entry, now)
                for charger_id, entry in self._chargers.items()
            },
        )

    def _charger_inputs(self, entry: ChargerConfigEntry, now: float) -> ChargerInputs:
        """The charger's inputs; the vehicle SoC from its sensor where the charger reports none."""
        inputs = charger_inputs(entry.runtime_data.coordinator.charger)
        soc_entity = entry.options.get(CONF_VEHICLE_SOC)
        if inputs.vehicle_soc is not None or not soc_entity:
            return inputs
        soc = read_value(self.hass.states.get(soc_entity), now)
        return replace(inputs, vehicle_soc=soc)

    def _attribute_energy(self, inputs: SiteInputs) -> None:
        """Split each session's new energy by the power mix seen at the previous update."""
        for charger_id, charger in inputs.chargers.items():
            view = self.charger_view(charger_id)
            entry = self._chargers[charger_id]
            transaction = next(
                (
                    c.transaction.transaction_id
                    for c in entry.runtime_data.coordinator.charger.outlets
                    if c.transaction is not None
                ),
                None,
            )
            energy = charger.session_energy_wh
            if transaction is not None and transaction != view.transaction_id:
                # A new session: start from zero (energy it took before we saw it: mix of now).
                view.transaction_id = transaction
                view.solar_wh = view.battery_wh = view.grid_wh = view.attributed_wh = 0.0
                view.mix = GRID_ONLY
            mix = energy_mix(
                grid_w=_value(inputs.grid_w),
                pv_w=_value(inputs.pv_w),
                battery_w=_value(inputs.battery_w),
                ev_w=_value(charger.power_w) or 0.0,
            )
            if transaction is not None and energy is not None and energy > view.attributed_wh:
                added = energy - view.attributed_wh
                used = view.mix if view.attributed_wh > 0.0 else mix
                view.solar_wh += added * used.solar
                view.battery_wh += added * used.battery
                view.grid_wh += added * used.grid
                view.attributed_wh = energy
            view.mix = mix
            if entry.runtime_data.coordinator.charger.energy_settled:
                view.settled = True

    async def _async_write(self, charger_id: str, command: ChargerCommand) -> None:
        """Send one decision through the charger's current control (the only path to it)."""
        entry = self._chargers.get(charger_id)
        if entry is None:
            return
        controller = entry.runtime_data.central.current_control(charger_id)
        settings = self._manager.charger(charger_id)
        # Phases go to the charger only where it switches them; otherwise the controller uses the
        # phases the car really draws on (a 1p car on a 3p charger must not get a 3p W limit).
        phases = command.phases if settings.can_switch_phases else None
        zero_limit = controller.pause_strategy() is PauseStrategy.ZERO_LIMIT
        try:
            if command.paused and zero_limit:
                await controller.set_limit(0.0, phases=phases)
            elif command.paused:
                self._ems_paused.add(charger_id)
                await controller.pause()
            else:
                if charger_id in self._ems_paused:
                    self._ems_paused.discard(charger_id)
                    await controller.resume()
                await controller.set_limit(command.current_a, phases=phases)
        except OcppEmsError as err:
            LOGGER.warning("Energy manager could not set charger %s: %s", charger_id, err)
            if charger_id in self._chargers:
                self._manager.invalidate(charger_id)
                self._wake_at(dt_util.utcnow().timestamp() + EMS_RETRY_S)

    # --- the home battery ------------------------------------------------------------------------
    @callback
    def _apply_discharge_limit(
        self, limit_w: float | None, now: float, *, force: bool = False
    ) -> None:
        """Give the inverter's discharge limit entity the controller's cap (None: its maximum)."""
        if (call := self._discharge_limit_call(limit_w, now, force=force)) is not None:
            self._discharge_written_at = now
            self.entry.async_create_background_task(
                self.hass,
                self._async_set_discharge_limit(*call),
                f"{DOMAIN} ems battery discharge limit",
            )

    def _discharge_limit_call(
        self, limit_w: float | None, now: float = 0.0, *, force: bool = False
    ) -> tuple[str, float] | None:
        """(entity, value in its unit) when the discharge limit entity should change, else None."""
        entity_id = self.entry.options.get(CONF_BATTERY_DISCHARGE_LIMIT)
        if not entity_id or (state := self.hass.states.get(entity_id)) is None:
            return None
        unit = state.attributes.get("unit_of_measurement")
        per_w = 1.0
        if unit in PowerConverter.VALID_UNITS:
            per_w = PowerConverter.convert(1.0, UnitOfPower.WATT, unit)
        top, low = to_float(state.attributes.get("max")), to_float(state.attributes.get("min"))
        if limit_w is None:
            if top is None:
                return None
            wanted = top
        else:
            wanted = math.ceil(limit_w / DISCHARGE_STEP_W - 1e-9) * DISCHARGE_STEP_W * per_w
            wanted = max(low or 0.0, wanted if top is None else min(top, wanted))
        current = to_float(state.state)
        if current is not None and abs(wanted - current) < DISCHARGE_STEP_W * per_w / 2:
            return None
        interval = float(
            self.entry.options.get(CONF_MIN_WRITE_INTERVAL, DEFAULT_MIN_WRITE_INTERVAL)
        )
        raising = current is None or wanted > current
        if raising and not force and now - self._discharge_written_at < interval:
            return None  # a later update raises it (they come at least every WATCHDOG_S)
        return entity_id, wanted

    async def _async_set_discharge_limit(self, entity_id: str, value: float) -> None:
        try:
            await self.hass.services.async_call(
                entity_id.split(".", 1)[0],
                "set_value",
                {"entity_id": entity_id, "value": value},
                blocking=True,
            )
        except HomeAssistantError as err:
            LOGGER.warning("Energy manager could not set %s: %s", entity_id, err)

    # --- timers and repairs ----------------------------------------------------------------------
    @callback
    def _wake_at(self, when: float) -> None:
        if self._unsub_wakeup is not None:
            self._unsub_wakeup()
        self._unsub_wakeup = async_track_point_in_utc_time(
            self.hass, self._on_wakeup, dt_util.utc_from_timestamp(when)
        )

    @callback
    def _on_wakeup(self, _now: datetime) -> None:
        self._unsub_wakeup = None
        self.async_schedule_update(immediately=True)

    @callback
    def _set_stale(self, stale: frozenset[str]) -> None:
        if stale == self._stale:
            return
        self._stale = stale
        issue_id = stale_issue_id(self.entry.entry_id)
        if not stale:
            ir.async_delete_issue(self.hass, DOMAIN, issue_id)
            return
        ir.async_create_issue(
            self.hass,
            DOMAIN,
            issue_id,
            is_fixable=False,
            severity=ir.IssueSeverity.WARNING,
            translation_key=ISSUE_EMS_STALE_INPUTS,
            translation_placeholders={
                "server": self.entry.title,
                "inputs": ", ".join(sorted(stale)),
            },
        )


def next_departure(departure: time, now: datetime) -> datetime:
    """The next local occurrence of a daily departure time (as UTC)."""
    local = dt_util.as_local(now)
    candidate = local.replace(
        hour=departure.hour, minute=departure.minute, second=departure.second, microsecond=0
    )
    if candidate <= local:
        candidate += timedelta(days=1)
    return dt_util.as_utc(candidate)


def _bounds(quirks: QuirkSettings) -> tuple[float, float]:
    return min(quirks.min_current_a, quirks.installation_max_a), quirks.installation_max_a


def _clamp(value: float | None, low: float, high: float, default: float) -> float:
    if value is None or math.isnan(value):
        return default
    return min(high, max(low, value))


def _value(reading: Any) -> float | None:
    return None if reading is None else reading.value
