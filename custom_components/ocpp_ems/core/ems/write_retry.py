"""The bookkeeping of the energy manager's failed writes (``driver.py`` asks it; its failed
hand-backs are ``hand_back.py``'s).

A run of failed writes lasts until the charger takes one: when to write again (a wait that
doubles, a limit refused as the run's first failure forgiven), what the manager waits for (not
answering, refused), the writes held for a silent charger, the last write taken. It decides
nothing of the controller's.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from custom_components.ocpp_ems.core.backoff import backed_off
from custom_components.ocpp_ems.core.errors import (
    CommandNotSupportedError,
    CommandRejectedError,
    CommandTimeoutError,
    FailureRuns,
    OcppEmsError,
)

from .timers import earlier
from .types import ChargerCommand, Reason

# A write the charger answered and did not take: it would refuse the same again at once.
_REFUSALS = (CommandRejectedError, CommandNotSupportedError)


@dataclass(frozen=True, slots=True, kw_only=True)
class FailedWrite:
    """What a failed write leaves (:meth:`WriteRetries.failed`)."""

    retry_at: float  # when to write again (the HA layer wakes then)
    forgiven: bool  # a limit refused as its run's first failure: nothing waits
    stays_written: bool  # refused or a stop that waits: the controller counts it as written
    refused: bool  # the charger answered and did not take it: it holds the limit it had


@dataclass(slots=True)
class _Run:
    """A charger's writes since the last one it took: its run of failed writes, if any."""

    # When to write again: its write would fail again at once (:meth:`WriteRetries.failed`), so
    # it is written from then, not at every decision (None: nothing waits).
    again_at: float | None = None
    # The run's last wait (0: a refused limit forgiven, :meth:`WriteRetries.forgives`, so its
    # next failure waits the first wait; None: none yet).
    wait_s: float | None = None
    # The run's latest retry time, kept through that retry's round trip: the "until" of the
    # reason saying the manager waits for the charger, so it changes once per retry (blank for
    # each round trip, then the next time, was two changes: recorder rows, triggers).
    shown_until: float | None = None
    # What the manager waits for: the latest outcome (not answering, or refused), shown until
    # the run ends, the retries' round trips included (a silent charger's reason flapped at
    # every retry).
    waiting_for: Reason | None = None
    silent: ChargerCommand | None = None  # the write left unanswered: later ones are held
    lowered: bool = False  # one sent into that silence took less than the last one taken
    refused: ChargerCommand | None = None  # the latest write refused
    # A new target went out while a run of refused limits waited: the next new one waits for
    # the retry (:meth:`WriteRetries.held_after_refusal`).
    asked_in_wait: bool = False
    # The latest write is a stop not taken (on its way, or waiting to be asked again): over
    # once no transaction runs on the charger (``EmsDriver._end_stop_wait_if_idle``).
    stop_waits: bool = False
    # When the charger took its last write (the write limiter counts from it,
    # :meth:`WriteRetries.last_taken`); None once the run ended otherwise (a new connection, a
    # stop with nothing left to stop ...).
    taken_at: float | None = None


_NO_RUN = _Run()  # (read only: what a charger with no record shows)


