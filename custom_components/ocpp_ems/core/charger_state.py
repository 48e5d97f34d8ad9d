"""The state transitions every protocol adapter applies to the charger model.

A 1.6 message and a 2.0.1 message that mean the same thing end in the same method here: a 1.6
StartTransaction and a 2.0.1 TransactionEvent(Started) both call
:meth:`ChargerState.start_transaction`; a 1.6 MeterValues and a 2.0.1 MeterValues or
TransactionEvent(Updated) both call :meth:`ChargerState.record_meter`. Adapters only translate
payloads (names, enums, units, ids) and answers; the rules (timestamp ordering, never-decreasing
energy, replaced transactions, which events fire, when to persist) live here, once. Nothing here
names an OCPP version or message.

Each method changes the model, notifies its listeners (``None`` for state, a :class:`ChargerEvent`
for things that happened) and asks for a save where the change must survive a restart.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Concatenate, NamedTuple

from . import status_order
from .directory import Admission
from .meter import (
    Report,
    apply_energy,
    apply_reading,
    apply_reading_energy,
    clear_flow,
    count_from,
    credit_session,
    energy_up_to_base,
    register_base,
    settle_lifetime_balance,
    shown_reading,
)
from .meter_held_end import HeldEnd, credit_held_end, held_end
from .meter_life_before import (
    PendingHold,
    credit_dropped_hold,
    pending_holds,
    prove_life_before_at_end,
)
from .meter_time import MAX_PAST_SESSION_AGE, effective_time, max_energy_wh, max_power_w, reception
from .meter_values import Reading, last_register_wh
from .model import (
    RECENTLY_ENDED,
    Capabilities,
    Charger,
    ChargerEvent,
    ChargerInfo,
    ClockStamped,
    Connector,
    ConnectorStatus,
    EvChargingNeeds,
    EventKind,
    Transaction,
)
from .session import SessionContext
from .status_order import NO_FLOW_STATUSES, STAMP_RESOLUTION_S
from .timeutil import utcnow

_LOGGER = logging.getLogger(__name__)

# Why a transaction ended when the charger started a new one on its connector without ending it.
REPLACED = "Replaced"
# A transaction start this soon after an authorization of the same id tag is the same card swipe:
# the authorization event fired already.
AUTHORIZE_WINDOW_S = 60.0
# Swipes remembered for that (the newest): each Authorize of a new tag adds one, and a charger
# may ask for any number of tags without starting (rejected cards, or a hostile charger).
SWIPES_REMEMBERED = 64
# OCPP id tags are case-insensitive (1.6 CiString20Type; 2.x idToken): ASCII letters only, so a
# non-ASCII tag never matches an ASCII one (as ``casefold`` or ``lower`` of e.g. "\u212a" would).
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def id_tag_key(id_tag: str) -> str:
    """The one rule for comparing id tags: equal keys, the same tag (surrounding blanks and
    the case of ASCII letters do not count)."""
    return id_tag.strip().translate(_ASCII_LOWER)


# SECURITY_EVENT's ``source``: the charger reported it (SecurityEventNotification), or the server
# recorded it about the charger.
SECURITY_EVENT_FROM_CHARGER = "charger"
SECURITY_EVENT_FROM_SERVER = "server"


class _StatusNews(NamedTuple):
    """What a status report says of a connector (:meth:`ChargerState.record_status`)."""

    status: ConnectorStatus
    error_code: str | None
    vendor_error_code: str | None
    info: str | None


class _HeldStatus(NamedTuple):
    """A stamped status dropped only because the charger's clock offset
    (:func:`~.status_order.clock_off_s`) put the untimed status shown after it: ordered again by
    the next offset live readings confirm (:meth:`ChargerState._retake_held_status`)."""

    news: _StatusNews
    report: Report
    # ``LiveClockOffset.confirmations`` when it came.
    confirmations: int


# What SESSION_UPDATED tells of an ended session that its late news may change.
type _Record = tuple[float, float | None, datetime]


def _record(transaction: Transaction) -> _Record:
    """``transaction``'s energy, cost and start, as its record tells them."""
    return transaction.energy_wh, transaction.cost, transaction.started_at


class _Watched(NamedTuple):
    """An ended session :meth:`ChargerState._watching_records` watches: its record as it was."""

    transaction: Transaction
    ended: datetime
    before: _Record


@dataclass
class _RecordWatch:
    """What :meth:`ChargerState._watching_records` watches: the readings held as maybe a
    register's life before, ended sessions' records by id, and whether listeners (and the store)
    must hear of the work: told once, as the outermost watch ends."""

    holds: list[PendingHold]
    records: dict[int, _Watched] = field(default_factory=dict)
    notify: bool = False
    save: bool = False

    def changed(self, *, save: bool) -> None:
        """The work changed the model: listeners hear of it (and the store keeps it: ``save``)."""
        self.notify = True
        self.save |= save


