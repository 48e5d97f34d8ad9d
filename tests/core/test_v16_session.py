"""V16Session, charger -> central system: every 1.6 message a charger sends, on real websockets."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime, timedelta

import pytest
from ocpp.exceptions import SecurityError
from ocpp.v16 import call

from custom_components.ocpp_ems.core.charger_state import MAX_PAST_SESSION_AGE
from custom_components.ocpp_ems.core.directory import Admission
from custom_components.ocpp_ems.core.model import (
    ChargingRateUnit,
    ConnectorStatus,
    EventKind,
    Transaction,
)
from custom_components.ocpp_ems.core.pacing import phase
from custom_components.ocpp_ems.core.protocol import v16
from custom_components.ocpp_ems.core.protocol.v16.handlers import HEARTBEAT_SPREAD
from custom_components.ocpp_ems.core.protocol.v16.past_starts import (
    MAX_PAST_STARTS,
    take_past_start,
)
from custom_components.ocpp_ems.core.settings import ServerSettings

from .fakes import MemoryDirectory
from .v16_harness import CHARGER_ID, Harness, SimCharger, now_iso, protocol_harness, wait_for


def watchdog_harness(
    directory: MemoryDirectory, *, boot_trigger_after_s: float
) -> AbstractAsyncContextManager[Harness]:
    """A protocol harness whose boot watchdog fires after ``boot_trigger_after_s``."""
    settings = ServerSettings(host="127.0.0.1", port=0, boot_trigger_after_s=boot_trigger_after_s)
    return protocol_harness(directory, settings)


@pytest.fixture
async def h(
    socket_enabled: None, directory: MemoryDirectory, server_settings: ServerSettings
) -> AsyncIterator[Harness]:
    directory.id_tags.add("TAG1")
    async with protocol_harness(directory, server_settings) as harness:
        yield harness


async def test_boot_accepted_reads_configuration_and_capabilities(h: Harness) -> None:
    sim = await h.charger_client(boot=False)
    result = await sim.boot(
        charge_point_serial_number="SN1", firmware_version="1.2.3", meter_type="MID"
    )
    assert result.status == "Accepted"
    # The setting, spread per charger so that chargers booted together do not heartbeat together.
    base = h.settings.heartbeat_interval_s
    assert result.interval == round(base * (1 + HEARTBEAT_SPREAD * phase(h.charger.charger_id)))
    assert base <= result.interval <= base * (1 + HEARTBEAT_SPREAD)
    await wait_for(lambda: h.booted == 1)
    charger = h.charger
    assert charger.booted
    assert charger.info.vendor == "Acme"
    assert charger.info.serial_number == "SN1"
    assert charger.info.firmware_version == "1.2.3"
    caps = charger.capabilities
    assert caps.smart_charging
    assert caps.local_auth_list
    assert caps.max_stack_level == 8
    assert caps.rate_units == {ChargingRateUnit.AMPERE, ChargingRateUnit.WATT}
    assert caps.max_schedule_periods == 24
    assert caps.max_profiles_installed == 10
    assert caps.phase_switching
    assert caps.local_auth_list_max == 100
    assert charger.configuration["HeartbeatInterval"] == "300"
    # Meter values configured: interval from the settings, every measurand the charger supports.
    assert sim.config["MeterValueSampleInterval"] == "10"
    assert set(sim.config["MeterValuesSampledData"].split(",")) == sim.supported_measurands
    # Local list synced (charger had version 0, directory 1).
    sent = sim.actions("SendLocalList")
    assert sent[0]["list_version"] == 1
    assert sent[0]["update_type"] == "Full"
    assert sent[0]["local_authorization_list"] == [
        {"id_tag": "TAG1", "id_tag_info": {"status": "Accepted"}}
    ]


async def test_boot_second_time_skips_unchanged_configuration(h: Harness) -> None:
    sim = await h.charger_client()
    changes = len(sim.actions("ChangeConfiguration"))
    booted = h.booted
    await sim.boot()
    await wait_for(lambda: h.booted == booted + 1)
    # Nothing to change, local list in sync: no further writes.
    assert len(sim.actions("ChangeConfiguration")) == changes
    assert len(sim.actions("SendLocalList")) == 1


async def test_boot_pending_for_unknown_charger(h: Harness, directory: MemoryDirectory) -> None:
    directory.admissions[CHARGER_ID] = Admission.PENDING
    sim = await h.charger_client(boot=False)
    result = await sim.boot(charge_point_serial_number="SN9")
    assert result.status == "Pending"
    assert directory.pending[0][0] == CHARGER_ID
    assert directory.pending[0][1].serial_number == "SN9"
    assert h.booted == 0
    assert not sim.actions("GetConfiguration")  # no control while pending


async def test_a_pending_charger_writes_nothing_into_the_model(
    h: Harness, directory: MemoryDirectory
) -> None:
    """1.6 4.2: a Pending charger SHALL NOT send requests unless asked; one that does gets
    SecurityError, and nothing of an unapproved device reaches the model the user accepts."""
    directory.admissions[CHARGER_ID] = Admission.PENDING
    sim = await h.charger_client(boot=False)
    assert (await sim.boot()).status == "Pending"
    with pytest.raises(SecurityError):
        await sim.call(
            call.StatusNotification(connector_id=1, error_code="NoError", status="Charging"),
            suppress=False,
        )
    with pytest.raises(SecurityError):
        await sim.call(
            call.StartTransaction(
                connector_id=1, id_tag="TAG1", meter_start=0, timestamp=now_iso()
            ),
            suppress=False,
        )
    assert await sim.call(call.Heartbeat()) is not None
    assert 1 not in h.charger.connectors


async def test_boot_rejected(h: Harness, directory: MemoryDirectory) -> None:
    directory.admissions[CHARGER_ID] = Admission.REJECTED
    sim = await h.charger_client(boot=False)
    assert (await sim.boot()).status == "Rejected"


async def test_on_accepted_provisions_password_then_triggers_boot(
    h: Harness, directory: MemoryDirectory
) -> None:
    directory.admissions[CHARGER_ID] = Admission.PENDING
    sim = await h.charger_client(boot=False)
    await sim.boot()
    directory.accept(CHARGER_ID, "pässword")
    await h.session.on_accepted("pässword")
    changes = sim.actions("ChangeConfiguration")
    assert changes[0] == {"key": "AuthorizationKey", "value": "pässword".encode().hex()}
    assert changes[1] == {"key": "SecurityProfile", "value": "1"}
    assert h.charger.auth_provisioned
    # The key never lands in the model (diagnostics would show it).
    assert h.charger.configuration["AuthorizationKey"] is None
    await wait_for(lambda: h.booted == 1)  # triggered boot, now Accepted


async def test_on_accepted_never_lowers_the_security_profile(
    h: Harness, directory: MemoryDirectory
) -> None:
    """A charger already at security profile 2 gets the password, not "SecurityProfile 1"."""
    directory.admissions[CHARGER_ID] = Admission.PENDING
    sim = await h.charger_client(boot=False)
    await sim.boot()
    h.charger.configuration["SecurityProfile"] = "2"
    directory.accept(CHARGER_ID, "pw")
    await h.session.on_accepted("pw")
    assert [c["key"] for c in sim.actions("ChangeConfiguration")] == ["AuthorizationKey"]
    assert h.charger.auth_provisioned


async def test_on_accepted_rejected_key_is_not_provisioned(
    h: Harness, directory: MemoryDirectory
) -> None:
    directory.admissions[CHARGER_ID] = Admission.PENDING
    sim = await h.charger_client(boot=False)
    sim.reject_keys.add("SecurityProfile")
    sim.status_override["TriggerMessage"] = "Rejected"
    directory.accept(CHARGER_ID, "pw")
    await h.session.on_accepted("pw")
    assert not h.charger.auth_provisioned
    assert sim.actions("TriggerMessage")


async def test_on_accepted_without_password_only_triggers(
    h: Harness, directory: MemoryDirectory
) -> None:
    directory.admissions[CHARGER_ID] = Admission.PENDING
    sim = await h.charger_client(boot=False)
    directory.accept(CHARGER_ID)
    await h.session.on_accepted(None)
    assert not sim.actions("ChangeConfiguration")
    assert sim.actions("TriggerMessage")[0]["requested_message"] == "BootNotification"
    await wait_for(lambda: h.booted == 1)


async def test_reconnect_without_boot_is_triggered(
    socket_enabled: None, directory: MemoryDirectory
) -> None:
    async with watchdog_harness(directory, boot_trigger_after_s=0.1) as h:
        sim = await h.charger_client(boot=False)
        await wait_for(lambda: h.booted == 1)
        assert sim.actions("TriggerMessage")[0]["requested_message"] == "BootNotification"


async def test_charger_that_never_boots_is_set_up_anyway(
    socket_enabled: None, directory: MemoryDirectory
) -> None:
    async with watchdog_harness(directory, boot_trigger_after_s=0.1) as h:

        def no_boot(sim: object) -> None:
            sim.boot_on_trigger = False  # type: ignore[attr-defined]

        sim = await h.charger_client(boot=False, setup=no_boot)
        await wait_for(lambda: h.booted == 1)
        assert sim.actions("GetConfiguration")


async def test_heartbeat(h: Harness) -> None:
    sim = await h.charger_client(boot=False)
    result = await sim.call(call.Heartbeat())
    assert result.current_time.endswith("Z")
    assert h.charger.last_heartbeat is not None
    assert h.charger.last_seen is not None


async def test_status_notifications_ordered_by_timestamp(h: Harness) -> None:
    sim = await h.charger_client(boot=False)
    await sim.status(1, "Charging", timestamp=now_iso())
    await sim.status(1, "Preparing", timestamp=now_iso(-30))  # older: arrives late
    connector = h.charger.connector(1)
    assert connector.status is ConnectorStatus.CHARGING
    await sim.status(1, "SuspendedEV")  # no timestamp: arrival order
    assert h.charger.connector(1).status is ConnectorStatus.SUSPENDED_EV
    await sim.status(0, "Available")
    assert h.charger.connector(0).status is ConnectorStatus.AVAILABLE
    assert [c.connector_id for c in h.charger.outlets] == [1]


async def test_fault_event_once(h: Harness) -> None:
    sim = await h.charger_client(boot=False)
    await sim.status(1, "Faulted", error_code="GroundFailure", vendor_error_code="E42")
    await sim.status(1, "Faulted", error_code="GroundFailure")
    faults = [e for e in h.events if e.kind is EventKind.FAULT]
    assert len(faults) == 1
    assert faults[0].data["error_code"] == "GroundFailure"
    assert faults[0].data["vendor_error_code"] == "E42"
    assert h.charger.connector(1).error_code == "GroundFailure"
    await sim.status(1, "Available")
    assert h.charger.connector(1).error_code is None


async def test_an_error_code_on_another_status_is_a_fault(h: Harness) -> None:
    """A 1.6 error code on a status other than Faulted (the charger goes on, e.g. at a lower
    current when hot) shows as an error and fires the fault event, once; the same code when it
    stops (Faulted) is news again, another code too. Before, only entering Faulted fired it."""
    sim = await h.charger_client(boot=False)
    connector = h.charger.connector(1)

    def faults() -> list[tuple[str | None, str | None]]:
        return [
            (e.data["error_code"], e.data["vendor_error_code"])
            for e in h.events
            if e.kind is EventKind.FAULT
        ]

    await sim.status(1, "Charging", error_code="HighTemperature", vendor_error_code="T85")
    await sim.status(1, "SuspendedEVSE", error_code="HighTemperature")
    assert faults() == [("HighTemperature", "T85")]
    assert connector.has_error
    await sim.status(1, "Faulted", error_code="HighTemperature")
    await sim.status(1, "Faulted", error_code="OverCurrentFailure")
    await sim.status(1, "Charging")
    assert not connector.has_error
    await sim.status(1, "Charging", error_code="EVCommunicationError")
    assert faults() == [
        ("HighTemperature", "T85"),
        ("HighTemperature", None),
        ("OverCurrentFailure", None),
        ("EVCommunicationError", None),
    ]


async def test_authorize(h: Harness, directory: MemoryDirectory) -> None:
    sim = await h.charger_client(boot=False)
    assert (await sim.call(call.Authorize(id_tag="TAG1"))).id_tag_info["status"] == "Accepted"
    assert (await sim.call(call.Authorize(id_tag="BAD"))).id_tag_info["status"] == "Invalid"
    # Our own remote-start tag is always accepted.
    tag = directory.settings(CHARGER_ID).remote_start_id_tag
    assert (await sim.call(call.Authorize(id_tag=tag))).id_tag_info["status"] == "Accepted"
    assert h.kinds()[:2] == ["authorized", "authorization_rejected"]
    assert h.events[1].data == {"id_tag": "BAD"}


async def test_transaction_lifecycle(h: Harness) -> None:
    sim = await h.charger_client(boot=False)
    saves = h.saves
    # Times far enough apart for the energy to be physically possible (see meter.apply_energy).
    started = await sim.start_tx(meter=5000, timestamp=now_iso(-900))
    assert started.id_tag_info["status"] == "Accepted"
    tx_id = started.transaction_id
    assert isinstance(tx_id, int)
    connector = h.charger.connector(1)
    assert connector.transaction is not None
    assert connector.transaction.transaction_id == str(tx_id)
    assert h.saves > saves
    event = next(e for e in h.events if e.kind is EventKind.SESSION_STARTED)
    assert event.data["transaction_id"] == str(tx_id)
    assert event.data["authorized"]

    await sim.meter(
        1,
        [
            {"value": "5.5", "unit": "kWh"},
            {"value": "7200", "measurand": "Power.Active.Import", "unit": "W"},
            {"value": "16", "measurand": "Current.Import", "phase": "L1", "unit": "A"},
            {"value": "16.1", "measurand": "Current.Import", "phase": "L2", "unit": "A"},
            {"value": "230", "measurand": "Voltage", "phase": "L1-N", "unit": "V"},
            {"value": "16", "measurand": "Current.Offered", "unit": "A"},
            {"value": "55", "measurand": "SoC", "unit": "Percent", "location": "EV"},
            {"value": "31.5", "measurand": "Temperature", "unit": "Celsius"},
        ],
        transaction_id=tx_id,
        timestamp=now_iso(-300),
    )
    meter = connector.meter
    assert meter.energy_register_wh == 5500
    assert meter.power_w == 7200
    assert meter.current_a.l1 == 16
    assert meter.current_a.l2 == 16.1
    assert meter.voltage_v.l1 == 230
    assert meter.offered_current_a == 16
    assert meter.soc_percent == 55
    assert meter.temperature_c == 31.5
    assert connector.session_energy_wh == 500

    result = await sim.call(
        call.StopTransaction(
            meter_stop=6000,
            timestamp=now_iso(),
            transaction_id=tx_id,
            reason="EVDisconnected",
            id_tag="TAG1",
            transaction_data=[
                {
                    "timestamp": now_iso(-1),
                    "sampledValue": [{"value": "5800", "context": "Transaction.End"}],
                }
            ],
        )
    )
    assert result.id_tag_info["status"] == "Accepted"
    assert h.charger.connector(1).transaction is None
    assert connector.last_session_energy_wh == 1000
    assert connector.session_energy_wh == 1000
    assert meter.power_w == 0
    ended = next(e for e in h.events if e.kind is EventKind.SESSION_ENDED)
    assert ended.data["energy_wh"] == 1000
    assert ended.data["reason"] == "EVDisconnected"
    assert h.charger.lifetime_energy.total_wh == 6000


async def test_start_with_unknown_tag_is_invalid(h: Harness) -> None:
    sim = await h.charger_client(boot=False)
    started = await sim.start_tx(id_tag="BAD")
    assert started.id_tag_info["status"] == "Invalid"
    assert "authorization_rejected" in h.kinds()
    assert h.charger.connector(1).transaction is not None  # the charger decides; we keep books


async def test_repeated_start_gets_the_same_id_and_ids_are_unique(h: Harness) -> None:
    sim = await h.charger_client(boot=False)
    stamp = now_iso()
    first = await sim.start_tx(timestamp=stamp)
    again = await sim.start_tx(timestamp=stamp)
    assert first.transaction_id == again.transaction_id
    assert h.kinds().count("session_started") == 1
    # A new start on the same connector (lost StopTransaction) ends the old one.
    other = await sim.start_tx(meter=2000)
    assert other.transaction_id != first.transaction_id
    assert h.kinds().count("session_ended") == 1
    second = await sim.start_tx(connector_id=2, meter=0)
    assert second.transaction_id not in (first.transaction_id, other.transaction_id)


async def test_stop_for_transaction_started_before_restart(h: Harness) -> None:
    # Restored from the store: the model knows the transaction, this session never saw its start.
    h.charger.connector(1).transaction = Transaction(
        transaction_id="4242",
        connector_id=1,
        id_tag="TAG1",
        started_at=datetime.now(UTC) - timedelta(hours=1),
        meter_start_wh=1000,
        meter_last_wh=1500,
    )
    h.charger.lifetime_energy.update(1500)
    sim = await h.charger_client(boot=False)
    await sim.meter(1, [{"value": "1700"}], transaction_id=4242, timestamp=now_iso(-600))
    assert h.charger.connector(1).transaction.meter_last_wh == 1700  # type: ignore[union-attr]
    await sim.call(call.StopTransaction(meter_stop=2500, timestamp=now_iso(), transaction_id=4242))
    assert h.charger.connector(1).last_session_energy_wh == 1500
    assert h.charger.lifetime_energy.total_wh == 2500
    ended = next(e for e in h.events if e.kind is EventKind.SESSION_ENDED)
    assert ended.data["transaction_id"] == "4242"
    assert ended.data["reason"] == "Local"


async def test_stop_for_unknown_transaction_is_answered(h: Harness) -> None:
    sim = await h.charger_client(boot=False)
    result = await sim.call(
        call.StopTransaction(meter_stop=1, timestamp=now_iso(), transaction_id=7)
    )
    assert result.id_tag_info is None


async def test_energy_register_reset_keeps_session_and_lifetime(h: Harness) -> None:
    sim = await h.charger_client(boot=False)
    tx = (await sim.start_tx(meter=10_000, timestamp=now_iso(-3600))).transaction_id
    await sim.meter(1, [{"value": "12000"}], transaction_id=tx, timestamp=now_iso(-1800))
    # A register reset, confirmed by the next reading: the rise after it counts.
    await sim.meter(1, [{"value": "50"}], transaction_id=tx, timestamp=now_iso(-1200))
    await sim.meter(1, [{"value": "550"}], transaction_id=tx, timestamp=now_iso(-600))
    connector = h.charger.connector(1)
    assert connector.session_energy_wh == 2500
    assert h.charger.lifetime_energy.total_wh == 12_500
    await sim.call(call.StopTransaction(meter_stop=650, timestamp=now_iso(), transaction_id=tx))
    assert connector.last_session_energy_wh == 2600
    assert h.charger.lifetime_energy.total_wh == 12_600


async def test_meter_values_without_transaction_id_use_running_one(h: Harness) -> None:
    sim = await h.charger_client(boot=False)
    await sim.start_tx(meter=100)
    await sim.meter(1, [{"value": "0.3", "unit": "kWh"}])
    assert h.charger.connector(1).session_energy_wh == 200
    # Non-transaction meter values on another connector.
    await sim.meter(0, [{"value": "230.5", "measurand": "Voltage"}])
    assert h.charger.connector(0).meter.voltage_v.l1 == 230.5


async def test_data_transfer_and_status_notifications(h: Harness) -> None:
    sim = await h.charger_client(boot=False)
    result = await sim.call(call.DataTransfer(vendor_id="acme", message_id="m", data="hello"))
    assert result.status == "Accepted"
    await sim.call(call.FirmwareStatusNotification(status="Downloading"))
    await sim.call(call.DiagnosticsStatusNotification(status="Uploaded"))
    assert h.charger.firmware_status == "Downloading"
    assert h.charger.diagnostics_status == "Uploaded"
    kinds = h.kinds()
    assert kinds == ["data_transfer", "firmware_status", "diagnostics_status"]
    assert h.events[0].data == {"vendor_id": "acme", "message_id": "m", "data": "hello"}


async def test_security_extension_notifications(h: Harness) -> None:
    """The 1.6 security whitepaper's notifications land where the 2.x ones do."""
    sim = await h.charger_client(boot=False)
    await sim.call(call.SignedFirmwareStatusNotification(status="InvalidSignature", request_id=4))
    await sim.call(call.LogStatusNotification(status="Uploading", request_id=5))
    await sim.call(
        call.SecurityEventNotification(
            type="FirmwareUpdated", timestamp="2026-11-30T08:00:00Z", tech_info="2.1"
        )
    )
    assert h.charger.firmware_status == "InvalidSignature"
    assert h.charger.diagnostics_status == "Uploading"
    assert h.kinds() == ["firmware_status", "diagnostics_status", "security_event"]
    assert h.events[2].data["type"] == "FirmwareUpdated"


