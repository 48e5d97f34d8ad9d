"""Measure: which inputs are fresh enough to use, which phases each car uses, what it draws now.

A reading older than its ``*_max_age_s`` (or unavailable) counts as unknown and is named in
``Decision.stale_inputs``. A car's draw is its charger's meter, or the commanded current while that
meter still shows the time before the last write (charger meters lag the grid meter); which write
each meter shows comes from the charger's learned response (``response.py``). For the fuse a car
counts on its lines at no more than its meter and the lowest limit since, plus what the grid shows
of a start or raise its meter does not show yet (``count_unseen_draw``).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from custom_components.ocpp_ems.core.numbers import finite_number

from .charger_work import EPS, IDLE_LIMIT_A, LINES, ChargerMemory, ChargerWork, line_sums
from .config import ChargerSettings, SiteSettings, SolarSettings
from .follow_offset import MAX_OFFSET_A
from .meter_sign import MeterSigns, cars_draw
from .response import ChargerResponse, WriteKind
from .surplus import Balance, curtailed_pv_w, site_balance, site_lines
from .types import ChargerInputs, PhaseReading, Reading, SiteInputs, plausible_soc

Phases = tuple[float | None, float | None, float | None]


@dataclass(frozen=True, slots=True)
class SiteReadings:
    """The site's inputs as far as they are fresh (None: not configured, unavailable or old)."""

    grid_w: float | None
    grid_currents: Phases | None
    battery_w: float | None
    battery_soc: float | None
    pv_w: float | None
    pv_available_w: float | None
    # A configured battery whose power is unknown: it could be discharging into the car.
    battery_unread: bool
    grid_unread: bool  # a configured grid meter whose power is unknown
    stale: frozenset[str]  # names of the configured inputs that are unavailable or too old
    grid_at: float | None = None  # when the grid and the battery meter read
    grid_currents_at: float | None = None  # when the grid's phase currents read
    battery_at: float | None = None
    read_at: float | None = None  # when these readings were taken (the update's time)

    @property
    def house_deficit_unread(self) -> bool:
        """The house's deficit (the battery's discharge limit) is unknown now, though the site
        has the meters for it: the grid and the battery power are both configured and one of
        them is unknown (without either meter it is never known, and the battery never capped)."""
        grid = self.grid_unread or self.grid_w is not None
        battery = self.battery_unread or self.battery_w is not None
        return grid and battery and (self.grid_unread or self.battery_unread)


# A stored battery maximum above this (W, beyond any home battery) is not believed.
MAX_BATTERY_W = 100_000.0

# The home battery's usable capacity (Wh) as learned: an estimate outside this range is no home
# battery's (a sensor's scale or sign is off, or the SoC drifted while it idled) and is dropped.
MIN_CAPACITY_WH = 1_000.0
MAX_CAPACITY_WH = 200_000.0
CAPACITY_SOC_SPAN = 10.0  # SoC points moved in one direction for one estimate
CAPACITY_GAP_S = 300.0  # longer without both readings: nothing is integrated across it
CAPACITY_SOC_STEP = 5.0  # more SoC points between two readings: a recalibration, no charge
CAPACITY_ESTIMATES = 5  # the capacity is the median of the last this many estimates


