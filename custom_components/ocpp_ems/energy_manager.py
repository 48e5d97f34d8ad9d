"""The energy manager in Home Assistant: one per server entry, driving that server's chargers.

Thin on purpose: the decisions and everything around them (the user's per-charger settings, the
controller's settings built from them, pauses, the energy split, the battery discharge limit,
wake-ups, what a failed write means) are the core's :class:`~.core.ems.driver.EmsDriver`. This
module

* reads the picked sensors and the chargers' models into :class:`SiteInputs` (``ems_inputs``),
  and the solar forecast of HA's energy platform every ``FORECAST_REFRESH`` and whenever the
  Energy dashboard's settings change (plans and Solar mode's sun ahead use it); a
  forecast source that gives none for a while leaves its last forecast in place, also across a
  restart (``core/ems/forecast_hold.py``);
* keeps the driver's per-charger settings and what it learned (``core/ems/learned.py``) in a
  ``Store`` (loaded before the first decision, saved through a :class:`SaveScheduler` at most
  ``SAVE_DELAY_S`` after a decision), so a restart neither forgets them nor briefly charges in a
  default mode;
* listens to the sensors and the chargers' coordinators, debounces to about a second, and wakes up
  when the driver asks (its timers wait on the event loop's clock: ``_call_at``);
* runs the driver's writes as background tasks and sets the inverter's discharge limit entity;
* raises a repair issue while inputs are stale (naming the entities picked, and a unit that is no
  power), another while a meter's sign looks inverted (``core/ems/meter_sign.py``); both clear
  themselves; and signals the entities;
* is told when the user takes a charger over (:meth:`EnergyManagerRuntime.async_take_over`: its
  mode becomes Manual, the driver leaves it alone until another mode is picked).

Entities read ``charger_view`` / ``decision`` and follow ``signal``.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from homeassistant.const import EVENT_HOMEASSISTANT_STOP, STATE_UNAVAILABLE
from homeassistant.core import (
    CALLBACK_TYPE,
    Event,
    EventStateChangedData,
    HomeAssistant,
    State,
    callback,
)
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers.debounce import Debouncer
from homeassistant.helpers.dispatcher import async_dispatcher_connect, async_dispatcher_send
from homeassistant.helpers.event import (
    async_call_later,
    async_track_state_change_event,
    async_track_time_interval,
)
from homeassistant.helpers.storage import Store
from homeassistant.util import dt as dt_util

from .const import (
    CONF_VEHICLE_SOC,
    DOMAIN,
    EMS_DEBOUNCE_S,
    EMS_RETRY_S,
    ISSUE_EMS_INVERTED_METER,
    ISSUE_EMS_STALE_INPUTS,
    LOGGER,
    STORAGE_VERSION,
    repair_issue_id,
)
from .core.ems import (
    ChargerCommand,
    ChargerDecision,
    ChargerInputs,
    ChargerSettings,
    Decision,
    EnergySlot,
    PriceSlot,
    Reading,
    SiteInputs,
    SiteSettings,
)
from .core.ems.charger_view import ChargerView
from .core.ems.discharge import DischargeEntity
from .core.ems.driver import WATCHDOG_S, ChargerLink, EmsDriver, Timing
from .core.ems.forecast_hold import ForecastHolds
from .core.ems.meter_sign import BATTERY, GRID
from .core.ems.options import (
    BATTERY_DISCHARGE_LIMIT,
    BATTERY_POWER,
    BATTERY_SOC,
    EMS_ENABLED,
    FEED_IN_PRICE_ENTITY,
    GRID_CURRENTS,
    GRID_POWER,
    PRICE,
    PRICE_FORECAST_ATTRIBUTE,
    PV_AVAILABLE_POWER,
    PV_POWER,
    SENSOR_INPUTS,
    SOLAR_FORECAST,
    EntityRef,
    driver_options,
)
from .core.ems.types import plausible_soc
from .core.model import ControlledBy
from .core.numbers import parse_number
from .ems_inputs import (
    SIGNAL_ENERGY_DASHBOARD,
    async_follow_energy_dashboard,
    async_solar_forecast,
    charger_inputs,
    picked_inputs,
    price_slots,
    read_phases,
    read_power,
    read_value,
    read_vehicle_soc,
    site_settings,
    sun_elevation,
    watts_per_unit,
)
from .save_scheduler import SaveScheduler
from .state_issue import async_show_state_issue

if TYPE_CHECKING:
    from collections.abc import Callable

    from .coordinator import ChargerConfigEntry, ServerConfigEntry

__all__ = [
    "SAVE_DELAY_S",
    "ChargerView",
    "EnergyManagerRuntime",
    "signal",
]

# Saving the EMS settings and the session split: on disk at most this long after a change (s).
SAVE_DELAY_S = 10.0
# Solar forecasts change hourly at most (Forecast.Solar, Solcast): read again this often.
FORECAST_REFRESH = timedelta(minutes=15)
FORECASTS_KEY = "forecasts"  # the store's key of the forecasts held (``ForecastHolds``)
# A timer fires this late (s): the loop's clock and the wall clock (read to the microsecond) may
# differ by a hair, and one a hair early would find nothing due (the next run a debounce later).
_TIMER_SLACK_S = 0.001


def signal(server_entry_id: str) -> str:
    """Dispatcher signal sent after every decision of a server's energy manager."""
    return f"{DOMAIN}_ems_{server_entry_id}"


