"""The development simulator (``scripts/simulate_charger.py``, package ``scripts/charger_sim``)
against the real CentralSystem, in every OCPP version it speaks: what ``scripts/develop`` shows
without Home Assistant.

Per version: an unknown station boots Pending, the user accepts it, it takes the Basic-auth password
and comes back with it, the server reads what it can do, the car charges with meter values, a limit
the server writes reaches the simulated car (and shows in the next meter values), a remote stop
ends the session. Every CALL the simulator sends and every answer it gives goes through the
``ocpp`` package's schema validation, and the simulator must log no warning (no refused profile, no
CALLERROR, no failed follow-up). A version switch keeps the charger's id, register and password.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from pathlib import Path

import pytest

from custom_components.ocpp_ems.core.directory import Admission
from custom_components.ocpp_ems.core.errors import CommandRejectedError
from custom_components.ocpp_ems.core.model import ChargingRateUnit, ConnectorStatus
from custom_components.ocpp_ems.core.server import CentralSystem
from custom_components.ocpp_ems.core.session import ChargerSession
from custom_components.ocpp_ems.core.settings import ServerSettings
from scripts.charger_sim import make_station
from scripts.charger_sim.model import CAR_MAX_A, PHASES, VOLTAGE, now
from scripts.charger_sim.station import Station
from tests.helpers.charger import wait_for

from .conftest import MakeCentral
from .fakes import MemoryDirectory

CHARGER_ID = "SIM-CHARGER-1"
ID_TAG = "SIM-TAG-1"
PASSWORD = "0123456789abcdef0123456789abcdef"
LIMIT_A = 10.0
TIMEOUT_S = 20.0
VERSIONS = ("1.6", "2.0.1", "2.1")


def station_args(version: str, url: str, state_file: Path) -> argparse.Namespace:
    return argparse.Namespace(
        url=url,
        ocpp=version,
        interval=0.3,
        id_tag=ID_TAG,
        plug_in_after=0.2,
        reconnect_delay=0.2,
        state_file=str(state_file),
        boot_on_reconnect=False,
        iso15118=version != "1.6",
    )


@contextlib.asynccontextmanager
async def running(station: Station) -> AsyncIterator[Station]:
    station.password_reconnect_s = 0.2
    station.step_s = 0.05
    task = asyncio.create_task(station.run_forever())
    try:
        yield station
    finally:
        station.stopping.set()
        try:
            async with asyncio.timeout(10):
                await task
        except TimeoutError:
            task.cancel()


async def wait_until(predicate: Callable[[], object], what: str) -> None:
    await wait_for(predicate, TIMEOUT_S, what)


@pytest.fixture
def server_settings() -> ServerSettings:
    # A 2.x station that reconnects with its new password does not boot again (it booted before):
    # the server's boot watchdog (TriggerMessage, refused, then setup) runs after 0.5 s, not 30.
    return ServerSettings(host="127.0.0.1", port=0, boot_trigger_after_s=0.5)


@pytest.fixture
async def central(
    make_central: MakeCentral, directory: MemoryDirectory, caplog: pytest.LogCaptureFixture
) -> CentralSystem:
    """The server the simulator talks to; ``ID_TAG`` is allowed and the simulator's log kept."""
    caplog.set_level(logging.INFO, logger="simulate_charger")
    directory.id_tags.add(ID_TAG)
    return await make_central()


def simulator(central: CentralSystem, version: str, state_file: Path, **args: object) -> Station:
    """The simulator as ``CHARGER_ID`` speaking ``version`` to ``central`` (``args``: changes to
    its command line)."""
    url = f"ws://127.0.0.1:{central.port}/{CHARGER_ID}"
    namespace = station_args(version, url, state_file)
    vars(namespace).update(args)
    return make_station(namespace)