@dataclass(slots=True)
class CapacityLearner:
    """The home battery's usable capacity from its power and SoC sensors.

    The battery's power (``battery_w``, negative while charging) is integrated over time, signed,
    each reading held until the next one, between two moments the SoC changed: a SoC reported
    in whole points changes as the true SoC crosses a point, so counting from one change to
    another adds no rounding. Once the SoC has moved ``CAPACITY_SOC_SPAN`` points in one direction
    from its anchor, the capacity is energy / (SoC moved / 100), and the next estimate counts from
    there. The anchor is dropped when the SoC turns the other way (the next change is the new
    anchor), when both readings were missing for longer than ``CAPACITY_GAP_S`` (nothing is
    integrated across such a gap), and when the SoC jumps more than ``CAPACITY_SOC_STEP`` points
    between two readings (a recalibration). An estimate outside the plausible range or of the
    wrong sign is dropped; the capacity is the median of the last ``CAPACITY_ESTIMATES``. The
    energy counted is what went in or out at the battery's terminals: charging losses make it a
    little more than what was stored, so the capacity errs on the large side, and a plan then
    leaves the battery a little more sun than it takes (the plan is rebuilt every minute and
    counts the sun again once the battery reaches its priority SoC).
    """

    estimates: deque[float] = field(default_factory=lambda: deque(maxlen=CAPACITY_ESTIMATES))
    last: tuple[float, float, float] | None = None  # (when, W, SoC) of the last reading
    anchor_soc: float | None = None  # the SoC at the change counted from
    direction: float = 0.0  # +1 charging, -1 discharging since the anchor
    stored_wh: float = 0.0  # energy into the battery since the anchor (signed)

    @property
    def capacity_wh(self) -> float | None:
        """The learned capacity (Wh; None: nothing learned yet)."""
        if not self.estimates:
            return None
        ordered = sorted(self.estimates)
        middle = len(ordered) // 2
        if len(ordered) % 2:
            return ordered[middle]
        return (ordered[middle - 1] + ordered[middle]) / 2.0

    def observe(self, at: float | None, battery_w: float | None, soc: float | None) -> None:
        """One update's fresh readings (None: missing, unavailable or too old)."""
        if at is None or battery_w is None or soc is None:
            return  # held: a short gap is bridged with the last reading, a long one resets
        last, self.last = self.last, (at, battery_w, soc)
        if last is None or not 0.0 <= at - last[0] <= CAPACITY_GAP_S:
            self.anchor_soc = None
            return
        last_at, last_w, last_soc = last
        self.stored_wh -= last_w * (at - last_at) / 3600.0
        if soc == last_soc:
            return
        step = soc - last_soc
        direction = 1.0 if step > 0 else -1.0
        if abs(step) > CAPACITY_SOC_STEP:
            self.anchor_soc = None
        elif self.anchor_soc is None or direction != self.direction:
            self.anchor_soc, self.direction, self.stored_wh = soc, direction, 0.0
        elif abs(moved := soc - self.anchor_soc) >= CAPACITY_SOC_SPAN:
            estimate = self.stored_wh / (moved / 100.0)
            if MIN_CAPACITY_WH <= estimate <= MAX_CAPACITY_WH:
                self.estimates.append(estimate)
            self.anchor_soc, self.stored_wh = soc, 0.0

    def load(self, value: float) -> None:
        """A stored capacity: the first of the estimates, as if seen once."""
        self.estimates.clear()
        self.estimates.append(value)


@dataclass(slots=True)
class SiteMemory:
    """The recent grid readings (when, W) and the cars' draw then, while a car charges: the
    battery's meter (read every few s) is paired with the grid reading of its own moment."""

    grid: deque[tuple[float, float, float]] = field(default_factory=lambda: deque(maxlen=64))
    # What the home battery takes at most now (W): the most it was seen charging, lowered to what
    # it charged while PV was left over for LEFT_OVER_S (it tapers when nearly full). None: unseen.
    battery_accept_w: float | None = None
    left_over_since: float | None = None  # PV left over (export, curtailment) since then
    left_over_charge_w: float = 0.0  # the most the battery charged since then
    capacity: CapacityLearner = field(default_factory=CapacityLearner)
    meter_signs: MeterSigns = field(default_factory=MeterSigns)  # inverted grid/battery meters
    # The house's current per line (A) at the last two grid readings (``count_unseen_draw``).
    house: deque[tuple[float, Phases]] = field(default_factory=lambda: deque(maxlen=2))
    # The fuse's headroom per line (A) at each update of the last 30 s (``fuse.raise_headroom``).
    fuse_headroom: deque[tuple[float, tuple[float, float, float]]] = field(
        default_factory=lambda: deque(maxlen=256)
    )

    def clock_went_back(self) -> None:
        """Our wall clock went back: the readings kept by their times are forgotten (a reading
        after the jump would pair with one from before it, or count as older than it and be
        skipped for the jump's length), as is the time PV was left over since. What was learned
        stays: the battery's maximum, a meter's sign verdict, the capacity (whose learner counts
        a reading older than its last as a gap). The house's currents are kept by their grid
        reading's time for its repeats only, never compared by order."""
        self.grid.clear()
        self.fuse_headroom.clear()
        self.left_over_since = None
        self.meter_signs.clock_went_back()

    @property
    def battery_capacity_wh(self) -> float | None:
        """The home battery's usable capacity as learned (Wh; None: not yet)."""
        return self.capacity.capacity_wh

    def learned(self) -> bool:
        """Whether anything was learned (to store)."""
        return self.battery_accept_w is not None or self.battery_capacity_wh is not None

    def to_dict(self) -> dict[str, Any]:
        """What was learned about the site (stored: ``EmsDriver.dump``); the capacity only once
        learned."""
        stored: dict[str, Any] = {"battery_accept_w": self.battery_accept_w}
        if (capacity := self.battery_capacity_wh) is not None:
            stored["battery_capacity_wh"] = capacity
        return stored

    def load(self, data: Mapping[str, Any]) -> None:
        """Back from :meth:`to_dict`'s form; a value no battery could have is skipped. Only a
        prior: export lowers it, a higher charge raises it, as before; new capacity estimates
        join the stored one."""
        value = finite_number(data.get("battery_accept_w"))
        if value is not None and 0.0 <= value <= MAX_BATTERY_W:
            self.battery_accept_w = value
        capacity = finite_number(data.get("battery_capacity_wh"))
        if capacity is not None and MIN_CAPACITY_WH <= capacity <= MAX_CAPACITY_WH:
            self.capacity.load(capacity)


