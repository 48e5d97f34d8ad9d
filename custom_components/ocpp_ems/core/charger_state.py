"""The state transitions every protocol adapter applies to the charger model: :class:`ChargerState`,
the one entry point adapters call.

A 1.6 message and a 2.0.1 message that mean the same thing end in the same method here: a 1.6
StartTransaction and a 2.0.1 TransactionEvent(Started) both call
:meth:`ChargerState.start_transaction`; a 1.6 MeterValues and a 2.0.1 MeterValues or
TransactionEvent(Updated) both call :meth:`ChargerState.record_meter`. Adapters only translate
payloads (names, enums, units, ids) and answers; the rules (timestamp ordering, never-decreasing
energy, replaced transactions, which events fire, when to persist) live once, here or in the
module a method hands its message to:

- boot, heartbeat, configuration, capabilities, password, setup done: here;
- connector status: :mod:`.connector_status` (its ordering rules: :mod:`.status_order`);
- authorization, a transaction's card: :mod:`.id_tags`;
- a transaction's start, late start, end, a past session, readings after its end:
  :mod:`.transaction_book`; which transaction a start or message belongs to:
  :mod:`.transaction_lookup`;
- meter values: here (:meth:`ChargerState.record_meter` routes them to the running or the ended
  transaction; applying them is :mod:`.meter`'s); the ended sessions' records they change:
  :mod:`.record_watch`;
- reservations: here (when one ends: :mod:`.reservations`);
- EV charging needs, firmware / diagnostics status, security events, vendor data: here (they
  only change the model and fire an event).

Nothing here names an OCPP version or message. Each method changes the model, notifies its
listeners (``None`` for state, a :class:`~.model.ChargerEvent` for things that happened) and asks
for a save where the change must survive a restart (what the parts share: :mod:`.model_writer`).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any, Concatenate, Self, overload

from . import status_order, transaction_lookup
from .connector_status import ConnectorStatuses, flow_predates_status
from .directory import Admission
from .id_tags import SWIPES_REMEMBERED, IdTagAuthorizations
from .meter import apply_reading, clear_flow
from .meter_time import MAX_PAST_SESSION_AGE
from .meter_values import Reading
from .model import (
    Capabilities,
    Charger,
    ChargerInfo,
    ClockStamped,
    EvChargingNeeds,
    EventKind,
    Transaction,
)
from .model_writer import ModelWriter
from .record_watch import RecordWatcher
from .reservation_clock import end_reservation
from .reservations import Reservation
from .session import SessionContext
from .settings import id_tag_key
from .timeutil import utcnow
from .transaction_book import TransactionBook

# The names other modules import from here (some have their home elsewhere).
__all__ = [
    "MAX_PAST_SESSION_AGE",
    "RESERVATION_CANCELLED",
    "SECURITY_EVENT_FROM_CHARGER",
    "SECURITY_EVENT_FROM_SERVER",
    "SWIPES_REMEMBERED",
    "ChargerState",
    "id_tag_key",
]

_LOGGER = logging.getLogger(__name__)

# SECURITY_EVENT's ``source``: the charger reported it (SecurityEventNotification), or the server
# recorded it about the charger.
SECURITY_EVENT_FROM_CHARGER = "charger"
SECURITY_EVENT_FROM_SERVER = "server"
# RESERVATION_STATUS's ``status`` when the charger accepted our CancelReservation.
RESERVATION_CANCELLED = "Cancelled"
# A boot this long after the charger last took our fixed profiles writes them again: a factory
# reset, or firmware that loses them at a reboot, would leave it without the safe current once
# Home Assistant stops. Not at every boot: a charger in a reboot loop would wear its flash.
FIXED_PROFILES_RECHECK = timedelta(days=1)


class _HandedTo[**P, R]:
    """A :class:`ChargerState` method whose message one of its parts applies: ``method`` of the
    attribute ``part`` names (a part, or the charger model for a lookup). The same signature,
    checked by the type checker, and the same docstring: written once, where the rules are."""

    def __init__(self, part: str, method: Callable[Concatenate[Any, P], R]) -> None:
        self._part = part
        self._method = method
        self.__doc__ = method.__doc__

    @overload
    def __get__(self, state: None, owner: type[ChargerState]) -> Self: ...
    @overload
    def __get__(self, state: ChargerState, owner: type[ChargerState]) -> Callable[P, R]: ...
    def __get__(
        self, state: ChargerState | None, owner: type[ChargerState]
    ) -> Self | Callable[P, R]:
        if state is None:
            return self
        return functools.partial(self._method, getattr(state, self._part))


class ChargerState:
    """Applies what a charger reported to its :class:`~.model.Charger` (one per session)."""

    def __init__(self, charger: Charger, context: SessionContext) -> None:
        self.charger = charger
        self._context = context
        self._writer = ModelWriter(charger, context)
        # The parts with rules of their own; each keeps what it remembers on this connection.
        self._statuses = ConnectorStatuses(self._writer)
        self._id_tags = IdTagAuthorizations(self._writer)
        self._records = RecordWatcher(self._writer)
        self._transactions = TransactionBook(self._writer, self._records)
        # Transactions that got readings of another connector (logged once each).
        self._foreign_readings: set[str] = set()
        # Warnings about a charger's habit, given once per connection (``first_warning``).
        self._warned: set[str] = set()

    def first_warning(self, topic: str) -> bool:
        """True the first time ``topic`` comes up on this connection: a warning about what a
        charger does every session (one seqNo counter for all its messages) is given once, and
        at debug level after that, not at every session."""
        first = topic not in self._warned
        self._warned.add(topic)
        return first

    # --- connection and boot ---------------------------------------------------------------------
    def record_seen(self) -> None:
        """Any frame arrived (the charger is alive)."""
        self.charger.last_seen = utcnow()

    def record_boot(self, info: ChargerInfo, *, rebooted: bool = True) -> Admission:
        """The charger (re)booted and described itself: store that and decide its admission.
        Not ``rebooted``: a BootNotification we asked for (2.x reason Triggered; a 1.6 one cannot
        be told), which changes nothing of what the charger holds.

        A charger the user has not accepted yet is reported to the directory (discovery). One
        that boots as another unit (a replacement under the same id) or with other firmware (an
        update may clear what it stores), or :data:`FIXED_PROFILES_RECHECK` after it last took
        our fixed profiles (a factory reset keeps both), may not hold them any more: they are
        written again at its setup (what they hold becomes unknown).
        """
        now = utcnow()
        if _another_unit_or_firmware(self.charger.info, info):
            self._forget_fixed_profiles(f"booted as {_described(info)}")
        elif rebooted and _fixed_profiles_aged(self.charger.limit.fixed_written_at, now):
            self._forget_fixed_profiles("booted a day or more after it took them")
        self.charger.info = info
        self._clock_sent(now)
        if rebooted:
            self._statuses.forget_problems()
            # A reboot ends any flow (a session cut by a power loss sends no end): none until
            # the next reading.
            for connector in self.charger.connectors.values():
                clear_flow(connector)
        admission = self._context.admission()
        if admission is Admission.PENDING:
            self._context.directory.on_pending_charger(self.charger.charger_id, info)
        self.charger.notify()
        return admission

    def _forget_fixed_profiles(self, why: str) -> None:
        limit = self.charger.limit
        if limit.charger_max is None and limit.base is None:
            return
        _LOGGER.info(
            "Charger %s %s: its installation maximum and safe current profiles are written again",
            self.charger.charger_id,
            why,
        )
        limit.charger_max = limit.base = None
        self._writer.context.request_save()

    def record_heartbeat(self) -> datetime:
        """A heartbeat: returns the time to answer with."""
        now = utcnow()
        self.charger.last_heartbeat = now
        self._clock_sent(now)
        self.charger.notify()
        return now

    def _clock_sent(self, now: datetime) -> None:
        """We tell the charger the time (Boot / Heartbeat answer; chargers set their clock by it):
        a clock that ran ahead (up to MAX_CLOCK_AHEAD_S) may be set back now, so what it stamped
        ahead of now no longer makes its next statuses and readings look older (they would be
        ignored as out of order, and StatusNotification is only sent on a change); a lag its
        live readings confirmed may be gone too."""
        self.charger._live_clock.clock_set()
        for connector in self.charger.connectors.values():
            if connector.status_timestamp is not None and connector.status_timestamp > now:
                connector.status_timestamp = now
            # (Its own stamp too, also one too far ahead that the time had replaced: statuses
            # are ordered by those, status_order.taken_after.)
            if connector._status_stamp is not None and connector._status_stamp > now:
                connector._status_stamp = now
            meter = connector.meter
            if meter.timestamp is not None and meter.timestamp > now:
                meter.timestamp = now
        for kept in self.charger.protocol_state.values():
            if isinstance(kept, ClockStamped):
                kept.clock_set(now)

    def record_configuration(self, values: Mapping[str, str | None]) -> None:
        """Configuration values read from or written to the charger (secrets already removed)."""
        self.charger.configuration.update(values)
        self.charger.notify()

    def record_capabilities(self, capabilities: Capabilities) -> None:
        self.charger.capabilities = capabilities
        self.charger.notify()

    def record_password_provisioned(self) -> None:
        """The charger accepted our password: it is offered, and becomes mandatory once the charger
        logged in with it (two-phase, see :class:`~.server.CentralSystem`)."""
        self.charger.auth_provisioned = True
        self.charger.auth_committed = False
        self.charger.auth_unused_logins = 0
        self._context.request_save()
        self.charger.notify()

    def request_save(self) -> None:
        """Persist the charger model soon: for a change a protocol adapter made to it."""
        self._context.request_save()

    def record_setup_done(self) -> None:
        """Post-boot setup finished: the charger is under control (current control may start)."""
        self.charger.booted = True
        self.charger.notify()
        self._context.request_save()
        self._context.on_booted()

    # --- handed to the parts (one line each: the part's method is the one definition) ----------
    # Connector status: connector_status.py.
    record_status = _HandedTo("_statuses", ConnectorStatuses.record_status)
    record_problem = _HandedTo("_statuses", ConnectorStatuses.record_problem)
    # Authorization: id_tags.py.
    authorize = _HandedTo("_id_tags", IdTagAuthorizations.authorize)
    authorize_start = _HandedTo("_id_tags", IdTagAuthorizations.authorize_start)
    authorize_transaction = _HandedTo("_id_tags", IdTagAuthorizations.authorize_transaction)
    # Transactions: transaction_book.py.
    start_transaction = _HandedTo("_transactions", TransactionBook.start_transaction)
    record_earlier_start = _HandedTo("_transactions", TransactionBook.record_earlier_start)
    record_past_session = _HandedTo("_transactions", TransactionBook.record_past_session)
    end_transaction = _HandedTo("_transactions", TransactionBook.end_transaction)
    end_session = _HandedTo("_transactions", TransactionBook.end_session)
    record_late_readings = _HandedTo("_transactions", TransactionBook.record_late_readings)

    # Which transaction a start or message belongs to: transaction_lookup.py (reads the model).
    repeated_start = _HandedTo("charger", transaction_lookup.repeated_start)
    session_after = _HandedTo("charger", transaction_lookup.session_after)
    find_open = _HandedTo("charger", transaction_lookup.find_open)

    # --- meter values ----------------------------------------------------------------------------
    def record_meter(
        self,
        connector_id: int,
        readings: Sequence[Reading],
        transaction_id: str | None = None,
        *,
        live: bool = False,
    ) -> None:
        """Meter readings of a connector, for a transaction (by id) or, without an id, for the
        connector's running one. Lifetime and session energy never decrease (see meter.py).
        Readings of a transaction that ended already are :meth:`record_late_readings`.
        ``live``: as :func:`~.meter.apply_reading`."""
        with self._records.watching_records() as watch:
            connector = self.charger.connector(connector_id)
            if transaction_id is not None:
                # May be a transaction started before a restart: it was restored from the store.
                transaction = self.find_open(connector, transaction_id)
                ended = (
                    self.charger.find_ended_transaction(transaction_id)
                    if transaction is None
                    else None
                )
                if ended is not None and ended.connector_id == connector_id:
                    self._transactions.record_late_readings(ended, readings)
                    return
            else:
                # Some chargers omit the id during a transaction: the connector's running one.
                transaction = connector.transaction
            transaction = self._own_transaction(connector_id, transaction)
            skew = self.charger.clock_skew_s
            clock_off_s = status_order.clock_off_s(self.charger, connector.status)
            power = self._writer.max_power()
            applied = [
                apply_reading(
                    self.charger, connector_id, r, transaction, max_power=power, live=live
                )
                for r in readings
            ]
            self._statuses.retake_held_statuses()
            if any(applied) and flow_predates_status(connector, clock_off_s):
                clear_flow(connector)
            if any(applied) or self._writer.skew_changed(skew):
                watch.changed(save=any(r.energy_register_wh is not None for r in readings))

    def _own_transaction(
        self, connector_id: int, transaction: Transaction | None
    ) -> Transaction | None:
        """``transaction`` if it is ``connector_id``'s: another connector's meter (connector 0:
        the whole charger) is its own, not the session's (warned of once per transaction)."""
        if transaction is None or transaction.connector_id == connector_id:
            return transaction
        if transaction.transaction_id not in self._foreign_readings:
            # Only open transactions are found: the others are forgotten (a bounded set).
            self._foreign_readings = {
                tx_id
                for tx_id in self._foreign_readings
                if self.charger.find_transaction(tx_id) is not None
            }
            self._foreign_readings.add(transaction.transaction_id)
            _LOGGER.warning(
                "%s: readings of connector %s for transaction %s of connector %s: "
                "not counted for the transaction",
                self.charger.charger_id,
                connector_id,
                transaction.transaction_id,
                transaction.connector_id,
            )
        return None

    # --- EV (ISO 15118) --------------------------------------------------------------------------
    def record_ev_charging_needs(self, connector_id: int, needs: EvChargingNeeds | None) -> None:
        """What the connected EV needs (energy, departure, limits, SoC): planner inputs."""
        connector = self.charger.connector(connector_id)
        if needs is not None:
            needs = replace(needs, session_energy_wh=connector.session_energy_wh)
        connector.ev_charging_needs = needs
        self.charger.notify()

    # --- firmware, diagnostics, vendor data ------------------------------------------------------
    def record_firmware_status(self, status: str) -> None:
        self.charger.firmware_status = status
        self.charger.notify()
        self._writer.fire(EventKind.FIRMWARE_STATUS, status=status)

    def record_diagnostics_status(self, status: str) -> None:
        self.charger.diagnostics_status = status
        self.charger.notify()
        self._writer.fire(EventKind.DIAGNOSTICS_STATUS, status=status)

    def record_security_event(
        self, event_type: str, timestamp: datetime, tech_info: str | None = None
    ) -> None:
        """A security event the charger reported (handed to Home Assistant as an event)."""
        _LOGGER.info(
            "%s: security event %s at %s (%s)",
            self.charger.charger_id,
            event_type,
            timestamp.isoformat(),
            tech_info or "-",
        )
        self._writer.fire(
            EventKind.SECURITY_EVENT,
            type=event_type,
            timestamp=timestamp.isoformat(),
            tech_info=tech_info,
            source=SECURITY_EVENT_FROM_CHARGER,
        )

    def record_server_security_event(self, event_type: str, tech_info: str | None = None) -> None:
        """Something security-relevant the server did or refused for this charger (a refused
        certificate signing request, a certificate issued): the same event as the charger's own,
        marked ``source: "server"``. The caller logs it (at the level it deserves)."""
        self._writer.fire(
            EventKind.SECURITY_EVENT,
            type=event_type,
            timestamp=utcnow().isoformat(),
            tech_info=tech_info,
            source=SECURITY_EVENT_FROM_SERVER,
        )

    def record_reservation_made(self, reservation: Reservation) -> None:
        """The charger accepted ``reservation`` (the rules of its end: :mod:`.reservations`)."""
        self.charger.reservations.made(reservation)
        self.charger.notify()
        self._writer.context.request_save()

    def record_reservation_status(self, reservation_id: int, status: str) -> None:
        """A reservation ended without a session: the charger reported it (a 2.x status
        update: Expired, Removed ...) or accepted our cancel (:data:`RESERVATION_CANCELLED`).
        Fires RESERVATION_STATUS for its connector (0: charger-wide, or one we never made),
        once: an end reported again is no new one."""
        if end_reservation(self.charger, reservation_id, status):
            self._writer.context.request_save()

    def record_data_transfer(self, vendor_id: str, message_id: str | None, data: object) -> None:
        """Vendor-specific data: handed to Home Assistant as an event (automations interpret it)."""
        self._writer.fire(
            EventKind.DATA_TRANSFER, vendor_id=vendor_id, message_id=message_id, data=data
        )


def _another_unit_or_firmware(known: ChargerInfo, booted: ChargerInfo) -> bool:
    """Whether a charger that described itself as ``known`` before boots as another unit or with
    other firmware (``known`` as never booted: no)."""

    def identity(info: ChargerInfo) -> tuple[str | None, ...]:
        return (info.vendor, info.model, info.serial_number, info.firmware_version)

    return known != ChargerInfo() and identity(known) != identity(booted)


def _described(info: ChargerInfo) -> str:
    return (
        f"{info.vendor} {info.model}, serial {info.serial_number}, firmware {info.firmware_version}"
    )


def _fixed_profiles_aged(written_at: datetime | None, now: datetime) -> bool:
    """Whether fixed profiles last taken at ``written_at`` are to be written again at a boot
    (unknown, or a time ahead of ours: yes)."""
    return written_at is None or not now - FIXED_PROFILES_RECHECK < written_at <= now
