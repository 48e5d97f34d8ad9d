"""Letting go of a charger and handing it back: the bookkeeping (``driver.py`` asks it).

Which chargers the energy manager let go of and has still to hand back, and the limit each had
when the manager took it, which a hand-back returns to (both stored, so that holds after a
restart), the hand-backs under way (a token each: one called off while under way must not
end the next one), and each charger's run of failed hand-backs: tried again after a wait that
doubles while the charger keeps failing, or (offline) once it is back. The hand-back itself
(the user's limit back, resumed where the manager paused it) is the driver's: it runs in line
with its writes.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping, Set
from dataclasses import dataclass

from custom_components.ocpp_ems.core.backoff import backed_off
from custom_components.ocpp_ems.core.errors import (
    ChargerNotConnectedError,
    FailureRuns,
    OcppEmsError,
)

_LOGGER = logging.getLogger(__name__)

# The retry time of a hand-back that found the charger offline: at its next update once connected.
WHEN_BACK = math.inf


@dataclass(frozen=True, slots=True)
class UserLimit:
    """A user's current limit request: ``amps`` (None: none, the installation maximum) on
    ``phases`` (None: every phase of the supply)."""

    amps: float | None
    phases: int | None

    @classmethod
    def from_stored(cls, data: object) -> UserLimit | None:
        """``[amps, phases]`` back (None: unreadable)."""
        if not isinstance(data, list) or len(data) != 2:
            return None
        amps, phases = data
        if amps is not None and (
            isinstance(amps, bool)
            or not isinstance(amps, int | float)
            or not math.isfinite(amps)
            or amps < 0
        ):
            return None
        if phases is not None and (isinstance(phases, bool) or phases not in (1, 2, 3)):
            return None
        return cls(None if amps is None else float(amps), phases)


NO_LIMIT = UserLimit(None, None)


@dataclass(frozen=True, slots=True, kw_only=True)
class FailedHandBack:
    """What a failed hand-back leaves (:meth:`HandBackRetries.failed`)."""

    retry_at: float  # when to try again (:data:`WHEN_BACK`: once the charger is back)
    wait_s: float  # the wait till then (0: offline)
    first: bool  # its kind of failure is told the first time in the run: a warning


class HandBackRetries:
    """Each charger's run of failed hand-backs (``EmsDriver.hand_back``)."""

    def __init__(self, retry_s: Callable[[], float]) -> None:
        """``retry_s``: the first wait of a run (``Timing.retry_s``), looked up at each use."""
        self._retry_s = retry_s
        # A hand-back the charger refused is tried again from then (offline: WHEN_BACK), after
        # the last wait of its run of refusals (backed_off: a charger that keeps refusing is
        # asked less and less often).
        self._due: dict[str, float] = {}
        self._wait_s: dict[str, float] = {}
        # The kinds of failure (offline, refused, unanswered ...) told in each charger's run of
        # failed hand-backs: each kind once (the rest of the run at debug).
        self._failures = FailureRuns(told_once=(OcppEmsError,))

    def due_at(self, charger_id: str, now: float) -> float:
        """When the charger's refused hand-back is tried again (``now``: none was refused). A
        time later than its wait from now was set before the wall clock went back: it becomes
        its wait from now, or it would wait the jump longer."""
        due = self._due.get(charger_id, now)
        wait_s = self._wait_s.get(charger_id, self._retry_s())
        if due != WHEN_BACK and due > (latest := now + wait_s):
            due = self._due[charger_id] = latest
        return due

    def next_due(self, charger_ids: Set[str], now: float) -> float | None:
        """When the next of ``charger_ids``' refused hand-backs is due again (None: none waits
        for a time; one that found its charger offline waits for it to be back)."""
        return min(
            (
                due
                for charger_id in self._due.keys() & charger_ids
                if (due := self.due_at(charger_id, now)) != WHEN_BACK
            ),
            default=None,
        )

    def failed(self, charger_id: str, err: OcppEmsError, now: float) -> FailedHandBack:
        """A hand-back failed: tried again after a wait that doubles while the charger keeps
        failing (``backed_off``, from the retry time: one refusing for good was asked every 30 s
        forever), or (offline, or back but not set up yet) when it is back."""
        first = self._failures.first(err, charger_id)
        if isinstance(err, ChargerNotConnectedError):
            self._due[charger_id] = WHEN_BACK
            return FailedHandBack(retry_at=WHEN_BACK, wait_s=0.0, first=first)
        wait_s = self._wait_s[charger_id] = backed_off(
            self._retry_s(), self._wait_s.get(charger_id)
        )
        retry_at = self._due[charger_id] = now + wait_s
        return FailedHandBack(retry_at=retry_at, wait_s=wait_s, first=first)

    def end_run(self, charger_id: str) -> None:
        """No hand-back of the charger waits any more: a later refusal waits the first wait."""
        self._due.pop(charger_id, None)
        self._wait_s.pop(charger_id, None)
        self._failures.taken(charger_id)


