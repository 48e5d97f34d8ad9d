"""What a household wants to know about a charging session, in one place for the sensors, the
session-ended event and the sessions log: who charged (id tag and its friendly name), when and how
long, how much energy and from which source, and what it cost.

The core costs the energy as it arrives (``core.meter``), at the prices the charger model held
when it was drawn (``core.tariff.PriceHistory``); :class:`SessionPriceFollower` keeps that price in
step with the user's fixed price or price entity (converted to currency per kWh by
``core.tariff``), and through the price entity's outages at the price its last forecast gave for
the time (``core.ems.forecast_hold``), stored per charger so that an outage going on across a
restart is costed too.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from homeassistant.core import Event, EventStateChangedData, HomeAssistant, State, callback
from homeassistant.helpers.event import (
    async_track_point_in_utc_time,
    async_track_state_change_event,
)
from homeassistant.helpers.start import async_at_started
from homeassistant.helpers.storage import Store
from homeassistant.util import dt as dt_util

from .const import DOMAIN, LOGGER, STORAGE_VERSION
from .coordinator import ChargerConfigEntry
from .core.ems import options as ems_options
from .core.ems.energy_split import SessionSplit, split_session
from .core.ems.forecast_hold import price_hold
from .core.ems.types import slot_at
from .core.model import Charger, Transaction
from .core.tariff import AnnouncedPrice, price_per_kwh
from .ems_entity import ems_of
from .ems_inputs import price_slots
from .hub import id_tag_name

# The price source that is the server's fixed session price (else a price entity's id).
_FIXED_PRICE = "fixed"


@dataclass(frozen=True, kw_only=True)
class SessionFacts:
    """One session as the user sees it (energies in Wh; cost in ``currency``)."""

    transaction_id: str
    connector_id: int
    id_tag: str | None
    # The tag's friendly name from the id tag list, else the tag itself.
    user: str | None
    started_at: datetime
    ended_at: datetime | None
    duration_s: int
    energy_wh: float
    cost: float | None
    currency: str
    stop_reason: str | None
    # By source (the energy manager's split); None without the energy manager.
    energy_solar_wh: float | None = None
    energy_battery_wh: float | None = None
    energy_grid_wh: float | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready values (event attributes, the sessions log)."""
        return {
            "transaction_id": self.transaction_id,
            "connector_id": self.connector_id,
            "id_tag": self.id_tag,
            "user": self.user,
            "started_at": self.started_at.isoformat(),
            "ended_at": None if self.ended_at is None else self.ended_at.isoformat(),
            "duration_s": self.duration_s,
            "energy_wh": round(self.energy_wh, 1),
            "cost": None if self.cost is None else round(self.cost, 4),
            "currency": self.currency,
            "stop_reason": self.stop_reason,
            "energy_solar_wh": _rounded(self.energy_solar_wh),
            "energy_battery_wh": _rounded(self.energy_battery_wh),
            "energy_grid_wh": _rounded(self.energy_grid_wh),
        }


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def session_facts(entry: ChargerConfigEntry, transaction: Transaction) -> SessionFacts:
    """The facts of ``transaction`` (running or ended) of the entry's charger."""
    runtime = entry.runtime_data
    server_entry = runtime.server_entry
    name = id_tag_name(server_entry, transaction.id_tag)
    solar = battery = grid = None
    ems = ems_of(entry)
    if ems is not None:
        view = ems.charger_view(runtime.charger_id)
        if view.transaction_id == transaction.transaction_id:
            # Brought up to the session's energy now (the manager's next cycle would do the same).
            split = split_session(
                view.split,
                transaction_id=transaction.transaction_id,
                energy_wh=transaction.energy_wh,
                mix=view.mix,
            )
            solar, battery, grid = _own_share(split, transaction.energy_wh)
    return SessionFacts(
        transaction_id=transaction.transaction_id,
        connector_id=transaction.connector_id,
        id_tag=transaction.id_tag,
        user=name or transaction.id_tag,
        started_at=transaction.started_at,
        ended_at=transaction.ended_at,
        duration_s=round(transaction.duration_s(dt_util.utcnow())),
        energy_wh=transaction.energy_wh,
        cost=transaction.cost,
        currency=entry.runtime_data.coordinator.hass.config.currency,
        stop_reason=transaction.stop_reason,
        energy_solar_wh=solar,
        energy_battery_wh=battery,
        energy_grid_wh=grid,
    )


