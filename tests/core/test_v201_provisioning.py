"""2.x provisioning on real websockets: the device model after boot, meter values, the local list,
Basic auth with its two-phase commit, and the boot watchdog (2.0.1 and 2.1 stations)."""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from typing import Any

import pytest

from custom_components.ocpp_ems.core.auth import generate_password
from custom_components.ocpp_ems.core.directory import Admission
from custom_components.ocpp_ems.core.model import ChargingRateUnit
from custom_components.ocpp_ems.core.protocol.v201 import device_model
from custom_components.ocpp_ems.core.protocol.v201.provisioning import Provisioning
from custom_components.ocpp_ems.core.settings import ChargerSettings, ServerSettings

from .fakes import MemoryDirectory
from .v16_harness import Harness
from .v201_fixtures import actual, ids, written
from .v201_harness import CHARGER_ID, VERSIONS, SimStation, now_iso, protocol_harness, wait_for

MEASURANDS = "SampledDataCtrlr.TxUpdatedMeasurands"


@pytest.fixture(params=VERSIONS)
async def h(
    request: pytest.FixtureRequest,
    socket_enabled: None,
    directory: MemoryDirectory,
    server_settings: ServerSettings,
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[Harness]:
    """A protocol harness of each version; a report is given up after 0.3 s without pages."""
    monkeypatch.setattr(Provisioning, "report_timeout_s", 0.3)
    directory.id_tags.update({"04A1B2C3", "TAG1"})
    async with protocol_harness(directory, server_settings, request.param) as harness:
        yield harness


def watchdog_harness(
    directory: MemoryDirectory, version: str, **settings: float
) -> AbstractAsyncContextManager[Harness]:
    """A protocol harness whose boot watchdog fires after 0.1 s (unless ``settings`` say)."""
    server = ServerSettings(host="127.0.0.1", port=0, **{"boot_trigger_after_s": 0.1, **settings})
    return protocol_harness(directory, server, version)


# --- after boot ------------------------------------------------------------------------------------
async def test_boot_reads_the_device_model(h: Harness) -> None:
    def paged(station: SimStation) -> None:
        station.report_page_size = 3  # 12 pages

    sim: SimStation = await h.charger_client(setup=paged)
    charger = h.charger
    assert charger.booted
    assert sim.actions("GetBaseReport")[0]["reportBase"] == "FullInventory"
    assert len(sim.actions("GetBaseReport")) == 1
    capabilities = charger.capabilities
    assert capabilities.smart_charging
    assert capabilities.local_auth_list
    assert "Reservation" not in capabilities.supported_profiles
    assert capabilities.rate_units == frozenset({ChargingRateUnit.AMPERE, ChargingRateUnit.WATT})
    assert capabilities.max_stack_level == 8
    assert capabilities.max_schedule_periods == 24
    assert capabilities.phase_switching
    assert capabilities.number_of_connectors == 1
    configuration = charger.configuration
    assert configuration["EVSE@1.Power"] == "22000"
    assert configuration["Connector@1/1.ConnectorType"] == "cType2"
    assert configuration["SecurityCtrlr.BasicAuthPassword"] is None
    # Every variable of the station, from every page.
    assert len([k for k in configuration if "." in k]) == len(sim.device_model)
    # Meter values as configured, within what the station takes.
    assert sim.device_model[actual("SampledDataCtrlr", "TxUpdatedInterval")] == "10"
    sampled = sim.device_model[actual("SampledDataCtrlr", "TxUpdatedMeasurands")]
    assert sampled.split(",")[:2] == ["Energy.Active.Import.Register", "Power.Active.Import"]
    assert configuration[MEASURANDS] == sampled
    # 1.6's Temperature is no 2.x measurand: never asked for (a strict station refuses the list).
    assert "Temperature" in ChargerSettings().measurands
    assert "Temperature" not in sampled
    # Clock-aligned data is off at this station: left alone.
    assert sim.device_model[actual("AlignedDataCtrlr", "Measurands")] == (
        "Energy.Active.Import.Register"
    )
    # The local list, in the version of the directory.
    sent = sim.actions("SendLocalList")[0]
    assert [e["idToken"] for e in sent["localAuthorizationList"]] == [
        {"idToken": "04A1B2C3", "type": "ISO14443"},
        {"idToken": "TAG1", "type": "Central"},
    ]
    assert sim.local_list_version == 1


async def test_second_boot_skips_what_is_in_place(h: Harness) -> None:
    sim: SimStation = await h.charger_client()
    writes = len(sim.actions("SetVariables"))
    booted = h.booted
    await sim.boot()
    await wait_for(lambda: h.booted > booted)
    assert len(sim.actions("GetBaseReport")) == 2  # read again: firmware may have changed
    assert len(sim.actions("SetVariables")) == writes  # nothing to change
    assert len(sim.actions("SendLocalList")) == 1  # the station holds this version


async def test_foreign_report_pages_are_ignored(h: Harness) -> None:
    sim: SimStation = await h.charger_client()
    before = dict(h.charger.configuration)
    answer = await sim.request(
        "NotifyReport",
        {
            "requestId": 424242,
            "generatedAt": now_iso(),
            "seqNo": 0,
            "reportData": [
                {
                    "component": {"name": "OCPPCommCtrlr"},
                    "variable": {"name": "HeartbeatInterval"},
                    "variableAttribute": [{"value": "1"}],
                }
            ],
        },
    )
    assert answer.ok
    assert h.charger.configuration == before


async def test_a_report_with_a_page_lost_is_used_as_far_as_it_goes(
    h: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    def loses_page_one(station: SimStation) -> None:
        async def send_report(request_id: int) -> None:
            data = station.report_data()
            pages = [data[:10], data[10:20], data[20:]]
            for seq_no in (0, 2):
                await station.call(
                    station._call.NotifyReport(
                        request_id=request_id,
                        generated_at=now_iso(),
                        seq_no=seq_no,
                        report_data=pages[seq_no],
                        tbc=seq_no < 2,
                    )
                )

        station.send_report = send_report  # type: ignore[method-assign]

    with caplog.at_level(logging.WARNING):
        await h.charger_client(setup=loses_page_one)
    assert "pages 1 missing" in caplog.text
    configuration = h.charger.configuration
    assert "ChargingStation.SupplyPhases" in configuration  # page 0
    assert "SmartChargingCtrlr.RateUnit" not in configuration  # page 1
    assert "SecurityCtrlr.SecurityProfile" in configuration  # page 2
    assert h.charger.capabilities.smart_charging


async def test_a_report_that_never_ends_is_cut(
    h: Harness, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A station streaming pages for ever (tbc on each, no pause long enough to time out): the
    set-up goes on with the first MAX_REPORT_ENTRIES entries."""
    monkeypatch.setattr(device_model, "MAX_REPORT_ENTRIES", 12)
    sent: list[int] = []

    def streams_pages(station: SimStation) -> None:
        async def send_report(request_id: int) -> None:
            data = station.report_data()
            while not h.charger.configuration:  # until the set-up used the report
                seq_no = len(sent)
                page = data[(seq_no * 5) % len(data) :][:5]
                payload = {"requestId": request_id, "generatedAt": now_iso(), "seqNo": seq_no}
                answer = await station.request(
                    "NotifyReport", {**payload, "reportData": page, "tbc": True}
                )
                assert answer.ok
                sent.append(seq_no)

        station.send_report = send_report  # type: ignore[method-assign]

    with caplog.at_level(logging.WARNING):
        await h.charger_client(setup=streams_pages)
    await wait_for(lambda: h.charger.configuration)
    assert "device model report cut after 10 entries on 2 pages" in caplog.text
    assert 0 < len(h.charger.configuration) <= 10
    assert len(sent) < 100


async def _read_with_pages(
    h: Harness, sim: SimStation, seq_nos: Any, caplog: pytest.LogCaptureFixture
) -> dict[str, Any]:
    """get_configuration() (the device model read afresh) while ``sim`` sends pages of 5 entries
    numbered by ``seq_nos`` (each tbc, one every 0.1 s, until the read ends)."""
    done = asyncio.Event()

    async def send_report(request_id: int) -> None:
        data = sim.report_data()
        for seq_no in seq_nos:
            if done.is_set():
                return
            page = {"requestId": request_id, "generatedAt": now_iso(), "seqNo": seq_no}
            await sim.request("NotifyReport", {**page, "reportData": data[:5], "tbc": True})
            await asyncio.sleep(0.1)

    sim.send_report = send_report  # type: ignore[method-assign]
    try:
        with caplog.at_level(logging.WARNING):
            async with asyncio.timeout(5):
                return await h.session.get_configuration()
    finally:
        done.set()


async def test_a_repeated_report_page_never_ends_the_read(
    h: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    """A station that resends page 0 (tbc) and never the rest kept the read (and with it the
    set-up: no station maximum, no safe fallback, no live limit) open for as long as it repeated
    it: each repeat restarted the page timeout. Only a new page does; the rest is used as far as
    it goes."""
    sim: SimStation = await h.charger_client()
    result = await _read_with_pages(h, sim, iter(lambda: 0, 1), caplog)
    assert len(result["configuration"]) == 5
    # Ended by the page timeout (0.3 s), not by the deadline.
    assert "device model report incomplete" in caplog.text
    assert "not finished after" not in caplog.text


async def test_a_report_that_keeps_adding_pages_ends_at_its_deadline(
    h: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    """New pages, each within the page timeout, and never the last one: the whole report is
    given up after REPORT_DEADLINE_PAGE_TIMEOUTS page timeouts (here 4 x 0.3 s) and used as far
    as it goes."""
    sim: SimStation = await h.charger_client()
    result = await _read_with_pages(h, sim, itertools.count(), caplog)
    assert len(result["configuration"]) == 5  # the same 5 entries on every page
    assert "device model report not finished after 1 s" in caplog.text


async def test_without_a_report_the_variables_used_are_read(h: Harness) -> None:
    def no_report(station: SimStation) -> None:
        station.status_override["GetBaseReport"] = "NotSupported"

    sim: SimStation = await h.charger_client(setup=no_report)
    assert sim.actions("GetVariables")
    capabilities = h.charger.capabilities
    assert capabilities.smart_charging
    assert capabilities.max_stack_level == 8
    assert capabilities.phase_switching
    assert capabilities.number_of_connectors == 1
    assert h.charger.configuration["EVSE@1.SupplyPhases"] == "3"
    assert sim.device_model[actual("SampledDataCtrlr", "TxUpdatedInterval")] == "10"


async def test_a_station_that_says_nothing_keeps_what_we_knew(h: Harness) -> None:
    def mute(station: SimStation) -> None:
        station.answers["GetBaseReport"] = {"status": "Accepted"}
        station.send_report = _no_report  # type: ignore[method-assign]
        station.answers["GetVariables"] = lambda payload: {
            "getVariableResult": [
                {"attributeStatus": "UnknownComponent", **ids(item)}
                for item in payload["getVariableData"]
            ]
        }

    sim: SimStation = await h.charger_client(setup=mute)
    assert h.charger.booted  # set up anyway
    assert h.charger.capabilities.supported_profiles == frozenset()  # unknown: everything tried
    assert sim.actions("GetVariables")


async def _no_report(request_id: int) -> None:
    return None


async def test_smart_charging_switched_on(h: Harness) -> None:
    def switched_off(station: SimStation) -> None:
        station.device_model[actual("SmartChargingCtrlr", "Enabled")] = "false"

    sim: SimStation = await h.charger_client(setup=switched_off)
    assert sim.device_model[actual("SmartChargingCtrlr", "Enabled")] == "true"
    assert h.charger.capabilities.smart_charging
    # A station that will not have it switched on: no smart charging.

    def stays_off(station: SimStation) -> None:
        switched_off(station)
        station.status_override["SetVariables:Enabled"] = "Rejected"

    await h.charger_client(setup=stays_off)
    assert not h.charger.capabilities.smart_charging


async def test_meter_values_within_what_the_station_takes(h: Harness) -> None:
    def picky(station: SimStation) -> None:
        station.read_only.add(("SampledDataCtrlr", "TxUpdatedInterval"))  # not even tried
        # It says which measurands it supports, and how long the list may be.
        plain = station.report_data

        def report_data() -> list[dict[str, Any]]:
            entries = plain()
            for entry in entries:
                if entry["variable"]["name"] in ("TxUpdatedMeasurands", "Measurands"):
                    entry["variableCharacteristics"] = {
                        "dataType": "MemberList",
                        "supportsMonitoring": False,
                        "valuesList": "Energy.Active.Import.Register,Power.Active.Import,"
                        "Current.Import,Voltage",
                        "maxLimit": 50,
                    }
            return entries

        station.report_data = report_data  # type: ignore[method-assign]
        station.device_model[actual("AlignedDataCtrlr", "Interval")] = "900"

    sim: SimStation = await h.charger_client(setup=picky)
    assert sim.device_model[actual("SampledDataCtrlr", "TxUpdatedInterval")] == "60"
    # The first of ours it supports, as many as fit in 50 characters; one write each.
    expected = "Energy.Active.Import.Register,Power.Active.Import"
    assert sim.device_model[actual("SampledDataCtrlr", "TxUpdatedMeasurands")] == expected
    assert sim.device_model[actual("AlignedDataCtrlr", "Measurands")] == expected
    assert written(sim) == ["TxUpdatedMeasurands", "Measurands"]
    assert h.charger.rejected_measurands == frozenset()


async def test_measurands_probed_where_the_station_does_not_say(
    h: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    def refuses_voltage(station: SimStation) -> None:
        def set_variables(payload: dict[str, Any]) -> dict[str, Any]:
            item = payload["setVariableData"][0]
            ok = "Voltage" not in item["attributeValue"] and item["attributeValue"] != "10"
            if ok and item["variable"]["name"] == "TxUpdatedMeasurands":
                station.device_model[actual("SampledDataCtrlr", "TxUpdatedMeasurands")] = item[
                    "attributeValue"
                ]
            status = "Accepted" if ok else "Rejected"
            return {"setVariableResult": [{"attributeStatus": status, **ids(item)}]}

        station.answers["SetVariables"] = set_variables

    with caplog.at_level(logging.INFO):
        sim: SimStation = await h.charger_client(setup=refuses_voltage)
    assert "keeps its meter interval 60s (rejected 10s)" in caplog.text
    sampled = sim.device_model[actual("SampledDataCtrlr", "TxUpdatedMeasurands")].split(",")
    assert "Voltage" not in sampled
    assert "Power.Active.Import" in sampled
    assert h.charger.rejected_measurands == frozenset({"Voltage"})


async def test_setup_survives_failing_steps(h: Harness) -> None:
    def broken(station: SimStation) -> None:
        station.fail_with_error["SetVariables"] = "InternalError"
        station.fail_with_error["GetLocalListVersion"] = "InternalError"

    await h.charger_client(setup=broken)
    assert h.charger.booted
    assert h.charger.capabilities.smart_charging


async def test_station_gone_in_the_middle_of_its_report(h: Harness) -> None:
    def leaves(station: SimStation) -> None:
        async def send_report(request_id: int) -> None:
            await station._connection.close()

        station.send_report = send_report  # type: ignore[method-assign]

    sim: SimStation = await h.charger_client(boot=False, setup=leaves)
    await sim.boot()
    await wait_for(lambda: h.session.closed)
    await asyncio.sleep(0.05)
    assert h.booted == 0
    # A setup on the closed session gives up quietly (no fallback read, nothing recorded).
    await h.session.provisioning.setup()
    assert h.booted == 0
    assert not sim.actions("GetVariables")


# --- Basic auth ------------------------------------------------------------------------------------
async def pending_station(h: Harness, directory: MemoryDirectory, **setup: Any) -> SimStation:
    directory.admissions[CHARGER_ID] = Admission.PENDING

    def configure(station: SimStation) -> None:
        for key, value in setup.items():
            component, variable = key.split("__")
            station.device_model[actual(component, variable)] = value

    sim: SimStation = await h.charger_client(boot=False, setup=configure)
    assert (await sim.boot()).status == "Pending"
    return sim


async def boots_again(directory: MemoryDirectory, pending_boots: int) -> None:
    """The boot asked for after acceptance (still Pending: the user did not accept) arrived."""
    await wait_for(lambda: len(directory.pending) == pending_boots)


async def test_on_accepted_provisions_the_password_then_triggers_a_boot(
    h: Harness, directory: MemoryDirectory
) -> None:
    sim = await pending_station(h, directory)
    password = generate_password()
    directory.accept(CHARGER_ID, password)
    await h.session.on_accepted(password)
    assert written(sim)[:2] == ["BasicAuthPassword", "SecurityProfile"]
    assert sim.device_model[actual("SecurityCtrlr", "BasicAuthPassword")] == password
    assert sim.device_model[actual("SecurityCtrlr", "SecurityProfile")] == "1"
    assert h.charger.auth_provisioned
    assert not h.charger.auth_committed  # committed by its first login with the password
    assert h.charger.configuration["SecurityCtrlr.BasicAuthPassword"] is None
    assert password not in str(h.charger.configuration)
    assert sim.actions("TriggerMessage")[0] == {"requestedMessage": "BootNotification"}
    await wait_for(lambda: h.booted == 1)  # the triggered boot, now Accepted


async def test_station_already_on_profile_1_only_gets_the_password(
    h: Harness, directory: MemoryDirectory
) -> None:
    sim = await pending_station(h, directory, SecurityCtrlr__SecurityProfile="1")
    password = generate_password()
    await h.session.on_accepted(password)
    assert written(sim) == ["BasicAuthPassword"]
    assert h.charger.auth_provisioned
    await boots_again(directory, 2)


async def test_refused_password_is_not_provisioned(h: Harness, directory: MemoryDirectory) -> None:
    sim = await pending_station(h, directory)
    sim.status_override["SetVariables:BasicAuthPassword"] = "Rejected"
    sim.status_override["TriggerMessage"] = "Rejected"
    await h.session.on_accepted(generate_password())
    assert not h.charger.auth_provisioned
    assert sim.actions("TriggerMessage")  # the boot is asked for all the same


async def test_refused_security_profile_is_not_provisioned(
    h: Harness, directory: MemoryDirectory
) -> None:
    sim = await pending_station(h, directory)
    sim.read_only.add(("SecurityCtrlr", "SecurityProfile"))
    await h.session.on_accepted(generate_password())
    assert not h.charger.auth_provisioned
    await boots_again(directory, 2)


async def test_read_only_security_profile_0_is_left_to_the_charger_app(
    h: Harness, directory: MemoryDirectory, caplog: pytest.LogCaptureFixture
) -> None:
    def read_only_profile(station: SimStation) -> None:
        station.read_only.add(("SecurityCtrlr", "SecurityProfile"))

    sim: SimStation = await h.charger_client(setup=read_only_profile)  # its model is known
    writes = len(sim.actions("SetVariables"))
    with caplog.at_level(logging.WARNING):
        await h.session.on_accepted(generate_password())
    assert "security profile 0" in caplog.text
    assert len(sim.actions("SetVariables")) == writes  # not even the password
    assert not h.charger.auth_provisioned
    await wait_for(lambda: h.booted == 2)  # the boot asked for all the same


async def test_unknown_security_profile_gets_the_password(
    h: Harness, directory: MemoryDirectory
) -> None:
    sim = await pending_station(h, directory)
    del sim.device_model[actual("SecurityCtrlr", "SecurityProfile")]
    await h.session.on_accepted(generate_password())
    assert written(sim) == ["BasicAuthPassword"]
    assert h.charger.auth_provisioned
    await boots_again(directory, 2)
    # A station whose GetVariables fails altogether: the same.
    other = await pending_station(h, directory)
    other.fail_with_error["GetVariables"] = "InternalError"
    await h.session.on_accepted(generate_password())
    assert written(other) == ["BasicAuthPassword"]
    await boots_again(directory, 4)


async def test_password_outside_16_to_40_characters_is_not_sent(
    h: Harness, directory: MemoryDirectory
) -> None:
    sim = await pending_station(h, directory)
    await h.session.on_accepted("short")
    assert not sim.actions("SetVariables")
    assert not h.charger.auth_provisioned
    await boots_again(directory, 2)


async def test_accepted_without_password_only_triggers(
    h: Harness, directory: MemoryDirectory
) -> None:
    sim = await pending_station(h, directory)
    directory.accept(CHARGER_ID)
    await h.session.on_accepted(None)
    assert not sim.actions("SetVariables")
    await wait_for(lambda: h.booted == 1)


# --- reconnect without a boot ----------------------------------------------------------------------
WATCHDOG_PERIOD_S = 30.0  # 1.6's trigger delay: a 2.x station never waits for it


@pytest.mark.parametrize("version", VERSIONS)
async def test_reconnect_without_boot_is_set_up_at_once(
    socket_enabled: None,
    directory: MemoryDirectory,
    version: str,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A 2.x station boots only after a restart (B01): a known station that reconnects without
    booting is normal. It is set up after a short grace, never asked to boot, nothing warned."""
    monkeypatch.setattr(Provisioning, "reconnect_grace_s", 0.1)
    directory.admissions[CHARGER_ID] = Admission.ACCEPTED
    async with watchdog_harness(
        directory, version, boot_trigger_after_s=WATCHDOG_PERIOD_S, response_timeout_s=0.2
    ) as h:
        sim: SimStation = await h.charger_client(boot=False)
        await wait_for(lambda: h.booted == 1)
        assert sim.actions("GetBaseReport")
        assert not sim.actions("TriggerMessage")
    # Ours only: asyncio warns of a slow callback on a loaded machine.
    ours = [r for r in caplog.records if r.name.startswith("custom_components.ocpp_ems")]
    assert not [r for r in ours if r.levelno >= logging.WARNING]


@pytest.mark.parametrize("version", VERSIONS)
async def test_a_boot_within_the_grace_is_set_up_once(
    socket_enabled: None, directory: MemoryDirectory, version: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(Provisioning, "reconnect_grace_s", 0.3)
    directory.admissions[CHARGER_ID] = Admission.ACCEPTED
    async with watchdog_harness(directory, version, boot_trigger_after_s=WATCHDOG_PERIOD_S) as h:
        sim: SimStation = await h.charger_client(boot=True)
        await wait_for(lambda: h.booted == 1)
        await asyncio.sleep(0.5)
        assert h.booted == 1
        assert len(sim.actions("GetBaseReport")) == 1
