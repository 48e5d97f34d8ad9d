"""The 2.x device model: variables by component, report reassembly, and capabilities from it.

A variable is named in the model's configuration (``Charger.configuration``, the
``get_configuration`` / ``set_configuration`` actions) by one string key::

    Component[componentInstance]@evseId/connectorId.Variable[variableInstance]

where the bracketed instances and the ``@`` EVSE part are present only when the variable has them:
``SampledDataCtrlr.TxUpdatedInterval``, ``EVSE@1.Power``, ``Connector@1/1.ConnectorType``,
``DeviceDataCtrlr.ItemsPerMessage[GetVariables]``. The few 1.6 keys users know by heart are
accepted as aliases (:data:`LEGACY_KEYS`). Only the ``Actual`` attribute is read and written.

:class:`ReportAssembler` puts a report's NotifyReport pages (``seqNo``, ``tbc``) back together;
:func:`capabilities_from_device_model` derives the version-agnostic
:class:`~...model.Capabilities` (see the module's table of keys in :data:`KEYS`).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from custom_components.ocpp_ems.core.model import (
    Capabilities,
    ChargingRateUnit,
    plausible_connector_count,
)
from custom_components.ocpp_ems.core.protocol import common
from custom_components.ocpp_ems.core.protocol.common import csv, int_or_none, names_a_secret

_LOGGER = logging.getLogger(__name__)

_KEY = re.compile(
    r"^(?P<component>[^.\[\]@]+)(?:\[(?P<component_instance>[^\]]+)\])?"
    r"(?:@(?P<evse>\d+)(?:/(?P<connector>\d+))?)?"
    r"\.(?P<variable>[^\[\]]+)(?:\[(?P<variable_instance>[^\]]+)\])?$"
)


@dataclass(frozen=True, slots=True, kw_only=True)
class VariableId:
    """One variable of one component (of one EVSE / connector, where it has them)."""

    component: str
    variable: str
    component_instance: str | None = None
    variable_instance: str | None = None
    evse: int | None = None
    connector: int | None = None

    @property
    def key(self) -> str:
        """The variable's configuration key (see the module docstring)."""
        text = self.component
        if self.component_instance is not None:
            text += f"[{self.component_instance}]"
        if self.evse is not None:
            text += f"@{self.evse}"
            if self.connector is not None:
                text += f"/{self.connector}"
        text += f".{self.variable}"
        if self.variable_instance is not None:
            text += f"[{self.variable_instance}]"
        return text

    @property
    def secret(self) -> bool:
        """Whether the value is a secret: never stored in the model nor logged."""
        return names_a_secret(self.variable)

    @classmethod
    def parse(cls, key: str) -> VariableId | None:
        """The variable a configuration key names (or a 1.6 alias); None when it names none."""
        key = LEGACY_KEYS.get(key, key)
        match = _KEY.match(key.strip())
        if match is None:
            return None
        evse, connector = match["evse"], match["connector"]
        return cls(
            component=match["component"],
            variable=match["variable"],
            component_instance=match["component_instance"],
            variable_instance=match["variable_instance"],
            evse=None if evse is None else int(evse),
            connector=None if connector is None else int(connector),
        )

    @classmethod
    def from_payload(cls, component: Mapping[str, Any], variable: Mapping[str, Any]) -> VariableId:
        """From a ComponentType and a VariableType as on the wire."""
        evse = component.get("evse") or {}
        return cls(
            component=str(component["name"]),
            variable=str(variable["name"]),
            component_instance=component.get("instance"),
            variable_instance=variable.get("instance"),
            evse=evse.get("id"),
            connector=evse.get("connectorId") if evse else None,
        )

    def payload(self) -> dict[str, Any]:
        """``{"component": ComponentType, "variable": VariableType}`` as on the wire."""
        component: dict[str, Any] = {"name": self.component}
        if self.component_instance is not None:
            component["instance"] = self.component_instance
        if self.evse is not None:
            component["evse"] = {"id": self.evse}
            if self.connector is not None:
                component["evse"]["connectorId"] = self.connector
        variable: dict[str, Any] = {"name": self.variable}
        if self.variable_instance is not None:
            variable["instance"] = self.variable_instance
        return {"component": component, "variable": variable}


