"""V16Session, central system -> charger: every ChargerSession command and its error mapping."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from custom_components.ocpp_ems.core.directory import Admission
from custom_components.ocpp_ems.core.errors import (
    ChargerNotConnectedError,
    CommandNotSupportedError,
    CommandRejectedError,
    CommandTimeoutError,
    InvalidCommandError,
)
from custom_components.ocpp_ems.core.model import Charger, ChargingRateUnit
from custom_components.ocpp_ems.core.protocol import v16
from custom_components.ocpp_ems.core.protocol.profiles import PROFILE_START_BACKDATE
from custom_components.ocpp_ems.core.protocol.v16 import (
    V16Session,
    build_limit_profile,
    capabilities_from_configuration,
    redact,
)
from custom_components.ocpp_ems.core.session import (
    CompositeSchedule,
    LimitRequest,
    SchedulePeriod,
    SessionContext,
)
from custom_components.ocpp_ems.core.settings import ChargerSettings, ServerSettings

from .fakes import MemoryDirectory
from .v16_harness import Harness, SimCharger, protocol_harness, wait_for

BACKDATE_S = int(PROFILE_START_BACKDATE.total_seconds())  # profiles.py


@pytest.fixture
async def h(
    socket_enabled: None, directory: MemoryDirectory, server_settings: ServerSettings
) -> AsyncIterator[Harness]:
    server_settings.response_timeout_s = 1.0
    async with protocol_harness(directory, server_settings) as harness:
        yield harness


@pytest.fixture
async def sim(h: Harness) -> SimCharger:
    return await h.charger_client()


async def test_core_commands(h: Harness, sim: SimCharger) -> None:
    session = h.session
    await session.reset()
    await session.reset(hard=True)
    assert [p["type"] for p in sim.actions("Reset")] == ["Soft", "Hard"]
    await session.unlock(1)
    await session.remote_start(1, "TAG1")
    await session.remote_start(0, "TAG1")
    starts = sim.actions("RemoteStartTransaction")
    assert starts[0] == {"id_tag": "TAG1", "connector_id": 1}
    assert starts[1] == {"id_tag": "TAG1"}
    await session.remote_stop("17")
    assert sim.actions("RemoteStopTransaction") == [{"transaction_id": 17}]
    with pytest.raises(CommandRejectedError):
        await session.remote_stop("not-a-number")


async def test_availability_and_cache(h: Harness, sim: SimCharger) -> None:
    session = h.session
    assert await session.change_availability(None, operative=False) == "Accepted"
    assert await session.change_availability(2, operative=True) == "Accepted"
    assert sim.actions("ChangeAvailability") == [
        {"connector_id": 0, "type": "Inoperative"},  # 0: the whole charger
        {"connector_id": 2, "type": "Operative"},
    ]
    sim.status_override["ChangeAvailability"] = "Scheduled"  # after the running transaction
    assert await session.change_availability(1, operative=False) == "Scheduled"
    sim.status_override["ChangeAvailability"] = "Rejected"
    with pytest.raises(CommandRejectedError) as err:
        await session.change_availability(1, operative=False)
    assert (err.value.action, err.value.status) == ("ChangeAvailability", "Rejected")

    await session.clear_cache()
    assert sim.actions("ClearCache") == [{}]
    sim.status_override["ClearCache"] = "Rejected"
    with pytest.raises(CommandRejectedError) as err:
        await session.clear_cache()
    assert (err.value.action, err.value.status) == ("ClearCache", "Rejected")


async def test_configuration_commands(h: Harness, sim: SimCharger) -> None:
    session = h.session
    sim.config["AuthorizationKey"] = "secret"
    result = await session.get_configuration(["HeartbeatInterval", "AuthorizationKey", "Nope"])
    assert result["configuration"]["HeartbeatInterval"] == {"value": "300", "readonly": False}
    assert result["configuration"]["AuthorizationKey"]["value"] is None  # never exposed
    assert result["unknown"] == ["Nope"]
    assert await session.set_configuration("HeartbeatInterval", "120") == "Accepted"
    assert h.charger.configuration["HeartbeatInterval"] == "120"
    sim.status_override["ChangeConfiguration"] = "RebootRequired"
    assert await session.set_configuration("HeartbeatInterval", "60") == "RebootRequired"
    with pytest.raises(CommandRejectedError) as err:
        await session.set_configuration("Unknown", "1")
    assert err.value.status == "NotSupported"


async def test_trigger_and_data_transfer(h: Harness, sim: SimCharger) -> None:
    await h.session.trigger_message("StatusNotification", 1)
    assert sim.actions("TriggerMessage")[-1] == {
        "requested_message": "StatusNotification",
        "connector_id": 1,
    }
    sim.status_override["TriggerMessage"] = "NotImplemented"
    with pytest.raises(CommandRejectedError):
        await h.session.trigger_message("Heartbeat")
    answer = await h.session.data_transfer("acme", "ping", "x")
    assert answer == {"status": "Accepted", "data": "pong"}
    sim.status_override["DataTransfer"] = "UnknownVendorId"
    assert (await h.session.data_transfer("other", None, None))["status"] == "UnknownVendorId"


async def test_firmware_and_diagnostics(h: Harness, sim: SimCharger) -> None:
    when = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
    await h.session.update_firmware("https://fw/x.bin", when, retries=3)
    assert sim.actions("UpdateFirmware") == [
        {"location": "https://fw/x.bin", "retrieve_date": "2030-01-02T03:04:05.000Z", "retries": 3}
    ]
    assert await h.session.request_diagnostics("ftp://diag") == "diag.zip"


async def test_local_list_and_reservation(h: Harness, sim: SimCharger) -> None:
    session = h.session
    tags = [f"T{i}" for i in range(60)]
    await session.send_local_list(tags, 5)
    # SendLocalListMaxLength (50) is per message, LocalAuthListMaxLength (100) what it stores: a
    # Full update with the first 50, a Differential one with the rest; only that one is version 5.
    full, rest = sim.actions("SendLocalList")[-2:]
    assert (full["update_type"], full["list_version"]) == ("Full", 4)
    assert [e["id_tag"] for e in full["local_authorization_list"]] == tags[:50]
    assert (rest["update_type"], rest["list_version"]) == ("Differential", 5)
    assert [e["id_tag"] for e in rest["local_authorization_list"]] == tags[50:]
    assert await session.get_local_list_version() == 5
    sim.status_override["SendLocalList"] = "VersionMismatch"
    with pytest.raises(CommandRejectedError) as err:
        await session.send_local_list(["A"], 6)
    assert err.value.status == "VersionMismatch"
    await session.reserve_now(1, "TAG1", datetime.now(UTC) + timedelta(hours=1), 7)
    assert sim.actions("ReserveNow")[0]["reservation_id"] == 7
    await session.cancel_reservation(7)
    sim.status_override["ReserveNow"] = "Occupied"
    with pytest.raises(CommandRejectedError):
        await session.reserve_now(1, "TAG1", datetime.now(UTC), 8)


async def test_local_list_leaves_out_only_the_tags_1_6_cannot_carry(
    h: Harness, sim: SimCharger, caplog: pytest.LogCaptureFixture
) -> None:
    """1.6 idTag is CiString20 (printable ASCII): a longer tag (a 2.x contract id) is left out,
    logged once, and the other tags still get there (our schema check would refuse the whole
    list)."""
    long_tag = "DEABC1234567890123456X"  # 22 characters
    await h.session.send_local_list(["TAG1", long_tag, "TAG\u00c42", "TAG3"], 5)
    sent = sim.actions("SendLocalList")[-1]
    assert [e["id_tag"] for e in sent["local_authorization_list"]] == ["TAG1", "TAG3"]
    assert (sent["update_type"], sent["list_version"]) == ("Full", 5)
    left_out = [r for r in caplog.records if "left out of the local list" in r.getMessage()]
    assert len(left_out) == 1
    assert long_tag in left_out[0].getMessage()


async def test_local_list_is_capped_at_what_the_charger_stores(
    h: Harness, sim: SimCharger, caplog: pytest.LogCaptureFixture
) -> None:
    tags = [f"T{i}" for i in range(120)]  # LocalAuthListMaxLength 100, 50 per message
    await h.session.send_local_list(tags, 9)
    full, rest = sim.actions("SendLocalList")[-2:]
    assert [(m["update_type"], m["list_version"]) for m in (full, rest)] == [
        ("Full", 8),
        ("Differential", 9),
    ]
    held = [e["id_tag"] for m in (full, rest) for e in m["local_authorization_list"]]
    assert held == tags[:100]
    assert "sending the first 100" in caplog.text


async def test_provisioned_local_list_survives_one_overlong_tag(
    h: Harness, directory: MemoryDirectory, settings: ChargerSettings
) -> None:
    """A 2.x contract id of 21..36 characters in the server's tag list: 1.6 chargers still get
    all the other tags at connect."""
    directory.id_tags.add("DEABC1234567890123456X")  # 22 characters
    sim = await h.charger_client()
    await wait_for(lambda: sim.actions("SendLocalList"))
    tags = [e["id_tag"] for e in sim.actions("SendLocalList")[-1]["local_authorization_list"]]
    assert "TAG1" in tags


async def test_provisioned_local_list_longer_than_one_message_reaches_the_charger(
    h: Harness, directory: MemoryDirectory, settings: ChargerSettings
) -> None:
    """60 tags, 50 per message, 100 stored: all 60 get there (a Full update plus a Differential
    one), not just the first 50."""
    directory.id_tags.update(f"T{i:02d}" for i in range(59))  # + TAG1 = 60
    directory.local_list_version = 7
    sim = await h.charger_client()
    await wait_for(lambda: len(sim.actions("SendLocalList")) >= 2)
    versions = [(m["update_type"], m["list_version"]) for m in sim.actions("SendLocalList")]
    assert versions == [("Full", 6), ("Differential", 7)]
    held: set[str] = set()
    for sent in sim.actions("SendLocalList"):
        entries = {e["id_tag"] for e in sent.get("local_authorization_list") or []}
        held = entries if sent["update_type"] == "Full" else held | entries
    assert len(held) == 60


async def test_smart_charging_commands(h: Harness, sim: SimCharger) -> None:
    session = h.session
    await session.set_limit_profile(
        LimitRequest(
            profile_id=3,
            stack_level=1,
            purpose="tx_default",
            connector_id=0,
            limit=6.25,  # rounded to the schema's 0.1 A
            unit=ChargingRateUnit.AMPERE,
            number_phases=1,
            duration_s=300,
        )
    )
    profile = sim.actions("SetChargingProfile")[-1]["cs_charging_profiles"]
    period = profile["charging_schedule"]["charging_schedule_period"][0]
    assert float(period["limit"]) == 6.2  # the charger's library parses the schedule as Decimal
    assert period["number_phases"] == 1
    assert profile["charging_schedule"]["duration"] == 300 + BACKDATE_S
    assert profile["charging_profile_purpose"] == "TxDefaultProfile"
    assert await session.get_composite_limit(1, 60, ChargingRateUnit.AMPERE) == 6.2
    await session.set_limit_profile(
        LimitRequest(
            profile_id=1,
            stack_level=0,
            purpose="charger_max",
            connector_id=1,
            limit=11040.4,
            unit=ChargingRateUnit.WATT,
        )
    )
    last = sim.actions("SetChargingProfile")[-1]
    assert last["connector_id"] == 0  # ChargePointMaxProfile lives on connector 0
    sent_period = last["cs_charging_profiles"]["charging_schedule"]["charging_schedule_period"][0]
    assert sent_period == {"start_period": 0, "limit": 11040}
    await session.set_raw_profile(
        1,
        {
            "chargingProfileId": 9,
            "stackLevel": 2,
            "chargingProfilePurpose": "TxDefaultProfile",
            "chargingProfileKind": "Absolute",
            "chargingSchedule": {
                "chargingRateUnit": "A",
                "startSchedule": "2024-01-01T00:00:00Z",
                "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 10.0}],
            },
        },
    )
    assert 9 in sim.profiles
    await session.clear_profiles(profile_id=9)
    assert 9 not in sim.profiles
    await session.clear_profiles(purpose="tx_default", stack_level=1)
    with pytest.raises(CommandRejectedError) as err:
        await session.clear_profiles(profile_id=99)
    assert err.value.status == "Unknown"
    sim.profiles.clear()
    assert await session.get_composite_limit(1) is None  # no schedule
    sim.status_override["GetCompositeSchedule"] = "Rejected"
    with pytest.raises(CommandRejectedError):
        await session.get_composite_limit(1)


async def test_composite_in_other_unit_is_not_compared(h: Harness, sim: SimCharger) -> None:
    sim.composite_override = 4000
    assert await h.session.get_composite_limit(1, 60, ChargingRateUnit.WATT) == 4000
    sim.status_override.clear()


async def test_composite_schedule_as_answered(h: Harness, sim: SimCharger) -> None:
    """Every period with its phases, ordered by the charger or not; the schedule's own start
    where the answer has no scheduleStart; asked in the charger's unit when none is named."""
    sim.composite_answer = {
        "connector_id": 0,
        "charging_schedule": {
            "duration": 600,
            "start_schedule": "2026-01-01T10:00:00Z",
            "charging_rate_unit": "W",
            "charging_schedule_period": [
                {"start_period": 300, "limit": 4140, "number_phases": 3},
                {"start_period": 0, "limit": 11040},
            ],
        },
    }
    schedule = await h.session.get_composite_schedule(0, 600)
    assert sim.actions("GetCompositeSchedule")[-1] == {
        "connector_id": 0,
        "duration": 600,
        "unit": None,
    }
    assert schedule == CompositeSchedule(
        connector_id=0,
        unit=ChargingRateUnit.WATT,
        start=datetime(2026, 1, 1, 10, tzinfo=UTC),
        duration_s=600,
        periods=(
            SchedulePeriod(start_s=300, limit=4140.0, phases=3),
            SchedulePeriod(start_s=0, limit=11040.0),
        ),
    )
    assert schedule.first == SchedulePeriod(start_s=0, limit=11040.0)
    # The limit now in A: answered in W, not compared.
    assert await h.session.get_composite_limit(0, 600, ChargingRateUnit.AMPERE) is None
    # Accepted without a schedule: none.
    sim.composite_answer = {}
    assert await h.session.get_composite_schedule(1, 60) is None


