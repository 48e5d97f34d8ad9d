"""Solar: which solar cars run, and how the surplus is shared between the cars that take it.

The budget is the surplus less what the full cars draw and every Min + solar car's minimum. A
solar car starts when what is left covers ``min_sun_share`` of its minimum for ``enable_delay_s``
and stops when the import at its minimum beyond the rest (``_grid_share_w``) lasts
``disable_delay_s`` (hysteresis: a cloud neither starts nor stops a charge), or sooner once the
dip's grid energy exceeds what a restart would lose (``dip_grid_wh``); where the car's last dips all
outlasted a restart and the meters' lag (an overcast sky), a dip that imports more than the sun
gives stops after the meters' lag (``_dips_outlast_restarts``).
Running cars keep their minimums and share the rest equally, by priority; each share also
drives that car's 1p/3p timers (``phases.py``). Several solar cars start one after another
(``SolarSettings.stagger_starts``: a waiting car gets only what the running ones cannot take,
or the place of one that can charge on less sun once the surplus has carried it for
``handover_after_s``: ``_handing_over``, and back once the sun no longer carries it:
``_handing_back``) or side by side (a running 1p/3p car switches to 1p at
once to make room for a starting one; where the surplus carries one car but not two, they take
turns: ``_turn_over``). A waiting car of higher priority starts as though the running cars of
lower priority were not there, and they give way in the same update where the surplus does not
carry them beside it (``_lower_giving_way``).
A car that takes less than it is offered (full, suspended, its own limit:
``ChargerWork.limited_a``) counts at what it takes, also in the start rules: a full car stays on
at its minimum but leaves the surplus to the others.
"""

from __future__ import annotations

from typing import NamedTuple

from .allocation import Claim, share
from .charger_work import DRAWING_W, EPS, ChargerMemory, ChargerWork, Kind
from .config import SolarSettings
from .phases import (
    floor_phases,
    phase_switch,
    phase_switch_at,
    reset_phase_timers,
    settled,
    start_phases,
    switch_phases,
)
from .types import Reason

# An update gap longer than this (HA stopped, no inputs) does not count into a dip's grid energy.
DIP_MAX_GAP_S = 60.0
# A car's last dips this many outlasted a restart (``_hold_worth_s``): the weather's dips are
# long (an overcast sky, not passing clouds), and a deep one is not held for a restart it will
# not save.
LONG_DIPS_JUDGED = 3
# They tell of the sky for this long after the last (an overcast morning says nothing of the
# afternoon's clouds after a clear noon; nor does a day's store of the next day's).
SKY_MEMORY_S = 3600.0


def share_solar(
    works: list[ChargerWork],
    solar: SolarSettings,
    budget_w: float,
    battery_first_w: float,
    now: float,
) -> list[float]:
    """Switch solar cars on and off, then share the surplus ``budget_w`` (W) among the cars.

    Returns when the delays this update ran end (start, stop, 1p/3p switch).
    """
    solar_cars = [w for w in works if w.kind is Kind.SOLAR]
    for work in works:
        if work.kind is Kind.FULL:
            # What it really draws (a full car takes nothing); the surplus already counts it.
            budget_w -= work.draw_w
        elif work.kind is Kind.MIN_SOLAR:
            budget_w -= work.claim_min_w()
    left = _switch_on_off(works, solar, budget_w, battery_first_w, now)
    sharing = _share_surplus(works, solar, left, now)
    return _delays_ending(solar_cars, sharing, solar)


def _delays_ending(
    solar_cars: list[ChargerWork], sharing: list[ChargerWork], solar: SolarSettings
) -> list[float]:
    """When the timers this update ran fire: a solar car's start or stop, a sharing car's switch.

    A timer it did not run (the car stopped, changed mode, the grid went stale) wakes no one: it
    only fires once this stage runs it again, in an update that an input change brings anyway.
    """
    wake: list[float] = []
    for work in solar_cars:
        memory = work.memory
        if memory.active:
            at = _stop_at(memory, solar)
        else:
            at = memory.enable.due_at(memory.enable_delay_s)
        if at is not None:
            wake.append(at)
    # Not the 1p/3p delay alone: a switch also waits for the settle time after the last one.
    wake.extend(at for work in sharing if (at := phase_switch_at(work)) is not None)
    return wake


