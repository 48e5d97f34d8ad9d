"""Sensors of a server entry, on the server's own device: the last refused connection, the secure
connection's CA fingerprint and server certificate expiry (while TLS is on), and the site's values
while the energy manager runs (one value for all the server's chargers, so here and not on every
charger's device).

The site sensors show what the energy manager saw and decided at its latest decision: the
available surplus, the grid, PV and battery readings it used (each only where its sensor is
picked in the options), the chargers' total power, its own state, and (with a price sensor
picked) until when the grid is cheap enough to charge from (the cheap grid price).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from homeassistant.components.sensor import (
    SensorDeviceClass,
    SensorEntity,
    SensorEntityDescription,
    SensorStateClass,
)
from homeassistant.config_entries import ConfigEntry
from homeassistant.const import PERCENTAGE, EntityCategory, Platform, UnitOfPower
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.dispatcher import async_dispatcher_connect
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.helpers.event import async_call_later
from homeassistant.helpers.typing import StateType
from homeassistant.util import dt as dt_util

from .const import DOMAIN
from .coordinator import ServerConfigEntry
from .core.ems import Reading, SiteInputs
from .core.ems.options import (
    BATTERY_POWER,
    BATTERY_SOC,
    GRID_POWER,
    PRICE,
    PV_POWER,
    EntityRef,
)
from .core.guard import Refusal, RefusalReason
from .ems_entity import EmsSiteEntity, server_device_info
from .energy_manager import EnergyManagerRuntime
from .security import ServerSecurity

LAST_REFUSAL = SensorEntityDescription(
    key="last_refused_connection",
    translation_key="last_refused_connection",
    device_class=SensorDeviceClass.TIMESTAMP,
    entity_category=EntityCategory.DIAGNOSTIC,
)
# The reasons the ``reason`` attribute can take (translated under state_attributes).
REFUSAL_REASONS = [str(reason) for reason in RefusalReason]

# The energy manager's own state.
EMS_OFF = "off"  # not enabled in the server's options
EMS_IDLE = "idle"  # enabled, no decision yet (no charger under it)
EMS_RUNNING = "running"
EMS_STALE = "stale_inputs"  # an input is unavailable or too old: the chargers' fallback applies
EMS_STATES = [EMS_OFF, EMS_IDLE, EMS_RUNNING, EMS_STALE]


@dataclass(frozen=True, kw_only=True)
class SiteSensorDescription(SensorEntityDescription):
    """A site value of the server's energy manager."""

    value_fn: Callable[[EnergyManagerRuntime], StateType | datetime]
    # Only where this input is picked in the server's options (None: always).
    option: EntityRef | None = None
    attributes_fn: Callable[[EnergyManagerRuntime], dict[str, Any]] | None = None
    # Shown while the energy manager is off too (its state says so).
    always_available: bool = False


def _reading(
    field: Callable[[SiteInputs], Reading | None],
) -> Callable[[EnergyManagerRuntime], float | None]:
    """The value of an input as the energy manager read it at its latest decision."""

    def value(ems: EnergyManagerRuntime) -> float | None:
        inputs = ems.site_inputs
        reading = None if inputs is None else field(inputs)
        return None if reading is None or reading.value is None else round(reading.value, 1)

    return value


def _surplus(ems: EnergyManagerRuntime) -> float | None:
    decision = ems.site_decision
    return None if decision is None or decision.surplus_w is None else round(decision.surplus_w, 1)


def _charging_power(ems: EnergyManagerRuntime) -> float | None:
    """What all the server's connected chargers draw together (as their meters last reported)."""
    if (inputs := ems.site_inputs) is None:
        return None
    readings = [charger.power_w for charger in inputs.chargers.values() if charger.connected]
    return round(sum((r.value for r in readings if r is not None and r.value is not None), 0.0), 1)


def _cheap_grid_until(ems: EnergyManagerRuntime) -> datetime | None:
    """The end of the cheap price run now lies in (unknown: not cheap now, or no cheap price
    set), whatever each car's reason shows (a fuse-limited car says so instead)."""
    decision = ems.site_decision
    if decision is None or decision.cheap_grid_until is None:
        return None
    return dt_util.utc_from_timestamp(math.ceil(decision.cheap_grid_until))


def _ems_state(ems: EnergyManagerRuntime) -> str:
    if not ems.enabled:
        return EMS_OFF
    if (decision := ems.site_decision) is None:
        return EMS_IDLE
    return EMS_STALE if decision.stale_inputs else EMS_RUNNING


