"""Synthetic PV days: a seeded stochastic cloud model on a pvlib clear-sky curve.

The clear-sky index kc (measured / clear-sky irradiance) follows a two-state (clear / cloudy)
Markov chain in continuous time, the idea of Morf's STSIM (H. Morf, "The stochastic two-state
solar irradiance model", Solar Energy 85, 2011) and of Bright et al. (Solar Energy 115, 2015):
each state lasts an exponentially distributed time whose mean depends on the weather regime; a
cloud passage has its own transmittance drawn per cloud; an AR(1) process (time constant
``TAU_S``) adds the flicker inside a state; cloud edges take ``EDGE_S`` (the shadow crossing the
roof); right after a cloud the sun shines through its bright edge, cloud enhancement, kc up to
1 + ``enhance`` decaying in 30 s (Järvelä et al., Solar Energy 2020: up to +50 % on 1-s data).

Regimes (mean dwell clear / cloudy, transmittance of a cloud):
- ``clear``: hours of clear sky, a rare thin cloud (kc ~0.75).
- ``broken``: 15 min clear / 10 min clouds, kc ~0.35, some enhancement.
- ``overcast``: a thick deck (kc ~0.2) with short thinner spells (kc ~0.5).
- ``cumulus``: fast-moving small cumulus, 4 min clear / 1.5 min cloud, kc ~0.3, strong
  enhancement: the hardest case for a controller.

kc is generated per second and averaged per minute: the plant reads 1-minute traces and
interpolates between them, so a cumulus edge reaches the plant as a ramp over one minute (the
bounds read the same 1-minute trace, which keeps them consistent with the plant).

Power: clear-sky irradiance from pvlib (Ineichen, Linke turbidity 3) at ``LOCATION`` (48.1 N
11.6 E, Munich), transposed to a south roof tilted 35 deg (isotropic sky), scaled by kc; AC power
as in PVWatts without temperature: 10 kWp * POA / 1000 W/m2 * 0.86, clipped at an 8.5 kW inverter.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd  # type: ignore[import-untyped]
from scipy.signal import lfilter  # type: ignore[import-untyped]

SECONDS = 86400
TAU_S = 60.0
EDGE_S = 10
KWP = 10.0
DERATE = 0.86
INVERTER_W = 8500.0
TILT, AZIMUTH = 35.0, 180.0
LOCATION = (48.1, 11.6, "Europe/Berlin", 520.0)


@dataclass(frozen=True)
class Regime:
    clear_dwell_s: float
    cloudy_dwell_s: float
    cloud_kc: float  # mean transmittance of a cloud
    cloud_kc_sd: float  # spread from cloud to cloud
    clear_kc: float  # kc between clouds
    flicker_sd: float  # AR(1) noise inside a state
    enhance: float  # peak cloud enhancement after a cloud (fraction of clear sky)


REGIMES = {
    "clear": Regime(4 * 3600.0, 180.0, 0.75, 0.08, 1.0, 0.01, 0.0),
    "broken": Regime(900.0, 600.0, 0.35, 0.12, 1.0, 0.04, 0.15),
    "overcast": Regime(240.0, 2700.0, 0.2, 0.06, 0.5, 0.03, 0.0),
    "cumulus": Regime(240.0, 90.0, 0.3, 0.1, 1.0, 0.04, 0.25),
}


def clear_sky_index(regime: str, seed: int, seconds: int = SECONDS) -> np.ndarray:
    """kc per second for one day of ``regime`` (deterministic for a seed)."""
    r = REGIMES[regime]
    rng = np.random.default_rng(seed)
    kc = np.empty(seconds)
    sd = np.empty(seconds)
    t = 0
    cloudy = bool(rng.random() < r.cloudy_dwell_s / (r.clear_dwell_s + r.cloudy_dwell_s))
    while t < seconds:
        dwell = max(EDGE_S, int(rng.exponential(r.cloudy_dwell_s if cloudy else r.clear_dwell_s)))
        end = min(seconds, t + dwell)
        if cloudy:
            kc[t:end] = np.clip(rng.normal(r.cloud_kc, r.cloud_kc_sd), 0.05, 0.95)
            sd[t:end] = 2.0 * r.flicker_sd
        else:
            since = np.arange(end - t)
            bump = r.enhance * np.exp(-since / 30.0) if t > 0 else 0.0
            kc[t:end] = r.clear_kc + bump
            sd[t:end] = r.flicker_sd
        t = end
        cloudy = not cloudy
    edges = np.convolve(kc, np.ones(EDGE_S) / EDGE_S, mode="same")
    a = np.exp(-1.0 / TAU_S)
    flicker = lfilter([np.sqrt(1.0 - a * a)], [1.0, -a], rng.standard_normal(seconds))
    return np.asarray(np.clip(edges + flicker * sd, 0.02, 1.5), dtype=float)


def _unclipped_pv(date: str) -> np.ndarray:
    """Clear-sky AC power (W) per minute before the inverter clip, on the module doc's roof."""
    from pvlib import irradiance  # type: ignore[import-untyped]
    from pvlib.location import Location  # type: ignore[import-untyped]

    lat, lon, tz, alt = LOCATION
    site = Location(lat, lon, tz=tz, altitude=alt)
    times = pd.date_range(date, periods=1440, freq="1min", tz=tz)
    if len(times) != 1440 or times[-1].hour != 23:
        raise ValueError(f"{date}: a daylight-saving change day has no 1440 local minutes")
    sky = site.get_clearsky(times, model="ineichen", linke_turbidity=3.0)
    sun = site.get_solarposition(times)
    poa = irradiance.get_total_irradiance(
        TILT, AZIMUTH, sun["apparent_zenith"], sun["azimuth"], sky["dni"], sky["ghi"], sky["dhi"]
    )["poa_global"]
    power = np.nan_to_num(KWP * poa.to_numpy(dtype=float) * DERATE)
    return np.asarray(np.clip(power, 0.0, None), dtype=float)


def clear_sky_pv(date: str) -> np.ndarray:
    """AC power (W) per minute of a clear day."""
    return np.asarray(np.clip(_unclipped_pv(date), 0.0, INVERTER_W), dtype=float)


def synthetic_pv(date: str, regime: str, seed: int) -> np.ndarray:
    """One synthetic day (W per minute): clear-sky power times the minute mean of kc, clipped by
    the inverter after kc (enhancement can reach the clip)."""
    kc = clear_sky_index(regime, seed).reshape(1440, 60).mean(axis=1)
    return np.asarray(np.clip(_unclipped_pv(date) * kc, 0.0, INVERTER_W), dtype=float)
