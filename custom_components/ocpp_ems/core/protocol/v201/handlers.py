"""Incoming 2.x actions, charging station -> CSMS: one function per action, and the route table.

As in 1.6 (``v16/handlers.py``): each handler gets the payload as sent (already checked against
the version's schema), makes its call on :class:`~...charger_state.ChargerState` and returns the
answer; follow-up CALLs start in an ``after`` hook. The rules shared with 1.6 live in
:mod:`..incoming` (boot admission, heartbeat interval, id-tag verdict), ``charger_state`` and
``meter`` (statuses, transactions, energy); what is 2.x-only lives in :mod:`.transactions`
(TransactionEvent) and :mod:`.station` (EVSE status mapping).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from custom_components.ocpp_ems.core.directory import Admission
from custom_components.ocpp_ems.core.meter_values import parse_meter_values
from custom_components.ocpp_ems.core.model import ChargerInfo, DeviceProblem, EvChargingNeeds
from custom_components.ocpp_ems.core.protocol import incoming
from custom_components.ocpp_ems.core.protocol.certificates import sign_certificate_route
from custom_components.ocpp_ems.core.protocol.rpc import Payload, Route
from custom_components.ocpp_ems.core.timeutil import (
    parse_future_timestamp,
    parse_timestamp,
    utcnow,
)

from . import transactions, tx_boot_mark, tx_message
from .station import apply_status, report_connector, station_state

if TYPE_CHECKING:
    from .session import V201Session

_LOGGER = logging.getLogger(__name__)


# --- Provisioning (B) ----------------------------------------------------------------------------
def boot_notification(session: V201Session, payload: Payload) -> Payload:
    station = payload["chargingStation"]
    modem = station.get("modem") or {}
    info = ChargerInfo(
        vendor=station["vendorName"],
        model=station["model"],
        serial_number=station.get("serialNumber"),
        firmware_version=station.get("firmwareVersion"),
        iccid=modem.get("iccid"),
    )
    # (Triggered: our TriggerMessage asked for it; the station did not reboot.)
    rebooted = payload["reason"] != "Triggered"
    admission, answer = incoming.boot(session, info, rebooted=rebooted)
    _LOGGER.debug("%s: boot (%s): %s", session.charger.charger_id, payload["reason"], admission)
    session.provisioning.on_boot(accepted=admission is Admission.ACCEPTED)
    if rebooted:
        tx_boot_mark.station_booted(session.state)
    return answer


def after_boot_notification(session: V201Session, payload: Payload) -> None:
    session.provisioning.after_boot()


def notify_report(session: V201Session, payload: Payload) -> Payload:
    # One page of a device-model report (GetBaseReport / GetReport): provisioning reassembles them.
    session.provisioning.record_report(payload)
    return {}


# --- Availability (G) ----------------------------------------------------------------------------
def status_notification(session: V201Session, payload: Payload) -> Payload:
    evse_id = incoming.connector_id(payload["evseId"], "evseId")
    connector_id = incoming.connector_id(payload["connectorId"], "connectorId")
    at = parse_timestamp(payload["timestamp"])
    status = payload["connectorStatus"]
    if report_connector(session.charger, evse_id, connector_id, status, at):
        apply_status(session.state, evse_id)
        if len(station_state(session.charger).evse(evse_id).connectors) > 1:
            # One connector of several faulted: the EVSE shows the others' status (station.py),
            # the faulted one is its problem, as a component's is.
            faulted = DeviceProblem(info="Faulted") if status == "Faulted" else None
            session.state.record_problem(evse_id, f"Connector/{connector_id}", faulted)
    return {}


# --- Authorization (C) ---------------------------------------------------------------------------
def authorize(session: V201Session, payload: Payload) -> Payload:
    id_tag = tx_message.id_tag_of(payload["idToken"])
    accepted = id_tag is None or session.state.authorize(id_tag)
    return {"idTokenInfo": tx_message.id_token_info(accepted)}


# --- Transactions (E) and meter values (J) -------------------------------------------------------
def transaction_event(session: V201Session, payload: Payload) -> Payload:
    evse = payload.get("evse")
    if evse is not None:
        incoming.connector_id(evse["id"], "evse.id")
    return transactions.transaction_event(session.state, payload)


def meter_values(session: V201Session, payload: Payload) -> Payload:
    # Outside transactions (a transaction's readings come in TransactionEvent); EVSE 0 is the
    # station's main meter.
    evse_id = incoming.connector_id(payload["evseId"], "evseId")
    session.state.record_meter(evse_id, parse_meter_values(payload["meterValue"]))
    return {}


# --- Smart charging (K) and ISO 15118 ------------------------------------------------------------
def notify_ev_charging_needs(session: V201Session, payload: Payload) -> Payload:
    evse_id = incoming.connector_id(payload["evseId"], "evseId")
    session.state.record_ev_charging_needs(evse_id, ev_charging_needs(payload["chargingNeeds"]))
    # Accepted: the CSMS provides the charging limits (current control's profiles for the EVSE).
    return {"status": "Accepted"}


def ev_charging_needs(needs: dict[str, Any]) -> EvChargingNeeds:
    """2.0.1 / 2.1 ChargingNeeds in model units (energy Wh, current A, voltage V, power W)."""
    ac = needs.get("acChargingParameters") or {}
    dc = needs.get("dcChargingParameters") or {}
    v2x = needs.get("v2xChargingParameters") or {}
    return EvChargingNeeds(
        requested_energy_transfer=needs["requestedEnergyTransfer"],
        received_at=utcnow(),
        departure_time=parse_future_timestamp(needs.get("departureTime")),
        energy_amount_wh=_number(
            ac.get("energyAmount"), dc.get("energyAmount"), v2x.get("evTargetEnergyRequest")
        ),
        ev_min_current_a=_number(ac.get("evMinCurrent"), v2x.get("minChargeCurrent")),
        ev_max_current_a=_number(
            ac.get("evMaxCurrent"), dc.get("evMaxCurrent"), v2x.get("maxChargeCurrent")
        ),
        ev_max_voltage_v=_number(
            ac.get("evMaxVoltage"), dc.get("evMaxVoltage"), v2x.get("maxVoltage")
        ),
        ev_max_power_w=_number(dc.get("evMaxPower"), v2x.get("maxChargePower")),
        soc_percent=_number(dc.get("stateOfCharge")),
        ev_energy_capacity_wh=_number(dc.get("evEnergyCapacity")),
        full_soc_percent=_number(dc.get("fullSoC"), v2x.get("targetSoC")),
        bulk_soc_percent=_number(dc.get("bulkSoC")),
    )


def _number(*candidates: Any) -> float | None:
    """The first value given, as a float."""
    return next((float(value) for value in candidates if value is not None), None)


def notify_ev_charging_schedule(session: V201Session, payload: Payload) -> Payload:
    _LOGGER.debug(
        "%s: EV charging schedule of EVSE %s: %s",
        session.charger.charger_id,
        payload["evseId"],
        payload["chargingSchedule"],
    )
    return {"status": "Accepted"}


def charging_limit(session: V201Session, payload: Payload) -> Payload:
    """NotifyChargingLimit / ClearedChargingLimit: a limit set on the station's side (an external
    EMS, the grid operator) appeared or went away; logged."""
    limit = payload.get("chargingLimit")
    _LOGGER.info(
        "%s: charging limit from %s %s on EVSE %s",
        session.charger.charger_id,
        (limit or payload)["chargingLimitSource"],
        "cleared" if limit is None else "set",
        payload.get("evseId", 0),
    )
    return {}


def report_charging_profiles(session: V201Session, payload: Payload) -> Payload:
    # The answer pages of a GetChargingProfiles request: kept for whoever asked.
    session.profile_reports.append(payload)
    return {}


# --- Reservation (H), Firmware (L), Diagnostics (N), Security (A), Data transfer (P) ------------
def reservation_status_update(session: V201Session, payload: Payload) -> Payload:
    session.state.record_reservation_status(
        payload["reservationId"], payload["reservationUpdateStatus"]
    )
    return {}


def notify_event(session: V201Session, payload: Payload) -> Payload:
    # Device-model events: a component's problem becomes the connector's error (its EVSE's; the
    # station's without one), as a 1.6 StatusNotification's error code does; all are logged
    # (info when a problem appears, debug otherwise).
    events = payload["eventData"]
    outlets = [
        incoming.connector_id(evse["id"], "component.evse.id") if evse else 0
        for evse in (event["component"].get("evse") for event in events)
    ]  # (all checked before any is applied)
    for event, connector_id in zip(events, outlets, strict=True):
        cleared = bool(event.get("cleared"))
        level = logging.INFO if event["trigger"] == "Alerting" and not cleared else logging.DEBUG
        _LOGGER.log(
            level,
            "%s: event %s of %s.%s: %s%s",
            session.charger.charger_id,
            event["eventId"],
            event["component"]["name"],
            event["variable"]["name"],
            event["actualValue"],
            " (cleared)" if cleared else "",
        )
        if (component := _problem_component(event)) is not None:
            active = not cleared and event["actualValue"].strip().lower() == "true"
            problem = DeviceProblem(code=event.get("techCode"), info=event.get("techInfo"))
            session.state.record_problem(connector_id, component, problem if active else None)
    return {}


# The standardized boolean variables whose "true" says a component is in trouble.
_PROBLEM_VARIABLES = frozenset({"Problem", "Tripped"})


def _problem_component(event: Payload) -> str | None:
    """The problem an event reports on or off, named by its component (its instance, and the
    variable where it is not Problem: ``RCD.Tripped``); None: the event is no problem's."""
    variable = event["variable"]["name"]
    if variable not in _PROBLEM_VARIABLES:
        return None
    component = event["component"]
    name = component["name"]
    if instance := component.get("instance"):
        name = f"{name}/{instance}"
    return name if variable == "Problem" else f"{name}.{variable}"