def sim_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        record.getMessage()
        for record in caplog.records
        if record.name == "simulate_charger"
        and record.levelno >= logging.WARNING
        # Connections end when the test ends or the station reconnects with its password.
        and "Connection to" not in record.getMessage()
    ]


@contextlib.asynccontextmanager
async def known_without_car(
    central: CentralSystem, directory: MemoryDirectory, version: str, tmp_path: Path
) -> AsyncIterator[tuple[Station, ChargerSession]]:
    """An accepted simulator with no car (unless the test starts one), running and set up by the
    server; its session."""
    directory.admissions[CHARGER_ID] = Admission.ACCEPTED
    station = simulator(central, version, tmp_path / "s", plug_in_after=3600)
    async with running(station):
        charger = central.charger(CHARGER_ID)
        await wait_until(
            lambda: charger.capabilities.smart_charging and charger.capabilities.local_auth_list,
            "the setup",
        )
        session = central.session(CHARGER_ID)
        assert session is not None
        yield station, session


async def onboard(central: CentralSystem, directory: MemoryDirectory, station: Station) -> None:
    """Pending boot -> accepted by the user -> password -> back with Basic auth and set up."""
    charger_id = station.charger_id
    await wait_until(lambda: directory.pending, "the pending-charger callback")
    await wait_until(lambda: station.last_boot_status == "Pending", "the Pending boot")
    assert directory.pending[0][0] == charger_id
    info = directory.pending[0][1]
    assert (info.vendor, info.model, info.serial_number) == (
        "Simulated",
        "OCPP EMS Dev Wallbox",
        "SIM-0001",
    )

    directory.accept(charger_id, password=PASSWORD)
    await central.accept_charger(charger_id)
    await wait_until(lambda: station.state.password == PASSWORD, "the password in the simulator")
    charger = central.charger(charger_id)
    await wait_until(lambda: charger.auth_committed, "a login with the new password")
    assert charger_id in directory.auth_successes
    assert not directory.auth_failures
    assert station.last_boot_status == "Accepted"


async def charge_with_limit(central: CentralSystem, station: Station) -> None:
    """A session with meter values; a limit from the server reaches the car; remote stop.
    (2.x: the car's ISO 15118 charging needs reach the model.)"""
    charger_id = station.charger_id
    charger = central.charger(charger_id)
    connector = charger.connector(1)
    await wait_until(
        lambda: connector.transaction is not None and station.state.transaction_id is not None,
        "the transaction in the model and in the simulator",
    )
    transaction = connector.transaction
    assert transaction is not None
    assert transaction.transaction_id == str(station.state.transaction_id)
    assert transaction.id_tag == ID_TAG

    # What the server learnt of the station after boot (1.6 configuration, 2.x device model).
    await wait_until(lambda: charger.capabilities.smart_charging, "smart-charging capabilities")
    assert charger.capabilities.max_stack_level == 8
    assert charger.capabilities.rate_units == {ChargingRateUnit.AMPERE, ChargingRateUnit.WATT}
    assert charger.capabilities.number_of_connectors == 1

    await central.current_control(charger_id).set_limit(LIMIT_A)
    await wait_until(lambda: station.state.offered_a() == LIMIT_A, "the limit in the simulator")
    await wait_until(lambda: station.state.drawn_a == LIMIT_A, "the car drawing the limit")
    meter = connector.meter
    expected_w = LIMIT_A * VOLTAGE * PHASES
    await wait_until(
        lambda: meter.offered_current_a == LIMIT_A and meter.power_w == pytest.approx(expected_w),
        f"Current.Offered {LIMIT_A} A and {expected_w} W in the model",
    )
    assert meter.current_a.l1 == pytest.approx(LIMIT_A, abs=0.2)
    assert meter.voltage_v.l3 == pytest.approx(VOLTAGE, abs=3)
    assert meter.soc_percent is not None
    register = meter.energy_register_wh
    assert register is not None
    assert register >= transaction.meter_start_wh

    if station.version != "1.6":
        await wait_until(lambda: connector.ev_charging_needs is not None, "the charging needs")

    # Above the car's maximum the car takes its maximum.
    await central.current_control(charger_id).set_limit(20.0)
    await wait_until(lambda: station.state.drawn_a == CAR_MAX_A, "the car at its maximum")

    session = central.session(charger_id)
    assert session is not None
    await session.remote_stop(transaction.transaction_id)
    await wait_until(lambda: connector.transaction is None, "the end of the transaction")
    assert station.state.transaction_id is None
    assert connector.last_transaction is not None
    assert connector.last_transaction.transaction_id == transaction.transaction_id