# Export (or curtailed PV) beyond meter noise (W) for longer than a car's or the battery's
# transient after a change (s): the battery evidently takes no more than it charges then.
LEFT_OVER_W = 100.0
LEFT_OVER_S = 30.0


def usable(
    reading: Reading, max_age: float, now: float, plausible: Callable[[float], bool] = math.isfinite
) -> bool:
    """Whether the reading has a value, fresh and ``plausible``."""
    value = reading.value
    return value is not None and plausible(value) and is_fresh(reading.at, max_age, now)


def read_site(
    inputs: SiteInputs, site: SiteSettings, now: float, unusable: frozenset[str] = frozenset()
) -> SiteReadings:
    """The site's readings as far as they are fresh; an input named in ``unusable`` (its sign
    looks inverted, ``meter_sign.py``) counts as stale whatever it reads."""
    stale: set[str] = set()

    def fresh(
        reading: Reading | None,
        max_age: float,
        name: str,
        plausible: Callable[[float], bool] = math.isfinite,
    ) -> float | None:
        """The reading's value, or None (and ``name`` marked stale) when unavailable, too old or
        not ``plausible``."""
        if reading is None:
            return None
        if name in unusable or not usable(reading, max_age, now, plausible):
            stale.add(name)
            return None
        return reading.value

    grid_currents = _fresh_phases(inputs.grid_currents_a, site, now, stale)
    battery_w = fresh(inputs.battery_w, site.battery_max_age_s, "battery_power")
    grid_w = fresh(inputs.grid_w, site.grid_max_age_s, "grid_power")
    return SiteReadings(
        grid_w=grid_w,
        grid_currents=grid_currents,
        battery_w=battery_w,
        battery_soc=fresh(inputs.battery_soc, site.battery_max_age_s, "battery_soc", plausible_soc),
        pv_w=fresh(inputs.pv_w, site.pv_max_age_s, "pv_power"),
        pv_available_w=fresh(inputs.pv_available_w, site.pv_max_age_s, "pv_available_power"),
        battery_unread=inputs.battery_w is not None and battery_w is None,
        grid_unread=inputs.grid_w is not None and grid_w is None,
        stale=frozenset(stale),
        grid_at=None if inputs.grid_w is None else inputs.grid_w.at,
        grid_currents_at=None if inputs.grid_currents_a is None else inputs.grid_currents_a.at,
        battery_at=None if inputs.battery_w is None else inputs.battery_w.at,
        read_at=now,
    )


def observe_meter_signs(
    memory: SiteMemory,
    inputs: SiteInputs,
    site: SiteSettings,
    works: list[ChargerWork],
    now: float,
) -> frozenset[str]:
    """Show the meters and the cars' measured draw to the sign checks (``meter_sign.py``);
    returns the inputs whose sign looks inverted."""
    samples = [sample for work in works if (sample := _meter_sample(work, now)) is not None]
    pv = inputs.pv_w
    pv_w = pv.value if pv is not None and usable(pv, site.pv_max_age_s, now) else None
    signs = memory.meter_signs
    signs.observe(grid=inputs.grid_w, battery=inputs.battery_w, pv_w=pv_w, cars=cars_draw(samples))
    return signs.inverted


def _meter_sample(work: ChargerWork, now: float) -> tuple[float, float] | None:
    """When the charger's own meter read and what it showed the car drawing (W); None: no fresh
    meter, or the charger is offline."""
    ci, max_age = work.inputs, work.site.charger_max_age_s
    if not ci.connected:
        return None
    for reading in (ci.currents_a, ci.power_w):
        if reading is not None and is_fresh(reading.at, max_age, now):
            return reading.at, work.measured_w
    return None


def measure_balance(
    site: SiteSettings,
    readings: SiteReadings,
    works: list[ChargerWork],
    memory: SiteMemory | None = None,
) -> Balance | None:
    """The site balance with the cars' draw added back (None: no grid reading); ``memory`` learns
    the battery's capacity from the readings on the way."""
    if memory is not None:
        memory.capacity.observe(readings.read_at, readings.battery_w, readings.battery_soc)
    if readings.grid_w is None:
        return None
    owed_w = _battery_owed(site, readings, memory)
    cars_cap_w = cars_may_draw_w(works)
    return site_balance(
        settings=site,
        # An offline charger's draw is no surplus to hand on (it keeps its last limit): the
        # house's load, as for the fuse (``fuse.line_headroom``).
        ev_w=sum(w.draw_w for w in works if w.inputs.connected),
        grid_w=readings.grid_w,
        battery_w=readings.battery_w,
        battery_soc=readings.battery_soc,
        pv_w=readings.pv_w,
        pv_available_w=readings.pv_available_w,
        any_car_drawing=any(w.draw_w > 100.0 for w in works),
        cars_cap_w=cars_cap_w,
        paired_deficit_w=_paired_deficit(readings, cars_cap_w, memory),
        battery_owed_w=owed_w,
    )