def test_build_limit_profile_tx_and_start() -> None:
    now = datetime(2025, 5, 1, 12, 0, tzinfo=UTC)
    profile = build_limit_profile(
        LimitRequest(
            profile_id=4,
            stack_level=2,
            purpose="tx",
            connector_id=1,
            limit=16.04,
            unit=ChargingRateUnit.AMPERE,
            transaction_id="123",
        ),
        now,
    )
    assert profile["transactionId"] == 123
    assert profile["chargingProfilePurpose"] == "TxProfile"
    assert profile["chargingSchedule"]["startSchedule"] == "2025-05-01T11:00:00.000Z"
    assert profile["chargingSchedule"]["chargingSchedulePeriod"][0]["limit"] == 16.0
    assert isinstance(profile["chargingSchedule"]["chargingSchedulePeriod"][0]["limit"], float)
    assert "duration" not in profile["chargingSchedule"]


def test_capabilities_from_configuration_defaults_and_aliases() -> None:
    caps = capabilities_from_configuration(
        {
            "SupportedFeatureProfiles": "Core; SmartCharging LocalAuthList firmware Custom",
            "ChargingScheduleAllowedChargingRateUnit": "Power",
            "ChargeProfileMaxStackLevel": "x",
        }
    )
    assert caps.supported_profiles == {
        "Core",
        "SmartCharging",
        "LocalAuthListManagement",
        "FirmwareManagement",
        "Custom",
    }
    assert caps.rate_units == {ChargingRateUnit.WATT}
    assert caps.max_stack_level is None  # not a number: not reported
    assert caps.number_of_connectors == 1
    assert capabilities_from_configuration({}).rate_units == frozenset()  # not reported


