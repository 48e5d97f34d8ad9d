"""The OCPP central system: a websockets server that admits chargers and runs one session each.

The path of a connection:

1. :meth:`CentralSystem._process_request` (HTTP handshake): charger id from the URL (400),
   admission from the host's :class:`~.directory.ChargerDirectory` (404 if rejected or unknown
   while new chargers are not allowed), login throttling (429), Basic auth (401), takeover (409),
   room among the pending chargers (503). Every refusal is recorded (:attr:`last_refusal`) and
   logged at WARNING once per charger id and reason.
2. :meth:`CentralSystem._select_subprotocol`: the first OCPP version the charger offers that we
   speak (a charger offering none speaks 1.6).
3. :meth:`CentralSystem._handle`: the protocol adapter for that version runs until the socket
   closes. A second connection with the same id replaces the first; the charger model stays.

Takeover rule: a new connection that authenticated with the charger's password always replaces the
open one. A connection without valid credentials (a pending id, an accepted charger without a
password or whose password is only offered) replaces it only when the open socket does not answer
a websocket ping within :data:`TAKEOVER_PING_TIMEOUT_S` (it is dead); otherwise it is refused with
HTTP 409.

Throttling: failed logins (401, 409) are counted per charger id and per source address
(:class:`~.guard.LoginThrottle`): from the 3rd failure within 10 minutes the id / address gets HTTP
429 with Retry-After, 5 s doubling up to 5 minutes; a successful login resets both. The address a
charger last connected from and a login that presents the right password are exempt from its id's
block (so failures from elsewhere cannot lock the charger out, also after a restart), not from the
address block (guessing stays throttled per address).

Passwords are two-phase: once the charger accepted its AuthorizationKey the password is *offered*
(it may still connect without credentials); its first login with the password *commits* it, and
from then on only the password works. A charger that keeps connecting without it
(:data:`PASSWORD_IGNORED_AFTER_LOGINS` times) is reported to the directory (HA: a repair).

Unknown ids are kept in a bounded, expiring list (:class:`~.guard.PendingChargers`: at most
:data:`~.guard.MAX_PENDING_CHARGERS`, forgotten a day after their last connection unless accepted)
and never persisted.

The charger models, their current controllers and the persisted state belong to the server, so they
survive reconnects; the persisted part (see :mod:`.persistence`) also survives restarts.
"""

from __future__ import annotations

import asyncio
import http
import logging
import random as _random
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable, Coroutine, Mapping, Sequence
from datetime import UTC, datetime
from enum import StrEnum
from types import MappingProxyType
from typing import Any
from urllib.parse import unquote

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed, NegotiationError
from websockets.frames import Frame
from websockets.http11 import Request, Response
from websockets.protocol import State
from websockets.typing import Subprotocol

from . import auth
from .current_control import CurrentController
from .directory import Admission, ChargerDirectory, StateStore
from .errors import OcppEmsError, ServerBindError
from .guard import (
    MAX_PENDING_CHARGERS,
    THROTTLE_FAILURES,
    Clock,
    LoginThrottle,
    PendingChargers,
    Refusal,
    RefusalReason,
)
from .model import Charger, ChargerEvent, EventKind
from .pacing import SETUP_LEASE_S, SetupGate
from .persistence import state_from_dict, state_to_dict
from .protocol import (
    DEFAULT_VERSION,
    SESSION_FACTORIES,
    SessionFactory,
    create_session,
    select_version,
)
from .protocol.limits import MAX_FRAME_BYTES, RECEIVE_QUEUE_FRAMES
from .session import ChargerSession, SessionContext
from .settings import ServerSettings

_LOGGER = logging.getLogger(__name__)
# Handshake headers whose value is a credential.
_SECRET_HEADERS = frozenset({"authorization", "proxy-authorization"})


class _WebsocketsLogger(logging.LoggerAdapter[logging.Logger]):
    """websockets' own (handshake / frame) logging, under our namespace so users can find and tune
    it. At DEBUG websockets logs every handshake header and every frame: the Basic-auth header
    would give away a charger's password and a ChangeConfiguration frame its AuthorizationKey, so
    header values are hidden and frames shrink to their size (the OCPP wire logger logs them
    whole, redacted)."""

    def log(self, level: int, msg: object, *args: object, **kwargs: Any) -> None:
        if args and msg in ("< %s: %s", "> %s: %s") and str(args[0]).lower() in _SECRET_HEADERS:
            args = (args[0], "***")
        elif msg == "< %s %s %s" and len(args) == 3:
            # The request line: its query string may carry a token.
            args = (args[0], str(args[1]).split("?", 1)[0], args[2])
        elif len(args) == 1 and isinstance(args[0], Frame):
            frame = args[0]
            args = (f"{frame.opcode.name} [{len(frame.data)} bytes]",)
        # Report websockets' own source line, not this adapter's.
        kwargs.setdefault("stacklevel", 2)
        super().log(level, msg, *args, **kwargs)


