"""The per-charger records the stages of one update pass along.

:class:`ChargerMemory` is what the manager keeps about a charger between updates (its timers, the
last write, what the car was seen doing). :class:`ChargerWork` is one update's working record:
``measure`` fills in what the car draws, ``demand`` what it wants, ``solar`` and ``fuse`` what it
may have, ``limiter`` what is written. Each stage gets the records as arguments and sets its own
fields; nothing is handed from one stage to the next on the manager itself.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import StrEnum

from .config import ChargerSettings, SiteSettings
from .follow_offset import FollowOffset
from .response import ChargerResponse
from .timers import HoldTimer, earlier
from .types import ChargerCommand, ChargerInputs, PlanOutlook, Reason
from .unseen_draw import UnseenDraw

EPS = 1e-6
# ``car_limit_a`` (taken + 0.5 A) up to this: the car takes nothing (under 0.5 A).
IDLE_LIMIT_A = 1.0
LINES = ("L1", "L2", "L3")
# A car drawing more than this (W) is charging, not waiting to start.
DRAWING_W = 100.0


class Kind(StrEnum):
    """What a charger asks for in this update."""

    PAUSED = "paused"  # fixed pause (off, not plugged, target reached...)
    FULL = "full"  # as much as allowed
    MIN_SOLAR = "min_solar"  # min current plus a share of the surplus
    SOLAR = "solar"  # surplus only


# The kinds whose target follows the surplus.
SURPLUS_KINDS = (Kind.SOLAR, Kind.MIN_SOLAR)


@dataclass(slots=True)
class ChargerMemory:
    """What the manager remembers about one charger between updates."""

    phases: int
    active: bool = False  # solar charging switched on (enable/disable hysteresis)
    activated_at: float = 0.0
    started_once: bool = False  # since plug-in (the first start may skip the enable delay)
    enable: HoldTimer = field(default_factory=HoldTimer)
    enable_delay_s: float = 0.0  # what ``enable`` counts to (a hand-over waits longer)
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
    # How much less than offered it took then (A; inf: nothing, or the charger said suspended).
    car_limit_shortfall_a: float = math.inf
    # What the car takes less than a limit it follows (``follow_offset.py``).
    follow: FollowOffset = field(default_factory=FollowOffset)
    # The car was seen drawing on fewer phases than the charger offered (a 1p or 2p car) in this
    # session: it counts so while paused too (``measure.vehicle_phases``), not as the charger's,
    # also after a restart in the same session (``learned.py``).
    car_phases: int | None = None
    # The car's last SoC reading and the session energy when it was first seen, and when it was
    # measured: until a new reading comes (a car API reports every few minutes, is unavailable
    # for a while or stops reporting) the SoC is estimated from the energy charged since
    # (``demand.vehicle_soc``), instead of a plan or a minimum SoC going by an old value.
    soc_seen: tuple[float, float] | None = None
    soc_at: float | None = None
    # Write limiter: signed energy (Wh) the written limit let the car take more (+, grid import)
    # or less (-, unused PV) than its target since the last write; the rate (W) since error_at.
    error_wh: float = 0.0
    error_w: float = 0.0
    error_at: float | None = None
    # The current dip: grid energy (Wh) the running solar cars took beyond the surplus since
    # it began, counted up to ``dip_at`` (``solar.py``: held, or stopped once a restart is cheaper).
    dip_wh: float = 0.0
    dip_at: float | None = None
    dip_since: float | None = None  # when it began
    dip_stop_at: float | None = None  # when it reaches a restart's PV at the import of now
    # The car's last dips that outlasted the meters' lag, oldest first: True where the surplus
    # stayed below its minimum longer than a hold is worth (``solar._hold_worth_s``), and the
    # start of a dip it stopped in that is not over yet (the sun not back, not that long).
    # When the last was judged: they are the sky's for ``solar.SKY_MEMORY_S`` (kept across
    # restarts, ``learned.py``).
    dips_outlasting_restart: tuple[bool, ...] = ()
    dips_judged_at: float | None = None
    dip_open_since: float | None = None
    # How fast the charger follows a write, from its meter values (kept across plug-ins).
    response: ChargerResponse = field(default_factory=ChargerResponse)
    # The fuse asked again for the written limit the car draws above (``fuse.py``): once, till
    # it draws within its written limit again.
    asked_again: bool = False
    # The retry of a run of refused limits is due: the target goes out once even if it is the
    # refused one (``EnergyManager.write_refused_again``).
    refused_due: bool = False
    # The fuse's headroom per line (A) at the last decision with no lower of it in flight: a
    # lag that would leave more than that means the house fell, or rather the car followed
    # (``fuse._hold_lowers_in_flight``).
    settled_headroom: tuple[float, float, float] | None = None
    # A plan's surplus now, smoothed over a start's time, and when it was measured
    # (``plan_charge._surplus_now_w``).
    surplus_smoothed: tuple[float, float] | None = None
    # How much of its draw the grid shows and its meter does not may count as the car's
    # (``measure.count_unseen_draw``).
    unseen: UnseenDraw = field(default_factory=UnseenDraw)

    def clock_went_back(self, by_s: float) -> None:
        """The wall clock went back ``by_s`` (an NTP correction, a host without a real-time
        clock): every time remembered moves back with it, as do the readings taken before the
        jump (``controller.py``), so each wait under way (the write interval, a start, stop or
        1p/3p delay, a settle time, a stale input's grace) ends when it would have, not the
        jump later (``by_s`` is the jump less the time between the updates around it: a wait
        ends that much later, never sooner). Deadlines the user set (a boost's end) stay."""
        self.activated_at -= by_s
        self.last_switch_at -= by_s
        self.last_write_at -= by_s
        self.started_at -= by_s
        for timer in (self.enable, self.disable, self.phase_up, self.phase_down):
            timer.clock_went_back(by_s)
        self.stale_since = earlier(self.stale_since, by_s)
        self.soc_at = earlier(self.soc_at, by_s)
        self.error_at = earlier(self.error_at, by_s)
        self.dip_at = earlier(self.dip_at, by_s)
        self.dip_since = earlier(self.dip_since, by_s)
        self.dip_stop_at = earlier(self.dip_stop_at, by_s)
        self.dip_open_since = earlier(self.dip_open_since, by_s)
        self.dips_judged_at = earlier(self.dips_judged_at, by_s)
        if self.surplus_smoothed is not None:
            self.surplus_smoothed = (self.surplus_smoothed[0], self.surplus_smoothed[1] - by_s)
        self.response.clock_went_back(by_s)
        self.unseen.clock_went_back(by_s)
        self.follow.clock_went_back()


@dataclass(slots=True)
class ChargerWork:
    """One charger in one update: its settings and memory, and what each stage decided."""

    cid: str
    cfg: ChargerSettings
    site: SiteSettings
    memory: ChargerMemory
    inputs: ChargerInputs
    kind: Kind = Kind.PAUSED
    reason: Reason = Reason.OFF
    until: float | None = None  # when the wait the reason names ends (only set by ``say``)
    draw_w: float = 0.0  # what it draws when the grid meter read (measured or predicted)
    measured_w: float = 0.0  # what its own meter showed last (0: no fresh reading)
    may_draw_w: float = 0.0  # the most it may draw now (for the battery's cap)
    line_currents: tuple[float, float, float] = (0.0, 0.0, 0.0)
    # What it draws above its written limit per line (A; ``line_currents`` stop there): the
    # charger refused that limit and holds a higher one (``measure``).
    above_written: tuple[float, float, float] = (0.0, 0.0, 0.0)
    # What its meter last showed above ``line_currents`` per line (A) where that sample is from
    # before its latest lower: the car may still draw that (its lag), which the grid shows as the
    # house's load till it follows (``measure``; the fuse holds no further lower for it).
    lag_a: tuple[float, float, float] = (0.0, 0.0, 0.0)
    # The fuse's check found the grid showing that lag (``fuse._hold_lowers_in_flight``: the
    # headroom with it counted no more than before the lower; on any site with a fuse, binding
    # or not): the surplus misreads it likewise (``limiter._lag_explains``).
    lag_seen: bool = False
    vehicle_phases: int = 3
    share_w: float = 0.0
    target_a: float = 0.0
    stale: bool = False
    soc: float | None = None  # the car's SoC now (%): its last reading, or estimated from it
    plan_feasible: bool = True
    plan: PlanOutlook | None = None
    # The sun ahead covers what the car still needs (a plan, or Solar mode with a SoC and a
    # forecast: ``sun_ahead``): a restart costs nothing it needs.
    spare_sun: bool = False
    # The sun ahead today would fill the car were it to keep all of it (None: unknown, no SoC or
    # no forecast; ``sun_ahead.mark_sun_ahead``).
    fills_today: bool | None = None
    # A solar car that stopped restarts once the surplus has carried it this long at least
    # (None: the start delay; Solar mode with sun to spare: ``sun_ahead``).
    restart_after_s: float | None = None
    switched: bool = False
    drop_now: bool = False  # a small drop the fuse cannot wait for (no headroom to hold it)
    # A small drop the fuse can wait for only while these chargers' raises wait too (they go
    # out in this update: ``drop_now``; ``fuse._fit_leftover``).
    drop_for: frozenset[str] = frozenset()
    ask_again: bool = False  # its target goes out now, no drop: it draws above its written limit

    def say(self, reason: Reason, until: float | None = None) -> None:
        """Set the reason and the end of its wait together (a new reason drops the old end)."""
        self.reason = reason
        self.until = until

    def smallest_min_power(self) -> float:
        """The least the car charges on: its minimum, on 1 phase where the charger switches."""
        return self.min_power(1 if self.switchable else self.vehicle_phases)

    @property
    def switchable(self) -> bool:
        """The charger may switch between 1p and 3p on this site."""
        return self.cfg.can_switch_phases and self.site.site_phases == 3

    def lines(self, phases: int) -> tuple[str, ...]:
        """The lines a charge on ``phases`` phases loads."""
        if self.site.site_phases == 1:
            return ("L1",)
        if phases >= 3:
            return LINES
        return (LINES[min(max(self.cfg.line_1p, 1), 3) - 1],)

    def car_max_a(self) -> float:
        """The max current, capped (not below the minimum) when the car takes less (full, taper).

        The cap keeps a 1 A probe above what the car took (and its offset, what it takes less
        than a limit it follows): were the car to take more, the prediction clears the cap and
        the car gets its full share again.
        """
        cfg, cap = self.cfg, self.memory.car_limit_a
        if cap is None:
            return cfg.max_current_a
        return min(cfg.max_current_a, max(cfg.min_current_a, self.probe_a(cap)))

    def probe_a(self, cap_a: float) -> float:
        """The limit that probes a car capped at ``cap_a`` (what it took + 0.5 A): 0.5 A above
        the cap and the car's offset (``car_max_a`` before its bounds)."""
        return cap_a + 0.5 + self.memory.follow.offset_a

    def min_power(self, phases: int | None = None) -> float:
        """The minimum current's power on ``phases`` (default: the phases the car uses)."""
        ph = self.vehicle_phases if phases is None else phases
        return self.cfg.min_current_a * self.site.voltage_v * ph

    def max_power(self, *, after_switch_up: bool = False) -> float:
        """What the car takes at most: its max current, or less once it was seen taking less.

        ``after_switch_up``: a 1p/3p charger now on 1p could take the 3p maximum after a switch.
        """
        phases = self.vehicle_phases
        if after_switch_up and self.switchable and self.vehicle_phases == self.memory.phases:
            phases = min(3, self.memory.car_phases or 3)  # a 1p car gains nothing from 3p
        return self.car_max_a() * self.site.voltage_v * phases

    def limited_a(self) -> float | None:
        """What an EV-limited car is counted at (A), None when it takes what it is offered.

        A car that took clearly less than its limit once the charger's learned response time
        had passed (taper, its own limit) counts at that plus 1 A headroom (``car_limit_a`` is
        what it took + 0.5 A): it may still ramp when its own limit rises, and once it takes up
        to its limit again the prediction clears the cap and it counts in full. A full or
        suspended car (nothing taken) counts as 0 until its meter shows it taking again. Unlike ``car_max_a`` this is not raised to the minimum: a full car held "on" at
        its minimum leaves the surplus it does not take to the other cars.
        """
        limit = self.memory.car_limit_a
        if limit is None:
            return None
        # A car that takes nothing (full, suspended) counts as nothing: a headroom per phase
        # would cost a 3p car 690 W for a current it is not taking.
        return 0.0 if limit <= IDLE_LIMIT_A else min(self.cfg.max_current_a, limit + 0.5)

    def claim_min_w(self, phases: int | None = None) -> float:
        """The minimum the surplus share counts for this car (``limited_a`` when lower)."""
        minimum = self.min_power(phases)
        limited = self.limited_a()
        if limited is None:
            return minimum
        ph = self.vehicle_phases if phases is None else min(phases, self.vehicle_phases)
        return min(minimum, limited * self.site.voltage_v * ph)

    def claim_max_w(self, *, after_switch_up: bool = False) -> float:
        """The most the surplus share counts for this car (an EV-limited car: what it takes)."""
        limited = self.limited_a()
        if limited is None:
            return self.max_power(after_switch_up=after_switch_up)
        return limited * self.site.voltage_v * self.vehicle_phases

    def commanded_a(self, amps: float) -> float:
        """``amps`` as the charger is written them: down to its step, within its bounds.

        Down: rounding up would buy grid energy to use the surplus (half a step on average,
        ~35 W on 3 phases) and could take the fuse's last step; down leaves at most a step unused.
        """
        step = self.cfg.current_step_a if self.cfg.current_step_a > 0 else 0.1
        stepped = math.floor(amps / step + 1e-6) * step
        return round(min(self.cfg.max_current_a, max(self.cfg.min_current_a, stepped)), 3)

    @property
    def pauses(self) -> bool:
        """Its target in this update is a pause."""
        return self.kind is Kind.PAUSED or self.target_a <= 0.0

    def written_a(self) -> float:
        """The current its target in this update is written at (A; 0: a pause)."""
        return 0.0 if self.pauses else self.commanded_a(self.target_a)

    def amps(self, power_w: float) -> float:
        """The limit (within the charger's bounds) under which the car takes ``power_w``: its
        current plus the car's offset (``follow_offset.py``: a car 0.9 A under every limit left
        that much of its share of the sun to the grid)."""
        amps = power_w / (self.site.voltage_v * self.vehicle_phases) + self.memory.follow.offset_a
        return min(self.cfg.max_current_a, max(self.cfg.min_current_a, amps))


def line_sums(works: list[ChargerWork]) -> tuple[float, float, float]:
    """What these chargers draw per line (A), as last measured."""
    return (
        sum(w.line_currents[0] for w in works),
        sum(w.line_currents[1] for w in works),
        sum(w.line_currents[2] for w in works),
    )
