"""Solar forecasts for the benchmarks, as Home Assistant's energy platform gives them: Wh per slot
at the provider's resolution (Forecast.Solar: hourly, the default; Solcast: 30 min; some 15 min).

``perfect``: the day's own PV. ``noisy``: a day-ahead forecast's errors, the whole day off by
20-40 % (sign and size seeded) and every hour by a further 15 % (normal); a finer forecast's
slots within an hour share that hour's error (the same seed gives the same hourly forecast at
every resolution). ``none``: no forecast.
"""

from __future__ import annotations

import random

import numpy as np

from custom_components.ocpp_ems.core.ems import EnergySlot

H = 3600.0
DT = 60.0  # the PV traces' step (s)
KINDS = ("none", "perfect", "noisy")
STEPS_MIN = (60, 30, 15)  # the slot lengths forecast providers publish (minutes)


def hourly_forecast(pv: np.ndarray, kind: str, seed: int) -> tuple[EnergySlot, ...]:
    """Hourly Wh forecast of the whole horizon of ``pv`` (W per minute from midnight)."""
    return solar_forecast(pv, kind, seed, 60)


def solar_forecast(pv: np.ndarray, kind: str, seed: int, step_min: int) -> tuple[EnergySlot, ...]:
    """Wh forecast in slots of ``step_min`` minutes (a divisor of 60) over the whole hours of
    ``pv`` (W per minute from midnight)."""
    if 60 % step_min:
        raise ValueError(f"a forecast step of {step_min} min does not divide the hour")
    if kind == "none":
        return ()
    hours = len(pv) // 60
    per_hour = 60 // step_min
    wh = pv[: hours * 60].reshape(hours * per_hour, step_min).sum(axis=1) * DT / H
    if kind == "noisy":
        day_factor, hour_factor = _hourly_errors(hours, seed)
        wh = np.maximum(
            0.0, wh * np.repeat(day_factor, per_hour) * np.repeat(hour_factor, per_hour)
        )
    step_s = step_min * DT
    return tuple(EnergySlot(i * step_s, (i + 1) * step_s, float(w)) for i, w in enumerate(wh))


def _hourly_errors(hours: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The noisy forecast's factors per hour: its day's (1 + 20-40 %, either sign) and its own
    (1 + a normal 15 %), drawn day by day in this order from ``seed``."""
    rng = random.Random(seed)
    day_factor, hour_factor = [], []
    for day_start in range(0, hours, 24):
        day_error = rng.uniform(0.2, 0.4) * rng.choice((-1.0, 1.0))
        for _ in range(day_start, min(day_start + 24, hours)):
            day_factor.append(1.0 + day_error)
            hour_factor.append(1.0 + rng.gauss(0.0, 0.15))
    return np.asarray(day_factor), np.asarray(hour_factor)
