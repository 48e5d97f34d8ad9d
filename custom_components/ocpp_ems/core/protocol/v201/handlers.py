"""Incoming 2.x actions, charging station -> CSMS: one function per action, and the route table.

As in 1.6 (``v16/handlers.py``): each handler gets the payload as sent (already schema-checked),
makes one call on :class:`~...charger_state.ChargerState` and returns the answer; follow-up CALLs
start in an ``after`` hook.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from custom_components.ocpp_ems.core.protocol.rpc import Payload, Route
from custom_components.ocpp_ems.core.timeutil import format_timestamp

if TYPE_CHECKING:
    from .session import V201Session


def heartbeat(session: V201Session, payload: Payload) -> Payload:
    return {"currentTime": format_timestamp(session.state.record_heartbeat())}


ROUTES: dict[str, Route[V201Session]] = {
    "Heartbeat": Route(heartbeat),
}
