"""A register lower than the one stored: its life before a reset, and readings of that life.

After a confirmed reset a reading above the new life's base but stamped before its first value
may be the life before's, re-sent after the reboot: it is held, never a rise of the present life,
until a reading of the present life below it proves it the life before's (its rise then counts,
bounded by that life's own time) or one at or above it leaves it unproven (forgotten).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import datetime
from itertools import chain
from typing import NamedTuple

from . import meter as meter_rules  # by module: meter imports this one in turn
from .meter_lifetime import count_lifetime
from .meter_time import charger_time, max_energy_wh, rise_allowance, time_since
from .model import Charger, Connector, MeterState, RegisterPoint, Transaction

_LOGGER = logging.getLogger(__name__)


def stamped_before_reset(meter: MeterState, stamp: datetime) -> bool:
    """Whether a reading the charger stamped ``stamp`` may come from its register's life before
    the last reset (``MeterState._register_reset_stamp``): stamped at or before the new life's
    first value. A register counts up within one life only: such a reading's register proves
    nothing against the new life's (neither energy nor that it was taken after their values)."""
    reset = meter._register_reset_stamp
    return reset is not None and stamp <= reset


def of_life_before(meter: MeterState, base: RegisterPoint | None, point: RegisterPoint) -> bool:
    """Whether ``point``, a register above the connector's ``base`` but stamped before it, may
    have been read in the register's life before its reset (:func:`stamped_before_reset`): an
    offline queue sent again after the reboot that reset it, whose rise past the new life's base
    is no energy (it would count again once the new life rose past it, and the new life's next
    readings, below it, would wait as a reset)."""
    if base is None or point.register_wh <= base.register_wh:
        return False  # no base to rise past, or history to apply_energy's rules anyway
    since = time_since(base, point)
    return since is not None and since < 0.0 and stamped_before_reset(meter, charger_time(point))


def remember_life_before(
    meter: MeterState, end: RegisterPoint, transaction: Transaction | None
) -> None:
    """A reset is confirmed: ``end``, the register's last counted point, ends its life before
    (that life's session: ``transaction`` when ``end`` is its last counted point). A reading of
    that life above it may still come (:func:`hold_life_before`)."""
    counted_for = (
        transaction is not None
        and not transaction.start_pending
        and transaction.meter_last_wh == end.register_wh
    )
    meter._life_before_end = end if end.timestamp is not None else None
    meter._life_before_session = _session_key(transaction) if counted_for else None
    meter._life_before_held = None
    meter._held_for_session = False


def _session_key(transaction: Transaction | None) -> tuple[str, datetime] | None:
    """What tells ``transaction`` apart from another of its id (an id used again)."""
    return None if transaction is None else (transaction.transaction_id, transaction.started_at)


def hold_life_before(
    meter: MeterState, point: RegisterPoint, transaction: Transaction | None
) -> None:
    """``point``, maybe of the life before (:func:`of_life_before`), above that life's end
    and stamped after it, is held: that life's own rise, unless a live reading of the present
    life on a clock that went back (:func:`prove_life_before` tells). The highest is held: the
    rise counts up to it. It is the session's only if it came with that life's session."""
    end, held = meter._life_before_end, meter._life_before_held
    if end is None or charger_time(point) <= charger_time(end):
        return
    if point.register_wh <= (held or end).register_wh:
        return
    meter._life_before_held = point
    session = _session_key(transaction)
    meter._held_for_session = session is not None and session == meter._life_before_session


def is_held(meter: MeterState, point: RegisterPoint) -> bool:
    """Whether ``point`` is the reading held as maybe the life before's
    (:func:`hold_life_before`) sent again: its register and the charger's stamp are the held
    one's (a charger that sends its session's end late after the reset with the old life's
    values). Whatever it came as (a 1.6 stop value, an end reading sent as taken now), it is no
    reading of the present life: neither a rise past the base nor an end that settles the hold.
    The register alone is no proof: a present life that reaches it (a kWh register in 0.1 kWh
    steps shows each for minutes; a full car sits at one) would show stale power and give its
    rise to the next session (test_redteam10c_present_at_held); a charger that stamps the old
    life's values anew costs the held rise instead (test_meter_held_register_new_stamp). A stop
    stamped before the reset at another register may be the present life's on a clock gone back
    since (test_redteam7_v16_reset_then_clock_back_stop): a register value's rules."""
    held = meter._life_before_held
    return (
        held is not None
        and point.register_wh == held.register_wh
        and charger_time(point) == charger_time(held)
    )


def prove_life_before(
    charger: Charger,
    connector: Connector,
    point: RegisterPoint,
    transaction: Transaction | None,
    power: float,
) -> None:
    """``point``, taken as the present life's register after a reading was held
    (:func:`hold_life_before`), settles it. Below it, the held reading is no reading of this
    life (a register counts up within one life): its rise from the life before's end counts,
    bounded by the life before's own time (:func:`_life_before_allowance`), for the session that
    life's end was counted for if it came with it (open or ended since: record_watch fires
    SESSION_UPDATED then), and that end moves up to it (a copy sent again counts nothing more).
    At or above it, it may be this life's: forgotten, never counted."""
    meter = connector.meter
    held, end = meter._life_before_held, meter._life_before_end
    if held is None or end is None:
        return
    meter._life_before_held = None
    if point.register_wh >= held.register_wh:
        return
    credit = _held_rise(power, end, held)
    meter._life_before_end = held
    _LOGGER.info(
        "%s: energy register of connector %s read %.0f Wh before its reset (sent after it); "
        "counted %.0f Wh",
        charger.charger_id,
        connector.connector_id,
        held.register_wh,
        credit,
    )
    session = _life_before_session(charger, connector, transaction)
    _count(charger, connector, point, credit, session if meter._held_for_session else None)


