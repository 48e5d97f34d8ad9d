"""Charging on/off: pauses and resumes with the charger's pause strategy (0 A or stop/start)."""

from __future__ import annotations

from typing import Any

from homeassistant.components.switch import SwitchEntity, SwitchEntityDescription
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .coordinator import ChargerConfigEntry
from .entity import OcppEntity, charger_errors

PARALLEL_UPDATES = 1

CHARGING = SwitchEntityDescription(key="charging_enabled", translation_key="charging_enabled")


async def async_setup_entry(
    hass: HomeAssistant,
    entry: ChargerConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    async_add_entities([OcppChargingSwitch(entry.runtime_data.coordinator, CHARGING)])


class OcppChargingSwitch(OcppEntity, SwitchEntity):
    """On: charging allowed at the current limit. Off: paused."""

    @property
    def is_on(self) -> bool:
        return not self.charger.limit.paused

    async def async_turn_on(self, **kwargs: Any) -> None:
        controller = self.coordinator.central.current_control(self.coordinator.charger_id)
        with charger_errors(self.coordinator.charger_id):
            await controller.resume()

    async def async_turn_off(self, **kwargs: Any) -> None:
        controller = self.coordinator.central.current_control(self.coordinator.charger_id)
        with charger_errors(self.coordinator.charger_id):
            await controller.pause()