async def test_setup_survives_failing_steps(h: Harness) -> None:
    def broken(sim: object) -> None:
        sim.fail_with_error.add("GetConfiguration")  # type: ignore[attr-defined]

    sim = await h.charger_client(setup=broken)
    assert h.charger.booted  # set up anyway, with default capabilities
    assert sim.actions("GetLocalListVersion") == []  # local list support unknown: skipped


async def test_setup_stops_when_charger_disconnects(h: Harness) -> None:
    sim = await h.charger_client(boot=False)
    sim.delay["GetConfiguration"] = 5
    await sim.boot()
    await wait_for(lambda: sim.actions("GetConfiguration"))
    await sim._connection.close()
    await wait_for(lambda: h.session.closed)
    await asyncio.sleep(0.05)
    assert h.booted == 0


async def test_meter_configuration_rejections(h: Harness) -> None:
    def picky(sim: object) -> None:
        sim.reject_keys.add("MeterValueSampleInterval")  # type: ignore[attr-defined]
        sim.supported_measurands = set()  # type: ignore[attr-defined]
        sim.config["MeterValuesSampledData"] = ""  # type: ignore[attr-defined]

    sim = await h.charger_client(setup=picky)
    assert sim.config["MeterValueSampleInterval"] == "60"  # kept the charger's
    assert sim.config["MeterValuesSampledData"] == ""


