#!/usr/bin/env python3
"""A simulated OCPP 1.6J wallbox for development (``scripts/develop`` starts it).

It connects to ``ws://127.0.0.1:9000/SIM-CHARGER-1`` (``--url``), boots (waiting while Pending until
the user accepts it in Home Assistant), takes the Basic-auth password Home Assistant provisions,
plugs a car in, authorizes, charges at whatever limit the server's charging profiles allow (A or W,
stack levels and durations honoured), reports MeterValues every few seconds and answers every
Core / Smart Charging / Remote Trigger / Firmware / Local list / Reservation request.

The car follows the limit like a real one: within a second of a new profile it draws the offered
current (up to 16 A per phase, three phases, power = current x 230 V x 3) and a MeterValues sample
shows it; below 6 A (e.g. the energy manager's 0 A pause) it stops drawing and the connector goes
SuspendedEVSE, from 6 A up it resumes (Charging). Home Assistant's simulated grid power includes
this power (config/configuration.yaml), so the energy manager sees the effect of its own limits.

Its energy register and password are kept in a small JSON state file so a restart continues where it
left off (a real charger does not forget its password or reset its meter).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import logging
import math
import signal
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ocpp.routing import after, on
from ocpp.v16 import ChargePoint, call, call_result
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus, WebSocketException

_LOGGER = logging.getLogger("simulate_charger")

VOLTAGE = 230.0
PHASES = 3
CAR_MAX_A = 16.0  # what the simulated car draws at most per phase
MIN_CURRENT_A = 6.0  # IEC 61851: below this the EVSE pauses the car
RAMP_S = 1.0  # how long the car takes to settle to a new limit
HARDWARE_MAX_A = 32.0
BATTERY_WH = 60_000.0
CONNECTOR = 1


def now() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime | None = None) -> str:
    return (moment or now()).isoformat().replace("+00:00", "Z")


def parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    with contextlib.suppress(ValueError):
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return None


@dataclass
class Installed:
    connector_id: int
    profile: dict[str, Any]
    installed_at: datetime


@dataclass
class SimState:
    """Everything the wallbox knows; the persistent part lives in ``state_file``."""

    state_file: Path
    energy_wh: float = 4_200_000.0
    password: str | None = None
    authorization_key: str | None = None
    profiles: list[Installed] = field(default_factory=list)
    status: str = "Available"
    transaction_id: int | None = None
    transaction_start: datetime | None = None
    soc: float = 35.0
    plugged: bool = False
    # What the car draws per phase now (A); the meter integrates it between two samples.
    drawn_a: float = 0.0
    # For benchmarks (restart_chaos.py), in the state file: the highest register the server
    # acknowledged (MeterValues, StartTransaction or StopTransaction answered) and the running
    # transaction's meterStart.
    last_sent_wh: int | None = None
    meter_start_wh: int | None = None
    config: dict[str, list[Any]] = field(
        default_factory=lambda: {
            "SupportedFeatureProfiles": [
                "Core,FirmwareManagement,LocalAuthListManagement,Reservation,SmartCharging,"
                "RemoteTrigger",
                True,
            ],
            "ChargeProfileMaxStackLevel": ["8", True],
            "ChargingScheduleAllowedChargingRateUnit": ["Current,Power", True],
            "ChargingScheduleMaxPeriods": ["24", True],
            "MaxChargingProfilesInstalled": ["10", True],
            "ConnectorSwitch3to1PhaseSupported": ["false", True],
            "NumberOfConnectors": ["1", True],
            "HeartbeatInterval": ["300", False],
            "MeterValueSampleInterval": ["10", False],
            "MeterValuesSampledData": ["Energy.Active.Import.Register,Power.Active.Import", False],
            "MeterValuesSampledDataMaxLength": ["8", True],
            "LocalAuthListEnabled": ["true", False],
            "LocalAuthListMaxLength": ["100", True],
            "SendLocalListMaxLength": ["100", True],
            "AuthorizeRemoteTxRequests": ["false", False],
            "SecurityProfile": ["0", False],
        }
    )

    def load(self) -> None:
        if self.state_file.is_file():
            data = json.loads(self.state_file.read_text())
            self.energy_wh = float(data.get("energy_wh", self.energy_wh))
            self.password = data.get("password")
            if self.password:
                self.config["SecurityProfile"][0] = "1"

    def save(self) -> None:
        self.state_file.parent.mkdir(parents=True, exist_ok=True)
        data = {
            "energy_wh": round(self.energy_wh, 1),
            "password": self.password,
            "last_sent_wh": self.last_sent_wh,
            "transaction_id": self.transaction_id,
            "meter_start_wh": self.meter_start_wh,
        }
        # Replaced atomically: a reader never sees half a file.
        partial = self.state_file.with_name(self.state_file.name + ".tmp")
        partial.write_text(json.dumps(data))
        partial.replace(self.state_file)

    def acknowledged(self, register_wh: int) -> None:
        self.last_sent_wh = max(self.last_sent_wh or register_wh, register_wh)

    # --- smart charging (OCPP 1.6 section 3.13: highest stack level per purpose wins) ----------
    def _limit_of(self, entry: Installed, at: datetime) -> float | None:
        profile = entry.profile
        schedule = profile["charging_schedule"]
        valid_from = parse_time(profile.get("valid_from"))
        valid_to = parse_time(profile.get("valid_to"))
        if (valid_from and at < valid_from) or (valid_to and at >= valid_to):
            return None
        start = parse_time(schedule.get("start_schedule"))
        if start is None and profile.get("charging_profile_kind") == "Relative":
            start = self.transaction_start
        start = start or valid_from or entry.installed_at
        elapsed = (at - start).total_seconds()
        duration = schedule.get("duration")
        if elapsed < 0 or (duration is not None and elapsed >= duration):
            return None
        active = None
        for period in schedule["charging_schedule_period"]:
            if period["start_period"] <= elapsed:
                active = period
        if active is None:
            return None
        limit = float(active["limit"])
        if schedule["charging_rate_unit"] == "W":
            return limit / (VOLTAGE * (active.get("number_phases") or PHASES))
        return limit

    def _winning(self, purpose: str, connectors: tuple[int, ...], at: datetime) -> float | None:
        candidates = []
        for entry in self.profiles:
            profile = entry.profile
            if profile["charging_profile_purpose"] != purpose:
                continue
            if entry.connector_id not in connectors:
                continue
            if purpose == "TxProfile" and profile.get("transaction_id") not in (
                None,
                self.transaction_id,
            ):
                continue
            limit = self._limit_of(entry, at)
            if limit is not None:
                candidates.append((profile["stack_level"], limit))
        return max(candidates)[1] if candidates else None

    def offered_a(self) -> float:
        at = now()
        charger_max = self._winning("ChargePointMaxProfile", (0,), at)
        tx = (
            self._winning("TxProfile", (0, CONNECTOR), at)
            if self.transaction_id is not None
            else None
        )
        live = tx if tx is not None else self._winning("TxDefaultProfile", (0, CONNECTOR), at)
        limits = [HARDWARE_MAX_A, *(x for x in (charger_max, live) if x is not None)]
        return round(min(limits), 1)

    def install(self, connector_id: int, profile: dict[str, Any]) -> None:
        self.profiles = [
            e
            for e in self.profiles
            if e.profile["charging_profile_id"] != profile["charging_profile_id"]
            and not (
                e.profile["charging_profile_purpose"] == profile["charging_profile_purpose"]
                and e.profile["stack_level"] == profile["stack_level"]
                and e.connector_id == connector_id
            )
        ]
        self.profiles.append(Installed(connector_id, profile, now()))

    def charging_current_a(self) -> float:
        """What the car takes of the offered current: nothing below 6 A (IEC 61851: the EVSE
        pauses the car, SuspendedEVSE), else the offer up to the car's own maximum."""
        if self.transaction_id is None or self.soc >= 100.0:
            return 0.0
        offered = self.offered_a()
        return 0.0 if offered < MIN_CURRENT_A else min(offered, CAR_MAX_A)


