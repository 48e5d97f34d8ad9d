"""What every version's incoming half shares: the boot answer, the id-tag verdict, and the
handlers of the messages that are the same in 1.6 (with its security extension) and 2.x.

A 1.6 BootNotification and a 2.x BootNotification are answered by the same rules: the admission
(:class:`~..directory.Admission`) decides the status, an accepted charger gets the heartbeat
interval of the settings spread per charger id, a pending one is told when to boot again.
Heartbeat, FirmwareStatusNotification, LogStatusNotification, SecurityEventNotification and
DataTransfer have the same payload in every version: one handler each, in both route tables.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from custom_components.ocpp_ems.core.directory import Admission
from custom_components.ocpp_ems.core.model import MAX_CONNECTORS, plausible_connector_id
from custom_components.ocpp_ems.core.pacing import phase
from custom_components.ocpp_ems.core.timeutil import format_timestamp, parse_timestamp, utcnow

from .rpc import CallError, Payload

if TYPE_CHECKING:
    from custom_components.ocpp_ems.core.model import ChargerInfo

    from .rpc_session import RpcSession

# How long a Pending charger waits before booting again (it is also told so in the Pending answer).
PENDING_RETRY_S = 60
# Each charger's heartbeat interval is the setting plus up to this fraction, fixed per charger id
# (pacing.phase): chargers that booted together (a restart) do not heartbeat together forever.
HEARTBEAT_SPREAD = 0.1

# OCPP-J (1.6 and 2.x): "Payload is syntactically correct but at least one field contains an
# invalid value".
INVALID_VALUE = "PropertyConstraintViolation"

_BOOT_STATUS = {
    Admission.ACCEPTED: "Accepted",
    Admission.PENDING: "Pending",
    Admission.REJECTED: "Rejected",
}


def boot(
    session: RpcSession, info: ChargerInfo, *, rebooted: bool = True
) -> tuple[Admission, dict[str, object]]:
    """Record a boot (``ChargerState.record_boot``) and decide its answer: (admission,
    ``{currentTime, interval, status}``)."""
    admission = session.state.record_boot(info, rebooted=rebooted)
    interval = PENDING_RETRY_S
    if admission is Admission.ACCEPTED:
        base = session.context.server_settings.heartbeat_interval_s
        interval = round(base * (1 + HEARTBEAT_SPREAD * phase(session.charger.charger_id)))
    answer: dict[str, object] = {
        "currentTime": format_timestamp(utcnow()),
        "interval": interval,
        "status": _BOOT_STATUS[admission],
    }
    return admission, answer


def connector_id(value: int, field: str) -> int:
    """A connector or EVSE id as sent, refused with a CALLERROR when it names no outlet a charger
    can have (negative, or beyond MAX_CONNECTORS: the schemas of 1.6 and 2.0.1 let both through)."""
    if not plausible_connector_id(value):
        raise CallError(INVALID_VALUE, f"{field} must be 0..{MAX_CONNECTORS}, not {value}")
    return value


def outlet_id(value: int, field: str) -> int:
    """A connector that charges (1.6 StartTransaction: > 0, connector 0 is the charger as a
    whole), refused with a CALLERROR otherwise."""
    if connector_id(value, field) == 0:
        raise CallError(INVALID_VALUE, f"{field} must be 1..{MAX_CONNECTORS}, not 0")
    return value


def authorization_status(accepted: bool) -> str:
    """The id-tag verdict as every version writes it (1.6 idTagInfo, 2.x idTokenInfo)."""
    return "Accepted" if accepted else "Invalid"


# --- the same in every version -------------------------------------------------------------------
def heartbeat(session: RpcSession, payload: Payload) -> Payload:
    return {"currentTime": format_timestamp(session.state.record_heartbeat())}


def firmware_status_notification(session: RpcSession, payload: Payload) -> Payload:
    # Also 1.6's SignedFirmwareStatusNotification (security extension): the same status field.
    session.state.record_firmware_status(payload["status"])
    return {}


def log_status_notification(session: RpcSession, payload: Payload) -> Payload:
    # A GetLog upload (2.x, 1.6 security extension): 1.6's DiagnosticsStatusNotification's kin.
    session.state.record_diagnostics_status(payload["status"])
    return {}


def security_event_notification(session: RpcSession, payload: Payload) -> Payload:
    session.state.record_security_event(
        payload["type"], parse_timestamp(payload["timestamp"]), payload.get("techInfo")
    )
    return {}


def data_transfer(session: RpcSession, payload: Payload) -> Payload:
    # Accepted: the data was received and handed to Home Assistant as an event (we implement no
    # vendor extension ourselves; automations decide what it means).
    session.state.record_data_transfer(
        payload["vendorId"], payload.get("messageId"), payload.get("data")
    )
    return {"status": "Accepted"}
