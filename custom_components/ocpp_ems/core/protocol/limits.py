"""How much a connection may send us, by how far we trust it.

A charger the user has not accepted (Pending) could be anyone on the network: its frames are small
(a BootNotification is a few hundred bytes), slow (it only boots and heartbeats) and it gets
nothing from us but Pending. An accepted charger that logs in without a password (not provisioned
yet, or marked "trusted network") is rate-limited loosely: an offline queue replayed after a
reconnect is only slowed down, never refused. A charger that authenticated is not limited beyond
the frame size.

Rate limiting is backpressure, not rejection: the session stops reading until the bucket refills,
websockets stops reading the socket once its small receive queue is full, and TCP pushes back on
the sender. Nothing a well-behaved charger sends is lost, and a flood costs us a bounded buffer.

Memory held for one untrusted connection is therefore bounded by
``RECEIVE_QUEUE_FRAMES x hard frame limit`` of queued frames plus websockets' per-connection
state (see the README's robustness section for the measured figure).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from enum import IntEnum

# Frames websockets buffers per connection before it stops reading the socket (server-wide).
RECEIVE_QUEUE_FRAMES = 8
# Deepest JSON nesting any OCPP 1.6 / 2.0.1 / 2.1 message needs is about 8 (a NotifyReport's
# variable characteristics); anything far deeper is an attack on the parser, not a message.
MAX_JSON_DEPTH = 24


class Trust(IntEnum):
    """How far a connection is trusted (ordered: higher is more)."""

    PENDING = 0  # unknown or awaiting the user's approval
    UNAUTHENTICATED = 1  # accepted by the user, but logged in without a password
    AUTHENTICATED = 2  # accepted and presented its password


@dataclass(frozen=True, kw_only=True)
class ConnectionLimits:
    """Limits of one trust level. ``frame_bytes`` is answered with a CALLERROR when exceeded;
    ``hard_frame_bytes`` is enforced by websockets (close code 1009: the frame is not even read)."""

    frame_bytes: int
    hard_frame_bytes: int
    messages_per_s: float | None  # None: no rate limit
    burst: int = 1


LIMITS: dict[Trust, ConnectionLimits] = {
    Trust.PENDING: ConnectionLimits(
        frame_bytes=16 * 1024, hard_frame_bytes=64 * 1024, messages_per_s=2.0, burst=10
    ),
    Trust.UNAUTHENTICATED: ConnectionLimits(
        frame_bytes=256 * 1024, hard_frame_bytes=1024 * 1024, messages_per_s=20.0, burst=200
    ),
    Trust.AUTHENTICATED: ConnectionLimits(
        frame_bytes=1024 * 1024, hard_frame_bytes=1024 * 1024, messages_per_s=None
    ),
}
# What a charger the user has not accepted may send (2.0.1 B02.FR.09; 1.6 4.2: a Pending charger
# SHALL NOT send requests unless asked): anything else is answered SecurityError and never
# reaches the charger model (an unapproved device must not write statuses, sessions or energy
# into what the user then accepts). NotifyReport answers our GetBaseReport.
WHILE_PENDING = frozenset({"BootNotification", "Heartbeat", "NotifyReport"})

# The server's handshake-wide limit (websockets ``max_size``): the largest of the hard limits.
MAX_FRAME_BYTES = max(limits.hard_frame_bytes for limits in LIMITS.values())


class TokenBucket:
    """``rate`` tokens per second, at most ``burst`` saved up; :meth:`take` waits for one."""

    def __init__(self, rate: float, burst: int) -> None:
        self._rate = rate
        self._burst = float(burst)
        self._tokens = float(burst)
        self._stamp = time.monotonic()

    def configure(self, rate: float, burst: int) -> None:
        """New limits (the connection's trust changed); saved-up tokens are kept within them."""
        self._refill()
        self._rate = rate
        self._burst = float(burst)
        self._tokens = min(self._tokens, self._burst)

    def _refill(self) -> None:
        now = time.monotonic()
        self._tokens = min(self._burst, self._tokens + (now - self._stamp) * self._rate)
        self._stamp = now

    def delay(self) -> float:
        """Seconds until a token is available (0: now)."""
        self._refill()
        return 0.0 if self._tokens >= 1.0 else (1.0 - self._tokens) / self._rate

    async def take(self) -> float:
        """Wait for a token and spend it; return how long we waited."""
        waited = 0.0
        while (wait := self.delay()) > 0:
            await asyncio.sleep(wait)
            waited += wait
        self._tokens -= 1.0
        return waited


def json_depth_exceeds(value: object, limit: int = MAX_JSON_DEPTH, raw: str | None = None) -> bool:
    """True when ``value`` nests lists/objects deeper than ``limit`` (iterative: no recursion).

    ``raw``, the text ``value`` was parsed from, allows a shortcut: with fewer brackets than
    ``limit`` in all, nothing can nest that deep (a typical MeterValues has about 15)."""
    if raw is not None and raw.count("{") + raw.count("[") <= limit:
        return False
    stack: list[tuple[object, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: list[object] | tuple[object, ...] = list(item.values())
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False
