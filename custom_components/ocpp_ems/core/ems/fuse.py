"""Fuse: share the headroom per line between the drawing chargers, and fit what the shares leave.

Every drawing charger gets its minimum first (by priority; the lowest is paused when even the
minimums do not fit), then the rest equally (``allocation.share``). A charger held back by the fuse
says ``FUSE_LIMIT``: its command is rounded down and a drop is written at once unless what the
shares leave holds its limit in force (``_fit_leftover``). A raise or a start waits for the drops
beside it to show (``_hold_raises_for_drops_in_flight``), and a small raise goes no higher than
the least headroom of late (``raise_headroom``). What a charger draws above a limit it refused is
load for the others' shares, not for its own (``share_fuse``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from .allocation import Claim, share
from .charger_work import DRAWING_W, EPS, LINES, ChargerWork, Kind, line_sums
from .config import SiteSettings
from .measure import SiteMemory, SiteReadings
from .surplus import fuse_headroom, site_lines
from .types import ChargerCommand, Reason

# Meters read at different moments, and noisy (A): how much more headroom than before a lower the
# lag may seem to leave (beyond it the car has followed and the house went up), and how far short
# of the lower's own limit the lag may leave the share and the lower still be held.
_LAG_NOISE_A = 1.0
# A raise by the fuse under the raise deadband goes no higher than the least headroom of this long
# (s): a line's headroom moves with the cars' jitter between their samples (the grid shows it as
# the house's load), and a limit raised to a moment's headroom was lowered at the next dip.
RAISE_HEADROOM_S = 30.0
# A car in a planned slot fills the fuse before the others (they keep their minimums): the plan
# was sized for its full power, and an equal share could make it miss the departure.
_PLAN_PRIORITY = 1_000_000


def line_headroom(
    site: SiteSettings, readings: SiteReadings, works: list[ChargerWork]
) -> tuple[tuple[float, float, float] | None, bool]:
    """Current (A) the chargers may draw per line (None: no fuse), and whether the house load is
    unknown on a line (no grid reading for it: the chargers alone must then fit there, and they
    fall back as for a stale input).

    Only chargers we can set share it: what an offline charger still draws (it keeps its last
    limit) counts like the house's load, never as headroom for the others."""
    offline = [w for w in works if not w.inputs.connected]
    connected = [w for w in works if w.inputs.connected]
    headroom = fuse_headroom(
        settings=site,
        grid_currents=readings.grid_currents,
        grid_w=readings.grid_w,
        ev_currents=line_sums(connected),
    )
    if site.fuse_a is None or headroom is None:
        return None, False
    limit = site.fuse_a - site.fuse_margin_a
    unreachable = line_sums(offline)
    known = [limit - unreachable[k] if line is None else line for k, line in enumerate(headroom)]
    lines = site_lines(site)
    known[:lines] = _cap_miswired(known[:lines], readings.grid_currents, connected, limit)
    return (known[0], known[1], known[2]), None in headroom


# What a line's grid current may read below the chargers' draw on it before that draw is taken
# as not there (meters read at different moments; A).
_UNSEEN_DRAW_A = 1.0


def _cap_miswired(
    headroom: list[float],
    grid_currents: tuple[float | None, float | None, float | None] | None,
    connected: list[ChargerWork],
    limit: float,
) -> list[float]:
    """``headroom`` (on the site's lines) where a single-phase charger may be wired to another
    line than its options say (a charger on L2 set as L1): its line's grid current does not show
    its draw. There its draw counts as the house's, and nothing would lower that line: its line
    is capped at what each other line would leave were it on that one. (Binds only where that
    line is over the fuse: the draw it would take off there is what it takes.)"""
    capped = list(headroom)
    if grid_currents is None:
        return capped
    drawn = line_sums(connected)
    for k, grid in enumerate(grid_currents[: len(headroom)]):
        if grid is None or grid + _UNSEEN_DRAW_A >= drawn[k]:
            continue
        others = [other for j, other in enumerate(headroom) if j != k]
        for work in connected:
            if len(_held_lines(work)) == 1 and work.line_currents[k] > 0.0:
                capped[k] = min([capped[k], limit] + [o + _draw_a(work) for o in others])
    return capped


def _draw_a(work: ChargerWork) -> float:
    """What a single-phase charger draws when the grid meter read (A): its meter, or the
    write the grid shows by then (``measure``), which its capped line current may not be."""
    return work.draw_w / work.site.voltage_v