def _own_share(split: SessionSplit, energy_wh: float) -> tuple[float, float, float]:
    """The split's solar, battery and grid energy, for a session of ``energy_wh``. The manager
    splits a charger's sessions together (the sum of its outlets' energy): one outlet's session
    gets the charger's mix for its own energy only, never its neighbour's."""
    total = split.solar_wh + split.battery_wh + split.grid_wh
    scale = energy_wh / total if total > energy_wh else 1.0
    return split.solar_wh * scale, split.battery_wh * scale, split.grid_wh * scale


def _price_store(hass: HomeAssistant, entry_id: str) -> Store[dict[str, Any]]:
    """Where a charger's :class:`SessionPriceFollower` keeps the price forecast it holds."""
    return Store(hass, STORAGE_VERSION, f"{DOMAIN}.{entry_id}.session_price")


async def async_remove_price_store(hass: HomeAssistant, entry_id: str) -> None:
    """The held price forecast goes with its charger entry."""
    await _price_store(hass, entry_id).async_remove()


class SessionPriceFollower:
    """Keeps a charger model's energy price at the server's fixed session price or, without one,
    at its price entity's state in currency per kWh. While the entity gives no price
    (unavailable, unknown), the price its last forecast gave for the time is used, for as long as
    the forecast rule holds it (``core.ems.forecast_hold``); with none, the price is None and
    the energy of that time is not costed. The forecast held is stored whenever it changes (a
    new publication, a new state without a forecast): kill -9 included, an outage that goes on
    across a restart, or the time before the price integration is up again, is costed at it. The
    forecast is also kept with the charger's prices (``PriceHistory.announce``): the time Home
    Assistant itself is down is costed at the prices it announced (``PriceHistory.fill_unseen``)."""

    def __init__(self, hass: HomeAssistant, entry: ChargerConfigEntry) -> None:
        self._hass = hass
        # The currency the cost sensor shows (fixed when it was set up): a price in another is
        # never costed as this one.
        self._currency = hass.config.currency
        self._entry = entry
        self._charger: Charger = entry.runtime_data.coordinator.charger
        self._unsub_state: Any = None
        self._unsub_slot_end: Any = None
        self._entity_id: str | None = None
        self._warned_unit: str | None = None
        # As plans hold prices, but only slots not over yet (now's price is the slot covering it).
        self._hold = price_hold(
            f"price sensor (session costs of {entry.runtime_data.charger_id})", past_s=0.0
        )
        # The entity's last state that gave a price: read again when an outage begins, as the
        # price up to that moment.
        self._last_priced: State | None = None
        self._store = _price_store(hass, entry.entry_id)
        self._stored: dict[str, Any] | None = None  # the hold of before the restart, once
        self._saved: tuple[Any, Any] | None = None  # the source and slots last written

    async def async_start(self) -> None:
        """Follow the options (the server's update listener) and the price entity."""
        stored = await self._store.async_load()
        self._stored = stored if isinstance(stored, dict) else None
        server_entry = self._entry.runtime_data.server_entry
        self._entry.async_on_unload(server_entry.add_update_listener(self._async_options_updated))
        self._entry.async_on_unload(self._stop)
        # Price integrations may come up after us: read again once Home Assistant has started.
        self._entry.async_on_unload(async_at_started(self._hass, self._on_started))
        self._follow()

    @callback
    def _stop(self) -> None:
        if self._unsub_state is not None:
            self._unsub_state()
            self._unsub_state = None
        self._cancel_slot_end()

    @callback
    def _cancel_slot_end(self) -> None:
        if self._unsub_slot_end is not None:
            self._unsub_slot_end()
            self._unsub_slot_end = None

    async def _async_options_updated(self, _hass: HomeAssistant, _entry: Any) -> None:
        self._follow()

    @callback
    def _on_started(self, _hass: HomeAssistant) -> None:
        self._follow()

    @callback
    def _follow(self) -> None:
        options = self._entry.runtime_data.server_entry.options
        fixed = ems_options.SESSION_PRICE.read(options)
        entity_id = None if fixed is not None else ems_options.PRICE.read(options)
        # The prices of another source are not this one's: it counts back from its first.
        self._charger.energy_prices.follow(_FIXED_PRICE if fixed is not None else entity_id)
        if entity_id != self._entity_id:
            self._stop()
            self._entity_id, self._last_priced = entity_id, None
            if entity_id is not None:
                self._unsub_state = async_track_state_change_event(
                    self._hass, [entity_id], self._on_state
                )
                if self._stored is not None:
                    # A hold of another entity is dropped at its first use.
                    self._hold.load(self._stored)
                    self._stored = None
        if fixed is not None:
            self._charger.energy_price = fixed
        else:
            self._update()

    @callback
    def _on_state(self, _event: Event[EventStateChangedData]) -> None:
        self._update()

    @callback
    def _on_slot_end(self, _now: datetime) -> None:
        self._unsub_slot_end = None
        self._update()

    @callback
    def _update(self) -> None:
        self._cancel_slot_end()
        entity_id = self._entity_id
        state = self._hass.states.get(entity_id) if entity_id else None
        price = None
        if state is not None:
            unit = state.attributes.get("unit_of_measurement")
            price = price_per_kwh(state.state, unit, self._currency)
            if price is None and state.state not in ("unknown", "unavailable"):
                self._warn_unit(state.entity_id, unit)
        if entity_id is not None and price is None:
            price = self._held_price(entity_id)
        elif price is not None:
            self._last_priced = state
            self._read_forecast(state)
        self._charger.energy_price = price

    def _read_forecast(self, state: State | None) -> None:
        now = dt_util.utcnow().timestamp()
        options = self._entry.runtime_data.server_entry.options
        attribute = ems_options.PRICE_FORECAST_ATTRIBUTE.read(options)
        price_slots(
            state,
            attribute,
            now,
            lambda read, forecast: self._hold(self._entity_id, read, now, forecast=forecast),
        )
        # Kept with the charger's prices: the time Home Assistant is down is costed by it.
        utc = dt_util.utc_from_timestamp
        self._charger.energy_prices.announce(
            (AnnouncedPrice(utc(s.start), utc(s.end), s.price) for s in self._hold.announced),
            utc(now),
        )
        data = self._hold.to_dict()
        if (data["source"], data["slots"]) != self._saved:
            self._saved = (data["source"], data["slots"])
            self._hass.async_create_task(self._store.async_save(data), f"save {self._store.key}")

    def _held_price(self, entity_id: str) -> float | None:
        """The price the entity's last forecast gives for now (None: none held); looked at
        again when that slot ends, the next held one begins or the hold runs out."""
        if self._last_priced is not None:
            # The outage begins: the last price held up to now.
            self._read_forecast(self._last_priced)
            self._last_priced = None
        now = dt_util.utcnow().timestamp()
        held = self._hold(entity_id, (), now)
        slot = slot_at(held, now)
        wake = slot.end if slot is not None else min((s.start for s in held), default=None)
        if wake is not None and (until := self._hold.held_until) is not None:
            wake = min(wake, until + 1.0)
            self._unsub_slot_end = async_track_point_in_utc_time(
                self._hass, self._on_slot_end, dt_util.utc_from_timestamp(wake)
            )
        return None if slot is None else slot.price

    def _warn_unit(self, entity_id: str, unit: Any) -> None:
        if self._warned_unit != unit:
            self._warned_unit = unit
            LOGGER.warning(
                "%s: the price %s (unit %s) is no price per energy in %s; sessions are not costed",
                self._entry.runtime_data.charger_id,
                entity_id,
                unit,
                self._currency,
            )