async def test_watchdog_quiet_when_boot_arrives(
    socket_enabled: None, directory: MemoryDirectory
) -> None:
    async with watchdog_harness(directory, boot_trigger_after_s=0.2) as h:
        sim = await h.charger_client()
        await asyncio.sleep(0.3)
        assert not sim.actions("TriggerMessage")


async def test_watchdog_with_rejected_trigger_and_disconnect(
    socket_enabled: None, directory: MemoryDirectory
) -> None:
    async with watchdog_harness(directory, boot_trigger_after_s=0.1) as h:

        def reject(sim: object) -> None:
            sim.status_override["TriggerMessage"] = "Rejected"  # type: ignore[attr-defined]

        await h.charger_client(boot=False, setup=reject)
        await wait_for(lambda: h.booted == 1)  # set up without a boot
        # A charger that answers nothing and goes away: the watchdog gives up quietly.

        def slow(sim: object) -> None:
            sim.delay["TriggerMessage"] = 5  # type: ignore[attr-defined]

        async def trigger_then_drop() -> None:
            sim2 = await h.charger_client(boot=False, setup=slow)
            sim2.fail_with_error.add("TriggerMessage")
            await asyncio.sleep(0.15)
            await sim2._connection.close()

        await trigger_then_drop()
        await wait_for(lambda: h.session.closed)


