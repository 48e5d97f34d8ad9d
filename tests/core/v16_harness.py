"""A tiny central system around one real :class:`V16Session`, and a simulated 1.6 charger.

The server side is ``websockets.asyncio.server.serve`` on 127.0.0.1 (port 0) whose handler runs a
real ``V16Session`` (the adapter under test) and, like the real server, attaches a real
``CurrentController`` when the session reports an accepted boot. The charger side,
:class:`SimCharger`, is an ``ocpp.v16.ChargePoint`` client over real websockets that answers every
central-system command, keeps charging profiles and computes its composite schedule, so current
control is checked end to end.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar, TypeVar, cast

from ocpp import routing
from ocpp.exceptions import NotSupportedError
from ocpp.v16 import ChargePoint, call, call_result
from ocpp.v16.enums import Action
from websockets.asyncio.client import ClientConnection, connect
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.typing import Subprotocol

from custom_components.ocpp_ems.core.current_control import CurrentController
from custom_components.ocpp_ems.core.directory import Admission
from custom_components.ocpp_ems.core.model import Charger, ChargerEvent
from custom_components.ocpp_ems.core.protocol.v16 import V16Session
from custom_components.ocpp_ems.core.session import SessionContext
from custom_components.ocpp_ems.core.settings import ServerSettings

from .fakes import MemoryDirectory

CHARGER_ID = "CP1"

_F = TypeVar("_F", bound=Callable[..., Any])


def on(action: str) -> Callable[[_F], _F]:
    return cast(Callable[[_F], _F], routing.on(action))


def after(action: str) -> Callable[[_F], _F]:
    return cast(Callable[[_F], _F], routing.after(action))


DEFAULT_CONFIG: dict[str, str] = {
    "SupportedFeatureProfiles": (
        "Core,FirmwareManagement,LocalAuthListManagement,Reservation,SmartCharging,RemoteTrigger"
    ),
    "ChargeProfileMaxStackLevel": "8",
    "ChargingScheduleAllowedChargingRateUnit": "Current,Power",
    "ChargingScheduleMaxPeriods": "24",
    "MaxChargingProfilesInstalled": "10",
    "ConnectorSwitch3to1PhaseSupported": "true",
    "LocalAuthListMaxLength": "100",
    "SendLocalListMaxLength": "50",
    "LocalAuthListEnabled": "true",
    "NumberOfConnectors": "1",
    "MeterValueSampleInterval": "60",
    "MeterValuesSampledData": "Energy.Active.Import.Register",
    "MeterValuesSampledDataMaxLength": "10",
    "HeartbeatInterval": "300",
}


def now_iso(offset_s: float = 0.0) -> str:
    return (datetime.now(UTC) + timedelta(seconds=offset_s)).isoformat()


async def wait_for(predicate: Callable[[], Any], seconds: float = 15.0) -> None:
    """Poll ``predicate`` until it is truthy (TimeoutError after ``seconds``: generous, as
    signing a certificate in the executor of a loaded CI machine has taken over 5 s)."""
    async with asyncio.timeout(seconds):
        while not predicate():  # noqa: ASYNC110 - the state lives in another component
            await asyncio.sleep(0.01)


class SimCharger(ChargePoint):  # type: ignore[misc]
    """A scriptable OCPP 1.6 charger: records what it receives, answers as configured."""

    def __init__(self, charger_id: str, connection: ClientConnection) -> None:
        super().__init__(charger_id, connection, response_timeout=5)
        self.config: dict[str, str] = dict(DEFAULT_CONFIG)
        self.supported_measurands = {
            "Energy.Active.Import.Register",
            "Power.Active.Import",
            "Current.Import",
            "Current.Offered",
            "Voltage",
        }
        self.reject_keys: set[str] = set()
        self.status_override: dict[str, str] = {}
        self.fail_with_error: set[str] = set()  # actions answered with a CALLERROR
        self.delay: dict[str, float] = {}  # actions answered late (timeouts)
        self.received: list[tuple[str, dict[str, Any]]] = []
        self.profiles: dict[int, dict[str, Any]] = {}
        self.composite_override: float | None = None
        self.composite_unit: str | None = None  # answer in this unit whatever was asked
        # A whole GetCompositeSchedule answer (snake_case, status Accepted) instead of the profiles'.
        self.composite_answer: dict[str, Any] | None = None
        self.local_list_version = 0
        self.boot_on_trigger = True
        self._background: set[asyncio.Future[Any]] = set()

    # --- helpers for tests -----------------------------------------------------------------------
    def actions(self, name: str) -> list[dict[str, Any]]:
        return [payload for action, payload in self.received if action == name]

    def _record(self, action: str, payload: dict[str, Any]) -> str:
        self.received.append((action, payload))
        if action in self.fail_with_error:
            raise NotSupportedError(description=f"{action} not here")
        return self.status_override.get(action, "Accepted")

    async def _maybe_delay(self, action: str) -> None:
        if action in self.delay:
            await asyncio.sleep(self.delay[action])

    async def boot(self, **kwargs: Any) -> Any:
        return await self.call(
            call.BootNotification(
                charge_point_model=kwargs.pop("model", "Sim"),
                charge_point_vendor=kwargs.pop("vendor", "Acme"),
                **kwargs,
            )
        )

    async def status(self, connector_id: int, status: str, **kwargs: Any) -> Any:
        return await self.call(
            call.StatusNotification(
                connector_id=connector_id,
                error_code=kwargs.pop("error_code", "NoError"),
                status=status,
                **kwargs,
            )
        )

    async def start_tx(
        self,
        connector_id: int = 1,
        id_tag: str = "TAG1",
        meter: int = 1000,
        timestamp: str | None = None,
    ) -> Any:
        return await self.call(
            call.StartTransaction(
                connector_id=connector_id,
                id_tag=id_tag,
                meter_start=meter,
                timestamp=timestamp or now_iso(),
            )
        )

    async def meter(
        self,
        connector_id: int,
        samples: list[dict[str, Any]],
        transaction_id: int | None = None,
        timestamp: str | None = None,
    ) -> Any:
        return await self.call(
            call.MeterValues(
                connector_id=connector_id,
                transaction_id=transaction_id,
                meter_value=[{"timestamp": timestamp or now_iso(), "sampledValue": samples}],
            )
        )

    # The charger's clock minus the true time; whether a schedule that has not started yet is
    # out of force (1.6 3.13; this simulator is lenient unless told: StrictSim).
    clock_offset = timedelta(0)
    honours_start = False

    def composite(self, connector_id: int, unit: str | None) -> float | None:
        """The limit in force now: min(ChargePointMax, the highest valid Tx/TxDefault level)."""
        if self.composite_override is not None:
            return self.composite_override
        now = datetime.now(UTC) + self.clock_offset
        by_purpose: dict[str, list[tuple[int, float]]] = {}
        for profile in self.profiles.values():
            schedule = profile["chargingSchedule"]
            start = datetime.fromisoformat(schedule["startSchedule"].replace("Z", "+00:00"))
            duration = schedule.get("duration")
            if self.honours_start and now < start:
                continue
            if duration is not None and now > start + timedelta(seconds=duration):
                continue
            limit = float(schedule["chargingSchedulePeriod"][0]["limit"])
            by_purpose.setdefault(profile["chargingProfilePurpose"], []).append(
                (profile["stackLevel"], limit)
            )
        limits = []
        for purpose in ("ChargePointMaxProfile",):
            if purpose in by_purpose:
                limits.append(max(by_purpose[purpose])[1])
        tx = by_purpose.get("TxProfile") or by_purpose.get("TxDefaultProfile")
        if tx:
            limits.append(max(tx)[1])
        return min(limits) if limits else None

    # --- central system -> charger ------------------------------------------------------------
    @on(Action.get_configuration)
    async def on_get_configuration(self, key: list[str] | None = None, **kwargs: Any) -> Any:
        self._record("GetConfiguration", {"key": key})
        await self._maybe_delay("GetConfiguration")
        wanted = key or list(self.config)
        known = [k for k in wanted if k in self.config]
        return call_result.GetConfiguration(
            configuration_key=[
                {"key": k, "readonly": False, "value": self.config[k]} for k in known
            ],
            unknown_key=[k for k in wanted if k not in self.config] or None,
        )

    @on(Action.change_configuration)
    def on_change_configuration(self, key: str, value: str, **kwargs: Any) -> Any:
        status = self._record("ChangeConfiguration", {"key": key, "value": value})
        if key in self.reject_keys:
            status = "Rejected"
        elif key == "MeterValuesSampledData":
            items = value.split(",")
            if not set(items) <= self.supported_measurands:
                status = "Rejected"
        elif key not in self.config and key not in ("AuthorizationKey", "SecurityProfile"):
            status = "NotSupported"
        if status in ("Accepted", "RebootRequired"):
            self.config[key] = value
        return call_result.ChangeConfiguration(status=status)

    @on(Action.trigger_message)
    def on_trigger_message(self, requested_message: str, **kwargs: Any) -> Any:
        status = self._record("TriggerMessage", {"requested_message": requested_message, **kwargs})
        return call_result.TriggerMessage(status=status)

    @after(Action.trigger_message)
    def after_trigger_message(self, requested_message: str, **kwargs: Any) -> None:
        accepted = self.status_override.get("TriggerMessage", "Accepted") == "Accepted"
        if requested_message == "BootNotification" and self.boot_on_trigger and accepted:
            self._background.add(asyncio.ensure_future(self.boot()))

    @on(Action.reset)
    def on_reset(self, type: str, **kwargs: Any) -> Any:
        return call_result.Reset(status=self._record("Reset", {"type": type}))

    @on(Action.change_availability)
    def on_change_availability(self, connector_id: int, type: str, **kwargs: Any) -> Any:
        status = self._record("ChangeAvailability", {"connector_id": connector_id, "type": type})
        return call_result.ChangeAvailability(status=status)

    @on(Action.clear_cache)
    def on_clear_cache(self, **kwargs: Any) -> Any:
        return call_result.ClearCache(status=self._record("ClearCache", {}))

    @on(Action.unlock_connector)
    def on_unlock(self, connector_id: int, **kwargs: Any) -> Any:
        self._record("UnlockConnector", {"connector_id": connector_id})
        return call_result.UnlockConnector(
            status=self.status_override.get("UnlockConnector", "Unlocked")
        )

    @on(Action.remote_start_transaction)
    def on_remote_start(self, id_tag: str, **kwargs: Any) -> Any:
        status = self._record("RemoteStartTransaction", {"id_tag": id_tag, **kwargs})
        return call_result.RemoteStartTransaction(status=status)

    @on(Action.remote_stop_transaction)
    async def on_remote_stop(self, transaction_id: int, **kwargs: Any) -> Any:
        status = self._record("RemoteStopTransaction", {"transaction_id": transaction_id})
        await self._maybe_delay("RemoteStopTransaction")
        return call_result.RemoteStopTransaction(status=status)

    @on(Action.data_transfer)
    def on_data_transfer(self, vendor_id: str, **kwargs: Any) -> Any:
        status = self._record("DataTransfer", {"vendor_id": vendor_id, **kwargs})
        return call_result.DataTransfer(status=status, data="pong")

    @on(Action.update_firmware)
    def on_update_firmware(self, location: str, retrieve_date: str, **kwargs: Any) -> Any:
        self._record(
            "UpdateFirmware", {"location": location, "retrieve_date": retrieve_date, **kwargs}
        )
        return call_result.UpdateFirmware()

    @on(Action.get_diagnostics)
    def on_get_diagnostics(self, location: str, **kwargs: Any) -> Any:
        self._record("GetDiagnostics", {"location": location})
        return call_result.GetDiagnostics(file_name="diag.zip")

    @on(Action.send_local_list)
    def on_send_local_list(self, list_version: int, update_type: str, **kwargs: Any) -> Any:
        status = self._record(
            "SendLocalList", {"list_version": list_version, "update_type": update_type, **kwargs}
        )
        if status == "Accepted":
            self.local_list_version = list_version
        return call_result.SendLocalList(status=status)

    @on(Action.get_local_list_version)
    def on_get_local_list_version(self, **kwargs: Any) -> Any:
        self._record("GetLocalListVersion", {})
        return call_result.GetLocalListVersion(list_version=self.local_list_version)

    @on(Action.reserve_now)
    def on_reserve_now(self, **kwargs: Any) -> Any:
        return call_result.ReserveNow(status=self._record("ReserveNow", kwargs))

    @on(Action.cancel_reservation)
    def on_cancel_reservation(self, reservation_id: int, **kwargs: Any) -> Any:
        status = self._record("CancelReservation", {"reservation_id": reservation_id})
        return call_result.CancelReservation(status=status)

    @on(Action.set_charging_profile)
    async def on_set_charging_profile(
        self, connector_id: int, cs_charging_profiles: dict[str, Any], **kwargs: Any
    ) -> Any:
        await self._maybe_delay("SetChargingProfile")
        status = self._record(
            "SetChargingProfile",
            {"connector_id": connector_id, "cs_charging_profiles": cs_charging_profiles},
        )
        if status == "Accepted":
            self.install(_camel_profile(cs_charging_profiles))
        return call_result.SetChargingProfile(status=status)

    def install(self, profile: dict[str, Any]) -> None:
        """Keep a (camelCase) profile: it replaces the one of the same stack level and purpose."""
        for pid, existing in list(self.profiles.items()):
            if (
                existing["stackLevel"] == profile["stackLevel"]
                and existing["chargingProfilePurpose"] == profile["chargingProfilePurpose"]
            ):
                del self.profiles[pid]
        self.profiles[profile["chargingProfileId"]] = profile

    @on(Action.clear_charging_profile)
    def on_clear_charging_profile(self, **kwargs: Any) -> Any:
        self._record("ClearChargingProfile", kwargs)
        matches = [
            pid
            for pid, profile in self.profiles.items()
            if kwargs.get("id") in (None, pid)
            and kwargs.get("charging_profile_purpose") in (None, profile["chargingProfilePurpose"])
            and kwargs.get("stack_level") in (None, profile["stackLevel"])
        ]
        for pid in matches:
            del self.profiles[pid]
        return call_result.ClearChargingProfile(status="Accepted" if matches else "Unknown")

    @on(Action.get_composite_schedule)
    def on_get_composite_schedule(
        self, connector_id: int, duration: int, charging_rate_unit: str | None = None, **kwargs: Any
    ) -> Any:
        status = self._record(
            "GetCompositeSchedule",
            {"connector_id": connector_id, "duration": duration, "unit": charging_rate_unit},
        )
        if status == "Accepted" and self.composite_answer is not None:
            return call_result.GetCompositeSchedule(status=status, **self.composite_answer)
        limit = self.composite(connector_id, charging_rate_unit)
        if status != "Accepted" or limit is None:
            return call_result.GetCompositeSchedule(status=status)
        return call_result.GetCompositeSchedule(
            status="Accepted",
            connector_id=connector_id,
            schedule_start=now_iso(),
            charging_schedule={
                "duration": duration,
                "charging_rate_unit": self.composite_unit or charging_rate_unit or "A",
                "charging_schedule_period": [{"start_period": 0, "limit": limit}],
            },
        )


def _camel_profile(profile: dict[str, Any]) -> dict[str, Any]:
    """The library hands nested payloads to handlers in snake_case: back to the wire names."""
    schedule = profile["charging_schedule"]
    return {
        "chargingProfileId": profile["charging_profile_id"],
        "stackLevel": profile["stack_level"],
        "chargingProfilePurpose": profile["charging_profile_purpose"],
        "chargingProfileKind": profile["charging_profile_kind"],
        "transactionId": profile.get("transaction_id"),
        "chargingSchedule": {
            "chargingRateUnit": schedule["charging_rate_unit"],
            "startSchedule": schedule.get("start_schedule"),
            "duration": schedule.get("duration"),
            "chargingSchedulePeriod": [
                {
                    "startPeriod": p["start_period"],
                    "limit": p["limit"],
                    "numberPhases": p.get("number_phases"),
                }
                for p in schedule["charging_schedule_period"]
            ],
        },
    }


@dataclass
class Harness:
    """One charger model + directory; each connection gets a fresh V16Session (like the server).

    Another version's harness (``v201_harness``) overrides :attr:`subprotocol`,
    :meth:`new_session` and :meth:`new_client`."""

    subprotocol: ClassVar[str] = "ocpp1.6"

    directory: MemoryDirectory
    settings: ServerSettings
    charger: Charger = field(default_factory=lambda: Charger(charger_id=CHARGER_ID))
    sessions: list[V16Session] = field(default_factory=list)
    events: list[ChargerEvent] = field(default_factory=list)
    saves: int = 0
    booted: int = 0
    attach_controller: bool = True
    controller: CurrentController | None = None
    server: Server | None = None
    _tasks: list[asyncio.Task[Any]] = field(default_factory=list)
    _clients: list[ClientConnection] = field(default_factory=list)
    _sims: list[Any] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.charger.add_listener(self._on_event)

    def _on_event(self, event: ChargerEvent | None) -> None:
        if event is not None:
            self.events.append(event)

    def kinds(self) -> list[str]:
        return [str(e.kind) for e in self.events]

    @property
    def session(self) -> V16Session:
        return self.sessions[-1]

    def request_save(self) -> None:
        self.saves += 1

    def get_controller(self) -> CurrentController:
        if self.controller is None:
            self.controller = CurrentController(
                self.charger, lambda: self.directory.settings(CHARGER_ID), self.request_save
            )
        return self.controller

    def _on_booted(self, session: V16Session) -> None:
        self.booted += 1
        if self.attach_controller:
            self._tasks.append(asyncio.ensure_future(self.get_controller().attach(session)))

    async def _handle(self, connection: ServerConnection) -> None:
        holder: list[V16Session] = []
        context = SessionContext(
            directory=self.directory,
            server_settings=self.settings,
            admission=lambda: self.directory.admission(CHARGER_ID),
            charger_settings=lambda: self.directory.settings(CHARGER_ID),
            request_save=self.request_save,
            on_booted=lambda: self._on_booted(holder[0]),
        )
        session = self.new_session(connection, context)
        holder.append(session)
        self.sessions.append(session)
        try:
            await session.run()
        finally:
            if self.controller is not None:
                self.controller.detach()
            await session.close()

    def new_session(self, connection: ServerConnection, context: SessionContext) -> Any:
        """The adapter under test for one accepted connection."""
        return V16Session(connection, self.charger, context)

    def new_client(self, connection: ClientConnection) -> Any:
        """The simulated charger for one client connection."""
        return SimCharger(CHARGER_ID, connection)

    async def start(self) -> None:
        self.server = await serve(
            self._handle, "127.0.0.1", 0, subprotocols=[Subprotocol(self.subprotocol)]
        )

    @property
    def url(self) -> str:
        assert self.server is not None
        port = self.server.sockets[0].getsockname()[1]
        return f"ws://127.0.0.1:{port}/{CHARGER_ID}"

    async def raw(self) -> ClientConnection:
        """A plain websocket to the session (for frames the ocpp package would never send)."""
        connection = await connect(self.url, subprotocols=[Subprotocol(self.subprotocol)])
        self._clients.append(connection)
        await wait_for(lambda: len(self.sessions) >= 1)
        return connection

    async def charger_client(
        self, *, boot: bool = True, setup: Callable[[SimCharger], None] | None = None
    ) -> SimCharger:
        """Connect a SimCharger; with ``boot``, boot it and wait until the session set it up."""
        before = len(self.sessions)
        connection = await connect(self.url, subprotocols=[Subprotocol(self.subprotocol)])
        self._clients.append(connection)
        sim = self.new_client(connection)
        self._sims.append(sim)
        if setup is not None:
            setup(sim)
        self._tasks.append(asyncio.ensure_future(sim.start()))
        await wait_for(lambda: len(self.sessions) > before)
        if boot:
            booted = self.booted
            await sim.boot()
            if self.directory.admission(CHARGER_ID) is Admission.ACCEPTED:
                await wait_for(lambda: self.booted > booted)
        return sim

    async def close(self) -> None:
        # The chargers' follow-ups (a triggered boot ...) end with their connections.
        for sim in self._sims:
            for follow_up in list(sim._background):
                follow_up.cancel()
            with contextlib.suppress(BaseException):
                await asyncio.gather(*sim._background, return_exceptions=True)
        if self.controller is not None:
            await self.controller.close()
        for client in self._clients:
            await client.close()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(BaseException):
                await task
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()


@contextlib.asynccontextmanager
async def running_harness(
    directory: MemoryDirectory, settings: ServerSettings, cls: type[Harness] = Harness
) -> AsyncIterator[Harness]:
    """A started harness of class ``cls`` (another version's: ``v201_harness``)."""
    harness = cls(directory=directory, settings=settings)
    await harness.start()
    try:
        yield harness
    finally:
        await harness.close()


@contextlib.asynccontextmanager
async def protocol_harness(
    directory: MemoryDirectory, settings: ServerSettings, cls: type[Harness] = Harness
) -> AsyncIterator[Harness]:
    """A running harness for protocol tests: the charger is accepted, and no current controller
    joins its sessions (its profile writes would mix with the messages under test)."""
    directory.admissions[CHARGER_ID] = Admission.ACCEPTED
    async with running_harness(directory, settings, cls) as harness:
        harness.attach_controller = False
        yield harness


async def exchange(connection: ClientConnection, frame: str | list[Any]) -> list[Any]:
    """Send one raw frame and return the parsed reply."""
    await connection.send(frame if isinstance(frame, str) else json.dumps(frame))
    async with asyncio.timeout(5):
        reply = await connection.recv()
    result: list[Any] = json.loads(reply)
    return result


async def assert_usable(ws: ClientConnection, unique_id: str = "hb") -> None:
    """The connection still answers a Heartbeat with its own id."""
    reply = await exchange(ws, [2, unique_id, "Heartbeat", {}])
    assert reply[0] == 3
    assert reply[1] == unique_id
    assert "currentTime" in reply[2]
