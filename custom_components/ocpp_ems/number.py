"""The current limit of a charger: what the energy manager and the user turn."""

from __future__ import annotations

from homeassistant.components.number import (
    NumberDeviceClass,
    NumberEntity,
    NumberEntityDescription,
    NumberMode,
)
from homeassistant.const import UnitOfElectricCurrent
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .coordinator import ChargerConfigEntry, ChargerCoordinator
from .core.model import ChargingRateUnit
from .core.settings import RateUnitPreference
from .entity import OcppEntity, charger_errors
from .hub import charger_settings

# One limit change at a time per charger: each one writes a charging profile.
PARALLEL_UPDATES = 1

CURRENT_LIMIT = NumberEntityDescription(
    key="current_limit",
    translation_key="current_limit",
    device_class=NumberDeviceClass.CURRENT,
    native_unit_of_measurement=UnitOfElectricCurrent.AMPERE,
    mode=NumberMode.SLIDER,
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: ChargerConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    async_add_entities([OcppCurrentLimitNumber(entry.runtime_data.coordinator, CURRENT_LIMIT)])


class OcppCurrentLimitNumber(OcppEntity, NumberEntity):
    """The live current limit (per phase). Bounds come from the charger's options."""

    def __init__(
        self, coordinator: ChargerCoordinator, description: NumberEntityDescription
    ) -> None:
        super().__init__(coordinator, description)
        settings = charger_settings(coordinator.config_entry)
        self._attr_native_min_value = settings.min_current_a
        self._attr_native_max_value = settings.installation_max_a

    @property
    def native_step(self) -> float:
        # Profiles in A take 0.1 A steps (schema multipleOf 0.1); a W-only charger gets whole amps.
        settings = charger_settings(self.coordinator.config_entry)
        takes_amps = ChargingRateUnit.AMPERE in self.charger.capabilities.rate_units
        if takes_amps and settings.rate_unit is not RateUnitPreference.WATT:
            return 0.1
        return 1.0

    @property
    def native_value(self) -> float:
        # No requested limit means "up to the installation maximum": show that, not "unknown".
        requested = self.charger.limit.requested_a
        maximum = charger_settings(self.coordinator.config_entry).installation_max_a
        return maximum if requested is None else min(requested, maximum)

    async def async_set_native_value(self, value: float) -> None:
        controller = self.coordinator.central.current_control(self.coordinator.charger_id)
        with charger_errors(self.coordinator.charger_id):
            await controller.set_limit(round(value, 1))
