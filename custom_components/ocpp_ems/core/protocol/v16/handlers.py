"""Incoming 1.6 actions, charger -> central system: one function per action, and the route table.

Each handler gets the payload exactly as the charger sent it (camelCase; already checked against
the 1.6 schema by the RPC layer, so required fields are present and typed), translates it into one
call on :class:`~...charger_state.ChargerState` (where the version-agnostic rules live) and returns
the 1.6 answer payload. Handlers never await: follow-up CALLs of ours start in an ``after`` hook
(:class:`~..rpc.Route`), once the answer is on the wire.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from custom_components.ocpp_ems.core.directory import Admission
from custom_components.ocpp_ems.core.meter_values import last_register_wh, parse_meter_values
from custom_components.ocpp_ems.core.model import ChargerInfo, ConnectorStatus
from custom_components.ocpp_ems.core.protocol import incoming
from custom_components.ocpp_ems.core.protocol.certificates import sign_certificate_route
from custom_components.ocpp_ems.core.protocol.incoming import HEARTBEAT_SPREAD, PENDING_RETRY_S
from custom_components.ocpp_ems.core.protocol.rpc import Payload, Route
from custom_components.ocpp_ems.core.timeutil import (
    parse_future_timestamp,
    parse_optional_timestamp,
    parse_timestamp,
    utcnow,
)

from .past_starts import PastStart, hold_past_start, take_past_start

if TYPE_CHECKING:
    from .session import V16Session

__all__ = ["HEARTBEAT_SPREAD", "PENDING_RETRY_S", "ROUTES"]

# 1.6 ChargePointStatus -> model status (anything else: UNKNOWN).
_STATUS = {
    "Available": ConnectorStatus.AVAILABLE,
    "Preparing": ConnectorStatus.PREPARING,
    "Charging": ConnectorStatus.CHARGING,
    "SuspendedEV": ConnectorStatus.SUSPENDED_EV,
    "SuspendedEVSE": ConnectorStatus.SUSPENDED_EVSE,
    "Finishing": ConnectorStatus.FINISHING,
    "Reserved": ConnectorStatus.RESERVED,
    "Unavailable": ConnectorStatus.UNAVAILABLE,
    "Faulted": ConnectorStatus.FAULTED,
}
# A StopTransaction without a reason: the spec's default.
_DEFAULT_STOP_REASON = "Local"


def _id_tag_info(accepted: bool) -> dict[str, str]:
    return {"status": incoming.authorization_status(accepted)}


# --- Core ----------------------------------------------------------------------------------------
def boot_notification(session: V16Session, payload: Payload) -> Payload:
    info = ChargerInfo(
        vendor=payload["chargePointVendor"],
        model=payload["chargePointModel"],
        serial_number=payload.get("chargePointSerialNumber")
        or payload.get("chargeBoxSerialNumber"),
        firmware_version=payload.get("firmwareVersion"),
        iccid=payload.get("iccid"),
        meter_type=payload.get("meterType"),
    )
    admission, answer = incoming.boot(session, info)
    session.provisioning.on_boot(accepted=admission is Admission.ACCEPTED)
    return answer


def after_boot_notification(session: V16Session, payload: Payload) -> None:
    session.provisioning.after_boot()


def status_notification(session: V16Session, payload: Payload) -> Payload:
    timestamp = payload.get("timestamp")
    error_code = payload["errorCode"]
    session.state.record_status(
        incoming.connector_id(payload["connectorId"], "connectorId"),
        _STATUS.get(payload["status"], ConnectorStatus.UNKNOWN),
        timestamp=None if timestamp is None else parse_timestamp(timestamp),
        error_code=None if error_code == "NoError" else error_code,
        vendor_error_code=payload.get("vendorErrorCode"),
        info=payload.get("info"),
    )
    return {}


def authorize(session: V16Session, payload: Payload) -> Payload:
    return {"idTagInfo": _id_tag_info(session.state.authorize(payload["idTag"]))}


def start_transaction(session: V16Session, payload: Payload) -> Payload:
    state = session.state
    connector_id = incoming.outlet_id(payload["connectorId"], "connectorId")
    id_tag: str = payload["idTag"]
    meter_start = float(payload["meterStart"])
    stamp = parse_optional_timestamp(payload["timestamp"])  # None: the charger's clock is off
    started = utcnow() if stamp is None else stamp
    repeated = state.repeated_start(connector_id, id_tag, meter_start, stamp)
    if repeated is not None:
        # Our answer got lost and the charger asks again: the same transaction, the same id.
        accepted = state.authorize(id_tag, connector_id, events=False)
        return {
            "transactionId": int(repeated.transaction_id),
            "idTagInfo": _id_tag_info(accepted),
        }
    accepted = state.authorize_start(id_tag, connector_id)
    transaction_id = str(session.new_transaction_id())
    if (newer := state.session_after(connector_id, started, meter_start)) is not None:
        start = PastStart(connector_id, id_tag, accepted, started, meter_start)
        hold_past_start(session.charger, transaction_id, start, newer.transaction_id)
    else:
        state.start_transaction(
            connector_id,
            transaction_id,
            id_tag=id_tag,
            started=started,
            meter_start_wh=meter_start,
            authorized=accepted,
            meter_start_stamp=parse_future_timestamp(payload["timestamp"]),
        )
    return {"transactionId": int(transaction_id), "idTagInfo": _id_tag_info(accepted)}


def stop_transaction(session: V16Session, payload: Payload) -> Payload:
    transaction_id = str(payload["transactionId"])
    ended = parse_timestamp(payload["timestamp"])
    reason = payload.get("reason") or _DEFAULT_STOP_REASON
    meter_stop = float(payload["meterStop"])
    readings = parse_meter_values(payload.get("transactionData"))
    past = take_past_start(session.charger, transaction_id)
    if past is not None:
        # A meterStop of 0 (a firmware quirk) below its own readings: the newest register.
        last_wh = max(meter_stop, last_register_wh(readings) or 0.0)
        session.state.record_past_session(
            past.connector_id,
            transaction_id,
            id_tag=past.id_tag,
            authorized=past.authorized,
            started=past.started,
            ended=ended,
            reason=reason,
            registers_wh=(past.meter_start_wh, max(past.meter_start_wh, last_wh)),
        )
    else:
        session.state.end_transaction(
            transaction_id,
            ended=ended,
            reason=reason,
            meter_stop_wh=meter_stop,
            readings=readings,
        )
    id_tag = payload.get("idTag")
    if id_tag is None:
        return {}
    return {"idTagInfo": _id_tag_info(session.state.authorize(id_tag, events=False))}


def meter_values(session: V16Session, payload: Payload) -> Payload:
    transaction_id = payload.get("transactionId")
    session.state.record_meter(
        incoming.connector_id(payload["connectorId"], "connectorId"),
        parse_meter_values(payload["meterValue"]),
        None if transaction_id is None else str(transaction_id),
    )
    return {}


# --- Firmware Management -------------------------------------------------------------------------
def diagnostics_status_notification(session: V16Session, payload: Payload) -> Payload:
    session.state.record_diagnostics_status(payload["status"])
    return {}


# --- routing -------------------------------------------------------------------------------------
ROUTES: dict[str, Route[V16Session]] = {
    "BootNotification": Route(boot_notification, after_boot_notification),
    "Heartbeat": Route(incoming.heartbeat),
    "StatusNotification": Route(status_notification),
    "Authorize": Route(authorize),
    "StartTransaction": Route(start_transaction),
    "StopTransaction": Route(stop_transaction),
    "MeterValues": Route(meter_values),
    "DataTransfer": Route(incoming.data_transfer),
    "FirmwareStatusNotification": Route(incoming.firmware_status_notification),
    "DiagnosticsStatusNotification": Route(diagnostics_status_notification),
    # The 1.6 security extension (OCPP 1.6 security whitepaper): the same payloads as in 2.x.
    "SecurityEventNotification": Route(incoming.security_event_notification),
    "LogStatusNotification": Route(incoming.log_status_notification),
    "SignedFirmwareStatusNotification": Route(incoming.firmware_status_notification),
    "SignCertificate": sign_certificate_route(typed=False),
}
