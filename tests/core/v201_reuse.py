"""Plumbing shared by the 2.x tests of a transaction id used again (a reboot, a clock gone back):
TransactionEvent frames of :data:`REUSED_ID` in the form :func:`send_frames` takes, sending one,
an open session lost in a reboot, and the sessions ended so far.

The sessions and their frames are :mod:`.test_v201_reused_id_clock_back`'s; this module only
builds the messages the tests write by hand.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from custom_components.ocpp_ems.core.model import EventKind, Transaction

from .test_v201_reused_id_clock_back import (
    EVSE,
    OLD_BEGIN_WH,
    OLD_STARTED_MIN_AGO,
    REUSED_ID,
    _register,
    send_frames,
    session_frames,
)
from .v16_harness import Harness
from .v201_harness import SimStation, SimStation21

type Station = SimStation | SimStation21

# The card of the old session (accepted by the harness's directory).
TAG1 = {"idToken": "TAG1", "type": "ISO14443"}
# The second EVSE of a two-EVSE station (its own meter).
EVSE_2 = {"id": 2, "connectorId": 1}
# Each EVSE's register when its session starts, and what one session there charges.
EVSE_1_BEGIN_WH = 1000.0
EVSE_2_BEGIN_WH = 7000.0
EVSE_SESSION_WH = 500.0
# EVSE 1's register at its last Updated sent live, then at the next one (queued at a reboot).
EVSE_1_SENT_WH = EVSE_1_BEGIN_WH + EVSE_SESSION_WH
EVSE_1_QUEUED_WH = EVSE_1_SENT_WH + EVSE_SESSION_WH
# The reading context of the register each event type carries.
REGISTER_CONTEXT = {
    "Started": "Transaction.Begin",
    "Updated": "Sample.Periodic",
    "Ended": "Transaction.End",
}


def tx_frame(
    event_type: str,
    seq_no: int,
    at: str,
    *,
    wh: float | None = None,
    evse: dict[str, int] = EVSE,
    **more: Any,
) -> dict[str, Any]:
    """A TransactionEvent of :data:`REUSED_ID` stamped ``at``; with ``wh``, the register read
    then (in its event type's context)."""
    frame: dict[str, Any] = {"event_type": event_type, "seq_no": seq_no, "timestamp": at}
    frame |= {"evse": evse, **more}
    if wh is not None:
        frame["meter_value"] = _register(wh, at, REGISTER_CONTEXT[event_type])
    return frame


def cable_started(
    wh: float, at: str, *, evse: dict[str, int] = EVSE, charging_state: str = "EVConnected"
) -> dict[str, Any]:
    """The Started (seqNo 0, no token) of a session the cable started at register ``wh``."""
    return tx_frame(
        "Started",
        0,
        at,
        wh=wh,
        evse=evse,
        trigger_reason="CablePluggedIn",
        charging_state=charging_state,
    )


def periodic_updated(seq_no: int, wh: float, at: str, **more: Any) -> dict[str, Any]:
    """A periodic Updated (or, with a ``stopped_reason``, the Ended) at register ``wh``."""
    event_type = "Ended" if "stopped_reason" in more else "Updated"
    return tx_frame(event_type, seq_no, at, wh=wh, trigger_reason="MeterValuePeriodic", **more)


def card_shown(seq_no: int, at: str, card: dict[str, str], **more: Any) -> dict[str, Any]:
    """An Updated that brings the session's card (a cable-first start)."""
    return tx_frame("Updated", seq_no, at, trigger_reason="Authorized", id_token=card, **more)


async def send(station: Station, frame: dict[str, Any], transaction_id: str = REUSED_ID) -> Any:
    """Send one frame (of :func:`tx_frame`) as a message of ``transaction_id``; the station's
    answer, unchecked."""
    fields = dict(frame)
    return await station.tx_event(fields.pop("event_type"), transaction_id, **fields)


@dataclass(frozen=True)
class OpenSession:
    station: Station
    frames: list[dict[str, Any]]  # as sent before the reboot
    transaction: Transaction


async def open_session_then_reboot(
    h: Harness, frames: list[dict[str, Any]] | None = None
) -> OpenSession:
    """A station's session (``frames``, by default the old session's Started and Updated), then
    a BootNotification: the session's Ended is lost in the reboot."""
    station = await h.charger_client(boot=True)
    if frames is None:
        frames = session_frames(0, OLD_BEGIN_WH, OLD_STARTED_MIN_AGO)[:2]
    await send_frames(station, frames)
    transaction = h.charger.connectors[1].transaction
    assert transaction is not None
    await station.boot(reason="PowerUp")
    return OpenSession(station, frames, transaction)


def ended_sessions(h: Harness, *keys: str) -> list[tuple[Any, ...]]:
    """Each SESSION_ENDED event so far as its ``keys`` (by default: transaction id, energy)."""
    keys = keys or ("transaction_id", "energy_wh")
    ended = [e.data for e in h.events if e.kind is EventKind.SESSION_ENDED]
    return [tuple(data[key] for key in keys) for data in ended]
