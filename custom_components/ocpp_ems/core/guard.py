"""What keeps the handshake safe: the cap on connections still opening, login throttling, the
bounded list of pending charger ids, and the record of refused connections.

Everything here is bounded and expires, whatever a client sends: an attacker may try any number of
passwords, charger ids or addresses without making the server keep more than a fixed amount of
state. Time comes from an injectable monotonic clock (``Callable[[], float]``, seconds), so tests
move time instead of sleeping.
"""

from __future__ import annotations

import logging
import math
from collections import Counter, OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

_LOGGER = logging.getLogger(__name__)

type Clock = Callable[[], float]
type Evict = Callable[[], None]

# Login throttling (per charger id and per source address): the 3rd failed login within the window
# blocks further logins (HTTP 429 + Retry-After) for 5 s, every further failure doubles the block,
# up to 5 minutes. A successful login resets the id and the address.
THROTTLE_FAILURES = 3
THROTTLE_WINDOW_S = 600.0
THROTTLE_BASE_DELAY_S = 5.0
THROTTLE_MAX_DELAY_S = 300.0
# At most this many ids / addresses are tracked (the least recently failed are dropped first).
THROTTLE_MAX_ENTRIES = 1024

# Connections between the TCP accept and the end of their websocket handshake (at most 10 s, the
# open timeout), plain and TLS listeners together. Each holds a file descriptor: without a cap a
# client that opens thousands and sends nothing exhausts the process's file limit, and Home
# Assistant stops its event loop on EMFILE (seen: 2,400 idle connections against the limit of
# 2,048 Home Assistant sets). By default a quarter of the process's soft file limit, at least
# this many; one source address gets at most MAX_OPENING_PER_ADDRESS of them.
MIN_OPENING_CONNECTIONS = 256
MAX_OPENING_PER_ADDRESS = 32
# A connection opening for longer than this (a handshake on a LAN takes milliseconds; over a
# mobile network about a second) may be closed to make room for a new one (OpeningConnections).
OPENING_IDLE_S = 2.0
# A refused address is warned about once per window (within the refusal warnings' budget).
OPENING_WARNING_WINDOW_S = 600.0
_MAX_WARNED_ADDRESSES = 256

# Unknown charger ids waiting for the user's approval: at most this many at a time, each forgotten
# a day after it was last connected unless the user accepted it.
MAX_PENDING_CHARGERS = 20
PENDING_FORGET_AFTER_S = 24 * 3600.0


class RefusalReason(StrEnum):
    """Why the server refused a connection at the handshake (translated in the HA layer)."""

    INVALID_ID = "invalid_id"  # no usable charger id in the URL path: HTTP 400
    REJECTED = "rejected"  # ignored, deleted or disabled by the user: HTTP 404
    NOT_ALLOWED = "not_allowed"  # unknown while new chargers are not allowed: HTTP 404
    BAD_CREDENTIALS = "bad_credentials"  # wrong or missing password: HTTP 401
    THROTTLED = "throttled"  # too many failed logins: HTTP 429
    ALREADY_CONNECTED = "already_connected"  # takeover without credentials refused: HTTP 409
    TOO_MANY_PENDING = "too_many_pending"  # the list of pending chargers is full: HTTP 503
    # Security profiles (the charger's profile asks for more than the connection offers, and the
    # user allowed no downgrade): HTTP 403.
    TLS_REQUIRED = "tls_required"  # plain ws:// for a profile-2/3 charger
    CERTIFICATE_REQUIRED = "certificate_required"  # wss:// without a client certificate, profile 3
    # A client certificate from our CA whose CN is another charger id: HTTP 403 (a failed login).
    CERTIFICATE_MISMATCH = "certificate_mismatch"
    # A client certificate not valid now (OpenSSL refuses it first; checked again): HTTP 403.
    CERTIFICATE_INVALID = "certificate_invalid"