def var(
    component: str,
    variable: str,
    instance: str | None = None,
    *,
    evse: int | None = None,
    connector: int | None = None,
) -> VariableId:
    """A :class:`VariableId` (``instance``: the variable's)."""
    return VariableId(
        component=component,
        variable=variable,
        variable_instance=instance,
        evse=evse,
        connector=connector,
    )


# --- the variables this integration reads or writes ------------------------------------------------
SECURITY_PROFILE = var("SecurityCtrlr", "SecurityProfile")
BASIC_AUTH_PASSWORD = var("SecurityCtrlr", "BasicAuthPassword")
HEARTBEAT_INTERVAL = var("OCPPCommCtrlr", "HeartbeatInterval")
NETWORK_CONFIGURATION_PRIORITY = var("OCPPCommCtrlr", "NetworkConfigurationPriority")
TX_UPDATED_INTERVAL = var("SampledDataCtrlr", "TxUpdatedInterval")
TX_UPDATED_MEASURANDS = var("SampledDataCtrlr", "TxUpdatedMeasurands")
ALIGNED_MEASURANDS = var("AlignedDataCtrlr", "Measurands")
SMART_CHARGING_ENABLED = var("SmartChargingCtrlr", "Enabled")

# The 1.6 keys users know, as 2.x variables (same meaning, so the same automations keep working).
LEGACY_KEYS: dict[str, str] = {
    "HeartbeatInterval": HEARTBEAT_INTERVAL.key,
    "MeterValueSampleInterval": TX_UPDATED_INTERVAL.key,
    "MeterValuesSampledData": TX_UPDATED_MEASURANDS.key,
    "ClockAlignedDataInterval": "AlignedDataCtrlr.Interval",
    "MeterValuesAlignedData": ALIGNED_MEASURANDS.key,
    "ConnectionTimeOut": "TxCtrlr.EVConnectionTimeOut",
    "LocalAuthListEnabled": "LocalAuthListCtrlr.Enabled",
    "AuthorizeRemoteTxRequests": "AuthCtrlr.AuthorizeRemoteStart",
}

# Capability <- device-model variable (documentation, and what the fallback read asks for).
KEYS: dict[str, tuple[VariableId, ...]] = {
    "smart charging (feature)": (
        var("SmartChargingCtrlr", "Available"),
        SMART_CHARGING_ENABLED,
    ),
    "rate units": (var("SmartChargingCtrlr", "RateUnit"),),
    "max stack level": (var("SmartChargingCtrlr", "ProfileStackLevel"),),
    "periods per schedule": (var("SmartChargingCtrlr", "PeriodsPerSchedule"),),
    "profiles installed (maxLimit)": (
        var("SmartChargingCtrlr", "Entries", "ChargingProfiles"),
        var("SmartChargingCtrlr", "Entries"),
    ),
    "3 -> 1 phase switching (numberPhases)": (var("SmartChargingCtrlr", "Phases3to1"),),
    "phase selection (phaseToUse)": (var("SmartChargingCtrlr", "ACPhaseSwitchingSupported"),),
    "supply phases": (var("ChargingStation", "SupplyPhases"),),
    "dynamic profiles (2.1)": (var("SmartChargingCtrlr", "SupportsFeature", "DynamicProfiles"),),
    "local list (feature)": (
        var("LocalAuthListCtrlr", "Available"),
        var("LocalAuthListCtrlr", "Enabled"),
    ),
    "local list entries (maxLimit)": (var("LocalAuthListCtrlr", "Entries"),),
    "local list items per message": (var("LocalAuthListCtrlr", "ItemsPerMessage"),),
    "reservations (feature)": (
        var("ReservationCtrlr", "Available"),
        var("ReservationCtrlr", "Enabled"),
    ),
    "meter values": (
        TX_UPDATED_INTERVAL,
        TX_UPDATED_MEASURANDS,
        ALIGNED_MEASURANDS,
        var("AlignedDataCtrlr", "Interval"),
    ),
    "items per GetVariables": (var("DeviceDataCtrlr", "ItemsPerMessage", "GetVariables"),),
    "Basic auth": (SECURITY_PROFILE,),
}


