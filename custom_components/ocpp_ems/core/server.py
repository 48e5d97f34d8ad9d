"""The OCPP central system: a websockets server that admits chargers and runs one session each.

The path of a connection:

1. :meth:`.handshake.Handshake.process_request` (HTTP handshake, :mod:`.handshake`): charger id,
   admission, login throttling, transport security (the charger's security profile: TLS, client
   certificate), Basic auth, takeover, room among the pending chargers. Every refusal is recorded
   (:attr:`last_refusal`) and logged at WARNING once per charger id and reason.
2. :meth:`CentralSystem._select_subprotocol`: the first OCPP version the charger offers that we
   speak (a charger offering none speaks 1.6).
3. :meth:`CentralSystem._handle`: the protocol adapter for that version runs until the socket
   closes. A second connection with the same id replaces the first; the charger model stays.

Two listeners share that path: plain ``ws://`` on ``ServerSettings.port`` and, when
``ServerSettings.tls_port`` is set, ``wss://`` with the TLS context (or context source, see
:mod:`.security.tls`) the host gives (security profiles 2 and 3). How each connection was secured
ends up in ``Charger.connection_security``.

Passwords are two-phase: once the charger accepted its AuthorizationKey the password is *offered*
(it may still connect without credentials); its first login with the password *commits* it, and
from then on only the password works. A charger that keeps connecting without it
(:data:`PASSWORD_IGNORED_AFTER_LOGINS` times) is reported to the directory (HA: a repair).

Unknown ids are kept in a bounded, expiring list (:class:`~.guard.PendingChargers`: at most
:data:`~.guard.MAX_PENDING_CHARGERS`, forgotten a day after their last connection unless accepted;
one address cannot fill it) and never persisted.

The charger models, their current controllers and the persisted state belong to the server, so they
survive reconnects; the persisted part (see :mod:`.persistence`) also survives restarts.
"""

from __future__ import annotations

import asyncio
import logging
import random as _random
import time
from collections.abc import Callable, Coroutine, Mapping, Sequence
from enum import StrEnum
from types import MappingProxyType
from typing import Any

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed, NegotiationError
from websockets.frames import Frame
from websockets.protocol import State
from websockets.typing import Subprotocol

from .current_control import CurrentController
from .directory import Admission, ChargerDirectory, StateStore
from .errors import OcppEmsError, ServerBindError
from .guard import MAX_PENDING_CHARGERS, Clock, OpeningConnections, PendingChargers, Refusal
from .handshake import (
    HOUSEKEEPING_INTERVAL_S,
    TAKEOVER_PING_TIMEOUT_S,
    Handshake,
    now_utc,
    parse_charger_id,
    remote_address,
)
from .model import Charger, ChargerEvent, ConnectionSecurity, EventKind
from .opening import ACCEPT_BATCH, OpeningConnection, deepen_backlog, default_opening_limit
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
from .reservation_clock import ReservationClock
from .security.tls import TlsContextSource, listener_context
from .session import CertificateService, ChargerSession, SessionContext
from .settings import SecurityProfile, ServerSettings
from .tls_listener import TlsFailureLog, TlsHandshakes

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

# Largest OCPP frame we accept. Real frames are small (a full GetConfiguration is some 10 kB); the
# limit only stops a broken or hostile client from making us buffer arbitrary amounts.
MAX_MESSAGE_BYTES = MAX_FRAME_BYTES
# How long a closing websocket may take before we drop the TCP connection.
CLOSE_TIMEOUT_S = 5.0
# A charger that accepted its password but connects without it this many times: "ignored" repair.
PASSWORD_IGNORED_AFTER_LOGINS = 2


