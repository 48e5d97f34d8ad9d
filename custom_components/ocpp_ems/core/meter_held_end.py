"""A session that ends while its register's rise is held for our clock (our host's clock came
up behind after a restart: :func:`~.meter.held_for_our_clock`): the rise up to its end is its own
once our clocks cover it, though the lifetime takes it after the end, with no session open.

The end is kept (:func:`held_end`) and settled after each update of the registers
(:func:`credit_held_end`): the rise our clocks took from the session's last counted point counts
for it up to the register it ended at; a reset or a jump confirmed meanwhile counts nothing, nor
does a rise our clock, once set right, dates too soon after the restored register for the end
(:func:`~.meter.held_rise_too_fast`: idle time after the end never pays for it). A session
started in the held rise is owed its own part only, from its start register.
"""

from __future__ import annotations

import logging
from typing import NamedTuple

from . import meter as meter_rules
from .meter_time import rise_allowance
from .model import Charger, Connector, RegisterPoint, Transaction

_LOGGER = logging.getLogger(__name__)


class HeldEnd(NamedTuple):
    """An ended ``session`` whose register's rise from ``base`` (the connector's base, at or
    below its last counted point) up to ``end`` (read with it, held for our clock) is owed to it
    from its last counted point."""

    connector: Connector
    session: Transaction
    base: RegisterPoint
    end: RegisterPoint


def held_end(
    charger: Charger, connector: Connector, session: Transaction, power_w: float
) -> HeldEnd | None:
    """``session`` just ended on ``connector`` without its end register taken: what it is owed
    when the register it was last read at (the connector's candidate) rose from its last counted
    point only as far as our clock's step back holds (None: not so, nothing is owed). Its last
    counted point is the connector's base, or above it for a session started in the held rise
    (its start register, also held): owed its own part of the rise only, never the one before."""
    base, end = meter_rules.register_base(charger, connector), connector.meter.energy_candidate
    if (
        base is None
        or end is None
        or not base.register_wh <= session.meter_last_wh < end.register_wh
        or not meter_rules.held_for_our_clock(connector, base, end, power_w)
    ):
        return None
    return HeldEnd(connector, session, base, end)


def credit_held_end(charger: Charger, held: HeldEnd, power_w: float) -> HeldEnd | None:
    """The registers were updated: once the connector's base rose from ``held``'s as a rise our
    clocks allow (:func:`~.meter_time.rise_allowance`), it counts for the session up to its end. What
    is still owed (None: settled, also by a reset or a jump confirmed since, or a session open
    since that counted the rise itself: no rise of the ended session's was taken)."""
    connector, session = held.connector, held.session
    now = meter_rules.read_register(connector.meter)  # read: not a start's claim
    if now is None or now.register_wh == held.base.register_wh:
        return held
    rise = now.register_wh - held.base.register_wh
    if (
        _counted_since(held)
        or not 0.0 < rise <= rise_allowance(power_w, None, held.base, now)
        or meter_rules.held_rise_too_fast(connector, held.base, held.end, now, power_w)
    ):
        return None
    last = now if now.register_wh < held.end.register_wh else held.end
    credit = last.register_wh - max(held.base.register_wh, session.meter_last_wh)
    if credit > 0.0:
        _LOGGER.info(
            "%s: energy register of connector %s rose to %.0f Wh, held for our clock when "
            "session %s ended; counted %.0f Wh for it",
            charger.charger_id,
            connector.connector_id,
            last.register_wh,
            session.transaction_id,
            credit,
        )
        meter_rules.credit_session(charger, session, credit)
        session.meter_last_wh, session.meter_last_at = last.register_wh, last.timestamp
    # Below the end: the rest of the rise may still come.
    return held._replace(base=now) if last is now else None


def _counted_since(held: HeldEnd) -> bool:
    """Whether a session open on ``held``'s connector (started since the held end, below its end
    register: a start without a register counts from the base) took a register: the rise from
    the ended one's last counted point was its take (never counted twice). One started at or
    above the end counts from its own start (:func:`~.meter._below_start`)."""
    open_session = held.connector.transaction
    return (
        open_session is not None
        and open_session.meter_last_at is not None
        and open_session.meter_start_wh < held.end.register_wh
    )