def _start_delay(work: ChargerWork, solar: SolarSettings, start: _StartTerms) -> float:
    """How long the surplus must carry a waiting car before it starts: the start delay, instead
    of a running car that can charge on less (``_handing_over``) the hand-over time, and instead
    of one the sun no longer carries (``_handing_back``) the stop delay, also for a first start
    (what a dip may last before it stops a car; a few low readings must not swap the cars)."""
    if start.handover and solar.handover_after_s is not None:
        return solar.handover_after_s
    if start.hand_back:
        return solar.disable_delay_s
    delay = enable_delay(work, solar)
    if work.restart_after_s is not None and work.memory.started_once:
        return max(delay, work.restart_after_s)
    return delay


def enable_delay(work: ChargerWork, solar: SolarSettings) -> float:
    """The start delay: none for the first start after plug-in when so configured."""
    if solar.first_start_skips_delay and not work.memory.started_once:
        return 0.0
    return solar.enable_delay_s


def _switch_on_off(
    works: list[ChargerWork],
    solar: SolarSettings,
    budget_w: float,
    battery_first_w: float,
    now: float,
) -> float:
    """Run the enable/disable timers; return the surplus left after every running minimum."""
    candidates = sorted(
        (w for w in works if w.kind is Kind.SOLAR),
        key=lambda w: (-w.cfg.priority, not w.memory.active, w.memory.activated_at, w.cid),
    )
    running = [w for w in candidates if w.memory.active]
    # Disable: only the last in line counts down, so two cars never stop at once for one dip.
    # An EV-limited car (full, its own limit) counts at what it takes, not at its minimum.
    need = sum(w.claim_min_w() for w in running)
    # Every running car at its smallest minimum (a 1p/3p car on 1 phase).
    floors = sum(w.claim_min_w(floor_phases(w)) for w in running)
    for work in running:
        work.memory.enable.reset()
    drawn_w = sum(w.draw_w for w in running)
    for index, work in enumerate(running):
        last = index == len(running) - 1
        # A 1p/3p car on 3p switches down before it stops: its 1p minimum is what counts (side
        # by side, every running 1p/3p car's: the others make room for the last one that way).
        floor_w = work.claim_min_w(floor_phases(work))
        floor = floors if not solar.stagger_starts else need - work.claim_min_w() + floor_w
        allowed_w = solar.disable_import_w + _grid_share_w(work, floor_w, solar)
        deficit = last and budget_w - floor < -allowed_w
        memory = work.memory
        # All the import beyond the surplus counts, not only what the cars add: a deep dip (a
        # house-load spike) stops them sooner. Counting only their own draw held them through
        # spikes that outlast the hold (scenario suite: +0.41 kWh grid for +0.06 kWh PV).
        import_w = max(0.0, drawn_w - budget_w) if deficit else None
        cheaper = _restart_is_cheaper(work, solar, import_w, floor_w, drawn_w, now)
        if memory.disable.update(deficit, now, solar.disable_delay_s) or cheaper:
            need, floors = _stop(work, need, floors, now)
    # Enable: the first waiting car in line may start when what is left covers its minimum.
    left = budget_w - need
    # Staggered: only what the running cars cannot take (at their maximum) is free to start one.
    spare = left
    if solar.stagger_starts:
        spare = budget_w - sum(w.claim_max_w(after_switch_up=True) for w in running)
        spare -= sum(w.claim_max_w() - w.claim_min_w() for w in works if w.kind is Kind.MIN_SOLAR)
    waiting = [w for w in candidates if not w.memory.active]
    starting = False  # one car at a time: the first in line whose minimum fits
    for work in waiting:
        memory = work.memory
        start = _start_terms(work, solar, running, budget_w, left, spare, floors)
        min_w = start.min_w
        needed_w = _needed_w(work, min_w, solar)
        _note_dip_while_stopped(work, solar, start.room_w >= needed_w, now)
        ok = not starting and start.room_w >= needed_w
        starting = starting or ok
        delay = memory.enable_delay_s = _start_delay(work, solar, start)
        if memory.enable.update(ok, now, delay):
            for giving in start.giving_way:
                need, floors = _stop(giving, need, floors, now)
                left = budget_w - need
            switch_on(work, start.phases, now)
            left = _make_room(running, left, min_w, now) - min_w
            floors += min_w
            spare -= work.claim_max_w(after_switch_up=True)
        elif ok:
            # The surplus is there and the start delay runs (a break starts it again); the
            # start is then written once the write interval since the last write is over.
            start_at = memory.enable.due_at(delay)
            write_at = memory.last_write_at + work.cfg.min_write_interval_s
            work.say(Reason.STARTING, None if start_at is None else max(start_at, write_at))
        elif budget_w >= needed_w and any(w.memory.active for w in running):
            work.say(Reason.OTHER_CAR)
        elif left < needed_w <= left + battery_first_w:
            # Only what the home battery takes (battery first) is missing for a start.
            work.say(Reason.BATTERY_FIRST)
    return left