def cars_may_draw_w(works: list[ChargerWork]) -> float | None:
    """What the cars may draw together as the battery's cap counts it (``ChargerWork.may_draw_w``);
    None: no car may draw, the battery is not capped."""
    if not any(w.may_draw_w > 100.0 for w in works):
        return None
    return sum(w.may_draw_w for w in works)


def _battery_owed(site: SiteSettings, readings: SiteReadings, memory: SiteMemory | None) -> float:
    """Battery first: what the battery would take beyond what it charges now (W).

    A battery that zeroes the grid absorbs whatever a car leaves and gives way to whatever a car
    takes: the grid shows neither, so "no export" alone would let the cars creep up into the
    battery's share. Its acceptance (``SiteMemory.battery_accept_w``) is the most it was seen
    charging, or what it charged while PV was left over a while; charging less than that
    without export means a car took the rest.
    """
    battery_w, grid_w = readings.battery_w, readings.grid_w
    if memory is None or battery_w is None or grid_w is None:
        return 0.0
    charge = max(0.0, -battery_w)
    curtailed = (
        readings.pv_available_w is not None
        and readings.pv_w is not None
        and curtailed_pv_w(grid_w, readings.pv_w, readings.pv_available_w) > LEFT_OVER_W
    )
    at = readings.grid_at if readings.grid_at is not None else 0.0
    tapered: float | None = None  # what it takes while PV is left over a while
    if grid_w < -LEFT_OVER_W or curtailed:
        if memory.left_over_since is None:
            memory.left_over_since, memory.left_over_charge_w = at, 0.0
        memory.left_over_charge_w = max(memory.left_over_charge_w, charge)
        if at - memory.left_over_since >= LEFT_OVER_S:
            tapered = memory.battery_accept_w = memory.left_over_charge_w
    else:
        memory.left_over_since = None
    # Whatever it was seen charging, it takes at least that much.
    memory.battery_accept_w = max(memory.battery_accept_w or 0.0, charge)
    accept = site.battery.max_charge_w  # the user's setting, else the learned value
    if accept is None:
        # A zero-export site without an available-power sensor never shows left-over PV: a
        # battery that filled up would keep its stale claim there.
        if site.solar.zero_export and readings.pv_available_w is None:
            return 0.0
        accept = memory.battery_accept_w
    elif tapered is not None:
        accept = min(accept, tapered)
    # Within meter noise of it (the learned value is the highest of noisy readings) is at it.
    return max(0.0, accept - charge - LEFT_OVER_W)


def _paired_deficit(
    readings: SiteReadings, cars_w: float | None, memory: SiteMemory | None
) -> float | None:
    """The house's deficit from the battery reading and the grid reading of its own moment.

    The battery follows the house within a second, its meter reports every few: beside a newer
    grid reading an older battery reading is off by whatever the battery did since (after the
    cap was lowered, it still shows the power from before). Paired with the grid of its moment
    the sum is consistent, only older.
    """
    if memory is None or cars_w is None or readings.grid_at is None or readings.grid_w is None:
        if memory is not None:
            memory.grid.clear()  # no car charging: nothing to cap
        return None
    if not memory.grid or memory.grid[-1][0] != readings.grid_at:
        memory.grid.append((readings.grid_at, readings.grid_w, cars_w))
    if readings.battery_w is None or readings.battery_at is None:
        return None
    then = [entry for entry in memory.grid if entry[0] <= readings.battery_at]
    if not then:
        return None
    _, grid_w, ev_w = then[-1]
    return grid_w + readings.battery_w - ev_w


