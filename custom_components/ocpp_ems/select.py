"""Selects of a charger: the charge mode under the energy manager, and the phases (1p/3p) of a
charger that switches them.

Picking the phases is a manual change (``ownership.py``), like the current-limit number: it takes
the charger over from the energy manager, which keeps its own 1p/3p choice while it is in charge
(the select then shows that choice).
"""

from __future__ import annotations

from homeassistant.components.select import SelectEntity, SelectEntityDescription
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .coordinator import ChargerConfigEntry, ChargerCoordinator
from .core.ems import Mode
from .core.model import Charger
from .ems_entity import EmsEntity, ems_platform_setup
from .entity import OcppEntity, async_add_described_entities
from .ownership import async_manual_change

# The charge mode only changes a setting; a phase change writes a charging profile: one at a time.
PARALLEL_UPDATES = 1

CHARGE_MODE = SelectEntityDescription(
    key="charge_mode",
    translation_key="charge_mode",
    options=[str(mode) for mode in Mode],
)
PHASES = SelectEntityDescription(key="phases", translation_key="phases", options=["1", "3"])


class OcppChargeModeSelect(EmsEntity, SelectEntity):
    """Off, Fast, Min+Solar, Solar or Plan; kept across restarts by the energy manager."""

    @property
    def current_option(self) -> str:
        return str(self.view.mode)

    async def async_select_option(self, option: str) -> None:
        self.ems.async_update_charger(self.coordinator.charger_id, mode=Mode(option))


class OcppPhaseSelect(OcppEntity, SelectEntity):
    """Charge on one or three phases (the requested phases; none requested: all three)."""

    @property
    def current_option(self) -> str | None:
        phases = self.charger.limit.requested_phases
        if phases is None:
            return "3"
        return str(phases) if phases in (1, 3) else None

    async def async_select_option(self, option: str) -> None:
        phases = int(option)
        await async_manual_change(
            self.coordinator.config_entry,
            lambda control: control.set_limit(control.charger.limit.requested_a, phases=phases),
        )


def switches_phases(coordinator: ChargerCoordinator, charger: Charger) -> bool:
    """A charger that reports 1/3-phase switching on a three-phase supply."""
    return charger.capabilities.phase_switching and coordinator.settings.phases == 3


_async_setup_charge_mode = ems_platform_setup(OcppChargeModeSelect, CHARGE_MODE)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: ChargerConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    await _async_setup_charge_mode(hass, entry, async_add_entities)
    coordinator = entry.runtime_data.coordinator
    async_add_described_entities(
        entry,
        async_add_entities,
        charger_descriptions=(PHASES,),
        charger_entity=OcppPhaseSelect,
        connector_descriptions=(),
        connector_entity=OcppPhaseSelect,
        charger_has=lambda _description, charger: switches_phases(coordinator, charger),
    )
