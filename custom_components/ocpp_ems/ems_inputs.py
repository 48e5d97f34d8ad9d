"""Translation between Home Assistant and the energy manager's plain inputs and settings.

Pure functions: server entry options -> :class:`SiteSettings`, HA states -> :class:`Reading`,
the charger model -> :class:`ChargerInputs` (the power mix that splits a session's energy by source
is the core's, ``core/ems/energy_split.py``, named here too), HA's energy platform solar forecast
-> hourly :class:`EnergySlot` (:func:`async_solar_forecast`, the one reader that awaits). The
runtime (``energy_manager.py``) wires them to events.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from astral.sun import elevation as astral_elevation  # type: ignore[import-untyped]
from homeassistant.components.energy.data import async_get_manager
from homeassistant.components.energy.websocket_api import async_get_energy_platforms
from homeassistant.const import (
    STATE_UNAVAILABLE,
    STATE_UNKNOWN,
    UnitOfElectricCurrent,
    UnitOfPower,
)
from homeassistant.core import HomeAssistant, State
from homeassistant.helpers.dispatcher import async_dispatcher_send
from homeassistant.helpers.sun import get_astral_observer
from homeassistant.util import dt as dt_util
from homeassistant.util.hass_dict import HassKey
from homeassistant.util.unit_conversion import (
    BaseUnitConverter,
    ElectricCurrentConverter,
    PowerConverter,
)

from .const import DOMAIN, LOGGER
from .core.ems import (
    ChargerInputs,
    EnergySlot,
    PhaseReading,
    PriceSlot,
    Reading,
    SiteSettings,
)
from .core.ems import options as ems_options
from .core.ems.types import slot_at
from .core.model import Charger, ConnectorStatus, PhaseValues
from .core.numbers import parse_number
from .core.tariff import per_kwh_factor

# Keys price integrations use in their forecast lists (Nord Pool, ENTSO-E, Tibber, EPEX Spot,
# Octopus...).
_START_KEYS = ("start", "start_time", "startsAt", "from", "begin", "time", "valid_from")
_END_KEYS = ("end", "end_time", "endsAt", "till", "to", "valid_to")
_PRICE_KEYS = ("price", "value", "total", "price_per_kwh", "price_ct_per_kwh", "value_inc_vat")
# Forecast attributes looked at when none is configured (today's and tomorrow's lists).
_FORECAST_ATTRIBUTES = (
    "raw_today",
    "raw_tomorrow",
    "prices_today",
    "prices_tomorrow",
    "today",
    "tomorrow",
    "prices",
    "forecast",
    "data",
    "rates",
)
# Larger numbers are epoch milliseconds, not seconds.
_EPOCH_MS = 1e11
# The latest time taken from a forecast (the year 2286).
_LAST_TIME = 1e10

# Sent when the Energy dashboard's settings change (``async_follow_energy_dashboard``).
SIGNAL_ENERGY_DASHBOARD: Final = f"{DOMAIN}_energy_dashboard"
_FOLLOWING_ENERGY_DASHBOARD: HassKey[bool] = HassKey(f"{DOMAIN}_following_energy_dashboard")


def site_settings(options: Mapping[str, Any]) -> SiteSettings:
    """The site settings of a server entry's energy manager options (defaults where unset):
    read through the options table, ``core/ems/options.py``."""
    return ems_options.site_settings(options)


def _number(state: State) -> float | None:
    if state.state in (STATE_UNAVAILABLE, STATE_UNKNOWN):
        return None
    return parse_number(state.state)


def _measured_at(state: State) -> float:
    # last_reported moves on every report, also of an unchanged value (a steady meter is fresh).
    return state.last_reported.timestamp()


def sun_elevation(hass: HomeAssistant, now: float) -> float:
    """The sun's elevation (degrees) at Home Assistant's location at ``now``: a PV sensor missing
    while the sun is low is an inverter asleep (``core.ems.pv_sleep``)."""
    return float(astral_elevation(get_astral_observer(hass), datetime.fromtimestamp(now, UTC)))


def read_value(state: State | None, now: float) -> Reading:
    """A plain reading (A, %); a missing entity reads as unavailable now."""
    if state is None:
        return Reading(None, now)
    return Reading(_number(state), _measured_at(state))


def read_vehicle_soc(state: State | None, now: float, last: Reading | None = None) -> Reading:
    """A vehicle SoC sensor's reading, as of when its value last changed; ``last`` (the report
    before) when the value is the same: a car's integration that writes its cached SoC again, or
    brings it back after a spell of unavailable, has no new report (the SoC estimate goes on
    from the last one, ``demand.vehicle_soc``)."""
    if state is None:
        return Reading(None, now)
    value = _number(state)
    if last is not None and value is not None and value == last.value:
        return last
    return Reading(value, state.last_changed.timestamp())


def _per_unit(state: State, converter: type[BaseUnitConverter], base: str) -> float | None:
    """``base`` units per unit of the entity's state (no unit: ``base``); None for a unit the
    converter does not know, or one that is no text (attributes can hold anything)."""
    unit = state.attributes.get("unit_of_measurement")
    if unit in (None, ""):
        return 1.0
    if not isinstance(unit, str) or unit not in converter.VALID_UNITS:
        return None
    return converter.convert(1.0, unit, base)


def watts_per_unit(state: State) -> float | None:
    """W per unit of a power entity's state (no unit: W); None for a unit that is no power
    (kWh, A, %, a misspelt ``kw``): never taken for W (a 20 kW import would read as 20 W)."""
    return _per_unit(state, PowerConverter, UnitOfPower.WATT)


def _read_converted(state: State | None, now: float, per_unit: float | None) -> Reading:
    """The reading in the base unit (``per_unit`` None: a unit that is none of its kind, so the
    input counts as unavailable and the stale-input repair names it)."""
    reading = read_value(state, now)
    if reading.value is None:
        return reading
    return Reading(None if per_unit is None else reading.value * per_unit, reading.at)


def read_power(state: State | None, now: float) -> Reading:
    """A power reading in W, whatever power unit the sensor uses."""
    return _read_converted(state, now, None if state is None else watts_per_unit(state))


def amperes_per_unit(state: State) -> float | None:
    """A per unit of a current entity's state (no unit: A); None for a unit that is no current."""
    return _per_unit(state, ElectricCurrentConverter, UnitOfElectricCurrent.AMPERE)


