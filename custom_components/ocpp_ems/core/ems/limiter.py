"""The write limiter: which target is worth a write now, so a charger is only written on a real change.

Decreases go out at once (import costs; not a surplus drop that changes nothing the car draws:
``_probe_dropped``), and so does any the fuse cannot hold (``ChargerWork.drop_now``); raises are
rate limited (``ramp_up_a`` per write, ``min_write_interval_s`` between writes) and deadbanded.
A change smaller than the deadband waits until the energy it misallocates since the last write (a
signed sum, so meter noise cancels) is worth a write, or until ``small_raise_after_s``. A change
of the surplus also waits while the last write's response is watched (``_last_write_shows_at``):
the meters do not show it yet, and a slow charger's lag would read as the house's load.
"""

from __future__ import annotations

import math
from dataclasses import replace

from .charger_work import DRAWING_W, EPS, SURPLUS_KINDS, ChargerMemory, ChargerWork, Kind
from .response import WriteKind
from .types import ChargerCommand, ChargerDecision, Reason


def limit_writes(work: ChargerWork, now: float) -> tuple[ChargerDecision, float | None]:
    """The charger's decision, and when to look again for a write held back (None: no need)."""
    memory = work.memory
    target = _command(work)
    last = memory.last_write
    write: ChargerCommand | None = None
    wake_at: float | None = None
    _track_error(memory, now)
    if work.inputs.connected:
        target = _ramp(work, target, last)
        if work.ask_again:
            write = target  # (the fuse cannot wait: it draws above its written limit)
        elif last is None or target != last:
            write, wake_at = _write_now(work, target, last, now)
        elif memory.refused_due:
            write = target  # (asked again after its run of refusals waited)
        memory.refused_due = False
        if write is not None:
            start = _starts(work, write, last)
            if start:
                memory.started_at = now
            switch = last is not None and not last.paused and last.phases != write.phases
            memory.response.wrote(
                now,
                0.0 if write.paused else write.current_a,
                work.site.solar,
                start=start,
                phases=work.vehicle_phases if switch else None,
                offset_a=memory.follow.offset_a,
            )
            memory.last_write = write
            memory.last_write_at = now
            memory.error_wh = 0.0
        elif last is not None and target != last:
            _say_write_wait(work, target, last)
        _set_error_rate(work, target)
    decision = ChargerDecision(
        charger_id=work.cid,
        target=target,
        write=write,
        reason=work.reason,
        surplus_share_w=work.share_w,
        stale=work.stale,
        plan_feasible=work.plan_feasible,
        plan=work.plan,
        until=work.until,
    )
    return decision, wake_at


def _starts(work: ChargerWork, write: ChargerCommand, last: ChargerCommand | None) -> bool:
    """Whether ``write`` starts the car or switches its phases (a start to the response learner
    and ``started_at``). With no last write (forgotten: refused, unanswered, a reboot) a car its
    own meter shows drawing is charging: the write is a change, unless the charger switches
    phases (which it holds is not known: the car's own phases do not tell; a switch pause taken
    for a change read the car as full). (Taken for a start, a 15-25 s charger written again
    after one refused lower learned no change and hunted.)"""
    if write.paused:
        return False
    if last is None:
        return work.measured_w <= DRAWING_W or work.switchable
    return last.paused or last.phases != write.phases


def _command(work: ChargerWork) -> ChargerCommand:
    """The target as a command the charger takes: rounded to its step, within its bounds."""
    phases = work.memory.phases
    if work.pauses:
        return ChargerCommand.pause(phases)
    return ChargerCommand(current_a=work.written_a(), phases=phases)


def _ramp(work: ChargerWork, target: ChargerCommand, last: ChargerCommand | None) -> ChargerCommand:
    """A raise of a running charge goes up by at most ``ramp_up_a`` per write."""
    ramp = work.site.solar.ramp_up_a
    if last is None or last.paused or target.paused or target.phases != last.phases:
        return target
    if target.current_a > last.current_a + ramp:
        return replace(target, current_a=round(last.current_a + ramp, 3))
    return target


def _write_now(
    work: ChargerWork, target: ChargerCommand, last: ChargerCommand | None, now: float
) -> tuple[ChargerCommand | None, float | None]:
    """``target`` if it is worth a write now; else None and when to look again.

    A decrease the fuse cannot hold (``fuse._fit_leftover``: the written limits no longer fit)
    is a safety matter: written at once, whatever the limiter says. Surplus is not: a pause or
    a big drop (import) is written at once, a big raise or a start once the write interval has
    passed, and a small change only when the energy it misallocates (a signed sum, so noise
    cancels) is worth it.
    """
    if last is None:
        return target, None
    cfg, memory, solar = work.cfg, work.memory, work.site.solar
    due_at = memory.last_write_at + cfg.min_write_interval_s
    if target.paused:
        return target, None
    if last.paused or target.phases != last.phases:
        return (target, None) if now >= due_at else (None, due_at)
    delta = target.current_a - last.current_a
    if delta < 0.0 and work.drop_now:
        return target, None
    if now < (shows_at := _last_write_shows_at(work, delta)):
        return None, shows_at
    due = now >= due_at
    if delta < 0.0:
        if _probe_dropped(work, target, last):
            return None, None
        if -delta >= solar.drop_deadband_a - EPS:
            return target, None
        worth = memory.error_wh >= solar.drop_error_wh  # drawn too much: grid import
    else:
        worth = (
            delta >= solar.raise_deadband_a - EPS
            or target.current_a >= cfg.max_current_a - EPS
            or -memory.error_wh >= solar.raise_error_wh  # drawn too little: unused PV
        )
    if worth or now - memory.last_write_at >= solar.small_raise_after_s:
        return (target, None) if due else (None, due_at)
    # When the error energy reaches its threshold at the present rate (or the age cap).
    rate_w = -delta * work.site.voltage_v * work.vehicle_phases  # what error_wh will gain
    threshold = solar.drop_error_wh if delta < 0.0 else -solar.raise_error_wh
    at = memory.last_write_at + solar.small_raise_after_s
    if abs(rate_w) > EPS and (threshold - memory.error_wh) / rate_w > 0.0:
        at = min(at, now + (threshold - memory.error_wh) / rate_w * 3600.0)
    return None, max(at, due_at)