class HandBacks:
    """The chargers let go of and not handed back yet, by id (a charger's entry reloads with the
    manager switched off, and a refused hand-back is tried again through its new link)."""

    def __init__(self, retry_s: Callable[[], float]) -> None:
        """``retry_s``: the first wait of a run of failures (``Timing.retry_s``)."""
        # Let go of: to be named by :meth:`due`.
        self._let_go: set[str] = set()
        # Each hand-back named by :meth:`due`, until it is done or called off.
        self._under_way: dict[str, object] = {}
        self._retries = HandBackRetries(retry_s)
        # The limit each charger had when the manager took it (amps, phases; None: no limit).
        self._returns_to: dict[str, UserLimit] = {}

    @property
    def pending(self) -> Set[str]:
        """Every charger still to hand back (let go of, or under way): the stored form."""
        return self._let_go | self._under_way.keys()

    def taken(self, charger_id: str, limit: UserLimit) -> None:
        """The manager takes the charger, whose user had ``limit``: a hand-back returns to it.
        Not while a hand-back is still due: the limit requested then is the manager's own."""
        if not self.cancel(charger_id):
            self._returns_to[charger_id] = limit

    def returns_to(self, charger_id: str) -> UserLimit:
        """The limit a hand-back of the charger sets: its user's from before the manager took
        it (none known: no limit, the installation maximum)."""
        return self._returns_to.get(charger_id, NO_LIMIT)

    def forget(self, charger_id: str) -> None:
        """The charger was deleted: nothing of it is kept."""
        self.cancel(charger_id)
        self._returns_to.pop(charger_id, None)

    def stored_limits(self) -> dict[str, list[float | int | None]]:
        """The limits hand-backs return to, in the stored form (no limit: not kept)."""
        return {
            charger_id: [limit.amps, limit.phases]
            for charger_id, limit in sorted(self._returns_to.items())
            if limit != NO_LIMIT
        }

    def load_limits(self, data: object) -> None:
        """:meth:`stored_limits`' form back; an unreadable entry is skipped (no limit)."""
        if not isinstance(data, Mapping):
            return
        for charger_id, stored in data.items():
            if (limit := UserLimit.from_stored(stored)) is not None:
                self._returns_to[str(charger_id)] = limit

    def let_go_of(self, charger_id: str) -> None:
        """Due: named by the next :meth:`due` (once linked, when its retry time has come)."""
        self._let_go.add(charger_id)

    def cancel(self, charger_id: str) -> bool:
        """No hand-back of the charger from now on, nor the rest of one under way. True if one
        was due."""
        due = charger_id in self._let_go or charger_id in self._under_way
        self._let_go.discard(charger_id)
        self._under_way.pop(charger_id, None)
        self._retries.end_run(charger_id)
        return due

    def due(self, connected: Mapping[str, bool], now: float) -> list[str]:
        """The chargers to hand back now, each under way from here on: of the linked ones
        (``connected``: whether each is), those let go of whose retry time has come, or that
        found their charger offline and it is back."""
        charger_ids = sorted(
            charger_id
            for charger_id in self._let_go & connected.keys()
            if (due := self._retries.due_at(charger_id, now)) <= now
            or (due == WHEN_BACK and connected[charger_id])
        )
        self._let_go.difference_update(charger_ids)
        self._under_way.update((charger_id, object()) for charger_id in charger_ids)
        return charger_ids

    def next_due(self, now: float) -> float | None:
        """When the next refused hand-back is due again (None: none waits for a time; one that
        found its charger offline waits for it to be back)."""
        return self._retries.next_due(self._let_go, now)

    def token(self, charger_id: str) -> object | None:
        """The charger's hand-back under way (None: none, or called off)."""
        return self._under_way.get(charger_id)

    def current(self, charger_id: str, token: object) -> bool:
        """Whether the hand-back ``token`` is still under way (not called off meanwhile)."""
        return self._under_way.get(charger_id) is token

    def unlinked(self, charger_id: str) -> None:
        """Its charger's entry reloads: handed back once it is linked again."""
        self._under_way.pop(charger_id, None)
        self._let_go.add(charger_id)

    def done(self, charger_id: str, token: object) -> None:
        """The hand-back ``token`` was taken: its run of failures ends."""
        if self.current(charger_id, token):
            del self._under_way[charger_id]
            self._retries.end_run(charger_id)

    def failed(self, charger_id: str, err: OcppEmsError, now: float) -> float | None:
        """The hand-back under way failed: let go of again, tried after a wait
        (:meth:`HandBackRetries.failed`; returned), or (offline: None) when it reconnects. Each
        kind of failure is logged as a warning the first time in the run (a charger that keeps
        refusing would fill the log; one that refuses once it is back must say so all the same:
        its car may be held at 0 A)."""
        self._under_way.pop(charger_id, None)
        self._let_go.add(charger_id)
        failed = self._retries.failed(charger_id, err, now)
        if failed.retry_at == WHEN_BACK:
            _log_failed(charger_id, err, "when it is back", first=failed.first)
            return None
        _log_failed(charger_id, err, f"in {failed.wait_s:.0f} s", first=failed.first)
        return failed.retry_at


def _log_failed(charger_id: str, err: OcppEmsError, again: str, *, first: bool) -> None:
    _LOGGER.log(
        logging.WARNING if first else logging.DEBUG,
        "Energy manager could not hand charger %s back (tried again %s): %s",
        charger_id,
        again,
        err,
    )
