"""End-to-end: our CentralSystem against an independent OCPP 2.0.1 / 2.1 charging station.

``tests/js/station201.mjs`` is scripted with npm ``ocpp-rpc`` in strict mode: it validates every
frame, both directions, against ocpp-rpc's copy of the official JSON schemas (2.1 too, see
``tests/js/ocpp2/validators.mjs``), and applies the rules a real station applies on top (device
model mutability and value checks, K01 profile validation, B02 Pending restrictions, F06 trigger
rules); a breach by the central system is printed as a ``violation`` line. These tests drive the
server side (accepting the station, setting a limit through the current controller, the HA
actions) and check the charger model the HA entities read. ``selfcheck201.mjs`` proves the station
itself against a minimal strict ocpp-rpc CSMS, without our server.
"""

from __future__ import annotations

import json
from contextlib import AbstractAsyncContextManager
from typing import Any

import pytest

from custom_components.ocpp_ems.core.directory import Admission
from custom_components.ocpp_ems.core.model import (
    Charger,
    ChargingRateUnit,
    ConnectorStatus,
    EventKind,
)
from custom_components.ocpp_ems.core.server import CentralSystem
from custom_components.ocpp_ems.core.timeutil import utcnow
from tests.helpers.js_process import JS_DIR, NODE, JsProcess, run_js

from .conftest import MakeCentral
from .fakes import MemoryDirectory
from .test_e2e_ocpp_rpc import record_events, wait_until

STATION_JS = JS_DIR / "station201.mjs"
SELFCHECK_JS = JS_DIR / "selfcheck201.mjs"
ID_TOKEN = "04A1B2C3D4E5F6"  # a 7-byte card UID: IdToken type ISO14443
LIMIT_A = 10.0
PASSWORD = "0123456789abcdef0123456789abcdef"  # 32 characters: within 2.x's 16..40
FIRMWARE_URL = "https://firmware.example/station-2.0.2.bin"

pytestmark = pytest.mark.skipif(NODE is None, reason="node is not installed")


class JsStation(JsProcess):
    """The strict 2.0.1 / 2.1 station (``tests/js/station201.mjs``): it serves until :meth:`quit`."""

    label = "the JS station"

    def assert_clean(self) -> None:
        """No schema failure either way, no spec violation, no error, no CALLERROR answer, no
        refused connection and no connection the server dropped."""
        transcript = self.transcript()
        steps = ("strict_validation_failure", "bad_message", "violation", "error")
        for step in (*steps, "connect_failed", "disconnected"):
            assert not self.steps(step), f"{step}:\n{transcript}"
        assert not self.steps("call_error"), f"CALLERROR answers:\n{transcript}"
        done = self.steps("done")
        assert done, transcript
        assert done[-1]["strict_failures"] == 0
        assert done[-1]["violations"] == 0


def js_station(url: str, *args: str) -> AbstractAsyncContextManager[JsStation]:
    return run_js(
        JsStation, STATION_JS, url, "--expect-limit", str(LIMIT_A), "--id-token", ID_TOKEN, *args
    )


def session_of(central: CentralSystem, charger_id: str) -> Any:
    session = central.session(charger_id)
    assert session is not None, f"{charger_id} is not connected"
    return session