class _StartTerms(NamedTuple):
    phases: int  # the phases it would start on
    min_w: float  # its minimum on them
    room_w: float  # the surplus it may start on
    # The running cars that stop for it: of lower priority, one whose turn is over, or one that
    # hands over to it.
    giving_way: tuple[ChargerWork, ...] = ()
    handover: bool = False  # instead of a running car that can charge on less (``_handing_over``)
    # Instead of a running car the sun no longer carries (``_handing_back``).
    hand_back: bool = False


def _start_terms(
    work: ChargerWork,
    solar: SolarSettings,
    running: list[ChargerWork],
    budget_w: float,
    left: float,
    spare: float,
    floors: float,
) -> _StartTerms:
    """On what a waiting car may start (W). ``left``: the surplus after the running cars'
    minimums; ``spare``: what they cannot take at their maximum; ``floors``: their smallest
    minimums. Running cars of lower priority do not count: they give way if it starts
    (``_lower_giving_way``)."""
    lower = [w for w in running if w.cfg.priority < work.cfg.priority]
    if lower:
        running = [w for w in running if w not in lower]
        left += sum(w.claim_min_w() for w in lower)
        spare += sum(w.claim_max_w(after_switch_up=True) for w in lower)
        floors -= sum(w.claim_min_w(floor_phases(w)) for w in lower)
    phases = start_phases(work, left)
    min_w = _start_min_w(work, phases)
    if solar.stagger_starts:
        giving_way = _lower_giving_way(lower, spare - work.claim_max_w(after_switch_up=True))
        room = min(left, spare)
        if room >= _needed_w(work, min_w, solar):
            return _StartTerms(phases, min_w, room, giving_way)
        # In a running car's place: one the sun no longer carries, or one that can charge on less.
        places = [(giver, _room_in_place(giver, left, spare)) for giver in running]
        back = _handing_back(work, places, solar)
        place = back or _handing_over(work, places, solar)
        if place is None:
            return _StartTerms(phases, min_w, room, giving_way)
        giver, room = place
        phases = start_phases(work, room)
        return _StartTerms(
            phases,
            _start_min_w(work, phases),
            room,
            (giver, *giving_way),
            handover=back is None,
            hand_back=back is not None,
        )
    room = _beside(work, budget_w, floors)
    giving = _turn_over(work, running, solar) if room < _needed_w(work, min_w, solar) else None
    if giving is None:
        lower_giving = _lower_giving_way(lower, budget_w - floors - min_w, True)
        return _StartTerms(phases, min_w, room, lower_giving)
    # Not beside the running cars, but instead of one whose turn is over.
    others = floors - giving.claim_min_w(floor_phases(giving))
    phases = start_phases(work, budget_w - others)
    min_w = _start_min_w(work, phases)
    return _StartTerms(
        phases,
        min_w,
        _beside(work, budget_w, others),
        (giving, *_lower_giving_way(lower, budget_w - others - min_w, True)),
    )


