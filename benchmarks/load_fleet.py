"""The simulated charger fleet of ``benchmarks/server_load.py``: raw OCPP-J 1.6 or 2.0.1 over
``websockets``.

Each charger is one WebSocket of a :class:`RawCharger` (the wire: CALLs timed, every server CALL
answered at once with a schema-valid answer) in one of two versions (``FleetConfig.ocpp``):

- :class:`SimCharger`, OCPP 1.6: boots, Preparing, StartTransaction, Charging, then MeterValues
  (energy, power, 3 currents, 3 voltages, offered current); answers GetConfiguration,
  ChangeConfiguration, GetLocalListVersion, Set/ClearChargingProfile, GetCompositeSchedule,
  TriggerMessage ...
- :class:`SimStation201`, OCPP 2.0.1: boots, StatusNotification Occupied, TransactionEvent
  Started, then TransactionEvent Updated (``seqNo`` counting up) with the same ten samples; answers
  GetBaseReport with NotifyReport pages of the dev simulator's device model
  (``scripts/charger_sim/device_model.py``, 85 variables, 9 pages), Get/SetVariables against it,
  Set/ClearChargingProfile, GetCompositeSchedule (the limit of what it was given), the local list.

:func:`fleet_process` runs a share of the fleet in a process of its own, driven over a
``multiprocessing`` pipe by ``server_load.py --compare`` / ``--boot-storm``.

With a :class:`FleetStats` the chargers also check the server against the JSON schemas of their
version (the ones the ``ocpp`` package ships, compiled with ``fastjsonschema``): every CALL the
server sends and every answer it gives, plus our own answers (a benchmark that answered badly would
measure the server's error path). In steady state that is one check of a meter message's answer
per message: a few microseconds of the fleet's CPU, none of the server's.

Why Python and not Node (``ocpp-rpc`` in strict mode is installed under ``tests/js``): on 2 cores
the fleet must cost little next to the server it measures, and the Python fleet is not the
expensive option. Measured on this machine (500 chargers at 1 MeterValues/s against the plain
``ocpp`` server, client CPU by ``process_time`` / ``process.cpuUsage``):

==============================  ============  ===============  ================
fleet                           per message   per connect      per boot (4 CALLs)
==============================  ============  ===============  ================
Python raw frames (this file)   ~190 us       ~210 us          ~215 us
Node ``ws`` raw frames          ~150 us       ~330 us          ~330 us
Node ``ocpp-rpc`` strict mode   ~275 us       ~470 us          ~950 us
==============================  ============  ===============  ================

At the largest preset (5,000 chargers, one MeterValues per 10 s = 500 messages/s) one Python fleet
process used 8 % of one core in the window (measured against the plain server), and a boot storm
of 2,000 chargers about 1 CPU-second in all. ``ocpp-rpc``'s strict mode would cost more of the
2 cores the server needs than it is worth here; the end-to-end test
``tests/core/test_e2e_ocpp_rpc.py`` already checks our server against ``ocpp-rpc``'s strict
reading of the schemas. One fleet process is therefore the default even at 5,000 chargers: a
second one would only add a third busy process on 2 cores. The fleet reports its own CPU
utilisation with every result (window and storm separately); ``--fleet-processes N`` splits it
if that ever nears 100 %.
"""

from __future__ import annotations

import asyncio
import functools
import importlib
import importlib.util
import json
import os
import random
import resource
import time
import uuid
import zlib
from collections import Counter
from collections.abc import Callable, Coroutine, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import urlsplit

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus
from websockets.typing import Subprotocol

CALL, CALLRESULT, CALLERROR = 2, 3, 4
CALL_TIMEOUT_S = 30.0
OPEN_TIMEOUT_S = 30.0
WAVE = 25  # steady mode: chargers connected and booted together

CONFIGURATION = {
    "SupportedFeatureProfiles": "Core,SmartCharging,RemoteTrigger",
    "ChargeProfileMaxStackLevel": "8",
    "ChargingScheduleAllowedChargingRateUnit": "Current",
    "ChargingScheduleMaxPeriods": "5",
    "MaxChargingProfilesInstalled": "5",
    "NumberOfConnectors": "1",
    "MeterValueSampleInterval": "60",
    "MeterValuesSampledData": "Energy.Active.Import.Register",
    "MeterValuesSampledDataMaxLength": "10",
    "HeartbeatInterval": "300",
}


def answer_server_call(action: str, payload: dict[str, Any]) -> dict[str, Any]:
    """A minimal schema-valid answer to whatever the server asks a charger."""
    if action == "GetConfiguration":
        keys = payload.get("key") or list(CONFIGURATION)
        return {
            "configurationKey": [
                {"key": k, "readonly": False, "value": CONFIGURATION[k]}
                for k in keys
                if k in CONFIGURATION
            ]
        }
    if action == "GetCompositeSchedule":
        return {"status": "Rejected"}
    if action == "GetLocalListVersion":
        return {"listVersion": 0}
    if action in ("UpdateFirmware",):
        return {}
    if action == "GetDiagnostics":
        return {}
    if action == "DataTransfer":
        return {"status": "Accepted"}
    if action == "UnlockConnector":
        return {"status": "Unlocked"}
    return {"status": "Accepted"}


