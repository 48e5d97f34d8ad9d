"""The OCPP central system: a websockets server that admits chargers and runs one session each.

The path of a connection:

1. :meth:`CentralSystem._process_request` (HTTP handshake): charger id from the URL, admission
   from the host's :class:`~.directory.ChargerDirectory` (404 if rejected), Basic auth (401).
2. :meth:`CentralSystem._select_subprotocol`: the newest OCPP version both sides speak (a charger
   offering none speaks 1.6).
3. :meth:`CentralSystem._handle`: the protocol adapter for that version runs until the socket
   closes. A second connection with the same id replaces the first; the charger model stays.

The charger models, their current controllers and the persisted state belong to the server, so they
survive reconnects; the persisted part (see :mod:`.persistence`) also survives restarts.
"""

from __future__ import annotations

import asyncio
import http
import logging
from collections.abc import Callable, Coroutine, Mapping, Sequence
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any
from urllib.parse import unquote, urlsplit

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
from .model import Charger, ChargerEvent, EventKind
from .persistence import state_from_dict, state_to_dict
from .protocol import (
    DEFAULT_VERSION,
    SESSION_FACTORIES,
    SessionFactory,
    create_session,
    select_version,
)
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
MAX_MESSAGE_BYTES = 1024 * 1024
# How long a closing websocket may take before we drop the TCP connection.
CLOSE_TIMEOUT_S = 5.0
BASIC_REALM = 'Basic realm="OCPP", charset="UTF-8"'


def parse_charger_id(path: str) -> str | None:
    """The charger id in a request path (last non-empty segment, URL-decoded); None if invalid."""
    segments = [segment for segment in urlsplit(path).path.split("/") if segment]
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


class CentralSystem:
    """Accepts charger connections and owns the charger models, sessions and current controllers."""

    def __init__(
        self,
        settings: ServerSettings,
        directory: ChargerDirectory,
        store: StateStore | None = None,
        *,
        factories: Mapping[str, SessionFactory] | None = None,
    ) -> None:
        self._settings = settings
        self._directory = directory
        self._store = store
        # Which OCPP versions we speak, and the adapter for each (tests may plug in their own).
        self._factories: dict[str, SessionFactory] = dict(
            SESSION_FACTORIES if factories is None else factories
        )
        self._server: Server | None = None
        self._chargers: dict[str, Charger] = {}
        self._links: dict[str, _Link] = {}
        self._controllers: dict[str, CurrentController] = {}
        self._attach_tasks: dict[str, asyncio.Task[None]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._charger_listeners: list[Callable[[str], None]] = []
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
            for charger_id, charger in state_from_dict(await self._store.async_load()).items():
                if charger_id not in self._chargers:
                    self._chargers[charger_id] = charger
                    self._notify_charger_created(charger_id)
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
                logger=_WS_LOGGER,
            )
        except OSError as err:
            raise ServerBindError(host, port, err.strerror or str(err)) from err
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
        link = self._links.get(charger_id)
        if link is not None:
            await link.session.on_accepted(self._directory.password(charger_id))

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
        """The document persisted in the state store."""
        return state_to_dict(self._chargers)

    def request_save(self) -> None:
        """Persist the charger models soon (debounced by the store)."""
        # While stopping, stop() writes the final state itself.
        if self._store is not None and not self._stopping:
            self._store.schedule_save(self.stored_state)

    # --- handshake --------------------------------------------------------------------------------
    def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        """Admit or refuse a charger before the websocket opens (id, admission, Basic auth)."""
        charger_id = parse_charger_id(request.path)
        if charger_id is None:
            _LOGGER.debug("Refused connection to %r: no valid charger id in the path", request.path)
            return connection.respond(http.HTTPStatus.BAD_REQUEST, "Invalid charger id\n")

        admission = self._directory.admission(charger_id)
        if admission is Admission.REJECTED or (
            admission is Admission.PENDING and not self._settings.allow_new_chargers
        ):
            _LOGGER.debug("Refused connection of unknown or rejected charger %s", charger_id)
            return connection.respond(http.HTTPStatus.NOT_FOUND, "Unknown charger\n")

        header = request.headers.get("Authorization")
        password = self._directory.password(charger_id)
        charger = self._chargers.get(charger_id)
        must_authenticate = header is not None or (charger is not None and charger.auth_provisioned)
        if must_authenticate:
            if password is None:
                # Nothing to check against (never provisioned, or the host lost it): let it in
                # rather than lock it out for good; acceptance provisions a password again.
                _LOGGER.debug("Charger %s sent credentials but has no password yet", charger_id)
            elif not auth.check_credentials(header, charger_id, password):
                remote = _remote(connection)
                _LOGGER.debug("Charger %s from %s failed Basic authentication", charger_id, remote)
                self._directory.on_auth_failure(charger_id, remote)
                response = connection.respond(http.HTTPStatus.UNAUTHORIZED, "Unauthorized\n")
                response.headers["WWW-Authenticate"] = BASIC_REALM
                return response
            else:
                connection.username = charger_id
                self._directory.on_auth_success(charger_id)
        return None

    def _select_subprotocol(
        self, connection: ServerConnection, offered: Sequence[Subprotocol]
    ) -> Subprotocol | None:
        """The newest OCPP version we both speak. None (no header) means 1.6 for chargers offering
        nothing; offering only unknown versions aborts the handshake with HTTP 400."""
        if not offered:
            if DEFAULT_VERSION in self._factories:
                return None
            raise NegotiationError("missing subprotocol")
        # Compare case-insensitively but answer with the charger's own spelling: its websocket
        # client may insist on an exact echo.
        by_name = {name.lower(): name for name in reversed(offered)}
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
        version = (connection.subprotocol or DEFAULT_VERSION).lower()
        charger = self.charger(charger_id)
        remote = _remote(connection)

        link = _Link(charger_id, connection, version)
        context = SessionContext(
            directory=self._directory,
            server_settings=self._settings,
            admission=lambda: self._directory.admission(charger_id),
            charger_settings=lambda: self._directory.settings(charger_id),
            request_save=self.request_save,
            on_booted=lambda: self._on_booted(link),
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
        self.request_save()

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
        self._attach_tasks[charger_id] = self._spawn(
            self._attach_controller(link), name=f"ocpp_ems attach {charger_id}"
        )

    async def _attach_controller(self, link: _Link) -> None:
        try:
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