@pytest.mark.parametrize(
    ("reported", "counted"), [("2", 2), ("1000000000", 32), ("0", 1), ("-3", 1), ("x", 1)]
)
def test_the_number_of_connectors_is_plausible(reported: str, counted: int) -> None:
    """Every outlet counted becomes entities: a charger's NumberOfConnectors of 10**9 (a fault or
    an attack) counts as 32 (MAX_CONNECTORS), none or below 1 as the default 1."""
    config = {"NumberOfConnectors": reported}
    assert capabilities_from_configuration(config).number_of_connectors == counted


def test_redact() -> None:
    frame = '[2,"1","ChangeConfiguration",{"key":"AuthorizationKey","value":"abcdef"}]'
    assert "abcdef" not in redact(frame)
    reply = '[3,"1",{"configurationKey":[{"value":"abcdef","key":"AuthorizationKey"}]}]'
    assert "abcdef" not in redact(reply)
    assert redact('{"key":"Other","value":"x"}') == '{"key":"Other","value":"x"}'


async def test_unsupported_feature_profile(h: Harness, sim: SimCharger) -> None:
    h.charger.capabilities = capabilities_from_configuration({"SupportedFeatureProfiles": "Core"})
    for command in (
        h.session.get_local_list_version(),
        h.session.request_diagnostics("x"),
        h.session.cancel_reservation(1),
        h.session.get_composite_limit(1),
        h.session.trigger_message("Heartbeat"),
    ):
        with pytest.raises(CommandNotSupportedError):
            await command
    # Both are Core: still sent.
    assert await h.session.change_availability(1, operative=True) == "Accepted"
    await h.session.clear_cache()


