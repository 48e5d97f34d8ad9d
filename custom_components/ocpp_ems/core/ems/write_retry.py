"""The bookkeeping of the energy manager's failed writes and hand-backs (``driver.py`` asks it).

A run of failed writes lasts until the charger takes one: when to write again (a wait that
doubles, a limit refused as the run's first failure forgiven), what the manager waits for (not
answering, refused), the writes held for a silent charger, the last write taken; a run of failed
hand-backs likewise. It decides nothing of the controller's.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Set
from dataclasses import dataclass

from custom_components.ocpp_ems.core.backoff import backed_off
from custom_components.ocpp_ems.core.errors import (
    ChargerNotConnectedError,
    CommandNotSupportedError,
    CommandRejectedError,
    CommandTimeoutError,
    FailureRuns,
    OcppEmsError,
)

from .types import ChargerCommand, Reason

# A write the charger answered and did not take: it would refuse the same again at once.
_REFUSALS = (CommandRejectedError, CommandNotSupportedError)
# The retry time of a hand-back that found the charger offline: at its next update once connected.
WHEN_BACK = math.inf


@dataclass(frozen=True, slots=True, kw_only=True)
class FailedWrite:
    """What a failed write leaves (:meth:`WriteRetries.failed`)."""

    retry_at: float  # when to write again (the HA layer wakes then)
    forgiven: bool  # a limit refused as its run's first failure: nothing waits
    stays_written: bool  # refused or a stop that waits: the controller counts it as written
    refused: bool  # the charger answered and did not take it: it holds the limit it had


class WriteRetries:
    """Each charger's run of failed writes, and the last write it took."""

    def __init__(self, retry_s: Callable[[], float]) -> None:
        """``retry_s``: the first wait of a run (``Timing.retry_s``), looked up at each failure."""
        self._retry_s = retry_s
        # Chargers whose write would fail again at once (:meth:`failed`): written again from
        # then, not at every decision; the last wait of their run of such failures (0: a refused
        # limit forgiven, :meth:`forgives`: the run's next failure waits the first wait); and
        # those that left it unanswered, whose writes are held until then.
        self._write_again_at: dict[str, float] = {}
        self._write_wait_s: dict[str, float] = {}
        # The run's latest retry time, kept through that retry's round trip: the "until" of the
        # reason saying the manager waits for the charger, so it changes once per retry (blank
        # for each round trip, then the next time, was two changes: recorder rows, triggers).
        self._retry_shown_at: dict[str, float] = {}
        self._silent: dict[str, ChargerCommand] = {}  # (the write left unanswered)
        # What the manager waits for at each charger in such a run: the latest outcome (not
        # answering, or refused), shown until the run ends (:meth:`forget_run`), the
        # retries' round trips included (a silent charger's reason flapped at every retry).
        self._waiting_for: dict[str, Reason] = {}
        # Chargers whose latest write is a stop not taken (on its way, or waiting to be asked
        # again): over once no transaction runs on the charger (``_end_stop_wait_if_idle``).
        self._waiting_stops: set[str] = set()
        # Each charger's last write it took (what the car may draw while one is unanswered).
        self._taken: dict[str, ChargerCommand] = {}
        # When it took it, until a run of failed writes ends otherwise (a new connection, a stop
        # with nothing left to stop ...): the write limiter counts from it (:meth:`last_taken`).
        self._taken_at: dict[str, float] = {}
        # Chargers whose run of unanswered writes sent one below the last one taken (:meth:`held`).
        self._lowered: set[str] = set()
        # The kinds of failure told in each charger's run of failed writes: each kind once (a
        # silent charger warned at every try, for good), until the run ends (:meth:`forget_run`).
        self._failures = FailureRuns(told_once=(OcppEmsError,))
        # Chargers written a new target while their run of refused limits waits: the next new
        # one waits for the retry (:meth:`held_after_refusal`).
        self._asked_in_wait: set[str] = set()
        self._refused: dict[str, ChargerCommand] = {}  # (the run's latest write refused)

    def retry_times(self) -> list[float]:
        """When each waiting run is written again (a decision's wake-up is no later)."""
        return list(self._write_again_at.values())

    def waits_for(self, charger_id: str) -> Reason | None:
        """What the manager waits for at the charger (:meth:`record_outcome`), None: nothing."""
        return self._waiting_for.get(charger_id)

    def shown_until(self, charger_id: str) -> float | None:
        """The run's latest retry time, as the reason shows it (:meth:`retry_at`)."""
        return self._retry_shown_at.get(charger_id)

    def waits_for_an_answer(self, charger_id: str) -> bool:
        """Whether the charger's run waits for it to answer (the last write left unanswered)."""
        return (
            self._waiting_for.get(charger_id) is Reason.CHARGER_NOT_ANSWERING
            and charger_id in self._write_again_at
        )

    def failed(
        self, charger_id: str, command: ChargerCommand, err: OcppEmsError, *, stop: bool, now: float
    ) -> FailedWrite:
        """A write failed (``err``: as ``stop_outcome`` tells it): when to write it again. One
        that would fail again at once waits, twice the wait before while the charger keeps
        failing (``backed_off``): left unanswered, or refused (unless forgiven: :meth:`forgives`).
        Refused and waiting, or a stop that waits, it stays written; the rest the controller
        forgets."""
        retry_s = self._retry_s()
        forgiven = self.forgives(charger_id, err, stop=stop)
        refused = isinstance(err, _REFUSALS)
        waits = (refused and not forgiven) or isinstance(err, CommandTimeoutError)
        retry_at = now + retry_s
        # A limit sent while a run of refused limits waited (a new target, a lower).
        sent_in_wait = refused and not stop and self._refusal_waits(charger_id)
        if forgiven:
            self._write_wait_s[charger_id] = 0.0  # (the run's next failure waits the first wait)
        else:
            self.record_outcome(charger_id, command, err)
        if sent_in_wait:
            # Refused too, the retry stays when it was (each lower of a target chasing the draw
            # doubled the wait: the retry 8 minutes away after five, a charger taking limits
            # again was not asked).
            retry_at = self._write_again_at[charger_id]
        elif waits:
            wait = backed_off(retry_s, self._write_wait_s.get(charger_id))
            self._write_wait_s[charger_id] = wait
            retry_at = now + wait
            self.retry_at(charger_id, retry_at)
        return FailedWrite(
            retry_at=retry_at,
            forgiven=forgiven,
            stays_written=waits and (refused or stop),
            refused=refused,
        )

    def forgives(self, charger_id: str, err: OcppEmsError, *, stop: bool) -> bool:
        """Whether a failed write is a limit refused as its run's first failure (no wait of the
        run recorded: a write was taken since any earlier refusal or unanswered write, or the run
        ended otherwise: :meth:`forget_run`). The charger may be busy and take the next:
        nothing waits, the controller forgets the write (its next decision writes it again, as
        the write limiter allows: ``EmsDriver._forget_refused``), the reason stays the
        controller's. Waiting 30 s at once, the refused write counted as written, left the car at
        the wrong current: below its fuse share (its own draw above a refused lower counted as
        house load to it), or short of the sun. From the run's next failure on a refused limit
        waits (a charger refusing every limit)."""
        return isinstance(err, _REFUSALS) and not stop and charger_id not in self._write_wait_s

    def last_taken(self, charger_id: str) -> tuple[ChargerCommand, float] | None:
        """The charger's last taken write and when it took it, while its run of failed writes
        goes on (None: none, or the run ended otherwise)."""
        taken_at = self._taken_at.get(charger_id)
        return None if taken_at is None else (self._taken[charger_id], taken_at)

    def retry_at(self, charger_id: str, when: float) -> None:
        """The run's next retry is due ``when`` (:meth:`due`), and the reason says so until that
        retry's outcome."""
        self._write_again_at[charger_id] = self._retry_shown_at[charger_id] = when

    def record_outcome(self, charger_id: str, command: ChargerCommand, err: OcppEmsError) -> None:
        """What the manager waits for after a failed write: the latest outcome wins. Left
        unanswered: the charger's writes are held; refused (a limit or a stop): it answers,
        nothing is held. (Offline, or never sent: as it was.)"""
        if isinstance(err, CommandTimeoutError):
            self._silent[charger_id] = command
            self._waiting_for[charger_id] = Reason.CHARGER_NOT_ANSWERING
        elif isinstance(err, _REFUSALS):
            self._silent.pop(charger_id, None)
            self._waiting_for[charger_id] = Reason.CHARGER_REFUSED
            self._refused[charger_id] = command

    def sending(self, charger_id: str, *, stop: bool) -> None:
        """A write goes out: one sent into the silence (the last one unanswered) lowers the
        bar of :meth:`held`; a stop waits from now (on its way), any other write ends its wait."""
        if charger_id in self._silent:
            self._lowered.add(charger_id)
        if charger_id in self._write_again_at:
            self._asked_in_wait.add(charger_id)
        if stop:
            self._waiting_stops.add(charger_id)
        else:
            self._waiting_stops.discard(charger_id)

    def stop_waits(self, charger_id: str) -> bool:
        """Whether the charger's latest write is a stop not taken (:meth:`sending`)."""
        return charger_id in self._waiting_stops

    def first_of_run(self, err: OcppEmsError, charger_id: str) -> bool:
        """Whether ``err``'s kind is told the first time in the charger's run (``FailureRuns``)."""
        return self._failures.first(err, charger_id)

    def stop_wait_ended(self, charger_id: str, *, stop: bool) -> bool:
        """Whether a failed write is a stop whose wait ended while it was on its way (its
        session ended, a new connection, the charger left the controller): its failure is moot,
        nothing of it is asked again, and it is no failure of a new run (it would warn twice)."""
        return stop and charger_id not in self._waiting_stops

    def held(self, charger_id: str, command: ChargerCommand) -> bool:
        """Whether ``command`` waits (the charger left the last write unanswered). One that
        takes less than the unanswered one goes out all the same (the fuse, the grid, Off must
        not wait), and so does the run's first that takes less than the last one taken (the car
        may still draw that after an unanswered pause); later ones below it wait (each would wait
        out the response timeout again)."""
        unanswered = self._silent.get(charger_id)
        if unanswered is None or _takes_less(command, unanswered):
            return False
        taken = self._taken.get(charger_id)
        return taken is None or charger_id in self._lowered or not _takes_less(command, taken)

    def held_after_refusal(self, charger_id: str, command: ChargerCommand) -> bool:
        """Whether ``command`` waits for the retry of the charger's run of refused limits: a new
        target went out already in this wait (the first goes out at once: the charger may take
        a value it was not asked yet, say a lower maximum), and this one takes no less than the
        last refused. A lower one goes out (the fuse; it may take that one), and so does a
        pause (a stop is another request, and Off must not wait); a raise goes out at the
        retry. Every new target went out at once: a charger refusing every limit beside another
        on a shared fuse was written 75 times in 10 minutes, its target raised every 14 s to
        chase the draw it would not lower (red team 14a)."""
        refused = self._refused.get(charger_id)
        return (
            not command.paused
            and (refused is None or not _takes_less(command, refused))
            and charger_id in self._asked_in_wait
            and self._refusal_waits(charger_id)
        )

    def refusing_limits(self, charger_id: str) -> bool:
        """Whether the charger's run of failed writes is one of refused limits (the latest
        outcome a refusal, and not of a stop)."""
        return (
            self._waiting_for.get(charger_id) is Reason.CHARGER_REFUSED
            and charger_id not in self._waiting_stops
        )

    def _refusal_waits(self, charger_id: str) -> bool:
        """Whether a run of refused limits waits for its retry."""
        return charger_id in self._write_again_at and self.refusing_limits(charger_id)

    def due(self, now: float) -> list[str]:
        """The chargers whose wait is over: no longer waiting to be written again, their writes
        no longer held (the reason still says the manager waits for them until a write is
        taken)."""
        over = [charger_id for charger_id, until in self._write_again_at.items() if now >= until]
        for charger_id in over:
            del self._write_again_at[charger_id]
            self._silent.pop(charger_id, None)
            self._asked_in_wait.discard(charger_id)
        return over

    def took(self, charger_id: str, command: ChargerCommand, now: float) -> None:
        """The charger took ``command`` at ``now``: its run of failed writes is over."""
        self._taken[charger_id] = command
        self.forget_run(charger_id)
        self._taken_at[charger_id] = now

    def forget_run(self, charger_id: str) -> None:
        """The charger's run of failed writes is over: nothing held, waited for or to write
        again, and a later failure waits the first wait again and is told again."""
        self._write_again_at.pop(charger_id, None)
        self._write_wait_s.pop(charger_id, None)
        self._retry_shown_at.pop(charger_id, None)
        self._silent.pop(charger_id, None)
        self._waiting_for.pop(charger_id, None)
        self._waiting_stops.discard(charger_id)
        self._lowered.discard(charger_id)
        self._asked_in_wait.discard(charger_id)
        self._refused.pop(charger_id, None)
        self._taken_at.pop(charger_id, None)
        self._failures.taken(charger_id)

    def forget_charger(self, charger_id: str) -> None:
        """The charger was deleted: not even its last taken write is kept."""
        self._taken.pop(charger_id, None)

    def clock_went_back(self, back_s: float) -> None:
        """The wall clock went back ``back_s``: the retry and taken times move back with it."""
        for times in (self._write_again_at, self._retry_shown_at, self._taken_at):
            for charger_id in times:
                times[charger_id] -= back_s


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


def _takes_less(command: ChargerCommand, than: ChargerCommand) -> bool:
    """Whether ``command`` lets the car draw less than ``than``: on a line (1 phase at 16 A, then
    3 at 6 A), or in all."""
    if than.paused:
        return False
    return (
        command.paused
        or command.current_a < than.current_a
        or command.current_a * command.phases < than.current_a * than.phases
    )
