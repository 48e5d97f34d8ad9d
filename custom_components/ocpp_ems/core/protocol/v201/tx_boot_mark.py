"""The 2.x boot mark: a BootNotification marks the station's open transactions as maybe lost in
the reboot until a message shows it kept them (sent live, written after the boot, stamped by a
clock restarted at an old date), and tells when a Started of a lost one's id is the next session
(after it by the register, its seqNo counting again, another EVSE after the boot). The boot is
kept over a restart of Home Assistant (no boot of the station: persisted with the charger).
The rules: :mod:`.transactions` (A transaction lost in a reboot).
"""

from __future__ import annotations

from datetime import datetime

from custom_components.ocpp_ems.core.charger_state import ChargerState
from custom_components.ocpp_ems.core.meter_time import (
    Reception,
    believable_stamp,
    by_our_clock_now,
    reception,
    too_far_ahead,
)
from custom_components.ocpp_ems.core.model import Charger, Transaction
from custom_components.ocpp_ems.core.timeutil import utcnow
from custom_components.ocpp_ems.core.transaction_lookup import follows_by_register

from .tx_message import Event, names_another_evse, start_register
from .tx_sequence import fills_gap


def station_booted(state: ChargerState) -> None:
    """A BootNotification: the station's open transactions may be lost in the reboot (marked
    until a message shows it kept them, :func:`_on_open`, :func:`lost_in_reboot`; saved now:
    Home Assistant killed before the next save would forget it and keep a lost one open for
    good). Its time is kept for :func:`written_since_boot`, unless the clock was known ahead
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


def after_reboot(earlier: Transaction, started: Event) -> bool:
    """Whether a Started of ``earlier``'s id (ended, or still open: its Ended lost in the reboot)
    is a session after it all the same, whatever its stamp: a station rebooted without a time
    source counts its transactions and seqNos from the start again and stamps from a clock behind
    (before ``earlier`` began, or inside its span when it went back by less than ``earlier``
    ran), but its register starts at or above ``earlier``'s last one
    (:func:`~...transaction_lookup.follows_by_register`). ``earlier``'s own Started is none: late,
    it is one of its missing seqNos; sent again, it carries ``earlier``'s start register (and
    time), so from ``earlier``'s start on only a register above that one tells (after a session
    of no energy the two cannot be told apart: it is taken for ``earlier``'s own). Without a
    register (a station that sends none) neither can they: it is taken for ``earlier``'s own, as
    before (a seqNo it had: a replay, nothing applied; the new session is not booked)."""
    register = start_register(started)
    if (
        register is None
        or not follows_by_register(register, earlier.meter_last_wh)
        or fills_gap(earlier.sequence, started.seq_no)
    ):
        return False
    return started.at < earlier.started_at or register > earlier.meter_start_wh


def lost_in_reboot(charger: Charger, running: Transaction, event: Event) -> bool:
    """Whether ``event`` is the Started of a new session of ``running``'s id that tells the
    station rebooted during ``running`` and lost it, so it never sends its Ended (a station that
    kept it ends it itself, stoppedReason PowerLoss or Reboot). On ``running``'s EVSE: one after
    it by the register (:func:`after_reboot`) or by its seqNo and stamp
    (:func:`_counts_again`). On another EVSE: :func:`_lost_for_another_evse`."""
    if event.kind != "Started":
        return False
    if names_another_evse(running, event):
        return _lost_for_another_evse(charger, running, event)
    return after_reboot(running, event) or _counts_again(running, event)


def _lost_for_another_evse(charger: Charger, running: Transaction, started: Event) -> bool:
    """Whether a Started of ``running``'s id on another EVSE tells the station lost ``running``.
    Transaction ids are unique per station (the spec): a station that kept ``running`` never
    starts its id again, one that lost it in a reboot counts from the start again. So it does
    when the station booted (BootNotification, the mark is persisted) since ``running``'s newest
    live message or one written after the boot (:func:`_on_open`), whatever the Started's stamp
    (a clock that went back in the reboot, or one that kept the time); one from an offline queue only when stamped after
    ``running`` was last known to run (stamped before, it may be an old session of the other
    EVSE queued before the boot). Without that boot it is the other EVSE's own
    (:func:`starts_another`): two cars started at about the same moment arrive in either order
    of their stamps. Never on a station
    that showed it numbers per EVSE (:func:`numbers_per_evse`, against the spec): one that
    reboots, keeps ``running`` (it resumes it with its next message, 2.1: triggerReason
    TxResumed) and starts the same id on the other EVSE cannot be told from one that lost it, so
    ``running`` goes on. That is the safer error: a lost one kept open ends when its EVSE starts
    its next session (Replaced, with its energy up to then), a kept one ended would lose what it
    charges after."""
    if not running._boot_since_last_message or numbers_per_evse(charger):
        return False
    return not started.offline or started.at > last_known_at(running)


def numbers_per_evse(charger: Charger) -> bool:
    """Whether the station showed it numbers its transactions per EVSE (persisted once seen,
    :func:`note_numbering_per_evse`)."""
    return charger._numbers_per_evse


def note_numbering_per_evse(charger: Charger, evse_id: int, starting: Event) -> None:
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
    Started may carry no register (meterValue is optional), which :func:`after_reboot` needs.
    A station that stamps what it sends again anew (against the spec) sends again only its
    newest message, the one left unanswered: a Started numbered as ``running``'s newest stays
    ``running``'s own (a session lost before it sent more cannot be told from it)."""
    sequence = running.sequence
    return (
        sequence is not None
        and sequence.latest is not None
        and started.seq_no < sequence.latest
        and started.at > last_known_at(running)
    )


