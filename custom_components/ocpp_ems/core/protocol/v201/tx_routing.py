"""Which transaction a 2.x TransactionEvent belongs to, before it is applied: the open one of its
id (the EVSE it names first), else an ended one (never reopened), an earlier one of a reused id
it was stamped in or repeats, another EVSE's ended one it repeats; and whether a Started is
another transaction of the same id. The rules: :mod:`.transactions` (Ended transactions never
come back, The same id on two EVSEs).
"""

from __future__ import annotations

from datetime import datetime

from custom_components.ocpp_ems.core.charger_state import ChargerState
from custom_components.ocpp_ems.core.meter_time import reception, too_far_ahead
from custom_components.ocpp_ems.core.model import Charger, Transaction
from custom_components.ocpp_ems.core.transaction_lookup import follows_by_register

from .tx_boot_mark import after_reboot, began_since_boot, boot_time_now, numbers_per_evse
from .tx_message import Event, names_another_evse, register_values
from .tx_sequence import is_duplicate


def find_transaction(
    state: ChargerState, event: Event
) -> tuple[Transaction | None, Transaction | None]:
    """The open transaction ``event`` belongs to, else the ended one: the one on the EVSE it
    names first, else any (a message naming the wrong EVSE stays with its transaction,
    :func:`_apply`). A message of the named EVSE's ended transaction never goes to another EVSE's
    open one of its id (a station numbering per EVSE: their meters never mix; a Started there is
    another transaction anyway, :func:`starts_another`); nor does a message naming no EVSE that
    repeats another EVSE's ended one (:func:`_repeated_elsewhere`)."""
    charger = state.charger
    named = charger.connectors.get(event.evse_id) if event.evse_id is not None else None
    transaction = state.find_open(named, event.transaction_id)
    if transaction is None:
        return None, _find_ended(charger, event)
    if named is None and (repeated := _repeated_elsewhere(charger, transaction, event)):
        return None, repeated
    if event.kind != "Started" and names_another_evse(transaction, event):
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
    it), only on a station that showed it numbers per EVSE (:func:`numbers_per_evse`). On one
    that keeps ids unique, ``running`` is the id's only transaction: the station sends its
    transaction messages in order, so what it sends again of the other EVSE's comes before the
    Started that used the id again (one sent late all the same, written before the boot
    ``running`` began after, is the ended one's: :func:`_ended_elsewhere_before_boot`). After a
    boot it repeats the ended one's seqNos, its clock
    may restart inside its span, one household shows one card, and the other EVSE's meter may
    read below: ``running``'s own messages look like a repeat. The ``offline`` flag tells
    neither (``running``'s own queue has it, a message sent again for a lost answer has not)."""
    if event.kind != "Ended" and not numbers_per_evse(charger):
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


def starts_another(transaction: Transaction, event: Event) -> bool:
    """Whether ``event`` is the Started of another transaction with the same id: stamped after
    ``transaction`` ended (not a replay, which carries its original time: a station that numbers
    its transactions from 1 again after a reboot), or stamped before it ended but after it by
    the register (:func:`after_reboot`), or naming another EVSE, whatever its stamp (a
    transaction never moves: a station that numbers them per EVSE, against the spec, or one that
    lost ``transaction`` in a reboot, :func:`lost_in_reboot`; its EVSEs' meters must never
    mix)."""
    if event.kind != "Started":
        return False
    ended = transaction.ended_at
    if ended is not None and event.at > ended:
        return not is_duplicate(transaction.sequence, event.seq_no, event.at)
    if ended is not None and after_reboot(transaction, event):
        return True
    return names_another_evse(transaction, event)


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


def earlier_owner(charger: Charger, found: Transaction | None, event: Event) -> Transaction | None:
    """The earlier transaction of ``found``'s id (on its EVSE; on another for a late message
    written before the boot ``found`` began after: :func:`_ended_elsewhere_before_boot`) that
    ``event`` belongs to: the first one not yet ended when ``event`` was stamped, if ``found``
    began after that (:func:`_first_not_ended_by`); else one
    that ``event`` repeats (:func:`_repeats`: after the clock went back, the old one's messages
    are stamped after the new one began). A station that uses an id again
    (:func:`starts_another`) and sends the old one's messages again (it never saw our answers)
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
    (:func:`boot_time_now`, :func:`~...meter_time.too_far_ahead`), and ``found`` began live after
    that boot (:func:`began_since_boot`), and it reads no register above the ended one's last
    (:func:`_reads_none_above`: a boot unannounced since, while Home Assistant was down, leaves
    the stored mark stale, and ``found`` resumed at the clock's build date reads its own, higher
    register). None of ``found``'s messages was written before the boot: its own are stamped by
    the clock running since, after its Started, unless set back without a reboot. Without that
    boot (a station keeps ids unique: ``found``'s own messages after a reboot repeat an ended
    one's seqNos, stamps and card, :func:`_repeated_elsewhere`) it is ``found``'s."""
    if event.evse_id is not None or event.stamped is None or not began_since_boot(charger, found):
        return []
    booted = boot_time_now(charger, reception(None))
    if booted is None or not too_far_ahead(booted, event.stamped):
        return []
    return [
        t
        for t in charger.ended_transactions()
        if t.transaction_id == found.transaction_id
        and t.connector_id != found.connector_id
        and _reads_none_above(t, event)
    ]


def _identifies(running: Transaction, event: Event) -> bool:
    """Whether ``event`` names the owner of ``running``, open without one (a card shown after a
    cable-first start), and reads no register below its last
    (:func:`~...transaction_lookup.follows_by_register`): ``running``'s own, never a message of an
    ended one sent again, whatever its seqNo, time and card (one household, one card: the card
    of the ended one too). Taken for ``running``, what it reads counts nothing twice."""
    lowest = min(register_values(event), default=None)
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
    return (
        (event.kind != "Ended" or event.at == ended.ended_at)
        and is_duplicate(ended.sequence, event.seq_no, event.at)
        and event.at >= ended.started_at
        and _reads_none_above(ended, event)
        and event.owner_tag in (None, ended.id_tag)
    )


def _reads_none_above(ended: Transaction, event: Event) -> bool:
    """Whether ``event`` reads no register above ``ended``'s last one (above: a later
    session's, e.g. one its station resumes after a reboot)."""
    highest = max(register_values(event), default=None)
    return highest is None or highest <= ended.meter_last_wh