async def test_transaction_ids_skip_taken_ones(h: Harness) -> None:
    sim = await h.charger_client(boot=False)
    v16.V16Session._last_transaction_id = 0
    base = int((datetime.now(UTC) - datetime(2024, 1, 1, tzinfo=UTC)).total_seconds())
    for offset, connector in ((0, 5), (1, 6), (2, 7)):
        h.charger.connector(connector).transaction = Transaction(
            transaction_id=str(base + offset),
            connector_id=connector,
            id_tag=None,
            started_at=datetime.now(UTC),
            meter_start_wh=0,
            meter_last_wh=0,
        )
    tx = (await sim.start_tx()).transaction_id
    assert tx >= base + 3


async def test_replayed_transaction_messages_after_reconnect_count_once(h: Harness) -> None:
    """A charger that re-sends its queued Start, MeterValues and Stop after a reconnect (it never
    saw our answers) must not create a second session nor count the energy twice."""
    sim = await h.charger_client(boot=False)
    t0, t1, t2 = now_iso(-3000), now_iso(-2000), now_iso(-1000)
    tx = (await sim.start_tx(meter=1000, timestamp=t0)).transaction_id
    await sim.meter(1, [{"value": "5000"}], transaction_id=tx, timestamp=t1)
    await sim.call(call.StopTransaction(meter_stop=6000, timestamp=t2, transaction_id=tx))
    connector = h.charger.connector(1)
    assert connector.last_session_energy_wh == 5000
    assert h.charger.lifetime_energy.total_wh == 6000

    replay = await h.charger_client(boot=False)
    again = await replay.start_tx(meter=1000, timestamp=t0)
    assert again.transaction_id == tx
    await replay.meter(1, [{"value": "5000"}], transaction_id=tx, timestamp=t1)
    await replay.call(call.StopTransaction(meter_stop=6000, timestamp=t2, transaction_id=tx))
    assert connector.transaction is None
    assert connector.session_energy_wh == 5000
    assert h.kinds().count("session_started") == 1
    assert h.kinds().count("session_ended") == 1
    # The next real reading continues from 6000: only the new 100 Wh count.
    await replay.meter(1, [{"value": "6100"}])
    assert h.charger.lifetime_energy.total_wh == 6100


