"""One 2.x TransactionEvent as the adapter reads it (:class:`Event`, parsed from a schema-checked
payload), its IdToken as the model's id tag, and what its readings tell of its transaction's
start (the ``Transaction.Begin`` reading, start time, start register). Reading only: nothing
here changes the model.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from custom_components.ocpp_ems.core.meter_values import Reading, parse_meter_values
from custom_components.ocpp_ems.core.model import Transaction
from custom_components.ocpp_ems.core.protocol.incoming import authorization_status
from custom_components.ocpp_ems.core.protocol.rpc import Payload
from custom_components.ocpp_ems.core.timeutil import parse_optional_timestamp, parse_timestamp

BEGIN = "Transaction.Begin"
END = "Transaction.End"
NO_AUTHORIZATION = "NoAuthorization"


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


def names_another_evse(transaction: Transaction, event: Event) -> bool:
    return event.evse_id is not None and event.evse_id != transaction.connector_id


def begin_reading(event: Event) -> Reading | None:
    return next((r for r in event.readings if r.context == BEGIN), None)


def register_values(event: Event, context: str | None = None) -> list[float]:
    """The energy registers ``event`` reads, in order (only its readings in ``context``, if
    given)."""
    return [
        r.energy_register_wh
        for r in event.readings
        if r.energy_register_wh is not None and context in (None, r.context)
    ]


def start_time(event: Event) -> datetime:
    """When the transaction of its first message began: the Started's time, or for a
    transaction whose Started was lost its Transaction.Begin reading's (if earlier)."""
    begin = begin_reading(event)
    if event.kind == "Started" or begin is None:
        return event.at
    return min(begin.timestamp, event.at)


def first_register(event: Event) -> float | None:
    return next(iter(register_values(event)), None)


def start_register(event: Event) -> float | None:
    """The register a transaction starts from: its Transaction.Begin value, else a Started's
    first register (2.0.1 lets a Started's value come without a context). Another message's
    readings are periodic, taken after the start: None, the session counts from the EVSE's last
    register, as after a Started without meter values, whichever of the two arrives first."""
    reading = _start_reading(event)
    return None if reading is None else reading.energy_register_wh


def start_register_stamp(event: Event) -> datetime | None:
    """The charger's own stamp of :func:`start_register` (kept where it lies too far ahead of
    our clock for the event's time; None: no start register)."""
    reading = _start_reading(event)
    return None if reading is None else reading.timestamp


def _start_reading(event: Event) -> Reading | None:
    """The reading of :func:`start_register`."""
    registers = [r for r in event.readings if r.energy_register_wh is not None]
    begin = next((r for r in registers if r.context == BEGIN), None)
    if begin is None and event.kind == "Started":
        return next(iter(registers), None)
    return begin
