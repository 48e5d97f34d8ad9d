"""The energy manager's driver: everything between the site's inputs and the writes to chargers.

The controller (:class:`~.controller.EnergyManager`) decides limits from inputs; the driver
runs it for one site and owns what lies around it, with no Home Assistant in sight (the HA layer,
``energy_manager.py``, reads sensors into :class:`SiteInputs`, keeps the store and the timers, and
calls the driver):

* each charger's user settings (:class:`ChargerView`) and their stored form (:meth:`dump`,
  :meth:`load`), with what the controller learned about the installation (``learned.py``) and
  what departure plans learned of the solar forecast, the house load and how much of the sun a
  car gets (``plan_learning.py``, fed every update's inputs; plans run with it in place of the
  settings it starts from);
* the controller's settings of each charger, rebuilt from the view, the charger's quirk settings
  and its model before every decision (``charger_config.py``);
* one decision (:meth:`step`): the controller's update, each session's energy by source
  (``energy_split.py``), the battery discharge limit to write (``discharge.py``), when to run
  again (``next_update_at``, at least every ``watchdog_s``);
* the writes (:meth:`write`) through each charger's current control (:class:`CurrentControl`, the
  core's ``CurrentController``): a station's current is divided among the outlets that share its
  limit (``outlets.py``: each takes the limit written; the controller's
  settings count them, and a change of their number writes anew); a pause is a 0 A limit, or a
  stop for a charger that pauses by
  remote stop / start, resumed (after its limit is set) only where the energy manager paused it;
  a charger's writes run one at a time, only the latest decision's; a failed write, and a charger
  that reconnects, are forgotten by the controller so the next decision is written again. A write
  that would fail again at once (left unanswered: each would wait out a silent charger's response
  timeout once more; refused, a limit or a stop: a charger refusing every limit was written at
  every decision, about once a second for good) is written again after a wait that doubles while
  the charger keeps failing, as the user's pause waits (``backoff.backed_off``); a limit
  refused as a run's first failure waits for nothing (a busy charger takes the next: the next
  decision writes it again, the write limiter counting from the last write taken), the run's
  next refusal waits;
  meanwhile a charger that left one unanswered gets none of the manager's writes; one that
  refused keeps what it holds, and the write it refused counts as written (the draw above it is
  the house's to the fuse shares: the other chargers make room for it), also through the retry,
  which asks its target again; meanwhile the first new target goes out at once (it may take
  that one), later ones only when lower (the fuse) or a pause, a raise at the retry (the same
  value refused again is no news; a lower refused keeps the retry time); its decision's reason says
  the manager waits for the charger (not answering, or refused: the latest outcome)
  from the failed write on (the latest decision is shown again, ``on_shown``, with no new one),
  through the retries, until the run's latest retry (kept through its round trip). A write
  taken, a new connection, a waiting stop's session ended (the stop's own failure then is moot:
  at debug), the charger leaving the controller, or the manager switched on again (it takes its
  chargers afresh) ends the run (the next decision is written at once, and the reason is the
  controller's again at once); a live limit the charger takes meanwhile (its current control's
  refresh) brings the retry of an unanswered run forward (the bookkeeping of these runs is
  ``write_retry.py``'s, that of hand-backs ``hand_back.py``'s: the driver asks them). A
  transaction a car starts by itself on a charger the manager stopped is stopped too (once per
  new transaction);
* who controls each charger (``ControlledBy``, recorded in its current control): the energy
  manager, or the user in mode Manual. A manual change takes a charger over (the HA layer sets
  its mode to Manual); a Manual charger is left alone: the controller never sees it (its draw is
  house load to the others), nothing is written to it, its decision says ``Reason.MANUAL``. Picking
  another mode hands it back.
* letting go: a charger the manager stops controlling other than by a manual change (switched
  off, mode Manual picked, or found after a restart still recorded as the manager's while it is
  off) must not stay at the manager's last limit (0 A in Solar mode without sun: it would never
  charge, and nothing would say why). :meth:`let_go` names those chargers, :meth:`hand_back`
  sets the user's own limit (``LimitState.user_a``, kept with the charger's state by its
  current control; none: no limit, the installation maximum) and resumes a charger only where
  the manager paused it; a pause of the user's stays; a manual change calls off a hand-back
  still due. Which chargers the manager paused and which it has still to hand back are stored,
  so that holds after a restart.

Time is float POSIX seconds from the clock passed in; daily departures are wall-clock times in the
zone passed in.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields, replace
from datetime import UTC, datetime, tzinfo
from typing import Any, Protocol

from custom_components.ocpp_ems.core.current_control import stop_outcome
from custom_components.ocpp_ems.core.errors import OcppEmsError
from custom_components.ocpp_ems.core.limits import LimitRules
from custom_components.ocpp_ems.core.model import Charger, ControlledBy, EvChargingNeeds
from custom_components.ocpp_ems.core.settings import PauseStrategy

from .charger_config import EmsOptions, charger_settings
from .charger_view import ChargerView
from .config import ChargerSettings, SiteSettings
from .controller import EnergyManager
from .discharge import DischargeEntity, DischargeWriter
from .energy_split import energy_mix, split_session
from .hand_back import HandBacks
from .learned import Learned
from .outlets import SharingOutlets
from .plan_learning import PlanLearning
from .pv_sleep import PvSleep
from .types import (
    ChargerCommand,
    ChargerDecision,
    ChargerInputs,
    Decision,
    Mode,
    Reading,
    Reason,
    SiteInputs,
)
from .write_retry import WriteRetries

_LOGGER = logging.getLogger(__name__)

# The stored form's key of what plans learned (``plan_learning.py``).
PLAN_KEY = "learned_plan_v1"
# ... and of the chargers the energy manager paused (by remote stop, or it would not be told).
PAUSED_KEY = "paused_by_manager"
# ... and the last usable PV readings (an inverter asleep since: ``pv_sleep.py``).
PV_LAST_KEY = "pv_last_usable"
# ... and of the chargers let go of and not handed back yet (refused, offline): after a restart
# they are recorded as nobody's, and would be left at the manager's last limit.
HAND_BACK_KEY = "hand_backs_due"
# ... as an older version stored them, with the limit each hand-back was to return to: read once
# (the current control keeps the user's own limit since, ``LimitState.user_a``; an older limit
# becomes it: ``HandBacks.older_limit``).
OLDER_HAND_BACK_KEY = "hand_back_due"
OLDER_HAND_BACK_LIMITS_KEY = "hand_back_limits"
# Run at least this often (s) even without events: a silent sensor must turn stale.
WATCHDOG_S = 30.0

_VIEW_FIELDS = frozenset(f.name for f in fields(ChargerView))


class CurrentControl(Protocol):
    """What the driver needs of a charger's current control (``core.current_control``)."""

    @property
    def rules(self) -> LimitRules: ...

    @property
    def effective_limit_a(self) -> float: ...

    @property
    def paused(self) -> bool: ...

    def pause_strategy(self) -> PauseStrategy: ...

    def set_controlled_by(self, controlled_by: ControlledBy) -> None: ...

    async def set_limit(
        self, amps: float | None, *, phases: int | None = None, by_manager: bool = False
    ) -> None: ...

    def set_user_limit(self, amps: float | None, phases: int | None) -> None: ...

    async def pause(self) -> None: ...

    async def resume(self) -> None: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class ChargerLink:
    """A charger under the energy manager: its model and how to reach its current control (whose
    limit rules follow the charger's options)."""

    model: Charger
    control: Callable[[], CurrentControl]  # its current control, looked up at each use