@dataclass(frozen=True, kw_only=True)
class Refusal:
    """One refused connection."""

    charger_id: str | None  # None when the path held no valid id
    path: str  # the request path without its query string (shortened)
    reason: RefusalReason
    remote: str
    at: datetime


# Blocks double with each failure beyond the threshold, up to the maximum delay long before this.
_MAX_DOUBLINGS = 32


@dataclass
class _Failures:
    count: int
    last: float
    blocked_until: float = 0.0


class LoginThrottle:
    """Failed logins per key (a charger id or a source address), with a growing block.

    ``failure`` returns the new block in seconds (None while below the threshold);
    ``retry_after`` how long a key is still blocked; ``success`` forgets the key.
    """

    def __init__(
        self,
        clock: Clock,
        *,
        failures: int = THROTTLE_FAILURES,
        window_s: float = THROTTLE_WINDOW_S,
        base_delay_s: float = THROTTLE_BASE_DELAY_S,
        max_delay_s: float = THROTTLE_MAX_DELAY_S,
        max_entries: int = THROTTLE_MAX_ENTRIES,
    ) -> None:
        self._clock = clock
        self._threshold = failures
        self._window_s = window_s
        self._base_delay_s = base_delay_s
        self._max_delay_s = max_delay_s
        self._max_entries = max_entries
        self._entries: OrderedDict[str, _Failures] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def retry_after(self, key: str) -> int | None:
        """Whole seconds until ``key`` may try again, or None when it is not blocked."""
        entry = self._entries.get(key)
        if entry is None:
            return None
        remaining = entry.blocked_until - self._clock()
        return math.ceil(remaining) if remaining > 0 else None

    def failure(self, key: str) -> float | None:
        """Record a failed login; returns the block it starts (seconds), or None."""
        now = self._clock()
        entry = self._entries.pop(key, None)
        if entry is None or now - entry.last > self._window_s:
            entry = _Failures(count=0, last=now)
        entry.count += 1
        entry.last = now
        self._entries[key] = entry  # most recent last
        while len(self._entries) > self._max_entries:
            self._entries.popitem(last=False)
        if entry.count < self._threshold:
            return None
        # The exponent is capped: a key that retries after each block keeps failing within the
        # window, and 2.0 ** 1024 overflows (after ~85 h the throttle raised instead of blocking).
        doublings = min(entry.count - self._threshold, _MAX_DOUBLINGS)
        delay: float = min(self._base_delay_s * 2.0**doublings, self._max_delay_s)
        entry.blocked_until = now + delay
        return delay

    def failures(self, key: str) -> int:
        entry = self._entries.get(key)
        return 0 if entry is None else entry.count

    def success(self, key: str) -> None:
        self._entries.pop(key, None)

    def prune(self) -> None:
        """Forget keys whose window and block are over."""
        now = self._clock()
        for key, entry in list(self._entries.items()):
            if now - entry.last > self._window_s and now >= entry.blocked_until:
                del self._entries[key]


@dataclass
class _Waiting:
    seen: float  # when it last connected or disconnected
    address: str  # where it last connected from