@pytest.mark.parametrize("version", VERSIONS)
async def test_simulator_whole_session(
    version: str,
    central: CentralSystem,
    directory: MemoryDirectory,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    station = simulator(central, version, tmp_path / "sim.json")
    async with running(station):
        await onboard(central, directory, station)
        charger = central.charger(station.charger_id)
        assert charger.ocpp_version == station.subprotocol
        assert charger.info.firmware_version == "1.0.0-sim"
        await charge_with_limit(central, station)
        if version != "1.6":
            # The device model arrived over several NotifyReport pages.
            assert charger.configuration["SmartChargingCtrlr.RateUnit"] == "A,W"
            assert charger.configuration.get("SecurityCtrlr.BasicAuthPassword") is None
    assert sim_warnings(caplog) == []


async def test_version_switch_keeps_id_and_password(
    central: CentralSystem,
    directory: MemoryDirectory,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """scripts/develop with SIM_OCPP changed: the same charger, register and password."""
    state_file = tmp_path / "sim.json"
    first = simulator(central, "1.6", state_file)
    async with running(first):
        await onboard(central, directory, first)
        await wait_until(
            lambda: central.charger(first.charger_id).connector(1).transaction is not None,
            "a 1.6 transaction",
        )
    register = first.state.energy_wh
    charger = central.charger(first.charger_id)

    for version in ("2.0.1", "2.1", "1.6"):
        station = simulator(central, version, state_file)
        assert station.state.password == PASSWORD
        assert station.state.energy_wh == pytest.approx(register, abs=0.1)
        async with running(station):
            await wait_until(
                lambda station=station: charger.ocpp_version == station.subprotocol
                and charger.connected
                and station.booted.is_set(),
                f"the station back as OCPP {version}",
            )
            await wait_until(
                lambda station=station: station.state.transaction_id is not None
                and getattr(charger.connector(1).transaction, "transaction_id", None)
                == str(station.state.transaction_id),
                f"a {version} transaction",
            )
            assert station.last_boot_status == "Accepted"
        register = station.state.energy_wh
    assert not directory.auth_failures
    assert sim_warnings(caplog) == []


@pytest.mark.parametrize("version", VERSIONS)
async def test_simulator_answers_every_command(
    version: str,
    central: CentralSystem,
    directory: MemoryDirectory,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Each HA action's command, sent by the server's adapter, and its effect on the station."""
    async with known_without_car(central, directory, version, tmp_path) as (station, session):
        charger = central.charger(CHARGER_ID)
        connector = charger.connector(1)
        # The setup synced the local list.
        await wait_until(lambda: station.state.local_list_version == 1, "the local list")
        assert station.state.local_list == {ID_TAG: "Accepted"}
        assert await session.get_local_list_version() == 1

        answer = await session.data_transfer("Simulated", "ping", "hello")
        assert answer["status"] == "Accepted"

        assert await session.set_configuration("HeartbeatInterval", "120") == "Accepted"
        assert station.heartbeat_interval() == 120
        read = await session.get_configuration(["HeartbeatInterval"])
        assert next(iter(read["configuration"].values()))["value"] == "120"

        await session.reserve_now(1, ID_TAG, now() + timedelta(minutes=10), 7)
        assert station.state.reservation is not None
        await wait_until(lambda: connector.status is ConnectorStatus.RESERVED, "Reserved")
        await session.cancel_reservation(7)
        await wait_until(lambda: connector.status is ConnectorStatus.AVAILABLE, "Available")

        await session.trigger_message("StatusNotification", 1)
        await session.trigger_message("Heartbeat")
        await session.trigger_message("MeterValues", 1)

        await session.remote_start(1, ID_TAG)
        # The server has the transaction when it answers the station's start; the station has its
        # id once that answer arrives: wait for both sides.
        await wait_until(
            lambda: connector.transaction is not None and station.state.transaction_id is not None,
            "the remote start",
        )
        assert connector.transaction is not None
        assert connector.transaction.transaction_id == str(station.state.transaction_id)
        limit = await session.get_composite_limit(1, 60, ChargingRateUnit.AMPERE)
        assert limit == station.state.offered_a()
        await session.remote_stop(connector.transaction.transaction_id)
        await wait_until(lambda: connector.transaction is None, "the remote stop")
        await session.unlock(1)
        await wait_until(lambda: connector.status is ConnectorStatus.AVAILABLE, "unplugged")
        assert not station.state.plugged

        assert await session.change_availability(1, operative=False) == "Accepted"
        await wait_until(lambda: connector.status is ConnectorStatus.UNAVAILABLE, "out")
        assert await session.change_availability(1, operative=True) == "Accepted"
        await wait_until(lambda: connector.status is ConnectorStatus.AVAILABLE, "back")
        await session.clear_cache()

        await session.update_firmware("https://example.invalid/fw.bin", now())
        await wait_until(lambda: charger.firmware_status == "Installed", "firmware status")
        assert await session.request_diagnostics("https://example.invalid/logs") == (
            "sim-diagnostics.log"
        )
        await wait_until(lambda: charger.diagnostics_status == "Uploaded", "log status")

        await session.reset(hard=True)
        await wait_until(lambda: station.needs_boot, "the reset")
        await wait_until(
            lambda: not station.needs_boot and charger.connected, "the boot after the reset"
        )
    assert sim_warnings(caplog) == []


@pytest.mark.parametrize("version", ["2.0.1", "2.1"])
async def test_simulator_2x_device_model_and_profiles(
    version: str,
    central: CentralSystem,
    directory: MemoryDirectory,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The 2.x station's own rules, through the server's wire: what it refuses and why."""
    async with known_without_car(central, directory, version, tmp_path) as (station, session):
        call = session.call  # type: ignore[attr-defined]
        # Set up from its boot report's pages; the station is done with it a little later (one
        # report at a time: on a loaded machine a GetReport came while its last page was out).
        await wait_until(lambda: not getattr(station, "report_busy", False), "the boot report")

        result = await call(
            "GetReport",
            {"requestId": 42, "componentVariable": [{"component": {"name": "SmartChargingCtrlr"}}]},
        )
        assert result["status"] == "Accepted"
        await wait_until(
            lambda: any("Device model report 42:" in r.getMessage() for r in caplog.records),
            "the NotifyReport pages of request 42",
        )
        unknown = {"component": {"name": "NoSuchCtrlr"}, "variable": {"name": "Enabled"}}
        with pytest.raises(CommandRejectedError, match="OccurrenceConstraintViolation"):
            await call("GetVariables", {"getVariableData": [unknown] * 21})
        result = await call(
            "GetVariables",
            {
                "getVariableData": [
                    unknown,
                    {"component": {"name": "SecurityCtrlr"}, "variable": {"name": "Nope"}},
                    {
                        "component": {"name": "SecurityCtrlr"},
                        "variable": {"name": "BasicAuthPassword"},
                    },
                    {
                        "component": {"name": "Connector", "evse": {"id": 1, "connectorId": 1}},
                        "variable": {"name": "ConnectorType"},
                    },
                ]
            },
        )
        statuses = [
            (r["attributeStatus"], r.get("attributeValue")) for r in result["getVariableResult"]
        ]
        assert statuses == [
            ("UnknownComponent", None),
            ("UnknownVariable", None),
            ("Rejected", None),
            ("Accepted", "cType2"),
        ]
        result = await call(
            "SetVariables",
            {
                "setVariableData": [
                    {
                        "component": {"name": "SecurityCtrlr"},
                        "variable": {"name": "SecurityProfile"},
                        "attributeValue": "3",
                    },
                    {
                        "component": {"name": "SmartChargingCtrlr"},
                        "variable": {"name": "RateUnit"},
                        "attributeValue": "W",
                    },
                    {
                        "component": {"name": "SampledDataCtrlr"},
                        "variable": {"name": "TxUpdatedMeasurands"},
                        "attributeValue": "Energy.Active.Import.Register,Temperature",
                    },
                ]
            },
        )
        assert [r["attributeStatus"] for r in result["setVariableResult"]] == ["Rejected"] * 3

        def profile(**changes: object) -> dict[str, object]:
            schedule = {
                "id": 50,
                "chargingRateUnit": "W",
                "startSchedule": "2020-01-01T00:00:00Z",
                "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 4140}],
            }
            return {
                "id": 50,
                "stackLevel": 5,
                "chargingProfilePurpose": "TxDefaultProfile",
                "chargingProfileKind": "Absolute",
                "chargingSchedule": [schedule],
            } | changes

        for bad, reason in (
            (profile(chargingProfilePurpose="TxProfile", transactionId="x"), "TxNotFound"),
            (profile(stackLevel=9), "InvalidStackLevel"),
            (profile(chargingProfileKind="Relative"), "InvalidSchedule"),
            (profile(chargingProfilePurpose="ChargingStationExternalConstraints"), "Unsupported"),
        ):
            result = await call("SetChargingProfile", {"evseId": 1, "chargingProfile": bad})
            assert result["status"] == "Rejected"
            assert result["statusInfo"]["reasonCode"].startswith(reason)
        result = await call("SetChargingProfile", {"evseId": 1, "chargingProfile": profile()})
        assert result["status"] == "Accepted"
        assert station.state.offered_a() == 6.0  # 4140 W over 3 phases at 230 V
        result = await call(
            "GetCompositeSchedule", {"evseId": 1, "duration": 300, "chargingRateUnit": "W"}
        )
        assert result["schedule"]["chargingSchedulePeriod"][0]["limit"] == 4140
        clash = profile(id=51)
        result = await call("SetChargingProfile", {"evseId": 1, "chargingProfile": clash})
        assert result["statusInfo"]["reasonCode"] == "DuplicateProfile"
        result = await call(
            "GetChargingProfiles", {"requestId": 7, "chargingProfile": {"stackLevel": 5}}
        )
        assert result["status"] == "Accepted"
        result = await call("ClearChargingProfile", {"chargingProfileId": 50})
        assert result["status"] == "Accepted"
        result = await call("ClearChargingProfile", {"chargingProfileId": 50})
        assert result["status"] == "Unknown"

        result = await call("TriggerMessage", {"requestedMessage": "BootNotification"})
        assert result["status"] == "Rejected"  # its last boot was Accepted
        result = await call("TriggerMessage", {"requestedMessage": "TransactionEvent"})
        assert result["status"] == "Rejected"  # no transaction
        result = await call("GetTransactionStatus", {"transactionId": "nope"})
        assert result == {"messagesInQueue": False, "ongoingIndicator": False}
        if version == "2.1":
            result = await call(
                "UpdateDynamicSchedule", {"chargingProfileId": 999, "scheduleUpdate": {"limit": 6}}
            )
            assert result["status"] == "Rejected"
    refused = [w for w in sim_warnings(caplog) if "SetChargingProfile" not in w]
    assert refused == []