_WS_LOGGER = _WebsocketsLogger(logging.getLogger(f"{__name__}.websockets"))

# OCPP identity: CiString48 in 1.6, identifierString(48) in 2.0.1; ':' would break Basic auth.
MAX_CHARGER_ID_LENGTH = 48
# Largest OCPP frame we accept. Real frames are small (a full GetConfiguration is some 10 kB); the
# limit only stops a broken or hostile client from making us buffer arbitrary amounts.
MAX_MESSAGE_BYTES = MAX_FRAME_BYTES
# How long a closing websocket may take before we drop the TCP connection.
CLOSE_TIMEOUT_S = 5.0
BASIC_REALM = 'Basic realm="OCPP", charset="UTF-8"'
# A connection without valid credentials may replace an open one of the same charger only when the
# open socket does not answer a ping within this time (it is dead).
TAKEOVER_PING_TIMEOUT_S = 3.0
# A charger that accepted its password but connects without it this many times: "ignored" repair.
PASSWORD_IGNORED_AFTER_LOGINS = 2
# Expired pending ids and throttle entries are dropped this often (and whenever a new id arrives).
HOUSEKEEPING_INTERVAL_S = 600.0
# Refusals are logged at WARNING once per (charger id, reason); this many pairs are remembered.
_MAX_WARNED_REFUSALS = 256
# ... and at most this many such warnings per window (someone trying many ids must not flood the
# log; the rest go to DEBUG and the "last refused connection" sensor).
REFUSAL_WARNINGS_PER_WINDOW = 10
REFUSAL_WARNING_WINDOW_S = 600.0
_MAX_LOGGED_PATH = 80

_REFUSAL_TEXT = {
    RefusalReason.INVALID_ID: "no valid charger id in the URL path",
    RefusalReason.REJECTED: "the charger was ignored, deleted or disabled",
    RefusalReason.NOT_ALLOWED: "unknown charger and new chargers are not allowed",
    RefusalReason.BAD_CREDENTIALS: "wrong or missing password",
    RefusalReason.THROTTLED: "too many failed logins",
    RefusalReason.ALREADY_CONNECTED: (
        "the charger is connected and the new connection has no valid password"
    ),
    RefusalReason.TOO_MANY_PENDING: "too many chargers wait for approval",
}


class ProvisionResult(StrEnum):
    """Outcome of :meth:`CentralSystem.reprovision`."""

    ACCEPTED = "accepted"  # the connected charger accepted the key (offered)
    REFUSED = "refused"  # the connected charger refused it
    NEXT_CONNECTION = "next_connection"  # offline: offered at its next accepted boot


def parse_charger_id(path: str) -> str | None:
    """The charger id in a request path: the last non-empty segment, URL-decoded; None if invalid.

    ``/ID``, ``//ID``, ``/ocpp/ID`` and ``/ocpp/ID/`` all name ``ID``; a query string or fragment is
    ignored. (Not ``urlsplit``: it reads ``//ID`` as a host name.)
    """
    path = path.split("?", 1)[0].split("#", 1)[0]
    segments = [segment for segment in path.split("/") if segment]
    if not segments:
        return None
    charger_id = unquote(segments[-1])
    if (
        len(charger_id) > MAX_CHARGER_ID_LENGTH
        or ":" in charger_id
        or not charger_id.isprintable()
        or not charger_id.strip()
    ):
        return None
    return charger_id


def _now() -> datetime:
    return datetime.now(UTC)


def _remote(connection: ServerConnection) -> str:
    address = connection.remote_address
    if isinstance(address, tuple) and address:
        return str(address[0])
    return "unknown"  # pragma: no cover - TCP connections always have a peer address


class _Link:
    """One accepted websocket connection and the protocol session speaking over it."""

    # Set right after construction: the session's context refers back to the link.
    session: ChargerSession

    def __init__(self, charger_id: str, connection: ServerConnection, version: str) -> None:
        self.charger_id = charger_id
        self.connection = connection
        self.version = version
        # The password was offered over this connection already (at most once per connection).
        self.provision_tried = False