# Charger id -> what it draws above its written limit per line (:func:`_above_written`).
type _AboveWritten = Mapping[str, Mapping[str, float]]


def raise_headroom(
    memory: SiteMemory, headroom: tuple[float, float, float], now: float
) -> tuple[float, float, float]:
    """The least headroom per line (A) of the last ``RAISE_HEADROOM_S``, ``headroom`` (now's)
    included: what a raise by the fuse may count on (``share_fuse``)."""
    seen = memory.fuse_headroom
    seen.append((now, headroom))
    while seen[0][0] < now - RAISE_HEADROOM_S:
        seen.popleft()
    return (
        min(lines[0] for _at, lines in seen),
        min(lines[1] for _at, lines in seen),
        min(lines[2] for _at, lines in seen),
    )


def share_fuse(
    works: list[ChargerWork], headroom: tuple[float, float, float], recent: SiteMemory, now: float
) -> None:
    """Cap each drawing charger's target at its share of ``headroom`` (A per line), and a
    small raise above its limit in force at its share of the least headroom of late
    (``recent``: ``raise_headroom``).

    What a charger draws above its written limit (it refused it: ``ChargerWork.above_written``)
    is the house's load in ``headroom``: the other chargers' shares make room for it, but its
    own does not shrink by it (taking a limit, it draws no more than that). Counted against its
    own share too, a charger refusing a fuse lower twice was written 7 A for its 19.5 A share,
    then raised back over 32 s. Once its written limit was asked again and refused once more
    (``_fit_leftover``), the others' shares no longer count on it taking one (``_refusing``),
    and while the fuse is over even beside its draw alone, that draw counts against its own
    share as well: each lower limit it leaves is new, goes out at once and may be taken, down to
    a pause (a charger refusing every limit is not asked at every decision). Where the room
    beside it holds its draw, it is offered its share, but no more than its minimum while a
    charger beside it gets less than it asks: the limit it most likely takes (one refusing
    limits above a setting of its own), asked again at its retries only. Its draw counted
    against its own share there too, its target chased that draw above each limit it refused,
    four lowers after each retry (21 writes in 10 minutes beside a car paused for it, red team
    11b; now 9), or 0.2 A a decision (20 writes in 20 s)."""
    # (Once per decision: nothing here changes what a charger draws above its limit.)
    above = {work.cid: _above_written(work) for work in works}
    for work in works:
        if not above[work.cid]:
            work.memory.asked_again = False  # (within its limit: a next refusal is asked again)
    drawing = [w for w in works if not w.pauses]
    # Running chargers first: a newly plugged car does not push out one that is charging.
    drawing.sort(key=lambda w: (w.draw_w <= DRAWING_W, w.memory.activated_at, w.cid))
    # A car that takes less than offered (full, tapering) claims only what it takes (at
    # least its minimum): a full Fast car must not hold fuse headroom a solar car could use.
    demand = {w.cid: min(w.target_a, w.car_max_a()) for w in drawing}
    claims = [
        Claim(
            key=w.cid,
            minimum=w.cfg.min_current_a,
            demand=demand[w.cid],
            resources=dict.fromkeys(_held_lines(w), 1.0),
            priority=w.cfg.priority + (_PLAN_PRIORITY if w.reason is Reason.PLANNED_SLOT else 0),
        )
        for w in drawing
    ]
    capacity = dict(zip(LINES, headroom, strict=True))
    granted = share(claims, capacity)
    refusing, beside = _refusing(drawing, capacity, above)
    # Those take no lower limit: what they hold is no room for the others.
    others = share([c for c in claims if c.key not in refusing], beside) if refusing else {}
    for work in drawing:
        if not (own_above := above[work.cid]):
            continue
        if work.cid in refusing and any(beside[line] < -EPS for line in _held_lines(work)):
            continue  # the fuse is over even beside its draw: that counts against its share too
        own = {line: amps + own_above.get(line, 0.0) for line, amps in capacity.items()}
        granted[work.cid] = share(claims, own)[work.cid]
        if work.cid in refusing and _holds_back(work, drawing, others, demand):
            granted[work.cid] = min(granted[work.cid], work.cfg.min_current_a)
    granted |= others
    least = raise_headroom(recent, headroom, now)
    if not refusing and not any(above.values()):
        _hold_raises_to_the_least_headroom(drawing, claims, least, granted)
    lag = _hold_lowers_in_flight(works, drawing, claims, capacity, granted)
    for work in drawing:
        amps = granted[work.cid]
        if amps + EPS < demand[work.cid]:
            work.say(Reason.FUSE_LIMIT)
        work.target_a = min(work.target_a, amps)
        if amps <= 0.0:
            work.kind = Kind.PAUSED
    _hold_raises_for_drops_in_flight(works, drawing, headroom)
    # (The lag a hold counted as the cars' leaves room for a drop the limiter holds meanwhile:
    # a Solar car's drop for the surplus the same lag distorts, ``limiter._lag_explains``.)
    _fit_leftover(
        drawing, (headroom[0] + lag[0], headroom[1] + lag[1], headroom[2] + lag[2]), granted, above
    )


