"""The energy manager: one ``update(inputs, now)`` turns measurements into per-charger limits.

It is event driven and cheap: the HA side calls it on every input change (debounced to about a
second) and again at ``Decision.next_update_at`` when a delay runs out. Nothing here sleeps, reads a
clock or does I/O, so tests and the day benchmark drive it with a fake clock.

One update:
1. judge staleness of the inputs each charger's mode needs;
2. work out what each charger wants ("full": Fast, boost, minimum charge, planned slot;
   "min_solar"; "solar");
3. share the solar surplus: full chargers first, then every minimum, then equal shares; run the
   enable/disable and 1p/3p timers;
4. share the fuse headroom per phase (minimums first, then equal shares, by priority);
5. pass each target through the write limiter (decreases at once, raises rate limited and
   deadbanded, so a charger is only written on a real change).

Each charger's reason says what the manager does now, set in the step that decides it, together
with ``until`` when that is a wait with an end, read off the timer that runs it (start and stop
delays, 1p/3p delays and settle time, the write interval, a stale input's grace, a boost, the next
planned slot). Reasons never feed back into the limits, except the fuse's own (``FUSE_LIMIT``:
written at once, rounded down) and a planned slot's fuse priority.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum

from .allocation import Claim, share
from .config import ChargerSettings, PlanTarget, SiteSettings
from .plan import plan_status
from .surplus import Balance, fuse_headroom, site_balance
from .timers import HoldTimer
from .types import (
    ChargerCommand,
    ChargerDecision,
    ChargerInputs,
    Decision,
    Mode,
    PhaseReading,
    Reading,
    Reason,
    SiteInputs,
    StaleFallback,
)

_EPS = 1e-6
_LINES = ("L1", "L2", "L3")
# A car in a planned slot fills the fuse before the others (they keep their minimums): the plan
# was sized for its full power, and an equal share could make it miss the departure.
_PLAN_PRIORITY = 1_000_000


class _Kind(StrEnum):
    PAUSED = "paused"  # fixed pause (off, not plugged, target reached...)
    FULL = "full"  # as much as allowed
    MIN_SOLAR = "min_solar"  # min current plus a share of the surplus
    SOLAR = "solar"  # surplus only


@dataclass(slots=True)
class _State:
    """What the controller remembers about one charger between updates."""

    phases: int
    active: bool = False  # solar charging switched on (enable/disable hysteresis)
    activated_at: float = 0.0
    started_once: bool = False  # since plug-in (the first start may skip the enable delay)
    enable: HoldTimer = field(default_factory=HoldTimer)
    disable: HoldTimer = field(default_factory=HoldTimer)
    phase_up: HoldTimer = field(default_factory=HoldTimer)
    phase_down: HoldTimer = field(default_factory=HoldTimer)
    last_switch_at: float = -math.inf
    last_write: ChargerCommand | None = None
    last_write_at: float = -math.inf
    started_at: float = -math.inf  # last write that started the car or switched its phases
    stale_since: float | None = None
    boost_until: float | None = None
    was_plugged: bool = False
    car_limit_a: float | None = None  # the car was seen taking no more than this
    # The car's last known SoC and the session energy then: a SoC plan goes on with an estimate
    # while the SoC sensor is unavailable (flaky car APIs) instead of dropping the plan.
    soc_seen: tuple[float, float] | None = None
    # Write limiter: signed energy (Wh) the written limit let the car take more (+, grid import)
    # or less (-, unused PV) than its target since the last write; the rate (W) since error_at.
    error_wh: float = 0.0
    error_w: float = 0.0
    error_at: float | None = None


@dataclass(slots=True)
class _Work:
    """Per-update scratch for one charger."""

    cid: str
    cfg: ChargerSettings
    state: _State
    inputs: ChargerInputs
    kind: _Kind = _Kind.PAUSED
    reason: Reason = Reason.OFF
    until: float | None = None  # when the wait the reason names ends (only set by ``say``)
    draw_w: float = 0.0
    line_currents: tuple[float, float, float] = (0.0, 0.0, 0.0)
    vehicle_phases: int = 3
    share_w: float = 0.0
    target_a: float = 0.0
    stale: bool = False
    plan_feasible: bool = True
    switched: bool = False
    fuse_cap_a: float = math.inf  # what the fuse share granted (rounding must not exceed it)
    drop_now: bool = False  # a small drop the fuse cannot wait for (no headroom to hold it)

    def say(self, reason: Reason, until: float | None = None) -> None:
        """Set the reason and the end of its wait together (a new reason drops the old end)."""
        self.reason = reason
        self.until = until


class EnergyManager:
    """Solar, battery, plan and fuse aware charge controller for any number of chargers."""

    def __init__(
        self,
        site: SiteSettings | None = None,
        chargers: Mapping[str, ChargerSettings] | None = None,
    ) -> None:
        self._site = site or SiteSettings()
        self._chargers: dict[str, ChargerSettings] = {}
        self._states: dict[str, _State] = {}
        self._now = 0.0
        self._discharge_limit: float | None = None
        for cid, cfg in (chargers or {}).items():
            self.set_charger(cid, cfg)

    # --- configuration (user actions take effect on the next update) ---------------------------
    @property
    def site(self) -> SiteSettings:
        return self._site

    def set_site(self, site: SiteSettings) -> None:
        self._site = site

    def set_charger(self, charger_id: str, settings: ChargerSettings) -> None:
        self._chargers[charger_id] = settings
        if charger_id not in self._states:
            self._states[charger_id] = _State(phases=settings.phases)
        elif not settings.can_switch_phases:
            self._states[charger_id].phases = settings.phases

    def remove_charger(self, charger_id: str) -> None:
        self._chargers.pop(charger_id, None)
        self._states.pop(charger_id, None)

    def charger(self, charger_id: str) -> ChargerSettings:
        return self._chargers[charger_id]

    def set_mode(self, charger_id: str, mode: Mode) -> None:
        self._chargers[charger_id] = replace(self._chargers[charger_id], mode=mode)

    def set_plan(self, charger_id: str, plan: PlanTarget | None) -> None:
        """Plan a charge (energy or SoC by departure); the mode becomes Plan while one is set."""
        cfg = self._chargers[charger_id]
        mode = (
            Mode.PLAN if plan is not None else (Mode.SOLAR if cfg.mode is Mode.PLAN else cfg.mode)
        )
        self._chargers[charger_id] = replace(cfg, plan=plan, mode=mode)

    def boost(self, charger_id: str, until: float | None) -> None:
        """Full power until ``until`` (None cancels), whatever the mode but Off."""
        self._states[charger_id].boost_until = until

    def invalidate(self, charger_id: str) -> None:
        """Forget the last write (write failed, charger rebooted): the next update writes again."""
        state = self._states[charger_id]
        state.last_write = None
        state.last_write_at = -math.inf

    # --- the control step ----------------------------------------------------------------------
    def update(self, inputs: SiteInputs, now: float) -> Decision:
        site = self._site
        self._now = now
        stale: set[str] = set()
        grid_w = self._fresh(inputs.grid_w, site.grid_max_age_s, "grid_power", stale)
        grid_currents = self._fresh_phases(inputs.grid_currents_a, site.grid_max_age_s)
        if inputs.grid_currents_a is not None and grid_currents is None:
            stale.add("grid_currents")

        works = [self._prepare(cid, inputs.chargers.get(cid), now) for cid in self._chargers]
        for work in works:
            self._resolve_kind(work, inputs, now)
        balance = self._balance(inputs, grid_w, works, stale)
        surplus_w = None if balance is None else balance.available_w
        if balance is None:
            if inputs.grid_w is None and any(
                w.kind in (_Kind.SOLAR, _Kind.MIN_SOLAR) for w in works
            ):
                stale.add("grid_power")
        else:
            margin = site.solar.regulation_margin_w
            self._solar(works, balance.available_w - margin, balance.battery_first_w, now)

        headroom = fuse_headroom(
            settings=site,
            grid_currents=grid_currents,
            grid_w=grid_w,
            ev_currents=(
                sum(w.line_currents[0] for w in works),
                sum(w.line_currents[1] for w in works),
                sum(w.line_currents[2] for w in works),
            ),
        )
        fuse_unknown = site.fuse_a is not None and headroom is None
        if fuse_unknown:
            stale.add("grid_currents" if inputs.grid_currents_a is not None else "grid_power")
            limit = (site.fuse_a or 0.0) - site.fuse_margin_a
            headroom = (limit, limit, limit)  # the chargers alone must still fit

        for work in works:
            needs_surplus = work.kind in (_Kind.SOLAR, _Kind.MIN_SOLAR)
            if work.kind is not _Kind.PAUSED and (
                (needs_surplus and surplus_w is None) or fuse_unknown
            ):
                self._fallback(work, now)
            else:
                work.state.stale_since = None
        if headroom is not None:
            self._share_fuse(works, headroom)

        decisions: dict[str, ChargerDecision] = {}
        wake: list[float] = []
        for work in works:
            decisions[work.cid] = self._limit_writes(work, now, wake)
            self._collect_wakeups(work, now, wake)
        return Decision(
            chargers=decisions,
            surplus_w=surplus_w,
            battery_discharge_limit_w=self._discharge_limit,
            stale_inputs=frozenset(stale),
            next_update_at=min(wake) if wake else None,
        )

    def _balance(
        self, inputs: SiteInputs, grid_w: float | None, works: list[_Work], stale: set[str]
    ) -> Balance | None:
        """The site balance, or None when the surplus cannot be known (grid or battery stale)."""
        site = self._site
        battery_w = self._fresh(inputs.battery_w, site.battery_max_age_s, "battery_power", stale)
        battery_soc = self._fresh(inputs.battery_soc, site.battery_max_age_s, "battery_soc", stale)
        pv_w = self._fresh(inputs.pv_w, site.pv_max_age_s, "pv_power", stale)
        pv_available_w = self._fresh(
            inputs.pv_available_w, site.pv_max_age_s, "pv_available_power", stale
        )
        self._discharge_limit = None
        if grid_w is None:
            return None
        balance = site_balance(
            settings=site,
            ev_w=sum(w.draw_w for w in works),
            grid_w=grid_w,
            battery_w=battery_w,
            battery_soc=battery_soc,
            pv_w=pv_w,
            pv_available_w=pv_available_w,
            any_car_drawing=any(w.draw_w > 100.0 for w in works),
        )
        self._discharge_limit = balance.discharge_limit_w
        # A configured battery we cannot read could be discharging into the car: no surplus then.
        if inputs.battery_w is not None and battery_w is None:
            return None
        return balance

    # --- step 1/2: inputs and what each charger wants -----------------------------------------
    def _age_ok(self, at: float, max_age: float) -> bool:
        return self._now - at <= max_age

    def _fresh(
        self, reading: Reading | None, max_age: float, name: str, stale: set[str]
    ) -> float | None:
        """The reading's value, or None (and ``name`` marked stale) when unavailable or too old."""
        if reading is None:
            return None
        value = reading.value
        if value is None or math.isnan(value) or not self._age_ok(reading.at, max_age):
            stale.add(name)
            return None
        return value

    def _fresh_phases(
        self, reading: PhaseReading | None, max_age: float
    ) -> tuple[float | None, float | None, float | None] | None:
        if reading is None or not self._age_ok(reading.at, max_age):
            return None
        if reading.values[0] is None:
            return None
        return reading.values

    def _prepare(self, cid: str, ci: ChargerInputs | None, now: float) -> _Work:
        cfg = self._chargers[cid]
        state = self._states[cid]
        inputs = ci if ci is not None else ChargerInputs(connected=False)
        work = _Work(cid=cid, cfg=cfg, state=state, inputs=inputs)
        if inputs.plugged and not state.was_plugged:
            state.started_once = False
            state.active = False
            state.enable.reset()
            state.disable.reset()
            state.car_limit_a = None
            state.soc_seen = None
        state.was_plugged = inputs.plugged
        work.vehicle_phases = self._vehicle_phases(work)
        self._measure_draw(work)
        return work

    def _vehicle_phases(self, work: _Work) -> int:
        """Phases the car really uses: a 1p car on a 3p charger takes a third of the power."""
        state = work.state
        phases = state.phases
        # Right after a start or a 1p/3p switch the meters still show the phases from before.
        if (
            self._now
            < max(state.last_switch_at, state.started_at) + self._site.solar.start_settle_s
        ):
            return phases
        used = work.inputs.phases_in_use
        if used is None and work.inputs.charging and work.inputs.currents_a is not None:
            used = sum(1 for v in work.inputs.currents_a.values if v is not None and v >= 1.0)
        if used is not None and 1 <= used < phases:
            return used
        return phases

    def _measure_draw(self, work: _Work) -> None:
        ci = work.inputs
        v = self._site.voltage_v
        max_age = self._site.charger_max_age_s
        last = work.state.last_write
        commanded = 0.0 if last is None or last.paused else last.current_a
        power = ci.power_w.value if ci.power_w is not None else None
        if (
            power is not None
            and ci.power_w is not None
            and not self._age_ok(ci.power_w.at, max_age)
        ):
            power = None
        if ci.currents_a is not None and self._age_ok(ci.currents_a.at, max_age):
            measured = [x or 0.0 for x in ci.currents_a.values]
            # A just-lowered limit shows in the grid meter before the charger's own meter:
            # the lower of measured and commanded keeps the house load from being underestimated.
            capped = [min(x, commanded) if last is not None else x for x in measured]
            work.line_currents = (capped[0], capped[1], capped[2])
            work.draw_w = max(0.0, power) if power is not None else sum(measured) * v
            self._predict_draw(work, ci.currents_a.at, max(measured))
        elif power is not None and ci.power_w is not None:
            work.draw_w = max(0.0, power)
            work.line_currents = self._spread(work, work.draw_w / v / work.vehicle_phases)
            self._predict_draw(work, ci.power_w.at, work.draw_w / v / work.vehicle_phases)
        elif ci.charging:
            work.draw_w = commanded * v * work.vehicle_phases
            work.line_currents = self._spread(work, commanded)

    def _predict_draw(self, work: _Work, sample_at: float, measured_a: float) -> None:
        """Use the commanded current while the charger's meter still shows the time before it.

        Charger meters report every ~10 s, the grid meter every few: right after a write the grid
        already shows the car's new draw while the charger still reports the old one, and the
        surplus would swing the wrong way (the classic oscillation). Cars follow a lower limit at
        once but may not take a higher one (taper, own limit): a settled sample that shows the car
        taking less than offered caps the prediction at what it really takes.
        """
        state = work.state
        last = state.last_write
        if last is None:
            return
        commanded = 0.0 if last.paused else last.current_a
        solar = self._site.solar
        # A start or a phase switch takes longer than a change of limit (charger pause, car
        # handshake): a car seen at 0 A then is not a full car.
        settling = (
            sample_at < state.last_write_at + solar.settle_s
            or sample_at < state.started_at + solar.start_settle_s
        )
        if settling:
            predicted = commanded
            if state.car_limit_a is not None:
                predicted = min(predicted, state.car_limit_a)
            work.draw_w = predicted * self._site.voltage_v * work.vehicle_phases
        elif commanded > 0.0:
            if measured_a < commanded - 1.0:
                state.car_limit_a = measured_a + 0.5
            elif measured_a >= commanded - 0.5:
                state.car_limit_a = None

    def _spread(self, work: _Work, amps: float) -> tuple[float, float, float]:
        lines = self._lines(work.cfg, work.state.phases)
        return (
            amps if "L1" in lines else 0.0,
            amps if "L2" in lines else 0.0,
            amps if "L3" in lines else 0.0,
        )

    def _lines(self, cfg: ChargerSettings, phases: int) -> tuple[str, ...]:
        if self._site.site_phases == 1:
            return ("L1",)
        if phases >= 3:
            return _LINES
        return (_LINES[min(max(cfg.line_1p, 1), 3) - 1],)

    def _resolve_kind(self, work: _Work, inputs: SiteInputs, now: float) -> None:
        cfg, state, ci = work.cfg, work.state, work.inputs
        if state.boost_until is not None and now >= state.boost_until:
            state.boost_until = None
        if not ci.connected:
            work.say(Reason.CHARGER_UNAVAILABLE)
            return
        if cfg.mode is Mode.OFF:
            work.say(Reason.OFF)
            state.active = False
            return
        if not ci.plugged:
            work.say(Reason.NOT_PLUGGED)
            state.active = False
            return
        work.target_a = cfg.max_current_a  # used only by the "full" kind
        if state.boost_until is not None:
            work.kind = _Kind.FULL
            work.say(Reason.BOOST, state.boost_until)
        elif self._below_minimum(cfg, ci):
            work.kind = _Kind.FULL
            work.say(Reason.MINIMUM_CHARGE)
        elif cfg.mode is Mode.FAST:
            work.kind = _Kind.FULL
            work.say(Reason.FAST)
        elif cfg.mode is Mode.MIN_SOLAR:
            work.kind = _Kind.MIN_SOLAR
            work.say(Reason.MIN_CURRENT_HELD)
        elif cfg.mode is Mode.SOLAR:
            work.kind = _Kind.SOLAR
            work.say(Reason.WAITING_FOR_SURPLUS)
        else:
            self._resolve_plan(work, inputs, now)
        if work.kind is _Kind.FULL:
            self._full_phases(work, now)

    def _full_phases(self, work: _Work, now: float) -> None:
        """Full power means every wired phase: a 1p/3p charger left on 1p by solar switches up.

        Without this a plan (or Fast, boost, a minimum charge) would run at a third of the power
        it was planned with, and a departure target could be missed.
        """
        state = work.state
        if not self._switchable(work) or state.phases == work.cfg.phases:
            return
        state.phases = work.cfg.phases
        state.last_switch_at = now
        state.phase_up.reset()
        state.phase_down.reset()
        work.vehicle_phases = self._vehicle_phases(work)

    @staticmethod
    def _below_minimum(cfg: ChargerSettings, ci: ChargerInputs) -> bool:
        soc = ci.vehicle_soc.value if ci.vehicle_soc is not None else None
        if cfg.min_soc is not None and soc is not None and soc < cfg.min_soc:
            return True
        energy = ci.session_energy_wh
        return cfg.min_energy_wh is not None and energy is not None and energy < cfg.min_energy_wh

    def _resolve_plan(self, work: _Work, inputs: SiteInputs, now: float) -> None:
        cfg, ci = work.cfg, work.inputs
        work.kind = _Kind.SOLAR
        work.say(Reason.PLAN_WAITING)
        plan = cfg.plan
        if plan is None:
            return
        remaining, uses_soc = self._remaining_wh(cfg, plan, ci, work.state)
        if remaining is None or now >= plan.departure:
            return
        if remaining <= 0.0:
            work.say(Reason.TARGET_REACHED)
            return
        phases = cfg.phases if self._switchable(work) else work.vehicle_phases
        # What the car can really get: its maximum, the fuse (even with no house load) and what
        # it was seen taking (taper) - planning with more would start too late.
        amps = self._car_max_a(work)
        if self._site.fuse_a is not None:
            amps = min(amps, max(0.0, self._site.fuse_a - self._site.fuse_margin_a))
        status = plan_status(
            now=now,
            departure=plan.departure,
            remaining_wh=remaining,
            max_power_w=amps * self._site.voltage_v * phases,
            # An energy target is metered at the charger (losses included); a SoC target is
            # what reaches the car's battery, so only that one pays the charging losses.
            efficiency=cfg.charge_efficiency if uses_soc else 1.0,
            prices=inputs.prices,
        )
        work.plan_feasible = status.feasible
        if status.charge_now:
            work.kind = _Kind.FULL
            work.say(Reason.PLANNED_SLOT)
        else:
            work.say(Reason.PLAN_WAITING, status.starts_at)

    @staticmethod
    def _remaining_wh(
        cfg: ChargerSettings, plan: PlanTarget, ci: ChargerInputs, state: _State
    ) -> tuple[float | None, bool]:
        """Energy still to charge, and whether it is a SoC target (into the car's battery)."""
        soc = ci.vehicle_soc.value if ci.vehicle_soc is not None else None
        energy = ci.session_energy_wh or 0.0
        if soc is not None:
            state.soc_seen = (soc, energy)
        elif state.soc_seen is not None and cfg.vehicle_capacity_wh:
            # SoC unavailable: the last one plus what went into the battery since.
            last_soc, last_energy = state.soc_seen
            added = (energy - last_energy) * cfg.charge_efficiency
            soc = last_soc + added / cfg.vehicle_capacity_wh * 100.0
        if plan.soc is not None and soc is not None and cfg.vehicle_capacity_wh is not None:
            return (plan.soc - soc) / 100.0 * cfg.vehicle_capacity_wh, True
        if plan.energy_wh is not None:
            return plan.energy_wh - energy, False
        return None, False

    # --- step 3: the solar surplus ---------------------------------------------------------------
    def _min_power(self, work: _Work, phases: int | None = None) -> float:
        ph = work.vehicle_phases if phases is None else phases
        return work.cfg.min_current_a * self._site.voltage_v * ph

    def _max_power(self, work: _Work, *, switchable: bool = False) -> float:
        """What the car takes at most: its max current, or less once it was seen taking less.

        ``switchable``: a 1p/3p charger now on 1p could take the 3p maximum after a switch up.
        """
        phases = work.vehicle_phases
        if (
            switchable
            and work.cfg.can_switch_phases
            and self._site.site_phases == 3
            and work.vehicle_phases == work.state.phases
        ):
            phases = 3
        return self._car_max_a(work) * self._site.voltage_v * phases

    @staticmethod
    def _car_max_a(work: _Work) -> float:
        """The max current, capped (not below the minimum) when the car takes less (full, taper).

        The cap keeps a 1 A probe above what the car took: were the car to take more, the
        prediction clears the cap and the car gets its full share again.
        """
        cfg, limit = work.cfg, work.state.car_limit_a
        if limit is None:
            return cfg.max_current_a
        return min(cfg.max_current_a, max(cfg.min_current_a, limit + 0.5))

    def _solar(
        self, works: list[_Work], budget_w: float, battery_first_w: float, now: float
    ) -> None:
        for work in works:
            if work.kind is _Kind.FULL:
                # What it really draws (a full car takes nothing); the surplus already counts it.
                budget_w -= work.draw_w
            elif work.kind is _Kind.MIN_SOLAR:
                budget_w -= self._min_power(work)
        left = self._switch_on_off(works, budget_w, battery_first_w, now)
        self._share_surplus(works, left, now)

    def _switch_on_off(
        self, works: list[_Work], budget_w: float, battery_first_w: float, now: float
    ) -> float:
        """Run the enable/disable timers; return the surplus left after every running minimum."""
        solar = self._site.solar
        candidates = sorted(
            (w for w in works if w.kind is _Kind.SOLAR),
            key=lambda w: (-w.cfg.priority, not w.state.active, w.state.activated_at, w.cid),
        )
        running = [w for w in candidates if w.state.active]
        # Disable: only the last in line counts down, so two cars never stop at once for one dip.
        need = sum(self._min_power(w) for w in running)
        for work in running:
            work.state.enable.reset()
        for index, work in enumerate(running):
            last = index == len(running) - 1
            # A 1p/3p car on 3p switches down before it stops: its 1p minimum is what counts.
            floor = need - self._min_power(work) + self._min_power(work, self._floor_phases(work))
            deficit = last and budget_w - floor < -solar.disable_import_w
            if work.state.disable.update(deficit, now, solar.disable_delay_s):
                work.state.active = False
                work.state.disable.reset()
                need -= self._min_power(work)
        # Enable: the first waiting car in line may start when what is left covers its minimum.
        left = budget_w - need
        # Staggered: only what the running cars cannot take (at their maximum) is free to start one.
        spare = left
        if solar.stagger_starts:
            spare = budget_w - sum(self._max_power(w, switchable=True) for w in running)
            spare -= sum(
                self._max_power(w) - self._min_power(w) for w in works if w.kind is _Kind.MIN_SOLAR
            )
        waiting = [w for w in candidates if not w.state.active]
        starting = False  # one car at a time: the first in line whose minimum fits
        for work in waiting:
            phases = self._start_phases(work, left)
            min_w = self._min_power(work, min(phases, work.vehicle_phases))
            needed_w = min_w + solar.enable_margin_w
            ok = not starting and min(left, spare) >= needed_w
            starting = starting or ok
            delay = (
                0.0
                if solar.first_start_skips_delay and not work.state.started_once
                else solar.enable_delay_s
            )
            if work.state.enable.update(ok, now, delay):
                work.state.enable.reset()
                work.state.active = True
                work.state.started_once = True
                work.state.activated_at = now
                work.state.disable.reset()
                if phases != work.state.phases:
                    work.state.phases = phases
                    work.state.last_switch_at = now
                    work.vehicle_phases = self._vehicle_phases(work)
                left -= min_w
                spare -= self._max_power(work, switchable=True)
            elif ok:
                # The surplus is there and the start delay runs (a break starts it again); the
                # start is then written once the write interval since the last write is over.
                start_at = work.state.enable.due_at(delay)
                write_at = work.state.last_write_at + work.cfg.min_write_interval_s
                work.say(Reason.STARTING, None if start_at is None else max(start_at, write_at))
            elif left < needed_w <= left + battery_first_w:
                # Only what the home battery takes (battery first) is missing for a start.
                work.say(Reason.BATTERY_FIRST)
        return left

    def _share_surplus(self, works: list[_Work], left: float, now: float) -> None:
        # Share: every running car keeps its minimum, the rest is split equally (by priority).
        sharing = [
            w
            for w in works
            if w.kind is _Kind.MIN_SOLAR or (w.kind is _Kind.SOLAR and w.state.active)
        ]
        mins = {w.cid: self._min_power(w) for w in sharing}
        claims = [
            Claim(
                key=w.cid,
                minimum=0.0,
                demand=self._max_power(w) - mins[w.cid],
                resources={"surplus": 1.0},
                priority=w.cfg.priority,
            )
            for w in sharing
        ]
        extras = share(claims, {"surplus": max(0.0, left)}) if claims else {}
        # Unshared surplus (negative in a deficit) counts for the phase decision of every car.
        unused = left - sum(extras.values())
        for work in sharing:
            work.share_w = mins[work.cid] + extras[work.cid]
            self._phase_switch(work, work.share_w + unused, now)
            work.target_a = self._amps(work, work.share_w)
            if work.kind is _Kind.SOLAR:
                # In a deficit the car holds its minimum until the stop delay runs out.
                stop_at = work.state.disable.due_at(self._site.solar.disable_delay_s)
                work.say(Reason.SOLAR if stop_at is None else Reason.STOPPING, stop_at)
            elif extras[work.cid] > _EPS:
                work.say(Reason.SOLAR)
            if work.switched:
                work.say(Reason.PHASE_SWITCH)
            elif (switch_at := self._phase_switch_at(work)) is not None and (
                work.until is None or switch_at < work.until
            ):
                work.say(Reason.PHASE_SWITCH_PENDING, switch_at)
        for work in works:
            if work.kind is _Kind.SOLAR and not work.state.active:
                work.share_w = max(0.0, left)
                work.kind = _Kind.PAUSED

    def _floor_phases(self, work: _Work) -> int:
        """Phases of the car's smallest minimum (1 on a switchable 3p charger)."""
        if self._switchable(work) and work.vehicle_phases == work.state.phases:
            return 1
        return work.vehicle_phases

    def _switchable(self, work: _Work) -> bool:
        return work.cfg.can_switch_phases and self._site.site_phases == 3

    def _start_phases(self, work: _Work, available_w: float) -> int:
        if not work.cfg.can_switch_phases or self._site.site_phases == 1:
            return work.state.phases
        return 3 if available_w >= self._phase_up_w(work) else 1

    def _phase_up_w(self, work: _Work) -> float:
        solar = self._site.solar
        if solar.phase_up_w is not None:
            return solar.phase_up_w
        return self._min_power(work, 3) + solar.phase_up_margin_w

    def _phase_switch(self, work: _Work, available_w: float, now: float) -> None:
        solar, state = self._site.solar, work.state
        if not work.cfg.can_switch_phases or self._site.site_phases == 1:
            state.phase_up.reset()
            state.phase_down.reset()
            return
        settled = now - state.last_switch_at >= solar.phase_settle_s
        down_w = solar.phase_down_w
        if down_w is None:
            one_phase_max = work.cfg.max_current_a * self._site.voltage_v
            down_w = min(self._min_power(work, 3), one_phase_max)
        up = state.phases == 1 and available_w >= self._phase_up_w(work)
        down = state.phases == 3 and available_w < down_w
        up_due = state.phase_up.update(up, now, solar.phase_up_delay_s)
        down_due = state.phase_down.update(down, now, solar.phase_down_delay_s)
        if settled and (up_due or down_due):
            state.phases = 3 if up_due else 1
            state.last_switch_at = now
            state.phase_up.reset()
            state.phase_down.reset()
            state.disable.reset()
            work.switched = True
            work.vehicle_phases = self._vehicle_phases(work)
            work.share_w = max(self._min_power(work), min(self._max_power(work), available_w))

    def _phase_switch_at(self, work: _Work) -> float | None:
        """When a running 1p/3p timer switches the phases: its delay, and not before the settle
        time after the last switch (None: no switch pending)."""
        solar, state = self._site.solar, work.state
        due = state.phase_up.due_at(solar.phase_up_delay_s)
        if due is None:
            due = state.phase_down.due_at(solar.phase_down_delay_s)
        if due is None:
            return None
        return max(due, state.last_switch_at + solar.phase_settle_s)

    def _amps(self, work: _Work, power_w: float) -> float:
        amps = power_w / (self._site.voltage_v * work.vehicle_phases)
        return min(work.cfg.max_current_a, max(work.cfg.min_current_a, amps))

    # --- stale inputs --------------------------------------------------------------------------
    def _fallback(self, work: _Work, now: float) -> None:
        state, cfg = work.state, work.cfg
        if state.stale_since is None:
            state.stale_since = now
        work.stale = True
        work.say(Reason.STALE_INPUT)
        policy = cfg.stale_fallback
        last = state.last_write
        if policy is StaleFallback.LAST_LIMIT and now - state.stale_since < cfg.stale_grace_s:
            if last is not None and not last.paused:
                work.kind, work.target_a = _Kind.MIN_SOLAR, last.current_a
                # The last limit holds for the grace period, then the charger pauses.
                work.say(Reason.STALE_INPUT, state.stale_since + cfg.stale_grace_s)
                return
            policy = StaleFallback.PAUSE
        if policy is StaleFallback.MIN_CURRENT:
            work.kind, work.target_a = _Kind.MIN_SOLAR, cfg.min_current_a
        else:
            work.kind, work.target_a = _Kind.PAUSED, 0.0

    # --- step 4: the fuse ------------------------------------------------------------------------
    def _share_fuse(self, works: list[_Work], headroom: tuple[float, float, float]) -> None:
        drawing = [w for w in works if w.kind is not _Kind.PAUSED and w.target_a > 0.0]
        # Running chargers first: a newly plugged car does not push out one that is charging.
        drawing.sort(key=lambda w: (w.draw_w <= 100.0, w.state.activated_at, w.cid))
        # A car that takes less than offered (full, tapering) claims only what it takes (at
        # least its minimum): a full Fast car must not hold fuse headroom a solar car could use.
        demand = {w.cid: min(w.target_a, self._car_max_a(w)) for w in drawing}
        claims = [
            Claim(
                key=w.cid,
                minimum=w.cfg.min_current_a,
                demand=demand[w.cid],
                resources=dict.fromkeys(self._held_lines(w), 1.0),
                priority=w.cfg.priority
                + (_PLAN_PRIORITY if w.reason is Reason.PLANNED_SLOT else 0),
            )
            for w in drawing
        ]
        granted = share(claims, dict(zip(_LINES, headroom, strict=True)))
        for work in drawing:
            amps = granted[work.cid]
            if amps + _EPS < demand[work.cid]:
                work.say(Reason.FUSE_LIMIT)
            work.target_a = min(work.target_a, amps)
            if amps <= 0.0:
                work.kind = _Kind.PAUSED
        self._fit_leftover(drawing, headroom, granted)

    def _fit_leftover(
        self,
        drawing: list[_Work],
        headroom: tuple[float, float, float],
        granted: Mapping[str, float],
    ) -> None:
        """What the shares leave of the fuse must cover what differs from the shares in force.

        The shares assume every charger at exactly its new target, but a command rounded to the
        nearest step may be half a step more, and the write limiter keeps a small drop unwritten
        for a while (the charger holds its last limit). Both are fine only while the leftover
        covers them: else the command is capped at the share, and the drop goes out at once.
        """
        left = dict(zip(_LINES, headroom, strict=True))
        for work in drawing:
            for line in self._held_lines(work):
                left[line] -= granted[work.cid]
        for work in drawing:
            lines = self._held_lines(work)
            # Rounding a share to the nearest step may add half a step: fine where the fuse has
            # that much left, else the command is capped at the share.
            half_step = (work.cfg.current_step_a if work.cfg.current_step_a > 0 else 0.1) / 2
            if all(left[line] >= half_step for line in lines):
                for line in lines:
                    left[line] -= half_step
            else:
                work.fuse_cap_a = granted[work.cid]
            last = work.state.last_write
            if last is None or last.paused or last.phases != work.state.phases:
                continue
            extra = last.current_a - work.target_a
            if extra <= _EPS:
                continue
            if all(left[line] >= extra - _EPS for line in lines):
                for line in lines:
                    left[line] -= extra
            else:
                work.drop_now = True

    def _held_lines(self, work: _Work) -> tuple[str, ...]:
        """Lines the charger may load: its phases, and during a 1p/3p switch that waits for the
        write interval also the phases it still holds (the old ones stay in force until then)."""
        lines = self._lines(work.cfg, work.state.phases)
        last = work.state.last_write
        if last is None or last.paused or last.phases == work.state.phases:
            return lines
        held = self._lines(work.cfg, last.phases)
        return tuple(line for line in _LINES if line in lines or line in held)

    # --- step 5: write limiter -------------------------------------------------------------------
    def _limit_writes(self, work: _Work, now: float, wake: list[float]) -> ChargerDecision:
        cfg, state = work.cfg, work.state
        target = self._command(work)
        last = state.last_write
        write: ChargerCommand | None = None
        self._track_error(state, now)
        if work.inputs.connected:
            target = self._ramp(cfg, target, last)
            if last is None or target != last:
                write = self._write_now(work, target, last, now, wake)
            if write is not None:
                if not write.paused and (
                    last is None or last.paused or last.phases != write.phases
                ):
                    state.started_at = now
                state.last_write = write
                state.last_write_at = now
                state.error_wh = 0.0
            elif last is not None and target != last:
                self._say_write_wait(work, target, last)
            self._set_error_rate(work, target)
        return ChargerDecision(
            charger_id=work.cid,
            target=target,
            write=write,
            reason=work.reason,
            surplus_share_w=work.share_w,
            stale=work.stale,
            plan_feasible=work.plan_feasible,
            until=work.until,
        )

    @staticmethod
    def _say_write_wait(work: _Work, target: ChargerCommand, last: ChargerCommand) -> None:
        """A start or a 1p/3p switch that is decided but waits for the write interval: say so,
        with when it goes out. (Set after the write was decided: it changes no limit. A target
        that pauses is never held back, so ``target`` runs.)"""
        write_at = work.state.last_write_at + work.cfg.min_write_interval_s
        if last.paused:
            # A solar car says it is starting; any other keeps its reason (Fast, plan...).
            work.say(Reason.STARTING if work.kind is _Kind.SOLAR else work.reason, write_at)
        elif target.phases != last.phases:
            work.say(Reason.PHASE_SWITCH, write_at)

    def _set_error_rate(self, work: _Work, target: ChargerCommand) -> None:
        """The error in force from now: what the written limit takes more (+) than the target."""
        state, last = work.state, work.state.last_write
        if (
            last is None
            or target == last
            or target.paused
            or last.paused
            or target.phases != last.phases
        ):
            state.error_wh = 0.0  # nothing a small write could correct
            state.error_w = 0.0
            return
        state.error_w = (
            (last.current_a - target.current_a) * self._site.voltage_v * (work.vehicle_phases)
        )

    @staticmethod
    def _track_error(state: _State, now: float) -> None:
        """Integrate the error rate in force since the last update into the error energy."""
        if state.error_at is not None and now > state.error_at:
            state.error_wh += state.error_w * (now - state.error_at) / 3600.0
        state.error_at = now

    def _write_now(
        self,
        work: _Work,
        target: ChargerCommand,
        last: ChargerCommand | None,
        now: float,
        wake: list[float],
    ) -> ChargerCommand | None:
        """``target`` if it is worth a write now, else None (and when to look again in ``wake``).

        A fuse decrease is a safety matter: written at once, whatever the limiter says. Surplus is
        not: a pause or a big drop (import) is written at once, a big raise or a start once the
        write interval has passed, and a small change only when the energy it misallocates (a
        signed sum, so noise cancels) is worth it.
        """
        if last is None:
            return target
        cfg, state, solar = work.cfg, work.state, self._site.solar
        due_at = state.last_write_at + cfg.min_write_interval_s
        due = now >= due_at
        if target.paused:
            return target
        if last.paused or target.phases != last.phases:
            if due:
                return target
            wake.append(due_at)
            return None
        delta = target.current_a - last.current_a
        if delta < 0.0:
            if (
                work.reason is Reason.FUSE_LIMIT
                or work.drop_now
                or -delta >= solar.drop_deadband_a - _EPS
            ):
                return target
            worth = state.error_wh >= solar.drop_error_wh  # drawn too much: grid import
        else:
            worth = (
                delta >= solar.raise_deadband_a - _EPS
                or target.current_a >= cfg.max_current_a - _EPS
                or -state.error_wh >= solar.raise_error_wh  # drawn too little: unused PV
            )
        if worth or now - state.last_write_at >= solar.small_raise_after_s:
            if due:
                return target
            wake.append(due_at)
            return None
        # When the error energy reaches its threshold at the present rate (or the age cap).
        rate_w = -delta * self._site.voltage_v * work.vehicle_phases  # what error_wh will gain
        threshold = solar.drop_error_wh if delta < 0.0 else -solar.raise_error_wh
        at = state.last_write_at + solar.small_raise_after_s
        if abs(rate_w) > _EPS and (threshold - state.error_wh) / rate_w > 0.0:
            at = min(at, now + (threshold - state.error_wh) / rate_w * 3600.0)
        wake.append(max(at, due_at))
        return None

    def _command(self, work: _Work) -> ChargerCommand:
        phases = work.state.phases
        if work.kind is _Kind.PAUSED or work.target_a <= 0.0:
            return ChargerCommand.pause(phases)
        step = work.cfg.current_step_a if work.cfg.current_step_a > 0 else 0.1
        # Fuse limits and coarse (whole amp) steps round down; a fine solar share rounds to the
        # nearest step: on average no export is left unused, and the margin covers the half step.
        units = work.target_a / step
        nearest = step <= 0.1 + _EPS and work.reason is not Reason.FUSE_LIMIT
        amps = (math.floor(units + 0.5) if nearest else math.floor(units + 1e-6)) * step
        # Rounding up never takes a car past its share of the fuse.
        if math.isfinite(work.fuse_cap_a):
            amps = min(amps, math.floor(work.fuse_cap_a / step + 1e-6) * step)
        amps = round(min(work.cfg.max_current_a, max(work.cfg.min_current_a, amps)), 3)
        return ChargerCommand(current_a=amps, phases=phases)

    def _ramp(
        self, cfg: ChargerSettings, target: ChargerCommand, last: ChargerCommand | None
    ) -> ChargerCommand:
        ramp = self._site.solar.ramp_up_a
        if last is None or last.paused or target.paused or target.phases != last.phases:
            return target
        if target.current_a > last.current_a + ramp:
            return replace(target, current_a=round(last.current_a + ramp, 3))
        return target

    def _collect_wakeups(self, work: _Work, now: float, wake: list[float]) -> None:
        solar, state, cfg = self._site.solar, work.state, work.cfg
        for timer, delay in (
            (state.enable, solar.enable_delay_s),
            (state.disable, solar.disable_delay_s),
            (state.phase_up, solar.phase_up_delay_s),
            (state.phase_down, solar.phase_down_delay_s),
        ):
            due = timer.due_at(delay)
            if due is not None:
                wake.append(max(due, now))
        if state.phase_up.since is not None or state.phase_down.since is not None:
            wake.append(max(now, state.last_switch_at + solar.phase_settle_s))
        if state.boost_until is not None:
            wake.append(state.boost_until)
        if state.stale_since is not None and cfg.stale_fallback is StaleFallback.LAST_LIMIT:
            wake.append(state.stale_since + cfg.stale_grace_s)
        if cfg.mode is Mode.PLAN and cfg.plan is not None and now < cfg.plan.departure:
            wake.append(now + 60.0)