def notify_monitoring_report(session: V201Session, payload: Payload) -> Payload:
    _LOGGER.debug(
        "%s: monitoring report %s/%s: %d entries",
        session.charger.charger_id,
        payload["requestId"],
        payload["seqNo"],
        len(payload.get("monitor") or ()),
    )
    return {}


# ISO 15118 Plug & Charge (contract certificates, OCSP) is not offered: answered Failed, as the
# schema allows, so the station stops waiting (and tells the EV) rather than retrying a CALLERROR.
_NO_PLUG_AND_CHARGE = {
    "reasonCode": "NotSupported",
    "additionalInfo": "This CSMS does not offer ISO 15118 Plug & Charge",
}


def get_15118_ev_certificate(session: V201Session, payload: Payload) -> Payload:
    _LOGGER.info(
        "%s: an EV asks for a contract certificate (%s, ISO 15118 Plug & Charge): not offered",
        session.charger.charger_id,
        payload["action"],
    )
    return {"status": "Failed", "exiResponse": "", "statusInfo": dict(_NO_PLUG_AND_CHARGE)}


def get_certificate_status(session: V201Session, payload: Payload) -> Payload:
    _LOGGER.info(
        "%s: asks for the OCSP status of a certificate (ISO 15118 Plug & Charge): not offered",
        session.charger.charger_id,
    )
    return {"status": "Failed", "statusInfo": dict(_NO_PLUG_AND_CHARGE)}


