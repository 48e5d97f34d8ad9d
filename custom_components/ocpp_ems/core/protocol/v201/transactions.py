"""TransactionEvent (2.x): Started / Updated / Ended onto the model's transactions.

A TransactionEvent cannot be rejected: whatever arrives is answered, and nothing it says is lost
or counted twice. The rules:

- **Sequence numbers.** Each transaction keeps the ``seqNo`` values that arrived
  (:class:`~...model.EventSequence`, persisted with the transaction). A number seen before with a
  timestamp not newer than the transaction's newest message is a *duplicate* (the station never
  saw our answer and sends it again): answered again, nothing applied (but an Ended while the
  transaction is open: it was never applied, whatever its number; and the card of a transaction
  that has no owner yet is taken). A number below the highest one and not newer than the newest
  message is *late* (a gap being filled, an offline replay): its readings count by the energy
  rules, its charging state is history and changes nothing. A number not above the highest but
  sent after everything else means the station counts again from the start (a reboot): the log
  starts over. The gaps still open when the transaction ends
  are reported (the newest :data:`MAX_SEQ_RANGES` ranges are kept; a warning the first time on a
  connection, at debug level after that: a station's habit, said once).
- **A late Started** (after later messages of its transaction, e.g. an offline queue that retried
  it; also after its Ended) moves the session's start back to its time, and its
  ``Transaction.Begin`` value (else its first register) becomes the start value: the energy since
  then is the session's (:meth:`~...charger_state.ChargerState.record_earlier_start`).
- **Offline events** (``offline``) are history with their own timestamps: readings go through the
  same energy rules as live ones (older than the connector's last value: not counted again), and
  a charging state older than what the station reported since changes nothing. The others (not
  sent behind a newer message) were read as sent: in the register's present life, whatever their
  stamps (:func:`_taken_now`); so was an offline Ended of the open transaction, read after all
  it sent (the one a station builds at its boot for the session it kept, stamped by a clock
  restarted at its build date: :func:`_ended_in_present_life`). Of an Ended, its end reading
  only (:func:`_end_reading`): the samples it carries of the transaction (TxEndedMeasurands)
  were read over it; all are applied together, oldest first (the newest values stay shown).
- **Ended transactions never come back.** A message for a transaction that ended already (its
  Ended replayed, readings sent after the end, a Started sent again) is recognised
  (:meth:`~...model.Charger.find_ended_transaction`): its energy counts (up to the end time also
  for the session, :meth:`~...charger_state.ChargerState.record_late_readings`), the session
  stays closed. A Started stamped after the end is no replay (a replay carries its original
  time): a station that numbers its transactions from 1 again after a reboot started a new one.
  So is a Started stamped before the ended one began, or inside its span, that starts at or
  above its last register (:func:`after_reboot`: the station rebooted without a time source,
  its clock behind by more, or less, than the ended one ran).
- **A transaction lost in a reboot.** A station that reboots during a transaction and loses it
  never sends its Ended (one that kept it ends it itself: PowerLoss, Reboot); counting from the
  start again, it may use the id again for its next session. A Started of the open
  transaction's id on its EVSE that starts at or above its last register and above its start
  (:func:`after_reboot`, whatever its stamp and seqNo) is that next session, never the open
  one's Started sent again (which carries its start register); so is one, with or without a
  register, stamped after the open one was last known to run with a seqNo below its highest
  (:func:`_counts_again`: a clock that kept the time; a Started sent again carries its original
  time), and one on another EVSE after a BootNotification that came after the open one's newest
  live message (a mark persisted with it; its queue sent after the boot, flagged offline or sent
  again, is no sign the station kept it unless its stamp shows it was written after the boot:
  after it by a clock we may go by, or before the open one began by a clock restarted at an old
  date: :func:`_on_open`, :func:`written_since_boot`, :func:`stamped_by_restarted_clock`; a
  queue written before the boot is ambiguous, a spec station that lost the transaction keeps it
  too), whatever its stamp (one from an
  offline queue: stamped after the open one was last known to run), unless the station showed
  it numbers its transactions per EVSE (:func:`_lost_for_another_evse`; without that boot it is
  the other EVSE's own, below). It shows that by a live message starting a transaction while
  its id is open on another EVSE (two ran at once as we received them, remembered for good:
  :func:`note_numbering_per_evse`), never by stamps (a clock restarted at an old date after a
  reboot stamps a new session before one of the other EVSE ended).
  The open one ends as :data:`STOPPED_BY_REBOOT` when it was last known to run, with the energy it
  counted, and the new one starts (:func:`lost_in_reboot`).
  A message of a reused id stamped before the newer transaction began, by the end of an earlier
  one, is that earlier one's (:func:`earlier_owner`), and so is one that repeats a message of an
  earlier one (after the clock went back it is stamped after the newer one began): it never ends
  or extends the newer one (the recently ended transactions are persisted: also when it comes
  after a restart). A card for the newer one, open without an owner, is its own, never a repeat
  (:func:`_identifies`: the same household shows the same card).
- **The same id on two EVSEs** (ids are unique per station, but firmware that numbers them per
  EVSE exists): a Started naming another EVSE than the transaction of its id, whatever its
  stamp, is another transaction (a transaction never moves); each EVSE's messages go to its own,
  open or ended, before another EVSE's open one of the id (:func:`_find_ended`: an Ended sent
  again for one EVSE must never end or count on the other); so does an Ended naming no EVSE
  that repeats one EVSE's ended one exactly, and on a station that showed it numbers per EVSE
  any message naming no EVSE that does (:func:`_repeated_elsewhere`: an Updated sent again
  never gives the other EVSE's open one its card, charging state or seqNos; on a station that
  keeps ids unique the open one's own messages after a boot look like such a repeat). A message
  naming no EVSE written before the station's last boot, when the open one began live after it,
  is an ended one's of another EVSE (:func:`_ended_elsewhere_before_boot`).
  Without a boot since the open one's newest live message it never ends the open one (two cars
  started at about the same moment: their Starteds arrive in either order of their stamps).
- **Unknown transactions** (their Started was lost, or is late) start on their first message,
  from their ``Transaction.Begin`` reading when they have one, else from the EVSE's last register
  (as a Started without meter values: the readings of an Updated or Ended are taken after the
  start; either order of the two then counts the same).
- **Missing EVSE.** A transaction whose messages name no EVSE is booked where it can only be
  (:func:`~.station.resolve_evse`), never guessed: until a message names its EVSE, its messages
  are held (in order); if it ends unresolved, the session is recorded on connector 0 (the station
  as a whole) with the energy of its own readings, and no connector's meter is touched.
- **Older than a newer session.** An unknown transaction that began before the transaction
  running on its EVSE, or before its last one (an offline queue sent newest first:
  :meth:`~...charger_state.ChargerState.session_after`, as for 1.6), is history: its messages are
  held until it ends (also when the newer one ends meanwhile), then it is recorded as a past
  session of that EVSE with the energy of its own readings; the newer one goes on, and stays the
  EVSE's last session (the running one used to be ended as ``Replaced``). At most
  :data:`MAX_HELD_TRANSACTIONS` are held (not persisted): beyond that the oldest is booked as it
  stands.

Transaction ids are strings; the model's connector id is the EVSE id.

Where the rules live: which transaction a message belongs to in :mod:`.tx_routing`, the boot
mark and the signs of a reboot in :mod:`.tx_boot_mark`, the ``seqNo`` log in :mod:`.tx_sequence`,
the message as read in :mod:`.tx_message`; applying it here.
"""