def count_unseen_draw(memory: SiteMemory, readings: SiteReadings, works: list[ChargerWork]) -> None:
    """Count in the fuse's line currents a car's start or raise the grid shows and its charger's
    meter does not yet, as far as the grid shows it.

    The line currents are the charger's meter, capped at the lowest limit since its sample
    (``_measure_draw``): the house's load, the grid's current less theirs, is never
    underestimated. But just after a
    start the grid already shows the car while its meter still shows it paused: the house's load
    seems to jump by the car's draw, the fuse leaves the car less than its minimum and pauses
    it, the pause shows and it starts again (every write interval, for as long as the charger's
    meter misses the car drawing: for good with 60 s meter values). The learned response says
    from when the grid may show a write (``ChargerWork.draw_w`` above the line currents), yet a
    car may start later than that (its handshake): counted then, the house's load would be
    underestimated by the car's draw. So only what the house's load seems to have risen on the
    car's lines since the grid's last reading is the car's, up to what the response predicts
    and never above the last write. (A house load that rises while a car is slow to start is
    taken for the car until it draws: then the grid shows the overload and the fuse lowers.)
    Once the car's draw held still after its start or raise, it counts at no more than that
    (``unseen_draw``: a car taking less than offered left a house step counted as its own), and
    what it held above a lower in flight is its lag (``ChargerWork.lag_a``).
    """
    grid, grid_at = readings.grid_currents, readings.grid_currents_at
    if grid is None or grid_at is None:
        memory.house.clear()  # no evidence to compare the next reading with
        return
    if memory.house and memory.house[-1][0] == grid_at:
        memory.house.pop()  # the same reading again: compared with the one before it
    before = memory.house[-1][1] if memory.house else None
    connected = [w for w in works if w.inputs.connected]
    # What a car draws above a limit it refused is its own, no rise of the house's to count
    # for another car.
    drawn = line_sums(connected)
    beyond = [sum(w.above_written[k] for w in connected) for k in range(len(LINES))]
    rest = [None if g is None else g - drawn[k] - beyond[k] for k, g in enumerate(grid)]
    # A car counts what rose on all of its lines: cars on more lines first. (A 1-phase car first
    # took a 3-phase car's start on its line, the other two lines' rise read as the house's, and
    # the fuse paused both cars: starting together on a 25 A fuse with meters a minute apart,
    # both paused and started every 17 s for 6 minutes.)
    for work in sorted(connected, key=lambda car: -len(car.lines(car.vehicle_phases))):
        lines = [LINES.index(line) for line in work.lines(work.vehicle_phases)]
        # The car's record starts over at its latest start or raise, is read by
        # ``_unseen_draw_a`` and sees what it drew below: its updates in one place.
        writes = work.memory.response.writes
        work.memory.unseen.written(
            next((w.at for w in reversed(writes) if w.kind is not WriteKind.DROP), None)
        )
        counted = _unseen_draw_a(work, lines, rest, before, grid_at)
        currents, lag = list(work.line_currents), list(work.lag_a)
        last = work.memory.last_write
        if counted > 0.0 and last is not None:
            for k in lines:
                added = min(last.current_a, currents[k] + counted) - currents[k]
                # Above the limit: a lower the car has not followed yet (its lag).
                lag[k] = max(lag[k], currents[k] + counted - last.current_a)
                currents[k] += added
                # What is left to explain for the next car, and the house's load to compare the
                # next reading with: without the lag counted here (a lag its meter shows stays
                # in, as in the fuse's headroom: it holds from one reading to the next).
                if (rest_a := rest[k]) is not None:
                    rest[k] = rest_a - counted
            work.line_currents = (currents[0], currents[1], currents[2])
            work.lag_a = (lag[0], lag[1], lag[2])
        work.memory.unseen.observe(grid_at, max(currents[k] for k in lines), work.cfg.min_current_a)
    memory.house.append((grid_at, (rest[0], rest[1], rest[2])))


def _unseen_draw_a(
    work: ChargerWork,
    lines: list[int],
    rest: list[float | None],
    before: Phases | None,
    grid_at: float,
) -> float:
    """What a car draws per line that the grid shows and its meter does not (A; <= 0: none):
    the house's rise on its lines since the last reading, up to what its latest write lets it
    draw (while a lower is in flight, what was in force before it), and once its draw held
    still after its latest start or raise, up to what it drew then (``unseen_draw``)."""
    memory, response, solar = work.memory, work.memory.response, work.site.solar
    most = memory.unseen.most_a
    last = memory.last_write
    if before is None or last is None or last.paused:
        return 0.0
    expected = min(last.current_a, work.draw_w / work.site.voltage_v / work.vehicle_phases)
    if (
        most < math.inf
        and _lower_in_flight(response, response.sample_at, grid_at, solar)
        and (in_force := response.in_force_max_a(grid_at, solar)) is not None
    ):
        # A lower in flight: the car may still draw what it held before (its lag). (Not while
        # it may be ramping: a rise then may be the house's, and a hold would slow the lowers.)
        expected = max(expected, min(in_force, memory.car_limit_a or math.inf))
    counted = math.inf
    for k in lines:
        now_a, then_a = rest[k], before[k]
        # No reading of a line: the meter's value holds.
        rise = 0.0 if now_a is None or then_a is None else now_a - then_a
        counted = min(counted, min(expected, most) - work.line_currents[k], rise)
    return counted


def is_fresh(at: float, max_age: float, now: float) -> bool:
    return now - at <= max_age


def _fresh_phases(
    reading: PhaseReading | None, site: SiteSettings, now: float, stale: set[str]
) -> Phases | None:
    """The grid's phase currents as far as known (None: not configured, or too old, then
    ``grid_currents`` is stale); a line of the site without a reading is None and named stale
    (``grid_current_l2``): the fuse estimates that line (``surplus.fuse_headroom``)."""
    if reading is None:
        return None
    if not is_fresh(reading.at, site.grid_max_age_s, now):
        stale.add("grid_currents")
        return None
    values = [v if v is not None and math.isfinite(v) else None for v in reading.values]
    for line in range(site_lines(site)):
        if values[line] is None:
            stale.add(f"grid_current_l{line + 1}")
    return values[0], values[1], values[2]