@dataclass(frozen=True, kw_only=True)
class VariableInfo:
    """What is known of one variable: its Actual value and characteristics (None: not said)."""

    value: str | None = None
    mutability: str | None = None  # ReadOnly / WriteOnly / ReadWrite
    data_type: str | None = None
    values_list: tuple[str, ...] | None = None
    max_limit: float | None = None
    max_elements: int | None = None

    @property
    def readonly(self) -> bool:
        return self.mutability == "ReadOnly"


def _info_from_report(entry: Mapping[str, Any]) -> VariableInfo:
    attributes = entry.get("variableAttribute") or []
    actual: Mapping[str, Any] = next(
        (a for a in attributes if a.get("type", "Actual") == "Actual"), {}
    )
    characteristics = entry.get("variableCharacteristics") or {}
    values_list = characteristics.get("valuesList")
    max_limit = characteristics.get("maxLimit")
    return VariableInfo(
        value=actual.get("value"),
        mutability=actual.get("mutability", "ReadWrite" if actual else None),
        data_type=characteristics.get("dataType"),
        values_list=None if values_list is None else tuple(csv(values_list)),
        max_limit=None if max_limit is None else float(max_limit),
        max_elements=characteristics.get("maxElements"),
    )


@dataclass
class DeviceModel:
    """What a station reported of its device model (variables by :class:`VariableId`)."""

    variables: dict[VariableId, VariableInfo] = field(default_factory=dict)

    # --- building ----------------------------------------------------------------------------------
    @classmethod
    def from_report(cls, report_data: Iterable[Mapping[str, Any]]) -> DeviceModel:
        """From NotifyReport ``reportData`` entries (all pages of one report)."""
        model = cls()
        for entry in report_data:
            variable_id = VariableId.from_payload(entry["component"], entry["variable"])
            model.variables[variable_id] = _info_from_report(entry)
        return model

    @classmethod
    def from_configuration(cls, configuration: Mapping[str, str | None]) -> DeviceModel:
        """Values only, from the charger's stored configuration (keys that name no variable, such
        as a 1.6 configuration of a charger now speaking 2.x, are left out)."""
        model = cls()
        for key, value in configuration.items():
            variable_id = None if key in LEGACY_KEYS else VariableId.parse(key)
            if variable_id is not None:
                model.variables[variable_id] = VariableInfo(value=value)
        return model

    def set_value(self, variable_id: VariableId, value: str | None) -> None:
        """A value read or written (characteristics known so far are kept)."""
        known = self.variables.get(variable_id, VariableInfo())
        self.variables[variable_id] = replace(known, value=value)

    # --- reading -----------------------------------------------------------------------------------
    def __bool__(self) -> bool:
        return bool(self.variables)

    def info(self, variable_id: VariableId) -> VariableInfo | None:
        return self.variables.get(variable_id)

    def value(self, variable_id: VariableId) -> str | None:
        info = self.variables.get(variable_id)
        return None if info is None else info.value

    def flag(self, variable_id: VariableId) -> bool | None:
        """A boolean variable (None: absent or not a boolean)."""
        value = (self.value(variable_id) or "").strip().lower()
        return {"true": True, "1": True, "false": False, "0": False}.get(value)

    def integer(self, variable_id: VariableId) -> int | None:
        return int_or_none(self.value(variable_id))

    def has_component(self, name: str) -> bool:
        return any(variable_id.component == name for variable_id in self.variables)

    def configuration(self) -> dict[str, str | None]:
        """The values by configuration key, secrets left out (as ``Charger.configuration``)."""
        return {
            variable_id.key: None if variable_id.secret else info.value
            for variable_id, info in self.variables.items()
        }

    def evses(self) -> dict[int, tuple[int, ...]]:
        """EVSE id (> 0) -> its connector ids, from the EVSE and Connector components."""
        found: dict[int, set[int]] = {}
        for variable_id in self.variables:
            if variable_id.component in ("EVSE", "Connector") and variable_id.evse:
                connectors = found.setdefault(variable_id.evse, set())
                if variable_id.connector:
                    connectors.add(variable_id.connector)
        return {evse: tuple(sorted(connectors)) for evse, connectors in sorted(found.items())}

    def connector_of(self, evse_id: int) -> int:
        """The connector to address on an EVSE (a household charger has one per EVSE): the
        lowest the model reports, else 1."""
        connectors = self.evses().get(evse_id)
        return connectors[0] if connectors else 1

    def supply_phases(self, evse_id: int | None = None) -> int | None:
        """Phases the EVSE (else the station) is connected to (0: DC; None: not said)."""
        if evse_id:
            phases = self.integer(var("EVSE", "SupplyPhases", evse=evse_id))
            if phases is not None:
                return phases
        return self.integer(var("ChargingStation", "SupplyPhases"))

    def phase_selection(self, evse_id: int) -> bool:
        """Whether the EVSE can choose the phase of 1-phase charging (``phaseToUse``)."""
        return bool(
            self.flag(var("EVSE", "ACPhaseSwitchingSupported", evse=evse_id))
            or self.flag(var("SmartChargingCtrlr", "ACPhaseSwitchingSupported"))
        )

    def rate_units(self) -> frozenset[ChargingRateUnit]:
        """``SmartChargingCtrlr.RateUnit`` ("A", "W" or both; empty: not said)."""
        units: set[ChargingRateUnit] = set()
        for unit in csv(self.value(var("SmartChargingCtrlr", "RateUnit"))):
            if unit.upper() in ("A", "CURRENT"):
                units.add(ChargingRateUnit.AMPERE)
            elif unit.upper() in ("W", "POWER"):
                units.add(ChargingRateUnit.WATT)
        return frozenset(units)

    def dynamic_profiles(self) -> bool:
        """2.1: whether the station takes ``Dynamic`` profiles (UpdateDynamicSchedule)."""
        return bool(self.flag(var("SmartChargingCtrlr", "SupportsFeature", "DynamicProfiles")))

    def items_per_message(self, action: str) -> int | None:
        """``DeviceDataCtrlr.ItemsPerMessage[action]`` (GetVariables, SetVariables ...); firmware
        that reports it without the instance means every action."""
        return self.integer(var("DeviceDataCtrlr", "ItemsPerMessage", action)) or self.integer(
            var("DeviceDataCtrlr", "ItemsPerMessage")
        )

    def controller(self, name: str) -> bool:
        """Whether a controller is there and usable: reported, and neither ``Available`` nor
        ``Enabled`` false."""
        return (
            self.has_component(name)
            and self.flag(var(name, "Available")) is not False
            and self.flag(var(name, "Enabled")) is not False
        )

    def max_limit(self, *candidates: VariableId) -> int | None:
        """The first ``maxLimit`` among ``candidates`` (a list's capacity, e.g. ``Entries``)."""
        for variable_id in candidates:
            info = self.variables.get(variable_id)
            if info is not None and info.max_limit is not None:
                return int(info.max_limit)
        return None


