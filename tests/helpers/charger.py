"""A simulated OCPP 1.6J charger for the Home Assistant tests, built on the ``ocpp`` package client.

It speaks over a real websocket to the real server. It answers every command the central system
sends (recording each one in :attr:`SimCharger.received`), keeps the configuration keys and charging
profiles it is given, and offers helpers to play a charger's side of a session. Answers can be
changed per action (``statuses``) or withheld (``silent``) to test rejections and timeouts.
"""

from __future__ import annotations

import asyncio
import base64
import ssl
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar, cast

from ocpp import routing
from ocpp.v16 import ChargePoint, call, call_result
from ocpp.v16.enums import Action
from websockets.asyncio.client import ClientConnection, connect

_F = TypeVar("_F", bound=Callable[..., Any])
# The ocpp package is untyped: typed aliases of its routing decorators.
on = cast(Callable[[str], Callable[[_F], _F]], routing.on)
after = cast(Callable[[str], Callable[[_F], _F]], routing.after)

DEFAULT_CONFIGURATION: dict[str, str] = {
    "SupportedFeatureProfiles": (
        "Core,FirmwareManagement,LocalAuthListManagement,Reservation,SmartCharging,RemoteTrigger"
    ),
    "ChargeProfileMaxStackLevel": "8",
    "ChargingScheduleAllowedChargingRateUnit": "Current",
    "ChargingScheduleMaxPeriods": "5",
    "MaxChargingProfilesInstalled": "10",
    "ConnectorSwitch3to1PhaseSupported": "false",
    "LocalAuthListEnabled": "true",
    "LocalAuthListMaxLength": "20",
    "SendLocalListMaxLength": "20",
    "NumberOfConnectors": "1",
    "MeterValueSampleInterval": "60",
    "MeterValuesSampledData": "Energy.Active.Import.Register",
    "HeartbeatInterval": "300",
    "SecurityProfile": "0",
}


def now_iso() -> str:
    return datetime.now(UTC).isoformat()


def basic_auth_header(charger_id: str, password: bytes) -> str:
    token = base64.b64encode(charger_id.encode() + b":" + password).decode()
    return f"Basic {token}"


@dataclass(kw_only=True)
class Received:
    """One command the central system sent us."""

    action: str
    payload: dict[str, Any]