async def test_late_start_with_an_older_register_does_not_rebase_lifetime(h: Harness) -> None:
    """A StartTransaction delivered late (older than readings already seen) must not move the
    energy register back: the next reading would count the difference a second time."""
    sim = await h.charger_client(boot=False)
    await sim.meter(1, [{"value": "5000"}], timestamp=now_iso(-5))
    assert h.charger.lifetime_energy.total_wh == 5000
    tx = (await sim.start_tx(meter=4000, timestamp=now_iso(-600))).transaction_id
    await sim.meter(1, [{"value": "5200"}], transaction_id=tx)
    assert h.charger.lifetime_energy.total_wh == 5200
    assert h.charger.connector(1).session_energy_wh == 1200


async def test_session_sent_behind_the_running_one_is_history(h: Harness) -> None:
    """A charger back from offline sends a session that ended while offline only after the newer
    one started (out of order): the old one is booked as a past session from its meterStart to
    its meterStop, the running one goes on (it used to be ended as "Replaced" and its energy
    from then on lost to the session); a held start does not outlive many more."""
    sim = await h.charger_client(boot=False)
    live = (await sim.start_tx(meter=5000, timestamp=now_iso(-60))).transaction_id
    old = (await sim.start_tx(meter=1000, timestamp=now_iso(-7200))).transaction_id
    assert old != live
    connector = h.charger.connector(1)
    assert connector.transaction is not None
    assert connector.transaction.transaction_id == str(live)
    await sim.meter(1, [{"value": "1500"}], transaction_id=old, timestamp=now_iso(-5400))
    await sim.call(
        call.StopTransaction(
            meter_stop=2000, timestamp=now_iso(-3600), transaction_id=old, reason="EVDisconnected"
        )
    )
    await sim.meter(1, [{"value": "5300"}], transaction_id=live)
    assert connector.transaction is not None
    assert (connector.transaction.transaction_id, connector.session_energy_wh) == (str(live), 300)
    past = h.charger.find_ended_transaction(str(old))
    assert past is not None
    assert (past.connector_id, past.energy_wh, past.stop_reason) == (1, 1000, "EVDisconnected")
    assert h.charger.lifetime_energy.total_wh == 5300  # the register: nothing counted twice
    assert h.kinds().count("session_ended") == 1

    held = [
        (await sim.start_tx(meter=100, timestamp=now_iso(-7000 + n))).transaction_id
        for n in range(MAX_PAST_STARTS + 1)
    ]
    assert take_past_start(h.charger, str(held[0])) is None  # the oldest no longer waits
    assert take_past_start(h.charger, str(held[-1])) is not None
    assert connector.transaction.transaction_id == str(live)

    # Older than MAX_PAST_SESSION_AGE: rather a clock set wrong after a reboot than an offline
    # queue: a new session, which replaces the running one (whose end was lost) as before.
    age = MAX_PAST_SESSION_AGE + timedelta(days=1)
    stale = await sim.start_tx(meter=6000, timestamp=now_iso(-age.total_seconds()))
    assert connector.transaction.transaction_id == str(stale.transaction_id)
    assert h.charger.find_ended_transaction(str(live)).stop_reason == "Replaced"