def read_current(state: State | None, now: float) -> Reading:
    """A current reading in A, whatever current unit the sensor uses (A, mA; none: A)."""
    return _read_converted(state, now, None if state is None else amperes_per_unit(state))


# The controller's names of its inputs (``Decision.stale_inputs``) and the options that pick them.
_PICKED_BY: Final[Mapping[str, tuple[ems_options.EntityRef, ...]]] = {
    "grid_power": (ems_options.GRID_POWER,),
    "grid_currents": ems_options.GRID_CURRENTS,
    **{
        f"grid_current_l{line}": (option,)
        for line, option in enumerate(ems_options.GRID_CURRENTS, start=1)
    },
    "pv_power": (ems_options.PV_POWER,),
    "pv_available_power": (ems_options.PV_AVAILABLE_POWER,),
    "battery_power": (ems_options.BATTERY_POWER,),
    "battery_soc": (ems_options.BATTERY_SOC,),
}
# How each kind of input reads its unit (None: not a unit of that kind).
_UNIT_READERS: Final[Mapping[str, Callable[[State], float | None]]] = {
    "power": watts_per_unit,
    "current": amperes_per_unit,
}


def picked_inputs(
    names: Iterable[str], options: Mapping[str, Any], state: Callable[[str], State | None]
) -> str:
    """The controller's inputs ``names`` as the user picked them, for a repair's text: each
    entity id, with its unit in brackets where that is no unit of the input's kind (an energy
    counter in kWh picked for a power reads as unavailable); a name no entity is picked for
    stays as it is."""
    shown: list[str] = []
    for name in names:
        picked = [
            (option, entity_id)
            for option in _PICKED_BY.get(name, ())
            if (entity_id := option.read(options))
        ]
        if not picked:
            shown.append(name)
        for option, entity_id in picked:
            shown.append(entity_id + _wrong_unit(option, state(entity_id)))
    return ", ".join(sorted(set(shown)))  # each once (grid_currents and its lines)


