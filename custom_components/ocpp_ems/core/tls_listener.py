"""The TLS handshake of the ``wss://`` listener, done by us so that a failed one is seen.

Why not ``serve(ssl=context)``: asyncio then runs the handshake inside its own SSL protocol and,
when it fails (a client certificate from another CA or expired, TLS 1.1, plain HTTP on the TLS
port, ...), closes the socket and tells only the loop's debug log; the websockets connection is
never told. So the listener accepts plain TCP, and each connection (a websockets
``ServerConnection`` subclass, the documented ``create_connection`` hook) upgrades itself with
``loop.start_tls``, which raises the handshake's error to us while the peer's address is known.
The context is the listener's own (:func:`.security.tls.listener_context`: its per-handshake
switch to a renewed certificate still applies); the HTTP handshake runs after it unchanged.

:class:`TlsFailureLog` counts every failure exactly, logs it at WARNING once per peer address and
reason per window (and within the handshake's budget of refusal warnings, so a scanner cannot
flood the log; the rest at DEBUG), and reports it to listeners at the same moments (Home
Assistant: a security event on the server's device). A connection closed or left idle during the
handshake (a port scan, a client gone) is counted and logged at DEBUG only.

An SNI host name that is not ASCII fails in Python's servername callback before ours runs;
Python hands that error to ``sys.unraisablehook`` (a traceback on stderr per handshake, past our
rate limit). While handshakes run, :class:`ServerNameErrorFilter` drops (and counts) exactly that
error and passes every other to the hook it replaced; the failed handshake itself is recorded as
``bad_server_name``.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import sys
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import ClassVar

from websockets.asyncio.server import ServerConnection

from .guard import Clock, OpeningConnections, ReportWindows
from .opening import OpeningConnection, peer_address
from .security.tls import (
    TLS_FAILURE_TEXT,
    TLS_HANDSHAKE_TIMEOUT_S,
    UNREPORTED_TLS_FAILURES,
    TlsFailureCause,
    TlsFailureReason,
    tls_failure,
)

_LOGGER = logging.getLogger(__name__)

# A peer address and reason is warned about (and reported) once per window; later failures are
# counted and reported with the next warning.
TLS_FAILURE_WINDOW_S = 600.0
# This many (address, reason) pairs are remembered (the least recent are dropped first).
_MAX_TRACKED = 256


@dataclass(frozen=True, kw_only=True)
class TlsFailure:
    """A reported TLS handshake failure."""

    remote: str
    reason: TlsFailureReason
    detail: str  # OpenSSL's words
    server_name: str | None  # the host name the client asked for (SNI), if any
    # Chargers that last connected from this address (a failure names no charger id: the
    # handshake fails before the request path is sent, and OpenSSL keeps no refused certificate).
    charger_ids: tuple[str, ...]
    # Failures of this address and reason since the last report, this one included.
    count: int
    at: datetime

    @property
    def text(self) -> str:
        return TLS_FAILURE_TEXT[self.reason]


class TlsFailureLog:
    """Counts, logs (rate-limited) and reports failed TLS handshakes (see the module doc).

    ``warning_allowed`` is the server-wide budget of refusal warnings; ``chargers_at`` names the
    chargers that last connected from an address."""

    def __init__(
        self,
        clock: Clock,
        *,
        warning_allowed: Callable[[], bool],
        chargers_at: Callable[[str], list[str]],
    ) -> None:
        self._chargers_at = chargers_at
        self._counts: Counter[TlsFailureReason] = Counter()
        self._reports = ReportWindows(
            clock, window_s=TLS_FAILURE_WINDOW_S, max_keys=_MAX_TRACKED, allowed=warning_allowed
        )
        self._listeners: list[Callable[[TlsFailure], None]] = []
        self.last: TlsFailure | None = None

    @property
    def counts(self) -> Mapping[TlsFailureReason, int]:
        """Every failure since the start, by reason (reported or not)."""
        return self._counts

    @property
    def total(self) -> int:
        return self._counts.total()

    def add_listener(self, callback: Callable[[TlsFailure], None]) -> Callable[[], None]:
        self._listeners.append(callback)

        def unsubscribe() -> None:
            if callback in self._listeners:
                self._listeners.remove(callback)

        return unsubscribe

    def record(self, remote: str, err: BaseException) -> None:
        """One failed handshake from ``remote`` that raised ``err``."""
        self._record(remote, tls_failure(err), err)

    def record_tls_on_plain_port(self, remote: str) -> None:
        """A TLS ClientHello from ``remote`` on the plain ws:// listener."""
        cause = TlsFailureCause(
            reason=TlsFailureReason.TLS_ON_PLAIN_PORT, detail="TLS ClientHello on the ws:// port"
        )
        self._record(remote, cause, cause.detail)

    def _record(self, remote: str, cause: TlsFailureCause, err: object) -> None:
        reason = cause.reason
        self._counts[reason] += 1
        if reason in UNREPORTED_TLS_FAILURES:
            _LOGGER.debug("TLS connection from %s: %s (%s)", remote, TLS_FAILURE_TEXT[reason], err)
            return
        count = self._reports.report((remote, reason))
        if count:
            self._report(remote, cause.reason, cause.detail, cause.server_name, count)
        else:
            _LOGGER.debug(
                "TLS connection from %s failed: %s (%s)", remote, TLS_FAILURE_TEXT[reason], err
            )

    def _report(
        self,
        remote: str,
        reason: TlsFailureReason,
        detail: str,
        server_name: str | None,
        count: int,
    ) -> None:
        failure = TlsFailure(
            remote=remote,
            reason=reason,
            detail=detail,
            server_name=server_name,
            charger_ids=tuple(self._chargers_at(remote)),
            count=count,
            at=datetime.now(UTC),
        )
        self.last = failure
        _LOGGER.warning(
            "TLS connection from %s failed: %s (%s)%s%s%s",
            remote,
            failure.text,
            detail,
            f"; it asked for host {server_name}" if server_name else "",
            f"; charger {', '.join(failure.charger_ids)} last connected from there"
            if failure.charger_ids
            else "",
            f"; {count} such failures from this address since the last warning"
            if count > 1
            else "",
        )
        for callback in list(self._listeners):
            callback(failure)