from __future__ import annotations

import logging
from datetime import datetime

from custom_components.ocpp_ems.core.charger_state import ChargerState
from custom_components.ocpp_ems.core.meter_values import Reading
from custom_components.ocpp_ems.core.model import EventSequence, Transaction
from custom_components.ocpp_ems.core.protocol.common import spans
from custom_components.ocpp_ems.core.protocol.rpc import Payload

from .station import apply_status, report_charging_state, resolve_evse, station_state
from .tx_boot_mark import (
    last_known_at,
    lost_in_reboot,
    note_numbering_per_evse,
    note_start,
    stamped_by_restarted_clock,
    written_since_boot,
)
from .tx_message import (
    END,
    Event,
    begin_reading,
    first_register,
    id_token_info,
    start_register,
    start_register_stamp,
    start_time,
)
from .tx_routing import earlier_owner, find_transaction, starts_another
from .tx_sequence import Seen, missing, observe

_LOGGER = logging.getLogger(__name__)

# The spec's default when an Ended event gives no stoppedReason.
DEFAULT_STOPPED_REASON = "Local"
# The stoppedReason of a transaction the station lost in a reboot (its Ended never comes): the
# spec's value for a reboot the CSMS did not ask for.
STOPPED_BY_REBOOT = "Reboot"
# Messages of a held transaction (module docstring): the first ones and the latest are kept; at
# most this many transactions are held (a station has a few EVSEs; the oldest is booked first).
MAX_HELD_EVENTS = 200
MAX_HELD_TRANSACTIONS = 16


