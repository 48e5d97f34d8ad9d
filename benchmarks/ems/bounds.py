"""Upper bounds for PV into the solar cars, per day-run (replaces the old greedy "optimum").

INTERFACE CONTRACT (used by benchmarks/ems_day.py and benchmarks/ems_suite.py):
- ``DayInputs``: everything the plant is built from for one day-run.
- ``physical_bound(inputs)``: PV that could reach the solar cars at all (true surplus after the
  house, the fast cars and the battery's priority; cars' maximum power; minimum current relaxed).
- ``equal_import_bound(inputs, import_budget_wh)``: the most PV->EV any controller with the same
  plant constraints could reach with at most ``import_budget_wh`` of grid (and battery) energy
  into the solar cars, start delays included (a Lagrangian dual of a day-long dynamic programme;
  with a battery also of one over its SoC; ``battery_state=False``: without that one).

Both work per second, as the plant does (PV interpolated within the minute, house held), on the
quantity ``Plant._account`` credits: ``pv_to_ev = min(pv - house - fast cars, solar cars' power)``.
They bound every controller that keeps the rules the plant does not enforce itself:
- battery priority: below the priority SoC the battery gets the surplus up to its maximum power
  (a controller that takes it for the car is credited PV by the plant's accounting and can beat
  the bound; ``Bound.no_priority_wh`` is the physical bound without this rule);
- fast cars get their maximum, commanded within ``DayInputs.fast_start_within_s`` of ``t0``;
- the fuse is kept on every phase (the plant only counts the seconds above it).
Every estimate errs towards more PV for the solar cars:
- fast cars: the lower envelope of their draw (the plant's ``ChargerModel`` commanded at ``t0``
  and ``fast_start_within_s`` later: the draw rises, holds, then tapers, so any start in between
  draws at least the smaller of the two);
- battery: its highest possible SoC, so it reaches the priority SoC no later, and falls below it
  again no sooner, than in any run: it charges at the largest power the plant's one-second lag
  allows and discharges only what the house's own deficit of the second before asks of it (the
  plant's battery answers last second's grid, which the cars only raise), less what the run's
  discharge cap held back from the house (``DayInputs.battery_held_w``; without it the bound
  holds for runs that hold back nothing); its share below that SoC, ``min(max power,
  surplus)``, is non-decreasing in the surplus, so what is left for the cars is never less than
  in a run. That path charges with the sun the cars get too: ``equal_import_bound`` also keeps
  the SoC as a state (``_BatteryProgramme``), where the battery gets only what the cars leave,
  each relaxation towards a higher SoC, and takes the lower of the two per import price;
- fuse headroom: PV and the battery at full discharge relieve every phase (the most they can);
- solar cars: one car's taper follows the PV it got (its SoC is at least that); several cars
  are capped by their room to 100 % SoC only; the 6 A minimum is dropped where a car could be
  past the SoC at which its taper falls below 6 A (the plant's car then draws less);
- start delays: what the plant enforces (``ChargerModel``: a car that has not drawn, paused or on
  a limit below 6 A, draws again only after ``start_delay_s`` of zero draw; a 1p/3p switch stops
  it for ``switch_pause_s``) is kept as a bound on the gaps of the cars' aggregate draw (see
  ``equal_import_bound``); ramps, switch pauses while drawing (beyond that gap), the charger's
  response delay and which car draws are dropped.
Solve times (this machine, numpy, no solver), 16-17 h days: physical 0.05-0.3 s; equal-import
0.1-0.4 s with one solar car, 0.6-0.9 s with two (at most 2.2 s in the suite with two busy
workers; ``Bound.solve_s`` has each run's); with a battery 0.5-4.7 s of CPU on the suite's battery
runs, more wall time on a loaded machine (its SoC programme: a 0.25 Wh grid over the SoC range
each 5-minute block can reach, times the import prices).
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import Protocol

import numpy as np

from custom_components.ocpp_ems.core.ems import Mode

from .plant import HOUSE_SPLIT, BatteryModel, Car, ChargerModel, Command, V

MIN_A_NEAR_FULL = 0.5  # the plant's car draws down to 0.5 A once its own limit is below 6 A
LAMBDA_STAGES = 3  # grids of import prices, each narrowed around the best of the last
LAMBDA_POINTS = 16
BATTERY_BLOCK_S = 300  # the battery programme's time step (``_BatteryProgramme``)
BATTERY_GRID_WH = 0.25  # its grid of cell energy (over the states a block can reach)


@dataclass(frozen=True)
class CarBoundSpec:
    solar: bool  # False: a Fast-mode car (takes its maximum, served before the solar cars)
    wired_phases: int = 3
    switchable: bool = False  # 1p/3p switching
    line_1p: int = 1
    max_a: float = 16.0
    min_a: float = 6.0
    capacity_wh: float = 60000.0
    soc: float = 20.0
    efficiency: float = 0.9
    charger_delay_s: float = 3.0  # the plant charger's (a fast car's draw starts after them)
    start_delay_s: float = 5.0
    switch_pause_s: float = 10.0  # a 1p/3p switch stops the car this long (switchable cars)

    def min_gap_s(self) -> float:
        """The shortest zero-draw stretch between two of this car's drawing seconds."""
        if self.switchable and self.wired_phases == 3:
            return min(self.start_delay_s, self.switch_pause_s)
        return self.start_delay_s


@dataclass(frozen=True)
class DayInputs:
    pv_w: np.ndarray  # 1440 minute values (W), interpolated per second by the plant
    house_w: np.ndarray  # 1440 minute values (W), held for the minute by the plant
    cars: tuple[CarBoundSpec, ...]
    battery: BatteryModel | None  # initial state (copied, never mutated)
    priority_soc: float
    fuse_a: float | None
    t0: int  # seconds of the day
    t1: int
    fast_start_within_s: float = 120.0  # latest first command to a fast car after t0
    # Per second from t0, what the run's discharge cap kept from the house (``Plant.battery_held_w``)
    battery_held_w: np.ndarray | None = None


