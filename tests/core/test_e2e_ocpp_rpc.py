"""End-to-end: our CentralSystem against an independent charger (npm ``ocpp-rpc``, strict mode).

``tests/js/charger.mjs`` validates every frame we send against ocpp-rpc's own OCPP 1.6 schemas, so
these tests catch what our Python tests cannot (they use the ``ocpp`` package on both sides). The
charger prints one JSON line per step; the test drives the server side (accepting the charger,
setting a limit through the server's current controller) and checks the charger model.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
from collections import defaultdict
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from custom_components.ocpp_ems.core.directory import Admission
from custom_components.ocpp_ems.core.model import (
    Charger,
    ChargerEvent,
    ConnectorStatus,
    EventKind,
)
from custom_components.ocpp_ems.core.server import CentralSystem

from .conftest import MakeCentral
from .fakes import MemoryDirectory

NODE = shutil.which("node")
JS_DIR = Path(__file__).resolve().parents[1] / "js"
CHARGER_JS = JS_DIR / "charger.mjs"
ID_TAG = "TAG-0001"
LIMIT_A = 10.0
STEP_TIMEOUT_S = 30.0

pytestmark = pytest.mark.skipif(NODE is None, reason="node is not installed")


class JsCharger:
    """The node charger process and the JSON lines it printed, by step."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.lines: list[dict[str, Any]] = []
        self.stderr = b""
        self._seen: defaultdict[str, asyncio.Event] = defaultdict(asyncio.Event)
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self.process.stdout is not None
        async for raw in self.process.stdout:
            line = json.loads(raw)
            self.lines.append(line)
            self._seen[line["step"]].set()

    def steps(self, step: str) -> list[dict[str, Any]]:
        return [line for line in self.lines if line["step"] == step]

    def received(self, action: str) -> list[dict[str, Any]]:
        return [line for line in self.steps("received") if line["action"] == action]

    async def wait_for(self, step: str) -> dict[str, Any]:
        try:
            async with asyncio.timeout(STEP_TIMEOUT_S):
                await self._seen[step].wait()
        except TimeoutError:
            pytest.fail(f"the JS charger never reached {step!r}; output: {self.transcript()}")
        return self.steps(step)[-1]

    async def wait_exit(self) -> int:
        async with asyncio.timeout(STEP_TIMEOUT_S):
            await self._reader
            assert self.process.stderr is not None
            self.stderr = await self.process.stderr.read()
            return await self.process.wait()

    def transcript(self) -> str:
        return "\n".join(json.dumps(line) for line in self.lines) + "\n" + self.stderr.decode()


@contextlib.asynccontextmanager
async def js_charger(url: str, *args: str) -> AsyncIterator[JsCharger]:
    if not (JS_DIR / "node_modules" / "ocpp-rpc").is_dir():
        pytest.fail("tests/js/node_modules is missing: run scripts/setup (npm ci in tests/js)")
    assert NODE is not None
    process = await asyncio.create_subprocess_exec(
        NODE,
        str(CHARGER_JS),
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
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=JS_DIR,
    )
    charger = JsCharger(process)
    try:
        yield charger
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
        charger._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await charger._reader


async def wait_until(predicate: Callable[[], bool], what: str) -> None:
    try:
        async with asyncio.timeout(STEP_TIMEOUT_S):
            # The model has no "changed" future to await; poll it briefly.
            while True:
                if predicate():
                    return
                await asyncio.sleep(0.02)
    except TimeoutError:
        pytest.fail(f"timed out waiting for {what}")


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