def now_iso() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def raise_nofile_limit(connections: int, who: str) -> int:
    """Soft RLIMIT_NOFILE up to the hard limit; a clear error when even that is too low."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    needed = connections + 256  # one descriptor per connection, plus files, pipes, the loop
    if hard != resource.RLIM_INFINITY and hard < needed:
        raise SystemExit(
            f"{who}: {connections} connections need {needed} file descriptors but the hard limit "
            f"(ulimit -Hn) is {hard}; raise it (e.g. /etc/security/limits.conf, or "
            f"`ulimit -Hn {2 * needed}` as root) or run fewer chargers"
        )
    if soft != hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


# ---------------------------------------------------------------------------------------- schemas
class Schemas:
    """The OCPP JSON schemas of one version (1.6 or 2.0.1) as the ``ocpp`` package ships them,
    compiled with ``fastjsonschema``."""

    def __init__(self, version: str = "1.6") -> None:
        spec = importlib.util.find_spec("ocpp")
        if spec is None or spec.origin is None:
            raise SystemExit("the ocpp package is not installed")
        self._dir = Path(spec.origin).parent / VERSIONS[version].package / "schemas"
        # 1.6: BootNotification.json; 2.0.1: BootNotificationRequest.json.
        self._request_suffix = "" if version == "1.6" else "Request"
        self._fastjsonschema: Any = importlib.import_module("fastjsonschema")
        self._compiled: dict[str, Callable[[Any], Any]] = {}

    def warm(self, sends: Iterable[str], answers: Iterable[str]) -> None:
        """Compile ahead the schemas a charger needs (the answers to what it ``sends``, the
        requests it ``answers`` and its answers), so that no compilation falls into a storm."""
        names = [f"{action}Response" for action in sends]
        for action in answers:
            names += [f"{action}{self._request_suffix}", f"{action}Response"]
        for name in names:
            self.problem(name, None)

    def request_problem(self, action: str, payload: Any) -> str | None:
        """None if ``payload`` is a valid ``action`` CALL, else why."""
        return self.problem(f"{action}{self._request_suffix}", payload)

    def response_problem(self, action: str, payload: Any) -> str | None:
        """None if ``payload`` is a valid answer to an ``action`` CALL, else why."""
        return self.problem(f"{action}Response", payload)

    def problem(self, name: str, payload: Any) -> str | None:
        """None if ``payload`` matches schema ``name`` (e.g. ``MeterValuesResponse``), else why."""
        check = self._compiled.get(name)
        if check is None:
            path = self._dir / f"{name}.json"
            if not path.exists():
                return f"no schema {name}"
            # The 2.0.1 schema files start with a byte order mark.
            check = self._fastjsonschema.compile(json.loads(path.read_text(encoding="utf-8-sig")))
            self._compiled[name] = check
        try:
            check(payload)
        except self._fastjsonschema.JsonSchemaException as err:
            return f"{name}: {err}"
        return None


@dataclass
class FleetStats:
    """What one fleet process saw; merged over processes by the coordinator."""

    schemas: Schemas | None = None
    errors: Counter[str] = field(default_factory=Counter)
    error_samples: list[str] = field(default_factory=list)
    server_calls: Counter[str] = field(default_factory=Counter)
    # CALLs the chargers sent because the server asked (2.0.1: NotifyReport pages).
    follow_up_calls: Counter[str] = field(default_factory=Counter)
    last_server_call: float | None = None  # time.monotonic()

    def error(self, kind: str, detail: str) -> None:
        self.errors[kind] += 1
        if len(self.error_samples) < 8:
            self.error_samples.append(f"{kind}: {detail[:300]}")


class CallFailedError(Exception):
    """A CALL of ours got a CALLERROR, a schema-invalid answer, or none (timeout, closed)."""

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(f"{kind}: {detail}")
        self.kind = kind
        self.detail = detail


# ---------------------------------------------------------------------------------------- charger
def source_address(url: str, charger_id: str) -> tuple[str, int] | None:
    """Against a server on 127.0.0.1, a loopback source address of the charger's own
    (127.x.y.z, all this machine): a real fleet has one address per charger, and the server caps
    the connections still opening per address (core/guard.py). Elsewhere: the system's choice."""
    if urlsplit(url).hostname != "127.0.0.1":
        return None
    h = zlib.crc32(charger_id.encode())
    return (f"127.{(h >> 16) & 255}.{(h >> 8) & 255}.{(h & 255) or 1}", 0)


