"""Measure: which inputs are fresh enough to use, which phases each car uses, what it draws now.

A reading older than its ``*_max_age_s`` (or unavailable) counts as unknown and is named in
``Decision.stale_inputs``. A car's draw is its charger's meter, or the commanded current while that
meter still shows the time before the last write (charger meters lag the grid meter).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .charger_work import ChargerMemory, ChargerWork
from .config import ChargerSettings, SiteSettings
from .surplus import Balance, site_balance
from .types import ChargerInputs, PhaseReading, Reading, SiteInputs

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
    stale: frozenset[str]  # names of the configured inputs that are unavailable or too old


def read_site(inputs: SiteInputs, site: SiteSettings, now: float) -> SiteReadings:
    stale: set[str] = set()

    def fresh(reading: Reading | None, max_age: float, name: str) -> float | None:
        """The reading's value, or None (and ``name`` marked stale) when unavailable or too old."""
        if reading is None:
            return None
        value = reading.value
        if value is None or math.isnan(value) or not is_fresh(reading.at, max_age, now):
            stale.add(name)
            return None
        return value

    grid_currents = _fresh_phases(inputs.grid_currents_a, site.grid_max_age_s, now)
    if inputs.grid_currents_a is not None and grid_currents is None:
        stale.add("grid_currents")
    battery_w = fresh(inputs.battery_w, site.battery_max_age_s, "battery_power")
    return SiteReadings(
        grid_w=fresh(inputs.grid_w, site.grid_max_age_s, "grid_power"),
        grid_currents=grid_currents,
        battery_w=battery_w,
        battery_soc=fresh(inputs.battery_soc, site.battery_max_age_s, "battery_soc"),
        pv_w=fresh(inputs.pv_w, site.pv_max_age_s, "pv_power"),
        pv_available_w=fresh(inputs.pv_available_w, site.pv_max_age_s, "pv_available_power"),
        battery_unread=inputs.battery_w is not None and battery_w is None,
        stale=frozenset(stale),
    )


def measure_balance(
    site: SiteSettings, readings: SiteReadings, works: list[ChargerWork]
) -> Balance | None:
    """The site balance with the cars' draw added back (None: no grid reading)."""
    if readings.grid_w is None:
        return None
    return site_balance(
        settings=site,
        ev_w=sum(w.draw_w for w in works),
        grid_w=readings.grid_w,
        battery_w=readings.battery_w,
        battery_soc=readings.battery_soc,
        pv_w=readings.pv_w,
        pv_available_w=readings.pv_available_w,
        any_car_drawing=any(w.draw_w > 100.0 for w in works),
    )


def is_fresh(at: float, max_age: float, now: float) -> bool:
    return now - at <= max_age


def _fresh_phases(reading: PhaseReading | None, max_age: float, now: float) -> Phases | None:
    if reading is None or not is_fresh(reading.at, max_age, now):
        return None
    if reading.values[0] is None:
        return None
    return reading.values


def prepare(
    cid: str,
    cfg: ChargerSettings,
    memory: ChargerMemory,
    ci: ChargerInputs | None,
    site: SiteSettings,
    now: float,
) -> ChargerWork:
    """The charger's working record for this update, with the phases and power its car uses."""
    inputs = ci if ci is not None else ChargerInputs(connected=False)
    work = ChargerWork(cid=cid, cfg=cfg, site=site, memory=memory, inputs=inputs)
    if inputs.plugged and not memory.was_plugged:
        # A new car: what was learned about the last one (and its start delay) no longer holds.
        memory.started_once = False
        memory.active = False
        memory.enable.reset()
        memory.disable.reset()
        memory.car_limit_a = None
        memory.soc_seen = None
    memory.was_plugged = inputs.plugged
    work.vehicle_phases = vehicle_phases(work, now)
    _measure_draw(work, now)
    return work


def vehicle_phases(work: ChargerWork, now: float) -> int:
    """Phases the car really uses: a 1p car on a 3p charger takes a third of the power."""
    memory = work.memory
    phases = memory.phases
    # Right after a start or a 1p/3p switch the meters still show the phases from before.
    if now < max(memory.last_switch_at, memory.started_at) + work.site.solar.start_settle_s:
        return phases
    used = work.inputs.phases_in_use
    if used is None and work.inputs.charging and work.inputs.currents_a is not None:
        used = sum(1 for v in work.inputs.currents_a.values if v is not None and v >= 1.0)
    if used is not None and 1 <= used < phases:
        return used
    return phases


def _measure_draw(work: ChargerWork, now: float) -> None:
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
        # A just-lowered limit shows in the grid meter before the charger's own meter:
        # the lower of measured and commanded keeps the house load from being underestimated.
        capped = [min(x, commanded) if last is not None else x for x in measured]
        work.line_currents = (capped[0], capped[1], capped[2])
        work.draw_w = max(0.0, power) if power is not None else sum(measured) * v
        _predict_draw(work, ci.currents_a.at, max(measured))
    elif power is not None and ci.power_w is not None:
        work.draw_w = max(0.0, power)
        work.line_currents = _spread(work, work.draw_w / v / work.vehicle_phases)
        _predict_draw(work, ci.power_w.at, work.draw_w / v / work.vehicle_phases)
    elif ci.charging:
        work.draw_w = commanded * v * work.vehicle_phases
        work.line_currents = _spread(work, commanded)


def _predict_draw(work: ChargerWork, sample_at: float, measured_a: float) -> None:
    """Use the commanded current while the charger's meter still shows the time before it.

    Charger meters report every ~10 s, the grid meter every few: right after a write the grid
    already shows the car's new draw while the charger still reports the old one, and the
    surplus would swing the wrong way (the classic oscillation). Cars follow a lower limit at
    once but may not take a higher one (taper, own limit): a settled sample that shows the car
    taking less than offered caps the prediction at what it really takes.
    """
    memory = work.memory
    last = memory.last_write
    if last is None:
        return
    commanded = 0.0 if last.paused else last.current_a
    solar = work.site.solar
    # A start or a phase switch takes longer than a change of limit (charger pause, car
    # handshake): a car seen at 0 A then is not a full car.
    settling = (
        sample_at < memory.last_write_at + solar.settle_s
        or sample_at < memory.started_at + solar.start_settle_s
    )
    if settling:
        predicted = commanded
        if memory.car_limit_a is not None:
            predicted = min(predicted, memory.car_limit_a)
        work.draw_w = predicted * work.site.voltage_v * work.vehicle_phases
    elif commanded > 0.0:
        if measured_a < commanded - 1.0:
            memory.car_limit_a = measured_a + 0.5
        elif measured_a >= commanded - 0.5:
            memory.car_limit_a = None


def _spread(work: ChargerWork, amps: float) -> tuple[float, float, float]:
    lines = work.lines(work.memory.phases)
    return (
        amps if "L1" in lines else 0.0,
        amps if "L2" in lines else 0.0,
        amps if "L3" in lines else 0.0,
    )