def transaction_event(state: ChargerState, payload: Payload) -> Payload:
    """Apply one TransactionEvent (module docstring) and return its answer."""
    event = Event.parse(payload)
    charger = state.charger
    if event.offline:
        _LOGGER.debug(
            "%s: offline %s of transaction %s (seqNo %s, %s)",
            charger.charger_id,
            event.kind,
            event.transaction_id,
            event.seq_no,
            event.at.isoformat(),
        )
    transaction, ended = find_transaction(state, event)
    earlier = earlier_owner(charger, transaction or ended, event)
    if earlier is not None:
        accepted = _on_ended(state, earlier, event)
    elif transaction is not None and lost_in_reboot(charger, transaction, event):
        _end_lost_in_reboot(state, transaction, event)
        accepted = _on_unknown(state, event)
    elif transaction is not None and not starts_another(transaction, event):
        accepted = _on_open(state, transaction, event)
    elif ended is not None and not starts_another(ended, event):
        accepted = _on_ended(state, ended, event)
    else:
        accepted = _on_unknown(state, event)
    if not event.has_token:
        return {}
    return {"idTokenInfo": id_token_info(accepted)}


def _end_lost_in_reboot(state: ChargerState, running: Transaction, started: Event) -> None:
    """End ``running``, lost in a reboot (:func:`lost_in_reboot`), when it was last known to run
    (its newest reading or message) with the energy it counted: the new session's energy is its
    own, never the lost one's."""
    last_known = last_known_at(running)
    _LOGGER.warning(
        "%s: transaction %s on EVSE %s never ended: the station rebooted and started a new "
        "transaction %s on EVSE %s; ended as %s at %s",
        state.charger.charger_id,
        running.transaction_id,
        running.connector_id,
        started.transaction_id,
        started.evse_id or running.connector_id,
        STOPPED_BY_REBOOT,
        last_known.isoformat(),
    )
    state.end_session(running, ended=last_known, reason=STOPPED_BY_REBOOT)
    # Its charging state is over (else a status stamped by the clock gone back stays behind it).
    _report_ended(state, running.connector_id, last_known, unplugged=False)


def _verdict(state: ChargerState, event: Event) -> bool:
    """The id token's verdict without an event (asked again, or the token that stopped)."""
    return event.id_tag is None or state.authorize(event.id_tag, events=False)


def _on_open(state: ChargerState, transaction: Transaction, event: Event) -> bool:
    seen, live = _observe(transaction, event)
    if (
        (seen is Seen.NEW and live)
        or written_since_boot(state.charger, event)
        or stamped_by_restarted_clock(transaction, event)
    ):
        # The station still runs it: it was not lost in a boot. Its queue is no sign (flagged
        # offline, sent again, a gap filled, its seqNo continuing: it queued them before the
        # reboot too) unless written after the boot, as its stamp shows: a queue kept through a
        # reboot outlives what it lost, and would clear the mark ahead of the Started that uses
        # the id again.
        transaction._boot_since_last_message = False
    if seen is Seen.DUPLICATE and event.kind != "Ended":
        # (An Ended of an open transaction was never applied, whatever its number: a station
        # that does not count its messages up must not keep the session open for ever.)
        _LOGGER.debug(
            "%s: duplicate seqNo %s of transaction %s",
            state.charger.charger_id,
            event.seq_no,
            event.transaction_id,
        )
        if transaction.id_tag is None:
            # Counted nothing again, but a card the session lacks is a fact (a station that
            # numbers and stamps the message of a card shown after a cable-first start like one
            # it sent). A session with an owner keeps it: a later card may have replaced the
            # one a repeat names.
            return _take_token(state, transaction, event)
        return _verdict(state, event)
    return _apply(state, transaction, event, seen, live=live)


