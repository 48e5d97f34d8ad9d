"""A tiny CSMS around one real :class:`V201Session` / :class:`V21Session`, and a simulated station.

The server side is :class:`~.v16_harness.Harness` (``websockets`` on 127.0.0.1, port 0, one fresh
session per connection, like the real server) with the 2.x adapter under test. The station side,
:class:`SimStation`, is the ``ocpp`` package's client-side ``ChargePoint`` (``ocpp.v201`` or
``ocpp.v21``) over real websockets: what it sends goes through the library's dataclasses and schema
validation (someone else's reading of the spec), and it answers every CSMS -> station action:

- with a small device model (GetVariables, SetVariables, GetBaseReport/GetReport -> NotifyReport
  pages with ``tbc``), charging profiles (Set/Clear/GetCompositeSchedule), a local list version
  and TriggerMessage follow-ups (BootNotification, StatusNotification, Heartbeat);
- every other action with the smallest answer its response schema allows ("Accepted" where the
  status enum has it);
- tests override any answer: ``sim.answers[action] = {...}`` (camelCase, as on the wire) or a
  callable ``payload -> answer``; ``sim.status_override[action] = "Rejected"`` changes only the
  status; ``sim.fail_with_error[action] = "NotSupported"`` answers a CALLERROR; ``sim.delay``
  answers late. Every received CALL is recorded as sent (camelCase): ``sim.actions(name)``.

Station -> CSMS helpers (:meth:`SimStation.boot`, :meth:`SimStation.status`,
:meth:`SimStation.tx_event` ...) use the library's typed calls; :meth:`SimStation.request` sends
any payload unchecked (bad-input tests).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

import ocpp.v21
import ocpp.v201
from ocpp.messages import Call, CallError, CallResult, validate_payload
from websockets.asyncio.client import ClientConnection
from websockets.asyncio.server import ServerConnection

from custom_components.ocpp_ems.core.protocol import OCPP21, OCPP201
from custom_components.ocpp_ems.core.protocol.v201 import V21Session, V201Session
from custom_components.ocpp_ems.core.session import SessionContext
from custom_components.ocpp_ems.core.settings import ServerSettings

from . import v16_harness
from .fakes import MemoryDirectory
from .v16_harness import (
    CHARGER_ID,
    Harness,
    assert_usable,
    exchange,
    now_iso,
    wait_for,
)

__all__ = [
    "CHARGER_ID",
    "OCPP21",
    "OCPP201",
    "VERSIONS",
    "Answer",
    "SimStation",
    "V21Harness",
    "V201Harness",
    "assert_usable",
    "exchange",
    "now_iso",
    "protocol_harness",
    "running_harness",
    "sampled",
    "wait_for",
]

VERSIONS = (OCPP201, OCPP21)

# (component, evse id, connector id, variable, attribute type) -> value.
type VariableKey = tuple[str, int | None, int | None, str, str]


def _var(
    component: str, variable: str, *, evse: int | None = None, connector: int | None = None
) -> VariableKey:
    return (component, evse, connector, variable, "Actual")


# A one-EVSE, one-connector AC station with smart charging in A and W and 3 -> 1 phase switching.
DEFAULT_DEVICE_MODEL: dict[VariableKey, str] = {
    _var("ChargingStation", "Available"): "true",
    _var("ChargingStation", "SupplyPhases"): "3",
    _var("EVSE", "Available", evse=1): "true",
    _var("EVSE", "Power", evse=1): "22000",
    _var("EVSE", "SupplyPhases", evse=1): "3",
    _var("Connector", "Available", evse=1, connector=1): "true",
    _var("Connector", "ConnectorType", evse=1, connector=1): "cType2",
    _var("Connector", "SupplyPhases", evse=1, connector=1): "3",
    _var("SmartChargingCtrlr", "Enabled"): "true",
    _var("SmartChargingCtrlr", "Available"): "true",
    _var("SmartChargingCtrlr", "RateUnit"): "A,W",
    _var("SmartChargingCtrlr", "ProfileStackLevel"): "8",
    _var("SmartChargingCtrlr", "PeriodsPerSchedule"): "24",
    _var("SmartChargingCtrlr", "Entries"): "10",
    _var("SmartChargingCtrlr", "Phases3to1"): "true",
    _var("SmartChargingCtrlr", "LimitChangeSignificance"): "0.1",
    _var("SampledDataCtrlr", "TxUpdatedInterval"): "60",
    _var("SampledDataCtrlr", "TxUpdatedMeasurands"): "Energy.Active.Import.Register",
    _var("SampledDataCtrlr", "TxEndedMeasurands"): "Energy.Active.Import.Register",
    _var("AlignedDataCtrlr", "Interval"): "0",
    _var("AlignedDataCtrlr", "Measurands"): "Energy.Active.Import.Register",
    _var("OCPPCommCtrlr", "HeartbeatInterval"): "300",
    _var("LocalAuthListCtrlr", "Enabled"): "true",
    _var("LocalAuthListCtrlr", "Entries"): "100",
    _var("LocalAuthListCtrlr", "ItemsPerMessage"): "50",
    _var("AuthCtrlr", "Enabled"): "true",
    _var("AuthCacheCtrlr", "Enabled"): "true",
    _var("SecurityCtrlr", "SecurityProfile"): "0",
    _var("SecurityCtrlr", "BasicAuthPassword"): "",
    _var("TxCtrlr", "EVConnectionTimeOut"): "120",
    _var("TxCtrlr", "TxStartPoint"): "PowerPathClosed",
    _var("TxCtrlr", "TxStopPoint"): "EVConnected",
    _var("DeviceDataCtrlr", "ItemsPerMessage"): "50",
}
READ_ONLY: frozenset[tuple[str, str]] = frozenset(
    {
        ("EVSE", "Power"),
        ("EVSE", "SupplyPhases"),
        ("ChargingStation", "SupplyPhases"),
        ("Connector", "ConnectorType"),
        ("Connector", "SupplyPhases"),
        ("SmartChargingCtrlr", "RateUnit"),
        ("SmartChargingCtrlr", "ProfileStackLevel"),
        ("SmartChargingCtrlr", "PeriodsPerSchedule"),
        ("SmartChargingCtrlr", "Entries"),
        ("SmartChargingCtrlr", "Phases3to1"),
        ("LocalAuthListCtrlr", "Entries"),
        ("LocalAuthListCtrlr", "ItemsPerMessage"),
    }
)
WRITE_ONLY: frozenset[tuple[str, str]] = frozenset({("SecurityCtrlr", "BasicAuthPassword")})


def sampled(
    value: float,
    measurand: str | None = None,
    *,
    unit: str | None = None,
    multiplier: int | None = None,
    phase: str | None = None,
    context: str | None = None,
    location: str | None = None,
    signed: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """One 2.x SampledValue (camelCase, as on the wire); None fields are left out."""
    sample: dict[str, Any] = {"value": value}
    if measurand is not None:
        sample["measurand"] = measurand
    if unit is not None or multiplier is not None:
        sample["unitOfMeasure"] = {
            k: v for k, v in (("unit", unit), ("multiplier", multiplier)) if v is not None
        }
    for key, given in (("phase", phase), ("context", context), ("location", location)):
        if given is not None:
            sample[key] = given
    if signed is not None:
        sample["signedMeterValue"] = signed
    return sample


@dataclass(frozen=True)
class Answer:
    """What the CSMS answered to :meth:`SimStation.request`: a result or a CALLERROR."""

    payload: dict[str, Any]
    error_code: str | None = None

    @property
    def ok(self) -> bool:
        return self.error_code is None


type AnswerSpec = dict[str, Any] | Callable[[dict[str, Any]], dict[str, Any]]


class _Station:
    """The station behaviour shared by the 2.0.1 and 2.1 clients (see the module docstring)."""

    # Provided by ocpp.v201.ChargePoint / ocpp.v21.ChargePoint.
    _call: Any
    _ocpp_version: str
    _call_lock: asyncio.Lock
    _response_timeout: float
    _send: Callable[[str], Any]
    _get_specific_response: Callable[[str, float], Any]
    call: Callable[..., Any]

    def _init_station(self) -> None:
        self.device_model: dict[VariableKey, str] = dict(DEFAULT_DEVICE_MODEL)
        self.read_only: set[tuple[str, str]] = set(READ_ONLY)
        self.write_only: set[tuple[str, str]] = set(WRITE_ONLY)
        self.answers: dict[str, AnswerSpec] = {}
        self.status_override: dict[str, str] = {}
        self.fail_with_error: dict[str, str] = {}  # action -> CALLERROR code
        self.delay: dict[str, float] = {}  # action -> seconds before answering
        self.received: list[tuple[str, dict[str, Any]]] = []
        self.profiles: dict[int, dict[str, Any]] = {}  # id -> {"evseId": .., **profile}
        self.composite_override: float | None = None
        self.local_list_version = 0
        self.boot_on_trigger = True
        self.report_page_size = 10
        self.seq_no = 0
        self._background: set[asyncio.Future[Any]] = set()

    # --- CSMS -> station ---------------------------------------------------------------------
    def actions(self, name: str) -> list[dict[str, Any]]:
        return [payload for action, payload in self.received if action == name]

    async def _handle_call(self, msg: Call) -> None:
        """Every CALL of the CSMS: recorded, answered (see the module docstring), followed up."""
        self.received.append((msg.action, msg.payload))
        if msg.action in self.delay:
            await asyncio.sleep(self.delay[msg.action])
        code = self.fail_with_error.get(msg.action)
        if code is not None:
            error = CallError(msg.unique_id, code, f"{msg.action} not here", {})
            await self._send(error.to_json())
            return
        answer = self._answer(msg.action, msg.payload)
        result = msg.create_call_result(answer)
        await validate_payload(result, self._ocpp_version)  # a bug of the simulator, not the CSMS
        await self._send(result.to_json())
        follow_up = getattr(self, f"_after_{msg.action}", None)
        if follow_up is not None:
            self._spawn(follow_up(msg.payload, answer))

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def _answer(self, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        spec = self.answers.get(action)
        if callable(spec):
            answer = spec(payload)
        elif spec is not None:
            answer = dict(spec)
        else:
            builder = getattr(self, f"_answer_{action}", None)
            answer = builder(payload) if builder is not None else self._minimal_answer(action)
        if action in self.status_override:
            answer["status"] = self.status_override[action]
        return answer

    def _minimal_answer(self, action: str) -> dict[str, Any]:
        schema = _response_schema(self._ocpp_version, action)
        result: dict[str, Any] = _minimal(schema, schema.get("definitions", {}))
        return result

    # device model
    def _lookup(self, item: dict[str, Any]) -> tuple[str, VariableKey | None]:
        component = item["component"]
        evse = component.get("evse") or {}
        key = (
            component["name"],
            evse.get("id"),
            evse.get("connectorId"),
            item["variable"]["name"],
            item.get("attributeType", "Actual"),
        )
        if key in self.device_model:
            return "Accepted", key
        if not any(k[0] == key[0] for k in self.device_model):
            return "UnknownComponent", None
        if not any(k[0] == key[0] and k[3] == key[3] for k in self.device_model):
            return "UnknownVariable", None
        return "NotSupportedAttributeType", None

    def _answer_GetVariables(self, payload: dict[str, Any]) -> dict[str, Any]:
        results = []
        for item in payload["getVariableData"]:
            status, key = self._lookup(item)
            result = {
                "attributeStatus": status,
                "component": item["component"],
                "variable": item["variable"],
            }
            if key is not None and (key[0], key[3]) in self.write_only:
                result["attributeStatus"] = "Rejected"
            elif key is not None:
                result["attributeValue"] = self.device_model[key]
            results.append(result)
        return {"getVariableResult": results}

    def _answer_SetVariables(self, payload: dict[str, Any]) -> dict[str, Any]:
        results = []
        for item in payload["setVariableData"]:
            status, key = self._lookup(item)
            if key is not None and (key[0], key[3]) in self.read_only:
                status = "Rejected"
            elif key is not None:
                self.device_model[key] = item["attributeValue"]
            # Per variable: ``status_override["SetVariables:BasicAuthPassword"] = "Rejected"``.
            status = self.status_override.get(f"SetVariables:{item['variable']['name']}", status)
            results.append(
                {
                    "attributeStatus": status,
                    "component": item["component"],
                    "variable": item["variable"],
                }
            )
        return {"setVariableResult": results}

    def _answer_GetLocalListVersion(self, payload: dict[str, Any]) -> dict[str, Any]:
        return {"versionNumber": self.local_list_version}

    def _answer_SendLocalList(self, payload: dict[str, Any]) -> dict[str, Any]:
        if self.status_override.get("SendLocalList", "Accepted") == "Accepted":
            self.local_list_version = payload["versionNumber"]
        return {"status": "Accepted"}

    def _answer_GetLog(self, payload: dict[str, Any]) -> dict[str, Any]:
        return {"status": "Accepted", "filename": "log.zip"}

    def _answer_SetChargingProfile(self, payload: dict[str, Any]) -> dict[str, Any]:
        if self.status_override.get("SetChargingProfile", "Accepted") == "Accepted":
            profile = {"evseId": payload["evseId"], **payload["chargingProfile"]}
            for pid, existing in list(self.profiles.items()):
                if (
                    existing["evseId"] == profile["evseId"]
                    and existing["stackLevel"] == profile["stackLevel"]
                    and existing["chargingProfilePurpose"] == profile["chargingProfilePurpose"]
                ):
                    del self.profiles[pid]
            self.profiles[profile["id"]] = profile
        return {"status": "Accepted"}

    def _answer_ClearChargingProfile(self, payload: dict[str, Any]) -> dict[str, Any]:
        criteria = payload.get("chargingProfileCriteria") or {}
        matches = [
            pid
            for pid, profile in self.profiles.items()
            if payload.get("chargingProfileId") in (None, pid)
            and criteria.get("evseId") in (None, profile["evseId"])
            and criteria.get("chargingProfilePurpose") in (None, profile["chargingProfilePurpose"])
            and criteria.get("stackLevel") in (None, profile["stackLevel"])
        ]
        for pid in matches:
            del self.profiles[pid]
        return {"status": "Accepted" if matches else "Unknown"}

    def composite(self, evse_id: int) -> tuple[float, str] | None:
        """(limit, unit) in force now: min(station max, the highest valid Tx/TxDefault level)."""
        if self.composite_override is not None:
            return self.composite_override, "A"
        now = datetime.now(UTC)
        by_purpose: dict[str, list[tuple[int, float, str]]] = {}
        for profile in self.profiles.values():
            if profile["evseId"] not in (0, evse_id):
                continue
            schedules = profile["chargingSchedule"]
            schedule = schedules[0] if isinstance(schedules, list) else schedules
            start = schedule.get("startSchedule")
            duration = schedule.get("duration")
            if start is not None and duration is not None:
                begun = datetime.fromisoformat(start.replace("Z", "+00:00"))
                if now > begun + timedelta(seconds=duration):
                    continue
            limit = float(schedule["chargingSchedulePeriod"][0]["limit"])
            by_purpose.setdefault(profile["chargingProfilePurpose"], []).append(
                (profile["stackLevel"], limit, schedule["chargingRateUnit"])
            )
        limits = []
        if "ChargingStationMaxProfile" in by_purpose:
            limits.append(max(by_purpose["ChargingStationMaxProfile"])[1:])
        tx = by_purpose.get("TxProfile") or by_purpose.get("TxDefaultProfile")
        if tx:
            limits.append(max(tx)[1:])
        return min(limits) if limits else None

    def _answer_GetCompositeSchedule(self, payload: dict[str, Any]) -> dict[str, Any]:
        found = self.composite(payload["evseId"])
        if found is None:
            return {"status": "Rejected"}
        limit, unit = found
        return {
            "status": "Accepted",
            "schedule": {
                "evseId": payload["evseId"],
                "duration": payload["duration"],
                "scheduleStart": now_iso(),
                "chargingRateUnit": payload.get("chargingRateUnit") or unit,
                "chargingSchedulePeriod": [{"startPeriod": 0, "limit": limit}],
            },
        }

    async def _after_TriggerMessage(self, payload: dict[str, Any], answer: dict[str, Any]) -> None:
        if answer.get("status") != "Accepted":
            return
        message = payload["requestedMessage"]
        evse = payload.get("evse") or {}
        if message == "BootNotification" and self.boot_on_trigger:
            await self.boot(reason="Triggered")
        elif message == "Heartbeat":
            await self.heartbeat()
        elif message == "StatusNotification":
            await self.status(evse.get("id", 1), evse.get("connectorId", 1), "Available")

    async def _after_GetBaseReport(self, payload: dict[str, Any], answer: dict[str, Any]) -> None:
        if answer.get("status") == "Accepted":
            await self.send_report(payload["requestId"])

    async def _after_GetReport(self, payload: dict[str, Any], answer: dict[str, Any]) -> None:
        if answer.get("status") == "Accepted":
            await self.send_report(payload["requestId"])

    def report_data(self) -> list[dict[str, Any]]:
        """The device model as NotifyReport ``reportData`` entries."""
        entries = []
        for (component, evse, connector, variable, kind), value in self.device_model.items():
            comp: dict[str, Any] = {"name": component}
            if evse is not None:
                comp["evse"] = {"id": evse}
                if connector is not None:
                    comp["evse"]["connectorId"] = connector
            mutability = "ReadWrite"
            if (component, variable) in self.read_only:
                mutability = "ReadOnly"
            elif (component, variable) in self.write_only:
                mutability = "WriteOnly"
            attribute: dict[str, Any] = {"type": kind, "mutability": mutability}
            if mutability != "WriteOnly":
                attribute["value"] = value
            entries.append(
                {
                    "component": comp,
                    "variable": {"name": variable},
                    "variableAttribute": [attribute],
                    "variableCharacteristics": {"dataType": "string", "supportsMonitoring": False},
                }
            )
        return entries

    async def send_report(self, request_id: int) -> None:
        """The whole device model as NotifyReport pages (``tbc`` on all but the last)."""
        data = self.report_data()
        size = self.report_page_size
        pages = [data[i : i + size] for i in range(0, len(data), size)] or [[]]
        for seq_no, page in enumerate(pages):
            await self.call(
                self._call.NotifyReport(
                    request_id=request_id,
                    generated_at=now_iso(),
                    seq_no=seq_no,
                    report_data=page or None,
                    tbc=seq_no < len(pages) - 1,
                )
            )

    # --- station -> CSMS -----------------------------------------------------------------------
    async def request(self, action: str, payload: Any, unique_id: str | None = None) -> Answer:
        """Send any payload (no schema check, no key conversion) and return the CSMS's answer."""
        unique_id = unique_id or str(uuid.uuid4())
        async with self._call_lock:
            await self._send(json.dumps([2, unique_id, action, payload]))
            response = await self._get_specific_response(unique_id, self._response_timeout)
        if isinstance(response, CallResult):
            return Answer(response.payload)
        return Answer(response.error_details or {}, response.error_code)

    async def boot(self, reason: str = "PowerUp", **station: Any) -> Any:
        station.setdefault("model", "Sim")
        station.setdefault("vendor_name", "Acme")
        return await self.call(self._call.BootNotification(charging_station=station, reason=reason))

    async def heartbeat(self) -> Any:
        return await self.call(self._call.Heartbeat())

    async def status(
        self, evse_id: int, connector_id: int, status: str, timestamp: str | None = None
    ) -> Any:
        return await self.call(
            self._call.StatusNotification(
                timestamp=timestamp or now_iso(),
                connector_status=status,
                evse_id=evse_id,
                connector_id=connector_id,
            )
        )

    async def authorize(self, id_token: str, token_type: str = "ISO14443") -> Any:
        return await self.call(
            self._call.Authorize(id_token={"idToken": id_token, "type": token_type})
        )

    async def tx_event(
        self,
        event_type: str,
        transaction_id: str,
        *,
        trigger_reason: str = "Authorized",
        seq_no: int | None = None,
        evse: dict[str, Any] | None = None,
        meter_value: list[dict[str, Any]] | None = None,
        charging_state: str | None = None,
        stopped_reason: str | None = None,
        id_token: dict[str, Any] | None = None,
        offline: bool | None = None,
        timestamp: str | None = None,
        **extra: Any,
    ) -> Any:
        """A TransactionEvent; ``seq_no`` defaults to the station's own counter (0, 1, 2 ...)."""
        if seq_no is None:
            seq_no = self.seq_no
            self.seq_no += 1
        info: dict[str, Any] = {"transactionId": transaction_id}
        if charging_state is not None:
            info["chargingState"] = charging_state
        if stopped_reason is not None:
            info["stoppedReason"] = stopped_reason
        return await self.call(
            self._call.TransactionEvent(
                event_type=event_type,
                timestamp=timestamp or now_iso(),
                trigger_reason=trigger_reason,
                seq_no=seq_no,
                transaction_info=info,
                meter_value=meter_value,
                offline=offline,
                evse=evse,
                id_token=id_token,
                **extra,
            )
        )

    async def meter_values(
        self, evse_id: int, samples: list[dict[str, Any]], timestamp: str | None = None
    ) -> Any:
        return await self.call(
            self._call.MeterValues(
                evse_id=evse_id,
                meter_value=[{"timestamp": timestamp or now_iso(), "sampledValue": samples}],
            )
        )