def _wrong_unit(option: ems_options.EntityRef, state: State | None) -> str:
    """The entity's unit in brackets where it is none of the option's kind, else nothing."""
    reader = _UNIT_READERS.get(option.device_class or "")
    if state is None or reader is None or reader(state) is not None:
        return ""
    return f" ({state.attributes.get('unit_of_measurement')})"


def read_phases(states: Sequence[State | None], now: float) -> PhaseReading:
    """Per-phase currents L1..L3 in A; as old as the oldest of them."""
    readings = [read_current(state, now) for state in states]
    values = tuple(r.value for r in readings) + (None,) * (3 - len(readings))
    return PhaseReading(
        (values[0], values[1], values[2]), min((r.at for r in readings), default=now)
    )


def _timestamp(value: Any) -> float | None:
    """A time from another integration's data (None: none, or one that cannot be: 2026-02-30,
    25:00, an offset of +99:00, a date that leaves the calendar once in UTC, or one before 1970
    or after _LAST_TIME, which timers and sensors could not take)."""
    stamp: float | None = None
    try:
        if isinstance(value, datetime):
            stamp = dt_util.as_utc(value).timestamp()
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            stamp = float(value) / 1000.0 if abs(value) > _EPOCH_MS else float(value)
        elif isinstance(value, str) and (parsed := dt_util.parse_datetime(value)) is not None:
            stamp = dt_util.as_utc(parsed).timestamp()
    except (ValueError, OverflowError):
        return None
    return stamp if stamp is not None and 0.0 <= stamp <= _LAST_TIME else None


def _first(item: Mapping[str, Any], keys: Sequence[str]) -> Any:
    return next((item[key] for key in keys if key in item), None)


def price_slots(
    state: State | None,
    attribute: str | None,
    now: float,
    hold: Callable[[tuple[PriceSlot, ...], bool], tuple[PriceSlot, ...]] = lambda read, _: read,
) -> tuple[PriceSlot, ...]:
    """Price slots from a price sensor: the items of its forecast attributes and its state as the
    price of the current slot, through ``hold`` (``core/ems/forecast_hold.py``: it keeps the last
    forecast while the sensor gives none; told whether any forecast item was read, so a sensor
    that shows its price but, reloading or its cloud failing, no forecast does not replace the
    held forecast with that one slot).

    ``attribute`` names one or more attributes (comma separated, e.g. ``raw_today, raw_tomorrow``);
    unset, the common names are tried. Items are mappings with a start, an optional end and a
    price in any of the common spellings, at any resolution; anything unreadable is skipped.
    Prices come out per kWh in the currency's main unit (``core/tariff.py``: ct/kWh / 100,
    EUR/MWh / 1000), as the fixed prices of the options are given: the plan weighs the two
    against each other. A unit that is no price per energy leaves them as they are (they still
    rank the slots).
    """
    if state is None:
        return ()
    factor = per_kwh_factor(state.attributes.get("unit_of_measurement"))
    if factor is None:
        factor = 1.0
    names = (
        [name.strip() for name in attribute.split(",") if name.strip()]
        if attribute
        else list(_FORECAST_ATTRIBUTES)
    )
    parsed: list[tuple[float, float | None, float]] = []
    for name in names:
        items = state.attributes.get(name)
        for item in items if isinstance(items, list) else []:
            if isinstance(item, Mapping) and (slot := _slot(item)) is not None:
                parsed.append(slot)
    # The same slot may be listed twice (two attributes, with and without an end): once, the
    # one with an end (an end never compares with None).
    parsed.sort(key=lambda slot: (slot[0], slot[1] is None))
    starts = sorted({start for start, _, _ in parsed})
    slots: list[PriceSlot] = []
    for start, given_end, price in parsed:
        if slots and slots[-1].start == start:
            continue  # a copy (its twin with an end came first, and was valid)
        end = given_end
        if end is None:  # no end given: up to the next slot, else one hour
            following = bisect.bisect_right(starts, start)
            end = starts[following] if following < len(starts) else start + 3600.0
        if end > start:
            slots.append(PriceSlot(start, end, price * factor))
    forecast = bool(slots)
    current = _number(state)
    if current is not None and slot_at(slots, now) is None:
        # The state is the price now, until the next known slot (at most an hour).
        end = min((s.start for s in slots if s.start > now), default=now + 3600.0)
        slots.append(PriceSlot(now, min(end, now + 3600.0), current * factor))
    return hold(tuple(sorted(slots, key=lambda s: s.start)), forecast)


