"""The daily departure time of a charger's plan (target energy by this time of day)."""

from __future__ import annotations

from datetime import time

from homeassistant.components.time import TimeEntity, TimeEntityDescription
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .coordinator import ChargerConfigEntry
from .ems_entity import EmsEntity, ems_of

PARALLEL_UPDATES = 0

DEPARTURE = TimeEntityDescription(key="departure", translation_key="departure")


async def async_setup_entry(
    hass: HomeAssistant,
    entry: ChargerConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    if (ems := ems_of(entry)) is None:
        return
    async_add_entities([OcppDepartureTime(entry.runtime_data.coordinator, DEPARTURE, ems)])


class OcppDepartureTime(EmsEntity, TimeEntity):
    """When the car leaves (local time, every day); unknown until set."""

    @property
    def native_value(self) -> time | None:
        return self.view.departure_time

    async def async_set_value(self, value: time) -> None:
        self.ems.async_update_charger(self.coordinator.charger_id, departure_time=value)