def _hold_raises_to_the_least_headroom(
    drawing: list[ChargerWork],
    claims: list[Claim],
    raise_room: tuple[float, float, float],
    granted: dict[str, float],
) -> None:
    """A share less than the raise deadband above the charger's limit in force goes no higher
    than its share of ``raise_room`` (nor lower than that limit: a drop is the present
    headroom's to force). A bigger raise (the house's load fell) goes to the present one."""
    small_raises = [
        (work, last.current_a)
        for work in drawing
        if (last := _limit_in_force(work)) is not None
        and last.current_a < granted[work.cid] < last.current_a + work.site.solar.raise_deadband_a
    ]
    if not small_raises:
        return
    least = share(claims, dict(zip(LINES, raise_room, strict=True)))
    for work, in_force_a in small_raises:
        granted[work.cid] = max(in_force_a, min(granted[work.cid], least[work.cid]))


def _refusing(
    drawing: list[ChargerWork], capacity: Mapping[str, float], above: _AboveWritten
) -> tuple[set[str], dict[str, float]]:
    """The chargers that refused the limit asked again and draw above it, and the headroom per
    line beside what they draw. (Counted on taking a limit, a one-phase car refusing every limit
    let the three-phase car beside it restart every 14 s, each time over the fuse.)"""
    refusing = [w for w in drawing if w.memory.asked_again and above[w.cid]]
    left = dict(capacity)
    for work in refusing:
        for line in _held_lines(work):
            left[line] -= work.line_currents[LINES.index(line)]
    return {w.cid for w in refusing}, left


def _hold_lowers_in_flight(
    works: list[ChargerWork],
    drawing: list[ChargerWork],
    claims: list[Claim],
    capacity: Mapping[str, float],
    granted: dict[str, float],
) -> tuple[float, float, float]:
    """A charger whose share falls below its written limit keeps that limit where the cars'
    lag explains the shortfall: until a car follows a lower, the grid shows what it still draws
    above it as the house's load (``ChargerWork.lag_a``), and a further lower for that load
    paused the car at each house step a lower covered (40 A fuse, the house 0 -> 20 A, a car 3 s
    slow: 19.5, 7, 0 A, then 19.5 again 10 s later; two cars on a 32 A fuse both paused). A
    shortfall the lag does not explain (the house up again meanwhile) is lowered at once, and
    so is one where the lag would leave more headroom than there was before the lower: the car
    has followed already (its meter is older), and the house went up by as much. (Each charger
    with no lower in flight records the headroom of now as its "before"; one in flight with no
    such record, just after a restart, is held for nothing.) A charger whose own target is below
    its written limit gets that target where the lag explains the shortfall (a Solar car was
    paused a second after a house step's lower: red team 16b). Returns the lag counted so per
    line (none where the lag explains nothing)."""
    lag = [0.0] * len(LINES)
    before = [math.inf] * len(LINES)
    for work in works:
        settled = work.memory.settled_headroom
        if not any(work.lag_a):
            work.memory.settled_headroom = (capacity["L1"], capacity["L2"], capacity["L3"])
            continue
        for k, amps in enumerate(work.lag_a):
            lag[k] += amps
            if amps > EPS:
                before[k] = min(before[k], -math.inf if settled is None else settled[k])
    lagged = {line: capacity[line] + lag[k] for k, line in enumerate(LINES)}
    if max(lag) <= EPS or any(
        lagged[line] > before[k] + _LAG_NOISE_A for k, line in enumerate(LINES)
    ):
        return (0.0, 0.0, 0.0)
    for work in works:
        work.lag_seen = any(amps > EPS for amps in work.lag_a)
    shares = share(claims, lagged)
    asks = {claim.key: claim.demand for claim in claims}
    for work in drawing:
        if (last := _limit_in_force(work)) is None:
            continue
        if last.current_a <= shares[work.cid] + _LAG_NOISE_A:
            held = last.current_a
        elif shares[work.cid] + EPS >= asks[work.cid]:
            # Its own target is lower (Solar: the surplus, which the lag distorts likewise): that
            # much, not the pause the headroom without the lag would leave.
            held = shares[work.cid]
        else:
            continue
        granted[work.cid] = max(granted[work.cid], held)
    return (lag[0], lag[1], lag[2])