def _slot(item: Mapping[str, Any]) -> tuple[float, float | None, float] | None:
    start = _timestamp(_first(item, _START_KEYS))
    price = parse_number(_first(item, _PRICE_KEYS))
    if start is None or price is None:
        return None
    return start, _timestamp(_first(item, _END_KEYS)), price


def _when(charger: Charger, at: datetime | None) -> float:
    """When a meter time of the charger was on our clock. A charger's clock may be wrong: one
    known to be behind (``clock_skew_s`` < 0, its live readings show how far) is moved on by that
    much, so a live reading is as of when we received it and a queued one as old as it is; a time
    in the future is when we heard it (the core replaced a clock ahead's times by that already)."""
    seen = charger.last_seen or at
    if at is None or seen is None:
        return dt_util.utcnow().timestamp()
    skew = charger.clock_skew_s
    if skew is not None and skew < 0:
        at -= timedelta(seconds=skew)
    return min(at, seen).timestamp()


def charger_inputs(charger: Charger) -> ChargerInputs:
    """What the energy manager needs of one charger, read from the core's model."""
    outlets = charger.outlets
    # A car in a transaction with an id tag we did not accept does not want current (the core
    # stops that transaction): it counts as not plugged in.
    plugged = any(
        c.status.plugged_in and (c.transaction is None or c.transaction.authorized) for c in outlets
    )
    charging = [c for c in outlets if c.status.charging]
    measured = [c for c in outlets if c.meter.timestamp is not None]
    power: Reading | None = None
    currents: PhaseReading | None = None
    offered: float | None = None
    soc: Reading | None = None
    if measured:
        latest = max(measured, key=lambda c: c.meter.timestamp or datetime.min)
        at = _when(charger, latest.meter.timestamp)
        watts = [c.meter.power_w for c in measured if c.meter.power_w is not None]
        power = Reading(sum(watts), at) if watts else None
        if latest.meter.current_a.l1 is not None:
            # The station's draw: its outlets' currents added up, line by line.
            currents = PhaseReading(_line_sums([c.meter.current_a for c in measured]), at)
        offered = latest.meter.offered_current_a
        if latest.meter.soc_percent is not None:
            soc = Reading(latest.meter.soc_percent, at)
    phases = max((c.meter.current_a.active_phases() for c in charging), default=0)
    session = [c.transaction.energy_wh for c in outlets if c.transaction is not None]
    return ChargerInputs(
        connected=charger.connected and charger.booted,
        plugged=plugged,
        charging=bool(charging),
        power_w=power,
        currents_a=currents,
        offered_a=offered,
        phases_in_use=phases or None,
        vehicle_soc=soc,
        session_energy_wh=sum(session) if session else None,
        # The car says it takes nothing (full, or its own limit): the manager counts it at 0.
        ev_suspended=not charging
        and any(c.status is ConnectorStatus.SUSPENDED_EV for c in outlets),
    )


