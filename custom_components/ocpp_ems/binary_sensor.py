"""Binary sensors: connectivity and limit mismatch of the charger; plug, charging and fault per
connector (derived from the charger's own status, never guessed from power)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from homeassistant.components.binary_sensor import (
    BinarySensorEntity,
    BinarySensorEntityDescription,
)
from homeassistant.components.binary_sensor.const import BinarySensorDeviceClass
from homeassistant.const import EntityCategory
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .coordinator import ChargerConfigEntry
from .core.model import Charger, Connector, ConnectorStatus
from .entity import OcppEntity, async_add_described_entities

PARALLEL_UPDATES = 0


@dataclass(frozen=True, kw_only=True)
class OcppChargerBinarySensorDescription(BinarySensorEntityDescription):
    value_fn: Callable[[Charger], bool | None]
    # The connectivity sensor must stay available to say "disconnected".
    always_available: bool = False


@dataclass(frozen=True, kw_only=True)
class OcppConnectorBinarySensorDescription(BinarySensorEntityDescription):
    value_fn: Callable[[Connector], bool | None]
    # Also on when it holds for connector 0, the charger as a whole (1.6): a charger that is
    # faulted as a whole has every connector out of service.
    whole_charger_too: bool = False


def _known(status: ConnectorStatus, value: bool) -> bool | None:
    return None if status is ConnectorStatus.UNKNOWN else value


CHARGER_BINARY_SENSORS: tuple[OcppChargerBinarySensorDescription, ...] = (
    OcppChargerBinarySensorDescription(
        key="connected",
        translation_key="connected",
        device_class=BinarySensorDeviceClass.CONNECTIVITY,
        entity_category=EntityCategory.DIAGNOSTIC,
        always_available=True,
        value_fn=lambda charger: charger.connected,
    ),
    OcppChargerBinarySensorDescription(
        key="limit_mismatch",
        translation_key="limit_mismatch",
        device_class=BinarySensorDeviceClass.PROBLEM,
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=lambda charger: charger.limit.mismatch,
    ),
)

CONNECTOR_BINARY_SENSORS: tuple[OcppConnectorBinarySensorDescription, ...] = (
    OcppConnectorBinarySensorDescription(
        key="plugged_in",
        translation_key="plugged_in",
        device_class=BinarySensorDeviceClass.PLUG,
        value_fn=lambda connector: _known(connector.status, connector.status.plugged_in),
    ),
    OcppConnectorBinarySensorDescription(
        key="charging",
        translation_key="charging",
        device_class=BinarySensorDeviceClass.BATTERY_CHARGING,
        value_fn=lambda connector: _known(connector.status, connector.status.charging),
    ),
    OcppConnectorBinarySensorDescription(
        key="fault",
        translation_key="fault",
        device_class=BinarySensorDeviceClass.PROBLEM,
        value_fn=lambda connector: connector.has_error,
        whole_charger_too=True,
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
        charger_descriptions=CHARGER_BINARY_SENSORS,
        charger_entity=OcppChargerBinarySensor,
        connector_descriptions=CONNECTOR_BINARY_SENSORS,
        connector_entity=OcppConnectorBinarySensor,
    )


class OcppChargerBinarySensor(OcppEntity, BinarySensorEntity):
    entity_description: OcppChargerBinarySensorDescription

    @property
    def available(self) -> bool:
        if self.entity_description.always_available:
            return self.coordinator.last_update_success
        return super().available

    @property
    def is_on(self) -> bool | None:
        return self.entity_description.value_fn(self.charger)


class OcppConnectorBinarySensor(OcppEntity, BinarySensorEntity):
    entity_description: OcppConnectorBinarySensorDescription

    @property
    def is_on(self) -> bool | None:
        if (connector := self.connector) is None:
            return None
        description = self.entity_description
        whole = self.charger.connectors.get(0)
        if description.whole_charger_too and whole is not None and description.value_fn(whole):
            return True
        return description.value_fn(connector)
