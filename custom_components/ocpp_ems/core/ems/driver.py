"""The energy manager's driver: everything between the site's inputs and the writes to chargers.

The controller (:class:`~.controller.EnergyManager`) decides limits from inputs; the driver
runs it for one site and owns what lies around it, with no Home Assistant in sight (the HA layer,
``energy_manager.py``, reads sensors into :class:`SiteInputs`, keeps the store and the timers, and
calls the driver):

* each charger's user settings (:class:`ChargerView`) and their stored form (:meth:`dump`,
  :meth:`load`);
* the controller's settings of each charger, rebuilt from the view, the charger's quirk settings
  and its model before every decision (``charger_config.py``);
* one decision (:meth:`step`): the controller's update, each session's energy by source
  (``energy_split.py``), the battery discharge limit to write (``discharge.py``), when to run
  again (``next_update_at``, at least every ``watchdog_s``);
* the writes (:meth:`write`) through each charger's current control (:class:`CurrentControl`, the
  core's ``CurrentController``): a pause is a 0 A limit, or a stop for a charger that pauses by
  remote stop / start, resumed only where the energy manager paused it; a failed write, and a
  charger that reconnects, are forgotten by the controller so the next decision is written again.

Time is float POSIX seconds from the clock passed in; daily departures are wall-clock times in the
zone passed in.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from datetime import UTC, tzinfo
from typing import Any, Protocol

from custom_components.ocpp_ems.core.errors import OcppEmsError
from custom_components.ocpp_ems.core.model import Charger
from custom_components.ocpp_ems.core.settings import ChargerSettings as QuirkSettings
from custom_components.ocpp_ems.core.settings import PauseStrategy

from .charger_config import EmsOptions, charger_settings, current_bounds
from .charger_view import ChargerView
from .config import ChargerSettings, SiteSettings
from .controller import EnergyManager
from .discharge import DischargeEntity, discharge_value
from .energy_split import energy_mix, split_session
from .types import ChargerCommand, ChargerDecision, ChargerInputs, Decision, Reading, SiteInputs

_LOGGER = logging.getLogger(__name__)

# Run at least this often (s) even without events: a silent sensor must turn stale.
WATCHDOG_S = 30.0

_VIEW_FIELDS = frozenset(f.name for f in fields(ChargerView))


class CurrentControl(Protocol):
    """What the driver needs of a charger's current control (``core.current_control``)."""

    def pause_strategy(self) -> PauseStrategy: ...

    async def set_limit(self, amps: float | None, *, phases: int | None = None) -> None: ...

    async def pause(self) -> None: ...

    async def resume(self) -> None: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class ChargerLink:
    """A charger under the energy manager: its model and how to reach its settings and control."""

    model: Charger
    quirks: Callable[[], QuirkSettings]  # its quirk settings now (they follow its options)
    control: Callable[[], CurrentControl]  # its current control, looked up at each write