class SimChargePoint(ChargePoint):
    """OCPP handlers: answer at once, run follow-up calls as tasks (never await call() in @on)."""

    def __init__(self, charger_id: str, connection: Any, sim: Simulator) -> None:
        super().__init__(charger_id, connection, response_timeout=30)
        self.sim = sim

    @on("GetConfiguration")
    def on_get_configuration(self, key: list[str] | None = None, **kwargs: Any) -> Any:
        wanted = key or list(self.sim.state.config)
        known = [k for k in wanted if k in self.sim.state.config]
        return call_result.GetConfiguration(
            configuration_key=[
                {
                    "key": k,
                    "value": self.sim.state.config[k][0],
                    "readonly": self.sim.state.config[k][1],
                }
                for k in known
            ],
            unknown_key=[k for k in wanted if k not in self.sim.state.config] or None,
        )

    @on("ChangeConfiguration")
    def on_change_configuration(self, key: str, value: str, **kwargs: Any) -> Any:
        state = self.sim.state
        if key == "AuthorizationKey":
            state.authorization_key = value
            _LOGGER.info("Received a new AuthorizationKey (%d characters)", len(value))
            return call_result.ChangeConfiguration(status="Accepted")
        if key not in state.config:
            return call_result.ChangeConfiguration(status="NotSupported")
        if state.config[key][1]:
            return call_result.ChangeConfiguration(status="Rejected")
        if key == "SecurityProfile":
            if value != "1" or not state.authorization_key:
                return call_result.ChangeConfiguration(status="Rejected")
            self.sim.switch_to_basic_auth()
        state.config[key][0] = value
        return call_result.ChangeConfiguration(status="Accepted")

    @on("SetChargingProfile")
    def on_set_charging_profile(
        self, connector_id: int, cs_charging_profiles: dict[str, Any], **kwargs: Any
    ) -> Any:
        purpose = cs_charging_profiles["charging_profile_purpose"]
        if purpose == "ChargePointMaxProfile" and connector_id != 0:
            return call_result.SetChargingProfile(status="Rejected")
        if purpose == "TxProfile" and self.sim.state.transaction_id is None:
            return call_result.SetChargingProfile(status="Rejected")
        self.sim.state.install(connector_id, cs_charging_profiles)
        _LOGGER.info(
            "Charging profile %s (%s, stack %s): offered current now %.1f A",
            cs_charging_profiles["charging_profile_id"],
            purpose,
            cs_charging_profiles["stack_level"],
            self.sim.state.offered_a(),
        )
        self.sim.spawn(self.sim.limit_changed())
        return call_result.SetChargingProfile(status="Accepted")

    @on("ClearChargingProfile")
    def on_clear_charging_profile(self, **kwargs: Any) -> Any:
        state = self.sim.state
        before = len(state.profiles)

        def matches(entry: Installed) -> bool:
            p = entry.profile
            return (
                kwargs.get("id") in (None, p["charging_profile_id"])
                and kwargs.get("connector_id") in (None, entry.connector_id)
                and kwargs.get("charging_profile_purpose") in (None, p["charging_profile_purpose"])
                and kwargs.get("stack_level") in (None, p["stack_level"])
            )

        state.profiles = [e for e in state.profiles if not matches(e)]
        self.sim.spawn(self.sim.limit_changed())
        status = "Accepted" if len(state.profiles) < before else "Unknown"
        return call_result.ClearChargingProfile(status=status)

    @on("GetCompositeSchedule")
    def on_get_composite_schedule(
        self, connector_id: int, duration: int, charging_rate_unit: str | None = None, **kwargs: Any
    ) -> Any:
        offered = self.sim.state.offered_a()
        unit = charging_rate_unit or "A"
        limit = round(offered * VOLTAGE * PHASES) if unit == "W" else offered
        return call_result.GetCompositeSchedule(
            status="Accepted",
            connector_id=connector_id,
            schedule_start=iso(),
            charging_schedule={
                "duration": duration,
                "start_schedule": iso(),
                "charging_rate_unit": unit,
                "charging_schedule_period": [{"start_period": 0, "limit": limit}],
            },
        )

    @on("TriggerMessage")
    def on_trigger_message(
        self, requested_message: str, connector_id: int | None = None, **kwargs: Any
    ) -> Any:
        self.sim.spawn(self.sim.triggered(requested_message))
        return call_result.TriggerMessage(status="Accepted")

    @on("RemoteStartTransaction")
    def on_remote_start(self, id_tag: str, **kwargs: Any) -> Any:
        if self.sim.state.transaction_id is not None:
            return call_result.RemoteStartTransaction(status="Rejected")
        self.sim.spawn(self.sim.start_transaction(id_tag))
        return call_result.RemoteStartTransaction(status="Accepted")

    @on("RemoteStopTransaction")
    def on_remote_stop(self, transaction_id: int, **kwargs: Any) -> Any:
        if transaction_id != self.sim.state.transaction_id:
            return call_result.RemoteStopTransaction(status="Rejected")
        self.sim.spawn(self.sim.stop_transaction("Remote"))
        return call_result.RemoteStopTransaction(status="Accepted")

    @on("Reset")
    def on_reset(self, type: str, **kwargs: Any) -> Any:
        self.sim.spawn(self.sim.reboot())
        return call_result.Reset(status="Accepted")

    @on("UnlockConnector")
    def on_unlock(self, connector_id: int, **kwargs: Any) -> Any:
        if self.sim.state.transaction_id is not None:
            return call_result.UnlockConnector(status="UnlockFailed")
        self.sim.spawn(self.sim.unplug())
        return call_result.UnlockConnector(status="Unlocked")

    @on("ChangeAvailability")
    def on_change_availability(self, **kwargs: Any) -> Any:
        return call_result.ChangeAvailability(status="Accepted")

    @on("ClearCache")
    def on_clear_cache(self, **kwargs: Any) -> Any:
        return call_result.ClearCache(status="Accepted")

    @on("DataTransfer")
    def on_data_transfer(self, vendor_id: str, **kwargs: Any) -> Any:
        return call_result.DataTransfer(status="Accepted", data=json.dumps({"vendor": vendor_id}))

    @on("GetLocalListVersion")
    def on_get_local_list_version(self, **kwargs: Any) -> Any:
        return call_result.GetLocalListVersion(list_version=self.sim.local_list_version)

    @on("SendLocalList")
    def on_send_local_list(self, list_version: int, **kwargs: Any) -> Any:
        self.sim.local_list_version = list_version
        return call_result.SendLocalList(status="Accepted")

    @on("ReserveNow")
    def on_reserve_now(self, **kwargs: Any) -> Any:
        return call_result.ReserveNow(status="Accepted")

    @on("CancelReservation")
    def on_cancel_reservation(self, **kwargs: Any) -> Any:
        return call_result.CancelReservation(status="Accepted")

    @on("UpdateFirmware")
    def on_update_firmware(self, **kwargs: Any) -> Any:
        return call_result.UpdateFirmware()

    @after("UpdateFirmware")
    async def after_update_firmware(self, **kwargs: Any) -> None:
        self.sim.spawn(self.sim.firmware_update())

    @on("GetDiagnostics")
    def on_get_diagnostics(self, **kwargs: Any) -> Any:
        self.sim.spawn(self.sim.diagnostics_upload())
        return call_result.GetDiagnostics(file_name="sim-diagnostics.log")