class SimCharger(ChargePoint):  # type: ignore[misc]
    """The charger side: answers the central system and plays charger events on request."""

    def __init__(self, charger_id: str, connection: ClientConnection, **kwargs: Any) -> None:
        super().__init__(charger_id, connection, response_timeout=10)
        self.vendor: str = kwargs.get("vendor", "Acme")
        self.model: str = kwargs.get("model", "Wallbox 1")
        self.serial: str = kwargs.get("serial", "SN-0001")
        self.firmware: str = kwargs.get("firmware", "1.2.3")
        self.configuration: dict[str, str] = dict(DEFAULT_CONFIGURATION)
        self.configuration.update(kwargs.get("configuration", {}))
        self.authorization_key: str | None = None
        self.profiles: dict[int, dict[str, Any]] = {}
        self.local_list: tuple[int, list[str]] = (0, [])
        self.received: list[Received] = []
        # Per-action status to answer (e.g. {"Reset": "Rejected"}); absent = the accepting answer.
        self.statuses: dict[str, str] = {}
        # Actions that never get an answer (the central system times out).
        self.silent: set[str] = set()
        self.composite_limit: float | None = None
        self.data_transfer_answer: dict[str, Any] = {"status": "Accepted", "data": "pong"}
        self.diagnostics_file: str | None = "diagnostics.zip"
        self.boot_status: str | None = None
        self.transaction_id: int | None = None
        self.meter_wh = 1000
        self._tasks: set[asyncio.Task[Any]] = set()

    # --- what the charger sends -----------------------------------------------------------------
    async def boot(self) -> str:
        result = await self.call(
            call.BootNotification(
                charge_point_vendor=self.vendor,
                charge_point_model=self.model,
                charge_point_serial_number=self.serial,
                firmware_version=self.firmware,
            )
        )
        self.boot_status = str(result.status)
        return self.boot_status

    async def status(
        self, status: str, connector_id: int = 1, error_code: str = "NoError", **kwargs: Any
    ) -> None:
        await self.call(
            call.StatusNotification(
                connector_id=connector_id,
                error_code=error_code,
                status=status,
                timestamp=now_iso(),
                **kwargs,
            )
        )

    async def heartbeat(self) -> None:
        await self.call(call.Heartbeat())

    async def authorize(self, id_tag: str) -> str:
        result = await self.call(call.Authorize(id_tag=id_tag))
        return str(result.id_tag_info["status"])

    async def start_transaction(
        self, id_tag: str = "HomeAssistant", connector_id: int = 1, *, started_ago_s: float = 3600.0
    ) -> int:
        """Start a session, by default with the integration's own (always accepted) tag: a tag
        the server does not accept gets its session stopped. It began ``started_ago_s`` ago
        (charger time), so the energy a test reports next is physically possible (the central
        system counts no faster than the charger's maximum power)."""
        started = datetime.now(UTC) - timedelta(seconds=started_ago_s)
        result = await self.call(
            call.StartTransaction(
                connector_id=connector_id,
                id_tag=id_tag,
                meter_start=self.meter_wh,
                timestamp=started.isoformat(),
            )
        )
        self.transaction_id = int(result.transaction_id)
        return self.transaction_id

    async def stop_transaction(self, reason: str = "Local") -> None:
        assert self.transaction_id is not None
        await self.call(
            call.StopTransaction(
                meter_stop=self.meter_wh,
                timestamp=now_iso(),
                transaction_id=self.transaction_id,
                reason=reason,
            )
        )
        self.transaction_id = None

    async def meter_values(
        self,
        *,
        connector_id: int = 1,
        energy_wh: float | None = None,
        power_w: float | None = None,
        current_a: tuple[float, float, float] | None = None,
        voltage_v: tuple[float, float, float] | None = None,
        offered_a: float | None = None,
        soc: float | None = None,
        temperature_c: float | None = None,
        ago_s: float = 0.0,
    ) -> None:
        """Send one reading, taken ``ago_s`` ago (charger time)."""
        sampled: list[dict[str, Any]] = []
        if energy_wh is not None:
            self.meter_wh = int(energy_wh)
            sampled.append(
                {
                    "value": str(energy_wh),
                    "measurand": "Energy.Active.Import.Register",
                    "unit": "Wh",
                }
            )
        if power_w is not None:
            sampled.append({"value": str(power_w), "measurand": "Power.Active.Import", "unit": "W"})
        for measurand, unit, values in (
            ("Current.Import", "A", current_a),
            ("Voltage", "V", voltage_v),
        ):
            for phase, value in zip(("L1", "L2", "L3"), values or (), strict=False):
                sampled.append(
                    {"value": str(value), "measurand": measurand, "unit": unit, "phase": phase}
                )
        if offered_a is not None:
            sampled.append({"value": str(offered_a), "measurand": "Current.Offered", "unit": "A"})
        if soc is not None:
            sampled.append({"value": str(soc), "measurand": "SoC", "unit": "Percent"})
        if temperature_c is not None:
            sampled.append(
                {"value": str(temperature_c), "measurand": "Temperature", "unit": "Celsius"}
            )
        await self.call(
            call.MeterValues(
                connector_id=connector_id,
                transaction_id=self.transaction_id,
                meter_value=[
                    {
                        "timestamp": (datetime.now(UTC) - timedelta(seconds=ago_s)).isoformat(),
                        "sampled_value": sampled,
                    }
                ],
            )
        )

    async def send_data_transfer(self, vendor_id: str, message_id: str, data: str) -> None:
        await self.call(call.DataTransfer(vendor_id=vendor_id, message_id=message_id, data=data))

    # --- what the central system sends ---------------------------------------------------------
    def commands(self, action: str) -> list[dict[str, Any]]:
        return [r.payload for r in self.received if r.action == action]

    async def _answer(self, action: str, payload: dict[str, Any], default: str) -> str:
        self.received.append(Received(action=action, payload=payload))
        if action in self.silent:
            await asyncio.Event().wait()  # never answers (the server times out)
        return self.statuses.get(action, default)

    def _spawn(self, factory: Callable[[], Any]) -> None:
        task = asyncio.get_running_loop().create_task(factory())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    @on(Action.get_configuration)
    async def on_get_configuration(self, key: list[str] | None = None, **kwargs: Any) -> Any:
        await self._answer("GetConfiguration", {"key": key}, "")
        wanted = key or list(self.configuration)
        known = [k for k in wanted if k in self.configuration]
        return call_result.GetConfiguration(
            configuration_key=[
                {"key": k, "readonly": False, "value": self.configuration[k]} for k in known
            ],
            unknown_key=[k for k in wanted if k not in self.configuration] or None,
        )

    @on(Action.change_configuration)
    async def on_change_configuration(self, key: str, value: str, **kwargs: Any) -> Any:
        status = await self._answer("ChangeConfiguration", {"key": key, "value": value}, "Accepted")
        if status in ("Accepted", "RebootRequired"):
            if key == "AuthorizationKey":
                self.authorization_key = value
            else:
                self.configuration[key] = value
        return call_result.ChangeConfiguration(status=status)

    @on(Action.set_charging_profile)
    async def on_set_charging_profile(
        self, connector_id: int, cs_charging_profiles: dict[str, Any], **kwargs: Any
    ) -> Any:
        payload = {"connector_id": connector_id, "cs_charging_profiles": cs_charging_profiles}
        status = await self._answer("SetChargingProfile", payload, "Accepted")
        if status == "Accepted":
            self.profiles[int(cs_charging_profiles["charging_profile_id"])] = cs_charging_profiles
        return call_result.SetChargingProfile(status=status)

    @on(Action.clear_charging_profile)
    async def on_clear_charging_profile(self, **kwargs: Any) -> Any:
        status = await self._answer("ClearChargingProfile", dict(kwargs), "Accepted")
        if status == "Accepted":
            wanted = kwargs.get("id")
            self.profiles = (
                {}
                if wanted is None
                else {pid: p for pid, p in self.profiles.items() if pid != wanted}
            )
        return call_result.ClearChargingProfile(status=status)

    def live_limit(self) -> float | None:
        """The limit of the highest-stack TxDefault/Tx profile we hold (what a charger applies)."""
        candidates = [
            p
            for p in self.profiles.values()
            if p["charging_profile_purpose"] in ("TxDefaultProfile", "TxProfile")
        ]
        if not candidates:
            return None
        top = max(candidates, key=lambda p: int(p["stack_level"]))
        return float(top["charging_schedule"]["charging_schedule_period"][0]["limit"])

    @on(Action.get_composite_schedule)
    async def on_get_composite_schedule(
        self, connector_id: int, duration: int, **kwargs: Any
    ) -> Any:
        status = await self._answer(
            "GetCompositeSchedule", {"connector_id": connector_id, "duration": duration}, "Accepted"
        )
        limit = self.composite_limit if self.composite_limit is not None else self.live_limit()
        schedule = None
        if limit is not None:
            schedule = {
                "charging_rate_unit": "A",
                "charging_schedule_period": [{"start_period": 0, "limit": limit}],
                "duration": duration,
            }
        return call_result.GetCompositeSchedule(
            status=status, connector_id=connector_id, charging_schedule=schedule
        )

    @on(Action.trigger_message)
    async def on_trigger_message(self, requested_message: str, **kwargs: Any) -> Any:
        payload = {"requested_message": requested_message, **kwargs}
        status = await self._answer("TriggerMessage", payload, "Accepted")
        return call_result.TriggerMessage(status=status)

    @after(Action.trigger_message)
    async def after_trigger_message(self, requested_message: str, **kwargs: Any) -> None:
        if self.statuses.get("TriggerMessage", "Accepted") != "Accepted":
            return
        if requested_message == "BootNotification":
            self._spawn(self.boot)
        elif requested_message == "Heartbeat":
            self._spawn(self.heartbeat)

    @on(Action.remote_start_transaction)
    async def on_remote_start(self, id_tag: str, **kwargs: Any) -> Any:
        payload = {"id_tag": id_tag, **kwargs}
        status = await self._answer("RemoteStartTransaction", payload, "Accepted")
        return call_result.RemoteStartTransaction(status=status)

    @on(Action.remote_stop_transaction)
    async def on_remote_stop(self, transaction_id: int, **kwargs: Any) -> Any:
        payload = {"transaction_id": transaction_id}
        status = await self._answer("RemoteStopTransaction", payload, "Accepted")
        return call_result.RemoteStopTransaction(status=status)

    @on(Action.reset)
    async def on_reset(self, type: str, **kwargs: Any) -> Any:
        status = await self._answer("Reset", {"type": type}, "Accepted")
        return call_result.Reset(status=status)

    @on(Action.change_availability)
    async def on_change_availability(self, connector_id: int, type: str, **kwargs: Any) -> Any:
        payload = {"connector_id": connector_id, "type": type}
        status = await self._answer("ChangeAvailability", payload, "Accepted")
        return call_result.ChangeAvailability(status=status)

    @on(Action.clear_cache)
    async def on_clear_cache(self, **kwargs: Any) -> Any:
        status = await self._answer("ClearCache", {}, "Accepted")
        return call_result.ClearCache(status=status)

    @on(Action.unlock_connector)
    async def on_unlock(self, connector_id: int, **kwargs: Any) -> Any:
        status = await self._answer("UnlockConnector", {"connector_id": connector_id}, "Unlocked")
        return call_result.UnlockConnector(status=status)

    @on(Action.data_transfer)
    async def on_data_transfer(self, vendor_id: str, **kwargs: Any) -> Any:
        await self._answer("DataTransfer", {"vendor_id": vendor_id, **kwargs}, "Accepted")
        return call_result.DataTransfer(**self.data_transfer_answer)

    @on(Action.update_firmware)
    async def on_update_firmware(self, location: str, retrieve_date: str, **kwargs: Any) -> Any:
        payload = {"location": location, "retrieve_date": retrieve_date, **kwargs}
        await self._answer("UpdateFirmware", payload, "")
        return call_result.UpdateFirmware()

    @on(Action.get_diagnostics)
    async def on_get_diagnostics(self, location: str, **kwargs: Any) -> Any:
        await self._answer("GetDiagnostics", {"location": location, **kwargs}, "")
        return call_result.GetDiagnostics(file_name=self.diagnostics_file)

    @on(Action.signed_update_firmware)
    async def on_signed_update_firmware(self, **kwargs: Any) -> Any:
        status = await self._answer("SignedUpdateFirmware", kwargs, "Accepted")
        return call_result.SignedUpdateFirmware(status=status)

    @on(Action.get_log)
    async def on_get_log(self, **kwargs: Any) -> Any:
        status = await self._answer("GetLog", kwargs, "Accepted")
        return call_result.GetLog(status=status, filename="security.log")

    @on(Action.send_local_list)
    async def on_send_local_list(self, list_version: int, update_type: str, **kwargs: Any) -> Any:
        payload = {"list_version": list_version, "update_type": update_type, **kwargs}
        status = await self._answer("SendLocalList", payload, "Accepted")
        if status == "Accepted":
            entries = kwargs.get("local_authorization_list") or []
            self.local_list = (list_version, [e["id_tag"] for e in entries])
        return call_result.SendLocalList(status=status)

    @on(Action.get_local_list_version)
    async def on_get_local_list_version(self, **kwargs: Any) -> Any:
        await self._answer("GetLocalListVersion", {}, "")
        return call_result.GetLocalListVersion(list_version=self.local_list[0])

    @on(Action.reserve_now)
    async def on_reserve_now(self, **kwargs: Any) -> Any:
        status = await self._answer("ReserveNow", dict(kwargs), "Accepted")
        return call_result.ReserveNow(status=status)

    @on(Action.cancel_reservation)
    async def on_cancel_reservation(self, reservation_id: int, **kwargs: Any) -> Any:
        payload = {"reservation_id": reservation_id}
        status = await self._answer("CancelReservation", payload, "Accepted")
        return call_result.CancelReservation(status=status)

    async def aclose(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        with suppress(Exception):
            await asyncio.gather(*self._tasks, return_exceptions=True)


@asynccontextmanager
async def charger_connection(
    port: int,
    charger_id: str,
    *,
    password: bytes | None = None,
    local_address: str | None = None,
    ssl_context: ssl.SSLContext | None = None,
    factory: Callable[..., SimCharger] | None = None,
    **kwargs: Any,
) -> AsyncIterator[SimCharger]:
    """Connect a simulated charger (no BootNotification yet); disconnect it on exit.

    ``local_address``: connect from another loopback address (e.g. 127.0.0.2). ``ssl_context``:
    connect over ``wss://`` (``port`` is then the TLS listener's). ``factory``: a SimCharger
    subclass (it gets ``kwargs``)."""
    headers = {} if password is None else {"Authorization": basic_auth_header(charger_id, password)}
    extra: dict[str, Any] = {} if local_address is None else {"local_addr": (local_address, 0)}
    if ssl_context is not None:
        extra["ssl"] = ssl_context
    scheme = "ws" if ssl_context is None else "wss"
    websocket = await connect(
        f"{scheme}://127.0.0.1:{port}/{charger_id}",
        subprotocols=["ocpp1.6"],  # type: ignore[list-item]
        additional_headers=headers,
        open_timeout=5,
        **extra,
    )
    charger = (factory or SimCharger)(charger_id, websocket, **kwargs)
    runner = asyncio.get_running_loop().create_task(charger.start())
    try:
        yield charger
    finally:
        # Stop answering first: a late command (e.g. TriggerMessage) must not spawn a boot that
        # then fails on the closed socket.
        runner.cancel()
        with suppress(BaseException):
            await runner
        await charger.aclose()
        await websocket.close()


async def wait_for(predicate: Callable[[], Any], seconds: float = 5.0, what: str = "") -> None:
    """Poll ``predicate`` until it is truthy (the server works in its own tasks)."""
    try:
        async with asyncio.timeout(seconds):
            while not predicate():  # noqa: ASYNC110 - the state lives in another component
                await asyncio.sleep(0.01)
    except TimeoutError:
        raise AssertionError(f"timed out waiting for {what or predicate}") from None