def _energy(wh: float) -> list[dict[str, str]]:
    return [{"value": str(wh), "measurand": "Energy.Active.Import.Register", "unit": "Wh"}]


async def test_old_session_sent_after_a_newer_one_ended_is_a_past_session(h: Harness) -> None:
    """Back from offline, a charger sent its queued sessions newest first: B (5,000 -> 8,000 Wh)
    complete, then the older A (1,000 -> 3,000 Wh). A became the connector's session and took
    B's energy; it must be booked as a past session, and the connector's last session stays B."""
    sim = await h.charger_client(boot=False)
    b = (await sim.start_tx(meter=5000, timestamp=now_iso(-3600))).transaction_id
    await sim.meter(1, _energy(7000), transaction_id=b, timestamp=now_iso(-2700))
    await sim.call(
        call.StopTransaction(meter_stop=8000, timestamp=now_iso(-1800), transaction_id=b)
    )
    lifetime = h.charger.lifetime_energy.total_wh
    a = (await sim.start_tx(meter=1000, timestamp=now_iso(-7200))).transaction_id
    await sim.meter(1, _energy(2000), transaction_id=a, timestamp=now_iso(-6300))
    await sim.call(
        call.StopTransaction(meter_stop=3000, timestamp=now_iso(-5400), transaction_id=a)
    )
    past = h.charger.find_ended_transaction(str(a))
    assert past is not None
    assert past.energy_wh == 2000
    connector = h.charger.connector(1)
    assert connector.last_transaction is not None
    assert connector.last_transaction.transaction_id == str(b)
    assert connector.last_session_energy_wh == 3000
    assert h.charger.lifetime_energy.total_wh == lifetime