def _hold_raises_for_drops_in_flight(
    works: list[ChargerWork], drawing: list[ChargerWork], headroom: tuple[float, float, float]
) -> None:
    """A raise or a start goes no higher than what the others draw now leaves (or their new
    limits, where higher): the shares count every charger at its new limit, but the headroom a
    drop frees is there only once its car follows (the grid shows what it still draws as the
    house's load). Written at once, a raise beside a slower car's drop took first: the house
    +3 A on a 32 A fuse, a car 5 s slow raised 8.6 -> 13.2 A beside one 10 s slow dropped
    19.6 -> 13.2 A, the line at 37.8 A for 5 s. Held back, it goes out once the grid shows
    the drop. (A car's own drop in flight holds its raise too: its lag estimate may be a sample
    the grid no longer shows, and room counted on it could be the others'.)"""
    connected = [w for w in works if w.inputs.connected]
    for work in drawing:
        held_a = 0.0 if (last := _limit_in_force(work)) is None else last.current_a
        if work.target_a <= held_a + EPS:
            continue
        room = min(
            headroom[k] - sum(_may_draw_a(other, k) for other in connected if other is not work)
            for k in (LINES.index(line) for line in _held_lines(work))
        )
        if room + EPS >= work.written_a():
            continue
        work.say(Reason.FUSE_LIMIT)
        if held_a > 0.0 or room >= work.cfg.min_current_a:
            work.target_a = max(held_a, room)
        else:
            work.target_a = 0.0  # (no room for its minimum yet: it starts once there is)
            work.kind = Kind.PAUSED


def _may_draw_a(work: ChargerWork, k: int) -> float:
    """What a charger may draw on line ``k`` (index) until its new limit shows: what it draws
    now as counted, or that new limit where higher."""
    drawn = work.line_currents[k]
    if LINES[k] not in _held_lines(work):
        return drawn
    return max(drawn, work.written_a())


def _holds_back(
    refusing: ChargerWork,
    drawing: list[ChargerWork],
    others: Mapping[str, float],
    demand: Mapping[str, float],
) -> bool:
    """Whether a charger sharing a line with ``refusing`` gets less than it asks beside what
    ``refusing`` draws (its share ``others``)."""
    lines = set(_held_lines(refusing))
    return any(
        others[w.cid] + EPS < demand[w.cid]
        for w in drawing
        if w.cid in others and lines.intersection(_held_lines(w))
    )


