"""Event entities: sessions starting and ending (and an ended session's facts updated: readings
sent after its end), id tags authorised or rejected, faults, vendor data, security events (those
the charger reports, and our own: connections in its name that were refused, downgrades, profile
changes), reservations that ended without a session.

The server's device has a security event of its own while TLS is on: a ``refused`` event for a
failed TLS handshake (a client certificate not from our CA or expired, TLS older than 1.2, no TLS
at all, ...). It happens before any charger id is known, so it names the peer address (and the
chargers that last connected from there). Like its log line it comes once per address and reason
per 10 minutes; ``count`` says how many failures it stands for, ``total`` counts them all.

The modern way to trigger automations on things that happen (rather than on state)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from homeassistant.components.event import EventEntity, EventEntityDescription
from homeassistant.config_entries import ConfigEntry
from homeassistant.const import Platform
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .const import DOMAIN
from .coordinator import (
    SECURITY_DOWNGRADED,
    SECURITY_PROFILE_CHANGED,
    SECURITY_REFUSED,
    ChargerConfigEntry,
    ServerConfigEntry,
)
from .core.model import ChargerEvent, EventKind
from .core.tls_listener import TlsFailure
from .ems_entity import server_device_info
from .entity import OcppEntity, async_add_described_entities
from .hub import is_charger_entry
from .session_facts import session_facts

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
        # "updated": an ended session's facts changed (readings sent after its end); the
        # sessions log keeps one record per session, the newest. Not a session ending again.
        # "identified": a running session's card, presented after it started (a 2.x station
        # that starts sessions on plug-in); a start that names its card says so itself.
        event_types=["started", "ended", "updated", "identified"],
        kinds={
            EventKind.SESSION_STARTED: "started",
            EventKind.SESSION_ENDED: "ended",
            EventKind.SESSION_UPDATED: "updated",
            EventKind.SESSION_IDENTIFIED: "identified",
        },
    ),
    OcppEventDescription(
        key="reservation",
        translation_key="reservation",
        event_types=["ended"],
        kinds={EventKind.RESERVATION_STATUS: "ended"},
    ),
)


# The events that carry a session's record (its facts; the sessions log): at its end, and again
# when they changed after it.
_SESSION_RECORDS = frozenset({EventKind.SESSION_ENDED, EventKind.SESSION_UPDATED})


SERVER_SECURITY_EVENT = EventEntityDescription(
    key="security_event",
    translation_key="security_event",
    event_types=[SECURITY_REFUSED],
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: ConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    if not is_charger_entry(entry):
        _setup_server_events(hass, entry, async_add_entities)
        return
    charger_entry: ChargerConfigEntry = entry
    async_add_described_entities(
        charger_entry,
        async_add_entities,
        charger_descriptions=CHARGER_EVENTS,
        charger_entity=OcppEventEntity,
        connector_descriptions=CONNECTOR_EVENTS,
        connector_entity=OcppEventEntity,
    )


def _setup_server_events(
    hass: HomeAssistant,
    entry: ServerConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    if entry.runtime_data.settings.tls_port is not None:
        async_add_entities([OcppServerSecurityEvent(entry)])
        return
    # TLS switched off: its event would stay behind as "no longer provided".
    registry = er.async_get(hass)
    unique_id = f"{entry.entry_id}_{SERVER_SECURITY_EVENT.key}"
    if entity_id := registry.async_get_entity_id(Platform.EVENT, DOMAIN, unique_id):
        registry.async_remove(entity_id)


class OcppServerSecurityEvent(EventEntity):
    """Failed TLS handshakes on the server's wss:// listener (see the module doc)."""

    _attr_has_entity_name = True
    _attr_should_poll = False
    entity_description = SERVER_SECURITY_EVENT

    def __init__(self, entry: ServerConfigEntry) -> None:
        self._failures = entry.runtime_data.central.tls_failures
        self._attr_unique_id = f"{entry.entry_id}_{SERVER_SECURITY_EVENT.key}"
        self._attr_device_info = server_device_info(entry)

    async def async_added_to_hass(self) -> None:
        self.async_on_remove(self._failures.add_listener(self._on_failure))

    @callback
    def _on_failure(self, failure: TlsFailure) -> None:
        self._trigger_event(
            SECURITY_REFUSED,
            {
                "reason": str(failure.reason),
                "description": failure.text,
                "detail": failure.detail,
                "remote": failure.remote,
                "server_name": failure.server_name,
                "charger_ids": list(failure.charger_ids),
                "count": failure.count,
                "total": self._failures.total,
            },
        )
        self.async_write_ha_state()


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
        if event.kind in _SESSION_RECORDS:
            attributes |= self._session_facts(str(event.data["transaction_id"]))
        self._trigger_event(event_type, attributes)
        self.async_write_ha_state()

    def _session_facts(self, transaction_id: str) -> dict[str, Any]:
        """Everything a household wants to know of the session that ended (its user, cost,
        energy by source ...: ``session_facts.py``)."""
        transaction = self.charger.find_ended_transaction(transaction_id)
        entry = self.coordinator.config_entry
        return {} if transaction is None else session_facts(entry, transaction).as_dict()
