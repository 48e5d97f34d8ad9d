"""Event entities: sessions starting and ending, id tags authorised or rejected, faults, vendor
data, security events (those the charger reports, and our own: connections in its name that were
refused, downgrades, profile changes), reservations that ended without a session.

The modern way to trigger automations on things that happen (rather than on state)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from homeassistant.components.event import EventEntity, EventEntityDescription
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .coordinator import (
    SECURITY_DOWNGRADED,
    SECURITY_PROFILE_CHANGED,
    SECURITY_REFUSED,
    ChargerConfigEntry,
)
from .core.model import ChargerEvent, EventKind
from .entity import OcppEntity, async_add_described_entities

# Events arrive by push; nothing is polled.
PARALLEL_UPDATES = 0


@dataclass(frozen=True, kw_only=True)
class OcppEventDescription(EventEntityDescription):
    # Which core events this entity reports, and under which event type.
    kinds: dict[EventKind, str]
    # It also reports our own security events (their types are in ``event_types``).
    own_security_events: bool = False


CHARGER_EVENTS: tuple[OcppEventDescription, ...] = (
    OcppEventDescription(
        key="authorization",
        translation_key="authorization",
        event_types=["authorized", "rejected"],
        kinds={EventKind.AUTHORIZED: "authorized", EventKind.AUTHORIZATION_REJECTED: "rejected"},
    ),
    OcppEventDescription(
        key="fault",
        translation_key="fault",
        event_types=["fault"],
        kinds={EventKind.FAULT: "fault"},
    ),
    OcppEventDescription(
        key="data_transfer",
        translation_key="data_transfer",
        event_types=["received"],
        kinds={EventKind.DATA_TRANSFER: "received"},
    ),
    OcppEventDescription(
        key="security_event",
        translation_key="security_event",
        # "reported": by the charger; the others are ours (see coordinator.py).
        event_types=["reported", SECURITY_REFUSED, SECURITY_DOWNGRADED, SECURITY_PROFILE_CHANGED],
        kinds={EventKind.SECURITY_EVENT: "reported"},
        own_security_events=True,
    ),
)

CONNECTOR_EVENTS: tuple[OcppEventDescription, ...] = (
    OcppEventDescription(
        key="session",
        translation_key="session",
        event_types=["started", "ended"],
        kinds={EventKind.SESSION_STARTED: "started", EventKind.SESSION_ENDED: "ended"},
    ),
    OcppEventDescription(
        key="reservation",
        translation_key="reservation",
        event_types=["ended"],
        kinds={EventKind.RESERVATION_STATUS: "ended"},
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
        charger_descriptions=CHARGER_EVENTS,
        charger_entity=OcppEventEntity,
        connector_descriptions=CONNECTOR_EVENTS,
        connector_entity=OcppEventEntity,
    )


class OcppEventEntity(OcppEntity, EventEntity):
    entity_description: OcppEventDescription

    @property
    def available(self) -> bool:
        """Our own security events are mostly about connections that did not get in: that
        entity stays available while the charger is disconnected."""
        if self.entity_description.own_security_events:
            return self.coordinator.last_update_success
        return super().available

    async def async_added_to_hass(self) -> None:
        await super().async_added_to_hass()
        self.async_on_remove(self.coordinator.async_add_event_callback(self._on_event))
        if self.entity_description.own_security_events:
            self.async_on_remove(
                self.coordinator.async_add_security_callback(self._on_security_event)
            )

    @callback
    def _on_security_event(self, event_type: str, data: dict[str, Any]) -> None:
        self._trigger_event(event_type, {**data, "connector_id": 0})
        self.async_write_ha_state()

    @callback
    def _on_event(self, event: ChargerEvent) -> None:
        event_type = self.entity_description.kinds.get(event.kind)
        if event_type is None:
            return
        # Connector entities only report their own connector; 0 means "the charger as a whole".
        if self.connector_id is not None and event.connector_id not in (0, self.connector_id):
            return
        # Event data from the core is plain JSON-ready values (strings, numbers, ISO timestamps).
        attributes = {**event.data, "connector_id": event.connector_id}
        self._trigger_event(event_type, attributes)
        self.async_write_ha_state()