async def test_call_error_and_timeout(h: Harness, sim: SimCharger) -> None:
    sim.fail_with_error.add("Reset")
    with pytest.raises(CommandRejectedError) as err:
        await h.session.reset()
    assert err.value.status == "NotSupported"
    sim.delay["GetConfiguration"] = 2.0
    with pytest.raises(CommandTimeoutError):
        await h.session.get_configuration()
    sim.delay.clear()
    await asyncio.sleep(1.2)  # let the late answer arrive; it must not confuse the next call
    assert (await h.session.get_configuration(["HeartbeatInterval"]))["configuration"]


async def test_payload_breaking_the_schema_is_not_sent(h: Harness, sim: SimCharger) -> None:
    """Our own bad payload (e.g. user input) is refused before sending: not a charger answer."""
    changes, profiles = (
        len(sim.actions("ChangeConfiguration")),
        len(sim.actions("SetChargingProfile")),
    )
    with pytest.raises(InvalidCommandError) as err:
        await h.session.set_configuration("K" * 51, "1")
    assert err.value.action == "ChangeConfiguration"
    with pytest.raises(InvalidCommandError):
        await h.session.set_raw_profile(1, {"chargingProfileId": 1, "chargingSchedule": {}})
    # A refused secret is not quoted back (the library's detail contains the value).
    with pytest.raises(InvalidCommandError) as err:
        await h.session.set_configuration("AuthorizationKey", "f" * 501)
    assert "f" * 20 not in str(err.value)
    assert len(sim.actions("ChangeConfiguration")) == changes
    assert len(sim.actions("SetChargingProfile")) == profiles
    # The session is still usable, and a charger's CallError stays a rejection.
    sim.fail_with_error.add("Reset")
    with pytest.raises(CommandRejectedError):
        await h.session.reset()


