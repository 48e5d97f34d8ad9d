"""1.6 transactions that began before the newer one on their connector, until they end.

A charger that was offline sends its queued messages when it is back; some send a session that
ended while offline only after the newer one has started, or even ended (out of order). Its
StartTransaction must get a transaction id at once, but it must neither end the running
transaction nor become the connector's last session
(:meth:`~...charger_state.ChargerState.session_after`): its start is held here until its
StopTransaction books it as a past session with the energy from its meterStart to its meterStop
(:meth:`~...charger_state.ChargerState.record_past_session`). Its MeterValues are older than the
connector's latest value: the energy rules leave them out of the connector's count.

Held per charger (kept across connections, not across restarts of Home Assistant), at most
:data:`MAX_PAST_STARTS`: beyond that the oldest is dropped (its end is then reported as one of an
unknown transaction).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from custom_components.ocpp_ems.core.model import Charger

_LOGGER = logging.getLogger(__name__)

MAX_PAST_STARTS = 16
_KEY = "v16_past_starts"


@dataclass(frozen=True, slots=True)
class PastStart:
    """What a held StartTransaction said (and its id tag's verdict)."""

    connector_id: int
    id_tag: str
    authorized: bool
    started: datetime
    meter_start_wh: float


def _held(charger: Charger) -> dict[str, PastStart]:
    held = charger.protocol_state.get(_KEY)
    if not isinstance(held, dict):
        held = charger.protocol_state[_KEY] = {}
    return held


def hold_past_start(charger: Charger, transaction_id: str, start: PastStart, newer: str) -> None:
    """Hold the start of ``transaction_id``, which began before transaction ``newer``."""
    held = _held(charger)
    held[transaction_id] = start
    _LOGGER.warning(
        "%s: transaction %s on connector %s began before transaction %s there; "
        "booked as a past session when it ends",
        charger.charger_id,
        transaction_id,
        start.connector_id,
        newer,
    )
    while len(held) > MAX_PAST_STARTS:
        dropped = next(iter(held))
        del held[dropped]
        _LOGGER.warning(
            "%s: more than %d past transactions waiting for their end: %s no longer waits",
            charger.charger_id,
            MAX_PAST_STARTS,
            dropped,
        )


def take_past_start(charger: Charger, transaction_id: str) -> PastStart | None:
    """The held start of ``transaction_id`` (None: not held), no longer held."""
    return _held(charger).pop(transaction_id, None)