# ------------------------------------------------------------------------------------ the steps
async def check_device_model(js: JsStation, charger: Charger, *, rate_units: str = "A,W") -> None:
    """GetBaseReport answered in several NotifyReport parts; the capabilities derived from it."""
    await wait_until(lambda: charger.capabilities.smart_charging, "smart-charging capabilities")
    reports = js.received("GetBaseReport")
    assert reports, js.transcript()
    assert reports[0]["params"]["reportBase"] == "FullInventory"
    request_id = reports[-1]["params"]["requestId"]
    await js.wait_for("report", lambda li: li["request_id"] == request_id and not li["tbc"])
    parts = [line for line in js.steps("report") if line["request_id"] == request_id]
    assert len(parts) > 2, js.transcript()
    assert [p["seq_no"] for p in parts] == list(range(len(parts)))
    assert [p["tbc"] for p in parts] == [True] * (len(parts) - 1) + [False]

    capabilities = charger.capabilities
    expected_units = {ChargingRateUnit(unit) for unit in rate_units.split(",")}
    assert capabilities.rate_units == expected_units
    assert capabilities.max_stack_level == 8
    assert capabilities.max_schedule_periods == 10
    assert capabilities.number_of_connectors == 1
    assert capabilities.phase_switching is False
    assert capabilities.local_auth_list
    assert "Reservation" in capabilities.supported_profiles
    assert capabilities.local_auth_list_max == 100
    # The device model's values are the charger's configuration (secrets left out).
    assert charger.configuration.get("SmartChargingCtrlr.RateUnit") == rate_units
    assert charger.configuration.get("SecurityCtrlr.BasicAuthPassword") is None


async def drive_session(
    central: CentralSystem, js: JsStation, charger_id: str, *, pause: bool = False
) -> dict[str, Any]:
    """The scripted session: plug-in, authorization, meter values, a limit the station applies;
    then the user's stop (the station's ``--end local``), or with ``pause`` (``--end remote``): a
    pause and a resume through the current controller, and a remote stop. Returns the station's
    Ended event."""
    charger = central.charger(charger_id)
    control = central.current_control(charger_id)
    started = await js.wait_for("transaction_event", lambda li: li["event_type"] == "Started")
    assert started["trigger_reason"] == "CablePluggedIn"
    assert started["evse"] == {"id": 1, "connectorId": 1}
    await wait_until(lambda: charger.connector(1).transaction is not None, "the transaction")
    transaction = charger.connector(1).transaction
    assert transaction is not None
    assert transaction.transaction_id == started["transaction_id"]  # a string (a UUID)
    assert transaction.meter_start_wh == started["meter_start_wh"]

    assert (await js.wait_for("authorize"))["status"] == "Accepted"
    await wait_until(lambda: transaction.id_tag == ID_TOKEN, "the id token on the transaction")
    await wait_until(
        lambda: charger.connector(1).status is ConnectorStatus.CHARGING, "status charging"
    )
    assert charger.connector(1).status.plugged_in

    await js.wait_for("waiting_for_limit")
    await control.set_limit(LIMIT_A)
    changed = await js.wait_for("limit_changed")
    assert changed["offered_a"] == pytest.approx(LIMIT_A)
    # The station's own composite schedule agrees (GetCompositeSchedule, in A).
    composite = await session_of(central, charger_id).get_composite_limit(
        1, 60, ChargingRateUnit.AMPERE
    )
    assert composite == pytest.approx(LIMIT_A)
    # The whole hour ahead: the live limit until its profile runs out, then the safe fallback
    # the station keeps by itself (a station that takes only W answers in W).
    schedule = await session_of(central, charger_id).get_composite_schedule(
        1, 3600, ChargingRateUnit.AMPERE
    )
    assert schedule is not None
    assert schedule.connector_id == 1
    assert schedule.start is not None
    volts = 230.0 * 3 if schedule.unit is ChargingRateUnit.WATT else 1.0
    limits = [(p.start_s, (p.limit or 0.0) / volts) for p in schedule.periods]
    live_s = control.rules.settings.live_limit_duration_s
    safe_a = control.rules.safe_a
    assert limits[0][1] == pytest.approx(LIMIT_A), limits
    assert live_s - 5 <= limits[1][0] <= live_s, limits
    assert limits[1][1] == pytest.approx(safe_a, abs=0.05), limits

    # The station charges at the new limit and says so in its next meter values.
    meter = charger.connector(1).meter
    expected_power = LIMIT_A * 230 * 3
    await wait_until(
        lambda: meter.offered_current_a == pytest.approx(LIMIT_A)
        and meter.power_w == pytest.approx(expected_power),
        f"Current.Offered {LIMIT_A} A and {expected_power} W in the model",
    )
    assert meter.current_a.l1 == pytest.approx(LIMIT_A)
    assert meter.current_a.l3 == pytest.approx(LIMIT_A)
    assert meter.voltage_v.l2 == pytest.approx(230.0)
    assert not charger.limit.mismatch

    if pause:
        # 0 A: the car pauses (chargingState SuspendedEVSE); resume: it charges again.
        await control.pause()
        await js.wait_for("transaction_event", lambda li: li["charging_state"] == "SuspendedEVSE")
        await wait_until(
            lambda: charger.connector(1).status is ConnectorStatus.SUSPENDED_EVSE
            and meter.power_w == pytest.approx(0.0),
            "suspended by the EVSE, no power",
        )
        await control.resume()
        await wait_until(
            lambda: charger.connector(1).status is ConnectorStatus.CHARGING
            and meter.power_w == pytest.approx(expected_power),
            "charging again at the limit",
        )
        await session_of(central, charger_id).remote_stop(started["transaction_id"])

    ended = await js.wait_for("transaction_event", lambda li: li["event_type"] == "Ended")
    await wait_until(lambda: charger.connector(1).transaction is None, "the transaction ended")
    await wait_until(
        lambda: charger.connector(1).status is ConnectorStatus.AVAILABLE, "status available"
    )
    return ended


