"""Meter signs: a grid or battery power sensor whose sign is the wrong way round.

Some inverters' "grid" sensors show export as positive (the reference wants import +), some
battery sensors charging as positive (discharge +). Read as they are, an inverted grid meter shows
a house importing 36 A as a large export: the fuse sees no house load and the cars are raised
until it trips. Such a meter is flagged and then counts as unusable (stale: the fallback applies,
the fuse is not trusted to be free) until it behaves.

Two signals, neither fooled by PV the PV sensor does not cover (a second inverter, micro-inverters:
the computed house load can then be negative and all is well):

* Steps (grid and battery): the cars' measured draw moves by ``STEP_W`` or more between two of
  their meters' samples; the meter, read by the first of those moments and once more at least
  ``SETTLE_S`` after the second (plus the PV reading of each moment, where one is configured: a
  cloud passing in between is no verdict), must have moved the same way. Judged only once the
  step has settled on the meter, while the cars' draw stays: a car the controller raised because
  the house's load fell (a meter that moved first the other way, then back as the car followed)
  is no verdict; an inverted meter stays on the wrong side. Moving the other way by about as much (within ``OPPOSITE_BAND`` of the step)
  ``OPPOSITE_STEPS`` times in a row flags it; one step that moves it the right way by at least
  ``FOLLOW_SHARE`` of the step clears the flag and confirms the sign. (A battery that zeroes the
  grid takes the car's step instead of the grid: the grid then hardly moves, no verdict; the house
  switching a large load at the same moment rarely matches the step, and never three times.)
* Balance (grid only, a PV sensor configured, the sign not confirmed by a step yet): while the
  covered PV is dark (night: ``DARK_PV_W``) and a car draws, the grid shows more than ``BALANCE_W``
  of export beyond what the battery gives, for ``BALANCE_S``. That export would have to come from
  PV no sensor covers while the covered PV makes nothing; an inverted meter shows exactly that
  (house plus car as export). A generator or an unconfigured battery that exports at night could
  look alike: the car's next start (a step the right way) clears it.

The state lives in the site memory (``measure.SiteMemory.meter_signs``); it is forgotten when the
options change (another sensor picked) and not stored: it is learned again after a restart.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field

from .types import Reading

GRID = "grid_power"
BATTERY = "battery_power"

STEP_W = 1_200.0  # a change of the cars' measured draw large enough to judge a meter by (W)
FOLLOW_SHARE = 0.5  # moving the right way by this share of a step confirms the sign
OPPOSITE_BAND = 0.3  # moving the other way by the step within this share of it is a verdict
OPPOSITE_STEPS = 3  # verdicts the wrong way in a row that flag a meter
PAIR_S = 10.0  # a meter reading at most this far from a car's sample shows that moment (s)
# A meter shows a car's step this long after the car's meter does (inverters, sensor updates).
SETTLE_S = 3.0
HISTORY_S = 180.0  # meter readings kept this long (longer than any charger's meter interval)

DARK_PV_W = 50.0  # the covered PV makes less than this: night (or its inverter is off)
BALANCE_W = 1_000.0  # export beyond the battery's discharge no dark site can have (W)
BALANCE_S = 30.0  # ... for this long (a fuse carries a large overload for minutes, not seconds)
DRAWING_W = 1_000.0  # the cars draw at least this much (W) for the balance to count


@dataclass(frozen=True, slots=True)
class CarsDraw:
    """The cars' measured draw (W) and when the newest meter sample that makes it was taken."""

    at: float
    w: float