@dataclass(frozen=True)
class Bound:
    pv_to_ev_wh: float
    grid_to_ev_wh: float
    method: str  # one line: how it was computed
    solve_s: float
    no_priority_wh: float | None = None  # physical bound without the battery's priority


def physical_bound(inputs: DayInputs) -> Bound:
    started = time.perf_counter()
    day = _Day(inputs)
    value = day.filled(day.available)
    free = day.filled(day.no_priority)
    method = (
        "per-second sum of min(surplus after house, fast cars and battery priority, solar cars'"
        " max power within the fuse and taper), minimum current relaxed"
    )
    return Bound(value, 0.0, method, time.perf_counter() - started, no_priority_wh=free)


def equal_import_bound(
    inputs: DayInputs, import_budget_wh: float, *, battery_state: bool = True
) -> Bound:
    """The most PV->EV with at most ``import_budget_wh`` into the solar cars, start delays kept.

    Per second, while some solar car draws ("ON"), the cars take a configuration (each car off,
    1p or 3p) with a power range [sum of minima, sum of maxima within the fuse]: PV credited
    min(surplus, power), import (minimum - surplus)+. For an import price lambda >= 0 the best
    ON second is worth g = max over configurations of PV - lambda * import. Between ON runs
    ("gaps") the cars draw nothing; the plant's start delay (and a switch's pause, for a
    switchable car) makes each car's own gaps at least D s long (D: the smallest among the solar
    cars), and every car is paused at ``t0``. For the aggregate ON/OFF pattern that gives:
    - the first ON second is D s or more after ``t0``;
    - one car: every gap is >= D s;
    - two cars: each gap ends >= D s after the start of the gap before it. Otherwise three
      different cars draw within those D s: the one restarting at the end of the gap and the
      one that restarted after the gap before are each off during the D s before their
      restart, a stretch that holds the other's restart and the last ON second before the
      gap before (whose car is thus a third);
    - three or more: only the first (gaps of one second are allowed: a relaxation).
    Handovers within an ON run (a car starting while another draws) need no gap at all. Every
    drawing second of a car is within its range (the plant's car starts at its minimum and
    draws nothing on a limit below it), so ON seconds are priced correctly. The best
    pattern is a dynamic programme over the seconds (``_dp_gaps``, ``_dp_two_cars``); its value
    DP(lambda) + lambda * budget bounds every schedule within the budget (weak duality: a
    schedule's PV is at most its DP value plus lambda * its import). The bound is the lowest of
    these over lambda, searched by bracketing on the convex piecewise-linear function (grids
    narrowed around the best point); any lambda's value is valid, the lowest found is returned.
    Dropped (each only adds schedules): ramps, switch pauses while drawing beyond D, the charger's
    response delay, which car draws (any configuration any second, no switch cost).
    ``Bound.grid_to_ev_wh`` is the import of the DP's schedule at the best lambda (one or three
    and more cars; the budget if it is more, or with two cars).

    With a battery the DP alone counts some sun twice: its battery is on its highest SoC path
    (charged with every surplus) while the cars also get the surplus above the priority SoC.
    A run's cars that take that sun leave the battery lower; when the house drains it below the
    priority SoC, the battery takes the sun first again. So, for each lambda, the bound is also
    at most a second programme that keeps the battery's SoC as its state and drops the gaps
    (``_BatteryProgramme``: any schedule is one of its own, minimum currents and import kept per
    second): both bound the best schedule's PV - lambda * import, and so does the lower of the
    two (the dual's weak duality holds per lambda). ``battery_state`` False: the DP alone (the
    previous bound, for comparison).
    """
    started = time.perf_counter()
    day = _Day(inputs)
    if not battery_state:
        day.battery_programme = None
    value, used_wh = day.import_bound(import_budget_wh)
    method = (
        "Lagrangian dual (min over an import price) of a per-second ON/OFF DP: ON seconds take"
        " the best configuration with 6 A minima, OFF gaps as the start delays allow (one car:"
        " each >= the delay; two: each ending >= the delay after the previous gap's start);"
        " ramps, switch pauses and response delays dropped"
    )
    if day.battery_programme is not None:
        method += (
            "; per import price at most a programme over the battery's SoC (5-minute blocks,"
            " gaps dropped)"
        )
    return Bound(value, used_wh, method, time.perf_counter() - started)


def knapsack_bound(inputs: DayInputs, import_budget_wh: float) -> Bound:
    """The previous, looser equal-import bound (start delays dropped), kept for comparison.

    Per second only two choices can be optimal: the most PV without import, ``free`` (a
    configuration whose minimum fits the surplus), or all the surplus at the cost of the
    smallest minimum above it ("bridging": gain ``surplus - free``, cost ``minimum - surplus``).
    The day is then a 0/1 knapsack over seconds with the import budget; its LP relaxation is
    solved exactly by taking seconds in order of gain per import (greedy).
    """
    started = time.perf_counter()
    day = _Day(inputs)
    value, used_wh = day.knapsack_bound(import_budget_wh)
    method = "fractional knapsack over the seconds, start delays dropped"
    return Bound(value, used_wh, method, time.perf_counter() - started)