async def test_energy_credited_to_a_start_older_than_the_meter_is_costed(h: Harness) -> None:
    """The connector's idle MeterValues (1500 Wh, -60 s) before a StartTransaction of -600 s with
    meterStart 1000 Wh (a late start): the session is credited the 500 Wh since its start, and
    costed them (they were 500 Wh for 0.00)."""
    h.charger.energy_price = 0.30
    sim = await h.charger_client(boot=False)
    await sim.meter(1, _energy(1000), timestamp=now_iso(-4000))
    await sim.meter(1, _energy(1500), timestamp=now_iso(-60))
    await sim.start_tx(meter=1000, timestamp=now_iso(-600))
    tx = h.charger.connector(1).transaction
    assert tx is not None
    assert tx.energy_wh == pytest.approx(500)
    assert tx.cost == pytest.approx(0.15)


async def test_replayed_start_of_an_older_ended_session_is_not_a_new_session(
    h: Harness,
) -> None:
    """Sessions A then B, each answered and ended; after a reconnect the charger re-sends A's
    StartTransaction (its queue was not cleared). Only the last session was recognised: A's
    replay became a phantom third session. It is A again: its id, nothing started."""
    sim = await h.charger_client(boot=False)
    t_a = now_iso(-7200)
    a = (await sim.start_tx(meter=1000, timestamp=t_a)).transaction_id
    await sim.call(
        call.StopTransaction(meter_stop=3000, timestamp=now_iso(-5400), transaction_id=a)
    )
    b = (await sim.start_tx(meter=5000, timestamp=now_iso(-3600))).transaction_id
    await sim.call(
        call.StopTransaction(meter_stop=8000, timestamp=now_iso(-1800), transaction_id=b)
    )
    replay = await h.charger_client(boot=False)
    again = await replay.start_tx(meter=1000, timestamp=t_a)
    assert again.transaction_id == a
    assert h.kinds().count("session_started") == 2
    assert h.charger.connector(1).transaction is None