class WriteRetries:
    """Each charger's run of failed writes (one record each), and the last write it took."""

    def __init__(self, retry_s: Callable[[], float]) -> None:
        """``retry_s``: the first wait of a run (``Timing.retry_s``), looked up at each failure."""
        self._retry_s = retry_s
        self._runs: dict[str, _Run] = {}
        # Each charger's last write it took (what the car may draw while one is unanswered):
        # kept across runs.
        self._taken: dict[str, ChargerCommand] = {}
        # The kinds of failure told in each charger's run of failed writes: each kind once (a
        # silent charger warned at every try, for good), until the run ends (:meth:`forget_run`).
        self._failures = FailureRuns(told_once=(OcppEmsError,))

    def _run(self, charger_id: str) -> _Run:
        """The charger's record, to change."""
        return self._runs.setdefault(charger_id, _Run())

    def _peek(self, charger_id: str) -> _Run:
        """The charger's record, to read (not to change: it may be the shared empty one)."""
        return self._runs.get(charger_id, _NO_RUN)

    def retry_times(self) -> list[float]:
        """When each waiting run is written again (a decision's wake-up is no later)."""
        return [run.again_at for run in self._runs.values() if run.again_at is not None]

    def waits_for(self, charger_id: str) -> Reason | None:
        """What the manager waits for at the charger (:meth:`record_outcome`), None: nothing."""
        return self._peek(charger_id).waiting_for

    def shown_until(self, charger_id: str) -> float | None:
        """The run's latest retry time, as the reason shows it (:meth:`retry_at`)."""
        return self._peek(charger_id).shown_until

    def waits_for_an_answer(self, charger_id: str) -> bool:
        """Whether the charger's run waits for it to answer (the last write left unanswered)."""
        run = self._peek(charger_id)
        return run.waiting_for is Reason.CHARGER_NOT_ANSWERING and run.again_at is not None

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
        run = self._run(charger_id)
        if forgiven:
            run.wait_s = 0.0  # (the run's next failure waits the first wait)
        else:
            self.record_outcome(charger_id, command, err)
        if sent_in_wait and run.again_at is not None:
            # Refused too, the retry stays when it was (each lower of a target chasing the draw
            # doubled the wait: the retry 8 minutes away after five, a charger taking limits
            # again was not asked).
            retry_at = run.again_at
        elif waits:
            run.wait_s = backed_off(retry_s, run.wait_s)
            retry_at = now + run.wait_s
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
        return isinstance(err, _REFUSALS) and not stop and self._peek(charger_id).wait_s is None

    def last_taken(self, charger_id: str) -> tuple[ChargerCommand, float] | None:
        """The charger's last taken write and when it took it, while its run of failed writes
        goes on (None: none, or the run ended otherwise)."""
        taken_at = self._peek(charger_id).taken_at
        return None if taken_at is None else (self._taken[charger_id], taken_at)

    def retry_at(self, charger_id: str, when: float) -> None:
        """The run's next retry is due ``when`` (:meth:`due`), and the reason says so until that
        retry's outcome."""
        run = self._run(charger_id)
        run.again_at = run.shown_until = when

    def record_outcome(self, charger_id: str, command: ChargerCommand, err: OcppEmsError) -> None:
        """What the manager waits for after a failed write: the latest outcome wins. Left
        unanswered: the charger's writes are held; refused (a limit or a stop): it answers,
        nothing is held. (Offline, or never sent: as it was.)"""
        run = self._run(charger_id)
        if isinstance(err, CommandTimeoutError):
            run.silent = command
            run.waiting_for = Reason.CHARGER_NOT_ANSWERING
        elif isinstance(err, _REFUSALS):
            run.silent = None
            run.waiting_for = Reason.CHARGER_REFUSED
            run.refused = command

    def sending(self, charger_id: str, *, stop: bool) -> None:
        """A write goes out: one sent into the silence (the last one unanswered) lowers the
        bar of :meth:`held`; a stop waits from now (on its way), any other write ends its wait."""
        run = self._run(charger_id)
        run.lowered = run.lowered or run.silent is not None
        run.asked_in_wait = run.asked_in_wait or run.again_at is not None
        run.stop_waits = stop

    def stop_waits(self, charger_id: str) -> bool:
        """Whether the charger's latest write is a stop not taken (:meth:`sending`)."""
        return self._peek(charger_id).stop_waits

    def first_of_run(self, err: OcppEmsError, charger_id: str) -> bool:
        """Whether ``err``'s kind is told the first time in the charger's run (``FailureRuns``)."""
        return self._failures.first(err, charger_id)

    def stop_wait_ended(self, charger_id: str, *, stop: bool) -> bool:
        """Whether a failed write is a stop whose wait ended while it was on its way (its
        session ended, a new connection, the charger left the controller): its failure is moot,
        nothing of it is asked again, and it is no failure of a new run (it would warn twice)."""
        return stop and not self.stop_waits(charger_id)

    def held(self, charger_id: str, command: ChargerCommand) -> bool:
        """Whether ``command`` waits (the charger left the last write unanswered). One that
        takes less than the unanswered one goes out all the same (the fuse, the grid, Off must
        not wait), and so does the run's first that takes less than the last one taken (the car
        may still draw that after an unanswered pause); later ones below it wait (each would wait
        out the response timeout again)."""
        run = self._peek(charger_id)
        if run.silent is None or _takes_less(command, run.silent):
            return False
        taken = self._taken.get(charger_id)
        return taken is None or run.lowered or not _takes_less(command, taken)

    def held_after_refusal(self, charger_id: str, command: ChargerCommand) -> bool:
        """Whether ``command`` waits for the retry of the charger's run of refused limits: a new
        target went out already in this wait (the first goes out at once: the charger may take
        a value it was not asked yet, say a lower maximum), and this one takes no less than the
        last refused. A lower one goes out (the fuse; it may take that one), and so does a
        pause (a stop is another request, and Off must not wait); a raise goes out at the
        retry. Every new target went out at once: a charger refusing every limit beside another
        on a shared fuse was written 75 times in 10 minutes, its target raised every 14 s to
        chase the draw it would not lower (red team 14a)."""
        run = self._peek(charger_id)
        return (
            not command.paused
            and (run.refused is None or not _takes_less(command, run.refused))
            and run.asked_in_wait
            and self._refusal_waits(charger_id)
        )

    def refusing_limits(self, charger_id: str) -> bool:
        """Whether the charger's run of failed writes is one of refused limits (the latest
        outcome a refusal, and not of a stop)."""
        run = self._peek(charger_id)
        return run.waiting_for is Reason.CHARGER_REFUSED and not run.stop_waits

    def _refusal_waits(self, charger_id: str) -> bool:
        """Whether a run of refused limits waits for its retry."""
        return self._peek(charger_id).again_at is not None and self.refusing_limits(charger_id)

    def due(self, now: float) -> list[str]:
        """The chargers whose wait is over: no longer waiting to be written again, their writes
        no longer held (the reason still says the manager waits for them until a write is
        taken)."""
        over = [
            charger_id
            for charger_id, run in self._runs.items()
            if run.again_at is not None and now >= run.again_at
        ]
        for charger_id in over:
            run = self._runs[charger_id]
            run.again_at = run.silent = None
            run.asked_in_wait = False
        return over

    def took(self, charger_id: str, command: ChargerCommand, now: float) -> None:
        """The charger took ``command`` at ``now``: its run of failed writes is over."""
        self._taken[charger_id] = command
        self.forget_run(charger_id)
        self._runs[charger_id] = _Run(taken_at=now)

    def forget_run(self, charger_id: str) -> None:
        """The charger's run of failed writes is over: nothing held, waited for or to write
        again, and a later failure waits the first wait again and is told again."""
        self._runs.pop(charger_id, None)
        self._failures.taken(charger_id)

    def forget_charger(self, charger_id: str) -> None:
        """The charger was deleted: not even its last taken write is kept."""
        self._taken.pop(charger_id, None)

    def clock_went_back(self, back_s: float) -> None:
        """The wall clock went back ``back_s``: the retry and taken times move back with it."""
        for run in self._runs.values():
            run.again_at = earlier(run.again_at, back_s)
            run.shown_until = earlier(run.shown_until, back_s)
            run.taken_at = earlier(run.taken_at, back_s)


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
