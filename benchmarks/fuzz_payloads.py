"""Schema-valid payloads of every message a charger sends, per OCPP version, for the frame fuzzer.

The fuzzer (``fuzz_frames.py``) sends them as they are ("valid" frames) and as the seeds of its
mutations (a field of another type, dropped, added). Values are drawn from small pools (a few
transaction ids, EVSE 0-2, sequence numbers 0-5) so that valid frames also reach the stateful paths:
a transaction started, updated out of order, ended twice, a report page repeated.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

Payload = dict[str, Any]


def now_iso(offset_s: float = 0.0) -> str:
    return (datetime.now(UTC) + timedelta(seconds=offset_s)).isoformat().replace("+00:00", "Z")


# --- OCPP 1.6 ------------------------------------------------------------------------------------
def _sampled_16(rng: random.Random) -> Payload:
    return {
        "value": str(rng.randint(0, 100_000)),
        "context": "Sample.Periodic",
        "measurand": rng.choice(["Energy.Active.Import.Register", "Power.Active.Import"]),
        "unit": rng.choice(["Wh", "W", "kWh"]),
        "phase": rng.choice(["L1", "L2", "L3"]),
        "location": "Outlet",
        "format": "Raw",
    }


def template_16(action: str, rng: random.Random) -> Payload:
    """A schema-valid 1.6 payload of ``action`` (charger -> central system)."""
    meter_value = [{"timestamp": now_iso(), "sampledValue": [_sampled_16(rng) for _ in range(3)]}]
    payloads: dict[str, Payload] = {
        "BootNotification": {"chargePointVendor": "Fuzz", "chargePointModel": "F1"},
        "Heartbeat": {},
        "StatusNotification": {
            "connectorId": rng.randint(0, 2),
            "errorCode": "NoError",
            "status": rng.choice(["Available", "Preparing", "Charging", "Faulted"]),
            "timestamp": now_iso(),
        },
        "Authorize": {"idTag": rng.choice(["OK1", "BAD"])},
        "StartTransaction": {
            "connectorId": 1,
            "idTag": "OK1",
            "meterStart": rng.randint(0, 10_000),
            "timestamp": now_iso(),
        },
        "StopTransaction": {
            "transactionId": rng.randint(0, 2**31),
            "meterStop": rng.randint(0, 10_000),
            "timestamp": now_iso(),
            "reason": "Local",
            "transactionData": meter_value,
        },
        "MeterValues": {"connectorId": 1, "transactionId": 1, "meterValue": meter_value},
        "DataTransfer": {"vendorId": "fuzz", "messageId": "m", "data": "x"},
        "FirmwareStatusNotification": {"status": "Idle"},
        "DiagnosticsStatusNotification": {"status": "Idle"},
    }
    return payloads[action]


ACTIONS_16 = (
    "BootNotification",
    "Heartbeat",
    "StatusNotification",
    "Authorize",
    "StartTransaction",
    "StopTransaction",
    "MeterValues",
    "DataTransfer",
    "FirmwareStatusNotification",
    "DiagnosticsStatusNotification",
)


# --- OCPP 2.0.1 and 2.1 (the same payloads are valid in both) ------------------------------------
def _sampled_2x(rng: random.Random) -> Payload:
    measurand, unit = rng.choice(
        [
            ("Energy.Active.Import.Register", "Wh"),
            ("Energy.Active.Import.Register", "kWh"),
            ("Power.Active.Import", "W"),
            ("Current.Import", "A"),
            ("Voltage", "V"),
            ("SoC", "Percent"),
        ]
    )
    sample: Payload = {
        "value": rng.choice([0, 1.5, rng.randint(0, 100_000), -3.0]),
        "context": rng.choice(["Sample.Periodic", "Transaction.Begin", "Transaction.End"]),
        "measurand": measurand,
        "unitOfMeasure": {"unit": unit, "multiplier": rng.choice([0, 0, 3, -3])},
    }
    if rng.random() < 0.5:
        sample["phase"] = rng.choice(["L1", "L2", "L3", "L1-N"])
    return sample


def _meter_value_2x(rng: random.Random) -> list[Payload]:
    return [
        {
            "timestamp": now_iso(rng.choice([0, -3600, 86_400 * 365 * 20])),
            "sampledValue": [_sampled_2x(rng) for _ in range(rng.randint(1, 4))],
        }
    ]


def _id_token(rng: random.Random) -> Payload:
    return {"idToken": rng.choice(["OK1", "BAD", "OK2"]), "type": "ISO14443"}


def _evse(rng: random.Random) -> Payload:
    return {"id": rng.randint(0, 2), "connectorId": rng.randint(1, 2)}


def _schedule(rng: random.Random) -> Payload:
    return {
        "id": rng.randint(1, 3),
        "chargingRateUnit": rng.choice(["A", "W"]),
        "chargingSchedulePeriod": [
            {"startPeriod": 0, "limit": rng.choice([0.0, 6.0, 16.0, 11_000.0])},
            {"startPeriod": rng.randint(1, 7200), "limit": 10.0},
        ],
    }


def _transaction_event(rng: random.Random) -> Payload:
    event_type = rng.choice(["Started", "Updated", "Updated", "Ended"])
    info: Payload = {
        "transactionId": rng.choice(["T1", "T2", "T3"]),
        "chargingState": rng.choice(["Charging", "EVConnected", "SuspendedEV", "Idle"]),
    }
    if event_type == "Ended":
        info["stoppedReason"] = rng.choice(["Local", "EVDisconnected", "PowerLoss"])
    payload: Payload = {
        "eventType": event_type,
        "timestamp": now_iso(rng.choice([0, -60, -86_400])),
        "triggerReason": rng.choice(
            ["Authorized", "MeterValuePeriodic", "CablePluggedIn", "StopAuthorized", "EVDeparted"]
        ),
        "seqNo": rng.randint(0, 5),
        "transactionInfo": info,
        "meterValue": _meter_value_2x(rng),
    }
    if rng.random() < 0.6:
        payload["evse"] = _evse(rng)
    if rng.random() < 0.5:
        payload["idToken"] = _id_token(rng)
    if rng.random() < 0.2:
        payload["offline"] = True
    return payload


def template_2x(action: str, rng: random.Random) -> Payload:
    """A payload of ``action`` valid in OCPP 2.0.1 and 2.1 (station -> CSMS)."""
    now = now_iso()
    makers: dict[str, Callable[[], Payload]] = {
        "BootNotification": lambda: {
            "chargingStation": {"model": "F2", "vendorName": "Fuzz"},
            "reason": "PowerUp",
        },
        "Heartbeat": dict,
        "StatusNotification": lambda: {
            "timestamp": now,
            "connectorStatus": rng.choice(["Available", "Occupied", "Unavailable", "Faulted"]),
            "evseId": rng.randint(0, 2),
            "connectorId": rng.randint(0, 2),
        },
        "Authorize": lambda: {"idToken": _id_token(rng)},
        "TransactionEvent": lambda: _transaction_event(rng),
        "MeterValues": lambda: {"evseId": rng.randint(0, 2), "meterValue": _meter_value_2x(rng)},
        "NotifyReport": lambda: {
            "requestId": rng.randint(0, 2),
            "generatedAt": now,
            "seqNo": rng.randint(0, 3),
            "tbc": rng.random() < 0.5,
            "reportData": [
                {
                    "component": {"name": rng.choice(["SmartChargingCtrlr", "EVSE", "Connector"])},
                    "variable": {"name": rng.choice(["Enabled", "Available", "Power"])},
                    "variableAttribute": [{"type": "Actual", "value": rng.choice(["true", "7"])}],
                    "variableCharacteristics": {
                        "dataType": rng.choice(["boolean", "integer", "decimal"]),
                        "supportsMonitoring": False,
                    },
                }
            ],
        },
        "NotifyEVChargingNeeds": lambda: {
            "evseId": rng.randint(1, 2),
            "chargingNeeds": {
                "requestedEnergyTransfer": "AC_three_phase",
                "acChargingParameters": {
                    "energyAmount": rng.randint(0, 80_000),
                    "evMinCurrent": 6,
                    "evMaxCurrent": rng.randint(0, 32),
                    "evMaxVoltage": 400,
                },
                "departureTime": now_iso(rng.choice([-3600, 3600 * 8])),
            },
        },
        "NotifyEVChargingSchedule": lambda: {
            "timeBase": now,
            "chargingSchedule": _schedule(rng),
            "evseId": rng.randint(1, 2),
        },
        "NotifyChargingLimit": lambda: {
            "chargingLimit": {"chargingLimitSource": rng.choice(["EMS", "SO", "CSO"])},
            "evseId": rng.randint(0, 2),
            "chargingSchedule": [_schedule(rng)],
        },
        "ClearedChargingLimit": lambda: {
            "chargingLimitSource": rng.choice(["EMS", "SO"]),
            "evseId": rng.randint(0, 2),
        },
        "ReportChargingProfiles": lambda: {
            "requestId": rng.randint(0, 2),
            "chargingLimitSource": "CSO",
            "evseId": rng.randint(0, 2),
            "tbc": rng.random() < 0.5,
            "chargingProfile": [
                {
                    "id": rng.randint(1, 3),
                    "stackLevel": rng.randint(0, 3),
                    "chargingProfilePurpose": rng.choice(
                        ["TxDefaultProfile", "TxProfile", "ChargingStationMaxProfile"]
                    ),
                    "chargingProfileKind": rng.choice(["Absolute", "Relative"]),
                    "chargingSchedule": [_schedule(rng)],
                }
            ],
        },
        "ReservationStatusUpdate": lambda: {
            "reservationId": rng.randint(0, 3),
            "reservationUpdateStatus": rng.choice(["Expired", "Removed"]),
        },
        "FirmwareStatusNotification": lambda: {"status": rng.choice(["Idle", "Installed"])},
        "PublishFirmwareStatusNotification": lambda: {"status": "Idle"},
        "LogStatusNotification": lambda: {"status": rng.choice(["Idle", "Uploaded"])},
        "SecurityEventNotification": lambda: {"type": "SettingSystemTime", "timestamp": now},
        "SignCertificate": lambda: {
            "csr": "-----BEGIN CERTIFICATE REQUEST-----\nMIIB\n-----END CERTIFICATE REQUEST-----",
            "certificateType": "ChargingStationCertificate",
        },
        "Get15118EVCertificate": lambda: {
            "iso15118SchemaVersion": "urn:iso:15118:2:2013:MsgDef",
            "action": "Install",
            "exiRequest": "AAAA",
        },
        "GetCertificateStatus": lambda: {
            "ocspRequestData": {
                "hashAlgorithm": "SHA256",
                "issuerNameHash": "ab",
                "issuerKeyHash": "cd",
                "serialNumber": "01",
                "responderURL": "http://127.0.0.1/ocsp",
            }
        },
        "NotifyEvent": lambda: {
            "generatedAt": now,
            "seqNo": rng.randint(0, 3),
            "eventData": [
                {
                    "eventId": rng.randint(0, 5),
                    "timestamp": now,
                    "trigger": "Delta",
                    "actualValue": rng.choice(["true", "Faulted", ""]),
                    "eventNotificationType": "HardWiredNotification",
                    "component": {"name": rng.choice(["Connector", "EVSE", "ChargingStation"])},
                    "variable": {"name": rng.choice(["Problem", "AvailabilityState"])},
                }
            ],
        },
        "NotifyMonitoringReport": lambda: {
            "requestId": rng.randint(0, 2),
            "seqNo": 0,
            "generatedAt": now,
        },
        "NotifyCustomerInformation": lambda: {
            "data": "x",
            "seqNo": 0,
            "generatedAt": now,
            "requestId": 1,
        },
        "NotifyDisplayMessages": lambda: {"requestId": 1},
        "DataTransfer": lambda: {"vendorId": "fuzz", "messageId": "m", "data": "x"},
    }
    return makers[action]()


ACTIONS_2X = (
    "BootNotification",
    "Heartbeat",
    "StatusNotification",
    "Authorize",
    "TransactionEvent",
    "MeterValues",
    "NotifyReport",
    "NotifyEVChargingNeeds",
    "NotifyEVChargingSchedule",
    "NotifyChargingLimit",
    "ClearedChargingLimit",
    "ReportChargingProfiles",
    "ReservationStatusUpdate",
    "FirmwareStatusNotification",
    "PublishFirmwareStatusNotification",
    "LogStatusNotification",
    "SecurityEventNotification",
    "SignCertificate",
    "Get15118EVCertificate",
    "GetCertificateStatus",
    "NotifyEvent",
    "NotifyMonitoringReport",
    "NotifyCustomerInformation",
    "NotifyDisplayMessages",
    "DataTransfer",
)


@dataclass(frozen=True)
class FuzzVersion:
    """What the fuzzer speaks in one OCPP version."""

    subprotocol: str
    actions: tuple[str, ...]
    template: Callable[[str, random.Random], Payload]
    # A meter message with a field the non-finite literal replaces (``{literal}``).
    non_finite: str


VERSIONS: dict[str, FuzzVersion] = {
    "1.6": FuzzVersion(
        "ocpp1.6",
        ACTIONS_16,
        template_16,
        '{{"connectorId": {literal}, "meterValue": []}}',
    ),
    "2.0.1": FuzzVersion(
        "ocpp2.0.1",
        ACTIONS_2X,
        template_2x,
        '{{"evseId": {literal}, "meterValue": []}}',
    ),
    "2.1": FuzzVersion(
        "ocpp2.1",
        ACTIONS_2X,
        template_2x,
        '{{"evseId": {literal}, "meterValue": []}}',
    ),
}
