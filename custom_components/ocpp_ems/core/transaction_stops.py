"""Stopping the transactions that must not run on a charger (owned by its current controller).

Authorization is enforced here: a running transaction whose id tag we did not accept
(``Transaction.authorized`` false: refused at its start, or when a 2.x station showed the card
only later) is stopped (remote stop); when the charger refuses that,
or keeps the transaction open anyway, the live limit is 0 A until that transaction ends.

So is a user's pause by remote stop: a transaction a car starts by itself on a charger the user
paused so (free vend, an RFID card, a station that starts on plug-in) is stopped, once per new
transaction (:meth:`TransactionStops._stop_self_started`); a 0 A pause holds one by itself. The
energy manager's pause has its own rule (its driver asks for a new decision): a user's pause is a
standing instruction, the manager's may be about to end (the user picked Fast, the sun came), and
a stop at once here would leave such a car stopped while the manager resumes it. A stop the
charger leaves unanswered (a lost frame, a busy charger: unlike a refusal, we do not know whether
it stopped) is asked again, each wait twice the one before while it stays silent
(:meth:`TransactionStops._stop_again_later`); a new connection asks at once.

A station that opens a new transaction each time one is stopped while the cable stays in would be
stopped for ever (relay wear, the car's contactor): after :data:`SELF_START_LOOP_STOPS`
self-started transactions on a connector without the car unplugged in between, whoever paused by
remote stop, the connector's transactions are left to run
(:attr:`TransactionStops.start_stop_loop`, a repair issue in Home Assistant) until the car is
unplugged, the pause ends or a charge starts long after the last (:data:`SELF_START_LOOP_GAP`: a
station that never says the car left). Counted here, the one place both pauses stop through (the energy
manager's pause is :meth:`~.current_control.CurrentController.pause`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from datetime import datetime, timedelta
from typing import Any, Protocol

from .backoff import backed_off
from .errors import (
    ChargerNotConnectedError,
    CommandTimeoutError,
    FailureRuns,
    OcppEmsError,
)
from .model import (
    Charger,
    ChargerEvent,
    Connector,
    ConnectorStatus,
    ControlledBy,
    EventKind,
)
from .session import ChargerSession
from .settings import PauseStrategy

_LOGGER = logging.getLogger(__name__)

# Self-started transactions stopped on a connector without an unplug before the next is left to
# run: the station is in a start / stop loop (see the module docstring).
SELF_START_LOOP_STOPS = 3
# A charge that starts this long after the connector's last self-started one (by the charger's
# stamps) is no loop (a loop starts again within seconds): the count starts afresh, also for a
# station that never says the car left (no Available, no EVDisconnected).
SELF_START_LOOP_GAP = timedelta(minutes=10)
# What the user can do about such a loop (logged once it is found).
SELF_START_LOOP_ADVICE = (
    "the charger starts a new charge each time one is stopped while charging is paused; its "
    "charges are left to run until the car is unplugged or the pause ends. Make it require "
    "authorization (turn off free vend / plug and charge in the charger's own app)"
)
# The stop reason of a transaction that ended as the car was unplugged (1.6 and 2.x alike).
_UNPLUGGED_REASON = "EVDisconnected"


class StopsFailedError(OcppEmsError):
    """Several of a charger's remote stops failed (a pause, the stop action): each connector's
    own error, as each has its own outcome (one refused, another left unanswered)."""

    def __init__(self, failures: Mapping[int, OcppEmsError]) -> None:
        self.failures = dict(failures)
        super().__init__("; ".join(f"connector {c}: {err}" for c, err in self.failures.items()))


def stops_failed(failed: Mapping[str, OcppEmsError], connectors: Mapping[str, int]) -> OcppEmsError:
    """The error of failed remote stops (``failed``: each transaction's, from
    ``remote_stop_each``; ``connectors``: each transaction's connector): the one error when one
    failed, else :class:`StopsFailedError` naming each connector."""
    if len(failed) == 1:
        return next(iter(failed.values()))
    return StopsFailedError({connectors[t]: err for t, err in failed.items()})


def stop_outcome(err: OcppEmsError) -> OcppEmsError:
    """What a failed pause's stops came to, as one error: one left unanswered if any (whether
    that car stopped is unknown), else the first; ``err`` itself when it is one error."""
    if not isinstance(err, StopsFailedError):
        return err
    errors = list(err.failures.values())
    return next((e for e in errors if isinstance(e, CommandTimeoutError)), errors[0])


def _unplugged(connector: Connector) -> bool:
    """Whether the car at ``connector`` was unplugged (since its last transaction)."""
    last = connector.last_transaction
    return connector.status is ConnectorStatus.AVAILABLE or (
        connector.transaction is None and last is not None and last.stop_reason == _UNPLUGGED_REASON
    )


class PauseState(Protocol):
    """What the stops read of the controller that owns them
    (:class:`~.current_control.CurrentController`): how it is paused, and its delays."""

    unauthorized_stop_grace_s: float
    self_started_stop_retry_s: float

    @property
    def paused(self) -> bool: ...

    @property
    def controlled_by(self) -> ControlledBy: ...

    def pause_strategy(self) -> PauseStrategy: ...


class TransactionStops:
    """Stops one charger's transactions that must not run (see the module docstring). It shares
    its controller's connection (``session``), tasks (``spawn``), one command at a time
    (``commands``) and the pause's remote stops (``stop_each``); ``limit_to_zero`` writes the
    live limit, 0 A while an unauthorized transaction the charger would not stop runs."""

    def __init__(
        self,
        charger: Charger,
        control: PauseState,
        *,
        session: Callable[[], ChargerSession | None],
        spawn: Callable[[Coroutine[Any, Any, None], str], asyncio.Task[None]],
        commands: asyncio.Lock,
        stop_each: Callable[[ChargerSession, dict[str, int]], Awaitable[dict[str, OcppEmsError]]],
        limit_to_zero: Callable[[], Awaitable[None]],
    ) -> None:
        self.charger = charger
        self._control = control
        self._current_session = session
        self._spawn = spawn
        self._commands = commands
        self._stop_transactions = stop_each
        self._limit_to_zero = limit_to_zero
        # Unauthorized transactions being stopped, and those that get 0 A (the stop failed).
        self._stopping: set[str] = set()
        self._blocked: set[str] = set()
        # The running transactions (and their connectors) as last seen while connected: a new one
        # is stopped while the user paused by remote stop (_stop_self_started).
        self._seen_transactions = self.charger.running_transactions
        # Those whose stop the charger left unanswered (transaction: connector), asked again by
        # one task after the wait (the last one; None: no run of unanswered stops).
        self._unanswered_stops: dict[str, int] = {}
        self._stop_retry_task: asyncio.Task[None] | None = None
        self._stop_retry_s: float | None = None
        # The kinds of failure (refused, unanswered ...) told in the run of failed stops of
        # self-started transactions: each once, until a stop is taken, nothing is left to stop,
        # or the connection drops.
        self._stop_failures = FailureRuns(told_once=(OcppEmsError,))
        # The transactions started on each connector while paused by remote stop, since the car
        # was last unplugged (one counted once, also when asked again on a new connection).
        self._self_started: dict[int, set[str]] = {}
        self._last_self_start: dict[int, datetime] = {}  # the newest of them, by its stamp
        self._loop: tuple[int, ...] = ()  # start_stop_loop as last told

    # --- what the controller asks -----------------------------------------------------------------
    def attached(self) -> None:
        """A (re)connected charger, its limits written: stop what runs that must not."""
        self._enforce_unauthorized()
        self._stop_self_started()  # one started while it was away

    def drop_session(self) -> None:
        """The connection is gone (or replaced): the run of failed stops with it."""
        if self._stop_retry_task is not None:
            self._stop_retry_task.cancel()
        self._stop_retry_task = None
        # An unanswered stop is asked at once on the next connection (new to it: attach).
        for transaction_id in self._unanswered_stops:
            self._seen_transactions.pop(transaction_id, None)
        self._unanswered_stops = {}
        self._stop_retry_s = None
        self._stop_failures.taken()

    def on_charger(self, event: ChargerEvent | None) -> None:
        """A change of the connected charger's model: stop what started (or lost its
        authorization) that must not run; an ended transaction's stop is over."""
        self._stop_self_started()
        if event is None or event.kind is EventKind.SESSION_STARTED:
            # Any change may be a running transaction losing its authorization (a 2.x card shown
            # after a cable-first start and refused): enforced like one that began refused.
            self._enforce_unauthorized()
        elif event.kind is EventKind.SESSION_ENDED:
            transaction_id = str(event.data.get("transaction_id"))
            self._stopping.discard(transaction_id)
            self._blocked.discard(transaction_id)

    def blocks_charging(self) -> bool:
        """An unauthorized transaction the charger would not stop runs: the live limit is 0 A."""
        return any(
            c.transaction is not None and c.transaction.transaction_id in self._blocked
            for c in self.charger.outlets
        )

    @property
    def _id(self) -> str:
        return self.charger.charger_id

    @property
    def _session(self) -> ChargerSession | None:
        return self._current_session()

    # --- internals: authorization -----------------------------------------------------------------
    def _enforce_unauthorized(self) -> None:
        """The one rule: every running transaction that is not authorized (started with a refused
        tag, or refused later) is stopped; :meth:`_enforce` does so once per transaction and
        connection."""
        for connector in self.charger.outlets:
            transaction = connector.transaction
            if transaction is not None and not transaction.authorized:
                self._enforce(transaction.transaction_id)

    def _enforce(self, transaction_id: str) -> None:
        """Stop an unauthorized transaction (once per transaction and connection)."""
        if transaction_id in self._stopping:
            return
        self._stopping.add(transaction_id)
        self._spawn(self._stop_unauthorized(transaction_id), "stop unauthorized")

    def _open(self, transaction_id: str) -> bool:
        return self.charger.find_transaction(transaction_id) is not None

    async def _stop_unauthorized(self, transaction_id: str) -> None:
        session = self._session
        if session is None:  # gone meanwhile: enforced again when it attaches
            self._stopping.discard(transaction_id)
            return
        _LOGGER.warning(
            "%s: transaction %s runs with an id tag that is not allowed; stopping it",
            self._id,
            transaction_id,
        )
        try:
            await session.remote_stop(transaction_id)
        except OcppEmsError as err:
            _LOGGER.warning(
                "%s: could not stop unauthorized transaction %s (%s); limiting it to 0 A",
                self._id,
                transaction_id,
                err,
            )
        else:
            await asyncio.sleep(self._control.unauthorized_stop_grace_s)
            if not self._open(transaction_id):
                return
            _LOGGER.warning(
                "%s: unauthorized transaction %s still open after a remote stop; limiting it to 0 A",
                self._id,
                transaction_id,
            )
        if not self._open(transaction_id):
            return
        self._blocked.add(transaction_id)
        await self._limit_to_zero()

    # --- internals: a user's pause by remote stop -------------------------------------------------
    def _paused_by_stop(self) -> bool:
        """Paused by remote stop (by anyone)."""
        return (
            self._control.paused
            and self._control.pause_strategy() is PauseStrategy.REMOTE_STOP_START
        )

    def _paused_by_user_stop(self) -> bool:
        """Paused by remote stop, by the user (or an automation): not the energy manager, whose
        driver stops a transaction started on a charger it paused."""
        return (
            self._paused_by_stop()
            and self._control.controlled_by is not ControlledBy.ENERGY_MANAGER
        )

    def _stop_self_started(self) -> None:
        """A car that starts a transaction by itself on a charger the user paused by remote stop
        would charge at full current: each new transaction is stopped (but in a start / stop
        loop). Once: a charger that refuses is not asked again at every change of its model."""
        running = self.charger.running_transactions
        started = {t: c for t, c in running.items() if t not in self._seen_transactions}
        self._seen_transactions = running
        self._count_self_started(started)
        started = self.outside_loop(started)
        if started and self._paused_by_user_stop():
            self._spawn(self._stop_started(started), "stop self-started")

    # --- internals: a station in a start / stop loop ----------------------------------------------
    @property
    def start_stop_loop(self) -> tuple[int, ...]:
        """The connectors whose self-started transactions are left to run: the station opened
        more than :data:`SELF_START_LOOP_STOPS` while paused by remote stop, without the car
        unplugged in between (none: not paused so)."""
        return tuple(
            sorted(c for c, ids in self._self_started.items() if len(ids) > SELF_START_LOOP_STOPS)
        )

    def _count_self_started(self, started: dict[str, int]) -> None:
        """Count the transactions ``started`` while paused by remote stop, per connector since its
        car was last unplugged; a loop found or ended is told (a warning, and a model change the
        repair issue follows)."""
        if not self._paused_by_stop():
            self._self_started.clear()
        else:
            for connector in self.charger.outlets:
                if _unplugged(connector):
                    self._self_started.pop(connector.connector_id, None)
            for transaction_id, connector_id in started.items():
                self._count_start(transaction_id, connector_id)
        loop = self.start_stop_loop
        if loop == self._loop:
            return
        if set(loop) - set(self._loop):
            _LOGGER.warning(
                "%s: connector(s) %s: %s",
                self._id,
                ", ".join(map(str, loop)),
                SELF_START_LOOP_ADVICE,
            )
        self._loop = loop
        self.charger.notify()

    def _count_start(self, transaction_id: str, connector_id: int) -> None:
        """Count a self-started transaction on ``connector_id``; one long after the last counted
        (:data:`SELF_START_LOOP_GAP`) starts the count afresh."""
        transaction = self.charger.find_transaction(transaction_id)
        at = None if transaction is None else transaction.started_at
        last = self._last_self_start.get(connector_id)
        if at is not None:
            if last is not None and at - last > SELF_START_LOOP_GAP:
                self._self_started.pop(connector_id, None)
            self._last_self_start[connector_id] = max(at, last) if last is not None else at
        self._self_started.setdefault(connector_id, set()).add(transaction_id)

    def outside_loop(self, transactions: dict[str, int]) -> dict[str, int]:
        """``transactions`` (transaction: connector) but those on a connector in a start / stop
        loop: left to run."""
        loop = self.start_stop_loop
        return {t: c for t, c in transactions.items() if c not in loop}

    async def _stop_started(self, started: dict[str, int]) -> None:
        # After a pause or resume under way (one at a time): only if still paused so.
        async with self._commands:
            started = {t: c for t, c in started.items() if self._open(t)}
            if not started or not self._paused_by_user_stop():
                self._stop_failures.taken()  # nothing left to stop: the run is over
                return
            _LOGGER.info(
                "%s: charging is paused; stopping the transaction(s) %s started by the charger",
                self._id,
                ", ".join(started),
            )
            if self._session is None:
                failed: dict[str, OcppEmsError] = dict.fromkeys(
                    started, ChargerNotConnectedError(self._id)
                )
            else:
                failed = await self._stop_transactions(self._session, started)
            self._self_started_stops_done(started, failed)

    def _self_started_stops_done(
        self, started: dict[str, int], failed: dict[str, OcppEmsError]
    ) -> None:
        """Each stop of ``started`` by its own outcome (``failed``: the error of each that
        failed): one the charger could not get (gone) is asked at once on its next connection,
        one left unanswered again after a wait, one refused is told and not asked again."""
        unanswered: dict[str, int] = {}
        refused: dict[str, OcppEmsError] = {}
        for transaction_id, err in failed.items():
            if isinstance(err, ChargerNotConnectedError):  # new again when it attaches
                self._seen_transactions.pop(transaction_id, None)
            elif isinstance(err, CommandTimeoutError):
                unanswered[transaction_id] = started[transaction_id]
            else:
                refused[transaction_id] = err
        if len(failed) < len(started):
            self._stop_failures.taken()  # a stop taken: the failures of these start a new run
        if unanswered:
            self._stop_again_later(unanswered, failed[next(iter(unanswered))])
        else:
            self._stop_retry_s = None  # none left unanswered: a run of unanswered stops ends
        if refused:
            self._stop_refused(refused)

    def _stop_refused(self, refused: dict[str, OcppEmsError]) -> None:
        """The charger refused (or failed otherwise) to stop ``refused`` (transaction: error):
        told once per run of failed stops, each transaction named."""
        first = next(iter(refused.values()))
        _LOGGER.log(
            logging.WARNING if self._stop_failures.first(first) else logging.DEBUG,
            "%s: charging is paused, but the charger did not stop a transaction it started "
            "(%s); it may charge until that ends (not asked again)",
            self._id,
            "; ".join(f"{t}: {e}" for t, e in refused.items()),
        )

    def _stop_again_later(self, unanswered: dict[str, int], err: OcppEmsError) -> None:
        """The charger left the stop of ``unanswered`` unanswered: unlike a refusal, it may still
        charge. Asked again after a wait, twice the one before while it stays silent (a busy or
        dead charger is not hammered); told once per run of failed stops."""
        first = self._stop_failures.first(err)
        delay = self._stop_retry_s = backed_off(
            self._control.self_started_stop_retry_s, self._stop_retry_s
        )
        self._unanswered_stops.update(unanswered)
        _LOGGER.log(
            logging.WARNING if first else logging.DEBUG,
            "%s: charging is paused, but the charger did not answer the stop of a transaction it "
            "started (%s); asked again in %.0f s",
            self._id,
            err,
            delay,
        )
        if self._stop_retry_task is None:
            self._stop_retry_task = self._spawn(self._stop_unanswered(delay), "stop again")

    async def _stop_unanswered(self, delay: float) -> None:
        await asyncio.sleep(delay)
        self._stop_retry_task = None  # (one left unanswered again waits anew)
        unanswered, self._unanswered_stops = self._unanswered_stops, {}
        await self._stop_started(unanswered)  # if still open and still paused so
        if self._stop_retry_task is None:
            self._stop_retry_s = None  # none left unanswered (ended, resumed): the run ends