async def _charging_at_7_kw(h: Harness) -> SimCharger:
    sim = await h.charger_client(boot=False)
    tx = (await sim.start_tx(meter=1000, timestamp=now_iso(-600))).transaction_id
    power = {"value": "7000", "measurand": "Power.Active.Import", "unit": "W"}
    current = {"value": "10", "measurand": "Current.Import", "unit": "A", "phase": "L1"}
    await sim.meter(1, [*_energy(2000), power, current], transaction_id=tx, timestamp=now_iso())
    assert h.charger.connector(1).meter.power_w == 7000
    return sim


async def test_a_reboot_without_stop_clears_the_live_power(h: Harness) -> None:
    """A charger charging at 7 kW lost power and rebooted without a StopTransaction: its power
    and current stayed at 7 kW / 10 A as live values (the energy manager reads them)."""
    sim = await _charging_at_7_kw(h)
    await sim.boot()
    meter = h.charger.connector(1).meter
    assert (meter.power_w, meter.current_a.l1) == (0.0, 0.0)


@pytest.mark.parametrize(
    "status", ["Available", "Preparing", "Finishing", "Unavailable", "Faulted"]
)
async def test_a_status_without_charging_clears_the_live_power(h: Harness, status: str) -> None:
    """A connector reported a status in which nothing charges while its last readings showed
    7 kW (no StopTransaction, no new reading): the 7 kW stayed as a live value."""
    sim = await _charging_at_7_kw(h)
    await sim.status(1, status, timestamp=now_iso(1))
    meter = h.charger.connector(1).meter
    assert (meter.power_w, meter.current_a.l1) == (0.0, 0.0)


async def test_a_queued_status_older_than_the_newest_reading_keeps_the_live_power(
    h: Harness,
) -> None:
    """A Preparing status stamped 5 minutes before a 7 kW reading, sent after it (an offline
    queue), cleared the newer reading's power and current: the energy manager read 0 W while
    the car drew 7 kW."""
    sim = await _charging_at_7_kw(h)
    await sim.status(1, "Preparing", timestamp=now_iso(-300))
    meter = h.charger.connector(1).meter
    assert (meter.power_w, meter.current_a.l1) == (7000, 10)


@pytest.mark.parametrize("ahead_s", [None, 2 * 3600], ids=["clock-unset-1970", "2-hours-ahead"])
async def test_retried_start_with_an_unusable_timestamp_is_one_session(
    h: Harness, ahead_s: int | None
) -> None:
    """The charger's StartTransaction answer got lost and it sent the very same StartTransaction
    again, stamped 1970 (clock unset) or 2 h ahead (local time sent as UTC): each was taken as
    "now", so the retry did not match and became a second session, replacing the first."""
    stamp = "1970-01-01T00:10:00Z" if ahead_s is None else now_iso(ahead_s)
    sim = await h.charger_client(boot=False)
    first = await sim.start_tx(meter=1000, timestamp=stamp)
    again = await sim.start_tx(meter=1000, timestamp=stamp)
    assert again.transaction_id == first.transaction_id
    assert (h.kinds().count("session_started"), h.kinds().count("session_ended")) == (1, 0)