def _knapsack(gain: np.ndarray, cost: np.ndarray, budget_wh: float) -> tuple[float, float]:
    """Greedy fractional knapsack: (PV Wh gained, import Wh used); gain and cost in W per second."""
    useful = (gain > 0.0) & np.isfinite(cost)
    gain, cost = gain[useful], cost[useful]
    if budget_wh <= 0.0 or gain.size == 0:
        return 0.0, 0.0
    order = np.argsort(-(gain / cost), kind="stable")
    gain, cost = gain[order] / 3600.0, cost[order] / 3600.0
    spent = np.cumsum(cost)
    full = int(np.searchsorted(spent, budget_wh, side="right"))
    pv = float(gain[:full].sum())
    used = float(spent[full - 1]) if full else 0.0
    if full < gain.size:
        fraction = (budget_wh - used) / cost[full]
        pv += fraction * float(gain[full])
        used = budget_wh
    return pv, used


def _knapsack_price(gain: np.ndarray, cost: np.ndarray, budget_wh: float) -> float:
    """The import price at which the knapsack's LP is solved: the gain per import of the last
    (fractional) second it bridges, 0 if the budget bridges every one (its dual optimum)."""
    useful = (gain > 0.0) & np.isfinite(cost)
    ratio = gain[useful] / cost[useful]
    order = np.argsort(-ratio, kind="stable")
    spent = np.cumsum(cost[useful][order]) / 3600.0
    full = int(np.searchsorted(spent, budget_wh, side="right"))
    return float(ratio[order[full]]) if full < order.size else 0.0


NEVER = -1e15  # W: the value of an ON second no configuration allows (far below any day's PV)


def _dp_gaps(g: np.ndarray, first: int, gap: int) -> np.ndarray:
    """Best sum of ``g`` (T x P, each column its own problem) over ON runs separated by gaps of
    at least ``gap`` seconds, the first ON second at ``first`` or later; per column.

    V_on(t) = g(t) + max(V_on(t + 1), L(t + 1 + gap)), L(t) = max(V_on(t), L(t + 1)) (best start
    from t on; 0 beyond the day: the cars may stay off), the answer L(first).
    """
    best, _ = _dp_gaps_tables(g, first, gap, keep_on=False)
    out: np.ndarray = best[first]
    return out


def _dp_gaps_tables(
    g: np.ndarray, first: int, gap: int, *, keep_on: bool
) -> tuple[np.ndarray, np.ndarray | None]:
    """``_dp_gaps``' tables: L(t) for every t, and V_on(t) too when ``keep_on`` (to trace the
    schedule back: ``_dp_gaps_import``)."""
    n, cols = g.shape
    best = np.zeros((n + max(first, gap) + 2, cols))
    on_table = np.zeros((n + 1, cols)) if keep_on else None
    on = np.zeros(cols)
    for t in range(n - 1, -1, -1):
        on = g[t] + np.maximum(on, best[t + 1 + gap])
        np.maximum(on, best[t + 1], out=best[t])
        if on_table is not None:
            on_table[t] = on
    return best, on_table


def _dp_gaps_import(g: np.ndarray, imp: np.ndarray, first: int, gap: int) -> float:
    """The import (W s) of the schedule ``_dp_gaps`` picks for one column ``g`` (ties: keep ON),
    traced back through its tables."""
    best_table, on_table = _dp_gaps_tables(g[:, None], first, gap, keep_on=True)
    assert on_table is not None
    best, on = best_table[:, 0].tolist(), on_table[:, 0].tolist()
    n = g.size
    used, t = 0.0, first
    while t < n and best[t] > 0.0:
        while on[t] < best[t + 1]:
            t += 1
        while True:
            used += float(imp[t])
            if t + 1 >= n or on[t + 1] < best[t + 1 + gap]:
                break
            t += 1
        t += 1 + gap
    return used


def _dp_two_cars(g: np.ndarray, gap: int) -> np.ndarray:
    """``_dp_gaps`` for two cars: each gap ends ``gap`` s or more after the previous gap's start.

    State of an ON second t: a = t - (start of the previous gap), 1..gap (gap: no constraint).
    V(t, a) = g(t) + max(V(t + 1, a + 1), stop), where stopping at s = t + 1 restarts at
    r = s + m for any m >= max(1, gap - a - 1) with state min(m, gap) there:
    stop = max over those m of V(s + m, min(m, gap)) (a suffix maximum over the future diagonal,
    m >= gap is L(s + gap) as in ``_dp_gaps``). The first gap starts at 0: answer L(gap).
    """
    n, cols = g.shape
    d = gap
    if d <= 2:
        return _dp_gaps(g, d, 1)  # every gap ends >= 2 s after the previous one's start anyway
    ring = d + 1
    table = np.zeros((ring, d, cols))  # V(u, a) for u in (t, t + d]; 0 beyond the day
    flat = table.reshape(ring * d, cols)
    best = np.zeros((n + d + 2, cols))
    states = np.arange(1, d + 1)
    keep = np.minimum(states + 1, d) - 1  # index of the state a + 1 at t + 1
    # suffix[j]: j = 0 is L(s + d), j = d - m the diagonal V(s + m, m); the first allowed m is
    # max(1, d - a - 1), at j = min(d - 1, a + 1).
    first = np.minimum(d - 1, states + 1)
    ms = np.arange(d - 1, 0, -1)
    suffix = np.empty((d, cols))
    for t in range(n - 1, -1, -1):
        np.take(flat, ((t + 1 + ms) % ring) * d + (ms - 1), axis=0, out=suffix[1:])
        suffix[0] = best[t + 1 + d]
        np.maximum.accumulate(suffix, axis=0, out=suffix)
        value = np.maximum(table[(t + 1) % ring][keep], suffix[first])
        np.add(value, g[t], out=table[t % ring])
        np.maximum(table[t % ring, d - 1], best[t + 1], out=best[t])
    out: np.ndarray = best[d]
    return out