def prepare(
    cid: str,
    cfg: ChargerSettings,
    memory: ChargerMemory,
    ci: ChargerInputs | None,
    site: SiteSettings,
    now: float,
    grid_at: float | None = None,
) -> ChargerWork:
    """The charger's working record for this update, with the phases and power its car uses
    (``grid_at``: when the grid meter read; its draw is estimated for that moment)."""
    inputs = ci if ci is not None else ChargerInputs(connected=False)
    work = ChargerWork(cid=cid, cfg=cfg, site=site, memory=memory, inputs=inputs)
    if inputs.plugged and not memory.was_plugged:
        # A new car: what was learned about the last one (and its start delay) no longer holds.
        memory.started_once = False
        memory.active = False
        memory.enable.reset()
        memory.disable.reset()
        memory.car_limit_a = None
        memory.follow.forget()
        memory.car_phases = None
        memory.soc_seen = memory.soc_at = None
        memory.dip_open_since = None  # the last car's: its sun shows nothing of this one's
    memory.was_plugged = inputs.plugged
    _observe_response(work, now)
    work.vehicle_phases = vehicle_phases(work, now)
    _measure_draw(work, now, now if grid_at is None else grid_at)
    _note_ev_suspended(work, now)
    # The most the car may draw now: its meter, the estimate, and any limit the charger may be
    # applying still (a start shows any moment, a stop only once applied).
    pending_a = memory.response.pending_max_a(site.solar) if inputs.plugged else 0.0
    work.may_draw_w = max(
        work.draw_w, work.measured_w, pending_a * site.voltage_v * work.vehicle_phases
    )
    return work


def vehicle_phases(work: ChargerWork, now: float) -> int:
    """Phases the car really uses: a 1p car on a 3p charger takes a third of the power.

    While it draws nothing (paused, starting) it counts on the phases it was last seen drawing on
    in this session where those were fewer than offered (``ChargerMemory.car_phases``): a 1p car
    paused on a 3p charger is still a 1p car, and a plan sized for 3p would start too late.
    """
    memory = work.memory
    phases = memory.phases
    known = min(phases, memory.car_phases or phases)
    # Right after a start or a 1p/3p switch the meters still show the phases from before.
    response = memory.response
    settle = response.late_s(work.site.solar, start=True)
    if now < max(memory.last_switch_at, memory.started_at) + settle and not response.followed(
        response.sample_at
    ):
        return known
    used = work.inputs.phases_in_use
    if used is None and work.inputs.charging and work.inputs.currents_a is not None:
        used = sum(1 for v in work.inputs.currents_a.values if v is not None and v >= 1.0)
    if used is None or used < 1:
        return known
    _remember_phases(work, used, now)
    return min(used, phases)


def _remember_phases(work: ChargerWork, used: int, now: float) -> None:
    """Note the phases the car draws on: fewer than the charger offers says what the car is.

    On a 1p/3p charger switched to 1p a 3p car draws on one phase because of the switch: only
    drawing on fewer phases than offered (or on more than remembered) tells about the car, and
    only a sample taken after the last switch (one taken as it switches shows the phases before).
    """
    memory, sample = work.memory, work.inputs.currents_a
    if (now if sample is None else sample.at) <= memory.last_switch_at:
        return
    if used < memory.phases:
        memory.car_phases = used
    elif memory.car_phases is not None and used > memory.car_phases:
        memory.car_phases = None  # it draws on every phase offered


