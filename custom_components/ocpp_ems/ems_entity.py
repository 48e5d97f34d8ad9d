"""Bases of the energy manager's entities.

* :class:`EmsEntity`: a charger's EMS settings and decisions (charge mode, plan, EMS sensors). They
  exist only while the charger's server runs its energy manager, belong to the charger's device,
  and stay available while the charger is offline: they are the user's settings and the manager's
  view (whose reason then says "charger unavailable").
* :class:`EmsSiteEntity`: a site-wide setting or value of one server's energy manager (the home
  battery's priority and floor SoC; the site sensors of ``server_sensor.py``: its state, the
  available surplus, the grid, PV and battery as it read them), on the server's own device, since
  one value applies to every charger.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from homeassistant.core import HomeAssistant
from homeassistant.helpers.device_registry import DeviceEntryType, DeviceInfo
from homeassistant.helpers.dispatcher import async_dispatcher_connect
from homeassistant.helpers.entity import EntityDescription
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .const import DOMAIN
from .coordinator import ChargerConfigEntry, ChargerCoordinator, ServerConfigEntry
from .core.ems import ChargerDecision
from .energy_manager import ChargerView, EnergyManagerRuntime
from .entity import ChangedStateWriter, OcppEntity

type PlatformSetup = Callable[
    [HomeAssistant, ChargerConfigEntry, AddConfigEntryEntitiesCallback],
    Coroutine[Any, Any, None],
]


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
        # After every decision: most decisions change little of what each entity shows.
        self.async_on_remove(
            async_dispatcher_connect(
                self.hass, self.ems.signal, self.async_write_ha_state_if_changed
            )
        )


def ems_platform_setup[D: EntityDescription](
    entity: Callable[[ChargerCoordinator, D, EnergyManagerRuntime], EmsEntity],
    *descriptions: D,
) -> PlatformSetup:
    """``async_setup_entry`` of a platform that only has EMS entities: one per description for a
    charger whose server runs the energy manager, none otherwise."""

    async def async_setup_entry(
        hass: HomeAssistant,
        entry: ChargerConfigEntry,
        async_add_entities: AddConfigEntryEntitiesCallback,
    ) -> None:
        if (ems := ems_of(entry)) is None:
            return
        coordinator = entry.runtime_data.coordinator
        async_add_entities(entity(coordinator, description, ems) for description in descriptions)

    return async_setup_entry


def server_device_info(entry: ServerConfigEntry) -> DeviceInfo:
    """The device of a server entry (its site-wide energy manager settings live there)."""
    return DeviceInfo(
        identifiers={(DOMAIN, f"server_{entry.entry_id}")},
        name=entry.title,
        entry_type=DeviceEntryType.SERVICE,
    )


class EmsSiteEntity(ChangedStateWriter):
    """A site-wide setting or value of one server's energy manager (unique id
    ``{entry_id}_{key}``)."""

    _attr_has_entity_name = True
    _attr_should_poll = False

    def __init__(
        self, entry: ServerConfigEntry, description: EntityDescription, ems: EnergyManagerRuntime
    ) -> None:
        self.entity_description = description
        self.entry = entry
        self.ems = ems
        self._attr_unique_id = f"{entry.entry_id}_{description.key}"
        self._attr_device_info = server_device_info(entry)

    @property
    def available(self) -> bool:
        return self.ems.enabled

    async def async_added_to_hass(self) -> None:
        # The energy manager signals after every decision and every options change.
        self.async_on_remove(
            async_dispatcher_connect(
                self.hass, self.ems.signal, self.async_write_ha_state_if_changed
            )
        )
