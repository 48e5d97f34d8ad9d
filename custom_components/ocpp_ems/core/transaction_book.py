"""Transactions applied to the model: a session's start (ending one its connector still had
open: :data:`REPLACED`), its start arriving late (:meth:`TransactionBook.record_earlier_start`),
a session booked only once it was over (:meth:`TransactionBook.record_past_session`), its end
and the readings that come after it (:meth:`TransactionBook.record_late_readings`). Which
transaction a message belongs to is :mod:`.transaction_lookup`'s; the records of ended sessions
that registers change are watched by :mod:`.record_watch`."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Concatenate

from .meter import (
    apply_energy,
    apply_reading,
    apply_reading_energy,
    clear_flow,
    count_from,
    credit_session,
    energy_up_to_base,
    point_by_our_clock,
    read_register,
    register_base,
)
from .meter_life_before import prove_life_before_at_end
from .meter_lifetime import settle_lifetime_balance
from .meter_time import max_energy_wh, session_time_by_our_clock, start_register_time
from .meter_values import Reading, last_register_wh
from .model import RECENTLY_ENDED, Connector, EventKind, Transaction
from .model_writer import ModelWriter
from .record_watch import RecordWatcher
from .status_order import STAMP_RESOLUTION_S
from .timeutil import utcnow
from .transaction_lookup import follows_by_register

_LOGGER = logging.getLogger(__name__)

# Why a transaction ended when the charger started a new one on its connector without ending it.
REPLACED = "Replaced"


def _records_watched[**P, R](
    method: Callable[Concatenate[TransactionBook, P], R],
) -> Callable[Concatenate[TransactionBook, P], R]:
    """``method`` applies registers: inside
    :meth:`~.record_watch.RecordWatcher.watching_records`."""

    @functools.wraps(method)
    def watched(book: TransactionBook, /, *args: P.args, **kwargs: P.kwargs) -> R:
        with book._records.watching_records():
            return method(book, *args, **kwargs)

    return watched


class TransactionBook:
    """Starts, ends and books a charger's transactions (one per session)."""

    def __init__(self, writer: ModelWriter, records: RecordWatcher) -> None:
        self._writer = writer
        self._charger = writer.charger
        self._records = records

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
        meter_start_stamp: datetime | None = None,
    ) -> Transaction:
        """A session started. A transaction still open on the connector (its end was lost) is
        ended first, with reason :data:`REPLACED` (adapters ask
        :func:`~.transaction_lookup.session_after` first: an older session never replaces a
        newer one), with the energy up to this start's register
        (it charged until then as far as we know). Fires SESSION_STARTED.

        ``meter_start_wh`` None: the charger did not say (2.x); the session counts from the
        connector's last known register (after a restart: the lifetime counter's, where that is
        the connector's), else from its next reading (``Transaction.start_pending``).

        ``meter_start_stamp``: the charger's own stamp of ``meter_start_wh`` (None, or years
        ahead: ``started``; :func:`~.meter_time.start_register_time`), kept also where ``started``
        could not keep it (too far ahead of our clock to be a start time): the register is dated
        like any reading (:func:`~.meter_time.effective_time`), its stamp compared with the
        charger's others. Dated by our clock instead, a start inside a rise held for our clock
        was taken for a late one (:func:`~.meter._since_base`) and owed the rise before it."""
        connector = self._charger.connector(connector_id)
        power = self._writer.max_power()
        register_at = start_register_time(meter_start_stamp, started)
        if (replaced := connector.transaction) is not None:
            if meter_start_wh is not None:
                apply_energy(
                    self._charger, connector, meter_start_wh, replaced, register_at, max_power=power
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
            base = register_base(self._charger, connector)
            pending = base is None
            meter_start_wh = 0.0 if base is None else base.register_wh
        transaction = self._new_transaction(
            connector_id,
            transaction_id,
            id_tag,
            authorized,
            started,
            (meter_start_wh, meter_start_wh),
            start_pending=pending,
        )
        # The start value passes the connector's rules (energy since its last value is not this
        # session's); the session counts from here.
        if known:
            _count_from_start_after_clock_back(connector, meter_start_wh, started)
            if not apply_energy(
                self._charger, connector, meter_start_wh, None, register_at, max_power=power
            ):
                # A late start: readings after it were counted already, for the connector only.
                # A base below the start register (a rise held for our clock) is no reading
                # after it: the session counts from its own start (the rise below, the one
                # before's: meter_held_end).
                base_wh = connector.meter.energy_register_wh
                transaction.meter_last_wh = max(base_wh or meter_start_wh, meter_start_wh)
                self._credit_since(transaction, meter_start_wh, register_at)
        connector.transaction = transaction
        self._writer.take_reservation(transaction)
        self._charger.notify()
        self._writer.fire_start_facts(EventKind.SESSION_STARTED, transaction)
        self._writer.context.request_save()
        return transaction

    def _new_transaction(
        self,
        connector_id: int,
        transaction_id: str,
        id_tag: str | None,
        authorized: bool,
        started: datetime,
        registers_wh: tuple[float, float],
        *,
        start_pending: bool = False,
    ) -> Transaction:
        """A transaction booked here, its first and last register ``registers_wh``: its energy
        is what is credited to it (none yet, not the registers' rise), known to cost nothing yet
        once a price is known (None: not costed)."""
        first_wh, last_wh = registers_wh
        return Transaction(
            transaction_id=transaction_id,
            connector_id=connector_id,
            id_tag=id_tag,
            started_at=started,
            meter_start_wh=first_wh,
            meter_last_wh=last_wh,
            credited_wh=0.0,
            authorized=authorized,
            cost=None if self._charger.energy_price is None else 0.0,
            start_pending=start_pending,
        )

    def record_earlier_start(
        self, transaction: Transaction, started: datetime, register_wh: float | None
    ) -> None:
        """The start of a transaction arrived after later messages of it (out of order, maybe
        after its end: then SESSION_UPDATED fires): it began at ``started``, its register then
        ``register_wh`` (None: not given). The energy from there up to the session's last value
        is the session's (the connector counted it from those later readings already)."""
        if started >= transaction.started_at:
            return
        with self._records.watching_records(transaction) as watch:
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
        connector = self._charger.connector(transaction.connector_id)
        energy = energy_up_to_base(
            self._charger, connector, register_wh, at, max_power=self._writer.max_power()
        )
        energy = min(energy, transaction.meter_last_wh - register_wh)
        base = read_register(connector.meter)
        base_at = None if base is None else point_by_our_clock(self._charger, base)
        drawn = None if base_at is None else (self._session_time_ours(at), base_at)
        credit_session(self._charger, transaction, max(0.0, energy - transaction.energy_wh), drawn)

    def _session_time_ours(self, at: datetime) -> datetime:
        """A session's time by our clock, for its price (:func:`session_time_by_our_clock`)."""
        return session_time_by_our_clock(self._charger, at, utcnow())

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
        connector = self._charger.connector(connector_id)
        first_wh, last_wh = registers_wh or (0.0, 0.0)
        first_at, last_at = registers_at or (started, ended)
        lasted = max(ended, last_at) - min(started, first_at)
        transaction = self._new_transaction(
            connector_id, transaction_id, id_tag, authorized, started, (first_wh, last_wh)
        )
        # Costed at the prices of when it ran, as far as they are known.
        credit_session(
            self._charger,
            transaction,
            self._past_energy(transaction_id, last_wh - first_wh, lasted),
            (self._session_time_ours(first_at), self._session_time_ours(last_at)),
        )
        self._writer.fire_start_facts(EventKind.SESSION_STARTED, transaction)
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
        bound = max_energy_wh(self._writer.max_power(), lasted.total_seconds())
        if rise_wh > bound:
            _LOGGER.warning(
                "%s: past transaction %s rose by %.0f Wh in %s: counted %.0f Wh",
                self._charger.charger_id,
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
        transaction = self._charger.find_transaction(transaction_id)
        if transaction is None and self._already_ended(transaction_id):
            # A replayed end (the charger never saw our answer): counted once already.
            _LOGGER.debug(
                "%s: transaction %s already ended", self._charger.charger_id, transaction_id
            )
            return None
        if transaction is None:
            _LOGGER.warning(
                "%s: end of unknown transaction %s", self._charger.charger_id, transaction_id
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
        connector = self._charger.connector(transaction.connector_id)
        power = self._writer.max_power()
        for reading in readings:
            apply_reading(
                self._charger,
                connector.connector_id,
                reading,
                transaction,
                max_power=power,
                live=live and reading is end_reading,
            )
        if meter_stop_wh is not None:
            apply_energy(
                self._charger, connector, meter_stop_wh, transaction, ended, max_power=power
            )
        ends = _end_registers(meter_stop_wh, end_reading, readings)
        reported = any(_took(connector, register_wh) for register_wh in ends)
        self._close(connector, transaction, ended, reason, reported=reported)

    def _already_ended(self, transaction_id: str) -> bool:
        return self._charger.find_ended_transaction(transaction_id) is not None

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
        is kept owed: :meth:`~.record_watch.RecordWatcher.keep_held_end`)."""
        if reported:
            prove_life_before_at_end(
                self._charger, connector, transaction, self._writer.max_power()
            )
        else:
            self._records.keep_held_end(connector, transaction)
        transaction.ended_at = ended
        transaction.stop_reason = reason
        connector.transaction = None
        connector.last_transaction = transaction
        connector.last_session_energy_wh = transaction.energy_wh
        connector.ev_charging_needs = None  # the EV's wishes were for this session
        clear_flow(connector)
        if reported:
            settle_lifetime_balance(self._charger)
        self._book_end(transaction, ended)

    def _book_end(self, transaction: Transaction, ended: datetime) -> None:
        """An ended ``transaction`` joins the recently ended ones; SESSION_ENDED fires."""
        recent = self._charger.recently_ended
        recent.append(transaction)
        del recent[:-RECENTLY_ENDED]
        self._charger.notify()
        self._writer.fire_session_record(EventKind.SESSION_ENDED, transaction, ended)
        self._writer.context.request_save()

    def record_late_readings(self, transaction: Transaction, readings: Sequence[Reading]) -> None:
        """Readings of a transaction that ended already (sent after its end, or replayed): their
        energy counts by the usual rules; up to the end time it is also the session's. They never
        reopen the session and never move the connector's live values (power, current ...).
        When they change the session's energy or cost, SESSION_UPDATED fires (its record, the
        SESSION_ENDED facts, is brought up to date; the session does not end again:
        :meth:`~.record_watch.RecordWatcher.watching_records`)."""
        connector = self._charger.connector(transaction.connector_id)
        ended = transaction.ended_at
        power = self._writer.max_power()
        with self._records.watching_records(transaction) as watch:
            for reading in readings:
                own = ended is None or reading.timestamp <= ended
                if apply_reading_energy(
                    self._charger, connector, reading, transaction if own else None, max_power=power
                ):
                    watch.changed(save=True)


def _end_registers(
    meter_stop_wh: float | None, end_reading: Reading | None, readings: Sequence[Reading]
) -> list[float | None]:
    """The registers a session ended at (:meth:`TransactionBook.end_session`): its stop value, else
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


def _count_from_start_after_clock_back(
    connector: Connector, start_wh: float, started: datetime
) -> None:
    """A session that starts at or above the connector's register but is stamped before it came
    after it all the same (:func:`~.transaction_lookup.follows_by_register`: the charger's clock
    went back, and :func:`~.transaction_lookup.session_after` let it start): the register counts
    from the start's time, or the session's readings, stamped after its start, would be taken
    for history (:func:`~.meter.count_from`: what it gave before stays history)."""
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