class RawCharger:
    """One charger on the wire: raw OCPP-J over websockets, answers server calls at once, times
    its own calls. The version's messages are in :class:`SimCharger` (1.6) and
    :class:`SimStation201` (2.0.1)."""

    subprotocol: ClassVar[str]
    # The message that carries a transaction's meter values.
    meter_action: ClassVar[str]
    # The CALLs it sends, and those of the server it expects (their schemas are compiled ahead).
    sends: ClassVar[tuple[str, ...]]
    expects: ClassVar[tuple[str, ...]]
    # The id tag its transactions start with.
    id_tag = "BENCH"

    def __init__(self, url: str, charger_id: str, stats: FleetStats | None = None) -> None:
        self.url = f"{url}/{charger_id}"
        self.charger_id = charger_id
        self.stats = stats
        self.pending: dict[str, tuple[str, asyncio.Future[Any]]] = {}
        self.ws: ClientConnection | None = None
        self.reader: asyncio.Task[None] | None = None
        self.follow_ups: set[asyncio.Task[None]] = set()
        self.energy_wh = 1_000_000.0

    async def connect(self) -> None:
        self.ws = await connect(
            self.url,
            subprotocols=[Subprotocol(self.subprotocol)],
            max_size=2**20,
            ping_interval=None,
            compression=None,
            open_timeout=OPEN_TIMEOUT_S,
            local_addr=source_address(self.url, self.charger_id),
        )
        self.reader = asyncio.create_task(self._read())

    async def close(self) -> None:
        for task in list(self.follow_ups):
            task.cancel()
        if self.ws is not None:
            await self.ws.close()
        if self.reader is not None:
            await self.reader

    async def _read(self) -> None:
        assert self.ws is not None
        try:
            async for raw in self.ws:
                try:
                    message = json.loads(raw)
                    kind, unique_id = message[0], message[1]
                    if kind == CALL:  # a CALL from the server: answer at once
                        action, payload = message[2], message[3]
                        answer = self._answer(action, payload)
                        await self.ws.send(json.dumps([CALLRESULT, unique_id, answer]))
                        follow_up = self.follow_up(action, payload, answer)
                        if follow_up is not None:
                            task = asyncio.create_task(self._run_follow_up(action, follow_up))
                            self.follow_ups.add(task)
                            task.add_done_callback(self.follow_ups.discard)
                    elif kind in (CALLRESULT, CALLERROR):
                        _, future = self.pending.pop(unique_id, ("", None))
                        if future is not None and not future.done():
                            future.set_result(message)
                except (ValueError, TypeError, LookupError) as err:
                    if self.stats is None:
                        raise
                    self.stats.error("server frame not OCPP-J", f"{err!r}: {raw[:200]!r}")
        except ConnectionClosed:
            pass
        finally:
            for _, future in self.pending.values():
                if not future.done():
                    future.set_exception(ConnectionError("connection closed"))
            self.pending.clear()

    def _answer(self, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        answer = self.answer_server_call(action, payload)
        stats = self.stats
        if stats is not None:
            stats.server_calls[action] += 1
            stats.last_server_call = time.monotonic()
            if stats.schemas is not None:
                if problem := stats.schemas.request_problem(action, payload):
                    stats.error("server CALL not schema-valid", problem)
                if problem := stats.schemas.response_problem(action, answer):
                    stats.error("fleet answer not schema-valid (benchmark bug)", problem)
        return answer

    def answer_server_call(self, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        """A schema-valid answer to whatever the server asks."""
        raise NotImplementedError

    def follow_up(
        self, action: str, payload: dict[str, Any], answer: dict[str, Any]
    ) -> Coroutine[Any, Any, None] | None:
        """What the charger does after it answered ``action`` (2.0.1: a report); None: nothing."""
        return None

    async def _run_follow_up(self, action: str, work: Coroutine[Any, Any, None]) -> None:
        try:
            await work
        except CallFailedError as err:
            if self.stats is None:
                raise
            self.stats.error(f"after {action}: {err.kind}", err.detail)

    async def call(self, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        assert self.ws is not None
        unique_id = uuid.uuid4().hex
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.pending[unique_id] = (action, future)
        try:
            await self.ws.send(json.dumps([CALL, unique_id, action, payload]))
            reply = await asyncio.wait_for(future, CALL_TIMEOUT_S)
        except TimeoutError:
            raise CallFailedError(
                "timeout", f"{action}: no answer in {CALL_TIMEOUT_S:g} s"
            ) from None
        except (ConnectionClosed, ConnectionError) as err:
            raise CallFailedError("connection closed", f"{action}: {err}") from None
        finally:
            self.pending.pop(unique_id, None)
        if reply[0] == CALLERROR:
            raise CallFailedError("CALLERROR", f"{action}: {reply[2]} {reply[3]}")
        result: dict[str, Any] = reply[2]
        if self.stats is not None and self.stats.schemas is not None:
            problem = self.stats.schemas.response_problem(action, result)
            if problem:
                raise CallFailedError("answer not schema-valid", problem)
        return result

    async def boot_notification(self) -> str:
        """BootNotification; the status the server answered."""
        raise NotImplementedError

    async def start_session(self) -> None:
        """After an accepted boot: the car plugs in and a transaction starts."""
        raise NotImplementedError

    async def boot(self) -> None:
        await self.boot_notification()
        await self.start_session()

    async def send_meter(self) -> None:
        """One periodic meter message of the running transaction (:attr:`meter_action`)."""
        raise NotImplementedError

    def next_current(self) -> float:
        """The energy register moves on; the current the car draws now (A per phase)."""
        self.energy_wh += 15.3
        return 16.0 + random.random()


class SimCharger(RawCharger):
    """An OCPP 1.6 charger: boots, Preparing, StartTransaction, Charging, then MeterValues
    (energy, power, 3 currents, 3 voltages, offered current)."""

    subprotocol = "ocpp1.6"
    meter_action = "MeterValues"
    sends = ("BootNotification", "StatusNotification", "StartTransaction", "MeterValues")
    expects = (
        "GetConfiguration",
        "ChangeConfiguration",
        "GetLocalListVersion",
        "SendLocalList",
        "SetChargingProfile",
        "ClearChargingProfile",
        "GetCompositeSchedule",
        "TriggerMessage",
    )

    def __init__(self, url: str, charger_id: str, stats: FleetStats | None = None) -> None:
        super().__init__(url, charger_id, stats)
        self.transaction_id: int | None = None

    def answer_server_call(self, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        return answer_server_call(action, payload)

    async def boot_notification(self) -> str:
        reply = await self.call(
            "BootNotification",
            {
                "chargePointVendor": "Bench",
                "chargePointModel": "Load",
                "chargePointSerialNumber": self.charger_id,
            },
        )
        status: str = reply["status"]
        return status

    async def start_session(self) -> None:
        """After an accepted boot: Preparing, StartTransaction, Charging."""
        await self.call(
            "StatusNotification",
            {
                "connectorId": 1,
                "errorCode": "NoError",
                "status": "Preparing",
                "timestamp": now_iso(),
            },
        )
        start = await self.call(
            "StartTransaction",
            {
                "connectorId": 1,
                "idTag": self.id_tag,
                "meterStart": int(self.energy_wh),
                "timestamp": now_iso(),
            },
        )
        self.transaction_id = start["transactionId"]
        await self.call(
            "StatusNotification",
            {
                "connectorId": 1,
                "errorCode": "NoError",
                "status": "Charging",
                "timestamp": now_iso(),
            },
        )

    async def send_meter(self) -> None:
        await self.call("MeterValues", self.meter_values())

    def meter_values(self) -> dict[str, Any]:
        current = self.next_current()

        def sv(value: float, measurand: str, unit: str, phase: str | None = None) -> dict[str, str]:
            item = {
                "value": f"{value:.1f}",
                "context": "Sample.Periodic",
                "measurand": measurand,
                "unit": unit,
            }
            if phase:
                item["phase"] = phase
            return item

        return {
            "connectorId": 1,
            "transactionId": self.transaction_id,
            "meterValue": [
                {
                    "timestamp": now_iso(),
                    "sampledValue": [
                        sv(self.energy_wh, "Energy.Active.Import.Register", "Wh"),
                        sv(current * 690, "Power.Active.Import", "W"),
                        *(sv(current, "Current.Import", "A", p) for p in ("L1", "L2", "L3")),
                        *(sv(230.0, "Voltage", "V", p) for p in ("L1-N", "L2-N", "L3-N")),
                        sv(32.0, "Current.Offered", "A"),
                    ],
                }
            ],
        }


# ---------------------------------------------------------------------------- the 2.0.1 station
@dataclass(frozen=True)
class BenchDeviceModel:
    """The 2.0.1 device model every station of a fleet process starts from: the dev simulator's
    (``scripts/charger_sim/device_model.py``: one EVSE, one type 2 connector, 3 phases, 32 A,
    smart charging in A and W; 85 variables) with its moving values frozen, and its
    NotifyReport entries built once."""

    model: Any  # scripts.charger_sim.device_model.DeviceModel
    entries: list[dict[str, Any]]  # ReportDataType of every variable, in model order

    @classmethod
    def build(cls) -> BenchDeviceModel:
        # Imported here: the servers' processes import this module too and must stay light.
        from scripts.charger_sim.device_model import build_device_model

        frozen = {
            "availability": "Available",
            "profiles": "0",
            "local_list": "0",
            "power": "0",
            "clock": now_iso(),
        }
        live: dict[str, Callable[[], str]] = {
            key: functools.partial(str, value) for key, value in frozen.items()
        }
        model = build_device_model(
            charger_id="BENCH", version="2.0.1", interval_s=METER_INTERVAL_S, live=live
        )
        return cls(model, [variable.report_entry() for variable in model.variables])


@functools.cache
def shared_device_model() -> BenchDeviceModel:
    """The device model of every 2.0.1 station of this process (each keeps what it was set)."""
    return BenchDeviceModel.build()


def _variable_key(variable: Any) -> tuple[Any, ...]:
    return (
        variable.component,
        variable.component_instance,
        variable.evse,
        variable.connector,
        variable.name,
        variable.instance,
    )


def _sim_component(component: dict[str, Any]) -> dict[str, Any]:
    """A ComponentType as on the wire -> as the simulator's device model looks it up (the
    ``ocpp`` library's snake_case)."""
    evse = component.get("evse")
    if evse is None:
        return component
    return {**component, "evse": {"id": evse["id"], "connector_id": evse.get("connectorId")}}


class SimStation201(RawCharger):
    """An OCPP 2.0.1 charging station: boots, StatusNotification Occupied, TransactionEvent
    Started (id token, EVSE 1, the register as Transaction.Begin), then TransactionEvent Updated
    (MeterValuePeriodic, next seqNo) with the same ten samples as the 1.6 MeterValues. It answers
    what the CSMS asks after boot from the device model of :class:`BenchDeviceModel`:
    GetBaseReport (Accepted, then NotifyReport pages of ten entries with ``tbc``), Get/SetVariables
    (values written are kept per station and reported from then on), Set/ClearChargingProfile,
    GetCompositeSchedule (the limit of the profiles installed), local list version, and the rest
    with the simplest valid answer."""

    subprotocol = "ocpp2.0.1"
    meter_action = "TransactionEvent"
    sends = ("BootNotification", "StatusNotification", "TransactionEvent", "NotifyReport")
    expects = (
        "GetBaseReport",
        "GetVariables",
        "SetVariables",
        "GetLocalListVersion",
        "SendLocalList",
        "SetChargingProfile",
        "ClearChargingProfile",
        "GetCompositeSchedule",
        "TriggerMessage",
    )
    REPORT_PAGE = 10  # NotifyReport entries per message, as the dev simulator sends them
    # The actions answered from the station's state, and the method that answers each.
    ANSWERS: ClassVar[dict[str, str]] = {
        "GetBaseReport": "_get_base_report",
        "GetVariables": "_get_variables",
        "SetVariables": "_set_variables",
        "SetChargingProfile": "_set_charging_profile",
        "ClearChargingProfile": "_clear_charging_profile",
        "GetCompositeSchedule": "_get_composite_schedule",
        "GetLocalListVersion": "_get_local_list_version",
        "SendLocalList": "_send_local_list",
    }

    def __init__(
        self,
        url: str,
        charger_id: str,
        stats: FleetStats | None = None,
        device_model: BenchDeviceModel | None = None,
    ) -> None:
        super().__init__(url, charger_id, stats)
        self.device_model = device_model or shared_device_model()
        self.written: dict[tuple[Any, ...], str] = {}  # what the CSMS set, by variable
        # id -> (evseId, purpose, stackLevel, unit, limit of the first period)
        self.profiles: dict[int, tuple[int, str, int, str, float]] = {}
        self.local_list_version = 0
        self.transaction_id: str | None = None
        self.seq_no = 0

    # --- CSMS -> station ---------------------------------------------------------------------
    def answer_server_call(self, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        method = self.ANSWERS.get(action)
        if method is not None:
            result: dict[str, Any] = getattr(self, method)(payload)
            return result
        return dict(SIMPLEST_201.get(action, {"status": "Accepted"}))

    def follow_up(
        self, action: str, payload: dict[str, Any], answer: dict[str, Any]
    ) -> Coroutine[Any, Any, None] | None:
        if action == "GetBaseReport" and answer["status"] == "Accepted":
            return self._send_report(payload["requestId"], payload["reportBase"])
        return None

    def _value(self, variable: Any) -> str | None:
        written = self.written.get(_variable_key(variable))
        return written if written is not None else variable.actual

    def _get_base_report(self, payload: dict[str, Any]) -> dict[str, Any]:
        return {"status": "Accepted"}

    async def _send_report(self, request_id: int, report_base: str) -> None:
        model = self.device_model
        entries = []
        for variable, base in zip(model.model.variables, model.entries, strict=True):
            if report_base == "ConfigurationInventory" and variable.mutability == "ReadOnly":
                continue
            if report_base == "SummaryInventory" and variable.name != "AvailabilityState":
                continue
            entry = base
            written = self.written.get(_variable_key(variable))
            if written is not None:
                attribute = {**base["variableAttribute"][0], "value": written}
                entry = {**base, "variableAttribute": [attribute]}
            entries.append(entry)
        size = self.REPORT_PAGE
        pages = [entries[i : i + size] for i in range(0, len(entries), size)] or [[]]
        for seq_no, page in enumerate(pages):
            report: dict[str, Any] = {
                "requestId": request_id,
                "generatedAt": now_iso(),
                "seqNo": seq_no,
                "tbc": seq_no < len(pages) - 1,
            }
            if page:
                report["reportData"] = page
            if self.stats is not None:
                self.stats.follow_up_calls["NotifyReport"] += 1
            await self.call("NotifyReport", report)

    def _get_variables(self, payload: dict[str, Any]) -> dict[str, Any]:
        results = []
        for item in payload["getVariableData"]:
            variable, status = self.device_model.model.find(
                _sim_component(item["component"]), item["variable"]
            )
            result = {"component": item["component"], "variable": item["variable"]}
            if variable is not None and item.get("attributeType", "Actual") != "Actual":
                status = "NotSupportedAttributeType"
            elif variable is not None and variable.mutability == "WriteOnly":
                status = "Rejected"
            elif variable is not None and (value := self._value(variable)) is not None:
                result["attributeValue"] = value
            results.append({"attributeStatus": status, **result})
        return {"getVariableResult": results}

    def _set_variables(self, payload: dict[str, Any]) -> dict[str, Any]:
        results = []
        for item in payload["setVariableData"]:
            variable, status = self.device_model.model.find(
                _sim_component(item["component"]), item["variable"]
            )
            value = item["attributeValue"]
            if variable is not None:
                if item.get("attributeType", "Actual") != "Actual":
                    status = "NotSupportedAttributeType"
                elif variable.mutability == "ReadOnly" or not variable.check(value):
                    status = "Rejected"
                else:
                    self.written[_variable_key(variable)] = value
            results.append(
                {
                    "attributeStatus": status,
                    "component": item["component"],
                    "variable": item["variable"],
                }
            )
        return {"setVariableResult": results}

    def _set_charging_profile(self, payload: dict[str, Any]) -> dict[str, Any]:
        evse_id = payload["evseId"]
        profile = payload["chargingProfile"]
        schedule = profile["chargingSchedule"][0]
        purpose, stack_level = profile["chargingProfilePurpose"], profile["stackLevel"]
        for pid, (evse, other_purpose, other_level, _, _) in list(self.profiles.items()):
            if (evse, other_purpose, other_level) == (evse_id, purpose, stack_level):
                del self.profiles[pid]
        self.profiles[profile["id"]] = (
            evse_id,
            purpose,
            stack_level,
            schedule["chargingRateUnit"],
            float(schedule["chargingSchedulePeriod"][0]["limit"]),
        )
        return {"status": "Accepted"}

    def _clear_charging_profile(self, payload: dict[str, Any]) -> dict[str, Any]:
        criteria = payload.get("chargingProfileCriteria") or {}
        matches = [
            pid
            for pid, (evse, purpose, level, _, _) in self.profiles.items()
            if payload.get("chargingProfileId") in (None, pid)
            and criteria.get("evseId") in (None, evse)
            and criteria.get("chargingProfilePurpose") in (None, purpose)
            and criteria.get("stackLevel") in (None, level)
        ]
        for pid in matches:
            del self.profiles[pid]
        return {"status": "Accepted" if matches else "Unknown"}

    def _get_composite_schedule(self, payload: dict[str, Any]) -> dict[str, Any]:
        """The limit in force: min(station maximum, the highest Tx / TxDefault level), in A per
        phase (3 phases at 230 V when a profile or the request is in W); 32 A without one."""

        def amps(unit: str, limit: float) -> float:
            return limit / (3 * 230.0) if unit == "W" else limit

        evse_id = payload["evseId"]
        station_max = [
            amps(unit, limit)
            for evse, purpose, _, unit, limit in self.profiles.values()
            if purpose == "ChargingStationMaxProfile"
        ]
        tx = sorted(
            (level, purpose == "TxProfile", amps(unit, limit))
            for evse, purpose, level, unit, limit in self.profiles.values()
            if evse == evse_id and purpose in ("TxProfile", "TxDefaultProfile")
        )
        limit_a = min([32.0, *station_max, *([tx[-1][2]] if tx else [])])
        unit = payload.get("chargingRateUnit") or "A"
        limit = round(limit_a * 3 * 230.0) if unit == "W" else round(limit_a, 1)
        return {
            "status": "Accepted",
            "schedule": {
                "evseId": evse_id,
                "duration": payload["duration"],
                "scheduleStart": now_iso(),
                "chargingRateUnit": unit,
                "chargingSchedulePeriod": [{"startPeriod": 0, "limit": limit, "numberPhases": 3}],
            },
        }

    def _get_local_list_version(self, payload: dict[str, Any]) -> dict[str, Any]:
        return {"versionNumber": self.local_list_version}

    def _send_local_list(self, payload: dict[str, Any]) -> dict[str, Any]:
        self.local_list_version = payload["versionNumber"]
        return {"status": "Accepted"}

    # --- station -> CSMS ---------------------------------------------------------------------
    async def boot_notification(self) -> str:
        reply = await self.call(
            "BootNotification",
            {
                "chargingStation": {
                    "vendorName": "Bench",
                    "model": "Load",
                    "serialNumber": self.charger_id,
                    "firmwareVersion": "1.0.0",
                },
                "reason": "PowerUp",
            },
        )
        status: str = reply["status"]
        return status

    async def start_session(self) -> None:
        """After an accepted boot: the connector Occupied, TransactionEvent Started."""
        await self.call(
            "StatusNotification",
            {"timestamp": now_iso(), "connectorStatus": "Occupied", "evseId": 1, "connectorId": 1},
        )
        self.transaction_id = f"{self.charger_id}-{uuid.uuid4().hex[:12]}"
        self.seq_no = 0
        reply = await self.transaction_event(
            "Started",
            "Authorized",
            [self._sample(self.energy_wh, "Energy.Active.Import.Register", "Wh", BEGIN)],
            idToken={"idToken": self.id_tag, "type": "ISO14443"},
            evse={"id": 1, "connectorId": 1},
        )
        status = (reply.get("idTokenInfo") or {}).get("status")
        if status != "Accepted":
            raise CallFailedError("not authorized", f"TransactionEvent Started: {status}")

    async def transaction_event(
        self, event_type: str, trigger: str, samples: list[dict[str, Any]], **extra: Any
    ) -> dict[str, Any]:
        seq_no, self.seq_no = self.seq_no, self.seq_no + 1
        return await self.call(
            "TransactionEvent",
            {
                "eventType": event_type,
                "timestamp": now_iso(),
                "triggerReason": trigger,
                "seqNo": seq_no,
                "transactionInfo": {
                    "transactionId": self.transaction_id,
                    "chargingState": "Charging",
                },
                "meterValue": [{"timestamp": now_iso(), "sampledValue": samples}],
                **extra,
            },
        )

    @staticmethod
    def _sample(
        value: float,
        measurand: str,
        unit: str,
        context: str = "Sample.Periodic",
        phase: str | None = None,
    ) -> dict[str, Any]:
        sample: dict[str, Any] = {
            "value": round(value, 1),
            "context": context,
            "measurand": measurand,
            "unitOfMeasure": {"unit": unit},
        }
        if phase:
            sample["phase"] = phase
        return sample

    async def send_meter(self) -> None:
        current = self.next_current()
        sv = self._sample
        await self.transaction_event(
            "Updated",
            "MeterValuePeriodic",
            [
                sv(self.energy_wh, "Energy.Active.Import.Register", "Wh"),
                sv(current * 690, "Power.Active.Import", "W"),
                *(sv(current, "Current.Import", "A", phase=p) for p in ("L1", "L2", "L3")),
                *(sv(230.0, "Voltage", "V", phase=p) for p in ("L1-N", "L2-N", "L3-N")),
                sv(32.0, "Current.Offered", "A"),
            ],
        )


@dataclass(frozen=True)
class Version:
    """One OCPP version the fleet speaks."""

    package: str  # the ocpp package's module with its schemas
    charger: type[RawCharger]


VERSIONS: dict[str, Version] = {
    "1.6": Version("v16", SimCharger),
    "2.0.1": Version("v201", SimStation201),
}
BEGIN = "Transaction.Begin"
# The TxUpdatedInterval the 2.0.1 device model reports before the CSMS sets its own.
METER_INTERVAL_S = 60.0
# The simplest valid 2.0.1 answers (what is not in here answers {"status": "Accepted"}).
SIMPLEST_201: dict[str, dict[str, Any]] = {
    "UnlockConnector": {"status": "Unlocked"},
    "GetTransactionStatus": {"messagesInQueue": False},
    "GetReport": {"status": "NotSupported"},
    "GetChargingProfiles": {"status": "NoProfiles"},
}


def handshake_failure_kind(err: BaseException) -> str:
    """How a connection attempt failed: refused, reset, timeout, HTTP status, other."""
    if isinstance(err, ConnectionRefusedError):
        return "refused"
    if isinstance(err, TimeoutError):
        return "timeout"
    if isinstance(err, InvalidStatus):
        return f"HTTP {err.response.status_code}"
    cause: BaseException | None = err
    while cause is not None:
        if isinstance(cause, ConnectionResetError | EOFError | BrokenPipeError):
            return "reset"
        cause = cause.__cause__ or cause.__context__
    if isinstance(err, InvalidHandshake):
        return "invalid handshake"
    return type(err).__name__


# ------------------------------------------------------------------------------- the fleet process
class Channel:
    """The coordinator's pipe, read without blocking the event loop."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.queue: asyncio.Queue[Any] = asyncio.Queue()
        asyncio.get_running_loop().add_reader(conn.fileno(), self._readable)

    def _readable(self) -> None:
        try:
            while self.conn.poll():
                self.queue.put_nowait(self.conn.recv())
        except (EOFError, OSError):  # the coordinator is gone
            asyncio.get_running_loop().remove_reader(self.conn.fileno())
            self.queue.put_nowait({"cmd": "stop"})

    async def recv(self, expected: str) -> dict[str, Any]:
        message: dict[str, Any] = await self.queue.get()
        if message.get("cmd") != expected:
            raise SystemExit(f"fleet: expected {expected!r} from the coordinator, got {message!r}")
        return message

    def send(self, message: dict[str, Any]) -> None:
        self.conn.send(message)


@dataclass(kw_only=True)
class FleetConfig:
    url: str
    ids: list[str]
    primed: int  # steady mode: chargers brought up before the server's "memory before" reading
    interval_s: float
    warmup_s: float = 3.0
    duration_s: float = 30.0
    storm_window_s: float = 30.0
    quiet_s: float = 5.0
    max_settle_s: float = 60.0
    retry_attempts: int = 10
    give_up_after_s: float = 120.0  # boot storm: no new connection attempt after this (from t0)
    ocpp: str = "1.6"  # the version the chargers speak (a key of VERSIONS)


class Fleet:
    def __init__(self, config: FleetConfig, channel: Channel) -> None:
        self.config = config
        self.channel = channel
        charger = VERSIONS[config.ocpp].charger
        schemas = Schemas(config.ocpp)
        schemas.warm(charger.sends, charger.expects)
        self.stats = FleetStats(schemas=schemas)
        self.chargers = [charger(config.url, cid, self.stats) for cid in config.ids]
        self.up: list[RawCharger] = []  # connected, Accepted, transaction started
        self.not_accepted: Counter[str] = Counter()
        self.cpu_mark = time.process_time()
        self.wall_mark = time.monotonic()

    def _fleet_cpu(self) -> float:
        """Fleet CPU utilisation (share of one core) since the previous call."""
        cpu, wall = time.process_time(), time.monotonic()
        share = (cpu - self.cpu_mark) / max(wall - self.wall_mark, 1e-9)
        self.cpu_mark, self.wall_mark = cpu, wall
        return share

    def _summary(self) -> dict[str, Any]:
        return {
            "errors": dict(self.stats.errors),
            "error_samples": self.stats.error_samples,
            "server_calls": dict(self.stats.server_calls),
            "follow_up_calls": dict(self.stats.follow_up_calls),
            "not_accepted": dict(self.not_accepted),
            "up": len(self.up),
        }

    async def _settle(self, since: float, give_up: float) -> bool:
        """Wait until the server has sent no CALL for ``quiet_s`` (counted from ``since`` at the
        earliest; ``time.monotonic()``); False if it was still sending at ``give_up``."""
        while True:
            last = self.stats.last_server_call
            quiet_since = max(last if last is not None else since, since)
            now = time.monotonic()
            if now - quiet_since >= self.config.quiet_s:
                return True
            if now >= give_up:
                return False
            await asyncio.sleep(min(0.5, self.config.quiet_s))

    # ------------------------------------------------------------------------------------ steady
    async def _bring_up(self, group: list[RawCharger]) -> None:
        """Connect and boot in waves: a real fleet does not boot in the same millisecond."""

        async def one(charger: RawCharger) -> None:
            try:
                await charger.connect()
            except (OSError, InvalidHandshake, TimeoutError) as err:
                self.stats.error(f"handshake {handshake_failure_kind(err)}", repr(err))
                return
            try:
                status = await charger.boot_notification()
                if status != "Accepted":
                    self.not_accepted[status] += 1
                    return
                await charger.start_session()
            except CallFailedError as err:
                self.stats.error(f"boot {err.kind}", err.detail)
                return
            self.up.append(charger)

        for start in range(0, len(group), WAVE):
            await asyncio.gather(*(one(c) for c in group[start : start + WAVE]))

    async def _meter_window(
        self, chargers: list[RawCharger], end: float, phase: str
    ) -> tuple[list[float], int]:
        """A meter message (1.6 MeterValues, 2.0.1 TransactionEvent Updated) every interval from
        each charger; sends that start before ``end`` count."""
        loop = asyncio.get_running_loop()
        interval = self.config.interval_s
        latencies: list[float] = []
        errors = 0

        async def meter_loop(charger: RawCharger) -> None:
            nonlocal errors
            # Spread the chargers over the period.
            next_at = loop.time() + random.uniform(0, interval)
            while True:
                await asyncio.sleep(max(0.0, next_at - loop.time()))
                if next_at >= end:
                    return
                started = time.perf_counter()
                try:
                    await charger.send_meter()
                    latencies.append((time.perf_counter() - started) * 1000)
                except CallFailedError as err:
                    errors += 1
                    self.stats.error(f"{phase} {charger.meter_action} {err.kind}", err.detail)
                next_at += interval

        await asyncio.gather(*(meter_loop(c) for c in chargers))
        return latencies, errors

    async def steady(self) -> None:
        primed = self.chargers[: self.config.primed]
        await self._bring_up(primed)
        await asyncio.sleep(self.config.warmup_s if primed else 0.0)
        self.channel.send({"event": "primed", "up": len(self.up)})
        await self.channel.recv("continue")
        await self._bring_up(self.chargers[len(primed) :])
        await asyncio.sleep(self.config.warmup_s)
        settled = await self._settle(0.0, time.monotonic() + self.config.max_settle_s)
        self.channel.send({"event": "ready", "settled": settled, **self._summary()})
        await self.channel.recv("go")
        self._fleet_cpu()
        loop = asyncio.get_running_loop()
        calls_before = sum(self.stats.server_calls.values())
        latencies, errors = await self._meter_window(
            self.up, loop.time() + self.config.duration_s, "window"
        )
        self.channel.send(
            {
                "event": "done",
                "latencies_ms": latencies,
                "meter_errors": errors,
                "window_s": self.config.duration_s,
                "fleet_cpu": self._fleet_cpu(),
                "server_calls_in_window": sum(self.stats.server_calls.values()) - calls_before,
                **self._summary(),
            }
        )

    # -------------------------------------------------------------------------------- boot storm
    async def storm(self) -> None:
        self.channel.send({"event": "idle"})
        start = await self.channel.recv("storm")
        t0: float = start["t0"]  # time.monotonic() of the coordinator: the same clock here
        await asyncio.sleep(max(0.0, t0 - time.monotonic()))
        self._fleet_cpu()
        failures: Counter[str] = Counter()
        connect_ms: list[float] = []
        boot_ms: list[float] = []
        accepted_at: list[float] = []
        booted = 0
        all_booted = asyncio.Event()

        async def boot_phase(charger: RawCharger) -> bool:
            for attempt in range(self.config.retry_attempts):
                if attempt:  # a real charger retries after a pause; spread the retries
                    await asyncio.sleep(random.uniform(1.0, 2.0))
                if time.monotonic() - t0 > self.config.give_up_after_s:
                    break
                started = time.monotonic()
                try:
                    await charger.connect()
                except (OSError, InvalidHandshake, TimeoutError) as err:
                    failures[handshake_failure_kind(err)] += 1
                    continue
                connect_ms.append((time.monotonic() - started) * 1000)
                sent = time.monotonic()
                try:
                    status = await charger.boot_notification()
                except CallFailedError as err:
                    failures[f"boot {err.kind}"] += 1
                    if err.kind in ("CALLERROR", "answer not schema-valid"):
                        self.stats.error(f"storm boot {err.kind}", err.detail)
                        return False
                    await charger.close()
                    continue
                answered = time.monotonic()
                boot_ms.append((answered - sent) * 1000)
                if status != "Accepted":
                    self.not_accepted[status] += 1
                    return False
                accepted_at.append(answered - t0)
                return True
            self.not_accepted["gave up connecting"] += 1
            return False

        async def one(charger: RawCharger) -> None:
            nonlocal booted
            try:
                accepted = await boot_phase(charger)
            finally:
                booted += 1
                if booted == len(self.chargers):
                    all_booted.set()
            if not accepted:
                return
            try:
                await charger.start_session()
            except CallFailedError as err:
                self.stats.error(f"storm session {err.kind}", err.detail)
                return
            self.up.append(charger)

        async def report_booted() -> None:
            await all_booted.wait()
            self.channel.send(
                {
                    "event": "booted",
                    "accepted_at_s": accepted_at,
                    "connect_ms": connect_ms,
                    "boot_ms": boot_ms,
                    "failures": dict(failures),
                    "not_accepted": dict(self.not_accepted),
                    "fleet_cpu": self._fleet_cpu(),
                }
            )

        reporter = asyncio.create_task(report_booted())
        await asyncio.gather(*(one(c) for c in self.chargers))
        await reporter
        # MeterValues from every charger that is up, until the storm window ends.
        window_end = t0 + self.config.storm_window_s
        latencies, errors = await self._meter_window(self.up, window_end, "after storm")
        settled = await self._settle(window_end, window_end + self.config.max_settle_s)
        self.channel.send(
            {
                "event": "done",
                "latencies_ms": latencies,
                "meter_errors": errors,
                "window_s": self.config.storm_window_s,
                "fleet_cpu": self._fleet_cpu(),
                "last_server_call_s": None
                if self.stats.last_server_call is None
                else self.stats.last_server_call - t0,
                "settled": settled,
                **self._summary(),
            }
        )

    async def close(self) -> None:
        await self.channel.recv("close")
        connected = [c for c in self.chargers if c.ws is not None]
        await asyncio.gather(*(c.close() for c in connected), return_exceptions=True)
        self.channel.send({"event": "closed"})


async def _run_fleet(mode: str, config: FleetConfig, conn: Connection) -> None:
    channel = Channel(conn)
    fleet = Fleet(config, channel)
    if mode == "steady":
        await fleet.steady()
    else:
        await fleet.storm()
    await fleet.close()


def fleet_process(mode: str, config: FleetConfig, conn: Connection) -> None:
    """Entry point of a spawned fleet process (``mode``: "steady" or "storm")."""
    raise_nofile_limit(len(config.ids), f"fleet process {os.getpid()}")
    asyncio.run(_run_fleet(mode, config, conn))