@dataclass(frozen=True, slots=True, kw_only=True)
class Timing:
    """When the driver wants to run again."""

    watchdog_s: float = WATCHDOG_S  # at least this often
    min_delay_s: float = 1.0  # a controller timer no sooner than this (the debounce)
    retry_s: float = 30.0  # after a failed write (the first wait of a run: backed_off)


@dataclass(frozen=True, slots=True, kw_only=True)
class Step:
    """What one decision asks of the HA layer."""

    decision: Decision
    writes: dict[str, ChargerCommand]  # send each with :meth:`EmsDriver.write`
    discharge_value: float | None  # set the discharge limit entity to this (its unit); None: leave
    wake_at: float  # run again by then


class EmsDriver:
    """The energy manager of one site, without Home Assistant."""

    def __init__(
        self,
        site: SiteSettings,
        options: EmsOptions,
        *,
        clock: Callable[[], float],
        zone: Callable[[], tzinfo] = lambda: UTC,
        timing: Callable[[], Timing] = Timing,
        on_shown: Callable[[], None] = lambda: None,
    ) -> None:
        """``on_shown`` is called when :attr:`decision` changed between decisions (a write failed
        or was taken: whether the manager waits for the charger): what shows it reads it again."""
        self._manager = EnergyManager(site)
        self._on_shown = on_shown
        self._site = site  # the user's: plans run with what was learned for their priors
        self._plan_learning = PlanLearning()  # the forecast's track record, the house load
        self._options = options
        self._clock = clock
        self._zone = zone
        self._timing = timing
        self._views: dict[str, ChargerView] = {}
        self._links: dict[str, ChargerLink] = {}
        self._settings: dict[str, ChargerSettings] = {}  # every linked charger's, Manual ones too
        self._active = True  # False: switched off, it controls no charger
        self._connected: dict[str, bool] = {}
        # How many outlets of each station share its limit, as last seen (the controller decides
        # the station's current; each outlet's limit is that divided among them: _write), and
        # by how many the last write each took was divided.
        self._sharing = SharingOutlets()
        self._outlets: dict[str, int] = {}
        self._outlets_taken: dict[str, int] = {}
        self._paused: set[str] = set()  # chargers the energy manager stopped (remote stop/start)
        # Each charger's running transactions as last seen: which one is new (_stop_new_sessions).
        self._transactions: dict[str, frozenset[str]] = {}
        # Each charger's run of failed writes and its last taken write (``write_retry.py``).
        self._retries = WriteRetries(lambda: self._timing().retry_s)
        # When each charger last took a live limit, as last seen in its model (any, its current
        # control's own refreshes too: _retry_if_it_answers).
        self._limit_taken_at: dict[str, datetime | None] = {}
        # Chargers let go of, to be named by :meth:`let_go`, then being handed back.
        self._hand_backs = HandBacks(lambda: self._timing().retry_s)
        # Writes of one charger run one at a time, and only the latest decision's: each is its own
        # task, and one that waits for the charger (a resume) must not land after a newer one.
        self._write_locks: dict[str, asyncio.Lock] = {}
        self._write_seq: dict[str, int] = {}
        self._decision: Decision | None = None
        self._discharge = DischargeWriter()  # the battery discharge limit's last write
        self._learned = Learned(self._manager)  # response times, battery maximum, car SoC
        self._pv_sleep = PvSleep()  # an inverter asleep reads 0 W

    # --- settings ----------------------------------------------------------------------------------
    @property
    def site(self) -> SiteSettings:
        """The site settings from the options (plans use learned values for two of them)."""
        return self._site

    def set_site(self, site: SiteSettings) -> None:
        self._site = site
        self._manager.set_site(site)

    def configure(self, site: SiteSettings, options: EmsOptions) -> None:
        """New site settings and options: every charger's settings are built again."""
        self._site = site
        self._manager.set_site(site)
        self._options = options
        now = self._clock()
        for charger_id in self._links:
            self._configure(charger_id, now)

    def forget_meter_signs(self) -> None:
        """Other meters were picked: what was seen of the old ones' signs goes
        (``meter_sign.py``)."""
        self._manager.site_memory.meter_signs.reset()

    def charger_view(self, charger_id: str) -> ChargerView:
        return self._views.setdefault(charger_id, ChargerView())

    def settings(self, charger_id: str) -> ChargerSettings:
        """The controller's settings of a charger now (built for a Manual charger too)."""
        return self._settings[charger_id]

    def update_charger(self, charger_id: str, changes: Mapping[str, Any]) -> None:
        """A user change to a charger's settings (``ChargerView`` fields), applied at once."""
        if unknown := set(changes) - _VIEW_FIELDS:
            raise TypeError(f"unknown charger settings {sorted(unknown)}")
        view = self.charger_view(charger_id)
        was_manual = view.mode is Mode.MANUAL
        for key, value in changes.items():
            setattr(view, key, value)
        if (link := self._links.get(charger_id)) is None:
            return
        if was_manual and view.mode is not Mode.MANUAL and link.control().paused:
            # Handed back while the user had paused it: the manager's next limit resumes it.
            self._paused.add(charger_id)
        self._configure(charger_id, self._clock())
        self._claim(charger_id)

    def boost(self, charger_id: str, until: float | None) -> None:
        """Full power until ``until`` (None ends a boost; kept across restarts in the view); not
        for a Manual charger."""
        if self._in_controller(charger_id):
            self._manager.boost(charger_id, until)
            self.charger_view(charger_id).boost_until = (
                None if until is None else datetime.fromtimestamp(until, UTC)
            )

    def _configure(self, charger_id: str, now: float) -> None:
        link = self._links[charger_id]
        view = self.charger_view(charger_id)
        settings = charger_settings(
            view,
            link.control().rules,
            self._options,
            now=now,
            zone=self._zone(),
            ev=_ev_needs(link.model),
            outlets=self._outlets[charger_id],
        )
        self._settings[charger_id] = settings
        if view.mode is Mode.MANUAL:
            # The user's: out of the controller (a fresh start when it is handed back: a boost
            # ends with the takeover, as it cannot be cancelled meanwhile).
            view.boost_until = None
            self._out_of_controller(charger_id)
        else:
            self._manager.set_charger(charger_id, settings)
            self._learned.charger_in(charger_id)
            # A boost that was running before a restart goes on (one that ended is forgotten).
            if view.boost_until is not None and view.boost_until.timestamp() <= now:
                view.boost_until = None
            if view.boost_until is not None:
                self._manager.boost(charger_id, view.boost_until.timestamp())

    # --- who controls a charger ------------------------------------------------------------------
    def set_active(self, active: bool) -> None:
        """Switched on or off: off, it controls none of its chargers any more; switched on
        again, it takes each one afresh (:meth:`_take_afresh`)."""
        switched_on = active and not self._active
        self._active = active
        for charger_id in self._links:
            if switched_on and self._in_controller(charger_id):
                self._take_afresh(charger_id)
            self._claim(charger_id)

    def _take_afresh(self, charger_id: str) -> None:
        """The manager takes a charger it let go of again: nothing of before stands, as for
        one whose entry reloads. Its run of failed writes is over: a hand-back answered since,
        even refused, left "not answering" shown and its writes held for the rest of the old
        wait (only a hand-back taken ended it). And what it wrote may have been handed back:
        its next decision is written at once."""
        self._retries.forget_run(charger_id)
        self._manager.invalidate(charger_id)

    def controlled_by(self, charger_id: str) -> ControlledBy:
        if not self._active or charger_id not in self._links:
            return ControlledBy.NONE
        if self._manual(charger_id):
            return ControlledBy.MANUAL
        return ControlledBy.ENERGY_MANAGER

    def _claim(self, charger_id: str) -> None:
        """Record who controls the linked charger in its current control; one the manager
        controlled until now is let go of (:meth:`let_go`)."""
        link = self._links[charger_id]
        # As recorded in the charger's model (kept across restarts), before this claim.
        was, now = link.model.limit.controlled_by, self.controlled_by(charger_id)
        link.control().set_controlled_by(now)
        if was is ControlledBy.ENERGY_MANAGER and now is not ControlledBy.ENERGY_MANAGER:
            self._hand_backs.let_go_of(charger_id)
        elif now is ControlledBy.ENERGY_MANAGER:
            self.cancel_hand_back(charger_id)

    def take_over(self, charger_id: str) -> None:
        """A manual change is about to be written: the charger becomes the user's (mode Manual),
        not handed back (the user's change follows)."""
        self.update_charger(charger_id, {"mode": Mode.MANUAL})
        self.cancel_hand_back(charger_id)

    def cancel_hand_back(self, charger_id: str) -> bool:
        """No hand-back of the charger from now on, nor the rest of one under way (the manager
        took it again, or the user's manual change follows: a hand-back must not override it).
        True if one was due (:meth:`hand_back_again` if the user's change failed)."""
        return self._hand_backs.cancel(charger_id)

    def hand_back_again(self, charger_id: str) -> None:
        """A hand-back called off for a manual change that failed is due again (named by the
        next :meth:`let_go`), unless the manager controls the charger again."""
        if not self._controls(charger_id):
            self._hand_backs.let_go_of(charger_id)

    def let_go(self) -> list[str]:
        """The chargers the manager let go of since the last call: hand each back
        (:meth:`hand_back`). One not linked now (its entry reloads) is named once it is again; one
        that refused the hand-back, once its retry time has come or it has reconnected."""
        connected = {charger_id: link.model.connected for charger_id, link in self._links.items()}
        return self._hand_backs.due(connected, self._clock())

    def next_hand_back_at(self) -> float | None:
        """When the next refused hand-back is due again (None: none waits for a time; one that
        found its charger offline waits for it to be back)."""
        return self._hand_backs.next_due(self._clock())

    async def hand_back(self, charger_id: str) -> float | None:
        """Hand a charger the manager let go of back to its user: no limit of the manager's stays
        (the user's own comes back, ``LimitState.user_a``, kept by the current control; none:
        it holds the installation maximum, ``LimitRules.limit_a``), and a
        charger the manager paused is resumed. A pause of the
        user's (the Charging enabled switch) stays. Runs in line with the writes, after the
        last one; nothing (nor the rest of it) once the manager took the charger again or a
        manual change called it off (:meth:`cancel_hand_back`).

        Returns when to try again after the charger refused or did not answer (it is let go of
        again: named by the next :meth:`let_go`), else None: left at the manager's last limit, a
        car held at 0 A would never charge."""
        seq = self._write_seq[charger_id] = self._write_seq.get(charger_id, 0) + 1
        async with self._write_locks.setdefault(charger_id, asyncio.Lock()):
            if self._write_seq.get(charger_id) != seq:
                return None  # a newer write or hand-back follows
            hand_backs = self._hand_backs
            token = hand_backs.token(charger_id)
            if token is None or self._controls(charger_id):
                return None
            if (link := self._links.get(charger_id)) is None:
                hand_backs.unlinked(charger_id)
                return None
            control = link.control()
            limit = link.model.limit
            try:
                await control.set_limit(limit.user_a, phases=limit.user_phases)
                # Not once the manager or the user has the charger again (it waited for the
                # charger meanwhile): a remote start would override them.
                if charger_id in self._paused and hand_backs.current(charger_id, token):
                    await control.resume()
                    self._paused.discard(charger_id)
            except OcppEmsError as err:
                if not hand_backs.current(charger_id, token):
                    return None  # called off meanwhile: not tried again
                return hand_backs.failed(charger_id, err, self._clock())
            self._end_failed_run(charger_id)  # (it answers: the manager's next write goes out)
            hand_backs.done(charger_id, token)
            return None

    def _manual(self, charger_id: str) -> bool:
        return self.charger_view(charger_id).mode is Mode.MANUAL

    def _controls(self, charger_id: str) -> bool:
        return self.controlled_by(charger_id) is ControlledBy.ENERGY_MANAGER

    def _in_controller(self, charger_id: str) -> bool:
        return charger_id in self._links and not self._manual(charger_id)

    # --- chargers ----------------------------------------------------------------------------------
    def add_charger(self, charger_id: str, link: ChargerLink) -> None:
        self._links[charger_id] = link
        self._connected[charger_id] = link.model.connected
        self._outlets[charger_id] = self._sharing.count(link.model, self._clock())
        self._limit_taken_at[charger_id] = link.model.limit.last_write
        self._learned.identify(charger_id, link.model.info)
        managed = link.model.limit.controlled_by is ControlledBy.ENERGY_MANAGER
        if (older := self._hand_backs.older_limit(charger_id, managed=managed)) is not None:
            link.control().set_user_limit(older.amps, older.phases)
        self._configure(charger_id, self._clock())
        self._claim(charger_id)

    def remove_charger(self, charger_id: str) -> None:
        if (link := self._links.pop(charger_id, None)) is not None:
            link.control().set_controlled_by(ControlledBy.NONE)
        self._connected.pop(charger_id, None)
        self._outlets.pop(charger_id, None)
        self._outlets_taken.pop(charger_id, None)
        self._settings.pop(charger_id, None)
        # (Its write order is kept, like its lock: a hand-back queued behind a write must not
        # look superseded when the charger's entry reloads meanwhile.)
        self._out_of_controller(charger_id)

    def _out_of_controller(self, charger_id: str) -> None:
        """The charger leaves the controller (taken over, or its entry unloads): the manager
        waits for nothing of it any more (back under the manager, its first write goes out at
        once and its reason is the controller's, not the old run's "not answering")."""
        self._learned.charger_out(charger_id)
        self._manager.remove_charger(charger_id)
        self._retries.forget_run(charger_id)

    def forget_charger(self, charger_id: str) -> None:
        """The charger was deleted (after :meth:`remove_charger`): accepted again, it starts
        afresh (the default mode, nothing learned, nothing paused or to hand back)."""
        self.remove_charger(charger_id)
        self._views.pop(charger_id, None)
        self._paused.discard(charger_id)
        self._transactions.pop(charger_id, None)
        self._retries.forget_charger(charger_id)
        self._limit_taken_at.pop(charger_id, None)
        self._hand_backs.forget(charger_id)
        self._write_seq.pop(charger_id, None)
        self._write_locks.pop(charger_id, None)
        self._learned.forget(charger_id)
        self._sharing.forget(charger_id)

    def charger_changed(self, charger_id: str) -> None:
        """The charger's model changed: after a reconnect what the charger holds is unknown, so
        the next decision is written again."""
        if (link := self._links.get(charger_id)) is None:
            return
        self._learned.identify(charger_id, link.model.info)
        connected = link.model.connected
        was_connected = self._connected.get(charger_id, False)
        if connected and not was_connected:
            self._end_failed_run(charger_id)  # a new connection is asked at once
            if self._in_controller(charger_id):
                self._manager.invalidate(charger_id)
        self._connected[charger_id] = connected
        self._count_outlets(charger_id, link, self._clock())
        self._retry_if_it_answers(charger_id, link)
        self._stop_new_sessions(charger_id, link)
        self._end_stop_wait_if_idle(charger_id, link)

    def _count_outlets(self, charger_id: str, link: ChargerLink, now: float) -> None:
        """How many outlets share the station's limit (``outlets.py``). Another car takes (or
        stops taking) it: the station's current is divided anew, and written at once (its
        settings follow at the next decision)."""
        if (sharing := self._sharing.count(link.model, now)) != self._outlets.get(charger_id):
            self._outlets[charger_id] = sharing
            if self._in_controller(charger_id):
                self._manager.invalidate(charger_id)

    def _retry_if_it_answers(self, charger_id: str, link: ChargerLink) -> None:
        """The charger took a live limit the manager did not send (its current control
        refreshes the live profile every few minutes): it answers again, so a run waiting for
        it to answer is tried again now, not after the rest of its wait (up to 10 min of "not
        answering" shown after the charger answered, the manager's writes held meanwhile)."""
        taken_at = link.model.limit.last_write
        if self._limit_taken_at.get(charger_id) == taken_at:
            return
        self._limit_taken_at[charger_id] = taken_at
        if self._retries.waits_for_an_answer(charger_id):
            self._retries.retry_at(charger_id, self._clock())

    def _stop_new_sessions(self, charger_id: str, link: ChargerLink) -> None:
        """A car that starts a transaction by itself (free vend, an RFID card) on a charger the
        manager stopped would charge at full current: its pause, written already, is written
        again (the stop of every transaction). Once per new transaction: a charger that refuses
        the stop is not asked again at every change of its model. A 0 A limit holds a new
        transaction by itself; a charger the manager does not control is left alone."""
        running = frozenset(link.model.running_transactions)
        started = running - self._transactions.get(charger_id, frozenset())
        self._transactions[charger_id] = running
        if (
            started
            and charger_id in self._paused
            and self._controls(charger_id)
            and link.control().pause_strategy() is PauseStrategy.REMOTE_STOP_START
        ):
            self._manager.invalidate(charger_id)

    # --- decisions ---------------------------------------------------------------------------------
    @property
    def decision(self) -> Decision | None:
        """The latest decision for the whole site (None before the first one)."""
        return self._decision

    def charger_decision(self, charger_id: str) -> ChargerDecision | None:
        return None if self._decision is None else self._decision.chargers.get(charger_id)

    def clear_decision(self) -> None:
        """Switched off: no decision stands any more."""
        self._decision = None

    def step(
        self, inputs: SiteInputs, now: float, discharge: DischargeEntity | None = None
    ) -> Step:
        """One decision for the inputs of ``now`` (``discharge``: the battery's discharge limit
        entity as it is, when one is configured)."""
        inputs = self._pv_sleep.apply(inputs, self._site, now)
        for charger_id, link in self._links.items():
            self._count_outlets(charger_id, link, now)  # (a car that left long enough ago)
            self._configure(charger_id, now)
        self._learned.resume_sessions(self._controlled())
        self._manager.set_site(self._plan_site(inputs, now, capped=discharge is not None))
        if back_s := self._manager.clock_went_back_s(now):
            self._clock_went_back(back_s)
        self._write_failed_again(now)
        decision = self._manager.update(inputs, now)
        if manual := {cid: self._manual_decision(cid) for cid in self._links if self._manual(cid)}:
            decision = replace(decision, chargers={**decision.chargers, **manual})
        decision = self._without_held_writes(decision)
        self._decision = decision
        for charger_id, charger in inputs.chargers.items():
            self._split_energy(charger_id, charger, inputs)
        value = (
            None
            if discharge is None
            else self.discharge_write(decision.battery_discharge_limit_w, discharge, now)
        )
        timing = self._timing()
        wake = now + timing.watchdog_s
        if decision.next_update_at is not None:
            wake = min(wake, max(decision.next_update_at, now + timing.min_delay_s))
        # (A later decision's wake-up replaces the retry time a failed write asked for.)
        wake = min([wake, *self._retries.retry_times()])
        if (leaves := self._sharing.next_change_at(now)) is not None:
            wake = min(wake, max(leaves, now + timing.min_delay_s))
        # A raise the write interval holds back is due when it ends, not at the next watchdog
        # (meanwhile the house takes from the grid what the battery could give).
        if (
            due := self._discharge.raise_due_at(
                value,
                decision.battery_discharge_limit_w,
                discharge,
                now=now,
                interval_s=self._options.min_write_interval_s,
            )
        ) is not None:
            wake = min(wake, max(due, now + timing.min_delay_s))
        return Step(
            decision=decision,
            writes={
                charger_id: charger.write
                for charger_id, charger in decision.chargers.items()
                if charger.write is not None
            },
            discharge_value=value,
            wake_at=wake,
        )

    def _without_held_writes(self, decision: Decision) -> Decision:
        """The decision with no write where the charger's writes are held (:meth:`_held`), and
        saying so where they wait for the charger (:meth:`_waiting_decision`): what reads it
        (the reason sensor) must not show a write that was not sent, nor the controller's reason
        alone (the user could not tell the manager waits for the charger); its target stays
        what the controller wants."""
        waiting = {
            charger_id: shown
            for charger_id, charger in decision.chargers.items()
            if (shown := self._waiting_decision(charger_id, charger)) is not None
        }
        return replace(decision, chargers={**decision.chargers, **waiting}) if waiting else decision

    def _waiting_decision(
        self, charger_id: str, charger: ChargerDecision
    ) -> ChargerDecision | None:
        """The charger's decision while the manager waits for it (None: it does not): its write
        held, the charger left the last one unanswered; else, until a write is taken, what it
        waits for (``WriteRetries.record_outcome``), also while a write is on its way: a charger
        that does not answer, or one that refused a limit, or the stop the controller still
        wants."""
        if charger.write is not None and (why := self._held(charger_id, charger.write)):
            held = replace(charger, write=None)
            return self._told_waiting(held, why) or held
        reason = self._retries.waits_for(charger_id)
        if reason is None or not self._in_controller(charger_id):
            return None
        stop_wanted_no_more = self._retries.stop_waits(charger_id) and not charger.target.paused
        if reason is Reason.CHARGER_REFUSED and stop_wanted_no_more:
            return None  # (the stop it refused: a limit goes out at once, nothing waits)
        return self._told_waiting(charger, reason)

    def _show_again(
        self, charger_id: str, written: ChargerCommand | None, *, rewritten: bool
    ) -> None:
        """A write of the charger (``written``; None: none, a new connection) failed or was
        taken: the latest decision is shown again, its entry by the rule of every decision
        (:meth:`_waiting_decision`), so the reason says at once whether the manager waits for
        the charger (not at the next decision, up to the watchdog later). No new decision: the
        controller would step, and a write refused would go out again at once. ``rewritten``:
        the controller forgot the failed write (the next decision writes its target again); else
        it counts as written (a stop that waits), and a newer decision's own write (queued
        behind it) is still to go out, judged as :meth:`_write` judges it."""
        if self._decision is None or (shown := self._decision.chargers.get(charger_id)) is None:
            return
        own = _controllers(shown)
        pending = replace(own, write=_still_to_write(own, written, rewritten=rewritten))
        entry = self._waiting_decision(charger_id, pending) or own
        if entry != shown:
            chargers = {**self._decision.chargers, charger_id: entry}
            self._decision = replace(self._decision, chargers=chargers)
            self._on_shown()

    def _told_waiting(self, charger: ChargerDecision, reason: Reason) -> ChargerDecision | None:
        """``charger``'s decision saying it waits for the charger (``reason``), until the run's
        latest retry where that time is known (the next one; through its round trip, the one
        under way), the controller's reason kept beside it; None for a charger offline: it says
        that (its connection's return ends the wait)."""
        if charger.reason is Reason.CHARGER_UNAVAILABLE:
            return None
        return replace(
            charger,
            reason=reason,
            until=self._retries.shown_until(charger.charger_id),
            controller_reason=charger.reason,
            controller_until=charger.until,
        )

    def _clock_went_back(self, back_s: float) -> None:
        """The wall clock went back (the controller tells, ``EnergyManager.clock_went_back_s``):
        the discharge limit's last write moves back with it, as the controller's times do, or
        its write interval would hold a raise the jump longer; the retry and taken times of runs
        of failed writes move back too. (A refused hand-back's retry is due no later than the
        retry time from now: ``HandBackRetries.due_at``; with the manager switched off no step
        runs to tell.)"""
        self._discharge.clock_went_back(back_s)
        self._retries.clock_went_back(back_s)

    def _write_failed_again(self, now: float) -> None:
        """A failed write whose wait is over (:meth:`_write_again_later`) is written again (the
        controller forgets it); the charger's writes are no longer held. (The reason says the
        manager waits for the charger until a write is taken: :meth:`_waiting_decision`.)"""
        for charger_id in self._retries.due(now):
            if not self._in_controller(charger_id):
                continue
            if self._retries.refusing_limits(charger_id):
                self._manager.write_refused_again(charger_id)
            else:
                self._manager.invalidate(charger_id)

    def _manual_decision(self, charger_id: str) -> ChargerDecision:
        """A Manual charger's decision: nothing to write; its target is the limit in force."""
        control = self._links[charger_id].control()
        phases = self._settings[charger_id].phases
        amps = control.effective_limit_a
        target = (
            ChargerCommand.pause(phases)
            if control.paused or amps <= 0.0
            else ChargerCommand(current_a=amps, phases=phases)
        )
        return ChargerDecision(
            charger_id=charger_id,
            target=target,
            write=None,
            reason=Reason.MANUAL,
            surplus_share_w=0.0,
        )

    def _split_energy(self, charger_id: str, charger: ChargerInputs, inputs: SiteInputs) -> None:
        """Split the session's new energy by the power mix seen at the previous update."""
        if (link := self._links.get(charger_id)) is None:
            return
        view = self.charger_view(charger_id)
        transaction = next(iter(link.model.running_transactions), None)
        if transaction is None and any(
            c.last_transaction is not None
            and c.last_transaction.transaction_id == view.split.transaction_id
            for c in link.model.outlets
        ):
            # The session we followed just ended: the energy of its end message is still its own
            # (``session_energy_wh`` is the ended session's then), by the mix seen before it.
            transaction = view.split.transaction_id
        mix = energy_mix(
            grid_w=_value(inputs.grid_w),
            pv_w=_value(inputs.pv_w),
            battery_w=_value(inputs.battery_w),
            ev_w=_value(charger.power_w) or 0.0,
        )
        view.split = split_session(
            view.split, transaction_id=transaction, energy_wh=charger.session_energy_wh, mix=mix
        )
        if link.model.energy_settled:
            view.settled = True

    def _plan_site(self, inputs: SiteInputs, now: float, *, capped: bool) -> SiteSettings:
        """The site settings the manager runs with: what plans learned in place of their priors,
        the battery's charging power and capacity as measured, the site's time zone, and whether
        a discharge limit can be set now (``capped``: the entity is there and takes a power; a
        limit none can set keeps nothing from the car: ``controller._fall_back``)."""
        zone = self._zone()
        site = self._plan_learning.update(self._site, inputs, now, zone)
        memory = self._manager.site_memory
        plan = replace(
            site.plan,
            battery_charge_w=memory.battery_accept_w,
            battery_capacity_wh=memory.battery_capacity_wh,
            zone=zone,
        )
        battery = site.battery
        if not capped and battery.emit_discharge_limit:
            battery = replace(battery, emit_discharge_limit=False)
        return replace(site, plan=plan, battery=battery)

    def discharge_write(
        self,
        limit_w: float | None,
        entity: DischargeEntity,
        now: float,
        *,
        force: bool = False,
    ) -> float | None:
        """The value to give the discharge limit entity now, if any (recorded as written).
        ``limit_w`` None with ``force``: give the battery its maximum back at once."""
        interval_s = self._options.min_write_interval_s
        return self._discharge.write(limit_w, entity, now, interval_s=interval_s, force=force)

    # --- writes ------------------------------------------------------------------------------------
    async def write(self, charger_id: str, command: ChargerCommand) -> float | None:
        """Send one command through the charger's current control (the only path to it).

        Returns when to try again after a failed write (the controller forgot it), else None.
        Writes of one charger run in the order of the decisions, and one that a newer decision's
        write already follows is dropped.
        """
        seq = self._write_seq[charger_id] = self._write_seq.get(charger_id, 0) + 1
        async with self._write_locks.setdefault(charger_id, asyncio.Lock()):
            if self._write_seq.get(charger_id) != seq:
                return None  # superseded by a newer decision (queued behind this one)
            return await self._write(charger_id, command)

    async def _write(self, charger_id: str, command: ChargerCommand) -> float | None:
        # Checked before every call: once the user took the charger over, or the manager was
        # switched off, nothing more of a decision goes out.
        if not self._controls(charger_id) or self._held(charger_id, command):
            return None
        control = self._links[charger_id].control()
        # Phases go to the charger only where it switches them; otherwise the controller uses the
        # phases the car really draws on (a 1p car on a 3p charger must not get a 3p W limit).
        phases = command.phases if self._settings[charger_id].can_switch_phases else None
        # Only a charger we stopped is started again (never one the user stopped).
        resume = not command.paused and charger_id in self._paused
        stop = command.paused and control.pause_strategy() is PauseStrategy.REMOTE_STOP_START
        self._retries.sending(charger_id, stop=stop)  # (a stop on its way: a session end ends it)
        try:
            if stop:
                self._paused.add(charger_id)
                await control.pause()
            elif command.paused:
                await control.set_limit(0.0, phases=phases, by_manager=True)
            else:
                # The limit is in place before a remote start; a station's current is divided
                # among the outlets that share its limit (each takes the limit written).
                outlets = self._outlets.get(charger_id, 1)
                await control.set_limit(command.current_a / outlets, phases=phases, by_manager=True)
                self._outlets_taken[charger_id] = outlets
                if resume and self._controls(charger_id):  # (not if taken over meanwhile)
                    await control.resume()
                    self._paused.discard(charger_id)
        except OcppEmsError as err:
            moot = self._retries.stop_wait_ended(charger_id, stop=stop)
            self._write_failed(charger_id, err, moot=moot)
            if moot or not self._in_controller(charger_id):
                return None  # nothing left to stop, or gone / taken over: nothing to write again
            return self._write_again_later(charger_id, command, stop_outcome(err), stop=stop)
        self._retries.took(charger_id, command, self._clock())
        self._show_again(charger_id, command, rewritten=False)
        return None

    def _write_again_later(
        self, charger_id: str, command: ChargerCommand, err: OcppEmsError, *, stop: bool
    ) -> float:
        """When to write again after a failed write (the HA layer wakes then; how long it waits:
        ``WriteRetries.failed``). A write refused, and a stop that waits, stay written meanwhile
        (not asked at every decision: ``_write_failed_again``; the controller writes only a new
        target, and counts the draw above what it wrote as the house's: the fuse shares of the
        others make room for it, not its own: ``fuse.share_fuse``); an unanswered limit is
        forgotten by the controller (its writes are held). Any other failure (offline, a limit
        refused once: ``WriteRetries.forgives``) is forgotten and written again by the next
        decision. A refused limit is no write the car's draw shows (``EnergyManager.refused``)."""
        now = self._clock()
        failed = self._retries.failed(charger_id, command, err, stop=stop, now=now)
        if failed.refused and not stop:
            self._manager.refused(charger_id, command)
        if failed.forgiven:
            self._forget_refused(charger_id, command, now)
        elif not failed.stays_written:
            self._manager.invalidate(charger_id)
        self._show_again(charger_id, command, rewritten=not failed.stays_written)
        return failed.retry_at

    def _forget_refused(self, charger_id: str, refused: ChargerCommand, now: float) -> None:
        """The controller forgets a forgiven refusal (``WriteRetries.forgives``): within the write
        interval of the charger's last taken write it counts from that write again (a raise
        asked again at once came sooner than the interval allows: a charger refusing every
        other write took 40 raises in 10 min too early), else, or where a newer decision's
        write follows the refused one, the next decision writes the target afresh."""
        last_taken = self._retries.last_taken(charger_id)
        memory = self._manager.memory(charger_id)
        interval_s = self._settings[charger_id].min_write_interval_s
        if (
            last_taken is None
            or memory is None
            or memory.last_write != refused
            or now >= last_taken[1] + interval_s
            # (Divided among another number of cars: what the station holds is not that write.)
            or self._outlets_taken.get(charger_id, 1) != self._outlets.get(charger_id, 1)
        ):
            self._manager.invalidate(charger_id)
        else:
            self._manager.rewind_refused(charger_id, *last_taken)

    def _end_stop_wait_if_idle(self, charger_id: str, link: ChargerLink) -> None:
        """A stop on its way or waiting for the charger (refused or unanswered) is over once no
        transaction runs on it (the car ended the session): nothing is left to stop, the manager
        waits for nothing, not even for the stop's answer, and the stop counts as written (no
        stop goes to a charger with nothing to stop; a transaction started later is stopped:
        :meth:`_stop_new_sessions`)."""
        if self._retries.stop_waits(charger_id) and not link.model.running_transactions:
            self._end_failed_run(charger_id)

    def _held(self, charger_id: str, command: ChargerCommand) -> Reason | None:
        """Why ``command`` waits, None: it goes out. The charger left the last write unanswered
        (by the rule of ``WriteRetries.held``): the controller forgets it. Or it waits for the
        retry of the charger's refusals (``WriteRetries.held_after_refusal``): the controller
        counts it as written and refused, as if the charger had answered it so (the car's draw
        above it is the house's to the other chargers' fuse shares, and no meter sample will
        show it). Either way the decision at the end of the wait is written."""
        if self._retries.held(charger_id, command):
            if self._in_controller(charger_id):
                self._manager.invalidate(charger_id)
            return Reason.CHARGER_NOT_ANSWERING
        if self._retries.held_after_refusal(charger_id, command):
            if self._in_controller(charger_id):
                self._manager.refused(charger_id, command)
            return Reason.CHARGER_REFUSED
        return None

    def _end_failed_run(self, charger_id: str) -> None:
        """The charger took a hand-back, connected anew, or a stop that waited has nothing left
        to stop: the next write goes out at once, a later failure waits the first wait again and
        is told again (``WriteRetries.forget_run``), and its decision no longer says the manager
        waits for it."""
        self._retries.forget_run(charger_id)
        self._show_again(charger_id, None, rewritten=False)

    def _write_failed(self, charger_id: str, err: OcppEmsError, *, moot: bool) -> None:
        """Log a failed write; each kind of failure once per run of failed writes
        (:class:`FailureRuns`), the rest of the run at debug (a charger refusing every limit, or
        leaving every write unanswered, warned at every retry, forever), and a ``moot`` one
        (``WriteRetries.stop_wait_ended``) at debug."""
        warn = not moot and self._retries.first_of_run(stop_outcome(err), charger_id)
        _LOGGER.log(
            logging.WARNING if warn else logging.DEBUG,
            "Energy manager could not set charger %s: %s",
            charger_id,
            err,
        )

    # --- what was learned ---------------------------------------------------------------------------
    def learned(self) -> dict[str, Any]:
        """The learned response times, battery maximum and what plans learned, in use now
        (diagnostics)."""
        summary = self._learned.summary(self._links)
        if self._plan_learning.learned:
            summary["plan"] = self._plan_learning.summary(self._site.plan)
        return summary

    def _controlled(self) -> dict[str, Charger]:
        """The models of the chargers in the controller."""
        return {cid: link.model for cid, link in self._links.items() if self._in_controller(cid)}

    # --- stored form -------------------------------------------------------------------------------
    def dump(self) -> dict[str, Any]:
        """The stored form of every charger's view, what was learned, the chargers the manager
        paused, and those it still has to hand back."""
        return {
            "chargers": {cid: view.to_dict() for cid, view in self._views.items()},
            **self._learned.dump(self._controlled()),
            **({PLAN_KEY: self._plan_learning.to_dict()} if self._plan_learning.learned else {}),
            **({PAUSED_KEY: sorted(self._paused)} if self._paused else {}),
            **({HAND_BACK_KEY: sorted(due)} if (due := self._hand_backs.pending) else {}),
            **({PV_LAST_KEY: last} if (last := self._pv_sleep.to_dict()) else {}),
        }

    def load(self, data: object) -> None:
        """Views back from :meth:`dump`'s form; anything unreadable is skipped."""
        if isinstance(data, Mapping):
            self._learned.load(data, self._controlled())
            if isinstance(plan := data.get(PLAN_KEY), Mapping):
                self._plan_learning = PlanLearning.from_dict(plan)
            if isinstance(paused := data.get(PAUSED_KEY), list):
                self._paused.update(str(charger_id) for charger_id in paused)
            self._pv_sleep.load(data.get(PV_LAST_KEY))
            self._hand_backs.load(
                data.get(HAND_BACK_KEY),
                older_due=data.get(OLDER_HAND_BACK_KEY),
                older_limits=data.get(OLDER_HAND_BACK_LIMITS_KEY),
            )
        chargers = data.get("chargers") if isinstance(data, Mapping) else None
        if not isinstance(chargers, Mapping):
            return
        for charger_id, stored in chargers.items():
            if isinstance(stored, Mapping):
                self._views[str(charger_id)] = ChargerView.from_dict(stored)


def _value(reading: Reading | None) -> float | None:
    return None if reading is None else reading.value


def _ev_needs(charger: Charger) -> EvChargingNeeds | None:
    """What the car at this charger asked for (ISO 15118, OCPP 2.x), if any outlet has one."""
    return next(
        (c.ev_charging_needs for c in charger.outlets if c.ev_charging_needs is not None), None
    )


def _controllers(charger: ChargerDecision) -> ChargerDecision:
    """``charger``'s decision as the controller made it (no longer saying the manager waits for
    the charger: :meth:`EmsDriver._told_waiting`)."""
    if charger.controller_reason is None:
        return charger
    return replace(
        charger,
        reason=charger.controller_reason,
        until=charger.controller_until,
        controller_reason=None,
        controller_until=None,
    )


def _still_to_write(
    own: ChargerDecision, written: ChargerCommand | None, *, rewritten: bool
) -> ChargerCommand | None:
    """What the controller's decision ``own`` has still to write once ``written`` failed or was
    taken: its target when the controller forgot the failed write (``rewritten``), else its own
    write unless that is ``written`` (a newer decision's, queued behind it)."""
    if rewritten:
        return own.target
    return None if own.write == written else own.write
