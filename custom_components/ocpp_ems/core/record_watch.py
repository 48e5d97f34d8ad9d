"""The records of ended sessions that work applying registers may change: a late reading, a start
that arrived after its session's end, a reading held as maybe the register's life before that a
later one proves, a rise held for our clock owed to a session that ended meanwhile. Each changed
record fires one SESSION_UPDATED, and listeners and the store hear of the work once
(:meth:`RecordWatcher.watching_records`)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import NamedTuple

from .meter_held_end import HeldEnd, credit_held_end, held_end
from .meter_life_before import PendingHold, credit_dropped_hold, pending_holds
from .model import RECENTLY_ENDED, Connector, EventKind, Transaction
from .model_writer import ModelWriter

# What SESSION_UPDATED tells of an ended session that its late news may change.
type _Record = tuple[float, float | None, datetime]


def _record(transaction: Transaction) -> _Record:
    """``transaction``'s energy, cost and start, as its record tells them."""
    return transaction.energy_wh, transaction.cost, transaction.started_at


class _Watched(NamedTuple):
    """An ended session :meth:`RecordWatcher.watching_records` watches: its record as it was."""

    transaction: Transaction
    ended: datetime
    before: _Record


@dataclass
class RecordWatch:
    """What :meth:`RecordWatcher.watching_records` watches: the readings held as maybe a
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


class RecordWatcher:
    """Watches the ended sessions' records while registers are applied (one per session)."""

    def __init__(self, writer: ModelWriter) -> None:
        self._writer = writer
        self._charger = writer.charger
        # While registers are applied (the outermost :meth:`watching_records`): what it watches.
        self._watch: RecordWatch | None = None
        # The sessions that ended while their rise was held for our clock, each connector's in
        # order (a session started in the hold ends there too: each is owed its own part; on this
        # connection: a reconnect forgets them, the lifetime still takes the rise; the newest
        # RECENTLY_ENDED only: :meth:`keep_held_end`).
        self._held_ends: list[HeldEnd] = []

    @contextmanager
    def watching_records(self, *ended: Transaction) -> Iterator[RecordWatch]:
        """Work that applies registers (nested: the outermost watches). An ended session whose
        record it changes, one of ``ended``, the one a reading held as maybe the register's
        life before came with (:func:`~.meter_life_before.prove_life_before` counts it there) or
        one that ended while its rise was held for our clock (:meth:`_credit_held_ends`), fires
        one SESSION_UPDATED, as late readings do; a hold that a second reset drops counts what
        it proves either way (:func:`~.meter_life_before.credit_dropped_hold`). Listeners and
        the store hear of it all once (:meth:`_tell`)."""
        outer = self._watch is None
        if self._watch is None:
            holds = list(pending_holds(self._charger))
            self._watch = RecordWatch(holds)
            ended += tuple(hold.session for hold in holds if hold.session is not None)
            ended += tuple(held.session for held in self._held_ends)
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
        power = self._writer.max_power()
        for hold in watch.holds:
            credit_dropped_hold(self._charger, hold, power)
        self._credit_held_ends(power)
        self._tell(watch)

    def _credit_held_ends(self, power: float) -> None:
        """Credit each session that ended while its rise was held for our clock what our clocks
        took of it since (:func:`~.meter_held_end.credit_held_end`); forget those settled."""
        owed = (credit_held_end(self._charger, held, power) for held in self._held_ends)
        self._held_ends = [held for held in owed if held is not None]

    def _tell(self, watch: RecordWatch) -> None:
        """What the watched work changed, told once: an ended session whose record changed
        fires SESSION_UPDATED (the energy its connector shows for its last session follows),
        listeners hear of the model once and the store keeps it once."""
        updated = [w for w in watch.records.values() if _record(w.transaction) != w.before]
        for watched in updated:
            connector = self._charger.connector(watched.transaction.connector_id)
            if connector.last_transaction is watched.transaction:
                connector.last_session_energy_wh = watched.transaction.energy_wh
        if updated or watch.notify:
            self._charger.notify()
        for watched in updated:
            self._writer.fire_session_record(
                EventKind.SESSION_UPDATED, watched.transaction, watched.ended
            )
        if updated or watch.save:
            self._writer.context.request_save()

    def keep_held_end(self, connector: Connector, transaction: Transaction) -> None:
        """``transaction`` ends unreported: what it is owed if its register's rise is held for
        our clock (:func:`~.meter_held_end.held_end`), kept for :meth:`watching_records`."""
        held = held_end(self._charger, connector, transaction, self._writer.max_power())
        if held is not None:
            # The newest only, as many as the model remembers ended sessions: a station that
            # starts and stops sessions all through the hold never grows them (nor the work of
            # each update); an older one's rise still counts for the lifetime.
            self._held_ends = [*self._held_ends[-RECENTLY_ENDED + 1 :], held]