def _observe(transaction: Transaction, event: Event) -> tuple[Seen, bool]:
    """Record ``event`` in ``transaction``'s sequence: where it stands, and whether its readings
    were taken now (:func:`_taken_now`, against the newest of the messages before it: once
    observed, a message newer than all is the newest itself)."""
    if transaction.sequence is None:
        transaction.sequence = EventSequence()
    newest_before = transaction.sequence.latest_at
    seen = observe(transaction.sequence, event.seq_no, event.at)
    return seen, _taken_now(transaction, event, seen, newest_before)


def _apply(
    state: ChargerState, transaction: Transaction, event: Event, seen: Seen, *, live: bool
) -> bool:
    """A new (or late) message of an open transaction (``live``: :func:`_taken_now`); returns
    the id token's verdict."""
    charger = state.charger
    evse_id = transaction.connector_id
    if event.evse_id is not None and event.evse_id != evse_id:
        _LOGGER.warning(
            "%s: transaction %s of EVSE %s reported on EVSE %s; kept on EVSE %s",
            charger.charger_id,
            event.transaction_id,
            evse_id,
            event.evse_id,
            evse_id,
        )
    if seen is Seen.LATE:
        _record_earlier_start(state, transaction, event)
    if event.kind == "Ended":
        state.end_session(
            transaction,
            ended=event.at,
            reason=event.stopped_reason or DEFAULT_STOPPED_REASON,
            readings=event.readings,
            end_reading=_end_reading(event.readings),
            live=live,
        )
        unplugged = event.stopped_reason == "EVDisconnected"
        _report_ended(state, evse_id, event.at, unplugged=unplugged)
        assert transaction.sequence is not None  # observed before
        gaps = missing(transaction.sequence)
        if gaps:
            first = state.first_warning("seqno_gaps")
            _LOGGER.log(
                logging.WARNING if first else logging.DEBUG,
                "%s: transaction %s ended without the messages seqNo %s%s",
                charger.charger_id,
                event.transaction_id,
                spans(gaps),
                " (later ones on this connection at debug level)" if first else "",
            )
        return _verdict(state, event)
    if event.readings:
        state.record_meter(evse_id, event.readings, event.transaction_id, live=live)
    if event.charging_state is not None and seen is Seen.NEW:
        report_charging_state(charger, evse_id, event.charging_state, event.at)
        apply_status(state, evse_id)
    return _take_token(state, transaction, event)


def _taken_now(
    transaction: Transaction, event: Event, seen: Seen, newest_before: datetime | None
) -> bool:
    """Whether ``event``'s readings (a message of the open ``transaction``) were taken in the
    register's present life whatever their stamps (:func:`~...meter.apply_reading`'s ``live``: a
    clock restarted at its build date after a power cut stamps the Ended of the session it kept
    years back): not sent behind a newer message of its transaction (:attr:`Seen.LATE`: one sent
    again, never answered), and not flagged offline (the spec has a station flag what it
    queued), unless it is the transaction's Ended read after all it sent before it (stamped
    ``newest_before`` at the latest: :func:`_ended_in_present_life`). An Ended's end reading
    only (:func:`_end_reading`)."""
    if seen is Seen.LATE:
        return False
    return not event.offline or _ended_in_present_life(transaction, event, newest_before)


def _end_reading(readings: list[Reading]) -> Reading | None:
    """The reading an Ended's ``readings`` end their transaction with: the last of context
    Transaction.End, else the newest (None: it carries none). Taken now, it alone is of the
    register's present life (:func:`_taken_now`): the samples it carries of the transaction
    before (TxEndedMeasurands), read over it, may be of its life before a reset inside it (no
    rise of the present one), and are applied as a queue's with it
    (:meth:`~...charger_state.ChargerState.end_session`)."""
    ends = [reading for reading in readings if reading.context == END] or readings
    return ends[-1] if ends else None