class PendingChargers:
    """Unknown charger ids that connected and wait for the user: bounded and expiring.

    ``touch`` registers (or refreshes) an id; when the list is full, ``victim`` names the id that
    makes room (the caller forgets it). ``stale`` lists the ids to forget. The caller tells
    which ids are connected and which were accepted meanwhile.
    """

    def __init__(
        self,
        clock: Clock,
        *,
        limit: int = MAX_PENDING_CHARGERS,
        forget_after_s: float = PENDING_FORGET_AFTER_S,
    ) -> None:
        self._clock = clock
        self._limit = limit
        self._forget_after_s = forget_after_s
        self._waiting: dict[str, _Waiting] = {}  # in the order they came

    def __contains__(self, charger_id: object) -> bool:
        return charger_id in self._waiting

    def ids(self) -> list[str]:
        return list(self._waiting)

    def touch(self, charger_id: str, address: str | None = None) -> None:
        """The id connected (from ``address``) or disconnected (None) now; the caller made room
        for a new one (see ``victim``)."""
        waiting = self._waiting.get(charger_id)
        if waiting is None:
            self._waiting[charger_id] = _Waiting(self._clock(), address or "")
            return
        waiting.seen = self._clock()
        if address is not None:
            waiting.address = address

    def discard(self, charger_id: str) -> None:
        self._waiting.pop(charger_id, None)

    def stale(self, connected: Callable[[str], bool]) -> list[str]:
        """Ids not connected for longer than the expiry."""
        now = self._clock()
        return [
            charger_id
            for charger_id, waiting in self._waiting.items()
            if not connected(charger_id) and now - waiting.seen >= self._forget_after_s
        ]

    def victim(self, address: str, connected: Callable[[str], bool]) -> str | None:
        """The id that makes room for a new one from ``address`` when the list is ``full``.

        The disconnected id seen longest ago; when every id is connected, the one that came last
        from the address holding the most ids, if that address holds more than ``address`` does:
        one device cannot fill the list and keep the user's new charger out (None: the new one
        waits)."""
        gone = [cid for cid in self._waiting if not connected(cid)]
        if gone:
            return min(gone, key=lambda cid: self._waiting[cid].seen)
        held = Counter(waiting.address for waiting in self._waiting.values())
        crowded, count = held.most_common(1)[0]
        if count <= held[address]:
            return None
        return next(cid for cid in reversed(self._waiting) if self._waiting[cid].address == crowded)

    def full(self) -> bool:
        return len(self._waiting) >= self._limit


@dataclass
class _Reported:
    at: float
    held_back: int = 0  # events since, not reported


class ReportWindows:
    """Which of repeated events to report (log at WARNING, show the user): the first of each
    key per window, within a shared budget (``allowed``); those held back are counted and handed
    to the next report. At most ``max_keys`` keys are remembered, the least recent dropped first:
    an address or reason an attacker varies costs no memory."""

    def __init__(
        self,
        clock: Clock,
        *,
        window_s: float,
        max_keys: int,
        allowed: Callable[[], bool] = lambda: True,
    ) -> None:
        self._clock = clock
        self._window_s = window_s
        self._max_keys = max_keys
        self._allowed = allowed
        self._reported: OrderedDict[Hashable, _Reported] = OrderedDict()

    def report(self, key: Hashable) -> int:
        """0: hold this event back (counted); else report it, for this many events (it and
        those of ``key`` held back since its last report)."""
        now = self._clock()
        last = self._reported.pop(key, None)
        count = 0
        if last is not None and now - last.at < self._window_s:
            last.held_back += 1
        elif self._allowed():
            count = 1 + (0 if last is None else last.held_back)
            last = _Reported(now)
        else:  # over the budget: the next event after the window reports this one too
            last = last or _Reported(now - self._window_s)
            last.held_back += 1
        self._reported[key] = last
        while len(self._reported) > self._max_keys:
            self._reported.popitem(last=False)
        return count