def _measure_draw(work: ChargerWork, now: float, grid_at: float) -> None:
    ci = work.inputs
    v = work.site.voltage_v
    max_age = work.site.charger_max_age_s
    last = work.memory.last_write
    commanded = 0.0 if last is None or last.paused else last.current_a
    power = ci.power_w.value if ci.power_w is not None else None
    if power is not None and ci.power_w is not None and not is_fresh(ci.power_w.at, max_age, now):
        power = None
    if ci.currents_a is not None and is_fresh(ci.currents_a.at, max_age, now):
        measured = [x or 0.0 for x in ci.currents_a.values]
        # A just-lowered limit shows in the grid meter before the charger's own meter: capped at
        # the lowest limit since the sample (a pause in between too: a sample from before it is
        # no draw after the restart), the house load is never underestimated. What the grid
        # shows of a later start or raise is counted back by ``count_unseen_draw``. Capped at
        # the written limit too: a draw above it that no limit since explains (the charger
        # refused it: ``EnergyManager.refused``) is the house's load for the fuse, as far as
        # the other chargers go (``above_written``).
        response = work.memory.response
        least = response.least_offered_a(ci.currents_a.at, work.site.solar)
        if least is None:  # it surely shows none of the writes remembered: any was in force since
            least = min((write.amps for write in response.writes), default=commanded)
        held = [min(x, least) if last is not None else x for x in measured]
        capped = [min(x, commanded) if last is not None else x for x in held]
        sampled = measured
        if last is not None and len(kept := work.lines(last.phases)) == 1:
            # On one phase the car draws on the line it is wired to (a meter may report it as
            # its own L1), and never on a line the write left: a sample from before a switch to
            # one phase counted there would be headroom the grid no longer has.
            held, capped = _on_lines(held, kept), _on_lines(capped, kept)
            sampled = _on_lines(measured, kept)
        work.line_currents = (capped[0], capped[1], capped[2])
        work.above_written = (held[0] - capped[0], held[1] - capped[1], held[2] - capped[2])
        if _lower_in_flight(response, ci.currents_a.at, grid_at, work.site.solar):
            # (Above the lower's own limit: a line current capped lower still, by an older
            # pause the sample may not show, is counted back to it when the grid shows a draw.)
            lag = [max(0.0, x - commanded) for x in sampled]
            work.lag_a = (lag[0], lag[1], lag[2])
        work.draw_w = max(0.0, power) if power is not None else sum(measured) * v
        work.measured_w = work.draw_w
        _predict_draw(work, ci.currents_a.at, max(measured), grid_at)
    elif power is not None and ci.power_w is not None:
        work.draw_w = work.measured_w = max(0.0, power)
        work.line_currents = _spread(work, work.draw_w / v / work.vehicle_phases)
        _predict_draw(work, ci.power_w.at, work.draw_w / v / work.vehicle_phases, grid_at)
    elif ci.charging:
        work.draw_w = commanded * v * work.vehicle_phases
        work.line_currents = _spread(work, commanded)


def _lower_in_flight(
    response: ChargerResponse, sample_at: float, grid_at: float, solar: SolarSettings
) -> bool:
    """Whether the charger's latest write is a lower its sample taken at ``sample_at`` may not
    show yet and the car may not have followed when the grid meter read (``grid_at`` within
    its settle time): it may still draw more (``ChargerWork.lag_a``)."""
    last = response.last_write
    return (
        last is not None
        and last.kind is WriteKind.DROP
        and grid_at < last.at + response.late_s(solar)
        and response.shown_by_sample(sample_at, solar) is not last
    )


def _on_lines(currents: list[float], lines: tuple[str, ...]) -> list[float]:
    """A one-phase car's ``currents`` on the line it loads (its highest), none elsewhere."""
    return [max(currents) if line in lines else 0.0 for line in LINES]


def _observe_response(work: ChargerWork, now: float) -> None:
    """Show the charger's fresh meter sample to its response learner (``response.py``)."""
    ci, site = work.inputs, work.site
    work.memory.response.tick(now, site.solar)
    if ci.currents_a is not None and is_fresh(ci.currents_a.at, site.charger_max_age_s, now):
        measured = [x or 0.0 for x in ci.currents_a.values]
        lines = sum(1 for x in measured if x >= 1.0)
        work.memory.response.observe(ci.currents_a.at, max(measured), lines, site.solar)
    elif (
        ci.power_w is not None
        and ci.power_w.value is not None
        and is_fresh(ci.power_w.at, site.charger_max_age_s, now)
    ):
        phases = ci.phases_in_use or work.memory.phases
        amps = max(0.0, ci.power_w.value) / site.voltage_v / phases
        work.memory.response.observe(ci.power_w.at, amps, phases if amps >= 1.0 else 0, site.solar)


def _predict_draw(work: ChargerWork, sample_at: float, measured_a: float, grid_at: float) -> None:
    """The car's draw when the grid meter read, where the charger's meter is older than that.

    Charger meters report every 10-60 s, the grid meter every few: after a write the grid shows
    the car's new draw while the charger still reports the old one, and the surplus would swing
    the wrong way (the classic oscillation); before the charger applied it, both show the old
    one. Which write each meter shows comes from the charger's learned response
    (``response.py``). Cars follow a lower limit at once but may not take a higher one (taper,
    own limit): a settled sample that shows the car taking less than offered caps the prediction
    at what it really takes.
    """
    memory = work.memory
    last = memory.last_write
    if last is None:
        return
    solar, response = work.site.solar, memory.response
    # A start or a phase switch takes longer than a change of limit (charger pause, car
    # handshake): a car seen at 0 A then is not a full car.
    settled = response.followed(sample_at) or (
        response.shown_by_sample(sample_at, solar) is response.last_write
        and sample_at >= memory.started_at + response.late_s(solar, start=True)
    )
    commanded = 0.0 if last.paused else last.current_a
    # A car seen taking nothing is full only once the slowest start or switch seen would show.
    idle = measured_a + 0.5 <= IDLE_LIMIT_A
    starting = sample_at < memory.started_at + response.slowest_start_s(solar)
    if not settled:
        # Writes that follow each other faster than the car settles (a target swinging around a
        # full car) never give a settled sample: a car that takes nothing under every limit a
        # sample may show is full all the same. (Not one that takes some: it may be ramping.)
        offered = response.least_offered_a(sample_at, solar)
        if offered is not None and not starting and idle and measured_a < offered - 1.0:
            _cap(memory, measured_a)
        predicted = response.draw_at_grid(
            grid_at, sample_at, measured_a, solar, memory.follow.offset_a
        )
        if predicted is None:
            return  # the grid shows what the sample shows
        if memory.car_limit_a is not None:
            predicted = min(predicted, memory.car_limit_a)
        work.draw_w = predicted * work.site.voltage_v * work.vehicle_phases
    elif commanded > 0.0:
        _learn_car_limit(work, sample_at, measured_a, commanded, idle=idle, starting=starting)


