"""The wallbox's behaviour, whatever OCPP version it speaks: the connection loop with Basic
authentication, boot (waiting while Pending), the car arriving, authorizing, charging at the limit
the profiles allow and leaving, meter readings, resets, availability, reservations, firmware and
log uploads.

A version (:mod:`.v16`, :mod:`.v201`) subclasses :class:`Station` with its messages (the
``send_*`` / ``begin_transaction`` / ``end_transaction`` hooks) and its ``ocpp`` ChargePoint,
whose handlers call the operations here.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import logging
import signal
import ssl
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Coroutine
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import urlsplit, urlunsplit

from ocpp.exceptions import OCPPError, UnknownCallErrorCodeError
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidHandshake, InvalidStatus, WebSocketException

from .model import ARRIVAL_SOC, RAMP_S, Sample, SimState, now
from .security import client_context

_LOGGER = logging.getLogger("simulate_charger")

ANSWER_DELAY_S = 0.05  # a follow-up CALL waits this long, so that our answer goes out first
TLS_PORT = 9443  # the server's TLS port by default (its option "Secure connection (TLS)")
# Failed connections on a new security profile before falling back to the previous one.
FALLBACK_AFTER = 3


def derived_tls_url(url: str, port: int = TLS_PORT) -> str:
    """``url`` as wss://, same host and path, on ``port``."""
    parts = urlsplit(url)
    host = parts.hostname or "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    return urlunsplit(("wss", f"{host}:{port}", parts.path, parts.query, ""))


class CallFailedError(Exception):
    """The server answered one of our CALLs with a CALLERROR (or our payload broke its schema)."""

    def __init__(self, action: str, error: Exception) -> None:
        super().__init__(f"{action}: {error!r}")
        self.action = action
        self.error = error