def _ems_attributes(ems: EnergyManagerRuntime) -> dict[str, Any]:
    decision = ems.site_decision
    return {
        "stale_inputs": [] if decision is None else sorted(decision.stale_inputs),
        # Forecasts whose source gives none now: plans go on with the last one.
        "forecasts_held": sorted(ems.held_forecasts()),
    }


def _power(
    key: str, value_fn: Callable[[EnergyManagerRuntime], StateType], **kwargs: Any
) -> SiteSensorDescription:
    return SiteSensorDescription(
        key=key,
        translation_key=key,
        device_class=SensorDeviceClass.POWER,
        native_unit_of_measurement=UnitOfPower.WATT,
        suggested_display_precision=0,
        value_fn=value_fn,
        **kwargs,
    )


SITE_SENSORS: tuple[SiteSensorDescription, ...] = (
    SiteSensorDescription(
        key="ems_state",
        translation_key="ems_state",
        device_class=SensorDeviceClass.ENUM,
        options=EMS_STATES,
        value_fn=_ems_state,
        attributes_fn=_ems_attributes,
        always_available=True,
    ),
    # What all cars could use without grid import, as measured now (never more than the PV).
    _power("available_surplus", _surplus, state_class=SensorStateClass.MEASUREMENT),
    _power("site_charging_power", _charging_power, state_class=SensorStateClass.MEASUREMENT),
    # The inputs as the energy manager read them. No state class: these are copies of the user's
    # own sensors, which keep the long-term statistics.
    _power("site_grid_power", _reading(lambda inputs: inputs.grid_w), option=GRID_POWER),
    _power("site_pv_power", _reading(lambda inputs: inputs.pv_w), option=PV_POWER),
    _power("site_battery_power", _reading(lambda inputs: inputs.battery_w), option=BATTERY_POWER),
    SiteSensorDescription(
        key="site_battery_soc",
        translation_key="site_battery_soc",
        device_class=SensorDeviceClass.BATTERY,
        native_unit_of_measurement=PERCENTAGE,
        suggested_display_precision=0,
        value_fn=_reading(lambda inputs: inputs.battery_soc),
        option=BATTERY_SOC,
    ),
    SiteSensorDescription(
        key="cheap_grid_until",
        translation_key="cheap_grid_until",
        device_class=SensorDeviceClass.TIMESTAMP,
        value_fn=_cheap_grid_until,
        option=PRICE,
    ),
)


@dataclass(frozen=True, kw_only=True)
class SecuritySensorDescription(SensorEntityDescription):
    """A fact of the server's secure connection (nothing secret)."""

    value_fn: Callable[[ServerSecurity], datetime | str | None]
    attributes_fn: Callable[[ServerSecurity], dict[str, Any]] | None = None


def _certificate_attributes(security: ServerSecurity) -> dict[str, Any]:
    active = security.active
    return {
        "names": [] if active is None else list(active.names),
        "own_certificate": active is not None and active.user_provided,
    }


SECURITY_SENSORS: tuple[SecuritySensorDescription, ...] = (
    # To compare with what a charger shows after installing the downloaded CA certificate.
    SecuritySensorDescription(
        key="ca_fingerprint",
        translation_key="ca_fingerprint",
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=lambda security: None if security.ca is None else security.ca.fingerprint,
    ),
    SecuritySensorDescription(
        key="server_certificate_expiry",
        translation_key="server_certificate_expiry",
        device_class=SensorDeviceClass.TIMESTAMP,
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=lambda security: None
        if security.active is None
        else security.active.not_valid_after,
        attributes_fn=_certificate_attributes,
    ),
)


@callback
def async_setup_server_sensors(
    hass: HomeAssistant, entry: ConfigEntry, async_add_entities: AddConfigEntryEntitiesCallback
) -> None:
    server_entry: ServerConfigEntry = entry
    async_add_entities([OcppLastRefusalSensor(server_entry)])
    if server_entry.runtime_data.settings.tls_port is not None:
        async_add_entities(
            OcppSecuritySensor(server_entry, description) for description in SECURITY_SENSORS
        )
    else:
        # TLS switched off: its sensors would stay behind as "no longer provided".
        registry = er.async_get(hass)
        for description in SECURITY_SENSORS:
            unique_id = f"{entry.entry_id}_{description.key}"
            if entity_id := registry.async_get_entity_id(Platform.SENSOR, DOMAIN, unique_id):
                registry.async_remove(entity_id)
    ems = server_entry.runtime_data.ems
    added: set[str] = set()

    @callback
    def _add_site_sensors() -> None:
        """Once the energy manager is enabled (now or by an options change, which it signals),
        and each input's sensor once it is picked. Like the site numbers they stay while the
        entry is loaded (unavailable while the energy manager is off)."""
        if not ems.enabled:
            return
        options = server_entry.options
        new = [
            description
            for description in SITE_SENSORS
            if description.key not in added
            and (description.option is None or description.option.read(options))
        ]
        added.update(description.key for description in new)
        if new:
            async_add_entities(
                OcppSiteSensor(server_entry, description, ems) for description in new
            )

    _add_site_sensors()
    entry.async_on_unload(async_dispatcher_connect(hass, ems.signal, _add_site_sensors))


