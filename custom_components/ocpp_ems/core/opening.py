"""A listener's connection while it opens: it holds a slot among the opening connections.

Every connection of the plain and the TLS listener takes a slot of the server's
:class:`~.guard.OpeningConnections` when it is accepted and gives it back when its websocket
handshake is over (opened, refused with an HTTP status, timed out) or the connection is lost
before. Over the cap, either an opening connection gives way to it (closed: the guard's rule
picks an idle one, or one of the address holding the most) or it is closed at once, before
anything is read: a file descriptor is all it cost, for a moment. The plain listener first answers
HTTP 503 with Retry-After (a charger logs why and retries); on the TLS listener there is no HTTP
before the TLS handshake, so it is closed.

Connections that opened (chargers) hold no slot: the chargers a user accepted, and the bounded
list of pending ids (:class:`~.guard.PendingChargers`), bound those.

A plain connection whose first byte starts a TLS record (a charger set up for ``wss://`` with the
plain port) is reported to whom the server named for its plain listener (``with_slots``: its TLS
failure log while TLS is on); websockets then refuses it as before.
"""

from __future__ import annotations

import asyncio
import resource
import socket
from collections.abc import Callable, Iterable
from typing import Any, ClassVar

from websockets.asyncio.server import ServerConnection

from .guard import OpeningConnections, opening_limit

# asyncio accepts up to its listen backlog of connections per wake-up of the listening socket
# before any of them reaches ``connection_made`` (where the cap closes it): with the backlog of a
# reconnect storm (settings.listen_backlog, 2,048) one wake-up could take every file descriptor
# Home Assistant has, which stops its event loop. So the server is created with this backlog (the
# batch) and its sockets are then given the large one (``deepen_backlog``).
ACCEPT_BATCH = 64
RETRY_AFTER_S = 10
SERVICE_UNAVAILABLE = (
    "HTTP/1.1 503 Service Unavailable\r\n"
    f"Retry-After: {RETRY_AFTER_S}\r\n"
    "Content-Length: 0\r\n"
    "Connection: close\r\n\r\n"
).encode()


# The first byte of a TLS handshake record (a ClientHello).
TLS_HANDSHAKE_RECORD = 0x16


def default_opening_limit() -> int:
    """The cap for this process: :func:`~.guard.opening_limit` of its soft file limit now (Home
    Assistant raises that limit when it starts, before integrations)."""
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    return opening_limit(1 << 20 if soft == resource.RLIM_INFINITY else soft)


def deepen_backlog(sockets: Iterable[socket.socket], backlog: int) -> None:
    """Listen again with ``backlog`` (the kernel's queue of connections not accepted yet), after
    asyncio listened with its accept batch (a second ``listen`` only changes the backlog; asyncio
    hands out wrappers of its sockets, whose ``dup`` is the same socket)."""
    for listening in sockets:
        with listening.dup() as same:
            same.listen(backlog)


def peer_address(transport: asyncio.BaseTransport) -> str:
    """The peer's IP address ("unknown" where the transport has none, not seen on TCP)."""
    peer = transport.get_extra_info("peername")
    return str(peer[0]) if isinstance(peer, tuple) and peer else "unknown"


class OpeningConnection(ServerConnection):
    """A websockets connection that holds an opening slot until its handshake is over (see the
    module doc). ``opening`` is set on a subclass per listener (``with_slots``)."""

    opening: ClassVar[OpeningConnections]
    # Called with the peer's address when the first bytes are a TLS ClientHello (a plain listener
    # while TLS is on); a staticmethod, so instances do not bind it.
    tls_hello_report: ClassVar[Callable[[str], None] | None] = None
    _slot: str | None = None  # the address whose slot this connection holds
    _open = False  # the websocket connection took the transport
    _first_data = True
    _opening_transport: asyncio.Transport  # TCP, then TLS once that is up

    @classmethod
    def with_slots(
        cls,
        opening: OpeningConnections,
        tls_hello_report: Callable[[str], None] | None = None,
    ) -> type[OpeningConnection]:
        """This class for one listener: its opening slots, and who hears of a TLS ClientHello."""
        attributes: dict[str, Any] = {"opening": opening}
        if tls_hello_report is not None:
            attributes["tls_hello_report"] = staticmethod(tls_hello_report)
        return type(cls.__name__, (cls,), attributes)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)  # a TCP connection
        remote = peer_address(transport)
        if not self.opening.admit(remote, self, self._evict):
            self.refuse(transport)
            return
        self._slot, self._opening_transport = remote, transport
        self.start(transport)

    def _evict(self) -> None:
        """Closed to make room for another opening connection (it sent too little too slowly)."""
        self._opening_transport.abort()

    def refuse(self, transport: asyncio.Transport) -> None:
        """Close a connection over the cap (the plain listener answers 503 first)."""
        transport.write(SERVICE_UNAVAILABLE)  # taken by the kernel at once on a new socket
        # Not close(): that would keep the socket while asyncio still holds unsent bytes.
        transport.abort()

    def start(self, transport: asyncio.Transport) -> None:
        """An admitted connection: the websocket handshake begins (TLS: after its own)."""
        self.open_on(transport)

    def open_on(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)  # TCP, or TLS over it
        self._open, self._opening_transport = True, transport
        super().connection_made(transport)

    def data_received(self, data: bytes) -> None:
        if self._first_data and data:
            self._first_data = False
            report = type(self).tls_hello_report
            if data[0] == TLS_HANDSHAKE_RECORD and report is not None:
                report(peer_address(self._opening_transport))
        super().data_received(data)

    async def handshake(self, *args: Any, **kwargs: Any) -> None:
        try:
            await super().handshake(*args, **kwargs)
        finally:
            self.release_slot()

    def release_slot(self) -> None:
        if self._slot is not None:
            self.opening.release(self._slot, self)
            self._slot = None

    def connection_lost(self, exc: Exception | None) -> None:
        self.release_slot()
        # A refused connection, or a failed TLS handshake, never reached websockets.
        if self._open:
            super().connection_lost(exc)