class _BatteryProgramme:
    """The battery's SoC as the state of a programme over blocks of ``BATTERY_BLOCK_S`` seconds
    (see ``equal_import_bound``); each relaxation errs towards a higher SoC or more for the cars.

    Each second is worth its value at the import price, max(0, best ON configuration's PV -
    lambda * import) (the ON/OFF gaps dropped), of ``available`` above the priority SoC (the
    highest path's rule holds in every run) and of ``restricted_w`` (less the battery's share)
    below it. State Y: the cells' energy before a block's first second plus the charge that
    second gets, an upper bound of the SoC the priority rule reads there (the plant's battery
    answers the second before's grid: second t's leftover charges it at step t + 1). In a block:
    - the battery charges at most eta x min(max power, surplus) per second (``gain_wh``) and
      gives at least ``_Day.battery_owed_w`` / eta (``drain_wh``); it ends at most at
      min(capacity, max(Y - drain, 0) + charge) (by induction over the seconds: each second's
      map is monotone, and draining all first ends highest);
    - a second is below the priority SoC for sure while Y plus the most charge of the block's
      seconds before it is below it (a prefix of the block); the others count as above it;
    - above it the cars' PV is at least the second's value v (import only adds to their draw),
      so the battery charges at most min(max power, surplus - v): v up to ``free_w`` (the
      surplus less the share) costs it nothing, each W more eta W of cells. The block pools
      these trades of its seconds above the priority SoC (any split is one total): a trade of
      y Wh ends at z = end - eta y.
    A higher SoC never leaves the cars less (from it every choice stays allowed and ends no
    lower), so a state between grid points takes the value of the point above it. Each block's
    grid is shifted (``offsets``: o + i step) by the block's charge less its drain, so a state
    that does not trade lands on the next block's grid exactly (only the empty and full
    batteries round up; a fixed grid rounded up every block, up to a step each time, and the
    day's SoC drifted up by as much as a step per block). A trade ends between two points: for
    z in (i - 1, i] steps above the next grid's o, y + later(z) <= (end - o + step) / eta +
    later(i) - i step / eta (up to step / eta Wh of PV per trading block, the bound's rounding).
    Each block's grid spans only the states the programme can reach there from the start
    (``_ranges``): its value there is the same as over the whole capacity, so the step can be
    finer at the cost of the reachable range (a sunny day's full range costs about what the
    1 Wh grid over the capacity did). A finer grid holding the coarser one's points is no higher:
    it rounds each state up by less.
    """

    def __init__(self, day: _Day) -> None:
        inputs = day.inputs
        battery = inputs.battery
        assert battery is not None
        self.eta = battery.efficiency
        self.capacity_wh = battery.capacity_wh
        self.start_wh = battery.soc / 100.0 * battery.capacity_wh
        self.priority_wh = inputs.priority_soc / 100.0 * battery.capacity_wh
        positive = np.maximum(0.0, day.surplus)
        # Below the priority SoC its room is at least that at the priority SoC (W for a second).
        room_w = (100.0 - inputs.priority_soc) / 100.0 * battery.capacity_wh / self.eta * 3600.0
        share = np.minimum(np.minimum(positive, battery.max_w), room_w)
        self.free_w = positive - share  # the cars' PV that costs the battery no charge
        self.restricted_w = np.minimum(day.available, self.free_w)
        self.gain_wh = self.eta * np.minimum(positive, battery.max_w) / 3600.0
        self.drain_wh = day.battery_owed_w() / self.eta / 3600.0
        n = day.surplus.size
        self.edges = [*range(0, n, BATTERY_BLOCK_S), n]
        self.top = math.ceil(self.capacity_wh / BATTERY_GRID_WH)  # the full battery's grid point
        self.offsets = self._offsets()

    def _offsets(self) -> list[float]:
        """Each block's grid shift (Wh, below a step): the start's on the first block's grid,
        and what a block adds (its charge less its drain) carries a state to the next one's."""
        step = BATTERY_GRID_WH
        offsets = [self.start_wh % step]
        for a, e in itertools.pairwise(self.edges):
            added = float(self.gain_wh[a:e].sum() - self.drain_wh[a:e].sum())
            offsets.append((offsets[-1] + added) % step)
        return offsets

    def _index_above(self, wh: np.ndarray, offset: float) -> np.ndarray:
        """The grid point at or above ``wh`` on a grid shifted by ``offset`` (the shifts' float
        rounding, far below 1e-9 Wh, is not rounded up a whole step)."""
        index: np.ndarray = np.maximum(np.ceil((wh - offset) / BATTERY_GRID_WH - 1e-9), 0.0)
        return index.astype(int)

    def _end_wh(self, a: int, e: int, states: np.ndarray) -> np.ndarray:
        """The most a block's states end at without a trade: drained first, then charged."""
        drained = np.maximum(states - self.drain_wh[a:e].sum(), 0.0)
        out: np.ndarray = drained + self.gain_wh[a:e].sum()
        return out

    def _ranges(self, reach_wh: list[float]) -> list[tuple[int, int]]:
        """Each block's grid points (first, last) a state from the start can take, and then the
        end's; ``reach_wh``: the most a block's trades take from the cells (any state).

        The highest state does not trade: it ends at the top state's end. A trade ends at
        end - reach or above, with end no lower than the lowest state's and reach at most the
        block's whole trade: every later state is within, and so is every grid point the
        programme reads (a point's margin either side for the floats)."""
        step = BATTERY_GRID_WH
        start = int(self._index_above(np.array([self.start_wh]), self.offsets[0])[0])
        ranges = [(start, start)]
        for k, (a, e) in enumerate(itertools.pairwise(self.edges)):
            first, last = ranges[-1]
            ends = self._end_wh(a, e, self.offsets[k] + np.array([first, last]) * step)
            shift = self.offsets[k + 1]
            top = min(self.top, int(self._index_above(ends[1:], shift)[0]) + 1)
            lowest = math.floor((float(ends[0]) - reach_wh[k] - shift) / step) - 1
            ranges.append((min(max(lowest, 0), top), top))
        return ranges

    def value(self, above: np.ndarray, below: np.ndarray) -> np.ndarray:
        """Most of sum(values) (W s, per column) over the day: ``above`` and ``below`` (T x P) the
        seconds' values (>= 0) above and below the priority SoC, as the battery allows."""
        step, eta = BATTERY_GRID_WH, self.eta
        free = np.minimum(above, self.free_w[:, None])
        trade = above - free
        blocks = list(itertools.pairwise(self.edges))
        ranges = self._ranges(
            [eta * float(trade[a:e].sum(axis=0).max()) / 3600.0 for a, e in blocks]
        )
        first, last = ranges[-1]
        later = np.zeros((last - first + 1, above.shape[1]))  # Wh, after the last block
        for k in range(len(blocks) - 1, -1, -1):
            a, e = blocks[k]
            (first, last), (after, _) = ranges[k], ranges[k + 1]
            states, shift = self.offsets[k] + np.arange(first, last + 1) * step, self.offsets[k + 1]
            charged = np.concatenate([[0.0], np.cumsum(self.gain_wh[a : e - 1])])
            # Seconds surely below the priority SoC: a prefix, as long from each state.
            below_n = np.searchsorted(charged, self.priority_wh - states, side="left")
            above_n = e - a - below_n
            below_wh = _prefix(below[a:e])[below_n]
            free_wh = _prefix(free[a:e][::-1])[above_n]
            end_wh = self._end_wh(a, e, states)
            hi = np.minimum(self._index_above(end_wh, shift), self.top)
            kept = later[hi - after]
            # A trade of y Wh ends at z = end - eta y; for z in (i - 1, i] steps above the shift
            # y + later(z) <= (end - shift + step) / eta + later(i) - i step / eta.
            reach = eta * _prefix(trade[a:e][::-1])[above_n]
            if not reach.any():
                later = below_wh + free_wh + kept
                continue
            lowest = np.floor((end_wh[:, None] - reach - shift) / step).astype(int)
            lo = np.minimum(np.maximum(lowest, after), hi[:, None])  # ``after``: 0 or below all
            rows = np.arange(after, hi.max() + 1)
            worth = later[rows - after] - rows[:, None] * (step / eta)
            window = _window_max(worth, lo - after, hi - after)
            traded = (end_wh[:, None] - shift + step) / eta + window
            later = below_wh + free_wh + np.where(reach > 0.0, traded, kept)
        out: np.ndarray = later[0] * 3600.0
        return out