def _handing_over(
    work: ChargerWork, places: list[tuple[ChargerWork, float]], solar: SolarSettings
) -> tuple[ChargerWork, float] | None:
    """One after another: the running car that hands over to the waiting ``work``, and the
    surplus ``work`` may start on in its place (None: no such car). ``places``: each running car
    with that surplus (``_room_in_place``). The giver is of no higher priority, takes what it is
    offered, can charge on less than ``work``'s smallest minimum (on 1 phase), would not take
    that surplus straight back (``_handing_back``) and is not known to stay short of full today
    (``fills_today``: then it keeps the sun, as the hand-over only pays where the giver would
    otherwise be full before the evening's small surplus); of several, the one whose place
    leaves the most surplus."""
    if solar.handover_after_s is None:
        return None
    own_floor_w = work.claim_min_w(floor_phases(work))
    best: tuple[ChargerWork, float] | None = None
    for giver, room_w in places:
        if (
            giver.cfg.priority > work.cfg.priority
            or giver.limited_a() is not None
            or giver.claim_min_w(floor_phases(giver)) >= own_floor_w - EPS
            or giver.fills_today is False
        ):
            continue
        # Not where it would hand back (the gap between the two rules is the hysteresis).
        back_w = _sun_alone_gain_w(giver, own_floor_w, room_w, solar)
        if (
            room_w >= _needed_w(work, work.min_power(), solar)
            and back_w <= 0.0
            and (best is None or room_w > best[1])
        ):
            best = (giver, room_w)
    return best


def _handing_back(
    work: ChargerWork, places: list[tuple[ChargerWork, float]], solar: SolarSettings
) -> tuple[ChargerWork, float] | None:
    """One after another: the running car that gives way to the waiting ``work`` because the
    surplus no longer covers its smallest minimum but ``work`` takes it from the sun alone (the
    evening's sun after a hand-over: a 3-phase car held at its minimum imports what a 1p/3p car
    on 1 phase would take), and the surplus ``work`` may start on in its place (None: no such
    car). Of several, the one whose place gains the most (``_sun_alone_gain_w``)."""
    best: tuple[ChargerWork, float] | None = None
    best_gain_w = 0.0
    for giver, room_w in places:
        if giver.cfg.priority > work.cfg.priority or giver.limited_a() is not None:
            continue
        gain_w = _sun_alone_gain_w(work, giver.claim_min_w(floor_phases(giver)), room_w, solar)
        if gain_w > best_gain_w:
            best, best_gain_w = (giver, room_w), gain_w
    return best


def _room_in_place(giver: ChargerWork, left: float, spare: float) -> float:
    """What a waiting car may start on in the running ``giver``'s place: ``left`` and ``spare``
    (``_start_terms``) with the giver's minimum and maximum back."""
    return min(left + giver.claim_min_w(), spare + giver.claim_max_w(after_switch_up=True))


def _sun_alone_gain_w(
    taker: ChargerWork, needy_min_w: float, room_w: float, solar: SolarSettings
) -> float:
    """What ``taker`` on its fewest phases gains over a car whose minimum ``needy_min_w`` the
    surplus ``room_w`` does not cover: the import that car would need, less what ``taker`` leaves
    unused at its maximum (so halfway between the two, as ``phases._phase_down_w``). 0 when
    ``taker``'s own minimum does not fit."""
    phases = floor_phases(taker)
    if room_w < taker.claim_min_w(phases) + solar.enable_margin_w:
        return 0.0
    unused_w = max(0.0, room_w - taker.car_max_a() * taker.site.voltage_v * phases)
    return max(0.0, needy_min_w - room_w - unused_w)


def _needed_w(work: ChargerWork, min_w: float, solar: SolarSettings) -> float:
    """The surplus a waiting car ``work`` with minimum ``min_w`` needs to start on."""
    return min_w - _grid_share_w(work, min_w, solar) + solar.enable_margin_w