def _now() -> float:
    return dt_util.utcnow().timestamp()


def _timing() -> Timing:
    # Read at each use: the constants are the HA layer's (const.py), and tests shorten them.
    return Timing(watchdog_s=WATCHDOG_S, min_delay_s=EMS_DEBOUNCE_S, retry_s=EMS_RETRY_S)


def ems_store(hass: HomeAssistant, server_entry_id: str) -> Store[dict[str, Any]]:
    """The energy manager's store of a server entry (settings of its chargers, what it learned)."""
    return Store(hass, STORAGE_VERSION, f"{DOMAIN}.{server_entry_id}.ems")


class EnergyManagerRuntime:
    """The energy manager of one server entry (runs only while enabled in its options)."""

    def __init__(self, hass: HomeAssistant, entry: ServerConfigEntry) -> None:
        self.hass = hass
        self.entry = entry
        self._store = ems_store(hass, entry.entry_id)
        # Decisions every few seconds must not keep pushing the save back (see save_scheduler).
        self._saver = SaveScheduler(hass, self._store, SAVE_DELAY_S)
        self._chargers: dict[str, ChargerConfigEntry] = {}
        # Each charger's last vehicle SoC sensor report (``read_vehicle_soc``).
        self._soc_reports: dict[str, Reading] = {}
        self._driver = EmsDriver(
            site_settings(entry.options),
            driver_options(entry.options),
            clock=_now,
            zone=dt_util.get_default_time_zone,
            timing=_timing,
            # A write failed or was taken: the reason shown changed without a decision.
            on_shown=lambda: async_dispatcher_send(hass, signal(entry.entry_id)),
        )
        self._debouncer: Debouncer[None] = Debouncer(
            hass, LOGGER, cooldown=EMS_DEBOUNCE_S, immediate=False, function=self._async_run
        )
        self._unsub_states: CALLBACK_TYPE | None = None
        self._unsub_wakeup: CALLBACK_TYPE | None = None
        self._unsub_hand_back: CALLBACK_TYPE | None = None  # a refused hand-back tried again
        self._unsub_stop: CALLBACK_TYPE | None = None
        self._unsub_forecast: CALLBACK_TYPE | None = None
        self._unsub_dashboard: CALLBACK_TYPE | None = None
        self._forecast: tuple[EnergySlot, ...] = ()
        self._holds = ForecastHolds()
        self._forecasts_failing: set[str] = set()  # forecast entries whose last read raised
        self._price_holds = {
            PRICE: self._holds.price,
            FEED_IN_PRICE_ENTITY: self._holds.feed_in_price,
        }
        # The repair issues as last set (None: deleted; each set again only on a change).
        self._issues: dict[str, dict[str, str] | None] = {}
        self._warned_units: set[str] = set()
        self._inputs_seen: SiteInputs | None = None  # what the latest decision was made from
        self._stopped = False
        self.enabled = EMS_ENABLED.read(entry.options)
        self._driver.set_active(self.enabled)
        self._meters = self._picked_meters()

    # --- lifecycle -------------------------------------------------------------------------------
    async def async_start(self) -> None:
        stored = await self._store.async_load()
        self._driver.load(stored)
        self._holds.load(stored.get(FORECASTS_KEY) if isinstance(stored, dict) else None)
        self._unsub_stop = self.hass.bus.async_listen_once(
            EVENT_HOMEASSISTANT_STOP, self._async_on_hass_stop
        )
        self._follow_sensors()
        await self._async_refresh_forecast()
        self._unsub_forecast = async_track_time_interval(
            self.hass, self._on_forecast_timer, FORECAST_REFRESH
        )
        # A forecast added to the Energy dashboard counts at once.
        await async_follow_energy_dashboard(self.hass)
        self._unsub_dashboard = async_dispatcher_connect(
            self.hass, SIGNAL_ENERGY_DASHBOARD, self._on_forecast_timer
        )

    async def async_stop(self) -> None:
        """Unload: no timer, listener or repair issue outlives the entry; settings are saved."""
        self._stopped = True
        self._debouncer.async_cancel()
        for unsub in (
            self._unsub_states,
            self._unsub_wakeup,
            self._unsub_hand_back,
            self._unsub_stop,
            self._unsub_forecast,
            self._unsub_dashboard,
        ):
            if unsub is not None:
                unsub()
        self._unsub_states = self._unsub_wakeup = self._unsub_hand_back = self._unsub_stop = None
        self._unsub_forecast = self._unsub_dashboard = None
        self._issues.clear()  # (deleted whatever this run knows of them)
        self._set_input_issues(frozenset(), frozenset())
        # Without the energy manager nothing keeps the battery from the car: give it back.
        if (limit := self._discharge_entity()) is not None and (
            value := self._driver.discharge_write(None, limit[1], _now(), force=True)
        ) is not None:
            await self._async_set_discharge_limit(limit[0], value)
        await self._saver.async_save(self._dump())

    def _dump(self) -> dict[str, Any]:
        """What the store keeps: the driver's (settings, what it learned) and the forecasts."""
        return {**self._driver.dump(), FORECASTS_KEY: self._holds.to_dict()}

    async def _async_on_hass_stop(self, _event: Event) -> None:
        self._unsub_stop = None
        self._debouncer.async_cancel()

    @callback
    def async_options_updated(self) -> bool:
        """New options: new site settings and sensors, live. True when ``enabled`` flipped (the
        chargers' entities then have to be set up again)."""
        enabled = EMS_ENABLED.read(self.entry.options)
        flipped = enabled != self.enabled
        self.enabled = enabled
        self._driver.set_active(enabled)
        self._hand_back()
        self._driver.configure(
            site_settings(self.entry.options), driver_options(self.entry.options)
        )
        if (meters := self._picked_meters()) != self._meters:
            self._meters = meters
            self._driver.forget_meter_signs()  # an inverted meter's replacement starts afresh
        self._follow_sensors()
        self._on_forecast_timer()  # another forecast may be picked
        if not enabled:
            self._driver.clear_decision()
            self._inputs_seen = None
            self._set_input_issues(frozenset(), frozenset())
            self._apply_discharge_limit(None, _now(), force=True)
        self.async_schedule_update()
        # Site entities (battery SoC numbers) show the options: refresh them even without chargers.
        async_dispatcher_send(self.hass, self.signal)
        return flipped

    def _picked_meters(self) -> tuple[str | None, ...]:
        """The meters whose signs the controller checks, and the PV sensor it checks them by."""
        return tuple(
            option.read(self.entry.options) for option in (GRID_POWER, BATTERY_POWER, PV_POWER)
        )

    @callback
    def async_forget_charger(self, charger_id: str) -> None:
        """The charger was deleted: accepted again, it starts afresh (mode, plan, what was
        learned). Saved at once."""
        self._driver.forget_charger(charger_id)
        self._soc_reports.pop(charger_id, None)
        self._saver.async_schedule(self._dump, 0)

    @callback
    def async_add_charger(self, entry: ChargerConfigEntry) -> CALLBACK_TYPE:
        """Put a loaded charger entry under the energy manager; returns how to take it off."""
        charger_id = entry.runtime_data.charger_id
        coordinator = entry.runtime_data.coordinator
        self._chargers[charger_id] = entry
        self._driver.add_charger(
            charger_id,
            ChargerLink(
                model=coordinator.charger,
                control=lambda: entry.runtime_data.central.current_control(charger_id),
            ),
        )
        self._hand_back()  # still recorded as the manager's, found while it is off
        unsub = coordinator.async_add_listener(lambda: self._on_charger_update(charger_id))
        self._follow_sensors()  # its vehicle SoC sensor, if any
        self.async_schedule_update()

        @callback
        def _remove() -> None:
            unsub()
            self._chargers.pop(charger_id, None)
            self._driver.remove_charger(charger_id)
            if not self._stopped:
                self._follow_sensors()

        return _remove

    # --- what entities read and set --------------------------------------------------------------
    @property
    def signal(self) -> str:
        return signal(self.entry.entry_id)

    def charger_view(self, charger_id: str) -> ChargerView:
        return self._driver.charger_view(charger_id)

    @property
    def site_inputs(self) -> SiteInputs | None:
        """The inputs of the latest decision (None before the first one): the site sensors show
        the grid, PV, battery and chargers as the energy manager saw them."""
        return self._inputs_seen

    @property
    def site_decision(self) -> Decision | None:
        """The latest decision for the whole site (None before the first one)."""
        return self._driver.decision

    def decision(self, charger_id: str) -> ChargerDecision | None:
        return self._driver.charger_decision(charger_id)

    def learned(self) -> dict[str, Any]:
        """What the energy manager learned about the installation, as in use now (diagnostics)."""
        return self._driver.learned()

    def held_forecasts(self) -> dict[str, str]:
        """The forecasts plans keep although their source gives none now (``solar``, ``price``,
        ``feed_in_price``), and when each was read (diagnostics, the energy manager's sensor)."""
        return {
            key: dt_util.utc_from_timestamp(since).isoformat()
            for key, since in self._holds.held_since().items()
        }

    @property
    def site(self) -> SiteSettings:
        """The site settings the controller runs with now."""
        return self._driver.site

    def settings(self, charger_id: str) -> ChargerSettings:
        """The EMS settings of a charger now (the bounds the number entities offer)."""
        return self._driver.settings(charger_id)

    @callback
    def async_update_charger(self, charger_id: str, **changes: Any) -> None:
        """A user change (entity or action) to a charger's EMS settings: applied at once."""
        self._driver.update_charger(charger_id, changes)
        self._hand_back()  # mode Manual picked
        self._charger_settings_changed()

    @callback
    def _charger_settings_changed(self) -> None:
        # The user's choice is on disk at once, not only within the save delay.
        self._saver.async_schedule(self._dump, 0)
        self.async_schedule_update(immediately=True)

    @callback
    def _hand_back(self) -> None:
        """Hand the chargers the manager let go of back to their user (``EmsDriver.hand_back``:
        not at the manager's last limit)."""
        for charger_id in self._driver.let_go():
            self.entry.async_create_background_task(
                self.hass, self._async_hand_back(charger_id), f"{DOMAIN} ems hand back {charger_id}"
            )

    async def _async_hand_back(self, charger_id: str) -> None:
        retry_at = await self._driver.hand_back(charger_id)
        if self._stopped:
            return
        self._saver.async_schedule(self._dump, 0)  # which chargers it still holds paused
        if retry_at is not None:
            self._arm_hand_back_retry()

    @callback
    def _arm_hand_back_retry(self) -> None:
        """The timer of the next hand-back retry (its own: with the manager off no decision
        runs that would try again), at the earliest one due of every charger."""
        if self._unsub_hand_back is not None:
            self._unsub_hand_back()
            self._unsub_hand_back = None
        if (retry_at := self._driver.next_hand_back_at()) is not None:
            self._unsub_hand_back = self._call_at(retry_at, self._on_hand_back_retry)

    @callback
    def _on_hand_back_retry(self, _now: datetime) -> None:
        self._unsub_hand_back = None
        self._hand_back()
        self._arm_hand_back_retry()  # another charger's, due later

    def controlled_by(self, charger_id: str) -> ControlledBy:
        """Who sets the charger's limit: this energy manager, the user (Manual), or nobody."""
        return self._driver.controlled_by(charger_id)

    @callback
    def async_take_over(self, charger_id: str) -> CALLBACK_TYPE:
        """A manual change of a charger, before it is written (also while the manager is off):
        one this manager controls becomes the user's (mode Manual), so no decision overwrites
        the change; a hand-back still due (one the charger refused, tried again later) is called
        off, so it does not either. Returns how to undo this if the change fails: the mode
        it had comes back, with a boost it ran (the takeover ended it), and so does the
        hand-back."""
        view = self.charger_view(charger_id)
        previous = (
            view.mode if self.controlled_by(charger_id) is ControlledBy.ENERGY_MANAGER else None
        )
        boost_until = view.boost_until
        if previous is not None:
            self._driver.take_over(charger_id)
            self._charger_settings_changed()
        if handing_back := self._driver.cancel_hand_back(charger_id):
            self._saver.async_schedule(self._dump, 0)  # not handed back after a restart either

        @callback
        def _undo() -> None:
            if previous is not None:
                # (A boost that ended meanwhile is dropped with the mode: EmsDriver._configure.)
                self.async_update_charger(charger_id, mode=previous, boost_until=boost_until)
            if handing_back:
                self._driver.hand_back_again(charger_id)
                self._hand_back()

        return _undo

    @callback
    def async_set_site_option(self, key: str, value: float | None) -> None:
        """A site setting changed by an entity (battery priority / floor SoC, cheap grid price):
        applied now and stored in the options, where the options step edits the same value."""
        options = {**self.entry.options, key: value}
        self.hass.config_entries.async_update_entry(self.entry, options=options)
        # The update listener applies it too, a moment later; do not wait for it.
        self._driver.set_site(site_settings(options))
        async_dispatcher_send(self.hass, self.signal)
        self.async_schedule_update(immediately=True)

    def vehicle_soc(self, charger_id: str) -> float | None:
        """The car's SoC now: the charger's reading, else its vehicle SoC sensor's (None: unknown,
        or no SoC a car can have)."""
        if (entry := self._chargers.get(charger_id)) is None:
            return None
        soc = self._charger_inputs(entry, _now()).vehicle_soc
        return soc.value if soc is not None and plausible_soc(soc.value) else None

    @callback
    def async_boost(self, charger_id: str, until: datetime | None) -> None:
        self._driver.boost(charger_id, None if until is None else until.timestamp())
        self._saver.async_schedule(self._dump, 0)  # a boost is the user's: never lost
        self.async_schedule_update(immediately=True)

    @property
    def solar_forecast(self) -> tuple[EnergySlot, ...]:
        """The PV forecast plans count on now (hourly Wh; empty: none)."""
        return self._forecast

    # --- events ----------------------------------------------------------------------------------
    @callback
    def _on_forecast_timer(self, _now: datetime | None = None) -> None:
        self.entry.async_create_background_task(
            self.hass, self._async_refresh_forecast(), f"{DOMAIN} ems solar forecast"
        )

    async def _async_refresh_forecast(self) -> None:
        if not self.enabled or self._stopped:
            return
        source = SOLAR_FORECAST.read(self.entry.options)
        read = await async_solar_forecast(self.hass, source, self._forecasts_failing)
        forecast = self._holds.solar(source, read, _now())
        if forecast != self._forecast:
            self._forecast = forecast
            # Rare (a new forecast every 15 min at most): plans follow it at once.
            self.async_schedule_update(immediately=True)

    @callback
    def _follow_sensors(self) -> None:
        if self._unsub_states is not None:
            self._unsub_states()
            self._unsub_states = None
        if not self.enabled:
            return
        entities = [
            entity_id for option in SENSOR_INPUTS if (entity_id := option.read(self.entry.options))
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
        self._driver.charger_changed(charger_id)
        self._hand_back()  # one that was offline at its hand-back, now back
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
        now = _now()
        limit = self._discharge_entity()
        self._inputs_seen = inputs = self._inputs(now)
        step = self._driver.step(inputs, now, None if limit is None else limit[1])
        if limit is not None and step.discharge_value is not None:
            self._create_discharge_task(limit[0], step.discharge_value)
        for charger_id, command in step.writes.items():
            self.entry.async_create_background_task(
                self.hass,
                self._async_write(charger_id, command),
                f"{DOMAIN} ems write {charger_id}",
            )
        self._set_input_issues(step.decision.stale_inputs, step.decision.inverted_inputs)
        self._wake_at(step.wake_at)
        self._saver.async_schedule(self._dump)
        async_dispatcher_send(self.hass, self.signal)

    def _state(self, option: EntityRef) -> State | None:
        entity_id = option.read(self.entry.options)
        return self.hass.states.get(entity_id) if entity_id else None

    def _inputs(self, now: float) -> SiteInputs:
        options = self.entry.options

        def power(option: EntityRef) -> Reading | None:
            return read_power(self._state(option), now) if option.read(options) else None

        def prices(option: EntityRef) -> tuple[PriceSlot, ...]:
            if not (entity_id := option.read(options)):
                return ()
            hold = self._price_holds[option]
            return price_slots(
                self._state(option),
                PRICE_FORECAST_ATTRIBUTE.read(options),
                now,
                lambda read, forecast: hold(entity_id, read, now, forecast=forecast),
            )

        phases = [option for option in GRID_CURRENTS if option.read(options)]
        return SiteInputs(
            grid_w=power(GRID_POWER),
            grid_currents_a=(
                read_phases([self._state(option) for option in GRID_CURRENTS], now)
                if phases
                else None
            ),
            pv_w=power(PV_POWER),
            pv_available_w=power(PV_AVAILABLE_POWER),
            battery_w=power(BATTERY_POWER),
            battery_soc=(
                read_value(self._state(BATTERY_SOC), now) if BATTERY_SOC.read(options) else None
            ),
            prices=prices(PRICE),
            feed_in_prices=prices(FEED_IN_PRICE_ENTITY),
            solar_forecast=self._forecast,
            chargers={
                charger_id: self._charger_inputs(entry, now)
                for charger_id, entry in self._chargers.items()
            },
            # Only a PV sensor needs it (asleep at night: PvSleep).
            sun_elevation_deg=(
                sun_elevation(self.hass, now)
                if PV_POWER.read(options) or PV_AVAILABLE_POWER.read(options)
                else None
            ),
        )

    def _charger_inputs(self, entry: ChargerConfigEntry, now: float) -> ChargerInputs:
        """The charger's inputs; the vehicle SoC from its sensor where the charger reports none
        (or an error code such as 255 %)."""
        inputs = charger_inputs(entry.runtime_data.coordinator.charger)
        soc_entity = entry.options.get(CONF_VEHICLE_SOC)
        reported = inputs.vehicle_soc
        if not soc_entity or (reported is not None and plausible_soc(reported.value)):
            return inputs
        charger_id = entry.runtime_data.charger_id
        state = self.hass.states.get(soc_entity)
        soc = read_vehicle_soc(state, now, self._soc_reports.get(charger_id))
        if soc.value is not None:
            self._soc_reports[charger_id] = soc
        return replace(inputs, vehicle_soc=soc)

    async def _async_write(self, charger_id: str, command: ChargerCommand) -> None:
        if (retry_at := await self._driver.write(charger_id, command)) is not None:
            self._wake_at(retry_at)

    # --- the home battery ------------------------------------------------------------------------
    def _discharge_entity(self) -> tuple[str, DischargeEntity] | None:
        """The inverter's discharge limit entity and its state (None: none configured or known,
        or unavailable: nothing written reaches the inverter, so it caps nothing)."""
        entity_id = BATTERY_DISCHARGE_LIMIT.read(self.entry.options)
        if (
            not entity_id
            or (state := self.hass.states.get(entity_id)) is None
            or state.state == STATE_UNAVAILABLE
        ):
            return None
        if (watts := watts_per_unit(state)) is None:
            # A limit in A or % (a "max discharge current") is no cap in W: left alone, as
            # without one (the battery's measured power still keeps it from the car).
            if entity_id not in self._warned_units:
                self._warned_units.add(entity_id)
                LOGGER.warning(
                    "Discharge limit %s is in %s, not a power unit: not used",
                    entity_id,
                    state.attributes.get("unit_of_measurement"),
                )
            return None
        return entity_id, DischargeEntity(
            value=parse_number(state.state),
            low=parse_number(state.attributes.get("min")),
            high=parse_number(state.attributes.get("max")),
            per_w=1.0 / watts,
        )

    @callback
    def _apply_discharge_limit(
        self, limit_w: float | None, now: float, *, force: bool = False
    ) -> None:
        """Give the inverter's discharge limit entity the controller's cap (None: its maximum)."""
        if (limit := self._discharge_entity()) is not None and (
            value := self._driver.discharge_write(limit_w, limit[1], now, force=force)
        ) is not None:
            self._create_discharge_task(limit[0], value)

    @callback
    def _create_discharge_task(self, entity_id: str, value: float) -> None:
        self.entry.async_create_background_task(
            self.hass,
            self._async_set_discharge_limit(entity_id, value),
            f"{DOMAIN} ems battery discharge limit",
        )

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
    def _call_at(self, when: float, action: Callable[[datetime], None]) -> CALLBACK_TYPE:
        """A timer for ``when`` (the driver's clock, ``_now``), run on the event loop's clock:
        it waits the time from now to then even if the wall clock goes back meanwhile (an NTP
        correction). Home Assistant's point-in-time timer waited for the wall clock to show
        ``when`` again: the jump longer. The driver moves its own times back when it sees one."""
        return async_call_later(self.hass, max(0.0, when - _now()) + _TIMER_SLACK_S, action)

    @callback
    def _wake_at(self, when: float) -> None:
        if self._unsub_wakeup is not None:
            self._unsub_wakeup()
        self._unsub_wakeup = self._call_at(when, self._on_wakeup)

    @callback
    def _on_wakeup(self, _now: datetime) -> None:
        self._unsub_wakeup = None
        self.async_schedule_update(immediately=True)

    @callback
    def _set_input_issues(self, stale: frozenset[str], inverted: frozenset[str]) -> None:
        """The repair issues of the inputs: stale ones (unavailable, silent, or in a unit that is
        no power), and meters whose sign looks inverted (stale too, with a repair of their own
        that says how to turn them round). Each names the entities the user picked."""
        options, states = self.entry.options, self.hass.states.get
        server = self.entry.title
        entry_id = self.entry.entry_id
        if stale := stale - inverted:
            self._set_issue(
                repair_issue_id(ISSUE_EMS_STALE_INPUTS, entry_id),
                ISSUE_EMS_STALE_INPUTS,
                {"server": server, "inputs": picked_inputs(stale, options, states)},
            )
        else:
            self._set_issue(
                repair_issue_id(ISSUE_EMS_STALE_INPUTS, entry_id), ISSUE_EMS_STALE_INPUTS, None
            )
        entities = [
            entity_id
            for name, option in ((GRID, GRID_POWER), (BATTERY, BATTERY_POWER))
            if name in inverted and (entity_id := option.read(options))
        ]
        self._set_issue(
            repair_issue_id(ISSUE_EMS_INVERTED_METER, entry_id),
            ISSUE_EMS_INVERTED_METER,
            {
                "server": server,
                "inputs": ", ".join(entities),
                "template": ", ".join(
                    f"`{{{{ -(states('{entity_id}') | float(0)) }}}}`" for entity_id in entities
                ),
            }
            if entities
            else None,
        )

    @callback
    def _set_issue(self, issue_id: str, key: str, placeholders: dict[str, str] | None) -> None:
        """Raise the repair issue with these placeholders (None: delete it)."""
        if issue_id in self._issues and self._issues[issue_id] == placeholders:
            return
        self._issues[issue_id] = placeholders
        async_show_state_issue(
            self.hass, issue_id, None if placeholders is None else (key, placeholders)
        )