def opening_limit(soft_file_limit: int) -> int:
    """The default cap on opening connections for a process whose soft file limit is this."""
    return max(MIN_OPENING_CONNECTIONS, soft_file_limit // 4)


class OpeningConnections:
    """Connections that are still opening (accepted, websocket handshake not over), bounded in
    all and per source address.

    ``admit`` takes a slot for a connection (False: refuse it), ``release`` gives it back. When
    there is no slot, one is taken from the connections already opening, by
    :meth:`_make_room`'s rule (its ``evict`` callback closes it), so that a flood of connections
    that send nothing cannot keep a charger out; else the new one is refused. ``refused`` and
    ``evicted`` count since the start.
    """

    def __init__(
        self,
        clock: Clock,
        *,
        limit: int,
        per_address: int = MAX_OPENING_PER_ADDRESS,
        warning_allowed: Callable[[], bool] = lambda: True,
    ) -> None:
        self._clock = clock
        self.limit = limit
        self.per_address = per_address
        # Per address its connections, oldest first: when each was admitted and how to close it.
        self._by_address: dict[str, OrderedDict[Hashable, tuple[float, Evict]]] = {}
        # Index n: the addresses holding n connections, in the order they came to hold n.
        self._holding: list[dict[str, None]] = [{} for _ in range(per_address + 1)]
        self._total = 0
        self.refused = 0
        self.evicted = 0
        self._warnings = ReportWindows(
            clock,
            window_s=OPENING_WARNING_WINDOW_S,
            max_keys=_MAX_WARNED_ADDRESSES,
            allowed=warning_allowed,
        )

    def __len__(self) -> int:
        return self._total

    def admit(self, remote: str, key: Hashable, evict: Evict) -> bool:
        """Admit the connection ``key`` from ``remote`` (``evict`` closes it to make room)."""
        held = len(self._by_address.get(remote, ()))
        if held >= self.per_address or self._total >= self.limit:
            if not self._make_room(remote, held):
                self.refused += 1
                self._warn(remote, "refused")
                return False
            held = len(self._by_address.get(remote, ()))  # it may have made room of its own
        self._by_address.setdefault(remote, OrderedDict())[key] = (self._clock(), evict)
        self._move(remote, held, held + 1)
        self._total += 1
        return True

    def release(self, remote: str, key: Hashable) -> None:
        """The connection's handshake is over, or it is gone (once more: nothing happens)."""
        connections = self._by_address.get(remote)
        if connections is None or connections.pop(key, None) is None:
            return
        held = len(connections)
        if not held:
            del self._by_address[remote]
        self._move(remote, held + 1, held)
        self._total -= 1

    def close_all(self) -> None:
        """Close every connection still opening (the server stops)."""
        for remote, connections in list(self._by_address.items()):
            for key, (_, evict) in list(connections.items()):
                self.release(remote, key)
                evict()

    def _make_room(self, remote: str, held: int) -> bool:
        """Close one opening connection for a new one from ``remote`` (holding ``held``).

        At its address's share, that address's oldest; at the cap, the oldest of the address
        holding the most (of several, the one that came to hold that many first). Closed only if
        that address holds more than ``remote`` does, or if the connection has been opening for
        longer than a handshake takes (:data:`OPENING_IDLE_S`): a flood's idle connections make
        room, a charger in its handshake does not, and one address with many connections is the
        first to give way."""
        if held >= self.per_address:
            victim_address = remote
        else:
            victim_address = next(
                iter(next(holding for holding in reversed(self._holding) if holding))
            )
        connections = self._by_address[victim_address]
        key, (since, evict) = next(iter(connections.items()))
        if len(connections) <= held and self._clock() - since < OPENING_IDLE_S:
            return False
        self.release(victim_address, key)
        self.evicted += 1
        evict()
        self._warn(victim_address, "closed to make room for a new one")
        return True

    def _move(self, remote: str, before: int, after: int) -> None:
        if before:
            del self._holding[before][remote]
        if after:
            self._holding[after][remote] = None

    def _warn(self, remote: str, what: str) -> None:
        """Log ``what`` happened to a connection from ``remote``: at WARNING once per address
        per window (within the refusal warnings' budget), else at DEBUG."""
        count = self._warnings.report(remote)
        held, total = len(self._by_address.get(remote, ())), self._total
        if not count:
            _LOGGER.debug(
                "Connection from %s %s, %d from there and %d in all are still opening",
                remote,
                what,
                held,
                total,
            )
            return
        _LOGGER.warning(
            "Connection from %s %s, %d from there and %d in all are still opening (a flood of "
            "connections that send nothing? %d from there since the last warning); further ones "
            "from there are logged at DEBUG for %.0f minutes",
            remote,
            what,
            held,
            total,
            count,
            OPENING_WARNING_WINDOW_S / 60,
        )
