"""Which transaction a start or a message of the charger belongs to: the one it repeats
(:func:`repeated_start`), a newer one it lies behind (:func:`session_after`: history, an offline
queue out of order) or the open one of its id (:func:`find_open`). Read-only: applying a start or
an end is :mod:`.transaction_book`'s."""

from __future__ import annotations

from datetime import datetime

from .meter_time import MAX_PAST_SESSION_AGE
from .model import Charger, Connector, Transaction
from .timeutil import utcnow


def repeated_start(
    charger: Charger,
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
    connector = charger.connector(connector_id)
    candidates: list[Transaction | None] = [connector.transaction]
    if started is not None:
        candidates += charger.ended_transactions(connector_id)
    for existing in candidates:
        if (
            existing is not None
            and existing.id_tag == id_tag
            and existing.meter_start_wh == meter_start_wh
            and (started is None or existing.started_at == started)
        ):
            return existing
    return None


def running_after(charger: Charger, connector_id: int, started: datetime) -> Transaction | None:
    """The transaction running on the connector that began after ``started``: a session that
    began earlier is history (sent late, behind the newer one: an offline session out of
    order) and must never end the running one; adapters book it with
    :meth:`~.transaction_book.TransactionBook.record_past_session` once it ends."""
    connector = charger.connectors.get(connector_id)
    running = None if connector is None else connector.transaction
    return running if _began_before(started, running) else None


def session_after(
    charger: Charger, connector_id: int, started: datetime, meter_start_wh: float | None
) -> Transaction | None:
    """Like :func:`running_after`, and else the connector's last ended session when a start
    (``started``, ``meter_start_wh``) began before it: an offline queue sent newest first.
    A new session after a clock set back starts at or above that session's last register
    (without a register, ``None``, the two cannot be told apart: it is a new session)."""
    running = running_after(charger, connector_id, started)
    connector = charger.connectors.get(connector_id)
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


def find_open(
    charger: Charger, connector: Connector | None, transaction_id: str
) -> Transaction | None:
    """The open transaction ``transaction_id``: the connector's own first (a station that
    numbers its transactions per EVSE, against the spec, has one of that id on each), else
    any (None: no connector named)."""
    own = None if connector is None else connector.transaction
    if own is not None and own.transaction_id == transaction_id:
        return own
    return charger.find_transaction(transaction_id)


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