def assert_session_in_model(
    js: JsStation, charger: Charger, ended: dict[str, Any], *, stopped_reason: str = "Local"
) -> None:
    connector = charger.connector(1)
    assert ended["stopped_reason"] == stopped_reason
    assert connector.session_energy_wh == pytest.approx(
        ended["energy_wh"] - ended["meter_start_wh"]
    )
    assert connector.session_energy_wh > 0
    assert connector.meter.energy_register_wh == pytest.approx(ended["energy_wh"])
    assert charger.lifetime_energy.total_wh >= ended["energy_wh"]
    assert charger.energy_settled
    assert charger.last_heartbeat is not None
    assert charger.limit.requested_a == pytest.approx(LIMIT_A)

    # The limit reached the station, as a profile it accepted (A, or W for 3 phases) or, on 2.1,
    # as an update of its dynamic profile; no profile or update was refused.
    changes = [
        line
        for action in ("SetChargingProfile", "UpdateDynamicSchedule")
        for line in js.received(action)
    ]
    assert all(line["status"] == "Accepted" for line in changes), js.transcript()
    live = [line for line in changes if line["composite_a"] == pytest.approx(LIMIT_A)]
    assert live, js.transcript()
    first = min(live, key=lambda line: line["t"])
    if first["action"] == "SetChargingProfile":
        unit, phases, limit = first["unit"], first["number_phases"], first["limit"]
    else:
        dynamic = next(
            line
            for line in js.received("SetChargingProfile")
            if line["profile_id"] == first["params"]["chargingProfileId"]
        )
        unit, phases = dynamic["unit"], dynamic["number_phases"]
        limit = first["params"]["scheduleUpdate"]["limit"]
    expected = LIMIT_A if unit == "A" else LIMIT_A * 230 * (phases or 3)
    assert limit == pytest.approx(expected, rel=0.02), js.transcript()


