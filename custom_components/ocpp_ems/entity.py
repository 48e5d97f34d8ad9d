"""Base entity of a charger, and the helper that adds entities as the charger reveals itself.

A charger announces its connectors and optional measurands (SoC, temperature) only after it
connected, so platforms add entities whenever the model grows, not just once at setup.
Charger-wide entities use the unique id ``{charger_id}_{key}``; per-connector entities use
``{charger_id}_{key}`` for connector 1 and ``{charger_id}_{connector}_{key}`` for the others, so a
single-outlet charger never carries a connector number. A charger with several outlets gets one
child device per connector.

Every change of the charger model (every OCPP frame: a MeterValues every few seconds, heartbeats,
statuses) reaches every entity of the charger; an entity writes its state only when it changed
(:class:`ChangedStateWriter`).
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
from .coordinator import ChargerConfigEntry, ChargerCoordinator, charger_device_info
from .core.current_control import StopsFailedError
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


class ChangedStateWriter(Entity):
    """An entity that is told "something may have changed" far more often than it changes.

    ``async_write_ha_state_if_changed`` writes only when what would be written (state, attributes,
    and so availability) differs from what the state machine holds for the entity. Skipped writes
    would only have moved the state's ``last_reported`` and fired a ``state_reported`` event: we do
    not offer that as a sign of life (the connectivity sensor and the last heartbeat say whether a
    charger is alive), so it stays at the last real change. ``async_write_ha_state`` itself is
    never skipped: the first write, registry changes, ``homeassistant.update_entity`` and event
    entities' events still write every time. An entity customized in YAML (attributes the
    calculation does not include) or with ``force_update`` is written every time, as before.
    """

    @callback
    def async_write_ha_state_if_changed(self) -> None:
        if not self.force_update and (current := self.hass.states.get(self.entity_id)) is not None:
            calculated = self._async_calculate_state()
            if current.state == calculated.state and current.attributes == calculated.attributes:
                return
        self.async_write_ha_state()


class OcppEntity(CoordinatorEntity[ChargerCoordinator], ChangedStateWriter):
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
        if connector_id is not None and len(coordinator.connector_ids) > 1:
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

    @callback
    def _handle_coordinator_update(self) -> None:
        self.async_write_ha_state_if_changed()


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
    except StopsFailedError as err:
        raise HomeAssistantError(
            translation_domain=DOMAIN,
            translation_key="stops_failed",
            translation_placeholders={"charger_id": charger_id, **_stops_by_outcome(err)},
        ) from err
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


def _stops_by_outcome(err: StopsFailedError) -> dict[str, str]:
    """The connectors of failed stops by outcome (placeholders of ``stops_failed``; "-": none):
    refused, left unanswered (it may still charge), failed otherwise (gone meanwhile)."""
    by_outcome: dict[str, list[str]] = {"refused": [], "unanswered": [], "failed": []}
    for connector_id, failure in sorted(err.failures.items()):
        if isinstance(failure, CommandRejectedError):
            outcome = "refused"
        elif isinstance(failure, CommandTimeoutError):
            outcome = "unanswered"
        else:
            outcome = "failed"
        by_outcome[outcome].append(str(connector_id))
    return {outcome: ", ".join(ids) or "-" for outcome, ids in by_outcome.items()}


# (unique key, whether it exists now, how to build it): what a platform offers for the charger with
# its outlets as they are now.
type _EntityCandidate = tuple[str, Callable[[], bool], Callable[[], Entity]]


@callback
def _async_add_charger_entities(
    entry: ChargerConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
    candidates: Callable[[ChargerCoordinator], Iterable[_EntityCandidate]],
) -> None:
    """Add the entities that exist now, and those that come to exist later (a new connector, a
    first SoC reading...). Entities are not removed while the entry is loaded.

    Called on every change of the model: the candidates are listed again only when the outlets
    change, and only those not added yet are asked whether they exist now."""
    coordinator = entry.runtime_data.coordinator
    added: set[str] = set()
    outlets: tuple[int, ...] | None = None
    waiting: list[_EntityCandidate] = []

    @callback
    def _add_new() -> None:
        nonlocal outlets, waiting
        if coordinator.connector_ids != outlets:
            outlets = coordinator.connector_ids
            waiting = [c for c in candidates(coordinator) if c[0] not in added]
        if not waiting:
            return
        new: list[Entity] = []
        for candidate in list(waiting):
            key, exists, build = candidate
            if exists():
                added.add(key)
                waiting.remove(candidate)
                new.append(build())
        if new:
            async_add_entities(new)

    _add_new()
    entry.async_on_unload(coordinator.async_add_listener(_add_new))


def _always(*_args: object) -> bool:
    return True


def _connector_has[K: EntityDescription](
    connector_has: Callable[[K, Connector | None], bool],
    description: K,
    charger: Charger,
    connector_id: int,
) -> bool:
    return connector_has(description, charger.connectors.get(connector_id))


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
                partial(charger_has, description, charger),
                partial(charger_entity, coordinator, description),
            )
        for connector_id in coordinator.connector_ids:
            for connector_description in connector_descriptions:
                yield (
                    f"{connector_id}_{connector_description.key}",
                    # The connector may appear in the model later (configured, not reported yet).
                    partial(
                        _connector_has, connector_has, connector_description, charger, connector_id
                    ),
                    partial(connector_entity, coordinator, connector_description, connector_id),
                )

    _async_add_charger_entities(entry, async_add_entities, candidates)
