"""Recorded and published input traces for the day benchmark (1-minute resolution, W).

- PV, sunny day: NREL SERF East, 1-minute AC power, 2022-03-19 (``serf_east_1min_ac_power.csv``
  shipped in the ``pvanalytics`` package), scaled so the day's peak is 8 kW AC (a ~10 kWp roof).
- PV, cloudy day: NREL RMIS global horizontal irradiance 2019-02-02 (``irradiance_RMIS_NREL.csv``
  in ``pvanalytics``; 5-minute resolution, the only broken-cloud day shipped), turned into power as
  10 kWp * GHI / 1000 W/m2 * 0.85 and interpolated to 1 minute. The 5-minute resolution hides the
  faster cloud edges: the real cloudy-day behaviour is harsher than this trace.
- House: ``richardsonpy`` (Richardson et al. 2010, stochastic 1-minute domestic load model, 3
  occupants), fixed seed, the day of year matching the PV day.
- Any CSV of ``timestamp,W`` replaces a trace (``--pv-csv`` / ``--load-csv``); the first day found
  is used, resampled to 1 minute.
"""

from __future__ import annotations

import importlib.util
import random
from pathlib import Path

import numpy as np
import pandas as pd

MINUTES = 1440


def _pvanalytics_data(name: str) -> Path:
    spec = importlib.util.find_spec("pvanalytics")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("pvanalytics is missing: pip install -r benchmarks/requirements.txt")
    return Path(next(iter(spec.submodule_search_locations))) / "data" / name


def _one_day(series: pd.Series, day: str | None = None) -> np.ndarray:
    """1440 minute values of one local day (first full day, or ``day``), gaps interpolated."""
    series = series.sort_index()
    index = series.index
    if getattr(index, "tz", None) is not None:
        series.index = index.tz_localize(None)
    start = pd.Timestamp(day) if day else series.index[0].normalize()
    minutes = pd.date_range(start, periods=MINUTES, freq="1min")
    resampled = series.resample("1min").mean()
    values = resampled.reindex(minutes).interpolate(limit_direction="both").fillna(0.0)
    return np.asarray(values.to_numpy(dtype=float))


def sunny_pv(peak_w: float = 8000.0) -> np.ndarray:
    frame = pd.read_csv(
        _pvanalytics_data("serf_east_1min_ac_power.csv"), index_col=0, parse_dates=True
    )
    day = _one_day(frame.iloc[:, 0], "2022-03-19")
    day = np.clip(day, 0.0, None)
    return day * (peak_w / day.max())


def cloudy_pv(kwp: float = 10.0, performance: float = 0.85) -> np.ndarray:
    frame = pd.read_csv(
        _pvanalytics_data("irradiance_RMIS_NREL.csv"), index_col=0, parse_dates=True
    )
    ghi = _one_day(frame["irradiance_ghi__7981"], "2019-02-02")
    return np.clip(ghi, 0.0, None) * kwp * performance


def csv_trace(path: str) -> np.ndarray:
    frame = pd.read_csv(path, index_col=0, parse_dates=True)
    return np.clip(_one_day(frame.iloc[:, 0]), 0.0, None)


_HOUSE_CACHE: dict[int, np.ndarray] = {}


def house_load(day_of_year: int, seed: int = 7) -> np.ndarray:
    """One day of the richardsonpy model (W per minute) for a 3-person single-family home."""
    if seed not in _HOUSE_CACHE:
        import richardsonpy.classes.electric_load as eload
        import richardsonpy.classes.occupancy as occ
        import richardsonpy.functions.change_resolution as cr
        import richardsonpy.functions.load_radiation as loadrad

        np.random.seed(seed)
        random.seed(seed)
        occupancy = occ.Occupancy(number_occupants=3)
        q_direct, q_diffuse = loadrad.get_rad_from_try_path()
        q_direct = cr.change_resolution(q_direct, old_res=3600, new_res=60)
        q_diffuse = cr.change_resolution(q_diffuse, old_res=3600, new_res=60)
        load = eload.ElectricLoad(
            occ_profile=occupancy.occupancy,
            total_nb_occ=3,
            q_direct=q_direct,
            q_diffuse=q_diffuse,
            timestep=60,
        )
        _HOUSE_CACHE[seed] = np.asarray(load.loadcurve, dtype=float)
    year = _HOUSE_CACHE[seed]
    start = (day_of_year - 1) * MINUTES
    return year[start : start + MINUTES]
