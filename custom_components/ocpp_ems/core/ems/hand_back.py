"""Letting go of a charger and handing it back: the bookkeeping (``driver.py`` asks it).

Which chargers the energy manager let go of and has still to hand back (stored, so that holds
after a restart), the hand-backs under way (a token each: one called off while under way must
not end the next one), and each charger's run of failed hand-backs: tried again after a wait
that doubles while the charger keeps failing, or (offline) once it is back. The hand-back itself
(the user's own limit back, ``LimitState.user_a``, resumed where the manager paused it) is the
driver's: it runs in line with its writes. An older version kept the limit to return to here:
read once from its store (:meth:`HandBacks.older_limit`).
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
from custom_components.ocpp_ems.core.numbers import non_negative_number

_LOGGER = logging.getLogger(__name__)

# The retry time of a hand-back that found the charger offline: at its next update once connected.
WHEN_BACK = math.inf


@dataclass(frozen=True, slots=True)
class UserLimit:
    """A user's current limit as an older version stored it (:func:`legacy_user_limits`):
    ``amps`` (None: none, the installation maximum) on ``phases`` (None: every phase)."""

    amps: float | None
    phases: int | None

    @classmethod
    def from_stored(cls, data: object) -> UserLimit | None:
        """``[amps, phases]`` back (None: unreadable)."""
        if not isinstance(data, list) or len(data) != 2:
            return None
        stored_amps, phases = data
        amps = None if stored_amps is None else non_negative_number(stored_amps)
        if stored_amps is not None and amps is None:
            return None
        if phases is not None and (isinstance(phases, bool) or phases not in (1, 2, 3)):
            return None
        return cls(amps, phases)


NO_LIMIT = UserLimit(None, None)


def legacy_user_limits(pending: Set[str], stored: object) -> dict[str, UserLimit]:
    """The limits an older version kept in the manager's store for hand-backs to return to
    (``stored``: charger id -> ``[amps, phases]``; an unreadable one is none), and none for
    each hand-back still due (``pending``) without one: that charger's request is the
    manager's, not its user's."""
    limits = dict.fromkeys(pending, NO_LIMIT)
    if isinstance(stored, Mapping):
        for charger_id, data in stored.items():
            limits[str(charger_id)] = UserLimit.from_stored(data) or NO_LIMIT
    return limits


def _charger_ids(stored: object) -> set[str]:
    return {str(charger_id) for charger_id in stored} if isinstance(stored, list) else set()


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
        # What an older version's store kept for hand-backs to return to (:meth:`older_limit`).
        self._older_limits: dict[str, UserLimit] = {}

    @property
    def pending(self) -> Set[str]:
        """Every charger still to hand back (let go of, or under way): the stored form."""
        return self._let_go | self._under_way.keys()

    def load(self, due: object, *, older_due: object, older_limits: object) -> None:
        """:attr:`pending`'s stored form back (``due``), and an older version's: its hand-backs
        due (``older_due``) and the limits they were to return to (:func:`legacy_user_limits`)."""
        older = _charger_ids(older_due)
        # Named once linked (unless the manager controls the charger again by then).
        self._let_go.update(_charger_ids(due) | older)
        self._older_limits = legacy_user_limits(older, older_limits)

    def older_limit(self, charger_id: str, *, managed: bool) -> UserLimit | None:
        """The limit an older version kept for the charger to return to, once (None: none): the
        user's own where its request is not (the manager's: ``managed``, or a hand-back due)."""
        older = self._older_limits.pop(charger_id, None)
        return older if managed or charger_id in self.pending else None

    def forget(self, charger_id: str) -> None:
        """The charger was deleted: nothing of it is kept."""
        self.cancel(charger_id)
        self._older_limits.pop(charger_id, None)

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
