"""The charge mode of a charger under the energy manager."""

from __future__ import annotations

from homeassistant.components.select import SelectEntity, SelectEntityDescription

from .core.ems import Mode
from .ems_entity import EmsEntity, ems_platform_setup

# Setting the mode only changes a setting; the energy manager does the writing.
PARALLEL_UPDATES = 0

CHARGE_MODE = SelectEntityDescription(
    key="charge_mode",
    translation_key="charge_mode",
    options=[str(mode) for mode in Mode],
)


class OcppChargeModeSelect(EmsEntity, SelectEntity):
    """Off, Fast, Min+Solar, Solar or Plan; kept across restarts by the energy manager."""

    @property
    def current_option(self) -> str:
        return str(self.view.mode)

    async def async_select_option(self, option: str) -> None:
        self.ems.async_update_charger(self.coordinator.charger_id, mode=Mode(option))


async_setup_entry = ems_platform_setup(OcppChargeModeSelect, CHARGE_MODE)
