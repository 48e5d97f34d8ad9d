"""Offline optimum: knows the whole day, reacts instantly, never imports for a solar car.

Every second the solar cars take the largest power that fits the true surplus and their allowed
ranges ({0} or 6-16 A on 3 phases, plus 6-16 A on 1 phase for a 1p/3p charger), largest car first;
the battery keeps its priority below the priority SoC and takes what is left above it. It is an
upper bound for charging from PV without grid or battery import, given the 6 A minimum and phases.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .plant import BatteryModel, Car, V


@dataclass
class OptimumResult:
    pv_to_ev_wh: float = 0.0
    export_takeable_wh: float = 0.0
    starts: int = 0
    switches: int = 0
    writes: int = 0


def _best(power: float, switchable: bool, max_a: float) -> tuple[float, int]:
    three = (6 * V * 3, max_a * V * 3)
    one = (6 * V, max_a * V)
    if max_a < 6:
        return 0.0, 3
    if power >= three[0]:
        return min(power, three[1]), 3
    if switchable and power >= one[0]:
        return min(power, one[1]), 1
    return 0.0, 3


def optimum(
    *,
    pv: np.ndarray,
    house: np.ndarray,
    solar_cars: list[tuple[Car, bool]],
    fast_cars: list[Car],
    battery: BatteryModel | None,
    priority_soc: float,
    t0: int,
    t1: int,
) -> OptimumResult:
    result = OptimumResult()
    last = [(0.0, 3)] * len(solar_cars)
    for t in range(t0, t1):
        minute = t / 60.0
        i = min(int(minute), len(pv) - 2)
        frac = minute - i
        pv_w = float(pv[i] * (1 - frac) + pv[i + 1] * frac)
        fast_w = 0.0
        for car in fast_cars:
            power = car.max_current() * V * 3 if car.max_current() >= 6 else 0.0
            car.soc = min(100.0, car.soc + power / 3600.0 * car.efficiency / car.capacity_wh * 100)
            fast_w += power
        surplus = pv_w - float(house[i]) - fast_w
        if surplus <= 0.0:
            if battery is not None:
                battery.step(
                    -surplus, None
                )  # the battery covers the house at night, as in the plant
            surplus = 0.0
        elif battery is not None and battery.soc < priority_soc:
            surplus = max(0.0, surplus + battery.step(-surplus, None))
        powers = []
        for index, (car, switchable) in enumerate(solar_cars):
            power, phases = _best(surplus, switchable, car.max_current())
            surplus -= power
            powers.append(power)
            car.soc = min(100.0, car.soc + power / 3600.0 * car.efficiency / car.capacity_wh * 100)
            before = last[index]
            if power > 0 and before[0] == 0:
                result.starts += 1
            if power > 0 and before[0] > 0 and phases != before[1]:
                result.switches += 1
            if abs(power - before[0]) >= 0.1 * V * phases:
                result.writes += 1
            last[index] = (power, phases if power > 0 else before[1])
        if battery is not None and battery.soc >= priority_soc and surplus > 0.0:
            battery.step(-surplus, None)
        result.pv_to_ev_wh += sum(powers) / 3600.0
    return result
