"""Schema-valid payloads of every message a charger sends, per OCPP version, for the frame fuzzer.

The fuzzer (``fuzz_frames.py``) sends them as they are ("valid" frames) and as the seeds of its
mutations (a field of another type, dropped, added). Every action an adapter handles has one
(``tests/core/test_fuzz_frames.py`` checks them against the routes and the schemas). Values are drawn from small pools (a few
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


def _meter_value_16(rng: random.Random) -> list[Payload]:
    return [{"timestamp": now_iso(), "sampledValue": [_sampled_16(rng) for _ in range(3)]}]


_CSR = "-----BEGIN CERTIFICATE REQUEST-----\nMIIB\n-----END CERTIFICATE REQUEST-----"

_MAKERS_16: dict[str, Callable[[random.Random], Payload]] = {
    "BootNotification": lambda rng: {"chargePointVendor": "Fuzz", "chargePointModel": "F1"},
    "Heartbeat": lambda rng: {},
    "StatusNotification": lambda rng: {
        "connectorId": rng.randint(0, 2),
        "errorCode": "NoError",
        "status": rng.choice(["Available", "Preparing", "Charging", "Faulted"]),
        "timestamp": now_iso(),
    },
    "Authorize": lambda rng: {"idTag": rng.choice(["OK1", "BAD"])},
    "StartTransaction": lambda rng: {
        "connectorId": 1,
        "idTag": "OK1",
        "meterStart": rng.randint(0, 10_000),
        "timestamp": now_iso(),
    },
    "StopTransaction": lambda rng: {
        "transactionId": rng.randint(0, 2**31),
        "meterStop": rng.randint(0, 10_000),
        "timestamp": now_iso(),
        "reason": "Local",
        "transactionData": _meter_value_16(rng),
    },
    "MeterValues": lambda rng: {
        "connectorId": 1,
        "transactionId": 1,
        "meterValue": _meter_value_16(rng),
    },
    "DataTransfer": lambda rng: {"vendorId": "fuzz", "messageId": "m", "data": "x"},
    "FirmwareStatusNotification": lambda rng: {"status": "Idle"},
    "DiagnosticsStatusNotification": lambda rng: {"status": "Idle"},
    # The security extension.
    "SecurityEventNotification": lambda rng: {"type": "SettingSystemTime", "timestamp": now_iso()},
    "LogStatusNotification": lambda rng: {"status": "Idle", "requestId": rng.randint(0, 3)},
    "SignedFirmwareStatusNotification": lambda rng: {"status": "Idle"},
    "SignCertificate": lambda rng: {"csr": _CSR},
}


def template_16(action: str, rng: random.Random) -> Payload:
    """A schema-valid 1.6 payload of ``action`` (charger -> central system)."""
    return _MAKERS_16[action](rng)


ACTIONS_16 = tuple(_MAKERS_16)


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


_MAKERS_2X: dict[str, Callable[[random.Random], Payload]] = {
    "BootNotification": lambda rng: {
        "chargingStation": {"model": "F2", "vendorName": "Fuzz"},
        "reason": "PowerUp",
    },
    "Heartbeat": lambda rng: {},
    "StatusNotification": lambda rng: {
        "timestamp": now_iso(),
        "connectorStatus": rng.choice(["Available", "Occupied", "Unavailable", "Faulted"]),
        "evseId": rng.randint(0, 2),
        "connectorId": rng.randint(0, 2),
    },
    "Authorize": lambda rng: {"idToken": _id_token(rng)},
    "TransactionEvent": lambda rng: _transaction_event(rng),
    "MeterValues": lambda rng: {"evseId": rng.randint(0, 2), "meterValue": _meter_value_2x(rng)},
    "NotifyReport": lambda rng: {
        "requestId": rng.randint(0, 2),
        "generatedAt": now_iso(),
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
    "NotifyEVChargingNeeds": lambda rng: {
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
    "NotifyEVChargingSchedule": lambda rng: {
        "timeBase": now_iso(),
        "chargingSchedule": _schedule(rng),
        "evseId": rng.randint(1, 2),
    },
    "NotifyChargingLimit": lambda rng: {
        "chargingLimit": {"chargingLimitSource": rng.choice(["EMS", "SO", "CSO"])},
        "evseId": rng.randint(0, 2),
        "chargingSchedule": [_schedule(rng)],
    },
    "ClearedChargingLimit": lambda rng: {
        "chargingLimitSource": rng.choice(["EMS", "SO"]),
        "evseId": rng.randint(0, 2),
    },
    "ReportChargingProfiles": lambda rng: {
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
    "ReservationStatusUpdate": lambda rng: {
        "reservationId": rng.randint(0, 3),
        "reservationUpdateStatus": rng.choice(["Expired", "Removed"]),
    },
    "FirmwareStatusNotification": lambda rng: {"status": rng.choice(["Idle", "Installed"])},
    "PublishFirmwareStatusNotification": lambda rng: {"status": "Idle"},
    "LogStatusNotification": lambda rng: {"status": rng.choice(["Idle", "Uploaded"])},
    "SecurityEventNotification": lambda rng: {"type": "SettingSystemTime", "timestamp": now_iso()},
    "SignCertificate": lambda rng: {
        "csr": _CSR,
        "certificateType": "ChargingStationCertificate",
    },
    "Get15118EVCertificate": lambda rng: {
        "iso15118SchemaVersion": "urn:iso:15118:2:2013:MsgDef",
        "action": "Install",
        "exiRequest": "AAAA",
    },
    "GetCertificateStatus": lambda rng: {
        "ocspRequestData": {
            "hashAlgorithm": "SHA256",
            "issuerNameHash": "ab",
            "issuerKeyHash": "cd",
            "serialNumber": "01",
            "responderURL": "http://127.0.0.1/ocsp",
        }
    },
    "NotifyEvent": lambda rng: {
        "generatedAt": now_iso(),
        "seqNo": rng.randint(0, 3),
        "eventData": [
            {
                "eventId": rng.randint(0, 5),
                "timestamp": now_iso(),
                "trigger": "Delta",
                "actualValue": rng.choice(["true", "false", "Faulted", ""]),
                "eventNotificationType": "HardWiredNotification",
                "component": {
                    "name": rng.choice(["Connector", "EVSE", "ChargingStation", "RCD"]),
                    **({"evse": {"id": rng.randint(0, 3)}} if rng.random() < 0.5 else {}),
                },
                "variable": {"name": rng.choice(["Problem", "Tripped", "AvailabilityState"])},
                **({"cleared": rng.random() < 0.5} if rng.random() < 0.3 else {}),
            }
        ],
    },
    "NotifyMonitoringReport": lambda rng: {
        "requestId": rng.randint(0, 2),
        "seqNo": 0,
        "generatedAt": now_iso(),
    },
    "NotifyCustomerInformation": lambda rng: {
        "data": "x",
        "seqNo": 0,
        "generatedAt": now_iso(),
        "requestId": 1,
    },
    "NotifyDisplayMessages": lambda rng: {"requestId": 1},
    "DataTransfer": lambda rng: {"vendorId": "fuzz", "messageId": "m", "data": "x"},
}


def template_2x(action: str, rng: random.Random) -> Payload:
    """A payload of ``action`` valid in OCPP 2.0.1 and 2.1 (station -> CSMS)."""
    return _MAKERS_2X[action](rng)


ACTIONS_2X = tuple(_MAKERS_2X)


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
