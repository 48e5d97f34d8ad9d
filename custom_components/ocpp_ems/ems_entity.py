"""Base of a charger's energy manager entities (charge mode, plan, EMS sensors).

They exist only while the charger's server runs its energy manager, belong to the charger's
device, and stay available while the charger is offline: they are the user's settings and the
manager's view (whose reason then says "charger unavailable").
"""

from __future__ import annotations

from homeassistant.helpers.dispatcher import async_dispatcher_connect
from homeassistant.helpers.entity import EntityDescription

from .coordinator import ChargerConfigEntry, ChargerCoordinator
from .core.ems import ChargerDecision
from .energy_manager import ChargerView, EnergyManagerRuntime
from .entity import OcppEntity


def ems_of(entry: ChargerConfigEntry) -> EnergyManagerRuntime | None:
    """The energy manager in charge of a charger entry, or None where it is not enabled."""
    ems = entry.runtime_data.server_entry.runtime_data.ems
    return ems if ems.enabled else None


class EmsEntity(OcppEntity):
    """An entity of one charger's energy manager settings or decisions."""

    def __init__(
        self,
        coordinator: ChargerCoordinator,
        description: EntityDescription,
        ems: EnergyManagerRuntime,
    ) -> None:
        super().__init__(coordinator, description)
        self.ems = ems

    @property
    def view(self) -> ChargerView:
        return self.ems.charger_view(self.coordinator.charger_id)

    @property
    def decision(self) -> ChargerDecision | None:
        return self.ems.decision(self.coordinator.charger_id)

    @property
    def available(self) -> bool:
        return self.ems.enabled

    async def async_added_to_hass(self) -> None:
        await super().async_added_to_hass()
        self.async_on_remove(
            async_dispatcher_connect(self.hass, self.ems.signal, self.async_write_ha_state)
        )