_RESPONSE_SCHEMAS: dict[tuple[str, str], dict[str, Any]] = {}


def _response_schema(version: str, action: str) -> dict[str, Any]:
    key = (version, action)
    if key not in _RESPONSE_SCHEMAS:
        package = ocpp.v21 if version == "2.1" else ocpp.v201
        path = f"{package.__path__[0]}/schemas/{action}Response.json"
        with open(path, encoding="utf-8-sig") as file:
            _RESPONSE_SCHEMAS[key] = json.load(file)
    return _RESPONSE_SCHEMAS[key]


def _minimal(node: dict[str, Any], definitions: dict[str, Any]) -> Any:
    """The smallest value ``node`` allows ("Accepted" for a status enum that has it)."""
    if "$ref" in node:
        return _minimal(definitions[node["$ref"].rsplit("/", 1)[-1]], definitions)
    if "enum" in node:
        return "Accepted" if "Accepted" in node["enum"] else node["enum"][0]
    kind = node.get("type")
    if kind == "object":
        properties = node.get("properties", {})
        return {name: _minimal(properties[name], definitions) for name in node.get("required", [])}
    if kind == "array":
        return [_minimal(node["items"], definitions) for _ in range(node.get("minItems", 0))]
    if kind == "string":
        return now_iso() if node.get("format") == "date-time" else ""
    if kind in ("integer", "number"):
        return node.get("minimum", 0)
    return False