def _records_watched[**P, R](
    method: Callable[Concatenate[ChargerState, P], R],
) -> Callable[Concatenate[ChargerState, P], R]:
    """``method`` applies registers: inside :meth:`ChargerState._watching_records`."""

    @functools.wraps(method)
    def watched(state: ChargerState, /, *args: P.args, **kwargs: P.kwargs) -> R:
        with state._watching_records():
            return method(state, *args, **kwargs)

    return watched


class ChargerState:
    """Applies what a charger reported to its :class:`~.model.Charger` (one per session)."""

    def __init__(self, charger: Charger, context: SessionContext) -> None:
        self.charger = charger
        self._context = context
        # id tag -> when it was last authorized by request (one event per card swipe).
        self._authorized_at: dict[str, datetime] = {}
        # Transactions that got readings of another connector (logged once each).
        self._foreign_readings: set[str] = set()
        # Warnings about a charger's habit, given once per connection (``first_warning``).
        self._warned: set[str] = set()
        # Connector id -> its latest status dropped only by a clock offset (_HeldStatus).
        self._held_statuses: dict[int, _HeldStatus] = {}
        # While registers are applied (the outermost :meth:`_watching_records`): what it watches.
        self._watch: _RecordWatch | None = None
        # Connector id -> its last session, ended while its rise was held for our clock (on this
        # connection: a reconnect forgets it, the lifetime still takes the rise).
        self._held_ends: dict[int, HeldEnd] = {}

    def first_warning(self, topic: str) -> bool:
        """True the first time ``topic`` comes up on this connection: a warning about what a
        charger does every session (one seqNo counter for all its messages) is given once, and
        at debug level after that, not at every session."""
        first = topic not in self._warned
        self._warned.add(topic)
        return first

    def _max_power(self) -> float:
        return max_power_w(self._context.charger_settings())

    def _skew_changed(self, before: float | None) -> bool:
        """Whether the charger's clock skew appeared or went away (listeners must hear it)."""
        return (before is None) != (self.charger.clock_skew_s is None)

    def _fire(self, kind: EventKind, connector_id: int = 0, **data: object) -> None:
        """Send listeners an event; ``data`` holds plain JSON-ready values (they become HA event
        attributes)."""
        self.charger.notify(ChargerEvent(kind=kind, connector_id=connector_id, data=data))

    # --- connection and boot ---------------------------------------------------------------------
    def record_seen(self) -> None:
        """Any frame arrived (the charger is alive)."""
        self.charger.last_seen = utcnow()

    def record_boot(self, info: ChargerInfo) -> Admission:
        """The charger (re)booted and described itself: store that and decide its admission.

        A charger the user has not accepted yet is reported to the directory (discovery).
        """
        self.charger.info = info
        self._clock_sent(utcnow())
        # A reboot ends any flow (a session cut by a power loss sends no end): none until the
        # next reading.
        for connector in self.charger.connectors.values():
            clear_flow(connector)
        admission = self._context.admission()
        if admission is Admission.PENDING:
            self._context.directory.on_pending_charger(self.charger.charger_id, info)
        self.charger.notify()
        return admission

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

    # --- connectors ------------------------------------------------------------------------------
    def record_status(
        self,
        connector_id: int,
        status: ConnectorStatus,
        *,
        timestamp: datetime | None,
        error_code: str | None = None,
        vendor_error_code: str | None = None,
        info: str | None = None,
    ) -> bool:
        """A connector's status. ``timestamp`` None = "now" (then it counts in arrival order).

        Statuses are ordered by the charger's own timestamps
        (:func:`~.status_order.taken_after`): an older one than the connector's current status is
        ignored (False). ``error_code`` None means no error. Entering FAULTED fires a FAULT event.
        """
        connector = self.charger.connector(connector_id)
        skew, clock_off_s = (
            self.charger.clock_skew_s,
            status_order.clock_off_s(self.charger, connector.status),
        )
        got = reception(None)
        now = got[0]
        when = now if timestamp is None else effective_time(self.charger, timestamp, now)
        if self._skew_changed(skew):
            self.charger.notify()
        report = Report(when, timestamp, got)
        news = _StatusNews(status, error_code, vendor_error_code, info)
        if timestamp is not None and status_order.out_of_order(connector, report, clock_off_s):
            self._hold_status(connector, news, report, clock_off_s)
            _LOGGER.debug(
                "%s: ignoring out-of-order status %s of connector %s",
                self.charger.charger_id,
                status,
                connector_id,
            )
            return False
        self._apply_status(connector, news, report)
        return True

    def _apply_status(self, connector: Connector, news: _StatusNews, report: Report) -> None:
        """Show ``news`` (taken at or after the status shown, as ``report`` says) on
        ``connector``."""
        self._held_statuses.pop(connector.connector_id, None)  # (older than this one)
        shown = (status_order.shown_status(connector), shown_reading(connector.meter))
        reading_shown = shown[1]
        previous = connector.status
        changed = (previous, connector.error_code, connector.vendor_error) != (
            news.status,
            news.error_code,
            news.vendor_error_code,
        )
        connector.status = news.status
        connector.status_timestamp = report.time
        connector._status_stamp = report.stamp
        connector._status_received_at, connector._status_received_monotonic = report.got
        connector.error_code = news.error_code
        connector.vendor_error = news.vendor_error_code
        if news.status in NO_FLOW_STATUSES and (
            reading_shown is None
            or report.stamp is None
            or status_order.taken_after(reading_shown, report, shown)
        ):
            # (Not a queued status older than the newest reading: that one is the flow now. One
            # sent untimed is live: taken after any reading we got.)
            changed |= clear_flow(connector)
        if changed:
            # A 2.x station repeats its charging state in every TransactionEvent: only a change
            # is news for the listeners (the meter values of the same event notify anyway).
            self.charger.notify()
        restored, connector.restored_fault = connector.restored_fault, None
        if (
            news.status is ConnectorStatus.FAULTED
            and previous is not ConnectorStatus.FAULTED
            and restored != (news.error_code or "")  # the fault it was in before a restart: no news
        ):
            self._fire(
                EventKind.FAULT,
                connector.connector_id,
                error_code=news.error_code,
                info=news.info,
                vendor_error_code=news.vendor_error_code,
            )

    def _hold_status(
        self, connector: Connector, news: _StatusNews, report: Report, offset_s: float | None
    ) -> None:
        """Keep a status dropped as older than the untimed one ``connector`` shows only by the
        charger's clock offset ``offset_s`` (on ours, it comes after it), replacing the one kept
        before: the lead may be stale (a clock its own NTP set right since), which the next
        offset its live readings confirm shows."""
        if offset_s is None or status_order.out_of_order(connector, report, None):
            return
        confirmations = self.charger._live_clock.confirmations
        self._held_statuses[connector.connector_id] = _HeldStatus(news, report, confirmations)

    def _retake_held_statuses(self) -> None:
        """Order each connector's held status again (:meth:`_retake_held_status`) once live
        readings of any connector confirmed an offset since it came: the clock is the charger's
        (a connector waiting for its car's authorization, or one metered only on connector 0,
        sends none of its own)."""
        confirmations = self.charger._live_clock.confirmations
        for connector_id, held in list(self._held_statuses.items()):
            if held.confirmations != confirmations:
                del self._held_statuses[connector_id]
                self._retake_held_status(self.charger.connector(connector_id), held)

    def _retake_held_status(self, connector: Connector, held: _HeldStatus) -> None:
        """Order ``held``, the status held for ``connector`` (:meth:`_hold_status`), again by the
        first offset of the charger's clock live readings confirm after it came (forgotten then:
        a later change of the clock is no evidence of the one before): shown if its stamp may
        come from a clock that far off ours (a status queued before the untimed one by the clock
        still ahead lies further ahead) and it then comes after the status shown. The offset
        confirmed may be the old one: it stays dropped then."""
        offset_s = status_order.clock_off_s(self.charger, connector.status)
        if status_order.may_be_stamped_by(held.report, offset_s or 0.0) and not (
            status_order.out_of_order(connector, held.report, offset_s)
        ):
            self._apply_status(connector, held.news, held.report)

    # --- authorization ---------------------------------------------------------------------------
    def authorize(self, id_tag: str, connector_id: int = 0, *, events: bool = True) -> bool:
        """Whether ``id_tag`` may charge (the charger asks); with ``events`` an AUTHORIZED /
        _REJECTED event fires."""
        # Our own remote starts use this tag: always ours to accept.
        own = self._context.charger_settings().remote_start_id_tag
        accepted = id_tag_key(id_tag) == id_tag_key(own) or (
            self._context.directory.authorize_id_tag(self.charger.charger_id, id_tag)
        )
        if events:
            self._remember_swipe(id_tag)
            kind = EventKind.AUTHORIZED if accepted else EventKind.AUTHORIZATION_REJECTED
            self._fire(kind, connector_id, id_tag=id_tag)
        return accepted

    def _remember_swipe(self, id_tag: str) -> None:
        """Note a swipe for :meth:`authorize_start`; forget those past the window or beyond the
        newest :data:`SWIPES_REMEMBERED`."""
        swipes = self._authorized_at
        swipes.pop(id_tag, None)  # re-inserted at the end: the dict stays oldest first
        now = utcnow()
        swipes[id_tag] = now
        for tag, at in list(swipes.items()):
            if (
                len(swipes) <= SWIPES_REMEMBERED
                and (now - at).total_seconds() <= AUTHORIZE_WINDOW_S
            ):
                break
            del swipes[tag]

    def authorize_start(self, id_tag: str, connector_id: int) -> bool:
        """Whether a transaction the charger starts with ``id_tag`` may charge. The authorization
        event fires once per card swipe: not again when the charger asked for this tag within
        :data:`AUTHORIZE_WINDOW_S` (a start authorized from its local list or cache fires it)."""
        asked = self._authorized_at.pop(id_tag, None)
        recent = asked is not None and (utcnow() - asked).total_seconds() <= AUTHORIZE_WINDOW_S
        accepted = self.authorize(id_tag, connector_id, events=not recent)
        self._authorized_at.pop(id_tag, None)
        return accepted

    # --- transactions ----------------------------------------------------------------------------
    def repeated_start(
        self,
        connector_id: int,
        id_tag: str | None,
        meter_start_wh: float,
        started: datetime | None,
    ) -> Transaction | None:
        """The transaction a start repeats exactly (the charger lost our answer and re-sends it,
        possibly after a reconnect and after the transaction already ended): answer with its id
        and change nothing. ``started`` None: the charger's time was unusable (clock unset, or
        far ahead), so each retry was taken as "now": only the running transaction with the
        same tag and register can be the one it repeats."""
        connector = self.charger.connector(connector_id)
        candidates: list[Transaction | None] = [connector.transaction]
        if started is not None:
            candidates += self.charger.ended_transactions(connector_id)
        for existing in candidates:
            if (
                existing is not None
                and existing.id_tag == id_tag
                and existing.meter_start_wh == meter_start_wh
                and (started is None or existing.started_at == started)
            ):
                return existing
        return None

    def running_after(self, connector_id: int, started: datetime) -> Transaction | None:
        """The transaction running on the connector that began after ``started``: a session that
        began earlier is history (sent late, behind the newer one: an offline session out of
        order) and must never end the running one; adapters book it with
        :meth:`record_past_session` once it ends."""
        connector = self.charger.connectors.get(connector_id)
        running = None if connector is None else connector.transaction
        return running if _began_before(started, running) else None

    def session_after(
        self, connector_id: int, started: datetime, meter_start_wh: float | None
    ) -> Transaction | None:
        """Like :meth:`running_after`, and else the connector's last ended session when a start
        (``started``, ``meter_start_wh``) began before it: an offline queue sent newest first.
        A new session after a clock set back starts at or above that session's last register
        (without a register, ``None``, the two cannot be told apart: it is a new session)."""
        running = self.running_after(connector_id, started)
        connector = self.charger.connectors.get(connector_id)
        if running is not None or connector is None or connector.transaction is not None:
            return running
        last = connector.last_transaction
        if (
            last is not None
            and meter_start_wh is not None
            and _began_before(started, last)
            and not follows_by_register(meter_start_wh, last.meter_last_wh)
        ):
            return last
        return None

    @_records_watched
    def start_transaction(
        self,
        connector_id: int,
        transaction_id: str,
        *,
        id_tag: str | None,
        started: datetime,
        meter_start_wh: float | None,
        authorized: bool,
    ) -> Transaction:
        """A session started. A transaction still open on the connector (its end was lost) is
        ended first, with reason :data:`REPLACED` (adapters ask :meth:`session_after` first: an
        older session never replaces a newer one), with the energy up to this start's register
        (it charged until then as far as we know). Fires SESSION_STARTED.

        ``meter_start_wh`` None: the charger did not say (2.x); the session counts from the
        connector's last known register (after a restart: the lifetime counter's, where that is
        the connector's), else from its next reading (``Transaction.start_pending``)."""
        connector = self.charger.connector(connector_id)
        power = self._max_power()
        if (replaced := connector.transaction) is not None:
            if meter_start_wh is not None:
                apply_energy(
                    self.charger, connector, meter_start_wh, replaced, started, max_power=power
                )
            self._close(
                connector,
                replaced,
                started,
                REPLACED,
                reported=_took(connector, meter_start_wh),
            )
        known = meter_start_wh is not None
        pending = False
        if meter_start_wh is None:
            base = register_base(self.charger, connector)
            pending = base is None
            meter_start_wh = 0.0 if base is None else base.register_wh
        transaction = Transaction(
            transaction_id=transaction_id,
            connector_id=connector_id,
            id_tag=id_tag,
            started_at=started,
            meter_start_wh=meter_start_wh,
            meter_last_wh=meter_start_wh,
            credited_wh=0.0,
            authorized=authorized,
            # Known to cost nothing yet once a price is known (None: not costed).
            cost=None if self.charger.energy_price is None else 0.0,
            start_pending=pending,
        )
        # The start value passes the connector's rules (energy since its last value is not this
        # session's); the session counts from here.
        if known:
            _count_from_start_after_clock_back(connector, meter_start_wh, started)
            if not apply_energy(
                self.charger, connector, meter_start_wh, None, started, max_power=power
            ):
                # A late start: readings after it were counted already, for the connector only.
                transaction.meter_last_wh = connector.meter.energy_register_wh or meter_start_wh
                self._credit_since(transaction, meter_start_wh, started)
        connector.transaction = transaction
        self.charger.notify()
        self._fire_started(transaction)
        self._context.request_save()
        return transaction

    def record_earlier_start(
        self, transaction: Transaction, started: datetime, register_wh: float | None
    ) -> None:
        """The start of a transaction arrived after later messages of it (out of order, maybe
        after its end: then SESSION_UPDATED fires): it began at ``started``, its register then
        ``register_wh`` (None: not given). The energy from there up to the session's last value
        is the session's (the connector counted it from those later readings already)."""
        if started >= transaction.started_at:
            return
        with self._watching_records(transaction) as watch:
            transaction.started_at = started
            if register_wh is not None and (
                transaction.start_pending or register_wh < transaction.meter_start_wh
            ):
                self._credit_since(transaction, register_wh, started)
                transaction.meter_start_wh = register_wh
                transaction.start_pending = False
            watch.changed(save=True)

    def _credit_since(self, transaction: Transaction, register_wh: float, at: datetime) -> None:
        """Credit ``transaction`` (costed) the energy from an older register value of it
        (``register_wh`` at ``at``: history to the meter, which counted that energy already) up
        to the connector's base, bounded like any increment, and never beyond the session's own
        last register (the connector may have counted other sessions since it ended)."""
        connector = self.charger.connector(transaction.connector_id)
        energy = energy_up_to_base(
            self.charger, connector, register_wh, at, max_power=self._max_power()
        )
        energy = min(energy, transaction.meter_last_wh - register_wh)
        credit_session(self.charger, transaction, max(0.0, energy - transaction.energy_wh))

    def _fire_started(self, transaction: Transaction) -> None:
        self._fire_start_facts(EventKind.SESSION_STARTED, transaction)

    def _fire_start_facts(self, kind: EventKind, transaction: Transaction) -> None:
        """A running session's facts: at its start, and once its card is known."""
        self._fire(
            kind,
            transaction.connector_id,
            transaction_id=transaction.transaction_id,
            id_tag=transaction.id_tag,
            meter_start_wh=transaction.meter_start_wh,
            authorized=transaction.authorized,
        )

    def record_past_session(
        self,
        connector_id: int,
        transaction_id: str,
        *,
        id_tag: str | None,
        authorized: bool,
        started: datetime,
        ended: datetime,
        reason: str,
        registers_wh: tuple[float, float] | None,
        registers_at: tuple[datetime, datetime] | None = None,
    ) -> Transaction:
        """A session that was over before we could book it where it ran: one older than the
        transaction running on its connector (sent late, behind the newer one), or one that never
        named its connector (recorded on connector 0). Its energy is what its own first and last
        register values (``registers_wh``, read at ``registers_at`` when known) show, bounded
        like any increment; the connector's running transaction and meter are not touched (the
        meter counted that energy from its own readings). Fires SESSION_STARTED and
        SESSION_ENDED, as a session booked live does."""
        connector = self.charger.connector(connector_id)
        first_wh, last_wh = registers_wh or (0.0, 0.0)
        first_at, last_at = registers_at or (started, ended)
        lasted = max(ended, last_at) - min(started, first_at)
        transaction = Transaction(
            transaction_id=transaction_id,
            connector_id=connector_id,
            id_tag=id_tag,
            started_at=started,
            meter_start_wh=first_wh,
            meter_last_wh=last_wh,
            credited_wh=0.0,
            authorized=authorized,
        )
        # Costed at the price now, like readings a charger buffered (README).
        credit_session(
            self.charger, transaction, self._past_energy(transaction_id, last_wh - first_wh, lasted)
        )
        self._fire_started(transaction)
        transaction.ended_at = ended
        transaction.stop_reason = reason
        latest = connector.last_transaction
        if connector.transaction is None and (
            latest is None or latest.ended_at is None or latest.ended_at <= ended
        ):
            connector.last_transaction = transaction
            connector.last_session_energy_wh = transaction.energy_wh
        self._book_end(transaction, ended)
        return transaction

    def _past_energy(self, transaction_id: str, rise_wh: float, lasted: timedelta) -> float:
        """A past session's register rise, bounded like any increment (a garbage meterStop such
        as 0xFFFFFFFF must not book gigawatt-hours)."""
        bound = max_energy_wh(self._max_power(), lasted.total_seconds())
        if rise_wh > bound:
            _LOGGER.warning(
                "%s: past transaction %s rose by %.0f Wh in %s: counted %.0f Wh",
                self.charger.charger_id,
                transaction_id,
                rise_wh,
                lasted,
                bound,
            )
            return bound
        return max(0.0, rise_wh)

    def end_transaction(
        self,
        transaction_id: str,
        *,
        ended: datetime,
        reason: str,
        meter_stop_wh: float | None = None,
        readings: Sequence[Reading] = (),
    ) -> Transaction | None:
        """The session of ``transaction_id`` ended (None when the transaction is unknown): see
        :meth:`end_session`."""
        transaction = self.charger.find_transaction(transaction_id)
        if transaction is None and self._already_ended(transaction_id):
            # A replayed end (the charger never saw our answer): counted once already.
            _LOGGER.debug(
                "%s: transaction %s already ended", self.charger.charger_id, transaction_id
            )
            return None
        if transaction is None:
            _LOGGER.warning(
                "%s: end of unknown transaction %s", self.charger.charger_id, transaction_id
            )
            return None
        self.end_session(
            transaction, ended=ended, reason=reason, meter_stop_wh=meter_stop_wh, readings=readings
        )
        return transaction

    @_records_watched
    def end_session(
        self,
        transaction: Transaction,
        *,
        ended: datetime,
        reason: str,
        meter_stop_wh: float | None = None,
        readings: Sequence[Reading] = (),
        end_reading: Reading | None = None,
        live: bool = False,
    ) -> None:
        """The open ``transaction`` ended. ``readings`` (the session's meter history, oldest
        first: the newest values stay shown) and ``meter_stop_wh`` are applied first.
        ``end_reading``: the one of ``readings`` it ended with; ``live``: that one was taken now
        (:func:`~.meter.apply_reading`'s ``live``), the others were read over the session, a
        queue's (one may be of the register's life before a reset inside it: no rise of the
        present one). The end is reported once a register it ended at was taken (:meth:`_close`,
        :func:`_end_registers`). Fires SESSION_ENDED."""
        connector = self.charger.connector(transaction.connector_id)
        power = self._max_power()
        for reading in readings:
            apply_reading(
                self.charger,
                connector.connector_id,
                reading,
                transaction,
                max_power=power,
                live=live and reading is end_reading,
            )
        if meter_stop_wh is not None:
            apply_energy(
                self.charger, connector, meter_stop_wh, transaction, ended, max_power=power
            )
        ends = _end_registers(meter_stop_wh, end_reading, readings)
        reported = any(_took(connector, register_wh) for register_wh in ends)
        self._close(connector, transaction, ended, reason, reported=reported)

    def find_open(self, connector: Connector | None, transaction_id: str) -> Transaction | None:
        """The open transaction ``transaction_id``: the connector's own first (a station that
        numbers its transactions per EVSE, against the spec, has one of that id on each), else
        any (None: no connector named)."""
        own = None if connector is None else connector.transaction
        if own is not None and own.transaction_id == transaction_id:
            return own
        return self.charger.find_transaction(transaction_id)

    def _already_ended(self, transaction_id: str) -> bool:
        return self.charger.find_ended_transaction(transaction_id) is not None

    def _close(
        self,
        connector: Connector,
        transaction: Transaction,
        ended: datetime,
        reason: str,
        *,
        reported: bool,
    ) -> None:
        """End the session; ``reported``: its register at the end was taken (the outlet has
        reported all it took: connector 0's lead on the lifetime ends, ``settle_lifetime_balance``;
        an Ended without meter values, or an implausible stop value, leaves it for later; that
        register settles a reading held as maybe the register's life before, before the session's
        record is written: ``prove_life_before_at_end``; without it, a rise held for our clock
        is kept owed: :meth:`_keep_held_end`)."""
        if reported:
            prove_life_before_at_end(self.charger, connector, transaction, self._max_power())
        else:
            self._keep_held_end(connector, transaction)
        transaction.ended_at = ended
        transaction.stop_reason = reason
        connector.transaction = None
        connector.last_transaction = transaction
        connector.last_session_energy_wh = transaction.energy_wh
        connector.ev_charging_needs = None  # the EV's wishes were for this session
        clear_flow(connector)
        if reported:
            settle_lifetime_balance(self.charger)
        self._book_end(transaction, ended)

    def _keep_held_end(self, connector: Connector, transaction: Transaction) -> None:
        """``transaction`` ends unreported: what it is owed if its register's rise is held for
        our clock (:func:`~.meter_held_end.held_end`), kept for :meth:`_watching_records`."""
        held = held_end(self.charger, connector, transaction, self._max_power())
        if held is not None:
            self._held_ends[connector.connector_id] = held

    def _book_end(self, transaction: Transaction, ended: datetime) -> None:
        """An ended ``transaction`` joins the recently ended ones; SESSION_ENDED fires."""
        recent = self.charger.recently_ended
        recent.append(transaction)
        del recent[:-RECENTLY_ENDED]
        self.charger.notify()
        self._fire_session_record(EventKind.SESSION_ENDED, transaction, ended)
        self._context.request_save()

    def authorize_transaction(self, transaction: Transaction, id_tag: str) -> bool:
        """An id tag presented for a running transaction (a charger that starts sessions on plug-in
        and authorizes later): whether it may charge; the transaction takes its tag and verdict
        (SESSION_IDENTIFIED fires). The authorization event fires once per card swipe (see
        :meth:`authorize_start`)."""
        accepted = self.authorize_start(id_tag, transaction.connector_id)
        if transaction.id_tag != id_tag or transaction.authorized != accepted:
            transaction.id_tag = id_tag
            transaction.authorized = accepted
            self.charger.notify()
            self._fire_start_facts(EventKind.SESSION_IDENTIFIED, transaction)
            self._context.request_save()
        return accepted

    # --- meter values ----------------------------------------------------------------------------
    @contextmanager
    def _watching_records(self, *ended: Transaction) -> Iterator[_RecordWatch]:
        """Work that applies registers (nested: the outermost watches). An ended session whose
        record it changes, one of ``ended``, the one a reading held as maybe the register's
        life before came with (:func:`~.meter_life_before.prove_life_before` counts it there) or
        one that ended while its rise was held for our clock (:meth:`_credit_held_ends`), fires
        one SESSION_UPDATED, as late readings do; a hold that a second reset drops counts what
        it proves either way (:func:`~.meter_life_before.credit_dropped_hold`). Listeners and
        the store hear of it all once (:meth:`_tell`)."""
        outer = self._watch is None
        if self._watch is None:
            holds = list(pending_holds(self.charger))
            self._watch = _RecordWatch(holds)
            ended += tuple(hold.session for hold in holds if hold.session is not None)
            ended += tuple(held.session for held in self._held_ends.values())
        watch = self._watch
        for transaction in ended:
            if transaction.ended_at is not None:
                watched = _Watched(transaction, transaction.ended_at, _record(transaction))
                watch.records.setdefault(id(transaction), watched)
        if not outer:
            yield watch
            return
        try:
            yield watch
        finally:
            self._watch = None
        power = self._max_power()
        for hold in watch.holds:
            credit_dropped_hold(self.charger, hold, power)
        self._credit_held_ends(power)
        self._tell(watch)

    def _credit_held_ends(self, power: float) -> None:
        """Credit each session that ended while its rise was held for our clock what our clocks
        took of it since (:func:`~.meter_held_end.credit_held_end`); forget those settled."""
        for connector_id, held in list(self._held_ends.items()):
            owed = credit_held_end(self.charger, held, power)
            if owed is None:
                del self._held_ends[connector_id]
            else:
                self._held_ends[connector_id] = owed

    def _tell(self, watch: _RecordWatch) -> None:
        """What the watched work changed, told once: an ended session whose record changed
        fires SESSION_UPDATED (the energy its connector shows for its last session follows),
        listeners hear of the model once and the store keeps it once."""
        updated = [w for w in watch.records.values() if _record(w.transaction) != w.before]
        for watched in updated:
            connector = self.charger.connector(watched.transaction.connector_id)
            if connector.last_transaction is watched.transaction:
                connector.last_session_energy_wh = watched.transaction.energy_wh
        if updated or watch.notify:
            self.charger.notify()
        for watched in updated:
            self._fire_session_updated(watched.transaction, watched.ended)
        if updated or watch.save:
            self._context.request_save()

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
        with self._watching_records() as watch:
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
                    self.record_late_readings(ended, readings)
                    return
            else:
                # Some chargers omit the id during a transaction: the connector's running one.
                transaction = connector.transaction
            transaction = self._own_transaction(connector_id, transaction)
            skew = self.charger.clock_skew_s
            clock_off_s = status_order.clock_off_s(self.charger, connector.status)
            power = self._max_power()
            applied = [
                apply_reading(
                    self.charger, connector_id, r, transaction, max_power=power, live=live
                )
                for r in readings
            ]
            self._retake_held_statuses()
            if any(applied) and self._flow_predates_status(connector, clock_off_s):
                clear_flow(connector)
            if any(applied) or self._skew_changed(skew):
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

    def _flow_predates_status(self, connector: Connector, skew_s: float | None) -> bool:
        """Whether the reading ``connector`` shows was taken before the no-flow status it shows
        (an offline queue flushed after the charger's live Finishing): its power is over. A
        reading taken after it (the car draws again), or as of it, is the flow now."""
        status_shown = status_order.shown_status(connector)
        reading_shown = shown_reading(connector.meter)
        if (
            connector.status not in NO_FLOW_STATUSES
            or status_shown is None
            or reading_shown is None
            or reading_shown.got[0] is None  # restored: no reception to order by
        ):
            return False
        shown = (status_shown, reading_shown)
        status = status_order.on_charger_clock(status_shown, reading_shown, skew_s)
        return status_order.taken_after(reading_shown, status, shown) and not (
            status_order.taken_after(status, reading_shown, shown)
        )

    def record_late_readings(self, transaction: Transaction, readings: Sequence[Reading]) -> None:
        """Readings of a transaction that ended already (sent after its end, or replayed): their
        energy counts by the usual rules; up to the end time it is also the session's. They never
        reopen the session and never move the connector's live values (power, current ...).
        When they change the session's energy or cost, SESSION_UPDATED fires (its record, the
        SESSION_ENDED facts, is brought up to date; the session does not end again:
        :meth:`_watching_records`)."""
        connector = self.charger.connector(transaction.connector_id)
        ended = transaction.ended_at
        power = self._max_power()
        with self._watching_records(transaction) as watch:
            for reading in readings:
                own = ended is None or reading.timestamp <= ended
                if apply_reading_energy(
                    self.charger, connector, reading, transaction if own else None, max_power=power
                ):
                    watch.changed(save=True)

    def _fire_session_updated(self, transaction: Transaction, ended: datetime) -> None:
        """SESSION_UPDATED: the facts SESSION_ENDED gave of ``transaction``, as they are now."""
        self._fire_session_record(EventKind.SESSION_UPDATED, transaction, ended)

    def _fire_session_record(
        self, kind: EventKind, transaction: Transaction, ended: datetime
    ) -> None:
        """An ended session's facts (SESSION_ENDED, and SESSION_UPDATED when they changed)."""
        self._fire(
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
        self._fire(EventKind.FIRMWARE_STATUS, status=status)

    def record_diagnostics_status(self, status: str) -> None:
        self.charger.diagnostics_status = status
        self.charger.notify()
        self._fire(EventKind.DIAGNOSTICS_STATUS, status=status)

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
        self._fire(
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
        self._fire(
            EventKind.SECURITY_EVENT,
            type=event_type,
            timestamp=utcnow().isoformat(),
            tech_info=tech_info,
            source=SECURITY_EVENT_FROM_SERVER,
        )

    def record_reservation_status(
        self, reservation_id: int, status: str, connector_id: int = 0
    ) -> None:
        """A reservation of ``connector_id`` (0: the charger as a whole) ended without a
        transaction (expired, removed ...)."""
        self._fire(
            EventKind.RESERVATION_STATUS,
            connector_id,
            reservation_id=reservation_id,
            status=status,
        )

    def record_data_transfer(self, vendor_id: str, message_id: str | None, data: object) -> None:
        """Vendor-specific data: handed to Home Assistant as an event (automations interpret it)."""
        self._fire(EventKind.DATA_TRANSFER, vendor_id=vendor_id, message_id=message_id, data=data)


def _end_registers(
    meter_stop_wh: float | None, end_reading: Reading | None, readings: Sequence[Reading]
) -> list[float | None]:
    """The registers a session ended at (:meth:`ChargerState.end_session`): its stop value, else
    its end reading's and the newest read with it (stamped within a second of it, whole seconds
    truncated or rounded: the register an end sample with the SoC only lacks comes in an entry
    of the same or the next second). One read earlier (the session's last periodic sample, a
    minute before) is not its end: taken for it, a whole-charger meter's own use would be settled
    as all the rise after it, counted again with the outlet's next reading (left unreported, the
    lifetime only waits for that meter's next reading)."""
    if meter_stop_wh is not None:
        return [meter_stop_wh]
    if end_reading is None:
        return []
    within_s = 1.5 * STAMP_RESOLUTION_S
    at_the_end = [
        reading
        for reading in readings
        if abs((reading.timestamp - end_reading.timestamp).total_seconds()) <= within_s
    ]
    return [end_reading.energy_register_wh, last_register_wh(at_the_end)]


def _began_before(started: datetime, transaction: Transaction | None) -> bool:
    """Whether a start at ``started`` is history behind ``transaction`` (it began later)."""
    if transaction is None or started >= transaction.started_at:
        return False
    # Older than MAX_PAST_SESSION_AGE: rather a clock set wrong after a reboot than an offline
    # queue this old, so a new session (the running one's end was lost), replacing it as before.
    return utcnow() - started <= MAX_PAST_SESSION_AGE


def follows_by_register(start_wh: float, last_wh: float) -> bool:
    """Whether a session that starts at the register ``start_wh`` came after the register read
    ``last_wh`` (a session's last value, the connector's), whatever the charger's clock says (set
    back after a reboot): it starts at or above it; one that starts below began before (the meter
    only counts up)."""
    return start_wh >= last_wh


def _count_from_start_after_clock_back(
    connector: Connector, start_wh: float, started: datetime
) -> None:
    """A session that starts at or above the connector's register but is stamped before it came
    after it all the same (:func:`follows_by_register`: the charger's clock went back, and
    :meth:`ChargerState.session_after` let it start): the register counts from the start's time,
    or the session's readings, stamped after its start, would be taken for history
    (:func:`~.meter.count_from`: what it gave before stays history)."""
    meter = connector.meter
    read_at = meter.energy_timestamp
    if (
        meter.energy_register_wh is not None
        and read_at is not None
        and started < read_at
        and follows_by_register(start_wh, meter.energy_register_wh)
    ):
        count_from(meter, started)


def _took(connector: Connector, register_wh: float | None) -> bool:
    """Whether ``register_wh`` (given) is the connector's register now: it was taken."""
    return register_wh is not None and connector.meter.energy_register_wh == register_wh
