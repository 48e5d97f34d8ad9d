"""The energy manager: one ``update(inputs, now)`` turns measurements into per-charger limits.

It is event driven and cheap: the HA side calls it on every input change (debounced to about a
second) and again at ``Decision.next_update_at`` when a delay runs out. Nothing here sleeps, reads a
clock or does I/O, so tests and the day benchmark drive it with a fake clock.

``update`` runs the stages of one decision, each in its own module. They get what they need as
arguments (the time, the settings, each charger's working record ``charger_work.ChargerWork``) and
return what the next stage needs; between updates the manager keeps only the settings, each
charger's ``ChargerMemory`` (with its learned response, ``response.py``) and the recent grid
readings (``measure.SiteMemory``):
1. ``measure``: which inputs are fresh, which phases each car uses, what it draws; the site balance;
   ``meter_sign``: whether the grid or battery meter's sign looks inverted (then it is stale);
2. ``demand``: what each charger wants ("full": Fast, boost, minimum charge, a planned slot from
   ``plan_charge``; "min_solar"; "solar"; paused); ``sun_ahead``: whether the forecast's sun
   fills the Solar-mode cars anyway (then a restart costs nothing they need);
3. ``solar``: share the surplus: full chargers first, then every minimum, then equal shares; run the
   start/stop and 1p/3p (``phases``) timers;
4. ``demand.stale_fallback`` where an input a charger needs is stale (while the grid or the
   battery power cannot be read the battery keeps the discharge limit of its last reading:
   ``_discharge_limit``; with no limit to set, no car takes more than with no surplus at all:
   ``_fall_back``), then ``fuse``: share the fuse headroom per line (minimums first, then
   equal shares, by priority), with the cars' line currents as far as the grid shows them
   (``measure.count_unseen_draw``);
5. ``limiter``: decreases at once, raises rate limited and deadbanded, so a charger is only written
   on a real change.

``next_update_at`` is the earliest end of a wait a stage ran in this update (a start, stop or 1p/3p
delay, the write interval, a stale input's grace, a boost, the plan's next look), so always later
than ``now``: a timer no stage ran (its car stopped or changed mode) only fires once a stage runs it
again, and that takes an input change, which calls ``update`` anyway.

When the wall clock goes back (an NTP correction, a host without a real-time clock), ``update``
gets a ``now`` earlier than the last one's: every time the memories hold moves back by the jump,
and so does every reading stamped after ``now`` (taken before the jump), so waits under way end
as if the clock had not moved, not the jump later (``clock_went_back``). A clock going forward
is a long gap between updates: waits under way have passed (their conditions hold at the
update that ends them, and writes stay rate limited from there).

Each charger's reason says what the manager does now, set in the stage that decides it, together
with ``until`` when that is a wait with an end, read off the timer that runs it. Reasons never feed
back into the limits, except a planned slot's fuse priority.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import fields, replace
from typing import Any

from .charger_work import SURPLUS_KINDS, ChargerMemory, ChargerWork, Kind
from .cheap_grid import cheap_until, next_price_change
from .config import ChargerSettings, PlanTarget, SiteSettings
from .demand import demand_wake_ups, resolve_kind, stale_fallback
from .fuse import line_headroom, share_fuse
from .limiter import limit_writes
from .measure import (
    SiteMemory,
    SiteReadings,
    cars_may_draw_w,
    count_unseen_draw,
    measure_balance,
    observe_meter_signs,
    prepare,
    read_site,
)
from .phases import down_to_floor_phases
from .solar import share_solar
from .sun_ahead import mark_sun_ahead
from .surplus import Balance
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
)

# Updates come with the time of their inputs, which may jitter: only a ``now`` earlier than the
# latest update's by more than this (s) is the wall clock gone back.
CLOCK_JITTER_S = 1.0


class EnergyManager:
    """Solar, battery, plan and fuse aware charge controller for any number of chargers."""

    def __init__(
        self,
        site: SiteSettings | None = None,
        chargers: Mapping[str, ChargerSettings] | None = None,
    ) -> None:
        self._site = site or SiteSettings()
        self._chargers: dict[str, ChargerSettings] = {}
        self._memory: dict[str, ChargerMemory] = {}
        self._site_memory = SiteMemory()
        self._latest = -math.inf  # the latest update's time
        self._back_s = 0.0  # how far the wall clock last went back
        # The battery's discharge limit at its last reading (None: none, or it fed the cars).
        self._read_discharge_limit_w: float | None = None
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
        if charger_id not in self._memory:
            self._memory[charger_id] = ChargerMemory(phases=settings.phases)
        elif not settings.can_switch_phases:
            self._memory[charger_id].phases = settings.phases

    def remove_charger(self, charger_id: str) -> None:
        self._chargers.pop(charger_id, None)
        self._memory.pop(charger_id, None)

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
        self._memory[charger_id].boost_until = until

    def invalidate(self, charger_id: str) -> None:
        """Forget the last write (write failed, charger rebooted): the next update writes again."""
        memory = self._memory[charger_id]
        memory.last_write = None
        memory.last_write_at = -math.inf

    def write_refused_again(self, charger_id: str) -> None:
        """The retry of the charger's run of refused limits is due: its target goes out at the
        next update, also unchanged, while the write it refused still counts as written (the
        car's draw above it stays the house's to the other chargers' fuse shares: forgotten,
        the charger beside a car refusing every limit restarted at each retry, over the fuse)."""
        self._memory[charger_id].refused_due = True

    def refused(self, charger_id: str, refused: ChargerCommand) -> None:
        """The charger refused ``refused``: where that is its last write, no meter sample will
        show it (``ChargerResponse.refused``), whether the write is forgotten, rewound or counts
        as written while the charger's run of refusals waits: the car's draw above it is the
        car's (``ChargerWork.above_written``). (Kept, its limit bounded the draw: a charger
        refusing a fuse lower twice was written 7 A for its 19.5 A share.)"""
        memory = self._memory[charger_id]
        if memory.last_write == refused:
            memory.response.refused(memory.last_write_at)

    def rewind_refused(self, charger_id: str, taken: ChargerCommand, taken_at: float) -> None:
        """The charger refused the last write and holds ``taken``, taken at ``taken_at``: the
        write limiter counts from that again, and the refused write is no write (a sample's
        draw above its limit is the car's, not the house's: ``ChargerResponse.refused``;
        kept, it lowered the car below its share and paused others: red team 10b). A refused
        start or phase switch is forgotten instead (:meth:`invalidate`): the start it marked
        (``started_at``) cannot be taken back."""
        memory = self._memory[charger_id]
        if memory.started_at == memory.last_write_at:
            self.invalidate(charger_id)
            return
        memory.response.refused(memory.last_write_at)
        memory.last_write = taken
        memory.last_write_at = taken_at

    # --- what was learned (the driver stores it) -----------------------------------------------
    def memory(self, charger_id: str) -> ChargerMemory | None:
        """What the controller remembers of a charger (None: not in the controller)."""
        return self._memory.get(charger_id)

    @property
    def site_memory(self) -> SiteMemory:
        return self._site_memory

    # --- the wall clock going back ----------------------------------------------------------------
    def clock_went_back_s(self, now: float) -> float:
        """How far the wall clock went back since the latest update (0: it did not)."""
        back_s = self._latest - now
        return back_s if back_s > CLOCK_JITTER_S else 0.0

    def _clock_went_back(self, back_s: float) -> None:
        self._back_s = back_s
        for memory in self._memory.values():
            memory.clock_went_back(back_s)
        self._site_memory.clock_went_back()

    def _taken_before_jump(self, inputs: SiteInputs, now: float) -> SiteInputs:
        """The inputs with each reading stamped after ``now`` (taken before the wall clock last
        went back: its meter has not reported since) moved back by the jump, as the memories
        were: it ages from then, and keeps its order with the times remembered."""
        if not self._back_s:
            return inputs
        chargers = {cid: _moved_back(ci, now, self._back_s) for cid, ci in inputs.chargers.items()}
        return replace(_moved_back(inputs, now, self._back_s), chargers=chargers)

    # --- the control step ----------------------------------------------------------------------
    def update(self, inputs: SiteInputs, now: float) -> Decision:
        if back_s := self.clock_went_back_s(now):
            self._clock_went_back(back_s)
        self._latest = now if back_s else max(self._latest, now)
        inputs = self._taken_before_jump(inputs, now)
        site = self._site
        wake: list[float] = []  # when a wait some stage runs ends: the next update is due then
        grid_at = None if inputs.grid_w is None else inputs.grid_w.at
        works = [
            prepare(cid, cfg, self._memory[cid], inputs.chargers.get(cid), site, now, grid_at)
            for cid, cfg in self._chargers.items()
        ]
        # A meter whose sign looks inverted reads as stale (it would hide the house's load).
        inverted = observe_meter_signs(self._site_memory, inputs, site, works, now)
        readings = read_site(inputs, site, now, inverted)
        stale = set(readings.stale)
        cheap_end = cheap_until(inputs.prices, site.cheap_price, now)
        # While a cheap price is set, a cheap run may begin or end at the next price change (a
        # held forecast changes no sensor).
        change = None if site.cheap_price is None else next_price_change(inputs.prices, now)
        if change is not None:
            wake.append(change)
        for work in works:
            resolve_kind(work, inputs, readings, now, cheap_end)
            wake += demand_wake_ups(work, now)
        mark_sun_ahead(works, inputs.solar_forecast, readings, site.battery, now)

        balance = measure_balance(site, readings, works, self._site_memory)
        # A configured battery we cannot read could be discharging into the car: no surplus then.
        surplus = None if readings.battery_unread else balance
        surplus_w = None if surplus is None else surplus.available_w
        if surplus is None:
            if inputs.grid_w is None and any(w.kind in SURPLUS_KINDS for w in works):
                stale.add("grid_power")
        else:
            budget_w = surplus.available_w - site.solar.regulation_margin_w
            wake += share_solar(works, site.solar, budget_w, surplus.battery_first_w, now)

        if site.fuse_a is not None:
            count_unseen_draw(self._site_memory, readings, works)
        headroom, fuse_unknown = line_headroom(site, readings, works)
        if fuse_unknown and inputs.grid_currents_a is None:
            stale.add("grid_power")  # (unknown phase currents are named by ``read_site``)

        unguarded = self._battery_unguarded(readings)
        for work in works:
            needs_surplus = work.kind in SURPLUS_KINDS
            if work.kind is not Kind.PAUSED and (
                (needs_surplus and surplus_w is None) or fuse_unknown
            ):
                if (grace_end := _fall_back(work, now, needs_surplus and unguarded)) is not None:
                    wake.append(grace_end)
            else:
                work.memory.stale_since = None
        if headroom is not None:
            share_fuse(works, headroom, self._site_memory, now)

        decisions: dict[str, ChargerDecision] = {}
        # A drop held only while raises beside it wait is decided after them (``drop_for``).
        for work in sorted(works, key=lambda w: bool(w.drop_for)):
            if work.drop_for:
                work.drop_now = any(
                    cid not in decisions or decisions[cid].write is not None
                    for cid in work.drop_for
                )
            decisions[work.cid], write_at = limit_writes(work, now)
            if write_at is not None:
                wake.append(write_at)
        decisions = {work.cid: decisions[work.cid] for work in works}
        return Decision(
            chargers=decisions,
            surplus_w=surplus_w,
            battery_discharge_limit_w=self._discharge_limit(balance, readings, works),
            stale_inputs=frozenset(stale),
            inverted_inputs=inverted,
            next_update_at=min(wake) if wake else None,
            cheap_grid_until=cheap_end,
        )

    def _battery_unguarded(self, readings: SiteReadings) -> bool:
        """What the battery gives the cars can be neither read (the grid or its power is unread)
        nor capped (no discharge limit to set), and it may not feed them."""
        rules = self._site.battery
        return (
            readings.house_deficit_unread
            and not rules.emit_discharge_limit
            and not rules.feeds_car(readings.battery_soc)
        )

    def _discharge_limit(
        self, balance: Balance | None, readings: SiteReadings, works: list[ChargerWork]
    ) -> float | None:
        """The battery's discharge limit (None: no cap).

        While the grid or the battery power cannot be read the house's deficit is unknown, and a
        car on its stale fallback would take whatever the battery gives: unless the battery may
        feed the cars, it keeps the limit of its last reading while a car may draw (0 W where
        that had none: no car was charging, so the house's deficit beside one was never measured;
        or no reading since the start: the held limit is not stored across a restart, and 0 W
        costs the house's grid import only until the meter reads again).
        """
        rules = self._site.battery
        feeds_car = rules.feeds_car(readings.battery_soc)
        if not readings.house_deficit_unread:
            limit = None if balance is None else balance.discharge_limit_w
            self._read_discharge_limit_w = None if feeds_car else limit
            return limit
        if feeds_car or not rules.emit_discharge_limit or cars_may_draw_w(works) is None:
            return None
        return self._read_discharge_limit_w or 0.0


def _fall_back(work: ChargerWork, now: float, spare_battery: bool) -> float | None:
    """The charger's stale fallback (``demand.stale_fallback``); returns when its grace ends.

    ``spare_battery``: the battery's share is unknown and uncapped (``_battery_unguarded``), so
    whatever a fallback draws beyond what the car's mode takes with no surplus at all, the
    battery gives (a self-consumption battery covers any import): a Solar car (or a plan
    waiting for its slot) pauses, a Min + solar car holds no more than its smallest minimum (1p
    on a 1p/3p charger, as with no surplus at all; without a cap the battery covers that whether
    it reads or not).
    """
    solar_only = work.kind is Kind.SOLAR
    grace_end = stale_fallback(work, now)
    if not spare_battery or work.kind is Kind.PAUSED:
        return grace_end
    if solar_only:
        work.kind, work.target_a = Kind.PAUSED, 0.0
        work.say(Reason.STALE_INPUT)
        return None
    work.target_a = min(work.target_a, work.cfg.min_current_a)
    down_to_floor_phases(work, now)
    return grace_end


def _moved_back[I: (SiteInputs, ChargerInputs)](inputs: I, now: float, back_s: float) -> I:
    """``inputs`` with each reading stamped after ``now`` moved back by ``back_s``."""
    moved: dict[str, Any] = {  # (the fields differ in type: ``replace`` checks each)
        f.name: replace(reading, at=reading.at - back_s)
        for f in fields(inputs)
        if isinstance(reading := getattr(inputs, f.name), Reading | PhaseReading)
        and reading.at > now + CLOCK_JITTER_S
    }
    return replace(inputs, **moved) if moved else inputs
