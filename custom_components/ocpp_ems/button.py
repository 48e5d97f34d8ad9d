"""Buttons: restart the charger (soft reset); per connector: unlock its cable, start charging
(a remote start with the charger's configured id tag) and stop its session (a remote stop). Each is
one core command, the same for every OCPP version (1.6 RemoteStart/StopTransaction, 2.x
RequestStart/StopTransaction)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from homeassistant.components.button import ButtonEntity, ButtonEntityDescription
from homeassistant.components.button.const import ButtonDeviceClass
from homeassistant.const import EntityCategory
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .charging_commands import async_start_charging, async_stop_charging
from .coordinator import ChargerConfigEntry, ChargerCoordinator
from .core.session import ChargerSession
from .entity import OcppEntity, async_add_described_entities, charger_errors, require_session

PARALLEL_UPDATES = 1


@dataclass(frozen=True, kw_only=True)
class OcppButtonDescription(ButtonEntityDescription):
    # (session, the charger's coordinator, connector id or None) -> command
    press_fn: Callable[[ChargerSession, ChargerCoordinator, int | None], Awaitable[None]]


CHARGER_BUTTONS: tuple[OcppButtonDescription, ...] = (
    OcppButtonDescription(
        key="reset",
        translation_key="reset",
        device_class=ButtonDeviceClass.RESTART,
        entity_category=EntityCategory.CONFIG,
        press_fn=lambda session, _coordinator, _connector: session.reset(hard=False),
    ),
)

CONNECTOR_BUTTONS: tuple[OcppButtonDescription, ...] = (
    OcppButtonDescription(
        key="unlock",
        translation_key="unlock",
        entity_category=EntityCategory.CONFIG,
        press_fn=lambda session, _coordinator, connector: session.unlock(connector or 1),
    ),
    OcppButtonDescription(
        key="start_charging", translation_key="start_charging", press_fn=async_start_charging
    ),
    OcppButtonDescription(
        key="stop_charging", translation_key="stop_charging", press_fn=async_stop_charging
    ),
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: ChargerConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    async_add_described_entities(
        entry,
        async_add_entities,
        charger_descriptions=CHARGER_BUTTONS,
        charger_entity=OcppButton,
        connector_descriptions=CONNECTOR_BUTTONS,
        connector_entity=OcppButton,
    )


class OcppButton(OcppEntity, ButtonEntity):
    entity_description: OcppButtonDescription

    async def async_press(self) -> None:
        charger_id = self.coordinator.charger_id
        with charger_errors(charger_id):
            session = require_session(self.coordinator.central, charger_id)
            await self.entity_description.press_fn(session, self.coordinator, self.connector_id)