def _ended_in_present_life(
    transaction: Transaction, event: Event, newest_before: datetime | None
) -> bool:
    """Whether ``event``, flagged offline, is ``transaction``'s Ended read in the register's
    present life: nothing of a transaction comes after its Ended, so it was read after every
    message of it (an offline queue of the life before, sent after the present life's readings,
    holds Updated, never the Ended of a transaction that went on). Unless a reading came for it
    other than in its messages, after the newest (a MeterValues of the EVSE after the boot, sent
    ahead of the queued Ended, from a register that restarted when the power failed: the Ended
    carries the one stored then). Whatever its seqNo (a station that counts from 0 again after
    its boot repeats one) and stoppedReason (PowerLoss, Reboot, EVDisconnected after the boot:
    when it was built is not what tells). ``newest_before``: the newest stamp of its messages
    before it (None: none came), never its own (an Ended stamped after that reading would pass)."""
    last_read = transaction.meter_last_at
    return (
        event.kind == "Ended"
        and newest_before is not None
        and (last_read is None or last_read <= newest_before)
    )


def _report_ended(state: ChargerState, evse_id: int, at: datetime, *, unplugged: bool) -> None:
    """The EVSE's transaction ended at ``at`` (``unplugged``: the car left)."""
    report_charging_state(state.charger, evse_id, None, at, unplugged=unplugged)
    apply_status(state, evse_id)


def _take_token(state: ChargerState, transaction: Transaction, event: Event) -> bool:
    """The verdict on ``event``'s id token; one that does not stop ``transaction`` is its owner
    (a card shown after a cable-first start: SESSION_IDENTIFIED)."""
    if event.id_tag is None:
        return True
    if event.id_tag == transaction.id_tag:
        return transaction.authorized  # decided when it was first presented
    if event.stopping_token:
        return _verdict(state, event)
    return state.authorize_transaction(transaction, event.id_tag)


def _on_ended(state: ChargerState, transaction: Transaction, event: Event) -> bool:
    """A message of a transaction that ended already: energy yes, a session again never."""
    sequence = transaction.sequence
    duplicate = sequence is not None and (
        observe(sequence, event.seq_no, event.at) is Seen.DUPLICATE
    )
    if not duplicate:
        _LOGGER.debug(
            "%s: %s (seqNo %s) of transaction %s, which ended already",
            state.charger.charger_id,
            event.kind,
            event.seq_no,
            event.transaction_id,
        )
        _record_earlier_start(state, transaction, event)
        if event.readings:
            state.record_late_readings(transaction, event.readings)
    return _verdict(state, event)


def _record_earlier_start(state: ChargerState, transaction: Transaction, event: Event) -> None:
    """A Started (or a Transaction.Begin reading) that came after later messages of its
    transaction, open or ended: the session began then, from its start value."""
    if event.kind == "Started" or begin_reading(event) is not None:
        state.record_earlier_start(transaction, start_time(event), start_register(event))


def _on_unknown(state: ChargerState, event: Event) -> bool:
    """The first message we see of a transaction: start it where it runs, or hold its messages
    until its EVSE is known, or (one older than the transaction running there) until it ends."""
    charger = state.charger
    station = station_state(charger)
    earlier: list[Event] = station.held.pop(event.transaction_id, [])
    held_as_past = event.transaction_id in station.held_past
    station.held_past.discard(event.transaction_id)
    events = [*earlier, event]
    first = events[0]
    evse_id = next((e.evse_id for e in reversed(events) if e.evse_id is not None), None)
    if evse_id is None:
        evse_id = resolve_evse(charger)
    if evse_id is None:
        return _hold(
            state, events, earlier, "names no EVSE and the station has several; held until one"
        )
    if held_as_past:
        # History stays history until its Ended, whatever the newer session did meanwhile.
        return _hold(state, events, earlier, "", evse_id, past=True)
    newer = state.session_after(evse_id, start_time(first), first_register(first))
    if newer is not None:
        # History (an offline replay sent behind a newer session, running or ended): booked
        # once it ends, never in place of the newer one.
        return _hold(
            state,
            events,
            earlier,
            f"began before transaction {newer.transaction_id} on EVSE {evse_id}; "
            "held until it ends (then booked as a past session)",
            evse_id,
            past=True,
        )
    note_numbering_per_evse(charger, evse_id, event)
    # A transaction that waited for its EVSE announced its token while it waited.
    transaction = _start(state, evse_id, first, announced=bool(earlier))
    note_start(charger, transaction, live=not earlier and not event.offline)
    assert transaction.sequence is not None
    live = _taken_now(transaction, first, Seen.NEW, newest_before=None)  # observed by _start
    accepted = _apply(state, transaction, first, Seen.NEW, live=live)
    for later in events[1:]:
        seen, live = _observe(transaction, later)
        if seen is not Seen.DUPLICATE:
            accepted = _apply(state, transaction, later, seen, live=live)
    return accepted