def acknowledge(session: V201Session, payload: Payload) -> Payload:
    """Notifications we have no use for yet: accepted (a CallError would make them retry)."""
    return {}


# --- routing -------------------------------------------------------------------------------------
ROUTES: dict[str, Route[V201Session]] = {
    "BootNotification": Route(boot_notification, after_boot_notification),
    "Heartbeat": Route(incoming.heartbeat),
    "NotifyReport": Route(notify_report),
    "StatusNotification": Route(status_notification),
    "Authorize": Route(authorize),
    "TransactionEvent": Route(transaction_event),
    "MeterValues": Route(meter_values),
    "NotifyEVChargingNeeds": Route(notify_ev_charging_needs),
    "NotifyEVChargingSchedule": Route(notify_ev_charging_schedule),
    "NotifyChargingLimit": Route(charging_limit),
    "ClearedChargingLimit": Route(charging_limit),
    "ReportChargingProfiles": Route(report_charging_profiles),
    "ReservationStatusUpdate": Route(reservation_status_update),
    "FirmwareStatusNotification": Route(incoming.firmware_status_notification),
    "PublishFirmwareStatusNotification": Route(acknowledge),
    "LogStatusNotification": Route(incoming.log_status_notification),
    "SecurityEventNotification": Route(incoming.security_event_notification),
    "SignCertificate": sign_certificate_route(typed=True),
    "Get15118EVCertificate": Route(get_15118_ev_certificate),
    "GetCertificateStatus": Route(get_certificate_status),
    "NotifyEvent": Route(notify_event),
    "NotifyMonitoringReport": Route(notify_monitoring_report),
    "NotifyCustomerInformation": Route(acknowledge),
    "NotifyDisplayMessages": Route(acknowledge),
    "DataTransfer": Route(incoming.data_transfer),
}