def prove_life_before_at_end(
    charger: Charger, connector: Connector, transaction: Transaction, power: float
) -> None:
    """``transaction`` ended at the connector's register (its base now: taken, so of the
    present life, as the session's end reported it): that end settles a reading held as maybe
    the life before's (:func:`prove_life_before`) as a later live reading would. A reading of
    the session's own lies at or below its end, so one above it is the life before's, counted
    for ``transaction`` if it came with it; one at or below it may be the session's: forgotten.
    Its end stamped no later than the base (the same reading sent again with it, or a clock set
    back) would leave it held, and the session would end without it."""
    base = meter_rules.read_register(connector.meter)
    if base is not None:
        prove_life_before(charger, connector, base, transaction, power)


def _life_before_allowance(power_w: float, end: RegisterPoint, held: RegisterPoint) -> float:
    """How much the life before may have added from its ``end`` to ``held``, a reading of it sent
    after its reset: max power x the time between them by the charger's own stamps, both of that
    life's clock (the time we got them also holds the present life's, which counted itself: an
    hour of it is no allowance for the life before's minute), never more than
    :func:`~.meter_time.rise_allowance` (our clocks: a charger's clock set forward between the two is no
    time either)."""
    stamped_s = (charger_time(held) - charger_time(end)).total_seconds()
    return min(
        max_energy_wh(power_w, stamped_s),
        rise_allowance(power_w, None, end, held),
    )


def _held_rise(power_w: float, end: RegisterPoint, held: RegisterPoint) -> float:
    """What ``held``, proven the life before's, adds to that life's ``end``."""
    return min(held.register_wh - end.register_wh, _life_before_allowance(power_w, end, held))


def _count(
    charger: Charger,
    connector: Connector,
    now: RegisterPoint,
    credit: float,
    session: Transaction | None,
) -> None:
    """``credit`` Wh of a held reading count for the lifetime (the register ``now``), and for
    ``session`` if any."""
    count_lifetime(charger, connector, now.register_wh, credit, fresh=False)
    if session is not None:
        meter_rules.credit_session(charger, session, credit)


def _life_before_session(
    charger: Charger, connector: Connector, transaction: Transaction | None
) -> Transaction | None:
    """The session the life before's end was counted for: ``transaction``, the connector's, or
    one of its that ended since (None: none known, or another's)."""
    session = connector.meter._life_before_session
    known = chain(
        (transaction, connector.transaction), charger.ended_transactions(connector.connector_id)
    )
    return next((tx for tx in known if session == _session_key(tx)), None)


class PendingHold(NamedTuple):
    """A reading held as maybe the life before's (:func:`hold_life_before`), as it was before
    the register was read further (:func:`credit_dropped_hold`)."""

    connector: Connector
    end: RegisterPoint
    held: RegisterPoint
    # The session its rise would count for (open or ended; None: none, the lifetime only).
    session: Transaction | None


def pending_holds(charger: Charger) -> Iterator[PendingHold]:
    """The readings held now, on each connector of ``charger``."""
    for connector in charger.connectors.values():
        meter = connector.meter
        end, held = meter._life_before_end, meter._life_before_held
        if end is not None and held is not None:
            for_session = meter._held_for_session
            session = _life_before_session(charger, connector, None) if for_session else None
            yield PendingHold(connector, end, held, session)


def credit_dropped_hold(charger: Charger, pending: PendingHold, power: float) -> None:
    """``pending``'s register reset again before a present-life reading settled the hold
    (:func:`remember_life_before` drops it): the held reading is real energy either way, the
    first life's rise past its end (:func:`_held_rise`) or the second's past its own end (taken
    before the third life's first value: bounded by the time up to the register now). The
    smaller counts, for the hold's session if the second life's end was counted for it too."""
    connector = pending.connector
    meter = connector.meter
    second_end, now = meter._life_before_end, meter_rules.read_register(meter)
    if second_end is None or second_end in (pending.end, pending.held) or now is None:
        return  # still held, settled (forgotten or proven), or no second life's end to count from
    held = pending.held
    # Never below 0: a second life whose base passed the held one unsettled owes it nothing.
    credit = max(
        0.0,
        min(
            _held_rise(power, pending.end, held),
            held.register_wh - second_end.register_wh,
            rise_allowance(power, None, second_end, now),
        ),
    )
    _LOGGER.info(
        "%s: energy register of connector %s read %.0f Wh, held, and reset again; counted "
        "%.0f Wh, real in either life",
        charger.charger_id,
        connector.connector_id,
        held.register_wh,
        credit,
    )
    session = pending.session
    same_session = session is not None and _session_key(session) == meter._life_before_session
    _count(charger, connector, now, credit, session if same_session else None)


def reset_stamp(first: RegisterPoint) -> datetime:
    """The stamp of ``first``, the first value of its register's new life, as kept for
    :func:`stamped_before_reset`: the charger's own, but no further ahead of our clock than a
    time may be (:func:`~.meter_time.time_of`). One of a clock a year ahead, set right since, would take
    every later reading for the life before, for a year."""
    assert first.timestamp is not None  # a candidate is a received point: always stamped
    return first.timestamp