def _fit_leftover(
    drawing: list[ChargerWork],
    headroom: tuple[float, float, float],
    granted: Mapping[str, float],
    above: _AboveWritten,
) -> None:
    """What the shares leave of the fuse must cover what differs from the shares in force.

    Each charger counts at its new target as written (``ChargerWork.commanded_a``: down to its
    step, so the shares' rounding is left over), but the write limiter keeps a small drop
    unwritten for a while (the charger holds its last limit): fine only while the leftover
    covers it, else the drop goes out at once (``drop_now``). That holds for a charger the fuse
    holds back too: its drop within the rounding waits like any other. (Written at once, its
    raise to the step its share just reached moved the surplus for a second by a few W, its
    share 0.02 A below that step, and it went back down: 16.6, 16.5 A beside 9.9, 9.8 A every
    1-4 minutes for good at a fuse's edge, red team 18a.) A charger drawing above its written
    limit holds more than that limit (``headroom`` counted the rest as the house's): where the
    leftover does not cover it and no drop would go out (its target is no lower than the limit
    it refused), its target goes out again at once, once (``ChargerWork.ask_again``: a busy
    charger takes it; not asked, the fuse carried 52 A of 40 A for 32 s, till its run of
    refusals had waited 30 s). A drop the leftover covers only while the raises beside it
    wait is held with them: it goes out in the update a raise does (``ChargerWork.drop_for``).
    """
    uncovered = _uncovered(drawing, headroom, granted, above, raises_wait=False)
    if not uncovered:
        return
    # Counted at the limits in force instead, a raise the write limiter holds leaves room for
    # a drop it also holds: both wait (a jittering Solar car's share up 0.2 A for a second put
    # the fuse-limited car beside it 0.1-0.3 A lower at once, its raise never written).
    beside_held = {w.cid for w in _uncovered(drawing, headroom, granted, above, raises_wait=True)}
    raising = [w for w in drawing if _raised_from(w) is not None]
    for work in uncovered:
        if (last := _limit_in_force(work)) is None:
            continue  # (none: not uncovered)
        lines = set(_held_lines(work))
        drop_for = frozenset(
            w.cid for w in raising if w is not work and lines.intersection(_held_lines(w))
        )
        if (
            above[work.cid]
            and not work.memory.asked_again
            and work.target_a >= last.current_a - EPS
        ):
            work.ask_again = work.memory.asked_again = True
        elif work.cid in beside_held or not drop_for:
            work.drop_now = True
        else:
            work.drop_for = drop_for


def _uncovered(
    drawing: list[ChargerWork],
    headroom: tuple[float, float, float],
    granted: Mapping[str, float],
    above: _AboveWritten,
    *,
    raises_wait: bool,
) -> list[ChargerWork]:
    """The chargers whose limit in force (and what they draw above it) the leftover does not
    cover, each covered one taking its part in turn. ``raises_wait``: each raise counts at the
    limit in force, as if it were not written in this update."""
    left = dict(zip(LINES, headroom, strict=True))
    for work in drawing:
        for line, amps in above[work.cid].items():
            left[line] += amps  # (in force: counted below as the charger's)
        # (Its rounding: the command is below the target by it, or above where under the minimum.)
        counted = granted[work.cid] + (0.0 if work.pauses else work.written_a() - work.target_a)
        if raises_wait and (last := _raised_from(work)) is not None:
            counted = last.current_a
        for line in _held_lines(work):
            left[line] -= counted
    uncovered = []
    for work in drawing:
        if (last := _limit_in_force(work)) is None:
            continue
        own_above = above[work.cid]
        written_a = work.written_a()
        extra = {
            line: last.current_a + own_above.get(line, 0.0) - written_a
            for line in _held_lines(work)
        }
        if all(amps <= EPS for amps in extra.values()):
            continue
        if all(left[line] >= amps - EPS for line, amps in extra.items()):
            for line, amps in extra.items():
                left[line] -= max(0.0, amps)
        else:
            uncovered.append(work)
    return uncovered


def _raised_from(work: ChargerWork) -> ChargerCommand | None:
    """The charger's limit in force where its target in this update is above it (None: no
    raise)."""
    last = _limit_in_force(work)
    raises = last is not None and not work.pauses and work.written_a() > last.current_a + EPS
    return last if raises else None


def _limit_in_force(work: ChargerWork) -> ChargerCommand | None:
    """The charger's last write where it is a limit it charges under on its phases now (None:
    none, a pause, or a 1p/3p switch that waits for the write interval)."""
    last = work.memory.last_write
    if last is None or last.paused or last.phases != work.memory.phases:
        return None
    return last


def _above_written(work: ChargerWork) -> dict[str, float]:
    """What the charger draws above its written limit on each line it holds (A; none: no
    such line)."""
    return {
        line: amps
        for line in _held_lines(work)
        if (amps := work.above_written[LINES.index(line)]) > EPS
    }


def _held_lines(work: ChargerWork) -> tuple[str, ...]:
    """Lines the charger may load: its phases, and during a 1p/3p switch that waits for the
    write interval also the phases it still holds (the old ones stay in force until then)."""
    lines = work.lines(work.memory.phases)
    last = work.memory.last_write
    if last is None or last.paused or last.phases == work.memory.phases:
        return lines
    held = work.lines(last.phases)
    return tuple(line for line in LINES if line in lines or line in held)
