"""The 2.x station's device model (OCPP 2.0.1 part 2, appendix 3 names): components, variables,
their Actual values, mutability and characteristics; GetVariables / SetVariables answers and the
entries of a NotifyReport.

One EVSE (1) with one type 2 connector (1), three phases, 32 A. Values that move (availability,
profile and local list counts, the clock, the EVSE's power) are read from the station when asked.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from .model import CONNECTOR, HARDWARE_MAX_A, MODEL, PHASES, VENDOR, VOLTAGE

# Measurands the station can sample (OCPP 2.x has no Temperature measurand).
MEASURANDS = (
    "Energy.Active.Import.Register",
    "Power.Active.Import",
    "Current.Import",
    "Current.Offered",
    "Voltage",
    "SoC",
)
BASIC_AUTH_PASSWORD_LENGTH = (16, 40)  # passwordString
EVSE_ID = 1
# Network configuration slots (B09): 0 is the URL it was started with.
NETWORK_SLOTS = "0,1,2,3"


@dataclass
class Variable:
    """One variable of one component (Actual attribute only, as most stations)."""

    component: str
    name: str
    value: str | None
    data_type: str = "string"
    mutability: str = "ReadOnly"
    component_instance: str | None = None
    instance: str | None = None
    evse: int | None = None
    connector: int | None = None
    unit: str | None = None
    values_list: str | None = None
    min_limit: float | None = None
    max_limit: float | None = None
    # Values that move (read from the station when asked).
    live: Callable[[], str] | None = field(default=None, repr=False, compare=False)

    @property
    def actual(self) -> str | None:
        return self.live() if self.live is not None else self.value

    def component_payload(self) -> dict[str, Any]:
        component: dict[str, Any] = {"name": self.component}
        if self.component_instance is not None:
            component["instance"] = self.component_instance
        if self.evse is not None:
            component["evse"] = {"id": self.evse}
            if self.connector is not None:
                component["evse"]["connectorId"] = self.connector
        return component

    def variable_payload(self) -> dict[str, Any]:
        variable: dict[str, Any] = {"name": self.name}
        if self.instance is not None:
            variable["instance"] = self.instance
        return variable

    def report_entry(self) -> dict[str, Any]:
        """A ``ReportDataType`` (camelCase, as on the wire)."""
        attribute: dict[str, Any] = {
            "type": "Actual",
            "mutability": self.mutability,
            "persistent": True,
            "constant": self.mutability == "ReadOnly" and self.live is None,
        }
        if self.mutability != "WriteOnly" and self.actual is not None:
            attribute["value"] = self.actual
        characteristics: dict[str, Any] = {"dataType": self.data_type, "supportsMonitoring": False}
        for key, given in (
            ("unit", self.unit),
            ("valuesList", self.values_list),
            ("minLimit", self.min_limit),
            ("maxLimit", self.max_limit),
        ):
            if given is not None:
                characteristics[key] = given
        return {
            "component": self.component_payload(),
            "variable": self.variable_payload(),
            "variableAttribute": [attribute],
            "variableCharacteristics": characteristics,
        }

    def check(self, value: str) -> bool:
        """Whether ``value`` is one this variable takes (its data type and limits)."""
        try:
            if self.data_type == "boolean":
                return value in ("true", "false")
            if self.data_type in ("integer", "decimal"):
                number = int(value) if self.data_type == "integer" else float(value)
                if not math.isfinite(number):
                    return False
                return (self.min_limit is None or number >= self.min_limit) and (
                    self.max_limit is None or number <= self.max_limit
                )
        except ValueError:
            return False
        allowed = [v.strip() for v in (self.values_list or "").split(",") if v.strip()]
        if self.data_type == "OptionList":
            return value in allowed
        if self.data_type in ("MemberList", "SequenceList"):
            items = [v.strip() for v in value.split(",") if v.strip()]
            return all(item in allowed for item in items) and len(set(items)) == len(items)
        return self.max_limit is None or len(value) <= self.max_limit


def _matches(variable: Variable, component: dict[str, Any]) -> bool:
    evse = component.get("evse") or {}
    return (
        variable.component == component["name"]
        and variable.component_instance == component.get("instance")
        and variable.evse == evse.get("id")
        and variable.connector == (evse.get("connector_id") if evse else None)
    )


class DeviceModel:
    """The variables of the station, looked up as the 2.x messages name them."""

    def __init__(self, variables: Iterable[Variable]) -> None:
        self.variables = list(variables)

    def find(
        self, component: dict[str, Any], variable: dict[str, Any]
    ) -> tuple[Variable | None, str]:
        """The variable a request names, else why not ("UnknownComponent" / "UnknownVariable").

        ``component`` and ``variable`` are snake_case, as the ocpp library hands them over."""
        of_component = [v for v in self.variables if _matches(v, component)]
        if not of_component:
            return None, "UnknownComponent"
        for candidate in of_component:
            if candidate.name == variable["name"] and candidate.instance == variable.get(
                "instance"
            ):
                return candidate, "Accepted"
        return None, "UnknownVariable"

    def get(self, component: str, name: str, instance: str | None = None) -> Variable:
        for variable in self.variables:
            if (
                variable.component == component
                and variable.name == name
                and variable.instance == instance
            ):
                return variable
        raise KeyError(f"{component}.{name}[{instance}]")

    def value(self, component: str, name: str, instance: str | None = None) -> str:
        return self.get(component, name, instance).actual or ""

    def set(self, component: str, name: str, value: str, instance: str | None = None) -> None:
        self.get(component, name, instance).value = value

    def members(self, component: str, name: str) -> list[str]:
        return [v.strip() for v in self.value(component, name).split(",") if v.strip()]


def build_device_model(
    *,
    charger_id: str,
    version: str,
    interval_s: float,
    live: dict[str, Callable[[], str]],
) -> DeviceModel:
    """The station's variables. ``live`` gives the moving values by key: ``availability``,
    ``profiles``, ``local_list``, ``power``, ``clock``."""
    interval = str(max(1, round(interval_s)))
    power_max = HARDWARE_MAX_A * VOLTAGE * PHASES
    measurands = ",".join(MEASURANDS)
    status_values = "Available,Occupied,Reserved,Unavailable,Faulted"

    def v(
        component: str, name: str, value: str | None, data_type: str = "string", **kw: Any
    ) -> Variable:
        return Variable(component, name, value, data_type, **kw)

    rw: dict[str, Any] = {"mutability": "ReadWrite"}
    evse: dict[str, Any] = {"evse": EVSE_ID}
    connector: dict[str, Any] = {"evse": EVSE_ID, "connector": CONNECTOR}
    variables = [
        # --- the station, its EVSE and connector
        v("ChargingStation", "Available", "true", "boolean"),
        v(
            "ChargingStation",
            "AvailabilityState",
            None,
            "OptionList",
            values_list=status_values,
            live=live["availability"],
        ),
        v("ChargingStation", "SupplyPhases", str(PHASES), "integer"),
        v("ChargingStation", "Model", MODEL),
        v("ChargingStation", "VendorName", VENDOR),
        v("EVSE", "Available", "true", "boolean", **evse),
        v(
            "EVSE",
            "AvailabilityState",
            None,
            "OptionList",
            values_list=status_values,
            live=live["availability"],
            **evse,
        ),
        v(
            "EVSE",
            "Power",
            None,
            "decimal",
            unit="W",
            max_limit=power_max,
            live=live["power"],
            **evse,
        ),
        v("EVSE", "SupplyPhases", str(PHASES), "integer", **evse),
        v("EVSE", "ISO15118EvseId", f"PT*SIM*E{EVSE_ID}", **evse),
        v("Connector", "Available", "true", "boolean", **connector),
        v(
            "Connector",
            "AvailabilityState",
            None,
            "OptionList",
            values_list=status_values,
            live=live["availability"],
            **connector,
        ),
        v("Connector", "ConnectorType", "cType2", **connector),
        v("Connector", "SupplyPhases", str(PHASES), "integer", **connector),
        # --- controllers
        v("DeviceDataCtrlr", "ItemsPerMessage", "20", "integer", instance="GetReport"),
        v("DeviceDataCtrlr", "ItemsPerMessage", "20", "integer", instance="GetVariables"),
        v("DeviceDataCtrlr", "ItemsPerMessage", "20", "integer", instance="SetVariables"),
        v("DeviceDataCtrlr", "BytesPerMessage", "65000", "integer", instance="GetReport"),
        v("DeviceDataCtrlr", "BytesPerMessage", "65000", "integer", instance="GetVariables"),
        v("DeviceDataCtrlr", "BytesPerMessage", "65000", "integer", instance="SetVariables"),
        v("ClockCtrlr", "DateTime", None, "dateTime", live=live["clock"]),
        v(
            "ClockCtrlr",
            "TimeSource",
            "Heartbeat",
            "SequenceList",
            values_list="Heartbeat,NTP",
            **rw,
        ),
        v("OCPPCommCtrlr", "HeartbeatInterval", "300", "integer", unit="s", min_limit=1, **rw),
        v("OCPPCommCtrlr", "MessageTimeout", "30", "integer", instance="Default", unit="s", **rw),
        v("OCPPCommCtrlr", "MessageAttempts", "3", "integer", instance="TransactionEvent", **rw),
        v(
            "OCPPCommCtrlr",
            "MessageAttemptInterval",
            "60",
            "integer",
            instance="TransactionEvent",
            unit="s",
            **rw,
        ),
        v(
            "OCPPCommCtrlr",
            "NetworkConfigurationPriority",
            "0",
            "SequenceList",
            values_list=NETWORK_SLOTS,
            **rw,
        ),
        v("OCPPCommCtrlr", "NetworkProfileConnectionAttempts", "3", "integer", **rw),
        v("OCPPCommCtrlr", "OfflineThreshold", "60", "integer", unit="s", **rw),
        v("OCPPCommCtrlr", "ResetRetries", "2", "integer", **rw),
        v("OCPPCommCtrlr", "UnlockOnEVSideDisconnect", "true", "boolean", **rw),
        v("OCPPCommCtrlr", "WebSocketPingInterval", "0", "integer", unit="s", **rw),
        v(
            "OCPPCommCtrlr",
            "FileTransferProtocols",
            "HTTPS,FTP",
            "MemberList",
            values_list="HTTPS,HTTP,FTP,FTPS",
        ),
        v("SecurityCtrlr", "SecurityProfile", "0", "integer", min_limit=0, max_limit=3, **rw),
        v(
            "SecurityCtrlr",
            "BasicAuthPassword",
            None,
            "string",
            mutability="WriteOnly",
            max_limit=BASIC_AUTH_PASSWORD_LENGTH[1],
        ),
        v("SecurityCtrlr", "Identity", charger_id, max_limit=48),
        v("SecurityCtrlr", "OrganizationName", VENDOR, **rw),
        v("SecurityCtrlr", "CertificateEntries", "0", "integer"),
        v("AuthCtrlr", "Enabled", "true", "boolean", **rw),
        v("AuthCtrlr", "AuthorizeRemoteStart", "false", "boolean", **rw),
        v("AuthCtrlr", "LocalAuthorizeOffline", "true", "boolean", **rw),
        v("AuthCtrlr", "LocalPreAuthorize", "false", "boolean", **rw),
        v("AuthCtrlr", "OfflineTxForUnknownIdEnabled", "false", "boolean", **rw),
        v("AuthCacheCtrlr", "Enabled", "true", "boolean", **rw),
        v("AuthCacheCtrlr", "Available", "true", "boolean"),
        v("AuthCacheCtrlr", "LifeTime", "86400", "integer", unit="s", **rw),
        v("LocalAuthListCtrlr", "Enabled", "true", "boolean", **rw),
        v("LocalAuthListCtrlr", "Available", "true", "boolean"),
        v("LocalAuthListCtrlr", "Entries", None, "integer", max_limit=100, live=live["local_list"]),
        v("LocalAuthListCtrlr", "ItemsPerMessage", "50", "integer"),
        v("LocalAuthListCtrlr", "BytesPerMessage", "65000", "integer"),
        v("ReservationCtrlr", "Enabled", "true", "boolean", **rw),
        v("ReservationCtrlr", "Available", "true", "boolean"),
        v("ReservationCtrlr", "NonEvseSpecific", "true", "boolean"),
        v("SampledDataCtrlr", "Enabled", "true", "boolean", **rw),
        v("SampledDataCtrlr", "Available", "true", "boolean"),
        v(
            "SampledDataCtrlr",
            "TxUpdatedInterval",
            interval,
            "integer",
            unit="s",
            min_limit=0,
            **rw,
        ),
        v(
            "SampledDataCtrlr",
            "TxUpdatedMeasurands",
            measurands,
            "MemberList",
            values_list=measurands,
            **rw,
        ),
        v(
            "SampledDataCtrlr",
            "TxStartedMeasurands",
            "Energy.Active.Import.Register",
            "MemberList",
            values_list=measurands,
            **rw,
        ),
        v(
            "SampledDataCtrlr",
            "TxEndedMeasurands",
            "Energy.Active.Import.Register",
            "MemberList",
            values_list=measurands,
            **rw,
        ),
        v("SampledDataCtrlr", "TxEndedInterval", "0", "integer", unit="s", **rw),
        v("SampledDataCtrlr", "RegisterValuesWithoutPhases", "true", "boolean"),
        v("AlignedDataCtrlr", "Enabled", "true", "boolean", **rw),
        v("AlignedDataCtrlr", "Available", "true", "boolean"),
        v("AlignedDataCtrlr", "Interval", interval, "integer", unit="s", min_limit=0, **rw),
        v(
            "AlignedDataCtrlr",
            "Measurands",
            ",".join(m for m in MEASURANDS if m != "SoC"),
            "MemberList",
            values_list=measurands,
            **rw,
        ),
        v("AlignedDataCtrlr", "TxEndedInterval", "0", "integer", unit="s", **rw),
        v(
            "AlignedDataCtrlr",
            "TxEndedMeasurands",
            "Energy.Active.Import.Register",
            "MemberList",
            values_list=measurands,
            **rw,
        ),
        v("SmartChargingCtrlr", "Enabled", "true", "boolean", **rw),
        v("SmartChargingCtrlr", "Available", "true", "boolean"),
        v("SmartChargingCtrlr", "ACPhaseSwitchingSupported", "false", "boolean"),
        v("SmartChargingCtrlr", "ProfileStackLevel", "8", "integer"),
        v("SmartChargingCtrlr", "RateUnit", "A,W", "MemberList", values_list="A,W"),
        v("SmartChargingCtrlr", "PeriodsPerSchedule", "24", "integer"),
        v(
            "SmartChargingCtrlr",
            "Entries",
            None,
            "integer",
            instance="ChargingProfiles",
            max_limit=10,
            live=live["profiles"],
        ),
        v("SmartChargingCtrlr", "Phases3to1", "false", "boolean"),
        v("SmartChargingCtrlr", "ExternalControlSignalsEnabled", "false", "boolean"),
        v("SmartChargingCtrlr", "LimitChangeSignificance", "1.0", "decimal", unit="Percent", **rw),
        v("SmartChargingCtrlr", "NotifyChargingLimitWithSchedules", "false", "boolean", **rw),
        v("TxCtrlr", "EVConnectionTimeOut", "120", "integer", unit="s", **rw),
        v("TxCtrlr", "StopTxOnEVSideDisconnect", "true", "boolean"),
        v("TxCtrlr", "StopTxOnInvalidId", "true", "boolean", **rw),
        v("TxCtrlr", "TxBeforeAcceptedEnabled", "false", "boolean"),
        v(
            "TxCtrlr",
            "TxStartPoint",
            "PowerPathClosed",
            "MemberList",
            values_list="ParkingBayOccupancy,EVConnected,Authorized,PowerPathClosed,EnergyTransfer,DataSigned",
            **rw,
        ),
        v(
            "TxCtrlr",
            "TxStopPoint",
            "EVConnected,Authorized",
            "MemberList",
            values_list="ParkingBayOccupancy,EVConnected,Authorized,PowerPathClosed,EnergyTransfer",
            **rw,
        ),
    ]
    if version == "2.1":
        # 2.1 K: the station takes Dynamic profiles (UpdateDynamicSchedule).
        variables.append(
            v(
                "SmartChargingCtrlr",
                "SupportsFeature",
                "true",
                "boolean",
                instance="DynamicProfiles",
            )
        )
    return DeviceModel(variables)
