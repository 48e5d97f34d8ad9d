"""Charging on/off: pauses and resumes with the charger's pause strategy (0 A or stop/start).

Switching is a manual change (``ownership.py``): it takes the charger over from the energy manager.
"""

from __future__ import annotations

from typing import Any

from homeassistant.components.switch import SwitchEntity, SwitchEntityDescription
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .coordinator import ChargerConfigEntry
from .entity import OcppEntity
from .ownership import async_manual_change

PARALLEL_UPDATES = 1

CHARGING = SwitchEntityDescription(key="charging_enabled", translation_key="charging_enabled")


async def async_setup_entry(
    hass: HomeAssistant,
    entry: ChargerConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    async_add_entities([OcppChargingSwitch(entry.runtime_data.coordinator, CHARGING)])


class OcppChargingSwitch(OcppEntity, SwitchEntity):
    """On: charging allowed at the current limit. Off: paused (or held at 0 A)."""

    @property
    def is_on(self) -> bool:
        controller = self.coordinator.central.current_control(self.coordinator.charger_id)
        return controller.charging_allowed

    async def async_turn_on(self, **kwargs: Any) -> None:
        await async_manual_change(self.coordinator.config_entry, lambda control: control.resume())

    async def async_turn_off(self, **kwargs: Any) -> None:
        await async_manual_change(self.coordinator.config_entry, lambda control: control.pause())
