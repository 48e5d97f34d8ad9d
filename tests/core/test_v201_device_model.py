"""2.x device model, charging profiles and the helpers shared with 1.6: pure functions, no socket.

Every profile built here is checked against the official 2.0.1 and 2.1 schemas (the ``ocpp``
package's, through our own RPC layer's strict check), as the session would before sending it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from custom_components.ocpp_ems.core.errors import CommandRejectedError
from custom_components.ocpp_ems.core.limits import LimitRules
from custom_components.ocpp_ems.core.model import Capabilities, ChargingRateUnit
from custom_components.ocpp_ems.core.protocol.common import (
    LocalListUpdate,
    expect_status,
    local_list_updates,
)
from custom_components.ocpp_ems.core.protocol.measurands import (
    MeasurandRules,
    negotiate_measurands,
)
from custom_components.ocpp_ems.core.protocol.profiles import composite_schedule
from custom_components.ocpp_ems.core.protocol.v201 import device_model
from custom_components.ocpp_ems.core.protocol.v201.charging_profiles import (
    StationLimits,
    build_limit_profile,
    composite_limit,
    target_evse,
)
from custom_components.ocpp_ems.core.protocol.v201.commands import id_token
from custom_components.ocpp_ems.core.protocol.v201.device_model import (
    LEGACY_KEYS,
    DeviceModel,
    ReportAssembler,
    VariableId,
    VariableInfo,
    capabilities_from_device_model,
    var,
)
from custom_components.ocpp_ems.core.protocol.v201.session import DIALECT_21, DIALECT_201
from custom_components.ocpp_ems.core.protocol.wire_log import redact
from custom_components.ocpp_ems.core.session import LimitRequest
from custom_components.ocpp_ems.core.settings import ChargerSettings

A = ChargingRateUnit.AMPERE
W = ChargingRateUnit.WATT
NOW = datetime(2030, 5, 6, 7, 8, 9, tzinfo=UTC)


def entry(
    component: str,
    variable: str,
    value: str | None,
    *,
    evse: int | None = None,
    connector: int | None = None,
    mutability: str = "ReadWrite",
    variable_instance: str | None = None,
    **characteristics: Any,
) -> dict[str, Any]:
    """One NotifyReport ``reportData`` entry as on the wire."""
    comp: dict[str, Any] = {"name": component}
    if evse is not None:
        comp["evse"] = {"id": evse} if connector is None else {"id": evse, "connectorId": connector}
    attribute: dict[str, Any] = {"type": "Actual", "mutability": mutability}
    if value is not None:
        attribute["value"] = value
    variable_type: dict[str, Any] = {"name": variable}
    if variable_instance is not None:
        variable_type["instance"] = variable_instance
    return {
        "component": comp,
        "variable": variable_type,
        "variableAttribute": [attribute],
        "variableCharacteristics": {
            "dataType": "string",
            "supportsMonitoring": False,
            **characteristics,
        },
    }


STATION = [
    entry("ChargingStation", "SupplyPhases", "3", mutability="ReadOnly"),
    entry("EVSE", "Power", "22000", evse=1, mutability="ReadOnly"),
    entry("EVSE", "SupplyPhases", "1", evse=2, mutability="ReadOnly"),
    entry("EVSE", "ACPhaseSwitchingSupported", "true", evse=2, mutability="ReadOnly"),
    entry("Connector", "ConnectorType", "cType2", evse=1, connector=1),
    entry("Connector", "ConnectorType", "cType2", evse=2, connector=2),
    entry("SmartChargingCtrlr", "Available", "true"),
    entry("SmartChargingCtrlr", "Enabled", "true"),
    entry("SmartChargingCtrlr", "RateUnit", "W", mutability="ReadOnly"),
    entry("SmartChargingCtrlr", "ProfileStackLevel", "3"),
    entry("SmartChargingCtrlr", "PeriodsPerSchedule", "12"),
    entry(
        "SmartChargingCtrlr",
        "Entries",
        "2",
        variable_instance="ChargingProfiles",
        maxLimit=20,
        dataType="integer",
    ),
    entry("SmartChargingCtrlr", "Phases3to1", "true"),
    entry(
        "SmartChargingCtrlr",
        "SupportsFeature",
        "true",
        variable_instance="DynamicProfiles",
        dataType="boolean",
    ),
    entry("LocalAuthListCtrlr", "Enabled", "false"),
    entry("ReservationCtrlr", "Available", "true"),
    entry("SecurityCtrlr", "BasicAuthPassword", None, mutability="WriteOnly"),
    entry(
        "SampledDataCtrlr",
        "TxUpdatedMeasurands",
        "Energy.Active.Import.Register",
        dataType="MemberList",
        valuesList="Energy.Active.Import.Register,Power.Active.Import,Current.Import",
        maxLimit=80,
    ),
    entry("DeviceDataCtrlr", "ItemsPerMessage", "4", variable_instance="GetVariables"),
]


# --- keys ------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "key",
    [
        "SampledDataCtrlr.TxUpdatedInterval",
        "EVSE@1.Power",
        "Connector@1/2.ConnectorType",
        "DeviceDataCtrlr.ItemsPerMessage[GetVariables]",
        "Controller[main.a]@2.Variable[x y]",
    ],
)
def test_key_round_trip(key: str) -> None:
    variable_id = VariableId.parse(key)
    assert variable_id is not None
    assert variable_id.key == key
    wire = variable_id.payload()
    assert VariableId.from_payload(wire["component"], wire["variable"]) == variable_id


def test_key_parsing_edges() -> None:
    assert VariableId.parse("NoDot") is None
    assert VariableId.parse("A@x.B") is None
    parsed = VariableId.parse("Connector@1/2.ConnectorType")
    assert parsed == var("Connector", "ConnectorType", evse=1, connector=2)
    assert parsed is not None
    assert parsed.payload() == {
        "component": {"name": "Connector", "evse": {"id": 1, "connectorId": 2}},
        "variable": {"name": "ConnectorType"},
    }
    # The 1.6 names users know are aliases of 2.x variables.
    assert VariableId.parse("MeterValueSampleInterval") == var(
        "SampledDataCtrlr", "TxUpdatedInterval"
    )
    assert all(VariableId.parse(alias) is not None for alias in LEGACY_KEYS)
    instance = VariableId.parse("Ctrlr[main].Var")
    assert instance is not None
    assert instance.component_instance == "main"
    assert instance.payload()["component"] == {"name": "Ctrlr", "instance": "main"}
    assert var("SecurityCtrlr", "BasicAuthPassword").secret
    assert not var("SecurityCtrlr", "SecurityProfile").secret


# --- the model -------------------------------------------------------------------------------------
def test_model_from_report() -> None:
    model = DeviceModel.from_report(
        [
            *STATION,
            {  # only a Target attribute: no Actual value, nothing known of its mutability
                "component": {"name": "X"},
                "variable": {"name": "OnlyTarget"},
                "variableAttribute": [{"type": "Target", "value": "5"}],
            },
            {  # the Actual attribute is the default type
                "component": {"name": "X"},
                "variable": {"name": "Untyped"},
                "variableAttribute": [{"value": "7"}],
            },
        ]
    )
    measurands = model.info(var("SampledDataCtrlr", "TxUpdatedMeasurands"))
    assert measurands == VariableInfo(
        value="Energy.Active.Import.Register",
        mutability="ReadWrite",
        data_type="MemberList",
        values_list=("Energy.Active.Import.Register", "Power.Active.Import", "Current.Import"),
        max_limit=80.0,
    )
    assert model.info(var("X", "OnlyTarget")) == VariableInfo()
    untyped = model.info(var("X", "Untyped"))
    assert untyped is not None
    assert untyped.value == "7"
    assert untyped.mutability == "ReadWrite"
    rate = model.info(var("SmartChargingCtrlr", "RateUnit"))
    assert rate is not None
    assert rate.readonly
    assert model.evses() == {1: (1,), 2: (2,)}
    assert model.connector_of(2) == 2
    assert model.connector_of(9) == 1  # not reported: the usual connector 1
    assert model.supply_phases(2) == 1
    assert model.supply_phases(1) == 3  # the station's
    assert model.supply_phases() == 3
    assert model.phase_selection(2)
    assert not model.phase_selection(1)
    assert model.rate_units() == frozenset({W})
    assert model.dynamic_profiles()
    assert model.items_per_message("GetVariables") == 4
    assert model.items_per_message("SetVariables") is None
    model.set_value(var("DeviceDataCtrlr", "ItemsPerMessage"), "9")
    assert model.items_per_message("SetVariables") == 9
    assert model.items_per_message("GetVariables") == 4
    assert model.controller("SmartChargingCtrlr")
    assert not model.controller("LocalAuthListCtrlr")  # Enabled false
    assert model.controller("ReservationCtrlr")
    assert not model.controller("DisplayMessageCtrlr")  # not reported
    configuration = model.configuration()
    assert configuration["EVSE@1.Power"] == "22000"
    assert configuration["SmartChargingCtrlr.Entries[ChargingProfiles]"] == "2"
    assert configuration["SecurityCtrlr.BasicAuthPassword"] is None
    # The stored configuration gives the values back (keys that name no variable are left out).
    restored = DeviceModel.from_configuration(
        {**configuration, "HeartbeatInterval": "300", "not a key": "x"}
    )
    assert set(restored.configuration()) == set(configuration)
    assert restored.value(var("EVSE", "Power", evse=1)) == "22000"
    assert restored.info(var("SmartChargingCtrlr", "RateUnit")) == VariableInfo(value="W")


def test_set_value_keeps_characteristics_and_flags() -> None:
    model = DeviceModel.from_report(STATION)
    variable = var("SampledDataCtrlr", "TxUpdatedMeasurands")
    model.set_value(variable, "Power.Active.Import")
    info = model.info(variable)
    assert info is not None
    assert info.value == "Power.Active.Import"
    assert info.max_limit == 80.0
    model.set_value(var("New", "Flag"), "1")
    assert model.flag(var("New", "Flag")) is True
    model.set_value(var("New", "Flag"), "maybe")
    assert model.flag(var("New", "Flag")) is None
    assert model.integer(var("New", "Flag")) is None
    assert not DeviceModel()
    assert DeviceModel().max_limit(var("A", "B")) is None


@pytest.mark.parametrize(
    ("rate_unit", "expected"),
    [("A,W", {A, W}), ("Current;Power", {A, W}), ("A", {A}), ("kW", set()), (None, set())],
)
def test_rate_units(rate_unit: str | None, expected: set[ChargingRateUnit]) -> None:
    model = DeviceModel()
    if rate_unit is not None:
        model.set_value(var("SmartChargingCtrlr", "RateUnit"), rate_unit)
    assert model.rate_units() == frozenset(expected)


def test_capabilities_from_device_model() -> None:
    capabilities = capabilities_from_device_model(DeviceModel.from_report(STATION))
    assert capabilities == Capabilities(
        supported_profiles=frozenset(
            {"Core", "FirmwareManagement", "RemoteTrigger", "SmartCharging", "Reservation"}
        ),
        max_stack_level=3,
        rate_units=frozenset({W}),
        max_schedule_periods=12,
        max_profiles_installed=20,
        phase_switching=True,
        local_auth_list_max=None,
        number_of_connectors=2,
    )
    assert capabilities.smart_charging
    assert not capabilities.local_auth_list


def test_capabilities_defaults_where_the_model_is_silent() -> None:
    model = DeviceModel.from_report(
        [
            entry("SmartChargingCtrlr", "Available", "false"),
            entry("LocalAuthListCtrlr", "Entries", "0", maxLimit=250),
            entry("SmartChargingCtrlr", "ProfileStackLevel", "0"),
            entry("SmartChargingCtrlr", "Entries", "1", maxLimit=5),
        ]
    )
    capabilities = capabilities_from_device_model(model)
    defaults = Capabilities()
    assert capabilities.supported_profiles == frozenset(
        {"Core", "FirmwareManagement", "RemoteTrigger", "LocalAuthListManagement"}
    )
    assert capabilities.max_stack_level == 0  # reported: level 0 only
    assert capabilities.rate_units == defaults.rate_units
    assert capabilities.max_schedule_periods == defaults.max_schedule_periods
    assert capabilities.max_profiles_installed == 5  # Entries without the instance
    assert capabilities.local_auth_list_max == 250
    assert capabilities.number_of_connectors == 1
    assert not capabilities.phase_switching


# --- report reassembly -----------------------------------------------------------------------------
def page(seq_no: int, tbc: bool | None, *names: str) -> dict[str, Any]:
    payload: dict[str, Any] = {"requestId": 7, "generatedAt": "2030-01-01T00:00:00Z"}
    payload["seqNo"] = seq_no
    if tbc is not None:
        payload["tbc"] = tbc
    if names:
        payload["reportData"] = [entry("C", name, "1") for name in names]
    return payload


def test_report_pages_out_of_order_repeated_and_missing() -> None:
    report = ReportAssembler(7)
    assert not report.add(page(1, True, "b"))
    assert report.missing == [(0, 0)]
    assert not report.add(page(2, None, "c"))  # tbc absent: the last page
    assert report.missing == [(0, 0)]
    assert not report.complete
    assert report.add(page(0, True, "a"))
    assert report.add(page(0, True, "a"))  # a repeated page replaces itself
    names = [e["variable"]["name"] for e in report.report_data()]
    assert names == ["a", "b", "c"]
    empty = ReportAssembler(8)
    assert empty.missing == []
    assert empty.add(page(0, False))
    assert empty.report_data() == []
    # The schema sets no bound on seqNo: a last page numbered 2**53 leaves one gap, not a list.
    far = ReportAssembler(9)
    assert not far.add(page(0, True, "a"))
    assert not far.add(page(2**53, False, "z"))
    assert far.missing == [(1, 2**53 - 1)]
    assert not far.complete


def test_a_report_beyond_its_bound_is_cut(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(device_model, "MAX_REPORT_ENTRIES", 4)
    report = ReportAssembler(10)
    assert not report.add(page(0, True, "a", "b"))
    assert not report.add(page(0, True, "a", "b"))  # a repeated page does not count twice
    assert not report.add(page(1, True))  # an empty page counts as one entry
    assert (report.entries, report.cut) == (3, False)
    assert report.add(page(2, True, "c", "d"))  # would make 5: cut, the page not taken
    assert report.cut
    assert not report.complete
    assert report.add(page(3, False, "e"))  # nothing more is taken
    assert [e["variable"]["name"] for e in report.report_data()] == ["a", "b"]


# --- profiles --------------------------------------------------------------------------------------
def station(
    units: set[ChargingRateUnit] | None = None,
    *,
    switching: bool = True,
    supply: int | None = None,
    phases: int = 3,
) -> StationLimits:
    settings = ChargerSettings(phases=phases, nominal_voltage_v=230.0)
    return StationLimits(
        rules=LimitRules(settings, Capabilities()),
        rate_units=frozenset(units or set()),
        phase_switching=switching,
        supply_phases=supply,
    )


def request(**changes: Any) -> LimitRequest:
    fields: dict[str, Any] = {
        "profile_id": 3,
        "stack_level": 1,
        "purpose": "tx_default",
        "connector_id": 0,
        "limit": 16.0,
        "unit": A,
    }
    fields.update(changes)
    return LimitRequest(**fields)


def assert_valid(evse_id: int, profile: dict[str, Any]) -> None:
    payload = {"evseId": evse_id, "chargingProfile": profile}
    DIALECT_201.schemas.check_request("SetChargingProfile", payload, ours=True)
    DIALECT_21.schemas.check_request("SetChargingProfile", payload, ours=True)


def test_tx_default_live_profile() -> None:
    live = request(duration_s=900, limit=15.96)
    profile = build_limit_profile(live, station({A, W}), now=NOW)
    assert_valid(target_evse(live), profile)
    assert target_evse(live) == 0
    assert profile == {
        "id": 3,
        "stackLevel": 1,
        "chargingProfilePurpose": "TxDefaultProfile",
        "chargingProfileKind": "Absolute",
        "chargingSchedule": [
            {
                "id": 3,
                "chargingRateUnit": "A",
                "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 16.0}],
                "startSchedule": "2030-05-06T06:08:09.000Z",  # an hour ago: no gap
                "duration": 4500,  # still 900 s from now
            }
        ],
    }


def test_station_max_and_tx_profiles() -> None:
    cap = request(purpose="charger_max", profile_id=1, stack_level=0, connector_id=1, limit=32)
    profile = build_limit_profile(cap, station(), now=NOW)
    assert target_evse(cap) == 0  # the station's hard cap lives on EVSE 0 only
    assert profile["chargingProfilePurpose"] == "ChargingStationMaxProfile"
    assert "duration" not in profile["chargingSchedule"][0]
    assert_valid(0, profile)
    tx = request(purpose="tx", profile_id=4, connector_id=2, transaction_id="tx-9f1")
    profile = build_limit_profile(tx, station(), now=NOW)
    assert target_evse(tx) == 2
    assert profile["chargingProfilePurpose"] == "TxProfile"
    assert profile["transactionId"] == "tx-9f1"
    assert_valid(2, profile)


@pytest.mark.parametrize(
    ("connector_id", "transaction_id"), [(1, None), (0, "tx-1")], ids=["no-transaction", "evse-0"]
)
def test_tx_profile_without_a_transaction_falls_back_to_tx_default(
    connector_id: int, transaction_id: str | None
) -> None:
    tx = request(purpose="tx", connector_id=connector_id, transaction_id=transaction_id)
    profile = build_limit_profile(tx, station(), now=NOW)
    assert profile["chargingProfilePurpose"] == "TxDefaultProfile"
    assert profile["stackLevel"] == 1  # the live level, above the base
    assert "transactionId" not in profile
    assert_valid(connector_id, profile)


def test_a_w_only_station_never_gets_amperes() -> None:
    # 16 A on the three supply phases at 230 V: 11040 W, whole watts.
    profile = build_limit_profile(request(limit=16.0), station({W}, supply=3), now=NOW)
    schedule = profile["chargingSchedule"][0]
    assert schedule["chargingRateUnit"] == "W"
    assert schedule["chargingSchedulePeriod"][0]["limit"] == 11040
    assert_valid(0, profile)
    # A 1-phase request converts over one phase (and switches phases: the station can).
    one = build_limit_profile(request(limit=10.0, number_phases=1), station({W}), now=NOW)
    assert one["chargingSchedule"][0]["chargingSchedulePeriod"][0] == {
        "startPeriod": 0,
        "limit": 2300,
        "numberPhases": 1,
    }
    # Unknown supply: the charger's configured phases.
    two = build_limit_profile(request(limit=10.0), station({W}, phases=2), now=NOW)
    assert two["chargingSchedule"][0]["chargingSchedulePeriod"][0]["limit"] == 4600
    # An A-only station gets W requests in A (0.1 A resolution).
    amps = build_limit_profile(request(limit=7000.0, unit=W), station({A}, supply=3), now=NOW)
    assert amps["chargingSchedule"][0]["chargingRateUnit"] == "A"
    assert amps["chargingSchedule"][0]["chargingSchedulePeriod"][0]["limit"] == 10.1
    # A station that did not say takes what was asked.
    unsaid = build_limit_profile(request(limit=7000.0, unit=W), station(), now=NOW)
    assert unsaid["chargingSchedule"][0]["chargingSchedulePeriod"][0]["limit"] == 7000


def test_number_phases_only_where_the_station_switches() -> None:
    def period(limits: StationLimits) -> dict[str, Any]:
        profile = build_limit_profile(request(number_phases=1), limits, now=NOW)
        result: dict[str, Any] = profile["chargingSchedule"][0]["chargingSchedulePeriod"][0]
        return result

    assert period(station())["numberPhases"] == 1
    assert "numberPhases" not in period(station(switching=False))
    three = build_limit_profile(request(number_phases=3), station(supply=1), now=NOW)
    assert "numberPhases" not in three["chargingSchedule"][0]["chargingSchedulePeriod"][0]


def test_explicit_start_and_zero_limit() -> None:
    start = NOW + timedelta(hours=1)
    profile = build_limit_profile(
        request(start=start, duration_s=60, limit=-1.0), station(), now=NOW
    )
    schedule = profile["chargingSchedule"][0]
    assert schedule["startSchedule"] == "2030-05-06T08:08:09.000Z"
    assert schedule["duration"] == 60
    assert schedule["chargingSchedulePeriod"][0]["limit"] == 0.0  # never negative


def test_composite_limit() -> None:
    limits = station({W}, supply=3)

    def limit(schedule: dict[str, Any] | None, unit: ChargingRateUnit | None) -> float | None:
        return composite_limit(composite_schedule(1, schedule, None), unit, limits)

    schedule = {
        "chargingRateUnit": "W",
        "chargingSchedulePeriod": [
            {"startPeriod": 60, "limit": 1000},
            {"startPeriod": 0, "limit": 11040},
        ],
    }
    assert limit(schedule, None) == 11040
    assert limit(schedule, W) == 11040
    assert limit(schedule, A) == 16.0
    one_phase = {
        "chargingRateUnit": "W",
        "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 2300, "numberPhases": 1}],
    }
    assert limit(one_phase, A) == 10.0
    assert limit(None, A) is None
    assert limit({"chargingRateUnit": "A", "chargingSchedulePeriod": []}, A) is None
    setpoint_only = {"chargingRateUnit": "A", "chargingSchedulePeriod": [{"startPeriod": 0}]}
    assert limit(setpoint_only, A) is None


# --- small helpers ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("tag", "kind"),
    [
        ("04A1B2C3", "ISO14443"),
        ("04a1b2c3d4e5f6", "ISO14443"),
        ("E004010012345678", "ISO15693"),
        ("00:1A:2B:3C:4D:5E", "MacAddress"),
        ("TAG1", "Central"),
        ("ABCDEF", "Central"),
    ],
)
def test_id_token_types(tag: str, kind: str) -> None:
    assert id_token(tag) == {"idToken": tag, "type": kind}
    assert id_token(tag, central=True)["type"] == "Central"


def test_expect_status_carries_the_reason() -> None:
    assert expect_status("Reset", {"status": "Scheduled"}, ("Accepted", "Scheduled")) == "Scheduled"
    with pytest.raises(CommandRejectedError) as err:
        expect_status("Reset", {"status": "Rejected"})
    assert err.value.status == "Rejected"
    with pytest.raises(CommandRejectedError) as err:
        expect_status("Reset", {"status": "Rejected", "statusInfo": {"reasonCode": "TxInProgress"}})
    assert err.value.status == "Rejected: TxInProgress"


def test_local_list_updates() -> None:
    """Capped at what the charger stores, split into messages (a Full update, then Differential
    ones whose versions count up to the list's), tags the version cannot carry left out."""
    tags = ["a", "b", "c", "d", "e"]

    def updates(tags: list[str], **limits: int | None) -> list[LocalListUpdate]:
        limits = {"storage": None, "per_message": None, **limits}
        return local_list_updates("CP", tags, 100, max_length=20, **limits)

    assert updates(tags) == [LocalListUpdate("Full", 100, tags)]
    assert updates(tags, storage=0, per_message=0) == [LocalListUpdate("Full", 100, tags)]
    assert updates(tags, storage=4, per_message=3) == [
        LocalListUpdate("Full", 99, ["a", "b", "c"]),
        LocalListUpdate("Differential", 100, ["d"]),
    ]
    assert updates([]) == [LocalListUpdate("Full", 100, [])]
    assert updates(["x" * 21, "ok", "caf\u00e9"]) == [LocalListUpdate("Full", 100, ["ok"])]


def test_redact_basic_auth_password() -> None:
    frame = (
        '[2,"1","SetVariables",{"setVariableData":[{"attributeValue":"60","component":'
        '{"name":"OCPPCommCtrlr"},"variable":{"name":"HeartbeatInterval"}},{"attributeValue":'
        '"p\\"ss-0123456789abcdef","component":{"name":"SecurityCtrlr"},"variable":'
        '{"name":"BasicAuthPassword"}}]}]'
    )
    redacted = redact(frame)
    assert "0123456789abcdef" not in redacted
    assert '"attributeValue":"60"' in redacted  # a neighbour before it is kept
    other_order = (
        '[2,"1","SetVariables",{"setVariableData":[{"component":{"name":"SecurityCtrlr"},'
        '"variable":{"name":"BasicAuthPassword"},"attributeValue":"0123456789abcdef"}]}]'
    )
    assert "0123456789abcdef" not in redact(other_order)


# --- measurand negotiation (shared with 1.6) --------------------------------------------------------
def test_measurand_rules_fit() -> None:
    wanted = ["Energy.Active.Import.Register", "Power.Active.Import", "Voltage"]
    assert MeasurandRules().fit(wanted) == wanted
    assert MeasurandRules(max_items=2).fit(wanted) == wanted[:2]
    assert MeasurandRules(max_chars=50).fit(wanted) == wanted[:2]
    assert MeasurandRules(max_chars=5).fit(wanted) == []


class Station:
    """A measurand list that accepts only lists of ``supported`` measurands."""

    def __init__(self, supported: set[str], current: str) -> None:
        self.supported = supported
        self.value = current
        self.writes: list[str] = []

    async def write(self, value: str) -> bool:
        self.writes.append(value)
        if value and set(value.split(",")) <= self.supported:
            self.value = value
            return True
        return False


async def test_negotiation_with_known_supported_values() -> None:
    sim = Station({"E", "P", "I"}, "E")
    rejected = await negotiate_measurands(
        ["E", "P", "V", "P"],
        ["E"],
        rules=MeasurandRules(supported=frozenset({"E", "P", "I"})),
        rejected=frozenset(),
        write=sim.write,
    )
    assert sim.writes == ["E,P"]  # V is not offered: not even tried
    assert rejected == frozenset()  # ... nor remembered (another charger may take it)
    # Nothing wanted is possible: the current list stays, nothing is written.
    sim.writes.clear()
    none = await negotiate_measurands(
        ["V"], ["E"], rules=MeasurandRules(supported=frozenset({"E"})), rejected=(), write=sim.write
    )
    assert sim.writes == []
    assert none == frozenset()


async def test_negotiation_by_probing() -> None:
    sim = Station({"E", "P"}, "E")
    rejected = await negotiate_measurands(
        ["E", "P", "V"], ["E"], rules=MeasurandRules(), rejected={"X"}, write=sim.write
    )
    assert sim.writes == ["E,P,V", "P", "V", "E,P"]
    assert sim.value == "E,P"
    assert rejected == frozenset({"X", "V"})
    # Already sampled: nothing to write.
    sim.writes.clear()
    await negotiate_measurands(
        ["P", "E"], ["E", "P"], rules=MeasurandRules(), rejected=(), write=sim.write
    )
    assert sim.writes == []


async def test_negotiation_restores_the_current_list_when_nothing_fits() -> None:
    sim = Station(set(), "")
    rejected = await negotiate_measurands(
        ["V"], ["E"], rules=MeasurandRules(), rejected=(), write=sim.write
    )
    # "V" rejected, then the final value is what it sampled before: rejected too here.
    assert sim.writes == ["V", "V", "E", "E"]
    assert rejected == frozenset({"V"})
