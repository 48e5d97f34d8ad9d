"""1p/3p switching: on which phases a switchable charger starts, when it switches, and to what.

A 1p charge needs a third of the 3p minimum, so a switchable charger charges from a small surplus
on 1p and switches up when the surplus covers the 3p minimum (``phase_up_w``), down when the
import at the 3p minimum would cost more than the PV a 1p charge leaves unused (``phase_down_w``),
each after its delay and never sooner than ``phase_settle_s`` after
the last switch (a switch pauses the charge, the car needs time to start again). Full power (Fast,
boost, a plan...) always means every wired phase.
"""

from __future__ import annotations

from .charger_work import ChargerWork
from .measure import vehicle_phases


def switch_phases(work: ChargerWork, phases: int, now: float) -> None:
    """Charge on ``phases`` from now (the write follows in the limiter)."""
    work.memory.phases = phases
    work.memory.last_switch_at = now
    work.vehicle_phases = vehicle_phases(work, now)


def reset_phase_timers(work: ChargerWork) -> None:
    """The 1p/3p timers start again (after a switch, or where switching gains nothing)."""
    work.memory.phase_up.reset()
    work.memory.phase_down.reset()


def settled(work: ChargerWork, now: float) -> bool:
    """The settle time after the last 1p/3p switch is over: the phases may switch again."""
    return now - work.memory.last_switch_at >= work.site.solar.phase_settle_s


def full_phases(work: ChargerWork, now: float) -> None:
    """Full power means every wired phase: a 1p/3p charger left on 1p by solar switches up.

    Without this a plan (or Fast, boost, a minimum charge) would run at a third of the power
    it was planned with, and a departure target could be missed.
    """
    memory = work.memory
    if not work.switchable or memory.phases == work.cfg.phases:
        return
    switch_phases(work, work.cfg.phases, now)
    reset_phase_timers(work)


def down_to_floor_phases(work: ChargerWork, now: float) -> None:
    """The car on the phases of its smallest minimum (1p on a 1p/3p charger) at once, once the
    settle time after the last switch is over: where that minimum is paid for by what cannot
    be read (a stale meter's battery), not after the 1p/3p delay. The 1p/3p timers start again
    meanwhile: the surplus is unknown, so a switch up waits for its delay of readings (a meter
    flickering stale switched the phases at every settle time: 10 times in 10 minutes)."""
    floor = floor_phases(work)
    if floor < work.memory.phases and settled(work, now):
        switch_phases(work, floor, now)
        work.switched = True
    reset_phase_timers(work)


def floor_phases(work: ChargerWork) -> int:
    """Phases of the car's smallest minimum (1 on a switchable 3p charger)."""
    if work.switchable and work.vehicle_phases == work.memory.phases:
        return 1
    return work.vehicle_phases


def start_phases(work: ChargerWork, available_w: float) -> int:
    """The phases a solar start uses: 3 when ``available_w`` is enough for a switch up."""
    if not work.cfg.can_switch_phases or work.site.site_phases == 1:
        return work.memory.phases
    return 3 if available_w >= _phase_up_w(work) else 1


def _phase_up_w(work: ChargerWork) -> float:
    solar = work.site.solar
    if solar.phase_up_w is not None:
        return solar.phase_up_w
    return work.min_power(3) + solar.phase_up_margin_w


def _phase_down_w(work: ChargerWork) -> float:
    """Below the 3p minimum a 3p car at its minimum imports what the sun lacks, a 1p car at its
    maximum leaves unused what it cannot take: switch down where the import would be the larger
    loss, halfway between the 1p maximum the car takes (taper included) and the 3p minimum."""
    three_phase_min = work.min_power(3)
    one_phase_max = min(work.car_max_a() * work.site.voltage_v, three_phase_min)
    return (three_phase_min + one_phase_max) / 2.0


def phase_switch(work: ChargerWork, available_w: float, now: float) -> None:
    """Run the 1p/3p timers on the power the car could have; switch when one is due."""
    solar, memory, site = work.site.solar, work.memory, work.site
    if not work.cfg.can_switch_phases or site.site_phases == 1:
        reset_phase_timers(work)
        return
    down_w = solar.phase_down_w if solar.phase_down_w is not None else _phase_down_w(work)
    up = memory.phases == 1 and available_w >= _phase_up_w(work)
    down = memory.phases == 3 and available_w < down_w
    up_due = memory.phase_up.update(up, now, solar.phase_up_delay_s)
    down_due = memory.phase_down.update(down, now, solar.phase_down_delay_s)
    if settled(work, now) and (up_due or down_due):
        switch_phases(work, 3 if up_due else 1, now)
        reset_phase_timers(work)
        memory.disable.reset()
        work.switched = True
        work.share_w = max(work.min_power(), min(work.max_power(), available_w))


def phase_switch_at(work: ChargerWork) -> float | None:
    """When a running 1p/3p timer switches the phases: its delay, and not before the settle
    time after the last switch (None: no switch pending)."""
    solar, memory = work.site.solar, work.memory
    due = memory.phase_up.due_at(solar.phase_up_delay_s)
    if due is None:
        due = memory.phase_down.due_at(solar.phase_down_delay_s)
    if due is None:
        return None
    return max(due, memory.last_switch_at + solar.phase_settle_s)
