"""Current control: the one path from "limit this charger to X A" to charging profiles.

Three profiles, by how often they change:

1. ``charger_max`` (ChargePointMaxProfile): the installation limit. Chargers keep it in flash,
   so it is written only when the wanted profile (value, unit, stack level) differs from what we
   recorded writing (``charger.limit.charger_max``), or that is unknown.
2. base (TxDefault at ``base_stack_level``, no duration): the safe current. Also written rarely,
   by the same rule (``charger.limit.base``). Each fixed profile is written on its own: one the
   charger refuses keeps neither the other nor the live limit off it.
3. live (TxDefault, and with the Tx purpose a Tx profile per open transaction, at
   ``live_stack_level``) with a limited duration: the dynamic limit. Written when its value
   changes and refreshed before it expires (each charger at its own moment, see
   :data:`REFRESH_SPREAD`), so a charger whose central system stops (Home Assistant down) falls
   back to the safe base by itself. A failed refresh is retried soon, well before the profile
   written last runs out (:meth:`CurrentController._next_refresh_retry`).

After someone else's raw clear or write (the profile actions),
:meth:`CurrentController.restore_profiles` forgets what the fixed profiles hold and writes all
three again at once.

Callers (actions, the energy manager) may call :meth:`CurrentController.set_limit` as often as they
like: only real changes reach the charger. Pausing is a per-charger strategy (0 A live limit, or
RemoteStop + RemoteStart). A change the charger refuses (or that fails) is not kept: the requested
limit and pause go back to what they were (:meth:`CurrentController._undo`), so what is shown is
what the charger holds and a refused value is never written later behind the user's back. Whether
the charger applies the limit written is :class:`~.limit_check.LimitCheck`'s (its composite
schedule, its Current.Offered readings); a new write cancels the check of the one before (its
question must not hold the write back: one CALL at a time).
The limit rules (bounds, step, unit and A <-> W, the limit in force, the pause strategy) are
:class:`~.limits.LimitRules`, asked through :attr:`CurrentController.rules`.

A charger that refuses the live limit we keep for it (a setting on it keeps central systems out)
shows a mismatch too (``limit_check.REFUSED``) until it takes one. A run of refusals is logged
once at WARNING, with what the user can do, the rest of the run at debug; its refresh backs off
(each retry waits twice the one before, up to :data:`REFUSED_RETRY_MAX_S`) until a write is taken
or the wanted limit changes. A change (the user's, the energy manager's) is always written at once.

Who sets the limit is recorded in ``charger.limit.controlled_by`` (:class:`~.model.ControlledBy`,
set by the energy manager's driver). While the energy manager controls a charger, a (re)connected
charger's live limit is held at its safe current until the manager's first decision for that
connection (any :meth:`~CurrentController.set_limit`, :meth:`~CurrentController.pause` or
:meth:`~CurrentController.resume`): a limit it wrote before the charger went away (or none: the
installation maximum) may no longer fit the site.

Transactions that must not run are stopped by the controller's
:class:`~.transaction_stops.TransactionStops`: an unauthorized one (or limited to 0 A), and one a
car starts by itself while the user paused by remote stop (but in a start / stop loop:
:attr:`CurrentController.start_stop_loop`).
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal, NamedTuple

from .backoff import REFUSED_RETRY_MAX_S, backed_off
from .errors import (
    ChargerNotConnectedError,
    CommandRejectedError,
    CommandTimeoutError,
    FailureRuns,
    OcppEmsError,
)
from .limit_check import LimitCheck, WrittenLimit
from .limits import LimitRules
from .model import (
    Charger,
    ChargerEvent,
    ChargingRateUnit,
    ControlledBy,
    EventKind,
    FixedProfile,
)
from .pacing import phase
from .session import ChargerSession, LimitRequest, remote_stop_each
from .settings import ChargerSettings, PauseStrategy, ProfilePurpose, SmartChargingMode
from .timeutil import utcnow
from .transaction_stops import StopsFailedError, TransactionStops, stop_outcome, stops_failed

# With the stops' errors (transaction_stops), which the Home Assistant layer and the energy
# manager import from here.
__all__ = [
    "BASE_PROFILE_ID",
    "LIVE_PROFILE_ID",
    "LIVE_TX_PROFILE_ID",
    "MAX_LIMIT_DURATION_S",
    "MAX_PROFILE_ID",
    "REFRESH_FRACTION",
    "REFRESH_RETRY_MIN_S",
    "REFRESH_RETRY_S",
    "REFRESH_SPREAD",
    "REFUSED_ADVICE",
    "RETRY_BACKOFF_S",
    "CurrentController",
    "StopsFailedError",
    "stop_outcome",
    "stops_failed",
    "tx_profile_id",
]

_LOGGER = logging.getLogger(__name__)

# Our profile ids (a profile with the same id is replaced, so each role keeps its own).
MAX_PROFILE_ID = 1
BASE_PROFILE_ID = 2
LIVE_PROFILE_ID = 3
LIVE_TX_PROFILE_ID = 4  # connector 1's; connector n's is LIVE_TX_PROFILE_ID + 100 * (n - 1)

# The longest a limit may be given for (set_limit's duration_s; the actions ask it).
MAX_LIMIT_DURATION_S = 7 * 24 * 3600

# Refresh the live profile once this fraction of its duration has passed, at the latest: the other
# half is the margin that keeps a charger on its live limit through a missed refresh or a restart.
REFRESH_FRACTION = 0.5
# ... and earlier by up to this fraction of that period, fixed per charger (pacing.phase): chargers
# written in the same second (a mass reconnect) refresh spread over a quarter of the period (112 s
# of 450 s by default) instead of all at once. Never later, so the margin above stays whole.
REFRESH_SPREAD = 0.25
# After a failed write, changes seen in meter values / events do not retry before this (s).
RETRY_BACKOFF_S = 60.0
# A failed refresh is tried again after this at most (s), and within half the time the live
# profile written last has left: one lost refresh must not let it lapse.
REFRESH_RETRY_S = 30.0
# ... but not sooner than this (s): a charger that refuses at once is not asked in a busy loop.
REFRESH_RETRY_MIN_S = 0.1
# While the charger refuses the live limit, each retry of the refresh waits twice the one before,
# up to backoff.REFUSED_RETRY_MAX_S (backed_off).
# What the user can do about it (logged with the first refusal of a run).
REFUSED_ADVICE = (
    "the charger refuses the limits it is sent: let a central system (OCPP) / external energy "
    "manager set its current in the charger's own settings (Schneider: 'EM controlled by external "
    "system'), or try another live profile purpose or stack level in its options. Until it takes "
    "one, its refusals are logged at debug level and the limit is written again less often (at "
    f"most every {REFUSED_RETRY_MAX_S / 60:.0f} min)"
)


def tx_profile_id(connector_id: int) -> int:
    """Our Tx profile's id on ``connector_id``: one per connector (a profile with the same id is
    replaced wherever it was, so two transactions cannot share one)."""
    return LIVE_TX_PROFILE_ID + 100 * (max(connector_id, 1) - 1)


@dataclass(frozen=True, kw_only=True)
class _Live:
    """What the live profiles hold (or should hold): written again only when this changes."""

    value: float  # in ``unit``
    unit: ChargingRateUnit
    amps: float
    phases: int  # used for W conversion
    number_phases: int | None  # sent to the charger (phase switching)
    # Live purpose "tx": a Tx profile for each open transaction, as (connector, transaction).
    transactions: tuple[tuple[int, str], ...]
    # The charger-wide TxDefault profile: unless a one-outlet charger's transaction has its Tx
    # profile (it then rules nothing and is left to expire to the base). Kept in step on several
    # outlets: an outlet without a transaction follows it, and a 1.6 charger may keep one Tx
    # profile per stack level (a connector's replaces another's).
    tx_default: bool
    stack_level: int
    duration_s: int | None


class _Request(NamedTuple):
    """What was asked of the charger: a change is undone to this when refused."""

    amps: float | None
    phases: int | None
    paused: bool


class CurrentController:
    """Keeps one charger's charging profiles in line with the requested limit."""

    # Delays (s) of its TransactionStops'; class attributes so tests can shorten them.
    # How long a charger that accepted the remote stop of an unauthorized transaction may take to
    # end it before the 0 A limit applies.
    unauthorized_stop_grace_s: float = 30.0
    # The first wait before a stop of a self-started transaction the charger left unanswered is
    # asked again (then backed_off).
    self_started_stop_retry_s: float = REFRESH_RETRY_S

    def __init__(
        self,
        charger: Charger,
        settings: Callable[[], ChargerSettings],
        request_save: Callable[[], None],
    ) -> None:
        self.charger = charger
        self._settings = settings
        self._request_save = request_save
        self._session: ChargerSession | None = None
        self._lock = asyncio.Lock()
        # One command (set_limit, pause, resume, an expiry) at a time: a refused one is undone to
        # what the one before left (the user and the energy manager may call at once).
        self._commands = asyncio.Lock()
        self._live: _Live | None = None
        self._written_at: float | None = None
        # When the live profile written last runs out (loop time; None: it does not).
        self._live_expires_at: float | None = None
        self._retry_after = 0.0
        self._reapply_queued = False
        self._tasks: set[asyncio.Task[None]] = set()
        self._refresh_task: asyncio.Task[None] | None = None
        # The live limit the charger refused last (None: it took the last one written). While it
        # refuses, the refresh backs off (its last wait; None: not backing off), the refusals are
        # told once, and the mismatch they set is cleared by the next limit it takes.
        self._refused_live: _Live | None = None
        self._refused_retry_s: float | None = None
        self._refusals = FailureRuns()
        # Set when a backing-off refresh is due anew (a limit taken, another one refused), or a
        # change was left unanswered (``_unanswered``: the live limit is written again soon).
        self._refresh_rescheduled = asyncio.Event()
        self._unanswered = False
        self._expiry_task: asyncio.Task[None] | None = None
        self._stopped_connectors: list[int] = []
        self._warned: set[str] = set()
        self._stops = TransactionStops(
            charger,
            self,
            session=lambda: self._session,
            spawn=self._spawn,
            commands=self._commands,
            stop_each=self._stop_transactions,
            limit_to_zero=self._apply_logged,
        )
        # A set_limit / pause / resume since this connection began (see the hold in the docstring).
        self._decided = False
        self._unsubscribe: Callable[[], None] | None = charger.add_listener(self._on_charger)
        # Where this charger's timers sit within their spread (see REFRESH_SPREAD).
        self._phase = phase(charger.charger_id)
        self._check = LimitCheck(
            charger,
            rules=lambda: self.rules,
            session=lambda: self._session,
            spawn=self._spawn,
            phase=self._phase,
        )

    # --- lifecycle -------------------------------------------------------------------------------
    async def attach(self, session: ChargerSession) -> None:
        """A (re)connected, booted charger: the fixed profiles if needed, then the live one (held
        at the safe current while the energy manager controls it and has not decided yet)."""
        self._drop_session()  # not detach(): a decision made since the connection began counts
        self._session = session
        self._resume_expiry()
        # After a reconnect we do not know what the charger holds: write the live limit once. (Not
        # skipped when we wrote the same before: a charger that rebooted may have lost it, and one
        # without a live profile charges at its base or its own maximum. The fixed profiles are
        # skipped when written as wanted before: chargers keep those in flash.)
        self._live = None
        if not await self._write_all(session):
            return
        if self._session is session:
            self._refresh_task = self._spawn(self._refresh_loop(), "refresh")
            self._stops.attached()

    async def restore_profiles(self) -> None:
        """The charger's profiles were changed behind our back (a raw clear or write): ours may
        be gone. Write the fixed profiles and the live limit again at once (failures are logged;
        what is unknown is written again at the next attach)."""
        session = self._require_session()
        limit = self.charger.limit
        limit.charger_max = limit.base = None
        self._request_save()
        await self._write_all(session)

    async def _write_all(self, session: ChargerSession) -> bool:
        """Write the fixed profiles (where needed) and the live limit; a failure is logged and
        retried after :data:`RETRY_BACKOFF_S`. False: the charger is gone."""
        try:
            await self._ensure_fixed_profiles(session)
            await self._apply(force=True)
        except ChargerNotConnectedError:
            return False
        except OcppEmsError as err:
            self._live_write_failed("could not apply the current limit", err)
            self._retry_after = self._now() + RETRY_BACKOFF_S
        return True

    def detach(self) -> None:
        """The connection is gone: stop talking to it (the requested limit is kept)."""
        self._decided = False
        self._drop_session()

    def _drop_session(self) -> None:
        self._session = None
        self._live = None
        self._check.drop_session()
        if self._refresh_task is not None:
            self._refresh_task.cancel()
        self._refresh_task = None
        self._stops.drop_session()

    async def close(self) -> None:
        """Shut down for good (server stop)."""
        self.detach()
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    # --- commands --------------------------------------------------------------------------------
    async def set_limit(
        self,
        amps: float | None,
        *,
        phases: int | None | Literal["keep"] = "keep",
        duration_s: int | None = None,
        hand_back_to: str | None = None,
        by_manager: bool = False,
    ) -> None:
        """Limit charging to ``amps`` per phase (None: no limit beyond the installation maximum)
        on ``phases`` (None: every phase of the supply; "keep": as requested before, so a manual
        current change keeps a manual 1p/3p choice).

        0 < amps < min_current_a is raised to min_current_a (IEC 61851 cannot signal less); 0 stops
        the flow; the limit is kept at 0.1 A resolution (:meth:`LimitRules.clamp`). With
        ``duration_s`` the limit ends after that many seconds: the request from before it comes
        back (from before the first of several such limits in a row; if that was the energy
        manager's and the manager has let go of the charger since, the user's own limit), and
        ``hand_back_to`` (the energy manager's mode it was taken over from) goes out in a
        LIMIT_EXPIRED event.

        ``by_manager``: the energy manager's decision, dropped if the manager no longer controls
        the charger when its turn comes (it let go while this waited for a write before it).
        Any other limit without an end, set while the manager does not control the charger, is
        the user's own (``LimitState.user_a``): a hand-back returns to it.
        """
        if amps is not None:
            if math.isnan(amps) or amps < 0:
                raise ValueError(f"invalid current limit {amps}")
            amps = self.rules.clamp(amps)
        limit = self.charger.limit
        if phases is not None and phases != "keep" and phases not in (1, 2, 3):
            raise ValueError(f"invalid number of phases {phases}")
        if duration_s is not None and not 0 < duration_s <= MAX_LIMIT_DURATION_S:
            raise ValueError(f"invalid limit duration {duration_s} s")
        async with self._commands:
            managed = self.controlled_by is ControlledBy.ENERGY_MANAGER
            if by_manager and not managed:
                return
            self._decided = True
            before = self._request()
            if phases == "keep":
                phases = limit.requested_phases
            changed = limit.requested_a != amps or limit.requested_phases != phases
            limit.requested_a = amps
            limit.requested_phases = phases
            if changed:
                self._request_save()
                self.charger.notify()
            await self._applied_or_undone(before)
            # Only the phases changed (1p/3p): a limit given for a while still ends.
            if duration_s is not None or amps != before.amps or phases == before.phases:
                # The old limit's expiry ends with it (kept while the new one could be refused).
                self._cancel_expiry()
                expires_at = None
                if duration_s is not None and amps is not None:
                    expires_at = utcnow() + timedelta(seconds=duration_s)
                    self._expiry_task = self._spawn(self._expire_after(duration_s), "limit expiry")
                self._record_expiry(expires_at, before, hand_back_to)
            if not managed:
                self._record_user_limit()

    def _record_user_limit(self) -> None:
        """The request in force is the user's own, unless it ends (``LimitState.user_a``)."""
        limit = self.charger.limit
        if limit.expires_at is None:
            self.set_user_limit(limit.requested_a, limit.requested_phases)

    def set_user_limit(self, amps: float | None, phases: int | None) -> None:
        """The user's own limit from now on (also as an older version kept it:
        ``EmsDriver.add_charger``)."""
        limit = self.charger.limit
        if (limit.user_a, limit.user_phases) != (amps, phases):
            limit.user_a, limit.user_phases = amps, phases
            self._request_save()

    def _record_expiry(
        self, expires_at: datetime | None, before: _Request, hand_back_to: str | None
    ) -> None:
        """When the limit just set ends, and what comes back then (see :meth:`set_limit`)."""
        limit = self.charger.limit
        if expires_at is None:
            previous: tuple[float | None, int | None, str | None] = (None, None, None)
        elif limit.expires_at is None:  # the first temporary limit: return to what was before
            previous = (before.amps, before.phases, hand_back_to)
        else:  # one after another: still return to what was before the first
            previous = (limit.previous_a, limit.previous_phases, hand_back_to or limit.hand_back_to)
        current = (limit.expires_at, limit.previous_a, limit.previous_phases, limit.hand_back_to)
        if current != (expires_at, *previous):
            limit.expires_at = expires_at
            limit.previous_a, limit.previous_phases, limit.hand_back_to = previous
            self._request_save()

    def _cancel_expiry(self) -> None:
        if self._expiry_task is not None:
            self._expiry_task.cancel()
            self._expiry_task = None

    async def pause(self) -> None:
        async with self._commands:
            await self._pause()
            # The last word: a limit given for a while before it no longer ends, nor hands the
            # charger back to the energy manager (which would resume it).
            self._cancel_expiry()
            self._record_expiry(None, self._request(), None)

    async def _pause(self) -> None:
        self._decided = True
        before = self._request()
        self._record_paused(True)
        if self.pause_strategy() is PauseStrategy.ZERO_LIMIT:
            await self._applied_or_undone(before)
            return
        session = self._require_session()
        running = self._stops.outside_loop(self.charger.running_transactions)
        if failed := await self._stop_transactions(session, running):
            if len(failed) == len(running):
                self._undo(before)  # nothing stopped: still charging
            # (Each connector stopped is started by the next resume; the next pause asks those
            # still running.)
            raise stops_failed(failed, running)

    async def _stop_transactions(
        self, session: ChargerSession, by_transaction: dict[str, int]
    ) -> dict[str, OcppEmsError]:
        """Remote stop each of ``by_transaction`` (transaction: its connector), every one even
        when the charger fails one (a station that refuses one EVSE's stop must not keep the
        others charging); the connectors stopped are started by the next :meth:`resume`.
        Returns each failed stop's error: each has its own outcome (one refused is not the same
        as one left unanswered)."""
        failed = await remote_stop_each(session, list(by_transaction))
        for transaction_id, connector_id in by_transaction.items():
            if transaction_id not in failed and connector_id not in self._stopped_connectors:
                self._stopped_connectors.append(connector_id)
        return failed

    async def resume(self) -> None:
        """Charging allowed again, at the requested limit; a 0 A limit is a pause too, so it is
        lifted (up to the installation maximum, like no limit)."""
        async with self._commands:
            await self._resume()

    async def _resume(self) -> None:
        self._decided = True
        before = self._request()
        zero_limit = self.pause_strategy() is PauseStrategy.ZERO_LIMIT
        # Offline, a remote start cannot go out: still paused (not shown as charging enabled).
        session = None if zero_limit else self._require_session()
        self._record_paused(False)
        if self.charger.limit.requested_a == 0:
            self.charger.limit.requested_a = None
            self._request_save()
            self.charger.notify()
        await self._applied_or_undone(before)
        if session is None:
            return
        connectors = self._stopped_connectors or [self._first_outlet()]
        self._stopped_connectors = []
        for index, connector_id in enumerate(connectors):
            connector = self.charger.connector(connector_id)
            last = connector.last_transaction
            # Our own tag always starts: never hand it to a car whose own tag was refused.
            if connector.transaction is None and (last is None or last.authorized):
                try:
                    await session.remote_start(connector_id, self._settings().remote_start_id_tag)
                except BaseException:
                    # Refused (or no answer): the connectors not started are started by the next
                    # resume; none started, the charger is still paused (and shown so).
                    self._stopped_connectors = connectors[index:]
                    if index == 0:
                        self._record_paused(True)
                    raise

    def _request(self) -> _Request:
        limit = self.charger.limit
        return _Request(limit.requested_a, limit.requested_phases, limit.paused)

    async def _applied_or_undone(self, before: _Request) -> None:
        """Write the change just requested; if that fails, :meth:`_undo` it and raise."""
        try:
            await self._apply()
        except BaseException as err:  # refused, failed, or cancelled (not known to be in force)
            self._undo(before)
            if isinstance(err, CommandTimeoutError):
                # The charger may have taken it after all: what is requested again (the limit
                # from before) goes out at the refresh's retry, not a refresh period later.
                self._unanswered = True
                self._refresh_rescheduled.set()
            raise

    def _undo(self, before: _Request) -> None:
        """The charger refused a change (or the write failed): the request goes back to
        ``before`` (commands run one at a time, ``_commands``: no other came meanwhile)."""
        limit = self.charger.limit
        if self._request() == before:
            return
        limit.requested_a, limit.requested_phases, limit.paused = before
        self._request_save()
        self.charger.notify()

    def _record_paused(self, paused: bool) -> None:
        limit = self.charger.limit
        if limit.paused != paused:
            limit.paused = paused
            self._request_save()
            self.charger.notify()

    # --- the rules and what is in force ----------------------------------------------------------
    @property
    def rules(self) -> LimitRules:
        """The charger's limit rules, as its settings and capabilities are now."""
        return LimitRules(self._settings(), self.charger.capabilities)

    def pause_strategy(self) -> PauseStrategy:
        """How :meth:`pause` pauses this charger."""
        return self.rules.pause_strategy

    @property
    def limit_a(self) -> float:
        """The requested limit per phase, capped by the installation maximum (none: the maximum)."""
        return self.rules.limit_a(self.charger.limit)

    @property
    def effective_limit_a(self) -> float:
        """The limit in force per phase: what the live profile holds (or will once connected)."""
        return self._effective_a(self.rules)

    @property
    def paused(self) -> bool:
        return self.charger.limit.paused

    @property
    def charging_allowed(self) -> bool:
        """Not paused, and not held at 0 A by the requested limit."""
        return not self.paused and self.limit_a > 0

    @property
    def controlled_by(self) -> ControlledBy:
        return self.charger.limit.controlled_by

    @property
    def start_stop_loop(self) -> tuple[int, ...]:
        """The connectors whose self-started transactions are left to run
        (:attr:`TransactionStops.start_stop_loop`)."""
        return self._stops.start_stop_loop

    def set_controlled_by(self, controlled_by: ControlledBy) -> None:
        """Record who sets the limit from now on (the energy manager's driver calls this)."""
        limit = self.charger.limit
        if limit.controlled_by is controlled_by:
            return
        limit.controlled_by = controlled_by
        self._request_save()
        self.charger.notify()
        if self._session is not None:
            self._reapply_if_changed()  # the safe-current hold may begin or end

    def _effective_a(self, rules: LimitRules) -> float:
        amps = rules.effective_a(self.charger.limit)
        if self._stops.blocks_charging():
            return 0.0  # an unauthorized transaction the charger would not stop
        if self.controlled_by is ControlledBy.ENERGY_MANAGER and not self._decided:
            return min(amps, rules.safe_a)  # reconnected: safe until the manager decides
        return amps

    # --- internals: what to write ----------------------------------------------------------------
    @property
    def _id(self) -> str:
        return self.charger.charger_id

    @staticmethod
    def _now() -> float:
        return asyncio.get_running_loop().time()

    def _require_session(self) -> ChargerSession:
        if self._session is None:
            raise ChargerNotConnectedError(self._id)
        return self._session

    def _stack_level(self, level: int) -> int:
        highest = self.charger.capabilities.max_stack_level
        return level if highest is None else min(level, highest)

    def _first_outlet(self) -> int:
        outlets = self.charger.outlets
        return outlets[0].connector_id if outlets else 1

    def _power_phases(self, settings: ChargerSettings, requested: int | None) -> int:
        """Phases for A -> W: requested, else those the car draws on (at most the supply's). A
        station's W limit holds for each outlet: with cars on different phases, the fewest (a
        one-phase car takes a limit for three phases on its one line: three times the amps)."""
        if requested is not None:
            return requested
        drawn = [
            phases
            for c in self.charger.outlets
            if c.status.charging and (phases := c.meter.current_a.active_phases())
        ]
        measured = min(drawn, default=0)
        return min(settings.phases, measured) if measured else settings.phases

    def _desired(self) -> _Live:
        rules = self.rules
        settings = rules.settings
        limit = self.charger.limit
        amps = self._effective_a(rules)
        unit = rules.unit
        number_phases = limit.requested_phases
        if number_phases is not None and not self.charger.capabilities.phase_switching:
            self._warn_once("phases", "does not report 1/3-phase switching; phases not sent")
            number_phases = None  # (nor counted: a W limit for them would not be what it draws)
        phases = self._power_phases(settings, number_phases)
        live_level = self._stack_level(settings.live_stack_level)
        base_level = self._stack_level(settings.base_stack_level)
        transactions: tuple[tuple[int, str], ...] = ()
        if settings.live_profile_purpose is ProfilePurpose.TX:
            transactions = tuple(
                (c.connector_id, c.transaction.transaction_id)
                for c in self.charger.outlets
                if c.transaction is not None
            )
        return _Live(
            value=rules.to_unit(amps, unit, phases),
            unit=unit,
            amps=round(amps, 1),
            phases=phases,
            number_phases=number_phases,
            transactions=transactions,
            tx_default=not transactions or len(self.charger.outlet_ids) > 1,
            stack_level=live_level,
            # On a single stack level the live profile replaces the base: it must not expire then.
            duration_s=settings.live_limit_duration_s if live_level != base_level else None,
        )

    # --- internals: writing ----------------------------------------------------------------------
    async def _ensure_fixed_profiles(self, session: ChargerSession) -> None:
        """Write each fixed profile whose wanted form differs from what we recorded writing (or
        is unknown). Each on its own: one the charger refuses is logged and tried again at the
        next attach, and does not keep the others (nor the live limit) off the charger."""
        rules = self.rules
        if not rules.smart_charging:
            return
        settings = rules.settings
        limit = self.charger.limit
        base_level = self._stack_level(settings.base_stack_level)
        # Both fixed profiles are charger-wide, at the base level, without a duration.
        limit.charger_max = await self._ensure_fixed(
            session, MAX_PROFILE_ID, "charger_max", rules.max_a, base_level, limit.charger_max
        )
        if base_level == self._stack_level(settings.live_stack_level):
            self._warn_once("levels", "has one usable stack level: no fallback profile")
            return
        limit.base = await self._ensure_fixed(
            session, BASE_PROFILE_ID, "tx_default", rules.safe_a, base_level, limit.base
        )

    async def _ensure_fixed(
        self,
        session: ChargerSession,
        profile_id: int,
        purpose: str,
        amps: float,
        stack_level: int,
        written: FixedProfile | None,
    ) -> FixedProfile | None:
        """One fixed profile: written unless ``written`` is what is wanted; returns what the
        charger holds now as far as we know (None: unknown)."""
        rules = self.rules
        unit = rules.unit
        wanted = FixedProfile(
            limit=rules.to_unit(amps, unit, rules.settings.phases),
            unit=unit,
            stack_level=stack_level,
        )
        if written == wanted:
            return written
        request = LimitRequest(
            profile_id=profile_id,
            stack_level=stack_level,
            purpose=purpose,
            connector_id=0,
            limit=wanted.limit,
            unit=unit,
        )
        try:
            await session.set_limit_profile(request)
        except ChargerNotConnectedError:
            raise
        except OcppEmsError as err:
            self._write_failed("could not write its %s profile", err, purpose)
            written = None
        else:
            written = wanted
            self.charger.limit.fixed_written_at = utcnow()
            self._refusals.taken()
        self._request_save()
        return written

    async def _apply(self, *, force: bool = False) -> None:
        """Write the live profile if it differs from what the charger holds (or ``force``)."""
        async with self._lock:
            # From here on the desired state is read afresh: later changes need a new write.
            self._reapply_queued = False
            session = self._session
            if session is None:
                return
            rules = self.rules
            if not rules.smart_charging:
                if rules.settings.smart_charging is SmartChargingMode.AUTO:  # not the user's choice
                    self._warn_once(
                        "smart",
                        "does not list smart charging (SmartCharging): limits not sent; if it "
                        "takes them anyway, set its option 'Smart charging' to 'On'",
                    )
                return
            desired = self._desired()
            if not force and desired == self._live:
                return
            # The check of the write before is moot now, and its question (one CALL at a time)
            # must not hold this write back until the charger answers it.
            self._check.cancel()
            try:
                for connector_id, transaction_id in desired.transactions:
                    await session.set_limit_profile(
                        self._live_request(desired, connector_id, transaction_id)
                    )
                if desired.tx_default:
                    await session.set_limit_profile(self._live_request(desired, 0, None))
            except BaseException as err:
                # Refused, failed or cancelled, maybe after a part went out (or the charger
                # took it unanswered): everything again next time.
                self._live = None
                if isinstance(err, CommandRejectedError):
                    self._refused(desired)
                raise
            self._live = desired
            self._unanswered = False
            self._written_at = self._now()
            self._live_expires_at = (
                None if desired.duration_s is None else self._written_at + desired.duration_s
            )
            self.charger.limit.last_write = utcnow()
            self._request_save()
            self.charger.notify()
            self._taken()
            outlet = desired.transactions[0][0] if desired.transactions else self._first_outlet()
            written = WrittenLimit(outlet, desired.amps, desired.unit, desired.phases)
            self._check.written(session, written)

    def _refused(self, desired: _Live) -> None:
        """The charger refused ``desired``: another limit than the one it refused before starts
        the back-off anew."""
        if desired != self._refused_live:
            self._refused_live = desired
            self._restart_backoff()

    def _taken(self) -> None:
        """The charger took a live limit: a run of refusals ends."""
        self._refused_live = None
        self._refusals.taken()
        self._restart_backoff()

    def _restart_backoff(self) -> None:
        if self._refused_retry_s is not None:
            self._refused_retry_s = None
            self._refresh_rescheduled.set()

    @staticmethod
    def _live_request(live: _Live, connector_id: int, transaction_id: str | None) -> LimitRequest:
        """One live profile: the Tx profile of ``transaction_id``, else the TxDefault one."""
        return LimitRequest(
            profile_id=LIVE_PROFILE_ID if transaction_id is None else tx_profile_id(connector_id),
            stack_level=live.stack_level,
            purpose="tx_default" if transaction_id is None else "tx",
            connector_id=connector_id,
            limit=live.value,
            unit=live.unit,
            number_phases=live.number_phases,
            duration_s=live.duration_s,
            transaction_id=transaction_id,
        )

    def _refresh_period(self) -> float:
        """Seconds from a write to its refresh: REFRESH_FRACTION of the duration at the latest,
        earlier by this charger's share of REFRESH_SPREAD."""
        latest = self._settings().live_limit_duration_s * REFRESH_FRACTION
        return max(latest * (1 - REFRESH_SPREAD * self._phase), 1.0)

    def _next_refresh_retry(self, *, refused: bool) -> float:
        """When to retry a failed refresh: soon, and well before the live profile written last
        runs out (after that, every REFRESH_RETRY_S). While the charger refuses the limit, each
        retry waits twice the one before (up to REFUSED_RETRY_MAX_S)."""
        delay = REFRESH_RETRY_S
        left = None if self._live_expires_at is None else self._live_expires_at - self._now()
        if left is not None and left > 0.0:
            delay = max(min(REFRESH_RETRY_S, left / 2), REFRESH_RETRY_MIN_S)
        if refused:
            delay = self._refused_retry_s = backed_off(delay, self._refused_retry_s)
        return delay

    def _refused_retry(self) -> float | None:
        """The next retry of a live limit the charger refused (None: it took the last one)."""
        return None if self._refused_live is None else self._next_refresh_retry(refused=True)

    async def _refresh_loop(self) -> None:
        """Rewrite the live profile before its duration runs out (a failed rewrite is retried
        soon, a refused one less and less often: :meth:`_next_refresh_retry`)."""
        retry_in = self._refused_retry()  # one refused at attach is not asked again at once
        while True:
            period = self._refresh_period()
            if self._unanswered:  # (a change left unanswered: :meth:`_applied_or_undone`)
                soon = self._next_refresh_retry(refused=False)
                retry_in = soon if retry_in is None else min(retry_in, soon)
            written = self._written_at if self._written_at is not None else self._now()
            delay = max(written + period - self._now(), 0.0) if retry_in is None else retry_in
            if await self._rescheduled_within(delay):
                # A limit taken or another refused meanwhile, or a change left unanswered.
                retry_in = self._refused_retry()
                continue
            if (
                not self._unanswered
                and self._written_at is not None
                and self._now() - self._written_at < period
            ):
                retry_in = None
                continue  # written meanwhile (a change): wait for that write to age
            before = self._written_at
            try:
                await self._apply(force=True)
            except ChargerNotConnectedError:
                return
            except OcppEmsError as err:
                retry_in = self._next_refresh_retry(refused=isinstance(err, CommandRejectedError))
                self._live_write_failed(
                    "refreshing the current limit failed (again in %.1f s)", err, retry_in
                )
            else:
                self._unanswered = False
                # Nothing written (no smart charging since a reconnect, no session): look again
                # a period later, not at once (the old write's age kept this loop spinning).
                retry_in = period if self._written_at == before else None

    async def _rescheduled_within(self, delay: float) -> bool:
        """Sleep ``delay`` s; True: a backing-off refresh became due anew meanwhile."""
        self._refresh_rescheduled.clear()
        try:
            async with asyncio.timeout(delay):
                await self._refresh_rescheduled.wait()
        except TimeoutError:
            return False
        return True

    async def _expire_after(self, duration_s: float) -> None:
        await asyncio.sleep(duration_s)
        # After a change still being written: one that is kept cancels this expiry meanwhile.
        async with self._commands:
            self._expiry_task = None
            self._lift_expired()
            try:
                await self._apply()
            except OcppEmsError as err:
                self._live_write_failed("lifting the expired limit failed", err)

    def _lift_expired(self) -> None:
        """The limit given with a duration ends: the one from before it comes back."""
        limit = self.charger.limit
        hand_back_to = limit.hand_back_to
        if hand_back_to is not None and limit.controlled_by is ControlledBy.NONE:
            # The limit from before was the energy manager's (it was taken over from it), and the
            # manager has let go of the charger since (switched off): its limit (0 A in Solar
            # without sun) must not come back with nobody to lift it. The user's own, as handed
            # back.
            limit.requested_a, limit.requested_phases = limit.user_a, limit.user_phases
        else:
            limit.requested_a, limit.requested_phases = limit.previous_a, limit.previous_phases
        limit.expires_at = limit.previous_a = limit.previous_phases = limit.hand_back_to = None
        self._request_save()
        self.charger.notify()
        self.charger.notify(
            ChargerEvent(kind=EventKind.LIMIT_EXPIRED, data={"hand_back_to": hand_back_to})
        )

    def _resume_expiry(self) -> None:
        """A limit given with a duration before a restart: lifted now if its time is up, else
        when it is."""
        expires_at = self.charger.limit.expires_at
        if expires_at is None or self._expiry_task is not None:
            return
        left = (expires_at - utcnow()).total_seconds()
        if left <= 0.0:
            self._lift_expired()
        else:
            self._expiry_task = self._spawn(self._expire_after(left), "limit expiry")

    def _on_charger(self, event: ChargerEvent | None) -> None:
        """Model listener: the stops first (:meth:`TransactionStops.on_charger`), then follow
        transactions (Tx profiles, W phases) and check Current.Offered."""
        if self._session is None:
            return  # a transaction started meanwhile is new at the next attach
        self._stops.on_charger(event)
        if event is None:
            if self._live is not None and self._written_at is not None:
                self._check.offered(self._live.amps, self._now() - self._written_at)
            if self._live is not None and self._live.unit is ChargingRateUnit.WATT:
                self._reapply_if_changed()
        elif event.kind in (EventKind.SESSION_STARTED, EventKind.SESSION_ENDED):
            self._reapply_if_changed()

    def _reapply_if_changed(self) -> None:
        if self._reapply_queued or self._now() < self._retry_after:
            return
        # While a write is in flight the charger may not hold ``_live`` yet: queue behind it
        # (``_apply`` re-reads the desired state under the lock) rather than drop the change. One
        # the charger refused as it is now is left to the refresh (it backs off).
        if not self._lock.locked() and self._desired() in (self._live, self._refused_live):
            return
        self._reapply_queued = True
        self._spawn(self._apply_logged(), "apply")

    async def _apply_logged(self) -> None:
        try:
            await self._apply()
        except OcppEmsError as err:
            self._live_write_failed("could not apply the current limit", err)
            self._retry_after = self._now() + RETRY_BACKOFF_S

    def _live_write_failed(self, what: str, err: OcppEmsError, *args: object) -> None:
        """A write of the live limit we keep failed (not a change, which is undone and raised):
        logged, and one the charger refused is shown as a mismatch."""
        self._write_failed(what, err, *args)
        refused = self._refused_live
        if isinstance(err, CommandRejectedError) and refused is not None:
            self._check.refused(refused.amps, err.status)

    def _write_failed(self, what: str, err: OcppEmsError, *args: object) -> None:
        """Log a failed write (``what``: a %-format of ``args``). A refusal is told once per run of
        refusals (:class:`~.errors.FailureRuns`), with what the user can do
        (:data:`REFUSED_ADVICE`); the rest of the run goes to debug."""
        level, advice = logging.WARNING, ""
        if not self._refusals.first(err):
            level = logging.DEBUG
        elif isinstance(err, CommandRejectedError):
            advice = f"; {REFUSED_ADVICE}"
        template = "%s: " + what + ": %s%s"
        _LOGGER.log(level, template, self._id, *args, err, advice)

    # --- helpers ---------------------------------------------------------------------------------
    def _spawn(self, coro: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None]:
        task = asyncio.get_running_loop().create_task(coro, name=f"ocpp_ems {self._id} {name}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def _warn_once(self, key: str, message: str) -> None:
        if key not in self._warned:
            self._warned.add(key)
            _LOGGER.warning("%s %s", self._id, message)
