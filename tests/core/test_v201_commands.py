"""V201Session / V21Session, CSMS -> charging station: every command, on real websockets.

The station is the ``ocpp`` package's 2.0.1 / 2.1 client (:mod:`.v201_harness`): what we send passes
its schema validation, and every test runs against both versions.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from custom_components.ocpp_ems.core.errors import (
    ChargerNotConnectedError,
    CommandNotSupportedError,
    CommandRejectedError,
    CommandTimeoutError,
    InvalidCommandError,
)
from custom_components.ocpp_ems.core.limit_check import LimitCheck
from custom_components.ocpp_ems.core.model import ChargingRateUnit
from custom_components.ocpp_ems.core.session import LimitRequest
from custom_components.ocpp_ems.core.settings import (
    ChargerSettings,
    ProfilePurpose,
    RateUnitPreference,
    ServerSettings,
)

from .fakes import MemoryDirectory
from .v16_harness import Harness
from .v201_fixtures import actual
from .v201_harness import VERSIONS, SimStation, now_iso, protocol_harness, sampled, wait_for

A = ChargingRateUnit.AMPERE
W = ChargingRateUnit.WATT


@pytest.fixture(params=VERSIONS)
async def h(
    request: pytest.FixtureRequest,
    socket_enabled: None,
    directory: MemoryDirectory,
    server_settings: ServerSettings,
) -> AsyncIterator[Harness]:
    """A protocol harness of each version (its ``subprotocol``)."""
    server_settings.response_timeout_s = 1.0
    async with protocol_harness(directory, server_settings, request.param) as harness:
        yield harness


@pytest.fixture
async def sim(h: Harness) -> SimStation:
    station: SimStation = await h.charger_client()
    return station


# --- core ------------------------------------------------------------------------------------------
async def test_reset_unlock_start_stop(h: Harness, sim: SimStation) -> None:
    session = h.session
    await session.reset()
    await session.reset(hard=True)
    assert [p["type"] for p in sim.actions("Reset")] == ["OnIdle", "Immediate"]
    sim.status_override["Reset"] = "Scheduled"
    await session.reset()  # scheduled for when no transaction runs: fine
    del sim.status_override["Reset"]
    sim.answers["Reset"] = {"status": "Rejected", "statusInfo": {"reasonCode": "TxInProgress"}}
    with pytest.raises(CommandRejectedError) as err:
        await session.reset(hard=True)
    assert err.value.status == "Rejected: TxInProgress"

    await session.unlock(1)
    assert sim.actions("UnlockConnector") == [{"evseId": 1, "connectorId": 1}]
    sim.status_override["UnlockConnector"] = "UnlockFailed"
    with pytest.raises(CommandRejectedError):
        await session.unlock(1)

    await session.remote_start(1, "HomeAssistant")  # our own tag
    await session.remote_start(0, "04A1B2C3")  # a card, on any EVSE
    first, second = sim.actions("RequestStartTransaction")
    assert first["idToken"] == {"idToken": "HomeAssistant", "type": "Central"}
    assert first["evseId"] == 1
    assert second["idToken"] == {"idToken": "04A1B2C3", "type": "ISO14443"}
    assert "evseId" not in second
    assert first["remoteStartId"] != second["remoteStartId"]
    await session.remote_stop("a3f1-77")
    assert sim.actions("RequestStopTransaction") == [{"transactionId": "a3f1-77"}]
    sim.status_override["RequestStopTransaction"] = "Rejected"
    with pytest.raises(CommandRejectedError):
        await session.remote_stop("gone")


async def test_availability_and_cache(h: Harness, sim: SimStation) -> None:
    session = h.session
    assert await session.change_availability(1, operative=False) == "Accepted"
    assert await session.change_availability(None, operative=True) == "Accepted"
    assert sim.actions("ChangeAvailability") == [
        {"operationalStatus": "Inoperative", "evse": {"id": 1}},
        {"operationalStatus": "Operative"},
    ]
    sim.status_override["ChangeAvailability"] = "Scheduled"
    assert await session.change_availability(1, operative=False) == "Scheduled"
    await session.clear_cache()
    sim.status_override["ClearCache"] = "Rejected"
    with pytest.raises(CommandRejectedError):
        await session.clear_cache()


# --- device model ----------------------------------------------------------------------------------
async def test_get_configuration_by_keys(h: Harness, sim: SimStation) -> None:
    result = await h.session.get_configuration(
        [
            "OCPPCommCtrlr.HeartbeatInterval",
            "MeterValueSampleInterval",  # the 1.6 name: SampledDataCtrlr.TxUpdatedInterval
            "EVSE@1.Power",
            "SecurityCtrlr.BasicAuthPassword",  # write-only: the station refuses to read it
            "Nope.Nothing",
            "not a key",
        ]
    )
    assert result["configuration"] == {
        "OCPPCommCtrlr.HeartbeatInterval": {"value": "300", "readonly": False},
        "MeterValueSampleInterval": {"value": "10", "readonly": False},  # set at boot
        "EVSE@1.Power": {"value": "22000", "readonly": True},
    }
    assert result["unknown"] == ["SecurityCtrlr.BasicAuthPassword", "Nope.Nothing", "not a key"]
    # Only keys that name nothing: no CALL at all.
    sent = len(sim.actions("GetVariables"))
    assert (await h.session.get_configuration(["x"]))["unknown"] == ["x"]
    assert len(sim.actions("GetVariables")) == sent


async def test_get_variables_in_chunks_the_station_takes(h: Harness) -> None:
    def small_pages(station: SimStation) -> None:
        station.device_model[actual("DeviceDataCtrlr", "ItemsPerMessage")] = "2"

    # (ItemsPerMessage without the spec's instance "GetVariables": taken as meaning it.)
    sim: SimStation = await h.charger_client(setup=small_pages)
    keys = ["OCPPCommCtrlr.HeartbeatInterval", "EVSE@1.Power", "TxCtrlr.TxStartPoint"]
    result = await h.session.get_configuration(keys)
    assert set(result["configuration"]) == set(keys)
    assert [len(p["getVariableData"]) for p in sim.actions("GetVariables")] == [2, 1]


async def test_get_configuration_reads_the_whole_model(h: Harness, sim: SimStation) -> None:
    sim.device_model[actual("OCPPCommCtrlr", "HeartbeatInterval")] = "120"
    result = await h.session.get_configuration()
    configuration = result["configuration"]
    assert configuration["OCPPCommCtrlr.HeartbeatInterval"] == {"value": "120", "readonly": False}
    assert configuration["SmartChargingCtrlr.RateUnit"] == {"value": "A,W", "readonly": True}
    assert configuration["SecurityCtrlr.BasicAuthPassword"] == {"value": None, "readonly": False}
    assert configuration["Connector@1/1.ConnectorType"]["value"] == "cType2"
    assert result["unknown"] == []
    assert h.charger.configuration["OCPPCommCtrlr.HeartbeatInterval"] == "120"
    assert len(sim.actions("GetBaseReport")) == 2  # at boot, and now


async def test_set_configuration(h: Harness, sim: SimStation) -> None:
    session = h.session
    assert await session.set_configuration("OCPPCommCtrlr.HeartbeatInterval", "120") == "Accepted"
    assert h.charger.configuration["OCPPCommCtrlr.HeartbeatInterval"] == "120"
    assert sim.device_model[actual("OCPPCommCtrlr", "HeartbeatInterval")] == "120"
    sim.status_override["SetVariables:HeartbeatInterval"] = "RebootRequired"
    assert await session.set_configuration("HeartbeatInterval", "60") == "RebootRequired"
    with pytest.raises(CommandRejectedError) as err:
        await session.set_configuration("SmartChargingCtrlr.RateUnit", "W")  # read-only
    assert err.value.status == "Rejected"
    with pytest.raises(CommandRejectedError) as err:
        await session.set_configuration("Nope.Nothing", "1")
    assert err.value.status == "UnknownComponent"
    with pytest.raises(InvalidCommandError):
        await session.set_configuration("HeartbeatInterval_but_not_a_key", "1")
    with pytest.raises(InvalidCommandError):  # longer than the schema allows: never sent
        await session.set_configuration("OCPPCommCtrlr.HeartbeatInterval", "9" * 3000)


# --- trigger, data transfer, firmware, logs -------------------------------------------------------
async def test_trigger_and_data_transfer(h: Harness, sim: SimStation) -> None:
    session = h.session
    await session.trigger_message("StatusNotification", 1)
    await session.trigger_message("DiagnosticsStatusNotification")  # the 1.6 name
    await session.trigger_message("MeterValues", 1)
    assert sim.actions("TriggerMessage") == [
        {"requestedMessage": "StatusNotification", "evse": {"id": 1, "connectorId": 1}},
        {"requestedMessage": "LogStatusNotification"},
        {"requestedMessage": "MeterValues", "evse": {"id": 1}},
    ]
    sim.status_override["TriggerMessage"] = "NotImplemented"
    with pytest.raises(CommandRejectedError):
        await session.trigger_message("Heartbeat")
    with pytest.raises(InvalidCommandError):
        await session.trigger_message("NoSuchMessage")
    sim.answers["DataTransfer"] = {"status": "Accepted", "data": {"pong": 1}}
    assert await session.data_transfer("acme", "ping", "x") == {
        "status": "Accepted",
        "data": {"pong": 1},
    }
    assert sim.actions("DataTransfer")[-1] == {"vendorId": "acme", "messageId": "ping", "data": "x"}
    sim.answers.pop("DataTransfer")
    sim.status_override["DataTransfer"] = "UnknownVendorId"
    assert await session.data_transfer("other", None, None) == {
        "status": "UnknownVendorId",
        "data": None,
    }


async def test_firmware_and_logs(h: Harness, sim: SimStation) -> None:
    when = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
    await h.session.update_firmware("https://fw/x.bin", when, retries=3)
    update = sim.actions("UpdateFirmware")[0]
    assert update["firmware"] == {
        "location": "https://fw/x.bin",
        "retrieveDateTime": "2030-01-02T03:04:05.000Z",
    }
    assert update["retries"] == 3
    assert isinstance(update["requestId"], int)
    sim.status_override["UpdateFirmware"] = "InvalidCertificate"
    with pytest.raises(CommandRejectedError):
        await h.session.update_firmware("https://fw/y.bin", when)
    assert await h.session.request_diagnostics("ftp://logs/") == "log.zip"
    log = sim.actions("GetLog")[0]
    assert log["logType"] == "DiagnosticsLog"
    assert log["log"] == {"remoteLocation": "ftp://logs/"}
    sim.status_override["GetLog"] = "Rejected"
    with pytest.raises(CommandRejectedError):
        await h.session.request_diagnostics("ftp://logs/")


# --- local list, reservations ----------------------------------------------------------------------
async def test_local_list(h: Harness, sim: SimStation) -> None:
    session = h.session
    tags = [f"{i:08X}" for i in range(60)]
    await session.send_local_list(tags, 5)
    # ItemsPerMessage (50) per message, Entries (100) stored: a Full update with the first 50, a
    # Differential one with the rest; only the last one carries the list's version.
    full, rest = sim.actions("SendLocalList")[-2:]
    assert (full["updateType"], full["versionNumber"]) == ("Full", 4)
    entries = full["localAuthorizationList"]
    assert len(entries) == 50
    assert entries[0] == {
        "idToken": {"idToken": "00000000", "type": "ISO14443"},
        "idTokenInfo": {"status": "Accepted"},
    }
    assert (rest["updateType"], rest["versionNumber"]) == ("Differential", 5)
    assert [e["idToken"]["idToken"] for e in rest["localAuthorizationList"]] == tags[50:]
    assert await session.get_local_list_version() == 5
    await session.send_local_list([], 6)  # an empty list has no (minItems 1) array
    assert sim.actions("SendLocalList")[-1] == {"versionNumber": 6, "updateType": "Full"}
    sim.status_override["SendLocalList"] = "VersionMismatch"
    with pytest.raises(CommandRejectedError) as err:
        await session.send_local_list(["A"], 7)
    assert err.value.status == "VersionMismatch"


async def test_local_list_leaves_out_tags_the_version_cannot_carry(
    h: Harness, sim: SimStation
) -> None:
    """2.0.1 idToken takes 36 characters, 2.1 255: a longer one is left out, not the whole list."""
    long_tag = "X" * 40
    await h.session.send_local_list(["TAG1", long_tag, "TAG\u00c42"], 3)
    sent = sim.actions("SendLocalList")[-1]
    tags = [e["idToken"]["idToken"] for e in sent["localAuthorizationList"]]
    assert tags == (["TAG1"] if h.session.ocpp_version == "2.0.1" else ["TAG1", long_tag])


async def test_reservations_need_the_controller(h: Harness, sim: SimStation) -> None:
    expiry = datetime.now(UTC) + timedelta(hours=1)
    with pytest.raises(CommandNotSupportedError):  # no ReservationCtrlr in its device model
        await h.session.reserve_now(1, "TAG1", expiry, 7)
    with pytest.raises(CommandNotSupportedError):
        await h.session.cancel_reservation(7)

    def reservations(station: SimStation) -> None:
        station.device_model[actual("ReservationCtrlr", "Available")] = "true"
        station.device_model[actual("ReservationCtrlr", "Enabled")] = "true"

    other: SimStation = await h.charger_client(setup=reservations)
    await h.session.reserve_now(1, "TAG1", expiry, 7)
    await h.session.reserve_now(0, "TAG2", expiry, 8)
    first, second = other.actions("ReserveNow")
    assert first["id"] == 7
    assert first["evseId"] == 1
    assert first["idToken"] == {"idToken": "TAG1", "type": "Central"}
    assert "evseId" not in second
    book = h.charger.reservations
    now = datetime.now(UTC)
    assert [(r.reservation_id, r.connector_id) for r in book.in_force(now)] == [(7, 1), (8, 0)]
    await h.session.cancel_reservation(7)
    assert other.actions("CancelReservation") == [{"reservationId": 7}]
    assert [r.reservation_id for r in book.in_force(now)] == [8]
    other.status_override["ReserveNow"] = "Occupied"
    with pytest.raises(CommandRejectedError):
        await h.session.reserve_now(1, "TAG1", expiry, 9)
    assert [r.reservation_id for r in book.in_force(now)] == [8]  # refused: none made

    # A session that starts on plug-in, its card presented later: the card's charger-wide
    # reservation ends then (TAG1's on EVSE 1 would have been taken first).
    plugged = {"id": 1, "connectorId": 1}
    begin = [{"timestamp": now_iso(-60), "sampledValue": [sampled(0, context="Transaction.Begin")]}]
    await other.tx_event(
        "Started",
        "TX1",
        evse=plugged,
        timestamp=now_iso(-60),
        trigger_reason="CablePluggedIn",
        charging_state="EVConnected",
        meter_value=begin,
    )
    assert [r.reservation_id for r in book.in_force(now)] == [8]
    await other.tx_event("Updated", "TX1", id_token={"idToken": "tag2", "type": "ISO14443"})
    assert book.in_force(now) == []


# --- smart charging --------------------------------------------------------------------------------
def limit(purpose: str, **changes: Any) -> LimitRequest:
    fields: dict[str, Any] = {
        "profile_id": {"charger_max": 1, "tx_default": 3, "tx": 4}[purpose],
        "stack_level": 0 if purpose == "charger_max" else 1,
        "purpose": purpose,
        "connector_id": 0,
        "limit": 16.0,
        "unit": A,
    }
    fields.update(changes)
    return LimitRequest(**fields)


async def test_smart_charging_commands(h: Harness, sim: SimStation) -> None:
    session = h.session
    await session.set_limit_profile(limit("charger_max", limit=32.0, connector_id=1))
    await session.set_limit_profile(limit("tx_default", duration_s=900))
    await session.set_limit_profile(limit("tx", connector_id=1, transaction_id="t-1", limit=10))
    assert {pid: p["evseId"] for pid, p in sim.profiles.items()} == {1: 0, 3: 0, 4: 1}
    assert sim.profiles[1]["chargingProfilePurpose"] == "ChargingStationMaxProfile"
    assert sim.profiles[4]["transactionId"] == "t-1"
    assert await session.get_composite_limit(1, 60, A) == 10.0
    assert sim.actions("GetCompositeSchedule")[-1] == {
        "evseId": 1,
        "duration": 60,
        "chargingRateUnit": "A",
    }
    assert await session.get_composite_limit(1) == 10.0  # the station's unit

    await session.clear_profiles(profile_id=4)
    await session.clear_profiles(connector_id=0, purpose="tx_default", stack_level=1)
    assert set(sim.profiles) == {1}
    await session.clear_profiles(purpose="ChargePointMaxProfile")  # the 1.6 name works too
    assert sim.profiles == {}
    assert sim.actions("ClearChargingProfile") == [
        {"chargingProfileId": 4},
        {
            "chargingProfileCriteria": {
                "evseId": 0,
                "chargingProfilePurpose": "TxDefaultProfile",
                "stackLevel": 1,
            }
        },
        {"chargingProfileCriteria": {"chargingProfilePurpose": "ChargingStationMaxProfile"}},
    ]
    with pytest.raises(CommandRejectedError) as err:
        await session.clear_profiles()  # nothing left: Unknown
    assert err.value.status == "Unknown"
    assert sim.actions("ClearChargingProfile")[-1] == {}
    with pytest.raises(CommandRejectedError):  # no profile: the station rejects the request
        await session.get_composite_limit(1)

    raw = {
        "id": 9,
        "stackLevel": 2,
        "chargingProfilePurpose": "TxDefaultProfile",
        "chargingProfileKind": "Relative",
        "chargingSchedule": [
            {
                "id": 1,
                "chargingRateUnit": "A",
                "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 8}],
            }
        ],
    }
    await session.set_raw_profile(1, raw)
    assert sim.profiles[9]["evseId"] == 1
    with pytest.raises(InvalidCommandError):
        await session.set_raw_profile(1, {"id": 9})
    sim.answers["SetChargingProfile"] = {
        "status": "Rejected",
        "statusInfo": {"reasonCode": "DuplicateProfile"},
    }
    with pytest.raises(CommandRejectedError) as err:
        await session.set_limit_profile(limit("tx_default"))
    assert err.value.status == "Rejected: DuplicateProfile"


async def test_composite_schedule_answers(h: Harness, sim: SimStation) -> None:
    session = h.session
    sim.answers["GetCompositeSchedule"] = {"status": "Accepted"}  # no schedule
    assert await session.get_composite_limit(1, 60, A) is None

    sim.answers["GetCompositeSchedule"] = {
        "status": "Accepted",
        "schedule": {
            "chargingRateUnit": "W",
            "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 6900}],
            "evseId": 1,
            "scheduleStart": now_iso(),
            "duration": 60,
        },
    }
    # Answered in W although A was asked: converted (6900 W on 3 phases at 230 V).
    assert await session.get_composite_limit(1, 60, A) == 10.0


# What a period says besides its start, limit and phases (2.0.1: the phase to use; 2.1 also the
# limits of L2 and L3, setpoints, ...), as sent and as kept.
_PERIOD_DETAILS = {
    "ocpp2.0.1": ({"numberPhases": 1, "phaseToUse": 2}, {"phase_to_use": 2}),
    "ocpp2.1": (
        {
            "limit_L2": 10.0,
            "limit_L3": 8.0,
            "setpoint": 4.5,
            "dischargeLimit_L2": -3.0,
            "operationMode": "CentralSetpoint",
            "evseSleep": False,
            "v2xFreqWattCurve": [
                {"frequency": 49.8, "power": 1000.0, "customData": {"vendorId": "X"}},
                {"frequency": 50.2, "power": -1000.0},
            ],
        },
        {
            "limit_l2": 10.0,
            "limit_l3": 8.0,
            "setpoint": 4.5,
            "discharge_limit_l2": -3.0,
            "operation_mode": "CentralSetpoint",
            "evse_sleep": False,
            "v2x_freq_watt_curve": [
                {"frequency": 49.8, "power": 1000.0},
                {"frequency": 50.2, "power": -1000.0},
            ],
        },
    ),
}


async def test_a_schedule_keeps_what_else_its_periods_say(h: Harness, sim: SimStation) -> None:
    """A period's phase to use and 2.1's limits of L2 and L3, setpoints, operation mode and
    curves reach the schedule (the action's answer), by snake_case name; the station's vendor
    data does not. Before, only the limit (L1's) and the phases were kept."""
    sent, kept = _PERIOD_DETAILS[h.subprotocol]
    period = {"startPeriod": 0, "limit": 16.0, **sent, "customData": {"vendorId": "X"}}
    sim.answers["GetCompositeSchedule"] = {
        "status": "Accepted",
        "schedule": {
            "chargingRateUnit": "A",
            "chargingSchedulePeriod": [period, {"startPeriod": 60, "limit": 6.0}],
            "evseId": 1,
            "scheduleStart": now_iso(),
            "duration": 120,
        },
    }
    schedule = await h.session.get_composite_schedule(1, 120, A)
    assert schedule is not None
    first, then = schedule.periods
    assert (first.limit, then.limit, then.details) == (16.0, 6.0, {})
    assert first.details == kept


async def test_a_w_only_station_gets_watts(h: Harness) -> None:
    def watts_only(station: SimStation) -> None:
        station.device_model[actual("SmartChargingCtrlr", "RateUnit")] = "W"

    sim: SimStation = await h.charger_client(setup=watts_only)
    assert h.charger.capabilities.rate_units == frozenset({W})
    # A request in A (a raw profile action; the controller writes W itself) reaches it in W.
    await h.session.set_limit_profile(limit("tx_default", limit=16.0))
    schedule = sim.profiles[3]["chargingSchedule"][0]
    assert schedule["chargingRateUnit"] == "W"
    assert schedule["chargingSchedulePeriod"][0]["limit"] == 11040
    # Verification asks in W (not A, which the station does not take) and converts back.
    assert await h.session.get_composite_limit(1, 60, A) == 16.0
    assert sim.actions("GetCompositeSchedule")[-1]["chargingRateUnit"] == "W"


def live(sim: SimStation, profile_id: int = 3) -> tuple[float, str]:
    schedule = sim.profiles[profile_id]["chargingSchedule"][0]
    return float(schedule["chargingSchedulePeriod"][0]["limit"]), schedule["chargingRateUnit"]


async def one_phase_car_charging(sim: SimStation) -> None:
    await sim.tx_event(
        "Started",
        "tx-1",
        evse={"id": 1, "connectorId": 1},
        id_token={"idToken": "TAG1", "type": "ISO14443"},
        charging_state="Charging",
        meter_value=[
            {
                "timestamp": now_iso(),
                "sampledValue": [
                    sampled(1000, "Energy.Active.Import.Register"),
                    sampled(15.8, "Current.Import", unit="A", phase="L1"),
                ],
            }
        ],
    )
    await sim.meter_values(
        1,
        [
            sampled(1000, "Energy.Active.Import.Register"),
            sampled(15.8, "Current.Import", unit="A", phase="L1"),
        ],
    )


@pytest.fixture
def quick_limit_check(monkeypatch: pytest.MonkeyPatch) -> None:
    """The composite check soon after the write."""
    monkeypatch.setattr(LimitCheck, "verify_delay_s", 0.05)


async def limited_one_phase_car(
    h: Harness, settings: ChargerSettings, preference: RateUnitPreference, station_unit: str
) -> SimStation:
    """A station that takes limits only in ``station_unit``, a user who prefers ``preference``,
    a car charging on L1 only, and a 16 A limit set (checked against the composite schedule
    soon after)."""

    def only(station: SimStation) -> None:
        station.device_model[actual("SmartChargingCtrlr", "RateUnit")] = station_unit

    settings.rate_unit = preference
    h.attach_controller = True
    sim: SimStation = await h.charger_client(setup=only)
    await wait_for(lambda: 3 in sim.profiles)
    await one_phase_car_charging(sim)
    await wait_for(lambda: h.charger.outlets[0].status.charging)
    await h.get_controller().set_limit(16.0)
    return sim


@pytest.mark.parametrize(
    ("preference", "station_unit", "written"),
    [
        # 16 A on L1 is 3680 W (as 1.6 test_watt_only_charger); the station converting an A
        # request over its 3 supply phases sent 11040 W: 48 A on L1.
        (RateUnitPreference.AMPERE, "W", (16 * 230 * 1, "W")),
        # The station got 3680 W / 690 V = 5.3 A for the same 16 A.
        (RateUnitPreference.WATT, "A", (16.0, "A")),
    ],
)
@pytest.mark.usefixtures("quick_limit_check")
async def test_a_preferred_unit_the_station_does_not_take_is_converted_over_the_cars_phases(
    h: Harness,
    settings: ChargerSettings,
    preference: RateUnitPreference,
    station_unit: str,
    written: tuple[float, str],
) -> None:
    sim = await limited_one_phase_car(h, settings, preference, station_unit)
    await wait_for(lambda: live(sim) == written)


@pytest.mark.usefixtures("quick_limit_check")
async def test_w_preference_on_an_a_only_station_verifies_what_it_holds(
    h: Harness, settings: ChargerSettings
) -> None:
    """The check of what the station holds uses the same one conversion as the write: it once
    reported 16 A applied, no mismatch, while the station held 5.3 A."""
    sim = await limited_one_phase_car(h, settings, RateUnitPreference.WATT, "A")
    await wait_for(lambda: live(sim) == (16.0, "A"))
    await wait_for(lambda: h.charger.limit.applied_a is not None)
    assert h.charger.limit.applied_a == 16.0
    assert not h.charger.limit.mismatch


async def test_without_smart_charging_profiles_are_refused_locally(h: Harness) -> None:
    def no_smart_charging(station: SimStation) -> None:
        station.device_model[actual("SmartChargingCtrlr", "Available")] = "false"

    sim: SimStation = await h.charger_client(setup=no_smart_charging)
    assert not h.charger.capabilities.smart_charging
    for command in (
        h.session.set_limit_profile(limit("tx_default")),
        h.session.clear_profiles(),
        h.session.get_composite_limit(1),
    ):
        with pytest.raises(CommandNotSupportedError):
            await command
    assert not sim.actions("SetChargingProfile")


# --- errors ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("code", ["NotSupported", "InternalError", "SecurityError"])
async def test_call_errors_are_rejections(h: Harness, sim: SimStation, code: str) -> None:
    sim.fail_with_error["ChangeAvailability"] = code
    with pytest.raises(CommandRejectedError) as err:
        await h.session.change_availability(1, operative=True)
    assert (err.value.action, err.value.status) == ("ChangeAvailability", code)


async def test_late_answer_then_disconnect(h: Harness, sim: SimStation) -> None:
    sim.delay["ClearCache"] = 2.0
    with pytest.raises(CommandTimeoutError):
        await h.session.clear_cache()
    await asyncio.sleep(1.1)  # the late answer arrives and is dropped
    assert h.session.endpoint.stats.strays_dropped == 1
    await h.session.unlock(1)  # the next CALL is answered as usual
    await sim._connection.close()
    await wait_for(lambda: h.session.closed)
    with pytest.raises(ChargerNotConnectedError):
        await h.session.unlock(1)


# --- the same current-control path as 1.6 ---------------------------------------------------------
def live_limit(sim: SimStation, profile_id: int) -> float:
    schedule = sim.profiles[profile_id]["chargingSchedule"][0]
    return float(schedule["chargingSchedulePeriod"][0]["limit"])


async def test_current_control_writes_the_three_profiles(
    h: Harness, settings: ChargerSettings
) -> None:
    h.attach_controller = True
    sim: SimStation = await h.charger_client()
    await wait_for(lambda: 3 in sim.profiles)
    assert sim.profiles[1]["chargingProfilePurpose"] == "ChargingStationMaxProfile"
    assert live_limit(sim, 1) == settings.installation_max_a
    assert sim.profiles[2]["chargingProfilePurpose"] == "TxDefaultProfile"
    assert sim.profiles[2]["stackLevel"] == settings.base_stack_level
    assert live_limit(sim, 2) == settings.safe_current_a
    assert "duration" not in sim.profiles[2]["chargingSchedule"][0]
    assert sim.profiles[3]["stackLevel"] == settings.live_stack_level
    assert sim.profiles[3]["chargingSchedule"][0]["duration"] > settings.live_limit_duration_s
    controller = h.get_controller()
    await controller.set_limit(10.0)
    assert live_limit(sim, 3) == 10.0
    await wait_for(lambda: h.charger.limit.applied_a == 10.0)  # verified by GetCompositeSchedule
    assert not h.charger.limit.mismatch


async def test_current_control_in_watts_and_with_a_transaction(
    h: Harness, settings: ChargerSettings
) -> None:
    h.attach_controller = True
    settings.rate_unit = RateUnitPreference.WATT
    settings.live_profile_purpose = ProfilePurpose.TX
    sim: SimStation = await h.charger_client()
    await wait_for(lambda: 3 in sim.profiles)
    assert sim.profiles[3]["chargingSchedule"][0]["chargingRateUnit"] == "W"
    await sim.tx_event(
        "Started",
        "tx-abc",
        evse={"id": 1, "connectorId": 1},
        id_token={"idToken": "TAG1", "type": "ISO14443"},
        meter_value=[
            {
                "timestamp": now_iso(),
                "sampledValue": [sampled(1000, "Energy.Active.Import.Register")],
            }
        ],
    )
    # The live limit moves to a TxProfile of that transaction on its EVSE.
    await wait_for(lambda: 4 in sim.profiles)
    tx = sim.profiles[4]
    assert tx["chargingProfilePurpose"] == "TxProfile"
    assert tx["transactionId"] == "tx-abc"
    assert tx["evseId"] == 1
    await h.get_controller().set_limit(8.0, phases=1)
    await wait_for(lambda: live_limit(sim, 4) == 1840)  # 8 A x 230 V x 1 phase, in W
    assert sim.profiles[4]["chargingSchedule"][0]["chargingSchedulePeriod"][0]["numberPhases"] == 1


# --- 2.1 dynamic profiles --------------------------------------------------------------------------
def takes_dynamic_profiles(station: SimStation) -> None:
    """The station reports SmartChargingCtrlr.SupportsFeature[DynamicProfiles] = true and applies
    UpdateDynamicSchedule to the profile it holds."""
    plain = station.report_data

    def report_data() -> list[dict[str, Any]]:
        feature = {
            "component": {"name": "SmartChargingCtrlr"},
            "variable": {"name": "SupportsFeature", "instance": "DynamicProfiles"},
            "variableAttribute": [{"type": "Actual", "mutability": "ReadOnly", "value": "true"}],
        }
        return [*plain(), feature]

    def update(payload: dict[str, Any]) -> dict[str, Any]:
        profile = station.profiles.get(payload["chargingProfileId"])
        if profile is None or profile["chargingProfileKind"] != "Dynamic":
            return {"status": "Rejected", "statusInfo": {"reasonCode": "InvalidProfile"}}
        period = profile["chargingSchedule"][0]["chargingSchedulePeriod"][0]
        period["limit"] = payload["scheduleUpdate"]["limit"]
        return {"status": "Accepted"}

    station.report_data = report_data  # type: ignore[method-assign]
    station.answers["UpdateDynamicSchedule"] = update


async def test_dynamic_live_profile_is_updated_in_place(h: Harness) -> None:
    sim: SimStation = await h.charger_client(setup=takes_dynamic_profiles)
    session = h.session
    await session.set_limit_profile(limit("tx_default", duration_s=900))
    await session.set_limit_profile(limit("tx_default", duration_s=900, limit=10.0))
    assert await session.get_composite_limit(1, 60, A) == 10.0
    await session.set_limit_profile(limit("charger_max", limit=25.0))  # never dynamic
    await session.set_limit_profile(
        limit("tx_default", duration_s=900, start=datetime.now(UTC), profile_id=7, stack_level=2)
    )  # a start of its own: an ordinary profile
    if h.subprotocol == "ocpp2.0.1":  # 2.0.1 has no dynamic profiles: every change a new profile
        assert not sim.actions("UpdateDynamicSchedule")
        assert len(sim.actions("SetChargingProfile")) == 4
        assert {p["chargingProfileKind"] for p in sim.profiles.values()} == {"Absolute"}
        return
    assert sim.profiles[3]["chargingProfileKind"] == "Dynamic"
    assert sim.actions("UpdateDynamicSchedule") == [
        {"chargingProfileId": 3, "scheduleUpdate": {"limit": 10.0}}
    ]
    assert len(sim.actions("SetChargingProfile")) == 3
    assert sim.profiles[1]["chargingProfileKind"] == "Absolute"
    assert sim.profiles[7]["chargingProfileKind"] == "Absolute"
    # Another shape (1-phase charging): written anew.
    await session.set_limit_profile(limit("tx_default", duration_s=900, number_phases=1))
    assert len(sim.actions("SetChargingProfile")) == 4
    # The station lost it (or refuses the update): written anew.
    del sim.profiles[3]
    await session.set_limit_profile(limit("tx_default", duration_s=900, number_phases=1, limit=9))
    assert len(sim.actions("UpdateDynamicSchedule")) == 2
    assert len(sim.actions("SetChargingProfile")) == 5
    assert live_limit(sim, 3) == 9.0
    # Past a quarter of its window it is written anew, which renews its duration.
    await session.set_limit_profile(limit("tx_default", duration_s=1, limit=8))
    await asyncio.sleep(0.3)
    await session.set_limit_profile(limit("tx_default", duration_s=1, limit=7))
    assert len(sim.actions("SetChargingProfile")) == 7
    assert len(sim.actions("UpdateDynamicSchedule")) == 2


async def test_without_the_feature_no_dynamic_profile(h: Harness) -> None:
    sim = await h.charger_client()
    await h.session.set_limit_profile(limit("tx_default", duration_s=900))
    await h.session.set_limit_profile(limit("tx_default", duration_s=900, limit=10.0))
    assert not sim.actions("UpdateDynamicSchedule")
    assert sim.profiles[3]["chargingProfileKind"] == "Absolute"


async def test_energy_manager_setpoints_reach_a_dynamic_profile(
    h: Harness, settings: ChargerSettings
) -> None:
    h.attach_controller = True
    sim: SimStation = await h.charger_client(setup=takes_dynamic_profiles)
    await wait_for(lambda: 3 in sim.profiles)
    controller = h.get_controller()
    for amps in (12.0, 9.5, 14.0):
        await controller.set_limit(amps)
        assert live_limit(sim, 3) == amps
    updates = len(sim.actions("UpdateDynamicSchedule"))
    assert updates == (3 if h.subprotocol == "ocpp2.1" else 0)
    await wait_for(lambda: h.charger.limit.applied_a == 14.0)