def _grid_share_w(work: ChargerWork, min_w: float, solar: SolarSettings) -> float:
    """What the grid may give of a solar car's minimum ``min_w`` (W) without it counting as a
    dip: none for a plan with sun to spare (a restart loses no sun it needs)."""
    if work.spare_sun:
        return 0.0
    return (1.0 - solar.min_sun_share) * min_w


def _start_min_w(work: ChargerWork, phases: int) -> float:
    """A waiting car's minimum if it starts on ``phases`` (the car's own phases at most)."""
    return work.min_power(min(phases, work.vehicle_phases))


def _lower_giving_way(
    lower: list[ChargerWork], room_w: float, beside: bool = False
) -> tuple[ChargerWork, ...]:
    """The running cars of lower priority (highest first) that stop when a car of higher
    priority starts: each keeps running while ``room_w`` (what the higher cars leave) covers its
    minimum; staggered it then leaves what it can take at its maximum to the next, side by side
    its smallest minimum."""
    giving: list[ChargerWork] = []
    for work in lower:
        minimum_w = work.claim_min_w(floor_phases(work) if beside else None)
        if room_w >= minimum_w:
            room_w -= minimum_w if beside else work.claim_max_w(after_switch_up=True)
        else:
            giving.append(work)
    return tuple(giving)


def _beside(work: ChargerWork, budget_w: float, floors: float) -> float:
    """Side by side: the surplus a car may start on beside running cars whose smallest
    minimums are ``floors`` (the running 1p/3p cars switch down to make room, ``_make_room``):
    a 1-phase minimum is to spare, so that a dip of that size does not stop it at once."""
    if floors > 0.0:
        return budget_w - floors - work.min_power(1)
    return budget_w


def _turn_over(
    work: ChargerWork, running: list[ChargerWork], solar: SolarSettings
) -> ChargerWork | None:
    """The running car (of no higher priority) that has charged ``turn_wh`` more in its session
    than the waiting ``work``, the most ahead first: it gives way when the surplus carries one of
    the two but not both (None: no such car)."""
    waited = work.inputs.session_energy_wh or 0.0
    ahead = [
        w
        for w in running
        if w.memory.active
        and w.cfg.priority <= work.cfg.priority
        and w.inputs.session_energy_wh is not None
        and w.inputs.session_energy_wh - waited >= solar.turn_wh
    ]
    return max(ahead, key=lambda w: w.inputs.session_energy_wh or 0.0, default=None)


def _stop(work: ChargerWork, need: float, floors: float, now: float) -> tuple[float, float]:
    """Switch a solar car off (a dip, or its turn is over); returns the running cars' minimums
    ``need`` and smallest minimums ``floors`` without it."""
    memory = work.memory
    memory.active = False
    memory.disable.reset()
    # A dip goes on after the stop: whether it outlasts a restart shows once the sun is back.
    memory.dip_open_since = memory.dip_since
    dip_grid_wh(memory, None, now)
    return need - work.claim_min_w(), floors - work.claim_min_w(floor_phases(work))


def switch_on(work: ChargerWork, phases: int, now: float) -> None:
    """Switch a solar car on, on ``phases``."""
    memory = work.memory
    memory.enable.reset()
    memory.active = True
    memory.started_once = True
    memory.activated_at = now
    # A new run: a stop by another way (Off, unplugged) left the last one's dip behind.
    memory.disable.reset()
    dip_grid_wh(memory, None, now)
    if phases != memory.phases:
        switch_phases(work, phases, now)


def _make_room(running: list[ChargerWork], left: float, min_w: float, now: float) -> float:
    """A car starting beside running 1p/3p cars on 3 phases that it does not fit beside: they
    switch down now (newest first), not after their 1p/3p delay with two 3-phase minimums
    imported meanwhile. Returns what is left after the running cars' minimums."""
    for work in reversed(running):
        if left >= min_w:
            break
        gain_w = work.claim_min_w() - work.claim_min_w(1)  # none for a full car: left alone
        if (
            work.memory.active
            and settled(work, now)
            and floor_phases(work) < work.vehicle_phases
            and gain_w > 0
        ):
            left += gain_w
            switch_phases(work, 1, now)
            reset_phase_timers(work)
            work.switched = True
    return left


