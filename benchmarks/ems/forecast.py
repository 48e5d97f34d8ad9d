"""Solar forecasts for the benchmarks, as Home Assistant's energy platform gives them: hourly Wh.

``perfect``: the day's own PV. ``noisy``: a day-ahead forecast's errors, the whole day off by
20-40 % (sign and size seeded) and every hour by a further 15 % (normal). ``none``: no forecast.
"""

from __future__ import annotations

import random

import numpy as np

from custom_components.ocpp_ems.core.ems import EnergySlot

H = 3600.0
DT = 60.0  # the PV traces' step (s)
KINDS = ("none", "perfect", "noisy")


def hourly_forecast(pv: np.ndarray, kind: str, seed: int) -> tuple[EnergySlot, ...]:
    """Hourly Wh forecast of the whole horizon of ``pv`` (W per minute from midnight)."""
    if kind == "none":
        return ()
    hours = len(pv) // 60
    wh = pv[: hours * 60].reshape(hours, 60).sum(axis=1) * DT / H
    if kind == "noisy":
        rng = random.Random(seed)
        out = []
        for day_start in range(0, hours, 24):
            day_error = rng.uniform(0.2, 0.4) * rng.choice((-1.0, 1.0))
            for h in range(day_start, min(day_start + 24, hours)):
                out.append(max(0.0, wh[h] * (1.0 + day_error) * (1.0 + rng.gauss(0.0, 0.15))))
        wh = np.asarray(out)
    return tuple(EnergySlot(h * H, (h + 1) * H, float(w)) for h, w in enumerate(wh))
