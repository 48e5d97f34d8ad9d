"""Charging on/off: pauses and resumes with the charger's pause strategy (0 A or stop/start).
Switching is a manual change (``ownership.py``): it takes the charger over from the energy manager.

Availability: puts the whole charger in or out of service (ChangeAvailability Operative /
Inoperative, the same core command for every OCPP version). Its state is the charger's own status
(``Charger.operative``), so a change the charger schedules until its session ends shows then.
"""

from __future__ import annotations

from typing import Any

from homeassistant.components.switch import SwitchEntity, SwitchEntityDescription
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .coordinator import ChargerConfigEntry
from .entity import OcppEntity, charger_errors, require_session
from .ownership import async_manual_change

PARALLEL_UPDATES = 1

CHARGING = SwitchEntityDescription(key="charging_enabled", translation_key="charging_enabled")
AVAILABILITY = SwitchEntityDescription(key="availability", translation_key="availability")


async def async_setup_entry(
    hass: HomeAssistant,
    entry: ChargerConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    coordinator = entry.runtime_data.coordinator
    async_add_entities(
        [
            OcppChargingSwitch(coordinator, CHARGING),
            OcppAvailabilitySwitch(coordinator, AVAILABILITY),
        ]
    )


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


class OcppAvailabilitySwitch(OcppEntity, SwitchEntity):
    """On: the charger is in service. Off: out of service (it refuses to charge)."""

    @property
    def is_on(self) -> bool:
        return self.charger.operative

    async def async_turn_on(self, **kwargs: Any) -> None:
        await self._change(operative=True)

    async def async_turn_off(self, **kwargs: Any) -> None:
        await self._change(operative=False)

    async def _change(self, *, operative: bool) -> None:
        charger_id = self.coordinator.charger_id
        with charger_errors(charger_id):
            session = require_session(self.coordinator.central, charger_id)
            await session.change_availability(None, operative=operative)