class SimStation(_Station, ocpp.v201.ChargePoint):  # type: ignore[misc]
    """A scriptable OCPP 2.0.1 charging station (see the module docstring)."""

    def __init__(self, charger_id: str, connection: ClientConnection) -> None:
        super().__init__(charger_id, connection, response_timeout=5)
        self._init_station()


class SimStation21(_Station, ocpp.v21.ChargePoint):  # type: ignore[misc]
    """The same station speaking OCPP 2.1."""

    def __init__(self, charger_id: str, connection: ClientConnection) -> None:
        super().__init__(charger_id, connection, response_timeout=5)
        self._init_station()


class V201Harness(Harness):
    """:class:`~.v16_harness.Harness` with a :class:`V201Session` and a :class:`SimStation`."""

    subprotocol: ClassVar[str] = OCPP201
    session_class: ClassVar[type[V201Session]] = V201Session
    station_class: ClassVar[type[_Station]] = SimStation

    def new_session(self, connection: ServerConnection, context: SessionContext) -> Any:
        return self.session_class(connection, self.charger, context)

    def new_client(self, connection: ClientConnection) -> Any:
        station = self.station_class(CHARGER_ID, connection)  # type: ignore[call-arg]
        self.stations.append(station)
        return station

    @property
    def stations(self) -> list[_Station]:
        return self.__dict__.setdefault("_stations", [])


class V21Harness(V201Harness):
    """The same with a :class:`V21Session` and a :class:`SimStation21`."""

    subprotocol: ClassVar[str] = OCPP21
    session_class: ClassVar[type[V201Session]] = V21Session
    station_class: ClassVar[type[_Station]] = SimStation21


_HARNESSES: dict[str, type[Harness]] = {OCPP201: V201Harness, OCPP21: V21Harness}


def running_harness(
    directory: MemoryDirectory, settings: ServerSettings, version: str = OCPP201
) -> contextlib.AbstractAsyncContextManager[Harness]:
    """A started harness for ``version`` ("ocpp2.0.1" or "ocpp2.1")."""
    return v16_harness.running_harness(directory, settings, _HARNESSES[version])


def protocol_harness(
    directory: MemoryDirectory, settings: ServerSettings, version: str = OCPP201
) -> contextlib.AbstractAsyncContextManager[Harness]:
    """A running harness for protocol tests: the station is accepted, and no current controller
    joins its sessions (its profile writes would mix with the messages under test)."""
    return v16_harness.protocol_harness(directory, settings, _HARNESSES[version])
