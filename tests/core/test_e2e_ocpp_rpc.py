"""End-to-end: our CentralSystem against an independent charger (npm ``ocpp-rpc``, strict mode).

``tests/js/charger.mjs`` validates every frame we send against ocpp-rpc's own OCPP 1.6 schemas, so
these tests catch what our Python tests cannot (they use the ``ocpp`` package on both sides). The
charger prints one JSON line per step; the test drives the server side (accepting the charger,
setting a limit through the server's current controller) and checks the charger model.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager

import pytest

from custom_components.ocpp_ems.core.directory import Admission
from custom_components.ocpp_ems.core.model import (
    Charger,
    ChargerEvent,
    ConnectorStatus,
    EventKind,
)
from custom_components.ocpp_ems.core.server import CentralSystem
from tests.helpers.charger import wait_for
from tests.helpers.js_process import JS_DIR, NODE, STEP_TIMEOUT_S, JsProcess, run_js

from .conftest import MakeCentral
from .fakes import MemoryDirectory

CHARGER_JS = JS_DIR / "charger.mjs"
ID_TAG = "TAG-0001"
LIMIT_A = 10.0

pytestmark = pytest.mark.skipif(NODE is None, reason="node is not installed")


class JsCharger(JsProcess):
    """The strict 1.6 charger (``tests/js/charger.mjs``): it runs one session and exits."""

    label = "the JS charger"


def js_charger(url: str, *args: str) -> AbstractAsyncContextManager[JsCharger]:
    return run_js(
        JsCharger,
        CHARGER_JS,
        url,
        "--expect-limit",
        str(LIMIT_A),
        "--id-tag",
        ID_TAG,
        # Keep charging a moment after the limit change: the power it reports then is checked
        # before a stop resets it to 0 (a busy machine made the check miss it).
        "--hold-ms",
        "300",
        *args,
    )


async def wait_until(predicate: Callable[[], object], what: str) -> None:
    await wait_for(predicate, STEP_TIMEOUT_S, what)


def record_events(charger: Charger) -> list[ChargerEvent]:
    events: list[ChargerEvent] = []
    charger.add_listener(lambda event: events.append(event) if event is not None else None)
    return events


async def drive_session(central: CentralSystem, js: JsCharger, charger_id: str) -> None:
    """Wait until the JS charger is charging, set a limit through the current controller, and let
    the charger finish its session."""
    charger = central.charger(charger_id)
    started = await js.wait_for("start_transaction")
    await wait_until(
        lambda: charger.connector(1).transaction is not None, "the transaction in the model"
    )
    transaction = charger.connector(1).transaction
    assert transaction is not None
    assert transaction.transaction_id == str(started["transaction_id"])
    assert transaction.id_tag == ID_TAG
    assert transaction.meter_start_wh == started["meter_start_wh"]

    await js.wait_for("waiting_for_limit")
    # The capabilities the server learnt from the charger's configuration after boot.
    await wait_until(lambda: charger.capabilities.smart_charging, "smart-charging capabilities")
    assert charger.capabilities.max_stack_level == 8
    assert charger.capabilities.max_schedule_periods == 10

    # What the model held after each change (the session's end clears the power a moment after
    # the charger's last MeterValues: a poll on a busy machine could miss that moment).
    meter = charger.connector(1).meter
    seen: list[tuple[float | None, ...]] = []
    remove = charger.add_listener(
        lambda _event: seen.append(
            (
                meter.offered_current_a,
                meter.power_w,
                meter.current_a.l3,
                meter.voltage_v.l2,
                meter.temperature_c,
            )
        )
    )
    await central.current_control(charger_id).set_limit(LIMIT_A)

    changed = await js.wait_for("limit_changed")
    assert changed["offered_a"] == pytest.approx(LIMIT_A)

    # The charger reports the new offered current and the lower power in its next MeterValues:
    # power, per-phase currents, voltage and temperature reach the model.
    expected = (LIMIT_A, LIMIT_A * 230 * 3, LIMIT_A, 230.0, 31.5)
    await wait_until(
        lambda: any(state == pytest.approx(expected) for state in seen),
        f"Current.Offered {LIMIT_A} A, {expected[1]} W, L3 current, voltage and temperature",
    )
    remove()


def assert_whole_session(js: JsCharger, charger: Charger, events: list[ChargerEvent]) -> None:
    transcript = js.transcript()
    assert not js.steps("strict_validation_failure"), transcript
    assert not js.steps("bad_message"), transcript
    assert not js.steps("error"), transcript
    assert js.steps("done")[-1]["strict_failures"] == 0

    # The limit arrived as a charging profile the charger accepted (A, or W for 3 phases).
    profiles = [p for p in js.received("SetChargingProfile") if p["status"] == "Accepted"]
    assert profiles, transcript
    last = profiles[-1]
    expected = LIMIT_A if last["unit"] == "A" else LIMIT_A * 230 * (last["number_phases"] or 3)
    assert last["limit"] == pytest.approx(expected, rel=0.02), transcript
    assert last["composite_a"] == pytest.approx(LIMIT_A), transcript

    stop = js.steps("stop_transaction")[-1]
    connector = charger.connector(1)
    assert connector.transaction is None, "the transaction is still open in the model"
    assert connector.session_energy_wh == pytest.approx(stop["energy_wh"])
    assert connector.meter.energy_register_wh == pytest.approx(stop["meter_stop_wh"])
    assert charger.lifetime_energy.total_wh >= stop["meter_stop_wh"]
    assert connector.status is ConnectorStatus.AVAILABLE
    assert charger.limit.requested_a == pytest.approx(LIMIT_A)

    assert charger.info.vendor == "ocpp-rpc"
    assert charger.info.model == "StrictSim"
    assert charger.info.serial_number == "JS-0001"
    kinds = [event.kind for event in events]
    for kind in (EventKind.AUTHORIZED, EventKind.SESSION_STARTED, EventKind.SESSION_ENDED):
        assert kind in kinds, f"no {kind} event; got {kinds}"


async def test_whole_session_against_ocpp_rpc_strict(
    make_central: MakeCentral, directory: MemoryDirectory
) -> None:
    """Boot, authorize, start, meter values, a limit change the charger sees, stop."""
    charger_id = "JS-CP 1"  # a space: the id is URL-encoded in the path and decoded by the server
    directory.admissions[charger_id] = Admission.ACCEPTED
    directory.id_tags.add(ID_TAG)
    central = await make_central()
    events = record_events(central.charger(charger_id))

    url = f"ws://127.0.0.1:{central.port}/ocpp/JS-CP%201"
    async with js_charger(url) as js:
        boot = await js.wait_for("boot")
        assert boot["status"] == "Accepted"
        assert (await js.wait_for("authorize"))["status"] == "Accepted"
        await drive_session(central, js, charger_id)
        code = await js.wait_exit()
        assert code == 0, js.transcript()

    assert_whole_session(js, central.charger(charger_id), events)
    assert js.steps("connected")[0]["protocol"] == "ocpp1.6"
    # The server configured meter values within what the charger allows.
    keys = {line["params"]["key"] for line in js.received("ChangeConfiguration")}
    assert "MeterValueSampleInterval" in keys or "MeterValuesSampledData" in keys


async def test_onboarding_to_basic_auth_against_ocpp_rpc(
    make_central: MakeCentral, directory: MemoryDirectory
) -> None:
    """An unknown charger boots Pending; the user accepts it; it gets a password (security profile
    1), reconnects with Basic auth, boots Accepted and runs a whole session."""
    charger_id = "JS-NEW-1"
    directory.id_tags.add(ID_TAG)
    central = await make_central()
    events = record_events(central.charger(charger_id))

    async with js_charger(f"ws://127.0.0.1:{central.port}/{charger_id}") as js:
        boot = await js.wait_for("boot")
        assert boot["status"] == "Pending"
        await wait_until(lambda: bool(directory.pending), "the pending-charger callback")
        assert directory.pending[0][0] == charger_id
        assert directory.pending[0][1].vendor == "ocpp-rpc"

        directory.accept(charger_id, password="0123456789abcdef0123456789abcdef")
        await central.accept_charger(charger_id)

        await wait_until(lambda: js.steps("boot")[-1]["status"] == "Accepted", "boot Accepted")
        await drive_session(central, js, charger_id)
        code = await js.wait_exit()
        assert code == 0, js.transcript()

    assert_whole_session(js, central.charger(charger_id), events)
    # The key went over as ChangeConfiguration(AuthorizationKey) and the charger came back with it.
    assert {"key": "AuthorizationKey"} in [
        line["params"] for line in js.received("ChangeConfiguration")
    ]
    assert [line["basic_auth"] for line in js.steps("connected")] == [False, True]
    assert charger_id in directory.auth_successes
    assert not directory.auth_failures
    assert central.charger(charger_id).auth_provisioned
    # Its login with the password committed it: from now on only the password works.
    assert central.charger(charger_id).auth_committed