def last_known_at(transaction: Transaction) -> datetime:
    """When ``transaction`` was last known to run: its newest reading or message."""
    sequence = transaction.sequence
    stamps = (transaction.meter_last_at, None if sequence is None else sequence.latest_at)
    return max((at for at in stamps if at is not None), default=transaction.started_at)


def note_start(charger: Charger, transaction: Transaction, *, live: bool) -> None:
    """Remember whether ``transaction``, the newest on its EVSE, began live (its first message
    sent now, so written after the station's last boot) for :func:`began_since_boot`."""
    if live:
        charger._started_since_boot[transaction.connector_id] = transaction.transaction_id
    else:
        charger._started_since_boot.pop(transaction.connector_id, None)


def began_since_boot(charger: Charger, transaction: Transaction) -> bool:
    """Whether ``transaction``'s first message came live after the station's last boot (none
    since), as :func:`note_start` saw it (for its EVSE's newest only)."""
    return charger._started_since_boot.get(transaction.connector_id) == transaction.transaction_id


def written_since_boot(charger: Charger, event: Event) -> bool:
    """Whether ``event`` (flagged offline, sent again) was written after the station's last
    BootNotification (:func:`station_booted`), as its own stamp shows: later than the boot by
    more than a clock may lead ours unrecorded, and no further ahead of the time it came (both
    :func:`~...meter_time.too_far_ahead`: a message queued before the boot is then stamped before
    it, or far ahead of us). A station that lost a transaction in the reboot writes none of its
    messages after it. A clock behind stamps after the boot too late, if at all: the mark stays
    (the safe side of :func:`_lost_for_another_evse`). The boot's time is taken by our clock now
    (:func:`boot_time_now`): ours may have stepped since (a host without a real-time clock
    started at its last saved time after a power cut, then set by NTP)."""
    got = reception(None)
    booted, stamped = boot_time_now(charger, got), event.stamped
    return (
        booted is not None
        and stamped is not None
        and too_far_ahead(stamped, booted)
        and not too_far_ahead(stamped, got[0])
    )


def stamped_by_restarted_clock(transaction: Transaction, event: Event) -> bool:
    """Whether ``event``, a message of the open ``transaction``, was stamped by a clock that
    restarted at an old date (its build date) since the transaction began: before its Started,
    and further behind the time it came than an offline queue may be old
    (:func:`~...meter_time.believable_stamp`). What the station wrote of it before, its queue kept
    through a reboot too, was stamped after the Started by the clock that stamped the Started, and a
    message sent again carries its original stamp: so it was written after a restart, a reboot,
    with the transaction still running (one that loses its transactions in a reboot writes
    nothing of them after it). Whatever its seqNo (a station may count from 0 again after its
    boot). Unlike :func:`written_since_boot` it needs neither the boot's time nor a clock we go
    by. A stamp that is no time (1970: a clock never set, or a message built without one) tells
    nothing; nor does a clock restarted at a recent time (the one it last saved), which a clock
    stepped back before the boot may match."""
    stamped = event.stamped
    return (
        stamped is not None
        and stamped < transaction.started_at
        and not believable_stamp(stamped, utcnow())
    )


def boot_time_now(charger: Charger, now: Reception) -> datetime | None:
    """When the station's last BootNotification came (None: not known), by our clock as of
    ``now``: moved by the step our clock took since (``meter_time.by_our_clock_now``; also our host's
    sleep, which moves it later: the safe side, fewer messages count as written after it)."""
    return None if charger._booted_at is None else by_our_clock_now(charger._booted_at, now)