async def remote_start_and_stop(
    central: CentralSystem, js: JsStation, charger_id: str, id_tag: str
) -> None:
    """RequestStartTransaction: the station starts (before the cable is in), the car charges;
    RequestStopTransaction ends it."""
    charger = central.charger(charger_id)
    session = session_of(central, charger_id)
    assert charger.connector(1).meter.power_w == pytest.approx(0.0)  # no power flows when idle
    await session.remote_start(1, id_tag)
    started = await js.wait_for(
        "transaction_event",
        lambda li: li["event_type"] == "Started" and li["trigger_reason"] == "RemoteStart",
    )
    assert started["evse"] == {"id": 1}  # no connector yet: resolved from the device model
    await wait_until(
        lambda: (tx := charger.connector(1).transaction) is not None
        and tx.transaction_id == started["transaction_id"],
        "the remotely started transaction",
    )
    await js.wait_for(
        "transaction_event",
        lambda li: li["transaction_id"] == started["transaction_id"]
        and li["trigger_reason"] == "MeterValuePeriodic"
        and li["charging_state"] == "Charging",
    )
    await wait_until(
        lambda: charger.connector(1).meter.power_w == pytest.approx(LIMIT_A * 230 * 3),
        "the car charging at the limit",
    )
    assert charger.connector(1).status is ConnectorStatus.CHARGING
    await session.remote_stop(started["transaction_id"])
    ended = await js.wait_for(
        "transaction_event",
        lambda li: li["event_type"] == "Ended"
        and li["transaction_id"] == started["transaction_id"],
    )
    assert ended["stopped_reason"] == "Remote"
    await wait_until(lambda: charger.connector(1).transaction is None, "the remote stop")
    await wait_until(
        lambda: charger.connector(1).status is ConnectorStatus.AVAILABLE, "available again"
    )
    assert charger.connector(1).session_energy_wh == pytest.approx(
        ended["energy_wh"] - started["meter_start_wh"]
    )
    assert charger.connector(1).meter.power_w == pytest.approx(0.0)


async def station_commands(central: CentralSystem, js: JsStation, charger_id: str) -> None:
    """Unlock, availability, trigger, data transfer, cache, logs, firmware and reset."""
    charger = central.charger(charger_id)
    session = session_of(central, charger_id)
    events = record_events(charger)

    await session.unlock(1)
    assert js.received("UnlockConnector")[-1]["status"] == "Unlocked"

    await session.change_availability(1, operative=False)
    await wait_until(
        lambda: charger.connector(1).status is ConnectorStatus.UNAVAILABLE, "unavailable"
    )
    await session.change_availability(None, operative=True)
    await wait_until(lambda: charger.connector(1).status is ConnectorStatus.AVAILABLE, "operative")

    await session.trigger_message("StatusNotification", 1)
    assert js.received("TriggerMessage")[-1]["status"] == "Accepted"
    answer = await session.data_transfer("org.ocpp-ems.test", "ping", "hello")
    assert answer["status"] == "Accepted"
    assert answer["data"] == {"echo": "hello", "messageId": "ping"}
    await session.clear_cache()

    file_name = await session.request_diagnostics("https://logs.example/upload")
    assert file_name is not None
    assert "DiagnosticsLog" in file_name
    await js.wait_for("log_status", lambda li: li["status"] == "Uploaded")
    await wait_until(lambda: charger.diagnostics_status == "Uploaded", "log status in the model")

    await session.update_firmware(FIRMWARE_URL, utcnow())
    await js.wait_for("firmware_status", lambda li: li["status"] == "Installed")
    await wait_until(lambda: charger.firmware_status == "Installed", "firmware status Installed")
    await wait_until(
        lambda: charger.info.firmware_version == "station-2.0.2", "the new firmware version"
    )
    boots = [li for li in js.steps("boot") if li["reason"] == "FirmwareUpdate"]
    assert boots, js.transcript()
    assert boots[-1]["status"] == "Accepted"

    session = session_of(central, charger_id)  # the station rebooted: a new connection
    await session.reset()
    await js.wait_for("boot", lambda li: li["reason"] == "RemoteReset")
    await wait_until(lambda: charger.connected and charger.booted, "back after the reset")
    kinds = [event.kind for event in events]
    assert EventKind.FIRMWARE_STATUS in kinds
    assert EventKind.DIAGNOSTICS_STATUS in kinds


async def known_station(
    make_central: MakeCentral, directory: MemoryDirectory, charger_id: str
) -> tuple[CentralSystem, str]:
    """A CentralSystem that knows ``charger_id`` (accepted, ``ID_TOKEN`` allowed); the URL the
    station connects to."""
    directory.admissions[charger_id] = Admission.ACCEPTED
    directory.id_tags.add(ID_TOKEN)
    central = await make_central()
    return central, f"ws://127.0.0.1:{central.port}/{charger_id}"