def _last_write_shows_at(work: ChargerWork, delta: float) -> float:
    """Until when a change of ``delta`` (A) of the surplus waits for the meters to show the last
    write (-inf: it need not). Decided before, a slow charger's lag reads as the house's load: a
    raise the grid does not show yet as a smaller one (then a staircase 13, 12 ... 6 A: 91
    writes in 10 min of steady sun), a lower as a larger one (a lower again: 7.6, 6.0, 7.6 A).
    A lower after a raise is none of that (the raise's lag reads as more surplus): it goes out;
    so does a lower after a lower that the lag cannot explain (``_lag_explains``). A raise also
    waits, watched or not, while the surplus counts the car above a lower in flight (its
    sample from before, or a raise before it the grid shows early): once the car follows, the
    draw it left reads as sun (a 30 s meter, the lower not watched behind an older write:
    11.9, 11.1, 11.9 ... A every 12 s for good in sun for 11.1 A)."""
    response = work.memory.response
    last = response.last_write
    if work.kind not in SURPLUS_KINDS or last is None:
        return -math.inf
    if delta >= 0.0:
        shows_at = response.last_write_shows_at(work.site.solar)
        counted_a = work.draw_w / (work.site.voltage_v * work.vehicle_phases)
        if last.kind is WriteKind.DROP and counted_a > last.amps + EPS:
            # Until the grid surely shows the lower (``ChargerResponse.shown_by_grid``: strictly
            # after its settle time) or a sample shows the car follow it.
            settled_at = last.at + response.late_s(work.site.solar)
            shows_at = max(shows_at, math.nextafter(settled_at, math.inf))
        return shows_at
    if last.kind is not WriteKind.DROP or not _lag_explains(work, -delta):
        return -math.inf
    # (Watched or not: a lower in flight behind another one the car follows first is no
    # different, and the lag ends the hold as soon as the meter shows the lower.)
    return response.surely_shown_at(last, work.site.solar)


def _lag_explains(work: ChargerWork, lower_a: float) -> bool:
    """Whether a lower of ``lower_a`` beyond the limit in flight may be the car's lag read as
    the house's load: the surplus counts the car at what it draws when the grid read
    (``ChargerWork.draw_w``: the limit in flight), and what its meter last showed above that is
    all the lag can add. (Held for the meter, deepening clouds imported 0.9 -> 5.0 Wh.)"""
    per_amp_w = work.site.voltage_v * work.vehicle_phases
    drawn_w = work.measured_w
    if work.lag_seen and (last := work.memory.last_write) is not None and not last.paused:
        # Or what the fuse found the grid showing of it above the lower where its meter is older
        # still (a 60 s meter: ``measure.count_unseen_draw``).
        drawn_w = max(drawn_w, (last.current_a + max(work.lag_a)) * per_amp_w)
    lag_w = drawn_w - work.draw_w
    if lag_w <= EPS:
        return False  # the meter shows the limit in flight: nothing to explain
    return lower_a <= lag_w / per_amp_w + work.site.solar.drop_deadband_a + EPS


def _probe_dropped(work: ChargerWork, target: ChargerCommand, last: ChargerCommand) -> bool:
    """A surplus drop from the 1 A probe above what the car takes (``ChargerWork.car_max_a``)
    to no less than its cap: it changes nothing the car draws (a 30 s meter read the probe as
    sun between samples: 17.0, 16.5, 17.0 ... A every 15 s for good for a car taking 16 A)."""
    cap = work.memory.car_limit_a
    return (
        work.kind in SURPLUS_KINDS
        and cap is not None
        and target.current_a >= cap - EPS
        and last.current_a <= work.car_max_a() + EPS
    )


def _say_write_wait(work: ChargerWork, target: ChargerCommand, last: ChargerCommand) -> None:
    """A start or a 1p/3p switch that is decided but waits for the write interval: say so,
    with when it goes out. (Set after the write was decided: it changes no limit. A target
    that pauses is never held back, so ``target`` runs.)"""
    write_at = work.memory.last_write_at + work.cfg.min_write_interval_s
    if last.paused:
        # A solar car says it is starting; any other keeps its reason (Fast, plan...).
        work.say(Reason.STARTING if work.kind is Kind.SOLAR else work.reason, write_at)
    elif target.phases != last.phases:
        work.say(Reason.PHASE_SWITCH, write_at)


def _set_error_rate(work: ChargerWork, target: ChargerCommand) -> None:
    """The error in force from now: what the written limit takes more (+) than the target."""
    memory, last = work.memory, work.memory.last_write
    if (
        last is None
        or target == last
        or target.paused
        or last.paused
        or target.phases != last.phases
    ):
        memory.error_wh = 0.0  # nothing a small write could correct
        memory.error_w = 0.0
        return
    memory.error_w = (last.current_a - target.current_a) * work.site.voltage_v * work.vehicle_phases


def _track_error(memory: ChargerMemory, now: float) -> None:
    """Integrate the error rate in force since the last update into the error energy."""
    if memory.error_at is not None and now > memory.error_at:
        memory.error_wh += memory.error_w * (now - memory.error_at) / 3600.0
    memory.error_at = now