class Simulator:
    """The wallbox behaviour: connection loop, boot, the car, meter values."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.url: str = args.url
        self.charger_id = self.url.rstrip("/").rsplit("/", 1)[-1]
        self.meter_interval: float = args.interval
        self.reconnect_delay: float = args.reconnect_delay
        self.id_tag: str = args.id_tag
        self.plug_in_after: float = args.plug_in_after
        self.state = SimState(state_file=Path(args.state_file))
        self.state.load()
        self.cp: SimChargePoint | None = None
        self.local_list_version = 0
        self.booted = asyncio.Event()
        self.boot_now = asyncio.Event()
        self.reconnect = asyncio.Event()
        # SIGTERM: finish the current exchange, save the state file and end (benchmarks read it).
        self.stopping = asyncio.Event()
        self.tasks: set[asyncio.Task[Any]] = set()
        self.last_meter = time.monotonic()

    # --- helpers ------------------------------------------------------------------------------
    def spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[Any]) -> None:
        self.tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            _LOGGER.warning("Follow-up failed: %r", task.exception())

    async def send(self, request: Any) -> Any:
        if self.cp is None:
            raise ConnectionError("not connected")
        return await self.cp.call(request)

    def switch_to_basic_auth(self) -> None:
        key = self.state.authorization_key or ""
        # Whitepaper: the AuthorizationKey is hex; the Basic-auth password is the decoded bytes.
        try:
            password = bytes.fromhex(key).decode()
        except ValueError:
            password = key
        self.state.password = password
        self.state.save()
        self.spawn(self._reconnect_soon())

    async def _reconnect_soon(self) -> None:
        # After our ChangeConfiguration answer is out (and the server had a moment to note it), as a
        # real charger rebooting into the new security profile.
        await asyncio.sleep(2)
        _LOGGER.info("Security profile 1: reconnecting with Basic authentication")
        self.reconnect.set()

    # --- connection -----------------------------------------------------------------------------
    async def run_forever(self) -> None:
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, self.stopping.set)
        while not self.stopping.is_set():
            headers = {}
            if self.state.password:
                token = base64.b64encode(f"{self.charger_id}:{self.state.password}".encode())
                headers["Authorization"] = f"Basic {token.decode()}"
            try:
                async with connect(
                    self.url, subprotocols=["ocpp1.6"], additional_headers=headers, open_timeout=10
                ) as ws:
                    _LOGGER.info("Connected to %s", self.url)
                    await self.session(ws)
            except InvalidStatus as err:
                _LOGGER.warning("Server refused the connection: HTTP %s", err.response.status_code)
            except (OSError, WebSocketException, TimeoutError) as err:
                _LOGGER.warning("Connection to %s failed or dropped: %s", self.url, err)
            self.cp = None
            self.booted.clear()
            await self._pause(self.reconnect_delay)
        self.state.save()

    async def _pause(self, seconds: float) -> None:
        """Sleep, but wake up at once when asked to stop."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.stopping.wait(), seconds)

    async def session(self, ws: Any) -> None:
        self.cp = SimChargePoint(self.charger_id, ws, self)
        self.reconnect.clear()
        reader = asyncio.create_task(self.cp.start())
        behaviour = asyncio.create_task(self.behave())
        reconnect = asyncio.create_task(self.reconnect.wait())
        try:
            await asyncio.wait({reader, behaviour, reconnect}, return_when=asyncio.FIRST_COMPLETED)
            for task in (reader, behaviour):
                if task.done() and not task.cancelled() and task.exception():
                    _LOGGER.warning("Session ended: %r", task.exception())
        finally:
            for task in (reader, behaviour, reconnect):
                task.cancel()
            await ws.close()

    # --- behaviour ------------------------------------------------------------------------------
    async def boot(self) -> None:
        while True:
            response = await self.send(
                call.BootNotification(
                    charge_point_vendor="Simulated",
                    charge_point_model="OCPP EMS Dev Wallbox",
                    charge_point_serial_number="SIM-0001",
                    firmware_version="1.0.0-sim",
                    meter_type="SimMeter 3P",
                )
            )
            _LOGGER.info("BootNotification: %s", response.status)
            if response.status == "Accepted":
                if response.interval:
                    self.state.config["HeartbeatInterval"][0] = str(response.interval)
                self.booted.set()
                return
            self.boot_now.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.boot_now.wait(), min(max(response.interval, 5), 30))

    async def behave(self) -> None:
        await self.boot()
        await self.send_status(0, "Available")
        await self.send_status(CONNECTOR, self.state.status)
        next_heartbeat = time.monotonic()
        plug_in_at = time.monotonic() + self.plug_in_after
        # As a real charger: the first sample one interval after (re)connecting, not at once.
        await self._pause(self.meter_interval)
        while not self.stopping.is_set():
            if (
                not self.state.plugged
                and self.state.transaction_id is None
                and time.monotonic() >= plug_in_at
            ):
                await self.plug_in()
            await self.meter_values()
            if time.monotonic() >= next_heartbeat:
                await self.send(call.Heartbeat())
                next_heartbeat = time.monotonic() + float(self.state.config["HeartbeatInterval"][0])
            if not self.state.plugged:
                plug_in_at = min(plug_in_at, time.monotonic() + self.plug_in_after)
            await self._pause(self.meter_interval)
            if self.stopping.is_set():
                # Let follow-ups in flight (a MeterValues after a new limit) get their answers.
                if self.tasks:
                    await asyncio.wait(set(self.tasks), timeout=5)
                self.state.save()
                return

    async def send_status(self, connector_id: int, status: str) -> None:
        if connector_id:
            self.state.status = status
        await self.send(
            call.StatusNotification(
                connector_id=connector_id, error_code="NoError", status=status, timestamp=iso()
            )
        )

    async def plug_in(self) -> None:
        _LOGGER.info("Car plugged in (SoC %.0f %%)", self.state.soc)
        self.state.plugged = True
        await self.send_status(CONNECTOR, "Preparing")
        auth = await self.send(call.Authorize(id_tag=self.id_tag))
        if auth.id_tag_info["status"] == "Accepted":
            await self.start_transaction(self.id_tag)
        else:
            _LOGGER.info(
                "Id tag %s %s: waiting for a remote start",
                self.id_tag,
                auth.id_tag_info["status"],
            )

    async def start_transaction(self, id_tag: str) -> None:
        if self.state.transaction_id is not None:
            return
        if not self.state.plugged:
            self.state.plugged = True
            await self.send_status(CONNECTOR, "Preparing")
        meter_start = round(self.state.energy_wh)
        response = await self.send(
            call.StartTransaction(
                connector_id=CONNECTOR,
                id_tag=id_tag,
                meter_start=meter_start,
                timestamp=iso(),
            )
        )
        if response.id_tag_info["status"] != "Accepted":
            _LOGGER.info("StartTransaction refused: %s", response.id_tag_info["status"])
            return
        self.state.acknowledged(meter_start)
        self.state.meter_start_wh = meter_start
        self.state.transaction_id = response.transaction_id
        self.state.transaction_start = now()
        _LOGGER.info("Transaction %s started", response.transaction_id)
        await self.follow_limit()

    async def stop_transaction(self, reason: str) -> None:
        if self.state.transaction_id is None:
            return
        transaction_id = self.state.transaction_id
        self.integrate()
        self.state.drawn_a = 0.0
        self.state.transaction_id = None
        self.state.profiles = [
            e for e in self.state.profiles if e.profile["charging_profile_purpose"] != "TxProfile"
        ]
        meter_stop = round(self.state.energy_wh)
        await self.send(
            call.StopTransaction(
                transaction_id=transaction_id,
                meter_stop=meter_stop,
                timestamp=iso(),
                reason=reason,
                id_tag=self.id_tag,
            )
        )
        self.state.acknowledged(meter_stop)
        _LOGGER.info("Transaction %s stopped (%s)", transaction_id, reason)
        self.state.save()
        await self.send_status(CONNECTOR, "Finishing")
        self.spawn(self.unplug(delay=60))

    async def unplug(self, delay: float = 0) -> None:
        await asyncio.sleep(delay)
        if self.state.transaction_id is not None or not self.state.plugged:
            return
        self.state.plugged = False
        self.state.soc = 35.0  # the next car arrives half empty
        _LOGGER.info("Car unplugged")
        await self.send_status(CONNECTOR, "Available")

    async def follow_limit(self) -> None:
        """The connector state follows the offered current, as a real EVSE does."""
        if self.state.transaction_id is None or self.cp is None:
            return
        if self.state.soc >= 100.0:
            wanted = "SuspendedEV"
        elif self.state.charging_current_a() > 0:
            wanted = "Charging"
        else:
            wanted = "SuspendedEVSE"
        if wanted != self.state.status:
            await self.send_status(CONNECTOR, wanted)

    def integrate(self) -> None:
        """Add the energy since the last sample, drawn at the current of then."""
        state = self.state
        elapsed = time.monotonic() - self.last_meter
        self.last_meter = time.monotonic()
        drawn_wh = VOLTAGE * PHASES * state.drawn_a * elapsed / 3600
        state.energy_wh += drawn_wh
        state.soc = min(100.0, state.soc + drawn_wh / BATTERY_WH * 100)

    async def limit_changed(self) -> None:
        """A new limit: the car settles to it within a moment, and the meter shows it at once
        (so the site's grid power, which includes the car, follows the energy manager quickly)."""
        await asyncio.sleep(RAMP_S)
        if self.cp is None or not self.booted.is_set():
            return
        if self.state.charging_current_a() != self.state.drawn_a:
            await self.meter_values("Other")
        else:
            await self.follow_limit()

    async def meter_values(self, context: str = "Sample.Periodic") -> None:
        state = self.state
        # From now on the car draws what the limit allows now (power = current x 230 V x phases,
        # 0 W when paused).
        self.integrate()
        current = state.drawn_a = state.charging_current_a()
        power = VOLTAGE * current * PHASES
        # A little noise so the graphs look alive.
        wobble = 0.1 * math.sin(time.monotonic() / 7) if current else 0.0

        def sv(value: float, measurand: str, unit: str, **extra: str) -> dict[str, str]:
            return {
                "value": f"{value:.1f}" if unit != "Wh" else str(round(value)),
                "context": context,
                "measurand": measurand,
                "unit": unit,
                "location": extra.pop("location", "Outlet"),
                **extra,
            }

        sampled = [
            sv(state.energy_wh, "Energy.Active.Import.Register", "Wh"),
            sv(power, "Power.Active.Import", "W"),
            *(
                sv(current + wobble if current else 0.0, "Current.Import", "A", phase=phase)
                for phase in ("L1", "L2", "L3")
            ),
            sv(state.offered_a(), "Current.Offered", "A"),
            *(
                sv(VOLTAGE + 2 * math.sin(time.monotonic() / 11 + i), "Voltage", "V", phase=phase)
                for i, phase in enumerate(("L1-N", "L2-N", "L3-N"))
            ),
            sv(28.0 + current / 4, "Temperature", "Celsius", location="Body"),
        ]
        if state.transaction_id is not None:
            sampled.append(sv(state.soc, "SoC", "Percent", location="EV"))
        register = round(state.energy_wh)
        await self.send(
            call.MeterValues(
                connector_id=CONNECTOR,
                transaction_id=state.transaction_id,
                meter_value=[{"timestamp": iso(), "sampled_value": sampled}],
            )
        )
        state.acknowledged(register)
        await self.follow_limit()
        state.save()

    async def triggered(self, message: str) -> None:
        await asyncio.sleep(0.05)  # after our TriggerMessage answer went out
        if message == "BootNotification":
            if self.booted.is_set():
                await self.send(
                    call.BootNotification(
                        charge_point_vendor="Simulated",
                        charge_point_model="OCPP EMS Dev Wallbox",
                        charge_point_serial_number="SIM-0001",
                        firmware_version="1.0.0-sim",
                    )
                )
            else:
                self.boot_now.set()
        elif message == "Heartbeat":
            await self.send(call.Heartbeat())
        elif message == "StatusNotification":
            await self.send_status(CONNECTOR, self.state.status)
        elif message == "MeterValues":
            await self.meter_values("Trigger")
        elif message == "FirmwareStatusNotification":
            await self.send(call.FirmwareStatusNotification(status="Idle"))
        elif message == "DiagnosticsStatusNotification":
            await self.send(call.DiagnosticsStatusNotification(status="Idle"))

    async def reboot(self) -> None:
        await asyncio.sleep(1)
        await self.stop_transaction("SoftReset")
        self.reconnect.set()

    async def firmware_update(self) -> None:
        for status in ("Downloading", "Downloaded", "Installing", "Installed"):
            await asyncio.sleep(2)
            await self.send(call.FirmwareStatusNotification(status=status))

    async def diagnostics_upload(self) -> None:
        for status in ("Uploading", "Uploaded"):
            await asyncio.sleep(2)
            await self.send(call.DiagnosticsStatusNotification(status=status))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default="ws://127.0.0.1:9000/SIM-CHARGER-1")
    parser.add_argument("--interval", type=float, default=5.0, help="MeterValues period (s)")
    parser.add_argument("--id-tag", default="SIM-TAG-1")
    parser.add_argument("--plug-in-after", type=float, default=10.0, help="seconds")
    parser.add_argument("--reconnect-delay", type=float, default=5.0, help="seconds")
    parser.add_argument("--state-file", default="config/.sim_charger.json")
    parser.add_argument("--debug", action="store_true")
    args = parser.parse_args()
    logging.basicConfig(
        level=logging.DEBUG if args.debug else logging.INFO,
        format="%(asctime)s %(levelname)s [sim %(name)s] %(message)s",
    )
    logging.getLogger("ocpp").setLevel(logging.DEBUG if args.debug else logging.WARNING)
    simulator = Simulator(args)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(simulator.run_forever())


if __name__ == "__main__":
    main()