class OcppSiteSensor(EmsSiteEntity, SensorEntity):
    """A site value of the server's energy manager (unique id ``{entry_id}_{key}``)."""

    entity_description: SiteSensorDescription

    @property
    def available(self) -> bool:
        return self.entity_description.always_available or super().available

    @property
    def native_value(self) -> StateType | datetime:
        return self.entity_description.value_fn(self.ems)

    @property
    def extra_state_attributes(self) -> dict[str, Any] | None:
        attributes_fn = self.entity_description.attributes_fn
        return None if attributes_fn is None else attributes_fn(self.ems)


# The "Last refused connection" sensor writes its state at most this often.
REFUSAL_WRITE_INTERVAL_S = 10.0


class OcppLastRefusalSensor(SensorEntity):
    """When the server last refused a connection; attributes: which id, why, from where.

    The time is the state (so automations can trigger on a refusal); ``reason`` is one of
    :class:`~.core.guard.RefusalReason`. Unknown until a connection is refused. In a burst of
    refusals (someone trying ids or passwords by the thousand) the state is written at most once
    per :data:`REFUSAL_WRITE_INTERVAL_S`, with the latest: each write is a row of the recorder's
    database."""

    _attr_has_entity_name = True
    _attr_should_poll = False
    entity_description = LAST_REFUSAL

    def __init__(self, entry: ServerConfigEntry) -> None:
        self._central = entry.runtime_data.central
        self._attr_unique_id = f"{entry.entry_id}_{LAST_REFUSAL.key}"
        self._attr_device_info = server_device_info(entry)
        self._written_at = -math.inf  # loop time of the last write
        self._cancel_write: Callable[[], None] | None = None

    @property
    def _refusal(self) -> Refusal | None:
        return self._central.last_refusal

    @property
    def native_value(self) -> datetime | None:
        refusal = self._refusal
        return None if refusal is None else refusal.at

    @property
    def extra_state_attributes(self) -> dict[str, Any] | None:
        refusal = self._refusal
        if refusal is None:
            return None
        return {
            "charger_id": refusal.charger_id,
            "reason": str(refusal.reason),
            "remote": refusal.remote,
            # The raw path only says something when it held no valid id.
            "path": refusal.path if refusal.charger_id is None else None,
        }

    async def async_added_to_hass(self) -> None:
        self.async_on_remove(self._central.add_refusal_listener(self._refused))
        self.async_on_remove(self._cancel_pending_write)

    @callback
    def _refused(self, _refusal: Refusal) -> None:
        if self._cancel_write is not None:
            return  # written when the interval is over, with the latest refusal
        wait = self._written_at + REFUSAL_WRITE_INTERVAL_S - self.hass.loop.time()
        if wait <= 0:
            self._write()
        else:
            self._cancel_write = async_call_later(self.hass, wait, self._write_later)

    @callback
    def _write_later(self, _now: datetime) -> None:
        self._cancel_write = None
        self._write()

    @callback
    def _write(self) -> None:
        self._written_at = self.hass.loop.time()
        self.async_write_ha_state()

    @callback
    def _cancel_pending_write(self) -> None:
        if self._cancel_write is not None:
            self._cancel_write()
            self._cancel_write = None


class OcppSecuritySensor(SensorEntity):
    """The CA fingerprint or the server certificate's expiry (updated when it is renewed)."""

    _attr_has_entity_name = True
    _attr_should_poll = False
    entity_description: SecuritySensorDescription

    def __init__(self, entry: ServerConfigEntry, description: SecuritySensorDescription) -> None:
        self.entity_description = description
        self._security = entry.runtime_data.security
        self._attr_unique_id = f"{entry.entry_id}_{description.key}"
        self._attr_device_info = server_device_info(entry)

    @property
    def native_value(self) -> datetime | str | None:
        return self.entity_description.value_fn(self._security)

    @property
    def extra_state_attributes(self) -> dict[str, Any] | None:
        attributes_fn = self.entity_description.attributes_fn
        return None if attributes_fn is None else attributes_fn(self._security)

    async def async_added_to_hass(self) -> None:
        self.async_on_remove(self._security.async_add_listener(self.async_write_ha_state))