class CentralSystem:
    """Accepts charger connections and owns the charger models, sessions and current controllers.

    ``clock`` (monotonic seconds) drives login throttling and the expiry of pending ids;
    ``random`` (0 <= x < 1) the jitter of queued post-boot setups.
    """

    # How long an open connection has to answer the ping of a takeover check (tests shorten it).
    takeover_ping_timeout_s = TAKEOVER_PING_TIMEOUT_S

    def __init__(
        self,
        settings: ServerSettings,
        directory: ChargerDirectory,
        store: StateStore | None = None,
        *,
        factories: Mapping[str, SessionFactory] | None = None,
        clock: Clock = time.monotonic,
        random: Callable[[], float] = _random.random,
    ) -> None:
        self._settings = settings
        self._directory = directory
        self._store = store
        # Which OCPP versions we speak, and the adapter for each (tests may plug in their own);
        # versions the settings leave out are not offered.
        self._factories: dict[str, SessionFactory] = {
            version: factory
            for version, factory in (SESSION_FACTORIES if factories is None else factories).items()
            if version in settings.ocpp_versions
        }
        self._server: Server | None = None
        self._chargers: dict[str, Charger] = {}
        self._links: dict[str, _Link] = {}
        self._controllers: dict[str, CurrentController] = {}
        self._attach_tasks: dict[str, asyncio.Task[None]] = {}
        # Post-boot setup and the current-control start after it, paced server-wide (pacing.py).
        self._setup_gate = SetupGate(
            settings.setup_concurrency,
            jitter_s=settings.setup_jitter_s,
            lease_s=SETUP_LEASE_S,
            random=random,
        )
        self._tasks: set[asyncio.Task[Any]] = set()
        self._charger_listeners: list[Callable[[str], None]] = []
        self._id_throttle = LoginThrottle(clock)
        self._address_throttle = LoginThrottle(clock)
        # Where each charger last connected from: exempt from its id's throttle.
        self._known_address: dict[str, str] = {}
        # Unauthenticated handshakes -> the open connection they found (None: none).
        self._checked_links: weakref.WeakKeyDictionary[ServerConnection, _Link | None] = (
            weakref.WeakKeyDictionary()
        )
        self._pending = PendingChargers(clock, limit=MAX_PENDING_CHARGERS)
        self._last_refusal: Refusal | None = None
        self._refusal_listeners: list[Callable[[Refusal], None]] = []
        self._warned: OrderedDict[tuple[str, RefusalReason], None] = OrderedDict()
        self._clock = clock
        self._warning_window: tuple[float, int] = (-REFUSAL_WARNING_WINDOW_S, 0)  # (start, count)
        self._loaded = False
        self._stopping = False
        self._stop_lock = asyncio.Lock()

    # --- lifecycle ------------------------------------------------------------------------------
    async def start(self) -> None:
        """Load persisted state, then bind. Raises ServerBindError when the port cannot be used."""
        if self._server is not None:
            raise RuntimeError("CentralSystem already started")
        self._stopping = False
        if self._store is not None and not self._loaded:
            dropped = 0
            for charger_id, charger in state_from_dict(await self._store.async_load()).items():
                if self._directory.admission(charger_id) is Admission.PENDING:
                    dropped += 1  # never accepted (older versions stored every id that connected)
                elif charger_id not in self._chargers:
                    self._chargers[charger_id] = charger
                    self._notify_charger_created(charger_id)
            if dropped:
                _LOGGER.info("Dropped the stored state of %d never accepted charger ids", dropped)
            self._loaded = True

        host, port = self._settings.host, self._settings.port
        try:
            self._server = await serve(
                self._handle,
                host,
                port,
                select_subprotocol=self._select_subprotocol,
                process_request=self._process_request,
                ping_interval=self._settings.ping_interval_s,
                ping_timeout=self._settings.ping_timeout_s,
                close_timeout=CLOSE_TIMEOUT_S,
                max_size=MAX_MESSAGE_BYTES,
                # Per connection, sessions lower max_size by trust (protocol/limits.py); a short
                # receive queue bounds what an unread flood can make us buffer.
                max_queue=RECEIVE_QUEUE_FRAMES,
                # No per-message deflate: OCPP frames are small, and one compressed TCP segment
                # can hold thousands of frames that all inflate before reading pauses (a Pending
                # flood grew the server by 210 MiB with it on).
                compression=None,
                # Room for a reconnect storm's handshakes while the loop is busy (settings.py).
                backlog=self._settings.listen_backlog,
                logger=_WS_LOGGER,
            )
        except OSError as err:
            raise ServerBindError(host, port, err.strerror or str(err)) from err
        self._spawn(self._housekeeping_loop(), name="ocpp_ems housekeeping")
        _LOGGER.info("OCPP central system listening on %s:%s", host, self.port)

    async def stop(self) -> None:
        """Close every connection and the listening socket; cancel all tasks; save state.

        Idempotent; does nothing when the server is not running."""
        async with self._stop_lock:  # a second concurrent stop() waits for the first
            if self._server is not None:
                await self._stop(self._server)

    async def _stop(self, server: Server) -> None:
        self._stopping = True
        # Controllers first: they stop refreshing limits while the sessions can still be used.
        controllers, self._controllers = list(self._controllers.values()), {}
        for controller in controllers:
            await controller.close()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        await asyncio.gather(*(self._close_link(link) for link in list(self._links.values())))

        server.close()
        try:
            async with asyncio.timeout(2 * CLOSE_TIMEOUT_S):
                await server.wait_closed()
        except TimeoutError:
            # A session that ignores its closed socket must not block Home Assistant's shutdown.
            for task in list(server.handler_tasks):
                task.cancel()
            await server.wait_closed()
        self._server = None
        _LOGGER.info("OCPP central system stopped")

        if self._store is not None:
            await self._store.async_save(self.stored_state())

    @property
    def port(self) -> int:
        """The bound port (useful with port 0 in tests)."""
        if self._server is None:
            raise RuntimeError("CentralSystem is not running")
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    # --- chargers -------------------------------------------------------------------------------
    @property
    def chargers(self) -> Mapping[str, Charger]:
        """Every known charger model (read-only view), connected or not."""
        return MappingProxyType(self._chargers)

    def charger(self, charger_id: str) -> Charger:
        """The model of a charger (created on demand; survives reconnects and, via the store,
        restarts)."""
        charger = self._chargers.get(charger_id)
        if charger is None:
            charger = self._chargers[charger_id] = Charger(charger_id=charger_id)
            self._notify_charger_created(charger_id)
        return charger

    def session(self, charger_id: str) -> ChargerSession | None:
        """The live connection of a charger, or None when it is offline."""
        link = self._links.get(charger_id)
        return None if link is None else link.session

    def add_charger_listener(self, callback: Callable[[str], None]) -> Callable[[], None]:
        """Call ``callback(charger_id)`` whenever a charger model is created (HA adds devices)."""
        self._charger_listeners.append(callback)

        def unsubscribe() -> None:
            if callback in self._charger_listeners:
                self._charger_listeners.remove(callback)

        return unsubscribe

    def _notify_charger_created(self, charger_id: str) -> None:
        for callback in list(self._charger_listeners):
            callback(charger_id)

    async def accept_charger(self, charger_id: str) -> None:
        """The user approved a pending charger: provision its password and let it boot Accepted."""
        self._pending.discard(charger_id)
        link = self._links.get(charger_id)
        if link is not None:
            link.provision_tried = True
            await link.session.on_accepted(self._directory.password(charger_id))

    async def reprovision(self, charger_id: str) -> ProvisionResult:
        """Offer the charger its password again (the user's "provision again").

        The password becomes optional again until the charger logs in with it. A connected charger
        gets the key now; an offline one at its next accepted boot."""
        charger = self.charger(charger_id)
        self._reset_auth(charger)
        link = self._links.get(charger_id)
        password = self._directory.password(charger_id)
        if link is None or password is None:
            return ProvisionResult.NEXT_CONNECTION
        link.provision_tried = True
        await link.session.on_accepted(password)
        return ProvisionResult.ACCEPTED if charger.auth_provisioned else ProvisionResult.REFUSED

    def forget_password(self, charger_id: str) -> None:
        """The user chose "no password" (trusted network): the host no longer has a password for
        this charger; it connects without credentials from now on."""
        self._reset_auth(self.charger(charger_id))

    def _reset_auth(self, charger: Charger) -> None:
        charger.auth_provisioned = charger.auth_committed = False
        charger.auth_unused_logins = 0
        self.request_save()
        charger.notify()

    @property
    def pending_chargers(self) -> list[str]:
        """Unknown charger ids waiting for approval (bounded, expiring, never persisted)."""
        return self._pending.ids()

    @property
    def last_refusal(self) -> Refusal | None:
        """The last connection refused at the handshake (None since the start)."""
        return self._last_refusal

    def add_refusal_listener(self, callback: Callable[[Refusal], None]) -> Callable[[], None]:
        """Call ``callback(refusal)`` whenever a connection is refused."""
        self._refusal_listeners.append(callback)

        def unsubscribe() -> None:
            if callback in self._refusal_listeners:
                self._refusal_listeners.remove(callback)

        return unsubscribe

    async def reject_charger(self, charger_id: str) -> None:
        """The user ignored/deleted a charger: drop its connection."""
        link = self._links.get(charger_id)
        if link is not None:
            _LOGGER.info("Charger %s was rejected; closing its connection", charger_id)
            await self._close_link(link)

    def current_control(self, charger_id: str) -> CurrentController:
        """The charger's current controller (one per charger, kept across reconnects)."""
        controller = self._controllers.get(charger_id)
        if controller is None:
            directory = self._directory
            controller = CurrentController(
                self.charger(charger_id),
                lambda: directory.settings(charger_id),
                self.request_save,
            )
            self._controllers[charger_id] = controller
        return controller

    # --- persistence ----------------------------------------------------------------------------
    def stored_state(self) -> dict[str, Any]:
        """The document persisted in the state store (never an id that is only pending)."""
        return state_to_dict(
            {
                charger_id: charger
                for charger_id, charger in self._chargers.items()
                if charger_id not in self._pending
                or self._directory.admission(charger_id) is Admission.ACCEPTED
            }
        )

    def request_save(self) -> None:
        """Persist the charger models soon (debounced by the store)."""
        # While stopping, stop() writes the final state itself.
        if self._store is not None and not self._stopping:
            self._store.schedule_save(self.stored_state)

    # --- handshake --------------------------------------------------------------------------------
    async def _process_request(
        self, connection: ServerConnection, request: Request
    ) -> Response | None:
        """Admit or refuse a charger before the websocket opens (see the module docstring)."""
        remote = _remote(connection)
        path = request.path
        charger_id = parse_charger_id(path)
        if charger_id is None:
            return self._refuse(
                connection,
                None,
                path,
                remote,
                RefusalReason.INVALID_ID,
                http.HTTPStatus.BAD_REQUEST,
            )

        admission = self._directory.admission(charger_id)
        if admission is Admission.REJECTED:
            return self._refuse(
                connection,
                charger_id,
                path,
                remote,
                RefusalReason.REJECTED,
                http.HTTPStatus.NOT_FOUND,
            )
        if admission is Admission.PENDING and not self._settings.allow_new_chargers:
            return self._refuse(
                connection,
                charger_id,
                path,
                remote,
                RefusalReason.NOT_ALLOWED,
                http.HTTPStatus.NOT_FOUND,
            )

        # Several Authorization headers are not credentials (and .get() would raise on them).
        headers = request.headers.get_all("Authorization")
        header = headers[0] if len(headers) == 1 else ("" if headers else None)
        password = self._directory.password(charger_id)
        # The right password is never refused by the charger id's block: failures from elsewhere
        # must not lock the charger out (also after a restart, when its address is not known yet).
        # Guessing stays throttled per address.
        proven = (
            header is not None
            and password is not None
            and auth.check_credentials(header, charger_id, password)
        )
        if (retry_after := self._retry_after(charger_id, remote, proven=proven)) is not None:
            response = self._refuse(
                connection,
                charger_id,
                path,
                remote,
                RefusalReason.THROTTLED,
                http.HTTPStatus.TOO_MANY_REQUESTS,
            )
            response.headers["Retry-After"] = str(retry_after)
            return response

        charger = self._chargers.get(charger_id)
        authenticated = False
        if header is not None or (charger is not None and charger.auth_committed):
            if password is None:
                # Nothing to check against (never provisioned, "no password" chosen, or the host
                # lost it): let it in rather than lock it out for good.
                _LOGGER.debug("Charger %s sent credentials but has no password", charger_id)
            elif not auth.check_credentials(header, charger_id, password):
                self._login_failed(charger_id, remote)
                self._directory.on_auth_failure(charger_id, remote)
                response = self._refuse(
                    connection,
                    charger_id,
                    path,
                    remote,
                    RefusalReason.BAD_CREDENTIALS,
                    http.HTTPStatus.UNAUTHORIZED,
                )
                response.headers["WWW-Authenticate"] = BASIC_REALM
                return response
            else:
                authenticated = True

        previous = self._links.get(charger_id)
        if previous is not None and not authenticated:
            if await self._answers_ping(previous.connection):
                self._login_failed(charger_id, remote)
                return self._refuse(
                    connection,
                    charger_id,
                    path,
                    remote,
                    RefusalReason.ALREADY_CONNECTED,
                    http.HTTPStatus.CONFLICT,
                )
            _LOGGER.info(
                "Charger %s: its open connection does not answer a ping; the new one from %s "
                "replaces it",
                charger_id,
                remote,
            )
            previous.connection.transport.abort()
        if not authenticated:
            # What this handshake found (see _may_take_over: another one may race it).
            self._checked_links[connection] = previous

        if admission is Admission.PENDING and not self._make_pending_room(charger_id):
            response = self._refuse(
                connection,
                charger_id,
                path,
                remote,
                RefusalReason.TOO_MANY_PENDING,
                http.HTTPStatus.SERVICE_UNAVAILABLE,
            )
            response.headers["Retry-After"] = str(int(HOUSEKEEPING_INTERVAL_S))
            return response
        if (
            admission is Admission.PENDING
            and charger is not None
            and (charger.auth_provisioned or charger.auth_committed)
        ):
            # Deleted and now asking again: whatever password it had belongs to the old entry.
            # Accepting it again offers the new one (two-phase), so it cannot be locked out.
            self._reset_auth(charger)

        if authenticated:
            connection.username = charger_id
            self._id_throttle.success(charger_id)
            self._address_throttle.success(remote)
            self._directory.on_auth_success(charger_id)
        return None

    def _refuse(
        self,
        connection: ServerConnection,
        charger_id: str | None,
        path: str,
        remote: str,
        reason: RefusalReason,
        status: http.HTTPStatus,
    ) -> Response:
        """Answer ``status``; record the refusal; log it at WARNING once per id and reason (a
        throttled login only at DEBUG: the throttle warned when it started)."""
        # Without the query string: it may carry a token.
        shown_path = path.split("?", 1)[0][:_MAX_LOGGED_PATH]
        refusal = Refusal(
            charger_id=charger_id, path=shown_path, reason=reason, remote=remote, at=_now()
        )
        self._last_refusal = refusal
        key = (charger_id if charger_id is not None else shown_path, reason)
        level = logging.DEBUG
        if key in self._warned:
            self._warned.move_to_end(key)
        else:
            self._warned[key] = None
            while len(self._warned) > _MAX_WARNED_REFUSALS:
                self._warned.popitem(last=False)
            if reason is not RefusalReason.THROTTLED and self._warning_allowed():
                level = logging.WARNING
        _LOGGER.log(
            level,
            "Refused connection %s from %s: %s (HTTP %d)",
            f"of charger {charger_id}" if charger_id is not None else f"to {key[0]!r}",
            remote,
            _REFUSAL_TEXT[reason],
            status,
        )
        for callback in list(self._refusal_listeners):
            callback(refusal)
        return connection.respond(status, f"{status.phrase}: {_REFUSAL_TEXT[reason]}\n")

    def _warning_allowed(self) -> bool:
        """Budget of refusal warnings per window; says once when it runs out."""
        now = self._clock()
        start, count = self._warning_window
        if now - start >= REFUSAL_WARNING_WINDOW_S:
            start, count = now, 0
        count += 1
        self._warning_window = (start, count)
        if count == REFUSAL_WARNINGS_PER_WINDOW + 1:
            _LOGGER.warning(
                "Many refused connections: further ones are logged at DEBUG for %.0f minutes "
                '(the server\'s "Last refused connection" sensor shows the latest)',
                (start + REFUSAL_WARNING_WINDOW_S - now) / 60,
            )
        return count <= REFUSAL_WARNINGS_PER_WINDOW

    def _retry_after(self, charger_id: str, remote: str, *, proven: bool = False) -> int | None:
        """Seconds the id or the address must still wait after failed logins (None: go ahead).

        The id's block spares the address the charger last connected from and a request that
        proved the password (``proven``); the address block applies to everyone."""
        waits = [self._address_throttle.retry_after(remote)]
        if not proven and self._known_address.get(charger_id) != remote:
            waits.append(self._id_throttle.retry_after(charger_id))
        blocked = [wait for wait in waits if wait is not None]
        return max(blocked) if blocked else None

    def _login_failed(self, charger_id: str, remote: str) -> None:
        for throttle, key, what in (
            (self._id_throttle, charger_id, f"charger {charger_id}"),
            (self._address_throttle, remote, f"address {remote}"),
        ):
            delay = throttle.failure(key)
            if delay is not None:
                # Once per burst at WARNING: the first block; longer ones follow at DEBUG.
                first = throttle.failures(key) == THROTTLE_FAILURES
                _LOGGER.log(
                    logging.WARNING if first else logging.DEBUG,
                    "Too many failed logins for %s: its logins are refused for %.0f s (HTTP 429)",
                    what,
                    delay,
                )

    async def _answers_ping(self, connection: ServerConnection) -> bool:
        """True when the socket answers a ping in time (it is alive)."""
        try:
            pong = await connection.ping()
            async with asyncio.timeout(self.takeover_ping_timeout_s):
                await pong
        except ConnectionClosed, TimeoutError:
            return False
        return True

    # --- pending chargers -----------------------------------------------------------------------
    def _make_pending_room(self, charger_id: str) -> bool:
        """Register a pending id; False when the list is full of connected ids."""
        self._forget_stale_pending()
        if charger_id not in self._pending and self._pending.full():
            victim = self._pending.evictable(self._is_connected)
            if victim is None:
                return False
            self._forget_pending(victim, "to make room for a new one")
        self._pending.touch(charger_id)
        return True

    def _is_connected(self, charger_id: str) -> bool:
        return charger_id in self._links

    def _forget_stale_pending(self) -> None:
        for charger_id in self._pending.ids():
            if self._directory.admission(charger_id) is Admission.ACCEPTED:
                self._pending.discard(charger_id)  # accepted: an ordinary charger now
        for charger_id in self._pending.stale(self._is_connected):
            self._forget_pending(charger_id, "not connected for a day")

    def _forget_pending(self, charger_id: str, why: str) -> None:
        self._pending.discard(charger_id)
        self._chargers.pop(charger_id, None)
        self._known_address.pop(charger_id, None)
        controller = self._controllers.pop(charger_id, None)
        if controller is not None:  # pragma: no cover - pending chargers get no current control
            controller.detach()
        _LOGGER.info("Forgot pending charger %s (%s)", charger_id, why)
        self._directory.on_pending_forgotten(charger_id)

    def housekeeping(self) -> None:
        """Forget expired pending ids and throttle entries (runs every HOUSEKEEPING_INTERVAL_S)."""
        self._forget_stale_pending()
        self._id_throttle.prune()
        self._address_throttle.prune()

    async def _housekeeping_loop(self) -> None:
        while True:
            await asyncio.sleep(HOUSEKEEPING_INTERVAL_S)
            self.housekeeping()

    def _select_subprotocol(
        self, connection: ServerConnection, offered: Sequence[Subprotocol]
    ) -> Subprotocol | None:
        """The first OCPP version the charger offers that we speak (its list is its preference).
        None (no header) means 1.6 for chargers offering nothing; offering only unknown versions
        aborts the handshake with HTTP 400."""
        if not offered:
            if DEFAULT_VERSION in self._factories:
                return None
            raise NegotiationError("missing subprotocol")
        # Compare case-insensitively but answer with the charger's own spelling: its websocket
        # client may insist on an exact echo.
        by_name: dict[str, Subprotocol] = {}
        for name in offered:
            by_name.setdefault(name.lower(), name)
        version = select_version(list(by_name), self._factories)
        if version is None:
            raise NegotiationError(
                f"unsupported subprotocol {', '.join(offered)}; "
                f"supported: {', '.join(self._factories)}"
            )
        return by_name[version]

    # --- connection -------------------------------------------------------------------------------
    async def _handle(self, connection: ServerConnection) -> None:
        """Run one charger connection from accepted handshake to close."""
        request = connection.request
        charger_id = parse_charger_id(request.path) if request is not None else None
        if charger_id is None:  # pragma: no cover - _process_request refused it already
            return
        if not await self._may_take_over(connection, charger_id):
            return
        version = (connection.subprotocol or DEFAULT_VERSION).lower()
        charger = self.charger(charger_id)
        remote = _remote(connection)
        self._known_address[charger_id] = remote
        for reason in RefusalReason:  # warn again about a refusal that recurs after this
            self._warned.pop((charger_id, reason), None)
        self._record_login(charger, authenticated=getattr(connection, "username", None) is not None)

        link = _Link(charger_id, connection, version)
        context = SessionContext(
            directory=self._directory,
            server_settings=self._settings,
            admission=lambda: self._directory.admission(charger_id),
            charger_settings=lambda: self._directory.settings(charger_id),
            request_save=self.request_save,
            on_booted=lambda: self._on_booted(link),
            setup_gate=self._setup_gate,
        )
        link.session = create_session(version, connection, charger, context, self._factories)

        previous = self._links.get(charger_id)
        self._links[charger_id] = link
        charger.ocpp_version = version
        charger.connected = True
        charger.last_seen = _now()
        if previous is not None:
            _LOGGER.info(
                "Charger %s reconnected from %s (%s), replacing its previous connection",
                charger_id,
                remote,
                version,
            )
            self._detach_controller(charger_id)
            await self._close_link(previous)
        else:
            _LOGGER.info("Charger %s connected from %s (%s)", charger_id, remote, version)
        charger.notify(
            ChargerEvent(kind=EventKind.CONNECTED, data={"remote": remote, "ocpp_version": version})
        )

        try:
            await link.session.run()
        except ConnectionClosed:
            pass
        except Exception:
            _LOGGER.exception("OCPP session of charger %s failed", charger_id)
        finally:
            await self._on_link_ended(link)

    async def _may_take_over(self, connection: ServerConnection, charger_id: str) -> bool:
        """Two handshakes without credentials may both have found the open socket dead; the first
        one's connection may be open by now. A connection that appeared after this handshake's
        check is pinged too; if it answers, this one is closed (1008) instead of replacing it."""
        checked = self._checked_links.pop(connection, None)
        current = self._links.get(charger_id)
        if current is None or current is checked or getattr(connection, "username", None):
            return True
        if not await self._answers_ping(current.connection):
            current.connection.transport.abort()
            return True
        remote = _remote(connection)
        self._login_failed(charger_id, remote)
        _LOGGER.warning(
            "Refused connection of charger %s from %s: another connection took over while it was "
            "being checked, and it has no valid password",
            charger_id,
            remote,
        )
        await connection.close(code=1008, reason="already connected")
        return False

    async def _on_link_ended(self, link: _Link) -> None:
        # Always close the session: it fails pending calls at once instead of letting them time out.
        await self._close_link(link)
        charger_id = link.charger_id
        if self._links.get(charger_id) is not link:
            return  # replaced by a newer connection, which now owns the charger
        del self._links[charger_id]
        self._detach_controller(charger_id)
        charger = self.charger(charger_id)
        charger.connected = False
        charger.last_seen = _now()
        _LOGGER.info(
            "Charger %s disconnected (close code %s)", charger_id, link.connection.close_code
        )
        charger.notify(ChargerEvent(kind=EventKind.DISCONNECTED))
        if charger_id in self._pending:
            self._pending.touch(charger_id)  # forgotten a day after its last connection
        self.request_save()

    def _record_login(self, charger: Charger, *, authenticated: bool) -> None:
        """Two-phase password: the first login with it commits it; logins without it while it is
        only offered are counted (the host hears of a charger that ignores its key)."""
        charger_id = charger.charger_id
        if authenticated:
            if not charger.auth_committed:
                charger.auth_provisioned = charger.auth_committed = True
                charger.auth_unused_logins = 0
                _LOGGER.info(
                    "Charger %s logged in with its password: from now on only the password works",
                    charger_id,
                )
                self.request_save()
            return
        if (
            charger.auth_provisioned
            and not charger.auth_committed
            and self._directory.password(charger_id) is not None
        ):
            charger.auth_unused_logins += 1
            self.request_save()
            if charger.auth_unused_logins >= PASSWORD_IGNORED_AFTER_LOGINS:
                if charger.auth_unused_logins == PASSWORD_IGNORED_AFTER_LOGINS:
                    _LOGGER.warning(
                        "Charger %s accepted its password but connected without it %d times; "
                        "it may still connect without one until it uses it",
                        charger_id,
                        charger.auth_unused_logins,
                    )
                self._directory.on_password_ignored(charger_id)

    async def _close_link(self, link: _Link) -> None:
        """Close a session and its socket; never blocks longer than CLOSE_TIMEOUT_S."""
        try:
            async with asyncio.timeout(CLOSE_TIMEOUT_S):
                await link.session.close()
                # Even if an adapter forgot to: the socket must be closed when close() returns.
                if link.connection.state is not State.CLOSED:
                    await link.connection.close()
        except TimeoutError:
            _LOGGER.debug("Charger %s did not close in time; dropping it", link.charger_id)
            link.connection.transport.abort()

    # --- current control ------------------------------------------------------------------------
    def _on_booted(self, link: _Link) -> None:
        """The adapter saw an accepted boot: (re)attach current control, outside its handler."""
        charger_id = link.charger_id
        if self._stopping or self._links.get(charger_id) is not link:
            return
        previous = self._attach_tasks.pop(charger_id, None)
        if previous is not None:
            previous.cancel()
        # The setup reporting this boot holds a slot of the setup gate: the profile writes of the
        # attach run in it too (shared now, while the setup still holds it), so a boot storm is
        # paced through both. Released when the attach task ends, however it ends.
        lease = self._setup_gate.share(charger_id)
        task = self._spawn(
            self._attach_controller(link, shared=lease is not None),
            name=f"ocpp_ems attach {charger_id}",
        )
        if lease is not None:
            release = lease.release
            task.add_done_callback(lambda _task: release())
        self._attach_tasks[charger_id] = task
        self._provision_if_missing(link)

    def _provision_if_missing(self, link: _Link) -> None:
        """An accepted charger booted without having our password (accepted while offline, it
        refused the key before, or the user asked to provision again): offer it, once per
        connection."""
        charger = self.charger(link.charger_id)
        password = self._directory.password(link.charger_id)
        if link.provision_tried or charger.auth_provisioned or password is None:
            return
        link.provision_tried = True
        self._spawn(
            link.session.on_accepted(password), name=f"ocpp_ems provision {link.charger_id}"
        )

    async def _attach_controller(self, link: _Link, *, shared: bool) -> None:
        try:
            if not shared:  # the boot was reported outside a setup slot: take one
                async with self._setup_gate.slot(link.charger_id):
                    await self.current_control(link.charger_id).attach(link.session)
            else:
                await self.current_control(link.charger_id).attach(link.session)
        except (OcppEmsError, ConnectionClosed) as err:
            _LOGGER.warning(
                "Charger %s: current control could not be set up: %s", link.charger_id, err
            )
        finally:
            if self._attach_tasks.get(link.charger_id) is asyncio.current_task():
                del self._attach_tasks[link.charger_id]

    def _detach_controller(self, charger_id: str) -> None:
        task = self._attach_tasks.pop(charger_id, None)
        if task is not None:
            task.cancel()
        controller = self._controllers.get(charger_id)
        if controller is not None:
            controller.detach()

    # --- tasks ------------------------------------------------------------------------------------
    def _spawn(self, coro: Coroutine[Any, Any, None], *, name: str) -> asyncio.Task[None]:
        """A task the server owns: tracked, cancelled on stop, failures logged."""
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and (err := task.exception()) is not None:
            _LOGGER.error("Task %s failed", task.get_name(), exc_info=err)