def _restart_is_cheaper(
    work: ChargerWork,
    solar: SolarSettings,
    import_w: float | None,
    floor_w: float,
    drawn_w: float,
    now: float,
) -> bool:
    """Count the dip's grid energy (``import_w``: the cars' import now, None: no dip); True
    once it exceeds what a stop and restart lose: the PV of the start delay and the car's start
    response at its minimum ``floor_w``. Sets when that is reached at the import of now.

    That loss is only real where the sun comes back within a restart: where the car's last
    dips all outlasted one (``LONG_DIPS_JUDGED``), a dip in which the cars import more than the
    sun gives them of their draw ``drawn_w`` is held only for the meters' lag, as with sun to
    spare (overcast days in the scenario suite: held through each collapse of the sun, the
    minimum imported up to 13 times the sun it took)."""
    memory = work.memory
    if import_w is None:
        _note_dip_over(work, solar, now)
    dip_wh = dip_grid_wh(memory, import_w, now)
    restart_wh = solar.restart_cost_factor * floor_w * restart_s(work, solar) / 3600.0
    if import_w is None or restart_wh <= 0.0:
        return False
    deep = 2.0 * import_w > drawn_w
    if work.spare_sun or (deep and _dips_outlast_restarts(memory, now)):
        # With sun to spare, or where the sun will not be back within a restart, a restart
        # loses nothing the car needs: stop once the dip outlasts the meters' lag after a write (the charger's settle time, a start's while one may be
        # showing: the grid meter shows a start before the charger's meter does, no dip).
        response = memory.response
        starting = now < memory.started_at + response.slowest_start_s(solar)
        since = now if memory.dip_since is None else memory.dip_since
        memory.dip_stop_at = since + response.late_s(solar, start=starting)
        return now >= memory.dip_stop_at
    memory.dip_stop_at = (
        now + max(0.0, restart_wh - dip_wh) / import_w * 3600.0 if import_w > 0.0 else None
    )
    return dip_wh >= restart_wh


def restart_s(work: ChargerWork, solar: SolarSettings) -> float:
    """How long a stopped car takes to draw again once the sun is back: the start delay and
    its start response."""
    return enable_delay(work, solar) + work.memory.response.late_s(solar, start=True)


def _hold_worth_s(work: ChargerWork, solar: SolarSettings) -> float:
    """The shortest dip a hold bridges for less grid than a restart's PV: as long as the
    restart in a dip as deep as the car's minimum, after the meters' lag a stop waits for
    (a shallower dip is worth a longer hold: 75 s clouds were stopped for at 70 s)."""
    return restart_s(work, solar) + work.memory.response.late_s(solar)


def _dips_outlast_restarts(memory: ChargerMemory, now: float) -> bool:
    """The car's last ``LONG_DIPS_JUDGED`` dips each outlasted a restart, the last of them
    within ``SKY_MEMORY_S`` (not after now: stored by a clock that was ahead)."""
    recent, judged_at = memory.dips_outlasting_restart, memory.dips_judged_at
    if judged_at is None or not 0.0 <= now - judged_at <= SKY_MEMORY_S:
        return False
    return len(recent) >= LONG_DIPS_JUDGED and all(recent)


def _note_dip(work: ChargerWork, solar: SolarSettings, since: float, now: float) -> None:
    """Remember how long a dip of the car that began at ``since`` lasted (up to ``now``): one
    within the meters' lag is noise or a transient, not weather, and is not counted."""
    memory = work.memory
    lasted_s = now - since
    if lasted_s > memory.response.late_s(solar):
        long = lasted_s > _hold_worth_s(work, solar)
        memory.dips_outlasting_restart = (*memory.dips_outlasting_restart, long)[-LONG_DIPS_JUDGED:]
        memory.dips_judged_at = now


