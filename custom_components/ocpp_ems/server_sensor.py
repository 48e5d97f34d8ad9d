"""Sensors of a server entry, on the server's own device: the last refused connection."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from homeassistant.components.sensor import (
    SensorDeviceClass,
    SensorEntity,
    SensorEntityDescription,
)
from homeassistant.config_entries import ConfigEntry
from homeassistant.const import EntityCategory
from homeassistant.core import callback
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .coordinator import ServerConfigEntry
from .core.guard import Refusal, RefusalReason
from .ems_entity import server_device_info

LAST_REFUSAL = SensorEntityDescription(
    key="last_refused_connection",
    translation_key="last_refused_connection",
    device_class=SensorDeviceClass.TIMESTAMP,
    entity_category=EntityCategory.DIAGNOSTIC,
)
# The reasons the ``reason`` attribute can take (translated under state_attributes).
REFUSAL_REASONS = [str(reason) for reason in RefusalReason]


@callback
def async_setup_server_sensors(
    entry: ConfigEntry, async_add_entities: AddConfigEntryEntitiesCallback
) -> None:
    server_entry: ServerConfigEntry = entry
    async_add_entities([OcppLastRefusalSensor(server_entry)])


class OcppLastRefusalSensor(SensorEntity):
    """When the server last refused a connection; attributes: which id, why, from where.

    The time is the state (so automations can trigger on every refusal); ``reason`` is one of
    :class:`~.core.guard.RefusalReason`. Unknown until a connection is refused."""

    _attr_has_entity_name = True
    _attr_should_poll = False
    entity_description = LAST_REFUSAL

    def __init__(self, entry: ServerConfigEntry) -> None:
        self._central = entry.runtime_data.central
        self._attr_unique_id = f"{entry.entry_id}_{LAST_REFUSAL.key}"
        self._attr_device_info = server_device_info(entry)

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
        self.async_on_remove(
            self._central.add_refusal_listener(lambda _refusal: self.async_write_ha_state())
        )