async def test_close_fails_pending_calls_at_once(h: Harness, sim: SimCharger) -> None:
    h.settings.response_timeout_s = 30
    sim.delay["RemoteStopTransaction"] = 10
    session = h.session
    session.endpoint.timeout_s = 30  # this session was built with the fixture's 1 s
    pending = asyncio.ensure_future(session.remote_stop("1"))
    await wait_for(lambda: sim.actions("RemoteStopTransaction"))
    loop = asyncio.get_running_loop()
    started = loop.time()
    await session.close()
    with pytest.raises(ChargerNotConnectedError):
        await pending
    assert loop.time() - started < 1.0
    with pytest.raises(ChargerNotConnectedError):
        await session.reset()


async def test_disconnect_fails_pending_calls(h: Harness, sim: SimCharger) -> None:
    sim.delay["RemoteStopTransaction"] = 10
    session = h.session
    session.endpoint.timeout_s = 30
    pending = asyncio.ensure_future(session.remote_stop("1"))
    await wait_for(lambda: sim.actions("RemoteStopTransaction"))
    await sim._connection.close()
    with pytest.raises(ChargerNotConnectedError):
        async with asyncio.timeout(2):
            await pending


async def test_caller_cancellation_is_not_disconnect(h: Harness, sim: SimCharger) -> None:
    sim.delay["RemoteStopTransaction"] = 10
    pending = asyncio.ensure_future(h.session.remote_stop("1"))
    await wait_for(lambda: sim.actions("RemoteStopTransaction"))
    pending.cancel()
    with pytest.raises(asyncio.CancelledError):
        await pending