def _prefix(values: np.ndarray) -> np.ndarray:
    """Sums (Wh) of the first 0..n rows of ``values`` (W per second)."""
    out: np.ndarray = np.concatenate([np.zeros((1, values.shape[1])), np.cumsum(values, axis=0)])
    return out / 3600.0


def _window_max(values: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """max(values[lo..hi, column]) for ``lo`` (rows x columns) and ``hi`` (per row): a sparse
    table of maxima over power-of-two spans, two overlapping spans cover each window."""
    n, cols = values.shape
    length = hi[:, None] - lo + 1
    level = np.floor(np.log2(length)).astype(int)
    table = np.full((int(level.max()) + 1, n, cols), -np.inf)
    table[0] = values
    for k in range(1, table.shape[0]):
        span = 1 << (k - 1)
        np.maximum(table[k - 1, :-span], table[k - 1, span:], out=table[k, :-span])
    flat = table.reshape(-1)
    column = np.arange(cols)
    first = flat[(level * n + lo) * cols + column]
    last = flat[(level * n + hi[:, None] - (1 << level) + 1) * cols + column]
    out: np.ndarray = np.maximum(first, last)
    return out


@dataclass(frozen=True, eq=False)
class _Mode:
    pmin: np.ndarray  # W per second
    pmax: float
    lines: tuple[float, float, float]  # A per W on each phase


class _Day:
    """The per-second quantities both bounds are built from."""

    def __init__(self, inputs: DayInputs) -> None:
        self.inputs = inputs
        t = np.arange(inputs.t0, inputs.t1, dtype=float)
        self.pv = _interpolated(inputs.pv_w, t)
        self.house = _held(inputs.house_w, t)
        fast_w, fast_lines = self._fast_cars(t)
        self.surplus = self.pv - self.house - fast_w
        share = self._battery_share(self.surplus)
        self.no_priority = np.maximum(0.0, self.surplus)
        self.available = np.maximum(0.0, self.surplus - share)
        self.headroom = self._headroom(fast_lines)
        self.solar = [c for c in inputs.cars if c.solar]
        self.pmax_relaxed = self._max_power()
        self.battery_programme: _BatteryProgramme | None = None
        if inputs.battery is not None and self.solar:
            self.battery_programme = _BatteryProgramme(self)

    def filled(self, surplus: np.ndarray) -> float:
        """PV Wh the solar cars can take from ``surplus`` (minimum current relaxed).

        One car: each second the most it can take, its taper following the PV it got (its SoC is
        at least that high; more energy earlier never lowers what it can have by a later second,
        as one second's taper change is far below one). Several cars can share the surplus to stay
        below the taper: their room to 100 % caps the total.
        """
        power = np.minimum(surplus, self.pmax_relaxed)
        if len(self.solar) != 1:
            room = sum((100.0 - c.soc) / 100.0 * c.capacity_wh / c.efficiency for c in self.solar)
            return min(float(power.sum()) / 3600.0, room)
        spec = self.solar[0]
        car = Car(spec.capacity_wh, spec.soc, spec.max_a, spec.efficiency)
        watts_per_a = V * spec.wired_phases
        wh = 0.0
        for wanted in power.tolist():
            taken = min(wanted, car.max_current() * watts_per_a) / 3600.0
            wh += taken
            car.soc = min(100.0, car.soc + taken * car.efficiency / car.capacity_wh * 100.0)
        return wh

    def _fast_cars(self, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        shift = round(self.inputs.fast_start_within_s)
        power = np.zeros(t.size)
        lines = np.zeros((3, t.size))
        for spec in self.inputs.cars:
            if spec.solar:
                continue
            car = Car(spec.capacity_wh, spec.soc, spec.max_a, spec.efficiency)
            charger = ChargerModel(
                "fast",
                spec.wired_phases,
                spec.line_1p,
                car,
                spec.charger_delay_s,
                spec.start_delay_s,
            )
            charger.write(t[0], Command(spec.max_a, spec.wired_phases, False))
            drawn = np.empty(t.size)
            for i, second in enumerate(t):
                charger.step(float(second))
                drawn[i] = charger.current_a
            # Any first command up to ``shift`` s later draws at least the smaller of the two.
            later = np.concatenate([np.zeros(min(shift, t.size)), drawn[: max(0, t.size - shift)]])
            amps = np.minimum(drawn, later)
            power += amps * V * spec.wired_phases
            if spec.wired_phases == 3:
                lines += amps
            else:
                lines[spec.line_1p - 1] += amps
        return power, lines

    def _battery_share(self, surplus: np.ndarray) -> np.ndarray:
        """What the battery takes first (its priority), on its highest possible SoC path."""
        inputs = self.inputs
        share = np.zeros(surplus.size)
        if inputs.battery is None:
            return share
        battery = replace(inputs.battery, power_w=0.0)
        positive = np.maximum(0.0, surplus)
        # The plant's battery acts on last second's grid: it can charge with last second's surplus,
        # and gives at least last second's house deficit (a car only adds to it).
        lagged = np.maximum(positive, np.concatenate([[battery.max_w], positive[:-1]]))
        owed = self.battery_owed_w()
        # After a second of house deficit no run charges: the battery gives ``owed`` at least.
        power = np.where(self._deficit() > 0.0, owed, -lagged).tolist()
        for i, power_w in enumerate(power):
            if battery.soc < inputs.priority_soc:
                room_wh = (100.0 - battery.soc) / 100.0 * battery.capacity_wh / battery.efficiency
                share[i] = min(battery.max_w, positive[i], room_wh * 3600.0)
            battery.step(power_w, None)
        return share

    def _deficit(self) -> np.ndarray:
        """Per second, the house's deficit of the second before (W): what the plant's battery,
        answering last second's grid, gives at least (a car only adds to it)."""
        return np.concatenate([[0.0], np.maximum(0.0, self.house - self.pv)[:-1]])

    def battery_owed_w(self) -> np.ndarray:
        """Per second, the least the battery gives (W): the house's deficit of the second before
        up to its maximum power, less what the run's discharge cap held back from the house."""
        battery = self.inputs.battery
        assert battery is not None
        owed: np.ndarray = np.minimum(self._deficit(), battery.max_w)
        held = self.inputs.battery_held_w
        if held is not None:
            owed = np.maximum(0.0, owed - held[: owed.size])
        return owed

    def _headroom(self, fast_lines: np.ndarray) -> np.ndarray:
        """Per phase and second, the current the solar cars may add below the fuse (A)."""
        fuse = self.inputs.fuse_a
        if fuse is None:
            return np.full((3, self.pv.size), np.inf)
        battery = self.inputs.battery
        relief = (self.pv + (battery.max_w if battery is not None else 0.0)) / 3.0 / V
        split = np.asarray(HOUSE_SPLIT)[:, None]
        headroom: np.ndarray = fuse - self.house[None, :] * split / V + relief[None, :] - fast_lines
        return headroom

    def _modes(self, min_a: list[np.ndarray]) -> list[list[_Mode | None]]:
        modes: list[list[_Mode | None]] = []
        for car, amps in zip(self.solar, min_a, strict=True):
            options: list[_Mode | None] = [None]
            if car.wired_phases == 1 or car.switchable:
                one = [0.0, 0.0, 0.0]
                one[car.line_1p - 1] = 1.0 / V
                options.append(_Mode(amps * V, car.max_a * V, (one[0], one[1], one[2])))
            if car.wired_phases == 3:
                third = 1.0 / (3.0 * V)
                options.append(_Mode(amps * 3 * V, car.max_a * 3 * V, (third, third, third)))
            modes.append(options)
        return modes

    def _configs(self, min_a: list[np.ndarray]) -> list[tuple[np.ndarray, np.ndarray]]:
        """Each configuration's minimum and maximum power per second (NaN: does not fit)."""
        out = []
        for combo in itertools.product(*self._modes(min_a)):
            on = [m for m in combo if m is not None]
            if on:
                out.append(
                    (sum((m.pmin for m in on), np.zeros(self.pv.size)), self._config_max(on))
                )
        return out

    def _config_max(self, on: list[_Mode]) -> np.ndarray:
        """Most power the cars in ``on`` can take within the fuse, each within its range.

        3p cars load every phase equally (P3 / 3V each), 1p cars their own phase. For a given P3
        the 1p cars take min(their maximum, what their phase leaves); a W more of P3 takes at most
        1/3 W from each phase's 1p cars, so the total is largest at the largest feasible P3. A
        phase no car uses does not limit (the plant counts the fuse only on phases a car loads).
        """
        n = self.pv.size
        three = [m for m in on if m.lines[0] == m.lines[1] == m.lines[2]]
        one_min, one_max = np.zeros((3, n)), np.zeros(3)
        for m in on:
            if all(m is not t for t in three):
                k = int(np.argmax(m.lines))
                one_min[k] += m.pmin
                one_max[k] += m.pmax
        line_w = V * self.headroom  # W each phase can carry for the solar cars
        used = [k for k in range(3) if three or one_max[k] > 0.0]
        p3_min = sum((m.pmin for m in three), np.zeros(n))
        p3_max = sum(m.pmax for m in three)
        # P3 / 3 + the 1p minima must fit on every phase the cars use.
        p3_hi = np.minimum(p3_max, np.min(3.0 * (line_w[used] - one_min[used]), axis=0))
        ones = np.minimum(one_max[:, None], line_w - p3_hi[None, :] / 3.0)[used].sum(axis=0)
        return np.where(p3_hi >= p3_min - 1e-9, p3_hi + ones, np.nan)

    def _max_power(self) -> np.ndarray:
        """The solar cars' most power per second within the fuse, minimum current relaxed."""
        pmax = np.zeros(self.pv.size)
        for _, config_max in self._configs([np.zeros(self.pv.size) for _ in self.solar]):
            pmax = np.fmax(pmax, config_max)
        return pmax

    def near_full(self, budget_wh: float) -> tuple[list[np.ndarray], float]:
        """Each solar car's minimum current per second, and the cars' tails (Wh).

        Near full, the plant's car draws less than 6 A (its taper falls below the minimum at
        ``near_soc``); from there it takes only its last ``100 - near_soc`` % (its tail). By any
        second the cars have had at most the PV without import so far, the most the whole budget
        buys (the knapsack), the tails, and the budget itself: a car's minimum is kept until that
        reaches its room to ``near_soc``, then relaxed to ``MIN_A_NEAR_FULL``.
        """
        full = [np.full(self.pv.size, car.min_a) for car in self.solar]
        free, gain, cost = self._choices(full)
        bought, _ = _knapsack(gain, cost, budget_wh)
        near_soc = [90.0 + 10.0 * (1.0 - c.min_a / c.max_a) / 0.7 for c in self.solar]
        tail = sum(
            (100.0 - soc) / 100.0 * c.capacity_wh / c.efficiency
            for soc, c in zip(near_soc, self.solar, strict=True)
        )
        reachable = np.cumsum(free) / 3600.0 + bought + tail + budget_wh
        min_a = []
        for car, soc, amps in zip(self.solar, near_soc, full, strict=True):
            room_wh = (soc - car.soc) / 100.0 * car.capacity_wh / car.efficiency
            min_a.append(np.where(reachable < room_wh, amps, MIN_A_NEAR_FULL))
        return min_a, tail

    def _with_tails(
        self, solve: Callable[[list[list[np.ndarray]]], list[tuple[float, float]]], budget_wh: float
    ) -> tuple[float, float]:
        """(PV Wh, import Wh) of ``solve`` with every minimum kept plus the tails, or with the
        minima relaxed near full (the lower), capped by the physical bound (which has the taper).

        A schedule's draw past a car's ``near_soc`` is at most its tail; without that draw it is a
        schedule with every minimum kept (that car never restarts), importing no more.
        """
        full = [np.full(self.pv.size, car.min_a) for car in self.solar]
        min_a, tail = self.near_full(budget_wh)
        relax = any(float(a.min()) < c.min_a for a, c in zip(min_a, self.solar, strict=True))
        solved = solve([full, min_a] if relax else [full])
        (kept, used) = solved[0]
        value = kept
        if relax and solved[1][0] < kept + tail:
            value, used = solved[1]
        elif relax:
            value = kept + tail
        return min(value, self.filled(self.available)), used

    def knapsack_bound(self, budget_wh: float) -> tuple[float, float]:
        """(PV Wh, import Wh used) of the fractional knapsack, see ``knapsack_bound``."""

        def solve(problems: list[list[np.ndarray]]) -> list[tuple[float, float]]:
            out = []
            for min_a in problems:
                free, gain, cost = self._choices(min_a)
                bought, used = _knapsack(gain, cost, budget_wh)
                out.append((float(free.sum()) / 3600.0 + bought, used))
            return out

        return self._with_tails(solve, budget_wh)

    def import_bound(self, budget_wh: float) -> tuple[float, float]:
        """(PV Wh, import Wh used) of the Lagrangian dual, see ``equal_import_bound``."""
        return self._with_tails(lambda problems: self._dual(problems, budget_wh), budget_wh)

    def min_gap(self) -> int:
        """D: the shortest zero-draw stretch of any solar car, in whole seconds (at least 1)."""
        if not self.solar:
            return 1
        return max(1, math.ceil(min(c.min_gap_s() for c in self.solar) - 1e-9))

    def _on_values(
        self, min_a: list[np.ndarray], surplus: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Per second: the most PV of an ON second without import (``NEVER``: no configuration
        fits the surplus) and the least import of one that takes all of it (inf: none); of the
        cars' ``surplus`` (``available`` unless given)."""
        surplus = self.available if surplus is None else surplus
        free = np.full(surplus.size, NEVER)
        bridge = np.full(surplus.size, np.inf)
        for pmin, config_max in self._configs(min_a):
            feasible = ~np.isnan(config_max)
            fits = feasible & (pmin <= surplus)
            free = np.where(fits, np.maximum(free, np.minimum(surplus, config_max)), free)
            above = feasible & (pmin > surplus)
            bridge = np.where(above, np.minimum(bridge, pmin - surplus), bridge)
        return free, bridge

    def _dual(
        self, problems: list[list[np.ndarray]], budget_wh: float
    ) -> list[tuple[float, float]]:
        """min over lambda of DP(lambda) / 3600 + lambda * budget, per problem (minimum currents):
        (PV Wh, import Wh of the DP's schedule at the best lambda, at most the budget)."""
        n, gap = len(self.solar), self.min_gap()
        battery = self.battery_programme
        surplus = {False: self.available}
        if battery is not None:
            surplus[True] = battery.restricted_w
        parts = {
            (k, below): (self._on_values(min_a, cars_w), cars_w)
            for k, min_a in enumerate(problems)
            for below, cars_w in surplus.items()
        }
        battery_won: dict[tuple[int, float], bool] = {}

        def on_value(k: int, lam: float, below: bool = False) -> np.ndarray:
            """ON seconds' values at price ``lam``; ``below``: with the battery below its
            priority SoC (``_BatteryProgramme``)."""
            (free, bridge), cars_w = parts[k, below]
            if np.isinf(lam):
                return free
            finite = np.isfinite(bridge)
            buy = np.where(finite, cars_w - lam * np.where(finite, bridge, 0.0), NEVER)
            return np.maximum(free, buy)

        def solve(grids: list[np.ndarray]) -> list[np.ndarray]:
            lams = [(k, lam) for k, grid in enumerate(grids) for lam in grid]
            g = np.column_stack([on_value(k, lam) for k, lam in lams])
            dp = _dp_two_cars(g, gap) if n == 2 else _dp_gaps(g, gap, 1 if n > 1 else gap)
            # The narrower grids only if it was lower somewhere on the first: any price's
            # value is a bound, and the battery's programme costs most of the time.
            if battery is not None and (not battery_won or any(battery_won.values())):
                below = np.column_stack([on_value(k, lam, below=True) for k, lam in lams])
                with_battery = battery.value(np.maximum(g, 0.0), np.maximum(below, 0.0))
                battery_won.update(zip(lams, (with_battery < dp).tolist(), strict=True))
                dp = np.minimum(dp, with_battery)
            out, i = [], 0
            for grid in grids:
                dual = dp[i : i + grid.size] / 3600.0
                extra = np.where(np.isinf(grid), 0.0, grid) * budget_wh
                out.append(dual + extra)
                i += grid.size
            return out

        if budget_wh <= 0.0:
            # DP(lambda) does not increase with lambda: forbidding import is the lowest.
            grids = [np.array([np.inf]) for _ in problems]
        else:
            # Around the knapsack's price (there the DP is at most the knapsack: its Lagrangian
            # allows every ON/OFF pattern), and a wide net.
            grids = []
            for min_a in problems:
                price = _knapsack_price(*self._choices(min_a)[1:], budget_wh)
                near = price * np.geomspace(0.25, 4.0, 11) if price > 0.0 else []
                wide = np.logspace(-2.0, 4.0, 13)
                grids.append(np.unique(np.concatenate([[0.0, price], near, wide])))
        best: list[tuple[float, float]] = [(np.inf, 0.0) for _ in problems]
        # Two cars: one grid (the DP is ~6x slower; any grid point's value is a bound).
        stages = 1 if budget_wh <= 0.0 or n == 2 else LAMBDA_STAGES
        for stage in range(stages):
            values = solve(grids)
            for k, (grid, value) in enumerate(zip(grids, values, strict=True)):
                i = int(np.argmin(value))
                if value[i] < best[k][0]:
                    best[k] = (float(value[i]), float(grid[i]))
                if stage + 1 < stages:
                    # Convex: the minimum lies between the best point's neighbours.
                    lo = grid[max(0, i - 1)]
                    hi = grid[i + 1] if i + 1 < grid.size else grid[i] * 10.0
                    grids[k] = np.linspace(lo, hi, LAMBDA_POINTS)
        out = []
        for k, (value, lam) in enumerate(best):
            used = budget_wh
            if n != 2 and not battery_won.get((k, lam), False):
                g = on_value(k, lam)
                (free, bridge), _ = parts[k, False]
                imp = np.where(g > free, bridge, 0.0)
                follow = _dp_gaps_import(g, imp, gap, 1 if n > 1 else gap)
                used = min(budget_wh, follow / 3600.0)
            out.append((value, used))
        return out

    def _choices(self, min_a: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per second: PV without import (0: none), and the gain and import of bridging."""
        free, bridge = self._on_values(min_a)
        free = np.maximum(free, 0.0)
        gain = np.where(np.isfinite(bridge), self.available - free, 0.0)
        return free, gain, bridge


def _interpolated(trace: np.ndarray, t: np.ndarray) -> np.ndarray:
    """The plant's PV: linear within the minute, the last value from the last minute on."""
    minute = t / 60.0
    i = minute.astype(int)
    last = i >= len(trace) - 1
    i = np.minimum(i, len(trace) - 2)
    frac = minute - i
    values = trace[i] * (1 - frac) + trace[i + 1] * frac
    return np.where(last, float(trace[-1]), values)


def _held(trace: np.ndarray, t: np.ndarray) -> np.ndarray:
    i = np.minimum((t / 60.0).astype(int), len(trace) - 1)
    return np.asarray(trace[i], dtype=float)


class _CarSetup(Protocol):
    mode: Mode
    wired_phases: int
    switchable: bool
    line_1p: int


def bound_cars(
    specs: Iterable[_CarSetup],
    car: Car,
    *,
    charger_delay_s: float = ChargerModel.charger_delay_s,
    start_delay_s: float = ChargerModel.start_delay_s,
    switch_pause_s: float = ChargerModel.switch_pause_s,
) -> tuple[CarBoundSpec, ...]:
    """The bounds' view of a scenario's cars (one home for ems_day.py and ems_suite.py)."""
    return tuple(
        CarBoundSpec(
            solar=spec.mode is not Mode.FAST,
            wired_phases=spec.wired_phases,
            switchable=spec.switchable,
            line_1p=spec.line_1p,
            max_a=car.max_a,
            capacity_wh=car.capacity_wh,
            soc=car.soc,
            efficiency=car.efficiency,
            charger_delay_s=charger_delay_s,
            start_delay_s=start_delay_s,
            switch_pause_s=switch_pause_s,
        )
        for spec in specs
    )