@dataclass(slots=True)
class StepSignCheck:
    """One meter judged by the cars' steps (see the module doc)."""

    # (when, the meter's value, the PV reading then or None)
    history: deque[tuple[float, float, float | None]] = field(
        default_factory=lambda: deque(maxlen=512)
    )
    opposite: int = 0
    inverted: bool = False
    confirmed: bool = False  # a step went the right way (the sign is right)
    pending: tuple[CarsDraw, CarsDraw] | None = None  # a step waiting to settle on the meter

    def reading(self, reading: Reading | None, pv_w: float | None) -> None:
        """A meter reading and the PV of its moment (kept whatever it says: a flagged meter is
        watched to clear it); a step it shows settled is judged."""
        if reading is None or reading.value is None:
            return
        if self.history and self.history[-1][0] >= reading.at:
            return
        self.history.append((reading.at, reading.value, pv_w))
        while self.history and self.history[0][0] < reading.at - HISTORY_S:
            self.history.popleft()
        if self.pending is not None and reading.at >= self.pending[1].at + SETTLE_S:
            before, after = self.pending
            self.pending = None
            if reading.at <= after.at + SETTLE_S + PAIR_S:
                self._judge(before, after, (reading.value, pv_w))

    def clock_went_back(self) -> None:
        """The readings kept by their times, and a step waiting on them, are forgotten (a reading
        after the jump would count as older than them); the verdict stays."""
        self.history.clear()
        self.pending = None

    def step(self, before: CarsDraw, after: CarsDraw) -> None:
        """The cars' draw stepped from ``before`` to ``after``: judged by the meter's first
        reading once the step has settled (:meth:`reading`)."""
        self.pending = (before, after)

    def cars_now(self, cars: CarsDraw) -> None:
        """The cars' draw now: a step still to be judged is dropped once the draw moved on (the
        meter would show that move too)."""
        if self.pending is None:
            return
        before, after = self.pending
        if abs(cars.w - after.w) > OPPOSITE_BAND * abs(after.w - before.w):
            self.pending = None

    def _judge(self, before: CarsDraw, after: CarsDraw, now: tuple[float, float | None]) -> None:
        then = self._last_by(before.at)
        if then is None or (then[1] is None) != (now[1] is None):
            return  # (PV read at one moment only: a change of the sun would count as the car's)
        cars_delta = after.w - before.w
        meter_delta = now[0] + (now[1] or 0.0) - then[0] - (then[1] or 0.0)
        if (meter_delta > 0) == (cars_delta > 0):
            if abs(meter_delta) >= FOLLOW_SHARE * abs(cars_delta):
                self.opposite, self.inverted, self.confirmed = 0, False, True
        elif abs(meter_delta + cars_delta) <= OPPOSITE_BAND * abs(cars_delta):
            self.opposite += 1
            self.inverted = self.inverted or self.opposite >= OPPOSITE_STEPS
        # Otherwise the house (or a battery that zeroes the grid) moved too: no verdict.

    def _last_by(self, at: float) -> tuple[float, float | None] | None:
        """The meter's last reading at or before ``at`` (before the step began) and the PV then
        (None: none within ``PAIR_S``)."""
        for when, value, pv_w in reversed(self.history):
            if when <= at:
                return (value, pv_w) if at - when <= PAIR_S else None
        return None


@dataclass(slots=True)
class MeterSigns:
    """The grid's and the battery's sign checks, and the grid's balance check."""

    grid: StepSignCheck = field(default_factory=StepSignCheck)
    battery: StepSignCheck = field(default_factory=StepSignCheck)
    cars: CarsDraw | None = None  # the cars' draw at the last sample judged from
    exporting_since: float | None = None  # the impossible balance holds since then
    grid_by_balance: bool = False

    def clock_went_back(self) -> None:
        """Our wall clock went back: what is kept by its time (readings, the cars' last draw, the
        impossible balance's start) is forgotten; the verdicts stay."""
        self.grid.clock_went_back()
        self.battery.clock_went_back()
        self.cars = self.exporting_since = None

    @property
    def inverted(self) -> frozenset[str]:
        """The inputs whose sign looks inverted (``GRID``, ``BATTERY``)."""
        names = set()
        if self.grid.inverted or self.grid_by_balance:
            names.add(GRID)
        if self.battery.inverted:
            names.add(BATTERY)
        return frozenset(names)

    def observe(
        self,
        *,
        grid: Reading | None,
        battery: Reading | None,
        pv_w: float | None,
        cars: CarsDraw | None,
    ) -> None:
        """One update's raw meter readings (fresh or not: they are paired by time) and the cars'
        measured draw (None: no car meter read); ``pv_w``: the fresh PV reading, if any."""
        new_cars = cars is not None and (self.cars is None or cars.at > self.cars.at)
        if new_cars and cars is not None:  # first: this update's readings may show its move
            self.grid.cars_now(cars)
            self.battery.cars_now(cars)
        self.grid.reading(grid, pv_w)
        self.battery.reading(battery, pv_w)
        if self.grid.confirmed:
            self.grid_by_balance = False
        if new_cars and cars is not None:
            if self.cars is not None and abs(cars.w - self.cars.w) >= STEP_W:
                self.grid.step(self.cars, cars)
                self.battery.step(self.cars, cars)
            self.cars = cars
        self._balance(grid, battery, pv_w, cars)

    def _balance(
        self,
        grid: Reading | None,
        battery: Reading | None,
        pv_w: float | None,
        cars: CarsDraw | None,
    ) -> None:
        if grid is None or grid.value is None:
            return  # nothing new to judge: the verdict stands
        discharge = battery.value if battery is not None and battery.value is not None else 0.0
        impossible = (
            not self.grid.confirmed
            and pv_w is not None
            and pv_w < DARK_PV_W
            and cars is not None
            and cars.w >= DRAWING_W
            and grid.value + max(0.0, discharge) < -BALANCE_W
        )
        if not impossible:
            self.exporting_since = None
            return
        if self.exporting_since is None:
            self.exporting_since = grid.at
        if grid.at - self.exporting_since >= BALANCE_S:
            self.grid_by_balance = True

    def reset(self) -> None:
        """Other sensors may be picked: everything learned about the old ones goes."""
        self.grid, self.battery = StepSignCheck(), StepSignCheck()
        self.cars, self.exporting_since, self.grid_by_balance = None, None, False


def cars_draw(samples: Iterable[tuple[float, float]]) -> CarsDraw | None:
    """The cars' draw from each car meter's (sample time, W); None without any."""
    taken = list(samples)
    if not taken:
        return None
    return CarsDraw(at=max(at for at, _ in taken), w=sum(w for _, w in taken))