class ServerNameErrorFilter:
    """Drops the error of Python's servername callback for an SNI host name it cannot decode
    (see the module doc) from ``sys.unraisablehook`` while any handshake runs."""

    _PYTHON_CALLBACK = "ssl servername callback"

    def __init__(self) -> None:
        self._handshakes = 0
        self._previous: Callable[[sys.UnraisableHookArgs], object] | None = None
        self.dropped = 0

    @contextmanager
    def active(self) -> Iterator[None]:
        if self._handshakes == 0:
            self._previous = sys.unraisablehook
            sys.unraisablehook = self._hook
        self._handshakes += 1
        try:
            yield
        finally:
            self._handshakes -= 1
            if self._handshakes == 0:
                # Someone who replaced the hook since keeps theirs (ours then passes through).
                if sys.unraisablehook == self._hook and self._previous is not None:
                    sys.unraisablehook = self._previous
                self._previous = None

    def _hook(self, unraisable: sys.UnraisableHookArgs) -> None:
        if (
            self._handshakes
            and isinstance(unraisable.exc_value, UnicodeDecodeError)
            and self._PYTHON_CALLBACK in (unraisable.err_msg or "")
        ):
            self.dropped += 1
            return
        (self._previous or sys.__unraisablehook__)(unraisable)


# One for the process: sys.unraisablehook is.
SERVER_NAME_ERRORS = ServerNameErrorFilter()


class TlsHandshakes:
    """The TLS handshakes of one ``wss://`` listener (see the module doc)."""

    def __init__(
        self,
        context: ssl.SSLContext,
        failures: TlsFailureLog,
        opening: OpeningConnections,
        *,
        shutdown_timeout_s: float,
        handshake_timeout_s: float = TLS_HANDSHAKE_TIMEOUT_S,
    ) -> None:
        self._context = context
        self._failures = failures
        self._shutdown_timeout_s = shutdown_timeout_s
        self._handshake_timeout_s = handshake_timeout_s
        self._pending: dict[asyncio.Task[None], asyncio.Transport] = {}
        self.connection_class: type[ServerConnection] = type(
            "TlsConnection",
            (TlsServerConnection,),
            {"tls_handshakes": self, "opening": opening},
        )

    def start(self, connection: TlsServerConnection, transport: asyncio.Transport) -> None:
        task = asyncio.get_running_loop().create_task(
            self._handshake(connection, transport), name="ocpp_ems TLS handshake"
        )
        self._pending[task] = transport
        task.add_done_callback(self._pending.pop)

    async def _handshake(
        self, connection: TlsServerConnection, transport: asyncio.Transport
    ) -> None:
        remote = peer_address(transport)
        try:
            with SERVER_NAME_ERRORS.active():
                tls_transport = await asyncio.get_running_loop().start_tls(
                    transport,
                    connection,
                    self._context,
                    server_side=True,
                    ssl_handshake_timeout=self._handshake_timeout_s,
                    ssl_shutdown_timeout=self._shutdown_timeout_s,
                )
        except (OSError, TimeoutError) as err:  # ssl.SSLError is an OSError
            connection.release_slot()
            self._failures.record(remote, err)
            return
        if tls_transport is None:  # pragma: no cover - start_tls returns None only if closed
            self._failures.record(remote, ConnectionResetError())
            return
        connection.tls_established(tls_transport)

    async def abort(self) -> None:
        """Drop the handshakes in progress (the listener stops)."""
        tasks = list(self._pending)
        for transport in self._pending.values():
            transport.abort()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)


class TlsServerConnection(OpeningConnection):
    """A websockets connection that makes its TLS handshake itself before the HTTP one (it holds
    its opening slot through both)."""

    tls_handshakes: ClassVar[TlsHandshakes]

    def refuse(self, transport: asyncio.Transport) -> None:
        transport.abort()  # no HTTP answer before a TLS handshake

    def start(self, transport: asyncio.Transport) -> None:
        # Nothing is read before start_tls takes the socket over.
        transport.pause_reading()
        self.tls_handshakes.start(self, transport)

    def tls_established(self, transport: asyncio.BaseTransport) -> None:
        self.open_on(transport)
