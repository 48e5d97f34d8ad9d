"""The daily departure time of a charger's plan (target energy by this time of day)."""

from __future__ import annotations

from datetime import time

from homeassistant.components.time import TimeEntity, TimeEntityDescription

from .ems_entity import EmsEntity, ems_platform_setup

PARALLEL_UPDATES = 0

DEPARTURE = TimeEntityDescription(key="departure", translation_key="departure")


class OcppDepartureTime(EmsEntity, TimeEntity):
    """When the car leaves (local time, every day); unknown until set."""

    @property
    def native_value(self) -> time | None:
        return self.view.departure_time

    async def async_set_value(self, value: time) -> None:
        self.ems.async_update_charger(self.coordinator.charger_id, departure_time=value)


async_setup_entry = ems_platform_setup(OcppDepartureTime, DEPARTURE)