class Station(ABC):
    """The connection loop and the car; the protocol parts are the subclass's."""

    version: ClassVar[str]  # "1.6", "2.0.1", "2.1"
    subprotocol: ClassVar[str]
    # 1.6: a BootNotification on every connection (as the 1.6 simulator always did). 2.x: only
    # after a power-up or reboot, or while the last boot was not Accepted (B01, B04).
    boots_on_every_connection: ClassVar[bool] = True

    def __init__(self, args: argparse.Namespace) -> None:
        self.url: str = args.url
        self.tls_url: str = getattr(args, "tls_url", None) or derived_tls_url(self.url)
        self.charger_id = self.url.rstrip("/").rsplit("/", 1)[-1]
        self.meter_interval: float = args.interval
        self.reconnect_delay: float = args.reconnect_delay
        self.id_tag: str = args.id_tag
        self.plug_in_after: float = args.plug_in_after
        self.boot_on_reconnect: bool = getattr(args, "boot_on_reconnect", False)
        self.state = SimState(state_file=Path(args.state_file))
        self.state.load()
        stale = self.state.stale_transaction
        if stale is not None and not self.version.startswith("2"):
            _LOGGER.info(
                "Forgetting transaction %s of the previous run (OCPP %s)",
                stale["transaction_id"],
                stale["ocpp"],
            )
            self.state.stale_transaction = None
        self.state.ocpp_version = self.version
        self.cp: Any = None
        self.booted = asyncio.Event()
        self.boot_now = asyncio.Event()
        self.reconnect = asyncio.Event()
        # SIGTERM: finish the current exchange, save the state file and end (benchmarks read it).
        self.stopping = asyncio.Event()
        self.tasks: set[asyncio.Task[Any]] = set()  # follow-ups (a stop lets them finish)
        self.timers: set[asyncio.Task[Any]] = set()  # things due later (a stop cancels them)
        self.status_lock = asyncio.Lock()
        self.last_meter = time.monotonic()
        self.needs_boot = True  # power-up
        self.boot_reason = "PowerUp"
        self.last_boot_status: str | None = None
        # Requests that wait for the running transaction to end (2.x Reset OnIdle,
        # ChangeAvailability Scheduled).
        self.reset_when_idle = False
        self.operative_when_idle: bool | None = None
        self.firmware_status = "Idle"
        self.log_status = "Idle"
        self.request_ids: dict[str, int | None] = {"firmware": None, "log": None}
        self.step_s = 2.0  # between two firmware / log upload statuses
        self.password_reconnect_s = 2.0  # from taking a new password to reconnecting with it
        self.fallback_after = FALLBACK_AFTER
        self.failed_on_new_profile = 0

    # --- the version's part ---------------------------------------------------------------------
    @abstractmethod
    def make_charge_point(self, connection: Any) -> Any:
        """The version's ``ocpp`` ChargePoint on ``connection``, its handlers bound to us."""

    @abstractmethod
    async def send_boot(self, reason: str) -> tuple[str, int]:
        """BootNotification: (status, interval)."""

    @abstractmethod
    def heartbeat_interval(self) -> float: ...

    @abstractmethod
    def set_heartbeat_interval(self, seconds: int) -> None: ...

    @abstractmethod
    async def announce(self) -> None:
        """After (re)connecting and booting: the connector's state."""

    @abstractmethod
    async def send_status(self, status: str) -> None:
        """The connector changed to ``status`` (one of :data:`~.model.STATUSES`); tell the server."""

    @abstractmethod
    async def authorize(self, id_tag: str) -> bool: ...

    @abstractmethod
    async def begin_transaction(
        self, id_tag: str, meter_start: int, remote_start_id: int | None
    ) -> int | str | None:
        """Start a transaction; its id (None: refused)."""

    @abstractmethod
    async def end_transaction(self, transaction_id: Any, meter_stop: int, reason: str) -> None:
        """End ``transaction_id`` (already cleared from the state); ``reason`` in 1.6 words."""

    @abstractmethod
    async def send_meter(self, samples: list[Sample], context: str) -> None: ...

    @abstractmethod
    async def send_heartbeat(self) -> None: ...

    @abstractmethod
    async def send_firmware_status(self, status: str) -> None: ...

    @abstractmethod
    async def send_log_status(self, status: str) -> None: ...

    async def after_boot(self) -> None:
        """After the boot and the status: anything the version owes the server (2.x: a transaction
        the previous run left open)."""
        return

    async def reservation_ended(self, reservation_id: int, why: str) -> None:
        """A reservation expired (``why`` "Expired") or was removed ("Removed")."""
        return

    # --- helpers ------------------------------------------------------------------------------------
    def spawn(self, coro: Coroutine[Any, Any, Any], *, timer: bool = False) -> None:
        """Run ``coro`` as a task: a follow-up, or (``timer``) something due much later."""
        task = asyncio.get_running_loop().create_task(coro)
        (self.timers if timer else self.tasks).add(task)
        task.add_done_callback(self._done)

    def later(self, coro: Coroutine[Any, Any, Any]) -> None:
        """Run ``coro`` once the answer to the request being handled went out."""

        async def delayed() -> None:
            await asyncio.sleep(ANSWER_DELAY_S)
            await coro

        self.spawn(delayed())

    def _done(self, task: asyncio.Task[Any]) -> None:
        self.tasks.discard(task)
        self.timers.discard(task)
        if not task.cancelled() and task.exception() is not None:
            _LOGGER.warning("Follow-up failed: %r", task.exception())

    async def send(self, request: Any) -> Any:
        if self.cp is None:
            raise ConnectionError("not connected")
        try:
            return await self.cp.call(request, suppress=False)
        except (OCPPError, UnknownCallErrorCodeError) as err:
            raise CallFailedError(type(request).__name__, err) from err

    def adopt_password(self, password: str) -> None:
        """Use ``password`` from now on: save it and reconnect with it (Basic authentication)."""
        self.state.password = password
        self.state.authorization_key = None
        self.state.save()
        self.spawn(self._reconnect_soon())

    async def _reconnect_soon(self) -> None:
        # After our answer is out (and the server had a moment to note it), as a real charger
        # restarting its connection with the new credentials.
        await asyncio.sleep(self.password_reconnect_s)
        _LOGGER.info("New password: reconnecting with Basic authentication")
        self.reconnect.set()

    def adopt_security_profile(self, profile: int) -> None:
        """Connect with ``profile`` from now on (after our answer); if that fails, fall back."""
        self.switch_security_profile(profile)
        self.spawn(self._reconnect_soon())

    def switch_security_profile(self, profile: int) -> None:
        """Connect with ``profile`` from the next connection on; the profile in use so far is the
        fallback until it connected."""
        state = self.state
        if profile != state.security_profile:
            state.previous_profile = state.security_profile
            state.security_profile = profile
            self.failed_on_new_profile = 0
        state.save()

    def connection_target(self) -> tuple[str, ssl.SSLContext | None, bool]:
        """(URL, TLS context, send the password) of the security profile in use: 0 and 1 plain
        ws://, 2 wss:// with the password, 3 wss:// with the client certificate."""
        state = self.state
        profile = state.security_profile
        if profile < 2:
            return self.url, None, bool(state.password)
        roots = state.all_roots()
        if profile == 3:
            return self.tls_url, client_context(roots, state.certificate_pem, state.key_pem), False
        return self.tls_url, client_context(roots, None, None), bool(state.password)

    def _connected(self) -> None:
        if self.state.previous_profile is not None:
            _LOGGER.info("Connected on security profile %d", self.state.security_profile)
            self.state.previous_profile = None
            self.state.save()

    def _connection_failed(self) -> None:
        """A new profile that does not get through falls back to the previous one (1.6 security
        whitepaper: the charger keeps the old one when it cannot connect with the new)."""
        state = self.state
        if state.previous_profile is None:
            return
        self.failed_on_new_profile += 1
        if self.failed_on_new_profile < self.fallback_after:
            return
        _LOGGER.warning(
            "Security profile %d does not connect: back to profile %d",
            state.security_profile,
            state.previous_profile,
        )
        state.security_profile, state.previous_profile = state.previous_profile, None
        self.set_security_profile_setting(state.security_profile)
        self.failed_on_new_profile = 0
        state.save()

    def set_security_profile_setting(self, profile: int) -> None:
        """The version's own setting (1.6 SecurityProfile)."""
        return

    # --- connection -----------------------------------------------------------------------------
    async def run_forever(self) -> None:
        loop = asyncio.get_running_loop()
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signal.SIGTERM, self.stopping.set)
        try:
            await self._connect_loop()
        finally:
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.remove_signal_handler(signal.SIGTERM)

    async def _connect_loop(self) -> None:
        while not self.stopping.is_set():
            headers = {}
            connected = False
            url = self.url
            try:
                url, context, with_password = self.connection_target()
                if with_password:
                    token = base64.b64encode(f"{self.charger_id}:{self.state.password}".encode())
                    headers["Authorization"] = f"Basic {token.decode()}"
                async with connect(
                    url,
                    subprotocols=[self.subprotocol],  # type: ignore[list-item]
                    additional_headers=headers,
                    open_timeout=10,
                    ssl=context,
                ) as ws:
                    if ws.subprotocol != self.subprotocol:
                        _LOGGER.warning(
                            "Server did not accept %s (answered %r): closing",
                            self.subprotocol,
                            ws.subprotocol,
                        )
                    else:
                        connected = True
                        self._connected()
                        _LOGGER.info(
                            "Connected to %s (%s, security profile %d)",
                            url,
                            self.subprotocol,
                            self.state.security_profile,
                        )
                        await self.session(ws)
            except InvalidStatus as err:
                _LOGGER.warning("Server refused the connection: HTTP %s", err.response.status_code)
            except (OSError, WebSocketException, InvalidHandshake, TimeoutError, ValueError) as err:
                _LOGGER.warning("Connection to %s failed or dropped: %s", url, err)
            if not connected:
                self._connection_failed()
            self.cp = None
            self.booted.clear()
            await self._pause(self.reconnect_delay)
        self.state.save()
        # Follow-ups still waiting (a car leaving in a minute, a reservation expiring) end here.
        pending = self.tasks | self.timers
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)

    async def _pause(self, seconds: float) -> None:
        """Sleep, but wake up at once when asked to stop."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.stopping.wait(), seconds)

    async def session(self, ws: Any) -> None:
        self.cp = self.make_charge_point(ws)
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
            self.cp = None
            # Follow-ups of this connection (a report, a status) end with it: a CALL in flight
            # would otherwise wait for an answer that cannot come any more.
            for task in (reader, behaviour, reconnect, *self.tasks):
                task.cancel()
            await ws.close()

    # --- boot -----------------------------------------------------------------------------------
    async def boot(self) -> None:
        while True:
            try:
                status, interval = await self.send_boot(self.boot_reason)
            except CallFailedError as err:
                _LOGGER.warning("BootNotification failed: %s", err)
                status, interval = "Rejected", int(self.reconnect_delay)
            self.last_boot_status = status
            _LOGGER.info("BootNotification: %s", status)
            if status == "Accepted":
                if interval:
                    self.set_heartbeat_interval(interval)
                self.needs_boot = False
                self.booted.set()
                return
            self.boot_now.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.boot_now.wait(), min(max(interval, 5), 30))

    def last_boot_accepted(self) -> bool:
        """Whether the station runs on an Accepted boot (2.x refuses a triggered boot then)."""
        return not self.needs_boot and self.last_boot_status == "Accepted"

    # --- behaviour ------------------------------------------------------------------------------
    async def behave(self) -> None:
        if self.boots_on_every_connection or self.boot_on_reconnect or self.needs_boot:
            await self.boot()
        else:
            _LOGGER.info("Reconnected: booted before, so no BootNotification")
            self.booted.set()
        await self.announce()
        await self.after_boot()
        next_heartbeat = time.monotonic()
        plug_in_at = time.monotonic() + self.plug_in_after
        # As a real charger: the first sample one interval after (re)connecting, not at once.
        await self._pause(self.meter_interval)
        while not self.stopping.is_set():
            try:
                if (
                    not self.state.plugged
                    and self.state.transaction_id is None
                    and self.state.operative
                    and time.monotonic() >= plug_in_at
                ):
                    await self.plug_in()
                await self.meter_values()
                if time.monotonic() >= next_heartbeat:
                    await self.send_heartbeat()
                    next_heartbeat = time.monotonic() + self.heartbeat_interval()
            except CallFailedError as err:
                _LOGGER.warning("The server refused a request: %s", err)
            if not self.state.plugged:
                plug_in_at = min(plug_in_at, time.monotonic() + self.plug_in_after)
            await self._pause(self.meter_interval)
            if self.stopping.is_set():
                # Let follow-ups in flight (a MeterValues after a new limit) get their answers.
                if self.tasks:
                    await asyncio.wait(set(self.tasks), timeout=5)
                self.state.save()
                return

    async def set_status(self, status: str | Callable[[], str]) -> None:
        """Change the connector's state and tell the server; a callable is evaluated in turn (a car
        leaving while a transaction ends must not end up as Finishing)."""
        async with self.status_lock:
            self.state.status = status() if callable(status) else status
            await self.send_status(self.state.status)

    async def plug_in(self) -> None:
        _LOGGER.info("Car plugged in (SoC %.0f %%)", self.state.soc)
        self.state.plugged = True
        await self.set_status("Preparing")
        if await self.authorize(self.id_tag):
            await self.start_transaction(self.id_tag)
        else:
            _LOGGER.info("Id tag %s not accepted: waiting for a remote start", self.id_tag)

    async def start_transaction(self, id_tag: str, remote_start_id: int | None = None) -> None:
        if self.state.transaction_id is not None:
            return
        if not self.state.plugged:
            self.state.plugged = True
            await self.set_status("Preparing")
        meter_start = round(self.state.energy_wh)
        self.state.charging_s = 0.0
        transaction_id = await self.begin_transaction(id_tag, meter_start, remote_start_id)
        if transaction_id is None:
            return
        self.state.acknowledged(meter_start)
        self.state.meter_start_wh = meter_start
        self.state.transaction_id = transaction_id
        self.state.transaction_start = self.state.transaction_start or now()
        self.state.reservation = None  # the car used it
        _LOGGER.info("Transaction %s started", transaction_id)
        await self.follow_limit()

    async def stop_transaction(self, reason: str) -> None:
        if self.state.transaction_id is None:
            return
        transaction_id = self.state.transaction_id
        self.integrate()
        self.state.drawn_a = 0.0
        self.state.transaction_id = None
        self.state.transaction_start = None
        self.state.clear_tx_profiles()
        meter_stop = round(self.state.energy_wh)
        await self.end_transaction(transaction_id, meter_stop, reason)
        self.state.acknowledged(meter_stop)
        _LOGGER.info("Transaction %s stopped (%s)", transaction_id, reason)
        self.state.save()
        await self.set_status(
            lambda: "Finishing" if self.state.plugged else self.state.idle_status()
        )
        self.spawn(self.unplug(delay=60), timer=True)
        await self._when_idle()

    async def _when_idle(self) -> None:
        """Run what waited for the transaction to end."""
        if self.operative_when_idle is not None:
            self.state.operative = self.operative_when_idle
            self.operative_when_idle = None
            if not self.state.operative:
                await self.set_status("Unavailable")
        if self.reset_when_idle:
            self.reset_when_idle = False
            self.spawn(self.reboot("SoftReset"))

    async def unplug(self, delay: float = 0) -> None:
        await asyncio.sleep(delay)
        if self.state.transaction_id is not None or not self.state.plugged:
            return
        self.state.plugged = False
        self.state.soc = ARRIVAL_SOC  # the next car arrives half empty
        _LOGGER.info("Car unplugged")
        await self.set_status(self.state.idle_status)

    async def follow_limit(self) -> None:
        """The connector state follows the offered current, as a real EVSE does."""
        if self.state.transaction_id is None or self.cp is None:
            return
        wanted = self.state.wanted_status()
        if wanted != self.state.status:
            await self.set_status(wanted)

    def integrate(self) -> None:
        """Add the energy since the last sample, drawn at the current of then."""
        elapsed = time.monotonic() - self.last_meter
        self.last_meter = time.monotonic()
        self.state.add_energy(elapsed)

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
        register = round(state.energy_wh)
        await self.send_meter(state.samples(current), context)
        state.acknowledged(register)
        await self.follow_limit()
        state.save()

    # --- operations the handlers start ----------------------------------------------------------
    async def reboot(self, stop_reason: str) -> None:
        await asyncio.sleep(1)
        await self.stop_transaction(stop_reason)
        self.needs_boot = True
        self.boot_reason = "RemoteReset"
        self.reconnect.set()

    def change_availability(self, operative: bool) -> str:
        """ChangeAvailability of the connector: Accepted, or Scheduled while charging."""
        if self.state.transaction_id is not None and not operative:
            self.operative_when_idle = False
            return "Scheduled"
        self.operative_when_idle = None
        if operative != self.state.operative:
            self.state.operative = operative
            self.later(self.set_status(self.state.idle_status))
        return "Accepted"

    def reserve(self, reservation_id: int, id_tag: str, expiry: datetime | None) -> str:
        """ReserveNow of the connector: Accepted, Occupied, Unavailable."""
        state = self.state
        if not state.operative:
            return "Unavailable"
        if state.plugged or state.transaction_id is not None:
            return "Occupied"
        if state.reservation is not None and state.reservation[0] != reservation_id:
            return "Occupied"
        expires = expiry or now()
        state.reservation = (reservation_id, id_tag, expires)
        self.later(self.set_status(state.idle_status))
        self.spawn(self._expire_reservation(reservation_id, expires), timer=True)
        return "Accepted"

    async def _expire_reservation(self, reservation_id: int, expires: datetime) -> None:
        await asyncio.sleep(max(0.0, (expires - now()).total_seconds()))
        reservation = self.state.reservation
        if reservation is None or reservation[0] != reservation_id:
            return
        self.state.reservation = None
        _LOGGER.info("Reservation %s expired", reservation_id)
        if self.state.transaction_id is None and not self.state.plugged:
            await self.set_status(self.state.idle_status)
        await self.reservation_ended(reservation_id, "Expired")

    def cancel_reservation(self, reservation_id: int) -> bool:
        reservation = self.state.reservation
        if reservation is None or reservation[0] != reservation_id:
            return False
        self.state.reservation = None
        if self.state.transaction_id is None and not self.state.plugged:
            self.later(self.set_status(self.state.idle_status))
        return True

    def update_local_list(self, version: int, full: bool, entries: dict[str, str | None]) -> str:
        """SendLocalList: Accepted, or VersionMismatch for a differential update that is not
        newer than the list held."""
        state = self.state
        if not full and version <= state.local_list_version:
            return "VersionMismatch"
        if full:
            state.local_list = {}
        for id_tag, status in entries.items():
            if status is None:
                state.local_list.pop(id_tag, None)
            else:
                state.local_list[id_tag] = status
        state.local_list_version = version
        return "Accepted"

    async def firmware_update(self, request_id: int | None = None) -> None:
        self.request_ids["firmware"] = request_id
        for status in ("Downloading", "Downloaded", "Installing", "Installed"):
            await asyncio.sleep(self.step_s)
            self.firmware_status = status
            await self.send_firmware_status(status)
        self.firmware_status = "Idle"

    async def log_upload(self, request_id: int | None = None) -> None:
        self.request_ids["log"] = request_id
        for status in ("Uploading", "Uploaded"):
            await asyncio.sleep(self.step_s)
            self.log_status = status
            await self.send_log_status(status)
        self.log_status = "Idle"
