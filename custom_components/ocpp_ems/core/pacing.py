"""Pacing of per-charger work, so that many chargers never move in lock-step.

A boot storm (Home Assistant restarts and every charger reconnects within a second) used to start
every charger's post-boot setup at once: a burst of CALLs that stalled the event loop (MeterValues
of chargers already running waited behind it) and left the chargers in lock-step, so every timer
that followed (live-profile refresh, verification, boot watchdog) fired for all of them in the same
instant again. Two tools keep that apart:

- :class:`SetupGate`: one per central system. Bounds how many chargers are being set up at the same
  moment (post-boot configuration and the current-control start that follows it). The boot answer
  itself never waits for it: a charger is Accepted at once and its setup drains in turn. A free
  slot is taken at once, so a single charger (the household case) is never slowed down; only when
  chargers queue, each waits a small random jitter first, which breaks up arrivals that were
  synchronised.
- :func:`phase`: a fixed fraction in [0, 1) per charger id. Timers that every charger runs offset
  themselves by it (a bounded fraction of their period, see their modules), so chargers set up in
  the same second do not fire them in the same second.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import random as _random
from collections import deque
from collections.abc import AsyncIterator, Callable

_LOGGER = logging.getLogger(__name__)

# A setup that holds its slot longer than this waits on a slow or dead charger (answers time out
# after ServerSettings.response_timeout_s, 30 s): it costs no CPU while it waits, so its slot goes
# to the next charger and it finishes outside the bound. A healthy setup takes well under a second
# on a LAN and a few seconds over cellular.
SETUP_LEASE_S = 10.0

_PHASE_SCALE = float(1 << 64)


def phase(key: str) -> float:
    """A fraction in [0, 1) fixed per ``key`` (a charger id): the same after every restart and
    every reconnect, evenly spread over different ids (unlike ``hash()``, not salted per
    process)."""
    digest = hashlib.blake2b(key.encode(), digest_size=8).digest()
    return int.from_bytes(digest) / _PHASE_SCALE


class Lease:
    """One holder's share of a :class:`SetupGate` slot; :meth:`release` is idempotent."""

    def __init__(self, slot: _Slot) -> None:
        self._slot = slot
        self._released = False

    def release(self) -> None:
        if not self._released:
            self._released = True
            self._slot.drop()


class _Slot:
    """A taken slot: free again when every holder released it, or when its lease ran out (its
    holders go on outside the bound then)."""

    def __init__(self, gate: SetupGate, key: str) -> None:
        self.gate = gate
        self.key = key
        self.holders = 1
        self.freed = False
        self.timer: asyncio.TimerHandle | None = None

    def drop(self) -> None:
        self.holders -= 1
        if self.holders == 0:
            self.gate._forget(self)
            self.free()

    def expire(self) -> None:
        _LOGGER.debug(
            "Setup of %s still running after %.0f s: its slot goes to the next charger",
            self.key,
            self.gate.lease_s,
        )
        self.free()

    def free(self) -> None:
        if self.freed:
            return
        self.freed = True
        if self.timer is not None:
            self.timer.cancel()
        self.gate._hand_on()


class SetupGate:
    """Bounds how many chargers are set up at once (first come, first served).

    ``limit`` setups run concurrently. When none is free, a new one waits ``random() * jitter_s``
    before it queues; a free slot is taken at once, without jitter. A slot is held at most
    ``lease_s`` (None: until released). Holders are named by a key (the charger id), so work that
    follows a setup (current control's start) can :meth:`share` its slot instead of queueing
    again.
    """

    def __init__(
        self,
        limit: int,
        *,
        jitter_s: float = 0.0,
        lease_s: float | None = None,
        random: Callable[[], float] = _random.random,
    ) -> None:
        if limit < 1:
            raise ValueError(f"a setup gate needs at least one slot, not {limit}")
        self.limit = limit
        self.jitter_s = jitter_s
        self.lease_s = lease_s
        self._random = random
        self._in_use = 0
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._held: dict[str, _Slot] = {}

    @property
    def in_use(self) -> int:
        """Slots taken now."""
        return self._in_use

    @property
    def waiting(self) -> int:
        """Setups queued for a slot (not counting those still in their jitter)."""
        return sum(1 for waiter in self._waiters if not waiter.done())

    def _saturated(self) -> bool:
        return self._in_use >= self.limit or bool(self._waiters)

    @contextlib.asynccontextmanager
    async def slot(self, key: str) -> AsyncIterator[None]:
        """Hold a slot for ``key`` while the block runs."""
        lease = await self.acquire(key)
        try:
            yield
        finally:
            lease.release()

    async def acquire(self, key: str) -> Lease:
        """Wait for a slot (see the class docstring) and take it for ``key``."""
        if self._saturated() and self.jitter_s > 0:
            # Queued anyway: a random start breaks up chargers that arrived in the same instant
            # (the queue keeps every slot busy meanwhile, so this costs no throughput).
            await asyncio.sleep(self._random() * self.jitter_s)
        if self._saturated():
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            try:
                await waiter
            except asyncio.CancelledError:
                if waiter.done() and not waiter.cancelled():
                    self._hand_on()  # it was handed a slot as it was cancelled: pass it on
                else:
                    with contextlib.suppress(ValueError):
                        self._waiters.remove(waiter)
                raise
            # Handed over by a releasing holder: the count of taken slots stayed the same.
        else:
            self._in_use += 1
        return self._take(key)

    def share(self, key: str) -> Lease | None:
        """Another holder of the slot ``key`` holds now (None: ``key`` holds none). The slot is
        free again once every holder released it. A slot past its lease is shared too: what
        follows a slow setup goes on outside the bound like the setup itself, not queued again."""
        slot = self._held.get(key)
        if slot is None:
            return None
        slot.holders += 1
        return Lease(slot)

    def _take(self, key: str) -> Lease:
        slot = _Slot(self, key)
        # A charger that rebooted during its setup takes a new slot while the cancelled setup
        # still holds the old one: the newest is the one to share.
        self._held[key] = slot
        if self.lease_s is not None:
            slot.timer = asyncio.get_running_loop().call_later(self.lease_s, slot.expire)
        return Lease(slot)

    def _forget(self, slot: _Slot) -> None:
        if self._held.get(slot.key) is slot:
            del self._held[slot.key]

    def _hand_on(self) -> None:
        """A slot came free: to the first waiter still waiting, else back to the pool."""
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
        self._in_use -= 1