def _note_dip_over(work: ChargerWork, solar: SolarSettings, now: float) -> None:
    """A running car's dip is over (the surplus covers its minimum again)."""
    since = work.memory.dip_since
    if since is not None:
        _note_dip(work, solar, since, now)


def _note_dip_while_stopped(
    work: ChargerWork, solar: SolarSettings, sun_back: bool, now: float
) -> None:
    """A dip the waiting car stopped in: it ends once the surplus would start the car again
    (``sun_back``) with the car seen stopped, and is long once it has outlasted a hold's worth.

    Till the charger's meter shows the stop the surplus counts the car's last draw beside a
    grid that no longer shows it: the sun seemed back 2-8 s after a stop (scenario suite,
    overcast1), and the dip was taken for a short one."""
    memory = work.memory
    since = memory.dip_open_since
    if since is None:
        return
    seen_stopped = work.draw_w <= DRAWING_W
    if (sun_back and seen_stopped) or now - since > _hold_worth_s(work, solar):
        _note_dip(work, solar, since, now)
        memory.dip_open_since = None


def _stop_at(memory: ChargerMemory, solar: SolarSettings) -> float | None:
    """When a running car in a dip stops: the stop delay's end, or sooner once the dip's grid
    energy reaches a restart's (None: no dip)."""
    at = memory.disable.due_at(solar.disable_delay_s)
    if at is None or memory.dip_stop_at is None:
        return at
    return min(at, memory.dip_stop_at)


def dip_grid_wh(memory: ChargerMemory, import_w: float | None, now: float) -> float:
    """The grid energy of the current dip so far (``import_w``: the cars' import now; None:
    no dip, which ends it)."""
    if import_w is None:
        memory.dip_wh, memory.dip_at, memory.dip_stop_at = 0.0, None, None
        memory.dip_since = None
        return 0.0
    if memory.dip_at is not None:
        memory.dip_wh += import_w * min(now - memory.dip_at, DIP_MAX_GAP_S) / 3600.0
    else:
        memory.dip_since = now
    memory.dip_at = now
    return memory.dip_wh


def _share_surplus(
    works: list[ChargerWork], solar: SolarSettings, left: float, now: float
) -> list[ChargerWork]:
    """Every running car keeps its minimum, the rest is split equally (by priority).

    Returns the cars that share (they ran their 1p/3p timers)."""
    sharing = [
        w for w in works if w.kind is Kind.MIN_SOLAR or (w.kind is Kind.SOLAR and w.memory.active)
    ]
    mins = {w.cid: w.claim_min_w() for w in sharing}
    claims = [
        Claim(
            key=w.cid,
            minimum=0.0,
            demand=max(0.0, w.claim_max_w() - mins[w.cid]),
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
        limited = work.limited_a()
        if limited is not None and limited < work.cfg.min_current_a:
            # A full car takes nothing on 1p or 3p: switching its phases gains nothing.
            reset_phase_timers(work)
        else:
            phase_switch(work, work.share_w + unused, now)
        work.target_a = work.amps(work.share_w)
        if work.kind is Kind.SOLAR:
            # In a deficit the car holds its minimum until the stop delay runs out (or a
            # restart is cheaper, or with sun to spare the meters' lag is over).
            stop_at = _stop_at(work.memory, solar)
            if stop_at is None:
                work.say(Reason.SOLAR)
            else:
                work.say(Reason.STOPPING, stop_at)
        elif extras[work.cid] > EPS:
            work.say(Reason.SOLAR)
        if work.switched:
            work.say(Reason.PHASE_SWITCH)
        elif (switch_at := phase_switch_at(work)) is not None and (
            work.until is None or switch_at < work.until
        ):
            work.say(Reason.PHASE_SWITCH_PENDING, switch_at)
    for work in works:
        if work.kind is Kind.SOLAR and not work.memory.active:
            work.share_w = max(0.0, left)
            work.kind = Kind.PAUSED
    return sharing