def _hold(
    state: ChargerState,
    events: list[Event],
    earlier: list[Event],
    why: str,
    evse_id: int = 0,
    *,
    past: bool = False,
) -> bool:
    """Keep a transaction's messages until it can be booked (``why`` it cannot yet; ``past``: it
    is history); it is booked as a past session on ``evse_id`` (0: the station as a whole) when it
    ends, or when more than :data:`MAX_HELD_TRANSACTIONS` are held (the oldest then)."""
    event = events[-1]
    if event.kind == "Ended":
        return _record_held(state, events, evse_id)
    charger = state.charger
    station = station_state(charger)
    held = station.held
    if len(events) > MAX_HELD_EVENTS:
        del events[MAX_HELD_EVENTS // 2 : -MAX_HELD_EVENTS // 2]
    held[event.transaction_id] = events
    if past:
        station.held_past.add(event.transaction_id)
    if not earlier:
        _LOGGER.warning(
            "%s: transaction %s %s",
            charger.charger_id,
            event.transaction_id,
            why,
        )
    while len(held) > MAX_HELD_TRANSACTIONS:
        oldest_id = next(iter(held))
        oldest = held.pop(oldest_id)
        station.held_past.discard(oldest_id)
        _record_held(state, oldest, next((e.evse_id for e in oldest if e.evse_id), 0))
    if event.id_tag is None:
        return True
    # One authorization event per token, however often the station sends it.
    swiped = all(e.id_tag != event.id_tag for e in earlier)
    return state.authorize(event.id_tag, events=swiped)


def _start(state: ChargerState, evse_id: int, event: Event, *, announced: bool) -> Transaction:
    """Open the transaction of ``event`` (a Started, or the first message of one whose Started
    never arrived: then it starts at its Transaction.Begin reading, if it has one)."""
    if event.kind != "Started":
        _LOGGER.info(
            "%s: %s of unknown transaction %s: starting it",
            state.charger.charger_id,
            event.kind,
            event.transaction_id,
        )
    owner = event.owner_tag  # a card that stops it is answered (_apply), never its owner
    if owner is None:
        authorized = True
    elif announced:
        authorized = state.authorize(owner, evse_id, events=False)
    else:
        authorized = state.authorize_start(owner, evse_id)
    transaction = state.start_transaction(
        evse_id,
        event.transaction_id,
        id_tag=owner,
        started=start_time(event),
        meter_start_wh=start_register(event),
        authorized=authorized,
        meter_start_stamp=start_register_stamp(event),
    )
    transaction.sequence = EventSequence()
    observe(transaction.sequence, event.seq_no, event.at)
    return transaction


def _record_held(state: ChargerState, events: list[Event], evse_id: int) -> bool:
    """Book held messages as a past session on ``evse_id`` (0: the station as a whole, for one
    that never named its EVSE) with the energy its own readings show; no meter is touched."""
    charger = state.charger
    first, last = events[0], events[-1]
    if evse_id == 0:
        _LOGGER.warning(
            "%s: transaction %s ended without naming its EVSE; recorded for the station as a whole",
            charger.charger_id,
            last.transaction_id,
        )
    id_tag = next((e.owner_tag for e in events if e.owner_tag is not None), None)
    registers = sorted(
        (r.timestamp, r.energy_register_wh)
        for e in events
        for r in e.readings
        if r.energy_register_wh is not None
    )
    transaction = state.record_past_session(
        evse_id,
        last.transaction_id,
        id_tag=id_tag,
        # Its token was announced while it was held (an Ended's own token only stops).
        authorized=id_tag is None or state.authorize(id_tag, evse_id, events=False),
        started=start_time(first),
        ended=last.at,
        reason=last.stopped_reason or DEFAULT_STOPPED_REASON,
        registers_wh=(registers[0][1], registers[-1][1]) if registers else None,
        registers_at=(registers[0][0], registers[-1][0]) if registers else None,
    )
    transaction.sequence = EventSequence()
    for event in events:
        observe(transaction.sequence, event.seq_no, event.at)
    return _verdict(state, last)