def _line_sums(values: list[PhaseValues]) -> tuple[float | None, float | None, float | None]:
    """Each line's current added up over ``values`` (a line none reported: None)."""
    l1, l2, l3 = (
        sum(found) if (found := [v for v in line if v is not None]) else None
        for line in zip(*((v.l1, v.l2, v.l3) for v in values), strict=True)
    )
    return l1, l2, l3


async def async_follow_energy_dashboard(hass: HomeAssistant) -> None:
    """Send ``SIGNAL_ENERGY_DASHBOARD`` whenever the Energy dashboard's settings change (a solar
    forecast added to its panels: plans count on it at once, not at the next refresh). Listened
    to once per run: HA's energy manager has no way to stop listening, so the energy managers
    come and go on the signal instead."""
    if hass.data.get(_FOLLOWING_ENERGY_DASHBOARD):
        return
    hass.data[_FOLLOWING_ENERGY_DASHBOARD] = True

    async def _changed() -> None:
        async_dispatcher_send(hass, SIGNAL_ENERGY_DASHBOARD)

    (await async_get_manager(hass)).async_listen_updates(_changed)


async def energy_dashboard_forecasts(hass: HomeAssistant) -> list[str]:
    """The solar forecast config entries of the Energy dashboard's solar sources."""
    prefs = (await async_get_manager(hass)).data
    entries: list[str] = []
    for source in prefs["energy_sources"] if prefs else []:
        if source["type"] == "solar":
            entries += source.get("config_entry_solar_forecast") or []
    return list(dict.fromkeys(entries))  # each once, in order


async def async_solar_forecast(
    hass: HomeAssistant, entry_id: str | None, failing: set[str] | None = None
) -> tuple[EnergySlot, ...]:
    """The PV forecast departure plans count on: the picked config entry's (``entry_id``), else
    the Energy dashboard's (several solar sources: their sum), read through HA's energy platform
    (``async_get_solar_forecast`` of Forecast.Solar, Solcast...). Empty when there is none; an
    integration whose forecast raises gives none, logged as a warning once while it keeps
    failing (``failing``: the entries failing since the caller's last read)."""
    entry_ids = [entry_id] if entry_id else await energy_dashboard_forecasts(hass)
    if not entry_ids:
        return ()
    platforms = await async_get_energy_platforms(hass)
    slots: list[EnergySlot] = []
    for forecast_entry in entry_ids:
        entry = hass.config_entries.async_get_entry(forecast_entry)
        if entry is None or (get_forecast := platforms.get(entry.domain)) is None:
            LOGGER.debug("Solar forecast %s: no such entry with a forecast", forecast_entry)
            continue
        try:
            forecast = await get_forecast(hass, forecast_entry)
        except Exception as err:  # another integration's bug must not stop the energy manager
            first = failing is None or forecast_entry not in failing
            log = LOGGER.warning if first else LOGGER.debug
            log("Solar forecast of %s failed: %r", entry.title, err)
            if failing is not None:
                failing.add(forecast_entry)
            continue
        if failing is not None:
            failing.discard(forecast_entry)
        slots += forecast_slots(forecast)
    return tuple(sorted(slots, key=lambda slot: slot.start))


def forecast_slots(forecast: Mapping[str, Any] | None) -> list[EnergySlot]:
    """``{"wh_hours": {iso time: Wh}}`` (the energy platform's shape) as slots: each value is the
    energy of the period starting then, up to the next one (at most an hour)."""
    hours = forecast.get("wh_hours") if isinstance(forecast, Mapping) else None
    points = sorted(
        (start, wh)
        for key, value in (hours.items() if isinstance(hours, Mapping) else ())
        if (start := _timestamp(key)) is not None and (wh := parse_number(value)) is not None
    )
    slots = []
    for index, (start, wh) in enumerate(points):
        following = points[index + 1][0] if index + 1 < len(points) else start + 3600.0
        slots.append(EnergySlot(start, min(following, start + 3600.0), max(wh, 0.0)))
    return slots