async def session_then_quit(
    central: CentralSystem,
    js: JsStation,
    charger_id: str,
    *,
    rate_units: str = "A,W",
    pause: bool = False,
) -> dict[str, Any]:
    """The device model read, the scripted session (see :func:`drive_session`) checked in the
    model, then the station leaves, clean; its Ended event."""
    charger = central.charger(charger_id)
    await check_device_model(js, charger, rate_units=rate_units)
    ended = await drive_session(central, js, charger_id, pause=pause)
    assert_session_in_model(js, charger, ended, stopped_reason="Remote" if pause else "Local")
    await js.wait_for("idle")
    assert await js.quit() == 0, js.transcript()
    js.assert_clean()
    return ended


# ------------------------------------------------------------------------------------ the tests
async def test_onboarding_session_and_commands_201(
    make_central: MakeCentral, directory: MemoryDirectory
) -> None:
    """A new 2.0.1 station boots Pending; the user accepts it; it gets a password
    (SecurityCtrlr.BasicAuthPassword), reconnects with it and boots Accepted; its device model is
    read; a whole session with a limit change; remote start/stop, unlock, availability, logs,
    firmware and reset."""
    charger_id = "JS-201 1"  # a space: URL-encoded in the path, decoded by the server
    directory.id_tags.add(ID_TOKEN)
    central = await make_central()
    charger = central.charger(charger_id)
    events = record_events(charger)

    url = f"ws://127.0.0.1:{central.port}/ocpp/JS-201%201"
    async with js_station(url) as js:
        boot = await js.wait_for("boot")
        assert boot["status"] == "Pending"
        await wait_until(lambda: bool(directory.pending), "the pending-station callback")
        assert directory.pending[0][0] == charger_id
        assert directory.pending[0][1].vendor == "ocpp-rpc"
        assert directory.pending[0][1].model == "StrictSim201"

        directory.accept(charger_id, password=PASSWORD)
        await central.accept_charger(charger_id)
        await js.wait_for("boot", lambda li: li["status"] == "Accepted")
        assert [li["basic_auth"] for li in js.steps("connected")][:2] == [False, True]

        await check_device_model(js, charger)
        ended = await drive_session(central, js, charger_id)
        assert_session_in_model(js, charger, ended)
        await js.wait_for("idle")

        # The local list was synced at setup.
        lists = js.received("SendLocalList")
        assert lists, js.transcript()
        assert lists[-1]["params"]["versionNumber"] == directory.local_list_version

        # The HA action's own id tag (no tag given): an IdToken of type Central.
        own_tag = directory.settings(charger_id).remote_start_id_tag
        await remote_start_and_stop(central, js, charger_id, own_tag)
        assert js.received("RequestStartTransaction")[-1]["params"]["idToken"] == {
            "idToken": own_tag,
            "type": "Central",
        }
        await station_commands(central, js, charger_id)
        code = await js.quit()
        assert code == 0, js.transcript()

    js.assert_clean()
    # The password went over as SetVariables and the station came back with it.
    set_password = [
        item
        for line in js.received("SetVariables")
        for item in line["params"]["setVariableData"]
        if item["variable"]["name"] == "BasicAuthPassword"
    ]
    assert set_password, js.transcript()
    assert set_password[0]["attributeValue"] == f"<{len(PASSWORD)} characters>"
    assert charger_id in directory.auth_successes
    assert not directory.auth_failures
    assert charger.auth_provisioned
    assert charger.auth_committed
    assert charger.ocpp_version == "ocpp2.0.1"  # the diagnostic "OCPP version" sensor
    assert charger.info.vendor == "ocpp-rpc"
    assert charger.info.serial_number == "JS-201-0001"
    kinds = [event.kind for event in events]
    for kind in (EventKind.AUTHORIZED, EventKind.SESSION_STARTED, EventKind.SESSION_ENDED):
        assert kind in kinds, f"no {kind} event; got {kinds}"