def _learn_car_limit(
    work: ChargerWork,
    sample_at: float,
    measured_a: float,
    commanded: float,
    *,
    idle: bool,
    starting: bool,
) -> None:
    """A settled sample under ``commanded``: does the car take less than offered (a cap on what
    it takes) or all of it (no cap)? Both are judged at the limit the car follows (what it
    takes plus its offset, ``follow_offset.py``).

    A shortfall an offset not seen yet could explain (up to ``MAX_OFFSET_A`` more) is no cap
    where the probe above it would be no higher than the minimum current: nothing could show
    the car taking more again (a car 1.3 A under its limits was held at its minimum for good).
    """
    memory = work.memory
    memory.follow.observe(sample_at, commanded, measured_a)
    offset = memory.follow.offset_a
    cap = memory.car_limit_a
    short = measured_a + offset < commanded - 1.0
    if idle and not starting and measured_a < commanded - 1.0:
        _cap(memory, measured_a)  # full
    elif short and not idle and not _offset_pinned(work, measured_a + 0.5, commanded - measured_a):
        _cap(memory, measured_a, commanded - measured_a)
    elif cap is not None and (
        # Taking what it was offered and up to the cap: it takes more than seen. Short of the
        # cap, following a lower limit says nothing about what it could take.
        (measured_a + offset >= commanded - 0.5 and measured_a >= cap - EPS)
        or _offset_pinned(work, cap, memory.car_limit_shortfall_a)
    ):
        memory.car_limit_a = None


def _offset_pinned(work: ChargerWork, cap_a: float, shortfall_a: float) -> bool:
    """A car capped at ``cap_a``, seen taking ``shortfall_a`` less than offered, could have an
    offset not seen yet, and the cap would leave no probe above the minimum current."""
    pinned = work.probe_a(cap_a) <= work.cfg.min_current_a + EPS
    return shortfall_a <= 1.0 + MAX_OFFSET_A and pinned


def _cap(memory: ChargerMemory, taken_a: float, shortfall_a: float = math.inf) -> None:
    """The car takes no more than ``taken_a``, ``shortfall_a`` less than it was offered (inf:
    it is full or suspended, whatever its offset)."""
    memory.car_limit_a = taken_a + 0.5
    memory.car_limit_shortfall_a = shortfall_a


def _note_ev_suspended(work: ChargerWork, now: float) -> None:
    """The charger says the car suspended the charge (SuspendedEV): it takes what it draws.

    Only once the slowest start or 1p/3p switch the charger showed has passed since the last write
    (a car is briefly suspended while it starts); then it counts as EV-limited at its measured draw
    (0 without a meter) like a settled meter sample that shows it taking less than offered.
    """
    memory, last, ci = work.memory, work.memory.last_write, work.inputs
    if not ci.ev_suspended:
        max_age = work.site.charger_max_age_s
        metered = any(
            r is not None and is_fresh(r.at, max_age, now) for r in (ci.currents_a, ci.power_w)
        )
        if ci.charging and not metered:
            memory.car_limit_a = None  # charging again; no meter will show it taking more
        return
    if last is None or last.paused:
        return
    settle = memory.response.slowest_start_s(work.site.solar)
    if now < max(memory.last_write_at, memory.started_at) + settle:
        return
    taken_a = work.measured_w / work.site.voltage_v / work.vehicle_phases
    if taken_a < last.current_a - 1.0:
        _cap(memory, min((memory.car_limit_a or math.inf) - 0.5, taken_a))
        work.draw_w = min(work.draw_w, work.measured_w)


def _spread(work: ChargerWork, amps: float) -> tuple[float, float, float]:
    lines = work.lines(work.memory.phases)
    return (
        amps if "L1" in lines else 0.0,
        amps if "L2" in lines else 0.0,
        amps if "L3" in lines else 0.0,
    )