def capabilities_from_device_model(model: DeviceModel) -> Capabilities:
    """The version-agnostic capabilities (defaults where the model says nothing).

    TriggerMessage, UpdateFirmware and GetLog are part of every 2.x station; smart charging, the
    local list and reservations need their controller (see :meth:`DeviceModel.controller`)."""
    defaults = Capabilities()
    features = {common.CORE, common.FIRMWARE, common.REMOTE_TRIGGER}
    for controller, feature in (
        ("SmartChargingCtrlr", common.SMART_CHARGING),
        ("LocalAuthListCtrlr", common.LOCAL_AUTH),
        ("ReservationCtrlr", common.RESERVATION),
    ):
        if model.controller(controller):
            features.add(feature)
    stack_level = model.integer(var("SmartChargingCtrlr", "ProfileStackLevel"))
    periods = model.integer(var("SmartChargingCtrlr", "PeriodsPerSchedule"))
    return Capabilities(
        supported_profiles=frozenset(features),
        max_stack_level=defaults.max_stack_level if stack_level is None else stack_level,
        rate_units=model.rate_units() or defaults.rate_units,
        max_schedule_periods=periods or defaults.max_schedule_periods,
        max_profiles_installed=model.max_limit(*KEYS["profiles installed (maxLimit)"]),
        phase_switching=bool(model.flag(var("SmartChargingCtrlr", "Phases3to1"))),
        local_auth_list_max=model.max_limit(var("LocalAuthListCtrlr", "Entries")),
        number_of_connectors=plausible_connector_count(len(model.evses())),
    )