async def test_whole_session_21_strict(
    make_central: MakeCentral, directory: MemoryDirectory
) -> None:
    """A known station offering 2.1 and 2.0.1 speaks 2.1 (strict, the official 2.1 schemas); a
    whole session with a limit change, a pause and a resume reaching it, ended remotely."""
    charger_id = "JS-21"
    central, url = await known_station(make_central, directory, charger_id)
    charger = central.charger(charger_id)
    async with js_station(url, "--ocpp", "2.1,2.0.1", "--end", "remote") as js:
        assert (await js.wait_for("boot"))["status"] == "Accepted"
        assert js.steps("connected")[0]["protocol"] == "ocpp2.1"
        await session_then_quit(central, js, charger_id, pause=True)
    assert charger.ocpp_version == "ocpp2.1"
    # 2.1 and a station that takes Dynamic profiles: the live limit is one Dynamic profile whose
    # value moves with UpdateDynamicSchedule (fewer profile writes).
    dynamic = [p for p in js.received("SetChargingProfile") if p["kind"] == "Dynamic"]
    assert dynamic, js.transcript()
    updates = [
        line["params"]["scheduleUpdate"].get("limit")
        for line in js.received("UpdateDynamicSchedule")
    ]
    assert LIMIT_A in updates
    assert 0 in updates, "the pause as a 0 A update"


async def test_watt_only_station_gets_watts(
    make_central: MakeCentral, directory: MemoryDirectory
) -> None:
    """``SmartChargingCtrlr.RateUnit`` says W only: the limit goes out in W (a profile in A would
    be rejected: UnsupportedRateUnit), and the station's composite is the same current. Its energy
    register values come signed (``signedMeterValue``, OCMF)."""
    charger_id = "JS-201-W"
    central, url = await known_station(make_central, directory, charger_id)
    async with js_station(url, "--rate-unit", "W", "--sign-readings") as js:
        await session_then_quit(central, js, charger_id, rate_units="W")
    units = {line["unit"] for line in js.received("SetChargingProfile")}
    assert units == {"W"}, js.transcript()


async def test_offline_replay_201(make_central: MakeCentral, directory: MemoryDirectory) -> None:
    """The station loses its connection while charging and comes back without a new boot: the
    TransactionEvents of that time arrive afterwards, in order, flagged ``offline``; the energy of
    the offline time counts once, and the session ends normally."""
    charger_id = "JS-201-OFF"
    central, url = await known_station(make_central, directory, charger_id)
    charger = central.charger(charger_id)
    async with js_station(url, "--offline-ms", "1500") as js:
        ended = await session_then_quit(central, js, charger_id)
    events = [
        li
        for li in js.steps("transaction_event")
        if li["transaction_id"] == ended["transaction_id"]
    ]
    offline = [li for li in events if li["offline"]]
    assert len(offline) >= 3, js.transcript()
    assert [li["seq_no"] for li in events] == sorted(li["seq_no"] for li in events)
    # The charging while offline is part of the session (its energy reached the model once).
    assert offline[-1]["energy_wh"] > offline[0]["energy_wh"]
    assert charger.connector(1).session_energy_wh == pytest.approx(
        ended["energy_wh"] - ended["meter_start_wh"]
    )
    assert len(js.steps("connected")) == 2
    assert [li["reason"] for li in js.steps("boot")] == ["PowerUp"]


@pytest.mark.parametrize("version", ["2.0.1", "2.1"])
async def test_station_selfcheck(version: str) -> None:
    """The station against a minimal strict ocpp-rpc CSMS (no server of ours): its own frames are
    schema-valid and it behaves as the spec says (see ``tests/js/selfcheck201.mjs``)."""
    async with run_js(JsProcess, SELFCHECK_JS, "--ocpp", version) as js:
        code = await js.wait_exit(timeout_s=90)
    results = js.steps("selfcheck")
    assert results, js.transcript()
    result = results[0]
    assert result["ok"], json.dumps(result, indent=1)
    assert code == 0
    assert result["checks"] > 60
