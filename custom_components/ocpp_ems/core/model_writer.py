"""What every part of :class:`~.charger_state.ChargerState` shares: the charger model one session
writes, its session context, and the events its transitions fire (listeners hear ``None`` for
state, a :class:`~.model.ChargerEvent` for things that happened)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from .meter_time import max_power_w
from .model import Charger, ChargerEvent, EventKind, Transaction
from .session import SessionContext
from .timeutil import utcnow


@dataclass(frozen=True, slots=True)
class ModelWriter:
    """The charger model a session writes and what it tells of it."""

    charger: Charger
    context: SessionContext

    def max_power(self) -> float:
        """The most power (W) the charger can deliver: every energy increment's bound."""
        return max_power_w(self.context.charger_settings())

    def skew_changed(self, before: float | None) -> bool:
        """Whether the charger's clock skew appeared or went away (listeners must hear it)."""
        return (before is None) != (self.charger.clock_skew_s is None)

    def fire(self, kind: EventKind, connector_id: int = 0, **data: object) -> None:
        """Send listeners an event; ``data`` holds plain JSON-ready values (they become HA event
        attributes)."""
        self.charger.notify(ChargerEvent(kind=kind, connector_id=connector_id, data=data))

    def fire_start_facts(self, kind: EventKind, transaction: Transaction) -> None:
        """A running session's facts: at its start, and once its card is known."""
        self.fire(
            kind,
            transaction.connector_id,
            transaction_id=transaction.transaction_id,
            id_tag=transaction.id_tag,
            meter_start_wh=transaction.meter_start_wh,
            authorized=transaction.authorized,
        )

    def take_reservation(self, transaction: Transaction) -> None:
        """A running session's card is known (at its start, or presented after it): the
        reservation held for that card there ends (:meth:`.ReservationBook.take`)."""
        if transaction.id_tag is not None:
            self.charger.reservations.take(transaction.connector_id, transaction.id_tag, utcnow())

    def fire_session_record(
        self, kind: EventKind, transaction: Transaction, ended: datetime
    ) -> None:
        """An ended session's facts (SESSION_ENDED, and SESSION_UPDATED when they changed)."""
        self.fire(
            kind,
            transaction.connector_id,
            transaction_id=transaction.transaction_id,
            id_tag=transaction.id_tag,
            energy_wh=transaction.energy_wh,
            reason=transaction.stop_reason,
            started_at=transaction.started_at.isoformat(),
            ended_at=ended.isoformat(),
            duration_s=round(transaction.duration_s(ended)),
            cost=transaction.cost,
        )