# A station's full inventory is hundreds of variables (some send one per page); a report beyond
# this many entries (an empty page counts as one) is cut and used as far as it goes: a station
# could otherwise stream pages for ever, each kept in memory and in the charger's configuration.
MAX_REPORT_ENTRIES = 5000


@dataclass
class ReportAssembler:
    """The NotifyReport pages of one report (one ``requestId``), put back together.

    Pages count by ``seqNo`` (a repeated page replaces itself); the report is complete once the
    last page (``tbc`` false) and every page before it arrived, and cut (no more pages taken)
    when a page would take it beyond :data:`MAX_REPORT_ENTRIES`."""

    request_id: int
    pages: dict[int, list[Mapping[str, Any]]] = field(default_factory=dict)
    last_seq_no: int | None = None
    cut: bool = False
    entries: int = 0  # counted as for MAX_REPORT_ENTRIES

    def add(self, payload: Mapping[str, Any]) -> bool:
        """One page of this report; whether the report is finished (complete or cut) now."""
        if self.cut:
            return True
        seq_no = int(payload["seqNo"])
        page = list(payload.get("reportData") or [])
        entries = self.entries - _cost(self.pages.get(seq_no)) + _cost(page)
        if entries > MAX_REPORT_ENTRIES:
            self.cut = True
            return True
        self.entries = entries
        self.pages[seq_no] = page
        if not payload.get("tbc", False):
            self.last_seq_no = seq_no
        return self.finished

    @property
    def finished(self) -> bool:
        return self.complete or self.cut

    @property
    def missing(self) -> list[tuple[int, int]]:
        """Pages not received (below the highest seen, or the last page), as inclusive ranges:
        a station may number its pages up to 2**53 (the schema sets no bound), so they are never
        listed one by one."""
        # The end is always a page received (the last one, or the highest so far): the gaps lie
        # below the pages.
        end = self.last_seq_no if self.last_seq_no is not None else max(self.pages, default=-1)
        gaps: list[tuple[int, int]] = []
        expected = 0
        for seq_no in sorted(n for n in self.pages if 0 <= n <= end):
            if seq_no > expected:
                gaps.append((expected, seq_no - 1))
            expected = seq_no + 1
        return gaps

    @property
    def complete(self) -> bool:
        return self.last_seq_no is not None and not self.missing

    def report_data(self) -> list[Mapping[str, Any]]:
        """Every entry received, in page order."""
        return [entry for _, page in sorted(self.pages.items()) for entry in page]


def _cost(page: list[Mapping[str, Any]] | None) -> int:
    """A page's share of :data:`MAX_REPORT_ENTRIES` (None: not received)."""
    return 0 if page is None else max(1, len(page))
