"""The charge mode of a charger under the energy manager."""

from __future__ import annotations

from homeassistant.components.select import SelectEntity, SelectEntityDescription
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .coordinator import ChargerConfigEntry
from .core.ems import Mode
from .ems_entity import EmsEntity, ems_of

# Setting the mode only changes a setting; the energy manager does the writing.
PARALLEL_UPDATES = 0

CHARGE_MODE = SelectEntityDescription(
    key="charge_mode",
    translation_key="charge_mode",
    options=[str(mode) for mode in Mode],
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: ChargerConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    if (ems := ems_of(entry)) is None:
        return
    async_add_entities([OcppChargeModeSelect(entry.runtime_data.coordinator, CHARGE_MODE, ems)])


class OcppChargeModeSelect(EmsEntity, SelectEntity):
    """Off, Fast, Min+Solar, Solar or Plan; kept across restarts by the energy manager."""

    @property
    def current_option(self) -> str:
        return str(self.view.mode)

    async def async_select_option(self, option: str) -> None:
        self.ems.async_update_charger(self.coordinator.charger_id, mode=Mode(option))
