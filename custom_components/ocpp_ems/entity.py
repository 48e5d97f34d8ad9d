"""Base entity of a charger, and the helper that adds entities as the charger reveals itself.

A charger announces its connectors and optional measurands (SoC, temperature) only after it
connected, so platforms add entities whenever the model grows, not just once at setup.
Charger-wide entities use the unique id ``{charger_id}_{key}``; per-connector entities use
``{charger_id}_{key}`` for connector 1 and ``{charger_id}_{connector}_{key}`` for the others, so a
single-outlet charger never carries a connector number. A charger with several outlets gets one
child device per connector.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from functools import partial

from homeassistant.core import callback
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers.device_registry import ChildDeviceInfo
from homeassistant.helpers.entity import Entity, EntityDescription
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.helpers.update_coordinator import CoordinatorEntity

from .const import DOMAIN
from .coordinator import (
    ChargerConfigEntry,
    ChargerCoordinator,
    charger_device_info,
    connector_ids,
)
from .core.errors import (
    ChargerNotConnectedError,
    CommandNotSupportedError,
    CommandRejectedError,
    CommandTimeoutError,
    InvalidCommandError,
    OcppEmsError,
)
from .core.model import Charger, Connector
from .core.server import CentralSystem
from .core.session import ChargerSession


class OcppEntity(CoordinatorEntity[ChargerCoordinator]):
    """An entity of one charger (``connector_id`` None) or of one of its connectors."""

    _attr_has_entity_name = True

    def __init__(
        self,
        coordinator: ChargerCoordinator,
        description: EntityDescription,
        connector_id: int | None = None,
    ) -> None:
        super().__init__(coordinator)
        self.entity_description = description
        self.connector_id = connector_id
        charger = coordinator.charger
        charger_id = coordinator.charger_id
        if connector_id is None or connector_id == 1:
            self._attr_unique_id = f"{charger_id}_{description.key}"
        else:
            self._attr_unique_id = f"{charger_id}_{connector_id}_{description.key}"
        if connector_id is not None and len(connector_ids(charger)) > 1:
            self._attr_device_info = ChildDeviceInfo(
                identifiers={(DOMAIN, f"{charger_id}_{connector_id}")},
                parent_device_id=coordinator.device_id,
                translation_key="connector",
                translation_placeholders={
                    "charger": coordinator.config_entry.title,
                    "connector": str(connector_id),
                },
            )
        else:
            self._attr_device_info = charger_device_info(coordinator.config_entry, charger)

    @property
    def charger(self) -> Charger:
        return self.coordinator.charger

    @property
    def connector(self) -> Connector | None:
        """This entity's connector in the model (None for charger-wide entities or not yet seen)."""
        return None if self.connector_id is None else self.charger.connectors.get(self.connector_id)

    @property
    def available(self) -> bool:
        # Values of a disconnected charger are stale: show them as unavailable.
        return super().available and self.charger.connected


def require_session(central: CentralSystem, charger_id: str) -> ChargerSession:
    """The charger's live connection, or the core's not-connected error."""
    session = central.session(charger_id)
    if session is None:
        raise ChargerNotConnectedError(charger_id)
    return session


@contextmanager
def charger_errors(charger_id: str) -> Iterator[None]:
    """Turn the core's errors into translated errors that say what the charger did."""
    try:
        yield
    except ChargerNotConnectedError as err:
        raise HomeAssistantError(
            translation_domain=DOMAIN,
            translation_key="charger_not_connected",
            translation_placeholders={"charger_id": charger_id},
        ) from err
    except CommandRejectedError as err:
        raise HomeAssistantError(
            translation_domain=DOMAIN,
            translation_key="command_rejected",
            translation_placeholders={
                "charger_id": charger_id,
                "action": err.action,
                "status": err.status,
            },
        ) from err
    except CommandTimeoutError as err:
        raise HomeAssistantError(
            translation_domain=DOMAIN,
            translation_key="command_timeout",
            translation_placeholders={"charger_id": charger_id, "action": err.action},
        ) from err
    except InvalidCommandError as err:
        # The user's input (a raw profile, a configuration value) broke the OCPP schema.
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="invalid_command",
            translation_placeholders={"action": err.action, "reason": err.reason},
        ) from err
    except CommandNotSupportedError as err:
        raise HomeAssistantError(
            translation_domain=DOMAIN,
            translation_key="command_not_supported",
            translation_placeholders={"charger_id": charger_id, "action": err.action},
        ) from err
    except OcppEmsError as err:
        raise HomeAssistantError(
            translation_domain=DOMAIN,
            translation_key="command_failed",
            translation_placeholders={"charger_id": charger_id, "error": str(err)},
        ) from err


# (unique key, exists now, how to build it): what a platform offers for the charger as it is now.
type _EntityCandidate = tuple[str, bool, Callable[[], Entity]]


@callback
def _async_add_charger_entities(
    entry: ChargerConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
    candidates: Callable[[ChargerCoordinator], Iterable[_EntityCandidate]],
) -> None:
    """Add the entities that exist now, and those that come to exist later (a new connector, a
    first SoC reading...). Entities are not removed while the entry is loaded."""
    coordinator = entry.runtime_data.coordinator
    added: set[str] = set()

    @callback
    def _add_new() -> None:
        new: list[Entity] = []
        for key, exists, build in candidates(coordinator):
            if exists and key not in added:
                added.add(key)
                new.append(build())
        if new:
            async_add_entities(new)

    _add_new()
    entry.async_on_unload(coordinator.async_add_listener(_add_new))


def _always(*_args: object) -> bool:
    return True


@callback
def async_add_described_entities[C: EntityDescription, K: EntityDescription](
    entry: ChargerConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
    *,
    charger_descriptions: Iterable[C],
    charger_entity: Callable[[ChargerCoordinator, C], Entity],
    connector_descriptions: Iterable[K],
    connector_entity: Callable[[ChargerCoordinator, K, int], Entity],
    charger_has: Callable[[C, Charger], bool] = _always,
    connector_has: Callable[[K, Connector | None], bool] = _always,
) -> None:
    """One entity per charger description, and one per connector and connector description, each
    added once ``charger_has`` / ``connector_has`` say it exists (by default at once)."""

    def candidates(coordinator: ChargerCoordinator) -> Iterator[_EntityCandidate]:
        charger = coordinator.charger
        for description in charger_descriptions:
            yield (
                description.key,
                charger_has(description, charger),
                partial(charger_entity, coordinator, description),
            )
        for connector_id in connector_ids(charger):
            connector = charger.connectors.get(connector_id)
            for connector_description in connector_descriptions:
                yield (
                    f"{connector_id}_{connector_description.key}",
                    connector_has(connector_description, connector),
                    partial(connector_entity, coordinator, connector_description, connector_id),
                )

    _async_add_charger_entities(entry, async_add_entities, candidates)