def test_session_module_exports() -> None:
    assert V16Session.ocpp_version == "1.6"
    assert v16.PENDING_RETRY_S > 0


async def answer_next_call(ws: ClientConnection, payload: Any) -> list[Any]:
    """Read the session's next CALL on a raw socket and answer it with ``payload`` (or an error)."""
    async with asyncio.timeout(5):
        frame = json.loads(await ws.recv())
    if isinstance(payload, list):
        await ws.send(json.dumps([4, frame[1], *payload]))
    else:
        await ws.send(json.dumps([3, frame[1], payload]))
    result: list[Any] = frame
    return result


async def test_raw_answers(h: Harness) -> None:
    ws = await h.raw()
    session = h.session
    pending = asyncio.ensure_future(session.reset())
    await answer_next_call(ws, ["NoSuchErrorCode", "odd", {}])
    with pytest.raises(CommandRejectedError) as err:
        await pending
    assert err.value.status == "NoSuchErrorCode"  # passed on as the charger wrote it

    pending_limit = asyncio.ensure_future(session.get_composite_limit(1, 60, ChargingRateUnit.WATT))
    frame = await answer_next_call(
        ws,
        {
            "status": "Accepted",
            "chargingSchedule": {
                "chargingRateUnit": "A",
                "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 10}],
            },
        },
    )
    assert frame[3] == {"connectorId": 1, "duration": 60, "chargingRateUnit": "W"}
    assert await pending_limit is None  # other unit than asked: not comparable

    pending_limit = asyncio.ensure_future(session.get_composite_limit(1))
    await answer_next_call(
        ws,
        {
            "status": "Accepted",
            "chargingSchedule": {
                "chargingRateUnit": "A",
                "chargingSchedulePeriod": [
                    {"startPeriod": 600, "limit": 8},
                    {"startPeriod": 0, "limit": 13.5},
                ],
            },
        },
    )
    assert await pending_limit == 13.5


async def test_send_on_a_dead_socket(directory: MemoryDirectory) -> None:
    class DeadConnection:
        async def recv(self) -> str:
            raise ConnectionClosed(None, None)

        async def send(self, message: str) -> None:
            raise ConnectionClosed(None, None)

        async def close(self) -> None:
            pass

    context = SessionContext(
        directory=directory,
        server_settings=ServerSettings(),
        admission=lambda: Admission.ACCEPTED,
        charger_settings=ChargerSettings,
        request_save=lambda: None,
        on_booted=lambda: None,
    )
    session = V16Session(DeadConnection(), Charger(charger_id="dead"), context)
    with pytest.raises(ChargerNotConnectedError):
        await session.reset()
    await session.provisioning.setup()  # gives up quietly: no boot reported
    assert not session.charger.booted
    context.server_settings.boot_trigger_after_s = 0
    await session.provisioning.boot_watchdog()
    await session.run()  # returns at once: the socket is closed
    assert session.closed
    await session.close()


def test_build_limit_profile_with_explicit_start() -> None:
    start = datetime(2025, 1, 1, tzinfo=UTC)
    profile = build_limit_profile(
        LimitRequest(
            profile_id=1,
            stack_level=0,
            purpose="tx_default",
            connector_id=0,
            limit=-3,
            unit=ChargingRateUnit.WATT,
            duration_s=100,
            start=start,
        )
    )
    schedule = profile["chargingSchedule"]
    assert schedule["startSchedule"] == "2025-01-01T00:00:00.000Z"
    assert schedule["duration"] == 100
    assert schedule["chargingSchedulePeriod"][0]["limit"] == 0