class ProvisionResult(StrEnum):
    """Outcome of :meth:`CentralSystem.reprovision`."""

    ACCEPTED = "accepted"  # the connected charger accepted the key (offered)
    REFUSED = "refused"  # the connected charger refused it
    NEXT_CONNECTION = "next_connection"  # offline: offered at its next accepted boot


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
        tls: TlsContextSource | None = None,
        certificates: CertificateService | None = None,
    ) -> None:
        if settings.tls_port is not None and tls is None:
            raise ValueError("ServerSettings.tls_port needs a TLS context (tls=...)")
        self._settings = settings
        self._tls = tls
        # Our CA for the sessions (charger certificate signing requests, InstallCertificate).
        self._certificates = certificates
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
        self._tls_server: Server | None = None
        self._chargers: dict[str, Charger] = {}
        self._links: dict[str, _Link] = {}
        self._controllers: dict[str, CurrentController] = {}
        # Each charger's reservations ended by our clock (while the server runs).
        self._reservation_clocks: dict[str, ReservationClock] = {}
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
        self._pending = PendingChargers(clock, limit=MAX_PENDING_CHARGERS)
        # Connected pending ids that made room for a new one: forgotten once their link ended.
        self._leaving: set[str] = set()
        self._handshake = Handshake(
            settings,
            directory,
            clock=clock,
            charger=self._chargers.get,
            open_connection=self._open_connection,
            make_pending_room=self._make_pending_room,
            reset_auth=self._reset_auth,
            ping_timeout_s=lambda: self.takeover_ping_timeout_s,
        )
        self._opening = OpeningConnections(
            clock,
            limit=settings.max_opening_connections or default_opening_limit(),
            per_address=settings.max_opening_per_address,
            warning_allowed=self._handshake.warning_allowed,
        )
        self._tls_failures = TlsFailureLog(
            clock,
            warning_allowed=self._handshake.warning_allowed,
            chargers_at=self._handshake.chargers_at,
        )
        self._tls_handshakes: TlsHandshakes | None = None
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
        for charger in self._chargers.values():
            self._watch_reservations(charger)

        host = self._settings.host
        self._server = await self._serve(self._settings.port)
        if self._settings.tls_port is not None and self._tls is not None:
            self._tls_handshakes = TlsHandshakes(
                listener_context(self._tls),
                self._tls_failures,
                self._opening,
                shutdown_timeout_s=CLOSE_TIMEOUT_S,
            )
            try:
                self._tls_server = await self._serve(self._settings.tls_port, self._tls_handshakes)
            except ServerBindError:
                server, self._server = self._server, None
                server.close()
                await server.wait_closed()
                raise
        self._spawn(self._housekeeping_loop(), name="ocpp_ems housekeeping")
        _LOGGER.info("OCPP central system listening on %s:%s", host, self.port)
        if self._tls_server is not None:
            _LOGGER.info("OCPP central system listening on %s:%s (TLS)", host, self.tls_port)

    async def _serve(self, port: int, tls: TlsHandshakes | None = None) -> Server:
        """One listener (plain ws, or wss with ``tls``); ServerBindError when the port is taken.

        wss: the TCP listener's connections make their TLS handshake themselves (``tls``), so a
        failed one is reported (see :mod:`.tls_listener`)."""
        try:
            server = await serve(
                self._handle,
                self._settings.host,
                port,
                create_connection=(
                    OpeningConnection.with_slots(self._opening, self._tls_hello_report())
                    if tls is None
                    else tls.connection_class
                ),
                select_subprotocol=self._select_subprotocol,
                process_request=self._handshake.process_request,
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
                # Accepted per wake-up (opening.py); the listen backlog follows below.
                backlog=ACCEPT_BATCH,
                logger=_WS_LOGGER,
            )
        except OSError as err:
            raise ServerBindError(self._settings.host, port, err.strerror or str(err)) from err
        # Room for a reconnect storm's handshakes while the loop is busy (settings.py).
        deepen_backlog(server.sockets, self._settings.listen_backlog)
        return server

    def _tls_hello_report(self) -> Callable[[str], None] | None:
        """Who hears of a TLS ClientHello on the plain listener: the TLS failure log, while TLS is
        on (a charger set up for wss:// with the plain port; the repair says which port)."""
        if self._settings.tls_port is None or self._tls is None:
            return None
        return self._tls_failures.record_tls_on_plain_port

    async def stop(self) -> None:
        """Close every connection and the listening socket; cancel all tasks; save state.

        Idempotent; does nothing when the server is not running."""
        async with self._stop_lock:  # a second concurrent stop() waits for the first
            if self._server is not None:
                await self._stop(self._server)

    async def _stop(self, server: Server) -> None:
        self._stopping = True
        servers = [server] if self._tls_server is None else [server, self._tls_server]
        await self._stop_accepting(servers)
        # Controllers first: they stop refreshing limits while the sessions can still be used.
        controllers, self._controllers = list(self._controllers.values()), {}
        for controller in controllers:
            await controller.close()
        clocks, self._reservation_clocks = list(self._reservation_clocks.values()), {}
        for clock in clocks:
            clock.close()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        await asyncio.gather(*(self._close_link(link) for link in list(self._links.values())))

        for listener in servers:
            listener.close()
        try:
            async with asyncio.timeout(2 * CLOSE_TIMEOUT_S):
                await asyncio.gather(*(listener.wait_closed() for listener in servers))
        except TimeoutError:
            # A session that ignores its closed socket must not block Home Assistant's shutdown.
            for listener in servers:
                for task in list(listener.handler_tasks):
                    task.cancel()
            await asyncio.gather(*(listener.wait_closed() for listener in servers))
        self._server = self._tls_server = None
        _LOGGER.info("OCPP central system stopped")

        if self._store is not None:
            await self._store.async_save(self.stored_state())

    async def _stop_accepting(self, servers: list[Server]) -> None:
        """Take no new connections; close those still opening.

        asyncio turns a batch of accepted sockets into transports in tasks of their own: closing
        the listener before those ran leaves them half made (the listener refuses them, and each
        one's ``__del__`` then fails: "Exception ignored ... TypeError" at every stop during a
        burst of connections). And a connection still opening (in its TLS or websocket
        handshake) would hold the listener's close up to its open timeout."""
        loop = asyncio.get_running_loop()
        for listener in servers:
            for sock in listener.sockets:
                loop.remove_reader(sock.fileno())
        for _ in range(3):  # the transports' tasks, then their connection_made
            await asyncio.sleep(0)
        if self._tls_handshakes is not None:
            await self._tls_handshakes.abort()
        self._opening.close_all()

    @property
    def port(self) -> int:
        """The bound port (useful with port 0 in tests)."""
        if self._server is None:
            raise RuntimeError("CentralSystem is not running")
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    @property
    def tls_port(self) -> int | None:
        """The bound TLS port; None when the TLS listener is off."""
        if self._server is None:
            raise RuntimeError("CentralSystem is not running")
        if self._tls_server is None:
            return None
        port: int = self._tls_server.sockets[0].getsockname()[1]
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
            if self._server is not None:
                self._watch_reservations(charger)
        return charger

    def _watch_reservations(self, charger: Charger) -> None:
        if charger.charger_id not in self._reservation_clocks:
            self._reservation_clocks[charger.charger_id] = ReservationClock(
                charger, self.request_save
            )

    def _unwatch_reservations(self, charger_id: str) -> None:
        if (clock := self._reservation_clocks.pop(charger_id, None)) is not None:
            clock.close()

    def session(self, charger_id: str) -> ChargerSession | None:
        """The live connection of a charger, or None when it is offline."""
        link = self._links.get(charger_id)
        return None if link is None else link.session

    async def answers_ping(self, charger_id: str) -> bool:
        """Whether the charger is connected and its connection answers a ping (it is alive)."""
        connection = self._open_connection(charger_id)
        return connection is not None and await self._handshake.answers_ping(connection)

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

    def require_password(self, charger_id: str) -> None:
        """The user enters the charger's password in the charger itself: from the start only a
        login with it gets in (no first connection without it is offered the password). An open
        connection of the id is closed: the charger comes back with the password."""
        self._set_auth(self.charger(charger_id), committed=True)
        link = self._links.get(charger_id)
        if link is not None:
            self._close_soon(link)

    def _reset_auth(self, charger: Charger) -> None:
        self._set_auth(charger, committed=False)

    def _set_auth(self, charger: Charger, *, committed: bool) -> None:
        charger.auth_provisioned = charger.auth_committed = committed
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
        return self._handshake.last_refusal

    def add_refusal_listener(self, callback: Callable[[Refusal], None]) -> Callable[[], None]:
        """Call ``callback(refusal)`` whenever a connection is refused."""
        return self._handshake.add_refusal_listener(callback)

    @property
    def tls_failures(self) -> TlsFailureLog:
        """Failed TLS handshakes on the wss:// listener: counts, the last reported one, and
        listeners (called when one is reported, rate-limited like its warning)."""
        return self._tls_failures

    @property
    def opening_connections(self) -> OpeningConnections:
        """Connections of both listeners still opening (the cap on them, and its refusals)."""
        return self._opening

    async def reject_charger(self, charger_id: str) -> None:
        """The user ignored/deleted a charger: drop its connection."""
        link = self._links.get(charger_id)
        if link is not None:
            _LOGGER.info("Charger %s was rejected; closing its connection", charger_id)
            await self._close_link(link)

    async def forget_charger(self, charger_id: str) -> None:
        """The user deleted the charger: drop its connection and everything kept of it (its
        sessions, what its profiles hold ...). Accepted again, it starts afresh: a unit reset
        to factory settings in between gets its fallback profiles written again."""
        await self.reject_charger(charger_id)
        controller = self._controllers.pop(charger_id, None)
        if controller is not None:
            await controller.close()
        self._unwatch_reservations(charger_id)
        if self._chargers.pop(charger_id, None) is not None:
            _LOGGER.info("Forgot charger %s (deleted)", charger_id)
            self.request_save()

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

    # --- handshake (see handshake.py) ------------------------------------------------------------
    def _open_connection(self, charger_id: str) -> ServerConnection | None:
        link = self._links.get(charger_id)
        return None if link is None else link.connection

    # --- pending chargers -----------------------------------------------------------------------
    def _make_pending_room(self, charger_id: str, remote: str) -> bool:
        """Register a pending id connecting from ``remote``; False when the list is full and
        no id makes room (``PendingChargers.victim``)."""
        self._forget_stale_pending()
        if charger_id not in self._pending and self._pending.full():
            victim = self._pending.victim(remote, self._is_connected)
            if victim is None:
                return False
            self._make_way(victim)
        self._leaving.discard(charger_id)
        self._pending.touch(charger_id, remote)
        return True

    def _make_way(self, charger_id: str) -> None:
        """Forget a pending id to make room; a connected one leaves the list now and is closed,
        and forgotten once its connection has ended (its model lives as long as its link)."""
        link = self._links.get(charger_id)
        if link is None:
            self._forget_pending(charger_id, "to make room for a new one")
            return
        self._pending.discard(charger_id)
        self._leaving.add(charger_id)
        self._close_soon(link)

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
        self._unwatch_reservations(charger_id)
        self._handshake.forget(charger_id)
        controller = self._controllers.pop(charger_id, None)
        if controller is not None:  # pragma: no cover - pending chargers get no current control
            controller.detach()
        _LOGGER.info("Forgot pending charger %s (%s)", charger_id, why)
        self._directory.on_pending_forgotten(charger_id)

    def housekeeping(self) -> None:
        """Forget expired pending ids and throttle entries (runs every HOUSEKEEPING_INTERVAL_S)."""
        self._forget_stale_pending()
        self._handshake.prune()

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
        if charger_id is None:  # pragma: no cover - the handshake refused it already
            return
        security = self._handshake.take_security(connection)
        if not await self._may_take_over(connection, charger_id):
            return
        version = (connection.subprotocol or DEFAULT_VERSION).lower()
        charger = self.charger(charger_id)
        remote = remote_address(connection)
        self._handshake.connected(charger_id, remote)
        self._record_security(charger, security)
        if security.profile is not SecurityProfile.TLS_CLIENT_CERTIFICATE:
            # Its certificate authenticates a profile-3 connection; the password plays no part.
            self._record_login(charger, authenticated=security.basic_auth)

        link = _Link(charger_id, connection, version)
        context = SessionContext(
            directory=self._directory,
            server_settings=self._settings,
            admission=lambda: self._directory.admission(charger_id),
            charger_settings=lambda: self._directory.settings(charger_id),
            request_save=self.request_save,
            on_booted=lambda: self._on_booted(link),
            setup_gate=self._setup_gate,
            certificates=self._certificates,
        )
        link.session = create_session(version, connection, charger, context, self._factories)

        previous = self._links.get(charger_id)
        self._links[charger_id] = link
        charger.ocpp_version = version
        charger.connected = True
        charger.last_seen = now_utc()
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
        checked = self._handshake.take_checked(connection)
        current = self._links.get(charger_id)
        if (
            current is None
            or current.connection is checked
            or getattr(connection, "username", None)
        ):
            return True
        if not await self._handshake.answers_ping(current.connection):
            current.connection.transport.abort()
            return True
        remote = remote_address(connection)
        self._handshake.login_failed(charger_id, remote)
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
        charger.last_seen = now_utc()
        _LOGGER.info(
            "Charger %s disconnected (close code %s)", charger_id, link.connection.close_code
        )
        charger.notify(ChargerEvent(kind=EventKind.DISCONNECTED))
        if charger_id in self._leaving:
            self._leaving.discard(charger_id)
            self._forget_pending(charger_id, "to make room for one from a less crowded address")
        elif charger_id in self._pending:
            self._pending.touch(charger_id)  # forgotten a day after its last connection
        self.request_save()

    def _record_security(self, charger: Charger, security: ConnectionSecurity) -> None:
        """Keep how the connection is secured on the model; a downgrade is no secret."""
        previous = charger.connection_security
        charger.connection_security = security
        if security.downgraded:
            _LOGGER.log(
                logging.DEBUG if previous is not None and previous.downgraded else logging.WARNING,
                "Charger %s connected with security profile %d although its profile is %d "
                "(allowed: downgrade permitted for this charger)",
                charger.charger_id,
                security.profile,
                security.configured_profile,
            )

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

    def _close_soon(self, link: _Link) -> None:
        """Close a connection from code that cannot wait for it (a handshake, a sync call)."""
        self._spawn(self._close_link(link), name=f"ocpp_ems close {link.charger_id}")

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
        security = charger.connection_security
        if security is not None and security.profile >= 3:
            # It logged in with its client certificate: a password (and the 1.6 SecurityProfile 1
            # that comes with it) would be a downgrade instruction.
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