@dataclass(frozen=True, slots=True, kw_only=True)
class Timing:
    """When the driver wants to run again."""

    watchdog_s: float = WATCHDOG_S  # at least this often
    min_delay_s: float = 1.0  # a controller timer no sooner than this (the debounce)
    retry_s: float = 30.0  # after a failed write


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
    ) -> None:
        self._manager = EnergyManager(site)
        self._options = options
        self._clock = clock
        self._zone = zone
        self._timing = timing
        self._views: dict[str, ChargerView] = {}
        self._links: dict[str, ChargerLink] = {}
        self._connected: dict[str, bool] = {}
        self._paused: set[str] = set()  # chargers the energy manager stopped (remote stop/start)
        self._decision: Decision | None = None
        self._discharge_written_at = float("-inf")

    # --- settings ----------------------------------------------------------------------------------
    @property
    def site(self) -> SiteSettings:
        """The site settings the controller runs with now."""
        return self._manager.site

    def set_site(self, site: SiteSettings) -> None:
        self._manager.set_site(site)

    def configure(self, site: SiteSettings, options: EmsOptions) -> None:
        """New site settings and options: every charger's settings are built again."""
        self._manager.set_site(site)
        self._options = options
        now = self._clock()
        for charger_id in self._links:
            self._configure(charger_id, now)

    def charger_view(self, charger_id: str) -> ChargerView:
        return self._views.setdefault(charger_id, ChargerView())

    def settings(self, charger_id: str) -> ChargerSettings:
        """The controller's settings of a charger now."""
        return self._manager.charger(charger_id)

    def current_bounds(self, charger_id: str) -> tuple[float, float]:
        """What the charger takes: its minimum current and the installation maximum."""
        return current_bounds(self._links[charger_id].quirks())

    def update_charger(self, charger_id: str, changes: Mapping[str, Any]) -> None:
        """A user change to a charger's settings (``ChargerView`` fields), applied at once."""
        if unknown := set(changes) - _VIEW_FIELDS:
            raise TypeError(f"unknown charger settings {sorted(unknown)}")
        view = self.charger_view(charger_id)
        for key, value in changes.items():
            setattr(view, key, value)
        if charger_id in self._links:
            self._configure(charger_id, self._clock())

    def boost(self, charger_id: str, until: float | None) -> None:
        """Full power until ``until`` (None ends a boost)."""
        self._manager.boost(charger_id, until)

    def _configure(self, charger_id: str, now: float) -> None:
        link = self._links[charger_id]
        settings = charger_settings(
            self.charger_view(charger_id),
            link.quirks(),
            link.model,
            self._options,
            now=now,
            zone=self._zone(),
        )
        self._manager.set_charger(charger_id, settings)

    # --- chargers ----------------------------------------------------------------------------------
    def add_charger(self, charger_id: str, link: ChargerLink) -> None:
        self._links[charger_id] = link
        self._connected[charger_id] = link.model.connected
        self._configure(charger_id, self._clock())

    def remove_charger(self, charger_id: str) -> None:
        self._links.pop(charger_id, None)
        self._connected.pop(charger_id, None)
        self._paused.discard(charger_id)
        self._manager.remove_charger(charger_id)

    def charger_changed(self, charger_id: str) -> None:
        """The charger's model changed: after a reconnect what the charger holds is unknown, so
        the next decision is written again."""
        if (link := self._links.get(charger_id)) is None:
            return
        connected = link.model.connected
        if connected and not self._connected.get(charger_id, False):
            self._manager.invalidate(charger_id)
        self._connected[charger_id] = connected

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
        for charger_id in self._links:
            self._configure(charger_id, now)
        decision = self._manager.update(inputs, now)
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

    def _split_energy(self, charger_id: str, charger: ChargerInputs, inputs: SiteInputs) -> None:
        """Split the session's new energy by the power mix seen at the previous update."""
        if (link := self._links.get(charger_id)) is None:
            return
        view = self.charger_view(charger_id)
        transaction = next(
            (c.transaction.transaction_id for c in link.model.outlets if c.transaction is not None),
            None,
        )
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
        value = discharge_value(
            limit_w,
            entity,
            now=now,
            written_at=self._discharge_written_at,
            interval_s=self._options.min_write_interval_s,
            force=force,
        )
        if value is not None:
            self._discharge_written_at = now
        return value

    # --- writes ------------------------------------------------------------------------------------
    async def write(self, charger_id: str, command: ChargerCommand) -> float | None:
        """Send one command through the charger's current control (the only path to it).

        Returns when to try again after a failed write (the controller forgot it), else None.
        """
        if (link := self._links.get(charger_id)) is None:
            return None
        control = link.control()
        # Phases go to the charger only where it switches them; otherwise the controller uses the
        # phases the car really draws on (a 1p car on a 3p charger must not get a 3p W limit).
        phases = command.phases if self._manager.charger(charger_id).can_switch_phases else None
        try:
            if command.paused and control.pause_strategy() is PauseStrategy.ZERO_LIMIT:
                await control.set_limit(0.0, phases=phases)
            elif command.paused:
                self._paused.add(charger_id)
                await control.pause()
            else:
                if charger_id in self._paused:
                    # Only a charger we stopped is started again (never one the user stopped).
                    await control.resume()
                    self._paused.discard(charger_id)
                await control.set_limit(command.current_a, phases=phases)
        except OcppEmsError as err:
            _LOGGER.warning("Energy manager could not set charger %s: %s", charger_id, err)
            if charger_id not in self._links:
                return None
            self._manager.invalidate(charger_id)
            return self._clock() + self._timing().retry_s
        return None

    # --- stored form -------------------------------------------------------------------------------
    def dump(self) -> dict[str, Any]:
        """The stored form of every charger's view."""
        return {"chargers": {cid: view.to_dict() for cid, view in self._views.items()}}

    def load(self, data: object) -> None:
        """Views back from :meth:`dump`'s form; anything unreadable is skipped."""
        chargers = data.get("chargers") if isinstance(data, Mapping) else None
        if not isinstance(chargers, Mapping):
            return
        for charger_id, stored in chargers.items():
            if isinstance(stored, Mapping):
                self._views[str(charger_id)] = ChargerView.from_dict(stored)


def _value(reading: Reading | None) -> float | None:
    return None if reading is None else reading.value
