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
  above its last register (:func:`_after_reboot`: the station rebooted without a time source,
  its clock behind by more, or less, than the ended one ran).
- **A transaction lost in a reboot.** A station that reboots during a transaction and loses it
  never sends its Ended (one that kept it ends it itself: PowerLoss, Reboot); counting from the
  start again, it may use the id again for its next session. A Started of the open
  transaction's id on its EVSE that starts at or above its last register and above its start
  (:func:`_after_reboot`, whatever its stamp and seqNo) is that next session, never the open
  one's Started sent again (which carries its start register); so is one, with or without a
  register, stamped after the open one was last known to run with a seqNo below its highest
  (:func:`_counts_again`: a clock that kept the time; a Started sent again carries its original
  time), and one on another EVSE after a BootNotification that came after the open one's newest
  live message (a mark persisted with it; its queue sent after the boot, flagged offline or sent
  again, is no sign the station kept it unless its stamp shows it was written after the boot:
  after it by a clock we may go by, or before the open one began by a clock restarted at an old
  date: :func:`_on_open`, :func:`_written_since_boot`, :func:`_stamped_by_restarted_clock`; a
  queue written before the boot is ambiguous, a spec station that lost the transaction keeps it
  too), whatever its stamp (one from an
  offline queue: stamped after the open one was last known to run), unless the station showed
  it numbers its transactions per EVSE (:func:`_lost_for_another_evse`; without that boot it is
  the other EVSE's own, below). It shows that by a live message starting a transaction while
  its id is open on another EVSE (two ran at once as we received them, remembered for good:
  :func:`_note_numbering_per_evse`), never by stamps (a clock restarted at an old date after a
  reboot stamps a new session before one of the other EVSE ended).
  The open one ends as :data:`STOPPED_BY_REBOOT` when it was last known to run, with the energy it
  counted, and the new one starts (:func:`_lost_in_reboot`).
  A message of a reused id stamped before the newer transaction began, by the end of an earlier
  one, is that earlier one's (:func:`_earlier_owner`), and so is one that repeats a message of an
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
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum
from typing import Any

from custom_components.ocpp_ems.core.charger_state import ChargerState, follows_by_register
from custom_components.ocpp_ems.core.meter import (
    Reading,
    Reception,
    believable_stamp,
    clock_step_s,
    parse_meter_values,
    reception,
    too_far_ahead,
)
from custom_components.ocpp_ems.core.model import Charger, EventSequence, Transaction
from custom_components.ocpp_ems.core.protocol.common import spans
from custom_components.ocpp_ems.core.protocol.incoming import authorization_status
from custom_components.ocpp_ems.core.protocol.rpc import Payload
from custom_components.ocpp_ems.core.timeutil import (
    parse_optional_timestamp,
    parse_timestamp,
    utcnow,
)

from .station import apply_status, report_charging_state, resolve_evse, station_state

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
BEGIN = "Transaction.Begin"
END = "Transaction.End"
NO_AUTHORIZATION = "NoAuthorization"


# The seqNo ranges a transaction keeps (persisted with it). A station that numbers all its
# messages with one counter (or a hostile one) leaves a gap at each message; beyond this many
# ranges the oldest are forgotten. A message numbered below them counts as late, never as a
# duplicate: its readings go through the energy rules, which never count a reading twice.
MAX_SEQ_RANGES = 64


class Seen(Enum):
    """Where a message stands in its transaction's sequence."""

    NEW = "new"  # the newest so far
    LATE = "late"  # older than the newest (fills a gap)
    DUPLICATE = "duplicate"  # arrived before


def observe(sequence: EventSequence, seq_no: int, at: datetime) -> Seen:
    """Record ``seq_no`` (sent at ``at``) in ``sequence``; where it stands (module docstring)."""
    if is_duplicate(sequence, seq_no, at):
        return Seen.DUPLICATE
    newest = sequence.latest_at is None or at > sequence.latest_at
    if newest and sequence.latest is not None and seq_no <= sequence.latest:
        # A number not above the highest, sent after everything else: the station counts from
        # the start again (a reboot).
        sequence.seen = []
        sequence.latest = None
    _add(sequence.seen, seq_no)
    del sequence.seen[:-MAX_SEQ_RANGES]
    if sequence.latest_at is None or at > sequence.latest_at:
        sequence.latest_at = at
    if sequence.latest is None or seq_no > sequence.latest:
        sequence.latest = seq_no
        return Seen.NEW
    return Seen.LATE


def is_duplicate(sequence: EventSequence | None, seq_no: int, at: datetime) -> bool:
    """Whether ``seq_no`` (sent at ``at``) arrived before: a number seen, not newer than the
    newest message (without recording it)."""
    if sequence is None or not _contains(sequence.seen, seq_no):
        return False
    return sequence.latest_at is not None and at <= sequence.latest_at


def missing(sequence: EventSequence) -> list[tuple[int, int]]:
    """The numbers between the lowest and the highest seen that never arrived, as inclusive
    ranges: a station may number from 0 to 2**53 (the schema sets no bound), so the gaps are never
    listed one by one."""
    return [
        (end + 1, start - 1)
        for (_, end), (start, _) in zip(sequence.seen, sequence.seen[1:], strict=False)
    ]


def _contains(ranges: list[tuple[int, int]], value: int) -> bool:
    return any(start <= value <= end for start, end in ranges)


def _add(ranges: list[tuple[int, int]], value: int) -> None:
    """Insert ``value`` into sorted, disjoint inclusive ranges, merging neighbours."""
    merged = sorted([*ranges, (value, value)])
    ranges.clear()
    for start, end in merged:
        if ranges and start <= ranges[-1][1] + 1:
            ranges[-1] = (ranges[-1][0], max(ranges[-1][1], end))
        else:
            ranges.append((start, end))


@dataclass(frozen=True, kw_only=True)
class Event:
    """One TransactionEvent, translated (the payload is schema-checked already)."""

    kind: str  # Started / Updated / Ended
    transaction_id: str
    seq_no: int
    at: datetime
    # The station's own stamp, None when unusable (missing, before 2010, far ahead: ``at`` is
    # then the time it came, which tells nothing of when it was written).
    stamped: datetime | None
    offline: bool
    evse_id: int | None
    readings: list[Reading]
    charging_state: str | None
    stopped_reason: str | None
    # The id token as the model's id tag (None: none, or NoAuthorization); whether one was sent.
    id_tag: str | None
    has_token: bool
    # The token is the one that stops the transaction (triggerReason StopAuthorized, or an
    # Ended's): answered, never the session's owner (1.6: StopTransaction's idTag).
    stopping_token: bool = False

    @property
    def owner_tag(self) -> str | None:
        """The token the session belongs to, if this message names it."""
        return None if self.stopping_token else self.id_tag

    @classmethod
    def parse(cls, payload: Payload) -> Event:
        info = payload["transactionInfo"]
        evse = payload.get("evse") or {}
        token = payload.get("idToken")
        return cls(
            kind=payload["eventType"],
            transaction_id=info["transactionId"],
            seq_no=payload["seqNo"],
            at=parse_timestamp(payload["timestamp"]),
            stamped=parse_optional_timestamp(payload["timestamp"]),
            offline=bool(payload.get("offline", False)),
            # EVSE 0 is the station as a whole: no transaction runs there.
            evse_id=evse.get("id") or None,
            readings=parse_meter_values(payload.get("meterValue")),
            charging_state=info.get("chargingState"),
            stopped_reason=info.get("stoppedReason"),
            id_tag=id_tag_of(token),
            has_token=token is not None,
            stopping_token=(
                payload.get("triggerReason") == "StopAuthorized" or payload["eventType"] == "Ended"
            ),
        )


def id_tag_of(token: dict[str, Any] | None) -> str | None:
    """The model's id tag for a 2.x IdToken: its ``idToken`` whatever its type (RFID UID, eMAID,
    key code, MAC address, our remote-start tag as ``Central`` ...), so one tag list serves every
    version; None for none and for ``NoAuthorization`` (the station needs no token)."""
    if token is None or token.get("type") == NO_AUTHORIZATION:
        return None
    value: str = token["idToken"]
    return value


def id_token_info(accepted: bool) -> dict[str, Any]:
    return {"status": authorization_status(accepted)}


def station_booted(state: ChargerState) -> None:
    """A BootNotification: the station's open transactions may be lost in the reboot (marked
    until a message shows it kept them, :func:`_on_open`, :func:`_lost_in_reboot`; saved now:
    Home Assistant killed before the next save would forget it and keep a lost one open for
    good). Its time is kept for :func:`_written_since_boot`, unless the clock was known ahead
    (the queue kept through the reboot was stamped by that clock)."""
    charger = state.charger
    clock_ahead = charger.clock_skew_s is not None and charger.clock_skew_s > 0
    charger._booted_at = None if clock_ahead else reception(None)
    charger._started_since_boot.clear()
    open_ones = [c.transaction for c in charger.connectors.values() if c.transaction]
    for transaction in open_ones:
        transaction._boot_since_last_message = True
    if open_ones:
        state.request_save()


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
    transaction, ended = _find(state, event)
    earlier = _earlier_owner(charger, transaction or ended, event)
    if earlier is not None:
        accepted = _on_ended(state, earlier, event)
    elif transaction is not None and _lost_in_reboot(charger, transaction, event):
        _end_lost_in_reboot(state, transaction, event)
        accepted = _on_unknown(state, event)
    elif transaction is not None and not _starts_another(transaction, event):
        accepted = _on_open(state, transaction, event)
    elif ended is not None and not _starts_another(ended, event):
        accepted = _on_ended(state, ended, event)
    else:
        accepted = _on_unknown(state, event)
    if not event.has_token:
        return {}
    return {"idTokenInfo": id_token_info(accepted)}


def _find(state: ChargerState, event: Event) -> tuple[Transaction | None, Transaction | None]:
    """The open transaction ``event`` belongs to, else the ended one: the one on the EVSE it
    names first, else any (a message naming the wrong EVSE stays with its transaction,
    :func:`_apply`). A message of the named EVSE's ended transaction never goes to another EVSE's
    open one of its id (a station numbering per EVSE: their meters never mix; a Started there is
    another transaction anyway, :func:`_starts_another`); nor does a message naming no EVSE that
    repeats another EVSE's ended one (:func:`_repeated_elsewhere`)."""
    charger = state.charger
    named = charger.connectors.get(event.evse_id) if event.evse_id is not None else None
    transaction = state.find_open(named, event.transaction_id)
    if transaction is None:
        return None, _find_ended(charger, event)
    if named is None and (repeated := _repeated_elsewhere(charger, transaction, event)):
        return None, repeated
    if event.kind != "Started" and _names_another_evse(transaction, event):
        own = _ended_on_named_evse(charger, event)
        if own is not None:
            return None, own
    return transaction, None


def _repeated_elsewhere(charger: Charger, running: Transaction, event: Event) -> Transaction | None:
    """The ended transaction of ``running``'s id on another EVSE whose message ``event`` (naming
    no EVSE: 2.0.1 asks for it in a transaction's first message only) is, sent again
    (:func:`_repeats`: a seqNo it had, stamped in its span, an Ended at its end, no register
    above its last, no other card). A station numbering per EVSE runs the id on both: the repeat
    must not end ``running``, nor give it the other's card, charging state, seqNos or readings,
    nor clear its boot mark (:func:`_on_open`). A card too: :func:`_identifies` is for one
    EVSE's newer session (the one the station runs there), never for another EVSE's.

    Other than an Ended (stamped at the other's very end; taken for ``running`` it would end
    it), only on a station that showed it numbers per EVSE (:func:`_numbers_per_evse`). On one
    that keeps ids unique, ``running`` is the id's only transaction: the station sends its
    transaction messages in order, so what it sends again of the other EVSE's comes before the
    Started that used the id again (one sent late all the same, written before the boot
    ``running`` began after, is the ended one's: :func:`_ended_elsewhere_before_boot`). After a
    boot it repeats the ended one's seqNos, its clock
    may restart inside its span, one household shows one card, and the other EVSE's meter may
    read below: ``running``'s own messages look like a repeat. The ``offline`` flag tells
    neither (``running``'s own queue has it, a message sent again for a lost answer has not)."""
    if event.kind != "Ended" and not _numbers_per_evse(charger):
        return None
    return next(
        (
            t
            for t in charger.ended_transactions()
            if t.transaction_id == running.transaction_id
            and t.connector_id != running.connector_id
            and _repeats(t, event)
        ),
        None,
    )


def _starts_another(transaction: Transaction, event: Event) -> bool:
    """Whether ``event`` is the Started of another transaction with the same id: stamped after
    ``transaction`` ended (not a replay, which carries its original time: a station that numbers
    its transactions from 1 again after a reboot), or stamped before it ended but after it by
    the register (:func:`_after_reboot`), or naming another EVSE, whatever its stamp (a
    transaction never moves: a station that numbers them per EVSE, against the spec, or one that
    lost ``transaction`` in a reboot, :func:`_lost_in_reboot`; its EVSEs' meters must never
    mix)."""
    if event.kind != "Started":
        return False
    ended = transaction.ended_at
    if ended is not None and event.at > ended:
        return not is_duplicate(transaction.sequence, event.seq_no, event.at)
    if ended is not None and _after_reboot(transaction, event):
        return True
    return _names_another_evse(transaction, event)


def _names_another_evse(transaction: Transaction, event: Event) -> bool:
    return event.evse_id is not None and event.evse_id != transaction.connector_id


def _after_reboot(earlier: Transaction, started: Event) -> bool:
    """Whether a Started of ``earlier``'s id (ended, or still open: its Ended lost in the reboot)
    is a session after it all the same, whatever its stamp: a station rebooted without a time
    source counts its transactions and seqNos from the start again and stamps from a clock behind
    (before ``earlier`` began, or inside its span when it went back by less than ``earlier``
    ran), but its register starts at or above ``earlier``'s last one
    (:func:`~...charger_state.follows_by_register`). ``earlier``'s own Started is none: late, it
    is one of its missing seqNos; sent again, it carries ``earlier``'s start register (and time),
    so from ``earlier``'s start on only a register above that one tells (after a session of no
    energy the two cannot be told apart: it is taken for ``earlier``'s own). Without a register
    (a station that sends none) neither can they: it is taken for ``earlier``'s own, as before
    (a seqNo it had: a replay, nothing applied; the new session is not booked)."""
    register = _start_register(started)
    if (
        register is None
        or not follows_by_register(register, earlier.meter_last_wh)
        or _fills_gap(earlier.sequence, started.seq_no)
    ):
        return False
    return started.at < earlier.started_at or register > earlier.meter_start_wh


def _lost_in_reboot(charger: Charger, running: Transaction, event: Event) -> bool:
    """Whether ``event`` is the Started of a new session of ``running``'s id that tells the
    station rebooted during ``running`` and lost it, so it never sends its Ended (a station that
    kept it ends it itself, stoppedReason PowerLoss or Reboot). On ``running``'s EVSE: one after
    it by the register (:func:`_after_reboot`) or by its seqNo and stamp
    (:func:`_counts_again`). On another EVSE: :func:`_lost_for_another_evse`."""
    if event.kind != "Started":
        return False
    if _names_another_evse(running, event):
        return _lost_for_another_evse(charger, running, event)
    return _after_reboot(running, event) or _counts_again(running, event)


def _lost_for_another_evse(charger: Charger, running: Transaction, started: Event) -> bool:
    """Whether a Started of ``running``'s id on another EVSE tells the station lost ``running``.
    Transaction ids are unique per station (the spec): a station that kept ``running`` never
    starts its id again, one that lost it in a reboot counts from the start again. So it does
    when the station booted (BootNotification, the mark is persisted) since ``running``'s newest
    live message or one written after the boot (:func:`_on_open`), whatever the Started's stamp
    (a clock that went back in the reboot, or one that kept the time); one from an offline queue only when stamped after
    ``running`` was last known to run (stamped before, it may be an old session of the other
    EVSE queued before the boot). Without that boot it is the other EVSE's own
    (:func:`_starts_another`): two cars started at about the same moment arrive in either order
    of their stamps. Never on a station
    that showed it numbers per EVSE (:func:`_numbers_per_evse`, against the spec): one that
    reboots, keeps ``running`` (it resumes it with its next message, 2.1: triggerReason
    TxResumed) and starts the same id on the other EVSE cannot be told from one that lost it, so
    ``running`` goes on. That is the safer error: a lost one kept open ends when its EVSE starts
    its next session (Replaced, with its energy up to then), a kept one ended would lose what it
    charges after."""
    if not running._boot_since_last_message or _numbers_per_evse(charger):
        return False
    return not started.offline or started.at > _last_known_at(running)


def _numbers_per_evse(charger: Charger) -> bool:
    """Whether the station showed it numbers its transactions per EVSE (persisted once seen,
    :func:`_note_numbering_per_evse`)."""
    return charger._numbers_per_evse


def _note_numbering_per_evse(charger: Charger, evse_id: int, starting: Event) -> None:
    """Remember that the station numbers per EVSE when ``starting``, a live message (sent now)
    that starts a transaction on ``evse_id``, comes while its id is open on another EVSE: two
    ran at once as we received them. Never by stamps: a clock restarted at an old date (its
    build date, the time it last saved) stamps a new session before an ended one of the other
    EVSE ended, and an offline message is history (its transaction may have ended long ago).
    An open one lost in a boot (no live message since, nor one written after it) ended before
    (:func:`_on_open`, :func:`_lost_for_another_evse`): on a station that keeps ids unique, what stays open here
    was shown to run after the boot."""
    if starting.offline:
        return
    if any(
        connector_id != evse_id
        and connector.transaction is not None
        and connector.transaction.transaction_id == starting.transaction_id
        for connector_id, connector in charger.connectors.items()
    ):
        charger._numbers_per_evse = True


def _counts_again(running: Transaction, started: Event) -> bool:
    """Whether a Started of ``running``'s id numbers its messages from the start again after
    all ``running`` sent: a seqNo below its highest, stamped after it was last known to run (a
    Started sent again carries its original time). A station with a clock that rebooted: its
    Started may carry no register (meterValue is optional), which :func:`_after_reboot` needs.
    A station that stamps what it sends again anew (against the spec) sends again only its
    newest message, the one left unanswered: a Started numbered as ``running``'s newest stays
    ``running``'s own (a session lost before it sent more cannot be told from it)."""
    sequence = running.sequence
    return (
        sequence is not None
        and sequence.latest is not None
        and started.seq_no < sequence.latest
        and started.at > _last_known_at(running)
    )


def _end_lost_in_reboot(state: ChargerState, running: Transaction, started: Event) -> None:
    """End ``running``, lost in a reboot (:func:`_lost_in_reboot`), when it was last known to run
    (its newest reading or message) with the energy it counted: the new session's energy is its
    own, never the lost one's."""
    last_known = _last_known_at(running)
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


def _last_known_at(transaction: Transaction) -> datetime:
    """When ``transaction`` was last known to run: its newest reading or message."""
    sequence = transaction.sequence
    stamps = (transaction.meter_last_at, None if sequence is None else sequence.latest_at)
    return max((at for at in stamps if at is not None), default=transaction.started_at)


def _fills_gap(sequence: EventSequence | None, seq_no: int) -> bool:
    """Whether ``seq_no`` is one of ``sequence``'s missing numbers: below the highest, never
    arrived."""
    return (
        sequence is not None
        and sequence.latest is not None
        and seq_no < sequence.latest
        and not _contains(sequence.seen, seq_no)
    )


def _find_ended(charger: Charger, event: Event) -> Transaction | None:
    """The ended transaction of ``event``'s id: the one on the EVSE it names first (a station
    that numbers per EVSE has one of that id on each: a message sent again must never reach the
    other EVSE's meter), else any (a message naming no EVSE, or the wrong one, stays with its
    transaction)."""
    own = _ended_on_named_evse(charger, event)
    return own if own is not None else charger.find_ended_transaction(event.transaction_id)


def _ended_on_named_evse(charger: Charger, event: Event) -> Transaction | None:
    """The newest ended transaction of ``event``'s id on the EVSE it names (its last one, else a
    recently ended one), if any."""
    if event.evse_id is None or event.evse_id not in charger.connectors:
        return None
    return next(
        (
            t
            for t in charger.ended_transactions(event.evse_id)
            if t.transaction_id == event.transaction_id
        ),
        None,
    )


def _earlier_owner(charger: Charger, found: Transaction | None, event: Event) -> Transaction | None:
    """The earlier transaction of ``found``'s id (on its EVSE; on another for a late message
    written before the boot ``found`` began after: :func:`_ended_elsewhere_before_boot`) that
    ``event`` belongs to: the first one not yet ended when ``event`` was stamped, if ``found``
    began after that (:func:`_first_not_ended_by`); else one
    that ``event`` repeats (:func:`_repeats`: after the clock went back, the old one's messages
    are stamped after the new one began). A station that uses an id again
    (:func:`_starts_another`) and sends the old one's messages again (it never saw our answers)
    must not end or extend the new one with them."""
    if found is None:
        return None
    others = _others_of_its_id(charger, found)
    if event.at < found.started_at:
        first = _first_not_ended_by(others, found, event.at) or _first_not_ended_by(
            _ended_elsewhere_before_boot(charger, found, event), found, event.at
        )
        if first is not None:
            return first
    if _identifies(found, event):
        return None
    return next((t for t in others if _repeats(t, event)), None)


def _first_not_ended_by(
    candidates: list[Transaction], found: Transaction, at: datetime
) -> Transaction | None:
    """The first of ``candidates`` (ended transactions of ``found``'s id) that began before
    ``found`` and had not ended by ``at``."""
    earlier = (
        t
        for t in candidates
        if t.started_at < found.started_at and t.ended_at is not None and at <= t.ended_at
    )
    return min(earlier, key=lambda t: t.started_at, default=None)


def _ended_elsewhere_before_boot(
    charger: Charger, found: Transaction, event: Event
) -> list[Transaction]:
    """The ended transactions of ``found``'s id on other EVSEs that ``event`` (naming no EVSE,
    stamped before ``found`` began) may be a late message of: only when it was written before
    the station's last boot, stamped before it by more than a clock may lead ours unrecorded
    (:func:`_boot_time_now`, :func:`~...meter.too_far_ahead`), and ``found`` began live after
    that boot (:func:`_began_since_boot`). None of ``found``'s messages was written before the
    boot: its own are stamped by the clock running since, after its Started, unless set back
    without a reboot. Without that boot (a station keeps ids unique: ``found``'s own messages
    after a reboot repeat an ended one's seqNos, stamps and card, :func:`_repeated_elsewhere`)
    it is ``found``'s."""
    if event.evse_id is not None or event.stamped is None or not _began_since_boot(charger, found):
        return []
    booted = _boot_time_now(charger, reception(None))
    if booted is None or not too_far_ahead(booted, event.stamped):
        return []
    return [
        t
        for t in charger.ended_transactions()
        if t.transaction_id == found.transaction_id and t.connector_id != found.connector_id
    ]


def _note_start(charger: Charger, transaction: Transaction, *, live: bool) -> None:
    """Remember whether ``transaction``, the newest on its EVSE, began live (its first message
    sent now, so written after the station's last boot) for :func:`_began_since_boot`."""
    if live:
        charger._started_since_boot[transaction.connector_id] = transaction.transaction_id
    else:
        charger._started_since_boot.pop(transaction.connector_id, None)


def _began_since_boot(charger: Charger, transaction: Transaction) -> bool:
    """Whether ``transaction``'s first message came live after the station's last boot (none
    since), as :func:`_note_start` saw it (for its EVSE's newest only)."""
    return charger._started_since_boot.get(transaction.connector_id) == transaction.transaction_id


def _identifies(running: Transaction, event: Event) -> bool:
    """Whether ``event`` names the owner of ``running``, open without one (a card shown after a
    cable-first start), and reads no register below its last
    (:func:`~...charger_state.follows_by_register`): ``running``'s own, never a message of an
    ended one sent again, whatever its seqNo, time and card (one household, one card: the card
    of the ended one too). Taken for ``running``, what it reads counts nothing twice."""
    lowest = min(_register_values(event), default=None)
    return (
        running.ended_at is None
        and running.id_tag is None
        and event.owner_tag is not None
        and (lowest is None or follows_by_register(lowest, running.meter_last_wh))
    )


def _others_of_its_id(charger: Charger, found: Transaction) -> list[Transaction]:
    """The ended transactions of ``found``'s id on its EVSE but ``found``. The EVSE's last one
    too: the recently ended ones are bounded (other EVSEs' count too), and none were stored
    before they were persisted."""
    return [
        t
        for t in charger.ended_transactions(found.connector_id)
        if t is not found and t.transaction_id == found.transaction_id
    ]


def _repeats(ended: Transaction, event: Event) -> bool:
    """Whether ``event`` is a message of ``ended`` sent again: a seqNo it had, stamped from its
    start up to its newest message, with no register above its last one (a later session's) and
    no owner but ``ended``'s (a card shown for a later session, e.g. one started by its cable); an
    Ended stamped at its end (sent again, it carries its original time: another is a later
    session's own, e.g. one that drew nothing, which would else stay open)."""
    highest = max(_register_values(event), default=None)
    return (
        (event.kind != "Ended" or event.at == ended.ended_at)
        and is_duplicate(ended.sequence, event.seq_no, event.at)
        and event.at >= ended.started_at
        and (highest is None or highest <= ended.meter_last_wh)
        and event.owner_tag in (None, ended.id_tag)
    )


def _verdict(state: ChargerState, event: Event) -> bool:
    """The id token's verdict without an event (asked again, or the token that stopped)."""
    return event.id_tag is None or state.authorize(event.id_tag, events=False)


def _on_open(state: ChargerState, transaction: Transaction, event: Event) -> bool:
    seen, live = _observe(transaction, event)
    if (
        (seen is Seen.NEW and live)
        or _written_since_boot(state.charger, event)
        or _stamped_by_restarted_clock(transaction, event)
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


def _written_since_boot(charger: Charger, event: Event) -> bool:
    """Whether ``event`` (flagged offline, sent again) was written after the station's last
    BootNotification (:func:`station_booted`), as its own stamp shows: later than the boot by
    more than a clock may lead ours unrecorded, and no further ahead of the time it came (both
    :func:`~...meter.too_far_ahead`: a message queued before the boot is then stamped before
    it, or far ahead of us). A station that lost a transaction in the reboot writes none of its
    messages after it. A clock behind stamps after the boot too late, if at all: the mark stays
    (the safe side of :func:`_lost_for_another_evse`). The boot's time is taken by our clock now
    (:func:`_boot_time_now`): ours may have stepped since (a host without a real-time clock
    started at its last saved time after a power cut, then set by NTP)."""
    got = reception(None)
    booted, stamped = _boot_time_now(charger, got), event.stamped
    return (
        booted is not None
        and stamped is not None
        and too_far_ahead(stamped, booted)
        and not too_far_ahead(stamped, got[0])
    )


def _stamped_by_restarted_clock(transaction: Transaction, event: Event) -> bool:
    """Whether ``event``, a message of the open ``transaction``, was stamped by a clock that
    restarted at an old date (its build date) since the transaction began: before its Started,
    and further behind the time it came than an offline queue may be old
    (:func:`~...meter.believable_stamp`). What the station wrote of it before, its queue kept
    through a reboot too, was stamped after the Started by the clock that stamped the Started, and a
    message sent again carries its original stamp: so it was written after a restart, a reboot,
    with the transaction still running (one that loses its transactions in a reboot writes
    nothing of them after it). Whatever its seqNo (a station may count from 0 again after its
    boot). Unlike :func:`_written_since_boot` it needs neither the boot's time nor a clock we go
    by. A stamp that is no time (1970: a clock never set, or a message built without one) tells
    nothing; nor does a clock restarted at a recent time (the one it last saved), which a clock
    stepped back before the boot may match."""
    stamped = event.stamped
    return (
        stamped is not None
        and stamped < transaction.started_at
        and not believable_stamp(stamped, utcnow())
    )


def _boot_time_now(charger: Charger, now: Reception) -> datetime | None:
    """When the station's last BootNotification came (None: not known), by our clock as of
    ``now``: moved by the step our clock took since (``meter.clock_step_s``; also our host's
    sleep, which moves it later: the safe side, fewer messages count as written after it)."""
    if charger._booted_at is None:
        return None
    booted_at, _ = charger._booted_at
    return booted_at + timedelta(seconds=clock_step_s(charger._booted_at, now))


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
    if event.kind == "Started" or _begin(event) is not None:
        state.record_earlier_start(transaction, _start_time(event), _start_register(event))


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
    newer = state.session_after(evse_id, _start_time(first), _first_register(first))
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
    _note_numbering_per_evse(charger, evse_id, event)
    # A transaction that waited for its EVSE announced its token while it waited.
    transaction = _start(state, evse_id, first, announced=bool(earlier))
    _note_start(charger, transaction, live=not earlier and not event.offline)
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


def _begin(event: Event) -> Reading | None:
    return next((r for r in event.readings if r.context == BEGIN), None)


def _register_values(event: Event, context: str | None = None) -> list[float]:
    """The energy registers ``event`` reads, in order (only its readings in ``context``, if
    given)."""
    return [
        r.energy_register_wh
        for r in event.readings
        if r.energy_register_wh is not None and context in (None, r.context)
    ]


def _start_time(event: Event) -> datetime:
    """When the transaction of its first message began: the Started's time, or for a
    transaction whose Started was lost its Transaction.Begin reading's (if earlier)."""
    begin = _begin(event)
    if event.kind == "Started" or begin is None:
        return event.at
    return min(begin.timestamp, event.at)


def _first_register(event: Event) -> float | None:
    return next(iter(_register_values(event)), None)


def _start_register(event: Event) -> float | None:
    """The register a transaction starts from: its Transaction.Begin value, else a Started's
    first register (2.0.1 lets a Started's value come without a context). Another message's
    readings are periodic, taken after the start: None, the session counts from the EVSE's last
    register, as after a Started without meter values, whichever of the two arrives first."""
    begin = next(iter(_register_values(event, BEGIN)), None)
    if begin is None and event.kind == "Started":
        return _first_register(event)
    return begin


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
        started=_start_time(event),
        meter_start_wh=_start_register(event),
        authorized=authorized,
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
        started=_start_time(first),
        ended=last.at,
        reason=last.stopped_reason or DEFAULT_STOPPED_REASON,
        registers_wh=(registers[0][1], registers[-1][1]) if registers else None,
        registers_at=(registers[0][0], registers[-1][0]) if registers else None,
    )
    transaction.sequence = EventSequence()
    for event in events:
        observe(transaction.sequence, event.seq_no, event.at)
    return _verdict(state, last)
